/*
 * relayd/route.c against tests/unit/dns_fake: MX order, the implicit MX,
 * null MX, NXDOMAIN, temporary failures, MX hosts that do not resolve,
 * address literals, a smarthost, cancel.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "lib/dns.h"
#include "lib/ev.h"
#include "relayd/route.h"
#include "tests/unit/dns_fake.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

static const struct dns_fake_record	zone[] = {
	{ "two.test", DNS_FAKE_MX, 0, 20, "backup.two.test" },
	{ "two.test", DNS_FAKE_MX, 0, 10, "primary.two.test" },
	{ "primary.two.test", DNS_FAKE_A, 0, 0, "127.0.0.11" },
	{ "primary.two.test", DNS_FAKE_AAAA, 0, 0, "::1" },
	{ "backup.two.test", DNS_FAKE_A, 0, 0, "127.0.0.12" },
	{ "nomx.test", DNS_FAKE_A, 0, 0, "127.0.0.13" },
	{ "nothing.test", 0, 0, 0, NULL },	/* exists, holds nothing */
	{ "nullmx.test", DNS_FAKE_MX, 0, 0, "" },
	{ "servfail.test", 0, 2, 0, NULL },
	{ "deadmx.test", DNS_FAKE_MX, 0, 10, "gone.deadmx.test" },
	{ "slowmx.test", DNS_FAKE_MX, 0, 10, "gone.slowmx.test" },
	{ "slowmx.test", DNS_FAKE_MX, 0, 20, "silent.slowmx.test" },
	{ "halfmx.test", DNS_FAKE_MX, 0, 10, "silent.halfmx.test" },
	{ "halfmx.test", DNS_FAKE_MX, 0, 20, "backup.two.test" },
	{ "smart.test", DNS_FAKE_A, 0, 0, "127.0.0.14" },
};

struct told {
	int			 count;
	enum route_result	 result;
	struct route_hop	 hops[ROUTE_HOPS_MAX];
	size_t			 n;
	char			 why[512];
};

static struct ev_loop	*loop;
static struct dns_fake	 fake;
static struct dns	*dns;
static int		 waiting;

static void
route_told(void *arg, enum route_result result, const struct route_hop *hops,
    size_t n, const char *why)
{
	struct told	*t = arg;

	t->count++;
	t->result = result;
	t->n = n;
	if (n > 0)
		memcpy(t->hops, hops, n * sizeof(*hops));
	strcpy(t->why, why != NULL ? why : "");
	if (--waiting == 0)
		ev_loop_break(loop);
}

static void
too_slow(void *arg)
{
	(void)arg;
	fail_msg("no route within 5 s");
}

static void
wait_routes(int count)
{
	struct ev_timer	*guard = ev_timer_new(loop, too_slow, NULL);

	waiting = count;
	ev_timer_set(guard, 5000);
	assert_int_equal(ev_loop_run(loop), 0);
	ev_timer_free(&guard);
}

static int
setup(void **state)
{
	struct dns_options	opt = { .timeout_ms = 100, .tries = 1 };
	const char		*err = NULL;

	(void)state;
	loop = ev_loop_new();
	dns_fake_start(&fake, loop, zone, sizeof(zone) / sizeof(zone[0]));
	opt.servers = fake.servers;
	dns = dns_new(loop, &opt, &err);
	assert_non_null(dns);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	dns_free(&dns);
	dns_fake_stop(&fake);
	ev_loop_free(&loop);
	return 0;
}

static const char *
hop_address(const struct route_hop *hop, char *buf)
{
	const void	*a = hop->addr.ss_family == AF_INET ?
	    (const void *)&((const struct sockaddr_in *)&hop->addr)->sin_addr :
	    (const void *)&((const struct sockaddr_in6 *)&hop->addr)->sin6_addr;

	return inet_ntop(hop->addr.ss_family, a, buf, INET6_ADDRSTRLEN);
}

static int
hop_port(const struct route_hop *hop)
{
	return ntohs(hop->addr.ss_family == AF_INET ?
	    ((const struct sockaddr_in *)&hop->addr)->sin_port :
	    ((const struct sockaddr_in6 *)&hop->addr)->sin6_port);
}

static void
test_mx_hosts_in_preference_order(void **state)
{
	struct told	t = { 0 };
	char		buf[INET6_ADDRSTRLEN];

	(void)state;
	route_mx(dns, "two.test", 25, route_told, &t);
	assert_int_equal(t.count, 0);
	wait_routes(1);
	assert_int_equal(t.result, ROUTE_OK);
	assert_int_equal(t.n, 3);
	assert_string_equal(t.hops[0].host, "primary.two.test");
	assert_string_equal(t.hops[1].host, "primary.two.test");
	assert_string_equal(t.hops[2].host, "backup.two.test");
	assert_string_equal(hop_address(&t.hops[2], buf), "127.0.0.12");
	for (size_t i = 0; i < t.n; i++)
		assert_int_equal(hop_port(&t.hops[i]), 25);
}

