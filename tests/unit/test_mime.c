/*
 * mail/mime*.c: ENVELOPE, BODY and BODYSTRUCTURE byte for byte against
 * what Dovecot printed for every message of tests/mime/corpus (saved in
 * tests/mime/expected by tests/mime/refresh_expected.py), the same with
 * LF turned into CRLF, every prefix of hostile messages, and the tricky
 * parts one by one: folding, RFC 2047, RFC 2231, boundaries, limits.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "mail/mime.h"

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * Corpus messages whose strings may differ from Dovecot's, each with the
 * reason.  The test fails on a difference not listed here, and on a listed
 * message that no longer differs (so the table stays true).
 */
static const struct {
	const char	*name;
	const char	*reason;
} allowed_diffs[] = {
	{ "0449-edge", "10,001 header fields before From: we look at the first "
	    "MIME_MAX_HEADERS (10,000) fields of a part only, so this From: is "
	    "not seen and ENVELOPE has NIL; Dovecot has no such limit" },
	{ NULL, NULL },
};

static char	 mime_dir[4096] = "tests/mime";

static char *
read_file(const char *path, size_t *len_r)
{
	FILE	*f;
	char	*data;
	long	 n;

	if ((f = fopen(path, "rb")) == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	data = malloc((size_t)n + 1);
	assert_non_null(data);
	assert_int_equal(fread(data, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	data[n] = '\0';
	*len_r = (size_t)n;
	return data;
}

/* The expected-file form: three lines, values exactly as IMAP sends them. */
static char *
format_message(const char *data, size_t len, size_t *out_len)
{
	struct mime_message	*m = mime_parse(data, len);
	char			*s;
	size_t			 n;

	n = strlen(m->envelope) + strlen(m->body) + strlen(m->bodystructure) + 40;
	s = malloc(n);
	assert_non_null(s);
	*out_len = (size_t)snprintf(s, n, "ENVELOPE %s\nBODY %s\nBODYSTRUCTURE %s\n",
	    m->envelope, m->body, m->bodystructure);
	mime_message_free(&m);
	assert_null(m);
	return s;
}

static const char *
allowed_reason(const char *name)
{
	size_t	 i;

	for (i = 0; allowed_diffs[i].name != NULL; i++)
		if (strcmp(allowed_diffs[i].name, name) == 0)
			return allowed_diffs[i].reason;
	return NULL;
}

static void
print_diff(const char *name, const char *want, size_t wlen, const char *got,
    size_t glen)
{
	size_t	 i = 0;

	while (i < wlen && i < glen && want[i] == got[i])
		i++;
	print_error("%s differs at byte %zu:\n  dovecot: %.120s\n  ours:    %.120s\n",
	    name, i, want + (i > 40 ? i - 40 : 0), got + (i > 40 ? i - 40 : 0));
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted *.eml names (without the suffix) of the corpus. */
static char **
corpus_names(size_t *n_r)
{
	char		 path[4200];
	struct dirent	*de;
	DIR		*d;
	char		**v = NULL;
	size_t		 n = 0, len;

	snprintf(path, sizeof(path), "%s/corpus", mime_dir);
	d = opendir(path);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len < 5 || strcmp(de->d_name + len - 4, ".eml") != 0)
			continue;
		v = realloc(v, (n + 1) * sizeof(*v));
		assert_non_null(v);
		v[n++] = strndup(de->d_name, len - 4);
	}
	closedir(d);
	qsort(v, n, sizeof(*v), cmp_names);
	*n_r = n;
	return v;
}

static bool
check_one(const char *name, const char *data, size_t len, const char *want,
    size_t wlen, unsigned *same, unsigned *unlisted, unsigned *stale)
{
	const char	*reason = allowed_reason(name);
	char		*got;
	size_t		 glen;
	bool		 equal;

	got = format_message(data, len, &glen);
	equal = glen == wlen && memcmp(got, want, glen) == 0;
	if (equal) {
		(*same)++;
		if (reason != NULL) {
			print_error("%s: listed as differing but matches now\n", name);
			(*stale)++;
		}
	} else if (reason == NULL) {
		print_diff(name, want, wlen, got, glen);
		(*unlisted)++;
	}
	free(got);
	return equal;
}

/* Every corpus message: our strings against Dovecot's, byte for byte. */
static void
test_corpus_matches_dovecot(void **state)
{
	char		**names, path[4200];
	char		*data, *want;
	size_t		 n, i, len, wlen;
	unsigned	 same = 0, unlisted = 0, stale = 0;

	(void)state;
	names = corpus_names(&n);
	assert_true(n >= 300);
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/corpus/%s.eml", mime_dir, names[i]);
		data = read_file(path, &len);
		assert_non_null(data);
		snprintf(path, sizeof(path), "%s/expected/%s.txt", mime_dir, names[i]);
		want = read_file(path, &wlen);
		if (want == NULL) {
			print_error("%s: no expected file (run refresh_expected.py)\n",
			    names[i]);
			unlisted++;
		} else {
			check_one(names[i], data, len, want, wlen, &same,
			    &unlisted, &stale);
		}
		free(data);
		free(want);
		free(names[i]);
	}
	free(names);
	print_message("corpus: %zu messages, %u identical to Dovecot\n", n, same);
	assert_int_equal(unlisted, 0);
	assert_int_equal(stale, 0);
}

/* Maildir files are LF; the same message with CRLF must print the same. */
static void
test_corpus_crlf_same_as_lf(void **state)
{
	char		**names, path[4200];
	char		*data, *crlf, *a, *b;
	size_t		 n, i, k, len, clen, alen, blen, converted = 0;

	(void)state;
	names = corpus_names(&n);
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/corpus/%s.eml", mime_dir, names[i]);
		data = read_file(path, &len);
		assert_non_null(data);
		if (memchr(data, '\r', len) == NULL) {
			crlf = malloc(2 * len + 1);
			assert_non_null(crlf);
			for (k = 0, clen = 0; k < len; k++) {
				if (data[k] == '\n')
					crlf[clen++] = '\r';
				crlf[clen++] = data[k];
			}
			a = format_message(data, len, &alen);
			b = format_message(crlf, clen, &blen);
			if (alen != blen || memcmp(a, b, alen) != 0)
				print_diff(names[i], a, alen, b, blen);
			assert_memory_equal(a, b, alen < blen ? alen : blen);
			assert_int_equal(alen, blen);
			free(a);
			free(b);
			free(crlf);
			converted++;
		}
		free(data);
		free(names[i]);
	}
	free(names);
	assert_true(converted > 200);
}

