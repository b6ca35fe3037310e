/* lib/config.c: types, units, ranges, every error with file:line, the sample file. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "lib/config.h"
#include "lib/xmalloc.h"
#include "tests/unit/config_testutil.h"

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define SAMPLE	"etc/postroom.conf"

/* Load text as dir/postroom.conf; returns the config or NULL, and the log. */
static struct config *
load_text(const char *dir, const char *text, size_t len, const char **error_r, char **log_r)
{
	struct config	*cfg;
	char		*path = xasprintf("%s/postroom.conf", dir);

	tu_write(dir, "postroom.conf", text, len);
	tu_capture_start();
	cfg = config_load(path, error_r);
	*log_r = tu_capture_end();
	free(path);
	return cfg;
}

static void
test_defaults(void **state)
{
	struct config	*cfg = config_defaults("/etc/postroom");
	char		 buf[64];

	(void)state;
	assert_string_equal(config_settings(cfg)->lib.mail_root, "/var/lib/postroom/mail");
	assert_int_equal(config_settings(cfg)->lib.workers, 0);
	assert_int_equal(config_settings(cfg)->lib.auth_fail_delay_ms, 1000);
	assert_int_equal(config_settings(cfg)->lib.auth_block_time_ms, 15 * 60 * 1000);
	assert_int_equal(config_settings(cfg)->smtpd.max_message_size, 35 * 1024 * 1024);
	assert_true(config_settings(cfg)->store.fsync);
	assert_false(config_settings(cfg)->smtpd.vrfy);
	assert_string_equal(config_settings(cfg)->lib.hostname, "");
	assert_string_equal(config_dir(cfg), "/etc/postroom");
	assert_string_equal(config_format(cfg, "smtpd.max_message_size", buf, sizeof(buf)), "35M");
	assert_string_equal(config_format(cfg, "smtpd.max_line_length", buf, sizeof(buf)), "4K");
	assert_string_equal(config_format(cfg, "smtpd.idle_timeout", buf, sizeof(buf)), "5m");
	assert_string_equal(config_format(cfg, "auth_block_time", buf, sizeof(buf)), "15m");
	assert_string_equal(config_format(cfg, "store.fsync", buf, sizeof(buf)), "yes");
	assert_string_equal(config_format(cfg, "workers", buf, sizeof(buf)), "0");
	assert_string_equal(config_format(cfg, "user", buf, sizeof(buf)), "postroom");
	assert_non_null(config_key_find("smtpd.max_recipients"));
	assert_null(config_key_find("smtpd.nope"));
	config_free(&cfg);
	assert_null(cfg);
	config_free(&cfg);
}

/* Every key's formatted default parses back to the same value. */
static void
test_format_round_trip(void **state)
{
	struct config		*a = config_defaults("/d"), *b = config_defaults("/d");
	const struct config_key	*k;
	const char		*err;
	char			 buf[256], buf2[256];

	(void)state;
	assert_int_equal(config_set(a, "auth_fail_delay", "1500ms", &err), 0);
	assert_int_equal(config_set(a, "smtpd.max_message_size", "1025", &err), 0);
	for (k = config_keys; k->name != NULL; k++) {
		config_format(a, k->name, buf, sizeof(buf));
		if (config_set(b, k->name, buf, &err) == -1)
			fail_msg("%s = %s: %s", k->name, buf, err);
		assert_string_equal(config_format(b, k->name, buf2, sizeof(buf2)), buf);
	}
	assert_string_equal(config_format(b, "auth_fail_delay", buf, sizeof(buf)), "1500ms");
	assert_int_equal(config_settings(b)->smtpd.max_message_size, 1025);
	config_free(&a);
	config_free(&b);
}

