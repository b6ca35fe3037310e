/*
 * Workq jobs taking turns: at most `max` run at once in this process, the
 * others wait in a FIFO on the loop (not on a workq thread, whose threads
 * the store's jobs share).  For work only the CPU speeds up and that holds
 * memory while it runs: more at once than cores adds memory, not speed.
 * Password checks take turns in one queue per process, used by every
 * daemon's logins (pop3d USER/PASS and AUTH, smtpd AUTH, imapd): yescrypt
 * holds ~16 MB per check while it runs.  pop3d's maildrop opens take turns
 * in another: each holds its index's cache pages while it walks it.  Loop
 * thread only.
 */
#ifndef LIB_TURNQ_H
#define LIB_TURNQ_H

#include <stdbool.h>
#include <stddef.h>

struct turnq;
struct session_host;

/* max: jobs at once (0: no bound). */
struct turnq	*turnq_new(unsigned max);
/* Takes effect as jobs end (reload). */
void		 turnq_set_max(struct turnq *q, unsigned max);
/*
 * The process stops (before its workq is freed, whose last `done`s would
 * otherwise submit more): nothing more starts; waiting jobs wait until
 * their sessions cancel them.
 */
void		 turnq_stop(struct turnq *q);
/* Every job must have ended or been cancelled (a bug otherwise: abort). */
void		 turnq_free(struct turnq **q);

/*
 * Run work(arg) through session_host_submit on host once fewer than max
 * run, in the order asked; done(arg) follows on the loop as with submit.
 * Until its turn comes nothing runs: the session stays paused.
 */
void		 turnq_submit(struct turnq *q, struct session_host *host,
		    void (*work)(void *arg), void (*done)(void *arg), void *arg);
/*
 * The session of arg goes away.  True if its job was still waiting:
 * it is dropped, neither work nor done will run, arg is the
 * caller's again.  False if it runs already: done(arg) will come, and
 * must find the session gone (arg must tell it).
 */
bool		 turnq_cancel(struct turnq *q, void *arg);

/* For tests and logs: jobs running now, and waiting. */
unsigned	 turnq_running(const struct turnq *q);
size_t		 turnq_waiting(const struct turnq *q);

#endif
