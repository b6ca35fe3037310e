/*
 * Inside the IMAP session: shared by imap_session.c (the session_ops and
 * the input loop), imap_session_commands.c (the handler table, the
 * dispatcher and the small commands), imap_session_auth.c (LOGIN,
 * AUTHENTICATE, the failed-login delay), imap_session_select.c (SELECT,
 * EXAMINE, CLOSE, UNSELECT and the view), imap_session_fetch.c (FETCH,
 * streamed), imap_session_body.c (its BODY[...]/RFC822.* literals and
 * \Seen), imap_session_search.c (SEARCH, SORT, THREAD), imap_session_idle.c
 * (IDLE), imap_session_store.c (STORE, EXPUNGE, COPY, MOVE),
 * imap_session_condstore.c (CONDSTORE, QRESYNC), imap_session_keywords.c
 * and imap_reply.c.
 * Nothing outside imapd/ includes this.
 */
#ifndef IMAPD_IMAP_PRIVATE_H
#define IMAPD_IMAP_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imapd/imap_command.h"
#include "imapd/imap_fetch_body.h"
#include "imapd/imap_session.h"
#include "lib/session.h"
#include "store/store.h"

struct buf;
struct imap_append;
struct dir_user;
struct imap_body_job;
struct imap_body_msg;
struct imap_fetch;
struct imap_fetch_job;
struct imap_folder_job;
struct imap_parser;
struct imap_search_cmd;
struct imap_select_job;
struct imap_store_job;
struct imap_sync_job;
struct linebuf;
struct login;
struct mailbox;
struct msg_info;
struct sasl;

/* Keywords read on the workq for the messages a job will tell (imap_session_keywords.c). */
struct imap_kwset {
	struct imap_kw {
		uint32_t	 uid;
		char		*keywords;	/* space-separated, "" if none */
	}		*v;		/* ascending UIDs */
	size_t		 n;
};

/* The view's messages a FETCH set \Seen on (a bit each); the view it is of. */
struct imap_seen_marks {
	const struct msg_info	*view;
	size_t			 n;
	uint64_t		 modseq;
	unsigned char		*bits;
};

struct imap_session {
	struct imap_env		*env;
	const struct session_peer *peer;	/* updated by the host (tls) */
	struct session_host	*host;
	struct buf		*out;
	struct linebuf		*lb;
	struct imap_parser	*parser;

	enum imap_state		 state;
	enum session_want	 want;		/* READ, STARTTLS or CLOSE; want() adds PAUSE */
	unsigned		 bad_commands;	/* in a row */
	unsigned		 preauth_commands;
	char			*tag;		/* of the command waiting for a job or a delay */
	bool			 condstore, qresync;	/* ENABLEd (RFC 5161) */

	/* Not authenticated */
	struct sasl		*sasl;		/* AUTHENTICATE in progress: lines are responses */
	struct login		*login;		/* password check (lib/login) */
	bool			 delay_pending;	/* a login reply waits for its delay */
	const struct dir_user	*login_user;	/* good login whose answer waits */

	/* Authenticated */
	char			*address;	/* logged-in user, canonical */
	unsigned		 user_slot;	/* address's count in env->conntab */
	char			*maildir;

	/* Selected: the view, what the client was told (sequence number i + 1 is msgs[i]) */
	struct mailbox		*mb;
	bool			 readonly;	/* EXAMINE */
	const struct msg_info	*msgs;		/* the store's snapshot, mb's until the next one */
	size_t			 nmsgs;
	struct msg_info		*view_copy;	/* or the session's own copy (msgs), freed with it */
	uint64_t		 highestmodseq;	/* of the view */
	bool			 keywords;	/* the folder has keywords: FLAGS must read them */
	size_t			 nkeywords;	/* in the FLAGS the client was told */
	struct imap_select_job	*select_job;	/* SELECT, EXAMINE or CLOSE on the workq */
	struct imap_sync_job	*sync_job;	/* NOOP or CHECK on the workq */
	struct imap_fetch	*fetch;		/* a FETCH reply being streamed */
	struct imap_fetch_job	*fetch_job;	/* its next batch read on the workq */
	struct imap_search_cmd	*search;	/* a SEARCH, SORT or THREAD running */
	struct imap_search_cmd	*search_job;	/* its chunk on the workq (the same) */

