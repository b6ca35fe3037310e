/* store/: delivery, sync, messages, flags, expunge, copy, append, folders, quota. */
#include "store/store.h"
#include "lib/commit.h"
#include "tests/unit/store_fixture.h"
#include "lib/xmalloc.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

static void
test_create_user_layout(void **state)
{
	struct store_fx	*fx = *state;
	struct stat	 sb;
	char		**names;
	size_t		 n, i;
	const char	*error;

	assert_int_equal(stat(fx_path(fx, "tmp"), &sb), 0);
	assert_int_equal(stat(fx_path(fx, "new"), &sb), 0);
	assert_int_equal(stat(fx_path(fx, "cur"), &sb), 0);
	assert_int_equal(stat(fx_path(fx, ".Sent/cur"), &sb), 0);
	assert_int_equal(stat(fx_path(fx, ".Junk/maildirfolder"), &sb), 0);
	assert_int_equal(folder_list(fx->st, fx->maildir, &names, &n, &error), 0);
	assert_int_equal(n, 5);
	assert_string_equal(names[0], "INBOX");
	assert_string_equal(names[1], "Drafts");
	assert_string_equal(names[4], "Trash");
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	/* idempotent: running it again changes nothing */
	assert_int_equal(store_create_user(fx->st, fx->maildir, &error), 0);
}

static void
test_delivery_two_fsyncs_and_name(void **state)
{
	struct store_fx		*fx = *state;
	struct store_rcpt	 r = { fx->maildir, 0, 0 };
	struct store_delivery	*d;
	const char		*error;
	uint64_t		 before;
	char			 name[8192];
	FILE			*ls;

	d = store_delivery_begin(fx->st, &r, 1, &error);
	assert_non_null(d);
	assert_int_equal(store_delivery_write(d, "Subject: x\n\nab\n", 15), 0);
	assert_int_equal(store_delivery_size(d), 15);
	assert_int_equal(fx_count(fx_path(fx, "new")), 0);	/* nothing visible yet */
	before = commit_fsync_count();
	assert_int_equal(store_delivery_commit(d, &error), 0);
	assert_int_equal(commit_fsync_count() - before, 2);	/* file + new/ */
	store_delivery_free(&d);
	assert_null(d);
	assert_int_equal(fx_count(fx_path(fx, "new")), 1);
	assert_int_equal(fx_count(fx_path(fx, "tmp")), 0);
	snprintf(name, sizeof(name), "ls %s", fx_path(fx, "new"));
	ls = popen(name, "r");
	assert_non_null(fgets(name, sizeof(name), ls));
	pclose(ls);
	assert_non_null(strstr(name, ",S=15,W=18"));	/* 3 LFs -> CRLF size 18 */
}

static const char *
path_new(const char *maildir, char *path, size_t size)
{
	snprintf(path, size, "%s/new", maildir);
	return path;
}

static void
test_delivery_multi_rcpt_links(void **state)
{
	struct store_fx		*fx = *state;
	char			*bob = fx_user(fx->st, fx->root, "bob");
	char			*carol = fx_user(fx->st, fx->root, "carol");
	struct store_rcpt	 r[3] = { { fx->maildir, 0, 0 }, { bob, 0, 0 }, { carol, 0, 0 } };
	struct store_delivery	*d;
	const char		*error;
	uint64_t		 before;
	char			 path[4096];
	struct stat		 sb;
	FILE			*ls;

	d = store_delivery_begin(fx->st, r, 3, &error);
	assert_int_equal(store_delivery_write(d, "x\n", 2), 0);
	before = commit_fsync_count();
	assert_int_equal(store_delivery_commit(d, &error), 0);
	assert_int_equal(commit_fsync_count() - before, 4);	/* 1 file + 3 dirs */
	store_delivery_free(&d);
	snprintf(path, sizeof(path), "%s/new", carol);
	assert_int_equal(fx_count(path), 1);
	snprintf(path, sizeof(path), "ls %s/new/*", bob);
	ls = popen(path, "r");
	assert_non_null(fgets(path, sizeof(path), ls));
	pclose(ls);
	path[strcspn(path, "\n")] = '\0';
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_nlink, 3);	/* one write, hard links */
	/* Begun with the first recipient, the others added later (smtpd's RCPTs). */
	d = store_delivery_begin(fx->st, r, 1, &error);
	assert_int_equal(store_delivery_write(d, "y\n", 2), 0);
	store_delivery_add(d, r + 1, 2);
	assert_int_equal(store_delivery_commit(d, &error), 0);
	store_delivery_free(&d);
	assert_int_equal(fx_count(path_new(fx->maildir, path, sizeof(path))), 2);
	assert_int_equal(fx_count(path_new(bob, path, sizeof(path))), 2);
	assert_int_equal(fx_count(path_new(carol, path, sizeof(path))), 2);
	free(bob);
	free(carol);
}

