/*
 * Recipient and relay policy (the address syntax is mail/address.c's).
 * Local domains resolve through the directory at RCPT time (unknown users
 * get 550 now, never a bounce later); other domains are relayed only for
 * authenticated sessions and smtpd.relay_networks.  An authenticated
 * session sends only as addresses its user owns (the envelope at MAIL, the
 * From: header at the end of the message).  The validators are pure,
 * total functions.
 */
#include "smtpd/smtp_private.h"
#include "lib/base64.h"
#include "lib/directory.h"
#include "lib/log.h"
#include "lib/session.h"
#include "lib/xmalloc.h"
#include "mail/address.h"
#include "mail/mime.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/*
 * RFC 3461 4: xtext = *( xchar / "+" 2HEXCHAR ), xchar = 33..126 but "+"
 * "=".  What it encodes must be printable US-ASCII (4.2, 4.4): "+0D+0A"
 * would end up as a line break in a DSN's Original-Envelope-ID.
 */
bool
xtext_valid(const char *s)
{
	int	 c;

	for (; *s != '\0'; s++) {
		if (*s == '+') {
			if (!isxdigit((unsigned char)s[1]) || !isxdigit((unsigned char)s[2]) ||
			    islower((unsigned char)s[1]) || islower((unsigned char)s[2]))
				return false;
			c = hex_value((unsigned char)s[1]) * 16 + hex_value((unsigned char)s[2]);
			if (c < 32 || c > 126)
				return false;
			s += 2;
		} else if (*s < 33 || *s > 126 || *s == '=')
			return false;
	}
	return true;
}

/*
 * Postfix's queue_minfree: say 452 at MAIL, before the client sends the
 * data, rather than 451 after all of it.  A commit that still fails (the
 * space went meanwhile) keeps its 451.
 */
bool
smtp_policy_disk_ok(const struct smtp_session *s, uint64_t size)
{
	uint64_t	 avail;

	if (s->env->min_free_space == 0 || s->env->free_space == NULL ||
	    s->env->free_space(&avail) == -1)
		return true;
	return avail >= s->env->min_free_space && avail - s->env->min_free_space >= size;
}

/*
 * smtpd.sender_login_match: an authenticated user sends as the addresses
 * the directory gives them (directory_may_send_as), as Postfix's
 * reject_sender_login_mismatch and OpenSMTPD's "auth senders" do; the null
 * sender only if smtpd.sender_allow_null.  Unauthenticated sessions (MX)
 * are not concerned: their senders are not ours to vouch for.
 */
bool
smtp_policy_sender_ok(const struct smtp_session *s, const char *addr)
{
	if (s->auth_user == NULL || !s->env->sender_login_match)
		return true;
	if (*addr == '\0')
		return s->env->sender_allow_null;
	return s->env->dir != NULL && directory_may_send_as(s->env->dir, s->auth_user, addr);
}

struct from_check {
	const struct smtp_session	*s;
	bool				 bad;
	bool				 unreadable;
	char				 addr[256];	/* the first bad one, printable */
};

static int
from_mailbox(void *ctx, const char *addr)
{
	struct from_check	*fc = ctx;
	size_t			 i;

	if (addr != NULL && smtp_policy_sender_ok(fc->s, addr) && *addr != '\0')
		return 0;
	fc->bad = true;
	fc->unreadable = addr == NULL;
	/* It goes into a reply: nothing that could end or split the line. */
	for (i = 0; addr != NULL && addr[i] != '\0' && i + 1 < sizeof(fc->addr); i++)
		fc->addr[i] = (unsigned char)addr[i] < 32 || addr[i] == 127 ? '?' : addr[i];
	fc->addr[i] = '\0';
	return -1;
}

bool
smtp_policy_checks_from(const struct smtp_session *s)
{
	return s->auth_user != NULL && s->env->sender_login_match;
}

