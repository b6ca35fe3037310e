/*
 * Concurrency: 4 processes deliver while 4 others sync, flag, expunge,
 * copy and move on the same mailbox, each a fixed number of operations.  Every
 * process checks what it sees (UIDs strictly increasing, a UID never
 * reused for another message, an expunged UID never back); afterwards the
 * index matches the Maildir and every delivered message is either there
 * exactly once or was expunged.
 */
#include "store/store.h"
#include "tests/unit/store_fixture.h"
#include "lib/xmalloc.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#define WRITERS		4
#define MUTATORS	4
#define DELIVERIES	250	/* per writer */
#define OPS		250	/* per mutator */
#define MAXUID		4096

static char	*root, *maildir, *logpath;

/* "message N" from an envelope; -1 if not ours. */
static int
msgno(const char *envelope)
{
	const char	*p = strstr(envelope, "\"message ");

	return p != NULL ? atoi(p + 9) : -1;
}

static void
log_line(const char *fmt, unsigned a, int b)
{
	char	 line[64];
	int	 fd, len;

	len = snprintf(line, sizeof(line), fmt, a, b);
	fd = open(logpath, O_WRONLY | O_APPEND | O_CREAT, 0600);
	if (fd == -1 || write(fd, line, (size_t)len) != len)
		_exit(3);
	close(fd);
}

static int
writer(unsigned w)
{
	struct store	*st = fx_store(root, 0);
	unsigned	 i;
	char		*m;

	for (i = 0; i < DELIVERIES; i++) {
		m = fx_message(w * 1000 + i);
		if (fx_deliver(st, maildir, m) != 0)
			return 1;
		free(m);
	}
	store_close(&st);
	return 0;
}

static int
mutator(unsigned w)
{
	struct store		*st = fx_store(root, 0);
	static int		 seen[MAXUID];	/* uid -> message number + 1, -1 gone */
	const struct msg_fetch	*mi;	/* UIDs and envelopes: the message numbers */
	struct mailbox		*mb;
	const char		*error;
	uint32_t		 uid, out;
	size_t			 n, i, j;
	unsigned		 op;
	int			 no;

	srand(w * 7919 + (unsigned)getpid());
	if (mailbox_open(st, maildir, "INBOX", 0, &mb, &error) == -1)
		return 10;
	for (op = 0; op < OPS; op++) {
		if (mailbox_sync(mb, &error) == -1 ||
		    mailbox_fetch(mb, 1, UINT32_MAX, &mi, &n, &error) == -1) {
			fprintf(stderr, "sync: %s\n", error);
			return 11;
		}
		for (i = 0; i < n; i++) {
			if (i > 0 && mi[i].uid <= mi[i - 1].uid)
				return 12;		/* not strictly increasing */
			if (mi[i].uid >= MAXUID || (no = msgno(mi[i].envelope)) < 0)
				return 13;
			if (seen[mi[i].uid] == -1)
				return 14;		/* expunged UID came back */
			if (seen[mi[i].uid] != 0 && seen[mi[i].uid] != no + 1)
				return 15;		/* UID reused */
			seen[mi[i].uid] = no + 1;
		}
		/* UIDs this process saw before and that are gone now: expunged. */
		for (j = 1, i = 0; j < MAXUID; j++) {
			while (i < n && mi[i].uid < j)
				i++;
			if (seen[j] > 0 && (i == n || mi[i].uid != j))
				seen[j] = -1;
		}
		if (n == 0)
			continue;
		i = (size_t)rand() % n;
		uid = mi[i].uid;
		switch (op % 4) {
		case 0:
		case 1:
			if (mailbox_store_flags(mb, &uid, 1, rand() % 2 ? FLAGS_ADD : FLAGS_REMOVE,
			    MSG_SEEN | (op % 3 ? MSG_FLAGGED : 0), op % 5 ? NULL : "Work",
			    &error) == -1) {
				fprintf(stderr, "flags: %s\n", error);
				return 16;
			}
			break;
		case 2:
			no = msgno(mi[i].envelope);
			if (mailbox_expunge(mb, &uid, 1, &error) == -1) {
				fprintf(stderr, "expunge: %s\n", error);
				return 17;
			}
			log_line("E %u %d\n", uid, no);
			break;
		case 3:
			no = msgno(mi[i].envelope);
			if (op % 8 == 7) {	/* MOVE: leaves INBOX like an expunge */
				if (mailbox_move(mb, &uid, 1, "Trash", &out, &error) == -1) {
					fprintf(stderr, "move: %s\n", error);
					return 19;
				}
				if (out != 0)
					log_line("M %u %d\n", out, no);
				break;
			}
			if (mailbox_copy(mb, &uid, 1, "Trash", &out, &error) == -1) {
				fprintf(stderr, "copy: %s\n", error);
				return 18;
			}
			if (out != 0)
				log_line("C %u %d\n", out, 0);
			break;
		}
	}
	mailbox_close(&mb);
	store_close(&st);
	return 0;
}

