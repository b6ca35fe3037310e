/*
 * The Berkeley DB index: one transactional environment per user, in
 * <Maildir>/postroom-index/.  Per user, because a process killed while
 * holding it then affects one user only, recovery work is bounded by one
 * user's log, and moving a user is moving a directory.
 *
 * Four btrees: folders.db (folder name -> struct idx_folder, and the next
 * folder id: index_folder.c), msgs.db (BE32 folder id + BE32 UID -> message
 * record), so a cursor walks one folder in UID order, cache.db (the same key
 * -> the record's ENVELOPE, BODY and BODYSTRUCTURE strings) and vanished.db
 * (the expunge tombstones: index_vanished.c).
 *
 * Record formats change in place, never by a rebuild (a rebuild loses the
 * MODSEQs CONDSTORE clients hold): a record says which layout it has (or
 * has its old size), old ones are read as they are and written anew when
 * they next change.
 *
 * Locking: every writing transaction first takes the user's lock record
 * with DB_RMW (in a DB_TXN_NOWAIT child, polled with back-off), so the
 * writers of one user are serialised and nothing else can wait on a lock:
 * no deadlock, and a writer killed mid-transaction leaves only that record
 * locked.  Readers use DB_READ_UNCOMMITTED | DB_TXN_NOWAIT: they hold no
 * locks a writer could wait on.  A lock that stays busy for a second gets
 * the environment reopened (idx_retry_wait marks it stale): with
 * DB_REGISTER that open notices a dead process and runs recovery, which
 * frees its locks.  Writes are short (per user, a few ms), so the
 * serialisation costs little and delivery never takes the lock at all.
 *
 * The index is derived from the Maildir, so commits use
 * DB_TXN_WRITE_NOSYNC (a killed process loses nothing: the log is in the
 * page cache; after a power loss a broken index is rebuilt).  DB_REGISTER
 * with DB_RECOVER runs recovery when a process died holding the
 * environment, so it never wedges the others.  Only the index files
 * (index_private.h) include <db.h>.
 */
#include "store/index_private.h"
#include "lib/log.h"
#include "lib/xmalloc.h"

#include <sys/file.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define INDEX_DIR		"postroom-index"
#define INDEX_LOCK		"postroom-index.lock"
#define USER_LOCK_KEY		"\001user-lock"
#define RETRY_BUDGET_MS		30000	/* give up: "index busy" */
#define RETRY_REOPEN_MS		1000	/* busy this long: reopen (recovery) */
#define CACHE_BYTES		(2 * 1024 * 1024)	/* grows on use, up to this */
#define LOCK_TABLE		1024	/* hash buckets: a user's working set */
#define LOCKS_INIT		1000	/* locks and lock objects at creation */
#define REGION_MAX		(32 * 1024 * 1024)	/* 100k-message rebuild: ~14 MB */
#define LOG_FILE_MAX		(256 * 1024)	/* allocated whole: see alloc_gap() */
#define CHECKPOINT_EVERY	256	/* commits between checkpoint attempts */
/*
 * Page size of msgs.db and cache.db, which SELECT, SEARCH and FETCH walk
 * whole, mostly through a cache the walk itself fills (the environment is
 * opened anew when no other session holds it).  Berkeley DB's default is
 * the file system block: a read and a cache buffer per ~25 records.  On
 * 100,000 messages, 32 KB pages took a SELECT from 60 to 37 ms (64 KB: 44)
 * and SEARCH SUBJECT from 128 to 96.  A file keeps the size it was made with.
 */
#define WALKED_PAGE_BYTES	(32 * 1024)

/*
 * A message record: this header, then the file name.  Layout 0 (before
 * MODSEQs had a creation stamp) ended the header at created; layouts 0 and
 * 1 carry the three cached strings after the name, layout 2 keeps them in
 * cache.db: a walk of a folder for a snapshot (SELECT, a sync) then reads
 * records of ~130 bytes instead of ~800, and the msgs.db of a 10,000-message
 * folder fits the cache instead of being read from the file at every walk.
 * A record of an older layout moves its strings when it is next written.
 */
#define MSG_LAYOUT	2
#define MSG_REC0_SIZE	offsetof(struct msg_rec, created)
#define MSG_STRINGS	3	/* envelope, body, bodystructure */

struct msg_rec {
	uint32_t	 uid, flags, kwmask, layout;
	uint64_t	 modseq, vsize, fsize;
	int64_t		 idate;
	uint32_t	 len[4];	/* name, envelope, body, bodystructure (with NUL) */
	uint64_t	 created;	/* MODSEQ of the change that added it */
};

/* A cache.db record: this header, then the strings. */
struct cache_rec {
	uint32_t	 len[MSG_STRINGS];	/* with NUL */
};

static pthread_mutex_t	 envs_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t	 envs_changed = PTHREAD_COND_INITIALIZER;
static pthread_once_t	 hooks_once = PTHREAD_ONCE_INIT;
static struct idx_env	*envs;

int
db_fail(struct idx_env *e, int ret, const char *what, const char **error_r)
{
	if (ret == DB_LOCK_DEADLOCK) {
		store_err(error_r, STORE_ERR_TEMPORARY, "%s: %s", what, db_strerror(ret));
		return IDX_RETRY;
	}
	if (ret == DB_LOCK_NOTGRANTED || ret == DB_RUNRECOVERY) {
		/* Perhaps a process died holding locks: reopening recovers. */
		e->stale = true;
		store_err(error_r, STORE_ERR_TEMPORARY, "%s: %s", what, db_strerror(ret));
		return IDX_RETRY;
	}
	return store_err(error_r, STORE_ERR_TEMPORARY, "index %s: %s", what, db_strerror(ret));
}

