/*
 * relayd/smtp_client.h.  One state per awaited reply; a pipelined group
 * (MAIL, RCPT..., DATA) is sent at once and its replies are then read in
 * the same states, in order, as if each command had been sent alone.
 */
#include "relayd/smtp_client.h"

#include "lib/base64.h"
#include "lib/xmalloc.h"
#include "mail/dsn.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum state {
	ST_GREETING,
	ST_EHLO,
	ST_HELO,
	ST_STARTTLS,
	ST_TLS,		/* handshake running */
	ST_AUTH,	/* AUTH PLAIN, or LOGIN's password: 235 awaited */
	ST_AUTH_USER,	/* AUTH LOGIN: 334 for the user name awaited */
	ST_AUTH_PASS,	/* 334 for the password awaited */
	ST_READY,
	ST_MAIL,
	ST_RCPT,
	ST_DATA,
	ST_BODY,	/* the message being sent */
	ST_DOT,		/* the final reply awaited */
	ST_RSET,
	ST_QUIT,
	ST_CLOSED,
};

struct smtp_client {
	const struct smtp_client_config	*cfg;
	const struct smtp_client_ops	*ops;
	void				*ctx;
	enum state			 st;
	struct smtp_reply		 reply;
	struct smtp_ext			 ext;
	bool				 tls;
	const struct smtp_client_msg	*msg;
	bool				*told;		/* per recipient of msg */
	size_t				 rcpt;		/* whose RCPT reply is awaited */
	size_t				 accepted;	/* RCPTs the server took */
	bool				 mail_ok;
	bool				 pipelined;
};

/* RFC 5321 4.5.3.2, in seconds, per awaited reply. */
static const unsigned	timeouts[] = {
	[ST_GREETING] = 300, [ST_EHLO] = 300, [ST_HELO] = 300, [ST_STARTTLS] = 300,
	[ST_TLS] = 300, [ST_AUTH] = 300, [ST_AUTH_USER] = 300, [ST_AUTH_PASS] = 300,
	[ST_READY] = 300, [ST_MAIL] = 300, [ST_RCPT] = 300, [ST_DATA] = 120,
	[ST_BODY] = 180, [ST_DOT] = 600, [ST_RSET] = 300, [ST_QUIT] = 300,
	[ST_CLOSED] = 300,
};

static void __attribute__((format(printf, 2, 3)))
sendf(struct smtp_client *c, const char *fmt, ...)
{
	char	line[2048];
	int	n;
	va_list	ap;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 2)
		abort();	/* our own commands: addresses are bounded well below */
	memcpy(line + n, "\r\n", 2);
	c->ops->send(c->ctx, line, (size_t)n + 2);
}

static void
tell(struct smtp_client *c, size_t i, const struct smtp_reply *r)
{
	if (c->told[i])
		return;
	c->told[i] = true;
	c->ops->rcpt_done(c->ctx, i, r);
}

/* Every recipient not yet told gets r: the message is over. */
static void
tell_rest(struct smtp_client *c, const struct smtp_reply *r)
{
	if (c->msg == NULL)
		return;
	for (size_t i = 0; i < c->msg->nrcpts; i++)
		tell(c, i, r);
	free(c->told);
	c->told = NULL;
	c->msg = NULL;
}

static void
closed(struct smtp_client *c, const struct smtp_reply *why)
{
	struct smtp_reply	later;

	/* A message cut short is tried again later, whatever was said. */
	if (c->msg != NULL) {
		smtp_reply_local(&later, 421, "4.4.2", "connection ended: %s",
		    why != NULL ? why->text : "QUIT");
		tell_rest(c, &later);
	}
	c->st = ST_CLOSED;
	c->ops->closed(c->ctx, why);
}

static void
close_local(struct smtp_client *c, int code, const char *status, const char *why)
{
	struct smtp_reply	r;

	smtp_reply_local(&r, code, status, "%s", why);
	closed(c, &r);
}

static void
become_ready(struct smtp_client *c)
{
	c->st = ST_READY;
	c->ops->ready(c->ctx);
}

static void
send_hello(struct smtp_client *c, enum state st)
{
	c->st = st;
	smtp_reply_begin(&c->reply, st == ST_EHLO);
	sendf(c, "%s %s", st == ST_EHLO ? "EHLO" : "HELO", c->cfg->helo_name);
}

