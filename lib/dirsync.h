/*
 * Group commit of directory fsyncs (issue 18 item 1).  Concurrent
 * transactions that changed entries of the same directory share one fsync
 * of it: the first to arrive fsyncs at once (no timer: a lone commit never
 * waits for company); those who arrive while that fsync runs form the next
 * batch, and one of them fsyncs for all of them once it has finished.
 *
 * The contract each caller gets: dirsync_wait() returns only after an
 * fsync of its directory that BEGAN after the call was made has
 * completed, and reports that fsync's result.  A caller that renamed or
 * linked into the directory before calling is therefore durable, exactly
 * as if it had fsynced the directory itself.  Directories are told apart
 * by device and inode, not by descriptor.
 */
#ifndef LIB_DIRSYNC_H
#define LIB_DIRSYNC_H

#include <sys/types.h>

struct dirsync;

/* The fsync to run: commit's counted one, or a test's recording one. */
typedef int	(*dirsync_fn)(int fd, void *arg);

struct dirsync	*dirsync_new(dirsync_fn sync, void *arg);
/* No thread may be waiting in it. */
void		 dirsync_free(struct dirsync **ds);
/*
 * Make dirfd's directory, device dev and inode ino (the caller has them
 * from its fstat), durable (see above).  0, or -1 with errno of the fsync
 * that covered this call, or of a later one: a caller is never told
 * "durable" after a failed fsync it might have needed.
 */
int		 dirsync_wait(struct dirsync *ds, int dirfd, dev_t dev, ino_t ino);

#endif
