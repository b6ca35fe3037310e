/*
 * Index format changes: an index written before MODSEQ creation stamps and
 * tombstones (message record layout 0, 56-byte folder records, no
 * vanished.db, no cache.db) is read in place, MODSEQs kept, and a record
 * changed moves its strings to cache.db; an index rebuilt from the
 * Maildir restarts MODSEQs above the old ones; a record whose strings are
 * empty (not parsed yet) is parsed when FETCH asks; a 72-byte folder record
 * (before new/'s state was kept) reads as "scan new/", and a POP3 sync then
 * indexes new mail in new/ as on a new index; a longer folder record (a
 * later release's) is refused and left alone.  The test writes these
 * records itself, with Berkeley DB.
 */
#include "store/store.h"
#include "tests/unit/store_fixture.h"
#include "lib/xmalloc.h"

#include <db.h>
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

/*
 * The old layouts: the message header ended before `created`, without a
 * layout number (0); the strings followed the name (0 and 1); layout 2 keeps
 * them in cache.db (a header of three lengths, then the strings).
 */
#define REC0_HEADER	64
#define REC1_HEADER	72
#define CACHE_HEADER	12
#define REC_LAYOUT_AT	12
#define REC_LEN_AT	48	/* uint32_t len[4]: name, envelope, body, bodystructure */
#define FOLDER0_SIZE	56
#define FOLDER1_SIZE	72	/* with the tombstone fields */
#define FOLDER2_SIZE	88	/* with new/'s mtime */
#define FOLDER_LATER	8	/* what a later release might add */

/* Rewrite every record of file with fn (which returns the new size, 0: keep). */
static void
rewrite(DB_ENV *env, const char *file, size_t (*fn)(const DBT *, unsigned char *))
{
	unsigned char	 out[65536];
	DB_TXN		*txn;
	DBC		*c;
	DB		*db;
	DBT		 key, val, nv;
	size_t		 size;
	int		 ret;

	assert_int_equal(db_create(&db, env, 0), 0);
	assert_int_equal(db->open(db, NULL, file, NULL, DB_BTREE, DB_AUTO_COMMIT, 0600), 0);
	assert_int_equal(env->txn_begin(env, NULL, &txn, 0), 0);
	assert_int_equal(db->cursor(db, txn, &c, 0), 0);
	memset(&key, 0, sizeof(key));
	memset(&val, 0, sizeof(val));
	while ((ret = c->get(c, &key, &val, DB_NEXT)) == 0) {
		if ((size = fn(&val, out)) == 0)
			continue;
		memset(&nv, 0, sizeof(nv));
		nv.data = out;
		nv.size = (u_int32_t)size;
		assert_int_equal(c->put(c, &key, &nv, DB_CURRENT), 0);
	}
	assert_int_equal(ret, DB_NOTFOUND);
	c->close(c);
	assert_int_equal(txn->commit(txn, 0), 0);
	db->close(db, 0);
}

static size_t
msg_to_layout0(const DBT *val, unsigned char *out)
{
	assert_true(val->size > REC1_HEADER && val->size - REC1_HEADER + REC0_HEADER <= 65536);
	assert_int_equal(((unsigned char *)val->data)[REC_LAYOUT_AT], 1);
	memcpy(out, val->data, REC0_HEADER);
	memset(out + REC_LAYOUT_AT, 0, 4);
	memcpy(out + REC0_HEADER, (char *)val->data + REC1_HEADER, val->size - REC1_HEADER);
	return val->size - REC1_HEADER + REC0_HEADER;
}

static size_t
folder_to_old(const DBT *val, unsigned char *out)
{
	if (val->size != FOLDER1_SIZE && val->size != FOLDER2_SIZE)
		return 0;		/* the next-id and lock records */
	memcpy(out, val->data, FOLDER0_SIZE);
	return FOLDER0_SIZE;
}

/* The folder record as the release before new/'s state wrote it (spare 0). */
static size_t
folder_to_72(const DBT *val, unsigned char *out)
{
	if (val->size != FOLDER2_SIZE)
		return 0;
	memcpy(out, val->data, FOLDER1_SIZE);
	memset(out + FOLDER1_SIZE - 4, 0, 4);
	return FOLDER1_SIZE;
}

/* The folder record as a later release might write it: longer. */
static size_t
folder_to_later(const DBT *val, unsigned char *out)
{
	if (val->size != FOLDER2_SIZE)
		return 0;
	memcpy(out, val->data, FOLDER2_SIZE);
	memset(out + FOLDER2_SIZE, 0xa5, FOLDER_LATER);
	return FOLDER2_SIZE + FOLDER_LATER;
}

