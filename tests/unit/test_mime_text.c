/*
 * What SEARCH and SORT read of a message through mail/ and lib/: header
 * fields one by one, RFC 5322 dates, quoted-printable, charset
 * conversion, a text part's decoded body; and lib/unicase's folding.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "lib/buf.h"
#include "lib/unicase.h"
#include "mail/mime.h"

#include <stdlib.h>
#include <string.h>

static char *
qp(const char *in)
{
	struct buf	 b;
	char		*s;

	buf_init(&b, 1024);
	assert_int_equal(mime_qp_decode(in, strlen(in), &b), 0);
	s = buf_strdup(&b);
	buf_release(&b);
	return s;
}

static void
test_qp(void **state)
{
	static const struct { const char *in, *out; } v[] = {
		{ "plain", "plain" },
		{ "caf=C3=A9", "caf\xc3\xa9" },
		{ "caf=c3=a9", "caf\xc3\xa9" },		/* lower-case hex, as mailers write it */
		{ "soft=\nbreak", "softbreak" },
		{ "soft=\r\nbreak", "softbreak" },
		{ "soft= \t\nbreak", "softbreak" },	/* white space after the "=" */
		{ "hard\nbreak", "hard\nbreak" },
		{ "bad=ZZ", "bad=ZZ" }, { "end=", "end" }, { "end=4", "end=4" },
		{ "=3D=3d", "==" },
	};
	char	*s;
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		s = qp(v[i].in);
		assert_string_equal(s, v[i].out);
		free(s);
	}
}

static void
test_dates(void **state)
{
	time_t	 t;
	int	 zone;

	(void)state;
	assert_int_equal(mime_date_parse("Mon, 1 Jan 2024 23:30:00 -0800", 30, &t, &zone), 0);
	assert_int_equal(t, 1704180600);	/* 2024-01-02 07:30:00 UTC */
	assert_int_equal(zone, -480);
	assert_int_equal(mime_date_parse("3 Jan 2024 10:00 +0000", 22, &t, &zone), 0);
	assert_int_equal(t, 1704276000);
	assert_int_equal(mime_date_parse("Thu, 29 Feb 96 12:00:00 EST", 27, &t, &zone), 0);
	assert_int_equal(t, 825613200);		/* 1996-02-29 17:00 UTC, 2-digit year */
	assert_int_equal(zone, -300);
	assert_int_equal(mime_date_parse("Sat, 5 Dec 2026 12:00:00 +0530 (IST)", 36, &t, &zone), 0);
	assert_int_equal(zone, 330);
	assert_int_equal(mime_date_parse("1 Jan 1970 00:00:00 GMT", 23, &t, &zone), 0);
	assert_int_equal(t, 0);
	assert_int_equal(mime_date_parse("yesterday", 9, &t, &zone), -1);
	assert_int_equal(mime_date_parse(NULL, 0, &t, &zone), -1);	/* an empty buffer's head */
	assert_int_equal(mime_date_parse("1 Foo 2024 10:00", 16, &t, &zone), -1);
	assert_int_equal(mime_date_parse("1 Jan 2024", 10, &t, &zone), -1);
	assert_int_equal(mime_date_parse("1 Jan 2024 25:00", 16, &t, &zone), -1);
}

static void
test_header_fields(void **state)
{
	static const char	 h[] = "Subject: a\r\n folded\r\nX-Empty:\r\nno colon\r\n"
	    "To : b\r\n\r\nBody: not a field\r\n";
	struct mime_header_field f;
	size_t			 pos = 0, hlen = mime_header_len(h, sizeof(h) - 1);

	(void)state;
	assert_int_equal(hlen, strstr(h, "Body") - h);
	assert_true(mime_header_next(h, hlen, &pos, &f));
	assert_int_equal(f.name_len, 7);
	assert_memory_equal(f.value, "a\r\n folded", f.value_len);
	assert_int_equal(f.value_len, 10);
	assert_true(mime_header_next(h, hlen, &pos, &f));
	assert_int_equal(f.value_len, 0);
	assert_true(mime_header_next(h, hlen, &pos, &f));
	assert_memory_equal(f.name, "To", f.name_len);
	assert_int_equal(f.name_len, 2);
	assert_memory_equal(f.value, "b", f.value_len);
	assert_false(mime_header_next(h, hlen, &pos, &f));
	assert_int_equal(mime_header_len("A: b\n", 5), 5);	/* no blank line: all header */
}

static char *
convert(const char *charset, const char *in, bool lenient, int *ret_r)
{
	struct buf	 b;
	char		*s;

	buf_init(&b, 1024);
	*ret_r = mime_charset_to_utf8(charset, in, strlen(in), lenient, &b);
	s = buf_strdup(&b);
	buf_release(&b);
	return s;
}

