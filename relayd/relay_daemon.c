/*
 * relayd: the queue runner in the daemon skeleton, as one worker (the
 * queue has one owner), its one listener the control socket.  Its own daemon rather than a part of smtpd: the
 * side that talks to arbitrary remote servers fails, waits and retries on
 * its own, and smtpd keeps only what receiving needs (Postfix's qmgr and
 * smtp, OpenSMTPD's queue and mta, in the same spirit).
 */
#include "relayd/relay_daemon.h"

#include "lib/daemon.h"
#include "lib/dns.h"
#include "lib/log.h"
#include "lib/tls.h"
#include "queue/queue.h"
#include "relayd/relay_runner.h"
#include "relayd/smarthost.h"
#include "relayd/tls_policy.h"
#include "store/store.h"

#include <openssl/ssl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static struct {
	struct queue		*queue;
	struct store		*store;
	struct dns		*dns;
	SSL_CTX			*tls_ctx;
	SSL_CTX			*tls_verify_ctx;	/* relayd.tls_ca_file: read at start */
	struct relay_runner	*runner;
	char			 hostname[256];
	/*
	 * What the files and keys below say, read at start and on SIGHUP.  In
	 * place, fixed arrays: live connections point at them.
	 */
	struct smarthost	 smarthost;
	bool			 has_smarthost;
	enum smtp_tls_policy	 smarthost_tls;
	char			 auth_user[SMARTHOST_CRED_MAX + 1];
	char			 auth_password[SMARTHOST_CRED_MAX + 1];
	bool			 has_auth;
	struct tls_policy	*tls_policy;
} relayd;

/*
 * The smarthost, its credentials and the TLS policy, all or nothing: on
 * an error the ones in use stay.  The old policy is freed once the runner
 * has the new one (*old_r).
 */
static int
read_outbound(const struct relayd_settings *s, struct tls_policy **old_r, const char **error_r)
{
	struct smarthost	 sh;
	struct tls_policy	*policy = NULL;
	char			 user[SMARTHOST_CRED_MAX + 1], pass[SMARTHOST_CRED_MAX + 1];
	enum smtp_tls_policy	 level;

	if (s->smarthost[0] != '\0' && smarthost_parse(s->smarthost, &sh, error_r) == -1)
		return -1;
	if (s->smarthost_auth[0] != '\0' &&
	    smarthost_auth_read(s->smarthost_auth, user, pass, error_r) == -1)
		return -1;
	if (s->tls_policy[0] != '\0' && (policy = tls_policy_read(s->tls_policy, error_r)) == NULL) {
		explicit_bzero(pass, sizeof(pass));
		return -1;
	}
	(void)tls_policy_level(s->smarthost_tls, &level);	/* a CHOICE key: valid */
	relayd.has_smarthost = s->smarthost[0] != '\0';
	if (relayd.has_smarthost)
		relayd.smarthost = sh;
	relayd.smarthost_tls = level;
	relayd.has_auth = s->smarthost_auth[0] != '\0';
	explicit_bzero(relayd.auth_password, sizeof(relayd.auth_password));
	if (relayd.has_auth) {
		memcpy(relayd.auth_user, user, sizeof(user));
		memcpy(relayd.auth_password, pass, sizeof(pass));
		explicit_bzero(pass, sizeof(pass));
	}
	*old_r = relayd.tls_policy;
	relayd.tls_policy = policy;
	return 0;
}

