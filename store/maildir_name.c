/*
 * Maildir file names, folder names and the folder keyword list.
 *
 * A message file is "<unique>,S=<bytes>,W=<CRLF bytes>,U=<uid>:2,<flags>"
 * (S= and W= as Dovecot writes them; U= is ours and keeps the UID across an
 * index loss).  Flags are the standard letters in ASCII order; keywords are
 * the letters a..z, numbered by the folder's dovecot-keywords file, so mutt
 * and Dovecot pointed at the same Maildir agree with us.
 */
#include "store/store_private.h"
#include "lib/commit.h"
#include "lib/xmalloc.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define KEYWORDS_FILE		"dovecot-keywords"
#define KEYWORDS_FILE_MAX	(16 * 1024)
#define KEYWORD_LEN_MAX		128

static const struct {
	char		letter;
	uint32_t	flag;
} flag_letters[] = {		/* ASCII order, as the Maildir spec wants */
	{ 'D', MSG_DRAFT },
	{ 'F', MSG_FLAGGED },
	{ 'R', MSG_ANSWERED },
	{ 'S', MSG_SEEN },
	{ 'T', MSG_DELETED },
};

static uint64_t
parse_num(const char *p, const char **end_r)
{
	uint64_t	 v = 0;

	while (*p >= '0' && *p <= '9') {
		if (v > (UINT64_MAX - 9) / 10)
			break;
		v = v * 10 + (uint64_t)(*p++ - '0');
	}
	*end_r = p;
	return v;
}

int
maildir_name_parse(const char *name, struct maildir_name *mn)
{
	const char	*p, *end;
	size_t		 baselen, i;
	uint64_t	 v;

	memset(mn, 0, sizeof(*mn));
	baselen = strcspn(name, ",:");
	if (baselen == 0 || baselen > MAILDIR_NAME_MAX || name[0] == '.')
		return -1;
	memcpy(mn->base, name, baselen);
	mn->base[baselen] = '\0';
	p = name + baselen;
	while (*p == ',') {
		p++;
		if ((p[0] == 'S' || p[0] == 'W' || p[0] == 'U') && p[1] == '=') {
			v = parse_num(p + 2, &end);
			if (end != p + 2 && (*end == ',' || *end == ':' || *end == '\0')) {
				if (p[0] == 'S')
					mn->fsize = v;
				else if (p[0] == 'W')
					mn->vsize = v;
				else if (v <= UINT32_MAX)
					mn->uid = (uint32_t)v;
			}
		}
		p += strcspn(p, ",:");
	}
	if (*p != ':')
		return 0;
	if (strncmp(p, ":2,", 3) != 0)
		return 0;	/* ":1," experimental semantics: no flags */
	mn->has_info = true;
	for (p += 3; *p != '\0'; p++) {
		if (*p >= 'a' && *p <= 'z') {
			mn->kwmask |= 1u << (*p - 'a');
			continue;
		}
		for (i = 0; i < sizeof(flag_letters) / sizeof(flag_letters[0]); i++)
			if (flag_letters[i].letter == *p)
				mn->flags |= flag_letters[i].flag;
	}
	return 0;
}

int
maildir_name_dirfd(const struct mailbox *mb, const char *name)
{
	return strchr(name, ':') == NULL ? mb->newfd : mb->curfd;
}

int
maildir_name_format(const struct maildir_name *mn, char *out, size_t outsize)
{
	char	 flags[40];
	size_t	 i, n = 0;
	int	 len;

	for (i = 0; i < sizeof(flag_letters) / sizeof(flag_letters[0]); i++)
		if (mn->flags & flag_letters[i].flag)
			flags[n++] = flag_letters[i].letter;
	for (i = 0; i < MAILDIR_KEYWORDS_MAX; i++)
		if (mn->kwmask & (1u << i))
			flags[n++] = (char)('a' + i);
	flags[n] = '\0';
	if (mn->uid != 0)
		len = snprintf(out, outsize, "%s,S=%llu,W=%llu,U=%u%s%s", mn->base,
		    (unsigned long long)mn->fsize, (unsigned long long)mn->vsize,
		    mn->uid, mn->has_info ? ":2," : "", mn->has_info ? flags : "");
	else
		len = snprintf(out, outsize, "%s,S=%llu,W=%llu%s%s", mn->base,
		    (unsigned long long)mn->fsize, (unsigned long long)mn->vsize,
		    mn->has_info ? ":2," : "", mn->has_info ? flags : "");
	return len < 0 || (size_t)len >= outsize || len > MAILDIR_NAME_MAX ? -1 : 0;
}

