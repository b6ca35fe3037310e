/*
 * The one durable-commit path (STYLE.md sketch C), used for Maildir
 * delivery, the queue, side files and mailctl's config files.  Nobody
 * else calls fsync or rename on mail.  Files are written under a unique
 * name in a tmp directory (struct commit_file, streamed), synced (see
 * commit_file_finish), closed (checked) and renamed/linked into place;
 * each touched destination
 * directory is fsynced ONCE at commit.  Only after commit_txn_commit()
 * returns 0 may a protocol say 250, OK or +OK.
 */
#ifndef LIB_COMMIT_H
#define LIB_COMMIT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>

#define COMMIT_MAX_DIRS	64

enum {
	/*
	 * fsync even when commit_fsync_enable(0) (store.fsync = no, a test
	 * speed-up for mail): configuration files are always synced.  A txn
	 * that publishes such a file syncs its directories the same way.
	 */
	COMMIT_SYNC_ALWAYS	= 1 << 0,
};

/*
 * The error text is the transaction's own, not lib/error's per-thread
 * one: a txn may be begun on one thread and committed on another (a workq
 * job), and its first failure must survive the cleanup calls after it.
 */
struct commit_txn {
	int		dirfds[COMMIT_MAX_DIRS];	/* dup'd, closed at commit/abort */
	int		noted[COMMIT_MAX_DIRS];		/* the caller's descriptor for each */
	dev_t		devs[COMMIT_MAX_DIRS];		/* which directory each is */
	ino_t		inos[COMMIT_MAX_DIRS];
	int		ndirs;
	unsigned	flags;				/* COMMIT_SYNC_ALWAYS */
	char		error[256];
};

void	commit_txn_init(struct commit_txn *t);
/* Write iov to tmpdir/name (O_EXCL), fsync, close, rename to dstdir/name. */
int	commit_txn_add(struct commit_txn *t, int tmpdir, int dstdir, const char *name,
	    const struct iovec *iov, int iovcnt);
/*
 * Replace dstdir/name (a side file) with iov: written under a unique name
 * in tmpdir, fsynced, closed, renamed over name; dstdir fsynced at commit.
 */
int	commit_txn_replace(struct commit_txn *t, int tmpdir, int dstdir, const char *name,
	    const struct iovec *iov, int iovcnt);
/* commit_txn_add, with the file's mtime set first (IMAP APPEND's internal date). */
int	commit_txn_add_mtime(struct commit_txn *t, int tmpdir, int dstdir, const char *name,
	    const struct iovec *iov, int iovcnt, time_t mtime);
/* Publish an already-durable file under another name/directory (hard link). */
int	commit_txn_link(struct commit_txn *t, int srcdir, const char *src, int dstdir, const char *dst);
/* rename() within or across directories of one file system; both directories get fsynced. */
int	commit_txn_rename(struct commit_txn *t, int srcdir, const char *src, int dstdir, const char *dst);
/*
 * commit_txn_rename between directories noted with commit_txn_note_dir,
 * by the same descriptors, still open: a loop over one folder's files
 * (a flag change renames each) pays no fstat a file.  A descriptor not
 * noted is an error.
 */
int	commit_txn_rename_noted(struct commit_txn *t, int srcdir, const char *src, int dstdir,
	    const char *dst);
/* unlink; the directory gets fsynced. */
int	commit_txn_unlink(struct commit_txn *t, int dir, const char *name);
/* Note a directory to fsync at commit (deduplicated by inode). */
int	commit_txn_note_dir(struct commit_txn *t, int dirfd);
/* fsync every noted directory once; 0 only if all succeeded. */
int	commit_txn_commit(struct commit_txn *t);
void	commit_txn_abort(struct commit_txn *t);
const char *commit_txn_error(const struct commit_txn *t);

/*
 * A file written in pieces (a message as it arrives, a queue file, a
 * config file): created in a tmp directory, buffered, then made durable
 * and published.  Nothing is visible before it is published; abort, or a
 * failure of commit, leaves nothing behind.  Errors: *error_r as
 * lib/error.h says, errno set to the failure's.  dir is borrowed: it stays
 * open until the file is committed or aborted.
 */
struct commit_file;

/* Create dir/name (O_EXCL, mode 0600); name NULL: a commit_unique_name(). */
struct commit_file *commit_file_open(int dir, const char *name, unsigned flags,
	    const char **error_r);
/* Buffered.  The first write error sticks: every later write and finish report it. */
int	commit_file_write(struct commit_file *f, const void *data, size_t len,
	    const char **error_r);
/* Flush, then the descriptor (fchmod, futimens, pwrite over what was written). */
int	commit_file_fd(struct commit_file *f, const char **error_r);
/* Its name in dir. */
const char *commit_file_name(const struct commit_file *f);
/*
 * Flush, sync, close (checked): the data is on the disk, still under its
 * tmp name.  fsynced; or, on ext3/ext4 with a journal, written and waited
 * for (sync_file_range), and durable with the rename once the directory's
 * fsync at commit has committed the journal: one journal commit a message,
 * not two.  Either way durable once published and committed.
 */
int	commit_file_finish(struct commit_file *f, const char **error_r);
/* Finish if not yet, then hard-link it as dstdir/dst too; dstdir noted in t first. */
int	commit_file_link(struct commit_file *f, struct commit_txn *t, int dstdir,
	    const char *dst, const char **error_r);
/*
 * Note dstdir in t, finish if not yet, rename the file to dstdir/dst and
 * free *f (also on failure, when the tmp file is removed).  Durable once
 * commit_txn_commit(t) has fsynced dstdir.
 */
int	commit_file_commit(struct commit_file **f, struct commit_txn *t, int dstdir,
	    const char *dst, const char **error_r);
/* Close it and remove the tmp file; NULL is fine. */
void	commit_file_abort(struct commit_file **f);

/* fsync that counts (commit_fsync_count()); honours store.fsync = no. */
int	commit_fsync(int fd);
void	commit_fsync_enable(int on);
/* Syncs issued by this process since start (tests): fsyncs, and the sync_file_range
 * that stands for a file's fsync on a journaled file system. */
uint64_t	commit_fsync_count(void);

/* A unique file name: "<sec>.M<usec>P<pid>Q<counter>.<host>" (Maildir spec). */
void	commit_unique_name(char *out, size_t outsize);

#endif