static void
test_units_and_syntax(void **state)
{
	static const char	 text[] =
	    "# a comment\n"
	    "\n"
	    "   smtpd.max_message_size   =   10M   \n"
	    "auth_fail_delay=500ms\r\n"		/* CRLF too */
	    "smtpd.idle_timeout = 2h\n"
	    "auth_block_time = 90\n"		/* bare: seconds */
	    "smtpd.data_timeout = 1d\n"
	    "pop3d.max_line_length = 2k\n"
	    "smtpd.max_line_length = 1024\n"
	    "mail_root = mail\n"		/* relative to the file */
	    "queue_dir = /abs/queue\n"
	    "hostname =\n"			/* empty value */
	    "smtpd.relay_networks = 10.0.0.0/8 # not a comment\n"
	    "smtpd.vrfy = On\n"
	    "pop3d.mark_seen = 0\n"
	    "workers = 4";			/* no final LF */
	struct config	*cfg;
	const char	*err = NULL;
	char		*dir = tu_mkdtemp(), *log, *want;

	(void)state;
	cfg = load_text(dir, text, (size_t)-1, &err, &log);
	assert_non_null(cfg);
	assert_string_equal(log, "");
	assert_int_equal(config_settings(cfg)->smtpd.max_message_size, 10 * 1024 * 1024);
	assert_int_equal(config_settings(cfg)->lib.auth_fail_delay_ms, 500);
	assert_int_equal(config_settings(cfg)->smtpd.idle_timeout_ms, 2 * 3600 * 1000);
	assert_int_equal(config_settings(cfg)->lib.auth_block_time_ms, 90 * 1000);
	assert_int_equal(config_settings(cfg)->smtpd.data_timeout_ms, 86400LL * 1000);
	assert_int_equal(config_settings(cfg)->pop3d.max_line_length, 2048);
	assert_int_equal(config_settings(cfg)->smtpd.max_line_length, 1024);
	want = xasprintf("%s/mail", dir);
	assert_string_equal(config_settings(cfg)->lib.mail_root, want);
	assert_string_equal(config_settings(cfg)->lib.queue_dir, "/abs/queue");
	assert_string_equal(config_settings(cfg)->lib.hostname, "");
	assert_string_equal(config_settings(cfg)->smtpd.relay_networks, "10.0.0.0/8 # not a comment");
	assert_true(config_settings(cfg)->smtpd.vrfy);
	assert_false(config_settings(cfg)->pop3d.mark_seen);
	assert_int_equal(config_settings(cfg)->lib.workers, 4);
	/* untouched keys keep their defaults */
	assert_int_equal(config_settings(cfg)->smtpd.max_recipients, 100);
	free(want);
	free(log);
	config_free(&cfg);
	tu_rmdir(&dir);
}

static void
test_all_errors_reported(void **state)
{
	static const char	 text[] =
	    "workers = 4\n"
	    "workers = 5\n"				/* 2: duplicate */
	    "smtpd.max_recipients = many\n"		/* 3: not an integer */
	    "auth_fail_delay = 61s\n"			/* 4: out of range */
	    "just some words\n"				/* 5: no '=' */
	    "smtpd.max_message_size = 10X\n"		/* 6: unit */
	    "# fine\n"
	    "store.fsync = maybe\n"			/* 8: bool */
	    "smtpd.idle_timeout = 5 minutes\n"		/* 9: unit */
	    "= 3\n"					/* 10: no key */
	    "io_threads = -1\n"				/* 11: range */
	    "max_connections = 99999999999999999999999\n"	/* 12: overflow */
	    "smtpd.max_message_size = 9223372036854775807G\n";	/* 13: overflow */
	struct config	*cfg;
	const char	*err = NULL;
	char		*dir = tu_mkdtemp(), *log, *want;
	static const char *const expect[] = {
		"postroom.conf:2: workers: duplicate (first set on line 1)",
		"postroom.conf:3: smtpd.max_recipients: many: expected an integer",
		"postroom.conf:4: auth_fail_delay: 61s is out of range (0ms..1m)",
		"postroom.conf:5: expected \"key = value\"",
		"postroom.conf:6: smtpd.max_message_size: 10X: unknown size unit",
		"postroom.conf:8: store.fsync: maybe: expected yes or no",
		"postroom.conf:9: smtpd.idle_timeout: 5 minutes: unknown duration unit",
		"postroom.conf:10: missing key",
		"postroom.conf:11: io_threads: -1 is out of range (0..256)",
		"postroom.conf:12: max_connections:",
		"postroom.conf:13: smtpd.max_message_size:",
	};
	size_t		 i;

	(void)state;
	cfg = load_text(dir, text, (size_t)-1, &err, &log);
	assert_null(cfg);
	assert_non_null(strstr(err, "11 errors"));
	want = xasprintf("%s/postroom.conf:2: workers: duplicate", dir);
	assert_non_null(strstr(err, want));
	for (i = 0; i < sizeof(expect) / sizeof(expect[0]); i++) {
		if (strstr(log, expect[i]) == NULL)
			fail_msg("missing from the log: %s", expect[i]);
	}
	free(want);
	free(log);
	tu_rmdir(&dir);
}