/* ... and back, as that release's own downgrade would leave it. */
static size_t
folder_from_later(const DBT *val, unsigned char *out)
{
	if (val->size != FOLDER2_SIZE + FOLDER_LATER)
		return 0;
	memcpy(out, val->data, FOLDER2_SIZE);
	return FOLDER2_SIZE;
}

static DB_ENV *
index_open(const char *maildir)
{
	DB_ENV	*env;
	char	 dir[4096];

	snprintf(dir, sizeof(dir), "%s/postroom-index", maildir);
	assert_int_equal(db_env_create(&env, 0), 0);
	assert_int_equal(env->open(env, dir, DB_CREATE | DB_INIT_LOCK | DB_INIT_LOG |
	    DB_INIT_MPOOL | DB_INIT_TXN | DB_REGISTER | DB_RECOVER, 0600), 0);
	return env;
}

static void
index_close(DB_ENV *env)
{
	env->txn_checkpoint(env, 0, 0, 0);
	assert_int_equal(env->close(env, 0), 0);
}

/* Open one of the index's files in env. */
static DB *
db_open(DB_ENV *env, const char *file)
{
	DB	*db;

	assert_int_equal(db_create(&db, env, 0), 0);
	assert_int_equal(db->open(db, NULL, file, NULL, DB_BTREE, DB_AUTO_COMMIT | DB_CREATE, 0600), 0);
	return db;
}

/* The strings of a layout-2 record (its key) from cache.db into out; their size. */
static size_t
cached_strings(DB *cache, DB_TXN *txn, const DBT *key, uint32_t len[3], unsigned char *out)
{
	DBT	 k = *key, cv;

	memset(&cv, 0, sizeof(cv));
	if (cache->get(cache, txn, &k, &cv, 0) != 0) {
		memset(out, 0, 3);
		len[0] = len[1] = len[2] = 1;
		return 3;
	}
	assert_true(cv.size > CACHE_HEADER && cv.size <= 32768);
	memcpy(len, cv.data, CACHE_HEADER);
	memcpy(out, (char *)cv.data + CACHE_HEADER, cv.size - CACHE_HEADER);
	return cv.size - CACHE_HEADER;
}

/* Layout 2 -> 1: every record's strings back after its name; cache.db removed. */
static void
strings_inline(DB_ENV *env)
{
	unsigned char	 out[65536];
	uint32_t	 len[4];
	DB_TXN		*txn;
	DBC		*c;
	DB		*msgs = db_open(env, "msgs.db"), *cache = db_open(env, "cache.db");
	DBT		 key, val, nv;
	size_t		 size;
	int		 ret;

	assert_int_equal(env->txn_begin(env, NULL, &txn, 0), 0);
	assert_int_equal(msgs->cursor(msgs, txn, &c, 0), 0);
	memset(&key, 0, sizeof(key));
	memset(&val, 0, sizeof(val));
	while ((ret = c->get(c, &key, &val, DB_NEXT)) == 0) {
		if (key.size != 8)
			continue;	/* the user lock */
		assert_int_equal(((unsigned char *)val.data)[REC_LAYOUT_AT], 2);
		memcpy(len, (char *)val.data + REC_LEN_AT, sizeof(len));
		assert_true(REC1_HEADER + len[0] <= val.size && val.size <= 32768);
		memcpy(out, val.data, REC1_HEADER + len[0]);
		out[REC_LAYOUT_AT] = 1;
		size = REC1_HEADER + len[0];
		size += cached_strings(cache, txn, &key, len + 1, out + size);
		memcpy(out + REC_LEN_AT, len, sizeof(len));
		memset(&nv, 0, sizeof(nv));
		nv.data = out;
		nv.size = (u_int32_t)size;
		assert_int_equal(c->put(c, &key, &nv, DB_CURRENT), 0);
	}
	assert_int_equal(ret, DB_NOTFOUND);
	c->close(c);
	assert_int_equal(txn->commit(txn, 0), 0);
	cache->close(cache, 0);
	msgs->close(msgs, 0);
	assert_int_equal(env->dbremove(env, NULL, "cache.db", NULL, DB_AUTO_COMMIT), 0);
}

/*
 * Make the (closed) index look like one the release before MODSEQ stamps
 * wrote: message layout 0 (strings inline), 56-byte folder records, no
 * vanished.db, no cache.db.
 */
