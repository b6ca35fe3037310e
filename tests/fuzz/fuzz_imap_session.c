/*
 * The IMAP session (input loop, parser, dispatcher, SASL, SELECT, NOOP
 * updates, streamed FETCH) under random bytes in random read sizes,
 * against a real store in a temp dir, on the host double
 * (tests/unit/host_double.h): logins and mailbox jobs run as queued jobs,
 * FETCH as a continuation, as in production.  Input byte 0 picks the peer
 * (loopback, TLS active, certificate present) and whether the client reads
 * after each piece; the rest is sent through FUZZ_CHUNK.  Checks: the
 * output buffer's bound holds, output always ends at a line end, a
 * streamed reply always finishes once the client reads.
 */
#include "tests/fuzz/fuzzer.h"
#include "imapd/imap_private.h"
#include "imapd/imap_session.h"
#include "lib/turnq.h"
#include "lib/buf.h"
#include "lib/conntab.h"
#include "lib/directory.h"
#include "lib/log.h"
#include "lib/xmalloc.h"
#include "mail/address.h"
#include "store/store.h"
#include "tests/unit/host_double.h"

#include <crypt.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CHECK(x)	do { if (!(x)) abort(); } while (0)

static struct imap_env	 env;
static char		*maildir;
static char		 root[] = "/tmp/fuzz_imap_session.XXXXXX";

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void
cleanup(void)
{
	store_close(&env.store);
	nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

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
deliver(const char *text)
{
	struct store_rcpt	 rcpt = { maildir, 0, 0 };
	struct store_delivery	*d;
	const char		*error;

	d = store_delivery_begin(env.store, &rcpt, 1, &error);
	CHECK(d != NULL);
	CHECK(store_delivery_write(d, text, strlen(text)) == 0);
	CHECK(store_delivery_commit(d, &error) == 0);
	store_delivery_free(&d);
}

static void
init(void)
{
	struct store_options	 opts = { 0 };
	const char		*error;
	char			*conf, *text;

	log_set_level(LOG_LEVEL_ERROR);
	CHECK(mkdtemp(root) != NULL);
	atexit(cleanup);
	conf = xasprintf("%s/conf", root);
	CHECK(mkdir(conf, 0700) == 0);
	/* A cheap hash: the fuzzer should log in often. */
	text = xasprintf("alice@example.test:{CRYPT}%s::::::\n",
	    crypt("alice-pw", "$6$rounds=1000$fuzzsalt$"));
	write_file(conf, "passwd", text);
	free(text);
	write_file(conf, "domains", "example.test\n");
	CHECK((env.directory = directory_load(conf, &address_user_syntax, &error)) != NULL);
	free(conf);
	env.mail_root = xasprintf("%s/mail", root);
	CHECK((env.store = store_open(env.mail_root, &opts, &error)) != NULL);
	env.limits = (struct imap_limits){
		.parser = { .max_command_size = 4096, .max_literal_size = 64 * 1024,
		    .max_nesting = 8, .max_arguments = 200 },
		.max_errors = 20, .max_commands_before_auth = 30,
		.max_connections_per_user = 10, .idle_timeout_ms = 1800000,
		.preauth_timeout_ms = 60000, .plaintext_auth_loopback = true,
	};
	env.conntab = conntab_new(64, 1);
	env.authq = turnq_new(1);
	maildir = directory_maildir(env.mail_root,
	    directory_user(env.directory, "alice@example.test"));
	CHECK(store_create_user(env.store, maildir, &error) == 0);
	deliver("Subject: a\nFrom: x@example.test\n\nbody\n");
	deliver("Subject: \"b\"\nTo: =?utf-8?b?5Lit?= <y@example.test>\n\nno final newline");
	deliver("Subject: c\nContent-Type: multipart/mixed; boundary=z\n\n--z\n\nx\n--z--\n");
}

/* The client reads what was said; output is bounded and ends at a line end. */
static void
client_read(struct host_double *d)
{
	struct buf	*out = host_double_output(d);

	CHECK(buf_len(out) <= out->max);
	CHECK(buf_len(out) == 0 || buf_head(out)[buf_len(out) - 1] == '\n');
	host_double_read(d, NULL);
}

FUZZ_BEGIN(data, size)
{
	static struct session_peer	 peer = { .id = "00000000fuzzfuzz", .addr = "127.0.0.1" };
	static bool			 ready;
	struct host_double		*d;
	bool				 reads;

	if (!ready) {
		init();
		ready = true;
	}
	if (size < 1)
		return 0;
	peer.loopback = data[0] & 1;
	peer.tls = (data[0] & 2) != 0;
	env.tls_available = (data[0] & 4) != 0;
	reads = (data[0] & 8) != 0;
	d = host_double_new(8192);
	host_double_open(d, &imap_session_ops, &peer, &env);
	FUZZ_CHUNK(data + 1, size - 1, data[0] >> 4, chunk, chunk_len) {
		host_double_input(d, chunk, chunk_len);
		host_double_run(d);
		if (reads)
			client_read(d);
	}
	/* The client reads everything: whatever streamed has finished. */
	do
		client_read(d);
	while (buf_len(host_double_output(d)) > 0);
	CHECK(!host_double_streaming(d) || host_double_want(d) != SESSION_READ);
	host_double_free(&d);
}
FUZZ_END
