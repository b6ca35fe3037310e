/*
 * The relay's side of an SMTP dialogue with a remote server, socket-free:
 * the connection code feeds it the server's lines and carries out what it
 * asks through ops (send bytes, start TLS, stream the message).
 *
 * Greeting, EHLO (HELO when EHLO is refused), STARTTLS as the policy says,
 * AUTH PLAIN or LOGIN when credentials are given (a smarthost: over TLS
 * only, unless the policy is none; a refused AUTH is a 4yz, as Postfix's
 * smtp_sasl_auth_soft_bounce: a wrong password is fixed, not bounced), then any
 * number of messages on the one connection: MAIL, RCPT..., DATA, sent as
 * one group when the server offers PIPELINING (RFC 2920), SIZE, BODY=
 * 8BITMIME, SMTPUTF8 and the DSN parameters when offered, and QUIT.
 *
 * Every recipient of a message is told exactly one outcome, as a reply:
 * the server's (RCPT's when it refused it, MAIL's when it refused the
 * message, the final one after the data otherwise), or one made here
 * (a message the server cannot take as it is, a connection lost): 2yz
 * delivered, 4yz try later, 5yz failed.
 */
#ifndef RELAYD_SMTP_CLIENT_H
#define RELAYD_SMTP_CLIENT_H

#include "relayd/smtp_reply.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct smtp_client;

enum smtp_tls_policy {
	SMTP_TLS_NONE,		/* never: plaintext even if offered */
	SMTP_TLS_MAY,		/* when offered; plaintext if not, or if it fails */
	SMTP_TLS_ENCRYPT,	/* required, the certificate not checked */
	SMTP_TLS_VERIFY,	/* required, the certificate checked by the caller */
};

struct smtp_client_config {
	const char		*helo_name;	/* our host name in EHLO/HELO */
	enum smtp_tls_policy	 tls;
	bool			 tls_active;	/* implicit TLS: already on */
	const char		*auth_user;	/* NULL: no AUTH */
	const char		*auth_password;
};

struct smtp_client_rcpt {
	const char	*address;
	unsigned	 notify;	/* mail/dsn.h DSN_NOTIFY_* (0: not given) */
	const char	*orcpt;		/* "rfc822;xtext" or NULL */
};

struct smtp_client_msg {
	const char			*sender;	/* "" for <> */
	const char			*envid;		/* xtext, NULL if not given */
	int				 ret;		/* enum dsn_ret */
	uint64_t			 size;		/* bytes as sent */
	bool				 eightbit;	/* a byte above 127 in it */
	bool				 utf8_addresses;	/* needs SMTPUTF8 */
	const struct smtp_client_rcpt	*rcpts;
	size_t				 nrcpts;
};

struct smtp_client_ops {
	/* Bytes to send to the server (whole command lines, CRLF included). */
	void	(*send)(void *ctx, const char *data, size_t len);
	/* Start the TLS handshake; then smtp_client_tls_started(). */
	void	(*start_tls)(void *ctx);
	/* Send the message, dot-stuffed, with the final ".": then smtp_client_body_sent(). */
	void	(*send_body)(void *ctx);
	/* Recipient i of the current message has its outcome. */
	void	(*rcpt_done)(void *ctx, size_t i, const struct smtp_reply *r);
	/* Idle and able to take a message: smtp_client_send() or smtp_client_quit(). */
	void	(*ready)(void *ctx);
	/*
	 * The dialogue is over: after QUIT (why NULL), or because of why (the
	 * server's reply, or one made here).  Close the connection; free later.
	 */
	void	(*closed)(void *ctx, const struct smtp_reply *why);
};

struct smtp_client *smtp_client_new(const struct smtp_client_config *cfg,
		    const struct smtp_client_ops *ops, void *ctx);
void		 smtp_client_free(struct smtp_client **c);

/* Feed one line from the server, CRLF stripped. */
void		 smtp_client_line(struct smtp_client *c, const char *line, size_t len);
void		 smtp_client_tls_started(struct smtp_client *c, bool ok);
void		 smtp_client_body_sent(struct smtp_client *c);
/*
 * Only when ready; msg must stay valid until its recipients are all told.
 * Returns false, with every recipient told why (too big for this server,
 * 8-bit or UTF-8 addresses to one that does not take them), when the
 * message cannot go to this server as it is: the client stays ready.
 */
bool		 smtp_client_send(struct smtp_client *c, const struct smtp_client_msg *msg);
void		 smtp_client_quit(struct smtp_client *c);
/*
 * The connection is gone or timed out (why: for logs and bounces): the
 * recipients not yet told get a 4yz, then closed() is called.
 */
void		 smtp_client_abort(struct smtp_client *c, const char *why);

/* How long to wait for the awaited reply (RFC 5321 4.5.3.2), in seconds. */
unsigned	 smtp_client_timeout(const struct smtp_client *c);

#endif