static void
downgrade(const char *maildir)
{
	DB_ENV	*env = index_open(maildir);

	strings_inline(env);
	rewrite(env, "msgs.db", msg_to_layout0);
	rewrite(env, "folders.db", folder_to_old);
	assert_int_equal(env->dbremove(env, NULL, "vanished.db", NULL, DB_AUTO_COMMIT), 0);
	index_close(env);
}

/* Every record as a first sync that does not parse MIME leaves it: no strings. */
static void
blank_strings(const char *maildir)
{
	DB_ENV	*env = index_open(maildir);

	assert_int_equal(env->dbremove(env, NULL, "cache.db", NULL, DB_AUTO_COMMIT), 0);
	index_close(env);
}

/* Records of the (closed) index whose envelope is empty. */
static unsigned
count_unparsed(const char *maildir)
{
	unsigned char	 out[32768];
	uint32_t	 len[3];
	DB_ENV		*env = index_open(maildir);
	DB_TXN		*txn;
	DBC		*c;
	DB		*msgs = db_open(env, "msgs.db"), *cache = db_open(env, "cache.db");
	DBT		 key, val;
	unsigned	 unparsed = 0;

	assert_int_equal(env->txn_begin(env, NULL, &txn, 0), 0);
	assert_int_equal(msgs->cursor(msgs, txn, &c, 0), 0);
	memset(&key, 0, sizeof(key));
	memset(&val, 0, sizeof(val));
	while (c->get(c, &key, &val, DB_NEXT) == 0) {
		if (key.size != 8)
			continue;
		assert_int_equal(((unsigned char *)val.data)[REC_LAYOUT_AT], 2);
		cached_strings(cache, txn, &key, len, out);
		unparsed += len[0] == 1;
	}
	c->close(c);
	assert_int_equal(txn->commit(txn, 0), 0);
	cache->close(cache, 0);
	msgs->close(msgs, 0);
	index_close(env);
	return unparsed;
}

/* The name in cur/ of the file with UID uid (static). */
static const char *
cur_name(const char *maildir, uint32_t uid)
{
	static char	 name[512];
	struct dirent	*de;
	char		 path[4096], want[32];
	DIR		*dir;

	snprintf(path, sizeof(path), "%s/cur", maildir);
	snprintf(want, sizeof(want), ",U=%u:", uid);
	assert_non_null(dir = opendir(path));
	name[0] = '\0';
	while ((de = readdir(dir)) != NULL)
		if (strstr(de->d_name, want) != NULL)
			snprintf(name, sizeof(name), "%s", de->d_name);
	closedir(dir);
	assert_true(name[0] != '\0');
	return name;
}

struct before {
	uint64_t	 hms, modseq[3];
	uint32_t	 uidvalidity;
	char		*envelope[3];
};

static void
remember(struct mailbox *mb, struct before *b)
{
	const struct msg_info	*mi;
	struct mailbox_status	 s;
	const char		*error;
	size_t			 n, i;

	assert_int_equal(mailbox_status(mb, &s), 0);
	b->hms = s.highestmodseq;
	b->uidvalidity = s.uidvalidity;
	assert_int_equal(mailbox_messages(mb, &mi, &n, &error), 0);
	assert_int_equal(n, 3);
	for (i = 0; i < 3; i++) {
		b->modseq[i] = mi[i].modseq;
		b->envelope[i] = xstrdup(fx_fetch(mb, mi[i].uid)->envelope);
	}
}

