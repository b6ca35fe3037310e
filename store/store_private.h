/*
 * Inside of the store, shared by its files
 * (store.c, index.c, mailbox*.c, maildir_*.c, folder.c, quota.c).  Nothing
 * outside store/ includes this.
 */
#ifndef STORE_STORE_PRIVATE_H
#define STORE_STORE_PRIVATE_H

#include "store/store.h"
#include "lib/buf.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct store {
	char			*mail_root;
	struct store_options	 opts;
};

/* ---- errors (store.c) ---- */

/*
 * Set the thread's error text and code (store_error_code()); returns -1.
 * Not named store_fail as before (bool temporary): a true or false from an
 * unconverted call would silently become an enum value; this way it does
 * not compile.
 */
int		 store_err(const char **error_r, enum store_error code, const char *fmt, ...)
		    __attribute__((format(printf, 3, 4)));
/* The code for the errno of a failed file operation. */
enum store_error store_errno_code(int err);
/* Fault injection for the crash tests: lib/crash.h's crash_point(). */
void		 store_crash_point(const char *point);
/*
 * The same for retries: true the first time in this process that this
 * point is reached with POSTROOM_RETRY_AT naming it; the caller then
 * fails as on a deadlock (IDX_RETRY), so the retry path can be tested.
 */
bool		 store_retry_point(const char *point);

/* ---- the streamed temp file (store.c): delivery's, reused by APPEND ---- */

struct commit_txn;
/*
 * Flush, set the mtime (0: leave it), fsync and close d's file in tmp/:
 * durable there, visible nowhere.  A second call does nothing.
 */
int		 delivery_sync(struct store_delivery *d, time_t mtime, const char **error_r);
const char	*delivery_tmp_name(const struct store_delivery *d);
/*
 * Rename d's synced file to dstdir/name (dstdir noted in t); from then d
 * no longer removes it.  A failed rename removes the tmp/ file.
 */
int		 delivery_publish(struct store_delivery *d, struct commit_txn *t, int dstdir,
		    const char *name, const char **error_r);

/* ---- Maildir names (maildir_name.c) ---- */

#define MAILDIR_NAME_MAX	255
/* One folder name per line, '.' between levels, in the Maildir (folder.c) */
#define SUBSCRIPTIONS		"subscriptions"
/* Far above any real list; a bigger file is refused, never cut and rewritten. */
#define SUBSCRIPTIONS_MAX	(4 * 1024 * 1024)
#define SUBSCRIPTION_LINE_MAX	1024
/* "<uidvalidity> <uid high-water>" per folder (maildir_sync.c) */
#define MAILDIR_UID_FILE	"postroom-uidvalidity"
#define MAILDIR_KEYWORDS_MAX	STORE_KEYWORDS_MAX	/* a..z, as in dovecot-keywords */

struct maildir_name {
	char		 base[MAILDIR_NAME_MAX + 1];	/* unique part, before ',' or ':' */
	uint64_t	 fsize;		/* S= (0: absent) */
	uint64_t	 vsize;		/* W= (0: absent) */
	uint32_t	 uid;		/* U= (0: absent) */
	uint32_t	 flags;		/* MSG_* from the :2, suffix */
	uint32_t	 kwmask;	/* bit i = keyword letter 'a' + i */
	bool		 has_info;	/* ":2," present */
};

int		 maildir_name_parse(const char *name, struct maildir_name *mn);
/* "<base>,S=<fsize>,W=<vsize>[,U=<uid>][:2,<flags>]"; -1 if it does not fit. */
int		 maildir_name_format(const struct maildir_name *mn, char *out, size_t outsize);
/*
 * The directory an indexed file is in: new/ for a name without an info
 * part (":2,"), which only a POP3 sync gives a record (it indexes new mail
 * where it lies, maildir_sync.c), else cur/, where every name we give
 * carries ":2,".  mb's descriptor for it.
 */
struct mailbox;
int		 maildir_name_dirfd(const struct mailbox *mb, const char *name);
/* Folder name -> directory below the Maildir ("" for INBOX, ".Sent"); -1 if invalid. */
int		 maildir_folder_dir(const char *folder, char *out, size_t outsize);
bool		 maildir_folder_is_inbox(const char *folder);

