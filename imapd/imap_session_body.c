/*
 * FETCH's BODY[section]<partial>, BODY.PEEK[...] and RFC822(.HEADER/.TEXT)
 * in the session (imap_session_fetch.c drives it), a few messages per job.
 *
 * One job on the workq opens the files of the next messages
 * (mailbox_open_message, each advised POSIX_FADV_WILLNEED so that a cold
 * cache reads them together), begins each section (imap_fetch_body_begin:
 * a header scan or a MIME parse of the file, never on the loop), then sets
 * \Seen on those a non-PEEK item asks it for on a read-write mailbox in
 * one store change (RFC 3501 6.4.5: mailbox_store_flags, one index
 * transaction and one fsync of cur/ for the batch, durable before the
 * reply says so).  Its done kicks the host; the messages then go out one
 * after the other, each literal in fills of at most the output's room,
 * each fill one pread of the page cache, as POP3's RETR is, while the
 * output stays below its high-water mark: BODY[] of a 30 MB message is
 * never held in memory, and the output is sent in large writes instead of
 * one per message.
 *
 * \Seen of a batch is set before its first message goes out, so a client
 * that disconnects mid-FETCH may leave up to a batch (imap_session_fetch.c
 * OPEN_MAX) marked \Seen that it did not receive whole.  Dovecot does the
 * same: it commits the \Seen of every message it began, also when the
 * client went away; a message the client was told is \Seen is always so.
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
#include "mail/wire_stream.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct imap_body_job {
	struct imap_session	*s;		/* NULL once the session gave up the FETCH */
	struct mailbox		*mb;		/* lent; the job's to close once abandoned */
	bool			 owns_mb;
	struct imap_body_msg	**bms;		/* the batch, in view order, filled in by the job */
	size_t			 n;
	uint64_t		*sizes;		/* msg_info.size of each */
	const struct imap_fetch_att *const *atts;
	struct imap_body_resume	 resume;	/* the session's, copied in and back */
	int			 rc;
	uint32_t		 error_uid;
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

/*
 * The marks into the view itself, a copy the session owns: a SEARCH
 * then sees the \Seen a FETCH told the client of, and the next sync has
 * nothing more to say of them.
 */
void
imap_seen_fold(struct imap_session *s)
{
	struct imap_seen_marks	*sm = &s->seen_marks;
	struct msg_info		*copy;
	size_t			 i;

	if (sm->bits == NULL || sm->view != s->msgs || sm->n != s->nmsgs ||
	    sm->modseq != s->highestmodseq)
		return;
	for (i = 0; i <= s->nmsgs / 8 && sm->bits[i] == 0; i++)
		;
	if (i > s->nmsgs / 8)
		return;
	copy = xreallocarray(NULL, s->nmsgs, sizeof(*copy));
	memcpy(copy, s->msgs, s->nmsgs * sizeof(*copy));
	for (i = 0; i < s->nmsgs; i++)
		if ((sm->bits[i / 8] >> (i % 8)) & 1)
			copy[i].flags |= MSG_SEEN;
	imap_view_set(s, copy, s->nmsgs, copy);
}

/*
 * Open the batch's files and advise them, so that their reads are in
 * flight together.  -1 on a failure other than a message expunged since
 * the view (out of descriptors: the FETCH says NO rather than leave it out).
 */
static int
body_open(struct imap_body_job *job, const char **error_r)
{
	struct imap_body_msg	*bm;
	size_t			 i;

	for (i = 0; i < job->n; i++) {
		bm = job->bms[i];
		if (mailbox_open_message(job->mb, bm->uid, &bm->fd, error_r) == -1) {
			bm->fd = -1;
			if (store_error_code() != STORE_ERR_EXPUNGED) {
				job->error_uid = bm->uid;
				return -1;
			}
			bm->gone = true;	/* left out */
			continue;
		}
		/* Advice only, as pop3d's read-ahead: the first blocks of each file. */
		(void)posix_fadvise(bm->fd, 0, WIRE_ADVISE, POSIX_FADV_WILLNEED);
	}
	return 0;
}

