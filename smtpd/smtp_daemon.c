/*
 * smtpd's init/reload/fini for daemon_run: one process-wide context (the
 * env every session points to, the store, the queue).
 */
#include "smtpd/smtp_daemon.h"
#include "smtpd/smtp_cleanup.h"
#include "smtpd/smtp_deliver.h"
#include "smtpd/smtp_session.h"
#include "lib/daemon.h"
#include "lib/log.h"
#include "lib/settings.h"
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
smtp_env_configure(struct smtp_env *env, const struct settings *set)
{
	const struct smtpd_settings	*s = &set->smtpd;

	env->mail_root = set->lib.mail_root;
	env->max_message_size = s->max_message_size;
	env->max_header_size = s->max_header_size;
	env->max_line_length = s->max_line_length;
	env->max_recipients = s->max_recipients;
	env->max_expansion = s->max_expansion;
	env->max_commands_before_mail = s->max_commands_before_mail;
	env->max_errors = s->max_errors;
	env->idle_timeout = s->idle_timeout_ms;
	env->greeting_timeout = s->greeting_timeout_ms;
	env->data_timeout = s->data_timeout_ms;
	env->min_data_rate = s->min_data_rate;
	env->vrfy = s->vrfy;
	/* Its values are checked by the config parser (choices). */
	env->bare_lf_reject = strcmp(s->bare_lf, "reject") == 0;
	env->plaintext_auth_loopback = set->lib.plaintext_auth_loopback;
	env->sender_login_match = s->sender_login_match;
	env->sender_allow_null = s->sender_allow_null;
	env->min_free_space = s->min_free_space;
}

/* Everything that may change on SIGHUP; -1 keeps the old relay networks. */
static int
smtpd_configure(struct daemon *d, const char **error_r)
{
	const struct settings	*set = daemon_settings(d);
	struct relaynets	*r;

	smtp_env_configure(&smtpd.env, set);
	snprintf(smtpd.hostname, sizeof(smtpd.hostname), "%s", set->lib.hostname);
	if (smtpd.hostname[0] == '\0' &&
	    gethostname(smtpd.hostname, sizeof(smtpd.hostname) - 1) == -1)
		snprintf(smtpd.hostname, sizeof(smtpd.hostname), "localhost");
	smtpd.env.hostname = smtpd.hostname;
	smtpd.queue_dir = set->lib.queue_dir;
	smtpd.env.free_space = smtpd_free_space;
	smtpd.env.dir = daemon_directory(d);
	smtpd.env.authfail = daemon_authfail(d);
	smtpd.env.authq = daemon_authq(d);
	smtpd.env.passcache = daemon_passcache(d);
	smtpd.env.tls_available = daemon_tls_available(d);
	if ((r = relaynets_parse(set->smtpd.relay_networks, error_r)) == NULL)
		return -1;
	relaynets_free(&smtpd.relaynets);
	smtpd.relaynets = r;
	smtpd.env.relaynets = r;
	return 0;
}

int
smtpd_init(struct daemon *d, const char **error_r)
{
	const struct settings	*set = daemon_settings(d);
	struct store_options	 opts = { 0 };

	if (smtpd_configure(d, error_r) == -1)
		return -1;
	opts.fsync_enabled = set->store.fsync;
	if ((smtpd.dl.store = store_open(set->lib.mail_root, &opts, error_r)) == NULL)
		return -1;
	if ((smtpd.dl.queue = queue_open(set->lib.queue_dir, error_r)) == NULL)
		return -1;
	smtp_cleanup_maildirs(set->lib.mail_root);
	smtpd.env.writer = &smtp_deliver_writer;
	smtpd.env.writer_ctx = &smtpd.dl;
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
