/*
 * imapd/imap_fetch_body: the bytes FETCH BODY[section]<partial> and
 * RFC822.* send.  Items are parsed from FETCH command text by the real
 * parser, the message is an (unlinked) file as the store keeps it, and
 * each result is rendered as head + bytes: "BODY[1.2] {4}\r\nhtml".
 * Fills use a small max, so streams cross block edges; a 30 MB message
 * shows that memory stays bounded.
 */
#include "imapd/imap_fetch_body.h"
#include "imapd/imap_command.h"
#include "imapd/imap_parser.h"
#include "lib/buf.h"
#include "lib/settings.h"
#include "lib/xmalloc.h"
#include "mail/mime.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <cmocka.h>

static const struct imapd_settings	defaults = { 1024 * 1024, 35 * 1024 * 1024, 64, 10000 };

static const char	single[] =
	"From: a@example.test\n"
	"Subject: hi\n"
	"\n"
	"line1\n"
	"line2\n";

static const char	multi[] =
	"From: a@example.test\n"
	"To: b@example.test\n"
	"Subject: multi\n"
	"MIME-Version: 1.0\n"
	"Content-Type: multipart/mixed; boundary=\"outer\"\n"
	"\n"
	"preamble\n"
	"--outer\n"
	"Content-Type: multipart/alternative; boundary=\"inner\"\n"
	"\n"
	"--inner\n"
	"Content-Type: text/plain\n"
	"\n"
	"plain text\n"
	"--inner\n"
	"Content-Type: text/html\n"
	"\n"
	"<p>html</p>\n"
	"--inner--\n"
	"--outer\n"
	"Content-Type: message/rfc822\n"
	"\n"
	"From: c@example.test\n"
	"Subject: attached\n"
	"Content-Type: text/plain\n"
	"\n"
	"attached body\n"
	"--outer--\n"
	"epilogue\n";

static int
file_of(const char *data, size_t len)
{
	char	 path[] = "/tmp/test_imap_fetch_body.XXXXXX";
	size_t	 off = 0;
	ssize_t	 n;
	int	 fd;

	fd = mkstemp(path);
	assert_true(fd != -1);
	unlink(path);
	for (; off < len; off += (size_t)n)
		assert_true((n = write(fd, data + off, len - off)) > 0);
	return fd;
}

/* The store's RFC822.SIZE: every LF without a CR before it counts 2. */
static uint64_t
crlf_size(const char *d, size_t len)
{
	uint64_t	 n = len;
	size_t		 i;

	for (i = 0; i < len; i++)
		n += d[i] == '\n' && (i == 0 || d[i - 1] != '\r');
	return n;
}

/* The wire form, byte by byte (the reference the streams must match). */
static char *
wire_of(const char *d, size_t len, size_t *len_r)
{
	char	*w = xmalloc(2 * len + 1);
	size_t	 i, o = 0;

	for (i = 0; i < len; i++) {
		if (d[i] == '\n' && (i == 0 || d[i - 1] != '\r'))
			w[o++] = '\r';
		w[o++] = d[i] == '\0' ? (char)0x80 : d[i];
	}
	*len_r = o;
	return w;
}

/*
 * Fetch att from fd into got (head, then bytes), max bytes a fill;
 * checks that each fill stays within max and the bytes match the head's n.
 */
static void
fetch_att(int fd, uint64_t size, const struct imap_fetch_att *att, size_t max,
    struct imap_body_resume *res, struct buf *got)
{
	struct imap_fetch_body	 fb;
	struct buf		 chunk;
	const char		*error;
	size_t			 start;
	int			 r;

	assert_int_equal(imap_fetch_body_begin(&fb, att, fd, size, res, &error), 0);
	assert_int_equal(imap_fetch_body_head(&fb, got), 0);
	start = buf_len(got);
	buf_init(&chunk, max);
	do {
		r = imap_fetch_body_fill(&fb, &chunk, max);
		assert_true(r != -1);
		assert_true(buf_len(&chunk) <= max);
		assert_int_equal(buf_append(got, buf_head(&chunk), buf_len(&chunk)), 0);
		buf_reset(&chunk);
	} while (r == 0);
	buf_release(&chunk);
	assert_int_equal(buf_len(got) - start, imap_fetch_body_size(&fb));
}

