/* Stored message -> wire form, a block at a time (see wire_stream.h). */
#include "mail/wire_stream.h"

#include "lib/buf.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

/* One block in flight per thread: filled and converted within one call. */
static _Thread_local char	wire_block[WIRE_BLOCK];

void
wire_stream_open(struct wire_stream *ws, int fd, uint64_t fsize, bool dot_stuff)
{
	ws->fd = fd;
	ws->fsize = fsize;
	ws->nread = 0;
	crlf_encoder_init(&ws->crlf, dot_stuff);
	/* Advice only: a file system without read-ahead still reads on demand. */
	(void)posix_fadvise(fd, 0, WIRE_ADVISE, POSIX_FADV_WILLNEED);
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
	ssize_t	 r;
	size_t	 n, o;
	bool	 done = false, end;
	char	*dst;

	*written_r = 0;
	if (max > sizeof(wire_block))
		max = sizeof(wire_block);
	do {
		r = read(ws->fd, wire_block, max);
	} while (r == -1 && errno == EINTR);
	if (r == -1)
		return -1;
	n = (size_t)r;
	ws->nread += n;
	/* Short of what was asked and at the named size: a file's end. */
	end = r == 0 || (ws->fsize != 0 && ws->nread == ws->fsize && n < max);
	if (take != NULL && n > 0)
		n = take(arg, wire_block, n, &done);
	dst = buf_reserve(out, 2 * n + 2);
	o = crlf_encode(&ws->crlf, wire_block, n, dst);
	if (end || done)
		o += crlf_encode_end(&ws->crlf, dst + o);
	buf_commit(out, o);
	*written_r = o;
	return end || done;
}
