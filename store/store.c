/*
 * The store handle, its error convention, user creation, and delivery:
 * one write into the first recipient's tmp/ (recipients may be added until
 * the commit), one fsync, a hard link into
 * every recipient's new/ but the last, a rename into the last one, and one
 * fsync per new/ directory.  Delivery never
 * opens the index; the next mailbox_sync() indexes the file.
 */
#include "store/store_private.h"
#include "lib/commit.h"
#include "lib/crash.h"
#include "lib/error.h"
#include "lib/safedir.h"
#include "lib/xmalloc.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The kind of the last failure; its text is lib/error's. */
static _Thread_local enum store_error	error_code;

int
store_err(const char **error_r, enum store_error code, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	err_vset(error_r, fmt, ap);
	va_end(ap);
	error_code = code;
	return -1;
}

enum store_error
store_error_code(void)
{
	return error_code;
}

bool
store_error_temporary(void)
{
	return error_code == STORE_ERR_TEMPORARY || error_code == STORE_ERR_OVER_QUOTA;
}

enum store_error
store_errno_code(int err)
{
	switch (err) {
	case EDQUOT:
		return STORE_ERR_OVER_QUOTA;
	case ENOENT:
	case ENOTDIR:
		return STORE_ERR_NOT_FOUND;
	case EEXIST:
	case ENOTEMPTY:
		return STORE_ERR_EXISTS;
	case EACCES:
	case EPERM:
	case EROFS:
	case ELOOP:
		return STORE_ERR_PERMISSION;
	case ENAMETOOLONG:
	case EINVAL:
		return STORE_ERR_PARAMS;
	case ENOSPC:
	case EFBIG:
	case EIO:
	case ENOMEM:
	case EMFILE:
	case ENFILE:
	case EAGAIN:
	case EINTR:
	case ETIMEDOUT:
		return STORE_ERR_TEMPORARY;
	default:
		return STORE_ERR_NOT_POSSIBLE;
	}
}

void
store_crash_point(const char *point)
{
	crash_point(point);
}

bool
store_retry_point(const char *point)
{
	static atomic_bool	 fired;
	const char		*want;

	if ((want = getenv("POSTROOM_RETRY_AT")) == NULL || strcmp(want, point) != 0)
		return false;
	return !atomic_exchange(&fired, true);
}

struct store *
store_open(const char *mail_root, const struct store_options *opts, const char **error_r)
{
	struct store	*st;

	if (mail_root == NULL || *mail_root == '\0') {
		store_err(error_r, STORE_ERR_PARAMS, "mail_root is empty");
		return NULL;
	}
	st = xcalloc(1, sizeof(*st));
	st->mail_root = xstrdup(mail_root);
	st->opts.fsync_enabled = opts != NULL ? opts->fsync_enabled : 1;
	st->opts.vanished_max = opts != NULL && opts->vanished_max != 0 ? opts->vanished_max :
	    STORE_VANISHED_MAX_DEFAULT;
	commit_fsync_enable(st->opts.fsync_enabled);
	return st;
}

void
store_close(struct store **st)
{
	if (*st == NULL)
		return;
	free((*st)->mail_root);
	xfree(st);
}

void
store_uidl(uint32_t uidvalidity, uint32_t uid, char out[24])
{
	snprintf(out, 24, "%08x%08x", uidvalidity, uid);
}

/* mkdir -p with mode 0700; existing directories are fine. */
static int
mkdir_parents(const char *path, const char **error_r)
{
	char	*p, *copy;
	int	 rc = 0;

	copy = xstrdup(path);
	for (p = copy + 1; rc == 0; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		if (mkdir(copy, 0700) == -1 && errno != EEXIST)
			rc = store_err(error_r, store_errno_code(errno),
			    "mkdir %s: %s", copy, strerror(errno));
		*p = c;
		if (c == '\0')
			break;
	}
	free(copy);
	return rc;
}

int
store_create_user(struct store *st, const char *maildir, const char **error_r)
{
	static const char	*folders[] = { "Sent", "Drafts", "Trash", "Junk" };
	struct commit_txn	 t;
	char			 path[4096], *parent, *slash;
	size_t			 i;
	int			 pfd;

	(void)st;
	commit_txn_init(&t);
	if (mkdir_parents(maildir, error_r) == -1)
		return -1;
	/* The Maildir's own entry in its parent must survive a crash too. */
	parent = xstrdup(maildir);
	if ((slash = strrchr(parent, '/')) != NULL && slash != parent)
		*slash = '\0';
	pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(parent);
	if (pfd != -1) {
		commit_txn_note_dir(&t, pfd);
		close(pfd);
	}
	if (maildir_make(&t, maildir, false, error_r) == -1)
		goto fail;
	for (i = 0; i < sizeof(folders) / sizeof(folders[0]); i++) {
		snprintf(path, sizeof(path), "%s/.%s", maildir, folders[i]);
		if (maildir_make(&t, path, true, error_r) == -1)
			goto fail;
		if (folder_subscribe(st, maildir, folders[i], true, error_r) == -1)
			goto fail;
	}
	if (commit_txn_commit(&t) == -1)
		return store_err(error_r, STORE_ERR_TEMPORARY, "%s", commit_txn_error(&t));
	return 0;
fail:
	commit_txn_abort(&t);
	return -1;
}

