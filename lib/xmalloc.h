/*
 * Allocation that never returns NULL: out of memory is fatal (the caller
 * never checks), and every size computation is overflow-checked.
 */
#ifndef LIB_XMALLOC_H
#define LIB_XMALLOC_H

#include <stdarg.h>
#include <stddef.h>

void	*xmalloc(size_t size);
void	*xcalloc(size_t nmemb, size_t size);
/* realloc(ptr, nmemb * size) with the multiplication checked. */
void	*xreallocarray(void *ptr, size_t nmemb, size_t size);
char	*xstrdup(const char *s);
char	*xstrndup(const char *s, size_t n);
char	*xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char	*xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/* a + b and a * b, aborting on overflow: sizes from the network go through these. */
size_t	 size_add(size_t a, size_t b);
size_t	 size_mul(size_t a, size_t b);

/*
 * Fault in the pages of a large block the caller is about to fill: one
 * system call instead of a fault per page (a block above malloc's mmap
 * threshold is fresh memory each time).  Best effort; small blocks are
 * left as they are.
 */
void	 xprefault(void *p, size_t len);

/* free(*p) and set *p to NULL: the destructor convention. */
#define	 xfree(p) do { free(*(p)); *(p) = NULL; } while (0)

#endif
