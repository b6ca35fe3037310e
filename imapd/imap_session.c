/*
 * The IMAP session: session_ops and the input loop that feeds the command
 * parser (imap_parser.h) lines and literal bytes.  Commands live in
 * imap_session_commands.c, logins in imap_session_auth.c, SELECT and the
 * view in imap_session_select.c, FETCH in imap_session_fetch.c, IDLE in
 * imap_session_idle.c.  While a
 * login, a mailbox opening, a NOOP's sync or a FETCH batch runs on the
 * workq the session says SESSION_PAUSE and the host holds the input; while
 * a reply streams it takes no input either.
 */
#include "imapd/imap_session.h"
#include "imapd/imap_private.h"

#include "imapd/imap_parser.h"
#include "lib/buf.h"
#include "lib/linebuf.h"
#include "lib/log.h"
#include "lib/xmalloc.h"

#include <stdlib.h>
#include <string.h>

void
imap_env_configure(struct imap_env *env, const struct settings *set)
{
	struct imap_limits	*l = &env->limits;

	l->parser = set->imapd;
	l->max_errors = set->imapd.max_errors;
	l->max_commands_before_auth = set->imapd.max_commands_before_auth;
	l->max_connections_per_user = set->imapd.max_connections_per_user;
	l->idle_timeout_ms = set->imapd.idle_timeout_ms;
	l->preauth_timeout_ms = set->imapd.preauth_timeout_ms;
	l->idle_keepalive_ms = set->imapd.idle_keepalive_ms;
	l->idle_check_interval_ms = set->imapd.idle_check_interval_ms;
	l->names.name_max = set->imapd.max_mailbox_name;
	l->list_match_cells = set->imapd.list_match_cells;
	l->max_list_reply = set->imapd.max_list_reply;
	l->plaintext_auth_loopback = set->lib.plaintext_auth_loopback;
	free(env->mail_root);
	env->mail_root = xstrdup(set->lib.mail_root);
}

void
imap_env_release(struct imap_env *env)
{
	xfree(&env->mail_root);
}

void
imap_close(struct imap_session *s)
{
	s->want = SESSION_CLOSE;
}

bool
imap_plaintext_allowed(const struct imap_session *s)
{
	return s->peer->tls ||
	    (s->peer->loopback && s->env->limits.plaintext_auth_loopback);
}

char *
imap_take_tag(struct imap_session *s)
{
	char	*tag = s->tag;

	s->tag = NULL;
	return tag != NULL ? tag : xstrdup("*");
}

/* Before login a client has shown nothing: it gets the shorter wait. */
void
imap_arm_timeout(struct imap_session *s)
{
	const struct imap_limits	*l = &s->env->limits;
	unsigned long long		 ms = l->idle_timeout_ms;

	if (s->state == IMAP_STATE_NOT_AUTH && l->preauth_timeout_ms > 0 &&
	    l->preauth_timeout_ms < ms)
		ms = l->preauth_timeout_ms;
	session_host_set_timeout(s->host, ms);
}

static enum session_want
imap_want(void *arg)
{
	struct imap_session	*s = arg;

	/* A password check, its delayed answer or a mailbox job is pending. */
	if (s->want == SESSION_READ &&
	    (s->login != NULL || s->delay_pending || s->select_job != NULL ||
	    s->sync_job != NULL || s->fetch_job != NULL || s->body_job != NULL ||
	    s->search_job != NULL || s->folder_job != NULL || s->store_job != NULL ||
	    imap_append_busy(s)))
		return SESSION_PAUSE;
	return s->want;
}

/* May the next command run?  Not while paused, streaming or over the output mark. */
static bool
imap_ready(struct imap_session *s)
{
	return imap_want(s) == SESSION_READ && s->fetch == NULL && s->search == NULL &&
	    !session_host_output_full(s->host);
}

static void
parsed(struct imap_session *s, enum imap_parse st)
{
	const struct imap_parse_error	*e;

	switch (st) {
	case IMAP_PARSE_MORE:
		break;
	case IMAP_PARSE_CONTINUE:
		imap_line(s, "+ OK");
		break;
	case IMAP_PARSE_STREAM:
		imap_append_stream(s);
		break;
	case IMAP_PARSE_COMMAND:
		s->ncommands++;
		imap_dispatch(s, imap_parser_command(s->parser));
		break;
	case IMAP_PARSE_ERROR:
		imap_append_drop(s);	/* bad arguments after its literal */
		e = imap_parser_error(s->parser);
		imap_tagged(s, e->tag, "%s %s", e->status, e->text);
		if (e->close) {
			imap_untagged(s, "BYE Input cannot be resynchronised, closing.");
			imap_close(s);
			return;
		}
		imap_bad_command(s);
		break;
	}
}