/* ---- delivery ---- */

struct store_delivery {
	struct store_rcpt	*rcpts;
	size_t			 n;
	int			 tmpdir;	/* first recipient's tmp/ */
	struct commit_file	*file;		/* in tmp/; NULL once published */
	char			 name[128];	/* its name in tmp/ */
	uint64_t		 size;		/* bytes written (LF) */
	uint64_t		 lfs;		/* line feeds: CRLF size = size + lfs */
	bool			 synced;	/* data on the disk in tmp/ (delivery_sync) */
};

/*
 * The Maildir and then its tmp/ or new/, neither through a symlink: the
 * mail user could otherwise point delivery at any directory (a 4xx).
 */
static int
open_subdir(const char *maildir, const char *sub, const char **error_r)
{
	char		 path[4096];
	const char	*err;
	int		 mfd, fd, saved;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", maildir, sub) >= sizeof(path))
		return store_err(error_r, STORE_ERR_PARAMS, "path too long: %s", maildir);
	if ((mfd = safedir_open(AT_FDCWD, maildir, maildir, SAFEDIR_ANY_OWNER, &err)) == -1)
		return store_err(error_r,
		    errno == ENOENT || errno == ENOTDIR ? STORE_ERR_NOT_FOUND : STORE_ERR_TEMPORARY,
		    "%s", err);
	fd = safedir_open(mfd, sub, path, SAFEDIR_ANY_OWNER, &err);
	saved = errno;
	close(mfd);
	if (fd == -1)
		return store_err(error_r,
		    saved == ENOENT || saved == ENOTDIR ? STORE_ERR_NOT_FOUND : STORE_ERR_TEMPORARY,
		    "%s", err);
	return fd;
}

struct store_delivery *
store_delivery_begin(struct store *st, const struct store_rcpt *rcpts, size_t n,
    const char **error_r)
{
	struct store_delivery	*d;
	const char		*err;
	size_t			 i;

	(void)st;
	if (n == 0) {
		store_err(error_r, STORE_ERR_PARAMS, "delivery without recipients");
		return NULL;
	}
	d = xcalloc(1, sizeof(*d));
	d->tmpdir = -1;
	d->rcpts = xreallocarray(NULL, n, sizeof(*d->rcpts));
	for (i = 0; i < n; i++) {
		d->rcpts[i] = rcpts[i];
		d->rcpts[i].maildir = xstrdup(rcpts[i].maildir);
	}
	d->n = n;
	if ((d->tmpdir = open_subdir(rcpts[0].maildir, "tmp", error_r)) == -1)
		goto fail;
	if ((d->file = commit_file_open(d->tmpdir, NULL, 0, &err)) == NULL) {
		store_err(error_r, store_errno_code(errno), "%s/tmp: %s", rcpts[0].maildir, err);
		goto fail;
	}
	snprintf(d->name, sizeof(d->name), "%s", commit_file_name(d->file));
	return d;
fail:
	store_delivery_free(&d);
	return NULL;
}

void
store_delivery_add(struct store_delivery *d, const struct store_rcpt *rcpts, size_t n)
{
	size_t	 i;

	d->rcpts = xreallocarray(d->rcpts, d->n + n, sizeof(*d->rcpts));
	for (i = 0; i < n; i++) {
		d->rcpts[d->n + i] = rcpts[i];
		d->rcpts[d->n + i].maildir = xstrdup(rcpts[i].maildir);
	}
	d->n += n;
}

int
store_delivery_write(struct store_delivery *d, const void *data, size_t len)
{
	const char	*p = data, *end = p + len, *lf;

	if (d->file == NULL)
		return -1;
	for (lf = p; (lf = memchr(lf, '\n', (size_t)(end - lf))) != NULL; lf++)
		d->lfs++;
	d->size += len;
	/* A failure sticks in the file and is reported by commit. */
	return commit_file_write(d->file, data, len, NULL);
}

uint64_t
store_delivery_size(const struct store_delivery *d)
{
	return d->size;
}

