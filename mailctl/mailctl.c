/*
 * mailctl: manage domains, users, groups, aliases and senders of a Postroom
 * installation.  This file: the command table, start-up (config, lock,
 * current directory) and the helpers every command shares.
 */
#include "mailctl/mailctl.h"

#include "lib/config.h"
#include "lib/directory.h"
#include "lib/log.h"
#include "lib/xmalloc.h"
#include "mail/address.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
	NEEDS_DIR	= 1 << 0,	/* load the directory files first */
	EDITS		= 1 << 1,	/* reload the daemons after success */
	LOCKS		= 1 << 2,	/* run under the lock (others lock after the prompt) */
	OWN_CONFIG	= 1 << 3,	/* loads the config itself (check reports its errors) */
};

static const struct command {
	const char	*name;
	int		(*run)(struct mailctl *, int, char **);
	unsigned	 flags;
} commands[] = {
	{ "adduser",	cmd_adduser,	NEEDS_DIR | EDITS },
	{ "deluser",	cmd_deluser,	NEEDS_DIR | EDITS | LOCKS },
	{ "passwd",	cmd_passwd,	NEEDS_DIR | EDITS },
	{ "verify",	cmd_verify,	NEEDS_DIR },
	{ "users",	cmd_users,	NEEDS_DIR },
	{ "adddomain",	cmd_adddomain,	NEEDS_DIR | EDITS | LOCKS },
	{ "deldomain",	cmd_deldomain,	NEEDS_DIR | EDITS | LOCKS },
	{ "domains",	cmd_domains,	NEEDS_DIR },
	{ "group",	cmd_group,	NEEDS_DIR | EDITS | LOCKS },
	{ "alias",	cmd_alias,	NEEDS_DIR | EDITS | LOCKS },
	{ "sender",	cmd_sender,	NEEDS_DIR | EDITS | LOCKS },
	{ "reload",	cmd_reload,	0 },
	{ "config",	cmd_config,	0 },
	{ "queue",	cmd_queue,	0 },
	{ "setup",	cmd_setup,	0 },
	{ "import-dovecot", cmd_import_dovecot, NEEDS_DIR | EDITS | LOCKS },
	{ "export-dovecot", cmd_export_dovecot, 0 },
	{ "check",	cmd_check,	OWN_CONFIG },
	{ "status",	cmd_status,	0 },
	{ "dns",	cmd_dns,	NEEDS_DIR },
};

