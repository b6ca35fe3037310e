/*
 * mailctl reload: SIGHUP to the daemons that run with this configuration.
 * A daemon names its pid in <state_dir>/run/<name>.status
 * (lib/daemon_status.h); the pid is trusted only if that
 * process is still called <name> (a stale file must not make us signal
 * whatever reused the pid).  Without a pid file, the daemons are found in
 * /proc: same name and started with this configuration file (-c PATH), so
 * another installation or a test instance on the same host is left alone.
 * Only the top process of each daemon is signalled: it passes the reload
 * on to its workers.
 */
#include "mailctl/mailctl.h"

#include "lib/config.h"
#include "lib/settings.h"
#include "lib/xmalloc.h"

#include <sys/types.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const daemon_names[] = { "smtpd", "pop3d", "imapd", "relayd" };

/* Read a small file; returns its length (NUL-terminated in buf) or -1. */
static ssize_t
read_small(const char *path, char *buf, size_t size)
{
	ssize_t	 n, len = 0;
	int	 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	while ((size_t)len < size - 1 && (n = read(fd, buf + len, size - 1 - (size_t)len)) > 0)
		len += n;
	close(fd);
	buf[len] = '\0';
	return len;
}

/* A zombie keeps its name until reaped, but runs no more. */
static bool
proc_zombie(pid_t pid)
{
	char	 path[64], stat[512], *p;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	return read_small(path, stat, sizeof(stat)) > 0 && (p = strrchr(stat, ')')) != NULL &&
	    p[1] == ' ' && p[2] == 'Z';
}

bool
ctl_proc_named(pid_t pid, const char *name)
{
	char	 path[64], comm[64];
	ssize_t	 n;

	snprintf(path, sizeof(path), "/proc/%ld/comm", (long)pid);
	if ((n = read_small(path, comm, sizeof(comm))) <= 0)
		return false;
	if (comm[n - 1] == '\n')
		comm[n - 1] = '\0';
	return strcmp(comm, name) == 0 && !proc_zombie(pid);
}

/* Was pid started with the configuration file conf (a realpath)? */
static bool
proc_uses_config(pid_t pid, const char *conf)
{
	char		 path[64], cmdline[8192], real[PATH_MAX], *abs = NULL;
	const char	*arg, *end, *file = CONFIG_PATH_DEFAULT;
	ssize_t		 n;
	bool		 same;

	snprintf(path, sizeof(path), "/proc/%ld/cmdline", (long)pid);
	if ((n = read_small(path, cmdline, sizeof(cmdline))) <= 0)
		return false;
	end = cmdline + n;
	for (arg = cmdline; arg < end; arg += strlen(arg) + 1) {
		if (strcmp(arg, "-c") == 0 && arg + 3 < end)
			file = arg + 3;
		else if (strncmp(arg, "-c", 2) == 0 && arg[2] != '\0')
			file = arg + 2;
	}
	/* A relative -c PATH is relative to the daemon's working directory. */
	if (file[0] != '/')
		file = abs = xasprintf("/proc/%ld/cwd/%s", (long)pid, file);
	same = realpath(file, real) != NULL && strcmp(real, conf) == 0;
	free(abs);
	return same;
}

static pid_t
proc_parent(pid_t pid)
{
	char	 path[64], stat[512], *p;
	long	 ppid;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if (read_small(path, stat, sizeof(stat)) <= 0 || (p = strrchr(stat, ')')) == NULL)
		return -1;
	if (sscanf(p + 1, " %*c %ld", &ppid) != 1)
		return -1;
	return (pid_t)ppid;
}

static pid_t
pid_from_file(struct mailctl *m, const char *name)
{
	char	*path, buf[128], *p, *end;
	long	 pid;

	path = xasprintf("%s/run/%s.status", m->set->lib.state_dir, name);
	if (read_small(path, buf, sizeof(buf)) <= 0 || (p = strstr(buf, "\npid=")) == NULL) {
		free(path);
		return -1;
	}
	free(path);
	errno = 0;
	pid = strtol(p + 5, &end, 10);
	if (pid <= 1 || errno != 0 || (*end != '\0' && *end != '\n'))
		return -1;
	return ctl_proc_named((pid_t)pid, name) ? (pid_t)pid : -1;
}

static int
signal_one(pid_t pid, const char *name, bool verbose)
{
	if (kill(pid, SIGHUP) == -1) {
		ctl_error("reload %s (pid %ld): %s", name, (long)pid, strerror(errno));
		return 0;
	}
	if (verbose)
		printf("reload: %s (pid %ld)\n", name, (long)pid);
	return 1;
}

/* Top processes called name that run with conf; each signalled once. */
static int
signal_by_scan(const char *name, const char *conf, bool verbose)
{
	DIR		*dp;
	struct dirent	*de;
	pid_t		 pid, parent;
	int		 n = 0;

	if ((dp = opendir("/proc")) == NULL)
		return 0;
	while ((de = readdir(dp)) != NULL) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		pid = (pid_t)atol(de->d_name);
		if (pid == getpid() || !ctl_proc_named(pid, name) || !proc_uses_config(pid, conf))
			continue;
		parent = proc_parent(pid);
		if (parent > 0 && ctl_proc_named(parent, name) && proc_uses_config(parent, conf))
			continue;	/* a worker: its parent passes the signal on */
		n += signal_one(pid, name, verbose);
	}
	closedir(dp);
	return n;
}

int
ctl_reload(struct mailctl *m, bool verbose)
{
	char	 conf[PATH_MAX];
	pid_t	 pid;
	size_t	 i;
	int	 n = 0;

	if (realpath(m->conf_path, conf) == NULL)
		return 0;
	for (i = 0; i < sizeof(daemon_names) / sizeof(daemon_names[0]); i++) {
		if ((pid = pid_from_file(m, daemon_names[i])) != -1)
			n += signal_one(pid, daemon_names[i], verbose);
		else
			n += signal_by_scan(daemon_names[i], conf, verbose);
	}
	return n;
}

int
cmd_reload(struct mailctl *m, int argc, char **argv)
{
	if (argc != 1)
		return ctl_usage("reload");
	if (ctl_reload(m, true) == 0)
		fprintf(stderr, "mailctl: no running daemon uses %s\n", m->conf_path);
	return CTL_OK;
}
