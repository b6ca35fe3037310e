/*
 * LF <-> CRLF streams (see crlf.h).  This is the RETR and delivery hot
 * path: the encoder works 16 bytes at a time where SSE2 exists and a line
 * at a time with memchr and memcpy otherwise (and for the last bytes); the
 * decoder a CR at a time with memchr and memcpy.
 */
#include "mail/crlf.h"

#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

void
crlf_encoder_init(struct crlf_encoder *e, bool dot_stuff)
{
	e->dot_stuff = dot_stuff;
	e->line_start = true;
	e->prev_cr = false;
}

/* A line (or the rest of one) at a time with memchr and memcpy. */
static size_t
encode_lines(struct crlf_encoder *e, const char *src, size_t len, char *dst)
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

#ifdef __SSE2__
/*
 * The same, 16 bytes at a time: each block is stored whole and only the
 * part before its first LF counts, so a line costs a few vector steps, not
 * two library calls (mail lines are short: the calls were most of the
 * cost).  The store may run ahead of the output but stays in dst's 2 * len
 * of room: o <= 2 * i + 1 (a stuffed dot) and i + 16 <= len.  Returns the
 * input consumed.
 */
static size_t
encode_blocks(struct crlf_encoder *e, const char *src, size_t len, char *dst, size_t *o_r)
{
	const __m128i	 lfs = _mm_set1_epi8('\n');
	__m128i		 v;
	unsigned	 mask, k;
	size_t		 i = 0, o = 0;

	while (i + 16 <= len) {
		if (e->line_start && e->dot_stuff && src[i] == '.')
			dst[o++] = '.';
		v = _mm_loadu_si128((const __m128i *)(src + i));
		_mm_storeu_si128((__m128i *)(dst + o), v);
		mask = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, lfs));
		k = mask == 0 ? 16 : (unsigned)__builtin_ctz(mask);
		if (k > 0) {
			o += k;
			i += k;
			e->prev_cr = src[i - 1] == '\r';
			e->line_start = false;
		}
		if (mask == 0)
			continue;
		if (!e->prev_cr)
			dst[o++] = '\r';
		dst[o++] = '\n';
		i++;
		e->prev_cr = false;
		e->line_start = true;
	}
	*o_r = o;
	return i;
}
#endif

size_t
crlf_encode(struct crlf_encoder *e, const char *src, size_t len, char *dst)
{
	size_t	 i = 0, o = 0;

#ifdef __SSE2__
	i = encode_blocks(e, src, len, dst, &o);
#endif
	return o + encode_lines(e, src + i, len - i, dst + o);
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
