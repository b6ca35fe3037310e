/*
 * A small authoritative DNS server for unit tests, on the test's own event
 * loop (UDP on 127.0.0.1, an ephemeral port): answers from a zone table,
 * NXDOMAIN for names it does not hold, nothing at all for "silent.*".
 */
#ifndef TESTS_UNIT_DNS_FAKE_H
#define TESTS_UNIT_DNS_FAKE_H

#include <stddef.h>

struct ev_loop;

enum { DNS_FAKE_A = 1, DNS_FAKE_MX = 15, DNS_FAKE_AAAA = 28 };

struct dns_fake_record {
	const char	*name;
	int		 type;		/* 0: the name exists, no record */
	int		 rcode;		/* for the name, whatever the type asked */
	int		 pref;		/* MX */
	const char	*data;		/* MX host ("" for the root), or an address */
};

struct dns_fake {
	int				 fd;
	struct ev_io			*io;
	const struct dns_fake_record	*zone;
	size_t				 nzone;
	unsigned			 queries;
	char				 servers[32];	/* for dns_options.servers */
};

void	dns_fake_start(struct dns_fake *fake, struct ev_loop *loop,
	    const struct dns_fake_record *zone, size_t nzone);
void	dns_fake_stop(struct dns_fake *fake);

#endif