static const char help_text[] =
"NAME\n"
"     mailctl - manage Postroom domains, users, groups and aliases\n"
"\n"
"SYNOPSIS\n"
"     mailctl [--config DIR] COMMAND [ARGUMENTS]\n"
"\n"
"DESCRIPTION\n"
"     mailctl edits the plain text files in the configuration directory DIR\n"
"     (default " CONFIG_DIR_DEFAULT "): domains, passwd, groups and aliases, next to\n"
"     postroom.conf.  Each change is made under an exclusive lock\n"
"     (DIR/.mailctl.lock), checked by loading the result exactly as the daemons\n"
"     do, and then written atomically (temporary file, fsync, rename).  A\n"
"     change that would not load is refused and the files stay as they were.\n"
"     After a change the running daemons are told to reload (SIGHUP).\n"
"\n"
"     Addresses and domains are case-insensitive and stored in lower case.\n"
"\n"
"COMMANDS\n"
"     adduser ADDRESS [--password-stdin] [--quota-bytes N] [--quota-messages N]\n"
"             Add a user in an existing domain and create its Maildir++ (INBOX,\n"
"             Sent, Drafts, Trash, Junk) under mail_root.  The password is asked\n"
"             twice on the terminal, or read from the first line of standard\n"
"             input with --password-stdin.  It is stored as a yescrypt hash in\n"
"             Dovecot passwd-file format ({CRYPT}$y$...).  Run as root, the\n"
"             Maildir is created by the configured unprivileged `user'.\n"
"\n"
"     deluser ADDRESS [--keep-mail]\n"
"             Remove a user and, unless --keep-mail, its mail.  Refused while a\n"
"             group or alias still names the user.  The mail is deleted as the\n"
"             mail user and no symbolic link is followed: a symlinked domain,\n"
"             user or Maildir directory is reported and left alone.\n"
"\n"
"     passwd ADDRESS [--password-stdin]\n"
"             Set a new password.\n"
"\n"
"     verify ADDRESS [--password-stdin]\n"
"             Check a password; exit status 0 if it matches.\n"
"\n"
"     users [DOMAIN]\n"
"             List users, with their quotas if set.\n"
"\n"
"     adddomain DOMAIN [--catchall LOCAL]\n"
"             Add a domain.  --catchall names the user, group or alias that\n"
"             receives mail for unknown local parts; it must exist, so for a\n"
"             new domain add the domain, then the user, then run adddomain\n"
"             again with --catchall (which changes an existing domain's\n"
"             catch-all).\n"
"\n"
"     deldomain DOMAIN\n"
"             Remove a domain.  Refused while it has users, groups or aliases.\n"
"\n"
"     domains\n"
"             List domains.\n"
"\n"
"     group add GROUP MEMBER...\n"
"     group del GROUP [MEMBER...]\n"
"     group members GROUP\n"
"             A group address delivers to every member; members are users or\n"
"             other groups or aliases (cycles are refused).  add creates the\n"
"             group or adds members; del removes the given members, or the\n"
"             whole group when none are given or none remain.\n"
"\n"
"     alias add ALIAS TARGET...\n"
"     alias del ALIAS\n"
"     alias list\n"
"             An alias is another address for local users, groups or aliases.\n"
"\n"
"     sender add USER ADDRESS...\n"
"     sender del USER [ADDRESS...]\n"
"     sender list [USER]\n"
"             Further addresses USER may send as once logged in (MAIL FROM and\n"
"             From:, with smtpd.sender_login_match), local or remote.  Without\n"
"             an entry a user sends as their own address, its +tag variants\n"
"             and the aliases and groups that deliver to them.  del removes\n"
"             the given addresses, or the whole entry.  deluser is refused\n"
"             while the user has an entry.\n"
"\n"
"     reload  Signal the running daemons (SIGHUP) to reload configuration,\n"
"             users and certificates.  They are found through their status\n"
"             files <state_dir>/run/<daemon>.status, else as processes started\n"
"             with this configuration file.\n"
"\n"
"     queue list\n"
"     queue show ID\n"
"     queue retry ID|all\n"
"     queue flush\n"
"     queue hold ID\n"
"     queue release ID\n"
"     queue delete ID\n"
"             The mail waiting to leave, as the running relayd sees it (through\n"
"             its control socket, relayd.control_listen; run as root): list\n"
"             shows each message (id, age, sender, held) and each recipient's\n"
"             state, attempts, when the next one is due and the last reply;\n"
"             show adds the envelope id and the message header.  retry tries\n"
"             a message's deferred recipients now (all: every message), flush\n"
"             the same as retry all.  hold keeps a message from being tried\n"
"             until release.  delete removes it without a bounce (refused while\n"
"             it is being sent: try again).  An unknown id exits with 1.\n"
"\n"
"     check   Check that the daemons would start on this configuration: load\n"
"             postroom.conf and the directory files as they do, then check\n"
"             that the mail user exists, the certificate and key load, match\n"
"             and are readable by that user, and mail_root, queue_dir and\n"
"             state_dir exist and are writable by it.  Every problem is\n"
"             printed as FILE:LINE: message (FILE: message for a default);\n"
"             exit status 1 if there was any, else one summary line.\n"
"\n"
"     status  What runs: each daemon (pid, since when, workers), its\n"
"             listeners with their open connections (summed over workers),\n"
"             its last reload (time, ok or failed and why), the certificate's\n"
"             expiry and the queue (messages, deferred, held; asked of\n"
"             relayd).  The daemons publish this in\n"
"             <state_dir>/run/<daemon>.status, updated within a second; a\n"
"             daemon killed without a clean stop shows as not running.\n"
"\n"
"     dns DOMAIN\n"
"             Print the DNS records to create for one of our domains, in\n"
"             zone-file form: MX to hostname, SPF (v=spf1 mx -all) and a\n"
"             starting DMARC record (p=none, reports to postmaster@DOMAIN).\n"
"             DKIM records come once Postroom signs mail.\n"
"\n"
"     config [KEY...]\n"
"             Print the settings the daemons would run with, as \"key = value\"\n"
"             lines, defaults included: every key, or the ones named.\n"
"\n"
"     setup   Run as root after installing: create the unprivileged user and\n"
"             group postroom.conf names (user; useradd --system), make\n"
"             queue_dir, mail_root and state_dir/run owned by it (state_dir\n"
"             stays root's, in its group), and give its group read access to\n"
"             postroom.conf and the files below.  What is already\n"
"             right is left alone: a second run changes nothing and exits 0.\n"
"\n"
"     import-dovecot PASSWD-FILE\n"
"             Add the users of a Dovecot passwd-file (crypt(3) hashes:\n"
"             {CRYPT} {SHA512-CRYPT} {SHA256-CRYPT} {BLF-CRYPT}) with the same\n"
"             passwords.  Copy their Maildirs into mail_root/DOMAIN/LOCAL/Maildir\n"
"             first (owned by user): each folder's dovecot-uidlist becomes our\n"
"             UIDs, so IMAP clients keep their caches.  All or nothing:\n"
"             every refused line is named, one error line each.\n"
"\n"
"     export-dovecot MAILDIR...\n"
"             On a copy of a Maildir for Dovecot: write each folder's\n"
"             dovecot-uidlist from our UIDs (Dovecot keeps them).\n"
"\n"
"     help    This text.\n"
"\n"
"FILES\n"
"     DIR/postroom.conf   mail_root, queue_dir and user are read from here\n"
"     DIR/domains         one domain per line [catchall=LOCAL]\n"
"     DIR/passwd          user@domain:{CRYPT}hash:::::: [quota_bytes=N] [quota_messages=N]\n"
"     DIR/groups          group@domain: member@domain, ...\n"
"     DIR/aliases         alias@domain: target@domain, ...\n"
"     DIR/senders         user@domain: address, ...\n"
"\n"
"EXIT STATUS\n"
"     0 on success, 1 on an error (one line on standard error, nothing\n"
"     changed), 2 on a usage error.\n"
"\n"
"EXAMPLES\n"
"     mailctl adddomain example.com\n"
"     mailctl adduser alice@example.com\n"
"     echo 'secret' | mailctl adduser bob@example.com --password-stdin\n"
"     mailctl group add team@example.com alice@example.com bob@example.com\n"
"     mailctl alias add postmaster@example.com alice@example.com\n"
"     mailctl sender add alice@example.com alice@gmail.com\n";

