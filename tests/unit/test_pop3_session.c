/*
 * pop3d/pop3_session: the real session driven by the host double
 * (tests/unit/host_double.h) against a real store and directory in a temp
 * dir, so logins and UPDATE run as submitted jobs and streamed replies as
 * continuations, in the production order.  drive() plays the client: sends
 * the input in chunks of a given size and reads everything said, so every
 * case can also be run byte by byte.
 */
#include "pop3d/pop3_session.h"
#include "pop3d/pop3_private.h"

#include "lib/turnq.h"
#include "lib/buf.h"
#include "lib/conntab.h"
#include "lib/directory.h"
#include "lib/xmalloc.h"
#include "mail/address.h"
#include "store/store.h"
#include "tests/unit/host_double.h"

#include <sys/mman.h>
#include <sys/stat.h>

#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
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
	struct pop3_env		 env;
	struct session_peer	 peer;
	size_t			 out_max;	/* each session's output buffer */
	struct pop3_session	*s;		/* the session sopen() opened last */
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

static char *
user_maildir(struct fx *fx, const char *address)
{
	const struct dir_user	*u = directory_user(fx->env.directory, address);

	assert_non_null(u);
	return directory_maildir(fx->env.mail_root, u);
}

/* Deliver text (LF line ends) to a maildir through the store. */
static void
deliver(struct fx *fx, const char *maildir, const char *text)
{
	struct store_rcpt	 rcpt = { maildir, 0, 0 };
	struct store_delivery	*d;
	const char		*error;

	d = store_delivery_begin(fx->store, &rcpt, 1, &error);
	assert_non_null(d);
	assert_int_equal(store_delivery_write(d, text, strlen(text)), 0);
	assert_int_equal(store_delivery_commit(d, &error), 0);
	store_delivery_free(&d);
}

static const char msg1[] = "Subject: one\nFrom: a@example.test\n\nhello\n";
static const char msg2[] =
    "Subject: dots\n\n.leading dot\n..two\n.\nnot.a.dot\nlast line without LF";
static const char msg3[] = "Subject: three\nX: y\n\nb1\nb2\nb3\n";

