/*
 * The relay's reading of a remote server's replies (relayd/smtp_reply.c)
 * under random bytes in random read sizes, through lib/linebuf as the
 * client reads them.  Input byte 0: bit 0 reads the first reply as EHLO's.
 * Checks: a finished reply has a code of 200..599 and the class of its
 * status code, text and status stay NUL-terminated within their arrays,
 * no reply exceeds the line bound.
 */
#include "tests/fuzz/fuzzer.h"
#include "lib/linebuf.h"
#include "relayd/smtp_reply.h"

#include <stdlib.h>
#include <string.h>

#define CHECK(x)	do { if (!(x)) abort(); } while (0)

static void
check_reply(const struct smtp_reply *r)
{
	CHECK(r->code >= 200 && r->code <= 599);
	CHECK(memchr(r->text, '\0', sizeof(r->text)) != NULL);
	CHECK(memchr(r->status, '\0', sizeof(r->status)) != NULL);
	CHECK(r->status[0] == '\0' || r->status[0] == '0' + r->code / 100);
	CHECK(r->lines >= 1 && r->lines <= SMTP_REPLY_LINES_MAX);
	for (const char *p = r->text; *p != '\0'; p++)
		CHECK((unsigned char)*p >= 0x20 && *p != 0x7f);
}

FUZZ_BEGIN(data, size)
{
	struct linebuf		*lb = linebuf_new(1024);
	struct smtp_reply	 r;
	bool			 ehlo = size > 0 && (data[0] & 1);

	smtp_reply_begin(&r, ehlo);
	FUZZ_CHUNK(data, size, size > 0 ? data[0] : 0, chunk, chunk_len) {
		size_t	off = 0;

		while (off < chunk_len) {
			enum line_status	 st;
			char			*line;
			size_t			 len;

			off += linebuf_feed(lb, chunk + off, chunk_len - off);
			while ((st = linebuf_next(lb, &line, &len)) != LINE_MORE) {
				enum smtp_reply_step	step = SMTP_REPLY_BAD;

				if (st == LINE_OK)
					step = smtp_reply_line(&r, line, len);
				if (step == SMTP_REPLY_DONE)
					check_reply(&r);
				if (step != SMTP_REPLY_MORE)
					smtp_reply_begin(&r, ehlo = !ehlo);
			}
		}
	}
	linebuf_free(&lb);
}
FUZZ_END
