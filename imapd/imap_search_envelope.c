/*
 * Header keys answered from the index: the ENVELOPE string the store
 * keeps per message (mailbox_fetch) holds Date, Subject, From, Sender,
 * Reply-To, To, Cc, Bcc, In-Reply-To and Message-ID, so SUBJECT, FROM,
 * TO, CC, BCC and SENT* need no message file.  The string is read as
 * mail/mime_envelope.c writes it: NIL, quoted strings, literals (8-bit),
 * address lists of (name adl mailbox host).  Each address is searched as
 * "name <mailbox@host>" with the name RFC 2047-decoded, the way Dovecot
 * searches address headers; a subject is decoded the same way.  A field
 * is decoded only when a key asks for it: SEARCH SUBJECT over a folder
 * splits each ENVELOPE and decodes its subject alone.
 */
#include "imapd/imap_search_private.h"

#include "lib/unicase.h"
#include "lib/xmalloc.h"
#include "mail/mime.h"

#include <stdlib.h>
#include <string.h>

struct cursor {
	const char	*p, *end;
};

static bool
sp(struct cursor *c)
{
	if (c->p < c->end && *c->p == ' ') {
		c->p++;
		return true;
	}
	return false;
}

static bool
expect(struct cursor *c, char ch)
{
	if (c->p < c->end && *c->p == ch) {
		c->p++;
		return true;
	}
	return false;
}

/* NIL (*nil_r), "quoted" or {n}CRLF literal, unescaped into out (NULL: skipped). */
static bool
nstring(struct cursor *c, struct buf *out, bool *nil_r)
{
	unsigned long	 n = 0;
	size_t		 run;

	*nil_r = false;
	if (c->end - c->p >= 3 && memcmp(c->p, "NIL", 3) == 0) {
		c->p += 3;
		*nil_r = true;
		return true;
	}
	if (expect(c, '"')) {
		/* Runs up to the next quote or backslash appended whole: every SEARCH's loop. */
		while (c->p < c->end && *c->p != '"') {
			if (*c->p == '\\' && c->p + 1 < c->end)
				c->p++;		/* the escaped character, as it is */
			run = 1 + strcspn(c->p + 1, "\"\\");	/* the string ends in NUL */
			if (run > (size_t)(c->end - c->p))
				run = (size_t)(c->end - c->p);
			if (out != NULL && buf_append(out, c->p, run) == -1)
				return false;
			c->p += run;
		}
		return expect(c, '"');
	}
	if (!expect(c, '{'))
		return false;
	while (c->p < c->end && *c->p >= '0' && *c->p <= '9' && n < (1UL << 30))
		n = n * 10 + (unsigned long)(*c->p++ - '0');
	if (!expect(c, '}') || !expect(c, '\r') || !expect(c, '\n') ||
	    (size_t)(c->end - c->p) < n)
		return false;
	if (out != NULL && buf_append(out, c->p, n) == -1)
		return false;
	c->p += n;
	return true;
}

/* Past one item: NIL, a string, or a list of items (an address list nests two deep). */
static bool
skip_item(struct cursor *c, int depth)
{
	bool	 nil;

	if (!expect(c, '('))
		return nstring(c, NULL, &nil);
	if (depth == 2)
		return false;
	while (!expect(c, ')')) {
		if (!skip_item(c, depth + 1))
			return false;
		sp(c);
	}
	return true;
}

/* One nstring, RFC 2047-decoded and folded, appended to out. */
static bool
decoded(struct cursor *c, struct buf *out, struct buf *tmp, bool *nil_r)
{
	char	*s;
	int	 ret;

	buf_reset(tmp);
	if (!nstring(c, tmp, nil_r))
		return false;
	if (*nil_r || buf_len(tmp) == 0)
		return true;
	s = mime_decode_header(buf_head(tmp), buf_len(tmp));
	ret = unicase_fold_utf8(out, s, strlen(s));
	free(s);
	return ret == 0;
}

