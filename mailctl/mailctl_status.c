/*
 * mailctl status: what runs and how it is doing, from what the daemons
 * publish in <state_dir>/run/<daemon>.status (lib/daemon_status.h), the
 * queue as relayd's control socket lists it (mailctl queue list), and the
 * certificate's expiry read from the file.  A status file is trusted only
 * while its pid is alive and still called after the daemon: one left by a
 * kill -9 reads "not running".
 */
#include "mailctl/mailctl.h"

#include "lib/settings.h"
#include "lib/textfile.h"
#include "lib/xmalloc.h"

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STATUS_LINE_MAX		8192
#define STATUS_KINDS_MAX	8	/* lib/daemon_status.c's */
#define STATUS_TEXT_MAX		256	/* longer addresses or reasons are cut */

static const char *const daemon_names[] = { "smtpd", "pop3d", "imapd", "relayd" };

/* A status file, as read. */
struct daemon_state {
	long long	 pid;
	long long	 started;
	long long	 workers;
	struct {
		char		 name[32];
		char		 listen[STATUS_TEXT_MAX];
		long long	 connections;
	}		 kinds[STATUS_KINDS_MAX];
	unsigned	 nkinds;
	long long	 reload_time;
	char		 reload_status[16];
	char		 reload_reason[STATUS_TEXT_MAX];
};

struct queue_count {
	unsigned	 messages;
	unsigned	 deferred;
	unsigned	 held;
	bool		 this_deferred;	/* the current message has a deferred recipient */
};

static const char *
utc(time_t t, char buf[32])
{
	struct tm	 tm;

	gmtime_r(&t, &tm);
	strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

int
ctl_cert_expiry(const char *path, time_t *expires_r)
{
	struct tm	 tm;
	X509		*x;
	BIO		*bio;
	int		 rc = -1;

	if ((bio = BIO_new_file(path, "r")) == NULL)
		return -1;
	if ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL &&
	    ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1) {
		*expires_r = timegm(&tm);
		rc = 0;
	}
	X509_free(x);
	BIO_free(bio);
	return rc;
}

/* The index of the listener kind called name, added if new; STATUS_KINDS_MAX when full. */
static unsigned
state_kind(struct daemon_state *st, const char *name)
{
	unsigned	 k;

	for (k = 0; k < st->nkinds; k++)
		if (strcmp(st->kinds[k].name, name) == 0)
			return k;
	if (k < STATUS_KINDS_MAX)
		snprintf(st->kinds[st->nkinds++].name, sizeof(st->kinds[k].name), "%s", name);
	return k;
}

static void
status_line(void *arg, unsigned lineno, char *line, const char *why)
{
	struct daemon_state	*st = arg;
	char			*value;
	unsigned		 k;

	(void)lineno;
	(void)why;
	if (line == NULL || (value = strchr(line, '=')) == NULL)
		return;
	*value++ = '\0';
	if (strcmp(line, "pid") == 0)
		st->pid = atoll(value);
	else if (strcmp(line, "started") == 0)
		st->started = atoll(value);
	else if (strcmp(line, "workers") == 0)
		st->workers = atoll(value);
	else if (strcmp(line, "reload_time") == 0)
		st->reload_time = atoll(value);
	else if (strcmp(line, "reload_status") == 0)
		snprintf(st->reload_status, sizeof(st->reload_status), "%s", value);
	else if (strcmp(line, "reload_reason") == 0)
		snprintf(st->reload_reason, sizeof(st->reload_reason), "%s", value);
	else if (strncmp(line, "listen.", 7) == 0 &&
	    (k = state_kind(st, line + 7)) < STATUS_KINDS_MAX)
		snprintf(st->kinds[k].listen, sizeof(st->kinds[k].listen), "%s", value);
	else if (strncmp(line, "connections.", 12) == 0 &&
	    (k = state_kind(st, line + 12)) < STATUS_KINDS_MAX)
		st->kinds[k].connections = atoll(value);
}

