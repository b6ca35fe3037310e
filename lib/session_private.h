/*
 * Inside the session host, shared by lib/session_pool.c (the live sessions
 * of one protocol in this process: limits, counts, stress, accept,
 * shutdown) and lib/session_host.c (one conn driving one session, and the
 * session_host API that session sees).  Nothing else includes this.
 */
#ifndef LIB_SESSION_PRIVATE_H
#define LIB_SESSION_PRIVATE_H

#include "lib/session.h"
#include "lib/session_drive.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct conn;
struct conn_limits;
struct conntab;
struct ev_io;
struct ev_loop;
struct ev_timer;
struct workq;

/* Live sessions of one listener kind in this pool. */
struct pool_kind {
	const char	*kind;		/* NULL: unused */
	unsigned	 count;
	bool		 stressed;
};

struct session_pool {
	struct ev_loop			*loop;
	const struct session_ops	*ops;
	void				*arg;
	struct session_pool_limits	 limits;
	SSL_CTX				*tls;
	struct workq			*wq;
	struct host			*hosts;		/* doubly linked */
	size_t				 count;
	unsigned			 gen;
	bool				 stopping;
	struct conntab			*conns;		/* per address, shared by the workers */
	struct pool_kind		 kinds[SESSION_LISTENERS_MAX];
};

struct host {
	struct session_host	 base;		/* what the session sees */
	struct session_pool	*pool;
	struct host		*prev, *next;
	struct conn		*conn;		/* NULL: peer gone, session still PAUSEd */
	struct session_drive	 dr;		/* the session, fed by lib/session_drive */
	struct session_peer	 peer;
	unsigned		 addr_slot;	/* its count in pool->conns */
	struct pool_kind	*kind;		/* NULL: more kinds than slots */
	uint64_t		 deadline_ms;	/* of the session's timeout; 0: none */
	struct ev_timer		*soon;		/* settle from the loop (kicks) */
	struct ev_timer		*after;
	void			(*after_cb)(void *s);
	struct ev_io		*watch;
	void			(*watch_cb)(void *s);
	uint64_t		 start_ms;
	uint64_t		 last_input_ms;
	unsigned		 gen;
	bool			 implicit_tls;
	bool			 tls_requested;
	bool			 paused;	/* last want() was PAUSE */
	bool			 closing;	/* close after flush requested */
	bool			 peer_gone;	/* conn reported CLOSED while the session paused */
	unsigned long long	 bytes_in, bytes_out;
	char			 reason[160];
};

/* session_pool.c */
/* The session's deadline as the host applies it: cut short under stress. */
unsigned long long pool_deadline(const struct host *h, unsigned long long ms);
/* h goes: its counts and its place in the pool (h itself is the caller's to free). */
void	pool_forget(struct host *h);

/* session_host.c */
/* Give h its conn on fd, its timers and the session API; the session opens later. */
void	host_attach(struct host *h, int fd, const struct conn_limits *cl);
/* ops->open, then (stopping) a shutdown pending. */
void	host_open(struct host *h);
/* Act on want() until it is stable; flush. */
void	host_settle(struct host *h);
void	host_close_now(struct host *h, const char *why);
/* Free the session, log the close, forget h. */
void	host_destroy(struct host *h);
/* Settle from the loop soon (never inside the caller). */
void	host_kick(struct host *h);

#endif
