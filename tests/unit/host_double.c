/*
 * The session host double (host_double.h).  Its settle() drives the
 * session through lib/session_drive, as lib/session_host.c's host_settle()
 * does: the tests run the order production runs.
 */
#include "tests/unit/host_double.h"

#include "lib/buf.h"
#include "lib/session_drive.h"
#include "lib/xmalloc.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define DOUBLE_INPUT_MAX	(64 * 1024 * 1024)

struct double_job {
	struct double_job	*next;
	void			(*work)(void *);
	void			(*done)(void *);
	void			*arg;
};

struct host_double {
	struct session_host		 base;
	struct session_drive		 dr;
	struct session_peer		*peer;
	struct buf			*in, *out;
	size_t				 high;
	uint64_t			 now;
	uint64_t			 deadline;	/* 0: none */
	uint64_t			 after_at;
	void				(*after_cb)(void *s);
	void				(*watch_cb)(void *s);
	struct double_job		*jobs, **jobs_tail;
	size_t				 njobs;
	bool				 kicked;
	bool				 closed;	/* want() said CLOSE */
};

static struct host_double *
double_of(const struct session_host *base)
{
	return (struct host_double *)((char *)base - offsetof(struct host_double, base));
}

static bool
output_full(const struct host_double *d)
{
	return session_drive_full(d->out, d->high);
}

static void
settle(struct host_double *d)
{
	enum session_want	 w;

	if (d->dr.depth > 0 || d->dr.s == NULL || d->closed)
		return;
	for (;;) {
		w = d->dr.ops->want(d->dr.s);
		if (w == SESSION_READ) {
			if (session_drive_read(&d->dr, d->in, d->out, d->high))
				continue;
		} else if (w == SESSION_STARTTLS)
			buf_reset(d->in);	/* plaintext before the handshake: never commands */
		else if (w == SESSION_CLOSE)
			d->closed = true;
		break;
	}
}

/* ---- the API the session sees ---- */

static void
api_kick(struct session_host *base)
{
	double_of(base)->kicked = true;
}

static void
api_set_timeout(struct session_host *base, unsigned long long ms)
{
	struct host_double	*d = double_of(base);

	d->deadline = ms > 0 ? d->now + ms : 0;
}

static void
api_after(struct session_host *base, unsigned long long ms, void (*cb)(void *s))
{
	struct host_double	*d = double_of(base);

	d->after_cb = cb;
	d->after_at = d->now + ms;
}

static void
api_submit(struct session_host *base, void (*work)(void *), void (*done)(void *), void *arg)
{
	struct host_double	*d = double_of(base);
	struct double_job	*j = xcalloc(1, sizeof(*j));

	j->work = work;
	j->done = done;
	j->arg = arg;
	*d->jobs_tail = j;
	d->jobs_tail = &j->next;
	d->njobs++;
}

static bool
api_output_full(const struct session_host *base)
{
	return output_full(double_of(base));
}

static void
api_stream(struct session_host *base, session_more_fn more)
{
	double_of(base)->dr.more = more;
}

static int
api_watch(struct session_host *base, int fd, void (*cb)(void *s))
{
	struct host_double	*d = double_of(base);

	/* No descriptor is polled: the test says when it is readable. */
	d->watch_cb = fd != -1 ? cb : NULL;
	return 0;
}

static const struct session_host_ops double_api = {
	.kick		= api_kick,
	.set_timeout	= api_set_timeout,
	.after		= api_after,
	.submit		= api_submit,
	.output_full	= api_output_full,
	.stream		= api_stream,
	.watch		= api_watch,
};

/* ---- what the test does ---- */

struct host_double *
host_double_new(size_t out_max)
{
	struct host_double	*d = xcalloc(1, sizeof(*d));

	d->base.ops = &double_api;
	d->in = buf_new(DOUBLE_INPUT_MAX);
	d->out = buf_new(out_max);
	d->high = out_max / 4;
	d->jobs_tail = &d->jobs;
	return d;
}

static bool
run_one_job(struct host_double *d)
{
	struct double_job	*j = d->jobs;

	if (j == NULL)
		return false;
	if ((d->jobs = j->next) == NULL)
		d->jobs_tail = &d->jobs;
	d->njobs--;
	j->work(j->arg);
	if (j->done != NULL)
		j->done(j->arg);
	free(j);
	return true;
}