static void
test_bad_lines(void **state)
{
	char		 text[6000];
	struct config	*cfg;
	const char	*err = NULL;
	char		*dir = tu_mkdtemp(), *log;
	size_t		 len;

	(void)state;
	/* line 1 too long, line 2 has a NUL, line 3 is fine, line 4 bad */
	memset(text, 'x', 5000);
	len = 5000;
	memcpy(text + len, "\nwor\0kers = 1\nworkers = 2\nworkers = 3\n", 38);
	len += 38;
	cfg = load_text(dir, text, len, &err, &log);
	assert_null(cfg);
	assert_non_null(strstr(log, "postroom.conf:1: line too long"));
	assert_non_null(strstr(log, "postroom.conf:2: NUL byte"));
	assert_non_null(strstr(log, "postroom.conf:4: workers: duplicate (first set on line 3)"));
	assert_non_null(strstr(err, "3 errors"));
	free(log);
	tu_rmdir(&dir);
}

/*
 * The file is read in 4 KB pieces: a line split across pieces is one
 * line, a line of exactly the maximum (4096 bytes with its LF) is
 * accepted and one byte more is skipped and reported.
 */
static void
test_read_boundaries(void **state)
{
	char		 text[16384];
	struct config	*cfg;
	const char	*err = NULL;
	char		*dir = tu_mkdtemp(), *log;
	size_t		 len, at;

	(void)state;
	/* a comment of 4090 bytes, then "workers = 7" straddles offset 4096 */
	text[0] = '#';
	memset(text + 1, 'c', 4088);
	text[4089] = '\n';
	len = 4090;
	memcpy(text + len, "workers = 7\n", 12);
	len += 12;
	/* hostname line of exactly 4096 bytes including its LF */
	at = len;
	memcpy(text + len, "hostname = ", 11);
	len += 11;
	memset(text + len, 'h', 4096 - 11 - 1);
	len = at + 4095;
	text[len++] = '\n';
	cfg = load_text(dir, text, len, &err, &log);
	if (cfg == NULL)
		fail_msg("%s", err);
	assert_int_equal(config_settings(cfg)->lib.workers, 7);
	assert_int_equal(strlen(config_settings(cfg)->lib.hostname), 4096 - 11 - 1);
	config_free(&cfg);
	free(log);
	/* one byte longer */
	memmove(text + at + 1, text + at, len - at);
	text[at] = ' ';
	cfg = load_text(dir, text, len + 1, &err, &log);
	assert_null(cfg);
	assert_non_null(strstr(log, "postroom.conf:3: line too long"));
	free(log);
	tu_rmdir(&dir);
}

static void
test_unknown_key_suggestion(void **state)
{
	struct config	*cfg;
	const char	*err = NULL;
	char		*dir = tu_mkdtemp(), *log;

	(void)state;
	cfg = load_text(dir,
	    "smtpd.max_mesage_size = 1M\n"
	    "max_message_size = 2M\n"
	    "zzzzzzzz = 1\n", (size_t)-1, &err, &log);
	assert_non_null(cfg);	/* only warnings */
	assert_non_null(strstr(log, "postroom.conf:1: unknown key smtpd.max_mesage_size ignored "
	    "(did you mean smtpd.max_message_size?)"));
	assert_non_null(strstr(log, "postroom.conf:2: unknown key max_message_size ignored "
	    "(did you mean smtpd.max_message_size?)"));
	assert_non_null(strstr(log, "postroom.conf:3: unknown key zzzzzzzz ignored\n"));
	assert_int_equal(config_settings(cfg)->smtpd.max_message_size, 35 * 1024 * 1024);
	config_free(&cfg);
	free(log);
	tu_rmdir(&dir);
}

static void
test_missing_file(void **state)
{
	const char	*err = NULL;
	char		*log;

	(void)state;
	tu_capture_start();
	assert_null(config_load("/nonexistent/postroom.conf", &err));
	log = tu_capture_end();
	assert_non_null(strstr(err, "/nonexistent/postroom.conf"));
	free(log);
}

