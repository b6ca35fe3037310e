/* lib/commit: the durable-commit path, its fsync count, unique names, concurrent commits. */
#include "lib/commit.h"
#include "store/store.h"
#include "tests/unit/store_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <pthread.h>
#include <errno.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

static int
open_dir(const char *root, const char *sub)
{
	char	 path[4096];
	int	 fd;

	snprintf(path, sizeof(path), "%s/%s", root, sub);
	mkdir(path, 0700);
	fd = open(path, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	return fd;
}

/* A scratch root with tmp/, a/ and b/ open. */
struct dirs {
	char	*root;
	int	 tmp, a, b;
};

static void
dirs_open(struct dirs *d)
{
	d->root = fx_tmpdir("commit");
	d->tmp = open_dir(d->root, "tmp");
	d->a = open_dir(d->root, "a");
	d->b = open_dir(d->root, "b");
}

static void
dirs_close(struct dirs *d)
{
	close(d->tmp);
	close(d->a);
	close(d->b);
	fx_rmtree(d->root);
	free(d->root);
}

static void
test_add_commit_counts_fsyncs(void **state)
{
	struct commit_txn	 t;
	struct iovec		 iov[2] = { { "hello ", 6 }, { "world\n", 6 } };
	char			*root = fx_tmpdir("commit"), path[4096], buf[32];
	uint64_t		 before;
	int			 tmp, dst, fd;

	(void)state;
	commit_fsync_enable(1);
	tmp = open_dir(root, "tmp");
	dst = open_dir(root, "new");
	commit_txn_init(&t);
	before = commit_fsync_count();
	assert_int_equal(commit_txn_add(&t, tmp, dst, "a", iov, 2), 0);
	assert_int_equal(commit_txn_add(&t, tmp, dst, "b", iov, 1), 0);
	/* one file fsync each, nothing for the directory yet */
	assert_int_equal(commit_fsync_count() - before, 2);
	assert_int_equal(commit_txn_commit(&t), 0);
	/* the directory was touched twice but is fsynced once */
	assert_int_equal(commit_fsync_count() - before, 3);
	snprintf(path, sizeof(path), "%s/new/a", root);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), 12);
	assert_memory_equal(buf, "hello world\n", 12);
	close(fd);
	snprintf(path, sizeof(path), "%s/tmp", root);
	assert_int_equal(fx_count(path), 0);	/* nothing left behind */
	close(tmp);
	close(dst);
	fx_rmtree(root);
	free(root);
}

static void
test_add_existing_name_fails_cleanly(void **state)
{
	struct commit_txn	 t;
	struct iovec		 iov = { "x", 1 };
	char			*root = fx_tmpdir("commit"), path[4096];
	int			 tmp, dst, fd;

	(void)state;
	tmp = open_dir(root, "tmp");
	dst = open_dir(root, "new");
	snprintf(path, sizeof(path), "%s/tmp/dup", root);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	close(fd);
	commit_txn_init(&t);
	assert_int_equal(commit_txn_add(&t, tmp, dst, "dup", &iov, 1), -1);
	assert_non_null(strstr(commit_txn_error(&t), "create dup"));
	commit_txn_abort(&t);
	snprintf(path, sizeof(path), "%s/new", root);
	assert_int_equal(fx_count(path), 0);
	close(tmp);
	close(dst);
	fx_rmtree(root);
	free(root);
}

static void
test_link_rename_unlink_replace(void **state)
{
	struct commit_txn	 t;
	struct iovec		 iov = { "data", 4 };
	struct dirs		 d;
	char			 path[4096];
	uint64_t		 before;

	(void)state;
	commit_fsync_enable(1);
	dirs_open(&d);
	commit_txn_init(&t);
	assert_int_equal(commit_txn_add(&t, d.tmp, d.a, "m", &iov, 1), 0);
	assert_int_equal(commit_txn_link(&t, d.a, "m", d.b, "m2"), 0);
	assert_int_equal(commit_txn_rename(&t, d.a, "m", d.a, "m3"), 0);
	before = commit_fsync_count();
	assert_int_equal(commit_txn_commit(&t), 0);
	assert_int_equal(commit_fsync_count() - before, 2);	/* a/ and b/ once each */
	commit_txn_init(&t);
	assert_int_equal(commit_txn_unlink(&t, d.b, "m2"), 0);
	assert_int_equal(commit_txn_unlink(&t, d.b, "m2"), -1);	/* gone already */
	assert_int_equal(commit_txn_replace(&t, d.tmp, d.a, "side", &iov, 1), 0);
	assert_int_equal(commit_txn_replace(&t, d.tmp, d.a, "side", &iov, 1), 0);
	assert_int_equal(commit_txn_commit(&t), 0);
	snprintf(path, sizeof(path), "%s/a", d.root);
	assert_int_equal(fx_count(path), 2);	/* m3 and side */
	snprintf(path, sizeof(path), "%s/tmp", d.root);
	assert_int_equal(fx_count(path), 0);
	dirs_close(&d);
}