static void
test_delivery_failure_leaves_nothing(void **state)
{
	struct store_fx		*fx = *state;
	struct store_rcpt	 r[2] = { { fx->maildir, 0, 0 }, { "/nonexistent/Maildir", 0, 0 } };
	struct store_delivery	*d;
	const char		*error;

	d = store_delivery_begin(fx->st, r, 2, &error);
	assert_non_null(d);
	assert_int_equal(store_delivery_write(d, "x\n", 2), 0);
	assert_int_equal(store_delivery_commit(d, &error), -1);
	store_delivery_free(&d);
	assert_int_equal(fx_count(fx_path(fx, "new")), 0);
	assert_int_equal(fx_count(fx_path(fx, "tmp")), 0);
	/* an abandoned delivery leaves nothing either */
	d = store_delivery_begin(fx->st, r, 1, &error);
	assert_int_equal(store_delivery_write(d, "x\n", 2), 0);
	store_delivery_free(&d);
	assert_int_equal(fx_count(fx_path(fx, "tmp")), 0);
	assert_null(store_delivery_begin(fx->st, r, 0, &error));
}

/* A full disk (here: a file size limit) is a temporary failure leaving nothing. */
static void
test_delivery_disk_full(void **state)
{
	struct store_fx		*fx = *state;
	struct store_rcpt	 r = { fx->maildir, 0, 0 };
	struct store_delivery	*d;
	struct rlimit		 rl = { 1000, 1000 };
	const char		*error;
	char			 big[4096];
	pid_t			 pid;
	int			 status;

	memset(big, 'a', sizeof(big));
	if ((pid = fork()) == 0) {
		signal(SIGXFSZ, SIG_IGN);
		setrlimit(RLIMIT_FSIZE, &rl);
		d = store_delivery_begin(fx->st, &r, 1, &error);
		store_delivery_write(d, big, sizeof(big));
		if (store_delivery_commit(d, &error) == 0)
			_exit(1);
		store_delivery_free(&d);
		_exit(store_error_temporary() ? 0 : 2);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(fx_count(fx_path(fx, "new")), 0);
	assert_int_equal(fx_count(fx_path(fx, "tmp")), 0);
}

static void
test_delivery_byte_at_a_time(void **state)
{
	struct store_fx		*fx = *state;
	struct store_rcpt	 r = { fx->maildir, 0, 0 };
	struct store_delivery	*d;
	const struct msg_info	*mi;
	struct mailbox		*mb;
	const char		*error;
	char			*text = fx_message(7);
	size_t			 i, n;
	char			 buf[512];
	int			 fd;

	d = store_delivery_begin(fx->st, &r, 1, &error);
	for (i = 0; text[i] != '\0'; i++)
		assert_int_equal(store_delivery_write(d, &text[i], 1), 0);
	assert_int_equal(store_delivery_commit(d, &error), 0);
	store_delivery_free(&d);
	mb = fx_open(fx, "INBOX", 0);
	assert_int_equal(mailbox_messages(mb, &mi, &n, &error), 0);
	assert_int_equal(n, 1);
	assert_int_equal(mi[0].size, strlen(text) + 7);	/* 7 lines */
	assert_int_equal(mailbox_open_message(mb, mi[0].uid, &fd, &error), 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), strlen(text));
	assert_memory_equal(buf, text, strlen(text));
	close(fd);
	mailbox_close(&mb);
	free(text);
}

static void
test_sync_assigns_uids_and_caches(void **state)
{
	struct store_fx		*fx = *state;
	const struct msg_info	*mi;
	struct mailbox_status	 s;
	struct mailbox		*mb;
	const char		*error;
	size_t			 n;
	char			 uidl[24];

	fx_deliver_n(fx, 3);
	mb = fx_open(fx, "INBOX", 0);
	assert_int_equal(fx_count(fx_path(fx, "new")), 0);
	assert_int_equal(fx_count(fx_path(fx, "cur")), 3);
	assert_int_equal(mailbox_messages(mb, &mi, &n, &error), 0);
	assert_int_equal(n, 3);
	assert_int_equal(mi[0].uid, 1);
	assert_int_equal(mi[2].uid, 3);
	assert_true(mi[0].flags & MSG_RECENT);
	assert_non_null(strstr(fx_fetch(mb, 2)->envelope, "\"message 2\""));
	assert_non_null(strstr(fx_fetch(mb, 2)->bodystructure, "\"text\" \"plain\""));
	assert_true(fx_fetch(mb, 2)->body[0] == '(');
	assert_string_equal(fx_fetch(mb, 1)->keywords, "");
	assert_true(mi[0].internal_date > 1700000000);
	assert_int_equal(mailbox_status(mb, &s), 0);
	assert_int_equal(s.messages, 3);
	assert_int_equal(s.unseen, 3);
	assert_int_equal(s.recent, 3);
	assert_int_equal(s.uidnext, 4);
	assert_true(s.uidvalidity > 0);
	assert_int_equal(s.size, mi[0].size + mi[1].size + mi[2].size);
	store_uidl(s.uidvalidity, 3, uidl);
	assert_int_equal(strlen(uidl), 16);
	/* a later delivery is picked up by mailbox_sync, UIDs continue */
	fx_deliver_n(fx, 1);
	assert_int_equal(mailbox_sync(mb, &error), 0);
	assert_int_equal(mailbox_messages(mb, &mi, &n, &error), 0);
	assert_int_equal(n, 4);
	assert_int_equal(mi[3].uid, 4);
	/* a second handle sees the same, but nothing is recent for it */
	{
		struct mailbox *mb2 = fx_open(fx, "INBOX", 0);
		assert_int_equal(mailbox_messages(mb2, &mi, &n, &error), 0);
		assert_int_equal(n, 4);
		assert_false(mi[3].flags & MSG_RECENT);
		mailbox_close(&mb2);
	}
	mailbox_close(&mb);
	assert_null(mb);
	assert_int_equal(fx_consistent(fx->st, fx->maildir, "INBOX", &error), 0);
}

