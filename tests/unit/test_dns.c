/*
 * lib/dns.c against a small authoritative server on the same event loop
 * (UDP on 127.0.0.1): MX order and shuffling, null MX, NXDOMAIN, NODATA,
 * SERVFAIL, silence, A+AAAA with the port, names refused before asking,
 * answers never told inside the call, cancel, and free with lookups running.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "lib/dns.h"
#include "lib/ev.h"
#include "tests/unit/dns_fake.h"

#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

static const struct dns_fake_record	zone[] = {
	{ "mx.test", DNS_FAKE_MX, 0, 20, "b.mx.test" },
	{ "mx.test", DNS_FAKE_MX, 0, 10, "a1.mx.test" },
	{ "mx.test", DNS_FAKE_MX, 0, 10, "a2.mx.test" },
	{ "mx.test", DNS_FAKE_MX, 0, 30, "c.mx.test" },
	{ "nullmx.test", DNS_FAKE_MX, 0, 0, "" },
	{ "servfail.test", 0, 2, 0, NULL },
	{ "host.test", DNS_FAKE_A, 0, 0, "127.0.0.5" },
	{ "host.test", DNS_FAKE_AAAA, 0, 0, "::1" },
	{ "v4only.test", DNS_FAKE_A, 0, 0, "127.0.0.6" },
};

struct answer {
	int			 told;
	enum dns_result		 result;
	char			 hosts[8][DNS_NAME_MAX + 1];
	int			 prefs[8];
	struct sockaddr_storage	 addr[8];
	size_t			 n;
};

static struct ev_loop	*loop;
static struct dns_fake	 srv;
static struct dns	*dns;
static int		 waiting;	/* answers the loop still waits for */

static void
answered_one(void)
{
	if (--waiting == 0)
		ev_loop_break(loop);
}

static void
mx_told(void *arg, enum dns_result result, const struct dns_mx *mx, size_t n)
{
	struct answer	*a = arg;

	a->told++;
	a->result = result;
	a->n = n;
	for (size_t i = 0; i < n && i < 8; i++) {
		strcpy(a->hosts[i], mx[i].host);
		a->prefs[i] = mx[i].preference;
	}
	answered_one();
}

static void
addr_told(void *arg, enum dns_result result, const struct sockaddr_storage *addr, size_t n)
{
	struct answer	*a = arg;

	a->told++;
	a->result = result;
	a->n = n;
	if (n > 0)
		memcpy(a->addr, addr, (n < 8 ? n : 8) * sizeof(*addr));
	answered_one();
}

static void
too_slow(void *arg)
{
	(void)arg;
	fail_msg("no answer within 5 s");
}

/* Runs the loop until `count` answers have been told. */
static void
wait_answers(int count)
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
	struct dns_options	opt = { .timeout_ms = 200, .tries = 2 };
	const char		*err = NULL;

	(void)state;
	loop = ev_loop_new();
	dns_fake_start(&srv, loop, zone, sizeof(zone) / sizeof(zone[0]));
	opt.servers = srv.servers;
	dns = dns_new(loop, &opt, &err);
	assert_non_null(dns);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	dns_free(&dns);
	dns_fake_stop(&srv);
	ev_loop_free(&loop);
	return 0;
}

static void
test_mx_sorted_and_shuffled(void **state)
{
	bool	a1_first = false, a2_first = false;

	(void)state;
	/* 2^-29 that one order never shows in 30 lookups. */
	for (int i = 0; i < 30; i++) {
		struct answer	a = { 0 };

		dns_lookup_mx(dns, "mx.test", mx_told, &a);
		wait_answers(1);
		assert_int_equal(a.result, DNS_OK);
		assert_int_equal(a.n, 4);
		assert_int_equal(a.prefs[0], 10);
		assert_int_equal(a.prefs[1], 10);
		assert_string_equal(a.hosts[2], "b.mx.test");
		assert_string_equal(a.hosts[3], "c.mx.test");
		a1_first |= strcmp(a.hosts[0], "a1.mx.test") == 0;
		a2_first |= strcmp(a.hosts[0], "a2.mx.test") == 0;
	}
	assert_true(a1_first && a2_first);
}

static void
test_null_mx(void **state)
{
	struct answer	a = { 0 };

	(void)state;
	dns_lookup_mx(dns, "nullmx.test", mx_told, &a);
	wait_answers(1);
	assert_int_equal(a.result, DNS_OK);
	assert_int_equal(a.n, 1);
	assert_int_equal(a.prefs[0], 0);
	assert_string_equal(a.hosts[0], "");
}

static void
test_failures(void **state)
{
	struct answer	nx = { 0 }, nodata = { 0 }, servfail = { 0 }, silent = { 0 };
	struct answer	nxaddr = { 0 };

	(void)state;
	dns_lookup_mx(dns, "nx.test", mx_told, &nx);
	dns_lookup_mx(dns, "host.test", mx_told, &nodata);
	dns_lookup_mx(dns, "servfail.test", mx_told, &servfail);
	dns_lookup_mx(dns, "silent.test", mx_told, &silent);
	dns_lookup_addr(dns, "nx.test", 25, addr_told, &nxaddr);
	wait_answers(5);
	assert_int_equal(nx.result, DNS_NOTFOUND);
	assert_int_equal(nodata.result, DNS_NODATA);
	assert_int_equal(servfail.result, DNS_TEMPFAIL);
	assert_int_equal(silent.result, DNS_TEMPFAIL);
	assert_int_equal(nxaddr.result, DNS_NOTFOUND);
	assert_int_equal(nx.n + nodata.n + servfail.n + silent.n + nxaddr.n, 0);
}

