/*
 * Delivery status notification parameters (RFC 3461) as smtpd receives
 * them, the queue keeps them and the relay passes them on.
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

#endif