/* The item of "a FETCH 1 (<item>)", through the real parser. */
static void
fetch(int fd, uint64_t size, const char *item, size_t max, struct imap_body_resume *res,
    struct buf *got)
{
	struct imap_parser		*p = imap_parser_new(&defaults);
	const struct imap_command	*cmd;
	char				 line[512];
	int				 n;

	n = snprintf(line, sizeof(line), "a FETCH 1 (%s)", item);
	assert_int_equal(imap_parser_line(p, line, (size_t)n), IMAP_PARSE_COMMAND);
	cmd = imap_parser_command(p);
	assert_int_equal(cmd->u.fetch.natts, 1);
	fetch_att(fd, size, &cmd->u.fetch.atts[0], max, res, got);
	imap_parser_free(&p);
}

/*
 * item of the stored message msg gives the head "name {n}\r\n" and then
 * the n bytes of want, at several fill sizes.
 */
static void
check_msg(const char *msg, size_t len, const char *item, const char *name, const char *want,
    size_t wantlen)
{
	static const size_t	 maxes[] = { IMAP_FETCH_BODY_MIN_FILL, IMAP_FETCH_BODY_MIN_FILL + 1,
	    4099, 256 * 1024 };
	struct buf		 got, exp;
	size_t			 i;
	int			 fd = file_of(msg, len);

	buf_init(&exp, 1 << 20);
	assert_int_equal(buf_printf(&exp, "%s {%zu}\r\n", name, wantlen), 0);
	assert_int_equal(buf_append(&exp, want, wantlen), 0);
	for (i = 0; i < sizeof(maxes) / sizeof(maxes[0]); i++) {
		buf_init(&got, 1 << 20);
		fetch(fd, crlf_size(msg, len), item, maxes[i], NULL, &got);
		if (buf_len(&got) != buf_len(&exp) ||
		    memcmp(buf_head(&got), buf_head(&exp), buf_len(&exp)) != 0)
			fail_msg("%s (max %zu)\n  want: %.*s\n  got:  %.*s", item, maxes[i],
			    (int)buf_len(&exp), buf_head(&exp), (int)buf_len(&got), buf_head(&got));
		buf_release(&got);
	}
	buf_release(&exp);
	close(fd);
}

static void
check(const char *msg, const char *item, const char *name, const char *want)
{
	check_msg(msg, strlen(msg), item, name, want, strlen(want));
}

static void
test_single_part(void **state)
{
	(void)state;
	check(single, "BODY[]", "BODY[]", "From: a@example.test\r\nSubject: hi\r\n\r\n"
	    "line1\r\nline2\r\n");
	check(single, "RFC822", "RFC822", "From: a@example.test\r\nSubject: hi\r\n\r\n"
	    "line1\r\nline2\r\n");
	check(single, "BODY.PEEK[HEADER]", "BODY[HEADER]", "From: a@example.test\r\n"
	    "Subject: hi\r\n\r\n");
	check(single, "RFC822.HEADER", "RFC822.HEADER", "From: a@example.test\r\n"
	    "Subject: hi\r\n\r\n");
	check(single, "body[text]", "BODY[TEXT]", "line1\r\nline2\r\n");
	check(single, "RFC822.TEXT", "RFC822.TEXT", "line1\r\nline2\r\n");
	/* a leaf is its own part 1; its MIME header is the message's header */
	check(single, "BODY[1]", "BODY[1]", "line1\r\nline2\r\n");
	check(single, "BODY[1.MIME]", "BODY[1.MIME]", "From: a@example.test\r\n"
	    "Subject: hi\r\n\r\n");
	/* parts that do not exist, HEADER/TEXT of a part that is no message: "" */
	check(single, "BODY[2]", "BODY[2]", "");
	check(single, "BODY[1.1]", "BODY[1.1]", "");
	check(single, "BODY[1.HEADER]", "BODY[1.HEADER]", "");
	check(single, "BODY[1.TEXT]", "BODY[1.TEXT]", "");
}

