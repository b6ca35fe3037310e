/*
 * lib/daemon: the privilege drop (as root, in a child), the listener
 * parser, and daemon_run end to end in a child process with a tiny echo
 * protocol: plain and implicit-TLS listeners, the drop, SIGHUP reload
 * (good and broken config), sd_notify messages, SIGTERM, and a
 * supervised worker that is killed and restarted.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "lib/buf.h"
#include "lib/daemon.h"
#include "lib/daemon_private.h"
#include "lib/session.h"
#include "mail/address.h"
#include "tests/unit/net_testcert.h"

#include <openssl/ssl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- privileges ---- */

static int
child_drop(void)
{
	const char	*err = NULL;
	struct passwd	*pw = getpwnam("nobody");
	char		 line[256], want[128];
	FILE		*f;
	int		 found = 0;

	if (pw == NULL)
		return 10;
	if (daemon_drop_privileges("nobody", &err) == -1) {
		fprintf(stderr, "drop: %s\n", err);
		return 11;
	}
	snprintf(want, sizeof(want), "Uid:\t%u\t%u\t%u\t%u\n", (unsigned)pw->pw_uid,
	    (unsigned)pw->pw_uid, (unsigned)pw->pw_uid, (unsigned)pw->pw_uid);
	if ((f = fopen("/proc/self/status", "r")) == NULL)
		return 12;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strcmp(line, want) == 0)
			found = 1;
	fclose(f);
	if (!found)
		return 13;
	if (setuid(0) != -1 || seteuid(0) != -1)
		return 14;
	if (getgroups(0, NULL) != 1)
		return 15;
	/* Not root any more: a second call is a no-op that succeeds. */
	if (daemon_drop_privileges("root", &err) != 0)
		return 16;
	return 0;
}

static void
test_drop_privileges(void **state)
{
	pid_t	pid;
	int	status;

	(void)state;
	if (geteuid() != 0) {
		skip();
		return;
	}
	pid = fork();
	assert_true(pid != -1);
	if (pid == 0)
		_exit(child_drop());
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void
test_drop_privileges_errors(void **state)
{
	const char	*err = NULL;
	pid_t		 pid;
	int		 status;

	(void)state;
	if (geteuid() != 0) {
		assert_int_equal(daemon_drop_privileges("no-such-user-zz", &err), 0);
		return;
	}
	pid = fork();
	if (pid == 0) {
		if (daemon_drop_privileges("no-such-user-zz", &err) != -1 ||
		    strstr(err, "no-such-user-zz") == NULL)
			_exit(1);
		if (daemon_drop_privileges("root", &err) != -1 || strstr(err, "root") == NULL)
			_exit(2);
		_exit(geteuid() == 0 ? 0 : 3);	/* still root: nothing half-done */
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---- the sandbox (NO_NEW_PRIVS + seccomp deny-list) ---- */

/* "NoNewPrivs:\t1" style lines of /proc/self/status; -1 if absent. */
static int
status_field(const char *key)
{
	char	 line[256];
	FILE	*f = fopen("/proc/self/status", "r");
	int	 v = -1;
	size_t	 n = strlen(key);

	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, key, n) == 0 && line[n] == ':')
			v = atoi(line + n + 1);
	if (f != NULL)
		fclose(f);
	return v;
}

static int
child_sandbox(void)
{
	char *const	 argv[] = { "/bin/true", NULL }, *const envp[] = { NULL };
	const char	*err = NULL;
	int		 fd;

	if (daemon_sandbox(true, &err) == -1) {
		fprintf(stderr, "sandbox: %s\n", err);
		return 10;
	}
	if (status_field("NoNewPrivs") != 1 || status_field("Seccomp") != 2)
		return 11;
	errno = 0;
	if (execve("/bin/true", argv, envp) != -1 || errno != EPERM)
		return 12;	/* (a successful execve would exit 0 here: true) */
	errno = 0;
	if (syscall(SYS_keyctl, 0, 0, 0, 0, 0) != -1 || errno != EPERM)
		return 13;
	errno = 0;
	if (syscall(SYS_mount, "none", "/tmp", "tmpfs", 0, NULL) != -1 || errno != EPERM)
		return 14;
#if !defined(__SANITIZE_ADDRESS__)
	errno = 0;
	if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) != -1 || errno != EPERM)
		return 15;
#endif
	/* Ordinary calls still work: a daemon's life goes on. */
	if (getpid() <= 0 || (fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) == -1 || close(fd) != 0)
		return 16;
	return 0;
}

