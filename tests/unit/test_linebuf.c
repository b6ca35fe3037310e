/*
 * lib/linebuf: sketch A semantics.  Most cases run through drive(), which
 * feeds the input in chunks of every size from 1 byte up and renders each
 * result as text, so a split at any position must give the same answer.
 */
#include "lib/linebuf.h"
#include "lib/buf.h"
#include "lib/xmalloc.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

/* Render every complete result after feeding `in` in `chunk`-byte pieces. */
static void
drive(size_t max, const char *in, size_t inlen, size_t chunk, struct buf *out)
{
	struct linebuf		*lb = linebuf_new(max);
	enum line_status	 st;
	char			*line;
	size_t			 off = 0, n, len;

	while (off < inlen) {
		len = inlen - off < chunk ? inlen - off : chunk;
		n = linebuf_feed(lb, in + off, len);
		off += n;
		while ((st = linebuf_next(lb, &line, &len)) != LINE_MORE) {
			switch (st) {
			case LINE_OK:
				assert_int_equal(strlen(line), len);
				assert_int_equal(buf_printf(out, "OK:%s|", line), 0);
				break;
			case LINE_BARE_LF:
				assert_int_equal(buf_printf(out, "LF:%s|", line), 0);
				break;
			case LINE_TOO_LONG:
				assert_null(line);
				assert_int_equal(buf_puts(out, "LONG|"), 0);
				break;
			case LINE_NUL:
				assert_null(line);
				assert_int_equal(buf_puts(out, "NUL|"), 0);
				break;
			case LINE_MORE:
				break;
			}
		}
		/* Memory bound: never more than max pending. */
		assert_true(linebuf_pending(lb) <= max);
	}
	linebuf_free(&lb);
	assert_null(lb);
}

/* Every chunk size from 1 to inlen gives `want`. */
static void
check_all_splits(size_t max, const char *in, size_t inlen, const char *want)
{
	struct buf	*out = buf_new(1 << 20);
	char		*got;
	size_t		 chunk;

	for (chunk = 1; chunk <= inlen; chunk++) {
		buf_reset(out);
		drive(max, in, inlen, chunk, out);
		got = buf_strdup(out);
		if (strcmp(got, want) != 0)
			fail_msg("chunk %zu: got \"%s\", want \"%s\"", chunk, got, want);
		free(got);
	}
	buf_free(&out);
}

#define CHECK(max, in, want) check_all_splits(max, in, sizeof(in) - 1, want)

static void
test_pipelined_lines(void **state)
{
	(void)state;
	CHECK(64, "EHLO a\r\nMAIL FROM:<x@y>\r\nRCPT TO:<z@w>\r\nDATA\r\n",
	    "OK:EHLO a|OK:MAIL FROM:<x@y>|OK:RCPT TO:<z@w>|OK:DATA|");
	CHECK(64, "\r\n\r\n", "OK:|OK:|");
	CHECK(64, "partial", "");
}

static void
test_exact_max_and_one_more(void **state)
{
	(void)state;
	/* max 8, CRLF included: "123456\r\n" is exactly 8 */
	CHECK(8, "123456\r\nA\r\n", "OK:123456|OK:A|");
	CHECK(8, "1234567\r\nA\r\n", "LONG|OK:A|");
	CHECK(8, "1234567\nA\r\n", "LF:1234567|OK:A|");
	CHECK(8, "12345678\nA\r\n", "LONG|OK:A|");
	CHECK(8, "123456\r\n1234567\r\n123456\r\n", "OK:123456|LONG|OK:123456|");
}

static void
test_huge_line_then_normal(void **state)
{
	size_t		 big = 1 << 20, chunks[] = { 1, 7, 4096, 65536, (1 << 20) + 20 };
	char		*in;
	struct buf	*out = buf_new(1024);
	char		*got;
	size_t		 i;

	(void)state;
	in = xmalloc(big + 20);
	memset(in, 'A', big);
	memcpy(in + big, "\r\nQUIT\r\n", 8);
	for (i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		/* 1-byte chunks over 1 MB: keep it to a sane size */
		buf_reset(out);
		drive(512, in, big + 8, chunks[i], out);
		got = buf_strdup(out);
		assert_string_equal(got, "LONG|OK:QUIT|");
		free(got);
	}
	free(in);
	buf_free(&out);
}

