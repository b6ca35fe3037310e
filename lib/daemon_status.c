/*
 * The status file of a running daemon (lib/daemon_status.h).  A file
 * rather than a control socket: mailctl reads it whether the daemon is up,
 * stopped or killed, and the daemon does no work for a reader.
 *
 * Workers store their per-listener counts in their own row of a shared
 * mapping and bump a sequence number; the supervisor, which wakes at
 * least once a second anyway, rewrites the file when the number moved.
 * Accepts are hooked; closes are not (they happen deep in the sessions),
 * so a worker with connections open looks again once a second.
 */
#include "lib/daemon_status.h"

#include "lib/conntab.h"
#include "lib/daemon_private.h"
#include "lib/ev.h"
#include "lib/log.h"
#include "lib/session.h"
#include "lib/settings.h"
#include "lib/xmalloc.h"

#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define STATUS_KINDS_MAX	8
#define STATUS_REASON_MAX	200
#define STATUS_INTERVAL_MS	1000	/* at most one write a second; the closes' poll */

struct status_shared {
	unsigned	 seq;		/* bumped on every change */
	long long	 reload_time;	/* wall clock; 0: no reload yet */
	int		 reload_ok;
	/* Workers reloading at once may interleave here: a reason, not a record. */
	char		 reload_reason[STATUS_REASON_MAX];
	unsigned	 conns[CONNTAB_OWNERS_MAX][STATUS_KINDS_MAX];
};

struct daemon_status {
	struct status_shared	*sh;
	char			*path;
	char			*tmp;
	unsigned		 nkinds;
	unsigned		 workers;
	long long		 started;
	unsigned		 written_seq;
	uint64_t		 written_ms;
	struct ev_timer		*timer;		/* a worker's poll of its closes */
};

/* <state_dir>/run, owned by the mail user: the supervisor writes there after the drop. */
static int
run_dir(const struct settings *set, char **path_r)
{
	struct passwd	*pw;
	struct stat	 st;
	char		*dir;

	if (set->lib.state_dir[0] == '\0')
		return -1;
	if (mkdir(set->lib.state_dir, 0755) == -1 && errno != EEXIST)
		goto fail;
	dir = xasprintf("%s/run", set->lib.state_dir);
	if (mkdir(dir, 0755) == -1 && errno != EEXIST) {
		free(dir);
		goto fail;
	}
	/*
	 * mailctl setup made it the user's (under the units root may not
	 * chown).  Never through a symbolic link: the user could point one at
	 * /etc before a restart as root.
	 */
	if (geteuid() == 0 && (pw = getpwnam(set->lib.user)) != NULL) {
		int	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

		if (fd == -1 || fstat(fd, &st) == -1 || (st.st_uid != pw->pw_uid &&
		    fchown(fd, pw->pw_uid, pw->pw_gid) == -1)) {
			if (fd != -1)
				close(fd);
			free(dir);
			goto fail;
		}
		close(fd);
	}
	*path_r = dir;
	return 0;
fail:
	log_warn("event=status_file state_dir=%s published=no", set->lib.state_dir);
	return -1;
}

struct daemon_status *
daemon_status_new(struct daemon *d, unsigned workers)
{
	struct daemon_status	*s;
	void			*map;
	char			*dir;

	if (run_dir(daemon_settings(d), &dir) == -1)
		return NULL;
	map = mmap(NULL, sizeof(struct status_shared), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED) {
		log_warn("event=status_file published=no");
		free(dir);
		return NULL;
	}
	s = xcalloc(1, sizeof(*s));
	s->sh = map;
	s->path = xasprintf("%s/%s.status", dir, d->spec->name);
	s->tmp = xasprintf("%s/.%s.status.tmp", dir, d->spec->name);
	free(dir);
	while (s->nkinds < STATUS_KINDS_MAX && d->spec->listeners[s->nkinds].kind != NULL)
		s->nkinds++;
	s->workers = workers < CONNTAB_OWNERS_MAX ? workers : CONNTAB_OWNERS_MAX;
	s->started = (long long)time(NULL);
	return s;
}

void
daemon_status_free(struct daemon_status **sp)
{
	struct daemon_status	*s = *sp;

	if (s == NULL)
		return;
	munmap(s->sh, sizeof(*s->sh));
	free(s->path);
	free(s->tmp);
	free(s);
	*sp = NULL;
}

static void
changed(struct daemon_status *s)
{
	__atomic_add_fetch(&s->sh->seq, 1, __ATOMIC_RELEASE);
}

static void
poll_cb(void *arg)
{
	daemon_status_count(arg);
}

