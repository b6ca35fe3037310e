/*
 * mail/address: the one address syntax.  Merges the cases the three former
 * validators were tested with (lib/address.c's in test_directory, smtpd's
 * in test_smtp_session) and covers every accept path of each flag.
 */
#include "mail/address.h"
#include "lib/directory.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#define SMTP_UTF8	(ADDRESS_SMTP | ADDRESS_UTF8)

static void
check_all(const char *const *list, size_t n, unsigned flags, bool want)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (address_valid(list[i], flags) != want)
			fail_msg("flags %u: should be %s: %s", flags, want ? "valid" : "invalid",
			    list[i]);
}
#define CHECK_ALL(list, flags, want) \
	check_all(list, sizeof(list) / sizeof(list[0]), flags, want)

/* Valid under every flag combination: the common dot-atom@LDH core. */
static void
test_user_syntax(void **state)
{
	static const char *const good[] = {
		"a@b", "alice@example.com", "a.b.c@example.com", "x+tag@ex-ample.co.uk",
		"!#$%&'*+-/=?^_`{|}~@example.com", "A@EXAMPLE.COM", "a@1.2.3.4",
		"a.b@c.d",
	};
	static const char *const bad[] = {
		"", "@", "a@", "@b", "a", "a@@b", ".a@b", "a.@b", "a..b@c", "a b@c",
		"a@-b.com", "a@b-.com", "a@b..com", "a@.b", "a@b.", "a@b_c.com",
		"a(b)@c", "a@b@c", "a\n@b", "a\r\nX: y", "a..b@c.d", "a@-c.d", "@c.d",
		"a\"b@c", "a@b\"", "a<b@c", "a>b@c", "a\\b@c", "a@b:c",
	};
	/* Only with the flags that allow them. */
	static const char *const not_user[] = {
		"\"a\"@b", "a@[1.2.3.4]", "\xc3\xa9@b", "a@\xc3\xa9.fr", "\"\"@b",
	};
	unsigned	 flags;

	(void)state;
	for (flags = 0; flags <= SMTP_UTF8; flags++) {
		CHECK_ALL(good, flags, true);
		CHECK_ALL(bad, flags, false);
	}
	CHECK_ALL(not_user, ADDRESS_USER, false);
	/* The directory's rules are these. */
	assert_true(address_user_syntax.address_valid("alice@example.com"));
	assert_false(address_user_syntax.address_valid("\"a\"@example.com"));
	assert_false(address_user_syntax.address_valid("a@[192.0.2.1]"));
	assert_true(address_user_syntax.domain_valid("example.com"));
	assert_false(address_user_syntax.domain_valid("[192.0.2.1]"));
	assert_false(address_user_syntax.domain_valid("bad_domain!"));
}

static void
test_lengths(void **state)
{
	char		 buf[400];
	unsigned	 flags;
	size_t		 i;

	(void)state;
	for (flags = 0; flags <= SMTP_UTF8; flags++) {
		/* local part 64 ok, 65 not */
		memset(buf, 'a', 64);
		strcpy(buf + 64, "@b");
		assert_true(address_valid(buf, flags));
		memset(buf, 'a', 65);
		strcpy(buf + 65, "@b");
		assert_false(address_valid(buf, flags));
		/* label 63 ok, 64 not */
		strcpy(buf, "a@");
		memset(buf + 2, 'b', 63);
		strcpy(buf + 65, ".com");
		assert_true(address_valid(buf, flags));
		memset(buf + 2, 'b', 64);
		strcpy(buf + 66, ".com");
		assert_false(address_valid(buf, flags));
		/* total 254 ok, 255 not: 64 + 1 + 189 (labels of 61 + dots) */
		memset(buf, 'a', 64);
		buf[64] = '@';
		for (i = 65; i < 254; i++)
			buf[i] = (i - 65) % 62 == 61 ? '.' : 'b';
		buf[254] = '\0';
		assert_true(address_valid(buf, flags));
		buf[254] = 'b';
		buf[255] = '\0';
		assert_false(address_valid(buf, flags));
		/* a domain alone: 253 ok, 254 not */
		for (i = 0; i < 253; i++)
			buf[i] = i % 62 == 61 ? '.' : 'b';
		buf[253] = '\0';
		assert_true(address_domain_valid(buf, flags));
		buf[253] = 'b';
		buf[254] = '\0';
		assert_false(address_domain_valid(buf, flags));
	}
	/* A quoted local part counts its quotes: 62 inside is 64. */
	buf[0] = '"';
	memset(buf + 1, 'a', 62);
	strcpy(buf + 63, "\"@b");
	assert_true(address_valid(buf, ADDRESS_SMTP));
	buf[0] = '"';
	memset(buf + 1, 'a', 63);
	strcpy(buf + 64, "\"@b");
	assert_false(address_valid(buf, ADDRESS_SMTP));
}

