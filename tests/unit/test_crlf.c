/*
 * mail/crlf: every input is fed whole, a byte at a time, and split at
 * every pair of positions (three chunks, empty ones included), and must
 * give the same output each time: the state carried over a chunk edge is
 * what these inputs are made to stress (a CR before an LF in the next
 * chunk, a line-starting '.', a CR at the very end).
 */
#include "mail/crlf.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

struct pair {
	const char	*in;
	const char	*out;
};

enum dir { ENCODE, ENCODE_NO_DOTS, DECODE };

/* Feed in as chunks [0, a) [a, b) [b, len) and end; out_r gets the result. */
static size_t
run(enum dir dir, const char *in, size_t a, size_t b, char *out)
{
	struct crlf_encoder	 e;
	struct crlf_decoder	 d;
	size_t			 edges[4] = { 0, a, b, strlen(in) }, o = 0, i;

	crlf_encoder_init(&e, dir == ENCODE);
	crlf_decoder_init(&d);
	for (i = 0; i < 3; i++) {
		if (dir == DECODE)
			o += crlf_decode(&d, in + edges[i], edges[i + 1] - edges[i], out + o);
		else
			o += crlf_encode(&e, in + edges[i], edges[i + 1] - edges[i], out + o);
	}
	o += dir == DECODE ? crlf_decode_end(&d, out + o) : crlf_encode_end(&e, out + o);
	return o;
}

static void
check(enum dir dir, const struct pair *p, size_t n)
{
	char	 out[256];
	size_t	 len, a, b, i, o, want;

	for (i = 0; i < n; i++) {
		len = strlen(p[i].in);
		want = strlen(p[i].out);
		/* Room stated by the header: 2 * len (+2 at the end), len + 1. */
		assert_true(want <= (dir == DECODE ? len + 1 : 2 * len + 2));
		for (a = 0; a <= len; a++) {
			for (b = a; b <= len; b++) {
				o = run(dir, p[i].in, a, b, out);
				if (o != want || memcmp(out, p[i].out, want) != 0)
					fail_msg("input %zu split at %zu,%zu: wrong output", i, a, b);
			}
		}
	}
}

static void
test_encode_split(void **state)
{
	static const struct pair p[] = {
		{ "", "" },
		{ ".\n", "..\r\n" },
		{ "a\n.b\n..\n.", "a\r\n..b\r\n...\r\n..\r\n" },
		{ "a\r\nb\n", "a\r\nb\r\n" },
		{ "a\rb\n", "a\rb\r\n" },
		{ "\r.\n", "\r.\r\n" },		/* a bare CR does not start a line */
		{ "x", "x\r\n" },
		{ "x\r", "x\r\n" },
		{ "\n\n", "\r\n\r\n" },
		{ "\r\r\n.", "\r\r\n..\r\n" },
		{ "Subject: a\n\n.\n..x\r\n", "Subject: a\r\n\r\n..\r\n...x\r\n" },
	};

	(void)state;
	check(ENCODE, p, sizeof(p) / sizeof(p[0]));
}

static void
test_encode_no_dots(void **state)
{
	static const struct pair p[] = {
		{ ".\n", ".\r\n" },
		{ "a\n.b\r\n.", "a\r\n.b\r\n.\r\n" },
	};

	(void)state;
	check(ENCODE_NO_DOTS, p, sizeof(p) / sizeof(p[0]));
}

static void
test_decode_split(void **state)
{
	static const struct pair p[] = {
		{ "", "" },
		{ "a\r\nb\r\n", "a\nb\n" },
		{ "a\rb", "a\rb" },
		{ "\r\r\n", "\r\n" },
		{ "a\r", "a\r" },
		{ "\r\n.\r\n", "\n.\n" },	/* no unstuffing: that is DATA's */
		{ "a\nb\n", "a\nb\n" },
		{ "\r\r\r", "\r\r\r" },
		{ "\r\n\r\n\r", "\n\n\r" },
	};

	(void)state;
	check(DECODE, p, sizeof(p) / sizeof(p[0]));
}

