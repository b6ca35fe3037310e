/*
 * The glue between a conn and a socket-free session (lib/session.h).
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
#include "lib/session.h"

#include "lib/buf.h"
#include "lib/conn.h"
#include "lib/ev.h"
#include "lib/log.h"
#include "lib/workq.h"
#include "lib/xmalloc.h"

#include <netinet/tcp.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define HOST_HANDSHAKE_TIMEOUT_MS	(30 * 1000)
#define IP_BUCKETS			256
/* Stopping without ops->shutdown: a session this quiet is between commands. */
#define HOST_QUIET_MS			1000

struct ip_count {
	struct ip_count	*next;
	unsigned	 n;
	char		 addr[INET6_ADDRSTRLEN];
};

/* Live sessions of one listener kind in this pool. */
struct pool_kind {
	const char	*kind;		/* NULL: unused */
	unsigned	 count;
	bool		 stressed;
};

struct session_pool {
	struct ev_loop			*loop;
	const struct session_ops	*ops;
	void				*arg;
	struct session_pool_limits	 limits;
	SSL_CTX				*tls;
	struct workq			*wq;
	struct host			*hosts;		/* doubly linked */
	size_t				 count;
	unsigned			 gen;
	bool				 stopping;
	struct ip_count			*ips[IP_BUCKETS];
	struct pool_kind		 kinds[SESSION_LISTENERS_MAX];
};

struct host {
	struct session_host	 base;		/* what the session sees */
	struct session_pool	*pool;
	struct host	*prev, *next;
	struct conn		*conn;		/* NULL: peer gone, session still PAUSEd */
	void			*s;
	struct session_peer	 peer;
	struct ip_count		*ip;
	struct pool_kind	*kind;		/* NULL: more kinds than slots */
	uint64_t		 deadline_ms;	/* of the session's timeout; 0: none */
	struct ev_timer		*soon;		/* settle from the loop (kicks) */
	struct ev_timer		*after;
	void			(*after_cb)(void *s);
	session_more_fn		 more;		/* a streamed reply in progress */
	struct ev_io		*watch;
	void			(*watch_cb)(void *s);
	uint64_t		 start_ms;
	uint64_t		 last_input_ms;
	unsigned		 gen;
	int			 depth;		/* calls into the session on the stack */
	bool			 implicit_tls;
	bool			 tls_requested;
	bool			 paused;	/* last want() was PAUSE */
	bool			 stop_pending;	/* stopping: ops->shutdown when between commands */
	bool			 stop_sent;	/* ops->shutdown called */
	bool			 closing;	/* close after flush requested */
	bool			 peer_gone;	/* conn reported CLOSED while the session paused */
	unsigned long long	 bytes_in, bytes_out;
	char			 reason[160];
};

static void	host_settle(struct host *h);

void
session_id_new(char id[17])
{
	static const char	 hex[] = "0123456789abcdef";
	static uint64_t		 counter;
	unsigned char		 r[8];
	size_t			 i;

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
		/* Ids only need to be unique in the logs; never worth failing for. */
		uint64_t v = ((uint64_t)getpid() << 40) ^ (uint64_t)time(NULL) ^ ++counter;

		memcpy(r, &v, sizeof(r));
	}
	for (i = 0; i < sizeof(r); i++) {
		id[2 * i] = hex[r[i] >> 4];
		id[2 * i + 1] = hex[r[i] & 15];
	}
	id[16] = '\0';
}

/* ---- per-address counts ---- */

static struct ip_count **
ip_slot(struct session_pool *p, const char *addr)
{
	uint32_t		 h = 2166136261u;
	const unsigned char	*s;
	struct ip_count		**ipp;

	for (s = (const unsigned char *)addr; *s != '\0'; s++)
		h = (h ^ *s) * 16777619u;
	for (ipp = &p->ips[h % IP_BUCKETS]; *ipp != NULL; ipp = &(*ipp)->next)
		if (strcmp((*ipp)->addr, addr) == 0)
			break;
	return ipp;
}

static unsigned
ip_current(struct session_pool *p, const char *addr)
{
	struct ip_count	**ipp = ip_slot(p, addr);

	return *ipp != NULL ? (*ipp)->n : 0;
}

static struct ip_count *
ip_ref(struct session_pool *p, const char *addr)
{
	struct ip_count	**ipp = ip_slot(p, addr);

	if (*ipp == NULL) {
		*ipp = xcalloc(1, sizeof(**ipp));
		snprintf((*ipp)->addr, sizeof((*ipp)->addr), "%s", addr);
	}
	(*ipp)->n++;
	return *ipp;
}

