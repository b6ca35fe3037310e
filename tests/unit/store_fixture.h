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
/*
 * cmocka setup and teardown: a store_fx for user alice in *state, named after
 * the test program, with fsync off (store_fx_setup) or on (_fsync).
 */
int		 store_fx_setup(void **state);
int		 store_fx_setup_fsync(void **state);
int		 store_fx_teardown(void **state);
#define STORE_FX_TEST(t)	cmocka_unit_test_setup_teardown(t, store_fx_setup, store_fx_teardown)
#define STORE_FX_TEST_FSYNC(t) \
	cmocka_unit_test_setup_teardown(t, store_fx_setup_fsync, store_fx_teardown)
/* fx->maildir/rel, in a static buffer that the next call reuses. */
const char	*fx_path(const struct store_fx *fx, const char *rel);
/* Deliver fx_message(1) .. fx_message(n) to fx's Maildir; the test fails otherwise. */
void		 fx_deliver_n(struct store_fx *fx, unsigned n);
/* Open folder of fx's Maildir; the test fails otherwise. */
struct mailbox	*fx_open(struct store_fx *fx, const char *folder, unsigned flags);
/* Deliver text (LF line ends) to one Maildir; 0 or -1. */
int		 fx_deliver(struct store *st, const char *maildir, const char *text);
/* A small message with a distinguishing subject. */
char		*fx_message(unsigned n);
/* Remove maildir's index (postroom-index/): the next open rebuilds it from the Maildir. */
void		 fx_index_delete(const char *maildir);
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
