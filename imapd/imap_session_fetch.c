/*
 * FETCH and UID FETCH of FLAGS, UID, RFC822.SIZE, INTERNALDATE, ENVELOPE,
 * BODY and BODYSTRUCTURE (RFC 3501 6.4.5, 7.4.2), streamed: the host calls
 * fetch_more() while the output is below its high-water mark, and each
 * call writes the next batch of messages, so FETCH 1:* of a large folder
 * never holds more than a batch.  msg_info (the view) answers FLAGS
 * without keywords, UID, RFC822.SIZE and INTERNALDATE; mailbox_fetch()
 * reads keywords and the cached ENVELOPE/BODY/BODYSTRUCTURE strings, one
 * batch of UIDs at a time, on the workq: it parses messages the first sync
 * left unparsed (~0.5 ms each), which must not stall the loop.  The
 * session says SESSION_PAUSE meanwhile and the host calls fetch_more()
 * again once the job's done kicks it.  BODY[section], BODY.PEEK and
 * RFC822.* make the reply go a message at a time: imap_session_body.c
 * opens each message on the workq and streams its literals, and the
 * message's response is written in parts as the output drains.
 */
#include "imapd/imap_private.h"

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/xmalloc.h"
#include "store/store.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Messages per mailbox_fetch(), and the most view entries one may span. */
#define BATCH_MAX	128
#define BATCH_SPAN	512

enum {
	F_FLAGS = 1 << 0, F_UID = 1 << 1, F_SIZE = 1 << 2, F_DATE = 1 << 3,
	F_ENVELOPE = 1 << 4, F_BODY = 1 << 5, F_BODYSTRUCTURE = 1 << 6,
	F_SECTION = 1 << 7,	/* BODY[...], RFC822(.HEADER/.TEXT): one per att */
};
#define F_STRINGS	(F_ENVELOPE | F_BODY | F_BODYSTRUCTURE)

struct imap_fetch {
	char			*tag;
	bool			 uid;		/* UID FETCH: the set holds UIDs */
	unsigned		 items;		/* F_* */
	unsigned		*order;		/* items in the order asked (F_*), UID first for UID FETCH */
	unsigned		 norder;
	const struct imap_fetch_att **atts;	/* the F_SECTION items, in order (the command's) */
	unsigned		 nsections;
	bool			 set_seen;	/* a non-PEEK section on a read-write mailbox */
	struct imap_body_msg	*bm;		/* the message whose sections are going out */
	size_t			 bpos;		/* the batch's next message to write */
	size_t			 mfpos;		/* where to look for its strings in mf */
	struct imap_seqset	 set;		/* ranges copied from the parser */
	size_t			 next;		/* view index to look from */
	bool			 expunged;	/* a message was gone when its strings were read */
	size_t			 batch[BATCH_MAX];	/* view indexes of the batch read */
	size_t			 nbatch;
	const struct msg_fetch	*mf;		/* its strings, when asked for (mb's until the next read) */
	size_t			 nmf;
};

/* mailbox_fetch() of one batch on a workq thread. */
struct imap_fetch_job {
	struct imap_session	*s;		/* NULL once the session gave up the FETCH */
	struct mailbox		*mb;		/* lent; the job's to close once abandoned */
	bool			 owns_mb;
	uint32_t		 first, last;
	int			 rc;
	char			*error;
	const struct msg_fetch	*mf;
	size_t			 nmf;
};

static const struct {
	enum imap_fetch_item	 item;
	unsigned		 bit;
} simple_items[] = {
	{ IMAP_FETCH_FLAGS, F_FLAGS }, { IMAP_FETCH_UID, F_UID },
	{ IMAP_FETCH_RFC822_SIZE, F_SIZE }, { IMAP_FETCH_INTERNALDATE, F_DATE },
	{ IMAP_FETCH_ENVELOPE, F_ENVELOPE }, { IMAP_FETCH_BODY, F_BODY },
	{ IMAP_FETCH_BODYSTRUCTURE, F_BODYSTRUCTURE },
};

static void
fetch_free(struct imap_fetch **f)
{
	if (*f == NULL)
		return;
	free((*f)->tag);
	free((*f)->set.ranges);
	free((*f)->order);
	free((*f)->atts);
	imap_body_msg_free(&(*f)->bm);
	free(*f);
	*f = NULL;
}

