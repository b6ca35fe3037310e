/*
 * The DATA byte machine and BDAT counted reads.
 *
 * DATA ends ONLY at CRLF "." CRLF.  A line starts only after CRLF: after a
 * bare LF the next byte is ordinary text, so LF.LF, LF.CRLF, CR.CR and
 * friends never end a message (SMTP smuggling).  CRLF becomes LF (Maildir
 * convention); a bare LF is stored as a line end (bare_lf = normalize) or
 * makes the message fail (reject); a bare CR is kept as it is.  The size
 * is enforced while reading: past the limit the bytes are still read (to
 * stay in sync) but not kept, and the answer after the end is 552.
 */
#include "smtpd/smtp_private.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/session.h"

#include <string.h>

void
smtp_data_begin(struct smtp_session *s)
{
	s->mode = MODE_DATA;
	s->dstate = D_BOL;
	s->wire_size = 0;
	s->oversize = false;
	s->bare_lf = false;
	session_host_set_timeout(s->host, s->env->data_timeout);
}

static void
data_keep(struct smtp_session *s, const char *p, size_t n)
{
	if (s->oversize || n == 0)
		return;
	if (buf_append(&s->msg->body, p, n) == -1)
		s->oversize = true;
}

static void
data_bare_lf(struct smtp_session *s)
{
	s->bare_lf = true;
	data_keep(s, "\n", 1);
}

/* The end of a message, DATA or BDAT LAST: accept it or say why not. */
static void
data_end(struct smtp_session *s, const char *what)
{
	const char	*bad = NULL;

	s->mode = MODE_COMMAND;
	if (s->oversize) {
		smtp_log_reject(s, what, "message too big");
		smtp_txn_reset(s);
		smtp_error(s, "552 5.3.4 Message size exceeds fixed limit");
	} else if (s->bare_lf && s->env->bare_lf_reject) {
		smtp_log_reject(s, what, "bare LF in message");
		smtp_txn_reset(s);
		smtp_error(s, "550 5.5.2 Error: bare <LF> received");
	} else if (smtp_policy_check_from(s, (const char *)buf_head(&s->msg->body),
	    buf_len(&s->msg->body), &bad) == -1) {
		smtp_log_reject(s, what, "From: header not owned by the user");
		smtp_txn_reset(s);
		if (bad == NULL)
			smtp_error(s, "550 5.7.1 Error: From: header is not an address list");
		else
			smtp_error(s, "550 5.7.1 <%s>: From: header address not owned by user %s",
			    bad, s->auth_user);
	} else
		smtp_msg_finish(s);
}

/* Feed message bytes; returns how many were taken (stops right after the end). */
size_t
smtp_data_feed(struct smtp_session *s, const char *data, size_t len)
{
	size_t	 i = 0, start;
	char	 c;

	while (i < len) {
		if (s->dstate == D_TEXT || s->dstate == D_BOL || s->dstate == D_BOL_LF) {
			/* Runs of ordinary bytes go in one append. */
			start = i;
			while (i < len && data[i] != '\r' && data[i] != '\n' &&
			    (i > start || s->dstate != D_BOL || data[i] != '.'))
				i++;
			if (i > start) {
				data_keep(s, data + start, i - start);
				s->dstate = D_TEXT;
				continue;
			}
		}
		c = data[i++];
		switch (s->dstate) {
		case D_BOL:
			if (c == '.') {
				s->dstate = D_DOT;
				break;
			}
			/* FALLTHROUGH */
		case D_TEXT:
		case D_BOL_LF:
			if (c == '\r')
				s->dstate = D_CR;
			else {	/* '\n': a bare LF */
				data_bare_lf(s);
				s->dstate = D_BOL_LF;
			}
			break;
		case D_CR:
			if (c == '\n') {
				data_keep(s, "\n", 1);
				s->dstate = D_BOL;
			} else {
				/* A bare CR stays; c is looked at again as text. */
				data_keep(s, "\r", 1);
				s->dstate = D_TEXT;
				i--;
			}
			break;
		case D_DOT:
			/* Dot-unstuffing: the first dot of a line is dropped. */
			if (c == '\r')
				s->dstate = D_DOT_CR;
			else {
				s->dstate = D_TEXT;
				i--;
			}
			break;
		case D_DOT_CR:
			if (c == '\n') {
				s->wire_size += i;
				if (s->wire_size > s->env->max_message_size)
					s->oversize = true;
				data_end(s, "DATA");
				return i;
			}
			/* ".\rX": the dot was stuffing, the CR is text. */
			data_keep(s, "\r", 1);
			s->dstate = D_TEXT;
			i--;
			break;
		}
	}
	s->wire_size += len;
	if (s->wire_size > s->env->max_message_size)
		s->oversize = true;
	return len;
}

void
smtp_bdat_begin(struct smtp_session *s, uint64_t count, bool last)
{
	if (s->state != ST_BDAT) {
		s->wire_size = 0;
		s->oversize = false;
		s->bare_lf = false;
		s->bdat_cr = false;
	}
	s->state = ST_BDAT;
	s->mode = MODE_BDAT;
	s->bdat_left = count;
	s->bdat_last = last;
	s->bdat_discard = false;
	session_host_set_timeout(s->host, s->env->data_timeout);
	if (count == 0)
		smtp_bdat_feed(s, "", 0);
}

/* Read count bytes for nothing, then answer reply (a BDAT out of place). */
void
smtp_bdat_discard(struct smtp_session *s, uint64_t count, const char *reply)
{
	s->mode = MODE_BDAT;
	s->bdat_left = count;
	s->bdat_discard = true;
	s->bdat_reply = reply;
	if (count == 0)
		smtp_bdat_feed(s, "", 0);
}

/* Chunk bytes are binary-exact except CRLF -> LF, even across chunks. */
static void
bdat_keep(struct smtp_session *s, const char *p, size_t n)
{
	const char	*cr;

	if (s->bdat_cr && n > 0) {
		if (p[0] != '\n')
			data_keep(s, "\r", 1);
		s->bdat_cr = false;
	}
	while (n > 0 && (cr = memchr(p, '\r', n)) != NULL) {
		data_keep(s, p, (size_t)(cr - p));
		n -= (size_t)(cr - p) + 1;
		p = cr + 1;
		if (n == 0) {
			s->bdat_cr = true;	/* decided by the next byte */
			return;
		}
		if (*p != '\n')
			data_keep(s, "\r", 1);
	}
	data_keep(s, p, n);
}

size_t
smtp_bdat_feed(struct smtp_session *s, const char *data, size_t len)
{
	size_t	 n = len < s->bdat_left ? len : (size_t)s->bdat_left;

	if (!s->bdat_discard) {
		s->wire_size += n;
		if (s->wire_size > s->env->max_message_size)
			s->oversize = true;
		bdat_keep(s, data, n);
	}
	s->bdat_left -= n;
	if (s->bdat_left > 0)
		return n;
	s->mode = MODE_COMMAND;
	if (s->bdat_discard) {
		s->bdat_discard = false;
		smtp_error(s, "%s", s->bdat_reply);
	} else if (s->oversize) {
		/* RFC 3030 4.2: the transaction fails at once. */
		data_end(s, "BDAT");
	} else if (s->bdat_last) {
		if (s->bdat_cr)
			data_keep(s, "\r", 1);
		s->bdat_cr = false;
		data_end(s, "BDAT");
	} else
		smtp_reply(s, "250 2.0.0 Ok: %llu octets received",
		    (unsigned long long)s->wire_size);
	return n;
}
