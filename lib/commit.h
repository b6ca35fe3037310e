/*
 * The one durable-commit path (STYLE.md sketch C), used for Maildir
 * delivery, the queue and side files.  Nobody else calls fsync or rename
 * on mail.  Files are written under a unique name in a tmp directory,
 * fsynced, closed (checked) and renamed/linked into place; each touched
 * destination directory is fsynced ONCE at commit.  Only after
 * commit_txn_commit() returns 0 may a protocol say 250, OK or +OK.
 */
#ifndef LIB_COMMIT_H
#define LIB_COMMIT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include <time.h>

#define COMMIT_MAX_DIRS	64

struct commit_txn {
	int	dirfds[COMMIT_MAX_DIRS];	/* dup'd, closed at commit/abort */
	int	ndirs;
	char	error[256];
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
 * rename() as the last step of publishing a file from a tmp directory:
 * only dstdir gets fsynced (the old name was never visible to anyone).
 */
int	commit_txn_publish(struct commit_txn *t, int srcdir, const char *src, int dstdir,
	    const char *dst);
/* unlink; the directory gets fsynced. */
int	commit_txn_unlink(struct commit_txn *t, int dir, const char *name);
/* Note a directory to fsync at commit (deduplicated by inode). */
int	commit_txn_note_dir(struct commit_txn *t, int dirfd);
/* fsync every noted directory once; 0 only if all succeeded. */
int	commit_txn_commit(struct commit_txn *t);
void	commit_txn_abort(struct commit_txn *t);
const char *commit_txn_error(const struct commit_txn *t);

/* fsync that counts (commit_fsync_count()); honours store.fsync = no. */
int	commit_fsync(int fd);
void	commit_fsync_enable(int on);
/* fsyncs issued by this process since start (tests). */
uint64_t	commit_fsync_count(void);

/* A unique file name: "<sec>.M<usec>P<pid>Q<counter>.<host>" (Maildir spec). */
void	commit_unique_name(char *out, size_t outsize);

#endif