/* \Seen on every opened message of the batch that wants it: one store change. */
static int
body_set_seen(struct imap_body_job *job, const char **error_r)
{
	uint32_t	*uids = xreallocarray(NULL, job->n, sizeof(*uids));
	size_t		 i, n = 0;
	int		 rc = 0;

	for (i = 0; i < job->n; i++)
		if (job->bms[i]->want_seen && !job->bms[i]->gone)
			uids[n++] = job->bms[i]->uid;
	if (n > 0) {
		job->error_uid = uids[0];
		rc = mailbox_store_flags(job->mb, uids, n, FLAGS_ADD, MSG_SEEN, NULL, error_r);
	}
	for (i = 0; i < job->n && rc == 0; i++)
		job->bms[i]->seen = job->bms[i]->want_seen && !job->bms[i]->gone;
	free(uids);
	return rc;
}

/*
 * The batch on a workq thread: open every file, begin every section (a
 * failed read sets no \Seen), then set \Seen on those that want it.
 */
static void
body_work(void *arg)
{
	struct imap_body_job	*job = arg;
	struct imap_body_msg	*bm;
	const char		*error;
	size_t			 i;
	unsigned		 j;

	if (body_open(job, &error) == -1)
		goto fail;
	for (i = 0; i < job->n; i++) {
		bm = job->bms[i];
		for (j = 0; j < bm->nfb && !bm->gone; j++)
			if (imap_fetch_body_begin(&bm->fb[j], job->atts[j], bm->fd, job->sizes[i],
			    &job->resume, &error) == -1) {
				job->error_uid = bm->uid;
				goto fail;
			}
	}
	if (body_set_seen(job, &error) == -1)
		goto fail;
	return;
fail:
	job->rc = -1;
	job->error = xstrdup(error);	/* this thread's text */
}

static void
body_job_free(struct imap_body_job *job)
{
	size_t	 i;

	for (i = 0; i < job->n; i++)
		imap_body_msg_free(&job->bms[i]);
	free(job->bms);
	free(job->sizes);
	if (job->owns_mb)
		mailbox_close(&job->mb);
	free(job->error);
	free(job);
}

static void
body_done(void *arg)
{
	struct imap_body_job	*job = arg;
	struct imap_session	*s = job->s;
	size_t			 i;

	if (s != NULL) {
		s->body_job = NULL;
		s->body_resume = job->resume;
		if (job->rc == -1) {
			log_warnx("session=%s event=fetch status=error uid=%u reason=\"%s\"",
			    s->peer->id, job->error_uid, job->error);
			imap_fetch_failed(s);
		} else {
			for (i = 0; i < job->n; i++)
				if (job->bms[i]->seen)
					imap_seen_marked(s, job->bms[i]->idx, true);
			imap_fetch_opened(s, job->bms, job->n);
			job->bms = NULL;
			job->n = 0;
		}
		session_host_kick(s->host);
	}
	body_job_free(job);
}

void
imap_body_submit(struct imap_session *s, const size_t *idx, size_t n,
    const struct imap_fetch_att *const *atts, unsigned natts, bool set_seen)
{
	struct imap_body_job	*job = xcalloc(1, sizeof(*job));
	struct imap_body_msg	*bm;
	size_t			 i;

	job->s = s;
	job->mb = s->mb;
	job->atts = atts;
	job->n = n;
	job->bms = xreallocarray(NULL, n, sizeof(*job->bms));
	job->sizes = xreallocarray(NULL, n, sizeof(*job->sizes));
	for (i = 0; i < n; i++) {
		job->bms[i] = bm = xcalloc(1, sizeof(*bm));
		bm->idx = idx[i];
		bm->uid = s->msgs[idx[i]].uid;
		bm->fd = -1;
		bm->nfb = natts;
		bm->fb = xreallocarray(NULL, natts, sizeof(*bm->fb));
		bm->want_seen = set_seen && !(s->msgs[idx[i]].flags & MSG_SEEN) &&
		    !imap_seen_marked(s, idx[i], false);
		job->sizes[i] = s->msgs[idx[i]].size;
	}
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
