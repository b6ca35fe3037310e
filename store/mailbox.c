/*
 * Mailbox handles: open (with the POP3 lock), sync and status (the
 * snapshot and message reads: mailbox_read.c; change notification:
 * mailbox_notify.c).  Every change runs through mailbox_locked(): one
 * index transaction holding the folder's write lock, in which the Maildir
 * is changed (durably) before the index is updated and committed.
 */
#include "store/store_private.h"
#include "lib/xmalloc.h"

#include <sys/file.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define POP3_LOCK_FILE	"postroom-pop3.lock"

int
mailbox_env_refresh(struct mailbox *mb, const char **error_r)
{
	if (mb->env != NULL && !idx_env_stale(mb->env))
		return 0;
	idx_env_put(&mb->env);
	return idx_env_get(mb->maildir, &mb->env, error_r);
}

int
mailbox_locked(struct mailbox *mb, locked_fn *fn, void *ctx, const char **error_r)
{
	struct idx_folder	 f = { 0 };
	struct idx_retry	 r = { 0 };
	struct idx_txn		*txn = NULL;
	uint64_t		 written = 0;	/* HIGHESTMODSEQ of an aborted attempt */
	int			 rc = -1;
	bool			 retry = false;

	do {
		if (mailbox_env_refresh(mb, error_r) == -1)
			return -1;
		if ((rc = idx_begin(mb->env, false, &txn, error_r)) != 0)
			goto next;
		rc = idx_folder_get(txn, mb->folder, true, &f, error_r);
		if (rc < 0)
			goto next;
		/*
		 * Readers read uncommitted: one may have seen the HIGHESTMODSEQ
		 * an aborted attempt wrote, so it is never handed out again.
		 */
		if (rc == 0 && f.highestmodseq < written)
			f.highestmodseq = written;
		/* Unknown folder, or a retry after changes: sync first. */
		if (rc == 1 || retry || f.id != mb->folder_id) {
			if (rc == 0 && retry)
				f.cur_mtime_ns = 0;
			if ((rc = maildir_sync_locked(mb, txn, &f, rc == 0, error_r)) != 0)
				goto next;
			mb->folder_id = f.id;
			mb->uidvalidity = f.uidvalidity;
		}
		/* From here an attempt may have changed the Maildir. */
		retry = true;
		if ((rc = fn(mb, txn, &f, ctx, retry && r.n > 0, error_r)) != 0)
			goto next;
		/* Every expunge passes here: the one place the tombstone cap is kept. */
		if (f.tombstones > mb->st->opts.vanished_max &&
		    ((rc = idx_vanished_trim(txn, &f, mb->st->opts.vanished_max, error_r)) != 0 ||
		    (rc = idx_folder_put(txn, mb->folder, &f, error_r)) != 0))
			goto next;
		if ((rc = idx_commit(&txn, error_r)) == 0) {
			mb->folder_id = f.id;
			mb->uidvalidity = f.uidvalidity;
			return 0;
		}
next:
		if (f.highestmodseq > written)
			written = f.highestmodseq;
		idx_abort(&txn);
		if (rc != IDX_RETRY)
			return -1;
	} while (idx_retry_wait(mb->env, &r));
	return store_err(error_r, STORE_ERR_TEMPORARY, "index busy, try again later");
}