static void
test_deliver_flag_expunge_copy(void **state)
{
	static char		 present[WRITERS * 1000], expunged[WRITERS * 1000];
	const struct msg_info	*mi;
	const struct msg_fetch	*mf;
	struct store		*st;
	struct mailbox		*mb;
	const char		*error;
	pid_t			 pids[WRITERS + MUTATORS];
	unsigned		 i, copies = 0, uid;
	size_t			 n, nf, k;
	int			 status, no;
	char			 kind;
	FILE			*f;

	(void)state;
	root = fx_tmpdir("concurrency");
	logpath = xasprintf("%s/ops.log", root);
	st = fx_store(root, 0);
	maildir = fx_user(st, root, "alice");
	for (i = 0; i < WRITERS + MUTATORS; i++) {
		if ((pids[i] = fork()) == 0)
			_exit(i < WRITERS ? writer(i) : mutator(i));
		assert_true(pids[i] > 0);
	}
	for (i = 0; i < WRITERS + MUTATORS; i++) {
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			fail_msg("process %u failed: status %d", i, status);
	}
	if (fx_consistent(st, maildir, "INBOX", &error) != 0)
		fail_msg("INBOX: %s", error);
	if (fx_consistent(st, maildir, "Trash", &error) != 0)
		fail_msg("Trash: %s", error);

	assert_non_null(f = fopen(logpath, "r"));
	while (fscanf(f, " %c %u %d", &kind, &uid, &no) == 3) {
		if (kind == 'E' && no >= 0 && no < WRITERS * 1000)
			expunged[no] = 1;
		if (kind == 'M' && no >= 0 && no < WRITERS * 1000)
			expunged[no] = 1;
		if (kind == 'C' || kind == 'M')
			copies++;
	}
	fclose(f);
	assert_int_equal(mailbox_open(st, maildir, "INBOX", 0, &mb, &error), 0);
	assert_int_equal(mailbox_messages(mb, &mi, &n, &error), 0);
	assert_int_equal(mailbox_fetch(mb, 1, UINT32_MAX, &mf, &nf, &error), 0);
	assert_int_equal(nf, n);
	for (k = 0; k < n; k++) {
		assert_int_equal(mf[k].uid, mi[k].uid);
		no = msgno(mf[k].envelope);
		assert_true(no >= 0 && no < WRITERS * 1000);
		assert_int_equal(present[no], 0);	/* never twice */
		present[no] = 1;
		if (k > 0)
			assert_true(mi[k].uid > mi[k - 1].uid);
	}
	for (i = 0; i < WRITERS; i++)
		for (k = 0; k < DELIVERIES; k++) {
			no = (int)(i * 1000 + k);
			if (!present[no] && !expunged[no])
				fail_msg("message %d lost", no);
			if (present[no] && expunged[no])
				fail_msg("message %d expunged but present", no);
		}
	print_message("INBOX %zu messages, %u copies in Trash\n", n, copies);
	mailbox_close(&mb);
	assert_int_equal(mailbox_open(st, maildir, "Trash", 0, &mb, &error), 0);
	assert_int_equal(mailbox_messages(mb, &mi, &n, &error), 0);
	assert_int_equal(n, copies);
	mailbox_close(&mb);
	store_close(&st);
	fx_rmtree(root);
	free(root);
	free(maildir);
	free(logpath);
}

/*
 * Threads of one process opening the same fresh mailbox at once (pop3d's
 * logins run on the workq): Berkeley DB allows one environment handle per
 * process, so they must share one open; a second handle used to fail and
 * made the store think the index unusable.
 */
#define OPENERS	8
#define ROUNDS	10

struct opener {
	struct store		*st;
	const char		*maildir;
	pthread_barrier_t	*go;
	int			 rc;
	const char		*error;
};

static void *
open_at_once(void *arg)
{
	struct opener	*o = arg;
	struct mailbox	*mb = NULL;

	pthread_barrier_wait(o->go);
	o->rc = mailbox_open(o->st, o->maildir, "INBOX", 0, &mb, &o->error);
	mailbox_close(&mb);
	return NULL;
}

static void
test_threads_open_one_mailbox(void **state)
{
	struct opener		 o[OPENERS];
	pthread_t		 t[OPENERS];
	pthread_barrier_t	 go;
	struct store		*st;
	char			*dir, *md, local[16];
	int			 round, i;

	(void)state;
	dir = fx_tmpdir("openers");
	st = fx_store(dir, 0);
	for (round = 0; round < ROUNDS; round++) {
		snprintf(local, sizeof(local), "u%d", round);
		md = fx_user(st, dir, local);	/* no index yet */
		pthread_barrier_init(&go, NULL, OPENERS);
		for (i = 0; i < OPENERS; i++) {
			o[i] = (struct opener){ st, md, &go, -1, NULL };
			assert_int_equal(pthread_create(&t[i], NULL, open_at_once, &o[i]), 0);
		}
		for (i = 0; i < OPENERS; i++) {
			pthread_join(t[i], NULL);
			if (o[i].rc != 0)
				fail_msg("round %d thread %d: %s", round, i, o[i].error);
		}
		pthread_barrier_destroy(&go);
		free(md);
	}
	store_close(&st);
	fx_rmtree(dir);
	free(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deliver_flag_expunge_copy),
		cmocka_unit_test(test_threads_open_one_mailbox),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
