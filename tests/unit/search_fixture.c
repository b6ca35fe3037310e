/* The SEARCH tests' fixture (search_fixture.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tests/unit/search_fixture.h"

#include "imapd/imap_parser.h"
#include "lib/buf.h"
#include "mail/mime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

const char *const sfx_messages[SFX_NMSG] = {
	/* 1: RFC 2047 UTF-8 Chinese subject; sent 1 Jan 2024 in -0800 (2 Jan UTC) */
	"From: Alice <alice@example.com>\n"
	"To: bob@example.org\n"
	"Cc: Carol <carol@example.net>\n"
	"Subject: =?UTF-8?B?5Lit5paH?= test\n"
	"Date: Mon, 1 Jan 2024 23:30:00 -0800\n"
	"\n"
	"Hello World\n",
	/* 2: multipart, base64 UTF-8 text and quoted-printable HTML */
	"From: dave@example.com\n"
	"To: Bob <bob@example.org>\n"
	"Subject: greetings\n"
	"Date: 3 Jan 2024 10:00 +0000\n"
	"MIME-Version: 1.0\n"
	"Content-Type: multipart/alternative; boundary=\"b1\"\n"
	"\n"
	"--b1\n"
	"Content-Type: text/plain; charset=utf-8\n"
	"Content-Transfer-Encoding: base64\n"
	"\n"
	"R3LDvMOfZSBhdXMgTcO8bmNoZW4K\n"
	"--b1\n"
	"Content-Type: text/html; charset=utf-8\n"
	"Content-Transfer-Encoding: quoted-printable\n"
	"\n"
	"<p>caf=C3=A9 soft=\n"
	"break</p>\n"
	"--b1--\n",
	/* 3: ISO-8859-1 everywhere */
	"From: erin@example.com\n"
	"Bcc: frank@example.com\n"
	"Subject: =?ISO-8859-1?Q?Caf=E9_cr=E8me?=\n"
	"X-Custom: Foo Bar\n"
	"Date: Fri, 5 Jan 2024 08:00:00 +0100\n"
	"MIME-Version: 1.0\n"
	"Content-Type: text/plain; charset=ISO-8859-1\n"
	"Content-Transfer-Encoding: quoted-printable\n"
	"\n"
	"Sch=F6ne Gr=FC=DFe, \xc9MILE\n",
	/* 4: no Date:, GB2312 subject, an attached message, a binary attachment */
	"From: grace@example.com\n"
	"To: heidi@example.com\n"
	"Subject: =?GB2312?B?1tDOxA==?=\n"
	"MIME-Version: 1.0\n"
	"Content-Type: multipart/mixed; boundary=\"b2\"\n"
	"\n"
	"--b2\n"
	"Content-Type: message/rfc822\n"
	"\n"
	"Subject: inner subject\n"
	"From: ivan@example.com\n"
	"\n"
	"nested needle\n"
	"--b2\n"
	"Content-Type: application/octet-stream\n"
	"Content-Transfer-Encoding: base64\n"
	"\n"
	"c2VjcmV0d29yZA==\n"
	"--b2--\n",
	/* 5: nearly empty */
	"Subject: \xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82\n"	/* Привет, raw UTF-8 */
	"\n"
	"x\n",
};
const struct msg_info sfx_infos[SFX_NMSG] = {
	{ 10, MSG_SEEN | MSG_RECENT,		5, 1000, JAN(1) + 3600 },
	{ 20, MSG_ANSWERED | MSG_FLAGGED,	7, 2000, JAN(2) + 86399 },
	{ 30, MSG_DELETED | MSG_SEEN,		9, 3000, JAN(3) },
	{ 40, MSG_DRAFT | MSG_RECENT,		2, 4000, JAN(4) },
	{ 50, 0,				12, 5000, JAN(5) + 1 },
};
static const char *const sfx_keywords[SFX_NMSG] = { "$Forwarded Work", "", NULL, "work", "$Junk" };


static const char *
kw_of(void *ctx, size_t i)
{
	(void)ctx;
	return sfx_keywords[i];
}

int
sfx_open(void *ctx, size_t i, int *fd_r)
{
	struct search_fx	*fx = ctx;
	int		 fd;

	fx->opens[i]++;
	fd = memfd_create("msg", 0);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, sfx_messages[i], strlen(sfx_messages[i])), (ssize_t)strlen(sfx_messages[i]));
	*fd_r = fd;
	return 0;
}

