/*
 * The mail store: Maildir++ mailboxes, indexed in Berkeley DB.  This header
 * is the whole interface the daemons see; nothing outside store/ includes
 * <db.h>.
 *
 * Layout per user: <mail_root>/<domain>/<local>/Maildir/ with folders
 * ".Sent", ".Drafts", ".Trash", ".Junk", nested with '.' on disk.  Message
 * files are stored with LF line ends (Maildir convention, so mutt and
 * Dovecot agree); sizes reported to clients count CRLF.
 *
 * Every function returning int: 0 ok, -1 error with *error_r set and the
 * failure's kind in store_error_code().  Protocols map the code (one table
 * per protocol), never the text: the text is for logs.
 *
 * Lifetime: *error_r is lib/error's per-thread text (or a string
 * literal), valid as lib/error.h says: until the thread's next err_set()
 * has returned, which any failing call in lib/ or store/ makes.
 * store_error_code() stays until the thread's next failing store call.
 * A caller that hands the failure to another thread (a workq job) copies
 * both before returning.
 */
#ifndef STORE_STORE_H
#define STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct store;
struct mailbox;
struct store_delivery;

struct store_options {
	unsigned	fsync_enabled;	/* 1 normally; 0 only for tests that say so */
	unsigned	vanished_max;	/* expunge tombstones kept per folder; 0: default */
};

#define STORE_VANISHED_MAX_DEFAULT	10000

struct store	*store_open(const char *mail_root, const struct store_options *opts,
		    const char **error_r);
void		 store_close(struct store **st);

/* What the last failing store call on this thread failed with. */
enum store_error {
	STORE_ERR_NONE = 0,
	STORE_ERR_TEMPORARY,	/* I/O, disk full, lock timeout, deadlock: try again later */
	STORE_ERR_NOT_FOUND,	/* no such user, folder or message */
	STORE_ERR_EXISTS,	/* the folder to create already exists */
	STORE_ERR_IN_USE,	/* the POP3 maildrop lock is held by another session */
	STORE_ERR_OVER_QUOTA,	/* the recipient's quota (maildirsize) or EDQUOT */
	STORE_ERR_EXPUNGED,	/* the message was expunged meanwhile */
	STORE_ERR_PARAMS,	/* bad folder name or keyword, a call out of order */
	STORE_ERR_PERMISSION,	/* write to a read-only mailbox; EACCES, EPERM, EROFS */
	STORE_ERR_NOT_POSSIBLE,	/* other permanent failures (UIDs exhausted) */
};

enum store_error store_error_code(void);
/* The code is TEMPORARY or OVER_QUOTA: the client may retry (4xx, EX_TEMPFAIL). */
bool		 store_error_temporary(void);

/* Create a user's Maildir++ with INBOX, Sent, Drafts, Trash, Junk (mailctl adduser). */
int		 store_create_user(struct store *st, const char *maildir, const char **error_r);
/*
 * A Maildir moved between Dovecot and Postroom keeps its UIDVALIDITYs and
 * UIDs (maildir_dovecot.c): import turns each folder's dovecot-uidlist
 * into U= names and postroom-uidvalidity (a folder with the latter is
 * left alone) and Dovecot 2.3's subscriptions into ours; export writes dovecot-uidlist from them and drops
 * Dovecot's stale dovecot.index*.  *kept_r: messages whose UID was kept.
 * No server may be using the Maildir meanwhile.
 */
int		 store_dovecot_import(const char *maildir, unsigned *kept_r, const char **error_r);
int		 store_dovecot_export(const char *maildir, unsigned *kept_r, const char **error_r);

/* ---- Delivery: one write, hard links for further recipients ---- */

struct store_rcpt {
	const char	*maildir;	/* from directory_maildir() */
	uint64_t	 quota_bytes;	/* 0 = unlimited */
	uint64_t	 quota_messages;
};

