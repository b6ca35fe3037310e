/*
 * The one durable-commit path.  A file becomes visible only by rename or
 * link after its data was fsynced; every directory whose entries changed
 * is fsynced once, at commit.
 */
#include "lib/commit.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

static _Atomic uint64_t	fsync_count;
static atomic_int	fsync_on = 1;
static atomic_uint	name_counter;

static int
txn_fail(struct commit_txn *t, const char *what, const char *name)
{
	int	 saved = errno;

	snprintf(t->error, sizeof(t->error), "%s %s: %s", what, name,
	    strerror(saved));
	errno = saved;
	return -1;
}

void
commit_txn_init(struct commit_txn *t)
{
	t->ndirs = 0;
	t->error[0] = '\0';
}

int
commit_fsync(int fd)
{
	if (!atomic_load(&fsync_on))
		return 0;
	atomic_fetch_add(&fsync_count, 1);
	return fsync(fd);
}

void
commit_fsync_enable(int on)
{
	atomic_store(&fsync_on, on != 0);
}

uint64_t
commit_fsync_count(void)
{
	return atomic_load(&fsync_count);
}

static char		unique_host[64];
static pthread_once_t	unique_once = PTHREAD_ONCE_INIT;

static void
unique_host_init(void)
{
	size_t	 i;

	if (gethostname(unique_host, sizeof(unique_host) - 1) == -1)
		strcpy(unique_host, "localhost");
	unique_host[sizeof(unique_host) - 1] = '\0';
	/* '/' and ':' would break the name; ',' starts a field. */
	for (i = 0; unique_host[i] != '\0'; i++)
		if (unique_host[i] == '/' || unique_host[i] == ':' || unique_host[i] == ',')
			unique_host[i] = '_';
}

void
commit_unique_name(char *out, size_t outsize)
{
	struct timeval	 tv;

	pthread_once(&unique_once, unique_host_init);	/* delivery runs on workq threads */
	gettimeofday(&tv, NULL);
	snprintf(out, outsize, "%lld.M%06ldP%ldQ%u.%s", (long long)tv.tv_sec,
	    (long)tv.tv_usec, (long)getpid(),
	    atomic_fetch_add(&name_counter, 1) + 1, unique_host);
}

int
commit_txn_note_dir(struct commit_txn *t, int dirfd)
{
	struct stat	 sb, other;
	int		 i, fd;

	if (fstat(dirfd, &sb) == -1)
		return txn_fail(t, "fstat", "directory");
	for (i = 0; i < t->ndirs; i++) {
		if (fstat(t->dirfds[i], &other) == 0 &&
		    other.st_dev == sb.st_dev && other.st_ino == sb.st_ino)
			return 0;
	}
	if (t->ndirs == COMMIT_MAX_DIRS) {
		errno = E2BIG;
		return txn_fail(t, "note", "directory");
	}
	if ((fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0)) == -1)
		return txn_fail(t, "dup", "directory");
	t->dirfds[t->ndirs++] = fd;
	return 0;
}

static int
write_all(int fd, const struct iovec *iov, int iovcnt)
{
	const char	*p;
	size_t		 left;
	ssize_t		 n;
	int		 i;

	for (i = 0; i < iovcnt; i++) {
		p = iov[i].iov_base;
		left = iov[i].iov_len;
		while (left > 0) {
			n = write(fd, p, left);
			if (n == -1 && errno == EINTR)
				continue;
			if (n == -1)
				return -1;
			p += n;
			left -= (size_t)n;
		}
	}
	return 0;
}

/* Create dir/name (O_EXCL), write iov, fsync, close; removed again on failure. */
static int
write_file(struct commit_txn *t, int dir, const char *name, const struct iovec *iov,
    int iovcnt, time_t mtime)
{
	struct timespec	 ts[2];
	int		 fd;

	fd = openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd == -1)
		return txn_fail(t, "create", name);
	if (write_all(fd, iov, iovcnt) == -1) {
		txn_fail(t, "write", name);
		goto fail;
	}
	if (mtime != 0) {
		ts[0].tv_sec = ts[1].tv_sec = mtime;
		ts[0].tv_nsec = ts[1].tv_nsec = 0;
		if (futimens(fd, ts) == -1) {
			txn_fail(t, "utimes", name);
			goto fail;
		}
	}
	if (commit_fsync(fd) == -1) {
		txn_fail(t, "fsync", name);
		goto fail;
	}
	if (close(fd) == -1) {		/* NFS and quotas report here */
		fd = -1;
		txn_fail(t, "close", name);
		goto fail;
	}
	return 0;
