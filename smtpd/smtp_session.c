/*
 * The SMTP session's life: greeting, the input loop that hands bytes to
 * the command parser or the DATA/BDAT machine, pausing while a commit
 * runs, STARTTLS, timeouts, and the end of a message (Received: header,
 * the commit through smtp_job.c, the 250 or 451 when it is durable).
 */
#include "smtpd/smtp_private.h"
#include "lib/buf.h"
#include "lib/linebuf.h"
#include "lib/log.h"
#include "lib/sasl.h"
#include "lib/session.h"
#include "lib/xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* While a message is read (also between BDAT chunks), min_data_rate applies. */
static bool
smtp_reading_message(const struct smtp_session *s)
{
	return s->mode == MODE_DATA || s->mode == MODE_BDAT || (s->state & ST_BDAT);
}

/* Before EHLO/HELO a client has shown nothing: it gets the shorter wait. */
static void
smtp_arm_timeout(struct smtp_session *s)
{
	unsigned long long	idle = s->env->idle_timeout;

	if (s->helo == NULL && s->env->greeting_timeout > 0 && s->env->greeting_timeout < idle)
		idle = s->env->greeting_timeout;
	session_host_set_timeout(s->host, smtp_reading_message(s) ?
	    smtp_data_deadline(s, NULL) : idle);
}

static void *
smtp_open(const struct session_peer *peer, struct buf *out, struct session_host *host,
    void *arg)
{
	struct smtp_session	*s;

	s = xcalloc(1, sizeof(*s));
	s->env = arg;
	s->peer = peer;
	s->host = host;
	s->out = out;
	s->lb = linebuf_new(s->env->max_line_length);
	buf_init(&s->stage, SMTP_STAGE_SIZE);
	s->state = ST_INIT;
	s->mode = MODE_COMMAND;
	smtp_reply(s, "220 %s ESMTP Postroom", s->env->hostname);
	smtp_arm_timeout(s);
	return s;
}

bool
smtp_auth_allowed(const struct smtp_session *s)
{
	return s->peer->tls || (s->peer->loopback && s->env->plaintext_auth_loopback);
}

/* Submission listeners want AUTH before MAIL (RFC 6409 4.3). */
bool
smtp_auth_required(const struct smtp_session *s)
{
	return s->peer->listener != NULL && strcmp(s->peer->listener, "mx") != 0;
}

/* One complete line (or a reader status) in command or AUTH mode. */
static void
smtp_line(struct smtp_session *s, enum line_status st, char *line)
{
	switch (st) {
	case LINE_OK:
	case LINE_BARE_LF:
		/* Commands ending in a bare LF are accepted: only DATA cares. */
		if (s->mode == MODE_AUTH)
			smtp_auth_line(s, line);
		else
			smtp_dispatch(s, line);
		break;
	case LINE_TOO_LONG:
		if (s->mode == MODE_AUTH)
			smtp_auth_line(s, NULL);
		smtp_log_reject(s, "line", "line too long");
		smtp_error(s, "500 5.5.2 Error: line too long");
		break;
	case LINE_NUL:
		if (s->mode == MODE_AUTH)
			smtp_auth_line(s, NULL);
		smtp_log_reject(s, "line", "NUL in command");
		smtp_error(s, "500 5.5.2 Error: NUL character in command");
		break;
	case LINE_MORE:
		break;
	}
}

/* Stopping: close between commands, never in the middle of a message. */
static void
smtp_stop_if_idle(struct smtp_session *s)
{
	if (s->stopping && !s->closing && s->mode == MODE_COMMAND && s->inflight == NULL &&
	    s->opening == NULL && !s->open_waiting && !s->auth_waiting && s->msg == NULL)
		smtp_close(s, "421 4.3.2 %s Service shutting down", s->env->hostname);
}

static void
smtp_shutdown(void *arg)
{
	struct smtp_session	*s = arg;

	s->stopping = true;
	smtp_stop_if_idle(s);
}

static bool
smtp_runnable(const struct smtp_session *s)
{
	return !s->closing && !s->starttls && s->inflight == NULL && s->opening == NULL &&
	    !s->open_waiting && !s->auth_waiting && !session_host_output_full(s->host);
}

/*
 * Lines are fed to the reader one at a time, so it never holds bytes past
 * the current line: DATA and BDAT then read straight from `data`, and a
 * pause or STARTTLS knows exactly how much was taken.
 */
static size_t
smtp_input(void *arg, const char *data, size_t len)
{
	struct smtp_session	*s = arg;
	enum line_status	 st;
	char			*line;
	size_t			 used = 0, linelen;

	while (used < len && smtp_runnable(s)) {
		if (s->mode == MODE_DATA) {
			used += smtp_data_feed(s, data + used, len - used);
			continue;
		}
		if (s->mode == MODE_BDAT) {
			used += smtp_bdat_feed(s, data + used, len - used);
			continue;
		}
		used += linebuf_feed_line(s->lb, data + used, len - used);
		while (smtp_runnable(s) && s->mode != MODE_DATA && s->mode != MODE_BDAT &&
		    (st = linebuf_next(s->lb, &line, &linelen)) != LINE_MORE)
			smtp_line(s, st, line);
	}
	smtp_stop_if_idle(s);
	smtp_arm_timeout(s);
	/* After the last reply nothing more is read: swallow the rest. */
	return s->closing ? len : used;
}