/* (name adl mailbox host): "name <mailbox@host>\n" (a group's start or end: nothing). */
static bool
address(struct cursor *c, struct buf *out, struct buf *tmp)
{
	size_t	 start = buf_len(out);
	bool	 nil, name_nil, mbox_nil, host_nil;

	if (!expect(c, '(') || !decoded(c, out, tmp, &name_nil) || !sp(c) ||
	    !nstring(c, tmp, &nil) || !sp(c))
		return false;
	if (!name_nil && buf_append(out, " ", 1) == -1)
		return false;
	if (buf_append(out, "<", 1) == -1 || !decoded(c, out, tmp, &mbox_nil) || !sp(c) ||
	    buf_append(out, "@", 1) == -1 || !decoded(c, out, tmp, &host_nil) || !expect(c, ')'))
		return false;
	if (host_nil) {		/* group syntax: not an address */
		out->len = start;
		return true;
	}
	return buf_append(out, ">\n", 2) == 0;
}

static bool
address_list(struct cursor *c, struct buf *out, struct buf *tmp, bool *nil_r)
{
	*nil_r = false;
	if (c->end - c->p >= 3 && memcmp(c->p, "NIL", 3) == 0) {
		c->p += 3;
		*nil_r = true;
		return true;
	}
	if (!expect(c, '('))
		return false;
	do {
		if (!address(c, out, tmp))
			return false;
	} while (c->p < c->end && *c->p == '(');
	return expect(c, ')');
}

/*
 * Split the ENVELOPE (copied into m->env_raw): the date as it is, and
 * where each searched field starts.
 */
static bool
split(struct search_msg *m, const char *s)
{
	static const enum env_field	 fields[] = {
		ENV_SUBJECT, ENV_FROM, ENV_COUNT, ENV_COUNT, ENV_TO, ENV_CC, ENV_BCC,
	};				/* sender and reply-to are not searched */
	struct cursor			 c;
	size_t				 i, len = strlen(s);
	bool				 nil;

	if (buf_append(&m->env_raw, s, len + 1) == -1)
		return false;
	c.p = buf_head(&m->env_raw);
	c.end = c.p + len;
	if (!expect(&c, '(') || !nstring(&c, &m->env_date, &nil))
		return false;
	m->env_has_date = !nil;
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		if (!sp(&c))
			return false;
		if (fields[i] != ENV_COUNT)
			m->env_field[fields[i]].raw = (size_t)(c.p - buf_head(&m->env_raw));
		if (!skip_item(&c, 0))
			return false;
	}
	return true;
}

bool
search_msg_envelope(struct imap_search_run *run, struct search_msg *m)
{
	const char	*s;
	size_t		 k;

	if (m->env_done)
		return m->env_ok;
	m->env_done = true;
	s = run->view.envelope(run->view.ctx, m->i);
	if (s == NULL || *s == '\0')
		return false;	/* not parsed yet: the caller reads the header */
	/* decoding and folding grow a field at most 6 times (see the header's bound) */
	m->env.max = size_add(size_mul(strlen(s), 6), 64);
	m->env_raw.max = size_add(strlen(s), 1);
	m->env_date.max = size_add(strlen(s), 1);
	for (k = 0; k < ENV_COUNT; k++)
		m->env_field[k].done = false;
	m->env_ok = split(m, s);
	return m->env_ok;
}

const struct env_section *
search_msg_env_field(struct search_msg *m, enum env_field k)
{
	struct env_section	*e = &m->env_field[k];
	struct cursor		 c;
	struct buf		 tmp;
	bool			 ok, nil;

	if (e->done)
		return e->start == SIZE_MAX ? NULL : e;
	e->done = true;
	c.p = buf_head(&m->env_raw) + e->raw;
	c.end = buf_head(&m->env_raw) + buf_len(&m->env_raw) - 1;
	buf_init(&tmp, size_add(buf_len(&m->env_raw), 16));
	e->start = buf_len(&m->env);
	ok = k == ENV_SUBJECT ? decoded(&c, &m->env, &tmp, &nil) :
	    address_list(&c, &m->env, &tmp, &nil);
	buf_release(&tmp);
	if (!ok) {
		e->start = SIZE_MAX;
		return NULL;
	}
	e->len = buf_len(&m->env) - e->start;
	e->present = !nil;
	return e;
}
