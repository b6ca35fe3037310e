/*
 * The glue between a connection and a socket-free protocol session.
 *
 * A protocol (smtp_session.c, pop3_session.c, ...) implements session_ops:
 * it is fed bytes and appends replies to an output buffer; it never sees
 * an fd or a clock it was not given.  lib/session_host.c drives those ops
 * from a conn on the event loop; unit tests and fuzzers drive them
 * directly with a NULL host and their own buffer.
 */
#ifndef LIB_SESSION_H
#define LIB_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <netinet/in.h>
#include <arpa/inet.h>

struct buf;
struct session_host;

struct session_peer {
	char		 id[17];		/* 16 hex digits, for every log line */
	char		 addr[INET6_ADDRSTRLEN];	/* remote address */
	int		 port;
	char		 local_addr[INET6_ADDRSTRLEN];
	int		 local_port;
	const char	*listener;		/* listener kind: "mx", "submission", "pop3s", ... */
	bool		 loopback;		/* remote is 127.0.0.0/8 or ::1 */
	bool		 tls;			/* TLS active now (updated by the host) */
	char		 tls_info[96];		/* "TLSv1.3 TLS_AES_256_GCM_SHA384" once tls */
};

enum session_want {
	SESSION_READ,		/* running: feed input when it comes */
	SESSION_PAUSE,		/* waiting for async work: feed nothing, call nothing */
	SESSION_STARTTLS,	/* flush output, discard buffered input, handshake, then tls_started */
	SESSION_CLOSE,		/* flush output, then close */
};

struct session_ops {
	/* Create a session and append the greeting to out.  arg: the daemon's context. */
	void		*(*open)(const struct session_peer *peer, struct buf *out,
			    struct session_host *host, void *arg);
	/* Process input; return how many bytes were taken (the rest is fed again later). */
	size_t		 (*input)(void *s, const char *data, size_t len);
	/* Output drained below the low-water mark: continue a streamed reply. */
	void		 (*drained)(void *s);
	void		 (*tls_started)(void *s);
	/* The idle or command deadline passed: append a farewell; want() should say CLOSE. */
	void		 (*timeout)(void *s);
	enum session_want (*want)(void *s);
	void		 (*free)(void *s);
	/* Sent, then the connection closed, when a connection limit refuses a client. */
	const char	*busy_reply;		/* "421 4.7.0 Too many connections\r\n" */
};

/*
 * Called by a session whose async work (a commit on the workq) finished
 * and changed its output or want.  NULL host: no-op (tests).
 */
void	session_host_kick(struct session_host *host);
/* Set the idle/command deadline in ms from now (0: none).  NULL host: no-op. */
void	session_host_set_timeout(struct session_host *host, unsigned long long ms);

/*
 * Call cb(s) after ms on the loop (failed-login delays); the session says
 * SESSION_PAUSE meanwhile.  NULL host: cb runs at once (tests).
 */
void	session_host_after(struct session_host *host, unsigned long long ms, void (*cb)(void *s));

/* New random session id (16 hex digits + NUL). */
void	session_id_new(char id[17]);

#endif
