/*
 * Header keys answered from the index: the ENVELOPE string the store
 * keeps per message (mailbox_fetch) holds Date, Subject, From, Sender,
 * Reply-To, To, Cc, Bcc, In-Reply-To and Message-ID, so SUBJECT, FROM,
 * TO, CC, BCC and SENT* need no message file.  The string is read as
 * mail/mime_envelope.c writes it: NIL, quoted strings, literals (8-bit),
 * address lists of (name adl mailbox host).  Each address is searched as
 * "name <mailbox@host>" with the name RFC 2047-decoded, the way Dovecot
 * searches address headers; a subject is decoded the same way.
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

/* NIL (*nil_r), "quoted" or {n}CRLF literal, unescaped into out. */
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
			if (buf_append(out, c->p, run) == -1)
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
	if (buf_append(out, c->p, n) == -1)
		return false;
	c->p += n;
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

/* Section k of m->env: [start, end), or absent (NIL). */
static void
mark(struct search_msg *m, enum env_field k, size_t start, bool nil)
{
	m->env_field[k].start = start;
	m->env_field[k].len = buf_len(&m->env) - start;
	m->env_field[k].present = !nil;
}

static bool
parse(struct search_msg *m, const char *s)
{
	static const enum env_field	 addrs[] = {
		ENV_FROM, ENV_COUNT, ENV_COUNT, ENV_TO, ENV_CC, ENV_BCC,	/* sender, reply-to skipped */
	};
	struct cursor			 c = { s, s + strlen(s) };
	struct buf			 tmp, skip;
	size_t				 i, start;
	bool				 nil, ok;

	buf_init(&tmp, size_add(strlen(s), 16));
	buf_init(&skip, size_add(strlen(s), 16));
	ok = expect(&c, '(') && nstring(&c, &m->env_date, &nil) && sp(&c);
	m->env_has_date = ok && !nil;
	start = buf_len(&m->env);
	ok = ok && decoded(&c, &m->env, &tmp, &nil);
	if (ok)
		mark(m, ENV_SUBJECT, start, nil);
	for (i = 0; ok && i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		ok = sp(&c);
		if (ok && addrs[i] == ENV_COUNT) {
			buf_reset(&skip);
			ok = address_list(&c, &skip, &tmp, &nil);
		} else if (ok) {
			start = buf_len(&m->env);
			ok = address_list(&c, &m->env, &tmp, &nil);
			if (ok)
				mark(m, addrs[i], start, nil);
		}
	}
	buf_release(&tmp);
	buf_release(&skip);
	return ok;
}

bool
search_msg_envelope(struct imap_search_run *run, struct search_msg *m)
{
	const char	*s;

	if (m->env_done)
		return m->env_ok;
	m->env_done = true;
	s = run->view.envelope(run->view.ctx, m->i);
	if (s == NULL || *s == '\0')
		return false;	/* not parsed yet: the caller reads the header */
	/* decoding and folding grow it at most 6 times (see the header's bound) */
	m->env.max = size_add(size_mul(strlen(s), 6), 64);
	m->env_date.max = size_add(strlen(s), 1);
	m->env_ok = parse(m, s);
	return m->env_ok;
}
