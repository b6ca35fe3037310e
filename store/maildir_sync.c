/*
 * Maildir -> index synchronisation, under the folder's index lock.
 *
 * Files are matched to index records by their unique base name, so a
 * flag rename by another program, or a file back in new/ after a crash
 * lost our rename, keeps its UID.  A file the index does not know gets a
 * UID: its own U= if that UID was never handed out (a crash between our
 * rename and our index commit, or a rebuild), else a fresh one.  UIDs are
 * reserved in the folder's side file before any name carries them, so a
 * rebuilt index never hands one out twice.  A new file's record takes its
 * sizes from its name where they can be trusted, without reading it.
 * A POP3 sync leaves new files in new/ under their own names and keeps
 * their UIDs in a side file instead (maildir_newlist.c); any other sync
 * moves them into cur/.
 */
#include "store/store_private.h"
#include "lib/commit.h"
#include "mail/mime.h"
#include "lib/log.h"
#include "lib/xmalloc.h"

#include <sys/mman.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define UID_RESERVE	128	/* UIDs reserved per side-file write */
#define SCAN_PASSES	5
#define TMP_MAX_AGE	(36 * 3600)	/* Maildir spec: tmp/ leftovers older than this go */
#define MTIME_SETTLE_NS	(2 * (int64_t)1000000000)	/* see dir_state() */

/*
 * One file a scan found: 32 bytes (the fields in this order), its name in
 * the scan's one buffer (a struct maildir_name is 300 bytes, 3 MB for
 * 10,000 files, and a string of its own each was 10,000 small blocks left
 * scattered over a thread's heap after every full scan).  The full name is
 * parsed again where a rename needs it.
 */
struct scan_ent {
	const char		*name;		/* in scan.names */
	long			 match;		/* index into the record list, -1 */
	uint32_t		 base_len;	/* its unique part: the first base_len bytes */
	uint32_t		 name_uid;	/* U= in the name, or the POP3 list's (0: none) */
	uint32_t		 uid;		/* assigned to a new message */
	bool			 in_new;
	bool			 dup;		/* base name taken: give it a new one */
	bool			 kept;		/* indexed where it is, in new/ */
};

struct scan {
	struct scan_ent	*ents;
	size_t		 n, cap;
	struct buf	 names;		/* the names, NUL-terminated, in ents' order */
};

struct byname {
	const char	*base;		/* a record's name */
	uint32_t	 base_len;	/* its unique part */
	size_t		 idx;
	bool		 seen;
};

/* Unique parts compared as strcmp compares them once NUL-terminated. */
static int
base_cmp_n(const char *a, size_t alen, const char *b, size_t blen)
{
	int	 c = memcmp(a, b, alen < blen ? alen : blen);

	return c != 0 ? c : (alen > blen) - (alen < blen);
}

static int
ent_base_cmp(const struct scan_ent *x, const struct scan_ent *y)
{
	return base_cmp_n(x->name, x->base_len, y->name, y->base_len);
}

