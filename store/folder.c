/*
 * Maildir++ folders: ".Name" directories below the Maildir, '.' as the
 * hierarchy separator, a "maildirfolder" file in each, and the
 * "subscriptions" file (one name per line, as Courier and Dovecot read it),
 * which only SUBSCRIBE and UNSUBSCRIBE change: DELETE and RENAME leave it
 * (RFC 3501 6.3.6: a server never removes a name on its own; the client
 * subscribes the new name, as Dovecot expects).
 * Listing is in folder_list.c.
 * The index forgets a deleted or renamed folder; a renamed folder is
 * re-indexed from its side file under its new name (same UIDVALIDITY and
 * UIDs).  Renaming INBOX moves its messages into the new folder.
 */
#include "store/store_private.h"
#include "lib/commit.h"
#include "lib/buf.h"
#include "lib/safedir.h"
#include "lib/textfile.h"
#include "lib/xmalloc.h"

#include <sys/file.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SUBSCRIPTIONS_LOCK	"postroom-subscriptions.lock"
#define DELETED_PREFIX		"postroom-deleted."

int
maildir_make(struct commit_txn *t, const char *dir, bool folder, const char **error_r)
{
	static const char	*subs[] = { "tmp", "new", "cur" };
	struct iovec		 none = { NULL, 0 };
	int			 fd, tmpfd, i;

	if (mkdir(dir, 0700) == -1 && errno != EEXIST)
		return store_err(error_r, store_errno_code(errno),
		    "mkdir %s: %s", dir, strerror(errno));
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return store_err(error_r, STORE_ERR_TEMPORARY,
		    "open %s: %s", dir, strerror(errno));
	for (i = 0; i < 3; i++) {
		if (mkdirat(fd, subs[i], 0700) == -1 && errno != EEXIST) {
			close(fd);
			return store_err(error_r, store_errno_code(errno),
			    "mkdir %s/%s: %s", dir, subs[i], strerror(errno));
		}
	}
	if (commit_txn_note_dir(t, fd) == -1) {
		close(fd);
		return store_err(error_r, STORE_ERR_TEMPORARY, "%s", commit_txn_error(t));
	}
	if (folder && faccessat(fd, "maildirfolder", F_OK, 0) == -1) {
		tmpfd = openat(fd, "tmp", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (tmpfd == -1 ||
		    commit_txn_add(t, tmpfd, fd, "maildirfolder", &none, 1) == -1) {
			if (tmpfd != -1)
				close(tmpfd);
			close(fd);
			return store_err(error_r, STORE_ERR_TEMPORARY, "maildirfolder in %s: %s",
			    dir, commit_txn_error(t));
		}
		close(tmpfd);
	}
	close(fd);
	return 0;
}

static int
folder_path(const char *maildir, const char *name, char *out, size_t size,
    const char **error_r)
{
	char	 sub[256];

	if (maildir_folder_dir(name, sub, sizeof(sub)) == -1)
		return store_err(error_r, STORE_ERR_PARAMS, "invalid folder name");
	if (sub[0] == '\0')
		return store_err(error_r, STORE_ERR_NOT_POSSIBLE,
		    "INBOX cannot be created, deleted or replaced");
	snprintf(out, size, "%s/%s", maildir, sub);
	return 0;
}

static int
root_txn(struct commit_txn *t, const char *maildir, const char **error_r)
{
	int	 fd;

	commit_txn_init(t);
	if ((fd = open(maildir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return store_err(error_r, STORE_ERR_TEMPORARY,
		    "open %s: %s", maildir, strerror(errno));
	if (commit_txn_note_dir(t, fd) == -1) {
		close(fd);
		return store_err(error_r, STORE_ERR_TEMPORARY, "%s", commit_txn_error(t));
	}
	close(fd);
	return 0;
}

int
folder_create(struct store *st, const char *maildir, const char *name, const char **error_r)
{
	struct commit_txn	 t;
	char			 path[4096];

	(void)st;
	if (folder_path(maildir, name, path, sizeof(path), error_r) == -1)
		return -1;
	if (access(path, F_OK) == 0)
		return store_err(error_r, STORE_ERR_EXISTS, "folder exists");
	if (root_txn(&t, maildir, error_r) == -1)
		return -1;
	if (maildir_make(&t, path, true, error_r) == -1) {
		commit_txn_abort(&t);
		return -1;
	}
	if (commit_txn_commit(&t) == -1)
		return store_err(error_r, STORE_ERR_TEMPORARY, "%s", commit_txn_error(&t));
	return 0;
}

/* Drop the index's idea of these folders (they are rebuilt on next open). */
static int
index_forget(const char *maildir, const char **names, size_t n, const char **error_r)
{
	struct idx_env	*env = NULL;
	struct idx_txn	*txn;
	size_t		 i;
	struct idx_retry r = { 0 };
	int		 rc;

	do {
		if ((env == NULL || idx_env_stale(env)) && (idx_env_put(&env),
		    idx_env_get(maildir, &env, error_r)) == -1)
			return -1;
		if ((rc = idx_begin(env, false, &txn, error_r)) != 0)
			continue;
		for (i = 0; i < n && rc == 0; i++)
			rc = idx_folder_del(txn, names[i], error_r);
		if (rc == 0)
			rc = idx_commit(&txn, error_r);
		else
			idx_abort(&txn);
	} while (rc == IDX_RETRY && idx_retry_wait(env, &r));
	idx_env_put(&env);
	return rc == 0 ? 0 : -1;
}

int
folder_delete(struct store *st, const char *maildir, const char *name, const char **error_r)
{
	struct commit_txn	 t;
	char			 path[4096], gone[256], unique[128];
	unsigned		 links;
	int			 rootfd;

	(void)st;
	if (folder_path(maildir, name, path, sizeof(path), error_r) == -1)
		return -1;
	if (access(path, F_OK) == -1)
		return store_err(error_r, STORE_ERR_NOT_FOUND, "no such folder");
	if (index_forget(maildir, &name, 1, error_r) == -1)
		return -1;
	/* Vanish atomically (and durably), then remove at leisure. */
	commit_unique_name(unique, sizeof(unique));
	snprintf(gone, sizeof(gone), DELETED_PREFIX "%s", unique);
	if (root_txn(&t, maildir, error_r) == -1)
		return -1;
	rootfd = t.dirfds[0];
	if (commit_txn_rename(&t, rootfd, strrchr(path, '/') + 1, rootfd, gone) == -1 ||
	    commit_txn_commit(&t) == -1) {
		commit_txn_abort(&t);
		return store_err(error_r, store_errno_code(errno), "%s", commit_txn_error(&t));
	}
	if ((rootfd = open(maildir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) != -1) {
		/* Already invisible: what cannot be removed now is only litter. */
		safedir_remove_tree(rootfd, gone, gone, SAFEDIR_ANY_OWNER, &links, NULL);
		close(rootfd);
	}
	return 0;
}

/*
 * RENAME INBOX (RFC 3501 6.3.5): its messages move to a new folder and
 * INBOX stays, empty.
 */
static int
rename_inbox(struct store *st, const char *maildir, const char *to, const char **error_r)
{
	const struct msg_info	*mi;
	struct mailbox		*mb;
	uint32_t		*uids;
	size_t			 n, i;
	int			 rc;

	if (folder_create(st, maildir, to, error_r) == -1)
		return -1;
	if (mailbox_open(st, maildir, "INBOX", 0, &mb, error_r) == -1)
		return -1;
	if ((rc = mailbox_messages(mb, &mi, &n, error_r)) == 0 && n > 0) {
		uids = xreallocarray(NULL, n, sizeof(*uids));
		for (i = 0; i < n; i++)
			uids[i] = mi[i].uid;
		rc = mailbox_move(mb, uids, n, to, NULL, error_r);
		free(uids);
	}
	mailbox_close(&mb);
	return rc;
}

int
folder_rename(struct store *st, const char *maildir, const char *from, const char *to,
    const char **error_r)
{
	struct commit_txn	 t;
	struct dirent		*de;
	char			 src[4096], dst[4096], newname[512];
	char			**names = NULL;
	size_t			 n = 0, i, fromlen;
	DIR			*dir;
	int			 rootfd, rc = 0;

	if (maildir_folder_is_inbox(from))
		return rename_inbox(st, maildir, to, error_r);
	if (folder_path(maildir, from, src, sizeof(src), error_r) == -1 ||
	    folder_path(maildir, to, dst, sizeof(dst), error_r) == -1)
		return -1;
	if (access(src, F_OK) == -1)
		return store_err(error_r, STORE_ERR_NOT_FOUND, "no such folder");
	if (access(dst, F_OK) == 0)
		return store_err(error_r, STORE_ERR_EXISTS, "folder exists");
	/* The folder and its children ".from.*". */
	if ((dir = opendir(maildir)) == NULL)
		return store_err(error_r, STORE_ERR_TEMPORARY,
		    "open %s: %s", maildir, strerror(errno));
	fromlen = strlen(from);
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] != '.' || strncmp(de->d_name + 1, from, fromlen) != 0 ||
		    (de->d_name[1 + fromlen] != '\0' && de->d_name[1 + fromlen] != '.'))
			continue;
		names = xreallocarray(names, n + 1, sizeof(*names));
		names[n++] = xstrdup(de->d_name + 1);
	}
	closedir(dir);
	if (index_forget(maildir, (const char **)names, n, error_r) == -1)
		rc = -1;
	if (rc == 0 && root_txn(&t, maildir, error_r) == -1)
		rc = -1;
	rootfd = rc == 0 ? t.dirfds[0] : -1;
	for (i = 0; i < n && rc == 0; i++) {
		snprintf(newname, sizeof(newname), ".%s%s", to, names[i] + fromlen);
		snprintf(src, sizeof(src), ".%s", names[i]);
		if (commit_txn_rename(&t, rootfd, src, rootfd, newname) == -1)
			rc = store_err(error_r, store_errno_code(errno), "%s",
			    commit_txn_error(&t));
	}
	if (rc == 0 && commit_txn_commit(&t) == -1)
		rc = store_err(error_r, STORE_ERR_TEMPORARY, "%s", commit_txn_error(&t));
	else if (rootfd != -1)
		commit_txn_abort(&t);
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

struct subs_ctx {
	struct buf	*out;		/* the file as it will be */
	const char	*name;
	bool		 on, found, bad;
};

static void
subs_line(void *vctx, unsigned lineno, char *line, const char *why)
{
	struct subs_ctx	*c = vctx;

	(void)lineno;
	(void)why;
	if (line == NULL) {		/* a line we cannot keep: do not drop it */
		c->bad = true;
		return;
	}
	if (strcmp(line, c->name) == 0) {
		c->found = true;
		if (!c->on)
			return;
	}
	if (*line != '\0' && buf_printf(c->out, "%s\n", line) == -1)
		c->bad = true;		/* over SUBSCRIPTIONS_MAX */
}

int
maildir_file_replace(const char *maildir, const char *name, const void *data, size_t len,
    const char **error_r)
{
	struct commit_txn	 t;
	struct iovec		 iov;
	int			 rootfd, tmpfd = -1, rc = 0;

	rootfd = open(maildir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (rootfd != -1)
		tmpfd = openat(rootfd, "tmp", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	iov.iov_base = (void *)data;
	iov.iov_len = len;
	commit_txn_init(&t);
	if (tmpfd == -1 || rootfd == -1 ||
	    commit_txn_replace(&t, tmpfd, rootfd, name, &iov, 1) == -1 ||
	    commit_txn_commit(&t) == -1) {
		commit_txn_abort(&t);
		rc = store_err(error_r, STORE_ERR_TEMPORARY, "%s: %s", name, commit_txn_error(&t));
	}
	if (tmpfd != -1)
		close(tmpfd);
	if (rootfd != -1)
		close(rootfd);
	return rc;
}

int
folder_subscribe(struct store *st, const char *maildir, const char *name, bool on,
    const char **error_r)
{
	struct subs_ctx	 c = { NULL, name, on, false, false };
	char		 path[4096];
	const char	*err;
	int		 lockfd, rc = -1;

	(void)st;
	/* One name per line: a name that is no folder name never gets in. */
	if (maildir_folder_dir(name, path, sizeof(path)) == -1)
		return store_err(error_r, STORE_ERR_PARAMS, "invalid folder name");
	if (strlen(name) >= SUBSCRIPTION_LINE_MAX)
		return store_err(error_r, STORE_ERR_PARAMS, "folder name too long to subscribe");
	snprintf(path, sizeof(path), "%s/%s", maildir, SUBSCRIPTIONS_LOCK);
	if ((lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1 ||
	    flock(lockfd, LOCK_EX) == -1) {
		if (lockfd != -1)
			close(lockfd);
		return store_err(error_r, STORE_ERR_TEMPORARY,
		    "lock %s: %s", path, strerror(errno));
	}
	c.out = buf_new(SUBSCRIPTIONS_MAX);
	snprintf(path, sizeof(path), "%s/%s", maildir, SUBSCRIPTIONS);
	/* The whole file or nothing: a partial read must never be written back. */
	if (textfile_read(path, SUBSCRIPTION_LINE_MAX, subs_line, &c, &err) == -1)
		rc = store_err(error_r, STORE_ERR_TEMPORARY, "subscriptions: %s", err);
	else if (c.bad)
		rc = store_err(error_r, STORE_ERR_NOT_POSSIBLE, "subscriptions: file over %d bytes or "
		    "a line over %d bytes; left as it is", SUBSCRIPTIONS_MAX, SUBSCRIPTION_LINE_MAX);
	else if (on && !c.found && buf_printf(c.out, "%s\n", name) == -1)
		rc = store_err(error_r, STORE_ERR_NOT_POSSIBLE, "subscriptions: file full (%d bytes)",
		    SUBSCRIPTIONS_MAX);
	else
		rc = c.found != on ? maildir_file_replace(maildir, SUBSCRIPTIONS, buf_head(c.out),
		    buf_len(c.out), error_r) : 0;
	buf_free(&c.out);
	close(lockfd);
	return rc;
}

struct subs_list {
	char	**v;
	size_t	  n;
};

static void
subs_collect(void *vctx, unsigned lineno, char *line, const char *why)
{
	struct subs_list	*l = vctx;
	const char		*bad;

	(void)lineno;
	(void)why;
	/* A line no folder could have (another tool's, or cut) is not listed. */
	if (line == NULL || folder_name_check(line, &bad) == -1)
		return;
	l->v = xreallocarray(l->v, l->n + 1, sizeof(*l->v));
	l->v[l->n++] = xstrdup(maildir_folder_is_inbox(line) ? "INBOX" : line);
}

int
folder_subscriptions(struct store *st, const char *maildir, char ***names_r, size_t *n_r,
    const char **error_r)
{
	struct subs_list	 l = { NULL, 0 };
	char			 path[4096];
	const char		*err;

	(void)st;
	snprintf(path, sizeof(path), "%s/%s", maildir, SUBSCRIPTIONS);
	if (textfile_read(path, SUBSCRIPTION_LINE_MAX, subs_collect, &l, &err) == -1) {
		folder_names_free(&l.v, l.n);
		return store_err(error_r, STORE_ERR_TEMPORARY, "subscriptions: %s", err);
	}
	*names_r = l.v;
	*n_r = l.n;
	return 0;
}

void
folder_names_free(char ***names, size_t n)
{
	size_t	 i;

	if (*names == NULL)
		return;
	for (i = 0; i < n; i++)
		free((*names)[i]);
	xfree(names);
}
