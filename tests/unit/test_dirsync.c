/*
 * lib/dirsync, the group commit of directory fsyncs: N concurrent commits
 * into one directory cost fewer than N fsyncs, every commit returns only
 * after an fsync that began after its rename, a lone commit syncs at once,
 * a failed fsync fails everyone it covered, directories never share.
 *
 * The fsync is the test's: it numbers its start and end on the same clock
 * as the threads' renames and returns (one atomic counter of events), and
 * sleeps a little so that the others arrive while it runs.
 */
#include "lib/dirsync.h"
#include "tests/unit/store_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#define MAX_SYNCS	256
#define NTHREADS	16

/* What the test's fsync saw, on one clock with the callers' events. */
struct log {
	atomic_uint_fast64_t	 clock;
	pthread_mutex_t		 lock;
	uint64_t		 start[MAX_SYNCS], end[MAX_SYNCS];
	ino_t			 ino[MAX_SYNCS];
	int			 rc[MAX_SYNCS];
	int			 nsyncs;
	int			 fail_first;	/* the first fsync fails with EIO */
	useconds_t		 delay;
};

static uint64_t
tick(struct log *l)
{
	return atomic_fetch_add(&l->clock, 1) + 1;
}

static int
log_fsync(int fd, void *arg)
{
	struct log	*l = arg;
	struct stat	 sb;
	uint64_t	 start = tick(l);
	int		 i, rc;

	usleep(l->delay);
	rc = fsync(fd);
	fstat(fd, &sb);
	pthread_mutex_lock(&l->lock);
	i = l->nsyncs++;
	if (i < MAX_SYNCS) {
		l->start[i] = start;
		l->end[i] = tick(l);
		l->ino[i] = sb.st_ino;
	}
	if (i == 0 && l->fail_first) {
		errno = EIO;
		rc = -1;
	}
	if (i < MAX_SYNCS)
		l->rc[i] = rc;
	pthread_mutex_unlock(&l->lock);
	return rc;
}

struct caller {
	struct dirsync		*ds;
	struct log		*l;
	pthread_barrier_t	*go;
	int			 tmpfd, dirfd;
	char			 name[32];
	uint64_t		 renamed, returned;
	int			 rc, err;
};

/* Publish a file into the directory, then wait for it to be durable. */
static void *
caller_run(void *arg)
{
	struct caller	*c = arg;
	struct stat	 sb;
	int		 fd;

	fd = openat(c->tmpfd, c->name, O_WRONLY | O_CREAT | O_EXCL, 0600);
	close(fd);
	pthread_barrier_wait(c->go);
	c->rc = renameat(c->tmpfd, c->name, c->dirfd, c->name);
	c->renamed = tick(c->l);
	if (c->rc == 0)
		c->rc = fstat(c->dirfd, &sb);
	if (c->rc == 0) {
		c->rc = dirsync_wait(c->ds, c->dirfd, sb.st_dev, sb.st_ino);
		c->err = errno;
	}
	c->returned = tick(c->l);
	return NULL;
}

static int
open_dir(const char *root, const char *sub)
{
	char	 path[4096];
	int	 fd;

	snprintf(path, sizeof(path), "%s/%s", root, sub);
	mkdir(path, 0700);
	assert_true((fd = open(path, O_RDONLY | O_DIRECTORY)) >= 0);
	return fd;
}

/* n callers, caller i into dirs[i % ndirs]; all started together. */
static void
run_callers(struct dirsync *ds, struct log *l, struct caller *c, int n, const int *dirs,
    int ndirs, int tmpfd)
{
	pthread_barrier_t	 go;
	pthread_t		 th[NTHREADS];
	int			 i;

	assert_true(n <= NTHREADS);
	pthread_barrier_init(&go, NULL, (unsigned)n);
	for (i = 0; i < n; i++) {
		c[i] = (struct caller){ .ds = ds, .l = l, .go = &go, .tmpfd = tmpfd,
		    .dirfd = dirs[i % ndirs] };
		snprintf(c[i].name, sizeof(c[i].name), "m%d", i);
		assert_int_equal(pthread_create(&th[i], NULL, caller_run, &c[i]), 0);
	}
	for (i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&go);
}

/* A successful fsync of c's directory began after its rename and ended before it returned. */
static void
assert_covered(const struct log *l, const struct caller *c, ino_t ino)
{
	int	 i;

	for (i = 0; i < l->nsyncs && i < MAX_SYNCS; i++)
		if (l->ino[i] == ino && l->rc[i] == 0 && l->start[i] > c->renamed &&
		    l->end[i] < c->returned)
			return;
	fail_msg("%s returned at %llu without an fsync begun after its rename at %llu",
	    c->name, (unsigned long long)c->returned, (unsigned long long)c->renamed);
}

static ino_t
inode(int fd)
{
	struct stat	 sb;

	assert_int_equal(fstat(fd, &sb), 0);
	return sb.st_ino;
}

