/*
 * QUIT in the TRANSACTION state (RFC 1939 6): the UPDATE.  \Seen for the
 * messages retrieved, then the expunge of the deleted ones, then the
 * mailbox (and its POP3 lock) closed, all on a workq thread: the expunge
 * fsyncs, and the event loop serves every other session of the process.
 * The session pauses meanwhile and answers when the job is back; +OK
 * means the deletions are durable.
 */
#include "pop3d/pop3_private.h"

#include "lib/log.h"
#include "lib/xmalloc.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>

struct pop3_update_job {
	struct pop3_session	*s;		/* NULL once the session is gone */
	struct mailbox		*mb;		/* the session's, taken over */
	uint32_t		*seen, *gone;
	size_t			 nseen, ngone;
	char			*address;	/* for the log */
	char			 id[17];
	int			 result;
	enum store_error	 code;		/* if result == -1 */
	char			*error;
};

/* On a workq thread: touches only the job. */
static void
update_work(void *arg)
{
	struct pop3_update_job	*job = arg;
	const char		*error = NULL;

	if (job->nseen > 0 && mailbox_store_flags(job->mb, job->seen, job->nseen, FLAGS_ADD,
	    MSG_SEEN, NULL, &error) == -1)
		job->result = -1;
	if (job->result == 0 && job->ngone > 0 &&
	    mailbox_expunge(job->mb, job->gone, job->ngone, &error) == -1)
		job->result = -1;
	if (job->result == -1) {
		job->code = store_error_code();		/* this thread's */
		job->error = xstrdup(error != NULL ? error : "unknown error");
	}
	mailbox_close(&job->mb);
}

static void
update_done(void *arg)
{
	struct pop3_update_job	*job = arg;
	struct pop3_session	*s = job->s;

	if (job->result == 0)
		log_info("session=%s event=update status=ok user=%s expunged=%zu seen=%zu", job->id,
		    job->address, job->ngone, job->nseen);
	else
		log_warnx("session=%s event=update status=failed user=%s reason=\"%s\"", job->id,
		    job->address, job->error);
	if (s != NULL) {
		s->update_job = NULL;
		if (job->result == 0)
			pop3_reply(s, s->ndele > 0 ? "+OK Logging out, messages deleted." :
			    "+OK Logging out.");
		else	/* RFC 1939 6 and RFC 2449 8.1.2 */
			pop3_reply(s, "-ERR [%s] Some deleted messages not removed.",
			    pop3_store_resp_code(job->code));
		pop3_close(s);
		session_host_kick(s->host);
	}
	free(job->seen);
	free(job->gone);
	free(job->address);
	free(job->error);
	free(job);
}

void
pop3_update_start(struct pop3_session *s)
{
	struct pop3_update_job	*job = xcalloc(1, sizeof(*job));
	size_t			 i;

	job->s = s;
	job->seen = xreallocarray(NULL, s->nmsgs + 1, sizeof(*job->seen));
	job->gone = xreallocarray(NULL, s->nmsgs + 1, sizeof(*job->gone));
	for (i = 0; i < s->nmsgs; i++) {
		if (s->marks[i] & POP3_MSG_DELETED)
			job->gone[job->ngone++] = s->msgs[i].uid;
		else if (s->env->limits.mark_seen && (s->marks[i] & POP3_MSG_RETRIEVED) &&
		    !(s->msgs[i].flags & MSG_SEEN))
			job->seen[job->nseen++] = s->msgs[i].uid;
	}
	job->mb = s->mb;	/* and its snapshot, which msgs was */
	s->mb = NULL;
	s->msgs = NULL;
	s->nmsgs = 0;
	job->address = xstrdup(s->address);
	snprintf(job->id, sizeof(job->id), "%s", s->peer->id);
	s->update_job = job;	/* pop3_want() says PAUSE until update_done */
	session_host_submit(s->host, update_work, update_done, job);
}

void
pop3_update_orphan(struct pop3_session *s)
{
	if (s->update_job != NULL)
		s->update_job->s = NULL;
	s->update_job = NULL;
}
