/*
 * POP3 (RFC 1939, 2449, 2595, 5034) as a socket-free session: bytes in,
 * replies appended to the output buffer, want() tells the host what next.
 * Everything from outside comes in one pop3_env, so unit tests and the
 * fuzzer run the real code against a real store in a temp directory.
 */
#ifndef POP3D_POP3_SESSION_H
#define POP3D_POP3_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/session.h"

struct authfail;
struct turnq;
struct passcache;
struct conntab;
struct directory;
struct settings;
struct store;

struct pop3_limits {
	size_t			 max_line_length;	/* CRLF included */
	unsigned		 max_bad_commands;	/* in a row, then close */
	unsigned long long	 idle_timeout_ms;
	unsigned		 max_connections_per_user;
	bool			 plaintext_auth_loopback;
	bool			 mark_seen;
	unsigned		 read_ahead;	/* messages opened ahead of RETR */
	unsigned long long	 preauth_timeout_ms;	/* before login, if shorter; 0: idle */
};

struct pop3_env {
	struct pop3_limits	 limits;
	struct directory	*directory;	/* swapped on reload; users are copied at login */
	struct store		*store;
	char			*mail_root;
	struct authfail		*authfail;	/* NULL: failed logins are not delayed */
	bool			 tls_available;	/* STLS offered (a certificate is loaded) */
	uint64_t		 (*now_ms)(void);	/* monotonic clock for authfail */
	struct turnq		*authq;		/* password checks take turns (lib/turnq.h) */
	struct turnq		*openq;		/* and so do maildrop opens */
	struct passcache	*passcache;	/* logins verified lately (lib/passcache.h) */
	/* Logged-in sessions per user (CONNTAB_USER), with pop3d's other workers. */
	struct conntab		*conntab;
};

extern const struct session_ops	pop3_session_ops;

/* Limits and flags from the settings (pop3d.* and the shared keys). */
void	pop3_env_configure(struct pop3_env *env, const struct settings *set);
/* Frees what pop3_env owns (mail_root); not the store, directory, queues or conntab. */
void	pop3_env_release(struct pop3_env *env);

#endif
