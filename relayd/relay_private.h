/*
 * relayd's queue runner, shared by its files:
 *   relay_runner.c   the messages in active/, what is due, the timers
 *   relay_attempt.c  one destination's connection: route, transactions
 *   relay_outcome.c  a recipient's outcome: retry, expiry, bounces, removal
 *   relay_local.c    mail for our own domains (bounces to local senders)
 *   relay_control.c  the control socket: mailctl queue
 *
 * Everything runs on the loop thread; file work (reading queue files,
 * committing state, writing bounces) goes to the workq and comes back.
 */
#ifndef RELAYD_RELAY_PRIVATE_H
#define RELAYD_RELAY_PRIVATE_H

#include "queue/queue.h"
#include "queue/queue_state.h"
#include "relayd/relay_conn.h"
#include "relayd/relay_runner.h"

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct dns;
struct ev_io;
struct ev_timer;

/* A message of active/: its envelope in memory, its body read when sent. */
struct rmsg {
	struct rmsg		*next;
	char			*id;
	char			*sender;
	char			*envid;
	int			 ret;
	time_t			 arrival;
	struct queue_rcpt	*rcpts;		/* owned copies */
	size_t			 nrcpts;
	struct queue_state	*st;
	bool			*busy;		/* per recipient: tried, outcome not yet in st */
	unsigned		 jobs;		/* workq jobs or transactions holding it */
	bool			 committing;	/* st is being written: outcomes wait in later */
	struct outcome		*later;
	size_t			 nlater;
	bool			 finishing;	/* bounce/removal under way: hands off */
};

/* An outcome (or a hold) recorded while st was being committed. */
struct outcome {
	enum { OUTCOME_RCPT, OUTCOME_HOLD, OUTCOME_RELEASE } kind;
	size_t			 rcpt;
	enum queue_rcpt_status	 status;
	time_t			 now, next;
	char			*host;
	char			*why;
};

/* Where mail goes: a domain or the smarthost, and the connections open to it. */
struct rdest {
	struct rdest		*next;
	char			*domain;	/* lower case; the smarthost as configured */
	unsigned		 conns;
	unsigned		 due;		/* messages due here, at the last count */
	const struct rmsg	*counted;	/* the last message counted in due */
};

/* One connection's work for a destination. */
struct attempt {
	struct attempt			*next;
	struct relay_runner		*r;
	struct rdest			*dest;
	struct route			*route;
	struct relay_conn		*conn;
	/* the transaction being sent */
	struct rmsg			*msg;
	size_t				*idx;		/* msg recipients in it */
	size_t				 n, told;
	struct smtp_client_rcpt		*crcpts;
	struct smtp_client_msg		 cmsg;
	struct queue_message		*body;
	bool				 loading;	/* the body is being read */
	bool				 orphaned;	/* freed while loading */
	bool				 used;		/* a host was ready */
};

struct relay_runner {
	struct ev_loop			*loop;
	struct workq			*wq;
	struct queue			*queue;
	struct dns			*dns;
	struct relay_runner_config	 cfg;
	struct rmsg			*msgs;
	struct rdest			*dests;
	struct attempt			*attempts;
	unsigned			 conns;
	unsigned			 jobs;		/* on the workq */
	struct ev_timer			*wake;		/* the next due attempt */
	struct ev_timer			*rescan;
	struct ev_io			*notify_io;	/* inotify on active/ */
	int				 notify_fd;
	bool				 scanning;
	bool				 scan_again;
	bool				 stopping;	/* freed when the last job is back */
};

/* relay_runner.c */
void		 runner_submit(struct relay_runner *r, void (*work)(void *),
		    void (*done)(void *), void *arg);
/* In every job's done first: false if r is stopping (then gone, or going). */
bool		 runner_job_back(struct relay_runner *r);
void		 runner_schedule(struct relay_runner *r);
struct rmsg	*runner_find(struct relay_runner *r, const char *id);
void		 runner_forget(struct relay_runner *r, struct rmsg *m);
struct rdest	*runner_dest(struct relay_runner *r, const char *domain);
const char	*rcpt_domain(const char *address);
/* Where address's mail goes: its domain, or the smarthost (a struct rdest's name). */
const char	*rcpt_nexthop(const struct relay_runner *r, const char *address);
bool		 rcpt_due(const struct relay_runner *r, const struct rmsg *m, size_t i, time_t now);

/* relay_attempt.c */
void		 attempt_start(struct relay_runner *r, struct rdest *dest);
void		 attempt_free(struct attempt *a);

/* relay_local.c */
bool		 local_domain(const struct relay_runner *r, const char *domain);
/* m's due recipients in our own domains, into their mailboxes. */
void		 local_start(struct relay_runner *r, struct rmsg *m, time_t now);

/* relay_outcome.c */
/* The outcome of recipient i (an SMTP reply, or one made here); in memory. */
void		 outcome_record(struct relay_runner *r, struct rmsg *m, size_t i,
		    const struct smtp_reply *reply, const char *host);
/* Hold m (no attempt until released) or release it; durable at the next commit. */
void		 outcome_hold(struct relay_runner *r, struct rmsg *m, bool held);
/* Make m's recorded outcomes durable, then act on them (bounce, remove). */
void		 outcome_commit(struct relay_runner *r, struct rmsg *m);

#endif