int
smtp_policy_check_from(const struct smtp_session *s, const char *header, size_t len,
    const char **bad_addr_r)
{
	static _Thread_local struct from_check	 fc;

	if (!smtp_policy_checks_from(s))
		return 0;
	memset(&fc, 0, sizeof(fc));
	fc.s = s;
	if (mime_header_mailboxes(header, len, "From", from_mailbox, &fc) == 0)
		return 0;
	*bad_addr_r = fc.unreadable ? NULL : fc.addr;
	return -1;
}

bool
smtp_may_relay(const struct smtp_session *s)
{
	return s->auth_user != NULL ||
	    (s->env->relaynets != NULL && relaynets_match(s->env->relaynets, s->peer->addr));
}

static void
add_local(struct smtp_msg *m, const char *mail_root, const struct dir_user *u)
{
	size_t	 i;

	/* Each user once per message, however many groups name them. */
	for (i = 0; i < m->nlocal; i++)
		if (strcmp(m->local[i].address, u->address) == 0)
			return;
	m->local = xreallocarray(m->local, m->nlocal + 1, sizeof(*m->local));
	m->local[m->nlocal].address = xstrdup(u->address);
	m->local[m->nlocal].maildir = directory_maildir(mail_root, u);
	m->local[m->nlocal].quota_bytes = u->quota_bytes;
	m->local[m->nlocal].quota_messages = u->quota_messages;
	m->nlocal++;
}

static void
add_remote(struct smtp_msg *m, const char *addr, unsigned notify, const char *orcpt)
{
	size_t	 i;

	for (i = 0; i < m->nremote; i++)
		if (strcmp(m->remote[i].address, addr) == 0)
			return;
	m->remote = xreallocarray(m->remote, m->nremote + 1, sizeof(*m->remote));
	m->remote[m->nremote].address = xstrdup(addr);
	m->remote[m->nremote].notify = notify;
	m->remote[m->nremote].orcpt = orcpt != NULL ? xstrdup(orcpt) : NULL;
	m->nremote++;
}

static int
rcpt_local(struct smtp_session *s, const char *addr)
{
	const struct dir_user	**users;
	size_t			 n, i, max = s->env->max_expansion > 0 ? s->env->max_expansion : 1;
	enum dir_resolve	 r;

	users = xcalloc(max, sizeof(*users));
	r = directory_resolve(s->env->dir, addr, users, max, &n);
	if (r == DIR_LOCAL && n <= max)
		for (i = 0; i < n; i++)
			add_local(s->msg, s->env->mail_root, users[i]);
	free(users);
	if (r == DIR_LOCAL && n > max) {
		smtp_log_reject(s, "RCPT", "group too large");
		smtp_reply(s, "452 4.5.3 Error: too many recipients");
		return 0;
	}
	if (r != DIR_LOCAL) {
		smtp_log_reject(s, "RCPT", "user unknown");
		return smtp_error(s, "550 5.1.1 <%s>: Recipient address rejected: User unknown",
		    addr);
	}
	return 1;
}

/*
 * RFC 5321 4.5.1: "<Postmaster>" without a domain MUST be accepted.  It is
 * postmaster@ the first local domain among our host name and its parents
 * (mail.example.com, then example.com); that address must then resolve
 * (an alias, as `mailctl alias add postmaster@example.com ...` makes).
 */
static int
rcpt_postmaster(struct smtp_session *s, unsigned notify, const char *orcpt)
{
	const char	*d;
	char		 addr[300];

	for (d = s->env->hostname; d != NULL && *d != '\0'; ) {
		if (s->env->dir != NULL && directory_is_local_domain(s->env->dir, d)) {
			snprintf(addr, sizeof(addr), "postmaster@%s", d);
			return smtp_rcpt_add(s, addr, notify, orcpt);
		}
		if ((d = strchr(d, '.')) != NULL)
			d++;
	}
	smtp_log_reject(s, "RCPT", "no local domain for postmaster");
	return smtp_error(s, "550 5.1.1 <postmaster>: Recipient address rejected: User unknown");
}

