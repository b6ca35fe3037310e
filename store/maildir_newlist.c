/*
 * The UIDs of mail a POP3 sync indexed where it lies, in new/.
 *
 * A file in cur/ keeps its UID in its name (U=), which is what lets a
 * rebuilt index give every message the UID it had.  Renaming 10,000 new
 * files into cur/ was 40 % of a POP3 first login, for nothing POP3 needs:
 * so a POP3 sync leaves them in new/ (Dovecot does the same until a flag
 * changes or IMAP selects the folder) and writes their UIDs here instead,
 * durably, before the index commit that lets a client see them.  One file
 * write and fsync instead of a rename per message.
 *
 * "postroom-new-uids": "<uidvalidity>\n", then "<uid> <base name>\n" per
 * message.  Written whole through the durable path by each sync that keeps
 * a new message in new/; read by a sync that meets files in new/ the index
 * does not know (a rebuild, or a crash before the index commit).  An entry
 * whose file has left new/ since (a flag change moved it into cur/ with
 * U=, an expunge) is stale and harmless: base names are unique.
 */
#include "store/store_private.h"
#include "lib/commit.h"
#include "lib/xmalloc.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NEWLIST_FILE	"postroom-new-uids"
#define NEWLIST_MAX	(256 * 1024 * 1024)	/* ~3 million messages */

static int
ent_cmp(const void *a, const void *b)
{
	return strcmp(((const struct newlist_ent *)a)->base,
	    ((const struct newlist_ent *)b)->base);
}

/* Parse the file's text in place; lines that do not parse are skipped. */
static void
newlist_parse(struct newlist *nl, uint32_t uidvalidity)
{
	char		*p = nl->text, *nl_at, *sp, *end;
	unsigned long	 v;

	if ((nl_at = strchr(p, '\n')) == NULL)
		return;
	*nl_at = '\0';
	v = strtoul(p, &end, 10);
	if (*end != '\0' || v != uidvalidity)
		return;		/* another UIDVALIDITY's UIDs mean nothing now */
	for (p = nl_at + 1; (nl_at = strchr(p, '\n')) != NULL; p = nl_at + 1) {
		*nl_at = '\0';
		v = strtoul(p, &end, 10);
		if ((sp = end) == p || *sp != ' ' || v == 0 || v > UINT32_MAX || sp[1] == '\0')
			continue;
		if (nl->n == nl->cap) {
			nl->cap = nl->cap == 0 ? 64 : size_mul(nl->cap, 2);
			nl->ents = xreallocarray(nl->ents, nl->cap, sizeof(*nl->ents));
		}
		nl->ents[nl->n].uid = (uint32_t)v;
		nl->ents[nl->n].base = sp + 1;
		nl->n++;
	}
	qsort(nl->ents, nl->n, sizeof(*nl->ents), ent_cmp);
}

void
newlist_load(int dirfd, uint32_t uidvalidity, struct newlist *nl)
{
	struct stat	 sb;
	ssize_t		 r;
	size_t		 got = 0;
	int		 fd;

	memset(nl, 0, sizeof(*nl));
	fd = openat(dirfd, NEWLIST_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1)
		return;
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode) || sb.st_size > NEWLIST_MAX) {
		close(fd);
		return;
	}
	nl->text = xmalloc((size_t)sb.st_size + 1);
	while (got < (size_t)sb.st_size &&
	    (r = read(fd, nl->text + got, (size_t)sb.st_size - got)) > 0)
		got += (size_t)r;
	close(fd);
	nl->text[got] = '\0';
	newlist_parse(nl, uidvalidity);
}

uint32_t
newlist_uid(const struct newlist *nl, const char *base)
{
	struct newlist_ent	 key, *hit;

	if (nl->n == 0)
		return 0;
	key.base = base;
	hit = bsearch(&key, nl->ents, nl->n, sizeof(*nl->ents), ent_cmp);
	return hit != NULL ? hit->uid : 0;
}

void
newlist_free(struct newlist *nl)
{
	xfree(&nl->text);
	xfree(&nl->ents);
	nl->n = nl->cap = 0;
}

int
newlist_store(struct commit_txn *t, int tmpfd, int dirfd, uint32_t uidvalidity,
    const struct newlist_ent *ents, size_t n, const char **error_r)
{
	struct iovec	 iov;
	struct buf	 b;
	size_t		 i;
	int		 rc = 0;

	buf_init(&b, NEWLIST_MAX);
	if (buf_printf(&b, "%u\n", uidvalidity) == -1)
		rc = -1;
	for (i = 0; rc == 0 && i < n; i++)
		if (buf_printf(&b, "%u %s\n", ents[i].uid, ents[i].base) == -1)
			rc = -1;
	if (rc == -1) {
		buf_release(&b);
		return store_err(error_r, STORE_ERR_NOT_POSSIBLE, "%s: too many messages in new/",
		    NEWLIST_FILE);
	}
	iov.iov_base = (void *)buf_head(&b);
	iov.iov_len = buf_len(&b);
	if (commit_txn_replace(t, tmpfd, dirfd, NEWLIST_FILE, &iov, 1) == -1)
		rc = store_err(error_r, STORE_ERR_TEMPORARY, "%s: %s", NEWLIST_FILE,
		    commit_txn_error(t));
	buf_release(&b);
	return rc;
}
