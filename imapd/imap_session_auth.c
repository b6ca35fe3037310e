/*
 * Logins: LOGIN and AUTHENTICATE PLAIN/LOGIN with SASL-IR (RFC 3501
 * 6.2.2-3, RFC 4959), refused before TLS off loopback; the failed-login
 * delay (lib/authfail, fixed before the check and applied to success and
 * failure alike), the per-user connection limit (counted with imapd's
 * other workers in env->conntab), and the password checks taking turns in
 * env->authq, as pop3d does.  The check runs on the workq; the mailbox is
 * opened later, by SELECT.
 */
#include "imapd/imap_private.h"

#include "lib/authfail.h"
#include "lib/authq.h"
#include "lib/buf.h"
#include "lib/conntab.h"
#include "lib/directory.h"
#include "lib/log.h"
#include "lib/sasl.h"
#include "lib/xmalloc.h"

#include <stdlib.h>
#include <string.h>

static uint64_t
now_ms(const struct imap_env *env)
{
	if (env->now_ms != NULL)
		return env->now_ms();
	return authfail_now();	/* the clock the shared table is kept in */
}

void
imap_logout_user(struct imap_session *s)
{
	if (s->address == NULL)
		return;
	conntab_release(s->env->conntab, s->user_slot);
	imap_unselect(s);
	xfree(&s->maildir);
	xfree(&s->address);
}

/* Runs after the failed-login delay; the host feeds held input next. */
static void
login_failed_reply(void *arg)
{
	struct imap_session	*s = arg;
	char			*tag = imap_take_tag(s);

	s->delay_pending = false;
	imap_tagged(s, tag, "NO [AUTHENTICATIONFAILED] Authentication failed.");
	free(tag);
	imap_bad_command(s);
}

static void
login_failed(struct imap_session *s, const char *user, uint64_t delay)
{
	char	 q[128];

	log_info("session=%s event=auth status=failed user=%s addr=%s", s->peer->id,
	    log_quote(user, q, sizeof(q)), s->peer->addr);
	/* Paused until then: pipelined commands get no faster answer. */
	s->delay_pending = true;
	session_host_after(s->host, delay, login_failed_reply);
}

static void
login_ok(struct imap_session *s, const struct dir_user *u)
{
	struct imap_env		*env = s->env;
	struct buf		 caps;
	unsigned		 slot;
	char			*tag = imap_take_tag(s);

	switch (conntab_acquire(env->conntab, CONNTAB_USER, u->address,
	    env->limits.max_connections_per_user, &slot)) {
	case CONNTAB_OK:
		break;
	case CONNTAB_OVER:
		log_info("session=%s event=login status=refused user=%s reason=\"too many "
		    "connections\"", s->peer->id, u->address);
		imap_tagged(s, tag, "NO [LIMIT] Too many connections for this user.");
		free(tag);
		imap_bad_command(s);
		return;
	case CONNTAB_FULL:
		log_warnx("session=%s event=login status=refused user=%s "
		    "reason=connection_table_full", s->peer->id, u->address);
		imap_tagged(s, tag, "NO [UNAVAILABLE] Too many connections, try again later.");
		free(tag);
		imap_bad_command(s);
		return;
	}
	s->address = xstrdup(u->address);
	s->user_slot = slot;
	s->maildir = directory_maildir(env->mail_root, u);
	s->state = IMAP_STATE_AUTH;
	s->bad_commands = 0;
	imap_arm_timeout(s);	/* the logged-in deadline */
	log_info("session=%s event=login status=ok user=%s", s->peer->id, s->address);
	buf_init(&caps, 1024);
	imap_capabilities(s, &caps);
	imap_tagged(s, tag, "OK [CAPABILITY %.*s] Logged in.", (int)buf_len(&caps),
	    buf_head(&caps));
	buf_release(&caps);
	free(tag);
}

/* A good login's answer, held as long as a failed one would be. */
static void
login_ok_reply(void *arg)
{
	struct imap_session	*s = arg;
	const struct dir_user	*u = s->login_user;

	s->delay_pending = false;
	s->login_user = NULL;
	login_ok(s, u);		/* the directory outlives the session (retired on reload) */
}

/* The outcome of a password check (u: NULL if it failed), not before login_answer_at. */
static void
login_result(struct imap_session *s, const char *user, const struct dir_user *u)
{
	struct imap_env	*env = s->env;
	uint64_t	 now, delay = 0;

	if (env->authfail != NULL) {
		now = now_ms(env);
		authfail_record(env->authfail, s->peer->addr, u != NULL, now);
		delay = s->login_answer_at > now ? s->login_answer_at - now : 0;
	}
	if (u == NULL) {
		login_failed(s, user, delay);
		return;
	}
	if (delay == 0) {
		login_ok(s, u);
		return;
	}
	s->login_user = u;
	s->delay_pending = true;
	session_host_after(s->host, delay, login_ok_reply);
}

/*
 * A password check on a workq thread (crypt(3): tens of ms of CPU, ~16 MB
 * for yescrypt), which must not stall every other session on the loop.  It
 * waits its turn in env->authq (lib/authq.h: a few at once per process).
 */
struct imap_auth_job {
	struct imap_session	*s;		/* NULL once the session is gone */
	const struct directory	*directory;
	char			*user;
	char			*password;
	const struct dir_user	*u;		/* the result */
};

