/*
 * APPEND, streamed and in transactions (MULTIAPPEND, RFC 3502).  Each
 * message is a delivery into the folder's own tmp/ (store_delivery_*: one
 * streamed write path), written as its literal arrives.  The commit syncs
 * every file (with its internal date as mtime), then, under the folder's
 * index lock, renames them all into cur/ with their flags, keywords and
 * UIDs (one contiguous range) in the name, fsyncs cur/ once and indexes
 * them in the same transaction: all visible at once or none.
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

struct append_msg {
	struct store_delivery	*d;
	uint32_t		 flags;
	char			*keywords;	/* NULL if none */
	time_t			 idate;
	uint32_t		 uid;		/* assigned at commit */
	char			 name[MAILDIR_NAME_MAX + 1];	/* in cur/ once published */
};

struct store_append {
	struct mailbox		*mb;
	char			*dir;		/* the folder's directory: delivery's "maildir" */
	struct append_msg	*msgs;
	size_t			 n, cap;
	size_t			 published;	/* msgs[0..published) are in cur/ */
	uint32_t		 uidvalidity;
	uint32_t		*uids;		/* [n] after commit */
	bool			 committed;
	bool			 failed;	/* files were published and removed again */
};

int
store_append_begin(struct store *st, const char *maildir, const char *folder,
    struct store_append **a_r, const char **error_r)
{
	struct store_append	*a;
	char			 sub[256];

	if (maildir_folder_dir(folder, sub, sizeof(sub)) == -1)
		return store_err(error_r, STORE_ERR_PARAMS, "invalid folder name");
	a = xcalloc(1, sizeof(*a));
	a->dir = xasprintf("%s%s%s", maildir, sub[0] != '\0' ? "/" : "", sub);
	if (maildir_handle_open(st, maildir, folder, &a->mb, error_r) == -1) {
		store_append_free(&a);
		return -1;
	}
	*a_r = a;
	return 0;
}

int
store_append_message(struct store_append *a, uint32_t flags, const char *keywords,
    time_t internal_date, const char **error_r)
{
	struct store_rcpt	 r = { a->dir, 0, 0 };
	struct append_msg	*m;

	if (a->committed || a->failed || a->published > 0)
		return store_err(error_r, STORE_ERR_PARAMS, "append already committed");
	if (a->n == a->cap) {
		a->cap = a->cap == 0 ? 4 : a->cap * 2;
		a->msgs = xreallocarray(a->msgs, a->cap, sizeof(*a->msgs));
	}
	m = &a->msgs[a->n];
	memset(m, 0, sizeof(*m));
	/* Quota is checked at commit, for the whole transaction. */
	if ((m->d = store_delivery_begin(a->mb->st, &r, 1, error_r)) == NULL)
		return -1;
	m->flags = flags & ~MSG_RECENT;
	m->keywords = keywords != NULL && *keywords != '\0' ? xstrdup(keywords) : NULL;
	m->idate = internal_date != 0 ? internal_date : time(NULL);
	a->n++;
	return 0;
}

int
store_append_write(struct store_append *a, const void *data, size_t len)
{
	if (a->n == 0 || a->committed || a->failed || a->published > 0) {
		errno = EINVAL;
		return -1;
	}
	return store_delivery_write(a->msgs[a->n - 1].d, data, len);
}

size_t
store_append_count(const struct store_append *a)
{
	return a->n;
}

uint64_t
store_append_size(const struct store_append *a)
{
	uint64_t	 size = 0;
	size_t		 i;

	for (i = 0; i < a->n; i++)
		size += store_delivery_size(a->msgs[i].d);
	return size;
}

/* Index data, name (flags, keywords, UID) of message i: nothing visible yet. */
static int
append_prepare(struct store_append *a, size_t i, uint32_t uid, struct idx_msg *m,
    char **cache_r, const char **error_r)
{
	struct append_msg	*am = &a->msgs[i];
	struct maildir_name	 mn;

	memset(m, 0, sizeof(*m));
	if (maildir_index_file(a->mb->tmpfd, delivery_tmp_name(am->d), m, cache_r,
	    error_r) == -1)
		return -1;
	memset(&mn, 0, sizeof(mn));
	snprintf(mn.base, sizeof(mn.base), "%s", delivery_tmp_name(am->d));
	mn.fsize = m->fsize;
	mn.vsize = m->vsize;
	mn.uid = uid;
	mn.flags = am->flags;
	mn.has_info = true;
	if (am->keywords != NULL && maildir_keywords_mask(a->mb->dirfd, &a->mb->kw,
	    am->keywords, true, &mn.kwmask, error_r) == -1)
		return -1;
	if (maildir_name_format(&mn, am->name, sizeof(am->name)) == -1)
		return store_err(error_r, STORE_ERR_NOT_POSSIBLE, "file name too long");
	am->uid = m->uid = uid;
	m->flags = mn.flags;
	m->kwmask = mn.kwmask;
	m->idate = am->idate;
	m->name = am->name;
	return 0;
}

/* Take the published files out of cur/ again, durably: the append failed. */
static void
append_unpublish(struct store_append *a)
{
	struct commit_txn	 t;
	size_t			 i;

	commit_txn_init(&t);
	for (i = 0; i < a->published; i++)
		commit_txn_unlink(&t, a->mb->curfd, a->msgs[i].name);
	commit_txn_commit(&t);
	a->failed = a->failed || a->published > 0;
	a->published = 0;
}

