/*
 * imapd's folder commands over a real store: CREATE (superiors, trailing
 * delimiter), DELETE (never INBOX, children stay), RENAME (children move;
 * RFC 3501's INBOX rule), SUBSCRIBE/UNSUBSCRIBE, STATUS; each refusal with
 * its RFC 5530 code, and no hostile name reaching the file system.
 */
#include "imapd/imap_folders.h"
#include "imapd/imap_command.h"
#include "store/store.h"
#include "tests/unit/store_fixture.h"
#include "lib/buf.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

static const struct imap_name_opts	plain = { 0, false }, utf8 = { 0, true };
static const char			*maildir;	/* of the running test */

static struct imap_folders
folders_of(struct store_fx *fx, const struct imap_name_opts *o)
{
	maildir = fx->maildir;
	return (struct imap_folders){ fx->st, fx->maildir, o };
}

static bool
exists(struct store_fx *fx, const char *rel)
{
	struct stat	 sb;

	return stat(fx_path(fx, rel), &sb) == 0;
}

/* rc is -1 with code, a text, and not the Maildir's path in the text. */
#define assert_no(rc, no, want) do {						\
	assert_int_equal((rc), -1);						\
	if (strcmp((no)->code, (want)) != 0)					\
		fail_msg("[%s] %s (%s), not [%s]", (no)->code, (no)->text,	\
		    (no)->detail != NULL ? (no)->detail : "", (want));		\
	assert_non_null((no)->text);						\
	assert_null(strstr((no)->text, maildir));				\
} while (0)

static void
test_create(void **state)
{
	struct store_fx		*fx = *state;
	struct imap_folders	 f = folders_of(fx, &plain), fu = folders_of(fx, &utf8);
	struct imap_no		 no;

	assert_int_equal(imap_folder_create(&f, "Archive", &no), 0);
	assert_true(exists(fx, ".Archive/cur"));
	assert_no(imap_folder_create(&f, "Archive", &no), &no, "ALREADYEXISTS");
	assert_no(imap_folder_create(&f, "Sent", &no), &no, "ALREADYEXISTS");
	assert_no(imap_folder_create(&f, "INBOX", &no), &no, "ALREADYEXISTS");
	assert_no(imap_folder_create(&f, "inbox", &no), &no, "ALREADYEXISTS");
	/* Superiors are created; existing ones are fine */
	assert_int_equal(imap_folder_create(&f, "A.B.C", &no), 0);
	assert_true(exists(fx, ".A/cur"));
	assert_true(exists(fx, ".A.B/cur"));
	assert_true(exists(fx, ".A.B.C/cur"));
	assert_int_equal(imap_folder_create(&f, "Archive.2024", &no), 0);
	/* A trailing delimiter: the folder, children to come */
	assert_int_equal(imap_folder_create(&f, "Trail.", &no), 0);
	assert_true(exists(fx, ".Trail/cur"));
	assert_false(exists(fx, ".Trail./cur"));
	assert_no(imap_folder_create(&f, "Trail..", &no), &no, "CANNOT");
	assert_no(imap_folder_create(&f, ".", &no), &no, "CANNOT");
	/* UTF8=ACCEPT: kept in modified UTF-7 on disk */
	assert_int_equal(imap_folder_create(&fu, "Entw\xc3\xbcrfe", &no), 0);
	assert_true(exists(fx, ".Entw&APw-rfe/cur"));
	assert_no(imap_folder_create(&f, "Entw&APw-rfe", &no), &no, "ALREADYEXISTS");
	/* Hostile names: refused before the store sees them, nothing made */
	assert_no(imap_folder_create(&f, "../evil", &no), &no, "CANNOT");
	assert_false(exists(fx, "../evil"));
	assert_no(imap_folder_create(&f, "/tmp/x", &no), &no, "CANNOT");
	assert_no(imap_folder_create(&f, "tmp", &no), &no, "CANNOT");
	assert_false(exists(fx, ".tmp"));
	assert_no(imap_folder_create(&f, "x.new", &no), &no, "CANNOT");
	assert_false(exists(fx, ".x"));			/* no superior made for a refused name */
	assert_no(imap_folder_create(&f, "~x", &no), &no, "CANNOT");
	assert_no(imap_folder_create(&f, "a\001", &no), &no, "CANNOT");
	assert_no(imap_folder_create(&f, "INBOX.x", &no), &no, "CANNOT");
	assert_no(imap_folder_create(&f, "&Jjo", &no), &no, "CANNOT");
}

