/*
 * Charset conversion to UTF-8 through glibc's iconv, shared by RFC 2047
 * header words (strict: a word that does not convert stays as written)
 * and text bodies for SEARCH (lenient: search what can be read).
 */
#include "mail/mime.h"

#include "lib/buf.h"

#include <errno.h>
#include <iconv.h>
#include <string.h>
#include <strings.h>

static bool
is_utf8(const char *charset)
{
	return strcasecmp(charset, "utf-8") == 0 || strcasecmp(charset, "us-ascii") == 0 ||
	    strcasecmp(charset, "utf8") == 0 || strcasecmp(charset, "ascii") == 0;
}

int
mime_charset_to_utf8(const char *charset, const char *in, size_t len, bool lenient,
    struct buf *out)
{
	iconv_t		 cd;
	char		*src = (char *)in, *dst, *start;
	size_t		 left = len, room, before = buf_len(out);
	int		 ret = 0;

	if (lenient && is_utf8(charset))
		return buf_append(out, in, len);
	/* strict UTF-8 still goes through iconv: it validates */
	cd = iconv_open("UTF-8", is_utf8(charset) ? "UTF-8" : charset);
	if (cd == (iconv_t)-1)
		return lenient ? buf_append(out, in, len) : -1;
	while (left > 0 && ret == 0) {
		room = left * 4 + 16;
		if ((dst = start = buf_reserve(out, room)) == NULL) {
			ret = -1;
			break;
		}
		if (iconv(cd, &src, &left, &dst, &room) == (size_t)-1 && errno != E2BIG) {
			if (!lenient || room < 3)
				ret = -1;
			else {		/* EILSEQ or EINVAL (truncated): one byte is U+FFFD */
				memcpy(dst, "\xef\xbf\xbd", 3);
				dst += 3;
				src++;
				left--;
			}
		}
		buf_commit(out, (size_t)(dst - start));
	}
	iconv_close(cd);
	if (ret == -1 && !lenient)
		out->len = before;	/* drop the partial conversion */
	return ret;
}
