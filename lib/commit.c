/*
 * The one durable-commit path.  A file becomes visible only by rename or
 * link after its data was written to the disk (fsynced, or on a journaled
 * file system written and waited for: see journal_orders); every
 * directory whose entries changed is fsynced once, at commit, and
 * concurrent commits into one directory share that fsync (lib/dirsync:
 * group commit).
 */
#include "lib/commit.h"

#include "lib/buf.h"
#include "lib/dirsync.h"
#include "lib/error.h"
#include "lib/xmalloc.h"

#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

/* What a commit_file buffers before it writes. */
#define COMMIT_FILE_BUF	(64 * 1024)

#define EXT4_MAGIC	0xEF53		/* ext2, ext3 and ext4 alike */
#define FS_CACHE	16		/* file systems remembered */
#define FS_RECHECK_S	60		/* ... for this long */

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

/* A failure reported through lib/error becomes the txn's error too. */
static int
txn_copy(struct commit_txn *t, const char *error)
{
	int	 saved = errno;

	snprintf(t->error, sizeof(t->error), "%s", error);
	errno = saved;
	return -1;
}

void
commit_txn_init(struct commit_txn *t)
{
	t->ndirs = 0;
	t->flags = 0;
	t->error[0] = '\0';
}

/* The one fsync: counted, skipped only when disabled and not SYNC_ALWAYS. */
static int
sync_fd(int fd, unsigned flags)
{
	if ((flags & COMMIT_SYNC_ALWAYS) == 0 && !atomic_load(&fsync_on))
		return 0;
	atomic_fetch_add(&fsync_count, 1);
	return fsync(fd);
}

/* The block device name of dev ("vda1", "loop0", "dm-2"), from /sys; false if unknown. */
static bool
block_name(dev_t dev, char *name, size_t size)
{
	char	 path[64], link[PATH_MAX];
	char	*slash;
	ssize_t	 n;

	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u", major(dev), minor(dev));
	if ((n = readlink(path, link, sizeof(link) - 1)) <= 0)
		return false;
	link[n] = '\0';
	slash = strrchr(link, '/');
	return (size_t)snprintf(name, size, "%s", slash != NULL ? slash + 1 : link) < size;
}

/*
 * Is the ext3/ext4 on dev journaled in itself, its commit records written
 * after a flush of its disk?  jbd2 lists an internal journal as DEV-8 (a
 * journal on another device goes by that device's name, and its commits
 * need not flush this disk's cache); journal_async_commit writes the
 * commit record without waiting for a flush.
 */
static bool
ext4_journal_inside(dev_t dev)
{
	char		 name[64], path[128], opts[4096];
	ssize_t		 n;
	int		 fd;

	if (!block_name(dev, name, sizeof(name)))
		return false;
	snprintf(path, sizeof(path), "/proc/fs/jbd2/%s-8", name);
	if (access(path, F_OK) == -1)
		return false;
	snprintf(path, sizeof(path), "/proc/fs/ext4/%s/options", name);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return false;
	n = read(fd, opts, sizeof(opts) - 1);
	close(fd);
	if (n <= 0)
		return false;
	opts[n] = '\0';
	return strstr(opts, "journal_async_commit") == NULL;
}

/*
 * Does a directory fsync on fd's file system also make durable every file
 * whose data was written and waited for before it?  On ext3/ext4 with its
 * journal inside, yes: all metadata goes through one journal committed in
 * order (an fsync commits every transaction up to the one that changed
 * the directory, which follows the file's block allocation and extent
 * conversion), and a commit record is written after a flush of the disk,
 * so data written before it is stable by then.  There a file's fsync
 * would be a journal commit of its own before the rename's:
 * commit_file_finish writes the data and waits for it (sync_file_range)
 * instead, and the directory's fsync is the one commit.  Everywhere else
 * (ext2, ext4 without a journal or with it on another device, btrfs, XFS,
 * which would qualify but is not tested here, NFS, tmpfs) and wherever
 * /sys and /proc do not say, the file is fsynced.  Remembered per file
 * system id and device for a minute (a journal can be removed between two
 * mounts), under a lock: commits run on many threads.
 */
