/*
 * Crash safety: a child process performs one store operation and is
 * killed (SIGKILL, via POSTROOM_CRASH_AT) at each named step of delivery,
 * new->cur sync (and POP3's sync, which leaves new mail in new/), flag change, expunge, copy and append.  The parent then
 * reopens (Berkeley DB recovery through DB_REGISTER) and checks that
 * nothing acknowledged is lost, no partial file is visible, the index
 * matches the Maildir and UIDs are never reused.  Then the same with
 * batches of 1, 2 and 50 deliveries in flight (group commit).
 */
#include "store/store.h"
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
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

enum kind { OP_DELIVER, OP_FIRST_SYNC, OP_SYNC, OP_POP3_FIRST_SYNC, OP_POP3_SYNC, OP_FLAGS,
	OP_EXPUNGE, OP_COPY, OP_MOVE, OP_APPEND };

static const struct {
	const char	*point;
	enum kind	 kind;
} points[] = {
	{ "delivery-written",	OP_DELIVER },
	{ "delivery-fsynced",	OP_DELIVER },
	{ "delivery-linked",	OP_DELIVER },
	{ "delivery-committed",	OP_DELIVER },
	{ "uids-reserved",	OP_FIRST_SYNC },	/* the folder's first sync */
	{ "sync-renamed",	OP_FIRST_SYNC },
	{ "sync-renamed",	OP_SYNC },
	{ "sync-fsynced",	OP_SYNC },
	{ "uids-reserved",	OP_POP3_FIRST_SYNC },
	{ "sync-renamed",	OP_POP3_FIRST_SYNC },	/* UIDs listed, not yet durable */
	{ "sync-renamed",	OP_POP3_SYNC },
	{ "sync-fsynced",	OP_POP3_SYNC },
	{ "flags-renamed",	OP_FLAGS },
	{ "flags-fsynced",	OP_FLAGS },
	{ "expunge-unlinked",	OP_EXPUNGE },
	{ "expunge-fsynced",	OP_EXPUNGE },
	{ "copy-linked",	OP_COPY },
	{ "copy-fsynced",	OP_COPY },
	{ "copy-linked",	OP_MOVE },
	{ "copy-fsynced",	OP_MOVE },
	{ "append-written",	OP_APPEND },
	{ "append-fsynced",	OP_APPEND },
	{ "none",		OP_FLAGS },	/* completes, then dies holding the index */
};

static int
child_op(struct store *st, const char *maildir, enum kind kind)
{
	struct mailbox	*mb;
	const char	*error;
	uint32_t	 uid, out;
	char		*m;

	switch (kind) {
	case OP_DELIVER:
		m = fx_message(4);
		return fx_deliver(st, maildir, m);
	case OP_FIRST_SYNC:
	case OP_SYNC:
		return mailbox_open(st, maildir, "INBOX", 0, &mb, &error);
	case OP_POP3_FIRST_SYNC:
	case OP_POP3_SYNC:
		return mailbox_open(st, maildir, "INBOX", MAILBOX_POP3_LOCK, &mb, &error);
	case OP_APPEND:
		return mailbox_append(st, maildir, "Sent", "Subject: a\n\nx\n", 14, MSG_SEEN,
		    0, &uid, &error);
	default:
		break;
	}
	if (mailbox_open(st, maildir, "INBOX", 0, &mb, &error) == -1)
		return -1;
	switch (kind) {
	case OP_FLAGS:
		uid = 2;
		return mailbox_store_flags(mb, &uid, 1, FLAGS_ADD, MSG_SEEN | MSG_FLAGGED, "Work",
		    &error);
	case OP_EXPUNGE:
		uid = 3;
		return mailbox_expunge(mb, &uid, 1, &error);
	case OP_COPY:
		uid = 1;
		return mailbox_copy(mb, &uid, 1, "Trash", &out, &error);
	case OP_MOVE:
		uid = 3;
		return mailbox_move(mb, &uid, 1, "Trash", &out, &error);
	default:
		return -1;
	}
}

/* No file visible in new/ or cur/ is shorter than its S= says. */
static void
assert_no_partial(const char *maildir, const char *sub)
{
	struct dirent	*de;
	struct stat	 sb;
	char		 path[4096];
	const char	*s;
	DIR		*dir;

	snprintf(path, sizeof(path), "%s/%s", maildir, sub);
	assert_non_null(dir = opendir(path));
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.' || (s = strstr(de->d_name, ",S=")) == NULL)
			continue;
		assert_int_equal(fstatat(dirfd(dir), de->d_name, &sb, 0), 0);
		assert_int_equal((unsigned long long)sb.st_size, strtoull(s + 3, NULL, 10));
	}
	closedir(dir);
}

