/* How a host feeds one session: see lib/session_drive.h. */
#include "lib/session_drive.h"

#include "lib/buf.h"

#include <stdlib.h>

void
session_drive_call(struct session_drive *dr, void (*cb)(void *s))
{
	dr->depth++;
	cb(dr->s);
	dr->depth--;
}

bool
session_drive_full(const struct buf *out, size_t high)
{
	return buf_len(out) >= high;
}

void
session_drive_feed(struct session_drive *dr, struct buf *in, const struct buf *out, size_t high)
{
	size_t	 n;

	while (buf_len(in) > 0 && dr->more == NULL && !session_drive_full(out, high) &&
	    dr->ops->want(dr->s) == SESSION_READ) {
		dr->depth++;
		n = dr->ops->input(dr->s, buf_head(in), buf_len(in));
		dr->depth--;
		if (n > buf_len(in))
			abort();	/* the session claims bytes it was never given */
		if (n == 0)
			break;
		buf_consume(in, n);
	}
}

/*
 * Continue a streamed reply while there is room and the session is not
 * waiting for a job of its own (IMAP FETCH reads a batch on the workq; its
 * done kicks the host); true once none is left.
 */
static bool
produce(struct session_drive *dr, const struct buf *out, size_t high)
{
	session_more_fn	 more;
	bool		 done;

	while ((more = dr->more) != NULL && !session_drive_full(out, high) &&
	    dr->ops->want(dr->s) != SESSION_PAUSE) {
		dr->depth++;
		done = more(dr->s);
		dr->depth--;
		if (done && dr->more == more)
			dr->more = NULL;
	}
	return dr->more == NULL;
}

/* Stopping: tell a session that is between commands. */
static bool
stop_due(struct session_drive *dr)
{
	if (!dr->stop_pending || dr->stop_sent)
		return false;
	dr->stop_sent = true;
	session_drive_call(dr, dr->ops->shutdown);
	return true;
}

bool
session_drive_read(struct session_drive *dr, struct buf *in, const struct buf *out, size_t high)
{
	size_t	 held;

	if (!produce(dr, out, high))
		return false;
	if (stop_due(dr))
		return true;
	held = buf_len(in);
	session_drive_feed(dr, in, out, high);
	return buf_len(in) != held;
}
