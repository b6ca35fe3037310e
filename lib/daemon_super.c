/*
 * The supervisor of `workers` processes sharing the listening sockets.
 * It holds no event loop (an epoll instance is shared across fork, so a
 * child could not safely tear down an inherited one): it waits for
 * signals with sigtimedwait, restarts a worker that dies (with back-off
 * for one that keeps dying), and forwards SIGHUP and SIGTERM.
 */
#include "lib/daemon_private.h"

#include "lib/log.h"
#include "lib/xmalloc.h"

#include <sys/prctl.h>
#include <sys/wait.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BACKOFF_FIRST_MS	500
#define BACKOFF_MAX_MS		30000
#define HEALTHY_MS		60000	/* a worker that lived this long starts afresh */

struct worker {
	pid_t		 pid;		/* 0: not running */
	uint64_t	 started;
	uint64_t	 restart_at;	/* when pid == 0 and not stopping */
	uint64_t	 backoff;
};

static uint64_t
mono_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
spawn(struct daemon *d, struct worker *w, unsigned idx, const sigset_t *oldmask,
    int (*worker)(struct daemon *))
{
	pid_t	pid, parent = getpid();

	if ((pid = fork()) == -1) {
		log_warn("event=worker_fork index=%u", idx);
		w->restart_at = mono_ms() + BACKOFF_MAX_MS;
		return;
	}
	if (pid == 0) {
		/* A supervisor killed with -9 must not leave workers serving. */
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1 || getppid() != parent)
			_exit(1);
		sigprocmask(SIG_SETMASK, oldmask, NULL);
		d->notify = false;	/* only the main process talks to systemd */
		_exit(worker(d));
	}
	w->pid = pid;
	w->started = mono_ms();
	log_info("event=worker_start index=%u pid=%ld", idx, (long)pid);
}

static void
reap(struct worker *ws, unsigned n, bool stopping)
{
	pid_t		 pid;
	int		 status;
	unsigned	 i;
	uint64_t	 now = mono_ms();

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (i = 0; i < n && ws[i].pid != pid; i++)
			;
		if (i == n)
			continue;
		ws[i].pid = 0;
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && stopping)
			log_info("event=worker_exit index=%u pid=%ld status=0", i, (long)pid);
		else
			log_warnx("event=worker_exit index=%u pid=%ld %s=%d", i, (long)pid,
			    WIFSIGNALED(status) ? "signal" : "status",
			    WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
		if (stopping)
			continue;
		/* A worker that dies at once again and again must not spin the CPU. */
		if (now - ws[i].started >= HEALTHY_MS)
			ws[i].backoff = 0;
		ws[i].backoff = ws[i].backoff == 0 ? BACKOFF_FIRST_MS :
		    ws[i].backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : ws[i].backoff * 2;
		ws[i].restart_at = now + ws[i].backoff;
	}
}

static void
signal_all(struct worker *ws, unsigned n, int signo)
{
	unsigned	i;

	for (i = 0; i < n; i++)
		if (ws[i].pid > 0)
			kill(ws[i].pid, signo);
}

int
daemon_supervise(struct daemon *d, unsigned n, int (*worker)(struct daemon *))
{
	struct worker	*ws;
	sigset_t	 set, oldmask;
	struct timespec	 ts;
	uint64_t	 now, wait_ms;
	unsigned	 i, alive;
	bool		 stopping = false;
	int		 signo;

	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGCHLD);
	/* Blocked before the first fork: no signal slips between fork and wait. */
	sigprocmask(SIG_BLOCK, &set, &oldmask);
	ws = xcalloc(n, sizeof(*ws));
	for (i = 0; i < n; i++)
		spawn(d, &ws[i], i, &oldmask, worker);
	daemon_notify("READY=1");
	for (;;) {
		now = mono_ms();
		alive = 0;
		wait_ms = 1000;
		for (i = 0; i < n; i++) {
			if (ws[i].pid > 0) {
				alive++;
				continue;
			}
			if (stopping)
				continue;
			if (ws[i].restart_at <= now) {
				spawn(d, &ws[i], i, &oldmask, worker);
				alive += ws[i].pid > 0;
			} else if (ws[i].restart_at - now < wait_ms)
				wait_ms = ws[i].restart_at - now;
		}
		if (stopping && alive == 0)
			break;
		ts.tv_sec = (time_t)(wait_ms / 1000);
		ts.tv_nsec = (long)(wait_ms % 1000) * 1000000;
		if ((signo = sigtimedwait(&set, NULL, &ts)) == -1)
			continue;	/* EAGAIN: a restart may be due; EINTR */
		switch (signo) {
		case SIGCHLD:
			reap(ws, n, stopping);
			break;
		case SIGHUP:
			daemon_notify("RELOADING=1");
			log_info("event=reload workers=%u", n);
			signal_all(ws, n, SIGHUP);
			daemon_notify("READY=1");
			break;
		default:
			if (!stopping) {
				stopping = true;
				daemon_notify("STOPPING=1");
				log_info("event=stopping workers=%u", n);
			}
			signal_all(ws, n, SIGTERM);
			break;
		}
	}
	free(ws);
	sigprocmask(SIG_SETMASK, &oldmask, NULL);
	log_info("event=stopped");
	return 0;
}
