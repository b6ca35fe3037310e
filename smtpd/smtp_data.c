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
 *
 * Nothing of the message is held in memory: converted bytes are staged
 * (SMTP_STAGE_SIZE) and handed to env->writer, which streams them to the
 * files the commit will publish; only the header section is kept, up to
 * max_header_size, for checks at end of data.  The deadline while a
 * message is read follows min_data_rate (smtp_data_deadline).
 */
#include "smtpd/smtp_private.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/session.h"
#include "mail/crlf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A new message: reset the reading state, open the writer (off the loop). */
void
smtp_data_begin(struct smtp_session *s)
{
	s->wire_size = 0;
	s->oversize = false;
	s->bare_lf = false;
	s->write_failed = false;
	s->in_header = true;
	s->header_bol = true;
	s->data_start_ms = s->env->now_ms();
	buf_reset(&s->stage);
	if (s->preparing != NULL)
		s->open_waiting = true;	/* the file begun at RCPT first */
	else
		smtp_msg_open(s);
}

void
smtp_data_opened(struct smtp_session *s, struct smtp_msg *m, const char *error)
{
	if (s->closing) {
		/* Timed out meanwhile: the transaction is over. */
		smtp_msg_free(&m);
		return;
	}
	s->msg = m;
	if (error != NULL)
		log_warnx("session=%s event=open_failed queueid=%s reason=\"%s\"", s->peer->id,
		    m->queueid, error);
	if (s->state & ST_BDAT) {
		if (error != NULL)
			s->write_failed = true;	/* read the chunks, answer 451 */
		if (s->bdat_left == 0)
			smtp_bdat_feed(s, "", 0);
		return;
	}
	/* No 354 when the message has nowhere to go. */
	if (error != NULL) {
		smtp_log_reject(s, "DATA", "cannot open the message file");
		smtp_error(s, "451 4.3.0 Error: queue file write error");
		return;
	}
	s->mode = MODE_DATA;
	s->dstate = D_BOL;
	session_host_set_timeout(s->host, smtp_data_deadline(s, NULL));
	smtp_reply(s, "354 End data with <CR><LF>.<CR><LF>");
}

/*
 * Postfix's smtpd_min_data_rate: at any moment the time since the message
 * started may not exceed data_timeout + bytes received / rate, and reads
 * may not be more than data_timeout apart.  A drip of one byte a minute is
 * then cut after about data_timeout, whatever its total size.
 */
unsigned long long
smtp_data_deadline(const struct smtp_session *s, bool *rate_r)
{
	unsigned long long	 t = s->env->data_timeout, elapsed, allowed;
	uint64_t		 now;

	if (rate_r != NULL)
		*rate_r = false;
	if (s->env->min_data_rate == 0)
		return t;
	now = s->env->now_ms();
	elapsed = now > s->data_start_ms ? now - s->data_start_ms : 0;
	allowed = t + s->wire_size * 1000 / s->env->min_data_rate;
	if (allowed - (elapsed < allowed ? elapsed : allowed) >= t)
		return t;
	if (rate_r != NULL)
		*rate_r = true;
	return elapsed < allowed ? allowed - elapsed : 1;
}

/* Nothing of this message will be kept: remove its files now, not at the end. */
static void
data_drop(struct smtp_session *s)
{
	if (s->msg->stream != NULL)
		s->msg->writer->discard(s->msg);
	buf_release(&s->stage);
}

static void
data_write(struct smtp_session *s, const char *p, size_t n)
{
	if (s->write_failed || s->msg->writer->write(s->msg, p, n) == 0)
		return;
	log_warnx("session=%s event=write_failed queueid=%s size=%llu", s->peer->id,
	    s->msg->queueid, (unsigned long long)s->msg->size);
	s->write_failed = true;
	data_drop(s);
}

static void
data_flush(struct smtp_session *s)
{
	if (buf_len(&s->stage) > 0)
		data_write(s, buf_head(&s->stage), buf_len(&s->stage));
	buf_reset(&s->stage);
}

/* The header section: bytes up to the first empty line, bounded. */
static void
header_keep(struct smtp_session *s, const char *p, size_t n)
{
	struct smtp_msg	*m = s->msg;
	const char	*q = p, *end = p + n, *lf;
	size_t		 take;

	while (q < end) {
		if (s->header_bol && *q == '\n') {
			s->in_header = false;
			break;
		}
		if ((lf = memchr(q, '\n', (size_t)(end - q))) == NULL) {
			s->header_bol = false;
			q = end;
		} else {
			s->header_bol = true;
			q = lf + 1;
		}
	}
	take = (size_t)(q - p);
	if (take > buf_room(&m->header)) {
		take = buf_room(&m->header);
		m->header_truncated = true;
	}
	if (take > 0 && buf_append(&m->header, p, take) == -1)
		abort();	/* fits: checked above */
}

static void
data_keep(struct smtp_session *s, const char *p, size_t n)
{
	if (s->oversize || s->write_failed || n == 0)
		return;
	if (s->in_header)
		header_keep(s, p, n);
	s->msg->size += n;
	if (buf_len(&s->stage) + n > SMTP_STAGE_SIZE)
		data_flush(s);
	if (n >= SMTP_STAGE_SIZE)
		data_write(s, p, n);
	else if (buf_append(&s->stage, p, n) == -1)
		abort();	/* flushed above: there is room */
}

