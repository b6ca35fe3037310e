/*
 * relayd/relay_conn.h.  Callbacks into the owner happen inside lib/conn's
 * and smtp_client's own; so that the owner may free us from any of them,
 * every entry from the loop counts its depth, and a free inside is done
 * when the outermost entry returns.  Moving to the next hop, and telling
 * the owner the end, happen from a timer, outside smtp_client.
 */
#include "relayd/relay_conn.h"

#include "lib/buf.h"
#include "lib/conn.h"
#include "lib/ev.h"
#include "lib/linebuf.h"
#include "lib/xmalloc.h"
#include "mail/crlf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define REPLY_LINE_MAX	4096	/* RFC 5321 says 512; servers exceed it */
#define BODY_CHUNK	16384

static const struct conn_limits	limits = {
	.input_max = 65536, .output_high = 65536, .output_max = 4 * 65536,
};

enum after { AFTER_NOTHING, AFTER_NEXT_HOP, AFTER_CLOSED };

struct relay_conn {
	struct ev_loop			*loop;
	struct relay_conn_config	 cfg;
	const struct relay_conn_ops	*ops;
	void				*arg;
	struct route_hop		*hops;
	size_t				 nhops, hop;
	int				 fd;		/* connecting */
	struct ev_io			*connect_io;
	struct ev_timer			*connect_timer;
	struct conn			*conn;
	struct linebuf			*lb;
	struct smtp_client		*client;
	bool				 usable;	/* was ready once: no failover after */
	struct ev_timer			*after_timer;
	enum after			 after;
	struct smtp_reply		 why;		/* the last failure */
	bool				 why_set;
	const char			*body;
	size_t				 body_len, body_off;
	bool				 sending_body;
	struct crlf_encoder		 enc;
	unsigned			 depth;
	bool				 dead;
};

static void	connect_next(struct relay_conn *rc);

static void
enter(struct relay_conn *rc)
{
	rc->depth++;
}

static void	destroy(struct relay_conn *rc);

static void
leave(struct relay_conn *rc)
{
	if (--rc->depth == 0 && rc->dead)
		destroy(rc);
}

static void
set_timeout(struct relay_conn *rc)
{
	unsigned long long	ms = smtp_client_timeout(rc->client) * 1000ULL;

	if (rc->cfg.reply_timeout_max_ms > 0 && ms > rc->cfg.reply_timeout_max_ms)
		ms = rc->cfg.reply_timeout_max_ms;
	conn_set_timeout(rc->conn, ms);
}

/* Drop the current hop's connection, whatever state it is in. */
static void
teardown(struct relay_conn *rc)
{
	ev_io_del(&rc->connect_io);
	if (rc->fd != -1)
		close(rc->fd);
	rc->fd = -1;
	ev_timer_stop(rc->connect_timer);
	conn_free(&rc->conn);
	linebuf_free(&rc->lb);
	smtp_client_free(&rc->client);
	rc->sending_body = false;
}

static void
schedule(struct relay_conn *rc, enum after what)
{
	rc->after = what;
	ev_timer_set(rc->after_timer, 0);
}

static void
after_due(void *arg)
{
	struct relay_conn	*rc = arg;

	enter(rc);
	teardown(rc);
	if (rc->after == AFTER_NEXT_HOP) {
		rc->hop++;
		connect_next(rc);
	} else if (!rc->dead) {
		rc->ops->closed(rc->arg, rc->why_set ? &rc->why : NULL);
	}
	leave(rc);
}

/* ---- smtp_client's side ---- */

static void
client_send(void *ctx, const char *data, size_t len)
{
	struct relay_conn	*rc = ctx;

	if (buf_append(conn_output(rc->conn), data, len) == -1)
		abort();	/* commands are far below output_max */
}

static void
client_start_tls(void *ctx)
{
	struct relay_conn	*rc = ctx;

	conn_start_tls_client(rc->conn, rc->cfg.tls_ctx, rc->hops[rc->hop].host);
}

