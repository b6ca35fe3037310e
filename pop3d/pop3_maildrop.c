/*
 * Opening a maildrop at login: the INBOX with the POP3 lock, synced (a
 * rebuild if the index is missing) and its snapshot taken from the index.
 * That can take seconds for a large Maildir without an index, so it runs
 * on a workq thread (like the password check before it), never on the
 * loop that serves every other session of the process.
 */
#include "pop3d/pop3_private.h"

#include "lib/directory.h"
#include "lib/log.h"
#include "lib/xmalloc.h"
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

/* Take the snapshot from the index: no message file is opened. */
static int
load_snapshot(struct pop3_maildrop *md, const char **error_r)
{
	const struct msg_info	*msgs;
	struct mailbox_status	 st;
	size_t			 n;

	if (mailbox_status(md->mb, &st) == -1) {
		*error_r = "mailbox status failed";
		return -1;
	}
	if (mailbox_messages(md->mb, &msgs, &n, error_r) == -1)
		return -1;
	md->uidvalidity = st.uidvalidity;
	/* Messages another client marked \Deleted are still listed (as Dovecot does). */
	md->msgs = msgs;
	md->marks = xcalloc(n + 1, sizeof(*md->marks));
	md->nmsgs = n;
	return 0;
}

int
pop3_maildrop_open(struct store *st, const char *mail_root, const struct dir_user *u,
    struct pop3_maildrop *md)
{
	const char	*error;
	char		*maildir;
	int		 rc;

	memset(md, 0, sizeof(*md));
	maildir = directory_maildir(mail_root, u);
	rc = mailbox_open(st, maildir, "INBOX", MAILBOX_POP3_LOCK, &md->mb, &error);
	free(maildir);
	if (rc == -1) {
		md->result = MAILDROP_CANNOT_OPEN;
		md->code = store_error_code();
		md->error = xstrdup(error);	/* the store's text is this thread's */
		return -1;
	}
	if (load_snapshot(md, &error) == -1) {
		md->result = MAILDROP_UNREADABLE;
		md->error = xstrdup(error);
		mailbox_close(&md->mb);
		return -1;
	}
	/* RETR, LIST, UIDL answer from the snapshot: the index is needed again at QUIT. */
	mailbox_release_index(md->mb);
	md->result = MAILDROP_OK;
	return 0;
}

int
pop3_maildrop_take(struct pop3_session *s, const char *address, struct pop3_maildrop *md)
{
	switch (md->result) {
	case MAILDROP_OK:
		s->mb = md->mb;
		s->msgs = md->msgs;
		s->marks = md->marks;
		s->nmsgs = md->nmsgs;
		s->uidvalidity = md->uidvalidity;
		md->mb = NULL;
		md->msgs = NULL;
		md->marks = NULL;
		return 0;
	case MAILDROP_CANNOT_OPEN:
		if (md->code == STORE_ERR_IN_USE) {
			pop3_reply(s, "-ERR [IN-USE] Mailbox is locked by another POP3 session.");
			break;
		}
		log_warnx("session=%s event=maildrop status=failed user=%s reason=\"%s\"",
		    s->peer->id, address, md->error);
		pop3_reply(s, "-ERR [%s] Cannot open the mailbox.", pop3_store_resp_code(md->code));
		break;
	case MAILDROP_UNREADABLE:
		log_warnx("session=%s event=maildrop status=unreadable user=%s reason=\"%s\"",
		    s->peer->id, address, md->error);
		pop3_reply(s, "-ERR [SYS/TEMP] Cannot read the mailbox.");
		break;
	}
	pop3_bad_command(s);
	return -1;
}

/* The one map from store failures to POP3 response codes (RFC 2449 8.1, RFC 3206). */
const char *
pop3_store_resp_code(enum store_error code)
{
	switch (code) {
	case STORE_ERR_IN_USE:
		return "IN-USE";
	case STORE_ERR_TEMPORARY:
	case STORE_ERR_OVER_QUOTA:
		return "SYS/TEMP";
	default:
		return "SYS/PERM";
	}
}

void
pop3_maildrop_clear(struct pop3_maildrop *md)
{
	mailbox_close(&md->mb);
	md->msgs = NULL;
	xfree(&md->marks);
	xfree(&md->error);
	md->nmsgs = 0;
}
