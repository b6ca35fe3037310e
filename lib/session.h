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
#include <openssl/ssl.h>

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
	/*
	 * Optional.  The server is stopping (SIGTERM): finish the command in
	 * progress, append a farewell and say SESSION_CLOSE (at once if idle).
	 * NULL: the host closes the session once it is quiet (want() says
	 * SESSION_READ, nothing buffered either way, no input for a second),
	 * or at the hard stop (10 s).
	 */
	void		 (*shutdown)(void *s);
	/* Sent, then the connection closed, when a connection limit refuses a client. */
	const char	*busy_reply;		/* "421 4.7.0 Too many connections\r\n" */
};

/*
 * Called by a session whose async work (a commit on the workq) finished
 * and changed its output or want.  NULL host: no-op (tests).
 */
void	session_host_kick(struct session_host *host);
/*
 * Set the idle/command deadline in ms from now (0: none); while the
 * session's listener is under stress the host cuts it to the stress
 * timeout.  NULL host: no-op.
 */
void	session_host_set_timeout(struct session_host *host, unsigned long long ms);

/*
 * Call cb(s) after ms on the loop (failed-login delays); the session says
 * SESSION_PAUSE meanwhile.  s is the session itself (so that a NULL host
 * can still call it).  NULL host: cb(s) runs at once (tests).  One pending
 * call per host: a second replaces the first.
 */
void	session_host_after(struct session_host *host, void *s, unsigned long long ms,
	    void (*cb)(void *s));

/* New random session id (16 hex digits + NUL). */
void	session_id_new(char id[17]);

/*
 * The host side, for daemon.c and tests: the live sessions of one protocol
 * in this process, each a conn driving a session_ops, with the
 * per-process connection limits.  Logs one line when a connection opens
 * and one (duration, bytes in/out) when it closes.
 */
struct ev_loop;
struct session_pool;

#define SESSION_LISTENERS_MAX	8

/* A limit of its own for one listener kind ("mx"), per process. */
struct session_listener_limit {
	const char	*kind;			/* NULL: unused slot */
	unsigned	 max_connections;	/* over it: busy_reply, close */
};

struct session_pool_limits {
	unsigned	 max_connections;	/* per process; over it: busy_reply, close */
	unsigned	 max_per_ip;		/* per process and client address */
	size_t		 input_max;		/* conn_limits for each connection */
	size_t		 output_high;
	size_t		 output_max;
	/* After want() said CLOSE: how long the farewell may take to drain. */
	unsigned long long close_linger_ms;
	/* Kinds not named here share max_connections only. */
	struct session_listener_limit listeners[SESSION_LISTENERS_MAX];
	/*
	 * Stress (Postfix's stress-adaptive timeouts): while a listener holds
	 * stress_percent of its own limit, or the pool of max_connections,
	 * its sessions' deadlines are cut to stress_timeout_ms, those already
	 * running included.  0 in either: off.
	 */
	unsigned	 stress_percent;
	unsigned long long stress_timeout_ms;
};
#define SESSION_POOL_LIMITS_DEFAULT \
	{ 2000, 20, 64 * 1024, 256 * 1024, 4 * 1024 * 1024, 10 * 1000, { { NULL, 0 } }, 0, 0 }

/* arg is passed to ops->open. */
struct session_pool *session_pool_new(struct ev_loop *loop, const struct session_ops *ops,
		    void *arg, const struct session_pool_limits *limits);
/* Closes every session now (ops->free, no farewell). */
void		 session_pool_free(struct session_pool **pool);
/* New limits apply to new connections (reload). */
void		 session_pool_set_limits(struct session_pool *pool, const struct session_pool_limits *l);
/* Context for implicit TLS and STARTTLS; NULL: none (STARTTLS then closes). */
void		 session_pool_set_tls(struct session_pool *pool, SSL_CTX *ctx);

/*
 * Take over an accepted socket.  listener: the kind, as in
 * session_peer.listener (must outlive the session).  implicit_tls: the
 * handshake runs before ops->open.  Returns 0, or -1 if refused by a limit
 * (busy_reply sent when plaintext, fd closed, logged).
 */
int		 session_pool_accept(struct session_pool *pool, int fd, const char *listener,
		    bool implicit_tls);
/* Stopping: ops->shutdown on each session (or close the idle ones). */
void		 session_pool_shutdown(struct session_pool *pool);
size_t		 session_pool_count(const struct session_pool *pool);

/*
 * Reload bookkeeping: sessions remember the generation current when they
 * opened, so the daemon can free an old config or directory once no
 * session older than its replacement is left.
 */
void		 session_pool_set_generation(struct session_pool *pool, unsigned gen);
/* Oldest generation among live sessions; UINT_MAX when there are none. */
unsigned	 session_pool_oldest_generation(const struct session_pool *pool);

#endif
