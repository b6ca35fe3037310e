/*
 * mailctl: edits the directory files of a Postroom config directory
 * (domains, passwd, groups, aliases, senders; see lib/directory.h) and signals the
 * daemons to reload.  Every edit runs under conf/.mailctl.lock, is
 * checked by loading the result with directory_load() and replaces the
 * file atomically (temp file, fsync, rename, directory fsync).
 *
 * Commands return 0 on success, 1 after printing one "mailctl: ..." line
 * on stderr, 2 after a usage line.
 */
#ifndef MAILCTL_MAILCTL_H
#define MAILCTL_MAILCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#define CTL_OK		0
#define CTL_ERR		1
#define CTL_USAGE	2

struct config;
struct directory;
struct settings;

struct mailctl {
	const char		*conf_dir;
	char			*conf_path;	/* <conf_dir>/postroom.conf */
	struct config		*cfg;
	const struct settings	*set;		/* cfg's */
	struct directory	*dir;		/* as it is before the edit */
	int			 lock_fd;
};

/* One file of the config directory, held line by line for editing. */
struct ctl_file {
	const char	*name;		/* "passwd" */
	char		**lines;	/* without line ends */
	size_t		 n;
	size_t		 cap;
};

/* Runs after the edited files loaded, before they replace the old ones. */
typedef int	 ctl_commit_hook(struct mailctl *m, const struct directory *next, void *arg);

/* Print "mailctl: <msg>" on stderr; returns CTL_ERR. */
int		 ctl_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print "usage: mailctl <synopsis>" on stderr; returns CTL_USAGE. */
int		 ctl_usage(const char *synopsis);
/* Untrusted text made safe for a message, quoted if needed (2 static slots). */
const char	*ctl_q(const char *s);

/* Lower-cased copy (addresses and domains compare case-insensitively). */
char		*ctl_lower(const char *s);
/* CTL_OK if address is a valid address in a local domain, else prints why. */
int		 ctl_check_local_address(struct mailctl *m, const char *address);
/* "user", "group", "alias" or NULL: what address already is. */
const char	*ctl_address_kind(struct mailctl *m, const char *address);

/* Read one password (stdin's first line, or asked twice on the terminal). */
int		 ctl_read_password(bool from_stdin, char *buf, size_t size);

/* mailctl_file.c */
/* Take conf/.mailctl.lock (waits) and load the directory afresh under it. */
int		 ctl_lock(struct mailctl *m);
int		 ctl_file_read(struct mailctl *m, const char *name, struct ctl_file *f);
void		 ctl_file_free(struct ctl_file *f);
void		 ctl_file_append(struct ctl_file *f, char *line);	/* takes line */
void		 ctl_file_replace(struct ctl_file *f, size_t i, char *line);
void		 ctl_file_remove(struct ctl_file *f, size_t i);
/* The key of line i (address, or the domain in "domains"), lower-cased; NULL if none. */
char		*ctl_file_key(const struct ctl_file *f, size_t i);
/* Index of the entry for key, or -1. */
ssize_t		 ctl_file_find(const struct ctl_file *f, const char *key);
/* Replace the file with f's lines if the directory still loads; hook may be NULL. */
int		 ctl_file_commit(struct mailctl *m, const struct ctl_file *f, ctl_commit_hook *hook,
		    void *arg);

/* mailctl_user.c: fn(m, arg) as the mail user (a child dropped to it when root). */
int		 ctl_as_mail_user(struct mailctl *m, int (*fn)(struct mailctl *, const void *),
		    const void *arg, const char *what);
/* Create the Maildir++ of arg, a struct dir_user. */
int		 ctl_make_maildir(struct mailctl *m, const void *arg);

/* mailctl_reload.c: SIGHUP the daemons using this config; how many got it. */
int		 ctl_reload(struct mailctl *m, bool verbose);
/* Is pid alive and called name (/proc/pid/comm)?  A stale pid file must not fool us. */
bool		 ctl_proc_named(pid_t pid, const char *name);

/*
 * mailctl_queue.c: one request to relayd's control socket; each "* " data
 * line goes to data (without the "* "), the OK/ERR ends it.
 */
int		 ctl_queue_ask(struct mailctl *m, const char *request,
		    void (*data)(void *arg, const char *line), void *arg);

/* mailctl_status.c: notAfter of the first certificate in a PEM file; -1 if unreadable. */
int		 ctl_cert_expiry(const char *path, time_t *expires_r);

/* Commands: argv[0] is the command name. */
int		 cmd_adduser(struct mailctl *m, int argc, char **argv);
int		 cmd_deluser(struct mailctl *m, int argc, char **argv);
int		 cmd_passwd(struct mailctl *m, int argc, char **argv);
int		 cmd_verify(struct mailctl *m, int argc, char **argv);
int		 cmd_users(struct mailctl *m, int argc, char **argv);
int		 cmd_adddomain(struct mailctl *m, int argc, char **argv);
int		 cmd_deldomain(struct mailctl *m, int argc, char **argv);
int		 cmd_domains(struct mailctl *m, int argc, char **argv);
int		 cmd_group(struct mailctl *m, int argc, char **argv);
int		 cmd_alias(struct mailctl *m, int argc, char **argv);
int		 cmd_sender(struct mailctl *m, int argc, char **argv);
int		 cmd_reload(struct mailctl *m, int argc, char **argv);
/* mailctl_config.c */
int		 cmd_config(struct mailctl *m, int argc, char **argv);
int		 cmd_queue(struct mailctl *m, int argc, char **argv);
/* mailctl_setup.c */
int		 cmd_setup(struct mailctl *m, int argc, char **argv);
/* mailctl_dovecot.c */
int		 cmd_import_dovecot(struct mailctl *m, int argc, char **argv);
int		 cmd_export_dovecot(struct mailctl *m, int argc, char **argv);
/* mailctl_check.c, mailctl_status.c, mailctl_dns.c */
int		 cmd_check(struct mailctl *m, int argc, char **argv);
int		 cmd_status(struct mailctl *m, int argc, char **argv);
int		 cmd_dns(struct mailctl *m, int argc, char **argv);

#endif
