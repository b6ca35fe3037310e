/*
 * RFC 2047 encoded-words in header values, decoded to UTF-8 for SEARCH.
 * Adjacent encoded words (only white space between them) are joined before
 * charset conversion, so a multi-byte character split across two words
 * survives.  Anything that does not decode (bad base64, unknown charset,
 * bytes invalid in their charset) is kept exactly as it was written.
 */
#include "mail/mime_private.h"

#include "lib/base64.h"
#include "lib/xmalloc.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CHARSET_MAX	64

struct word {
	const char	*start, *end;		/* the whole =?...?= */
	char		 charset[CHARSET_MAX];
	char		 enc;			/* 'B' or 'Q' */
	const char	*text, *text_end;
};

/* An encoded word starting at s (which points at "=?"), or false. */
static bool
parse_word(const char *s, const char *end, struct word *w)
{
	const char	*q1, *q2, *q3, *lang;
	size_t		 cslen;

	if (end - s < 8 || s[0] != '=' || s[1] != '?')
		return false;
	q1 = memchr(s + 2, '?', (size_t)(end - s - 2));
	if (q1 == NULL || end - q1 < 4 || q1[2] != '?')
		return false;
	w->enc = (char)(q1[1] & ~0x20);
	if (w->enc != 'B' && w->enc != 'Q')
		return false;
	q2 = q1 + 2;
	for (q3 = q2 + 1; q3 + 1 < end; q3++) {
		if (*q3 == '?' && q3[1] == '=')
			break;
		if (*q3 == ' ' || *q3 == '\t' || *q3 == '\r' || *q3 == '\n')
			return false;	/* no white space inside a word */
	}
	if (q3 + 1 >= end)
		return false;
	/* charset, without an RFC 2231 "*language" suffix */
	lang = memchr(s + 2, '*', (size_t)(q1 - s - 2));
	cslen = (size_t)((lang != NULL ? lang : q1) - (s + 2));
	if (cslen == 0 || cslen >= CHARSET_MAX)
		return false;
	memcpy(w->charset, s + 2, cslen);
	w->charset[cslen] = '\0';
	w->start = s;
	w->text = q2 + 1;
	w->text_end = q3;
	w->end = q3 + 2;
	return true;
}

/* Base64 as mailers write it: padding optional; -1 on any other byte. */
static int
decode_b(const char *s, const char *end, struct buf *out)
{
	unsigned	 acc = 0, bits = 0;
	unsigned char	 c;
	int		 v;

	for (; s < end && *s != '='; s++) {
		if ((v = base64_value((unsigned char)*s)) < 0)
			return -1;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			c = (unsigned char)(acc >> bits);
			buf_append(out, &c, 1);
			acc &= (1u << bits) - 1;
		}
	}
	for (; s < end; s++)
		if (*s != '=')
			return -1;
	return 0;
}

static int
decode_q(const char *s, const char *end, struct buf *out)
{
	unsigned char	 c;
	int		 hi, lo;

	for (; s < end; s++) {
		if (*s == '_') {
			buf_append(out, " ", 1);
		} else if (*s == '=' && end - s >= 3 &&
		    (hi = hex_value((unsigned char)s[1])) >= 0 &&
		    (lo = hex_value((unsigned char)s[2])) >= 0) {
			c = (unsigned char)(hi << 4 | lo);
			buf_append(out, &c, 1);
			s += 2;
		} else if (*s == '=') {
			return -1;
		} else {
			buf_append(out, s, 1);
		}
	}
	return 0;
}

/* Decode the run of adjacent words w[0..n) (same charset); false: keep raw. */
static bool
decode_run(const struct word *w, size_t n, struct buf *out, size_t maxlen)
{
	struct buf	 bytes;
	size_t		 i;
	int		 ret = 0;

	buf_init(&bytes, maxlen);
	for (i = 0; i < n && ret == 0; i++)
		ret = w[i].enc == 'B' ?
		    decode_b(w[i].text, w[i].text_end, &bytes) :
		    decode_q(w[i].text, w[i].text_end, &bytes);
	if (ret == 0)
		ret = mime_charset_to_utf8(w[0].charset, buf_head(&bytes), buf_len(&bytes),
		    false, out);
	buf_release(&bytes);
	return ret == 0;
}

static void
append_unfolded(struct buf *out, const char *s, const char *end)
{
	for (; s < end; s++)
		if (*s != '\r' && *s != '\n')
			buf_append(out, s, 1);
}

/*
 * Decode the run of encoded words starting at s: words with the same
 * charset separated by white space are joined; white space between
 * encoded words is dropped (RFC 2047 6.2).  Returns where the run ends.
 */
static const char *
decode_words(const char *s, const char *end, struct buf *out, size_t maxlen)
{
	struct word	*w = NULL, cur;
	const char	*next;
	size_t		 n = 0;

	(void)parse_word(s, end, &cur);
	for (;;) {
		w = xreallocarray(w, n + 1, sizeof(*w));
		w[n++] = cur;
		for (next = cur.end; next < end && (*next == ' ' ||
		    *next == '\t' || *next == '\r' || *next == '\n'); next++)
			;
		if (next < end && parse_word(next, end, &cur) &&
		    strcasecmp(cur.charset, w[0].charset) == 0)
			continue;
		if (!decode_run(w, n, out, maxlen))
			append_unfolded(out, w[0].start, w[n - 1].end);
		if (next < end && parse_word(next, end, &cur)) {
			n = 0;		/* another charset: a new run */
			continue;
		}
		next = w[n - 1].end;
		free(w);
		return next;
	}
}

char *
mime_decode_header(const char *value, size_t len)
{
	const char	*s = value, *end = value + len, *lit = value;
	struct word	 w;
	struct buf	 out;
	char		*r;

	/* UTF-8 is at most 4 bytes per input byte, plus reserve slack */
	buf_init(&out, size_add(size_mul(len, 8), 64));
	while (s < end) {
		if (*s != '=' || !parse_word(s, end, &w)) {
			s++;
			continue;
		}
		append_unfolded(&out, lit, s);
		s = lit = decode_words(s, end, &out, size_add(len, 16));
	}
	append_unfolded(&out, lit, end);
	r = xstrndup(buf_len(&out) > 0 ? buf_head(&out) : "", buf_len(&out));
	buf_release(&out);
	return r;
}
