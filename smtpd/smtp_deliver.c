/*
 * Hand an accepted message to the store and the queue, off the event loop.
 *
 * Order of the durable steps, so that a failure anywhere leaves nothing
 * acknowledged and nothing visible that the client will send again:
 *   1. queue file written and fsynced into incoming/ (not yet published)
 *   2. the local delivery committed into every recipient's new/
 *   3. the queue file renamed into active/, both directories fsynced
 * If 2 fails, 1 is removed; only a failure in 3 after 2 succeeded can leave
 * the local copies delivered with a 451 (the client retries: a duplicate
 * for local recipients, never a loss).
 *
 * Password checks (crypt(3), tens of ms each) run on the same workq, so a
 * burst of logins never stalls the other sessions on the loop.
 */
#include "smtpd/smtp_deliver.h"
#include "smtpd/smtp_session.h"
#include "lib/buf.h"
#include "lib/workq.h"
#include "lib/xmalloc.h"
#include "spool/queue.h"
#include "spool/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct deliver_job {
	struct smtp_deliverer	*dl;
	struct smtp_msg		*msg;
	struct store_delivery	*d;
	int			 result;
	char			 error[256];
};

static void
job_fail(struct deliver_job *job, const char *what, const char *error)
{
	job->result = -1;
	snprintf(job->error, sizeof(job->error), "%s: %s", what, error != NULL ? error : "failed");
}

/* On the loop thread: the local file is written (page cache), not yet synced. */
static int
deliver_begin_local(struct deliver_job *job)
{
	struct smtp_msg		*m = job->msg;
	struct store_rcpt	*rcpts;
	const char		*error = NULL;
	size_t			 i;

	rcpts = xcalloc(m->nlocal, sizeof(*rcpts));
	for (i = 0; i < m->nlocal; i++) {
		rcpts[i].maildir = m->local[i].maildir;
		rcpts[i].quota_bytes = m->local[i].quota_bytes;
		rcpts[i].quota_messages = m->local[i].quota_messages;
	}
	job->d = store_delivery_begin(job->dl->store, rcpts, m->nlocal, &error);
	free(rcpts);
	if (job->d == NULL) {
		job_fail(job, "store", error);
		return -1;
	}
	if (store_delivery_write(job->d, m->return_path, strlen(m->return_path)) == -1 ||
	    store_delivery_write(job->d, m->received, strlen(m->received)) == -1 ||
	    store_delivery_write(job->d, buf_head(&m->body), buf_len(&m->body)) == -1) {
		job_fail(job, "store", "write failed");
		return -1;
	}
	return 0;
}

static int
deliver_prepare_queue(struct deliver_job *job, struct queue_entry **e_r)
{
	struct smtp_msg		*m = job->msg;
	struct queue_message	 qm;
	struct queue_rcpt	*rcpts;
	struct iovec		 iov[2];
	const char		*error = NULL;
	size_t			 i;
	int			 rc;

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
	iov[0].iov_base = m->received;
	iov[0].iov_len = strlen(m->received);
	iov[1].iov_base = (void *)buf_head(&m->body);
	iov[1].iov_len = buf_len(&m->body);
	qm.data = iov;
	qm.ndata = 2;
	rc = queue_prepare(job->dl->queue, &qm, e_r, &error);
	free(rcpts);
	if (rc == -1)
		job_fail(job, "queue", error);
	return rc;
}

/* On a workq thread: every fsync of this message. */
static void
deliver_work(void *arg)
{
	struct deliver_job	*job = arg;
	struct queue_entry	*e = NULL;
	const char		*error = NULL;

	if (job->msg->nremote > 0 && deliver_prepare_queue(job, &e) == -1)
		return;
	if (job->d != NULL && store_delivery_commit(job->d, &error) == -1) {
		job_fail(job, "store", error);
		queue_discard(&e);
		return;
	}
	if (e != NULL && queue_publish(&e, &error) == -1)
		job_fail(job, "queue", error);
}

static void
deliver_done(void *arg)
{
	struct deliver_job	*job = arg;

	store_delivery_free(&job->d);
	smtp_session_delivered(job->msg, job->result, job->result == 0 ? NULL : job->error);
	free(job);
}

void
smtp_deliver(void *ctx, struct smtp_msg *m)
{
	struct deliver_job	*job = xcalloc(1, sizeof(*job));

	job->dl = ctx;
	job->msg = m;
	if (m->nlocal > 0 && deliver_begin_local(job) == -1) {
		deliver_done(job);
		return;
	}
	workq_submit(job->dl->wq, deliver_work, deliver_done, job);
}

static void
auth_work(void *arg)
{
	smtp_auth_verify(arg);
}

static void
auth_done(void *arg)
{
	smtp_session_auth_done(arg);
}

void
smtp_authenticate(void *ctx, struct smtp_auth_req *req)
{
	struct smtp_deliverer	*dl = ctx;

	workq_submit(dl->wq, auth_work, auth_done, req);
}
