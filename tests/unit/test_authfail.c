/* lib/authfail.c: delay, block, decay, loopback, eviction. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "lib/authfail.h"

#include <stdio.h>

#define BLOCK	(15 * 60 * 1000ULL)

static void
test_delay_grows_and_caps(void **state)
{
	struct authfail	*af = authfail_new(100, 10, 1000, BLOCK);
	uint64_t	 now = 1000000;
	unsigned	 i;

	(void)state;
	assert_int_equal(authfail_delay(af, "192.0.2.1", now), 0);
	for (i = 1; i <= 5; i++) {
		authfail_record(af, "192.0.2.1", false, now);
		assert_int_equal(authfail_delay(af, "192.0.2.1", now), 1000 * i);
	}
	assert_int_equal(authfail_delay(af, "192.0.2.2", now), 0);	/* per address */
	assert_false(authfail_blocked(af, "192.0.2.1", now));
	authfail_free(&af);
	assert_null(af);

	/* capped at 15 s, also for large bases */
	af = authfail_new(100, 1000, 4000, BLOCK);
	for (i = 0; i < 3; i++)
		authfail_record(af, "192.0.2.1", false, now);
	assert_int_equal(authfail_delay(af, "192.0.2.1", now), 12000);
	authfail_record(af, "192.0.2.1", false, now);
	assert_int_equal(authfail_delay(af, "192.0.2.1", now), 15000);
	authfail_free(&af);
	af = authfail_new(100, 1000, 60000, BLOCK);
	authfail_record(af, "192.0.2.1", false, now);
	assert_int_equal(authfail_delay(af, "192.0.2.1", now), 15000);
	authfail_free(&af);
	af = authfail_new(100, 1000, 0, BLOCK);
	authfail_record(af, "192.0.2.1", false, now);
	assert_int_equal(authfail_delay(af, "192.0.2.1", now), 0);
	authfail_free(&af);
}

static void
test_block_and_decay(void **state)
{
	struct authfail	*af = authfail_new(100, 3, 1000, BLOCK);
	uint64_t	 now = 5000;

	(void)state;
	authfail_record(af, "2001:db8::1", false, now);
	authfail_record(af, "2001:db8::1", false, now + 1);
	assert_false(authfail_blocked(af, "2001:db8::1", now + 1));
	authfail_record(af, "2001:db8::1", false, now + 2);
	assert_true(authfail_blocked(af, "2001:db8::1", now + 2));
	assert_true(authfail_blocked(af, "2001:db8::1", now + 2 + BLOCK - 1));
	/* a success during the block does not lift it */
	authfail_record(af, "2001:db8::1", true, now + 3);
	assert_true(authfail_blocked(af, "2001:db8::1", now + 3));
	/* the block ends and the count decays */
	assert_false(authfail_blocked(af, "2001:db8::1", now + 2 + BLOCK));
	assert_int_equal(authfail_delay(af, "2001:db8::1", now + 2 + BLOCK), 0);
	authfail_record(af, "2001:db8::1", false, now + 2 + BLOCK);
	assert_int_equal(authfail_delay(af, "2001:db8::1", now + 2 + BLOCK), 1000);
	assert_false(authfail_blocked(af, "2001:db8::1", now + 2 + BLOCK));
	authfail_free(&af);
}

static void
test_success_clears(void **state)
{
	struct authfail	*af = authfail_new(100, 3, 1000, BLOCK);

	(void)state;
	authfail_record(af, "192.0.2.9", false, 10);
	authfail_record(af, "192.0.2.9", false, 11);
	authfail_record(af, "192.0.2.9", true, 12);
	assert_int_equal(authfail_delay(af, "192.0.2.9", 12), 0);
	authfail_record(af, "192.0.2.9", false, 13);
	authfail_record(af, "192.0.2.9", false, 14);
	assert_false(authfail_blocked(af, "192.0.2.9", 14));
	authfail_free(&af);
}

static void
test_loopback_never_blocked(void **state)
{
	static const char *const loop[] = { "127.0.0.1", "127.255.1.2", "::1", "::ffff:127.0.0.1" };
	struct authfail	*af = authfail_new(100, 2, 1000, BLOCK);
	size_t		 i, j;

	(void)state;
	for (i = 0; i < 4; i++) {
		for (j = 0; j < 20; j++)
			authfail_record(af, loop[i], false, 100);
		assert_false(authfail_blocked(af, loop[i], 100));
		assert_int_equal(authfail_delay(af, loop[i], 100), 15000);	/* still delayed */
	}
	authfail_record(af, "128.0.0.1", false, 100);
	authfail_record(af, "128.0.0.1", false, 100);
	assert_true(authfail_blocked(af, "128.0.0.1", 100));
	authfail_record(af, "::2", false, 100);
	authfail_record(af, "::2", false, 100);
	assert_true(authfail_blocked(af, "::2", 100));
	authfail_free(&af);
}

static void
test_bounded_table(void **state)
{
	struct authfail	*af = authfail_new(4, 100, 1000, BLOCK);
	char		 addr[32];
	unsigned	 i;

	(void)state;
	for (i = 0; i < 4; i++) {
		snprintf(addr, sizeof(addr), "192.0.2.%u", i);
		authfail_record(af, addr, false, 1000 + i);
	}
	authfail_record(af, "192.0.2.0", false, 2000);	/* .0 is now the newest */
	authfail_record(af, "198.51.100.7", false, 2001);	/* evicts .1, the oldest */
	assert_int_equal(authfail_delay(af, "192.0.2.1", 2002), 0);
	assert_int_equal(authfail_delay(af, "192.0.2.0", 2002), 2000);
	assert_int_equal(authfail_delay(af, "192.0.2.2", 2002), 1000);
	assert_int_equal(authfail_delay(af, "198.51.100.7", 2002), 1000);
	/* many addresses never grow it */
	for (i = 0; i < 10000; i++) {
		snprintf(addr, sizeof(addr), "10.%u.%u.1", i / 256, i % 256);
		authfail_record(af, addr, false, 3000 + i);
	}
	assert_int_equal(authfail_delay(af, "10.39.15.1", 20000), 1000);
	/* odd input */
	authfail_record(af, "", false, 1);
	assert_int_equal(authfail_delay(af, "", 1), 0);
	authfail_free(&af);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_delay_grows_and_caps),
		cmocka_unit_test(test_block_and_decay),
		cmocka_unit_test(test_success_clears),
		cmocka_unit_test(test_loopback_never_blocked),
		cmocka_unit_test(test_bounded_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
