/*
 * Failed logins counted per client address, shared by every protocol in a
 * process: each failure delays the next answer to that address (growing,
 * capped), and past a limit the address is refused for a while.  Loopback
 * is never blocked (delayed only).  Bounded table, oldest entries evicted.
 */
#ifndef LIB_AUTHFAIL_H
#define LIB_AUTHFAIL_H

#include <stdbool.h>
#include <stdint.h>

struct authfail;

struct authfail	*authfail_new(unsigned max_entries, unsigned max_failures,
		    uint64_t base_delay_ms, uint64_t block_ms);
void		 authfail_free(struct authfail **af);

/* Record the outcome of an attempt from addr at time now (ms). */
void		 authfail_record(struct authfail *af, const char *addr, bool success, uint64_t now);
/* How long to wait before answering the next attempt from addr. */
uint64_t	 authfail_delay(const struct authfail *af, const char *addr, uint64_t now);
/* True if addr is over the limit and not loopback. */
bool		 authfail_blocked(const struct authfail *af, const char *addr, uint64_t now);

#endif
