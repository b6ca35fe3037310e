/*
 * The first sync for POP3 (issue 18 item 4): a new file's record comes from
 * S= and W= in its name and a stat, without reading it, when S= is the
 * file's size; a name without sizes, or with ones that cannot be this
 * file's, is read and counted.  POP3 leaves the file in new/ under its
 * name (its UID in postroom-new-uids); the first other handle moves it into
 * cur/ with the right sizes in its name, and a rebuild, or a handle that
 * parses, agrees.
 */
#include "store/store.h"
#include "tests/unit/store_fixture.h"
#include "lib/xmalloc.h"

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

/* 7 bytes on disk, two bare LFs and one CRLF: RFC822.SIZE 9. */
#define TEXT		"a\nb\r\nc\n"
#define TEXT_VSIZE	9

static struct store_fx *
setup(void)
{
	return store_fx_new("firstsync", 0, "alice");
}

static void
put_file(const char *maildir, const char *name, const char *text)
{
	char	*path = xasprintf("%s/new/%s", maildir, name);
	FILE	*f;

	assert_non_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
	free(path);
}

static int
file_exists(const char *maildir, const char *sub, const char *name)
{
	char	*path = xasprintf("%s/%s/%s", maildir, sub, name);
	int	 rc = access(path, F_OK) == 0;

	free(path);
	return rc;
}

/* Open INBOX as pop3d does; the one message's RFC822.SIZE. */
static uint64_t
pop3_size(struct store_fx *fx, uint32_t *uid_r)
{
	const struct msg_info	*mi;
	struct mailbox		*mb;
	const char		*error;
	size_t			 n;
	uint64_t		 size;

	if (mailbox_open(fx->st, fx->maildir, "INBOX", MAILBOX_POP3_LOCK, &mb, &error) == -1)
		fail_msg("open: %s", error);
	assert_int_equal(mailbox_messages(mb, &mi, &n, &error), 0);
	assert_int_equal(n, 1);
	size = mi[0].size;
	if (uid_r != NULL)
		*uid_r = mi[0].uid;
	mailbox_close(&mb);
	return size;
}

/* Open INBOX as imapd would (no POP3 lock): new/ is moved into cur/. */
static void
open_other(struct store_fx *fx)
{
	struct mailbox	*mb;
	const char	*error;

	if (mailbox_open(fx->st, fx->maildir, "INBOX", 0, &mb, &error) == -1)
		fail_msg("open: %s", error);
	mailbox_close(&mb);
}

/*
 * W= is believed without reading the file: a W= the content does not
 * give (but S= right, W= within S..2*S) is what the record says.
 */
static void
test_sizes_from_name(void **state)
{
	struct store_fx	*fx = setup();
	const char	*error;

	(void)state;
	put_file(fx->maildir, "1.M1P1Q1.host,S=7,W=12", TEXT);
	assert_int_equal(pop3_size(fx, NULL), 12);
	assert_true(file_exists(fx->maildir, "new", "1.M1P1Q1.host,S=7,W=12"));
	open_other(fx);
	assert_true(file_exists(fx->maildir, "cur", "1.M1P1Q1.host,S=7,W=12,U=1:2,"));
	assert_int_equal(fx_consistent(fx->st, fx->maildir, "INBOX", &error), 0);
	store_fx_free(&fx);
}

/* Another tool's name without sizes: read and counted, then named with them. */
static void
test_foreign_name(void **state)
{
	struct store_fx	*fx = setup();

	(void)state;
	put_file(fx->maildir, "1700000000.foreign.example", TEXT);
	assert_int_equal(pop3_size(fx, NULL), TEXT_VSIZE);
	assert_int_equal(pop3_size(fx, NULL), TEXT_VSIZE);	/* from the index */
	open_other(fx);
	assert_true(file_exists(fx->maildir, "cur", "1700000000.foreign.example,S=7,W=9,U=1:2,"));
	store_fx_free(&fx);
}

