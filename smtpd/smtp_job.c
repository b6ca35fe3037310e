/*
 * A message's blocking steps, off the event loop through the session's
 * host (session_host_submit): creating its files (an ext4 inode
 * allocation, which a slow or busy file system can stretch to seconds) and
 * making it durable at the end (writer->commit: fsyncs and renames).
 *
 * The local file is created at the first local RCPT (writer->prepare),
 * while the client's next command is on its way, so at DATA it usually
 * exists and the 354 needs no trip through the workq (a cross-thread
 * wake-up each way, tens of µs here, per message at one session).  The
 * session does not pause for it; DATA waits for it if it is still running
 * (s->open_waiting).  The queue file for remote recipients is still
 * created at DATA (writer->open as a job): its head lists every recipient.
 * The session says SESSION_PAUSE while s->open_waiting, s->opening or
 * s->inflight is set; the host holds what the client sends meanwhile and
 * feeds it after.
 *
 * While a job runs the message is the job's: the session no longer points
 * at it as s->msg, so nothing on the loop (a timeout's reset) frees it
 * under the job.  If the session is freed (the server stops), smtp_free
 * sets m->session to NULL and done frees the message.
 */
#include "smtpd/smtp_private.h"
#include "lib/log.h"
#include "lib/session.h"
#include "lib/xmalloc.h"

#include <stdio.h>
#include <stdlib.h>

struct smtp_job {
	struct smtp_msg		*m;
	const struct smtp_env	*env;	/* work must not touch the session */
	int			 result;
	char			 error[256];	/* a copy: the text crosses threads (lib/error.h) */
};

static struct smtp_job *
job_new(struct smtp_session *s, struct smtp_msg *m)
{
	struct smtp_job	*job = xcalloc(1, sizeof(*job));

	job->m = m;
	job->env = s->env;
	m->session = s;
	return job;
}

/* The prepare job's own data: the session may add recipients meanwhile. */
struct smtp_prep {
	const struct smtp_env	*env;
	struct smtp_session	*session;	/* NULL once its transaction is over */
	struct smtp_local_rcpt	 first;		/* copies of s->msg->local[0] */
	void			*prepared;
	char			 error[256];
};

static void
prepare_work(void *arg)
{
	struct smtp_prep	*p = arg;
	const char		*error = NULL;

	p->prepared = p->env->writer->prepare(p->env->writer_ctx, &p->first, &error);
	if (p->prepared == NULL)
		snprintf(p->error, sizeof(p->error), "%s", error != NULL ? error : "unknown error");
}

static void
prepare_done(void *arg)
{
	struct smtp_prep	*p = arg;
	struct smtp_session	*s = p->session;

	if (s == NULL) {
		if (p->prepared != NULL)
			p->env->writer->unprepare(p->prepared);	/* no file stays */
	} else {
		s->preparing = NULL;
		if (p->prepared != NULL) {
			s->msg->prepared = p->prepared;
			s->msg->writer = p->env->writer;
		} else
			log_warnx("session=%s event=prepare_failed queueid=%s reason=\"%s\"",
			    s->peer->id, s->msg->queueid, p->error);
		if (s->open_waiting) {
			s->open_waiting = false;
			smtp_msg_open(s);
			session_host_kick(s->host);
		}
	}
	free(p->first.address);
	free(p->first.maildir);
	free(p);
}

void
smtp_job_prepare(struct smtp_session *s)
{
	struct smtp_msg		*m = s->msg;
	struct smtp_prep	*p;

	if (m == NULL || m->nlocal == 0 || m->prepare_begun)
		return;
	m->prepare_begun = true;
	p = xcalloc(1, sizeof(*p));
	p->env = s->env;
	p->session = s;
	p->first.address = xstrdup(m->local[0].address);
	p->first.maildir = xstrdup(m->local[0].maildir);
	p->first.quota_bytes = m->local[0].quota_bytes;
	p->first.quota_messages = m->local[0].quota_messages;
	s->preparing = p;
	session_host_submit(s->host, prepare_work, prepare_done, p);
}

void
smtp_job_prepare_cancel(struct smtp_session *s)
{
	if (s->preparing != NULL)
		s->preparing->session = NULL;
	s->preparing = NULL;
	s->open_waiting = false;
}

static void
open_work(void *arg)
{
	struct smtp_job	*job = arg;
	const char	*error = NULL;

	job->result = job->env->writer->open(job->env->writer_ctx, job->m, &error);
	if (job->result == 0)
		job->m->writer = job->env->writer;
	else
		snprintf(job->error, sizeof(job->error), "%s",
		    error != NULL ? error : "unknown error");
}

static void
open_done(void *arg)
{
	struct smtp_job		*job = arg;
	struct smtp_msg		*m = job->m;
	struct smtp_session	*s = m->session;

	if (s == NULL)
		smtp_msg_free(&m);	/* the session is gone: no partial file stays */
	else {
		s->opening = NULL;
		m->session = NULL;
		smtp_data_opened(s, m, job->result == 0 ? NULL : job->error);
		session_host_kick(s->host);
	}
	free(job);
}

void
smtp_job_open(struct smtp_session *s, struct smtp_msg *m)
{
	const char	*error = NULL;

	if (m->prepared != NULL && m->nremote == 0) {
		/* Nothing left to create: the trace headers go to the page cache. */
		if (s->env->writer->open(s->env->writer_ctx, m, &error) == 0)
			m->writer = s->env->writer;
		else if (error == NULL)
			error = "unknown error";
		smtp_data_opened(s, m, error);
		return;
	}
	s->opening = m;
	session_host_submit(s->host, open_work, open_done, job_new(s, m));
}

static void
commit_work(void *arg)
{
	struct smtp_job	*job = arg;

	job->result = job->env->writer->commit(job->env->writer_ctx, job->m, job->error,
	    sizeof(job->error));
}

static void
commit_done(void *arg)
{
	struct smtp_job	*job = arg;

	smtp_session_delivered(job->m, job->result, job->result == 0 ? NULL : job->error);
	free(job);
}

void
smtp_job_commit(struct smtp_session *s, struct smtp_msg *m)
{
	s->inflight = m;
	session_host_submit(s->host, commit_work, commit_done, job_new(s, m));
}
