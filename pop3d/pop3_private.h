/*
 * Inside the POP3 session: shared by pop3_session.c (the session_ops and
 * the line loop), pop3_commands.c (the command table and dispatcher),
 * pop3_auth.c (USER/PASS/AUTH and the login), pop3_retr.c (streamed
 * multi-line replies) and pop3_update.c (QUIT's UPDATE on the workq).
 * Nothing outside pop3d/ includes this.
 */
#ifndef POP3D_POP3_PRIVATE_H
#define POP3D_POP3_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/session.h"
#include "mail/wire_stream.h"
#include "pop3d/pop3_session.h"
#include "store/store.h"

struct linebuf;
struct mailbox;
struct login;
struct pop3_open_job;
struct pop3_update_job;
struct pop3_find_job;
struct pop3_warm_job;
struct dir_user;
struct sasl;

enum pop3_state {
	POP3_AUTHORIZATION	= 1 << 0,
	POP3_TRANSACTION	= 1 << 1,
};

/* What this session did to a message of its snapshot: a byte each (marks[]). */
enum {
	POP3_MSG_DELETED	= 1 << 0,	/* DELE'd; expunged at QUIT */
	POP3_MSG_RETRIEVED	= 1 << 1,	/* RETR'd; \Seen at QUIT */
};

/*
 * A multi-line reply being produced as the output drains: the host calls
 * its more() (pop3_retr.c) until it has finished.
 */
struct pop3_stream {
	bool			 active;	/* a reply is being streamed */
	bool			 uidl;		/* listing: UIDL, not LIST */
	struct wire_stream	 msg;		/* RETR/TOP: the message file (fd -1: none) */
	size_t			 next;		/* LIST/UIDL: next snapshot index */
	long long		 lines_left;	/* TOP: body lines still wanted; -1: all */
	bool			 line_empty;	/* the line so far is empty (or a lone CR) */
	bool			 in_body;	/* past the header/body blank line */
	bool			 probed;	/* its first read is counted (pop3_ahead_read) */
};

/* How much of a message opened ahead is already in the session's staged buf. */
enum pop3_staged {
	POP3_STAGED_NONE,
	POP3_STAGED_PART,	/* its first block: the stream goes on from there */
	POP3_STAGED_ALL,	/* all of it, its last line ended */
};

/* A message opened ahead of its RETR (pop3_ahead.c). */
struct pop3_ahead {
	size_t			 idx;		/* snapshot index */
	struct wire_stream	 ws;
	enum pop3_staged	 staged;	/* only the window's first */
};
#define POP3_AHEAD_MAX	16			/* pop3d.read_ahead's upper bound */
#define POP3_STAGE_MAX	(16 * 1024)		/* messages smaller than this are staged */
#define POP3_COLD_ADVISE 64			/* opens advised after a cold read */

enum pop3_maildrop_result {
	MAILDROP_OK,
	MAILDROP_CANNOT_OPEN,	/* mailbox_open failed with code */
	MAILDROP_UNREADABLE,	/* opened, but the snapshot failed */
};

struct pop3_maildrop {
	enum pop3_maildrop_result	 result;
	enum store_error		 code;		/* if MAILDROP_CANNOT_OPEN */
	char				*error;		/* why, if not MAILDROP_OK */
	struct mailbox			*mb;
	const struct msg_info		*msgs;		/* mb's snapshot */
	uint8_t				*marks;
	size_t				 nmsgs;
	uint32_t			 uidvalidity;
};

struct pop3_session {
	struct pop3_env		*env;
	const struct session_peer *peer;	/* updated by the host (tls) */
	struct session_host	*host;
	struct buf		*out;
	struct linebuf		*lb;

	enum pop3_state		 state;
	enum session_want	 want;		/* READ, STARTTLS or CLOSE; want() adds PAUSE */
	unsigned		 bad_commands;

	/* AUTHORIZATION */
	char			*user;		/* from USER, until PASS */
	struct sasl		*sasl;		/* AUTH in progress: lines are responses */
	struct login		*login;		/* password check (lib/login) */
	struct pop3_open_job	*open_job;	/* then the maildrop opening, on the workq */
	bool			 delay_pending;	/* a login reply waits for its delay */
	const struct dir_user	*login_user;	/* good login whose answer waits */
	struct pop3_maildrop	 login_md;	/* and its maildrop, opened */

	/* TRANSACTION */
	char			*address;	/* logged-in user, canonical */
	unsigned		 user_slot;	/* its count in env->conntab while address is set */
	struct mailbox		*mb;
	/*
	 * mb's snapshot (UID, size, \Seen), taken at login and never again,
	 * so it stays valid until mb is closed or handed to QUIT's update.
	 */
	const struct msg_info	*msgs;
	uint8_t			*marks;		/* POP3_MSG_* of msgs[i] */
	size_t			 nmsgs;
	uint32_t		 uidvalidity;
	struct pop3_stream	 stream;
	struct pop3_ahead	 ahead[POP3_AHEAD_MAX];	/* ascending idx */
	size_t			 nahead;
	size_t			 ahead_from;	/* the last RETR: the window starts after it */
	bool			 ahead_due;	/* fill the window once the reply is out */
	struct buf		 staged;	/* the window's first message in wire form */
	unsigned		 advise_left;	/* opens still to advise after cold reads */
	unsigned		 cold_reads;	/* probes in a row that waited for the disk */
	int			 sent_fd;	/* the file RETR/TOP just sent, closed then too */
	struct pop3_update_job	*update_job;	/* QUIT's UPDATE on the workq */
	struct pop3_find_job	*find_job;	/* RETR/TOP's lookup of a renamed file */
	struct pop3_warm_job	*warm_job;	/* a block of it read into the page cache */

