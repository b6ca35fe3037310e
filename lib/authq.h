/*
 * Password checks waiting their turn: at most `max` run at once in this
 * process, the others wait in a FIFO on the loop (not on a workq thread,
 * whose threads the store's jobs share).  yescrypt is memory-hard (~16 MB
 * per check while it runs): ten logins at once would hold ten times that
 * for no more speed than the cores give.  One queue per process, used by
 * every daemon's logins (pop3d USER/PASS and AUTH, smtpd AUTH, imapd).
 * Loop thread only.
 */
#ifndef LIB_AUTHQ_H
#define LIB_AUTHQ_H

#include <stdbool.h>
#include <stddef.h>

struct authq;
struct session_host;

/* max: checks at once (0: no bound). */
struct authq	*authq_new(unsigned max);
/* Takes effect as checks end (reload). */
void		 authq_set_max(struct authq *q, unsigned max);
/*
 * The process stops (before its workq is freed, whose last `done`s would
 * otherwise submit more): nothing more starts; waiting checks wait until
 * their sessions cancel them.
 */
void		 authq_stop(struct authq *q);
/* Every check must have ended or been cancelled (a bug otherwise: abort). */
void		 authq_free(struct authq **q);

/*
 * Run work(arg) through session_host_submit on host once fewer than max
 * run, in the order asked; done(arg) follows on the loop as with submit.
 * Until its turn comes nothing runs: the session stays paused.
 */
void		 authq_submit(struct authq *q, struct session_host *host,
		    void (*work)(void *arg), void (*done)(void *arg), void *arg);
/*
 * The session of arg goes away.  True if its check was still waiting:
 * it is dropped unchecked, neither work nor done will run, arg is the
 * caller's again.  False if it runs already: done(arg) will come, and
 * must find the session gone (arg must tell it).
 */
bool		 authq_cancel(struct authq *q, void *arg);

/* For tests and logs: checks running now, and waiting. */
unsigned	 authq_running(const struct authq *q);
size_t		 authq_waiting(const struct authq *q);

#endif
