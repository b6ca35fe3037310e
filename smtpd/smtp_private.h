/*
 * The inside of an SMTP session, shared by the modules of smtpd/ only:
 * smtp_session.c (input loop, lifecycle), smtp_commands.c (table and
 * dispatcher), smtp_data.c (DATA/BDAT byte machine), smtp_policy.c
 * (recipients, relay), smtp_reply.c (replies and the error counter).
 */
#ifndef SMTPD_SMTP_PRIVATE_H
#define SMTPD_SMTP_PRIVATE_H

#include "smtpd/smtp_session.h"
#include "lib/buf.h"
#include "mail/crlf.h"

#include <stdbool.h>
#include <stddef.h>

struct directory;
struct linebuf;
struct login;
struct sasl;
struct smtp_prep;

/* Command states, as bits so the table can list several. */
enum smtp_state {
	ST_INIT	= 1 << 0,	/* no HELO/EHLO yet */
	ST_READY	= 1 << 1,	/* HELO done, no transaction */
	ST_MAIL	= 1 << 2,	/* MAIL accepted, no recipient yet */
	ST_RCPT	= 1 << 3,	/* at least one recipient */
	ST_BDAT	= 1 << 4,	/* BDAT chunks received, LAST not yet */
};

/* What the input loop does with the next bytes. */
enum smtp_mode {
	MODE_COMMAND,	/* lines through the linebuf */
	MODE_AUTH,	/* lines are SASL responses */
	MODE_DATA,	/* the DATA byte machine until CRLF.CRLF */
	MODE_BDAT,	/* counted chunk bytes */
};

/* The DATA byte machine (qmail's blast(), plus our bare-LF rules). */
enum data_state {
	D_BOL,		/* after CRLF: start of a line */
	D_TEXT,		/* inside a line */
	D_CR,		/* CR seen inside a line */
	D_DOT,		/* "." at the start of a line */
	D_DOT_CR,	/* ".\r" at the start of a line */
	D_BOL_LF,	/* after a bare LF: not a line start for SMTP */
};

struct smtp_session {
	const struct smtp_env	*env;
	const struct session_peer *peer;
	struct session_host	*host;
	struct buf		*out;
	struct linebuf		*lb;

	unsigned		 state;		/* one ST_* */
	enum smtp_mode		 mode;
	bool			 closing;	/* 421/221 sent: take nothing more */
	bool			 starttls;	/* 220 sent: host switches to TLS */
	bool			 esmtp;
	bool			 stopping;	/* SIGTERM: close when idle */
	char			*helo;
	char			*auth_user;
	struct sasl		*sasl;
	bool			 auth_waiting;	/* password check or failed-login delay */
	struct login		*auth_login;	/* password check in flight (lib/login) */
	unsigned		 errors;
	unsigned		 junk_commands;	/* since the last MAIL */

	/* The transaction. */
	struct smtp_msg		*msg;		/* being built, NULL outside one */
	struct smtp_prep	*preparing;	/* msg's local file being created at RCPT */
	bool			 open_waiting;	/* DATA waits for that (smtp_job.c) */
	struct smtp_msg		*opening;	/* its files being created (smtp_job.c) */
	struct smtp_msg		*inflight;	/* being committed, answer pending */
	size_t			 nrcpt;		/* accepted RCPT commands */
	bool			 smtputf8;
	bool			 body_8bit;

	/* DATA / BDAT reading. */
	enum data_state		 dstate;
	uint64_t		 wire_size;	/* bytes received for this message */
	uint64_t		 data_start_ms;	/* DATA or first BDAT: min_data_rate */
	struct buf		 stage;		/* converted bytes not yet written */
	bool			 in_header;	/* msg->header not complete yet */
	bool			 header_bol;	/* the last header byte kept was LF */
	bool			 write_failed;	/* writer open/write failed: 451 at end */
	bool			 oversize;
	bool			 bare_lf;
	struct crlf_decoder	 bdat_crlf;	/* CRLF -> LF, a CR carried between chunks */
	bool			 bdat_last;
	bool			 bdat_discard;	/* read the chunk, then reply bdat_reply */
	const char		*bdat_reply;
	uint64_t		 bdat_left;

	/* Counters for the summary line. */
	unsigned		 ncommands;
	unsigned		 nmessages;
};

