/*
 * relayd/smarthost.c and relayd/tls_policy.c, the pure parts of the
 * outbound settings: the smarthost's forms, its credentials file, the
 * per-domain TLS policy file.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "relayd/smarthost.h"
#include "relayd/tls_policy.h"
#include "tests/unit/config_testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void
test_smarthost_forms(void **state)
{
	struct smarthost	 sh;
	const char		*err = NULL;

	(void)state;
	assert_int_equal(smarthost_parse("relay.example.net", &sh, &err), 0);
	assert_string_equal(sh.host, "relay.example.net");
	assert_int_equal(sh.port, 0);
	assert_true(sh.mx);
	assert_string_equal(sh.name, "relay.example.net");

	assert_int_equal(smarthost_parse("relay.example.net:587", &sh, &err), 0);
	assert_string_equal(sh.host, "relay.example.net");
	assert_int_equal(sh.port, 587);
	assert_true(sh.mx);

	assert_int_equal(smarthost_parse("[relay.example.net]:587", &sh, &err), 0);
	assert_string_equal(sh.host, "relay.example.net");
	assert_int_equal(sh.port, 587);
	assert_false(sh.mx);

	assert_int_equal(smarthost_parse("[192.0.2.1]", &sh, &err), 0);
	assert_string_equal(sh.host, "192.0.2.1");
	assert_int_equal(sh.port, 0);
	assert_false(sh.mx);

	assert_int_equal(smarthost_parse("[2001:db8::1]:2525", &sh, &err), 0);
	assert_string_equal(sh.host, "2001:db8::1");
	assert_int_equal(sh.port, 2525);
	assert_string_equal(sh.name, "[2001:db8::1]:2525");
}

static void
test_smarthost_bad(void **state)
{
	static const char *const bad[] = {
		"", ":25", "relay:", "relay:0", "relay:65536", "relay:25x", "relay:-1",
		"[relay", "[relay]x", "[relay]:", "[]:25", "re lay", "[IPv6:2001:db8::1]",
		"a[b]:25",
	};
	struct smarthost	 sh;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char	*err = NULL;

		if (smarthost_parse(bad[i], &sh, &err) != -1)
			fail_msg("\"%s\" taken", bad[i]);
		assert_non_null(strstr(err, "smarthost"));
	}
}

static void
test_auth_file(void **state)
{
	char		*dir = tu_mkdtemp(), path[512], user[SMARTHOST_CRED_MAX + 1];
	char		 pass[SMARTHOST_CRED_MAX + 1], longer[600];
	const char	*err = NULL;

	(void)state;
	snprintf(path, sizeof(path), "%s/auth", dir);
	tu_write(dir, "auth", "# the relay's account\nhome@example.net  pass word with spaces \n",
	    (size_t)-1);
	chmod(path, 0600);
	assert_int_equal(smarthost_auth_read(path, user, pass, &err), 0);
	assert_string_equal(user, "home@example.net");
	assert_string_equal(pass, "pass word with spaces");

	chmod(path, 0640);
	assert_int_equal(smarthost_auth_read(path, user, pass, &err), -1);
	assert_non_null(strstr(err, "readable by others (mode 640, 0600 wanted)"));

	tu_write(dir, "auth", "onlyuser\n", (size_t)-1);
	chmod(path, 0600);
	assert_int_equal(smarthost_auth_read(path, user, pass, &err), -1);
	assert_non_null(strstr(err, "expected \"user password\""));

	tu_write(dir, "auth", "a b\nc d\n", (size_t)-1);
	assert_int_equal(smarthost_auth_read(path, user, pass, &err), -1);
	assert_non_null(strstr(err, "more than one line"));

	memset(longer, 'x', sizeof(longer));
	memcpy(longer, "u ", 2);
	longer[300] = '\0';
	tu_write(dir, "auth", longer, (size_t)-1);
	assert_int_equal(smarthost_auth_read(path, user, pass, &err), -1);

	tu_write(dir, "auth", "# nothing\n", (size_t)-1);
	assert_int_equal(smarthost_auth_read(path, user, pass, &err), -1);
	assert_non_null(strstr(err, "empty"));

	snprintf(path, sizeof(path), "%s/none", dir);
	assert_int_equal(smarthost_auth_read(path, user, pass, &err), -1);
	tu_rmdir(&dir);
}

static void
test_tls_policy(void **state)
{
	char			*dir = tu_mkdtemp(), path[512];
	const char		*err = NULL;
	struct tls_policy	*p;

	(void)state;
	snprintf(path, sizeof(path), "%s/policy", dir);
	tu_write(dir, "policy",
	    "# partners\n"
	    "bank.example  verify\n"
	    "\n"
	    "Old.Example none   # its STARTTLS is broken\n"
	    "partner.example\tencrypt\n"
	    "lax.example may\n", (size_t)-1);
	assert_non_null(p = tls_policy_read(path, &err));
	assert_int_equal(tls_policy_get(p, "bank.example", SMTP_TLS_MAY), SMTP_TLS_VERIFY);
	assert_int_equal(tls_policy_get(p, "BANK.example", SMTP_TLS_MAY), SMTP_TLS_VERIFY);
	assert_int_equal(tls_policy_get(p, "old.example", SMTP_TLS_MAY), SMTP_TLS_NONE);
	assert_int_equal(tls_policy_get(p, "partner.example", SMTP_TLS_NONE), SMTP_TLS_ENCRYPT);
	assert_int_equal(tls_policy_get(p, "lax.example", SMTP_TLS_VERIFY), SMTP_TLS_MAY);
	/* whole names only, others get the default */
	assert_int_equal(tls_policy_get(p, "mx.bank.example", SMTP_TLS_MAY), SMTP_TLS_MAY);
	assert_int_equal(tls_policy_get(p, "other.example", SMTP_TLS_NONE), SMTP_TLS_NONE);
	assert_int_equal(tls_policy_get(NULL, "bank.example", SMTP_TLS_MAY), SMTP_TLS_MAY);
	tls_policy_free(&p);
	assert_null(p);

	tu_write(dir, "policy", "a.example may\nb.example secure\n", (size_t)-1);
	assert_null(tls_policy_read(path, &err));
	assert_non_null(strstr(err, "line 2: level not one of none, may, encrypt, verify"));
	tu_write(dir, "policy", "a.example\n", (size_t)-1);
	assert_null(tls_policy_read(path, &err));
	assert_non_null(strstr(err, "line 1: expected"));
	tu_write(dir, "policy", "a.example may extra\n", (size_t)-1);
	assert_null(tls_policy_read(path, &err));
	tu_write(dir, "policy", "a.example may\nA.example none\n", (size_t)-1);
	assert_null(tls_policy_read(path, &err));
	assert_non_null(strstr(err, "listed twice"));
	tu_write(dir, "policy", "", (size_t)-1);
	assert_non_null(p = tls_policy_read(path, &err));
	assert_int_equal(tls_policy_get(p, "a.example", SMTP_TLS_MAY), SMTP_TLS_MAY);
	tls_policy_free(&p);
	snprintf(path, sizeof(path), "%s/none", dir);
	assert_null(tls_policy_read(path, &err));
	assert_non_null(strstr(err, "no such file"));
	tu_rmdir(&dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_smarthost_forms),
		cmocka_unit_test(test_smarthost_bad),
		cmocka_unit_test(test_auth_file),
		cmocka_unit_test(test_tls_policy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
