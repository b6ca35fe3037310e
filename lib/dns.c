/*
 * c-ares on the event loop (lib/dns.h).  c-ares tells which sockets it
 * wants watched through its socket-state callback and when its next
 * retransmission is due through ares_timeout; both are mirrored here on
 * ev_io watchers and one timer.  Answers are copied into the query and told
 * from a second timer, on the next loop round: c-ares answers some
 * lookups (a numeric host, /etc/hosts) inside the call that starts them.
 */
#include "lib/dns.h"

#include "lib/error.h"
#include "lib/ev.h"
#include "lib/xmalloc.h"

#include <ares.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct dns_socket {
	int		 fd;
	struct ev_io	*io;
};

struct dns {
	struct ev_loop		*loop;
	ares_channel		 channel;
	struct dns_socket	*sockets;
	size_t			 nsockets;
	struct ev_timer		*retransmit;
	struct ev_timer		*report;
	struct dns_query	*answered;	/* told at the next report */
	struct dns_query	**answered_tail;
};

struct dns_query {
	struct dns_query	*next;
	struct dns		*dns;
	bool			 cancelled;
	dns_mx_cb		 mx_cb;		/* one of the two is set */
	dns_addr_cb		 addr_cb;
	void			*arg;
	uint16_t		 port;
	enum dns_result		 result;
	struct dns_mx		*mx;
	struct sockaddr_storage	*addr;
	size_t			 n;
};

static void	arm_retransmit(struct dns *dns);

static void
query_free(struct dns_query *q)
{
	free(q->mx);
	free(q->addr);
	free(q);
}

static void
socket_ready(int fd, unsigned events, void *arg)
{
	struct dns	*dns = arg;

	ares_process_fd(dns->channel,
	    events & (EV_READ | EV_ERROR) ? fd : ARES_SOCKET_BAD,
	    events & EV_WRITE ? fd : ARES_SOCKET_BAD);
	arm_retransmit(dns);
}

/* c-ares calls this before it closes a socket, so ev_io_del comes first. */
static void
socket_state(void *arg, ares_socket_t fd, int readable, int writable)
{
	struct dns		*dns = arg;
	struct dns_socket	*s = NULL;
	unsigned		 events = (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0);

	for (size_t i = 0; i < dns->nsockets; i++)
		if (dns->sockets[i].fd == fd)
			s = &dns->sockets[i];
	if (s != NULL && events == 0) {
		ev_io_del(&s->io);
		*s = dns->sockets[--dns->nsockets];
	} else if (s != NULL) {
		ev_io_set(s->io, events);
	} else if (events != 0) {
		struct ev_io	*io = ev_io_add(dns->loop, fd, events, socket_ready, dns);

		/* Unwatched, the query times out and is told as DNS_TEMPFAIL. */
		if (io == NULL)
			return;
		dns->sockets = xreallocarray(dns->sockets, dns->nsockets + 1,
		    sizeof(*dns->sockets));
		dns->sockets[dns->nsockets++] = (struct dns_socket){ fd, io };
	}
}

