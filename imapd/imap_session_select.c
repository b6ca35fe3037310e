/*
 * SELECT, EXAMINE, CLOSE, UNSELECT (RFC 3501 6.3.1-2, 6.4.2, RFC 3691)
 * and the session's view of the selected mailbox: the store's snapshot
 * (mailbox_messages()), sequence number i + 1 being msgs[i], is exactly
 * what the client was told.  Opening a mailbox syncs it (a rebuild if its
 * index is missing) and CLOSE's expunge fsyncs, so both run on the workq
 * with the session paused.
 */
#include "imapd/imap_private.h"

#include "imapd/imap_folders.h"

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/xmalloc.h"
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

struct imap_select_job {
	struct imap_session	*s;		/* NULL once the session is gone */
	struct store		*store;
	char			*maildir;
	char			*folder;
	bool			 readonly;
	/* SELECT ... (QRESYNC (uidvalidity modseq [known-uids])), RFC 7162 3.2.5 */
	bool			 qresync;
	uint32_t		 uidvalidity;
	uint64_t		 modseq;
	bool			 has_known;
	struct imap_seqset	 known;		/* ranges copied from the parser */
	struct mailbox_changes	 changes;	/* since modseq, read with the snapshot */
	struct imap_kwset	 kw;		/* of the messages above modseq */
	struct store_op		*op;		/* CLOSE: the expunge (owns mb meanwhile) */
	/* The outcome. */
	struct mailbox		*mb;
	int			 rc;
	enum store_error	 code;
	char			*error;
	struct mailbox_status	 status;
	const struct msg_info	*msgs;
	size_t			 nmsgs;
	const char *const	*keywords;
	size_t			 nkeywords;
};