/*
 * Begin a delivery to n recipients' INBOXes.  The message is written with
 * store_delivery_write (LF line ends expected: the caller converts) into a
 * temp file; nothing is visible yet.
 */
struct store_delivery *store_delivery_begin(struct store *st, const struct store_rcpt *rcpts,
		    size_t n, const char **error_r);
/*
 * More recipients for a delivery begun but not committed (smtpd creates the
 * temp file at the first RCPT, in the first recipient's tmp/, and learns
 * the others later).  Memory only: no disk work, any thread that owns d.
 */
void		 store_delivery_add(struct store_delivery *d, const struct store_rcpt *rcpts,
		    size_t n);
int		 store_delivery_write(struct store_delivery *d, const void *data, size_t len);
/*
 * Make it durable in every recipient's new/ (fsync file, link/rename,
 * fsync each directory) and only then return 0.  BLOCKING: call it on a
 * workq thread.  Touches only d.  On -1 nothing is visible anywhere.
 */
int		 store_delivery_commit(struct store_delivery *d, const char **error_r);
/* Free d; removes the temp file if not committed. */
void		 store_delivery_free(struct store_delivery **d);
/* Bytes written so far (SIZE enforcement). */
uint64_t	 store_delivery_size(const struct store_delivery *d);

/* ---- Mailboxes ---- */

enum {
	MSG_SEEN	= 1 << 0,
	MSG_ANSWERED	= 1 << 1,
	MSG_FLAGGED	= 1 << 2,
	MSG_DELETED	= 1 << 3,
	MSG_DRAFT	= 1 << 4,
	MSG_RECENT	= 1 << 5,	/* session-level; never stored */
};

enum {
	MAILBOX_READONLY	= 1 << 0,
	MAILBOX_POP3_LOCK	= 1 << 1,	/* exclusive POP3 lock, else IN_USE */
};

struct mailbox_status {
	uint32_t	uidvalidity;
	uint32_t	uidnext;
	uint64_t	highestmodseq;
	uint32_t	messages;
	uint32_t	unseen;
	uint32_t	recent;
	uint64_t	size;		/* sum of CRLF sizes */
};

/* What a session holds per message: fixed size, no pointers (32 bytes). */
struct msg_info {
	uint32_t	 uid;
	uint32_t	 flags;		/* MSG_* */
	uint64_t	 modseq;
	uint64_t	 size;		/* RFC822.SIZE: bytes with CRLF line ends */
	time_t		 internal_date;
};

/* What FETCH asks of a message beyond msg_info, read when it asks (mailbox_fetch). */
struct msg_fetch {
	uint32_t	 uid;
	const char	*keywords;	/* space-separated, "" if none */
	const char	*envelope;	/* IMAP ENVELOPE string */
	const char	*body;		/* IMAP BODY (non-extended) string */
	const char	*bodystructure;	/* IMAP BODYSTRUCTURE (extended) string */
};

/*
 * Open a folder ("INBOX", "Sent", "Archive.2024") of the Maildir; synced on
 * open.  -1 with STORE_ERR_IN_USE when MAILBOX_POP3_LOCK is held elsewhere.
 */
int		 mailbox_open(struct store *st, const char *maildir, const char *folder,
		    unsigned flags, struct mailbox **mb_r, const char **error_r);
void		 mailbox_close(struct mailbox **mb);
/*
 * Let go of the folder's index until a call needs it again (it is then
 * reopened): for a session that works from its snapshot for a while, as
 * POP3 does between login and QUIT.  A user's index held by no session
 * costs its process nothing; held, its cache (up to 2 MB) stays mapped.
 * mailbox_open_message() lets it go again after looking up a renamed file.
 */
void		 mailbox_release_index(struct mailbox *mb);

/* Pick up changes by others (new files, flags, expunges) into the index. */
int		 mailbox_sync(struct mailbox *mb, const char **error_r);
int		 mailbox_status(struct mailbox *mb, struct mailbox_status *st);

