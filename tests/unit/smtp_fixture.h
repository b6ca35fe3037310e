/*
 * A socket-free SMTP session for unit tests, on the host double
 * (host_double.h): a throw-away directory (example.test with alice, bob,
 * groups and an alias), an env whose writer collects the streamed message
 * in memory (counting opens, writes and discards) and whose commit
 * remembers the message (open and commit run as jobs on the host, as on
 * the workq), and helpers to send bytes and take the replies the client
 * read.  Included by the test_smtp_*.c programs only.
 */
#ifndef TESTS_SMTP_FIXTURE_H
#define TESTS_SMTP_FIXTURE_H

#include "smtpd/smtp_session.h"
#include "lib/turnq.h"
#include "lib/buf.h"
#include "lib/directory.h"
#include "lib/session.h"
#include "lib/xmalloc.h"
#include "mail/address.h"
#include "tests/unit/host_double.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fx {
	struct smtp_env		 env;
	struct session_peer	 peer;
	struct buf		 out;		/* what the client read */
	size_t			 out_max;	/* the session's output buffer */
	struct host_double	*d;
	void			*s;
	char			 dirpath[64];
	/* What commit saw. */
	unsigned		 delivered;
	int			 result;	/* what commit answers */
	char			*body;		/* Return-Path + Received + body of the last */
	size_t			 body_len;	/* it may hold NULs */
	char			*rcpts;		/* "l:alice@...,r:x@remote,..." */
	char			*sender;
	char			*dsn;		/* "envid=... ret=N r:addr/notify/orcpt" */
	char			*header;	/* msg->header at end of data */
	size_t			 header_len;
	bool			 header_truncated;
	/* What the writer saw. */
	unsigned		 prepares, unprepares;	/* files made at RCPT, removed unopened */
	unsigned		 opens, writes, discards, open_streams;
	size_t			 max_write;	/* largest single write */
	int			 fail_open;	/* prepare() and open() answer -1 */
	int			 fail_prepare;	/* prepare() answers NULL */
	int			 fail_write;	/* write() answers -1 */
};

/* The writer double: m->stream is one of these. */
struct fx_stream {
	struct fx	*f;
	struct buf	 b;	/* Return-Path + Received + the message */
};

static struct fx_stream *
fx_stream_new(struct fx *f)
{
	struct fx_stream	*st = xcalloc(1, sizeof(*st));

	st->f = f;
	buf_init(&st->b, 64 * 1024 * 1024);
	f->open_streams++;
	return st;
}

static void
fx_stream_free(struct fx_stream *st)
{
	st->f->open_streams--;
	buf_release(&st->b);
	free(st);
}

/* Like smtpd's writer: an empty file, which open() takes over. */
static void *
fx_writer_prepare(void *ctx, const struct smtp_local_rcpt *first, const char **error_r)
{
	struct fx	*f = ctx;

	if (f->fail_open || f->fail_prepare) {
		*error_r = "test: prepare fails";
		return NULL;
	}
	f->prepares++;
	return fx_stream_new(f);
}

static void
fx_writer_unprepare(void *prepared)
{
	struct fx_stream	*st = prepared;

	st->f->unprepares++;
	fx_stream_free(st);
}

static int
fx_writer_open(void *ctx, struct smtp_msg *m, const char **error_r)
{
	struct fx		*f = ctx;
	struct fx_stream	*st;

	if (f->fail_open) {
		*error_r = "test: open fails";
		return -1;
	}
	if ((st = m->prepared) == NULL)
		st = fx_stream_new(f);
	m->prepared = NULL;
	buf_puts(&st->b, m->return_path);
	buf_puts(&st->b, m->received);
	m->stream = st;
	f->opens++;
	return 0;
}

static int
fx_writer_write(struct smtp_msg *m, const void *data, size_t len)
{
	struct fx_stream	*st = m->stream;

	st->f->writes++;
	if (len > st->f->max_write)
		st->f->max_write = len;
	if (st->f->fail_write)
		return -1;
	return buf_append(&st->b, data, len);
}

static void
fx_writer_discard(struct smtp_msg *m)
{
	struct fx_stream	*st = m->stream;

	st->f->discards++;
	fx_stream_free(st);
	m->stream = NULL;
}

static int
fx_writer_commit(void *ctx, struct smtp_msg *m, char *error, size_t errsize)
{
	struct fx		*f = ctx;
	struct fx_stream	*st = m->stream;
	struct buf		 b;
	size_t			 i;

	/* Like smtpd's writer: the files are the commit's now. */
	m->stream = NULL;
	buf_init(&b, 64 * 1024 * 1024);
	free(f->body);
	free(f->rcpts);
	free(f->sender);
	free(f->dsn);
	free(f->header);
	f->body = buf_strdup(&st->b);
	f->body_len = buf_len(&st->b);
	fx_stream_free(st);
	f->header = xmalloc(buf_len(&m->header) + 1);
	if (buf_len(&m->header) > 0)
		memcpy(f->header, buf_head(&m->header), buf_len(&m->header));
	f->header[buf_len(&m->header)] = '\0';
	f->header_len = buf_len(&m->header);
	f->header_truncated = m->header_truncated;
	for (i = 0; i < m->nlocal; i++)
		buf_printf(&b, "%sl:%s", i > 0 ? "," : "", m->local[i].address);
	for (i = 0; i < m->nremote; i++)
		buf_printf(&b, "%sr:%s", i + m->nlocal > 0 ? "," : "", m->remote[i].address);
	f->rcpts = buf_strdup(&b);
	buf_reset(&b);
	buf_printf(&b, "envid=%s ret=%d", m->envid != NULL ? m->envid : "-", (int)m->ret);
	for (i = 0; i < m->nremote; i++)
		buf_printf(&b, " %s/%u/%s", m->remote[i].address, m->remote[i].notify,
		    m->remote[i].orcpt != NULL ? m->remote[i].orcpt : "-");
	f->dsn = buf_strdup(&b);
	buf_release(&b);
	f->sender = xstrdup(m->sender);
	if (f->result == 0)
		f->delivered++;
	else
		snprintf(error, errsize, "test failure");
	return f->result;
}

