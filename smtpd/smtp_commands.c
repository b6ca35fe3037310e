/*
 * SMTP commands as data: {name, states, flags, handler}.  The dispatcher
 * does every check that is not the command's own business (state,
 * arguments present or not, AUTH before MAIL on submission, the junk
 * command limit); handlers only parse their arguments and proceed.
 */
#include "smtpd/smtp_private.h"
#include "lib/buf.h"
#include "lib/directory.h"
#include "lib/log.h"
#include "lib/session.h"
#include "lib/xmalloc.h"
#include "mail/address.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum {
	CMD_NOARGS	= 1 << 0,	/* 501 if arguments are given */
	CMD_ARGS	= 1 << 1,	/* 501 if no arguments are given */
	CMD_JUNK	= 1 << 2,	/* counts toward max_commands_before_mail */
	CMD_NEED_AUTH	= 1 << 3,	/* submission: 530 until AUTH */
};

struct smtp_command {
	const char	*name;
	unsigned	 states;	/* ST_* where it is allowed */
	unsigned	 flags;
	const char	*syntax;	/* the 501 reply text for argument errors */
	const char	*wrong_state;	/* the 503 reply text */
	/* Returns 0, or -1 after an error reply (counted by the dispatcher). */
	int		(*run)(struct smtp_session *s, char *args);
};

#define ST_ANY		(ST_INIT | ST_READY | ST_MAIL | ST_RCPT | ST_BDAT)
#define ST_HELLO	(ST_READY | ST_MAIL | ST_RCPT | ST_BDAT)

void
smtp_txn_reset(struct smtp_session *s)
{
	smtp_job_prepare_cancel(s);
	smtp_msg_free(&s->msg);
	s->nrcpt = 0;
	s->smtputf8 = false;
	s->body_8bit = false;
	if (s->state & (ST_MAIL | ST_RCPT | ST_BDAT))
		s->state = ST_READY;
}

static void
smtp_ehlo_reply(struct smtp_session *s)
{
	smtp_reply(s, "250-%s", s->env->hostname);
	smtp_reply(s, "250-PIPELINING");
	smtp_reply(s, "250-SIZE %zu", s->env->max_message_size);
	if (s->env->tls_available && !s->peer->tls)
		smtp_reply(s, "250-STARTTLS");
	if (smtp_auth_allowed(s) && s->auth_user == NULL)
		smtp_reply(s, "250-AUTH PLAIN LOGIN");
	smtp_reply(s, "250-ENHANCEDSTATUSCODES");
	smtp_reply(s, "250-8BITMIME");
	smtp_reply(s, "250-DSN");
	smtp_reply(s, "250-SMTPUTF8");
	smtp_reply(s, "250 CHUNKING");
}

static int
cmd_hello(struct smtp_session *s, char *args, bool esmtp)
{
	smtp_txn_reset(s);
	free(s->helo);
	s->helo = xstrndup(args, strcspn(args, " "));
	s->esmtp = esmtp;
	s->state = ST_READY;
	if (esmtp)
		smtp_ehlo_reply(s);
	else
		smtp_reply(s, "250 %s", s->env->hostname);
	return 0;
}

static int
cmd_ehlo(struct smtp_session *s, char *args)
{
	return cmd_hello(s, args, true);
}

static int
cmd_helo(struct smtp_session *s, char *args)
{
	return cmd_hello(s, args, false);
}

/* "KEY=value" parameters after the address; key upper-cased, value may be NULL. */
static char *
smtp_next_param(char **rest, char **value_r)
{
	char	*p = *rest, *key, *eq;

	while (*p == ' ')
		p++;
	if (*p == '\0')
		return NULL;
	key = p;
	p += strcspn(p, " ");
	if (*p != '\0')
		*p++ = '\0';
	*rest = p;
	eq = strchr(key, '=');
	*value_r = NULL;
	if (eq != NULL) {
		*eq = '\0';
		*value_r = eq + 1;
	}
	for (p = key; *p != '\0'; p++)
		*p = (char)toupper((unsigned char)*p);
	return key;
}

