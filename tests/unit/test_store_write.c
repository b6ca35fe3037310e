/*
 * store/: the write side imapd needs: UIDPLUS with copy, move and append,
 * APPEND streamed into tmp/, MULTIAPPEND all or nothing, and the write
 * operations committed on a workq thread with the synchronous result.
 */
#include "store/store.h"
#include "lib/commit.h"
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
#include <sys/stat.h>
#include <dirent.h>
#include <unistd.h>
#include <cmocka.h>

static struct mailbox_status
status_of(struct store_fx *fx, const char *folder)
{
	struct mailbox		*mb = fx_open(fx, folder, 0);
	struct mailbox_status	 s;

	assert_int_equal(mailbox_status(mb, &s), 0);
	mailbox_close(&mb);
	return s;
}

static void
commit_ok(struct store_op *op)
{
	const char	*error = NULL;

	store_op_commit(op);
	if (store_op_result(op, &error) == -1)
		fail_msg("commit: %s", error);
}

/* COPYUID/APPENDUID need the destination's UIDVALIDITY and the new UIDs. */
static void
test_copy_move_uidplus(void **state)
{
	struct store_fx	*fx = *state;
	struct mailbox	*mb;
	struct store_op	*op;
	const uint32_t	*uids;
	const char	*error;
	uint32_t	 src[3] = { 1, 99, 3 }, two = 2, uidvalidity;
	size_t		 n;

	fx_deliver_n(fx, 3);
	mb = fx_open(fx, "INBOX", 0);
	op = store_op_copy(mb, src, 3, "Trash", false);
	commit_ok(op);
	uids = store_op_uids(op, &uidvalidity, &n);
	assert_int_equal(n, 3);
	assert_int_equal(uids[0], 1);
	assert_int_equal(uids[1], 0);		/* no such message: nothing copied */
	assert_int_equal(uids[2], 2);
	assert_int_equal(uidvalidity, status_of(fx, "Trash").uidvalidity);
	assert_int_not_equal(uidvalidity, 0);
	store_op_free(&op);
	assert_null(op);

	op = store_op_copy(mb, &two, 1, "Trash", true);
	commit_ok(op);
	uids = store_op_uids(op, &uidvalidity, &n);
	assert_int_equal(n, 1);
	assert_int_equal(uids[0], 3);
	assert_int_equal(uidvalidity, status_of(fx, "Trash").uidvalidity);
	store_op_free(&op);
	assert_int_equal(status_of(fx, "INBOX").messages, 2);

	/* Flags report no UIDs. */
	op = store_op_flags(mb, &src[0], 1, FLAGS_ADD, MSG_SEEN, NULL);
	commit_ok(op);
	assert_null(store_op_uids(op, &uidvalidity, &n));
	assert_int_equal(n, 0);
	store_op_free(&op);
	mailbox_close(&mb);
	assert_int_equal(fx_consistent(fx->st, fx->maildir, "Trash", &error), 0);
}

/* A big body, written one byte at a time as a literal might arrive. */
static char *
big_message(const char *subject, size_t lines)
{
	char	*m, *p;
	size_t	 i;

	m = p = xmalloc(128 + lines * 64);
	p += sprintf(p, "From: a@example.org\nSubject: %s\n\n", subject);
	for (i = 0; i < lines; i++)
		p += sprintf(p, "line %06zu of a message streamed into tmp/ by APPEND\n", i);
	return m;
}

