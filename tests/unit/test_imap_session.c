/*
 * imapd/imap_session: the real session driven by the host double
 * (tests/unit/host_double.h) against a real store and directory in a temp
 * dir, so logins and SELECT run as submitted jobs and FETCH as a streamed
 * reply, in the production order.  drive_n() plays the client: sends the
 * input in chunks of a given size and reads everything said, so a script
 * can also be run byte by byte.
 */
#include "imapd/imap_session.h"
#include "imapd/imap_private.h"

#include "lib/turnq.h"
#include "lib/buf.h"
#include "lib/conntab.h"
#include "lib/directory.h"
#include "lib/xmalloc.h"
#include "mail/address.h"
#include "store/store.h"
#include "tests/unit/host_double.h"

#include <sys/stat.h>

#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

struct fx {
	char			 root[64];
	struct store		*store;
	struct imap_env		 env;
	struct session_peer	 peer;
	size_t			 out_max;	/* each session's output buffer */
	struct buf		*got;
	char			*alice_maildir;
};

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	return remove(path);
}

static void
write_file(const char *dir, const char *name, const char *text)
{
	char	*path = xasprintf("%s/%s", dir, name);
	FILE	*f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
	free(path);
}

static void
deliver(struct fx *fx, const char *text)
{
	struct store_rcpt	 rcpt = { fx->alice_maildir, 0, 0 };
	struct store_delivery	*d;
	const char		*error;

	d = store_delivery_begin(fx->store, &rcpt, 1, &error);
	assert_non_null(d);
	assert_int_equal(store_delivery_write(d, text, strlen(text)), 0);
	assert_int_equal(store_delivery_commit(d, &error), 0);
	store_delivery_free(&d);
}

static const char msg1[] = "Subject: one\nFrom: a@example.test\n\nhello\n";
static const char msg2[] = "Subject: two \"quoted\"\nTo: b@example.test\n\nbody\n";

