/* lib/log.c: format, levels, errno, one line per event, quoting, fatal. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "lib/log.h"
#include "tests/unit/config_testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void
test_format_and_levels(void **state)
{
	char	*out, want[128];

	(void)state;
	log_init("/usr/sbin/testd", LOG_LEVEL_INFO, "stderr");
	tu_capture_start();
	log_info("session=%s event=%s", "0123456789abcdef", "connect");
	log_debug("hidden");
	errno = ENOENT;
	log_warn("open %s", "x");
	log_warnx("plain");
	log_set_level(LOG_LEVEL_DEBUG);
	log_debug("shown");
	log_set_level(LOG_LEVEL_ERROR);
	log_info("hidden too");
	log_warnx("hidden three");
	log_set_level(LOG_LEVEL_INFO);
	log_info("two\r\nlines\x1b");
	out = tu_capture_end();
	snprintf(want, sizeof(want), "testd[%ld]: ", (long)getpid());
	assert_non_null(strstr(out, want));
	assert_non_null(strstr(out, ": info: session=0123456789abcdef event=connect\n"));
	assert_non_null(strstr(out, ": warn: open x: No such file or directory\n"));
	assert_non_null(strstr(out, ": warn: plain\n"));
	assert_non_null(strstr(out, ": debug: shown\n"));
	assert_non_null(strstr(out, ": info: two??lines?\n"));	/* one line per event */
	assert_null(strstr(out, "hidden"));
	free(out);
}

static void
test_level_parse(void **state)
{
	(void)state;
	assert_int_equal(log_level_parse("error"), LOG_LEVEL_ERROR);
	assert_int_equal(log_level_parse("WARN"), LOG_LEVEL_WARN);
	assert_int_equal(log_level_parse("info"), LOG_LEVEL_INFO);
	assert_int_equal(log_level_parse("debug"), LOG_LEVEL_DEBUG);
	assert_int_equal(log_level_parse("verbose"), -1);
	assert_int_equal(log_level_parse(""), -1);
}

static void
test_quote(void **state)
{
	char	 buf[32], tiny[12];

	(void)state;
	assert_string_equal(log_quote("alice@example.com", buf, sizeof(buf)), "alice@example.com");
	assert_string_equal(log_quote("", buf, sizeof(buf)), "\"\"");
	assert_string_equal(log_quote("a b", buf, sizeof(buf)), "\"a b\"");
	assert_string_equal(log_quote("a=b", buf, sizeof(buf)), "\"a=b\"");
	assert_string_equal(log_quote("say \"hi\"\\", buf, sizeof(buf)), "\"say \\\"hi\\\"\\\\\"");
	assert_string_equal(log_quote("x\r\ny\x7f\xff", buf, sizeof(buf)),
	    "\"x\\x0d\\x0ay\\x7f\\xff\"");
	/* truncation stays inside the quotes and the buffer */
	memset(tiny, 'Z', sizeof(tiny));
	log_quote("abcdefghijklmnopqrstuvwxyz", tiny, sizeof(tiny));
	assert_true(strlen(tiny) < sizeof(tiny));
	assert_int_equal(tiny[0], '"');
	assert_non_null(strstr(tiny, "...\""));
	log_quote("\n\n\n\n\n\n\n\n", tiny, sizeof(tiny));
	assert_true(strlen(tiny) < sizeof(tiny));
	assert_non_null(strstr(tiny, "...\""));
}

static void
test_fatal_exits(void **state)
{
	pid_t	 pid;
	int	 status;

	(void)state;
	fflush(NULL);
	pid = fork();
	assert_true(pid != -1);
	if (pid == 0) {
		close(2);
		fatalx("the environment is broken");
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 1);
}

static char		 sunk[256];
static enum log_level	 sunk_level;

static void
sink(enum log_level level, const char *message)
{
	sunk_level = level;
	snprintf(sunk, sizeof(sunk), "%s", message);
}

/* A sink takes the message alone, no prefix, flattened; NULL gives the target back. */
static void
test_sink(void **state)
{
	char	*out;

	(void)state;
	log_init("testd", LOG_LEVEL_WARN, "stderr");
	log_set_sink(sink);
	tu_capture_start();
	log_warnx("conf:3: key: %s", "bad\nline");
	log_info("below the level");
	log_set_sink(NULL);
	log_warnx("back");
	out = tu_capture_end();
	assert_string_equal(sunk, "conf:3: key: bad?line");
	assert_int_equal(sunk_level, LOG_LEVEL_WARN);
	assert_non_null(strstr(out, "warn: back\n"));
	assert_null(strstr(out, "conf:3"));
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_and_levels),
		cmocka_unit_test(test_level_parse),
		cmocka_unit_test(test_quote),
		cmocka_unit_test(test_fatal_exits),
		cmocka_unit_test(test_sink),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
