/*
 * smtpd's init/reload/fini for daemon_run: one process-wide context (the
 * env every session points to, the store, the queue).
 */
#include "smtpd/smtp_daemon.h"
#include "smtpd/smtp_cleanup.h"
#include "smtpd/smtp_deliver.h"
#include "smtpd/smtp_session.h"
#include "lib/config.h"
#include "lib/daemon.h"
#include "lib/log.h"
#include "queue/queue.h"
#include "store/store.h"

#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <unistd.h>

static struct {
	struct smtp_env		 env;
	struct smtp_deliverer	 dl;
	struct relaynets	*relaynets;
	char			 hostname[256];
	const char		*queue_dir;
} smtpd;

static uint64_t
smtpd_now_ms(void)
{
	struct timeval	 tv;

	gettimeofday(&tv, NULL);
	return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

/* Free bytes for the unprivileged (f_bavail) at path; -1 if unknown. */
static int
path_free_space(const char *path, uint64_t *bytes_r)
{
	struct statvfs	 st;

	if (statvfs(path, &st) == -1) {
		log_warn("event=statvfs path=%s", path);
		return -1;
	}
	*bytes_r = (uint64_t)st.f_bavail * st.f_frsize;
	return 0;
}

/* The lesser of mail_root's and queue_dir's: a message may need either. */
static int
smtpd_free_space(uint64_t *bytes_r)
{
	uint64_t	 mail, queue;

	if (path_free_space(smtpd.env.mail_root, &mail) == -1 ||
	    path_free_space(smtpd.queue_dir, &queue) == -1)
		return -1;
	*bytes_r = mail < queue ? mail : queue;
	return 0;
}

void
smtp_env_configure(struct smtp_env *env, const struct config *cfg)
{
	env->mail_root = config_str(cfg, "mail_root");
	env->max_message_size = (size_t)config_int(cfg, "smtpd.max_message_size");
	env->max_header_size = (size_t)config_int(cfg, "smtpd.max_header_size");
	env->max_line_length = (size_t)config_int(cfg, "smtpd.max_line_length");
	env->max_recipients = (unsigned)config_int(cfg, "smtpd.max_recipients");
	env->max_expansion = (unsigned)config_int(cfg, "smtpd.max_expansion");
	env->max_commands_before_mail =
	    (unsigned)config_int(cfg, "smtpd.max_commands_before_mail");
	env->max_errors = (unsigned)config_int(cfg, "smtpd.max_errors");
	env->idle_timeout = (unsigned long long)config_int(cfg, "smtpd.idle_timeout");
	env->greeting_timeout = (unsigned long long)config_int(cfg, "smtpd.greeting_timeout");
	env->data_timeout = (unsigned long long)config_int(cfg, "smtpd.data_timeout");
	env->min_data_rate = (unsigned)config_int(cfg, "smtpd.min_data_rate");
	env->vrfy = config_bool(cfg, "smtpd.vrfy");
	env->bare_lf_reject = strcmp(config_str(cfg, "smtpd.bare_lf"), "reject") == 0;
	env->plaintext_auth_loopback = config_bool(cfg, "plaintext_auth_loopback");
	env->sender_login_match = config_bool(cfg, "smtpd.sender_login_match");
	env->sender_allow_null = config_bool(cfg, "smtpd.sender_allow_null");
	env->min_free_space = (uint64_t)config_int(cfg, "smtpd.min_free_space");
}

/* Everything that may change on SIGHUP; -1 keeps the old relay networks. */
static int
smtpd_configure(struct daemon *d, const char **error_r)
{
	const struct config	*cfg = daemon_config(d);
	struct relaynets	*r;

	/* smtpd.bare_lf's values are checked by the config parser (choices). */
	smtp_env_configure(&smtpd.env, cfg);
	snprintf(smtpd.hostname, sizeof(smtpd.hostname), "%s", config_str(cfg, "hostname"));
	if (smtpd.hostname[0] == '\0' &&
	    gethostname(smtpd.hostname, sizeof(smtpd.hostname) - 1) == -1)
		snprintf(smtpd.hostname, sizeof(smtpd.hostname), "localhost");
	smtpd.env.hostname = smtpd.hostname;
	smtpd.queue_dir = config_str(cfg, "queue_dir");
	smtpd.env.free_space = smtpd_free_space;
	smtpd.env.dir = daemon_directory(d);
	smtpd.env.authfail = daemon_authfail(d);
	smtpd.env.tls_available = daemon_tls_available(d);
	if ((r = relaynets_parse(config_str(cfg, "smtpd.relay_networks"), error_r)) == NULL)
		return -1;
	relaynets_free(&smtpd.relaynets);
	smtpd.relaynets = r;
	smtpd.env.relaynets = r;
	return 0;
}

int
smtpd_init(struct daemon *d, const char **error_r)
{
	const struct config	*cfg = daemon_config(d);
	struct store_options	 opts = { 0 };

	if (smtpd_configure(d, error_r) == -1)
		return -1;
	opts.fsync_enabled = config_bool(cfg, "store.fsync");
	if ((smtpd.dl.store = store_open(config_str(cfg, "mail_root"), &opts, error_r)) == NULL)
		return -1;
	if ((smtpd.dl.queue = queue_open(config_str(cfg, "queue_dir"), error_r)) == NULL)
		return -1;
	smtp_cleanup_maildirs(config_str(cfg, "mail_root"));
	smtpd.dl.wq = daemon_workq(d);
	smtpd.env.deliver = smtp_deliver;
	smtpd.env.deliver_ctx = &smtpd.dl;
	smtpd.env.writer = &smtp_deliver_writer;
	smtpd.env.authenticate = smtp_authenticate;
	smtpd.env.auth_ctx = &smtpd.dl;
	smtpd.env.now_ms = smtpd_now_ms;
	daemon_set_arg(d, &smtpd.env);
	return 0;
}

void
smtpd_reload(struct daemon *d)
{
	const char	*error = NULL;

	if (smtpd_configure(d, &error) == -1)
		log_warnx("event=reload status=failed reason=\"%s\" keeping the previous relay networks",
		    error);
}

void
smtpd_fini(struct daemon *d)
{
	queue_close(&smtpd.dl.queue);
	store_close(&smtpd.dl.store);
	relaynets_free(&smtpd.relaynets);
}