static void
data_count(struct smtp_session *s, size_t n)
{
	s->wire_size += n;
	if (s->wire_size > s->env->max_message_size && !s->oversize) {
		s->oversize = true;
		data_drop(s);
	}
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
	if (!s->oversize)
		data_flush(s);
	buf_release(&s->stage);
	if (s->oversize) {
		smtp_log_reject(s, what, "message too big");
		smtp_txn_reset(s);
		smtp_error(s, "552 5.3.4 Message size exceeds fixed limit");
	} else if (s->bare_lf && s->env->bare_lf_reject) {
		smtp_log_reject(s, what, "bare LF in message");
		smtp_txn_reset(s);
		smtp_error(s, "550 5.5.2 Error: bare <LF> received");
	} else if (s->write_failed) {
		smtp_log_reject(s, what, "message write failed");
		smtp_txn_reset(s);
		smtp_error(s, "451 4.3.0 Error: queue file write error");
	} else if (s->msg->header_truncated && smtp_policy_checks_from(s)) {
		/* A From: past the kept part must not slip by unchecked. */
		smtp_log_reject(s, what, "header section too large to check From:");
		smtp_txn_reset(s);
		smtp_error(s, "552 5.3.4 Error: header section too large");
	} else if (smtp_policy_check_from(s, (const char *)buf_head(&s->msg->header),
	    buf_len(&s->msg->header), &bad) == -1) {
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

/*
 * How many bytes from p are neither CR nor LF.  memchr over windows: two
 * vectorised scans per line instead of a test per byte (a 1 MB message
 * was 15 instructions a byte here), and a text without CR costs no more
 * than one window past each LF.
 */
static size_t
data_run(const char *p, size_t n)
{
	const char	*cr, *lf;
	size_t		 off, w;

	for (off = 0; off < n; off += w) {
		w = n - off < 512 ? n - off : 512;
		cr = memchr(p + off, '\r', w);
		lf = memchr(p + off, '\n', cr != NULL ? (size_t)(cr - (p + off)) : w);
		if (lf != NULL)
			return (size_t)(lf - p);
		if (cr != NULL)
			return (size_t)(cr - p);
	}
	return n;
}

/* Feed message bytes; returns how many were taken (stops right after the end). */
size_t
smtp_data_feed(struct smtp_session *s, const char *data, size_t len)
{
	size_t	 i = 0, n;
	char	 c;

	while (i < len) {
		if ((s->dstate == D_TEXT || s->dstate == D_BOL_LF ||
		    (s->dstate == D_BOL && data[i] != '.')) &&
		    (n = data_run(data + i, len - i)) > 0) {
			/* Runs of ordinary bytes go in one append. */
			data_keep(s, data + i, n);
			i += n;
			s->dstate = D_TEXT;
			continue;
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
				data_count(s, i);
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
	data_count(s, len);
	return len;
}

void
smtp_bdat_begin(struct smtp_session *s, uint64_t count, bool last)
{
	bool	 first = s->state != ST_BDAT;

	s->state = ST_BDAT;
	s->mode = MODE_BDAT;
	s->bdat_left = count;
	s->bdat_last = last;
	s->bdat_discard = false;
	if (first) {
		/* The chunk is read once the files exist (smtp_data_opened). */
		crlf_decoder_init(&s->bdat_crlf);
		smtp_data_begin(s);
	}
	session_host_set_timeout(s->host, smtp_data_deadline(s, NULL));
	/* A first chunk of 0 bytes ends in smtp_data_opened. */
	if (count == 0 && !first)
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
	/* No message is being read (wrong state): the rate applies to this chunk. */
	s->wire_size = 0;
	s->data_start_ms = s->env->now_ms();
	if (count == 0)
		smtp_bdat_feed(s, "", 0);
}

/* Chunk bytes are binary-exact except CRLF -> LF, even across chunks. */
static void
bdat_keep(struct smtp_session *s, const char *p, size_t n)
{
	char	 out[8192 + 1];
	size_t	 k;

	for (; n > 0; p += k, n -= k) {
		k = n < sizeof(out) - 1 ? n : sizeof(out) - 1;
		data_keep(s, out, crlf_decode(&s->bdat_crlf, p, k, out));
	}
}

size_t
smtp_bdat_feed(struct smtp_session *s, const char *data, size_t len)
{
	size_t	 n = len < s->bdat_left ? len : (size_t)s->bdat_left;
	char	 cr;

	if (!s->bdat_discard) {
		data_count(s, n);
		bdat_keep(s, data, n);
	} else
		s->wire_size += n;
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
		/* A CR ending the last chunk is the message's own. */
		data_keep(s, &cr, crlf_decode_end(&s->bdat_crlf, &cr));
		data_end(s, "BDAT");
	} else
		smtp_reply(s, "250 2.0.0 Ok: %llu octets received",
		    (unsigned long long)s->wire_size);
	return n;
}
