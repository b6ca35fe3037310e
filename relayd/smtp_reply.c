/*
 * relayd/smtp_reply.h.  Every line is "ddd" then ' ', '-' or its end; the
 * first line fixes the code, the last is the one without '-'.
 */
#include "relayd/smtp_reply.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void
smtp_reply_begin(struct smtp_reply *r, bool ehlo)
{
	memset(r, 0, sizeof(*r));
	r->ehlo = ehlo;
}

void
smtp_reply_local(struct smtp_reply *r, int code, const char *status, const char *fmt, ...)
{
	va_list	ap;
	int	n;

	smtp_reply_begin(r, false);
	r->code = code;
	r->lines = 1;
	snprintf(r->status, sizeof(r->status), "%s", status);
	n = snprintf(r->text, sizeof(r->text), "%s ", status);
	va_start(ap, fmt);
	vsnprintf(r->text + n, sizeof(r->text) - (size_t)n, fmt, ap);
	va_end(ap);
}

/* "2yz" to "5yz" (RFC 5321 4.2.1): 1yz is never sent by a server today. */
static int
reply_code(const char *line, size_t len)
{
	if (len < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' ||
	    line[1] > '5' || !isdigit((unsigned char)line[2]))
		return -1;
	return (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
}

/*
 * "c.sss.ddd" at the start of text, c the reply's class (RFC 3463 2);
 * returns its length (0: none).
 */
static size_t
enhanced_status(int code, const char *text, size_t len)
{
	size_t	n = 0, digits;

	if (len < 5 || text[0] != '0' + code / 100 || text[1] != '.')
		return 0;
	n = 2;
	for (int part = 0; part < 2; part++) {
		for (digits = 0; n < len && isdigit((unsigned char)text[n]); n++)
			digits++;
		if (digits == 0 || digits > 3)
			return 0;
		if (part == 0 && (n >= len || text[n++] != '.'))
			return 0;
	}
	return n == len || text[n] == ' ' ? n : 0;
}

static void
append_text(struct smtp_reply *r, const char *text, size_t len)
{
	size_t	used = strlen(r->text), room = sizeof(r->text) - 1 - used;

	if (used > 0 && room >= 2) {
		memcpy(r->text + used, "; ", 2);
		used += 2;
		room -= 2;
	}
	if (len > room)
		len = room;
	/* Kept for logs and bounces: control bytes would break both. */
	for (size_t i = 0; i < len; i++)
		r->text[used + i] = (unsigned char)text[i] < 0x20 ||
		    (unsigned char)text[i] == 0x7f ? '?' : text[i];
	r->text[used + len] = '\0';
}

/* One EHLO line's keyword and parameters (RFC 5321 4.1.1.1: ehlo-line). */
static void
extension(struct smtp_ext *ext, const char *text, size_t len)
{
	char	line[256], *word, *save;

	if (len >= sizeof(line))
		return;		/* no extension we use is that long */
	memcpy(line, text, len);
	line[len] = '\0';
	if ((word = strtok_r(line, " ", &save)) == NULL)
		return;
	if (strcasecmp(word, "STARTTLS") == 0)
		ext->starttls = true;
	else if (strcasecmp(word, "PIPELINING") == 0)
		ext->pipelining = true;
	else if (strcasecmp(word, "8BITMIME") == 0)
		ext->eightbitmime = true;
	else if (strcasecmp(word, "DSN") == 0)
		ext->dsn = true;
	else if (strcasecmp(word, "SMTPUTF8") == 0)
		ext->smtputf8 = true;
	else if (strcasecmp(word, "ENHANCEDSTATUSCODES") == 0)
		ext->enhancedstatuscodes = true;
	else if (strcasecmp(word, "SIZE") == 0) {
		char			*end, *arg = strtok_r(NULL, " ", &save);
		unsigned long long	 max;

		ext->size = true;
		if (arg != NULL && isdigit((unsigned char)arg[0]) &&
		    (max = strtoull(arg, &end, 10), *end == '\0'))
			ext->size_max = max;
	} else if (strcasecmp(word, "AUTH") == 0) {
		while ((word = strtok_r(NULL, " ", &save)) != NULL) {
			if (strcasecmp(word, "PLAIN") == 0)
				ext->auth |= SMTP_AUTH_PLAIN;
			else if (strcasecmp(word, "LOGIN") == 0)
				ext->auth |= SMTP_AUTH_LOGIN;
		}
	}
}

enum smtp_reply_step
smtp_reply_line(struct smtp_reply *r, const char *line, size_t len)
{
	int		 code = reply_code(line, len);
	bool		 last = len == 3 || (len > 3 && line[3] == ' ');
	const char	*text = line + 4;
	size_t		 textlen = len > 4 ? len - 4 : 0, st;

	if (code < 0 || (!last && line[3] != '-'))
		return SMTP_REPLY_BAD;
	if (r->lines > 0 && code != r->code)
		return SMTP_REPLY_BAD;
	if (++r->lines > SMTP_REPLY_LINES_MAX)
		return SMTP_REPLY_BAD;
	r->code = code;
	if (r->ehlo && r->lines > 1)
		extension(&r->ext, text, textlen);
	if (r->lines == 1 && (st = enhanced_status(code, text, textlen)) > 0 &&
	    st < sizeof(r->status)) {
		memcpy(r->status, text, st);
		r->status[st] = '\0';
	}
	/* EHLO's extension lines say nothing a log or a bounce needs. */
	if (!r->ehlo || r->lines == 1)
		append_text(r, text, textlen);
	return last ? SMTP_REPLY_DONE : SMTP_REPLY_MORE;
}
