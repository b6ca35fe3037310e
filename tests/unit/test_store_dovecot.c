/*
 * store_dovecot_import/export (mailctl import-dovecot, export-dovecot):
 * dovecot-uidlist to U= names and postroom-uidvalidity and back, the
 * store then opening the folder with Dovecot's UIDVALIDITY and UIDs;
 * Dovecot 2.3's subscriptions; a uidlist it cannot read refused with its
 * file and line.  tests/e2e/test_migrate.py does the same against Dovecot.
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
#include <unistd.h>
#include <cmocka.h>

#define MSG	"Subject: x\n\nbody\n"

static void
put(struct store_fx *fx, const char *rel, const char *text)
{
	FILE	*f = fopen(fx_path(fx, rel), "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static char *
get(struct store_fx *fx, const char *rel)
{
	char	 buf[4096];
	size_t	 n;
	FILE	*f = fopen(fx_path(fx, rel), "r");

	if (f == NULL)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return xstrdup(buf);
}

static bool
exists(struct store_fx *fx, const char *rel)
{
	return access(fx_path(fx, rel), F_OK) == 0;
}

/* INBOX as Dovecot left it: two listed files (one in new/), one it never listed. */
static void
dovecot_inbox(struct store_fx *fx)
{
	unlink(fx_path(fx, "postroom-uidvalidity"));
	put(fx, "cur/100.M1P1.h,S=17,W=20:2,S", MSG);
	put(fx, "new/200.M2P1.h,S=17,W=20", MSG);
	put(fx, "cur/300.M3P1.h:2,F", MSG);
	put(fx, "dovecot-uidlist",
	    "3 V4242 N9 G0123456789abcdef\n5 :100.M1P1.h,S=17,W=20\n"
	    "7 W20 S17 :200.M2P1.h,S=17,W=20\n");
}