void
host_double_free(struct host_double **dp)
{
	struct host_double	*d = *dp;

	if (d == NULL)
		return;
	if (d->dr.s != NULL)
		d->dr.ops->free(d->dr.s);
	d->dr.s = NULL;
	while (run_one_job(d))
		;
	buf_free(&d->in);
	buf_free(&d->out);
	free(d);
	*dp = NULL;
}

void *
host_double_open(struct host_double *d, const struct session_ops *ops,
    struct session_peer *peer, void *arg)
{
	d->dr.ops = ops;
	d->peer = peer;
	d->dr.depth++;
	d->dr.s = ops->open(peer, d->out, &d->base, arg);
	d->dr.depth--;
	settle(d);
	return d->dr.s;
}

struct buf *
host_double_output(struct host_double *d)
{
	return d->out;
}

struct session_host *
host_double_host(struct host_double *d)
{
	return &d->base;
}

size_t
host_double_input(struct host_double *d, const void *data, size_t len)
{
	if (d->closed)
		return 0;	/* the connection is going: nothing more is read */
	if (buf_append(d->in, data, len) == -1)
		abort();
	settle(d);
	return len;
}

/* One thing that was due; false when nothing was. */
static bool
run_once(struct host_double *d)
{
	void	(*cb)(void *s);

	if (run_one_job(d)) {
		settle(d);
		return true;
	}
	if (d->after_cb != NULL && d->after_at <= d->now) {
		cb = d->after_cb;
		d->after_cb = NULL;
		session_drive_call(&d->dr, cb);
		settle(d);
		return true;
	}
	if (d->kicked) {
		d->kicked = false;
		settle(d);
		return true;
	}
	return false;
}

void
host_double_run(struct host_double *d)
{
	if (d->dr.s == NULL)
		return;
	settle(d);
	while (run_once(d))
		;
}

bool
host_double_run_job(struct host_double *d)
{
	if (d->dr.s == NULL || !run_one_job(d))
		return false;
	settle(d);
	return true;
}

void
host_double_read(struct host_double *d, struct buf *got)
{
	if (got != NULL && buf_append(got, buf_head(d->out), buf_len(d->out)) == -1)
		abort();
	buf_reset(d->out);
	host_double_run(d);
}

void
host_double_pump(struct host_double *d, struct buf *got)
{
	host_double_run(d);
	while (buf_len(d->out) > 0)
		host_double_read(d, got);
}

void
host_double_advance(struct host_double *d, uint64_t ms)
{
	d->now += ms;
	if (d->dr.s != NULL && !d->closed && d->deadline != 0 && d->deadline <= d->now) {
		d->deadline = 0;
		d->dr.more = NULL;		/* as the loop's host: the session ends its stream */
		session_drive_call(&d->dr, d->dr.ops->timeout);
		settle(d);
	}
	host_double_run(d);
}

uint64_t
host_double_now(const struct host_double *d)
{
	return d->now;
}

uint64_t
host_double_deadline(const struct host_double *d)
{
	return d->deadline > 0 ? d->deadline - d->now : 0;
}

void
host_double_shutdown(struct host_double *d)
{
	d->dr.stop_pending = d->dr.ops->shutdown != NULL;
	d->kicked = true;
	host_double_run(d);
}

void
host_double_tls(struct host_double *d)
{
	if (d->dr.s == NULL || d->dr.ops->want(d->dr.s) != SESSION_STARTTLS)
		return;
	buf_reset(d->in);
	d->peer->tls = true;
	session_drive_call(&d->dr, d->dr.ops->tls_started);
	host_double_run(d);
}

size_t
host_double_held(const struct host_double *d)
{
	return buf_len(d->in);
}

size_t
host_double_jobs(const struct host_double *d)
{
	return d->njobs;
}

bool
host_double_streaming(const struct host_double *d)
{
	return d->dr.more != NULL;
}

enum session_want
host_double_want(struct host_double *d)
{
	return d->dr.ops->want(d->dr.s);
}

void
host_double_readable(struct host_double *d)
{
	if (d->watch_cb == NULL || d->dr.s == NULL)
		return;
	session_drive_call(&d->dr, d->watch_cb);
	settle(d);
	host_double_run(d);
}
