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

struct authfail;
struct directory;
struct relaynets;
struct session_peer;
struct session_host;
struct smtp_msg;

/* RFC 3461 NOTIFY bits; 0 = not given (default: FAILURE,DELAY). */
enum {
	DSN_NOTIFY_NEVER	= 1 << 0,
	DSN_NOTIFY_SUCCESS	= 1 << 1,
	DSN_NOTIFY_FAILURE	= 1 << 2,
	DSN_NOTIFY_DELAY	= 1 << 3,
};
enum dsn_ret { DSN_RET_DEFAULT, DSN_RET_FULL, DSN_RET_HDRS };

/*
 * Start the durable commit of msg.  Later (or before returning, in tests)
 * call smtp_session_delivered(msg, ...) exactly once, on the loop thread.
 */
typedef void	(*smtp_deliver_fn)(void *ctx, struct smtp_msg *msg);

/*
 * Where a message goes while it arrives, so that a session's memory does
 * not grow with the message.  open() runs when DATA or the first BDAT
 * starts (sender, recipients, return_path and received are set): it opens
 * the message's files (in m->stream) and writes the trace headers first.
 * write() appends the message as received (CRLF already LF), staged into
 * chunks of SMTP_STAGE_SIZE or more; an error may also be kept and
 * reported by the commit.
 * Then env->deliver takes m->stream over (and sets it to NULL); until
 * then smtp_msg_free() calls discard(), which removes every partial file
 * (RSET, QUIT, oversize, rejected, timeout, connection lost).  All three
 * run on the loop thread.  ctx is env->deliver_ctx.
 */
struct smtp_writer {
	int	(*open)(void *ctx, struct smtp_msg *m, const char **error_r);
	int	(*write)(struct smtp_msg *m, const void *data, size_t len);
	void	(*discard)(struct smtp_msg *m);
};

/* Message bytes are staged in the session and written in chunks of this. */
#define SMTP_STAGE_SIZE	(64 * 1024)

/* A login to check: smtp_auth_verify(req) (any thread), then smtp_session_auth_done(req). */
struct smtp_auth_req {
	struct directory	*dir;
	char			*user;
	char			*password;
	char			*result;	/* canonical address if the login is good */
	void			*session;	/* NULL once the session is gone */
	uint64_t		 answer_at;	/* authfail_now(): no answer before (loop only) */
};
typedef void	(*smtp_auth_fn)(void *ctx, struct smtp_auth_req *req);

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
	smtp_deliver_fn		 deliver;
	void			*deliver_ctx;	/* also the writer's */
	const struct smtp_writer *writer;
	smtp_auth_fn		 authenticate;	/* NULL: checked inline (tests) */
	void			*auth_ctx;
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

/* One accepted message, handed to env->deliver. */
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
	const struct smtp_writer *writer;	/* set with stream */
	void			*stream;	/* the writer's files; NULL: none */
	void			*session;	/* NULL once the session is gone */
	uint64_t		 answer_at;	/* authfail_now(): no answer before (loop only) */
};

/* The deliver callback's answer (result): nothing visible unless SMTP_DELIVERED. */
enum {
	SMTP_DELIVERED		= 0,	/* durable everywhere: 250 */
	SMTP_DELIVERY_TEMP	= -1,	/* 451 4.3.0, the client retries */
	SMTP_DELIVERY_FULL	= -2,	/* 452 4.2.2: a recipient is over quota */
};
void	smtp_session_delivered(struct smtp_msg *msg, int result, const char *error);
void	smtp_msg_free(struct smtp_msg **msg);

void	smtp_auth_verify(struct smtp_auth_req *req);
/* On the loop thread, exactly once per request. */
void	smtp_session_auth_done(struct smtp_auth_req *req);

/* The ops for daemon_run; open()'s arg is the struct smtp_env. */
extern const struct session_ops smtp_session_ops;

/* Relay networks: "10.0.0.0/8, ::1/128" (empty: none). */
struct relaynets *relaynets_parse(const char *spec, const char **error_r);
bool		 relaynets_match(const struct relaynets *r, const char *addr);
void		 relaynets_free(struct relaynets **r);

#endif