static void
test_no_mx_means_the_domain_itself(void **state)
{
	struct told	t = { 0 };
	char		buf[INET6_ADDRSTRLEN];

	(void)state;
	route_mx(dns, "nomx.test", 2525, route_told, &t);
	wait_routes(1);
	assert_int_equal(t.result, ROUTE_OK);
	assert_int_equal(t.n, 1);
	assert_string_equal(t.hops[0].host, "nomx.test");
	assert_string_equal(hop_address(&t.hops[0], buf), "127.0.0.13");
	assert_int_equal(hop_port(&t.hops[0]), 2525);
}

static void
test_final_failures(void **state)
{
	struct told	nx = { 0 }, null = { 0 }, dead = { 0 }, nothing = { 0 };

	(void)state;
	route_mx(dns, "nothing.test", 25, route_told, &nothing);
	route_mx(dns, "nx.test", 25, route_told, &nx);
	route_mx(dns, "nullmx.test", 25, route_told, &null);
	route_mx(dns, "deadmx.test", 25, route_told, &dead);
	wait_routes(4);
	assert_int_equal(nothing.result, ROUTE_PERMFAIL);
	assert_non_null(strstr(nothing.why, "nothing.test has no MX and no address"));
	assert_int_equal(nx.result, ROUTE_PERMFAIL);
	assert_non_null(strstr(nx.why, "nx.test does not exist"));
	assert_int_equal(null.result, ROUTE_PERMFAIL);
	assert_non_null(strstr(null.why, "null MX"));
	assert_int_equal(dead.result, ROUTE_PERMFAIL);
	assert_non_null(strstr(dead.why, "no MX host of deadmx.test"));
}

static void
test_temporary_failures(void **state)
{
	struct told	servfail = { 0 }, slow = { 0 }, silent = { 0 };

	(void)state;
	route_mx(dns, "servfail.test", 25, route_told, &servfail);
	/* one MX host is gone, the other does not answer: later may work */
	route_mx(dns, "slowmx.test", 25, route_told, &slow);
	route_mx(dns, "silent.test", 25, route_told, &silent);
	wait_routes(3);
	assert_int_equal(servfail.result, ROUTE_TEMPFAIL);
	assert_int_equal(slow.result, ROUTE_TEMPFAIL);
	assert_int_equal(silent.result, ROUTE_TEMPFAIL);
	assert_int_equal(servfail.n + slow.n + silent.n, 0);
}

/* The hosts that resolved are used even if a better one did not answer. */
static void
test_unanswered_mx_host_is_skipped(void **state)
{
	struct told	t = { 0 };

	(void)state;
	route_mx(dns, "halfmx.test", 25, route_told, &t);
	wait_routes(1);
	assert_int_equal(t.result, ROUTE_OK);
	assert_int_equal(t.n, 1);
	assert_string_equal(t.hops[0].host, "backup.two.test");
}

static void
test_address_literals_and_smarthost(void **state)
{
	struct told	v4 = { 0 }, v6 = { 0 }, smart = { 0 }, nosmart = { 0 };
	char		buf[INET6_ADDRSTRLEN];
	unsigned	queries = fake.queries;

	(void)state;
	route_mx(dns, "[127.0.0.21]", 25, route_told, &v4);
	route_mx(dns, "[IPv6:::1]", 25, route_told, &v6);
	wait_routes(2);
	assert_int_equal(fake.queries, queries);	/* no DNS asked */
	assert_int_equal(v4.result, ROUTE_OK);
	assert_string_equal(hop_address(&v4.hops[0], buf), "127.0.0.21");
	assert_int_equal(v6.result, ROUTE_OK);
	assert_string_equal(hop_address(&v6.hops[0], buf), "::1");
	route_host(dns, "smart.test", 587, route_told, &smart);
	route_host(dns, "nx.test", 587, route_told, &nosmart);
	wait_routes(2);
	assert_int_equal(smart.result, ROUTE_OK);
	assert_string_equal(hop_address(&smart.hops[0], buf), "127.0.0.14");
	assert_int_equal(hop_port(&smart.hops[0]), 587);
	assert_int_equal(nosmart.result, ROUTE_PERMFAIL);
	assert_non_null(strstr(nosmart.why, "nx.test has no address"));
}

static void
test_cancel(void **state)
{
	struct told	cancelled = { 0 }, other = { 0 };
	struct route	*r;

	(void)state;
	r = route_mx(dns, "two.test", 25, route_told, &cancelled);
	route_mx(dns, "nomx.test", 25, route_told, &other);
	route_cancel(&r);
	assert_null(r);
	wait_routes(1);
	route_mx(dns, "two.test", 25, route_told, &other);
	wait_routes(1);
	assert_int_equal(cancelled.count, 0);
	assert_int_equal(other.count, 2);
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test_setup_teardown(test_mx_hosts_in_preference_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_mx_means_the_domain_itself, setup, teardown),
		cmocka_unit_test_setup_teardown(test_final_failures, setup, teardown),
		cmocka_unit_test_setup_teardown(test_temporary_failures, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unanswered_mx_host_is_skipped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_address_literals_and_smarthost, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
