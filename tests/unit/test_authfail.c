/* lib/authfail.c: delay, block, decay, loopback, eviction, the shared file and its fallback. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "lib/authfail.h"
#include "lib/ev.h"
#include "tests/unit/config_testutil.h"

#include <sys/wait.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BLOCK	(15 * 60 * 1000ULL)

/* A per-process table. */
static struct authfail *
mk(unsigned entries, unsigned failures, uint64_t delay, uint64_t block)
{
	struct authfail_settings set = { entries, failures, delay, block, false };

	return authfail_new(&set, -1);
}

static void
test_delay_grows_and_caps(void **state)
{
	struct authfail	*af = mk(100, 10, 1000, BLOCK);
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
	af = mk(100, 1000, 4000, BLOCK);
	for (i = 0; i < 3; i++)
		authfail_record(af, "192.0.2.1", false, now);
	assert_int_equal(authfail_delay(af, "192.0.2.1", now), 12000);
	authfail_record(af, "192.0.2.1", false, now);
	assert_int_equal(authfail_delay(af, "192.0.2.1", now), 15000);
	authfail_free(&af);
	af = mk(100, 1000, 60000, BLOCK);
	authfail_record(af, "192.0.2.1", false, now);
	assert_int_equal(authfail_delay(af, "192.0.2.1", now), 15000);
	authfail_free(&af);
	af = mk(100, 1000, 0, BLOCK);
	authfail_record(af, "192.0.2.1", false, now);
	assert_int_equal(authfail_delay(af, "192.0.2.1", now), 0);
	authfail_free(&af);
}

