/*
 * The supervisor of `workers` processes sharing the listening sockets,
 * also for workers = 1: a worker that dies (SIGSEGV, SIGBUS, kill -9)
 * takes only its own sessions, and a fresh one takes over its listeners.
 * It holds no event loop (an epoll instance is shared across fork, so a
 * child could not safely tear down an inherited one) and reads nothing
 * from the network: it polls a signalfd and the workers' ready pipe,
 * restarts a worker that dies, and forwards SIGHUP and SIGTERM.
 *
 * systemd hears READY=1 only once every worker said, through the ready
 * pipe, that it accepts (at start) or finished its reload (after
 * RELOADING=1): a forked worker has not yet run its init nor its loop,
 * and a READY=1 sent at fork time would let systemd start what depends on
 * a service that may still fail, or report a reload done that is not.
 *
 * Restarts: the first `restart_burst` deaths of a worker within a minute
 * are restarted at once (a crash costs its sessions, not the service);
 * past that each restart waits twice as long as the last, 1 s up to 60 s,
 * so a crash loop cannot spin.  A worker that lived a minute starts
 * afresh.  A worker whose very first start fails with DAEMON_EXIT_INIT (config,
 * store) would fail again: the supervisor stops instead of looping.
 */
#include "lib/daemon_private.h"

#include "lib/conntab.h"
#include "lib/daemon_status.h"
#include "lib/ev.h"
#include "lib/log.h"
#include "lib/xmalloc.h"

#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BACKOFF_FIRST_MS	1000
#define BACKOFF_MAX_MS		60000
#define WINDOW_MS		60000	/* restart_burst counts deaths in this window */
#define HEALTHY_MS		60000	/* a worker that lived this long starts afresh */

struct worker {
	pid_t		 pid;		/* 0: not running */
	uint64_t	 started;
	uint64_t	 restart_at;	/* when pid == 0 and not stopping */
	uint64_t	 backoff;
	uint64_t	 window_start;
	unsigned	 window_deaths;
	unsigned	 starts;
	bool		 pending;	/* READY=1 waits for its ready byte */
};

struct supervisor {
	struct worker	*ws;		/* a global root: a child's leak check sees it */
	unsigned	 n;
	unsigned	 burst;
	bool		 stopping;
	bool		 failed;	/* a first start failed in init: stop, exit 1 */
	bool		 announcing;	/* READY=1 is due once no worker is pending */
	int		 sigfd;
	int		 ready_rd;	/* the workers write their index here */
};

static struct supervisor	sup;

static void
spawn(struct daemon *d, struct worker *w, unsigned idx, const sigset_t *oldmask,
    int (*worker)(struct daemon *))
{
	pid_t	pid, parent = getpid();

	if ((pid = fork()) == -1) {
		log_warn("event=worker_fork index=%u", idx);
		w->restart_at = ev_clock_ms() + BACKOFF_MAX_MS;
		return;
	}
	if (pid == 0) {
		/*
		 * A supervisor killed with -9 takes its workers with it, at once:
		 * no worker keeps serving (or holding the ports) unsupervised, and
		 * kill -9 of the daemon means what it meant with one process.
		 */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 || getppid() != parent)
			_exit(1);
		close(sup.sigfd);
		close(sup.ready_rd);
		sigprocmask(SIG_SETMASK, oldmask, NULL);
		d->worker_index = idx;
		/* exit, not _exit: the worker released everything, leak checks run. */
		exit(worker(d));
	}
	w->pid = pid;
	w->pending = true;
	w->started = ev_clock_ms();
	w->starts++;
	log_info("event=worker_start index=%u pid=%ld start=%u", idx, (long)pid, w->starts);
}

/* When worker w, which just died, may start again. */
static void
schedule_restart(struct worker *w, unsigned idx, uint64_t now)
{
	if (now - w->started >= HEALTHY_MS)
		w->backoff = 0;
	if (now - w->window_start >= WINDOW_MS) {
		w->window_start = now;
		w->window_deaths = 0;
	}
	w->window_deaths++;
	if (w->window_deaths <= sup.burst && w->backoff == 0) {
		w->restart_at = now;
	} else {
		/* A worker that dies at once again and again must not spin the CPU. */
		w->backoff = w->backoff == 0 ? BACKOFF_FIRST_MS :
		    w->backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : w->backoff * 2;
		w->restart_at = now + w->backoff;
	}
	log_warnx("event=worker_restart index=%u delay_ms=%llu deaths_in_window=%u "
	    "restart_burst=%u", idx, (unsigned long long)(w->restart_at - now),
	    w->window_deaths, sup.burst);
}

static void
reap(struct daemon *d)
{
	struct worker	*w;
	pid_t		 pid;
	int		 status;
	unsigned	 i, dropped;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (i = 0; i < sup.n && sup.ws[i].pid != pid; i++)
			;
		if (i == sup.n)
			continue;
		w = &sup.ws[i];
		w->pid = 0;
		w->pending = false;
		/* Its sessions are gone with it: so are their counts. */
		daemon_status_reclaim(d, i);
		if ((dropped = conntab_reclaim(d->conns, i)) > 0)
			log_warnx("event=worker_reclaim index=%u pid=%ld connections=%u", i,
			    (long)pid, dropped);
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && sup.stopping) {
			log_info("event=worker_exit index=%u pid=%ld status=0", i, (long)pid);
			continue;
		}
		log_warnx("event=worker_exit index=%u pid=%ld %s=%d%s", i, (long)pid,
		    WIFSIGNALED(status) ? "signal" : "status",
		    WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status),
		    sup.stopping ? "" : " unexpected=yes");
		if (sup.stopping)
			continue;
		if (w->starts == 1 && WIFEXITED(status) &&
		    WEXITSTATUS(status) == DAEMON_EXIT_INIT) {
			log_warnx("event=worker_init_failed index=%u stopping", i);
			sup.failed = true;
			continue;
		}
		schedule_restart(w, i, ev_clock_ms());
	}
}

