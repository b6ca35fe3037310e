/*
 * The one daemon skeleton: command line, config, listeners, TLS, the
 * privilege drop, then one worker in-process or `workers` supervised
 * children.  A worker is an event loop with a session pool, an I/O
 * thread pool and an authfail table; SIGHUP reloads, SIGTERM drains.
 */
#include "lib/daemon_private.h"

#include "lib/authfail.h"
#include "lib/turnq.h"
#include "lib/config.h"
#include "lib/conntab.h"
#include "lib/daemon_status.h"
#include "lib/directory.h"
#include "lib/ev.h"
#include "lib/log.h"
#include "lib/passcache.h"
#include "lib/session.h"
#include "lib/tls.h"
#include "lib/workq.h"
#include "lib/xmalloc.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define STOP_POLL_MS		100
#define ACCEPT_PAUSE_MS		1000	/* out of fds: stop accepting this long */
#define ACCEPT_SLACK		1	/* connections more than another worker's, taken anyway */
#define ACCEPT_SPIN_US		2000	/* a connection left to another: looked at again at once */
#define ACCEPT_LOOKS		8	/* then this many times, ACCEPT_LOOK_MS apart */
#define ACCEPT_LOOK_MS		1
#define GC_MS			5000
#define MMAP_THRESHOLD		(128 * 1024)	/* glibc's initial value, kept */
#define MALLOC_ARENAS		2	/* the loop's and the threads' (glibc: 8 per core) */
#define AUTHFAIL_FILE		"authfail.table"

const struct settings *
daemon_settings(struct daemon *d)
{
	return config_settings(d->cfg);
}

struct directory *
daemon_directory(struct daemon *d)
{
	return d->dir;
}

struct ev_loop *
daemon_loop(struct daemon *d)
{
	return d->loop;
}

struct workq *
daemon_workq(struct daemon *d)
{
	return d->wq;
}

struct authfail *
daemon_authfail(struct daemon *d)
{
	return d->af;
}

struct turnq *
daemon_authq(struct daemon *d)
{
	return d->authq;
}

struct turnq *
daemon_openq(struct daemon *d)
{
	return d->openq;
}

struct passcache *
daemon_passcache(struct daemon *d)
{
	return d->passcache;
}

struct conntab *
daemon_conntab(struct daemon *d)
{
	return d->conns;
}

void *
daemon_arg(struct daemon *d)
{
	return d->arg;
}

void
daemon_set_arg(struct daemon *d, void *arg)
{
	d->arg = arg;
}

bool
daemon_tls_available(struct daemon *d)
{
	return d->tls != NULL;
}

SSL_CTX *
daemon_tls_ctx(struct daemon *d)
{
	return d->tls != NULL ? tls_server_ctx(d->tls) : NULL;
}

static void
usage(const struct daemon_spec *spec)
{
	const struct daemon_listener	*l;
	const struct config_key		*k;

	fprintf(stderr, "usage: %s [-f] [-c config] [-o key=value]...\n"
	    "  -c path       configuration file (default %s)\n"
	    "  -o key=value  override a configuration key (repeatable)\n"
	    "  -f            stay in the foreground (the only mode)\n"
	    "  -h            this help\n"
	    "listeners (key = default):\n", spec->name, CONFIG_PATH_DEFAULT);
	for (l = spec->listeners; l->kind != NULL; l++)
		if ((k = config_key_at(l->addrs)) != NULL)
			fprintf(stderr, "  %-12s %s = %s%s\n", l->kind, k->name, k->def,
			    l->implicit_tls ? " (implicit TLS)" : "");
	fprintf(stderr, "settings: the %s.* keys and the shared ones; `mailctl config` prints them\n",
	    spec->name);
}

