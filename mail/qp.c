/*
 * Quoted-printable bodies (RFC 2045 6.7), decoded as mail readers do: "="
 * at the end of a line (after trailing white space, LF or CRLF) joins the
 * lines, "=XX" is a byte, and any other "=" is kept as it is.
 */
#include "mail/mime.h"

#include "lib/base64.h"
#include "lib/buf.h"

#include <string.h>

/* After "=" at s: the end of a soft line break (past its LF), or NULL. */
static const char *
soft_break(const char *s, const char *end)
{
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	if (s < end && *s == '\r')
		s++;
	if (s == end)
		return s;	/* "=" ends the text: nothing follows */
	return *s == '\n' ? s + 1 : NULL;
}

int
mime_qp_decode(const char *s, size_t len, struct buf *out)
{
	const char	*end, *eq, *next;
	unsigned char	 c;
	int		 hi, lo;

	if (len == 0)
		return 0;	/* s may be an empty buffer's NULL */
	end = s + len;
	while (s < end) {
		eq = memchr(s, '=', (size_t)(end - s));
		if (eq == NULL)
			return buf_append(out, s, (size_t)(end - s));
		if (buf_append(out, s, (size_t)(eq - s)) == -1)
			return -1;
		if ((next = soft_break(eq + 1, end)) != NULL) {
			s = next;
		} else if (end - eq >= 3 && (hi = hex_value((unsigned char)eq[1])) >= 0 &&
		    (lo = hex_value((unsigned char)eq[2])) >= 0) {
			c = (unsigned char)(hi << 4 | lo);
			if (buf_append(out, &c, 1) == -1)
				return -1;
			s = eq + 3;
		} else {
			if (buf_append(out, "=", 1) == -1)
				return -1;
			s = eq + 1;
		}
	}
	return 0;
}
