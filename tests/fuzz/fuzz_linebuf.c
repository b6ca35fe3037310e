/*
 * lib/linebuf under random bytes in random read sizes.  Checks, after
 * every call: memory stays bounded by max, every byte handed out is the
 * input byte at the reader's position (fed - pending), every line-type
 * result ends at an LF, and in pure line mode the sequence of results
 * equals a whole-input reference model (so the split points never change
 * the answer).  Mixed mode interleaves linebuf_take() as IMAP does.
 *
 * Input: byte 0 picks max (1..256), byte 1 the mode, read and take sizes.
 */
#include "tests/fuzz/fuzzer.h"
#include "lib/linebuf.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(x)	do { if (!(x)) abort(); } while (0)

struct model {
	const uint8_t	*in;
	size_t		 size, max;
	size_t		 fed;		/* bytes linebuf_feed() took */
	size_t		 refpos;	/* reference model's position */
	bool		 mixed;
	unsigned	 rnd;
};

/* The next result of the reference model, from the whole input. */
static enum line_status
model_next(struct model *m, size_t *len_r)
{
	const uint8_t	*lf;
	size_t		 start = m->refpos, n;

	lf = memchr(m->in + start, '\n', m->size - start);
	CHECK(lf != NULL);	/* linebuf reported a line: one must exist */
	n = (size_t)(lf - (m->in + start));
	m->refpos = start + n + 1;
	*len_r = 0;
	if (n + 1 > m->max)
		return LINE_TOO_LONG;
	if (memchr(m->in + start, '\0', n) != NULL)
		return LINE_NUL;
	if (n > 0 && m->in[start + n - 1] == '\r') {
		*len_r = n - 1;
		return LINE_OK;
	}
	*len_r = n;
	return LINE_BARE_LF;
}

static void
check_line(struct model *m, size_t pos, enum line_status st, const char *line,
    size_t len, struct linebuf *lb)
{
	size_t	 after = m->fed - linebuf_pending(lb), rlen;

	CHECK(after >= 1 && m->in[after - 1] == '\n');
	if (st == LINE_OK || st == LINE_BARE_LF) {
		CHECK(line != NULL && line[len] == '\0');
		CHECK(memcmp(line, m->in + pos, len) == 0);
		CHECK(memchr(line, '\0', len) == NULL);
		CHECK(len + (st == LINE_OK ? 2 : 1) <= m->max);
		CHECK(after == pos + len + (st == LINE_OK ? 2 : 1));
	} else
		CHECK(line == NULL);
	if (!m->mixed) {
		CHECK(model_next(m, &rlen) == st);
		CHECK(rlen == len);
		CHECK(m->refpos == after);
	}
}

/* Hand out everything complete, until the reader needs more input. */
static void
drain(struct model *m, struct linebuf *lb)
{
	enum line_status	 st;
	const char		*data;
	char			*line;
	size_t			 pos, len, n;

	for (;;) {
		pos = m->fed - linebuf_pending(lb);
		m->rnd = m->rnd * 1103515245u + 12345u;
		if (m->mixed && (m->rnd >> 16) % 3 == 0) {
			n = linebuf_take(lb, (m->rnd >> 8) % 300, &data);
			CHECK(n == 0 || memcmp(data, m->in + pos, n) == 0);
			if (n == 0)
				return;
			continue;
		}
		st = linebuf_next(lb, &line, &len);
		CHECK(linebuf_pending(lb) <= m->max);
		if (st == LINE_MORE)
			return;
		check_line(m, pos, st, line, len, lb);
	}
}

FUZZ_BEGIN(data, size)
{
	struct linebuf	*lb;
	struct model	 m;
	size_t		 off, n;

	if (size < 2)
		return 0;
	memset(&m, 0, sizeof(m));
	m.max = (size_t)data[0] + 1;
	m.mixed = data[1] & 1;
	m.rnd = data[1];
	m.in = data + 2;
	m.size = size - 2;
	lb = linebuf_new(m.max);
	FUZZ_CHUNK(m.in, m.size, data[1] >> 1, chunk, chunk_len) {
		for (off = 0; off < chunk_len; off += n) {
			n = linebuf_feed(lb, chunk + off, chunk_len - off);
			m.fed += n;
			CHECK(linebuf_pending(lb) <= m.max);
			drain(&m, lb);
			/* After draining there is always room again. */
			CHECK(n > 0 || linebuf_pending(lb) < m.max);
		}
	}
	CHECK(m.fed == m.size);
	if (m.mixed)
		linebuf_discard(lb);
	CHECK(!m.mixed || linebuf_pending(lb) == 0);
	linebuf_free(&lb);
}
FUZZ_END
