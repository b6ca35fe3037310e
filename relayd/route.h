/*
 * Where mail for a domain goes (RFC 5321 5.1, RFC 7505): the addresses to
 * try, in order, or why there are none and whether that is final.
 *
 * MX hosts by preference (equal ones shuffled), each host's addresses
 * IPv6 and IPv4 as DNS gave them; no MX record: the domain's own
 * addresses (the implicit MX); a null MX, NXDOMAIN or no address at all:
 * final; anything a later try could change (SERVFAIL, timeouts, one MX host
 * that did not resolve while none did): not final.  An address literal
 * ("[192.0.2.1]", "[IPv6:2001:db8::1]") is its own route.
 */
#ifndef RELAYD_ROUTE_H
#define RELAYD_ROUTE_H

#include "lib/dns.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct route;

enum route_result {
	ROUTE_OK,
	ROUTE_TEMPFAIL,	/* try again later */
	ROUTE_PERMFAIL,	/* bounce */
};

struct route_hop {
	char			host[DNS_NAME_MAX + 1];	/* for logs, TLS names */
	struct sockaddr_storage	addr;
};

#define ROUTE_HOPS_MAX	16	/* addresses tried per attempt, at most */

/*
 * hops (n > 0 only with ROUTE_OK) and why (the reason of a failure, for
 * logs and bounces) are valid during the call only.
 */
typedef void	(*route_cb)(void *arg, enum route_result result,
		    const struct route_hop *hops, size_t n, const char *why);

/* The route of domain's mail, connecting to port. */
struct route	*route_mx(struct dns *dns, const char *domain, uint16_t port,
		    route_cb cb, void *arg);
/* The addresses of one host (a smarthost): no MX lookup. */
struct route	*route_host(struct dns *dns, const char *host, uint16_t port,
		    route_cb cb, void *arg);
/* The callback of a lookup still running will not be called; *r = NULL. */
void		 route_cancel(struct route **r);

#endif