/* Folder keyword list (dovecot-keywords file: "<index> <name>" lines). */
struct maildir_keywords {
	char	*names[MAILDIR_KEYWORDS_MAX];
};
int		 maildir_keywords_load(int folderfd, struct maildir_keywords *kw, const char **error_r);
void		 maildir_keywords_clear(struct maildir_keywords *kw);
/*
 * Map a space-separated keyword list to a mask, adding unknown names to the
 * list (and the file, durably, through the commit path) when add is true.
 */
int		 maildir_keywords_mask(int folderfd, struct maildir_keywords *kw, const char *list,
		    bool add, uint32_t *mask_r, const char **error_r);
/* Space-separated names of mask (malloc'd, "" if none). */
char		*maildir_keywords_string(const struct maildir_keywords *kw, uint32_t mask);

/* ---- the index (index.c: the only file with <db.h>) ---- */

struct idx_env;
struct idx_txn;

struct idx_folder {
	uint32_t	 id;		/* key prefix of this folder's messages */
	uint32_t	 uidvalidity;
	uint32_t	 uidnext;
	uint32_t	 messages;
	uint32_t	 unseen;
	uint32_t	 uid_reserved;	/* UID high-water durable in the side file */
	uint64_t	 highestmodseq;
	uint64_t	 size;		/* sum of CRLF sizes */
	int64_t		 cur_mtime_ns;	/* cur/ mtime after our last change; 0: rescan */
	int64_t		 cur_scan_ns;	/* when the last full scan began (was spare, 0) */
	/* Tombstones at or below this MODSEQ were dropped (or never kept). */
	uint64_t	 vanished_floor;
	uint32_t	 tombstones;	/* kept in vanished.db */
	/*
	 * Files the last sync left indexed in new/ (a POP3 sync): a sync
	 * without a full scan still checks that they are there (was spare, 0).
	 */
	uint32_t	 new_kept;
	/*
	 * new/ mtime when a sync that left new/ as it found it began (a
	 * POP3 sync keeps its files there); 0: scan new/.  Absent (0) in a
	 * record written before.
	 */
	int64_t		 new_mtime_ns;
	int64_t		 new_scan_ns;	/* when that sync began */
};

struct idx_msg {
	uint32_t	 uid;
	uint32_t	 flags;
	uint32_t	 kwmask;
	uint64_t	 modseq;
	uint64_t	 created;	/* MODSEQ it was added with (0 on put: modseq) */
	uint64_t	 vsize;		/* RFC822.SIZE (CRLF) */
	uint64_t	 fsize;		/* bytes on disk (LF) */
	int64_t		 idate;
	const char	*name;		/* file name in cur/ */
	const char	*envelope;
	const char	*body;
	const char	*bodystructure;
	bool		 strings_apart;	/* read from a record whose strings are in cache.db */
};

/* Index errors: IDX_RETRY means "deadlock or recovery: abort and run again". */
#define IDX_RETRY	(-2)

int		 idx_env_get(const char *maildir, struct idx_env **env_r, const char **error_r);
void		 idx_env_put(struct idx_env **env);
/* True once the environment needs recovery: put it and get a fresh one. */
bool		 idx_env_stale(const struct idx_env *env);

/*
 * Between attempts after IDX_RETRY: back off (ms, with jitter); after a
 * second of it mark env stale (the caller reopens: recovery if a process
 * died holding the lock).  false once 30 s are spent: give up, temporary.
 */
struct idx_retry {
	unsigned	 n;
	int64_t		 start, reopened;
};
bool		 idx_retry_wait(struct idx_env *env, struct idx_retry *r);
/* Write transactions take the user's lock first (see index.c). */
int		 idx_begin(struct idx_env *env, bool read_only, struct idx_txn **txn_r,
		    const char **error_r);
int		 idx_commit(struct idx_txn **txn, const char **error_r);
void		 idx_abort(struct idx_txn **txn);

/* 0 found, 1 absent, -1/IDX_RETRY error.  lock: take the folder's write lock. */
int		 idx_folder_get(struct idx_txn *txn, const char *folder, bool lock,
		    struct idx_folder *f, const char **error_r);
