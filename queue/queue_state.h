/*
 * What became of each recipient of a queued message, kept durably beside
 * it: state/<id>, an append-only log of records (queue/queue_private.h)
 * replayed when the message is loaded.  A change is made in memory, then
 * queue_state_commit() appends its records and fdatasyncs once for all
 * of them, and only then may it be acted on (a bounce sent, the message
 * removed): a crash loses at most changes nobody acted on, and a torn last
 * record (a crash mid-append) is dropped on the next load.
 *
 *   'R'  "index status attempts last next" "\0" host "\0" why: a recipient's outcome
 *   'H'  "1" held / "0" released (mailctl queue hold/release)
 *   'F'  a flag: "warned" (delay DSN sent), "bounced" (failure DSN queued)
 */
#ifndef QUEUE_QUEUE_STATE_H
#define QUEUE_QUEUE_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct queue;
struct queue_state;

enum queue_rcpt_status {
	QUEUE_RCPT_PENDING,	/* never tried */
	QUEUE_RCPT_DEFERRED,	/* tried, to be tried again from next_attempt */
	QUEUE_RCPT_DELIVERED,
	QUEUE_RCPT_FAILED,	/* final: a bounce is owed */
};

struct queue_rcpt_state {
	enum queue_rcpt_status	 status;
	unsigned		 attempts;
	time_t			 last_attempt;	/* 0: never */
	time_t			 next_attempt;	/* deferred: not before */
	const char		*host;		/* the server that said why, or NULL */
	const char		*why;		/* the last reply or reason, or NULL */
};

enum queue_flag {
	QUEUE_FLAG_WARNED	= 1 << 0,	/* the delay warning was sent */
	QUEUE_FLAG_BOUNCED	= 1 << 1,	/* the failures' DSN was queued */
};

/*
 * The state of message id with nrcpts recipients (its queue file's R
 * records, in order).  BLOCKING (reads the log): on a workq thread.
 */
struct queue_state *queue_state_load(struct queue *q, const char *id, size_t nrcpts,
		    const char **error_r);
void		 queue_state_free(struct queue_state **st);

const struct queue_rcpt_state *queue_state_rcpt(const struct queue_state *st, size_t i);
bool		 queue_state_held(const struct queue_state *st);
unsigned	 queue_state_flags(const struct queue_state *st);
/* No recipient left to try: every one delivered or failed. */
bool		 queue_state_done(const struct queue_state *st);

/* In memory now, durable at the next commit.  An outcome counts an attempt. */
void		 queue_state_set(struct queue_state *st, size_t i,
		    enum queue_rcpt_status status, time_t now, time_t next,
		    const char *host, const char *why);
void		 queue_state_hold(struct queue_state *st, bool held);
/* A deferred recipient due at now (mailctl queue retry); memory only, not logged. */
void		 queue_state_retry_now(struct queue_state *st, size_t i, time_t now);
void		 queue_state_flag(struct queue_state *st, enum queue_flag flag);
/* Append what changed and fdatasync.  BLOCKING: on a workq thread. */
int		 queue_state_commit(struct queue_state *st, const char **error_r);

/*
 * Remove message id and its state (all recipients final, their DSN
 * queued, or mailctl queue delete).  BLOCKING: on a workq thread.
 */
int		 queue_remove(struct queue *q, const char *id, const char **error_r);

#endif