/*
 * The FETCH ends early (timeout, the session freed).  A batch job still
 * running keeps the mailbox it was lent and closes it: the session is
 * going, so it selects nothing any more.
 */
void
imap_fetch_abort(struct imap_session *s)
{
	struct imap_fetch_job	*job = s->fetch_job;

	if (job != NULL) {
		job->s = NULL;
		job->owns_mb = true;
		s->fetch_job = NULL;
		s->mb = NULL;
		s->msgs = NULL;
		s->nmsgs = 0;
	}
	imap_body_abort(s);
	fetch_free(&s->fetch);
}

static void
add_item(struct imap_fetch *f, unsigned bit)
{
	if (f->items & bit)
		return;
	f->items |= bit;
	f->order[f->norder++] = bit;
}

/* BODY[section]<partial>, BODY.PEEK[...], RFC822, RFC822.HEADER, RFC822.TEXT. */
static bool
body_section(const struct imap_fetch_att *att)
{
	return att->item == IMAP_FETCH_BODY_SECTION || att->item == IMAP_FETCH_RFC822 ||
	    att->item == IMAP_FETCH_RFC822_HEADER || att->item == IMAP_FETCH_RFC822_TEXT;
}

/* Each section is an item of its own, in the order asked (Dovecot sends duplicates too). */
static void
add_section(struct imap_session *s, struct imap_fetch *f, const struct imap_fetch_att *att)
{
	f->items |= F_SECTION;
	f->order[f->norder++] = F_SECTION;
	f->atts[f->nsections++] = att;
	if (!att->peek && att->item != IMAP_FETCH_RFC822_HEADER && !s->readonly)
		f->set_seen = true;	/* RFC 3501 6.4.5 */
}

/*
 * The order Dovecot answers in: the items without a literal as asked (UID
 * first for UID FETCH), then the sections as asked, their literals last.
 */
static void
order_as_dovecot(struct imap_fetch *f)
{
	unsigned	 i, n = 0, sorted[f->norder + 1];

	for (i = 0; i < f->norder; i++)
		if (f->order[i] != F_SECTION)
			sorted[n++] = f->order[i];
	for (i = n; i < f->norder; i++)
		sorted[i] = F_SECTION;
	memcpy(f->order, sorted, f->norder * sizeof(*sorted));
}

/* The items asked for, or -1 after a BAD. */
static int
fetch_items(struct imap_session *s, const struct imap_command *cmd, struct imap_fetch *f)
{
	unsigned	 i, j;

	f->order = xreallocarray(NULL, cmd->u.fetch.natts + 1, sizeof(*f->order));
	f->atts = xreallocarray(NULL, cmd->u.fetch.natts + 1, sizeof(*f->atts));
	if (f->uid)
		add_item(f, F_UID);	/* RFC 3501 6.4.8 */
	for (i = 0; i < cmd->u.fetch.natts; i++) {
		const struct imap_fetch_att	*att = &cmd->u.fetch.atts[i];

		if (body_section(att)) {
			add_section(s, f, att);
			continue;
		}
		for (j = 0; j < sizeof(simple_items) / sizeof(simple_items[0]); j++)
			if (simple_items[j].item == att->item)
				break;
		if (j == sizeof(simple_items) / sizeof(simple_items[0])) {
			imap_tagged(s, cmd->tag, "BAD Unsupported FETCH item.");	/* MODSEQ */
			return -1;
		}
		add_item(f, simple_items[j].bit);
	}
	order_as_dovecot(f);
	if (cmd->u.fetch.has_changedsince) {
		imap_tagged(s, cmd->tag, "BAD CHANGEDSINCE is not supported yet.");
		return -1;
	}
	return 0;
}

