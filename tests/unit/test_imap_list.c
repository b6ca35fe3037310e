/*
 * imapd's LIST and LSUB: pattern matching and reference joining (RFC 3501
 * 6.3.8), the attributes (CHILDREN, SPECIAL-USE, \Noselect, \NonExistent,
 * \Subscribed), LIST-EXTENDED selection and return options with
 * RECURSIVEMATCH/CHILDINFO (RFC 5258), LIST-STATUS (RFC 5819), LSUB's
 * \Noselect parents (RFC 3501 6.3.9), names as atoms, quoted or UTF-8.
 * Most cases run over a fixed folder list; the last one over a real store.
 */
#include "imapd/imap_list.h"
#include "imapd/imap_command.h"
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
#include <unistd.h>
#include <cmocka.h>

/* As folder_list_info() gives them: INBOX first, then by name, with a \Noselect parent. */
static const struct folder_info	folders[] = {
	{ "INBOX",		FOLDER_HAS_NO_CHILDREN },
	{ "&Jjo",		FOLDER_HAS_NO_CHILDREN },	/* another tool's: no wire form */
	{ "Archive",		FOLDER_ARCHIVE | FOLDER_HAS_CHILDREN },
	{ "Archive.2024",	FOLDER_HAS_NO_CHILDREN },
	{ "Drafts",		FOLDER_DRAFTS | FOLDER_HAS_NO_CHILDREN },
	{ "Entw&APw-rfe",	FOLDER_HAS_NO_CHILDREN },
	{ "Junk",		FOLDER_JUNK | FOLDER_HAS_NO_CHILDREN },
	{ "Projects",		FOLDER_NOSELECT | FOLDER_HAS_CHILDREN },
	{ "Projects.X",		FOLDER_HAS_NO_CHILDREN },
	{ "Sent",		FOLDER_SENT | FOLDER_HAS_NO_CHILDREN },
	{ "Sent Items",		FOLDER_HAS_NO_CHILDREN },
	{ "Trash",		FOLDER_TRASH | FOLDER_HAS_NO_CHILDREN },
};
/* Subscriptions outlive folders: Gone and Old.Stuff do not exist. */
static char *const	subscribed[] = {
	"Sent", "INBOX", "Archive.2024", "Gone", "Projects.X", "Old.Stuff",
};
static const struct imap_list_store	store = {
	folders, sizeof(folders) / sizeof(folders[0]),
	subscribed, sizeof(subscribed) / sizeof(subscribed[0]),
};

static const char	*status_refused;	/* the LIST-STATUS callback fails for it */

static int
fake_status(void *ctx, const char *folder, struct mailbox_status *st)
{
	(void)ctx;
	if (status_refused != NULL && strcmp(folder, status_refused) == 0)
		return -1;
	memset(st, 0, sizeof(*st));
	st->messages = (uint32_t)strlen(folder);
	st->uidnext = st->messages + 1;
	st->uidvalidity = 7;
	st->size = 1000;
	return 0;
}

/* The reply of one request, as one string (malloc'd). */
static char *
run(const struct imap_list_request *req, const struct imap_list_store *data)
{
	struct imap_no	 no = { NULL, NULL };
	struct buf	 out;
	char		*s;

	buf_init(&out, 64 * 1024);
	assert_int_equal(imap_list(req, data, fake_status, NULL, &out, &no), 0);
	s = buf_strdup(&out);
	buf_release(&out);
	return s;
}

static void
check(bool lsub, unsigned sel, const char *ref, const char *pat, unsigned ret, bool utf8,
    const char *want)
{
	const char *const		 pats[] = { pat };
	struct imap_list_request	 req = { lsub, utf8, sel, ref, pats, 1, ret,
	    IMAP_STATUS_MESSAGES | IMAP_STATUS_UIDNEXT };
	char				*got = run(&req, &store);

	if (strcmp(got, want) != 0)
		fail_msg("%s \"%s\" \"%s\":\n--- got\n%s--- want\n%s", lsub ? "LSUB" : "LIST",
		    ref, pat, got, want);
	free(got);
}

