/*
 * FETCH and UID FETCH of FLAGS, UID, RFC822.SIZE, INTERNALDATE, ENVELOPE,
 * BODY and BODYSTRUCTURE (RFC 3501 6.4.5, 7.4.2), streamed: the host calls
 * fetch_more() while the output is below its high-water mark, and each
 * call writes the next batch of messages, so FETCH 1:* of a large folder
 * never holds more than a batch.  msg_info (the view) answers FLAGS
 * without keywords, UID, RFC822.SIZE and INTERNALDATE; mailbox_fetch()
 * reads keywords and the cached ENVELOPE/BODY/BODYSTRUCTURE strings, one
 * batch of UIDs at a time.  BODY[section], BODY.PEEK and RFC822.* are
 * h3's imap_fetch_body: see body_section().
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
};
#define F_STRINGS	(F_ENVELOPE | F_BODY | F_BODYSTRUCTURE)

struct imap_fetch {
	char			*tag;
	bool			 uid;		/* UID FETCH: the set holds UIDs */
	unsigned		 items;		/* F_* */
	unsigned		 order[8];	/* items in the order asked (F_*), UID first for UID FETCH */
	unsigned		 norder;
	struct imap_seqset	 set;		/* ranges copied from the parser */
	size_t			 next;		/* view index to look from */
	bool			 expunged;	/* a message was gone when its strings were read */
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
	free(*f);
	*f = NULL;
}

void
imap_fetch_abort(struct imap_session *s)
{
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

/*
 * BODY[section]<partial>, BODY.PEEK[...], RFC822, RFC822.HEADER,
 * RFC822.TEXT: the one hook for h3's imap_fetch_body.  Until it lands they
 * are refused before anything is sent.
 */
static bool
body_section(const struct imap_fetch_att *att)
{
	return att->item == IMAP_FETCH_BODY_SECTION || att->item == IMAP_FETCH_RFC822 ||
	    att->item == IMAP_FETCH_RFC822_HEADER || att->item == IMAP_FETCH_RFC822_TEXT;
}

/* The items asked for, or -1 after a BAD. */
static int
fetch_items(struct imap_session *s, const struct imap_command *cmd, struct imap_fetch *f)
{
	unsigned	 i, j;

	if (f->uid)
		add_item(f, F_UID);	/* RFC 3501 6.4.8 */
	for (i = 0; i < cmd->u.fetch.natts; i++) {
		const struct imap_fetch_att	*att = &cmd->u.fetch.atts[i];

		if (body_section(att)) {
			imap_tagged(s, cmd->tag, "BAD BODY[], RFC822 and RFC822.HEADER/TEXT are "
			    "not supported yet.");
			return -1;
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

/* One message's FETCH response; mf NULL when only msg_info is needed. */
static void
put_message(struct imap_session *s, const struct imap_fetch *f, size_t idx,
    const struct msg_fetch *mf)
{
	const struct msg_info	*m = &s->msgs[idx];
	struct buf		*b = s->out;
	unsigned		 i;
	size_t			 before = buf_len(b);
	int			 rc = 0;

	buf_printf(b, "* %zu FETCH (", idx + 1);
	for (i = 0; i < f->norder; i++) {
		if (i > 0)
			buf_puts(b, " ");
		switch (f->order[i]) {
		case F_FLAGS:
			put_flags(b, m, mf != NULL ? mf->keywords : NULL);
			break;
		case F_UID:
			buf_printf(b, "UID %u", m->uid);
			break;
		case F_SIZE:
			buf_printf(b, "RFC822.SIZE %llu", (unsigned long long)m->size);
			break;
		case F_DATE:
			put_date(b, m->internal_date);
			break;
		case F_ENVELOPE:
			buf_printf(b, "ENVELOPE %s", mf->envelope);
			break;
		case F_BODY:
			buf_printf(b, "BODY %s", mf->body);
			break;
		case F_BODYSTRUCTURE:
			rc = buf_printf(b, "BODYSTRUCTURE %s", mf->bodystructure);
			break;
		}
	}
	if (rc == -1 || buf_puts(b, ")\r\n") == -1) {
		b->len = before;	/* never half a response: the client would misparse it */
		imap_output_full(s);
	}
	s->nfetched++;
}

/* The strings of the batch's UIDs, in f's order; false on a store failure. */
static bool
write_batch(struct imap_session *s, struct imap_fetch *f, const size_t *idx, size_t n)
{
	const struct msg_fetch	*mf = NULL;
	const char		*error;
	size_t			 i, j = 0, nmf = 0;
	bool			 strings = (f->items & F_STRINGS) ||
				    ((f->items & F_FLAGS) && s->keywords);

	if (strings && mailbox_fetch(s->mb, s->msgs[idx[0]].uid, s->msgs[idx[n - 1]].uid,
	    &mf, &nmf, &error) == -1) {
		log_warnx("session=%s event=fetch status=error reason=\"%s\"", s->peer->id, error);
		return false;
	}
	for (i = 0; i < n; i++) {
		if (!strings) {
			put_message(s, f, idx[i], NULL);
			continue;
		}
		while (j < nmf && mf[j].uid < s->msgs[idx[i]].uid)
			j++;
		if (j == nmf || mf[j].uid != s->msgs[idx[i]].uid) {
			f->expunged = true;	/* gone from the index: nothing to say of it */
			continue;
		}
		put_message(s, f, idx[i], &mf[j]);
	}
	return true;
}

static void
fetch_finish(struct imap_session *s, const char *status)
{
	struct imap_fetch	*f = s->fetch;

	imap_tagged(s, f->tag, "%s", status);
	fetch_free(&s->fetch);
	session_host_kick(s->host);
}

/* The stream's more(): batches until the output is full or the set is done. */
static bool
fetch_more(void *arg)
{
	struct imap_session	*s = arg;
	struct imap_fetch	*f = s->fetch;
	size_t			 idx[BATCH_MAX], n, at;

	if (f == NULL)
		return true;		/* aborted (timeout) */
	while (!session_host_output_full(s->host) && s->want != SESSION_CLOSE) {
		for (n = 0, at = f->next; n < BATCH_MAX && member_next(s, f, at, &idx[n]); n++) {
			if (n > 0 && idx[n] - idx[0] >= BATCH_SPAN)
				break;
			at = idx[n] + 1;
		}
		if (n == 0) {
			fetch_finish(s, f->expunged ? "NO [EXPUNGEISSUED] Some of the requested "
			    "messages no longer exist." : "OK Fetch completed.");
			return true;
		}
		f->next = at;
		if (!write_batch(s, f, idx, n)) {
			fetch_finish(s, "NO [UNAVAILABLE] Internal error reading the mailbox.");
			return true;
		}
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
