/*
 * The session_host API (lib/session.h): each call goes to whichever host
 * drives the session, the event loop's (lib/session_host.c) or a test's.
 */
#include "lib/session.h"

void
session_host_kick(struct session_host *h)
{
	h->ops->kick(h);
}

void
session_host_set_timeout(struct session_host *h, unsigned long long ms)
{
	h->ops->set_timeout(h, ms);
}

void
session_host_after(struct session_host *h, unsigned long long ms, void (*cb)(void *s))
{
	h->ops->after(h, ms, cb);
}

void
session_host_submit(struct session_host *h, void (*work)(void *arg), void (*done)(void *arg),
    void *arg)
{
	h->ops->submit(h, work, done, arg);
}

bool
session_host_output_full(const struct session_host *h)
{
	return h->ops->output_full(h);
}

void
session_host_stream(struct session_host *h, session_more_fn more)
{
	h->ops->stream(h, more);
}

int
session_host_watch(struct session_host *h, int fd, void (*cb)(void *s))
{
	return h->ops->watch(h, fd, cb);
}
