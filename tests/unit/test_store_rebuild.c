/*
 * The index is derived: delete (or damage) the index of a 1,000-message
 * mailbox with flags, keywords and expunged messages, and the next open
 * rebuilds it from the Maildir with the same UIDVALIDITY, UIDs and flags.
 */
#include "store/store.h"
#include "tests/unit/store_fixture.h"
#include "lib/xmalloc.h"

#include <sys/socket.h>
#include <sys/un.h>

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
		s->kw[i] = xstrdup(fx_fetch(mb, mi[i].uid)->keywords);
		s->env[i] = xstrdup(fx_fetch(mb, mi[i].uid)->envelope);
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
	struct store_fx	*fx = *state;
	char		 cmd[4200];
	struct snap	*before = xcalloc(1, sizeof(*before));
	struct snap	*after = xcalloc(1, sizeof(*after));
	const char	*error;
	double		 t;

	populate(fx->st, fx->maildir);
	take(fx->st, fx->maildir, before);
	assert_int_equal(before->n, NMSG - NMSG / 10);
	fx_index_delete(fx->maildir);
	t = seconds();
	take(fx->st, fx->maildir, after);
	print_message("rebuild of %zu messages: %.3f s\n", after->n, seconds() - t);
	assert_same(before, after);
	assert_int_equal(fx_consistent(fx->st, fx->maildir, "INBOX", &error), 0);
	release(after);

	/* Damaged files rather than missing ones: rebuilt all the same. */
	snprintf(cmd, sizeof(cmd), "cd %s/postroom-index && for f in *.db; do "
	    "dd if=/dev/urandom of=$f bs=4096 count=3 conv=notrunc status=none; done",
	    fx->maildir);
	assert_int_equal(system(cmd), 0);
	take(fx->st, fx->maildir, after);
	assert_same(before, after);
	release(after);
	release(before);
	free(before);
	free(after);
}

/* ---- the UID high-water mark (issue 19 item 9) ---- */

#define FEW	10

static void
side_file_set(const char *maildir, const char *text)
{
	char	*path = xasprintf("%s/postroom-uidvalidity", maildir);
	FILE	*f;

	assert_non_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
	free(path);
}

/* FEW messages, UIDs 1..FEW; the highest three expunged.  Returns UIDVALIDITY. */
static uint32_t
few_then_expunge(struct store *st, const char *maildir)
{
	static const uint32_t	 gone[] = { FEW - 2, FEW - 1, FEW };
	struct mailbox_status	 ms;
	struct mailbox		*mb;
	const char		*error;
	unsigned		 i;
	char			*m;

	for (i = 0; i < FEW; i++) {
		m = fx_message(i);
		assert_int_equal(fx_deliver(st, maildir, m), 0);
		free(m);
	}
	assert_int_equal(mailbox_open(st, maildir, "INBOX", 0, &mb, &error), 0);
	assert_int_equal(mailbox_status(mb, &ms), 0);
	assert_int_equal(ms.uidnext, FEW + 1);
	assert_int_equal(mailbox_expunge(mb, gone, 3, &error), 0);
	mailbox_close(&mb);
	return ms.uidvalidity;
}

/* Deliver one more and return its UID and the folder's UIDVALIDITY. */
static uint32_t
deliver_one(struct store *st, const char *maildir, uint32_t *uidvalidity_r)
{
	const struct msg_info	*mi;
	struct mailbox_status	 ms;
	struct mailbox		*mb;
	const char		*error;
	size_t			 n;
	uint32_t		 uid;
	char			*m = fx_message(999);

	assert_int_equal(fx_deliver(st, maildir, m), 0);
	free(m);
	assert_int_equal(mailbox_open(st, maildir, "INBOX", 0, &mb, &error), 0);
	assert_int_equal(mailbox_status(mb, &ms), 0);
	assert_int_equal(mailbox_messages(mb, &mi, &n, &error), 0);
	assert_int_equal(n, FEW - 3 + 1);
	*uidvalidity_r = ms.uidvalidity;
	uid = mi[n - 1].uid;
	mailbox_close(&mb);
	return uid;
}