static void
db_errcall(const DB_ENV *env, const char *prefix, const char *msg)
{
	(void)env;
	(void)prefix;
	log_warnx("event=index status=error reason=\"%s\"", msg);
}

static void
env_close_handles(struct idx_env *e)
{
	/*
	 * No sync at close: the log (in the page cache) has every change and
	 * the index is derived anyway.  A checkpoint only once the log has
	 * grown, so the log files can be removed.
	 */
	bool	opened = e->folders != NULL;	/* else a checkpoint only errs */

	if (e->vanished != NULL)
		e->vanished->close(e->vanished, DB_NOSYNC);
	if (e->cache != NULL)
		e->cache->close(e->cache, DB_NOSYNC);
	if (e->msgs != NULL)
		e->msgs->close(e->msgs, DB_NOSYNC);
	if (e->folders != NULL)
		e->folders->close(e->folders, DB_NOSYNC);
	if (e->env != NULL) {
		if (opened)
			e->env->txn_checkpoint(e->env, 1024, 0, 0);
		e->env->close(e->env, 0);
	}
	e->msgs = e->cache = e->folders = e->vanished = NULL;
	e->env = NULL;
}

static int
env_open_handles(struct idx_env *e, const char *dir)
{
	int	 ret;

	if ((ret = db_env_create(&e->env, 0)) != 0)
		return ret;
	e->env->set_errcall(e->env, db_errcall);
	e->env->set_lk_detect(e->env, DB_LOCK_MINWRITE);	/* readers lose */
	e->env->set_cachesize(e->env, 0, CACHE_BYTES, 1);
	/*
	 * A rebuild or a STORE over a whole folder locks every page it
	 * touches in one transaction, but most users have small folders:
	 * start small and let the regions grow on demand up to the memory
	 * maximum.  set_lk_max_locks would size the lock table for the
	 * maximum at creation (400,000 locks cost 41 MB per user on disk).
	 */
	e->env->set_lk_tablesize(e->env, LOCK_TABLE);
	e->env->set_memory_init(e->env, DB_MEM_LOCK, LOCKS_INIT);
	e->env->set_memory_init(e->env, DB_MEM_LOCKOBJECT, LOCKS_INIT);
	e->env->set_memory_max(e->env, 0, REGION_MAX);
	e->env->set_lg_max(e->env, LOG_FILE_MAX);
	e->env->set_flags(e->env, DB_TXN_WRITE_NOSYNC, 1);
	e->env->log_set_config(e->env, DB_LOG_AUTO_REMOVE, 1);
	ret = e->env->open(e->env, dir, DB_CREATE | DB_INIT_LOCK | DB_INIT_LOG |
	    DB_INIT_MPOOL | DB_INIT_TXN | DB_REGISTER | DB_RECOVER | DB_THREAD, 0600);
	if (ret != 0)
		return ret;
	if ((ret = db_create(&e->folders, e->env, 0)) != 0)
		return ret;
	ret = e->folders->open(e->folders, NULL, "folders.db", NULL, DB_BTREE,
	    DB_CREATE | DB_AUTO_COMMIT | DB_THREAD | DB_READ_UNCOMMITTED, 0600);
	if (ret != 0)
		return ret;
	if ((ret = db_create(&e->msgs, e->env, 0)) != 0)
		return ret;
	e->msgs->set_pagesize(e->msgs, WALKED_PAGE_BYTES);
	ret = e->msgs->open(e->msgs, NULL, "msgs.db", NULL, DB_BTREE,
	    DB_CREATE | DB_AUTO_COMMIT | DB_THREAD | DB_READ_UNCOMMITTED, 0600);
	if (ret != 0)
		return ret;
	/* An index made before tombstones or cache.db gets the file here, empty. */
	if ((ret = db_create(&e->cache, e->env, 0)) != 0)
		return ret;
	e->cache->set_pagesize(e->cache, WALKED_PAGE_BYTES);
	ret = e->cache->open(e->cache, NULL, "cache.db", NULL, DB_BTREE,
	    DB_CREATE | DB_AUTO_COMMIT | DB_THREAD | DB_READ_UNCOMMITTED, 0600);
	if (ret != 0)
		return ret;
	/*
	 * A FETCH or SEARCH over a big folder walks all of cache.db: its pages
	 * go first, so that it does not push msgs.db (every SELECT's and
	 * sync's walk) out of the cache.
	 */
	if ((ret = e->cache->set_priority(e->cache, DB_PRIORITY_VERY_LOW)) != 0)
		return ret;
	if ((ret = db_create(&e->vanished, e->env, 0)) != 0)
		return ret;
	return e->vanished->open(e->vanished, NULL, "vanished.db", NULL, DB_BTREE,
	    DB_CREATE | DB_AUTO_COMMIT | DB_THREAD | DB_READ_UNCOMMITTED, 0600);
}