fail:
	if (fd != -1)
		close(fd);
	unlinkat(dir, name, 0);
	return -1;
}

int
commit_txn_add(struct commit_txn *t, int tmpdir, int dstdir, const char *name,
    const struct iovec *iov, int iovcnt)
{
	return commit_txn_add_mtime(t, tmpdir, dstdir, name, iov, iovcnt, 0);
}

int
commit_txn_add_mtime(struct commit_txn *t, int tmpdir, int dstdir, const char *name,
    const struct iovec *iov, int iovcnt, time_t mtime)
{
	if (commit_txn_note_dir(t, dstdir) == -1)	/* before anything is visible */
		return -1;
	if (write_file(t, tmpdir, name, iov, iovcnt, mtime) == -1)
		return -1;
	if (renameat(tmpdir, name, dstdir, name) == -1) {
		txn_fail(t, "rename", name);
		unlinkat(tmpdir, name, 0);
		return -1;
	}
	return 0;
}

int
commit_txn_replace(struct commit_txn *t, int tmpdir, int dstdir, const char *name,
    const struct iovec *iov, int iovcnt)
{
	char	 tmpname[128];

	commit_unique_name(tmpname, sizeof(tmpname));
	if (commit_txn_note_dir(t, dstdir) == -1)
		return -1;
	if (write_file(t, tmpdir, tmpname, iov, iovcnt, 0) == -1)
		return -1;
	if (renameat(tmpdir, tmpname, dstdir, name) == -1) {
		txn_fail(t, "rename", name);
		unlinkat(tmpdir, tmpname, 0);
		return -1;
	}
	return 0;
}

int
commit_txn_link(struct commit_txn *t, int srcdir, const char *src, int dstdir,
    const char *dst)
{
	if (commit_txn_note_dir(t, dstdir) == -1)
		return -1;
	if (linkat(srcdir, src, dstdir, dst, 0) == -1)
		return txn_fail(t, "link", dst);
	return 0;
}

int
commit_txn_rename(struct commit_txn *t, int srcdir, const char *src, int dstdir,
    const char *dst)
{
	if (commit_txn_note_dir(t, srcdir) == -1 ||
	    commit_txn_note_dir(t, dstdir) == -1)
		return -1;
	if (renameat(srcdir, src, dstdir, dst) == -1)
		return txn_fail(t, "rename", src);
	return 0;
}

int
commit_txn_publish(struct commit_txn *t, int srcdir, const char *src, int dstdir,
    const char *dst)
{
	if (commit_txn_note_dir(t, dstdir) == -1)
		return -1;
	if (renameat(srcdir, src, dstdir, dst) == -1)
		return txn_fail(t, "rename", src);
	return 0;
}

int
commit_txn_unlink(struct commit_txn *t, int dir, const char *name)
{
	if (commit_txn_note_dir(t, dir) == -1)
		return -1;
	if (unlinkat(dir, name, 0) == -1)
		return txn_fail(t, "unlink", name);
	return 0;
}

int
commit_txn_commit(struct commit_txn *t)
{
	int	 i, rc = 0;

	for (i = 0; i < t->ndirs; i++) {
		if (rc == 0 && commit_fsync(t->dirfds[i]) == -1)
			rc = txn_fail(t, "fsync", "directory");
		close(t->dirfds[i]);
	}
	t->ndirs = 0;
	return rc;
}

void
commit_txn_abort(struct commit_txn *t)
{
	int	 i;

	for (i = 0; i < t->ndirs; i++)
		close(t->dirfds[i]);
	t->ndirs = 0;
}

const char *
commit_txn_error(const struct commit_txn *t)
{
	return t->error[0] != '\0' ? t->error : "no error";
}
