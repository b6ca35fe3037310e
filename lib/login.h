/*
 * A login's password check, run the same way by every daemon (smtpd AUTH,
 * pop3d, imapd).  Once an address has recent failures (lib/authfail),
 * every answer to it waits, success or not, and the answer's time is fixed
 * before the password is checked: the timing tells a guesser nothing.  The
 * check (crypt(3): tens of ms of CPU, ~16 MB for yescrypt) runs on the
 * workq in its turn in the process's authq; its outcome is recorded in the
 * failed-login table.  The caller keeps its session paused from
 * login_start() until done runs or it calls login_cancel().  Loop thread
 * only.
 */
#ifndef LIB_LOGIN_H
#define LIB_LOGIN_H

#include <stdbool.h>
#include <stdint.h>

struct authfail;
struct turnq;
struct dir_user;
struct directory;
struct login;
struct passcache;
struct session_host;

/* What a daemon checks logins with (copied by login_start). */
struct login_env {
	struct turnq		*authq;
	struct authfail		*authfail;	/* NULL: no delays, nothing recorded */
	uint64_t		 (*now_ms)(void);	/* authfail's clock; NULL: ev_clock_ms */
	struct passcache	*passcache;	/* logins verified lately; NULL: none */
};

struct login_result {
	const char		*user;		/* as the client gave it (for the log) */
	const struct dir_user	*u;		/* NULL: the check failed */
	uint64_t		 answer_at;	/* no answer before (login_delay) */
};

/*
 * Is addr refused unchecked (too many failures)?  *delay_r (if not NULL):
 * how long any answer to it waits now.  A refusal is not recorded: the block runs from
 * the failure that set it.
 */
bool		 login_blocked(const struct login_env *env, const char *addr,
		    uint64_t *delay_r);
/* ms from now until answer_at (0 if it has passed). */
uint64_t	 login_delay(const struct login_env *env, uint64_t answer_at);

/*
 * Check user's password against dir (NULL: every check fails) for the
 * client at addr; done(arg, result) runs on host's loop with the outcome,
 * already recorded.  The result's strings live until done returns; dir
 * must outlive the check (a reloaded directory is retired, not freed).
 */
struct login	*login_start(const struct login_env *env, struct session_host *host,
		    const char *addr, const struct directory *dir, const char *user,
		    const char *password, void (*done)(void *arg, const struct login_result *r),
		    void *arg);
/* The session goes away before done: done never runs.  *l is NULL after. */
void		 login_cancel(struct login **l);
/*
 * The client went away: if the check is still waiting its turn, drop it
 * unchecked (nothing recorded, *l NULL, done never runs) and return true;
 * a check that runs already is left to finish and be recorded.
 */
bool		 login_drop_waiting(struct login **l);

#endif