static int
setup(void **state)
{
	struct fx		*fx = xcalloc(1, sizeof(*fx));
	struct store_options	 opts = { 0 };
	const char		*error;
	char			*conf, *pw, *line, *maildir;

	strcpy(fx->root, "/tmp/test_pop3.XXXXXX");
	assert_non_null(mkdtemp(fx->root));
	conf = xasprintf("%s/conf", fx->root);
	assert_int_equal(mkdir(conf, 0700), 0);
	write_file(conf, "domains", "example.test\n");
	pw = password_hash("alice-pw");
	line = xasprintf("alice@example.test:%s::::::\nbob@example.test:%s::::::\n", pw, pw);
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
	fx->env.limits = (struct pop3_limits){ 1024, 20, 600000, 10, true, true };
	fx->env.conntab = conntab_new(64, 2);
	fx->env.authq = turnq_new(0);
	fx->env.openq = turnq_new(0);
	fx->env.tls_available = true;
	fx->alice_maildir = user_maildir(fx, "alice@example.test");
	assert_int_equal(store_create_user(fx->store, fx->alice_maildir, &error), 0);
	maildir = user_maildir(fx, "bob@example.test");
	assert_int_equal(store_create_user(fx->store, maildir, &error), 0);
	free(maildir);
	deliver(fx, fx->alice_maildir, msg1);
	deliver(fx, fx->alice_maildir, msg2);
	deliver(fx, fx->alice_maildir, msg3);

	strcpy(fx->peer.id, "0123456789abcdef");
	strcpy(fx->peer.addr, "127.0.0.1");
	fx->peer.loopback = true;
	fx->peer.listener = "pop3";
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
	pop3_env_release(&fx->env);
	conntab_free(&fx->env.conntab);
	turnq_free(&fx->env.authq);
	turnq_free(&fx->env.openq);
	nftw(fx->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

/* A session on its own host double; its greeting is read into fx->got. */
static struct host_double *
sopen(struct fx *fx)
{
	struct host_double	*d = host_double_new(fx->out_max);

	fx->s = host_double_open(d, &pop3_session_ops, &fx->peer, &fx->env);
	host_double_pump(d, fx->got);
	return d;
}

static void
sfree(struct host_double **d)
{
	host_double_free(d);
}

/* Read everything said; the output never went past its bound. */
static void
pump(struct fx *fx, struct host_double *d)
{
	assert_true(buf_len(host_double_output(d)) <= fx->out_max);
	host_double_pump(d, fx->got);
}

/* Send in chunks of `chunk` bytes, reading all replies after each. */
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

/* Everything read since the last call (malloc'd). */
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

#define expect_prefix(fx, want) do {				\
	char *got_ = take(fx);					\
	assert_true(strlen(got_) >= strlen(want));		\
	got_[strlen(want)] = '\0';				\
	assert_string_equal(got_, want);			\
	free(got_);						\
} while (0)

#define GREETING	"+OK Postroom ready.\r\n"
#define LOGIN		"USER alice@example.test\r\nPASS alice-pw\r\n"
#define LOGGED_IN	"+OK\r\n+OK Logged in.\r\n"

/* The size the store reports for an LF message: every LF counts as CRLF. */
static size_t
crlf_size(const char *m)
{
	size_t	 n = strlen(m), i;

	for (i = 0; m[i] != '\0'; i++)
		n += m[i] == '\n';
	return n;
}

static void
test_greeting_capa_quit(void **state)
{
	struct fx	*fx = *state;
	struct host_double	*s = sopen(fx);

	drive(fx, s, "CAPA\r\nQUIT\r\n");
	expect(fx, GREETING "+OK Capability list follows\r\n"
	    "TOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\n"
	    "USER\r\nSASL PLAIN LOGIN\r\nSTLS\r\nIMPLEMENTATION Postroom\r\n.\r\n"
	    "+OK Logging out.\r\n");
	assert_int_equal(host_double_want(s), SESSION_CLOSE);
	sfree(&s);
}

static void
test_capa_remote_and_tls(void **state)
{
	struct fx	*fx = *state;
	struct host_double	*s;

	/* Remote, no TLS: no plaintext login offered, STLS offered. */
	fx->peer.loopback = false;
	s = sopen(fx);
	drive(fx, s, "CAPA\r\nUSER alice@example.test\r\nPASS x\r\nAUTH PLAIN AGFsaWNlAHg=\r\n");
	expect(fx, GREETING "+OK Capability list follows\r\n"
	    "TOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\n"
	    "STLS\r\nIMPLEMENTATION Postroom\r\n.\r\n"
	    "-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.\r\n"
	    "-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.\r\n"
	    "-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.\r\n");
	sfree(&s);
	/* TLS active (implicit TLS): logins offered, STLS not. */
	fx->peer.tls = true;
	s = sopen(fx);
	drive(fx, s, "CAPA\r\nSTLS\r\n" LOGIN "CAPA\r\n");
	expect(fx, GREETING "+OK Capability list follows\r\n"
	    "TOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\n"
	    "USER\r\nSASL PLAIN LOGIN\r\nIMPLEMENTATION Postroom\r\n.\r\n"
	    "-ERR TLS is already active.\r\n" LOGGED_IN
	    "+OK Capability list follows\r\n"
	    "TOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\n"
	    "IMPLEMENTATION Postroom\r\n.\r\n");
	sfree(&s);
	/* Loopback with plaintext_auth_loopback = no. */
	fx->peer.tls = false;
	fx->peer.loopback = true;
	fx->env.limits.plaintext_auth_loopback = false;
	s = sopen(fx);
	drive(fx, s, "USER alice@example.test\r\n");
	expect(fx, GREETING
	    "-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.\r\n");
	sfree(&s);
}

/* The session after login, the whole RFC 1939 transaction set. */
static char *
transaction_script(struct fx *fx, size_t chunk)
{
	static const char in[] = LOGIN "STAT\r\nLIST\r\nLIST 2\r\nUIDL 3\r\nNOOP\r\n"
	    "RETR 1\r\nTOP 3 1\r\nDELE 2\r\nLIST 2\r\nUIDL 2\r\nRETR 2\r\nDELE 2\r\n"
	    "STAT\r\nRSET\r\nSTAT\r\nDELE 1\r\nQUIT\r\n";
	struct host_double	*s = sopen(fx);
	char	*r;

	drive_n(fx, s, in, sizeof(in) - 1, chunk);
	r = take(fx);
	sfree(&s);
	return r;
}

static void
test_transaction(void **state)
{
	struct fx		*fx = *state;
	struct mailbox		*mb;
	const struct msg_info	*msgs;
	struct mailbox_status	 st;
	const char		*error;
	char			*want, *got, u[3][24];
	size_t			 n, i, s1 = crlf_size(msg1), s2, s3 = crlf_size(msg3);

	/* The expected replies use the index's own sizes and UIDLs. */
	assert_int_equal(mailbox_open(fx->store, fx->alice_maildir, "INBOX", 0, &mb, &error), 0);
	assert_int_equal(mailbox_status(mb, &st), 0);
	assert_int_equal(mailbox_messages(mb, &msgs, &n, &error), 0);
	assert_int_equal(n, 3);
	assert_int_equal(msgs[0].size, s1);
	assert_int_equal(msgs[2].size, s3);
	s2 = msgs[1].size;
	for (i = 0; i < 3; i++)
		store_uidl(st.uidvalidity, msgs[i].uid, u[i]);
	mailbox_close(&mb);

	want = xasprintf(GREETING LOGGED_IN
	    "+OK 3 %zu\r\n"
	    "+OK 3 messages:\r\n1 %zu\r\n2 %zu\r\n3 %zu\r\n.\r\n"
	    "+OK 2 %zu\r\n"
	    "+OK 3 %s\r\n"
	    "+OK\r\n"
	    "+OK %zu octets\r\nSubject: one\r\nFrom: a@example.test\r\n\r\nhello\r\n.\r\n"
	    "+OK\r\nSubject: three\r\nX: y\r\n\r\nb1\r\n.\r\n"
	    "+OK Marked to be deleted.\r\n"
	    "-ERR Message is deleted.\r\n"
	    "-ERR Message is deleted.\r\n"
	    "-ERR Message is deleted.\r\n"
	    "-ERR Message is deleted.\r\n"
	    "+OK 2 %zu\r\n"
	    "+OK 3 messages.\r\n"
	    "+OK 3 %zu\r\n"
	    "+OK Marked to be deleted.\r\n"
	    "+OK Logging out, messages deleted.\r\n",
	    s1 + s2 + s3, s1, s2, s3, s2, u[2], s1, s1 + s3, s1 + s2 + s3);
	/* (test_byte_by_byte_equals_whole covers other input splits.) */
	got = transaction_script(fx, SIZE_MAX);
	assert_string_equal(got, want);
	free(got);
	free(want);

	/* QUIT expunged message 1 durably and set \Seen on nothing else. */
	assert_int_equal(mailbox_open(fx->store, fx->alice_maildir, "INBOX", 0, &mb, &error), 0);
	assert_int_equal(mailbox_messages(mb, &msgs, &n, &error), 0);
	assert_int_equal(n, 2);
	assert_int_equal(msgs[0].size, s2);
	assert_int_equal(msgs[0].flags & MSG_SEEN, 0);
	mailbox_close(&mb);
}

static void
test_byte_by_byte_equals_whole(void **state)
{
	struct fx	*fx = *state;
	static const char in[] = "CAPA\r\n" LOGIN "STAT\r\nLIST\r\nUIDL\r\nRETR 2\r\nTOP 1 0\r\n"
	    "UIDL 1\r\nRETR 7\r\nRSET\r\nQUIT\r\n";
	char		*whole, *got;
	struct host_double	*s;
	size_t		 chunk;

	s = sopen(fx);
	drive(fx, s, in);
	whole = take(fx);
	sfree(&s);
	for (chunk = 1; chunk <= 13; chunk += 6) {
		s = sopen(fx);
		drive_n(fx, s, in, sizeof(in) - 1, chunk);
		got = take(fx);
		assert_string_equal(got, whole);
		free(got);
		sfree(&s);
	}
	free(whole);
}

static void
test_retr_dot_stuffing_exact(void **state)
{
	struct fx	*fx = *state;
	struct host_double	*s = sopen(fx);
	char		*got, *p;

	drive(fx, s, LOGIN "RETR 2\r\nTOP 2 1\r\nTOP 2 0\r\nTOP 2 99999999999999999999\r\nQUIT\r\n");
	got = take(fx);
	p = strstr(got, "+OK Logged in.\r\n");
	assert_non_null(p);
	p += strlen("+OK Logged in.\r\n");
	p = strstr(p, " octets\r\n");
	assert_non_null(p);
	p += strlen(" octets\r\n");
	assert_string_equal(p,
	    "Subject: dots\r\n\r\n..leading dot\r\n...two\r\n..\r\nnot.a.dot\r\n"
	    "last line without LF\r\n.\r\n"
	    "+OK\r\nSubject: dots\r\n\r\n..leading dot\r\n.\r\n"
	    "+OK\r\nSubject: dots\r\n\r\n.\r\n"
	    "+OK\r\nSubject: dots\r\n\r\n..leading dot\r\n...two\r\n..\r\nnot.a.dot\r\n"
	    "last line without LF\r\n.\r\n"
	    "+OK Logging out.\r\n");
	free(got);
	sfree(&s);
}

static void
test_bad_message_numbers(void **state)
{
	struct fx	*fx = *state;
	struct host_double	*s = sopen(fx);

	drive(fx, s, LOGIN "RETR 0\r\nRETR -1\r\nRETR 1099511627776\r\nRETR x\r\nRETR\r\n"
	    "RETR 1 2\r\nLIST 4\r\nUIDL 99999999999999999999999\r\nDELE +1\r\nTOP 1\r\n"
	    "TOP 1 -1\r\nTOP 9 1\r\nLIST 1 2\r\nNOOP\r\n");
	expect(fx, GREETING LOGGED_IN
	    "-ERR There's no message 0.\r\n"
	    "-ERR Invalid message number.\r\n"
	    "-ERR There's no message 1099511627776.\r\n"
	    "-ERR Invalid message number.\r\n"
	    "-ERR Invalid message number.\r\n"
	    "-ERR RETR needs one message number.\r\n"
	    "-ERR There's no message 4.\r\n"
	    "-ERR There's no message 99999999999999999999.\r\n"
	    "-ERR Invalid message number.\r\n"
	    "-ERR TOP needs a message number and a line count.\r\n"
	    "-ERR Invalid number of lines.\r\n"
	    "-ERR There's no message 9.\r\n"
	    "-ERR Too many arguments.\r\n"
	    "+OK\r\n");
	assert_int_equal(host_double_want(s), SESSION_READ);
	sfree(&s);
}

static void
test_wrong_state(void **state)
{
	struct fx	*fx = *state;
	struct host_double	*s = sopen(fx);
	static const char *const txn[] = { "STAT", "LIST", "UIDL", "RETR 1", "TOP 1 1",
	    "DELE 1", "NOOP", "RSET" };
	size_t		 i;
	char		 line[32];

	for (i = 0; i < sizeof(txn) / sizeof(txn[0]); i++) {
		snprintf(line, sizeof(line), "%s\r\n", txn[i]);
		drive(fx, s, line);
	}
	drive(fx, s, "PASS alice-pw\r\nFOO\r\n\r\n" LOGIN "USER x\r\nPASS y\r\nAUTH PLAIN\r\n"
	    "STLS\r\nAPOP alice 0123456789abcdef0123456789abcdef\r\n");
	expect(fx, GREETING
	    "-ERR Unknown command: STAT (log in first)\r\n"
	    "-ERR Unknown command: LIST (log in first)\r\n"
	    "-ERR Unknown command: UIDL (log in first)\r\n"
	    "-ERR Unknown command: RETR (log in first)\r\n"
	    "-ERR Unknown command: TOP (log in first)\r\n"
	    "-ERR Unknown command: DELE (log in first)\r\n"
	    "-ERR Unknown command: NOOP (log in first)\r\n"
	    "-ERR Unknown command: RSET (log in first)\r\n"
	    "-ERR No username given.\r\n"
	    "-ERR Unknown command.\r\n"
	    "-ERR Unknown command.\r\n"
	    LOGGED_IN
	    "-ERR Unknown command: USER (already logged in)\r\n"
	    "-ERR Unknown command: PASS (already logged in)\r\n"
	    "-ERR Unknown command: AUTH (already logged in)\r\n"
	    "-ERR Unknown command: STLS (already logged in)\r\n"
	    "-ERR Unknown command.\r\n");
	sfree(&s);
}

static void
test_login_failures(void **state)
{
	struct fx	*fx = *state;
	struct host_double	*s = sopen(fx);

	drive(fx, s, "USER alice@example.test\r\nPASS wrong\r\nPASS alice-pw\r\n"
	    "USER nobody@example.test\r\nPASS alice-pw\r\nUSER\r\n"
	    "user ALICE@example.test\r\npass alice-pw\r\nstat\r\n");
	expect_prefix(fx, GREETING "+OK\r\n-ERR [AUTH] Authentication failed.\r\n"
	    "-ERR No username given.\r\n"
	    "+OK\r\n-ERR [AUTH] Authentication failed.\r\n"
	    "-ERR No username given.\r\n"
	    LOGGED_IN "+OK 3 ");
	sfree(&s);
}

/*
 * A login is a job on the workq: the session pauses, the host holds the
 * commands pipelined behind it, and nothing answers until the job is back.
 */
static void
test_login_pauses(void **state)
{
	static const char	 in[] = "USER alice@example.test\r\nPASS alice-pw\r\nSTAT\r\nNOOP\r\n";
	struct fx		*fx = *state;
	struct host_double	*s = sopen(fx);

	free(take(fx));
	host_double_input(s, in, sizeof(in) - 1);
	assert_int_equal(buf_len(host_double_output(s)), 5);	/* USER's +OK only */
	assert_memory_equal(buf_head(host_double_output(s)), "+OK\r\n", 5);
	assert_int_equal(host_double_want(s), SESSION_PAUSE);
	assert_int_equal(host_double_jobs(s), 1);
	assert_int_equal(host_double_held(s), strlen("STAT\r\nNOOP\r\n"));
	assert_non_null(fx->s->login);
	pump(fx, s);
	expect_prefix(fx, "+OK\r\n+OK Logged in.\r\n+OK 3 ");
	assert_null(fx->s->login);
	assert_null(fx->s->open_job);
	assert_int_equal(host_double_held(s), 0);
	sfree(&s);
	/* A failed login, then STLS: the plaintext behind STLS is dropped by the host. */
	s = sopen(fx);
	drive(fx, s, "USER alice@example.test\r\nPASS wrong\r\nSTLS\r\nUSER x\r\nPASS y\r\n");
	expect(fx, GREETING "+OK\r\n-ERR [AUTH] Authentication failed.\r\n"
	    "+OK Begin TLS negotiation now.\r\n");
	assert_int_equal(host_double_want(s), SESSION_STARTTLS);
	assert_int_equal(host_double_held(s), 0);
	sfree(&s);
	/* The server stops while the password is checked: the job ends alone. */
	s = sopen(fx);
	host_double_input(s, LOGIN, strlen(LOGIN));
	assert_int_equal(host_double_jobs(s), 1);
	sfree(&s);
	free(take(fx));
	/* SASL too, and the commands after it wait for its answer. */
	s = sopen(fx);
	drive(fx, s, "AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABhbGljZS1wdw==\r\nSTAT\r\n");
	expect_prefix(fx, GREETING "+OK Logged in.\r\n+OK 3 ");
	sfree(&s);
}

/* Jobs submitted and not yet done over all sessions; never above the bound. */
static size_t
hashing(struct fx *fx, struct host_double **d, size_t n)
{
	size_t	 i, jobs = 0;

	for (i = 0; i < n; i++)
		jobs += d[i] != NULL ? host_double_jobs(d[i]) : 0;
	assert_int_equal(jobs, turnq_running(fx->env.authq));
	assert_true(jobs <= 2);
	return jobs;
}

static void
test_hashes_bounded(void **state)
{
	static const char	*in[] = {
		LOGIN, "USER bob@example.test\r\nPASS alice-pw\r\n",
		"USER alice@example.test\r\nPASS wrong\r\n", "USER nobody@example.test\r\nPASS x\r\n",
		"USER bob@example.test\r\nPASS wrong\r\n", "USER bob@example.test\r\nPASS y\r\n",
	};
	static const char	*want[] = {
		LOGGED_IN, LOGGED_IN, "+OK\r\n-ERR [AUTH] Authentication failed.\r\n",
		"+OK\r\n-ERR [AUTH] Authentication failed.\r\n",
		"+OK\r\n-ERR [AUTH] Authentication failed.\r\n", NULL,
	};
	struct fx		*fx = *state;
	struct host_double	*d[6];
	size_t			 i, n = 6;
	bool			 ran;

	turnq_set_max(fx->env.authq, 2);
	for (i = 0; i < n; i++) {
		d[i] = sopen(fx);
		host_double_input(d[i], in[i], strlen(in[i]));
		assert_true(hashing(fx, d, i + 1) <= 2);
	}
	free(take(fx));
	assert_int_equal(hashing(fx, d, n), 2);
	assert_int_equal(host_double_jobs(d[0]) + host_double_jobs(d[1]), 2);	/* first come */
	sfree(&d[5]);			/* gone before its turn: its check never runs */
	n = 5;
	do {
		ran = false;
		for (i = 0; i < n; i++) {
			if (host_double_jobs(d[i]) == 0)
				continue;
			pump(fx, d[i]);
			ran = true;
			assert_true(hashing(fx, d, n) <= 2);
			expect(fx, want[i]);
		}
	} while (ran);
	assert_int_equal(turnq_running(fx->env.authq), 0);
	assert_int_equal(turnq_waiting(fx->env.authq), 0);
	for (i = 0; i < n; i++)
		sfree(&d[i]);
}

/*
 * Maildrop opens take turns: a good login's open waits while another
 * runs, and one whose session goes away before its turn never runs.
 */
static void
test_opens_bounded(void **state)
{
	struct fx		*fx = *state;
	struct host_double	*a, *b, *gone;

	turnq_set_max(fx->env.openq, 1);
	a = sopen(fx);
	host_double_input(a, LOGIN, strlen(LOGIN));
	assert_true(host_double_run_job(a));		/* the check; its open is queued */
	assert_int_equal(host_double_jobs(a), 1);
	b = sopen(fx);
	host_double_input(b, "USER bob@example.test\r\nPASS alice-pw\r\n", 38);
	assert_true(host_double_run_job(b));
	gone = sopen(fx);
	host_double_input(gone, LOGIN, strlen(LOGIN));
	assert_true(host_double_run_job(gone));
	assert_int_equal(turnq_running(fx->env.openq), 1);
	assert_int_equal(turnq_waiting(fx->env.openq), 2);
	assert_int_equal(host_double_jobs(b), 0);
	assert_int_equal(host_double_want(b), SESSION_PAUSE);
	sfree(&gone);					/* never opens */
	assert_int_equal(turnq_waiting(fx->env.openq), 1);
	free(take(fx));
	pump(fx, a);					/* a opens; then b's turn */
	expect(fx, LOGGED_IN);
	assert_int_equal(host_double_jobs(b), 1);
	assert_int_equal(turnq_waiting(fx->env.openq), 0);
	pump(fx, b);
	expect(fx, LOGGED_IN);
	drive(fx, b, "STAT\r\n");
	expect(fx, "+OK 0 0\r\n");
	assert_int_equal(turnq_running(fx->env.openq), 0);
	sfree(&a);
	sfree(&b);
}

static void
test_in_use_and_user_limit(void **state)
{
	struct fx	*fx = *state;
	struct host_double	*a = sopen(fx), *b;
	unsigned	 slot;

	drive(fx, a, LOGIN);
	expect(fx, GREETING LOGGED_IN);
	b = sopen(fx);
	drive(fx, b, LOGIN "STAT\r\n");
	expect(fx, GREETING "+OK\r\n-ERR [IN-USE] Mailbox is locked by another POP3 session.\r\n"
	    "-ERR Unknown command: STAT (log in first)\r\n");
	sfree(&b);
	/* Dropped without QUIT: the lock goes, nothing is deleted. */
	drive(fx, a, "DELE 1\r\nDELE 2\r\n");
	sfree(&a);
	free(take(fx));
	fx->env.limits.max_connections_per_user = 1;
	a = sopen(fx);
	drive(fx, a, LOGIN "STAT\r\n");
	expect_prefix(fx, GREETING LOGGED_IN "+OK 3 ");
	b = sopen(fx);
	drive(fx, b, LOGIN);
	expect(fx, GREETING "+OK\r\n-ERR [IN-USE] Too many connections for this user.\r\n");
	sfree(&b);
	sfree(&a);
	/* alice's session on another worker (owner 1 of the table) counts too. */
	conntab_set_owner(fx->env.conntab, 1);
	assert_int_equal(conntab_acquire(fx->env.conntab, CONNTAB_USER, "alice@example.test", 1,
	    &slot), CONNTAB_OK);
	conntab_set_owner(fx->env.conntab, 0);
	b = sopen(fx);
	drive(fx, b, LOGIN);
	expect(fx, GREETING "+OK\r\n-ERR [IN-USE] Too many connections for this user.\r\n");
	sfree(&b);
	assert_int_equal(conntab_reclaim(fx->env.conntab, 1), 1);
	assert_int_equal(conntab_count(fx->env.conntab, CONNTAB_USER, "alice@example.test"), 0);
}

static void
test_overlong_line_and_nul(void **state)
{
	struct fx	*fx = *state;
	struct host_double	*s = sopen(fx);
	char		 big[5000];

	memset(big, 'A', sizeof(big));
	drive_n(fx, s, big, sizeof(big), sizeof(big));
	drive_n(fx, s, "\r\nNOOP\r\nCAPA\0x\r\nQUIT\r\n", 22, 22);
	expect(fx, GREETING "-ERR line too long\r\n-ERR Unknown command: NOOP (log in first)\r\n"
	    "-ERR NUL byte in command\r\n+OK Logging out.\r\n");
	sfree(&s);
	/* Byte by byte through an over-long line. */
	s = sopen(fx);
	drive_n(fx, s, big, sizeof(big), 1);
	drive_n(fx, s, "\r\nQUIT\r\n", 8, 1);
	expect(fx, GREETING "-ERR line too long\r\n+OK Logging out.\r\n");
	sfree(&s);
}

static void
test_ten_thousand_pipelined(void **state)
{
	struct fx	*fx = *state;
	struct buf	*in = buf_new(1024 * 1024), *want = buf_new(1024 * 1024);
	struct host_double	*s;
	char		*got, *w;
	int		 i;

	buf_puts(in, LOGIN);
	buf_puts(want, GREETING LOGGED_IN);
	for (i = 0; i < 10000; i++) {
		buf_puts(in, i % 2 ? "NOOP\r\n" : "LIST 1\r\n");
		buf_printf(want, i % 2 ? "+OK\r\n" : "+OK 1 %zu\r\n", crlf_size(msg1));
	}
	buf_puts(in, "QUIT\r\n");
	buf_puts(want, "+OK Logging out.\r\n");
	/* A small output buffer: the session must pause and resume, not fail. */
	fx->out_max = 16 * 1024;
	s = sopen(fx);
	drive_n(fx, s, buf_head(in), buf_len(in), buf_len(in));
	got = take(fx);
	w = buf_strdup(want);
	assert_string_equal(got, w);
	free(got);
	free(w);
	sfree(&s);
	buf_free(&in);
	buf_free(&want);
}

static void
test_too_many_bad_commands(void **state)
{
	struct fx	*fx = *state;
	struct buf	*want = buf_new(64 * 1024);
	struct host_double	*s = sopen(fx);
	char		*w;
	int		 i;

	buf_puts(want, GREETING);
	for (i = 0; i < 19; i++) {
		drive(fx, s, "BOGUS\r\n");
		buf_puts(want, "-ERR Unknown command.\r\n");
	}
	drive(fx, s, "NOOP\r\n");
	buf_puts(want, "-ERR Unknown command: NOOP (log in first)\r\n"
	    "-ERR Too many bad commands, closing.\r\n");
	assert_int_equal(host_double_want(s), SESSION_CLOSE);
	w = buf_strdup(want);
	expect(fx, w);
	free(w);
	buf_free(&want);
	sfree(&s);
	/* A good command resets the count. */
	s = sopen(fx);
	for (i = 0; i < 50; i++)
		drive(fx, s, i % 10 == 9 ? "CAPA\r\n" : "BOGUS\r\n");
	assert_int_equal(host_double_want(s), SESSION_READ);
	free(take(fx));
	sfree(&s);
}

static void
test_auth(void **state)
{
	struct fx	*fx = *state;
	struct host_double	*s = sopen(fx);

	drive(fx, s, "AUTH\r\nAUTH CRAM-MD5\r\n");
	expect(fx, GREETING "+OK\r\nPLAIN\r\nLOGIN\r\n.\r\n"
	    "-ERR Unsupported authentication mechanism.\r\n");
	drive(fx, s, "AUTH PLAIN !!!\r\n");
	expect_prefix(fx, "-ERR Invalid SASL response");
	drive(fx, s, "AUTH PLAIN\r\n*\r\n");
	expect(fx, "+ \r\n-ERR Authentication cancelled.\r\n");
	drive(fx, s, "AUTH PLAIN\r\nnot base64\r\n");
	expect_prefix(fx, "+ \r\n-ERR Invalid SASL response");
	/* LOGIN, wrong password: a failed login, the session goes on. */
	drive(fx, s, "AUTH LOGIN\r\nYWxpY2VAZXhhbXBsZS50ZXN0\r\nd3Jvbmc=\r\n");
	expect_prefix(fx, "+ ");
	drive(fx, s, "AUTH LOGIN YWxpY2VAZXhhbXBsZS50ZXN0\r\n*\r\n");
	expect_prefix(fx, "+ ");
	/* "\0alice@example.test\0alice-pw" as SASL-IR, byte by byte. */
	drive_n(fx, s, "AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABhbGljZS1wdw==\r\nSTAT\r\n",
	    59, 1);
	expect_prefix(fx, "+OK Logged in.\r\n+OK 3 ");
	sfree(&s);
	/* Continuation form, with LOGIN. */
	s = sopen(fx);
	drive(fx, s, "AUTH LOGIN\r\n");
	expect_prefix(fx, GREETING "+ ");
	drive(fx, s, "YWxpY2VAZXhhbXBsZS50ZXN0\r\n");
	expect_prefix(fx, "+ ");
	drive(fx, s, "YWxpY2UtcHc=\r\n");
	expect(fx, "+OK Logged in.\r\n");
	sfree(&s);
}

static void
test_stls(void **state)
{
	struct fx	*fx = *state;
	struct host_double	*s = sopen(fx);

	fx->peer.loopback = false;
	/* Plaintext pipelined after STLS is thrown away, never executed. */
	drive(fx, s, "STLS\r\nUSER alice@example.test\r\nPASS alice-pw\r\n");
	expect(fx, GREETING "+OK Begin TLS negotiation now.\r\n");
	assert_int_equal(host_double_want(s), SESSION_STARTTLS);
	assert_int_equal(host_double_held(s), 0);
	drive(fx, s, "NOOP\r\n");		/* before the handshake: dropped */
	host_double_tls(s);
	assert_true(fx->peer.tls);
	assert_int_equal(host_double_want(s), SESSION_READ);
	expect(fx, "");
	drive(fx, s, "STLS\r\nSTAT\r\n" LOGIN "STAT\r\n");
	expect_prefix(fx, "-ERR TLS is already active.\r\n"
	    "-ERR Unknown command: STAT (log in first)\r\n" LOGGED_IN "+OK 3 ");
	sfree(&s);
	/* No certificate: no STLS. */
	fx->peer.tls = false;
	fx->env.tls_available = false;
	s = sopen(fx);
	drive(fx, s, "STLS\r\n");
	expect(fx, GREETING "-ERR TLS support isn't enabled.\r\n");
	sfree(&s);
}

static void
test_mark_seen_and_timeout(void **state)
{
	struct fx		*fx = *state;
	struct mailbox		*mb;
	const struct msg_info	*msgs;
	const char		*error;
	size_t			 n;
	struct host_double	*s = sopen(fx);

	/* Timeout: farewell, close, no UPDATE. */
	drive(fx, s, LOGIN "RETR 1\r\nDELE 2\r\n");
	free(take(fx));
	assert_int_equal(host_double_deadline(s), 600000);
	host_double_advance(s, 599999);
	assert_int_equal(host_double_want(s), SESSION_READ);
	host_double_advance(s, 1);
	pump(fx, s);
	expect(fx, "-ERR Disconnected for inactivity.\r\n");
	assert_int_equal(host_double_want(s), SESSION_CLOSE);
	sfree(&s);
	/* RETR then QUIT: \Seen on message 1 only; TOP does not mark. */
	s = sopen(fx);
	drive(fx, s, LOGIN "RETR 1\r\nTOP 3 1\r\nQUIT\r\n");
	sfree(&s);
	free(take(fx));
	assert_int_equal(mailbox_open(fx->store, fx->alice_maildir, "INBOX", 0, &mb, &error), 0);
	assert_int_equal(mailbox_messages(mb, &msgs, &n, &error), 0);
	assert_int_equal(n, 3);
	assert_int_equal(msgs[0].flags & MSG_SEEN, MSG_SEEN);
	assert_int_equal(msgs[1].flags & MSG_SEEN, 0);
	assert_int_equal(msgs[2].flags & MSG_SEEN, 0);
	mailbox_close(&mb);
	/* mark_seen = no */
	fx->env.limits.mark_seen = false;
	s = sopen(fx);
	drive(fx, s, LOGIN "RETR 2\r\nQUIT\r\n");
	sfree(&s);
	free(take(fx));
	assert_int_equal(mailbox_open(fx->store, fx->alice_maildir, "INBOX", 0, &mb, &error), 0);
	assert_int_equal(mailbox_messages(mb, &msgs, &n, &error), 0);
	assert_int_equal(msgs[1].flags & MSG_SEEN, 0);
	mailbox_close(&mb);
}

/* An IMAP client expunges and flags behind the POP3 session's back. */
static void
test_concurrent_changes(void **state)
{
	struct fx		*fx = *state;
	struct mailbox		*mb;
	const struct msg_info	*msgs;
	const char		*error;
	uint32_t		 uid;
	size_t			 n;
	char			*got, *p;
	struct host_double	*s = sopen(fx);

	drive(fx, s, LOGIN);
	free(take(fx));
	assert_int_equal(mailbox_open(fx->store, fx->alice_maildir, "INBOX", 0, &mb, &error), 0);
	assert_int_equal(mailbox_messages(mb, &msgs, &n, &error), 0);
	uid = msgs[1].uid;
	assert_int_equal(mailbox_expunge(mb, &uid, 1, &error), 0);
	uid = msgs[0].uid;
	assert_int_equal(mailbox_store_flags(mb, &uid, 1, FLAGS_ADD, MSG_FLAGGED, NULL, &error), 0);
	mailbox_close(&mb);
	/*
	 * The snapshot still lists message 2; fetching it fails cleanly, and
	 * counts as a bad command once the lookup job answered; message 1
	 * (renamed) is found by its job, which resets the count.
	 */
	drive(fx, s, "RETR 2\r\n");
	assert_int_equal(fx->s->bad_commands, 1);
	drive(fx, s, "RETR 1\r\n");
	assert_int_equal(fx->s->bad_commands, 0);
	free(take(fx));
	drive(fx, s, "STAT\r\nRETR 2\r\nTOP 2 0\r\nRETR 1\r\nDELE 2\r\nDELE 3\r\nQUIT\r\n");
	got = take(fx);
	assert_memory_equal(got, "+OK 3 ", 6);
	p = strstr(got, "\r\n-ERR Message is no longer available.\r\n"
	    "-ERR Message is no longer available.\r\n+OK ");
	assert_non_null(p);
	assert_non_null(strstr(p, ".\r\n+OK Marked to be deleted.\r\n+OK Marked to be deleted.\r\n"
	    "+OK Logging out, messages deleted.\r\n"));
	free(got);
	sfree(&s);
	assert_int_equal(mailbox_open(fx->store, fx->alice_maildir, "INBOX", 0, &mb, &error), 0);
	assert_int_equal(mailbox_messages(mb, &msgs, &n, &error), 0);
	assert_int_equal(n, 1);
	assert_int_equal(msgs[0].flags & (MSG_SEEN | MSG_FLAGGED), MSG_SEEN | MSG_FLAGGED);
	mailbox_close(&mb);
	s = sopen(fx);
	drive(fx, s, LOGIN "RETR 2\r\nTOP 2 0\r\n");
	expect(fx, GREETING LOGGED_IN "-ERR There's no message 2.\r\n"
	    "-ERR There's no message 2.\r\n");
	sfree(&s);
}

/* Messages in alice's INBOX, as another process sees them. */
static size_t
inbox_count(struct fx *fx)
{
	struct mailbox		*mb;
	const struct msg_info	*msgs;
	const char		*error;
	size_t			 n;

	assert_int_equal(mailbox_open(fx->store, fx->alice_maildir, "INBOX", 0, &mb, &error), 0);
	assert_int_equal(mailbox_messages(mb, &msgs, &n, &error), 0);
	mailbox_close(&mb);
	return n;
}

/* Add flag to alice's first message from another handle: its file is renamed. */
static void
flag_first(struct fx *fx, uint32_t flag)
{
	struct mailbox		*mb;
	const struct msg_info	*msgs;
	const char		*error;
	uint32_t		 uid;
	size_t			 n;

	assert_int_equal(mailbox_open(fx->store, fx->alice_maildir, "INBOX", 0, &mb, &error), 0);
	assert_int_equal(mailbox_messages(mb, &msgs, &n, &error), 0);
	uid = msgs[0].uid;
	assert_int_equal(mailbox_store_flags(mb, &uid, 1, FLAGS_ADD, flag, NULL, &error), 0);
	mailbox_close(&mb);
}

/*
 * A message renamed since the snapshot is looked up off the loop: RETR
 * pauses on a job, the next command waits for it, and the message comes
 * once it ran.  A session freed while the lookup is queued leaves the
 * mailbox to the job, which closes it: the maildrop is free after.
 */
static void
test_renamed_lookup_is_a_job(void **state)
{
	struct fx		*fx = *state;
	struct host_double	*s = sopen(fx);
	char			*got;

	drive(fx, s, LOGIN);
	free(take(fx));
	flag_first(fx, MSG_FLAGGED);
	host_double_input(s, "RETR 1\r\nNOOP\r\n", 14);
	assert_int_equal(buf_len(host_double_output(s)), 0);
	assert_int_equal(host_double_want(s), SESSION_PAUSE);
	assert_int_equal(host_double_jobs(s), 1);
	pump(fx, s);
	got = take(fx);
	assert_memory_equal(got, "+OK ", 4);
	assert_non_null(strstr(got, " octets\r\nSubject: one\r\n"));
	assert_non_null(strstr(got, "hello\r\n.\r\n+OK\r\n"));
	free(got);
	drive(fx, s, "QUIT\r\n");
	expect(fx, "+OK Logging out.\r\n");
	sfree(&s);
	/* Freed with the lookup queued. */
	s = sopen(fx);
	drive(fx, s, LOGIN);
	flag_first(fx, MSG_ANSWERED);
	host_double_input(s, "RETR 1\r\n", 8);
	assert_int_equal(host_double_jobs(s), 1);
	sfree(&s);
	s = sopen(fx);
	free(take(fx));
	drive(fx, s, LOGIN "STAT\r\n");
	got = take(fx);
	assert_memory_equal(got, LOGGED_IN "+OK 3 ", strlen(LOGGED_IN "+OK 3 "));
	free(got);
	sfree(&s);
}

/*
 * QUIT's UPDATE is a job: no answer and no expunge before it runs, the
 * session pauses meanwhile, and +OK comes once the deletions are done.
 * A session freed while its UPDATE runs (the server stops) still has its
 * deletions made, and the mailbox lock released.
 */
static void
test_quit_update_is_a_job(void **state)
{
	struct fx		*fx = *state;
	struct host_double	*s = sopen(fx);

	drive(fx, s, LOGIN "DELE 1\r\nDELE 3\r\n");
	free(take(fx));
	host_double_input(s, "QUIT\r\nNOOP\r\n", 12);
	assert_int_equal(buf_len(host_double_output(s)), 0);
	assert_int_equal(host_double_want(s), SESSION_PAUSE);
	assert_int_equal(host_double_jobs(s), 1);
	assert_null(fx->s->mb);			/* the job owns the mailbox now */
	assert_int_equal(inbox_count(fx), 3);
	pump(fx, s);
	expect(fx, "+OK Logging out, messages deleted.\r\n");
	assert_int_equal(host_double_want(s), SESSION_CLOSE);
	assert_int_equal(inbox_count(fx), 1);
	sfree(&s);
	/* Freed with the UPDATE queued: it runs alone, and the lock is free after. */
	s = sopen(fx);
	drive(fx, s, LOGIN "DELE 1\r\n");
	host_double_input(s, "QUIT\r\n", 6);
	assert_int_equal(host_double_jobs(s), 1);
	sfree(&s);
	assert_int_equal(inbox_count(fx), 0);
	s = sopen(fx);
	free(take(fx));
	drive(fx, s, LOGIN "STAT\r\n");
	expect(fx, LOGGED_IN "+OK 0 0\r\n");
	sfree(&s);
}

static void
test_shutdown(void **state)
{
	struct fx	*fx = *state;
	struct host_double	*s = sopen(fx);
	char		*big, *got;

	/* Idle: farewell at once, no UPDATE. */
	drive(fx, s, LOGIN "DELE 1\r\n");
	free(take(fx));
	host_double_shutdown(s);
	pump(fx, s);
	expect(fx, "-ERR [SYS/TEMP] Server shutting down.\r\n");
	assert_int_equal(host_double_want(s), SESSION_CLOSE);
	sfree(&s);
	/* A login in progress is answered first; the command behind it is not run. */
	s = sopen(fx);
	host_double_input(s, LOGIN "STAT\r\n", strlen(LOGIN "STAT\r\n"));
	assert_int_equal(host_double_want(s), SESSION_PAUSE);
	host_double_shutdown(s);
	pump(fx, s);
	expect(fx, GREETING LOGGED_IN "-ERR [SYS/TEMP] Server shutting down.\r\n");
	assert_int_equal(host_double_want(s), SESSION_CLOSE);
	sfree(&s);
	/* In a streamed reply: the reply is finished first, STAT is not run. */
	big = xcalloc(1, 100001);
	memset(big, 'x', 100000);
	memcpy(big, "Subject: big\n\n", 14);	/* no final LF: CRLF added */
	deliver(fx, fx->alice_maildir, big);
	fx->out_max = 4096;
	s = sopen(fx);
	drive(fx, s, LOGIN);
	free(take(fx));
	host_double_input(s, "RETR 4\r\nSTAT\r\n", 14);
	host_double_shutdown(s);
	assert_true(host_double_streaming(s));
	assert_int_equal(host_double_want(s), SESSION_READ);
	pump(fx, s);
	got = take(fx);
	assert_int_equal(strlen(got), strlen("+OK 100002 octets\r\n") + 100000 + 4 +
	    strlen(".\r\n-ERR [SYS/TEMP] Server shutting down.\r\n"));
	assert_string_equal(got + strlen(got) - 45, "x\r\n.\r\n-ERR [SYS/TEMP] Server shutting down.\r\n");
	assert_int_equal(host_double_want(s), SESSION_CLOSE);
	free(got);
	free(big);
	sfree(&s);
	assert_int_equal(conntab_count(fx->env.conntab, CONNTAB_USER, "alice@example.test"), 0);
}

/* The replies of a session running cmds with read_ahead messages opened ahead (malloc'd). */
static char *
run_with_read_ahead(struct fx *fx, unsigned read_ahead, const char *cmds)
{
	struct host_double	*s;
	char			*got;

	fx->env.limits.read_ahead = read_ahead;
	s = sopen(fx);
	drive(fx, s, LOGIN);
	free(take(fx));
	drive(fx, s, cmds);
	got = take(fx);
	sfree(&s);
	return got;
}

/*
 * Read-ahead changes no reply: in order, backwards, TOP of a message
 * opened ahead, a deleted one skipped, and a window wider than the rest of
 * the maildrop.  RSET keeps the session, QUIT does not UPDATE after it.
 */
static void
test_read_ahead(void **state)
{
	static const char	 cmds[] = "RETR 1\r\nRETR 2\r\nRETR 3\r\nRETR 1\r\nTOP 3 1\r\n"
	    "RETR 2\r\nTOP 3 0\r\nRETR 3\r\nDELE 2\r\nRETR 1\r\nRETR 3\r\nRSET\r\nQUIT\r\n";
	struct fx		*fx = *state;
	struct host_double	*s;
	char			*base, *got;
	unsigned		 n;

	fx->env.limits.mark_seen = false;
	base = run_with_read_ahead(fx, 0, cmds);
	assert_non_null(strstr(base, "+OK Marked to be deleted."));
	for (n = 1; n <= POP3_AHEAD_MAX; n *= 4) {
		got = run_with_read_ahead(fx, n, cmds);
		assert_string_equal(got, base);
		free(got);
	}
	free(base);
	/* The window: after RETR 1, messages 2 and 3 (of 3) are open, once. */
	fx->env.limits.read_ahead = 4;
	s = sopen(fx);
	drive(fx, s, LOGIN "RETR 1\r\n");
	assert_int_equal(fx->s->nahead, 2);
	assert_int_equal(fx->s->ahead[0].idx, 1);
	assert_int_equal(fx->s->ahead[1].idx, 2);
	drive(fx, s, "RETR 2\r\n");
	assert_int_equal(fx->s->nahead, 1);
	drive(fx, s, "RETR 1\r\n");	/* backwards: the window is kept */
	assert_int_equal(fx->s->nahead, 1);
	free(take(fx));
	sfree(&s);
}

/* The replies to cmds sent one at a time, each after the last reply (malloc'd). */
static char *
run_one_at_a_time(struct fx *fx, unsigned read_ahead, const char *const *cmds,
    const enum pop3_staged *staged)
{
	struct host_double	*s;
	size_t			 i;

	fx->env.limits.read_ahead = read_ahead;
	s = sopen(fx);
	drive(fx, s, LOGIN);
	free(take(fx));
	for (i = 0; cmds[i] != NULL; i++) {
		drive(fx, s, cmds[i]);
		if (staged == NULL)
			continue;
		assert_int_equal(fx->s->nahead > 0 ? fx->s->ahead[0].staged : POP3_STAGED_NONE,
		    staged[i]);
		if (staged[i] == POP3_STAGED_NONE)
			assert_int_equal(buf_len(&fx->s->staged), 0);
		else
			assert_true(buf_len(&fx->s->staged) > 0);
	}
	sfree(&s);
	return take(fx);
}

/* nftw: the file in new/ holding text, renamed with S=20000 said as S=4000. */
static const char	*misnamed_text;

static int
misname_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	char	 head[64] = "", to[PATH_MAX], *sz;
	FILE	*f;

	(void)sb;
	(void)ftw;
	if (type != FTW_F || strstr(path, "/new/") == NULL || (sz = strstr(path, ",S=20000")) == NULL)
		return 0;
	assert_non_null(f = fopen(path, "r"));
	(void)fread(head, 1, strlen(misnamed_text), f);
	fclose(f);
	if (strncmp(head, misnamed_text, strlen(misnamed_text)) != 0)
		return 0;
	snprintf(to, sizeof(to), "%.*s,S=4000%s", (int)(sz - path), path, sz + 8);
	assert_int_equal(rename(path, to), 0);
	return 1;
}