static bool
parse_u64(const char *s, uint64_t *v_r)
{
	char	*end;

	if (s == NULL || !isdigit((unsigned char)*s) || strlen(s) > 19)
		return false;
	errno = 0;
	*v_r = strtoull(s, &end, 10);
	return *end == '\0' && errno == 0;
}

/* MAIL parameters; on error a reply was sent and -1 returned. */
static int
mail_params(struct smtp_session *s, struct smtp_msg *m, char *rest, uint64_t *size_r)
{
	char		*key, *val;
	uint64_t	 size;

	*size_r = 0;
	while ((key = smtp_next_param(&rest, &val)) != NULL) {
		if (strcmp(key, "SIZE") == 0) {
			if (!parse_u64(val, &size))
				return smtp_error(s, "501 5.5.4 Bad SIZE parameter");
			if (size > s->env->max_message_size) {
				smtp_log_reject(s, "MAIL", "SIZE over limit");
				return smtp_error(s, "552 5.3.4 Message size exceeds fixed limit");
			}
			*size_r = size;
		} else if (strcmp(key, "BODY") == 0 && val != NULL &&
		    (strcasecmp(val, "7BIT") == 0 || strcasecmp(val, "8BITMIME") == 0)) {
			s->body_8bit = strcasecmp(val, "8BITMIME") == 0;
		} else if (strcmp(key, "SMTPUTF8") == 0 && val == NULL) {
			s->smtputf8 = true;
		} else if (strcmp(key, "RET") == 0 && val != NULL &&
		    (strcasecmp(val, "FULL") == 0 || strcasecmp(val, "HDRS") == 0) &&
		    m->ret == DSN_RET_DEFAULT) {
			m->ret = strcasecmp(val, "FULL") == 0 ? DSN_RET_FULL : DSN_RET_HDRS;
		} else if (strcmp(key, "ENVID") == 0 && val != NULL && m->envid == NULL) {
			if (strlen(val) > 100 || !xtext_valid(val)) {
				smtp_log_reject(s, "MAIL", "bad ENVID");
				return smtp_error(s, "501 5.5.4 Bad ENVID parameter syntax");
			}
			m->envid = xstrdup(val);
		} else if (strcmp(key, "AUTH") == 0 && val != NULL && xtext_valid(val)) {
			/* RFC 4954 5: accepted and not trusted. */
		} else
			return smtp_error(s, "555 5.5.4 Unsupported option: %s", key);
	}
	return 0;
}

static int
cmd_mail(struct smtp_session *s, char *args)
{
	struct smtp_msg	*m;
	char		*addr, *rest;
	uint64_t	 size;

	if (strncasecmp(args, "FROM:", 5) != 0 ||
	    address_path_parse(args + 5, true, &addr, &rest) == -1)
		return smtp_error(s, "501 5.5.4 Syntax: MAIL FROM:<address>");
	m = xcalloc(1, sizeof(*m));
	s->smtputf8 = false;
	if (mail_params(s, m, rest, &size) == -1) {
		smtp_msg_free(&m);
		return -1;
	}
	if (*addr != '\0' && !address_valid(addr, ADDRESS_SMTP | (s->smtputf8 ? ADDRESS_UTF8 : 0))) {
		smtp_msg_free(&m);
		smtp_log_reject(s, "MAIL", "bad sender address syntax");
		return smtp_error(s, "%s", !s->smtputf8 && address_valid(addr, ADDRESS_SMTP | ADDRESS_UTF8) ?
		    "553 5.6.7 Must declare SMTPUTF8 to send from a non-ASCII address" :
		    "501 5.1.7 Bad sender address syntax");
	}
	if (!smtp_policy_sender_ok(s, addr)) {
		smtp_msg_free(&m);
		smtp_log_reject(s, "MAIL", "sender address not owned by the user");
		return smtp_error(s, "553 5.7.1 <%s>: Sender address rejected: not owned by user %s",
		    addr, s->auth_user);
	}
	if (!smtp_policy_disk_ok(s, size)) {
		smtp_msg_free(&m);
		smtp_log_reject(s, "MAIL", "free space under smtpd.min_free_space");
		/* Temporary and not the client's fault: not counted as an error. */
		smtp_reply(s, "452 4.3.1 Insufficient system storage");
		return 0;
	}
	m->sender = xstrdup(addr);
	if (s->auth_user != NULL)
		m->auth_user = xstrdup(s->auth_user);
	session_id_new(m->queueid);
	s->msg = m;
	s->state = ST_MAIL;
	s->junk_commands = 0;
	smtp_reply(s, "250 2.1.0 Ok");
	return 0;
}

