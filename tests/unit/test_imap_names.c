/*
 * imapd's mailbox names: modified UTF-7 both ways (RFC 3501 5.1.3), the
 * IMAP name -> store folder mapping with every hostile name of issue 15
 * item 4 refused with [CANNOT], the way back for LIST, and names written
 * as astrings.  The store refuses the same names on its own (a last line
 * that imapd cannot forget to call).
 */
#include "imapd/imap_mailbox_name.h"
#include "store/store.h"
#include "tests/unit/store_fixture.h"
#include "lib/buf.h"
#include "lib/xmalloc.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

/* One pair: the UTF-8 and its modified UTF-7 (computed independently, in Python). */
static const struct {
	const char	*utf8, *mutf7;
} pairs[] = {
	{ "", "" },
	{ "INBOX", "INBOX" },
	{ "&", "&-" },
	{ "a&b", "a&-b" },
	{ "&&", "&-&-" },
	{ "Entw\xc3\xbcrfe", "Entw&APw-rfe" },
	{ "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", "&ZeVnLIqe-" },
	{ "\xe5\x8f\xb0\xe5\x8c\x97", "&U,BTFw-" },		/* ',' of modified BASE64 */
	{ "\xd0\x92\xd1\x85\xd0\xbe\xd0\xb4\xd1\x8f\xd1\x89\xd0\xb8\xd0\xb5",
	  "&BBIERQQ+BDQETwRJBDgENQ-" },				/* '+' of BASE64 */
	{ "\xf0\x9f\x98\x80", "&2D3eAA-" },			/* a surrogate pair */
	{ "\xc3\xa4\xf0\x9f\x98\x80\xc3\xb6", "&AOTYPd4AAPY-" },
	{ "\xc3\x9c.&.x", "&ANw-.&-.x" },
	{ "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
	  "~peter/mail/&U,BTFw-/&ZeVnLIqe-" },			/* RFC 3501's example */
};

static char *
decode(const char *in, const char **why_r)
{
	struct buf	 b;
	char		*s = NULL;

	buf_init(&b, 1024);
	if (imap_mutf7_decode(in, &b, why_r) == 0)
		s = buf_strdup(&b);
	buf_release(&b);
	return s;
}

static char *
encode(const char *in, const char **why_r)
{
	struct buf	 b;
	char		*s = NULL;

	buf_init(&b, 1024);
	if (imap_mutf7_encode(in, &b, why_r) == 0)
		s = buf_strdup(&b);
	buf_release(&b);
	return s;
}

static void
test_mutf7_both_ways(void **state)
{
	const char	*why;
	char		*s;
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		s = encode(pairs[i].utf8, &why);
		assert_non_null(s);
		assert_string_equal(s, pairs[i].mutf7);
		free(s);
		s = decode(pairs[i].mutf7, &why);
		assert_non_null(s);
		assert_string_equal(s, pairs[i].utf8);
		free(s);
	}
}

static void
test_mutf7_decode_strict(void **state)
{
	static const char *const bad[] = {
		"&",			/* shift never closed */
		"&ZeVnLIqe",
		"a&AOQ",
		"&AOQ-&AOQ-",		/* adjacent shifts: "&AOQA5A-" is the one spelling */
		"&AGE-",		/* 'a' encoded */
		"&ACY-",		/* '&' encoded: it is "&-" */
		"&AC8-",		/* '/' encoded, to slip past the '/' check */
		"&AC4ALg-",		/* ".." encoded */
		"&AOR-",		/* non-zero padding bits */
		"&AOQA-",		/* a sixth of a unit left over */
		"&A-",
		"&2D0-",		/* high surrogate alone */
		"&2D0AYQ-",		/* high surrogate, then no low one */
		"&3gA-",		/* low surrogate alone */
		"&AAE-",		/* U+0001 */
		"&AAA-",		/* U+0000 */
		"&AH8-",		/* U+007F */
		"&AJ8-",		/* U+009F (C1) */
		"&AOQ*-",		/* '*' is no modified BASE64 */
		"&AOQ/-",		/* '/' is standard BASE64, not modified */
		"&AOQ=-",		/* no '=' padding */
		"\xc3\xa4",		/* raw 8-bit */
		"a\x01",
		"tab\there",
		"del\x7f",
	};
	const char	*why;
	char		*s;
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		if (decode(bad[i], &why) != NULL)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_non_null(why);
	}
	/* What the adjacent shifts meant, said once */
	s = encode("\xc3\xa4\xc3\xa4", &why);
	assert_string_equal(s, "&AOQA5A-");
	free(s);
}

static bool
has_8bit(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return true;
	return false;
}

