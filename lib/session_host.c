/*
 * One conn driving one socket-free session (lib/session.h), and the
 * session_host API that session sees.
 *
 * After every call into the session the host flushes the corked output
 * and acts on want().  Kicks from async work never call into the session
 * synchronously: they arm a zero-delay timer, so a session's own callback
 * can never be pulled out from under it.  A session that is PAUSEd when
 * its peer goes away (a commit in flight) is kept alive, without a conn,
 * until it stops pausing, so no session has to handle being freed while
 * it waits for its own work.  The host holds input while a session
 * pauses or streams a reply; no session keeps input of its own.
 */
#include "lib/session_private.h"

#include "lib/buf.h"
#include "lib/conn.h"
#include "lib/ev.h"
#include "lib/log.h"
#include "lib/workq.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the session driver ---- */

void
host_destroy(struct host *h)
{
	struct session_pool	*p = h->pool;
	char			 q[200];

	if (h->conn != NULL) {
		h->bytes_in = conn_bytes_in(h->conn);
		h->bytes_out = conn_bytes_out(h->conn);
		conn_free(&h->conn);
	}
	/* The session's own summary first, then the connection's. */
	if (h->dr.s != NULL)
		p->ops->free(h->dr.s);
	log_info("session=%s event=close addr=%s listener=%s duration_ms=%llu "
	    "bytes_in=%llu bytes_out=%llu reason=%s", h->peer.id, h->peer.addr, h->peer.listener,
	    (unsigned long long)(ev_now(p->loop) - h->start_ms), h->bytes_in, h->bytes_out,
	    log_quote(h->reason[0] != '\0' ? h->reason : "closed", q, sizeof(q)));
	ev_timer_free(&h->soon);
	ev_timer_free(&h->after);
	ev_io_del(&h->watch);
	pool_forget(h);
	free(h);
}

static bool
host_output_full(const struct host *h)
{
	return session_drive_full(conn_output(h->conn), h->pool->limits.output_high);
}

/* Feed the input the conn holds (lib/session_drive.h). */
static void
host_feed(struct host *h)
{
	session_drive_feed(&h->dr, conn_input(h->conn), conn_output(h->conn),
	    h->pool->limits.output_high);
}

static void
host_close(struct host *h)
{
	if (h->closing)
		return;
	h->closing = true;
	conn_close_after_flush(h->conn);
	/* A client that never reads its farewell must not keep the slot. */
	conn_set_timeout(h->conn, h->pool->limits.close_linger_ms);
}

void
host_close_now(struct host *h, const char *why)
{
	snprintf(h->reason, sizeof(h->reason), "%s", why);
	host_close(h);
}

static void
host_starttls(struct host *h)
{
	conn_pause(h->conn, true);
	if (h->tls_requested)
		return;
	h->tls_requested = true;
	if (h->pool->tls == NULL)
		host_close_now(h, "STARTTLS without a certificate");
	else if (conn_start_tls(h->conn, h->pool->tls) == -1)
		host_close_now(h, "STARTTLS failed");
}

/*
 * Act on want() until it is stable; flush once at the end.  While READ:
 * the streamed reply first, then a pending shutdown, then the input held
 * back meanwhile.
 */
void
host_settle(struct host *h)
{
	const struct session_ops	*ops = h->pool->ops;
	enum session_want		 w;

	if (h->dr.depth > 0 || h->dr.s == NULL)
		return;
	if (h->peer_gone) {
		/* The peer is gone; the session waited for its own work. */
		if (ops->want(h->dr.s) != SESSION_PAUSE)
			host_destroy(h);
		return;
	}
	for (;;) {
		w = ops->want(h->dr.s);
		if (w == SESSION_READ) {
			conn_pause(h->conn, false);
			/*
			 * false: waits for CONN_DRAINED or CONN_INPUT, unless a
			 * streamed reply's last part changed want() (a close).
			 */
			if (session_drive_read(&h->dr, conn_input(h->conn), conn_output(h->conn),
			    h->pool->limits.output_high) || ops->want(h->dr.s) != SESSION_READ)
				continue;
		} else if (w == SESSION_PAUSE)
			conn_pause(h->conn, true);
		else if (w == SESSION_STARTTLS)
			host_starttls(h);
		else
			host_close(h);
		break;
	}
	/* A stream's output storage stays until its reply is whole (and paused: its job refills). */
	conn_keep_output(h->conn, h->dr.more != NULL);
	conn_flush(h->conn);
}

void
host_open(struct host *h)
{
	const struct session_ops	*ops = h->pool->ops;

	h->dr.depth++;
	h->dr.ops = ops;
	h->dr.s = ops->open(&h->peer, conn_output(h->conn), &h->base, h->pool->arg);
	h->dr.depth--;
	h->dr.stop_pending = h->pool->stopping && ops->shutdown != NULL;
}

static void
host_conn_closed(struct host *h)
{
	const struct session_ops	*ops = h->pool->ops;

	/* Keep our own reason (timeout, shutdown) over the conn's "closed". */
	if (h->reason[0] == '\0' || strcmp(conn_close_reason(h->conn), "closed") != 0)
		snprintf(h->reason, sizeof(h->reason), "%s", conn_close_reason(h->conn));
	h->bytes_in = conn_bytes_in(h->conn);
	h->bytes_out = conn_bytes_out(h->conn);
	if (h->dr.s != NULL && ops->peer_gone != NULL && ops->want(h->dr.s) == SESSION_PAUSE)
		session_drive_call(&h->dr, ops->peer_gone);
	if (h->dr.s != NULL && ops->want(h->dr.s) == SESSION_PAUSE) {
		/*
		 * The session's work (a commit) is still running and will append
		 * its reply to the conn's output buffer: keep the conn, inert since
		 * it reported CLOSED, until host_settle() sees the pause end.
		 */
		h->peer_gone = true;
		h->dr.more = NULL;
		ev_io_del(&h->watch);
		return;
	}
	conn_free(&h->conn);
	host_destroy(h);
}

