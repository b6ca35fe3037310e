/*
 * MIME parser (RFC 5322, 2045-2047, 2231): from a message's bytes compute
 * the IMAP ENVELOPE, BODY and BODYSTRUCTURE strings exactly as Dovecot
 * prints them, and the part tree with offsets for BODY[1.2.MIME]-style
 * section fetches.  Bounded everywhere (nesting depth 100 and 10,000 parts
 * as in Dovecot, boundaries compared on 80 characters as in Dovecot, 10,000
 * header fields per part, 1,000 parameters per field); work and memory are
 * linear in the input.  Malformed input gives a sane structure, never an
 * error.  Tested against Dovecot 2.3.19 byte for byte (tests/mime/).
 */
#ifndef MAIL_MIME_H
#define MAIL_MIME_H

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
	size_t			 header_vsize;	/* header_size counting every LF as CRLF */
	size_t			 body_vsize;	/* body_size counting every LF as CRLF */
	unsigned		 flags;		/* MIME_PART_* */
	struct mime_part_info	*info;		/* parsed Content-* data (internal) */
};

#define MIME_PART_MULTIPART	0x01	/* children are the parts */
#define MIME_PART_RFC822	0x02	/* children[0] is the message */
#define MIME_PART_TEXT		0x04	/* text/ (counts lines) */

struct mime_message {
	struct mime_part	 root;
	struct mime_pool	*pool;		/* owns everything below (internal) */
	/* The values of FETCH ENVELOPE, BODY and BODYSTRUCTURE, parentheses
	 * included (they may contain IMAP literals); freed with the message. */
	char			*envelope;	/* "(\"date\" \"subject\" ((...)) ...)" */
	char			*body;		/* BODY (non-extensible) */
	char			*bodystructure;	/* BODYSTRUCTURE (with extension data) */
};

/* Parse data (LF or CRLF line ends; offsets are in the given bytes). Never fails. */
struct mime_message	*mime_parse(const char *data, size_t len);
void			 mime_message_free(struct mime_message **m);

/* Decode RFC 2047 encoded-words in a header value to UTF-8 (malloc'd), for SEARCH. */
char			*mime_decode_header(const char *value, size_t len);

/*
 * Every mailbox of every field called name ("From") in a message header
 * (reading stops at the first empty line; LF or CRLF; folded fields are
 * unfolded), read as for ENVELOPE, goes to fn as "local@domain".  A mailbox
 * that could not be read whole goes as far as it was read ("bob", "": never
 * a valid address; any byte but NUL may be in one: escape it before printing),
 * and a field with anything that is not an address, or
 * with more than 10,000 addresses, adds one call with NULL.  Group names give
 * no call.  Stops and returns -1 when fn does; else 0.
 */
typedef int	 mime_mailbox_fn(void *ctx, const char *address);
int			 mime_header_mailboxes(const char *header, size_t len, const char *name,
			    mime_mailbox_fn *fn, void *ctx);

/*
 * The part a section number such as "1.2" names, by RFC 3501 6.4.5 rules
 * (a leaf is its own part 1 and has no parts inside unless it is
 * message/rfc822; the numbers after a message/rfc822 part are those of
 * its message, as Dovecot reads them), or NULL if there is none.  "" is the root.
 * BODY[s.MIME] is the part's header, BODY[s] its body; for a part with
 * MIME_PART_RFC822, children[0] is the message it holds, whose header and
 * body are BODY[s.HEADER] and BODY[s.TEXT].  (Dovecot sends a header that
 * is only the blank line, of a part with an empty body, as "".)
 */
const struct mime_part	*mime_part_find(const struct mime_message *m,
			    const char *section);

#endif