static void
check_part(const struct mime_part *p, size_t start, size_t end,
    unsigned depth)
{
	size_t	 i;

	assert_true(depth <= 101);
	assert_true(p->header_offset >= start);
	assert_int_equal(p->header_offset + p->header_size, p->body_offset);
	assert_true(p->body_offset + p->body_size <= end);
	assert_true(p->header_vsize >= p->header_size);
	assert_true(p->body_vsize >= p->body_size);
	assert_true(p->lines <= p->body_size);
	for (i = 0; i < p->nchildren; i++) {
		check_part(&p->children[i], p->body_offset,
		    p->body_offset + p->body_size, depth + 1);
		if (i > 0)
			assert_true(p->children[i].header_offset >=
			    p->children[i - 1].body_offset +
			    p->children[i - 1].body_size);
	}
}

/* The parser never reads past what it is given: parse every prefix. */
static void
test_every_prefix(void **state)
{
	static const char *const names[] = {
		"0370-deep-multipart", "0152-forward", "0340-malformed",
		"0350-malformed", "0261-cjk2231",
	};
	struct mime_message	*m;
	char			 path[4200], *data, *copy;
	size_t			 i, len, cut;

	(void)state;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/corpus/%s.eml", mime_dir, names[i]);
		data = read_file(path, &len);
		assert_non_null(data);
		for (cut = 0; cut <= len; cut++) {
			/* an exact-size copy, so ASan sees any overread */
			copy = malloc(cut > 0 ? cut : 1);
			memcpy(copy, data, cut);
			m = mime_parse(copy, cut);
			check_part(&m->root, 0, cut, 0);
			assert_true(m->bodystructure[0] == '(');
			mime_message_free(&m);
			free(copy);
		}
		free(data);
	}
}

static struct mime_message *
parse_str(const char *s)
{
	return mime_parse(s, strlen(s));
}

