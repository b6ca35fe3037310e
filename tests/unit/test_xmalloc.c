/*
 * lib/xmalloc.c's xprefault: the pages of a large block are resident after
 * one call, and a small or NULL block is left alone.
 */
#include "lib/xmalloc.h"

#include <sys/mman.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>
#include <cmocka.h>

#define LARGE	(1024 * 1024)
#define SMALL	(64 * 1024)

/* Pages of [p, p+len) in memory (mincore). */
static size_t
resident_pages(void *p, size_t len)
{
	size_t		 page = (size_t)sysconf(_SC_PAGESIZE), n = len / page, i, in = 0;
	unsigned char	 vec[LARGE / 4096 + 1];

	assert_true(n <= sizeof(vec));
	assert_int_equal(mincore(p, len, vec), 0);
	for (i = 0; i < n; i++)
		in += vec[i] & 1;
	return in;
}

static void *
fresh(size_t len)
{
	void	*p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	assert_true(p != MAP_FAILED);
	assert_int_equal(resident_pages(p, len), 0);
	return p;
}

static void
test_large_block_resident(void **state)
{
	size_t	 page = (size_t)sysconf(_SC_PAGESIZE);
	char	*p = fresh(LARGE);

	/* Unaligned, as a block malloc hands out: the whole pages inside it. */
	xprefault(p + 16, LARGE - 16);
	assert_true(resident_pages(p, LARGE) >= LARGE / page - 1);
	munmap(p, LARGE);
}

static void
test_small_block_left_alone(void **state)
{
	char	*p = fresh(SMALL);

	xprefault(p, SMALL);
	assert_int_equal(resident_pages(p, SMALL), 0);
	xprefault(NULL, LARGE);
	munmap(p, SMALL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_large_block_resident),
		cmocka_unit_test(test_small_block_left_alone),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