static void
test_flags_rename_and_keywords(void **state)
{
	struct store_fx		*fx = *state;
	const struct msg_info	*mi;
	struct mailbox_status	 s;
	struct mailbox		*mb;
	const char		*error;
	uint32_t		 uids[2] = { 1, 2 };
	uint64_t		 modseq, before;
	size_t			 n;

	fx_deliver_n(fx, 3);
	mb = fx_open(fx, "INBOX", 0);
	assert_int_equal(mailbox_status(mb, &s), 0);
	modseq = s.highestmodseq;
	before = commit_fsync_count();
	assert_int_equal(mailbox_store_flags(mb, uids, 2, FLAGS_ADD, MSG_SEEN | MSG_FLAGGED,
	    NULL, &error), 0);
	assert_int_equal(commit_fsync_count() - before, 1);	/* cur/ once */
	assert_int_equal(mailbox_store_flags(mb, uids, 1, FLAGS_REMOVE, MSG_FLAGGED,
	    "$Junk", &error), 0);
	assert_int_equal(mailbox_store_flags(mb, uids + 1, 1, FLAGS_ADD, 0,
	    "$Forwarded Work", &error), 0);
	assert_int_equal(mailbox_messages(mb, &mi, &n, &error), 0);
	assert_int_equal(mi[0].flags & ~MSG_RECENT, MSG_SEEN);
	assert_int_equal(mi[1].flags & ~MSG_RECENT, MSG_SEEN | MSG_FLAGGED);
	assert_string_equal(fx_fetch(mb, 2)->keywords, "$Forwarded Work");
	assert_string_equal(fx_fetch(mb, 1)->keywords, "");
	assert_true(mi[1].modseq > modseq);
	assert_int_equal(mailbox_status(mb, &s), 0);
	assert_int_equal(s.unseen, 1);
	assert_true(s.highestmodseq > modseq);
	/* REPLACE clears everything else */
	assert_int_equal(mailbox_store_flags(mb, uids + 1, 1, FLAGS_REPLACE, MSG_ANSWERED,
	    NULL, &error), 0);
	assert_int_equal(mailbox_messages(mb, &mi, &n, &error), 0);
	assert_int_equal(mi[1].flags & ~MSG_RECENT, MSG_ANSWERED);
	assert_string_equal(fx_fetch(mb, 2)->keywords, "");
	/* unknown UIDs are skipped, not an error */
	uids[0] = 99;
	assert_int_equal(mailbox_store_flags(mb, uids, 1, FLAGS_ADD, MSG_SEEN, NULL, &error), 0);
	assert_int_equal(mailbox_store_flags(mb, uids, 1, FLAGS_ADD, 0, "bad(kw", &error), -1);
	mailbox_close(&mb);
	assert_int_equal(fx_consistent(fx->st, fx->maildir, "INBOX", &error), 0);
	assert_int_equal(access(fx_path(fx, "dovecot-keywords"), F_OK), 0);
}

static void
test_expunge(void **state)
{
	struct store_fx		*fx = *state;
	const struct msg_info	*mi;
	struct mailbox_status	 s;
	struct mailbox		*mb;
	const char		*error;
	uint32_t		 uids[2] = { 2, 3 };
	size_t			 n;
	int			 fd;

	fx_deliver_n(fx, 4);
	mb = fx_open(fx, "INBOX", 0);
	assert_int_equal(mailbox_expunge(mb, uids, 2, &error), 0);
	assert_int_equal(fx_count(fx_path(fx, "cur")), 2);
	assert_int_equal(mailbox_messages(mb, &mi, &n, &error), 0);
	assert_int_equal(n, 2);
	assert_int_equal(mi[0].uid, 1);
	assert_int_equal(mi[1].uid, 4);
	assert_int_equal(mailbox_open_message(mb, 2, &fd, &error), -1);
	assert_int_equal(mailbox_status(mb, &s), 0);
	assert_int_equal(s.messages, 2);
	/* expunging again is harmless */
	assert_int_equal(mailbox_expunge(mb, uids, 2, &error), 0);
	mailbox_close(&mb);
	/* UIDs are never reused after expunge */
	fx_deliver_n(fx, 1);
	mb = fx_open(fx, "INBOX", 0);
	assert_int_equal(mailbox_messages(mb, &mi, &n, &error), 0);
	assert_int_equal(mi[n - 1].uid, 5);
	mailbox_close(&mb);
}

