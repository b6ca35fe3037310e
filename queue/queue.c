/*
 * The queue writer and reader (format and layout: queue/queue.h).  Writes
 * go through lib/commit only: one file fsync plus, at publish, one
 * fsync each of incoming/ and active/.
 */
#include "queue/queue.h"
#include "queue/queue_private.h"
#include "lib/commit.h"
#include "lib/error.h"
#include "lib/buf.h"
#include "lib/xmalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define QUEUE_VERSION	"POSTROOM-QUEUE 1"
#define QUEUE_MAX_FILE	(4ULL * 1024 * 1024 * 1024)

struct queue_entry {
	struct queue	*q;
	struct commit_txn txn;
	char		 name[64];	/* in incoming/: "<id>.<pid>" */
	char		 id[40];
};

static int
open_dir(const char *base, const char *sub, const char **error_r)
{
	char	 path[PATH_MAX];
	int	 fd;

	snprintf(path, sizeof(path), "%s/%s", base, sub);
	if (mkdir(path, 0700) == -1 && errno != EEXIST)
		return err_set(error_r, "mkdir %s: %s", path, strerror(errno));
	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return err_set(error_r, "open %s: %s", path, strerror(errno));
	return fd;
}

/* Remove files of writers that are gone: never acknowledged, never published. */
static void
remove_orphans(int dirfd)
{
	DIR		*dir;
	struct dirent	*de;
	const char	*dot;
	long		 pid;
	int		 fd;

	if ((fd = dup(dirfd)) == -1 || (dir = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return;
	}
	while ((de = readdir(dir)) != NULL) {
		if ((dot = strrchr(de->d_name, '.')) == NULL || dot == de->d_name)
			continue;
		pid = strtol(dot + 1, NULL, 10);
		if (pid > 0 && kill((pid_t)pid, 0) == -1 && errno == ESRCH)
			unlinkat(dirfd, de->d_name, 0);
	}
	closedir(dir);
}

/* State logs whose message is gone (queue_remove cut short by a crash). */
static void
remove_stale_state(int statefd, int activefd)
{
	DIR		*dir;
	struct dirent	*de;
	int		 fd;

	if ((fd = dup(statefd)) == -1 || (dir = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return;
	}
	while ((de = readdir(dir)) != NULL)
		if (de->d_name[0] != '.' && faccessat(activefd, de->d_name, F_OK, 0) == -1 &&
		    errno == ENOENT)
			unlinkat(statefd, de->d_name, 0);
	closedir(dir);
}

struct queue *
queue_open(const char *queue_dir, const char **error_r)
{
	struct queue	*q = xcalloc(1, sizeof(*q));

	q->tmp = q->incoming = q->active = q->state = -1;
	if (mkdir(queue_dir, 0700) == -1 && errno != EEXIST) {
		err_set(error_r, "mkdir %s: %s", queue_dir, strerror(errno));
		goto fail;
	}
	if ((q->tmp = open_dir(queue_dir, "tmp", error_r)) == -1 ||
	    (q->incoming = open_dir(queue_dir, "incoming", error_r)) == -1 ||
	    (q->active = open_dir(queue_dir, "active", error_r)) == -1 ||
	    (q->state = open_dir(queue_dir, "state", error_r)) == -1)
		goto fail;
	remove_orphans(q->tmp);
	remove_orphans(q->incoming);
	remove_stale_state(q->state, q->active);
	return q;
fail:
	queue_close(&q);
	return NULL;
}

void
queue_close(struct queue **qp)
{
	struct queue	*q = *qp;

	if (q == NULL)
		return;
	if (q->tmp != -1)
		close(q->tmp);
	if (q->incoming != -1)
		close(q->incoming);
	if (q->active != -1)
		close(q->active);
	if (q->state != -1)
		close(q->state);
	free(q);
	*qp = NULL;
}

/* Every record before the message: V, I, T, S, E, N and the R's. */
static void
queue_head(struct buf *head, const struct queue_message *m)
{
	char	 num[32];
	size_t	 r;

	rec_str(head, 'V', QUEUE_VERSION);
	rec_str(head, 'I', m->id);
	snprintf(num, sizeof(num), "%lld", (long long)m->arrival);
	rec_str(head, 'T', num);
	rec_str(head, 'S', m->sender);
	if (m->envid != NULL)
		rec_str(head, 'E', m->envid);
	if (m->ret != 0)
		rec_str(head, 'N', m->ret == 1 ? "FULL" : "HDRS");
	for (r = 0; r < m->nrcpts; r++) {
		const struct queue_rcpt *rc_ = &m->rcpts[r];
		const char *orcpt = rc_->orcpt != NULL ? rc_->orcpt : "";

		snprintf(num, sizeof(num), "%u", rc_->notify);
		rec_header(head, 'R', (uint32_t)(strlen(rc_->address) + 1 + strlen(num) + 1 +
		    strlen(orcpt)));
		if (buf_append(head, rc_->address, strlen(rc_->address) + 1) == -1 ||
		    buf_append(head, num, strlen(num) + 1) == -1 || buf_puts(head, orcpt) == -1)
			abort();
	}
}

int
queue_prepare(struct queue *q, const struct queue_message *m, struct queue_entry **e_r,
    const char **error_r)
{
	struct queue_entry	*e;
	struct buf		 head, tail;
	struct iovec		*iov;
	uint64_t		 size = 0;
	char			 num[32];
	size_t			 i;
	int			 n = 0, rc;

	for (i = 0; i < (size_t)m->ndata; i++)
		size += m->data[i].iov_len;
	if (size >= QUEUE_MAX_FILE / 2) {
		*error_r = "message too large for a queue file";
		return -1;
	}
	buf_init(&head, 1024 * 1024);
	queue_head(&head, m);
	rec_header(&head, 'M', (uint32_t)size);
	buf_init(&tail, 64);
	snprintf(num, sizeof(num), "%llu", (unsigned long long)(buf_len(&head) + size));
	rec_str(&tail, 'X', num);

	iov = xreallocarray(NULL, (size_t)m->ndata + 2, sizeof(*iov));
	iov[n].iov_base = (void *)buf_head(&head);
	iov[n++].iov_len = buf_len(&head);
	for (i = 0; i < (size_t)m->ndata; i++)
		iov[n++] = m->data[i];
	iov[n].iov_base = (void *)buf_head(&tail);
	iov[n++].iov_len = buf_len(&tail);

	e = xcalloc(1, sizeof(*e));
	e->q = q;
	snprintf(e->id, sizeof(e->id), "%s", m->id);
	snprintf(e->name, sizeof(e->name), "%s.%ld", m->id, (long)getpid());
	commit_txn_init(&e->txn);
	rc = commit_txn_add(&e->txn, q->tmp, q->incoming, e->name, iov, n);
	free(iov);
	buf_release(&head);
	buf_release(&tail);
	if (rc == -1) {
		err_set(error_r, "queue: %s", commit_txn_error(&e->txn));
		commit_txn_abort(&e->txn);
		free(e);
		return -1;
	}
	*e_r = e;
	return 0;
}

/* ---- streamed writer ---- */

struct queue_stream {
	struct queue		*q;
	struct commit_file	*file;		/* tmp/<id>.<pid>, as queue_prepare names it */
	char			 id[40];
	uint64_t		 moff;		/* file offset of the 'M' record header */
	uint64_t		 size;		/* message bytes so far */
};

struct queue_stream *
queue_stream_begin(struct queue *q, const struct queue_message *m, const char **error_r)
{
	struct queue_stream	*qs = xcalloc(1, sizeof(*qs));
	struct buf		 head;
	const char		*err;
	char			 name[64];
	int			 rc;

	qs->q = q;
	snprintf(qs->id, sizeof(qs->id), "%s", m->id);
	snprintf(name, sizeof(name), "%s.%ld", m->id, (long)getpid());
	if ((qs->file = commit_file_open(q->tmp, name, 0, &err)) == NULL) {
		err_set(error_r, "queue: %s", err);
		free(qs);
		return NULL;
	}
	buf_init(&head, 1024 * 1024);
	queue_head(&head, m);
	qs->moff = buf_len(&head);
	rec_header(&head, 'M', 0);	/* the length is filled in by prepare */
	rc = commit_file_write(qs->file, buf_head(&head), buf_len(&head), &err);
	buf_release(&head);
	if (rc == -1) {
		err_set(error_r, "queue: %s", err);
		queue_stream_free(&qs);
		return NULL;
	}
	return qs;
}

int
queue_stream_write(struct queue_stream *qs, const void *data, size_t len)
{
	qs->size += len;
	/* A failure sticks in the file and is reported by prepare. */
	return commit_file_write(qs->file, data, len, NULL);
}

/* Fill in the 'M' length, append END: the file now validates. */
static int
stream_finish(struct queue_stream *qs, const char **error_r)
{
	const char	*name = commit_file_name(qs->file);
	unsigned char	 len[4];
	struct buf	 tail;
	char		 num[32];
	int		 fd, rc;

	if (qs->size >= QUEUE_MAX_FILE / 2)
		return err_set(error_r, "%s: %s", name, strerror(EFBIG));
	if ((fd = commit_file_fd(qs->file, error_r)) == -1)
		return -1;
	len[0] = (unsigned char)(qs->size >> 24);
	len[1] = (unsigned char)(qs->size >> 16);
	len[2] = (unsigned char)(qs->size >> 8);
	len[3] = (unsigned char)qs->size;
	if (pwrite(fd, len, sizeof(len), (off_t)qs->moff + 1) != (ssize_t)sizeof(len))
		return err_set(error_r, "write %s: %s", name, strerror(errno != 0 ? errno : EIO));
	snprintf(num, sizeof(num), "%llu", (unsigned long long)(qs->moff + REC_HDR + qs->size));
	buf_init(&tail, 64);
	rec_str(&tail, 'X', num);
	rc = commit_file_write(qs->file, buf_head(&tail), buf_len(&tail), error_r);
	buf_release(&tail);
	return rc;
}

int
queue_stream_prepare(struct queue_stream **qsp, struct queue_entry **e_r, const char **error_r)
{
	struct queue_stream	*qs = *qsp;
	struct queue_entry	*e;
	const char		*err;

	e = xcalloc(1, sizeof(*e));
	e->q = qs->q;
	snprintf(e->id, sizeof(e->id), "%s", qs->id);
	snprintf(e->name, sizeof(e->name), "%s", commit_file_name(qs->file));
	commit_txn_init(&e->txn);
	if (stream_finish(qs, &err) == -1 ||
	    commit_file_commit(&qs->file, &e->txn, qs->q->incoming, e->name, &err) == -1) {
		err_set(error_r, "queue: %s", err);
		commit_txn_abort(&e->txn);
		free(e);
		queue_stream_free(qsp);
		return -1;
	}
	queue_stream_free(qsp);		/* the file is in incoming/ now: e owns it */
	*e_r = e;
	return 0;
}

void
queue_stream_free(struct queue_stream **qsp)
{
	struct queue_stream	*qs = *qsp;

	if (qs == NULL)
		return;
	commit_file_abort(&qs->file);	/* removes the tmp/ file unless committed */
	free(qs);
	*qsp = NULL;
}

int
queue_publish(struct queue_entry **ep, const char **error_r)
{
	struct queue_entry	*e = *ep;
	int			 rc = 0;

	*ep = NULL;
	if (commit_txn_rename(&e->txn, e->q->incoming, e->name, e->q->active, e->id) == -1 ||
	    commit_txn_commit(&e->txn) == -1) {
		rc = err_set(error_r, "queue: %s", commit_txn_error(&e->txn));
		commit_txn_abort(&e->txn);
	}
	free(e);
	return rc;
}

void
queue_discard(struct queue_entry **ep)
{
	struct queue_entry	*e = *ep;

	if (e == NULL)
		return;
	unlinkat(e->q->incoming, e->name, 0);
	commit_txn_abort(&e->txn);
	free(e);
	*ep = NULL;
}

/* ---- reader ---- */

static bool
rec_rcpt(const struct rec *r, struct queue_message *m)
{
	const char		*a = r->data, *end = r->data + r->len, *n, *o;
	struct queue_rcpt	*rc;

	if ((n = memchr(a, '\0', r->len)) == NULL ||
	    (o = memchr(n + 1, '\0', (size_t)(end - n - 1))) == NULL)
		return false;
	n++;
	o++;
	m->rcpts = xreallocarray((void *)m->rcpts, m->nrcpts + 1, sizeof(*m->rcpts));
	rc = (struct queue_rcpt *)&m->rcpts[m->nrcpts++];
	rc->address = xstrdup(a);
	rc->notify = (unsigned)strtoul(n, NULL, 10);
	rc->orcpt = o < end ? xstrndup(o, (size_t)(end - o)) : NULL;
	return true;
}

static bool
queue_parse(const char *file, size_t size, struct queue_message *m)
{
	struct iovec		*iov;
	struct rec		 r;
	size_t			 off = 0, at;
	unsigned long long	 v;
	bool			 ended = false;

	if (!rec_next(file, size, &off, &r) || r.type != 'V' ||
	    r.len != strlen(QUEUE_VERSION) || memcmp(r.data, QUEUE_VERSION, r.len) != 0)
		return false;
	while (!ended) {
		at = off;
		if (!rec_next(file, size, &off, &r))
			return false;
		switch (r.type) {
		case 'I': free((char *)m->id); m->id = rec_dup(&r); break;
		case 'T':
			if (!rec_num(&r, &v))
				return false;
			m->arrival = (time_t)v;
			break;
		case 'S': free((char *)m->sender); m->sender = rec_dup(&r); break;
		case 'E': free((char *)m->envid); m->envid = rec_dup(&r); break;
		case 'N': m->ret = r.len == 4 && memcmp(r.data, "FULL", 4) == 0 ? 1 : 2; break;
		case 'R':
			if (!rec_rcpt(&r, m))
				return false;
			break;
		case 'M':
			if (m->data != NULL)
				return false;
			iov = xcalloc(1, sizeof(*iov));
			iov->iov_base = xmalloc(r.len + 1);
			memcpy(iov->iov_base, r.data, r.len);
			iov->iov_len = r.len;
			m->data = iov;
			m->ndata = 1;
			break;
		case 'X':
			/* END must say where it is and be the last thing in the file. */
			if (off != size || !rec_num(&r, &v) || v != at)
				return false;
			ended = true;
			break;
		default:
			return false;
		}
	}
	return m->id != NULL && m->sender != NULL && m->data != NULL && m->nrcpts > 0;
}

struct queue_message *
queue_read(const char *path, const char **error_r)
{
	struct queue_message	*m;
	struct stat		 sb;
	char			*file;
	ssize_t			 n;
	size_t			 off = 0;
	int			 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 || fstat(fd, &sb) == -1) {
		err_set(error_r, "%s: %s", path, strerror(errno));
		if (fd != -1)
			close(fd);
		return NULL;
	}
	if ((unsigned long long)sb.st_size >= QUEUE_MAX_FILE) {
		close(fd);
		*error_r = "queue file too large";
		return NULL;
	}
	file = xmalloc((size_t)sb.st_size + 1);
	while (off < (size_t)sb.st_size &&
	    ((n = read(fd, file + off, (size_t)sb.st_size - off)) > 0 || (n == -1 && errno == EINTR)))
		if (n > 0)
			off += (size_t)n;
	close(fd);
	m = xcalloc(1, sizeof(*m));
	if (!queue_parse(file, off, m)) {
		err_set(error_r, "%s: damaged queue file", path);
		queue_message_free(&m);
	}
	free(file);
	return m;
}

void
queue_message_free(struct queue_message **mp)
{
	struct queue_message	*m = *mp;
	size_t			 i;

	if (m == NULL)
		return;
	for (i = 0; i < m->nrcpts; i++) {
		free((char *)m->rcpts[i].address);
		free((char *)m->rcpts[i].orcpt);
	}
	free((void *)m->rcpts);
	free((char *)m->id);
	free((char *)m->sender);
	free((char *)m->envid);
	if (m->data != NULL)
		free(m->data[0].iov_base);
	free((void *)m->data);
	free(m);
	*mp = NULL;
}