static void
test_append_streamed(void **state)
{
	struct store_fx		*fx = *state;
	struct store_append	*a;
	const struct msg_info	*mi;
	struct mailbox		*mb;
	const char		*error;
	char			*m = big_message("streamed", 3000), *back;
	size_t			 len = strlen(m), i, n;
	uint32_t		 uid = 0, uidvalidity = 0;
	struct stat		 sb;
	ssize_t			 r;
	int			 fd;

	assert_int_equal(store_append_begin(fx->st, fx->maildir, "Sent", &a, &error), 0);
	assert_int_equal(store_append_write(a, m, 1), -1);	/* no message begun */
	assert_int_equal(store_append_message(a, MSG_SEEN | MSG_FLAGGED | MSG_RECENT,
	    "$Forwarded Work", 1000000000, &error), 0);
	for (i = 0; i < len; i++) {
		assert_int_equal(store_append_write(a, m + i, 1), 0);
		if (i == len / 2) {
			/* On disk in the folder's tmp/ as it arrives, visible nowhere. */
			assert_int_equal(fx_count(fx_path(fx, ".Sent/tmp")), 1);
			assert_int_equal(fx_count(fx_path(fx, ".Sent/cur")), 0);
		}
	}
	assert_int_equal(store_append_size(a), len);
	assert_int_equal(store_append_count(a), 1);
	assert_int_equal(store_append_commit(a, &uidvalidity, &uid, &error), 0);
	assert_int_equal(store_append_message(a, 0, NULL, 0, &error), -1);
	assert_int_equal(store_error_code(), STORE_ERR_PARAMS);
	store_append_free(&a);
	assert_null(a);

	assert_int_equal(uid, 1);
	assert_int_equal(uidvalidity, status_of(fx, "Sent").uidvalidity);
	assert_int_equal(fx_count(fx_path(fx, ".Sent/tmp")), 0);
	assert_int_equal(fx_count(fx_path(fx, ".Sent/cur")), 1);
	mb = fx_open(fx, "Sent", 0);
	assert_int_equal(mailbox_messages(mb, &mi, &n, &error), 0);
	assert_int_equal(n, 1);
	assert_int_equal(mi[0].uid, 1);
	assert_int_equal(mi[0].flags, MSG_SEEN | MSG_FLAGGED);
	assert_string_equal(fx_fetch(mb, 1)->keywords, "$Forwarded Work");
	assert_int_equal(mi[0].internal_date, 1000000000);
	assert_int_equal(mi[0].size, len + 3003);	/* CRLF: one more per line */
	assert_non_null(strstr(fx_fetch(mb, 1)->envelope, "streamed"));
	assert_int_equal(mailbox_open_message(mb, 1, &fd, &error), 0);
	assert_int_equal(fstat(fd, &sb), 0);
	assert_int_equal(sb.st_mtime, 1000000000);	/* the internal date survives a rebuild */
	back = xmalloc(len + 1);
	r = read(fd, back, len + 1);
	assert_int_equal(r, (ssize_t)len);
	assert_memory_equal(back, m, len);
	close(fd);
	free(back);
	mailbox_close(&mb);
	assert_int_equal(fx_consistent(fx->st, fx->maildir, "Sent", &error), 0);
	free(m);
}

/* Append count messages to folder in one transaction; returns the fsyncs it took. */
static uint64_t
multiappend(struct store_fx *fx, const char *folder, unsigned count, uint32_t *uids_r,
    uint32_t *uidvalidity_r)
{
	struct store_append	*a;
	const char		*error = NULL;
	uint64_t		 before;
	unsigned		 i;
	char			*m;

	assert_int_equal(store_append_begin(fx->st, fx->maildir, folder, &a, &error), 0);
	for (i = 0; i < count; i++) {
		m = fx_message(100 + i);
		assert_int_equal(store_append_message(a, MSG_SEEN, NULL, 0, &error), 0);
		assert_int_equal(store_append_write(a, m, strlen(m)), 0);
		free(m);
	}
	before = commit_fsync_count();
	if (store_append_commit(a, uidvalidity_r, uids_r, &error) == -1)
		fail_msg("store_append_commit: %s", error);
	store_append_free(&a);
	return commit_fsync_count() - before;
}

