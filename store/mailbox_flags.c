/*
 * Changes to a folder: flags, expunge, copy, append.  Each runs under the
 * folder's index lock (mailbox_locked): the Maildir is changed first and
 * made durable (one fsync of cur/), then the index records follow in the
 * same transaction.  A crash in between leaves the Maildir right and the
 * index behind; the next sync catches the index up.
 */
#include "store/store_private.h"
#include "lib/commit.h"
#include "lib/xmalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/*
 * A message's new flags; its new name is in the call's names buffer (a
 * record's fixed part, not its 268-byte name).
 */
struct change {
	struct idx_msg	 was;		/* as read, without name */
	uint32_t	 flags;
	uint32_t	 kwmask;
	uint32_t	 name;		/* offset in names */
	int64_t		 idate;		/* read from a file leaving new/ */
	uint64_t	 fsize, vsize;
};

struct flags_ctx {
	const uint32_t	*uids;
	size_t		 n;
	enum flag_mode	 mode;
	uint32_t	 flags;
	const char	*keywords;
	uint64_t	 unchangedsince;	/* UINT64_MAX: unconditional */
	uint32_t	*modified;		/* UIDs left alone: MODSEQ too new */
	size_t		 nmodified;
};

/*
 * A rename or unlink in cur/ failed (errno as it left it).  A file another
 * program renamed or removed (ENOENT) is looked up again after one rescan of
 * cur/: 0, and the caller retries that message with *synced set.  Any other
 * failure, or ENOENT after the rescan, is the error.
 */
static int
resync_if_gone(struct mailbox *mb, struct idx_txn *txn, struct idx_folder *f,
    const struct commit_txn *st, bool *synced, const char **error_r)
{
	if (errno != ENOENT || *synced)
		return store_err(error_r, store_errno_code(errno), "%s", commit_txn_error(st));
	*synced = true;
	f->cur_mtime_ns = 0;
	return maildir_sync_locked(mb, txn, f, true, error_r);
}

/*
 * Apply the recorded changes to the index records.  Each is as it was read,
 * in this transaction, unless a resync ran since (reread) or its strings
 * are inline (an older layout: the put moves them, so it needs them).
 */
static int
apply_changes(struct idx_txn *txn, struct idx_folder *f, const struct change *c, size_t n,
    const char *names, bool reread, const char **error_r)
{
	struct idx_msg	 m;
	size_t		 i;
	int		 rc;

	for (i = 0; i < n; i++) {
		if (!reread && c[i].was.strings_apart)
			m = c[i].was;
		else if ((rc = idx_msg_get(txn, f->id, c[i].was.uid, false, &m, error_r)) != 0) {
			if (rc == 1)
				continue;
			return rc;
		}
		folder_account(f, &m, -1);
		m.flags = c[i].flags;
		m.kwmask = c[i].kwmask;
		m.name = names + c[i].name;
		m.idate = c[i].idate;
		m.fsize = c[i].fsize;
		m.vsize = c[i].vsize;
		m.modseq = f->highestmodseq + 1;
		folder_account(f, &m, 1);
		if ((rc = idx_msg_put(txn, f->id, &m, error_r)) != 0)
			return rc;
	}
	return 0;
}

static uint32_t
new_flags(enum flag_mode mode, uint32_t old, uint32_t set)
{
	switch (mode) {
	case FLAGS_ADD:
		return old | set;
	case FLAGS_REMOVE:
		return old & ~set;
	case FLAGS_REPLACE:
		return set;
	}
	return old;
}

/* Flag changes are idempotent: a rerun after a retry is harmless. */
static int
flags_fn(struct mailbox *mb, struct idx_txn *txn, struct idx_folder *f, void *vctx,
    bool retry, const char **error_r)
{
	struct flags_ctx	*ctx = vctx;
	struct change		*c;
	struct commit_txn	 st;
	struct maildir_name	 mn;
	struct idx_msg		 m;
	struct buf		 names;
	char			 name[MAILDIR_NAME_MAX + 1];
	size_t			 i, n = 0;
	uint32_t		 kw = 0, set = ctx->flags & ~MSG_RECENT;
	bool			 clean, synced = false, cur_noted = false;
	int			 rc, src;

	if (maildir_keywords_load(mb->dirfd, &mb->kw, error_r) == -1)
		return -1;
	if (ctx->keywords != NULL && maildir_keywords_mask(mb->dirfd, &mb->kw, ctx->keywords,
	    ctx->mode != FLAGS_REMOVE, &kw, error_r) == -1)
		return -1;
	clean = f->cur_mtime_ns != 0 && f->cur_mtime_ns == maildir_dir_mtime(mb->curfd);
	c = xreallocarray(NULL, ctx->n + 1, sizeof(*c));
	buf_init(&names, UINT32_MAX);
	commit_txn_init(&st);
	ctx->nmodified = 0;	/* a retry decides afresh */
	for (i = 0; i < ctx->n; i++) {
again:
		if ((rc = idx_msg_get(txn, f->id, ctx->uids[i], false, &m, error_r)) != 0) {
			if (rc == 1)
				continue;	/* expunged meanwhile */
			goto out;
		}
		if (m.modseq > ctx->unchangedsince) {
			ctx->modified[ctx->nmodified++] = m.uid;
			continue;
		}
		c[n].was = m;
		c[n].was.name = NULL;	/* in the txn's buffer: the next get overwrites it */
		c[n].flags = new_flags(ctx->mode, m.flags, set);
		c[n].kwmask = ctx->keywords == NULL && ctx->mode != FLAGS_REPLACE ? m.kwmask :
		    new_flags(ctx->mode, m.kwmask, kw);
		if (c[n].flags == m.flags && c[n].kwmask == m.kwmask)
			continue;
		src = maildir_name_dirfd(mb, m.name);
		if (maildir_record_check(src, m.name, &m, error_r) == -1) {
			/* Gone before its stat: as for a rename, one rescan, else its own error. */
			if (store_error_code() != STORE_ERR_EXPUNGED || synced) {
				rc = -1;
				goto out;
			}
			errno = ENOENT;
			if ((rc = resync_if_gone(mb, txn, f, &st, &synced, error_r)) != 0)
				goto out;
			goto again;
		}
		c[n].idate = m.idate;
		c[n].fsize = m.fsize;
		c[n].vsize = m.vsize;
		/* A file still in new/ has no U= (nor perhaps sizes) in its name yet. */
		maildir_name_parse(m.name, &mn);
		mn.uid = m.uid;
		mn.fsize = m.fsize;
		mn.vsize = m.vsize;
		mn.flags = c[n].flags;
		mn.kwmask = c[n].kwmask;
		mn.has_info = true;
		if (maildir_name_format(&mn, name, sizeof(name)) == -1) {
			rc = store_err(error_r, STORE_ERR_NOT_POSSIBLE, "file name too long");
			goto out;
		}
		c[n].name = (uint32_t)buf_len(&names);
		if (buf_append(&names, name, strlen(name) + 1) == -1) {
			rc = store_err(error_r, STORE_ERR_PARAMS, "too many messages");
			goto out;
		}
		/* After the first rename cur/ is noted: no fstat a file for the rest. */
		if ((cur_noted && src == mb->curfd ?
		    commit_txn_rename_noted(&st, src, m.name, mb->curfd, name) :
		    commit_txn_rename(&st, src, m.name, mb->curfd, name)) == -1) {
			buf_truncate(&names, c[n].name);
			/* Another program renamed it: learn its name and try again. */
			if ((rc = resync_if_gone(mb, txn, f, &st, &synced, error_r)) != 0)
				goto out;
			goto again;
		}
		cur_noted = true;
		n++;
	}
	store_crash_point("flags-renamed");
	if (commit_txn_commit(&st) == -1) {
		rc = store_err(error_r, STORE_ERR_TEMPORARY, "%s", commit_txn_error(&st));
		goto out;
	}
	store_crash_point("flags-fsynced");
	if ((rc = apply_changes(txn, f, c, n, buf_head(&names), synced, error_r)) != 0)
		goto out;
	if (n > 0)
		f->highestmodseq++;
	f->cur_mtime_ns = clean && !synced ? maildir_dir_mtime(mb->curfd) : 0;
	rc = idx_folder_put(txn, mb->folder, f, error_r);
out:
	commit_txn_abort(&st);
	buf_release(&names);
	free(c);
	return rc;
}

int
mailbox_store_flags(struct mailbox *mb, const uint32_t *uids, size_t n, enum flag_mode mode,
    uint32_t flags, const char *keywords, const char **error_r)
{
	struct flags_ctx	 ctx = { uids, n, mode, flags, keywords, UINT64_MAX, NULL, 0 };

	if (mb->flags & MAILBOX_READONLY)
		return store_err(error_r, STORE_ERR_PERMISSION, "mailbox is read-only");
	return mailbox_locked(mb, flags_fn, &ctx, error_r);
}

int
mailbox_store_flags_cond(struct mailbox *mb, const uint32_t *uids, size_t n,
    enum flag_mode mode, uint32_t flags, const char *keywords, uint64_t unchangedsince,
    uint32_t *modified_r, size_t *nmodified_r, const char **error_r)
{
	struct flags_ctx	 ctx = { uids, n, mode, flags, keywords, unchangedsince,
				    modified_r, 0 };
	int			 rc;

	*nmodified_r = 0;
	if (mb->flags & MAILBOX_READONLY)
		return store_err(error_r, STORE_ERR_PERMISSION, "mailbox is read-only");
	if ((rc = mailbox_locked(mb, flags_fn, &ctx, error_r)) == 0)
		*nmodified_r = ctx.nmodified;
	return rc;
}

/* A rerun after a retry skips what the resync found gone already. */
static int
expunge_fn(struct mailbox *mb, struct idx_txn *txn, struct idx_folder *f, void *vctx,
    bool retry, const char **error_r)
{
	struct flags_ctx	*ctx = vctx;
	struct idx_msg		*gone, m;
	struct commit_txn	 st;
	size_t			 i, n = 0;
	int64_t			 bytes = 0;
	bool			 clean, synced = false;
	int			 rc;

	clean = f->cur_mtime_ns != 0 && f->cur_mtime_ns == maildir_dir_mtime(mb->curfd);
	gone = xreallocarray(NULL, ctx->n + 1, sizeof(*gone));
	commit_txn_init(&st);
	for (i = 0; i < ctx->n; i++) {
again:
		if ((rc = idx_msg_get(txn, f->id, ctx->uids[i], false, &m, error_r)) != 0) {
			if (rc == 1)
				continue;
			goto out;
		}
		if (commit_txn_unlink(&st, maildir_name_dirfd(mb, m.name), m.name) == -1) {
			if ((rc = resync_if_gone(mb, txn, f, &st, &synced, error_r)) != 0)
				goto out;
			goto again;
		}
		gone[n] = m;
		gone[n].name = NULL;	/* points into the txn buffer */
		bytes += (int64_t)m.fsize;
		n++;
	}
	store_crash_point("expunge-unlinked");
	if (commit_txn_commit(&st) == -1) {
		rc = store_err(error_r, STORE_ERR_TEMPORARY, "%s", commit_txn_error(&st));
		goto out;
	}
	store_crash_point("expunge-fsynced");
	for (i = 0; i < n; i++) {
		if ((rc = idx_msg_del(txn, f, gone[i].uid, error_r)) != 0)
			goto out;
		folder_account(f, &gone[i], -1);
	}
	if (n > 0) {
		f->highestmodseq++;
		quota_note(mb->maildir, -bytes, -(int64_t)n);
	}
	f->cur_mtime_ns = clean && !synced ? maildir_dir_mtime(mb->curfd) : 0;
	rc = idx_folder_put(txn, mb->folder, f, error_r);
out:
	commit_txn_abort(&st);
	free(gone);
	return rc;
}

int
mailbox_expunge(struct mailbox *mb, const uint32_t *uids, size_t n, const char **error_r)
{
	struct flags_ctx	 ctx = { uids, n, FLAGS_ADD, 0, NULL, UINT64_MAX, NULL, 0 };

	if (mb->flags & MAILBOX_READONLY)
		return store_err(error_r, STORE_ERR_PERMISSION, "mailbox is read-only");
	return mailbox_locked(mb, expunge_fn, &ctx, error_r);
}