#define LIST(ref, pat, want)	check(false, 0, ref, pat, 0, false, want)

static void
test_match(void **state)
{
	char	 big[20001], name[201];

	(void)state;
	assert_true(imap_list_match("*", "a.b"));
	assert_true(imap_list_match("*", ""));
	assert_false(imap_list_match("%", "a.b"));
	assert_true(imap_list_match("%", "ab"));
	assert_true(imap_list_match("a.%", "a.b"));
	assert_false(imap_list_match("a.%", "a.b.c"));
	assert_true(imap_list_match("a.*", "a.b.c"));
	assert_false(imap_list_match("a%", "a.b"));
	assert_true(imap_list_match("%.%", "a.b"));
	assert_true(imap_list_match("*b", "a.b"));
	assert_true(imap_list_match("a*b*c", "aXbYc"));
	assert_false(imap_list_match("a*b*c", "aXbYcd"));
	assert_true(imap_list_match("a%%b", "ab"));
	assert_true(imap_list_match("", ""));
	assert_false(imap_list_match("", "a"));
	assert_false(imap_list_match("Sent", "Sent Items"));
	assert_true(imap_list_match("Sent*", "Sent Items"));
	assert_false(imap_list_match("sent", "Sent"));		/* only INBOX ignores case */
	assert_true(imap_list_match("inbox", "INBOX"));
	assert_true(imap_list_match("iN%", "INBOX"));
	assert_true(imap_list_match("i*", "INBOX"));
	assert_false(imap_list_match("inbox", "Inbox"));
	assert_false(imap_list_match("*.*", "INBOX"));
	/* Wildcards a client piles up cost pattern x name, no backtracking */
	memset(big, '%', sizeof(big) - 1);
	big[sizeof(big) - 2] = 'b';
	big[sizeof(big) - 1] = '\0';
	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	assert_false(imap_list_match(big, name));
	name[sizeof(name) - 2] = 'b';
	assert_true(imap_list_match(big, name));
	big[0] = 'x';
	assert_false(imap_list_match(big, name));
}

static void
test_canonical(void **state)
{
	static const char *const cases[][3] = {
		{ "", "%", "%" },
		{ "", "", "" },
		{ "Archive.", "%", "Archive.%" },
		{ "Archive", ".%", "Archive.%" },
		{ "Archive.", ".%", "Archive.%" },	/* no empty level between them */
		{ "Archive", "%", "Archive%" },
		{ "~", "x", "~x" },			/* joined, then matched: nothing has it */
		{ "", "%%a**b%*%c%", "%a*b*c%" },	/* runs of wildcards made one */
		{ "a%", "%.*", "a%.*" },
	};
	char	*s;
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		s = imap_list_canonical(cases[i][0], cases[i][1]);
		assert_string_equal(s, cases[i][2]);
		free(s);
	}
}

