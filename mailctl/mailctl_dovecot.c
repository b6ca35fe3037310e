/*
 * mailctl import-dovecot, export-dovecot: moving users and their mail
 * from Dovecot and back.  Our passwd is Dovecot's passwd-file format, so
 * its lines are taken as they are once their hash is one crypt(3) checks;
 * the Maildirs are the same format, so only the UIDs need converting
 * (store_dovecot_import/export).
 */
#include "mailctl/mailctl.h"

#include "lib/directory.h"
#include "lib/settings.h"
#include "lib/textfile.h"
#include "lib/xmalloc.h"
#include "store/store.h"

#include <sys/stat.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PASSWD_LINE_MAX	8192

struct import {
	struct mailctl	 *m;
	struct ctl_file	  f;		/* our passwd, the imported lines appended */
	char		**addrs;	/* imported users, lower-cased */
	size_t		  n;
	int		  rc;
};

/* "{ARGON2ID}" of "{ARGON2ID}$argon2id$...", for a message (buf of size). */
static const char *
scheme(const char *hash, char *buf, size_t size)
{
	size_t	 len = strcspn(hash, "}:");

	if (hash[0] != '{' || hash[len] != '}' || len + 2 > size)
		return "DES or unmarked";
	snprintf(buf, size, "%.*s", (int)len + 1, hash);
	return buf;
}

static void
import_line(void *ctx, unsigned lineno, char *line, const char *why)
{
	struct import	*im = ctx;
	char		*colon, *addr, *hash, sch[32];
	const char	*kind;

	if (line == NULL) {
		im->rc = ctl_error("line %u: %s", lineno, why);
		return;
	}
	line = textfile_trim(line);
	if (*line == '\0' || *line == '#')
		return;
	if ((colon = strchr(line, ':')) == NULL) {
		im->rc = ctl_error("line %u: not user:password:...", lineno);
		return;
	}
	*colon = '\0';
	addr = ctl_lower(line);
	hash = colon + 1;
	if (ctl_check_local_address(im->m, addr) != CTL_OK)
		im->rc = CTL_ERR;
	else if ((kind = ctl_address_kind(im->m, addr)) != NULL)
		im->rc = ctl_error("%s: %s already exists", addr, kind);
	else if (ctl_file_find(&im->f, addr) != -1)
		im->rc = ctl_error("%s: listed twice", addr);
	else if (!password_checkable(hash))
		im->rc = ctl_error("%s: a %s hash, which crypt(3) cannot check (it can "
		    "{CRYPT} {SHA512-CRYPT} {SHA256-CRYPT} {BLF-CRYPT}): leave the line out "
		    "and use mailctl adduser", addr, scheme(hash, sch, sizeof(sch)));
	if (im->rc != CTL_OK) {
		free(addr);
		return;
	}
	/* Dovecot's other fields are kept: ours use extra, the rest is ignored. */
	ctl_file_append(&im->f, xasprintf("%s:%s", addr, hash));
	im->addrs = xreallocarray(im->addrs, im->n + 1, sizeof(*im->addrs));
	im->addrs[im->n++] = addr;
}

/* As the mail user: keep the UIDs of a copied-in Maildir, or create one. */
static int
import_mail(struct mailctl *m, const void *arg)
{
	const struct dir_user	*u = arg;
	const char		*err;
	struct stat		 sb;
	char			*maildir;
	unsigned		 kept;
	int			 rc = CTL_OK;

	maildir = directory_maildir(m->set->lib.mail_root, u);
	if (stat(maildir, &sb) == -1 && errno == ENOENT) {
		printf("%s: no Maildir at %s, a new one created\n", u->address, maildir);
		rc = ctl_make_maildir(m, u);
	} else if (store_dovecot_import(maildir, &kept, &err) == -1)
		rc = ctl_error("%s: %s", u->address, err);
	else
		printf("%s: %u UIDs kept from dovecot-uidlist\n", u->address, kept);
	fflush(stdout);		/* a child's _exit() does not */
	free(maildir);
	return rc;
}

static int
import_maildirs(struct mailctl *m, const struct directory *next, void *arg)
{
	const struct import	*im = arg;
	const struct dir_user	*u;
	size_t			 i;
	int			 rc;

	for (i = 0; i < im->n; i++) {
		if ((u = directory_user(next, im->addrs[i])) == NULL)
			return ctl_error("%s: not found after adding it", im->addrs[i]);
		if ((rc = ctl_as_mail_user(m, import_mail, u, "importing the Maildir")) != CTL_OK)
			return rc;
	}
	return CTL_OK;
}

int
cmd_import_dovecot(struct mailctl *m, int argc, char **argv)
{
	struct import	 im;
	const char	*err;
	size_t		 i;
	int		 rc;

	if (argc != 2 || argv[1][0] == '-')
		return ctl_usage("import-dovecot PASSWD-FILE");
	memset(&im, 0, sizeof(im));
	im.m = m;
	if ((rc = ctl_file_read(m, "passwd", &im.f)) != CTL_OK)
		return rc;
	rc = textfile_read(argv[1], PASSWD_LINE_MAX, import_line, &im, &err);
	if (rc != 0)
		rc = ctl_error("%s: %s", argv[1], rc == 1 ? "no such file" : err);
	else if (im.rc != CTL_OK)
		rc = im.rc;
	else if (im.n == 0)
		rc = ctl_error("%s: no users in it", argv[1]);
	else
		rc = ctl_file_commit(m, &im.f, import_maildirs, &im);
	if (rc == CTL_OK)
		printf("%zu users imported\n", im.n);
	for (i = 0; i < im.n; i++)
		free(im.addrs[i]);
	free(im.addrs);
	ctl_file_free(&im.f);
	return rc;
}

int
cmd_export_dovecot(struct mailctl *m, int argc, char **argv)
{
	const char	*err;
	unsigned	 kept;
	int		 i;

	if (argc < 2 || argv[1][0] == '-')
		return ctl_usage("export-dovecot MAILDIR...");
	for (i = 1; i < argc; i++) {
		if (store_dovecot_export(argv[i], &kept, &err) == -1)
			return ctl_error("%s: %s", argv[i], err);
		printf("%s: %u UIDs written to dovecot-uidlist\n", argv[i], kept);
	}
	return CTL_OK;
}
