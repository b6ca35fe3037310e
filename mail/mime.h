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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct buf;

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

/* ---- For SEARCH and SORT: header fields, dates, decoded text ---- */

struct mime_header_field {
	const char	*name;
	size_t		 name_len;
	const char	*value;		/* raw, still folded, without the line's end */
	size_t		 value_len;
};

/* Length of the header at data: through the blank line ending it, or len. */
size_t			 mime_header_len(const char *data, size_t len);
/*
 * The next field of header[0..len) from *pos (0 to start), continuation
 * lines included; a line without a colon is skipped.  false at the end.
 */
bool			 mime_header_next(const char *header, size_t len, size_t *pos,
			    struct mime_header_field *f);

/*
 * An RFC 5322 date-time ("Mon, 2 Jan 2006 15:04:05 -0700", leniently:
 * no weekday, no seconds, 2-digit years, obsolete zone names) as UTC in
 * *t_r, and the zone's offset east of UTC in minutes in *zone_r.  -1 if
 * it is not one.
 */
int			 mime_date_parse(const char *s, size_t len, time_t *t_r, int *zone_r);

/*
 * Bytes in charset converted to UTF-8, appended to out.  us-ascii and
 * utf-8 are copied as they are.  Strict: -1 (out unchanged) on an unknown
 * charset or an invalid byte; lenient: an invalid byte becomes U+FFFD and
 * an unknown charset is copied as it is.  -1 also when out's max is hit.
 */
int			 mime_charset_to_utf8(const char *charset, const char *in, size_t len,
			    bool lenient, struct buf *out);

/* Quoted-printable (RFC 2045 6.7) decoded leniently: a bad "=" stays as it is. */
int			 mime_qp_decode(const char *s, size_t len, struct buf *out);

/*
 * The body of a leaf part of the message whose bytes are data, decoded
 * (base64, quoted-printable) and converted from its charset to UTF-8,
 * appended to out.  -1 if out's max is hit (what fitted stays).
 */
int			 mime_part_text(const struct mime_part *part, const char *data,
			    struct buf *out);

#endif