static void
test_import_keeps_uids(void **state)
{
	struct store_fx		*fx = *state;
	const struct msg_info	*mi;
	struct mailbox_status	 ms;
	struct mailbox		*mb;
	const char		*err;
	unsigned		 kept;
	size_t			 n;
	char			*side;

	dovecot_inbox(fx);
	assert_int_equal(store_dovecot_import(fx->maildir, &kept, &err), 0);
	assert_int_equal(kept, 2);
	assert_true(exists(fx, "cur/100.M1P1.h,S=17,W=20,U=5:2,S"));
	assert_true(exists(fx, "cur/200.M2P1.h,S=17,W=20,U=7:2,"));
	assert_true(exists(fx, "cur/300.M3P1.h:2,F"));
	assert_int_equal(fx_count(fx_path(fx, "new")), 0);
	side = get(fx, "postroom-uidvalidity");
	assert_string_equal(side, "4242 9\n");
	free(side);

	/* Again: the folder is ours now, nothing changes. */
	assert_int_equal(store_dovecot_import(fx->maildir, &kept, &err), 0);
	assert_int_equal(kept, 0);

	mb = fx_open(fx, "INBOX", 0);
	assert_int_equal(mailbox_status(mb, &ms), 0);
	assert_int_equal(ms.uidvalidity, 4242);
	assert_int_equal(mailbox_messages(mb, &mi, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_int_equal(mi[0].uid, 5);
	assert_true(mi[0].flags & MSG_SEEN);
	assert_int_equal(mi[1].uid, 7);
	assert_true(mi[2].uid >= 9);		/* never listed: a new UID */
	assert_true(mi[2].flags & MSG_FLAGGED);
	mailbox_close(&mb);
}

/* A run cut short (a file renamed, no side file yet) is finished by the next. */
static void
test_import_resumes(void **state)
{
	struct store_fx	*fx = *state;
	const char	*err;
	unsigned	 kept;
	char		*side, *from;

	dovecot_inbox(fx);
	from = xstrdup(fx_path(fx, "cur/100.M1P1.h,S=17,W=20:2,S"));	/* one static buffer */
	assert_int_equal(rename(from, fx_path(fx, "cur/100.M1P1.h,S=17,W=20,U=5:2,S")), 0);
	free(from);
	assert_int_equal(store_dovecot_import(fx->maildir, &kept, &err), 0);
	assert_int_equal(kept, 1);
	assert_true(exists(fx, "cur/100.M1P1.h,S=17,W=20,U=5:2,S"));
	assert_true(exists(fx, "cur/200.M2P1.h,S=17,W=20,U=7:2,"));
	side = get(fx, "postroom-uidvalidity");
	assert_string_equal(side, "4242 9\n");
	free(side);
}

static void
test_export_writes_uidlist(void **state)
{
	struct store_fx		*fx = *state;
	struct mailbox		*mb;
	const char		*err;
	unsigned		 kept;
	char			*list, expect[256];
	uint32_t		 third;
	const struct msg_info	*mi;
	size_t			 n;

	dovecot_inbox(fx);
	assert_int_equal(store_dovecot_import(fx->maildir, &kept, &err), 0);
	mb = fx_open(fx, "INBOX", 0);		/* gives 300.M3P1.h its U= */
	assert_int_equal(mailbox_messages(mb, &mi, &n, &err), 0);
	third = mi[2].uid;
	mailbox_close(&mb);
	put(fx, "dovecot.index", "stale");

	assert_int_equal(store_dovecot_export(fx->maildir, &kept, &err), 0);
	assert_int_equal(kept, 3);
	assert_false(exists(fx, "dovecot.index"));
	list = get(fx, "dovecot-uidlist");
	assert_non_null(list);
	/* N is the reserved high-water mark: above every UID given out. */
	assert_int_equal(strncmp(list, "3 V4242 N", 9), 0);
	assert_true(strtoul(list + 9, NULL, 10) > third);
	snprintf(expect, sizeof(expect), "5 :100.M1P1.h,S=17,W=20,U=5\n"
	    "7 :200.M2P1.h,S=17,W=20,U=7\n%u :300.M3P1.h,S=17,W=20,U=%u\n", third, third);
	assert_string_equal(strchr(list, '\n') + 1, expect);
	free(list);
}

static void
test_bad_uidlist_refused(void **state)
{
	struct store_fx	*fx = *state;
	const char	*err;
	unsigned	 kept;

	unlink(fx_path(fx, ".Sent/postroom-uidvalidity"));
	put(fx, ".Sent/dovecot-uidlist", "1 4242 9\n5 100.M1P1.h\n");
	assert_int_equal(store_dovecot_import(fx->maildir, &kept, &err), -1);
	assert_non_null(strstr(err, ".Sent/dovecot-uidlist:1: not a version 3"));

	put(fx, ".Sent/dovecot-uidlist", "3 V4242 N9\n5 100.M1P1.h\n");
	assert_int_equal(store_dovecot_import(fx->maildir, &kept, &err), -1);
	assert_non_null(strstr(err, ".Sent/dovecot-uidlist:2: not \"<uid>"));
}

static void
test_subscriptions_v2(void **state)
{
	struct store_fx	*fx = *state;
	const char	*err;
	unsigned	 kept;
	char		*subs;

	put(fx, "subscriptions", "V\t2\n\nWork\tProjects\nSent\n");
	assert_int_equal(store_dovecot_import(fx->maildir, &kept, &err), 0);
	subs = get(fx, "subscriptions");
	assert_string_equal(subs, "Work.Projects\nSent\n");
	free(subs);
	/* Ours already: left as it is. */
	assert_int_equal(store_dovecot_import(fx->maildir, &kept, &err), 0);
	subs = get(fx, "subscriptions");
	assert_string_equal(subs, "Work.Projects\nSent\n");
	free(subs);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		STORE_FX_TEST(test_import_keeps_uids),
		STORE_FX_TEST(test_import_resumes),
		STORE_FX_TEST(test_export_writes_uidlist),
		STORE_FX_TEST(test_bad_uidlist_refused),
		STORE_FX_TEST(test_subscriptions_v2),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
