/*
 * The read side a session holds: the snapshot (the fixed part of each
 * message in one array, the file names in one buffer beside it), opening
 * a message file by the snapshot's name, and the strings FETCH asks for,
 * read from the index only when asked (parsed and stored back the first
 * time if the first sync left them empty).
 *
 * Memory: a snapshot is three allocations whatever the message count
 * (large ones are mmap'd by malloc and unmapped on free), so a closed
 * session gives its memory back instead of leaving a fragmented heap.
 */
#include "store/store_private.h"
#include "lib/xmalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NAMES_MAX	UINT32_MAX	/* name offsets are 32-bit */
#define NAME_GUESS	64		/* bytes per file name, to size the buffer once */
#define NAMES_AHEAD	(256 * 1024)	/* xprefault's least */
/* The strings of one mailbox_fetch(): ~1.5 KB a message; ask for a smaller range. */
#define FETCH_STRINGS_MAX	(256 * 1024 * 1024)
/* An answer's storage kept for the next call up to this (a SEARCH reads ~100 KB at a time). */
#define FETCH_KEEP		(256 * 1024)

void
mailbox_read_free(struct mailbox *mb)
{
	xfree(&mb->snap.msgs);
	xfree(&mb->snap.name_at);
	buf_release(&mb->snap.names);
	mb->snap.n = mb->snap.cap = 0;
	xfree(&mb->fetched.msgs);
	buf_release(&mb->fetched.strings);
	mb->fetched.n = mb->fetched.cap = 0;
}

/* A record without its strings yet: parsed after the walk. */
struct fetch_pending {
	size_t		 i;		/* in fetched.msgs */
	uint32_t	 uid;
	size_t		 at;		/* its three strings in fetched.strings */
	bool		 gone;		/* expunged meanwhile: left out */
	char		 name[MAILDIR_NAME_MAX + 1];
};

/* What a walk over the index fills (the snapshot or a FETCH answer). */
struct read_ctx {
	struct mailbox		*mb;
	const char		**error_r;
	/* mailbox_fetch(): records the first sync left unparsed */
	struct fetch_pending	*pending;
	size_t			 npending, cappending;
	bool			 kw_loaded;
	bool			 keywords_only;	/* mailbox_fetch_keywords(): no strings, no parse */
	size_t			 names_faulted;	/* the snapshot's names: bytes faulted in */
};

/* Empty what the walk fills; n: the folder's message count. */
typedef void	 read_reset_fn(struct read_ctx *c, uint32_t n);

/* Run fn over first..last in one read transaction, retried on a deadlock. */
static int
read_walk(struct read_ctx *c, uint32_t first, uint32_t last, bool with_cache,
    idx_msg_fn *fn, read_reset_fn *reset)
{
	struct mailbox		*mb = c->mb;
	struct idx_folder	 f;
	struct idx_retry	 r = { 0 };
	struct idx_txn		*txn;
	int			 rc;

	do {
		if (mailbox_env_refresh(mb, c->error_r) == -1)
			return -1;
		if ((rc = idx_begin(mb->env, true, &txn, c->error_r)) != 0)
			continue;
		rc = idx_folder_get(txn, mb->folder, false, &f, c->error_r);
		if (rc == 0) {
			reset(c, f.messages);
			rc = idx_msg_walk(txn, mb->folder_id, first, last, with_cache, fn, c,
			    c->error_r);
		} else if (rc == 1) {
			reset(c, 0);
			rc = 0;		/* deleted meanwhile: empty */
		}
		idx_abort(&txn);
	} while (rc == IDX_RETRY && idx_retry_wait(mb->env, &r));
	return rc == 0 ? 0 : -1;
}

/* ---- the snapshot ---- */

