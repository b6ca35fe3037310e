/*
 * The live sessions of one protocol in this process (lib/session.h): the
 * per-process connection limit, the per-address one (counted with the
 * other workers in a lib/conntab), a listener kind's own limit,
 * stress-adaptive deadlines, accepting and refusing, shutdown and reload
 * bookkeeping.  Each session is driven by lib/session_host.c.
 */
#include "lib/session_private.h"

#include "lib/buf.h"
#include "lib/conn.h"
#include "lib/conntab.h"
#include "lib/ev.h"
#include "lib/log.h"
#include "lib/xmalloc.h"

#include <netinet/tcp.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define HOST_HANDSHAKE_TIMEOUT_MS	(30 * 1000)
/* Stopping without ops->shutdown: a session this quiet is between commands. */
#define HOST_QUIET_MS			1000

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

/* Would a limit of this process refuse the next connection (on some listener)? */
static bool
pool_full(const struct session_pool *p)
{
	unsigned	kmax;
	size_t		i;

	if (p->count >= p->limits.max_connections)
		return true;
	for (i = 0; i < SESSION_LISTENERS_MAX && p->kinds[i].kind != NULL; i++)
		if ((kmax = kind_max(p, p->kinds[i].kind)) > 0 && p->kinds[i].count >= kmax)
			return true;
	return false;
}

/*
 * This worker's load for the others (lib/daemon.c accept_cb): its
 * connections, or CONNTAB_LOAD_FULL while a limit of its own would refuse
 * the next one, so that they keep connections a worker with room can serve.
 */
static void
pool_publish(struct session_pool *p)
{
	conntab_set_load(p->conns, pool_full(p) ? CONNTAB_LOAD_FULL : (unsigned)p->count);
}

unsigned long long
pool_deadline(const struct host *h, unsigned long long ms)
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
		if (h->kind != k || h->conn == NULL || h->closing || h->dr.s == NULL ||
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

void
pool_forget(struct host *h)
{
	struct session_pool	*p = h->pool;

	conntab_release(p->conns, h->addr_slot);
	if (h->kind != NULL)
		h->kind->count--;
	if (h->prev != NULL)
		h->prev->next = h->next;
	else
		p->hosts = h->next;
	if (h->next != NULL)
		h->next->prev = h->prev;
	p->count--;
	pool_publish(p);
	pool_update_stress(p);
}

/* ---- the pool ---- */

struct session_pool *
session_pool_new(struct ev_loop *loop, const struct session_ops *ops, void *arg,
    const struct session_pool_limits *limits, struct conntab *conns)
{
	struct session_pool	*p;

	p = xcalloc(1, sizeof(*p));
	p->conns = conns;
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

	if (p == NULL)
		return;
	while (p->hosts != NULL) {
		snprintf(p->hosts->reason, sizeof(p->hosts->reason), "shutdown");
		host_destroy(p->hosts);
	}
	free(p);
	*pp = NULL;
}

void
session_pool_set_limits(struct session_pool *p, const struct session_pool_limits *l)
{
	p->limits = *l;
	pool_publish(p);
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

	/* Logged first: once the client hears the refusal, the log says why. */
	log_warnx("event=refuse addr=%s listener=%s reason=%s", addr, listener, why);
	/* A fresh socket has an empty send buffer: one non-blocking send suffices. */
	if (!implicit_tls && reply != NULL)
		(void)send(fd, reply, strlen(reply), MSG_NOSIGNAL | MSG_DONTWAIT);
	close(fd);
}

int
session_pool_accept(struct session_pool *p, int fd, const char *listener, bool implicit_tls)
{
	struct host		*h;
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
	/* Last: a refusal after it would have to give the count back. */
	switch (conntab_acquire(p->conns, CONNTAB_ADDR, h->peer.addr, p->limits.max_per_ip,
	    &h->addr_slot)) {
	case CONNTAB_OK:
		break;
	case CONNTAB_OVER:
		pool_refuse(p, fd, h->peer.addr, listener, implicit_tls, "max_connections_per_ip");
		free(h);
		return -1;
	case CONNTAB_FULL:
		/* Fail closed: an uncounted client could exceed its limit. */
		pool_refuse(p, fd, h->peer.addr, listener, implicit_tls, "connection_table_full");
		free(h);
		return -1;
	}
	h->pool = p;
	h->peer.listener = listener;
	h->implicit_tls = implicit_tls;
	h->kind = k;
	if (k != NULL)
		k->count++;
	h->start_ms = ev_now(p->loop);
	h->last_input_ms = h->start_ms;
	h->gen = p->gen;
	cl.input_max = p->limits.input_max;
	cl.output_high = p->limits.output_high;
	cl.output_max = p->limits.output_max;
	/* Output is corked into whole replies: Nagle could only delay them. */
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == -1 &&
	    errno != EOPNOTSUPP && errno != ENOPROTOOPT)
		log_warn("session=%s event=setsockopt option=TCP_NODELAY", h->peer.id);
	host_attach(h, fd, &cl);
	h->next = p->hosts;
	if (p->hosts != NULL)
		p->hosts->prev = h;
	p->hosts = h;
	p->count++;
	pool_publish(p);
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
		conn_set_timeout(h->conn, pool_deadline(h, HOST_HANDSHAKE_TIMEOUT_MS));
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
	return h->conn != NULL && h->pool->ops->want(h->dr.s) == SESSION_READ &&
	    buf_len(conn_input(h->conn)) == 0 && buf_len(conn_output(h->conn)) == 0 &&
	    ev_now(h->pool->loop) - h->last_input_ms >= HOST_QUIET_MS;
}

void
session_pool_shutdown(struct session_pool *p)
{
	struct host	*h;

	p->stopping = true;
	for (h = p->hosts; h != NULL; h = h->next) {
		if (h->dr.s == NULL) {
			if (h->conn != NULL)
				host_close_now(h, "shutdown");
			continue;
		}
		if (p->ops->shutdown != NULL) {
			/* host_settle() tells it once it is between commands. */
			h->dr.stop_pending = true;
			host_kick(h);
		} else if (host_idle(h))
			host_close_now(h, "shutdown");
	}
}

size_t
session_pool_count(const struct session_pool *p)
{
	return p->count;
}

unsigned
session_pool_listener_count(const struct session_pool *p, const char *listener)
{
	size_t	i;

	for (i = 0; i < SESSION_LISTENERS_MAX && p->kinds[i].kind != NULL; i++)
		if (strcmp(p->kinds[i].kind, listener) == 0)
			return p->kinds[i].count;
	return 0;
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