/* The config file plus the -o overrides; NULL and every error logged. */
static struct config *
load_config(struct daemon *d, const char **error_r)
{
	struct config	*cfg;
	const char	*err;
	char		*key, *eq, q[256];
	size_t		 i;
	int		 bad = 0;

	if ((cfg = config_load(d->config_path, error_r)) == NULL)
		return NULL;
	for (i = 0; i < d->noverrides; i++) {
		key = xstrdup(d->overrides[i]);
		if ((eq = strchr(key, '=')) == NULL) {
			log_warnx("event=override status=failed arg=%s reason=\"expected key=value\"",
			    log_quote(key, q, sizeof(q)));
			bad++;
		} else {
			*eq = '\0';
			if (config_set(cfg, key, eq + 1, &err) == -1) {
				log_warnx("event=override status=failed arg=%s reason=\"%s\"",
				    log_quote(d->overrides[i], q, sizeof(q)), err);
				bad++;
			}
		}
		free(key);
	}
	if (bad > 0) {
		config_free(&cfg);
		*error_r = "bad -o override";
		return NULL;
	}
	/* The file passed its checks; the overrides may break a rule. */
	if (d->noverrides > 0 && config_check(cfg, error_r) == -1) {
		config_free(&cfg);
		return NULL;
	}
	return cfg;
}

static void
apply_log_level(const struct settings *set)
{
	int	level = log_level_parse(set->lib.log_level);

	if (level == -1)
		log_warnx("event=log_level status=ignored value=%s reason=\"unknown, keeping the "
		    "current level\"", set->lib.log_level);
	else
		log_set_level((enum log_level)level);
}

static void
pool_limits(const struct daemon_spec *spec, const struct settings *set,
    struct session_pool_limits *l)
{
	static const struct session_pool_limits	def = SESSION_POOL_LIMITS_DEFAULT;
	const struct daemon_listener		*dl;
	size_t					 n = 0;

	*l = def;
	l->max_connections = set->lib.max_connections;
	l->max_per_ip = set->lib.max_connections_per_ip;
	for (dl = spec->listeners; dl->kind != NULL && n < SESSION_LISTENERS_MAX; dl++) {
		if (dl->max_connections == 0)
			continue;
		l->listeners[n].kind = dl->kind;
		l->listeners[n++].max_connections = settings_uint(set, dl->max_connections);
	}
	if (spec->stress_timeout != 0) {
		l->stress_percent = set->lib.stress_threshold;
		l->stress_timeout_ms = settings_u64(set, spec->stress_timeout);
	}
}

/*
 * Turns at once in this worker for work that only the CPU speeds up: a
 * setting of 0 shares the CPUs among the workers (at least one each), so
 * the daemon as a whole runs about one per core.  More at once only adds
 * memory: a password check (yescrypt, auth_max_hashes) holds ~16 MB while
 * it runs, a mailbox open at login (store.max_opens) its index's cache
 * pages and its sync's lists.
 */
static unsigned
turns(struct daemon *d, unsigned configured)
{
	unsigned	cpus = daemon_per_cpu(0), workers = conntab_nowners(d->conns);

	return configured != 0 ? configured : (cpus + workers - 1) / workers;
}

/* Settings a running daemon cannot apply: a reload changing one warns. */
static const size_t	restart_fields[] = {
	SETTINGS_FIELD(unsigned, lib.workers),
	SETTINGS_FIELD(const char *, lib.user),
	SETTINGS_FIELD(unsigned, lib.io_threads),
	SETTINGS_FIELD(unsigned, lib.worker_restart_burst),
	SETTINGS_FIELD(unsigned, lib.connection_table_size),
	SETTINGS_FIELD(unsigned, lib.auth_cache_size),
	SETTINGS_FIELD(bool, lib.seccomp),
	SETTINGS_FIELD(unsigned, lib.max_open_files),
};

/*
 * Fields named as data must be filled by a key (the build checked their
 * C type): a bug here aborts at start-up, not on SIGHUP.
 */
static void
spec_verify(const struct daemon_spec *spec)
{
	const struct daemon_listener	*l;
	size_t				 i;
	bool				 ok = true;

	for (l = spec->listeners; l->kind != NULL; l++) {
		(void)daemon_listener_key(l);
		ok &= l->max_connections == 0 || config_key_at(l->max_connections) != NULL;
	}
	ok &= spec->stress_timeout == 0 || config_key_at(spec->stress_timeout) != NULL;
	for (i = 0; i < sizeof(restart_fields) / sizeof(restart_fields[0]); i++)
		ok &= config_key_at(restart_fields[i]) != NULL;
	if (!ok) {
		log_warnx("event=start status=failed daemon=%s reason=\"a setting named in "
		    "its spec has no config key\"", spec->name);
		abort();
	}
}

