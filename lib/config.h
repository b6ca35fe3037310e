/*
 * The one configuration format: etc/postroom.conf, "key = value" lines,
 * '#' comments, blank lines.  Every key is declared once in
 * config_keys.c with its type, default, range and documentation; the
 * parser, `mailctl config`, the sample file and a unit test (every key
 * documented in etc/postroom.conf) all read that table.
 *
 * Errors name file:line and key, and *all* of them are reported, not just
 * the first.  Unknown keys are a warning with the nearest known key.
 */
#ifndef LIB_CONFIG_H
#define LIB_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

enum config_type {
	CONFIG_INT,		/* decimal integer */
	CONFIG_SIZE,		/* bytes, with optional K/M/G suffix (1024-based) */
	CONFIG_DURATION,	/* milliseconds; value with ms/s/m/h/d suffix (bare = s) */
	CONFIG_BOOL,		/* yes/no/true/false/on/off/1/0 */
	CONFIG_STRING,
	CONFIG_PATH,		/* relative paths are taken relative to the config directory */
};

struct config_key {
	const char		*name;		/* "smtpd.max_message_size" */
	enum config_type	 type;
	const char		*def;		/* default, as written in the file */
	long long		 min, max;	/* range for numeric types (after unit scaling) */
	const char		*doc;		/* one line for the sample file and `mailctl config` */
	const char		*choices;	/* STRING only: "a|b|c" = the only values allowed */
};

extern const struct config_key	config_keys[];	/* terminated by { NULL } */

struct config;

/*
 * Load path.  On error returns NULL, logs every problem (file:line: key: why)
 * and sets *error_r to a summary.  Keys not in the file take their default.
 */
struct config	*config_load(const char *path, const char **error_r);
/* Defaults only (tests). config_dir is used to resolve relative paths. */
struct config	*config_defaults(const char *config_dir);
/* Override one key as if written in the file (tests, command line -o key=value). */
int		 config_set(struct config *cfg, const char *key, const char *value, const char **error_r);
void		 config_free(struct config **cfg);

/* Lookups of undeclared keys, or of the wrong type, are bugs: they abort. */
long long	 config_int(const struct config *cfg, const char *key);	/* INT, SIZE, DURATION(ms) */
bool		 config_bool(const struct config *cfg, const char *key);
const char	*config_str(const struct config *cfg, const char *key);	/* STRING, PATH ("" if empty) */

/*
 * Any key's value as it would be written in the file, sizes and durations
 * in the largest exact unit ("35M", "5m"), booleans as yes/no: for
 * `mailctl config` and start-up logs.  Undeclared keys abort.
 */
const char	*config_format(const struct config *cfg, const char *key, char *buf, size_t bufsize);

const char	*config_path(const struct config *cfg);	/* the file it came from */
const char	*config_dir(const struct config *cfg);	/* its directory */
const struct config_key *config_key_find(const char *name);

#endif