/*
 * A snapshot of the messages in UID order, answered from the index alone
 * (no message file is opened): one array, and beside it the file names
 * mailbox_open_message() opens.  Valid until the next mailbox_messages()
 * or mailbox_close() on mb, which gives its memory back.
 */
int		 mailbox_messages(struct mailbox *mb, const struct msg_info **msgs_r, size_t *n_r,
		    const char **error_r);
/*
 * Keywords, ENVELOPE, BODY and BODYSTRUCTURE of the messages with a UID in
 * first..last (those the index has, ascending), read from the index now.
 * A message the first sync did not parse (empty strings in its record) is
 * parsed here and its strings stored back (best effort: a failed write
 * still answers).  The array and its strings stay valid until the next
 * mailbox_fetch() or mailbox_close() on mb.
 */
int		 mailbox_fetch(struct mailbox *mb, uint32_t first, uint32_t last,
		    const struct msg_fetch **msgs_r, size_t *n_r, const char **error_r);
/*
 * As mailbox_fetch(), keywords only (ENVELOPE, BODY and BODYSTRUCTURE "",
 * nothing parsed): what FLAGS needs, one read transaction for the range.
 */
int		 mailbox_fetch_keywords(struct mailbox *mb, uint32_t first, uint32_t last,
		    const struct msg_fetch **msgs_r, size_t *n_r, const char **error_r);

/*
 * A descriptor (owned by mb) readable when new/ or cur/ changed: another
 * handle or process delivered, flagged or expunged.  Poll it, drain it
 * (read until EAGAIN), then mailbox_sync().  One inotify instance serves
 * the whole process; the handles on one folder share its watches.  Callable
 * from any thread.  -1 (logged once) if inotify is unavailable: the
 * fs.inotify limits reached; the caller falls back to checking on a timer.
 */
int		 mailbox_notify_fd(struct mailbox *mb);

/*
 * The message file, opened read-only (LF line ends); -1 if expunged
 * meanwhile.  Found by the snapshot's name without an index transaction;
 * a file renamed since (flags changed) is looked up in the index again,
 * and if the index has no newer name, after a rescan of the Maildir: work
 * for a workq thread.
 */
int		 mailbox_open_message(struct mailbox *mb, uint32_t uid, int *fd_r, const char **error_r);
/*
 * The same by the snapshot's name alone, one openat (cheap enough for an
 * event loop): 0; 1 if no file has that name now (another session changed
 * its flags or expunged it: mailbox_open_message finds out); -1.
 */
int		 mailbox_open_known(struct mailbox *mb, uint32_t uid, int *fd_r, const char **error_r);
/*
 * The size of uid's file as its name in the snapshot says (S=), 0 if it
 * does not: a hint (wire_stream_open), found without a system call.
 */
uint64_t	 mailbox_message_fsize(const struct mailbox *mb, uint32_t uid);

enum flag_mode { FLAGS_ADD, FLAGS_REMOVE, FLAGS_REPLACE };
/* keywords: space-separated or NULL.  Durable (Maildir rename) before return. */
int		 mailbox_store_flags(struct mailbox *mb, const uint32_t *uids, size_t n,
		    enum flag_mode mode, uint32_t flags, const char *keywords, const char **error_r);
/* Remove these messages; durable before return. */
int		 mailbox_expunge(struct mailbox *mb, const uint32_t *uids, size_t n, const char **error_r);
/* Copy to another folder of the same Maildir; new UIDs in uids_r (may be NULL). */
int		 mailbox_copy(struct mailbox *mb, const uint32_t *uids, size_t n, const char *dest_folder,
		    uint32_t *uids_r, const char **error_r);
/*
 * MOVE: like copy, but each file is renamed (atomic per message) and the
 * sources leave this folder; new UIDs in uids_r (0 for one expunged meanwhile).
 */
int		 mailbox_move(struct mailbox *mb, const uint32_t *uids, size_t n, const char *dest_folder,
		    uint32_t *uids_r, const char **error_r);
