/*
 * Read-ahead of the messages after the one RETR sends.  Clients fetch in
 * order (RETR 1, RETR 2, ...): once RETR n's first block is flushed, the
 * next pop3d.read_ahead messages not deleted are opened and, while message
 * reads are cold, their files advised (wire_stream_advise:
 * POSIX_FADV_WILLNEED), so with a cold page cache their disk reads are in
 * flight while the client reads n, instead of one synchronous read per
 * RETR; with a warm one the advice, a system call per message, is not
 * given.  A read is cold when a stream not advised had to wait for its
 * first block: the window is advised then and, after a second cold probe
 * in a row, the next POP3_COLD_ADVISE opens, after which a stream not
 * advised probes again.  A maildrop's files go cold and warm again during
 * a session (the page cache trimmed or dropped, another reader): a lone
 * cold file costs the window's advice, not the saving for good.  A RETR or
 * TOP of a message opened ahead takes its stream; the window only ever
 * holds numbers after the last one asked for.  An open that fails here is left to the RETR to report.
 * The window's first message, if smaller than POP3_STAGE_MAX and in the
 * page cache, is also staged: read and converted into the session's
 * staged buf, so its RETR (with one client, the next command) is answered
 * with one write and no read of the file in between.
 */
#include "pop3d/pop3_private.h"

#include "lib/buf.h"

#include <string.h>
#include <unistd.h>

/* Close the first k streams of the window and move the rest to the front. */
static void
ahead_shift(struct pop3_session *s, size_t k)
{
	size_t	 i;

	for (i = 0; i < k; i++) {
		if (s->ahead[i].staged != POP3_STAGED_NONE)
			buf_reset(&s->staged);
		wire_stream_close(&s->ahead[i].ws);
	}
	memmove(s->ahead, s->ahead + k, (s->nahead - k) * sizeof(s->ahead[0]));
	s->nahead -= k;
}

bool
pop3_ahead_take(struct pop3_session *s, size_t idx, bool whole, struct wire_stream *ws_r,
    enum pop3_staged *staged_r)
{
	size_t	 k = 0;

	while (k < s->nahead && s->ahead[k].idx < idx)
		k++;
	ahead_shift(s, k);
	if (s->nahead == 0 || s->ahead[0].idx != idx)
		return false;
	if (!whole && s->ahead[0].staged != POP3_STAGED_NONE) {
		/* A TOP: its lines from the start, where the stage has read past them. */
		buf_reset(&s->staged);
		s->ahead[0].staged = POP3_STAGED_NONE;
		if (wire_stream_rewind(&s->ahead[0].ws) == -1) {
			ahead_shift(s, 1);
			return false;
		}
	}
	*ws_r = s->ahead[0].ws;
	*staged_r = s->ahead[0].staged;
	s->ahead[0].ws.fd = -1;		/* the caller owns it now, and s->staged */
	s->ahead[0].staged = POP3_STAGED_NONE;
	ahead_shift(s, 1);
	return true;
}

/*
 * The window's first message, if small, read from the page cache and
 * converted into s->staged now, while the client is busy with the last.
 */
static void
ahead_stage(struct pop3_session *s)
{
	struct pop3_ahead	*a = &s->ahead[0];
	size_t			 n;
	int			 r;

	/* Advised: its pages are on their way, not there. */
	if (s->nahead == 0 || a->staged != POP3_STAGED_NONE || a->ws.advised ||
	    a->ws.fsize == 0 || a->ws.fsize >= POP3_STAGE_MAX)
		return;
	r = wire_stream_prefill(&a->ws, &s->staged, POP3_STAGE_MAX, &n);
	if (r == 0 || r == 1)
		a->staged = r == 1 ? POP3_STAGED_ALL : POP3_STAGED_PART;
	/* Else nothing staged: the RETR's own fill reports the error or warms the block. */
}

/* Open the messages after idx (the window's last, if any) up to pop3d.read_ahead. */
static void
ahead_fill(struct pop3_session *s, size_t idx)
{
	struct pop3_ahead	*a;
	size_t			 j = s->nahead > 0 ? s->ahead[s->nahead - 1].idx : idx;
	const char		*error;

	while (s->nahead < s->env->limits.read_ahead && s->nahead < POP3_AHEAD_MAX &&
	    ++j < s->nmsgs) {
		if (s->marks[j] & POP3_MSG_DELETED)
			continue;
		a = &s->ahead[s->nahead];
		if (pop3_ahead_open(s, j, &a->ws, &error) != 0)
			continue;	/* not there by its snapshot name: RETR looks */
		a->idx = j;
		a->staged = POP3_STAGED_NONE;
		s->nahead++;
	}
}

int
pop3_ahead_open(struct pop3_session *s, size_t idx, struct wire_stream *ws, const char **error_r)
{
	int	 fd, rc;

	if ((rc = mailbox_open_known(s->mb, s->msgs[idx].uid, &fd, error_r)) != 0)
		return rc;
	pop3_ahead_stream(s, idx, fd, ws);
	return 0;
}

void
pop3_ahead_stream(struct pop3_session *s, size_t idx, int fd, struct wire_stream *ws)
{
	wire_stream_open(ws, fd, mailbox_message_fsize(s->mb, s->msgs[idx].uid), true);
	if (s->advise_left > 0) {
		s->advise_left--;
		wire_stream_advise(ws);
	}
}

void
pop3_ahead_read(struct pop3_session *s, const struct wire_stream *ws)
{
	size_t	 i;

	if (ws->advised)
		return;
	if (!ws->cold) {
		s->cold_reads = 0;
		return;
	}
	for (i = 0; i < s->nahead; i++)
		if (!s->ahead[i].ws.advised)
			wire_stream_advise(&s->ahead[i].ws);
	if (++s->cold_reads >= 2)
		s->advise_left = POP3_COLD_ADVISE;
}

/*
 * session_host_after(0): the host runs it once the round's replies are
 * flushed, so a client waiting for RETR n gets it without also waiting
 * for these opens and closes (with one client: 3 of a RETR's 8 system
 * calls).  QUIT may have handed the mailbox to its UPDATE meanwhile.
 */
void
pop3_ahead_after(void *arg)
{
	struct pop3_session	*s = arg;

	if (s->sent_fd != -1)
		close(s->sent_fd);
	s->sent_fd = -1;
	/* A lookup on the workq (pop3_retr.c) has the mailbox meanwhile. */
	if (s->ahead_due && s->state == POP3_TRANSACTION && s->mb != NULL && s->find_job == NULL) {
		ahead_fill(s, s->ahead_from);
		ahead_stage(s);
	}
	s->ahead_due = false;
	/* Kept while RETRs come in order; a session that stopped keeps no block. */
	if (s->nahead == 0 || s->ahead[0].staged == POP3_STAGED_NONE)
		buf_release(&s->staged);
}

void
pop3_ahead_drop(struct pop3_session *s)
{
	ahead_shift(s, s->nahead);
}