/*
 * The region files (__db.00N) are memory-mapped, and Berkeley DB creates
 * and grows them by writing one byte past the end: a sparse file.  On a
 * full file system the first touch of such a page is a SIGBUS that kills
 * the whole process (every session on it).  So every write Berkeley DB
 * makes past the end of a file first allocates the gap: a full disk is
 * ENOSPC from that write, which Berkeley DB reports as an error (the open
 * or the transaction fails), and no mapped page is ever without a block.
 */
static int
alloc_gap(int fd, off_t off, size_t len)
{
	struct stat	 sb;
	int		 err;

	if (off < 0 || fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode) || off <= sb.st_size)
		return 0;
	if ((err = posix_fallocate(fd, sb.st_size, off - sb.st_size + (off_t)len)) != 0 &&
	    err != EOPNOTSUPP && err != EINVAL) {
		errno = err;
		return -1;
	}
	return 0;
}

static ssize_t
db_write_hook(int fd, const void *buf, size_t len)
{
	if (alloc_gap(fd, lseek(fd, 0, SEEK_CUR), len) == -1)
		return -1;
	return write(fd, buf, len);
}

static ssize_t
db_pwrite_hook(int fd, const void *buf, size_t len, off_t off)
{
	if (alloc_gap(fd, off, len) == -1)
		return -1;
	return pwrite(fd, buf, len, off);
}

static void
db_hooks_install(void)
{
	db_env_set_func_write(db_write_hook);
	db_env_set_func_pwrite(db_pwrite_hook);
}

/* Remove the files of the environment directory (caller holds LOCK_EX). */
static void
remove_env_files(const char *dir)
{
	struct dirent	*de;
	DIR		*d;
	int		 fd;

	if ((d = opendir(dir)) == NULL)
		return;
	fd = dirfd(d);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			unlinkat(fd, de->d_name, 0);
	closedir(d);
}

#define OPEN_TRIES	20

/*
 * DB_REGISTER locks its registry file with fcntl(F_SETLKW), and the
 * kernel's deadlock detection sees processes, not threads: two processes
 * whose threads open one environment at once can get EDEADLK where there
 * is no deadlock (seen with 2,000 sessions selecting INBOX on 2 workers).
 * That is contention, not damage: wait a little and open again.
 */
static int
env_open_contended(struct idx_env *e, const char *dir)
{
	int	 ret, i;

	for (i = 1; ; i++) {
		if ((ret = env_open_handles(e, dir)) == 0)
			return 0;
		env_close_handles(e);
		if ((ret != EDEADLK && ret != EAGAIN) || i == OPEN_TRIES)
			return ret;
		usleep((useconds_t)i * 5000);	/* on a workq thread: 1 s in all */
	}
}

static struct idx_env *
env_open(const char *maildir, const char **error_r)
{
	struct idx_env	*e;
	char		 dir[4096], lock[4096];
	int		 ret = 0, attempt;

	pthread_once(&hooks_once, db_hooks_install);
	snprintf(dir, sizeof(dir), "%s/%s", maildir, INDEX_DIR);
	snprintf(lock, sizeof(lock), "%s/%s", maildir, INDEX_LOCK);
	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		store_err(error_r, store_errno_code(errno), "mkdir %s: %s", dir,
		    strerror(errno));
		return NULL;
	}
	e = xcalloc(1, sizeof(*e));
	e->maildir = xstrdup(maildir);
	e->pid = getpid();
	e->lockfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (e->lockfd == -1 || flock(e->lockfd, LOCK_SH) == -1) {
		store_err(error_r, STORE_ERR_TEMPORARY, "lock %s: %s", lock, strerror(errno));
		goto fail;
	}
	for (attempt = 0; attempt < 2; attempt++) {
		if ((ret = env_open_contended(e, dir)) == 0)
			return e;
		/* Derived data: start afresh, but only if nobody else uses it. */
		if (flock(e->lockfd, LOCK_EX | LOCK_NB) == -1)
			break;
		log_warnx("event=index status=rebuilding dir=%s reason=\"%s\"", dir, db_strerror(ret));
		remove_env_files(dir);
		flock(e->lockfd, LOCK_SH);
	}
	store_err(error_r, STORE_ERR_TEMPORARY,
	    "index %s cannot be opened: %s", dir, db_strerror(ret));
fail:
	if (e->lockfd != -1)
		close(e->lockfd);
	free(e->maildir);
	free(e);
	return NULL;
}

#define STALE_WAIT_S	1

/*
 * DB_REGISTER allows one handle per environment and process: threads
 * asking for the same Maildir at once (pop3d logins on the workq) must
 * share one open, so the first leaves a placeholder the others wait on,
 * and an environment stays listed, busy, until its close has finished.
 */
