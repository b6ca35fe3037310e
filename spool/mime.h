/*
 * MIME parser (RFC 5322, 2045-2047, 2231): from a message's bytes compute
 * the IMAP ENVELOPE, BODY and BODYSTRUCTURE strings exactly as Dovecot
 * prints them, and the part tree with offsets for BODY[1.2.MIME]-style
 * section fetches.  Bounded everywhere (depth, headers, line length,
 * boundary length); malformed input gives a sane structure, never an error.
 */
#ifndef SPOOL_MIME_H
#define SPOOL_MIME_H

#include <stddef.h>
#include <stdint.h>

struct mime_part {
	size_t			 header_offset;	/* byte offset of the part's header */
	size_t			 header_size;	/* including the blank line */
	size_t			 body_offset;
	size_t			 body_size;
	unsigned		 lines;		/* body lines */
	struct mime_part	*children;	/* multipart parts / message/rfc822 body */
	size_t			 nchildren;
	/* type/subtype etc. are internal: use the strings below */
};

struct mime_message {
	struct mime_part	 root;
	char			*envelope;	/* "(\"date\" \"subject\" ((...)) ...)" */
	char			*body;		/* BODY (non-extensible) */
	char			*bodystructure;	/* BODYSTRUCTURE (with extension data) */
};

/* Parse data (LF or CRLF line ends; offsets are in the given bytes). Never fails. */
struct mime_message	*mime_parse(const char *data, size_t len);
void			 mime_message_free(struct mime_message **m);

/* Decode RFC 2047 encoded-words in a header value to UTF-8 (malloc'd), for SEARCH. */
char			*mime_decode_header(const char *value, size_t len);

#endif
