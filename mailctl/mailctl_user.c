/*
 * mailctl adduser, deluser, passwd, verify, users.
 */
#include "mailctl/mailctl.h"

#include "lib/daemon.h"
#include "lib/directory.h"
#include "lib/safedir.h"
#include "lib/settings.h"
#include "lib/xmalloc.h"
#include "store/store.h"

#include <sys/wait.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#define PASSWORD_MAX	1024

struct user_opts {
	const char		*address;	/* as typed */
	bool			 password_stdin;
	bool			 keep_mail;
	unsigned long long	 quota_bytes;
	unsigned long long	 quota_messages;
};

enum {
	OPT_PASSWORD	= 1 << 0,
	OPT_QUOTA	= 1 << 1,
	OPT_KEEP	= 1 << 2,
};

static int
parse_count(const char *s, unsigned long long *v_r)
{
	char	*end;

	errno = 0;
	*v_r = strtoull(s, &end, 10);
	if (!isdigit((unsigned char)*s) || *end != '\0' || errno == ERANGE)
		return ctl_error("%s: not a number", ctl_q(s));
	return CTL_OK;
}

/* ADDRESS plus the options in allowed, in any order. */
static int
parse_user_args(int argc, char **argv, unsigned allowed, const char *synopsis,
    struct user_opts *o)
{
	int	 i, rc;

	memset(o, 0, sizeof(*o));
	for (i = 1; i < argc; i++) {
		if ((allowed & OPT_PASSWORD) && strcmp(argv[i], "--password-stdin") == 0)
			o->password_stdin = true;
		else if ((allowed & OPT_KEEP) && strcmp(argv[i], "--keep-mail") == 0)
			o->keep_mail = true;
		else if ((allowed & OPT_QUOTA) && strcmp(argv[i], "--quota-bytes") == 0 &&
		    i + 1 < argc) {
			if ((rc = parse_count(argv[++i], &o->quota_bytes)) != CTL_OK)
				return rc;
		} else if ((allowed & OPT_QUOTA) && strcmp(argv[i], "--quota-messages") == 0 &&
		    i + 1 < argc) {
			if ((rc = parse_count(argv[++i], &o->quota_messages)) != CTL_OK)
				return rc;
		} else if (argv[i][0] == '-' || o->address != NULL)
			return ctl_usage(synopsis);
		else
			o->address = argv[i];
	}
	return o->address == NULL ? ctl_usage(synopsis) : CTL_OK;
}

/* One line from stdin without its line end; -1 at EOF, -2 if too long. */
static int
read_stdin_line(char *buf, size_t size)
{
	size_t	 len;

	if (fgets(buf, (int)size, stdin) == NULL)
		return -1;
	len = strlen(buf);
	if (len > 0 && buf[len - 1] == '\n')
		buf[--len] = '\0';
	else if (!feof(stdin))
		return -2;
	if (len > 0 && buf[len - 1] == '\r')
		buf[--len] = '\0';
	return 0;
}

static int
prompt(const char *text, char *buf, size_t size)
{
	struct termios	 old, quiet;
	int		 r, restore;

	/* Echo off before the prompt: what is typed after it is never flushed. */
	restore = tcgetattr(STDIN_FILENO, &old) == 0;
	if (restore) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	fputs(text, stderr);
	fflush(stderr);
	r = read_stdin_line(buf, size);
	if (restore)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
	fputc('\n', stderr);
	return r;
}

int
ctl_read_password(bool from_stdin, char *buf, size_t size)
{
	char	 again[PASSWORD_MAX];
	int	 r, same;

	if (from_stdin)
		r = read_stdin_line(buf, size);
	else if (!isatty(STDIN_FILENO))
		return ctl_error("standard input is not a terminal: use --password-stdin");
	else if ((r = prompt("Password: ", buf, size)) == 0 &&
	    (r = prompt("Retype password: ", again, sizeof(again))) == 0) {
		same = strcmp(buf, again) == 0;
		explicit_bzero(again, sizeof(again));
		if (!same)
			return ctl_error("the passwords do not match");
	}
	if (r == -1)
		return ctl_error("no password given (end of input)");
	if (r == -2)
		return ctl_error("password longer than %d bytes", PASSWORD_MAX - 2);
	if (buf[0] == '\0')
		return ctl_error("empty password");
	return CTL_OK;
}