/*
 * A rename between noted directories: the same fsyncs at commit, and a
 * descriptor not noted is refused.  A directory opened on the number of
 * one noted and closed is noted anew (the number says nothing).
 */
static void
test_rename_noted(void **state)
{
	struct commit_txn	 t;
	struct iovec		 iov = { "data", 4 };
	struct dirs		 d;
	char			 path[4096];
	uint64_t		 before;
	int			 reused;

	(void)state;
	commit_fsync_enable(1);
	dirs_open(&d);
	commit_txn_init(&t);
	assert_int_equal(commit_txn_add(&t, d.tmp, d.a, "m", &iov, 1), 0);
	assert_int_equal(commit_txn_rename_noted(&t, d.a, "m", d.b, "m"), -1);	/* b/ not noted */
	assert_non_null(strstr(commit_txn_error(&t), "not noted"));
	assert_int_equal(commit_txn_rename_noted(&t, d.a, "m", d.a, "m2"), 0);
	before = commit_fsync_count();
	assert_int_equal(commit_txn_commit(&t), 0);
	assert_int_equal(commit_fsync_count() - before, 1);	/* a/ */
	snprintf(path, sizeof(path), "%s/a/m2", d.root);
	assert_int_equal(access(path, F_OK), 0);

	commit_txn_init(&t);
	assert_int_equal(commit_txn_note_dir(&t, d.a), 0);
	close(d.a);
	reused = open_dir(d.root, "c");
	assert_int_equal(reused, d.a);
	assert_int_equal(commit_txn_note_dir(&t, reused), 0);
	assert_int_equal(t.ndirs, 2);
	commit_txn_abort(&t);
	dirs_close(&d);
}

static void
test_fsync_disabled_is_not_counted(void **state)
{
	uint64_t	 before = commit_fsync_count();
	int		 fd = open("/", O_RDONLY | O_DIRECTORY);

	(void)state;
	commit_fsync_enable(0);
	assert_int_equal(commit_fsync(fd), 0);
	assert_int_equal(commit_fsync_count(), before);
	commit_fsync_enable(1);
	assert_int_equal(commit_fsync(fd), 0);
	assert_int_equal(commit_fsync_count(), before + 1);
	close(fd);
}

static void
test_unique_names_differ(void **state)
{
	char	 a[128], b[128];

	(void)state;
	commit_unique_name(a, sizeof(a));
	commit_unique_name(b, sizeof(b));
	assert_string_not_equal(a, b);
	assert_null(strchr(a, '/'));
	assert_null(strchr(a, ':'));
	assert_null(strchr(a, ','));
	assert_non_null(strstr(a, ".M"));
}

static size_t
read_file(const char *root, const char *name, char *buf, size_t size)
{
	char	 path[4096];
	ssize_t	 n;
	size_t	 off = 0;
	int	 fd;

	snprintf(path, sizeof(path), "%s/%s", root, name);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	while ((n = read(fd, buf + off, size - off)) > 0)
		off += (size_t)n;
	close(fd);
	return off;
}