static void
test_addresses_with_port(void **state)
{
	struct answer			 both = { 0 }, v4 = { 0 };
	const struct sockaddr_in	*sin = NULL;
	const struct sockaddr_in6	*sin6 = NULL;

	(void)state;
	dns_lookup_addr(dns, "host.test", 2525, addr_told, &both);
	dns_lookup_addr(dns, "v4only.test", 25, addr_told, &v4);
	wait_answers(2);
	assert_int_equal(both.result, DNS_OK);
	assert_int_equal(both.n, 2);
	for (size_t i = 0; i < both.n; i++) {
		if (both.addr[i].ss_family == AF_INET)
			sin = (const struct sockaddr_in *)&both.addr[i];
		else
			sin6 = (const struct sockaddr_in6 *)&both.addr[i];
	}
	assert_non_null(sin);
	assert_non_null(sin6);
	assert_int_equal(ntohl(sin->sin_addr.s_addr), 0x7f000005);
	assert_int_equal(ntohs(sin->sin_port), 2525);
	assert_true(IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr));
	assert_int_equal(ntohs(sin6->sin6_port), 2525);
	assert_int_equal(v4.result, DNS_OK);
	assert_int_equal(v4.n, 1);
	assert_int_equal(v4.addr[0].ss_family, AF_INET);
}

/* Refused without a query, and told on the loop like any answer. */
static void
test_bad_names_are_not_asked(void **state)
{
	static const char	*bad[] = {
		"", "a..b", ".a", "a b", "a\\.b", "x\n.test",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.test",
	};
	struct answer		 a[7] = { 0 };

	(void)state;
	for (size_t i = 0; i < 7; i++) {
		if (i % 2 == 0)
			dns_lookup_mx(dns, bad[i], mx_told, &a[i]);
		else
			dns_lookup_addr(dns, bad[i], 25, addr_told, &a[i]);
		assert_int_equal(a[i].told, 0);
	}
	wait_answers(7);
	for (size_t i = 0; i < 7; i++)
		assert_int_equal(a[i].result, DNS_NOTFOUND);
	assert_int_equal(srv.queries, 0);
}

/* A numeric host is its own answer, without a query, told on the loop. */
static void
test_numeric_hosts(void **state)
{
	struct answer	v4 = { 0 }, v6 = { 0 };

	(void)state;
	dns_lookup_addr(dns, "127.0.0.9", 25, addr_told, &v4);
	dns_lookup_addr(dns, "2001:db8::1", 26, addr_told, &v6);
	assert_int_equal(v4.told + v6.told, 0);
	wait_answers(2);
	assert_int_equal(srv.queries, 0);
	assert_int_equal(v4.result, DNS_OK);
	assert_int_equal(v4.n, 1);
	assert_int_equal(v4.addr[0].ss_family, AF_INET);
	assert_int_equal(ntohs(((struct sockaddr_in *)&v4.addr[0])->sin_port), 25);
	assert_int_equal(v6.result, DNS_OK);
	assert_int_equal(v6.n, 1);
	assert_int_equal(v6.addr[0].ss_family, AF_INET6);
	assert_int_equal(ntohs(((struct sockaddr_in6 *)&v6.addr[0])->sin6_port), 26);
}

static void
test_cancel(void **state)
{
	struct answer		 cancelled = { 0 }, asked_late = { 0 }, other = { 0 };
	struct dns_query	*q, *late;

	(void)state;
	q = dns_lookup_mx(dns, "mx.test", mx_told, &cancelled);
	late = dns_lookup_addr(dns, "127.0.0.9", 25, addr_told, &asked_late);
	dns_lookup_mx(dns, "nullmx.test", mx_told, &other);
	dns_cancel(&q);
	dns_cancel(&late);		/* answered already, not yet told */
	assert_null(q);
	wait_answers(1);
	assert_int_equal(other.told, 1);
	/* the cancelled one's answer has arrived by now or will be dropped */
	dns_lookup_mx(dns, "mx.test", mx_told, &other);
	wait_answers(1);
	assert_int_equal(cancelled.told, 0);
	assert_int_equal(asked_late.told, 0);
}

/* Lookups running at dns_free are dropped, not told (ASan sees leaks). */
static void
test_free_while_running(void **state)
{
	struct answer	a = { 0 }, b = { 0 };

	(void)state;
	dns_lookup_mx(dns, "silent.test", mx_told, &a);
	dns_lookup_addr(dns, "127.0.0.9", 25, addr_told, &b);
	dns_free(&dns);
	assert_int_equal(a.told + b.told, 0);
}

static void
test_bad_servers_refused(void **state)
{
	struct dns_options	opt = { .servers = "not an address" };
	const char		*err = NULL;

	(void)state;
	assert_null(dns_new(loop, &opt, &err));
	assert_non_null(err);
	assert_non_null(strstr(err, "not an address"));
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test_setup_teardown(test_mx_sorted_and_shuffled, setup, teardown),
		cmocka_unit_test_setup_teardown(test_null_mx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failures, setup, teardown),
		cmocka_unit_test_setup_teardown(test_addresses_with_port, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_names_are_not_asked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_numeric_hosts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_while_running, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_servers_refused, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