static void
test_config_set(void **state)
{
	struct config	*cfg = config_defaults("/etc/postroom");
	const char	*err = NULL;

	(void)state;
	assert_int_equal(config_set(cfg, "smtpd.max_recipients", "7", &err), 0);
	assert_int_equal(config_settings(cfg)->smtpd.max_recipients, 7);
	assert_int_equal(config_set(cfg, "smtpd.max_recipients", "0", &err), -1);
	assert_non_null(strstr(err, "out of range"));
	assert_int_equal(config_settings(cfg)->smtpd.max_recipients, 7);
	assert_int_equal(config_set(cfg, "smtpd.max_recipent", "7", &err), -1);
	assert_non_null(strstr(err, "did you mean smtpd.max_recipients"));
	assert_int_equal(config_set(cfg, "tls_key", "k.pem", &err), 0);
	assert_string_equal(config_settings(cfg)->lib.tls_key, "/etc/postroom/k.pem");
	config_free(&cfg);
}

/* mailctl check blames a key's own line; a default or an override has none. */
static void
test_key_line(void **state)
{
	static const char	 text[] = "# comment\n\nhostname = a.b\ntls_key = k.pem\n";
	struct config		*cfg;
	const char		*err = NULL;
	char			*dir = tu_mkdtemp(), *log;

	(void)state;
	cfg = load_text(dir, text, sizeof(text) - 1, &err, &log);
	assert_non_null(cfg);
	assert_int_equal(config_key_line(cfg, "hostname"), 3);
	assert_int_equal(config_key_line(cfg, "tls_key"), 4);
	assert_int_equal(config_key_line(cfg, "mail_root"), 0);
	assert_int_equal(config_key_line(cfg, "no.such.key"), 0);
	assert_int_equal(config_set(cfg, "hostname", "c.d", &err), 0);
	assert_int_equal(config_key_line(cfg, "hostname"), 0);
	config_free(&cfg);
	free(log);
	tu_rmdir(&dir);
}

/* A key with a fixed set of words takes exactly those, whole. */
static void
test_choices(void **state)
{
	struct config	*cfg = config_defaults("/etc/postroom");
	const char	*err = NULL;

	(void)state;
	assert_int_equal(config_set(cfg, "log_level", "debug", &err), 0);
	assert_string_equal(config_settings(cfg)->lib.log_level, "debug");
	assert_int_equal(config_set(cfg, "log_level", "error", &err), 0);
	assert_int_equal(config_set(cfg, "log_level", "verbose", &err), -1);
	assert_non_null(strstr(err, "expected one of error|warn|info|debug"));
	assert_int_equal(config_set(cfg, "log_level", "warn|info", &err), -1);
	assert_int_equal(config_set(cfg, "log_level", "inf", &err), -1);
	assert_int_equal(config_set(cfg, "log_level", "", &err), -1);
	assert_string_equal(config_settings(cfg)->lib.log_level, "error");
	assert_int_equal(config_set(cfg, "smtpd.bare_lf", "reject", &err), 0);
	assert_int_equal(config_set(cfg, "smtpd.bare_lf", "accept", &err), -1);
	config_free(&cfg);
}

/* A rule across keys is an error at the line of the key it blames. */
static void
test_check_failure(void **state)
{
	static const char	 text[] =
	    "pop3d.idle_timeout = 5m\n"
	    "# the rule: not longer before login than after\n"
	    "pop3d.preauth_timeout = 6m\n";
	struct config	*cfg;
	const char	*err = NULL;
	char		*dir = tu_mkdtemp(), *log;

	(void)state;
	cfg = load_text(dir, text, (size_t)-1, &err, &log);
	assert_null(cfg);
	assert_non_null(strstr(err, "postroom.conf:3: pop3d.preauth_timeout: 6m: longer than"
	    " pop3d.idle_timeout"));
	assert_non_null(strstr(log, "postroom.conf:3: pop3d.preauth_timeout: 6m"));
	free(log);
	/* Blaming a default: no line to point at, so it says so. */
	cfg = load_text(dir, "pop3d.idle_timeout = 30s\n", (size_t)-1, &err, &log);
	assert_null(cfg);
	assert_non_null(strstr(err, "postroom.conf: pop3d.preauth_timeout: 1m (default): longer"));
	free(log);
	/* Parse errors first: a rule over half-parsed values would only confuse. */
	cfg = load_text(dir, "pop3d.idle_timeout = 30s\nworkers = x\n", (size_t)-1, &err, &log);
	assert_null(cfg);
	assert_null(strstr(log, "preauth"));
	free(log);
	tu_rmdir(&dir);
}