int
smtp_rcpt_add(struct smtp_session *s, const char *addr, unsigned notify, const char *orcpt)
{
	const char	*at = strrchr(addr, '@');
	int		 r;

	if (strcasecmp(addr, "postmaster") == 0)
		return rcpt_postmaster(s, notify, orcpt);

	if (!address_valid(addr, ADDRESS_SMTP | (s->smtputf8 ? ADDRESS_UTF8 : 0))) {
		smtp_log_reject(s, "RCPT", "bad recipient address syntax");
		return smtp_error(s, "%s", !s->smtputf8 && address_valid(addr, ADDRESS_SMTP | ADDRESS_UTF8) ?
		    "553 5.6.7 Must declare SMTPUTF8 to send to a non-ASCII address" :
		    "501 5.1.3 Bad recipient address syntax");
	}
	if (s->env->dir != NULL && directory_is_local_domain(s->env->dir, at + 1)) {
		if ((r = rcpt_local(s, addr)) != 1)
			return r;
	} else if (smtp_may_relay(s))
		add_remote(s->msg, addr, notify, orcpt);
	else {
		smtp_log_reject(s, "RCPT", "relay access denied");
		return smtp_error(s, "554 5.7.1 <%s>: Relay access denied", addr);
	}
	s->nrcpt++;
	s->state = ST_RCPT;
	smtp_reply(s, "250 2.1.5 Ok");
	return 0;
}

/* ---- relay networks ---- */

struct relaynet {
	int		 family;
	unsigned char	 addr[16];
	unsigned	 bits;
};

struct relaynets {
	struct relaynet	*nets;
	size_t		 n;
};

/* Parse an address, turning ::ffff:a.b.c.d into IPv4. */
static bool
parse_ip(const char *s, int *family_r, unsigned char addr_r[16])
{
	static const unsigned char	 v4mapped[12] = { 0,0,0,0,0,0,0,0,0,0,0xff,0xff };

	if (inet_pton(AF_INET, s, addr_r) == 1) {
		*family_r = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, s, addr_r) != 1)
		return false;
	*family_r = AF_INET6;
	if (memcmp(addr_r, v4mapped, 12) == 0) {
		memmove(addr_r, addr_r + 12, 4);
		*family_r = AF_INET;
	}
	return true;
}

struct relaynets *
relaynets_parse(const char *spec, const char **error_r)
{
	struct relaynets	*r = xcalloc(1, sizeof(*r));
	char			*copy = xstrdup(spec), *tok, *save = NULL, *slash, *end;
	struct relaynet		 net;
	unsigned long		 bits;

	for (tok = strtok_r(copy, ", \t", &save); tok != NULL; tok = strtok_r(NULL, ", \t", &save)) {
		memset(&net, 0, sizeof(net));
		if ((slash = strchr(tok, '/')) != NULL)
			*slash++ = '\0';
		if (!parse_ip(tok, &net.family, net.addr))
			goto bad;
		net.bits = net.family == AF_INET ? 32 : 128;
		if (slash != NULL) {
			bits = strtoul(slash, &end, 10);
			if (*slash == '\0' || *end != '\0' || bits > net.bits)
				goto bad;
			net.bits = (unsigned)bits;
		}
		r->nets = xreallocarray(r->nets, r->n + 1, sizeof(*r->nets));
		r->nets[r->n++] = net;
	}
	free(copy);
	return r;
bad:
	*error_r = "smtpd.relay_networks: not an address/prefix list";
	free(copy);
	relaynets_free(&r);
	return NULL;
}

bool
relaynets_match(const struct relaynets *r, const char *addr)
{
	unsigned char	 a[16];
	int		 family;
	size_t		 i;
	unsigned	 full, rest;

	if (!parse_ip(addr, &family, a))
		return false;
	for (i = 0; i < r->n; i++) {
		const struct relaynet *n = &r->nets[i];

		if (n->family != family)
			continue;
		full = n->bits / 8;
		rest = n->bits % 8;
		if (memcmp(a, n->addr, full) != 0)
			continue;
		if (rest == 0 || ((a[full] ^ n->addr[full]) & (0xff << (8 - rest)) & 0xff) == 0)
			return true;
	}
	return false;
}

void
relaynets_free(struct relaynets **r)
{
	if (*r == NULL)
		return;
	free((*r)->nets);
	free(*r);
	*r = NULL;
}
