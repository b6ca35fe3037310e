/*
 * COPY and MOVE (APPEND: mailbox_append.c): new files enter cur/ directly
 * with their UID in the name (reserved in the side file first), so no sync
 * has to find them.  COPY hard-links the source file (one directory fsync for the batch),
 * MOVE renames it (each message is in exactly one folder at any instant;
 * both directories fsynced once).
 */
#include "store/store_private.h"
#include "lib/commit.h"
#include "lib/xmalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct copy_ctx {
	const uint32_t	*uids;
	size_t		 n;
	const char	*dest;
	uint32_t	*uids_r;
	bool		 move;		/* rename instead of link, drop the sources */
	bool		 made;		/* files were linked: never link twice */
	char		**names;	/* [n]: the file each made in dest's cur/ */
	uint32_t	 uidvalidity;	/* dest's, for UIDPLUS */
};

struct copied {
	struct idx_msg	 m;
	uint32_t	 src_uid;
	char		 name[MAILDIR_NAME_MAX + 1];
	void		*blob;		/* the source record's strings */
};

/* The destination's folder record, locked; created (and synced) if new. */
static int
dest_folder(struct mailbox *dm, struct idx_txn *txn, struct idx_folder *df,
    const char **error_r)
{
	int	 rc;

	if ((rc = idx_folder_get(txn, dm->folder, true, df, error_r)) < 0)
		return rc;
	if (rc == 1 && (rc = maildir_sync_locked(dm, txn, df, false, error_r)) != 0)
		return rc;
	dm->folder_id = df->id;
	return 0;
}

/* Link (or move) one source message into dest's cur/ under a new name and UID. */
static int
copy_one(struct mailbox *mb, struct mailbox *dm, struct idx_txn *txn, struct idx_folder *f,
    struct idx_folder *df, uint32_t uid, bool move, struct commit_txn *st, struct copied *c,
    const char **error_r)
{
	struct maildir_name	 mn;
	struct idx_msg		 m;
	char			*kw, *p;
	size_t			 len;
	int			 rc, src;

	if ((rc = idx_msg_get(txn, f->id, uid, true, &m, error_r)) != 0)
		return rc;
	memset(&mn, 0, sizeof(mn));
	commit_unique_name(mn.base, sizeof(mn.base));
	mn.fsize = m.fsize;
	mn.vsize = m.vsize;
	mn.uid = df->uidnext;
	mn.flags = m.flags;
	mn.has_info = true;
	if (m.kwmask != 0) {
		/* Keyword letters are per folder: map by name. */
		kw = maildir_keywords_string(&mb->kw, m.kwmask);
		rc = maildir_keywords_mask(dm->dirfd, &dm->kw, kw, true, &mn.kwmask, error_r);
		free(kw);
		if (rc == -1)
			return -1;
	}
	if (maildir_name_format(&mn, c->name, sizeof(c->name)) == -1)
		return store_err(error_r, STORE_ERR_NOT_POSSIBLE, "file name too long");
	src = maildir_name_dirfd(mb, m.name);
	if ((move ? commit_txn_rename(st, src, m.name, dm->curfd, c->name) :
	    commit_txn_link(st, src, m.name, dm->curfd, c->name)) == -1)
		return errno == ENOENT ? 1 :
		    store_err(error_r, store_errno_code(errno), "%s", commit_txn_error(st));
	/* Keep the cached strings: the index record is copied, not re-parsed. */
	len = strlen(m.envelope) + strlen(m.body) + strlen(m.bodystructure) + 3;
	c->blob = p = xmalloc(len);
	c->m = m;
	c->src_uid = m.uid;
	c->m.envelope = strcpy(p, m.envelope);
	p += strlen(p) + 1;
	c->m.body = strcpy(p, m.body);
	p += strlen(p) + 1;
	c->m.bodystructure = strcpy(p, m.bodystructure);
	c->m.uid = df->uidnext++;
	c->m.kwmask = mn.kwmask;
	c->m.name = c->name;
	return 0;
}

/*
 * A retry after files were linked (or moved) into dest: a full rescan of
 * dest indexes them (under the U= in their names), and done[i] marks the
 * messages found there, with their UID in uids_r: they are not copied
 * again.  same: the caller's rescan of the folder did it already.
 */