/* APPEND: one message (LF line ends), with flags and internal date. */
int		 mailbox_append(struct store *st, const char *maildir, const char *folder,
		    const void *data, size_t len, uint32_t flags, time_t internal_date,
		    uint32_t *uid_r, const char **error_r);

/* POP3 UIDL: stable forever, same message same value (UIDVALIDITY + UID). */
void		 store_uidl(uint32_t uidvalidity, uint32_t uid, char out[24]);

/*
 * ---- The read side for IMAP: CONDSTORE/QRESYNC (RFC 7162), keywords ----
 *
 * Every change to a folder (append, copy or move in, flag change, expunge)
 * takes the folder's next MODSEQ: the messages it touches get it and it
 * becomes the folder's HIGHESTMODSEQ.  An expunge leaves a tombstone
 * (UID, MODSEQ); a folder keeps the newest store.vanished_max of them.
 * MODSEQs survive restarts and index format changes; an index rebuilt from
 * the Maildir restarts them above any value handed out before.
 */

struct uid_list {
	uint32_t	*uids;
	size_t		 n, cap;
};

struct mailbox_changes {
	uint32_t	 uidvalidity;	/* another than the client's: none of this applies */
	uint64_t	 highestmodseq;	/* of the index when read */
	/*
	 * false: expunges older than the kept tombstones (or a MODSEQ this
	 * folder never had) are asked for; expunged is then partial and the
	 * caller falls back to a full resync (all UIDs; VANISHED not sent).
	 */
	bool		 complete;
	struct uid_list	 added;		/* ascending UIDs, new since the MODSEQ */
	struct uid_list	 changed;	/* ascending UIDs, flags changed, not in added */
	struct uid_list	 expunged;	/* ascending UIDs, expunged since (VANISHED) */
};

/*
 * What changed in the index since modseq (NOOP, IDLE, SELECT ... QRESYNC,
 * VANISHED (EARLIER)), without a snapshot: call mailbox_sync() first to
 * pick up other programs' changes.  Free ch with mailbox_changes_free().
 */
int		 mailbox_changes_since(struct mailbox *mb, uint64_t modseq,
		    struct mailbox_changes *ch, const char **error_r);
void		 mailbox_changes_free(struct mailbox_changes *ch);
/*
 * The snapshot (mailbox_messages) moved on by ch, a feed since a MODSEQ it
 * has seen: the expunged leave it, the changed and added are read anew
 * (their records alone, one read transaction).  What a session's NOOP
 * needs after a few changes to a large folder.  In place: the array an
 * earlier call returned now holds the new snapshot (copy what is to be
 * compared first).  The same validity as mailbox_messages(); it may read
 * the whole snapshot again instead.
 */
int		 mailbox_messages_patch(struct mailbox *mb, const struct mailbox_changes *ch,
		    const struct msg_info **msgs_r, size_t *n_r, const char **error_r);

/*
 * CONDSTORE's STORE ... (UNCHANGEDSINCE n): as mailbox_store_flags, but a
 * message whose MODSEQ is above unchangedsince is left as it is and its UID
 * goes to modified_r (room for n; *nmodified_r set), for the MODIFIED
 * response code.  The check and the change are made under one lock.
 */
int		 mailbox_store_flags_cond(struct mailbox *mb, const uint32_t *uids, size_t n,
		    enum flag_mode mode, uint32_t flags, const char *keywords,
		    uint64_t unchangedsince, uint32_t *modified_r, size_t *nmodified_r,
		    const char **error_r);

/* The most keywords a folder can have (dovecot-keywords letters a..z). */
#define STORE_KEYWORDS_MAX	26
/*
 * The folder's keywords as the dovecot-keywords file lists them now (FLAGS,
 * PERMANENTFLAGS; "\*" only while fewer than STORE_KEYWORDS_MAX).  The
 * array and names stay valid until the next call on mb.
 */