	struct imap_append	*append;		/* APPEND's message being streamed */

	/* IDLE (imap_session_idle.c): lines are DONE or end it with a BAD. */
	char			*idle_tag;	/* non-NULL while IDLE runs */
	int			 idle_fd;	/* the mailbox's inotify watched; -1: none */
	bool			 idle_dirty;	/* a change came while a sync ran */
	bool			 idle_settling;	/* a sync is due after the settle delay */
	unsigned		 idle_ticks;	/* timer ticks since the last keep-alive */
	char			*folder;	/* the selected folder's store name */
	struct imap_folder_job	*folder_job;	/* LIST, STATUS, CREATE... on the workq */
	struct imap_store_job	*store_job;	/* STORE, EXPUNGE, COPY or MOVE on the workq */
	struct imap_body_job	*body_job;	/* its next messages opened on the workq */
	struct imap_body_resume	 body_resume;	/* where the last partial fetch stopped */
	struct imap_seen_marks	 seen_marks;	/* \Seen set by FETCH, not in the view yet */

	/* For the summary line. */
	unsigned		 ncommands, nfetched;
};

/* imap_reply.c */
void	imap_untagged(struct imap_session *s, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	imap_tagged(struct imap_session *s, const char *tag, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
/* Raw text plus CRLF ("+ " continuations). */
void	imap_line(struct imap_session *s, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/*
 * An IMAP string into b: quoted when it can be (no CR, LF, NUL or 8-bit
 * byte, not too long), else a literal; NIL for NULL.  The one helper for
 * string output.  -1 if b is full.
 */
int	imap_put_string(struct buf *b, const char *str, size_t len);
/* The output could not take a reply: close (only a tiny output buffer gets here). */
void	imap_output_full(struct imap_session *s);
/* The capabilities for the session's state, space-separated, into b. */
void	imap_capabilities(const struct imap_session *s, struct buf *b);
/* "1:3,7" of ascending uids, runs of consecutive values as ranges. */
void	imap_put_uid_set(struct buf *b, const uint32_t *uids, size_t n);

/* imap_session.c */
void	imap_close(struct imap_session *s);
void	imap_arm_timeout(struct imap_session *s);
bool	imap_plaintext_allowed(const struct imap_session *s);
/* The waiting command's tag is taken from s (the caller frees it). */
char	*imap_take_tag(struct imap_session *s);

/* imap_session_commands.c */
#define IMAP_ASYNC	1	/* a handler's job or delay answers later */
void	imap_dispatch(struct imap_session *s, const struct imap_command *cmd);
/* A BAD or failed command: counted, and the session closes after max_errors in a row. */
void	imap_bad_command(struct imap_session *s);

/* imap_session_auth.c */
int	imap_cmd_login(struct imap_session *s, const struct imap_command *cmd);
int	imap_cmd_authenticate(struct imap_session *s, const struct imap_command *cmd);
/* A line while AUTHENTICATE runs: a client response, or "*" to cancel. */
void	imap_auth_line(struct imap_session *s, char *line);
void	imap_auth_abort(struct imap_session *s);
void	imap_auth_orphan(struct imap_session *s);
void	imap_logout_user(struct imap_session *s);

/* imap_session_select.c */
int	imap_cmd_select(struct imap_session *s, const struct imap_command *cmd);
int	imap_cmd_close(struct imap_session *s, const struct imap_command *cmd);
int	imap_cmd_unselect(struct imap_session *s, const struct imap_command *cmd);
/* Leave the selected state now (no expunge): the mailbox closes. */
void	imap_unselect(struct imap_session *s);
void	imap_select_orphan(struct imap_session *s);
/* RECENT: the messages of a snapshot this session sees as \Recent. */
size_t	imap_count_recent(const struct msg_info *msgs, size_t n);
/* The view's index of uid, or -1 if the client was not told of it. */
long	imap_view_find(const struct imap_session *s, uint32_t uid);
/* The view is now msgs (owned: the session's copy, freed when the view moves on). */
void	imap_view_set(struct imap_session *s, const struct msg_info *msgs, size_t n,
	    struct msg_info *owned);
/*
 * A copy of the n-message view msgs, for a job (sync, STORE) to compare with
 * once the store's snapshot, which may be the view itself, moves on.
 */
struct msg_info *imap_view_copy(const struct msg_info *msgs, size_t n);
/* The system flags and keywords for FLAGS, and "\*" too when any (PERMANENTFLAGS). */
void	imap_put_flag_names(struct buf *b, const char *const *keywords, size_t n, bool any);

/* imap_session_sync.c */
int	imap_cmd_noop(struct imap_session *s, const struct imap_command *cmd);
void	imap_sync_orphan(struct imap_session *s);
/* Selected: sync the view (untagged updates), then "<tag> OK <ok>"; the session pauses. */
void	imap_sync_reply(struct imap_session *s, const char *tag, const char *ok);
/* IDLE's sync: the same untagged updates, then imap_idle_synced() instead of a tag. */
void	imap_sync_idle(struct imap_session *s);
/*
 * On a workq thread: the snapshot moved on from a view of nview messages at
 * modseq, by the store's change feed when it reaches back and changed at
 * most a share of the view, else read whole; *highestmodseq_r becomes what
 * a patch covers (a whole read leaves it: the caller's mailbox_status).
 */
int	imap_snapshot_since(struct mailbox *mb, uint64_t modseq, size_t nview,
	    const struct msg_info **msgs_r, size_t *n_r, uint64_t *highestmodseq_r);

/* imap_session_idle.c */
int	imap_cmd_idle(struct imap_session *s, const struct imap_command *cmd);
/* A line while IDLE runs: DONE, or anything else (BAD); either ends it. */
void	imap_idle_line(struct imap_session *s, const char *line);
/* An IDLE sync told the client: run another if more changed meanwhile. */
void	imap_idle_synced(struct imap_session *s);
/* Stop watching (the session goes away). */
void	imap_idle_stop(struct imap_session *s);

/* imap_session_store.c */
int	imap_cmd_store(struct imap_session *s, const struct imap_command *cmd);
int	imap_cmd_expunge(struct imap_session *s, const struct imap_command *cmd);
int	imap_cmd_copy(struct imap_session *s, const struct imap_command *cmd);
void	imap_store_orphan(struct imap_session *s);

/* imap_session_condstore.c: CONDSTORE and QRESYNC (RFC 7162) */
/* CONDSTORE on (ENABLE, or a command using MODSEQ); HIGHESTMODSEQ told if selected. */
void	imap_condstore_enable(struct imap_session *s);
/*
 * "* seq FETCH (...)" of a flag change: FLAGS (unless !flags: .SILENT's
 * MODSEQ alone), MODSEQ once CONDSTORE is on, UID when uid or QRESYNC;
 * the keywords from ks (may be NULL) if it has m's, else read now.
 */
void	imap_tell_flags(struct imap_session *s, size_t seq, const struct msg_info *m, bool uid,
	    bool flags, const struct imap_kwset *ks);
/*
 * Whether view message idx, was as the client was told, now is news: its
 * MODSEQ moved (flags or keywords changed), unless the only change is
 * the \Seen this session's FETCH set and already said.
 */
bool	imap_flags_news(struct imap_session *s, size_t idx, const struct msg_info *was,
	    const struct msg_info *now);
/*
 * The view's messages old has and now lacks, told as EXPUNGE (numbered as
 * the client counts) or, under QRESYNC, one VANISHED; returns how many.
 */
size_t	imap_tell_gone(struct imap_session *s, const struct msg_info *old, size_t nold,
	    const struct msg_info *now, size_t nnow);
/* "<tag> OK text", with [HIGHESTMODSEQ] under QRESYNC when expunges were told. */
void	imap_tagged_ok(struct imap_session *s, const char *tag, bool vanished, const char *text);
/*
 * SELECT ... (QRESYNC (uidvalidity modseq [known])): VANISHED (EARLIER)
 * from the change feed ch, then FETCH (UID FLAGS MODSEQ) of the view's
 * messages changed since modseq, both of known only when given; nothing
 * when uidvalidity is another.
 */
void	imap_qresync_tell(struct imap_session *s, uint32_t uidvalidity, uint64_t modseq,
	    const struct imap_seqset *known, const struct mailbox_changes *ch, uint32_t uidnext,
	    const struct imap_kwset *ks);

/* imap_session_keywords.c */
/* On the workq: the keywords of these UIDs (ascending); one gone is left out. */
void	imap_kwset_read(struct imap_kwset *ks, struct mailbox *mb, const uint32_t *uids, size_t n);
/* uid's keywords, or NULL if ks has none for it. */
const char *imap_kwset_find(const struct imap_kwset *ks, uint32_t uid);
void	imap_kwset_free(struct imap_kwset *ks);
/* UID FETCH set (CHANGEDSINCE modseq VANISHED): the VANISHED (EARLIER) of set. */
int	imap_fetch_vanished(struct imap_session *s, const struct imap_seqset *set, uint64_t modseq,
	    const char **error_r);

/* imap_session_fetch.c */
int	imap_cmd_fetch(struct imap_session *s, const struct imap_command *cmd);
/* "FLAGS (...)" of m into b, keywords included (read from the index when the folder has any). */
void	imap_put_flags(struct imap_session *s, struct buf *b, const struct msg_info *m);
/* The same with the keywords given (read on the workq). */
void	imap_put_flags_kw(struct buf *b, const struct msg_info *m, const char *keywords);
/* Forget the FETCH being streamed (timeout, free): nothing more of it is sent. */
void	imap_fetch_abort(struct imap_session *s);
/* imap_session_body.c's job is done: the n bms' sections are ready to send (owned now). */
void	imap_fetch_opened(struct imap_session *s, struct imap_body_msg **bms, size_t n);
/* It failed before anything of the message was sent: NO. */
void	imap_fetch_failed(struct imap_session *s);

/* imap_session_body.c: one message's BODY[...]/RFC822.* items */
struct imap_body_msg {
	size_t			 idx;		/* in the view */
	uint32_t		 uid;
	int			 fd;		/* the message's file, -1 */
	struct imap_fetch_body	*fb;		/* one per section, begun */
	unsigned		 nfb;
	unsigned		 item;		/* items written before the sections */
	unsigned		 section;	/* the section it is at */
	bool			 started;	/* "* n FETCH (" and the items before the sections are out */
	bool			 in_literal;	/* its head is out */
	bool			 want_seen;	/* the job is to set \Seen */
	bool			 seen;		/* this FETCH set \Seen */
	bool			 gone;		/* expunged before it could be opened */
};
/*
 * Open the n messages idx[] (view order) and begin their sections (atts)
 * in one job on the workq, \Seen set on those that want it in one store
 * change; then imap_fetch_opened.
 */
void	imap_body_submit(struct imap_session *s, const size_t *idx, size_t n,
	    const struct imap_fetch_att *const *atts, unsigned natts, bool set_seen);
/* Send section i: 1 when out, 0 when the output is full, -1 if it cannot be finished. */
int	imap_body_send(struct imap_session *s, struct imap_body_msg *bm, unsigned i);
void	imap_body_msg_free(struct imap_body_msg **bm);
/* idx's \Seen was set by a FETCH since the view was taken (mark: it is now). */
bool	imap_seen_marked(struct imap_session *s, size_t idx, bool mark);
/* Those \Seen into the session's own copy of the view (SEARCH must see them). */
void	imap_seen_fold(struct imap_session *s);
/* The FETCH ends early: the job running, if any, is left to finish alone. */
void	imap_body_abort(struct imap_session *s);

/* imap_session_append.c */
/* IMAP_PARSE_STREAM: check the APPEND, create its temp file (workq), then stream. */
void	imap_append_stream(struct imap_session *s);
/* The parser's consumer of the literal's bytes (ctx: the append). */
void	imap_append_write(void *ctx, const char *data, size_t len);
/* The session must take no input: a job runs and the stage is full. */
bool	imap_append_busy(const struct imap_session *s);
int	imap_cmd_append(struct imap_session *s, const struct imap_command *cmd);
/* Forget the append in progress (a failed command, the session going): no file stays. */
void	imap_append_drop(struct imap_session *s);
/* imap_session_search.c: SEARCH, SORT, THREAD and their UID forms. */
int	imap_cmd_search(struct imap_session *s, const struct imap_command *cmd);
/* Forget the search running (timeout, free): nothing more of it is sent. */
void	imap_search_abort(struct imap_session *s);
/* imap_session_folders.c: LIST LSUB STATUS CREATE DELETE RENAME (UN)SUBSCRIBE */
int	imap_cmd_folder(struct imap_session *s, const struct imap_command *cmd);
void	imap_folder_orphan(struct imap_session *s);

#endif
