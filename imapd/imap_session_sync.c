/*
 * NOOP and CHECK in the selected state (RFC 3501 6.1.2, 6.4.1, 7.4.1):
 * pick up what other sessions and deliveries changed and tell the client,
 * moving the view from what it was told to the mailbox as it is now:
 * EXPUNGE for each message gone (numbered as the client counts after the
 * ones before), FETCH FLAGS for each flag change, then EXISTS and RECENT
 * for the new ones.  The sync runs on the workq; when the folder's
 * HIGHESTMODSEQ has not moved nothing more is read.  When it moved, the
 * store's change feed (mailbox_changes_since) says which UIDs were added,
 * changed and expunged, and only those records are read into the
 * snapshot (mailbox_messages_patch), so a NOOP after one flag change by
 * another session reads no snapshot of the whole folder.  A feed that does not
 * reach back to the view (an index rebuilt) or that changed more than a
 * share of the view takes the snapshot instead.  IDLE
 * (imap_session_idle.c) runs the same sync, with no tagged reply.
 */
#include "imapd/imap_private.h"

#include "lib/log.h"
#include "lib/xmalloc.h"
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

/* More changes than 1/FEED_SHARE of the view: one snapshot read costs less than the lookups. */
#define FEED_SHARE	4

struct imap_sync_job {
	struct imap_session	*s;		/* NULL once the session is gone */
	struct mailbox		*mb;		/* the session's, lent (or left to the job) */
	uint64_t		 modseq;	/* the view's HIGHESTMODSEQ */
	const struct msg_info	*view;		/* the session's, lent */
	struct msg_info		*view_copy;	/* owned once orphaned: view, if the session's copy */
	struct msg_info		*old;		/* view, copied on the workq once it will change */
	size_t			 nold;
	char			*ok;		/* the tagged OK's text; NULL: for IDLE, none */
	bool			 keywords;	/* the folder has some: read the changed ones' */
	/* The outcome. */
	int			 rc;		/* -1: the view is lost */
	bool			 changed;	/* a new snapshot: msgs */
	struct mailbox_status	 status;
	const struct msg_info	*msgs;
	size_t			 nmsgs;
	struct imap_kwset	 kw;		/* of the messages whose MODSEQ moved */
};

static void
job_free(struct imap_sync_job *job)
{
	mailbox_close(&job->mb);	/* only an orphaned job still holds one */
	free(job->view_copy);
	free(job->old);
	free(job->ok);
	imap_kwset_free(&job->kw);
	free(job);
}

static size_t
find(const struct msg_info *msgs, size_t n, size_t from, uint32_t uid)
{
	while (from < n && msgs[from].uid < uid)
		from++;
	return from;
}

/* The keywords of the view's messages whose MODSEQ moved: tell() may say them. */
static void
read_keywords(struct imap_sync_job *job)
{
	uint32_t	*uids = xreallocarray(NULL, job->nold + 1, sizeof(*uids));
	size_t		 i, j = 0, n = 0;

	for (i = 0; i < job->nold; i++) {
		j = find(job->msgs, job->nmsgs, j, job->old[i].uid);
		if (j < job->nmsgs && job->msgs[j].uid == job->old[i].uid &&
		    job->msgs[j].modseq != job->old[i].modseq)
			uids[n++] = job->old[i].uid;
	}
	imap_kwset_read(&job->kw, job->mb, uids, n);
	free(uids);
}

int
imap_snapshot_since(struct mailbox *mb, uint64_t modseq, size_t nview,
    const struct msg_info **msgs_r, size_t *n_r, uint64_t *highestmodseq_r)
{
	struct mailbox_changes	 ch;
	const char		*error;
	bool			 patched = false;

	if (mailbox_changes_since(mb, modseq, &ch, &error) == 0) {
		if (ch.complete && ch.added.n + ch.changed.n + ch.expunged.n <= nview / FEED_SHARE &&
		    mailbox_messages_patch(mb, &ch, msgs_r, n_r, &error) == 0) {
			/* What the feed covers; a record read since may be newer: told again, harmlessly. */
			*highestmodseq_r = ch.highestmodseq;
			patched = true;
		}
		mailbox_changes_free(&ch);
	}
	return patched ? 0 : mailbox_messages(mb, msgs_r, n_r, &error);
}