static int
new_hash(bool from_stdin, char **hash_r)
{
	char	 pw[PASSWORD_MAX];
	int	 rc;

	*hash_r = NULL;
	if ((rc = ctl_read_password(from_stdin, pw, sizeof(pw))) == CTL_OK &&
	    (*hash_r = password_hash(pw)) == NULL)
		rc = ctl_error("crypt(3) failed to hash the password");
	explicit_bzero(pw, sizeof(pw));
	return rc;
}

static int
store_create(const char *mail_root, const char *maildir)
{
	struct store_options	 opts = { .fsync_enabled = 1 };
	struct store		*st;
	const char		*err;
	int			 rc = CTL_OK;

	if ((st = store_open(mail_root, &opts, &err)) == NULL)
		return ctl_error("%s: %s", mail_root, err);
	if (store_create_user(st, maildir, &err) == -1)
		rc = ctl_error("%s: %s", maildir, err);
	store_close(&st);
	return rc;
}

/*
 * Run fn as the mail user: when we are root, in a child that dropped to
 * it.  What fn creates then belongs to the user the daemons run as, and
 * what it deletes is only what the mail user could delete anyway, whatever
 * that user planted in its tree.
 */
int
ctl_as_mail_user(struct mailctl *m, int (*fn)(struct mailctl *, const void *), const void *arg,
    const char *what)
{
	const char	*err;
	pid_t		 pid;
	int		 status;

	if (geteuid() != 0)
		return fn(m, arg);
	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) == -1)
		return ctl_error("fork: %s", strerror(errno));
	if (pid == 0) {
		if (daemon_drop_privileges(m->set->lib.user, &err) == -1) {
			ctl_error("%s", err);
			_exit(CTL_ERR);
		}
		_exit(fn(m, arg));
	}
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR)
			return ctl_error("waitpid: %s", strerror(errno));
	if (WIFEXITED(status))
		return WEXITSTATUS(status) == 0 ? CTL_OK : CTL_ERR;
	return ctl_error("%s: child killed by signal %d", what, WTERMSIG(status));
}

int
ctl_make_maildir(struct mailctl *m, const void *arg)
{
	const char	*mail_root = m->set->lib.mail_root;
	char		*maildir;
	int		 rc;

	maildir = directory_maildir(mail_root, arg);
	rc = store_create(mail_root, maildir);
	free(maildir);
	return rc;
}

static int
create_maildir(struct mailctl *m, const struct directory *next, void *arg)
{
	const struct dir_user	*u = directory_user(next, arg);

	if (u == NULL)
		return ctl_error("%s: not found after adding it", ctl_q(arg));
	return ctl_as_mail_user(m, ctl_make_maildir, u, "creating the Maildir");
}

/* adduser's checks: run before asking for the password and again under the lock. */
static int
check_new_user(struct mailctl *m, const char *addr)
{
	const char	*kind, *user = m->set->lib.user;
	int		 rc;

	if ((rc = ctl_check_local_address(m, addr)) != CTL_OK)
		return rc;
	if ((kind = ctl_address_kind(m, addr)) != NULL)
		return ctl_error("%s: %s already exists", addr, kind);
	if (geteuid() == 0 && getpwnam(user) == NULL)
		return ctl_error("the mail user %s (postroom.conf: user) does not exist",
		    ctl_q(user));
	return CTL_OK;
}

