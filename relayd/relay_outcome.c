/*
 * What becomes of a recipient after an attempt (relay_private.h): 2yz
 * delivered, 5yz failed, 4yz tried again after a back-off until the
 * message's lifetime is over.  Outcomes are written to the state log
 * (one commit per message at a time: outcomes arriving meanwhile wait in
 * m->later), and only once durable acted on: a message with every
 * recipient final bounces its failures to the sender and leaves the
 * queue; one waiting long warns its sender once.
 */
#include "relayd/relay_private.h"

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/xmalloc.h"
#include "mail/dsn.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct commit_job {
	struct relay_runner	*r;
	struct rmsg		*m;
	int			 rc;
	char			 error[256];
};

/* A DSN to m's sender, then (finish) m's removal: all on the workq. */
struct dsn_job {
	struct relay_runner	*r;
	struct rmsg		*m;
	enum dsn_action		 action;
	bool			 finish;
	char			 path[PATH_MAX];
	char			 error[256];
	int			 rc;
};

/* Doubling from min_backoff, at most max_backoff, 0.8 to 1.2 of it. */
static time_t
backoff(const struct relay_runner *r, unsigned attempts)
{
	uint64_t	ms = r->cfg.min_backoff_ms;

	for (unsigned i = 1; i < attempts && ms < r->cfg.max_backoff_ms; i++)
		ms *= 2;
	if (ms > r->cfg.max_backoff_ms)
		ms = r->cfg.max_backoff_ms;
	ms = ms * (80 + arc4random_uniform(41)) / 100;
	return (time_t)((ms + 999) / 1000);
}

static void
apply(struct rmsg *m, size_t i, enum queue_rcpt_status status, time_t now, time_t next,
    const char *host, const char *why)
{
	queue_state_set(m->st, i, status, now, next, host, why);
	m->busy[i] = false;
}

void
outcome_record(struct relay_runner *r, struct rmsg *m, size_t i,
    const struct smtp_reply *reply, const char *host)
{
	time_t			 now = time(NULL), next = 0;
	enum queue_rcpt_status	 status;
	char			 why[SMTP_REPLY_TEXT_MAX + 64];
	int			 class = smtp_reply_class(reply);

	snprintf(why, sizeof(why), "%d %s", reply->code, reply->text);
	if (class == 2) {
		status = QUEUE_RCPT_DELIVERED;
	} else if (class == 5) {
		status = QUEUE_RCPT_FAILED;
	} else if ((uint64_t)(now - m->arrival) * 1000 >= r->cfg.max_lifetime_ms) {
		status = QUEUE_RCPT_FAILED;
		unsigned long long	age = (unsigned long long)(now - m->arrival);

		snprintf(why, sizeof(why), "%d 4.4.7 expired after %llu %s; last reply: %d %s",
		    reply->code, age >= 3600 ? age / 3600 : age, age >= 3600 ? "hours" : "seconds",
		    reply->code, reply->text);
	} else {
		status = QUEUE_RCPT_DEFERRED;
		next = now + backoff(r, queue_state_rcpt(m->st, i)->attempts + 1);
	}
	log_info("event=relay_rcpt id=%s rcpt=<%s> status=%s host=%s attempt=%u reply=\"%s\"",
	    m->id, m->rcpts[i].address, status == QUEUE_RCPT_DELIVERED ? "delivered" :
	    status == QUEUE_RCPT_FAILED ? "failed" : "deferred", host != NULL ? host : "-",
	    queue_state_rcpt(m->st, i)->attempts + 1, why);
	if (!m->committing) {
		apply(m, i, status, now, next, host, why);
		return;
	}
	m->later = xreallocarray(m->later, m->nlater + 1, sizeof(*m->later));
	m->later[m->nlater++] = (struct outcome){ OUTCOME_RCPT, i, status, now, next,
	    host != NULL ? xstrdup(host) : NULL, xstrdup(why) };
}

void
outcome_hold(struct relay_runner *r, struct rmsg *m, bool held)
{
	if (m->committing) {
		m->later = xreallocarray(m->later, m->nlater + 1, sizeof(*m->later));
		m->later[m->nlater++] = (struct outcome){ .kind = held ? OUTCOME_HOLD :
		    OUTCOME_RELEASE };
		return;
	}
	queue_state_hold(m->st, held);
	outcome_commit(r, m);
}