static void
test_multiappend_all_at_once(void **state)
{
	struct store_fx		*fx = *state;
	struct store_append	*a;
	const struct msg_info	*mi;
	struct mailbox		*mb;
	struct mailbox_status	 s0, s1;
	const char		*error;
	uint32_t		 uids[3], one, uidvalidity;
	uint64_t		 fs1, fs3;
	size_t			 i, n;
	char			*m;

	multiappend(fx, "Drafts", 1, &one, &uidvalidity);	/* the folder's first sync */
	assert_int_equal(one, 1);
	fs1 = multiappend(fx, "Drafts", 1, &one, &uidvalidity);
	assert_int_equal(one, 2);
	fs3 = multiappend(fx, "Drafts", 3, uids, &uidvalidity);
	/* One transaction: a file fsync per message, cur/ once. */
	assert_int_equal(fs1, 2);
	assert_int_equal(fs3, 4);
	for (i = 0; i < 3; i++)
		assert_int_equal(uids[i], 3 + i);	/* one UID range */
	assert_int_equal(uidvalidity, status_of(fx, "Drafts").uidvalidity);

	/* Nothing is visible before the commit, all of it after. */
	s0 = status_of(fx, "Drafts");
	assert_int_equal(store_append_begin(fx->st, fx->maildir, "Drafts", &a, &error), 0);
	for (i = 0; i < 3; i++) {
		m = fx_message(200 + (unsigned)i);
		assert_int_equal(store_append_message(a, 0, "Batch", 0, &error), 0);
		assert_int_equal(store_append_write(a, m, strlen(m)), 0);
		free(m);
	}
	assert_int_equal(fx_count(fx_path(fx, ".Drafts/tmp")), 3);
	assert_int_equal(status_of(fx, "Drafts").messages, s0.messages);
	assert_int_equal(store_append_commit(a, NULL, uids, &error), 0);
	store_append_free(&a);
	s1 = status_of(fx, "Drafts");
	assert_int_equal(s1.messages, s0.messages + 3);
	assert_int_equal(s1.highestmodseq, s0.highestmodseq + 1);
	assert_int_equal(fx_count(fx_path(fx, ".Drafts/tmp")), 0);
	mb = fx_open(fx, "Drafts", 0);
	assert_int_equal(mailbox_messages(mb, &mi, &n, &error), 0);
	assert_int_equal(n, 8);
	for (i = 5; i < 8; i++) {
		assert_int_equal(mi[i].uid, uids[i - 5]);
		assert_int_equal(mi[i].modseq, s1.highestmodseq);
		assert_string_equal(fx_fetch(mb, mi[i].uid)->keywords, "Batch");
	}
	mailbox_close(&mb);
	assert_int_equal(fx_consistent(fx->st, fx->maildir, "Drafts", &error), 0);
}

static void
test_multiappend_abort_leaves_nothing(void **state)
{
	struct store_fx		*fx = *state;
	struct store_rcpt	 r = { fx->maildir, 400, 0 };
	struct store_append	*a;
	struct store_delivery	*d;
	const char		*error;
	unsigned		 i;
	char			*m;

	/* Freed before commit: the temp files go. */
	assert_int_equal(store_append_begin(fx->st, fx->maildir, "Sent", &a, &error), 0);
	assert_int_equal(store_append_commit(a, NULL, NULL, &error), -1);	/* empty */
	assert_int_equal(store_error_code(), STORE_ERR_PARAMS);
	for (i = 0; i < 2; i++) {
		m = fx_message(i);
		assert_int_equal(store_append_message(a, 0, NULL, 0, &error), 0);
		assert_int_equal(store_append_write(a, m, strlen(m)), 0);
		free(m);
	}
	assert_int_equal(fx_count(fx_path(fx, ".Sent/tmp")), 2);
	store_append_free(&a);
	assert_int_equal(fx_count(fx_path(fx, ".Sent/tmp")), 0);
	assert_int_equal(fx_count(fx_path(fx, ".Sent/cur")), 0);

	/* Over quota as a whole (400 bytes; each message fits alone): none of it. */
	m = fx_message(1);
	d = store_delivery_begin(fx->st, &r, 1, &error);	/* writes maildirsize */
	assert_int_equal(store_delivery_write(d, m, strlen(m)), 0);
	assert_int_equal(store_delivery_commit(d, &error), 0);
	store_delivery_free(&d);
	assert_int_equal(store_append_begin(fx->st, fx->maildir, "Sent", &a, &error), 0);
	for (i = 0; i < 2; i++) {
		assert_int_equal(store_append_message(a, 0, NULL, 0, &error), 0);
		assert_int_equal(store_append_write(a, m, strlen(m)), 0);
	}
	assert_int_equal(store_append_commit(a, NULL, NULL, &error), -1);
	assert_int_equal(store_error_code(), STORE_ERR_OVER_QUOTA);
	store_append_free(&a);
	assert_int_equal(fx_count(fx_path(fx, ".Sent/tmp")), 0);
	assert_int_equal(fx_count(fx_path(fx, ".Sent/cur")), 0);
	assert_int_equal(status_of(fx, "Sent").messages, 0);
	free(m);
}