static void
test_delete(void **state)
{
	struct store_fx		*fx = *state;
	struct imap_folders	 f = folders_of(fx, &plain);
	struct imap_no		 no;

	assert_int_equal(imap_folder_create(&f, "Archive", &no), 0);
	assert_int_equal(imap_folder_delete(&f, "Archive", &no), 0);
	assert_false(exists(fx, ".Archive"));
	assert_no(imap_folder_delete(&f, "Archive", &no), &no, "NONEXISTENT");
	assert_no(imap_folder_delete(&f, "Nope", &no), &no, "NONEXISTENT");
	assert_no(imap_folder_delete(&f, "INBOX", &no), &no, "CANNOT");
	assert_no(imap_folder_delete(&f, "Inbox", &no), &no, "CANNOT");
	assert_true(exists(fx, "cur"));
	assert_no(imap_folder_delete(&f, "..", &no), &no, "CANNOT");
	assert_no(imap_folder_delete(&f, "cur", &no), &no, "CANNOT");
	assert_true(exists(fx, "cur"));
	/* The children stay: the parent is then a \Noselect name */
	assert_int_equal(imap_folder_create(&f, "P.C", &no), 0);
	assert_int_equal(imap_folder_delete(&f, "P", &no), 0);
	assert_false(exists(fx, ".P"));
	assert_true(exists(fx, ".P.C/cur"));
	assert_no(imap_folder_delete(&f, "P", &no), &no, "NONEXISTENT");
}

static uint32_t
messages_in(struct store_fx *fx, const char *folder)
{
	struct mailbox		*mb = fx_open(fx, folder, MAILBOX_READONLY);
	struct mailbox_status	 st;

	assert_int_equal(mailbox_status(mb, &st), 0);
	mailbox_close(&mb);
	return st.messages;
}

static void
test_rename(void **state)
{
	struct store_fx		*fx = *state;
	struct imap_folders	 f = folders_of(fx, &plain);
	struct imap_no		 no;

	assert_int_equal(imap_folder_create(&f, "Archive.2024", &no), 0);
	assert_int_equal(imap_folder_rename(&f, "Archive", "Old", &no), 0);
	assert_true(exists(fx, ".Old/cur"));
	assert_true(exists(fx, ".Old.2024/cur"));		/* children move along */
	assert_false(exists(fx, ".Archive"));
	assert_no(imap_folder_rename(&f, "Archive", "New", &no), &no, "NONEXISTENT");
	assert_no(imap_folder_rename(&f, "Old", "Sent", &no), &no, "ALREADYEXISTS");
	assert_no(imap_folder_rename(&f, "Old", "Old", &no), &no, "ALREADYEXISTS");
	assert_no(imap_folder_rename(&f, "Old", "INBOX", &no), &no, "ALREADYEXISTS");
	assert_no(imap_folder_rename(&f, "Old", "inbox", &no), &no, "ALREADYEXISTS");
	assert_no(imap_folder_rename(&f, "Old", "../x", &no), &no, "CANNOT");
	assert_no(imap_folder_rename(&f, "Old", "tmp", &no), &no, "CANNOT");
	assert_no(imap_folder_rename(&f, "/etc", "x", &no), &no, "CANNOT");
	assert_true(exists(fx, ".Old/cur"));
	/* RENAME INBOX: its messages move, INBOX stays, empty (RFC 3501 6.3.5) */
	fx_deliver_n(fx, 3);
	assert_int_equal(imap_folder_rename(&f, "inbox", "Saved", &no), 0);
	assert_int_equal(messages_in(fx, "Saved"), 3);
	assert_int_equal(messages_in(fx, "INBOX"), 0);
	assert_true(exists(fx, "cur"));
	assert_no(imap_folder_rename(&f, "INBOX", "Saved", &no), &no, "ALREADYEXISTS");
}

