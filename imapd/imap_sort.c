/*
 * SORT keys from a header and the ordering itself (RFC 5256 sections 2
 * and 3).  The base subject follows the steps of section 2.1 one by one.
 */
#include "imapd/imap_sort.h"

#include "imapd/imap_search_eval.h"
#include "lib/xmalloc.h"
#include "mail/mime.h"
#include "store/store.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool
wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* Step 1: decoded, tabs and line breaks made spaces, runs of spaces one. */
static char *
normalise(const char *raw, size_t len)
{
	char	*s = mime_decode_header(raw, len), *r, *w;

	for (r = w = s; *r != '\0'; r++) {
		char c = *r == '\t' || *r == '\r' || *r == '\n' ? ' ' : *r;

		if (c == ' ' && w > s && w[-1] == ' ')
			continue;
		*w++ = c;
	}
	*w = '\0';
	return s;
}

/* Step 2: trailing white space and "(fwd)" (subj-trailer), repeatedly. */
static void
strip_trailers(char *s, size_t *len, bool *refwd)
{
	for (;;) {
		if (*len > 0 && wsp(s[*len - 1]))
			(*len)--;
		else if (*len >= 5 && strncasecmp(s + *len - 5, "(fwd)", 5) == 0) {
			*len -= 5;
			*refwd = true;
		} else
			break;
	}
	s[*len] = '\0';
}

/* subj-blob = "[" *BLOBCHAR "]" *WSP at s: its length, or 0. */
static size_t
blob(const char *s)
{
	size_t	 n;

	if (*s != '[')
		return 0;
	n = 1 + strcspn(s + 1, "[]");
	if (s[n] != ']')
		return 0;
	for (n++; wsp(s[n]); n++)
		;
	return n;
}

/* subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":" at s: its length, or 0. */
static size_t
refwd(const char *s)
{
	size_t	 n;

	if (strncasecmp(s, "re", 2) == 0)
		n = 2;
	else if (strncasecmp(s, "fwd", 3) == 0)
		n = 3;
	else if (strncasecmp(s, "fw", 2) == 0)
		n = 2;
	else
		return 0;
	while (wsp(s[n]))
		n++;
	n += blob(s + n);
	return s[n] == ':' ? n + 1 : 0;
}

/* Step 3: subj-leader = (*subj-blob subj-refwd) / WSP, repeatedly. */
static size_t
strip_leaders(const char *s, bool *refwd_r)
{
	size_t	 at = 0, n, b;

	for (;;) {
		if (wsp(s[at])) {
			at++;
			continue;
		}
		for (n = at; (b = blob(s + n)) > 0; n += b)
			;
		if ((b = refwd(s + n)) == 0)
			return at;
		*refwd_r = true;
		at = n + b;
	}
}

char *
imap_base_subject(const char *raw, size_t len, bool *refwd_r)
{
	char	*s = normalise(raw, len), *base;
	size_t	 n = strlen(s), at = 0, b, k;

	*refwd_r = false;
	for (;;) {
		strip_trailers(s + at, &n, refwd_r);	/* (2) */
		for (;;) {				/* (5): (3) and (4) until neither applies */
			k = strip_leaders(s + at, refwd_r);
			at += k;
			n -= k;
			b = blob(s + at);		/* (4), if something is left after it */
			if (b == 0 || b == n)
				break;
			at += b;
			n -= b;
		}
		/* (6) "[fwd:" ... "]" */
		if (n >= 6 && strncasecmp(s + at, "[fwd:", 5) == 0 && s[at + n - 1] == ']') {
			*refwd_r = true;
			at += 5;
			n -= 6;
			continue;
		}
		break;
	}
	base = xstrndup(s + at, n);
	free(s);
	return base;
}

struct first_ctx {
	char	*local;
};

static int
first_mailbox(void *ctx, const char *address)
{
	struct first_ctx	*f = ctx;
	const char		*at;

	if (address == NULL)
		return 0;	/* not an address: look further */
	at = strrchr(address, '@');
	f->local = xstrndup(address, at != NULL ? (size_t)(at - address) : strlen(address));
	return -1;
}

static char *
addr_mailbox(const char *header, size_t len, const char *name)
{
	struct first_ctx	 f = { NULL };

	(void)mime_header_mailboxes(header, len, name, first_mailbox, &f);
	return f.local != NULL ? f.local : xstrdup("");
}

static void
take(char **slot, const struct mime_header_field *f)
{
	if (*slot == NULL)
		*slot = xstrndup(f->value, f->value_len);
}