int
idx_env_get(const char *maildir, struct idx_env **env_r, const char **error_r)
{
	struct idx_env	*e, *opening, **ep;
	struct timespec	 deadline;
	pid_t		 pid = getpid();
	bool		 gave_up = false;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += STALE_WAIT_S;
	pthread_mutex_lock(&envs_lock);
again:
	for (ep = &envs; (e = *ep) != NULL; ) {
		if (e->pid != pid) {
			*ep = e->next;	/* inherited from a parent: never touch */
			continue;
		}
		ep = &e->next;
		if (strcmp(e->maildir, maildir) != 0)
			continue;
		if (e->busy) {
			pthread_cond_wait(&envs_changed, &envs_lock);
			goto again;
		}
		/*
		 * A stale environment is reopened (recovery) once the threads
		 * still using it let go; not forever, the caller may be one
		 * of them: then it shares the old handle and retries later.
		 */
		if (e->stale && !gave_up) {
			if (pthread_cond_timedwait(&envs_changed, &envs_lock, &deadline) ==
			    ETIMEDOUT)
				gave_up = true;
			goto again;
		}
		e->refs++;
		pthread_mutex_unlock(&envs_lock);
		*env_r = e;
		return 0;
	}
	opening = xcalloc(1, sizeof(*opening));
	opening->maildir = xstrdup(maildir);
	opening->pid = pid;
	opening->busy = true;
	opening->next = envs;
	envs = opening;
	pthread_mutex_unlock(&envs_lock);
	/* Opening may run recovery: not under the list lock. */
	e = env_open(maildir, error_r);
	pthread_mutex_lock(&envs_lock);
	for (ep = &envs; *ep != opening; ep = &(*ep)->next)
		;
	*ep = opening->next;
	free(opening->maildir);
	free(opening);
	if (e != NULL) {
		e->refs = 1;
		e->next = envs;
		envs = e;
	}
	pthread_cond_broadcast(&envs_changed);
	pthread_mutex_unlock(&envs_lock);
	if (e == NULL)
		return -1;
	*env_r = e;
	return 0;
}

void
idx_env_put(struct idx_env **envp)
{
	struct idx_env	*e = *envp, **ep;

	if (e == NULL)
		return;
	*envp = NULL;
	pthread_mutex_lock(&envs_lock);
	if (--e->refs > 0) {
		pthread_mutex_unlock(&envs_lock);
		return;
	}
	/*
	 * Listed until its handles are closed, waited on like an opening:
	 * a thread opening the Maildir meanwhile would be a second handle,
	 * which DB_REGISTER refuses (EINVAL).
	 */
	e->busy = true;
	pthread_mutex_unlock(&envs_lock);
	env_close_handles(e);
	close(e->lockfd);
	pthread_mutex_lock(&envs_lock);
	for (ep = &envs; *ep != NULL; ep = &(*ep)->next)
		if (*ep == e) {
			*ep = e->next;
			break;
		}
	pthread_cond_broadcast(&envs_changed);
	pthread_mutex_unlock(&envs_lock);
	free(e->maildir);
	free(e);
}

bool
idx_env_stale(const struct idx_env *e)
{
	return e->stale;
}

/* ---- transactions ---- */

static int64_t
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool
idx_retry_wait(struct idx_env *e, struct idx_retry *r)
{
	struct timespec	 ts;
	int64_t		 now = now_ms(), ms;

	if (r->n++ == 0)
		r->start = r->reopened = now;
	if (now - r->start > RETRY_BUDGET_MS)
		return false;
	if (now - r->reopened >= RETRY_REOPEN_MS) {
		e->stale = true;	/* perhaps the holder died: recover */
		r->reopened = now;
	}
	ms = r->n < 6 ? 1 << r->n : 50;
	ms = ms / 2 + rand() % (ms / 2 + 1);	/* jitter: no lock-step retries */
	ts.tv_sec = 0;
	ts.tv_nsec = ms * 1000000;
	nanosleep(&ts, NULL);
	return true;
}

/* Take the user's write lock without waiting: busy is IDX_RETRY. */
static int
user_lock(struct idx_env *e, DB_TXN *parent, const char **error_r)
{
	DB_TXN	*child;
	DBT	 key, val;
	char	 one = 1;
	int	 ret;

	if ((ret = e->env->txn_begin(e->env, parent, &child, DB_TXN_NOWAIT)) != 0)
		return db_fail(e, ret, "txn_begin", error_r);
	memset(&key, 0, sizeof(key));
	memset(&val, 0, sizeof(val));
	key.data = USER_LOCK_KEY;
	key.size = sizeof(USER_LOCK_KEY) - 1;
	val.data = &one;
	val.ulen = sizeof(one);
	val.flags = DB_DBT_USERMEM;
	ret = e->folders->get(e->folders, child, &key, &val, DB_RMW);
	if (ret == DB_NOTFOUND) {
		val.size = sizeof(one);
		ret = e->folders->put(e->folders, child, &key, &val, 0);
	}
	if (ret != 0) {
		child->abort(child);
		if (ret == DB_LOCK_DEADLOCK || ret == DB_LOCK_NOTGRANTED) {
			store_err(error_r, STORE_ERR_TEMPORARY, "index busy");
			return IDX_RETRY;
		}
		return db_fail(e, ret, "lock", error_r);
	}
	/* The child's locks pass to the parent, held until its end. */
	if ((ret = child->commit(child, 0)) != 0)
		return db_fail(e, ret, "lock", error_r);
	return 0;
}

int
idx_begin(struct idx_env *e, bool read_only, struct idx_txn **txn_r, const char **error_r)
{
	struct idx_txn	*t;
	int		 ret, rc;

	t = xcalloc(1, sizeof(*t));
	t->e = e;
	t->val.flags = DB_DBT_REALLOC;
	t->cval.flags = DB_DBT_REALLOC;
	ret = e->env->txn_begin(e->env, NULL, &t->txn,
	    read_only ? DB_READ_UNCOMMITTED | DB_TXN_NOWAIT : 0);
	if (ret != 0) {
		free(t);
		return db_fail(e, ret, "txn_begin", error_r);
	}
	if (!read_only && (rc = user_lock(e, t->txn, error_r)) != 0) {
		t->txn->abort(t->txn);
		free(t);
		return rc;
	}
	*txn_r = t;
	return 0;
}

