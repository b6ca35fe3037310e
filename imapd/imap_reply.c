/*
 * Reply output: tagged and untagged lines, strings as quoted or literal,
 * the capability list.  Replies are short and the input loop stops at the
 * host's high-water mark, so only a host with an absurdly small output
 * buffer fails to take one (the session then closes).
 */
#include "imapd/imap_private.h"

#include "lib/buf.h"
#include "lib/log.h"
#include "store/store.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Longer strings go out as literals: a client reads them without scanning for quotes. */
#define QUOTED_MAX	1024

void
imap_output_full(struct imap_session *s)
{
	if (s->want == SESSION_CLOSE)
		return;
	log_warnx("session=%s event=output_full action=close", s->peer->id);
	s->want = SESSION_CLOSE;
}

static void
vreply(struct imap_session *s, const char *prefix, const char *fmt, va_list ap)
{
	if (buf_puts(s->out, prefix) == -1 || buf_vprintf(s->out, fmt, ap) == -1 ||
	    buf_puts(s->out, "\r\n") == -1)
		imap_output_full(s);
}

void
imap_untagged(struct imap_session *s, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vreply(s, "* ", fmt, ap);
	va_end(ap);
}

void
imap_tagged(struct imap_session *s, const char *tag, const char *fmt, ...)
{
	va_list	 ap;

	if (buf_puts(s->out, tag) == -1 || buf_puts(s->out, " ") == -1) {
		imap_output_full(s);
		return;
	}
	va_start(ap, fmt);
	vreply(s, "", fmt, ap);
	va_end(ap);
}

void
imap_line(struct imap_session *s, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vreply(s, "", fmt, ap);
	va_end(ap);
}

static bool
quotable(const char *str, size_t len)
{
	size_t	 i;

	if (len > QUOTED_MAX)
		return false;
	for (i = 0; i < len; i++) {
		unsigned char	 c = (unsigned char)str[i];

		if (c == '\0' || c == '\r' || c == '\n' || c >= 0x80)
			return false;
	}
	return true;
}

int
imap_put_string(struct buf *b, const char *str, size_t len)
{
	size_t	 i, start = 0;

	if (str == NULL)
		return buf_puts(b, "NIL");
	if (!quotable(str, len)) {
		if (buf_printf(b, "{%zu}\r\n", len) == -1)
			return -1;
		return buf_append(b, str, len);
	}
	if (buf_puts(b, "\"") == -1)
		return -1;
	for (i = 0; i < len; i++) {
		if (str[i] != '"' && str[i] != '\\')
			continue;
		if (buf_append(b, str + start, i - start) == -1 || buf_puts(b, "\\") == -1)
			return -1;
		start = i;	/* the quote or backslash itself goes out with the next run */
	}
	if (buf_append(b, str + start, len - start) == -1)
		return -1;
	return buf_puts(b, "\"");
}

/* Advertise only what is implemented; the list grows as commands land. */
void
imap_capabilities(const struct imap_session *s, struct buf *b)
{
	buf_puts(b, "IMAP4rev1 LITERAL+ SASL-IR ID ENABLE NAMESPACE UNSELECT IDLE UIDPLUS MOVE");
	/* RFC 7889: the largest message APPEND takes. */
	buf_printf(b, " APPENDLIMIT=%llu",
	    (unsigned long long)s->env->limits.parser.max_literal_size);
	buf_puts(b, " ESEARCH SORT THREAD=REFERENCES THREAD=ORDEREDSUBJECT");
	buf_puts(b, " CHILDREN SPECIAL-USE LIST-EXTENDED LIST-STATUS STATUS=SIZE");
	if (s->state != IMAP_STATE_NOT_AUTH)
		return;
	if (s->env->tls_available && !s->peer->tls)
		buf_puts(b, " STARTTLS");
	/* RFC 3501 6.2.3, 7.2.1: no plaintext login where it would be refused. */
	if (imap_plaintext_allowed(s))
		buf_puts(b, " AUTH=PLAIN AUTH=LOGIN");
	else
		buf_puts(b, " LOGINDISABLED");
}