static int
copy_reuse(struct copy_ctx *ctx, struct mailbox *dm, struct idx_txn *txn,
    struct idx_folder *df, bool same, bool *done, const char **error_r)
{
	struct idx_msglist	 l = { 0 };
	struct maildir_name	 mn, mine;
	size_t			 i, j;
	int			 rc;

	if (!same) {
		df->cur_mtime_ns = 0;
		if ((rc = maildir_sync_locked(dm, txn, df, true, error_r)) != 0)
			return rc;
	}
	if ((rc = idx_msg_list(txn, df->id, &l, error_r)) != 0)
		return rc;
	for (j = 0; j < l.n; j++) {
		maildir_name_parse(l.msgs[j].name, &mn);
		for (i = 0; i < ctx->n; i++) {
			if (ctx->names[i] == NULL || done[i] ||
			    maildir_name_parse(ctx->names[i], &mine) == -1 ||
			    strcmp(mn.base, mine.base) != 0)
				continue;
			done[i] = true;
			if (ctx->uids_r != NULL)
				ctx->uids_r[i] = l.msgs[j].uid;
		}
	}
	idx_msglist_free(&l);
	return 0;
}

static int
copy_fn(struct mailbox *mb, struct idx_txn *txn, struct idx_folder *f, void *vctx,
    bool retry, const char **error_r)
{
	struct copy_ctx		*ctx = vctx;
	struct mailbox		*dm = NULL;
	struct idx_folder	 dfr, *df;
	struct commit_txn	 st;
	struct copied		*c;
	size_t			 i, n = 0;
	uint64_t		 bytes = 0;
	bool			 same, clean, srcclean, *done;
	int			 rc;

	c = xcalloc(ctx->n + 1, sizeof(*c));
	done = xcalloc(ctx->n + 1, sizeof(*done));
	commit_txn_init(&st);
	same = strcmp(ctx->dest, mb->folder) == 0 ||
	    (maildir_folder_is_inbox(ctx->dest) && maildir_folder_is_inbox(mb->folder));
	if ((rc = maildir_handle_open(mb->st, mb->maildir, ctx->dest, &dm, error_r)) != 0)
		goto out;
	if (same)
		df = f;
	else if ((rc = dest_folder(dm, txn, df = &dfr, error_r)) != 0)
		goto out;
	ctx->uidvalidity = df->uidvalidity;
	/* Never link twice: what an earlier attempt made is taken as copied. */
	if (retry && ctx->made) {
		if ((rc = copy_reuse(ctx, dm, txn, df, same, done, error_r)) != 0)
			goto out;
		/* Their links may not be durable yet: fsync before the index says so. */
		if (commit_txn_note_dir(&st, dm->curfd) == -1 ||
		    (ctx->move && commit_txn_note_dir(&st, mb->curfd) == -1)) {
			rc = store_err(error_r, STORE_ERR_TEMPORARY, "%s", commit_txn_error(&st));
			goto out;
		}
	}
	if ((rc = maildir_keywords_load(dm->dirfd, &dm->kw, error_r)) != 0 ||
	    (rc = maildir_keywords_load(mb->dirfd, &mb->kw, error_r)) != 0 ||
	    (rc = maildir_reserve_uids(dm, df, df->uidnext + (uint32_t)ctx->n, error_r)) != 0)
		goto out;
	clean = df->cur_mtime_ns != 0 && df->cur_mtime_ns == maildir_dir_mtime(dm->curfd);
	srcclean = f->cur_mtime_ns != 0 && f->cur_mtime_ns == maildir_dir_mtime(mb->curfd);
	for (i = 0; i < ctx->n; i++) {
		if (done[i])
			continue;
		if (ctx->uids_r != NULL)
			ctx->uids_r[i] = 0;
		rc = copy_one(mb, dm, txn, f, df, ctx->uids[i], ctx->move, &st, &c[n], error_r);
		if (rc == 1)
			continue;	/* expunged meanwhile */
		if (rc != 0)
			goto out;
		ctx->made = true;
		free(ctx->names[i]);
		ctx->names[i] = xstrdup(c[n].name);
		if (ctx->uids_r != NULL)
			ctx->uids_r[i] = c[n].m.uid;
		bytes += c[n].m.fsize;
		n++;
	}
	store_crash_point("copy-linked");
	if (commit_txn_commit(&st) == -1) {
		rc = store_err(error_r, STORE_ERR_TEMPORARY, "%s", commit_txn_error(&st));
		goto out;
	}
	store_crash_point("copy-fsynced");
	for (i = 0; i < n; i++) {
		c[i].m.modseq = c[i].m.created = df->highestmodseq + 1;
		if ((rc = idx_msg_put(txn, df->id, &c[i].m, error_r)) != 0)
			goto out;
		folder_account(df, &c[i].m, 1);
	}
	if (n > 0) {
		df->highestmodseq++;
		if (!ctx->move)
			quota_note(mb->maildir, (int64_t)bytes, (int64_t)n);
	}
	df->cur_mtime_ns = clean ? maildir_dir_mtime(dm->curfd) : 0;
	if ((rc = idx_folder_put(txn, dm->folder, df, error_r)) != 0 || !ctx->move)
		goto out;
	/* MOVE: the sources are gone from their folder too. */
	for (i = 0; i < n; i++) {
		if ((rc = idx_msg_del(txn, f, c[i].src_uid, error_r)) != 0)
			goto out;
		folder_account(f, &c[i].m, -1);
	}
	if (n > 0)
		f->highestmodseq++;
	f->cur_mtime_ns = srcclean ? maildir_dir_mtime(mb->curfd) : 0;
	rc = idx_folder_put(txn, mb->folder, f, error_r);
out:
	commit_txn_abort(&st);
	for (i = 0; i < ctx->n; i++)
		free(c[i].blob);
	free(c);
	free(done);
	mailbox_close(&dm);
	return rc;
}

