/*
 * UIDs across a move between Dovecot and Postroom (mailctl import-dovecot
 * and export-dovecot).  Both read the same Maildir++: flags and keywords in
 * the names, dovecot-keywords, subscriptions.  Only the UIDs live apart:
 * Dovecot's in dovecot-uidlist ("3 V<uidvalidity> N<next uid> ..." then
 * "<uid> [fields] :<file name>"), ours in the names (U=) and in
 * postroom-uidvalidity.  Turning one into the other keeps UIDVALIDITY and
 * every UID, so IMAP clients keep their caches.  Dovecot 2.3 also writes
 * its subscriptions as "V\t2", an empty line, then names with a tab
 * between levels; import rewrites them as we keep them (and Dovecot reads
 * too): one name a line, '.' between levels.  Both run on a Maildir that
 * no server is using.
 */
#include "store/store_private.h"
#include "lib/buf.h"
#include "lib/commit.h"
#include "lib/textfile.h"
#include "lib/xmalloc.h"

#include <sys/stat.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define UIDLIST_FILE	"dovecot-uidlist"
#define UIDLIST_LINE_MAX 4096
#define UIDLIST_MAX	(64 * 1024 * 1024)

/* Dovecot's caches of its UIDs: stale once the UID list is rewritten. */
static const char *const dovecot_index_files[] = {
	"dovecot.index", "dovecot.index.log", "dovecot.index.log.2", "dovecot.index.cache",
};

struct uid_ent {
	char		*name;		/* file name up to ':' */
	uint32_t	 uid;
};

struct uidlist {
	uint32_t	 uidvalidity;
	uint32_t	 next;
	struct uid_ent	*e;
	size_t		 n, cap;
	const char	*bad;		/* why the file cannot be used */
	unsigned	 bad_line;
};

struct folder {
	const char	*path;
	int		 fd, curfd, newfd, tmpfd;
};

static void
uidlist_add(struct uidlist *l, uint32_t uid, const char *name, size_t len)
{
	if (l->n == l->cap) {
		l->cap = l->cap == 0 ? 64 : l->cap * 2;
		l->e = xreallocarray(l->e, l->cap, sizeof(*l->e));
	}
	l->e[l->n].uid = uid;
	l->e[l->n++].name = xstrndup(name, len);
}

static void
uidlist_free(struct uidlist *l)
{
	size_t	 i;

	for (i = 0; i < l->n; i++)
		free(l->e[i].name);
	xfree(&l->e);
	l->n = l->cap = 0;
}

static uint32_t
parse_u32(const char *s, char **end_r)
{
	unsigned long	 v;

	errno = 0;
	v = strtoul(s, end_r, 10);
	if (*end_r == s || errno == ERANGE || v > UINT32_MAX)
		return 0;
	return (uint32_t)v;
}

static const char *
uidlist_header(struct uidlist *l, char *line)
{
	char	*tok, *save, *end;

	if (strncmp(line, "3 ", 2) != 0)
		return "not a version 3 dovecot-uidlist";
	for (tok = strtok_r(line + 2, " ", &save); tok != NULL; tok = strtok_r(NULL, " ", &save))
		if (tok[0] == 'V')
			l->uidvalidity = parse_u32(tok + 1, &end);
		else if (tok[0] == 'N')
			l->next = parse_u32(tok + 1, &end);
	if (l->uidvalidity == 0 || l->next == 0)
		return "no V (UIDVALIDITY) or N (next UID) in the header";
	return NULL;
}

static void
uidlist_line(void *ctx, unsigned lineno, char *line, const char *why)
{
	struct uidlist	*l = ctx;
	char		*end, *name;
	uint32_t	 uid;

	if (l->bad != NULL)
		return;
	if (line == NULL)
		;
	else if (lineno == 1)
		why = uidlist_header(l, line);
	else if (*line == '\0')
		return;
	else if ((uid = parse_u32(line, &end)) == 0 || (name = strstr(end, " :")) == NULL)
		why = "not \"<uid> [fields] :<file name>\"";
	else if (uid == UINT32_MAX)	/* no next UID after it */
		why = "UID 4294967295 leaves no next UID";
	else {
		name += 2;
		uidlist_add(l, uid, name, strcspn(name, ":"));
		return;
	}
	if (why != NULL) {
		l->bad = why;
		l->bad_line = lineno;
	}
}