/* -o overrides may break a rule the file kept: config_check() after them. */
static void
test_check_after_set(void **state)
{
	struct config	*cfg = config_defaults("/etc/postroom");
	const char	*err = NULL;

	(void)state;
	assert_int_equal(config_check(cfg, &err), 0);
	assert_int_equal(config_set(cfg, "pop3d.preauth_timeout", "1h", &err), 0);
	tu_capture_start();
	assert_int_equal(config_check(cfg, &err), -1);
	free(tu_capture_end());
	assert_non_null(strstr(err, "(defaults): pop3d.preauth_timeout: 1h (override): longer"
	    " than pop3d.idle_timeout"));
	assert_int_equal(config_set(cfg, "pop3d.idle_timeout", "1h", &err), 0);
	assert_int_equal(config_check(cfg, &err), 0);
	config_free(&cfg);
}

static size_t
key_field_size(const struct config_key *k)
{
	switch (k->type) {
	case CONFIG_INT:
		return sizeof(unsigned);
	case CONFIG_SIZE:
	case CONFIG_DURATION:
		return sizeof(uint64_t);
	case CONFIG_BOOL:
		return sizeof(bool);
	case CONFIG_STRING:
	case CONFIG_PATH:
		return sizeof(const char *);
	}
	return 0;
}

/*
 * Every field of struct settings is some key's: between two keys' fields
 * (and at the end) there is no more room than padding, so a field added
 * without a key (left 0 or NULL forever) fails here, unless it is small
 * enough to hide in padding (a bool or unsigned before a wider field).
 * Fields are scalars aligned to their size, so padding is shorter than the
 * next field, or than 8 bytes where a section (a struct of its own) begins.
 */
static void
test_every_field_has_a_key(void **state)
{
	static const size_t	 sections[] = {
		offsetof(struct settings, smtpd), offsetof(struct settings, pop3d),
		offsetof(struct settings, store),
	};
	const struct config_key	*k, *next;
	size_t			 end = 0, gap, want, room, i;

	(void)state;
	for (;;) {
		next = NULL;
		for (k = config_keys; k->name != NULL; k++)
			if (k->field >= end && (next == NULL || k->field < next->field))
				next = k;
		if (next == NULL)
			break;
		gap = next->field - end;
		room = key_field_size(next);
		for (i = 0; i < sizeof(sections) / sizeof(sections[0]); i++)
			if (next->field == sections[i])
				room = sizeof(uint64_t);
		if (gap >= room)
			fail_msg("%zu bytes of struct settings before %s belong to no key", gap,
			    next->name);
		end = next->field + key_field_size(next);
	}
	want = sizeof(struct settings);
	if (want - end >= sizeof(uint64_t))
		fail_msg("the last %zu bytes of struct settings belong to no key", want - end);
}

/* A renamed key still loads, with a warning naming its successor. */
static void
test_deprecated_alias(void **state)
{
	struct config	*cfg;
	const char	*err = NULL;
	char		*dir = tu_mkdtemp(), *log;

	(void)state;
	cfg = load_text(dir, "workers = 2\nmax_bad_commands = 5\n", (size_t)-1, &err, &log);
	assert_non_null(cfg);
	assert_non_null(strstr(log, "postroom.conf:2: key max_bad_commands is deprecated,"
	    " use pop3d.max_errors"));
	assert_int_equal(config_settings(cfg)->pop3d.max_errors, 5);
	assert_int_equal(config_settings(cfg)->smtpd.max_errors, 10);
	config_free(&cfg);
	free(log);
	/* Old and new name together: one key set twice. */
	cfg = load_text(dir, "pop3d.max_errors = 4\nmax_bad_commands = 5\n", (size_t)-1, &err,
	    &log);
	assert_null(cfg);
	assert_non_null(strstr(err, "postroom.conf:2: pop3d.max_errors: duplicate (first set"
	    " on line 1)"));
	free(log);
	/* Checked like the new key. */
	cfg = load_text(dir, "max_bad_commands = 0\n", (size_t)-1, &err, &log);
	assert_null(cfg);
	assert_non_null(strstr(err, "postroom.conf:1: pop3d.max_errors: 0 is out of range"));
	free(log);
	/* -o too. */
	cfg = config_defaults("/etc/postroom");
	tu_capture_start();
	assert_int_equal(config_set(cfg, "max_bad_commands", "3", &err), 0);
	log = tu_capture_end();
	assert_non_null(strstr(log, "max_bad_commands is deprecated, use pop3d.max_errors"));
	assert_int_equal(config_settings(cfg)->pop3d.max_errors, 3);
	config_free(&cfg);
	free(log);
	tu_rmdir(&dir);
}