int64_t
maildir_dir_mtime(int dirfd)
{
	struct stat	 sb;

	if (fstat(dirfd, &sb) == -1)
		return 0;
	return (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
}

static int64_t
now_ns(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);	/* the clock file times come from */
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * Directory mtimes are coarse (a clock tick, a second on some file
 * systems): another tool's rename in the same tick as our scan or our own
 * rename leaves the mtime as we recorded it.  Only a full scan that began
 * MTIME_SETTLE_NS after the mtime proves that nothing changed since, as
 * Dovecot distrusts young mtimes.
 */
static enum maildir_cur
dir_state(int64_t recorded, int64_t scan_ns, int64_t mtime)
{
	if (recorded == 0 || recorded != mtime)
		return MAILDIR_CHANGED;
	return mtime <= scan_ns - MTIME_SETTLE_NS ? MAILDIR_SETTLED : MAILDIR_YOUNG;
}

/*
 * A young cur/ is taken as recorded until MTIME_SETTLE_NS after the last
 * full scan, then scanned again: a folder whose flags change all the time
 * (every STORE renames a file) costs one full scan per MTIME_SETTLE_NS, not
 * one per session per command, and another tool's rename hidden in one of
 * our ticks is seen within that time (Dovecot: a second).
 */
bool
maildir_cur_trusted(const struct idx_folder *f, int64_t mtime)
{
	switch (dir_state(f->cur_mtime_ns, f->cur_scan_ns, mtime)) {
	case MAILDIR_SETTLED:
		return true;
	case MAILDIR_YOUNG:
		return now_ns() - f->cur_scan_ns < MTIME_SETTLE_NS;
	case MAILDIR_CHANGED:
		break;
	}
	return false;
}

enum maildir_cur
maildir_new_state(const struct idx_folder *f, int64_t mtime)
{
	return dir_state(f->new_mtime_ns, f->new_scan_ns, mtime);
}

static void
scan_free(struct scan *s)
{
	xfree(&s->ents);
	buf_release(&s->names);
	s->n = s->cap = 0;
}

/* Point each entry at its name, once the buffer stops moving. */
static void
scan_names_fix(struct scan *s)
{
	const char	*p = buf_head(&s->names);
	size_t		 i;

	for (i = 0; i < s->n; i++, p += strlen(p) + 1)
		s->ents[i].name = p;
}

static int
scan_dir(int fd, bool in_new, struct scan *s, const char **error_r)
{
	struct maildir_name	 mn;
	struct scan_ent		*e;
	struct dirent		*de;
	DIR			*dir;
	int			 dfd;

	/* Not dup(): the descriptor's offset is shared with other handles. */
	if ((dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    (dir = fdopendir(dfd)) == NULL) {
		if (dfd != -1)
			close(dfd);
		return store_err(error_r, STORE_ERR_TEMPORARY, "scan: %s", strerror(errno));
	}
	rewinddir(dir);
	while ((de = readdir(dir)) != NULL) {
		/* A directory is no message: indexing it failed every sync (mmap). */
		if (de->d_name[0] == '.' || de->d_type == DT_DIR)
			continue;
		if (s->n == s->cap) {
			s->cap = s->cap == 0 ? 64 : size_mul(s->cap, 2);
			s->ents = xreallocarray(s->ents, s->cap, sizeof(*s->ents));
		}
		if (maildir_name_parse(de->d_name, &mn) == -1)
			continue;
		if (buf_append(&s->names, de->d_name, strlen(de->d_name) + 1) == -1) {
			closedir(dir);
			return store_err(error_r, STORE_ERR_NOT_POSSIBLE, "scan: too many files");
		}
		e = &s->ents[s->n];
		e->name = NULL;		/* scan_names_fix */
		e->base_len = (uint32_t)strlen(mn.base);
		e->name_uid = mn.uid;
		e->in_new = in_new;
		e->match = -1;
		e->uid = 0;
		e->dup = e->kept = false;
		s->n++;
	}
	closedir(dir);
	return 0;
}

/*
 * Remove what crashed writers left in tmp/ long ago (never visible mail).
 * Not written and not accessed (the Maildir spec's rule): an APPEND in
 * progress sets its file's mtime to the internal date, which may be years
 * old, and leaves the atime at its creation.
 */
static void
clean_tmp(int tmpfd)
{
	struct dirent	*de;
	struct stat	 sb;
	DIR		*dir;
	time_t		 old = time(NULL) - TMP_MAX_AGE;
	int		 dfd;

	/* Not dup(): the descriptor's offset is shared with other handles. */
	if ((dfd = openat(tmpfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return;
	if ((dir = fdopendir(dfd)) == NULL) {
		close(dfd);
		return;
	}
	rewinddir(dir);
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] != '.' && fstatat(tmpfd, de->d_name, &sb, 0) == 0 &&
		    S_ISREG(sb.st_mode) && sb.st_mtime < old && sb.st_atime < old)
			unlinkat(tmpfd, de->d_name, 0);
	}
	closedir(dir);
}

/* ---- the side file: "<uidvalidity> <uid high-water>" ---- */

/*
 * 0: read; 1: missing or damaged; -1: could not tell (EMFILE, EIO...),
 * which must never pass for missing: a folder new to the index would get
 * a new UIDVALIDITY.
 */
static int
side_read(struct mailbox *mb, uint32_t *uidvalidity_r, uint32_t *hw_r, const char **error_r)
{
	char		 text[64];
	ssize_t		 n;
	int		 fd;
	unsigned long	 v, hw;

	if ((fd = openat(mb->dirfd, MAILDIR_UID_FILE, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			return 1;
		return store_err(error_r, STORE_ERR_TEMPORARY, "open %s: %s", MAILDIR_UID_FILE,
		    strerror(errno));
	}
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n == -1)
		return store_err(error_r, STORE_ERR_TEMPORARY, "read %s: %s", MAILDIR_UID_FILE,
		    strerror(errno));
	if (n == 0)
		return 1;
	text[n] = '\0';
	if (sscanf(text, "%lu %lu", &v, &hw) != 2 || v == 0 || v > UINT32_MAX ||
	    hw == 0 || hw > UINT32_MAX)
		return 1;
	*uidvalidity_r = (uint32_t)v;
	*hw_r = (uint32_t)hw;
	return 0;
}

static int
side_write(struct mailbox *mb, uint32_t uidvalidity, uint32_t hw, const char **error_r)
{
	struct commit_txn	 t;
	struct iovec		 iov;
	char			 text[64];

	snprintf(text, sizeof(text), "%u %u\n", uidvalidity, hw);
	iov.iov_base = text;
	iov.iov_len = strlen(text);
	commit_txn_init(&t);
	if (commit_txn_replace(&t, mb->tmpfd, mb->dirfd, MAILDIR_UID_FILE, &iov, 1) == -1 ||
	    commit_txn_commit(&t) == -1) {
		commit_txn_abort(&t);
		return store_err(error_r, STORE_ERR_TEMPORARY,
		    "%s: %s", MAILDIR_UID_FILE, commit_txn_error(&t));
	}
	return 0;
}

int
maildir_reserve_uids(struct mailbox *mb, struct idx_folder *f, uint32_t uidnext,
    const char **error_r)
{
	uint32_t	 hw;

	if (uidnext <= f->uid_reserved)
		return 0;
	if (uidnext > UINT32_MAX - UID_RESERVE)
		return store_err(error_r, STORE_ERR_NOT_POSSIBLE,
		    "UIDs exhausted in %s", mb->folder);
	hw = uidnext + UID_RESERVE;
	if (side_write(mb, f->uidvalidity, hw, error_r) == -1)
		return -1;
	f->uid_reserved = hw;
	store_crash_point("uids-reserved");
	return 0;
}

/*
 * The first MODSEQ of a folder re-indexed under a UIDVALIDITY it had
 * before (index lost or rebuilt, folder renamed): its old MODSEQs are
 * unknown, and a client may hold one.  Seconds since the epoch times 2^16
 * are above any of them unless the folder averaged 65,536 changes a
 * second over its life; and its tombstone floor says "resync" to a client
 * with an older one.
 */
static uint64_t
modseq_restart(void)
{
	return (uint64_t)time(NULL) << 16;
}

/*
 * A folder the index does not know: start from the side file (*read_r),
 * or anew: without the side file nothing tells which UIDs were handed out
 * under the old UIDVALIDITY, so only a new one is safe.
 */
static int
folder_init(struct mailbox *mb, struct idx_folder *f, bool *read_r, const char **error_r)
{
	uint32_t	 v, hw;
	int		 rc;

	memset(f, 0, sizeof(*f));
	if ((rc = side_read(mb, &v, &hw, error_r)) == -1)
		return -1;
	*read_r = rc == 0;
	if (*read_r) {
		f->uidvalidity = v;
		f->uidnext = hw;
		f->uid_reserved = hw;
	} else {
		f->uidvalidity = (uint32_t)time(NULL);
		f->uidnext = 1;
		f->uid_reserved = 0;	/* maildir_reserve_uids writes the side file */
	}
	/* A new UIDVALIDITY has had no expunges; an old one's are unknown. */
	f->highestmodseq = *read_r ? modseq_restart() : 1;
	f->vanished_floor = *read_r ? f->highestmodseq : 0;
	return 0;
}

/*
 * The index knows the folder: the side file must cover what it knows.
 * One that is damaged, missing or rolled back (a restored backup) is
 * rewritten from the index now, while the index can still tell: a
 * rebuild has only the side file to go by.
 */
static uint32_t
side_want(const struct idx_folder *f)
{
	return f->uid_reserved > f->uidnext ? f->uid_reserved : f->uidnext;
}

bool
maildir_side_ok(struct mailbox *mb, const struct idx_folder *f)
{
	uint32_t	 v, hw;
	const char	*error;

	return side_read(mb, &v, &hw, &error) == 0 && v == f->uidvalidity &&
	    hw >= side_want(f);
}

static int
side_check(struct mailbox *mb, const struct idx_folder *f, const char **error_r)
{
	uint32_t	 v, hw;
	int		 rc;

	if ((rc = side_read(mb, &v, &hw, error_r)) == -1)
		return -1;
	if (rc == 0 && v == f->uidvalidity && hw >= side_want(f))
		return 0;
	log_warnx("event=uid_file status=rewritten path=%s/%s reason=\"damaged or behind the "
	    "index\"", mb->maildir, MAILDIR_UID_FILE);
	return side_write(mb, f->uidvalidity, side_want(f), error_r);
}

/*
 * A rebuild: a file name carrying a UID at or above the side file's mark
 * proves the side file was rolled back, and the UIDs handed out (and
 * expunged) above the highest name left are unknown.  A new UIDVALIDITY
 * is then the only way never to give a new message an old UIDL.
 */
static void
side_stale_check(struct mailbox *mb, struct idx_folder *f, const struct scan *s)
{
	uint32_t	 maxuid = 0, old = f->uidvalidity;
	size_t		 i;

	for (i = 0; i < s->n; i++)
		if (s->ents[i].name_uid > maxuid)
			maxuid = s->ents[i].name_uid;
	if (maxuid < f->uid_reserved)
		return;
	log_warnx("event=uidvalidity status=new path=%s/%s mark=%u uid=%u reason=\"mark below "
	    "a UID in a file name\"", mb->maildir, MAILDIR_UID_FILE, f->uid_reserved, maxuid);
	f->uidvalidity = (uint32_t)time(NULL);
	if (f->uidvalidity == old || f->uidvalidity == 0)
		f->uidvalidity = old + 1 != 0 ? old + 1 : 1;
	f->uid_reserved = 0;	/* maildir_reserve_uids writes the new one */
}

void
folder_account(struct idx_folder *f, const struct idx_msg *m, int sign)
{
	if (sign > 0) {
		f->messages++;
		f->size += m->vsize;
		if (!(m->flags & MSG_SEEN))
			f->unseen++;
	} else {
		f->messages--;
		f->size -= m->vsize;
		if (!(m->flags & MSG_SEEN))
			f->unseen--;
	}
}

/*
 * RFC822.SIZE counts every bare LF as CRLF: the LFs of data not preceded
 * by a CR, *prev the byte before data (carried from chunk to chunk).
 */
static uint64_t
bare_lfs(const char *data, size_t len, char *prev)
{
	const char	*p, *end = data + len;
	uint64_t	 n = 0;

	for (p = data; p < end; p++) {
		if ((p = memchr(p, '\n', (size_t)(end - p))) == NULL)
			break;
		if ((p == data ? *prev : p[-1]) != '\r')
			n++;
	}
	if (len > 0)
		*prev = end[-1];
	return n;
}

int
maildir_index_data(const char *data, size_t len, struct idx_msg *m, char **cache_r)
{
	struct mime_message	*mm;
	char			*cache, prev = '\0';
	size_t			 a, b, c;

	m->fsize = len;
	m->vsize = len + bare_lfs(data, len, &prev);
	mm = mime_parse(data, len);
	/* One allocation holds the three strings, freed by the caller. */
	a = strlen(mm->envelope) + 1;
	b = strlen(mm->body) + 1;
	c = strlen(mm->bodystructure) + 1;
	cache = xmalloc(size_add(size_add(a, b), c));
	memcpy(cache, mm->envelope, a);
	memcpy(cache + a, mm->body, b);
	memcpy(cache + a + b, mm->bodystructure, c);
	mime_message_free(&mm);
	m->envelope = cache;
	m->body = cache + a;
	m->bodystructure = cache + a + b;
	*cache_r = cache;
	return 0;
}

int
maildir_index_file(int dirfd, const char *name, struct idx_msg *m, char **cache_r,
    const char **error_r)
{
	struct stat	 sb;
	char		*data = NULL;
	int		 fd;

	*cache_r = NULL;
	if ((fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC)) == -1)
		return store_err(error_r, errno == ENOENT ? STORE_ERR_EXPUNGED : STORE_ERR_TEMPORARY,
		    "open %s: %s", name, strerror(errno));
	if (fstat(fd, &sb) == -1) {
		close(fd);
		return store_err(error_r, STORE_ERR_TEMPORARY,
		    "fstat %s: %s", name, strerror(errno));
	}
	if (sb.st_size > 0) {
		data = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (data == MAP_FAILED) {
			close(fd);
			return store_err(error_r, STORE_ERR_TEMPORARY,
			    "mmap %s: %s", name, strerror(errno));
		}
	}
	close(fd);
	maildir_index_data(data != NULL ? data : "", (size_t)sb.st_size, m, cache_r);
	if (data != NULL)
		munmap(data, (size_t)sb.st_size);
	m->idate = sb.st_mtim.tv_sec;
	return 0;
}

/* Read the whole file to count its bare LFs (a name without sizes we trust). */
static int
count_sizes(int dirfd, const char *name, struct idx_msg *m, const char **error_r)
{
	char		 buf[16 * 1024], prev = '\0';
	ssize_t		 n;
	int		 fd;

	if ((fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC)) == -1)
		return store_err(error_r, errno == ENOENT ? STORE_ERR_EXPUNGED :
		    STORE_ERR_TEMPORARY, "open %s: %s", name, strerror(errno));
	m->fsize = m->vsize = 0;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		m->fsize += (uint64_t)n;
		m->vsize += (uint64_t)n + bare_lfs(buf, (size_t)n, &prev);
	}
	close(fd);
	if (n == -1)
		return store_err(error_r, STORE_ERR_TEMPORARY, "read %s: %s", name, strerror(errno));
	return 0;
}

