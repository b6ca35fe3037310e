/*
 * The handlers by command id and the one dispatcher: the state check
 * (imap_command_allowed()), the commands-before-login bound and the
 * bad-command counter live here, not in the handlers (STYLE.md 4).  Also
 * the small commands: CAPABILITY, LOGOUT, ID, ENABLE,
 * NAMESPACE, STARTTLS.
 */
#include "imapd/imap_private.h"

#include "lib/buf.h"
#include "lib/linebuf.h"
#include "lib/log.h"

#include <string.h>
#include <strings.h>

/*
 * 0: done, or a stream under way; IMAP_ASYNC: a job answers (and counts a
 * failure); -1: the client got a BAD or NO (counted).
 */
typedef int	imap_handler(struct imap_session *s, const struct imap_command *cmd);

static int
cmd_capability(struct imap_session *s, const struct imap_command *cmd)
{
	struct buf	 caps;

	buf_init(&caps, 1024);
	imap_capabilities(s, &caps);
	imap_untagged(s, "CAPABILITY %.*s", (int)buf_len(&caps), buf_head(&caps));
	buf_release(&caps);
	imap_tagged(s, cmd->tag, "OK Capability completed.");
	return 0;
}

static int
cmd_logout(struct imap_session *s, const struct imap_command *cmd)
{
	imap_untagged(s, "BYE Logging out.");
	imap_tagged(s, cmd->tag, "OK Logout completed.");
	s->state = IMAP_STATE_LOGOUT;
	imap_close(s);
	return 0;
}

/* RFC 2971: log what the client says it is, say what we are. */
static int
cmd_id(struct imap_session *s, const struct imap_command *cmd)
{
	const struct imap_strings	*id = &cmd->u.id;
	char				 qn[64], qv[128];
	unsigned			 i;

	for (i = 0; i + 1 < id->n; i += 2) {
		if (strcasecmp(id->v[i], "name") != 0 && strcasecmp(id->v[i], "version") != 0)
			continue;
		log_info("session=%s event=id field=%s value=%s", s->peer->id,
		    log_quote(id->v[i], qn, sizeof(qn)),
		    log_quote(id->v[i + 1] != NULL ? id->v[i + 1] : "NIL", qv, sizeof(qv)));
	}
	imap_untagged(s, "ID (\"name\" \"Postroom\")");
	imap_tagged(s, cmd->tag, "OK ID completed.");
	return 0;
}

/*
 * RFC 5161.  CONDSTORE and QRESYNC are remembered, but ENABLED names
 * only what CAPABILITY advertises, so neither until they are written.
 */
static int
cmd_enable(struct imap_session *s, const struct imap_command *cmd)
{
	const struct imap_strings	*en = &cmd->u.enable;
	unsigned			 i;

	for (i = 0; i < en->n; i++) {
		if (strcasecmp(en->v[i], "CONDSTORE") == 0)
			s->condstore = true;
		else if (strcasecmp(en->v[i], "QRESYNC") == 0)
			s->condstore = s->qresync = true;	/* RFC 7162 3.2.3 */
	}
	imap_untagged(s, "ENABLED");
	imap_tagged(s, cmd->tag, "OK Enabled.");
	return 0;
}

/* One personal namespace, Maildir++'s "." as the hierarchy delimiter. */
static int
cmd_namespace(struct imap_session *s, const struct imap_command *cmd)
{
	imap_untagged(s, "NAMESPACE ((\"\" \".\")) NIL NIL");
	imap_tagged(s, cmd->tag, "OK Namespace completed.");
	return 0;
}

static int
cmd_starttls(struct imap_session *s, const struct imap_command *cmd)
{
	if (s->peer->tls) {
		imap_tagged(s, cmd->tag, "BAD TLS is already active.");
		return -1;
	}
	if (!s->env->tls_available) {
		imap_tagged(s, cmd->tag, "BAD TLS support isn't enabled.");
		return -1;
	}
	imap_tagged(s, cmd->tag, "OK Begin TLS negotiation now.");
	/* Plaintext pipelined after STARTTLS must never be read as commands. */
	linebuf_discard(s->lb);		/* and the host drops what it holds */
	s->want = SESSION_STARTTLS;
	return 0;
}

