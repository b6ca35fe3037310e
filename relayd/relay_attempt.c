/*
 * One connection's work for a destination (relay_private.h): the route,
 * then, each time the connection is ready, the next message with due
 * recipients there (its body read on the workq), until none is left.
 */
#include "relayd/relay_private.h"

#include "lib/log.h"
#include "lib/xmalloc.h"
#include "relayd/route.h"
#include "relayd/smarthost.h"
#include "relayd/tls_policy.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct load_job {
	struct attempt		*a;
	char			 path[PATH_MAX];
	struct queue_message	*body;
	const char		*error;
	char			 error_copy[256];
};

static void	next_transaction(struct attempt *a);

static bool
for_dest(const struct attempt *a, const struct rmsg *m, size_t i)
{
	return strcasecmp(rcpt_nexthop(a->r, m->rcpts[i].address), a->dest->domain) == 0;
}

/* Every due recipient of this destination gets reply (no host answered). */
static void
fail_due(struct attempt *a, const struct smtp_reply *reply)
{
	struct relay_runner	*r = a->r;
	time_t			 now = time(NULL);

	for (struct rmsg *m = r->msgs; m != NULL; m = m->next) {
		bool	touched = false;

		for (size_t i = 0; i < m->nrcpts; i++)
			if (for_dest(a, m, i) && rcpt_due(r, m, i, now)) {
				m->busy[i] = true;	/* outcome_record clears it */
				outcome_record(r, m, i, reply, NULL);
				touched = true;
			}
		if (touched)
			outcome_commit(r, m);
	}
}

static void
attempt_end(struct attempt *a)
{
	struct relay_runner	*r = a->r;

	attempt_free(a);
	runner_schedule(r);
}

static void
conn_ready(void *arg)
{
	next_transaction(arg);
}

static void
conn_rcpt_done(void *arg, size_t i, const struct smtp_reply *reply)
{
	struct attempt	*a = arg;
	struct rmsg	*m = a->msg;

	outcome_record(a->r, m, a->idx[i], reply, relay_conn_host(a->conn));
	if (++a->told < a->n)
		return;
	/* The transaction is over: its outcomes go to disk, the body goes. */
	a->msg = NULL;
	queue_message_free(&a->body);
	free(a->idx);
	free(a->crcpts);
	a->idx = NULL;
	a->crcpts = NULL;
	m->jobs--;
	outcome_commit(a->r, m);
}

static void
conn_closed(void *arg, const struct smtp_reply *why)
{
	struct attempt	*a = arg;

	/* No host was ready: this destination's due mail waits (a 5yz greeting too). */
	if (why != NULL && !a->used) {
		struct smtp_reply	later;

		if (smtp_reply_class(why) == 5)
			smtp_reply_local(&later, 451, "4.4.0", "%s", why->text);
		fail_due(a, smtp_reply_class(why) == 5 ? &later : why);
	} else if (why != NULL) {
		log_info("event=relay_closed domain=%s host=%s reason=\"%s\"", a->dest->domain,
		    relay_conn_host(a->conn), why->text);
	}
	attempt_end(a);
}

static const struct relay_conn_ops	conn_ops = { conn_ready, conn_rcpt_done, conn_closed };

static bool
has_8bit(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)p[i] > 127)
			return true;
	return false;
}

/* The transaction's envelope for smtp_client, from the message and a->idx. */
static void
build_envelope(struct attempt *a)
{
	struct rmsg		*m = a->msg;
	const struct iovec	*data = a->body->data;
	bool			 utf8 = has_8bit(m->sender, strlen(m->sender));
	uint64_t		 lines = 0;

	a->crcpts = xcalloc(a->n, sizeof(*a->crcpts));
	for (size_t k = 0; k < a->n; k++) {
		const struct queue_rcpt	*q = &m->rcpts[a->idx[k]];

		a->crcpts[k] = (struct smtp_client_rcpt){ q->address, q->notify, q->orcpt };
		utf8 |= has_8bit(q->address, strlen(q->address));
	}
	for (const char *p = data->iov_base; (p = memchr(p, '\n',
	    data->iov_len - (size_t)(p - (const char *)data->iov_base))) != NULL; p++)
		lines++;
	a->cmsg = (struct smtp_client_msg){
		.sender = m->sender, .envid = m->envid, .ret = m->ret,
		.size = data->iov_len + lines,	/* as sent: CRLF */
		.eightbit = has_8bit(data->iov_base, data->iov_len),
		.utf8_addresses = utf8, .rcpts = a->crcpts, .nrcpts = a->n,
	};
}

static void
load_work(void *arg)
{
	struct load_job	*j = arg;

	if ((j->body = queue_read(j->path, &j->error)) == NULL) {
		snprintf(j->error_copy, sizeof(j->error_copy), "%s", j->error);
		j->error = j->error_copy;
	}
}

static void
load_done(void *arg)
{
	struct load_job		*j = arg;
	struct attempt		*a = j->a;
	struct smtp_reply	 reply;
	bool			 live = runner_job_back(a->r);

	a->loading = false;
	if (!live || a->orphaned) {
		queue_message_free(&j->body);
		free(j);
		free(a);	/* attempt_free left it to us */
		return;
	}
	a->body = j->body;
	if (a->body == NULL) {
		log_warnx("event=queue_read status=failed id=%s reason=\"%s\"", a->msg->id, j->error);
		smtp_reply_local(&reply, 451, "4.3.0", "queue file unreadable: %s", j->error);
		free(j);
		for (size_t k = 0; k < a->n; k++)
			conn_rcpt_done(a, k, &reply);
		relay_conn_quit(a->conn);
		return;
	}
	free(j);
	build_envelope(a);
	/* Refused as it is (too big, 8-bit to a 7-bit server): told already. */
	if (!relay_conn_send(a->conn, &a->cmsg, a->body->data->iov_base, a->body->data->iov_len))
		next_transaction(a);
}

