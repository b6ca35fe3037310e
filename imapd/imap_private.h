/*
 * Inside the IMAP session: shared by imap_session.c (the session_ops and
 * the input loop), imap_session_commands.c (the handler table, the
 * dispatcher and the small commands), imap_session_auth.c (LOGIN,
 * AUTHENTICATE, the failed-login delay), imap_session_select.c (SELECT,
 * EXAMINE, CLOSE, UNSELECT and the view), imap_session_fetch.c (FETCH,
 * streamed) and imap_reply.c.  Nothing outside imapd/ includes this.
 */
#ifndef IMAPD_IMAP_PRIVATE_H
#define IMAPD_IMAP_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imapd/imap_command.h"
#include "imapd/imap_session.h"
#include "lib/session.h"
#include "store/store.h"

struct buf;
struct dir_user;
struct imap_auth_job;
struct imap_fetch;
struct imap_fetch_job;
struct imap_parser;
struct imap_select_job;
struct imap_sync_job;
struct linebuf;
struct mailbox;
struct msg_info;
struct sasl;

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
	struct imap_auth_job	*auth_job;	/* password check on the workq */
	bool			 delay_pending;	/* a login reply waits for its delay */
	uint64_t		 login_answer_at; /* no login answer before (authfail clock) */
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
	uint64_t		 highestmodseq;	/* of the view */
	bool			 keywords;	/* the folder has keywords: FLAGS must read them */
	struct imap_select_job	*select_job;	/* SELECT, EXAMINE or CLOSE on the workq */
	struct imap_sync_job	*sync_job;	/* NOOP or CHECK on the workq */
	bool			 sync_noop;	/* which of the two */
	struct imap_fetch	*fetch;		/* a FETCH reply being streamed */
	struct imap_fetch_job	*fetch_job;	/* its next batch read on the workq */

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
/* The response code for a store failure ("NONEXISTENT", "UNAVAILABLE", ...). */
const char *imap_store_resp_code(enum store_error code);
/* The capabilities for the session's state, space-separated, into b. */
void	imap_capabilities(const struct imap_session *s, struct buf *b);

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

/* imap_session_sync.c */
int	imap_cmd_noop(struct imap_session *s, const struct imap_command *cmd);
void	imap_sync_orphan(struct imap_session *s);

/* imap_session_fetch.c */
int	imap_cmd_fetch(struct imap_session *s, const struct imap_command *cmd);
/* "FLAGS (...)" of m into b, keywords included (read from the index when the folder has any). */
void	imap_put_flags(struct imap_session *s, struct buf *b, const struct msg_info *m);
/* Forget the FETCH being streamed (timeout, free): nothing more of it is sent. */
void	imap_fetch_abort(struct imap_session *s);

#endif