void
imap_sort_msg_init(struct imap_sort_msg *m, uint32_t idx, const struct msg_info *mi,
    const char *header, size_t len)
{
	struct mime_header_field	 f;
	size_t				 pos = 0;
	char				*subject = NULL, *date = NULL;
	int				 zone;

	memset(m, 0, sizeof(*m));
	m->idx = idx;
	m->size = mi->size;
	m->arrival = m->date = mi->internal_date;
	while (header != NULL && mime_header_next(header, len, &pos, &f)) {
		if (f.name_len == 7 && strncasecmp(f.name, "subject", 7) == 0)
			take(&subject, &f);
		else if (f.name_len == 4 && strncasecmp(f.name, "date", 4) == 0)
			take(&date, &f);
		else if (f.name_len == 10 && strncasecmp(f.name, "message-id", 10) == 0)
			take(&m->message_id, &f);
		else if (f.name_len == 10 && strncasecmp(f.name, "references", 10) == 0)
			take(&m->references, &f);
		else if (f.name_len == 11 && strncasecmp(f.name, "in-reply-to", 11) == 0)
			take(&m->in_reply_to, &f);
	}
	if (date != NULL && mime_date_parse(date, strlen(date), &m->date, &zone) == -1)
		m->date = mi->internal_date;
	m->subject = subject != NULL ? imap_base_subject(subject, strlen(subject), &m->refwd) :
	    xstrdup("");
	m->from = header != NULL ? addr_mailbox(header, len, "From") : xstrdup("");
	m->to = header != NULL ? addr_mailbox(header, len, "To") : xstrdup("");
	m->cc = header != NULL ? addr_mailbox(header, len, "Cc") : xstrdup("");
	free(subject);
	free(date);
}

void
imap_sort_msg_free(struct imap_sort_msg *m)
{
	free(m->subject);
	free(m->from);
	free(m->to);
	free(m->cc);
	free(m->message_id);
	free(m->references);
	free(m->in_reply_to);
	memset(m, 0, sizeof(*m));
}

bool
imap_sort_needs_header(const struct imap_sort_criterion *c, unsigned n)
{
	unsigned	 i;

	for (i = 0; i < n; i++)
		if (c[i].key != IMAP_SORT_ARRIVAL && c[i].key != IMAP_SORT_SIZE)
			return true;
	return false;
}

struct criteria {
	const struct imap_sort_criterion	*c;
	unsigned				 n;
};

static int
cmp_num(uint64_t a, uint64_t b)
{
	return a < b ? -1 : a > b;
}

static int
cmp_time(time_t a, time_t b)
{
	return a < b ? -1 : a > b;
}

static int
cmp_key(const struct imap_sort_msg *a, const struct imap_sort_msg *b, enum imap_sort_key k)
{
	switch (k) {
	case IMAP_SORT_ARRIVAL:	return cmp_time(a->arrival, b->arrival);
	case IMAP_SORT_CC:	return strcasecmp(a->cc, b->cc);
	case IMAP_SORT_DATE:	return cmp_time(a->date, b->date);
	case IMAP_SORT_FROM:	return strcasecmp(a->from, b->from);
	case IMAP_SORT_SIZE:	return cmp_num(a->size, b->size);
	case IMAP_SORT_SUBJECT:	return strcasecmp(a->subject, b->subject);
	case IMAP_SORT_TO:	return strcasecmp(a->to, b->to);
	}
	return 0;
}

static int
cmp_msgs(const void *x, const void *y, void *arg)
{
	const struct imap_sort_msg	*a = x, *b = y;
	const struct criteria		*cr = arg;
	unsigned			 i;
	int				 r;

	for (i = 0; i < cr->n; i++) {
		r = cmp_key(a, b, cr->c[i].key);
		if (r != 0)
			return cr->c[i].reverse ? -r : r;
	}
	return cmp_num(a->idx, b->idx);		/* not reversed (RFC 5256 3) */
}

void
imap_sort(struct imap_sort_msg *msgs, size_t n, const struct imap_sort_criterion *c, unsigned nc)
{
	struct criteria	 cr = { c, nc };

	qsort_r(msgs, n, sizeof(*msgs), cmp_msgs, &cr);
}

void
imap_sort_result(const struct imap_sort_msg *msgs, size_t n,
    const struct imap_search_result *search, struct imap_search_result *r)
{
	size_t	 i;

	memset(r, 0, sizeof(*r));
	r->idx = xreallocarray(NULL, n == 0 ? 1 : n, sizeof(*r->idx));
	for (i = 0; i < n; i++)
		r->idx[i] = msgs[i].idx;
	r->n = r->cap = n;
	r->has_modseq = search->has_modseq;
	r->highest_modseq = search->highest_modseq;
}
