/*
 * LF <-> CRLF and dot-stuffing as streams.  Messages are stored with LF
 * line ends and travel with CRLF: the encoder makes the wire form (POP3
 * RETR/TOP, IMAP FETCH, the relay's DATA), the decoder the stored form
 * (deliver's input; BDAT and APPEND carry the same).  Feed the input in
 * chunks of any size: what straddles a chunk edge (a CR whose LF comes
 * next, a '.' at the start of the next chunk's first line) is kept in the
 * struct, so every split gives the output of the whole.
 *
 * A bare CR (not before an LF) is the message's own byte and passes
 * through both ways unchanged; only an LF ends a line, so a '.' after a
 * bare CR is not at a line start and is not stuffed.
 */
#ifndef MAIL_CRLF_H
#define MAIL_CRLF_H

#include <stdbool.h>
#include <stddef.h>

struct crlf_encoder {
	bool	 dot_stuff;	/* double a '.' that starts a line */
	bool	 line_start;	/* the next byte starts a line */
	bool	 prev_cr;	/* the last byte was a CR */
};

void	 crlf_encoder_init(struct crlf_encoder *e, bool dot_stuff);

/*
 * Convert len bytes into dst, which has room for 2 * len: an LF becomes
 * CRLF (a CRLF already there stays one), a line-starting '.' is doubled
 * if dot_stuff.  Returns the bytes written.
 */
size_t	 crlf_encode(struct crlf_encoder *e, const char *src, size_t len, char *dst);
/*
 * Room enough for crlf_encode() of these len bytes, counted: the length
 * plus a CR (and a dot, if dot_stuff) per LF.  For text, a few percent
 * over len where 2 * len would double what a buffer grows to and touches.
 */
size_t	 crlf_encode_room(const struct crlf_encoder *e, const char *src, size_t len);

/*
 * At the end of the input, complete a last line that has no LF, so a
 * terminating "." can follow (room for 2).  Returns the bytes written.
 */
size_t	 crlf_encode_end(struct crlf_encoder *e, char *dst);

struct crlf_decoder {
	bool	 cr;		/* a CR held back: is the next byte its LF? */
};

void	 crlf_decoder_init(struct crlf_decoder *d);

/*
 * Convert len bytes into dst, which has room for len + 1 (a CR held back
 * from the previous chunk): CRLF becomes LF, nothing else changes.
 * Returns the bytes written.
 */
size_t	 crlf_decode(struct crlf_decoder *d, const char *src, size_t len, char *dst);

/* At the end of the input: a CR still held back was bare (room for 1). */
size_t	 crlf_decode_end(struct crlf_decoder *d, char *dst);

#endif