static void
assert_bs(const char *msg, const char *bodystructure)
{
	struct mime_message	*m = parse_str(msg);

	assert_string_equal(m->bodystructure, bodystructure);
	mime_message_free(&m);
}

static void
assert_env(const char *msg, const char *envelope)
{
	struct mime_message	*m = parse_str(msg);

	assert_string_equal(m->envelope, envelope);
	mime_message_free(&m);
}

static void
test_header_folding(void **state)
{
	(void)state;
	/* a folded Subject is written for humans: a literal, folding gone */
	assert_env("Subject: a\n\tfolded\r\n  subject \n\nx",
	    "(NIL {16}\r\na folded subject NIL NIL NIL NIL NIL NIL NIL NIL)");
	/* other strings only lose the line breaks */
	assert_env("Date: Mon, 1 Jan\n 2024\nMessage-ID:\n <a@b>\n\n",
	    "(\"Mon, 1 Jan 2024\" NIL NIL NIL NIL NIL NIL NIL NIL \" <a@b>\")");
	/* white space only, empty, quotes, 8-bit */
	assert_env("Subject:   \n\n", "(NIL \"\" NIL NIL NIL NIL NIL NIL NIL NIL)");
	assert_env("Subject:\n\n", "(NIL \"\" NIL NIL NIL NIL NIL NIL NIL NIL)");
	assert_env("Subject: say \"hi\"\n\n",
	    "(NIL {8}\r\nsay \"hi\" NIL NIL NIL NIL NIL NIL NIL NIL)");
	assert_env("Message-ID: \"\\\\\\\\\\\"\n\n",
	    "(NIL NIL NIL NIL NIL NIL NIL NIL NIL {7}\r\n\"\\\\\\\\\\\")");
	assert_env("Subject: caf\xc3\xa9\n\n",
	    "(NIL {5}\r\ncaf\xc3\xa9 NIL NIL NIL NIL NIL NIL NIL NIL)");
	/* encoded words stay encoded in ENVELOPE */
	assert_env("Subject: =?utf-8?q?caf=C3=A9?=\n\n",
	    "(NIL \"=?utf-8?q?caf=C3=A9?=\" NIL NIL NIL NIL NIL NIL NIL NIL)");
	/* a header without a body or blank line, and no header at all */
	assert_bs("Subject: x",
	    "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 "
	    "NIL NIL NIL NIL)");
	assert_bs("\nbody\n",
	    "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 6 1 "
	    "NIL NIL NIL NIL)");
}