/* S= and W= that could be a file's: each LF at most doubles, so W= is within S..2*S. */
static bool
name_sizes_plausible(const struct maildir_name *mn)
{
	return mn->fsize != 0 && mn->vsize >= mn->fsize && mn->vsize - mn->fsize <= mn->fsize;
}

/*
 * A file's date and sizes.  S= and W= in the name are taken when S= is
 * the size the file has (our deliveries', Dovecot's, ours after a
 * rename): a stat, the file is not opened.  A name without them, or whose
 * S= is wrong (another tool's, damaged), costs a read of the file: what
 * is on disk wins.
 */
static int
stat_record(int dirfd, const char *name, const struct maildir_name *mn, struct idx_msg *m,
    const char **error_r)
{
	struct stat	 sb;

	if (fstatat(dirfd, name, &sb, 0) == -1)
		return store_err(error_r, errno == ENOENT ? STORE_ERR_EXPUNGED :
		    STORE_ERR_TEMPORARY, "stat %s: %s", name, strerror(errno));
	if (!S_ISREG(sb.st_mode))
		return store_err(error_r, STORE_ERR_NOT_POSSIBLE, "%s: not a file", name);
	m->idate = sb.st_mtim.tv_sec;
	m->fsize = (uint64_t)sb.st_size;
	if (name_sizes_plausible(mn) && mn->fsize == m->fsize) {
		m->vsize = mn->vsize;
		return 0;
	}
	return count_sizes(dirfd, name, m, error_r);
}

