/*
 * The first sync for POP3 (issue 18 item 4): POP3 leaves a new file in new/
 * under its name (its UID in postroom-new-uids), and records it from S= and
 * W= in its name alone when they are plausible; a name without sizes, or
 * with ones that cannot be a file's, is read and counted.  The first other
 * handle, or a flag change, moves the file into cur/: its date is read
 * then, and the sizes it has go into its name; a rebuild, or a handle that
 * parses, agrees.
 */
#include "store/store.h"
#include "tests/unit/store_fixture.h"
#include "lib/xmalloc.h"

#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
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

/*
 * Sizes that cannot be the file's.  Plausible ones (W= within S..2*S) are
 * POP3's without a look at the file, as Dovecot takes them; the others
 * cost a stat and a read.  The file wins once it leaves new/: its name in
 * cur/ has the sizes it has.
 */
static void
test_damaged_sizes(void **state)
{
	static const struct {
		const char	*name, *cur;
		uint64_t	 pop3;
	} cases[] = {
		{ "2.M2P2Q2.host,S=999,W=1200", "2.M2P2Q2.host,S=7,W=9,U=1:2,", 1200 },
		{ "3.M3P3Q3.host,S=7,W=6", "3.M3P3Q3.host,S=7,W=9,U=1:2,", TEXT_VSIZE }, /* W < S */
		{ "4.M4P4Q4.host,S=7,W=15", "4.M4P4Q4.host,S=7,W=9,U=1:2,", TEXT_VSIZE }, /* W > 2*S */
		{ "5.M5P5Q5.host,W=9", "5.M5P5Q5.host,S=7,W=9,U=1:2,", TEXT_VSIZE },	/* no S= */
	};
	struct store_fx	*fx;
	const char	*error;
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fx = setup();
		put_file(fx->maildir, cases[i].name, TEXT);
		assert_int_equal(pop3_size(fx, NULL), cases[i].pop3);
		open_other(fx);
		assert_true(file_exists(fx->maildir, "cur", cases[i].cur));
		assert_false(file_exists(fx->maildir, "new", cases[i].name));
		assert_int_equal(fx_consistent(fx->st, fx->maildir, "INBOX", &error), 0);
		store_fx_free(&fx);
	}
}

/* A file in new/ dated d (its mtime, INTERNALDATE). */
static void
put_dated(const char *maildir, const char *name, time_t d)
{
	struct timespec	 ts[2] = { { d, 0 }, { d, 0 } };
	char		*path = xasprintf("%s/new/%s", maildir, name);

	put_file(maildir, name, TEXT);
	assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
	free(path);
}

/* The one message's INTERNALDATE and RFC822.SIZE as imapd would see them. */
static void
assert_other_sees(struct store_fx *fx, time_t date, uint64_t size)
{
	const struct msg_info	*mi;
	struct mailbox		*mb;
	const char		*error;
	size_t			 n;

	if (mailbox_open(fx->st, fx->maildir, "INBOX", 0, &mb, &error) == -1)
		fail_msg("open: %s", error);
	assert_int_equal(mailbox_messages(mb, &mi, &n, &error), 0);
	assert_int_equal(n, 1);
	assert_int_equal(mi[0].internal_date, date);
	assert_int_equal(mi[0].size, size);
	mailbox_close(&mb);
}

/*
 * POP3 records a file it leaves in new/ from its name, not its date: the
 * date is read when another handle moves the file into cur/.
 */
static void
test_date_read_when_moved(void **state)
{
	struct store_fx	*fx = setup();

	(void)state;
	put_dated(fx->maildir, "6.M6P6Q6.host,S=7,W=9", 1600000000);
	assert_int_equal(pop3_size(fx, NULL), TEXT_VSIZE);
	assert_other_sees(fx, 1600000000, TEXT_VSIZE);
	store_fx_free(&fx);
}

/*
 * POP3's own flag change (\Seen at QUIT) moves the file into cur/: the date
 * is read then, and damaged sizes put right, before imapd ever looks.
 */
static void
test_date_read_at_flag_change(void **state)
{
	static const char	*names[][2] = {
		{ "7.M7P7Q7.host,S=7,W=9", "7.M7P7Q7.host,S=7,W=9,U=1:2,S" },
		{ "8.M8P8Q8.host,S=999,W=1200", "8.M8P8Q8.host,S=7,W=9,U=1:2,S" },
	};
	const struct msg_info	*mi;
	struct store_fx		*fx;
	struct mailbox		*mb;
	const char		*error;
	size_t			 i, n;
	uint32_t		 uid;

	(void)state;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		fx = setup();
		put_dated(fx->maildir, names[i][0], 1500000000);
		assert_int_equal(mailbox_open(fx->st, fx->maildir, "INBOX", MAILBOX_POP3_LOCK,
		    &mb, &error), 0);
		assert_int_equal(mailbox_messages(mb, &mi, &n, &error), 0);
		assert_int_equal(n, 1);
		uid = mi[0].uid;
		assert_int_equal(mailbox_store_flags(mb, &uid, 1, FLAGS_ADD, MSG_SEEN, NULL,
		    &error), 0);
		mailbox_close(&mb);
		assert_true(file_exists(fx->maildir, "cur", names[i][1]));
		assert_other_sees(fx, 1500000000, TEXT_VSIZE);
		assert_int_equal(fx_consistent(fx->st, fx->maildir, "INBOX", &error), 0);
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
		cmocka_unit_test(test_date_read_when_moved),
		cmocka_unit_test(test_date_read_at_flag_change),
		cmocka_unit_test(test_agrees_with_parse_and_rebuild),
		cmocka_unit_test(test_pop3_keeps_new),
		cmocka_unit_test(test_pop3_new_changes),
		cmocka_unit_test(test_pop3_new_settled),
		cmocka_unit_test(test_pop3_new_gone),
		cmocka_unit_test(test_rebuild_by_other_keeps_uids),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