bool
maildir_folder_is_inbox(const char *folder)
{
	return strcasecmp(folder, "INBOX") == 0;
}

/*
 * Names of the files a Maildir holds beside its folders (ours, Dovecot's,
 * Courier's, Maildir++'s).  In Maildir++ a folder is ".Name", so none of
 * them can clash today; they are refused as any level of a folder name all
 * the same, because the tools that keep a hierarchy as nested directories
 * (Dovecot LAYOUT=fs, mbsync SubFolders, an export) would put folder
 * "A.new" where A's own new/ is.  Compared with case, as the file names
 * are: a folder "New" or "Tmp" is a user's own.
 */
static const char *const reserved_levels[] = {
	"tmp", "new", "cur", "maildirfolder", "maildirsize", "subscriptions", "dovecot",
};
static const char *const reserved_prefixes[] = {
	"dovecot-", "dovecot.", "postroom-", "courierimap",
};

static bool
level_reserved(const char *level, size_t len)
{
	size_t	 i, plen;

	for (i = 0; i < sizeof(reserved_levels) / sizeof(reserved_levels[0]); i++)
		if (strlen(reserved_levels[i]) == len &&
		    strncmp(level, reserved_levels[i], len) == 0)
			return true;
	for (i = 0; i < sizeof(reserved_prefixes) / sizeof(reserved_prefixes[0]); i++) {
		plen = strlen(reserved_prefixes[i]);
		if (len >= plen && strncmp(level, reserved_prefixes[i], plen) == 0)
			return true;
	}
	return false;
}

int
folder_name_check(const char *name, const char **why_r)
{
	const unsigned char	*p;
	const char		*level, *end;
	size_t			 len = strlen(name);

	if (maildir_folder_is_inbox(name))
		return 0;
	*why_r = NULL;
	if (len == 0)
		*why_r = "empty mailbox name";
	else if (len > STORE_FOLDER_NAME_MAX)
		*why_r = "mailbox name too long";
	else if (strncasecmp(name, "INBOX.", 6) == 0)
		*why_r = "INBOX cannot have children (it is the Maildir itself)";
	for (p = (const unsigned char *)name; *why_r == NULL && *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f)
			*why_r = "control characters in mailbox name";
		else if (*p == '/')
			*why_r = "'/' in mailbox name";
	}
	for (level = name; *why_r == NULL; level = end + 1) {
		end = level + strcspn(level, ".");
		if (end == level)
			*why_r = "empty hierarchy level in mailbox name";
		else if (*level == '~')
			*why_r = "mailbox name level begins with '~'";
		else if (level_reserved(level, (size_t)(end - level)))
			*why_r = "mailbox name is reserved for the Maildir's own files";
		if (*end == '\0')
			break;
	}
	return *why_r == NULL ? 0 : -1;
}

/* Refused: whatever folder_name_check() refuses. */
int
maildir_folder_dir(const char *folder, char *out, size_t outsize)
{
	const char	*why;
	size_t		 len = strlen(folder);

	if (maildir_folder_is_inbox(folder)) {
		if (outsize < 1)
			return -1;
		out[0] = '\0';
		return 0;
	}
	if (folder_name_check(folder, &why) == -1 || len + 2 > outsize)
		return -1;
	out[0] = '.';
	memcpy(out + 1, folder, len + 1);
	return 0;
}

/* ---- keywords ---- */

void
maildir_keywords_clear(struct maildir_keywords *kw)
{
	size_t	 i;

	for (i = 0; i < MAILDIR_KEYWORDS_MAX; i++)
		xfree(&kw->names[i]);
}

static bool
keyword_valid(const char *k, size_t len)
{
	size_t	 i;

	if (len == 0 || len > KEYWORD_LEN_MAX || k[0] == '\\')
		return false;
	for (i = 0; i < len; i++) {
		/* IMAP atom characters only */
		if ((unsigned char)k[i] <= 0x20 || k[i] == 0x7f || strchr("(){%*\"\\]", k[i]))
			return false;
	}
	return true;
}