static void
test_cr_without_lf(void **state)
{
	(void)state;
	CHECK(64, "a\rb\r\n", "OK:a\rb|");
	CHECK(64, "ab\r\r\n", "OK:ab\r|");
	CHECK(64, "abc\r", "");
	CHECK(64, "\r\r\n", "OK:\r|");
}

static void
test_bare_lf(void **state)
{
	(void)state;
	CHECK(64, "a\nb\r\n\n", "LF:a|OK:b|LF:|");
	/* the SMTP-smuggling shape: each form reported as what it is */
	CHECK(64, "x\r\n.\nQUIT\r\n", "OK:x|LF:.|OK:QUIT|");
}

static void
test_nul(void **state)
{
	static const char	in[] = "a\0b\r\nok\r\n\0\n";

	(void)state;
	check_all_splits(64, in, sizeof(in) - 1, "NUL|OK:ok|NUL|");
}

static void
test_feed_stops_when_full(void **state)
{
	struct linebuf	*lb = linebuf_new(8);
	char		*line;
	size_t		 len;

	(void)state;
	assert_int_equal(linebuf_feed(lb, "ab\r\ncd\r\nef\r\n", 12), 8);
	assert_int_equal(linebuf_pending(lb), 8);
	assert_int_equal(linebuf_next(lb, &line, &len), LINE_OK);
	assert_string_equal(line, "ab");
	/* the line is still valid until the next call */
	assert_int_equal(linebuf_pending(lb), 4);
	assert_int_equal(linebuf_feed(lb, "ef\r\n", 4), 4);
	assert_int_equal(linebuf_next(lb, &line, &len), LINE_OK);
	assert_string_equal(line, "cd");
	assert_int_equal(linebuf_next(lb, &line, &len), LINE_OK);
	assert_string_equal(line, "ef");
	assert_int_equal(linebuf_next(lb, &line, &len), LINE_MORE);
	assert_null(line);
	assert_int_equal(linebuf_pending(lb), 0);
	linebuf_free(&lb);
	linebuf_free(&lb);
}

static void
test_take_across_feeds(void **state)
{
	struct linebuf	*lb = linebuf_new(16);
	const char	*data;
	char		 lit[64];
	size_t		 got = 0, n;
	static const char in[] = "0123456789abcdefghijklmnopqrstuvwxyz";

	(void)state;
	/* a 36-byte literal through a 16-byte reader, 5 bytes a feed */
	for (size_t off = 0; off < sizeof(in) - 1 || got < sizeof(in) - 1;) {
		if (off < sizeof(in) - 1)
			off += linebuf_feed(lb, in + off,
			    sizeof(in) - 1 - off < 5 ? sizeof(in) - 1 - off : 5);
		n = linebuf_take(lb, sizeof(in) - 1 - got, &data);
		memcpy(lit + got, data, n);
		got += n;
	}
	assert_memory_equal(lit, in, sizeof(in) - 1);
	assert_int_equal(linebuf_take(lb, 10, &data), 0);
	linebuf_free(&lb);
}