/* Encode the message into the output up to its high-water mark. */
static void
pump_body(struct relay_conn *rc)
{
	struct buf	*out = conn_output(rc->conn);

	while (rc->sending_body && buf_len(out) < limits.output_high) {
		size_t	n = rc->body_len - rc->body_off;
		char	*dst;

		n = n < BODY_CHUNK ? n : BODY_CHUNK;
		if ((dst = buf_reserve(out, 2 * n + 5)) == NULL)
			abort();	/* output_high + a chunk is below output_max */
		if (n > 0) {
			buf_commit(out, crlf_encode(&rc->enc, rc->body + rc->body_off, n, dst));
			rc->body_off += n;
			continue;
		}
		n = crlf_encode_end(&rc->enc, dst);
		memcpy(dst + n, ".\r\n", 3);
		buf_commit(out, n + 3);
		rc->sending_body = false;
		smtp_client_body_sent(rc->client);
	}
	set_timeout(rc);
}

static void
client_send_body(void *ctx)
{
	struct relay_conn	*rc = ctx;

	crlf_encoder_init(&rc->enc, true);
	rc->body_off = 0;
	rc->sending_body = true;
	pump_body(rc);
}

static void
client_rcpt_done(void *ctx, size_t i, const struct smtp_reply *r)
{
	struct relay_conn	*rc = ctx;

	if (!rc->dead)
		rc->ops->rcpt_done(rc->arg, i, r);
}

static void
client_ready(void *ctx)
{
	struct relay_conn	*rc = ctx;

	rc->usable = true;
	if (!rc->dead)
		rc->ops->ready(rc->arg);
}

static void
client_closed(void *ctx, const struct smtp_reply *why)
{
	struct relay_conn	*rc = ctx;

	rc->why_set = why != NULL;
	if (why != NULL)
		rc->why = *why;
	/* A host that failed before it took mail: the next one may do. */
	schedule(rc, !rc->usable && why != NULL && rc->hop + 1 < rc->nhops ?
	    AFTER_NEXT_HOP : AFTER_CLOSED);
}

static const struct smtp_client_ops	client_ops = {
	client_send, client_start_tls, client_send_body, client_rcpt_done,
	client_ready, client_closed,
};

/* ---- lib/conn's side ---- */

static void
read_replies(struct relay_conn *rc)
{
	struct buf	*in = conn_input(rc->conn);

	while (buf_len(in) > 0 && rc->after == AFTER_NOTHING && !rc->dead) {
		size_t			 used = linebuf_feed(rc->lb, buf_head(in), buf_len(in));
		enum line_status	 st;
		char			*line;
		size_t			 len;

		buf_consume(in, used);
		while (rc->after == AFTER_NOTHING && !rc->dead &&
		    (st = linebuf_next(rc->lb, &line, &len)) != LINE_MORE) {
			if (st == LINE_OK || st == LINE_BARE_LF)
				smtp_client_line(rc->client, line, len);
			else
				smtp_client_abort(rc->client, "the server sent a malformed line");
		}
	}
	if (rc->after == AFTER_NOTHING && !rc->dead)
		set_timeout(rc);
}

static void
conn_event(struct conn *c, enum conn_event ev, void *arg)
{
	struct relay_conn	*rc = arg;

	(void)c;
	enter(rc);
	switch (ev) {
	case CONN_INPUT:
		read_replies(rc);
		break;
	case CONN_DRAINED:
		if (rc->sending_body)
			pump_body(rc);
		break;
	case CONN_TLS_DONE:
		if (!rc->cfg.smtp.tls_active)	/* implicit TLS: the greeting comes next */
			smtp_client_tls_started(rc->client, true);
		set_timeout(rc);
		break;
	case CONN_TIMEOUT:
		smtp_client_abort(rc->client, "timed out waiting for the server");
		break;
	case CONN_CLOSED:
		smtp_client_abort(rc->client, conn_close_reason(rc->conn));
		conn_free(&rc->conn);
		break;
	}
	leave(rc);
}

/* ---- connecting ---- */

static void
hop_failed(struct relay_conn *rc, const char *what, int err)
{
	const struct route_hop	*h = &rc->hops[rc->hop];
	char			 addr[INET6_ADDRSTRLEN] = "?";
	const void		*a = h->addr.ss_family == AF_INET6 ?
	    (const void *)&((const struct sockaddr_in6 *)&h->addr)->sin6_addr :
	    (const void *)&((const struct sockaddr_in *)&h->addr)->sin_addr;

	inet_ntop(h->addr.ss_family, a, addr, sizeof(addr));
	smtp_reply_local(&rc->why, 421, "4.4.1", "connect to %s[%s]: %s", h->host, addr,
	    err != 0 ? strerror(err) : what);
	rc->why_set = true;
	teardown(rc);
}

