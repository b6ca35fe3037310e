/*
 * Streamed multi-line replies: RETR and TOP send the message file in
 * blocks through a wire_stream (LF -> CRLF, dot-stuffing), LIST and
 * UIDL walk the snapshot.  Each is a continuation the host calls while
 * its output is below the high-water mark (session_host_stream), so
 * neither a large message nor a large maildrop is ever held in memory.
 */
#include "pop3d/pop3_private.h"

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/xmalloc.h"
#include "mail/wire_stream.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void
pop3_stream_abort(struct pop3_session *s)
{
	wire_stream_close(&s->stream.msg);
	memset(&s->stream, 0, sizeof(s->stream));
	s->stream.msg.fd = -1;
}

/*
 * TOP's wire_take_fn: of len bytes, the header and then lines_left body
 * lines (all of it for RETR).  *done_r: the last wanted line is in.
 */
static size_t
top_take(void *arg, const char *src, size_t len, bool *done_r)
{
	struct pop3_stream	*st = arg;
	const char		*lf;
	size_t			 i = 0, k;
	bool			 was_empty;

	while ((lf = memchr(src + i, '\n', len - i)) != NULL) {
		for (k = i; st->line_empty && src + k < lf; k++)
			st->line_empty = src[k] == '\r';
		i = (size_t)(lf - src) + 1;
		was_empty = st->line_empty;
		st->line_empty = true;
		if (st->in_body)
			st->lines_left--;
		else if (was_empty)
			st->in_body = true;	/* the header/body separator */
		if (st->in_body && st->lines_left == 0) {
			*done_r = true;
			return i;
		}
	}
	for (k = i; st->line_empty && k < len; k++)
		st->line_empty = src[k] == '\r';
	return len;
}

static void
stream_finish(struct pop3_session *s)
{
	pop3_reply(s, ".");
	if (s->stream.msg.fd != -1) {
		/* Closed by pop3_ahead_after(), once the reply is out. */
		if (s->sent_fd != -1)
			close(s->sent_fd);
		s->sent_fd = s->stream.msg.fd;
		s->stream.msg.fd = -1;
		session_host_after(s->host, 0, pop3_ahead_after);
	}
	pop3_stream_abort(s);
}

/*
 * A block of the message that is not in the page cache is read on the
 * workq, the stream paused meanwhile: the disk holds up this session, not
 * every session of the process.  The job reads through a descriptor of its
 * own, so the session may close its stream (timeout, free) meanwhile.
 */
struct pop3_warm_job {
	struct pop3_session	*s;	/* NULL once the session is gone */
	int			 fd;
	uint64_t		 offset;
};

static void
warm_work(void *arg)
{
	struct pop3_warm_job	*job = arg;

	wire_stream_warm(job->fd, job->offset);
}

static void
warm_done(void *arg)
{
	struct pop3_warm_job	*job = arg;

	close(job->fd);
	if (job->s != NULL) {
		job->s->warm_job = NULL;
		session_host_kick(job->s->host);
	}
	free(job);
}

static int
warm_start(struct pop3_session *s)
{
	struct pop3_warm_job	*job;
	int			 fd;

	if ((fd = fcntl(s->stream.msg.fd, F_DUPFD_CLOEXEC, 0)) == -1)
		return -1;
	job = xcalloc(1, sizeof(*job));
	job->s = s;
	job->fd = fd;
	job->offset = s->stream.msg.nread;
	s->warm_job = job;	/* pop3_want() says PAUSE until warm_done */
	session_host_submit(s->host, warm_work, warm_done, job);
	return 0;
}

void
pop3_warm_orphan(struct pop3_session *s)
{
	if (s->warm_job != NULL)
		s->warm_job->s = NULL;
	s->warm_job = NULL;
}

/*
 * The host's more() for RETR/TOP: true when the message has been sent
 * completely.  A block at a time, up to the host's high-water mark, so
 * the connection writes large sends.
 */