/*
 * Once a RETR's reply is out the next message, if small, is staged: read
 * and converted before its RETR comes.  Replies are those of a session
 * without read-ahead: a staged message sent whole; one ending on a 4 KB
 * page staged in part (its end is only known at the next read); one whose
 * name says 4,000 bytes of its 20,000 staged in part, the rest streamed
 * after it; one of 16 KB or more not staged; a TOP of a staged message
 * reading it again; a RETR after it dropping its staging, one before it
 * keeping it.
 */
static void
test_read_ahead_staged(void **state)
{
	static const char *const cmds[] = { "RETR 1\r\n", "RETR 2\r\n", "TOP 3 1\r\n",
	    "RETR 3\r\n", "RETR 4\r\n", "RETR 5\r\n", "RETR 6\r\n", "RETR 1\r\n",
	    "DELE 2\r\n", "RETR 3\r\n", "RETR 3\r\n", "RETR 4\r\n", "RETR 1\r\n",
	    "RETR 6\r\n", "RSET\r\n", "QUIT\r\n", NULL };
	static const enum pop3_staged staged[] = { POP3_STAGED_ALL, POP3_STAGED_ALL,
	    POP3_STAGED_NONE, POP3_STAGED_PART, POP3_STAGED_PART, POP3_STAGED_NONE,
	    POP3_STAGED_NONE, POP3_STAGED_ALL, POP3_STAGED_ALL, POP3_STAGED_PART,
	    POP3_STAGED_PART, POP3_STAGED_PART, POP3_STAGED_PART, POP3_STAGED_NONE,
	    POP3_STAGED_NONE, POP3_STAGED_NONE };
	struct fx		*fx = *state;
	char			*page, *misnamed, *large, *base, *got;
	size_t			 i;

	page = xcalloc(1, 4097);
	memset(page, 'p', 4096);
	memcpy(page, "Subject: page\n\n", 15);
	for (i = 79; i < 4096; i += 80)
		page[i] = '\n';
	page[4095] = '\n';
	deliver(fx, fx->alice_maildir, page);
	misnamed = xcalloc(1, 20001);
	memset(misnamed, 'm', 20000);
	memcpy(misnamed, "Subject: misnamed\n\n", 19);
	for (i = 99; i < 20000; i += 100)
		misnamed[i] = '\n';
	memcpy(misnamed + 20000 - 6, "\nTAIL\n", 6);
	deliver(fx, fx->alice_maildir, misnamed);
	misnamed_text = "Subject: misnamed";
	assert_int_equal(nftw(fx->alice_maildir, misname_one, 8, FTW_PHYS), 1);
	large = xcalloc(1, 20001);
	memset(large, 'l', 20000);
	memcpy(large, "Subject: large\n\n.", 17);
	deliver(fx, fx->alice_maildir, large);
	fx->env.limits.mark_seen = false;
	base = run_one_at_a_time(fx, 0, cmds, NULL);
	assert_non_null(strstr(base, "\r\n..lll"));
	assert_non_null(strstr(base, "mmm\r\nTAIL\r\n.\r\n"));
	got = run_one_at_a_time(fx, 4, cmds, staged);
	assert_string_equal(got, base);
	free(got);
	free(base);
	free(page);
	free(misnamed);
	free(large);
}