/* IMAP: a line announcing a literal, the literal, then the rest of the line. */
static void
test_line_take_line(void **state)
{
	static const char	 in[] = "A1 APPEND x {8}\r\nab\r\ncd\r\n)\r\nA2 NOOP\r\n";
	struct buf		*out = buf_new(1024);
	struct linebuf		*lb;
	enum line_status	 st;
	const char		*data;
	char			*line, *got;
	size_t			 chunk, off, len, want;

	(void)state;
	for (chunk = 1; chunk < sizeof(in); chunk++) {
		lb = linebuf_new(32);
		buf_reset(out);
		want = 0;
		for (off = 0; off < sizeof(in) - 1;) {
			len = sizeof(in) - 1 - off < chunk ? sizeof(in) - 1 - off : chunk;
			off += linebuf_feed(lb, in + off, len);
			for (;;) {
				if (want > 0) {
					if ((len = linebuf_take(lb, want, &data)) == 0)
						break;
					assert_int_equal(buf_append(out, data, len), 0);
					want -= len;
					continue;
				}
				if ((st = linebuf_next(lb, &line, &len)) == LINE_MORE)
					break;
				assert_int_equal(st, LINE_OK);
				assert_int_equal(buf_printf(out, "[%s]", line), 0);
				if (len > 3 && line[len - 1] == '}')
					want = 8;
			}
		}
		got = buf_strdup(out);
		assert_string_equal(got, "[A1 APPEND x {8}]ab\r\ncd\r\n[)][A2 NOOP]");
		free(got);
		linebuf_free(&lb);
	}
	buf_free(&out);
}

static void
test_discard(void **state)
{
	struct linebuf	*lb = linebuf_new(64);
	char		*line;
	size_t		 len;

	(void)state;
	/* STARTTLS followed by injected plaintext in the same packet */
	linebuf_feed(lb, "STARTTLS\r\nMAIL FROM:<evil>\r\n", 28);
	assert_int_equal(linebuf_next(lb, &line, &len), LINE_OK);
	assert_string_equal(line, "STARTTLS");
	linebuf_discard(lb);
	assert_int_equal(linebuf_pending(lb), 0);
	assert_int_equal(linebuf_next(lb, &line, &len), LINE_MORE);
	linebuf_feed(lb, "EHLO x\r\n", 8);
	assert_int_equal(linebuf_next(lb, &line, &len), LINE_OK);
	assert_string_equal(line, "EHLO x");
	/* discarding also ends the skipping of an over-long line */
	linebuf_free(&lb);
	lb = linebuf_new(4);
	linebuf_feed(lb, "abcd", 4);
	assert_int_equal(linebuf_next(lb, &line, &len), LINE_MORE);
	linebuf_discard(lb);
	linebuf_feed(lb, "a\r\n", 3);
	assert_int_equal(linebuf_next(lb, &line, &len), LINE_OK);
	linebuf_free(&lb);
}

/* One line at a time: nothing past the first LF is taken, a line without one is taken whole. */
static void
test_feed_line(void **state)
{
	struct linebuf	*lb = linebuf_new(64);
	char		*line;
	size_t		 len;

	(void)state;
	assert_int_equal(linebuf_feed_line(lb, "A\r\nB\r\n", 6), 3);
	assert_int_equal(linebuf_pending(lb), 3);
	assert_int_equal(linebuf_next(lb, &line, &len), LINE_OK);
	assert_string_equal(line, "A");
	assert_int_equal(linebuf_next(lb, &line, &len), LINE_MORE);
	assert_int_equal(linebuf_feed_line(lb, "par", 3), 3);
	assert_int_equal(linebuf_feed_line(lb, "t\nC\n", 4), 2);
	assert_int_equal(linebuf_next(lb, &line, &len), LINE_BARE_LF);
	assert_string_equal(line, "part");
	assert_int_equal(linebuf_feed_line(lb, "", 0), 0);
	linebuf_free(&lb);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pipelined_lines),
		cmocka_unit_test(test_exact_max_and_one_more),
		cmocka_unit_test(test_huge_line_then_normal),
		cmocka_unit_test(test_cr_without_lf),
		cmocka_unit_test(test_bare_lf),
		cmocka_unit_test(test_nul),
		cmocka_unit_test(test_feed_stops_when_full),
		cmocka_unit_test(test_take_across_feeds),
		cmocka_unit_test(test_line_take_line),
		cmocka_unit_test(test_discard),
		cmocka_unit_test(test_feed_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
