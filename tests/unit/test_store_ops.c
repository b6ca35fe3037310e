/*
 * store/: write operations committed on a workq thread (store_op_*): the
 * commit runs off the loop, the result read back on the loop is what the
 * synchronous calls give, errors included.
 */
#include "store/store.h"
#include "lib/ev.h"
#include "lib/workq.h"
#include "lib/xmalloc.h"
#include "tests/unit/store_fixture.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

struct loop {
	struct ev_loop	*ev;
	struct workq	*wq;
	struct ev_timer	*watchdog;
	pthread_t	 loop_thread;
	pthread_t	 commit_thread;
	struct store_op	*op;
	bool		 done;
};

static void
watchdog(void *arg)
{
	fail_msg("watchdog: the store operation did not complete");
}

static void
job_work(void *arg)
{
	struct loop	*l = arg;

	l->commit_thread = pthread_self();
	store_op_commit(l->op);
}

static void
job_done(void *arg)
{
	struct loop	*l = arg;

	assert_true(pthread_equal(pthread_self(), l->loop_thread));
	l->done = true;
	ev_loop_break(l->ev);
}

static void
loop_init(struct loop *l)
{
	memset(l, 0, sizeof(*l));
	l->ev = ev_loop_new();
	l->wq = workq_new(l->ev, 2);
	l->loop_thread = pthread_self();
	l->watchdog = ev_timer_new(l->ev, watchdog, NULL);
}

static void
loop_free(struct loop *l)
{
	workq_free(&l->wq);
	ev_timer_free(&l->watchdog);
	ev_loop_free(&l->ev);
}

/* Commit op on a pool thread, wait on the loop, return the result there. */
static int
run_async(struct loop *l, struct store_op *op, const char **error_r)
{
	l->op = op;
	l->done = false;
	ev_timer_set(l->watchdog, 20000);
	workq_submit(l->wq, job_work, job_done, l);
	assert_int_equal(ev_loop_run(l->ev), 0);
	assert_true(l->done);
	assert_false(pthread_equal(l->commit_thread, l->loop_thread));
	return store_op_result(op, error_r);
}

static struct store_append *
two_messages(struct store_fx *fx)
{
	struct store_append	*a;
	const char		*error;
	unsigned		 i;
	char			*m;

	assert_int_equal(store_append_begin(fx->st, fx->maildir, "Sent", &a, &error), 0);
	for (i = 0; i < 2; i++) {
		m = fx_message(50 + i);
		assert_int_equal(store_append_message(a, MSG_SEEN | (i ? MSG_ANSWERED : 0),
		    i ? "Sent Done" : NULL, 1600000000 + i, &error), 0);
		assert_int_equal(store_append_write(a, m, strlen(m)), 0);
		free(m);
	}
	return a;
}

/* The folder lists of two users' Maildirs agree (UID, flags, keywords, size). */
static void
assert_same_folder(struct store_fx *a, struct store_fx *b, const char *folder)
{
	const struct msg_info	*ma, *mb;
	struct mailbox		*fa = fx_open(a, folder, 0), *fb = fx_open(b, folder, 0);
	const char		*error;
	char			*kw;
	size_t			 na, nb, i;

	assert_int_equal(mailbox_messages(fa, &ma, &na, &error), 0);
	assert_int_equal(mailbox_messages(fb, &mb, &nb, &error), 0);
	assert_int_equal(na, nb);
	for (i = 0; i < na; i++) {
		assert_int_equal(ma[i].uid, mb[i].uid);
		assert_int_equal(ma[i].flags, mb[i].flags);
		kw = xstrdup(fx_fetch(fa, ma[i].uid)->keywords);
		assert_string_equal(fx_fetch(fb, mb[i].uid)->keywords, kw);
		free(kw);
		assert_int_equal(ma[i].size, mb[i].size);
		assert_int_equal(ma[i].modseq, mb[i].modseq);
	}
	mailbox_close(&fa);
	mailbox_close(&fb);
	assert_int_equal(fx_consistent(b->st, b->maildir, folder, &error), 0);
}

