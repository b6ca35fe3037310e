/* lib/daemon_status.c: the status file the supervisor writes for mailctl status. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "lib/config.h"
#include "lib/daemon_private.h"
#include "lib/daemon_status.h"
#include "lib/xmalloc.h"
#include "tests/unit/config_testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const struct daemon_listener listeners[] = {
	{ "mx", SETTINGS_FIELD(const char *, smtpd.mx_listen), false },
	{ "submission", SETTINGS_FIELD(const char *, smtpd.submission_listen), false },
	{ NULL, 0, false },
};

static const struct daemon_spec spec = { .name = "testd", .listeners = listeners };

struct fixture {
	char			*dir;
	char			*path;
	struct daemon		 d;
	struct daemon_sock	 sock;
	int			 port;
};

static void
fixture_init(struct fixture *f)
{
	struct sockaddr_in	 sin = { .sin_family = AF_INET };
	socklen_t		 len = sizeof(sin);
	const char		*err;

	memset(f, 0, sizeof(*f));
	f->dir = tu_mkdtemp();
	f->path = xasprintf("%s/run/testd.status", f->dir);
	f->d.spec = &spec;
	f->d.cfg = config_defaults(f->dir);
	assert_int_equal(config_set(f->d.cfg, "state_dir", f->dir, &err), 0);
	/* One bound socket for mx; submission has none. */
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	f->sock.fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(bind(f->sock.fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(f->sock.fd, (struct sockaddr *)&sin, &len), 0);
	f->port = ntohs(sin.sin_port);
	f->sock.l = &listeners[0];
	f->d.socks = &f->sock;
	f->d.nsocks = 1;
	f->d.status = daemon_status_new(&f->d, 2);
	assert_non_null(f->d.status);
}

static void
fixture_free(struct fixture *f)
{
	daemon_status_free(&f->d.status);
	assert_null(f->d.status);
	config_free(&f->d.cfg);
	close(f->sock.fd);
	unlink(f->path);
	free(f->path);
	tu_rmdir(&f->dir);
}

static char *
slurp(const char *path)
{
	char	 buf[4096];
	FILE	*fp = fopen(path, "r");
	size_t	 n;

	if (fp == NULL)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	return xstrdup(buf);
}

static void
assert_has(const char *text, const char *line)
{
	if (strstr(text, line) == NULL)
		fail_msg("no \"%s\" in:\n%s", line, text);
}

static void
test_published_at_start(void **state)
{
	struct fixture	 f;
	char		*text, want[128];

	(void)state;
	fixture_init(&f);
	assert_null(slurp(f.path));		/* nothing before the first publish */
	daemon_status_publish(&f.d, true);
	text = slurp(f.path);
	assert_non_null(text);
	assert_true(strncmp(text, "daemon=testd\n", 13) == 0);
	snprintf(want, sizeof(want), "\npid=%ld\n", (long)getpid());
	assert_has(text, want);
	assert_has(text, "\nworkers=2\n");
	snprintf(want, sizeof(want), "\nlisten.mx=127.0.0.1:%d\nconnections.mx=0\n", f.port);
	assert_has(text, want);
	assert_has(text, "\nlisten.submission=\nconnections.submission=0\n");
	assert_has(text, "\nreload_time=0\nreload_status=none\nreload_reason=\n");
	free(text);
	fixture_free(&f);
}

static void
test_reload_is_published_once_changed(void **state)
{
	struct fixture	 f;
	char		*text;

	(void)state;
	fixture_init(&f);
	daemon_status_publish(&f.d, true);
	daemon_status_reloaded(&f.d, false, "postroom.conf:3: bad");
	/* At most one write a second: not yet. */
	daemon_status_publish(&f.d, false);
	text = slurp(f.path);
	assert_has(text, "\nreload_status=none\n");
	free(text);
	sleep(1);
	daemon_status_publish(&f.d, false);
	text = slurp(f.path);
	assert_has(text, "\nreload_status=failed\nreload_reason=postroom.conf:3: bad\n");
	assert_null(strstr(text, "\nreload_time=0\n"));
	free(text);
	/* A good one clears the reason. */
	daemon_status_reloaded(&f.d, true, NULL);
	daemon_status_publish(&f.d, true);
	text = slurp(f.path);
	assert_has(text, "\nreload_status=ok\nreload_reason=\n");
	free(text);
	daemon_status_remove(&f.d);
	assert_null(slurp(f.path));
	fixture_free(&f);
}

/* Nothing changed, nothing written: an idle daemon leaves the file alone. */
static void
test_idle_writes_nothing(void **state)
{
	struct fixture	 f;
	char		*text;

	(void)state;
	fixture_init(&f);
	daemon_status_publish(&f.d, true);
	unlink(f.path);
	sleep(1);
	daemon_status_publish(&f.d, false);
	assert_null(slurp(f.path));
	/* A worker's death is a change (its counts go). */
	daemon_status_reclaim(&f.d, 1);
	daemon_status_publish(&f.d, false);
	text = slurp(f.path);
	assert_non_null(text);
	free(text);
	fixture_free(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_published_at_start),
		cmocka_unit_test(test_reload_is_published_once_changed),
		cmocka_unit_test(test_idle_writes_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