static imap_handler *const handlers[] = {
	[IMAP_CMD_CAPABILITY]	= cmd_capability,
	[IMAP_CMD_NOOP]		= imap_cmd_noop,
	[IMAP_CMD_CHECK]	= imap_cmd_noop,
	[IMAP_CMD_LOGOUT]	= cmd_logout,
	[IMAP_CMD_ID]		= cmd_id,
	[IMAP_CMD_ENABLE]	= cmd_enable,
	[IMAP_CMD_NAMESPACE]	= cmd_namespace,
	[IMAP_CMD_STARTTLS]	= cmd_starttls,
	[IMAP_CMD_LOGIN]	= imap_cmd_login,
	[IMAP_CMD_AUTHENTICATE]	= imap_cmd_authenticate,
	[IMAP_CMD_SELECT]	= imap_cmd_select,
	[IMAP_CMD_EXAMINE]	= imap_cmd_select,
	[IMAP_CMD_CLOSE]	= imap_cmd_close,
	[IMAP_CMD_UNSELECT]	= imap_cmd_unselect,
	[IMAP_CMD_FETCH]	= imap_cmd_fetch,
	[IMAP_CMD_APPEND]	= imap_cmd_append,
	[IMAP_CMD_SEARCH]	= imap_cmd_search,
	[IMAP_CMD_SORT]		= imap_cmd_search,
	[IMAP_CMD_THREAD]	= imap_cmd_search,
	[IMAP_CMD_IDLE]		= imap_cmd_idle,
	[IMAP_CMD_LIST]		= imap_cmd_folder,
	[IMAP_CMD_LSUB]		= imap_cmd_folder,
	[IMAP_CMD_STATUS]	= imap_cmd_folder,
	[IMAP_CMD_CREATE]	= imap_cmd_folder,
	[IMAP_CMD_DELETE]	= imap_cmd_folder,
	[IMAP_CMD_RENAME]	= imap_cmd_folder,
	[IMAP_CMD_SUBSCRIBE]	= imap_cmd_folder,
	[IMAP_CMD_UNSUBSCRIBE]	= imap_cmd_folder,
	[IMAP_CMD_STORE]	= imap_cmd_store,
	[IMAP_CMD_EXPUNGE]	= imap_cmd_expunge,
	[IMAP_CMD_COPY]		= imap_cmd_copy,
	[IMAP_CMD_MOVE]		= imap_cmd_copy,
};

void
imap_bad_command(struct imap_session *s)
{
	if (++s->bad_commands < s->env->limits.max_errors)
		return;
	log_info("session=%s event=bad_commands count=%u action=close", s->peer->id,
	    s->bad_commands);
	imap_untagged(s, "BYE Too many invalid commands.");
	imap_close(s);
}

static const char *
state_error(const struct imap_session *s, const struct imap_command_def *def)
{
	if (s->state == IMAP_STATE_NOT_AUTH)
		return "BAD Log in first.";
	if (def->states == IMAP_STATE_NOT_AUTH)
		return "BAD Already logged in.";
	if (s->state == IMAP_STATE_AUTH && (def->states & IMAP_STATE_SELECTED))
		return "BAD No mailbox selected.";
	return "BAD Command not valid in this state.";
}

void
imap_dispatch(struct imap_session *s, const struct imap_command *cmd)
{
	const struct imap_command_def	*def = cmd->def;
	imap_handler			*h = NULL;

	if (s->state == IMAP_STATE_NOT_AUTH &&
	    ++s->preauth_commands > s->env->limits.max_commands_before_auth) {
		log_info("session=%s event=bad_commands count=%u action=close reason=\"before login\"",
		    s->peer->id, s->preauth_commands);
		imap_untagged(s, "BYE Too many commands before login.");
		imap_close(s);
		return;
	}
	if ((size_t)def->id < sizeof(handlers) / sizeof(handlers[0]))
		h = handlers[def->id];
	if (!imap_command_allowed(def, s->state))
		imap_tagged(s, cmd->tag, "%s", state_error(s, def));
	else if (h == NULL)
		imap_tagged(s, cmd->tag, "BAD %s is not supported yet.", def->name);
	else {
		switch (h(s, cmd)) {
		case 0:
			s->bad_commands = 0;
			return;
		case IMAP_ASYNC:
			return;
		}
	}
	imap_bad_command(s);
}