/* Try the certificate; without one we run, but offer no TLS. */
static void
load_tls(struct daemon *d)
{
	const char	*cert = daemon_settings(d)->lib.tls_cert;
	const char	*key = daemon_settings(d)->lib.tls_key;
	const char	*err;

	if (d->tls != NULL) {
		if (tls_server_reload(d->tls, cert, key, &err) == -1)
			log_warnx("event=tls_reload status=failed reason=\"%s\" "
			    "keeping the loaded certificate", err);
		else
			log_info("event=tls_reload status=ok cert=%s", cert);
		return;
	}
	if ((d->tls = tls_server_new(cert, key, &err)) == NULL)
		log_warnx("event=tls status=unavailable reason=\"%s\" "
		    "STARTTLS not offered, implicit TLS connections closed", err);
	else
		log_info("event=tls status=ok cert=%s", cert);
}

static void
gc_retired(struct daemon *d)
{
	struct daemon_retired	**rp, *r;
	unsigned		  oldest = d->pool != NULL ?
				    session_pool_oldest_generation(d->pool) : ~0u;

	for (rp = &d->retired; (r = *rp) != NULL; ) {
		if (oldest >= r->gen) {
			*rp = r->next;
			config_free(&r->cfg);
			directory_free(&r->dir);
			free(r);
		} else
			rp = &r->next;
	}
	if (d->retired != NULL && d->gc_timer != NULL)
		ev_timer_set(d->gc_timer, GC_MS);
}

static void
gc_cb(void *arg)
{
	gc_retired(arg);
}

/* Say so instead of silently ignoring them. */
static void
warn_restart_keys(const struct daemon *d, const struct config *cfg)
{
	const struct daemon_listener	*l;
	size_t				 i;

	for (i = 0; i < sizeof(restart_fields) / sizeof(restart_fields[0]); i++)
		if (config_changed(cfg, d->cfg, restart_fields[i]))
			log_warnx("event=reload key=%s changed: takes effect after a restart",
			    config_key_at(restart_fields[i])->name);
	for (l = d->spec->listeners; l->kind != NULL; l++)
		if (config_changed(cfg, d->cfg, l->addrs))
			log_warnx("event=reload key=%s changed: takes effect after a restart",
			    daemon_listener_key(l));
}

/* The config and the directory from the files, for a reload; -1 and why on error. */
static int
load_files(struct daemon *d, struct config **cfg_r, struct directory **dir_r,
    const char **error_r)
{
	if ((*cfg_r = load_config(d, error_r)) == NULL)
		return -1;
	*dir_r = directory_load(config_dir(*cfg_r), d->spec->directory_syntax, error_r);
	if (*dir_r == NULL) {
		config_free(cfg_r);
		return -1;
	}
	return 0;
}

/*
 * In the supervisor, on SIGHUP: a worker forked from now on (after a
 * crash) starts with what its siblings reload, not with the files read at
 * start-up.  The workers log the outcome; a broken config keeps the old.
 */
void
daemon_supervisor_reload(struct daemon *d)
{
	struct config		*cfg;
	struct directory	*dir;
	const char		*err;

	if (load_files(d, &cfg, &dir, &err) == -1)
		return;
	config_free(&d->cfg);
	directory_free(&d->dir);
	d->cfg = cfg;
	d->dir = dir;
	apply_log_level(config_settings(cfg));
	load_tls(d);
}