	/* For the summary line. */
	unsigned		 ncommands, nretr, ntop, ndele;
	uint64_t		 bytes_sent;
};

/* pop3_session.c */
void	pop3_reply(struct pop3_session *s, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	pop3_close(struct pop3_session *s);
/* The idle deadline (the shorter pre-login one before a login). */
void	pop3_arm_timeout(struct pop3_session *s);
bool	pop3_plaintext_allowed(const struct pop3_session *s);

/* pop3_commands.c */
void	pop3_dispatch(struct pop3_session *s, char *line);
void	pop3_bad_command(struct pop3_session *s);
/* A message number not deleted: 0 and its snapshot index, or -1 after an -ERR. */
int	pop3_msgnum(struct pop3_session *s, const char *arg, size_t *idx_r);

/* pop3_ahead.c */
/*
 * The stream of message idx if it was opened ahead (then the caller's);
 * drops those before it.  *staged_r: how much of it is in s->staged, the
 * caller's to send before the stream's next fill (RETR: whole); a TOP
 * (!whole) takes a staged stream rewound, the stage dropped: it has read
 * past the lines TOP wants.
 */
bool	pop3_ahead_take(struct pop3_session *s, size_t idx, bool whole, struct wire_stream *ws_r,
	    enum pop3_staged *staged_r);
/*
 * The session_host_after() callback RETR and TOP arm: close the file just
 * sent and, after a RETR, open the messages after ahead_from up to
 * pop3d.read_ahead, advising their files, and stage the next one: a small
 * message from the page cache is read and converted while the client
 * reads the last, so its RETR is answered with one write.
 */
void	pop3_ahead_after(void *s);
/*
 * Open message idx's file for a stream by its snapshot name, advised while
 * reads are cold: 0; 1 if it is not there by that name (pop3_retr.c looks
 * it up on the workq); -1 and why.
 */
int	pop3_ahead_open(struct pop3_session *s, size_t idx, struct wire_stream *ws,
	    const char **error_r);
/* A stream of message idx from its open file fd, advised while reads are cold. */
void	pop3_ahead_stream(struct pop3_session *s, size_t idx, int fd, struct wire_stream *ws);
/*
 * After a stream's first read: a probe (not advised) that had to wait for
 * the disk advises the window, and a second in a row the next opens too.
 */
void	pop3_ahead_read(struct pop3_session *s, const struct wire_stream *ws);
void	pop3_ahead_drop(struct pop3_session *s);

/* pop3_auth.c */
int	pop3_cmd_user(struct pop3_session *s, char *args);
int	pop3_cmd_pass(struct pop3_session *s, char *args);
int	pop3_cmd_auth(struct pop3_session *s, char *args);
void	pop3_auth_line(struct pop3_session *s, char *line);
void	pop3_auth_abort(struct pop3_session *s);
void	pop3_auth_orphan(struct pop3_session *s);
/* The client is gone while its login is pending: drop a check still waiting. */
void	pop3_auth_peer_gone(struct pop3_session *s);
void	pop3_logout_user(struct pop3_session *s);

/* pop3_maildrop.c: what a login opens (on a workq thread: see there). */

struct store;
struct dir_user;
/*
 * Blocking: open u's INBOX with the POP3 lock, sync it, take the snapshot.
 * Touches only its arguments (runs on a workq thread).
 */
int	pop3_maildrop_open(struct store *st, const char *mail_root, const struct dir_user *u,
	    struct pop3_maildrop *md);
/* On the loop: give md's mailbox to s (0), or answer why not (-1, counted). */
int	pop3_maildrop_take(struct pop3_session *s, const char *address, struct pop3_maildrop *md);
/* Close and free what is left in md (a login that did not take it). */
void	pop3_maildrop_clear(struct pop3_maildrop *md);
/* The RFC 2449/3206 response code for a store failure: "IN-USE", "SYS/TEMP", "SYS/PERM". */
const char *pop3_store_resp_code(enum store_error code);

/* pop3_retr.c */
int	pop3_cmd_retr(struct pop3_session *s, char *args);
int	pop3_cmd_top(struct pop3_session *s, char *args);
/* LIST or UIDL (uidl) of every message not deleted, streamed. */
void	pop3_stream_list(struct pop3_session *s, bool uidl);
/* Forget the stream (timeout, free): nothing more of it is sent. */
void	pop3_stream_abort(struct pop3_session *s);
/* The session goes away while a RETR/TOP lookup runs: the job closes the mailbox. */
void	pop3_find_orphan(struct pop3_session *s);
/* The session goes away while a block of its message is read: the job ends alone. */
void	pop3_warm_orphan(struct pop3_session *s);

/* pop3_update.c */
/* QUIT in TRANSACTION: UPDATE on the workq, paused until +OK or -ERR. */
void	pop3_update_start(struct pop3_session *s);
/* The session goes away while its UPDATE runs: the UPDATE finishes alone. */
void	pop3_update_orphan(struct pop3_session *s);

#endif
