/*
 * The glue between a connection and a socket-free protocol session.
 *
 * A protocol (smtp_session.c, pop3_session.c, ...) implements session_ops:
 * it is fed bytes and appends replies to an output buffer; it never sees
 * an fd or a clock it was not given.  What it may ask of whoever drives it
 * is the session_host API below.  Two hosts implement that API:
 * lib/session_host.c (a conn on the event loop) and tests/unit/host_double.c
 * (callbacks queued until the test runs them, a manual clock), so unit
 * tests and fuzzers see the production ordering: nothing a session asks
 * for calls back into it before the asking call has returned.
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
	void		 (*tls_started)(void *s);
	/* The idle or command deadline passed: append a farewell; want() should say CLOSE. */
	void		 (*timeout)(void *s);
	enum session_want (*want)(void *s);
	void		 (*free)(void *s);
	/*
	 * Optional.  The server is stopping (SIGTERM): append a farewell and say
	 * SESSION_CLOSE, or finish what is in progress first.  The host calls it
	 * only between commands as it sees them: never while the session says
	 * SESSION_PAUSE or streams a reply (it waits for that to end).
	 * NULL: the host closes the session once it is quiet (want() says
	 * SESSION_READ, nothing buffered either way, no input for a second),
	 * or at the hard stop (10 s).
	 */
	void		 (*shutdown)(void *s);
	/*
	 * Optional.  The peer went away while the session said SESSION_PAUSE:
	 * drop the work nobody will read the answer of (a password check still
	 * waiting its turn).  If want() then stops saying SESSION_PAUSE the
	 * session is freed at once; else the host waits for the pause to end,
	 * as it does without this (a commit must finish).
	 */
	void		 (*peer_gone)(void *s);
	/* Sent, then the connection closed, when a connection limit refuses a client. */
	const char	*busy_reply;		/* "421 4.7.0 Too many connections\r\n" */
};

/*
 * What a session may ask of its host.  Every call returns before anything
 * it arranges calls into the session (but see submit); callbacks get the
 * session (the pointer ops->open returned).  After each callback, and after a kick, the
 * host acts on want() again: feeds held input, starts TLS, closes.
 */
typedef bool	(*session_more_fn)(void *s);

struct session_host_ops {
	void	(*kick)(struct session_host *h);
	void	(*set_timeout)(struct session_host *h, unsigned long long ms);
	void	(*after)(struct session_host *h, unsigned long long ms, void (*cb)(void *s));
	void	(*submit)(struct session_host *h, void (*work)(void *arg),
		    void (*done)(void *arg), void *arg);
	bool	(*output_full)(const struct session_host *h);
	void	(*stream)(struct session_host *h, session_more_fn more);
	int	(*watch)(struct session_host *h, int fd, void (*cb)(void *s));
};

struct session_host {
	const struct session_host_ops	*ops;
};

/* Something changed outside a callback (async work finished): look at want() again. */
void	session_host_kick(struct session_host *h);
/*
 * Set the idle/command deadline in ms from now (0: none); ops->timeout when
 * it passes.  While the session's listener is under stress the host cuts it
 * to the stress timeout.
 */
void	session_host_set_timeout(struct session_host *h, unsigned long long ms);
/*
 * The session's one timer: cb(s) once, after ms (failed-login delays,
 * IMAP IDLE keep-alives).  A second call replaces a pending one.
 */
void	session_host_after(struct session_host *h, unsigned long long ms, void (*cb)(void *s));
/*
 * Blocking work (fsync, crypt, a mailbox sync): work(arg) off the loop,
 * then done(arg) on the loop thread.  work touches only arg, and arg is
 * the job's once submitted: with io_threads = 0 the workq runs both inside
 * this call (the test double never does).  The session usually says
 * SESSION_PAUSE until done, which then calls session_host_kick.  If the
 * session was freed meanwhile (the server stopped), done still runs: arg
 * must tell it so.
 */
