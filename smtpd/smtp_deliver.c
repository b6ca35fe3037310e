/*
 * smtpd's writer (smtp_session.h): a message streamed into the store and
 * the queue while it arrives, then made durable.
 *
 * prepare (off the loop, as a session job at the first local RCPT): the
 * store's temp file in that recipient's tmp/.  open (at DATA): the other
 * local recipients added to it and, for remote recipients, the queue file
 * in the queue's tmp/ (off the loop).  write (loop thread): page cache
 * only.  commit (off
 * the loop), in an order such that a failure anywhere leaves nothing
 * acknowledged and nothing visible that the client will send again:
 *   1. queue file written and synced into incoming/ (not yet published)
 *   2. the local delivery committed into every recipient's new/
 *   3. the queue file renamed into active/, both directories fsynced
 * If 2 fails, 1 is removed; only a failure in 3 after 2 succeeded can leave
 * the local copies delivered with a 451 (the client retries: a duplicate
 * for local recipients, never a loss).  discard (a message abandoned or
 * refused before its commit) removes the partial files.
 */
#include "smtpd/smtp_deliver.h"
#include "smtpd/smtp_session.h"
#include "lib/xmalloc.h"
#include "queue/queue.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A message's files while it arrives: m->stream (smtp_writer). */
struct deliver_stream {
	struct store_delivery	*d;	/* local recipients: tmp/ of the first */
	struct queue_stream	*qs;	/* remote recipients: the queue's tmp/ */
};

static void
local_rcpts(const struct smtp_local_rcpt *local, size_t n, struct store_rcpt *rcpts)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		rcpts[i].maildir = local[i].maildir;
		rcpts[i].quota_bytes = local[i].quota_bytes;
		rcpts[i].quota_messages = local[i].quota_messages;
	}
}

/* Off the loop, at the first local RCPT: the temp file in its tmp/. */
static void *
stream_prepare(void *ctx, const struct smtp_local_rcpt *first, const char **error_r)
{
	struct smtp_deliverer	*dl = ctx;
	struct store_rcpt	 r;

	local_rcpts(first, 1, &r);
	return store_delivery_begin(dl->store, &r, 1, error_r);
}

/* On the loop thread, like stream_discard. */
static void
stream_unprepare(void *prepared)
{
	struct store_delivery	*d = prepared;

	store_delivery_free(&d);
}

/* The file prepared for local[0], or a new one for them all (off the loop). */
static int
stream_open_local(struct smtp_deliverer *dl, struct smtp_msg *m, struct deliver_stream *st,
    const char **error_r)
{
	struct store_rcpt	*rcpts;

	rcpts = xcalloc(m->nlocal, sizeof(*rcpts));
	local_rcpts(m->local, m->nlocal, rcpts);
	if ((st->d = m->prepared) != NULL) {
		m->prepared = NULL;
		store_delivery_add(st->d, rcpts + 1, m->nlocal - 1);
	} else
		st->d = store_delivery_begin(dl->store, rcpts, m->nlocal, error_r);
	free(rcpts);
	if (st->d == NULL)
		return -1;
	if (store_delivery_write(st->d, m->return_path, strlen(m->return_path)) == -1 ||
	    store_delivery_write(st->d, m->received, strlen(m->received)) == -1) {
		*error_r = "store: write failed";
		return -1;
	}
	return 0;
}

static int
stream_open_queue(struct smtp_deliverer *dl, struct smtp_msg *m, struct deliver_stream *st,
    const char **error_r)
{
	struct queue_message	 qm;
	struct queue_rcpt	*rcpts;
	size_t			 i;

	rcpts = xcalloc(m->nremote, sizeof(*rcpts));
	for (i = 0; i < m->nremote; i++) {
		rcpts[i].address = m->remote[i].address;
		rcpts[i].notify = m->remote[i].notify;
		rcpts[i].orcpt = m->remote[i].orcpt;
	}
	memset(&qm, 0, sizeof(qm));
	qm.id = m->queueid;
	qm.sender = m->sender;
	qm.envid = m->envid;
	qm.ret = (int)m->ret;
	qm.arrival = time(NULL);
	qm.rcpts = rcpts;
	qm.nrcpts = m->nremote;
	st->qs = queue_stream_begin(dl->queue, &qm, error_r);
	free(rcpts);
	if (st->qs == NULL)
		return -1;
	if (queue_stream_write(st->qs, m->received, strlen(m->received)) == -1) {
		*error_r = "queue: write failed";
		return -1;
	}
	return 0;
}