long
imap_view_find(const struct imap_session *s, uint32_t uid)
{
	size_t	 lo = 0, hi = s->nmsgs, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (s->msgs[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < s->nmsgs && s->msgs[lo].uid == uid ? (long)lo : -1;
}

size_t
imap_count_recent(const struct msg_info *msgs, size_t n)
{
	size_t	 i, r = 0;

	for (i = 0; i < n; i++)
		r += (msgs[i].flags & MSG_RECENT) != 0;
	return r;
}

struct msg_info *
imap_view_copy(const struct msg_info *msgs, size_t n)
{
	struct msg_info	*copy = xreallocarray(NULL, n + 1, sizeof(*copy));

	if (n > 0)
		memcpy(copy, msgs, n * sizeof(*copy));
	return copy;
}

void
imap_view_set(struct imap_session *s, const struct msg_info *msgs, size_t n,
    struct msg_info *owned)
{
	if (s->view_copy != owned)
		free(s->view_copy);
	s->view_copy = owned;
	s->msgs = msgs;
	s->nmsgs = n;
}

void
imap_unselect(struct imap_session *s)
{
	xfree(&s->folder);		/* also when an orphaned job took the handle */
	if (s->mb == NULL)
		return;
	imap_fetch_abort(s);
	mailbox_close(&s->mb);		/* the snapshot goes with it */
	imap_view_set(s, NULL, 0, NULL);
	if (s->state == IMAP_STATE_SELECTED)
		s->state = IMAP_STATE_AUTH;
}

static void
job_free(struct imap_select_job *job)
{
	store_op_free(&job->op);
	mailbox_close(&job->mb);
	mailbox_changes_free(&job->changes);
	imap_kwset_free(&job->kw);
	free(job->known.ranges);
	free(job->maildir);
	free(job->folder);
	free(job->error);
	free(job);
}

/* QRESYNC's FETCHes will tell the messages above modseq: their keywords, now. */
static void
read_keywords(struct imap_select_job *job)
{
	uint32_t	*uids = xreallocarray(NULL, job->nmsgs + 1, sizeof(*uids));
	uint32_t	 max = job->status.uidnext > 0 ? job->status.uidnext - 1 : 0;
	size_t		 i, n = 0;

	for (i = 0; i < job->nmsgs; i++)
		if (job->msgs[i].modseq > job->modseq && (!job->has_known ||
		    imap_seqset_contains(&job->known, job->msgs[i].uid, max)))
			uids[n++] = job->msgs[i].uid;
	imap_kwset_read(&job->kw, job->mb, uids, n);
	free(uids);
}

/* On a workq thread: touches only the job, the store and the new handle. */
static void
select_work(void *arg)
{
	struct imap_select_job	*job = arg;
	const char		*error = NULL;

	job->rc = mailbox_open(job->store, job->maildir, job->folder,
	    job->readonly ? MAILBOX_READONLY : 0, &job->mb, &error);
	if (job->rc == 0 && mailbox_status(job->mb, &job->status) == -1) {
		job->rc = -1;
		error = "mailbox status failed";
	}
	/* The feed before the snapshot: an expunge between them is told by the next NOOP. */
	if (job->rc == 0 && job->qresync)
		job->rc = mailbox_changes_since(job->mb, job->modseq, &job->changes, &error);
	if (job->rc == 0)
		job->rc = mailbox_messages(job->mb, &job->msgs, &job->nmsgs, &error);
	if (job->rc == 0)
		job->rc = mailbox_keywords(job->mb, &job->keywords, &job->nkeywords, &error);
	if (job->rc == 0 && job->qresync && job->nkeywords > 0) {
		read_keywords(job);
		/* mailbox_fetch() reloaded the names: read them again for FLAGS. */
		job->rc = mailbox_keywords(job->mb, &job->keywords, &job->nkeywords, &error);
	}

	if (job->rc == -1) {
		job->code = store_error_code();
		job->error = xstrdup(error != NULL ? error : "failed");	/* this thread's text */
	}
}

void
imap_put_flag_names(struct buf *b, const char *const *keywords, size_t n, bool any)
{
	size_t	 i;

	buf_puts(b, "\\Answered \\Flagged \\Deleted \\Seen \\Draft");
	for (i = 0; i < n; i++)
		buf_printf(b, " %s", keywords[i]);
	if (any && n < STORE_KEYWORDS_MAX)
		buf_puts(b, " \\*");
}

static void
selected(struct imap_session *s, struct imap_select_job *job, const char *tag)
{
	const struct mailbox_status	*st = &job->status;
	struct buf			 flags;
	size_t				 i;

	s->mb = job->mb;
	job->mb = NULL;
	s->folder = xstrdup(job->folder);
	imap_view_set(s, job->msgs, job->nmsgs, NULL);
	s->keywords = job->nkeywords > 0;
	s->nkeywords = job->nkeywords;
	s->highestmodseq = st->highestmodseq;
	s->readonly = job->readonly;
	s->state = IMAP_STATE_SELECTED;
	buf_init(&flags, 64 * 1024);
	imap_put_flag_names(&flags, job->keywords, job->nkeywords, false);
	imap_untagged(s, "FLAGS (%.*s)", (int)buf_len(&flags), buf_head(&flags));
	buf_reset(&flags);
	if (!s->readonly)
		imap_put_flag_names(&flags, job->keywords, job->nkeywords, true);
	imap_untagged(s, "OK [PERMANENTFLAGS (%.*s)] Flags permitted.", (int)buf_len(&flags),
	    buf_head(&flags));
	buf_release(&flags);
	imap_untagged(s, "%zu EXISTS", s->nmsgs);
	imap_untagged(s, "%zu RECENT", imap_count_recent(s->msgs, s->nmsgs));
	for (i = 0; i < s->nmsgs; i++)
		if (!(s->msgs[i].flags & MSG_SEEN)) {
			imap_untagged(s, "OK [UNSEEN %zu] First unseen.", i + 1);
			break;
		}
	imap_untagged(s, "OK [UIDVALIDITY %u] UIDs valid.", st->uidvalidity);
	imap_untagged(s, "OK [UIDNEXT %u] Predicted next UID.", st->uidnext);
	imap_untagged(s, "OK [HIGHESTMODSEQ %llu] Highest.",
	    (unsigned long long)st->highestmodseq);
	if (job->qresync)
		imap_qresync_tell(s, job->uidvalidity, job->modseq,
		    job->has_known ? &job->known : NULL, &job->changes, st->uidnext, &job->kw);
	imap_tagged(s, tag, "OK [%s] %s completed.", s->readonly ? "READ-ONLY" : "READ-WRITE",
	    s->readonly ? "Examine" : "Select");
	log_info("session=%s event=select folder=%s messages=%zu readonly=%s", s->peer->id,
	    job->folder, s->nmsgs, s->readonly ? "yes" : "no");
}

static void
select_done(void *arg)
{
	struct imap_select_job	*job = arg;
	struct imap_session	*s = job->s;
	char			*tag;

	if (s == NULL) {
		job_free(job);
		return;
	}
	s->select_job = NULL;
	tag = imap_take_tag(s);
	if (job->rc == 0) {
		selected(s, job, tag);
		s->bad_commands = 0;
	} else {
		log_info("session=%s event=select status=failed folder=%s reason=\"%s\"",
		    s->peer->id, job->folder, job->error);
		imap_tagged(s, tag, "NO [%s] %s", imap_store_resp_code(job->code),
		    job->code == STORE_ERR_NOT_FOUND ? "Mailbox doesn't exist." :
		    "Cannot open the mailbox.");
		imap_bad_command(s);
	}
	free(tag);
	job_free(job);
	session_host_kick(s->host);
}

static void
qresync_params(struct imap_select_job *job, const struct imap_command *cmd)
{
	const struct imap_seqset	*known = &cmd->u.select.known_uids;

	job->qresync = true;
	job->uidvalidity = cmd->u.select.uidvalidity;
	job->modseq = cmd->u.select.modseq;
	job->has_known = cmd->u.select.has_known_uids;
	if (!job->has_known)
		return;
	job->known = *known;
	job->known.ranges = xreallocarray(NULL, known->nranges + 1, sizeof(*known->ranges));
	memcpy(job->known.ranges, known->ranges, known->nranges * sizeof(*known->ranges));
}

int
imap_cmd_select(struct imap_session *s, const struct imap_command *cmd)
{
	struct imap_select_job	*job;
	char			 folder[IMAP_FOLDER_SIZE];
	struct imap_no		 no;

	/* RFC 3501 6.3.1: the mailbox selected before is left even if this one fails. */
	if (s->state == IMAP_STATE_SELECTED)
		imap_untagged(s, "OK [CLOSED] Previous mailbox closed.");	/* RFC 7162 3.2.11 */
	imap_unselect(s);
	if (cmd->u.select.qresync && !s->qresync) {
		imap_tagged(s, cmd->tag, "BAD QRESYNC needs ENABLE QRESYNC.");
		return -1;
	}
	if (cmd->u.select.condstore)
		imap_condstore_enable(s);	/* RFC 7162 3.1.8 */
	if (imap_name_to_folder(cmd->u.select.mailbox, &s->env->limits.names, folder,
	    &no) == -1) {
		imap_tagged(s, cmd->tag, "NO [%s] %s.", no.code, no.text);
		return -1;
	}
	job = xcalloc(1, sizeof(*job));
	job->s = s;
	job->store = s->env->store;
	job->maildir = xstrdup(s->maildir);
	job->folder = xstrdup(folder);
	job->readonly = cmd->def->id == IMAP_CMD_EXAMINE;
	if (cmd->u.select.qresync)
		qresync_params(job, cmd);
	free(s->tag);
	s->tag = xstrdup(cmd->tag);
	s->select_job = job;		/* the session pauses until select_done */
	session_host_submit(s->host, select_work, select_done, job);
	return IMAP_ASYNC;
}

static void
close_work(void *arg)
{
	store_op_commit(((struct imap_select_job *)arg)->op);
}

static void
close_done(void *arg)
{
	struct imap_select_job	*job = arg;
	struct imap_session	*s = job->s;
	const char		*error;
	char			*tag;

	if (s == NULL) {
		job_free(job);
		return;
	}
	s->select_job = NULL;
	tag = imap_take_tag(s);
	/* RFC 3501 6.4.2: no untagged EXPUNGE; the mailbox is closed whatever happened. */
	if (store_op_result(job->op, &error) == -1) {
		log_info("session=%s event=expunge status=failed reason=\"%s\"", s->peer->id, error);
		imap_untagged(s, "NO [%s] Deleted messages could not be expunged.",
		    imap_store_resp_code(store_error_code()));
	}
	job_free(job);		/* the handle is the session's again */
	imap_unselect(s);
	imap_tagged(s, tag, "OK Close completed.");
	free(tag);
	session_host_kick(s->host);
}

int
imap_cmd_close(struct imap_session *s, const struct imap_command *cmd)
{
	struct imap_select_job	*job;
	uint32_t		*uids;
	size_t			 i, n = 0;

	uids = xreallocarray(NULL, s->nmsgs + 1, sizeof(*uids));
	for (i = 0; i < s->nmsgs && !s->readonly; i++)
		if (s->msgs[i].flags & MSG_DELETED)
			uids[n++] = s->msgs[i].uid;
	if (n == 0) {
		free(uids);
		imap_unselect(s);
		imap_tagged(s, cmd->tag, "OK Close completed.");
		return 0;
	}
	job = xcalloc(1, sizeof(*job));
	job->s = s;
	job->op = store_op_expunge(s->mb, uids, n);	/* copies the UIDs */
	free(uids);
	free(s->tag);
	s->tag = xstrdup(cmd->tag);
	s->select_job = job;
	session_host_submit(s->host, close_work, close_done, job);
	return 0;
}

int
imap_cmd_unselect(struct imap_session *s, const struct imap_command *cmd)
{
	imap_unselect(s);
	imap_tagged(s, cmd->tag, "OK Unselect completed.");
	return 0;
}

/* The session goes away while a job runs: the job finishes alone. */
void
imap_select_orphan(struct imap_session *s)
{
	struct imap_select_job	*job = s->select_job;

	if (job == NULL)
		return;
	job->s = NULL;
	if (job->op != NULL) {
		/* CLOSE's expunge holds the mailbox: the job closes it when done. */
		job->mb = s->mb;
		s->mb = NULL;
		s->msgs = NULL;
		s->nmsgs = 0;
	}
	s->select_job = NULL;
}
