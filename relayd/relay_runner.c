/*
 * relayd/relay_runner.h: the messages in active/ and what is due.  New
 * files are found by inotify on active/ (smtpd publishes by rename), and
 * by a rescan every scan_interval in case an event was lost; a scan reads
 * the new files on the workq.
 */
#include "relayd/relay_private.h"

#include "lib/ev.h"
#include "lib/log.h"
#include "lib/workq.h"
#include "lib/xmalloc.h"
#include "relayd/smarthost.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/inotify.h>
#include <unistd.h>

struct scan_job {
	struct relay_runner	*r;
	char			**known;	/* ids registered when the scan began */
	size_t			 nknown;
	struct queue_message	**found;
	struct queue_state	**states;
	size_t			 nfound;
};

const char *
rcpt_domain(const char *address)
{
	const char	*at = strrchr(address, '@');

	return at != NULL ? at + 1 : "";
}

const char *
rcpt_nexthop(const struct relay_runner *r, const char *address)
{
	const char	*domain = rcpt_domain(address);

	/* Our own domains never get an rdest: their mail stays here. */
	if (r->cfg.smarthost == NULL || local_domain(r, domain))
		return domain;
	return r->cfg.smarthost->name;
}

struct rdest *
runner_dest(struct relay_runner *r, const char *domain)
{
	struct rdest	*d;

	for (d = r->dests; d != NULL; d = d->next)
		if (strcasecmp(d->domain, domain) == 0)
			return d;
	d = xcalloc(1, sizeof(*d));
	d->domain = xstrdup(domain);
	for (char *p = d->domain; *p != '\0'; p++)
		*p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
	d->next = r->dests;
	r->dests = d;
	return d;
}

bool
rcpt_due(const struct relay_runner *r, const struct rmsg *m, size_t i, time_t now)
{
	const struct queue_rcpt_state	*s = queue_state_rcpt(m->st, i);

	(void)r;
	if (m->finishing || m->busy[i] || queue_state_held(m->st))
		return false;
	return s->status == QUEUE_RCPT_PENDING ||
	    (s->status == QUEUE_RCPT_DEFERRED && s->next_attempt <= now);
}

static bool
known(const struct scan_job *j, const char *id)
{
	for (size_t i = 0; i < j->nknown; i++)
		if (strcmp(j->known[i], id) == 0)
			return true;
	return false;
}

/* Workq: read the files of active/ not yet known, with their state. */
static void
scan_work(void *arg)
{
	struct scan_job	*j = arg;
	char		 path[PATH_MAX];
	const char	*err;
	DIR		*dir;
	struct dirent	*de;

	snprintf(path, sizeof(path), "%s/active", j->r->cfg.queue_dir);
	if ((dir = opendir(path)) == NULL) {
		log_warnx("event=queue_scan status=failed dir=%s reason=\"%s\"", path,
		    strerror(errno));
		return;
	}
	while ((de = readdir(dir)) != NULL) {
		struct queue_message	*m;
		struct queue_state	*st;

		if (de->d_name[0] == '.' || known(j, de->d_name))
			continue;
		snprintf(path, sizeof(path), "%s/active/%s", j->r->cfg.queue_dir, de->d_name);
		if ((m = queue_read(path, &err)) == NULL) {
			log_warnx("event=queue_read status=failed id=%s reason=\"%s\"",
			    de->d_name, err);
			continue;
		}
		if ((st = queue_state_load(j->r->queue, de->d_name, m->nrcpts, &err)) == NULL) {
			log_warnx("event=queue_state status=failed id=%s reason=\"%s\"",
			    de->d_name, err);
			queue_message_free(&m);
			continue;
		}
		j->found = xreallocarray(j->found, j->nfound + 1, sizeof(*j->found));
		j->states = xreallocarray(j->states, j->nfound + 1, sizeof(*j->states));
		j->found[j->nfound] = m;
		j->states[j->nfound++] = st;
	}
	closedir(dir);
}

/* The envelope is kept; the body is read again when it is sent. */
static void
add_message(struct relay_runner *r, struct queue_message *qm, struct queue_state *st)
{
	struct rmsg	*m = xcalloc(1, sizeof(*m));

	m->id = xstrdup(qm->id);
	m->sender = xstrdup(qm->sender);
	m->envid = qm->envid != NULL ? xstrdup(qm->envid) : NULL;
	m->ret = qm->ret;
	m->arrival = qm->arrival;
	m->nrcpts = qm->nrcpts;
	m->rcpts = xcalloc(qm->nrcpts, sizeof(*m->rcpts));
	for (size_t i = 0; i < qm->nrcpts; i++) {
		m->rcpts[i].address = xstrdup(qm->rcpts[i].address);
		m->rcpts[i].notify = qm->rcpts[i].notify;
		m->rcpts[i].orcpt = qm->rcpts[i].orcpt != NULL ? xstrdup(qm->rcpts[i].orcpt) : NULL;
	}
	m->busy = xcalloc(qm->nrcpts, sizeof(*m->busy));
	m->st = st;
	m->next = r->msgs;
	r->msgs = m;
	log_info("event=queue_add id=%s from=<%s> nrcpt=%zu", m->id, m->sender, m->nrcpts);
}