static void
send_base64(struct smtp_client *c, const char *prefix, const void *data, size_t len)
{
	char	b64[4 * ((1024 + 2) / 3) + 1];

	if (len > 1024)
		abort();	/* credentials are bounded by the config reader */
	base64_encode(data, len, b64);
	sendf(c, "%s%s", prefix, b64);
}

static void
start_auth(struct smtp_client *c)
{
	const char	*user = c->cfg->auth_user, *pass = c->cfg->auth_password;
	char		 plain[1024];
	size_t		 ulen = strlen(user), plen = strlen(pass);

	if (!c->tls && c->cfg->tls != SMTP_TLS_NONE) {
		close_local(c, 454, "4.7.0", "not sending a password without TLS");
	} else if (c->ext.auth & SMTP_AUTH_PLAIN && ulen + plen + 2 <= sizeof(plain)) {
		plain[0] = '\0';	/* RFC 4616: no authorization identity */
		memcpy(plain + 1, user, ulen + 1);
		memcpy(plain + 2 + ulen, pass, plen);
		c->st = ST_AUTH;
		send_base64(c, "AUTH PLAIN ", plain, ulen + plen + 2);
		explicit_bzero(plain, sizeof(plain));
	} else if (c->ext.auth & SMTP_AUTH_LOGIN) {
		c->st = ST_AUTH_USER;
		sendf(c, "AUTH LOGIN");
	} else {
		close_local(c, 454, "4.7.0", "the server offers no AUTH we can use");
	}
}

/* After EHLO/HELO: TLS first if wanted, then AUTH if configured. */
static void
after_hello(struct smtp_client *c)
{
	if (!c->tls && c->cfg->tls != SMTP_TLS_NONE && c->ext.starttls) {
		c->st = ST_STARTTLS;
		sendf(c, "STARTTLS");
	} else if (!c->tls && c->cfg->tls >= SMTP_TLS_ENCRYPT) {
		close_local(c, 454, "4.7.4", "TLS required, the server does not offer STARTTLS");
	} else if (c->cfg->auth_user != NULL) {
		start_auth(c);
	} else {
		become_ready(c);
	}
}

static void
hello_reply(struct smtp_client *c)
{
	int	class = smtp_reply_class(&c->reply);

	if (class == 2) {
		c->ext = c->st == ST_EHLO ? c->reply.ext : (struct smtp_ext){ 0 };
		after_hello(c);
	} else if (c->st == ST_EHLO && class == 5) {
		send_hello(c, ST_HELO);
	} else {
		closed(c, &c->reply);
	}
}

static void
starttls_reply(struct smtp_client *c)
{
	if (smtp_reply_class(&c->reply) == 2) {
		c->st = ST_TLS;
		c->ops->start_tls(c->ctx);
	} else if (c->cfg->tls >= SMTP_TLS_ENCRYPT) {
		closed(c, &c->reply);
	} else {
		c->ext.starttls = false;	/* refused: go on in plaintext */
		after_hello(c);
	}
}

static void
auth_reply(struct smtp_client *c)
{
	const char		*user = c->cfg->auth_user, *pass = c->cfg->auth_password;
	struct smtp_reply	 failed;

	if (c->st == ST_AUTH && smtp_reply_class(&c->reply) == 2) {
		become_ready(c);
	} else if (c->st != ST_AUTH && c->reply.code == 334) {
		c->st = c->st == ST_AUTH_USER ? ST_AUTH_PASS : ST_AUTH;
		send_base64(c, "", c->st == ST_AUTH_PASS ? user : pass,
		    strlen(c->st == ST_AUTH_PASS ? user : pass));
	} else {
		smtp_reply_local(&failed, 454, "4.7.0", "AUTH failed, the server said: %d %s",
		    c->reply.code, c->reply.text);
		closed(c, &failed);
	}
}

