/*
 * Regression tests for store bugs found in review (issue 14 item 6): a
 * retry the index asks for is made, a big subscriptions file is never cut,
 * a COPY retried after a deadlock does not duplicate, a rename within the
 * second of the last scan is seen.  Retries are injected deterministically
 * (POSTROOM_RETRY_AT, once per process) in a forked child.
 */
#include "store/store.h"
#include "tests/unit/store_fixture.h"
#include "lib/xmalloc.h"

#include <sys/stat.h>
#include <sys/wait.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <cmocka.h>

static char *
path_in(const struct store_fx *fx, const char *rel)
{
	return xasprintf("%s/%s", fx->maildir, rel);
}

static off_t
file_size(const char *path)
{
	struct stat	 sb;

	return stat(path, &sb) == 0 ? sb.st_size : -1;
}

/* Write n lines "Folder<i>" (a subscriptions file of about 12 * n bytes). */
static off_t
write_subscriptions(const char *path, unsigned n)
{
	FILE		*f = fopen(path, "w");
	unsigned	 i;

	assert_non_null(f);
	for (i = 0; i < n; i++)
		fprintf(f, "Folder%07u\n", i);
	assert_int_equal(fclose(f), 0);
	return file_size(path);
}

/* A file over the old 256 KB read: read whole, the name added at the end. */
static void
test_subscriptions_big_file_kept(void **state)
{
	struct store_fx	*fx = *state;
	char		*path = path_in(fx, "subscriptions"), tail[32];
	const char	*error;
	off_t		 before;
	FILE		*f;

	before = write_subscriptions(path, 30000);	/* 420 KB */
	assert_true(before > 256 * 1024);
	assert_int_equal(folder_subscribe(fx->st, fx->maildir, "Zeta", true, &error), 0);
	assert_int_equal(file_size(path), before + 5);
	f = fopen(path, "r");
	assert_int_equal(fseek(f, -19L, SEEK_END), 0);
	assert_int_equal(fread(tail, 1, 19, f), 19);
	fclose(f);
	assert_memory_equal(tail, "Folder0029999\nZeta\n", 19);
	/* and unsubscribing the last-but-one line keeps everything else */
	assert_int_equal(folder_subscribe(fx->st, fx->maildir, "Folder0029999", false,
	    &error), 0);
	assert_int_equal(file_size(path), before + 5 - 14);
	free(path);
}

/* Over the maximum: an error, and the file is left exactly as it was. */
static void
test_subscriptions_over_max_refused(void **state)
{
	struct store_fx	*fx = *state;
	char		*path = path_in(fx, "subscriptions");
	const char	*error;
	off_t		 before;

	before = write_subscriptions(path, 400000);	/* 5.6 MB */
	assert_int_equal(folder_subscribe(fx->st, fx->maildir, "Zeta", true, &error), -1);
	assert_non_null(strstr(error, "subscriptions"));
	assert_int_equal(folder_subscribe(fx->st, fx->maildir, "Folder0000001", false,
	    &error), -1);
	assert_int_equal(file_size(path), before);
	free(path);
}

