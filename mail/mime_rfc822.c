/*
 * RFC 822/5322 and RFC 2045 tokens over one header value, read as leniently
 * as Dovecot's lib-mail reads them (so that our BODYSTRUCTURE and ENVELOPE
 * agree with what clients already cached from Dovecot): CFWS may appear
 * between any two tokens, quoted strings lose quotes and backslashes, a
 * folded line inside a quoted string or comment loses its (CR)LF.
 */
#include "mail/mime_private.h"

#include "lib/xmalloc.h"
#include "mail/address.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

void
mime_buf_init(struct buf *b, size_t input_len)
{
	/* Nothing a parser builds is longer than its input plus separators. */
	buf_init(b, size_add(size_mul(input_len, 2), 64));
}

void
rfc822_parser_init(struct rfc822_parser *p, const char *data, size_t len,
    struct buf *last_comment)
{
	p->data = (const unsigned char *)data;
	p->end = p->data + len;
	p->last_comment = last_comment;
}

/* atext of RFC 5322 (mail/address's), plus 8-bit bytes (raw UTF-8 names are common). */
bool
rfc822_is_atext(unsigned char c)
{
	return address_is_atext(c, true);
}

/* RFC 2045 token: atext without the tspecials "/", "=", "?", plus ".". */
static bool
is_token_char(unsigned char c)
{
	if (c == '/' || c == '=' || c == '?')
		return false;
	return c == '.' || rfc822_is_atext(c);
}

static void
comment_keep(struct rfc822_parser *p, const unsigned char *from,
    const unsigned char *to)
{
	if (p->last_comment != NULL)
		buf_append(p->last_comment, from, (size_t)(to - from));
}

static int
skip_comment(struct rfc822_parser *p)
{
	const unsigned char	*start;
	int			 level = 1;

	if (p->last_comment != NULL)
		buf_reset(p->last_comment);
	start = ++p->data;
	for (; p->data < p->end; p->data++) {
		switch (*p->data) {
		case '(':
			level++;
			break;
		case ')':
			if (--level == 0) {
				comment_keep(p, start, p->data);
				p->data++;
				return 1;
			}
			break;
		case '\n':
			/* folding inside a comment: drop the (CR)LF */
			comment_keep(p, start, p->data > start &&
			    p->data[-1] == '\r' ? p->data - 1 : p->data);
			start = p->data + 1;
			break;
		case '\\':
			comment_keep(p, start, p->data);
			start = p->data + 1;
			if (++p->data >= p->end)
				return -1;
			break;
		}
	}
	return -1;	/* unclosed comment */
}

int
rfc822_skip_lwsp(struct rfc822_parser *p)
{
	while (p->data < p->end) {
		if (*p->data == ' ' || *p->data == '\t' ||
		    *p->data == '\r' || *p->data == '\n') {
			p->data++;
			continue;
		}
		if (*p->data != '(')
			break;
		if (skip_comment(p) < 0)
			return -1;
	}
	return p->data < p->end ? 1 : 0;
}

static int
parse_run(struct rfc822_parser *p, struct buf *out, bool (*ok)(unsigned char))
{
	const unsigned char	*start = p->data;

	while (p->data < p->end && ok(*p->data))
		p->data++;
	buf_append(out, start, (size_t)(p->data - start));
	if (p->data == p->end)
		return 0;
	return rfc822_skip_lwsp(p);
}

int
rfc822_parse_atom(struct rfc822_parser *p, struct buf *out)
{
	if (p->data >= p->end || !rfc822_is_atext(*p->data))
		return -1;
	return parse_run(p, out, rfc822_is_atext);
}

int
rfc822_parse_mime_token(struct rfc822_parser *p, struct buf *out)
{
	return parse_run(p, out, is_token_char);
}

/* dot-atom, allowing CFWS around the dots as RFC 822 did. */
int
rfc822_parse_dot_atom(struct rfc822_parser *p, struct buf *out)
{
	int	 ret;

	if (p->data >= p->end || !rfc822_is_atext(*p->data))
		return -1;
	for (;;) {
		if ((ret = parse_run(p, out, rfc822_is_atext)) <= 0)
			return ret;
		if (*p->data != '.')
			return 1;
		p->data++;
		buf_append(out, ".", 1);
		if (rfc822_skip_lwsp(p) <= 0)
			return -1;	/* "a.b." ends in a dot */
	}
}

int
rfc822_parse_quoted_string(struct rfc822_parser *p, struct buf *out)
{
	const unsigned char	*start;

	start = ++p->data;	/* past the opening quote */
	for (; p->data < p->end; p->data++) {
		switch (*p->data) {
		case '"':
			buf_append(out, start, (size_t)(p->data - start));
			p->data++;
			return rfc822_skip_lwsp(p);
		case '\n':
			/* folded: drop the (CR)LF, keep the white space */
			buf_append(out, start, (size_t)(p->data - start -
			    (p->data > start && p->data[-1] == '\r')));
			start = p->data + 1;
			break;
		case '\\':
			buf_append(out, start, (size_t)(p->data - start));
			start = ++p->data;
			if (p->data == p->end)
				return -1;
			break;
		}
	}
	return -1;	/* no closing quote */
}

static bool
is_atext_or_dot(unsigned char c)
{
	return c == '.' || rfc822_is_atext(c);
}

/* phrase (obs-phrase: dots allowed): words joined by one space. */
int
rfc822_parse_phrase(struct rfc822_parser *p, struct buf *out)
{
	int	 ret;

	if (p->data >= p->end)
		return 0;
	if (*p->data == '.')
		return -1;
	for (;;) {
		if (*p->data == '"')
			ret = rfc822_parse_quoted_string(p, out);
		else if (is_atext_or_dot(*p->data))
			ret = parse_run(p, out, is_atext_or_dot);
		else
			return -1;
		if (ret <= 0)
			return ret;
		if (!is_atext_or_dot(*p->data) && *p->data != '"')
			break;
		buf_append(out, " ", 1);
	}
	return rfc822_skip_lwsp(p);
}

static int
parse_domain_literal(struct rfc822_parser *p, struct buf *out)
{
	const unsigned char	*start = p->data;

	for (p->data++; p->data < p->end; p->data++) {
		if (*p->data == '\\') {
			if (++p->data == p->end)
				break;
		} else if (*p->data == ']') {
			p->data++;
			buf_append(out, start, (size_t)(p->data - start));
			return rfc822_skip_lwsp(p);
		}
	}
	return -1;	/* no closing bracket */
}

/* At "@": the domain after it (dot-atom or [literal]). */
int
rfc822_parse_domain(struct rfc822_parser *p, struct buf *out)
{
	p->data++;
	if (rfc822_skip_lwsp(p) <= 0)
		return -1;
	if (*p->data == '[')
		return parse_domain_literal(p, out);
	return rfc822_parse_dot_atom(p, out);
}

/* "type/subtype" into out; -1 if either half is missing. */
int
rfc822_parse_content_type(struct rfc822_parser *p, struct buf *out)
{
	if (rfc822_skip_lwsp(p) <= 0)
		return -1;
	if (rfc822_parse_mime_token(p, out) <= 0 || buf_len(out) == 0)
		return -1;
	if (*p->data != '/')
		return -1;
	p->data++;
	if (rfc822_skip_lwsp(p) <= 0) {
		buf_reset(out);		/* "text/": no type at all */
		return -1;
	}
	buf_append(out, "/", 1);
	return rfc822_parse_mime_token(p, out) < 0 ? -1 : 1;
}
