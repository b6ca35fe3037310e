/*
 * FETCH BODY[section]<partial>, BODY.PEEK[...], RFC822, RFC822.HEADER and
 * RFC822.TEXT (RFC 3501 6.4.5): the exact bytes of one item of one
 * message, streamed from its file.
 *
 * The store keeps messages with LF line ends (a CR before an LF is kept
 * as it is); IMAP counts and sends them with CRLF, so every size and
 * partial offset here is in CRLF ("wire") bytes, RFC822.SIZE's unit.  A
 * last line without LF is sent without one (the store's size does not
 * count one either).  A NUL is sent as 0x80, as Dovecot does: an IMAP
 * literal may not hold NUL.
 *
 * begin finds the stored byte range(s) the item is made of and the
 * literal's size n, reading no more of the file than it needs: nothing
 * for BODY[] and RFC822 (n is the store's size), the header alone for
 * HEADER, HEADER.FIELDS(.NOT) and TEXT of the message, a MIME parse of
 * the file (mapped, then unmapped) only for part numbers.  fill then
 * appends the item's bytes a block at a time, so neither a 30 MB BODY[]
 * nor a 30 MB HEADER.FIELDS is ever held in memory.  Sections follow
 * Dovecot (tests/e2e/dovecot_fetch_body.py compares): a part that does not
 * exist, and HEADER/TEXT of a part that is not message/rfc822, are an
 * empty literal; MIME of a message/rfc822 part is its MIME header.
 *
 * The caller owns the descriptor (several items of one message may share
 * it: reads are preads) and keeps att alive until the item is done (it
 * points into the parsed command, which stays while FETCH runs).
 */
#ifndef IMAPD_IMAP_FETCH_BODY_H
#define IMAPD_IMAP_FETCH_BODY_H

#include "mail/crlf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct buf;
struct imap_fetch_att;

/*
 * Where the last partial fetch of a section started: a client that reads
 * a large message in chunks (Thunderbird: <0.65536>, <65536.65536>, ...)
 * costs one chunk of counting per chunk instead of a scan from the start
 * of the section (Dovecot's partial cache).  One per session, zeroed at
 * first; the file's identity is part of the key.
 */
struct imap_body_resume {
	dev_t		 dev;
	ino_t		 ino;
	uint64_t	 start, end;	/* the section's stored range */
	uint64_t	 wire;		/* this many wire bytes of it ... */
	uint64_t	 pos;		/* ... are the stored bytes before pos */
	bool		 prev_cr;	/* the stored byte before pos is a CR */
};

/* One item being sent.  Fields are internal: use the functions. */
struct imap_fetch_body {
	const struct imap_fetch_att *att;
	int		 fd;
	uint64_t	 size;		/* n: the literal's size */
	uint64_t	 pos, end;	/* stored bytes still to read */
	uint64_t	 skip;		/* wire bytes still to drop (partial offset) */
	uint64_t	 left;		/* wire bytes still to send */
	struct crlf_encoder crlf;
	bool		 fields;	/* HEADER.FIELDS(.NOT): lines filtered */
	/* the field filter's state across blocks (imap_fetch_body.c) */
	bool		 line_start, keep, eoh;
	size_t		 namelen;
	char		 name[256];	/* a longer field name matches no field asked for */
};

/*
 * Prepare att (an IMAP_FETCH_BODY_SECTION or RFC822(.HEADER/.TEXT) item)
 * of the message in fd, whose CRLF size is size (msg_info.size).  resume
 * may be NULL.  Returns 0, or -1 with *error_r set (a read error: the
 * caller answers NO or, once the item's head is out, closes).
 */
int	 imap_fetch_body_begin(struct imap_fetch_body *fb, const struct imap_fetch_att *att, int fd,
	    uint64_t size, struct imap_body_resume *resume, const char **error_r);

/* The literal's size n. */
uint64_t imap_fetch_body_size(const struct imap_fetch_body *fb);

/*
 * Append the item's head, "BODY[1.2]<0> {n}\r\n" (the name as RFC 3501
 * 7.4.2 answers it: BODY.PEEK as BODY, the partial's origin only, field
 * names upper-cased) or "RFC822.HEADER {n}\r\n".  -1 if out has no room.
 */
int	 imap_fetch_body_head(const struct imap_fetch_body *fb, struct buf *out);

/* The least max a fill takes: a held field name (256) and its line's CRLF in one call. */
#define IMAP_FETCH_BODY_MIN_FILL	1024

/*
 * Append at most max (>= IMAP_FETCH_BODY_MIN_FILL) of the item's bytes to
 * out, which must have room for max; a block of at most 64 KB of the file
 * is read per call.  Returns 1 when the item is complete, 0 when more
 * remains, -1 on a read error or a file shorter than its size said
 * (errno set): the literal cannot be finished, close the connection.
 */
int	 imap_fetch_body_fill(struct imap_fetch_body *fb, struct buf *out, size_t max);

#endif
