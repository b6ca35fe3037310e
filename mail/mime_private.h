/*
 * Internals of the MIME parser shared by mail/mime*.c and mail/rfc2047.c.
 * Nothing outside those files includes this.
 *
 * The parser reproduces Dovecot's observable behaviour (its BODYSTRUCTURE
 * and ENVELOPE strings are what IMAP clients already cache), so the
 * tokenizer below follows the same lenient RFC 822 reading as Dovecot's
 * lib-mail: comments are skipped everywhere, quoted strings lose their
 * quotes and backslashes, and a broken construct ends the field quietly.
 */
#ifndef MAIL_MIME_PRIVATE_H
#define MAIL_MIME_PRIVATE_H

#include "mail/mime.h"

#include <stdbool.h>
#include <stddef.h>

#include "lib/buf.h"

/* Limits: each keeps one hostile message from costing more than its size. */
#define MIME_MAX_DEPTH		100	/* nested multipart / message parts (as Dovecot) */
#define MIME_MAX_PARTS		10000	/* parts per message (as Dovecot) */
#define MIME_MAX_BOUNDARY	80	/* longer boundaries are cut (as Dovecot) */
#define MIME_MAX_HEADERS	10000	/* header fields per part looked at */
#define MIME_MAX_ADDRESSES	10000	/* addresses per header field */
#define MIME_MAX_PARAMS		1000	/* parameters per Content-Type/Disposition */
#define MIME_MAX_LANGUAGES	100	/* Content-Language list entries */

/* One arena per parsed message: freed as a whole by mime_message_free(). */
struct mime_pool;
struct mime_pool	*mime_pool_new(void);
void			 mime_pool_free(struct mime_pool **pool);
void			*mime_pool_alloc(struct mime_pool *pool, size_t size);
char			*mime_pool_strndup(struct mime_pool *pool, const char *s,
			    size_t n);
char			*mime_pool_buf(struct mime_pool *pool, const struct buf *b);

struct mime_param {
	char	*name;
	char	*value;
};

struct mime_address {
	char			*name, *route, *mailbox, *domain;
	struct mime_address	*next;
};

struct mime_envelope {
	char			*date, *subject, *in_reply_to, *message_id;
	struct mime_address	*from, *sender, *reply_to, *to, *cc, *bcc;
	struct mime_address	*tail[6];	/* last of each list: appending */
};

struct mime_part_info {
	char			*type, *subtype;	/* NULL: no Content-Type */
	struct mime_param	*params;
	size_t			 nparams;
	char			*id, *description, *encoding, *md5, *location;
	char			*disposition;
	struct mime_param	*disp_params;
	size_t			 ndisp_params;
	char			**language;
	size_t			 nlanguage;
	struct mime_envelope	*envelope;	/* the part is a message's top */
};

/* RFC 822 tokenizer over one unfolded header value. */
struct rfc822_parser {
	const unsigned char	*data, *end;
	struct buf		*last_comment;	/* NULL: comments not kept */
};

void	 rfc822_parser_init(struct rfc822_parser *p, const char *data,
	    size_t len, struct buf *last_comment);
/* Each returns -1 on a syntax error, 0 at the end of input, 1 otherwise. */
int	 rfc822_skip_lwsp(struct rfc822_parser *p);
int	 rfc822_parse_atom(struct rfc822_parser *p, struct buf *out);
int	 rfc822_parse_dot_atom(struct rfc822_parser *p, struct buf *out);
int	 rfc822_parse_mime_token(struct rfc822_parser *p, struct buf *out);
int	 rfc822_parse_quoted_string(struct rfc822_parser *p, struct buf *out);
int	 rfc822_parse_phrase(struct rfc822_parser *p, struct buf *out);
int	 rfc822_parse_domain(struct rfc822_parser *p, struct buf *out);
int	 rfc822_parse_content_type(struct rfc822_parser *p, struct buf *out);
/* RFC 2231 aware parameter list: names and values in the pool. */
size_t	 rfc822_parse_params(struct rfc822_parser *p, struct mime_pool *pool,
	    struct mime_param **params_r);
bool	 rfc822_is_atext(unsigned char c);

/* A scratch string for parsers: bounded by the header it comes from. */
void	 mime_buf_init(struct buf *b, size_t input_len);

/* Header fields of one part: struct mime_header_field (mime.h). */
/*
 * The value as a NUL-terminated pool string, still folded (the tokenizer
 * reads CR and LF as white space; output drops them).  NUL becomes U+FFFD.
 */
char	*mime_header_value(struct mime_pool *pool,
	    const struct mime_header_field *f);
bool	 mime_header_is(const struct mime_header_field *f, const char *name);
/* Content-* fields into info (the first of each kind wins). */
void	 mime_header_content(struct mime_pool *pool, struct mime_part_info *info,
	    const struct mime_header_field *f);
/* Content-Type's type/subtype and boundary, for the structure parser. */
void	 mime_header_content_type(const struct mime_header_field *f,
	    struct mime_pool *pool, char **type_r, char **boundary_r);

/* ENVELOPE */
void	 mime_envelope_field(struct mime_pool *pool, struct mime_envelope *env,
	    const struct mime_header_field *f);
struct mime_address *mime_address_parse(struct mime_pool *pool,
	    const char *value, size_t len);
int	 mime_envelope_write(struct buf *out, const struct mime_envelope *env);

/* IMAP string output, byte for byte as Dovecot writes them. */
int	 imap_append_string(struct buf *out, const char *s);
int	 imap_append_nstring_nolf(struct buf *out, const char *s);
int	 imap_append_string_for_humans(struct buf *out, const char *s);

/* BODY / BODYSTRUCTURE of a part, and of a whole message (root) */
int	 mime_bodystructure_write(struct buf *out, const struct mime_part *part,
	    bool extended);
int	 mime_bodystructure_write_message(struct buf *out,
	    const struct mime_part *root, bool extended);

#endif
