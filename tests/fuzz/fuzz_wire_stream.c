/*
 * mail/wire_stream on arbitrary bytes in arbitrary blocks: sent through a
 * file in reads of 1..64 bytes (sizes from the input), the output equals
 * crlf_encode of the whole input plus its end; cut after the n-th LF by a
 * take (n from the input), it equals the whole output's first n lines.
 */
#include "tests/fuzz/fuzzer.h"
#include "lib/buf.h"
#include "mail/wire_stream.h"

#include <sys/mman.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHECK(x)	do { if (!(x)) abort(); } while (0)

static size_t
upto_lines(void *arg, const char *src, size_t len, bool *done_r)
{
	size_t		*left = arg;
	const char	*lf;
	size_t		 i = 0;

	while (*left > 0 && (lf = memchr(src + i, '\n', len - i)) != NULL) {
		i = (size_t)(lf - src) + 1;
		if (--*left == 0) {
			*done_r = true;
			return i;
		}
	}
	return len;
}

/* The wire form of data, read in blocks of sizes drawn from seed, cut by take. */
static void
send_blocks(const uint8_t *data, size_t size, size_t seed, size_t lines, struct buf *out)
{
	struct wire_stream	 ws;
	size_t			 n, s = seed;
	int			 fd = memfd_create("fuzz_wire_stream", 0), r;

	CHECK(fd != -1 && write(fd, data, size) == (ssize_t)size && lseek(fd, 0, SEEK_SET) == 0);
	wire_stream_open(&ws, fd, 0, true);
	do {
		r = wire_stream_fill(&ws, out, fuzz_chunk_len_(&s, 64), lines > 0 ? upto_lines : NULL,
		    &lines, &n);
		CHECK(r != -1);
	} while (r == 0);
	wire_stream_close(&ws);
}

FUZZ_BEGIN(data, size)
{
	struct crlf_encoder	 e;
	struct buf		 out;
	char			*whole = malloc(2 * size + 2);
	size_t			 w, lines = size > 1 ? data[1] % 8 + 1 : 1, i, k;

	crlf_encoder_init(&e, true);
	w = crlf_encode(&e, (const char *)data, size, whole);
	w += crlf_encode_end(&e, whole + w);
	buf_init(&out, 4 * size + 256);
	send_blocks(data, size, size > 0 ? data[0] : 0, 0, &out);
	CHECK(buf_len(&out) == w && memcmp(buf_head(&out), whole, w) == 0);
	/* The first `lines` lines of the whole output: up to and including that CRLF. */
	for (i = 0, k = 0; i < w && k < lines; i++)
		k += whole[i] == '\n';
	buf_reset(&out);
	send_blocks(data, size, size > 0 ? data[0] : 0, lines, &out);
	CHECK(buf_len(&out) == i && memcmp(buf_head(&out), whole, i) == 0);
	buf_release(&out);
	free(whole);
}
FUZZ_END