static void
test_old_index_read_in_place(void **state)
{
	struct store_fx		*fx = *state;
	const struct msg_info	*mi;
	struct mailbox_changes	 ch;
	struct mailbox_status	 s;
	struct before		 b;
	struct mailbox		*mb;
	const char		*error;
	uint32_t		 one = 1, three = 3;
	size_t			 n, i;
	char			*m;

	for (i = 0; i < 3; i++) {
		m = fx_message((unsigned)i + 1);
		assert_int_equal(fx_deliver(fx->st, fx->maildir, m), 0);
		free(m);
	}
	mb = fx_open(fx, "INBOX", 0);
	assert_int_equal(mailbox_store_flags(mb, &three, 1, FLAGS_ADD, MSG_SEEN, NULL, &error), 0);
	remember(mb, &b);
	mailbox_close(&mb);		/* the last handle closes the environment */
	downgrade(fx->maildir);

	mb = fx_open(fx, "INBOX", 0);
	assert_int_equal(mailbox_status(mb, &s), 0);
	assert_int_equal(s.highestmodseq, b.hms);
	assert_int_equal(s.uidvalidity, b.uidvalidity);
	assert_int_equal(mailbox_messages(mb, &mi, &n, &error), 0);
	assert_int_equal(n, 3);
	for (i = 0; i < 3; i++) {
		assert_int_equal(mi[i].modseq, b.modseq[i]);
		assert_string_equal(fx_fetch(mb, mi[i].uid)->envelope, b.envelope[i]);
	}
	/* expunges before the upgrade left no tombstones: older MODSEQs resync */
	assert_int_equal(mailbox_changes_since(mb, b.hms - 1, &ch, &error), 0);
	assert_false(ch.complete);
	mailbox_changes_free(&ch);
	/* an old record changed is "changed", not "added"; new tombstones are kept */
	assert_int_equal(mailbox_store_flags(mb, &one, 1, FLAGS_ADD, MSG_FLAGGED, NULL, &error), 0);
	/* rewritten as layout 2: its strings moved to cache.db, not lost */
	assert_string_equal(fx_fetch(mb, 1)->envelope, b.envelope[0]);
	for (i = 0; i < 3; i++)
		free(b.envelope[i]);
	assert_int_equal(mailbox_expunge(mb, &three, 1, &error), 0);
	assert_int_equal(mailbox_changes_since(mb, b.hms, &ch, &error), 0);
	assert_true(ch.complete);
	assert_int_equal(ch.added.n, 0);
	assert_int_equal(ch.changed.n, 1);
	assert_int_equal(ch.changed.uids[0], 1);
	assert_int_equal(ch.expunged.n, 1);
	assert_int_equal(ch.expunged.uids[0], 3);
	mailbox_changes_free(&ch);
	mailbox_close(&mb);
	assert_int_equal(fx_consistent(fx->st, fx->maildir, "INBOX", &error), 0);
}

static void
test_rebuilt_index_restarts_modseqs_above(void **state)
{
	struct store_fx		*fx = *state;
	struct mailbox_changes	 ch;
	struct mailbox_status	 s;
	struct before		 b;
	struct mailbox		*mb;
	const char		*error;
	char			*m;
	size_t			 i;

	for (i = 0; i < 3; i++) {
		m = fx_message((unsigned)i + 1);
		assert_int_equal(fx_deliver(fx->st, fx->maildir, m), 0);
		free(m);
	}
	mb = fx_open(fx, "INBOX", 0);
	remember(mb, &b);
	for (i = 0; i < 3; i++)
		free(b.envelope[i]);
	mailbox_close(&mb);
	fx_index_delete(fx->maildir);

	mb = fx_open(fx, "INBOX", 0);
	assert_int_equal(mailbox_status(mb, &s), 0);
	assert_int_equal(s.uidvalidity, b.uidvalidity);
	assert_true(s.highestmodseq > b.hms);
	/* a client holding a MODSEQ from before cannot be told what it missed */
	assert_int_equal(mailbox_changes_since(mb, b.hms, &ch, &error), 0);
	assert_false(ch.complete);
	mailbox_changes_free(&ch);
	assert_int_equal(mailbox_changes_since(mb, s.highestmodseq, &ch, &error), 0);
	assert_true(ch.complete);
	mailbox_changes_free(&ch);
	mailbox_close(&mb);
}

/* mailbox_fetch_keywords(): the keywords of a range in one read, nothing parsed. */
static void
test_fetch_keywords_parses_nothing(void **state)
{
	struct store_fx		*fx = *state;
	const struct msg_fetch	*mf;
	struct mailbox		*mb;
	const char		*error;
	uint32_t		 uid = 2;
	size_t			 n, i;
	char			*m;

	for (i = 0; i < 3; i++) {
		m = fx_message((unsigned)i + 1);
		assert_int_equal(fx_deliver(fx->st, fx->maildir, m), 0);
		free(m);
	}
	mb = fx_open(fx, "INBOX", 0);
	assert_int_equal(mailbox_store_flags(mb, &uid, 1, FLAGS_ADD, 0, "Work $Label1", &error), 0);
	mailbox_close(&mb);
	blank_strings(fx->maildir);

	mb = fx_open(fx, "INBOX", 0);
	assert_int_equal(mailbox_fetch_keywords(mb, 1, UINT32_MAX, &mf, &n, &error), 0);
	assert_int_equal(n, 3);
	assert_string_equal(mf[0].keywords, "");
	assert_int_equal(mf[1].uid, 2);
	assert_non_null(strstr(mf[1].keywords, "Work"));
	assert_non_null(strstr(mf[1].keywords, "$Label1"));
	assert_string_equal(mf[1].envelope, "");
	assert_string_equal(mf[2].bodystructure, "");
	mailbox_close(&mb);
	assert_int_equal(count_unparsed(fx->maildir), 3);	/* nothing parsed */
}

