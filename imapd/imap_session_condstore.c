/*
 * CONDSTORE and QRESYNC (RFC 7162) in the session: enabling (ENABLE, or
 * implicitly by the first command that uses a MODSEQ), how a change is
 * told once they are on (MODSEQ in every untagged FETCH of a flag change,
 * UID too and VANISHED instead of EXPUNGE under QRESYNC), and the
 * VANISHED (EARLIER) of SELECT ... (QRESYNC ...) and UID FETCH ...
 * (CHANGEDSINCE n VANISHED), from the store's change feed
 * (mailbox_changes_since: the expunge tombstones).
 */
#include "imapd/imap_private.h"

#include "lib/buf.h"
#include "lib/xmalloc.h"
#include "store/store.h"

#include <inttypes.h>
#include <stdlib.h>

void
imap_condstore_enable(struct imap_session *s)
{
	if (s->condstore)
		return;
	s->condstore = true;
	/* RFC 7162 3.1.2.1: a client enabling it while selected learns where it starts. */
	if (s->state == IMAP_STATE_SELECTED)
		imap_untagged(s, "OK [HIGHESTMODSEQ %" PRIu64 "] Highest.", s->highestmodseq);
}

/* FLAGS (...) of m, its keywords from ks when it has them. */
static void
put_flags(struct imap_session *s, struct buf *b, const struct msg_info *m,
    const struct imap_kwset *ks)
{
	const char	*kw = ks != NULL ? imap_kwset_find(ks, m->uid) : NULL;

	if (kw != NULL)
		imap_put_flags_kw(b, m, kw);
	else
		imap_put_flags(s, b, m);
}

void
imap_tell_flags(struct imap_session *s, size_t seq, const struct msg_info *m, bool uid,
    bool flags, const struct imap_kwset *ks)
{
	struct buf	 line;

	buf_init(&line, 4096);
	if (s->condstore) {
		/* Dovecot's order: UID, MODSEQ, FLAGS; RFC 7162 3.2.4: UID always under QRESYNC. */
		if (uid || s->qresync)
			buf_printf(&line, "UID %u ", m->uid);
		buf_printf(&line, "MODSEQ (%" PRIu64 ")", m->modseq);
		if (flags) {
			buf_puts(&line, " ");
			put_flags(s, &line, m, ks);
		}
	} else {
		put_flags(s, &line, m, ks);
		if (uid)
			buf_printf(&line, " UID %u", m->uid);
	}
	imap_untagged(s, "%zu FETCH (%.*s)", seq, (int)buf_len(&line), buf_head(&line));
	buf_release(&line);
}

bool
imap_flags_news(struct imap_session *s, size_t idx, const struct msg_info *was,
    const struct msg_info *now)
{
	uint32_t	 diff = (was->flags ^ now->flags) & ~MSG_RECENT;

	if (was->modseq == now->modseq && diff == 0)
		return false;
	/* The client saw \Seen in the FETCH that set it (imap_session_body.c). */
	return !(diff == MSG_SEEN && (now->flags & MSG_SEEN) && imap_seen_marked(s, idx, false));
}

size_t
imap_tell_gone(struct imap_session *s, const struct msg_info *old, size_t nold,
    const struct msg_info *now, size_t nnow)
{
	uint32_t	*uids = NULL;
	struct buf	 line;
	size_t		 i, j = 0, gone = 0;

	if (s->qresync)
		uids = xreallocarray(NULL, nold + 1, sizeof(*uids));
	for (i = 0; i < nold; i++) {
		while (j < nnow && now[j].uid < old[i].uid)
			j++;
		if (j < nnow && now[j].uid == old[i].uid)
			continue;
		if (uids != NULL)
			uids[gone++] = old[i].uid;
		else
			imap_untagged(s, "%zu EXPUNGE", i + 1 - gone++);
	}
	if (uids != NULL && gone > 0) {
		buf_init(&line, 64 * 1024 * 1024);
		imap_put_uid_set(&line, uids, gone);
		imap_untagged(s, "VANISHED %.*s", (int)buf_len(&line), buf_head(&line));
		buf_release(&line);
	}
	free(uids);
	return gone;
}

void
imap_tagged_ok(struct imap_session *s, const char *tag, bool vanished, const char *text)
{
	/* Dovecot's way under QRESYNC: the HIGHESTMODSEQ after expunges told as VANISHED. */
	if (s->qresync && vanished)
		imap_tagged(s, tag, "OK [HIGHESTMODSEQ %" PRIu64 "] %s", s->highestmodseq, text);
	else
		imap_tagged(s, tag, "OK %s", text);
}