/* Open uid through the snapshot and check it is message no. */
static void
assert_opens(struct mailbox *mb, uint32_t uid, unsigned no)
{
	const char	*error;
	char		 buf[512], want[32];
	ssize_t		 len;
	int		 fd;

	if (mailbox_open_message(mb, uid, &fd, &error) == -1)
		fail_msg("open uid %u: %s", uid, error);
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_true(len > 0);
	buf[len] = '\0';
	snprintf(want, sizeof(want), "Subject: message %u\n", no);
	assert_non_null(strstr(buf, want));
}

/*
 * RETR and FETCH open a message by the snapshot's file name, without the
 * index.  A file renamed since (a flag change by another session or by
 * another program) is found again, never reported expunged; only a file
 * that is really gone is.
 */
static void
test_open_message_renamed_since_snapshot(void **state)
{
	struct store_fx		*fx = *state;
	const struct msg_info	*mi;
	struct mailbox		*mb, *other;
	const char		*error;
	uint32_t		 one = 1;
	char			 cmd[4200];
	size_t			 n;
	int			 fd;

	fx_deliver_n(fx, 3);
	mb = fx_open(fx, "INBOX", 0);
	assert_int_equal(mailbox_messages(mb, &mi, &n, &error), 0);
	assert_int_equal(n, 3);
	assert_opens(mb, 1, 1);
	other = fx_open(fx, "INBOX", 0);
	assert_int_equal(mailbox_store_flags(other, &one, 1, FLAGS_ADD, MSG_SEEN, NULL, &error),
	    0);
	mailbox_close(&other);
	assert_opens(mb, 1, 1);
	snprintf(cmd, sizeof(cmd), "cd %s/cur && f=$(ls | grep U=2:) && mv $f ${f}F",
	    fx->maildir);
	assert_int_equal(system(cmd), 0);
	assert_opens(mb, 2, 2);
	snprintf(cmd, sizeof(cmd), "rm %s/cur/*U=3:*", fx->maildir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(mailbox_open_message(mb, 3, &fd, &error), -1);
	assert_int_equal(store_error_code(), STORE_ERR_EXPUNGED);
	assert_int_equal(mailbox_open_message(mb, 9, &fd, &error), -1);
	assert_int_equal(store_error_code(), STORE_ERR_EXPUNGED);
	mailbox_close(&mb);
	assert_int_equal(fx_consistent(fx->st, fx->maildir, "INBOX", &error), 0);
}

static void
test_external_changes_picked_up(void **state)
{
	struct store_fx		*fx = *state;
	const struct msg_info	*mi;
	struct mailbox		*mb;
	const char		*error;
	char			 path[4096], to[8192], from[8192], name[512];
	size_t			 n;
	FILE			*f, *ls;

	fx_deliver_n(fx, 2);
	mb = fx_open(fx, "INBOX", 0);
	/* mutt drops a message into cur/ with a name of its own */
	snprintf(path, sizeof(path), "%s/cur/1234.mutt.host:2,S", fx->maildir);
	f = fopen(path, "w");
	fputs("Subject: from mutt\r\n\r\nhi\r\n", f);
	fclose(f);
	/* and flags message 1 by renaming it */
	snprintf(path, sizeof(path), "ls %s/cur | grep U=1:", fx->maildir);
	ls = popen(path, "r");
	assert_non_null(fgets(name, sizeof(name), ls));
	pclose(ls);
	name[strcspn(name, "\n")] = '\0';
	snprintf(to, sizeof(to), "%s/cur/%sF", fx->maildir, name);
	snprintf(from, sizeof(from), "%s/cur/%s", fx->maildir, name);
	assert_int_equal(rename(from, to), 0);
	assert_int_equal(mailbox_sync(mb, &error), 0);
	assert_int_equal(mailbox_messages(mb, &mi, &n, &error), 0);
	assert_int_equal(n, 3);
	assert_int_equal(mi[0].uid, 1);
	assert_true(mi[0].flags & MSG_FLAGGED);
	assert_int_equal(mi[2].uid, 3);
	assert_true(mi[2].flags & MSG_SEEN);
	assert_int_equal(mi[2].size, 26);	/* CRLF file: size as is */
	/* a crashed writer's tmp/ file from 2 days ago is cleaned, a fresh one kept */
	{
		struct timespec ts[2] = { { time(NULL) - 2 * 86400, 0 }, { time(NULL) - 2 * 86400, 0 } };
		snprintf(path, sizeof(path), "%s/tmp/old", fx->maildir);
		close(open(path, O_CREAT | O_WRONLY, 0600));
		utimensat(AT_FDCWD, path, ts, 0);
		snprintf(path, sizeof(path), "%s/tmp/fresh", fx->maildir);
		close(open(path, O_CREAT | O_WRONLY, 0600));
	}
	/* cp of a file inside cur/ (same base name, same U=): a new message, once */
	snprintf(path, sizeof(path), "cp %s/cur/*U=2:2, %s/cur/dup:2,S 2>/dev/null; "
	    "cd %s/cur && mv dup:2,S \"$(ls | grep U=2: | sed 's/:2,.*//')\":2,RS", fx->maildir,
	    fx->maildir, fx->maildir);
	assert_int_equal(system(path), 0);
	assert_int_equal(mailbox_sync(mb, &error), 0);
	assert_int_equal(mailbox_messages(mb, &mi, &n, &error), 0);
	assert_int_equal(n, 4);
	assert_int_equal(mi[1].uid, 2);
	assert_int_equal(mi[3].uid, 4);
	snprintf(path, sizeof(path), "%s/cur/zz", fx->maildir);	/* cur/ changes again */
	close(open(path, O_CREAT | O_WRONLY, 0600));
	unlink(path);
	assert_int_equal(mailbox_sync(mb, &error), 0);
	assert_int_equal(mailbox_messages(mb, &mi, &n, &error), 0);
	assert_int_equal(n, 4);				/* stable: no churn */
	assert_int_equal(mi[3].uid, 4);
	assert_int_equal(fx_count(fx_path(fx, "tmp")), 1);	/* only "fresh" is left */
	mailbox_close(&mb);
	assert_int_equal(fx_consistent(fx->st, fx->maildir, "INBOX", &error), 0);
}

static void
test_copy_and_append(void **state)
{
	struct store_fx		*fx = *state;
	const struct msg_info	*mi;
	struct mailbox		*mb, *trash;
	const char		*error;
	uint32_t		 uids[2] = { 1, 2 }, out[2], uid;
	size_t			 n;
	int			 fd;
	char			 buf[64];

	fx_deliver_n(fx, 2);
	mb = fx_open(fx, "INBOX", 0);
	assert_int_equal(mailbox_store_flags(mb, uids, 1, FLAGS_ADD, MSG_SEEN, "Work", &error), 0);
	assert_int_equal(mailbox_copy(mb, uids, 2, "Trash", out, &error), 0);
	assert_int_equal(out[0], 1);
	assert_int_equal(out[1], 2);
	assert_int_equal(mailbox_copy(mb, uids, 1, "Trash", out, &error), 0);
	assert_int_equal(out[0], 3);
	assert_int_equal(mailbox_copy(mb, uids, 1, "NoSuch", out, &error), -1);
	assert_int_equal(mailbox_open(fx->st, fx->maildir, "Trash", 0, &trash, &error), 0);
	assert_int_equal(mailbox_messages(trash, &mi, &n, &error), 0);
	assert_int_equal(n, 3);
	assert_int_equal(mi[0].flags & ~MSG_RECENT, MSG_SEEN);
	assert_string_equal(fx_fetch(trash, mi[0].uid)->keywords, "Work");
	assert_non_null(strstr(fx_fetch(trash, mi[1].uid)->envelope, "message 2"));
	mailbox_close(&trash);
	assert_int_equal(mailbox_append(fx->st, fx->maildir, "Sent", "Subject: sent\n\nx\n", 17,
	    MSG_SEEN, 1700000000, &uid, &error), 0);
	assert_int_equal(uid, 1);
	assert_int_equal(mailbox_open(fx->st, fx->maildir, "Sent", 0, &trash, &error), 0);
	assert_int_equal(mailbox_messages(trash, &mi, &n, &error), 0);
	assert_int_equal(n, 1);
	assert_int_equal(mi[0].internal_date, 1700000000);
	assert_int_equal(mi[0].size, 20);
	assert_int_equal(mi[0].flags, MSG_SEEN);
	assert_int_equal(mailbox_open_message(trash, 1, &fd, &error), 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), 17);
	close(fd);
	mailbox_close(&trash);
	/* MOVE: renamed into Junk, gone from INBOX */
	assert_int_equal(mailbox_move(mb, uids + 1, 1, "Junk", out, &error), 0);
	assert_int_equal(out[0], 1);
	assert_int_equal(mailbox_messages(mb, &mi, &n, &error), 0);
	assert_int_equal(n, 1);
	assert_int_equal(mi[0].uid, 1);
	assert_int_equal(fx_count(fx_path(fx, ".Junk/cur")), 1);
	assert_int_equal(fx_consistent(fx->st, fx->maildir, "Junk", &error), 0);
	mailbox_close(&mb);
	assert_int_equal(fx_consistent(fx->st, fx->maildir, "Trash", &error), 0);
	assert_int_equal(fx_consistent(fx->st, fx->maildir, "Sent", &error), 0);
	assert_int_equal(fx_consistent(fx->st, fx->maildir, "INBOX", &error), 0);
}

