/*
 * store/'s read side for IMAP: MODSEQs, the change feed, expunge
 * tombstones (cap, restarts), UNCHANGEDSINCE, the keyword list and LIST
 * attributes.
 */
#include "store/store.h"
#include "store/store_private.h"
#include "tests/unit/store_fixture.h"
#include "lib/buf.h"
#include "lib/xmalloc.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

static uint64_t
hms(struct mailbox *mb)
{
	struct mailbox_status	 s;

	assert_int_equal(mailbox_status(mb, &s), 0);
	return s.highestmodseq;
}

static uint64_t
modseq_of(struct mailbox *mb, uint32_t uid)
{
	const struct msg_info	*mi;
	const char		*error;
	size_t			 n, i;

	assert_int_equal(mailbox_messages(mb, &mi, &n, &error), 0);
	for (i = 0; i < n; i++)
		if (mi[i].uid == uid)
			return mi[i].modseq;
	fail_msg("uid %u not found", uid);
	return 0;
}

/* "1,2,3" for a uid_list, to compare in one assert. */
static const char *
uids(const struct uid_list *l)
{
	static char	 out[4][256];
	static int	 which;
	char		*p = out[which = (which + 1) % 4];
	size_t		 i, len = 0;

	p[0] = '\0';
	for (i = 0; i < l->n; i++)
		len += (size_t)snprintf(p + len, sizeof(out[0]) - len, "%s%u", i ? "," : "", l->uids[i]);
	return p;
}

static void
changes(struct mailbox *mb, uint64_t since, struct mailbox_changes *ch)
{
	const char	*error = NULL;

	if (mailbox_changes_since(mb, since, ch, &error) == -1)
		fail_msg("mailbox_changes_since: %s", error);
}

static void
test_modseq_bumped_by_every_change(void **state)
{
	struct store_fx	*fx = *state;
	struct mailbox	*mb;
	const char	*error;
	uint32_t	 one = 1, two = 2, uid;
	uint64_t	 h0, h1, h2, h3;

	fx_deliver_n(fx, 3);
	mb = fx_open(fx, "INBOX", 0);
	h0 = hms(mb);
	assert_true(modseq_of(mb, 3) <= h0);
	assert_int_equal(mailbox_store_flags(mb, &one, 1, FLAGS_ADD, MSG_SEEN, NULL, &error), 0);
	h1 = hms(mb);
	assert_true(h1 > h0);
	assert_int_equal(modseq_of(mb, 1), h1);
	assert_true(modseq_of(mb, 2) <= h0);
	/* a STORE that changes nothing is no change */
	assert_int_equal(mailbox_store_flags(mb, &one, 1, FLAGS_ADD, MSG_SEEN, NULL, &error), 0);
	assert_int_equal(hms(mb), h1);
	assert_int_equal(mailbox_expunge(mb, &two, 1, &error), 0);
	h2 = hms(mb);
	assert_true(h2 > h1);
	assert_int_equal(mailbox_append(fx->st, fx->maildir, "INBOX", "Subject: a\n\nx\n", 14, 0,
	    0, &uid, &error), 0);
	h3 = hms(mb);
	assert_true(h3 > h2);
	assert_int_equal(modseq_of(mb, uid), h3);
	mailbox_close(&mb);
}

/*
 * The feed against the records: for every MODSEQ a client may hold, the
 * UIDs added and changed since are those whose MODSEQ is above it, through
 * flag changes, expunges, appends, copies and moves, and none of another
 * folder's.  Whatever the feed reads (today the folder's record headers),
 * it must agree with them.
 */
static void
assert_feed_matches(struct mailbox *mb)
{
	struct mailbox_changes	 ch;
	const struct msg_info	*mi;
	const char		*error;
	struct uid_list		 want;
	uint64_t		 since, top = hms(mb);
	size_t			 n, i, a, c;

	assert_int_equal(mailbox_messages(mb, &mi, &n, &error), 0);
	for (since = 1; since <= top; since++) {
		memset(&want, 0, sizeof(want));
		for (i = 0; i < n; i++)
			if (mi[i].modseq > since)
				uid_list_push(&want, mi[i].uid);
		changes(mb, since, &ch);
		assert_int_equal(ch.added.n + ch.changed.n, want.n);
		for (i = a = c = 0; i < want.n; i++) {
			if (a < ch.added.n && ch.added.uids[a] == want.uids[i])
				a++;
			else
				assert_int_equal(ch.changed.uids[c++], want.uids[i]);
		}
		mailbox_changes_free(&ch);
		free(want.uids);
	}
}