static void
ip_unref(struct session_pool *p, struct ip_count *ip)
{
	struct ip_count	**ipp;

	if (--ip->n > 0)
		return;
	ipp = ip_slot(p, ip->addr);
	*ipp = ip->next;
	free(ip);
}

/* ---- per-listener counts and stress ---- */

static struct pool_kind *
kind_get(struct session_pool *p, const char *listener)
{
	size_t	i;

	for (i = 0; i < SESSION_LISTENERS_MAX; i++) {
		if (p->kinds[i].kind == NULL)
			p->kinds[i].kind = listener;
		if (strcmp(p->kinds[i].kind, listener) == 0)
			return &p->kinds[i];
	}
	return NULL;
}

/* The listener's own limit; 0: none (max_connections only). */
static unsigned
kind_max(const struct session_pool *p, const char *listener)
{
	size_t	i;

	for (i = 0; i < SESSION_LISTENERS_MAX && p->limits.listeners[i].kind != NULL; i++)
		if (strcmp(p->limits.listeners[i].kind, listener) == 0)
			return p->limits.listeners[i].max_connections;
	return 0;
}

static bool
over_percent(unsigned long long n, unsigned long long max, unsigned percent)
{
	return max > 0 && n * 100 >= max * percent;
}

static bool
kind_stressed(const struct session_pool *p, const struct pool_kind *k)
{
	unsigned	pct = p->limits.stress_percent;

	if (pct == 0 || p->limits.stress_timeout_ms == 0)
		return false;
	return over_percent(p->count, p->limits.max_connections, pct) ||
	    over_percent(k->count, kind_max(p, k->kind), pct);
}

/* The session's deadline as the host applies it: cut short under stress. */
static unsigned long long
host_timeout(const struct host *h, unsigned long long ms)
{
	unsigned long long	stress = h->pool->limits.stress_timeout_ms;

	if (ms > 0 && h->kind != NULL && h->kind->stressed && ms > stress)
		return stress;
	return ms;
}

/* Stress began on k: sessions waiting longer than the stress timeout wait less. */
static void
kind_cut_deadlines(struct session_pool *p, struct pool_kind *k)
{
	struct host	*h;
	uint64_t		 now = ev_now(p->loop);
	unsigned long long	 stress = p->limits.stress_timeout_ms;

	for (h = p->hosts; h != NULL; h = h->next) {
		if (h->kind != k || h->conn == NULL || h->closing || h->s == NULL ||
		    h->deadline_ms == 0 || h->deadline_ms <= now + stress)
			continue;
		conn_set_timeout(h->conn, stress);
		h->deadline_ms = now + stress;
	}
}

/* After the counts changed: enter or leave stress, per listener kind. */
static void
pool_update_stress(struct session_pool *p)
{
	struct pool_kind	*k;
	bool			 on;
	size_t			 i;

	for (i = 0; i < SESSION_LISTENERS_MAX && p->kinds[i].kind != NULL; i++) {
		k = &p->kinds[i];
		if ((on = kind_stressed(p, k)) == k->stressed)
			continue;
		k->stressed = on;
		log_warnx("event=%s listener=%s connections=%u listener_max=%u total=%zu "
		    "max_connections=%u stress_timeout_ms=%llu", on ? "stress" : "stress_end",
		    k->kind, k->count, kind_max(p, k->kind), p->count,
		    p->limits.max_connections, p->limits.stress_timeout_ms);
		if (on)
			kind_cut_deadlines(p, k);
	}
}

/* ---- addresses ---- */

static void
sa_format(const struct sockaddr_storage *ss, char *addr, size_t size, int *port_r,
    bool *loopback_r)
{
	const struct sockaddr_in	*sin = (const struct sockaddr_in *)ss;
	const struct sockaddr_in6	*sin6 = (const struct sockaddr_in6 *)ss;
	struct in_addr			 v4;

	*port_r = 0;
	*loopback_r = false;
	switch (ss->ss_family) {
	case AF_INET:
		inet_ntop(AF_INET, &sin->sin_addr, addr, size);
		*port_r = ntohs(sin->sin_port);
		*loopback_r = (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
		return;
	case AF_INET6:
		*port_r = ntohs(sin6->sin6_port);
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			/* One client, one spelling: ::ffff:1.2.3.4 counts as 1.2.3.4. */
			memcpy(&v4, &sin6->sin6_addr.s6_addr[12], sizeof(v4));
			inet_ntop(AF_INET, &v4, addr, size);
			*loopback_r = (ntohl(v4.s_addr) >> 24) == 127;
			return;
		}
		inet_ntop(AF_INET6, &sin6->sin6_addr, addr, size);
		*loopback_r = IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr);
		return;
	case AF_UNIX:
		/* socketpairs in tests, local proxies: the same machine. */
		snprintf(addr, size, "unix");
		*loopback_r = true;
		return;
	default:
		snprintf(addr, size, "unknown");
		return;
	}
}

