/*
 * The folder commands in the session: LIST, LSUB (with LIST-EXTENDED and
 * LIST-STATUS), STATUS, CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE.
 * The work is imap_folders.c's; every one touches the disk (LIST-STATUS
 * opens each folder), so it runs on the workq with the session paused,
 * on a copy of the command's arguments, its reply lines gathered in a
 * bounded buffer (imapd.max_list_reply) that done() hands to the output.
 */
#include "imapd/imap_private.h"
#include "imapd/imap_folders.h"

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/xmalloc.h"

#include <stdlib.h>
#include <string.h>

struct imap_folder_job {
	struct imap_session	*s;		/* NULL once the session is gone */
	struct store		*store;
	char			*maildir;
	struct imap_name_opts	 names;
	size_t			 match_cells_max;
	struct imap_command	 cmd;		/* a copy: every string below is owned */
	const char		*a, *b;		/* the mailbox names (b: RENAME's to) */
	const char		*reference;
	const char		**patterns;
	/* The outcome. */
	int			 rc;
	struct buf		 out;		/* untagged lines */
	struct imap_no		 no;
	char			*detail;	/* no.detail, copied off the worker's thread */
};

static void
job_free(struct imap_folder_job *job)
{
	unsigned	 i;

	for (i = 0; i < job->cmd.u.list.patterns.n && job->patterns != NULL; i++)
		free((char *)job->patterns[i]);
	free(job->patterns);
	free((char *)job->reference);
	free((char *)job->a);
	free((char *)job->b);
	free(job->maildir);
	free(job->detail);
	buf_release(&job->out);
	free(job);
}

/* The command's strings copied into the job (the parser reuses its own). */
static void
copy_args(struct imap_folder_job *job, const struct imap_command *cmd)
{
	const struct imap_strings	*p = &cmd->u.list.patterns;
	unsigned			 i;

	job->cmd.def = cmd->def;
	switch (cmd->def->id) {
	case IMAP_CMD_LIST:
	case IMAP_CMD_LSUB:
		job->cmd.u.list = cmd->u.list;
		job->reference = xstrdup(cmd->u.list.reference);
		job->patterns = xreallocarray(NULL, p->n + 1, sizeof(*job->patterns));
		for (i = 0; i < p->n; i++)
			job->patterns[i] = xstrdup(p->v[i]);
		job->cmd.u.list.reference = job->reference;
		job->cmd.u.list.patterns.v = job->patterns;
		break;
	case IMAP_CMD_STATUS:
		job->cmd.u.status = cmd->u.status;
		job->a = xstrdup(cmd->u.status.mailbox);
		break;
	case IMAP_CMD_RENAME:
		job->a = xstrdup(cmd->u.rename.from);
		job->b = xstrdup(cmd->u.rename.to);
		break;
	default:
		job->a = xstrdup(cmd->u.mailbox);
		break;
	}
}

/* On a workq thread: touches only the job and the store. */
static void
folder_work(void *arg)
{
	struct imap_folder_job		*job = arg;
	const struct imap_folders	 f = { job->store, job->maildir, &job->names,
					    job->match_cells_max };

	switch (job->cmd.def->id) {
	case IMAP_CMD_LIST:
	case IMAP_CMD_LSUB:
		job->rc = imap_folder_list(&f, &job->cmd, &job->out, &job->no);
		break;
	case IMAP_CMD_STATUS:
		job->rc = imap_folder_status(&f, job->a, job->cmd.u.status.items, &job->out,
		    &job->no);
		break;
	case IMAP_CMD_CREATE:
		job->rc = imap_folder_create(&f, job->a, &job->no);
		break;
	case IMAP_CMD_DELETE:
		job->rc = imap_folder_delete(&f, job->a, &job->no);
		break;
	case IMAP_CMD_RENAME:
		job->rc = imap_folder_rename(&f, job->a, job->b, &job->no);
		break;
	default:
		job->rc = imap_folder_subscribe(&f, job->a,
		    job->cmd.def->id == IMAP_CMD_SUBSCRIBE, &job->no);
		break;
	}
	if (job->rc == -1 && job->no.detail != NULL)
		job->detail = xstrdup(job->no.detail);	/* this thread's text */
}

static void
folder_done(void *arg)
{
	struct imap_folder_job	*job = arg;
	struct imap_session	*s = job->s;
	char			*tag, qn[128];

	if (s == NULL) {
		job_free(job);
		return;
	}
	s->folder_job = NULL;
	tag = imap_take_tag(s);
	if (job->rc == 0) {
		if (buf_append(s->out, buf_head(&job->out), buf_len(&job->out)) == -1)
			imap_output_full(s);
		imap_tagged(s, tag, "OK %s completed.", job->cmd.def->name);
		s->bad_commands = 0;
	} else {
		log_info("session=%s event=folder status=failed command=%s name=%s code=%s reason=\"%s\"",
		    s->peer->id, job->cmd.def->name,
		    log_quote(job->a != NULL ? job->a : "", qn, sizeof(qn)), job->no.code,
		    job->detail != NULL ? job->detail : job->no.text);
		if (job->no.code != NULL)
			imap_tagged(s, tag, "NO [%s] %s.", job->no.code, job->no.text);
		else
			imap_tagged(s, tag, "NO %s.", job->no.text);
		imap_bad_command(s);
	}
	free(tag);
	job_free(job);
	session_host_kick(s->host);
}

/*
 * Is name the selected folder?  DELETE and RENAME of it leave it first
 * (as Dovecot does), so the store never removes a folder held open.
 */
static bool
is_selected(const struct imap_session *s, const char *name)
{
	char		 folder[IMAP_FOLDER_SIZE];
	struct imap_no	 no;

	return s->mb != NULL && s->folder != NULL &&
	    imap_name_to_folder(name, &s->env->limits.names, folder, &no) == 0 &&
	    strcmp(folder, s->folder) == 0;
}

int
imap_cmd_folder(struct imap_session *s, const struct imap_command *cmd)
{
	struct imap_folder_job	*job;

	if (cmd->def->id == IMAP_CMD_STATUS &&
	    (cmd->u.status.items & IMAP_STATUS_HIGHESTMODSEQ) && !s->condstore) {
		/* RFC 7162 3.1.8: HIGHESTMODSEQ only once CONDSTORE is on. */
		imap_tagged(s, cmd->tag, "BAD STATUS HIGHESTMODSEQ needs ENABLE CONDSTORE.");
		return -1;
	}
	if ((cmd->def->id == IMAP_CMD_DELETE && is_selected(s, cmd->u.mailbox)) ||
	    (cmd->def->id == IMAP_CMD_RENAME && is_selected(s, cmd->u.rename.from)))
		imap_unselect(s);
	job = xcalloc(1, sizeof(*job));
	job->s = s;
	job->store = s->env->store;
	job->maildir = xstrdup(s->maildir);
	job->names = s->env->limits.names;
	job->match_cells_max = s->env->limits.list_match_cells;
	buf_init(&job->out, s->env->limits.max_list_reply);
	copy_args(job, cmd);
	free(s->tag);
	s->tag = xstrdup(cmd->tag);
	s->folder_job = job;		/* the session pauses until folder_done */
	session_host_submit(s->host, folder_work, folder_done, job);
	return IMAP_ASYNC;
}

/* The session goes away while a job runs: the job finishes alone. */
void
imap_folder_orphan(struct imap_session *s)
{
	if (s->folder_job == NULL)
		return;
	s->folder_job->s = NULL;
	s->folder_job = NULL;
}