static void
test_feed_matches_records(void **state)
{
	struct store_fx	*fx = *state;
	struct mailbox	*mb, *work;
	const char	*error;
	uint32_t	 two_five[] = { 2, 5 }, three = 3, all[] = { 1, 2, 4, 5, 6 }, uid;
	uint32_t	 dst[2];

	fx_deliver_n(fx, 6);
	assert_int_equal(folder_create(fx->st, fx->maildir, "Work", &error), 0);
	mb = fx_open(fx, "INBOX", 0);
	work = fx_open(fx, "Work", 0);
	assert_feed_matches(mb);
	assert_int_equal(mailbox_store_flags(mb, two_five, 2, FLAGS_ADD, MSG_SEEN, NULL, &error), 0);
	assert_feed_matches(mb);
	assert_int_equal(mailbox_copy(mb, two_five, 2, "Work", dst, &error), 0);
	assert_int_equal(mailbox_store_flags(work, dst, 2, FLAGS_ADD, MSG_FLAGGED, NULL, &error), 0);
	assert_int_equal(mailbox_expunge(mb, &three, 1, &error), 0);
	assert_feed_matches(mb);
	assert_int_equal(mailbox_append(fx->st, fx->maildir, "INBOX", "Subject: a\n\nx\n", 14, 0,
	    0, &uid, &error), 0);
	assert_int_equal(mailbox_sync(mb, &error), 0);
	assert_feed_matches(mb);
	assert_int_equal(mailbox_store_flags(mb, all, 5, FLAGS_REPLACE, MSG_ANSWERED, NULL, &error), 0);
	assert_int_equal(mailbox_move(mb, &all[0], 1, "Work", dst, &error), 0);
	assert_feed_matches(mb);
	assert_feed_matches(work);
	mailbox_close(&work);
	mailbox_close(&mb);
}

static void
test_changes_since(void **state)
{
	struct store_fx		*fx = *state;
	struct mailbox_changes	 ch;
	struct mailbox_status	 s;
	struct mailbox		*mb;
	const char		*error;
	uint32_t		 one = 1, two = 2, four = 4;
	uint64_t		 h0;

	fx_deliver_n(fx, 3);
	mb = fx_open(fx, "INBOX", 0);
	h0 = hms(mb);
	assert_int_equal(mailbox_store_flags(mb, &one, 1, FLAGS_ADD, MSG_FLAGGED, NULL, &error), 0);
	assert_int_equal(mailbox_expunge(mb, &two, 1, &error), 0);
	fx_deliver_n(fx, 2);			/* UIDs 4 and 5 */
	assert_int_equal(mailbox_sync(mb, &error), 0);
	/* added, then flagged: still "added" */
	assert_int_equal(mailbox_store_flags(mb, &four, 1, FLAGS_ADD, MSG_SEEN, NULL, &error), 0);
	changes(mb, h0, &ch);
	assert_true(ch.complete);
	assert_int_equal(ch.highestmodseq, hms(mb));
	assert_int_equal(mailbox_status(mb, &s), 0);
	assert_int_equal(ch.uidvalidity, s.uidvalidity);
	assert_string_equal(uids(&ch.added), "4,5");
	assert_string_equal(uids(&ch.changed), "1");
	assert_string_equal(uids(&ch.expunged), "2");
	mailbox_changes_free(&ch);
	/* nothing since now */
	changes(mb, hms(mb), &ch);
	assert_true(ch.complete);
	assert_int_equal(ch.added.n + ch.changed.n + ch.expunged.n, 0);
	mailbox_changes_free(&ch);
	/* since 0: everything there is added; the expunge is known */
	changes(mb, 0, &ch);
	assert_true(ch.complete);
	assert_string_equal(uids(&ch.added), "1,3,4,5");
	assert_string_equal(uids(&ch.expunged), "2");
	mailbox_changes_free(&ch);
	/* a MODSEQ this folder never handed out: resync */
	changes(mb, hms(mb) + 10, &ch);
	assert_false(ch.complete);
	mailbox_changes_free(&ch);
	mailbox_close(&mb);
}