static void
peer_fill(struct session_peer *peer, int fd)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	bool			 lo;

	session_id_new(peer->id);
	memset(&ss, 0, sizeof(ss));
	len = sizeof(ss);
	if (getpeername(fd, (struct sockaddr *)&ss, &len) == -1)
		ss.ss_family = AF_UNSPEC;
	sa_format(&ss, peer->addr, sizeof(peer->addr), &peer->port, &peer->loopback);
	memset(&ss, 0, sizeof(ss));
	len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
		ss.ss_family = AF_UNSPEC;
	sa_format(&ss, peer->local_addr, sizeof(peer->local_addr), &peer->local_port, &lo);
}

/* ---- the session driver ---- */

static void
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
	if (h->s != NULL)
		p->ops->free(h->s);
	log_info("session=%s event=close addr=%s listener=%s duration_ms=%llu "
	    "bytes_in=%llu bytes_out=%llu reason=%s", h->peer.id, h->peer.addr, h->peer.listener,
	    (unsigned long long)(ev_now(p->loop) - h->start_ms), h->bytes_in, h->bytes_out,
	    log_quote(h->reason[0] != '\0' ? h->reason : "closed", q, sizeof(q)));
	ev_timer_free(&h->soon);
	ev_timer_free(&h->after);
	ev_io_del(&h->watch);
	ip_unref(p, h->ip);
	if (h->kind != NULL)
		h->kind->count--;
	if (h->prev != NULL)
		h->prev->next = h->next;
	else
		p->hosts = h->next;
	if (h->next != NULL)
		h->next->prev = h->prev;
	p->count--;
	free(h);
	pool_update_stress(p);
}

static bool
host_output_full(const struct host *h)
{
	return buf_len(conn_output(h->conn)) >= h->pool->limits.output_high;
}

/*
 * Feed buffered input while the session wants it, takes some, streams
 * nothing and has room for its replies: a client pipelining commands
 * without reading the answers gets the rest processed only as it reads
 * (after CONN_DRAINED), so output stays bounded.
 */
static void
host_feed(struct host *h)
{
	const struct session_ops	*ops = h->pool->ops;
	struct buf			*in = conn_input(h->conn);
	size_t				 n;

	while (buf_len(in) > 0 && h->more == NULL && !host_output_full(h) &&
	    ops->want(h->s) == SESSION_READ) {
		h->depth++;
		n = ops->input(h->s, buf_head(in), buf_len(in));
		h->depth--;
		if (n > buf_len(in))
			abort();	/* the session claims bytes it was never given */
		if (n == 0)
			break;
		buf_consume(in, n);
	}
}

/* Continue a streamed reply while there is room; true once none is left. */
static bool
host_produce(struct host *h)
{
	session_more_fn	 more;
	bool		 done;

	while ((more = h->more) != NULL && !host_output_full(h)) {
		h->depth++;
		done = more(h->s);
		h->depth--;
		if (done && h->more == more)
			h->more = NULL;
	}
	return h->more == NULL;
}