static void
test_multipart(void **state)
{
	(void)state;
	/* the close-delimiter's line end stays in the multipart's body (Dovecot's sizes) */
	check(multi, "BODY[1]", "BODY[1]", "--inner\r\nContent-Type: text/plain\r\n\r\n"
	    "plain text\r\n--inner\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--inner--\r\n");
	check(multi, "BODY[1.1]", "BODY[1.1]", "plain text");
	check(multi, "BODY[1.2]", "BODY[1.2]", "<p>html</p>");
	check(multi, "BODY[1.2.MIME]", "BODY[1.2.MIME]", "Content-Type: text/html\r\n\r\n");
	check(multi, "BODY[1.MIME]", "BODY[1.MIME]",
	    "Content-Type: multipart/alternative; boundary=\"inner\"\r\n\r\n");
	check(multi, "BODY[2.MIME]", "BODY[2.MIME]", "Content-Type: message/rfc822\r\n\r\n");
	check(multi, "BODY[2]", "BODY[2]", "From: c@example.test\r\nSubject: attached\r\n"
	    "Content-Type: text/plain\r\n\r\nattached body");
	check(multi, "BODY[2.HEADER]", "BODY[2.HEADER]", "From: c@example.test\r\n"
	    "Subject: attached\r\nContent-Type: text/plain\r\n\r\n");
	check(multi, "BODY[2.TEXT]", "BODY[2.TEXT]", "attached body");
	check(multi, "BODY[2.1]", "BODY[2.1]", "attached body");
	check(multi, "BODY[2.1.MIME]", "BODY[2.1.MIME]", "From: c@example.test\r\n"
	    "Subject: attached\r\nContent-Type: text/plain\r\n\r\n");
	check(multi, "BODY[2.HEADER.FIELDS (subject)]",
	    "BODY[2.HEADER.FIELDS (SUBJECT)]", "Subject: attached\r\n\r\n");
	check(multi, "BODY[3]", "BODY[3]", "");
	check(multi, "BODY[1.3]", "BODY[1.3]", "");
	check(multi, "BODY[1.HEADER]", "BODY[1.HEADER]", "");
	/* a leaf reached by its number is its own part 1, with nothing inside (Dovecot) */
	check(multi, "BODY[1.1.1]", "BODY[1.1.1]", "plain text");
	check(multi, "BODY[1.1.2]", "BODY[1.1.2]", "");
	check(multi, "BODY[1.1.1.1]", "BODY[1.1.1.1]", "");
	check(multi, "BODY[TEXT]<0.17>", "BODY[TEXT]<0>", "preamble\r\n--outer");
	check(multi, "BODY[HEADER.FIELDS (To From)]",
	    "BODY[HEADER.FIELDS (TO FROM)]", "From: a@example.test\r\nTo: b@example.test\r\n"
	    "\r\n");
}

/* Stored CRLF stays CRLF, bare CR passes, a last line without LF gets none, NUL is 0x80. */
static void
test_line_ends(void **state)
{
	static const char	 mixed[] = "A: 1\r\nB: 2\n\r\nx\ry\r\n\nz\0w\nlast";

	(void)state;
	check_msg(mixed, sizeof(mixed) - 1, "BODY[]", "BODY[]",
	    "A: 1\r\nB: 2\r\n\r\nx\ry\r\n\r\nz\x80w\r\nlast", 30);
	check_msg(mixed, sizeof(mixed) - 1, "BODY[HEADER]", "BODY[HEADER]",
	    "A: 1\r\nB: 2\r\n\r\n", 14);
	check_msg(mixed, sizeof(mixed) - 1, "BODY[TEXT]", "BODY[TEXT]",
	    "x\ry\r\n\r\nz\x80w\r\nlast", 16);
	/* a header that is only the empty line; a message that is only a header */
	check("\nbody\n", "BODY[HEADER]", "BODY[HEADER]", "\r\n");
	check("\nbody\n", "BODY[TEXT]", "BODY[TEXT]", "body\r\n");
	check("A: 1\nB: 2", "BODY[HEADER]", "BODY[HEADER]", "A: 1\r\nB: 2");
	check("A: 1\nB: 2", "BODY[TEXT]", "BODY[TEXT]", "");
	check("", "BODY[]", "BODY[]", "");
	check("", "BODY[1]", "BODY[1]", "");
	/* a part that is only its empty line: "" (Dovecot), but not the message's */
	check("Content-Type: multipart/mixed; boundary=b\n\n--b\n\n--b--\n", "BODY[1.MIME]",
	    "BODY[1.MIME]", "");
	check("\n", "BODY[1.MIME]", "BODY[1.MIME]", "\r\n");
}