/* Sizes that cannot be the file's: the file wins, and its new name says so. */
static void
test_damaged_sizes(void **state)
{
	static const char	*names[][2] = {
		{ "2.M2P2Q2.host,S=999,W=1200", "2.M2P2Q2.host,S=7,W=9,U=1:2," },
		{ "3.M3P3Q3.host,S=7,W=6", "3.M3P3Q3.host,S=7,W=9,U=1:2," },	/* W < S */
		{ "4.M4P4Q4.host,S=7,W=15", "4.M4P4Q4.host,S=7,W=9,U=1:2," },	/* W > 2*S */
		{ "5.M5P5Q5.host,W=9", "5.M5P5Q5.host,S=7,W=9,U=1:2," },	/* no S= */
	};
	struct store_fx	*fx;
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		fx = setup();
		put_file(fx->maildir, names[i][0], TEXT);
		assert_int_equal(pop3_size(fx, NULL), TEXT_VSIZE);
		open_other(fx);
		assert_true(file_exists(fx->maildir, "cur", names[i][1]));
		assert_false(file_exists(fx->maildir, "new", names[i][0]));
		store_fx_free(&fx);
	}
}

/*
 * Delivered mail: the POP3 sync (names) and a parsing sync (content) give
 * the same sizes, and a rebuild after the index is lost the same UIDs.
 */