/*
 * Warm files are not advised; a cold read advises the window at once, a
 * second in a row the next POP3_COLD_ADVISE opens too, then reads are
 * probed again; a warm probe in between starts the count again.
 */
static void
test_read_ahead_cold(void **state)
{
	struct fx		*fx = *state;
	struct host_double	*s;
	struct wire_stream	 cold = { .fd = -1 }, warm = { .fd = -1 };

	fx->env.limits.read_ahead = 2;
	s = sopen(fx);
	drive(fx, s, LOGIN "RETR 1\r\n");
	assert_int_equal(fx->s->nahead, 2);
	assert_false(fx->s->ahead[0].ws.advised);
	assert_false(fx->s->ahead[1].ws.advised);
	assert_int_equal(fx->s->advise_left, 0);
	cold.cold = true;
	pop3_ahead_read(fx->s, &cold);
	assert_true(fx->s->ahead[0].ws.advised);
	assert_true(fx->s->ahead[1].ws.advised);
	assert_int_equal(fx->s->advise_left, 0);
	warm.cold = false;
	pop3_ahead_read(fx->s, &warm);
	pop3_ahead_read(fx->s, &cold);
	assert_int_equal(fx->s->advise_left, 0);
	pop3_ahead_read(fx->s, &cold);
	assert_int_equal(fx->s->advise_left, POP3_COLD_ADVISE);
	drive(fx, s, "TOP 1 0\r\n");	/* not in the window: opened, advised */
	assert_int_equal(fx->s->advise_left, POP3_COLD_ADVISE - 1);
	fx->s->advise_left = 1;
	drive(fx, s, "TOP 1 0\r\nTOP 1 0\r\n");
	assert_int_equal(fx->s->advise_left, 0);
	free(take(fx));
	sfree(&s);
}