/* Store; a new folder (id 0) gets a fresh id. */
int		 idx_folder_put(struct idx_txn *txn, const char *folder, struct idx_folder *f,
		    const char **error_r);
/* Remove the folder record and all its messages. */
int		 idx_folder_del(struct idx_txn *txn, const char *folder, const char **error_r);

/*
 * Write a record.  Its cached strings (envelope, body, bodystructure) are
 * written too, or, all three NULL, left as the index has them: a flag
 * change need not read them.
 */
int		 idx_msg_put(struct idx_txn *txn, uint32_t folder_id, const struct idx_msg *m,
		    const char **error_r);
/* Remove it and leave a tombstone at f's next MODSEQ (the caller then bumps it). */
int		 idx_msg_del(struct idx_txn *txn, struct idx_folder *f, uint32_t uid,
		    const char **error_r);
/*
 * 0 found (strings valid until the next idx call on txn), 1 absent.  The
 * cached strings are read only with_cache (else NULL).
 */
int		 idx_msg_get(struct idx_txn *txn, uint32_t folder_id, uint32_t uid,
		    bool with_cache, struct idx_msg *m, const char **error_r);

/*
 * A record as a sync compares it with the file it finds: 48 bytes where an
 * idx_msg is 104, a difference a sync of 10,000 messages holds 0.5 MB of.
 */
struct idx_listed {
	uint64_t	 vsize, fsize;
	int64_t		 idate;
	const char	*name;		/* in idx_msglist.names */
	uint32_t	 uid, flags, kwmask;
};

/* All messages of a folder in UID order: one array, the names in one buffer beside it. */
struct idx_msglist {
	struct idx_listed *msgs;
	struct buf	 names;
	size_t		 n, cap;
};
int		 idx_msg_list(struct idx_txn *txn, uint32_t folder_id, struct idx_msglist *l,
		    const char **error_r);
void		 idx_msglist_free(struct idx_msglist *l);

/*
 * Call fn on each message of a folder with a UID in first..last, in UID
 * order; m and its strings are valid during the call only, and without
 * with_cache only its header and name are read (the strings are NULL).
 * A non-zero return of fn ends the walk and is returned.
 */
typedef int	 idx_msg_fn(const struct idx_msg *m, void *ctx);
int		 idx_msg_walk(struct idx_txn *txn, uint32_t folder_id, uint32_t first,
		    uint32_t last, bool with_cache, idx_msg_fn *fn, void *ctx, const char **error_r);

/* UIDs with a MODSEQ above since: added since (created above it), or changed. */
int		 idx_msg_changes(struct idx_txn *txn, uint32_t folder_id, uint64_t since,
		    struct uid_list *added, struct uid_list *changed, const char **error_r);

/* ---- expunge tombstones (index_vanished.c) ---- */

int		 idx_vanished_add(struct idx_txn *txn, struct idx_folder *f, uint32_t uid,
		    const char **error_r);
/* UIDs expunged with a MODSEQ above since, oldest first. */
int		 idx_vanished_since(struct idx_txn *txn, uint32_t folder_id, uint64_t since,
		    struct uid_list *uids, const char **error_r);
/* Keep at most max: drop the oldest, raising f->vanished_floor.  The caller puts f. */
int		 idx_vanished_trim(struct idx_txn *txn, struct idx_folder *f, uint32_t max,
		    const char **error_r);
/* Append a UID (mailbox_changes.c). */
void		 uid_list_push(struct uid_list *l, uint32_t uid);

/* ---- mailboxes (maildir_sync.c, maildir_ops.c) ---- */

/* A session's snapshot (mailbox_read.c): the fixed part, the file names beside it. */
struct mailbox_snap {
	struct msg_info	*msgs;		/* UID order */
	uint32_t	*name_at;	/* msgs[i]'s file name at names + name_at[i] */
	struct buf	 names;		/* NUL-terminated names, one after the other */
	size_t		 names_read;	/* their bytes when read whole: patches add more */
	size_t		 n, cap;
};

