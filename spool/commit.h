/*
 * The one durable-commit path (STYLE.md sketch C), used for Maildir
 * delivery, the queue and side files.  Nobody else calls fsync or rename
 * on mail.  Files are written under a unique name in a tmp directory,
 * fsynced, closed (checked) and renamed/linked into place; each touched
 * destination directory is fsynced ONCE at commit.  Only after
 * spool_txn_commit() returns 0 may a protocol say 250, OK or +OK.
 */
#ifndef SPOOL_COMMIT_H
#define SPOOL_COMMIT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include <time.h>

#define SPOOL_TXN_MAX_DIRS	64

struct spool_txn {
	int	dirfds[SPOOL_TXN_MAX_DIRS];	/* dup'd, closed at commit/abort */
	int	ndirs;
	char	error[256];
};

void	spool_txn_init(struct spool_txn *t);
/* Write iov to tmpdir/name (O_EXCL), fsync, close, rename to dstdir/name. */
int	spool_txn_add(struct spool_txn *t, int tmpdir, int dstdir, const char *name,
	    const struct iovec *iov, int iovcnt);
/*
 * Replace dstdir/name (a side file) with iov: written under a unique name
 * in tmpdir, fsynced, closed, renamed over name; dstdir fsynced at commit.
 */
int	spool_txn_replace(struct spool_txn *t, int tmpdir, int dstdir, const char *name,
	    const struct iovec *iov, int iovcnt);
/* spool_txn_add, with the file's mtime set first (IMAP APPEND's internal date). */
int	spool_txn_add_mtime(struct spool_txn *t, int tmpdir, int dstdir, const char *name,
	    const struct iovec *iov, int iovcnt, time_t mtime);
/* Publish an already-durable file under another name/directory (hard link). */
int	spool_txn_link(struct spool_txn *t, int srcdir, const char *src, int dstdir, const char *dst);
/* rename() within or across directories of one file system; both directories get fsynced. */
int	spool_txn_rename(struct spool_txn *t, int srcdir, const char *src, int dstdir, const char *dst);
/*
 * rename() as the last step of publishing a file from a tmp directory:
 * only dstdir gets fsynced (the old name was never visible to anyone).
 */
int	spool_txn_publish(struct spool_txn *t, int srcdir, const char *src, int dstdir,
	    const char *dst);
/* unlink; the directory gets fsynced. */
int	spool_txn_unlink(struct spool_txn *t, int dir, const char *name);
/* Note a directory to fsync at commit (deduplicated by inode). */
int	spool_txn_note_dir(struct spool_txn *t, int dirfd);
/* fsync every noted directory once; 0 only if all succeeded. */
int	spool_txn_commit(struct spool_txn *t);
void	spool_txn_abort(struct spool_txn *t);
const char *spool_txn_error(const struct spool_txn *t);

/* fsync that counts (store_fsync_count()); honours store.fsync = no. */
int	spool_fsync(int fd);
void	spool_fsync_enable(int on);

/* A unique file name: "<sec>.M<usec>P<pid>Q<counter>.<host>" (Maildir spec). */
void	spool_unique_name(char *out, size_t outsize);

#endif