static void
test_folders(void **state)
{
	struct store_fx	*fx = *state;
	struct mailbox	*mb;
	const char	*error;
	char		**names, text[256];
	size_t		 n, i;
	uint32_t	 uid;
	struct mailbox_status s, s2;
	int		 fd;
	ssize_t		 len;

	assert_int_equal(folder_create(fx->st, fx->maildir, "Archive", &error), 0);
	assert_int_equal(folder_create(fx->st, fx->maildir, "Archive.2024", &error), 0);
	assert_int_equal(folder_create(fx->st, fx->maildir, "Archive", &error), -1);
	assert_int_equal(folder_create(fx->st, fx->maildir, "../evil", &error), -1);
	assert_int_equal(folder_create(fx->st, fx->maildir, "a/b", &error), -1);
	assert_int_equal(folder_create(fx->st, fx->maildir, "a..b", &error), -1);
	assert_int_equal(folder_create(fx->st, fx->maildir, ".hidden", &error), -1);
	assert_int_equal(folder_create(fx->st, fx->maildir, "~x", &error), -1);
	assert_int_equal(folder_create(fx->st, fx->maildir, "bad\001", &error), -1);
	assert_int_equal(folder_create(fx->st, fx->maildir, "inbox", &error), -1);
	assert_int_equal(mailbox_append(fx->st, fx->maildir, "Archive.2024", "x\n", 2, 0, 0,
	    &uid, &error), 0);
	assert_int_equal(mailbox_open(fx->st, fx->maildir, "Archive.2024", 0, &mb, &error), 0);
	assert_int_equal(mailbox_status(mb, &s), 0);
	mailbox_close(&mb);
	assert_int_equal(folder_rename(fx->st, fx->maildir, "Archive", "Old", &error), 0);
	assert_int_equal(folder_list(fx->st, fx->maildir, &names, &n, &error), 0);
	assert_int_equal(n, 7);
	assert_string_equal(names[3], "Old");
	assert_string_equal(names[4], "Old.2024");
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	/* renamed: same UIDVALIDITY and UIDs under the new name */
	assert_int_equal(mailbox_open(fx->st, fx->maildir, "Old.2024", 0, &mb, &error), 0);
	assert_int_equal(mailbox_status(mb, &s2), 0);
	assert_int_equal(s2.uidvalidity, s.uidvalidity);
	assert_int_equal(s2.messages, 1);
	mailbox_close(&mb);
	assert_int_equal(mailbox_open(fx->st, fx->maildir, "Archive", 0, &mb, &error), -1);
	assert_int_equal(folder_delete(fx->st, fx->maildir, "Old.2024", &error), 0);
	assert_int_equal(folder_delete(fx->st, fx->maildir, "Old.2024", &error), -1);
	assert_int_equal(folder_delete(fx->st, fx->maildir, "INBOX", &error), -1);
	/* RENAME INBOX: the messages move, INBOX stays (empty) */
	fx_deliver_n(fx, 2);
	assert_int_equal(folder_rename(fx->st, fx->maildir, "INBOX", "Saved", &error), 0);
	assert_int_equal(fx_count(fx_path(fx, ".Saved/cur")), 2);
	assert_int_equal(fx_count(fx_path(fx, "cur")), 0);
	assert_int_equal(fx_count(fx_path(fx, "new")), 0);
	assert_int_equal(fx_consistent(fx->st, fx->maildir, "Saved", &error), 0);
	assert_int_equal(fx_consistent(fx->st, fx->maildir, "INBOX", &error), 0);
	assert_int_equal(folder_rename(fx->st, fx->maildir, "INBOX", "Saved", &error), -1);
	assert_int_equal(folder_subscribe(fx->st, fx->maildir, "Old", true, &error), 0);
	assert_int_equal(folder_subscribe(fx->st, fx->maildir, "Sent", false, &error), 0);
	assert_int_equal(folder_subscribe(fx->st, fx->maildir, "x\ny", true, &error), -1);
	fd = open(fx_path(fx, "subscriptions"), O_RDONLY);
	len = read(fd, text, sizeof(text) - 1);
	close(fd);
	text[len > 0 ? len : 0] = '\0';
	assert_string_equal(text, "Drafts\nTrash\nJunk\nOld\n");
}