static void
test_addresses(void **state)
{
	(void)state;
	assert_env("From: \"Last, First\" <a@b.c>, x@y (Comment Name)\n\n",
	    "(NIL NIL ((\"Last, First\" NIL \"a\" \"b.c\")(\"Comment Name\" NIL "
	    "\"x\" \"y\")) ((\"Last, First\" NIL \"a\" \"b.c\")(\"Comment Name\" "
	    "NIL \"x\" \"y\")) ((\"Last, First\" NIL \"a\" \"b.c\")(\"Comment "
	    "Name\" NIL \"x\" \"y\")) NIL NIL NIL NIL NIL)");
	assert_env("To: undisclosed-recipients:;\n\n",
	    "(NIL NIL NIL NIL NIL ((NIL NIL \"undisclosed-recipients\" NIL)"
	    "(NIL NIL NIL NIL)) NIL NIL NIL NIL)");
	assert_env("Cc: G: a@b, <@r1,@r2:c@d>;, user, <>\n\n",
	    "(NIL NIL NIL NIL NIL NIL ((NIL NIL \"G\" NIL)(NIL NIL \"a\" \"b\")"
	    "(NIL \"@r1,@r2\" \"c\" \"d\")(NIL NIL NIL NIL)(NIL NIL \"user\" "
	    "\"MISSING_DOMAIN\")(NIL NIL \"MISSING_MAILBOX\" \"MISSING_DOMAIN\")) "
	    "NIL NIL NIL)");
	/* the same field twice: the lists are joined */
	assert_env("To: a@b\nTo: c@d\n\n",
	    "(NIL NIL NIL NIL NIL ((NIL NIL \"a\" \"b\")(NIL NIL \"c\" \"d\")) "
	    "NIL NIL NIL NIL)");
	assert_env("To:\n\n", "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
}

struct decode_case {
	const char	*in, *out;
};

static void
test_rfc2047(void **state)
{
	static const struct decode_case	 cases[] = {
		{ "=?UTF-8?B?5Lit5paH?=", "\xe4\xb8\xad\xe6\x96\x87" },
		{ "=?utf-8?q?caf=C3=A9_au_lait?=", "caf\xc3\xa9 au lait" },
		{ "=?ISO-8859-1?Q?Andr=E9?= Pirard", "Andr\xc3\xa9 Pirard" },
		/* white space between encoded words goes, around them stays */
		{ "a =?us-ascii?q?b?= =?us-ascii?q?c?= d", "a bc d" },
		{ "=?utf-8?q?a?=\r\n =?utf-8?q?b?=", "ab" },
		/* a character split across two words survives */
		{ "=?utf-8?B?5A==?= =?utf-8?B?uK0=?=", "\xe4\xb8\xad" },
		{ "=?gb2312?B?1tDOxA==?=", "\xe4\xb8\xad\xe6\x96\x87" },
		{ "=?big5?B?pKSk5Q==?=", "\xe4\xb8\xad\xe6\x96\x87" },
		{ "=?utf-8*zh?Q?=E4=B8=AD?=", "\xe4\xb8\xad" },
		/* broken: kept as written */
		{ "=?utf-8?B?!!!?=", "=?utf-8?B?!!!?=" },
		{ "=?x-unknown?Q?abc?=", "=?x-unknown?Q?abc?=" },
		{ "=?utf-8?Q?=FF?=", "=?utf-8?Q?=FF?=" },
		{ "=?utf-8?Q?=E4=B8?=", "=?utf-8?Q?=E4=B8?=" },
		{ "=?utf-8?X?abc?=", "=?utf-8?X?abc?=" },
		{ "=?utf-8?Q?no end", "=?utf-8?Q?no end" },
		{ "=?utf-8?Q?a b?=", "=?utf-8?Q?a b?=" },
		{ "plain\r\n folded", "plain folded" },
		{ "", "" },
	};
	size_t	 i;
	char	*s;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		s = mime_decode_header(cases[i].in, strlen(cases[i].in));
		assert_string_equal(s, cases[i].out);
		free(s);
	}
	/* the length is honoured: no reading to a NUL */
	s = mime_decode_header("=?utf-8?q?ab?=XYZ", 14);
	assert_string_equal(s, "ab");
	free(s);
}

/* Every prefix of a header value: decodes or stays raw, never overreads. */
static void
test_rfc2047_every_prefix(void **state)
{
	static const char	 in[] = "Re: =?gb2312?B?1tDOxA==?= =?utf-8?Q?caf"
	    "=C3=A9_?=\r\n =?ISO-8859-1?q?Andr=E9?= x =?bad?B?!?= =?utf-8?b?5Lit";
	size_t			 cut;
	char			*copy, *s;

	(void)state;
	for (cut = 0; cut <= sizeof(in) - 1; cut++) {
		copy = malloc(cut > 0 ? cut : 1);
		memcpy(copy, in, cut);
		s = mime_decode_header(copy, cut);
		assert_true(strlen(s) <= 4 * cut);
		if (cut == sizeof(in) - 1)
			assert_string_equal(s, "Re: \xe4\xb8\xad\xe6\x96\x87" "caf"
			    "\xc3\xa9 Andr\xc3\xa9 x =?bad?B?!?= =?utf-8?b?5Lit");
		free(s);
		free(copy);
	}
}