static bool
parse_notify(char *val, unsigned *notify_r)
{
	char	*tok, *save = NULL;

	*notify_r = 0;
	for (tok = strtok_r(val, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		if (strcasecmp(tok, "NEVER") == 0)
			*notify_r |= DSN_NOTIFY_NEVER;
		else if (strcasecmp(tok, "SUCCESS") == 0)
			*notify_r |= DSN_NOTIFY_SUCCESS;
		else if (strcasecmp(tok, "FAILURE") == 0)
			*notify_r |= DSN_NOTIFY_FAILURE;
		else if (strcasecmp(tok, "DELAY") == 0)
			*notify_r |= DSN_NOTIFY_DELAY;
		else
			return false;
	}
	/* NEVER stands alone (RFC 3461 4.1). */
	return *notify_r != 0 &&
	    ((*notify_r & DSN_NOTIFY_NEVER) == 0 || *notify_r == DSN_NOTIFY_NEVER);
}

/* ORCPT=addr-type;xtext (RFC 3461 4.2) */
static bool
orcpt_valid(const char *val)
{
	const char	*semi = strchr(val, ';');
	size_t		 i;

	if (semi == NULL || semi == val || strlen(val) > 500)
		return false;
	for (i = 0; val + i < semi; i++)
		if (!isalnum((unsigned char)val[i]) && val[i] != '-')
			return false;
	return xtext_valid(semi + 1);
}

static int
cmd_rcpt(struct smtp_session *s, char *args)
{
	char		*addr, *rest, *key, *val, *orcpt = NULL;
	unsigned	 notify = 0;

	if (strncasecmp(args, "TO:", 3) != 0 || address_path_parse(args + 3, false, &addr, &rest) == -1)
		return smtp_error(s, "501 5.5.4 Syntax: RCPT TO:<address>");
	while ((key = smtp_next_param(&rest, &val)) != NULL) {
		if (strcmp(key, "NOTIFY") == 0 && val != NULL && notify == 0 &&
		    parse_notify(val, &notify))
			continue;
		if (strcmp(key, "ORCPT") == 0 && val != NULL && orcpt == NULL) {
			if (!orcpt_valid(val)) {
				smtp_log_reject(s, "RCPT", "bad ORCPT");
				return smtp_error(s, "501 5.5.4 Bad ORCPT parameter syntax");
			}
			orcpt = val;
			continue;
		}
		return smtp_error(s, "555 5.5.4 Unsupported option: %s", key);
	}
	if (s->nrcpt >= s->env->max_recipients) {
		/* Not counted as an error: clients send the rest later (4.5.3.1.10). */
		smtp_reply(s, "452 4.5.3 Error: too many recipients");
		return 0;
	}
	if (smtp_rcpt_add(s, addr, notify, orcpt) == -1)
		return -1;
	/* The first local recipient: its file is made while the client goes on. */
	smtp_job_prepare(s);
	return 0;
}

static int
cmd_data(struct smtp_session *s, char *args)
{
	/* The files exist first (made at RCPT or now, off the loop): then 354 or 451. */
	smtp_data_begin(s);
	return 0;
}

/* "BDAT <size> [LAST]" (RFC 3030). */
static int
cmd_bdat(struct smtp_session *s, char *args)
{
	char		*sp, *last;
	uint64_t	 n;

	sp = strchr(args, ' ');
	last = sp != NULL ? sp + 1 : NULL;
	if (sp != NULL)
		*sp = '\0';
	if (!parse_u64(args, &n) || (last != NULL && strcasecmp(last, "LAST") != 0)) {
		/* Without a count we cannot tell data from commands. */
		smtp_log_reject(s, "BDAT", "bad syntax");
		smtp_close(s, "501 5.5.4 Syntax: BDAT count [LAST]");
		return -1;
	}
	if (!(s->state & (ST_RCPT | ST_BDAT))) {
		smtp_bdat_discard(s, n, s->state & ST_MAIL ? "503 5.5.1 Error: need RCPT command" :
		    s->state & ST_INIT ? "503 5.5.1 Error: send HELO/EHLO first" :
		    "503 5.5.1 Error: need MAIL command");
		return 0;
	}
	smtp_bdat_begin(s, n, last != NULL);
	return 0;
}

static int
cmd_rset(struct smtp_session *s, char *args)
{
	smtp_txn_reset(s);
	smtp_reply(s, "250 2.0.0 Ok");
	return 0;
}

static int
cmd_noop(struct smtp_session *s, char *args)
{
	smtp_reply(s, "250 2.0.0 Ok");
	return 0;
}

static int
cmd_quit(struct smtp_session *s, char *args)
{
	smtp_close(s, "221 2.0.0 Bye");
	return 0;
}

static int
cmd_vrfy(struct smtp_session *s, char *args)
{
	/* VRFY hands out the user list to anyone: answered only if configured. */
	if (s->env->vrfy && s->env->dir != NULL) {
		char	*addr, *rest;

		const struct dir_user	*u[1];
		size_t			 n;

		if (address_path_parse(args, false, &addr, &rest) == 0 && *rest == '\0' &&
		    directory_resolve(s->env->dir, addr, u, 1, &n) == DIR_LOCAL) {
			smtp_reply(s, "250 2.0.0 <%s>", addr);
			return 0;
		}
		return smtp_error(s, "550 5.1.1 User unknown");
	}
	smtp_reply(s, "252 2.0.0 Cannot VRFY user, but will accept message and attempt delivery");
	return 0;
}

static int
cmd_help(struct smtp_session *s, char *args)
{
	smtp_reply(s, "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY"
	    " HELP STARTTLS AUTH");
	return 0;
}

static int
cmd_starttls(struct smtp_session *s, char *args)
{
	if (s->peer->tls)
		return smtp_error(s, "554 5.5.1 Error: TLS already active");
	if (!s->env->tls_available)
		return smtp_error(s, "454 4.7.0 TLS not available");
	smtp_reply(s, "220 2.0.0 Ready to start TLS");
	s->starttls = true;
	return 0;
}

static const struct smtp_command smtp_commands[] = {
	{ "EHLO", ST_ANY, CMD_ARGS | CMD_JUNK, "501 5.5.4 Syntax: EHLO hostname", NULL, cmd_ehlo },
	{ "HELO", ST_ANY, CMD_ARGS | CMD_JUNK, "501 5.5.4 Syntax: HELO hostname", NULL, cmd_helo },
	{ "MAIL", ST_READY, CMD_ARGS | CMD_NEED_AUTH, "501 5.5.4 Syntax: MAIL FROM:<address>",
	  "503 5.5.1 Error: nested MAIL command", cmd_mail },
	{ "RCPT", ST_MAIL | ST_RCPT, CMD_ARGS, "501 5.5.4 Syntax: RCPT TO:<address>",
	  "503 5.5.1 Error: need MAIL command", cmd_rcpt },
	{ "DATA", ST_RCPT, CMD_NOARGS, "501 5.5.4 Syntax: DATA",
	  "503 5.5.1 Error: need RCPT command", cmd_data },
	{ "BDAT", ST_ANY, CMD_ARGS, "501 5.5.4 Syntax: BDAT count [LAST]", NULL, cmd_bdat },
	{ "RSET", ST_ANY, CMD_NOARGS | CMD_JUNK, "501 5.5.4 Syntax: RSET", NULL, cmd_rset },
	{ "NOOP", ST_ANY, CMD_JUNK, NULL, NULL, cmd_noop },
	{ "QUIT", ST_ANY, 0, NULL, NULL, cmd_quit },
	{ "VRFY", ST_ANY, CMD_ARGS | CMD_JUNK, "501 5.5.4 Syntax: VRFY address", NULL, cmd_vrfy },
	{ "HELP", ST_ANY, CMD_JUNK, NULL, NULL, cmd_help },
	{ "STARTTLS", ST_INIT | ST_READY, CMD_NOARGS, "501 5.5.4 Syntax: STARTTLS",
	  "503 5.5.1 Error: MAIL transaction in progress", cmd_starttls },
	{ "AUTH", ST_READY, CMD_ARGS, "501 5.5.4 Syntax: AUTH mechanism",
	  "503 5.5.1 Error: MAIL transaction in progress", cmd_auth },
};

static const struct smtp_command *
smtp_command_find(const char *name)
{
	size_t	 i;

	for (i = 0; i < sizeof(smtp_commands) / sizeof(smtp_commands[0]); i++)
		if (strcasecmp(smtp_commands[i].name, name) == 0)
			return &smtp_commands[i];
	return NULL;
}

/* RFC 5321 verbs we know and do not offer: 502, not "unrecognized" 500. */
static bool
smtp_unimplemented(const char *name)
{
	static const char *const verbs[] = { "EXPN", "ETRN", "TURN", "ATRN", "SEND", "SOML",
	    "SAML", "VERB" };
	size_t	 i;

	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strcasecmp(verbs[i], name) == 0)
			return true;
	return false;
}

