/*
 * Quota, the Maildir++ way: <Maildir>/maildirsize holds the quota
 * definition ("<bytes>S,<count>C") and then one "<bytes> <count>" line per
 * change.  Delivery appends a line without opening the index (the fast
 * path stays two fsyncs); the file is recomputed from the Maildir when it
 * is missing, grows past 5120 bytes or its definition changed.  Dovecot,
 * Courier and maildrop read and update the same file.  It is a cache: a
 * torn or lost line is just recomputed.
 *
 * The two writes follow the Maildir++ rules.  A recount replaces the file
 * whole (tmp/, rename), through lib/commit like every file the store
 * replaces: two fsyncs once per ~5 KB of appended lines.  A change is one
 * line appended with O_APPEND, never fsynced and never through lib/commit:
 * the other Maildir++ writers append to the same file without a lock, so a
 * rewrite per change would lose their lines (and cost two fsyncs per mail).
 */
#include "store/store_private.h"
#include "lib/commit.h"
#include "lib/log.h"

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAILDIRSIZE		"maildirsize"
#define MAILDIRSIZE_MAX		5120	/* Maildir++: recompute beyond this */

/* Sum the messages of one new/ or cur/ directory. */
static void
scan_dir(const char *path, int64_t *bytes, int64_t *count)
{
	struct maildir_name	 mn;
	struct dirent		*de;
	struct stat		 sb;
	DIR			*dir;

	if ((dir = opendir(path)) == NULL)
		return;
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (maildir_name_parse(de->d_name, &mn) == 0 && mn.fsize != 0)
			*bytes += (int64_t)mn.fsize;
		else if (fstatat(dirfd(dir), de->d_name, &sb, 0) == 0)
			*bytes += sb.st_size;
		else
			continue;	/* renamed or expunged meanwhile */
		(*count)++;
	}
	closedir(dir);
}

static void
scan_maildir(const char *maildir, int64_t *bytes, int64_t *count)
{
	struct dirent	*de;
	char		 path[4096];
	DIR		*dir;

	*bytes = *count = 0;
	snprintf(path, sizeof(path), "%s/new", maildir);
	scan_dir(path, bytes, count);
	snprintf(path, sizeof(path), "%s/cur", maildir);
	scan_dir(path, bytes, count);
	if ((dir = opendir(maildir)) == NULL)
		return;
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] != '.' || strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s/new", maildir, de->d_name);
		scan_dir(path, bytes, count);
		snprintf(path, sizeof(path), "%s/%s/cur", maildir, de->d_name);
		scan_dir(path, bytes, count);
	}
	closedir(dir);
}

/*
 * Rewrite maildirsize from a scan, through the durable path like every file
 * the store replaces.  It is a cache: if that fails the next reader scans
 * again.
 */
static void
recalc(const char *maildir, const char *def, int64_t *bytes, int64_t *count)
{
	const char	*error;
	char		 text[256];
	int		 len;

	scan_maildir(maildir, bytes, count);
	len = snprintf(text, sizeof(text), "%s\n%" PRId64 " %" PRId64 "\n", def, *bytes, *count);
	(void)maildir_file_replace(maildir, MAILDIRSIZE, text, (size_t)len, &error);
}

/* Parse the file; 0 if it is usable for definition def. */
static int
read_maildirsize(const char *maildir, const char *def, int64_t *bytes, int64_t *count)
{
	char	 path[4096], text[MAILDIRSIZE_MAX + 1], *line, *next, *end;
	ssize_t	 n;
	int	 fd;
	bool	 first = true;

	snprintf(path, sizeof(path), "%s/%s", maildir, MAILDIRSIZE);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, text, sizeof(text));
	close(fd);
	if (n <= 0 || n > MAILDIRSIZE_MAX || text[n - 1] != '\n')
		return -1;	/* too big, empty or torn: recompute */
	text[n] = '\0';
	*bytes = *count = 0;
	for (line = text; *line != '\0'; line = next) {
		next = strchr(line, '\n');
		*next++ = '\0';
		if (first) {
			if (strcmp(line, def) != 0)
				return -1;
			first = false;
			continue;
		}
		*bytes += strtoll(line, &end, 10);
		*count += strtoll(end, &end, 10);
		if (*end != '\0')
			return -1;
	}
	return 0;
}

int
quota_check(const char *maildir, uint64_t quota_bytes, uint64_t quota_messages,
    uint64_t add_bytes, uint64_t add_messages, const char **error_r)
{
	char	 def[64], path[4096];
	int64_t	 bytes, count;

	if (quota_bytes == 0 && quota_messages == 0) {
		/* A stale definition must not limit appends later. */
		snprintf(path, sizeof(path), "%s/%s", maildir, MAILDIRSIZE);
		unlink(path);
		return 0;
	}
	snprintf(def, sizeof(def), "%" PRIu64 "S,%" PRIu64 "C", quota_bytes, quota_messages);
	if (read_maildirsize(maildir, def, &bytes, &count) == -1)
		recalc(maildir, def, &bytes, &count);
	if (bytes < 0 || count < 0)
		recalc(maildir, def, &bytes, &count);
	if (quota_bytes != 0 && (uint64_t)bytes + add_bytes > quota_bytes)
		return store_err(error_r, STORE_ERR_OVER_QUOTA,
		    "quota exceeded (%" PRId64 " of %" PRIu64 " bytes)",
		    bytes, quota_bytes);
	if (quota_messages != 0 && (uint64_t)count + add_messages > quota_messages)
		return store_err(error_r, STORE_ERR_OVER_QUOTA,
		    "quota exceeded (%" PRId64 " of %" PRIu64 " messages)",
		    count, quota_messages);
	return 0;
}

int
quota_check_maildir(const char *maildir, uint64_t add_bytes, const char **error_r)
{
	char	 path[4096], text[64], *end;
	ssize_t	 n;
	int	 fd;
	uint64_t qb, qm;

	snprintf(path, sizeof(path), "%s/%s", maildir, MAILDIRSIZE);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;	/* no quota set */
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	text[n] = '\0';
	qb = strtoull(text, &end, 10);
	if (*end != 'S' || end[1] != ',')
		return 0;
	qm = strtoull(end + 2, &end, 10);
	if (*end != 'C')
		return 0;
	return quota_check(maildir, qb, qm, add_bytes, 1, error_r);
}

void
quota_note(const char *maildir, int64_t bytes, int64_t messages)
{
	char	 path[4096], line[64];
	int	 fd, len;

	snprintf(path, sizeof(path), "%s/%s", maildir, MAILDIRSIZE);
	if ((fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)) == -1)
		return;
	len = snprintf(line, sizeof(line), "%" PRId64 " %" PRId64 "\n", bytes, messages);
	/* A short write leaves a torn line: the next reader recomputes. */
	if (write(fd, line, (size_t)len) != len)
		log_warn("event=quota_append path=%s/maildirsize", maildir);
	close(fd);
}
