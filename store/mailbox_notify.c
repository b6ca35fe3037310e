/*
 * Change notification (mailbox_notify_fd): one inotify instance per
 * process, shared by every mailbox handle.  fs.inotify.max_user_instances
 * (128 on Debian) counts instances per user id, so one per handle left all
 * but ~128 IDLE sessions of a uid polling.
 *
 * A watch is per directory (a folder's new/ and cur/) and shared: the
 * kernel answers inotify_add_watch on a watched inode with the same wd, so
 * the handles on one folder hang off one struct notify_watch, which is
 * removed with its last handle.  Each handle has its own eventfd, which the
 * caller's event loop polls like any descriptor.  A thread of the store
 * reads the instance (blocking) and bumps the eventfd of every handle on
 * the directory: the store knows no loop, and handles are opened and
 * closed on workq threads as well as on the loop's.
 *
 * One mutex covers the table and the dispatch, so once mailbox_notify_close
 * returns the thread never touches that handle again: events pending for a
 * closed handle are dropped, never written to a freed one.  No lost
 * wake-ups: the watches exist before mailbox_notify_fd returns, so a later
 * change bumps the eventfd, and the caller's sync after it (IDLE's first
 * sync) covers the earlier ones.  The thread starts with the first watch;
 * a process that forks after that keeps it in the parent only (daemon
 * workers fork before they serve).
 */
#include "store/store_private.h"
#include "lib/log.h"
#include "lib/xmalloc.h"

#include <sys/eventfd.h>
#include <sys/inotify.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOTIFY_MASK	(IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_ATTRIB)
#define NOTIFY_DIRS	2		/* new/ and cur/ */

struct notify_watch;

/* One handle on one directory's list. */
struct notify_link {
	struct notify_link	*prev, *next;
	struct notify_watch	*watch;		/* NULL: not linked */
	struct notify_sub	*sub;
};

struct notify_sub {
	int			 efd;		/* eventfd: readable after a change */
	struct notify_link	 links[NOTIFY_DIRS];
};

struct notify_watch {
	int			 wd;		/* -1: the kernel dropped it (directory gone) */
	struct notify_link	 subs;		/* list head */
	struct notify_watch	*hnext;		/* hash chain, by wd */
};

static struct {
	pthread_mutex_t		 lock;
	int			 ifd;		/* the instance, -1 until the first watch */
	struct notify_watch	**buckets;
	size_t			 nbuckets, nwatches;
	bool			 warned;	/* the failure is logged; reset by a success */
} notify = { PTHREAD_MUTEX_INITIALIZER, -1, NULL, 0, 0, false };

static struct notify_watch **
watch_slot(int wd)
{
	struct notify_watch	**wp;

	if (notify.nbuckets == 0)
		return NULL;
	wp = &notify.buckets[(unsigned)wd & (notify.nbuckets - 1)];
	while (*wp != NULL && (*wp)->wd != wd)
		wp = &(*wp)->hnext;
	return wp;
}

static struct notify_watch *
watch_find(int wd)
{
	struct notify_watch	**wp = watch_slot(wd);

	return wp != NULL ? *wp : NULL;
}

static void
watch_unhash(struct notify_watch *w)
{
	struct notify_watch	**wp = watch_slot(w->wd);

	*wp = w->hnext;
	notify.nwatches--;
}

/* Double the buckets when the chains grow past one on average. */
static void
watch_hash(struct notify_watch *w)
{
	struct notify_watch	**old = notify.buckets, *next;
	size_t			 i, n = notify.nbuckets;

	if (notify.nwatches >= notify.nbuckets) {
		notify.nbuckets = n == 0 ? 64 : 2 * n;
		notify.buckets = xcalloc(notify.nbuckets, sizeof(*notify.buckets));
		notify.nwatches = 0;
		for (i = 0; i < n; i++)
			for (; old[i] != NULL; old[i] = next) {
				next = old[i]->hnext;
				watch_hash(old[i]);
			}
		free(old);
	}
	w->hnext = notify.buckets[(unsigned)w->wd & (notify.nbuckets - 1)];
	notify.buckets[(unsigned)w->wd & (notify.nbuckets - 1)] = w;
	notify.nwatches++;
}

static void
watch_wake(struct notify_watch *w)
{
	struct notify_link	*l;

	for (l = w->subs.next; l != &w->subs; l = l->next)
		(void)eventfd_write(l->sub->efd, 1);
}

/* One event, with the lock held.  An overflowed queue wakes everyone. */
static void
dispatch(const struct inotify_event *ev)
{
	struct notify_watch	*w;
	size_t			 i;

	if (ev->mask & IN_Q_OVERFLOW) {
		for (i = 0; i < notify.nbuckets; i++)
			for (w = notify.buckets[i]; w != NULL; w = w->hnext)
				watch_wake(w);
		return;
	}
	if ((w = watch_find(ev->wd)) == NULL)
		return;		/* removed by its last handle meanwhile */
	watch_wake(w);
	if (ev->mask & IN_IGNORED) {
		watch_unhash(w);
		w->wd = -1;
	}
}