static void
host_tls_done(struct host *h)
{
	const struct session_ops	*ops = h->pool->ops;

	h->peer.tls = true;
	snprintf(h->peer.tls_info, sizeof(h->peer.tls_info), "%s", conn_tls_info(h->conn));
	if (h->dr.s == NULL) {
		conn_set_timeout(h->conn, 0);
		host_open(h);
	} else if (ops->tls_started != NULL) {
		session_drive_call(&h->dr, ops->tls_started);
	}
}

/* CONN_TIMEOUT; false if the host is gone. */
static bool
host_timed_out(struct host *h)
{
	if (h->closing) {
		/* The client does not read its farewell: drop it. */
		snprintf(h->reason, sizeof(h->reason), "close timeout");
		h->bytes_in = conn_bytes_in(h->conn);
		h->bytes_out = conn_bytes_out(h->conn);
		conn_free(&h->conn);
		host_destroy(h);
		return false;
	}
	if (h->dr.s == NULL || (h->tls_requested && !h->peer.tls)) {
		host_close_now(h, "TLS handshake timeout");
		return false;
	}
	snprintf(h->reason, sizeof(h->reason), "timeout");
	/* A farewell must not land inside a streamed reply: the session ends it. */
	h->dr.more = NULL;
	session_drive_call(&h->dr, h->pool->ops->timeout);
	return true;
}

static void
host_conn_cb(struct conn *c, enum conn_event ev, void *arg)
{
	struct host	*h = arg;

	(void)c;
	switch (ev) {
	case CONN_INPUT:
		h->last_input_ms = ev_now(h->pool->loop);
		if (h->dr.s != NULL)
			host_feed(h);
		break;
	case CONN_DRAINED:
		/* host_settle() continues a stream and feeds what was held back. */
		break;
	case CONN_TLS_DONE:
		host_tls_done(h);
		break;
	case CONN_TIMEOUT:
		if (!host_timed_out(h))
			return;
		break;
	case CONN_CLOSED:
		host_conn_closed(h);
		return;
	}
	host_settle(h);
}

static void
host_soon_cb(void *arg)
{
	host_settle(arg);
}

static void
host_after_cb(void *arg)
{
	struct host	*h = arg;
	void		(*cb)(void *) = h->after_cb;

	h->after_cb = NULL;
	if (cb == NULL || h->dr.s == NULL)
		return;
	session_drive_call(&h->dr, cb);
	host_settle(h);
}

static void
host_watch_cb(int fd, unsigned events, void *arg)
{
	struct host	*h = arg;

	(void)fd;
	(void)events;
	if (h->watch_cb == NULL || h->dr.s == NULL)
		return;
	session_drive_call(&h->dr, h->watch_cb);
	host_settle(h);
}

/* ---- the API a session sees (lib/session.h) ---- */

static struct host *
host_of(struct session_host *base)
{
	return (struct host *)((char *)base - offsetof(struct host, base));
}

void
host_kick(struct host *h)
{
	ev_timer_set(h->soon, 0);
}

static void
api_kick(struct session_host *base)
{
	host_kick(host_of(base));
}

static void
api_set_timeout(struct session_host *base, unsigned long long ms)
{
	struct host	*h = host_of(base);

	if (h->conn == NULL || h->closing)
		return;
	ms = pool_deadline(h, ms);
	conn_set_timeout(h->conn, ms);
	h->deadline_ms = ms > 0 ? ev_now(h->pool->loop) + ms : 0;
}

static void
api_after(struct session_host *base, unsigned long long ms, void (*cb)(void *s))
{
	struct host	*h = host_of(base);

	h->after_cb = cb;
	ev_timer_set(h->after, ms);
}

static void
api_submit(struct session_host *base, void (*work)(void *), void (*done)(void *), void *arg)
{
	workq_submit(host_of(base)->pool->wq, work, done, arg);
}

static bool
api_output_full(const struct session_host *base)
{
	const struct host *h = (const struct host *)((const char *)base -
	    offsetof(struct host, base));

	return host_output_full(h);
}

static void
api_stream(struct session_host *base, session_more_fn more)
{
	host_of(base)->dr.more = more;
}

static int
api_watch(struct session_host *base, int fd, void (*cb)(void *s))
{
	struct host	*h = host_of(base);

	ev_io_del(&h->watch);
	h->watch_cb = NULL;
	if (fd == -1)
		return 0;
	if ((h->watch = ev_io_add(h->pool->loop, fd, EV_READ, host_watch_cb, h)) == NULL)
		return -1;
	h->watch_cb = cb;
	return 0;
}

static const struct session_host_ops host_api = {
	.kick		= api_kick,
	.set_timeout	= api_set_timeout,
	.after		= api_after,
	.submit		= api_submit,
	.output_full	= api_output_full,
	.stream		= api_stream,
	.watch		= api_watch,
};

void
host_attach(struct host *h, int fd, const struct conn_limits *cl)
{
	struct ev_loop	*loop = h->pool->loop;

	h->base.ops = &host_api;
	h->soon = ev_timer_new(loop, host_soon_cb, h);
	h->after = ev_timer_new(loop, host_after_cb, h);
	h->conn = conn_new(loop, fd, cl, host_conn_cb, h);
}