int		 mailbox_keywords(struct mailbox *mb, const char *const **names_r, size_t *n_r,
		    const char **error_r);

/*
 * ---- Writes for imapd: UIDPLUS, streamed (MULTI)APPEND, commits on the workq ----
 *
 * Threading contract.  A write is split in two:
 *  - begin (store_op_*(), store_append_*()) runs on the event loop.  It
 *    copies its arguments and does no I/O that can block for long (the
 *    append writes its message into tmp/ as it arrives, no fsync).
 *  - store_op_commit() is the blocking part: the index lock, the Maildir
 *    renames, every fsync and the index writes.  Run it on a workq thread
 *    (store_op_submit) or inline.  It touches only the op, its mailbox
 *    handle and the per-Maildir index environment (shared by threads).
 *  - store_op_result() on the loop, after the commit returned (the workq's
 *    done callback): 0, or -1 with *error_r and store_error_code() set on
 *    the calling thread exactly as the synchronous call would.
 * From begin until the op is freed the mailbox handle belongs to the op:
 * the loop makes no other call on it (one write per mailbox at a time).
 * The commit runs the synchronous call's code: same effect, same result.
 */
struct store_op;
struct store_append;
struct workq;

/* Flags, expunge, copy, move of these UIDs (all arguments copied). */
struct store_op	*store_op_flags(struct mailbox *mb, const uint32_t *uids, size_t n,
		    enum flag_mode mode, uint32_t flags, const char *keywords);
/* CONDSTORE's STORE ... (UNCHANGEDSINCE n): mailbox_store_flags_cond as an op. */
struct store_op	*store_op_flags_cond(struct mailbox *mb, const uint32_t *uids, size_t n,
		    enum flag_mode mode, uint32_t flags, const char *keywords,
		    uint64_t unchangedsince);
struct store_op	*store_op_expunge(struct mailbox *mb, const uint32_t *uids, size_t n);
struct store_op	*store_op_copy(struct mailbox *mb, const uint32_t *uids, size_t n,
		    const char *dest_folder, bool move);
/* Commit a streamed append: the op takes *a over (and sets it NULL). */
struct store_op	*store_op_append(struct store_append **a);

/* BLOCKING: run once, on any one thread. */
void		 store_op_commit(struct store_op *op);
/* store_op_commit on a pool thread of wq, then done(op, arg) on the loop. */
typedef void	 store_op_done_fn(struct store_op *op, void *arg);
void		 store_op_submit(struct store_op *op, struct workq *wq, store_op_done_fn *done,
		    void *arg);
int		 store_op_result(const struct store_op *op, const char **error_r);
/*
 * UIDPLUS (RFC 4315 COPYUID, APPENDUID) after a successful commit: the
 * destination folder's UIDVALIDITY and the UIDs assigned, one per source
 * UID of a copy or move (0: expunged meanwhile, nothing copied) or per
 * appended message in order; NULL for flags and expunge.
 */
const uint32_t	*store_op_uids(const struct store_op *op, uint32_t *uidvalidity_r, size_t *n_r);
/*
 * After a successful store_op_flags_cond() commit: the UIDs left as they
 * were because their MODSEQ was above unchangedsince (ascending), for
 * MODIFIED; *n_r 0 otherwise.
 */
const uint32_t	*store_op_modified(const struct store_op *op, size_t *n_r);
void		 store_op_free(struct store_op **op);

/*
 * APPEND streamed, one message or several (MULTIAPPEND, RFC 3502) in one
 * transaction: each message goes into a temp file in the folder's tmp/ as
 * its literal arrives (the delivery path: store_delivery_*), flags,
 * keywords and internal date are applied at commit, and the commit makes
 * all of them visible at once (one index transaction, one UID range) or
 * none.  Freeing an uncommitted append removes its temp files.  Each
 * pending message holds a descriptor: the protocol bounds their number.
 */
int		 store_append_begin(struct store *st, const char *maildir, const char *folder,
		    struct store_append **a_r, const char **error_r);