/* The answer of the last mailbox_fetch(): its strings in one buffer. */
struct mailbox_fetched {
	struct msg_fetch *msgs;
	size_t		 n, cap;
	struct buf	 strings;
};

struct mailbox {
	struct store		*st;
	struct idx_env		*env;
	bool			 index_released;	/* mailbox_release_index(): keep it so */
	char			*maildir;
	char			*folder;	/* as the index knows it ("INBOX", "Sent") */
	int			 dirfd, tmpfd, newfd, curfd;	/* dirs' own */
	struct maildir_dirs	*dirs;		/* shared per folder (maildir_dirs.c) */
	unsigned		 flags;		/* MAILBOX_* */
	int			 lockfd;	/* POP3 lock, -1 */
	struct notify_sub	*notify;	/* mailbox_notify_fd(), NULL until asked for */
	uint32_t		 folder_id;
	uint32_t		 uidvalidity;
	struct maildir_keywords	 kw;
	const char		*kwlist[MAILDIR_KEYWORDS_MAX];	/* mailbox_keywords() */
	struct mailbox_snap	 snap;		/* mailbox_messages() */
	struct mailbox_fetched	 fetched;	/* mailbox_fetch() */
	uint32_t		*recent;	/* UIDs this handle moved out of new/ */
	size_t			 nrecent, recentcap;
};

/*
 * The UIDs of messages a POP3 sync indexed in new/ without renaming them
 * (maildir_newlist.c): the side file that keeps them across an index loss.
 */
struct newlist_ent {
	const char	*base;
	uint32_t	 uid;
};
struct newlist {
	char			*text;
	struct newlist_ent	*ents;	/* sorted by base */
	size_t			 n, cap;
};
/* The folder's list if it is of this UIDVALIDITY (else, or absent, empty). */
void		 newlist_load(int dirfd, uint32_t uidvalidity, struct newlist *nl);
/* The UID the list gives base, 0 if none. */
uint32_t	 newlist_uid(const struct newlist *nl, const char *base);
void		 newlist_free(struct newlist *nl);
/* Replace the folder's list with ents (durable when t commits). */
int		 newlist_store(struct commit_txn *t, int tmpfd, int dirfd, uint32_t uidvalidity,
		    const struct newlist_ent *ents, size_t n, const char **error_r);

/*
 * Run the Maildir scan with the folder locked in txn: new files get UIDs
 * and move to cur/, changed names update flags, vanished files leave the
 * index.  f is the folder record (absent: created, rebuilding the index
 * from the Maildir and the side file).  The caller commits.
 */
int		 maildir_sync_locked(struct mailbox *mb, struct idx_txn *txn, struct idx_folder *f,
		    bool exists, const char **error_r);
/* The same, with its own transaction and retries. */
int		 maildir_sync(struct mailbox *mb, bool force, const char **error_r);
/* Make sure the side file covers UIDs below uidnext (durable before use). */
int		 maildir_reserve_uids(struct mailbox *mb, struct idx_folder *f, uint32_t uidnext,
		    const char **error_r);
/*
 * The folder's side file covers what the index record f says (else the
 * next locked sync rewrites it from f).  A read of one small file.
 */
bool		 maildir_side_ok(struct mailbox *mb, const struct idx_folder *f);
/* Count a record in or out of the folder totals. */
void		 folder_account(struct idx_folder *f, const struct idx_msg *m, int sign);
/* cur/ mtime in ns (0 on error). */
int64_t		 maildir_dir_mtime(int dirfd);
/*
 * A directory as f records it (mtime, the value maildir_dir_mtime gives
 * now): MAILDIR_SETTLED for certain, MAILDIR_YOUNG if the mtime is too
 * close to the last scan to prove it, MAILDIR_CHANGED otherwise.
 */
enum maildir_cur { MAILDIR_CHANGED, MAILDIR_YOUNG, MAILDIR_SETTLED };
/* cur/ can be taken as the index has it, without a full scan. */
bool		 maildir_cur_trusted(const struct idx_folder *f, int64_t mtime);
/* new/: MAILDIR_SETTLED means it holds only what the index knows. */
enum maildir_cur maildir_new_state(const struct idx_folder *f, int64_t mtime);
/*
 * Parse a message file once for the index (sizes, date, cached strings):
 * APPEND's new message.  A sync for POP3 does not parse (maildir_sync.c).
 */