/* RFC 3207 4.2: forget everything learnt before the handshake. */
static void
smtp_tls_started(void *arg)
{
	struct smtp_session	*s = arg;

	s->starttls = false;
	smtp_txn_reset(s);
	xfree(&s->helo);
	s->esmtp = false;
	s->state = ST_INIT;
	s->mode = MODE_COMMAND;
	linebuf_discard(s->lb);
	smtp_arm_timeout(s);
}

static void
smtp_timeout(void *arg)
{
	struct smtp_session	*s = arg;
	char			 why[128];
	bool			 rate;

	if (smtp_reading_message(s)) {
		smtp_data_deadline(s, &rate);
		snprintf(why, sizeof(why), "%s after %llu bytes in %llu ms",
		    rate ? "data rate below smtpd.min_data_rate" : "data timeout",
		    (unsigned long long)s->wire_size,
		    (unsigned long long)(s->env->now_ms() - s->data_start_ms));
	} else
		snprintf(why, sizeof(why), "idle timeout");
	smtp_log_reject(s, "timeout", why);
	/* The partial message's files go before the client hears the 421. */
	smtp_txn_reset(s);
	smtp_close(s, "421 4.4.2 %s Error: timeout exceeded", s->env->hostname);
}

static enum session_want
smtp_want(void *arg)
{
	struct smtp_session	*s = arg;

	if (s->closing)
		return SESSION_CLOSE;
	if (s->starttls)
		return SESSION_STARTTLS;
	/* Replies piling up unread (output full): the host stops feeding us. */
	if (s->inflight != NULL || s->opening != NULL || s->open_waiting || s->auth_waiting)
		return SESSION_PAUSE;
	return SESSION_READ;
}

static void
smtp_free(void *arg)
{
	struct smtp_session	*s = arg;

	if (s == NULL)
		return;
	log_info("session=%s event=summary commands=%u messages=%u errors=%u auth=%s",
	    s->peer->id, s->ncommands, s->nmessages, s->errors,
	    s->auth_user != NULL ? s->auth_user : "-");
	/* A job in flight finishes on its own and frees the message. */
	if (s->inflight != NULL)
		s->inflight->session = NULL;
	if (s->opening != NULL)
		s->opening->session = NULL;
	smtp_job_prepare_cancel(s);
	smtp_auth_orphan(s);
	smtp_msg_free(&s->msg);
	sasl_free(&s->sasl);
	linebuf_free(&s->lb);
	buf_release(&s->stage);
	free(s->helo);
	free(s->auth_user);
	free(s);
}

void
smtp_msg_free(struct smtp_msg **msgp)
{
	struct smtp_msg	*m = *msgp;
	size_t		 i;

	if (m == NULL)
		return;
	if (m->stream != NULL)
		m->writer->discard(m);	/* never committed: no partial file stays */
	if (m->prepared != NULL)
		m->writer->unprepare(m->prepared);	/* never opened: the same */
	for (i = 0; i < m->nlocal; i++) {
		free(m->local[i].address);
		free(m->local[i].maildir);
	}
	for (i = 0; i < m->nremote; i++) {
		free(m->remote[i].address);
		free(m->remote[i].orcpt);
	}
	free(m->local);
	free(m->remote);
	free(m->sender);
	free(m->envid);
	free(m->auth_user);
	free(m->return_path);
	free(m->received);
	buf_release(&m->header);
	free(m);
	*msgp = NULL;
}

/* Keep only characters that cannot break out of a header or a comment. */
static void
smtp_sanitize(char *dst, size_t size, const char *src)
{
	size_t	 i;

	for (i = 0; src[i] != '\0' && i + 1 < size; i++)
		dst[i] = (src[i] > ' ' && src[i] < 127 && strchr("()\\;\"", src[i]) == NULL) ?
		    src[i] : '_';
	dst[i] = '\0';
}

