/*
 * deliver: the local delivery agent for other MTAs (Postfix's
 * mailbox_command, fetchmail --mda, procmail).
 *
 *   deliver [-c postroom.conf] -f sender -d rcpt [rcpt...] < message
 *
 * Every recipient is resolved through the directory (aliases, groups,
 * plus-addresses, catch-all) before anything is written: an unknown one
 * fails the whole call with EX_NOUSER.  Each final user then gets one
 * durable delivery with "Return-Path: <sender>" and "Delivered-To: <user>"
 * on top (one file each: the headers differ).  CRLF becomes LF.  Exit codes
 * are sysexits(3): 0, EX_USAGE, EX_DATAERR, EX_NOUSER, EX_TEMPFAIL,
 * EX_CONFIG, and for a store failure the code store_exit() maps it to.
 * A temporary failure after some users already got the message means the
 * caller retries them all: a duplicate, never a loss; so EX_TEMPFAIL wins
 * over a permanent code of another user.
 */
#include "store/store.h"
#include "lib/config.h"
#include "lib/daemon.h"
#include "lib/directory.h"
#include "lib/log.h"
#include "lib/xmalloc.h"
#include "mail/address.h"
#include "mail/crlf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <unistd.h>

#define MAX_USERS	1000

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: deliver [-c postroom.conf] -f sender -d recipient ...\n");
	exit(EX_USAGE);
}

/* Read stdin (at most max bytes), CRLF -> LF, without a leading mbox "From " line. */
static char *
read_message(size_t max, size_t *len_r, int *ex_r)
{
	struct crlf_decoder	 dec;
	char			 chunk[64 * 1024], *data = NULL, *lf;
	size_t			 len = 0, cap = 0, total = 0, skip;
	ssize_t			 n;

	crlf_decoder_init(&dec);
	for (;;) {
		n = read(STDIN_FILENO, chunk, sizeof(chunk));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			log_warnx("event=deliver status=deferred reason=\"read message: %s\"",
			    strerror(errno));
			*ex_r = EX_TEMPFAIL;
			free(data);
			return NULL;
		}
		if ((total += (size_t)n) > max) {
			log_warnx("event=deliver status=rejected reason=\"message larger than %zu "
			    "bytes\"", max);
			*ex_r = EX_DATAERR;
			free(data);
			return NULL;
		}
		/* Room for the chunk and a CR held back from the last one. */
		while (cap - len < (size_t)n + 1) {
			cap = cap == 0 ? sizeof(chunk) : size_mul(cap, 2);
			data = xreallocarray(data, cap, 1);
		}
		if (n == 0)
			break;
		len += crlf_decode(&dec, chunk, (size_t)n, data + len);
	}
	len += crlf_decode_end(&dec, data + len);
	if (len >= 5 && strncmp(data, "From ", 5) == 0) {
		lf = memchr(data, '\n', len);
		skip = lf != NULL ? (size_t)(lf - data) + 1 : len;
		memmove(data, data + skip, len - skip);
		len -= skip;
	}
	*len_r = len;
	return data;
}

/*
 * The one map from store failures to exit codes.  Over quota stays
 * temporary (as smtpd's 452): the MTA retries until its queue lifetime.
 */
static int
store_exit(enum store_error code)
{
	switch (code) {
	case STORE_ERR_PERMISSION:
		return EX_NOPERM;
	case STORE_ERR_PARAMS:
		return EX_SOFTWARE;
	case STORE_ERR_NOT_POSSIBLE:
		return EX_CANTCREAT;
	default:
		return EX_TEMPFAIL;
	}
}

static int
deliver_one(struct store *st, const char *mail_root, const struct dir_user *u,
    const char *sender, const char *data, size_t len)
{
	struct store_delivery	*d;
	struct store_rcpt	 r;
	const char		*error;
	char			*maildir, *headers, path[4096], q[600];
	int			 rc = -1, ex;

	maildir = directory_maildir(mail_root, u);
	snprintf(path, sizeof(path), "%s/new", maildir);
	if (access(path, F_OK) == -1 && store_create_user(st, maildir, &error) == -1) {
		ex = store_exit(store_error_code());
		log_warnx("event=deliver to=%s status=%s reason=\"create %s: %s\"", u->address,
		    ex == EX_TEMPFAIL ? "deferred" : "rejected", maildir, error);
		free(maildir);
		return ex;
	}
	r.maildir = maildir;
	r.quota_bytes = u->quota_bytes;
	r.quota_messages = u->quota_messages;
	headers = xasprintf("Return-Path: <%s>\nDelivered-To: %s\n", sender, u->address);
	if ((d = store_delivery_begin(st, &r, 1, &error)) != NULL) {
		/* A write error is kept and reported by the commit. */
		if (store_delivery_write(d, headers, strlen(headers)) == 0)
			store_delivery_write(d, data, len);
		rc = store_delivery_commit(d, &error);
	}
	if (rc == 0) {
		log_info("event=deliver from=<%s> to=%s size=%zu status=delivered",
		    *sender != '\0' ? log_quote(sender, q, sizeof(q)) : "", u->address, len);
		ex = 0;
	} else {
		ex = store_exit(store_error_code());
		log_warnx("event=deliver from=<%s> to=%s status=%s reason=\"%s\"",
		    *sender != '\0' ? log_quote(sender, q, sizeof(q)) : "", u->address,
		    ex == EX_TEMPFAIL ? "deferred" : "rejected", error);
	}
	store_delivery_free(&d);
	free(headers);
	free(maildir);
	return ex;
}

