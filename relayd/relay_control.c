/*
 * relayd's control socket (relayd.control_listen, a Unix socket only
 * root can reach): what `mailctl queue` asks of the running queue, so that
 * nothing acts on its files behind the runner's back.  One command per
 * connection, a line:
 *
 *   LIST | SHOW id | RETRY id|all | FLUSH | HOLD id | RELEASE id | DELETE id
 *
 * answered by data lines starting "* ", then "OK" or "ERR <why>", then
 * the connection closes.
 */
#include "relayd/relay_control.h"
#include "relayd/relay_private.h"

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/session.h"
#include "lib/xmalloc.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONTROL_LINE_MAX	512
#define SHOW_HEADER_MAX		(64 * 1024)

struct control_job;

struct control {
	struct session_host	*host;
	struct relay_runner	*r;
	struct buf		*out;
	char			 line[CONTROL_LINE_MAX];
	size_t			 len;
	enum session_want	 want;
	struct control_job	*job;		/* running for this session */
	char			**ids;		/* LIST: the ids when it began */
	size_t			 nids, next;
};

struct control_job {
	struct control		*c;		/* NULL once the session is gone */
	struct relay_runner	*r;
	struct rmsg		*m;
	bool			 remove;	/* DELETE, else SHOW */
	char			 path[PATH_MAX];
	char			*header;
	int			 rc;
	char			 error[256];
};

