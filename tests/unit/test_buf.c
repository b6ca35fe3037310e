/* lib/buf: the hard maximum, lazy compaction, reserve/commit, printf. */
#include "lib/buf.h"
#include "lib/xmalloc.h"

#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

static void
test_append_and_consume(void **state)
{
	struct buf	*b = buf_new(100);
	char		*s;

	(void)state;
	assert_int_equal(buf_append(b, "hello ", 6), 0);
	assert_int_equal(buf_puts(b, "world"), 0);
	assert_int_equal(buf_len(b), 11);
	assert_memory_equal(buf_head(b), "hello world", 11);
	buf_consume(b, 6);
	assert_int_equal(buf_len(b), 5);
	assert_memory_equal(buf_head(b), "world", 5);
	s = buf_strdup(b);
	assert_string_equal(s, "world");
	free(s);
	buf_consume(b, 5);
	assert_int_equal(buf_len(b), 0);
	assert_int_equal(b->off, 0);	/* empty restarts at the front */
	buf_free(&b);
	assert_null(b);
	buf_free(&b);			/* NULL is fine */
}

/* A reply that failed half-way is taken back; what came before stays. */
static void
test_truncate(void **state)
{
	struct buf	*b = buf_new(100);

	(void)state;
	assert_int_equal(buf_puts(b, "xxkeep"), 0);
	buf_consume(b, 2);
	assert_int_equal(buf_puts(b, "half"), 0);
	buf_truncate(b, 4);
	assert_int_equal(buf_len(b), 4);
	assert_memory_equal(buf_head(b), "keep", 4);
	assert_int_equal(buf_puts(b, "+more"), 0);
	assert_memory_equal(buf_head(b), "keep+more", 9);
	buf_truncate(b, 0);
	assert_int_equal(buf_len(b), 0);
	assert_int_equal(b->off, 0);	/* empty restarts at the front */
	buf_free(&b);
}

static void
test_max_is_hard(void **state)
{
	struct buf	*b = buf_new(10);

	(void)state;
	assert_int_equal(buf_append(b, "0123456789", 10), 0);
	assert_int_equal(buf_room(b), 0);
	assert_int_equal(buf_append(b, "x", 1), -1);
	assert_int_equal(buf_len(b), 10);
	buf_consume(b, 3);
	/* 4 does not fit in 3 bytes of room: nothing is appended */
	assert_int_equal(buf_append(b, "abcd", 4), -1);
	assert_int_equal(buf_len(b), 7);
	assert_int_equal(buf_append(b, "abc", 3), 0);
	assert_memory_equal(buf_head(b), "3456789abc", 10);
	assert_true(b->cap <= 11);
	assert_int_equal(buf_printf(b, "%d", 1), -1);
	assert_null(buf_reserve(b, 1));
	assert_int_equal(buf_append(b, "", 0), 0);
	buf_free(&b);
}

static void
test_overflowing_sizes(void **state)
{
	struct buf	*b = buf_new(SIZE_MAX);

	(void)state;
	assert_int_equal(buf_append(b, "ab", 2), 0);
	/* len + n would wrap: must fail, not allocate a tiny block */
	assert_null(buf_reserve(b, SIZE_MAX));
	assert_null(buf_reserve(b, SIZE_MAX - 1));
	assert_int_equal(buf_append(b, "x", SIZE_MAX - 1), -1);
	assert_int_equal(buf_len(b), 2);
	buf_free(&b);
}

static void
test_reserve_commit_grows_geometrically(void **state)
{
	struct buf	*b = buf_new(1 << 20);
	size_t		 i, reallocs = 0, lastcap = 0;
	char		*p;

	(void)state;
	for (i = 0; i < (1 << 20) / 16; i++) {
		p = buf_reserve(b, 16);
		assert_non_null(p);
		memset(p, 'a' + (int)(i % 26), 16);
		buf_commit(b, 16);
		if (b->cap != lastcap) {
			reallocs++;
			lastcap = b->cap;
		}
	}
	assert_int_equal(buf_len(b), 1 << 20);
	assert_true(reallocs < 20);
	assert_true(b->cap <= (1 << 20) + 1);
	assert_null(buf_reserve(b, 1));
	assert_int_equal(buf_head(b)[16 * 27], 'b');
	buf_free(&b);
}