static void
test_list_plain(void **state)
{
	(void)state;
	LIST("", "%",
	    "* LIST (\\HasNoChildren) \".\" INBOX\r\n"
	    "* LIST (\\HasChildren \\Archive) \".\" Archive\r\n"
	    "* LIST (\\HasNoChildren \\Drafts) \".\" Drafts\r\n"
	    "* LIST (\\HasNoChildren) \".\" Entw&APw-rfe\r\n"
	    "* LIST (\\HasNoChildren \\Junk) \".\" Junk\r\n"
	    "* LIST (\\Noselect \\HasChildren) \".\" Projects\r\n"
	    "* LIST (\\HasNoChildren \\Sent) \".\" Sent\r\n"
	    "* LIST (\\HasNoChildren) \".\" \"Sent Items\"\r\n"
	    "* LIST (\\HasNoChildren \\Trash) \".\" Trash\r\n");
	LIST("", "*.*",
	    "* LIST (\\HasNoChildren) \".\" Archive.2024\r\n"
	    "* LIST (\\HasNoChildren) \".\" Projects.X\r\n");
	LIST("Archive.", "%", "* LIST (\\HasNoChildren) \".\" Archive.2024\r\n");
	LIST("Archive", ".%", "* LIST (\\HasNoChildren) \".\" Archive.2024\r\n");
	LIST("Archive.", ".%", "* LIST (\\HasNoChildren) \".\" Archive.2024\r\n");
	LIST("", "Sent*",
	    "* LIST (\\HasNoChildren \\Sent) \".\" Sent\r\n"
	    "* LIST (\\HasNoChildren) \".\" \"Sent Items\"\r\n");
	/* INBOX in any case; nothing else ignores case */
	LIST("", "inbox", "* LIST (\\HasNoChildren) \".\" INBOX\r\n");
	LIST("", "i%", "* LIST (\\HasNoChildren) \".\" INBOX\r\n");
	LIST("", "trash", "");
	/* The hierarchy delimiter, whatever the reference */
	LIST("", "", "* LIST (\\Noselect) \".\" \"\"\r\n");
	LIST("Archive", "", "* LIST (\\Noselect) \".\" \"\"\r\n");
	/* Patterns that name nothing: nothing, never an error */
	LIST("", "/etc/*", "");
	LIST("..", "*", "");
	LIST("", "&Jjo", "");
	/* Subscriptions alone are not folders */
	LIST("", "Gone", "");
	/* UTF8=ACCEPT: names go out (and patterns come in) as UTF-8 */
	check(false, 0, "", "Entw*", 0, true,
	    "* LIST (\\HasNoChildren) \".\" \"Entw\xc3\xbcrfe\"\r\n");
	check(false, 0, "", "Entw\xc3\xbc%", 0, true,
	    "* LIST (\\HasNoChildren) \".\" \"Entw\xc3\xbcrfe\"\r\n");
}

static void
test_list_extended(void **state)
{
	const char *const		 two[] = { "INBOX", "Archive.*" };
	struct imap_list_request	 req = { false, false, 0, "", two, 2, 0, 0 };
	char				*got, *all;

	(void)state;
	/* (SUBSCRIBED): what is subscribed, \NonExistent where no folder is */
	check(false, IMAP_LIST_SEL_SUBSCRIBED, "", "*", 0, false,
	    "* LIST (\\Subscribed \\HasNoChildren) \".\" INBOX\r\n"
	    "* LIST (\\Subscribed \\HasNoChildren) \".\" Archive.2024\r\n"
	    "* LIST (\\NonExistent \\Subscribed \\HasNoChildren) \".\" Gone\r\n"
	    "* LIST (\\NonExistent \\Subscribed \\HasNoChildren) \".\" Old.Stuff\r\n"
	    "* LIST (\\Subscribed \\HasNoChildren) \".\" Projects.X\r\n"
	    "* LIST (\\Subscribed \\HasNoChildren \\Sent) \".\" Sent\r\n");
	/* (SUBSCRIBED RECURSIVEMATCH) "%": parents stand in for their subscribed children */
	check(false, IMAP_LIST_SEL_SUBSCRIBED | IMAP_LIST_SEL_RECURSIVEMATCH, "", "%", 0, false,
	    "* LIST (\\Subscribed \\HasNoChildren) \".\" INBOX\r\n"
	    "* LIST (\\HasChildren \\Archive) \".\" Archive (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n"
	    "* LIST (\\NonExistent \\Subscribed \\HasNoChildren) \".\" Gone\r\n"
	    "* LIST (\\NonExistent \\HasChildren) \".\" Old (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n"
	    "* LIST (\\Noselect \\HasChildren) \".\" Projects (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n"
	    "* LIST (\\Subscribed \\HasNoChildren \\Sent) \".\" Sent\r\n");
	/* ... but not when the children are listed themselves */
	check(false, IMAP_LIST_SEL_SUBSCRIBED | IMAP_LIST_SEL_RECURSIVEMATCH, "", "Archive*", 0,
	    false, "* LIST (\\Subscribed \\HasNoChildren) \".\" Archive.2024\r\n");
	/* (SPECIAL-USE) */
	check(false, IMAP_LIST_SEL_SPECIAL_USE, "", "*", 0, false,
	    "* LIST (\\HasChildren \\Archive) \".\" Archive\r\n"
	    "* LIST (\\HasNoChildren \\Drafts) \".\" Drafts\r\n"
	    "* LIST (\\HasNoChildren \\Junk) \".\" Junk\r\n"
	    "* LIST (\\HasNoChildren \\Sent) \".\" Sent\r\n"
	    "* LIST (\\HasNoChildren \\Trash) \".\" Trash\r\n");
	check(false, IMAP_LIST_SEL_SPECIAL_USE | IMAP_LIST_SEL_SUBSCRIBED, "", "*", 0, false,
	    "* LIST (\\Subscribed \\HasNoChildren \\Sent) \".\" Sent\r\n");
	/* RETURN (SUBSCRIBED CHILDREN SPECIAL-USE): the same folders, \Subscribed added */
	check(false, 0, "", "%", IMAP_LIST_RET_SUBSCRIBED | IMAP_LIST_RET_CHILDREN |
	    IMAP_LIST_RET_SPECIAL_USE, false,
	    "* LIST (\\Subscribed \\HasNoChildren) \".\" INBOX\r\n"
	    "* LIST (\\HasChildren \\Archive) \".\" Archive\r\n"
	    "* LIST (\\HasNoChildren \\Drafts) \".\" Drafts\r\n"
	    "* LIST (\\HasNoChildren) \".\" Entw&APw-rfe\r\n"
	    "* LIST (\\HasNoChildren \\Junk) \".\" Junk\r\n"
	    "* LIST (\\Noselect \\HasChildren) \".\" Projects\r\n"
	    "* LIST (\\Subscribed \\HasNoChildren \\Sent) \".\" Sent\r\n"
	    "* LIST (\\HasNoChildren) \".\" \"Sent Items\"\r\n"
	    "* LIST (\\HasNoChildren \\Trash) \".\" Trash\r\n");
	/* Several patterns: each name once */
	got = run(&req, &store);
	assert_string_equal(got,
	    "* LIST (\\HasNoChildren) \".\" INBOX\r\n"
	    "* LIST (\\HasNoChildren) \".\" Archive.2024\r\n");
	free(got);
	req.patterns = (const char *const[]){ "*", "%" };
	got = run(&req, &store);
	req.patterns = (const char *const[]){ "*" };
	req.npatterns = 1;
	all = run(&req, &store);
	assert_string_equal(got, all);
	free(got);
	free(all);
}