/* Resolve every recipient to users, deduplicated; EX_NOUSER if one is unknown. */
static int
resolve_all(const struct directory *dir, char *rcpts[], size_t nrcpts,
    const struct dir_user **users, size_t *nusers_r)
{
	const struct dir_user	*found[MAX_USERS + 1];
	char			 q[600];
	size_t			 nusers = 0, n, i, j, k;

	for (i = 0; i < nrcpts; i++) {
		if (directory_resolve(dir, rcpts[i], found, MAX_USERS, &n) != DIR_LOCAL) {
			log_warnx("event=deliver to=%s status=bounced reason=\"no such user\"",
			    log_quote(rcpts[i], q, sizeof(q)));
			return EX_NOUSER;
		}
		if (n > MAX_USERS)
			return EX_DATAERR;
		for (j = 0; j < n; j++) {
			for (k = 0; k < nusers && users[k] != found[j]; k++)
				;
			if (k == nusers && nusers < MAX_USERS)
				users[nusers++] = found[j];
		}
	}
	*nusers_r = nusers;
	return 0;
}

int
main(int argc, char *argv[])
{
	const struct dir_user	 *users[MAX_USERS];
	struct store_options	  opts;
	struct directory	 *dir = NULL;
	struct config		 *cfg = NULL;
	const struct settings	 *set;
	struct store		 *st = NULL;
	const char		 *config_path = CONFIG_PATH_DEFAULT, *sender = NULL, *error;
	char			 *data = NULL;
	size_t			  nusers = 0, i, len;
	int			  ch, ex = 0, rc;
	bool			  dflag = false;

	log_init("deliver", LOG_LEVEL_INFO, "stderr");
	while ((ch = getopt(argc, argv, "c:f:d")) != -1) {
		switch (ch) {
		case 'c':
			config_path = optarg;
			break;
		case 'f':
			sender = optarg;
			break;
		case 'd':
			dflag = true;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (sender == NULL || !dflag || argc < 1)
		usage();
	if (strcmp(sender, "<>") == 0)
		sender = "";
	/* What smtpd takes in MAIL FROM with SMTPUTF8: it goes into Return-Path. */
	if (*sender != '\0' && !address_valid(sender, ADDRESS_SMTP | ADDRESS_UTF8)) {
		log_warnx("event=deliver status=rejected reason=\"invalid sender address\"");
		return EX_DATAERR;
	}
	if ((cfg = config_load(config_path, &error)) == NULL) {
		log_warnx("event=config status=failed path=%s reason=\"%s\"", config_path, error);
		return EX_CONFIG;
	}
	set = config_settings(cfg);
	if ((ch = log_level_parse(set->lib.log_level)) != -1)
		log_init("deliver", (enum log_level)ch, set->lib.log_target);
	if ((dir = directory_load(config_dir(cfg), &address_user_syntax, &error)) == NULL) {
		log_warnx("event=directory status=failed reason=\"%s\"", error);
		ex = EX_CONFIG;
		goto out;
	}
	/*
	 * Run by root (an MTA's mailbox_command), we would create root-owned
	 * files the daemons cannot read, in a tree the mail user controls.
	 */
	if (daemon_drop_privileges(set->lib.user, &error) == -1) {
		log_warnx("event=privileges status=failed reason=\"%s\"", error);
		ex = EX_TEMPFAIL;
		goto out;
	}
	/* Everybody is resolved first: an unknown recipient delivers nothing. */
	if ((ex = resolve_all(dir, argv, (size_t)argc, users, &nusers)) != 0)
		goto out;
	data = read_message(set->smtpd.max_message_size, &len, &ex);
	if (data == NULL)
		goto out;
	opts.fsync_enabled = set->store.fsync;
	if ((st = store_open(set->lib.mail_root, &opts, &error)) == NULL) {
		log_warnx("event=store status=failed reason=\"%s\"", error);
		ex = EX_CONFIG;
		goto out;
	}
	for (i = 0; i < nusers; i++)
		if ((rc = deliver_one(st, set->lib.mail_root, users[i], sender, data,
		    len)) != 0 && ex != EX_TEMPFAIL)
			ex = rc;
out:
	store_close(&st);
	directory_free(&dir);
	config_free(&cfg);
	free(data);
	return ex;
}
