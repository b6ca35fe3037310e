/*
 * mailctl check: would the daemons start on this configuration?  The
 * config file and the directory files are loaded by the same code the
 * daemons run (lib/config, lib/directory), which reports every problem as
 * file:line: message; here those lines are printed as they are, then the
 * rest is checked the way the daemons would find out: the mail user
 * exists, the certificate and key load and match and the user can read
 * them (a reload reads them after the privilege drop), the directories
 * exist and the user can write them.
 */
#include "mailctl/mailctl.h"

#include "lib/config.h"
#include "lib/directory.h"
#include "lib/log.h"
#include "lib/settings.h"
#include "lib/tls.h"
#include "mail/address.h"

#include <sys/stat.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define GROUPS_MAX	256

struct check {
	struct mailctl		*m;
	const struct passwd	*pw;
	unsigned		 errors;
	unsigned		 warnings;
};

static struct check	*current;	/* for the log sink */

/* What lib/ logs while loading: already "file:line: message". */
static void
sink(enum log_level level, const char *message)
{
	fprintf(stderr, "%s\n", message);
	/* Errors are counted by the load's result; warnings (unknown keys) here. */
	if (current != NULL && level == LOG_LEVEL_WARN)
		current->warnings++;
}

/* "postroom.conf:12: key: why", or without the line when key is a default. */
static void
key_error(struct check *c, const char *key, const char *fmt, ...)
{
	unsigned	 line = config_key_line(c->m->cfg, key);
	va_list		 ap;

	fprintf(stderr, "%s", c->m->conf_path);
	if (line != 0)
		fprintf(stderr, ":%u", line);
	fprintf(stderr, ": %s: ", key);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	c->errors++;
}

/* May pw do what bit (S_IRUSR, S_IWUSR) allows to its owner, with st's mode? */
static bool
user_may(const struct passwd *pw, const struct stat *st, mode_t bit)
{
	gid_t	 groups[GROUPS_MAX];
	int	 n = GROUPS_MAX, i;

	if (pw->pw_uid == 0)
		return true;
	if (st->st_uid == pw->pw_uid)
		return (st->st_mode & bit) != 0;
	if (getgrouplist(pw->pw_name, pw->pw_gid, groups, &n) == -1)
		n = 0;
	for (i = 0; i < n; i++)
		if (groups[i] == st->st_gid)
			return (st->st_mode & (bit >> 3)) != 0;
	return (st->st_mode & (bit >> 6)) != 0;
}

static void
check_dir(struct check *c, const char *key, const char *path)
{
	struct stat	 st;

	if (stat(path, &st) == -1)
		key_error(c, key, "%s: %s", path, strerror(errno));
	else if (!S_ISDIR(st.st_mode))
		key_error(c, key, "%s: not a directory", path);
	else if (c->pw != NULL && !user_may(c->pw, &st, S_IWUSR))
		key_error(c, key, "%s: not writable by user %s", path, c->pw->pw_name);
}

static void
check_readable(struct check *c, const char *key, const char *path)
{
	struct stat	 st;

	if (stat(path, &st) == -1)
		key_error(c, key, "%s: %s", path, strerror(errno));
	else if (c->pw != NULL && !user_may(c->pw, &st, S_IRUSR))
		key_error(c, key, "%s: not readable by user %s (a reload reads it as that user)",
		    path, c->pw->pw_name);
}

static void
check_tls(struct check *c, const struct settings *set)
{
	struct tls_server	*t;
	const char		*err;
	time_t			 expires;
	size_t			 n;

	if (set->lib.tls_cert[0] == '\0' && set->lib.tls_key[0] == '\0')
		return;		/* no TLS: the daemons say so at start */
	check_readable(c, "tls_cert", set->lib.tls_cert);
	check_readable(c, "tls_key", set->lib.tls_key);
	if ((t = tls_server_new(set->lib.tls_cert, set->lib.tls_key, &err)) == NULL) {
		/* The certificate's own errors start with its path; the rest is the key's. */
		n = strlen(set->lib.tls_cert);
		key_error(c, strncmp(err, set->lib.tls_cert, n) == 0 && err[n] == ':' ?
		    "tls_cert" : "tls_key", "%s", err);
		return;
	}
	tls_server_free(&t);
	if (ctl_cert_expiry(set->lib.tls_cert, &expires) == 0 && expires < time(NULL))
		key_error(c, "tls_cert", "%s: expired", set->lib.tls_cert);
}

/* The directory files the daemons read after the drop (on reload). */
static void
check_dir_files(struct check *c)
{
	static const char *const names[] = { "domains", "passwd", "groups", "aliases", "senders" };
	struct stat	 st;
	char		 path[4096];
	size_t		 i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", c->m->conf_dir, names[i]);
		if (stat(path, &st) == -1 || c->pw == NULL || user_may(c->pw, &st, S_IRUSR))
			continue;
		fprintf(stderr, "%s: not readable by user %s (a reload reads it as that user)\n",
		    path, c->pw->pw_name);
		c->errors++;
	}
}

int
cmd_check(struct mailctl *m, int argc, char **argv)
{
	const struct settings	*set;
	struct check		 c = { .m = m };
	const char		*err;

	if (argc != 1)
		return ctl_usage("check");
	current = &c;
	log_set_level(LOG_LEVEL_WARN);
	log_set_sink(sink);
	if ((m->dir = directory_load(m->conf_dir, &address_user_syntax, &err)) == NULL)
		c.errors++;
	if ((m->cfg = config_load(m->conf_path, &err)) == NULL) {
		c.errors++;
		goto out;
	}
	set = m->set = config_settings(m->cfg);
	if ((c.pw = getpwnam(set->lib.user)) == NULL)
		key_error(&c, "user", "%s: no such user", set->lib.user);
	check_tls(&c, set);
	check_dir_files(&c);
	check_dir(&c, "mail_root", set->lib.mail_root);
	check_dir(&c, "queue_dir", set->lib.queue_dir);
	if (set->lib.state_dir[0] != '\0')
		check_dir(&c, "state_dir", set->lib.state_dir);
out:
	log_set_sink(NULL);
	current = NULL;
	if (c.errors > 0) {
		fprintf(stderr, "mailctl: %s: %u error%s\n", m->conf_path, c.errors,
		    c.errors == 1 ? "" : "s");
		return CTL_ERR;
	}
	printf("%s: ok (configuration, directory files, certificate, directories; %u warning%s)\n",
	    m->conf_path, c.warnings, c.warnings == 1 ? "" : "s");
	return CTL_OK;
}
