/*
 * mailctl setup: what an installation needs besides its files.  The
 * unprivileged user and group postroom.conf names (useradd --system, only
 * if missing), queue_dir, mail_root and state_dir/run owned by that user
 * (state_dir itself root's, in its group: see state_dirs), and
 * the configuration files readable by its group (the daemons re-read them
 * on SIGHUP after dropping privileges).  Every step leaves what is already
 * right alone, so a second run changes nothing and exits 0.
 */
#include "mailctl/mailctl.h"

#include "lib/settings.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define USERADD		"/usr/sbin/useradd"
#define NOLOGIN		"/usr/sbin/nologin"

extern char	**environ;

/* The files the daemons read, next to postroom.conf (lib/directory.h). */
static const char *const conf_files[] = {
	"postroom.conf", "domains", "passwd", "groups", "aliases", "senders",
};

/*
 * The name reaches useradd's command line: Debian's NAME_REGEX for system
 * users, so it can never read as an option.
 */
static bool
user_name_valid(const char *name)
{
	size_t	 i, n = strlen(name);

	if (n == 0 || n > 32 || !(islower((unsigned char)name[0]) || name[0] == '_'))
		return false;
	for (i = 1; i < n; i++)
		if (!islower((unsigned char)name[i]) && !isdigit((unsigned char)name[i]) &&
		    name[i] != '_' && name[i] != '-')
			return false;
	return true;
}

static int
create_user(const char *user, const char *home)
{
	char	*argv[] = { USERADD, "--system", "--user-group", "--home-dir", (char *)home,
		    "--no-create-home", "--shell", NOLOGIN, "--comment", "Postroom mail server",
		    (char *)user, NULL };
	pid_t	 pid;
	int	 status, e;

	if (!user_name_valid(user))
		return ctl_error("user %s: not a system user name ([a-z_][a-z0-9_-]*, at most 32)",
		    ctl_q(user));
	if ((e = posix_spawn(&pid, USERADD, NULL, NULL, argv, environ)) != 0)
		return ctl_error("%s: %s", USERADD, strerror(e));
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR)
			return ctl_error("waitpid: %s", strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return ctl_error("%s %s failed (status %d)", USERADD, ctl_q(user), status);
	printf("created system user %s\n", user);
	return CTL_OK;
}

/* path (a missing parent 0755, itself 0750), owned by uid:gid; a symlink is refused. */
static int
own_dir(const char *path, uid_t uid, gid_t gid, const char *owner)
{
	char		 parent[4096];
	char		*slash;
	struct stat	 st;
	int		 fd, rc;

	if (lstat(path, &st) == -1) {
		if (errno != ENOENT)
			return ctl_error("%s: %s", path, strerror(errno));
		if (snprintf(parent, sizeof(parent), "%s", path) >= (int)sizeof(parent))
			return ctl_error("%s: path too long", path);
		if ((slash = strrchr(parent, '/')) != NULL && slash != parent) {
			*slash = '\0';
			if (lstat(parent, &st) == -1 && mkdir(parent, 0755) == -1 &&
			    (rc = errno) != EEXIST)
				return ctl_error("%s: %s", parent, strerror(rc));
		}
		if (mkdir(path, 0750) == -1 && errno != EEXIST)
			return ctl_error("%s: %s", path, strerror(errno));
		printf("created %s\n", path);
	}
	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return ctl_error("%s: %s", path, errno == ELOOP ? "a symbolic link, left alone" :
		    strerror(errno));
	if (fstat(fd, &st) == 0 && st.st_uid == uid && st.st_gid == gid) {
		close(fd);
		return CTL_OK;
	}
	if (fchown(fd, uid, gid) == -1) {
		rc = errno;
		close(fd);
		return ctl_error("%s: chown: %s", path, strerror(rc));
	}
	close(fd);
	printf("%s owned by %s\n", path, owner);
	return CTL_OK;
}

/*
 * The mail and the queue belong to the mail user.  state_dir stays root's
 * (group pw's): under the systemd units root has no CAP_DAC_OVERRIDE or
 * CAP_CHOWN, and it creates authfail.table and relayd's socket there at
 * start; only its run/ (the status files, written after the drop) is pw's.
 */
static int
state_dirs(const struct settings *s, const struct passwd *pw)
{
	char	 run[4096];
	int	 rc;

	if (s->lib.state_dir[0] != '\0') {
		if ((rc = own_dir(s->lib.state_dir, 0, pw->pw_gid, "root")) != CTL_OK)
			return rc;
		snprintf(run, sizeof(run), "%s/run", s->lib.state_dir);
		if ((rc = own_dir(run, pw->pw_uid, pw->pw_gid, pw->pw_name)) != CTL_OK)
			return rc;
	}
	if (s->lib.queue_dir[0] != '\0' &&
	    (rc = own_dir(s->lib.queue_dir, pw->pw_uid, pw->pw_gid, pw->pw_name)) != CTL_OK)
		return rc;
	if (s->lib.mail_root[0] != '\0' &&
	    (rc = own_dir(s->lib.mail_root, pw->pw_uid, pw->pw_gid, pw->pw_name)) != CTL_OK)
		return rc;
	return CTL_OK;
}

/* A config file root owns: group pw's, group-readable, never world-readable. */
static int
share_file(const char *name, const struct passwd *pw)
{
	struct stat	 st;
	mode_t		 mode;
	int		 fd, rc = CTL_OK;

	if ((fd = open(name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return errno == ENOENT ? CTL_OK : ctl_error("%s: %s", name, strerror(errno));
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) || st.st_uid != 0) {
		close(fd);
		return CTL_OK;	/* someone chose otherwise: theirs to keep */
	}
	mode = (st.st_mode & 0700) | 0040;
	if (st.st_gid != pw->pw_gid || (st.st_mode & 0777) != mode) {
		if (fchown(fd, 0, pw->pw_gid) == -1 || fchmod(fd, mode) == -1)
			rc = ctl_error("%s: %s", name, strerror(errno));
		else
			printf("%s readable by group %s\n", name, pw->pw_name);
	}
	close(fd);
	return rc;
}

int
cmd_setup(struct mailctl *m, int argc, char **argv)
{
	const struct settings	*s = m->set;
	struct passwd		*pw;
	char			 path[4096];
	size_t			 i;
	int			 rc;

	if (argc != 1)
		return ctl_usage("setup");
	if (geteuid() != 0)
		return ctl_error("setup creates a system user and changes owners: run it as root");
	errno = 0;
	if ((pw = getpwnam(s->lib.user)) != NULL)
		printf("user %s exists\n", s->lib.user);
	else if (errno != 0 && errno != ENOENT)
		return ctl_error("user %s: %s", ctl_q(s->lib.user), strerror(errno));
	else if ((rc = create_user(s->lib.user, s->lib.state_dir[0] != '\0' ?
	    s->lib.state_dir : "/nonexistent")) != CTL_OK)
		return rc;
	else if ((pw = getpwnam(s->lib.user)) == NULL)
		return ctl_error("user %s: not found after %s", ctl_q(s->lib.user), USERADD);
	if (pw->pw_uid == 0)
		return ctl_error("user %s is root: the daemons refuse to run as root",
		    ctl_q(s->lib.user));
	if ((rc = state_dirs(s, pw)) != CTL_OK)
		return rc;
	for (i = 0; i < sizeof(conf_files) / sizeof(conf_files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", m->conf_dir, conf_files[i]);
		if ((rc = share_file(path, pw)) != CTL_OK)
			return rc;
	}
	return CTL_OK;
}
