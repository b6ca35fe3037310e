/*
 * SMTP AUTH (RFC 4954): PLAIN and LOGIN through lib/sasl, with SASL-IR.
 * Refused outside TLS unless the peer is loopback and that is configured.
 * Once an address has recent failures (lib/authfail), every answer to it
 * waits, success or not, the wait fixed before the password is checked:
 * the timing tells a guesser nothing (lib/login).  The session is paused
 * meanwhile, so pipelining gets no faster answers.
 */
#include "smtpd/smtp_private.h"
#include "lib/directory.h"
#include "lib/login.h"
#include "lib/log.h"
#include "lib/sasl.h"
#include "lib/session.h"
#include "lib/xmalloc.h"

#include <string.h>

static void
auth_end(struct smtp_session *s)
{
	sasl_free(&s->sasl);
	s->mode = MODE_COMMAND;
}

static void
auth_failed_reply(void *arg)
{
	struct smtp_session	*s = arg;

	s->auth_waiting = false;
	smtp_error(s, "535 5.7.8 Error: authentication failed");
	session_host_kick(s->host);
}

static void
auth_ok_reply(void *arg)
{
	struct smtp_session	*s = arg;

	s->auth_waiting = false;
	smtp_reply(s, "235 2.7.0 Authentication successful");
	session_host_kick(s->host);
}

/* authfail's clock is the table's, shared with every other daemon (not env->now_ms). */
static struct login_env
login_env(const struct smtp_session *s)
{
	return (struct login_env){ .authq = s->env->authq, .authfail = s->env->authfail,
	    .passcache = s->env->passcache };
}

/* The check's answer, on the loop thread; either comes after the same delay. */
static void
auth_done(void *arg, const struct login_result *r)
{
	struct smtp_session	*s = arg;
	struct login_env	 le = login_env(s);
	uint64_t		 delay = login_delay(&le, r->answer_at);
	char			 q[300];

	s->auth_login = NULL;
	/* Still paused (auth_waiting) until the reply. */
	if (r->u != NULL) {
		s->auth_user = xstrdup(r->u->address);
		log_info("session=%s event=auth status=ok user=%s", s->peer->id, s->auth_user);
		session_host_after(s->host, delay, auth_ok_reply);
		return;
	}
	log_info("session=%s event=auth status=failed addr=%s user=%s",
	    s->peer->id, s->peer->addr, log_quote(r->user, q, sizeof(q)));
	session_host_after(s->host, delay, auth_failed_reply);
}

/* Credentials complete: check them off the loop, paused meanwhile. */
static void
auth_check(struct smtp_session *s)
{
	struct login_env	 le = login_env(s);

	s->auth_waiting = true;
	s->auth_login = login_start(&le, s->host, s->peer->addr, s->env->dir,
	    sasl_user(s->sasl), sasl_password(s->sasl), auth_done, s);
	auth_end(s);
}

void
smtp_auth_orphan(struct smtp_session *s)
{
	login_cancel(&s->auth_login);
}

static void
auth_result(struct smtp_session *s, enum sasl_status st, const char *challenge,
    const char *error)
{
	switch (st) {
	case SASL_CONTINUE:
		s->mode = MODE_AUTH;
		smtp_reply(s, "334 %s", challenge);
		break;
	case SASL_ERROR:
		auth_end(s);
		smtp_log_reject(s, "AUTH", error != NULL ? error : "bad response");
		smtp_error(s, "501 5.5.2 Cannot decode response");
		break;
	case SASL_AUTHZ_DENIED:
		auth_end(s);
		smtp_log_reject(s, "AUTH", error);
		smtp_error(s, "535 5.7.8 Error: authorization identity must match the login");
		break;
	case SASL_DONE:
		auth_check(s);
		break;
	}
}

int
cmd_auth(struct smtp_session *s, char *args)
{
	const char	*challenge = NULL, *error = NULL;
	enum sasl_status st;
	struct login_env le;
	char		*initial;

	if (s->auth_user != NULL)
		return smtp_error(s, "503 5.5.1 Error: already authenticated");
	if (!smtp_auth_allowed(s)) {
		smtp_log_reject(s, "AUTH", "plaintext authentication refused");
		return smtp_error(s, "538 5.7.11 Encryption required for requested"
		    " authentication mechanism");
	}
	le = login_env(s);
	if (login_blocked(&le, s->peer->addr, NULL)) {
		smtp_log_reject(s, "AUTH", "too many failed logins");
		return smtp_error(s, "454 4.7.0 Too many failed logins, try again later");
	}
	initial = strchr(args, ' ');
	if (initial != NULL) {
		*initial++ = '\0';
		initial += strspn(initial, " ");
	}
	s->sasl = sasl_new(args);
	if (s->sasl == NULL)
		return smtp_error(s, "504 5.5.4 Unrecognized authentication type");
	st = sasl_start(s->sasl, initial, &challenge, &error);
	auth_result(s, st, challenge, error);
	return 0;
}

/* A client line while AUTH waits for a response; NULL: the line was unreadable. */
void
smtp_auth_line(struct smtp_session *s, char *line)
{
	const char	*challenge = NULL, *error = NULL;
	enum sasl_status st;

	if (line == NULL) {
		auth_end(s);
		return;
	}
	if (strcmp(line, "*") == 0) {
		auth_end(s);
		smtp_error(s, "501 5.7.0 Authentication aborted");
		return;
	}
	st = sasl_step(s->sasl, line, &challenge, &error);
	auth_result(s, st, challenge, error);
}
