/*
 * Live connections counted per key (a client address, a logged-in user)
 * across the worker processes of one daemon, so that "20 per address"
 * means 20, not 20 x workers.  A fixed-size table in anonymous shared
 * memory, created by the supervisor before it forks; every worker is an
 * owner with a column of counts of its own, so when a worker dies the
 * supervisor drops what it held (conntab_reclaim) and nothing leaks.
 * Bounded: a key that finds no free slot is refused (CONNTAB_FULL), never
 * let in uncounted.  Loop thread only in each process.
 */
#ifndef LIB_CONNTAB_H
#define LIB_CONNTAB_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

struct conntab;

#define CONNTAB_KEY_MAX		255	/* bytes of a key (an address is at most 254) */
#define CONNTAB_OWNERS_MAX	64	/* the workers' upper bound */

/* Keys of different kinds never match, even when spelled alike. */
enum conntab_kind {
	CONNTAB_ADDR,		/* a client address (session_pool's max_connections_per_ip) */
	CONNTAB_USER,		/* a logged-in user (pop3d.max_connections_per_user) */
};

enum conntab_status {
	CONNTAB_OK,		/* counted: *slot_r is to be released */
	CONNTAB_OVER,		/* the key already holds max: refused */
	CONNTAB_FULL,		/* no free slot for a new key (or the key is too long): refused */
};

/*
 * A table of nslots keys shared by nowners (1 to CONNTAB_OWNERS_MAX)
 * processes: MAP_SHARED | MAP_ANONYMOUS, so create it before fork.  The
 * caller is owner 0 until conntab_set_owner.  Aborts when memory is short
 * (like xmalloc).
 */
struct conntab		*conntab_new(unsigned nslots, unsigned nowners);
/* Unmaps this process's view (the others keep theirs).  Accepts NULL. */
void			 conntab_free(struct conntab **t);
/* In a worker after fork: count as owner (below nowners). */
void			 conntab_set_owner(struct conntab *t, unsigned owner);
unsigned		 conntab_nowners(const struct conntab *t);

/*
 * Count one more connection for key, unless every owner's together
 * already hold max.  On CONNTAB_OK *slot_r names the count until
 * conntab_release (it stays valid while this owner holds it).
 */
enum conntab_status	 conntab_acquire(struct conntab *t, enum conntab_kind kind,
			    const char *key, unsigned max, unsigned *slot_r);
/* One connection of this owner counted in slot ended; the last frees the slot. */
void			 conntab_release(struct conntab *t, unsigned slot);
/* Connections of every owner for key now. */
unsigned		 conntab_count(struct conntab *t, enum conntab_kind kind, const char *key);

/*
 * Owner died (the supervisor, before it starts another in its place):
 * drop its counts.  Returns how many connections were dropped.
 */
unsigned		 conntab_reclaim(struct conntab *t, unsigned owner);

/*
 * Spreading connections over the workers (lib/daemon.c accept_cb): each
 * publishes its live connections and whether its listeners are watched
 * (not while starting, out of descriptors, stopping, or dead: the
 * supervisor's conntab_reclaim clears both).  conntab_fewer_elsewhere():
 * another worker that listens holds more than slack fewer connections.
 * conntab_load_elsewhere(): the other workers' loads summed, which moves
 * when one of them accepts or closes.
 */
void			 conntab_set_load(struct conntab *t, unsigned n);
/* The load of a worker whose own limits would refuse the next connection. */
#define CONNTAB_LOAD_FULL	UINT_MAX
void			 conntab_set_listening(struct conntab *t, bool on);
bool			 conntab_fewer_elsewhere(const struct conntab *t, unsigned slack);
uint64_t		 conntab_load_elsewhere(const struct conntab *t);

#endif
