/*
 * Helpers for the store tests (tests/unit/test_store*.c, test_commit.c):
 * throw-away mail roots, one-call delivery, and the consistency check
 * "the index says exactly what the Maildir says".
 */
#ifndef TESTS_STORE_FIXTURE_H
#define TESTS_STORE_FIXTURE_H

#include "store/store.h"

#include <stddef.h>

/* mkdtemp under $TMPDIR (or /tmp); malloc'd path. */
char		*fx_tmpdir(const char *tag);
void		 fx_rmtree(const char *path);
/* A store over root (fsync as given) and a fresh user's Maildir below it. */
struct store	*fx_store(const char *root, int fsync_on);
char		*fx_user(struct store *st, const char *root, const char *local);
/* A throw-away mail root with a store and one user's Maildir (setup/teardown). */
struct store_fx {
	char		*root;
	struct store	*st;
	char		*maildir;
};
struct store_fx	*store_fx_new(const char *tag, int fsync_on, const char *local);
void		 store_fx_free(struct store_fx **fx);
/* Deliver text (LF line ends) to one Maildir; 0 or -1. */
int		 fx_deliver(struct store *st, const char *maildir, const char *text);
/* A small message with a distinguishing subject. */
char		*fx_message(unsigned n);
/* Files (not dot files) in dir. */
size_t		 fx_count(const char *dir);
/*
 * The index of folder matches its Maildir: every message's file exists in
 * cur/ with the UID in its name and the same flags, no file is left out,
 * UIDs strictly increase.  0, or -1 with why (static).
 */
int		 fx_consistent(struct store *st, const char *maildir, const char *folder,
		    const char **why);

/* Keywords and cached strings of uid (mailbox_fetch of one UID); aborts if absent. */
const struct msg_fetch *fx_fetch(struct mailbox *mb, uint32_t uid);

#endif
