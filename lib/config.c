/*
 * The configuration parser.  One pass over the file collects every
 * problem (syntax, unknown type, range, duplicate) before giving up, so an
 * admin fixes a file in one round instead of one error per restart.
 *
 * Grammar: "key = value" per line; '#' starts a comment only as the first
 * non-blank character (values may contain '#'); surrounding whitespace of
 * key and value is trimmed; an empty value is allowed where the type
 * allows it (STRING, PATH).
 */
#include "lib/config.h"

#include "lib/error.h"
#include "lib/log.h"
#include "lib/textfile.h"
#include "lib/xmalloc.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define CONFIG_LINE_MAX		4096
#define CONFIG_KEY_LEN_MAX	64	/* longer names get no suggestion */
#define LINE_OVERRIDE		UINT_MAX	/* set by config_set(), not by a line */

struct config {
	char			*path;
	char			*dir;
	size_t			 nkeys;
	unsigned		*lines;		/* parallel to config_keys[]: where set, 0: default */
	struct settings		 set;		/* strings malloc'd, freed by config_free */
};

struct config_parse {
	struct config	*cfg;		/* NULL when only checking */
	const char	*path;
	unsigned	 errors;
	char		 first[512];	/* the first error, for the summary */
};

static size_t
config_key_index(const char *name)
{
	size_t	 i;

	for (i = 0; config_keys[i].name != NULL; i++)
		if (strcmp(config_keys[i].name, name) == 0)
			return i;
	return SIZE_MAX;
}

const struct config_key *
config_key_find(const char *name)
{
	size_t	 i = config_key_index(name);

	return i == SIZE_MAX ? NULL : &config_keys[i];
}

const struct config_key *
config_key_at(size_t field)
{
	const struct config_key	*k;

	for (k = config_keys; k->name != NULL; k++)
		if (k->field == field)
			return k;
	return NULL;
}

static const struct config_alias *
config_alias_find(const char *name)
{
	const struct config_alias	*a;

	for (a = config_aliases; a->name != NULL; a++)
		if (strcmp(a->name, name) == 0)
			return a;
	return NULL;
}

static void *
field_of(const struct config *cfg, const struct config_key *k)
{
	return (char *)&cfg->set + k->field;
}

/* The table's C type per config type: see enum config_type. */
static void
field_set_number(struct config *cfg, const struct config_key *k, long long n)
{
	void	*p = field_of(cfg, k);

	switch (k->type) {
	case CONFIG_INT:
		*(unsigned *)p = (unsigned)n;
		break;
	case CONFIG_SIZE:
	case CONFIG_DURATION:
		*(uint64_t *)p = (uint64_t)n;
		break;
	case CONFIG_BOOL:
		*(bool *)p = n != 0;
		break;
	case CONFIG_STRING:
	case CONFIG_PATH:
		abort();
	}
}

static long long
field_number(const struct config *cfg, const struct config_key *k)
{
	const void	*p = field_of(cfg, k);

	switch (k->type) {
	case CONFIG_INT:
		return *(const unsigned *)p;
	case CONFIG_SIZE:
	case CONFIG_DURATION:
		return (long long)*(const uint64_t *)p;
	case CONFIG_BOOL:
		return *(const bool *)p;
	case CONFIG_STRING:
	case CONFIG_PATH:
		break;
	}
	abort();
}

static const char *
field_str(const struct config *cfg, const struct config_key *k)
{
	return *(const char **)field_of(cfg, k);
}

static void
field_set_str(struct config *cfg, const struct config_key *k, char *s)
{
	const char	**p = field_of(cfg, k);

	free((char *)*p);
	*p = s;
}

/* Decimal digits with an optional sign, then the rest in *end_r. */
static int
parse_number(const char *s, long long *n_r, const char **end_r)
{
	char	*end;

	if (!isdigit((unsigned char)s[0]) && !(s[0] == '-' && isdigit((unsigned char)s[1])))
		return -1;
	errno = 0;
	*n_r = strtoll(s, &end, 10);
	if (errno == ERANGE)
		return -1;
	*end_r = end;
	return 0;
}

static int
scale(long long n, long long unit, long long *r)
{
	if (__builtin_mul_overflow(n, unit, r))
		return -1;
	return 0;
}

