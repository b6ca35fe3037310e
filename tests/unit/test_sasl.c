/* lib/sasl.c: PLAIN and LOGIN byte by byte. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "lib/base64.h"
#include "lib/sasl.h"
#include "lib/xmalloc.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* base64 of len bytes (malloc'd). */
static char *
b64(const char *bytes, size_t len)
{
	char	*out = xmalloc(4 * ((len + 2) / 3) + 1);

	base64_encode(bytes, len, out);
	return out;
}

/* One PLAIN exchange with the message as initial response. */
static enum sasl_status
plain_ir(const char *msg, size_t len, char **user_r, char **pass_r, const char **error_r)
{
	struct sasl		*s = sasl_new("plain");
	const char		*ch = NULL;
	char			*enc = b64(msg, len);
	enum sasl_status	 st;

	assert_non_null(s);
	st = sasl_start(s, enc, &ch, error_r);
	*user_r = sasl_user(s) != NULL ? xstrdup(sasl_user(s)) : NULL;
	*pass_r = sasl_password(s) != NULL ? xstrdup(sasl_password(s)) : NULL;
	free(enc);
	sasl_free(&s);
	assert_null(s);
	return st;
}

#define M(lit)	lit, sizeof(lit) - 1

static void
test_plain(void **state)
{
	static const struct {
		const char		*msg;
		size_t			 len;
		enum sasl_status	 want;
	} cases[] = {
		{ M("\0alice@example.com\0secret"), SASL_DONE },
		{ M("alice@example.com\0alice@example.com\0secret"), SASL_DONE },
		{ M("bob@example.com\0alice@example.com\0secret"), SASL_AUTHZ_DENIED },
		{ M("ALICE@Example.COM\0alice@example.com\0secret"), SASL_DONE },	/* case */
		{ M("\0alice\0pass\0word"), SASL_ERROR },	/* 3 NULs */
		{ M("alice\0secret"), SASL_ERROR },		/* 1 NUL */
		{ M("alicesecret"), SASL_ERROR },		/* 0 NULs */
		{ M("\0\0secret"), SASL_ERROR },		/* empty authcid */
		{ M("\0alice\0"), SASL_ERROR },			/* empty password */
		{ M(""), SASL_ERROR },
	};
	const char	*err;
	char		*u, *p;
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err = NULL;
		if (plain_ir(cases[i].msg, cases[i].len, &u, &p, &err) != cases[i].want)
			fail_msg("case %zu: wrong status (%s)", i, err != NULL ? err : "");
		if (cases[i].want == SASL_DONE) {
			assert_string_equal(u, "alice@example.com");
			assert_string_equal(p, "secret");
		} else {
			assert_null(u);
			assert_null(p);
			assert_non_null(err);
		}
		free(u);
		free(p);
	}
}

static void
test_plain_lengths(void **state)
{
	struct sasl	*s;
	char		 msg[1100], big[8001];
	char		*u, *p;
	const char	*err, *ch;

	(void)state;
	msg[0] = '\0';
	memset(msg + 1, 'u', 1024);
	msg[1025] = '\0';
	memcpy(msg + 1026, "pw", 2);
	assert_int_equal(plain_ir(msg, 1028, &u, &p, &err), SASL_DONE);
	assert_int_equal(strlen(u), 1024);
	free(u);
	free(p);
	memset(msg + 1, 'u', 1025);
	msg[1026] = '\0';
	memcpy(msg + 1027, "pw", 2);
	assert_int_equal(plain_ir(msg, 1029, &u, &p, &err), SASL_ERROR);
	/* an over-long response is refused before decoding */
	s = sasl_new("PLAIN");
	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(sasl_start(s, big, &ch, &err), SASL_ERROR);
	sasl_free(&s);
}

static void
test_plain_two_steps_and_ir_forms(void **state)
{
	struct sasl	*s;
	const char	*ch = NULL, *err = NULL;
	char		*enc = b64(M("\0alice\0pw"));

	(void)state;
	s = sasl_new("PLAIN");
	assert_int_equal(sasl_start(s, NULL, &ch, &err), SASL_CONTINUE);
	assert_string_equal(ch, "");
	assert_null(sasl_user(s));
	assert_int_equal(sasl_step(s, enc, &ch, &err), SASL_DONE);
	assert_string_equal(sasl_user(s), "alice");
	assert_string_equal(sasl_password(s), "pw");
	/* nothing more to step */
	assert_int_equal(sasl_step(s, enc, &ch, &err), SASL_ERROR);
	assert_null(sasl_user(s));
	sasl_free(&s);

	/* "=" is an empty initial response: PLAIN rejects it */
	s = sasl_new("PLAIN");
	assert_int_equal(sasl_start(s, "=", &ch, &err), SASL_ERROR);
	sasl_free(&s);

	/* bad base64 anywhere */
	s = sasl_new("PLAIN");
	assert_int_equal(sasl_start(s, "AGFsaWNlAHB3!", &ch, &err), SASL_ERROR);
	assert_non_null(strstr(err, "base64"));
	sasl_free(&s);
	s = sasl_new("PLAIN");
	assert_int_equal(sasl_start(s, NULL, &ch, &err), SASL_CONTINUE);
	assert_int_equal(sasl_step(s, "AGFsaWNlAHB3cw", &ch, &err), SASL_ERROR);	/* no padding */
	sasl_free(&s);

	/* starting twice is a misuse */
	s = sasl_new("PLAIN");
	assert_int_equal(sasl_start(s, NULL, &ch, &err), SASL_CONTINUE);
	assert_int_equal(sasl_start(s, NULL, &ch, &err), SASL_ERROR);
	sasl_free(&s);
	free(enc);
}

