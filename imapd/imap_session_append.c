/*
 * APPEND (RFC 3501 6.3.11, LITERAL+ RFC 7888, APPENDUID RFC 4315) with
 * the message streamed to the store, never held: the parser hands its
 * literal to append_write() as it arrives (imap_parser_stream()).  Every
 * file operation runs on the workq: creating the temp file (begin), the
 * writes, and the commit (fsync, rename, index).  The bytes arrive on the
 * loop into a stage buffer, CRLF turned into the store's LF (a bare LF or
 * CR is kept, as Dovecot keeps the bytes); a full stage goes to a write
 * job while the next fills, and while both are full the session pauses
 * (imap_append_busy()): the host holds the input until the disk catches
 * up, so memory stays at two stages whatever the literal's size.
 *
 * While a job runs the append is the job's; if the session goes (a client
 * vanishing mid-literal), the job's done frees it, and freeing an
 * uncommitted store_append removes its temp file.
 */
#include "imapd/imap_private.h"

#include "imapd/imap_folders.h"
#include "imapd/imap_mailbox_name.h"
#include "imapd/imap_parser.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/xmalloc.h"
#include "mail/crlf.h"
#include "store/store.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Bytes staged before a write job takes them (two stages at most per session). */
#define APPEND_STAGE	(256 * 1024)

enum append_step { STEP_BEGIN, STEP_WRITE, STEP_COMMIT };

struct imap_append {
	struct imap_session	*s;		/* NULL once the session dropped it */
	struct store		*store;
	char			*maildir;
	char			 folder[IMAP_FOLDER_SIZE];
	uint32_t		 flags;
	char			*keywords;	/* space-separated, "" if none */
	time_t			 date;		/* 0: now */
	struct store_append	*a;
	struct crlf_decoder	 crlf;
	struct buf		 stage;		/* filled on the loop */
	struct buf		 writing;	/* the job's */
	bool			 job;		/* a job runs: a and writing are its */
	bool			 ended;		/* the command is complete: commit next */
	enum append_step	 step;
	/* The outcome of the last job. */
	int			 rc;
	enum store_error	 code;
	char			 error[256];	/* a copy: the text crosses threads */
	uint32_t		 uidvalidity, uid;
};

static void	submit(struct imap_append *ap, enum append_step step);

static void
append_free(struct imap_append *ap)
{
	store_append_free(&ap->a);	/* uncommitted: its temp file goes */
	buf_release(&ap->stage);
	buf_release(&ap->writing);
	free(ap->maildir);
	free(ap->keywords);
	free(ap);
}

static void
job_failed(struct imap_append *ap, const char *error)
{
	ap->rc = -1;
	ap->code = store_error_code();
	snprintf(ap->error, sizeof(ap->error), "%s", error != NULL ? error : "write failed");
}

/* On a workq thread: touches only ap (not its session) and the store. */
static void
append_work(void *arg)
{
	struct imap_append	*ap = arg;
	const char		*error = NULL;

	if (ap->rc == -1) {
		buf_reset(&ap->writing);	/* a write failed before: the commit reports it */
		return;
	}
	switch (ap->step) {
	case STEP_BEGIN:
		if (store_append_begin(ap->store, ap->maildir, ap->folder, &ap->a, &error) == -1 ||
		    store_append_message(ap->a, ap->flags, ap->keywords, ap->date, &error) == -1)
			job_failed(ap, error);
		break;
	case STEP_WRITE:
	case STEP_COMMIT:
		if (store_append_write(ap->a, buf_head(&ap->writing), buf_len(&ap->writing)) == -1) {
			job_failed(ap, "temp file write failed");
			break;
		}
		buf_reset(&ap->writing);
		if (ap->step == STEP_COMMIT &&
		    store_append_commit(ap->a, &ap->uidvalidity, &ap->uid, &error) == -1)
			job_failed(ap, error);
		break;
	}
}

/* After the tagged reply: the client sends no literal, or it is skipped. */
static void
refuse(struct imap_session *s)
{
	imap_parser_stream_refuse(s->parser);
	imap_bad_command(s);
}