static int
parse_size(const char *s, long long *r, const char **why_r)
{
	const char	*end;
	long long	 n, unit = 1;

	if (parse_number(s, &n, &end) == -1) {
		*why_r = "expected a size such as 512, 64K, 35M or 1G";
		return -1;
	}
	if (strcasecmp(end, "k") == 0)
		unit = 1024;
	else if (strcasecmp(end, "m") == 0)
		unit = 1024 * 1024;
	else if (strcasecmp(end, "g") == 0)
		unit = 1024 * 1024 * 1024;
	else if (*end != '\0') {
		*why_r = "unknown size unit (use K, M or G)";
		return -1;
	}
	if (scale(n, unit, r) == -1) {
		*why_r = "size too large";
		return -1;
	}
	return 0;
}

static int
parse_duration(const char *s, long long *r, const char **why_r)
{
	static const struct { const char *suffix; long long ms; } units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "", 1000 }, { "m", 60000 },
		{ "h", 3600000 }, { "d", 86400000 },
	};
	const char	*end;
	long long	 n;
	size_t		 i;

	if (parse_number(s, &n, &end) == -1) {
		*why_r = "expected a duration such as 30s, 5m, 2h or 500ms";
		return -1;
	}
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(end, units[i].suffix) == 0)
			break;
	if (i == sizeof(units) / sizeof(units[0])) {
		*why_r = "unknown duration unit (use ms, s, m, h or d)";
		return -1;
	}
	if (scale(n, units[i].ms, r) == -1) {
		*why_r = "duration too large";
		return -1;
	}
	return 0;
}

static int
parse_bool(const char *s, long long *r, const char **why_r)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	size_t	 i;

	for (i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*r = 1;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*r = 0;
			return 0;
		}
	}
	*why_r = "expected yes or no";
	return -1;
}

/* A numeric value back in the unit an admin would write, for messages. */
static void
format_value(const struct config_key *k, long long v, char *out, size_t outsize)
{
	static const struct { const char *suffix; long long unit; } size_units[] = {
		{ "G", 1024LL * 1024 * 1024 }, { "M", 1024 * 1024 }, { "K", 1024 },
	}, dur_units[] = {
		{ "d", 86400000 }, { "h", 3600000 }, { "m", 60000 }, { "s", 1000 },
	};
	size_t	 i;

	if (v != 0 && k->type == CONFIG_SIZE) {
		for (i = 0; i < 3; i++)
			if (v % size_units[i].unit == 0) {
				snprintf(out, outsize, "%lld%s", v / size_units[i].unit,
				    size_units[i].suffix);
				return;
			}
	}
	if (k->type == CONFIG_DURATION) {
		for (i = 0; v != 0 && i < 4; i++)
			if (v % dur_units[i].unit == 0) {
				snprintf(out, outsize, "%lld%s", v / dur_units[i].unit,
				    dur_units[i].suffix);
				return;
			}
		snprintf(out, outsize, "%lldms", v);
		return;
	}
	snprintf(out, outsize, "%lld", v);
}

/* Is text one of the '|'-separated words in choices? */
static bool
choice_valid(const char *choices, const char *text)
{
	size_t		 n = strlen(text), len;
	const char	*p;

	for (p = choices; *p != '\0'; p += len + (p[len] == '|')) {
		len = strcspn(p, "|");
		if (len == n && strncmp(p, text, n) == 0)
			return true;
	}
	return false;
}

/*
 * Parse text as the type of key k into its field (not touched on error).
 * why is filled with the reason on error.
 */
static int
parse_value(struct config *cfg, const struct config_key *k, const char *text,
    char *why, size_t whysize)
{
	const char	*reason = NULL, *end;
	char		 lo[32], hi[32];
	long long	 n = 0;
	int		 r = 0;

	switch (k->type) {
	case CONFIG_STRING:
		if (k->choices != NULL && !choice_valid(k->choices, text)) {
			snprintf(why, whysize, "%s: expected one of %s", text, k->choices);
			return -1;
		}
		field_set_str(cfg, k, xstrdup(text));
		return 0;
	case CONFIG_PATH:
		if (text[0] == '\0' || text[0] == '/')
			field_set_str(cfg, k, xstrdup(text));
		else
			field_set_str(cfg, k, xasprintf("%s/%s", cfg->dir, text));
		return 0;
	case CONFIG_INT:
		if (parse_number(text, &n, &end) == -1 || *end != '\0') {
			reason = "expected an integer";
			r = -1;
		}
		break;
	case CONFIG_SIZE:
		r = parse_size(text, &n, &reason);
		break;
	case CONFIG_DURATION:
		r = parse_duration(text, &n, &reason);
		break;
	case CONFIG_BOOL:
		r = parse_bool(text, &n, &reason);
		break;
	}
	if (r == 0 && k->type != CONFIG_BOOL && (n < k->min || n > k->max)) {
		format_value(k, k->min, lo, sizeof(lo));
		format_value(k, k->max, hi, sizeof(hi));
		snprintf(why, whysize, "%s is out of range (%s..%s)", text, lo, hi);
		return -1;
	}
	if (r == -1) {
		snprintf(why, whysize, "%s: %s", text, reason);
		return -1;
	}
	field_set_number(cfg, k, n);
	return 0;
}