static bool
journal_orders(int fd)
{
	static pthread_mutex_t	 lock = PTHREAD_MUTEX_INITIALIZER;
	static struct fs_seen {
		fsid_t		 id;
		dev_t		 dev;
		time_t		 checked;
		bool		 orders;
	}			 seen[FS_CACHE];
	static unsigned		 nseen;
	struct timespec		 now;
	struct statfs		 sfs;
	struct stat		 sb;
	struct fs_seen		*e = NULL;
	bool			 orders;
	unsigned		 i;

	if (fstatfs(fd, &sfs) == -1 || sfs.f_type != EXT4_MAGIC || fstat(fd, &sb) == -1)
		return false;
	clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&lock);
	for (i = 0; i < nseen && i < FS_CACHE && e == NULL; i++)
		if (memcmp(&seen[i].id, &sfs.f_fsid, sizeof(sfs.f_fsid)) == 0 &&
		    seen[i].dev == sb.st_dev && now.tv_sec - seen[i].checked < FS_RECHECK_S)
			e = &seen[i];
	orders = e != NULL && e->orders;
	pthread_mutex_unlock(&lock);
	if (e != NULL)
		return orders;
	orders = ext4_journal_inside(sb.st_dev);
	pthread_mutex_lock(&lock);
	e = &seen[nseen++ % FS_CACHE];
	e->id = sfs.f_fsid;
	e->dev = sb.st_dev;
	e->checked = now.tv_sec;
	e->orders = orders;
	pthread_mutex_unlock(&lock);
	return orders;
}

/* The file's data on the disk before it is renamed: see journal_orders. */
static int
sync_data(int fd, unsigned flags, bool ordered)
{
	if ((flags & COMMIT_SYNC_ALWAYS) == 0 && !atomic_load(&fsync_on))
		return 0;
	if (!ordered)
		return sync_fd(fd, flags);
	atomic_fetch_add(&fsync_count, 1);
	return sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
	    SYNC_FILE_RANGE_WAIT_AFTER);
}

int
commit_fsync(int fd)
{
	return sync_fd(fd, 0);
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
	struct stat	 sb;
	int		 i, fd;

	if (fstat(dirfd, &sb) == -1)
		return txn_fail(t, "fstat", "directory");
	for (i = 0; i < t->ndirs; i++) {
		if (t->devs[i] == sb.st_dev && t->inos[i] == sb.st_ino)
			return 0;
	}
	if (t->ndirs == COMMIT_MAX_DIRS) {
		errno = E2BIG;
		return txn_fail(t, "note", "directory");
	}
	if ((fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0)) == -1)
		return txn_fail(t, "dup", "directory");
	t->noted[t->ndirs] = dirfd;
	t->devs[t->ndirs] = sb.st_dev;
	t->inos[t->ndirs] = sb.st_ino;
	t->dirfds[t->ndirs++] = fd;
	return 0;
}

/* ---- streamed files ---- */

struct commit_file {
	int		 dir;		/* borrowed */
	int		 fd;		/* -1 once closed */
	unsigned	 flags;		/* COMMIT_SYNC_ALWAYS */
	bool		 ordered;	/* journal_orders(dir) */
	bool		 durable;	/* synced and closed */
	int		 write_errno;	/* the first failure; sticks */
	struct buf	 out;		/* not yet written */
	char		 name[256];
};