void
daemon_status_count(struct daemon *d)
{
	struct daemon_status	*s = d->status;
	unsigned		*row, n, k, open = 0;
	bool			 moved = false;

	if (s == NULL || d->pool == NULL || d->worker_index >= s->workers)
		return;
	row = s->sh->conns[d->worker_index];
	for (k = 0; k < s->nkinds; k++) {
		n = session_pool_listener_count(d->pool, d->spec->listeners[k].kind);
		if (n != __atomic_load_n(&row[k], __ATOMIC_RELAXED)) {
			__atomic_store_n(&row[k], n, __ATOMIC_RELAXED);
			moved = true;
		}
		open += n;
	}
	if (moved)
		changed(s);
	if (s->timer == NULL)
		s->timer = ev_timer_new(d->loop, poll_cb, d);
	if ((open > 0 || moved) && !ev_timer_pending(s->timer))
		ev_timer_set(s->timer, STATUS_INTERVAL_MS);
}

void
daemon_status_reloaded(struct daemon *d, bool ok, const char *why)
{
	struct daemon_status	*s = d->status;

	if (s == NULL)
		return;
	snprintf(s->sh->reload_reason, sizeof(s->sh->reload_reason), "%s", ok ? "" : why);
	s->sh->reload_ok = ok;
	__atomic_store_n(&s->sh->reload_time, (long long)time(NULL), __ATOMIC_RELAXED);
	changed(s);
}

void
daemon_status_worker_fini(struct daemon *d)
{
	if (d->status != NULL)
		ev_timer_free(&d->status->timer);
}

void
daemon_status_reclaim(struct daemon *d, unsigned index)
{
	struct daemon_status	*s = d->status;

	if (s == NULL || index >= s->workers)
		return;
	memset(s->sh->conns[index], 0, sizeof(s->sh->conns[index]));
	changed(s);
}

/* "addr:port", "[v6]:port" or a Unix socket's path. */
static void
sock_name(int fd, char *out, size_t size)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len = sizeof(ss);
	char			 host[NI_MAXHOST], port[NI_MAXSERV];

	snprintf(out, size, "?");
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
		return;
	if (ss.ss_family == AF_UNIX) {
		snprintf(out, size, "%s", ((struct sockaddr_un *)&ss)->sun_path);
		return;
	}
	if (getnameinfo((struct sockaddr *)&ss, len, host, sizeof(host), port, sizeof(port),
	    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		return;
	snprintf(out, size, ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
}

static void
write_kind(struct daemon *d, FILE *f, unsigned k)
{
	const struct daemon_listener	*l = &d->spec->listeners[k];
	char				 name[300];
	unsigned			 w, sum = 0;
	size_t				 i;
	int				 n = 0;

	fprintf(f, "listen.%s=", l->kind);
	for (i = 0; i < d->nsocks; i++) {
		if (d->socks[i].l != l)
			continue;
		sock_name(d->socks[i].fd, name, sizeof(name));
		fprintf(f, "%s%s", n++ > 0 ? "," : "", name);
	}
	for (w = 0; w < d->status->workers; w++)
		sum += __atomic_load_n(&d->status->sh->conns[w][k], __ATOMIC_RELAXED);
	fprintf(f, "\nconnections.%s=%u\n", l->kind, sum);
}

static int
write_file(struct daemon *d)
{
	struct daemon_status	*s = d->status;
	const char		*rs;
	long long		 rt = __atomic_load_n(&s->sh->reload_time, __ATOMIC_RELAXED);
	unsigned		 k;
	FILE			*f;
	int			 fd;

	if ((fd = open(s->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) == -1)
		return -1;
	if ((f = fdopen(fd, "w")) == NULL) {
		close(fd);
		return -1;
	}
	rs = rt == 0 ? "none" : s->sh->reload_ok ? "ok" : "failed";
	fprintf(f, "daemon=%s\npid=%ld\nstarted=%lld\nworkers=%u\n", d->spec->name,
	    (long)getpid(), s->started, s->workers);
	for (k = 0; k < s->nkinds; k++)
		write_kind(d, f, k);
	fprintf(f, "reload_time=%lld\nreload_status=%s\nreload_reason=%.*s\nupdated=%lld\n",
	    rt, rs, STATUS_REASON_MAX - 1, s->sh->reload_reason, (long long)time(NULL));
	if (fclose(f) == EOF)
		return -1;
	return rename(s->tmp, s->path);
}

void
daemon_status_publish(struct daemon *d, bool force)
{
	struct daemon_status	*s = d->status;
	unsigned		 seq;
	uint64_t		 now = ev_clock_ms();

	if (s == NULL)
		return;
	seq = __atomic_load_n(&s->sh->seq, __ATOMIC_ACQUIRE);
	if (!force && (seq == s->written_seq || now - s->written_ms < STATUS_INTERVAL_MS))
		return;
	s->written_seq = seq;
	s->written_ms = now;
	if (write_file(d) == -1) {
		log_warn("event=status_file path=%s", s->path);
		unlink(s->tmp);
	}
}

void
daemon_status_remove(struct daemon *d)
{
	if (d->status != NULL)
		unlink(d->status->path);
}