static void
daemon_reload(struct daemon *d)
{
	struct session_pool_limits	 l;
	struct daemon_retired		*r;
	struct config			*cfg;
	struct directory		*dir;
	const char			*err;

	if (load_files(d, &cfg, &dir, &err) == -1) {
		log_warnx("event=reload status=failed reason=\"%s\" keeping the running config", err);
		daemon_status_reloaded(d, false, err);
		goto done;
	}
	warn_restart_keys(d, cfg);
	/* Sessions opened before now may still hold pointers into the old ones. */
	r = xcalloc(1, sizeof(*r));
	r->gen = ++d->gen;
	r->cfg = d->cfg;
	r->dir = d->dir;
	r->next = d->retired;
	d->retired = r;
	d->cfg = cfg;
	d->dir = dir;
	apply_log_level(config_settings(cfg));
	load_tls(d);
	pool_limits(d->spec, config_settings(cfg), &l);
	session_pool_set_limits(d->pool, &l);
	session_pool_set_tls(d->pool, daemon_tls_ctx(d));
	session_pool_set_generation(d->pool, d->gen);
	turnq_set_max(d->authq, turns(d, daemon_settings(d)->lib.auth_max_hashes));
	turnq_set_max(d->openq, turns(d, daemon_settings(d)->store.max_opens));
	passcache_set_ttl(d->passcache, config_settings(cfg)->lib.auth_cache_ttl_ms);
	if (d->spec->reload != NULL)
		d->spec->reload(d);
	log_info("event=reload status=ok config=%s", config_path(cfg));
	daemon_status_reloaded(d, true, NULL);
	gc_retired(d);
done:
	daemon_worker_ready(d);
}

static void
stop_cb(void *arg)
{
	struct daemon	*d = arg;
	size_t		 n = session_pool_count(d->pool);

	if (n == 0) {
		ev_loop_break(d->loop);
		return;
	}
	if (ev_now(d->loop) >= d->stop_deadline) {
		log_warnx("event=stop_timeout sessions=%zu closing them now", n);
		ev_loop_break(d->loop);
		return;
	}
	session_pool_shutdown(d->pool);		/* close those that went idle */
	ev_timer_set(d->stop_timer, STOP_POLL_MS);
}

static void
daemon_stop(struct daemon *d)
{
	size_t	i;

	if (d->stopping)
		return;
	d->stopping = true;
	log_info("event=stopping sessions=%zu", session_pool_count(d->pool));
	if (d->spec->stop != NULL)
		d->spec->stop(d);
	for (i = 0; i < d->nsocks; i++)
		ev_io_del(&d->socks[i].io);
	daemon_listeners_close(d);
	ev_timer_stop(d->accept_timer);
	conntab_set_listening(d->conns, false);
	session_pool_shutdown(d->pool);
	d->stop_deadline = ev_now(d->loop) + daemon_settings(d)->lib.stop_grace_ms;
	ev_timer_set(d->stop_timer, 0);
}

static void
signal_cb(int signo, void *arg)
{
	struct daemon	*d = arg;

	if (signo == SIGHUP) {
		if (!d->stopping)
			daemon_reload(d);
	} else
		daemon_stop(d);
}

static void
accept_watch(struct daemon *d, bool on)
{
	size_t	 i;

	for (i = 0; i < d->nsocks; i++)
		if (d->socks[i].io != NULL)
			ev_io_set(d->socks[i].io, on ? EV_READ : 0);
}

static void
accept_listen(struct daemon *d, bool on)
{
	accept_watch(d, on);
	conntab_set_listening(d->conns, on);	/* off: nothing is left to it */
}

static void
accept_resume_cb(void *arg)
{
	accept_listen(arg, true);
}