/* Stopping: tell a session that is between commands. */
static bool
host_stop_due(struct host *h)
{
	if (!h->stop_pending || h->stop_sent)
		return false;
	h->stop_sent = true;
	h->depth++;
	h->pool->ops->shutdown(h->s);
	h->depth--;
	return true;
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

static void
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
static void
host_settle(struct host *h)
{
	const struct session_ops	*ops = h->pool->ops;
	enum session_want		 w;
	size_t				 held;

	if (h->depth > 0 || h->s == NULL)
		return;
	if (h->peer_gone) {
		/* The peer is gone; the session waited for its own work. */
		if (ops->want(h->s) != SESSION_PAUSE)
			host_destroy(h);
		return;
	}
	for (;;) {
		w = ops->want(h->s);
		if (w == SESSION_READ) {
			conn_pause(h->conn, false);
			if (!host_produce(h))
				break;		/* until CONN_DRAINED */
			if (host_stop_due(h))
				continue;
			held = buf_len(conn_input(h->conn));
			host_feed(h);
			if (buf_len(conn_input(h->conn)) != held)
				continue;
		} else if (w == SESSION_PAUSE)
			conn_pause(h->conn, true);
		else if (w == SESSION_STARTTLS)
			host_starttls(h);
		else
			host_close(h);
		break;
	}
	conn_flush(h->conn);
}

static void
host_open(struct host *h)
{
	const struct session_ops	*ops = h->pool->ops;

	h->depth++;
	h->s = ops->open(&h->peer, conn_output(h->conn), &h->base, h->pool->arg);
	h->depth--;
	h->stop_pending = h->pool->stopping && ops->shutdown != NULL;
}

static void
host_conn_closed(struct host *h)
{
	/* Keep our own reason (timeout, shutdown) over the conn's "closed". */
	if (h->reason[0] == '\0' || strcmp(conn_close_reason(h->conn), "closed") != 0)
		snprintf(h->reason, sizeof(h->reason), "%s", conn_close_reason(h->conn));
	h->bytes_in = conn_bytes_in(h->conn);
	h->bytes_out = conn_bytes_out(h->conn);
	if (h->s != NULL && h->pool->ops->want(h->s) == SESSION_PAUSE) {
		/*
		 * The session's work (a commit) is still running and will append
		 * its reply to the conn's output buffer: keep the conn, inert since
		 * it reported CLOSED, until host_settle() sees the pause end.
		 */
		h->peer_gone = true;
		h->more = NULL;
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
	if (h->s == NULL) {
		conn_set_timeout(h->conn, 0);
		host_open(h);
	} else if (ops->tls_started != NULL) {
		h->depth++;
		ops->tls_started(h->s);
		h->depth--;
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
	if (h->s == NULL || (h->tls_requested && !h->peer.tls)) {
		host_close_now(h, "TLS handshake timeout");
		return false;
	}
	snprintf(h->reason, sizeof(h->reason), "timeout");
	/* A farewell must not land inside a streamed reply: the session ends it. */
	h->more = NULL;
	h->depth++;
	h->pool->ops->timeout(h->s);
	h->depth--;
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
		if (h->s != NULL)
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
	if (cb == NULL || h->s == NULL)
		return;
	h->depth++;
	cb(h->s);
	h->depth--;
	host_settle(h);
}

static void
host_watch_cb(int fd, unsigned events, void *arg)
{
	struct host	*h = arg;

	(void)fd;
	(void)events;
	if (h->watch_cb == NULL || h->s == NULL)
		return;
	h->depth++;
	h->watch_cb(h->s);
	h->depth--;
	host_settle(h);
}

/* ---- the API a session sees (lib/session.h) ---- */

static struct host *
host_of(struct session_host *base)
{
	return (struct host *)((char *)base - offsetof(struct host, base));
}

static void
api_kick(struct session_host *base)
{
	ev_timer_set(host_of(base)->soon, 0);
}

static void
api_set_timeout(struct session_host *base, unsigned long long ms)
{
	struct host	*h = host_of(base);

	if (h->conn == NULL || h->closing)
		return;
	ms = host_timeout(h, ms);
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
	host_of(base)->more = more;
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

/* ---- the pool ---- */

struct session_pool *
session_pool_new(struct ev_loop *loop, const struct session_ops *ops, void *arg,
    const struct session_pool_limits *limits)
{
	struct session_pool	*p;

	p = xcalloc(1, sizeof(*p));
	p->loop = loop;
	p->ops = ops;
	p->arg = arg;
	p->limits = *limits;
	return p;
}

void
session_pool_free(struct session_pool **pp)
{
	struct session_pool	*p = *pp;
	size_t			 i;

	if (p == NULL)
		return;
	while (p->hosts != NULL) {
		snprintf(p->hosts->reason, sizeof(p->hosts->reason), "shutdown");
		host_destroy(p->hosts);
	}
	for (i = 0; i < IP_BUCKETS; i++)
		if (p->ips[i] != NULL)
			abort();	/* counts out of step with hosts */
	free(p);
	*pp = NULL;
}

void
session_pool_set_limits(struct session_pool *p, const struct session_pool_limits *l)
{
	p->limits = *l;
}

void
session_pool_set_tls(struct session_pool *p, SSL_CTX *ctx)
{
	p->tls = ctx;
}

void
session_pool_set_workq(struct session_pool *p, struct workq *wq)
{
	p->wq = wq;
}

static void
pool_refuse(struct session_pool *p, int fd, const char *addr, const char *listener,
    bool implicit_tls, const char *why)
{
	const char	*reply = p->ops->busy_reply;

	/* A fresh socket has an empty send buffer: one non-blocking send suffices. */
	if (!implicit_tls && reply != NULL)
		(void)send(fd, reply, strlen(reply), MSG_NOSIGNAL | MSG_DONTWAIT);
	close(fd);
	log_warnx("event=refuse addr=%s listener=%s reason=%s", addr, listener, why);
}

int
session_pool_accept(struct session_pool *p, int fd, const char *listener, bool implicit_tls)
{
	struct host	*h;
	struct pool_kind	*k;
	struct conn_limits	 cl;
	unsigned		 kmax = kind_max(p, listener);
	int			 one = 1;

	h = xcalloc(1, sizeof(*h));
	peer_fill(&h->peer, fd);
	k = kind_get(p, listener);
	if (k != NULL && kmax > 0 && k->count >= kmax) {
		/* MX strangers cannot take the room kept for submission users. */
		pool_refuse(p, fd, h->peer.addr, listener, implicit_tls, "listener_max_connections");
		free(h);
		return -1;
	}
	if (p->count >= p->limits.max_connections) {
		pool_refuse(p, fd, h->peer.addr, listener, implicit_tls, "max_connections");
		free(h);
		return -1;
	}
	if (ip_current(p, h->peer.addr) >= p->limits.max_per_ip) {
		pool_refuse(p, fd, h->peer.addr, listener, implicit_tls, "max_connections_per_ip");
		free(h);
		return -1;
	}
	h->base.ops = &host_api;
	h->pool = p;
	h->peer.listener = listener;
	h->implicit_tls = implicit_tls;
	h->ip = ip_ref(p, h->peer.addr);
	h->kind = k;
	if (k != NULL)
		k->count++;
	h->start_ms = ev_now(p->loop);
	h->last_input_ms = h->start_ms;
	h->gen = p->gen;
	h->soon = ev_timer_new(p->loop, host_soon_cb, h);
	h->after = ev_timer_new(p->loop, host_after_cb, h);
	cl.input_max = p->limits.input_max;
	cl.output_high = p->limits.output_high;
	cl.output_max = p->limits.output_max;
	/* Output is corked into whole replies: Nagle could only delay them. */
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == -1 &&
	    errno != EOPNOTSUPP && errno != ENOPROTOOPT)
		log_warn("session=%s setsockopt TCP_NODELAY", h->peer.id);
	h->conn = conn_new(p->loop, fd, &cl, host_conn_cb, h);
	h->next = p->hosts;
	if (p->hosts != NULL)
		p->hosts->prev = h;
	p->hosts = h;
	p->count++;
	pool_update_stress(p);
	log_info("session=%s event=connect addr=%s port=%d local=%s%s%s:%d listener=%s",
	    h->peer.id, h->peer.addr, h->peer.port, strchr(h->peer.local_addr, ':') ? "[" : "",
	    h->peer.local_addr, strchr(h->peer.local_addr, ':') ? "]" : "", h->peer.local_port,
	    listener);
	if (!implicit_tls) {
		host_open(h);
		host_settle(h);
		return 0;
	}
	if (p->tls == NULL || conn_start_tls(h->conn, p->tls) == -1)
		host_close_now(h, p->tls == NULL ? "no TLS certificate" : "TLS setup failed");
	else
		conn_set_timeout(h->conn, host_timeout(h, HOST_HANDSHAKE_TIMEOUT_MS));
	return 0;
}

/*
 * Without ops->shutdown the host cannot see a command in progress (a DATA
 * transfer looks like READ), so it takes silence as the sign: nothing
 * buffered either way and no input for HOST_QUIET_MS.
 */
static bool
host_idle(struct host *h)
{
	return h->conn != NULL && h->pool->ops->want(h->s) == SESSION_READ &&
	    buf_len(conn_input(h->conn)) == 0 && buf_len(conn_output(h->conn)) == 0 &&
	    ev_now(h->pool->loop) - h->last_input_ms >= HOST_QUIET_MS;
}

void
session_pool_shutdown(struct session_pool *p)
{
	struct host	*h;

	p->stopping = true;
	for (h = p->hosts; h != NULL; h = h->next) {
		if (h->s == NULL) {
			if (h->conn != NULL)
				host_close_now(h, "shutdown");
			continue;
		}
		if (p->ops->shutdown != NULL) {
			/* host_settle() tells it once it is between commands. */
			h->stop_pending = true;
			api_kick(&h->base);
		} else if (host_idle(h))
			host_close_now(h, "shutdown");
	}
}

size_t
session_pool_count(const struct session_pool *p)
{
	return p->count;
}

void
session_pool_set_generation(struct session_pool *p, unsigned gen)
{
	p->gen = gen;
}

unsigned
session_pool_oldest_generation(const struct session_pool *p)
{
	const struct host	*h;
	unsigned			 oldest = UINT_MAX;

	for (h = p->hosts; h != NULL; h = h->next)
		if (h->gen < oldest)
			oldest = h->gen;
	return oldest;
}