static int
ent_by_name(const void *a, const void *b)
{
	return strcmp(((const struct uid_ent *)a)->name, ((const struct uid_ent *)b)->name);
}

static int
ent_by_uid(const void *a, const void *b)
{
	uint32_t	 x = ((const struct uid_ent *)a)->uid, y = ((const struct uid_ent *)b)->uid;

	return x < y ? -1 : x > y;
}

static int
folder_open(struct folder *f, int parent, const char *name, const char *path)
{
	memset(f, 0, sizeof(*f));
	f->path = path;
	f->curfd = f->newfd = f->tmpfd = -1;
	if ((f->fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return -1;
	if ((f->curfd = openat(f->fd, "cur", O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1 ||
	    (f->newfd = openat(f->fd, "new", O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1 ||
	    (f->tmpfd = openat(f->fd, "tmp", O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		return -1;
	return 0;
}

static void
folder_close(struct folder *f)
{
	int	*fds[] = { &f->fd, &f->curfd, &f->newfd, &f->tmpfd };
	size_t	 i;

	for (i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (*fds[i] != -1) {
			close(*fds[i]);
			*fds[i] = -1;
		}
}

static int
replace_file(struct folder *f, const char *name, struct buf *b, const char **error_r)
{
	struct commit_txn	 t;
	struct iovec		 iov;

	iov.iov_base = (void *)buf_head(b);
	iov.iov_len = buf_len(b);
	commit_txn_init(&t);
	if (commit_txn_replace(&t, f->tmpfd, f->fd, name, &iov, 1) == -1 ||
	    commit_txn_commit(&t) == -1) {
		commit_txn_abort(&t);
		return store_err(error_r, STORE_ERR_TEMPORARY, "%s/%s: %s", f->path, name,
		    commit_txn_error(&t));
	}
	return 0;
}

/* Rename each file of srcfd that the list knows into cur/ with its U=. */
static int
add_uids(struct folder *f, struct commit_txn *t, int srcfd, const struct uidlist *l,
    unsigned *kept, const char **error_r)
{
	struct maildir_name	 mn;
	struct uid_ent		 key, *e;
	struct dirent		*de;
	DIR			*d;
	const char		*info;
	char			 to[MAILDIR_NAME_MAX + 1];
	size_t			 len;
	int			 fd, rc = 0;

	if ((fd = dup(srcfd)) == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return store_err(error_r, store_errno_code(errno), "%s: %s", f->path,
		    strerror(errno));
	}
	/* A renamed file seen again by readdir has U= now and is skipped. */
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || maildir_name_parse(de->d_name, &mn) == -1 ||
		    mn.uid != 0)
			continue;
		len = strcspn(de->d_name, ":");
		key.name = xstrndup(de->d_name, len);
		e = bsearch(&key, l->e, l->n, sizeof(*l->e), ent_by_name);
		free(key.name);
		if (e == NULL)
			continue;	/* newer than the list: a new UID here */
		info = de->d_name[len] == ':' ? de->d_name + len : ":2,";
		if ((size_t)snprintf(to, sizeof(to), "%.*s,U=%u%s", (int)len, de->d_name, e->uid,
		    info) >= sizeof(to))
			continue;	/* too long to carry U=: a new UID */
		if (commit_txn_rename(t, srcfd, de->d_name, f->curfd, to) == -1)
			rc = store_err(error_r, STORE_ERR_TEMPORARY, "%s: %s", f->path,
			    commit_txn_error(t));
		else
			(*kept)++;
	}
	closedir(d);
	return rc;
}

static int
import_folder(struct folder *f, unsigned *kept, const char **error_r)
{
	struct uidlist		 l;
	struct commit_txn	 t;
	struct buf		 b;
	char			*path;
	const char		*err;
	uint32_t		 hw;
	size_t			 i;
	int			 rc;

	/* Ours already (imported before, or Postroom's own): nothing to do. */
	if (faccessat(f->fd, MAILDIR_UID_FILE, F_OK, 0) == 0)
		return 0;
	memset(&l, 0, sizeof(l));
	path = xasprintf("%s/%s", f->path, UIDLIST_FILE);
	rc = textfile_read(path, UIDLIST_LINE_MAX, uidlist_line, &l, &err);
	if (rc == 1)
		rc = 0;		/* Dovecot never listed it: new UIDs */
	else if (rc == -1)
		rc = store_err(error_r, STORE_ERR_TEMPORARY, "%s", err);
	else if (l.bad != NULL)
		rc = store_err(error_r, STORE_ERR_NOT_POSSIBLE, "%s:%u: %s", path, l.bad_line,
		    l.bad);
	else {
		if (l.n > 1)
			qsort(l.e, l.n, sizeof(*l.e), ent_by_name);
		hw = l.next;
		for (i = 0; i < l.n; i++)
			if (l.e[i].uid >= hw)
				hw = l.e[i].uid + 1;
		/*
		 * The side file last: it marks the folder done, so a run cut
		 * short is finished by the next (no server opens the folder
		 * before mailctl adds its user).
		 */
		commit_txn_init(&t);
		if (add_uids(f, &t, f->curfd, &l, kept, error_r) == -1 ||
		    add_uids(f, &t, f->newfd, &l, kept, error_r) == -1)
			rc = -1;
		else if (commit_txn_commit(&t) == -1)
			rc = store_err(error_r, STORE_ERR_TEMPORARY, "%s: %s", f->path,
			    commit_txn_error(&t));
		if (rc == -1)
			commit_txn_abort(&t);
		else {
			buf_init(&b, 64);
			buf_printf(&b, "%u %u\n", l.uidvalidity, hw);
			rc = replace_file(f, MAILDIR_UID_FILE, &b, error_r);
			buf_release(&b);
		}
	}
	free(path);
	uidlist_free(&l);
	return rc;
}

static int
export_folder(struct folder *f, unsigned *kept, const char **error_r)
{
	struct maildir_name	 mn;
	struct uidlist		 l;
	struct dirent		*de;
	struct buf		 b;
	DIR			*d;
	char			 text[64];
	unsigned long		 v, hw;
	ssize_t			 n;
	size_t			 i;
	int			 fd, rc = 0;

	if ((fd = openat(f->fd, MAILDIR_UID_FILE, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;	/* never opened by us: Dovecot numbers it */
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	text[n > 0 ? n : 0] = '\0';
	if (sscanf(text, "%lu %lu", &v, &hw) != 2 || v == 0 || v > UINT32_MAX ||
	    hw == 0 || hw > UINT32_MAX)
		return store_err(error_r, STORE_ERR_NOT_POSSIBLE, "%s/%s: damaged", f->path,
		    MAILDIR_UID_FILE);
	memset(&l, 0, sizeof(l));
	if ((fd = dup(f->curfd)) == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return store_err(error_r, store_errno_code(errno), "%s/cur: %s", f->path,
		    strerror(errno));
	}
	/* Mail in new/ has no U= yet: Dovecot gives it the next UIDs. */
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.' && maildir_name_parse(de->d_name, &mn) == 0 &&
		    mn.uid != 0)
			uidlist_add(&l, mn.uid, de->d_name, strcspn(de->d_name, ":"));
	closedir(d);
	if (l.n > 1)
		qsort(l.e, l.n, sizeof(*l.e), ent_by_uid);
	if (l.n > 0 && l.e[l.n - 1].uid >= hw)
		hw = l.e[l.n - 1].uid + 1;
	buf_init(&b, UIDLIST_MAX);
	if (buf_printf(&b, "3 V%lu N%lu\n", v, hw) == -1)
		rc = -1;
	for (i = 0; rc == 0 && i < l.n; i++)
		if (buf_printf(&b, "%u :%s\n", l.e[i].uid, l.e[i].name) == -1)
			rc = -1;
	if (rc == -1)
		rc = store_err(error_r, STORE_ERR_NOT_POSSIBLE, "%s: too many messages",
		    f->path);
	else if ((rc = replace_file(f, UIDLIST_FILE, &b, error_r)) == 0) {
		*kept += (unsigned)l.n;
		for (i = 0; i < sizeof(dovecot_index_files) / sizeof(dovecot_index_files[0]); i++)
			if (unlinkat(f->fd, dovecot_index_files[i], 0) == -1 && errno != ENOENT)
				rc = store_err(error_r, store_errno_code(errno), "%s/%s: %s",
				    f->path, dovecot_index_files[i], strerror(errno));
	}
	buf_release(&b);
	uidlist_free(&l);
	return rc;
}

struct subs {
	struct buf	 b;
	bool		 v2;
	bool		 bad;
};

static void
subs_line(void *ctx, unsigned lineno, char *line, const char *why)
{
	struct subs	*sc = ctx;
	char		*p;

	if (line == NULL) {
		sc->bad = true;
		return;
	}
	if (lineno == 1 && strcmp(line, "V\t2") == 0) {
		sc->v2 = true;
		return;
	}
	if (*line == '\0')
		return;
	for (p = line; *p != '\0'; p++)
		if (*p == '\t')
			*p = '.';
	if (buf_printf(&sc->b, "%s\n", line) == -1)
		sc->bad = true;
}

static int
import_subscriptions(const char *maildir, const char **error_r)
{
	struct subs	 sc;
	const char	*err;
	char		*path;
	int		 rc;

	memset(&sc, 0, sizeof(sc));
	buf_init(&sc.b, SUBSCRIPTIONS_MAX);
	path = xasprintf("%s/%s", maildir, SUBSCRIPTIONS);
	rc = textfile_read(path, SUBSCRIPTION_LINE_MAX, subs_line, &sc, &err);
	if (rc == -1)
		rc = store_err(error_r, STORE_ERR_TEMPORARY, "%s", err);
	else if (sc.bad)
		rc = store_err(error_r, STORE_ERR_NOT_POSSIBLE, "%s: over %d bytes or a line "
		    "over %d", path, SUBSCRIPTIONS_MAX, SUBSCRIPTION_LINE_MAX);
	else if (rc == 0 && sc.v2)
		rc = maildir_file_replace(maildir, SUBSCRIPTIONS, buf_head(&sc.b), buf_len(&sc.b),
		    error_r);
	else
		rc = 0;		/* none, or ours already */
	free(path);
	buf_release(&sc.b);
	return rc;
}

typedef int	 folder_fn(struct folder *f, unsigned *kept, const char **error_r);

/* fn on INBOX (the Maildir) and on each ".Folder" with cur/ new/ tmp/. */
static int
each_folder(const char *maildir, folder_fn *fn, unsigned *kept_r, const char **error_r)
{
	struct folder	 f, sub;
	struct dirent	*de;
	struct stat	 sb;
	DIR		*d;
	char		*path;
	int		 fd, rc;

	*kept_r = 0;
	if (folder_open(&f, AT_FDCWD, maildir, maildir) == -1) {
		rc = store_err(error_r, store_errno_code(errno), "%s: %s", maildir,
		    strerror(errno));
		folder_close(&f);
		return rc;
	}
	rc = fn(&f, kept_r, error_r);
	if ((fd = dup(f.fd)) == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		folder_close(&f);
		return store_err(error_r, store_errno_code(errno), "%s: %s", maildir,
		    strerror(errno));
	}
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (de->d_name[0] != '.' || strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 ||
		    fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) == -1 ||
		    !S_ISDIR(sb.st_mode))
			continue;
		path = xasprintf("%s/%s", maildir, de->d_name);
		if (folder_open(&sub, f.fd, de->d_name, path) == 0)
			rc = fn(&sub, kept_r, error_r);
		folder_close(&sub);
		free(path);
	}
	closedir(d);
	folder_close(&f);
	return rc;
}

int
store_dovecot_import(const char *maildir, unsigned *kept_r, const char **error_r)
{
	if (each_folder(maildir, import_folder, kept_r, error_r) == -1)
		return -1;
	return import_subscriptions(maildir, error_r);
}

int
store_dovecot_export(const char *maildir, unsigned *kept_r, const char **error_r)
{
	return each_folder(maildir, export_folder, kept_r, error_r);
}