/* Every check that is not a command's own business, then the handler. */
void
smtp_dispatch(struct smtp_session *s, char *line)
{
	const struct smtp_command	*cmd;
	char				*args;

	s->ncommands++;
	args = line + strcspn(line, " ");
	if (*args != '\0')
		*args++ = '\0';
	while (*args == ' ')
		args++;
	cmd = smtp_command_find(line);
	if (cmd == NULL && smtp_unimplemented(line)) {
		smtp_error(s, "502 5.5.1 Error: command not implemented");
		return;
	}
	if (cmd == NULL) {
		smtp_log_reject(s, "command", "unknown command");
		/* RFC 5321 4.2.4: 500 for unknown verbs, 502 is for known unimplemented ones. */
		smtp_error(s, "500 5.5.2 Error: command not recognized");
		return;
	}
	if ((cmd->flags & CMD_JUNK) && ++s->junk_commands > s->env->max_commands_before_mail) {
		smtp_log_reject(s, cmd->name, "too many commands before MAIL");
		smtp_close(s, "421 4.7.0 %s Error: too many commands", s->env->hostname);
		return;
	}
	if ((cmd->states & s->state) == 0) {
		smtp_error(s, "%s", s->state == ST_INIT ? "503 5.5.1 Error: send HELO/EHLO first" :
		    cmd->wrong_state);
		return;
	}
	if (((cmd->flags & CMD_NOARGS) && *args != '\0') ||
	    ((cmd->flags & CMD_ARGS) && *args == '\0')) {
		smtp_error(s, "%s", cmd->syntax);
		return;
	}
	if ((cmd->flags & CMD_NEED_AUTH) && s->auth_user == NULL && smtp_auth_required(s)) {
		smtp_log_reject(s, cmd->name, "authentication required");
		smtp_error(s, "530 5.7.0 Authentication required");
		return;
	}
	cmd->run(s, args);
}