static size_t
folder_messages_as(struct store *st, const char *maildir, const char *folder, unsigned flags)
{
	struct mailbox_status	 s;
	struct mailbox		*mb;
	const char		*error;

	if (mailbox_open(st, maildir, folder, flags, &mb, &error) == -1)
		fail_msg("open %s: %s", folder, error);
	assert_int_equal(mailbox_status(mb, &s), 0);
	mailbox_close(&mb);
	return s.messages;
}

static size_t
folder_messages(struct store *st, const char *maildir, const char *folder)
{
	return folder_messages_as(st, maildir, folder, 0);
}

static void
crash_at(const char *point, enum kind kind)
{
	char			*root = fx_tmpdir("crash"), *maildir, *m;
	struct store		*st = fx_store(root, 1);
	const struct msg_info	*mi;
	struct mailbox		*mb;
	const char		*error;
	uint32_t		 maxuid;
	size_t			 n, i;
	pid_t			 pid;
	int			 status;
	bool			 acked;
	bool			 first = kind == OP_FIRST_SYNC || kind == OP_POP3_FIRST_SYNC;
	bool			 is_sync = kind == OP_SYNC || kind == OP_POP3_SYNC;

	maildir = fx_user(st, root, "alice");
	for (i = 1; i <= 3; i++) {
		m = fx_message((unsigned)i);
		assert_int_equal(fx_deliver(st, maildir, m), 0);
		free(m);
	}
	/* After a POP3 sync the three stay in new/, listed in postroom-new-uids. */
	if (kind == OP_POP3_SYNC)
		assert_int_equal(folder_messages_as(st, maildir, "INBOX", MAILBOX_POP3_LOCK), 3);
	else if (!first)
		assert_int_equal(folder_messages(st, maildir, "INBOX"), 3);
	if (is_sync) {
		m = fx_message(4);
		assert_int_equal(fx_deliver(st, maildir, m), 0);
		free(m);
	}
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct store *cst = fx_store(root, 1);
		setenv("POSTROOM_CRASH_AT", point, 1);
		if (child_op(cst, maildir, kind) != 0)
			_exit(1);
		if (strcmp(point, "none") == 0)
			raise(SIGKILL);	/* acknowledged, index still open */
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (strcmp(point, "none") == 0) {
		assert_true(WIFSIGNALED(status));
		acked = true;
	} else {
		/* The point must have been reached: the child died there. */
		if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
			fail_msg("%s: child was not killed (status %d)", point, status);
		acked = false;
	}

	/* Reopen after the crash: recovery, then the checks. */
	assert_no_partial(maildir, "new");
	assert_no_partial(maildir, "cur");
	if (fx_consistent(st, maildir, "INBOX", &error) != 0)
		fail_msg("%s: INBOX: %s", point, error);
	if (fx_consistent(st, maildir, "Trash", &error) != 0)
		fail_msg("%s: Trash: %s", point, error);
	if (fx_consistent(st, maildir, "Sent", &error) != 0)
		fail_msg("%s: Sent: %s", point, error);
	assert_int_equal(mailbox_open(st, maildir, "INBOX", 0, &mb, &error), 0);
	assert_int_equal(mailbox_messages(mb, &mi, &n, &error), 0);
	/* The three acknowledged messages keep their UIDs (and uid 3 unless expunged). */
	assert_true(n >= 2);
	assert_non_null(strstr(fx_fetch(mb, mi[0].uid)->envelope, "message 1"));
	assert_non_null(strstr(fx_fetch(mb, mi[1].uid)->envelope, "message 2"));
	/*
	 * A first sync killed after reserving UIDs: those UIDs were never
	 * shown to anyone, but may not be handed out again either.
	 */
	if (!first) {
		assert_int_equal(mi[0].uid, 1);
		assert_int_equal(mi[1].uid, 2);
	}
	if (kind == OP_DELIVER)
		assert_true(n == 3 || n == 4);
	if (first)
		assert_int_equal(n, 3);	/* unacknowledged may or may not be there */
	if (is_sync) {
		assert_int_equal(n, 4);		/* delivered before: never lost */
		assert_int_equal(mi[3].uid, 4);	/* the UID a killed sync chose is kept */
	}
	if (kind == OP_FLAGS && acked)
		assert_int_equal(mi[1].flags & ~MSG_RECENT, MSG_SEEN | MSG_FLAGGED);
	if (kind == OP_FLAGS)
		assert_true((mi[1].flags & ~MSG_RECENT) == 0 ||
		    (mi[1].flags & ~MSG_RECENT) == (MSG_SEEN | MSG_FLAGGED));
	if (kind == OP_EXPUNGE)
		assert_true(n == 2 || n == 3);
	if (kind == OP_MOVE) {
		/* In exactly one of the two folders, whatever the instant. */
		assert_int_equal(n + folder_messages(st, maildir, "Trash"), 3);
	}
	maxuid = mi[n - 1].uid;
	mailbox_close(&mb);
	if (kind == OP_COPY)
		assert_true(folder_messages(st, maildir, "Trash") <= 1);
	if (kind == OP_APPEND)
		assert_true(folder_messages(st, maildir, "Sent") <= 1);

	/* Life goes on: the next message gets a UID never seen before. */
	m = fx_message(9);
	assert_int_equal(fx_deliver(st, maildir, m), 0);
	free(m);
	assert_int_equal(mailbox_open(st, maildir, "INBOX", 0, &mb, &error), 0);
	assert_int_equal(mailbox_messages(mb, &mi, &n, &error), 0);
	assert_true(mi[n - 1].uid > maxuid);
	mailbox_close(&mb);
	assert_int_equal(fx_consistent(st, maildir, "INBOX", &error), 0);

	store_close(&st);
	fx_rmtree(root);
	free(root);
	free(maildir);
}

