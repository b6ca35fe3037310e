/*
 * The POP3 session: session_ops and the line loop.  Commands live in
 * pop3_commands.c, logins in pop3_auth.c, streamed replies in
 * pop3_retr.c, QUIT's UPDATE in pop3_update.c.  While a login or an
 * UPDATE runs on the workq the session says SESSION_PAUSE and the host
 * holds the input; while a reply streams it takes no input either.
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
	l->read_ahead = set->pop3d.read_ahead;
	free(env->mail_root);
	env->mail_root = xstrdup(set->lib.mail_root);
}

void
pop3_env_release(struct pop3_env *env)
{
	xfree(&env->mail_root);
}

void
pop3_reply(struct pop3_session *s, const char *fmt, ...)
{
	va_list	 ap;

	/*
	 * Replies are short and the dispatcher stops at the host's high-water
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

/* Before login a client has shown nothing: it gets the shorter wait. */
void
pop3_arm_timeout(struct pop3_session *s)
{
	const struct pop3_limits	*l = &s->env->limits;
	unsigned long long		 ms = l->idle_timeout_ms;

	if (s->state == POP3_AUTHORIZATION && l->preauth_timeout_ms > 0 &&
	    l->preauth_timeout_ms < ms)
		ms = l->preauth_timeout_ms;
	session_host_set_timeout(s->host, ms);
}

static enum session_want
pop3_want(void *arg)
{
	struct pop3_session	*s = arg;

	/*
	 * A password check, its delayed answer, a RETR's lookup or disk read,
	 * or QUIT's UPDATE is pending.
	 */
	if (s->want == SESSION_READ &&
	    (s->login != NULL || s->open_job != NULL || s->delay_pending ||
	    s->update_job != NULL || s->find_job != NULL || s->warm_job != NULL))
		return SESSION_PAUSE;
	return s->want;
}

/* May the next command run?  Not while paused, streaming or over the output mark. */
static bool
pop3_ready(struct pop3_session *s)
{
	return pop3_want(s) == SESSION_READ && !s->stream.active &&
	    !session_host_output_full(s->host);
}

/*
 * Lines go to the reader one at a time, so it never holds a command past
 * the one running: when a command pauses, streams or starts TLS, the rest
 * stays with the host, which feeds it again (or, after STLS, throws it
 * away).  Pipelining by corking: the host writes all the replies at once.
 */
static size_t
pop3_input(void *arg, const char *data, size_t len)
{
	struct pop3_session	*s = arg;
	enum line_status	 st;
	char			*line;
	size_t			 used = 0, linelen;

	pop3_arm_timeout(s);
	while (used < len && pop3_ready(s)) {
		used += linebuf_feed_line(s->lb, data + used, len - used);
		while (pop3_ready(s) && (st = linebuf_next(s->lb, &line, &linelen)) != LINE_MORE)
			pop3_line(s, st, line);
	}
	return used;
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
	s->state = POP3_AUTHORIZATION;
	s->want = SESSION_READ;
	s->stream.msg.fd = -1;
	s->sent_fd = -1;
	buf_init(&s->staged, 2 * POP3_STAGE_MAX + 2);
	/* No APOP timestamp: we keep no plaintext-equivalent secrets. */
	pop3_reply(s, "+OK Postroom ready.");
	pop3_arm_timeout(s);
	log_info("session=%s event=greeting addr=%s port=%d listener=%s tls=%s",
	    peer->id, peer->addr, peer->port, peer->listener != NULL ? peer->listener : "",
	    peer->tls ? "yes" : "no");
	return s;
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
	if (s->stream.active) {
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
	 * Like a timeout: no UPDATE, nothing deleted (RFC 1939 6).  The host
	 * calls this between commands: a streamed reply or a login has ended.
	 */
	pop3_reply(s, "-ERR [SYS/TEMP] Server shutting down.");
	pop3_close(s);
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
	pop3_ahead_drop(s);
	if (s->sent_fd != -1)
		close(s->sent_fd);
	pop3_auth_abort(s);
	pop3_auth_orphan(s);
	pop3_update_orphan(s);
	pop3_find_orphan(s);
	pop3_warm_orphan(s);
	pop3_logout_user(s);
	xfree(&s->user);
	linebuf_free(&s->lb);
	buf_release(&s->staged);
	free(s);
}

static void
pop3_peer_gone(void *arg)
{
	pop3_auth_peer_gone(arg);
}

const struct session_ops pop3_session_ops = {
	.open		= pop3_open,
	.input		= pop3_input,
	.tls_started	= pop3_tls_started,
	.timeout	= pop3_timeout,
	.want		= pop3_want,
	.free		= pop3_free,
	.shutdown	= pop3_shutdown,
	.peer_gone	= pop3_peer_gone,
	.busy_reply	= "-ERR [SYS/TEMP] Too many connections, try again later.\r\n",
};
