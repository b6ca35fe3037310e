/*
 * Descriptor-based directory walks that never follow a symbolic link
 * (see safedir.h for who needs them and why).
 */
#include "lib/safedir.h"

#include "lib/error.h"

#include <sys/stat.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int
fail(const char **error_r, int err, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	err_vset(error_r, fmt, ap);
	va_end(ap);
	errno = err;
	return -1;
}

int
safedir_open(int at, const char *name, const char *path, uid_t owner, const char **error_r)
{
	struct stat	 st;
	int		 fd, err;

	fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1) {
		err = errno;
		/* Linux says ENOTDIR, not ELOOP, for a symlink opened with O_DIRECTORY. */
		if ((err == ENOTDIR || err == ELOOP) &&
		    fstatat(at, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
			return fail(error_r, ELOOP, "%s is a symbolic link: not followed", path);
		return fail(error_r, err, "open %s: %s", path, strerror(err));
	}
	if (owner == SAFEDIR_ANY_OWNER)
		return fd;
	if (fstat(fd, &st) == -1) {
		err = errno;
		close(fd);
		return fail(error_r, err, "stat %s: %s", path, strerror(err));
	}
	if (st.st_uid != owner) {
		close(fd);
		return fail(error_r, EPERM, "%s belongs to uid %lu, not uid %lu: not entered",
		    path, (unsigned long)st.st_uid, (unsigned long)owner);
	}
	return fd;
}

struct rm_walk {
	uid_t		 owner;
	dev_t		 dev;		/* of the top: mounts below are not entered */
	unsigned	 links;
	int		 first_errno;	/* 0 until something fails */
	char		 first[PATH_MAX + 128];	/* its text: later failures set errors too */
	char		 path[PATH_MAX];
};

/* Remember the first failure; the walk goes on with the rest. */
static int
note(struct rm_walk *w, int err, const char *fmt, ...)
{
	va_list	 ap;

	if (w->first_errno == 0) {
		w->first_errno = err;
		va_start(ap, fmt);
		vsnprintf(w->first, sizeof(w->first), fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* Append "/name" to w->path (cut if too long: it is only for messages). */
static size_t
path_push(struct rm_walk *w, const char *name)
{
	size_t	 len = strlen(w->path);

	snprintf(w->path + len, sizeof(w->path) - len, "/%s", name);
	return len;
}

static int	 rm_dir(struct rm_walk *w, int at, const char *name, unsigned depth);

static int
rm_entries(struct rm_walk *w, int fd, unsigned depth)
{
	struct dirent	*de;
	struct stat	 st;
	DIR		*dir;
	size_t		 len;
	int		 dfd, rc = 0;

	if ((dfd = dup(fd)) == -1 || (dir = fdopendir(dfd)) == NULL) {
		if (dfd != -1)
			close(dfd);
		return note(w, errno, "read %s: %s", w->path, strerror(errno));
	}
	while ((de = readdir(dir)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		len = path_push(w, de->d_name);
		if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1) {
			if (errno != ENOENT)
				rc = note(w, errno, "stat %s: %s", w->path, strerror(errno));
		} else if (S_ISDIR(st.st_mode)) {
			if (rm_dir(w, fd, de->d_name, depth + 1) == -1)
				rc = -1;
		} else if (unlinkat(fd, de->d_name, 0) == -1) {
			if (errno != ENOENT)
				rc = note(w, errno, "unlink %s: %s", w->path, strerror(errno));
		} else if (S_ISLNK(st.st_mode))
			w->links++;
		w->path[len] = '\0';
	}
	closedir(dir);
	return rc;
}

static int
rm_dir(struct rm_walk *w, int at, const char *name, unsigned depth)
{
	struct stat	 st;
	const char	*err;
	int		 fd, rc;

	if (depth > SAFEDIR_DEPTH_MAX)
		return note(w, ELOOP, "%s is more than %d levels deep: not entered", w->path,
		    SAFEDIR_DEPTH_MAX);
	if ((fd = safedir_open(at, name, w->path, w->owner, &err)) == -1) {
		/* Gone meanwhile: fine below the top, reported for the top. */
		if (errno == ENOENT && depth > 0)
			return 0;
		return note(w, errno, "%s", err);
	}
	if (fstat(fd, &st) == -1) {
		rc = note(w, errno, "stat %s: %s", w->path, strerror(errno));
		close(fd);
		return rc;
	}
	if (depth == 0)
		w->dev = st.st_dev;
	else if (st.st_dev != w->dev) {
		close(fd);
		return note(w, EXDEV, "%s is another file system: not entered", w->path);
	}
	rc = rm_entries(w, fd, depth);
	close(fd);
	if (rc == 0 && unlinkat(at, name, AT_REMOVEDIR) == -1 && errno != ENOENT)
		rc = note(w, errno, "rmdir %s: %s", w->path, strerror(errno));
	return rc;
}

int
safedir_remove_tree(int at, const char *name, const char *path, uid_t owner,
    unsigned *links_r, const char **error_r)
{
	struct rm_walk	 w;

	memset(&w, 0, sizeof(w));
	w.owner = owner;
	snprintf(w.path, sizeof(w.path), "%s", path);
	rm_dir(&w, at, name, 0);
	*links_r = w.links;
	if (w.first_errno == 0)
		return 0;
	err_set(error_r, "%s", w.first);
	errno = w.first_errno;
	return -1;
}