static void
open_close(struct store *st, const char *maildir)
{
	struct mailbox	*mb;
	const char	*error;

	assert_int_equal(mailbox_open(st, maildir, "INBOX", 0, &mb, &error), 0);
	mailbox_close(&mb);
}

/*
 * A side file rolled back (or damaged) while the index is there is
 * rewritten from the index at the next open, so a later rebuild keeps the
 * UIDVALIDITY and never hands out an expunged UID again.
 */
static void
side_file_repaired(const char *damage_fmt)
{
	struct store_fx	*fx = store_fx_new("hwm", 0, "alice");
	char		*text;
	uint32_t	 v, v2, uid;

	v = few_then_expunge(fx->st, fx->maildir);
	text = xasprintf(damage_fmt, v);
	side_file_set(fx->maildir, text);
	free(text);
	open_close(fx->st, fx->maildir);		/* the index still knows: repaired */
	fx_index_delete(fx->maildir);
	uid = deliver_one(fx->st, fx->maildir, &v2);
	assert_int_equal(v2, v);
	assert_true(uid > FEW);
	store_fx_free(&fx);
}

static void
test_rolled_back_side_file_repaired(void **state)
{
	(void)state;
	side_file_repaired("%u 3\n");
}

static void
test_garbage_side_file_repaired(void **state)
{
	(void)state;
	side_file_repaired("garbage %u\n");
}

/*
 * Rolled back and the index gone: the file names still prove the side
 * file stale.  The old UIDs above it are unknown, so the UIDL of the new
 * message must differ from every one handed out: a new UIDVALIDITY, or a
 * UID above all of them.
 */
static void
test_stale_side_file_and_no_index(void **state)
{
	struct store_fx	*fx = *state;
	char		 text[64];
	uint32_t	 v, v2, uid;

	v = few_then_expunge(fx->st, fx->maildir);
	snprintf(text, sizeof(text), "%u 3\n", v);
	side_file_set(fx->maildir, text);
	fx_index_delete(fx->maildir);
	uid = deliver_one(fx->st, fx->maildir, &v2);
	assert_true(v2 != v || uid > FEW);
}

/*
 * A side file that cannot be read (here a socket: open fails with ENXIO;
 * in life EMFILE, EIO) is no missing one: with the index gone, the open
 * fails for now instead of starting the folder under a new UIDVALIDITY.
 */
static void
test_unreadable_side_file_keeps_uidvalidity(void **state)
{
	struct store_fx		*fx = *state;
	struct mailbox_status	 ms;
	struct mailbox		*mb;
	struct sockaddr_un	 sun = { .sun_family = AF_UNIX };
	const char		*error;
	char			*path, text[64];
	uint32_t		 v;
	FILE			*f;
	int			 sock;

	v = few_then_expunge(fx->st, fx->maildir);
	path = xasprintf("%s/postroom-uidvalidity", fx->maildir);
	assert_non_null(f = fopen(path, "r"));
	assert_non_null(fgets(text, sizeof(text), f));
	fclose(f);
	fx_index_delete(fx->maildir);
	assert_int_equal(unlink(path), 0);
	assert_true(strlen(path) < sizeof(sun.sun_path));
	strcpy(sun.sun_path, path);
	assert_true((sock = socket(AF_UNIX, SOCK_STREAM, 0)) != -1);
	assert_int_equal(bind(sock, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(mailbox_open(fx->st, fx->maildir, "INBOX", 0, &mb, &error), -1);
	close(sock);
	assert_int_equal(unlink(path), 0);
	side_file_set(fx->maildir, text);
	assert_int_equal(mailbox_open(fx->st, fx->maildir, "INBOX", 0, &mb, &error), 0);
	assert_int_equal(mailbox_status(mb, &ms), 0);
	assert_int_equal(ms.uidvalidity, v);
	mailbox_close(&mb);
	free(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		STORE_FX_TEST(test_rebuild_after_delete),
		cmocka_unit_test(test_rolled_back_side_file_repaired),
		cmocka_unit_test(test_garbage_side_file_repaired),
		STORE_FX_TEST(test_stale_side_file_and_no_index),
		STORE_FX_TEST(test_unreadable_side_file_keeps_uidvalidity),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