static int
setup(void **state)
{
	struct fx		*fx = xcalloc(1, sizeof(*fx));
	struct store_options	 opts = { 0 };
	const struct dir_user	*u;
	const char		*error;
	char			*conf, *pw, *line;

	strcpy(fx->root, "/tmp/test_imap.XXXXXX");
	assert_non_null(mkdtemp(fx->root));
	conf = xasprintf("%s/conf", fx->root);
	assert_int_equal(mkdir(conf, 0700), 0);
	write_file(conf, "domains", "example.test\n");
	pw = password_hash("alice-pw");
	line = xasprintf("alice@example.test:%s::::::\n", pw);
	write_file(conf, "passwd", line);
	free(pw);
	free(line);
	fx->env.directory = directory_load(conf, &address_user_syntax, &error);
	assert_non_null(fx->env.directory);
	free(conf);

	fx->env.mail_root = xasprintf("%s/mail", fx->root);
	fx->store = store_open(fx->env.mail_root, &opts, &error);
	assert_non_null(fx->store);
	fx->env.store = fx->store;
	fx->env.limits = (struct imap_limits){
		.parser = { .max_command_size = 64 * 1024, .max_literal_size = 1024 * 1024,
		    .max_nesting = 16, .max_arguments = 1000 },
		.max_errors = 5, .max_commands_before_auth = 10,
		.max_connections_per_user = 2, .idle_timeout_ms = 1800000,
		.preauth_timeout_ms = 60000, .plaintext_auth_loopback = true,
	};
	fx->env.tls_available = true;
	fx->env.conntab = conntab_new(64, 2);
	fx->env.authq = turnq_new(0);
	u = directory_user(fx->env.directory, "alice@example.test");
	assert_non_null(u);
	fx->alice_maildir = directory_maildir(fx->env.mail_root, u);
	assert_int_equal(store_create_user(fx->store, fx->alice_maildir, &error), 0);
	deliver(fx, msg1);
	deliver(fx, msg2);

	strcpy(fx->peer.id, "0123456789abcdef");
	strcpy(fx->peer.addr, "127.0.0.1");
	fx->peer.loopback = true;
	fx->peer.listener = "imap";
	fx->out_max = 1024 * 1024;
	fx->got = buf_new(64 * 1024 * 1024);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fx	*fx = *state;

	buf_free(&fx->got);
	free(fx->alice_maildir);
	store_close(&fx->store);
	directory_free(&fx->env.directory);
	conntab_free(&fx->env.conntab);
	turnq_free(&fx->env.authq);
	imap_env_release(&fx->env);
	nftw(fx->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

static struct host_double *
sopen(struct fx *fx)
{
	struct host_double	*d = host_double_new(fx->out_max);

	host_double_open(d, &imap_session_ops, &fx->peer, &fx->env);
	host_double_pump(d, fx->got);
	return d;
}

static void
pump(struct fx *fx, struct host_double *d)
{
	assert_true(buf_len(host_double_output(d)) <= fx->out_max);
	host_double_pump(d, fx->got);
}

static void
drive_n(struct fx *fx, struct host_double *d, const char *in, size_t len, size_t chunk)
{
	size_t	 off, n;

	for (off = 0; off < len; off += n) {
		n = len - off < chunk ? len - off : chunk;
		host_double_input(d, in + off, n);
		pump(fx, d);
	}
	pump(fx, d);
}

static void
drive(struct fx *fx, struct host_double *d, const char *in)
{
	drive_n(fx, d, in, strlen(in), strlen(in) + 1);
}

static char *
take(struct fx *fx)
{
	char	*r = buf_strdup(fx->got);

	buf_reset(fx->got);
	return r;
}

#define expect(fx, want) do {					\
	char *got_ = take(fx);					\
	assert_string_equal(got_, want);			\
	free(got_);						\
} while (0)

#define CAPS		"IMAP4rev1 LITERAL+ SASL-IR ID ENABLE NAMESPACE UNSELECT IDLE UIDPLUS MOVE APPENDLIMIT=1048576" \
			" ESEARCH SORT THREAD=REFERENCES THREAD=ORDEREDSUBJECT" \
			" CHILDREN SPECIAL-USE LIST-EXTENDED LIST-STATUS STATUS=SIZE CONDSTORE QRESYNC"
#define GREETING	"* OK [CAPABILITY " CAPS " STARTTLS AUTH=PLAIN AUTH=LOGIN] Postroom ready.\r\n"
#define LOGIN		"a LOGIN alice@example.test alice-pw\r\n"
#define LOGGED_IN	"a OK [CAPABILITY " CAPS "] Logged in.\r\n"

static void
test_greeting_capability_logout(void **state)
{
	struct fx		*fx = *state;
	struct host_double	*s = sopen(fx);

	drive(fx, s, "a CAPABILITY\r\nb LOGOUT\r\nc NOOP\r\n");
	expect(fx, GREETING "* CAPABILITY " CAPS " STARTTLS AUTH=PLAIN AUTH=LOGIN\r\n"
	    "a OK Capability completed.\r\n* BYE Logging out.\r\nb OK Logout completed.\r\n");
	assert_int_equal(host_double_want(s), SESSION_CLOSE);
	host_double_free(&s);

	/* Off loopback without TLS: LOGINDISABLED, and LOGIN refused. */
	fx->peer.loopback = false;
	s = sopen(fx);
	drive(fx, s, LOGIN);
	expect(fx, "* OK [CAPABILITY " CAPS " STARTTLS LOGINDISABLED] Postroom ready.\r\n"
	    "a NO [PRIVACYREQUIRED] Plaintext authentication disallowed on non-secure "
	    "(SSL/TLS) connections.\r\n");
	host_double_free(&s);
}

/* The whole script, fed in chunks of `chunk` bytes. */
static char *
script(struct fx *fx, size_t chunk)
{
	static const char in[] = LOGIN "b SELECT inbox\r\nc FETCH 1:* (UID RFC822.SIZE ENVELOPE)\r\n"
	    "d UID FETCH 2 (FLAGS BODY)\r\ne LOGIN {1+}\r\nx {2}\r\nyy\r\nf UNSELECT\r\n"
	    "g LOGOUT\r\n";
	struct host_double	*s = sopen(fx);

	buf_reset(fx->got);
	drive_n(fx, s, in, sizeof(in) - 1, chunk);
	host_double_free(&s);
	return take(fx);
}

static void
test_select_fetch_any_chunk(void **state)
{
	struct fx	*fx = *state;
	char		*whole, *got, *p;
	size_t		 chunk;

	whole = script(fx, SIZE_MAX);
	p = strstr(whole, "c OK Fetch completed.\r\n");
	assert_non_null(p);
	assert_non_null(strstr(whole, "* 2 EXISTS\r\n* 2 RECENT\r\n* OK [UNSEEN 1]"));
	assert_non_null(strstr(whole, "b OK [READ-WRITE] Select completed.\r\n"));
	assert_non_null(strstr(whole, "* 1 FETCH (UID 1 RFC822.SIZE 45 ENVELOPE (NIL \"one\" "
	    "((NIL NIL \"a\" \"example.test\"))"));
	/* A quote in a string: a literal (mail/'s ENVELOPE, as Dovecot writes it). */
	assert_non_null(strstr(whole, "* 2 FETCH (UID 2 RFC822.SIZE 51 ENVELOPE (NIL {12}\r\n"
	    "two \"quoted\" NIL"));
	assert_non_null(strstr(whole, "* 2 FETCH (UID 2 FLAGS (\\Recent) BODY (\"text\" \"plain\""));
	assert_non_null(strstr(whole, "\r\n+ OK\r\ne BAD Already logged in.\r\n"
	    "f OK Unselect completed.\r\n* BYE Logging out.\r\ng OK Logout completed.\r\n"));
	/* Only the first session saw the messages as recent. */
	p = strstr(whole, "* 2 RECENT");
	p[2] = '0';
	while ((p = strstr(whole, "(\\Recent)")) != NULL) {
		memcpy(p, "()", 2);
		memmove(p + 2, p + 9, strlen(p + 9) + 1);
	}
	for (chunk = 1; chunk <= 14; chunk += 13) {
		got = script(fx, chunk);
		assert_string_equal(got, whole);
		free(got);
	}
	free(whole);
}

static void
test_wrong_state_and_bad_commands(void **state)
{
	struct fx		*fx = *state;
	struct host_double	*s = sopen(fx);

	buf_reset(fx->got);
	drive(fx, s, "a SELECT INBOX\r\nb FETCH 1 FLAGS\r\nc FOO\r\nd NOOP\r\n" LOGIN
	    "b FETCH 1 FLAGS\r\nc LOGIN x y\r\nd SELECT Nope\r\ne FETCH 1 FLAGS\r\n");
	expect(fx, "a BAD Log in first.\r\nb BAD Log in first.\r\nc BAD unknown command\r\n"
	    "d OK NOOP completed.\r\n" LOGGED_IN "b BAD No mailbox selected.\r\n"
	    "c BAD Already logged in.\r\n"
	    "d NO [NONEXISTENT] Mailbox doesn't exist.\r\n"
	    "e BAD No mailbox selected.\r\n");
	drive(fx, s, "f BAD\r\ng BAD\r\nh NOOP\r\n");	/* max_errors 5 in a row */
	expect(fx, "f BAD unknown command\r\n* BYE Too many invalid commands.\r\n");
	assert_int_equal(host_double_want(s), SESSION_CLOSE);
	host_double_free(&s);
}

static void
test_commands_before_auth(void **state)
{
	struct fx		*fx = *state;
	struct host_double	*s = sopen(fx);
	char			*got;
	int			 i;

	for (i = 0; i < 11; i++)
		drive(fx, s, "a NOOP\r\n");
	got = take(fx);
	assert_non_null(strstr(got, "a OK NOOP completed.\r\n* BYE Too many commands before "
	    "login.\r\n"));
	free(got);
	assert_int_equal(host_double_want(s), SESSION_CLOSE);
	host_double_free(&s);
}

static void
test_starttls_discards_pipelined(void **state)
{
	struct fx		*fx = *state;
	struct host_double	*s = sopen(fx);

	buf_reset(fx->got);
	drive(fx, s, "a STARTTLS\r\n" LOGIN);
	expect(fx, "a OK Begin TLS negotiation now.\r\n");
	host_double_tls(s);
	drive(fx, s, "b CAPABILITY\r\n");
	expect(fx, "* CAPABILITY " CAPS " AUTH=PLAIN AUTH=LOGIN\r\nb OK Capability completed.\r\n");
	host_double_free(&s);
}

static void
test_authenticate(void **state)
{
	struct fx		*fx = *state;
	struct host_double	*s = sopen(fx);

	buf_reset(fx->got);
	/* SASL-IR, then a continuation with a cancel, then LOGIN's two steps. */
	drive(fx, s, "a AUTHENTICATE PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABhbGljZS1wdw==\r\n");
	expect(fx, LOGGED_IN);
	host_double_free(&s);
	s = sopen(fx);
	buf_reset(fx->got);
	drive(fx, s, "b AUTHENTICATE PLAIN\r\n*\r\nc AUTHENTICATE LOGIN\r\n"
	    "YWxpY2VAZXhhbXBsZS50ZXN0\r\nYWxpY2UtcHc=\r\n");
	expect(fx, "+ \r\nb BAD Authentication cancelled.\r\n+ VXNlcm5hbWU6\r\n+ UGFzc3dvcmQ6\r\n"
	    "c OK [CAPABILITY " CAPS "] Logged in.\r\n");
	host_double_free(&s);
}

static void
test_failed_login_and_user_limit(void **state)
{
	struct fx		*fx = *state;
	struct host_double	*s[3];
	int			 i;

	s[0] = sopen(fx);
	buf_reset(fx->got);
	drive(fx, s[0], "a LOGIN alice@example.test wrong\r\nb NOOP\r\n");
	expect(fx, "a NO [AUTHENTICATIONFAILED] Authentication failed.\r\nb OK NOOP completed.\r\n");
	for (i = 0; i < 3; i++) {
		if (i > 0)
			s[i] = sopen(fx);
		buf_reset(fx->got);
		drive(fx, s[i], LOGIN);
		/* max_connections_per_user is 2. */
		expect(fx, i < 2 ? LOGGED_IN : "a NO [LIMIT] Too many connections for this user.\r\n");
	}
	for (i = 0; i < 3; i++)
		host_double_free(&s[i]);
	assert_int_equal(conntab_count(fx->env.conntab, CONNTAB_USER, "alice@example.test"), 0);
}

/* FETCH 1:* of a folder larger than the output: produced as it drains, in order. */
static void
test_fetch_streams(void **state)
{
	struct fx		*fx = *state;
	struct host_double	*s;
	char			 m[64], want[64], *got, *p;
	int			 i;

	for (i = 3; i <= 1500; i++) {
		snprintf(m, sizeof(m), "Subject: m%d\n\nx\n", i);
		deliver(fx, m);
	}
	fx->out_max = 16 * 1024;	/* high-water mark 4 KB */
	s = sopen(fx);
	drive(fx, s, LOGIN "b EXAMINE INBOX\r\nc FETCH 1:* (FLAGS ENVELOPE)\r\nd NOOP\r\n");
	got = take(fx);
	p = strstr(got, "b OK [READ-ONLY] Examine completed.\r\n");
	assert_non_null(p);
	for (i = 1; i <= 1500; i++) {
		snprintf(want, sizeof(want), "* %d FETCH (FLAGS (", i);
		p = strstr(p, want);
		assert_non_null(p);
	}
	assert_non_null(strstr(p, "\r\nc OK Fetch completed.\r\nd OK NOOP completed.\r\n"));
	free(got);
	host_double_free(&s);
}

#define FETCH_NOOP	"c FETCH 1:* (ENVELOPE)\r\nd NOOP\r\n"

/* The session goes while a FETCH batch is read on the workq: the job closes the mailbox. */
static void
test_fetch_abandoned(void **state)
{
	struct fx		*fx = *state;
	struct host_double	*s = sopen(fx);
	char			*got;

	drive(fx, s, LOGIN "b SELECT INBOX\r\n");
	host_double_input(s, FETCH_NOOP, strlen(FETCH_NOOP));
	assert_int_equal(host_double_jobs(s), 1);
	assert_int_equal(host_double_want(s), SESSION_PAUSE);
	host_double_free(&s);		/* runs the job after the session is gone */
	s = sopen(fx);
	buf_reset(fx->got);
	drive(fx, s, LOGIN "b SELECT INBOX\r\nc FETCH 2 (UID)\r\n");
	got = take(fx);
	assert_non_null(strstr(got, "b OK [READ-WRITE] Select completed.\r\n"
	    "* 2 FETCH (UID 2)\r\nc OK Fetch completed.\r\n"));
	free(got);
	host_double_free(&s);
}

/* SEARCH, ESEARCH, SORT and THREAD: evaluated a chunk per job, replies streamed under a 4 KB mark. */
static void
test_search_streams(void **state)
{
	struct fx		*fx = *state;
	struct host_double	*s;
	char			 m[64], want[16], *got, *p;
	int			 i;

	for (i = 3; i <= 1500; i++) {
		snprintf(m, sizeof(m), "Subject: m%d\n\nx\n", i);
		deliver(fx, m);
	}
	fx->out_max = 16 * 1024;
	s = sopen(fx);
	drive(fx, s, LOGIN "b EXAMINE INBOX\r\nc SEARCH ALL\r\n"
	    "d UID SEARCH RETURN (MIN MAX COUNT) 2:* SUBJECT m149\r\n"
	    "e SORT (REVERSE SIZE) UTF-8 SUBJECT m149\r\n"
	    "f THREAD ORDEREDSUBJECT UTF-8 1:3\r\ng SEARCH CHARSET KOI8-R ALL\r\n"
	    "h SEARCH MODSEQ 1 SUBJECT m1499\r\ni NOOP\r\n");
	got = take(fx);
	p = strstr(got, "b OK [READ-ONLY] Examine completed.\r\n* SEARCH 1 2 3 ");
	assert_non_null(p);
	for (i = 4; i <= 1500; i++) {
		snprintf(want, sizeof(want), " %d", i);
		p = strstr(p, want);
		assert_non_null(p);
	}
	assert_non_null(strstr(p, " 1500\r\nc OK Search completed.\r\n"
	    "* ESEARCH (TAG \"d\") UID MIN 149 MAX 1499 COUNT 11\r\nd OK Search completed.\r\n"
	    "* SORT 1490 1491 1492 1493 1494 1495 1496 1497 1498 1499 149\r\n"
	    "e OK Sort completed.\r\n"
	    "* THREAD (1)(2)(3)\r\nf OK Thread completed.\r\n"
	    "g NO [BADCHARSET (UTF-8 US-ASCII)] "));
	/* MODSEQ turns CONDSTORE on: HIGHESTMODSEQ first (RFC 7162 3.1.2.1), then the result. */
	p = strstr(p, "\r\n* OK [HIGHESTMODSEQ ");
	assert_non_null(p);
	p = strstr(p, "] Highest.\r\n* SEARCH 1499 (MODSEQ ");
	assert_non_null(p);
	assert_non_null(strstr(p, ")\r\nh OK Search completed.\r\ni OK NOOP completed.\r\n"));
	free(got);
	host_double_free(&s);
}

/* The session goes while a SEARCH chunk runs: the job frees the mailbox and the keys. */
static void
test_search_abandoned(void **state)
{
	struct fx		*fx = *state;
	struct host_double	*s = sopen(fx);
	static const char	 cmd[] = "c SEARCH OR BODY hello SUBJECT two\r\nd NOOP\r\n";
	char			*got;

	drive(fx, s, LOGIN "b SELECT INBOX\r\n");
	host_double_input(s, cmd, strlen(cmd));
	assert_int_equal(host_double_jobs(s), 1);
	assert_int_equal(host_double_want(s), SESSION_PAUSE);
	host_double_free(&s);		/* runs the job after the session is gone */
	s = sopen(fx);
	buf_reset(fx->got);
	drive(fx, s, LOGIN "b SELECT INBOX\r\n");
	buf_reset(fx->got);
	drive(fx, s, cmd);
	got = take(fx);
	assert_string_equal(got, "* SEARCH 1 2\r\nc OK Search completed.\r\nd OK NOOP completed.\r\n");
	free(got);
	host_double_free(&s);
}

/* NOOP tells what others changed: EXPUNGE (renumbered), FETCH FLAGS, EXISTS and RECENT. */
static void
test_noop_updates(void **state)
{
	struct fx		*fx = *state;
	struct host_double	*s = sopen(fx);
	struct mailbox		*mb;
	const char		*error;
	uint32_t		 one = 1, two = 2;

	drive(fx, s, LOGIN "b SELECT INBOX\r\nc NOOP\r\n");
	buf_reset(fx->got);
	drive(fx, s, "c NOOP\r\n");
	expect(fx, "c OK NOOP completed.\r\n");
	assert_int_equal(mailbox_open(fx->store, fx->alice_maildir, "INBOX", 0, &mb, &error), 0);
	assert_int_equal(mailbox_store_flags(mb, &two, 1, FLAGS_ADD, MSG_FLAGGED, NULL, &error), 0);
	assert_int_equal(mailbox_expunge(mb, &one, 1, &error), 0);
	mailbox_close(&mb);
	deliver(fx, msg1);
	deliver(fx, msg2);
	drive(fx, s, "d CHECK\r\ne FETCH 1:* (UID FLAGS)\r\n");
	expect(fx, "* 1 EXPUNGE\r\n* 1 FETCH (FLAGS (\\Flagged \\Recent))\r\n* 3 EXISTS\r\n"
	    "* 3 RECENT\r\nd OK CHECK completed.\r\n"
	    "* 1 FETCH (UID 2 FLAGS (\\Flagged \\Recent))\r\n* 2 FETCH (UID 3 FLAGS (\\Recent))\r\n"
	    "* 3 FETCH (UID 4 FLAGS (\\Recent))\r\ne OK Fetch completed.\r\n");
	host_double_free(&s);
}

/* Messages 3..n more, so a few changes stay under a quarter of the view. */
static void
deliver_more(struct fx *fx, unsigned n)
{
	unsigned	 i;

	for (i = 3; i <= n; i++)
		deliver(fx, msg1);
}

/*
 * A few changes by another handle between two NOOPs reach the view by the
 * change feed (mailbox_messages_patch): two expunges (one of a message
 * flagged first), two flag changes and a delivery are told as a whole
 * snapshot's diff tells them, and the view is what FETCH then sees.  Many
 * changes at once read the whole snapshot again.
 */
static void
test_noop_feed(void **state)
{
	struct fx		*fx = *state;
	struct host_double	*s = host_double_new(fx->out_max);
	struct imap_session	*is = host_double_open(s, &imap_session_ops, &fx->peer, &fx->env);
	struct mailbox		*mb;
	const char		*error;
	char			*got, *want;
	uint32_t		 three = 3, five = 5, seven = 7, gone[] = { 2, 5 }, many[8];
	unsigned		 i;

	deliver_more(fx, 30);
	drive(fx, s, LOGIN "b SELECT INBOX\r\nc NOOP\r\n");
	buf_reset(fx->got);
	assert_int_equal(mailbox_open(fx->store, fx->alice_maildir, "INBOX", 0, &mb, &error), 0);
	assert_int_equal(mailbox_store_flags(mb, &three, 1, FLAGS_ADD, MSG_FLAGGED, NULL, &error), 0);
	assert_int_equal(mailbox_store_flags(mb, &five, 1, FLAGS_ADD, MSG_FLAGGED, NULL, &error), 0);
	assert_int_equal(mailbox_store_flags(mb, &seven, 1, FLAGS_ADD, MSG_SEEN, NULL, &error), 0);
	assert_int_equal(mailbox_expunge(mb, gone, 2, &error), 0);
	mailbox_close(&mb);
	deliver(fx, msg2);
	drive(fx, s, "d NOOP\r\n");
	expect(fx, "* 2 EXPUNGE\r\n* 4 EXPUNGE\r\n* 2 FETCH (FLAGS (\\Flagged \\Recent))\r\n"
	    "* 5 FETCH (FLAGS (\\Seen \\Recent))\r\n* 29 EXISTS\r\n* 29 RECENT\r\n"
	    "d OK NOOP completed.\r\n");
	assert_int_equal(is->nmsgs, 29);
	drive(fx, s, "e NOOP\r\nf FETCH 1:6,28:* (UID FLAGS)\r\n");
	expect(fx, "e OK NOOP completed.\r\n"
	    "* 1 FETCH (UID 1 FLAGS (\\Recent))\r\n* 2 FETCH (UID 3 FLAGS (\\Flagged \\Recent))\r\n"
	    "* 3 FETCH (UID 4 FLAGS (\\Recent))\r\n* 4 FETCH (UID 6 FLAGS (\\Recent))\r\n"
	    "* 5 FETCH (UID 7 FLAGS (\\Seen \\Recent))\r\n* 6 FETCH (UID 8 FLAGS (\\Recent))\r\n"
	    "* 28 FETCH (UID 30 FLAGS (\\Recent))\r\n* 29 FETCH (UID 31 FLAGS (\\Recent))\r\n"
	    "f OK Fetch completed.\r\n");

	/* A quarter of the view and more: the snapshot. */
	for (i = 0; i < 8; i++)
		many[i] = 10 + i;
	assert_int_equal(mailbox_open(fx->store, fx->alice_maildir, "INBOX", 0, &mb, &error), 0);
	assert_int_equal(mailbox_store_flags(mb, many, 8, FLAGS_ADD, MSG_ANSWERED, NULL, &error), 0);
	assert_int_equal(mailbox_expunge(mb, &three, 1, &error), 0);
	mailbox_close(&mb);
	drive(fx, s, "g NOOP\r\n");
	got = take(fx);
	assert_non_null(strstr(got, "* 2 EXPUNGE\r\n* 7 FETCH (FLAGS (\\Answered \\Recent))\r\n"));
	want = xasprintf("* 14 FETCH (FLAGS (\\Answered \\Recent))\r\ng OK NOOP completed.\r\n");
	assert_non_null(strstr(got, want));
	free(want);
	free(got);
	assert_int_equal(is->nmsgs, 28);
	host_double_free(&s);
}

/*
 * APPEND in any chunking: a synchronising literal (CRLF made LF, a bare CR
 * kept, one at the literal's end too), EXISTS before its OK when selected,
 * TRYCREATE with a non-synchronising literal skipped, a zero-byte message.
 */
static void
test_append_any_chunk(void **state)
{
	static const char in[] = LOGIN "b SELECT INBOX\r\n"
	    "c APPEND INBOX (\\Seen \\Draft) {12}\r\nab\r\ncd\r\nef\r\r\n"
	    "d APPEND Nope {3+}\r\nxyz\r\ne APPEND INBOX {0}\r\n"
	    "f FETCH * (FLAGS RFC822.SIZE)\r\ng LOGOUT\r\n";
	static const size_t	 chunks[] = { SIZE_MAX, 1, 5 };
	struct fx		*fx = *state;
	struct host_double	*s;
	char			*got, want[128];
	size_t			 i;

	for (i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		s = sopen(fx);
		buf_reset(fx->got);
		drive_n(fx, s, in, sizeof(in) - 1, chunks[i]);
		got = take(fx);
		snprintf(want, sizeof(want), "+ Ready for literal data\r\n* %zu EXISTS\r\n", i + 3);
		assert_non_null(strstr(got, want));
		assert_non_null(strstr(got, "c OK [APPENDUID "));
		snprintf(want, sizeof(want), " %zu] Append completed.\r\n", i + 3);
		assert_non_null(strstr(got, want));
		assert_non_null(strstr(got, "d NO [TRYCREATE] Mailbox doesn't exist.\r\n"
		    "e NO Can't save a zero byte message.\r\n"));
		snprintf(want, sizeof(want), "* %zu FETCH (FLAGS (\\Seen \\Draft) RFC822.SIZE 12)\r\n",
		    i + 3);
		assert_non_null(strstr(got, want));
		free(got);
		host_double_free(&s);
	}
}

/* STORE, UID STORE .SILENT, COPY (COPYUID, TRYCREATE), EXPUNGE renumbered, MOVE. */
static void
test_store_expunge_copy_move(void **state)
{
	struct fx		*fx = *state;
	struct host_double	*s = sopen(fx);
	char			*got;

	drive(fx, s, LOGIN "b SELECT INBOX\r\n");
	buf_reset(fx->got);
	drive(fx, s, "c STORE 1:2 +FLAGS (\\Seen $Work)\r\nd UID STORE 1 -FLAGS.SILENT ($Work)\r\n"
	    "e STORE 1 +FLAGS (\\Recent)\r\nf STORE 3 +FLAGS (\\Seen)\r\n");
	expect(fx, "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Work)\r\n"
	    "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Work \\*)] "
	    "Flags permitted.\r\n"
	    "* 1 FETCH (FLAGS (\\Seen \\Recent $Work))\r\n* 2 FETCH (FLAGS (\\Seen \\Recent $Work))\r\n"
	    "c OK Store completed.\r\nd OK Store completed.\r\n"
	    "e BAD Invalid system flag \\Recent.\r\nf BAD Invalid messageset.\r\n");
	drive(fx, s, "g COPY 1 Trash\r\nh COPY 1:2 Nope\r\ni STORE 1 +FLAGS.SILENT (\\Deleted)\r\n"
	    "j EXPUNGE\r\nk FETCH 1:* (UID FLAGS)\r\n");
	got = take(fx);
	assert_non_null(strstr(got, "g OK [COPYUID "));
	assert_non_null(strstr(got, " 1 1] Copy completed.\r\nh NO [TRYCREATE] "));
	assert_non_null(strstr(got, "i OK Store completed.\r\n* 1 EXPUNGE\r\nj OK Expunge "
	    "completed.\r\n* 1 FETCH (UID 2 FLAGS (\\Seen \\Recent $Work))\r\nk OK Fetch "));
	free(got);
	drive(fx, s, "l UID MOVE 2 Trash\r\nm FETCH 1:* (UID)\r\n");
	got = take(fx);
	/* Now empty: "1:*" names no message (RFC 3501 9). */
	assert_non_null(strstr(got, " 2 2] Moved UIDs.\r\n* 1 EXPUNGE\r\nl OK Move completed.\r\n"
	    "m BAD Invalid messageset.\r\n"));
	free(got);
	host_double_free(&s);
}

/* RFC 3501 7.4.1: STORE after another's expunge keeps the numbers; NOOP tells. */
static void
test_store_keeps_numbers(void **state)
{
	struct fx		*fx = *state;
	struct host_double	*s = sopen(fx);
	struct mailbox		*mb;
	const char		*error;
	char			*got;
	uint32_t		 one = 1;

	drive(fx, s, LOGIN "b SELECT INBOX\r\nc EXAMINE INBOX\r\n");
	buf_reset(fx->got);
	drive(fx, s, "d STORE 1 +FLAGS (\\Seen)\r\ne EXPUNGE\r\nf SELECT INBOX\r\n");
	got = take(fx);
	assert_non_null(strstr(got, "d NO [READ-ONLY] Mailbox is read-only.\r\n"
	    "e NO [READ-ONLY] Mailbox is read-only.\r\n"));
	free(got);
	assert_int_equal(mailbox_open(fx->store, fx->alice_maildir, "INBOX", 0, &mb, &error), 0);
	assert_int_equal(mailbox_expunge(mb, &one, 1, &error), 0);
	mailbox_close(&mb);
	drive(fx, s, "g STORE 2 +FLAGS (\\Flagged)\r\nh FETCH 1:* (UID)\r\ni NOOP\r\n"
	    "j FETCH 1:* (UID)\r\n");
	/* \\Recent went to b's SELECT: f's sees none. */
	expect(fx, "* 2 FETCH (FLAGS (\\Flagged))\r\ng OK Store completed.\r\n"
	    "* 1 FETCH (UID 1)\r\n* 2 FETCH (UID 2)\r\nh OK Fetch completed.\r\n"
	    "* 1 EXPUNGE\r\ni OK NOOP completed.\r\n* 1 FETCH (UID 2)\r\nj OK Fetch completed.\r\n");
	host_double_free(&s);
}

/*
 * The session goes while a NOOP's sync or a STORE runs on the workq, its
 * view its own copy (a STORE after another's expunge): the job reads that
 * copy (the sanitizers see a read after free) and frees it.
 */
static void
test_sync_and_store_abandoned_with_own_view(void **state)
{
	struct fx		*fx = *state;
	static const char	*const cmds[] = { "i NOOP\r\n", "i STORE 2 +FLAGS (\\Seen)\r\n" };
	struct host_double	*s;
	struct mailbox		*mb;
	const char		*error;
	char			*got;
	uint32_t		 uid;
	size_t			 i;

	deliver(fx, msg1);
	deliver(fx, msg2);
	for (i = 0; i < 2; i++) {
		s = sopen(fx);
		drive(fx, s, LOGIN "b SELECT INBOX\r\n");
		buf_reset(fx->got);
		assert_int_equal(mailbox_open(fx->store, fx->alice_maildir, "INBOX", 0, &mb,
		    &error), 0);
		uid = (uint32_t)i + 1;
		assert_int_equal(mailbox_expunge(mb, &uid, 1, &error), 0);
		mailbox_close(&mb);
		drive(fx, s, "g STORE 2 +FLAGS (\\Flagged)\r\n");	/* the view kept: a copy */
		got = take(fx);
		assert_non_null(strstr(got, "g OK Store completed.\r\n"));
		assert_null(strstr(got, "EXPUNGE"));
		free(got);
		host_double_input(s, cmds[i], strlen(cmds[i]));
		assert_int_equal(host_double_jobs(s), 1);
		assert_int_equal(host_double_want(s), SESSION_PAUSE);
		host_double_free(&s);		/* runs the job after the session is gone */
	}
}

static void
test_timeout(void **state)
{
	struct fx		*fx = *state;
	struct host_double	*s = sopen(fx);

	buf_reset(fx->got);
	assert_int_equal(host_double_deadline(s), 60000);
	drive(fx, s, LOGIN);
	expect(fx, LOGGED_IN);
	assert_int_equal(host_double_deadline(s), 1800000);
	host_double_advance(s, 1800000);
	host_double_pump(s, fx->got);
	expect(fx, "* BYE Disconnected for inactivity.\r\n");
	host_double_free(&s);
}

/* The one string helper: quoted where it can be, else a literal; NIL for NULL. */
static void
test_put_string(void **state)
{
	struct buf	*b = buf_new(4096);
	char		 big[1100], *got;

	(void)state;
	assert_int_equal(imap_put_string(b, "plain", 5), 0);
	assert_int_equal(imap_put_string(b, " a\"b\\c", 6), 0);
	assert_int_equal(imap_put_string(b, NULL, 0), 0);
	assert_int_equal(imap_put_string(b, "", 0), 0);
	assert_int_equal(imap_put_string(b, "x\r\ny", 4), 0);
	assert_int_equal(imap_put_string(b, "\xe4\xb8\xad", 3), 0);
	assert_int_equal(imap_put_string(b, "n\0ul", 4), 0);	/* stops at len, not at NUL */
	got = buf_strdup(b);
	assert_string_equal(got, "\"plain\"\" a\\\"b\\\\c\"NIL\"\"{4}\r\nx\r\ny"
	    "{3}\r\n\xe4\xb8\xad{4}\r\nn");
	free(got);
	assert_int_equal(buf_len(b), 48);	/* the NUL and "ul" too */
	buf_reset(b);
	memset(big, 'a', sizeof(big));		/* long: a literal, no quoting scan for the client */
	assert_int_equal(imap_put_string(b, big, sizeof(big)), 0);
	assert_int_equal(memcmp(buf_head(b), "{1100}\r\naaa", 11), 0);
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_string),
		cmocka_unit_test_setup_teardown(test_greeting_capability_logout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_select_fetch_any_chunk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_state_and_bad_commands, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commands_before_auth, setup, teardown),
		cmocka_unit_test_setup_teardown(test_starttls_discards_pipelined, setup, teardown),
		cmocka_unit_test_setup_teardown(test_authenticate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_login_and_user_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fetch_streams, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fetch_abandoned, setup, teardown),
		cmocka_unit_test_setup_teardown(test_search_streams, setup, teardown),
		cmocka_unit_test_setup_teardown(test_search_abandoned, setup, teardown),
		cmocka_unit_test_setup_teardown(test_noop_updates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_noop_feed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_append_any_chunk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_expunge_copy_move, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_keeps_numbers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync_and_store_abandoned_with_own_view, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
