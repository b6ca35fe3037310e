/* lib/directory.c, address.c, password.c: files, resolution, crypt, syntax. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "lib/directory.h"
#include "lib/xmalloc.h"
#include "mail/address.h"
#include "tests/unit/config_testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char	*hash_pw1;	/* "secret1", made once: yescrypt is slow on purpose */

static int
setup(void **state)
{
	(void)state;
	hash_pw1 = password_hash("secret1");
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	free(hash_pw1);
	return 0;
}

/* A directory with users alice, bob, carol, dave, a+b at example.com. */
static struct directory *
load_good(char **dir_r)
{
	struct directory	*d;
	const char		*err = NULL;
	char			*passwd;

	*dir_r = tu_mkdtemp();
	tu_write(*dir_r, "domains", "# ours\nexample.com catchall=postmaster\n"
	    "Example.ORG\r\n", (size_t)-1);
	passwd = xasprintf(
	    "alice@example.com:%s::::::quota_bytes=1000 quota_messages=5\n"
	    "Bob@Example.com:{SHA512-CRYPT}$6$x$y::::::\n"
	    "carol@example.com:$6$x$y\n"
	    "dave@example.com:{CRYPT}$y$j9T$x$y::::::\n"
	    "a+b@example.com:{CRYPT}$y$j9T$x$y::::::\n"
	    "postmaster@example.com:{CRYPT}$y$j9T$x$y::::::\n"
	    "erin@example.org:{CRYPT}$y$j9T$x$y:::::: userdb_quota_rule=*:storage=1G "
	    "quota_messages=9", hash_pw1);
	tu_write(*dir_r, "passwd", passwd, (size_t)-1);
	free(passwd);
	tu_write(*dir_r, "groups",
	    "team@example.com: alice@example.com, bob@example.com\n"
	    "devs@example.com: bob@example.com,carol@example.com\n"
	    "all@example.com: team@example.com, devs@example.com, alice@example.com\n",
	    (size_t)-1);
	tu_write(*dir_r, "aliases",
	    "info@example.com: all@example.com\n"
	    "Sales@example.com: dave@example.com\n"
	    "support@example.org: erin@example.org, dave@example.com\n", (size_t)-1);
	tu_write(*dir_r, "senders",
	    "# login: further addresses it may send as\n"
	    "Carol@example.com: Boss@example.com, carol@GMAIL.com\n", (size_t)-1);
	d = directory_load(*dir_r, &address_user_syntax, &err);
	if (d == NULL)
		fail_msg("load: %s", err);
	return d;
}

static void
assert_resolves(const struct directory *d, const char *addr, enum dir_resolve want,
    const char *users)
{
	const struct dir_user	*u[8];
	char			 got[512] = "";
	size_t			 n = 99, i;

	assert_int_equal(directory_resolve(d, addr, u, 8, &n), want);
	for (i = 0; want == DIR_LOCAL && i < n; i++) {
		strcat(got, i > 0 ? " " : "");
		strcat(got, u[i]->address);
	}
	if (strcmp(got, users) != 0)
		fail_msg("%s: got \"%s\", want \"%s\"", addr, got, users);
}

static void
test_resolve(void **state)
{
	struct directory	*d;
	char			*dir;

	(void)state;
	d = load_good(&dir);
	assert_resolves(d, "alice@example.com", DIR_LOCAL, "alice@example.com");
	assert_resolves(d, "ALICE@EXAMPLE.COM", DIR_LOCAL, "alice@example.com");
	assert_resolves(d, "bob@example.com", DIR_LOCAL, "bob@example.com");
	/* plus-addressing, and a user literally named with '+' wins */
	assert_resolves(d, "alice+news@example.com", DIR_LOCAL, "alice@example.com");
	assert_resolves(d, "team+x@example.com", DIR_LOCAL, "alice@example.com bob@example.com");
	assert_resolves(d, "a+b@example.com", DIR_LOCAL, "a+b@example.com");
	/* groups: nested and overlapping, each user once */
	assert_resolves(d, "all@example.com", DIR_LOCAL,
	    "alice@example.com bob@example.com carol@example.com");
	/* aliases: to a group, to a user, across domains */
	assert_resolves(d, "info@example.com", DIR_LOCAL,
	    "alice@example.com bob@example.com carol@example.com");
	assert_resolves(d, "sales@example.com", DIR_LOCAL, "dave@example.com");
	assert_resolves(d, "support@EXAMPLE.org", DIR_LOCAL, "dave@example.com erin@example.org");
	/* catch-all in example.com only */
	assert_resolves(d, "nobody@example.com", DIR_LOCAL, "postmaster@example.com");
	assert_resolves(d, "nobody@example.org", DIR_NOUSER, "");
	assert_resolves(d, "+x@example.org", DIR_NOUSER, "");
	assert_resolves(d, "alice@example.net", DIR_REMOTE, "");
	assert_resolves(d, "alice", DIR_INVALID, "");
	assert_resolves(d, "al ice@example.com", DIR_INVALID, "");
	assert_resolves(d, "\"alice\"@example.com", DIR_INVALID, "");
	assert_true(directory_is_local_domain(d, "EXAMPLE.org"));
	assert_false(directory_is_local_domain(d, "example.net"));
	directory_free(&d);
	assert_null(d);
	tu_rmdir(&dir);
}