static void
test_login(void **state)
{
	struct sasl	*s;
	const char	*ch = NULL, *err = NULL;

	(void)state;
	s = sasl_new("login");
	assert_non_null(s);
	assert_int_equal(sasl_start(s, NULL, &ch, &err), SASL_CONTINUE);
	assert_string_equal(ch, "VXNlcm5hbWU6");
	assert_int_equal(sasl_step(s, "YWxpY2U=", &ch, &err), SASL_CONTINUE);	/* alice */
	assert_string_equal(ch, "UGFzc3dvcmQ6");
	assert_null(sasl_password(s));
	assert_int_equal(sasl_step(s, "c2VjcmV0", &ch, &err), SASL_DONE);	/* secret */
	assert_string_equal(sasl_user(s), "alice");
	assert_string_equal(sasl_password(s), "secret");
	sasl_free(&s);

	/* user name as initial response */
	s = sasl_new("LOGIN");
	assert_int_equal(sasl_start(s, "YWxpY2U=", &ch, &err), SASL_CONTINUE);
	assert_string_equal(ch, "UGFzc3dvcmQ6");
	assert_int_equal(sasl_step(s, "c2VjcmV0", &ch, &err), SASL_DONE);
	sasl_free(&s);

	/* empty user, NUL in the password, bad base64 */
	s = sasl_new("LOGIN");
	assert_int_equal(sasl_start(s, "=", &ch, &err), SASL_ERROR);
	sasl_free(&s);
	s = sasl_new("LOGIN");
	assert_int_equal(sasl_start(s, "YWxpY2U=", &ch, &err), SASL_CONTINUE);
	assert_int_equal(sasl_step(s, "cwBw", &ch, &err), SASL_ERROR);	/* "s\0p" */
	assert_null(sasl_user(s));
	sasl_free(&s);
	s = sasl_new("LOGIN");
	assert_int_equal(sasl_start(s, NULL, &ch, &err), SASL_CONTINUE);
	assert_int_equal(sasl_step(s, "YWxpY2U", &ch, &err), SASL_ERROR);
	sasl_free(&s);

	assert_null(sasl_new("CRAM-MD5"));
	assert_null(sasl_new(""));
	sasl_free(&s);		/* NULL is fine */
}

/*
 * Byte at a time: every prefix and every one-byte change of a valid
 * response is decided (DONE or ERROR, never a crash or a bad read), and
 * only the complete response gives the right credentials.
 */
static void
test_every_prefix_and_mutation(void **state)
{
	char		*enc = b64(M("alice\0alice\0secret")), *copy;
	struct sasl	*s;
	const char	*ch, *err;
	size_t		 len = strlen(enc), i;
	int		 c;
	enum sasl_status st;

	(void)state;
	copy = xstrdup(enc);
	for (i = 0; i <= len; i++) {
		copy[i] = '\0';
		s = sasl_new("PLAIN");
		st = sasl_start(s, copy, &ch, &err);
		if (i == len) {
			assert_int_equal(st, SASL_DONE);
			assert_string_equal(sasl_password(s), "secret");
		} else if (i % 4 != 0)
			assert_int_equal(st, SASL_ERROR);
		else if (st == SASL_DONE)	/* a shorter valid message */
			assert_string_not_equal(sasl_password(s), "secret");
		sasl_free(&s);
		memcpy(copy, enc, len + 1);
	}
	for (i = 0; i < len; i++) {
		for (c = 1; c < 256; c++) {
			copy[i] = (char)c;
			s = sasl_new("PLAIN");
			st = sasl_start(s, copy, &ch, &err);
			/* Only the authzid's case may change and keep the credentials. */
			if (st == SASL_DONE && c != (unsigned char)enc[i] &&
			    strcmp(sasl_user(s), "alice") == 0 &&
			    strcmp(sasl_password(s), "secret") == 0) {
				unsigned char	 raw[64];
				size_t		 n;

				assert_int_equal(base64_decode(copy, len, raw, sizeof(raw), &n), 0);
				assert_int_equal(n, 18);
				assert_memory_equal(raw + 5, "\0alice\0secret", 13);
				assert_int_equal(strncasecmp((char *)raw, "alice", 5), 0);
			}
			sasl_free(&s);
		}
		copy[i] = enc[i];
	}
	free(copy);
	free(enc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_plain_lengths),
		cmocka_unit_test(test_plain_two_steps_and_ir_forms),
		cmocka_unit_test(test_login),
		cmocka_unit_test(test_every_prefix_and_mutation),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