const struct imapd_settings	sfx_settings = { 1024 * 1024, 1024 * 1024, 64, 10000 };

int
sfx_setup(void **state)
{
	struct search_fx	*fx = calloc(1, sizeof(*fx));

	fx->parser = imap_parser_new(&sfx_settings);
	fx->view.msgs = sfx_infos;
	fx->view.n = SFX_NMSG;
	fx->view.ctx = fx;
	fx->view.keywords = kw_of;
	fx->view.open = sfx_open;
	*state = fx;
	return 0;
}

static const char *
envelope_of(void *ctx, size_t i)
{
	struct search_fx	*fx = ctx;

	return fx->no_envelope[i] ? "" : fx->parsed[i]->envelope;
}

/* The same fixture, with the index's ENVELOPEs: header keys open nothing. */
int
sfx_setup_envelope(void **state)
{
	struct search_fx	*fx;
	size_t		 i;

	sfx_setup(state);
	fx = *state;
	for (i = 0; i < SFX_NMSG; i++)
		fx->parsed[i] = mime_parse(sfx_messages[i], strlen(sfx_messages[i]));
	fx->view.envelope = envelope_of;
	return 0;
}

int
sfx_teardown(void **state)
{
	struct search_fx	*fx = *state;
	size_t		 i;

	for (i = 0; i < SFX_NMSG; i++)
		mime_message_free(&fx->parsed[i]);
	imap_parser_free(&fx->parser);
	free(fx);
	return 0;
}

/* Parse one command given as its lines ("\r\n"-separated; a line ending in {n} is followed by n literal bytes). */
const struct imap_command *
sfx_parse(struct search_fx *fx, const char *text)
{
	const char	*s = text, *eol;
	enum imap_parse	 st;
	uint64_t	 left;
	size_t		 used;

	for (;;) {
		eol = strstr(s, "\r\n");
		if (eol == NULL)
			eol = s + strlen(s);
		st = imap_parser_line(fx->parser, s, (size_t)(eol - s));
		s = *eol != '\0' ? eol + 2 : eol;
		if (imap_parser_wants_literal(fx->parser, &left)) {
			st = imap_parser_literal(fx->parser, s, (size_t)left, &used);
			s += used;
		}
		if (st == IMAP_PARSE_COMMAND)
			return imap_parser_command(fx->parser);
		if (st == IMAP_PARSE_ERROR)
			fail_msg("%s: %s", text, imap_parser_error(fx->parser)->text);
		/* after a final literal, the (empty) rest of its line */
		assert_true(*s != '\0' || eol[-1] == '}' || st == IMAP_PARSE_CONTINUE);
	}
}

const struct imap_search *
sfx_search_of(const struct imap_command *c)
{
	switch (c->def->id) {
	case IMAP_CMD_SORT:	return &c->u.sort.search;
	case IMAP_CMD_THREAD:	return &c->u.thread.search;
	default:		return &c->u.search;
	}
}

/* Run a SEARCH command; the "* SEARCH ..." reply (without CRLF), malloc'd. */
char *
sfx_run(struct search_fx *fx, const char *cmdline, bool uid)
{
	const struct imap_command	*c = sfx_parse(fx, cmdline);
	struct imap_search_run		*run;
	const char			*error;
	struct buf			 out;
	size_t				 cursor = 0;
	char				*s;

	assert_int_equal(imap_search_begin(sfx_search_of(c), &fx->view, &run, &error), 0);
	/* one message a call: the continuation gives the same as one call */
	while (!imap_search_more(run, 1))
		;
	buf_init(&out, 1 << 16);
	assert_true(imap_search_write(&out, "SEARCH", imap_search_result(run), sfx_infos, uid, &cursor));
	imap_search_free(&run);
	assert_null(run);
	s = buf_strdup(&out);
	buf_release(&out);
	assert_string_equal(s + strlen(s) - 2, "\r\n");
	s[strlen(s) - 2] = '\0';
	return s;
}

void
sfx_expect(struct search_fx *fx, const char *keys, const char *want)
{
	char	 line[4096];
	char	*got;

	snprintf(line, sizeof(line), "a SEARCH %s", keys);
	got = sfx_run(fx, line, false);
	if (strcmp(got, want) != 0)
		fail_msg("SEARCH %s: got \"%s\", want \"%s\"", keys, got, want);
	free(got);
}
