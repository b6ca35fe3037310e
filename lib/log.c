/*
 * The one logging call: one line per event, to stderr or syslog(3).
 * Messages are flattened to one line (CR, LF and other control bytes
 * become '?') so a value from the network can never forge a second
 * log line.
 */
#include "lib/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <unistd.h>

#define LOG_LINE_MAX	4096

static const char	*log_progname = "postroom";
static enum log_level	 log_max_level = LOG_LEVEL_INFO;
static int		 log_to_syslog;
static void		(*log_sink)(enum log_level, const char *);

static const char *const level_names[] = {
	[LOG_LEVEL_ERROR] = "error",
	[LOG_LEVEL_WARN] = "warn",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_DEBUG] = "debug",
};

static const int syslog_prio[] = {
	[LOG_LEVEL_ERROR] = LOG_ERR,
	[LOG_LEVEL_WARN] = LOG_WARNING,
	[LOG_LEVEL_INFO] = LOG_INFO,
	[LOG_LEVEL_DEBUG] = LOG_DEBUG,
};

void
log_init(const char *progname, enum log_level level, const char *target)
{
	/* progname is usually argv[0]'s basename or a literal: it outlives us. */
	const char	*slash = strrchr(progname, '/');

	log_progname = slash != NULL ? slash + 1 : progname;
	log_max_level = level;
	if (log_to_syslog)
		closelog();
	log_to_syslog = target != NULL && strcmp(target, "syslog") == 0;
	if (log_to_syslog)
		openlog(log_progname, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void
log_set_level(enum log_level level)
{
	log_max_level = level;
}

void
log_set_sink(void (*fn)(enum log_level, const char *))
{
	log_sink = fn;
}

int
log_level_parse(const char *name)
{
	size_t	 i;

	for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcasecmp(name, level_names[i]) == 0)
			return (int)i;
	return -1;
}

static void
log_vemit(enum log_level level, const char *errstr, const char *fmt, va_list ap)
{
	char	 line[LOG_LINE_MAX];
	size_t	 len, i;
	int	 n;

	n = vsnprintf(line, sizeof(line), fmt, ap);
	len = n < 0 ? 0 : (size_t)n;
	if (len >= sizeof(line))
		len = sizeof(line) - 1;
	if (errstr != NULL) {
		n = snprintf(line + len, sizeof(line) - len, ": %s", errstr);
		len += n < 0 ? 0 : (size_t)n;
		if (len >= sizeof(line))
			len = sizeof(line) - 1;
	}
	line[len] = '\0';
	for (i = 0; i < len; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			line[i] = '?';

	if (log_sink != NULL)
		log_sink(level, line);
	else if (log_to_syslog)
		syslog(syslog_prio[level], "%s: %s", level_names[level], line);
	else
		fprintf(stderr, "%s[%ld]: %s: %s\n", log_progname, (long)getpid(),
		    level_names[level], line);
}

#define LOG_BODY(level, errstr) do {			\
	va_list	 ap;					\
	va_start(ap, fmt);				\
	log_vemit((level), (errstr), fmt, ap);		\
	va_end(ap);					\
} while (0)

void
log_debug(const char *fmt, ...)
{
	if (log_max_level < LOG_LEVEL_DEBUG)
		return;
	LOG_BODY(LOG_LEVEL_DEBUG, NULL);
}

void
log_info(const char *fmt, ...)
{
	if (log_max_level < LOG_LEVEL_INFO)
		return;
	LOG_BODY(LOG_LEVEL_INFO, NULL);
}

void
log_warn(const char *fmt, ...)
{
	/* Take errno before formatting can change it. */
	const char	*errstr = strerror(errno);

	if (log_max_level < LOG_LEVEL_WARN)
		return;
	LOG_BODY(LOG_LEVEL_WARN, errstr);
}

void
log_warnx(const char *fmt, ...)
{
	if (log_max_level < LOG_LEVEL_WARN)
		return;
	LOG_BODY(LOG_LEVEL_WARN, NULL);
}

void
fatal(const char *fmt, ...)
{
	const char	*errstr = strerror(errno);

	LOG_BODY(LOG_LEVEL_ERROR, errstr);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_ERROR, NULL);
	exit(1);
}

/*
 * A value as one token: bare if it is non-empty printable ASCII without
 * space, '"' or '\\'; otherwise in double quotes with \" \\ and \xNN
 * escapes.  Truncated values end in "..." (inside the quotes).
 */
const char *
log_quote(const char *s, char *buf, size_t bufsize)
{
	static const char	 hex[] = "0123456789abcdef";
	const unsigned char	*p;
	size_t			 o = 0;
	int			 plain = s[0] != '\0';

	if (bufsize < 8) {
		if (bufsize > 0)
			buf[0] = '\0';
		return buf;
	}
	for (p = (const unsigned char *)s; *p != '\0' && plain; p++)
		if (*p <= ' ' || *p >= 0x7f || *p == '"' || *p == '\\' || *p == '=')
			plain = 0;
	if (plain && strlen(s) < bufsize) {
		memcpy(buf, s, strlen(s) + 1);
		return buf;
	}
	buf[o++] = '"';
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		/* Leave room for the longest escape, "...", the quote and NUL. */
		if (o + 4 + 3 + 2 > bufsize) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (*p == '"' || *p == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)*p;
		} else if (*p < ' ' || *p >= 0x7f) {
			buf[o++] = '\\';
			buf[o++] = 'x';
			buf[o++] = hex[*p >> 4];
			buf[o++] = hex[*p & 15];
		} else
			buf[o++] = (char)*p;
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}