static void
test_may_send_as(void **state)
{
	struct directory	*d;
	char			*dir;

	(void)state;
	d = load_good(&dir);
	/* own address, any case, and its plus-variants */
	assert_true(directory_may_send_as(d, "alice@example.com", "alice@example.com"));
	assert_true(directory_may_send_as(d, "ALICE@example.COM", "Alice@Example.com"));
	assert_true(directory_may_send_as(d, "alice@example.com", "alice+news@example.com"));
	/* groups and aliases that deliver to the user, nested too */
	assert_true(directory_may_send_as(d, "alice@example.com", "team@example.com"));
	assert_true(directory_may_send_as(d, "alice@example.com", "team+x@example.com"));
	assert_true(directory_may_send_as(d, "carol@example.com", "all@example.com"));
	assert_true(directory_may_send_as(d, "carol@example.com", "info@example.com"));
	assert_true(directory_may_send_as(d, "dave@example.com", "SALES@example.com"));
	assert_true(directory_may_send_as(d, "dave@example.com", "support@example.org"));
	/* the senders file, remote addresses included, and their plus-variants */
	assert_true(directory_may_send_as(d, "carol@example.com", "boss@example.com"));
	assert_true(directory_may_send_as(d, "carol@example.com", "Carol@gmail.com"));
	assert_true(directory_may_send_as(d, "carol@example.com", "carol+x@gmail.com"));
	/* other users, groups without the user, remote, catch-all, postmaster */
	assert_false(directory_may_send_as(d, "alice@example.com", "bob@example.com"));
	assert_false(directory_may_send_as(d, "alice@example.com", "bob+alice@example.com"));
	assert_false(directory_may_send_as(d, "carol@example.com", "team@example.com"));
	assert_false(directory_may_send_as(d, "alice@example.com", "sales@example.com"));
	assert_false(directory_may_send_as(d, "alice@example.com", "someone@gmail.com"));
	assert_false(directory_may_send_as(d, "alice@example.com", "boss@example.com"));
	assert_false(directory_may_send_as(d, "alice@example.com", "nobody@example.com"));
	assert_false(directory_may_send_as(d, "postmaster@example.com", "nobody@example.com"));
	assert_false(directory_may_send_as(d, "alice@example.com", "postmaster@example.com"));
	/* a user literally named a+b is not a plus-variant of a */
	assert_true(directory_may_send_as(d, "a+b@example.com", "a+b@example.com"));
	assert_false(directory_may_send_as(d, "dave@example.com", "a+b@example.com"));
	/* not addresses, unknown logins */
	assert_false(directory_may_send_as(d, "alice@example.com", ""));
	assert_false(directory_may_send_as(d, "alice@example.com", "alice"));
	assert_false(directory_may_send_as(d, "alice@example.com", "+@example.com"));
	assert_false(directory_may_send_as(d, "ghost@example.com", "ghost@example.com"));
	directory_free(&d);
	tu_rmdir(&dir);
}

static void
test_resolve_max(void **state)
{
	const struct dir_user	*u[2];
	struct directory	*d;
	char			*dir;
	size_t			 n;

	(void)state;
	d = load_good(&dir);
	assert_int_equal(directory_resolve(d, "all@example.com", u, 2, &n), DIR_LOCAL);
	assert_int_equal(n, 3);		/* max + 1: too many */
	assert_int_equal(directory_resolve(d, "team@example.com", u, 2, &n), DIR_LOCAL);
	assert_int_equal(n, 2);
	assert_int_equal(directory_resolve(d, "alice@example.com", u, 0, &n), DIR_LOCAL);
	assert_int_equal(n, 1);
	directory_free(&d);
	tu_rmdir(&dir);
}