static void
test_subscribe(void **state)
{
	struct store_fx		*fx = *state;
	struct imap_folders	 f = folders_of(fx, &plain), fu = folders_of(fx, &utf8);
	struct imap_no		 no;
	char			**subs;
	size_t			 n, i;
	const char		*error;
	bool			 later = false, entw = false;

	assert_int_equal(imap_folder_subscribe(&f, "Later", true, &no), 0);	/* no folder yet */
	assert_int_equal(imap_folder_subscribe(&fu, "Entw\xc3\xbcrfe", true, &no), 0);
	assert_int_equal(imap_folder_subscribe(&f, "Sent", false, &no), 0);
	assert_int_equal(imap_folder_subscribe(&f, "Sent", false, &no), 0);	/* idempotent */
	assert_no(imap_folder_subscribe(&f, "../evil", true, &no), &no, "CANNOT");
	assert_no(imap_folder_subscribe(&f, "a\nb", true, &no), &no, "CANNOT");
	assert_int_equal(folder_subscriptions(fx->st, fx->maildir, &subs, &n, &error), 0);
	for (i = 0; i < n; i++) {
		assert_string_not_equal(subs[i], "Sent");
		later |= strcmp(subs[i], "Later") == 0;
		entw |= strcmp(subs[i], "Entw&APw-rfe") == 0;
	}
	assert_true(later && entw);
	folder_names_free(&subs, n);
}

static void
test_status(void **state)
{
	struct store_fx		*fx = *state;
	struct imap_folders	 f = folders_of(fx, &plain), fu = folders_of(fx, &utf8);
	const unsigned		 items = IMAP_STATUS_MESSAGES | IMAP_STATUS_UIDNEXT |
	    IMAP_STATUS_UNSEEN;
	struct imap_no		 no;
	struct buf		 out;
	char			*s;

	fx_deliver_n(fx, 2);
	buf_init(&out, 4096);
	assert_int_equal(imap_folder_status(&f, "inbox", items, &out, &no), 0);
	assert_int_equal(imap_folder_create(&fu, "Entw\xc3\xbcrfe", &no), 0);
	assert_int_equal(imap_folder_status(&fu, "Entw\xc3\xbcrfe", IMAP_STATUS_MESSAGES, &out,
	    &no), 0);
	assert_int_equal(imap_folder_status(&f, "Entw&APw-rfe", IMAP_STATUS_MESSAGES, &out,
	    &no), 0);
	s = buf_strdup(&out);
	assert_string_equal(s,
	    "* STATUS INBOX (MESSAGES 2 UIDNEXT 3 UNSEEN 2)\r\n"
	    "* STATUS \"Entw\xc3\xbcrfe\" (MESSAGES 0)\r\n"
	    "* STATUS Entw&APw-rfe (MESSAGES 0)\r\n");
	free(s);
	buf_reset(&out);
	assert_no(imap_folder_status(&f, "Nope", items, &out, &no), &no, "NONEXISTENT");
	assert_int_equal(imap_folder_create(&f, "P.C", &no), 0);
	assert_int_equal(imap_folder_delete(&f, "P", &no), 0);
	assert_no(imap_folder_status(&f, "P", items, &out, &no), &no, "NONEXISTENT");
	assert_no(imap_folder_status(&f, "../evil", items, &out, &no), &no, "CANNOT");
	assert_int_equal(buf_len(&out), 0);
	buf_release(&out);
	/* A reply that does not fit leaves nothing behind */
	buf_init(&out, 20);
	assert_int_equal(buf_puts(&out, "x"), 0);
	assert_no(imap_folder_status(&f, "INBOX", items, &out, &no), &no, "LIMIT");
	assert_int_equal(buf_len(&out), 1);
	buf_release(&out);
}