/* Run fn(fx) in a child with POSTROOM_RETRY_AT=point; its exit status. */
static int
with_retry_at(struct store_fx *fx, const char *point, int (*fn)(struct store_fx *))
{
	pid_t	 pid;
	int	 status;

	if ((pid = fork()) == 0) {
		setenv("POSTROOM_RETRY_AT", point, 1);
		_exit(fn(fx));
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/* The number of messages INBOX shows after an open (which syncs). */
static int
inbox_count(struct store_fx *fx)
{
	const struct msg_info	*mi;
	struct mailbox		*mb;
	const char		*error;
	size_t			 n;

	if (mailbox_open(fx->st, fx->maildir, "INBOX", 0, &mb, &error) == -1) {
		fprintf(stderr, "open: %s\n", error);
		return 100;
	}
	if (mailbox_messages(mb, &mi, &n, &error) == -1)
		n = 101;
	mailbox_close(&mb);
	return (int)n;
}

/* Deliver n messages and index them. */
static void
deliver_synced(struct store_fx *fx, unsigned n)
{
	unsigned	 i;
	char		*m;

	for (i = 0; i < n; i++) {
		m = fx_message(i);
		assert_int_equal(fx_deliver(fx->st, fx->maildir, m), 0);
		free(m);
	}
	assert_int_equal(inbox_count(fx), (int)n);
}

/* One file in cur/ named by the shell pattern; its name (static). */
static const char *
cur_file(struct store_fx *fx, const char *grep)
{
	static char	 name[512];
	char		*cmd = xasprintf("ls %s/cur | grep '%s' | head -1", fx->maildir, grep);
	FILE		*ls = popen(cmd, "r");

	assert_non_null(fgets(name, sizeof(name), ls));
	pclose(ls);
	free(cmd);
	name[strcspn(name, "\n")] = '\0';
	return name;
}

/*
 * A deadlock while the sync lists the folder (a full scan: another tool
 * added a file to cur/) is retried, not turned into a failure.
 */
static void
test_sync_retries_list(void **state)
{
	struct store_fx	*fx = *state;
	char		*path;
	FILE		*f;

	deliver_synced(fx, 2);
	path = xasprintf("%s/cur/1234.mutt.host:2,S", fx->maildir);
	f = fopen(path, "w");
	fputs("Subject: from mutt\r\n\r\nhi\r\n", f);
	fclose(f);
	free(path);
	assert_int_equal(with_retry_at(fx, "idx_msg_list", inbox_count), 3);
	assert_int_equal(inbox_count(fx), 3);
}

/* A deadlock while the snapshot is read is retried the same way. */
static void
test_snapshot_retried(void **state)
{
	struct store_fx	*fx = *state;

	deliver_synced(fx, 3);
	assert_int_equal(with_retry_at(fx, "idx_msg_walk", inbox_count), 3);
}

/* The same for a deadlock while the sync drops a file another tool removed. */
static void
test_sync_retries_delete(void **state)
{
	struct store_fx	*fx = *state;
	const char	*why;
	char		*path;

	deliver_synced(fx, 3);
	path = xasprintf("%s/cur/%s", fx->maildir, cur_file(fx, "U=2:"));
	assert_int_equal(unlink(path), 0);
	free(path);
	assert_int_equal(with_retry_at(fx, "idx_msg_del", inbox_count), 2);
	assert_int_equal(fx_consistent(fx->st, fx->maildir, "INBOX", &why), 0);
}

/*
 * Another tool flags a message by renaming it within the same clock tick
 * as our last scan: cur/'s mtime is what the scan recorded (set back
 * here, as on a file system with one-second times).  A sync must still
 * see the rename once that scan is MTIME_SETTLE_NS (2 s) old: until then a
 * young cur/ is trusted, so that a folder whose flags change all the time
 * is not rescanned by every session at every command.
 */
static void
test_rename_same_tick_seen(void **state)
{
	struct store_fx		*fx = *state;
	const struct msg_info	*mi;
	struct mailbox		*mb;
	struct stat		 sb;
	struct timespec		 ts[2];
	const char		*error;
	char			*cur = path_in(fx, "cur"), *from, *to;
	size_t			 n;

	deliver_synced(fx, 2);
	assert_int_equal(mailbox_open(fx->st, fx->maildir, "INBOX", 0, &mb, &error), 0);
	assert_int_equal(mailbox_sync(mb, &error), 0);
	assert_int_equal(stat(cur, &sb), 0);
	from = xasprintf("%s/%s", cur, cur_file(fx, "U=1:"));
	to = xasprintf("%sF", from);
	assert_int_equal(rename(from, to), 0);
	ts[0] = sb.st_atim;
	ts[1] = sb.st_mtim;
	assert_int_equal(utimensat(AT_FDCWD, cur, ts, 0), 0);
	usleep(2100 * 1000);
	assert_int_equal(mailbox_sync(mb, &error), 0);
	assert_int_equal(mailbox_messages(mb, &mi, &n, &error), 0);
	assert_int_equal(n, 2);
	assert_int_equal(mi[0].uid, 1);
	assert_true(mi[0].flags & MSG_FLAGGED);
	mailbox_close(&mb);
	free(from);
	free(to);
	free(cur);
}

/*
 * The same hidden rename while our own flag changes keep cur/ young (a
 * busy IMAP folder): one full scan every MTIME_SETTLE_NS still happens,
 * so the rename is seen within about that time, never lost for as long
 * as the folder stays busy.
 */
static void
test_rename_hidden_seen_while_busy(void **state)
{
	static const uint32_t	 two = 2;
	struct store_fx		*fx = *state;
	const struct msg_info	*mi = NULL;
	struct mailbox		*mb;
	struct stat		 sb;
	struct timespec		 ts[2];
	const char		*error;
	char			*cur = path_in(fx, "cur"), *from, *to;
	size_t			 n = 0;
	int			 round;

	deliver_synced(fx, 2);
	assert_int_equal(mailbox_open(fx->st, fx->maildir, "INBOX", 0, &mb, &error), 0);
	assert_int_equal(mailbox_sync(mb, &error), 0);
	assert_int_equal(stat(cur, &sb), 0);
	from = xasprintf("%s/%s", cur, cur_file(fx, "U=1:"));
	to = xasprintf("%sF", from);
	assert_int_equal(rename(from, to), 0);
	ts[0] = sb.st_atim;
	ts[1] = sb.st_mtim;
	assert_int_equal(utimensat(AT_FDCWD, cur, ts, 0), 0);
	for (round = 0; round < 40; round++) {		/* 4 s of changes, 10 a second */
		assert_int_equal(mailbox_store_flags(mb, &two, 1,
		    round % 2 == 0 ? FLAGS_ADD : FLAGS_REMOVE, MSG_SEEN, NULL, &error), 0);
		assert_int_equal(mailbox_sync(mb, &error), 0);
		assert_int_equal(mailbox_messages(mb, &mi, &n, &error), 0);
		if (n == 2 && (mi[0].flags & MSG_FLAGGED))
			break;
		usleep(100 * 1000);
	}
	assert_true(round < 40);
	mailbox_close(&mb);
	free(from);
	free(to);
	free(cur);
}

/* COPY (or MOVE) of UIDs 1 and 2 to Archive: 0 if it succeeded with two new UIDs. */
static int
copy_or_move(struct store_fx *fx, bool move)
{
	static const uint32_t	 uids[2] = { 1, 2 };
	uint32_t		 out[2] = { 0, 0 };
	struct mailbox		*mb;
	const char		*error;
	int			 rc;

	if (mailbox_open(fx->st, fx->maildir, "INBOX", 0, &mb, &error) == -1)
		return 10;
	rc = move ? mailbox_move(mb, uids, 2, "Archive", out, &error) :
	    mailbox_copy(mb, uids, 2, "Archive", out, &error);
	if (rc == -1)
		fprintf(stderr, "copy: %s\n", error);
	mailbox_close(&mb);
	return rc == -1 ? 11 : out[0] == 0 || out[1] == 0 || out[0] == out[1] ? 12 : 0;
}

static int
copy_child(struct store_fx *fx)
{
	return copy_or_move(fx, false);
}

static int
move_child(struct store_fx *fx)
{
	return copy_or_move(fx, true);
}

static size_t
folder_count(struct store_fx *fx, const char *folder)
{
	const struct msg_info	*mi;
	struct mailbox		*mb;
	const char		*error;
	size_t			 n;

	assert_int_equal(mailbox_open(fx->st, fx->maildir, folder, 0, &mb, &error), 0);
	assert_int_equal(mailbox_messages(mb, &mi, &n, &error), 0);
	mailbox_close(&mb);
	return n;
}

/*
 * A deadlock after the files were linked into the destination: the retry
 * takes them as copied (no second link) and COPY succeeds; the
 * destination holds each message once.
 */
static void
test_copy_retry_no_duplicate(void **state)
{
	struct store_fx	*fx = *state;
	const char	*why;
	char		*cur = path_in(fx, ".Archive/cur");

	deliver_synced(fx, 3);
	assert_int_equal(folder_create(fx->st, fx->maildir, "Archive", &why), 0);
	assert_int_equal(with_retry_at(fx, "idx_msg_put", copy_child), 0);
	assert_int_equal(folder_count(fx, "Archive"), 2);
	assert_int_equal(fx_count(cur), 2);
	assert_int_equal(folder_count(fx, "INBOX"), 3);
	assert_int_equal(fx_consistent(fx->st, fx->maildir, "Archive", &why), 0);
	free(cur);
}

/* The same for MOVE: each message in exactly one folder, none lost. */
static void
test_move_retry_no_duplicate(void **state)
{
	struct store_fx	*fx = *state;
	const char	*why;

	deliver_synced(fx, 3);
	assert_int_equal(folder_create(fx->st, fx->maildir, "Archive", &why), 0);
	assert_int_equal(with_retry_at(fx, "idx_msg_put", move_child), 0);
	assert_int_equal(folder_count(fx, "Archive"), 2);
	assert_int_equal(folder_count(fx, "INBOX"), 1);
	assert_int_equal(fx_consistent(fx->st, fx->maildir, "Archive", &why), 0);
	assert_int_equal(fx_consistent(fx->st, fx->maildir, "INBOX", &why), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		STORE_FX_TEST(test_sync_retries_list),
		STORE_FX_TEST(test_sync_retries_delete),
		STORE_FX_TEST(test_snapshot_retried),
		STORE_FX_TEST(test_rename_same_tick_seen),
		STORE_FX_TEST(test_rename_hidden_seen_while_busy),
		STORE_FX_TEST(test_copy_retry_no_duplicate),
		STORE_FX_TEST(test_move_retry_no_duplicate),
		STORE_FX_TEST(test_subscriptions_big_file_kept),
		STORE_FX_TEST(test_subscriptions_over_max_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
