/*
 * The SMTP session (command table, dispatcher, DATA/BDAT byte machine,
 * AUTH, policy) under random bytes in random read sizes, on the host
 * double (tests/unit/host_double.h).  The deliver callback answers as a
 * queued job, as the workq does, so whole transactions run in the
 * production order.  Input byte 0 picks the peer (loopback, TLS active,
 * submission listener, bare_lf reject); the rest is sent through
 * FUZZ_CHUNK.  Checks: the output buffer's bound holds, output always ends
 * at a line end, the session never claims bytes it was not given (the
 * double aborts), a timeout always closes.
 */
#include "tests/fuzz/fuzzer.h"
#include "lib/turnq.h"
#include "lib/buf.h"
#include "lib/directory.h"
#include "lib/log.h"
#include "lib/session.h"
#include "lib/xmalloc.h"
#include "mail/address.h"
#include "smtpd/smtp_session.h"
#include "tests/unit/host_double.h"

#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CHECK(x)	do { if (!(x)) abort(); } while (0)

static struct smtp_env	 env;

static uint64_t
fuzz_now(void)
{
	return 1795000000000ULL;
}

/* The writer: m->stream counts the bytes written; a prepared one becomes it. */
static void *
fuzz_prepare(void *ctx, const struct smtp_local_rcpt *first, const char **error_r)
{
	return xcalloc(1, sizeof(uint64_t));
}

static void
fuzz_unprepare(void *prepared)
{
	free(prepared);
}

static int
fuzz_open(void *ctx, struct smtp_msg *m, const char **error_r)
{
	m->stream = m->prepared != NULL ? m->prepared : xcalloc(1, sizeof(uint64_t));
	m->prepared = NULL;
	return 0;
}

static int
fuzz_write(struct smtp_msg *m, const void *data, size_t len)
{
	*(uint64_t *)m->stream += len;
	return 0;
}

static void
fuzz_discard(struct smtp_msg *m)
{
	free(m->stream);
	m->stream = NULL;
}

/* An odd byte count fails the commit. */
static int
fuzz_commit(void *ctx, struct smtp_msg *m, char *error, size_t errsize)
{
	fuzz_discard(m);
	snprintf(error, errsize, "fuzz");
	return (m->size & 1) ? -1 : 0;
}

static const struct smtp_writer fuzz_writer = {
	fuzz_prepare, fuzz_unprepare, fuzz_open, fuzz_write, fuzz_discard, fuzz_commit
};

static struct host_double	*double_host;

static void
write_file(const char *dir, const char *name, const char *text)
{
	char	*path = xasprintf("%s/%s", dir, name);
	FILE	*f;

	CHECK((f = fopen(path, "w")) != NULL);
	fputs(text, f);
	CHECK(fclose(f) == 0);
	free(path);
}

static void
init(void)
{
	static char	 root[] = "/tmp/fuzz_smtp.XXXXXX";
	const char	*error;
	char		*text;

	log_set_level(LOG_LEVEL_ERROR);
	CHECK(mkdtemp(root) != NULL);
	/* A cheap hash: the fuzzer should log in often. */
	text = xasprintf("alice@example.test:{CRYPT}%s::::::\n",
	    crypt("alice-pw", "$6$rounds=1000$fuzzsalt$"));
	write_file(root, "passwd", text);
	free(text);
	write_file(root, "domains", "example.test catchall=alice\n");
	write_file(root, "groups", "team@example.test: alice@example.test\n");
	CHECK((env.dir = directory_load(root, &address_user_syntax, &error)) != NULL);
	env.hostname = "mx.example.test";
	env.mail_root = "/nonexistent";
	env.max_message_size = 4096;
	env.max_line_length = 512;
	env.max_recipients = 5;
	env.max_expansion = 2;
	env.max_commands_before_mail = 50;
	env.max_errors = 20;
	env.idle_timeout = 1000;
	env.data_timeout = 1000;
	env.tls_available = true;
	env.max_header_size = 1024;
	env.min_data_rate = 500;
	env.writer = &fuzz_writer;
	env.authq = turnq_new(1);
	env.now_ms = fuzz_now;
}

FUZZ_BEGIN(data, size)
{
	static struct session_peer	 peer = { .id = "00000000fuzzfuzz", .addr = "127.0.0.1" };
	static bool			 ready;
	struct buf			*out;
	void				*s;

	if (!ready) {
		init();
		ready = true;
	}
	if (size < 1)
		return 0;
	peer.loopback = data[0] & 1;
	peer.tls = (data[0] & 2) != 0;
	peer.listener = (data[0] & 4) ? "submission" : "mx";
	env.bare_lf_reject = (data[0] & 8) != 0;
	double_host = host_double_new(64 * 1024);
	out = host_double_output(double_host);
	s = host_double_open(double_host, &smtp_session_ops, &peer, &env);
	FUZZ_CHUNK(data + 1, size - 1, data[0] >> 4, chunk, chunk_len) {
		host_double_input(double_host, chunk, chunk_len);
		host_double_tls(double_host);	/* if STARTTLS was asked for */
		host_double_run(double_host);
		CHECK(buf_len(out) <= out->max);
		CHECK(buf_len(out) == 0 || buf_head(out)[buf_len(out) - 1] == '\n');
		host_double_read(double_host, NULL);
	}
	smtp_session_ops.timeout(s);
	CHECK(smtp_session_ops.want(s) == SESSION_CLOSE);
	host_double_free(&double_host);
}
FUZZ_END
