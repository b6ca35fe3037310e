/*
 * LF <-> CRLF streams (see crlf.h).  Both work a line (or a CR) at a time
 * with memchr and memcpy: this is the RETR and delivery hot path.
 */
#include "mail/crlf.h"

#include <string.h>

void
crlf_encoder_init(struct crlf_encoder *e, bool dot_stuff)
{
	e->dot_stuff = dot_stuff;
	e->line_start = true;
	e->prev_cr = false;
}

size_t
crlf_encode(struct crlf_encoder *e, const char *src, size_t len, char *dst)
{
	const char	*lf;
	size_t		 i = 0, o = 0, n;

	while (i < len) {
		if (e->line_start && e->dot_stuff && src[i] == '.')
			dst[o++] = '.';
		lf = memchr(src + i, '\n', len - i);
		n = lf != NULL ? (size_t)(lf - (src + i)) : len - i;
		if (n > 0) {
			memcpy(dst + o, src + i, n);
			o += n;
			e->prev_cr = src[i + n - 1] == '\r';
			e->line_start = false;
			i += n;
		}
		if (lf == NULL)
			break;
		if (!e->prev_cr)
			dst[o++] = '\r';
		dst[o++] = '\n';
		i++;
		e->prev_cr = false;
		e->line_start = true;
	}
	return o;
}

size_t
crlf_encode_room(const struct crlf_encoder *e, const char *src, size_t len)
{
	const char	*p = src, *end = src + len;
	size_t		 lfs = 0;

	while (p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		lfs++;
		p++;
	}
	return e->dot_stuff ? len + 2 * lfs + 1 : len + lfs;
}

size_t
crlf_encode_end(struct crlf_encoder *e, char *dst)
{
	size_t	 o = 0;

	if (e->line_start)
		return 0;
	/* "text\r" at the very end: the CR was meant as the line end. */
	if (!e->prev_cr)
		dst[o++] = '\r';
	dst[o++] = '\n';
	e->line_start = true;
	e->prev_cr = false;
	return o;
}

void
crlf_decoder_init(struct crlf_decoder *d)
{
	d->cr = false;
}

size_t
crlf_decode(struct crlf_decoder *d, const char *src, size_t len, char *dst)
{
	const char	*cr;
	size_t		 o = 0, n;

	if (d->cr && len > 0) {
		if (src[0] != '\n')
			dst[o++] = '\r';
		d->cr = false;
	}
	while (len > 0 && (cr = memchr(src, '\r', len)) != NULL) {
		n = (size_t)(cr - src);
		memcpy(dst + o, src, n);
		o += n;
		len -= n + 1;
		src = cr + 1;
		if (len == 0) {
			d->cr = true;	/* decided by the next chunk */
			return o;
		}
		if (*src != '\n')
			dst[o++] = '\r';
	}
	memcpy(dst + o, src, len);
	return o + len;
}

size_t
crlf_decode_end(struct crlf_decoder *d, char *dst)
{
	if (!d->cr)
		return 0;
	d->cr = false;
	dst[0] = '\r';
	return 1;
}
