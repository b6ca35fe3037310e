/*
 * Logins: LOGIN and AUTHENTICATE PLAIN/LOGIN with SASL-IR (RFC 3501
 * 6.2.2-3, RFC 4959), refused before TLS off loopback; the failed-login
 * delay (lib/authfail, fixed before the check and applied to success and
 * failure alike: lib/login), the per-user connection limit (counted with
 * imapd's other workers in env->conntab).  The mailbox is opened later, by
 * SELECT.
 */
#include "imapd/imap_private.h"

#include "lib/buf.h"
#include "lib/conntab.h"
#include "lib/directory.h"
#include "lib/login.h"
#include "lib/log.h"
#include "lib/sasl.h"
#include "lib/xmalloc.h"

#include <stdlib.h>
#include <string.h>

static struct login_env
login_env(const struct imap_env *env)
{
	return (struct login_env){ .authq = env->authq, .authfail = env->authfail,
	    .now_ms = env->now_ms, .passcache = env->passcache };
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

/* The outcome of a password check, answered no sooner than r->answer_at. */
static void
login_done(void *arg, const struct login_result *r)
{
	struct imap_session	*s = arg;
	struct login_env	 le = login_env(s->env);
	uint64_t		 delay = login_delay(&le, r->answer_at);

	s->login = NULL;
	if (r->u == NULL)
		login_failed(s, r->user, delay);
	else if (delay == 0)
		login_ok(s, r->u);
	else {
		s->login_user = r->u;
		s->delay_pending = true;
		session_host_after(s->host, delay, login_ok_reply);
	}
	session_host_kick(s->host);
}

/* The tag of the command is in s->tag; it is answered when the check returns. */
static void
login(struct imap_session *s, const char *user, const char *password)
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

/* The session goes away (the server stops) while its password is being checked. */
void
imap_auth_orphan(struct imap_session *s)
{
	login_cancel(&s->login);
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
