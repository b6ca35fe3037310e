/*
 * The per-recipient state logs (queue/queue_state.h).  The log is read
 * whole on load (it is a few records per attempt) and appended to on
 * commit; the bytes after the last whole, well-formed record are a change
 * that was never made durable, and are cut off before the next append.
 */
#include "queue/queue_state.h"

#include "lib/buf.h"
#include "lib/commit.h"
#include "lib/error.h"
#include "lib/xmalloc.h"
#include "queue/queue_private.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WHY_MAX		1000	/* kept of a reason: a remote reply's text */
#define LOG_MAX		(16 * 1024 * 1024)

struct queue_state {
	struct queue		*q;
	char			 id[64];
	size_t			 nrcpts;
	struct queue_rcpt_state	*rcpts;
	char			**whys;		/* owned; rcpts[i].why points here */
	char			**hosts;	/* owned; rcpts[i].host */
	bool			 held;
	unsigned		 flags;
	bool			 exists;	/* the log file is there */
	off_t			 valid;		/* its length up to the last good record */
	struct buf		*pending;	/* records not yet appended */
};

#define HOST_MAX	255

/* Keep a copy of text (cut to max) in *slot, published at *pub; "" is none. */
static void
set_text(char **slot, const char **pub, const char *text, size_t len, size_t max)
{
	free(*slot);
	*slot = text != NULL && len > 0 ? xstrndup(text, len < max ? len : max) : NULL;
	*pub = *slot;
}

/* 'R': "index status attempts last next\0host\0why"; false if it is not one. */
static bool
replay_rcpt(struct queue_state *st, const struct rec *r)
{
	char			 head[96];
	const char		*nul = memchr(r->data, '\0', r->len), *host, *hostend, *end;
	size_t			 i;
	int			 status, used = 0;
	unsigned		 attempts;
	long long		 last, next;

	end = r->data + r->len;
	if (nul == NULL || (size_t)(nul - r->data) >= sizeof(head) ||
	    (hostend = memchr(nul + 1, '\0', (size_t)(end - nul - 1))) == NULL)
		return false;
	host = nul + 1;
	memcpy(head, r->data, (size_t)(nul - r->data) + 1);
	if (sscanf(head, "%zu %d %u %lld %lld%n", &i, &status, &attempts, &last, &next,
	    &used) != 5 || head[used] != '\0' || i >= st->nrcpts ||
	    status < QUEUE_RCPT_PENDING || status > QUEUE_RCPT_FAILED)
		return false;
	st->rcpts[i].status = (enum queue_rcpt_status)status;
	st->rcpts[i].attempts = attempts;
	st->rcpts[i].last_attempt = (time_t)last;
	st->rcpts[i].next_attempt = (time_t)next;
	set_text(&st->hosts[i], &st->rcpts[i].host, host, (size_t)(hostend - host), HOST_MAX);
	set_text(&st->whys[i], &st->rcpts[i].why, hostend + 1, (size_t)(end - hostend - 1),
	    WHY_MAX);
	return true;
}

static bool
replay(struct queue_state *st, const struct rec *r)
{
	switch (r->type) {
	case 'R':
		return replay_rcpt(st, r);
	case 'H':
		if (r->len != 1 || (r->data[0] != '0' && r->data[0] != '1'))
			return false;
		st->held = r->data[0] == '1';
		return true;
	case 'F':
		if (r->len == 6 && memcmp(r->data, "warned", 6) == 0)
			st->flags |= QUEUE_FLAG_WARNED;
		else if (r->len == 7 && memcmp(r->data, "bounced", 7) == 0)
			st->flags |= QUEUE_FLAG_BOUNCED;
		else
			return false;
		return true;
	default:
		return false;
	}
}

static int
read_log(struct queue_state *st, int fd, const char **error_r)
{
	struct stat	 sb;
	char		*file;
	size_t		 off = 0, got = 0;
	struct rec	 r;
	ssize_t		 n;

	if (fstat(fd, &sb) == -1)
		return err_set(error_r, "state/%s: %s", st->id, strerror(errno));
	if (sb.st_size > LOG_MAX)
		return err_set(error_r, "state/%s: %lld bytes, more than a log grows to",
		    st->id, (long long)sb.st_size);
	file = xmalloc((size_t)sb.st_size + 1);
	while (got < (size_t)sb.st_size &&
	    (n = read(fd, file + got, (size_t)sb.st_size - got)) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			free(file);
			return err_set(error_r, "state/%s: %s", st->id, strerror(errno));
		}
		got += (size_t)n;
	}
	while (rec_next(file, got, &off, &r) && replay(st, &r))
		st->valid = (off_t)off;
	free(file);
	return 0;
}

