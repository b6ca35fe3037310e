/*
 * Inside the daemon skeleton: shared by daemon.c (start-up, workers,
 * reload, stop), daemon_listen.c (sockets), daemon_super.c (the
 * supervisor of `workers` processes) and daemon_os.c (privileges,
 * sd_notify).  Tests include it for the listener parser.
 */
#ifndef LIB_DAEMON_PRIVATE_H
#define LIB_DAEMON_PRIVATE_H

#include "lib/daemon.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct conntab;
struct passcache;
struct daemon;
struct daemon_status;
struct ev_io;
struct ev_timer;
struct session_pool;
struct tls_server;

struct daemon_sock {
	struct daemon			*d;
	int				 fd;
	const struct daemon_listener	*l;
	struct ev_io			*io;
};

/* A config and directory replaced by a reload, kept while older sessions live. */
struct daemon_retired {
	struct daemon_retired	*next;
	unsigned		 gen;		/* sessions older than this may use them */
	struct config		*cfg;
	struct directory	*dir;
};

struct daemon {
	const struct daemon_spec	*spec;
	const char			*config_path;
	char				**overrides;	/* -o key=value, reapplied on reload */
	size_t				 noverrides;
	struct config			*cfg;
	struct directory		*dir;
	struct tls_server		*tls;		/* NULL: no certificate loaded */
	struct daemon_sock		*socks;
	size_t				 nsocks;
	int				 ready_fd;	/* a worker's pipe to its supervisor */
	int				 af_fd;		/* shared authfail table, -1: none */
	struct conntab			*conns;		/* connection counts, shared by the workers */
	struct passcache		*passcache;	/* shared by the workers too */
	unsigned			 worker_index;	/* this worker's column in conns */
	struct daemon_status		*status;	/* for mailctl status; NULL: none */

	/* Per worker. */
	struct ev_loop			*loop;
	struct workq			*wq;
	struct authfail			*af;
	struct turnq			*authq;
	struct turnq			*openq;
	struct session_pool		*pool;
	void				*arg;
	unsigned			 gen;
	struct daemon_retired		*retired;
	struct ev_timer			*stop_timer;
	struct ev_timer			*accept_timer;	/* listening again: after EMFILE, after accept_leave() */
	uint64_t			 left_since, left_last;	/* accept_leave(), in us */
	uint64_t			 left_others;	/* conntab_load_elsewhere() then */
	unsigned			 left_looks;	/* listener unwatched, looked at again */
	bool				 left_paused;	/* this turn is such a look */
	struct ev_timer			*gc_timer;
	unsigned long long		 stop_deadline;
	bool				 stopping;
};

/*
 * One listen item "addr:port", "[v6addr]:port" or "*:port" (all IPv4
 * addresses) into a socket address.
 */
int	daemon_listen_parse(const char *item, struct sockaddr_storage *ss, socklen_t *len_r,
	    const char **error_r);
/* The key of l's address list, for log lines; aborts if l names none (a bug). */
const char	*daemon_listener_key(const struct daemon_listener *l);
/* Fill d->socks from systemd (LISTEN_FDS) or by binding the config's listeners. */
int	daemon_listeners_open(struct daemon *d, const char **error_r);
void	daemon_listeners_close(struct daemon *d);

/* A worker's exit status when its set-up (init, loop) failed: restarting will not help. */
#define DAEMON_EXIT_INIT	78

/*
 * Fork `workers` processes running worker(d) and supervise them (also
 * one): restart a dying one (the first `burst` deaths a minute at once,
 * then with a growing delay), forward SIGHUP and SIGTERM/SIGINT.  Worker
 * i runs with d->worker_index = i; when it dies, its counts in d->conns
 * are dropped before another takes its place.  Returns
 * the exit status once every worker has stopped after SIGTERM, or 1 when
 * a worker's first start failed with DAEMON_EXIT_INIT.
 */
int	daemon_supervise(struct daemon *d, unsigned workers, unsigned burst,
	    int (*worker)(struct daemon *));

/*
 * After the privilege drop: PR_SET_NO_NEW_PRIVS, then (seccomp) a filter
 * refusing with EPERM the system calls no daemon makes (execve, ptrace,
 * mount, module loading, bpf, keyrings, ...); another ABI is killed.
 * Inherited by every child and thread.
 */
int	daemon_sandbox(bool seccomp, const char **error_r);

/*
 * Before the privilege drop: RLIMIT_NOFILE's soft limit raised to want,
 * the hard one too if we may (root); never lowered.  Logs the outcome,
 * and warns if the limit is short of max_connections.
 */
void	daemon_raise_files(unsigned want, unsigned max_connections);

/* In the supervisor: reread config, directory, certificate for workers forked later. */
void	daemon_supervisor_reload(struct daemon *d);

/* In a worker: tell the supervisor it accepts, or finished a reload. */
void	daemon_worker_ready(struct daemon *d);

/* sd_notify(3) without libsystemd: "READY=1" to $NOTIFY_SOCKET, if set. */
void	daemon_notify(const char *state);

#endif
