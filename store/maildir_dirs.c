/*
 * A folder's directories (the folder, tmp/, new/, cur/), opened once per
 * process and shared by every handle on it: 10,000 IMAP sessions idling
 * on a few folders held four descriptors each, and a worker ran out of
 * RLIMIT_NOFILE at about 3,300 sessions (issue 15).
 *
 * The key is the folder directory's device and inode, taken from a fresh
 * open of its path: a folder renamed keeps its entry (the descriptors
 * follow the inode), one deleted and created again gets a new one, and an
 * inode cannot be reused while an entry holds it open.  Only *at() calls
 * use these descriptors; a directory listing opens "." anew, never dup(),
 * so two threads listing one folder do not share a file offset.
 */
#include "store/store_private.h"
#include "lib/safedir.h"
#include "lib/xmalloc.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DIRS_BUCKETS	256

struct maildir_dirs {
	struct maildir_dirs	*next;		/* hash chain */
	dev_t			 dev;
	ino_t			 ino;
	unsigned		 refs;
	int			 dirfd, tmpfd, newfd, curfd;
};

static pthread_mutex_t		 dirs_lock = PTHREAD_MUTEX_INITIALIZER;
static struct maildir_dirs	*dirs_table[DIRS_BUCKETS];

/* Never through a symlink: a mailbox directory pointing elsewhere is refused (4xx). */
static int
open_dir(int at, const char *path, const char **error_r)
{
	const char	*err;
	int		 fd;

	if ((fd = safedir_open(at, path, path, SAFEDIR_ANY_OWNER, &err)) == -1)
		return store_err(error_r,
		    errno == ENOENT || errno == ENOTDIR ? STORE_ERR_NOT_FOUND : STORE_ERR_TEMPORARY,
		    errno == ENOENT ? "no such folder" : "%s", err);
	return fd;
}

static struct maildir_dirs **
dirs_slot(dev_t dev, ino_t ino)
{
	struct maildir_dirs	**dp = &dirs_table[(ino ^ dev) % DIRS_BUCKETS];

	while (*dp != NULL && ((*dp)->dev != dev || (*dp)->ino != ino))
		dp = &(*dp)->next;
	return dp;
}

static void
dirs_free(struct maildir_dirs *d)
{
	int	*fds[] = { &d->dirfd, &d->tmpfd, &d->newfd, &d->curfd };
	size_t	 i;

	for (i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (*fds[i] != -1)
			close(*fds[i]);
	free(d);
}

static void
dirs_use(struct mailbox *mb, struct maildir_dirs *d)
{
	d->refs++;
	mb->dirs = d;
	mb->dirfd = d->dirfd;
	mb->tmpfd = d->tmpfd;
	mb->newfd = d->newfd;
	mb->curfd = d->curfd;
}

int
maildir_dirs_open(struct mailbox *mb, const char *path, const char **error_r)
{
	struct maildir_dirs	**dp, *d;
	struct stat		 sb;
	int			 fd, rc = 0;

	if ((fd = open_dir(AT_FDCWD, path, error_r)) == -1)
		return -1;
	if (fstat(fd, &sb) == -1) {
		close(fd);
		return store_err(error_r, STORE_ERR_TEMPORARY, "%s: %s", path, strerror(errno));
	}
	pthread_mutex_lock(&dirs_lock);
	dp = dirs_slot(sb.st_dev, sb.st_ino);
	if ((d = *dp) != NULL) {
		close(fd);
		dirs_use(mb, d);
		goto out;
	}
	d = xcalloc(1, sizeof(*d));
	d->dev = sb.st_dev;
	d->ino = sb.st_ino;
	d->dirfd = fd;
	d->tmpfd = d->newfd = d->curfd = -1;
	if ((d->tmpfd = open_dir(fd, "tmp", error_r)) == -1 ||
	    (d->newfd = open_dir(fd, "new", error_r)) == -1 ||
	    (d->curfd = open_dir(fd, "cur", error_r)) == -1) {
		dirs_free(d);
		rc = -1;
		goto out;
	}
	*dp = d;
	dirs_use(mb, d);
out:
	pthread_mutex_unlock(&dirs_lock);
	return rc;
}

void
maildir_dirs_close(struct mailbox *mb)
{
	struct maildir_dirs	*d = mb->dirs, **dp;

	if (d == NULL)
		return;
	mb->dirs = NULL;
	mb->dirfd = mb->tmpfd = mb->newfd = mb->curfd = -1;
	pthread_mutex_lock(&dirs_lock);
	if (--d->refs == 0) {
		dp = dirs_slot(d->dev, d->ino);
		*dp = d->next;
		dirs_free(d);
	}
	pthread_mutex_unlock(&dirs_lock);
}