static void
txn_free(struct idx_txn **tp)
{
	free((*tp)->val.data);
	free((*tp)->cval.data);
	xfree(tp);
}

int
idx_commit(struct idx_txn **tp, const char **error_r)
{
	struct idx_txn	*t = *tp;
	struct idx_env	*e = t->e;
	int		 ret;

	if (store_retry_point("idx_commit")) {
		idx_abort(tp);
		return db_fail(e, DB_LOCK_DEADLOCK, "commit", error_r);
	}
	ret = t->txn->commit(t->txn, 0);
	txn_free(tp);
	if (ret != 0)
		return db_fail(e, ret, "commit", error_r);
	/* Keep the log short: a checkpoint lets DB_LOG_AUTO_REMOVE work. */
	if (++e->commits % CHECKPOINT_EVERY == 0)
		e->env->txn_checkpoint(e->env, 256, 0, 0);
	return 0;
}

void
idx_abort(struct idx_txn **tp)
{
	if (*tp == NULL)
		return;
	(*tp)->txn->abort((*tp)->txn);
	txn_free(tp);
}

/* ---- messages ---- */

void
dbt_set(DBT *d, const void *data, size_t size)
{
	memset(d, 0, sizeof(*d));
	d->data = (void *)data;
	d->size = (u_int32_t)size;
}

void
dbt_out(DBT *d, void *data, size_t size)
{
	memset(d, 0, sizeof(*d));
	d->data = data;
	d->ulen = (u_int32_t)size;
	d->flags = DB_DBT_USERMEM;
}

void
msg_key(unsigned char k[8], uint32_t folder_id, uint32_t uid)
{
	k[0] = (unsigned char)(folder_id >> 24);
	k[1] = (unsigned char)(folder_id >> 16);
	k[2] = (unsigned char)(folder_id >> 8);
	k[3] = (unsigned char)folder_id;
	k[4] = (unsigned char)(uid >> 24);
	k[5] = (unsigned char)(uid >> 16);
	k[6] = (unsigned char)(uid >> 8);
	k[7] = (unsigned char)uid;
}

int
idx_del_prefix(struct idx_txn *t, DB *db, uint32_t folder_id, const char **error_r)
{
	unsigned char	 k[32], want[8];
	DBC		*c;
	DBT		 key, val;
	int		 ret;

	if ((ret = db->cursor(db, t->txn, &c, 0)) != 0)
		return db_fail(t->e, ret, "cursor", error_r);
	msg_key(want, folder_id, 0);
	memset(k, 0, sizeof(k));
	memcpy(k, want, 4);
	memset(&key, 0, sizeof(key));
	memset(&val, 0, sizeof(val));
	key.data = k;
	key.size = 4;
	key.ulen = sizeof(k);
	key.flags = DB_DBT_USERMEM;
	val.flags = DB_DBT_PARTIAL;	/* keys only */
	for (ret = c->get(c, &key, &val, DB_SET_RANGE); ret == 0;
	    ret = c->get(c, &key, &val, DB_NEXT)) {
		if (key.size < 4 || memcmp(k, want, 4) != 0)
			break;
		if ((ret = c->del(c, 0)) != 0)
			break;
	}
	c->close(c);
	if (ret != 0 && ret != DB_NOTFOUND)
		return db_fail(t->e, ret, "delete", error_r);
	return 0;
}

/* Point s[0..n) at n NUL-terminated strings of the lengths len in p; -1 if damaged. */
static int
strings_decode(char *p, size_t left, const uint32_t *len, size_t n, const char **s)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		if (len[i] == 0 || len[i] > left || p[len[i] - 1] != '\0')
			return -1;
		s[i] = p;
		p += len[i];
		left -= len[i];
	}
	return 0;
}

/* Point m's strings into a cache.db record; left empty if it is damaged (parsed again). */
static void
cache_decode(const DBT *val, struct idx_msg *m)
{
	struct cache_rec	 r;
	const char		*s[MSG_STRINGS];

	if (val->size < sizeof(r))
		return;
	memcpy(&r, val->data, sizeof(r));
	if (strings_decode((char *)val->data + sizeof(r), val->size - sizeof(r), r.len,
	    MSG_STRINGS, s) == 0) {
		m->envelope = s[0];
		m->body = s[1];
		m->bodystructure = s[2];
	}
}

/* The cached strings of a layout-2 record into m, read into buf: empty if it has none. */
static int
cache_get(struct idx_txn *t, unsigned char k[8], DBT *buf, struct idx_msg *m,
    const char **error_r)
{
	DBT	 key;
	int	 ret;

	m->envelope = m->body = m->bodystructure = "";
	dbt_set(&key, k, 8);
	ret = t->e->cache->get(t->e->cache, t->txn, &key, buf, 0);
	if (ret == DB_NOTFOUND)
		return 0;
	if (ret != 0)
		return db_fail(t->e, ret, "cache get", error_r);
	cache_decode(buf, m);
	return 0;
}