static bool
is_recent(const struct mailbox *mb, uint32_t uid)
{
	size_t	 lo = 0, hi = mb->nrecent, mid;

	while (lo < hi) {		/* recent[] is ascending: UIDs only grow */
		mid = (lo + hi) / 2;
		if (mb->recent[mid] == uid)
			return true;
		if (mb->recent[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* Empty the snapshot, sized for about n messages (one allocation each). */
static void
snap_reset(struct read_ctx *c, uint32_t n)
{
	struct mailbox_snap	*s = &c->mb->snap;

	s->n = 0;
	buf_reset(&s->names);
	c->names_faulted = 0;
	if (s->cap >= n && s->cap > 0)
		return;
	xfree(&s->msgs);
	xfree(&s->name_at);
	buf_release(&s->names);
	s->cap = (size_t)n + 16;
	s->msgs = xreallocarray(NULL, s->cap, sizeof(*s->msgs));
	s->name_at = xreallocarray(NULL, s->cap, sizeof(*s->name_at));
	buf_init(&s->names, NAMES_MAX);
	xprefault(s->msgs, s->cap * sizeof(*s->msgs));
	xprefault(s->name_at, s->cap * sizeof(*s->name_at));
	buf_reserve(&s->names, size_mul(s->cap, NAME_GUESS));
}

/*
 * Fault in the names' pages ahead of the walk, NAMES_AHEAD at a time:
 * faults page by page were, with the arrays', a fifth of a SELECT of
 * 100,000 messages; all the room reserved (NAME_GUESS a name) at once
 * was up to twice the memory of short names, held while they are read.
 */
static void
snap_names_ahead(struct read_ctx *c, size_t len)
{
	struct buf	*names = &c->mb->snap.names;
	char		*p;

	if (buf_len(names) + len <= c->names_faulted)
		return;
	if ((p = buf_reserve(names, NAMES_AHEAD)) != NULL)
		xprefault(p, NAMES_AHEAD);
	c->names_faulted = buf_len(names) + NAMES_AHEAD;
}

/* What a session holds of the record m. */
static void
info_set(const struct mailbox *mb, const struct idx_msg *m, struct msg_info *mi)
{
	mi->uid = m->uid;
	mi->flags = m->flags | (is_recent(mb, m->uid) ? MSG_RECENT : 0);
	mi->modseq = m->modseq;
	mi->size = m->vsize;
	mi->internal_date = m->idate;
}

static int
snap_add(const struct idx_msg *m, void *ctx)
{
	struct read_ctx		*c = ctx;
	struct mailbox		*mb = c->mb;
	struct mailbox_snap	*s = &mb->snap;
	size_t			 len;

	if (s->n == s->cap) {	/* more than the folder record counted */
		s->cap = size_mul(s->cap, 2);
		s->msgs = xreallocarray(s->msgs, s->cap, sizeof(*s->msgs));
		s->name_at = xreallocarray(s->name_at, s->cap, sizeof(*s->name_at));
	}
	len = strlen(m->name) + 1;
	snap_names_ahead(c, len);
	s->name_at[s->n] = (uint32_t)buf_len(&s->names);
	if (buf_append(&s->names, m->name, len) == -1)
		return store_err(c->error_r, STORE_ERR_NOT_POSSIBLE, "too many messages");
	info_set(mb, m, &s->msgs[s->n++]);
	return 0;
}

int
mailbox_messages(struct mailbox *mb, const struct msg_info **msgs_r, size_t *n_r,
    const char **error_r)
{
	struct read_ctx	 c = { .mb = mb, .error_r = error_r };

	if (read_walk(&c, 0, UINT32_MAX, false, snap_add, snap_reset) == -1) {
		mb->snap.n = 0;
		return -1;
	}
	/* Room was reserved for NAME_GUESS bytes a name and faulted in ahead of them. */
	buf_fit(&mb->snap.names);
	mb->snap.names_read = buf_len(&mb->snap.names);
	*msgs_r = mb->snap.msgs;
	*n_r = mb->snap.n;
	return 0;
}

/* ---- the snapshot moved on by the change feed ---- */

/* The records read anew, with where their names went in the snapshot's buffer. */
struct patch_read {
	struct msg_info	*got;
	uint32_t	*name_at;
	size_t		 n;
};

/* Of uids, the records the index still has; an idx error. */
static int
patch_read(struct mailbox *mb, struct idx_txn *txn, const uint32_t *uids, size_t n,
    struct patch_read *p, const char **error_r)
{
	struct mailbox_snap	*s = &mb->snap;
	struct idx_msg		 m;
	size_t			 i;
	int			 rc;

	for (i = 0; i < n; i++) {
		if ((rc = idx_msg_get(txn, mb->folder_id, uids[i], false, &m, error_r)) == 1)
			continue;	/* expunged meanwhile: the next change feed says so */
		if (rc != 0)
			return rc;
		p->name_at[p->n] = (uint32_t)buf_len(&s->names);
		if (buf_append(&s->names, m.name, strlen(m.name) + 1) == -1)
			return store_err(error_r, STORE_ERR_NOT_POSSIBLE, "too many messages");
		info_set(mb, &m, &p->got[p->n++]);
	}
	return 0;
}

/*
 * Whether each of uids (ascending) is in the snapshot or above its last:
 * new messages take UIDs above all others, so only an index read anew
 * breaks this (and the whole read follows).
 */
static bool
patch_fits(const struct mailbox_snap *s, const uint32_t *uids, size_t n)
{
	size_t	 i = 0, u;

	for (u = 0; u < n && s->n > 0 && uids[u] <= s->msgs[s->n - 1].uid; u++) {
		while (s->msgs[i].uid < uids[u])
			i++;
		if (s->msgs[i].uid != uids[u])
			return false;
	}
	return true;
}

/*
 * In place, so that a sync costs no copy of the snapshot: p's records over
 * their old selves, gone (ascending) left out, the rest of p (new, above
 * every UID) appended.
 */
static void
patch_apply(struct mailbox_snap *s, const struct uid_list *gone, const struct patch_read *p)
{
	size_t		 i, g = 0, x = 0, n = 0, want;

	for (i = 0; i < s->n; i++) {
		if (g < p->n && p->got[g].uid == s->msgs[i].uid) {
			s->msgs[n] = p->got[g];
			s->name_at[n++] = p->name_at[g++];
			continue;
		}
		while (x < gone->n && gone->uids[x] < s->msgs[i].uid)
			x++;
		if (x < gone->n && gone->uids[x] == s->msgs[i].uid)
			continue;
		s->msgs[n] = s->msgs[i];
		s->name_at[n++] = s->name_at[i];
	}
	if ((want = n + p->n - g) > s->cap) {
		s->cap = want + want / 16 + 16;
		s->msgs = xreallocarray(s->msgs, s->cap, sizeof(*s->msgs));
		s->name_at = xreallocarray(s->name_at, s->cap, sizeof(*s->name_at));
	}
	for (; g < p->n; g++) {
		s->msgs[n] = p->got[g];
		s->name_at[n++] = p->name_at[g];
	}
	s->n = n;
}

/* a and b ascending and disjoint, merged into one ascending array. */
static uint32_t *
uids_merge(const struct uid_list *a, const struct uid_list *b)
{
	uint32_t	*out = xreallocarray(NULL, a->n + b->n + 1, sizeof(*out));
	size_t		 i = 0, j = 0, k = 0;

	while (i < a->n || j < b->n)
		out[k++] = j == b->n || (i < a->n && a->uids[i] < b->uids[j]) ?
		    a->uids[i++] : b->uids[j++];
	return out;
}

int
mailbox_messages_patch(struct mailbox *mb, const struct mailbox_changes *ch,
    const struct msg_info **msgs_r, size_t *n_r, const char **error_r)
{
	struct mailbox_snap	*s = &mb->snap;
	struct patch_read	 p = { 0 };
	struct idx_retry	 r = { 0 };
	struct idx_txn		*txn;
	uint32_t		*uids;
	size_t			 n = ch->changed.n + ch->added.n, at = buf_len(&s->names);
	int			 rc;

	/* A changed message's old name stays in the buffer: bounded by a whole read. */
	if (s->msgs == NULL || at - s->names_read > s->names_read + 4096)
		return mailbox_messages(mb, msgs_r, n_r, error_r);
	uids = uids_merge(&ch->changed, &ch->added);
	if (!patch_fits(s, uids, n)) {
		free(uids);
		return mailbox_messages(mb, msgs_r, n_r, error_r);
	}
	p.got = xreallocarray(NULL, n + 1, sizeof(*p.got));
	p.name_at = xreallocarray(NULL, n + 1, sizeof(*p.name_at));
	do {
		buf_truncate(&s->names, at);	/* a retry reads the names again */
		p.n = 0;
		if (mailbox_env_refresh(mb, error_r) == -1) {
			rc = -1;
			break;
		}
		if ((rc = idx_begin(mb->env, true, &txn, error_r)) != 0)
			continue;
		rc = patch_read(mb, txn, uids, n, &p, error_r);
		idx_abort(&txn);
	} while (rc == IDX_RETRY && idx_retry_wait(mb->env, &r));
	if (rc == 0)
		patch_apply(s, &ch->expunged, &p);
	else
		buf_truncate(&s->names, at);
	free(uids);
	free(p.got);
	free(p.name_at);
	if (rc != 0)
		return -1;
	*msgs_r = s->msgs;
	*n_r = s->n;
	return 0;
}

/* uid's file name in the snapshot; NULL if the snapshot has no such message. */
static const char *
snap_name(const struct mailbox *mb, uint32_t uid)
{
	const struct mailbox_snap	*s = &mb->snap;
	size_t				 lo = 0, hi = s->n, mid;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (s->msgs[mid].uid == uid)
			return buf_head(&s->names) + s->name_at[mid];
		if (s->msgs[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* ---- finding a message file ---- */

/* The current file name of uid, from the index: 0, 1 if absent, -1. */
static int
index_name(struct mailbox *mb, uint32_t uid, char *name, size_t size, const char **error_r)
{
	struct idx_txn	*txn;
	struct idx_msg	 m;
	struct idx_retry r = { 0 };
	int		 rc;

	do {
		if (mailbox_env_refresh(mb, error_r) == -1)
			return -1;
		if ((rc = idx_begin(mb->env, true, &txn, error_r)) != 0)
			continue;
		rc = idx_msg_get(txn, mb->folder_id, uid, false, &m, error_r);
		if (rc == 0)
			snprintf(name, size, "%s", m.name);
		idx_abort(&txn);
	} while (rc == IDX_RETRY && idx_retry_wait(mb->env, &r));
	return rc;
}

/*
 * The file named name (uid's, as far as we knew) is gone: its name now,
 * from the index, which another session updated when it renamed the
 * file; if the index has nothing newer, after a rescan of the Maildir (a
 * program outside the store renamed it).  1 if uid is expunged.
 */
static int
renamed(struct mailbox *mb, uint32_t uid, char *name, size_t size, const char **error_r)
{
	char	 tried[MAILDIR_NAME_MAX + 1];
	int	 rc;

	snprintf(tried, sizeof(tried), "%s", name);
	if ((rc = index_name(mb, uid, name, size, error_r)) != 0 || strcmp(name, tried) != 0)
		return rc;
	if (maildir_sync(mb, true, error_r) == -1)
		return -1;
	return index_name(mb, uid, name, size, error_r);
}

int
mailbox_open_known(struct mailbox *mb, uint32_t uid, int *fd_r, const char **error_r)
{
	const char	*name = snap_name(mb, uid);

	if (name == NULL)
		return 1;
	if ((*fd_r = openat(maildir_name_dirfd(mb, name), name, O_RDONLY | O_CLOEXEC)) != -1)
		return 0;
	if (errno != ENOENT)
		return store_err(error_r, STORE_ERR_TEMPORARY, "open %s: %s", name, strerror(errno));
	return 1;
}

int
mailbox_open_message(struct mailbox *mb, uint32_t uid, int *fd_r, const char **error_r)
{
	const char	*known = snap_name(mb, uid);
	char		 name[MAILDIR_NAME_MAX + 1];
	int		 attempt, rc;

	if ((rc = mailbox_open_known(mb, uid, fd_r, error_r)) != 1)
		return rc;
	/* Not in the snapshot (""), or no longer by that name: look it up. */
	snprintf(name, sizeof(name), "%s", known != NULL ? known : "");
	for (attempt = 0; attempt < 3; attempt++) {
		rc = renamed(mb, uid, name, sizeof(name), error_r);
		/* The lookup reopened a released index: let it go again. */
		if (mb->index_released)
			idx_env_put(&mb->env);
		if (rc != 0)
			break;
		if ((*fd_r = openat(maildir_name_dirfd(mb, name), name,
		    O_RDONLY | O_CLOEXEC)) != -1)
			return 0;
		if (errno != ENOENT)
			return store_err(error_r, STORE_ERR_TEMPORARY,
			    "open %s: %s", name, strerror(errno));
	}
	return rc == -1 ? -1 : store_err(error_r, STORE_ERR_EXPUNGED, "message expunged");
}

uint64_t
mailbox_message_fsize(const struct mailbox *mb, uint32_t uid)
{
	const char		*name = snap_name(mb, uid);
	struct maildir_name	 mn;

	if (name == NULL || maildir_name_parse(name, &mn) == -1)
		return 0;
	return mn.fsize;
}

/* ---- the strings FETCH asks for ---- */

static void
fetch_reset(struct read_ctx *c, uint32_t n)
{
	struct mailbox_fetched	*fe = &c->mb->fetched;

	(void)n;	/* a range: not the folder's count */
	fe->n = 0;
	buf_reset(&fe->strings);
	c->npending = 0;
}

static int
put_string(struct read_ctx *c, const char *s)
{
	if (buf_append(&c->mb->fetched.strings, s, strlen(s) + 1) == -1)
		return store_err(c->error_r, STORE_ERR_PARAMS, "FETCH range too large");
	return 0;
}

/* The record's keywords and strings, in order; a pending one gets empty strings. */
static int
fetch_add(const struct idx_msg *m, void *ctx)
{
	struct read_ctx		*c = ctx;
	struct mailbox		*mb = c->mb;
	struct mailbox_fetched	*fe = &mb->fetched;
	struct fetch_pending	*p;
	char			*kw;
	int			 rc;

	if (fe->n == fe->cap) {
		fe->cap = fe->cap == 0 ? 64 : size_mul(fe->cap, 2);
		fe->msgs = xreallocarray(fe->msgs, fe->cap, sizeof(*fe->msgs));
	}
	fe->msgs[fe->n].uid = m->uid;
	if (m->kwmask != 0 && !c->kw_loaded) {
		/* Another process may have added keywords to the file. */
		maildir_keywords_load(mb->dirfd, &mb->kw, c->error_r);
		c->kw_loaded = true;
	}
	kw = m->kwmask != 0 ? maildir_keywords_string(&mb->kw, m->kwmask) : NULL;
	rc = put_string(c, kw != NULL ? kw : "");
	free(kw);
	if (rc == -1)
		return -1;
	if (c->keywords_only) {
		fe->n++;
		return put_string(c, "") == -1 || put_string(c, "") == -1 ||
		    put_string(c, "") == -1 ? -1 : 0;
	}
	if (m->envelope[0] == '\0') {
		if (c->npending == c->cappending) {
			c->cappending = c->cappending == 0 ? 16 : size_mul(c->cappending, 2);
			c->pending = xreallocarray(c->pending, c->cappending, sizeof(*c->pending));
		}
		p = &c->pending[c->npending++];
		p->i = fe->n;
		p->uid = m->uid;
		p->gone = false;
		snprintf(p->name, sizeof(p->name), "%s", m->name);
	}
	fe->n++;
	if (put_string(c, m->envelope) == -1 || put_string(c, m->body) == -1 ||
	    put_string(c, m->bodystructure) == -1)
		return -1;
	return 0;
}

/*
 * Parse a pending message's file (mail/ MIME, as the sync does) and append
 * its strings.  Renamed meanwhile: found again; expunged: marked gone.
 */
static int
fetch_parse(struct read_ctx *c, struct fetch_pending *p)
{
	struct idx_msg	 m;
	char		*cache;
	int		 attempt, rc;

	for (attempt = 0; attempt < 3; attempt++) {
		if (maildir_index_file(maildir_name_dirfd(c->mb, p->name), p->name, &m, &cache, c->error_r) == 0)
			break;
		if (store_error_code() != STORE_ERR_EXPUNGED)
			return -1;
		if ((rc = renamed(c->mb, p->uid, p->name, sizeof(p->name), c->error_r)) != 0) {
			p->gone = rc == 1;
			return rc == 1 ? 0 : -1;
		}
	}
	if (attempt == 3) {
		p->gone = true;
		return 0;
	}
	p->at = buf_len(&c->mb->fetched.strings);
	rc = put_string(c, m.envelope) == -1 || put_string(c, m.body) == -1 ||
	    put_string(c, m.bodystructure) == -1 ? -1 : 0;
	free(cache);
	return rc;
}

/*
 * Store the parsed strings into their records, so the next FETCH finds
 * them: one short write transaction, one attempt (on a busy index the next
 * FETCH parses again).  A record filled or expunged meanwhile is left.
 */
static void
fetch_store_back(struct read_ctx *c)
{
	struct mailbox	*mb = c->mb;
	struct msg_fetch *fm;
	struct idx_txn	*txn;
	struct idx_msg	 m;
	const char	*error;
	size_t		 i;
	int		 rc = 0;

	if (idx_begin(mb->env, false, &txn, &error) != 0)
		return;
	for (i = 0; i < c->npending && rc == 0; i++) {
		if (c->pending[i].gone)
			continue;
		if ((rc = idx_msg_get(txn, mb->folder_id, c->pending[i].uid, true, &m,
		    &error)) != 0 ||
		    m.envelope[0] != '\0') {
			rc = rc == 1 ? 0 : rc;
			continue;
		}
		fm = &mb->fetched.msgs[c->pending[i].i];
		m.envelope = fm->envelope;
		m.body = fm->body;
		m.bodystructure = fm->bodystructure;
		rc = idx_msg_put(txn, mb->folder_id, &m, &error);
	}
	if (rc == 0)
		idx_commit(&txn, &error);
	else
		idx_abort(&txn);
}

/* Point each answer at its strings (in order: keywords and three each), drop the gone. */
static void
fetch_finish(struct read_ctx *c)
{
	struct mailbox_fetched	*fe = &c->mb->fetched;
	const char		*p = buf_head(&fe->strings);
	const char		**s[4];
	size_t			 i, j, k;

	for (i = 0; i < fe->n; i++) {
		s[0] = &fe->msgs[i].keywords;
		s[1] = &fe->msgs[i].envelope;
		s[2] = &fe->msgs[i].body;
		s[3] = &fe->msgs[i].bodystructure;
		for (k = 0; k < 4; k++) {
			*s[k] = p;
			p += strlen(p) + 1;
		}
	}
	for (j = 0; j < c->npending; j++) {
		if (c->pending[j].gone)
			continue;
		p = buf_head(&fe->strings) + c->pending[j].at;
		fe->msgs[c->pending[j].i].envelope = p;
		p += strlen(p) + 1;
		fe->msgs[c->pending[j].i].body = p;
		p += strlen(p) + 1;
		fe->msgs[c->pending[j].i].bodystructure = p;
	}
}

/* Leave out the messages found expunged while parsing. */
static void
fetch_drop_gone(struct read_ctx *c)
{
	struct mailbox_fetched	*fe = &c->mb->fetched;
	size_t			 i, j, k = 0;

	for (i = j = 0; i < fe->n; i++) {
		while (k < c->npending && c->pending[k].i < i)
			k++;
		if (k < c->npending && c->pending[k].i == i && c->pending[k].gone)
			continue;
		fe->msgs[j++] = fe->msgs[i];
	}
	fe->n = j;
}

/*
 * The previous answer goes.  Its storage stays for the next when small:
 * a SEARCH or a batched FETCH reads span after span, and freeing each
 * gave the pages back to the kernel (a heap trim) to fault them in again.
 * A large FETCH's is not held until the next.
 */
static void
fetch_clear(struct mailbox_fetched *fe)
{
	if (fe->strings.max != 0 && fe->strings.cap <= FETCH_KEEP &&
	    fe->cap <= FETCH_KEEP / sizeof(*fe->msgs)) {
		fe->n = 0;
		buf_reset(&fe->strings);
		return;
	}
	xfree(&fe->msgs);
	fe->n = fe->cap = 0;
	buf_release(&fe->strings);
	buf_init(&fe->strings, FETCH_STRINGS_MAX);
}

static int
fetch_range(struct mailbox *mb, uint32_t first, uint32_t last, bool keywords_only,
    const struct msg_fetch **msgs_r, size_t *n_r, const char **error_r)
{
	struct read_ctx	 c = { .mb = mb, .error_r = error_r, .keywords_only = keywords_only };
	size_t		 i;
	int		 rc;

	fetch_clear(&mb->fetched);
	rc = read_walk(&c, first, last, !keywords_only, fetch_add, fetch_reset);
	for (i = 0; rc == 0 && i < c.npending; i++)
		rc = fetch_parse(&c, &c.pending[i]);
	if (rc == 0) {
		fetch_finish(&c);
		if (c.npending > 0)
			fetch_store_back(&c);
		fetch_drop_gone(&c);
	}
	free(c.pending);
	if (rc == -1) {
		mb->fetched.n = 0;
		return -1;
	}
	*msgs_r = mb->fetched.msgs;
	*n_r = mb->fetched.n;
	return 0;
}

int
mailbox_fetch(struct mailbox *mb, uint32_t first, uint32_t last,
    const struct msg_fetch **msgs_r, size_t *n_r, const char **error_r)
{
	return fetch_range(mb, first, last, false, msgs_r, n_r, error_r);
}

int
mailbox_fetch_keywords(struct mailbox *mb, uint32_t first, uint32_t last,
    const struct msg_fetch **msgs_r, size_t *n_r, const char **error_r)
{
	return fetch_range(mb, first, last, true, msgs_r, n_r, error_r);
}
