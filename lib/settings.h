/*
 * The settings of etc/postroom.conf as typed fields, filled once per
 * (re)load by lib/config from the key table in config_keys.c, which names
 * the field each key fills.  Code reads set->smtpd.max_errors: a misspelt
 * field is a compile error, never an abort on SIGHUP.
 *
 * One struct for the whole file, one section per program: every program
 * reads the same file and the shared keys, and a section's cross-key
 * rules (config_checks[]) run at load like any other error.
 *
 * Counts are unsigned, sizes uint64_t bytes, durations uint64_t ms.
 * Strings belong to the config and live as long as it does.
 */
#ifndef LIB_SETTINGS_H
#define LIB_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Keys without a prefix: the skeleton applies them alike to every daemon. */
struct lib_settings {
	const char	*mail_root;	/* first: offset 0 is never a number (see daemon.h) */
	const char	*queue_dir;
	const char	*user;
	const char	*hostname;
	const char	*state_dir;
	const char	*log_level;
	const char	*log_target;
	const char	*tls_cert;
	const char	*tls_key;
	unsigned	 workers;
	unsigned	 worker_restart_burst;
	uint64_t	 stop_grace_ms;
	unsigned	 io_threads;
	bool		 seccomp;
	bool		 plaintext_auth_loopback;
	unsigned	 auth_max_failures;
	uint64_t	 auth_fail_delay_ms;
	uint64_t	 auth_block_time_ms;
	bool		 auth_exempt_loopback;
	unsigned	 auth_table_size;
	unsigned	 auth_max_hashes;
	unsigned	 auth_cache_size;
	uint64_t	 auth_cache_ttl_ms;
	unsigned	 max_connections_per_ip;
	unsigned	 connection_table_size;
	unsigned	 max_connections;
	unsigned	 stress_threshold;	/* percent */
	unsigned	 max_open_files;
};

struct smtpd_settings {
	const char	*mx_listen;
	const char	*submission_listen;
	const char	*submissions_listen;
	unsigned	 mx_max_connections;
	uint64_t	 greeting_timeout_ms;
	uint64_t	 stress_timeout_ms;
	uint64_t	 max_message_size;
	uint64_t	 max_header_size;
	unsigned	 max_recipients;
	uint64_t	 max_line_length;
	unsigned	 max_commands_before_mail;
	unsigned	 max_errors;
	uint64_t	 idle_timeout_ms;
	uint64_t	 data_timeout_ms;
	unsigned	 min_data_rate;		/* bytes/s, 0: off */
	const char	*relay_networks;
	bool		 vrfy;
	const char	*bare_lf;		/* "normalize" or "reject" */
	unsigned	 max_expansion;
	uint64_t	 min_free_space;
	bool		 sender_login_match;
	bool		 sender_allow_null;
};

struct pop3d_settings {
	const char	*listen;
	const char	*tls_listen;
	uint64_t	 idle_timeout_ms;
	uint64_t	 preauth_timeout_ms;
	uint64_t	 stress_timeout_ms;
	uint64_t	 max_line_length;
	unsigned	 max_errors;
	bool		 mark_seen;
	unsigned	 max_connections_per_user;
	unsigned	 read_ahead;
};

struct imapd_settings {
	/* The command parser's (imapd/imap_parser.h), first. */
	uint64_t	 max_command_size;
	uint64_t	 max_literal_size;
	unsigned	 max_nesting;
	unsigned	 max_arguments;
	const char	*listen;
	const char	*tls_listen;
	uint64_t	 idle_timeout_ms;
	uint64_t	 preauth_timeout_ms;
	uint64_t	 stress_timeout_ms;
	uint64_t	 idle_keepalive_ms;
	uint64_t	 idle_check_interval_ms;
	unsigned	 max_errors;
	unsigned	 max_commands_before_auth;
	unsigned	 max_connections_per_user;
	unsigned	 max_mailbox_name;
	uint64_t	 list_match_cells;
	uint64_t	 max_list_reply;
};

struct relayd_settings {
	const char	*control_listen;	/* a Unix socket path */
	unsigned	 max_connections;
	unsigned	 max_per_destination;
	unsigned	 max_rcpts;
	uint64_t	 min_backoff_ms;
	uint64_t	 max_backoff_ms;
	uint64_t	 max_lifetime_ms;
	uint64_t	 delay_warning_ms;
	uint64_t	 scan_interval_ms;
	uint64_t	 connect_timeout_ms;
	uint64_t	 reply_timeout_ms;
	uint64_t	 bounce_size_limit;
	unsigned	 port;
	const char	*tls;			/* none, may, encrypt, verify */
	const char	*tls_ca_file;		/* "" = the system's store */
	const char	*tls_policy;		/* "" = none */
	const char	*smarthost;		/* "" = MX lookups */
	const char	*smarthost_auth;
	const char	*smarthost_tls;
	const char	*dns_servers;		/* "" = resolv.conf */
};

struct store_settings {
	bool		 fsync;
	unsigned	 vanished_max;
	unsigned	 max_opens;
};

struct settings {
	struct lib_settings	lib;	/* first: see lib_settings.mail_root */
	struct smtpd_settings	smtpd;
	struct pop3d_settings	pop3d;
	struct imapd_settings	imapd;
	struct relayd_settings	relayd;
	struct store_settings	store;
};

/*
 * The offset of a field in struct settings, checked at compile time to
 * have C type ctype: SETTINGS_FIELD(unsigned, smtpd.max_errors).  For the
 * key table and for code that names a field as data (a listener's
 * address list, its connection limit).
 */
#define SETTINGS_FIELD(ctype, field)						\
	(offsetof(struct settings, field) + 0 * sizeof(struct {		\
		_Static_assert(_Generic(((struct settings *)0)->field,		\
		    ctype: 1, default: 0), #field " is not " #ctype);		\
		char c;								\
	}))

/* The field at offset off (from SETTINGS_FIELD) of set. */
static inline const char *
settings_str(const struct settings *set, size_t off)
{
	return *(const char *const *)(const void *)((const char *)set + off);
}

static inline unsigned
settings_uint(const struct settings *set, size_t off)
{
	return *(const unsigned *)(const void *)((const char *)set + off);
}

static inline uint64_t
settings_u64(const struct settings *set, size_t off)
{
	return *(const uint64_t *)(const void *)((const char *)set + off);
}

#endif
