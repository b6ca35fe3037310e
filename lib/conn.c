/*
 * A connection: non-blocking fd, optional TLS, bounded buffers, one
 * callback.  Every entry from the loop (fd readiness, the deadline, the
 * "soon" timer) goes through conn_process(), which does the I/O, then
 * reports the resulting events one at a time, flushing the corked output
 * after each callback.  Public calls made outside a callback never call
 * back synchronously: they arm the zero-delay "soon" timer instead, so a
 * caller never sees its conn freed under it.
 */
#include "lib/conn.h"

#include "lib/buf.h"
#include "lib/ev.h"
#include "lib/scratch.h"
#include "lib/tls.h"
#include "lib/xmalloc.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CONN_READ_CHUNK	16384
#define CONN_KEEP_IN	4096		/* empty buffers larger than these are freed */
#define CONN_KEEP_OUT	(64 * 1024)

enum conn_tls {
	CT_NONE,	/* plaintext */
	CT_FLUSH,	/* STARTTLS: the go-ahead reply still going out in plaintext */
	CT_HANDSHAKE,
	CT_ON,
};

struct conn {
	struct ev_loop		*loop;
	int			 fd;
	struct ev_io		*io;
	unsigned		 io_events;	/* what io is registered for now */
	struct ev_timer		*deadline;
	struct ev_timer		*soon;
	struct buf		 in, out;
	struct conn_limits	 lim;
	conn_cb			 cb;
	void			*arg;

	SSL			*ssl;
	enum conn_tls		 tls;
	unsigned		 hs_want;	/* EV_READ/EV_WRITE the handshake waits for */
	bool			 read_wants_write;	/* SSL_read said WANT_WRITE */
	bool			 write_wants_read;	/* SSL_write said WANT_READ */
	char			 tls_info[96];

	int			 busy;		/* conn_process() frames on the stack */
	bool			 freed;		/* conn_free() called while busy */
	bool			 paused;
	bool			 closing;	/* close after flush */
	bool			 eof;
	bool			 error;
	bool			 closed_reported;
	bool			 input_new;
	bool			 timed_out;
	bool			 drained_pending;
	bool			 tls_done_pending;
	bool			 keep_out;	/* conn_keep_output() */
	char			 reason[160];

	unsigned long long	 bytes_in, bytes_out;
};

static void	conn_process(struct conn *c, unsigned events);

static void
conn_fail(struct conn *c, const char *fmt, const char *what)
{
	if (!c->error)
		snprintf(c->reason, sizeof(c->reason), fmt, what);
	c->error = true;
}

static void
conn_io_cb(int fd, unsigned events, void *arg)
{
	(void)fd;
	conn_process(arg, events);
}

static void
conn_deadline_cb(void *arg)
{
	struct conn	*c = arg;

	c->timed_out = true;
	conn_process(c, 0);
}

static void
conn_soon_cb(void *arg)
{
	conn_process(arg, 0);
}

/* Outside a callback, state changes are acted on from the loop, never inline. */
static void
conn_kick(struct conn *c)
{
	if (c->busy == 0 && !c->closed_reported)
		ev_timer_set(c->soon, 0);
}

