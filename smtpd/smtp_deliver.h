/*
 * smtpd's env->writer: local recipients through one store delivery (one
 * write, hard links), remote ones into the queue; the session runs its
 * open and commit off the loop, so concurrent sessions' commits overlap.
 */
#ifndef SMTPD_SMTP_DELIVER_H
#define SMTPD_SMTP_DELIVER_H

struct queue;
struct smtp_writer;
struct store;

/* The writer's ctx (env->writer_ctx). */
struct smtp_deliverer {
	struct store	*store;
	struct queue	*queue;
};

extern const struct smtp_writer smtp_deliver_writer;

#endif