/*
 * A record for a file found by a sync: sizes and date, no MIME parse (the
 * cached strings stay empty, "not parsed yet": the first FETCH that needs
 * them parses).  A file POP3 leaves in new/ whose name has sizes is
 * recorded from its name alone, as Dovecot does: the stat was a fifth of a
 * first login's time on 10,000 files.  Its date stays MAILDIR_IDATE_UNREAD
 * until the file leaves new/ (maildir_record_check): only imapd reads
 * dates, and its handles move such files into cur/ first.
 */
static int
index_record(int dirfd, const char *name, const struct maildir_name *mn, bool from_name,
    struct idx_msg *m, const char **error_r)
{
	m->envelope = m->body = m->bodystructure = "";
	if (from_name && name_sizes_plausible(mn)) {
		m->idate = MAILDIR_IDATE_UNREAD;
		m->fsize = mn->fsize;
		m->vsize = mn->vsize;
		return 0;
	}
	return stat_record(dirfd, name, mn, m, error_r);
}

/*
 * A record made from its name alone, before its file leaves new/ (a move
 * into cur/, a flag change): the file's date, and the sizes it has.
 */
int
maildir_record_check(int dirfd, const char *name, struct idx_msg *m, const char **error_r)
{
	struct maildir_name	 mn;

	if (m->idate != MAILDIR_IDATE_UNREAD)
		return 0;
	maildir_name_parse(name, &mn);
	return stat_record(dirfd, name, &mn, m, error_r);
}