int
ctl_error(const char *fmt, ...)
{
	va_list	 ap;

	fflush(stdout);
	fputs("mailctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return CTL_ERR;
}

int
ctl_usage(const char *synopsis)
{
	fprintf(stderr, "usage: mailctl %s\n", synopsis);
	return CTL_USAGE;
}

const char *
ctl_q(const char *s)
{
	static char	 bufs[2][300];
	static int	 next;

	next = !next;
	return log_quote(s, bufs[next], sizeof(bufs[next]));
}

char *
ctl_lower(const char *s)
{
	char	*l = xstrdup(s), *p;

	for (p = l; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	return l;
}

int
ctl_check_local_address(struct mailctl *m, const char *address)
{
	const char	*domain;

	if (!address_valid(address, ADDRESS_USER))
		return ctl_error("%s: not a valid address (local@domain)", ctl_q(address));
	domain = strrchr(address, '@') + 1;
	if (!directory_is_local_domain(m->dir, domain))
		return ctl_error("%s: unknown domain (add it with: mailctl adddomain %s)",
		    ctl_q(address), domain);
	return CTL_OK;
}

const char *
ctl_address_kind(struct mailctl *m, const char *address)
{
	static const char *const kinds[][2] = {
		{ "passwd", "user" }, { "groups", "group" }, { "aliases", "alias" },
	};
	struct ctl_file	 f;
	const char	*kind = NULL;
	size_t		 i;

	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]) && kind == NULL; i++) {
		if (ctl_file_read(m, kinds[i][0], &f) != CTL_OK)
			continue;
		if (ctl_file_find(&f, address) != -1)
			kind = kinds[i][1];
		ctl_file_free(&f);
	}
	return kind;
}

static const struct command *
command_find(const char *name)
{
	size_t	 i;

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static int
run(struct mailctl *m, const struct command *cmd, int argc, char **argv)
{
	const char	*err;
	int		 rc;

	if (cmd->flags & OWN_CONFIG)
		return cmd->run(m, argc, argv);
	if ((m->cfg = config_load(m->conf_path, &err)) == NULL)
		return ctl_error("%s", err);
	m->set = config_settings(m->cfg);
	if (cmd->flags & LOCKS) {
		if ((rc = ctl_lock(m)) != CTL_OK)
			return rc;
	} else if ((cmd->flags & NEEDS_DIR) &&
	    (m->dir = directory_load(m->conf_dir, &address_user_syntax, &err)) == NULL)
		return ctl_error("%s", err);
	rc = cmd->run(m, argc, argv);
	if (rc == CTL_OK && (cmd->flags & EDITS))
		ctl_reload(m, false);
	return rc;
}

static int
usage(void)
{
	fprintf(stderr, "usage: mailctl [--config DIR] COMMAND [ARGUMENTS]  (mailctl help)\n");
	return CTL_USAGE;
}

int
main(int argc, char *argv[])
{
	const struct command	*cmd;
	struct mailctl		 m;
	int			 i = 1, rc;

	/* Library problems reach the user as our one summary line, not as log lines. */
	log_init("mailctl", LOG_LEVEL_ERROR, "stderr");
	memset(&m, 0, sizeof(m));
	m.conf_dir = CONFIG_DIR_DEFAULT;
	m.lock_fd = -1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			m.conf_dir = argv[++i];
		else if (strncmp(argv[i], "--config=", 9) == 0)
			m.conf_dir = argv[i] + 9;
		else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			fputs(help_text, stdout);
			return 0;
		} else
			return usage();
	}
	if (i == argc)
		return usage();
	if (strcmp(argv[i], "help") == 0) {
		fputs(help_text, stdout);
		return 0;
	}
	if ((cmd = command_find(argv[i])) == NULL) {
		ctl_error("unknown command %s (see: mailctl help)", ctl_q(argv[i]));
		return CTL_USAGE;
	}
	m.conf_path = xasprintf("%s/postroom.conf", m.conf_dir);
	rc = run(&m, cmd, argc - i, argv + i);
	directory_free(&m.dir);
	config_free(&m.cfg);
	free(m.conf_path);
	if (m.lock_fd != -1)
		close(m.lock_fd);
	if (fflush(stdout) == EOF)
		rc = CTL_ERR;
	return rc;
}