static void
test_pop3_lock(void **state)
{
	struct store_fx	*fx = *state;
	struct mailbox	*a, *b;
	const char	*error;

	assert_int_equal(mailbox_open(fx->st, fx->maildir, "INBOX", MAILBOX_POP3_LOCK, &a,
	    &error), 0);
	assert_int_equal(mailbox_open(fx->st, fx->maildir, "INBOX", MAILBOX_POP3_LOCK, &b,
	    &error), -1);
	assert_int_equal(store_error_code(), STORE_ERR_IN_USE);
	mailbox_close(&a);
	assert_int_equal(mailbox_open(fx->st, fx->maildir, "INBOX", MAILBOX_POP3_LOCK, &b,
	    &error), 0);
	mailbox_close(&b);
}

/* The process maps a region file of maildir's index (its environment is open). */
static bool
index_mapped(const char *maildir)
{
	char	 line[4096], want[4096];
	FILE	*f = fopen("/proc/self/maps", "r");
	bool	 found = false;

	assert_non_null(f);
	snprintf(want, sizeof(want), "%s/postroom-index/__db.", maildir);
	while (!found && fgets(line, sizeof(line), f) != NULL)
		found = strstr(line, want) != NULL;
	fclose(f);
	return found;
}

/* POP3 lets the index go after its snapshot; RETR and QUIT's update still work. */
static void
test_release_index(void **state)
{
	struct store_fx		*fx = *state;
	const struct msg_info	*msgs;
	struct mailbox		*mb, *other;
	const char		*error;
	uint32_t		 uid = 2;
	size_t			 n;
	int			 fd;

	fx_deliver_n(fx, 3);
	mb = fx_open(fx, "INBOX", MAILBOX_POP3_LOCK);
	assert_int_equal(mailbox_messages(mb, &msgs, &n, &error), 0);
	assert_int_equal(n, 3);
	assert_true(index_mapped(fx->maildir));
	mailbox_release_index(mb);
	assert_false(index_mapped(fx->maildir));
	assert_int_equal(mailbox_open_message(mb, 1, &fd, &error), 0);
	close(fd);
	assert_false(index_mapped(fx->maildir));
	/* Renamed by another session: found through the index, let go again. */
	other = fx_open(fx, "INBOX", 0);
	assert_int_equal(mailbox_messages(other, &msgs, &n, &error), 0);
	assert_int_equal(mailbox_store_flags(other, &uid, 1, FLAGS_ADD, MSG_FLAGGED, NULL,
	    &error), 0);
	mailbox_close(&other);
	assert_int_equal(mailbox_open_message(mb, uid, &fd, &error), 0);
	close(fd);
	assert_false(index_mapped(fx->maildir));
	assert_int_equal(mailbox_store_flags(mb, &uid, 1, FLAGS_ADD, MSG_SEEN, NULL, &error), 0);
	assert_int_equal(mailbox_expunge(mb, &uid, 1, &error), 0);
	mailbox_close(&mb);
	assert_false(index_mapped(fx->maildir));
	other = fx_open(fx, "INBOX", 0);
	assert_int_equal(mailbox_messages(other, &msgs, &n, &error), 0);
	assert_int_equal(n, 2);
	assert_int_equal(msgs[1].uid, 3);
	mailbox_close(&other);
}