static void
began(struct imap_session *s, struct imap_append *ap)
{
	const struct imap_command	*cmd = imap_parser_command(s->parser);

	if (ap->rc == -1) {
		log_info("session=%s event=append status=failed folder=%s reason=\"%s\"",
		    s->peer->id, ap->folder, ap->error);
		/* RFC 3501 6.3.11: TRYCREATE when creating the mailbox would help. */
		imap_tagged(s, cmd->tag, "NO [%s] %s",
		    ap->code == STORE_ERR_NOT_FOUND ? "TRYCREATE" : imap_store_resp_code(ap->code),
		    ap->code == STORE_ERR_NOT_FOUND ? "Mailbox doesn't exist." :
		    "Cannot append to the mailbox.");
		s->append = NULL;
		append_free(ap);
		refuse(s);
		return;
	}
	if (imap_parser_stream(s->parser, imap_append_write, ap) == IMAP_PARSE_CONTINUE)
		imap_line(s, "+ Ready for literal data");
}

static void
committed(struct imap_session *s, struct imap_append *ap)
{
	char	*tag = imap_take_tag(s);
	char	 ok[64];

	s->append = NULL;
	if (ap->rc == -1) {
		log_info("session=%s event=append status=failed folder=%s reason=\"%s\"",
		    s->peer->id, ap->folder, ap->error);
		imap_tagged(s, tag, "NO [%s] %s", imap_store_resp_code(ap->code),
		    ap->code == STORE_ERR_OVER_QUOTA ? "Quota exceeded." : "Append failed.");
		imap_bad_command(s);
	} else {
		log_info("session=%s event=append folder=%s uid=%u size=%llu", s->peer->id,
		    ap->folder, ap->uid, (unsigned long long)store_append_size(ap->a));
		snprintf(ok, sizeof(ok), "[APPENDUID %u %u] Append completed.", ap->uidvalidity,
		    ap->uid);
		/* RFC 3501 6.3.11: appended to the selected mailbox, EXISTS follows. */
		if (s->state == IMAP_STATE_SELECTED)
			imap_sync_reply(s, tag, ok);
		else
			imap_tagged(s, tag, "OK %s", ok);
		s->bad_commands = 0;
	}
	free(tag);
	append_free(ap);
}

static void
append_done(void *arg)
{
	struct imap_append	*ap = arg;
	struct imap_session	*s = ap->s;

	ap->job = false;
	if (s == NULL) {
		append_free(ap);
		return;
	}
	if (ap->step == STEP_BEGIN)
		began(s, ap);
	else if (ap->step == STEP_COMMIT)
		committed(s, ap);
	else if (ap->ended)
		submit(ap, STEP_COMMIT);
	else if (buf_len(&ap->stage) >= APPEND_STAGE)
		submit(ap, STEP_WRITE);
	session_host_kick(s->host);
}

/* The stage becomes the job's buffer; the empty one the next stage. */
static void
submit(struct imap_append *ap, enum append_step step)
{
	struct buf	 t = ap->writing;

	ap->writing = ap->stage;
	ap->stage = t;
	ap->step = step;
	ap->job = true;
	session_host_submit(ap->s->host, append_work, append_done, ap);
}

void
imap_append_write(void *ctx, const char *data, size_t len)
{
	struct imap_append	*ap = ctx;
	char			*dst;

	/* The stage holds one chunk past its mark: the session pauses before the next. */
	dst = buf_reserve(&ap->stage, len + 1);
	assert(dst != NULL);
	buf_commit(&ap->stage, crlf_decode(&ap->crlf, data, len, dst));
	if (!ap->job && buf_len(&ap->stage) >= APPEND_STAGE)
		submit(ap, STEP_WRITE);
}

bool
imap_append_busy(const struct imap_session *s)
{
	const struct imap_append	*ap = s->append;

	return ap != NULL && ap->job &&
	    (ap->step == STEP_BEGIN || ap->ended || buf_len(&ap->stage) >= APPEND_STAGE);
}

