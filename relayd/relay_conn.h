/*
 * One outbound SMTP connection for the relay: the route's hops are tried
 * in order (a refused or silent connection, a greeting, EHLO or TLS that
 * fails: the next one) until one is ready for mail; then relay/smtp_client
 * runs over lib/conn, and the owner hands it messages one after another
 * (connection reuse) until it quits.
 */
#ifndef RELAYD_RELAY_CONN_H
#define RELAYD_RELAY_CONN_H

#include "relayd/route.h"
#include "relayd/smtp_client.h"

#include <openssl/ssl.h>
#include <stddef.h>

struct ev_loop;
struct relay_conn;

struct relay_conn_config {
	struct smtp_client_config	 smtp;
	SSL_CTX				*tls_ctx;	/* for STARTTLS (or implicit TLS) */
	unsigned			 connect_timeout_ms;
	unsigned			 reply_timeout_max_ms;	/* caps RFC 5321's; 0: none */
};

struct relay_conn_ops {
	/* Ready for a message: relay_conn_send() or relay_conn_quit(). */
	void	(*ready)(void *arg);
	/* Recipient i of the message being sent has its outcome (relayd/smtp_client.h). */
	void	(*rcpt_done)(void *arg, size_t i, const struct smtp_reply *r);
	/*
	 * Over: after QUIT (why NULL), or why (the last hop's failure when
	 * none was usable, or what ended the dialogue).  Free it then or later.
	 */
	void	(*closed)(void *arg, const struct smtp_reply *why);
};

/* hops are copied; the first connection attempt starts at once. */
struct relay_conn *relay_conn_new(struct ev_loop *loop, const struct relay_conn_config *cfg,
		    const struct route_hop *hops, size_t nhops,
		    const struct relay_conn_ops *ops, void *arg);
/* Safe at any time, from the owner's callbacks too: nothing is called after. */
void		 relay_conn_free(struct relay_conn **rc);

/*
 * As smtp_client_send; body is the message with LF line ends (sent as
 * CRLF, dot-stuffed), valid with msg until every recipient is told.
 */
bool		 relay_conn_send(struct relay_conn *rc, const struct smtp_client_msg *msg,
		    const char *body, size_t len);
void		 relay_conn_quit(struct relay_conn *rc);
/* The hop in use ("mx.example.org"), for logs and Remote-MTA. */
const char	*relay_conn_host(const struct relay_conn *rc);

#endif
