/*
 * SMTP AUTH (RFC 4954): PLAIN and LOGIN through lib/sasl, with SASL-IR.
 * Refused outside TLS unless the peer is loopback and that is configured.
 * Once an address has recent failures (lib/authfail), every answer to it
 * waits, success or not, the wait fixed before the password is checked:
 * the timing tells a guesser nothing.  The session is paused meanwhile, so
 * pipelining gets no faster answers.  The check waits its turn in
 * env->authq (lib/authq.h: a few at once per process, as in pop3d).
 */
#include "smtpd/smtp_private.h"
#include "lib/authfail.h"
#include "lib/authq.h"
#include "lib/directory.h"
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

/* The table's clock, shared with every other daemon (not env->now_ms). */
static uint64_t
auth_now(const struct smtp_session *s)
{
	(void)s;
	return authfail_now();
}

/* The password check (crypt: tens of ms); off the loop, touches only req. */
static void
auth_verify(void *arg)
{
	struct smtp_auth_req	*req = arg;
	const struct dir_user	*u = NULL;

	if (req->dir != NULL)
		u = directory_authenticate(req->dir, req->user, req->password);
	if (u != NULL)
		req->result = xstrdup(u->address);
}

static void
auth_req_free(struct smtp_auth_req **reqp)
{
	struct smtp_auth_req	*req = *reqp;

	explicit_bzero(req->password, strlen(req->password));
	free(req->password);
	free(req->user);
	free(req->result);
	free(req);
	*reqp = NULL;
}

/* The check's answer, on the loop thread. */
static void
auth_done(void *arg)
{
	struct smtp_auth_req	*req = arg;
	struct smtp_session	*s = req->session;
	char			 q[300];
	uint64_t		 delay = 0, now;

	if (s == NULL) {	/* the session is gone */
		auth_req_free(&req);
		return;
	}
	s->auth_req = NULL;
	if (s->env->authfail != NULL) {
		now = auth_now(s);
		authfail_record(s->env->authfail, s->peer->addr, req->result != NULL, now);
		delay = req->answer_at > now ? req->answer_at - now : 0;
	}
	/* Still paused (auth_waiting): either answer comes after the same delay. */
	if (req->result != NULL) {
		s->auth_user = xstrdup(req->result);
		log_info("session=%s event=auth status=ok user=%s", s->peer->id, req->result);
		auth_req_free(&req);
		session_host_after(s->host, delay, auth_ok_reply);
		return;
	}
	log_info("session=%s event=auth status=failed addr=%s user=%s",
	    s->peer->id, s->peer->addr, log_quote(req->user, q, sizeof(q)));
	auth_req_free(&req);
	session_host_after(s->host, delay, auth_failed_reply);
}

/* Credentials complete: check them off the loop, paused meanwhile. */
static void
auth_check(struct smtp_session *s)
{
	struct smtp_auth_req	*req = xcalloc(1, sizeof(*req));

	req->dir = s->env->dir;
	req->user = xstrdup(sasl_user(s->sasl));
	req->password = xstrdup(sasl_password(s->sasl));
	req->session = s;
	/* Fixed now, before the check: the outcome cannot change it. */
	if (s->env->authfail != NULL)
		req->answer_at = auth_now(s) +
		    authfail_delay(s->env->authfail, s->peer->addr, auth_now(s));
	auth_end(s);
	s->auth_waiting = true;
	s->auth_req = req;
	authq_submit(s->env->authq, s->host, auth_verify, auth_done, req);
}

void
smtp_auth_orphan(struct smtp_session *s)
{
	if (s->auth_req != NULL && authq_cancel(s->env->authq, s->auth_req))
		auth_req_free(&s->auth_req);	/* never ran */
	else if (s->auth_req != NULL)
		s->auth_req->session = NULL;	/* auth_done frees it */
	s->auth_req = NULL;
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
	char		*initial;

	if (s->auth_user != NULL)
		return smtp_error(s, "503 5.5.1 Error: already authenticated");
	if (!smtp_auth_allowed(s)) {
		smtp_log_reject(s, "AUTH", "plaintext authentication refused");
		return smtp_error(s, "538 5.7.11 Encryption required for requested"
		    " authentication mechanism");
	}
	if (s->env->authfail != NULL &&
	    authfail_blocked(s->env->authfail, s->peer->addr, auth_now(s))) {
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