static void
auth_work(void *arg)
{
	struct imap_auth_job	*job = arg;

	/* Touches only the job and the (immutable) directory. */
	job->u = directory_authenticate(job->directory, job->user, job->password);
}

static void
job_free(struct imap_auth_job *job)
{
	explicit_bzero(job->password, strlen(job->password));
	free(job->user);
	free(job->password);
	free(job);
}

static void
auth_done(void *arg)
{
	struct imap_auth_job	*job = arg;
	struct imap_session	*s = job->s;

	if (s != NULL) {
		s->auth_job = NULL;
		login_result(s, job->user, job->u);
		session_host_kick(s->host);
	}
	job_free(job);
}

/* The tag of the command is in s->tag; it is answered when the check returns. */
static void
login(struct imap_session *s, const char *user, const char *password)
{
	struct imap_env		*env = s->env;
	struct imap_auth_job	*job;
	uint64_t		 delay = 0, now = now_ms(env);

	if (env->authfail != NULL)
		delay = authfail_delay(env->authfail, s->peer->addr, now);
	/* Refused unchecked and unrecorded: the block runs from the failure that set it. */
	if (env->directory == NULL ||
	    (env->authfail != NULL && authfail_blocked(env->authfail, s->peer->addr, now))) {
		login_failed(s, user, delay);
		return;
	}
	s->login_answer_at = now + delay;	/* before the check: its outcome cannot change it */
	job = xcalloc(1, sizeof(*job));
	job->s = s;
	job->directory = env->directory;
	job->user = xstrdup(user);
	job->password = xstrdup(password);
	s->auth_job = job;	/* the session pauses until auth_done */
	authq_submit(env->authq, s->host, auth_work, auth_done, job);
}

/* The session goes away (the server stops) while its password is being checked. */
void
imap_auth_orphan(struct imap_session *s)
{
	if (s->auth_job != NULL && authq_cancel(s->env->authq, s->auth_job))
		job_free(s->auth_job);		/* never ran */
	else if (s->auth_job != NULL)
		s->auth_job->s = NULL;		/* auth_done frees it */
	s->auth_job = NULL;
	s->login_user = NULL;
}

static int
plaintext_refused(struct imap_session *s, const char *tag)
{
	if (imap_plaintext_allowed(s))
		return 0;
	imap_tagged(s, tag, "NO [PRIVACYREQUIRED] Plaintext authentication disallowed on "
	    "non-secure (SSL/TLS) connections.");
	return -1;
}

int
imap_cmd_login(struct imap_session *s, const struct imap_command *cmd)
{
	if (plaintext_refused(s, cmd->tag) == -1)
		return -1;
	free(s->tag);
	s->tag = xstrdup(cmd->tag);
	login(s, cmd->u.login.user, cmd->u.login.password);
	/* The parser's copy of the password goes with its next command. */
	return IMAP_ASYNC;
}

static void
sasl_result(struct imap_session *s, enum sasl_status st, const char *challenge,
    const char *error)
{
	char	*tag;

	switch (st) {
	case SASL_CONTINUE:
		imap_line(s, "+ %s", challenge);
		return;
	case SASL_DONE:
		login(s, sasl_user(s->sasl), sasl_password(s->sasl));
		sasl_free(&s->sasl);
		return;
	case SASL_ERROR:
	case SASL_AUTHZ_DENIED:
		log_info("session=%s event=auth status=error reason=\"%s\"", s->peer->id, error);
		sasl_free(&s->sasl);
		tag = imap_take_tag(s);
		if (st == SASL_ERROR)
			imap_tagged(s, tag, "BAD Invalid SASL response: %s.", error);
		else
			imap_tagged(s, tag, "NO [AUTHORIZATIONFAILED] Authorization identity "
			    "must match the login.");
		free(tag);
		imap_bad_command(s);
		return;
	}
}

int
imap_cmd_authenticate(struct imap_session *s, const struct imap_command *cmd)
{
	const char		*challenge = "", *error = "", *initial;
	enum sasl_status	 st;

	if (plaintext_refused(s, cmd->tag) == -1)
		return -1;
	s->sasl = sasl_new(cmd->u.authenticate.mechanism);
	if (s->sasl == NULL) {
		imap_tagged(s, cmd->tag, "NO [CANNOT] Unsupported authentication mechanism.");
		return -1;
	}
	free(s->tag);
	s->tag = xstrdup(cmd->tag);
	initial = cmd->u.authenticate.initial;
	if (initial != NULL && *initial == '\0')
		initial = "=";		/* RFC 4959: an empty initial response */
	st = sasl_start(s->sasl, initial, &challenge, &error);
	sasl_result(s, st, challenge, error);
	return IMAP_ASYNC;
}

void
imap_auth_line(struct imap_session *s, char *line)
{
	const char		*challenge = "", *error = "";
	enum sasl_status	 st;
	char			*tag;

	if (strcmp(line, "*") == 0) {
		sasl_free(&s->sasl);
		tag = imap_take_tag(s);
		imap_tagged(s, tag, "BAD Authentication cancelled.");
		free(tag);
		imap_bad_command(s);
		return;
	}
	st = sasl_step(s->sasl, line, &challenge, &error);
	explicit_bzero(line, strlen(line));
	sasl_result(s, st, challenge, error);
}

void
imap_auth_abort(struct imap_session *s)
{
	char	*tag;

	if (s->sasl == NULL)
		return;
	sasl_free(&s->sasl);
	tag = imap_take_tag(s);
	free(tag);
}