static void
test_readonly(void **state)
{
	struct store_fx	*fx = *state;
	struct mailbox	*mb;
	const char	*error;
	uint32_t	 uid = 1;

	fx_deliver_n(fx, 1);
	assert_int_equal(mailbox_open(fx->st, fx->maildir, "INBOX", MAILBOX_READONLY, &mb,
	    &error), 0);
	assert_int_equal(mailbox_store_flags(mb, &uid, 1, FLAGS_ADD, MSG_SEEN, NULL, &error), -1);
	assert_int_equal(mailbox_expunge(mb, &uid, 1, &error), -1);
	mailbox_close(&mb);
}

static void
test_notify_fd(void **state)
{
	struct store_fx	*fx = *state;
	struct mailbox	*mb = fx_open(fx, "INBOX", 0);
	struct pollfd	 p;

	p.fd = mailbox_notify_fd(mb);
	assert_true(p.fd >= 0);
	p.events = POLLIN;
	assert_int_equal(poll(&p, 1, 0), 0);
	fx_deliver_n(fx, 1);
	assert_int_equal(poll(&p, 1, 1000), 1);
	mailbox_close(&mb);
}

static void
test_quota(void **state)
{
	struct store_fx		*fx = *state;
	struct store_rcpt	 r = { fx->maildir, 400, 2 };
	struct store_delivery	*d;
	const char		*error;
	char			*m = fx_message(1);
	uint32_t		 uid;
	int			 i;

	for (i = 0; i < 3; i++) {
		d = store_delivery_begin(fx->st, &r, 1, &error);
		assert_int_equal(store_delivery_write(d, m, strlen(m)), 0);
		if (i < 2) {
			assert_int_equal(store_delivery_commit(d, &error), 0);
		} else {
			assert_int_equal(store_delivery_commit(d, &error), -1);
			assert_true(store_error_temporary());
			assert_non_null(strstr(error, "quota"));
		}
		store_delivery_free(&d);
	}
	assert_int_equal(fx_count(fx_path(fx, "new")), 2);
	/* APPEND obeys the definition stored in maildirsize */
	assert_int_equal(mailbox_append(fx->st, fx->maildir, "Sent", m, strlen(m), 0, 0, &uid,
	    &error), -1);
	assert_true(store_error_temporary());
	/* bytes: 2 messages of ~160 bytes fit in 400, a 3rd would not */
	r.quota_messages = 0;
	d = store_delivery_begin(fx->st, &r, 1, &error);
	assert_int_equal(store_delivery_write(d, m, strlen(m)), 0);
	assert_int_equal(store_delivery_commit(d, &error), -1);
	store_delivery_free(&d);
	/* quota removed: delivery works and maildirsize is gone */
	r.quota_bytes = 0;
	assert_int_equal(fx_deliver(fx->st, fx->maildir, m), 0);
	assert_int_equal(access(fx_path(fx, "maildirsize"), F_OK), -1);
	free(m);
}