static void
retransmit_due(void *arg)
{
	struct dns	*dns = arg;

	ares_process_fd(dns->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	arm_retransmit(dns);
}

static void
arm_retransmit(struct dns *dns)
{
	struct timeval	 tv;

	if (ares_timeout(dns->channel, NULL, &tv) == NULL) {
		ev_timer_stop(dns->retransmit);
		return;
	}
	ev_timer_set(dns->retransmit, (uint64_t)tv.tv_sec * 1000 +
	    ((uint64_t)tv.tv_usec + 999) / 1000);
}

static void
report_answers(void *arg)
{
	struct dns		*dns = arg;
	struct dns_query	*q = dns->answered;

	/* Lookups started by the callbacks are told at the next round. */
	dns->answered = NULL;
	dns->answered_tail = &dns->answered;
	while (q != NULL) {
		struct dns_query	*next = q->next;

		if (q->cancelled)
			;
		else if (q->mx_cb != NULL)
			q->mx_cb(q->arg, q->result, q->mx, q->n);
		else
			q->addr_cb(q->arg, q->result, q->addr, q->n);
		query_free(q);
		q = next;
	}
}

/* Returns false if the query is to be dropped: cancelled or shutting down. */
static bool
answer(struct dns_query *q, int status, enum dns_result *result)
{
	if (q->cancelled || status == ARES_EDESTRUCTION || status == ARES_ECANCELLED) {
		query_free(q);
		return false;
	}
	switch (status) {
	case ARES_SUCCESS:
		*result = DNS_OK;
		break;
	case ARES_ENODATA:
		*result = DNS_NODATA;
		break;
	case ARES_ENOTFOUND:
	case ARES_EBADNAME:
		*result = DNS_NOTFOUND;
		break;
	default:
		*result = DNS_TEMPFAIL;
		break;
	}
	return true;
}

static void
enqueue_answer(struct dns_query *q)
{
	struct dns	*dns = q->dns;

	q->next = NULL;
	*dns->answered_tail = q;
	dns->answered_tail = &q->next;
	if (!ev_timer_pending(dns->report))
		ev_timer_set(dns->report, 0);
}

static int
mx_order(const void *a, const void *b)
{
	const struct dns_mx	*x = a, *y = b;

	return (x->preference > y->preference) - (x->preference < y->preference);
}

static void
shuffle_equal_preferences(struct dns_mx *mx, size_t n)
{
	for (size_t lo = 0, hi; lo < n; lo = hi) {
		for (hi = lo + 1; hi < n && mx[hi].preference == mx[lo].preference; hi++)
			;
		for (size_t i = hi - 1; i > lo; i--) {
			size_t		j = lo + arc4random_uniform((uint32_t)(i - lo + 1));
			struct dns_mx	t = mx[i];

			mx[i] = mx[j];
			mx[j] = t;
		}
	}
}

int
dns_parse_mx(const unsigned char *abuf, int alen, struct dns_mx **mx_r, size_t *n_r)
{
	struct ares_mx_reply	*reply = NULL;
	struct dns_mx		*mx;
	size_t			 n = 0;
	int			 status;

	*mx_r = NULL;
	*n_r = 0;
	if ((status = ares_parse_mx_reply(abuf, alen, &reply)) != ARES_SUCCESS)
		return status == ARES_ENODATA ? DNS_NODATA : DNS_TEMPFAIL;
	for (struct ares_mx_reply *r = reply; r != NULL; r = r->next)
		n++;
	mx = xcalloc(n > 0 ? n : 1, sizeof(*mx));
	n = 0;
	for (struct ares_mx_reply *r = reply; r != NULL; r = r->next) {
		/* A name over 253 cannot be looked up: skip it like a bad host. */
		if (strlen(r->host) > DNS_NAME_MAX)
			continue;
		mx[n].preference = r->priority;
		strcpy(mx[n].host, r->host);
		n++;
	}
	ares_free_data(reply);
	qsort(mx, n, sizeof(*mx), mx_order);
	shuffle_equal_preferences(mx, n);
	*mx_r = mx;
	*n_r = n;
	return n > 0 ? DNS_OK : DNS_TEMPFAIL;	/* answered, none usable */
}

static void
mx_answered(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct dns_query	*q = arg;

	(void)timeouts;
	if (!answer(q, status, &q->result))
		return;
	if (q->result == DNS_OK)
		q->result = dns_parse_mx(abuf, alen, &q->mx, &q->n);
	enqueue_answer(q);
}

static void
addr_answered(void *arg, int status, int timeouts, struct ares_addrinfo *ai)
{
	struct dns_query		*q = arg;
	struct ares_addrinfo_node	*node;
	size_t				 n = 0;

	(void)timeouts;
	if (!answer(q, status, &q->result)) {
		ares_freeaddrinfo(ai);
		return;
	}
	for (node = ai != NULL ? ai->nodes : NULL; node != NULL; node = node->ai_next)
		n++;
	q->addr = xcalloc(n > 0 ? n : 1, sizeof(*q->addr));
	for (node = ai != NULL ? ai->nodes : NULL; node != NULL; node = node->ai_next) {
		struct sockaddr_storage	*ss = &q->addr[q->n];

		if (node->ai_family == AF_INET6 && node->ai_addrlen == sizeof(struct sockaddr_in6)) {
			memcpy(ss, node->ai_addr, sizeof(struct sockaddr_in6));
			((struct sockaddr_in6 *)ss)->sin6_port = htons(q->port);
		} else if (node->ai_family == AF_INET && node->ai_addrlen == sizeof(struct sockaddr_in)) {
			memcpy(ss, node->ai_addr, sizeof(struct sockaddr_in));
			((struct sockaddr_in *)ss)->sin_port = htons(q->port);
		} else {
			continue;
		}
		q->n++;
	}
	ares_freeaddrinfo(ai);
	if (q->result == DNS_OK && q->n == 0)
		q->result = DNS_NODATA;
	enqueue_answer(q);
}

/* Letters, digits, '-', '_' and dots between labels of 1 to 63. */
static bool
valid_name(const char *name)
{
	size_t	label = 0, len = strlen(name);

	if (len == 0 || len > DNS_NAME_MAX)
		return false;
	for (const char *p = name; *p != '\0'; p++) {
		if (*p == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z') &&
		    !(*p >= '0' && *p <= '9') && *p != '-' && *p != '_')
			return false;
		if (++label > 63)
			return false;
	}
	return true;
}

/*
 * A numeric address is its own answer (c-ares 1.18 sends an IPv4 one to
 * DNS when both families are asked for); anything else is DNS_NOTFOUND here
 * until a lookup says otherwise.
 */
static bool
numeric_address(const char *host, uint16_t port, struct dns_query *q)
{
	struct sockaddr_in	sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct sockaddr_in6	sin6 = { .sin6_family = AF_INET6, .sin6_port = htons(port) };

	q->result = DNS_NOTFOUND;
	if (inet_pton(AF_INET, host, &sin.sin_addr) == 1) {
		q->addr = xcalloc(1, sizeof(*q->addr));
		memcpy(q->addr, &sin, sizeof(sin));
	} else if (inet_pton(AF_INET6, host, &sin6.sin6_addr) == 1) {
		q->addr = xcalloc(1, sizeof(*q->addr));
		memcpy(q->addr, &sin6, sizeof(sin6));
	} else {
		return false;
	}
	q->result = DNS_OK;
	q->n = 1;
	return true;
}

static struct dns_query *
query_new(struct dns *dns, void *arg)
{
	struct dns_query	*q = xcalloc(1, sizeof(*q));

	q->dns = dns;
	q->arg = arg;
	return q;
}

struct dns_query *
dns_lookup_mx(struct dns *dns, const char *domain, dns_mx_cb cb, void *arg)
{
	struct dns_query	*q = query_new(dns, arg);

	q->mx_cb = cb;
	if (!valid_name(domain)) {
		q->result = DNS_NOTFOUND;
		enqueue_answer(q);
		return q;
	}
	ares_query(dns->channel, domain, ns_c_in, ns_t_mx, mx_answered, q);
	arm_retransmit(dns);
	return q;
}

struct dns_query *
dns_lookup_addr(struct dns *dns, const char *host, uint16_t port,
    dns_addr_cb cb, void *arg)
{
	struct dns_query		*q = query_new(dns, arg);
	struct ares_addrinfo_hints	 hints = {
		.ai_family = AF_UNSPEC,
		.ai_flags = ARES_AI_NOSORT,
	};

	q->addr_cb = cb;
	q->port = port;
	if (numeric_address(host, port, q) || !valid_name(host)) {
		enqueue_answer(q);
		return q;
	}
	ares_getaddrinfo(dns->channel, host, NULL, &hints, addr_answered, q);
	arm_retransmit(dns);
	return q;
}

void
dns_cancel(struct dns_query **qp)
{
	if (*qp != NULL)
		(*qp)->cancelled = true;
	*qp = NULL;
}

static int
channel_init(struct dns *dns, const struct dns_options *opt, const char **error_r)
{
	struct ares_options	 o = {
		.sock_state_cb = socket_state,
		.sock_state_cb_data = dns,
		.ndomains = 0,		/* no search list: names are absolute */
		.timeout = (int)opt->timeout_ms,
		.tries = (int)opt->tries,
	};
	int			 mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_DOMAINS;
	int			 rc;

	if (opt->timeout_ms > 0)
		mask |= ARES_OPT_TIMEOUTMS;
	if (opt->tries > 0)
		mask |= ARES_OPT_TRIES;
	if ((rc = ares_init_options(&dns->channel, &o, mask)) != ARES_SUCCESS) {
		return err_set(error_r, "dns: %s", ares_strerror(rc));
	}
	if (opt->servers != NULL &&
	    (rc = ares_set_servers_ports_csv(dns->channel, opt->servers)) != ARES_SUCCESS) {
		ares_destroy(dns->channel);
		return err_set(error_r, "dns: servers \"%s\": %s", opt->servers,
		    ares_strerror(rc));
	}
	return 0;
}

struct dns *
dns_new(struct ev_loop *loop, const struct dns_options *opt, const char **error_r)
{
	static const struct dns_options	defaults;
	struct dns			*dns;
	int				 rc;

	if ((rc = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS) {
		err_set(error_r, "dns: %s", ares_strerror(rc));
		return NULL;
	}
	dns = xcalloc(1, sizeof(*dns));
	dns->loop = loop;
	dns->answered_tail = &dns->answered;
	if (channel_init(dns, opt != NULL ? opt : &defaults, error_r) < 0) {
		free(dns);
		ares_library_cleanup();
		return NULL;
	}
	dns->retransmit = ev_timer_new(loop, retransmit_due, dns);
	dns->report = ev_timer_new(loop, report_answers, dns);
	return dns;
}

void
dns_free(struct dns **dnsp)
{
	struct dns	*dns = *dnsp;

	if (dns == NULL)
		return;
	/* Every running lookup is answered ARES_EDESTRUCTION and dropped. */
	ares_destroy(dns->channel);
	for (struct dns_query *q = dns->answered, *next; q != NULL; q = next) {
		next = q->next;
		query_free(q);
	}
	for (size_t i = 0; i < dns->nsockets; i++)
		ev_io_del(&dns->sockets[i].io);
	free(dns->sockets);
	ev_timer_free(&dns->retransmit);
	ev_timer_free(&dns->report);
	ares_library_cleanup();
	free(dns);
	*dnsp = NULL;
}
