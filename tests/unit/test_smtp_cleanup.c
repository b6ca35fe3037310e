/*
 * smtpd/smtp_cleanup: only this host's Maildir tmp/ files whose writer is
 * dead are removed; a live writer's, another host's and foreign names stay.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "smtpd/smtp_cleanup.h"
#include "lib/commit.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void
touch(const char *dir, const char *name)
{
	char	 path[1024];
	int	 fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	assert_true(fd != -1);
	close(fd);
}

static bool
exists(const char *dir, const char *name)
{
	char	 path[1024];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

static void
test_cleanup(void **state)
{
	char	 root[] = "/tmp/test_cleanup.XXXXXX", tmp[256], cmd[300], name[256], dead[300],
		 live[300], other[300], host[200];
	const char *h;

	(void)state;
	assert_non_null(mkdtemp(root));
	snprintf(tmp, sizeof(tmp), "%s/example.test/alice/Maildir/tmp", root);
	snprintf(cmd, sizeof(cmd), "mkdir -p %s %s/example.test/bob", tmp, root);
	assert_int_equal(system(cmd), 0);
	commit_unique_name(name, sizeof(name));
	h = strchr(strchr(name, 'Q'), '.') + 1;
	snprintf(host, sizeof(host), "%s", h);
	/* pid 4194305 is above the default pid_max: never alive.  pid 1 always is. */
	snprintf(dead, sizeof(dead), "1795000000.M1P4194305Q1.%s", host);
	snprintf(live, sizeof(live), "1795000000.M1P1Q2.%s", host);
	snprintf(other, sizeof(other), "1795000000.M1P4194305Q3.%s-elsewhere", host);
	touch(tmp, dead);
	touch(tmp, live);
	touch(tmp, other);
	touch(tmp, "foreign-file");
	assert_int_equal(smtp_cleanup_maildirs(root), 1);
	assert_false(exists(tmp, dead));
	assert_true(exists(tmp, live));
	assert_true(exists(tmp, other));
	assert_true(exists(tmp, "foreign-file"));
	assert_int_equal(smtp_cleanup_maildirs(root), 0);
	assert_int_equal(smtp_cleanup_maildirs("/nonexistent/mail"), 0);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	assert_int_equal(system(cmd), 0);
}

/* A symlink planted in the mail tree (a user dir, a Maildir, a tmp/) is not followed. */
static void
test_cleanup_follows_no_symlink(void **state)
{
	static const char	*links[] = { "example.test/carol", "example.test/dave/Maildir",
	    "example.test/erin/Maildir/tmp" };
	char	 root[] = "/tmp/test_cleanup.XXXXXX", victim[] = "/tmp/test_victim.XXXXXX";
	char	 cmd[600], name[256], dead[300], vtmp[300], link[300];
	size_t	 i;

	(void)state;
	assert_non_null(mkdtemp(root));
	assert_non_null(mkdtemp(victim));
	/* Every link points at victim: a user dir, a Maildir and a tmp/ at once. */
	snprintf(cmd, sizeof(cmd), "mkdir -p %s/Maildir/tmp %s/tmp %s/example.test/dave "
	    "%s/example.test/erin/Maildir", victim, victim, root, root);
	assert_int_equal(system(cmd), 0);
	commit_unique_name(name, sizeof(name));
	snprintf(dead, sizeof(dead), "1795000000.M1P4194305Q1.%s",
	    strchr(strchr(name, 'Q'), '.') + 1);
	touch(victim, dead);
	snprintf(vtmp, sizeof(vtmp), "%s/tmp", victim);
	touch(vtmp, dead);
	snprintf(vtmp, sizeof(vtmp), "%s/Maildir/tmp", victim);
	touch(vtmp, dead);
	for (i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		snprintf(link, sizeof(link), "%s/%s", root, links[i]);
		assert_int_equal(symlink(victim, link), 0);
	}
	assert_int_equal(smtp_cleanup_maildirs(root), 0);
	assert_true(exists(victim, dead));
	snprintf(vtmp, sizeof(vtmp), "%s/tmp", victim);
	assert_true(exists(vtmp, dead));
	snprintf(vtmp, sizeof(vtmp), "%s/Maildir/tmp", victim);
	assert_true(exists(vtmp, dead));
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", root, victim);
	assert_int_equal(system(cmd), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cleanup),
		cmocka_unit_test(test_cleanup_follows_no_symlink),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