/*
 * Span after span (a SEARCH reads 64 messages at a time): each answer
 * replaces the last in the storage it had, small as it is, and is right.
 */
static void
test_fetch_spans_reuse_storage(void **state)
{
	struct store_fx		*fx = *state;
	const struct msg_fetch	*mf, *first;
	struct mailbox		*mb;
	const char		*error;
	size_t			 n;
	unsigned		 i;
	char			*m, want[32];

	for (i = 1; i <= 4; i++) {
		m = fx_message(i);
		assert_int_equal(fx_deliver(fx->st, fx->maildir, m), 0);
		free(m);
	}
	mb = fx_open(fx, "INBOX", 0);
	assert_int_equal(mailbox_fetch(mb, 1, 2, &first, &n, &error), 0);
	assert_int_equal(n, 2);
	for (i = 3; i <= 4; i++) {
		assert_int_equal(mailbox_fetch(mb, i, i, &mf, &n, &error), 0);
		assert_int_equal(n, 1);
		assert_ptr_equal(mf, first);
		assert_int_equal(mf[0].uid, i);
		snprintf(want, sizeof(want), "\"message %u\"", i);
		assert_non_null(strstr(mf[0].envelope, want));
	}
	mailbox_close(&mb);
}

/*
 * Records a first sync left unparsed (empty strings): the snapshot needs
 * none of it, mailbox_fetch() parses the files, answers and stores the
 * strings back; a file renamed meanwhile by another program is found
 * again, one removed meanwhile is left out of the answer.
 */
static void
test_unparsed_records_parsed_on_fetch(void **state)
{
	struct store_fx		*fx = *state;
	const struct msg_fetch	*mf;
	const struct msg_info	*mi;
	struct mailbox		*mb;
	const char		*error;
	char			 from[4096], to[4200], *m;
	size_t			 n, i;

	for (i = 0; i < 4; i++) {
		m = fx_message((unsigned)i + 1);
		assert_int_equal(fx_deliver(fx->st, fx->maildir, m), 0);
		free(m);
	}
	mb = fx_open(fx, "INBOX", 0);
	mailbox_close(&mb);
	blank_strings(fx->maildir);
	assert_int_equal(count_unparsed(fx->maildir), 4);

	mb = fx_open(fx, "INBOX", 0);
	assert_int_equal(mailbox_messages(mb, &mi, &n, &error), 0);
	assert_int_equal(n, 4);
	assert_true(mi[3].size > 0);
	snprintf(from, sizeof(from), "%s/cur/%s", fx->maildir, cur_name(fx->maildir, 3));
	snprintf(to, sizeof(to), "%sF", from);
	assert_int_equal(rename(from, to), 0);
	snprintf(from, sizeof(from), "%s/cur/%s", fx->maildir, cur_name(fx->maildir, 4));
	assert_int_equal(unlink(from), 0);
	assert_int_equal(mailbox_fetch(mb, 2, 4, &mf, &n, &error), 0);
	assert_int_equal(n, 2);
	assert_int_equal(mf[0].uid, 2);
	assert_int_equal(mf[1].uid, 3);
	assert_non_null(strstr(mf[0].envelope, "\"message 2\""));
	assert_non_null(strstr(mf[1].envelope, "\"message 3\""));
	assert_non_null(strstr(mf[1].bodystructure, "\"text\" \"plain\""));
	assert_true(mf[1].body[0] == '(');
	assert_string_equal(mf[1].keywords, "");
	assert_non_null(strstr(fx_fetch(mb, 1)->envelope, "\"message 1\""));
	mailbox_close(&mb);
	assert_int_equal(count_unparsed(fx->maildir), 0);	/* stored back */

	mb = fx_open(fx, "INBOX", 0);
	assert_non_null(strstr(fx_fetch(mb, 3)->envelope, "\"message 3\""));
	mailbox_close(&mb);
	assert_int_equal(fx_consistent(fx->st, fx->maildir, "INBOX", &error), 0);
}

/*
 * An index of the previous release (everything in cur/, 72-byte folder
 * records): a POP3 login scans new/, keeps new mail there with UIDs that
 * follow, and the next IMAP-like open moves it into cur/ as \Recent.
 */
