/*
 * ENVELOPE (RFC 3501 7.4.2) as Dovecot prints it, and the IMAP string
 * quoting rules it uses: quoted when possible, a literal for 8-bit bytes,
 * CR/LF or more than four characters needing a backslash; the Subject is
 * written "for humans" (white space runs folded to one space).  Header
 * values are raw: RFC 2047 words are not decoded here.
 */
#include "mail/mime_private.h"

#include "lib/xmalloc.h"

#include <string.h>
#include <strings.h>

static bool
is_lwsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int
append_literal(struct buf *out, const char *s, size_t len)
{
	if (buf_printf(out, "{%zu}\r\n", len) == -1)
		return -1;
	return buf_append(out, s, len);
}

static int
append_quoted(struct buf *out, const char *s)
{
	if (buf_append(out, "\"", 1) == -1)
		return -1;
	for (; *s != '\0'; s++) {
		if ((*s == '"' || *s == '\\') && buf_append(out, "\\", 1) == -1)
			return -1;
		if (buf_append(out, s, 1) == -1)
			return -1;
	}
	return buf_append(out, "\"", 1);
}

int
imap_append_string(struct buf *out, const char *s)
{
	size_t	 i, escapes = 0;

	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] == '"' || s[i] == '\\') {
			if (++escapes > 4)
				return append_literal(out, s, strlen(s));
		} else if (s[i] == '\r' || s[i] == '\n' ||
		    (unsigned char)s[i] >= 0x80) {
			return append_literal(out, s, strlen(s));
		}
	}
	return append_quoted(out, s);
}

/*
 * NIL, or the string without its CRs and LFs (header folding); one that is
 * followed by anything but white space or the end becomes a space, so the
 * words on either side stay apart.
 */
int
imap_append_nstring_nolf(struct buf *out, const char *s)
{
	struct buf	 t;
	int		 ret;

	if (s == NULL)
		return buf_puts(out, "NIL");
	if (strpbrk(s, "\r\n") == NULL)
		return imap_append_string(out, s);
	buf_init(&t, strlen(s) + 1);
	for (; *s != '\0'; s++) {
		if (*s != '\r' && *s != '\n')
			buf_append(&t, s, 1);
		else if (s[1] != '\0' && !is_lwsp(s[1]))
			buf_append(&t, " ", 1);
	}
	buf_append(&t, "", 1);
	ret = imap_append_string(out, buf_head(&t));
	buf_release(&t);
	return ret;
}

/*
 * For display strings (Subject, address names): runs of white space (CR,
 * LF, tab, space) become one space, leading and trailing ones go; if
 * anything had to change, or a character would need escaping, the result
 * is sent as a literal.  (Dovecot's imap_append_string_for_humans.)
 */
int
imap_append_string_for_humans(struct buf *out, const char *s)
{
	struct buf	 t;
	size_t		 i, len = strlen(s);
	bool		 modify = false, sp = false;
	int		 ret;

	for (i = 0; i < len; i++) {
		if (s[i] == '\r' || s[i] == '\n' || s[i] == '\t' ||
		    s[i] == '"' || s[i] == '\\' || (unsigned char)s[i] >= 0x80 ||
		    (s[i] == ' ' && (i == 0 || is_lwsp(s[i - 1]) || i + 1 == len)))
			modify = true;
	}
	if (!modify) {
		if (buf_append(out, "\"", 1) == -1 ||
		    buf_append(out, s, len) == -1)
			return -1;
		return buf_append(out, "\"", 1);
	}
	buf_init(&t, len);
	for (i = 0; i < len; i++) {
		if (is_lwsp(s[i])) {
			sp = buf_len(&t) > 0;
			continue;
		}
		if (sp)
			buf_append(&t, " ", 1);
		sp = false;
		buf_append(&t, &s[i], 1);
	}
	if (buf_len(&t) == 0)
		ret = buf_puts(out, "\"\"");
	else
		ret = append_literal(out, buf_head(&t), buf_len(&t));
	buf_release(&t);
	return ret;
}

/* Address fields that appear twice are joined; for the others the last wins. */
void
mime_envelope_field(struct mime_pool *pool, struct mime_envelope *env,
    const struct mime_header_field *f)
{
	static const char	*const strs[] = {
		"Date", "Subject", "In-Reply-To", "Message-ID",
	};
	static const char	*const addrs[] = {
		"From", "Sender", "Reply-To", "To", "Cc", "Bcc",
	};
	char			**str_slot[4];
	struct mime_address	**addr_slot[6], *list;
	char			*v;
	size_t			 i;

	str_slot[0] = &env->date;
	str_slot[1] = &env->subject;
	str_slot[2] = &env->in_reply_to;
	str_slot[3] = &env->message_id;
	addr_slot[0] = &env->from;
	addr_slot[1] = &env->sender;
	addr_slot[2] = &env->reply_to;
	addr_slot[3] = &env->to;
	addr_slot[4] = &env->cc;
	addr_slot[5] = &env->bcc;
	for (i = 0; i < 4; i++) {
		if (mime_header_is(f, strs[i])) {
			*str_slot[i] = mime_header_value(pool, f);
			return;
		}
	}
	for (i = 0; i < 6; i++) {
		if (mime_header_is(f, addrs[i])) {
			v = mime_header_value(pool, f);
			if ((list = mime_address_parse(pool, v, strlen(v))) == NULL)
				return;
			/* through the tail: many To: lines stay linear */
			if (env->tail[i] == NULL)
				*addr_slot[i] = list;
			else
				env->tail[i]->next = list;
			while (list->next != NULL)
				list = list->next;
			env->tail[i] = list;
			return;
		}
	}
}

static int
write_addresses(struct buf *out, const struct mime_address *a)
{
	if (a == NULL)
		return buf_puts(out, "NIL");
	buf_append(out, "(", 1);
	for (; a != NULL; a = a->next) {
		buf_append(out, "(", 1);
		if (a->name == NULL)
			buf_puts(out, "NIL");
		else
			imap_append_string_for_humans(out, a->name);
		buf_append(out, " ", 1);
		imap_append_nstring_nolf(out, a->route);
		buf_append(out, " ", 1);
		imap_append_nstring_nolf(out, a->mailbox);
		buf_append(out, " ", 1);
		imap_append_nstring_nolf(out, a->domain);
		buf_append(out, ")", 1);
	}
	return buf_append(out, ")", 1);
}

/* The parenthesised ENVELOPE; sender and reply-to default to from. */
int
mime_envelope_write(struct buf *out, const struct mime_envelope *env)
{
	static const struct mime_envelope	 none;

	if (env == NULL)
		env = &none;
	buf_append(out, "(", 1);
	imap_append_nstring_nolf(out, env->date);
	buf_append(out, " ", 1);
	if (env->subject == NULL)
		buf_puts(out, "NIL");
	else
		imap_append_string_for_humans(out, env->subject);
	buf_append(out, " ", 1);
	write_addresses(out, env->from);
	buf_append(out, " ", 1);
	write_addresses(out, env->sender != NULL ? env->sender : env->from);
	buf_append(out, " ", 1);
	write_addresses(out, env->reply_to != NULL ? env->reply_to : env->from);
	buf_append(out, " ", 1);
	write_addresses(out, env->to);
	buf_append(out, " ", 1);
	write_addresses(out, env->cc);
	buf_append(out, " ", 1);
	write_addresses(out, env->bcc);
	buf_append(out, " ", 1);
	imap_append_nstring_nolf(out, env->in_reply_to);
	buf_append(out, " ", 1);
	imap_append_nstring_nolf(out, env->message_id);
	return buf_append(out, ")", 1);
}