static void
print_state(const char *name, const struct daemon_state *st)
{
	char		 t[32];
	unsigned	 k;

	printf("%s: running pid=%lld since=%s workers=%lld\n", name, st->pid,
	    utc((time_t)st->started, t), st->workers);
	for (k = 0; k < st->nkinds; k++)
		printf("%s: listener %s %s connections=%lld\n", name, st->kinds[k].name,
		    st->kinds[k].listen[0] != '\0' ? st->kinds[k].listen : "-",
		    st->kinds[k].connections);
	if (st->reload_time == 0)
		printf("%s: last reload none\n", name);
	else
		printf("%s: last reload %s %s%s%s%s\n", name, utc((time_t)st->reload_time, t),
		    st->reload_status, st->reload_reason[0] != '\0' ? " (" : "",
		    st->reload_reason, st->reload_reason[0] != '\0' ? ")" : "");
}

/* Is name running?  Prints its lines. */
static bool
daemon_status(struct mailctl *m, const char *name)
{
	struct daemon_state	 st;
	const char		*err;
	char			*path;
	int			 r;

	memset(&st, 0, sizeof(st));
	path = xasprintf("%s/run/%s.status", m->set->lib.state_dir, name);
	r = textfile_read(path, STATUS_LINE_MAX, status_line, &st, &err);
	free(path);
	if (r != 0) {
		printf("%s: not running\n", name);
		return false;
	}
	if (st.pid <= 1 || !ctl_proc_named((pid_t)st.pid, name)) {
		printf("%s: not running (its status file names pid %lld, which is gone)\n", name,
		    st.pid);
		return false;
	}
	print_state(name, &st);
	return true;
}

static void
queue_line(void *arg, const char *line)
{
	struct queue_count	*q = arg;
	size_t			 n = strlen(line);

	if (line[0] != ' ') {		/* "id age=... rcpts=N[ held]" */
		q->messages++;
		q->this_deferred = false;
		if (n > 5 && strcmp(line + n - 5, " held") == 0)
			q->held++;
	} else if (strstr(line, "> deferred ") != NULL && !q->this_deferred) {
		q->this_deferred = true;	/* "  <rcpt> deferred attempts=..." */
		q->deferred++;
	}
}

static int
queue_status(struct mailctl *m, bool relayd_running)
{
	struct queue_count	 q = { 0 };

	if (!relayd_running) {
		printf("queue: unknown (relayd is not running)\n");
		return CTL_OK;
	}
	if (ctl_queue_ask(m, "LIST\n", queue_line, &q) != CTL_OK)
		return CTL_ERR;
	printf("queue: messages=%u deferred=%u held=%u\n", q.messages, q.deferred, q.held);
	return CTL_OK;
}

static void
cert_status(const struct settings *set)
{
	time_t		 expires, now = time(NULL);
	char		 t[32];

	if (set->lib.tls_cert[0] == '\0') {
		printf("certificate: none (tls_cert is not set)\n");
		return;
	}
	if (ctl_cert_expiry(set->lib.tls_cert, &expires) == -1) {
		printf("certificate: %s unreadable\n", set->lib.tls_cert);
		return;
	}
	printf("certificate: %s expires=%s (%s %lld days)\n", set->lib.tls_cert,
	    utc(expires, t), expires < now ? "EXPIRED" : "in",
	    (long long)((expires > now ? expires - now : now - expires) / 86400));
}

int
cmd_status(struct mailctl *m, int argc, char **argv)
{
	bool	 relayd = false;
	size_t	 i;

	if (argc != 1)
		return ctl_usage("status");
	if (m->set->lib.state_dir[0] == '\0')
		return ctl_error("state_dir is not set: the daemons publish nothing");
	for (i = 0; i < sizeof(daemon_names) / sizeof(daemon_names[0]); i++)
		if (daemon_status(m, daemon_names[i]) && strcmp(daemon_names[i], "relayd") == 0)
			relayd = true;
	cert_status(m->set);
	return queue_status(m, relayd);
}
