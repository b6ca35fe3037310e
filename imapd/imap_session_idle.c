/*
 * IDLE (RFC 2177).  "+ idling", then the session waits without polling:
 * the host watches the mailbox's inotify descriptor (mailbox_notify_fd)
 * and a wake-up runs, SETTLE_MS later, the sync NOOP runs
 * (imap_session_sync.c), whose untagged EXPUNGE/FETCH/EXISTS/RECENT go out
 * at once.  Changes that come meanwhile or while a sync runs are taken by
 * that sync or one more, so a burst of deliveries costs a few syncs, not
 * one each.  The session's one timer
 * sends "* OK Still here" every imapd.idle_keepalive.  Without inotify (the
 * fs.inotify limits reached) the timer ticks every imapd.idle_check_interval
 * and each tick syncs: slower, logged once per IDLE, never a silent stall.
 * The inactivity deadline stays imapd.idle_timeout from the IDLE command
 * (30 min: RFC 2177 clients re-issue IDLE within 29); keep-alives we send
 * do not extend it, the client's DONE does.  In the authenticated state
 * there is nothing to watch: keep-alives only.
 */
#include "imapd/imap_private.h"

#include "lib/log.h"
#include "lib/xmalloc.h"
#include "store/store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/*
 * Deliveries come a few ms apart: waiting this long after the first
 * change lets one sync take a burst, for a delay no client notices.
 */
#define SETTLE_MS	20

static void	tick(void *arg);

/* The timer's period, and how many periods make one keep-alive. */
static unsigned long long
tick_ms(const struct imap_session *s, unsigned *per_keepalive)
{
	const struct imap_limits	*l = &s->env->limits;
	unsigned long long		 ms = l->idle_keepalive_ms;

	if (s->state == IMAP_STATE_SELECTED && s->idle_fd == -1 &&
	    l->idle_check_interval_ms < ms)
		ms = l->idle_check_interval_ms;
	*per_keepalive = (unsigned)(l->idle_keepalive_ms / ms);
	return ms;
}

/* The settle delay is over: sync, then the timer goes back to its ticks. */
static void
settled(void *arg)
{
	struct imap_session	*s = arg;
	unsigned		 per_keepalive;

	s->idle_settling = false;
	if (s->idle_tag == NULL || s->want == SESSION_CLOSE)
		return;
	if (s->sync_job != NULL)
		s->idle_dirty = true;
	else
		imap_sync_idle(s);
	session_host_after(s->host, tick_ms(s, &per_keepalive), tick);
}

/* A sync SETTLE_MS from now, or after the one running. */
static void
sync_soon(struct imap_session *s)
{
	if (s->sync_job != NULL)
		s->idle_dirty = true;
	else if (!s->idle_settling) {
		s->idle_settling = true;
		session_host_after(s->host, SETTLE_MS, settled);
	}
}

/* Empty the inotify queue: the events only say "look again". */
static void
drain_events(int fd)
{
	char	 events[4096];

	while (read(fd, events, sizeof(events)) > 0)
		continue;
}

static void
changed(void *arg)
{
	struct imap_session	*s = arg;

	if (s->idle_tag == NULL || s->idle_fd == -1)
		return;
	drain_events(s->idle_fd);
	sync_soon(s);
}

static void
tick(void *arg)
{
	struct imap_session	*s = arg;
	unsigned		 per_keepalive;
	unsigned long long	 ms;

	if (s->idle_tag == NULL || s->want == SESSION_CLOSE)
		return;		/* a timer left from an IDLE that ended */
	ms = tick_ms(s, &per_keepalive);
	if (s->state == IMAP_STATE_SELECTED && s->idle_fd == -1)
		sync_soon(s);
	/* A client that reads nothing gets no more: its deadline closes it. */
	if (++s->idle_ticks >= per_keepalive && !session_host_output_full(s->host)) {
		s->idle_ticks = 0;
		imap_untagged(s, "OK Still here");
	}
	session_host_after(s->host, ms, tick);
}

/* Watch the mailbox; on failure say so and let the timer check it. */
static void
watch(struct imap_session *s)
{
	int	 fd, saved;

	errno = 0;
	if ((fd = mailbox_notify_fd(s->mb)) != -1 && session_host_watch(s->host, fd, changed) == 0) {
		s->idle_fd = fd;
		drain_events(fd);	/* the sync below covers what they say */
		return;
	}
	saved = errno;
	log_warnx("session=%s event=idle status=no_inotify action=poll interval_ms=%llu "
	    "error=\"%s\"", s->peer->id, s->env->limits.idle_check_interval_ms,
	    saved != 0 ? strerror(saved) : "cannot watch");
}

int
imap_cmd_idle(struct imap_session *s, const struct imap_command *cmd)
{
	unsigned	 per_keepalive;

	free(s->idle_tag);
	s->idle_tag = xstrdup(cmd->tag);
	s->idle_dirty = s->idle_settling = false;
	s->idle_ticks = 0;
	imap_line(s, "+ idling");
	if (s->state == IMAP_STATE_SELECTED) {
		watch(s);
		/* What changed since the last command, before the watch began. */
		imap_sync_idle(s);
	}
	session_host_after(s->host, tick_ms(s, &per_keepalive), tick);
	return 0;
}

void
imap_idle_synced(struct imap_session *s)
{
	if (!s->idle_dirty || s->idle_tag == NULL || s->want == SESSION_CLOSE)
		return;
	s->idle_dirty = false;
	sync_soon(s);
}

void
imap_idle_stop(struct imap_session *s)
{
	if (s->idle_fd != -1) {
		session_host_watch(s->host, -1, NULL);
		s->idle_fd = -1;
	}
	s->idle_dirty = s->idle_settling = false;
	xfree(&s->idle_tag);
}

void
imap_idle_line(struct imap_session *s, const char *line)
{
	char	*tag = s->idle_tag;

	s->idle_tag = NULL;
	imap_idle_stop(s);
	if (strcasecmp(line, "DONE") == 0) {
		imap_tagged(s, tag, "OK Idle completed.");
		s->bad_commands = 0;
	} else {
		imap_tagged(s, tag, "BAD Expected DONE.");
		imap_bad_command(s);
	}
	free(tag);
}