static void
test_lazy_compaction(void **state)
{
	struct buf	*b = buf_new(64);
	char		 fill[56];

	(void)state;
	assert_int_equal(buf_append(b, "0123456789", 10), 0);
	buf_consume(b, 4);
	assert_int_equal(b->off, 4);	/* not moved on consume */
	assert_int_equal(buf_append(b, "ab", 2), 0);
	assert_int_equal(b->off, 4);	/* room at the tail: still not moved */
	/* fill to max: must compact rather than exceed */
	memset(fill, 'x', sizeof(fill));
	assert_int_equal(buf_append(b, fill, sizeof(fill)), 0);
	assert_int_equal(buf_len(b), 64);
	assert_int_equal(b->off, 0);
	assert_memory_equal(buf_head(b), "456789ab", 8);
	buf_compact(b);
	buf_reset(b);
	assert_int_equal(buf_len(b), 0);
	buf_free(&b);
}

static void
test_printf(void **state)
{
	struct buf	 b;
	char		*s;

	(void)state;
	buf_init(&b, 32);
	assert_int_equal(buf_printf(&b, "%d %s", 250, "OK"), 0);
	assert_int_equal(buf_printf(&b, "%c", '!'), 0);
	s = buf_strdup(&b);
	assert_string_equal(s, "250 OK!");
	free(s);
	/* exactly max fits, one more does not and leaves the buffer alone */
	assert_int_equal(buf_printf(&b, "%025d", 0), 0);
	assert_int_equal(buf_len(&b), 32);
	buf_consume(&b, 1);
	assert_int_equal(buf_printf(&b, "%2d", 10), -1);
	assert_int_equal(buf_len(&b), 31);
	buf_release(&b);
	assert_null(b.data);
}

static void
test_embedded_empty(void **state)
{
	struct buf	 b;
	char		*s;

	(void)state;
	buf_init(&b, 0);
	assert_int_equal(buf_append(&b, "x", 1), -1);
	assert_int_equal(buf_append(&b, "", 0), 0);
	s = buf_strdup(&b);
	assert_string_equal(s, "");
	free(s);
	buf_release(&b);
}

/* buf_fit keeps the data (moved to the front) and gives back the rest; appends grow it again. */
static void
test_fit(void **state)
{
	struct buf	 b;

	(void)state;
	buf_init(&b, 1 << 20);
	assert_non_null(buf_reserve(&b, 4096));
	assert_int_equal(buf_append(&b, "..abc", 6), 0);
	buf_consume(&b, 2);
	buf_fit(&b);
	assert_int_equal(b.cap, 4);
	assert_int_equal(b.off, 0);
	assert_string_equal(buf_head(&b), "abc");
	assert_int_equal(buf_append(&b, "def", 4), 0);
	assert_string_equal(buf_head(&b) + 4, "def");
	buf_consume(&b, buf_len(&b));
	buf_fit(&b);
	assert_null(b.data);
	assert_int_equal(b.cap, 0);
	buf_release(&b);
}

static volatile size_t	sink;

static void overflow_add(void) { sink = size_add(SIZE_MAX, 1); }
static void overflow_mul(void) { sink = size_mul(SIZE_MAX / 2, 3); }
static void no_overflow(void) { sink = size_mul(SIZE_MAX / 2, 2); }

/* Overflow aborts: run fn in a child and see how it died. */
static bool
aborts(void (*fn)(void))
{
	pid_t	 pid;
	int	 status;

	if ((pid = fork()) == 0) {
		close(2);	/* keep the expected message out of the output */
		fn();
		_exit(0);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

static void
test_size_helpers(void **state)
{
	(void)state;
	assert_int_equal(size_add(2, 3), 5);
	assert_int_equal(size_mul(4, 5), 20);
	assert_true(aborts(overflow_add));
	assert_true(aborts(overflow_mul));
	assert_false(aborts(no_overflow));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_append_and_consume),
		cmocka_unit_test(test_max_is_hard),
		cmocka_unit_test(test_truncate),
		cmocka_unit_test(test_overflowing_sizes),
		cmocka_unit_test(test_reserve_commit_grows_geometrically),
		cmocka_unit_test(test_lazy_compaction),
		cmocka_unit_test(test_printf),
		cmocka_unit_test(test_embedded_empty),
		cmocka_unit_test(test_fit),
		cmocka_unit_test(test_size_helpers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