/* "550 5.1.1 text": its status code, or the class's x.0.0. */
static void
status_of(const char *why, char *out, size_t size)
{
	const char	*p = strlen(why) > 4 ? why + 4 : "";
	size_t		 n = strspn(p, "0123456789.");

	if (n >= 5 && n < size && p[1] == '.' && (p[n] == ' ' || p[n] == '\0')) {
		memcpy(out, p, n);
		out[n] = '\0';
	} else {
		snprintf(out, size, "%c.0.0", why[0] == '2' ? '2' : why[0] == '5' ? '5' : '4');
	}
}

/* The DSN's recipients: failed ones (a bounce) or deferred ones (a warning). */
static size_t
dsn_rcpts(const struct rmsg *m, enum dsn_action action, struct dsn_rcpt *out, char (*status)[16])
{
	size_t	n = 0;

	for (size_t i = 0; i < m->nrcpts; i++) {
		const struct queue_rcpt_state	*s = queue_state_rcpt(m->st, i);
		unsigned			 notify = m->rcpts[i].notify;
		bool				 wanted = action == DSN_ACTION_FAILED ?
		    s->status == QUEUE_RCPT_FAILED && (notify == 0 || notify & DSN_NOTIFY_FAILURE) :
		    s->status == QUEUE_RCPT_DEFERRED && (notify == 0 || notify & DSN_NOTIFY_DELAY);

		if (!wanted)
			continue;
		status_of(s->why != NULL ? s->why : "400", status[n], sizeof(status[n]));
		out[n] = (struct dsn_rcpt){ m->rcpts[i].address, m->rcpts[i].orcpt, status[n],
		    s->host, s->why, s->last_attempt };
		n++;
	}
	return n;
}

/* Workq: the report into the queue as a message of its own, from <>. */
static int
queue_dsn(struct dsn_job *j, const char **error_r)
{
	struct relay_runner	*r = j->r;
	struct rmsg		*m = j->m;
	struct dsn_rcpt		*rcpts = xcalloc(m->nrcpts, sizeof(*rcpts));
	char			(*status)[16] = xcalloc(m->nrcpts, sizeof(*status));
	char			 id[64], from[300];
	struct queue_message	*orig;
	struct buf		*b;
	struct queue_entry	*e;
	size_t			 n;
	int			 rc = -1;

	if ((n = dsn_rcpts(m, j->action, rcpts, status)) == 0) {
		rc = 0;		/* nobody asked for one (NOTIFY=NEVER, or SUCCESS only) */
		goto out;
	}
	if ((orig = queue_read(j->path, error_r)) == NULL)
		goto out;
	snprintf(id, sizeof(id), "%s%c", m->id, j->action == DSN_ACTION_FAILED ? 'b' : 'd');
	snprintf(from, sizeof(from), "MAILER-DAEMON@%s", r->cfg.hostname);
	b = buf_new(orig->data->iov_len + 64 * 1024);
	dsn_report_write(&(struct dsn_report){
		.action = j->action, .id = id, .reporting_mta = r->cfg.hostname, .from = from,
		.to = m->sender, .envid = m->envid, .arrival = m->arrival, .now = time(NULL),
		.retry_until = m->arrival + (time_t)(r->cfg.max_lifetime_ms / 1000), .ret = m->ret,
		.rcpts = rcpts, .nrcpts = n,
		.message = orig->data->iov_base, .message_len = orig->data->iov_len,
		.return_max = r->cfg.bounce_size_limit }, b);
	rc = queue_prepare(r->queue, &(struct queue_message){
		.id = id, .sender = "", .arrival = time(NULL),
		.rcpts = &(struct queue_rcpt){ m->sender, DSN_NOTIFY_NEVER, NULL }, .nrcpts = 1,
		.data = &(struct iovec){ (void *)buf_head(b), buf_len(b) }, .ndata = 1 }, &e, error_r);
	if (rc == 0)
		rc = queue_publish(&e, error_r);
	buf_free(&b);
	queue_message_free(&orig);
out:
	free(rcpts);
	free(status);
	return rc;
}

