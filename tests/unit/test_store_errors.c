/* store/: every failure path sets the store_error_code() protocols map. */
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
#include <unistd.h>
#include <cmocka.h>

/* rc is -1 and the thread's code is want (and temporary only for 4xx codes). */
static void
assert_failed(int rc, enum store_error want)
{
	assert_int_equal(rc, -1);
	assert_int_equal(store_error_code(), want);
	assert_int_equal(store_error_temporary(),
	    want == STORE_ERR_TEMPORARY || want == STORE_ERR_OVER_QUOTA);
}

static void
test_in_use(void **state)
{
	struct store_fx	*fx = *state;
	struct mailbox	*a, *b;
	const char	*error;

	assert_int_equal(mailbox_open(fx->st, fx->maildir, "INBOX", MAILBOX_POP3_LOCK, &a,
	    &error), 0);
	assert_failed(mailbox_open(fx->st, fx->maildir, "INBOX", MAILBOX_POP3_LOCK, &b,
	    &error), STORE_ERR_IN_USE);
	assert_non_null(strstr(error, "another POP3 session"));
	/* Without the lock flag the same INBOX opens. */
	assert_int_equal(mailbox_open(fx->st, fx->maildir, "INBOX", 0, &b, &error), 0);
	mailbox_close(&b);
	mailbox_close(&a);
}

static void
test_not_found(void **state)
{
	struct store_fx	*fx = *state;
	struct mailbox	*mb;
	const char	*error;

	assert_failed(mailbox_open(fx->st, fx->maildir, "Nowhere", 0, &mb, &error),
	    STORE_ERR_NOT_FOUND);
	assert_failed(folder_delete(fx->st, fx->maildir, "Nowhere", &error), STORE_ERR_NOT_FOUND);
	assert_failed(folder_rename(fx->st, fx->maildir, "Nowhere", "Else", &error),
	    STORE_ERR_NOT_FOUND);
}

static void
test_exists(void **state)
{
	struct store_fx	*fx = *state;
	const char	*error;

	assert_int_equal(folder_create(fx->st, fx->maildir, "Archive", &error), 0);
	assert_failed(folder_create(fx->st, fx->maildir, "Archive", &error), STORE_ERR_EXISTS);
	assert_failed(folder_create(fx->st, fx->maildir, "Sent", &error), STORE_ERR_EXISTS);
	assert_failed(folder_rename(fx->st, fx->maildir, "Archive", "Sent", &error),
	    STORE_ERR_EXISTS);
}

static void
test_over_quota(void **state)
{
	struct store_fx		*fx = *state;
	struct store_rcpt	 r = { fx->maildir, 0, 1 };
	struct store_delivery	*d;
	const char		*error;
	char			*m = fx_message(1);
	uint32_t		 uid;
	int			 i;

	for (i = 0; i < 2; i++) {
		assert_non_null(d = store_delivery_begin(fx->st, &r, 1, &error));
		assert_int_equal(store_delivery_write(d, m, strlen(m)), 0);
		if (i == 0)
			assert_int_equal(store_delivery_commit(d, &error), 0);
		else
			assert_failed(store_delivery_commit(d, &error), STORE_ERR_OVER_QUOTA);
		store_delivery_free(&d);
	}
	assert_failed(mailbox_append(fx->st, fx->maildir, "INBOX", m, strlen(m), 0, 0, &uid,
	    &error), STORE_ERR_OVER_QUOTA);
	free(m);
}

static void
test_expunged(void **state)
{
	struct store_fx	*fx = *state;
	struct mailbox	*mb;
	const char	*error;
	char		*m = fx_message(1);
	int		 fd;

	assert_int_equal(fx_deliver(fx->st, fx->maildir, m), 0);
	assert_int_equal(mailbox_open(fx->st, fx->maildir, "INBOX", 0, &mb, &error), 0);
	assert_int_equal(mailbox_open_message(mb, 1, &fd, &error), 0);
	close(fd);
	assert_failed(mailbox_open_message(mb, 99, &fd, &error), STORE_ERR_EXPUNGED);
	mailbox_close(&mb);
	free(m);
}

