/*
 * The POP3 session (command parser, dispatcher, SASL, streaming, UPDATE)
 * under random bytes in random read sizes, against a real store in a temp
 * dir, on the host double (tests/unit/host_double.h): logins and UPDATE
 * run as queued jobs, streamed replies as continuations, as in production.
 * Input byte 0 picks the peer (loopback, TLS active, certificate present)
 * and whether the client reads after each piece; the rest is sent through
 * FUZZ_CHUNK.  Checks: the output buffer's bound holds, output always ends
 * at a line end, a streamed reply always finishes once the client reads.
 */
#include "tests/fuzz/fuzzer.h"
#include "lib/turnq.h"
#include "lib/buf.h"
#include "lib/conntab.h"
#include "lib/directory.h"
#include "lib/log.h"
#include "lib/xmalloc.h"
#include "mail/address.h"
#include "pop3d/pop3_private.h"
#include "pop3d/pop3_session.h"
#include "store/store.h"
#include "tests/unit/host_double.h"

#include <crypt.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CHECK(x)	do { if (!(x)) abort(); } while (0)

static struct pop3_env	 env;
static char		*maildir;
static char		 root[] = "/tmp/fuzz_pop3.XXXXXX";

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
top_up(void)
{
	static const char	*msgs[] = {
		"Subject: a\nFrom: x@example.test\n\nbody\n.\n..\n",
		"Subject: b\n\n.line\nno final newline",
		"Subject: c\n\n",
	};
	struct store_rcpt	 rcpt = { maildir, 0, 0 };
	struct store_delivery	*d;
	struct mailbox		*mb;
	const struct msg_info	*mi;
	const char		*error;
	size_t			 n, i;

	CHECK(mailbox_open(env.store, maildir, "INBOX", 0, &mb, &error) == 0);
	CHECK(mailbox_messages(mb, &mi, &n, &error) == 0);
	mailbox_close(&mb);
	for (i = n; i < 3; i++) {
		d = store_delivery_begin(env.store, &rcpt, 1, &error);
		CHECK(d != NULL);
		CHECK(store_delivery_write(d, msgs[i], strlen(msgs[i])) == 0);
		CHECK(store_delivery_commit(d, &error) == 0);
		store_delivery_free(&d);
	}
}

static void
init(void)
{
	struct store_options	 opts = { 0 };
	const char		*error;
	char			*conf, *text, *path;
	FILE			*f;

	log_set_level(LOG_LEVEL_ERROR);
	CHECK(mkdtemp(root) != NULL);
	atexit(cleanup);
	conf = xasprintf("%s/conf", root);
	CHECK(mkdir(conf, 0700) == 0);
	/* A cheap hash: the fuzzer should log in often. */
	text = xasprintf("alice@example.test:{CRYPT}%s::::::\n",
	    crypt("alice-pw", "$6$rounds=1000$fuzzsalt$"));
	path = xasprintf("%s/passwd", conf);
	CHECK((f = fopen(path, "w")) != NULL);
	fputs(text, f);
	CHECK(fclose(f) == 0);
	free(path);
	free(text);
	path = xasprintf("%s/domains", conf);
	CHECK((f = fopen(path, "w")) != NULL);
	fputs("example.test\n", f);
	CHECK(fclose(f) == 0);
	free(path);
	CHECK((env.directory = directory_load(conf, &address_user_syntax, &error)) != NULL);
	free(conf);
	env.mail_root = xasprintf("%s/mail", root);
	CHECK((env.store = store_open(env.mail_root, &opts, &error)) != NULL);
	env.limits = (struct pop3_limits){ 256, 20, 600000, 10, true, true };
	env.limits.read_ahead = 2;	/* RETRs in any order meet the window */
	env.conntab = conntab_new(64, 1);
	env.authq = turnq_new(1);
	env.openq = turnq_new(1);
	maildir = directory_maildir(env.mail_root,
	    directory_user(env.directory, "alice@example.test"));
	CHECK(store_create_user(env.store, maildir, &error) == 0);
	top_up();
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
	struct pop3_session		*s;
	bool				 quit_deleted, reads;

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
	s = host_double_open(d, &pop3_session_ops, &peer, &env);
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
	quit_deleted = s->ndele > 0 && s->state == POP3_TRANSACTION;
	host_double_free(&d);
	if (quit_deleted)
		top_up();
}
FUZZ_END
