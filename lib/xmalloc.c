/*
 * Allocation that never fails from the caller's point of view.  Running
 * out of memory is not something a mail session can recover from, so we
 * say why on stderr and abort (a core is more useful than a limp).  This
 * file must not use log.c: the logger itself allocates through here.
 */
#include "lib/xmalloc.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/mman.h>

#define PREFAULT_MIN	(256 * 1024)

static void __attribute__((noreturn))
xmalloc_die(const char *what, size_t a, size_t b)
{
	fprintf(stderr, "postroom: %s(%zu, %zu): out of memory\n", what, a, b);
	abort();
}

size_t
size_add(size_t a, size_t b)
{
	size_t	 r;

	if (__builtin_add_overflow(a, b, &r))
		xmalloc_die("size_add overflow", a, b);
	return r;
}

size_t
size_mul(size_t a, size_t b)
{
	size_t	 r;

	if (__builtin_mul_overflow(a, b, &r))
		xmalloc_die("size_mul overflow", a, b);
	return r;
}

void *
xmalloc(size_t size)
{
	void	*p;

	/* malloc(0) may return NULL legitimately; never hand that out. */
	if ((p = malloc(size == 0 ? 1 : size)) == NULL)
		xmalloc_die("xmalloc", size, 1);
	return p;
}

void *
xcalloc(size_t nmemb, size_t size)
{
	void	*p;

	if (nmemb == 0 || size == 0)
		nmemb = size = 1;
	if ((p = calloc(nmemb, size)) == NULL)
		xmalloc_die("xcalloc", nmemb, size);
	return p;
}

void *
xreallocarray(void *ptr, size_t nmemb, size_t size)
{
	size_t	 total;
	void	*p;

	total = size_mul(nmemb, size);
	if ((p = realloc(ptr, total == 0 ? 1 : total)) == NULL)
		xmalloc_die("xreallocarray", nmemb, size);
	return p;
}

char *
xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *
xstrndup(const char *s, size_t n)
{
	char	*p;

	n = strnlen(s, n);
	p = xmalloc(size_add(n, 1));
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *
xvasprintf(const char *fmt, va_list ap)
{
	char	*s;
	int	 saved = errno;

	if (vasprintf(&s, fmt, ap) == -1)
		xmalloc_die("xvasprintf", strlen(fmt), 0);
	errno = saved;	/* so a caller may still format strerror(errno) after */
	return s;
}

char *
xasprintf(const char *fmt, ...)
{
	va_list	 ap;
	char	*s;

	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	return s;
}

void
xprefault(void *p, size_t len)
{
	uintptr_t	 page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t	 start = ((uintptr_t)p + page - 1) & ~(page - 1);
	uintptr_t	 end = ((uintptr_t)p + len) & ~(page - 1);

	if (p != NULL && len >= PREFAULT_MIN && end > start)
		(void)madvise((void *)start, end - start, MADV_POPULATE_WRITE);
}