/* A throw-away root with tmp/ and the directories named; a group over the test's fsync. */
struct fx {
	char		*root;
	int		 tmp, dirs[2];
	struct log	 l;
	struct dirsync	*ds;
};

static void
fx_init(struct fx *f, int ndirs, useconds_t delay)
{
	static const char	*names[] = { "new", "cur" };
	int			 i;

	f->root = fx_tmpdir("dirsync");
	f->tmp = open_dir(f->root, "tmp");
	for (i = 0; i < 2; i++)
		f->dirs[i] = i < ndirs ? open_dir(f->root, names[i]) : -1;
	memset(&f->l, 0, sizeof(f->l));
	pthread_mutex_init(&f->l.lock, NULL);
	f->l.delay = delay;
	f->ds = dirsync_new(log_fsync, &f->l);
}

static void
fx_done(struct fx *f)
{
	int	 i;

	dirsync_free(&f->ds);
	assert_null(f->ds);
	close(f->tmp);
	for (i = 0; i < 2; i++)
		if (f->dirs[i] != -1)
			close(f->dirs[i]);
	pthread_mutex_destroy(&f->l.lock);
	fx_rmtree(f->root);
	free(f->root);
}

static void
test_concurrent_commits_share_fsyncs(void **state)
{
	struct caller	 c[NTHREADS];
	struct fx	 f;
	int		 i;

	(void)state;
	fx_init(&f, 1, 20000);
	run_callers(f.ds, &f.l, c, NTHREADS, f.dirs, 1, f.tmp);
	for (i = 0; i < NTHREADS; i++) {
		assert_int_equal(c[i].rc, 0);
		assert_covered(&f.l, &c[i], inode(f.dirs[0]));
	}
	/* The first fsync runs 20 ms: the others arrive meanwhile and share the next. */
	assert_true(f.l.nsyncs >= 1);
	assert_true(f.l.nsyncs < NTHREADS);
	fx_done(&f);
}

static void
test_lone_commit_syncs_alone(void **state)
{
	struct caller	 c[1];
	struct fx	 f;
	int		 round;

	(void)state;
	fx_init(&f, 1, 0);
	/* One at a time: each pays its own fsync, nobody waits for another. */
	for (round = 0; round < 3; round++) {
		run_callers(f.ds, &f.l, c, 1, f.dirs, 1, f.tmp);
		assert_int_equal(c[0].rc, 0);
		assert_int_equal(f.l.nsyncs, round + 1);
		assert_covered(&f.l, &c[0], inode(f.dirs[0]));
		assert_int_equal(unlinkat(f.dirs[0], "m0", 0), 0);
	}
	fx_done(&f);
}

static void
test_directories_never_share(void **state)
{
	struct caller	 c[NTHREADS];
	struct fx	 f;
	int		 i, j, per[2] = { 0, 0 };

	(void)state;
	fx_init(&f, 2, 10000);
	run_callers(f.ds, &f.l, c, NTHREADS, f.dirs, 2, f.tmp);
	for (i = 0; i < NTHREADS; i++) {
		assert_int_equal(c[i].rc, 0);
		assert_covered(&f.l, &c[i], inode(f.dirs[i % 2]));
	}
	for (i = 0; i < f.l.nsyncs; i++)
		for (j = 0; j < 2; j++)
			per[j] += f.l.ino[i] == inode(f.dirs[j]);
	assert_true(per[0] >= 1 && per[1] >= 1);
	assert_int_equal(per[0] + per[1], f.l.nsyncs);
	fx_done(&f);
}

static void
test_failed_fsync_fails_whom_it_covered(void **state)
{
	struct caller	 c[NTHREADS];
	struct fx	 f;
	int		 i, failed = 0;

	(void)state;
	fx_init(&f, 1, 20000);
	f.l.fail_first = 1;
	run_callers(f.ds, &f.l, c, NTHREADS, f.dirs, 1, f.tmp);
	/* Whoever says durable was covered by a successful fsync; the first one's leader was not. */
	for (i = 0; i < NTHREADS; i++) {
		if (c[i].rc == 0) {
			assert_covered(&f.l, &c[i], inode(f.dirs[0]));
			continue;
		}
		assert_int_equal(c[i].err, EIO);
		failed++;
	}
	assert_true(failed >= 1);
	/* A later commit is not held to the old failure. */
	for (i = 0; i < NTHREADS; i++)
		assert_int_equal(unlinkat(f.dirs[0], c[i].name, 0), 0);
	run_callers(f.ds, &f.l, c, 1, f.dirs, 1, f.tmp);
	assert_int_equal(c[0].rc, 0);
	assert_covered(&f.l, &c[0], inode(f.dirs[0]));
	fx_done(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_concurrent_commits_share_fsyncs),
		cmocka_unit_test(test_lone_commit_syncs_alone),
		cmocka_unit_test(test_directories_never_share),
		cmocka_unit_test(test_failed_fsync_fails_whom_it_covered),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