static void
test_crash_points(void **state)
{
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(points) / sizeof(points[0]); i++)
		crash_at(points[i].point, points[i].kind);
}

/*
 * Group commit under fire: BATCH deliveries into one Maildir at once, the
 * process killed when the first of them reaches a step (its own or the
 * shared directory fsync's).  Each thread reports its 250 through a pipe
 * as it returns; after the kill every acknowledged message is there once,
 * every other at most once, nothing partial, the index consistent.
 */
static const struct {
	const char	*point;
	bool		 per_message;	/* reached by every delivery, not once per fsync */
} batch_points[] = {
	{ "delivery-written",	true },
	{ "delivery-fsynced",	true },
	{ "delivery-linked",	true },
	{ "group-syncing",	false },	/* a leader about to fsync new/ for its batch */
	{ "group-synced",	false },	/* new/ fsynced, the batch not yet told */
	{ "delivery-committed",	true },
};

#define BATCH_MAX	50
#define BATCH_BASE	100	/* message numbers BATCH_BASE + i */

struct batch_thread {
	struct store		*st;
	const char		*maildir;
	pthread_barrier_t	*go;
	int			 ackfd;
	unsigned char		 i;
};

static void *
batch_deliver(void *arg)
{
	struct batch_thread	*b = arg;
	char			*m = fx_message(BATCH_BASE + b->i);

	pthread_barrier_wait(b->go);
	if (fx_deliver(b->st, b->maildir, m) == 0 && write(b->ackfd, &b->i, 1) != 1)
		_exit(2);
	free(m);
	return NULL;
}