/* The recipients of one message due here, up to max_rcpts; false if none. */
static bool
take_rcpts(struct attempt *a, struct rmsg *m, time_t now)
{
	for (size_t i = 0; i < m->nrcpts && a->n < a->r->cfg.max_rcpts; i++) {
		if (!for_dest(a, m, i) || !rcpt_due(a->r, m, i, now))
			continue;
		a->idx = xreallocarray(a->idx, a->n + 1, sizeof(*a->idx));
		a->idx[a->n++] = i;
		m->busy[i] = true;
	}
	return a->n > 0;
}

static void
next_transaction(struct attempt *a)
{
	struct relay_runner	*r = a->r;
	struct load_job		*j;
	time_t			 now = time(NULL);

	a->used = true;
	a->n = a->told = 0;
	for (a->msg = r->msgs; a->msg != NULL; a->msg = a->msg->next)
		if (take_rcpts(a, a->msg, now))
			break;
	if (a->msg == NULL || r->stopping) {
		relay_conn_quit(a->conn);
		return;
	}
	a->msg->jobs++;
	a->loading = true;
	j = xcalloc(1, sizeof(*j));
	j->a = a;
	snprintf(j->path, sizeof(j->path), "%s/active/%s", r->cfg.queue_dir, a->msg->id);
	runner_submit(r, load_work, load_done, j);
}

static void
routed(void *arg, enum route_result result, const struct route_hop *hops, size_t n,
    const char *why)
{
	struct attempt			*a = arg;
	struct relay_runner		*r = a->r;
	struct smtp_reply		 reply;
	/*
	 * Decided again now, from the destination: a reload that added a
	 * smarthost while this lookup ran must not hand its password (and its
	 * TLS level) to the MX of the recipient's domain.
	 */
	bool				 smart = r->cfg.smarthost != NULL &&
	    strcasecmp(a->dest->domain, r->cfg.smarthost->name) == 0;
	struct relay_conn_config	 cfg = {
		.smtp = { .helo_name = r->cfg.hostname,
		    .tls = smart ? r->cfg.smarthost_tls :
		    tls_policy_get(r->cfg.tls_policy, a->dest->domain, r->cfg.tls),
		    .auth_user = smart ? r->cfg.auth_user : NULL,
		    .auth_password = smart ? r->cfg.auth_password : NULL },
		.connect_timeout_ms = (unsigned)r->cfg.connect_timeout_ms,
		.reply_timeout_max_ms = (unsigned)r->cfg.reply_timeout_ms,
	};

	cfg.tls_ctx = cfg.smtp.tls == SMTP_TLS_VERIFY ? r->cfg.tls_verify_ctx : r->cfg.tls_ctx;
	a->route = NULL;
	if (result != ROUTE_OK) {
		/* A smarthost that does not resolve is our setup's fault, not the mail's. */
		if (result == ROUTE_PERMFAIL && !smart)
			smtp_reply_local(&reply, 550, "5.1.2", "%s", why);
		else
			smtp_reply_local(&reply, 451, "4.4.3", "%s", why);
		fail_due(a, &reply);
		attempt_end(a);
		return;
	}
	a->conn = relay_conn_new(r->loop, &cfg, hops, n, &conn_ops, a);
}

void
attempt_start(struct relay_runner *r, struct rdest *dest)
{
	struct attempt		*a = xcalloc(1, sizeof(*a));
	const struct smarthost	*sh = r->cfg.smarthost;
	uint16_t		 port = sh != NULL && sh->port != 0 ? sh->port : r->cfg.port;

	a->r = r;
	a->dest = dest;
	dest->conns++;
	r->conns++;
	a->next = r->attempts;
	r->attempts = a;
	if (sh == NULL)
		a->route = route_mx(r->dns, dest->domain, r->cfg.port, routed, a);
	else if (sh->mx)
		a->route = route_mx(r->dns, sh->host, port, routed, a);
	else
		a->route = route_host(r->dns, sh->host, port, routed, a);
}

/*
 * Drop the attempt; a transaction cut short leaves its recipients busy
 * no more, with no outcome: they are due again.  A body read still on the
 * workq frees the attempt when it comes back.
 */
void
attempt_free(struct attempt *a)
{
	struct relay_runner	*r = a->r;

	for (struct attempt **p = &r->attempts; *p != NULL; p = &(*p)->next)
		if (*p == a) {
			*p = a->next;
			break;
		}
	a->dest->conns--;
	r->conns--;
	route_cancel(&a->route);
	relay_conn_free(&a->conn);
	if (a->msg != NULL) {
		for (size_t k = 0; k < a->n; k++)
			a->msg->busy[a->idx[k]] = false;
		a->msg->jobs--;
	}
	queue_message_free(&a->body);
	free(a->idx);
	free(a->crcpts);
	if (a->loading)
		a->orphaned = true;
	else
		free(a);
}