/* Start the next message (ends the previous one); internal_date 0: now. */
int		 store_append_message(struct store_append *a, uint32_t flags, const char *keywords,
		    time_t internal_date, const char **error_r);
/* LF line ends expected (the caller converts); -1 on a write error. */
int		 store_append_write(struct store_append *a, const void *data, size_t len);
/* Messages begun so far, and bytes written (quota and literal checks). */
size_t		 store_append_count(const struct store_append *a);
uint64_t	 store_append_size(const struct store_append *a);
/* Synchronous commit; uids_r has store_append_count() slots (either may be NULL). */
int		 store_append_commit(struct store_append *a, uint32_t *uidvalidity_r, uint32_t *uids_r,
		    const char **error_r);
void		 store_append_free(struct store_append **a);

/* ---- Folders ---- */

/* Longest folder name (bytes): ".Name" must fit one directory entry. */
#define STORE_FOLDER_NAME_MAX	200
/*
 * 0 if name can be a folder ("INBOX" in any case is one); else -1 with a
 * reason for the client in *why_r (a string literal): empty, too long,
 * an INBOX child, a control character or '/', an empty level ("a..b",
 * ".a", "a."), a level beginning with '~', or a level named like a file
 * the Maildir keeps (tmp, new, cur, maildirsize, dovecot-*, postroom-*...).
 * Every folder_* and mailbox_* call refuses what this refuses.
 */
int		 folder_name_check(const char *name, const char **why_r);
int		 folder_create(struct store *st, const char *maildir, const char *name, const char **error_r);
int		 folder_delete(struct store *st, const char *maildir, const char *name, const char **error_r);
/* Children move along; from = INBOX moves its messages, INBOX stays (RFC 3501). */
int		 folder_rename(struct store *st, const char *maildir, const char *from, const char *to,
		    const char **error_r);
/* Names of all folders ("INBOX" first), malloc'd array of malloc'd strings. */
int		 folder_list(struct store *st, const char *maildir, char ***names_r, size_t *n_r,
		    const char **error_r);
int		 folder_subscribe(struct store *st, const char *maildir, const char *name, bool on,
		    const char **error_r);
/*
 * The subscribed names (LSUB, LIST (SUBSCRIBED)) in the subscriptions
 * file's order, folders or not (RFC 3501 6.3.9: a subscription outlives
 * its folder); lines that could not be a folder name are left out.  None
 * if the file does not exist.  Free with folder_names_free().
 */
int		 folder_subscriptions(struct store *st, const char *maildir, char ***names_r,
		    size_t *n_r, const char **error_r);
/* Free an array of names (folder_list, folder_subscriptions); sets *names NULL. */
void		 folder_names_free(char ***names, size_t n);

/* LIST attributes (RFC 3501, 5258 CHILDREN, 6154 SPECIAL-USE). */
enum {
	FOLDER_NOSELECT		= 1 << 0,	/* only a parent of others: no Maildir of its own */
	FOLDER_HAS_CHILDREN	= 1 << 1,
	FOLDER_HAS_NO_CHILDREN	= 1 << 2,
	FOLDER_SENT		= 1 << 3,
	FOLDER_DRAFTS		= 1 << 4,
	FOLDER_TRASH		= 1 << 5,
	FOLDER_JUNK		= 1 << 6,
	FOLDER_ARCHIVE		= 1 << 7,
};

struct folder_info {
	char		*name;
	unsigned	 attrs;		/* FOLDER_* */
};

/*
 * Every folder ("INBOX" first, then by name) with its LIST attributes; a
 * missing parent ("A" of "A.B") is listed \Noselect.  Free with
 * folder_info_free().
 */
int		 folder_list_info(struct store *st, const char *maildir, struct folder_info **folders_r,
		    size_t *n_r, const char **error_r);
void		 folder_info_free(struct folder_info **folders, size_t n);

#endif
