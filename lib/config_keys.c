/*
 * Every configuration key, in one table: the parser, `mailctl config`,
 * the sample etc/postroom.conf and a unit test (every key documented
 * there) all read it.  Each entry names the field of struct settings it fills; the macro
 * per type checks at compile time that the field has that type.
 * Durations are in ms after parsing; sizes in bytes.
 *
 * Naming: a limit one daemon enforces in its protocol is
 * "<daemon>.<name>" (smtpd.max_errors, pop3d.max_errors); a key without a
 * prefix is one the skeleton or the store applies alike to every program.
 * A renamed key stays in config_aliases[] so old files keep loading.
 */
#include "lib/config.h"

#include "lib/settings.h"

#include <stdint.h>

#define KB	1024LL
#define MB	(1024LL * KB)
#define GB	(1024LL * MB)
#define SEC	1000LL
#define MIN	(60 * SEC)
#define HOUR	(60 * MIN)
#define DAY	(24 * HOUR)

#define NUMBER(type, ctype, name, f, def, lo, hi, doc)			\
	{ name, type, def, lo, hi, doc, NULL, SETTINGS_FIELD(ctype, f) }
#define UINT(name, f, def, lo, hi, doc)					\
	NUMBER(CONFIG_INT, unsigned, name, f, def, lo, hi, doc)
#define SIZE(name, f, def, lo, hi, doc)					\
	NUMBER(CONFIG_SIZE, uint64_t, name, f, def, lo, hi, doc)
#define DURATION(name, f, def, lo, hi, doc)				\
	NUMBER(CONFIG_DURATION, uint64_t, name, f, def, lo, hi, doc)
#define BOOL(name, f, def, doc)						\
	{ name, CONFIG_BOOL, def, 0, 0, doc, NULL, SETTINGS_FIELD(bool, f) }
#define STRING(name, f, def, doc)					\
	{ name, CONFIG_STRING, def, 0, 0, doc, NULL, SETTINGS_FIELD(const char *, f) }
#define CHOICE(name, f, def, doc, choices)				\
	{ name, CONFIG_STRING, def, 0, 0, doc, choices, SETTINGS_FIELD(const char *, f) }
#define PATH(name, f, def, doc)						\
	{ name, CONFIG_PATH, def, 0, 0, doc, NULL, SETTINGS_FIELD(const char *, f) }

