/*
 * The shared connection counts (lib/conntab.h).  One mapping: a header
 * (a process-shared robust mutex, the hash seed), a 32-bit tag per slot
 * (0: free, else the key's hash), then the slots, each a key and one
 * 32-bit count per owner.  Slots come in buckets of BUCKET; a key may sit
 * in either of two buckets picked by its hash and goes to the emptier one
 * ("two choices": the buckets fill evenly, so a table refuses a new key
 * only when nearly full; simulated, none of 3,000 random keys in 4,096
 * slots was refused).  A lookup compares 32 tags (two cache lines) and
 * reads a slot only on a tag match; an emptied slot needs no tombstone.
 * The seed is random per table, so an attacker's addresses cannot be
 * picked to fill one bucket.
 *
 * Every change is one store under the mutex (a slot is claimed by writing
 * its key, then its tag; a count is one word), so a worker killed while
 * holding the mutex leaves the table consistent: the next locker gets
 * EOWNERDEAD, marks the mutex consistent and goes on.  At worst the dead
 * worker left a claimed slot with no count yet, or a slot whose last count
 * it had just dropped; conntab_reclaim, which the supervisor runs for that
 * worker anyway, frees every slot that counts nothing.  Chosen over an
 * fcntl lock (lib/authfail.c's): no file, no system call per operation
 * when uncontended, and the table is per daemon, born and gone with it.
 */
#include "lib/conntab.h"

#include "lib/shm.h"
#include "lib/xmalloc.h"

#include <sys/mman.h>
#include <sys/random.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BUCKET		16	/* slots a key may take; two buckets per key */

struct ct_header {
	pthread_mutex_t	 lock;
	uint32_t	 seed;		/* of the hash: addresses cannot be picked to collide */
	/* Per owner, written by it alone (the supervisor once it is dead), read unlocked. */
	uint32_t	 load[CONNTAB_OWNERS_MAX];	/* conntab_set_load */
	uint32_t	 listening[CONNTAB_OWNERS_MAX];	/* conntab_set_listening */
};

struct ct_slot {
	uint16_t	 len;
	uint8_t		 kind;
	char		 key[CONNTAB_KEY_MAX + 1];
	uint32_t	 count[];	/* one per owner */
};

struct conntab {
	struct ct_header	*hdr;
	uint32_t		*tags;		/* per slot: 0 free, else its key's hash | 1 */
	char			*slots;
	size_t			 stride;	/* bytes per slot */
	size_t			 map_len;
	unsigned		 nslots;	/* a multiple of BUCKET */
	unsigned		 nowners;
	unsigned		 owner;
};

static struct ct_slot *
slot_at(const struct conntab *t, unsigned i)
{
	return (struct ct_slot *)(t->slots + (size_t)i * t->stride);
}

/* FNV-1a from a random basis; the second bucket from the hash's other half. */
static uint32_t
key_hash(const struct conntab *t, enum conntab_kind kind, const char *key, size_t len)
{
	uint32_t	h = (t->hdr->seed ^ (uint32_t)kind) * 16777619u;
	size_t		i;

	for (i = 0; i < len; i++)
		h = (h ^ (unsigned char)key[i]) * 16777619u;
	return h | 1;
}

static void
buckets(const struct conntab *t, uint32_t h, unsigned b_r[2])
{
	unsigned	nb = t->nslots / BUCKET;

	/* Bit 0 is always set (a tag is never 0): the buckets come from the others. */
	b_r[0] = (h >> 1) % nb * BUCKET;
	b_r[1] = ((h >> 1) * 2654435761u >> 16) % nb * BUCKET;
}

static void
ct_lock(struct conntab *t)
{
	/* A worker that died in here left it consistent: every change is one store (see above). */
	shm_mutex_lock(&t->hdr->lock, "conntab_lock");
}

static void
ct_unlock(struct conntab *t)
{
	pthread_mutex_unlock(&t->hdr->lock);
}

