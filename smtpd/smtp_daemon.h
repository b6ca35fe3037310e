/*
 * smtpd's part of the daemon skeleton: build the session env from the
 * config, open the store and the queue, and keep them current on reload.
 */
#ifndef SMTPD_SMTP_DAEMON_H
#define SMTPD_SMTP_DAEMON_H

struct daemon;
struct settings;
struct smtp_env;

/* Limits and switches from set (hostname, directory etc. are set by the caller). */
void	smtp_env_configure(struct smtp_env *env, const struct settings *set);

int	smtpd_init(struct daemon *d, const char **error_r);
void	smtpd_reload(struct daemon *d);
void	smtpd_fini(struct daemon *d);

#endif
