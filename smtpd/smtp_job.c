/*
 * A message's blocking steps, off the event loop through the session's
 * host (session_host_submit): creating its files when DATA or the first
 * BDAT starts (writer->open: an ext4 inode allocation, which a slow or
 * busy file system can stretch to seconds) and making it durable at the
 * end (writer->commit: fsyncs and renames).  The session says
 * SESSION_PAUSE while s->opening or s->inflight is set; the host holds
 * what the client sends meanwhile and feeds it after.
 *
 * While a job runs the message is the job's: the session no longer points
 * at it as s->msg, so nothing on the loop (a timeout's reset) frees it
 * under the job.  If the session is freed (the server stops), smtp_free
 * sets m->session to NULL and done frees the message.
 */
#include "smtpd/smtp_private.h"
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