/* Microseconds on CLOCK_MONOTONIC (the loop's clock counts milliseconds). */
static uint64_t
clock_us(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/*
 * Leave this connection to another worker?  Every worker watching the
 * listener was woken by it; one that holds at least ACCEPT_SLACK + 1 fewer
 * connections takes it, while this one looks again at its next turns
 * (level-triggered, the listener stays ready until somebody accepts),
 * yielding the CPU at each look: on a box with few cores the other worker
 * may be waiting for this very core.  Waking an idle worker on a virtual
 * machine took 286 us at the median and up to 511 (an idle vCPU is
 * halted), so after ACCEPT_SPIN_US the other is late, not slow to wake: this
 * one then stops watching the listener and looks ACCEPT_LOOKS more times,
 * ACCEPT_LOOK_MS apart, leaving the cores to the rest, then takes the
 * connection (that worker is busy).  Counted in looks, not in time: on a
 * box so loaded that this worker's own turns come late, the other's do too.
 *
 * The wait starts again when another worker's load moves (it took one), so
 * each connection of a burst gets its own; once one was taken here after
 * the whole wait, the next ones are too until the other shows life.  Long
 * sessions arriving in a burst are spread, and short ones, whose counts
 * stay within the slack, are taken at once.
 */
static bool
accept_leave(struct daemon *d)
{
	uint64_t	 now, others;
	bool		 looked_again = d->left_paused;

	d->left_paused = false;
	if (!conntab_fewer_elsewhere(d->conns, ACCEPT_SLACK))
		return false;
	now = clock_us();
	others = conntab_load_elsewhere(d->conns);
	if (others != d->left_others ||
	    (!looked_again && now - d->left_last > ACCEPT_SPIN_US)) {
		/* A new connection, not the same one again: another worker took one. */
		d->left_since = now;
		d->left_others = others;
		d->left_looks = 0;
	}
	d->left_last = now;
	if (now - d->left_since < ACCEPT_SPIN_US) {
		sched_yield();
		return true;
	}
	if (d->left_looks == ACCEPT_LOOKS)
		return false;
	d->left_looks++;
	/*
	 * Still marked listening: marked off, the other would leave nothing to
	 * this one and could take the whole rest of a burst meanwhile.
	 */
	accept_watch(d, false);
	ev_timer_set(d->accept_timer, ACCEPT_LOOK_MS);
	d->left_paused = true;
	return true;
}

/* One connection per wake-up, each one weighed (32 at a time took whole bursts). */
static void
accept_cb(int fd, unsigned events, void *arg)
{
	struct daemon_sock	*ds = arg;
	struct daemon		*d = ds->d;
	int			 cfd;

	(void)events;
	if (accept_leave(d))
		return;
	if ((cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ||
		    errno == ECONNABORTED)
			return;	/* another worker was quicker, or the next turn */
		log_warn("event=accept listener=%s", ds->l->kind);
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			accept_listen(d, false);	/* level-triggered: it would spin */
			ev_timer_set(d->accept_timer, ACCEPT_PAUSE_MS);
		}
		return;
	}
	session_pool_accept(d->pool, cfd, ds->l->kind, ds->l->implicit_tls);
	daemon_status_count(d);
}

static void
worker_cleanup(struct daemon *d)
{
	size_t	i;

	/* Commits in flight finish first: their sessions are still there for `done`. */
	turnq_stop(d->authq);
	turnq_stop(d->openq);
	workq_free(&d->wq);
	session_pool_free(&d->pool);	/* sessions cancel the checks still waiting */
	if (d->spec->fini != NULL)
		d->spec->fini(d);
	turnq_free(&d->authq);
	turnq_free(&d->openq);
	authfail_free(&d->af);
	for (i = 0; i < d->nsocks; i++)
		ev_io_del(&d->socks[i].io);
	ev_timer_free(&d->stop_timer);
	ev_timer_free(&d->accept_timer);
	ev_timer_free(&d->gc_timer);
	daemon_status_worker_fini(d);
	d->pool = NULL;
	gc_retired(d);
	ev_loop_free(&d->loop);
}

/*
 * Opened as root before the drop and the fork: every worker inherits the
 * descriptor, and the file can stay root's (the mail user cannot edit it
 * outside the daemons).  Failure is a warning: tables per process.
 */
static void
open_authfail(struct daemon *d)
{
	const struct settings	*set = daemon_settings(d);
	const char		*dir = set->lib.state_dir, *err;
	char			*path;


	if (dir[0] == '\0')
		return;
	if (mkdir(dir, 0755) == -1 && errno != EEXIST)
		log_warn("event=authfail dir=%s", dir);
	path = xasprintf("%s/%s", dir, AUTHFAIL_FILE);
	d->af_fd = authfail_file_open(path, set->lib.auth_table_size, &err);
	if (d->af_fd == -1)
		log_warnx("event=authfail path=%s shared=no reason=\"%s\": failed logins are"
		    " counted per process", path, err);
	free(path);
}

/*
 * workers = 0: one per online CPU, so a 2-core box is not served by one
 * loop (each worker is one event loop; the workq only takes the disk).
 * Counted at start: a reload cannot change it (restart_fields).
 */
unsigned
daemon_per_cpu(unsigned configured)
{
	long	 n;

	if (configured != 0)
		return configured;
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > 64 ? 64 : (unsigned)n;
}