static const struct smtp_writer fx_writer = {
	.prepare	= fx_writer_prepare,
	.unprepare	= fx_writer_unprepare,
	.open		= fx_writer_open,
	.write		= fx_writer_write,
	.discard	= fx_writer_discard,
	.commit		= fx_writer_commit,
};

static uint64_t
fx_now(void)
{
	return 1795000000000ULL;	/* a fixed instant: Received: is comparable */
}

static void
fx_write(const char *dir, const char *name, const char *text)
{
	char	 path[128];
	FILE	*fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fp = fopen(path, "w");
	if (fp == NULL)
		abort();
	fputs(text, fp);
	fclose(fp);
}

static struct fx *
fx_new_peer(const char *addr, const char *listener)
{
	struct fx	*f = xcalloc(1, sizeof(*f));
	const char	*error = NULL;
	char		*pw, *line;

	snprintf(f->dirpath, sizeof(f->dirpath), "/tmp/test_smtp.XXXXXX");
	if (mkdtemp(f->dirpath) == NULL)
		abort();
	fx_write(f->dirpath, "domains", "example.test\ncatch.test catchall=info\n");
	pw = password_hash("alice-pw");
	line = xasprintf("alice@example.test:%s::::::\nbob@example.test:%s::::::\n"
	    "carol@example.test:%s::::::\ninfo@catch.test:%s::::::\n", pw, pw, pw, pw);
	fx_write(f->dirpath, "passwd", line);
	free(line);
	free(pw);
	fx_write(f->dirpath, "groups",
	    "team@example.test: alice@example.test, staff@example.test\n"
	    "staff@example.test: bob@example.test, alice@example.test, carol@example.test\n");
	fx_write(f->dirpath, "aliases", "postmaster@example.test: alice@example.test\n");
	f->env.dir = directory_load(f->dirpath, &address_user_syntax, &error);
	if (f->env.dir == NULL) {
		fprintf(stderr, "directory_load: %s\n", error);
		abort();
	}
	f->env.hostname = "mx.example.test";
	f->env.mail_root = "/mail";
	f->env.max_message_size = 100000;
	f->env.max_line_length = 1000;
	f->env.max_recipients = 100;
	f->env.max_expansion = 1000;
	f->env.max_commands_before_mail = 100;
	f->env.max_errors = 10;
	f->env.idle_timeout = 300000;
	f->env.data_timeout = 600000;
	f->env.plaintext_auth_loopback = true;
	f->env.tls_available = true;
	f->env.max_header_size = 64 * 1024;
	f->env.writer = &fx_writer;
	f->env.writer_ctx = f;
	f->env.authq = turnq_new(2);
	f->env.now_ms = fx_now;
	snprintf(f->peer.id, sizeof(f->peer.id), "0123456789abcdef");
	snprintf(f->peer.addr, sizeof(f->peer.addr), "%s", addr);
	f->peer.loopback = strncmp(addr, "127.", 4) == 0;
	f->peer.listener = listener;
	buf_init(&f->out, 64 * 1024 * 1024);
	f->out_max = 8 * 1024 * 1024;
	return f;
}

static void
fx_open(struct fx *f)
{
	f->d = host_double_new(f->out_max);
	f->s = host_double_open(f->d, &smtp_session_ops, &f->peer, &f->env);
	host_double_pump(f->d, &f->out);
}

static struct fx *
fx_new(void)
{
	struct fx	*f = fx_new_peer("127.0.0.1", "mx");

	fx_open(f);
	return f;
}

static void
fx_free(struct fx **fp)
{
	struct fx	*f = *fp;
	char		 cmd[128];

	host_double_free(&f->d);	/* frees the session */
	turnq_free(&f->env.authq);
	directory_free(&f->env.dir);
	buf_release(&f->out);
	free(f->body);
	free(f->rcpts);
	free(f->sender);
	free(f->dsn);
	free(f->header);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dirpath);
	if (system(cmd) != 0)
		abort();
	free(f);
	*fp = NULL;
}

/*
 * Send len bytes in pieces of `chunk`, reading every reply after each;
 * returns how many the host read (all, unless the session closed).
 */
static size_t
fx_feedn(struct fx *f, const char *data, size_t len, size_t chunk)
{
	size_t	 off, piece, sent = 0;

	for (off = 0; off < len; off += piece) {
		piece = len - off < chunk ? len - off : chunk;
		sent += host_double_input(f->d, data + off, piece);
		host_double_pump(f->d, &f->out);
	}
	return sent;
}

static size_t
fx_feed(struct fx *f, const char *data)
{
	return fx_feedn(f, data, strlen(data), SIZE_MAX);
}

/* The replies so far, as one string (caller frees); the buffer is emptied. */
static char *
fx_take(struct fx *f)
{
	char	*s;

	host_double_pump(f->d, &f->out);
	s = buf_strdup(&f->out);

	buf_reset(&f->out);
	return s;
}

#define assert_replies(f, expected) do {			\
	char *got_ = fx_take(f);				\
	assert_string_equal(got_, expected);			\
	free(got_);						\
} while (0)

#endif
