/* relayd/smarthost.h. */
#include "relayd/smarthost.h"

#include "lib/error.h"
#include "lib/textfile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* ":port" at the end of spec: its value, 0 if there is none, -1 if bad. */
static long
port_of(const char *colon)
{
	char	*end;
	long	 port;

	if (colon == NULL)
		return 0;
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (colon[1] < '0' || colon[1] > '9' || *end != '\0' || errno != 0 ||
	    port < 1 || port > 65535)
		return -1;
	return port;
}

int
smarthost_parse(const char *spec, struct smarthost *sh, const char **error_r)
{
	const char	*close, *colon, *host = spec;
	size_t		 len;
	long		 port;

	memset(sh, 0, sizeof(*sh));
	if (spec[0] == '[') {
		/* [host]:port; inside the brackets an IPv6 address has its colons. */
		if ((close = strchr(spec, ']')) == NULL)
			return err_set(error_r, "smarthost %s: no closing ]", spec);
		if (close[1] != '\0' && close[1] != ':')
			return err_set(error_r, "smarthost %s: text after ]", spec);
		colon = close[1] == ':' ? close + 1 : NULL;
		host = spec + 1;
		len = (size_t)(close - host);
	} else {
		colon = strrchr(spec, ':');
		len = colon != NULL ? (size_t)(colon - spec) : strlen(spec);
		sh->mx = true;
	}
	if ((port = port_of(colon)) == -1)
		return err_set(error_r, "smarthost %s: bad port", spec);
	if (len == 0 || len > DNS_NAME_MAX || strlen(spec) >= sizeof(sh->name))
		return err_set(error_r, "smarthost %s: bad host", spec);
	if (memchr(host, ' ', len) != NULL || memchr(host, '\t', len) != NULL ||
	    (sh->mx && memchr(host, '[', len) != NULL) ||
	    (!sh->mx && strncasecmp(host, "IPv6:", 5) == 0))
		return err_set(error_r, "smarthost %s: bad host", spec);
	memcpy(sh->host, host, len);
	sh->host[len] = '\0';
	sh->port = (uint16_t)port;
	snprintf(sh->name, sizeof(sh->name), "%s", spec);
	return 0;
}

struct auth_read {
	char		*user, *password;
	unsigned	 lines;
	const char	*why;
};

static void
auth_line(void *ctx, unsigned lineno, char *line, const char *why)
{
	struct auth_read	*a = ctx;
	char			*sep;

	(void)lineno;
	if (line == NULL) {
		a->why = why;
		return;
	}
	line = textfile_trim(line);
	if (line[0] == '\0' || line[0] == '#')
		return;
	if (a->lines++ > 0) {
		a->why = "more than one line";
		return;
	}
	if ((sep = strpbrk(line, " \t")) == NULL) {
		a->why = "expected \"user password\"";
		return;
	}
	*sep++ = '\0';
	sep = textfile_trim(sep);
	if (sep[0] == '\0' || strlen(line) > SMARTHOST_CRED_MAX || strlen(sep) > SMARTHOST_CRED_MAX) {
		a->why = "expected \"user password\", each of 255 bytes at most";
		return;
	}
	memcpy(a->user, line, strlen(line) + 1);
	memcpy(a->password, sep, strlen(sep) + 1);
	explicit_bzero(sep, strlen(sep));
}

int
smarthost_auth_read(const char *path, char user[SMARTHOST_CRED_MAX + 1],
    char password[SMARTHOST_CRED_MAX + 1], const char **error_r)
{
	struct auth_read	a = { .user = user, .password = password };
	struct stat		st;
	int			r;

	if (stat(path, &st) == -1)
		return err_set(error_r, "%s: %s", path, strerror(errno));
	if ((st.st_mode & 077) != 0)
		return err_set(error_r, "%s: readable by others (mode %03o, 0600 wanted)",
		    path, (unsigned)(st.st_mode & 0777));
	user[0] = password[0] = '\0';
	r = textfile_read(path, 1024, auth_line, &a, error_r);
	if (r == 1)
		return err_set(error_r, "%s: %s", path, strerror(ENOENT));
	if (r == -1)
		return -1;
	if (a.why == NULL && a.lines == 0)
		a.why = "empty";
	if (a.why != NULL) {
		explicit_bzero(password, SMARTHOST_CRED_MAX + 1);
		return err_set(error_r, "%s: %s", path, a.why);
	}
	return 0;
}