static void
test_ops_on_workq_match_sync(void **state)
{
	struct store_fx		*s = store_fx_new("opsync", 1, "alice");
	struct store_fx		*w = store_fx_new("opwork", 1, "bob");
	struct store_append	*a;
	struct mailbox		*ms, *mw;
	struct store_op		*op;
	struct loop		 l;
	const uint32_t		*got;
	const char		*error;
	uint32_t		 seen[2] = { 1, 2 }, two = 2, three = 3, four = 4;
	uint32_t		 copy[3] = { 1, 2, 3 }, out[3], uidvalidity, uv, auids[2];
	size_t			 n;

	(void)state;
	loop_init(&l);
	fx_deliver_n(s, 4);
	fx_deliver_n(w, 4);
	ms = fx_open(s, "INBOX", 0);
	mw = fx_open(w, "INBOX", 0);

	assert_int_equal(mailbox_store_flags(ms, seen, 2, FLAGS_ADD, MSG_SEEN | MSG_FLAGGED,
	    "Work Later", &error), 0);
	op = store_op_flags(mw, seen, 2, FLAGS_ADD, MSG_SEEN | MSG_FLAGGED, "Work Later");
	assert_int_equal(run_async(&l, op, &error), 0);
	store_op_free(&op);

	assert_int_equal(mailbox_store_flags(ms, &two, 1, FLAGS_REMOVE, MSG_FLAGGED, "Later",
	    &error), 0);
	op = store_op_flags(mw, &two, 1, FLAGS_REMOVE, MSG_FLAGGED, "Later");
	assert_int_equal(run_async(&l, op, &error), 0);
	store_op_free(&op);

	assert_int_equal(mailbox_expunge(ms, &three, 1, &error), 0);
	op = store_op_expunge(mw, &three, 1);
	assert_int_equal(run_async(&l, op, &error), 0);
	store_op_free(&op);

	/* COPY with an expunged UID among them; UIDPLUS as the sync call says. */
	assert_int_equal(mailbox_copy(ms, copy, 3, "Trash", out, &error), 0);
	op = store_op_copy(mw, copy, 3, "Trash", false);
	assert_int_equal(run_async(&l, op, &error), 0);
	got = store_op_uids(op, &uidvalidity, &n);
	assert_int_equal(n, 3);
	assert_memory_equal(got, out, sizeof(out));
	assert_int_equal(out[2], 0);
	store_op_free(&op);

	assert_int_equal(mailbox_move(ms, &four, 1, "Junk", out, &error), 0);
	op = store_op_copy(mw, &four, 1, "Junk", true);
	assert_int_equal(run_async(&l, op, &error), 0);
	got = store_op_uids(op, &uidvalidity, &n);
	assert_int_equal(got[0], out[0]);
	store_op_free(&op);

	a = two_messages(s);
	assert_int_equal(store_append_commit(a, &uv, auids, &error), 0);
	store_append_free(&a);
	a = two_messages(w);
	op = store_op_append(&a);
	assert_null(a);
	assert_int_equal(run_async(&l, op, &error), 0);
	got = store_op_uids(op, &uidvalidity, &n);
	assert_int_equal(n, 2);
	assert_memory_equal(got, auids, sizeof(auids));
	store_op_free(&op);

	mailbox_close(&ms);
	mailbox_close(&mw);
	assert_same_folder(s, w, "INBOX");
	assert_same_folder(s, w, "Trash");
	assert_same_folder(s, w, "Junk");
	assert_same_folder(s, w, "Sent");
	loop_free(&l);
	store_fx_free(&s);
	store_fx_free(&w);
}

static void
op_done(struct store_op *op, void *arg)
{
	struct loop	*l = arg;

	assert_ptr_equal(op, l->op);
	assert_true(pthread_equal(pthread_self(), l->loop_thread));
	l->done = true;
	ev_loop_break(l->ev);
}

/* The failure's code and text reach the loop thread through the result. */
static void
test_op_error_reaches_loop(void **state)
{
	struct store_fx		*fx = store_fx_new("operr", 1, "carol");
	struct store_append	*a;
	struct mailbox		*mb, *none;
	struct store_op		*op;
	struct loop		 l;
	const char		*error = NULL;
	uint32_t		 one = 1;

	(void)state;
	loop_init(&l);
	fx_deliver_n(fx, 1);
	mb = fx_open(fx, "INBOX", MAILBOX_READONLY);
	op = store_op_expunge(mb, &one, 1);
	assert_int_equal(store_op_result(op, &error), -1);	/* not committed yet */
	assert_int_equal(store_error_code(), STORE_ERR_PARAMS);
	/* This thread's last error is NOT_FOUND until the result is read. */
	assert_int_equal(mailbox_open(fx->st, fx->maildir, "NoSuch", 0, &none, &error), -1);
	assert_int_equal(store_error_code(), STORE_ERR_NOT_FOUND);
	l.op = op;
	ev_timer_set(l.watchdog, 20000);
	store_op_submit(op, l.wq, op_done, &l);
	assert_int_equal(ev_loop_run(l.ev), 0);
	assert_true(l.done);
	assert_int_equal(store_error_code(), STORE_ERR_NOT_FOUND);
	assert_int_equal(store_op_result(op, &error), -1);
	assert_int_equal(store_error_code(), STORE_ERR_PERMISSION);
	assert_non_null(strstr(error, "read-only"));
	store_op_free(&op);
	mailbox_close(&mb);

	/* An append that fails on the pool thread (empty) reports it on the loop. */
	assert_int_equal(store_append_begin(fx->st, fx->maildir, "Sent", &a, &error), 0);
	op = store_op_append(&a);
	assert_int_equal(run_async(&l, op, &error), -1);
	assert_int_equal(store_error_code(), STORE_ERR_PARAMS);
	store_op_free(&op);
	loop_free(&l);
	store_fx_free(&fx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ops_on_workq_match_sync),
		cmocka_unit_test(test_op_error_reaches_loop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