static void
send_rcpt(struct smtp_client *c, size_t i)
{
	const struct smtp_client_rcpt	*r = &c->msg->rcpts[i];
	char				 notify[40] = "";
	char				 orcpt[600] = "";

	if (c->ext.dsn && r->notify != 0)
		snprintf(notify, sizeof(notify), " NOTIFY=%s%s%s%s",
		    r->notify & DSN_NOTIFY_NEVER ? "NEVER" : "",
		    r->notify & DSN_NOTIFY_SUCCESS ? "SUCCESS," : "",
		    r->notify & DSN_NOTIFY_FAILURE ? "FAILURE," : "",
		    r->notify & DSN_NOTIFY_DELAY ? "DELAY," : "");
	if (notify[0] != '\0' && notify[strlen(notify) - 1] == ',')
		notify[strlen(notify) - 1] = '\0';
	if (c->ext.dsn && r->orcpt != NULL)
		snprintf(orcpt, sizeof(orcpt), " ORCPT=%s", r->orcpt);
	sendf(c, "RCPT TO:<%s>%s%s", r->address, notify, orcpt);
}

static void
send_mail(struct smtp_client *c)
{
	const struct smtp_client_msg	*m = c->msg;
	char				 size[32] = "", dsn[160] = "";

	if (c->ext.size)
		snprintf(size, sizeof(size), " SIZE=%llu", (unsigned long long)m->size);
	if (c->ext.dsn)
		snprintf(dsn, sizeof(dsn), "%s%s%s",
		    m->ret == DSN_RET_FULL ? " RET=FULL" : m->ret == DSN_RET_HDRS ? " RET=HDRS" : "",
		    m->envid != NULL ? " ENVID=" : "", m->envid != NULL ? m->envid : "");
	sendf(c, "MAIL FROM:<%s>%s%s%s%s", m->sender, size,
	    m->eightbit ? " BODY=8BITMIME" : "",
	    m->utf8_addresses ? " SMTPUTF8" : "", dsn);
}

/* Refused here, before a command is sent: the message as it is cannot go. */
static bool
refuse_here(struct smtp_client *c, const struct smtp_client_msg *m)
{
	struct smtp_reply	r;

	if (c->ext.size_max > 0 && m->size > c->ext.size_max)
		smtp_reply_local(&r, 552, "5.3.4", "message of %llu bytes, the server takes %llu at most",
		    (unsigned long long)m->size, (unsigned long long)c->ext.size_max);
	else if (m->eightbit && !c->ext.eightbitmime)
		smtp_reply_local(&r, 554, "5.6.3", "8-bit message, the server does not offer 8BITMIME");
	else if (m->utf8_addresses && !c->ext.smtputf8)
		smtp_reply_local(&r, 553, "5.6.7", "UTF-8 addresses, the server does not offer SMTPUTF8");
	else
		return false;
	for (size_t i = 0; i < m->nrcpts; i++)
		c->ops->rcpt_done(c->ctx, i, &r);
	return true;
}

bool
smtp_client_send(struct smtp_client *c, const struct smtp_client_msg *msg)
{
	if (c->st != ST_READY || msg->nrcpts == 0)
		abort();
	if (refuse_here(c, msg))
		return false;
	c->msg = msg;
	c->told = xcalloc(msg->nrcpts, sizeof(*c->told));
	c->rcpt = 0;
	c->accepted = 0;
	c->mail_ok = false;
	c->pipelined = c->ext.pipelining;
	c->st = ST_MAIL;
	send_mail(c);
	if (c->pipelined) {
		for (size_t i = 0; i < msg->nrcpts; i++)
			send_rcpt(c, i);
		sendf(c, "DATA");
	}
	return true;
}

/* The transaction failed before the data: RSET, then ready again. */
static void
reset(struct smtp_client *c, const struct smtp_reply *r)
{
	tell_rest(c, r);
	c->st = ST_RSET;
	sendf(c, "RSET");
}

static void
mail_reply(struct smtp_client *c)
{
	c->mail_ok = smtp_reply_class(&c->reply) == 2;
	if (!c->mail_ok) {
		/* Pipelined, the RCPT and DATA replies still come: read, not told. */
		for (size_t i = 0; i < c->msg->nrcpts; i++)
			tell(c, i, &c->reply);
		if (!c->pipelined)
			return reset(c, &c->reply);
	}
	c->st = ST_RCPT;
	if (!c->pipelined)
		send_rcpt(c, 0);
}

static void
rcpt_reply(struct smtp_client *c)
{
	if (smtp_reply_class(&c->reply) == 2 && c->mail_ok)
		c->accepted++;
	else
		tell(c, c->rcpt, &c->reply);
	if (++c->rcpt < c->msg->nrcpts) {
		if (!c->pipelined)
			send_rcpt(c, c->rcpt);
		return;
	}
	c->st = ST_DATA;
	if (c->pipelined)
		return;
	if (c->accepted > 0)
		sendf(c, "DATA");
	else
		reset(c, &c->reply);
}

