/*
 * The POP3 session: session_ops, the line loop and the UPDATE state.
 * Commands live in pop3_commands.c, logins in pop3_auth.c, streamed
 * replies in pop3_retr.c.
 */
#include "pop3d/pop3_session.h"
#include "pop3d/pop3_private.h"

#include "lib/buf.h"
#include "lib/linebuf.h"
#include "lib/log.h"
#include "lib/settings.h"
#include "lib/xmalloc.h"
#include "store/store.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * Stop producing output above out->max / POP3_HIGH_WATER_DIV pending; a
 * streamed reply continues on drained().  lib/conn reports DRAINED only
 * when the output falls from above its low-water mark (output_high / 2),
 * so this must not be below that: with the pool defaults (4 MB max, 256 KB
 * high) it is 256 KB.
 */
#define POP3_HIGH_WATER_DIV	16
#define POP3_HIGH_WATER_MIN	4096
#define POP3_HELD_MAX		(64 * 1024)

void
pop3_env_configure(struct pop3_env *env, const struct settings *set)
{
	struct pop3_limits	*l = &env->limits;

	l->max_line_length = set->pop3d.max_line_length;
	l->max_bad_commands = set->pop3d.max_errors;
	l->idle_timeout_ms = set->pop3d.idle_timeout_ms;
	l->preauth_timeout_ms = set->pop3d.preauth_timeout_ms;
	l->max_connections_per_user = set->pop3d.max_connections_per_user;
	l->plaintext_auth_loopback = set->lib.plaintext_auth_loopback;
	l->mark_seen = set->pop3d.mark_seen;
	free(env->mail_root);
	env->mail_root = xstrdup(set->lib.mail_root);
}

void
pop3_env_release(struct pop3_env *env)
{
	size_t	 i;

	for (i = 0; i < env->nusers; i++)
		free(env->users[i].address);
	xfree(&env->users);
	env->nusers = 0;
	xfree(&env->mail_root);
}

void
pop3_reply(struct pop3_session *s, const char *fmt, ...)
{
	va_list	 ap;

	/*
	 * Replies are short and the dispatcher stops below the high-water
	 * mark, so only a host with an absurdly small buffer fails here.
	 */
	va_start(ap, fmt);
	if (buf_vprintf(s->out, fmt, ap) == -1 || buf_puts(s->out, "\r\n") == -1) {
		log_warnx("session=%s event=output_full action=close", s->peer->id);
		s->want = SESSION_CLOSE;
	}
	va_end(ap);
}

void
pop3_close(struct pop3_session *s)
{
	s->want = SESSION_CLOSE;
}

bool
pop3_output_full(const struct pop3_session *s)
{
	return buf_len(s->out) >= s->high_water;
}

bool
pop3_plaintext_allowed(const struct pop3_session *s)
{
	return s->peer->tls ||
	    (s->peer->loopback && s->env->limits.plaintext_auth_loopback);
}

/* One line read (or skipped) by the line reader. */
static void
pop3_line(struct pop3_session *s, enum line_status st, char *line)
{
	switch (st) {
	case LINE_OK:
	case LINE_BARE_LF:	/* harmless in POP3 commands: accept */
		s->ncommands++;
		if (s->sasl != NULL)
			pop3_auth_line(s, line);
		else
			pop3_dispatch(s, line);
		break;
	case LINE_TOO_LONG:
		if (s->sasl != NULL)
			pop3_auth_abort(s);
		pop3_reply(s, "-ERR line too long");
		pop3_bad_command(s);
		break;
	case LINE_NUL:
		if (s->sasl != NULL)
			pop3_auth_abort(s);
		pop3_reply(s, "-ERR NUL byte in command");
		pop3_bad_command(s);
		break;
	case LINE_MORE:
		abort();
	}
}

/* A password check or a failed-login delay is pending: hold all input. */
bool
pop3_blocked(const struct pop3_session *s)
{
	return s->auth_job != NULL || s->delay_pending;
}

/* Through the line reader (which holds one line's worth): feed, run, repeat. */
static size_t
pop3_feed(struct pop3_session *s, const char *data, size_t len)
{
	size_t	 taken = 0, n, pending;

	while (taken < len) {
		n = linebuf_feed(s->lb, data + taken, len - taken);
		taken += n;
		pending = linebuf_pending(s->lb);
		pop3_run(s);
		if (s->want != SESSION_READ || s->stream.kind != STREAM_NONE ||
		    pop3_output_full(s) || pop3_blocked(s) ||
		    (n == 0 && linebuf_pending(s->lb) == pending))
			break;
	}
	return taken;
}

