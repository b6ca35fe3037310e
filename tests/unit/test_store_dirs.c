/*
 * store/maildir_dirs.c: the handles on one folder share its four
 * directory descriptors (an IMAP IDLE session held 6 descriptors before,
 * 2 now), a folder created again under the same name is not mistaken for
 * the old one, and the last handle closes them.
 */
#include "store/store.h"
#include "tests/unit/store_fixture.h"

#include <sys/stat.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <unistd.h>
#include <cmocka.h>

static size_t
open_fds(void)
{
	DIR		*d;
	size_t		 n = 0;

	assert_non_null(d = opendir("/proc/self/fd"));
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}

static size_t
messages(struct mailbox *mb)
{
	const struct msg_info	*mi;
	const char		*error;
	size_t			 n;

	assert_int_equal(mailbox_sync(mb, &error), 0);
	assert_int_equal(mailbox_messages(mb, &mi, &n, &error), 0);
	return n;
}

static void
make_folder(struct store_fx *fx, const char *dir)
{
	static const char	*subs[] = { "", "/tmp", "/new", "/cur" };
	char			 path[4096];
	size_t			 i;

	for (i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/%s%s", fx->maildir, dir, subs[i]);
		assert_int_equal(mkdir(path, 0700), 0);
	}
}

static void
test_handles_share_directories(void **state)
{
	struct store_fx	*fx = *state;
	struct mailbox	*a, *b, *more[50];
	size_t		 base, one, i;

	fx_deliver_n(fx, 3);
	base = open_fds();
	a = fx_open(fx, "INBOX", 0);
	one = open_fds();
	b = fx_open(fx, "INBOX", 0);
	for (i = 0; i < 50; i++)
		more[i] = fx_open(fx, "INBOX", 0);
	assert_int_equal(open_fds(), one);		/* 4 each before */
	for (i = 0; i < 50; i++)
		mailbox_close(&more[i]);
	mailbox_close(&a);
	fx_deliver_n(fx, 1);
	assert_int_equal(messages(b), 4);		/* a's close left b's open */
	mailbox_close(&b);
	assert_int_equal(open_fds(), base);		/* the last closed them */
}

/* A folder moved away keeps its handles; one made anew under its name is another. */
static void
test_recreated_folder_is_another(void **state)
{
	struct store_fx	*fx = *state;
	struct mailbox	*old, *fresh;
	char		 from[4096], to[4096];
	FILE		*f;

	make_folder(fx, ".Archive");
	old = fx_open(fx, "Archive", 0);
	snprintf(from, sizeof(from), "%s/.Archive/new/1.msg", fx->maildir);
	assert_non_null(f = fopen(from, "w"));
	fputs("Subject: one\n\nbody\n", f);
	fclose(f);
	assert_int_equal(messages(old), 1);
	snprintf(from, sizeof(from), "%s/.Archive", fx->maildir);
	snprintf(to, sizeof(to), "%s/.Moved", fx->maildir);
	assert_int_equal(rename(from, to), 0);
	make_folder(fx, ".Archive");
	fresh = fx_open(fx, "Archive", 0);
	assert_int_equal(messages(fresh), 0);
	mailbox_close(&fresh);
	mailbox_close(&old);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		STORE_FX_TEST(test_handles_share_directories),
		STORE_FX_TEST(test_recreated_folder_is_another),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