/* True if dir has an entry other than . and .. (a cheap look at new/). */
static bool
dir_has_entries(int fd)
{
	struct dirent	*de;
	DIR		*dir;
	int		 dfd;
	bool		 found = false;

	/* Not dup(): the descriptor's offset is shared with other handles. */
	if ((dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return true;
	if ((dir = fdopendir(dfd)) == NULL) {
		close(dfd);
		return true;
	}
	rewinddir(dir);
	while (!found && (de = readdir(dir)) != NULL)
		found = de->d_name[0] != '.';
	closedir(dir);
	return found;
}

static int
sync_fn(struct mailbox *mb, struct idx_txn *txn, struct idx_folder *f, void *ctx,
    bool retry, const char **error_r)
{
	bool	*force = ctx;

	if (*force)
		f->cur_mtime_ns = 0;
	return maildir_sync_locked(mb, txn, f, true, error_r);
}

static int
synced_fn(struct mailbox *mb, struct idx_txn *txn, struct idx_folder *f, void *ctx,
    bool retry, const char **error_r)
{
	return 0;
}

int
maildir_sync(struct mailbox *mb, bool force, const char **error_r)
{
	struct idx_folder	 f;
	struct idx_txn		*txn;
	bool			 trusted;
	int			 rc;

	/* Nothing new and cur/ as we left it: no write lock needed. */
	if (!force && mailbox_env_refresh(mb, error_r) == 0 &&
	    idx_begin(mb->env, true, &txn, error_r) == 0) {
		rc = idx_folder_get(txn, mb->folder, false, &f, error_r);
		trusted = rc == 0 && maildir_cur_trusted(&f, maildir_dir_mtime(mb->curfd));
		idx_abort(&txn);
		/*
		 * new/ may hold what a POP3 sync indexed there: for POP3 its
		 * mtime says if that is all; empty, it must have held nothing.
		 */
		if (rc == 0 && (mb->folder_id == 0 || f.id == mb->folder_id) && trusted &&
		    (((mb->flags & MAILBOX_POP3_LOCK) &&
		    maildir_new_state(&f, maildir_dir_mtime(mb->newfd)) == MAILDIR_SETTLED) ||
		    (f.new_kept == 0 && !dir_has_entries(mb->newfd))) && maildir_side_ok(mb, &f)) {
			mb->folder_id = f.id;
			mb->uidvalidity = f.uidvalidity;
			return 0;
		}
	}
	/*
	 * A handle's first locked sync is mailbox_locked()'s own (folder_id
	 * 0): a second scan right after it, in the same transaction, would
	 * find cur/ young and read all of it again.
	 */
	return mailbox_locked(mb, mb->folder_id == 0 && !force ? synced_fn : sync_fn, &force,
	    error_r);
}

int
mailbox_sync(struct mailbox *mb, const char **error_r)
{
	return maildir_sync(mb, false, error_r);
}

int
maildir_handle_open(struct store *st, const char *maildir, const char *folder,
    struct mailbox **mb_r, const char **error_r)
{
	struct mailbox	*mb;
	char		 sub[256], path[4096];

	if (maildir_folder_dir(folder, sub, sizeof(sub)) == -1)
		return store_err(error_r, STORE_ERR_PARAMS, "invalid folder name");
	snprintf(path, sizeof(path), "%s%s%s", maildir, sub[0] != '\0' ? "/" : "", sub);
	mb = xcalloc(1, sizeof(*mb));
	mb->st = st;
	mb->maildir = xstrdup(maildir);
	mb->folder = xstrdup(sub[0] == '\0' ? "INBOX" : folder);
	mb->dirfd = mb->tmpfd = mb->newfd = mb->curfd = -1;
	mb->lockfd = -1;
	if (maildir_dirs_open(mb, path, error_r) == -1)
		goto fail;
	if (idx_env_get(maildir, &mb->env, error_r) == -1)
		goto fail;
	*mb_r = mb;
	return 0;
fail:
	mailbox_close(&mb);
	return -1;
}

int
mailbox_open(struct store *st, const char *maildir, const char *folder, unsigned flags,
    struct mailbox **mb_r, const char **error_r)
{
	struct mailbox	*mb;

	if (maildir_handle_open(st, maildir, folder, &mb, error_r) == -1)
		return -1;
	mb->flags = flags;
	if (flags & MAILBOX_POP3_LOCK) {
		mb->lockfd = openat(mb->dirfd, POP3_LOCK_FILE, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (mb->lockfd == -1) {
			store_err(error_r, STORE_ERR_TEMPORARY,
			    "open %s: %s", POP3_LOCK_FILE, strerror(errno));
			goto fail;
		}
		if (flock(mb->lockfd, LOCK_EX | LOCK_NB) == -1) {
			if (errno == EWOULDBLOCK)
				store_err(error_r, STORE_ERR_IN_USE,
				    "%s held by another POP3 session", POP3_LOCK_FILE);
			else
				store_err(error_r, STORE_ERR_TEMPORARY,
				    "lock %s: %s", POP3_LOCK_FILE, strerror(errno));
			goto fail;
		}
	}
	if (maildir_sync(mb, false, error_r) == -1 ||
	    maildir_keywords_load(mb->dirfd, &mb->kw, error_r) == -1)
		goto fail;
	*mb_r = mb;
	return 0;
fail:
	mailbox_close(&mb);
	return -1;
}

void
mailbox_close(struct mailbox **mbp)
{
	struct mailbox	*mb = *mbp;

	if (mb == NULL)
		return;
	mailbox_notify_close(mb);
	maildir_dirs_close(mb);
	if (mb->lockfd != -1)
		close(mb->lockfd);
	mailbox_read_free(mb);
	maildir_keywords_clear(&mb->kw);
	idx_env_put(&mb->env);
	free(mb->recent);
	free(mb->maildir);
	free(mb->folder);
	xfree(mbp);
}

void
mailbox_release_index(struct mailbox *mb)
{
	mb->index_released = true;
	idx_env_put(&mb->env);
}

int
mailbox_status(struct mailbox *mb, struct mailbox_status *out)
{
	struct idx_folder	 f;
	struct idx_retry	 r = { 0 };
	struct idx_txn		*txn;
	const char		*error;
	int			 rc;

	memset(out, 0, sizeof(*out));
	do {
		if (mailbox_env_refresh(mb, &error) == -1)
			return -1;
		if ((rc = idx_begin(mb->env, true, &txn, &error)) == 0) {
			rc = idx_folder_get(txn, mb->folder, false, &f, &error);
			idx_abort(&txn);
		}
	} while (rc == IDX_RETRY && idx_retry_wait(mb->env, &r));
	if (rc != 0)
		return -1;
	out->uidvalidity = f.uidvalidity;
	out->uidnext = f.uidnext;
	out->highestmodseq = f.highestmodseq;
	out->messages = f.messages;
	out->unseen = f.unseen;
	out->recent = (uint32_t)mb->nrecent;
	out->size = f.size;
	return 0;
}