static void
test_sandbox(void **state)
{
	pid_t	pid;
	int	status;

	(void)state;
	pid = fork();
	assert_true(pid != -1);
	if (pid == 0)
		_exit(child_sandbox());
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---- listener syntax ---- */

static void
test_listen_parse(void **state)
{
	static const char	*bad[] = {
		"127.0.0.1", "::1:25", "[::1]25", "[::1]:", "127.0.0.1:99999", "127.0.0.1:-1",
		"example.com:25", "127.0.0.1:25x", "[]:25", "1.2.3.4:",
	};
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t		 len;
	const char		*err;
	char			 longpath[200];
	size_t			 i;

	(void)state;
	assert_int_equal(daemon_listen_parse("127.0.0.1:25", &ss, &len, &err), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(ntohs(sin->sin_port), 25);
	assert_int_equal(ntohl(sin->sin_addr.s_addr), 0x7f000001);
	assert_int_equal(daemon_listen_parse("[::1]:587", &ss, &len, &err), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(ntohs(sin6->sin6_port), 587);
	assert_true(IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr));
	assert_int_equal(daemon_listen_parse("*:110", &ss, &len, &err), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(sin->sin_addr.s_addr, htonl(INADDR_ANY));
	assert_int_equal(daemon_listen_parse("[::]:0", &ss, &len, &err), 0);
	assert_int_equal(daemon_listen_parse("/run/postroom/relayd.sock", &ss, &len, &err), 0);
	assert_int_equal(ss.ss_family, AF_UNIX);
	assert_string_equal(((struct sockaddr_un *)&ss)->sun_path, "/run/postroom/relayd.sock");
	memset(longpath, 'x', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	assert_int_equal(daemon_listen_parse(longpath, &ss, &len, &err), -1);
	assert_non_null(strstr(err, "too long"));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err = NULL;
		assert_int_equal(daemon_listen_parse(bad[i], &ss, &len, &err), -1);
		assert_non_null(strstr(err, bad[i]));
	}
}

/* ---- daemon_run end to end ---- */

struct ctx {
	unsigned	reloads;
	unsigned	inits;
	unsigned	max_errors;	/* a setting, as the last (re)load left it */
};

static struct ctx	e_ctx;

static void *
e_open(const struct session_peer *peer, struct buf *out, struct session_host *host, void *arg)
{
	const struct ctx	*c = arg;

	(void)host;
	buf_printf(out, "hello %s pid=%ld uid=%ld reloads=%u max_errors=%u\r\n",
	    peer->tls ? "tls" : "plain", (long)getpid(), (long)geteuid(), c->reloads,
	    c->max_errors);
	return calloc(1, sizeof(int));
}

static size_t
e_input(void *s, const char *data, size_t len)
{
	(void)s;
	(void)data;
	return len;
}

static enum session_want
e_want(void *s)
{
	(void)s;
	return SESSION_READ;
}

static void
e_timeout(void *s)
{
	(void)s;
}

static void
e_free(void *s)
{
	free(s);
}

static const struct session_ops e_ops = {
	.open = e_open, .input = e_input, .timeout = e_timeout, .want = e_want, .free = e_free,
	.busy_reply = "busy\r\n",
};

static int
e_init(struct daemon *d, const char **error_r)
{
	(void)error_r;
	e_ctx.inits++;
	e_ctx.max_errors = daemon_settings(d)->pop3d.max_errors;
	daemon_set_arg(d, &e_ctx);
	return 0;
}

static void
e_reload(struct daemon *d)
{
	e_ctx.reloads++;
	e_ctx.max_errors = daemon_settings(d)->pop3d.max_errors;
}

static const struct daemon_listener e_listeners[] = {
	{ "plain", SETTINGS_FIELD(const char *, pop3d.listen), false },
	{ "tls", SETTINGS_FIELD(const char *, pop3d.tls_listen), true },
	{ NULL, 0, false },
};

static const struct daemon_spec e_spec = {
	.name = "testd", .listeners = e_listeners, .ops = &e_ops,
	.init = e_init, .reload = e_reload, .directory_syntax = &address_user_syntax,
};

struct run {
	struct testcert	 cert;
	char		 conf[160];
	char		 notify[160];
	char		 errlog[160];
	int		 port, tls_port;
	int		 sd_port;	/* socket activation: systemd's socket */
	const char	*sd_name;	/* LISTEN_FDNAMES, NULL: not activated */
	int		 nfd;		/* our end of NOTIFY_SOCKET */
	pid_t		 pid;
};

static int
free_port(void)
{
	struct sockaddr_in	sin;
	socklen_t		len = sizeof(sin);
	int			fd = socket(AF_INET, SOCK_STREAM, 0), port;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

static void
write_conf(struct run *r, const char *extra)
{
	FILE	*f = fopen(r->conf, "w");

	assert_non_null(f);
	fprintf(f, "pop3d.listen = 127.0.0.1:%d\npop3d.tls_listen = 127.0.0.1:%d\n"
	    "tls_cert = cert.pem\ntls_key = key.pem\nuser = nobody\nio_threads = 1\n"
	    "state_dir = .\n%s",
	    r->port, r->tls_port, extra);
	fclose(f);
	chmod(r->conf, 0644);
}

/* In the child: what systemd does before exec'ing a socket-activated service. */
static void
fake_systemd(struct run *r)
{
	struct sockaddr_in	sin;
	char			pid[32];
	int			fd, on = 1;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)r->sd_port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 || listen(fd, 16) == -1)
		_exit(99);
	if (fd != 3) {
		dup2(fd, 3);
		close(fd);
	}
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	setenv("LISTEN_PID", pid, 1);
	setenv("LISTEN_FDS", "1", 1);
	setenv("LISTEN_FDNAMES", r->sd_name, 1);
}

static void
run_start_sd(struct run *r, const char *extra, const char *sd_name);

/* A failed assertion jumps out of the test: never leave its daemon running. */
static pid_t	live_daemon;

static int
kill_live_daemon(void **state)
{
	(void)state;
	if (live_daemon > 0) {
		kill(-live_daemon, SIGKILL);	/* its workers too */
		kill(live_daemon, SIGKILL);
		waitpid(live_daemon, NULL, 0);
		live_daemon = 0;
	}
	return 0;
}

static void
run_start(struct run *r, const char *extra)
{
	run_start_sd(r, extra, NULL);
}

static void
run_start_sd(struct run *r, const char *extra, const char *sd_name)
{
	struct sockaddr_un	sun;
	char			*argv[] = { "testd", "-c", r->conf, "-o", "log_level=debug", NULL };
	int			fd;

	memset(r, 0, sizeof(*r));
	r->sd_name = sd_name;
	assert_int_equal(testcert_make(&r->cert), 0);
	chmod(r->cert.dir, 0755);	/* the dropped daemon reads the config on reload */
	snprintf(r->conf, sizeof(r->conf), "%s/postroom.conf", r->cert.dir);
	snprintf(r->notify, sizeof(r->notify), "%s/notify", r->cert.dir);
	snprintf(r->errlog, sizeof(r->errlog), "%s/stderr", r->cert.dir);
	r->port = free_port();
	do
		r->tls_port = free_port();
	while (r->tls_port == r->port);
	do
		r->sd_port = free_port();
	while (r->sd_port == r->port || r->sd_port == r->tls_port);
	write_conf(r, extra);
	r->nfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	assert_true(strlen(r->notify) < sizeof(sun.sun_path));
	memcpy(sun.sun_path, r->notify, strlen(r->notify) + 1);
	assert_int_equal(bind(r->nfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	chmod(r->notify, 0777);
	r->pid = fork();
	assert_true(r->pid != -1);
	if (r->pid == 0) {
		setpgid(0, 0);
		fd = open(r->errlog, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(fd, 2);
		close(fd);
		if (r->sd_name != NULL)
			fake_systemd(r);
		setenv("NOTIFY_SOCKET", r->notify, 1);
		_exit(daemon_run(&e_spec, 5, argv));
	}
	live_daemon = r->pid;
}

/* The next sd_notify datagram, or "" after ms. */
static const char *
notify_next(struct run *r, int ms)
{
	static char	buf[256];
	struct pollfd	pfd = { r->nfd, POLLIN, 0 };
	ssize_t		n;

	buf[0] = '\0';
	if (poll(&pfd, 1, ms) == 1 && (n = recv(r->nfd, buf, sizeof(buf) - 1, 0)) > 0)
		buf[n] = '\0';
	return buf;
}

/* Connect, read the greeting line. */
static void
greet(struct run *r, char *out, size_t size)
{
	struct sockaddr_in	sin;
	struct timeval		tv = { 5, 0 };
	size_t			n = 0;
	int			fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)r->port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (n + 1 < size && read(fd, out + n, 1) == 1)
		if (out[n++] == '\n')
			break;
	out[n] = '\0';
	close(fd);
}

/* How often what occurs in the daemon's stderr so far. */
static unsigned
log_count(struct run *r, const char *what)
{
	static char	 buf[256 * 1024];
	FILE		*f = fopen(r->errlog, "r");
	const char	*p;
	size_t		 n;
	unsigned	 count = 0;

	if (f == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	for (p = buf; (p = strstr(p, what)) != NULL; p++)
		count++;
	return count;
}

/* A connection to port, left open; -1 on failure. */
static int
dial(int port)
{
	struct sockaddr_in	sin;
	struct timeval		tv = { 5, 0 };
	int			fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
		close(fd);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* Implicit TLS: handshake, then the greeting. */
static void
greet_tls(struct run *r, char *out, size_t size)
{
	SSL_CTX	*ctx = SSL_CTX_new(TLS_client_method());
	SSL	*ssl = SSL_new(ctx);
	size_t	 n = 0;
	int	 fd = dial(r->tls_port);

	assert_true(fd != -1);
	SSL_set_fd(ssl, fd);
	out[0] = '\0';
	if (SSL_connect(ssl) == 1) {
		while (n + 1 < size && SSL_read(ssl, out + n, 1) == 1)
			if (out[n++] == '\n')
				break;
		out[n] = '\0';
	}
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
}

static bool
log_has(struct run *r, const char *what)
{
	return log_count(r, what) > 0;
}

static int
run_stop(struct run *r)
{
	int	status, i;

	kill(r->pid, SIGTERM);
	for (i = 0; i < 150; i++) {
		if (waitpid(r->pid, &status, WNOHANG) == r->pid)
			break;
		usleep(100 * 1000);
	}
	live_daemon = 0;
	if (i == 150) {
		kill(r->pid, SIGKILL);
		waitpid(r->pid, &status, 0);
		return -1;
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void
run_cleanup(struct run *r)
{
	close(r->nfd);
	if (getenv("TEST_DAEMON_SHOW_LOG") != NULL) {
		char	 buf[4096];
		FILE	*f = fopen(r->errlog, "r");
		size_t	 n;

		while (f != NULL && (n = fread(buf, 1, sizeof(buf), f)) > 0)
			fwrite(buf, 1, n, stderr);
		if (f != NULL)
			fclose(f);
	}
	unlink(r->notify);
	unlink(r->conf);
	unlink(r->errlog);
	snprintf(r->conf, sizeof(r->conf), "%s/authfail.table", r->cert.dir);
	unlink(r->conf);
	testcert_remove(&r->cert);
}

/*
 * READY=1 after RELOADING=1 comes once every worker finished its reload:
 * by then the log already shows n reloads, no waiting.
 */
static void
wait_reloads(struct run *r, unsigned n)
{
	assert_int_equal(log_count(r, "event=reload status="), n);
}

static void
test_daemon_run_single(void **state)
{
	struct run	 r;
	char		 line[256], want[64];
	int		 idle;

	(void)state;
	run_start(&r, "workers = 1\n");
	assert_string_equal(notify_next(&r, 5000), "READY=1");
	greet(&r, line, sizeof(line));
	assert_non_null(strstr(line, "hello plain"));
	assert_non_null(strstr(line, "reloads=0"));
	if (geteuid() == 0) {
		/* Serving, it holds no root privileges. */
		snprintf(want, sizeof(want), "uid=%ld ", (long)getpwnam("nobody")->pw_uid);
		assert_non_null(strstr(line, want));
	}
	/* A good reload (one change that needs a restart is named in the log). */
	assert_non_null(strstr(line, "max_errors=20"));
	write_conf(&r, "workers = 2\npop3d.max_errors = 7\n");
	kill(r.pid, SIGHUP);
	assert_string_equal(notify_next(&r, 5000), "RELOADING=1");
	assert_string_equal(notify_next(&r, 5000), "READY=1");
	wait_reloads(&r, 1);
	greet(&r, line, sizeof(line));
	assert_non_null(strstr(line, "reloads=1 max_errors=7"));
	/* A broken config: the old one keeps running, and the log says why. */
	write_conf(&r, "workers = many\n");
	kill(r.pid, SIGHUP);
	assert_string_equal(notify_next(&r, 5000), "RELOADING=1");
	assert_string_equal(notify_next(&r, 5000), "READY=1");
	wait_reloads(&r, 2);
	greet(&r, line, sizeof(line));
	assert_non_null(strstr(line, "reloads=1"));
	assert_true(log_has(&r, "event=reload status=failed"));
	/* A rule across keys fails the same way: the old settings stay. */
	write_conf(&r, "workers = 2\npop3d.max_errors = 9\npop3d.preauth_timeout = 20m\n");
	kill(r.pid, SIGHUP);
	assert_string_equal(notify_next(&r, 5000), "RELOADING=1");
	assert_string_equal(notify_next(&r, 5000), "READY=1");
	wait_reloads(&r, 3);
	greet(&r, line, sizeof(line));
	assert_non_null(strstr(line, "reloads=1 max_errors=7"));
	assert_true(log_has(&r, "postroom.conf:10: pop3d.preauth_timeout: 20m: longer than"
	    " pop3d.idle_timeout"));
	assert_true(log_has(&r, "key=workers changed: takes effect after a restart"));
	assert_false(log_has(&r, "key=user changed"));
	greet_tls(&r, line, sizeof(line));
	assert_non_null(strstr(line, "hello tls"));
	/* SIGTERM: an idle session is closed, the daemon exits 0. */
	idle = dial(r.port);
	assert_true(idle != -1);
	assert_true(read(idle, line, sizeof(line)) > 0);
	assert_int_equal(run_stop(&r), 0);
	assert_int_equal(read(idle, line, sizeof(line)), 0);
	close(idle);
	assert_string_equal(notify_next(&r, 1000), "STOPPING=1");
	assert_true(log_has(&r, "event=listen listener=tls"));
	assert_true(log_has(&r, "event=tls status=ok"));
	run_cleanup(&r);
}

static void
test_daemon_run_workers(void **state)
{
	struct run	 r;
	char		 line[256];
	const char	*p;
	long		 pid;
	int		 i;

	(void)state;
	run_start(&r, "workers = 2\n");
	assert_string_equal(notify_next(&r, 5000), "READY=1");
	greet(&r, line, sizeof(line));
	assert_non_null(p = strstr(line, "pid="));
	pid = strtol(p + 4, NULL, 10);
	assert_true(pid != (long)r.pid);	/* served by a worker, not the supervisor */
	/* A worker dies: the supervisor starts another (after its back-off). */
	kill((pid_t)pid, SIGKILL);
	for (i = 0; i < 100 && log_count(&r, "event=worker_start") < 3; i++)
		usleep(50 * 1000);
	assert_int_equal(log_count(&r, "event=worker_start"), 3);
	assert_true(log_has(&r, "signal=9"));
	for (i = 0; i < 10; i++) {
		greet(&r, line, sizeof(line));
		assert_non_null(strstr(line, "hello plain"));
	}
	kill(r.pid, SIGHUP);
	assert_string_equal(notify_next(&r, 5000), "RELOADING=1");
	assert_string_equal(notify_next(&r, 5000), "READY=1");
	assert_int_equal(run_stop(&r), 0);
	assert_true(log_has(&r, "event=stopped"));
	run_cleanup(&r);
}

static void
test_daemon_socket_activation(void **state)
{
	struct run	 r;
	char		 line[256];
	int		 status, fd;

	(void)state;
	run_start_sd(&r, "workers = 1\n", "plain");
	assert_string_equal(notify_next(&r, 5000), "READY=1");
	/* The config's listeners are not bound: systemd's socket is used instead. */
	assert_int_equal(fd = dial(r.port), -1);
	r.port = r.sd_port;
	greet(&r, line, sizeof(line));
	assert_non_null(strstr(line, "hello plain"));
	assert_int_equal(run_stop(&r), 0);
	assert_true(log_has(&r, "event=listen listener=plain"));
	assert_true(log_has(&r, "from=systemd"));
	run_cleanup(&r);

	/* A socket whose name matches no listener kind is a start-up error. */
	run_start_sd(&r, "workers = 1\n", "imap");
	assert_int_equal(waitpid(r.pid, &status, 0), r.pid);
	live_daemon = 0;
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 1);
	assert_true(log_has(&r, "matches no listener kind"));
	run_cleanup(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_drop_privileges),
		cmocka_unit_test(test_drop_privileges_errors),
		cmocka_unit_test(test_sandbox),
		cmocka_unit_test(test_listen_parse),
		cmocka_unit_test_teardown(test_daemon_run_single, kill_live_daemon),
		cmocka_unit_test_teardown(test_daemon_run_workers, kill_live_daemon),
		cmocka_unit_test_teardown(test_daemon_socket_activation, kill_live_daemon),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