/* Chunks small and large, across the buffer's size: one file, in order. */
static void
test_streamed_write_commit(void **state)
{
	static char		 big[200 * 1024], back[sizeof(big) + 64];
	struct commit_file	*f;
	struct commit_txn	 t;
	const char		*error;
	struct dirs		 d;
	char			 path[4096];
	uint64_t		 before;
	size_t			 i, off;

	(void)state;
	commit_fsync_enable(1);
	for (i = 0; i < sizeof(big); i++)
		big[i] = (char)('a' + i % 26);
	dirs_open(&d);
	assert_non_null(f = commit_file_open(d.tmp, NULL, 0, &error));
	assert_non_null(strstr(commit_file_name(f), ".M"));	/* a unique name */
	for (off = 0, i = 1; off < sizeof(big); off += i, i = i * 3 + 1)
		assert_int_equal(commit_file_write(f, big + off,
		    i < sizeof(big) - off ? i : sizeof(big) - off, &error), 0);
	snprintf(path, sizeof(path), "%s/a", d.root);
	assert_int_equal(fx_count(path), 0);		/* nothing visible yet */
	before = commit_fsync_count();
	commit_txn_init(&t);
	assert_int_equal(commit_file_link(f, &t, d.b, "m", &error), 0);
	assert_int_equal(commit_file_commit(&f, &t, d.a, "m", &error), 0);
	assert_null(f);
	assert_int_equal(commit_fsync_count() - before, 1);	/* the file, once */
	assert_int_equal(commit_txn_commit(&t), 0);
	assert_int_equal(commit_fsync_count() - before, 3);	/* and a/, b/ */
	assert_int_equal(read_file(d.root, "a/m", back, sizeof(back)), sizeof(big));
	assert_memory_equal(back, big, sizeof(big));
	assert_int_equal(read_file(d.root, "b/m", back, sizeof(back)), sizeof(big));
	snprintf(path, sizeof(path), "%s/tmp", d.root);
	assert_int_equal(fx_count(path), 0);
	dirs_close(&d);
}

/* Abort before or after finish, or a commit that fails: nothing is left. */
static void
test_abort_leaves_nothing(void **state)
{
	struct commit_file	*f;
	struct commit_txn	 t;
	const char		*error;
	char			*root = fx_tmpdir("commit"), path[4096];
	int			 tmp, dst;

	(void)state;
	tmp = open_dir(root, "tmp");
	dst = open_dir(root, "new");
	snprintf(path, sizeof(path), "%s/tmp", root);
	assert_non_null(f = commit_file_open(tmp, "x", 0, &error));
	assert_int_equal(commit_file_write(f, "data", 4, &error), 0);
	assert_int_equal(fx_count(path), 1);
	commit_file_abort(&f);
	assert_null(f);
	assert_int_equal(fx_count(path), 0);
	assert_non_null(f = commit_file_open(tmp, "x", 0, &error));
	assert_int_equal(commit_file_finish(f, &error), 0);
	assert_int_equal(commit_file_write(f, "late", 4, &error), -1);	/* a bug: refused */
	assert_int_equal(errno, EBADF);
	commit_file_abort(&f);
	assert_int_equal(fx_count(path), 0);
	commit_file_abort(&f);				/* NULL is fine */
	/* The destination name is a directory: rename fails, tmp/ is cleaned. */
	snprintf(path, sizeof(path), "%s/new/taken", root);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_non_null(f = commit_file_open(tmp, "y", 0, &error));
	commit_txn_init(&t);
	assert_int_equal(commit_file_commit(&f, &t, dst, "taken", &error), -1);
	assert_null(f);
	assert_non_null(strstr(error, "rename y: "));
	commit_txn_abort(&t);
	snprintf(path, sizeof(path), "%s/tmp", root);
	assert_int_equal(fx_count(path), 0);
	close(tmp);
	close(dst);
	fx_rmtree(root);
	free(root);
}

/* A write the file system refuses (here RLIMIT_FSIZE): errno's text, and it sticks. */
static void
test_failing_write_reports_errno(void **state)
{
	static char		 big[100 * 1024];
	struct commit_file	*f;
	struct commit_txn	 t;
	struct rlimit		 old, small;
	const char		*error;
	char			*root = fx_tmpdir("commit"), path[4096];
	int			 tmp, dst;

	(void)state;
	tmp = open_dir(root, "tmp");
	dst = open_dir(root, "new");
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	small = old;
	small.rlim_cur = 4096;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
	assert_non_null(f = commit_file_open(tmp, "big", 0, &error));
	assert_int_equal(commit_file_write(f, big, sizeof(big), &error), -1);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	assert_string_equal(error, "write big: File too large");
	/* Sticky: later writes and the commit report it again. */
	assert_int_equal(commit_file_write(f, "x", 1, &error), -1);
	assert_int_equal(errno, EFBIG);
	commit_txn_init(&t);
	assert_int_equal(commit_file_commit(&f, &t, dst, "big", &error), -1);
	assert_int_equal(errno, EFBIG);
	assert_string_equal(error, "write big: File too large");
	commit_txn_abort(&t);
	snprintf(path, sizeof(path), "%s/tmp", root);
	assert_int_equal(fx_count(path), 0);
	snprintf(path, sizeof(path), "%s/new", root);
	assert_int_equal(fx_count(path), 0);
	close(tmp);
	close(dst);
	fx_rmtree(root);
	free(root);
}

