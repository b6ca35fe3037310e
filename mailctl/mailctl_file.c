/*
 * Editing the directory files safely.  Under an exclusive flock, a file is
 * read line by line (lib/textfile), changed in memory, written to a
 * staging directory next to it (where the other three files are symlinks
 * to the real ones), loaded there with directory_load() exactly as a
 * daemon would, and only then renamed into place and the directory
 * fsynced.  A crash at any point leaves the old file or the new one,
 * never a mix; a result the daemons would reject is never installed.
 *
 * The file goes through lib/commit like mail does, flagged
 * COMMIT_SYNC_ALWAYS: these are configuration files, synced even where
 * store.fsync = no turns the syncing of mail off.
 */
#include "mailctl/mailctl.h"

#include "lib/commit.h"
#include "lib/directory.h"
#include "lib/settings.h"
#include "lib/textfile.h"
#include "lib/xmalloc.h"
#include "mail/address.h"

#include <sys/file.h>
#include <sys/stat.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CTL_LINE_MAX	65536	/* lib/directory.c's limit */
#define STAGE_PREFIX	".mailctl."
#define LOCK_NAME	".mailctl.lock"

static const char *const dir_files[] = { "domains", "passwd", "groups", "aliases" };
#define NDIR_FILES	(sizeof(dir_files) / sizeof(dir_files[0]))