/* Every <offset.count> of every section is that slice of the section's whole bytes. */
static void
test_partial_edges(void **state)
{
	static const char *const sections[] = { "", "HEADER", "TEXT", "1", "1.2", "1.2.MIME",
	    "2.HEADER", "HEADER.FIELDS (SUBJECT FROM)", "HEADER.FIELDS.NOT (subject)" };
	static const uint32_t	 counts[] = { 1, 2, 3, 17, 1000 };
	struct buf		 whole, got;
	char			 item[128], want[2048];
	const char		*body;
	size_t			 s, c, n, wn;
	uint32_t		 off;
	int			 fd = file_of(multi, strlen(multi));

	(void)state;
	for (s = 0; s < sizeof(sections) / sizeof(sections[0]); s++) {
		buf_init(&whole, 1 << 20);
		snprintf(item, sizeof(item), "BODY[%s]", sections[s]);
		fetch(fd, crlf_size(multi, strlen(multi)), item, 1024, NULL, &whole);
		body = strstr(buf_head(&whole), "}\r\n") + 3;
		n = buf_len(&whole) - (size_t)(body - buf_head(&whole));
		for (off = 0; off <= n + 2; off++) {
			for (c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
				snprintf(item, sizeof(item), "BODY.PEEK[%s]<%u.%u>", sections[s], off,
				    counts[c]);
				wn = off >= n ? 0 : n - off < counts[c] ? n - off : counts[c];
				snprintf(want, sizeof(want), "BODY[%.*s]<%u> {%zu}\r\n%.*s",
				    (int)(strchr(buf_head(&whole), ']') - buf_head(&whole) - 5),
				    buf_head(&whole) + 5, off, wn, (int)wn, body + (off < n ? off : 0));
				buf_init(&got, 1 << 20);
				fetch(fd, crlf_size(multi, strlen(multi)), item, 1024, NULL, &got);
				if (buf_len(&got) != strlen(want) ||
				    memcmp(buf_head(&got), want, strlen(want)) != 0)
					fail_msg("%s\n  want: %s\n  got:  %.*s", item, want,
					    (int)buf_len(&got), buf_head(&got));
				buf_release(&got);
			}
		}
		buf_release(&whole);
	}
	close(fd);
}

/* The parser refuses <n.0>; an att with count 0 still gives an empty literal. */
static void
test_partial_count_zero(void **state)
{
	struct imap_fetch_att	 att = { .item = IMAP_FETCH_BODY_SECTION, .partial = true,
	    .offset = 3, .count = 0 };
	struct buf		 got;
	int			 fd = file_of(single, strlen(single));

	(void)state;
	buf_init(&got, 1024);
	fetch_att(fd, crlf_size(single, strlen(single)), &att, 1024, NULL, &got);
	assert_int_equal(buf_len(&got), strlen("BODY[]<3> {0}\r\n"));
	assert_memory_equal(buf_head(&got), "BODY[]<3> {0}\r\n", buf_len(&got));
	buf_release(&got);
	close(fd);
}

static const char	fields_msg[] =
	"Received: from x\n"
	"\tby y\n"
	"subject: one\n"
	" two\n"
	"X-Long: a\n"
	"FROM: a@example.test\n"
	"Subject : spaced\n"
	"no colon line\n"
	"To:\n"
	"\n"
	"Subject: in the body\n";