int
cmd_adduser(struct mailctl *m, int argc, char **argv)
{
	struct user_opts	 o;
	struct ctl_file		 f;
	char			*addr = NULL, *hash = NULL, *line;
	char			 quota_bytes[40], quota_messages[40];
	int			 rc;

	rc = parse_user_args(argc, argv, OPT_PASSWORD | OPT_QUOTA,
	    "adduser ADDRESS [--password-stdin] [--quota-bytes N] [--quota-messages N]", &o);
	if (rc != CTL_OK)
		return rc;
	addr = ctl_lower(o.address);
	/* Not holding the lock while a person types. */
	if ((rc = check_new_user(m, addr)) != CTL_OK ||
	    (rc = new_hash(o.password_stdin, &hash)) != CTL_OK ||
	    (rc = ctl_lock(m)) != CTL_OK || (rc = check_new_user(m, addr)) != CTL_OK ||
	    (rc = ctl_file_read(m, "passwd", &f)) != CTL_OK)
		goto out;
	quota_bytes[0] = quota_messages[0] = '\0';
	if (o.quota_bytes > 0)
		snprintf(quota_bytes, sizeof(quota_bytes), " quota_bytes=%llu", o.quota_bytes);
	if (o.quota_messages > 0)
		snprintf(quota_messages, sizeof(quota_messages), " quota_messages=%llu",
		    o.quota_messages);
	line = xasprintf("%s:%s::::::%s%s", addr, hash, quota_bytes, quota_messages);
	ctl_file_append(&f, line);
	rc = ctl_file_commit(m, &f, create_maildir, addr);
	ctl_file_free(&f);
out:
	free(hash);
	free(addr);
	return rc;
}

/*
 * Delete <mail_root>/<domain>/<local>/Maildir, then <local> if now empty.
 * The mail user owns and can change everything below mail_root, so the
 * walk goes by descriptor from mail_root and never through a symlink.
 */
