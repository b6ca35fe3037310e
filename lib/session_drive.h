/*
 * The rules by which a host drives one socket-free session (lib/session.h):
 * when held input is fed, when a streamed reply continues, when a pending
 * shutdown is told.  The event loop's host (lib/session_host.c) and the unit
 * tests' double (tests/unit/host_double.c) both drive through these, so the
 * tests run the order production runs.
 */
#ifndef LIB_SESSION_DRIVE_H
#define LIB_SESSION_DRIVE_H

#include "lib/session.h"

#include <stdbool.h>
#include <stddef.h>

struct buf;

struct session_drive {
	const struct session_ops	*ops;
	void				*s;		/* NULL: not open (yet) */
	session_more_fn			 more;		/* a streamed reply in progress */
	int				 depth;		/* calls into the session on the stack */
	bool				 stop_pending;	/* stopping: ops->shutdown when between commands */
	bool				 stop_sent;	/* ops->shutdown called */
};

/* cb(dr->s), as a callback into the session: nothing settles until it returns. */
void	session_drive_call(struct session_drive *dr, void (*cb)(void *s));

/* out holds high bytes or more: the session waits until it drains. */
bool	session_drive_full(const struct buf *out, size_t high);

/*
 * Feed input held in in while the session wants to read, takes some of it,
 * streams nothing and out has room for its replies: a client pipelining
 * commands without reading the answers gets the rest processed only as it
 * reads, so output stays bounded.
 */
void	session_drive_feed(struct session_drive *dr, struct buf *in, const struct buf *out,
	    size_t high);

/*
 * One step while want() says READ: the streamed reply first (while out has
 * room), then a pending shutdown, then the input held meanwhile.  true if
 * the session moved on and want() must be asked again; false while it waits
 * for room in out or for more input.
 */
bool	session_drive_read(struct session_drive *dr, struct buf *in, const struct buf *out,
	    size_t high);

#endif