static void
test_users(void **state)
{
	const struct dir_user	*u;
	struct directory	*d;
	char			*dir, *md;

	(void)state;
	d = load_good(&dir);
	u = directory_user(d, "Alice@Example.com");
	assert_non_null(u);
	assert_string_equal(u->address, "alice@example.com");
	assert_string_equal(u->local, "alice");
	assert_string_equal(u->domain, "example.com");
	assert_int_equal(u->quota_bytes, 1000);
	assert_int_equal(u->quota_messages, 5);
	assert_string_equal(directory_user(d, "bob@example.com")->password,
	    "{SHA512-CRYPT}$6$x$y");
	assert_null(directory_user(d, "team@example.com"));
	assert_int_equal(directory_user(d, "erin@example.org")->quota_messages, 9);
	assert_int_equal(directory_user(d, "erin@example.org")->quota_bytes, 0);
	md = directory_maildir("/var/mail", u);
	assert_string_equal(md, "/var/mail/example.com/alice/Maildir");
	free(md);
	/* authentication */
	assert_ptr_equal(directory_authenticate(d, "ALICE@example.com", "secret1", NULL), u);
	assert_null(directory_authenticate(d, "alice@example.com", "secret2", NULL));
	assert_null(directory_authenticate(d, "alice@example.com", "", NULL));
	assert_null(directory_authenticate(d, "nobody@example.com", "secret1", NULL));
	assert_null(directory_authenticate(d, "bob@example.com", "x", NULL));
	directory_free(&d);
	tu_rmdir(&dir);
}

static void
test_missing_files_are_empty(void **state)
{
	struct directory	*d;
	const char		*err = NULL;
	char			*dir = tu_mkdtemp();
	size_t			 n;

	(void)state;
	d = directory_load(dir, &address_user_syntax, &err);
	assert_non_null(d);
	assert_int_equal(directory_resolve(d, "a@example.com", NULL, 0, &n), DIR_REMOTE);
	assert_null(directory_authenticate(d, "a@example.com", "x", NULL));
	directory_free(&d);
	tu_rmdir(&dir);
}

/* Load dir expecting failure; returns the log. */
static char *
load_bad(const char *dir, const char **err_r)
{
	struct directory	*d;
	char			*log;

	tu_capture_start();
	d = directory_load(dir, &address_user_syntax, err_r);
	log = tu_capture_end();
	assert_null(d);
	return log;
}

static void
assert_logged(const char *log, const char *dir, const char *what)
{
	char	*want = xasprintf("%s/%s", dir, what);

	if (strstr(log, want) == NULL)
		fail_msg("not in the log: %s", want);
	free(want);
}

static void
test_parse_errors(void **state)
{
	const char	*err = NULL;
	char		*dir = tu_mkdtemp(), *log;

	(void)state;
	tu_write(dir, "domains", "example.com\nbad_domain!\nexample.com\n"
	    "example.net catchall=nobody\nexample.org bogus\n", (size_t)-1);
	tu_write(dir, "passwd",
	    "alice@example.com:$6$x$y\n"
	    "no-colon-here\n"
	    "bob@elsewhere.com:$6$x$y\n"
	    "a/b@example.com:$6$x$y\n"
	    "alice@example.com:$6$x$y\n"
	    "carol@example.com\n"
	    "dave@example.com:$6$x$y::::::quota_bytes=lots\n", (size_t)-1);
	tu_write(dir, "groups",
	    "g@example.com: alice@example.com, ghost@example.com\n"
	    "h@example.com: someone@remote.net\n"
	    "empty@example.com:\n"
	    "no colon\n", (size_t)-1);
	tu_write(dir, "aliases", "g@example.com: alice@example.com\n"
	    "alice@example.com: g@example.com\n", (size_t)-1);
	log = load_bad(dir, &err);
	assert_logged(log, dir, "domains:2: not a domain name");
	assert_logged(log, dir, "domains:3: example.com: duplicate");
	assert_logged(log, dir, "domains:4: catchall nobody@example.net: no such user");
	assert_logged(log, dir, "domains:5: expected");
	assert_logged(log, dir, "passwd:2: expected user@domain:password");
	assert_logged(log, dir, "passwd:3: elsewhere.com: domain is not in the domains file");
	assert_logged(log, dir, "passwd:4: a/b@example.com: '/' not allowed");
	assert_logged(log, dir, "passwd:5: alice@example.com: duplicate user");
	assert_logged(log, dir, "passwd:6: expected");
	assert_logged(log, dir, "passwd:7: quota: not a number");
	assert_logged(log, dir, "groups:1: ghost@example.com: no such user");
	assert_logged(log, dir, "groups:2: someone@remote.net: not a local address");
	assert_logged(log, dir, "groups:3: empty@example.com: no members");
	assert_logged(log, dir, "groups:4: expected");
	assert_logged(log, dir, "aliases:1: g@example.com: defined twice");
	assert_logged(log, dir, "aliases:2: alice@example.com: is also a user");
	assert_non_null(strstr(err, "errors, first: "));
	free(log);
	tu_rmdir(&dir);
}

