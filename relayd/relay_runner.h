/*
 * The queue runner: every message in the queue's active/ is tried for
 * each of its recipients, grouped by destination domain, within the
 * global and per-destination connection limits, again after a back-off
 * (doubling from min_backoff to max_backoff, with jitter) while the
 * remote side says 4yz, until max_lifetime; a 5yz or an expired message
 * bounces to its sender (never to <>), a long delay warns once.  Each
 * outcome is durable in the queue's state log before it is acted on.
 */
#ifndef RELAYD_RELAY_RUNNER_H
#define RELAYD_RELAY_RUNNER_H

#include "relayd/smtp_client.h"

#include <openssl/ssl.h>
#include <stddef.h>
#include <stdint.h>

struct directory;
struct dns;
struct ev_loop;
struct store;
struct queue;
struct relay_runner;
struct smarthost;
struct tls_policy;
struct workq;

struct relay_runner_config {
	const char		*queue_dir;
	const char		*hostname;	/* EHLO, DSN Reporting-MTA */
	unsigned		 max_connections;
	unsigned		 max_per_destination;
	unsigned		 max_rcpts;	/* per transaction */
	uint64_t		 min_backoff_ms;
	uint64_t		 max_backoff_ms;
	uint64_t		 max_lifetime_ms;
	uint64_t		 delay_warning_ms;	/* 0: never warn */
	uint64_t		 scan_interval_ms;
	uint64_t		 connect_timeout_ms;
	uint64_t		 reply_timeout_ms;	/* caps RFC 5321's */
	uint64_t		 bounce_size_limit;
	uint16_t		 port;
	enum smtp_tls_policy	 tls;		/* for domains tls_policy does not name */
	const struct tls_policy	*tls_policy;	/* NULL: none */
	SSL_CTX			*tls_ctx;
	SSL_CTX			*tls_verify_ctx;	/* for SMTP_TLS_VERIFY */
	/* NULL: mail goes by MX; else all of it to the smarthost. */
	const struct smarthost	*smarthost;
	enum smtp_tls_policy	 smarthost_tls;
	const char		*auth_user;	/* NULL: no AUTH */
	const char		*auth_password;
	/* Our own domains' mail (bounces to local senders) goes into the store. */
	struct directory	*directory;	/* the current one: configure() on reload */
	struct store		*store;
	const char		*mail_root;
};

/* Starts with a scan of active/. */
struct relay_runner *relay_runner_new(struct ev_loop *loop, struct workq *wq,
		    struct queue *queue, struct dns *dns, const struct relay_runner_config *cfg);
/* New limits and timings (SIGHUP); queue_dir stays. */
void		 relay_runner_configure(struct relay_runner *r, const struct relay_runner_config *cfg);
/* Connections are dropped; what they were sending is tried again later. */
void		 relay_runner_free(struct relay_runner **r);

#endif