static void
test_rfc2231(void **state)
{
	(void)state;
	/* continuations join; an encoded one keeps its encoding, as Dovecot */
	assert_bs("MIME-Version: 1.0\nContent-Type: text/plain; "
	    "name*1=\"def\"; name*0=\"abc\"\n\n",
	    "(\"text\" \"plain\" (\"name\" \"abcdef\" \"charset\" \"us-ascii\") "
	    "NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL)");
	assert_bs("MIME-Version: 1.0\nContent-Type: text/plain; "
	    "n*0*=utf-8''%E4; n*1=\"a b%\"\n\n",
	    "(\"text\" \"plain\" (\"n*\" \"utf-8''%E4a b%25\" \"charset\" "
	    "\"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL)");
	/* a missing piece: the pieces stay apart */
	assert_bs("MIME-Version: 1.0\nContent-Type: text/plain; "
	    "n*0=\"a\"; n*2=\"c\"\n\n",
	    "(\"text\" \"plain\" (\"n*0\" \"a\" \"n*2\" \"c\" \"charset\" "
	    "\"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL)");
	/*
	 * a broken parameter is skipped through the next ";", so the one
	 * after it is lost too (Dovecot 2.3.19 prints exactly this)
	 */
	assert_bs("MIME-Version: 1.0\nContent-Type: application/x; a; b=c\n\n",
	    "(\"application\" \"x\" NIL NIL NIL \"7bit\" 0 NIL NIL NIL NIL)");
	assert_bs("MIME-Version: 1.0\nContent-Type: application/x; a=1;; b=c\n\n",
	    "(\"application\" \"x\" (\"a\" \"1\") NIL NIL \"7bit\" 0 NIL NIL "
	    "NIL NIL)");
}

static const char multipart_head[] =
    "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b\"\n\n";

static void
assert_mp(const char *body, const char *bodystructure)
{
	char	 msg[4096];

	snprintf(msg, sizeof(msg), "%s%s", multipart_head, body);
	assert_bs(msg, bodystructure);
}

#define TXT(size, lines) \
	"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" " \
	#size " " #lines " NIL NIL NIL NIL)"
#define MIXED	" \"mixed\" (\"boundary\" \"b\") NIL NIL NIL)"

static void
test_boundaries(void **state)
{
	(void)state;
	/* the CRLF before a boundary belongs to the boundary */
	assert_mp("--b\n\nab\n--b\n\ncd\n\n--b--\n", "(" TXT(2, 0) TXT(4, 1) MIXED);
	/* no closing boundary: the last part runs to the end */
	assert_mp("--b\n\nab\n", "(" TXT(4, 1) MIXED);
	/* no part at all */
	assert_mp("--b--\n", "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL "
	    "NIL \"7bit\" 0 0 NIL NIL NIL NIL)" MIXED);
	/* trailing garbage after a boundary is allowed */
	assert_mp("--b  x\n\nab\n--bc--\n", "(" TXT(2, 0) TXT(0, 0) MIXED);
	/* after "--b--" a "--b" line is plain epilogue text */
	assert_mp("--b\n\nab\n--b--\n--b\n\nzz\n", "(" TXT(2, 0) MIXED);
	/* a boundary line ends a part's header early */
	assert_mp("--b\nX-A: 1\n--b\n\ncd\n--b--\n", "(" TXT(0, 0) TXT(2, 0) MIXED);
	/* an outer boundary closes an unfinished inner multipart */
	assert_mp("--b\nContent-Type: multipart/alternative; boundary=in\n\n"
	    "--in\n\nx\n--b\n\ny\n--b--\n",
	    "((" TXT(1, 0) " \"alternative\" (\"boundary\" \"in\") NIL NIL NIL)"
	    TXT(1, 0) MIXED);
	/* the longest matching boundary wins (b is a prefix of bb) */
	assert_mp("--b\nContent-Type: multipart/alternative; boundary=bb\n\n"
	    "--bb\n\nx\n--bb--\n--b--\n",
	    "((" TXT(1, 0) " \"alternative\" (\"boundary\" \"bb\") NIL NIL NIL)"
	    MIXED);
	/* multipart without boundary=: no parts */
	assert_bs("MIME-Version: 1.0\nContent-Type: multipart/mixed\n\n--x\n\nz\n",
	    "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 "
	    "NIL NIL NIL NIL) \"mixed\" NIL NIL NIL NIL)");
}

static void
test_long_boundary_is_cut(void **state)
{
	char	 b[101], msg[1024];

	(void)state;
	memset(b, 'L', 100);
	b[100] = '\0';
	/* Dovecot compares 80 characters: "--L{100}--" is not the end */
	snprintf(msg, sizeof(msg), "MIME-Version: 1.0\nContent-Type: multipart/"
	    "mixed; boundary=\"%s\"\n\n--%s\n\nx\n--%s--\n", b, b, b);
	struct mime_message *m = parse_str(msg);
	assert_int_equal(m->root.nchildren, 2);
	mime_message_free(&m);
}

