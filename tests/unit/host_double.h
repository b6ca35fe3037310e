/*
 * A test double of the session host (lib/session.h) for unit tests and
 * fuzzers: one session, its input and output buffers, and the production
 * ordering without a loop or a socket.  Nothing a session asks for runs
 * inside the asking call: kicks, session_host_after() timers (on a manual
 * clock), session_host_submit() jobs (work, then done, on this thread) and
 * the streamed reply's more() all wait for host_double_run().  The rules
 * the host applies are the production host's: input is held while the
 * session pauses or streams, nothing is fed or produced while the output is
 * at the high-water mark, input is thrown away when STARTTLS begins, and
 * ops->shutdown waits for a command in progress.
 */
#ifndef TESTS_UNIT_HOST_DOUBLE_H
#define TESTS_UNIT_HOST_DOUBLE_H

#include "lib/session.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;
struct host_double;

/* out_max: the output buffer's bound; its high-water mark is out_max / 4. */
struct host_double *host_double_new(size_t out_max);
/* Frees the session, then runs the jobs still queued (their done sees it gone). */
void		 host_double_free(struct host_double **d);

/* Open a session with ops (peer must outlive it; the host sets peer->tls). */
void		*host_double_open(struct host_double *d, const struct session_ops *ops,
		    struct session_peer *peer, void *arg);
/* The session's output: what it said and the client has not read yet. */
struct buf	*host_double_output(struct host_double *d);
/* The host the session sees (for doubles of what the session calls, e.g. a deliverer). */
struct session_host *host_double_host(struct host_double *d);

/*
 * The client sends len bytes; the host feeds them when the session takes
 * input.  Returns len, or 0 once the session has said CLOSE (not read).
 */
size_t		 host_double_input(struct host_double *d, const void *data, size_t len);
/*
 * Run what is due: queued jobs, timers due on the manual clock, kicks; then
 * settle (stream, pending shutdown, held input) until nothing changes.
 */
void		 host_double_run(struct host_double *d);
/* Run the oldest queued job alone (work, then done) and settle; false if none. */
bool		 host_double_run_job(struct host_double *d);
/* The client reads everything said so far into got (NULL: discards it), then run. */
void		 host_double_read(struct host_double *d, struct buf *got);
/* Read and run until the session says nothing more. */
void		 host_double_pump(struct host_double *d, struct buf *got);
/* The manual clock moves ms forward: due timers and the deadline fire, then run. */
void		 host_double_advance(struct host_double *d, uint64_t ms);
uint64_t	 host_double_now(const struct host_double *d);
/* The session's deadline from now (0: none), as it last set it. */
uint64_t	 host_double_deadline(const struct host_double *d);
/* The server stops (SIGTERM): ops->shutdown once the session is between commands. */
void		 host_double_shutdown(struct host_double *d);
/* If the session asked for STARTTLS: the handshake succeeds, tls_started, run. */
void		 host_double_tls(struct host_double *d);

/* What the host holds: input not yet taken, jobs queued, a stream running. */
size_t		 host_double_held(const struct host_double *d);
size_t		 host_double_jobs(const struct host_double *d);
bool		 host_double_streaming(const struct host_double *d);
enum session_want host_double_want(struct host_double *d);
/* The session's watched descriptor became readable: its callback, then run. */
void		 host_double_readable(struct host_double *d);

#endif
