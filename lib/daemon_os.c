/*
 * The places the daemon talks to the operating system about itself: the
 * file limit, the privilege drop (and its verification) and sd_notify.
 */
#include "lib/daemon_private.h"

#include "lib/error.h"
#include "lib/log.h"

#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Descriptors a process holds besides its connections (logs, listeners, index). */
#define FILES_RESERVE	100

int
daemon_drop_privileges(const char *user, const char **error_r)
{
	struct passwd	*pw;
	uid_t		 ru, eu, su;
	gid_t		 rg, eg, sg;

	if (getresuid(&ru, &eu, &su) == -1)
		return err_set(error_r, "getresuid: %s", strerror(errno));
	if (ru != 0 && eu != 0 && su != 0)
		return 0;	/* not root: nothing to give up */
	errno = 0;
	if ((pw = getpwnam(user)) == NULL)
		return err_set(error_r, "user %s: %s", user,
		    errno != 0 ? strerror(errno) : "no such user");
	if (pw->pw_uid == 0)
		return err_set(error_r, "user %s is root: refusing to run as root", user);
	if (setgroups(1, &pw->pw_gid) == -1 ||
	    setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) == -1 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) == -1)
		return err_set(error_r, "dropping to %s: %s", user, strerror(errno));
	/* Trust, but verify: a partial drop is worse than none. */
	if (getresuid(&ru, &eu, &su) == -1 || getresgid(&rg, &eg, &sg) == -1 ||
	    ru != pw->pw_uid || eu != pw->pw_uid || su != pw->pw_uid ||
	    rg != pw->pw_gid || eg != pw->pw_gid || sg != pw->pw_gid)
		return err_set(error_r, "dropping to %s: ids did not change", user);
	if (setuid(0) != -1)
		return err_set(error_r, "dropping to %s: setuid(0) still succeeds", user);
	return 0;
}

/*
 * Each connection holds descriptors (an IMAP IDLE session 2: its socket
 * and the change eventfd), and distributions start services with a soft
 * limit of 1,024 under a far higher hard one.  A limit too low for
 * max_connections is said at start: past it a client gets NO [UNAVAILABLE]
 * from a failed open instead of the BYE the configured limit gives.
 */
void
daemon_raise_files(unsigned want, unsigned max_connections)
{
	struct rlimit		 old, rl;
	unsigned long long	 need = 2ULL * max_connections + FILES_RESERVE;

	if (getrlimit(RLIMIT_NOFILE, &old) == -1) {
		log_warn("event=start stage=files");
		return;
	}
	rl = old;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want)
		rl.rlim_max = want;	/* root only (CAP_SYS_RESOURCE) */
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
		rl.rlim_cur = want;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1) {
			rl.rlim_max = old.rlim_max;
			rl.rlim_cur = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want ?
			    rl.rlim_max : want;
			if (setrlimit(RLIMIT_NOFILE, &rl) == -1) {
				log_warn("event=start stage=files wanted=%u", want);
				rl = old;
			}
		}
		log_info("event=start stage=files limit=%llu was=%llu wanted=%u",
		    (unsigned long long)rl.rlim_cur, (unsigned long long)old.rlim_cur, want);
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need)
		log_warnx("event=start stage=files status=low limit=%llu max_connections=%u "
		    "need=%llu reason=\"2 descriptors per connection (IMAP IDLE)\"",
		    (unsigned long long)rl.rlim_cur, max_connections, need);
}

void
daemon_notify(const char *state)
{
	const char		*path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un	 sun;
	socklen_t		 len;
	size_t			 plen;
	int			 fd;

	if (path == NULL || (path[0] != '/' && path[0] != '@'))
		return;
	plen = strlen(path);
	if (plen >= sizeof(sun.sun_path))
		return;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, plen);
	if (path[0] == '@')
		sun.sun_path[0] = '\0';		/* abstract namespace */
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return;
	/* Best effort, like sd_notify(3): systemd may not be listening. */
	(void)sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sun, len);
	close(fd);
}