static char *
nested(unsigned depth, bool rfc822)
{
	size_t	 cap = (size_t)depth * 120 + 100, n = 0;
	char	*s = malloc(cap);
	unsigned d;

	assert_non_null(s);
	n += (size_t)snprintf(s + n, cap - n, "MIME-Version: 1.0\n");
	for (d = 0; d < depth; d++) {
		if (rfc822)
			n += (size_t)snprintf(s + n, cap - n, "Content-Type: "
			    "message/rfc822\n\nSubject: %u\n", d);
		else
			n += (size_t)snprintf(s + n, cap - n, "Content-Type: "
			    "multipart/mixed; boundary=\"n%04u\"\n\n--n%04u\n",
			    d, d);
	}
	snprintf(s + n, cap - n, "\nleaf\n");
	return s;
}

static unsigned
depth_of(const struct mime_part *p)
{
	unsigned	 d = 0;

	while (p->nchildren > 0) {
		p = &p->children[0];
		d++;
	}
	return d;
}

static void
test_depth_limit(void **state)
{
	struct mime_message	*m;
	char			*s;
	int			 rfc;

	(void)state;
	for (rfc = 0; rfc <= 1; rfc++) {
		s = nested(98, rfc);
		m = parse_str(s);
		assert_int_equal(depth_of(&m->root), 98);
		mime_message_free(&m);
		free(s);
		/* 5000 levels: cut at 99, the last one opaque, no deep stack */
		s = nested(5000, rfc);
		m = parse_str(s);
		assert_int_equal(depth_of(&m->root), 99);
		assert_non_null(strstr(m->bodystructure,
		    "\"application\" \"octet-stream\""));
		mime_message_free(&m);
		free(s);
	}
}

static void
test_part_limit(void **state)
{
	struct mime_message	*m;
	size_t			 cap = 20000 * 6 + 200, n = 0;
	char			*s = malloc(cap);
	int			 i;

	(void)state;
	n += (size_t)snprintf(s + n, cap - n, "%s", multipart_head);
	for (i = 0; i < 20000; i++)
		n += (size_t)snprintf(s + n, cap - n, "--b\n\n");
	m = mime_parse(s, n);
	assert_true(m->root.nchildren < 10000);
	assert_true(m->root.nchildren > 9000);
	check_part(&m->root, 0, n, 0);
	mime_message_free(&m);
	free(s);
}

static void
test_sections_and_offsets(void **state)
{
	static const char	 msg[] =
	    "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n"
	    "\r\n--b\r\nContent-Type: text/plain\r\n\r\none\r\n"
	    "--b\r\nContent-Type: message/rfc822\r\n\r\n"
	    "Subject: in\r\nContent-Type: multipart/alternative; boundary=c\r\n"
	    "\r\n--c\r\n\r\ntwo\r\n--c\r\n\r\nthree\r\n--c--\r\n"
	    "\r\n--b--\r\n";
	struct mime_message	*m = parse_str(msg);
	const struct mime_part	*p;

	(void)state;
	assert_ptr_equal(mime_part_find(m, ""), &m->root);
	p = mime_part_find(m, "1");
	assert_non_null(p);
	assert_memory_equal(msg + p->header_offset, "Content-Type: text/plain\r\n\r\n",
	    p->header_size);
	assert_memory_equal(msg + p->body_offset, "one", p->body_size);
	p = mime_part_find(m, "2.2");
	assert_non_null(p);
	assert_memory_equal(msg + p->body_offset, "three", p->body_size);
	assert_int_equal(p->header_size, 2);
	p = mime_part_find(m, "2");
	assert_true(p->flags & MIME_PART_RFC822);
	assert_null(mime_part_find(m, "3"));
	assert_null(mime_part_find(m, "2.3"));
	assert_null(mime_part_find(m, "1.2"));
	assert_null(mime_part_find(m, "0"));
	assert_null(mime_part_find(m, "1.x"));
	assert_non_null(mime_part_find(m, "1.1"));	/* the last number: a leaf is its own 1 */
	assert_null(mime_part_find(m, "1.1.1"));	/* not a message: no parts inside (Dovecot) */
	mime_message_free(&m);

	/* a message/rfc822 message: part 1 is its body, 1.1 the inner body */
	m = parse_str("Content-Type: message/rfc822\n\nSubject: in\n\ninner\n");
	p = mime_part_find(m, "1");
	assert_ptr_equal(p, &m->root);
	p = mime_part_find(m, "1.1");
	assert_ptr_equal(p, &m->root.children[0]);
	assert_int_equal(p->body_size, 6);
	assert_null(mime_part_find(m, "2"));
	assert_null(mime_part_find(m, "1.2"));
	mime_message_free(&m);

	/* a single text part: 1 is its body, nothing is inside it */
	m = parse_str("Subject: x\n\ntext\n");
	assert_ptr_equal(mime_part_find(m, "1"), &m->root);
	assert_null(mime_part_find(m, "1.1"));
	mime_message_free(&m);
}

