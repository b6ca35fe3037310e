/*
 * What a user's index costs on disk (issue 19 item 5): the Berkeley DB
 * environment of a small mailbox must be sized for that mailbox, not for
 * the largest folder it could ever hold.  Counted in allocated blocks
 * (st_blocks), which is what fills the file system.
 */
#include "store/store.h"
#include "tests/unit/store_fixture.h"
#include "lib/xmalloc.h"

#include <sys/stat.h>

#include <db.h>
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#define SMALL_INDEX_MAX	(2 * 1024 * 1024)	/* bytes allocated, a small mailbox */
#define WALKED_PAGE	32768	/* store/index.c WALKED_PAGE_BYTES */

/* Bytes allocated to the files of maildir/postroom-index. */
static uint64_t
index_blocks(const char *maildir)
{
	struct dirent	*de;
	struct stat	 sb;
	uint64_t	 total = 0;
	char		*dir;
	DIR		*d;

	dir = xasprintf("%s/postroom-index", maildir);
	assert_non_null(d = opendir(dir));
	while ((de = readdir(d)) != NULL)
		if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(sb.st_mode))
			total += (uint64_t)sb.st_blocks * 512;
	closedir(d);
	free(dir);
	return total;
}

static void
open_close(struct store *st, const char *maildir)
{
	struct mailbox	*mb;
	const char	*error;

	if (mailbox_open(st, maildir, "INBOX", 0, &mb, &error) == -1)
		fail_msg("open: %s", error);
	mailbox_close(&mb);
}

static void
test_small_mailbox_small_index(void **state)
{
	struct store_fx	*fx = *state;
	char		*m;
	uint64_t	 empty, small;
	unsigned	 i;

	open_close(fx->st, fx->maildir);
	empty = index_blocks(fx->maildir);
	for (i = 0; i < 50; i++) {
		m = fx_message(i);
		assert_int_equal(fx_deliver(fx->st, fx->maildir, m), 0);
		free(m);
	}
	open_close(fx->st, fx->maildir);
	small = index_blocks(fx->maildir);
	print_message("index on disk: %llu KB empty, %llu KB with 50 messages\n",
	    (unsigned long long)empty / 1024, (unsigned long long)small / 1024);
	assert_true(empty < SMALL_INDEX_MAX);
	assert_true(small < SMALL_INDEX_MAX);
}

/* The page size a file of maildir's index was made with, read outside its environment. */
static uint32_t
file_pagesize(const char *maildir, const char *file)
{
	uint32_t	 size = 0;
	char		*path;
	DB		*db;

	path = xasprintf("%s/postroom-index/%s", maildir, file);
	assert_int_equal(db_create(&db, NULL, 0), 0);
	assert_int_equal(db->open(db, NULL, path, NULL, DB_BTREE, DB_RDONLY, 0), 0);
	assert_int_equal(db->get_pagesize(db, &size), 0);
	db->close(db, 0);
	free(path);
	return size;
}

/* The files every SELECT, SEARCH and FETCH walks whole are made with large pages. */
static void
test_walked_files_large_pages(void **state)
{
	struct store_fx	*fx = *state;

	fx_deliver_n(fx, 3);
	open_close(fx->st, fx->maildir);
	assert_int_equal(file_pagesize(fx->maildir, "msgs.db"), WALKED_PAGE);
	assert_int_equal(file_pagesize(fx->maildir, "cache.db"), WALKED_PAGE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		STORE_FX_TEST(test_small_mailbox_small_index),
		STORE_FX_TEST(test_walked_files_large_pages),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
