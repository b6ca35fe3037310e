/*
 * The one daemon skeleton (Postfix's single_server_main, in spirit).
 * daemon_run() parses the command line (-c config, -f foreground is the
 * default, -o key=value overrides), loads the config (every error, with
 * file:line), binds the listeners or takes them from systemd (LISTEN_FDS,
 * matched by FileDescriptorName= to the listener kind), loads TLS, drops
 * to the unprivileged mail user and checks that the drop stuck, forks
 * `workers` copies sharing the listeners, then runs the event loop.
 *
 * SIGHUP: reload config, directory and certificates; a broken config
 * keeps the old one and logs why.  SIGTERM/SIGINT: stop accepting, let
 * live sessions finish their command, close.  sd_notify READY, RELOADING,
 * STOPPING when NOTIFY_SOCKET is set.
 */
#ifndef LIB_DAEMON_H
#define LIB_DAEMON_H

#include "lib/settings.h"

#include <stdbool.h>
#include <stddef.h>
#include <openssl/ssl.h>

struct authfail;
struct turnq;
struct passcache;
struct conntab;
struct daemon;
struct directory;
struct directory_syntax;
struct ev_loop;
struct session_ops;
struct workq;

/*
 * Settings are named by field, SETTINGS_FIELD(type, smtpd.mx_listen), so a
 * misspelt one does not build; 0 means none (offset 0 is lib.mail_root, a
 * string, never a limit).  Log lines name the key that fills the field.
 */
struct daemon_listener {
	const char	*kind;		/* passed to the session as peer->listener */
	size_t		 addrs;		/* const char *: comma-separated addr:port, "" = off */
	bool		 implicit_tls;	/* handshake before the greeting (465, 995, 993) */
	size_t		 max_connections;	/* optional unsigned: this kind's own limit per process */
};

struct daemon_spec {
	const char			*name;		/* "smtpd": log prefix, config key prefix */
	const struct daemon_listener	*listeners;	/* terminated by { NULL } */
	const struct session_ops	*ops;
	/*
	 * Optional uint64_t field: the ms to which idle deadlines drop while a
	 * listener is over stress_threshold percent of its limit (0: no stress
	 * mode).
	 */
	size_t				 stress_timeout;
	/* The address rules of the directory: &address_user_syntax (mail/address.h). */
	const struct directory_syntax	*directory_syntax;
	/*
	 * In each worker, after the privilege drop, before the first accept:
	 * set up the daemon's own state and daemon_set_arg() it.
	 */
	int				(*init)(struct daemon *d, const char **error_r);
	/* After a successful reload (config and directory already swapped). */
	void				(*reload)(struct daemon *d);
	/* At SIGTERM/SIGINT, before the sessions drain (optional). */
	void				(*stop)(struct daemon *d);
	/* At exit of a worker. */
	void				(*fini)(struct daemon *d);
	/* One worker whatever `workers` says: relayd, the queue's one owner. */
	bool				 single_worker;
};

int		 daemon_run(const struct daemon_spec *spec, int argc, char *argv[]);

/* Replaced on reload; the old ones stay valid while sessions opened before it live. */
const struct settings	*daemon_settings(struct daemon *d);
struct directory	*daemon_directory(struct daemon *d);
struct ev_loop		*daemon_loop(struct daemon *d);
struct workq		*daemon_workq(struct daemon *d);
struct authfail		*daemon_authfail(struct daemon *d);	/* per process, from auth_* keys */
/* Password checks taking turns in this worker (auth_max_hashes, lib/turnq.h). */
struct turnq		*daemon_authq(struct daemon *d);
/* Mailbox opens at login taking turns in this worker (store.max_opens, lib/turnq.h). */
struct turnq		*daemon_openq(struct daemon *d);
/* Logins verified lately, remembered for all the daemon's workers (auth_cache_*, lib/passcache.h). */
struct passcache	*daemon_passcache(struct daemon *d);
/* Connection counts shared by the daemon's workers, this worker's column (lib/conntab.h). */
struct conntab		*daemon_conntab(struct daemon *d);
void			*daemon_arg(struct daemon *d);
void			 daemon_set_arg(struct daemon *d, void *arg);

/*
 * A certificate is loaded (tls_cert/tls_key).  Without one the daemon
 * still runs: sessions must not offer STARTTLS, implicit-TLS connections
 * are closed.  May become true on a reload that finds a certificate.
 */
bool			 daemon_tls_available(struct daemon *d);
/* configured, or for 0 the number of online CPUs (1 to 64). */
unsigned		 daemon_per_cpu(unsigned configured);
SSL_CTX			*daemon_tls_ctx(struct daemon *d);	/* NULL when unavailable */

/*
 * Drop to user (setgroups, setresgid, setresuid) and verify: getresuid
 * returns the target everywhere and setuid(0) fails.  No-op when not root.
 */
int		 daemon_drop_privileges(const char *user, const char **error_r);

#endif