static void
test_block_and_decay(void **state)
{
	struct authfail	*af = mk(100, 3, 1000, BLOCK);
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
	struct authfail	*af = mk(100, 3, 1000, BLOCK);

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

/* Loopback is an address like any other (a local TLS proxy), unless exempted. */
static void
test_loopback(void **state)
{
	static const char *const loop[] = { "127.0.0.1", "127.255.1.2", "::1", "::ffff:127.0.0.1" };
	struct authfail_settings set = { 100, 2, 1000, BLOCK, true };
	struct authfail	*af = mk(100, 2, 1000, BLOCK), *ex = authfail_new(&set, -1);
	size_t		 i, j;

	(void)state;
	for (i = 0; i < 4; i++) {
		for (j = 0; j < 20; j++) {
			authfail_record(af, loop[i], false, 100);
			authfail_record(ex, loop[i], false, 100);
		}
		assert_true(authfail_blocked(af, loop[i], 100));
		assert_false(authfail_blocked(ex, loop[i], 100));
		assert_int_equal(authfail_delay(ex, loop[i], 100), 15000);	/* still delayed */
	}
	authfail_record(ex, "128.0.0.1", false, 100);
	authfail_record(ex, "128.0.0.1", false, 100);
	assert_true(authfail_blocked(ex, "128.0.0.1", 100));
	authfail_record(ex, "::2", false, 100);
	authfail_record(ex, "::2", false, 100);
	assert_true(authfail_blocked(ex, "::2", 100));
	authfail_free(&af);
	authfail_free(&ex);
}

/* One key per address: v4-mapped is IPv4, zones and spellings of IPv6 fold. */
static void
test_addresses(void **state)
{
	struct authfail	*af = mk(100, 3, 1000, BLOCK);

	(void)state;
	authfail_record(af, "192.0.2.7", false, 10);
	authfail_record(af, "::ffff:192.0.2.7", false, 10);
	assert_int_equal(authfail_delay(af, "192.0.2.7", 10), 2000);
	authfail_record(af, "2001:db8:0::5", false, 10);
	authfail_record(af, "2001:DB8::5", false, 10);
	authfail_record(af, "fe80::1%eth0", false, 10);
	assert_int_equal(authfail_delay(af, "2001:db8::5", 10), 2000);
	assert_int_equal(authfail_delay(af, "fe80::1", 10), 1000);
	assert_int_equal(authfail_delay(af, "192.0.2.8", 10), 0);
	/* not an address: not counted (and no crash) */
	authfail_record(af, "unix:/x", false, 10);
	assert_int_equal(authfail_delay(af, "unix:/x", 10), 0);
	authfail_free(&af);
}

static void
test_bounded_table(void **state)
{
	struct authfail	*af = mk(4, 100, 1000, BLOCK);
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

/* Expired entries free their slot first; a time from before a reboot is stale. */
static void
test_expiry(void **state)
{
	struct authfail	*af = mk(2, 3, 1000, BLOCK);

	(void)state;
	authfail_record(af, "192.0.2.1", false, 0);
	authfail_record(af, "192.0.2.2", false, BLOCK - 1);
	authfail_record(af, "192.0.2.3", false, BLOCK + 1);	/* .1 expired: its slot */
	assert_int_equal(authfail_delay(af, "192.0.2.2", BLOCK + 1), 1000);
	assert_int_equal(authfail_delay(af, "192.0.2.3", BLOCK + 1), 1000);
	assert_int_equal(authfail_delay(af, "192.0.2.1", BLOCK + 1), 0);
	/* the monotonic clock restarted: an entry from "later" says nothing */
	authfail_record(af, "192.0.2.4", false, 1000000000);
	authfail_record(af, "192.0.2.4", false, 1000000000);
	authfail_record(af, "192.0.2.4", false, 1000000000);
	assert_true(authfail_blocked(af, "192.0.2.4", 1000000000));
	assert_false(authfail_blocked(af, "192.0.2.4", 5));
	assert_int_equal(authfail_delay(af, "192.0.2.4", 5), 0);
	authfail_free(&af);
}

static struct authfail *
shared(int fd, unsigned failures, uint64_t delay)
{
	struct authfail_settings set = { 8, failures, delay, BLOCK, false };

	return authfail_new(&set, fd);
}

/* Fail n times from addr in a child with its own mapping (a worker, another daemon). */
static void
child_fails(int fd, const char *addr, unsigned n, bool want_shared)
{
	struct authfail	*af;
	pid_t		 pid;
	int		 status;
	unsigned	 i;

	if ((pid = fork()) == 0) {
		af = shared(fd, 3, 1000);
		for (i = 0; i < n; i++)
			authfail_record(af, addr, false, ev_clock_ms());
		_exit(authfail_shared(af) == want_shared ? 0 : 1);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/*
 * A process reads the clock before it waits for the shared lock, so it may
 * find an entry another process wrote a few milliseconds "later": that entry
 * is live, not stale and not a free slot.  (Two workers failing at once lost
 * each other's counts this way.)
 */
static void
test_time_written_while_waiting(void **state)
{
	struct authfail	*af = mk(8, 1000, 1, BLOCK);
	uint64_t	 now = 1000000;

	(void)state;
	authfail_record(af, "198.51.100.1", false, now + 5);
	authfail_record(af, "198.51.100.2", false, now);
	authfail_record(af, "198.51.100.1", false, now);
	assert_int_equal(authfail_delay(af, "198.51.100.1", now), 2);
	assert_int_equal(authfail_delay(af, "198.51.100.2", now), 1);
	/* a time from before a reboot is stale: its slot is reused */
	authfail_record(af, "198.51.100.3", false, now + BLOCK * 4);
	assert_int_equal(authfail_delay(af, "198.51.100.3", now), 0);
	authfail_free(&af);
}

static void
test_shared_between_processes(void **state)
{
	char		*dir = tu_mkdtemp(), *path;
	const char	*err = NULL;
	struct authfail	*af, *other;
	pid_t		 pids[2];
	int		 fd, fd2, status, i, j;

	(void)state;
	assert_true(asprintf(&path, "%s/authfail.table", dir) > 0);
	fd = authfail_file_open(path, 64, &err);
	assert_true(fd >= 0);
	af = shared(fd, 3, 1000);
	assert_true(authfail_shared(af));
	child_fails(fd, "192.0.2.1", 3, true);
	assert_int_equal(authfail_delay(af, "192.0.2.1", ev_clock_ms()), 3000);
	assert_true(authfail_blocked(af, "192.0.2.1", ev_clock_ms()));
	assert_false(authfail_blocked(af, "192.0.2.2", ev_clock_ms()));
	/* another daemon opens the file by name: same table, its size kept */
	fd2 = authfail_file_open(path, 9999, &err);
	assert_true(fd2 >= 0);
	other = shared(fd2, 3, 1000);
	assert_true(authfail_blocked(other, "::ffff:192.0.2.1", ev_clock_ms()));
	assert_int_equal(lseek(fd2, 0, SEEK_END), lseek(fd, 0, SEEK_END));
	/* concurrent writers lose no update: the lock */
	for (i = 0; i < 2; i++) {
		if ((pids[i] = fork()) == 0) {
			struct authfail	*w = shared(fd, 1000, 1);

			for (j = 0; j < 400; j++)
				authfail_record(w, i == 0 ? "198.51.100.1" : "198.51.100.2",
				    false, ev_clock_ms());
			_exit(0);
		}
		assert_true(pids[i] > 0);
	}
	for (i = 0; i < 2; i++)
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
	authfail_free(&other);
	other = shared(fd, 1000, 1);
	assert_int_equal(authfail_delay(other, "198.51.100.1", ev_clock_ms()), 400);
	assert_int_equal(authfail_delay(other, "198.51.100.2", ev_clock_ms()), 400);
	authfail_free(&other);
	authfail_free(&af);
	close(fd2);
	close(fd);
	free(path);
	tu_rmdir(&dir);
}

/* The file is bounded: the oldest address is evicted, never the file grown. */
static void
test_shared_eviction(void **state)
{
	char		*dir = tu_mkdtemp(), *path, addr[32];
	const char	*err = NULL;
	struct authfail	*af;
	off_t		 size;
	int		 fd, i;

	(void)state;
	assert_true(asprintf(&path, "%s/t", dir) > 0);
	/* a foreign file at the path is replaced by a table */
	tu_write(dir, "t", "garbage", 7);
	assert_true((fd = authfail_file_open(path, 4, &err)) >= 0);
	af = shared(fd, 100, 1000);
	assert_true(authfail_shared(af));
	size = lseek(fd, 0, SEEK_END);
	for (i = 0; i < 4; i++) {
		snprintf(addr, sizeof(addr), "192.0.2.%d", i);
		authfail_record(af, addr, false, 1000 + (uint64_t)i);
	}
	authfail_record(af, "2001:db8::9", false, 2000);	/* evicts .0 */
	assert_int_equal(authfail_delay(af, "192.0.2.0", 2001), 0);
	assert_int_equal(authfail_delay(af, "192.0.2.1", 2001), 1000);
	assert_int_equal(authfail_delay(af, "2001:db8::9", 2001), 1000);
	for (i = 0; i < 1000; i++) {
		snprintf(addr, sizeof(addr), "10.0.%d.%d", i / 256, i % 256);
		authfail_record(af, addr, false, 3000 + (uint64_t)i);
	}
	assert_int_equal(lseek(fd, 0, SEEK_END), size);
	authfail_free(&af);
	close(fd);
	free(path);
	tu_rmdir(&dir);
}

/* No file: a warning and a table per process, never a crash. */
static void
test_fallback_per_process(void **state)
{
	const char	*err = NULL;
	struct authfail	*af;
	char		*log;
	int		 fd;

	(void)state;
	assert_int_equal(authfail_file_open("/nonexistent/dir/authfail.table", 16, &err), -1);
	assert_non_null(err);
	af = shared(-1, 3, 1000);
	assert_false(authfail_shared(af));
	authfail_record(af, "192.0.2.1", false, ev_clock_ms());
	assert_int_equal(authfail_delay(af, "192.0.2.1", ev_clock_ms()), 1000);
	authfail_free(&af);
	/* a descriptor that cannot be mapped as a table */
	assert_true((fd = open("/dev/null", O_RDWR)) >= 0);
	tu_capture_start();
	af = shared(fd, 3, 1000);
	log = tu_capture_end();
	assert_non_null(strstr(log, "shared=no"));
	free(log);
	assert_false(authfail_shared(af));
	child_fails(fd, "192.0.2.3", 3, false);	/* the child's table is its own */
	assert_int_equal(authfail_delay(af, "192.0.2.3", ev_clock_ms()), 0);
	authfail_record(af, "192.0.2.3", false, ev_clock_ms());
	assert_int_equal(authfail_delay(af, "192.0.2.3", ev_clock_ms()), 1000);
	authfail_free(&af);
	close(fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_delay_grows_and_caps),
		cmocka_unit_test(test_block_and_decay),
		cmocka_unit_test(test_success_clears),
		cmocka_unit_test(test_loopback),
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_bounded_table),
		cmocka_unit_test(test_expiry),
		cmocka_unit_test(test_time_written_while_waiting),
		cmocka_unit_test(test_shared_between_processes),
		cmocka_unit_test(test_shared_eviction),
		cmocka_unit_test(test_fallback_per_process),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
