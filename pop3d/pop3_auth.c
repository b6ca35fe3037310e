/*
 * Logins: USER/PASS (RFC 1939), AUTH with SASL-IR (RFC 5034), the
 * failed-login delay and the per-user connection limit (counted with
 * pop3d's other workers in env->conntab).  The password
 * check and the maildrop opening (pop3_maildrop.c) run on the workq, each
 * in its turn (env->authq, env->openq).
 */
#include "pop3d/pop3_private.h"

#include "lib/conntab.h"
#include "lib/directory.h"
#include "lib/login.h"
#include "lib/log.h"
#include "lib/sasl.h"
#include "lib/turnq.h"
#include "lib/xmalloc.h"
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

static struct login_env
login_env(const struct pop3_env *env)
{
	return (struct login_env){ .authq = env->authq, .authfail = env->authfail,
	    .now_ms = env->now_ms, .passcache = env->passcache };
}

void
pop3_logout_user(struct pop3_session *s)
{
	if (s->address == NULL)
		return;
	conntab_release(s->env->conntab, s->user_slot);
	mailbox_close(&s->mb);
	s->msgs = NULL;		/* was mb's */
	xfree(&s->marks);
	s->nmsgs = 0;
	xfree(&s->address);
}

/* Runs after the failed-login delay; the host feeds held input next. */
static void
login_failed_reply(void *arg)
{
	struct pop3_session	*s = arg;

	s->delay_pending = false;
	pop3_reply(s, "-ERR [AUTH] Authentication failed.");
	pop3_bad_command(s);
}

static void
login_failed(struct pop3_session *s, const char *user, uint64_t delay)
{
	char		 q[128];

	log_info("session=%s event=auth status=failed user=%s addr=%s", s->peer->id,
	    log_quote(user, q, sizeof(q)), s->peer->addr);
	/* Paused until then: pipelined commands get no faster answer. */
	s->delay_pending = true;
	session_host_after(s->host, delay, login_failed_reply);
}

/* A user authenticated and md opened (on the workq): limits, then take it. */
static void
login_ok(struct pop3_session *s, const struct dir_user *u, struct pop3_maildrop *md)
{
	struct pop3_env		*env = s->env;
	unsigned		 slot;

	switch (conntab_acquire(env->conntab, CONNTAB_USER, u->address,
	    env->limits.max_connections_per_user, &slot)) {
	case CONNTAB_OK:
		break;
	case CONNTAB_OVER:
		log_info("session=%s event=login status=refused user=%s reason=\"too many "
		    "connections\"", s->peer->id, u->address);
		pop3_reply(s, "-ERR [IN-USE] Too many connections for this user.");
		pop3_bad_command(s);
		return;
	case CONNTAB_FULL:
		log_warnx("session=%s event=login status=refused user=%s "
		    "reason=connection_table_full", s->peer->id, u->address);
		pop3_reply(s, "-ERR [SYS/TEMP] Too many connections, try again later.");
		pop3_bad_command(s);
		return;
	}
	if (pop3_maildrop_take(s, u->address, md) == -1) {
		conntab_release(env->conntab, slot);
		return;
	}
	s->address = xstrdup(u->address);
	s->user_slot = slot;
	s->state = POP3_TRANSACTION;
	s->bad_commands = 0;
	pop3_arm_timeout(s);	/* the logged-in deadline */
	log_info("session=%s event=login status=ok user=%s messages=%zu", s->peer->id, s->address,
	    s->nmsgs);
	pop3_reply(s, "+OK Logged in.");
}

/* A good login's answer, held as long as a failed one would be. */
static void
login_ok_reply(void *arg)
{
	struct pop3_session	*s = arg;
	const struct dir_user	*u = s->login_user;

	s->delay_pending = false;
	s->login_user = NULL;
	login_ok(s, u, &s->login_md);	/* the directory outlives the session (retired on reload) */
	pop3_maildrop_clear(&s->login_md);
}

