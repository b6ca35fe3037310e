/*
 * What SEARCH reads of a message: the header fields one by one, and a
 * text part's body decoded from its transfer encoding and charset.
 */
#include "mail/mime_private.h"

#include "lib/base64.h"

#include <string.h>
#include <strings.h>

size_t
mime_header_len(const char *data, size_t len)
{
	const char	*p = data, *end = data + len, *nl;

	while (p < end) {
		if (*p == '\n')
			return (size_t)(p - data) + 1;
		if (*p == '\r' && p + 1 < end && p[1] == '\n')
			return (size_t)(p - data) + 2;
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			break;
		p = nl + 1;
	}
	return len;
}

bool
mime_header_next(const char *header, size_t len, size_t *pos, struct mime_header_field *f)
{
	const char	*p, *end = header + len, *line, *nl, *colon;

	for (p = header + *pos; p < end; ) {
		if (*p == '\n' || (*p == '\r' && p + 1 < end && p[1] == '\n'))
			break;		/* the blank line */
		line = p;
		do {		/* the first line and its continuations */
			nl = memchr(p, '\n', (size_t)(end - p));
			p = nl == NULL ? end : nl + 1;
		} while (p < end && (*p == ' ' || *p == '\t'));
		colon = memchr(line, ':', (size_t)(p - line));
		if (colon == NULL)
			continue;
		f->name = line;
		f->name_len = (size_t)(colon - line);
		while (f->name_len > 0 && (line[f->name_len - 1] == ' ' ||
		    line[f->name_len - 1] == '\t'))
			f->name_len--;
		f->value = colon + 1;
		while (f->value < p && (*f->value == ' ' || *f->value == '\t'))
			f->value++;
		f->value_len = (size_t)(p - f->value);
		while (f->value_len > 0 && (f->value[f->value_len - 1] == '\n' ||
		    f->value[f->value_len - 1] == '\r'))
			f->value_len--;
		*pos = (size_t)(p - header);
		return true;
	}
	*pos = len;
	return false;
}

/* Base64 as bodies carry it: line breaks and other junk skipped, "=" ends it. */
static int
base64_lenient(const char *s, size_t len, struct buf *out)
{
	const char	*end = s + len;
	unsigned	 acc = 0, bits = 0;
	unsigned char	 c;
	int		 v;

	for (; s < end && *s != '='; s++) {
		if ((v = base64_value((unsigned char)*s)) < 0)
			continue;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			c = (unsigned char)(acc >> bits);
			if (buf_append(out, &c, 1) == -1)
				return -1;
			acc &= (1u << bits) - 1;
		}
	}
	return 0;
}

static const char *
part_charset(const struct mime_part *part)
{
	const struct mime_part_info	*info = part->info;
	size_t				 i;

	for (i = 0; info != NULL && i < info->nparams; i++)
		if (strcasecmp(info->params[i].name, "charset") == 0)
			return info->params[i].value;
	return "us-ascii";
}

int
mime_part_text(const struct mime_part *part, const char *data, struct buf *out)
{
	const char	*body = data + part->body_offset, *enc;
	const char	*charset = part_charset(part);
	struct buf	 raw;
	int		 ret;

	enc = part->info != NULL ? part->info->encoding : NULL;
	if (enc == NULL || (strcasecmp(enc, "base64") != 0 &&
	    strcasecmp(enc, "quoted-printable") != 0))
		return mime_charset_to_utf8(charset, body, part->body_size, true, out);
	buf_init(&raw, part->body_size);
	if (strcasecmp(enc, "base64") == 0)
		ret = base64_lenient(body, part->body_size, &raw);
	else
		ret = mime_qp_decode(body, part->body_size, &raw);
	if (ret == 0)
		ret = mime_charset_to_utf8(charset, buf_head(&raw), buf_len(&raw), true, out);
	buf_release(&raw);
	return ret;
}