/* msgs[i]'s file name in mb's snapshot. */
static const char *
snap_name_at(const struct mailbox *mb, size_t i)
{
	return buf_head(&mb->snap.names) + mb->snap.name_at[i];
}

/* a's snapshot (msgs, n) holds what a whole read by another handle gives. */
static void
assert_same_as_whole_read(struct store_fx *fx, struct mailbox *a, const struct msg_info *am,
    size_t an)
{
	struct mailbox		*b = fx_open(fx, "INBOX", 0);
	const struct msg_info	*bm;
	const char		*error;
	size_t			 bn, i;

	assert_int_equal(mailbox_messages(b, &bm, &bn, &error), 0);
	assert_int_equal(bn, an);
	for (i = 0; i < an; i++) {
		assert_int_equal(am[i].uid, bm[i].uid);
		assert_int_equal(am[i].flags & ~MSG_RECENT, bm[i].flags);
		assert_int_equal(am[i].modseq, bm[i].modseq);
		assert_int_equal(am[i].size, bm[i].size);
		assert_int_equal(am[i].internal_date, bm[i].internal_date);
		assert_string_equal(snap_name_at(a, i), snap_name_at(b, i));
	}
	mailbox_close(&b);
}

/*
 * The snapshot moved on by the change feed (a flag change, an expunge of a
 * message flagged first, a delivery) is what a whole read gives: flags,
 * MODSEQs, sizes and file names; only the records read anew added names.
 */
static void
test_messages_patch(void **state)
{
	struct store_fx		*fx = *state;
	struct mailbox_changes	 ch;
	struct mailbox		*a, *b;
	const struct msg_info	*am, *before;
	const char		*error;
	uint32_t		 three = 3, five = 5, seven = 7;
	uint64_t		 h0;
	size_t			 an;

	fx_deliver_n(fx, 8);
	a = fx_open(fx, "INBOX", 0);
	assert_int_equal(mailbox_messages(a, &am, &an, &error), 0);
	h0 = hms(a);
	b = fx_open(fx, "INBOX", 0);
	assert_int_equal(mailbox_store_flags(b, &three, 1, FLAGS_ADD, MSG_FLAGGED, NULL, &error), 0);
	assert_int_equal(mailbox_store_flags(b, &five, 1, FLAGS_ADD, MSG_SEEN, NULL, &error), 0);
	assert_int_equal(mailbox_store_flags(b, &seven, 1, FLAGS_ADD, MSG_SEEN, "$Junk", &error), 0);
	assert_int_equal(mailbox_expunge(b, &five, 1, &error), 0);
	mailbox_close(&b);
	fx_deliver_n(fx, 1);			/* UID 9, moved out of new/ by a: \Recent there */
	assert_int_equal(mailbox_sync(a, &error), 0);
	changes(a, h0, &ch);
	assert_string_equal(uids(&ch.changed), "3,7");
	assert_string_equal(uids(&ch.added), "9");
	assert_string_equal(uids(&ch.expunged), "5");
	before = am;
	assert_int_equal(mailbox_messages_patch(a, &ch, &am, &an, &error), 0);
	mailbox_changes_free(&ch);
	assert_true(buf_len(&a->snap.names) > a->snap.names_read);	/* patched, not read */
	assert_ptr_equal(am, before);		/* moved on in place */
	assert_same_as_whole_read(fx, a, am, an);
	assert_int_equal(an, 8);
	assert_int_equal(am[an - 1].uid, 9);
	assert_true(am[an - 1].flags & MSG_RECENT);
	assert_int_equal(am[2].uid, 3);
	assert_int_equal(am[2].flags & ~MSG_RECENT, MSG_FLAGGED);
	mailbox_close(&a);
}