/*
 * A good password's maildrop, opened on the workq (a first sync can take
 * seconds), then answered no sooner than the check's answer_at.  Opens
 * take turns: each holds its index's cache pages and its sync's lists
 * (~3 MB for 10,000 messages) while it runs, and ten at once on two
 * cores took as long as in turn, holding ten times that.
 */
struct pop3_open_job {
	struct pop3_session	*s;		/* NULL once the session is gone */
	struct store		*store;
	char			*mail_root;	/* a copy: a reload may replace env's */
	const struct dir_user	*u;
	uint64_t		 answer_at;
	struct pop3_maildrop	 md;
};

static void
open_work(void *arg)
{
	struct pop3_open_job	*job = arg;

	/* Touches only the job, the (immutable) directory entry and the store. */
	pop3_maildrop_open(job->store, job->mail_root, job->u, &job->md);
}

static void
open_done(void *arg)
{
	struct pop3_open_job	*job = arg;
	struct pop3_session	*s = job->s;
	struct login_env	 le;
	uint64_t		 delay;

	if (s != NULL) {
		s->open_job = NULL;
		le = login_env(s->env);
		delay = login_delay(&le, job->answer_at);
		if (delay == 0)
			login_ok(s, job->u, &job->md);
		else {
			s->login_user = job->u;
			s->login_md = job->md;
			memset(&job->md, 0, sizeof(job->md));
			s->delay_pending = true;
			session_host_after(s->host, delay, login_ok_reply);
		}
		session_host_kick(s->host);
	}
	pop3_maildrop_clear(&job->md);		/* not taken, or the session went away */
	free(job->mail_root);
	free(job);
}

/* The password check's outcome: a failure answered after its delay, a success opens. */
static void
login_done(void *arg, const struct login_result *r)
{
	struct pop3_session	*s = arg;
	struct login_env	 le = login_env(s->env);
	struct pop3_open_job	*job;

	s->login = NULL;
	if (r->u == NULL) {
		login_failed(s, r->user, login_delay(&le, r->answer_at));
		session_host_kick(s->host);
		return;
	}
	job = xcalloc(1, sizeof(*job));
	job->s = s;
	job->store = s->env->store;
	job->mail_root = xstrdup(s->env->mail_root);
	job->u = r->u;
	job->answer_at = r->answer_at;
	s->open_job = job;	/* still paused until open_done */
	turnq_submit(s->env->openq, s->host, open_work, open_done, job);
}

static void
login(struct pop3_session *s, const char *user, const char *password)
{
	struct login_env	 le = login_env(s->env);
	uint64_t		 delay;
	bool			 blocked = login_blocked(&le, s->peer->addr, &delay);

	if (blocked || s->env->directory == NULL) {
		login_failed(s, user, delay);
		return;
	}
	/* The session pauses until login_done. */
	s->login = login_start(&le, s->host, s->peer->addr, s->env->directory, user, password,
	    login_done, s);
}

/* An open still waiting its turn never runs: true if there was one. */
static bool
open_drop_waiting(struct pop3_session *s)
{
	struct pop3_open_job	*job = s->open_job;

	if (job == NULL || !turnq_cancel(s->env->openq, job))
		return false;
	s->open_job = NULL;
	free(job->mail_root);
	free(job);
	return true;
}

/* The session goes away (the server stops) while its login is being checked. */
void
pop3_auth_orphan(struct pop3_session *s)
{
	login_cancel(&s->login);
	if (s->open_job != NULL && !open_drop_waiting(s))
		s->open_job->s = NULL;		/* it runs: open_done frees it */
	s->open_job = NULL;
	pop3_maildrop_clear(&s->login_md);	/* a good login whose answer was still waiting */
}