/* The child: n deliveries at once, acknowledgements to ackfd; killed on the way. */
static void __attribute__((noreturn))
batch_child(const char *root, const char *maildir, const char *point, int n, int ackfd)
{
	struct batch_thread	 b[BATCH_MAX];
	pthread_t		 th[BATCH_MAX];
	pthread_barrier_t	 go;
	struct store		*st = fx_store(root, 1);
	int			 i;

	setenv("POSTROOM_CRASH_AT", point, 1);
	pthread_barrier_init(&go, NULL, (unsigned)n);
	for (i = 0; i < n; i++) {
		b[i] = (struct batch_thread){ st, maildir, &go, ackfd, (unsigned char)i };
		if (pthread_create(&th[i], NULL, batch_deliver, &b[i]) != 0)
			_exit(3);
	}
	for (i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	_exit(0);	/* the point was never reached: the parent fails */
}

/* How many files in maildir's new/ and cur/ hold message number k. */
static int
copies_of(const char *maildir, unsigned k)
{
	static const char	*subs[] = { "new", "cur" };
	struct dirent		*de;
	char			 path[4096], want[64], text[1024];
	ssize_t			 len;
	size_t			 i;
	DIR			*dir;
	int			 fd, n = 0;

	snprintf(want, sizeof(want), "Subject: message %u\n", k);
	for (i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s", maildir, subs[i]);
		assert_non_null(dir = opendir(path));
		while ((de = readdir(dir)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			assert_true((fd = openat(dirfd(dir), de->d_name, O_RDONLY)) >= 0);
			len = read(fd, text, sizeof(text) - 1);
			close(fd);
			assert_true(len >= 0);
			text[len] = '\0';
			n += strstr(text, want) != NULL;
		}
		closedir(dir);
	}
	return n;
}

/* Kill at the nth's arrival at point, n deliveries in flight. */
static void
crash_batch(const char *point, int n, int nth)
{
	char		*root = fx_tmpdir("crash"), *maildir, *m, at[64];
	struct store	*st = fx_store(root, 1);
	const char	*error;
	unsigned char	 i, acked[BATCH_MAX] = { 0 };
	pid_t		 pid;
	int		 status, pfd[2], k;

	maildir = fx_user(st, root, "alice");
	for (k = 1; k <= 3; k++) {
		m = fx_message((unsigned)k);
		assert_int_equal(fx_deliver(st, maildir, m), 0);
		free(m);
	}
	assert_int_equal(folder_messages(st, maildir, "INBOX"), 3);
	snprintf(at, sizeof(at), "%s:%d", point, nth);
	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(pfd[0]);
		batch_child(root, maildir, at, n, pfd[1]);
	}
	close(pfd[1]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
		fail_msg("%s x%d: child was not killed (status %d)", at, n, status);
	while (read(pfd[0], &i, 1) == 1) {
		assert_true(i < n);
		acked[i] = 1;
	}
	close(pfd[0]);

	assert_no_partial(maildir, "new");
	assert_no_partial(maildir, "cur");
	for (k = 1; k <= 3; k++)
		assert_int_equal(copies_of(maildir, (unsigned)k), 1);
	for (k = 0; k < n; k++) {
		int c = copies_of(maildir, BATCH_BASE + (unsigned)k);
		if (acked[k] ? c != 1 : c > 1)
			fail_msg("%s x%d: message %d %s, %d copies", at, n, k,
			    acked[k] ? "acknowledged" : "not acknowledged", c);
	}
	if (fx_consistent(st, maildir, "INBOX", &error) != 0)
		fail_msg("%s x%d: INBOX: %s", at, n, error);
	/* Life goes on in the same directory. */
	m = fx_message(9);
	assert_int_equal(fx_deliver(st, maildir, m), 0);
	free(m);
	assert_int_equal(fx_consistent(st, maildir, "INBOX", &error), 0);
	store_close(&st);
	fx_rmtree(root);
	free(root);
	free(maildir);
}

static void
test_crash_batches(void **state)
{
	static const int	 sizes[] = { 1, 2, BATCH_MAX };
	size_t			 i, j;
	int			 n;

	(void)state;
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		for (j = 0; j < sizeof(batch_points) / sizeof(batch_points[0]); j++) {
			n = sizes[i];
			/*
			 * The first to get there, then later with some acknowledged:
			 * half-way through the deliveries, or at the second fsync
			 * (of n >= 2 arrivals only the first can lead the first).
			 */
			crash_batch(batch_points[j].point, n, 1);
			if (n > 1)
				crash_batch(batch_points[j].point, n,
				    batch_points[j].per_message ? n / 2 + 1 : 2);
		}
}

/*
 * A process dies inside a transaction holding the folder lock while
 * another process keeps the index open: the survivor must not wedge.
 */
static void
test_survivor_not_wedged(void **state)
{
	struct store_fx	*fx = *state;
	char		*m;
	struct mailbox	*mb;
	const char	*error;
	uint32_t	 uid = 1;
	time_t		 start;
	pid_t		 pid;
	int		 status;

	m = fx_message(1);
	assert_int_equal(fx_deliver(fx->st, fx->maildir, m), 0);
	free(m);
	assert_int_equal(mailbox_open(fx->st, fx->maildir, "INBOX", 0, &mb, &error), 0);
	pid = fork();
	if (pid == 0) {
		struct store *cst = fx_store(fx->root, 0);
		struct mailbox *cmb;
		setenv("POSTROOM_CRASH_AT", "flags-renamed", 1);
		if (mailbox_open(cst, fx->maildir, "INBOX", 0, &cmb, &error) == 0)
			mailbox_store_flags(cmb, &uid, 1, FLAGS_ADD, MSG_SEEN, NULL, &error);
		_exit(1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	start = time(NULL);
	/* Our open handle meets the dead child's locks, times out, recovers. */
	if (mailbox_store_flags(mb, &uid, 1, FLAGS_ADD, MSG_FLAGGED, NULL, &error) != 0)
		fail_msg("store after crash: %s", error);
	assert_true(time(NULL) - start < 15);
	mailbox_close(&mb);
	assert_int_equal(fx_consistent(fx->st, fx->maildir, "INBOX", &error), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crash_points),
		cmocka_unit_test(test_crash_batches),
		STORE_FX_TEST(test_survivor_not_wedged),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