static void
test_folder_record_72_upgrade(void **state)
{
	struct store_fx		*fx = *state;
	const struct msg_info	*mi;
	struct mailbox		*mb;
	const char		*error;
	DB_ENV			*env;
	size_t			 n, i;
	int			 round;

	fx_deliver_n(fx, 3);
	mb = fx_open(fx, "INBOX", 0);	/* into cur/, as the previous release did */
	mailbox_close(&mb);
	for (round = 0; round < 2; round++) {	/* the second: with a settled new/ */
		env = index_open(fx->maildir);
		rewrite(env, "folders.db", folder_to_72);
		index_close(env);
		fx_deliver_n(fx, 2);
		if (round == 1)
			usleep(2100 * 1000);
		mb = fx_open(fx, "INBOX", MAILBOX_POP3_LOCK);
		assert_int_equal(mailbox_messages(mb, &mi, &n, &error), 0);
		assert_int_equal(n, 5 + 2 * (size_t)round);
		for (i = 0; i < n; i++)
			assert_int_equal(mi[i].uid, i + 1);
		mailbox_close(&mb);
		assert_int_equal(fx_count(fx_path(fx, "new")), 2 + 2 * (size_t)round);
	}
	mb = fx_open(fx, "INBOX", 0);
	assert_int_equal(mailbox_messages(mb, &mi, &n, &error), 0);
	assert_int_equal(n, 7);
	for (i = 0; i < n; i++)
		assert_int_equal((mi[i].flags & MSG_RECENT) != 0, i >= 3);
	mailbox_close(&mb);
	assert_int_equal(fx_count(fx_path(fx, "new")), 0);
	assert_int_equal(fx_consistent(fx->st, fx->maildir, "INBOX", &error), 0);
}

/*
 * Downgrade: a folder record longer than this release knows (a later
 * release wrote it) is refused with a message saying so, for POP3 and the
 * others alike, and nothing moves: mail the index keeps in new/ and mail it
 * does not know yet stay there, and the record is not rewritten, so the
 * index reads as before once the record is one this release knows.
 */
static void
test_folder_record_of_later_release_refused(void **state)
{
	static const unsigned	 flags[] = { MAILBOX_POP3_LOCK, 0 };
	struct store_fx		*fx = *state;
	const struct msg_info	*mi;
	struct mailbox		*mb;
	const char		*error;
	DB_ENV			*env;
	size_t			 n, i;

	fx_deliver_n(fx, 3);
	mb = fx_open(fx, "INBOX", MAILBOX_POP3_LOCK);	/* indexed in new/ */
	mailbox_close(&mb);
	fx_deliver_n(fx, 2);				/* not indexed */
	env = index_open(fx->maildir);
	rewrite(env, "folders.db", folder_to_later);
	index_close(env);
	for (i = 0; i < 2; i++) {
		error = NULL;
		assert_int_equal(mailbox_open(fx->st, fx->maildir, "INBOX", flags[i], &mb,
		    &error), -1);
		assert_int_equal(store_error_code(), STORE_ERR_TEMPORARY);
		assert_non_null(error);
		assert_non_null(strstr(error, "is from a later release"));
		assert_null(mb);
	}
	assert_int_equal(fx_count(fx_path(fx, "new")), 5);
	assert_int_equal(fx_count(fx_path(fx, "cur")), 0);
	env = index_open(fx->maildir);
	rewrite(env, "folders.db", folder_from_later);
	index_close(env);
	mb = fx_open(fx, "INBOX", MAILBOX_POP3_LOCK);
	assert_int_equal(mailbox_messages(mb, &mi, &n, &error), 0);
	assert_int_equal(n, 5);
	for (i = 0; i < n; i++)
		assert_int_equal(mi[i].uid, i + 1);
	mailbox_close(&mb);
	assert_int_equal(fx_consistent(fx->st, fx->maildir, "INBOX", &error), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		STORE_FX_TEST(test_old_index_read_in_place),
		STORE_FX_TEST(test_fetch_keywords_parses_nothing),
		STORE_FX_TEST(test_fetch_spans_reuse_storage),
		STORE_FX_TEST(test_unparsed_records_parsed_on_fetch),
		STORE_FX_TEST(test_rebuilt_index_restarts_modseqs_above),
		STORE_FX_TEST(test_folder_record_72_upgrade),
		STORE_FX_TEST(test_folder_record_of_later_release_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