/*
 * The client went away while its login is pending: a check still waiting
 * for its turn is dropped unchecked (twenty abandoned logins cost twenty
 * yescrypts before a later login in the same process got its turn).  One
 * that runs already finishes and is recorded in the failed-login table as
 * before, so hanging up does not dodge the block.  An open waiting its
 * turn is dropped too.
 */
void
pop3_auth_peer_gone(struct pop3_session *s)
{
	login_drop_waiting(&s->login);
	open_drop_waiting(s);
}

int
pop3_cmd_user(struct pop3_session *s, char *args)
{
	if (*args == '\0') {
		pop3_reply(s, "-ERR No username given.");
		return -1;
	}
	free(s->user);
	s->user = xstrdup(args);
	pop3_reply(s, "+OK");
	return 0;
}

int
pop3_cmd_pass(struct pop3_session *s, char *args)
{
	char	*user;

	if (s->user == NULL) {
		pop3_reply(s, "-ERR No username given.");
		return -1;
	}
	user = s->user;
	s->user = NULL;
	/* The password is the rest of the line: it may contain spaces. */
	login(s, user, args);
	explicit_bzero(args, strlen(args));
	free(user);
	/* login() replied (or will, after the delay) and counted failures. */
	return 0;
}

static void
sasl_result(struct pop3_session *s, enum sasl_status st, const char *challenge,
    const char *error)
{
	switch (st) {
	case SASL_CONTINUE:
		pop3_reply(s, "+ %s", challenge);
		return;
	case SASL_DONE:
		login(s, sasl_user(s->sasl), sasl_password(s->sasl));
		sasl_free(&s->sasl);
		return;
	case SASL_ERROR:
		log_info("session=%s event=auth status=error reason=\"%s\"", s->peer->id, error);
		sasl_free(&s->sasl);
		pop3_reply(s, "-ERR Invalid SASL response: %s.", error);
		pop3_bad_command(s);
		return;
	case SASL_AUTHZ_DENIED:
		log_info("session=%s event=auth status=error reason=\"%s\"", s->peer->id, error);
		sasl_free(&s->sasl);
		pop3_reply(s, "-ERR [AUTH] Authorization identity must match the login.");
		pop3_bad_command(s);
		return;
	}
}

int
pop3_cmd_auth(struct pop3_session *s, char *args)
{
	const char		*challenge = "", *error = "";
	char			*mech, *initial;
	enum sasl_status	 st;

	mech = strsep(&args, " ");
	if (*mech == '\0') {
		/* Not in RFC 5034, but Outlook asks this way (Dovecot answers it too). */
		pop3_reply(s, "+OK\r\nPLAIN\r\nLOGIN\r\n.");
		return 0;
	}
	initial = args;
	if (initial != NULL && (*initial == '\0' || strchr(initial, ' ') != NULL)) {
		pop3_reply(s, "-ERR Invalid AUTH arguments.");
		return -1;
	}
	s->sasl = sasl_new(mech);
	if (s->sasl == NULL) {
		pop3_reply(s, "-ERR Unsupported authentication mechanism.");
		return -1;
	}
	st = sasl_start(s->sasl, initial, &challenge, &error);
	if (initial != NULL)
		explicit_bzero(initial, strlen(initial));
	sasl_result(s, st, challenge, error);
	return 0;
}

/* A line while AUTH is in progress: a client response, or "*" to cancel. */
void
pop3_auth_line(struct pop3_session *s, char *line)
{
	const char		*challenge = "", *error = "";
	enum sasl_status	 st;

	if (strcmp(line, "*") == 0) {
		sasl_free(&s->sasl);
		pop3_reply(s, "-ERR Authentication cancelled.");
		pop3_bad_command(s);
		return;
	}
	st = sasl_step(s->sasl, line, &challenge, &error);
	explicit_bzero(line, strlen(line));
	sasl_result(s, st, challenge, error);
}

void
pop3_auth_abort(struct pop3_session *s)
{
	sasl_free(&s->sasl);
}