/* nftw: drop a message file from the page cache; *evicted stays true while it went. */
static bool	evicted;

static int
evict_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	unsigned char	 vec = 0;
	void		*p;
	int		 fd;

	(void)ftw;
	if (type != FTW_F || strstr(path, "/new/") == NULL || sb->st_size == 0)
		return 0;
	assert_true((fd = open(path, O_RDONLY)) != -1);
	assert_int_equal(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
	p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
	assert_true(p != MAP_FAILED);
	assert_int_equal(mincore(p, 4096, &vec), 0);
	munmap(p, 4096);
	close(fd);
	evicted = evicted && !(vec & 1);
	return 0;
}

/*
 * A block of a message that is not in the page cache is read on the workq
 * first: after the +OK the stream pauses on a job, the next command waits,
 * and the message goes out once the job ran.  A session freed meanwhile
 * leaves the job to end alone.
 */
static void
test_cold_block_is_a_job(void **state)
{
	struct fx		*fx = *state;
	struct host_double	*s;
	struct buf		*out;
	char			*got;

	fx->env.limits.read_ahead = 0;
	s = sopen(fx);
	drive(fx, s, LOGIN);
	free(take(fx));
	sync();
	evicted = true;
	assert_int_equal(nftw(fx->alice_maildir, evict_one, 8, FTW_PHYS), 0);
	if (!evicted) {
		sfree(&s);
		skip();		/* tmpfs: the file is the cache */
	}
	host_double_input(s, "RETR 3\r\nNOOP\r\n", 14);
	assert_int_equal(host_double_want(s), SESSION_PAUSE);
	assert_int_equal(host_double_jobs(s), 1);
	out = host_double_output(s);
	assert_memory_equal(buf_head(out), "+OK ", 4);
	assert_null(memmem(buf_head(out), buf_len(out), "Subject", 7));
	pump(fx, s);
	got = take(fx);
	assert_non_null(strstr(got, " octets\r\nSubject: three\r\nX: y\r\n\r\nb1\r\nb2\r\nb3\r\n.\r\n+OK\r\n"));
	free(got);
	assert_int_equal(nftw(fx->alice_maildir, evict_one, 8, FTW_PHYS), 0);
	host_double_input(s, "RETR 1\r\n", 8);
	assert_int_equal(host_double_jobs(s), 1);
	sfree(&s);
}