static void
test_header_fields(void **state)
{
	(void)state;
	/* names any case; folded lines go with their field; "Subject :" is Subject */
	check(fields_msg, "BODY[HEADER.FIELDS (Subject)]",
	    "BODY[HEADER.FIELDS (SUBJECT)]", "subject: one\r\n two\r\nSubject : spaced\r\n\r\n");
	check(fields_msg, "BODY[HEADER.FIELDS (from RECEIVED)]",
	    "BODY[HEADER.FIELDS (FROM RECEIVED)]", "Received: from x\r\n\tby y\r\n"
	    "FROM: a@example.test\r\n\r\n");
	check(fields_msg, "BODY[HEADER.FIELDS.NOT (subject received from x-long)]",
	    "BODY[HEADER.FIELDS.NOT (SUBJECT RECEIVED FROM X-LONG)]", "no colon line\r\n"
	    "To:\r\n\r\n");
	check(fields_msg, "BODY[HEADER.FIELDS (Cc)]", "BODY[HEADER.FIELDS (CC)]", "\r\n");
	check(fields_msg, "BODY[HEADER.FIELDS (\"to\" \"a b\" \"q\\\"\")]",
	    "BODY[HEADER.FIELDS (TO \"A B\" \"Q\\\"\")]", "To:\r\n\r\n");
	check(fields_msg, "BODY[HEADER.FIELDS (to)]<3.100>",
	    "BODY[HEADER.FIELDS (TO)]<3>", "\r\n\r\n");
	/*
	 * A header without its empty line: the message's HEADER.FIELDS gets
	 * one and its last field its line end, the rest ends as the bytes do
	 * (Dovecot: a cache of header lines, or a filter over the bytes).
	 */
	check("A: 1\nB: 2\nC", "BODY[HEADER.FIELDS (B)]", "BODY[HEADER.FIELDS (B)]",
	    "B: 2\r\n\r\n");
	check("A: 1\nB: 2\nC", "BODY[HEADER.FIELDS.NOT (B)]",
	    "BODY[HEADER.FIELDS.NOT (B)]", "A: 1\r\nC");
	check("A: 1\nB: 2", "BODY[HEADER.FIELDS (B)]", "BODY[HEADER.FIELDS (B)]",
	    "B: 2\r\n\r\n");
	check("Content-Type: message/rfc822\n\nA: 1\nB: 2", "BODY[1.HEADER.FIELDS (B)]",
	    "BODY[1.HEADER.FIELDS (B)]", "B: 2");
	check("Content-Type: message/rfc822\n\n", "BODY[1.HEADER.FIELDS (B)]",
	    "BODY[1.HEADER.FIELDS (B)]", "");
	check("A: 1\nB: 2\r", "BODY[HEADER.FIELDS (B)]", "BODY[HEADER.FIELDS (B)]",
	    "B: 2\r\r\n\r\n");
	check("A: 1", "BODY[HEADER.FIELDS (B)]", "BODY[HEADER.FIELDS (B)]", "\r\n");
	check("", "BODY[HEADER.FIELDS (B)]", "BODY[HEADER.FIELDS (B)]", "\r\n");
}