/* Every alias names a key, and no alias shadows one. */
static void
test_aliases_consistent(void **state)
{
	const struct config_alias	*a;

	(void)state;
	for (a = config_aliases; a->name != NULL; a++) {
		assert_non_null(config_key_find(a->key));
		assert_null(config_key_find(a->name));
	}
}

/* Run fn in a child and check that it aborts. */
static void
assert_aborts(void (*fn)(const struct config *), const struct config *cfg)
{
	pid_t	 pid;
	int	 status;

	fflush(NULL);
	pid = fork();
	assert_true(pid != -1);
	if (pid == 0) {
		close(2);	/* keep the expected message out of the test log */
		fn(cfg);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
}

static void
format_undeclared(const struct config *cfg)
{
	char	 buf[64];

	(void)config_format(cfg, "nope", buf, sizeof(buf));
}

static void
changed_no_key(const struct config *cfg)
{
	(void)config_changed(cfg, cfg, sizeof(struct settings));
}

/* Code reads typed fields; what still goes by name or offset must name a key. */
static void
test_bad_lookups_abort(void **state)
{
	struct config	*cfg = config_defaults("/etc/postroom");

	(void)state;
	assert_aborts(format_undeclared, cfg);
	assert_aborts(changed_no_key, cfg);
	config_free(&cfg);
}

/*
 * Every key of the table is documented in the sample: "# key = default"
 * or "key = value", right after a comment line that is not itself a key.
 */
static bool
is_key_line(const char *line, const char *key)
{
	size_t	 n = strlen(key);

	if (line[0] == '#')
		line += strspn(line + 1, " ") + 1;
	return strncmp(line, key, n) == 0 && line[n + strspn(line + n, " ")] == '=';
}

static void
test_sample_documents_every_key(void **state)
{
	FILE				*f;
	char				 line[1024], prev[1024];
	const struct config_key		*k;
	const struct config_key		*k2;
	bool				 found, prev_is_doc;

	(void)state;
	for (k = config_keys; k->name != NULL; k++) {
		if ((f = fopen(SAMPLE, "r")) == NULL)
			fail_msg("cannot open %s (run from the source root)", SAMPLE);
		found = false;
		prev[0] = '\0';
		while (fgets(line, sizeof(line), f) != NULL) {
			line[strcspn(line, "\n")] = '\0';
			prev_is_doc = prev[0] == '#' && strlen(prev) > 2;
			for (k2 = config_keys; prev_is_doc && k2->name != NULL; k2++)
				if (is_key_line(prev, k2->name))
					prev_is_doc = false;
			if (is_key_line(line, k->name) && prev_is_doc)
				found = true;
			memcpy(prev, line, sizeof(line));
		}
		fclose(f);
		if (!found)
			fail_msg("%s: not documented in %s", k->name, SAMPLE);
	}
}

static void
test_sample_loads_clean(void **state)
{
	struct config	*cfg;
	const char	*err = NULL;
	char		*log;

	(void)state;
	tu_capture_start();
	cfg = config_load(SAMPLE, &err);
	log = tu_capture_end();
	if (cfg == NULL)
		fail_msg("%s: %s", SAMPLE, err);
	assert_string_equal(log, "");
	/* relative to the file, made absolute: daemons chdir("/") */
	assert_int_equal(config_dir(cfg)[0], '/');
	assert_non_null(strstr(config_dir(cfg), "/etc"));
	assert_string_equal(config_path(cfg), SAMPLE);
	config_free(&cfg);
	free(log);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_format_round_trip),
		cmocka_unit_test(test_units_and_syntax),
		cmocka_unit_test(test_all_errors_reported),
		cmocka_unit_test(test_bad_lines),
		cmocka_unit_test(test_read_boundaries),
		cmocka_unit_test(test_unknown_key_suggestion),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_config_set),
		cmocka_unit_test(test_choices),
		cmocka_unit_test(test_key_line),
		cmocka_unit_test(test_check_failure),
		cmocka_unit_test(test_check_after_set),
		cmocka_unit_test(test_deprecated_alias),
		cmocka_unit_test(test_aliases_consistent),
		cmocka_unit_test(test_every_field_has_a_key),
		cmocka_unit_test(test_bad_lookups_abort),
		cmocka_unit_test(test_sample_documents_every_key),
		cmocka_unit_test(test_sample_loads_clean),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