/* More new messages than the snapshot has room for: it grows, then holds them all. */
static void
test_messages_patch_grows(void **state)
{
	struct store_fx		*fx = *state;
	struct mailbox_changes	 ch;
	struct mailbox		*a;
	const struct msg_info	*am;
	const char		*error;
	uint64_t		 h0;
	size_t			 an, cap;

	fx_deliver_n(fx, 3);
	a = fx_open(fx, "INBOX", 0);
	assert_int_equal(mailbox_messages(a, &am, &an, &error), 0);
	h0 = hms(a);
	cap = a->snap.cap;
	fx_deliver_n(fx, (int)(cap - an + 5));
	assert_int_equal(mailbox_sync(a, &error), 0);
	changes(a, h0, &ch);
	assert_int_equal(ch.added.n, cap - an + 5);
	assert_int_equal(mailbox_messages_patch(a, &ch, &am, &an, &error), 0);
	mailbox_changes_free(&ch);
	assert_true(buf_len(&a->snap.names) > a->snap.names_read);	/* patched, not read */
	assert_int_equal(an, cap + 5);
	assert_true(a->snap.cap >= an);
	assert_same_as_whole_read(fx, a, am, an);
	mailbox_close(&a);
}

/*
 * A changed UID below the snapshot's last that the snapshot lacks (only
 * an index read anew makes one): the whole snapshot is read instead.
 */
static void
test_messages_patch_reads_whole_when_it_cannot_fit(void **state)
{
	struct store_fx		*fx = *state;
	struct mailbox_changes	 ch = { 0 };
	struct mailbox		*a;
	const struct msg_info	*am;
	const char		*error;
	uint32_t		 two = 2;
	size_t			 an;

	fx_deliver_n(fx, 4);
	a = fx_open(fx, "INBOX", 0);
	assert_int_equal(mailbox_messages(a, &am, &an, &error), 0);
	assert_int_equal(an, 4);
	/* The snapshot without UID 2, as if read before it was indexed. */
	memmove(&a->snap.msgs[1], &a->snap.msgs[2], 2 * sizeof(*a->snap.msgs));
	memmove(&a->snap.name_at[1], &a->snap.name_at[2], 2 * sizeof(*a->snap.name_at));
	a->snap.n = 3;
	ch.changed.uids = &two;
	ch.changed.n = 1;
	ch.complete = true;
	assert_int_equal(mailbox_messages_patch(a, &ch, &am, &an, &error), 0);
	assert_int_equal(buf_len(&a->snap.names), a->snap.names_read);	/* read whole */
	assert_int_equal(an, 4);
	assert_same_as_whole_read(fx, a, am, an);
	mailbox_close(&a);
}

/* Another program flags a message by renaming it: a change like ours. */
static void
test_external_flag_change_takes_a_modseq(void **state)
{
	struct store_fx		*fx = *state;
	struct mailbox_changes	 ch;
	struct mailbox		*mb;
	const char		*error;
	char			 cmd[4096], name[512], from[8192], to[8192];
	uint32_t		 two = 2;
	uint64_t		 h0, m1;
	FILE			*ls;

	fx_deliver_n(fx, 2);
	mb = fx_open(fx, "INBOX", 0);
	h0 = hms(mb);
	snprintf(cmd, sizeof(cmd), "ls %s/cur | grep U=1:", fx->maildir);
	assert_non_null(ls = popen(cmd, "r"));
	assert_non_null(fgets(name, sizeof(name), ls));
	pclose(ls);
	name[strcspn(name, "\n")] = '\0';
	snprintf(from, sizeof(from), "%s/cur/%s", fx->maildir, name);
	snprintf(to, sizeof(to), "%s/cur/%sF", fx->maildir, name);
	assert_int_equal(rename(from, to), 0);
	assert_int_equal(mailbox_sync(mb, &error), 0);
	m1 = modseq_of(mb, 1);
	assert_true(m1 > h0);
	assert_true(hms(mb) >= m1);
	changes(mb, h0, &ch);
	assert_string_equal(uids(&ch.changed), "1");
	mailbox_changes_free(&ch);
	/* the next change must not reuse that MODSEQ */
	assert_int_equal(mailbox_store_flags(mb, &two, 1, FLAGS_ADD, MSG_SEEN, NULL, &error), 0);
	assert_true(modseq_of(mb, 2) > m1);
	changes(mb, m1, &ch);
	assert_string_equal(uids(&ch.changed), "2");
	mailbox_changes_free(&ch);
	mailbox_close(&mb);
}