static int
byname_cmp(const void *a, const void *b)
{
	const struct byname	*x = a, *y = b;

	return base_cmp_n(x->base, x->base_len, y->base, y->base_len);
}

/*
 * Among the records with this base name (normally one), the unseen one,
 * preferring the one whose UID the file names; NULL if all are taken.
 */
static struct byname *
match_unseen(struct byname *names, size_t n, struct byname *hit,
    const struct idx_msglist *l, uint32_t uid)
{
	struct byname	*p, *first, *best = NULL;

	for (first = hit; first > names && byname_cmp(&first[-1], hit) == 0; first--)
		;
	for (p = first; p < names + n && byname_cmp(p, hit) == 0; p++) {
		if (p->seen)
			continue;
		if (best == NULL || l->msgs[p->idx].uid == uid)
			best = p;
	}
	return best;
}

/* New messages: those keeping their U= first (by UID), then by name. */
static int
newent_cmp(const void *a, const void *b)
{
	const struct scan_ent	*x = *(struct scan_ent * const *)a;
	const struct scan_ent	*y = *(struct scan_ent * const *)b;

	if (x->uid != y->uid)
		return x->uid == 0 ? 1 : y->uid == 0 ? -1 : x->uid < y->uid ? -1 : 1;
	return ent_base_cmp(x, y);
}

static int
scan_folder(struct mailbox *mb, bool full, struct scan *s, bool *stable_r,
    const char **error_r)
{
	int64_t	 pre, post;
	int	 pass;

	*stable_r = true;
	for (pass = 0; pass < SCAN_PASSES; pass++) {
		scan_free(s);
		buf_init(&s->names, SIZE_MAX);
		pre = maildir_dir_mtime(mb->curfd);
		if (scan_dir(mb->newfd, true, s, error_r) == -1)
			return -1;
		if (!full)
			break;
		if (scan_dir(mb->curfd, false, s, error_r) == -1)
			return -1;
		post = maildir_dir_mtime(mb->curfd);
		if (pre == post)
			break;
	}
	/* cur/ kept changing under us: do not take absence for expunge. */
	if (pass == SCAN_PASSES)
		*stable_r = false;
	scan_names_fix(s);
	return 0;
}

/* POP3 indexes new mail where it lies (no rename): see maildir_newlist.c. */
static bool
keep_in_new(const struct mailbox *mb, const struct scan_ent *e)
{
	return (mb->flags & MAILBOX_POP3_LOCK) && e->in_new && !e->dup &&
	    strchr(e->name, ':') == NULL;
}

