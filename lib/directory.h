/*
 * Users, domains, groups and aliases from plain text files in the config
 * directory (reloaded on SIGHUP, edited by mailctl):
 *
 *   domains   one domain per line, optionally "catchall=<local part>"
 *   passwd    Dovecot passwd-file format:
 *             user@domain:{CRYPT}$y$...:::::: [quota_bytes=N] [quota_messages=N]
 *   groups    group@domain: member@domain, member@domain, ...  (members may be groups)
 *   aliases   alias@domain: target@domain[, ...]                 (same grammar)
 *   senders   user@domain: address[, ...]    (same grammar: further addresses the
 *             user may send as when authenticated; they may be remote)
 *
 * '#' starts a comment line.  Users, groups and aliases must be in a listed
 * domain; members must be local users, groups or aliases (no forwarding to
 * remote addresses); a name is defined once across passwd, groups and
 * aliases.  Unknown passwd extra fields are kept for Dovecot and logged.
 *
 * Every parse error names file:line, and all of them are reported.  A
 * group cycle is an error at load, naming the cycle.
 * Addresses compare case-insensitively in the domain and, as every real
 * server does for its own users, in the local part too; canonical form is
 * lower case.
 */
#ifndef LIB_DIRECTORY_H
#define LIB_DIRECTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct directory;
struct passcache;

struct dir_user {
	const char	*address;	/* canonical "alice@example.com" */
	const char	*local;		/* "alice" */
	const char	*domain;	/* "example.com" */
	const char	*password;	/* "{CRYPT}$y$..." as stored */
	uint64_t	 quota_bytes;	/* 0 = unlimited */
	uint64_t	 quota_messages;
};

enum dir_resolve {
	DIR_LOCAL,	/* resolved to >= 1 local users */
	DIR_NOUSER,	/* local domain, no such user/alias/group and no catch-all */
	DIR_REMOTE,	/* not one of our domains */
	DIR_INVALID,	/* not an address */
};

/*
 * The address syntax of the names the directory holds and is asked about.
 * lib/ may not include mail/, so the caller passes the one parser's rules:
 * &address_user_syntax from mail/address.h (dot-atom@LDH, no quotes).
 */
struct directory_syntax {
	bool	(*address_valid)(const char *address);
	bool	(*domain_valid)(const char *domain);
};

/*
 * Loads domains, passwd, groups, aliases, senders from dir (missing files
 * = empty); syntax must outlive the directory.
 */
struct directory *directory_load(const char *dir, const struct directory_syntax *syntax,
		    const char **error_r);
void		 directory_free(struct directory **d);

bool		 directory_is_local_domain(const struct directory *d, const char *domain);
const struct dir_user *directory_user(const struct directory *d, const char *address);

/*
 * Resolve a recipient: plus-address (alice+tag@ -> alice@), alias, group
 * (recursively, each user once), catch-all.  On DIR_LOCAL fills users_r
 * (deduplicated, owned by d, valid until d is freed) up to max entries and
 * sets *n_r; more than max is reported as n_r = max + 1 (caller: too many).
 */
enum dir_resolve directory_resolve(const struct directory *d, const char *address,
		    const struct dir_user **users_r, size_t max, size_t *n_r);

/*
 * Check a login (address as typed; case-insensitive).  Constant-time compare
 * of the crypt(3) result; runs crypt even for unknown users so timing does
 * not reveal which exist.  A login verified lately is found in pc instead
 * (NULL: none; lib/passcache.h).  Returns the user or NULL.
 */
const struct dir_user *directory_authenticate(const struct directory *d, const char *address,
		    const char *password, struct passcache *pc);

/*
 * May the authenticated user login use address as a sender (envelope or
 * From:)?  Yes for the user's own address, a local user/alias/group address
 * that delivers to the user (groups expanded, as at RCPT), a plus-variant
 * of any of those (alice+tag@ when alice+tag@ itself names nobody), and the
 * addresses in the user's senders entry.  Never through a catch-all.
 * Case-insensitive, as every lookup here.
 */
bool		 directory_may_send_as(const struct directory *d, const char *login,
		    const char *address);

/* Mailbox path of a user: <mail_root>/<domain>/<local>/Maildir (malloc'd). */
char		*directory_maildir(const char *mail_root, const struct dir_user *u);

/* crypt(3) helpers: a new hash "{CRYPT}$y$..." (yescrypt) and a verify. */
char		*password_hash(const char *plain);
bool		 password_verify(const char *stored, const char *plain);
/* A scheme password_verify can check ({ARGON2ID}, {SSHA}, {PLAIN}... cannot). */
bool		 password_checkable(const char *stored);

#endif
