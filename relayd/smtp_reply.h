/*
 * A remote SMTP server's replies, read a line at a time (RFC 5321 4.2):
 * the code, the enhanced status code when the server gives one (RFC 3463,
 * RFC 2034), the text for logs and bounces, and, after EHLO, the
 * extensions offered.  A server is not trusted: a malformed line, a
 * continuation with another code or a reply of too many lines ends the
 * reply as SMTP_REPLY_BAD, and the text kept is bounded.
 */
#ifndef RELAYD_SMTP_REPLY_H
#define RELAYD_SMTP_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SMTP_REPLY_TEXT_MAX	1024	/* kept of a reply's text, lines joined */
#define SMTP_REPLY_LINES_MAX	100	/* lines in one reply */

enum smtp_reply_step {
	SMTP_REPLY_MORE,	/* a continuation line: feed the next one */
	SMTP_REPLY_DONE,	/* the last line: the reply is complete */
	SMTP_REPLY_BAD,		/* not SMTP: drop the connection */
};

enum {
	SMTP_AUTH_PLAIN	= 1 << 0,
	SMTP_AUTH_LOGIN	= 1 << 1,
};

/* What an EHLO reply offered (RFC 5321 4.1.1.1 and the extensions' RFCs). */
struct smtp_ext {
	bool		starttls;	/* RFC 3207 */
	bool		pipelining;	/* RFC 2920 */
	bool		eightbitmime;	/* RFC 6152 */
	bool		dsn;		/* RFC 3461 */
	bool		smtputf8;	/* RFC 6531 */
	bool		enhancedstatuscodes;	/* RFC 2034 */
	bool		size;		/* RFC 1870: SIZE offered */
	uint64_t	size_max;	/* its limit; 0: none given */
	unsigned	auth;		/* SMTP_AUTH_* offered */
};

struct smtp_reply {
	int		code;		/* 200..599 */
	char		status[16];	/* "5.1.1", or "" if none was given */
	char		text[SMTP_REPLY_TEXT_MAX];	/* lines joined by "; ", cut to fit */
	unsigned	lines;
	struct smtp_ext	ext;		/* filled for an EHLO reply (ehlo set) */
	bool		ehlo;		/* read the lines after the first as extensions */
};

/* Ready *r for the next reply; ehlo: this is EHLO's. */
void			 smtp_reply_begin(struct smtp_reply *r, bool ehlo);
/* One line, CRLF stripped (lib/linebuf gives it so). */
enum smtp_reply_step	 smtp_reply_line(struct smtp_reply *r, const char *line, size_t len);

/* A reply made here, for what no server said ("421 4.4.1 connect to ...: refused"). */
void			 smtp_reply_local(struct smtp_reply *r, int code, const char *status,
			    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* The reply's class: 2 (success), 3 (go on), 4 (try later), 5 (final). */
static inline int
smtp_reply_class(const struct smtp_reply *r)
{
	return r->code / 100;
}

#endif
