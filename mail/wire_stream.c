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
	ws->warming = false;
	ws->no_nowait = false;
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
 * The next block (at the file position, which is nread) from the page
 * cache only (RWF_NOWAIT): -2 if it is not there.  The caller warms it
 * off its loop and calls again; a block still missing then is read
 * waiting, as is every block on a file system that refuses RWF_NOWAIT.
 * The first block of a stream not advised that is not cached sets cold.
 */
static ssize_t
read_block(struct wire_stream *ws, char *block, size_t max)
{
	struct iovec	 iov = { block, max };
	ssize_t		 r;

	if (!ws->no_nowait) {
		if ((r = preadv2(ws->fd, &iov, 1, -1, RWF_NOWAIT)) >= 0) {
			ws->warming = false;
			return r;
		}
		if (errno == EAGAIN && !ws->warming) {
			if (!ws->advised && ws->nread == 0)
				ws->cold = true;
			ws->warming = true;
			return -2;
		}
		if (errno != EAGAIN) {
			ws->no_nowait = true;
			if (!ws->advised && ws->nread == 0)
				ws->cold = true;	/* unknown: advising is the safe side */
		}
	}
	ws->warming = false;
	do {
		r = read(ws->fd, block, max);
	} while (r == -1 && errno == EINTR);
	return r;
}

/*
 * One page, waited for: the kernel's read-ahead brings the pages after it
 * meanwhile, and a read without waiting takes what is there (a short
 * block, the rest at the next fill).  No block of the thread's own: the
 * workq threads that run this would each keep 64 KB for good.
 */
void
wire_stream_warm(int fd, uint64_t offset)
{
	char	 page[4096];

	/* Only to have it cached: an error shows again at the stream's own read. */
	(void)pread(fd, page, sizeof(page), (off_t)offset);
}

void
wire_stream_close(struct wire_stream *ws)
{
	if (ws->fd != -1)
		close(ws->fd);
	ws->fd = -1;
}

int
wire_stream_rewind(struct wire_stream *ws)
{
	if (lseek(ws->fd, 0, SEEK_SET) == -1)
		return -1;
	ws->nread = 0;
	ws->warming = false;
	crlf_encoder_init(&ws->crlf, ws->crlf.dot_stuff);
	return 0;
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
	if ((r = read_block(ws, block, max)) == -2)
		return WIRE_COLD;
	if (r == -1)
		return -1;
	n = (size_t)r;
	ws->nread += n;
	/*
	 * Short of what was asked and at the named size: a file's end.  Not
	 * on a page boundary, where a read that did not wait may have stopped
	 * at pages not yet cached (and a wrong S= would cut the message).
	 */
	end = r == 0 || (ws->fsize != 0 && ws->nread == ws->fsize && n < max &&
	    ws->nread % 4096 != 0);
	if (take != NULL && n > 0)
		n = take(arg, block, n, &done);
	dst = buf_reserve(out, crlf_encode_room(&ws->crlf, block, n) + 2);
	o = crlf_encode(&ws->crlf, block, n, dst);
	if (end || done)
		o += crlf_encode_end(&ws->crlf, dst + o);
	buf_commit(out, o);
	*written_r = o;
	return end || done;
}

int
wire_stream_prefill(struct wire_stream *ws, struct buf *out, size_t max, size_t *written_r)
{
	int	 r;

	if ((r = wire_stream_fill(ws, out, max, NULL, NULL, written_r)) == WIRE_COLD)
		ws->warming = false;	/* not warmed yet: its fill must not wait either */
	return r;
}