/* Write m's strings to cache.db: none (all empty) deletes the entry. */
static int
cache_put(struct idx_txn *t, unsigned char k[8], const struct idx_msg *m, const char **error_r)
{
	const char		*s[MSG_STRINGS] = { m->envelope, m->body, m->bodystructure };
	struct cache_rec	 r;
	size_t			 total = sizeof(r), i;
	char			*blob, *p;
	DBT			 key, val;
	int			 ret;

	for (i = 0; i < MSG_STRINGS; i++) {
		r.len[i] = (uint32_t)(s[i] != NULL ? strlen(s[i]) + 1 : 1);
		total = size_add(total, r.len[i]);
	}
	dbt_set(&key, k, 8);
	if (total == sizeof(r) + MSG_STRINGS) {
		ret = t->e->cache->del(t->e->cache, t->txn, &key, 0);
		return ret == 0 || ret == DB_NOTFOUND ? 0 : db_fail(t->e, ret, "cache delete", error_r);
	}
	blob = p = xmalloc(total);
	memcpy(p, &r, sizeof(r));
	p += sizeof(r);
	for (i = 0; i < MSG_STRINGS; i++) {
		memcpy(p, s[i] != NULL ? s[i] : "", r.len[i]);
		p += r.len[i];
	}
	dbt_set(&val, blob, total);
	ret = t->e->cache->put(t->e->cache, t->txn, &key, &val, 0);
	free(blob);
	return ret == 0 ? 0 : db_fail(t->e, ret, "cache put", error_r);
}

/* The header of a record of any layout; its size, 0 if damaged. */
static size_t
msg_header(const void *blob, size_t size, struct msg_rec *r)
{
	if (size < MSG_REC0_SIZE)
		return 0;
	memcpy(r, blob, MSG_REC0_SIZE);
	if (r->layout == 0) {
		r->created = 1;		/* older than any MODSEQ a client can hold */
		return MSG_REC0_SIZE;
	}
	if (r->layout > MSG_LAYOUT || size < sizeof(*r))
		return 0;
	memcpy(r, blob, sizeof(*r));
	return sizeof(*r);
}

/*
 * Point m into a record blob: its layout, or -1 if the record is damaged.
 * The strings are set only if asked for and in the record (layout 0 or 1),
 * else NULL.
 */
static int
msg_decode(void *blob, size_t size, struct idx_msg *m, bool with_cache)
{
	struct msg_rec	 r;
	const char	*s[4] = { NULL, NULL, NULL, NULL };
	size_t		 i;

	if ((i = msg_header(blob, size, &r)) == 0)
		return -1;
	/* Without the cache only the name is checked: the rest may be unread. */
	if (strings_decode((char *)blob + i, size - i, r.len,
	    with_cache && r.layout < 2 ? 4 : 1, s) == -1)
		return -1;
	m->uid = r.uid;
	m->flags = r.flags;
	m->kwmask = r.kwmask;
	m->modseq = r.modseq;
	m->created = r.created;
	m->vsize = r.vsize;
	m->fsize = r.fsize;
	m->idate = r.idate;
	m->name = s[0];
	m->envelope = s[1];
	m->body = s[2];
	m->bodystructure = s[3];
	m->strings_apart = r.layout >= 2;
	return (int)r.layout;
}

/*
 * A record of layout 0 or 1 rewritten with its strings left as they are
 * (NULL in m): they move from the old record to cache.db first.
 */
static int
cache_keep_inline(struct idx_txn *t, unsigned char k[8], const char **error_r)
{
	unsigned char	 head[sizeof(struct msg_rec)];
	struct msg_rec	 r;
	struct idx_msg	 old;
	DBT		 key, val;
	int		 ret, rc = 0;

	dbt_set(&key, k, 8);
	dbt_out(&val, head, sizeof(head));
	val.flags |= DB_DBT_PARTIAL;
	val.dlen = sizeof(head);
	ret = t->e->msgs->get(t->e->msgs, t->txn, &key, &val, 0);
	if (ret == DB_NOTFOUND || (ret == 0 && (msg_header(head, val.size, &r) == 0 ||
	    r.layout >= 2)))
		return 0;
	if (ret != 0)
		return db_fail(t->e, ret, "message get", error_r);
	memset(&val, 0, sizeof(val));
	val.flags = DB_DBT_MALLOC;
	if ((ret = t->e->msgs->get(t->e->msgs, t->txn, &key, &val, 0)) != 0)
		return db_fail(t->e, ret, "message get", error_r);
	if (msg_decode(val.data, val.size, &old, true) != -1)
		rc = cache_put(t, k, &old, error_r);
	free(val.data);
	return rc;
}

int
idx_msg_put(struct idx_txn *t, uint32_t folder_id, const struct idx_msg *m,
    const char **error_r)
{
	struct msg_rec	 r;
	unsigned char	 k[8];
	char		*blob;
	size_t		 namelen = strlen(m->name) + 1;
	DBT		 key, val;
	int		 ret, rc;

	if (store_retry_point("idx_msg_put"))
		return db_fail(t->e, DB_LOCK_DEADLOCK, "message put", error_r);
	msg_key(k, folder_id, m->uid);
	/* Strings left as they are: a record read as apart has none inline to move. */
	if (m->envelope == NULL && m->body == NULL && m->bodystructure == NULL)
		rc = m->strings_apart ? 0 : cache_keep_inline(t, k, error_r);
	else
		rc = cache_put(t, k, m, error_r);
	if (rc != 0)
		return rc;
	memset(&r, 0, sizeof(r));
	r.uid = m->uid;
	r.layout = MSG_LAYOUT;
	r.created = m->created != 0 ? m->created : m->modseq;
	r.flags = m->flags;
	r.kwmask = m->kwmask;
	r.modseq = m->modseq;
	r.vsize = m->vsize;
	r.fsize = m->fsize;
	r.idate = m->idate;
	r.len[0] = (uint32_t)namelen;
	blob = xmalloc(sizeof(r) + namelen);
	memcpy(blob, &r, sizeof(r));
	memcpy(blob + sizeof(r), m->name, namelen);
	dbt_set(&key, k, sizeof(k));
	dbt_set(&val, blob, sizeof(r) + namelen);
	ret = t->e->msgs->put(t->e->msgs, t->txn, &key, &val, 0);
	free(blob);
	if (ret != 0)
		return db_fail(t->e, ret, "message put", error_r);
	return 0;
}

