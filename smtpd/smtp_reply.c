/*
 * Replies, the error counter and rejection logging.  Every reply goes
 * through here, so the max_errors rule lives in one place.
 */
#include "smtpd/smtp_private.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/session.h"

#include <stdarg.h>
#include <stdio.h>

static void
smtp_vreply(struct smtp_session *s, const char *fmt, va_list ap)
{
	/*
	 * The input loop stops taking bytes well before the output buffer
	 * is full, so a failure here means a reply bigger than the room
	 * we keep: a bug.  Closing is the only way to stay honest.
	 */
	if (buf_vprintf(s->out, fmt, ap) == -1 || buf_puts(s->out, "\r\n") == -1) {
		log_warnx("session=%s event=output_full action=close", s->peer->id);
		s->closing = true;
	}
}

void
smtp_reply(struct smtp_session *s, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	smtp_vreply(s, fmt, ap);
	va_end(ap);
}

int
smtp_error(struct smtp_session *s, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	smtp_vreply(s, fmt, ap);
	va_end(ap);
	if (++s->errors >= s->env->max_errors && !s->closing)
		smtp_close(s, "421 4.7.0 %s Error: too many errors", s->env->hostname);
	return -1;
}

/* The last reply of a session: nothing is read after it. */
void
smtp_close(struct smtp_session *s, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	smtp_vreply(s, fmt, ap);
	va_end(ap);
	s->closing = true;
}

void
smtp_log_reject(struct smtp_session *s, const char *what, const char *reason)
{
	char	 q[256], r[256];

	log_info("session=%s event=reject cmd=%s addr=%s helo=%s reason=%s", s->peer->id, what,
	    s->peer->addr, s->helo != NULL ? log_quote(s->helo, q, sizeof(q)) : "-",
	    log_quote(reason, r, sizeof(r)));
}
