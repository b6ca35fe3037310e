/*
 * The SMTP session: a socket-free state machine implementing
 * lib/session.h's session_ops.  Everything it needs from outside comes in
 * one struct smtp_env, so unit tests and the fuzzer drive the real code
 * with no sockets, no store and a fixed clock.
 */
#ifndef SMTPD_SMTP_SESSION_H
#define SMTPD_SMTP_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "mail/dsn.h"

struct authfail;
struct turnq;
struct passcache;
struct directory;
struct relaynets;
struct session_peer;
struct session_host;
struct smtp_local_rcpt;
struct smtp_msg;

/*
 * Where a message goes while it arrives, so that a session's memory does
 * not grow with the message, and how it is made durable.  ctx is
 * env->writer_ctx.  The session runs open() and commit() off the event
 * loop, as jobs through its host (session_host_submit), paused meanwhile:
 * they create, fsync and rename files, and a slow file system must stall
 * that one message, not every session of the loop.  Both touch only the
 * message they are given (not the session).
 * prepare() runs when the first local recipient is accepted, while the
 * client goes on to DATA (Postfix creates its queue file at the first
 * RCPT): it creates the local temp file in that recipient's Maildir and
 * touches only its arguments; the session keeps the result in
 * m->prepared.  unprepare() (loop thread) removes a prepared file never
 * opened (RSET, a new MAIL, QUIT, timeout, connection lost).
 * open() runs when DATA or the first BDAT starts (sender, recipients,
 * return_path and received are set): it takes m->prepared over (and sets
 * it to NULL), adds the recipients accepted after the first, creates the
 * files not prepared (in m->stream) and writes the trace headers first.
 * When m->prepared is set and m has no remote recipient it creates
 * nothing, and the session calls it on the loop: the 354 goes at once.
 * write() (loop thread) appends the message as received (CRLF already
 * LF), staged into chunks of SMTP_STAGE_SIZE or more: page cache only; an
 * error may also be kept and reported by the commit.
 * commit() takes m->stream over (and sets it to NULL) and makes the
 * message durable everywhere, or nowhere visible; it returns
 * SMTP_DELIVERED or an SMTP_DELIVERY_* with the reason in error.  Until
 * then smtp_msg_free() calls discard() (loop thread), which removes every
 * partial file (RSET, QUIT, oversize, rejected, timeout, connection lost).
 */
struct smtp_writer {
	void	*(*prepare)(void *ctx, const struct smtp_local_rcpt *first, const char **error_r);
	void	(*unprepare)(void *prepared);
	int	(*open)(void *ctx, struct smtp_msg *m, const char **error_r);
	int	(*write)(struct smtp_msg *m, const void *data, size_t len);
	void	(*discard)(struct smtp_msg *m);
	int	(*commit)(void *ctx, struct smtp_msg *m, char *error, size_t errsize);
};

/* Message bytes are staged in the session and written in chunks of this. */
#define SMTP_STAGE_SIZE	(64 * 1024)

struct smtp_env {
	const char		*hostname;
	const char		*mail_root;	/* for directory_maildir() */
	size_t			 max_message_size;
	size_t			 max_header_size;	/* kept in smtp_msg.header */
	size_t			 max_line_length;
	unsigned		 max_recipients;
	unsigned		 max_expansion;	/* users one RCPT may expand to */
	unsigned		 max_commands_before_mail;
	unsigned		 max_errors;
	unsigned long long	 idle_timeout;	/* ms */
	unsigned long long	 greeting_timeout;	/* ms, until the first EHLO/HELO */
	unsigned long long	 data_timeout;	/* ms */
	unsigned		 min_data_rate;	/* bytes/s after data_timeout; 0: off */
	bool			 vrfy;
	bool			 bare_lf_reject;
	bool			 plaintext_auth_loopback;
	bool			 tls_available;	/* STARTTLS can be offered */
	bool			 sender_login_match;	/* AUTH: send only as own addresses */
	bool			 sender_allow_null;	/* AUTH: MAIL FROM:<> allowed too */
	uint64_t		 min_free_space;	/* bytes; MAIL gets 452 below it; 0: off */
	/* Bytes free to unprivileged users where mail and queue go; -1: unknown. */
	int			(*free_space)(uint64_t *bytes_r);
	struct directory	*dir;		/* swapped on reload */
	const struct relaynets	*relaynets;	/* NULL: none */
	struct authfail		*authfail;	/* NULL: no delays */
	struct turnq		*authq;		/* password checks take turns (lib/turnq.h) */
	struct passcache	*passcache;	/* logins verified lately (lib/passcache.h) */
	const struct smtp_writer *writer;
	void			*writer_ctx;
	uint64_t		(*now_ms)(void);	/* wall clock, ms since the epoch */
};

struct smtp_local_rcpt {
	char		*address;	/* canonical user address */
	char		*maildir;
	uint64_t	 quota_bytes;
	uint64_t	 quota_messages;
};

struct smtp_remote_rcpt {
	char		*address;
	unsigned	 notify;	/* DSN_NOTIFY_* */
	char		*orcpt;		/* "rfc822;xtext" as given, or NULL */
};

/* One message, from MAIL to its commit. */
struct smtp_msg {
	char			 queueid[17];
	char			*sender;	/* "" for the null sender */
	char			*envid;		/* DSN ENVID (xtext) or NULL */
	enum dsn_ret		 ret;
	char			*auth_user;	/* NULL unless authenticated */
	struct smtp_local_rcpt	*local;
	size_t			 nlocal;
	struct smtp_remote_rcpt	*remote;
	size_t			 nremote;
	char			*return_path;	/* "Return-Path: <...>\n" for local delivery */
	char			*received;	/* our Received: header, LF line ends */
	/*
	 * The header section as received (LF line ends, up to but not
	 * including the empty line that ends it; all of it if there is no
	 * body), at most env->max_header_size bytes: header_truncated says
	 * more was received (and written to disk).  Complete at end of data,
	 * for checks on the header: buf_head(&m->header), buf_len(&m->header).
	 */
	struct buf		 header;
	bool			 header_truncated;
	uint64_t		 size;		/* message bytes after CRLF -> LF */
	const struct smtp_writer *writer;	/* set with prepared or stream */
	void			*prepared;	/* writer->prepare's file; NULL: none */
	bool			 prepare_begun;	/* at the first local RCPT */
	void			*stream;	/* the writer's files; NULL: none */
	void			*session;	/* while a job runs: NULL once the session is gone */
};

/* The writer's commit answer: nothing visible unless SMTP_DELIVERED. */
enum {
	SMTP_DELIVERED		= 0,	/* durable everywhere: 250 */
	SMTP_DELIVERY_TEMP	= -1,	/* 451 4.3.0, the client retries */
	SMTP_DELIVERY_FULL	= -2,	/* 452 4.2.2: a recipient is over quota */
};
void	smtp_msg_free(struct smtp_msg **msg);

/* The ops for daemon_run; open()'s arg is the struct smtp_env. */
extern const struct session_ops smtp_session_ops;

/* Relay networks: "10.0.0.0/8, ::1/128" (empty: none). */
struct relaynets *relaynets_parse(const char *spec, const char **error_r);
bool		 relaynets_match(const struct relaynets *r, const char *addr);
void		 relaynets_free(struct relaynets **r);

#endif
