/*
 * Mail in the queue for our own domains: bounces and delay warnings to
 * local senders (relay_private.h).  Delivered into the store directly, as
 * smtpd delivers: a recipient resolved on the loop (the directory is the
 * loop's), the message written once per queue recipient on the workq.  A
 * full mailbox is tried again like a 4yz, and bounces when the message
 * expires.
 */
#include "relayd/relay_private.h"

#include "lib/directory.h"
#include "lib/xmalloc.h"
#include "store/store.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOCAL_USERS_MAX	1000	/* one group's members, as smtpd.max_expansion */

struct local_rcpt {
	size_t			 i;		/* the queue recipient */
	struct store_rcpt	*targets;
	char			**maildirs;	/* owned, targets[].maildir */
	size_t			 ntargets;
	struct smtp_reply	 result;
};

struct local_job {
	struct relay_runner	*r;
	struct rmsg		*m;
	char			 path[PATH_MAX];
	struct local_rcpt	*rcpts;
	size_t			 n;
};

/* Workq: write the message into each recipient's mailboxes. */
static void
local_work(void *arg)
{
	struct local_job	*j = arg;
	struct queue_message	*body;
	const char		*err;
	char			 return_path[600];

	if ((body = queue_read(j->path, &err)) == NULL) {
		for (size_t k = 0; k < j->n; k++)
			smtp_reply_local(&j->rcpts[k].result, 451, "4.3.0", "%s", err);
		return;
	}
	snprintf(return_path, sizeof(return_path), "Return-Path: <%s>\n", j->m->sender);
	for (size_t k = 0; k < j->n; k++) {
		struct local_rcpt	*lr = &j->rcpts[k];
		struct store_delivery	*d;
		bool			 ok;

		err = "write failed";
		d = store_delivery_begin(j->r->cfg.store, lr->targets, lr->ntargets, &err);
		ok = d != NULL &&
		    store_delivery_write(d, return_path, strlen(return_path)) == 0 &&
		    store_delivery_write(d, body->data->iov_base, body->data->iov_len) == 0 &&
		    store_delivery_commit(d, &err) == 0;
		if (ok)
			smtp_reply_local(&lr->result, 250, "2.0.0", "delivered to the mailbox");
		else if (store_error_temporary())
			smtp_reply_local(&lr->result, 452, "4.2.2", "%s", err);
		else
			smtp_reply_local(&lr->result, 550, "5.2.0", "%s", err);
		store_delivery_free(&d);
	}
	queue_message_free(&body);
}

static void
local_job_free(struct local_job *j)
{
	for (size_t k = 0; k < j->n; k++) {
		for (size_t t = 0; t < j->rcpts[k].ntargets; t++)
			free(j->rcpts[k].maildirs[t]);
		free(j->rcpts[k].maildirs);
		free(j->rcpts[k].targets);
	}
	free(j->rcpts);
	free(j);
}

static void
local_done(void *arg)
{
	struct local_job	*j = arg;
	struct rmsg		*m = j->m;

	if (!runner_job_back(j->r)) {
		local_job_free(j);
		return;
	}
	for (size_t k = 0; k < j->n; k++)
		outcome_record(j->r, m, j->rcpts[k].i, &j->rcpts[k].result, NULL);
	m->jobs--;
	outcome_commit(j->r, m);
	local_job_free(j);
}

/* Recipient i to its mailboxes, or false with why it has none. */
static bool
resolve(struct relay_runner *r, const char *address, struct local_rcpt *lr,
    struct smtp_reply *why)
{
	const struct dir_user	*users[LOCAL_USERS_MAX + 1];
	size_t			 n;

	switch (directory_resolve(r->cfg.directory, address, users, LOCAL_USERS_MAX, &n)) {
	case DIR_LOCAL:
		break;
	case DIR_NOUSER:
	case DIR_REMOTE:	/* the domain went away meanwhile (a reload) */
		smtp_reply_local(why, 550, "5.1.1", "<%s>: no such user here", address);
		return false;
	case DIR_INVALID:
		smtp_reply_local(why, 550, "5.1.3", "<%s>: not an address", address);
		return false;
	}
	if (n > LOCAL_USERS_MAX) {
		smtp_reply_local(why, 550, "5.5.3", "<%s>: too many recipients", address);
		return false;
	}
	lr->targets = xcalloc(n, sizeof(*lr->targets));
	lr->maildirs = xcalloc(n, sizeof(*lr->maildirs));
	for (size_t u = 0; u < n; u++) {
		lr->maildirs[u] = directory_maildir(r->cfg.mail_root, users[u]);
		lr->targets[u] = (struct store_rcpt){ lr->maildirs[u], users[u]->quota_bytes,
		    users[u]->quota_messages };
	}
	lr->ntargets = n;
	return true;
}

bool
local_domain(const struct relay_runner *r, const char *domain)
{
	return r->cfg.directory != NULL && directory_is_local_domain(r->cfg.directory, domain);
}

void
local_start(struct relay_runner *r, struct rmsg *m, time_t now)
{
	struct local_job	*j = xcalloc(1, sizeof(*j));
	struct smtp_reply	 why;

	j->r = r;
	j->m = m;
	j->rcpts = xcalloc(m->nrcpts, sizeof(*j->rcpts));
	for (size_t i = 0; i < m->nrcpts; i++) {
		if (!rcpt_due(r, m, i, now) || !local_domain(r, rcpt_domain(m->rcpts[i].address)))
			continue;
		m->busy[i] = true;
		if (!resolve(r, m->rcpts[i].address, &j->rcpts[j->n], &why)) {
			outcome_record(r, m, i, &why, NULL);
			continue;
		}
		j->rcpts[j->n++].i = i;
	}
	if (j->n == 0) {
		local_job_free(j);
		outcome_commit(r, m);
		return;
	}
	snprintf(j->path, sizeof(j->path), "%s/active/%s", r->cfg.queue_dir, m->id);
	m->jobs++;
	runner_submit(r, local_work, local_done, j);
}
