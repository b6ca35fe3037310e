/*
 * store/mailbox_notify.c: one inotify instance per process, watches shared
 * per folder directory, each handle woken on its own descriptor.
 */
#include "store/store.h"
#include "tests/unit/store_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <poll.h>
#include <pthread.h>
#include <unistd.h>
#include <cmocka.h>

/* This process's inotify instances, and the watches they hold in *watches_r. */
static int
inotify_count(int *watches_r)
{
	DIR		*d;
	struct dirent	*e;
	char		 path[300], target[64], line[512];
	ssize_t		 n;
	FILE		*f;
	int		 instances = 0;

	*watches_r = 0;
	assert_non_null(d = opendir("/proc/self/fd"));
	while ((e = readdir(d)) != NULL) {
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		if ((n = readlink(path, target, sizeof(target) - 1)) == -1)
			continue;
		target[n] = '\0';
		if (strcmp(target, "anon_inode:inotify") != 0)
			continue;
		instances++;
		snprintf(path, sizeof(path), "/proc/self/fdinfo/%s", e->d_name);
		assert_non_null(f = fopen(path, "r"));
		while (fgets(line, sizeof(line), f) != NULL)
			if (strncmp(line, "inotify wd:", 11) == 0)
				(*watches_r)++;
		fclose(f);
	}
	closedir(d);
	return instances;
}

/* fd readable within ms (1) or not (0). */
static int
readable(int fd, int ms)
{
	struct pollfd	 p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms);
}

static void
drain(int fd)
{
	char	 buf[64];

	while (read(fd, buf, sizeof(buf)) > 0)
		continue;
}

static void
append_to(struct store_fx *fx, const char *folder)
{
	char		*m = fx_message(1);
	const char	*error;
	uint32_t	 uid;

	assert_int_equal(mailbox_append(fx->st, fx->maildir, folder, m, strlen(m), 0, 0, &uid,
	    &error), 0);
	free(m);
}

/* Two handles on one folder: one watch pair, both woken, each on its own fd. */
static void
test_two_handles_one_folder(void **state)
{
	struct store_fx	*fx = *state;
	struct mailbox	*a = fx_open(fx, "INBOX", 0), *b = fx_open(fx, "INBOX", 0);
	int		 fa, fb, watches;

	assert_true((fa = mailbox_notify_fd(a)) >= 0);
	assert_true((fb = mailbox_notify_fd(b)) >= 0);
	assert_int_not_equal(fa, fb);
	assert_int_equal(mailbox_notify_fd(a), fa);	/* asked again: the same */
	assert_int_equal(inotify_count(&watches), 1);
	assert_int_equal(watches, 2);			/* new/ and cur/, shared */
	assert_int_equal(readable(fa, 0), 0);
	fx_deliver_n(fx, 1);
	assert_int_equal(readable(fa, 1000), 1);
	assert_int_equal(readable(fb, 1000), 1);
	drain(fa);
	drain(fb);
	assert_int_equal(readable(fa, 0), 0);
	/* one gone, the other still woken, the watches kept for it */
	mailbox_close(&a);
	assert_int_equal(inotify_count(&watches), 1);
	assert_int_equal(watches, 2);
	fx_deliver_n(fx, 1);
	assert_int_equal(readable(fb, 1000), 1);
	mailbox_close(&b);
	assert_int_equal(inotify_count(&watches), 1);
	assert_int_equal(watches, 0);			/* the last handle removed them */
}

/* Handles on different folders: a change wakes only its folder's. */
static void
test_different_folders(void **state)
{
	struct store_fx	*fx = *state;
	struct mailbox	*inbox = fx_open(fx, "INBOX", 0), *sent = fx_open(fx, "Sent", 0);
	int		 fi, fs, watches;

	assert_true((fi = mailbox_notify_fd(inbox)) >= 0);
	assert_true((fs = mailbox_notify_fd(sent)) >= 0);
	assert_int_equal(inotify_count(&watches), 1);
	assert_int_equal(watches, 4);
	append_to(fx, "Sent");
	assert_int_equal(readable(fs, 1000), 1);
	assert_int_equal(readable(fi, 200), 0);
	drain(fs);
	fx_deliver_n(fx, 1);
	assert_int_equal(readable(fi, 1000), 1);
	assert_int_equal(readable(fs, 200), 0);
	mailbox_close(&inbox);
	mailbox_close(&sent);
}

