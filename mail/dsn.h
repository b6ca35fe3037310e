/*
 * Delivery status notifications: the parameters (RFC 3461) as smtpd
 * receives them, the queue keeps them and the relay passes them on, and
 * the reports (RFC 3464) sent back when mail fails or waits.
 */
#ifndef MAIL_DSN_H
#define MAIL_DSN_H

/* RFC 3461 NOTIFY bits; 0 = not given (default: FAILURE,DELAY). */
enum {
	DSN_NOTIFY_NEVER	= 1 << 0,
	DSN_NOTIFY_SUCCESS	= 1 << 1,
	DSN_NOTIFY_FAILURE	= 1 << 2,
	DSN_NOTIFY_DELAY	= 1 << 3,
};
enum dsn_ret { DSN_RET_DEFAULT, DSN_RET_FULL, DSN_RET_HDRS };

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct buf;

/*
 * RFC 3461 4: xtext = *( xchar / "+" 2HEXCHAR ), xchar = 33..126 but "+"
 * "=".  What it encodes must be printable US-ASCII (4.2, 4.4): "+0D+0A"
 * would end up as a line break in a DSN's Original-Envelope-ID.
 */
bool	 xtext_valid(const char *s);
/* Decoded into out (at most size - 1 bytes, NUL-terminated); -1 if not xtext. */
int	 xtext_decode(const char *s, char *out, size_t size);

/*
 * A delivery status notification (RFC 3464, in a multipart/report of RFC
 * 6522) to the envelope sender: failures (a bounce) or delays (a warning).
 */
enum dsn_action { DSN_ACTION_FAILED, DSN_ACTION_DELAYED };

struct dsn_rcpt {
	const char	*address;	/* the final recipient */
	const char	*orcpt;		/* ORCPT as given ("rfc822;xtext"), or NULL */
	const char	*status;	/* "5.1.1" */
	const char	*remote_mta;	/* the host that answered, NULL if none did */
	const char	*diagnostic;	/* its reply ("550 5.1.1 ..."), or our reason */
	time_t		 last_attempt;
};

struct dsn_report {
	enum dsn_action		 action;	/* of every recipient listed */
	const char		*id;		/* the queue id: Message-ID, boundary */
	const char		*reporting_mta;	/* our host name */
	const char		*from;		/* "MAILER-DAEMON@host" */
	const char		*to;		/* the envelope sender */
	const char		*envid;		/* ENVID as given (xtext), or NULL */
	time_t			 arrival;
	time_t			 now;
	time_t			 retry_until;	/* delays: when we give up */
	int			 ret;		/* enum dsn_ret */
	const struct dsn_rcpt	*rcpts;
	size_t			 nrcpts;
	const char		*message;	/* the original, LF line ends */
	size_t			 message_len;
	size_t			 return_max;	/* returned whole up to this size */
};

/* The report as a message with LF line ends, as the queue keeps messages. */
void	 dsn_report_write(const struct dsn_report *r, struct buf *out);

#endif
