/*
 * FETCH's BODY[section]<partial>, BODY.PEEK[...] and RFC822(.HEADER/.TEXT)
 * in the session, one message at a time (imap_session_fetch.c drives it).
 *
 * A job on the workq opens the message's file (mailbox_open_message),
 * sets \Seen when a non-PEEK item asks for it on a read-write mailbox
 * (RFC 3501 6.4.5: mailbox_store_flags, durable before the reply says so)
 * and begins each section (imap_fetch_body_begin: a header scan or a MIME
 * parse of the file, never on the loop).  Its done kicks the host; the
 * literals are then sent in fills of at most the output's room, each
 * fill one pread of the page cache, as POP3's RETR is, while the output
 * stays below its high-water mark: BODY[] of a 30 MB message is never
 * held in memory.
 *
 * Expunged meanwhile (the rule Dovecot follows for Maildir): a message
 * whose file could be opened is sent whole from the open descriptor,
 * even if another session expunges it while its literal is going out; one
 * already gone when the job looks is left out of the reply, and FETCH
 * ends in NO [EXPUNGEISSUED] (as the strings batch does).
 */
#include "imapd/imap_private.h"

#include "imapd/imap_fetch_body.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/xmalloc.h"
#include "store/store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct imap_body_job {
	struct imap_session	*s;		/* NULL once the session gave up the FETCH */
	struct mailbox		*mb;		/* lent; the job's to close once abandoned */
	bool			 owns_mb;
	struct imap_body_msg	*bm;		/* filled in by the job */
	const struct imap_fetch_att *const *atts;
	uint64_t		 size;		/* msg_info.size */
	bool			 set_seen;
	struct imap_body_resume	 resume;	/* the session's, copied in and back */
	int			 rc;
	char			*error;
};

void
imap_body_msg_free(struct imap_body_msg **bm)
{
	if (*bm == NULL)
		return;
	if ((*bm)->fd != -1)
		close((*bm)->fd);
	free((*bm)->fb);
	free(*bm);
	*bm = NULL;
}

/*
 * Was idx's \Seen set by this session since its view was taken?  The
 * view (the store's snapshot) shows it only once NOOP or SELECT takes the
 * next one; till then a second non-PEEK FETCH neither sets it again nor
 * says FLAGS, as Dovecot.  A new view (another snapshot, count or
 * HIGHESTMODSEQ) clears the marks.
 */
bool
imap_seen_marked(struct imap_session *s, size_t idx, bool mark)
{
	struct imap_seen_marks	*sm = &s->seen_marks;

	if (sm->view != s->msgs || sm->n != s->nmsgs || sm->modseq != s->highestmodseq) {
		free(sm->bits);
		sm->bits = xcalloc(s->nmsgs / 8 + 1, 1);
		sm->view = s->msgs;
		sm->n = s->nmsgs;
		sm->modseq = s->highestmodseq;
	}
	if (mark)
		sm->bits[idx / 8] |= (unsigned char)(1u << (idx % 8));
	return (sm->bits[idx / 8] >> (idx % 8)) & 1;
}

static void
body_work(void *arg)
{
	struct imap_body_job	*job = arg;
	struct imap_body_msg	*bm = job->bm;
	const char		*error;
	unsigned		 i;

	if (mailbox_open_message(job->mb, bm->uid, &bm->fd, &error) == -1) {
		bm->fd = -1;
		bm->gone = true;	/* expunged since the view: left out */
		return;
	}
	if (job->set_seen) {
		if (mailbox_store_flags(job->mb, &bm->uid, 1, FLAGS_ADD, MSG_SEEN, NULL,
		    &error) == -1)
			goto fail;
		bm->seen = true;
	}
	for (i = 0; i < bm->nfb; i++)
		if (imap_fetch_body_begin(&bm->fb[i], job->atts[i], bm->fd, job->size,
		    &job->resume, &error) == -1)
			goto fail;
	return;
fail:
	job->rc = -1;
	job->error = xstrdup(error);	/* this thread's text */
}

static void
body_done(void *arg)
{
	struct imap_body_job	*job = arg;
	struct imap_session	*s = job->s;

	if (s != NULL) {
		s->body_job = NULL;
		s->body_resume = job->resume;
		if (job->rc == -1) {
			log_warnx("session=%s event=fetch status=error uid=%u reason=\"%s\"",
			    s->peer->id, job->bm->uid, job->error);
			imap_body_msg_free(&job->bm);
			imap_fetch_failed(s);
		} else {
			if (job->bm->seen)
				imap_seen_marked(s, job->bm->idx, true);
			imap_fetch_opened(s, job->bm);
			job->bm = NULL;
		}
		session_host_kick(s->host);
	}
	imap_body_msg_free(&job->bm);
	if (job->owns_mb)
		mailbox_close(&job->mb);
	free(job->error);
	free(job);
}

void
imap_body_submit(struct imap_session *s, size_t idx, const struct imap_fetch_att *const *atts,
    unsigned natts, bool set_seen)
{
	struct imap_body_job	*job = xcalloc(1, sizeof(*job));
	struct imap_body_msg	*bm = xcalloc(1, sizeof(*bm));

	bm->idx = idx;
	bm->uid = s->msgs[idx].uid;
	bm->fd = -1;
	bm->nfb = natts;
	bm->fb = xreallocarray(NULL, natts, sizeof(*bm->fb));
	job->s = s;
	job->mb = s->mb;
	job->bm = bm;
	job->atts = atts;
	job->size = s->msgs[idx].size;
	job->set_seen = set_seen && !(s->msgs[idx].flags & MSG_SEEN) &&
	    !imap_seen_marked(s, idx, false);
	job->resume = s->body_resume;
	s->body_job = job;
	session_host_submit(s->host, body_work, body_done, job);
}

/*
 * The FETCH ends early (timeout, SELECT, the session freed): a job still
 * running closes the mailbox it was lent; the marks go with the view.
 */
void
imap_body_abort(struct imap_session *s)
{
	struct imap_body_job	*job = s->body_job;

	free(s->seen_marks.bits);
	memset(&s->seen_marks, 0, sizeof(s->seen_marks));
	if (job == NULL)
		return;
	job->s = NULL;
	job->owns_mb = true;
	s->body_job = NULL;
}

/*
 * Send section i of bm: its head, then fills while the output takes
 * them.  1 when it is all out, 0 when the output is full, -1 when the
 * file could not be read to the literal's end (close: the literal cannot
 * be finished).
 */
int
imap_body_send(struct imap_session *s, struct imap_body_msg *bm, unsigned i)
{
	struct imap_fetch_body	*fb = &bm->fb[i];
	size_t			 max;
	int			 r;

	if (!bm->in_literal) {
		if (imap_fetch_body_head(fb, s->out) == -1)
			return 0;
		bm->in_literal = true;
	}
	for (;;) {
		if (session_host_output_full(s->host))
			return 0;
		max = buf_room(s->out) > 64 ? buf_room(s->out) - 64 : 0;
		if (max > 256 * 1024)
			max = 256 * 1024;
		if (max < IMAP_FETCH_BODY_MIN_FILL)
			return 0;
		if ((r = imap_fetch_body_fill(fb, s->out, max)) == -1) {
			log_warn("session=%s event=fetch status=failed uid=%u", s->peer->id,
			    bm->uid);
			imap_close(s);
			return -1;
		}
		if (r == 1) {
			bm->in_literal = false;
			return 1;
		}
	}
}
