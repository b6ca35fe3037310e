/*
 * Simple case folding by binary search in a table of ranges generated
 * from the Unicode data (tools/gen_unicase.py): about 200 ranges cover
 * the 1,450 code points that fold.  ASCII never reaches the table.
 */
#include "lib/unicase.h"

#include "lib/buf.h"

struct unicase_range {
	uint32_t	 first, last;
	int32_t		 offset;
	uint32_t	 stride;
};

#include "lib/unicase_table.h"

uint32_t
unicase_fold(uint32_t c)
{
	const struct unicase_range	*r;
	size_t				 lo = 0, hi, mid;

	if (c < 0x80)
		return c >= 'A' && c <= 'Z' ? c + 32 : c;
	hi = sizeof(unicase_ranges) / sizeof(unicase_ranges[0]);
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		r = &unicase_ranges[mid];
		if (c < r->first)
			hi = mid;
		else if (c > r->last)
			lo = mid + 1;
		else
			return (c - r->first) % r->stride == 0 ?
			    (uint32_t)((int32_t)c + r->offset) : c;
	}
	return c;
}

int32_t
utf8_decode(const unsigned char *s, size_t len, size_t *n_r)
{
	uint32_t	 c, min;
	size_t		 n, i;

	*n_r = 1;
	if (s[0] < 0x80)
		return s[0];
	if ((s[0] & 0xe0) == 0xc0) {
		n = 2; c = s[0] & 0x1f; min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3; c = s[0] & 0x0f; min = 0x800;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4; c = s[0] & 0x07; min = 0x10000;
	} else {
		return -1;
	}
	if (len < n)
		return -1;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return -1;
		c = c << 6 | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c < 0xe000))
		return -1;
	*n_r = n;
	return (int32_t)c;
}

size_t
utf8_encode(uint32_t c, unsigned char *out)
{
	if (c < 0x80) {
		out[0] = (unsigned char)c;
		return 1;
	}
	if (c < 0x800) {
		out[0] = (unsigned char)(0xc0 | c >> 6);
		out[1] = (unsigned char)(0x80 | (c & 0x3f));
		return 2;
	}
	if (c < 0x10000) {
		out[0] = (unsigned char)(0xe0 | c >> 12);
		out[1] = (unsigned char)(0x80 | (c >> 6 & 0x3f));
		out[2] = (unsigned char)(0x80 | (c & 0x3f));
		return 3;
	}
	out[0] = (unsigned char)(0xf0 | c >> 18);
	out[1] = (unsigned char)(0x80 | (c >> 12 & 0x3f));
	out[2] = (unsigned char)(0x80 | (c >> 6 & 0x3f));
	out[3] = (unsigned char)(0x80 | (c & 0x3f));
	return 4;
}

/* A fold is at most half as long again as its source (U+023A, 2 bytes, to U+2C65, 3). */
int
unicase_fold_utf8(struct buf *out, const char *s, size_t len)
{
	const unsigned char	*p, *end;
	unsigned char		*dst, *start;
	int32_t			 c;
	size_t			 n;

	if (len == 0)
		return 0;	/* s may be an empty buffer's NULL */
	p = (const unsigned char *)s;
	end = p + len;
	if ((dst = (unsigned char *)buf_reserve(out, len + len / 2 + 4)) == NULL)
		return -1;
	start = dst;
	while (p < end) {
		if (*p < 0x80) {
			*dst++ = (unsigned char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
			p++;
			continue;
		}
		c = utf8_decode(p, (size_t)(end - p), &n);
		if (c < 0)
			*dst++ = *p;
		else
			dst += utf8_encode(unicase_fold((uint32_t)c), dst);
		p += n;
	}
	buf_commit(out, (size_t)(dst - start));
	return 0;
}
