/* Helpers for the store tests: see store_fixture.h. */
#include "tests/unit/store_fixture.h"
#include "lib/xmalloc.h"

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
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

char *
fx_tmpdir(const char *tag)
{
	const char	*base = getenv("TMPDIR");
	char		*path;

	path = xasprintf("%s/postroom-%s-XXXXXX", base != NULL ? base : "/tmp", tag);
	if (mkdtemp(path) == NULL)
		abort();
	return path;
}

static void
rmtree_at(int at, const char *name)
{
	struct dirent	*de;
	DIR		*dir;
	int		 fd;

	if ((fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW)) == -1) {
		unlinkat(at, name, 0);
		return;
	}
	if ((dir = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	while ((de = readdir(dir)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (unlinkat(fd, de->d_name, 0) == -1)
			rmtree_at(fd, de->d_name);
	}
	closedir(dir);
	unlinkat(at, name, AT_REMOVEDIR);
}

void
fx_rmtree(const char *path)
{
	rmtree_at(AT_FDCWD, path);
}

struct store *
fx_store(const char *root, int fsync_on)
{
	struct store_options	 opts = { (unsigned)fsync_on };
	const char		*error;
	struct store		*st;

	if ((st = store_open(root, &opts, &error)) == NULL) {
		fprintf(stderr, "store_open: %s\n", error);
		abort();
	}
	return st;
}

char *
fx_user(struct store *st, const char *root, const char *local)
{
	const char	*error;
	char		*maildir;

	maildir = xasprintf("%s/example.com/%s/Maildir", root, local);
	if (store_create_user(st, maildir, &error) == -1) {
		fprintf(stderr, "store_create_user: %s\n", error);
		abort();
	}
	return maildir;
}

int
fx_deliver(struct store *st, const char *maildir, const char *text)
{
	struct store_rcpt	 r = { maildir, 0, 0 };
	struct store_delivery	*d;
	const char		*error;
	int			 rc;

	if ((d = store_delivery_begin(st, &r, 1, &error)) == NULL)
		return -1;
	rc = store_delivery_write(d, text, strlen(text));
	if (rc == 0)
		rc = store_delivery_commit(d, &error);
	store_delivery_free(&d);
	return rc;
}

char *
fx_message(unsigned n)
{
	return xasprintf("From: Alice <alice@example.com>\n"
	    "To: bob@example.com\n"
	    "Subject: message %u\n"
	    "Date: Sat, 28 Nov 2026 01:00:00 +0000\n"
	    "Message-ID: <%u@example.com>\n"
	    "\n"
	    "Body of message %u.\n", n, n, n);
}

void
fx_index_delete(const char *maildir)
{
	char	*path = xasprintf("%s/postroom-index", maildir);

	fx_rmtree(path);
	free(path);
}

size_t
fx_count(const char *path)
{
	struct dirent	*de;
	DIR		*dir;
	size_t		 n = 0;

	if ((dir = opendir(path)) == NULL)
		return 0;
	while ((de = readdir(dir)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(dir);
	return n;
}

/* The letters after ":2," for flags, as the store writes them. */
static void
flag_letters(uint32_t flags, char *out)
{
	if (flags & MSG_DRAFT)
		*out++ = 'D';
	if (flags & MSG_FLAGGED)
		*out++ = 'F';
	if (flags & MSG_ANSWERED)
		*out++ = 'R';
	if (flags & MSG_SEEN)
		*out++ = 'S';
	if (flags & MSG_DELETED)
		*out++ = 'T';
	*out = '\0';
}

int
fx_consistent(struct store *st, const char *maildir, const char *folder, const char **why)
{
	static char		 msg[4200];
	const struct msg_info	*mi;
	struct mailbox		*mb;
	struct dirent		*de;
	const char		*error, *p;
	char			 path[4096], want[64];
	size_t			 n, i, files = 0, matched = 0;
	DIR			*dir;
	int			 rc = -1;

	*why = msg;
	if (mailbox_open(st, maildir, folder, 0, &mb, &error) == -1) {
		snprintf(msg, sizeof(msg), "open: %s", error);
		return -1;
	}
	if (mailbox_messages(mb, &mi, &n, &error) == -1) {
		snprintf(msg, sizeof(msg), "messages: %s", error);
		goto out;
	}
	snprintf(path, sizeof(path), "%s%s%s/cur", maildir,
	    strcmp(folder, "INBOX") == 0 ? "" : "/.", strcmp(folder, "INBOX") == 0 ? "" : folder);
	if ((dir = opendir(path)) == NULL) {
		snprintf(msg, sizeof(msg), "opendir %s", path);
		goto out;
	}
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		files++;
		for (i = 0; i < n; i++) {
			snprintf(want, sizeof(want), ",U=%u:2,", mi[i].uid);
			if ((p = strstr(de->d_name, want)) == NULL)
				continue;
			flag_letters(mi[i].flags & ~MSG_RECENT, want);
			if (strncmp(p + strcspn(p, ":") + 3, want, strlen(want)) != 0) {
				snprintf(msg, sizeof(msg), "uid %u: flags differ: %s", mi[i].uid,
				    de->d_name);
				closedir(dir);
				goto out;
			}
			matched++;
			break;
		}
	}
	closedir(dir);
	for (i = 1; i < n; i++) {
		if (mi[i].uid <= mi[i - 1].uid) {
			snprintf(msg, sizeof(msg), "UIDs not increasing at %zu", i);
			goto out;
		}
	}
	if (files != n || matched != n) {
		snprintf(msg, sizeof(msg), "%zu files in cur/, %zu in index, %zu matched", files, n,
		    matched);
		goto out;
	}
	rc = 0;
out:
	mailbox_close(&mb);
	return rc;
}

struct store_fx *
store_fx_new(const char *tag, int fsync_on, const char *local)
{
	struct store_fx	*fx = xcalloc(1, sizeof(*fx));

	fx->root = fx_tmpdir(tag);
	fx->st = fx_store(fx->root, fsync_on);
	fx->maildir = fx_user(fx->st, fx->root, local);
	return fx;
}

void
store_fx_free(struct store_fx **fxp)
{
	struct store_fx	*fx = *fxp;

	if (fx == NULL)
		return;
	*fxp = NULL;
	store_close(&fx->st);
	fx_rmtree(fx->root);
	free(fx->root);
	free(fx->maildir);
	free(fx);
}

int
store_fx_setup(void **state)
{
	*state = store_fx_new(program_invocation_short_name, 0, "alice");
	return 0;
}

int
store_fx_setup_fsync(void **state)
{
	*state = store_fx_new(program_invocation_short_name, 1, "alice");
	return 0;
}

int
store_fx_teardown(void **state)
{
	store_fx_free((struct store_fx **)state);
	return 0;
}

const char *
fx_path(const struct store_fx *fx, const char *rel)
{
	static char	 path[4096];

	snprintf(path, sizeof(path), "%s/%s", fx->maildir, rel);
	return path;
}

void
fx_deliver_n(struct store_fx *fx, unsigned n)
{
	unsigned	 i;
	char		*m;

	for (i = 0; i < n; i++) {
		m = fx_message(i + 1);
		assert_int_equal(fx_deliver(fx->st, fx->maildir, m), 0);
		free(m);
	}
}

struct mailbox *
fx_open(struct store_fx *fx, const char *folder, unsigned flags)
{
	struct mailbox	*mb;
	const char	*error = NULL;

	if (mailbox_open(fx->st, fx->maildir, folder, flags, &mb, &error) == -1)
		fail_msg("mailbox_open %s: %s", folder, error);
	return mb;
}

const struct msg_fetch *
fx_fetch(struct mailbox *mb, uint32_t uid)
{
	const struct msg_fetch	*mf;
	const char		*error = "not in the index";
	size_t			 n = 0;

	if (mailbox_fetch(mb, uid, uid, &mf, &n, &error) == -1 || n != 1 || mf->uid != uid) {
		fprintf(stderr, "fetch uid %u: %s\n", uid, error);
		abort();
	}
	return mf;
}
