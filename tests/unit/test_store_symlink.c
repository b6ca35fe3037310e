/*
 * The store never follows a symlink in place of a mailbox directory
 * (issue 19 item 8): a Maildir, its tmp/, new/ or cur/, or a folder that is
 * a symlink to another directory is a temporary failure (4xx), and nothing
 * is written into the symlink's target.
 */
#include "store/store.h"
#include "tests/unit/store_fixture.h"
#include "lib/xmalloc.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

struct fx {
	struct store_fx	*box;
	char		*victim;	/* outside the mail root */
};

static int
setup(void **state)
{
	struct fx	*fx = xcalloc(1, sizeof(*fx));

	fx->box = store_fx_new("symlink", 1, "alice");
	fx->victim = fx_tmpdir("victim");
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fx	*fx = *state;

	store_fx_free(&fx->box);
	fx_rmtree(fx->victim);
	free(fx->victim);
	free(fx);
	return 0;
}

/* Replace <maildir>/<name> with a symlink to the victim directory. */
static void
plant(const struct fx *fx, const char *name)
{
	char	 path[4096], cmd[8300];

	snprintf(path, sizeof(path), "%s/%s", fx->box->maildir, name);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(symlink(fx->victim, path), 0);
}

/* Files written anywhere in the victim (its own subdirectories not counted). */
static size_t
victim_files(const struct fx *fx)
{
	static const char	*subs[] = { "tmp", "new", "cur" };
	char			 path[4096];
	struct stat		 sb;
	size_t			 n = fx_count(fx->victim), i;

	for (i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", fx->victim, subs[i]);
		if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
			n += fx_count(path);
			n--;
		}
	}
	return n;
}

/* Give the victim tmp/ new/ cur/, so only the symlink check can stop a walk. */
static void
victim_like_maildir(const struct fx *fx)
{
	static const char	*subs[] = { "tmp", "new", "cur" };
	char			 path[4096];
	size_t			 i;

	for (i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", fx->victim, subs[i]);
		assert_int_equal(mkdir(path, 0700), 0);
	}
}

static int
deliver(const struct fx *fx, const char *maildir, const char **error_r)
{
	struct store_rcpt	 r = { maildir, 0, 0 };
	struct store_delivery	*d;
	int			 rc;

	if ((d = store_delivery_begin(fx->box->st, &r, 1, error_r)) == NULL)
		return -1;
	assert_int_equal(store_delivery_write(d, "Subject: x\n\nx\n", 14), 0);
	rc = store_delivery_commit(d, error_r);
	store_delivery_free(&d);
	return rc;
}

static void
assert_refused(const struct fx *fx, const char *maildir)
{
	const char	*error = NULL;

	assert_int_equal(deliver(fx, maildir, &error), -1);
	assert_non_null(error);
	assert_true(store_error_temporary());
	assert_non_null(strstr(error, "symbolic link"));
	assert_int_equal(victim_files(fx), 0);
}

static void
test_symlinked_new(void **state)
{
	struct fx	*fx = *state;
	char		 tmp[4096];

	plant(fx, "new");
	assert_refused(fx, fx->box->maildir);
	snprintf(tmp, sizeof(tmp), "%s/tmp", fx->box->maildir);
	assert_int_equal(fx_count(tmp), 0);
}

static void
test_symlinked_tmp(void **state)
{
	struct fx	*fx = *state;

	plant(fx, "tmp");
	assert_refused(fx, fx->box->maildir);
}

static void
test_symlinked_maildir(void **state)
{
	struct fx	*fx = *state;
	char		 path[4096];

	victim_like_maildir(fx);
	snprintf(path, sizeof(path), "rm -rf '%s'", fx->box->maildir);
	assert_int_equal(system(path), 0);
	assert_int_equal(symlink(fx->victim, fx->box->maildir), 0);
	assert_refused(fx, fx->box->maildir);
}

static void
test_symlinked_cur_and_folder(void **state)
{
	struct fx	*fx = *state;
	struct mailbox	*mb = NULL;
	const char	*error = NULL;

	/* A folder whose directory is a symlink is not opened... */
	victim_like_maildir(fx);
	plant(fx, ".Trash");
	assert_int_equal(mailbox_open(fx->box->st, fx->box->maildir, "Trash", 0, &mb, &error), -1);
	assert_null(mb);
	assert_true(store_error_temporary());
	assert_non_null(strstr(error, "symbolic link"));
	/* ...nor an INBOX whose cur/ is one. */
	plant(fx, "cur");
	assert_int_equal(mailbox_open(fx->box->st, fx->box->maildir, "INBOX", 0, &mb, &error), -1);
	assert_null(mb);
	assert_true(store_error_temporary());
	assert_non_null(strstr(error, "symbolic link"));
	assert_int_equal(victim_files(fx), 0);
}

/* The check costs nothing on a normal Maildir. */
static void
test_plain_maildir_still_works(void **state)
{
	struct fx	*fx = *state;
	struct mailbox	*mb = NULL;
	const char	*error = NULL;
	char		 path[4096];

	assert_int_equal(deliver(fx, fx->box->maildir, &error), 0);
	snprintf(path, sizeof(path), "%s/new", fx->box->maildir);
	assert_int_equal(fx_count(path), 1);
	assert_int_equal(mailbox_open(fx->box->st, fx->box->maildir, "Trash", 0, &mb, &error), 0);
	mailbox_close(&mb);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_symlinked_new, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlinked_tmp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlinked_maildir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlinked_cur_and_folder, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plain_maildir_still_works, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