static size_t
lower_bound(const struct imap_session *s, size_t lo, uint32_t uid)
{
	size_t	 hi = s->nmsgs, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (s->msgs[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The next view index at or after from that the set names; false when none is left. */
static bool
member_next(const struct imap_session *s, const struct imap_fetch *f, size_t from, size_t *idx_r)
{
	uint32_t	 n, max;
	size_t		 j;

	if (from >= s->nmsgs)
		return false;
	if (!f->uid) {
		n = (uint32_t)from;	/* the sequence number before from + 1 */
		if (!imap_seqset_next(&f->set, (uint32_t)s->nmsgs, false, &n))
			return false;
		*idx_r = n - 1;
		return true;
	}
	max = s->msgs[s->nmsgs - 1].uid;
	while (from < s->nmsgs) {
		n = s->msgs[from].uid - 1;
		if (!imap_seqset_next(&f->set, max, true, &n))
			return false;
		j = lower_bound(s, from, n);
		if (j < s->nmsgs && s->msgs[j].uid == n) {
			*idx_r = j;
			return true;
		}
		from = j;	/* msgs[j].uid > n: ask for the next member from there */
	}
	return false;
}

static void
put_flags(struct buf *b, const struct msg_info *m, const char *keywords)
{
	static const struct { uint32_t bit; const char *name; } names[] = {
		{ MSG_ANSWERED, "\\Answered" }, { MSG_FLAGGED, "\\Flagged" },
		{ MSG_DELETED, "\\Deleted" }, { MSG_SEEN, "\\Seen" }, { MSG_DRAFT, "\\Draft" },
		{ MSG_RECENT, "\\Recent" },
	};
	const char	*sep = "";
	size_t		 i;

	buf_puts(b, "FLAGS (");
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (m->flags & names[i].bit) {
			buf_printf(b, "%s%s", sep, names[i].name);
			sep = " ";
		}
	if (keywords != NULL && *keywords != '\0')
		buf_printf(b, "%s%s", sep, keywords);
	buf_puts(b, ")");
}

void
imap_put_flags(struct imap_session *s, struct buf *b, const struct msg_info *m)
{
	const struct msg_fetch	*mf;
	const char		*error;
	size_t			 n;

	if (s->keywords && mailbox_fetch(s->mb, m->uid, m->uid, &mf, &n, &error) == 0 && n == 1)
		put_flags(b, m, mf->keywords);
	else
		put_flags(b, m, NULL);
}

static void
put_date(struct buf *b, time_t t)
{
	static const char	 months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
	    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm		 tm;

	gmtime_r(&t, &tm);
	buf_printf(b, "INTERNALDATE \"%02d-%s-%04d %02d:%02d:%02d +0000\"", tm.tm_mday,
	    months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* One item but a section; mf NULL when only msg_info is needed.  -1 if the output is full. */
static int
put_item(struct buf *b, unsigned bit, const struct msg_info *m, const struct msg_fetch *mf)
{
	switch (bit) {
	case F_FLAGS:
		put_flags(b, m, mf != NULL ? mf->keywords : NULL);
		return 0;
	case F_UID:
		return buf_printf(b, "UID %u", m->uid);
	case F_SIZE:
		return buf_printf(b, "RFC822.SIZE %llu", (unsigned long long)m->size);
	case F_DATE:
		put_date(b, m->internal_date);
		return 0;
	case F_ENVELOPE:
		return buf_printf(b, "ENVELOPE %s", mf->envelope);
	case F_BODY:
		return buf_printf(b, "BODY %s", mf->body);
	default:
		return buf_printf(b, "BODYSTRUCTURE %s", mf->bodystructure);
	}
}

/* One message's FETCH response without sections, whole or not at all. */
static void
put_message(struct imap_session *s, const struct imap_fetch *f, size_t idx,
    const struct msg_fetch *mf)
{
	struct msg_info		 m = s->msgs[idx];
	struct buf		*b = s->out;
	unsigned		 i;
	size_t			 before = buf_len(b);
	int			 rc = 0;

	if ((f->items & F_FLAGS) && imap_seen_marked(s, idx, false))
		m.flags |= MSG_SEEN;

	buf_printf(b, "* %zu FETCH (", idx + 1);
	for (i = 0; i < f->norder && rc == 0; i++)
		if ((i > 0 && buf_puts(b, " ") == -1) || put_item(b, f->order[i], &m, mf) == -1)
			rc = -1;
	if (rc == -1 || buf_puts(b, ")\r\n") == -1) {
		b->len = before;	/* never half a response: the client would misparse it */
		imap_output_full(s);
	}
	s->nfetched++;
}

/*
 * The response of f->bm's message, in parts: the items without a literal
 * at once (FLAGS after them when this FETCH set \Seen, as Dovecot), then
 * each section's literal streamed.  1 when it is all out, 0 when the
 * output is full, -1 when it cannot be finished (the session closes).
 */
static int
put_sections(struct imap_session *s, struct imap_fetch *f, const struct msg_fetch *mf)
{
	struct imap_body_msg	*bm = f->bm;
	struct msg_info		 m = s->msgs[bm->idx];
	struct buf		*b = s->out;
	int			 r;

	if (!bm->started) {
		if (bm->seen || imap_seen_marked(s, bm->idx, false))
			m.flags |= MSG_SEEN;
		if (buf_printf(b, "* %zu FETCH (", bm->idx + 1) == -1)
			return -1;
		for (; f->order[bm->item] != F_SECTION; bm->item++)
			if ((bm->item > 0 && buf_puts(b, " ") == -1) ||
			    put_item(b, f->order[bm->item], &m, mf) == -1)
				return -1;
		if (bm->seen && !(f->items & F_FLAGS)) {
			if (bm->item > 0 && buf_puts(b, " ") == -1)
				return -1;
			put_flags(b, &m, mf != NULL ? mf->keywords : NULL);
			bm->item++;	/* a separator before the first section */
		}
		bm->started = true;
	}
	for (; bm->section < bm->nfb; bm->section++) {
		if (!bm->in_literal) {
			if (session_host_output_full(s->host))
				return 0;
			if ((bm->item > 0 || bm->section > 0) && buf_puts(b, " ") == -1)
				return -1;
		}
		if ((r = imap_body_send(s, bm, bm->section)) != 1)
			return r;
	}
	if (buf_puts(b, ")\r\n") == -1)
		return -1;
	s->nfetched++;
	imap_body_msg_free(&f->bm);
	return 1;
}

static bool
needs_strings(const struct imap_session *s, const struct imap_fetch *f)
{
	return (f->items & F_STRINGS) ||
	    ((f->items & F_FLAGS || f->set_seen) && s->keywords);
}

/*
 * The batch's responses, in view order, with the strings read for it if
 * any; with sections, each message is opened by a job first and may
 * stop the batch while the output drains: f->bpos says where it is.
 */
static void
write_batch(struct imap_session *s, struct imap_fetch *f)
{
	const struct msg_fetch	*mf = NULL;
	size_t			 idx;
	int			 r;

	for (; f->bpos < f->nbatch; f->bpos++) {
		idx = f->batch[f->bpos];
		if (needs_strings(s, f)) {
			while (f->mfpos < f->nmf && f->mf[f->mfpos].uid < s->msgs[idx].uid)
				f->mfpos++;
			if (f->mfpos == f->nmf || f->mf[f->mfpos].uid != s->msgs[idx].uid) {
				f->expunged = true;	/* gone from the index: nothing to say of it */
				continue;
			}
			mf = &f->mf[f->mfpos];
		}
		if (f->nsections == 0) {
			put_message(s, f, idx, mf);
			continue;
		}
		if (f->bm == NULL) {
			if (session_host_output_full(s->host))
				return;
			imap_body_submit(s, idx, f->atts, f->nsections, f->set_seen);
			return;		/* imap_fetch_opened() brings it */
		}
		if (f->bm->gone) {
			f->expunged = true;
			imap_body_msg_free(&f->bm);
			continue;
		}
		if ((r = put_sections(s, f, mf)) == 0)
			return;
		if (r == -1) {
			imap_output_full(s);	/* half a response is out: close */
			return;
		}
	}
	f->nbatch = 0;
	f->bpos = 0;
	f->mfpos = 0;
}

void
imap_fetch_opened(struct imap_session *s, struct imap_body_msg *bm)
{
	if (s->fetch == NULL) {
		imap_body_msg_free(&bm);
		return;
	}
	s->fetch->bm = bm;
}

static void
batch_work(void *arg)
{
	struct imap_fetch_job	*job = arg;
	const char		*error;

	job->rc = mailbox_fetch(job->mb, job->first, job->last, &job->mf, &job->nmf, &error);
	if (job->rc == -1)
		job->error = xstrdup(error);	/* this thread's text */
}

static void	fetch_finish(struct imap_session *s, const char *status);

static void
batch_done(void *arg)
{
	struct imap_fetch_job	*job = arg;
	struct imap_session	*s = job->s;

	if (s != NULL) {
		s->fetch_job = NULL;
		if (job->rc == -1) {
			log_warnx("session=%s event=fetch status=error reason=\"%s\"", s->peer->id,
			    job->error);
			fetch_finish(s, "NO [UNAVAILABLE] Internal error reading the mailbox.");
		} else {
			s->fetch->mf = job->mf;
			s->fetch->nmf = job->nmf;
			session_host_kick(s->host);	/* fetch_more() writes the batch */
		}
	}
	if (job->owns_mb)
		mailbox_close(&job->mb);
	free(job->error);
	free(job);
}

/* Read the strings of the batch's UID range on the workq; the session pauses meanwhile. */
static void
batch_submit(struct imap_session *s, struct imap_fetch *f)
{
	struct imap_fetch_job	*job = xcalloc(1, sizeof(*job));

	job->s = s;
	job->mb = s->mb;
	job->first = s->msgs[f->batch[0]].uid;
	job->last = s->msgs[f->batch[f->nbatch - 1]].uid;
	f->mf = NULL;
	f->nmf = 0;
	s->fetch_job = job;
	session_host_submit(s->host, batch_work, batch_done, job);
}

static void
fetch_finish(struct imap_session *s, const char *status)
{
	struct imap_fetch	*f = s->fetch;

	imap_tagged(s, f->tag, "%s", status);
	fetch_free(&s->fetch);
	session_host_kick(s->host);
}

/*
 * The stream's more(): batches until the output is full or the set is
 * done.  A batch that needs strings is read by a job first: more()
 * returns, the session pauses, and the job's done brings it back here.
 */
/* A message could not be opened or prepared: nothing of it is out yet. */
void
imap_fetch_failed(struct imap_session *s)
{
	if (s->fetch != NULL)
		fetch_finish(s, "NO [UNAVAILABLE] Internal error reading the message.");
}

static bool
fetch_more(void *arg)
{
	struct imap_session	*s = arg;
	struct imap_fetch	*f = s->fetch;
	size_t			 at;

	if (f == NULL)
		return true;		/* aborted (timeout) */
	while (s->fetch_job == NULL && s->body_job == NULL &&
	    !session_host_output_full(s->host) && s->want != SESSION_CLOSE) {
		if (f->nbatch > 0) {	/* read by the job just done */
			write_batch(s, f);
			continue;
		}
		for (at = f->next; f->nbatch < BATCH_MAX &&
		    member_next(s, f, at, &f->batch[f->nbatch]); f->nbatch++) {
			if (f->nbatch > 0 && f->batch[f->nbatch] - f->batch[0] >= BATCH_SPAN)
				break;
			at = f->batch[f->nbatch] + 1;
		}
		if (f->nbatch == 0) {
			fetch_finish(s, f->expunged ? "NO [EXPUNGEISSUED] Some of the requested "
			    "messages no longer exist." : "OK Fetch completed.");
			return true;
		}
		f->next = at;
		if (needs_strings(s, f))
			batch_submit(s, f);
		else
			write_batch(s, f);
	}
	return s->want == SESSION_CLOSE;
}

int
imap_cmd_fetch(struct imap_session *s, const struct imap_command *cmd)
{
	const struct imap_seqset	*set = &cmd->u.fetch.set;
	struct imap_fetch		*f;

	f = xcalloc(1, sizeof(*f));
	f->uid = (cmd->def->flags & IMAP_CMDF_UID) != 0;
	if (fetch_items(s, cmd, f) == -1) {
		fetch_free(&f);
		return -1;
	}
	if (!f->uid && imap_seqset_highest(set, (uint32_t)s->nmsgs) > s->nmsgs) {
		fetch_free(&f);
		imap_tagged(s, cmd->tag, "BAD Invalid messageset.");
		return -1;
	}
	f->tag = xstrdup(cmd->tag);
	f->set = *set;
	f->set.ranges = xreallocarray(NULL, set->nranges + 1, sizeof(*set->ranges));
	memcpy(f->set.ranges, set->ranges, set->nranges * sizeof(*set->ranges));
	s->fetch = f;
	session_host_stream(s->host, fetch_more);
	return 0;
}
