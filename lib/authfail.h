/*
 * Failed logins counted per client address: once an address has recent
 * failures, every answer to it waits (growing, capped), and past a limit
 * the address is refused for a while.  One table for every daemon and
 * worker: a fixed-size file mapped MAP_SHARED, updated under an fcntl
 * lock; without the file, a table of this process only.  Bounded, oldest
 * entries evicted, entries expire.  IPv4 and IPv6 (v4-mapped is IPv4).
 * Loop thread only: the lock is per process.
 */
#ifndef LIB_AUTHFAIL_H
#define LIB_AUTHFAIL_H

#include <stdbool.h>
#include <stdint.h>

struct authfail;

struct authfail_settings {
	unsigned	 max_entries;		/* per-process table; a file keeps its own size */
	unsigned	 max_failures;		/* failures before a block */
	uint64_t	 base_delay_ms;		/* delay per recent failure */
	uint64_t	 block_ms;		/* block length; also how long failures count */
	bool		 exempt_loopback;	/* 127/8 and ::1 delayed but never blocked */
};

/*
 * Open the shared table at path, creating and sizing it (posix_fallocate:
 * a full disk fails here, never as SIGBUS later) if it is new or not a
 * table.  Call before the privilege drop and before fork: the workers
 * inherit the descriptor.  Returns the fd, or -1 with *error_r set.
 */
int		 authfail_file_open(const char *path, unsigned max_entries, const char **error_r);

/*
 * A table mapped from fd (authfail_file_open's; dup'ed, the caller keeps
 * its own), or with fd -1 or when it cannot be mapped (logged) a table of
 * this process only.
 */
struct authfail	*authfail_new(const struct authfail_settings *set, int fd);
void		 authfail_free(struct authfail **af);
/* True if the table is the shared file, false for the per-process fallback. */
bool		 authfail_shared(const struct authfail *af);

/* Every "now" below is ev_clock_ms() (lib/ev.h): the same clock in every process. */
/* Record the outcome of an attempt from addr at time now (ms). */
void		 authfail_record(struct authfail *af, const char *addr, bool success, uint64_t now);
/*
 * How long the next answer to addr must wait, whatever it is: take it
 * before the password check so that its result cannot change it.
 */
uint64_t	 authfail_delay(struct authfail *af, const char *addr, uint64_t now);
/* True if addr is over the limit (loopback: unless exempt_loopback). */
bool		 authfail_blocked(struct authfail *af, const char *addr, uint64_t now);

#endif
