/*
 * The one daemon skeleton: command line, config, listeners, TLS, the
 * privilege drop, then one worker in-process or `workers` supervised
 * children.  A worker is an event loop with a session pool, an I/O
 * thread pool and an authfail table; SIGHUP reloads, SIGTERM drains.
 */
#include "lib/daemon_private.h"

#include "lib/authfail.h"
#include "lib/config.h"
#include "lib/directory.h"
#include "lib/ev.h"
#include "lib/log.h"
#include "lib/session.h"
#include "lib/tls.h"
#include "lib/workq.h"
#include "lib/xmalloc.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_CONFIG		"/etc/postroom/postroom.conf"
#define STOP_GRACE_MS		10000	/* live sessions get this long after SIGTERM */
#define STOP_POLL_MS		100
#define ACCEPT_BATCH		32
#define ACCEPT_PAUSE_MS		1000	/* out of fds: stop accepting this long */
#define GC_MS			5000
#define AUTHFAIL_FILE		"authfail.table"

const struct config *
daemon_config(struct daemon *d)
{
	return d->cfg;
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
usage(const char *name)
{
	fprintf(stderr, "usage: %s [-f] [-c config] [-o key=value]...\n"
	    "  -c path       configuration file (default %s)\n"
	    "  -o key=value  override a configuration key (repeatable)\n"
	    "  -f            stay in the foreground (the only mode)\n"
	    "  -h            this help\n", name, DEFAULT_CONFIG);
}

/* The config file plus the -o overrides; NULL and every error logged. */
static struct config *
load_config(struct daemon *d, const char **error_r)
{
	struct config	*cfg;
	const char	*err;
	char		*key, *eq;
	size_t		 i;
	int		 bad = 0;

	if ((cfg = config_load(d->config_path, error_r)) == NULL)
		return NULL;
	for (i = 0; i < d->noverrides; i++) {
		key = xstrdup(d->overrides[i]);
		if ((eq = strchr(key, '=')) == NULL) {
			log_warnx("-o %s: expected key=value", key);
			bad++;
		} else {
			*eq = '\0';
			if (config_set(cfg, key, eq + 1, &err) == -1) {
				log_warnx("-o %s: %s", d->overrides[i], err);
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
	return cfg;
}

static void
apply_log_level(const struct config *cfg)
{
	int	level = log_level_parse(config_str(cfg, "log_level"));

	if (level == -1)
		log_warnx("log_level %s: unknown, keeping the current level",
		    config_str(cfg, "log_level"));
	else
		log_set_level((enum log_level)level);
}

static void
pool_limits(const struct daemon_spec *spec, const struct config *cfg,
    struct session_pool_limits *l)
{
	static const struct session_pool_limits	def = SESSION_POOL_LIMITS_DEFAULT;
	const struct daemon_listener		*dl;
	size_t					 n = 0;

	*l = def;
	l->max_connections = (unsigned)config_int(cfg, "max_connections");
	l->max_per_ip = (unsigned)config_int(cfg, "max_connections_per_ip");
	for (dl = spec->listeners; dl->config_key != NULL && n < SESSION_LISTENERS_MAX; dl++) {
		if (dl->max_key == NULL)
			continue;
		l->listeners[n].kind = dl->kind;
		l->listeners[n++].max_connections = (unsigned)config_int(cfg, dl->max_key);
	}
	if (spec->stress_timeout_key != NULL) {
		l->stress_percent = (unsigned)config_int(cfg, "stress_threshold");
		l->stress_timeout_ms = (unsigned long long)config_int(cfg, spec->stress_timeout_key);
	}
}

/* Try the certificate; without one we run, but offer no TLS. */
static void
load_tls(struct daemon *d)
{
	const char	*cert = config_str(d->cfg, "tls_cert"), *key = config_str(d->cfg, "tls_key");
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

static bool
key_changed(const struct config *a, const struct config *b, const char *key)
{
	switch (config_key_find(key)->type) {
	case CONFIG_BOOL:
		return config_bool(a, key) != config_bool(b, key);
	case CONFIG_STRING:
	case CONFIG_PATH:
		return strcmp(config_str(a, key), config_str(b, key)) != 0;
	default:
		return config_int(a, key) != config_int(b, key);
	}
}

/* Keys a running daemon cannot apply: say so instead of silently ignoring them. */
static void
warn_restart_keys(const struct daemon *d, const struct config *cfg)
{
	static const char		*keys[] = { "workers", "user", "io_threads",
					    "worker_restart_burst", "seccomp" };
	const struct daemon_listener	*l;
	size_t				 i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (key_changed(cfg, d->cfg, keys[i]))
			log_warnx("event=reload key=%s changed: takes effect after a restart",
			    keys[i]);
	for (l = d->spec->listeners; l->config_key != NULL; l++)
		if (strcmp(config_str(cfg, l->config_key), config_str(d->cfg, l->config_key)) != 0)
			log_warnx("event=reload key=%s changed: takes effect after a restart",
			    l->config_key);
}

static void
daemon_reload(struct daemon *d)
{
	struct session_pool_limits	 l;
	struct daemon_retired		*r;
	struct config			*cfg;
	struct directory		*dir;
	const char			*err;

	if (d->notify)
		daemon_notify("RELOADING=1");
	if ((cfg = load_config(d, &err)) == NULL) {
		log_warnx("event=reload status=failed reason=\"%s\" keeping the running config", err);
		goto done;
	}
	if ((dir = directory_load(config_dir(cfg), &err)) == NULL) {
		log_warnx("event=reload status=failed reason=\"%s\" keeping the running config", err);
		config_free(&cfg);
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
	apply_log_level(cfg);
	load_tls(d);
	pool_limits(d->spec, cfg, &l);
	session_pool_set_limits(d->pool, &l);
	session_pool_set_tls(d->pool, daemon_tls_ctx(d));
	session_pool_set_generation(d->pool, d->gen);
	if (d->spec->reload != NULL)
		d->spec->reload(d);
	log_info("event=reload status=ok config=%s", config_path(cfg));
	gc_retired(d);
done:
	if (d->notify)
		daemon_notify("READY=1");
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
	if (d->notify)
		daemon_notify("STOPPING=1");
	log_info("event=stopping sessions=%zu", session_pool_count(d->pool));
	for (i = 0; i < d->nsocks; i++)
		ev_io_del(&d->socks[i].io);
	daemon_listeners_close(d);
	ev_timer_stop(d->accept_timer);
	session_pool_shutdown(d->pool);
	d->stop_deadline = ev_now(d->loop) + STOP_GRACE_MS;
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
accept_resume_cb(void *arg)
{
	struct daemon	*d = arg;
	size_t		 i;

	for (i = 0; i < d->nsocks; i++)
		if (d->socks[i].io != NULL)
			ev_io_set(d->socks[i].io, EV_READ);
}

static void
accept_cb(int fd, unsigned events, void *arg)
{
	struct daemon_sock	*ds = arg;
	struct daemon		*d = ds->d;
	size_t			 i;
	int			 cfd;

	(void)events;
	for (i = 0; i < ACCEPT_BATCH; i++) {
		if ((cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;	/* another worker was quicker */
			log_warn("event=accept listener=%s", ds->l->kind);
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				/* Level-triggered: without a pause we would spin. */
				for (i = 0; i < d->nsocks; i++)
					if (d->socks[i].io != NULL)
						ev_io_set(d->socks[i].io, 0);
				ev_timer_set(d->accept_timer, ACCEPT_PAUSE_MS);
			}
			return;
		}
		session_pool_accept(d->pool, cfd, ds->l->kind, ds->l->implicit_tls);
	}
}

static void
worker_cleanup(struct daemon *d)
{
	size_t	i;

	/* Commits in flight finish first: their sessions are still there for `done`. */
	workq_free(&d->wq);
	session_pool_free(&d->pool);
	if (d->spec->fini != NULL)
		d->spec->fini(d);
	authfail_free(&d->af);
	for (i = 0; i < d->nsocks; i++)
		ev_io_del(&d->socks[i].io);
	ev_timer_free(&d->stop_timer);
	ev_timer_free(&d->accept_timer);
	ev_timer_free(&d->gc_timer);
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
	const char	*dir = config_str(d->cfg, "state_dir"), *err;
	char		*path;

	if (dir[0] == '\0')
		return;
	if (mkdir(dir, 0755) == -1 && errno != EEXIST)
		log_warn("event=authfail dir=%s", dir);
	path = xasprintf("%s/%s", dir, AUTHFAIL_FILE);
	d->af_fd = authfail_file_open(path, (unsigned)config_int(d->cfg, "auth_table_size"), &err);
	if (d->af_fd == -1)
		log_warnx("event=authfail path=%s shared=no reason=\"%s\": failed logins are"
		    " counted per process", path, err);
	free(path);
}

static struct authfail *
new_authfail(struct daemon *d)
{
	struct authfail_settings set = {
		.max_entries = (unsigned)config_int(d->cfg, "auth_table_size"),
		.max_failures = (unsigned)config_int(d->cfg, "auth_max_failures"),
		.base_delay_ms = (uint64_t)config_int(d->cfg, "auth_fail_delay"),
		.block_ms = (uint64_t)config_int(d->cfg, "auth_block_time"),
		.exempt_loopback = config_bool(d->cfg, "auth_exempt_loopback"),
	};

	return authfail_new(&set, d->af_fd);
}

static int
daemon_worker(struct daemon *d)
{
	struct session_pool_limits	 l;
	const char			*err;
	size_t				 i;
	int				 rc = 0;

	if ((d->loop = ev_loop_new()) == NULL) {
		log_warnx("event loop: cannot create");
		return DAEMON_EXIT_INIT;
	}
	d->wq = workq_new(d->loop, (unsigned)config_int(d->cfg, "io_threads"));
	d->af = new_authfail(d);
	d->stop_timer = ev_timer_new(d->loop, stop_cb, d);
	d->accept_timer = ev_timer_new(d->loop, accept_resume_cb, d);
	d->gc_timer = ev_timer_new(d->loop, gc_cb, d);
	if (d->spec->init != NULL && d->spec->init(d, &err) == -1) {
		log_warnx("event=init status=failed reason=\"%s\"", err);
		rc = DAEMON_EXIT_INIT;
		goto out;
	}
	pool_limits(d->spec, d->cfg, &l);
	d->pool = session_pool_new(d->loop, d->spec->ops, d->arg, &l);
	session_pool_set_tls(d->pool, daemon_tls_ctx(d));
	session_pool_set_workq(d->pool, d->wq);
	for (i = 0; i < d->nsocks; i++)
		d->socks[i].io = ev_io_add(d->loop, d->socks[i].fd, EV_READ, accept_cb, &d->socks[i]);
	if (ev_signal_add(d->loop, SIGHUP, signal_cb, d) == -1 ||
	    ev_signal_add(d->loop, SIGTERM, signal_cb, d) == -1 ||
	    ev_signal_add(d->loop, SIGINT, signal_cb, d) == -1) {
		log_warn("signalfd");
		rc = DAEMON_EXIT_INIT;
		goto out;
	}
	if (d->notify)
		daemon_notify("READY=1");
	log_info("event=ready pid=%ld", (long)getpid());
	if (ev_loop_run(d->loop) == -1) {
		log_warn("event loop");
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
			usage(d->spec->name);
			return 0;
		default:
			usage(d->spec->name);
			return 2;
		}
	}
	if (optind != argc) {
		usage(d->spec->name);
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
	struct daemon	 d;
	const char	*err;
	sigset_t	 sigs;
	int		 rc, level, workers;

	memset(&d, 0, sizeof(d));
	d.spec = spec;
	d.config_path = DEFAULT_CONFIG;
	d.notify = true;
	d.af_fd = -1;
	if ((rc = parse_args(&d, argc, argv)) != -1) {
		free(d.overrides);
		return rc;
	}
	/* A peer that vanishes mid-write must cost an error, not the process. */
	signal(SIGPIPE, SIG_IGN);
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
		log_warnx("%s: %s", d.config_path, err);
		rc = 1;
		goto out;
	}
	level = log_level_parse(config_str(d.cfg, "log_level"));
	log_init(spec->name, level == -1 ? LOG_LEVEL_INFO : (enum log_level)level,
	    config_str(d.cfg, "log_target"));
	if ((d.dir = directory_load(config_dir(d.cfg), &err)) == NULL) {
		log_warnx("directory %s: %s", config_dir(d.cfg), err);
		rc = 1;
		goto out;
	}
	if (daemon_listeners_open(&d, &err) == -1) {
		log_warnx("listen: %s", err);
		rc = 1;
		goto out;
	}
	load_tls(&d);
	open_authfail(&d);
	/* Before the first byte from the network is read. */
	if (daemon_drop_privileges(config_str(d.cfg, "user"), &err) == -1) {
		log_warnx("privileges: %s", err);
		rc = 1;
		goto out;
	}
	if (daemon_sandbox(config_bool(d.cfg, "seccomp"), &err) == -1) {
		log_warnx("sandbox: %s", err);
		rc = 1;
		goto out;
	}
	workers = (int)config_int(d.cfg, "workers");
	log_info("event=start config=%s workers=%d uid=%ld", config_path(d.cfg), workers,
	    (long)getuid());
	/* Even one worker is a child: if it dies, the supervisor starts another. */
	rc = daemon_supervise(&d, (unsigned)workers,
	    (unsigned)config_int(d.cfg, "worker_restart_burst"), daemon_worker_process);
out:
	daemon_release(&d);
	return rc;
}