/*
 * Expunges by another program (a file gone) and by MOVE leave tombstones
 * too; in the destination the message is new, whatever its age.
 */
static void
test_tombstones_from_sync_and_move(void **state)
{
	struct store_fx		*fx = *state;
	struct mailbox_changes	 ch;
	struct mailbox		*mb, *trash;
	const char		*error;
	char			 cmd[4096];
	uint32_t		 three = 3, moved, i;
	uint64_t		 h0, t0;

	fx_deliver_n(fx, 3);
	mb = fx_open(fx, "INBOX", 0);
	assert_int_equal(mailbox_open(fx->st, fx->maildir, "Trash", 0, &trash, &error), 0);
	/* Trash's MODSEQs pass the ones the INBOX messages were added with */
	for (i = 0; i < 4; i++)
		assert_int_equal(mailbox_append(fx->st, fx->maildir, "Trash", "S: a\n\nx\n", 9,
		    0, 0, NULL, &error), 0);
	h0 = hms(mb);
	t0 = hms(trash);
	snprintf(cmd, sizeof(cmd), "rm %s/cur/*,U=1:*", fx->maildir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(mailbox_sync(mb, &error), 0);
	assert_int_equal(mailbox_move(mb, &three, 1, "Trash", &moved, &error), 0);
	changes(mb, h0, &ch);
	assert_true(ch.complete);
	assert_string_equal(uids(&ch.expunged), "1,3");
	assert_int_equal(ch.added.n + ch.changed.n, 0);
	mailbox_changes_free(&ch);
	changes(trash, t0, &ch);
	assert_int_equal(ch.added.n, 1);
	assert_int_equal(ch.added.uids[0], moved);
	assert_int_equal(ch.changed.n + ch.expunged.n, 0);
	mailbox_changes_free(&ch);
	mailbox_close(&trash);
	mailbox_close(&mb);
}

/* In a child whose first index commit fails as on a deadlock: how far one STORE moved HIGHESTMODSEQ. */
static int
store_after_aborted_commit(struct store_fx *fx)
{
	struct mailbox	*mb;
	const char	*error;
	uint32_t	 one = 1;
	uint64_t	 h0;
	pid_t		 pid;
	int		 status;

	if ((pid = fork()) == 0) {
		setenv("POSTROOM_RETRY_AT", "idx_commit", 1);
		mb = fx_open(fx, "INBOX", 0);	/* indexed already: no commit */
		h0 = hms(mb);
		if (mailbox_store_flags(mb, &one, 1, FLAGS_ADD, MSG_FLAGGED, NULL, &error) == -1 ||
		    modseq_of(mb, 1) != hms(mb))
			_exit(100);
		_exit((int)(hms(mb) - h0));
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/*
 * An attempt that wrote HIGHESTMODSEQ h+1 and then aborted (deadlock,
 * retried): a reader (read-uncommitted) may have told a client h+1, so
 * the retry must not give its change h+1 again.
 */
static void
test_aborted_modseq_not_reused(void **state)
{
	struct store_fx	*fx = *state;
	struct mailbox	*mb;

	fx_deliver_n(fx, 2);
	mb = fx_open(fx, "INBOX", 0);
	mailbox_close(&mb);
	assert_int_equal(store_after_aborted_commit(fx), 2);
}

static void
test_tombstones_kept_across_restarts(void **state)
{
	struct store_fx		*fx = *state;
	struct mailbox_changes	 ch;
	struct mailbox		*mb;
	const char		*error;
	uint32_t		 two[] = { 1, 3 };
	uint64_t		 h0;

	fx_deliver_n(fx, 3);
	mb = fx_open(fx, "INBOX", 0);
	h0 = hms(mb);
	assert_int_equal(mailbox_expunge(mb, two, 2, &error), 0);
	mailbox_close(&mb);			/* the last handle: the index is closed */
	store_close(&fx->st);
	fx->st = fx_store(fx->root, 0);
	mb = fx_open(fx, "INBOX", 0);
	changes(mb, h0, &ch);
	assert_true(ch.complete);
	assert_string_equal(uids(&ch.expunged), "1,3");
	mailbox_changes_free(&ch);
	mailbox_close(&mb);
}

static void
test_tombstones_capped(void **state)
{
	struct store_fx		*fx = *state;
	struct store_options	 opts = { 0, 3 };
	struct mailbox_changes	 ch;
	struct mailbox		*mb;
	struct store		*st;
	const char		*error;
	uint64_t		 before[6];
	uint32_t		 uid;

	st = store_open(fx->root, &opts, &error);
	assert_non_null(st);
	fx_deliver_n(fx, 6);
	assert_int_equal(mailbox_open(st, fx->maildir, "INBOX", 0, &mb, &error), 0);
	for (uid = 1; uid <= 5; uid++) {
		before[uid] = hms(mb);
		assert_int_equal(mailbox_expunge(mb, &uid, 1, &error), 0);
	}
	/* UIDs 1 and 2 were forgotten: a client from before them resyncs */
	changes(mb, before[1], &ch);
	assert_false(ch.complete);
	assert_string_equal(uids(&ch.expunged), "3,4,5");
	mailbox_changes_free(&ch);
	changes(mb, before[2], &ch);
	assert_false(ch.complete);
	mailbox_changes_free(&ch);
	/* from after the last forgotten one on, the answer is whole */
	changes(mb, before[3], &ch);
	assert_true(ch.complete);
	assert_string_equal(uids(&ch.expunged), "3,4,5");
	mailbox_changes_free(&ch);
	changes(mb, before[4], &ch);
	assert_true(ch.complete);
	assert_string_equal(uids(&ch.expunged), "4,5");
	mailbox_changes_free(&ch);
	mailbox_close(&mb);
	store_close(&st);
}

static void
test_unchangedsince(void **state)
{
	struct store_fx		*fx = *state;
	const struct msg_info	*mi;
	struct mailbox		*mb;
	const char		*error;
	uint32_t		 one = 1, all[] = { 1, 2, 3 }, modified[3];
	uint64_t		 h0;
	size_t			 nmod, n;

	fx_deliver_n(fx, 3);
	mb = fx_open(fx, "INBOX", 0);
	h0 = hms(mb);
	assert_int_equal(mailbox_store_flags_cond(mb, &one, 1, FLAGS_ADD, MSG_FLAGGED, NULL, h0,
	    modified, &nmod, &error), 0);
	assert_int_equal(nmod, 0);
	/* message 1 changed after h0: left alone and reported */
	assert_int_equal(mailbox_store_flags_cond(mb, all, 3, FLAGS_ADD, MSG_SEEN, NULL, h0,
	    modified, &nmod, &error), 0);
	assert_int_equal(nmod, 1);
	assert_int_equal(modified[0], 1);
	assert_int_equal(mailbox_messages(mb, &mi, &n, &error), 0);
	assert_int_equal(n, 3);
	assert_int_equal(mi[0].flags & MSG_SEEN, 0);
	assert_true(mi[1].flags & MSG_SEEN);
	assert_true(mi[2].flags & MSG_SEEN);
	/* UNCHANGEDSINCE 0: nothing qualifies */
	assert_int_equal(mailbox_store_flags_cond(mb, all, 3, FLAGS_REMOVE, MSG_SEEN, NULL, 0,
	    modified, &nmod, &error), 0);
	assert_int_equal(nmod, 3);
	assert_int_equal(mailbox_messages(mb, &mi, &n, &error), 0);
	assert_true(mi[1].flags & MSG_SEEN);
	mailbox_close(&mb);
}

static void
test_keyword_list(void **state)
{
	struct store_fx		*fx = *state;
	struct mailbox		*mb, *other;
	const char *const	*names;
	const char		*error;
	uint32_t		 one = 1;
	size_t			 n;

	fx_deliver_n(fx, 1);
	mb = fx_open(fx, "INBOX", 0);
	assert_int_equal(mailbox_keywords(mb, &names, &n, &error), 0);
	assert_int_equal(n, 0);
	assert_int_equal(mailbox_store_flags(mb, &one, 1, FLAGS_ADD, 0, "$Forwarded Work",
	    &error), 0);
	assert_int_equal(mailbox_keywords(mb, &names, &n, &error), 0);
	assert_int_equal(n, 2);
	assert_string_equal(names[0], "$Forwarded");
	assert_string_equal(names[1], "Work");
	/* another session adds one: the first sees it */
	other = fx_open(fx, "INBOX", 0);
	assert_int_equal(mailbox_store_flags(other, &one, 1, FLAGS_ADD, 0, "Later", &error), 0);
	mailbox_close(&other);
	assert_int_equal(mailbox_keywords(mb, &names, &n, &error), 0);
	assert_int_equal(n, 3);
	assert_string_equal(names[2], "Later");
	mailbox_close(&mb);
}

static unsigned
attrs_of(const struct folder_info *v, size_t n, const char *name)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i].name, name) == 0)
			return v[i].attrs;
	fail_msg("%s not listed", name);
	return 0;
}

