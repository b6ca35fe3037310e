/*
 * The real env->deliver: local recipients through one store delivery
 * (one write, hard links), remote ones into the queue; the fsyncs run on
 * the daemon's workq so concurrent sessions' commits overlap.
 */
#ifndef SMTPD_SMTP_DELIVER_H
#define SMTPD_SMTP_DELIVER_H

struct queue;
struct smtp_msg;
struct smtp_writer;
struct store;
struct workq;

struct smtp_deliverer {
	struct store	*store;
	struct queue	*queue;
	struct workq	*wq;
};

struct smtp_auth_req;

/* The env->writer that goes with it: the message streamed into its files. */
extern const struct smtp_writer smtp_deliver_writer;
/* An smtp_deliver_fn; ctx is a struct smtp_deliverer. */
void	smtp_deliver(void *ctx, struct smtp_msg *msg);
/* An smtp_auth_fn: crypt(3) on the same workq, off the event loop. */
void	smtp_authenticate(void *ctx, struct smtp_auth_req *req);

#endif
