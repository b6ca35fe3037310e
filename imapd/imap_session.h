/*
 * IMAP4rev1 (RFC 3501, RFC 9051 where it clarifies) as a socket-free
 * session: bytes in, replies appended to the output buffer, want() tells
 * the host what next.  Everything from outside comes in one imap_env, so
 * unit tests and fuzzers run the real code against a real store in a temp
 * directory (tests/unit/host_double.h).
 */
#ifndef IMAPD_IMAP_SESSION_H
#define IMAPD_IMAP_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imapd/imap_mailbox_name.h"
#include "lib/session.h"
#include "lib/settings.h"

struct authfail;
struct turnq;
struct passcache;
struct conntab;
struct directory;
struct store;

struct imap_limits {
	struct imapd_settings	 parser;	/* the parser's four limits (copied) */
	unsigned		 max_errors;	/* BAD or NO in a row, then close */
	unsigned		 max_commands_before_auth;
	unsigned		 max_connections_per_user;
	unsigned long long	 idle_timeout_ms;
	unsigned long long	 preauth_timeout_ms;	/* before login, if shorter; 0: idle */
	unsigned long long	 idle_keepalive_ms;	/* IDLE's "* OK Still here" */
	unsigned long long	 idle_check_interval_ms;	/* IDLE without inotify */
	bool			 plaintext_auth_loopback;
	struct imap_name_opts	 names;		/* how mailbox names are read */
	size_t			 list_match_cells;	/* LIST's pattern x name budget */
	size_t			 max_list_reply;	/* bytes of a LIST or STATUS reply */
};

struct imap_env {
	struct imap_limits	 limits;
	struct directory	*directory;	/* swapped on reload; sessions copy what they keep */
	struct store		*store;
	char			*mail_root;
	struct authfail		*authfail;	/* NULL: failed logins are not delayed */
	bool			 tls_available;	/* STARTTLS offered (a certificate is loaded) */
	uint64_t		 (*now_ms)(void);	/* monotonic clock for authfail; NULL: its own */
	struct turnq		*authq;		/* password checks take turns (lib/turnq.h) */
	struct passcache	*passcache;	/* logins verified lately (lib/passcache.h) */
	/* Logged-in users, counted with imapd's other workers (lib/conntab.h). */
	struct conntab		*conntab;
};

extern const struct session_ops	imap_session_ops;

/* Limits and flags from the settings (imapd.* and the shared keys). */
void	imap_env_configure(struct imap_env *env, const struct settings *set);
/* Frees what imap_env owns (mail_root); not the store, directory, authq or conntab. */
void	imap_env_release(struct imap_env *env);

#endif