static bool
stream_message(void *arg)
{
	struct pop3_session	*s = arg;
	struct pop3_stream	*st = &s->stream;
	size_t			 want, n;
	int			 r;

	/* A client reading a long reply is not idle. */
	pop3_arm_timeout(s);
	while (!session_host_output_full(s->host)) {
		want = buf_room(s->out) > 64 ? (buf_room(s->out) - 8) / 2 : 0;
		if (want < 64)
			return false;	/* wait for the output to drain */
		r = wire_stream_fill(&st->msg, s->out, want, st->lines_left < 0 ? NULL : top_take,
		    st, &n);
		s->bytes_sent += n;
		if (!st->probed && r != -1) {
			st->probed = true;
			pop3_ahead_read(s, &st->msg);
		}
		/* Else (no descriptor to spare) the next fill reads it waiting. */
		if (r == WIRE_COLD && warm_start(s) == 0)
			return false;
		if (r == WIRE_COLD)
			continue;
		if (r == -1) {
			/* The +OK is out: all we can do is cut the connection. */
			log_warn("session=%s event=retr status=failed", s->peer->id);
			pop3_stream_abort(s);
			pop3_close(s);
			return true;
		}
		if (r == 1) {
			stream_finish(s);
			return true;
		}
	}
	return false;
}

/* The host's more() for LIST / UIDL of every message not deleted. */
static bool
stream_listing(void *arg)
{
	struct pop3_session	*s = arg;
	struct pop3_stream	*st = &s->stream;
	const struct msg_info	*m;
	char			 uidl[24];

	pop3_arm_timeout(s);
	while (st->next < s->nmsgs) {
		if (s->want != SESSION_READ) {
			pop3_stream_abort(s);	/* the output failed: closing */
			return true;
		}
		if (session_host_output_full(s->host))
			return false;
		if (s->marks[st->next] & POP3_MSG_DELETED) {
			st->next++;
			continue;
		}
		m = &s->msgs[st->next++];
		if (!st->uidl) {
			pop3_reply(s, "%zu %llu", st->next, (unsigned long long)m->size);
		} else {
			store_uidl(s->uidvalidity, m->uid, uidl);
			pop3_reply(s, "%zu %s", st->next, uidl);
		}
	}
	stream_finish(s);
	return true;
}

void
pop3_stream_list(struct pop3_session *s, bool uidl)
{
	size_t	 i, n = 0;

	for (i = 0; i < s->nmsgs; i++)
		if (!(s->marks[i] & POP3_MSG_DELETED))
			n++;
	if (!uidl)
		pop3_reply(s, "+OK %zu messages:", n);
	else
		pop3_reply(s, "+OK");
	s->stream.active = true;
	s->stream.uidl = uidl;
	s->stream.next = 0;
	session_host_stream(s->host, stream_listing);
}

/*
 * What of the message was staged ahead (pop3_ahead.c), after its +OK: true
 * if that was all of it, the reply then finished.
 */
static bool
send_staged(struct pop3_session *s, enum pop3_staged staged)
{
	size_t	 n = buf_len(&s->staged);

	if (buf_append(s->out, buf_head(&s->staged), n) == -1) {
		/* Cannot be: the host reads no command above output_high. */
		log_warn("session=%s event=retr status=failed reason=\"output full\"", s->peer->id);
		buf_reset(&s->staged);
		pop3_stream_abort(s);
		pop3_close(s);
		return true;
	}
	buf_reset(&s->staged);
	s->bytes_sent += n;
	s->stream.probed = true;
	pop3_ahead_read(s, &s->stream.msg);	/* it was in the page cache */
	if (staged != POP3_STAGED_ALL)
		return false;
	stream_finish(s);
	return true;
}

/* Stream message idx from ws, staged that far; lines < 0: the whole message (RETR). */
static void
stream_start(struct pop3_session *s, size_t idx, long long lines, struct wire_stream *ws,
    enum pop3_staged staged)
{
	if (lines < 0) {
		pop3_reply(s, "+OK %llu octets", (unsigned long long)s->msgs[idx].size);
		s->marks[idx] |= POP3_MSG_RETRIEVED;
		s->nretr++;
	} else {
		pop3_reply(s, "+OK");
		s->ntop++;
	}
	pop3_stream_abort(s);
	s->stream.active = true;
	s->stream.msg = *ws;
	s->stream.lines_left = lines;
	s->stream.line_empty = true;
	if (staged == POP3_STAGED_NONE || !send_staged(s, staged))
		session_host_stream(s->host, stream_message);
	if (lines < 0) {
		/* RETR also reads the next messages ahead. */
		s->ahead_from = idx;
		s->ahead_due = true;
		session_host_after(s->host, 0, pop3_ahead_after);
	}
}

static void
stream_gone(struct pop3_session *s, size_t idx, const char *error)
{
	/* Expunged by another client (IMAP) since the snapshot. */
	log_info("session=%s event=retr status=expunged uid=%u reason=\"%s\"",
	    s->peer->id, s->msgs[idx].uid, error);
	pop3_reply(s, "-ERR Message is no longer available.");
}

