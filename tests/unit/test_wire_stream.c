/*
 * mail/wire_stream: a message file sent in blocks of every size from one
 * byte to more than the file gives the whole file's crlf_encode output
 * (the block edges are where the encoder's carried state matters); a
 * take that stops early ends the last line; a read error is reported; the
 * size a name gives ends a stream without reading the end of file; a
 * block not in the page cache is told before it is read (WIRE_COLD).
 */
#include "mail/wire_stream.h"

#include "lib/buf.h"

#include <sys/mman.h>

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

static int
file_of(const char *data, size_t len)
{
	char	 path[] = "/tmp/test_wire_stream.XXXXXX";
	int	 fd;

	fd = mkstemp(path);
	assert_true(fd != -1);
	unlink(path);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

/* Stream data in blocks of max into out; the number of fill calls. */
static size_t
send_all(const char *data, size_t len, size_t max, bool dots, wire_take_fn take, void *arg,
    struct buf *out)
{
	struct wire_stream	 ws;
	size_t			 calls = 0, n, total = 0;
	int			 r;

	wire_stream_open(&ws, file_of(data, len), 0, dots);
	do {
		r = wire_stream_fill(&ws, out, max, take, arg, &n);
		assert_true(r != -1);
		total += n;
		calls++;
	} while (r == 0);
	assert_int_equal(total, buf_len(out));
	wire_stream_close(&ws);
	assert_int_equal(ws.fd, -1);
	return calls;
}

static void
test_every_block_size(void **state)
{
	static const char	 in[] = ".a\r\n.\n\r.\rb\n\r\nline\n..x\r";
	struct crlf_encoder	 e;
	char			 want[2 * sizeof(in) + 2];
	size_t			 w, len = sizeof(in) - 1, max;
	struct buf		 out;

	(void)state;
	crlf_encoder_init(&e, true);
	w = crlf_encode(&e, in, len, want);
	w += crlf_encode_end(&e, want + w);
	for (max = 1; max <= len + 1; max++) {
		buf_init(&out, 4096);
		send_all(in, len, max, true, NULL, NULL, &out);
		assert_int_equal(buf_len(&out), w);
		assert_memory_equal(buf_head(&out), want, w);
		buf_release(&out);
	}
	/* Without dot-stuffing (an IMAP literal). */
	buf_init(&out, 4096);
	send_all(".x\n", 3, 64, false, NULL, NULL, &out);
	assert_int_equal(buf_len(&out), 4);
	assert_memory_equal(buf_head(&out), ".x\r\n", 4);
	buf_release(&out);
}

/*
 * A stream rewound after a first block of any size (the encoder left
 * mid-line, after a CR, at a dot) sends the whole message as a new one.
 */
static void
test_rewind(void **state)
{
	static const char	 in[] = ".a\r\n.\n\r.\rb\n\r\nline\n..x\r";
	struct crlf_encoder	 e;
	struct wire_stream	 ws;
	char			 want[2 * sizeof(in) + 2];
	size_t			 w, len = sizeof(in) - 1, max, n;
	struct buf		 out;

	(void)state;
	crlf_encoder_init(&e, true);
	w = crlf_encode(&e, in, len, want);
	w += crlf_encode_end(&e, want + w);
	for (max = 1; max <= len; max++) {
		buf_init(&out, 4096);
		wire_stream_open(&ws, file_of(in, len), len, true);
		assert_true(wire_stream_prefill(&ws, &out, max, &n) != -1);
		buf_reset(&out);
		assert_int_equal(wire_stream_rewind(&ws), 0);
		assert_int_equal(wire_stream_fill(&ws, &out, 64, NULL, NULL, &n), 1);
		assert_int_equal(buf_len(&out), w);
		assert_memory_equal(buf_head(&out), want, w);
		wire_stream_close(&ws);
		buf_release(&out);
	}
}

/* A large file goes out in WIRE_BLOCK blocks: few calls, whatever max asks. */
static void
test_large_blocks(void **state)
{
	size_t		 n = 5 * WIRE_BLOCK / 2, i, calls;
	char		*big = malloc(n);
	struct buf	 out;

	(void)state;
	for (i = 0; i < n; i++)
		big[i] = (i % 64) == 63 ? '\n' : 'a';
	buf_init(&out, 4 * n + 16);
	calls = send_all(big, n, 4 * n, true, NULL, NULL, &out);
	assert_int_equal(calls, 4);	/* 3 blocks, then end of file */
	assert_int_equal(buf_len(&out), n + n / 64);
	buf_release(&out);
	free(big);
}

/* Stops after the first line: the rest is never sent. */
static size_t
first_line(void *arg, const char *src, size_t len, bool *done_r)
{
	const char	*lf = memchr(src, '\n', len);

	(void)arg;
	if (lf == NULL)
		return len;
	*done_r = true;
	return (size_t)(lf - src) + 1;
}

static void
test_take_stops(void **state)
{
	struct buf	 out;
	size_t		 max;

	(void)state;
	for (max = 1; max <= 12; max++) {
		buf_init(&out, 4096);
		send_all("abc\ndef\n.g\n", 11, max, true, first_line, NULL, &out);
		assert_int_equal(buf_len(&out), 5);
		assert_memory_equal(buf_head(&out), "abc\r\n", 5);
		buf_release(&out);
	}
}

static void
test_read_error(void **state)
{
	struct wire_stream	 ws;
	struct buf		 out;
	size_t			 n;
	int			 fds[2];

	(void)state;
	assert_int_equal(pipe(fds), 0);
	close(fds[1]);
	buf_init(&out, 4096);
	/* A descriptor that is not open (reads fail with EBADF). */
	wire_stream_open(&ws, fds[0], 0, true);
	ws.fd = fds[0] + 1000;
	assert_int_equal(wire_stream_fill(&ws, &out, 64, NULL, NULL, &n), -1);
	assert_int_equal(n, 0);
	ws.fd = fds[0];
	wire_stream_close(&ws);
	buf_release(&out);
}

/*
 * The named size: a read short of the block that ends there is the end,
 * with no read of the end of file (a pipe kept open and non-blocking would
 * fail it with EAGAIN).  A block that ends there exactly is not short: the
 * stream reads on.  A name that is wrong changes nothing that is sent.
 */
static void
test_named_size(void **state)
{
	static const char	 in[] = "a\n.b\nlast";
	struct wire_stream	 ws;
	struct buf		 out, ref;
	size_t			 n, len = sizeof(in) - 1;
	uint64_t		 named[] = { 1, len - 1, len + 1, 1000 };
	int			 fds[2], r;
	unsigned		 i;

	(void)state;
	assert_int_equal(pipe2(fds, O_NONBLOCK), 0);
	assert_int_equal(write(fds[1], in, len), (ssize_t)len);
	buf_init(&out, 4096);
	wire_stream_open(&ws, fds[0], len, true);
	assert_int_equal(wire_stream_fill(&ws, &out, 64, NULL, NULL, &n), 1);
	assert_int_equal(n, 14);
	assert_memory_equal(buf_head(&out), "a\r\n..b\r\nlast\r\n", 14);
	wire_stream_close(&ws);
	buf_release(&out);

	assert_int_equal(pipe2(fds, O_NONBLOCK), 0);
	assert_int_equal(write(fds[1], in, len), (ssize_t)len);
	buf_init(&out, 4096);
	wire_stream_open(&ws, fds[0], len, true);
	assert_int_equal(wire_stream_fill(&ws, &out, len, NULL, NULL, &n), 0);
	close(fds[1]);
	assert_int_equal(wire_stream_fill(&ws, &out, len, NULL, NULL, &n), 1);
	assert_int_equal(buf_len(&out), 14);
	wire_stream_close(&ws);
	buf_release(&out);

	buf_init(&ref, 4096);
	send_all(in, len, 64, true, NULL, NULL, &ref);
	for (i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
		buf_init(&out, 4096);
		wire_stream_open(&ws, file_of(in, len), named[i], true);
		do
			r = wire_stream_fill(&ws, &out, 64, NULL, NULL, &n);
		while (r == 0);
		assert_int_equal(r, 1);
		assert_int_equal(buf_len(&out), buf_len(&ref));
		assert_memory_equal(buf_head(&out), buf_head(&ref), buf_len(&ref));
		wire_stream_close(&ws);
		buf_release(&out);
	}
	buf_release(&ref);
}

/* Is the file's first page in the page cache? */
static bool
page_cached(int fd)
{
	unsigned char	 vec = 0;
	void		*p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);

	assert_true(p != MAP_FAILED);
	assert_int_equal(mincore(p, 4096, &vec), 0);
	munmap(p, 4096);
	return vec & 1;
}