static void
test_list_attributes(void **state)
{
	struct store_fx		*fx = *state;
	struct folder_info	*v;
	const char		*error;
	char			**names, path[4096];
	size_t			 n, i;

	assert_int_equal(folder_create(fx->st, fx->maildir, "Archive", &error), 0);
	assert_int_equal(folder_create(fx->st, fx->maildir, "Archive.2024", &error), 0);
	/* another Maildir++ tool made a child without its parent */
	snprintf(path, sizeof(path), "%s/.Projects.X", fx->maildir);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(folder_list_info(fx->st, fx->maildir, &v, &n, &error), 0);
	assert_string_equal(v[0].name, "INBOX");
	assert_int_equal(v[0].attrs, FOLDER_HAS_NO_CHILDREN);
	assert_int_equal(attrs_of(v, n, "Sent"), FOLDER_SENT | FOLDER_HAS_NO_CHILDREN);
	assert_int_equal(attrs_of(v, n, "Drafts"), FOLDER_DRAFTS | FOLDER_HAS_NO_CHILDREN);
	assert_int_equal(attrs_of(v, n, "Trash"), FOLDER_TRASH | FOLDER_HAS_NO_CHILDREN);
	assert_int_equal(attrs_of(v, n, "Junk"), FOLDER_JUNK | FOLDER_HAS_NO_CHILDREN);
	assert_int_equal(attrs_of(v, n, "Archive"), FOLDER_ARCHIVE | FOLDER_HAS_CHILDREN);
	assert_int_equal(attrs_of(v, n, "Archive.2024"), FOLDER_HAS_NO_CHILDREN);
	assert_int_equal(attrs_of(v, n, "Projects"), FOLDER_NOSELECT | FOLDER_HAS_CHILDREN);
	assert_int_equal(attrs_of(v, n, "Projects.X"), FOLDER_HAS_NO_CHILDREN);
	assert_int_equal(n, 9);
	for (i = 2; i < n; i++)
		assert_true(strcmp(v[i - 1].name, v[i].name) < 0);
	folder_info_free(&v, n);
	assert_null(v);
	/* the plain list names the real folders only */
	assert_int_equal(folder_list(fx->st, fx->maildir, &names, &n, &error), 0);
	assert_int_equal(n, 8);
	for (i = 0; i < n; i++) {
		assert_string_not_equal(names[i], "Projects");
		free(names[i]);
	}
	free(names);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		STORE_FX_TEST(test_modseq_bumped_by_every_change),
		STORE_FX_TEST(test_changes_since),
		STORE_FX_TEST(test_feed_matches_records),
		STORE_FX_TEST(test_messages_patch),
		STORE_FX_TEST(test_messages_patch_grows),
		STORE_FX_TEST(test_messages_patch_reads_whole_when_it_cannot_fit),
		STORE_FX_TEST(test_external_flag_change_takes_a_modseq),
		STORE_FX_TEST(test_tombstones_from_sync_and_move),
		STORE_FX_TEST(test_aborted_modseq_not_reused),
		STORE_FX_TEST(test_tombstones_kept_across_restarts),
		STORE_FX_TEST(test_tombstones_capped),
		STORE_FX_TEST(test_unchangedsince),
		STORE_FX_TEST(test_keyword_list),
		STORE_FX_TEST(test_list_attributes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
