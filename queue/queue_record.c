/* The records of queue files (queue/queue_private.h). */
#include "queue/queue_private.h"

#include "lib/buf.h"
#include "lib/xmalloc.h"

#include <stdlib.h>
#include <string.h>

void
rec_header(struct buf *b, char type, uint32_t len)
{
	unsigned char	 h[REC_HDR] = { (unsigned char)type, (unsigned char)(len >> 24),
	    (unsigned char)(len >> 16), (unsigned char)(len >> 8), (unsigned char)len };

	if (buf_append(b, h, sizeof(h)) == -1)
		abort();	/* the header buffer is sized for every record */
}

void
rec_str(struct buf *b, char type, const char *s)
{
	rec_header(b, type, (uint32_t)strlen(s));
	if (buf_puts(b, s) == -1)
		abort();
}

bool
rec_next(const char *file, size_t size, size_t *off, struct rec *r)
{
	const unsigned char	*h = (const unsigned char *)file + *off;

	if (size - *off < REC_HDR)
		return false;
	r->type = (char)h[0];
	r->len = (uint32_t)h[1] << 24 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 8 | h[4];
	if (size - *off - REC_HDR < r->len)
		return false;
	r->data = file + *off + REC_HDR;
	*off += REC_HDR + r->len;
	return true;
}

char *
rec_dup(const struct rec *r)
{
	return xstrndup(r->data, r->len);
}

bool
rec_num(const struct rec *r, unsigned long long *v_r)
{
	char	 num[24], *end;

	if (r->len == 0 || r->len >= sizeof(num))
		return false;
	memcpy(num, r->data, r->len);
	num[r->len] = '\0';
	*v_r = strtoull(num, &end, 10);
	return *end == '\0';
}
