/* lib/base64.c: RFC 4648 vectors, strictness, bounds. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "lib/base64.h"

#include <ctype.h>
#include <string.h>

static const struct {
	const char	*plain;
	const char	*b64;
} vectors[] = {		/* RFC 4648 section 10 */
	{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
};

static void
test_vectors(void **state)
{
	unsigned char	 out[16];
	char		 enc[16];
	size_t		 i, len;

	(void)state;
	for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		assert_int_equal(base64_encode(vectors[i].plain, strlen(vectors[i].plain), enc),
		    strlen(vectors[i].b64));
		assert_string_equal(enc, vectors[i].b64);
		assert_int_equal(base64_decode(vectors[i].b64, strlen(vectors[i].b64), out,
		    sizeof(out), &len), 0);
		assert_int_equal(len, strlen(vectors[i].plain));
		assert_memory_equal(out, vectors[i].plain, len);
	}
}

static void
test_all_bytes_round_trip(void **state)
{
	unsigned char	 in[256], out[256];
	char		 enc[4 * 86 + 1];
	size_t		 i, n, len;

	(void)state;
	for (i = 0; i < 256; i++)
		in[i] = (unsigned char)(255 - i);
	for (n = 0; n <= 256; n++) {
		len = base64_encode(in, n, enc);
		assert_int_equal(len, 4 * ((n + 2) / 3));
		assert_int_equal(base64_decode(enc, len, out, n, &len), 0);
		assert_int_equal(len, n);
		assert_memory_equal(out, in, n);
	}
}

static void
test_strict(void **state)
{
	static const char *const bad[] = {
		"Zg", "Zg=", "Zg===", "====", "Z===", "Zm9v\n", " Zm9v", "Zm 9v", "Zm9v=",
		"Zh==",		/* non-zero bits under the padding */
		"Zm9=",		/* same, one pad */
		"Zg==Zg==",	/* padding in the middle */
		"Zm-v", "Zm_v", "Zm9\x80", "=Zm9",
	};
	unsigned char	 out[16];
	size_t		 i, len;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (base64_decode(bad[i], strlen(bad[i]), out, sizeof(out), &len) != -1)
			fail_msg("accepted: \"%s\"", bad[i]);
	/* NUL inside the counted input is just a bad character */
	assert_int_equal(base64_decode("Zm\0v", 4, out, sizeof(out), &len), -1);
}

static void
test_output_bound(void **state)
{
	unsigned char	 out[8];
	size_t		 len = 99;

	(void)state;
	memset(out, 0xaa, sizeof(out));
	assert_int_equal(base64_decode("Zm9vYmFy", 8, out, 5, &len), -1);
	assert_int_equal(out[0], 0xaa);		/* nothing written */
	assert_int_equal(base64_decode("Zm9vYmE=", 8, out, 5, &len), 0);
	assert_int_equal(len, 5);
	assert_int_equal(base64_decode("", 0, out, 0, &len), 0);
	assert_int_equal(len, 0);
}

static void
test_hex_value(void **state)
{
	static const char	 digits[] = "0123456789abcdef";
	int			 c, n = 0;

	(void)state;
	for (c = 0; c < 16; c++) {
		assert_int_equal(hex_value((unsigned char)digits[c]), c);
		assert_int_equal(hex_value((unsigned char)toupper(digits[c])), c);
	}
	for (c = 0; c < 256; c++)
		n += hex_value((unsigned char)c) >= 0;
	assert_int_equal(n, 22);	/* nothing else: 'g', '/', ':', '@', 0x80+ */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_all_bytes_round_trip),
		cmocka_unit_test(test_strict),
		cmocka_unit_test(test_output_bound),
		cmocka_unit_test(test_hex_value),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