static void
say(struct control *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
say(struct control *c, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	if (buf_vprintf(c->out, fmt, ap) == -1 || buf_puts(c->out, "\n") == -1)
		c->want = SESSION_CLOSE;	/* the host's buffer: LIST streams */
	va_end(ap);
}

static void
finish(struct control *c, const char *error)
{
	if (error != NULL)
		say(c, "ERR %s", error);
	else
		say(c, "OK");
	c->want = SESSION_CLOSE;
}

static const char *
status_name(enum queue_rcpt_status s)
{
	static const char	*names[] = { "pending", "deferred", "delivered", "failed" };

	return names[s];
}

static void
list_message(struct control *c, const struct rmsg *m, time_t now)
{
	say(c, "* %s age=%llds from=<%s> rcpts=%zu%s", m->id, (long long)(now - m->arrival),
	    m->sender, m->nrcpts, queue_state_held(m->st) ? " held" : "");
	for (size_t i = 0; i < m->nrcpts; i++) {
		const struct queue_rcpt_state	*s = queue_state_rcpt(m->st, i);

		say(c, "*   <%s> %s attempts=%u next=%s%lld%s%s%s", m->rcpts[i].address,
		    status_name(s->status), s->attempts,
		    s->status == QUEUE_RCPT_DEFERRED ? "+" : "",
		    s->status == QUEUE_RCPT_DEFERRED ? (long long)(s->next_attempt - now) : 0LL,
		    s->status == QUEUE_RCPT_DEFERRED ? "s" : "",
		    s->why != NULL ? " last=" : "", s->why != NULL ? s->why : "");
	}
}

static bool
list_more(void *arg)
{
	struct control	*c = arg;
	time_t		 now = time(NULL);

	while (c->next < c->nids) {
		struct rmsg	*m = runner_find(c->r, c->ids[c->next++]);

		if (m != NULL)
			list_message(c, m, now);
		if (session_host_output_full(c->host))
			return false;
	}
	finish(c, NULL);
	return true;
}

static void
list(struct control *c)
{
	for (struct rmsg *m = c->r->msgs; m != NULL; m = m->next)
		c->nids++;
	c->ids = xcalloc(c->nids > 0 ? c->nids : 1, sizeof(*c->ids));
	c->nids = 0;
	for (struct rmsg *m = c->r->msgs; m != NULL; m = m->next)
		c->ids[c->nids++] = xstrdup(m->id);
	session_host_stream(c->host, list_more);
}

/* Deferred (or all pending) recipients of m due now. */
static void
retry(struct relay_runner *r, struct rmsg *m, time_t now)
{
	for (size_t i = 0; i < m->nrcpts; i++)
		queue_state_retry_now(m->st, i, now);
	(void)r;
}

static void
job_work(void *arg)
{
	struct control_job	*j = arg;
	const char		*err = NULL;
	struct queue_message	*qm;
	const char		*data, *end;

	if (j->remove) {
		if ((j->rc = queue_remove(j->r->queue, j->m->id, &err)) == -1)
			snprintf(j->error, sizeof(j->error), "%s", err);
		return;
	}
	if ((qm = queue_read(j->path, &err)) == NULL) {
		j->rc = -1;
		snprintf(j->error, sizeof(j->error), "%s", err);
		return;
	}
	data = qm->data->iov_base;
	end = memmem(data, qm->data->iov_len, "\n\n", 2);
	j->header = xstrndup(data, end != NULL ? (size_t)(end - data) + 1 :
	    qm->data->iov_len < SHOW_HEADER_MAX ? qm->data->iov_len : SHOW_HEADER_MAX);
	queue_message_free(&qm);
}

static void
show(struct control *c, const struct control_job *j)
{
	const struct rmsg	*m = j->m;
	char			*line, *save;

	list_message(c, m, time(NULL));
	if (m->envid != NULL)
		say(c, "* envid=%s", m->envid);
	say(c, "*");
	for (line = strtok_r(j->header, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save))
		say(c, "* %s", line);
}

static void
job_done(void *arg)
{
	struct control_job	*j = arg;
	struct control		*c = j->c;
	bool			 live = runner_job_back(j->r);

	if (live) {
		j->m->jobs--;
		if (j->remove && j->rc == 0) {
			log_info("event=queue_delete id=%s by=mailctl", j->m->id);
			runner_forget(j->r, j->m);
		} else if (j->remove) {
			j->m->finishing = false;
		}
	}
	if (c != NULL) {
		c->job = NULL;
		if (live && j->rc == 0 && !j->remove)
			show(c, j);
		finish(c, !live ? "relayd is stopping" : j->rc == 0 ? NULL : j->error);
		session_host_kick(c->host);
	}
	free(j->header);
	free(j);
}

static void
start_job(struct control *c, struct rmsg *m, bool remove)
{
	struct control_job	*j = xcalloc(1, sizeof(*j));

	j->c = c;
	j->r = c->r;
	j->m = m;
	j->remove = remove;
	snprintf(j->path, sizeof(j->path), "%s/active/%s", c->r->cfg.queue_dir, m->id);
	c->job = j;
	m->jobs++;
	if (remove)
		m->finishing = true;
	c->want = SESSION_PAUSE;
	runner_submit(c->r, job_work, job_done, j);
}

static void
run(struct control *c, char *verb, char *arg)
{
	struct rmsg	*m = arg != NULL ? runner_find(c->r, arg) : NULL;
	time_t		 now = time(NULL);

	if (strcmp(verb, "LIST") == 0 && arg == NULL)
		return list(c);
	if ((strcmp(verb, "FLUSH") == 0 && arg == NULL) ||
	    (strcmp(verb, "RETRY") == 0 && arg != NULL && strcmp(arg, "all") == 0)) {
		for (m = c->r->msgs; m != NULL; m = m->next)
			retry(c->r, m, now);
		runner_schedule(c->r);
		return finish(c, NULL);
	}
	if (strcmp(verb, "RETRY") != 0 && strcmp(verb, "SHOW") != 0 && strcmp(verb, "HOLD") != 0 &&
	    strcmp(verb, "RELEASE") != 0 && strcmp(verb, "DELETE") != 0)
		return finish(c, "unknown command");
	if (arg == NULL)
		return finish(c, "a queue id is needed");
	if (m == NULL || m->finishing)
		return finish(c, "no such message in the queue");
	if (strcmp(verb, "SHOW") == 0)
		return start_job(c, m, false);
	if (strcmp(verb, "DELETE") == 0) {
		if (m->jobs > 0 || m->committing)
			return finish(c, "being delivered now: try again in a moment");
		return start_job(c, m, true);
	}
	if (strcmp(verb, "RETRY") == 0) {
		retry(c->r, m, now);
		log_info("event=queue_retry id=%s by=mailctl", m->id);
	} else if (strcmp(verb, "HOLD") == 0) {
		outcome_hold(c->r, m, true);
		log_info("event=queue_hold id=%s by=mailctl", m->id);
	} else {
		outcome_hold(c->r, m, false);
		log_info("event=queue_release id=%s by=mailctl", m->id);
	}
	runner_schedule(c->r);
	finish(c, NULL);
}

static void
command(struct control *c)
{
	char	*verb, *arg, *save;

	c->line[c->len] = '\0';
	if ((verb = strtok_r(c->line, " \r", &save)) == NULL)
		return finish(c, "empty command");
	arg = strtok_r(NULL, " \r", &save);
	if (strtok_r(NULL, " \r", &save) != NULL)
		return finish(c, "too many arguments");
	run(c, verb, arg);
}

static void *
control_open(const struct session_peer *peer, struct buf *out, struct session_host *host,
    void *arg)
{
	struct control	*c = xcalloc(1, sizeof(*c));

	(void)peer;
	c->host = host;
	c->r = *(struct relay_runner **)arg;
	c->out = out;
	c->want = SESSION_READ;
	session_host_set_timeout(host, 10000);
	if (c->r == NULL)
		finish(c, "relayd is stopping");
	return c;
}

static size_t
control_input(void *s, const char *data, size_t len)
{
	struct control	*c = s;
	size_t		 used = 0;

	while (used < len && c->want == SESSION_READ) {
		char	ch = data[used++];

		if (ch == '\n')
			command(c);
		else if (c->len + 1 < sizeof(c->line))
			c->line[c->len++] = ch;
		else
			finish(c, "line too long");
	}
	return len;
}

static void
control_timeout(void *s)
{
	finish(s, "timed out");
}

static enum session_want
control_want(void *s)
{
	return ((struct control *)s)->want;
}

static void
control_free(void *s)
{
	struct control	*c = s;

	if (c->job != NULL)
		c->job->c = NULL;
	for (size_t i = 0; i < c->nids; i++)
		free(c->ids[i]);
	free(c->ids);
	free(c);
}

static void
control_tls_started(void *s)
{
	(void)s;
}

const struct session_ops	relay_control_ops = {
	.open = control_open,
	.input = control_input,
	.tls_started = control_tls_started,
	.timeout = control_timeout,
	.want = control_want,
	.free = control_free,
	.busy_reply = "ERR too many connections\n",
};