struct commit_file *
commit_file_open(int dir, const char *name, unsigned flags, const char **error_r)
{
	struct commit_file	*f = xcalloc(1, sizeof(*f));

	f->dir = dir;
	f->flags = flags;
	buf_init(&f->out, COMMIT_FILE_BUF);
	if (name == NULL)
		commit_unique_name(f->name, sizeof(f->name));
	else if ((size_t)snprintf(f->name, sizeof(f->name), "%s", name) >= sizeof(f->name)) {
		errno = ENAMETOOLONG;
		err_set(error_r, "create %s: %s", name, strerror(errno));
		free(f);
		return NULL;
	}
	f->fd = openat(dir, f->name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (f->fd == -1) {
		err_set(error_r, "create %s: %s", f->name, strerror(errno));
		free(f);
		return NULL;
	}
	f->ordered = journal_orders(dir);
	return f;
}

const char *
commit_file_name(const struct commit_file *f)
{
	return f->name;
}

/* Write it all or note the first error. */
static int
file_put(struct commit_file *f, const char *p, size_t len)
{
	ssize_t	 n;

	while (len > 0 && f->write_errno == 0) {
		n = write(f->fd, p, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			f->write_errno = errno;
		else {
			p += n;
			len -= (size_t)n;
		}
	}
	return f->write_errno == 0 ? 0 : -1;
}

static int
file_flush(struct commit_file *f)
{
	int	 rc = file_put(f, buf_head(&f->out), buf_len(&f->out));

	buf_reset(&f->out);
	return rc;
}

/* Still writable?  Writing after finish is a bug, reported as EBADF. */
static bool
file_ok(struct commit_file *f)
{
	if (f->fd == -1 && f->write_errno == 0)
		f->write_errno = EBADF;
	return f->write_errno == 0;
}

static int
file_error(struct commit_file *f, const char **error_r)
{
	errno = f->write_errno;
	return err_set(error_r, "write %s: %s", f->name, strerror(f->write_errno));
}

int
commit_file_write(struct commit_file *f, const void *data, size_t len, const char **error_r)
{
	if (!file_ok(f))
		return file_error(f, error_r);
	if (buf_len(&f->out) + len > COMMIT_FILE_BUF && file_flush(f) == -1)
		return file_error(f, error_r);
	if (len >= COMMIT_FILE_BUF)
		return file_put(f, data, len) == 0 ? 0 : file_error(f, error_r);
	if (buf_append(&f->out, data, len) == -1)
		abort();	/* flushed above: there is room */
	return 0;
}

int
commit_file_fd(struct commit_file *f, const char **error_r)
{
	if (!file_ok(f) || file_flush(f) == -1)
		return file_error(f, error_r);
	return f->fd;
}

int
commit_file_finish(struct commit_file *f, const char **error_r)
{
	const char	*what = "sync";
	int		 fd;

	if (f->durable)
		return 0;
	if (!file_ok(f) || file_flush(f) == -1)
		return file_error(f, error_r);
	fd = f->fd;
	if (sync_data(fd, f->flags, f->ordered) == 0) {
		what = "close";
		f->fd = -1;
		if (close(fd) == 0) {		/* NFS and quotas report here */
			f->durable = true;
			return 0;
		}
	}
	f->write_errno = errno;
	return err_set(error_r, "%s %s: %s", what, f->name, strerror(errno));
}

int
commit_file_link(struct commit_file *f, struct commit_txn *t, int dstdir, const char *dst,
    const char **error_r)
{
	if (commit_txn_note_dir(t, dstdir) == -1)	/* before anything is visible */
		return err_set(error_r, "%s", t->error);
	if (commit_file_finish(f, error_r) == -1)
		return -1;
	t->flags |= f->flags;
	if (linkat(f->dir, f->name, dstdir, dst, 0) == -1)
		return err_set(error_r, "link %s: %s", dst, strerror(errno));
	return 0;
}

static void
file_free(struct commit_file **fp, bool remove)
{
	struct commit_file	*f = *fp;
	int			 saved = errno;

	if (f == NULL)
		return;
	if (f->fd != -1)
		close(f->fd);
	if (remove)
		unlinkat(f->dir, f->name, 0);
	buf_release(&f->out);
	free(f);
	*fp = NULL;
	errno = saved;
}

int
commit_file_commit(struct commit_file **fp, struct commit_txn *t, int dstdir, const char *dst,
    const char **error_r)
{
	struct commit_file	*f = *fp;
	int			 rc = -1;

	if (commit_txn_note_dir(t, dstdir) == -1)	/* before anything is visible */
		err_set(error_r, "%s", t->error);
	else if (commit_file_finish(f, error_r) == 0) {
		t->flags |= f->flags;
		if (renameat(f->dir, f->name, dstdir, dst) == 0)
			rc = 0;
		else
			err_set(error_r, "rename %s: %s", f->name, strerror(errno));
	}
	file_free(fp, rc == -1);
	return rc;
}

void
commit_file_abort(struct commit_file **fp)
{
	file_free(fp, true);
}

/* ---- whole files, for callers that have them in memory ---- */

static int
txn_write(struct commit_txn *t, int tmpdir, const char *tmpname, int dstdir, const char *dst,
    const struct iovec *iov, int iovcnt, time_t mtime)
{
	struct commit_file	*f;
	struct timespec		 ts[2];
	const char		*err;
	int			 i, fd;

	if ((f = commit_file_open(tmpdir, tmpname, 0, &err)) == NULL)
		return txn_copy(t, err);
	for (i = 0; i < iovcnt; i++)
		if (commit_file_write(f, iov[i].iov_base, iov[i].iov_len, &err) == -1)
			goto fail;
	if (mtime != 0) {
		ts[0].tv_sec = ts[1].tv_sec = mtime;
		ts[0].tv_nsec = ts[1].tv_nsec = 0;
		if ((fd = commit_file_fd(f, &err)) == -1)
			goto fail;
		if (futimens(fd, ts) == -1) {
			err_set(&err, "utimes %s: %s", f->name, strerror(errno));
			goto fail;
		}
	}
	if (commit_file_commit(&f, t, dstdir, dst, &err) == 0)
		return 0;
fail:
	commit_file_abort(&f);
	return txn_copy(t, err);
}

int
commit_txn_add(struct commit_txn *t, int tmpdir, int dstdir, const char *name,
    const struct iovec *iov, int iovcnt)
{
	return txn_write(t, tmpdir, name, dstdir, name, iov, iovcnt, 0);
}

int
commit_txn_add_mtime(struct commit_txn *t, int tmpdir, int dstdir, const char *name,
    const struct iovec *iov, int iovcnt, time_t mtime)
{
	return txn_write(t, tmpdir, name, dstdir, name, iov, iovcnt, mtime);
}

int
commit_txn_replace(struct commit_txn *t, int tmpdir, int dstdir, const char *name,
    const struct iovec *iov, int iovcnt)
{
	return txn_write(t, tmpdir, NULL, dstdir, name, iov, iovcnt, 0);
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
	/* One fstat for a rename within a directory (a flag change in cur/). */
	if (commit_txn_note_dir(t, srcdir) == -1 ||
	    (dstdir != srcdir && commit_txn_note_dir(t, dstdir) == -1))
		return -1;
	if (renameat(srcdir, src, dstdir, dst) == -1)
		return txn_fail(t, "rename", src);
	return 0;
}

static bool
noted(const struct commit_txn *t, int dirfd)
{
	int	 i;

	for (i = 0; i < t->ndirs; i++) {
		if (t->noted[i] == dirfd)
			return true;
	}
	return false;
}

int
commit_txn_rename_noted(struct commit_txn *t, int srcdir, const char *src, int dstdir,
    const char *dst)
{
	if (!noted(t, srcdir) || !noted(t, dstdir)) {
		errno = EINVAL;
		return txn_fail(t, "rename", "directory not noted");
	}
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

/* The group's fsync: always real and counted (whether to sync at all is decided before). */
static int
group_fsync(int fd, void *arg)
{
	(void)arg;
	return sync_fd(fd, COMMIT_SYNC_ALWAYS);
}

static struct dirsync	*group;
static pthread_once_t	 group_once = PTHREAD_ONCE_INIT;

/*
 * A child forked while another thread was syncing would wait forever for
 * that fsync to end: it starts over with its own group (the old one is
 * left as it was, its lock perhaps held).
 */
static void
group_fork_child(void)
{
	group = dirsync_new(group_fsync, NULL);
}

static void
group_init(void)
{
	group = dirsync_new(group_fsync, NULL);
	pthread_atfork(NULL, NULL, group_fork_child);
}

/* Directory i's entries durable: by an fsync begun after ours changed (shared). */
static int
sync_dir(const struct commit_txn *t, int i)
{
	if ((t->flags & COMMIT_SYNC_ALWAYS) == 0 && !atomic_load(&fsync_on))
		return 0;
	pthread_once(&group_once, group_init);
	return dirsync_wait(group, t->dirfds[i], t->devs[i], t->inos[i]);
}

int
commit_txn_commit(struct commit_txn *t)
{
	int	 i, rc = 0;

	for (i = 0; i < t->ndirs; i++) {
		if (rc == 0 && sync_dir(t, i) == -1)
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