const struct config_key config_keys[] = {
	/* ---- every daemon ---- */
	PATH("mail_root", lib.mail_root, "/var/lib/postroom/mail",
	  "where the Maildirs live: <mail_root>/<domain>/<local>/Maildir"),
	PATH("queue_dir", lib.queue_dir, "/var/spool/postroom",
	  "the durable queue for mail that must be relayed or retried"),
	STRING("user", lib.user, "postroom",
	  "unprivileged user the daemons drop to after binding (ignored when not started as root)"),
	STRING("hostname", lib.hostname, "",
	  "name in greetings and Received: headers (empty: the system host name)"),
	UINT("workers", lib.workers, "0", 0, 64,
	  "processes per daemon sharing the listening sockets (0: one per online CPU, at most 64)"),
	UINT("worker_restart_burst", lib.worker_restart_burst, "5", 0, 1000,
	  "deaths of a worker per minute restarted at once; past that restarts wait 1 s, doubling up to 60 s"),
	DURATION("stop_grace", lib.stop_grace_ms, "10s", 0, 1 * HOUR,
	  "after SIGTERM, how long sessions may finish their commands before they are closed"),
	BOOL("seccomp", lib.seccomp, "yes",
	  "after the privilege drop, refuse system calls no daemon makes (execve, ptrace, mount, bpf...)"),
	UINT("io_threads", lib.io_threads, "16", 0, 256,
	  "threads per process that run fsync off the event loop (0: inline); commits overlap up to this many"),
	CHOICE("log_level", lib.log_level, "info",
	  "error, warn, info or debug", "error|warn|info|debug"),
	CHOICE("log_target", lib.log_target, "stderr",
	  "stderr (journald adds time and unit) or syslog", "stderr|syslog"),
	PATH("tls_cert", lib.tls_cert, "/etc/postroom/tls/cert.pem",
	  "PEM certificate chain, reloaded on SIGHUP"),
	PATH("tls_key", lib.tls_key, "/etc/postroom/tls/key.pem",
	  "PEM private key, reloaded on SIGHUP"),
	BOOL("plaintext_auth_loopback", lib.plaintext_auth_loopback, "yes",
	  "allow AUTH/LOGIN/USER without TLS from 127.0.0.0/8 and ::1"),
	UINT("auth_max_hashes", lib.auth_max_hashes, "0", 0, 256,
	  "password checks at once per process, the others wait their turn (0: the online CPUs"
	  " shared among the workers, at least one each)"),
	UINT("auth_max_failures", lib.auth_max_failures, "10", 1, 1000,
	  "failed logins from one address before it is refused for auth_block_time"),
	DURATION("auth_fail_delay", lib.auth_fail_delay_ms, "1s", 0, 60 * SEC,
	  "per recent failed login from an address, every answer to its next login waits this long, success or not (capped at 15 s)"),
	DURATION("auth_block_time", lib.auth_block_time_ms, "15m", 0, DAY,
	  "how long an address over auth_max_failures is refused"),
	BOOL("auth_exempt_loopback", lib.auth_exempt_loopback, "no",
	  "never refuse 127.0.0.0/8 and ::1 (still delayed); off: behind a local TLS proxy every client would share one exempt address"),
	UINT("auth_table_size", lib.auth_table_size, "10000", 16, 1000000,
	  "client addresses the failed-login table holds (oldest evicted); a shared table keeps the size it was created with"),
	UINT("auth_cache_size", lib.auth_cache_size, "10000", 0, 1000000,
	  "logins a daemon remembers for all its workers (a MAC of the password, 56 bytes each, in shared"
	  " memory only, left out of core dumps), so that a client logging in again skips the password hash; 0: none"),
	DURATION("auth_cache_ttl", lib.auth_cache_ttl_ms, "1h", 0, DAY,
	  "how long a verified login is remembered; a changed password is never matched by an old entry; shortened on reload, older entries are forgotten; 0: not at all"),
	PATH("state_dir", lib.state_dir, "/var/lib/postroom",
	  "small state shared by every daemon and worker (the failed-login table \"authfail.table\"; run/<daemon>.status for mailctl status); empty: per process"),
	UINT("max_connections_per_ip", lib.max_connections_per_ip, "20", 1, 100000,
	  "simultaneous connections from one client address to one daemon (its workers together)"),
	UINT("connection_table_size", lib.connection_table_size, "16384", 16, 1000000,
	  "client addresses and users a daemon's workers count together (max_connections_per_ip,"
	  " pop3d.max_connections_per_user); shared memory, ~270 bytes + 4 per worker each; when"
	  " full a new client gets a temporary error"),
	UINT("max_connections", lib.max_connections, "2000", 1, 1000000,
	  "simultaneous connections per daemon process"),
	UINT("max_open_files", lib.max_open_files, "131072", 1024, 1048576,
	  "descriptors per daemon process: at start the soft limit is raised to this (and the hard"
	  " limit too when started as root), never lowered; an IMAP IDLE session holds 2; a limit under"
	  " 2 x max_connections + 100 is warned about at start"),
	UINT("stress_threshold", lib.stress_threshold, "80", 0, 100,
	  "percent of a listener's connection limit (or of max_connections) at which idle timeouts drop to the daemon's stress_timeout (0: never)"),

	/* ---- smtpd ---- */
	STRING("smtpd.mx_listen", smtpd.mx_listen, "0.0.0.0:25",
	  "MX listeners (addr:port, comma-separated; empty: off): no AUTH needed for local domains"),
	STRING("smtpd.submission_listen", smtpd.submission_listen, "0.0.0.0:587",
	  "submission listeners (STARTTLS, AUTH required before MAIL)"),
	STRING("smtpd.submissions_listen", smtpd.submissions_listen, "0.0.0.0:465",
	  "submissions listeners (implicit TLS, AUTH required before MAIL)"),
	UINT("smtpd.mx_max_connections", smtpd.mx_max_connections, "1500", 1, 1000000,
	  "simultaneous MX connections per process; the rest of max_connections stays free for submission users"),
	DURATION("smtpd.greeting_timeout", smtpd.greeting_timeout_ms, "1m", 1 * SEC, DAY,
	  "time to wait for the first EHLO/HELO (and again after STARTTLS)"),
	DURATION("smtpd.stress_timeout", smtpd.stress_timeout_ms, "10s", 1 * SEC, DAY,
	  "idle and command timeout while a listener is over stress_threshold"),
	SIZE("smtpd.max_message_size", smtpd.max_message_size, "35M", 1 * KB, 2 * GB,
	  "largest message accepted (advertised as SIZE, enforced during DATA/BDAT with 552)"),
	SIZE("smtpd.max_header_size", smtpd.max_header_size, "256K", 1 * KB, 64 * MB,
	  "header section kept in memory for end-of-data checks; the message is streamed to disk whole, a longer header is kept only up to this size"),
	UINT("smtpd.max_recipients", smtpd.max_recipients, "100", 1, 100000,
	  "recipients per message (more get 452 4.5.3)"),
	SIZE("smtpd.max_line_length", smtpd.max_line_length, "4096", 512, 1 * MB,
	  "longest command line, CRLF included (message lines: only max_message_size)"),
	UINT("smtpd.max_commands_before_mail", smtpd.max_commands_before_mail, "100", 1, 100000,
	  "commands (NOOP, RSET, VRFY...) allowed without a MAIL transaction"),
	UINT("smtpd.max_errors", smtpd.max_errors, "10", 1, 1000,
	  "error replies per session before 421 and close"),
	DURATION("smtpd.idle_timeout", smtpd.idle_timeout_ms, "5m", 1 * SEC, DAY,
	  "time to wait for the next command (RFC 5321 4.5.3.2 says at least 5 minutes)"),
	DURATION("smtpd.data_timeout", smtpd.data_timeout_ms, "10m", 1 * SEC, DAY,
	  "time allowed between data blocks during DATA/BDAT (also the grace before smtpd.min_data_rate counts)"),
	UINT("smtpd.min_data_rate", smtpd.min_data_rate, "500", 0, 1000000000,
	  "bytes/s a DATA/BDAT client must keep up: cut with 421 once time since the message started exceeds data_timeout + bytes received / rate (0: off)"),
	STRING("smtpd.relay_networks", smtpd.relay_networks, "",
	  "client networks allowed to relay without AUTH (CIDR, comma-separated)"),
	BOOL("smtpd.vrfy", smtpd.vrfy, "no",
	  "answer VRFY truthfully (otherwise 252)"),
	CHOICE("smtpd.bare_lf", smtpd.bare_lf, "normalize",
	  "bare LF inside DATA: normalize (treat as a line end, never as end of data) or reject (550)",
	  "normalize|reject"),
	UINT("smtpd.max_expansion", smtpd.max_expansion, "1000", 1, 100000,
	  "users one recipient (group or alias) may expand to; more get 452 4.5.3"),
	SIZE("smtpd.min_free_space", smtpd.min_free_space, "100M", 0, 1024 * GB,
	  "MAIL gets 452 4.3.1 while mail_root or queue_dir has less free space (minus MAIL's SIZE=)"
	  " than this (0: off)"),
	BOOL("smtpd.sender_login_match", smtpd.sender_login_match, "yes",
	  "authenticated sessions may use as MAIL FROM and in From: only addresses of the user"
	  " (own, plus-variants, aliases/groups delivering to them, the senders file); else 553/550"),
	BOOL("smtpd.sender_allow_null", smtpd.sender_allow_null, "no",
	  "with smtpd.sender_login_match, also allow authenticated sessions MAIL FROM:<>"),

	/* ---- pop3d ---- */
	STRING("pop3d.listen", pop3d.listen, "0.0.0.0:110",
	  "POP3 listeners (STLS offered)"),
	STRING("pop3d.tls_listen", pop3d.tls_listen, "0.0.0.0:995",
	  "POP3 over implicit TLS listeners"),
	DURATION("pop3d.idle_timeout", pop3d.idle_timeout_ms, "10m", 1 * SEC, DAY,
	  "inactivity before the session is closed (RFC 1939: at least 10 minutes)"),
	DURATION("pop3d.preauth_timeout", pop3d.preauth_timeout_ms, "1m", 1 * SEC, DAY,
	  "inactivity before login (USER/PASS, AUTH) before the session is closed; at most pop3d.idle_timeout"),
	DURATION("pop3d.stress_timeout", pop3d.stress_timeout_ms, "30s", 1 * SEC, DAY,
	  "inactivity timeout while a listener is over stress_threshold"),
	SIZE("pop3d.max_line_length", pop3d.max_line_length, "1024", 256, 64 * KB,
	  "longest command line, CRLF included"),
	UINT("pop3d.max_errors", pop3d.max_errors, "20", 1, 1000,
	  "unknown or failed commands in a row before the connection is closed"),
	BOOL("pop3d.mark_seen", pop3d.mark_seen, "yes",
	  "set \\Seen on messages retrieved through POP3"),
	UINT("pop3d.max_connections_per_user", pop3d.max_connections_per_user, "10", 1, 10000,
	  "simultaneous POP3 sessions for one user (pop3d's workers together)"),
	UINT("pop3d.read_ahead", pop3d.read_ahead, "4", 0, 16,
	  "messages after the one RETR sends that are opened and read ahead (one descriptor each; 0: none)"),

	/* ---- imapd ---- */
	STRING("imapd.listen", imapd.listen, "0.0.0.0:143",
	  "IMAP listeners (STARTTLS offered)"),
	STRING("imapd.tls_listen", imapd.tls_listen, "0.0.0.0:993",
	  "IMAP over implicit TLS listeners"),
	DURATION("imapd.idle_timeout", imapd.idle_timeout_ms, "30m", 1 * SEC, DAY,
	  "inactivity before a logged-in session is closed (RFC 3501 5.4: at least 30 minutes)"),
	DURATION("imapd.preauth_timeout", imapd.preauth_timeout_ms, "1m", 1 * SEC, DAY,
	  "inactivity before login before the session is closed; at most imapd.idle_timeout"),
	DURATION("imapd.stress_timeout", imapd.stress_timeout_ms, "30s", 1 * SEC, DAY,
	  "inactivity timeout while a listener is over stress_threshold"),
	DURATION("imapd.idle_keepalive", imapd.idle_keepalive_ms, "2m", 1 * SEC, DAY,
	  "interval of the \"* OK Still here\" an IDLE session is sent (keeps NAT and firewalls open)"),
	DURATION("imapd.idle_check_interval", imapd.idle_check_interval_ms, "30s", 1 * SEC, DAY,
	  "how often an IDLE session re-reads its mailbox when inotify is unavailable (fs.inotify limits reached)"),
	UINT("imapd.max_errors", imapd.max_errors, "20", 1, 1000,
	  "BAD or failed commands in a row before the connection is closed"),
	UINT("imapd.max_commands_before_auth", imapd.max_commands_before_auth, "30", 1, 100000,
	  "commands a client may send before it has logged in"),
	UINT("imapd.max_connections_per_user", imapd.max_connections_per_user, "20", 1, 10000,
	  "simultaneous logged-in IMAP sessions for one user, per process"),
	SIZE("imapd.max_command_size", imapd.max_command_size, "1M", 4 * KB, 64 * MB,
	  "bytes of one command held in memory: its lines and literals, the APPEND message apart"),
	SIZE("imapd.max_literal_size", imapd.max_literal_size, "35M", 1 * KB, 2 * GB,
	  "largest message APPEND accepts (advertised as APPENDLIMIT); a larger one is refused before it is sent"),
	UINT("imapd.max_nesting", imapd.max_nesting, "64", 2, 1000,
	  "depth of parenthesised lists, and of NOT/OR in SEARCH, in one command"),
	UINT("imapd.max_arguments", imapd.max_arguments, "10000", 100, 1000000,
	  "tokens in one command, and elements of one sequence set"),
	UINT("imapd.max_mailbox_name", imapd.max_mailbox_name, "200", 16, 200,
	  "longest mailbox name in bytes (modified UTF-7, as on disk); longer ones get NO [CANNOT]"),
	SIZE("imapd.list_match_cells", imapd.list_match_cells, "32M", 64 * KB, 1024 * MB,
	  "pattern x name characters one LIST may match (its CPU); over it LIST gets NO [LIMIT]"),
	SIZE("imapd.max_list_reply", imapd.max_list_reply, "16M", 64 * KB, 1024 * MB,
	  "bytes of one LIST, LSUB or STATUS reply held in memory; over it the command gets NO [LIMIT]"),

	/* ---- relayd ---- */
	STRING("relayd.control_listen", relayd.control_listen, "/var/lib/postroom/relayd.sock",
	  "the Unix socket mailctl queue talks to (only root may connect)"),
	UINT("relayd.max_connections", relayd.max_connections, "20", 1, 10000,
	  "outbound SMTP connections open at once"),
	UINT("relayd.max_per_destination", relayd.max_per_destination, "4", 1, 1000,
	  "of those, to one destination domain at once"),
	UINT("relayd.max_rcpts", relayd.max_rcpts, "100", 1, 10000,
	  "recipients sent in one transaction (RFC 5321 says at least 100 must be taken)"),
	DURATION("relayd.min_backoff", relayd.min_backoff_ms, "5m", 1 * SEC, DAY,
	  "wait after a first temporary failure; doubled after each one"),
	DURATION("relayd.max_backoff", relayd.max_backoff_ms, "4h", 1 * SEC, 7 * DAY,
	  "the longest wait between two tries"),
	DURATION("relayd.max_lifetime", relayd.max_lifetime_ms, "5d", 1 * SEC, 60 * DAY,
	  "how long a message is tried before it bounces"),
	DURATION("relayd.delay_warning", relayd.delay_warning_ms, "4h", 0, 60 * DAY,
	  "tell the sender once when a message has waited this long (0: never)"),
	DURATION("relayd.scan_interval", relayd.scan_interval_ms, "1m", 1 * SEC, DAY,
	  "look through the queue this often, besides being told of new mail"),
	DURATION("relayd.connect_timeout", relayd.connect_timeout_ms, "30s", 100, 10 * MIN,
	  "give up connecting to one address after this long"),
	DURATION("relayd.reply_timeout", relayd.reply_timeout_ms, "10m", 100, HOUR,
	  "longest wait for a server's reply (RFC 5321 4.5.3.2 asks 2 to 10 minutes)"),
	SIZE("relayd.bounce_size_limit", relayd.bounce_size_limit, "50K", 0, 100 * MB,
	  "a bounce returns the whole message up to this size, else its header"),
	UINT("relayd.port", relayd.port, "25", 1, 65535,
	  "the port of remote servers (tests use another)"),
	CHOICE("relayd.tls", relayd.tls, "may",
	  "STARTTLS to remote servers: none; may (when offered; plaintext if not); encrypt "
	  "(required); verify (required, the certificate checked against the CA store and the MX name)",
	  "none|may|encrypt|verify"),
	PATH("relayd.tls_ca_file", relayd.tls_ca_file, "",
	  "CA certificates (PEM) for verify; empty: the system's CA store"),
	PATH("relayd.tls_policy", relayd.tls_policy, "",
	  "per-domain TLS policy file, lines \"domain none|may|encrypt|verify\" (re-read on SIGHUP)"),
	STRING("relayd.smarthost", relayd.smarthost, "",
	  "send all non-local mail to host[:port] (MX lookup of host), or [host]:port (no MX lookup)"),
	PATH("relayd.smarthost_auth", relayd.smarthost_auth, "",
	  "file with \"user password\" for AUTH to the smarthost, mode 0600 (re-read on SIGHUP)"),
	CHOICE("relayd.smarthost_tls", relayd.smarthost_tls, "verify",
	  "STARTTLS to the smarthost as relayd.tls (verify: the password goes only to a certificate that checks out; AUTH over plaintext only with none)",
	  "none|may|encrypt|verify"),
	STRING("relayd.dns_servers", relayd.dns_servers, "",
	  "DNS servers to ask (\"addr:port,...\"); empty: the system's resolv.conf"),

	/* ---- store ---- */
	BOOL("store.fsync", store.fsync, "yes",
	  "fsync messages and directories before acknowledging (turn off only for throw-away tests)"),
	UINT("store.vanished_max", store.vanished_max, "10000", 1, 10000000,
	  "expunged UIDs remembered per folder for IMAP QRESYNC; a client further behind resyncs fully"),
	UINT("store.max_opens", store.max_opens, "0", 0, 256,
	  "mailbox opens at once per process at login (POP3's sync and snapshot), the others wait their"
	  " turn (0: the online CPUs shared among the workers, at least one each)"),

	{ NULL, 0, NULL, 0, 0, NULL, NULL, 0 },
};

const struct config_alias config_aliases[] = {
	{ "max_bad_commands", "pop3d.max_errors" },	/* read by pop3d alone */
	{ NULL, NULL },
};

/* Before login the session must not wait longer than after it. */
static int
pop3d_check(const struct settings *set, const char **key_r, const char **error_r)
{
	if (set->pop3d.preauth_timeout_ms > set->pop3d.idle_timeout_ms) {
		*key_r = "pop3d.preauth_timeout";
		*error_r = "longer than pop3d.idle_timeout";
		return -1;
	}
	return 0;
}

static int
imapd_check(const struct settings *set, const char **key_r, const char **error_r)
{
	if (set->imapd.preauth_timeout_ms > set->imapd.idle_timeout_ms) {
		*key_r = "imapd.preauth_timeout";
		*error_r = "longer than imapd.idle_timeout";
		return -1;
	}
	return 0;
}

config_check_fn *const config_checks[] = {
	pop3d_check,
	imapd_check,
	NULL,
};
