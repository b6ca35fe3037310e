/* Stored message -> wire form, a block at a time (see wire_stream.h). */
#include "mail/wire_stream.h"

#include "lib/buf.h"
#include "lib/scratch.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

/* One block in flight per thread: filled and converted within one call. */
static struct scratch	wire_block = SCRATCH_INIT(WIRE_BLOCK);

void
wire_stream_open(struct wire_stream *ws, int fd, uint64_t fsize, bool dot_stuff)
{
	ws->fd = fd;
	ws->fsize = fsize;
	ws->nread = 0;
	ws->advised = false;
	ws->cold = false;
	crlf_encoder_init(&ws->crlf, dot_stuff);
}

void
wire_stream_advise(struct wire_stream *ws)
{
	/* Advice only: a file system without read-ahead still reads on demand. */
	(void)posix_fadvise(ws->fd, 0, WIRE_ADVISE, POSIX_FADV_WILLNEED);
	ws->advised = true;
}

/*
 * The first block of a stream not advised: from the page cache only, or
 * cold (EAGAIN; any other refusal, e.g. a file system without
 * RWF_NOWAIT, counts as cold too: advising is the safe side).
 */
static ssize_t
read_block(struct wire_stream *ws, char *block, size_t max)
{
	struct iovec	 iov = { block, max };
	ssize_t		 r;

	if (!ws->advised && !ws->cold && ws->nread == 0) {
		if ((r = preadv2(ws->fd, &iov, 1, -1, RWF_NOWAIT)) >= 0)
			return r;
		ws->cold = true;
	}
	do {
		r = read(ws->fd, block, max);
	} while (r == -1 && errno == EINTR);
	return r;
}

void
wire_stream_close(struct wire_stream *ws)
{
	if (ws->fd != -1)
		close(ws->fd);
	ws->fd = -1;
}

int
wire_stream_fill(struct wire_stream *ws, struct buf *out, size_t max, wire_take_fn take,
    void *arg, size_t *written_r)
{
	char	*block = scratch_get(&wire_block), *dst;
	ssize_t	 r;
	size_t	 n, o;
	bool	 done = false, end;

	*written_r = 0;
	if (max > WIRE_BLOCK)
		max = WIRE_BLOCK;
	if ((r = read_block(ws, block, max)) == -1)
		return -1;
	n = (size_t)r;
	ws->nread += n;
	/* Short of what was asked and at the named size: a file's end. */
	end = r == 0 || (ws->fsize != 0 && ws->nread == ws->fsize && n < max);
	if (take != NULL && n > 0)
		n = take(arg, block, n, &done);
	dst = buf_reserve(out, 2 * n + 2);
	o = crlf_encode(&ws->crlf, block, n, dst);
	if (end || done)
		o += crlf_encode_end(&ws->crlf, dst + o);
	buf_commit(out, o);
	*written_r = o;
	return end || done;
}