static char *
list(const struct imap_folders *f, const char *name, unsigned sel, const char *pattern,
    unsigned ret, unsigned items)
{
	const char		*pats[] = { pattern };
	struct imap_command	 cmd;
	struct imap_no		 no;
	struct buf		 out;
	char			*s;

	memset(&cmd, 0, sizeof(cmd));
	cmd.tag = "a";
	cmd.def = imap_command_find(name, strlen(name));
	assert_non_null(cmd.def);
	cmd.u.list.select_opts = sel;
	cmd.u.list.reference = "";
	cmd.u.list.patterns.v = pats;
	cmd.u.list.patterns.n = 1;
	cmd.u.list.return_opts = ret;
	cmd.u.list.status_items = items;
	buf_init(&out, 64 * 1024);
	assert_int_equal(imap_folder_list(f, &cmd, &out, &no), 0);
	s = buf_strdup(&out);
	buf_release(&out);
	return s;
}

/* LIST and LSUB over the store, LIST-STATUS from the folders themselves. */
static void
test_list(void **state)
{
	struct store_fx		*fx = *state;
	struct imap_folders	 f = folders_of(fx, &plain);
	struct imap_no		 no;
	char			*s;

	fx_deliver_n(fx, 2);
	assert_int_equal(imap_folder_create(&f, "Archive.2024", &no), 0);
	assert_int_equal(imap_folder_subscribe(&f, "Archive.2024", true, &no), 0);
	s = list(&f, "LIST", 0, "*", IMAP_LIST_RET_STATUS, IMAP_STATUS_MESSAGES);
	assert_string_equal(s,
	    "* LIST (\\HasNoChildren) \".\" INBOX\r\n"
	    "* STATUS INBOX (MESSAGES 2)\r\n"
	    "* LIST (\\HasChildren \\Archive) \".\" Archive\r\n"
	    "* STATUS Archive (MESSAGES 0)\r\n"
	    "* LIST (\\HasNoChildren) \".\" Archive.2024\r\n"
	    "* STATUS Archive.2024 (MESSAGES 0)\r\n"
	    "* LIST (\\HasNoChildren \\Drafts) \".\" Drafts\r\n"
	    "* STATUS Drafts (MESSAGES 0)\r\n"
	    "* LIST (\\HasNoChildren \\Junk) \".\" Junk\r\n"
	    "* STATUS Junk (MESSAGES 0)\r\n"
	    "* LIST (\\HasNoChildren \\Sent) \".\" Sent\r\n"
	    "* STATUS Sent (MESSAGES 0)\r\n"
	    "* LIST (\\HasNoChildren \\Trash) \".\" Trash\r\n"
	    "* STATUS Trash (MESSAGES 0)\r\n");
	free(s);
	s = list(&f, "LSUB", 0, "%", 0, 0);
	assert_string_equal(s,
	    "* LSUB (\\Noselect) \".\" Archive\r\n"
	    "* LSUB () \".\" Drafts\r\n"
	    "* LSUB () \".\" Junk\r\n"
	    "* LSUB () \".\" Sent\r\n"
	    "* LSUB () \".\" Trash\r\n");
	free(s);
	s = list(&f, "LIST", IMAP_LIST_SEL_SUBSCRIBED, "A*", 0, 0);
	assert_string_equal(s, "* LIST (\\Subscribed \\HasNoChildren) \".\" Archive.2024\r\n");
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		STORE_FX_TEST(test_create),
		STORE_FX_TEST(test_delete),
		STORE_FX_TEST(test_rename),
		STORE_FX_TEST(test_subscribe),
		STORE_FX_TEST(test_status),
		STORE_FX_TEST(test_list),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