/* Read a small file whole into buf (NUL-terminated). */
static void
slurp(const char *path, char *buf, size_t size)
{
	ssize_t	 n;
	int	 fd;

	assert_true((fd = open(path, O_RDONLY)) != -1);
	assert_true((n = read(fd, buf, size - 1)) >= 0);
	buf[n] = '\0';
	close(fd);
}

/*
 * maildirsize is recounted through the durable path (file and Maildir
 * fsynced, nothing left in tmp/); a change only appends a line.
 */
static void
test_quota_recount_durable(void **state)
{
	struct store_fx		*fx = *state;
	struct store_rcpt	 r = { fx->maildir, 100000, 100 };
	struct store_delivery	*d;
	const char		*error;
	char			*m = fx_message(9), text[256], want[256];
	uint64_t		 before;
	int			 i;

	fx_deliver_n(fx, 2);				/* no quota yet: no maildirsize */
	assert_int_equal(access(fx_path(fx, "maildirsize"), F_OK), -1);
	for (i = 0; i < 2; i++) {
		before = commit_fsync_count();
		d = store_delivery_begin(fx->st, &r, 1, &error);
		assert_int_equal(store_delivery_write(d, m, strlen(m)), 0);
		assert_int_equal(store_delivery_commit(d, &error), 0);
		store_delivery_free(&d);
		/* the message's two, and the first time the recount's two */
		assert_int_equal(commit_fsync_count() - before, i == 0 ? 4 : 2);
	}
	assert_int_equal(fx_count(fx_path(fx, "tmp")), 0);
	slurp(fx_path(fx, "maildirsize"), text, sizeof(text));
	snprintf(want, sizeof(want), "100000S,100C\n%zu 2\n%zu 1\n%zu 1\n",
	    2 * strlen(m), strlen(m), strlen(m));
	free(m);
	assert_string_equal(text, want);
}

static void
test_index_rebuilt_same_uids(void **state)
{
	struct store_fx		*fx = *state;
	const struct msg_info	*mi;
	struct mailbox_status	 s, s2;
	struct mailbox		*mb;
	const char		*error;
	uint32_t		 uids[2] = { 2, 4 };
	size_t			 n;

	fx_deliver_n(fx, 5);
	mb = fx_open(fx, "INBOX", 0);
	assert_int_equal(mailbox_store_flags(mb, uids, 2, FLAGS_ADD, MSG_SEEN, "Work", &error), 0);
	assert_int_equal(mailbox_expunge(mb, uids + 1, 1, &error), 0);
	assert_int_equal(mailbox_status(mb, &s), 0);
	mailbox_close(&mb);
	fx_index_delete(fx->maildir);
	mb = fx_open(fx, "INBOX", 0);
	assert_int_equal(mailbox_status(mb, &s2), 0);
	assert_int_equal(s2.uidvalidity, s.uidvalidity);
	assert_int_equal(s2.messages, 4);
	assert_true(s2.uidnext >= s.uidnext);
	assert_int_equal(mailbox_messages(mb, &mi, &n, &error), 0);
	assert_int_equal(n, 4);
	assert_int_equal(mi[1].uid, 2);
	assert_int_equal(mi[1].flags, MSG_SEEN);
	assert_string_equal(fx_fetch(mb, 2)->keywords, "Work");
	assert_int_equal(mi[3].uid, 5);
	mailbox_close(&mb);
	/* the next delivery gets a UID never used before */
	fx_deliver_n(fx, 1);
	mb = fx_open(fx, "INBOX", 0);
	assert_int_equal(mailbox_messages(mb, &mi, &n, &error), 0);
	assert_true(mi[n - 1].uid >= s.uidnext);
	mailbox_close(&mb);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		STORE_FX_TEST_FSYNC(test_create_user_layout),
		STORE_FX_TEST_FSYNC(test_delivery_two_fsyncs_and_name),
		STORE_FX_TEST_FSYNC(test_delivery_multi_rcpt_links),
		STORE_FX_TEST_FSYNC(test_delivery_failure_leaves_nothing),
		STORE_FX_TEST_FSYNC(test_delivery_disk_full),
		STORE_FX_TEST_FSYNC(test_delivery_byte_at_a_time),
		STORE_FX_TEST_FSYNC(test_sync_assigns_uids_and_caches),
		STORE_FX_TEST_FSYNC(test_flags_rename_and_keywords),
		STORE_FX_TEST_FSYNC(test_expunge),
		STORE_FX_TEST_FSYNC(test_open_message_renamed_since_snapshot),
		STORE_FX_TEST_FSYNC(test_external_changes_picked_up),
		STORE_FX_TEST_FSYNC(test_copy_and_append),
		STORE_FX_TEST_FSYNC(test_folders),
		STORE_FX_TEST_FSYNC(test_pop3_lock),
		STORE_FX_TEST_FSYNC(test_release_index),
		STORE_FX_TEST_FSYNC(test_readonly),
		STORE_FX_TEST_FSYNC(test_notify_fd),
		STORE_FX_TEST_FSYNC(test_quota),
		STORE_FX_TEST_FSYNC(test_quota_recount_durable),
		STORE_FX_TEST_FSYNC(test_index_rebuilt_same_uids),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