/* A field name longer than the filter holds matches no name asked for, and is kept whole. */
static void
test_header_fields_long_name(void **state)
{
	char	 msg[2048], want[2048];
	char	 name[600];

	(void)state;
	memset(name, 'N', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	snprintf(msg, sizeof(msg), "%s: v\nA: 1\n\nbody\n", name);
	snprintf(want, sizeof(want), "%s: v\r\n\r\n", name);
	check(msg, "BODY[HEADER.FIELDS.NOT (A)]", "BODY[HEADER.FIELDS.NOT (A)]", want);
	check(msg, "BODY[HEADER.FIELDS (A)]", "BODY[HEADER.FIELDS (A)]", "A: 1\r\n\r\n");
}

/*
 * Pseudo-random messages of header-ish bytes: every section's literal is
 * as long as its head says (fetch_att checks), the header's end is
 * mime_parse's, and BODY[] is the byte-by-byte wire form.
 */
static void
test_random_messages(void **state)
{
	static const char	 alphabet[] = "ab: \t\r\n\n\n-";
	static const char *const items[] = { "BODY[]", "BODY[HEADER]", "BODY[TEXT]", "BODY[1]",
	    "BODY[1.MIME]", "BODY[2]", "BODY[HEADER.FIELDS (a b)]", "BODY[HEADER.FIELDS.NOT (a)]",
	    "BODY[]<5.7>", "BODY[TEXT]<1.3>" };
	struct mime_message	*m;
	struct buf		 got;
	uint32_t		 seed = 1;
	char			 msg[300], *w;
	size_t			 len, i, k, wn;
	int			 fd, round;

	(void)state;
	for (round = 0; round < 500; round++) {
		len = (size_t)(round % 290);
		for (i = 0; i < len; i++) {
			seed = seed * 1103515245u + 12345u;
			msg[i] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
		}
		fd = file_of(msg, len);
		for (k = 0; k < sizeof(items) / sizeof(items[0]); k++) {
			buf_init(&got, 1 << 20);
			fetch(fd, crlf_size(msg, len), items[k], IMAP_FETCH_BODY_MIN_FILL, NULL, &got);
			buf_release(&got);
		}
		m = mime_parse(msg, len);
		buf_init(&got, 1 << 20);
		fetch(fd, crlf_size(msg, len), "BODY[HEADER]", IMAP_FETCH_BODY_MIN_FILL, NULL, &got);
		assert_int_equal(buf_len(&got) - (size_t)(strstr(buf_head(&got), "}\r\n") + 3 -
		    buf_head(&got)), m->root.header_vsize);
		buf_release(&got);
		mime_message_free(&m);
		w = wire_of(msg, len, &wn);
		buf_init(&got, 1 << 20);
		fetch(fd, crlf_size(msg, len), "BODY[]", IMAP_FETCH_BODY_MIN_FILL, NULL, &got);
		assert_memory_equal(strstr(buf_head(&got), "}\r\n") + 3, w, wn);
		buf_release(&got);
		free(w);
		close(fd);
	}
}

/* A file shorter than the size the index gave: the literal cannot be finished. */
static void
test_short_file(void **state)
{
	struct imap_fetch_att	 att = { .item = IMAP_FETCH_RFC822 };
	struct imap_fetch_body	 fb;
	struct buf		 out;
	const char		*error;
	int			 fd = file_of(single, strlen(single)), r;

	(void)state;
	assert_int_equal(imap_fetch_body_begin(&fb, &att, fd, 60, NULL, &error), 0);
	assert_int_equal(imap_fetch_body_size(&fb), 60);
	buf_init(&out, 1 << 16);
	while ((r = imap_fetch_body_fill(&fb, &out, 1024)) == 0)
		;
	assert_int_equal(r, -1);
	buf_release(&out);
	close(fd);
}

/* The CRLF empty line ending a > 64 KB header straddles the read block's edge. */
static void
test_header_across_blocks(void **state)
{
	struct mime_message	*m;
	struct buf		 got;
	size_t			 len = 200 * 1024, i, cut;
	char			*msg = xmalloc(len);
	int			 fd;

	(void)state;
	for (cut = 64 * 1024 - 2; cut <= 64 * 1024 + 1; cut++) {
		for (i = 0; i < cut; i += 10)
			memcpy(msg + i, "X-H: 1234\n", cut - i < 10 ? cut - i : 10);
		msg[cut - 1] = '\n';
		memcpy(msg + cut, "\r\n", 2);
		memset(msg + cut + 2, 'b', len - cut - 2);
		m = mime_parse(msg, len);
		fd = file_of(msg, len);
		buf_init(&got, 1 << 20);
		fetch(fd, crlf_size(msg, len), "BODY[HEADER]", IMAP_FETCH_BODY_MIN_FILL, NULL, &got);
		assert_int_equal(buf_len(&got) - (size_t)(strstr(buf_head(&got), "}\r\n") + 3 -
		    buf_head(&got)), m->root.header_vsize);
		buf_release(&got);
		mime_message_free(&m);
		close(fd);
	}
	free(msg);
}

/* The 30 MB message's stored byte i: a header, then lines of letters and a bare CR now and then. */
static char
big_byte(size_t i)
{
	static const char	 hdr[] = "Subject: big\n\n";

	if (i < sizeof(hdr) - 1)
		return hdr[i];
	return i % 73 == 72 ? '\n' : i % 997 == 0 ? '\r' : (char)('a' + i % 26);
}

/* Its wire form, a byte at a time from stored byte i on. */
struct big_wire {
	size_t	 i;
	bool	 lf;		/* the CR of a bare LF went out: its LF is next */
};

static char
big_wire_next(struct big_wire *r)
{
	char	 c;

	if (r->lf) {
		r->lf = false;
		r->i++;
		return '\n';
	}
	c = big_byte(r->i);
	if (c == '\n' && (r->i == 0 || big_byte(r->i - 1) != '\r')) {
		r->lf = true;
		return '\r';
	}
	r->i++;
	return c;
}

#define BIG_LEN		(30u << 20)
#define BIG_HDR		14	/* "Subject: big\n\n", 16 on the wire */

/* Stream att in fills of max; every byte checked against the wire form from stored byte from. */
static void
big_stream(int fd, uint64_t size, const struct imap_fetch_att *att, size_t max, size_t from,
    uint64_t *hashes)
{
	struct imap_fetch_body	 fb;
	struct big_wire		 ref = { from, false };
	struct buf		 out;
	const char		*error;
	uint64_t		 sent = 0, h = 14695981039346656037ull;
	size_t			 k;
	int			 r;

	assert_int_equal(imap_fetch_body_begin(&fb, att, fd, size, NULL, &error), 0);
	buf_init(&out, max);
	do {
		r = imap_fetch_body_fill(&fb, &out, max);
		assert_true(r != -1);
		assert_true(buf_len(&out) <= max);
		for (k = 0; k < buf_len(&out); k++, sent++) {
			if (buf_head(&out)[k] != big_wire_next(&ref))
				fail_msg("wire byte %llu differs", (unsigned long long)sent);
			if (hashes != NULL) {	/* FNV-1a of each 1 MB window */
				h = (h ^ (unsigned char)buf_head(&out)[k]) * 1099511628211ull;
				if ((sent + 1) % (1 << 20) == 0 || sent + 1 == fb.size) {
					hashes[sent >> 20] = h;
					h = 14695981039346656037ull;
				}
			}
		}
		buf_reset(&out);
	} while (r == 0);
	assert_int_equal(sent, imap_fetch_body_size(&fb));
	assert_int_equal(ref.i, BIG_LEN);
	buf_release(&out);
}

/*
 * 30 MB, never in memory: BODY[] and BODY[TEXT] in fills of 1 KB and
 * 64 KB, each within its max and byte for byte the wire form, and the
 * process's peak RSS grows by far less than the message.  Then 1 MB
 * chunks, as a client reading in chunks asks them: each is its window of
 * the whole, and a chunk after the last one starts where it did.
 */
static void
test_large_message(void **state)
{
	struct imap_body_resume	 res;
	struct imap_fetch_att	 att = { .item = IMAP_FETCH_BODY_SECTION };
	struct imap_fetch_body	 fb;
	struct rusage		 ru0, ru1;
	struct buf		 out;
	uint64_t		 size = 0, hashes[32], h;
	size_t			 i, k;
	char			*chunk = xmalloc(1 << 20);
	const char		*error;
	int			 fd, r, pass;

	(void)state;
	fd = file_of("", 0);
	for (i = 0; i < BIG_LEN; i += 1 << 20) {
		for (k = 0; k < 1 << 20; k++) {
			chunk[k] = big_byte(i + k);
			size += 1 + (chunk[k] == '\n' && big_byte(i + k - 1) != '\r');
		}
		assert_int_equal(write(fd, chunk, 1 << 20), 1 << 20);
	}
	free(chunk);
	getrusage(RUSAGE_SELF, &ru0);
	big_stream(fd, size, &att, IMAP_FETCH_BODY_MIN_FILL, 0, hashes);
	big_stream(fd, size, &att, 64 * 1024, 0, NULL);
	att.section.text = IMAP_SECTION_TEXT;
	big_stream(fd, size, &att, IMAP_FETCH_BODY_MIN_FILL, BIG_HDR, NULL);
	getrusage(RUSAGE_SELF, &ru1);
	assert_true(ru1.ru_maxrss - ru0.ru_maxrss < 4 * 1024);	/* KB */

	/* 1 MB chunks from the end backwards (no resume), then forwards */
	memset(&res, 0, sizeof(res));
	att.section.text = IMAP_SECTION_ALL;
	att.partial = true;
	att.count = 1 << 20;
	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i <= size >> 20; i++) {
			att.offset = (uint32_t)((pass == 0 ? (size >> 20) - i : i) << 20);
			assert_int_equal(imap_fetch_body_begin(&fb, &att, fd, size, &res, &error), 0);
			/* where the skip ended (between the CR and LF of a bare LF, maybe) */
			assert_true(att.offset == 0 || res.wire == att.offset ||
			    res.wire + 1 == att.offset);
			buf_init(&out, 2 << 20);
			while ((r = imap_fetch_body_fill(&fb, &out, 64 * 1024)) == 0)
				;
			assert_int_equal(r, 1);
			assert_int_equal(buf_len(&out), size - att.offset < att.count ?
			    size - att.offset : att.count);
			h = 14695981039346656037ull;
			for (k = 0; k < buf_len(&out); k++)
				h = (h ^ (unsigned char)buf_head(&out)[k]) * 1099511628211ull;
			assert_true(h == hashes[att.offset >> 20]);
			buf_release(&out);
		}
	}
	close(fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single_part),
		cmocka_unit_test(test_multipart),
		cmocka_unit_test(test_line_ends),
		cmocka_unit_test(test_partial_edges),
		cmocka_unit_test(test_partial_count_zero),
		cmocka_unit_test(test_header_fields),
		cmocka_unit_test(test_header_fields_long_name),
		cmocka_unit_test(test_random_messages),
		cmocka_unit_test(test_short_file),
		cmocka_unit_test(test_header_across_blocks),
		cmocka_unit_test(test_large_message),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
