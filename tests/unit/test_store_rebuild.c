/*
 * The index is derived: delete (or damage) the index of a 1,000-message
 * mailbox with flags, keywords and expunged messages, and the next open
 * rebuilds it from the Maildir with the same UIDVALIDITY, UIDs and flags.
 */
#include "spool/store.h"
#include "tests/unit/store_fixture.h"
#include "lib/xmalloc.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#define NMSG	1000

struct snap {
	uint32_t	 uidvalidity, uidnext;
	size_t		 n;
	uint32_t	 uid[NMSG];
	uint32_t	 flags[NMSG];
	char		*kw[NMSG];
	char		*env[NMSG];
};

static void
take(struct store *st, const char *maildir, struct snap *s)
{
	const struct msg_info	*mi;
	struct mailbox_status	 ms;
	struct mailbox		*mb;
	const char		*error;
	size_t			 i;

	if (mailbox_open(st, maildir, "INBOX", 0, &mb, &error) == -1)
		fail_msg("open: %s", error);
	assert_int_equal(mailbox_status(mb, &ms), 0);
	assert_int_equal(mailbox_messages(mb, &mi, &s->n, &error), 0);
	s->uidvalidity = ms.uidvalidity;
	s->uidnext = ms.uidnext;
	for (i = 0; i < s->n; i++) {
		s->uid[i] = mi[i].uid;
		s->flags[i] = mi[i].flags & ~MSG_RECENT;
		s->kw[i] = xstrdup(mi[i].keywords);
		s->env[i] = xstrdup(mi[i].envelope);
	}
	mailbox_close(&mb);
}

static void
release(struct snap *s)
{
	size_t	 i;

	for (i = 0; i < s->n; i++) {
		free(s->kw[i]);
		free(s->env[i]);
	}
}

static void
assert_same(const struct snap *a, const struct snap *b)
{
	size_t	 i;

	assert_int_equal(a->uidvalidity, b->uidvalidity);
	assert_true(b->uidnext >= a->uidnext);
	assert_int_equal(a->n, b->n);
	for (i = 0; i < a->n; i++) {
		assert_int_equal(a->uid[i], b->uid[i]);
		assert_int_equal(a->flags[i], b->flags[i]);
		assert_string_equal(a->kw[i], b->kw[i]);
		assert_string_equal(a->env[i], b->env[i]);
	}
}

static double
seconds(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
populate(struct store *st, const char *maildir)
{
	struct mailbox	*mb;
	const char	*error;
	uint32_t	 uids[NMSG];
	size_t		 i, n;
	char		*m;

	for (i = 0; i < NMSG; i++) {
		m = fx_message((unsigned)i);
		assert_int_equal(fx_deliver(st, maildir, m), 0);
		free(m);
	}
	assert_int_equal(mailbox_open(st, maildir, "INBOX", 0, &mb, &error), 0);
	for (i = n = 0; i < NMSG; i += 3)
		uids[n++] = (uint32_t)i + 1;
	assert_int_equal(mailbox_store_flags(mb, uids, n, FLAGS_ADD, MSG_SEEN, NULL, &error), 0);
	for (i = n = 0; i < NMSG; i += 7)
		uids[n++] = (uint32_t)i + 1;
	assert_int_equal(mailbox_store_flags(mb, uids, n, FLAGS_ADD, MSG_FLAGGED | MSG_ANSWERED,
	    "$Label1 Work", &error), 0);
	for (i = n = 0; i < NMSG; i += 10)
		uids[n++] = (uint32_t)i + 5;
	assert_int_equal(mailbox_expunge(mb, uids, n, &error), 0);
	mailbox_close(&mb);
}

static void
test_rebuild_after_delete(void **state)
{
	char		*root = fx_tmpdir("rebuild"), *maildir, cmd[4200];
	struct store	*st = fx_store(root, 0);
	struct snap	*before = xcalloc(1, sizeof(*before));
	struct snap	*after = xcalloc(1, sizeof(*after));
	const char	*error;
	double		 t;

	(void)state;
	maildir = fx_user(st, root, "alice");
	populate(st, maildir);
	take(st, maildir, before);
	assert_int_equal(before->n, NMSG - NMSG / 10);
	snprintf(cmd, sizeof(cmd), "rm -rf %s/postroom-index", maildir);
	assert_int_equal(system(cmd), 0);
	t = seconds();
	take(st, maildir, after);
	print_message("rebuild of %zu messages: %.3f s\n", after->n, seconds() - t);
	assert_same(before, after);
	assert_int_equal(fx_consistent(st, maildir, "INBOX", &error), 0);
	release(after);

	/* Damaged files rather than missing ones: rebuilt all the same. */
	snprintf(cmd, sizeof(cmd), "cd %s/postroom-index && for f in *.db; do "
	    "dd if=/dev/urandom of=$f bs=4096 count=3 conv=notrunc status=none; done", maildir);
	assert_int_equal(system(cmd), 0);
	take(st, maildir, after);
	assert_same(before, after);
	release(after);
	release(before);
	free(before);
	free(after);
	store_close(&st);
	fx_rmtree(root);
	free(root);
	free(maildir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rebuild_after_delete),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
