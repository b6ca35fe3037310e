/*
 * Every configuration key, in one table: the parser, `mailctl config`, the
 * sample etc/postroom.conf and a unit test (every key documented there)
 * all read it.  Durations are in ms after parsing; sizes in bytes.
 */
#include "lib/config.h"

#define KB	1024LL
#define MB	(1024LL * KB)
#define GB	(1024LL * MB)
#define SEC	1000LL
#define MIN	(60 * SEC)
#define HOUR	(60 * MIN)
#define DAY	(24 * HOUR)

const struct config_key config_keys[] = {
	/* ---- every daemon ---- */
	{ "mail_root", CONFIG_PATH, "/var/lib/postroom/mail", 0, 0,
	  "where the Maildirs live: <mail_root>/<domain>/<local>/Maildir" },
	{ "queue_dir", CONFIG_PATH, "/var/spool/postroom", 0, 0,
	  "the durable queue for mail that must be relayed or retried" },
	{ "user", CONFIG_STRING, "postroom", 0, 0,
	  "unprivileged user the daemons drop to after binding (ignored when not started as root)" },
	{ "hostname", CONFIG_STRING, "", 0, 0,
	  "name in greetings and Received: headers (empty: the system host name)" },
	{ "workers", CONFIG_INT, "1", 1, 64,
	  "processes per daemon sharing the listening sockets" },
	{ "worker_restart_burst", CONFIG_INT, "5", 0, 1000,
	  "deaths of a worker per minute restarted at once; past that restarts wait 1 s, doubling up to 60 s" },
	{ "seccomp", CONFIG_BOOL, "yes", 0, 0,
	  "after the privilege drop, refuse system calls no daemon makes (execve, ptrace, mount, bpf...)" },
	{ "io_threads", CONFIG_INT, "16", 0, 256,
	  "threads per process that run fsync off the event loop (0: inline); commits overlap up to this many" },
	{ "log_level", CONFIG_STRING, "info", 0, 0,
	  "error, warn, info or debug", "error|warn|info|debug" },
	{ "log_target", CONFIG_STRING, "stderr", 0, 0,
	  "stderr (journald adds time and unit) or syslog", "stderr|syslog" },
	{ "tls_cert", CONFIG_PATH, "/etc/postroom/tls/cert.pem", 0, 0,
	  "PEM certificate chain, reloaded on SIGHUP" },
	{ "tls_key", CONFIG_PATH, "/etc/postroom/tls/key.pem", 0, 0,
	  "PEM private key, reloaded on SIGHUP" },
	{ "plaintext_auth_loopback", CONFIG_BOOL, "yes", 0, 0,
	  "allow AUTH/LOGIN/USER without TLS from 127.0.0.0/8 and ::1" },
	{ "auth_max_failures", CONFIG_INT, "10", 1, 1000,
	  "failed logins from one address before it is refused for auth_block_time" },
	{ "auth_fail_delay", CONFIG_DURATION, "1s", 0, 60 * SEC,
	  "per recent failed login from an address, every answer to its next login waits this long, success or not (capped at 15 s)" },
	{ "auth_block_time", CONFIG_DURATION, "15m", 0, DAY,
	  "how long an address over auth_max_failures is refused" },
	{ "auth_exempt_loopback", CONFIG_BOOL, "no", 0, 0,
	  "never refuse 127.0.0.0/8 and ::1 (still delayed); off: behind a local TLS proxy every client would share one exempt address" },
	{ "auth_table_size", CONFIG_INT, "10000", 16, 1000000,
	  "client addresses the failed-login table holds (oldest evicted); a shared table keeps the size it was created with" },
	{ "state_dir", CONFIG_PATH, "/var/lib/postroom", 0, 0,
	  "small state shared by every daemon and worker (the failed-login table \"authfail.table\"); empty: per process" },
	{ "max_connections_per_ip", CONFIG_INT, "20", 1, 100000,
	  "simultaneous connections from one client address, per daemon process" },
	{ "max_connections", CONFIG_INT, "2000", 1, 1000000,
	  "simultaneous connections per daemon process" },
	{ "stress_threshold", CONFIG_INT, "80", 0, 100,
	  "percent of a listener's connection limit (or of max_connections) at which idle timeouts drop to the daemon's stress_timeout (0: never)" },
	{ "max_bad_commands", CONFIG_INT, "20", 1, 1000,
	  "unknown or failed commands in a row before the connection is closed" },

	/* ---- smtpd ---- */
	{ "smtpd.mx_listen", CONFIG_STRING, "0.0.0.0:25", 0, 0,
	  "MX listeners (addr:port, comma-separated; empty: off): no AUTH needed for local domains" },
	{ "smtpd.submission_listen", CONFIG_STRING, "0.0.0.0:587", 0, 0,
	  "submission listeners (STARTTLS, AUTH required before MAIL)" },
	{ "smtpd.submissions_listen", CONFIG_STRING, "0.0.0.0:465", 0, 0,
	  "submissions listeners (implicit TLS, AUTH required before MAIL)" },
	{ "smtpd.mx_max_connections", CONFIG_INT, "1500", 1, 1000000,
	  "simultaneous MX connections per process; the rest of max_connections stays free for submission users" },
	{ "smtpd.greeting_timeout", CONFIG_DURATION, "1m", 1 * SEC, DAY,
	  "time to wait for the first EHLO/HELO (and again after STARTTLS)" },
	{ "smtpd.stress_timeout", CONFIG_DURATION, "10s", 1 * SEC, DAY,
	  "idle and command timeout while a listener is over stress_threshold" },
	{ "smtpd.max_message_size", CONFIG_SIZE, "35M", 1 * KB, 2 * GB,
	  "largest message accepted (advertised as SIZE, enforced during DATA/BDAT with 552)" },
	{ "smtpd.max_header_size", CONFIG_SIZE, "256K", 1 * KB, 64 * MB,
	  "header section kept in memory for end-of-data checks; the message is streamed to disk whole, a longer header is kept only up to this size" },
	{ "smtpd.max_recipients", CONFIG_INT, "100", 1, 100000,
	  "recipients per message (more get 452 4.5.3)" },
	{ "smtpd.max_line_length", CONFIG_SIZE, "4096", 512, 1 * MB,
	  "longest command line, CRLF included (message lines: only max_message_size)" },
	{ "smtpd.max_commands_before_mail", CONFIG_INT, "100", 1, 100000,
	  "commands (NOOP, RSET, VRFY...) allowed without a MAIL transaction" },
	{ "smtpd.max_errors", CONFIG_INT, "10", 1, 1000,
	  "error replies per session before 421 and close" },
	{ "smtpd.idle_timeout", CONFIG_DURATION, "5m", 1 * SEC, DAY,
	  "time to wait for the next command (RFC 5321 4.5.3.2 says at least 5 minutes)" },
	{ "smtpd.data_timeout", CONFIG_DURATION, "10m", 1 * SEC, DAY,
	  "time allowed between data blocks during DATA/BDAT (also the grace before smtpd.min_data_rate counts)" },
	{ "smtpd.min_data_rate", CONFIG_INT, "500", 0, 1000000000,
	  "bytes/s a DATA/BDAT client must keep up: cut with 421 once time since the message started exceeds data_timeout + bytes received / rate (0: off)" },
	{ "smtpd.relay_networks", CONFIG_STRING, "", 0, 0,
	  "client networks allowed to relay without AUTH (CIDR, comma-separated)" },
	{ "smtpd.vrfy", CONFIG_BOOL, "no", 0, 0,
	  "answer VRFY truthfully (otherwise 252)" },
	{ "smtpd.bare_lf", CONFIG_STRING, "normalize", 0, 0,
	  "bare LF inside DATA: normalize (treat as a line end, never as end of data) or reject (550)",
	  "normalize|reject" },
	{ "smtpd.max_expansion", CONFIG_INT, "1000", 1, 100000,
	  "users one recipient (group or alias) may expand to; more get 452 4.5.3" },
	{ "smtpd.min_free_space", CONFIG_SIZE, "100M", 0, 1024 * GB,
	  "MAIL gets 452 4.3.1 while mail_root or queue_dir has less free space (minus MAIL's SIZE=)"
	  " than this (0: off)" },
	{ "smtpd.sender_login_match", CONFIG_BOOL, "yes", 0, 0,
	  "authenticated sessions may use as MAIL FROM and in From: only addresses of the user"
	  " (own, plus-variants, aliases/groups delivering to them, the senders file); else 553/550" },
	{ "smtpd.sender_allow_null", CONFIG_BOOL, "no", 0, 0,
	  "with smtpd.sender_login_match, also allow authenticated sessions MAIL FROM:<>" },

	/* ---- pop3d ---- */
	{ "pop3d.listen", CONFIG_STRING, "0.0.0.0:110", 0, 0,
	  "POP3 listeners (STLS offered)" },
	{ "pop3d.tls_listen", CONFIG_STRING, "0.0.0.0:995", 0, 0,
	  "POP3 over implicit TLS listeners" },
	{ "pop3d.idle_timeout", CONFIG_DURATION, "10m", 1 * SEC, DAY,
	  "inactivity before the session is closed (RFC 1939: at least 10 minutes)" },
	{ "pop3d.preauth_timeout", CONFIG_DURATION, "1m", 1 * SEC, DAY,
	  "inactivity before login (USER/PASS, AUTH) before the session is closed" },
	{ "pop3d.stress_timeout", CONFIG_DURATION, "30s", 1 * SEC, DAY,
	  "inactivity timeout while a listener is over stress_threshold" },
	{ "pop3d.max_line_length", CONFIG_SIZE, "1024", 256, 64 * KB,
	  "longest command line, CRLF included" },
	{ "pop3d.mark_seen", CONFIG_BOOL, "yes", 0, 0,
	  "set \\Seen on messages retrieved through POP3" },
	{ "pop3d.max_connections_per_user", CONFIG_INT, "10", 1, 10000,
	  "simultaneous POP3 sessions for one user" },

	/* ---- store ---- */
	{ "store.fsync", CONFIG_BOOL, "yes", 0, 0,
	  "fsync messages and directories before acknowledging (turn off only for throw-away tests)" },
	{ "store.vanished_max", CONFIG_INT, "10000", 1, 10000000,
	  "expunged UIDs remembered per folder for IMAP QRESYNC; a client further behind resyncs fully" },

	{ NULL, 0, NULL, 0, 0, NULL },
};
