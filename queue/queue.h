/*
 * The durable queue for mail that must be relayed: the writer (smtpd) and
 * a validating reader (the relay, tests).
 *
 * Layout under queue_dir:
 *   tmp/       files being written (commit_txn_add's scratch space)
 *   incoming/  durable but not yet published: the local part of the same
 *              message may still fail, and then this is removed again
 *   active/    published: the relay's input, one file per message
 *   state/     what became of each recipient of active/<id>: state/<id>
 *              (queue/queue_state.h); absent until the first attempt
 * A file in tmp/ or incoming/ was never acknowledged; queue_open() removes
 * those whose writer process is gone (the name ends in ".<pid>").
 *
 * A queue file is self-validating (Postfix record.c in spirit): records of
 * [type: 1 byte][length: 4 bytes big-endian][payload], first 'V' (format
 * version), then 'I' id, 'T' arrival, 'S' sender, optional 'E' ENVID and
 * 'N' RET, one 'R' per recipient ("address\0notify\0orcpt"), 'M' the
 * message (LF line ends, our Received: on top), and last 'X' (END) whose
 * payload is the decimal offset of the END record itself.  A torn or
 * truncated file fails queue_read(); it is never delivered.
 *
 * Errors: *error_r is a string literal or lib/error's per-thread text
 * (lifetime: lib/error.h).
 */
#ifndef QUEUE_QUEUE_H
#define QUEUE_QUEUE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include <time.h>

struct queue;
struct queue_entry;

struct queue_rcpt {
	const char	*address;
	unsigned	 notify;	/* RFC 3461 NOTIFY bits, mail/dsn.h (0: not given) */
	const char	*orcpt;		/* "rfc822;xtext" or NULL */
};

struct queue_message {
	const char		*id;		/* unique, [0-9a-f] */
	const char		*sender;	/* "" for the null sender */
	const char		*envid;		/* NULL if not given */
	int			 ret;		/* 0 default, 1 FULL, 2 HDRS */
	time_t			 arrival;
	const struct queue_rcpt	*rcpts;
	size_t			 nrcpts;
	const struct iovec	*data;		/* the message, in pieces */
	int			 ndata;
};

/* Open (creating the directories) and remove leftovers of dead writers. */
struct queue	*queue_open(const char *queue_dir, const char **error_r);
void		 queue_close(struct queue **q);

/*
 * Write m durably into incoming/ (not visible to the relay).  BLOCKING
 * (fsync): call it on a workq thread; touches only q's fds and *e_r.
 */
int		 queue_prepare(struct queue *q, const struct queue_message *m,
		    struct queue_entry **e_r, const char **error_r);
/* Move it into active/ and fsync both directories; frees *e. */
int		 queue_publish(struct queue_entry **e, const char **error_r);
/* Never publish: remove it from incoming/; frees *e.  NULL is fine. */
void		 queue_discard(struct queue_entry **e);

/*
 * The same file, written as the message arrives (smtpd streams DATA/BDAT):
 * begin creates it in tmp/ with every record but the message (m->data is
 * ignored), write appends message bytes (buffered, large writes), and
 * prepare fills in the 'M' length and the END record, then does exactly
 * what queue_prepare does (fsync, close, rename into incoming/).  Write
 * errors are remembered and reported by prepare.  free removes the file
 * from tmp/ unless prepare took it.  Only prepare blocks on fsync.
 */
struct queue_stream;
struct queue_stream *queue_stream_begin(struct queue *q, const struct queue_message *m,
		    const char **error_r);
int		 queue_stream_write(struct queue_stream *qs, const void *data, size_t len);
/* BLOCKING: call it on a workq thread.  Frees *qs whatever the outcome. */
int		 queue_stream_prepare(struct queue_stream **qs, struct queue_entry **e_r,
		    const char **error_r);
void		 queue_stream_free(struct queue_stream **qs);

/* Read and validate a queue file; strings and data owned by the result. */
struct queue_message *queue_read(const char *path, const char **error_r);
void		 queue_message_free(struct queue_message **m);

#endif
