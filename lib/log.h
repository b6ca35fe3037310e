/*
 * The one logging call.  One line per event, key=value fields, a session id
 * where there is a session ("session=%s" first).  Goes to stderr (journald
 * adds time and unit) or syslog.  Never pass a password or a SASL blob.
 *
 * log_warn appends ": strerror(errno)"; log_warnx does not.  fatal/fatalx:
 * the environment is broken, exit(1).  A bug is an assert()/abort().
 */
#ifndef LIB_LOG_H
#define LIB_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

/* target: "stderr" or "syslog".  Before log_init: stderr at info. */
void	log_init(const char *progname, enum log_level level, const char *target);
void	log_set_level(enum log_level level);
/*
 * A tool that reports what the library logs in its own words (mailctl
 * check): each line goes to fn, message only, instead of the target.
 * NULL: back to the target.
 */
void	log_set_sink(void (*fn)(enum log_level level, const char *message));
/* "error", "warn", "info", "debug"; -1 if unknown. */
int	log_level_parse(const char *name);

void	log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Quote a value for a key=value field: safe for logs (no CR/LF/control). */
const char *log_quote(const char *s, char *buf, size_t bufsize);

#endif
