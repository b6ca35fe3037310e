/*
 * Group commit of directory fsyncs: one leader at a time per directory.
 *
 * Per directory, fsyncs are numbered as they begin (started) and noted as
 * they end (completed); at most one runs at a time.  A caller arriving
 * needs fsync number started + 1: the one running now, if any, may have
 * begun before its rename and so does not count.  It waits until that
 * number has completed, and leads (runs the fsync itself, lock released)
 * whenever none is running.  So the first caller syncs at once, callers
 * arriving during an fsync are all covered by the next one, and nobody
 * sleeps on a timer.
 */
#include "lib/dirsync.h"

#include "lib/crash.h"
#include "lib/xmalloc.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A directory someone is syncing or waiting for; freed when nobody is. */
struct dir {
	dev_t		 dev;
	ino_t		 ino;
	unsigned	 refs;		/* callers inside dirsync_wait */
	bool		 running;	/* an fsync is in progress */
	uint64_t	 started;	/* fsyncs begun (the number of the last) */
	uint64_t	 completed;	/* the number of the last that ended */
	uint64_t	 failed;	/* the number of the last that failed, 0: none */
	int		 failed_errno;
	pthread_cond_t	 cond;		/* an fsync ended */
	struct dir	*next;
};

struct dirsync {
	pthread_mutex_t	 lock;		/* the list and every dir in it */
	struct dir	*dirs;		/* few: only those in use right now */
	dirsync_fn	 sync;
	void		*arg;
};

static void __attribute__((noreturn))
dirsync_die(const char *what, int err)
{
	/* A mutex that cannot lock is a broken environment, as in workq. */
	fprintf(stderr, "postroom: dirsync: %s: %s\n", what, strerror(err));
	abort();
}

struct dirsync *
dirsync_new(dirsync_fn sync, void *arg)
{
	struct dirsync	*ds = xcalloc(1, sizeof(*ds));
	int		 e;

	if ((e = pthread_mutex_init(&ds->lock, NULL)) != 0)
		dirsync_die("mutex init", e);
	ds->sync = sync;
	ds->arg = arg;
	return ds;
}

void
dirsync_free(struct dirsync **dsp)
{
	struct dirsync	*ds = *dsp;

	if (ds == NULL)
		return;
	if (ds->dirs != NULL)
		dirsync_die("free", EBUSY);
	pthread_mutex_destroy(&ds->lock);
	free(ds);
	*dsp = NULL;
}

/* The directory's entry, created if nobody uses it yet; lock held. */
static struct dir *
dir_get(struct dirsync *ds, dev_t dev, ino_t ino)
{
	struct dir	*d;
	int		 e;

	for (d = ds->dirs; d != NULL; d = d->next)
		if (d->dev == dev && d->ino == ino)
			break;
	if (d == NULL) {
		d = xcalloc(1, sizeof(*d));
		d->dev = dev;
		d->ino = ino;
		if ((e = pthread_cond_init(&d->cond, NULL)) != 0)
			dirsync_die("cond init", e);
		d->next = ds->dirs;
		ds->dirs = d;
	}
	d->refs++;
	return d;
}

/* Drop a reference; the last one frees the entry.  Lock held. */
static void
dir_put(struct dirsync *ds, struct dir *d)
{
	struct dir	**pp;

	if (--d->refs > 0)
		return;
	for (pp = &ds->dirs; *pp != d; pp = &(*pp)->next)
		;
	*pp = d->next;
	pthread_cond_destroy(&d->cond);
	free(d);
}

/* Run fsync number d->started for everyone waiting; lock held, dropped meanwhile. */
static void
dir_lead(struct dirsync *ds, struct dir *d, int fd)
{
	uint64_t	 seq = ++d->started;
	int		 rc, saved;

	d->running = true;
	pthread_mutex_unlock(&ds->lock);
	crash_point("group-syncing");
	rc = ds->sync(fd, ds->arg);
	saved = errno;
	crash_point("group-synced");
	pthread_mutex_lock(&ds->lock);
	d->running = false;
	d->completed = seq;
	if (rc == -1) {
		d->failed = seq;
		d->failed_errno = saved;
	}
	pthread_cond_broadcast(&d->cond);
}

int
dirsync_wait(struct dirsync *ds, int dirfd, dev_t dev, ino_t ino)
{
	struct dir	*d;
	uint64_t	 need;
	int		 rc = 0, e;

	if ((e = pthread_mutex_lock(&ds->lock)) != 0)
		dirsync_die("mutex lock", e);
	d = dir_get(ds, dev, ino);
	need = d->started + 1;
	while (d->completed < need) {
		if (!d->running)
			dir_lead(ds, d, dirfd);
		else if ((e = pthread_cond_wait(&d->cond, &ds->lock)) != 0)
			dirsync_die("cond wait", e);
	}
	if (d->failed >= need) {
		errno = d->failed_errno;
		rc = -1;
	}
	dir_put(ds, d);
	pthread_mutex_unlock(&ds->lock);
	return rc;
}
