/*
 * relayd/route.h: one MX lookup, then the MX hosts' addresses looked up
 * together; the route is told once every lookup has answered.
 */
#include "relayd/route.h"

#include "lib/xmalloc.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct route_mxhost {
	struct route		*route;
	char			 host[DNS_NAME_MAX + 1];
	struct dns_query	*query;
	enum dns_result		 result;
	struct sockaddr_storage	 addr[ROUTE_HOPS_MAX];
	size_t			 naddr;
};

struct route {
	struct dns		*dns;
	uint16_t		 port;
	route_cb		 cb;
	void			*arg;
	char			 domain[DNS_NAME_MAX + 1];
	struct dns_query	*mx_query;
	struct route_mxhost	 hosts[ROUTE_HOPS_MAX];
	size_t			 nhosts;
	size_t			 pending;	/* host lookups not yet answered */
	bool			 implicit;	/* no MX: the domain is its own host */
	bool			 direct;	/* a smarthost or an address literal */
};

static void
route_free(struct route *r)
{
	dns_cancel(&r->mx_query);
	for (size_t i = 0; i < r->nhosts; i++)
		dns_cancel(&r->hosts[i].query);
	free(r);
}

static void
tell_failure(struct route *r, enum route_result result, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
tell_failure(struct route *r, enum route_result result, const char *fmt, ...)
{
	char	why[512];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	r->cb(r->arg, result, NULL, 0, why);
	route_free(r);
}

/* Every host has answered: the hops in MX order, or why there are none. */
static void
tell_route(struct route *r)
{
	struct route_hop	hops[ROUTE_HOPS_MAX];
	size_t			n = 0;
	bool			temporary = false;

	for (size_t i = 0; i < r->nhosts; i++) {
		struct route_mxhost	*h = &r->hosts[i];

		temporary |= h->result == DNS_TEMPFAIL;
		for (size_t j = 0; j < h->naddr && n < ROUTE_HOPS_MAX; j++, n++) {
			memcpy(hops[n].host, h->host, sizeof(h->host));
			hops[n].addr = h->addr[j];
		}
	}
	if (n > 0) {
		r->cb(r->arg, ROUTE_OK, hops, n, NULL);
		route_free(r);
	} else if (r->direct) {
		tell_failure(r, temporary ? ROUTE_TEMPFAIL : ROUTE_PERMFAIL,
		    temporary ? "address lookup for %s failed" :
		    "%s has no address", r->domain);
	} else if (r->implicit) {
		tell_failure(r, temporary ? ROUTE_TEMPFAIL : ROUTE_PERMFAIL,
		    temporary ? "no MX for %s, and its address lookup failed" :
		    "%s has no MX and no address", r->domain);
	} else {
		tell_failure(r, temporary ? ROUTE_TEMPFAIL : ROUTE_PERMFAIL,
		    temporary ? "no MX host of %s could be looked up" :
		    "no MX host of %s has an address", r->domain);
	}
}

static void
host_answered(void *arg, enum dns_result result,
    const struct sockaddr_storage *addr, size_t naddr)
{
	struct route_mxhost	*h = arg;
	struct route		*r = h->route;

	h->query = NULL;
	h->result = result;
	h->naddr = naddr < ROUTE_HOPS_MAX ? naddr : ROUTE_HOPS_MAX;
	if (h->naddr > 0)
		memcpy(h->addr, addr, h->naddr * sizeof(*addr));
	if (--r->pending == 0)
		tell_route(r);
}

static void
lookup_host(struct route *r, const char *host)
{
	struct route_mxhost	*h = &r->hosts[r->nhosts++];

	h->route = r;
	snprintf(h->host, sizeof(h->host), "%s", host);
	r->pending++;
	h->query = dns_lookup_addr(r->dns, host, r->port, host_answered, h);
}

static void
mx_answered(void *arg, enum dns_result result, const struct dns_mx *mx, size_t nmx)
{
	struct route	*r = arg;

	r->mx_query = NULL;
	switch (result) {
	case DNS_NOTFOUND:
		tell_failure(r, ROUTE_PERMFAIL, "domain %s does not exist", r->domain);
		return;
	case DNS_TEMPFAIL:
		tell_failure(r, ROUTE_TEMPFAIL, "MX lookup for %s failed", r->domain);
		return;
	case DNS_NODATA:
		r->implicit = true;
		lookup_host(r, r->domain);
		return;
	case DNS_OK:
		break;
	}
	/* RFC 7505: "." alone; "." among other hosts is skipped as unusable. */
	if (nmx == 1 && mx[0].host[0] == '\0') {
		tell_failure(r, ROUTE_PERMFAIL, "%s accepts no mail (null MX)", r->domain);
		return;
	}
	for (size_t i = 0; i < nmx && r->nhosts < ROUTE_HOPS_MAX; i++)
		if (mx[i].host[0] != '\0')
			lookup_host(r, mx[i].host);
	if (r->nhosts == 0)
		tell_failure(r, ROUTE_PERMFAIL, "no MX host of %s has an address", r->domain);
}

static struct route *
route_new(struct dns *dns, const char *name, uint16_t port, route_cb cb, void *arg)
{
	struct route	*r = xcalloc(1, sizeof(*r));

	r->dns = dns;
	r->port = port;
	r->cb = cb;
	r->arg = arg;
	snprintf(r->domain, sizeof(r->domain), "%s", name);
	return r;
}

/* "[192.0.2.1]" or "[IPv6:2001:db8::1]" into its address text; NULL if not one. */
static const char *
address_literal(const char *domain, char *buf, size_t size)
{
	size_t	len = strlen(domain);

	if (len < 3 || domain[0] != '[' || domain[len - 1] != ']' || len - 2 >= size)
		return NULL;
	memcpy(buf, domain + 1, len - 2);
	buf[len - 2] = '\0';
	if (strncasecmp(buf, "IPv6:", 5) == 0)
		memmove(buf, buf + 5, strlen(buf + 5) + 1);
	return buf;
}

struct route *
route_mx(struct dns *dns, const char *domain, uint16_t port, route_cb cb, void *arg)
{
	struct route	*r = route_new(dns, domain, port, cb, arg);
	char		 literal[DNS_NAME_MAX + 1];

	if (address_literal(domain, literal, sizeof(literal)) != NULL) {
		r->direct = true;
		lookup_host(r, literal);
	}
	else
		r->mx_query = dns_lookup_mx(dns, domain, mx_answered, r);
	return r;
}

struct route *
route_host(struct dns *dns, const char *host, uint16_t port, route_cb cb, void *arg)
{
	struct route	*r = route_new(dns, host, port, cb, arg);

	r->direct = true;
	lookup_host(r, host);
	return r;
}

void
route_cancel(struct route **rp)
{
	if (*rp != NULL)
		route_free(*rp);
	*rp = NULL;
}