int
maildir_keywords_load(int folderfd, struct maildir_keywords *kw, const char **error_r)
{
	char	 text[KEYWORDS_FILE_MAX + 1], *line, *next, *end;
	ssize_t	 n;
	long	 idx;
	int	 fd;

	maildir_keywords_clear(kw);
	if ((fd = openat(folderfd, KEYWORDS_FILE, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			return 0;
		return store_err(error_r, STORE_ERR_TEMPORARY,
		    "open %s: %s", KEYWORDS_FILE, strerror(errno));
	}
	n = read(fd, text, KEYWORDS_FILE_MAX);
	close(fd);
	if (n < 0)
		return store_err(error_r, STORE_ERR_TEMPORARY,
		    "read %s: %s", KEYWORDS_FILE, strerror(errno));
	text[n] = '\0';
	for (line = text; line != NULL && *line != '\0'; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		idx = strtol(line, &end, 10);
		if (end == line || *end != ' ' || idx < 0 || idx >= MAILDIR_KEYWORDS_MAX)
			continue;	/* Dovecot ignores what it cannot use, so do we */
		if (keyword_valid(end + 1, strlen(end + 1)) && kw->names[idx] == NULL)
			kw->names[idx] = xstrdup(end + 1);
	}
	return 0;
}

static int
keywords_save(int folderfd, const struct maildir_keywords *kw, const char **error_r)
{
	struct commit_txn	 t;
	struct iovec		 iov;
	char			 text[KEYWORDS_FILE_MAX];
	size_t			 len = 0, i;
	int			 tmpfd, rc;

	for (i = 0; i < MAILDIR_KEYWORDS_MAX; i++)
		if (kw->names[i] != NULL)
			len += (size_t)snprintf(text + len, sizeof(text) - len, "%zu %s\n",
			    i, kw->names[i]);
	tmpfd = openat(folderfd, "tmp", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (tmpfd == -1)
		return store_err(error_r, STORE_ERR_TEMPORARY, "open tmp: %s", strerror(errno));
	iov.iov_base = text;
	iov.iov_len = len;
	commit_txn_init(&t);
	rc = commit_txn_replace(&t, tmpfd, folderfd, KEYWORDS_FILE, &iov, 1);
	if (rc == 0)
		rc = commit_txn_commit(&t);
	else
		commit_txn_abort(&t);
	close(tmpfd);
	if (rc == -1)
		return store_err(error_r, STORE_ERR_TEMPORARY, "%s", commit_txn_error(&t));
	return 0;
}

int
maildir_keywords_mask(int folderfd, struct maildir_keywords *kw, const char *list,
    bool add, uint32_t *mask_r, const char **error_r)
{
	const char	*p = list;
	size_t		 len, i, freeslot;
	bool		 changed = false;

	*mask_r = 0;
	while (p != NULL && *p != '\0') {
		p += strspn(p, " ");
		if ((len = strcspn(p, " ")) == 0)
			break;
		if (!keyword_valid(p, len))
			return store_err(error_r, STORE_ERR_PARAMS, "invalid keyword");
		freeslot = MAILDIR_KEYWORDS_MAX;
		for (i = 0; i < MAILDIR_KEYWORDS_MAX; i++) {
			if (kw->names[i] == NULL) {
				if (freeslot == MAILDIR_KEYWORDS_MAX)
					freeslot = i;
			} else if (strlen(kw->names[i]) == len &&
			    strncasecmp(kw->names[i], p, len) == 0)
				break;
		}
		if (i == MAILDIR_KEYWORDS_MAX && add) {
			if (freeslot == MAILDIR_KEYWORDS_MAX)
				return store_err(error_r, STORE_ERR_PARAMS,
				    "too many keywords (at most %d)",
				    MAILDIR_KEYWORDS_MAX);
			kw->names[freeslot] = xstrndup(p, len);
			i = freeslot;
			changed = true;
		}
		if (i < MAILDIR_KEYWORDS_MAX)
			*mask_r |= 1u << i;
		p += len;
	}
	if (changed && keywords_save(folderfd, kw, error_r) == -1)
		return -1;
	return 0;
}

char *
maildir_keywords_string(const struct maildir_keywords *kw, uint32_t mask)
{
	char	 out[MAILDIR_KEYWORDS_MAX * (KEYWORD_LEN_MAX + 1) + 1];
	size_t	 len = 0, i;

	out[0] = '\0';
	for (i = 0; i < MAILDIR_KEYWORDS_MAX; i++) {
		if (!(mask & (1u << i)) || kw->names[i] == NULL)
			continue;
		len += (size_t)snprintf(out + len, sizeof(out) - len, "%s%s",
		    len > 0 ? " " : "", kw->names[i]);
	}
	return xstrdup(out);
}