static size_t
edit_distance(const char *a, const char *b)
{
	size_t	 row[CONFIG_KEY_LEN_MAX + 1];
	size_t	 la = strlen(a), lb = strlen(b), i, j, diag, up, best;

	if (la > CONFIG_KEY_LEN_MAX || lb > CONFIG_KEY_LEN_MAX)
		return SIZE_MAX;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		diag = row[0];
		row[0] = i;
		for (j = 1; j <= lb; j++) {
			up = row[j];
			best = diag + (tolower((unsigned char)a[i - 1]) !=
			    tolower((unsigned char)b[j - 1]));
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

/*
 * The known key an admin most likely meant: the same name under a daemon
 * prefix ("max_message_size" -> "smtpd.max_message_size"), else the
 * nearest by edit distance if it is close enough to be a typo.
 */
static const char *
config_suggest(const char *name)
{
	const char	*best = NULL, *dot;
	size_t		 i, d, bestd = SIZE_MAX;

	for (i = 0; config_keys[i].name != NULL; i++) {
		dot = strchr(config_keys[i].name, '.');
		if (dot != NULL && strcmp(dot + 1, name) == 0)
			return config_keys[i].name;
	}
	for (i = 0; config_keys[i].name != NULL; i++) {
		d = edit_distance(name, config_keys[i].name);
		if (d < bestd) {
			bestd = d;
			best = config_keys[i].name;
		}
	}
	if (best == NULL || bestd > 3 || bestd * 3 > strlen(name))
		return NULL;
	return best;
}

/* lineno 0: a default or an override, not a line of the file. */
static void
config_parse_error(struct config_parse *p, unsigned lineno, const char *key, const char *why)
{
	char	 msg[sizeof(p->first)], where[32] = "";

	if (lineno != 0)
		snprintf(where, sizeof(where), ":%u", lineno);
	if (key != NULL)
		snprintf(msg, sizeof(msg), "%s%s: %s: %s", p->path, where, key, why);
	else
		snprintf(msg, sizeof(msg), "%s%s: %s", p->path, where, why);
	log_warnx("%s", msg);
	if (p->errors++ == 0)
		memcpy(p->first, msg, sizeof(msg));
}

/*
 * The index of key, or of the key a deprecated name now is (with a
 * warning at where); SIZE_MAX if neither.
 */
static size_t
config_key_resolve(const char *key, const char *where)
{
	const struct config_alias	*a;

	if ((a = config_alias_find(key)) == NULL)
		return config_key_index(key);
	log_warnx("%s: key %s is deprecated, use %s", where, a->name, a->key);
	return config_key_index(a->key);
}

static void
config_line(void *ctx, unsigned lineno, char *line, const char *why)
{
	struct config_parse	*p = ctx;
	struct config		*cfg = p->cfg;
	const char		*suggestion;
	char			 reason[256], qkey[80], where[PATH_MAX + 16];
	char			*key, *value, *eq;
	size_t			 i;

	if (line == NULL) {
		config_parse_error(p, lineno, NULL, why);
		return;
	}
	key = textfile_trim(line);
	if (*key == '\0' || *key == '#')
		return;
	if ((eq = strchr(key, '=')) == NULL) {
		config_parse_error(p, lineno, NULL, "expected \"key = value\"");
		return;
	}
	*eq = '\0';
	key = textfile_trim(key);
	value = textfile_trim(eq + 1);
	if (*key == '\0') {
		config_parse_error(p, lineno, NULL, "missing key before '='");
		return;
	}
	snprintf(where, sizeof(where), "%s:%u", cfg->path, lineno);
	if ((i = config_key_resolve(key, where)) == SIZE_MAX) {
		/* Unknown keys only warn: an older binary must start on a newer file. */
		log_quote(key, qkey, sizeof(qkey));
		suggestion = config_suggest(key);
		if (suggestion != NULL)
			log_warnx("%s: unknown key %s ignored (did you mean %s?)", where, qkey,
			    suggestion);
		else
			log_warnx("%s: unknown key %s ignored", where, qkey);
		return;
	}
	if (cfg->lines[i] != 0) {
		snprintf(reason, sizeof(reason), "duplicate (first set on line %u)", cfg->lines[i]);
		config_parse_error(p, lineno, config_keys[i].name, reason);
		return;
	}
	if (parse_value(cfg, &config_keys[i], value, reason, sizeof(reason)) == -1) {
		config_parse_error(p, lineno, config_keys[i].name, reason);
		return;
	}
	cfg->lines[i] = lineno;
}

/* config_keys.c is code: a key the parser cannot hold is a bug. */
static void
config_key_verify(const struct config_key *k)
{
	bool	 numeric = k->type == CONFIG_INT || k->type == CONFIG_SIZE ||
		    k->type == CONFIG_DURATION;

	if (config_key_at(k->field) != k ||
	    (numeric && (k->min < 0 || k->max < k->min || k->max == 0)) ||
	    (k->type == CONFIG_INT && k->max > (long long)UINT_MAX)) {
		log_warnx("config_keys.c: %s: field shared or range unfit for its type", k->name);
		abort();
	}
}

static struct config *
config_new(const char *path, const char *dir)
{
	struct config	*cfg;
	char		 why[256];
	size_t		 i;

	cfg = xcalloc(1, sizeof(*cfg));
	cfg->path = xstrdup(path);
	cfg->dir = xstrdup(dir);
	for (i = 0; config_keys[i].name != NULL; i++)
		;
	cfg->nkeys = i;
	cfg->lines = xcalloc(i + 1, sizeof(*cfg->lines));
	for (i = 0; i < cfg->nkeys; i++) {
		config_key_verify(&config_keys[i]);
		if (parse_value(cfg, &config_keys[i], config_keys[i].def, why, sizeof(why)) == -1) {
			log_warnx("config_keys.c: %s: bad default: %s", config_keys[i].name, why);
			abort();
		}
	}
	return cfg;
}

struct config *
config_defaults(const char *dir)
{
	return config_new("(defaults)", dir);
}

/* Every rule of config_checks[], each failure logged as p's error. */
static void
config_run_checks(const struct config *cfg, struct config_parse *p)
{
	config_check_fn *const	*fn;
	const struct config_key	*k;
	const char		*key, *why;
	char			 value[64], msg[256];
	unsigned		 line;
	size_t			 i;

	for (fn = config_checks; *fn != NULL; fn++) {
		if ((*fn)(&cfg->set, &key, &why) == 0)
			continue;
		if ((i = config_key_index(key)) == SIZE_MAX)
			abort();	/* a check blaming no key is a bug */
		k = &config_keys[i];
		config_format(cfg, k->name, value, sizeof(value));
		line = cfg->lines[i];
		snprintf(msg, sizeof(msg), "%s%s: %s", value, line == 0 ? " (default)" :
		    line == LINE_OVERRIDE ? " (override)" : "", why);
		config_parse_error(p, line == LINE_OVERRIDE ? 0 : line, k->name, msg);
	}
}

/* 0, or -1 with *error_r summing up the errors p found. */
static int
config_parse_summary(const struct config_parse *p, const char **error_r)
{
	if (p->errors == 0)
		return 0;
	if (p->errors == 1)
		return err_set(error_r, "%s", p->first);
	return err_set(error_r, "%u errors, first: %s", p->errors, p->first);
}

int
config_check(const struct config *cfg, const char **error_r)
{
	struct config_parse	 p;

	memset(&p, 0, sizeof(p));
	p.path = cfg->path;
	config_run_checks(cfg, &p);
	return config_parse_summary(&p, error_r);
}

/* The directory of path, absolute: daemons chdir("/") later. */
static char *
config_dir_of(const char *path)
{
	const char	*slash = strrchr(path, '/');
	char		*dir, *cwd, *abs;

	if (slash == NULL)
		dir = xstrdup(".");
	else if (slash == path)
		dir = xstrdup("/");
	else
		dir = xstrndup(path, (size_t)(slash - path));
	if (dir[0] != '/' && (cwd = getcwd(NULL, 0)) != NULL) {
		abs = strcmp(dir, ".") == 0 ? xstrdup(cwd) : xasprintf("%s/%s", cwd, dir);
		free(cwd);
		free(dir);
		dir = abs;
	}
	return dir;
}

struct config *
config_load(const char *path, const char **error_r)
{
	struct config_parse	 p;
	const char		*err;
	char			*dir;
	int			 r;

	memset(&p, 0, sizeof(p));
	dir = config_dir_of(path);
	p.cfg = config_new(path, dir);
	p.path = p.cfg->path;
	free(dir);

	r = textfile_read(path, CONFIG_LINE_MAX, config_line, &p, &err);
	if (r != 0) {
		if (r == 1)
			err_set(error_r, "%s: no such file", path);
		else
			err_set(error_r, "%s", err);
		log_warnx("%s", *error_r);
		config_free(&p.cfg);
		return NULL;
	}
	/* Rules across keys mean something only once every key parsed. */
	if (p.errors == 0)
		config_run_checks(p.cfg, &p);
	if (config_parse_summary(&p, error_r) == -1)
		config_free(&p.cfg);
	return p.cfg;
}

int
config_set(struct config *cfg, const char *key, const char *value, const char **error_r)
{
	char	 why[256], qkey[80];
	size_t	 i;

	if ((i = config_key_resolve(key, "override")) == SIZE_MAX) {
		const char	*suggestion = config_suggest(key);

		log_quote(key, qkey, sizeof(qkey));
		return err_set(error_r, "unknown key %s%s%s%s", qkey,
		    suggestion != NULL ? " (did you mean " : "",
		    suggestion != NULL ? suggestion : "", suggestion != NULL ? "?)" : "");
	}
	if (parse_value(cfg, &config_keys[i], value, why, sizeof(why)) == -1)
		return err_set(error_r, "%s: %s", config_keys[i].name, why);
	cfg->lines[i] = LINE_OVERRIDE;
	return 0;
}

void
config_free(struct config **cfgp)
{
	struct config	*cfg = *cfgp;
	size_t		 i;

	if (cfg == NULL)
		return;
	for (i = 0; i < cfg->nkeys; i++)
		if (config_keys[i].type == CONFIG_STRING || config_keys[i].type == CONFIG_PATH)
			field_set_str(cfg, &config_keys[i], NULL);
	free(cfg->lines);
	free(cfg->path);
	free(cfg->dir);
	free(cfg);
	*cfgp = NULL;
}

const struct settings *
config_settings(const struct config *cfg)
{
	return &cfg->set;
}

bool
config_changed(const struct config *a, const struct config *b, size_t field)
{
	const struct config_key	*k = config_key_at(field);

	if (k == NULL)
		abort();	/* a field without a key is a bug */
	if (k->type == CONFIG_STRING || k->type == CONFIG_PATH)
		return strcmp(field_str(a, k), field_str(b, k)) != 0;
	return field_number(a, k) != field_number(b, k);
}

const char *
config_format(const struct config *cfg, const char *key, char *buf, size_t bufsize)
{
	const struct config_key	*k = config_key_find(key);

	if (k == NULL) {
		log_warnx("config: format of undeclared key %s", key);
		abort();
	}
	switch (k->type) {
	case CONFIG_STRING:
	case CONFIG_PATH:
		snprintf(buf, bufsize, "%s", field_str(cfg, k));
		break;
	case CONFIG_BOOL:
		snprintf(buf, bufsize, "%s", field_number(cfg, k) != 0 ? "yes" : "no");
		break;
	case CONFIG_INT:
	case CONFIG_SIZE:
	case CONFIG_DURATION:
		format_value(k, field_number(cfg, k), buf, bufsize);
		break;
	}
	return buf;
}

const char *
config_path(const struct config *cfg)
{
	return cfg->path;
}

const char *
config_dir(const struct config *cfg)
{
	return cfg->dir;
}

unsigned
config_key_line(const struct config *cfg, const char *key)
{
	size_t	i = config_key_index(key);

	if (i == SIZE_MAX || cfg->lines[i] == LINE_OVERRIDE)
		return 0;
	return cfg->lines[i];
}