static void
test_quoted(void **state)
{
	static const char *const good[] = {
		"\"a\"@b", "\"\"@b", "\"a b\"@c", "\"a@b\"@c", "\"a.\"@b", "\".a..b\"@c",
		"\"a\\\"b\"@c", "\"a\\\\b\"@c", "\"a\\ b\"@c", "\"(),:;<>[]\"@c",
	};
	static const char *const bad[] = {
		"\"a@b", "a\"@b", "\"@b", "\"a\"b\"@c", "\"a\\\"@b", "\"a\tb\"@c",
		"\"a\x7f\"@b", "\"a\\\x01\"@b", "\"a\\\x7f\"@b", "\"a\"\"b\"@c",
		"\"a\".b@c", "\"\xc3\xa9\"@b",
	};

	(void)state;
	CHECK_ALL(good, ADDRESS_QUOTED, true);
	CHECK_ALL(good, ADDRESS_SMTP, true);
	CHECK_ALL(good, ADDRESS_LITERAL, false);
	CHECK_ALL(bad, ADDRESS_SMTP, false);
	assert_true(address_valid("\"\xc3\xa9\"@b", SMTP_UTF8));
	/* quoted-pair is %d32-126 with or without SMTPUTF8 */
	assert_false(address_valid("\"\\\xc3\xa9\"@b", SMTP_UTF8));
}

static void
test_literals(void **state)
{
	static const char *const good[] = {
		"a@[192.0.2.1]", "a@[0.0.0.0]", "a@[IPv6:2001:db8::1]", "a@[ipv6:::1]",
		"a@[IPv6:::ffff:192.0.2.1]",
	};
	static const char *const bad[] = {
		"a@[]", "a@[1.2.3]", "a@[1.2.3.4.5]", "a@[256.1.1.1]", "a@[192.0.2.1",
		"a@192.0.2.1]", "a@[2001:db8::1]", "a@[IPv6:1.2.3.4]", "a@[IPv6:]",
		"a@[IPv6:2001:db8::g]", "a@[x-tag:content]", "a@[ 1.2.3.4]",
		"a@[1.2.3.4] ", "a@x.[1.2.3.4]",
	};

	(void)state;
	CHECK_ALL(good, ADDRESS_LITERAL, true);
	CHECK_ALL(good, SMTP_UTF8, true);
	CHECK_ALL(bad, SMTP_UTF8, false);
	assert_false(address_valid("a@[192.0.2.1]", ADDRESS_QUOTED | ADDRESS_UTF8));
	assert_true(address_valid("\"x y\"@[192.0.2.1]", ADDRESS_SMTP));
	assert_true(address_domain_valid("[192.0.2.1]", ADDRESS_LITERAL));
	assert_false(address_domain_valid("[192.0.2.1]", ADDRESS_USER));
}

static void
test_utf8(void **state)
{
	static const char *const good[] = {
		"\xc3\xa9@b", "j\xc3\xb6rg@b\xc3\xbc" "cher.de", "a@\xe4\xbe\x8b.\xe4\xbe\x8b",
		"a.\xc3\xa9@b",
	};
	static const char *const bad[] = {
		"a@-\xc3\xa9.de", "a@\xc3\xa9-.de", "\xc3\xa9..a@b",
	};

	(void)state;
	CHECK_ALL(good, ADDRESS_UTF8, true);
	CHECK_ALL(good, SMTP_UTF8, true);
	CHECK_ALL(good, ADDRESS_SMTP, false);
	CHECK_ALL(bad, SMTP_UTF8, false);
	assert_true(address_is_atext(0xc3, true));
	assert_false(address_is_atext(0xc3, false));
	assert_true(address_is_atext('~', false));
	assert_false(address_is_atext('.', true));
	assert_false(address_is_atext('\0', true));
	assert_false(address_is_atext('@', true));
}

static void
path_ok(const char *in, bool allow_empty, const char *addr, const char *rest)
{
	char	 buf[300], *a, *r;

	strcpy(buf, in);
	if (address_path_parse(buf, allow_empty, &a, &r) != 0)
		fail_msg("should parse: %s", in);
	assert_string_equal(a, addr);
	assert_string_equal(r, rest);
}

static void
path_bad(const char *in, bool allow_empty)
{
	char	 buf[300], *a, *r;

	strcpy(buf, in);
	if (address_path_parse(buf, allow_empty, &a, &r) != -1)
		fail_msg("should not parse: %s", in);
}

static void
test_path(void **state)
{
	(void)state;
	path_ok("<a@b>", false, "a@b", "");
	path_ok("<a@b> SIZE=10 BODY=8BITMIME", false, "a@b", " SIZE=10 BODY=8BITMIME");
	path_ok("   <a@b>", false, "a@b", "");
	path_ok("<>", true, "", "");
	path_ok("<> SIZE=1", true, "", " SIZE=1");
	path_ok("<@r1.example,@r2.example:a@b>", false, "a@b", "");
	path_ok("<\"a>b\"@c>", false, "\"a>b\"@c", "");
	path_ok("<\"a\\\">\"@c>", false, "\"a\\\">\"@c", "");
	/* Framing only: the address is checked by address_valid. */
	path_ok("<not an address>", false, "not an address", "");
	path_bad("<>", false);
	path_bad("a@b", false);
	path_bad("<a@b", false);
	path_bad("<a@b>x", false);
	path_bad("<a@b>>", false);
	path_bad("<\"a>b@c>", false);
	path_bad("", true);
	path_bad("\t<a@b>", false);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_user_syntax),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_quoted),
		cmocka_unit_test(test_literals),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