/*
 * The decoder's claim, checked over many strings made of printable ASCII
 * and '&' shifts of random modified BASE64: whatever it accepts, the
 * encoder spells back the same way.
 */
static void
test_mutf7_one_spelling(void **state)
{
	static const char	 plain_chars[] = "&-aZ. /";
	static const char	 b64[] = "AOQ2D3dgZ+,a0A";
	char			 in[32], *utf8, *back;
	const char		*why;
	unsigned		 seed = 15, i, len, k, n, accepted = 0, shifted = 0;

	(void)state;
	for (i = 0; i < 200000; i++) {
		for (len = 0; len < 16 && rand_r(&seed) % 4 != 0; ) {
			if (rand_r(&seed) % 2 == 0) {
				in[len++] = plain_chars[rand_r(&seed) % (sizeof(plain_chars) - 1)];
				continue;
			}
			in[len++] = '&';
			for (n = 1 + (unsigned)rand_r(&seed) % 8, k = 0; k < n; k++)
				in[len++] = b64[rand_r(&seed) % (sizeof(b64) - 1)];
			in[len++] = '-';
		}
		in[len] = '\0';
		if ((utf8 = decode(in, &why)) == NULL)
			continue;
		accepted++;
		shifted += has_8bit(utf8);
		back = encode(utf8, &why);
		assert_non_null(back);
		if (strcmp(back, in) != 0)
			fail_msg("\"%s\" decodes, but encodes as \"%s\"", in, back);
		free(back);
		free(utf8);
	}
	printf("%u of 200000 accepted, %u with a shift\n", accepted, shifted);
	assert_true(shifted > 1000);
}

static void
test_mutf7_encode_strict(void **state)
{
	static const char *const bad[] = {
		"\xc3",				/* cut short */
		"\xc3\x28",			/* bad continuation */
		"\xc0\xaf",			/* overlong '/' */
		"\xe0\x80\xaf",			/* overlong '/' */
		"\xed\xa0\x80",			/* a surrogate in UTF-8 */
		"\xf4\x90\x80\x80",		/* above U+10FFFF */
		"\xff",
		"a\x01", "\x7f", "\xc2\x85",	/* C0, DEL, C1 (NEL) */
	};
	const char	*why;
	size_t		 i;
	struct buf	 b;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		if (encode(bad[i], &why) != NULL)
			fail_msg("accepted bad[%zu]", i);
		assert_non_null(why);
	}
	/* A full buffer is an error, not a cut name. */
	buf_init(&b, 4);
	assert_int_equal(imap_mutf7_encode("\xe6\x97\xa5\xe6\x9c\xac", &b, &why), -1);
	buf_release(&b);
}

static const struct imap_name_opts	 plain = { 0, false }, utf8 = { 0, true };

static void
assert_folder(const char *name, const struct imap_name_opts *o, const char *want)
{
	char		 folder[IMAP_FOLDER_SIZE];
	struct imap_no	 no = { NULL, NULL };

	if (imap_name_to_folder(name, o, folder, &no) == -1)
		fail_msg("\"%s\" refused: %s", name, no.text);
	assert_string_equal(folder, want);
}

/* Refused with [CANNOT] and a text that says why (containing why, if given). */
static void
assert_refused(const char *name, const struct imap_name_opts *o, const char *why)
{
	char		 folder[IMAP_FOLDER_SIZE];
	struct imap_no	 no = { NULL, NULL };

	if (imap_name_to_folder(name, o, folder, &no) == 0)
		fail_msg("\"%s\" accepted as \"%s\"", name, folder);
	assert_non_null(no.code);
	assert_string_equal(no.code, "CANNOT");
	assert_non_null(no.text);
	if (why != NULL && strstr(no.text, why) == NULL)
		fail_msg("\"%s\": \"%s\" does not say \"%s\"", name, no.text, why);
}

static void
test_names_accepted(void **state)
{
	char	 name[STORE_FOLDER_NAME_MAX + 1];

	(void)state;
	assert_folder("INBOX", &plain, "INBOX");
	assert_folder("inbox", &plain, "INBOX");
	assert_folder("InBoX", &utf8, "INBOX");
	assert_folder("Sent", &plain, "Sent");
	assert_folder("Archive.2024", &plain, "Archive.2024");
	assert_folder("Sent Items", &plain, "Sent Items");
	assert_folder("Entw&APw-rfe", &plain, "Entw&APw-rfe");
	assert_folder("Entw\xc3\xbcrfe", &utf8, "Entw&APw-rfe");
	assert_folder("R&D", &utf8, "R&-D");
	assert_folder("R&-D", &plain, "R&-D");
	assert_folder("a~b", &plain, "a~b");		/* '~' only at a level's start */
	assert_folder("Inboxes", &plain, "Inboxes");
	assert_folder("tmpfiles.news", &plain, "tmpfiles.news");
	assert_folder("dovecot notes", &plain, "dovecot notes");
	assert_folder("New", &plain, "New");		/* a user's, not Maildir's new/ */
	assert_folder("Archive.Tmp", &plain, "Archive.Tmp");
	/* The longest name the store takes */
	memset(name, 'x', STORE_FOLDER_NAME_MAX);
	name[STORE_FOLDER_NAME_MAX] = '\0';
	assert_folder(name, &plain, name);
}