static void
test_agrees_with_parse_and_rebuild(void **state)
{
	struct store_fx		*pop = setup(), *imap = setup();
	const struct msg_info	*a, *b;
	struct mailbox		*ma, *mb;
	const char		*error;
	char			*text, *cmd;
	uint32_t		 uids[20];
	uint64_t		 sizes[20];
	size_t			 na, nb, i;

	(void)state;
	for (i = 0; i < 20; i++) {
		text = fx_message((unsigned)i);
		assert_int_equal(fx_deliver(pop->st, pop->maildir, text), 0);
		assert_int_equal(fx_deliver(imap->st, imap->maildir, text), 0);
		free(text);
	}
	assert_int_equal(mailbox_open(pop->st, pop->maildir, "INBOX", MAILBOX_POP3_LOCK, &ma,
	    &error), 0);
	assert_int_equal(mailbox_open(imap->st, imap->maildir, "INBOX", 0, &mb, &error), 0);
	assert_int_equal(mailbox_messages(ma, &a, &na, &error), 0);
	assert_int_equal(mailbox_messages(mb, &b, &nb, &error), 0);
	assert_int_equal(na, 20);
	assert_int_equal(nb, 20);
	for (i = 0; i < na; i++) {
		assert_int_equal(a[i].size, b[i].size);
		uids[i] = a[i].uid;
		sizes[i] = a[i].size;
	}
	mailbox_close(&ma);
	mailbox_close(&mb);

	cmd = xasprintf("rm -rf %s/postroom-index", pop->maildir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	assert_int_equal(mailbox_open(pop->st, pop->maildir, "INBOX", MAILBOX_POP3_LOCK, &ma,
	    &error), 0);
	assert_int_equal(mailbox_messages(ma, &a, &na, &error), 0);
	assert_int_equal(na, 20);
	for (i = 0; i < na; i++) {
		assert_int_equal(a[i].uid, uids[i]);
		assert_int_equal(a[i].size, sizes[i]);
	}
	mailbox_close(&ma);
	assert_int_equal(fx_consistent(pop->st, pop->maildir, "INBOX", &error), 0);
	store_fx_free(&pop);
	store_fx_free(&imap);
}

/* Open INBOX with the POP3 lock; its UIDs (and \Seen) in order into uids/seen. */
static size_t
pop3_uids(struct store_fx *fx, uint32_t *uids, bool *seen, size_t max)
{
	const struct msg_info	*mi;
	struct mailbox		*mb;
	const char		*error;
	size_t			 n, i;

	if (mailbox_open(fx->st, fx->maildir, "INBOX", MAILBOX_POP3_LOCK, &mb, &error) == -1)
		fail_msg("open: %s", error);
	assert_int_equal(mailbox_messages(mb, &mi, &n, &error), 0);
	assert_true(n <= max);
	for (i = 0; i < n; i++) {
		uids[i] = mi[i].uid;
		if (seen != NULL)
			seen[i] = (mi[i].flags & MSG_SEEN) != 0;
	}
	mailbox_close(&mb);
	return n;
}

/*
 * POP3 indexes new mail where it lies: nothing is renamed, every message
 * can be opened, and the UIDs survive a lost index (postroom-new-uids),
 * also with mail delivered after them.
 */
static void
test_pop3_keeps_new(void **state)
{
	struct store_fx	*fx = setup();
	struct mailbox	*mb;
	const char	*error;
	uint32_t	 uids[8], again[8];
	size_t		 i, n;
	char		 c;
	int		 fd;

	(void)state;
	fx_deliver_n(fx, 5);
	assert_int_equal(pop3_uids(fx, uids, NULL, 8), 5);
	assert_int_equal(fx_count(fx_path(fx, "new")), 5);
	assert_int_equal(fx_count(fx_path(fx, "cur")), 0);
	assert_int_equal(mailbox_open(fx->st, fx->maildir, "INBOX", MAILBOX_POP3_LOCK, &mb,
	    &error), 0);
	for (i = 0; i < 5; i++) {
		assert_int_equal(mailbox_open_message(mb, uids[i], &fd, &error), 0);
		assert_int_equal(read(fd, &c, 1), 1);
		close(fd);
	}
	mailbox_close(&mb);

	fx_index_delete(fx->maildir);
	fx_deliver_n(fx, 2);
	assert_int_equal(pop3_uids(fx, again, NULL, 8), 7);
	for (i = 0; i < 5; i++)
		assert_int_equal(again[i], uids[i]);
	assert_true(again[5] > uids[4] && again[6] > again[5]);
	memcpy(uids, again, sizeof(uids));
	fx_index_delete(fx->maildir);
	n = pop3_uids(fx, again, NULL, 8);
	assert_int_equal(n, 7);
	assert_memory_equal(again, uids, n * sizeof(*uids));
	assert_int_equal(fx_count(fx_path(fx, "cur")), 0);
	store_fx_free(&fx);
}

/*
 * A flag change moves a message out of new/ with its UID in its name, an
 * expunge unlinks it there; a rebuild then agrees, and the first other
 * handle moves the rest into cur/ (fx_consistent), \Recent for it.
 */
static void
test_pop3_new_changes(void **state)
{
	struct store_fx		*fx = setup();
	const struct msg_info	*mi;
	struct mailbox		*mb;
	const char		*error;
	uint32_t		 uids[4], after[4];
	bool			 seen[4];
	size_t			 n, i;

	(void)state;
	fx_deliver_n(fx, 4);
	assert_int_equal(pop3_uids(fx, uids, NULL, 4), 4);
	assert_int_equal(mailbox_open(fx->st, fx->maildir, "INBOX", MAILBOX_POP3_LOCK, &mb,
	    &error), 0);
	assert_int_equal(mailbox_store_flags(mb, &uids[1], 1, FLAGS_ADD, MSG_SEEN, NULL, &error),
	    0);
	assert_int_equal(mailbox_expunge(mb, &uids[2], 1, &error), 0);
	mailbox_close(&mb);
	assert_int_equal(fx_count(fx_path(fx, "new")), 2);
	assert_int_equal(fx_count(fx_path(fx, "cur")), 1);

	fx_index_delete(fx->maildir);
	assert_int_equal(pop3_uids(fx, after, seen, 4), 3);
	assert_int_equal(after[0], uids[0]);
	assert_int_equal(after[1], uids[1]);
	assert_int_equal(after[2], uids[3]);
	assert_true(seen[1] && !seen[0] && !seen[2]);

	assert_int_equal(mailbox_open(fx->st, fx->maildir, "INBOX", 0, &mb, &error), 0);
	assert_int_equal(mailbox_messages(mb, &mi, &n, &error), 0);
	assert_int_equal(n, 3);
	for (i = 0; i < n; i++) {
		assert_int_equal(mi[i].uid, after[i]);
		/* Moved out of new/ by this handle, not the one already in cur/. */
		assert_int_equal((mi[i].flags & MSG_RECENT) != 0, i != 1);
	}
	mailbox_close(&mb);
	assert_int_equal(fx_count(fx_path(fx, "new")), 0);
	assert_int_equal(fx_consistent(fx->st, fx->maildir, "INBOX", &error), 0);
	store_fx_free(&fx);
}

/*
 * A POP3 login skips the locked sync while new/ holds only what it indexed
 * there (new/'s mtime, settled): a delivery or a flag change after that is
 * still seen.
 */
static void
test_pop3_new_settled(void **state)
{
	struct store_fx	*fx = setup();
	struct mailbox	*mb;
	const char	*error;
	uint32_t	 uids[4];
	bool		 seen[4];

	(void)state;
	fx_deliver_n(fx, 2);
	usleep(2100 * 1000);	/* new/'s mtime 2 s older than the sync: trusted */
	assert_int_equal(pop3_uids(fx, uids, NULL, 4), 2);
	assert_int_equal(pop3_uids(fx, uids, NULL, 4), 2);
	fx_deliver_n(fx, 1);
	assert_int_equal(pop3_uids(fx, uids, seen, 4), 3);
	assert_int_equal(mailbox_open(fx->st, fx->maildir, "INBOX", MAILBOX_POP3_LOCK, &mb,
	    &error), 0);
	assert_int_equal(mailbox_store_flags(mb, &uids[0], 1, FLAGS_ADD, MSG_SEEN, NULL, &error),
	    0);
	mailbox_close(&mb);
	assert_int_equal(pop3_uids(fx, uids, seen, 4), 3);
	assert_true(seen[0] && !seen[1] && !seen[2]);
	assert_int_equal(fx_count(fx_path(fx, "new")), 2);
	store_fx_free(&fx);
}

/*
 * A lost index rebuilt by another handle first (imapd's SELECT): the mail
 * POP3 left in new/ keeps its UIDs, moves into cur/ as \Recent, and a
 * second rebuild then agrees from U=.
 */
static void
test_rebuild_by_other_keeps_uids(void **state)
{
	struct store_fx		*fx = setup();
	const struct msg_info	*mi;
	struct mailbox		*mb;
	const char		*error;
	uint32_t		 uids[8], again[8];
	size_t			 n, i;

	(void)state;
	fx_deliver_n(fx, 2);
	open_other(fx);				/* 1, 2 into cur/ */
	fx_deliver_n(fx, 2);
	assert_int_equal(pop3_uids(fx, uids, NULL, 4), 4);	/* 3, 4 stay in new/ */
	assert_int_equal(fx_count(fx_path(fx, "new")), 2);
	fx_index_delete(fx->maildir);
	fx_deliver_n(fx, 1);
	assert_int_equal(mailbox_open(fx->st, fx->maildir, "INBOX", 0, &mb, &error), 0);
	assert_int_equal(mailbox_messages(mb, &mi, &n, &error), 0);
	assert_int_equal(n, 5);
	for (i = 0; i < 4; i++) {
		assert_int_equal(mi[i].uid, uids[i]);
		assert_int_equal((mi[i].flags & MSG_RECENT) != 0, i >= 2);
	}
	assert_true(mi[4].uid > uids[3] && (mi[4].flags & MSG_RECENT));
	uids[4] = mi[4].uid;
	mailbox_close(&mb);
	assert_int_equal(fx_count(fx_path(fx, "new")), 0);
	fx_index_delete(fx->maildir);
	assert_int_equal(pop3_uids(fx, again, NULL, 8), 5);
	assert_memory_equal(again, uids, 5 * sizeof(*uids));
	assert_int_equal(fx_consistent(fx->st, fx->maildir, "INBOX", &error), 0);
	store_fx_free(&fx);
}

/* A file removed from new/ behind the index's back (a crash mid-expunge) leaves it. */
static void
test_pop3_new_gone(void **state)
{
	struct store_fx	*fx = setup();
	struct dirent	*de;
	uint32_t	 uids[3];
	char		*path;
	DIR		*dir;

	(void)state;
	fx_deliver_n(fx, 3);
	assert_int_equal(pop3_uids(fx, uids, NULL, 3), 3);
	assert_non_null(dir = opendir(fx_path(fx, "new")));
	while ((de = readdir(dir)) != NULL && de->d_name[0] == '.')
		;
	assert_non_null(de);
	path = xasprintf("%s/new/%s", fx->maildir, de->d_name);
	closedir(dir);
	assert_int_equal(unlink(path), 0);
	free(path);
	assert_int_equal(pop3_uids(fx, uids, NULL, 3), 2);
	path = xasprintf("rm -f %s/new/*", fx->maildir);	/* new/ empty: still checked */
	assert_int_equal(system(path), 0);
	free(path);
	assert_int_equal(pop3_uids(fx, uids, NULL, 3), 0);
	store_fx_free(&fx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes_from_name),
		cmocka_unit_test(test_foreign_name),
		cmocka_unit_test(test_damaged_sizes),
		cmocka_unit_test(test_agrees_with_parse_and_rebuild),
		cmocka_unit_test(test_pop3_keeps_new),
		cmocka_unit_test(test_pop3_new_changes),
		cmocka_unit_test(test_pop3_new_settled),
		cmocka_unit_test(test_pop3_new_gone),
		cmocka_unit_test(test_rebuild_by_other_keeps_uids),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
