/*
 * Mailbox names: modified UTF-7 (RFC 3501 5.1.3) both ways, the mapping to
 * store folder names, and names written as astrings.
 */
#include "imapd/imap_mailbox_name.h"
#include "imapd/imap_args.h"
#include "lib/buf.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

static const char	 mbase64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static int
mbase64_value(unsigned char c)
{
	const char	*p;

	if (c == '\0' || (p = strchr(mbase64, c)) == NULL)
		return -1;
	return (int)(p - mbase64);
}

/* C0, DEL and C1: never in a mailbox name, however spelled. */
static bool
is_control(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f);
}

static int
put_utf8(struct buf *out, uint32_t cp)
{
	unsigned char	 s[4];
	size_t		 n;

	if (cp < 0x80) {
		s[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		s[0] = (unsigned char)(0xc0 | cp >> 6);
		s[1] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		s[0] = (unsigned char)(0xe0 | cp >> 12);
		s[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		s[2] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		s[0] = (unsigned char)(0xf0 | cp >> 18);
		s[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
		s[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		s[3] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return buf_append(out, s, n);
}

/* One UTF-16 unit of a shift; *high holds a pending high surrogate (0: none). */
static const char *
shift_unit(uint32_t u, uint32_t *high, struct buf *out)
{
	uint32_t	 cp;

	if (*high != 0) {
		if (u < 0xdc00 || u > 0xdfff)
			return "high surrogate without its low half";
		cp = 0x10000 + ((*high - 0xd800) << 10) + (u - 0xdc00);
		*high = 0;
	} else if (u >= 0xd800 && u <= 0xdbff) {
		*high = u;
		return NULL;
	} else if (u >= 0xdc00 && u <= 0xdfff)
		return "low surrogate without its high half";
	else
		cp = u;
	if (cp >= 0x20 && cp <= 0x7e)
		return "printable ASCII encoded (must stand for itself)";
	if (is_control(cp))
		return "control character";
	return put_utf8(out, cp) == 0 ? NULL : "name too long";
}

/* The shift after '&' up to its '-'; *p_r past the '-'. */
static const char *
decode_shift(const char **p_r, struct buf *out)
{
	const char	*p = *p_r, *why;
	uint32_t	 bits = 0, high = 0;
	unsigned	 nbits = 0;
	int		 v;

	for (; *p != '-'; p++) {
		if (*p == '\0')
			return "'&' shift not closed by '-'";
		if ((v = mbase64_value((unsigned char)*p)) == -1)
			return "character outside modified BASE64 in a shift";
		bits = (bits << 6 | (uint32_t)v) & 0x3fffff;
		if ((nbits += 6) >= 16) {
			nbits -= 16;
			if ((why = shift_unit(bits >> nbits & 0xffff, &high, out)) != NULL)
				return why;
		}
	}
	if (nbits >= 6 || (bits & ((1u << nbits) - 1)) != 0)
		return "bad padding bits at the end of a shift";
	if (high != 0)
		return "high surrogate without its low half";
	*p_r = p + 1;
	return NULL;
}

int
imap_mutf7_decode(const char *in, struct buf *out, const char **error_r)
{
	const unsigned char	*p = (const unsigned char *)in;
	const char		*why = NULL, *q;

	while (*p != '\0' && why == NULL) {
		if (*p < 0x20 || *p > 0x7e) {
			why = *p > 0x7f ? "8-bit character (not modified UTF-7)" : "control character";
		} else if (*p != '&') {
			why = buf_append(out, p++, 1) == 0 ? NULL : "name too long";
		} else if (p[1] == '-') {
			why = buf_append(out, "&", 1) == 0 ? NULL : "name too long";
			p += 2;
		} else {
			q = (const char *)p + 1;
			if ((why = decode_shift(&q, out)) == NULL && q[0] == '&' && q[1] != '-')
				why = "two adjacent shifts (one is the shortest form)";
			p = (const unsigned char *)q;
		}
	}
	*error_r = why;
	return why == NULL ? 0 : -1;
}

/* The next code point of well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates). */
static int
next_utf8(const unsigned char **p_r, uint32_t *cp_r)
{
	const unsigned char	*p = *p_r;
	uint32_t		 cp, min;
	size_t			 n, i;

	if (p[0] < 0x80) {
		*cp_r = *p;
		*p_r = p + 1;
		return 0;
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, cp = p[0] & 0x1f, min = 0x80;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, cp = p[0] & 0x0f, min = 0x800;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, cp = p[0] & 0x07, min = 0x10000;
	else
		return -1;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return -1;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*cp_r = cp;
	*p_r = p + n;
	return 0;
}

struct encoder {
	struct buf	*out;
	uint32_t	 bits;
	unsigned	 nbits;
	bool		 shifted;
	int		 rc;
};

static void
enc_put(struct encoder *e, const char *s, size_t len)
{
	if (buf_append(e->out, s, len) == -1)
		e->rc = -1;
}

static void
enc_unit(struct encoder *e, uint32_t u)
{
	if (!e->shifted) {
		enc_put(e, "&", 1);
		e->shifted = true;
	}
	e->bits = (e->bits << 16 | u) & 0x3fffff;
	for (e->nbits += 16; e->nbits >= 6; e->nbits -= 6)
		enc_put(e, &mbase64[e->bits >> (e->nbits - 6) & 0x3f], 1);
}

static void
enc_unshift(struct encoder *e)
{
	if (!e->shifted)
		return;
	if (e->nbits > 0)
		enc_put(e, &mbase64[e->bits << (6 - e->nbits) & 0x3f], 1);
	enc_put(e, "-", 1);
	e->bits = 0;
	e->nbits = 0;
	e->shifted = false;
}

int
imap_mutf7_encode(const char *in, struct buf *out, const char **error_r)
{
	const unsigned char	*p = (const unsigned char *)in;
	struct encoder		 e = { out, 0, 0, false, 0 };
	uint32_t		 cp;
	char			 c;

	while (*p != '\0') {
		if (next_utf8(&p, &cp) == -1) {
			*error_r = "not well-formed UTF-8";
			return -1;
		}
		if (is_control(cp)) {
			*error_r = "control character";
			return -1;
		}
		if (cp <= 0x7e) {
			enc_unshift(&e);
			c = (char)cp;
			enc_put(&e, c == '&' ? "&-" : &c, c == '&' ? 2 : 1);
		} else if (cp < 0x10000)
			enc_unit(&e, cp);
		else {
			enc_unit(&e, 0xd800 + ((cp - 0x10000) >> 10));
			enc_unit(&e, 0xdc00 + ((cp - 0x10000) & 0x3ff));
		}
	}
	enc_unshift(&e);
	*error_r = e.rc == 0 ? NULL : "name too long";
	return e.rc;
}

static int
refuse(struct imap_no *no_r, const char *text)
{
	no_r->code = "CANNOT";
	no_r->text = text;
	no_r->detail = NULL;
	return -1;
}

int
imap_name_to_folder(const char *name, const struct imap_name_opts *opts,
    char folder_r[IMAP_FOLDER_SIZE], struct imap_no *no_r)
{
	struct buf	 b;
	const char	*why;
	size_t		 max = opts->name_max, len = strlen(name);
	int		 rc;

	if (strcasecmp(name, "INBOX") == 0) {
		memcpy(folder_r, "INBOX", sizeof("INBOX"));
		return 0;
	}
	if (max == 0 || max > STORE_FOLDER_NAME_MAX)
		max = STORE_FOLDER_NAME_MAX;
	/* UTF-8 never shrinks below half in modified UTF-7 (a 3-byte character: 8/3). */
	if (len > (opts->utf8 ? 2 * max : max))
		return refuse(no_r, "Mailbox name too long");
	/* Either way the result is at most 3 times the input. */
	buf_init(&b, 3 * len + 8);
	if (opts->utf8)
		rc = imap_mutf7_encode(name, &b, &why);
	else
		rc = imap_mutf7_decode(name, &b, &why);
	if (rc == 0 && opts->utf8) {
		len = buf_len(&b);
		if (len > 0 && len <= max)	/* an empty buf has no data pointer */
			memcpy(folder_r, buf_head(&b), len);
		folder_r[len <= max ? len : 0] = '\0';
	} else if (rc == 0)
		memcpy(folder_r, name, len + 1);
	buf_release(&b);
	if (rc == -1)
		return refuse(no_r, opts->utf8 ?
		    "Mailbox name is not valid UTF-8 or has control characters" :
		    "Mailbox name is not valid modified UTF-7 (RFC 3501 5.1.3)");
	if (len > max)
		return refuse(no_r, "Mailbox name too long");
	if (folder_name_check(folder_r, &why) == -1)
		return refuse(no_r, why);
	return 0;
}

int
imap_folder_to_name(const char *folder, bool utf8, struct buf *out)
{
	struct buf	 b;
	const char	*why;
	int		 rc;

	if (strcasecmp(folder, "INBOX") == 0)
		return buf_puts(out, "INBOX");
	if (folder_name_check(folder, &why) == -1)
		return -1;
	buf_init(&b, 2 * STORE_FOLDER_NAME_MAX + 1);
	rc = imap_mutf7_decode(folder, &b, &why);
	if (rc == 0)
		rc = utf8 ? buf_append(out, buf_head(&b), buf_len(&b)) : buf_puts(out, folder);
	buf_release(&b);
	return rc;
}

int
imap_append_mailbox(struct buf *out, const char *name, bool utf8)
{
	const unsigned char	*p;
	size_t			 len = strlen(name);
	bool			 literal = false;

	if (imap_is_atom(name, len, "]") && strcasecmp(name, "NIL") != 0)
		return buf_append(out, name, len);
	for (p = (const unsigned char *)name; *p != '\0'; p++)
		if (*p == '\r' || *p == '\n' || (*p >= 0x80 && !utf8))
			literal = true;
	if (literal)
		return buf_printf(out, "{%zu}\r\n%s", len, name);
	if (buf_puts(out, "\"") == -1)
		return -1;
	for (p = (const unsigned char *)name; *p != '\0'; p++)
		if ((*p == '"' || *p == '\\' ? buf_puts(out, "\\") : 0) == -1 ||
		    buf_append(out, p, 1) == -1)
			return -1;
	return buf_puts(out, "\"");
}