/*
 * More handles of one uid than fs.inotify.max_user_instances (128 on
 * Debian) allows instances: every one gets a descriptor that works.
 */
static void
test_more_handles_than_instances(void **state)
{
	struct store_fx	*fx = *state;
	struct mailbox	*mb[300];
	size_t		 i;
	int		 watches;

	for (i = 0; i < 300; i++) {
		mb[i] = fx_open(fx, i % 2 ? "INBOX" : "Trash", 0);
		assert_true(mailbox_notify_fd(mb[i]) >= 0);
	}
	assert_int_equal(inotify_count(&watches), 1);
	assert_int_equal(watches, 4);
	fx_deliver_n(fx, 1);
	for (i = 1; i < 300; i += 2)
		assert_int_equal(readable(mailbox_notify_fd(mb[i]), 1000), 1);
	for (i = 0; i < 300; i++)
		mailbox_close(&mb[i]);
	assert_int_equal(inotify_count(&watches), 1);
	assert_int_equal(watches, 0);
}

/*
 * Close while events are pending and being dispatched: a burst of
 * deliveries, handles closed under it (ASan: no write to a freed one),
 * and a later handle on the folder still woken.
 */
static void
test_close_while_pending(void **state)
{
	struct store_fx	*fx = *state;
	struct mailbox	*mb[20], *late;
	size_t		 i;
	int		 watches;

	for (i = 0; i < 20; i++) {
		mb[i] = fx_open(fx, "INBOX", 0);
		assert_true(mailbox_notify_fd(mb[i]) >= 0);
	}
	fx_deliver_n(fx, 20);
	for (i = 0; i < 20; i++)
		mailbox_close(&mb[i]);
	late = fx_open(fx, "INBOX", 0);
	assert_true(mailbox_notify_fd(late) >= 0);
	fx_deliver_n(fx, 1);
	assert_int_equal(readable(mailbox_notify_fd(late), 1000), 1);
	mailbox_close(&late);
	assert_int_equal(inotify_count(&watches), 1);
	assert_int_equal(watches, 0);
}

/* Threads opening, watching and closing while deliveries come. */
static void *
churn(void *arg)
{
	struct store_fx	*fx = arg;
	struct mailbox	*mb;
	int		 i;

	for (i = 0; i < 200; i++) {
		mb = fx_open(fx, i % 3 ? "INBOX" : "Drafts", 0);
		assert_true(mailbox_notify_fd(mb) >= 0);
		mailbox_close(&mb);
	}
	return NULL;
}

static void
test_threads(void **state)
{
	struct store_fx	*fx = *state;
	struct mailbox	*mb = fx_open(fx, "INBOX", 0);
	pthread_t	 t[3];
	size_t		 i;
	int		 fd, watches;

	assert_true((fd = mailbox_notify_fd(mb)) >= 0);
	for (i = 0; i < 3; i++)
		assert_int_equal(pthread_create(&t[i], NULL, churn, fx), 0);
	fx_deliver_n(fx, 30);
	for (i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	drain(fd);
	/* the watches the churn shared with mb are still there */
	fx_deliver_n(fx, 1);
	assert_int_equal(readable(fd, 1000), 1);
	assert_int_equal(inotify_count(&watches), 1);
	assert_int_equal(watches, 2);
	mailbox_close(&mb);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		STORE_FX_TEST(test_two_handles_one_folder),
		STORE_FX_TEST(test_different_folders),
		STORE_FX_TEST(test_more_handles_than_instances),
		STORE_FX_TEST(test_close_while_pending),
		STORE_FX_TEST(test_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