static void	scan(struct relay_runner *r);
static void	runner_destroy(struct relay_runner *r);

void
runner_submit(struct relay_runner *r, void (*work)(void *), void (*done)(void *), void *arg)
{
	r->jobs++;
	workq_submit(r->wq, work, done, arg);
}

bool
runner_job_back(struct relay_runner *r)
{
	r->jobs--;
	if (!r->stopping)
		return true;
	if (r->jobs == 0)
		runner_destroy(r);
	return false;
}

static void
scan_done(void *arg)
{
	struct scan_job		*j = arg;
	struct relay_runner	*r = j->r;
	bool			 live = runner_job_back(r);

	for (size_t i = 0; i < j->nfound; i++) {
		if (live)
			add_message(r, j->found[i], j->states[i]);
		else
			queue_state_free(&j->states[i]);
		queue_message_free(&j->found[i]);
	}
	for (size_t i = 0; i < j->nknown; i++)
		free(j->known[i]);
	free(j->known);
	free(j->found);
	free(j->states);
	free(j);
	if (!live)
		return;
	r->scanning = false;
	/* Every outcome final, but a crash came before the bounce or removal. */
	for (struct rmsg *m = r->msgs; m != NULL; m = m->next)
		if (queue_state_done(m->st) && !m->finishing && m->jobs == 0)
			outcome_commit(r, m);
	if (r->scan_again) {
		r->scan_again = false;
		scan(r);
	}
	runner_schedule(r);
}

static void
scan(struct relay_runner *r)
{
	struct scan_job	*j;
	size_t		 n = 0;

	if (r->scanning) {
		r->scan_again = true;
		return;
	}
	j = xcalloc(1, sizeof(*j));
	j->r = r;
	for (struct rmsg *m = r->msgs; m != NULL; m = m->next)
		n++;
	j->known = xcalloc(n > 0 ? n : 1, sizeof(*j->known));
	for (struct rmsg *m = r->msgs; m != NULL; m = m->next)
		j->known[j->nknown++] = xstrdup(m->id);
	r->scanning = true;
	runner_submit(r, scan_work, scan_done, j);
}

struct rmsg *
runner_find(struct relay_runner *r, const char *id)
{
	for (struct rmsg *m = r->msgs; m != NULL; m = m->next)
		if (strcmp(m->id, id) == 0)
			return m;
	return NULL;
}

void
runner_forget(struct relay_runner *r, struct rmsg *m)
{
	for (struct rmsg **p = &r->msgs; *p != NULL; p = &(*p)->next)
		if (*p == m) {
			*p = m->next;
			break;
		}
	for (size_t i = 0; i < m->nrcpts; i++) {
		free((char *)m->rcpts[i].address);
		free((char *)m->rcpts[i].orcpt);
	}
	free(m->rcpts);
	free(m->busy);
	queue_state_free(&m->st);
	free(m->id);
	free(m->sender);
	free(m->envid);
	free(m);
}

/*
 * Count each destination's messages with a due recipient, in one pass: this
 * runs after every outcome, so a pass per destination (or per recipient)
 * made draining a queue of n messages to one domain cost n^2 per outcome.
 */
static void
count_due(struct relay_runner *r, time_t now)
{
	for (struct rdest *d = r->dests; d != NULL; d = d->next) {
		d->due = 0;
		d->counted = NULL;
	}
	for (struct rmsg *m = r->msgs; m != NULL; m = m->next)
		for (size_t i = 0; i < m->nrcpts; i++) {
			const char	*domain = rcpt_domain(m->rcpts[i].address);
			struct rdest	*d;

			if (!rcpt_due(r, m, i, now) || local_domain(r, domain))
				continue;
			d = runner_dest(r, rcpt_nexthop(r, m->rcpts[i].address));
			if (d->counted != m) {		/* each message once */
				d->counted = m;
				d->due++;
			}
		}
}

/* Connections up to the limits, destinations in queue order. */
static void
start_due(struct relay_runner *r, time_t now)
{
	count_due(r, now);
	for (struct rmsg *m = r->msgs; m != NULL; m = m->next)
		for (size_t i = 0; i < m->nrcpts && r->conns < r->cfg.max_connections; i++) {
			const char	*domain;
			struct rdest	*d;
			unsigned	 want;

			if (!rcpt_due(r, m, i, now))
				continue;
			domain = rcpt_domain(m->rcpts[i].address);
			if (local_domain(r, domain)) {
				local_start(r, m, now);		/* all of m's local ones */
				continue;
			}
			d = runner_dest(r, rcpt_nexthop(r, m->rcpts[i].address));
			want = d->due < r->cfg.max_per_destination ? d->due :
			    r->cfg.max_per_destination;
			while (d->conns < want && r->conns < r->cfg.max_connections)
				attempt_start(r, d);
		}
}