int
idx_msg_del(struct idx_txn *t, struct idx_folder *f, uint32_t uid, const char **error_r)
{
	unsigned char	 k[8];
	DBT		 key;
	int		 ret;

	msg_key(k, f->id, uid);
	dbt_set(&key, k, sizeof(k));
	if (store_retry_point("idx_msg_del"))
		return db_fail(t->e, DB_LOCK_DEADLOCK, "message delete", error_r);
	ret = t->e->msgs->del(t->e->msgs, t->txn, &key, 0);
	if (ret == DB_NOTFOUND)
		return 0;
	if (ret != 0)
		return db_fail(t->e, ret, "message delete", error_r);
	ret = t->e->cache->del(t->e->cache, t->txn, &key, 0);
	if (ret != 0 && ret != DB_NOTFOUND)
		return db_fail(t->e, ret, "cache delete", error_r);
	return idx_vanished_add(t, f, uid, error_r);
}

/*
 * A folder's records (of msgs.db or cache.db) read in bulk (DB_MULTIPLE_KEY): one cursor call
 * fills a buffer with as many as fit, where a call per record cost more
 * than the records themselves (a cursor call is most of a 10,000-record
 * walk).  Layout-2 records are ~130 bytes; a bigger one (older layouts
 * carry their strings) grows the buffer.
 */
#define BULK_INIT	(64 * 1024)

struct bulk {
	DBC		*c;
	unsigned char	 want[4];	/* the folder id: the walk ends past it */
	unsigned char	 k[8];		/* where it starts */
	DBT		 key, data;
	void		*p;		/* in data; NULL: the next batch */
	bool		 started;
};

static int
bulk_open(struct idx_txn *t, DB *db, struct bulk *b, uint32_t folder_id, uint32_t first,
    const char **error_r)
{
	int	 ret;

	memset(b, 0, sizeof(*b));
	if ((ret = db->cursor(db, t->txn, &b->c, 0)) != 0)
		return db_fail(t->e, ret, "cursor", error_r);
	msg_key(b->k, folder_id, first);
	memcpy(b->want, b->k, 4);
	b->key.data = b->k;
	b->key.size = b->key.ulen = sizeof(b->k);
	b->key.flags = DB_DBT_USERMEM;
	b->data.data = xmalloc(BULK_INIT);
	b->data.ulen = BULK_INIT;
	b->data.flags = DB_DBT_USERMEM;
	return 0;
}

static void
bulk_close(struct bulk *b)
{
	b->c->close(b->c);
	free(b->data.data);
}

/* The next record of the folder (key 8 bytes): 0, DB_NOTFOUND at its end, or an error. */
static int
bulk_next(struct bulk *b, unsigned char **key_r, void **rec_r, size_t *size_r)
{
	void		*kp, *dp;
	u_int32_t	 klen, dlen;
	int		 ret;

	for (;;) {
		if (b->p != NULL) {
			DB_MULTIPLE_KEY_NEXT(b->p, &b->data, kp, klen, dp, dlen);
			if (b->p != NULL) {
				if (klen != 8 || memcmp(kp, b->want, 4) != 0)
					return DB_NOTFOUND;
				*key_r = kp;
				*rec_r = dp;
				*size_r = dlen;
				return 0;
			}
		}
		ret = b->c->get(b->c, &b->key, &b->data,
		    (b->started ? DB_NEXT : DB_SET_RANGE) | DB_MULTIPLE_KEY);
		if (ret == DB_BUFFER_SMALL) {
			b->data.ulen = (b->data.size + 1023) / 1024 * 1024 * 2;
			b->data.data = xreallocarray(b->data.data, 1, b->data.ulen);
			continue;
		}
		if (ret != 0)
			return ret;
		b->started = true;
		DB_MULTIPLE_INIT(b->p, &b->data);
	}
}

/* A walk's strings: cache.db read in bulk beside msgs.db, in the same key order. */
struct cache_walk {
	struct bulk	 b;
	unsigned char	*k;		/* the entry read last (ret 0) */
	void		*rec;
	size_t		 size;
	int		 ret;		/* of the last bulk_next; -1: none yet */
};

static int
cache_walk_next(struct idx_txn *t, struct cache_walk *w, const unsigned char k[8],
    struct idx_msg *m, const char **error_r)
{
	DBT	 val;