static int
uid_cmp(const void *a, const void *b)
{
	uint32_t	 x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* \Recent for this handle: it moved uid out of new/. */
static void
recent_add(struct mailbox *mb, uint32_t uid)
{
	if (mb->nrecent == mb->recentcap) {
		mb->recentcap = mb->recentcap == 0 ? 16 : size_mul(mb->recentcap, 2);
		mb->recent = xreallocarray(mb->recent, mb->recentcap, sizeof(*mb->recent));
	}
	mb->recent[mb->nrecent++] = uid;
}

/* The fields of a listed record a full one is checked and accounted with. */
static struct idx_msg
listed_msg(const struct idx_listed *x)
{
	return (struct idx_msg){
		.uid = x->uid, .flags = x->flags, .kwmask = x->kwmask,
		.vsize = x->vsize, .fsize = x->fsize, .idate = x->idate, .name = x->name,
	};
}

/*
 * Rename a matched file to its canonical name and update its record; one
 * a POP3 sync indexed in new/ stays there for POP3, moves for the others.
 */
static int
sync_known(struct mailbox *mb, struct idx_txn *txn, struct idx_folder *f,
    struct scan_ent *e, const struct idx_listed *old, struct commit_txn *st,
    bool *renamed_r, bool *changed_r, bool *stable_r, const char **error_r)
{
	struct maildir_name	 mn;
	struct idx_msg		 m, checked = listed_msg(old);
	char			 name[MAILDIR_NAME_MAX + 1];
	int			 rc;

	if (keep_in_new(mb, e) && strcmp(e->name, old->name) == 0) {
		e->uid = old->uid;
		e->kept = true;
		return 0;
	}
	if (maildir_record_check(e->in_new ? mb->newfd : mb->curfd, e->name, &checked,
	    error_r) == -1) {
		if (store_error_code() != STORE_ERR_EXPUNGED)
			return -1;
		*stable_r = false;	/* gone meanwhile: the next scan */
		return 0;
	}
	maildir_name_parse(e->name, &mn);	/* parsed whole at the scan */
	mn.uid = old->uid;
	mn.fsize = checked.fsize;
	mn.vsize = checked.vsize;
	if (e->in_new) {		/* our rename was lost: keep the flags */
		mn.flags = old->flags;
		mn.kwmask = old->kwmask;
	}
	mn.has_info = true;
	if (maildir_name_format(&mn, name, sizeof(name)) == -1)
		return store_err(error_r, STORE_ERR_NOT_POSSIBLE,
		    "file name too long: %s", e->name);
	if (e->in_new || strcmp(name, e->name) != 0) {
		if (commit_txn_rename(st, e->in_new ? mb->newfd : mb->curfd, e->name,
		    mb->curfd, name) == -1) {
			if (errno == ENOENT) {	/* renamed by someone else: next scan */
				*stable_r = false;
				return 0;
			}
			return store_err(error_r, STORE_ERR_TEMPORARY, "%s", commit_txn_error(st));
		}
		*renamed_r = true;
		if (e->in_new && maildir_name_dirfd(mb, old->name) == mb->newfd)
			recent_add(mb, old->uid);	/* indexed by POP3, new to IMAP */
	}
	if (strcmp(name, old->name) == 0)
		return 0;
	if ((rc = idx_msg_get(txn, f->id, old->uid, false, &m, error_r)) != 0)
		return rc == 1 ? 0 : rc;
	folder_account(f, &m, -1);
	m.flags = mn.flags;
	m.kwmask = mn.kwmask;
	m.name = name;
	m.idate = checked.idate;
	m.fsize = checked.fsize;
	m.vsize = checked.vsize;
	/* Flags another program changed: a change of ours as far as MODSEQs go. */
	if (m.flags != old->flags || m.kwmask != old->kwmask) {
		m.modseq = f->highestmodseq + 1;
		*changed_r = true;
	}
	folder_account(f, &m, 1);
	return idx_msg_put(txn, f->id, &m, error_r);
}

/* A new message's record m: rename its file to its name in cur/ and index it. */
static int
sync_new_put(struct mailbox *mb, struct idx_txn *txn, struct idx_folder *f,
    struct scan_ent *e, struct idx_msg *m, struct commit_txn *st, const char **error_r)
{
	struct maildir_name	 mn;
	char			 name[MAILDIR_NAME_MAX + 1];
	int			 dir = e->in_new ? mb->newfd : mb->curfd, rc;

	maildir_name_parse(e->name, &mn);
	if (e->dup)
		commit_unique_name(mn.base, sizeof(mn.base));
	mn.uid = e->uid;
	mn.fsize = m->fsize;
	mn.vsize = m->vsize;
	mn.has_info = true;
	if (keep_in_new(mb, e)) {
		snprintf(name, sizeof(name), "%s", e->name);
		mn.flags = mn.kwmask = 0;	/* no info part: none */
		e->kept = true;
	} else if (maildir_name_format(&mn, name, sizeof(name)) == -1)
		return 0;	/* an absurd name: leave it alone */
	else if (strcmp(name, e->name) != 0 || e->in_new) {
		if (commit_txn_rename(st, dir, e->name, mb->curfd, name) == -1)
			return errno == ENOENT ? 0 : store_err(error_r, STORE_ERR_TEMPORARY,
			    "%s", commit_txn_error(st));
	}
	m->uid = e->uid;
	m->flags = mn.flags;
	m->kwmask = mn.kwmask;
	m->modseq = f->highestmodseq + 1;
	m->name = name;
	if ((rc = idx_msg_put(txn, f->id, m, error_r)) != 0)
		return rc;
	folder_account(f, m, 1);
	if (e->in_new && !e->kept)
		recent_add(mb, e->uid);
	return 0;
}

/* Give an unknown file its UID, move it to cur/ and index it. */
static int
sync_new(struct mailbox *mb, struct idx_txn *txn, struct idx_folder *f,
    struct scan_ent *e, struct commit_txn *st, const char **error_r)
{
	struct maildir_name	 mn;
	struct idx_msg		 m;
	int			 dir = e->in_new ? mb->newfd : mb->curfd;

	memset(&m, 0, sizeof(m));
	maildir_name_parse(e->name, &mn);
	/* Sizes only: ENVELOPE/BODYSTRUCTURE are parsed when first asked for (mailbox_fetch). */
	if (index_record(dir, e->name, &mn, keep_in_new(mb, e), &m, error_r) == -1)
		return store_error_temporary() ? -1 : 0;	/* gone meanwhile */
	return sync_new_put(mb, txn, f, e, &m, st, error_r);
}

static int
base_cmp(const void *a, const void *b)
{
	return ent_base_cmp(*(struct scan_ent * const *)a, *(struct scan_ent * const *)b);
}

/*
 * Unknown files in new/ (a rebuild, or a crash before the index commit)
 * take the UID a POP3 sync gave them, if it left them there; assign_uids
 * then keeps it by the same rule as a U= in a name.
 */
static void
newlist_apply(struct mailbox *mb, const struct idx_folder *f, struct scan *s)
{
	struct newlist	 nl;
	char		 base[MAILDIR_NAME_MAX + 1];
	size_t		 i;
	bool		 loaded = false;

	for (i = 0; i < s->n; i++) {
		if (!s->ents[i].in_new || s->ents[i].match != -1 || s->ents[i].name_uid != 0)
			continue;
		if (!loaded) {
			newlist_load(mb->dirfd, f->uidvalidity, &nl);
			loaded = true;
		}
		snprintf(base, sizeof(base), "%.*s", (int)s->ents[i].base_len, s->ents[i].name);
		s->ents[i].name_uid = newlist_uid(&nl, base);
	}
	if (loaded)
		newlist_free(&nl);
}

/* The UIDs of what this sync left in new/, kept durable before the index commit. */
static int
newlist_write(struct mailbox *mb, const struct idx_folder *f, const struct scan *s,
    struct commit_txn *st, const char **error_r)
{
	struct newlist_ent	*ents;
	struct buf		 bases;
	const char		*p;
	size_t			 i, n = 0;
	int			 rc;

	ents = xreallocarray(NULL, s->n + 1, sizeof(*ents));
	buf_init(&bases, SIZE_MAX);
	for (i = 0; i < s->n; i++) {
		if (!s->ents[i].kept)
			continue;
		if (buf_append(&bases, s->ents[i].name, s->ents[i].base_len) == -1 ||
		    buf_append(&bases, "", 1) == -1) {
			rc = store_err(error_r, STORE_ERR_NOT_POSSIBLE, "too many files in new/");
			goto out;
		}
		ents[n++].uid = s->ents[i].uid;
	}
	for (i = 0, p = buf_head(&bases); i < n; i++, p += strlen(p) + 1)
		ents[i].base = p;
	rc = newlist_store(st, mb->tmpfd, mb->dirfd, f->uidvalidity, ents, n, error_r);
out:
	buf_release(&bases);
	free(ents);
	return rc;
}

/* How many files this sync indexed (or found indexed) in new/. */
static uint32_t
new_kept(const struct scan *s)
{
	uint32_t	 n = 0;
	size_t		 i;

	for (i = 0; i < s->n; i++)
		n += s->ents[i].kept;
	return n;
}

/* This sync left every file it found in new/ where it was. */
static bool
new_untouched(const struct scan *s)
{
	size_t	 i;

	for (i = 0; i < s->n; i++)
		if (s->ents[i].in_new && !s->ents[i].kept)
			return false;
	return true;
}

/* Decide the UIDs of unknown files; returns how many there are. */
static size_t
assign_uids(struct scan *s, struct idx_folder *f, bool rebuild, struct scan_ent ***new_r)
{
	struct scan_ent	**nw;
	uint32_t	  last = 0;
	size_t		  i, n = 0;

	nw = xreallocarray(NULL, s->n + 1, sizeof(*nw));
	for (i = 0; i < s->n; i++) {
		if (s->ents[i].match != -1)
			continue;
		/* Keep U= only if that UID cannot have been handed out since. */
		if (s->ents[i].name_uid != 0 && (rebuild || s->ents[i].name_uid >= f->uidnext))
			s->ents[i].uid = s->ents[i].name_uid;
		nw[n++] = &s->ents[i];
	}
	/* Two unknown files with one base name: the later ones get new names. */
	qsort(nw, n, sizeof(*nw), base_cmp);
	for (i = 1; i < n; i++)
		if (ent_base_cmp(nw[i], nw[i - 1]) == 0)
			nw[i]->dup = true;
	qsort(nw, n, sizeof(*nw), newent_cmp);
	for (i = 0; i < n; i++) {
		if (nw[i]->uid != 0 && nw[i]->uid != last) {
			last = nw[i]->uid;
			if (f->uidnext <= last)
				f->uidnext = last + 1;
		} else
			nw[i]->uid = f->uidnext++;	/* duplicate or none */
	}
	*new_r = nw;
	return n;
}

int
maildir_sync_locked(struct mailbox *mb, struct idx_txn *txn, struct idx_folder *f,
    bool exists, const char **error_r)
{
	struct idx_msglist	 l = { 0 };
	struct scan		 s = { 0 };
	struct scan_ent		**nw = NULL;
	struct byname		*names = NULL, key, *hit;
	struct maildir_name	 mn;
	struct idx_msg		 gone;
	struct commit_txn	 st;
	size_t			 i, nnew, nkept = 0;
	int64_t			 pre, pre_new, scan_ns;
	bool			 full, stable, renamed = false, changed = false, side_ok = false;
	int			 rc = -1;

	commit_txn_init(&st);
	/* A new folder record first: its id is the key prefix of its messages. */
	if (!exists) {
		if (folder_init(mb, f, &side_ok, error_r) == -1)
			return -1;
		if ((rc = idx_folder_put(txn, mb->folder, f, error_r)) != 0)
			return rc;
	}
	if (exists && side_check(mb, f, error_r) == -1)
		return -1;
	scan_ns = now_ns();
	pre = maildir_dir_mtime(mb->curfd);
	pre_new = maildir_dir_mtime(mb->newfd);
	full = !exists || !maildir_cur_trusted(f, pre);
	if (scan_folder(mb, full, &s, &stable, error_r) == -1)
		goto out;
	if (!exists)
		newlist_apply(mb, f, &s);
	if (!exists && side_ok)
		side_stale_check(mb, f, &s);
	if (full)
		clean_tmp(mb->tmpfd);
	/*
	 * An index error keeps its code: IDX_RETRY makes the caller run again.
	 * Files in new/ may be known too (a POP3 sync left them there), and
	 * those the index has there may be gone.
	 */
	if ((full || s.n > 0 || f->new_kept > 0) && exists &&
	    (rc = idx_msg_list(txn, f->id, &l, error_r)) != 0)
		goto out;
	names = xreallocarray(NULL, l.n + 1, sizeof(*names));
	for (i = 0; i < l.n; i++) {
		names[i].base = l.msgs[i].name;
		names[i].base_len = maildir_name_parse(l.msgs[i].name, &mn) == 0 ?
		    (uint32_t)strlen(mn.base) : 0;
		names[i].idx = i;
		names[i].seen = false;
	}
	qsort(names, l.n, sizeof(*names), byname_cmp);
	for (i = 0; i < s.n; i++) {
		key.base = s.ents[i].name;
		key.base_len = s.ents[i].base_len;
		if ((hit = bsearch(&key, names, l.n, sizeof(*names), byname_cmp)) == NULL)
			continue;
		if ((hit = match_unseen(names, l.n, hit, &l, s.ents[i].name_uid)) == NULL) {
			s.ents[i].dup = true;	/* a copy of a known file */
			continue;
		}
		hit->seen = true;
		s.ents[i].match = (long)hit->idx;
	}
	if (exists)
		newlist_apply(mb, f, &s);
	nnew = assign_uids(&s, f, !exists, &nw);
	if ((rc = maildir_reserve_uids(mb, f, f->uidnext, error_r)) != 0)
		goto out;
	for (i = 0; i < s.n; i++) {
		if (s.ents[i].match == -1)
			continue;
		if ((rc = sync_known(mb, txn, f, &s.ents[i], &l.msgs[s.ents[i].match], &st,
		    &renamed, &changed, &stable, error_r)) != 0)
			goto out;
	}
	for (i = 0; i < nnew; i++) {
		if ((rc = sync_new(mb, txn, f, nw[i], &st, error_r)) != 0)
			goto out;
		renamed = changed = true;
		nkept += nw[i]->kept;
	}
	if (nkept > 0 && (rc = newlist_write(mb, f, &s, &st, error_r)) != 0)
		goto out;
	/* Known files moved out of new/ came in scan order: recent[] is ascending. */
	if (mb->nrecent > 1)
		qsort(mb->recent, mb->nrecent, sizeof(*mb->recent), uid_cmp);
	store_crash_point("sync-renamed");
	rc = -1;
	/*
	 * Gone: what a full scan did not find; without one, only records of
	 * files in new/ (scanned whole every time) and only if cur/ did not
	 * change meanwhile (another tool's new/ -> cur/ is not an expunge).
	 */
	if (full ? stable : l.n > 0 && maildir_dir_mtime(mb->curfd) == pre) {
		for (i = 0; i < l.n; i++) {
			if (names[i].seen || (!full &&
			    maildir_name_dirfd(mb, l.msgs[names[i].idx].name) != mb->newfd))
				continue;
			if ((rc = idx_msg_del(txn, f, l.msgs[names[i].idx].uid,
			    error_r)) != 0)
				goto out;
			gone = listed_msg(&l.msgs[names[i].idx]);
			folder_account(f, &gone, -1);
			changed = true;
		}
	}
	if (commit_txn_commit(&st) == -1) {
		rc = store_err(error_r, STORE_ERR_TEMPORARY, "%s", commit_txn_error(&st));
		goto out;
	}
	store_crash_point("sync-fsynced");
	if (changed || renamed)
		f->highestmodseq++;
	/*
	 * Our own renames changed cur/: remember its mtime, unless others
	 * changed it too (then the next sync scans everything again).
	 */
	if (!stable)
		f->cur_mtime_ns = 0;
	else if (full)
		f->cur_mtime_ns = renamed ? maildir_dir_mtime(mb->curfd) : pre;
	else if (renamed && f->cur_mtime_ns == pre)
		f->cur_mtime_ns = maildir_dir_mtime(mb->curfd);
	if (full)
		f->cur_scan_ns = scan_ns;
	/*
	 * new/ as this sync found it (it moved nothing out): deliveries go
	 * there without our lock, so only the mtime from before the scan says
	 * that nothing came after it.
	 */
	f->new_mtime_ns = stable && new_untouched(&s) ? pre_new : 0;
	f->new_scan_ns = scan_ns;
	f->new_kept = new_kept(&s);
	rc = idx_folder_put(txn, mb->folder, f, error_r);
out:
	commit_txn_abort(&st);
	free(names);
	free(nw);
	scan_free(&s);
	idx_msglist_free(&l);
	return rc;
}