static void
test_sizes_count_crlf(void **state)
{
	struct mime_message	*lf, *crlf;

	(void)state;
	lf = parse_str("Subject: x\n\na\nb\n");
	crlf = parse_str("Subject: x\r\n\r\na\r\nb\r\n");
	assert_int_equal(lf->root.body_size, 4);
	assert_int_equal(lf->root.body_vsize, 6);
	assert_int_equal(crlf->root.body_vsize, 6);
	assert_int_equal(lf->root.header_vsize, 14);
	assert_int_equal(lf->root.lines, 2);
	assert_string_equal(lf->bodystructure, crlf->bodystructure);
	mime_message_free(&lf);
	mime_message_free(&crlf);
	mime_message_free(&lf);		/* NULL is fine */
}

static void
test_hostile_headers(void **state)
{
	struct mime_message	*m;
	size_t			 n = 300000, i;
	char			*s = malloc(n + 64);

	(void)state;
	/* one 300 KB header line, then a huge comma-only address list */
	memcpy(s, "Subject: ", 9);
	memset(s + 9, 'a', n);
	memcpy(s + 9 + n, "\n\nx\n", 5);
	m = mime_parse(s, strlen(s));
	assert_non_null(strstr(m->envelope, "aaaa"));
	mime_message_free(&m);
	memcpy(s, "To: ", 4);
	for (i = 4; i < n; i++)
		s[i] = i % 2 ? ',' : ' ';
	memcpy(s + n, "\n\n", 3);
	m = mime_parse(s, n + 2);
	assert_true(strlen(m->envelope) < 64 * n);
	mime_message_free(&m);
	/* unclosed comments and quotes everywhere */
	m = parse_str("From: (a\nTo: \"b\nContent-Type: text/plain; a=\"b\n"
	    "Content-Disposition: (x\nContent-Language: (\n\n");
	assert_true(m->envelope[0] == '(');
	mime_message_free(&m);
	free(s);
}

int
main(int argc, char *argv[])
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_corpus_matches_dovecot),
		cmocka_unit_test(test_corpus_crlf_same_as_lf),
		cmocka_unit_test(test_every_prefix),
		cmocka_unit_test(test_header_folding),
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_rfc2047),
		cmocka_unit_test(test_rfc2047_every_prefix),
		cmocka_unit_test(test_rfc2231),
		cmocka_unit_test(test_boundaries),
		cmocka_unit_test(test_long_boundary_is_cut),
		cmocka_unit_test(test_depth_limit),
		cmocka_unit_test(test_part_limit),
		cmocka_unit_test(test_sections_and_offsets),
		cmocka_unit_test(test_sizes_count_crlf),
		cmocka_unit_test(test_hostile_headers),
	};
	struct stat	 st;
	const char	*env = getenv("MIME_TEST_DIR");
	char		*slash;

	/* tests/mime from the tree root, or found from the test binary */
	if (env != NULL) {
		snprintf(mime_dir, sizeof(mime_dir), "%s", env);
	} else if (stat("tests/mime/corpus", &st) != 0 && argc > 0 &&
	    (slash = strrchr(argv[0], '/')) != NULL) {
		snprintf(mime_dir, sizeof(mime_dir), "%.*s/../../tests/mime",
		    (int)(slash - argv[0]), argv[0]);
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