static void
runner_config(struct daemon *d, struct relay_runner_config *c)
{
	const struct settings		*set = daemon_settings(d);
	const struct relayd_settings	*s = &set->relayd;

	*c = (struct relay_runner_config){
		.queue_dir = set->lib.queue_dir, .hostname = relayd.hostname,
		.max_connections = s->max_connections, .max_per_destination = s->max_per_destination,
		.max_rcpts = s->max_rcpts, .min_backoff_ms = s->min_backoff_ms,
		.max_backoff_ms = s->max_backoff_ms, .max_lifetime_ms = s->max_lifetime_ms,
		.delay_warning_ms = s->delay_warning_ms, .scan_interval_ms = s->scan_interval_ms,
		.connect_timeout_ms = s->connect_timeout_ms, .reply_timeout_ms = s->reply_timeout_ms,
		.bounce_size_limit = s->bounce_size_limit, .port = (uint16_t)s->port,
		.tls_policy = relayd.tls_policy,
		.tls_ctx = relayd.tls_ctx, .tls_verify_ctx = relayd.tls_verify_ctx,
		.smarthost = relayd.has_smarthost ? &relayd.smarthost : NULL,
		.smarthost_tls = relayd.smarthost_tls,
		.auth_user = relayd.has_auth ? relayd.auth_user : NULL,
		.auth_password = relayd.has_auth ? relayd.auth_password : NULL,
		.directory = daemon_directory(d), .store = relayd.store,
		.mail_root = set->lib.mail_root,
	};
	(void)tls_policy_level(s->tls, &c->tls);	/* a CHOICE key: valid */
}

int
relayd_init(struct daemon *d, const char **error_r)
{
	const struct settings		*set = daemon_settings(d);
	struct relay_runner_config	 cfg;
	struct dns_options		 dopt = { .servers = set->relayd.dns_servers };
	struct store_options		 sopt = { .fsync_enabled = set->store.fsync };
	struct tls_policy		*old = NULL;

	snprintf(relayd.hostname, sizeof(relayd.hostname), "%s", set->lib.hostname);
	if (relayd.hostname[0] == '\0' &&
	    gethostname(relayd.hostname, sizeof(relayd.hostname) - 1) == -1)
		snprintf(relayd.hostname, sizeof(relayd.hostname), "localhost");
	if (dopt.servers[0] == '\0')
		dopt.servers = NULL;
	if ((relayd.queue = queue_open(set->lib.queue_dir, error_r)) == NULL ||
	    (relayd.store = store_open(set->lib.mail_root, &sopt, error_r)) == NULL ||
	    (relayd.dns = dns_new(daemon_loop(d), &dopt, error_r)) == NULL ||
	    (relayd.tls_ctx = tls_client_ctx_new(error_r)) == NULL ||
	    (relayd.tls_verify_ctx = tls_client_verify_ctx_new(set->relayd.tls_ca_file,
	    error_r)) == NULL ||
	    read_outbound(&set->relayd, &old, error_r) == -1)
		return -1;
	runner_config(d, &cfg);
	relayd.runner = relay_runner_new(daemon_loop(d), daemon_workq(d), relayd.queue,
	    relayd.dns, &cfg);
	daemon_set_arg(d, &relayd.runner);	/* the control sessions' (NULL once stopping) */
	return 0;
}

void
relayd_reload(struct daemon *d)
{
	struct relay_runner_config	 cfg;
	struct tls_policy		*old = NULL;
	const char			*error;

	if (read_outbound(&daemon_settings(d)->relayd, &old, &error) == -1)
		log_warnx("event=reload status=failed reason=\"%s\" "
		    "action=\"smarthost, its AUTH and TLS policy unchanged\"", error);
	runner_config(d, &cfg);
	relay_runner_configure(relayd.runner, &cfg);
	tls_policy_free(&old);
}

/* What is being sent is dropped: its recipients are tried again at the next start. */
void
relayd_stop(struct daemon *d)
{
	(void)d;
	relay_runner_free(&relayd.runner);
}

void
relayd_fini(struct daemon *d)
{
	(void)d;
	relay_runner_free(&relayd.runner);
	dns_free(&relayd.dns);
	SSL_CTX_free(relayd.tls_ctx);
	SSL_CTX_free(relayd.tls_verify_ctx);
	tls_policy_free(&relayd.tls_policy);
	explicit_bzero(relayd.auth_password, sizeof(relayd.auth_password));
	store_close(&relayd.store);
	queue_close(&relayd.queue);
}
