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
	struct relay_runner	*runner;
	char			 hostname[256];
} relayd;

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
		.tls = strcmp(s->tls, "none") == 0 ? SMTP_TLS_NONE : SMTP_TLS_MAY,
		.tls_ctx = relayd.tls_ctx,
		.directory = daemon_directory(d), .store = relayd.store,
		.mail_root = set->lib.mail_root,
	};
}

int
relayd_init(struct daemon *d, const char **error_r)
{
	const struct settings		*set = daemon_settings(d);
	struct relay_runner_config	 cfg;
	struct dns_options		 dopt = { .servers = set->relayd.dns_servers };
	struct store_options		 sopt = { .fsync_enabled = set->store.fsync };

	snprintf(relayd.hostname, sizeof(relayd.hostname), "%s", set->lib.hostname);
	if (relayd.hostname[0] == '\0' &&
	    gethostname(relayd.hostname, sizeof(relayd.hostname) - 1) == -1)
		snprintf(relayd.hostname, sizeof(relayd.hostname), "localhost");
	if (dopt.servers[0] == '\0')
		dopt.servers = NULL;
	if ((relayd.queue = queue_open(set->lib.queue_dir, error_r)) == NULL ||
	    (relayd.store = store_open(set->lib.mail_root, &sopt, error_r)) == NULL ||
	    (relayd.dns = dns_new(daemon_loop(d), &dopt, error_r)) == NULL ||
	    (relayd.tls_ctx = tls_client_ctx_new(error_r)) == NULL)
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
	struct relay_runner_config	cfg;

	runner_config(d, &cfg);
	relay_runner_configure(relayd.runner, &cfg);
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
	store_close(&relayd.store);
	queue_close(&relayd.queue);
}