int
delivery_sync(struct store_delivery *d, time_t mtime, const char **error_r)
{
	/* The atime stays: it tells tmp/ cleaning the file is young (clean_tmp). */
	struct timespec	 ts[2] = { { 0, UTIME_OMIT }, { mtime, 0 } };
	const char	*err;
	int		 fd;

	if (d->synced)
		return 0;
	if (d->file == NULL)	/* an earlier attempt failed half-way */
		return store_err(error_r, STORE_ERR_TEMPORARY, "tmp/%s: lost", d->name);
	store_crash_point("delivery-written");
	if (mtime != 0) {
		/* Flushed first: no later write moves the mtime again. */
		if ((fd = commit_file_fd(d->file, &err)) == -1)
			return store_err(error_r, store_errno_code(errno), "%s/tmp: %s",
			    d->rcpts[0].maildir, err);
		if (futimens(fd, ts) == -1)
			return store_err(error_r, STORE_ERR_TEMPORARY, "utimes tmp/%s: %s",
			    d->name, strerror(errno));
	}
	/* Data that cannot be made durable is a 4xx, over quota if the disk says so. */
	if (commit_file_finish(d->file, &err) == -1)
		return store_err(error_r, errno == EDQUOT ? STORE_ERR_OVER_QUOTA :
		    STORE_ERR_TEMPORARY, "%s/tmp: %s", d->rcpts[0].maildir, err);
	d->synced = true;
	return 0;
}

const char *
delivery_tmp_name(const struct store_delivery *d)
{
	return d->name;
}

int
delivery_publish(struct store_delivery *d, struct commit_txn *t, int dstdir, const char *name,
    const char **error_r)
{
	const char	*err;

	if (!d->synced || d->file == NULL)
		return store_err(error_r, STORE_ERR_PARAMS, "tmp/%s: not ready to publish",
		    d->name);
	/* From here the file is no longer ours to remove (gone if this fails). */
	if (commit_file_commit(&d->file, t, dstdir, name, &err) == -1)
		return store_err(error_r, store_errno_code(errno), "%s", err);
	return 0;
}

/* Undo the links made so far, durably, so a failure leaves nothing visible. */
static void
delivery_unlink(const int *newfds, size_t linked, const char *final)
{
	struct commit_txn	 t;
	size_t			 i;

	commit_txn_init(&t);
	for (i = 0; i < linked; i++)
		commit_txn_unlink(&t, newfds[i], final);
	commit_txn_commit(&t);
}

int
store_delivery_commit(struct store_delivery *d, const char **error_r)
{
	struct commit_txn	 t;
	const char		*err;
	char			 final[256];
	int			*newfds;
	size_t			 i, linked = 0;
	int			 rc = -1;

	if (d->file == NULL)
		return store_err(error_r, STORE_ERR_PARAMS, "delivery committed or failed already");
	for (i = 0; i < d->n; i++) {
		if (quota_check(d->rcpts[i].maildir, d->rcpts[i].quota_bytes,
		    d->rcpts[i].quota_messages, d->size, 1, error_r) == -1)
			return -1;
	}
	if (delivery_sync(d, 0, error_r) == -1)
		return -1;
	store_crash_point("delivery-fsynced");

	snprintf(final, sizeof(final), "%s,S=%llu,W=%llu", d->name,
	    (unsigned long long)d->size, (unsigned long long)(d->size + d->lfs));
	newfds = xreallocarray(NULL, d->n, sizeof(*newfds));
	commit_txn_init(&t);
	for (i = 0; i < d->n; i++) {
		if ((newfds[i] = open_subdir(d->rcpts[i].maildir, "new", error_r)) == -1)
			goto out;
		/* Links for all but the last, which takes the tmp/ name itself. */
		if ((i + 1 < d->n ? commit_file_link(d->file, &t, newfds[i], final, &err) :
		    commit_file_commit(&d->file, &t, newfds[i], final, &err)) == -1) {
			store_err(error_r, store_errno_code(errno), "%s: %s",
			    d->rcpts[i].maildir, err);
			close(newfds[i]);
			goto out;
		}
		linked++;
	}
	store_crash_point("delivery-linked");
	if (commit_txn_commit(&t) == -1) {
		store_err(error_r, STORE_ERR_TEMPORARY, "%s", commit_txn_error(&t));
		goto out;
	}
	store_crash_point("delivery-committed");
	for (i = 0; i < d->n; i++)
		if (d->rcpts[i].quota_bytes != 0 || d->rcpts[i].quota_messages != 0)
			quota_note(d->rcpts[i].maildir, (int64_t)d->size, 1);
	rc = 0;
out:
	if (rc == -1) {
		commit_txn_abort(&t);
		delivery_unlink(newfds, linked, final);
	}
	for (i = 0; i < linked; i++)
		close(newfds[i]);
	free(newfds);
	return rc;
}

void
store_delivery_free(struct store_delivery **dp)
{
	struct store_delivery	*d = *dp;
	size_t			 i;

	if (d == NULL)
		return;
	commit_file_abort(&d->file);
	if (d->tmpdir != -1)
		close(d->tmpdir);
	for (i = 0; i < d->n; i++)
		free((char *)d->rcpts[i].maildir);
	free(d->rcpts);
	xfree(dp);
}