static void
test_list_status(void **state)
{
	(void)state;
	/* A STATUS line after each selectable folder; none for \Noselect, none on failure */
	status_refused = "Junk";
	check(false, 0, "", "%", IMAP_LIST_RET_STATUS, false,
	    "* LIST (\\HasNoChildren) \".\" INBOX\r\n"
	    "* STATUS INBOX (MESSAGES 5 UIDNEXT 6)\r\n"
	    "* LIST (\\HasChildren \\Archive) \".\" Archive\r\n"
	    "* STATUS Archive (MESSAGES 7 UIDNEXT 8)\r\n"
	    "* LIST (\\HasNoChildren \\Drafts) \".\" Drafts\r\n"
	    "* STATUS Drafts (MESSAGES 6 UIDNEXT 7)\r\n"
	    "* LIST (\\HasNoChildren) \".\" Entw&APw-rfe\r\n"
	    "* STATUS Entw&APw-rfe (MESSAGES 12 UIDNEXT 13)\r\n"
	    "* LIST (\\HasNoChildren \\Junk) \".\" Junk\r\n"
	    "* LIST (\\Noselect \\HasChildren) \".\" Projects\r\n"
	    "* LIST (\\HasNoChildren \\Sent) \".\" Sent\r\n"
	    "* STATUS Sent (MESSAGES 4 UIDNEXT 5)\r\n"
	    "* LIST (\\HasNoChildren) \".\" \"Sent Items\"\r\n"
	    "* STATUS \"Sent Items\" (MESSAGES 10 UIDNEXT 11)\r\n"
	    "* LIST (\\HasNoChildren \\Trash) \".\" Trash\r\n"
	    "* STATUS Trash (MESSAGES 5 UIDNEXT 6)\r\n");
	status_refused = NULL;
	/* Not for a subscription that is no folder */
	check(false, IMAP_LIST_SEL_SUBSCRIBED, "", "Gone", IMAP_LIST_RET_STATUS, false,
	    "* LIST (\\NonExistent \\Subscribed \\HasNoChildren) \".\" Gone\r\n");
}