/* Before login a client has shown nothing: it gets the shorter wait. */
static void
pop3_arm_timeout(struct pop3_session *s)
{
	const struct pop3_limits	*l = &s->env->limits;
	unsigned long long		 ms = l->idle_timeout_ms;

	if (s->state == POP3_AUTHORIZATION && l->preauth_timeout_ms > 0 &&
	    l->preauth_timeout_ms < ms)
		ms = l->preauth_timeout_ms;
	session_host_set_timeout(s->host, ms);
}

/*
 * Input held while blocked goes through first, in order.  Called when a
 * block ends (a login checked: the deadline becomes the logged-in one)
 * and on drained(); the host then flushes what was said.
 */
void
pop3_resume(struct pop3_session *s)
{
	size_t	 n;

	if (s->dispatching || pop3_blocked(s))
		return;
	pop3_arm_timeout(s);
	pop3_run(s);
	while (buf_len(&s->held) > 0 && s->want == SESSION_READ && !pop3_blocked(s)) {
		n = pop3_feed(s, buf_head(&s->held), buf_len(&s->held));
		buf_consume(&s->held, n);
		if (s->want == SESSION_STARTTLS)
			buf_reset(&s->held);	/* plaintext after STLS: never commands */
		if (n == 0)
			break;
	}
	if (buf_len(&s->held) == 0)
		buf_release(&s->held);
}

/*
 * Process buffered lines while we may: stop for a streamed reply, for a
 * paused login, for STLS/close, or when the output is over the mark (the
 * rest is processed on drained()).  Pipelining by corking: the host writes
 * everything appended here in one go.
 */
void
pop3_run(struct pop3_session *s)
{
	enum line_status	 st;
	char			*line;
	size_t			 len;

	if (s->dispatching || pop3_blocked(s))
		return;
	if (s->shutting_down && s->stream.kind == STREAM_NONE && s->want == SESSION_READ) {
		pop3_reply(s, "-ERR [SYS/TEMP] Server shutting down.");
		pop3_close(s);
		return;
	}
	s->dispatching = true;
	while (s->want == SESSION_READ && s->stream.kind == STREAM_NONE &&
	    !pop3_output_full(s) && !pop3_blocked(s)) {
		st = linebuf_next(s->lb, &line, &len);
		if (st == LINE_MORE)
			break;
		pop3_line(s, st, line);
	}
	s->dispatching = false;
}

static void *
pop3_open(const struct session_peer *peer, struct buf *out, struct session_host *host, void *arg)
{
	struct pop3_session	*s;
	struct pop3_env		*env = arg;

	s = xcalloc(1, sizeof(*s));
	s->env = env;
	s->peer = peer;
	s->host = host;
	s->out = out;
	s->lb = linebuf_new(env->limits.max_line_length);
	/* Pipelined input while a login is checked: a few commands' worth. */
	buf_init(&s->held, POP3_HELD_MAX);
	s->high_water = out->max / POP3_HIGH_WATER_DIV;
	if (s->high_water < POP3_HIGH_WATER_MIN)
		s->high_water = POP3_HIGH_WATER_MIN;
	s->state = POP3_AUTHORIZATION;
	s->want = SESSION_READ;
	s->stream.fd = -1;
	/* No APOP timestamp: we keep no plaintext-equivalent secrets. */
	pop3_reply(s, "+OK Postroom ready.");
	pop3_arm_timeout(s);
	log_info("session=%s event=greeting addr=%s port=%d listener=%s tls=%s",
	    peer->id, peer->addr, peer->port, peer->listener != NULL ? peer->listener : "",
	    peer->tls ? "yes" : "no");
	return s;
}

static size_t
pop3_input(void *arg, const char *data, size_t len)
{
	struct pop3_session	*s = arg;
	size_t			 taken;

	if (s->want != SESSION_READ)
		return 0;
	pop3_arm_timeout(s);
	/*
	 * Blocked (not PAUSEd, so the host may free us if the peer goes):
	 * keep the input, bounded, and take it all so none is left behind
	 * in the host without a later event to feed it.
	 */
	if (pop3_blocked(s)) {
		if (buf_append(&s->held, data, len) == -1) {
			log_info("session=%s event=input_full action=close", s->peer->id);
			pop3_close(s);
		}
		return len;
	}
	/* Held input first; while some is left (a reply streams) take nothing. */
	pop3_resume(s);
	if (buf_len(&s->held) > 0 || s->want != SESSION_READ)
		return s->want == SESSION_STARTTLS ? len : 0;
	taken = pop3_feed(s, data, len);
	/* After STLS nothing more is taken: the host discards the rest. */
	if (s->want == SESSION_STARTTLS)
		return len;
	return taken;
}

