/*
 * The commands that change the selected mailbox: STORE, EXPUNGE, COPY,
 * MOVE and their UID forms (RFC 3501 6.4.3, 6.4.6-7, RFC 4315 UIDPLUS,
 * RFC 6851 MOVE).  Each becomes one store_op: begun here on the loop,
 * committed on the workq (renames and fsyncs), its result back on the
 * loop.  The same job then moves the snapshot on (by the change feed:
 * imap_snapshot_since), and the view moves to it with the untagged
 * replies that say so, as NOOP's sync does, except
 * that a command during which no EXPUNGE may be sent (STORE; RFC
 * 3501 7.4.1) keeps every message the client knows: when another session
 * expunged one meanwhile, the view stays the old one, its flags brought up
 * to date, and the next NOOP tells the rest.
 */
#include "imapd/imap_private.h"

#include "imapd/imap_folders.h"
#include "imapd/imap_mailbox_name.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/xmalloc.h"
#include "store/store.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct imap_store_job {
	struct imap_session	*s;		/* NULL once the session is gone */
	struct mailbox		*mb;		/* lent to the op; the job's once orphaned */
	struct store_op		*op;
	enum imap_cmd_id	 id;
	bool			 uid, silent, no_expunge;
	uint32_t		*uids;		/* the op's UIDs, ascending */
	size_t			 n;
	const struct msg_info	*view;		/* the session's, lent */
	struct msg_info		*view_copy;	/* owned once orphaned: view, if the session's copy */
	struct msg_info		*old;		/* view, copied on the workq */
	size_t			 nold;
	uint64_t		 modseq;	/* the view's HIGHESTMODSEQ */
	/* The outcome, read on the workq after the commit. */
	int			 rc;		/* -1: the view is lost */
	struct mailbox_status	 status;
	const struct msg_info	*msgs;
	size_t			 nmsgs;
	const char *const	*keywords;
	size_t			 nkeywords;
	const uint32_t		*modified;	/* UNCHANGEDSINCE: the op's UIDs left alone */
	size_t			 nmodified;
	struct imap_kwset	 kw;		/* of the messages an untagged FETCH may tell */
};

static void
job_free(struct imap_store_job *job)
{
	store_op_free(&job->op);
	mailbox_close(&job->mb);	/* only an orphaned job still holds one */
	free(job->uids);
	free(job->view_copy);
	free(job->old);
	imap_kwset_free(&job->kw);
	free(job);
}