void	session_host_submit(struct session_host *h, void (*work)(void *arg),
	    void (*done)(void *arg), void *arg);
/*
 * The one back-pressure rule: true while the output not yet sent is at or
 * above the host's high-water mark.  A session stops producing then (it
 * takes no more input, a streamed reply waits); the host feeds input
 * again, or calls the stream's more(), once the output has drained below
 * half the mark.
 */
bool	session_host_output_full(const struct session_host *h);
/*
 * A reply produced in parts (POP3 RETR, IMAP FETCH): the host calls
 * more(s) while the output is below the mark, now and after each drain,
 * until it returns true (finished); meanwhile no input is fed and
 * ops->shutdown waits.  more() should stop (return false) once
 * session_host_output_full() says so.  One stream per session.  While
 * the session says SESSION_PAUSE (it waits for a job of its own, whose
 * done kicks the host) more() is not called either.
 */
void	session_host_stream(struct session_host *h, session_more_fn more);
/*
 * The session's one extra descriptor (IMAP IDLE's inotify): cb(s) each time
 * fd is readable, also while the session pauses.  fd -1 stops watching; the
 * caller closes fd (after stopping).  Returns 0, or -1 if fd cannot be watched.
 */
int	session_host_watch(struct session_host *h, int fd, void (*cb)(void *s));

/* New random session id (16 hex digits + NUL). */
void	session_id_new(char id[17]);

/*
 * The host side, for daemon.c and tests: the live sessions of one protocol
 * in this process, each a conn driving a session_ops, with the
 * per-process connection limits.  Logs one line when a connection opens
 * and one (duration, bytes in/out) when it closes.
 */
struct conntab;
struct ev_loop;
struct session_pool;
struct workq;

#define SESSION_LISTENERS_MAX	8

/* A limit of its own for one listener kind ("mx"), per process. */
struct session_listener_limit {
	const char	*kind;			/* NULL: unused slot */
	unsigned	 max_connections;	/* over it: busy_reply, close */
};

struct session_pool_limits {
	unsigned	 max_connections;	/* per process; over it: busy_reply, close */
	unsigned	 max_per_ip;		/* per client address, in conns: every worker's */
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
	{ 2000, 20, 64 * 1024, 64 * 1024, 4 * 1024 * 1024, 10 * 1000, { { NULL, 0 } }, 0, 0 }

/*
 * arg is passed to ops->open.  conns counts the connections per client
 * address (max_per_ip) with the daemon's other workers; it outlives the
 * pool.  A full table refuses like a limit (reason=connection_table_full).
 */
struct session_pool *session_pool_new(struct ev_loop *loop, const struct session_ops *ops,
		    void *arg, const struct session_pool_limits *limits, struct conntab *conns);
/* Closes every session now (ops->free, no farewell). */
void		 session_pool_free(struct session_pool **pool);
/* New limits apply to new connections (reload). */
void		 session_pool_set_limits(struct session_pool *pool, const struct session_pool_limits *l);
/* Context for implicit TLS and STARTTLS; NULL: none (STARTTLS then closes). */
void		 session_pool_set_tls(struct session_pool *pool, SSL_CTX *ctx);
/* Where session_host_submit() work runs (set before the first accept). */
void		 session_pool_set_workq(struct session_pool *pool, struct workq *wq);

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
/* Sessions open on one listener kind (0 for a kind never seen). */
unsigned	 session_pool_listener_count(const struct session_pool *pool, const char *listener);

/*
 * Reload bookkeeping: sessions remember the generation current when they
 * opened, so the daemon can free an old config or directory once no
 * session older than its replacement is left.
 */
void		 session_pool_set_generation(struct session_pool *pool, unsigned gen);
/* Oldest generation among live sessions; UINT_MAX when there are none. */
unsigned	 session_pool_oldest_generation(const struct session_pool *pool);

#endif