/* "* VANISHED (EARLIER) set" of the UIDs of set (max: its "*"), if any. */
static void
tell_earlier(struct imap_session *s, const uint32_t *uids, size_t n,
    const struct imap_seqset *set, uint32_t max)
{
	uint32_t	*in = xreallocarray(NULL, n + 1, sizeof(*in));
	struct buf	 line;
	size_t		 i, k = 0;

	for (i = 0; i < n; i++)
		if (set == NULL || imap_seqset_contains(set, uids[i], max))
			in[k++] = uids[i];
	if (k > 0) {
		buf_init(&line, 64 * 1024 * 1024);
		imap_put_uid_set(&line, in, k);
		imap_untagged(s, "VANISHED (EARLIER) %.*s", (int)buf_len(&line), buf_head(&line));
		buf_release(&line);
	}
	free(in);
}

/* ",a:b" (or ",a") into line; the first without its comma. */
static void
put_range(struct buf *line, bool *any, uint32_t a, uint32_t b)
{
	buf_printf(line, "%s%u", *any ? "," : "", a);
	if (b > a)
		buf_printf(line, ":%u", b);
	*any = true;
}

/*
 * The feed no longer knows every expunge since the client's MODSEQ: every
 * UID below uidnext the view lacks (of known, if given) is told vanished,
 * which RFC 7162 3.2.5.2 allows.  Walked gap by gap of the view.
 */
static void
tell_all_missing(struct imap_session *s, const struct imap_seqset *known, uint32_t uidnext)
{
	struct buf	 line;
	uint32_t	 lo, hi, n, run, max = uidnext > 0 ? uidnext - 1 : 0;
	size_t		 i;
	bool		 any = false;

	buf_init(&line, 64 * 1024 * 1024);
	for (i = 0; i <= s->nmsgs; i++) {
		lo = i == 0 ? 1 : s->msgs[i - 1].uid + 1;
		hi = i == s->nmsgs ? max : s->msgs[i].uid - 1;
		if (lo > hi)
			continue;
		if (known == NULL) {
			put_range(&line, &any, lo, hi);
			continue;
		}
		n = lo - 1;
		while (imap_seqset_next(known, max, true, &n) && n <= hi) {
			for (run = n; run < hi && imap_seqset_contains(known, run + 1, max); run++)
				;
			put_range(&line, &any, n, run);
			n = run;
		}
	}
	if (any)
		imap_untagged(s, "VANISHED (EARLIER) %.*s", (int)buf_len(&line), buf_head(&line));
	buf_release(&line);
}

void
imap_qresync_tell(struct imap_session *s, uint32_t uidvalidity, uint64_t modseq,
    const struct imap_seqset *known, const struct mailbox_changes *ch, uint32_t uidnext,
    const struct imap_kwset *ks)
{
	struct buf	 line;
	size_t		 i;

	if (uidvalidity != ch->uidvalidity)
		return;		/* RFC 7162 3.2.5.2: the client resyncs in full */
	if (ch->complete)
		tell_earlier(s, ch->expunged.uids, ch->expunged.n, known,
		    uidnext > 0 ? uidnext - 1 : 0);
	else
		tell_all_missing(s, known, uidnext);
	buf_init(&line, 4096);
	for (i = 0; i < s->nmsgs; i++) {
		if (s->msgs[i].modseq <= modseq || (known != NULL &&
		    !imap_seqset_contains(known, s->msgs[i].uid, uidnext > 0 ? uidnext - 1 : 0)))
			continue;	/* 3.2.5: of the known UIDs only, when given */
		buf_reset(&line);
		put_flags(s, &line, &s->msgs[i], ks);
		imap_untagged(s, "%zu FETCH (UID %u %.*s MODSEQ (%" PRIu64 "))", i + 1,
		    s->msgs[i].uid, (int)buf_len(&line), buf_head(&line), s->msgs[i].modseq);
	}
	buf_release(&line);
}

int
imap_fetch_vanished(struct imap_session *s, const struct imap_seqset *set, uint64_t modseq,
    const char **error_r)
{
	struct mailbox_changes	 ch;
	uint32_t		 max;

	/* One read-only index transaction over the tombstones: short, so on the loop. */
	if (mailbox_changes_since(s->mb, modseq, &ch, error_r) == -1)
		return -1;
	max = ch.expunged.n > 0 ? ch.expunged.uids[ch.expunged.n - 1] : 0;
	if (s->nmsgs > 0 && s->msgs[s->nmsgs - 1].uid > max)
		max = s->msgs[s->nmsgs - 1].uid;
	/* Incomplete: what is known is still all the client can be told (3.2.6). */
	tell_earlier(s, ch.expunged.uids, ch.expunged.n, set, max);
	mailbox_changes_free(&ch);
	return 0;
}
