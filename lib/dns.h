/*
 * DNS lookups for the relay, never blocking: c-ares driven by the one
 * event loop (its sockets watched with ev_io, its retransmissions by one
 * ev_timer), so a lookup costs neither a thread nor a wait.  The system's
 * resolver configuration is used (resolv.conf servers, timeouts, EDNS)
 * unless servers are given, as the tests do; the search list never is:
 * the names the relay looks up are always absolute.
 *
 * Results are told by callbacks on the loop thread, never from inside the
 * call that started the lookup.
 */
#ifndef LIB_DNS_H
#define LIB_DNS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct ev_loop;
struct dns;
struct dns_query;

/* What an answer means for mail: only DNS_NOTFOUND is final. */
enum dns_result {
	DNS_OK,
	DNS_NOTFOUND,	/* NXDOMAIN, or a name that cannot exist */
	DNS_NODATA,	/* the name exists, with no record of that type */
	DNS_TEMPFAIL,	/* SERVFAIL, REFUSED, timeout, a malformed answer */
};

#define DNS_NAME_MAX	253	/* RFC 1035 2.3.4, without the final dot */

struct dns_mx {
	uint16_t	preference;
	char		host[DNS_NAME_MAX + 1];	/* "" for the root: a null MX */
};

struct dns_options {
	const char	*servers;	/* "127.0.0.1:5353,[::1]:53"; NULL: resolv.conf */
	unsigned	 timeout_ms;	/* per try; 0: the system's */
	unsigned	 tries;		/* 0: the system's */
};

/* NULL, *error_r set, if c-ares cannot be set up (e.g. bad servers). */
struct dns	*dns_new(struct ev_loop *loop, const struct dns_options *opt,
		    const char **error_r);
/* Lookups still running are dropped: their callbacks are not called. */
void		 dns_free(struct dns **dns);

/*
 * The MX records of domain, sorted by preference, equal preferences in a
 * random order (RFC 5321 5.1).  mx is valid during the call only.
 */
typedef void	(*dns_mx_cb)(void *arg, enum dns_result result,
		    const struct dns_mx *mx, size_t nmx);
struct dns_query *dns_lookup_mx(struct dns *dns, const char *domain,
		    dns_mx_cb cb, void *arg);

/*
 * The IPv6 and IPv4 addresses of host (AAAA and A together), with port
 * set in each; a numeric address is its own answer.  addr is valid during
 * the call only.
 */
typedef void	(*dns_addr_cb)(void *arg, enum dns_result result,
		    const struct sockaddr_storage *addr, size_t naddr);
struct dns_query *dns_lookup_addr(struct dns *dns, const char *host,
		    uint16_t port, dns_addr_cb cb, void *arg);

/*
 * An MX answer as dns_lookup_mx tells it (DNS_OK with *n_r > 0, DNS_NODATA,
 * or DNS_TEMPFAIL for one that does not parse or has no usable host);
 * *mx_r is malloc'd (NULL if none).  Exposed for the fuzzer.
 */
int		 dns_parse_mx(const unsigned char *abuf, int alen, struct dns_mx **mx_r,
		    size_t *n_r);

/* The callback of a lookup still running will not be called; *q = NULL. */
void		 dns_cancel(struct dns_query **q);

#endif