/* Hand the parser what the line reader holds: literal bytes while it wants them, else lines. */
static void
drain(struct imap_session *s)
{
	enum line_status	 st;
	const char		*data;
	char			*line;
	size_t			 len, used;
	uint64_t		 left;

	while (imap_ready(s)) {
		if (s->sasl == NULL && imap_parser_wants_literal(s->parser, &left)) {
			len = linebuf_take(s->lb, left < SIZE_MAX ? (size_t)left : SIZE_MAX, &data);
			if (len == 0)
				return;
			for (; len > 0; data += used, len -= used)
				parsed(s, imap_parser_literal(s->parser, data, len, &used));
			continue;
		}
		switch ((st = linebuf_next(s->lb, &line, &len))) {
		case LINE_MORE:
			return;
		case LINE_OK:
		case LINE_BARE_LF:	/* tolerated, as Dovecot does */
			if (s->sasl != NULL)
				imap_auth_line(s, line);
			else if (s->idle_tag != NULL)
				imap_idle_line(s, line);
			else
				parsed(s, imap_parser_line(s->parser, line, len));
			break;
		case LINE_TOO_LONG:
			if (s->idle_tag != NULL) {
				imap_idle_line(s, "");	/* not DONE */
				break;
			}
			imap_auth_abort(s);
			parsed(s, imap_parser_line_too_long(s->parser));
			break;
		case LINE_NUL:
			/* Skipped through its LF: whether it ended in a literal is lost. */
			imap_untagged(s, "BYE NUL byte in command, closing.");
			imap_close(s);
			break;
		}
	}
}

/*
 * Lines go to the reader one at a time, so it never holds input past the
 * command running: when a command pauses, streams or starts TLS, the rest
 * stays with the host, which feeds it again (or, after STARTTLS, throws it
 * away).  Pipelining by corking: the host writes all the replies at once.
 */
static size_t
imap_input(void *arg, const char *data, size_t len)
{
	struct imap_session	*s = arg;
	size_t			 used = 0;

	imap_arm_timeout(s);
	while (used < len && imap_ready(s)) {
		used += linebuf_feed_line(s->lb, data + used, len - used);
		drain(s);
	}
	return used;
}

static void *
imap_open(const struct session_peer *peer, struct buf *out, struct session_host *host, void *arg)
{
	struct imap_session	*s;
	struct imap_env		*env = arg;
	struct buf		 caps;

	s = xcalloc(1, sizeof(*s));
	s->env = env;
	s->peer = peer;
	s->host = host;
	s->out = out;
	/* No line is longer than the command it belongs to. */
	s->lb = linebuf_new((size_t)env->limits.parser.max_command_size);
	s->parser = imap_parser_new(&env->limits.parser);
	s->state = IMAP_STATE_NOT_AUTH;
	s->want = SESSION_READ;
	s->idle_fd = -1;
	buf_init(&caps, 1024);
	imap_capabilities(s, &caps);
	imap_untagged(s, "OK [CAPABILITY %.*s] Postroom ready.", (int)buf_len(&caps),
	    buf_head(&caps));
	buf_release(&caps);
	imap_arm_timeout(s);
	log_info("session=%s event=greeting addr=%s port=%d listener=%s tls=%s",
	    peer->id, peer->addr, peer->port, peer->listener != NULL ? peer->listener : "",
	    peer->tls ? "yes" : "no");
	return s;
}

static void
imap_tls_started(void *arg)
{
	struct imap_session	*s = arg;
	char			 q[128];

	/* RFC 3501 6.2.1: no new greeting; the client asks CAPABILITY again. */
	s->want = SESSION_READ;
	log_info("session=%s event=starttls tls=%s", s->peer->id,
	    log_quote(s->peer->tls_info, q, sizeof(q)));
}

static void
imap_timeout(void *arg)
{
	struct imap_session	*s = arg;

	s->want = SESSION_CLOSE;
	if (s->fetch != NULL || s->search != NULL) {
		/* A BYE inside a FETCH or SEARCH reply (a literal, maybe) would corrupt it. */
		imap_fetch_abort(s);
		imap_search_abort(s);
		return;
	}
	imap_untagged(s, "BYE Disconnected for inactivity.");
}

static void
imap_shutdown(void *arg)
{
	struct imap_session	*s = arg;

	/* Between commands (the host waits for a stream or a job to end). */
	imap_untagged(s, "BYE Server shutting down.");
	imap_close(s);
}

static void
imap_free(void *arg)
{
	struct imap_session	*s = arg;

	if (s == NULL)
		return;
	log_info("session=%s event=summary user=%s commands=%u fetched=%u",
	    s->peer->id, s->address != NULL ? s->address : "-", s->ncommands, s->nfetched);
	imap_idle_stop(s);	/* before the mailbox (and its descriptor) closes */
	imap_fetch_abort(s);
	imap_search_abort(s);
	imap_auth_abort(s);
	imap_auth_orphan(s);
	imap_select_orphan(s);
	imap_sync_orphan(s);
	imap_append_drop(s);
	imap_folder_orphan(s);
	imap_store_orphan(s);
	imap_logout_user(s);
	xfree(&s->view_copy);
	xfree(&s->tag);
	imap_parser_free(&s->parser);
	linebuf_free(&s->lb);
	free(s);
}

const struct session_ops imap_session_ops = {
	.open		= imap_open,
	.input		= imap_input,
	.tls_started	= imap_tls_started,
	.timeout	= imap_timeout,
	.want		= imap_want,
	.free		= imap_free,
	.shutdown	= imap_shutdown,
	.busy_reply	= "* BYE [UNAVAILABLE] Too many connections, try again later.\r\n",
};