static void
data_reply(struct smtp_client *c)
{
	if (c->reply.code != 354)
		return reset(c, &c->reply);
	if (c->accepted == 0) {
		/* Pipelined DATA taken with no recipient: end it empty (RFC 2920 3.1). */
		c->st = ST_DOT;
		sendf(c, ".");
		return;
	}
	c->st = ST_BODY;
	c->ops->send_body(c->ctx);
}

static void
dispatch(struct smtp_client *c)
{
	switch (c->st) {
	case ST_GREETING:
		if (smtp_reply_class(&c->reply) == 2)
			send_hello(c, ST_EHLO);
		else
			closed(c, &c->reply);
		break;
	case ST_EHLO:
	case ST_HELO:
		hello_reply(c);
		break;
	case ST_STARTTLS:
		starttls_reply(c);
		break;
	case ST_AUTH:
	case ST_AUTH_USER:
	case ST_AUTH_PASS:
		auth_reply(c);
		break;
	case ST_MAIL:
		mail_reply(c);
		break;
	case ST_RCPT:
		rcpt_reply(c);
		break;
	case ST_DATA:
		data_reply(c);
		break;
	case ST_DOT:
		tell_rest(c, &c->reply);
		become_ready(c);
		break;
	case ST_RSET:
		if (smtp_reply_class(&c->reply) == 2)
			become_ready(c);
		else
			closed(c, &c->reply);
		break;
	case ST_QUIT:
		closed(c, NULL);
		break;
	case ST_TLS:
	case ST_READY:
	case ST_BODY:
		/* Unasked (a 421 before closing, or an early reply to the data). */
		closed(c, &c->reply);
		break;
	case ST_CLOSED:
		break;
	}
}

void
smtp_client_line(struct smtp_client *c, const char *line, size_t len)
{
	struct smtp_reply	bad;

	if (c->st == ST_CLOSED)
		return;
	switch (smtp_reply_line(&c->reply, line, len)) {
	case SMTP_REPLY_MORE:
		return;
	case SMTP_REPLY_BAD:
		smtp_reply_local(&bad, 421, "4.5.0", "the server's reply is not SMTP");
		closed(c, &bad);
		return;
	case SMTP_REPLY_DONE:
		break;
	}
	dispatch(c);
	if (c->st != ST_EHLO)	/* EHLO's is begun by send_hello */
		smtp_reply_begin(&c->reply, false);
}

void
smtp_client_tls_started(struct smtp_client *c, bool ok)
{
	if (c->st != ST_TLS)
		abort();
	if (!ok)
		return close_local(c, 454, "4.7.5", "TLS handshake failed");
	c->tls = true;
	c->ext = (struct smtp_ext){ 0 };	/* RFC 3207 4.2: forget what was said */
	send_hello(c, ST_EHLO);
}

void
smtp_client_body_sent(struct smtp_client *c)
{
	if (c->st == ST_BODY)
		c->st = ST_DOT;
}

void
smtp_client_quit(struct smtp_client *c)
{
	if (c->st != ST_READY)
		abort();
	c->st = ST_QUIT;
	sendf(c, "QUIT");
}

void
smtp_client_abort(struct smtp_client *c, const char *why)
{
	if (c->st != ST_CLOSED)
		close_local(c, 421, "4.4.2", why);
}

unsigned
smtp_client_timeout(const struct smtp_client *c)
{
	return timeouts[c->st];
}

struct smtp_client *
smtp_client_new(const struct smtp_client_config *cfg,
    const struct smtp_client_ops *ops, void *ctx)
{
	struct smtp_client	*c = xcalloc(1, sizeof(*c));

	c->cfg = cfg;
	c->ops = ops;
	c->ctx = ctx;
	c->tls = cfg->tls_active;
	c->st = ST_GREETING;
	smtp_reply_begin(&c->reply, false);
	return c;
}

void
smtp_client_free(struct smtp_client **cp)
{
	struct smtp_client	*c = *cp;

	if (c == NULL)
		return;
	free(c->told);
	free(c);
	*cp = NULL;
}