static void
dsn_work(void *arg)
{
	struct dsn_job	*j = arg;
	const char	*err = NULL;
	unsigned	 flag = j->action == DSN_ACTION_FAILED ? QUEUE_FLAG_BOUNCED : QUEUE_FLAG_WARNED;

	j->rc = 0;
	/* Never to <> (no loops), once per kind (a crash may bring us here again). */
	if (!(queue_state_flags(j->m->st) & flag) && j->m->sender[0] != '\0' &&
	    (j->rc = queue_dsn(j, &err)) == 0) {
		queue_state_flag(j->m->st, flag);
		j->rc = queue_state_commit(j->m->st, &err);
	}
	if (j->rc == 0 && j->finish)
		j->rc = queue_remove(j->r->queue, j->m->id, &err);
	if (j->rc != 0)
		snprintf(j->error, sizeof(j->error), "%s", err != NULL ? err : "unknown");
}

static void	act(struct relay_runner *r, struct rmsg *m);

static void
dsn_done(void *arg)
{
	struct dsn_job		*j = arg;
	struct relay_runner	*r = j->r;
	struct rmsg		*m = j->m;

	if (!runner_job_back(r)) {
		free(j);
		return;
	}
	m->jobs--;
	m->committing = false;
	if (j->rc != 0) {
		/* Left as it is: the next start (or outcome) tries again. */
		log_warnx("event=relay_dsn status=failed id=%s reason=\"%s\"", m->id, j->error);
	} else if (j->finish) {
		log_info("event=queue_remove id=%s", m->id);
		runner_forget(r, m);
		free(j);
		return;
	}
	free(j);
	m->finishing = false;
}

static bool
has_status(const struct rmsg *m, enum queue_rcpt_status status)
{
	for (size_t i = 0; i < m->nrcpts; i++)
		if (queue_state_rcpt(m->st, i)->status == status)
			return true;
	return false;
}

static void
start_dsn(struct relay_runner *r, struct rmsg *m, enum dsn_action action, bool finish)
{
	struct dsn_job	*j = xcalloc(1, sizeof(*j));

	j->r = r;
	j->m = m;
	j->action = action;
	j->finish = finish;
	snprintf(j->path, sizeof(j->path), "%s/active/%s", r->cfg.queue_dir, m->id);
	m->jobs++;
	m->committing = true;	/* the job writes st */
	m->finishing = finish;
	runner_submit(r, dsn_work, dsn_done, j);
}

/* Outcomes durable: finish a message that is done, warn about one that waits. */
static void
act(struct relay_runner *r, struct rmsg *m)
{
	time_t	now = time(NULL);

	if (m->finishing || m->committing)
		return;
	if (queue_state_done(m->st))
		start_dsn(r, m, DSN_ACTION_FAILED, true);
	else if (r->cfg.delay_warning_ms > 0 && !(queue_state_flags(m->st) & QUEUE_FLAG_WARNED) &&
	    (uint64_t)(now - m->arrival) * 1000 >= r->cfg.delay_warning_ms &&
	    has_status(m, QUEUE_RCPT_DEFERRED) && m->sender[0] != '\0')
		start_dsn(r, m, DSN_ACTION_DELAYED, false);
}

static void
commit_work(void *arg)
{
	struct commit_job	*j = arg;
	const char		*err;

	if ((j->rc = queue_state_commit(j->m->st, &err)) == -1)
		snprintf(j->error, sizeof(j->error), "%s", err);
}

static void
commit_done(void *arg)
{
	struct commit_job	*j = arg;
	struct relay_runner	*r = j->r;
	struct rmsg		*m = j->m;
	bool			 more;

	if (!runner_job_back(r)) {
		free(j);
		return;
	}
	m->jobs--;
	m->committing = false;
	if (j->rc == -1)
		log_warnx("event=queue_state status=failed id=%s reason=\"%s\"", m->id, j->error);
	free(j);
	more = m->nlater > 0;
	for (size_t k = 0; k < m->nlater; k++) {
		struct outcome	*o = &m->later[k];

		if (o->kind == OUTCOME_RCPT)
			apply(m, o->rcpt, o->status, o->now, o->next, o->host, o->why);
		else
			queue_state_hold(m->st, o->kind == OUTCOME_HOLD);
		free(o->host);
		free(o->why);
	}
	free(m->later);
	m->later = NULL;
	m->nlater = 0;
	if (more)
		outcome_commit(r, m);
	else
		act(r, m);
	runner_schedule(r);
}

void
outcome_commit(struct relay_runner *r, struct rmsg *m)
{
	struct commit_job	*j;

	if (m->committing)
		return;		/* commit_done commits what came meanwhile */
	j = xcalloc(1, sizeof(*j));
	j->r = r;
	j->m = m;
	m->committing = true;
	m->jobs++;
	runner_submit(r, commit_work, commit_done, j);
}