static bool
has_uid(const uint32_t *uids, size_t n, uint32_t uid)
{
	size_t	 lo = 0, hi = n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (uids[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && uids[lo] == uid;
}

/* The keywords of the messages whose MODSEQ moved, and of those a STORE tells anyway. */
static void
read_keywords(struct imap_store_job *job)
{
	uint32_t	*uids = xreallocarray(NULL, job->nmsgs + 1, sizeof(*uids));
	size_t		 i, j = 0, n = 0;
	bool		 told = job->id == IMAP_CMD_STORE && !job->silent;

	for (i = 0; i < job->nmsgs; i++) {
		while (j < job->nold && job->old[j].uid < job->msgs[i].uid)
			j++;
		if ((j < job->nold && job->old[j].uid == job->msgs[i].uid &&
		    job->old[j].modseq != job->msgs[i].modseq) ||
		    (told && has_uid(job->uids, job->n, job->msgs[i].uid)))
			uids[n++] = job->msgs[i].uid;
	}
	imap_kwset_read(&job->kw, job->mb, uids, n);
	free(uids);
}

/* On a workq thread: the op, then the state it left, read from the index. */
static void
store_work(void *arg)
{
	struct imap_store_job	*job = arg;
	const char		*error;

	job->old = imap_view_copy(job->view, job->nold);	/* the snapshot moves on below */
	store_op_commit(job->op);
	job->modified = store_op_modified(job->op, &job->nmodified);
	job->rc = mailbox_status(job->mb, &job->status);
	if (job->rc == 0)
		job->rc = imap_snapshot_since(job->mb, job->modseq, job->nold, &job->msgs,
		    &job->nmsgs, &job->status.highestmodseq);
	if (job->rc == 0 && mailbox_keywords(job->mb, &job->keywords, &job->nkeywords, &error) == -1)
		job->nkeywords = 0;	/* FLAGS not updated now: the next SELECT says */
	if (job->rc == 0 && job->nkeywords > 0) {
		read_keywords(job);
		/* mailbox_fetch() reloaded the names: read them again, valid till the job ends. */
		if (mailbox_keywords(job->mb, &job->keywords, &job->nkeywords, &error) == -1)
			job->nkeywords = 0;
	}
}

/*
 * The untagged FETCH a message gets: its own STORE's unless .SILENT (then
 * once CONDSTORE is on its new MODSEQ alone, RFC 7162 3.1.3), else news
 * of its flags (idx: in the view the client has, seq: as it is told).
 */
static void
tell_changed(struct imap_session *s, const struct imap_store_job *job, size_t idx, size_t seq,
    const struct msg_info *was, const struct msg_info *now)
{
	if (job->id == IMAP_CMD_STORE && has_uid(job->uids, job->n, now->uid) &&
	    !has_uid(job->modified, job->nmodified, now->uid)) {
		if (!job->silent)
			imap_tell_flags(s, seq, now, job->uid, true, &job->kw);
		else if (s->condstore && now->modseq != was->modseq)
			imap_tell_flags(s, seq, now, job->uid, false, NULL);
	} else if (imap_flags_news(s, idx, was, now))
		imap_tell_flags(s, seq, now, job->uid, true, &job->kw);
}

/*
 * Another session expunged some of the view meanwhile and no EXPUNGE may
 * be sent: the old view stays (now the session's copy), flags updated.
 */
static void
keep_view(struct imap_session *s, struct imap_store_job *job)
{
	struct msg_info	 was;
	size_t		 i, j = 0;
	uint32_t	 recent;

	for (i = 0; i < job->nold; i++) {
		while (j < job->nmsgs && job->msgs[j].uid < job->old[i].uid)
			j++;
		if (j == job->nmsgs || job->msgs[j].uid != job->old[i].uid)
			continue;
		was = job->old[i];
		recent = job->old[i].flags & MSG_RECENT;
		job->old[i].flags = (job->msgs[j].flags & ~MSG_RECENT) | recent;
		job->old[i].modseq = job->msgs[j].modseq;
		tell_changed(s, job, i, i + 1, &was, &job->old[i]);
	}
	imap_view_set(s, job->old, job->nold, job->old);
	job->old = NULL;		/* HIGHESTMODSEQ stays: the next NOOP diffs again */
}

/* Whether every message of the view is still in the new snapshot. */
static bool
view_intact(const struct imap_store_job *job)
{
	size_t	 i, j = 0;

	for (i = 0; i < job->nold; i++) {
		while (j < job->nmsgs && job->msgs[j].uid < job->old[i].uid)
			j++;
		if (j == job->nmsgs || job->msgs[j].uid != job->old[i].uid)
			return false;
	}
	return true;
}

/*
 * The view moves to the new snapshot: EXPUNGE (numbered as the client
 * counts) or VANISHED, FETCH, EXISTS.  True if expunges were told.
 */
static bool
move_view(struct imap_session *s, struct imap_store_job *job)
{
	size_t	 i, j = 0, gone;

	if (job->no_expunge && !view_intact(job)) {
		keep_view(s, job);
		return false;
	}
	gone = imap_tell_gone(s, job->old, job->nold, job->msgs, job->nmsgs);
	for (i = 0, j = 0; i < job->nold; i++) {
		while (j < job->nmsgs && job->msgs[j].uid < job->old[i].uid)
			j++;
		if (j < job->nmsgs && job->msgs[j].uid == job->old[i].uid)
			tell_changed(s, job, i, j + 1, &job->old[i], &job->msgs[j]);
	}
	if (job->nmsgs != job->nold - gone) {
		imap_untagged(s, "%zu EXISTS", job->nmsgs);
		imap_untagged(s, "%zu RECENT", imap_count_recent(job->msgs, job->nmsgs));
	}
	imap_view_set(s, job->msgs, job->nmsgs, NULL);
	s->highestmodseq = job->status.highestmodseq;
	return gone > 0;
}

/* New keywords: FLAGS and PERMANENTFLAGS again, as Dovecot says them. */
static void
tell_keywords(struct imap_session *s, const struct imap_store_job *job)
{
	struct buf	 flags;

	if (job->nkeywords <= s->nkeywords)
		return;
	s->nkeywords = job->nkeywords;
	s->keywords = true;
	buf_init(&flags, 64 * 1024);
	imap_put_flag_names(&flags, job->keywords, job->nkeywords, false);
	imap_untagged(s, "FLAGS (%.*s)", (int)buf_len(&flags), buf_head(&flags));
	buf_reset(&flags);
	imap_put_flag_names(&flags, job->keywords, job->nkeywords, true);
	imap_untagged(s, "OK [PERMANENTFLAGS (%.*s)] Flags permitted.", (int)buf_len(&flags),
	    buf_head(&flags));
	buf_release(&flags);
}

/* "COPYUID v src dst" (RFC 4315) into b, of the messages copied; false if none was. */
static bool
put_copyuid(struct buf *b, const struct imap_store_job *job, const uint32_t *dst,
    uint32_t uidvalidity, size_t n)
{
	uint32_t	*src = xreallocarray(NULL, n + 1, sizeof(*src));
	uint32_t	*to = xreallocarray(NULL, n + 1, sizeof(*to));
	size_t		 i, k = 0;

	for (i = 0; i < n && i < job->n; i++)
		if (dst[i] != 0) {
			src[k] = job->uids[i];
			to[k++] = dst[i];
		}
	if (k > 0) {
		buf_printf(b, "COPYUID %u ", uidvalidity);
		imap_put_uid_set(b, src, k);
		buf_puts(b, " ");
		imap_put_uid_set(b, to, k);
	}
	free(src);
	free(to);
	return k > 0;
}

static const char *
command_name(enum imap_cmd_id id)
{
	return id == IMAP_CMD_STORE ? "Store" : id == IMAP_CMD_EXPUNGE ? "Expunge" :
	    id == IMAP_CMD_COPY ? "Copy" : "Move";
}

/* MODIFIED's set (RFC 7162 3.1.3): UIDs for UID STORE, else sequence numbers. */
static void
put_modified(struct imap_session *s, const struct imap_store_job *job, struct buf *b)
{
	uint32_t	*seqs = xreallocarray(NULL, job->nmodified + 1, sizeof(*seqs));
	size_t		 i, k = 0;
	long		 idx;

	buf_reset(b);
	for (i = 0; i < job->nmodified; i++) {
		if (job->uid)
			seqs[k++] = job->modified[i];
		else if ((idx = imap_view_find(s, job->modified[i])) >= 0)
			seqs[k++] = (uint32_t)idx + 1;
	}
	imap_put_uid_set(b, seqs, k);
	free(seqs);
}

/* The tagged reply, and for MOVE its untagged COPYUID first (RFC 6851 4.3). */
static void
answer(struct imap_session *s, struct imap_store_job *job, const char *tag)
{
	const uint32_t	*dst;
	const char	*error;
	struct imap_no	 no;
	struct buf	 code;
	uint32_t	 uidvalidity = 0;
	size_t		 n = 0;
	bool		 copied = false, vanished;

	if (store_op_result(job->op, &error) == -1) {
		imap_store_no(error, &no);
		if (store_error_code() == STORE_ERR_NOT_FOUND && job->id != IMAP_CMD_STORE &&
		    job->id != IMAP_CMD_EXPUNGE)
			no.code = "TRYCREATE";		/* RFC 3501 6.4.7 */
		log_info("session=%s event=%s status=failed reason=\"%s\"", s->peer->id,
		    job->id == IMAP_CMD_STORE ? "store" : job->id == IMAP_CMD_EXPUNGE ?
		    "expunge" : job->id == IMAP_CMD_COPY ? "copy" : "move", error);
		tell_keywords(s, job);
		move_view(s, job);
		imap_tagged(s, tag, "NO [%s] %s.", no.code, no.text);
		imap_bad_command(s);
		return;
	}
	buf_init(&code, 1024);
	if (job->id == IMAP_CMD_COPY || job->id == IMAP_CMD_MOVE) {
		dst = store_op_uids(job->op, &uidvalidity, &n);
		copied = dst != NULL && put_copyuid(&code, job, dst, uidvalidity, n);
	}
	tell_keywords(s, job);
	if (job->id == IMAP_CMD_MOVE && copied)
		imap_untagged(s, "OK [%.*s] Moved UIDs.", (int)buf_len(&code), buf_head(&code));
	vanished = move_view(s, job);
	if (job->id == IMAP_CMD_COPY && copied)
		imap_tagged(s, tag, "OK [%.*s] Copy completed.", (int)buf_len(&code),
		    buf_head(&code));
	else if (job->nmodified > 0) {
		put_modified(s, job, &code);
		imap_tagged(s, tag, "OK [MODIFIED %.*s] Conditional store failed.",
		    (int)buf_len(&code), buf_head(&code));
	} else {
		buf_reset(&code);
		buf_printf(&code, "%s completed.", command_name(job->id));
		imap_tagged_ok(s, tag, vanished, buf_head(&code));
	}
	buf_release(&code);
	s->bad_commands = 0;
}

static void
store_done(void *arg)
{
	struct imap_store_job	*job = arg;
	struct imap_session	*s = job->s;
	char			*tag;

	if (s == NULL) {
		job_free(job);
		return;
	}
	s->store_job = NULL;
	job->mb = NULL;			/* back to the session */
	tag = imap_take_tag(s);
	if (job->rc == -1) {
		/* The store dropped the old snapshot: the view cannot be kept consistent. */
		log_warnx("session=%s event=sync status=error action=close", s->peer->id);
		imap_untagged(s, "BYE [UNAVAILABLE] Mailbox state lost, reconnect.");
		imap_close(s);
	} else
		answer(s, job, tag);
	free(tag);
	job_free(job);
	session_host_kick(s->host);
}

/* The UIDs of the view's messages the set names (the UID form's set holds UIDs). */
static size_t
set_uids(const struct imap_session *s, const struct imap_seqset *set, bool uid, uint32_t *uids)
{
	uint32_t	 max;
	size_t		 i, n = 0;

	max = uid ? (s->nmsgs > 0 ? s->msgs[s->nmsgs - 1].uid : 0) : (uint32_t)s->nmsgs;
	for (i = 0; i < s->nmsgs; i++)
		if (imap_seqset_contains(set, uid ? s->msgs[i].uid : (uint32_t)(i + 1), max))
			uids[n++] = s->msgs[i].uid;
	return n;
}

/* The job for op (or NULL: nothing to do, the OK is said now), submitted. */
static int
submit(struct imap_session *s, const struct imap_command *cmd, struct store_op *op,
    uint32_t *uids, size_t n)
{
	struct imap_store_job	*job;

	job = xcalloc(1, sizeof(*job));
	job->s = s;
	job->mb = s->mb;		/* lent to the op: the session pauses until store_done */
	job->op = op;
	job->id = cmd->def->id;
	job->uid = (cmd->def->flags & IMAP_CMDF_UID) != 0;
	job->no_expunge = (cmd->def->flags & IMAP_CMDF_NO_EXPUNGE) != 0;
	job->silent = job->id == IMAP_CMD_STORE && cmd->u.store.silent;
	job->uids = uids;
	job->n = n;
	job->view = s->msgs;		/* copied on the workq, off the loop */
	job->nold = s->nmsgs;
	job->modseq = s->highestmodseq;
	free(s->tag);
	s->tag = xstrdup(cmd->tag);
	s->store_job = job;
	session_host_submit(s->host, store_work, store_done, job);
	return IMAP_ASYNC;
}

/* The UIDs a command's set names, or NULL after a BAD (a sequence number past the view). */
static uint32_t *
command_uids(struct imap_session *s, const struct imap_command *cmd,
    const struct imap_seqset *set, size_t *n_r)
{
	bool		 uid = (cmd->def->flags & IMAP_CMDF_UID) != 0;
	uint32_t	*uids;

	if (!uid && imap_seqset_highest(set, (uint32_t)s->nmsgs) > s->nmsgs) {
		imap_tagged(s, cmd->tag, "BAD Invalid messageset.");
		return NULL;
	}
	uids = xreallocarray(NULL, s->nmsgs + 1, sizeof(*uids));
	*n_r = set_uids(s, set, uid, uids);
	return uids;
}

static const struct {
	const char	*name;
	uint32_t	 bit;
} system_flags[] = {
	{ "\\Seen", MSG_SEEN }, { "\\Answered", MSG_ANSWERED }, { "\\Flagged", MSG_FLAGGED },
	{ "\\Deleted", MSG_DELETED }, { "\\Draft", MSG_DRAFT },
};

/*
 * The flag list as the store's bits and keywords (space-separated, NULL
 * if none, in kw); -1 with the bad flag in *bad_r (\Recent, or any other
 * system flag: only the server sets those).
 */
static int
parse_flags(const struct imap_strings *fl, uint32_t *flags_r, struct buf *kw, const char **bad_r)
{
	unsigned	 i, j;

	*flags_r = 0;
	for (i = 0; i < fl->n; i++) {
		if (fl->v[i][0] != '\\') {
			buf_printf(kw, "%s%s", buf_len(kw) > 0 ? " " : "", fl->v[i]);
			continue;
		}
		for (j = 0; j < sizeof(system_flags) / sizeof(system_flags[0]); j++)
			if (strcasecmp(fl->v[i], system_flags[j].name) == 0)
				break;
		if (j == sizeof(system_flags) / sizeof(system_flags[0])) {
			*bad_r = fl->v[i];
			return -1;
		}
		*flags_r |= system_flags[j].bit;
	}
	return 0;
}

int
imap_cmd_store(struct imap_session *s, const struct imap_command *cmd)
{
	static const enum flag_mode	 modes[] = {
		[IMAP_STORE_SET] = FLAGS_REPLACE, [IMAP_STORE_ADD] = FLAGS_ADD,
		[IMAP_STORE_REMOVE] = FLAGS_REMOVE,
	};
	struct buf			 kw;
	struct store_op			*op;
	const char			*bad;
	char				*keywords;
	uint32_t			*uids, flags;
	size_t				 n;

	if (cmd->u.store.has_unchangedsince)
		imap_condstore_enable(s);	/* RFC 7162 3.1 */
	if (s->readonly) {
		imap_tagged(s, cmd->tag, "NO [READ-ONLY] Mailbox is read-only.");
		return -1;
	}
	buf_init(&kw, 1024);
	if (parse_flags(&cmd->u.store.flags, &flags, &kw, &bad) == -1) {
		buf_release(&kw);
		imap_tagged(s, cmd->tag, "BAD Invalid system flag %s.", bad);
		return -1;
	}
	if ((uids = command_uids(s, cmd, &cmd->u.store.set, &n)) == NULL) {
		buf_release(&kw);
		return -1;
	}
	if (n == 0) {
		free(uids);
		buf_release(&kw);
		imap_tagged(s, cmd->tag, "OK Store completed.");
		return 0;
	}
	keywords = buf_len(&kw) > 0 ? buf_strdup(&kw) : NULL;
	buf_release(&kw);
	if (cmd->u.store.has_unchangedsince)
		op = store_op_flags_cond(s->mb, uids, n, modes[cmd->u.store.op], flags, keywords,
		    cmd->u.store.unchangedsince);
	else
		op = store_op_flags(s->mb, uids, n, modes[cmd->u.store.op], flags, keywords);
	submit(s, cmd, op, uids, n);
	free(keywords);		/* the op copied it */
	return IMAP_ASYNC;
}

/* EXPUNGE: every \Deleted message the client knows; UID EXPUNGE: of those, the set's. */
int
imap_cmd_expunge(struct imap_session *s, const struct imap_command *cmd)
{
	uint32_t	*uids;
	size_t		 i, n = 0;

	if (s->readonly) {
		imap_tagged(s, cmd->tag, "NO [READ-ONLY] Mailbox is read-only.");
		return -1;
	}
	uids = xreallocarray(NULL, s->nmsgs + 1, sizeof(*uids));
	for (i = 0; i < s->nmsgs; i++) {
		if (!(s->msgs[i].flags & MSG_DELETED))
			continue;
		if ((cmd->def->flags & IMAP_CMDF_UID) && !imap_seqset_contains(&cmd->u.uid_expunge,
		    s->msgs[i].uid, s->msgs[s->nmsgs - 1].uid))
			continue;
		uids[n++] = s->msgs[i].uid;
	}
	if (n == 0) {
		free(uids);
		imap_tagged(s, cmd->tag, "OK Expunge completed.");
		return 0;
	}
	return submit(s, cmd, store_op_expunge(s->mb, uids, n), uids, n);
}

/* COPY and MOVE: the destination by its IMAP name, [TRYCREATE] if it does not exist. */
int
imap_cmd_copy(struct imap_session *s, const struct imap_command *cmd)
{
	static const struct imap_name_opts	 names = { 0, false };
	char					 folder[IMAP_FOLDER_SIZE];
	struct imap_no				 no;
	uint32_t				*uids;
	size_t					 n;
	bool					 move = cmd->def->id == IMAP_CMD_MOVE;

	if (move && s->readonly) {
		imap_tagged(s, cmd->tag, "NO [READ-ONLY] Mailbox is read-only.");
		return -1;
	}
	if (imap_name_to_folder(cmd->u.copy.mailbox, &names, folder, &no) == -1) {
		imap_tagged(s, cmd->tag, "NO [%s] %s.", no.code != NULL ? no.code : "CANNOT",
		    no.text);
		return -1;
	}
	if ((uids = command_uids(s, cmd, &cmd->u.copy.set, &n)) == NULL)
		return -1;
	if (n == 0) {
		free(uids);
		imap_tagged(s, cmd->tag, "OK No messages found.");
		return 0;
	}
	return submit(s, cmd, store_op_copy(s->mb, uids, n, folder, move), uids, n);
}

/* The session goes away while an op runs: the job closes the mailbox the op holds. */
void
imap_store_orphan(struct imap_session *s)
{
	struct imap_store_job	*job = s->store_job;

	if (job == NULL)
		return;
	job->s = NULL;
	job->view_copy = s->view_copy;		/* the job may still read it */
	s->view_copy = NULL;
	s->mb = NULL;
	imap_view_set(s, NULL, 0, NULL);
	s->store_job = NULL;
}
