/*
 * The arena a parsed message lives in: every string and part of one
 * mime_message comes from here and goes in one mime_pool_free().
 */
#include "mail/mime_private.h"

#include "lib/xmalloc.h"

#include <stdlib.h>
#include <string.h>

#define POOL_BLOCK	8192

struct pool_block {
	struct pool_block	*next;
	size_t			 used, size;
	max_align_t		 data[];
};

struct mime_pool {
	struct pool_block	*blocks;
};

struct mime_pool *
mime_pool_new(void)
{
	return xcalloc(1, sizeof(struct mime_pool));
}

void
mime_pool_free(struct mime_pool **pool)
{
	struct pool_block	*b, *next;

	if (*pool == NULL)
		return;
	for (b = (*pool)->blocks; b != NULL; b = next) {
		next = b->next;
		free(b);
	}
	free(*pool);
	*pool = NULL;
}

void *
mime_pool_alloc(struct mime_pool *pool, size_t size)
{
	struct pool_block	*b = pool->blocks;
	size_t			 align = sizeof(max_align_t), cap;
	void			*p;

	size = size_add(size, align - 1) / align * align;
	if (b == NULL || b->size - b->used < size) {
		/* big requests get a block of their own, behind the current one */
		cap = size > POOL_BLOCK / 4 ? size : POOL_BLOCK;
		b = xmalloc(size_add(sizeof(*b), cap));
		b->used = 0;
		b->size = cap;
		if (cap == size && pool->blocks != NULL) {
			b->next = pool->blocks->next;
			pool->blocks->next = b;
		} else {
			b->next = pool->blocks;
			pool->blocks = b;
		}
	}
	p = (char *)b->data + b->used;
	b->used += size;
	return p;
}

char *
mime_pool_strndup(struct mime_pool *pool, const char *s, size_t n)
{
	char	*r = mime_pool_alloc(pool, size_add(n, 1));

	if (n > 0)
		memcpy(r, s, n);
	r[n] = '\0';
	return r;
}

char *
mime_pool_buf(struct mime_pool *pool, const struct buf *b)
{
	return mime_pool_strndup(pool, buf_head(b), buf_len(b));
}