static int
open_fds(void)
{
	int	 fd, n = 0;

	for (fd = 0; fd < 1024; fd++)
		n += fcntl(fd, F_GETFD) != -1;
	return n;
}

/*
 * A sent file is closed after the round's replies (pop3_ahead_after):
 * RETRs and TOPs pipelined in one packet, each sent before the next
 * starts, leave no descriptor behind, nor does a QUIT among them.
 */
static void
test_read_ahead_closes(void **state)
{
	struct fx		*fx = *state;
	struct host_double	*s;
	int			 before = open_fds();
	char			*got;

	fx->env.limits.read_ahead = 2;
	fx->env.limits.mark_seen = false;
	s = sopen(fx);
	drive(fx, s, LOGIN "RETR 1\r\nRETR 2\r\nTOP 3 0\r\nRETR 3\r\nRETR 1\r\n");
	assert_int_equal(fx->s->sent_fd, -1);
	assert_int_equal(fx->s->nahead, 2);
	drive(fx, s, "RETR 2\r\nQUIT\r\n");
	got = take(fx);
	assert_non_null(strstr(got, "+OK Logging out."));
	free(got);
	sfree(&s);
	assert_int_equal(open_fds(), before);
}

/* The reference conversion, byte by byte: LF -> CRLF (CRLF kept), dot-stuffing. */
static char *
reference_retr(const char *m)
{
	struct buf	*b = buf_new(4 * strlen(m) + 16);
	char		*r;
	size_t		 i;
	bool		 bol = true;

	for (i = 0; m[i] != '\0'; i++) {
		if (bol && m[i] == '.')
			buf_puts(b, ".");
		if (m[i] == '\n' && (i == 0 || m[i - 1] != '\r'))
			buf_puts(b, "\r");
		buf_append(b, &m[i], 1);
		bol = m[i] == '\n';
	}
	if (!bol)
		buf_puts(b, "\r\n");
	buf_puts(b, ".\r\n");
	r = buf_strdup(b);
	buf_free(&b);
	return r;
}

