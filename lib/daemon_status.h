/*
 * What a running daemon publishes for `mailctl status`, as key=value lines
 * in <state_dir>/run/<daemon>.status, replaced atomically (temporary file,
 * rename):
 *
 *   daemon=smtpd  pid=<supervisor>  started=<epoch s>  workers=N
 *   listen.<kind>=addr:port[,...]      connections.<kind>=N (summed over workers)
 *   reload_time=<epoch s, 0: none>  reload_status=none|ok|failed  reload_reason=...
 *   updated=<epoch s>
 *
 * The workers keep their counts in a small shared mapping (made before the
 * fork, like lib/conntab); only the supervisor writes the file: at start,
 * then within a second of a change (a count, a reload), at most once a
 * second.  An idle daemon writes nothing.  The file goes at a clean stop;
 * one left by a killed daemon names a dead pid, which mailctl checks.
 */
#ifndef LIB_DAEMON_STATUS_H
#define LIB_DAEMON_STATUS_H

#include <stdbool.h>

struct daemon;
struct daemon_status;

/* Before the privilege drop and the fork; NULL (logged) if state_dir is unusable. */
struct daemon_status	*daemon_status_new(struct daemon *d, unsigned workers);
/* Unmaps and frees this process's view; the file stays.  Accepts NULL. */
void			 daemon_status_free(struct daemon_status **s);

/* Worker: its listeners' counts changed (an accept); the closes are polled. */
void			 daemon_status_count(struct daemon *d);
/* Worker: a reload ended; why is the reason of a failure. */
void			 daemon_status_reloaded(struct daemon *d, bool ok, const char *why);
/* Worker, at exit: its timer. */
void			 daemon_status_worker_fini(struct daemon *d);

/* Supervisor: write the file if anything changed (force: now). */
void			 daemon_status_publish(struct daemon *d, bool force);
/* Supervisor: worker index died, its counts go. */
void			 daemon_status_reclaim(struct daemon *d, unsigned index);
/* Supervisor, at a clean stop. */
void			 daemon_status_remove(struct daemon *d);

#endif