struct conntab *
conntab_new(unsigned nslots, unsigned nowners)
{
	struct conntab		*t = xcalloc(1, sizeof(*t));
	size_t			 tags_len;
	char			*map;

	if (nowners == 0 || nowners > CONNTAB_OWNERS_MAX)
		abort();
	if (nslots > UINT32_MAX - BUCKET)
		nslots = UINT32_MAX - BUCKET;
	t->nslots = nslots < BUCKET ? BUCKET : (nslots + BUCKET - 1) / BUCKET * BUCKET;
	t->nowners = nowners;
	t->stride = sizeof(struct ct_slot) + nowners * sizeof(uint32_t);
	t->stride = (t->stride + 7) & ~(size_t)7;
	tags_len = size_mul(t->nslots, sizeof(uint32_t));
	t->map_len = size_add(size_add((sizeof(struct ct_header) + 63) & ~(size_t)63, tags_len),
	    size_mul(t->nslots, t->stride));
	/* Untouched pages cost nothing: only the slots in use become resident. */
	map = shm_map(t->map_len, "conntab");
	t->hdr = (struct ct_header *)map;
	t->tags = (uint32_t *)(map + ((sizeof(struct ct_header) + 63) & ~(size_t)63));
	t->slots = (char *)t->tags + tags_len;
	if (getrandom(&t->hdr->seed, sizeof(t->hdr->seed), 0) != (ssize_t)sizeof(t->hdr->seed))
		t->hdr->seed = 2166136261u ^ (uint32_t)getpid();
	shm_mutex_init(&t->hdr->lock);
	return t;
}

void
conntab_free(struct conntab **tp)
{
	struct conntab	*t = *tp;

	if (t == NULL)
		return;
	munmap(t->hdr, t->map_len);
	free(t);
	*tp = NULL;
}

void
conntab_set_owner(struct conntab *t, unsigned owner)
{
	if (owner >= t->nowners)
		abort();
	t->owner = owner;
}

unsigned
conntab_nowners(const struct conntab *t)
{
	return t->nowners;
}

void
conntab_set_load(struct conntab *t, unsigned n)
{
	__atomic_store_n(&t->hdr->load[t->owner], (uint32_t)n, __ATOMIC_RELAXED);
}

void
conntab_set_listening(struct conntab *t, bool on)
{
	__atomic_store_n(&t->hdr->listening[t->owner], (uint32_t)on, __ATOMIC_RELAXED);
}

uint64_t
conntab_load_elsewhere(const struct conntab *t)
{
	uint64_t	 sum = 0;
	unsigned	 i;

	for (i = 0; i < t->nowners; i++)
		if (i != t->owner)
			sum += __atomic_load_n(&t->hdr->load[i], __ATOMIC_RELAXED);
	return sum;
}

bool
conntab_fewer_elsewhere(const struct conntab *t, unsigned slack)
{
	uint32_t	 mine = __atomic_load_n(&t->hdr->load[t->owner], __ATOMIC_RELAXED);
	unsigned	 i;

	for (i = 0; i < t->nowners; i++)
		if (i != t->owner && __atomic_load_n(&t->hdr->listening[i], __ATOMIC_RELAXED) &&
		    (uint64_t)__atomic_load_n(&t->hdr->load[i], __ATOMIC_RELAXED) + slack < mine)
			return true;
	return false;
}

static unsigned
slot_total(const struct conntab *t, const struct ct_slot *s)
{
	unsigned	i, n = 0;

	for (i = 0; i < t->nowners; i++)
		n += s->count[i];
	return n;
}

/*
 * key's slot, or -1; *free_r: a free slot in the emptier of its two
 * buckets (which keeps them even), or -1 when both are full.
 */