/* smtp_reply.c */
void	smtp_reply(struct smtp_session *s, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* An error reply: counted; past max_errors the session ends with 421. */
int	smtp_error(struct smtp_session *s, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	smtp_close(struct smtp_session *s, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	smtp_log_reject(struct smtp_session *s, const char *what, const char *reason);

/* smtp_commands.c */
void	smtp_dispatch(struct smtp_session *s, char *line);
void	smtp_auth_line(struct smtp_session *s, char *line);
void	smtp_txn_reset(struct smtp_session *s);

/* smtp_auth.c */
int	cmd_auth(struct smtp_session *s, char *args);
/* The session goes away while its password check waits or runs. */
void	smtp_auth_orphan(struct smtp_session *s);

/*
 * smtp_data.c.  At end of data (data_end, before smtp_msg_finish or the
 * reject) the message is on disk and s->msg->header holds its header
 * section: buf_head(&s->msg->header) / buf_len() as a const char * and a
 * length (LF line ends, no empty line, not NUL-terminated), with
 * s->msg->header_truncated set if it was longer than max_header_size.
 */
size_t	smtp_data_feed(struct smtp_session *s, const char *data, size_t len);
size_t	smtp_bdat_feed(struct smtp_session *s, const char *data, size_t len);
/*
 * DATA or the first BDAT: open the message (after the prepare begun at
 * RCPT, if it still runs); smtp_data_opened comes after, maybe at once.
 */
void	smtp_data_begin(struct smtp_session *s);
/*
 * The open job's answer (error NULL: opened): DATA says 354, or 451 with
 * the transaction kept; BDAT reads its chunks (then 451 if it failed).
 */
void	smtp_data_opened(struct smtp_session *s, struct smtp_msg *m, const char *error);
void	smtp_bdat_begin(struct smtp_session *s, uint64_t count, bool last);
void	smtp_bdat_discard(struct smtp_session *s, uint64_t count, const char *reply);
/* ms until the DATA/BDAT deadline (data_timeout and min_data_rate); never 0. */
unsigned long long smtp_data_deadline(const struct smtp_session *s, bool *rate_r);

/* smtp_policy.c */
int	smtp_rcpt_add(struct smtp_session *s, const char *addr, unsigned notify,
	    const char *orcpt);
bool	xtext_valid(const char *s);
bool	smtp_may_relay(const struct smtp_session *s);
/*
 * Is there room for a message of size bytes (0: SIZE not given) and still
 * smtpd.min_free_space left?  Unknown free space counts as room.
 */
bool	smtp_policy_disk_ok(const struct smtp_session *s, uint64_t size);
/* May the session use addr ("" = null sender) as its envelope sender? */
bool	smtp_policy_sender_ok(const struct smtp_session *s, const char *addr);
/*
 * The From: check at the end of a message.  header: the message's header
 * section (reading stops at the first empty line; LF or CRLF).  0 if every
 * address of every From: field passes smtp_policy_sender_ok (always, when
 * the session is not authenticated or smtpd.sender_login_match is off; no
 * From: passes too); -1 if not, *bad_addr_r the first failing address,
 * printable (valid until the next call on this thread), or NULL when a
 * From: field is not readable as addresses.
 */
int	smtp_policy_check_from(const struct smtp_session *s, const char *header, size_t len,
	    const char **bad_addr_r);
/* True when the session's From: header must be checked (a truncated header is refused). */
bool	smtp_policy_checks_from(const struct smtp_session *s);

/*
 * smtp_job.c: a message's blocking steps through the host, the session
 * paused meanwhile.  While a job runs the message is the job's (not
 * s->msg); if the session is freed, the job frees the message.
 */
/*
 * After an accepted RCPT: at the message's first local recipient, create
 * its temp file (writer->prepare) while the client goes on; the session
 * does not pause.  Its done hands the file to s->msg, or removes it if the
 * transaction is over (smtp_job_prepare_cancel).  A failure is logged and
 * leaves the creation to the open at DATA (451 there if it fails again).
 */
void	smtp_job_prepare(struct smtp_session *s);
/* The transaction or the session ends: a prepare in flight removes its file. */
void	smtp_job_prepare_cancel(struct smtp_session *s);
/*
 * Create m's files (writer->open), then smtp_data_opened(): at once on the
 * loop when they were prepared at RCPT (local recipients only), else as a
 * job.  Called when no prepare is in flight (DATA waits: s->open_waiting).
 */
void	smtp_job_open(struct smtp_session *s, struct smtp_msg *m);
/* Commit m (writer->commit), then smtp_session_delivered(). */
void	smtp_job_commit(struct smtp_session *s, struct smtp_msg *m);

/* smtp_session.c */
/* Start a new message from s->msg: trace headers, then smtp_job_open. */
void	smtp_msg_open(struct smtp_session *s);
void	smtp_msg_finish(struct smtp_session *s);
/* The commit's answer: 250, 451 or 452, and the session goes on. */
void	smtp_session_delivered(struct smtp_msg *m, int result, const char *error);
bool	smtp_auth_allowed(const struct smtp_session *s);
bool	smtp_auth_required(const struct smtp_session *s);

#endif
