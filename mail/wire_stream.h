/*
 * A stored message (LF line ends) sent in its wire form (CRLF, dot-stuffed
 * for POP3, not for an IMAP literal) straight from its file into an output
 * buf, a large block at a time: POP3 RETR/TOP.
 * The block is read into a per-thread scratch and converted once into the
 * output (mail/crlf.c), so a stream holds no buffer of its own whatever the
 * message size, and the connection sends each block with one write.
 */
#ifndef MAIL_WIRE_STREAM_H
#define MAIL_WIRE_STREAM_H

#include "mail/crlf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;

#define WIRE_BLOCK	(64 * 1024)	/* stored bytes read per call at most */
#define WIRE_ADVISE	(4 * WIRE_BLOCK)	/* read ahead at open; the kernel's own after that */
#define WIRE_COLD	2	/* wire_stream_fill: the block is not in the page cache */

struct wire_stream {
	int			 fd;	/* -1: none */
	struct crlf_encoder	 crlf;
	uint64_t		 fsize;	/* the file's size as its name says (0: unknown) */
	uint64_t		 nread;	/* stored bytes read so far */
	bool			 advised;	/* wire_stream_advise() was called */
	bool			 cold;	/* its first block was not in the page cache */
	bool			 warming;	/* WIRE_COLD said: the next read may wait */
	bool			 no_nowait;	/* the file system refuses RWF_NOWAIT */
};

/*
 * Takes ownership of fd.  fsize: the file's size if its name tells
 * (Maildir S=), else 0; a read that stops short exactly there (not on a
 * 4 KB boundary) is taken as the end, which saves reading the end of file
 * (a system call per small message).  Only a hint: a file of another size is still sent whole, as
 * read.  Every block is read without waiting for the disk (RWF_NOWAIT):
 * one that is not in the page cache is the caller's to warm off its event
 * loop (WIRE_COLD).  A stream not advised whose first block was not cached
 * sets cold: the caller's cue to advise the files it opens next.
 */
void	 wire_stream_open(struct wire_stream *ws, int fd, uint64_t fsize, bool dot_stuff);
/*
 * Ask the kernel to read the file's first WIRE_ADVISE bytes ahead
 * (POSIX_FADV_WILLNEED; its sequential read-ahead follows): a stream
 * opened before its turn (pop3d's next messages) is read from the disk
 * while the current one is sent, and a window of large messages does not
 * flood the page cache.  A system call, wasted on a file in the cache.
 */
void	 wire_stream_advise(struct wire_stream *ws);
void	 wire_stream_close(struct wire_stream *ws);	/* closes fd; no-op when none */
/*
 * Back to the start of the file, as just opened, for a stream read ahead
 * that its command wants from the start after all (pop3d's TOP of a
 * message it staged for a RETR): 0, or -1 (errno set).
 */
int	 wire_stream_rewind(struct wire_stream *ws);

/*
 * How many of the len stored bytes at src to send: all but for a caller
 * that stops early (TOP), which sets *done_r once nothing after them is
 * wanted.
 */
typedef size_t	(*wire_take_fn)(void *arg, const char *src, size_t len, bool *done_r);

/*
 * Read up to max stored bytes (at most WIRE_BLOCK) and append their wire
 * form to out, which must have room for 2 * max + 2.  take may be NULL
 * (everything).  At the end (end of file, or take said done) a last line
 * without LF gets its CRLF.  Returns 1 at the end, 0 when more remains,
 * WIRE_COLD when the block is not in the page cache (nothing appended:
 * wire_stream_warm() it on a thread that may wait, then call again; this
 * call then reads it whatever it costs, so a page cache too small to keep
 * it still makes progress), -1 on a read error (errno set); *written_r:
 * the bytes appended.
 */
int	 wire_stream_fill(struct wire_stream *ws, struct buf *out, size_t max, wire_take_fn take,
	    void *arg, size_t *written_r);
/*
 * wire_stream_fill() of a whole block (no take) ahead of the command that
 * will send it, that does not wait for the disk where the file system
 * reads without waiting (RWF_NOWAIT; elsewhere it reads as the stream's
 * own fill would): a block not in the page cache appends nothing and
 * leaves the stream as it was, for its next fill to report.
 */
int	 wire_stream_prefill(struct wire_stream *ws, struct buf *out, size_t max,
	    size_t *written_r);
/*
 * On a thread that may wait for the disk: bring the stream's next bytes
 * (offset: its nread when it said WIRE_COLD) into the page cache, at least
 * their first page.  fd: the stream's file, a descriptor of its own (dup)
 * so that the stream may be closed meanwhile.
 */
void	 wire_stream_warm(int fd, uint64_t offset);

#endif