/*
 * When DATA/BDAT starts: creates the files not prepared (inode allocation,
 * off the loop); on the loop when there is none to create.
 */
static int
stream_open(void *ctx, struct smtp_msg *m, const char **error_r)
{
	struct smtp_deliverer	*dl = ctx;
	struct deliver_stream	*st = xcalloc(1, sizeof(*st));

	m->stream = st;
	if ((m->nlocal > 0 && stream_open_local(dl, m, st, error_r) == -1) ||
	    (m->nremote > 0 && stream_open_queue(dl, m, st, error_r) == -1)) {
		store_delivery_free(&st->d);
		queue_stream_free(&st->qs);
		free(st);
		m->stream = NULL;
		return -1;
	}
	return 0;
}

/* Errors are also kept by the store and the queue and reported at commit. */
static int
stream_write(struct smtp_msg *m, const void *data, size_t len)
{
	struct deliver_stream	*st = m->stream;
	int			 rc = 0;

	if (st->d != NULL && store_delivery_write(st->d, data, len) == -1)
		rc = -1;
	if (st->qs != NULL && queue_stream_write(st->qs, data, len) == -1)
		rc = -1;
	return rc;
}

static void
stream_free(struct deliver_stream **stp)
{
	struct deliver_stream	*st = *stp;

	if (st == NULL)
		return;
	store_delivery_free(&st->d);	/* removes the tmp/ file unless committed */
	queue_stream_free(&st->qs);	/* removes the tmp/ file unless prepared */
	free(st);
	*stp = NULL;
}

/*
 * On the loop thread: a message abandoned before its commit (see
 * docs/ARCHITECTURE.md, "Disk work on the event loop", for why it stays).
 */
static void
stream_discard(struct smtp_msg *m)
{
	struct deliver_stream	*st = m->stream;

	stream_free(&st);
	m->stream = NULL;
}

static int
commit_fail(char *error, size_t errsize, const char *what, const char *reason)
{
	snprintf(error, errsize, "%s: %s", what, reason != NULL ? reason : "failed");
	return SMTP_DELIVERY_TEMP;
}

/*
 * The one map from store failures to the answer after DATA.  Nothing else
 * gets a 5xx there: the data is accepted and a permanent store failure is
 * an operator's problem the client should not bounce for.
 */
static int
store_result(enum store_error code)
{
	switch (code) {
	case STORE_ERR_OVER_QUOTA:
		return SMTP_DELIVERY_FULL;
	default:
		return SMTP_DELIVERY_TEMP;
	}
}

/* Off the loop: every fsync of this message, in the documented order. */
static int
stream_commit_files(struct deliver_stream *st, char *error, size_t errsize)
{
	struct queue_entry	*e = NULL;
	const char		*err = NULL;
	int			 result;

	if (st->qs != NULL && queue_stream_prepare(&st->qs, &e, &err) == -1)
		return commit_fail(error, errsize, "queue", err);
	if (st->d != NULL && store_delivery_commit(st->d, &err) == -1) {
		result = store_result(store_error_code());
		commit_fail(error, errsize, "store", err);
		queue_discard(&e);
		return result;
	}
	if (e != NULL && queue_publish(&e, &err) == -1)
		return commit_fail(error, errsize, "queue", err);
	return SMTP_DELIVERED;
}

static int
stream_commit(void *ctx, struct smtp_msg *m, char *error, size_t errsize)
{
	struct deliver_stream	*st = m->stream;
	int			 result;

	/* The files are the commit's now: the session no longer writes or discards them. */
	m->stream = NULL;
	if (st == NULL)
		return commit_fail(error, errsize, "deliver", "message was never opened");
	result = stream_commit_files(st, error, errsize);
	stream_free(&st);	/* removes what was not committed */
	return result;
}

const struct smtp_writer smtp_deliver_writer = {
	.prepare	= stream_prepare,
	.unprepare	= stream_unprepare,
	.open		= stream_open,
	.write		= stream_write,
	.discard	= stream_discard,
	.commit		= stream_commit,
};