	m->envelope = m->body = m->bodystructure = "";
	while (w->ret == -1 || (w->ret == 0 && memcmp(w->k, k, 8) < 0))
		w->ret = bulk_next(&w->b, &w->k, &w->rec, &w->size);
	if (w->ret != 0 && w->ret != DB_NOTFOUND)
		return db_fail(t->e, w->ret, "cache walk", error_r);
	if (w->ret == 0 && memcmp(w->k, k, 8) == 0) {
		dbt_set(&val, w->rec, w->size);
		cache_decode(&val, m);
	}
	return 0;
}

int
idx_msg_walk(struct idx_txn *t, uint32_t folder_id, uint32_t first, uint32_t last,
    bool with_cache, idx_msg_fn *fn, void *ctx, const char **error_r)
{
	struct cache_walk cw = { .ret = -1 };
	struct bulk	 b;
	struct idx_msg	 m;
	unsigned char	*k;
	void		*rec;
	size_t		 size;
	int		 ret, layout, rc = 0;

	if (store_retry_point("idx_msg_walk"))
		return db_fail(t->e, DB_LOCK_DEADLOCK, "cursor", error_r);
	if ((rc = bulk_open(t, t->e->msgs, &b, folder_id, first, error_r)) != 0)
		return rc;
	if (with_cache && (rc = bulk_open(t, t->e->cache, &cw.b, folder_id, first, error_r)) != 0) {
		bulk_close(&b);
		return rc;
	}
	while ((ret = bulk_next(&b, &k, &rec, &size)) == 0) {
		if ((layout = msg_decode(rec, size, &m, with_cache)) == -1)
			continue;	/* damaged: the next sync rewrites it */
		if (m.uid > last)
			break;
		if (with_cache && layout >= 2 && (rc = cache_walk_next(t, &cw, k, &m, error_r)) != 0)
			break;
		if ((rc = fn(&m, ctx)) != 0)
			break;
	}
	if (with_cache)
		bulk_close(&cw.b);
	bulk_close(&b);
	if (ret != 0 && ret != DB_NOTFOUND)
		return db_fail(t->e, ret, "message list", error_r);
	return rc;
}

int
idx_msg_get(struct idx_txn *t, uint32_t folder_id, uint32_t uid, bool with_cache,
    struct idx_msg *m, const char **error_r)
{
	unsigned char	 k[8];
	DBT		 key;
	int		 ret, layout;

	msg_key(k, folder_id, uid);
	dbt_set(&key, k, sizeof(k));
	ret = t->e->msgs->get(t->e->msgs, t->txn, &key, &t->val, 0);
	if (ret == DB_NOTFOUND)
		return 1;
	if (ret != 0)
		return db_fail(t->e, ret, "message get", error_r);
	if ((layout = msg_decode(t->val.data, t->val.size, m, with_cache)) == -1)
		return store_err(error_r, STORE_ERR_TEMPORARY,
		    "index record of uid %u is damaged", uid);
	return with_cache && layout >= 2 ? cache_get(t, k, &t->cval, m, error_r) : 0;
}

static int
list_add(const struct idx_msg *m, void *ctx)
{
	struct idx_msglist	*l = ctx;

	if (l->n == l->cap) {
		l->cap = l->cap == 0 ? 64 : size_mul(l->cap, 2);
		l->msgs = xreallocarray(l->msgs, l->cap, sizeof(*l->msgs));
	}
	l->msgs[l->n++] = (struct idx_listed){
		.vsize = m->vsize, .fsize = m->fsize, .idate = m->idate,
		.name = NULL,	/* pointed into names once they stop moving */
		.uid = m->uid, .flags = m->flags, .kwmask = m->kwmask,
	};
	buf_append(&l->names, m->name, strlen(m->name) + 1);	/* no maximum: never fails */
	return 0;
}

int
idx_msg_list(struct idx_txn *t, uint32_t folder_id, struct idx_msglist *l,
    const char **error_r)
{
	const char	*p;
	size_t		 i;
	int		 rc;

	idx_msglist_free(l);
	if (store_retry_point("idx_msg_list"))
		return db_fail(t->e, DB_LOCK_DEADLOCK, "cursor", error_r);
	buf_init(&l->names, SIZE_MAX);
	rc = idx_msg_walk(t, folder_id, 0, UINT32_MAX, false, list_add, l, error_r);
	if (rc != 0) {
		idx_msglist_free(l);
		return rc;
	}
	for (i = 0, p = buf_head(&l->names); i < l->n; i++, p += strlen(p) + 1)
		l->msgs[i].name = p;
	return 0;
}

void
idx_msglist_free(struct idx_msglist *l)
{
	xfree(&l->msgs);
	buf_release(&l->names);
	l->n = l->cap = 0;
}

int
idx_msg_changes(struct idx_txn *t, uint32_t folder_id, uint64_t since, struct uid_list *added,
    struct uid_list *changed, const char **error_r)
{
	struct msg_rec	 r;
	struct bulk	 b;
	unsigned char	*k;
	void		*rec;
	size_t		 size;
	int		 ret, rc;

	if ((rc = bulk_open(t, t->e->msgs, &b, folder_id, 0, error_r)) != 0)
		return rc;
	while ((ret = bulk_next(&b, &k, &rec, &size)) == 0) {
		if (msg_header(rec, size, &r) == 0 || r.modseq <= since)
			continue;
		uid_list_push(r.created > since ? added : changed, r.uid);
	}
	bulk_close(&b);
	if (ret != DB_NOTFOUND)
		return db_fail(t->e, ret, "message changes", error_r);
	return 0;
}