/*
 * Stream a file in 4 KB blocks, each block it says is not cached warmed
 * first (as pop3d's job does) or not; its cold flag, and in *colds_r how
 * many times a fill said WIRE_COLD.
 */
static bool
stream_cold(int fd, bool advise, bool warm, const char *want, size_t wantlen, unsigned *colds_r)
{
	struct wire_stream	 ws;
	struct buf		 out;
	size_t			 n;
	bool			 cold;
	int			 r;

	*colds_r = 0;
	buf_init(&out, 64 * 1024);
	wire_stream_open(&ws, fd, 0, false);
	if (advise)
		wire_stream_advise(&ws);
	for (;;) {
		r = wire_stream_fill(&ws, &out, 4096, NULL, NULL, &n);
		if (r != WIRE_COLD && r != 0)
			break;
		if (r == WIRE_COLD) {
			assert_int_equal(n, 0);
			(*colds_r)++;
			if (warm)
				wire_stream_warm(ws.fd, ws.nread);
		}
	}
	assert_int_equal(r, 1);
	assert_int_equal(buf_len(&out), wantlen);
	assert_memory_equal(buf_head(&out), want, wantlen);
	cold = ws.cold;
	wire_stream_close(&ws);
	buf_release(&out);
	return cold;
}

/* Drop fd's file from the page cache; false where the file is the cache (tmpfs). */
static bool
evict(int fd)
{
	assert_int_equal(fdatasync(fd), 0);
	assert_int_equal(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
	return !page_cached(fd);
}

/*
 * No block is read waiting for the disk unless the caller was told first:
 * a block not in the page cache is WIRE_COLD, and once warmed (or on the
 * next call anyway, so a cache too small to keep it still progresses) it
 * is sent.  A stream not advised also tells whether its first block had
 * to come from the disk (the cue to advise the next files); one advised
 * never counts as cold.  Either way the bytes sent are the file's.
 */
static void
test_cold_reads(void **state)
{
	char		*in = malloc(20000), *want = malloc(40000);
	size_t		 i, o = 0;
	unsigned	 colds;
	int		 fd;

	(void)state;
	for (i = 0; i < 20000; i++) {
		in[i] = i % 50 == 49 ? '\n' : 'a';
		if (in[i] == '\n')
			want[o++] = '\r';
		want[o++] = in[i];
	}
	assert_false(stream_cold(file_of(in, 20000), false, true, want, o, &colds));
	assert_int_equal(colds, 0);
	fd = file_of(in, 20000);
	if (!evict(fd)) {
		close(fd);
		free(in);
		free(want);
		skip();
	}
	assert_false(stream_cold(dup(fd), true, true, want, o, &colds));
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_true(evict(fd));
	wire_stream_warm(fd, 0);		/* what the job does: the page is cached after */
	assert_true(page_cached(fd));
	assert_true(evict(fd));
	assert_true(stream_cold(dup(fd), false, true, want, o, &colds));
	assert_true(colds >= 1);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_true(evict(fd));
	assert_true(stream_cold(fd, false, false, want, o, &colds));
	assert_true(colds >= 1);
	free(in);
	free(want);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_block_size),
		cmocka_unit_test(test_rewind),
		cmocka_unit_test(test_large_blocks),
		cmocka_unit_test(test_take_stops),
		cmocka_unit_test(test_read_error),
		cmocka_unit_test(test_named_size),
		cmocka_unit_test(test_cold_reads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