static struct authfail *
new_authfail(struct daemon *d)
{
	const struct lib_settings	*set = &daemon_settings(d)->lib;
	struct authfail_settings	 af = {
		.max_entries = set->auth_table_size,
		.max_failures = set->auth_max_failures,
		.base_delay_ms = set->auth_fail_delay_ms,
		.block_ms = set->auth_block_time_ms,
		.exempt_loopback = set->auth_exempt_loopback,
	};

	return authfail_new(&af, d->af_fd);
}

static int
daemon_worker(struct daemon *d)
{
	struct session_pool_limits	 l;
	const char			*err;
	size_t				 i;
	int				 rc = 0;

	if ((d->loop = ev_loop_new()) == NULL) {
		log_warnx("event=init status=failed reason=\"cannot create the event loop\"");
		return DAEMON_EXIT_INIT;
	}
	conntab_set_owner(d->conns, d->worker_index);
	d->wq = workq_new(d->loop, daemon_settings(d)->lib.io_threads);
	d->af = new_authfail(d);
	d->authq = turnq_new(turns(d, daemon_settings(d)->lib.auth_max_hashes));
	d->openq = turnq_new(turns(d, daemon_settings(d)->store.max_opens));
	passcache_set_ttl(d->passcache, daemon_settings(d)->lib.auth_cache_ttl_ms);
	d->stop_timer = ev_timer_new(d->loop, stop_cb, d);
	d->accept_timer = ev_timer_new(d->loop, accept_resume_cb, d);
	d->gc_timer = ev_timer_new(d->loop, gc_cb, d);
	if (d->spec->init != NULL && d->spec->init(d, &err) == -1) {
		log_warnx("event=init status=failed reason=\"%s\"", err);
		rc = DAEMON_EXIT_INIT;
		goto out;
	}
	pool_limits(d->spec, daemon_settings(d), &l);
	d->pool = session_pool_new(d->loop, d->spec->ops, d->arg, &l, d->conns);
	session_pool_set_tls(d->pool, daemon_tls_ctx(d));
	session_pool_set_workq(d->pool, d->wq);
	for (i = 0; i < d->nsocks; i++)
		d->socks[i].io = ev_io_add(d->loop, d->socks[i].fd, EV_READ, accept_cb, &d->socks[i]);
	conntab_set_listening(d->conns, true);
	if (ev_signal_add(d->loop, SIGHUP, signal_cb, d) == -1 ||
	    ev_signal_add(d->loop, SIGTERM, signal_cb, d) == -1 ||
	    ev_signal_add(d->loop, SIGINT, signal_cb, d) == -1) {
		log_warn("event=init status=failed stage=signalfd");
		rc = DAEMON_EXIT_INIT;
		goto out;
	}
	/* Logged first: when systemd hears READY=1, the log says who is ready. */
	log_info("event=ready pid=%ld", (long)getpid());
	daemon_worker_ready(d);
	if (ev_loop_run(d->loop) == -1) {
		log_warn("event=loop status=failed");
		rc = 1;
	}
out:
	worker_cleanup(d);
	log_info("event=exit pid=%ld status=%d", (long)getpid(), rc);
	return rc;
}

static int
parse_args(struct daemon *d, int argc, char *argv[])
{
	int	ch;

	optind = 1;
	while ((ch = getopt(argc, argv, "c:fho:")) != -1) {
		switch (ch) {
		case 'c':
			d->config_path = optarg;
			break;
		case 'f':
			break;
		case 'o':
			d->overrides = xreallocarray(d->overrides, d->noverrides + 1,
			    sizeof(*d->overrides));
			d->overrides[d->noverrides++] = optarg;
			break;
		case 'h':
			usage(d->spec);
			return 0;
		default:
			usage(d->spec);
			return 2;
		}
	}
	if (optind != argc) {
		usage(d->spec);
		return 2;
	}
	return -1;
}

static void
daemon_release(struct daemon *d)
{
	daemon_listeners_close(d);
	free(d->socks);
	tls_server_free(&d->tls);
	directory_free(&d->dir);
	config_free(&d->cfg);
	free(d->overrides);
	if (d->af_fd != -1)
		close(d->af_fd);
	conntab_free(&d->conns);
	passcache_free(&d->passcache);
	daemon_status_free(&d->status);
}