/* RFC 5321 4.4 trace header; "for" only with a single recipient (privacy). */
static char *
smtp_received(struct smtp_session *s, const struct smtp_msg *m)
{
	char		 helo[256], date[64], tls[128] = "", auth[300] = "", rcpt[300] = "";
	const char	*proto;
	time_t		 t = (time_t)(s->env->now_ms() / 1000);
	struct tm	 tm;

	smtp_sanitize(helo, sizeof(helo), s->helo != NULL ? s->helo : "unknown");
	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	if (s->peer->tls) {
		char	 info[96], *sp;

		smtp_sanitize(info, sizeof(info), s->peer->tls_info);
		sp = strchr(s->peer->tls_info, ' ');
		if (sp != NULL && (size_t)(sp - s->peer->tls_info) < sizeof(info)) {
			info[sp - s->peer->tls_info] = '\0';
			snprintf(tls, sizeof(tls), "\n\t(using %s with cipher %s)", info,
			    info + (sp - s->peer->tls_info) + 1);
		} else
			snprintf(tls, sizeof(tls), "\n\t(using %s)", info);
	}
	if (m->auth_user != NULL) {
		char	 user[256];

		smtp_sanitize(user, sizeof(user), m->auth_user);
		snprintf(auth, sizeof(auth), "\n\t(authenticated user %s)", user);
	}
	if (m->nlocal + m->nremote == 1 && s->nrcpt == 1) {
		char	 r[256];

		smtp_sanitize(r, sizeof(r), m->nlocal == 1 ? m->local[0].address :
		    m->remote[0].address);
		snprintf(rcpt, sizeof(rcpt), "\n\tfor <%s>", r);
	}
	/* RFC 3848 protocol names, with RFC 6531's UTF8 forms. */
	if (!s->esmtp)
		proto = "SMTP";
	else if (s->smtputf8)
		proto = s->peer->tls ? (m->auth_user != NULL ? "UTF8SMTPSA" : "UTF8SMTPS") :
		    (m->auth_user != NULL ? "UTF8SMTPA" : "UTF8SMTP");
	else
		proto = s->peer->tls ? (m->auth_user != NULL ? "ESMTPSA" : "ESMTPS") :
		    (m->auth_user != NULL ? "ESMTPA" : "ESMTP");
	return xasprintf("Received: from %s ([%s])%s%s\n\tby %s (Postroom) with %s id %s%s;"
	    " %s\n", helo, s->peer->addr, tls, auth, s->env->hostname, proto, m->queueid,
	    rcpt, date);
}

void
smtp_msg_open(struct smtp_session *s)
{
	struct smtp_msg	*m = s->msg;

	free(m->return_path);
	free(m->received);
	buf_release(&m->header);
	m->return_path = xasprintf("Return-Path: <%s>\n", m->sender);
	m->received = smtp_received(s, m);
	buf_init(&m->header, s->env->max_header_size);
	m->header_truncated = false;
	m->size = 0;
	s->msg = NULL;		/* the job's until smtp_data_opened */
	smtp_job_open(s, m);
}

/* The message is complete, on disk and acceptable: make it durable, then answer. */
void
smtp_msg_finish(struct smtp_session *s)
{
	struct smtp_msg	*m = s->msg;

	s->msg = NULL;
	s->mode = MODE_COMMAND;
	s->state = ST_READY;
	s->nrcpt = 0;
	smtp_job_commit(s, m);
}

static void
smtp_log_message(struct smtp_session *s, const struct smtp_msg *m, const char *result)
{
	char	 from[300], to[1024], q[300];
	size_t	 i, off = 0;

	to[0] = '\0';
	for (i = 0; i < m->nlocal + m->nremote && off + 2 < sizeof(to); i++)
		off += (size_t)snprintf(to + off, sizeof(to) - off, "%s%s", i > 0 ? "," : "",
		    log_quote(i < m->nlocal ? m->local[i].address :
		    m->remote[i - m->nlocal].address, q, sizeof(q)));
	log_info("session=%s event=message queueid=%s from=<%s> to=%s nlocal=%zu nremote=%zu"
	    " size=%llu tls=%s auth=%s result=%s", s->peer->id, m->queueid,
	    log_quote(m->sender, from, sizeof(from)), to, m->nlocal, m->nremote,
	    (unsigned long long)m->size, s->peer->tls ? "yes" : "no",
	    m->auth_user != NULL ? m->auth_user : "-", result);
}

void
smtp_session_delivered(struct smtp_msg *m, int result, const char *error)
{
	struct smtp_session	*s = m->session;

	if (s == NULL) {
		/* The client left before the answer; the commit stands. */
		log_info("event=message queueid=%s status=%s orphaned=yes", m->queueid,
		    result == 0 ? "stored" : "failed");
		smtp_msg_free(&m);
		return;
	}
	s->inflight = NULL;
	if (result == 0) {
		s->nmessages++;
		smtp_log_message(s, m, "250");
		smtp_reply(s, "250 2.0.0 Ok: queued as %s", m->queueid);
	} else {
		smtp_log_message(s, m, result == SMTP_DELIVERY_FULL ? "452" : "451");
		log_warnx("session=%s event=commit_failed queueid=%s reason=\"%s\"", s->peer->id,
		    m->queueid, error != NULL ? error : "unknown");
		if (result == SMTP_DELIVERY_FULL)
			smtp_error(s, "452 4.2.2 Error: mailbox full");
		else
			smtp_error(s, "451 4.3.0 Error: queue file write error");
	}
	smtp_msg_free(&m);
	smtp_stop_if_idle(s);
	session_host_kick(s->host);
}

const struct session_ops smtp_session_ops = {
	.open		= smtp_open,
	.input		= smtp_input,
	.tls_started	= smtp_tls_started,
	.timeout	= smtp_timeout,
	.want		= smtp_want,
	.free		= smtp_free,
	.shutdown	= smtp_shutdown,
	.busy_reply	= "421 4.7.0 Error: too many connections\r\n",
};
