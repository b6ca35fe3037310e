/*
 * xtext and delivery status notifications (mail/dsn.h).  The report is
 * what Postfix and Exim send, in RFC 3464's words: a short text for
 * people, the machine-readable delivery-status part, then the original
 * message (failures, RET not HDRS, and small enough) or its header.
 */
#include "mail/dsn.h"

#include "lib/base64.h"
#include "lib/buf.h"
#include "mail/mime.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool
xtext_valid(const char *s)
{
	int	 c;

	for (; *s != '\0'; s++) {
		if (*s == '+') {
			if (!isxdigit((unsigned char)s[1]) || !isxdigit((unsigned char)s[2]) ||
			    islower((unsigned char)s[1]) || islower((unsigned char)s[2]))
				return false;
			c = hex_value((unsigned char)s[1]) * 16 + hex_value((unsigned char)s[2]);
			if (c < 32 || c > 126)
				return false;
			s += 2;
		} else if (*s < 33 || *s > 126 || *s == '=')
			return false;
	}
	return true;
}

int
xtext_decode(const char *s, char *out, size_t size)
{
	size_t	n = 0;

	if (!xtext_valid(s) || size == 0)
		return -1;
	for (; *s != '\0' && n + 1 < size; s++, n++) {
		if (*s == '+') {
			out[n] = (char)(hex_value((unsigned char)s[1]) * 16 +
			    hex_value((unsigned char)s[2]));
			s += 2;
		} else {
			out[n] = *s;
		}
	}
	out[n] = '\0';
	return 0;
}

/* The end of the header (the empty line), or the whole message if none. */
static size_t
header_length(const char *msg, size_t len)
{
	if (len > 0 && msg[0] == '\n')
		return 0;
	for (const char *p = msg; (p = memchr(p, '\n', len - (size_t)(p - msg))) != NULL; p++)
		if ((size_t)(p + 1 - msg) < len && p[1] == '\n')
			return (size_t)(p + 1 - msg);
	return len;
}

/* A boundary that occurs nowhere in the returned text. */
static void
choose_boundary(const struct dsn_report *r, size_t returned, char *out, size_t size)
{
	unsigned	n = 0;

	do
		snprintf(out, size, "=_%s/%u/%s", r->id, n++, r->reporting_mta);
	while (returned > 0 && memmem(r->message, returned, out, strlen(out)) != NULL);
}

static void
put(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
put(struct buf *b, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	if (buf_vprintf(b, fmt, ap) == -1)
		abort();	/* the caller's buffer is unbounded enough for a report */
	va_end(ap);
}

static void
human_part(const struct dsn_report *r, struct buf *b)
{
	char	until[MIME_DATE_MAX];

	put(b, "This is the mail system at host %s.\n\n", r->reporting_mta);
	if (r->action == DSN_ACTION_FAILED) {
		put(b, "Your message could not be delivered to one or more recipients.\n"
		    "It is attached below.\n\n");
	} else {
		mime_date_format(r->retry_until, until);
		put(b, "Your message has not been delivered yet to the recipients below.\n"
		    "It will be tried again until %s;\nyou need not send it again.\n\n", until);
	}
	for (size_t i = 0; i < r->nrcpts; i++) {
		const struct dsn_rcpt	*rc = &r->rcpts[i];

		if (rc->remote_mta != NULL)
			put(b, "<%s>: host %s said:\n", rc->address, rc->remote_mta);
		else
			put(b, "<%s>:\n", rc->address);
		put(b, "    %.900s\n", rc->diagnostic != NULL ? rc->diagnostic : rc->status);
	}
}

static void
status_part(const struct dsn_report *r, struct buf *b)
{
	char	date[MIME_DATE_MAX], text[1000];

	put(b, "Reporting-MTA: dns; %s\n", r->reporting_mta);
	if (r->envid != NULL && xtext_decode(r->envid, text, sizeof(text)) == 0)
		put(b, "Original-Envelope-Id: %s\n", text);
	mime_date_format(r->arrival, date);
	put(b, "Arrival-Date: %s\n", date);
	for (size_t i = 0; i < r->nrcpts; i++) {
		const struct dsn_rcpt	*rc = &r->rcpts[i];
		const char		*semi = rc->orcpt != NULL ? strchr(rc->orcpt, ';') : NULL;

		put(b, "\nFinal-Recipient: rfc822; %s\n", rc->address);
		if (semi != NULL && xtext_decode(semi + 1, text, sizeof(text)) == 0)
			put(b, "Original-Recipient: %.*s; %s\n", (int)(semi - rc->orcpt),
			    rc->orcpt, text);
		put(b, "Action: %s\nStatus: %s\n",
		    r->action == DSN_ACTION_FAILED ? "failed" : "delayed", rc->status);
		if (rc->remote_mta != NULL)
			put(b, "Remote-MTA: dns; %s\n", rc->remote_mta);
		if (rc->diagnostic != NULL)
			put(b, "Diagnostic-Code: %s; %.900s\n",
			    rc->remote_mta != NULL ? "smtp" : "x-postroom", rc->diagnostic);
		if (rc->last_attempt != 0) {
			mime_date_format(rc->last_attempt, date);
			put(b, "Last-Attempt-Date: %s\n", date);
		}
		if (r->action == DSN_ACTION_DELAYED) {
			mime_date_format(r->retry_until, date);
			put(b, "Will-Retry-Until: %s\n", date);
		}
	}
}

void
dsn_report_write(const struct dsn_report *r, struct buf *b)
{
	size_t	hdrlen = header_length(r->message, r->message_len);
	bool	whole = r->action == DSN_ACTION_FAILED && r->ret != DSN_RET_HDRS &&
		    r->message_len <= r->return_max;
	size_t	returned = whole ? r->message_len : hdrlen;
	char	boundary[200], date[MIME_DATE_MAX];

	choose_boundary(r, returned, boundary, sizeof(boundary));
	mime_date_format(r->now, date);
	put(b, "From: Mail Delivery System <%s>\n", r->from);
	put(b, "To: <%s>\n", r->to);
	put(b, "Subject: %s\n", r->action == DSN_ACTION_FAILED ?
	    "Undelivered Mail Returned to Sender" : "Delayed Mail (still being retried)");
	put(b, "Date: %s\n", date);
	put(b, "Message-ID: <%s.%s@%s>\n", r->id,
	    r->action == DSN_ACTION_FAILED ? "failed" : "delayed", r->reporting_mta);
	put(b, "Auto-Submitted: auto-replied\n");	/* RFC 3834: no replies to it */
	put(b, "MIME-Version: 1.0\n");
	put(b, "Content-Type: multipart/report; report-type=delivery-status;\n"
	    "\tboundary=\"%s\"\n\n", boundary);
	put(b, "This is a MIME-encapsulated message.\n\n");
	put(b, "--%s\nContent-Description: Notification\n"
	    "Content-Type: text/plain; charset=us-ascii\n\n", boundary);
	human_part(r, b);
	put(b, "\n--%s\nContent-Description: Delivery report\n"
	    "Content-Type: message/delivery-status\n\n", boundary);
	status_part(r, b);
	put(b, "\n--%s\nContent-Description: %s\nContent-Type: %s\n\n", boundary,
	    whole ? "Undelivered Message" : "Message Headers",
	    whole ? "message/rfc822" : "text/rfc822-headers");
	if (buf_append(b, r->message, returned) == -1)
		abort();
	if (returned > 0 && r->message[returned - 1] != '\n')
		put(b, "\n");
	put(b, "\n--%s--\n", boundary);
}