/* One byte a call, and a large input in odd chunks against the whole. */
static void
test_byte_at_a_time(void **state)
{
	static const char	 in[] = ".a\r\n.\n\r.\rb\n\r";
	struct crlf_encoder	 e;
	char			*big, *whole, *parts;
	size_t			 i, n, o = 0, w;

	(void)state;
	crlf_encoder_init(&e, true);
	whole = malloc(2 * sizeof(in) + 2);
	for (i = 0; i < sizeof(in) - 1; i++)
		o += crlf_encode(&e, in + i, 1, whole + o);
	o += crlf_encode_end(&e, whole + o);
	assert_int_equal(o, strlen("..a\r\n..\r\n\r.\rb\r\n\r\n"));
	assert_memory_equal(whole, "..a\r\n..\r\n\r.\rb\r\n\r\n", o);
	free(whole);

	n = 100000;
	big = malloc(n);
	for (i = 0; i < n; i++)
		big[i] = ".\r\nab"[(i * 7 + i / 13) % 5];
	whole = malloc(2 * n + 2);
	parts = malloc(2 * n + 2);
	crlf_encoder_init(&e, true);
	w = crlf_encode(&e, big, n, whole);
	w += crlf_encode_end(&e, whole + w);
	crlf_encoder_init(&e, true);
	for (i = 0, o = 0; i < n; i += 997)
		o += crlf_encode(&e, big + i, n - i < 997 ? n - i : 997, parts + o);
	o += crlf_encode_end(&e, parts + o);
	assert_int_equal(o, w);
	assert_memory_equal(parts, whole, w);
	free(big);
	free(whole);
	free(parts);
}

/* The definition, a byte at a time: what the block paths must give. */
static size_t
reference_encode(const char *in, size_t len, bool dots, char *out)
{
	size_t	 i, o = 0;
	bool	 bol = true;

	for (i = 0; i < len; i++) {
		if (bol && dots && in[i] == '.')
			out[o++] = '.';
		if (in[i] == '\n' && (i == 0 || in[i - 1] != '\r'))
			out[o++] = '\r';
		out[o++] = in[i];
		bol = in[i] == '\n';
	}
	if (len > 0 && in[len - 1] != '\n') {
		if (in[len - 1] != '\r')
			out[o++] = '\r';
		out[o++] = '\n';
	}
	return o;
}

/*
 * Longer inputs (16 to 75 bytes, lines of every length, CRs and dots
 * anywhere), split at every pair of positions, against the reference
 * rather than against the encoder itself; no chunk past its
 * crlf_encode_room().
 */
static void
test_encode_blocks(void **state)
{
	char		 in[80], want[2 * sizeof(in) + 2], out[2 * sizeof(in) + 2];
	struct crlf_encoder e;
	size_t		 len, a, b, w, o, k, t, n, room, edges[4];
	unsigned	 seed = 1;
	int		 dots;

	(void)state;
	for (t = 0; t < 300; t++) {
		len = 16 + t % 60;
		for (k = 0; k < len; k++) {
			seed = seed * 1103515245u + 12345u;
			in[k] = "aaaaaaab.\r\n\n.x"[(seed >> 16) % 15];
		}
		for (dots = 0; dots <= 1; dots++) {
			w = reference_encode(in, len, dots, want);
			for (a = 0; a <= len; a++) {
				for (b = a; b <= len; b += 3) {
					edges[0] = 0, edges[1] = a, edges[2] = b, edges[3] = len;
					crlf_encoder_init(&e, dots);
					for (k = 0, o = 0; k < 3; k++) {
						room = crlf_encode_room(&e, in + edges[k],
						    edges[k + 1] - edges[k]);
						n = crlf_encode(&e, in + edges[k], edges[k + 1] - edges[k],
						    out + o);
						if (n > room)
							fail_msg("input %zu split at %zu,%zu: past its room",
							    t, a, b);
						o += n;
					}
					o += crlf_encode_end(&e, out + o);
					if (o != w || memcmp(out, want, w) != 0)
						fail_msg("input %zu split at %zu,%zu: wrong output", t, a, b);
				}
			}
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_split),
		cmocka_unit_test(test_encode_no_dots),
		cmocka_unit_test(test_decode_split),
		cmocka_unit_test(test_byte_at_a_time),
		cmocka_unit_test(test_encode_blocks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