static void *
notify_thread(void *arg)
{
	alignas(struct inotify_event) char	 buf[16384];
	const struct inotify_event		*ev;
	ssize_t					 n, off;

	(void)arg;
	for (;;) {
		if ((n = read(notify.ifd, buf, sizeof(buf))) == -1) {
			if (errno == EINTR)
				continue;
			log_warn("event=inotify status=read_failed action=stop");
			return NULL;
		}
		pthread_mutex_lock(&notify.lock);
		for (off = 0; off < n; off += (ssize_t)(sizeof(*ev) + ev->len)) {
			ev = (const struct inotify_event *)(buf + off);
			dispatch(ev);
		}
		pthread_mutex_unlock(&notify.lock);
	}
}

/* The instance and its thread, once per process; with the lock held. */
static int
instance_start(void)
{
	pthread_t	 t;
	sigset_t	 all, old;
	int		 e;

	if (notify.ifd != -1)
		return 0;
	if ((notify.ifd = inotify_init1(IN_CLOEXEC)) == -1)
		return -1;
	/* Signals belong to the loop's signalfd, never to this thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	if ((e = pthread_create(&t, NULL, notify_thread, NULL)) == 0)
		pthread_detach(t);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e != 0) {
		close(notify.ifd);
		notify.ifd = -1;
		errno = e;
		return -1;
	}
	return 0;
}

/* Put l on the list of dirfd's directory; with the lock held. */
static int
link_dir(struct notify_link *l, int dirfd)
{
	struct notify_watch	*w;
	char			 path[64];
	int			 wd;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", dirfd);
	if ((wd = inotify_add_watch(notify.ifd, path, NOTIFY_MASK)) == -1)
		return -1;
	if ((w = watch_find(wd)) == NULL) {
		w = xcalloc(1, sizeof(*w));
		w->wd = wd;
		w->subs.next = w->subs.prev = &w->subs;
		watch_hash(w);
	}
	l->watch = w;
	l->next = &w->subs;
	l->prev = w->subs.prev;
	w->subs.prev->next = l;
	w->subs.prev = l;
	return 0;
}

/* Take l off its list; the directory's last handle removes the watch. */
static void
unlink_dir(struct notify_link *l)
{
	struct notify_watch	*w = l->watch;

	if (w == NULL)
		return;
	l->prev->next = l->next;
	l->next->prev = l->prev;
	l->watch = NULL;
	if (w->subs.next != &w->subs)
		return;
	if (w->wd != -1) {
		(void)inotify_rm_watch(notify.ifd, w->wd);
		watch_unhash(w);
	}
	free(w);
}

/* Once per run of failures, so 10,000 sessions falling back log one line. */
static void
log_failure(int err)
{
	if (notify.warned)
		return;
	notify.warned = true;
	log_warnx("event=inotify status=unavailable action=poll watches=%zu limit=%s error=\"%s\"",
	    notify.nwatches, err == ENOSPC ? "fs.inotify.max_user_watches" :
	    err == EMFILE ? "fs.inotify.max_user_instances" : "none", strerror(err));
}

int
mailbox_notify_fd(struct mailbox *mb)
{
	struct notify_sub	*sub;
	const int		 dirs[NOTIFY_DIRS] = { mb->newfd, mb->curfd };
	int			 i, rc = 0, err;

	if (mb->notify != NULL)
		return mb->notify->efd;
	sub = xcalloc(1, sizeof(*sub));
	if ((sub->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1) {
		free(sub);
		return -1;
	}
	pthread_mutex_lock(&notify.lock);
	if ((rc = instance_start()) == 0)
		for (i = 0; i < NOTIFY_DIRS && rc == 0; i++) {
			sub->links[i].sub = sub;
			rc = link_dir(&sub->links[i], dirs[i]);
		}
	err = errno;
	if (rc == -1)
		log_failure(err);
	else
		notify.warned = false;
	pthread_mutex_unlock(&notify.lock);
	mb->notify = sub;
	if (rc == -1) {
		mailbox_notify_close(mb);
		errno = err;
		return -1;
	}
	return sub->efd;
}

void
mailbox_notify_close(struct mailbox *mb)
{
	struct notify_sub	*sub = mb->notify;
	size_t			 i;

	if (sub == NULL)
		return;
	pthread_mutex_lock(&notify.lock);
	for (i = 0; i < NOTIFY_DIRS; i++)
		unlink_dir(&sub->links[i]);
	pthread_mutex_unlock(&notify.lock);
	close(sub->efd);
	free(sub);
	mb->notify = NULL;
}