static void
test_senders_errors(void **state)
{
	const char	*err = NULL;
	char		*dir = tu_mkdtemp(), *log;

	(void)state;
	tu_write(dir, "domains", "example.com\n", (size_t)-1);
	tu_write(dir, "passwd", "alice@example.com:$6$x$y\n", (size_t)-1);
	tu_write(dir, "senders",
	    "ghost@example.com: a@example.net\n"
	    "alice@example.com: not an address\n"
	    "alice@example.com: b@example.net\n"
	    "x@remote.net: alice@example.com\n", (size_t)-1);
	log = load_bad(dir, &err);
	assert_logged(log, dir, "senders:1: ghost@example.com: no such user");
	assert_logged(log, dir, "senders:2: member is not a valid address");
	assert_logged(log, dir, "senders:3: alice@example.com: defined twice");
	assert_logged(log, dir, "senders:4: remote.net: domain is not in the domains file");
	free(log);
	tu_rmdir(&dir);
}

static void
test_cycle(void **state)
{
	const char	*err = NULL;
	char		*dir = tu_mkdtemp(), *log;

	(void)state;
	tu_write(dir, "domains", "example.com\n", (size_t)-1);
	tu_write(dir, "passwd", "alice@example.com:$6$x$y\n", (size_t)-1);
	tu_write(dir, "groups",
	    "a@example.com: alice@example.com, b@example.com\n"
	    "b@example.com: c@example.com\n"
	    "c@example.com: a@example.com\n", (size_t)-1);
	log = load_bad(dir, &err);
	assert_logged(log, dir,
	    "groups:3: cycle: a@example.com -> b@example.com -> c@example.com -> a@example.com");
	free(log);
	/* a list naming itself */
	tu_write(dir, "groups", "a@example.com: a@example.com\n", (size_t)-1);
	log = load_bad(dir, &err);
	assert_logged(log, dir, "groups:1: cycle: a@example.com -> a@example.com");
	free(log);
	tu_rmdir(&dir);
}

static void
test_password(void **state)
{
	char	*h;

	(void)state;
	assert_non_null(hash_pw1);
	assert_int_equal(strncmp(hash_pw1, "{CRYPT}$y$", 10), 0);
	assert_true(password_verify(hash_pw1, "secret1"));
	assert_false(password_verify(hash_pw1, "secret2"));
	assert_false(password_verify(hash_pw1, "secret"));
	assert_false(password_verify(hash_pw1, ""));
	/* bare hash */
	assert_true(password_verify(hash_pw1 + 7, "secret1"));
	/* SHA-512-crypt of "pw", salt "saltsalt" (Python crypt.crypt) */
	assert_true(password_verify("{SHA512-CRYPT}$6$saltsalt$pauPrmdmG4BTE9h2HPmywiw152IFch6BJ"
	    "CEsaY6D.PLTfpV8sqvXwWdyfsgVgozkYH9B80bAip/08R2BPH2xk/", "pw"));
	assert_false(password_verify("{SHA512-CRYPT}$6$saltsalt$pauPrmdmG4BTE9h2HPmywiw152IFch6BJ"
	    "CEsaY6D.PLTfpV8sqvXwWdyfsgVgozkYH9B80bAip/08R2BPH2xk/", "pW"));
	/* wrong label for the hash, unknown scheme, DES, empty */
	assert_false(password_verify("{SHA512-CRYPT}" "$y$j9T$x$y", "pw"));
	assert_false(password_verify("{PLAIN}pw", "pw"));
	assert_false(password_verify("abJnggxhB/yWI", "pw"));
	assert_false(password_verify("", ""));
	assert_false(password_verify("{CRYPT}", ""));
	/* What mailctl import-dovecot takes: the schemes password_verify can check. */
	assert_true(password_checkable(hash_pw1));
	assert_true(password_checkable("{BLF-CRYPT}$2y$05$abc"));
	assert_true(password_checkable("$6$salt$x"));
	assert_false(password_checkable("{SHA512-CRYPT}$y$j9T$x$y"));
	assert_false(password_checkable("{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$x$y"));
	assert_false(password_checkable("{SSHA}abc"));
	assert_false(password_checkable("{PLAIN}pw"));
	assert_false(password_checkable("abJnggxhB/yWI"));
	h = password_hash("");
	assert_true(password_verify(h, ""));
	assert_false(password_verify(h, " "));
	assert_string_not_equal(h, hash_pw1);
	free(h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resolve),
		cmocka_unit_test(test_resolve_max),
		cmocka_unit_test(test_may_send_as),
		cmocka_unit_test(test_senders_errors),
		cmocka_unit_test(test_users),
		cmocka_unit_test(test_missing_files_are_empty),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_cycle),
		cmocka_unit_test(test_password),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