/* On a workq thread: touches only the job and the mailbox lent to it. */
static void
sync_work(void *arg)
{
	struct imap_sync_job	*job = arg;
	const char		*error;

	if (mailbox_sync(job->mb, &error) == -1 || mailbox_status(job->mb, &job->status) == -1)
		return;		/* nothing changed in the view: say OK, try again next time */
	if (job->status.highestmodseq == job->modseq)
		return;
	job->changed = true;
	job->old = imap_view_copy(job->view, job->nold);
	job->rc = imap_snapshot_since(job->mb, job->modseq, job->nold, &job->msgs, &job->nmsgs,
	    &job->status.highestmodseq);
	if (job->rc == 0 && job->keywords)
		read_keywords(job);
}

/*
 * What changed between the view the client has and the new snapshot, as
 * untagged replies; true if expunges were told.
 */
static bool
tell(struct imap_session *s, const struct imap_sync_job *job)
{
	size_t		 i, j = 0, gone;

	gone = imap_tell_gone(s, job->old, job->nold, job->msgs, job->nmsgs);
	for (i = 0; i < job->nold; i++) {
		j = find(job->msgs, job->nmsgs, j, job->old[i].uid);
		if (j == job->nmsgs || job->msgs[j].uid != job->old[i].uid ||
		    !imap_flags_news(s, i, &job->old[i], &job->msgs[j]))
			continue;
		imap_tell_flags(s, j + 1, &job->msgs[j], false, true, &job->kw);
	}
	if (job->nmsgs != job->nold - gone) {
		imap_untagged(s, "%zu EXISTS", job->nmsgs);
		imap_untagged(s, "%zu RECENT", imap_count_recent(job->msgs, job->nmsgs));
	}
	return gone > 0;
}

static void
sync_done(void *arg)
{
	struct imap_sync_job	*job = arg;
	struct imap_session	*s = job->s;
	char			*tag = NULL;
	bool			 vanished = false;

	if (s == NULL) {
		job_free(job);
		return;
	}
	s->sync_job = NULL;
	job->mb = NULL;			/* back to the session */
	if (job->ok != NULL)
		tag = imap_take_tag(s);
	if (job->rc == -1) {
		/* The store dropped the old snapshot: the view cannot be kept consistent. */
		log_warnx("session=%s event=sync status=error action=close", s->peer->id);
		imap_untagged(s, "BYE [UNAVAILABLE] Mailbox state lost, reconnect.");
		imap_close(s);
	} else {
		if (job->changed) {
			vanished = tell(s, job);
			imap_view_set(s, job->msgs, job->nmsgs, NULL);
			s->highestmodseq = job->status.highestmodseq;
		}
		if (job->ok != NULL)
			imap_tagged_ok(s, tag, vanished, job->ok);
		else
			imap_idle_synced(s);
	}
	free(tag);
	job_free(job);
	session_host_kick(s->host);
}

/* ok: the tagged OK's text, or NULL for IDLE (imap_idle_synced follows instead). */
static void
sync_start(struct imap_session *s, const char *ok)
{
	struct imap_sync_job	*job;

	job = xcalloc(1, sizeof(*job));
	job->s = s;
	job->mb = s->mb;		/* lent: the session is paused until sync_done */
	job->modseq = s->highestmodseq;
	job->view = s->msgs;		/* copied only if the sync finds changes */
	job->nold = s->nmsgs;
	job->keywords = s->keywords;
	job->ok = ok != NULL ? xstrdup(ok) : NULL;
	s->sync_job = job;
	session_host_submit(s->host, sync_work, sync_done, job);
}

void
imap_sync_reply(struct imap_session *s, const char *tag, const char *ok)
{
	free(s->tag);
	s->tag = xstrdup(tag);
	sync_start(s, ok);
}

void
imap_sync_idle(struct imap_session *s)
{
	sync_start(s, NULL);
}

int
imap_cmd_noop(struct imap_session *s, const struct imap_command *cmd)
{
	if (s->state != IMAP_STATE_SELECTED) {
		imap_tagged(s, cmd->tag, "OK %s completed.", cmd->def->name);
		return 0;
	}
	imap_sync_reply(s, cmd->tag, cmd->def->id == IMAP_CMD_NOOP ? "NOOP completed." :
	    "CHECK completed.");
	return 0;
}

/* The session goes away while the sync runs: the job keeps the mailbox and closes it. */
void
imap_sync_orphan(struct imap_session *s)
{
	if (s->sync_job == NULL)
		return;
	s->sync_job->s = NULL;
	s->sync_job->view_copy = s->view_copy;	/* the job may still read it */
	s->view_copy = NULL;
	s->mb = NULL;
	s->msgs = NULL;
	s->nmsgs = 0;
	s->sync_job = NULL;
}