/*
 * The second rename into cur/ fails (a directory squats its name): the
 * first file, already renamed, is taken out again: none of it is visible.
 */
static void
test_multiappend_publish_fails(void **state)
{
	struct store_fx		*fx = *state;
	struct store_append	*a;
	struct dirent		*de;
	const char		*error;
	const char		*texts[2] = { "Subject: one\n\nx\n", "Subject: two\n\nlonger\n" };
	char			 squat[4096] = "", *q;
	unsigned long		 maxq = 0;
	uint32_t		 uid;
	unsigned		 i;
	DIR			*dir;

	multiappend(fx, "Drafts", 1, &uid, NULL);	/* the folder is indexed, uidnext 2 */
	assert_int_equal(store_append_begin(fx->st, fx->maildir, "Drafts", &a, &error), 0);
	for (i = 0; i < 2; i++) {
		assert_int_equal(store_append_message(a, 0, NULL, 0, &error), 0);
		assert_int_equal(store_append_write(a, texts[i], strlen(texts[i])), 0);
	}
	/* Message 2's temp file has the higher counter (Q<n> in the name); it will be U=3. */
	assert_non_null(dir = opendir(fx_path(fx, ".Drafts/tmp")));
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.' || (q = strchr(de->d_name, 'Q')) == NULL ||
		    strtoul(q + 1, NULL, 10) < maxq)
			continue;
		maxq = strtoul(q + 1, NULL, 10);
		snprintf(squat, sizeof(squat), "%s/.Drafts/cur/%s,S=%zu,W=%zu,U=3:2,",
		    fx->maildir, de->d_name, strlen(texts[1]), strlen(texts[1]) + 3);
	}
	closedir(dir);
	assert_true(squat[0] != '\0');
	assert_int_equal(mkdir(squat, 0700), 0);
	assert_int_equal(store_append_commit(a, NULL, NULL, &error), -1);
	assert_non_null(strstr(error, "rename"));
	assert_int_equal(store_append_commit(a, NULL, NULL, &error), -1);	/* not twice */
	assert_int_equal(store_error_code(), STORE_ERR_PARAMS);
	store_append_free(&a);
	assert_int_equal(status_of(fx, "Drafts").messages, 1);	/* a sync ignores the directory */
	assert_int_equal(rmdir(squat), 0);
	assert_int_equal(fx_count(fx_path(fx, ".Drafts/tmp")), 0);
	assert_int_equal(fx_count(fx_path(fx, ".Drafts/cur")), 1);	/* the first append's */
	assert_int_equal(fx_consistent(fx->st, fx->maildir, "Drafts", &error), 0);
}

static void
test_multiappend_retry(void **state)
{
	struct store_fx		*fx = *state;
	const struct msg_info	*mi;
	struct mailbox		*mb;
	const char		*error;
	uint32_t		 uids[2], uidvalidity;
	size_t			 n;

	/* A deadlock after the files are in cur/: the retry finds them, once. */
	setenv("POSTROOM_RETRY_AT", "idx_msg_put", 1);
	multiappend(fx, "Sent", 2, uids, &uidvalidity);
	unsetenv("POSTROOM_RETRY_AT");
	assert_int_equal(uids[0], 1);
	assert_int_equal(uids[1], 2);
	mb = fx_open(fx, "Sent", 0);
	assert_int_equal(mailbox_messages(mb, &mi, &n, &error), 0);
	assert_int_equal(n, 2);
	assert_int_equal(mi[0].uid, 1);
	assert_int_equal(mi[1].uid, 2);
	assert_int_equal(mi[1].flags & ~MSG_RECENT, MSG_SEEN);
	mailbox_close(&mb);
	assert_int_equal(fx_count(fx_path(fx, ".Sent/tmp")), 0);
	assert_int_equal(fx_consistent(fx->st, fx->maildir, "Sent", &error), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		STORE_FX_TEST_FSYNC(test_copy_move_uidplus),
		STORE_FX_TEST_FSYNC(test_append_streamed),
		STORE_FX_TEST_FSYNC(test_multiappend_all_at_once),
		STORE_FX_TEST_FSYNC(test_multiappend_abort_leaves_nothing),
		STORE_FX_TEST_FSYNC(test_multiappend_publish_fails),
		STORE_FX_TEST_FSYNC(test_multiappend_retry),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