/* When the next deferred recipient is due, in seconds from now (-1: none). */
static long
next_due(struct relay_runner *r, time_t now)
{
	long	best = -1;

	for (struct rmsg *m = r->msgs; m != NULL; m = m->next)
		for (size_t i = 0; i < m->nrcpts; i++) {
			const struct queue_rcpt_state	*s = queue_state_rcpt(m->st, i);
			long				 in = (long)(s->next_attempt - now);

			if (s->status != QUEUE_RCPT_DEFERRED || m->busy[i] || in <= 0)
				continue;
			if (best == -1 || in < best)
				best = in;
		}
	return best;
}

void
runner_schedule(struct relay_runner *r)
{
	time_t	now = time(NULL);
	long	in;

	if (r->stopping)
		return;
	start_due(r, now);
	if ((in = next_due(r, now)) >= 0)
		ev_timer_set(r->wake, (uint64_t)in * 1000);
	else
		ev_timer_stop(r->wake);
}

static void
wake_due(void *arg)
{
	runner_schedule(arg);
}

static void
rescan_due(void *arg)
{
	struct relay_runner	*r = arg;

	scan(r);
	ev_timer_set(r->rescan, r->cfg.scan_interval_ms);
}

static void
active_changed(int fd, unsigned events, void *arg)
{
	char	buf[4096];

	(void)events;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	scan(arg);
}

struct relay_runner *
relay_runner_new(struct ev_loop *loop, struct workq *wq, struct queue *queue,
    struct dns *dns, const struct relay_runner_config *cfg)
{
	struct relay_runner	*r = xcalloc(1, sizeof(*r));
	char			 path[PATH_MAX];

	r->loop = loop;
	r->wq = wq;
	r->queue = queue;
	r->dns = dns;
	r->cfg = *cfg;
	r->cfg.queue_dir = xstrdup(cfg->queue_dir);	/* the config goes on reload */
	r->cfg.mail_root = xstrdup(cfg->mail_root);
	snprintf(path, sizeof(path), "%s/active", cfg->queue_dir);
	/* Without inotify (instances used up), new mail waits for the rescan. */
	if ((r->notify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1 ||
	    inotify_add_watch(r->notify_fd, path, IN_MOVED_TO | IN_CLOSE_WRITE) == -1) {
		log_warnx("event=queue_watch status=failed dir=%s reason=\"%s\" rescan=%llums",
		    path, strerror(errno), (unsigned long long)cfg->scan_interval_ms);
		if (r->notify_fd != -1)
			close(r->notify_fd);
		r->notify_fd = -1;
	} else {
		r->notify_io = ev_io_add(loop, r->notify_fd, EV_READ, active_changed, r);
	}
	r->wake = ev_timer_new(loop, wake_due, r);
	r->rescan = ev_timer_new(loop, rescan_due, r);
	ev_timer_set(r->rescan, cfg->scan_interval_ms);
	scan(r);
	return r;
}

void
relay_runner_configure(struct relay_runner *r, const struct relay_runner_config *cfg)
{
	const char	*queue_dir, *mail_root;

	if (r == NULL)
		return;
	queue_dir = r->cfg.queue_dir;
	mail_root = r->cfg.mail_root;
	r->cfg = *cfg;
	r->cfg.queue_dir = queue_dir;	/* a new path needs a restart */
	r->cfg.mail_root = mail_root;
	runner_schedule(r);
}

static void
runner_destroy(struct relay_runner *r)
{
	while (r->msgs != NULL)
		runner_forget(r, r->msgs);
	while (r->dests != NULL) {
		struct rdest	*d = r->dests;

		r->dests = d->next;
		free(d->domain);
		free(d);
	}
	free((char *)r->cfg.queue_dir);
	free((char *)r->cfg.mail_root);
	free(r);
}

void
relay_runner_free(struct relay_runner **rp)
{
	struct relay_runner	*r = *rp;

	if (r == NULL)
		return;
	*rp = NULL;
	r->stopping = true;
	ev_io_del(&r->notify_io);
	if (r->notify_fd != -1)
		close(r->notify_fd);
	ev_timer_free(&r->wake);
	ev_timer_free(&r->rescan);
	while (r->attempts != NULL)
		attempt_free(r->attempts);
	/* A job still on the workq comes back to r: the last one frees it. */
	if (r->jobs == 0)
		runner_destroy(r);
}