static void
test_charsets(void **state)
{
	char	*s;
	int	 ret;

	(void)state;
	s = convert("ISO-8859-1", "Gr\xfc\xdf" "e", false, &ret);
	assert_int_equal(ret, 0);
	assert_string_equal(s, "Gr\xc3\xbc\xc3\x9f" "e");
	free(s);
	s = convert("gb2312", "\xd6\xd0\xce\xc4", false, &ret);
	assert_string_equal(s, "\xe4\xb8\xad\xe6\x96\x87");	/* 中文 */
	free(s);
	s = convert("utf-8", "bad \xff byte", false, &ret);	/* strict: refused whole */
	assert_int_equal(ret, -1);
	assert_string_equal(s, "");
	free(s);
	s = convert("utf-8", "bad \xff byte", true, &ret);	/* lenient UTF-8: as it is */
	assert_string_equal(s, "bad \xff byte");
	free(s);
	s = convert("gb2312", "x\xff" "y", true, &ret);		/* lenient: U+FFFD */
	assert_int_equal(ret, 0);
	assert_string_equal(s, "x\xef\xbf\xbdy");
	free(s);
	s = convert("x-no-such-charset", "abc", true, &ret);
	assert_string_equal(s, "abc");
	free(s);
	s = convert("x-no-such-charset", "abc", false, &ret);
	assert_int_equal(ret, -1);
	free(s);
}

static void
test_part_text(void **state)
{
	static const char	 msg[] = "MIME-Version: 1.0\n"
	    "Content-Type: multipart/mixed; boundary=b\n\n--b\n"
	    "Content-Type: text/plain; charset=iso-8859-1\n"
	    "Content-Transfer-Encoding: base64\n\nR3L8/GU=\n--b\n"
	    "Content-Type: text/plain\nContent-Transfer-Encoding: Quoted-Printable\n\n"
	    "a=3Db=\nc\n--b--\n";
	struct mime_message	*m = mime_parse(msg, sizeof(msg) - 1);
	struct buf		 b;

	(void)state;
	buf_init(&b, 1024);
	assert_int_equal(mime_part_text(mime_part_find(m, "1"), msg, &b), 0);
	assert_int_equal(buf_len(&b), 7);
	assert_memory_equal(buf_head(&b), "Gr\xc3\xbc\xc3\xbc" "e", 7);	/* "Grüüe" */
	buf_reset(&b);
	assert_int_equal(mime_part_text(mime_part_find(m, "2"), msg, &b), 0);
	assert_memory_equal(buf_head(&b), "a=bc", 4);
	buf_release(&b);
	mime_message_free(&m);
}

static void
test_unicase(void **state)
{
	struct buf	 b;

	(void)state;
	assert_int_equal(unicase_fold('A'), 'a');
	assert_int_equal(unicase_fold('z'), 'z');
	assert_int_equal(unicase_fold(0xc9), 0xe9);	/* É é */
	assert_int_equal(unicase_fold(0xd7), 0xd7);	/* × has no case */
	assert_int_equal(unicase_fold(0x100), 0x101);	/* Ā ā: a stride-2 range */
	assert_int_equal(unicase_fold(0x101), 0x101);
	assert_int_equal(unicase_fold(0x391), 0x3b1);	/* Α α */
	assert_int_equal(unicase_fold(0x3c2), 0x3c3);	/* final ς folds to σ */
	assert_int_equal(unicase_fold(0x41f), 0x43f);	/* П п */
	assert_int_equal(unicase_fold(0x401), 0x451);	/* Ё ё */
	assert_int_equal(unicase_fold(0xff21), 0xff41);	/* fullwidth Ａ */
	assert_int_equal(unicase_fold(0x1e9e), 0xdf);	/* ẞ to ß (simple folding) */
	assert_int_equal(unicase_fold(0x4e2d), 0x4e2d);	/* 中 */
	buf_init(&b, 64);
	assert_int_equal(unicase_fold_utf8(&b, "Ab\xc3\x89\xff\xd0\x9f", 7), 0);
	assert_int_equal(buf_len(&b), 7);	/* invalid byte kept */
	assert_memory_equal(buf_head(&b), "ab\xc3\xa9\xff\xd0\xbf", 7);
	buf_reset(&b);
	/* U+023A (2 bytes) folds to U+2C65 (3 bytes): the output may grow */
	assert_int_equal(unicase_fold_utf8(&b, "\xc8\xba", 2), 0);
	assert_memory_equal(buf_head(&b), "\xe2\xb1\xa5", 3);
	assert_int_equal(unicase_fold_utf8(&b, NULL, 0), 0);	/* an empty buffer's head */
	assert_int_equal(mime_qp_decode(NULL, 0, &b), 0);
	assert_int_equal(buf_len(&b), 3);
	buf_release(&b);
	buf_init(&b, 4);
	assert_int_equal(unicase_fold_utf8(&b, "too long for it", 15), -1);
	buf_release(&b);
}

int
main(void)
{
	const struct CMUnitTest	 tests[] = {
		cmocka_unit_test(test_qp),
		cmocka_unit_test(test_dates),
		cmocka_unit_test(test_header_fields),
		cmocka_unit_test(test_charsets),
		cmocka_unit_test(test_part_text),
		cmocka_unit_test(test_unicase),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