static int
copy_run(struct mailbox *mb, struct copy_ctx *ctx, const char **error_r)
{
	size_t	 i;
	int	 rc;

	ctx->names = xcalloc(ctx->n + 1, sizeof(*ctx->names));
	rc = mailbox_locked(mb, copy_fn, ctx, error_r);
	for (i = 0; i < ctx->n; i++)
		free(ctx->names[i]);
	free(ctx->names);
	return rc;
}

int
mailbox_copy_uids(struct mailbox *mb, const uint32_t *uids, size_t n, const char *dest,
    bool move, uint32_t *uids_r, uint32_t *uidvalidity_r, const char **error_r)
{
	struct copy_ctx		 ctx = { uids, n, dest, uids_r, move, false, NULL, 0 };
	struct idx_txn		*txn;
	struct idx_msg		 m;
	uint64_t		 bytes = 0;
	size_t			 i;
	int			 rc;

	if (move && (mb->flags & MAILBOX_READONLY))
		return store_err(error_r, STORE_ERR_PERMISSION, "mailbox is read-only");
	/* Quota is checked before the lock: an estimate, as at delivery. */
	if (!move && mailbox_env_refresh(mb, error_r) == 0 &&
	    idx_begin(mb->env, true, &txn, error_r) == 0) {
		for (i = 0; i < n; i++)
			if (idx_msg_get(txn, mb->folder_id, uids[i], false, &m, error_r) == 0)
				bytes += m.fsize;
		idx_abort(&txn);
	}
	if (!move && quota_check_maildir(mb->maildir, bytes, error_r) == -1)
		return -1;
	rc = copy_run(mb, &ctx, error_r);
	if (rc == 0 && uidvalidity_r != NULL)
		*uidvalidity_r = ctx.uidvalidity;
	return rc;
}

int
mailbox_copy(struct mailbox *mb, const uint32_t *uids, size_t n, const char *dest_folder,
    uint32_t *uids_r, const char **error_r)
{
	return mailbox_copy_uids(mb, uids, n, dest_folder, false, uids_r, NULL, error_r);
}

int
mailbox_move(struct mailbox *mb, const uint32_t *uids, size_t n, const char *dest_folder,
    uint32_t *uids_r, const char **error_r)
{
	return mailbox_copy_uids(mb, uids, n, dest_folder, true, uids_r, NULL, error_r);
}