static void
test_lsub(void **state)
{
	(void)state;
	check(true, 0, "", "*", 0, false,
	    "* LSUB () \".\" INBOX\r\n"
	    "* LSUB () \".\" Archive.2024\r\n"
	    "* LSUB (\\Noselect) \".\" Gone\r\n"
	    "* LSUB (\\Noselect) \".\" Old.Stuff\r\n"
	    "* LSUB () \".\" Projects.X\r\n"
	    "* LSUB () \".\" Sent\r\n");
	/* '%' hides subscribed children: their parents stand in, \Noselect (RFC 3501 6.3.9) */
	check(true, 0, "", "%", 0, false,
	    "* LSUB () \".\" INBOX\r\n"
	    "* LSUB (\\Noselect) \".\" Archive\r\n"
	    "* LSUB (\\Noselect) \".\" Gone\r\n"
	    "* LSUB (\\Noselect) \".\" Old\r\n"
	    "* LSUB (\\Noselect) \".\" Projects\r\n"
	    "* LSUB () \".\" Sent\r\n");
	check(true, 0, "Archive.", "%", 0, false, "* LSUB () \".\" Archive.2024\r\n");
	check(true, 0, "", "Trash", 0, false, "");
	check(true, 0, "", "", 0, false, "* LSUB (\\Noselect) \".\" \"\"\r\n");
}

static void
test_list_full_buffer(void **state)
{
	const char *const		 pats[] = { "*" };
	struct imap_list_request	 req = { false, false, 0, "", pats, 1, 0, 0 };
	struct imap_no			 no = { NULL, NULL };
	struct buf			 out;

	(void)state;
	buf_init(&out, 200);
	assert_int_equal(buf_puts(&out, "before\r\n"), 0);
	assert_int_equal(imap_list(&req, &store, NULL, NULL, &out, &no), -1);
	assert_string_equal(no.code, "LIMIT");
	assert_non_null(no.text);
	/* Nothing half-written is left behind */
	assert_int_equal(buf_len(&out), 8);
	assert_memory_equal(buf_head(&out), "before\r\n", 8);
	buf_release(&out);
}

/* The CPU a LIST may take is bounded: pattern x name cells, then NO [LIMIT]. */
static void
test_list_match_budget(void **state)
{
	const char *const		 pats[] = { "%a%a%a%a%a%a%a%a%a%a%a%a%a%a%a%a%a%a%a%a%ab" };
	struct imap_list_request	 req = { false, false, 0, "", pats, 1, 0, 0 };
	struct imap_no			 no = { NULL, NULL, NULL };
	struct buf			 out;

	(void)state;
	buf_init(&out, 64 * 1024);
	/* 12 folders of up to 12 bytes with a 45-byte pattern: well within the default */
	assert_int_equal(imap_list(&req, &store, NULL, NULL, &out, &no), 0);
	assert_int_equal(buf_len(&out), 0);
	req.match_cells_max = 500;
	assert_int_equal(buf_puts(&out, "x"), 0);
	assert_int_equal(imap_list(&req, &store, NULL, NULL, &out, &no), -1);
	assert_string_equal(no.code, "LIMIT");
	assert_non_null(strstr(no.text, "too complex"));
	assert_int_equal(buf_len(&out), 1);
	/* The same budget is plenty for "*" */
	req.patterns = (const char *const[]){ "*" };
	buf_reset(&out);
	assert_int_equal(imap_list(&req, &store, NULL, NULL, &out, &no), 0);
	assert_true(buf_len(&out) > 0);
	buf_release(&out);
}