struct conn *
conn_new(struct ev_loop *loop, int fd, const struct conn_limits *limits, conn_cb cb, void *arg)
{
	struct conn	*c;
	int		 fl;

	if ((fl = fcntl(fd, F_GETFL)) != -1 && (fl & O_NONBLOCK) == 0)
		(void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	c = xcalloc(1, sizeof(*c));
	c->loop = loop;
	c->fd = fd;
	c->lim = *limits;
	c->cb = cb;
	c->arg = arg;
	buf_init(&c->in, limits->input_max);
	buf_init(&c->out, limits->output_max);
	c->io_events = EV_READ;
	c->io = ev_io_add(loop, fd, c->io_events, conn_io_cb, c);
	c->deadline = ev_timer_new(loop, conn_deadline_cb, c);
	c->soon = ev_timer_new(loop, conn_soon_cb, c);
	return c;
}

static void
conn_destroy(struct conn *c)
{
	ev_io_del(&c->io);
	ev_timer_free(&c->deadline);
	ev_timer_free(&c->soon);
	if (c->ssl != NULL)
		SSL_free(c->ssl);
	close(c->fd);
	buf_release(&c->in);
	buf_release(&c->out);
	free(c);
}

void
conn_free(struct conn **cp)
{
	struct conn	*c = *cp;

	if (c == NULL)
		return;
	*cp = NULL;
	if (c->busy > 0) {
		/* Inside our own callback: conn_process() destroys it on the way out. */
		c->freed = true;
		return;
	}
	conn_destroy(c);
}

static bool
conn_want_read(const struct conn *c)
{
	return !c->paused && !c->closing && !c->eof && !c->error && c->tls != CT_FLUSH &&
	    c->tls != CT_HANDSHAKE && buf_len(&c->out) <= c->lim.output_high &&
	    buf_room(&c->in) > 0;
}

/*
 * An idle connection should cost little memory: read through one shared
 * chunk and keep only what arrived, and give big buffers back once empty.
 */
static struct scratch	conn_chunk = SCRATCH_INIT(CONN_READ_CHUNK);

static void
conn_got(struct conn *c, const char *chunk, size_t n)
{
	if (buf_append(&c->in, chunk, n) == -1)
		abort();	/* n was bounded by buf_room() */
	c->bytes_in += n;
	c->input_new = true;
}

static void
conn_trim(struct buf *b, size_t keep)
{
	size_t	max = b->max;

	if (buf_len(b) == 0 && b->cap > keep) {
		buf_release(b);
		buf_init(b, max);
	}
}

static void
conn_read(struct conn *c)
{
	char	*p = scratch_get(&conn_chunk);
	size_t	 n, got;
	ssize_t	 r;
	int	 err;

	c->read_wants_write = false;
	while (buf_room(&c->in) > 0) {
		n = buf_room(&c->in) < CONN_READ_CHUNK ? buf_room(&c->in) : CONN_READ_CHUNK;
		if (c->tls == CT_ON) {
			ERR_clear_error();
			if (SSL_read_ex(c->ssl, p, n, &got) == 1) {
				conn_got(c, p, got);
				continue;
			}
			err = SSL_get_error(c->ssl, 0);
			if (err == SSL_ERROR_WANT_READ)
				return;
			if (err == SSL_ERROR_WANT_WRITE) {
				c->read_wants_write = true;
				return;
			}
			if (err == SSL_ERROR_ZERO_RETURN) {
				c->eof = true;
				snprintf(c->reason, sizeof(c->reason), "eof");
			} else if (err == SSL_ERROR_SYSCALL && errno != 0 && errno != EAGAIN)
				conn_fail(c, "read: %s", strerror(errno));
			else
				conn_fail(c, "TLS read: %s", tls_error_string());
			return;
		}
		r = read(c->fd, p, n);
		if (r > 0) {
			conn_got(c, p, (size_t)r);
			if ((size_t)r < n)
				return;
			continue;
		}
		if (r == 0) {
			c->eof = true;
			snprintf(c->reason, sizeof(c->reason), "eof");
			return;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			conn_fail(c, "read: %s", strerror(errno));
		return;
	}
}

static void
conn_write(struct conn *c)
{
	size_t	 before = buf_len(&c->out), low = c->lim.output_high / 2, done;
	ssize_t	 r;
	int	 err;

	c->write_wants_read = false;
	while (buf_len(&c->out) > 0 && !c->error) {
		if (c->tls == CT_ON) {
			ERR_clear_error();
			if (SSL_write_ex(c->ssl, buf_head(&c->out), buf_len(&c->out), &done) == 1) {
				buf_consume(&c->out, done);
				c->bytes_out += done;
				continue;
			}
			err = SSL_get_error(c->ssl, 0);
			if (err == SSL_ERROR_WANT_WRITE)
				break;
			if (err == SSL_ERROR_WANT_READ) {
				c->write_wants_read = true;
				break;
			}
			if (err == SSL_ERROR_SYSCALL && errno != 0)
				conn_fail(c, "write: %s", strerror(errno));
			else
				conn_fail(c, "TLS write: %s", tls_error_string());
			break;
		}
		r = send(c->fd, buf_head(&c->out), buf_len(&c->out), MSG_NOSIGNAL);
		if (r > 0) {
			buf_consume(&c->out, (size_t)r);
			c->bytes_out += (size_t)r;
			continue;
		}
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (r == -1 && errno == ENOTSOCK) {
			/* A pipe (tests): plain write. */
			r = write(c->fd, buf_head(&c->out), buf_len(&c->out));
			if (r > 0) {
				buf_consume(&c->out, (size_t)r);
				c->bytes_out += (size_t)r;
				continue;
			}
			if (r == -1 && (errno == EAGAIN || errno == EINTR))
				break;
		}
		conn_fail(c, "write: %s", r == 0 ? "no progress" : strerror(errno));
	}
	if (buf_len(&c->out) == 0) {
		buf_reset(&c->out);	/* reuse the storage from its start */
		if (!c->keep_out)
			conn_trim(&c->out, CONN_KEEP_OUT);
	}
	if (before >= low && buf_len(&c->out) < low && before > 0)
		c->drained_pending = true;
}

static void
conn_handshake(struct conn *c)
{
	int	 r, err;

	ERR_clear_error();
	r = SSL_do_handshake(c->ssl);
	if (r == 1) {
		c->tls = CT_ON;
		snprintf(c->tls_info, sizeof(c->tls_info), "%s %s",
		    SSL_get_version(c->ssl), SSL_get_cipher_name(c->ssl));
		c->tls_done_pending = true;
		return;
	}
	err = SSL_get_error(c->ssl, r);
	if (err == SSL_ERROR_WANT_READ)
		c->hs_want = EV_READ;
	else if (err == SSL_ERROR_WANT_WRITE)
		c->hs_want = EV_WRITE;
	else if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
		conn_fail(c, "TLS handshake: %s",
		    errno != 0 ? strerror(errno) : "connection closed");
	} else if (SSL_get_verify_result(c->ssl) != X509_V_OK) {
		ERR_clear_error();
		conn_fail(c, "TLS handshake: certificate not verified: %s",
		    X509_verify_cert_error_string(SSL_get_verify_result(c->ssl)));
	} else
		conn_fail(c, "TLS handshake: %s", tls_error_string());
}

/* The I/O the loop told us is possible. */
static void
conn_do_io(struct conn *c, unsigned events)
{
	if (c->tls == CT_HANDSHAKE) {
		if (events != 0)
			conn_handshake(c);
		return;
	}
	if (buf_len(&c->out) > 0 && (events & (EV_WRITE | EV_READ | EV_ERROR)) != 0)
		conn_write(c);
	if ((events & (EV_READ | EV_ERROR)) != 0 ||
	    (c->read_wants_write && (events & EV_WRITE) != 0)) {
		if (conn_want_read(c))
			conn_read(c);
	}
}

static unsigned
conn_io_wanted(const struct conn *c)
{
	unsigned	 ev = 0;

	if (c->closed_reported)
		return 0;
	if (c->tls == CT_HANDSHAKE)
		return c->hs_want;
	if (buf_len(&c->out) > 0 && !c->error)
		ev |= c->write_wants_read ? EV_READ : EV_WRITE;
	if (conn_want_read(c))
		ev |= c->read_wants_write ? EV_WRITE : EV_READ;
	return ev;
}

static void
conn_set_io(struct conn *c, unsigned ev)
{
	if (ev != c->io_events) {
		ev_io_set(c->io, ev);
		c->io_events = ev;
	}
}

/*
 * A session pauses for every workq job, and the reply that ends the pause
 * leaves it reading again: so a pause leaves the socket watched as it was,
 * until an event comes meanwhile (conn_process() then stops watching it).
 * With conn_pause() writing that reply at once, a job costs no epoll_ctl
 * call where it cost three (remove, add with EPOLLOUT, drop EPOLLOUT).
 */
static void
conn_update_io(struct conn *c)
{
	unsigned	 ev = conn_io_wanted(c);

	if (ev == 0 && c->paused && !c->closed_reported)
		return;
	conn_set_io(c, ev);
}

/* Report one event; false if the callback freed the conn. */
static bool
conn_emit(struct conn *c, enum conn_event ev)
{
	c->cb(c, ev, c->arg);
	return !c->freed;
}

/* The flush after a callback, including the STARTTLS switch once the reply is out. */
static void
conn_cork_flush(struct conn *c)
{
	if (c->tls == CT_HANDSHAKE || c->error)
		return;
	if (buf_len(&c->out) > 0)
		conn_write(c);
	if (c->tls == CT_FLUSH && buf_len(&c->out) == 0 && !c->error) {
		/* Nothing was read since conn_start_tls(); make sure of it anyway. */
		buf_reset(&c->in);
		c->input_new = false;
		c->tls = CT_HANDSHAKE;
		conn_handshake(c);
	}
}

static void
conn_process(struct conn *c, unsigned events)
{
	enum conn_event	 ev;
	bool		 woken_paused = c->paused;

	if (c->closed_reported)
		return;
	c->busy++;
	conn_do_io(c, events);
	for (;;) {
		conn_cork_flush(c);
		if (c->input_new) {
			c->input_new = false;
			ev = CONN_INPUT;
		} else if (c->tls_done_pending) {
			c->tls_done_pending = false;
			ev = CONN_TLS_DONE;
		} else if (c->timed_out) {
			c->timed_out = false;
			ev = CONN_TIMEOUT;
		} else if (c->drained_pending && !c->error) {
			c->drained_pending = false;
			ev = CONN_DRAINED;
		} else if (c->error || (c->eof && !c->paused && buf_len(&c->out) == 0) ||
		    (c->closing && (buf_len(&c->out) == 0 || c->tls == CT_HANDSHAKE))) {
			/* (Mid-handshake, pending output could never be sent.) */
			if (c->reason[0] == '\0')
				snprintf(c->reason, sizeof(c->reason), "closed");
			if (c->tls == CT_ON && !c->error) {
				ERR_clear_error();
				(void)SSL_shutdown(c->ssl);	/* best effort close_notify */
			}
			c->closed_reported = true;
			ev_timer_stop(c->deadline);
			ev_timer_stop(c->soon);
			ev = CONN_CLOSED;
		} else if (c->tls == CT_ON && conn_want_read(c) && SSL_has_pending(c->ssl)) {
			/* Decrypted bytes that epoll will never tell us about. */
			conn_read(c);
			if (!c->input_new)
				break;
			continue;
		} else
			break;
		if (!conn_emit(c, ev))
			break;
		if (ev == CONN_CLOSED)
			break;
	}
	c->busy--;
	if (c->freed) {
		if (c->busy == 0)
			conn_destroy(c);
		return;
	}
	conn_trim(&c->in, CONN_KEEP_IN);
	if (events != 0 && woken_paused)
		conn_set_io(c, conn_io_wanted(c));	/* stop watching till it resumes */
	else
		conn_update_io(c);
}

struct buf *
conn_input(struct conn *c)
{
	return &c->in;
}

struct buf *
conn_output(struct conn *c)
{
	return &c->out;
}

void
conn_flush(struct conn *c)
{
	if (c->closed_reported || c->tls == CT_HANDSHAKE)
		return;
	if (buf_len(&c->out) > 0)
		conn_write(c);
	if (c->busy == 0) {
		conn_update_io(c);
		if (c->error || c->drained_pending || c->tls == CT_FLUSH || c->closing)
			conn_kick(c);
	}
}

void
conn_keep_output(struct conn *c, bool keep)
{
	c->keep_out = keep;
	if (!keep)
		conn_trim(&c->out, CONN_KEEP_OUT);
}

void
conn_pause(struct conn *c, bool paused)
{
	if (c->paused == paused)
		return;
	c->paused = paused;
	if (c->busy > 0)
		return;
	/*
	 * The reply that ends a pause goes out now, unless input waits whose
	 * replies should go with it: the socket then stays watched as before.
	 */
	if (!paused && buf_len(&c->in) == 0)
		conn_flush(c);
	else
		conn_update_io(c);
	/* Decrypted bytes epoll cannot see, or a half-close waiting for us. */
	if (!paused && (c->eof ||
	    (c->ssl != NULL && c->tls == CT_ON && SSL_has_pending(c->ssl))))
		conn_kick(c);
}

void
conn_set_timeout(struct conn *c, unsigned long long ms)
{
	if (ms == 0)
		ev_timer_stop(c->deadline);
	else if (!c->closed_reported)
		ev_timer_set(c->deadline, ms);
}

void
conn_close_after_flush(struct conn *c)
{
	c->closing = true;
	conn_kick(c);
}

static int
conn_tls_setup(struct conn *c, SSL_CTX *ctx)
{
	if (c->ssl != NULL)
		return -1;
	ERR_clear_error();
	if ((c->ssl = SSL_new(ctx)) == NULL || SSL_set_fd(c->ssl, c->fd) != 1) {
		conn_fail(c, "TLS setup: %s", tls_error_string());
		conn_kick(c);
		return -1;
	}
	return 0;
}

/* Both roles: discard plaintext input, flush our last plaintext, then handshake. */
static void
conn_tls_begin(struct conn *c, unsigned first_want)
{
	/* Plaintext that arrived after the STARTTLS command is an attack, not a command. */
	buf_reset(&c->in);
	c->input_new = false;
	c->read_wants_write = false;
	c->write_wants_read = false;
	c->hs_want = first_want;
	c->tls = buf_len(&c->out) > 0 ? CT_FLUSH : CT_HANDSHAKE;
	if (c->busy == 0)
		conn_update_io(c);
	conn_kick(c);
}

int
conn_start_tls(struct conn *c, SSL_CTX *ctx)
{
	if (conn_tls_setup(c, ctx) == -1)
		return -1;
	SSL_set_accept_state(c->ssl);
	conn_tls_begin(c, EV_READ);
	return 0;
}

/* The name the server's certificate must hold: a host name, or an address. */
static int
tls_expect_name(SSL *ssl, const char *name)
{
	X509_VERIFY_PARAM	*param = SSL_get0_param(ssl);
	unsigned char		 addr[sizeof(struct in6_addr)];

	if (inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1)
		return X509_VERIFY_PARAM_set1_ip_asc(param, name);
	X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	return SSL_set1_host(ssl, name);
}

int
conn_start_tls_client(struct conn *c, SSL_CTX *ctx, const char *servername)
{
	bool	verify = (SSL_CTX_get_verify_mode(ctx) & SSL_VERIFY_PEER) != 0;

	if (conn_tls_setup(c, ctx) == -1)
		return -1;
	if (servername != NULL && (SSL_set_tlsext_host_name(c->ssl, servername) != 1 ||
	    (verify && tls_expect_name(c->ssl, servername) != 1))) {
		conn_fail(c, "TLS setup: %s", tls_error_string());
		conn_kick(c);
		return -1;
	}
	SSL_set_connect_state(c->ssl);
	conn_tls_begin(c, EV_WRITE);	/* we speak first: the ClientHello */
	return 0;
}

bool
conn_is_tls(const struct conn *c)
{
	return c->tls == CT_ON;
}

const char *
conn_tls_info(const struct conn *c)
{
	return c->tls == CT_ON ? c->tls_info : "";
}

int
conn_fd(const struct conn *c)
{
	return c->fd;
}

const char *
conn_close_reason(const struct conn *c)
{
	return c->reason[0] != '\0' ? c->reason : "closed";
}

unsigned long long
conn_bytes_in(const struct conn *c)
{
	return c->bytes_in;
}

unsigned long long
conn_bytes_out(const struct conn *c)
{
	return c->bytes_out;
}
