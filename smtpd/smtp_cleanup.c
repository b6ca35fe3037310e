/*
 * A delivery writes its file into the first recipient's Maildir/tmp/,
 * then links it into every new/ and unlinks the tmp/ name.  A writer
 * killed in between leaves a tmp/ file that no one will ever finish; it
 * was never acknowledged (or, after the links, is already in new/), so
 * removing it loses nothing.  Only files of this host whose writer pid no
 * longer exists are touched: a live writer's file, another host's (shared
 * mail root) or a name we did not make are left alone.
 */
#include "smtpd/smtp_cleanup.h"
#include "lib/log.h"
#include "lib/commit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The host part of commit_unique_name() on this machine. */
static const char *
our_host(char *buf, size_t size)
{
	const char	*q, *dot;

	commit_unique_name(buf, size);
	if ((q = strchr(buf, 'Q')) == NULL || (dot = strchr(q, '.')) == NULL)
		return NULL;
	return dot + 1;
}

/* "<sec>.M<usec>P<pid>Q<n>.<host>[,S=...][:2,...]": the writer's pid, or -1. */
static long
writer_pid(const char *name, const char *host)
{
	const char	*q, *dot;
	long		 pid;
	size_t		 hlen = strlen(host);

	if (sscanf(name, "%*[0-9].M%*[0-9]P%ldQ", &pid) != 1 || pid <= 0)
		return -1;
	if ((q = strchr(name, 'Q')) == NULL || (dot = strchr(q, '.')) == NULL ||
	    strncmp(dot + 1, host, hlen) != 0 ||
	    (dot[1 + hlen] != '\0' && dot[1 + hlen] != ',' && dot[1 + hlen] != ':'))
		return -1;
	return pid;
}

static unsigned
clean_tmp(int tmpfd, const char *host)
{
	DIR		*dir;
	struct dirent	*de;
	unsigned	 n = 0;
	long		 pid;

	if ((dir = fdopendir(tmpfd)) == NULL) {
		close(tmpfd);
		return 0;
	}
	while ((de = readdir(dir)) != NULL) {
		pid = writer_pid(de->d_name, host);
		if (pid > 0 && pid != (long)getpid() && kill((pid_t)pid, 0) == -1 &&
		    errno == ESRCH && unlinkat(dirfd(dir), de->d_name, 0) == 0)
			n++;
	}
	closedir(dir);
	return n;
}

/* Open the subdirectories of fd, one by one, skipping dot entries. */
static void
each_subdir(int fd, void (*fn)(int subfd, void *arg), void *arg)
{
	DIR		*dir;
	struct dirent	*de;
	int		 sub;

	if ((dir = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		sub = openat(dirfd(dir), de->d_name,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub != -1)
			fn(sub, arg);
	}
	closedir(dir);
}

struct walk {
	const char	*host;
	unsigned	 removed;
};

static void
user_dir(int fd, void *arg)
{
	struct walk	*w = arg;
	int		 md, tmp;

	/* Step by step: no symlink planted in a user's tree leads the walk out. */
	md = openat(fd, "Maildir", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	close(fd);
	if (md == -1)
		return;
	tmp = openat(md, "tmp", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	close(md);
	if (tmp != -1)
		w->removed += clean_tmp(tmp, w->host);
}

static void
domain_dir(int fd, void *arg)
{
	each_subdir(fd, user_dir, arg);
}

unsigned
smtp_cleanup_maildirs(const char *mail_root)
{
	struct walk	 w = { NULL, 0 };
	char		 name[256];
	int		 fd;

	if ((w.host = our_host(name, sizeof(name))) == NULL)
		return 0;
	if ((fd = open(mail_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return 0;
	each_subdir(fd, domain_dir, &w);
	if (w.removed > 0)
		log_info("event=cleanup removed=%u reason=\"Maildir tmp/ files of dead writers\"",
		    w.removed);
	return w.removed;
}