/* Rename every file into cur/ and fsync it once. */
static int
append_publish(struct store_append *a, const char **error_r)
{
	struct commit_txn	 t;
	size_t			 i;

	commit_txn_init(&t);
	for (i = 0; i < a->n; i++) {
		if (delivery_publish(a->msgs[i].d, &t, a->mb->curfd, a->msgs[i].name,
		    error_r) == -1)
			goto fail;
		a->published++;
	}
	store_crash_point("append-written");
	if (commit_txn_commit(&t) == -1) {
		store_err(error_r, STORE_ERR_TEMPORARY, "%s", commit_txn_error(&t));
		goto fail;
	}
	store_crash_point("append-fsynced");
	return 0;
fail:
	commit_txn_abort(&t);	/* append_commit takes the published files out again */
	return -1;
}

static int
append_fn(struct mailbox *mb, struct idx_txn *txn, struct idx_folder *f, void *vctx,
    bool retry, const char **error_r)
{
	struct store_append	*a = vctx;
	struct idx_msg		*m;
	char			**caches;
	size_t			 i;
	bool			 clean;
	int			 rc = -1;

	a->uidvalidity = f->uidvalidity;
	/* The retry's full rescan indexed the published files under their U=. */
	if (retry && a->published > 0)
		return 0;
	m = xcalloc(a->n, sizeof(*m));
	caches = xcalloc(a->n, sizeof(*caches));
	if (maildir_keywords_load(mb->dirfd, &mb->kw, error_r) == -1 ||
	    (rc = maildir_reserve_uids(mb, f, f->uidnext + (uint32_t)a->n, error_r)) != 0)
		goto out;
	clean = f->cur_mtime_ns != 0 && f->cur_mtime_ns == maildir_dir_mtime(mb->curfd);
	for (i = 0; i < a->n; i++)
		if ((rc = append_prepare(a, i, f->uidnext + (uint32_t)i, &m[i], &caches[i],
		    error_r)) != 0)
			goto out;
	if ((rc = append_publish(a, error_r)) != 0)
		goto out;
	f->uidnext += (uint32_t)a->n;
	f->highestmodseq++;
	for (i = 0; i < a->n; i++) {
		m[i].modseq = f->highestmodseq;
		if ((rc = idx_msg_put(txn, f->id, &m[i], error_r)) != 0)
			goto out;
		folder_account(f, &m[i], 1);
	}
	f->cur_mtime_ns = clean ? maildir_dir_mtime(mb->curfd) : 0;
	rc = idx_folder_put(txn, mb->folder, f, error_r);
out:
	for (i = 0; i < a->n; i++)
		free(caches[i]);
	free(caches);
	free(m);
	return rc;
}

/* The blocking half: sync the files, then publish and index them under the lock. */
int
append_commit(struct store_append *a, const char **error_r)
{
	size_t	 i;
	int	 rc;

	if (a->committed || a->failed || a->n == 0)
		return store_err(error_r, STORE_ERR_PARAMS, a->n == 0 ? "append without a message" :
		    a->failed ? "append failed: begin it again" : "append already committed");
	if (quota_check_maildir(a->mb->maildir, store_append_size(a), error_r) == -1)
		return -1;
	for (i = 0; i < a->n; i++)
		if (delivery_sync(a->msgs[i].d, a->msgs[i].idate, error_r) == -1)
			return -1;
	rc = mailbox_locked(a->mb, append_fn, a, error_r);
	if (rc == -1) {
		/* Failed, or given up after retries: the files must not turn up later. */
		append_unpublish(a);
		return -1;
	}
	a->committed = true;
	a->uids = xcalloc(a->n, sizeof(*a->uids));
	for (i = 0; i < a->n; i++)
		a->uids[i] = a->msgs[i].uid;
	quota_note(a->mb->maildir, (int64_t)store_append_size(a), (int64_t)a->n);
	return 0;
}

const uint32_t *
append_uids(const struct store_append *a, uint32_t *uidvalidity_r)
{
	*uidvalidity_r = a->uidvalidity;
	return a->uids;
}

int
store_append_commit(struct store_append *a, uint32_t *uidvalidity_r, uint32_t *uids_r,
    const char **error_r)
{
	if (append_commit(a, error_r) == -1)
		return -1;
	if (uidvalidity_r != NULL)
		*uidvalidity_r = a->uidvalidity;
	if (uids_r != NULL)
		memcpy(uids_r, a->uids, a->n * sizeof(*uids_r));
	return 0;
}

void
store_append_free(struct store_append **ap)
{
	struct store_append	*a = *ap;
	size_t			 i;

	if (a == NULL)
		return;
	/* Removes each temp file not published. */
	for (i = 0; i < a->n; i++) {
		store_delivery_free(&a->msgs[i].d);
		free(a->msgs[i].keywords);
	}
	free(a->msgs);
	free(a->uids);
	free(a->dir);
	mailbox_close(&a->mb);
	xfree(ap);
}

int
mailbox_append(struct store *st, const char *maildir, const char *folder, const void *data,
    size_t len, uint32_t flags, time_t internal_date, uint32_t *uid_r, const char **error_r)
{
	struct store_append	*a;
	int			 rc = -1;

	if (store_append_begin(st, maildir, folder, &a, error_r) == -1)
		return -1;
	if (store_append_message(a, flags, NULL, internal_date, error_r) == 0) {
		if (store_append_write(a, data, len) == -1)
			rc = store_err(error_r, store_errno_code(errno), "write: %s",
			    strerror(errno));
		else
			rc = store_append_commit(a, NULL, uid_r, error_r);
	}
	store_append_free(&a);
	return rc;
}
