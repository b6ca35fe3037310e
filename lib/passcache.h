/*
 * Logins recently verified, remembered by a daemon for all its workers: a
 * client that logs in again within auth_cache_ttl (a POP3 poller, an IMAP
 * client's several connections, a phone beside a laptop) is checked by two
 * HMAC-SHA256 instead of crypt(3), which for yescrypt is ~16 MB of memory
 * and tens of ms of CPU per check.
 *
 * What is kept is a MAC of the password, keyed by the stored hash and a
 * key drawn at start: never the password, in memory only, left out of
 * core dumps.  A new
 * password is a new stored hash, so an entry cannot outlive a password
 * change; only a match is remembered, so a wrong guess always pays the
 * full check; a shorter ttl on reload forgets what is older.  Thread-safe.
 */
#ifndef LIB_PASSCACHE_H
#define LIB_PASSCACHE_H

#include <stdbool.h>
#include <stdint.h>

struct passcache;

/* In the supervisor, before the workers are forked.  0 entries: none (NULL). */
struct passcache	*passcache_new(unsigned entries);
void			 passcache_free(struct passcache **pc);
/* How long a verified login is remembered, in this process (start, reload); 0: not at all. */
void			 passcache_set_ttl(struct passcache *pc, uint64_t ttl_ms);

/* Was plain verified against stored less than ttl ago?  pc may be NULL: no. */
bool			 passcache_hit(struct passcache *pc, const char *stored,
			    const char *plain);
/* plain has just been verified against stored. */
void			 passcache_add(struct passcache *pc, const char *stored,
			    const char *plain);

#endif