/* store.fsync = no skips mail's fsyncs, never those of a COMMIT_SYNC_ALWAYS file. */
static void
test_sync_always_counts_when_disabled(void **state)
{
	struct commit_file	*f;
	struct commit_txn	 t;
	const char		*error;
	char			*root = fx_tmpdir("commit");
	uint64_t		 before;
	int			 tmp, dst;

	(void)state;
	tmp = open_dir(root, "tmp");
	dst = open_dir(root, "conf");
	commit_fsync_enable(0);
	before = commit_fsync_count();
	assert_non_null(f = commit_file_open(tmp, "mail", 0, &error));
	commit_txn_init(&t);
	assert_int_equal(commit_file_commit(&f, &t, dst, "mail", &error), 0);
	assert_int_equal(commit_txn_commit(&t), 0);
	assert_int_equal(commit_fsync_count(), before);
	assert_non_null(f = commit_file_open(tmp, "passwd", COMMIT_SYNC_ALWAYS, &error));
	assert_int_equal(commit_file_write(f, "alice\n", 6, &error), 0);
	commit_txn_init(&t);
	assert_int_equal(commit_file_commit(&f, &t, dst, "passwd", &error), 0);
	assert_int_equal(commit_txn_commit(&t), 0);
	assert_int_equal(commit_fsync_count() - before, 2);	/* file and directory */
	commit_fsync_enable(1);
	close(tmp);
	close(dst);
	fx_rmtree(root);
	free(root);
}

#define NCOMMITTERS	8

struct committer {
	pthread_barrier_t	*go;
	int			 tmp, dst;
	char			 name[16];
	int			 rc;
};

static void *
committer_run(void *arg)
{
	struct committer	*c = arg;
	struct commit_txn	 t;
	struct iovec		 iov = { c->name, strlen(c->name) };

	commit_txn_init(&t);
	pthread_barrier_wait(c->go);
	c->rc = commit_txn_add(&t, c->tmp, c->dst, c->name, &iov, 1);
	if (c->rc == 0)
		c->rc = commit_txn_commit(&t);
	else
		commit_txn_abort(&t);
	return NULL;
}

/*
 * Concurrent commits into one directory through the real path: each file
 * is there, each paid its own file fsync, and the directory fsyncs are at
 * most one each (shared when they overlap: how many is up to the timing,
 * test_dirsync pins that down with a slow fsync).
 */
static void
test_concurrent_commits_one_directory(void **state)
{
	struct committer	 c[NCOMMITTERS];
	pthread_t		 th[NCOMMITTERS];
	pthread_barrier_t	 go;
	char			*root = fx_tmpdir("commit"), path[4096];
	uint64_t		 before, n;
	int			 tmp, dst, i;

	(void)state;
	commit_fsync_enable(1);
	tmp = open_dir(root, "tmp");
	dst = open_dir(root, "new");
	pthread_barrier_init(&go, NULL, NCOMMITTERS);
	before = commit_fsync_count();
	for (i = 0; i < NCOMMITTERS; i++) {
		c[i] = (struct committer){ .go = &go, .tmp = tmp, .dst = dst };
		snprintf(c[i].name, sizeof(c[i].name), "m%d", i);
		assert_int_equal(pthread_create(&th[i], NULL, committer_run, &c[i]), 0);
	}
	for (i = 0; i < NCOMMITTERS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(c[i].rc, 0);
		snprintf(path, sizeof(path), "%s/new/%s", root, c[i].name);
		assert_int_equal(access(path, F_OK), 0);
	}
	n = commit_fsync_count() - before;
	assert_true(n >= NCOMMITTERS + 1 && n <= 2 * NCOMMITTERS);
	pthread_barrier_destroy(&go);
	close(tmp);
	close(dst);
	fx_rmtree(root);
	free(root);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_commit_counts_fsyncs),
		cmocka_unit_test(test_add_existing_name_fails_cleanly),
		cmocka_unit_test(test_link_rename_unlink_replace),
		cmocka_unit_test(test_rename_noted),
		cmocka_unit_test(test_fsync_disabled_is_not_counted),
		cmocka_unit_test(test_unique_names_differ),
		cmocka_unit_test(test_streamed_write_commit),
		cmocka_unit_test(test_abort_leaves_nothing),
		cmocka_unit_test(test_failing_write_reports_errno),
		cmocka_unit_test(test_sync_always_counts_when_disabled),
		cmocka_unit_test(test_concurrent_commits_one_directory),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