/* The store's own lists, as the session will read them. */
static void
test_list_from_store(void **state)
{
	const char *const		 pats[] = { "*" };
	struct imap_list_request	 req = { false, false, 0, "", pats, 1, 0, 0 };
	struct store_fx			*fx = *state;
	struct imap_list_store		 data;
	struct folder_info		*v;
	const char			*error;
	char				**subs, *got;
	size_t				 nv, ns;
	FILE				*f;

	assert_int_equal(folder_create(fx->st, fx->maildir, "Archive", &error), 0);
	assert_int_equal(folder_create(fx->st, fx->maildir, "Archive.2024", &error), 0);
	assert_int_equal(folder_create(fx->st, fx->maildir, "Entw&APw-rfe", &error), 0);
	assert_int_equal(folder_subscribe(fx->st, fx->maildir, "Archive.2024", true, &error), 0);
	assert_int_equal(folder_subscribe(fx->st, fx->maildir, "Sent", true, &error), 0);
	assert_int_equal(folder_subscribe(fx->st, fx->maildir, "Sent", true, &error), 0);
	/* Lines another tool wrote: kept in the file, left out of the list */
	f = fopen(fx_path(fx, "subscriptions"), "a");
	assert_non_null(f);
	fputs("inbox\n../evil\nnew\n\na..b\n", f);
	fclose(f);
	assert_int_equal(folder_list_info(fx->st, fx->maildir, &v, &nv, &error), 0);
	assert_int_equal(folder_subscriptions(fx->st, fx->maildir, &subs, &ns, &error), 0);
	/* store_create_user subscribed its four; then ours, in the file's order */
	assert_int_equal(ns, 6);
	assert_string_equal(subs[0], "Sent");
	assert_string_equal(subs[3], "Junk");
	assert_string_equal(subs[4], "Archive.2024");
	assert_string_equal(subs[5], "INBOX");
	data = (struct imap_list_store){ v, nv, subs, ns };
	got = run(&req, &data);
	assert_string_equal(got,
	    "* LIST (\\HasNoChildren) \".\" INBOX\r\n"
	    "* LIST (\\HasChildren \\Archive) \".\" Archive\r\n"
	    "* LIST (\\HasNoChildren) \".\" Archive.2024\r\n"
	    "* LIST (\\HasNoChildren \\Drafts) \".\" Drafts\r\n"
	    "* LIST (\\HasNoChildren) \".\" Entw&APw-rfe\r\n"
	    "* LIST (\\HasNoChildren \\Junk) \".\" Junk\r\n"
	    "* LIST (\\HasNoChildren \\Sent) \".\" Sent\r\n"
	    "* LIST (\\HasNoChildren \\Trash) \".\" Trash\r\n");
	free(got);
	req.lsub = true;
	got = run(&req, &data);
	assert_string_equal(got,
	    "* LSUB () \".\" INBOX\r\n"
	    "* LSUB () \".\" Archive.2024\r\n"
	    "* LSUB () \".\" Drafts\r\n"
	    "* LSUB () \".\" Junk\r\n"
	    "* LSUB () \".\" Sent\r\n"
	    "* LSUB () \".\" Trash\r\n");
	free(got);
	folder_info_free(&v, nv);
	folder_names_free(&subs, ns);
	assert_null(subs);
	/* Unsubscribing takes the name out; a missing file is an empty list */
	assert_int_equal(folder_subscribe(fx->st, fx->maildir, "Sent", false, &error), 0);
	assert_int_equal(folder_subscriptions(fx->st, fx->maildir, &subs, &ns, &error), 0);
	assert_int_equal(ns, 5);
	folder_names_free(&subs, ns);
	assert_int_equal(unlink(fx_path(fx, "subscriptions")), 0);
	assert_int_equal(folder_subscriptions(fx->st, fx->maildir, &subs, &ns, &error), 0);
	assert_int_equal(ns, 0);
	folder_names_free(&subs, ns);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_canonical),
		cmocka_unit_test(test_list_plain),
		cmocka_unit_test(test_list_extended),
		cmocka_unit_test(test_list_status),
		cmocka_unit_test(test_lsub),
		cmocka_unit_test(test_list_full_buffer),
		cmocka_unit_test(test_list_match_budget),
		STORE_FX_TEST(test_list_from_store),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