struct queue_state *
queue_state_load(struct queue *q, const char *id, size_t nrcpts, const char **error_r)
{
	struct queue_state	*st = xcalloc(1, sizeof(*st));
	int			 fd;

	st->q = q;
	snprintf(st->id, sizeof(st->id), "%s", id);
	st->nrcpts = nrcpts;
	st->rcpts = xcalloc(nrcpts > 0 ? nrcpts : 1, sizeof(*st->rcpts));
	st->whys = xcalloc(nrcpts > 0 ? nrcpts : 1, sizeof(*st->whys));
	st->hosts = xcalloc(nrcpts > 0 ? nrcpts : 1, sizeof(*st->hosts));
	st->pending = buf_new(LOG_MAX);
	if ((fd = openat(q->state, id, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			return st;
		err_set(error_r, "state/%s: %s", id, strerror(errno));
		queue_state_free(&st);
		return NULL;
	}
	st->exists = true;
	if (read_log(st, fd, error_r) == -1) {
		close(fd);
		queue_state_free(&st);
		return NULL;
	}
	close(fd);
	return st;
}

void
queue_state_free(struct queue_state **stp)
{
	struct queue_state	*st = *stp;

	if (st == NULL)
		return;
	for (size_t i = 0; i < st->nrcpts; i++) {
		free(st->whys[i]);
		free(st->hosts[i]);
	}
	free(st->whys);
	free(st->hosts);
	free(st->rcpts);
	buf_free(&st->pending);
	free(st);
	*stp = NULL;
}

const struct queue_rcpt_state *
queue_state_rcpt(const struct queue_state *st, size_t i)
{
	return &st->rcpts[i];
}

bool
queue_state_held(const struct queue_state *st)
{
	return st->held;
}

unsigned
queue_state_flags(const struct queue_state *st)
{
	return st->flags;
}

bool
queue_state_done(const struct queue_state *st)
{
	for (size_t i = 0; i < st->nrcpts; i++)
		if (st->rcpts[i].status == QUEUE_RCPT_PENDING ||
		    st->rcpts[i].status == QUEUE_RCPT_DEFERRED)
			return false;
	return true;
}

static void
pending_record(struct queue_state *st, char type, const char *data, size_t len)
{
	rec_header(st->pending, type, (uint32_t)len);
	if (buf_append(st->pending, data, len) == -1)
		abort();	/* LOG_MAX of changes between two commits: a bug */
}

void
queue_state_set(struct queue_state *st, size_t i, enum queue_rcpt_status status,
    time_t now, time_t next, const char *host, const char *why)
{
	struct queue_rcpt_state	*r = &st->rcpts[i];
	char			 rec[96 + HOST_MAX + 1 + WHY_MAX];
	size_t			 n;

	r->status = status;
	r->attempts++;
	r->last_attempt = now;
	r->next_attempt = next;
	set_text(&st->hosts[i], &r->host, host, host != NULL ? strlen(host) : 0, HOST_MAX);
	set_text(&st->whys[i], &r->why, why, why != NULL ? strlen(why) : 0, WHY_MAX);
	n = (size_t)snprintf(rec, sizeof(rec), "%zu %d %u %lld %lld", i, (int)status,
	    r->attempts, (long long)now, (long long)next) + 1;
	n += (size_t)snprintf(rec + n, sizeof(rec) - n, "%s", r->host != NULL ? r->host : "") + 1;
	n += (size_t)snprintf(rec + n, sizeof(rec) - n, "%s", r->why != NULL ? r->why : "");
	pending_record(st, 'R', rec, n);
}

void
queue_state_hold(struct queue_state *st, bool held)
{
	st->held = held;
	pending_record(st, 'H', held ? "1" : "0", 1);
}

void
queue_state_retry_now(struct queue_state *st, size_t i, time_t now)
{
	if (st->rcpts[i].status == QUEUE_RCPT_DEFERRED)
		st->rcpts[i].next_attempt = now;
}

void
queue_state_flag(struct queue_state *st, enum queue_flag flag)
{
	const char	*name = flag == QUEUE_FLAG_WARNED ? "warned" : "bounced";

	st->flags |= flag;
	pending_record(st, 'F', name, strlen(name));
}

static int
append_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t	n = write(fd, p, len);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
queue_state_commit(struct queue_state *st, const char **error_r)
{
	size_t	len = buf_len(st->pending);
	int	fd;

	if (len == 0)
		return 0;
	if ((fd = openat(st->q->state, st->id, O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) == -1)
		return err_set(error_r, "state/%s: %s", st->id, strerror(errno));
	/* Cut what a crash (or a failed commit) left after the last good record. */
	if (ftruncate(fd, st->valid) == -1 || lseek(fd, st->valid, SEEK_SET) == -1 ||
	    append_all(fd, buf_head(st->pending), len) == -1 || commit_fsync(fd) == -1) {
		err_set(error_r, "state/%s: %s", st->id, strerror(errno));
		close(fd);
		return -1;
	}
	if (close(fd) == -1)
		return err_set(error_r, "state/%s: close: %s", st->id, strerror(errno));
	/* A new log's name is durable only with its directory. */
	if (!st->exists && commit_fsync(st->q->state) == -1)
		return err_set(error_r, "state/: fsync: %s", strerror(errno));
	st->exists = true;
	st->valid += (off_t)len;
	buf_reset(st->pending);
	return 0;
}

int
queue_remove(struct queue *q, const char *id, const char **error_r)
{
	struct commit_txn	t;

	commit_txn_init(&t);
	/* The message first: a state log left alone is removed by queue_open. */
	if (commit_txn_unlink(&t, q->active, id) == -1 ||
	    (faccessat(q->state, id, F_OK, 0) == 0 &&
	    commit_txn_unlink(&t, q->state, id) == -1) ||
	    commit_txn_commit(&t) == -1) {
		err_set(error_r, "remove %s: %s", id, commit_txn_error(&t));
		commit_txn_abort(&t);
		return -1;
	}
	return 0;
}