static long
find(struct conntab *t, enum conntab_kind kind, const char *key, size_t len, long *free_r)
{
	uint32_t	 h = key_hash(t, kind, key, len);
	unsigned	 b[2], i, j, idx, nfree[2] = { 0, 0 };
	long		 first_free[2] = { -1, -1 };
	struct ct_slot	*s;

	buckets(t, h, b);
	for (j = 0; j < 2; j++) {
		for (i = 0; i < BUCKET; i++) {
			idx = b[j] + i;
			if (t->tags[idx] == 0) {
				if (nfree[j]++ == 0)
					first_free[j] = idx;
				continue;
			}
			s = slot_at(t, idx);
			if (t->tags[idx] == h && s->kind == kind && s->len == len &&
			    memcmp(s->key, key, len) == 0)
				return idx;
		}
	}
	*free_r = nfree[1] > nfree[0] ? first_free[1] : first_free[0];
	return -1;
}

enum conntab_status
conntab_acquire(struct conntab *t, enum conntab_kind kind, const char *key, unsigned max,
    unsigned *slot_r)
{
	size_t		 len = strlen(key);
	struct ct_slot	*s;
	long		 idx, free_idx = -1;

	if (len > CONNTAB_KEY_MAX)
		return CONNTAB_FULL;
	ct_lock(t);
	if ((idx = find(t, kind, key, len, &free_idx)) != -1) {
		s = slot_at(t, (unsigned)idx);
		if (slot_total(t, s) >= max) {
			ct_unlock(t);
			return CONNTAB_OVER;
		}
	} else {
		if (free_idx == -1 || max == 0) {
			ct_unlock(t);
			return free_idx == -1 ? CONNTAB_FULL : CONNTAB_OVER;
		}
		idx = free_idx;
		s = slot_at(t, (unsigned)idx);
		memset(s->count, 0, t->nowners * sizeof(s->count[0]));
		s->kind = (uint8_t)kind;
		s->len = (uint16_t)len;
		memcpy(s->key, key, len);
		s->key[len] = '\0';
		/* Last: until now the slot was free to everyone. */
		t->tags[idx] = key_hash(t, kind, key, len);
	}
	s->count[t->owner]++;
	ct_unlock(t);
	*slot_r = (unsigned)idx;
	return CONNTAB_OK;
}

void
conntab_release(struct conntab *t, unsigned slot)
{
	struct ct_slot	*s;

	if (slot >= t->nslots)
		abort();
	s = slot_at(t, slot);
	ct_lock(t);
	if (t->tags[slot] == 0 || s->count[t->owner] == 0)
		abort();	/* released twice, or never acquired */
	if (--s->count[t->owner] == 0 && slot_total(t, s) == 0)
		t->tags[slot] = 0;
	ct_unlock(t);
}

unsigned
conntab_count(struct conntab *t, enum conntab_kind kind, const char *key)
{
	size_t		 len = strlen(key);
	long		 idx, free_idx;
	unsigned	 n = 0;

	if (len > CONNTAB_KEY_MAX)
		return 0;
	ct_lock(t);
	if ((idx = find(t, kind, key, len, &free_idx)) != -1)
		n = slot_total(t, slot_at(t, (unsigned)idx));
	ct_unlock(t);
	return n;
}

unsigned
conntab_reclaim(struct conntab *t, unsigned owner)
{
	struct ct_slot	*s;
	unsigned	 i, dropped = 0;

	if (owner >= t->nowners)
		abort();
	/* Its listening flag stayed up: nothing must be left to it. */
	__atomic_store_n(&t->hdr->listening[owner], 0, __ATOMIC_RELAXED);
	__atomic_store_n(&t->hdr->load[owner], 0, __ATOMIC_RELAXED);
	ct_lock(t);
	for (i = 0; i < t->nslots; i++) {
		if (t->tags[i] == 0)
			continue;
		s = slot_at(t, i);
		dropped += s->count[owner];
		s->count[owner] = 0;
		if (slot_total(t, s) == 0)
			t->tags[i] = 0;	/* also one a dead owner claimed and never counted in */
	}
	ct_unlock(t);
	return dropped;
}
