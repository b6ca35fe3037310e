/*
 * lib/passcache.c: a verified login is found again, a wrong password or a
 * changed hash is not, entries age out by the ttl in force, a full bucket
 * evicts its oldest, the workers forked after it share it, and
 * directory_authenticate() remembers matches only.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "lib/directory.h"
#include "lib/passcache.h"
#include "lib/xmalloc.h"
#include "mail/address.h"
#include "tests/unit/config_testutil.h"

#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char	 hash1[] = "{CRYPT}$y$j9T$salt1$aaaa";
static const char	 hash2[] = "{CRYPT}$y$j9T$salt2$bbbb";

static void
sleep_ms(long ms)
{
	struct timespec	 ts = { ms / 1000, ms % 1000 * 1000000 };

	nanosleep(&ts, NULL);
}

static void
test_match_only(void **state)
{
	struct passcache	*pc = passcache_new(100);

	(void)state;
	passcache_set_ttl(pc, 3600 * 1000);
	assert_false(passcache_hit(pc, hash1, "secret"));
	passcache_add(pc, hash1, "secret");
	assert_true(passcache_hit(pc, hash1, "secret"));
	assert_false(passcache_hit(pc, hash1, "secreT"));
	assert_false(passcache_hit(pc, hash1, ""));
	/* A new password is a new stored hash: the old entry answers for nothing. */
	assert_false(passcache_hit(pc, hash2, "secret"));
	passcache_add(pc, hash2, "other");
	assert_true(passcache_hit(pc, hash2, "other"));
	assert_true(passcache_hit(pc, hash1, "secret"));
	/* The same hash again: its entry is replaced. */
	passcache_add(pc, hash1, "new");
	assert_true(passcache_hit(pc, hash1, "new"));
	assert_false(passcache_hit(pc, hash1, "secret"));
	passcache_free(&pc);
	assert_null(pc);
	assert_false(passcache_hit(NULL, hash1, "secret"));
	passcache_add(NULL, hash1, "secret");
	assert_null(passcache_new(0));
}

static void
test_ttl(void **state)
{
	struct passcache	*pc = passcache_new(100);

	(void)state;
	passcache_add(pc, hash1, "secret");		/* no ttl set yet: nothing kept */
	passcache_set_ttl(pc, 3600 * 1000);
	assert_false(passcache_hit(pc, hash1, "secret"));
	passcache_add(pc, hash1, "secret");
	assert_true(passcache_hit(pc, hash1, "secret"));
	passcache_add(pc, hash2, "other");
	/* A reload shortening the ttl forgets what is older: a longer one later does not bring it back. */
	sleep_ms(30);
	passcache_add(pc, hash2, "other");
	passcache_set_ttl(pc, 20);
	assert_false(passcache_hit(pc, hash1, "secret"));
	assert_true(passcache_hit(pc, hash2, "other"));
	passcache_set_ttl(pc, 3600 * 1000);
	assert_false(passcache_hit(pc, hash1, "secret"));
	assert_true(passcache_hit(pc, hash2, "other"));
	/* 0: nothing is remembered, and nothing comes back. */
	passcache_set_ttl(pc, 0);
	assert_false(passcache_hit(pc, hash2, "other"));
	passcache_set_ttl(pc, 3600 * 1000);
	assert_false(passcache_hit(pc, hash2, "other"));
	passcache_free(&pc);
}

/* One bucket of four: a fifth hash takes the place of the first. */
static void
test_full_bucket_evicts_the_oldest(void **state)
{
	struct passcache	*pc = passcache_new(4);
	char			 h[5][32];
	int			 i, kept = 0;

	(void)state;
	passcache_set_ttl(pc, 3600 * 1000);
	for (i = 0; i < 5; i++) {
		snprintf(h[i], sizeof(h[i]), "{CRYPT}$y$j9T$s%d$h", i);
		passcache_add(pc, h[i], "pw");
		sleep_ms(2);		/* each added at a later ms */
	}
	assert_false(passcache_hit(pc, h[0], "pw"));
	for (i = 1; i < 5; i++)
		kept += passcache_hit(pc, h[i], "pw");
	assert_int_equal(kept, 4);
	passcache_free(&pc);
}

/* What one worker verified, its siblings find: the table is made before the fork. */
static void
test_shared_with_forked_workers(void **state)
{
	struct passcache	*pc = passcache_new(100);
	pid_t			 pid;
	int			 status;

	(void)state;
	passcache_set_ttl(pc, 3600 * 1000);
	if ((pid = fork()) == 0) {
		passcache_add(pc, hash1, "secret");
		_exit(passcache_hit(pc, hash2, "secret") ? 1 : 0);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_true(passcache_hit(pc, hash1, "secret"));
	passcache_free(&pc);
}

static void
test_directory_remembers_matches_only(void **state)
{
	struct passcache	*pc = passcache_new(100);
	struct directory	*d;
	const struct dir_user	*u;
	const char		*err = NULL;
	char			*dir = tu_mkdtemp(), *hash = password_hash("secret1");
	char			*line = xasprintf("alice@example.com:%s::::::\n", hash);

	(void)state;
	passcache_set_ttl(pc, 3600 * 1000);
	tu_write(dir, "domains", "example.com\n", 12);
	tu_write(dir, "passwd", line, strlen(line));
	d = directory_load(dir, &address_user_syntax, &err);
	assert_non_null(d);
	u = directory_user(d, "alice@example.com");
	assert_non_null(u);
	assert_null(directory_authenticate(d, "alice@example.com", "wrong", pc));
	assert_false(passcache_hit(pc, u->password, "wrong"));
	assert_false(passcache_hit(pc, u->password, "secret1"));
	assert_ptr_equal(directory_authenticate(d, "Alice@example.com", "secret1", pc), u);
	assert_true(passcache_hit(pc, u->password, "secret1"));
	assert_ptr_equal(directory_authenticate(d, "alice@example.com", "secret1", pc), u);
	assert_null(directory_authenticate(d, "alice@example.com", "wrong", pc));
	assert_null(directory_authenticate(d, "nobody@example.com", "secret1", pc));
	directory_free(&d);
	/* mailctl passwd: a new hash, which the old password's entry does not answer for. */
	free(line);
	free(hash);
	hash = password_hash("secret2");
	line = xasprintf("alice@example.com:%s::::::\n", hash);
	tu_write(dir, "passwd", line, strlen(line));
	d = directory_load(dir, &address_user_syntax, &err);
	assert_non_null(d);
	assert_null(directory_authenticate(d, "alice@example.com", "secret1", pc));
	assert_non_null(directory_authenticate(d, "alice@example.com", "secret2", pc));
	assert_true(passcache_hit(pc, directory_user(d, "alice@example.com")->password, "secret2"));
	directory_free(&d);
	tu_rmdir(&dir);
	free(line);
	free(hash);
	passcache_free(&pc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match_only),
		cmocka_unit_test(test_ttl),
		cmocka_unit_test(test_full_bucket_evicts_the_oldest),
		cmocka_unit_test(test_shared_with_forked_workers),
		cmocka_unit_test(test_directory_remembers_matches_only),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