static void
pop3_drained(void *arg)
{
	struct pop3_session	*s = arg;

	/* A client reading a long reply is not idle. */
	pop3_arm_timeout(s);
	if (s->stream.kind != STREAM_NONE && !pop3_stream_continue(s))
		return;
	/* The host feeds the input we refused meanwhile after this returns. */
	pop3_resume(s);
}

static void
pop3_tls_started(void *arg)
{
	struct pop3_session	*s = arg;
	char			 q[128];

	/* RFC 2595 4: back to a fresh AUTHORIZATION state, no new greeting. */
	xfree(&s->user);
	s->want = SESSION_READ;
	log_info("session=%s event=starttls tls=%s", s->peer->id,
	    log_quote(s->peer->tls_info, q, sizeof(q)));
}

static void
pop3_timeout(void *arg)
{
	struct pop3_session	*s = arg;

	/* RFC 1939 3: autologout, no UPDATE, nothing deleted. */
	s->want = SESSION_CLOSE;
	if (s->stream.kind != STREAM_NONE) {
		/* A farewell inside a multi-line reply would corrupt it. */
		pop3_stream_abort(s);
		return;
	}
	pop3_reply(s, "-ERR Disconnected for inactivity.");
}

static void
pop3_shutdown(void *arg)
{
	struct pop3_session	*s = arg;

	/*
	 * Like a timeout: no UPDATE, nothing deleted (RFC 1939 6).  A reply
	 * being streamed is finished first (pop3_run says goodbye then).
	 */
	s->shutting_down = true;
	pop3_run(s);
}

static enum session_want
pop3_want(void *arg)
{
	struct pop3_session	*s = arg;

	return s->want;
}

static void
pop3_free(void *arg)
{
	struct pop3_session	*s = arg;

	if (s == NULL)
		return;
	log_info("session=%s event=summary user=%s commands=%u retr=%u top=%u dele=%u bytes=%llu",
	    s->peer->id, s->address != NULL ? s->address : "-", s->ncommands, s->nretr,
	    s->ntop, s->ndele, (unsigned long long)s->bytes_sent);
	pop3_stream_abort(s);
	pop3_auth_abort(s);
	pop3_auth_orphan(s);
	pop3_logout_user(s);
	xfree(&s->user);
	linebuf_free(&s->lb);
	buf_release(&s->held);
	free(s);
}

/*
 * RFC 1939 6: apply the session's changes.  \Seen first (harmless if the
 * expunge then fails), then the expunge; both are durable on return, so
 * the caller may say +OK.
 */
int
pop3_update(struct pop3_session *s, const char **error_r)
{
	uint32_t	*seen, *gone;
	size_t		 i, nseen = 0, ngone = 0;
	int		 ret = 0;

	seen = xreallocarray(NULL, s->nmsgs + 1, sizeof(*seen));
	gone = xreallocarray(NULL, s->nmsgs + 1, sizeof(*gone));
	for (i = 0; i < s->nmsgs; i++) {
		const struct pop3_msg *m = &s->msgs[i];

		if (m->flags & POP3_MSG_DELETED)
			gone[ngone++] = m->uid;
		else if ((m->flags & (POP3_MSG_RETRIEVED | POP3_MSG_SEEN)) == POP3_MSG_RETRIEVED)
			seen[nseen++] = m->uid;
	}
	if (nseen > 0 && s->env->limits.mark_seen &&
	    mailbox_store_flags(s->mb, seen, nseen, FLAGS_ADD, MSG_SEEN, NULL, error_r) == -1)
		ret = -1;
	if (ret == 0 && ngone > 0 && mailbox_expunge(s->mb, gone, ngone, error_r) == -1)
		ret = -1;
	if (ret == 0)
		log_info("session=%s event=update status=ok user=%s expunged=%zu seen=%zu",
		    s->peer->id, s->address, ngone, nseen);
	free(seen);
	free(gone);
	return ret;
}

const struct session_ops pop3_session_ops = {
	.open		= pop3_open,
	.input		= pop3_input,
	.drained	= pop3_drained,
	.tls_started	= pop3_tls_started,
	.timeout	= pop3_timeout,
	.want		= pop3_want,
	.free		= pop3_free,
	.shutdown	= pop3_shutdown,
	.busy_reply	= "-ERR [SYS/TEMP] Too many connections, try again later.\r\n",
};