static void
connected(int fd, unsigned events, void *arg)
{
	struct relay_conn	*rc = arg;
	int			 err = 0;
	socklen_t		 len = sizeof(err);

	(void)events;
	enter(rc);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	if (err != 0) {
		hop_failed(rc, NULL, err);
		rc->hop++;
		connect_next(rc);
		leave(rc);
		return;
	}
	ev_io_del(&rc->connect_io);
	ev_timer_stop(rc->connect_timer);
	rc->fd = -1;
	rc->conn = conn_new(rc->loop, fd, &limits, conn_event, rc);
	rc->lb = linebuf_new(REPLY_LINE_MAX);
	rc->client = smtp_client_new(&rc->cfg.smtp, &client_ops, rc);
	rc->after = AFTER_NOTHING;
	if (rc->cfg.smtp.tls_active)
		conn_start_tls_client(rc->conn, rc->cfg.tls_ctx, rc->hops[rc->hop].host);
	set_timeout(rc);
	leave(rc);
}

static void
connect_timed_out(void *arg)
{
	struct relay_conn	*rc = arg;

	enter(rc);
	hop_failed(rc, "timed out", 0);
	rc->hop++;
	connect_next(rc);
	leave(rc);
}

static void
connect_next(struct relay_conn *rc)
{
	for (; rc->hop < rc->nhops; rc->hop++) {
		const struct route_hop	*h = &rc->hops[rc->hop];
		socklen_t		 len = h->addr.ss_family == AF_INET6 ?
		    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);

		rc->fd = socket(h->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (rc->fd == -1 || (connect(rc->fd, (const struct sockaddr *)&h->addr, len) == -1 &&
		    errno != EINPROGRESS)) {
			hop_failed(rc, NULL, errno);
			continue;
		}
		rc->connect_io = ev_io_add(rc->loop, rc->fd, EV_WRITE, connected, rc);
		ev_timer_set(rc->connect_timer, rc->cfg.connect_timeout_ms);
		return;
	}
	schedule(rc, AFTER_CLOSED);	/* every hop failed: why is the last one's */
}

struct relay_conn *
relay_conn_new(struct ev_loop *loop, const struct relay_conn_config *cfg,
    const struct route_hop *hops, size_t nhops, const struct relay_conn_ops *ops, void *arg)
{
	struct relay_conn	*rc = xcalloc(1, sizeof(*rc));

	rc->loop = loop;
	rc->cfg = *cfg;
	rc->ops = ops;
	rc->arg = arg;
	rc->hops = xreallocarray(NULL, nhops > 0 ? nhops : 1, sizeof(*hops));
	memcpy(rc->hops, hops, nhops * sizeof(*hops));
	rc->nhops = nhops;
	rc->fd = -1;
	rc->connect_timer = ev_timer_new(loop, connect_timed_out, rc);
	rc->after_timer = ev_timer_new(loop, after_due, rc);
	smtp_reply_local(&rc->why, 421, "4.4.1", "no address to connect to");
	rc->why_set = true;
	/* From the loop, as every later step: the owner is told nothing from in here. */
	rc->hop = (size_t)-1;
	schedule(rc, AFTER_NEXT_HOP);
	return rc;
}

static void
destroy(struct relay_conn *rc)
{
	teardown(rc);
	ev_timer_free(&rc->connect_timer);
	ev_timer_free(&rc->after_timer);
	free(rc->hops);
	free(rc);
}

void
relay_conn_free(struct relay_conn **rcp)
{
	struct relay_conn	*rc = *rcp;

	if (rc == NULL)
		return;
	*rcp = NULL;
	rc->dead = true;
	if (rc->depth == 0)
		destroy(rc);
}

bool
relay_conn_send(struct relay_conn *rc, const struct smtp_client_msg *msg,
    const char *body, size_t len)
{
	rc->body = body;
	rc->body_len = len;
	if (!smtp_client_send(rc->client, msg))
		return false;
	set_timeout(rc);
	conn_flush(rc->conn);	/* called from outside lib/conn's callbacks too */
	return true;
}

void
relay_conn_quit(struct relay_conn *rc)
{
	smtp_client_quit(rc->client);
	set_timeout(rc);
	conn_flush(rc->conn);
}

const char *
relay_conn_host(const struct relay_conn *rc)
{
	return rc->hop < rc->nhops ? rc->hops[rc->hop].host : "";
}