/* CR, LF and '.' exactly at the streamer's 16 KB read boundaries. */
static void
test_chunk_boundaries(void **state)
{
	struct fx	*fx = *state;
	struct buf	*m = buf_new(1024 * 1024);
	char		*text, *want, *got, *p;
	struct host_double	*s;
	int		 i;

	buf_puts(m, "Subject: b\n\n");
	while (buf_len(m) < 16383)
		buf_puts(m, "x");
	buf_puts(m, "\r\n.dot\n");			/* CR at 16383, LF at 16384 */
	while (buf_len(m) < 32767)
		buf_puts(m, "y");
	buf_puts(m, "\n.z\r\n\r\n..\n");		/* '.' starts a line at 32768 */
	for (i = 0; i < 3000; i++)
		buf_puts(m, i % 7 ? "\r\n" : ".\n");
	text = buf_strdup(m);
	buf_free(&m);
	deliver(fx, fx->alice_maildir, text);
	want = reference_retr(text);
	s = sopen(fx);
	drive(fx, s, LOGIN "RETR 4\r\n");
	got = take(fx);
	p = strstr(got, " octets\r\n");
	assert_non_null(p);
	assert_string_equal(p + 9, want);
	free(got);
	free(want);
	free(text);
	sfree(&s);
}

/* A 3 MB message through a 64 KB output buffer: streamed, exact, bounded. */
static void
test_large_message_streams(void **state)
{
	struct fx	*fx = *state;
	struct buf	*m = buf_new(8 * 1024 * 1024), *want = buf_new(16 * 1024 * 1024);
	char		*text, *got, *w, *p;
	struct host_double	*s;
	int		 i;

	buf_puts(m, "Subject: big\n\n");
	for (i = 0; i < 60000; i++)
		buf_printf(m, i % 3 ? "line %d ............................................\n" :
		    ".dot line %d\n", i);
	text = buf_strdup(m);
	buf_free(&m);
	deliver(fx, fx->alice_maildir, text);
	buf_puts(want, "Subject: big\r\n\r\n");
	for (i = 0; i < 60000; i++)
		buf_printf(want, i % 3 ? "line %d ............................................\r\n" :
		    "..dot line %d\r\n", i);
	buf_puts(want, ".\r\n+OK\r\n");
	fx->out_max = 64 * 1024;
	s = sopen(fx);
	drive(fx, s, LOGIN "RETR 4\r\nNOOP\r\n");
	got = take(fx);
	p = strstr(got, " octets\r\n");
	assert_non_null(p);
	w = buf_strdup(want);
	assert_string_equal(p + 9, w);
	assert_int_equal(strtoull(strstr(got, "+OK Logged in.\r\n+OK ") + 20, NULL, 10),
	    strlen(w) - strlen(".\r\n+OK\r\n") - 20000);	/* sizes do not count dot-stuffing */
	free(w);
	free(got);
	free(text);
	buf_free(&want);
	sfree(&s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_greeting_capa_quit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_capa_remote_and_tls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transaction, setup, teardown),
		cmocka_unit_test_setup_teardown(test_byte_by_byte_equals_whole, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retr_dot_stuffing_exact, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_message_numbers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_login_failures, setup, teardown),
		cmocka_unit_test_setup_teardown(test_login_pauses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hashes_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_opens_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_in_use_and_user_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overlong_line_and_nul, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ten_thousand_pipelined, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_many_bad_commands, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auth, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mark_seen_and_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_changes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quit_update_is_a_job, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shutdown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chunk_boundaries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_large_message_streams, setup, teardown),
		cmocka_unit_test_setup_teardown(test_renamed_lookup_is_a_job, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cold_block_is_a_job, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_ahead, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_ahead_closes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_ahead_staged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_ahead_cold, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