static void
test_hostile_names_refused(void **state)
{
	const struct imap_name_opts	 short10 = { 10, false }, short10u = { 10, true };
	char				 name[STORE_FOLDER_NAME_MAX + 2];

	(void)state;
	/* Out of the Maildir */
	assert_refused("..", &plain, "empty hierarchy level");
	assert_refused("../evil", &plain, NULL);
	assert_refused("a/../../b", &plain, "'/'");
	assert_refused("/", &plain, "'/'");
	assert_refused("/etc/passwd", &plain, "'/'");
	assert_refused("a/b", &plain, "'/'");
	assert_refused("&AC8-etc", &plain, "modified UTF-7");	/* '/' encoded */
	assert_refused("\xef\xbc\x8f", &plain, "modified UTF-7");	/* raw 8-bit */
	assert_refused("~", &plain, "'~'");
	assert_refused("~root", &plain, "'~'");
	assert_refused("a.~b", &plain, "'~'");
	/* Control characters, raw or encoded */
	assert_refused("bad\001", &plain, NULL);
	assert_refused("tab\there", &plain, NULL);
	assert_refused("new\nline", &plain, NULL);
	assert_refused("x\x7f", &plain, NULL);
	assert_refused("&AAo-", &plain, NULL);
	assert_refused("bad\001", &utf8, "control");
	assert_refused("nel\xc2\x85", &utf8, "control");
	/* Empty levels */
	assert_refused("", &plain, "empty");
	assert_refused("", &utf8, "empty");
	assert_refused("a..b", &plain, "empty hierarchy level");
	assert_refused(".a", &plain, "empty hierarchy level");
	assert_refused("a.", &plain, "empty hierarchy level");
	assert_refused(".", &plain, "empty hierarchy level");
	/* INBOX is the Maildir itself */
	assert_refused("INBOX.child", &plain, "INBOX");
	assert_refused("inbox.child", &plain, "INBOX");
	/* The Maildir's own files, at any level (with case, as file names are) */
	assert_refused("tmp", &plain, "reserved");
	assert_refused("new", &plain, "reserved");
	assert_refused("cur", &plain, "reserved");
	assert_refused("Archive.new", &plain, "reserved");
	assert_refused("maildirsize", &plain, "reserved");
	assert_refused("maildirfolder", &plain, "reserved");
	assert_refused("subscriptions", &plain, "reserved");
	assert_refused("dovecot-uidlist", &plain, "reserved");
	assert_refused("dovecot-keywords", &plain, "reserved");
	assert_refused("dovecot.index.log", &plain, "reserved");
	assert_refused("postroom-index", &plain, "reserved");
	assert_refused("postroom-uidvalidity", &plain, "reserved");
	assert_refused("postroom-deleted.123", &plain, "reserved");
	assert_refused("courierimapuiddb", &plain, "reserved");
	/* Over-long: the caller's limit, then the store's */
	assert_folder("abcdefghij", &short10, "abcdefghij");
	assert_refused("abcdefghijk", &short10, "too long");
	assert_folder("Entw\xc3\xbc", &short10u, "Entw&APw-");
	assert_refused("Entw\xc3\xbcrfe", &short10u, "too long");	/* 12 bytes once encoded */
	memset(name, 'x', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	assert_refused(name, &plain, "too long");
	assert_refused(name, &utf8, "too long");
	/* Not modified UTF-7 / not UTF-8 */
	assert_refused("&Jjo", &plain, "modified UTF-7");
	assert_refused("&AGE-", &plain, "modified UTF-7");
	assert_refused("\xc0\xaf", &utf8, "UTF-8");
}

static void
assert_wire(const char *folder, bool u8, const char *want)
{
	struct buf	 b;
	char		*s;

	buf_init(&b, 1024);
	if (want == NULL) {
		assert_int_equal(imap_folder_to_name(folder, u8, &b), -1);
	} else {
		assert_int_equal(imap_folder_to_name(folder, u8, &b), 0);
		s = buf_strdup(&b);
		assert_string_equal(s, want);
		free(s);
	}
	buf_release(&b);
}

static void
test_folder_to_name(void **state)
{
	(void)state;
	assert_wire("INBOX", false, "INBOX");
	assert_wire("Archive.2024", false, "Archive.2024");
	assert_wire("Entw&APw-rfe", false, "Entw&APw-rfe");
	assert_wire("Entw&APw-rfe", true, "Entw\xc3\xbcrfe");
	assert_wire("R&-D", true, "R&D");
	/* Names another tool left that no client could name back: not listed */
	assert_wire("&Jjo", false, NULL);
	assert_wire("&AGE-", true, NULL);
	assert_wire("a..b", false, NULL);
	assert_wire("new", false, NULL);
	assert_wire("bad\001", true, NULL);
}

static void
assert_astring(const char *name, bool u8, const char *want)
{
	struct buf	 b;
	char		*s;

	buf_init(&b, 1024);
	assert_int_equal(imap_append_mailbox(&b, name, u8), 0);
	s = buf_strdup(&b);
	assert_string_equal(s, want);
	free(s);
	buf_release(&b);
}

static void
test_append_mailbox(void **state)
{
	struct buf	 b;

	(void)state;
	assert_astring("INBOX", false, "INBOX");
	assert_astring("Archive.2024", false, "Archive.2024");
	assert_astring("a]b", false, "a]b");		/* ']' is an ASTRING-CHAR */
	assert_astring("Entw&APw-rfe", false, "Entw&APw-rfe");
	assert_astring("Sent Items", false, "\"Sent Items\"");
	assert_astring("NIL", false, "\"NIL\"");
	assert_astring("nil", false, "\"nil\"");
	assert_astring("", false, "\"\"");
	assert_astring("a%b", false, "\"a%b\"");
	assert_astring("a*", false, "\"a*\"");
	assert_astring("(x)", false, "\"(x)\"");
	assert_astring("{5}", false, "\"{5}\"");
	assert_astring("say \"hi\"", false, "\"say \\\"hi\\\"\"");
	assert_astring("back\\slash", false, "\"back\\\\slash\"");
	assert_astring("Entw\xc3\xbcrfe", true, "\"Entw\xc3\xbcrfe\"");
	assert_astring("Entw\xc3\xbcrfe", false, "{9}\r\nEntw\xc3\xbcrfe");
	assert_astring("a\r\nb", false, "{4}\r\na\r\nb");
	/* A full buffer says so. */
	buf_init(&b, 4);
	assert_int_equal(imap_append_mailbox(&b, "Sent Items", false), -1);
	buf_release(&b);
}

/* The store refuses the same names without imapd: folder_create, mailbox_open, subscribe. */
static void
test_store_refuses_too(void **state)
{
	static const char *const bad[] = {
		"..", "../evil", "/etc", "a/b", "~", "a.~b", "bad\001", "", "a..b", ".a", "a.",
		"INBOX.child", "tmp", "new", "cur", "Archive.cur", "maildirsize", "dovecot-uidlist",
		"postroom-index", "subscriptions",
	};
	struct store_fx	*fx = *state;
	struct mailbox	*mb;
	struct stat	 sb;
	const char	*error;
	size_t		 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (folder_create(fx->st, fx->maildir, bad[i], &error) == 0)
			fail_msg("store created \"%s\"", bad[i]);
		assert_int_equal(store_error_code(), STORE_ERR_PARAMS);
		assert_int_equal(mailbox_open(fx->st, fx->maildir, bad[i], 0, &mb, &error), -1);
		assert_int_equal(folder_subscribe(fx->st, fx->maildir, bad[i], true, &error), -1);
	}
	assert_int_equal(stat(fx_path(fx, "../evil"), &sb), -1);
	assert_int_equal(stat(fx_path(fx, ".tmp"), &sb), -1);
	/* And takes what imapd maps a UTF-8 name to */
	assert_int_equal(folder_create(fx->st, fx->maildir, "Entw&APw-rfe", &error), 0);
	assert_int_equal(stat(fx_path(fx, ".Entw&APw-rfe/cur"), &sb), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mutf7_both_ways),
		cmocka_unit_test(test_mutf7_decode_strict),
		cmocka_unit_test(test_mutf7_one_spelling),
		cmocka_unit_test(test_mutf7_encode_strict),
		cmocka_unit_test(test_names_accepted),
		cmocka_unit_test(test_hostile_names_refused),
		cmocka_unit_test(test_folder_to_name),
		cmocka_unit_test(test_append_mailbox),
		STORE_FX_TEST(test_store_refuses_too),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