/* READY=1 once every worker runs and has answered since the last start or reload. */
static void
announce_if_ready(void)
{
	unsigned	i;

	if (!sup.announcing || sup.stopping)
		return;
	for (i = 0; i < sup.n; i++)
		if (sup.ws[i].pid == 0 || sup.ws[i].pending)
			return;
	sup.announcing = false;
	daemon_notify("READY=1");
}

static void
read_ready(void)
{
	unsigned char	buf[64];
	ssize_t		n, i;

	while ((n = read(sup.ready_rd, buf, sizeof(buf))) > 0)
		for (i = 0; i < n; i++)
			if (buf[i] < sup.n)
				sup.ws[buf[i]].pending = false;
	announce_if_ready();
}

void
daemon_worker_ready(struct daemon *d)
{
	unsigned char	idx = (unsigned char)d->worker_index;

	/* One byte: atomic on a pipe; non-blocking, a full pipe only delays READY. */
	if (d->ready_fd != -1 && write(d->ready_fd, &idx, 1) == -1)
		log_warn("event=worker_ready index=%u", d->worker_index);
}

static void
signal_all(int signo)
{
	unsigned	i;

	for (i = 0; i < sup.n; i++)
		if (sup.ws[i].pid > 0)
			kill(sup.ws[i].pid, signo);
}

static void
stop_all(void)
{
	if (!sup.stopping) {
		sup.stopping = true;
		daemon_notify("STOPPING=1");
		log_info("event=stopping workers=%u", sup.n);
	}
	signal_all(SIGTERM);
}

static void
on_signal(struct daemon *d, int signo)
{
	unsigned	i;

	switch (signo) {
	case SIGCHLD:
		reap(d);
		if (sup.failed)
			stop_all();
		announce_if_ready();
		break;
	case SIGHUP:
		if (sup.stopping)
			break;
		/* A reload, not a crash: the workers reload in place. */
		daemon_notify("RELOADING=1");
		log_info("event=reload workers=%u", sup.n);
		for (i = 0; i < sup.n; i++)
			sup.ws[i].pending = sup.ws[i].pid > 0;
		sup.announcing = true;
		signal_all(SIGHUP);
		daemon_supervisor_reload(d);
		break;
	default:
		stop_all();
		break;
	}
}

int
daemon_supervise(struct daemon *d, unsigned n, unsigned burst, int (*worker)(struct daemon *))
{
	struct signalfd_siginfo	 si;
	struct pollfd		 pfd[2];
	sigset_t		 set, oldmask;
	uint64_t		 now, wait_ms;
	unsigned		 i, alive;
	int			 ready[2];

	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGCHLD);
	/* Blocked before the first fork: no signal slips between fork and wait. */
	sigprocmask(SIG_BLOCK, &set, &oldmask);
	memset(&sup, 0, sizeof(sup));
	if ((sup.sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) == -1 ||
	    pipe2(ready, O_NONBLOCK | O_CLOEXEC) == -1) {
		log_warn("event=start status=failed stage=supervisor");
		if (sup.sigfd != -1)
			close(sup.sigfd);
		sigprocmask(SIG_SETMASK, &oldmask, NULL);
		return 1;
	}
	sup.ready_rd = ready[0];
	d->ready_fd = ready[1];
	sup.ws = xcalloc(n, sizeof(*sup.ws));
	sup.n = n;
	sup.burst = burst;
	sup.announcing = true;
	for (i = 0; i < n; i++)
		spawn(d, &sup.ws[i], i, &oldmask, worker);
	daemon_status_publish(d, true);
	for (;;) {
		daemon_status_publish(d, false);
		now = ev_clock_ms();
		alive = 0;
		wait_ms = 1000;
		for (i = 0; i < n; i++) {
			if (sup.ws[i].pid > 0) {
				alive++;
				continue;
			}
			if (sup.stopping)
				continue;
			if (sup.ws[i].restart_at <= now) {
				spawn(d, &sup.ws[i], i, &oldmask, worker);
				alive += sup.ws[i].pid > 0;
			} else if (sup.ws[i].restart_at - now < wait_ms)
				wait_ms = sup.ws[i].restart_at - now;
		}
		if (sup.stopping && alive == 0)
			break;
		pfd[0] = (struct pollfd){ .fd = sup.sigfd, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = sup.ready_rd, .events = POLLIN };
		if (poll(pfd, 2, (int)wait_ms) <= 0)
			continue;	/* a restart may be due; EINTR */
		if (pfd[1].revents != 0)
			read_ready();
		while (read(sup.sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
			on_signal(d, (int)si.ssi_signo);
	}
	close(sup.sigfd);
	close(sup.ready_rd);
	close(d->ready_fd);
	d->ready_fd = -1;
	xfree(&sup.ws);
	daemon_status_remove(d);
	sigprocmask(SIG_SETMASK, &oldmask, NULL);
	log_info("event=stopped");
	return sup.failed ? 1 : 0;
}