/* The whole life of a forked worker: serve, then free what it inherited. */
static int
daemon_worker_process(struct daemon *d)
{
	int	rc = daemon_worker(d);

	daemon_release(d);
	return rc;
}

int
daemon_run(const struct daemon_spec *spec, int argc, char *argv[])
{
	const struct settings	*set;
	struct daemon		 d;
	const char		*err;
	sigset_t		 sigs;
	int			 rc, level;
	unsigned		 workers;

	spec_verify(spec);
	memset(&d, 0, sizeof(d));
	d.spec = spec;
	d.config_path = CONFIG_PATH_DEFAULT;
	d.ready_fd = -1;
	d.af_fd = -1;
	if ((rc = parse_args(&d, argc, argv)) != -1) {
		free(d.overrides);
		return rc;
	}
	/* A peer that vanishes mid-write must cost an error, not the process. */
	signal(SIGPIPE, SIG_IGN);
	/*
	 * Large blocks (a session's snapshot, a sync's lists, big buffers) are
	 * mmap'd and unmapped when freed.  Left dynamic, glibc raises this
	 * threshold to the largest such block freed (up to 32 MB); from then on
	 * they land in the per-thread arenas, which keep their peak: pop3d held
	 * 104 MB after 10 sessions on 10 x 10,000 messages closed, 12 MB with
	 * the threshold fixed (issue 18).
	 */
	mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD);
	/*
	 * Each workq and authq thread got an arena of its own, and each kept
	 * 160-220 KB resident after the sessions closed: 12.9 MB PSS for pop3d
	 * 1 s after 10 sessions, 10.0 MB with two arenas, RETR no slower.
	 */
	mallopt(M_ARENA_MAX, MALLOC_ARENAS);
	/*
	 * Held until the loop's signalfd takes them: a SIGHUP during start-up
	 * must not kill us with the default action.
	 */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	if ((d.cfg = load_config(&d, &err)) == NULL) {
		log_warnx("event=start status=failed stage=config path=%s reason=\"%s\"",
		    d.config_path, err);
		rc = 1;
		goto out;
	}
	set = config_settings(d.cfg);
	level = log_level_parse(set->lib.log_level);
	log_init(spec->name, level == -1 ? LOG_LEVEL_INFO : (enum log_level)level,
	    set->lib.log_target);
	if ((d.dir = directory_load(config_dir(d.cfg), spec->directory_syntax, &err)) == NULL) {
		log_warnx("event=start status=failed stage=directory path=%s reason=\"%s\"",
		    config_dir(d.cfg), err);
		rc = 1;
		goto out;
	}
	if (daemon_listeners_open(&d, &err) == -1) {
		log_warnx("event=start status=failed stage=listen reason=\"%s\"", err);
		rc = 1;
		goto out;
	}
	workers = spec->single_worker ? 1 : daemon_per_cpu(set->lib.workers);
	/* Before the fork: every worker maps the same counts. */
	d.conns = conntab_new(set->lib.connection_table_size, workers);
	d.status = daemon_status_new(&d, workers);
	d.passcache = passcache_new(set->lib.auth_cache_size);
	load_tls(&d);
	open_authfail(&d);
	/* While root may still raise the hard limit. */
	daemon_raise_files(set->lib.max_open_files, set->lib.max_connections);
	/* Before the first byte from the network is read. */
	if (daemon_drop_privileges(set->lib.user, &err) == -1) {
		log_warnx("event=start status=failed stage=privileges reason=\"%s\"", err);
		rc = 1;
		goto out;
	}
	if (daemon_sandbox(set->lib.seccomp, &err) == -1) {
		log_warnx("event=start status=failed stage=sandbox reason=\"%s\"", err);
		rc = 1;
		goto out;
	}
	log_info("event=start config=%s workers=%u uid=%ld", config_path(d.cfg), workers,
	    (long)getuid());
	/* Even one worker is a child: if it dies, the supervisor starts another. */
	rc = daemon_supervise(&d, workers, set->lib.worker_restart_burst,
	    daemon_worker_process);
out:
	daemon_release(&d);
	return rc;
}
