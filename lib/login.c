/*
 * A login's password check (lib/login.h): the answer time fixed first,
 * the check in its turn on the workq, the outcome recorded on the loop.
 */
#include "lib/login.h"

#include "lib/authfail.h"
#include "lib/turnq.h"
#include "lib/directory.h"
#include "lib/ev.h"
#include "lib/xmalloc.h"

#include <stdlib.h>
#include <string.h>

struct login {
	struct login_env	 env;
	const struct directory	*dir;
	char			*addr;
	char			*user;
	char			*password;
	uint64_t		 answer_at;
	const struct dir_user	*u;		/* the outcome */
	void			(*done)(void *arg, const struct login_result *r);
	void			*arg;
	bool			 cancelled;	/* while the check ran: check_done only frees */
};

static uint64_t
now_ms(const struct login_env *env)
{
	return env->now_ms != NULL ? env->now_ms() : ev_clock_ms();
}

bool
login_blocked(const struct login_env *env, const char *addr, uint64_t *delay_r)
{
	uint64_t	 now;

	if (delay_r != NULL)
		*delay_r = 0;
	if (env->authfail == NULL)
		return false;
	now = now_ms(env);
	if (delay_r != NULL)
		*delay_r = authfail_delay(env->authfail, addr, now);
	return authfail_blocked(env->authfail, addr, now);
}

uint64_t
login_delay(const struct login_env *env, uint64_t answer_at)
{
	uint64_t	 now = now_ms(env);

	return answer_at > now ? answer_at - now : 0;
}

static void
login_free(struct login *l)
{
	explicit_bzero(l->password, strlen(l->password));
	free(l->password);
	free(l->user);
	free(l->addr);
	free(l);
}

/* On a workq thread: touches only l and the (immutable) directory. */
static void
check_work(void *arg)
{
	struct login	*l = arg;

	if (l->dir != NULL)
		l->u = directory_authenticate(l->dir, l->user, l->password, l->env.passcache);
}

static void
check_done(void *arg)
{
	struct login		*l = arg;
	struct login_result	 r = { l->user, l->u, l->answer_at };

	if (!l->cancelled) {
		if (l->env.authfail != NULL)
			authfail_record(l->env.authfail, l->addr, l->u != NULL, now_ms(&l->env));
		l->done(l->arg, &r);
	}
	login_free(l);
}

struct login *
login_start(const struct login_env *env, struct session_host *host, const char *addr,
    const struct directory *dir, const char *user, const char *password,
    void (*done)(void *arg, const struct login_result *r), void *arg)
{
	struct login	*l = xcalloc(1, sizeof(*l));
	uint64_t	 now = now_ms(env);

	l->env = *env;
	l->dir = dir;
	l->addr = xstrdup(addr);
	l->user = xstrdup(user);
	l->password = xstrdup(password);
	/* Fixed now, before the check: its outcome cannot change it. */
	l->answer_at = now;
	if (env->authfail != NULL)
		l->answer_at += authfail_delay(env->authfail, addr, now);
	l->done = done;
	l->arg = arg;
	turnq_submit(env->authq, host, check_work, check_done, l);
	return l;
}

bool
login_drop_waiting(struct login **lp)
{
	struct login	*l = *lp;

	if (l == NULL || !turnq_cancel(l->env.authq, l))
		return false;
	login_free(l);
	*lp = NULL;
	return true;
}

void
login_cancel(struct login **lp)
{
	struct login	*l = *lp;

	if (l == NULL)
		return;
	if (turnq_cancel(l->env.authq, l))
		login_free(l);		/* never ran */
	else
		l->cancelled = true;	/* check_done frees it */
	*lp = NULL;
}