/* A record's date not read from its file yet (maildir_sync.c index_record). */
#define MAILDIR_IDATE_UNREAD	0
int		 maildir_record_check(int dirfd, const char *name, struct idx_msg *m,
		    const char **error_r);
int		 maildir_index_data(const char *data, size_t len, struct idx_msg *m, char **cache_r);
int		 maildir_index_file(int dirfd, const char *name, struct idx_msg *m, char **cache_r,
		    const char **error_r);

/*
 * Run fn in one index transaction holding the folder's write lock (the
 * folder synced first if the index does not know it).  On a deadlock the
 * transaction is retried; retry tells fn that an earlier attempt may have
 * changed the Maildir already (the folder was fully rescanned first).
 */
typedef int	 locked_fn(struct mailbox *mb, struct idx_txn *txn, struct idx_folder *f,
		    void *ctx, bool retry, const char **error_r);
int		 mailbox_locked(struct mailbox *mb, locked_fn *fn, void *ctx, const char **error_r);
/*
 * Open mb's index environment if it was released, reopen it if it needs
 * recovery: before each attempt at a transaction.
 */
int		 mailbox_env_refresh(struct mailbox *mb, const char **error_r);
/* A handle without sync or locks. */
int		 maildir_handle_open(struct store *st, const char *maildir, const char *folder,
		    struct mailbox **mb_r, const char **error_r);

/*
 * COPY (move false) or MOVE with UIDPLUS: the new UIDs in uids_r (may be
 * NULL) and the destination's UIDVALIDITY in *uidvalidity_r (may be NULL).
 */
int		 mailbox_copy_uids(struct mailbox *mb, const uint32_t *uids, size_t n,
		    const char *dest, bool move, uint32_t *uids_r, uint32_t *uidvalidity_r,
		    const char **error_r);

/* Free the snapshot and the last FETCH answer (mailbox_read.c). */
void		 mailbox_read_free(struct mailbox *mb);
/*
 * Drop mb's watches and close its notify descriptor (mailbox_notify.c);
 * the shared thread never touches mb once this returns.
 */
void		 mailbox_notify_close(struct mailbox *mb);

/*
 * mb's folder directories at path, shared by every handle on the folder
 * in this process (maildir_dirs.c): fills mb->dirfd, tmpfd, newfd, curfd.
 * Close gives them back (the last handle closes them); NULL-safe.
 */
int		 maildir_dirs_open(struct mailbox *mb, const char *path, const char **error_r);
void		 maildir_dirs_close(struct mailbox *mb);

/* The blocking half of store_append_commit (mailbox_append.c). */
int		 append_commit(struct store_append *a, const char **error_r);
/* After append_commit: the UIDs in message order (store_append_count of them). */
const uint32_t	*append_uids(const struct store_append *a, uint32_t *uidvalidity_r);

/* ---- folders (folder.c) ---- */

/* mkdir dir with tmp/ new/ cur/ (and maildirfolder if folder); noted in t for fsync. */
int		 maildir_make(struct commit_txn *t, const char *dir, bool folder, const char **error_r);
/* Replace maildir/name (subscriptions, maildirsize) through the durable path, via tmp/. */
int		 maildir_file_replace(const char *maildir, const char *name, const void *data,
		    size_t len, const char **error_r);

/* ---- quota (quota.c): Maildir++ maildirsize ---- */

/* -1 (temporary) if adding bytes/1 message would exceed the user's quota. */
int		 quota_check(const char *maildir, uint64_t quota_bytes, uint64_t quota_messages,
		    uint64_t add_bytes, uint64_t add_messages, const char **error_r);
/* The same for APPEND: the definition comes from the maildirsize file. */
int		 quota_check_maildir(const char *maildir, uint64_t add_bytes, const char **error_r);
/* Record a change (delivery, expunge) if the user has a maildirsize file. */
void		 quota_note(const char *maildir, int64_t bytes, int64_t messages);

#endif