/* Remove a staging directory a crashed mailctl left behind (we hold the lock). */
static void
remove_stage(const char *path)
{
	DIR		*dp;
	struct dirent	*de;
	char		*p;

	if ((dp = opendir(path)) == NULL)
		return;
	while ((de = readdir(dp)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		p = xasprintf("%s/%s", path, de->d_name);
		unlink(p);
		free(p);
	}
	closedir(dp);
	rmdir(path);
}

static void
remove_stale_stages(struct mailctl *m)
{
	DIR		*dp;
	struct dirent	*de;
	char		*p;

	if ((dp = opendir(m->conf_dir)) == NULL)
		return;
	while ((de = readdir(dp)) != NULL) {
		if (strncmp(de->d_name, STAGE_PREFIX, strlen(STAGE_PREFIX)) != 0 ||
		    strcmp(de->d_name, LOCK_NAME) == 0)
			continue;
		p = xasprintf("%s/%s", m->conf_dir, de->d_name);
		remove_stage(p);
		free(p);
	}
	closedir(dp);
}

int
ctl_lock(struct mailctl *m)
{
	const char	*err;
	char		*path;

	path = xasprintf("%s/%s", m->conf_dir, LOCK_NAME);
	m->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (m->lock_fd == -1) {
		ctl_error("%s: %s", path, strerror(errno));
		free(path);
		return CTL_ERR;
	}
	free(path);
	if (flock(m->lock_fd, LOCK_EX) == -1)
		return ctl_error("lock %s/%s: %s", m->conf_dir, LOCK_NAME, strerror(errno));
	remove_stale_stages(m);
	/* What others changed while we waited is what this edit builds on. */
	directory_free(&m->dir);
	if ((m->dir = directory_load(m->conf_dir, &address_user_syntax, &err)) == NULL)
		return ctl_error("%s (fix it before editing)", err);
	return CTL_OK;
}

struct read_ctx {
	struct ctl_file	*f;
	const char	*path;
	bool		 failed;
};

static void
read_line(void *ctx, unsigned lineno, char *line, const char *why)
{
	struct read_ctx	*rc = ctx;

	if (line == NULL) {
		if (!rc->failed)
			ctl_error("%s:%u: %s", rc->path, lineno, why);
		rc->failed = true;
		return;
	}
	ctl_file_append(rc->f, xstrdup(line));
}

int
ctl_file_read(struct mailctl *m, const char *name, struct ctl_file *f)
{
	struct read_ctx	 rc;
	const char	*err;
	char		*path;
	int		 r;

	memset(f, 0, sizeof(*f));
	f->name = name;
	path = xasprintf("%s/%s", m->conf_dir, name);
	rc.f = f;
	rc.path = path;
	rc.failed = false;
	r = textfile_read(path, CTL_LINE_MAX, read_line, &rc, &err);
	free(path);
	if (r == -1)
		ctl_error("%s", err);
	if (r == -1 || rc.failed) {
		ctl_file_free(f);
		return CTL_ERR;
	}
	return CTL_OK;
}

void
ctl_file_free(struct ctl_file *f)
{
	size_t	 i;

	for (i = 0; i < f->n; i++)
		free(f->lines[i]);
	free(f->lines);
	f->lines = NULL;
	f->n = f->cap = 0;
}

void
ctl_file_append(struct ctl_file *f, char *line)
{
	if (f->n == f->cap) {
		f->cap = f->cap * 2 + 16;
		f->lines = xreallocarray(f->lines, f->cap, sizeof(*f->lines));
	}
	f->lines[f->n++] = line;
}

void
ctl_file_replace(struct ctl_file *f, size_t i, char *line)
{
	free(f->lines[i]);
	f->lines[i] = line;
}

void
ctl_file_remove(struct ctl_file *f, size_t i)
{
	free(f->lines[i]);
	memmove(&f->lines[i], &f->lines[i + 1], (f->n - i - 1) * sizeof(*f->lines));
	f->n--;
}

char *
ctl_file_key(const struct ctl_file *f, size_t i)
{
	const char	*s = f->lines[i], *e;
	char		*key, *lower;

	while (isspace((unsigned char)*s))
		s++;
	if (*s == '\0' || *s == '#')
		return NULL;
	if (strcmp(f->name, "domains") == 0)
		e = s + strcspn(s, " \t");
	else
		e = s + strcspn(s, ":");
	while (e > s && isspace((unsigned char)e[-1]))
		e--;
	if (e == s)
		return NULL;
	key = xstrndup(s, (size_t)(e - s));
	lower = ctl_lower(key);
	free(key);
	return lower;
}

ssize_t
ctl_file_find(const struct ctl_file *f, const char *key)
{
	char	*k;
	size_t	 i;
	bool	 match;

	for (i = 0; i < f->n; i++) {
		if ((k = ctl_file_key(f, i)) == NULL)
			continue;
		match = strcmp(k, key) == 0;
		free(k);
		if (match)
			return (ssize_t)i;
	}
	return -1;
}

/*
 * Ownership and mode of the new file: those of the file it replaces; for a
 * new file 0640 and, as root, the group of the mail user, so the daemons
 * can still read it after they dropped privileges.
 */
static int
set_owner(struct mailctl *m, int fd, const char *target)
{
	struct stat	 st;
	struct passwd	*pw;

	if (stat(target, &st) == 0) {
		if (fchmod(fd, st.st_mode & 07777) == -1)
			return -1;
		if (geteuid() == 0 && fchown(fd, st.st_uid, st.st_gid) == -1)
			return -1;
		return 0;
	}
	if (fchmod(fd, 0640) == -1)
		return -1;
	if (geteuid() == 0 && (pw = getpwnam(m->set->lib.user)) != NULL &&
	    fchown(fd, 0, pw->pw_gid) == -1)
		return -1;
	return 0;
}

/* The file in the staging directory, synced but not yet in place; NULL if not. */
static struct commit_file *
write_lines(struct mailctl *m, const struct ctl_file *f, int stagefd, const char *target)
{
	struct commit_file	*cf;
	const char		*err;
	size_t			 i;
	int			 fd;

	if ((cf = commit_file_open(stagefd, f->name, COMMIT_SYNC_ALWAYS, &err)) == NULL) {
		ctl_error("%s: %s", m->conf_dir, err);
		return NULL;
	}
	if ((fd = commit_file_fd(cf, &err)) == -1)
		goto fail;
	if (set_owner(m, fd, target) == -1) {
		ctl_error("%s: %s", target, strerror(errno));
		commit_file_abort(&cf);
		return NULL;
	}
	for (i = 0; i < f->n; i++)
		if (commit_file_write(cf, f->lines[i], strlen(f->lines[i]), &err) == -1 ||
		    commit_file_write(cf, "\n", 1, &err) == -1)
			goto fail;
	if (commit_file_finish(cf, &err) == 0)
		return cf;
fail:
	ctl_error("%s: %s", m->conf_dir, err);
	commit_file_abort(&cf);
	return NULL;
}

/* Rename it over the real one and fsync the directory. */
static int
install(struct commit_file **cf, int conffd, const char *name)
{
	struct commit_txn	 t;
	const char		*err;

	commit_txn_init(&t);
	if (commit_file_commit(cf, &t, conffd, name, &err) == -1) {
		commit_txn_abort(&t);
		return ctl_error("install %s: %s", name, err);
	}
	if (commit_txn_commit(&t) == -1)
		return ctl_error("install %s: %s", name, commit_txn_error(&t));
	return CTL_OK;
}

static int
dir_open(const char *path)
{
	int	 fd;

	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		ctl_error("%s: %s", path, strerror(errno));
	return fd;
}

/* Check the staged directory as a daemon would load it. */
static int
stage_load(const char *stage, struct directory **next_r)
{
	const char	*err, *p;
	size_t		 n = strlen(stage);

	if ((*next_r = directory_load(stage, &address_user_syntax, &err)) != NULL)
		return CTL_OK;
	/* Name the file, not the staging directory nobody will see. */
	p = strstr(err, stage);
	if (p != NULL && p[n] == '/')
		return ctl_error("refused, the result would not load: %.*s%s",
		    (int)(p - err), err, p + n + 1);
	return ctl_error("refused, the result would not load: %s", err);
}

/* The other directory files, as symlinks to the real ones. */
static int
stage_links(const char *stage, const char *name)
{
	char	*link, *dest;
	size_t	 i;
	int	 rc = CTL_OK;

	for (i = 0; i < NDIR_FILES && rc == CTL_OK; i++) {
		if (strcmp(dir_files[i], name) == 0)
			continue;
		link = xasprintf("%s/%s", stage, dir_files[i]);
		dest = xasprintf("../%s", dir_files[i]);
		if (symlink(dest, link) == -1)
			rc = ctl_error("symlink %s: %s", link, strerror(errno));
		free(link);
		free(dest);
	}
	return rc;
}

int
ctl_file_commit(struct mailctl *m, const struct ctl_file *f, ctl_commit_hook *hook, void *arg)
{
	struct directory	*next = NULL;
	struct commit_file	*cf = NULL;
	char			*stage, *target;
	int			 rc, stagefd = -1, conffd = -1;

	stage = xasprintf("%s/" STAGE_PREFIX "XXXXXX", m->conf_dir);
	if (mkdtemp(stage) == NULL) {
		rc = ctl_error("%s: %s", stage, strerror(errno));
		free(stage);
		return rc;
	}
	target = xasprintf("%s/%s", m->conf_dir, f->name);
	rc = stage_links(stage, f->name);
	if (rc == CTL_OK && ((stagefd = dir_open(stage)) == -1 ||
	    (conffd = dir_open(m->conf_dir)) == -1 ||
	    (cf = write_lines(m, f, stagefd, target)) == NULL))
		rc = CTL_ERR;
	if (rc == CTL_OK)
		rc = stage_load(stage, &next);
	if (rc == CTL_OK && hook != NULL)
		rc = hook(m, next, arg);
	if (rc == CTL_OK)
		rc = install(&cf, conffd, f->name);
	commit_file_abort(&cf);
	directory_free(&next);
	if (stagefd != -1)
		close(stagefd);
	if (conffd != -1)
		close(conffd);
	remove_stage(stage);
	free(target);
	free(stage);
	return rc;
}