/*
 * A message no longer there by its snapshot name (another session changed
 * its flags, or expunged it) is looked up in the index, which may mean
 * reopening it and rescanning the Maildir: on the workq, the session
 * paused meanwhile and its mailbox the job's to use.
 */
struct pop3_find_job {
	struct pop3_session	*s;	/* NULL once the session is gone: then mb is ours */
	struct mailbox		*mb;
	uint32_t		 uid;
	size_t			 idx;
	long long		 lines;
	int			 fd;
	char			 error[256];
};

static void
find_work(void *arg)
{
	struct pop3_find_job	*job = arg;
	const char		*error;

	if (mailbox_open_message(job->mb, job->uid, &job->fd, &error) == -1) {
		job->fd = -1;
		snprintf(job->error, sizeof(job->error), "%s", error);
	}
}

static void
find_done(void *arg)
{
	struct pop3_find_job	*job = arg;
	struct pop3_session	*s = job->s;
	struct wire_stream	 ws;

	if (s == NULL) {
		if (job->fd != -1)
			close(job->fd);
		mailbox_close(&job->mb);
		free(job);
		return;
	}
	s->find_job = NULL;
	if (s->want != SESSION_READ) {
		if (job->fd != -1)
			close(job->fd);		/* timed out meanwhile */
	} else if (job->fd == -1) {
		stream_gone(s, job->idx, job->error);
		pop3_bad_command(s);
	} else {
		s->bad_commands = 0;
		pop3_ahead_stream(s, job->idx, job->fd, &ws);
		stream_start(s, job->idx, job->lines, &ws, POP3_STAGED_NONE);
	}
	session_host_kick(s->host);
	free(job);
}

/*
 * Start streaming message idx (opened ahead, or by its name now): 0; or
 * after a lookup: 1, answered (and counted) by find_done; -1 after -ERR.
 */
static int
start_message(struct pop3_session *s, size_t idx, long long lines)
{
	struct pop3_find_job	*job;
	struct wire_stream	 ws;
	enum pop3_staged	 staged = POP3_STAGED_NONE;
	const char		*error;
	int			 rc = 0;

	if (!pop3_ahead_take(s, idx, lines < 0, &ws, &staged))
		rc = pop3_ahead_open(s, idx, &ws, &error);
	if (rc == -1) {
		stream_gone(s, idx, error);
		return -1;
	}
	if (rc == 0) {
		stream_start(s, idx, lines, &ws, staged);
		return 0;
	}
	job = xcalloc(1, sizeof(*job));
	job->s = s;
	job->mb = s->mb;
	job->uid = s->msgs[idx].uid;
	job->idx = idx;
	job->lines = lines;
	s->find_job = job;	/* pop3_want() says PAUSE until find_done */
	session_host_submit(s->host, find_work, find_done, job);
	return 1;
}

void
pop3_find_orphan(struct pop3_session *s)
{
	if (s->find_job == NULL)
		return;
	s->find_job->s = NULL;
	s->mb = NULL;		/* the job's now: find_done closes it */
	s->find_job = NULL;
}

int
pop3_cmd_retr(struct pop3_session *s, char *args)
{
	size_t	 idx;

	if (strchr(args, ' ') != NULL) {
		pop3_reply(s, "-ERR RETR needs one message number.");
		return -1;
	}
	if (pop3_msgnum(s, args, &idx) == -1)
		return -1;
	return start_message(s, idx, -1);
}

int
pop3_cmd_top(struct pop3_session *s, char *args)
{
	char		*msg, *lines, *end;
	unsigned long long n;
	size_t		 idx;

	msg = strsep(&args, " ");
	lines = args;
	if (lines == NULL || *lines == '\0' || strchr(lines, ' ') != NULL) {
		pop3_reply(s, "-ERR TOP needs a message number and a line count.");
		return -1;
	}
	if (pop3_msgnum(s, msg, &idx) == -1)
		return -1;
	if (strspn(lines, "0123456789") != strlen(lines)) {
		pop3_reply(s, "-ERR Invalid number of lines.");
		return -1;
	}
	errno = 0;
	n = strtoull(lines, &end, 10);
	/* More lines than any message has means "all of them". */
	if (errno == ERANGE || n > (unsigned long long)LLONG_MAX)
		n = (unsigned long long)LLONG_MAX;
	return start_message(s, idx, (long long)n);
}
