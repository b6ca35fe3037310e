/*
 * The one configuration format: etc/postroom.conf, "key = value" lines,
 * '#' comments, blank lines.  Every key is declared once in
 * config_keys.c with its type, default, range, documentation and the
 * field of struct settings (lib/settings.h) it fills; the parser,
 * `mailctl config`, the sample file and a unit test (every key documented
 * in etc/postroom.conf) all read that table.  It is the one place key names live: code reads
 * the typed fields.
 *
 * Errors name file:line and key, and *all* of them are reported, not just
 * the first.  Unknown keys are a warning with the nearest known key; a
 * deprecated name (config_aliases[]) is a warning naming its successor.
 */
#ifndef LIB_CONFIG_H
#define LIB_CONFIG_H

#include "lib/settings.h"

#include <stdbool.h>
#include <stddef.h>

enum config_type {		/* and the C type of the field it fills */
	CONFIG_INT,		/* unsigned: decimal integer */
	CONFIG_SIZE,		/* uint64_t: bytes, optional K/M/G suffix (1024-based) */
	CONFIG_DURATION,	/* uint64_t: milliseconds; value with ms/s/m/h/d suffix (bare = s) */
	CONFIG_BOOL,		/* bool: yes/no/true/false/on/off/1/0 */
	CONFIG_STRING,		/* const char * */
	CONFIG_PATH,		/* const char *: relative paths are taken relative to the config directory */
};

struct config_key {
	const char		*name;		/* "smtpd.max_message_size" */
	enum config_type	 type;
	const char		*def;		/* default, as written in the file */
	long long		 min, max;	/* range for numeric types (after unit scaling); required */
	const char		*doc;		/* one line for the sample file */
	const char		*choices;	/* STRING only: "a|b|c" = the only values allowed */
	size_t			 field;		/* SETTINGS_FIELD() of the field it fills */
};

/* An old key name still accepted, with a warning naming the new one. */
struct config_alias {
	const char		*name;		/* "max_bad_commands" */
	const char		*key;		/* "pop3d.max_errors" */
};

/*
 * A rule across keys, run once the file (and -o overrides) parsed clean.
 * On failure sets *key_r to the key to blame (its file:line and value are
 * reported) and *error_r to why, a static string.  It gets the whole
 * struct: a section's rule may involve a shared key.
 */
typedef int	 config_check_fn(const struct settings *set, const char **key_r,
		    const char **error_r);

extern const struct config_key		 config_keys[];		/* terminated by { NULL } */
extern const struct config_alias	 config_aliases[];	/* terminated by { NULL } */
extern config_check_fn *const		 config_checks[];	/* terminated by NULL */

struct config;

/*
 * Where every program looks without -c (mailctl: --config); make install
 * puts the files there (sysconfdir=/etc whatever the PREFIX).
 */
#define CONFIG_DIR_DEFAULT	"/etc/postroom"
#define CONFIG_PATH_DEFAULT	CONFIG_DIR_DEFAULT "/postroom.conf"

/*
 * Load path and run the checks.  On error returns NULL, logs every
 * problem (file:line: key: why) and sets *error_r to a summary.  Keys not
 * in the file take their default.
 */
struct config	*config_load(const char *path, const char **error_r);
/* Defaults only (tests). config_dir is used to resolve relative paths. */
struct config	*config_defaults(const char *config_dir);
/*
 * Override one key as if written in the file (tests, command line -o
 * key=value).  Run config_check() after the last one.
 */
int		 config_set(struct config *cfg, const char *key, const char *value, const char **error_r);
/* Run config_checks[]; -1 logs every failure and sets *error_r to a summary. */
int		 config_check(const struct config *cfg, const char **error_r);
void		 config_free(struct config **cfg);

/* The typed settings; valid as long as cfg. */
const struct settings	*config_settings(const struct config *cfg);

/*
 * Any key's value as it would be written in the file, sizes and durations
 * in the largest exact unit ("35M", "5m"), booleans as yes/no: for
 * start-up logs and the tests.  Undeclared keys abort.
 */
const char	*config_format(const struct config *cfg, const char *key, char *buf, size_t bufsize);

const char	*config_path(const struct config *cfg);	/* the file it came from */
const char	*config_dir(const struct config *cfg);	/* its directory */
/* The line of the file that set key; 0: its default or an override. */
unsigned	 config_key_line(const struct config *cfg, const char *key);
const struct config_key *config_key_find(const char *name);
/* The key that fills field (a SETTINGS_FIELD()); NULL if none does. */
const struct config_key *config_key_at(size_t field);
/* Does the field's value differ between a and b? (field must have a key) */
bool		 config_changed(const struct config *a, const struct config *b, size_t field);

#endif
