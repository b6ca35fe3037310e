/*
 * The one address syntax: RFC 5321 4.1.2 Mailbox and Path (and RFC 6531
 * with SMTPUTF8), used by smtpd for MAIL/RCPT, by deliver for -f, by
 * mailctl, and by lib/directory for the names it holds (through
 * address_user_syntax: lib/ may not include mail/).  The RFC 5322 header
 * parser (mime_address.c) shares its atext rule.
 *
 * Validators are pure, total functions over NUL-terminated strings; every
 * accept path is tested in tests/unit/test_address.c.  What the flags do
 * not allow, nobody accepts: a dot-atom local part of at most 64 bytes,
 * '@', a domain of LDH labels of 1-63 bytes (no hyphen at either end), at
 * most 253 in all and 254 for the whole address.
 */
#ifndef MAIL_ADDRESS_H
#define MAIL_ADDRESS_H

#include <stdbool.h>

#define ADDRESS_LOCAL_MAX	64
#define ADDRESS_DOMAIN_MAX	253
#define ADDRESS_MAX		254	/* a path of 256 with its "<>" */
#define ADDRESS_LABEL_MAX	63

enum address_flags {
	/* RFC 6531: UTF-8 bytes in the local part and in domain labels. */
	ADDRESS_UTF8	= 1 << 0,
	/* A quoted-string local part: qtextSMTP and quoted-pairSMTP. */
	ADDRESS_QUOTED	= 1 << 1,
	/* An address literal domain: [192.0.2.1] or [IPv6:2001:db8::1]. */
	ADDRESS_LITERAL	= 1 << 2,
};

/* What SMTP accepts in MAIL FROM and RCPT TO (add ADDRESS_UTF8 after SMTPUTF8). */
#define ADDRESS_SMTP	(ADDRESS_QUOTED | ADDRESS_LITERAL)
/* What names a user, alias or group: dot-atom@LDH only (flags 0). */
#define ADDRESS_USER	0

/* RFC 5322 atext; with utf8, any byte >= 0x80 too. */
bool	 address_is_atext(unsigned char c, bool utf8);

/* local@domain under flags (enum address_flags); split at the last '@'. */
bool	 address_valid(const char *address, unsigned flags);

/* A domain alone (a literal only with ADDRESS_LITERAL). */
bool	 address_domain_valid(const char *domain, unsigned flags);

/*
 * Split an SMTP argument "<address> params" in place (leading spaces
 * allowed: RFC 5321 says no, clients do).  A source route "@a,@b:" is
 * dropped (RFC 5321 4.1.2: ignore it).  '>' inside a quoted local part
 * does not end the path.  Returns 0 with *addr_r (not yet validated) and
 * *rest_r (the parameters), -1 on bad framing or, unless allow_empty, an
 * empty path "<>".
 */
int	 address_path_parse(char *arg, bool allow_empty, char **addr_r, char **rest_r);

/* address_valid(, ADDRESS_USER) and its domain rule, for directory_load(). */
struct directory_syntax;
extern const struct directory_syntax address_user_syntax;

#endif