static void
test_bad_parameters(void **state)
{
	struct store_fx	*fx = *state;
	struct mailbox	*mb;
	const char	*error;
	uint32_t	 uid = 1;
	char		*m = fx_message(1);

	assert_failed(folder_create(fx->st, fx->maildir, "a..b", &error), STORE_ERR_PARAMS);
	assert_failed(folder_create(fx->st, fx->maildir, "../evil", &error), STORE_ERR_PARAMS);
	assert_failed(mailbox_open(fx->st, fx->maildir, "a/b", 0, &mb, &error), STORE_ERR_PARAMS);
	assert_null(store_delivery_begin(fx->st, NULL, 0, &error));
	assert_int_equal(store_error_code(), STORE_ERR_PARAMS);
	assert_int_equal(fx_deliver(fx->st, fx->maildir, m), 0);
	assert_int_equal(mailbox_open(fx->st, fx->maildir, "INBOX", 0, &mb, &error), 0);
	assert_failed(mailbox_store_flags(mb, &uid, 1, FLAGS_ADD, 0, "bad\001word", &error),
	    STORE_ERR_PARAMS);
	mailbox_close(&mb);
	free(m);
}

static void
test_permission(void **state)
{
	struct store_fx	*fx = *state;
	struct mailbox	*mb;
	const char	*error;
	uint32_t	 uid = 1;
	char		*m = fx_message(1);

	assert_int_equal(fx_deliver(fx->st, fx->maildir, m), 0);
	assert_int_equal(mailbox_open(fx->st, fx->maildir, "INBOX", MAILBOX_READONLY, &mb,
	    &error), 0);
	assert_failed(mailbox_store_flags(mb, &uid, 1, FLAGS_ADD, MSG_SEEN, NULL, &error),
	    STORE_ERR_PERMISSION);
	assert_failed(mailbox_expunge(mb, &uid, 1, &error), STORE_ERR_PERMISSION);
	assert_failed(mailbox_move(mb, &uid, 1, "Trash", NULL, &error), STORE_ERR_PERMISSION);
	mailbox_close(&mb);
	free(m);
}

static void
test_not_possible(void **state)
{
	struct store_fx	*fx = *state;
	const char	*error;

	assert_failed(folder_delete(fx->st, fx->maildir, "INBOX", &error),
	    STORE_ERR_NOT_POSSIBLE);
	assert_failed(folder_create(fx->st, fx->maildir, "inbox", &error),
	    STORE_ERR_NOT_POSSIBLE);
}

static void
test_temporary(void **state)
{
	struct store_fx		*fx = *state;
	struct store_rcpt	 r = { fx->maildir, 0, 0 };
	struct store_delivery	*d;
	const char		*error;
	char			 path[4096];

	/* A tmp/ that is a symlink is refused, and may be repaired: retry later. */
	snprintf(path, sizeof(path), "%s/tmp", fx->maildir);
	assert_int_equal(rmdir(path), 0);
	assert_int_equal(symlink("/tmp", path), 0);
	assert_null(d = store_delivery_begin(fx->st, &r, 1, &error));
	assert_int_equal(store_error_code(), STORE_ERR_TEMPORARY);
	assert_true(store_error_temporary());
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		STORE_FX_TEST(test_in_use),
		STORE_FX_TEST(test_not_found),
		STORE_FX_TEST(test_exists),
		STORE_FX_TEST(test_over_quota),
		STORE_FX_TEST(test_expunged),
		STORE_FX_TEST(test_bad_parameters),
		STORE_FX_TEST(test_permission),
		STORE_FX_TEST(test_not_possible),
		STORE_FX_TEST(test_temporary),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