/* "\Seen" ... and keywords; -1 for a system flag that cannot be set. */
static int
parse_flags(struct imap_append *ap, const struct imap_strings *fl)
{
	static const struct { const char *name; uint32_t flag; } sys[] = {
		{ "\\Seen", MSG_SEEN }, { "\\Answered", MSG_ANSWERED },
		{ "\\Flagged", MSG_FLAGGED }, { "\\Deleted", MSG_DELETED },
		{ "\\Draft", MSG_DRAFT },
	};
	struct buf	 kw;
	size_t		 i, j;

	buf_init(&kw, 64 * 1024);
	for (i = 0; i < fl->n; i++) {
		if (fl->v[i][0] != '\\') {
			buf_printf(&kw, "%s%s", buf_len(&kw) > 0 ? " " : "", fl->v[i]);
			continue;
		}
		for (j = 0; j < sizeof(sys) / sizeof(sys[0]); j++)
			if (strcasecmp(fl->v[i], sys[j].name) == 0)
				break;
		if (j == sizeof(sys) / sizeof(sys[0])) {
			buf_release(&kw);
			return -1;
		}
		ap->flags |= sys[j].flag;
	}
	ap->keywords = buf_strdup(&kw);
	buf_release(&kw);
	return 0;
}

void
imap_append_stream(struct imap_session *s)
{
	const struct imap_command	*cmd = imap_parser_command(s->parser);
	static const struct imap_name_opts names = { 0, false };
	struct imap_append		*ap;
	struct imap_no			 no;

	if (!imap_command_allowed(cmd->def, s->state)) {
		imap_tagged(s, cmd->tag, "BAD Command not valid in this state.");
		refuse(s);
		return;
	}
	if (cmd->u.append.size == 0) {
		/* Nothing to store, as Dovecot says (a message has a header at least). */
		imap_tagged(s, cmd->tag, "NO Can't save a zero byte message.");
		refuse(s);
		return;
	}
	ap = xcalloc(1, sizeof(*ap));
	if (imap_name_to_folder(cmd->u.append.mailbox, &names, ap->folder, &no) == -1) {
		free(ap);
		imap_tagged(s, cmd->tag, "NO [%s] %s", no.code != NULL ? no.code : "CANNOT", no.text);
		refuse(s);
		return;
	}
	if (parse_flags(ap, &cmd->u.append.flags) == -1) {
		free(ap->keywords);
		free(ap);
		imap_tagged(s, cmd->tag, "BAD Invalid system flag.");
		refuse(s);
		return;
	}
	ap->s = s;
	ap->store = s->env->store;
	ap->maildir = xstrdup(s->maildir);
	ap->date = cmd->u.append.has_date ? cmd->u.append.date : 0;
	crlf_decoder_init(&ap->crlf);
	/* One chunk past the mark: the line reader's largest (a command's size). */
	buf_init(&ap->stage, APPEND_STAGE + s->env->limits.parser.max_command_size + 1);
	buf_init(&ap->writing, APPEND_STAGE + s->env->limits.parser.max_command_size + 1);
	s->append = ap;
	submit(ap, STEP_BEGIN);		/* the session pauses until the temp file exists */
}

/* The command line after the literal came: write what is left and commit. */
int
imap_cmd_append(struct imap_session *s, const struct imap_command *cmd)
{
	struct imap_append	*ap = s->append;
	char			 cr;

	if (ap == NULL) {
		imap_tagged(s, cmd->tag, "BAD APPEND without a message.");
		return -1;
	}
	/* A CR ending the literal is the message's own. */
	buf_append(&ap->stage, &cr, crlf_decode_end(&ap->crlf, &cr));
	free(s->tag);
	s->tag = xstrdup(cmd->tag);
	ap->ended = true;
	if (!ap->job)
		submit(ap, STEP_COMMIT);
	return IMAP_ASYNC;
}

/* The command failed after its literal, or the session goes: nothing is committed. */
void
imap_append_drop(struct imap_session *s)
{
	struct imap_append	*ap = s->append;

	if (ap == NULL)
		return;
	s->append = NULL;
	if (ap->job)
		ap->s = NULL;	/* the job's done frees it */
	else
		append_free(ap);
}