static int
remove_mail(struct mailctl *m, const void *arg)
{
	const struct dir_user	*u = arg;
	const char		*root = m->set->lib.mail_root, *err = NULL;
	uid_t			 owner = geteuid();
	unsigned		 links = 0;
	char			*path;
	int			 rootfd, domfd = -1, userfd = -1, rc = CTL_OK, failed = 0;

	if ((rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return errno == ENOENT ? CTL_OK : ctl_error("%s: %s", root, strerror(errno));
	path = xasprintf("%s/%s", root, u->domain);
	if ((domfd = safedir_open(rootfd, u->domain, path, owner, &err)) == -1) {
		failed = errno;
		goto out;
	}
	free(path);
	path = xasprintf("%s/%s/%s", root, u->domain, u->local);
	if ((userfd = safedir_open(domfd, u->local, path, owner, &err)) == -1) {
		failed = errno;
		goto out;
	}
	free(path);
	path = directory_maildir(root, u);
	if (safedir_remove_tree(userfd, "Maildir", path, owner, &links, &err) == -1)
		failed = errno;
	/* Not empty (something besides Maildir) is fine: kept. */
	unlinkat(domfd, u->local, AT_REMOVEDIR);
	if (links > 0)
		ctl_error("%s: %u symbolic link(s) inside removed, not followed", path, links);
out:
	/* Nothing there (ENOENT) is nothing to delete. */
	if (failed != 0 && failed != ENOENT)
		rc = ctl_error("the mail of %s was not deleted, or not all of it: %s",
		    u->address, err);
	free(path);
	if (userfd != -1)
		close(userfd);
	if (domfd != -1)
		close(domfd);
	close(rootfd);
	return rc;
}

int
cmd_deluser(struct mailctl *m, int argc, char **argv)
{
	const struct dir_user	*u;
	struct user_opts	 o;
	struct ctl_file		 f;
	char			*addr;
	ssize_t			 i;
	int			 rc;

	if ((rc = parse_user_args(argc, argv, OPT_KEEP, "deluser ADDRESS [--keep-mail]",
	    &o)) != CTL_OK)
		return rc;
	addr = ctl_lower(o.address);
	if ((u = directory_user(m->dir, addr)) == NULL) {
		rc = ctl_error("%s: no such user", ctl_q(addr));
		goto out;
	}
	if ((rc = ctl_file_read(m, "passwd", &f)) != CTL_OK)
		goto out;
	if ((i = ctl_file_find(&f, addr)) == -1)
		rc = ctl_error("%s: not in %s/passwd", addr, m->conf_dir);
	else {
		ctl_file_remove(&f, (size_t)i);
		rc = ctl_file_commit(m, &f, NULL, NULL);
	}
	ctl_file_free(&f);
	if (rc == CTL_OK && !o.keep_mail)
		rc = ctl_as_mail_user(m, remove_mail, u, "deleting the Maildir");
out:
	free(addr);
	return rc;
}

static int
check_user(struct mailctl *m, const char *addr)
{
	if (directory_user(m->dir, addr) == NULL)
		return ctl_error("%s: no such user", ctl_q(addr));
	return CTL_OK;
}

int
cmd_passwd(struct mailctl *m, int argc, char **argv)
{
	struct user_opts	 o;
	struct ctl_file		 f;
	const char		*rest;
	char			*addr, *hash = NULL;
	ssize_t			 i;
	int			 rc;

	if ((rc = parse_user_args(argc, argv, OPT_PASSWORD, "passwd ADDRESS [--password-stdin]",
	    &o)) != CTL_OK)
		return rc;
	addr = ctl_lower(o.address);
	if ((rc = check_user(m, addr)) != CTL_OK ||
	    (rc = new_hash(o.password_stdin, &hash)) != CTL_OK ||
	    (rc = ctl_lock(m)) != CTL_OK || (rc = check_user(m, addr)) != CTL_OK ||
	    (rc = ctl_file_read(m, "passwd", &f)) != CTL_OK)
		goto out;
	if ((i = ctl_file_find(&f, addr)) == -1)
		rc = ctl_error("%s: not in %s/passwd", addr, m->conf_dir);
	else {
		/* Keep every field after the password (quotas, Dovecot extras). */
		rest = strchr(f.lines[i], ':') + 1;
		rest += strcspn(rest, ":");
		ctl_file_replace(&f, (size_t)i, xasprintf("%s:%s%s", addr, hash, rest));
		rc = ctl_file_commit(m, &f, NULL, NULL);
	}
	ctl_file_free(&f);
out:
	free(hash);
	free(addr);
	return rc;
}

int
cmd_verify(struct mailctl *m, int argc, char **argv)
{
	struct user_opts	 o;
	char			 pw[PASSWORD_MAX];
	char			*addr;
	int			 rc;

	if ((rc = parse_user_args(argc, argv, OPT_PASSWORD, "verify ADDRESS [--password-stdin]",
	    &o)) != CTL_OK)
		return rc;
	if ((rc = ctl_read_password(o.password_stdin, pw, sizeof(pw))) != CTL_OK)
		return rc;
	addr = ctl_lower(o.address);
	if (directory_authenticate(m->dir, addr, pw, NULL) == NULL)
		rc = ctl_error("%s: wrong password or no such user", ctl_q(addr));
	explicit_bzero(pw, sizeof(pw));
	free(addr);
	return rc;
}

int
cmd_users(struct mailctl *m, int argc, char **argv)
{
	const struct dir_user	*u;
	struct ctl_file		 f;
	char			*key, *domain = NULL;
	size_t			 i;
	int			 rc;

	if (argc > 2 || (argc == 2 && argv[1][0] == '-'))
		return ctl_usage("users [DOMAIN]");
	if (argc == 2) {
		domain = ctl_lower(argv[1]);
		if (!directory_is_local_domain(m->dir, domain)) {
			rc = ctl_error("%s: unknown domain", ctl_q(domain));
			free(domain);
			return rc;
		}
	}
	if ((rc = ctl_file_read(m, "passwd", &f)) != CTL_OK) {
		free(domain);
		return rc;
	}
	for (i = 0; i < f.n; i++) {
		if ((key = ctl_file_key(&f, i)) == NULL)
			continue;
		u = directory_user(m->dir, key);
		if (u != NULL && (domain == NULL || strcmp(u->domain, domain) == 0)) {
			printf("%s", u->address);
			if (u->quota_bytes > 0)
				printf(" quota_bytes=%llu", (unsigned long long)u->quota_bytes);
			if (u->quota_messages > 0)
				printf(" quota_messages=%llu",
				    (unsigned long long)u->quota_messages);
			putchar('\n');
		}
		free(key);
	}
	ctl_file_free(&f);
	free(domain);
	return CTL_OK;
}
