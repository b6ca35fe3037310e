/*
 * Logins recently verified (lib/passcache.h).  One mapping shared by a
 * daemon's workers (lib/shm.h): a header (the mutex, the key), then
 * buckets of WAYS entries.  For a stored hash, hk = HMAC(key, stored): its
 * first 16 bytes are the entry's tag, the next 8 pick the bucket.  The
 * entry's MAC is HMAC(hk, password), so it answers for that hash and no
 * other.  The key is drawn before the fork and lives only in the mapping,
 * which is left out of core dumps (MADV_DONTDUMP): who reads a disk, a
 * backup or a core file cannot test guesses against the MACs (who reads a
 * live daemon's memory could read passwords as they arrive anyway).
 *
 * Writes are under the mutex.  An entry is emptied (added = 0) before it
 * is written and dated last, so a worker killed in the middle of one
 * leaves an empty entry, never a false hit.
 */
#include "lib/passcache.h"

#include "lib/ev.h"
#include "lib/log.h"
#include "lib/shm.h"
#include "lib/xmalloc.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define WAYS		4	/* entries a stored hash may take */
#define TAG_LEN		16
#define MAC_LEN		SHA256_DIGEST_LENGTH

struct pc_header {
	pthread_mutex_t	 lock;
	unsigned char	 key[MAC_LEN];
};

/* The entries start on a cache line of their own. */
#define HEADER_BYTES	((sizeof(struct pc_header) + 63) / 64 * 64)

struct pc_entry {
	uint64_t	 added;		/* CLOCK_MONOTONIC ms; 0: empty */
	unsigned char	 tag[TAG_LEN];
	unsigned char	 mac[MAC_LEN];
};

struct passcache {
	struct pc_header	*hdr;		/* the mapping */
	struct pc_entry		*entries;
	size_t			 nentries;
	size_t			 map_len;
	_Atomic uint64_t	 ttl_ms;	/* this process's: set on the loop, read on the workq */
};

static uint64_t
ttl(const struct passcache *pc)
{
	return atomic_load_explicit(&pc->ttl_ms, memory_order_relaxed);
}

struct passcache *
passcache_new(unsigned entries)
{
	struct passcache	*pc;
	char			*map;

	if (entries == 0)
		return NULL;
	pc = xcalloc(1, sizeof(*pc));
	pc->nentries = ((size_t)entries + WAYS - 1) / WAYS * WAYS;
	pc->map_len = size_add(HEADER_BYTES, size_mul(pc->nentries, sizeof(struct pc_entry)));
	map = shm_map(pc->map_len, "passcache");
	if (madvise(map, pc->map_len, MADV_DONTDUMP) == -1)
		log_warn("event=passcache call=madvise");
	pc->hdr = (struct pc_header *)map;
	pc->entries = (struct pc_entry *)(map + HEADER_BYTES);
	if (getrandom(pc->hdr->key, sizeof(pc->hdr->key), 0) != (ssize_t)sizeof(pc->hdr->key)) {
		log_warn("event=passcache status=failed call=getrandom reason=\"logins not remembered\"");
		munmap(map, pc->map_len);
		free(pc);
		return NULL;
	}
	shm_mutex_init(&pc->hdr->lock);
	return pc;
}

/* The mapping, key included, stays the other workers' until the last one unmaps it. */
void
passcache_free(struct passcache **pcp)
{
	struct passcache	*pc = *pcp;

	if (pc == NULL)
		return;
	munmap(pc->hdr, pc->map_len);
	free(pc);
	*pcp = NULL;
}

static bool
fresh(const struct pc_entry *e, uint64_t now, uint64_t ttl_ms)
{
	return e->added != 0 && now - e->added < ttl_ms;
}

/* A shorter ttl (0: none) is an admin who wants the older logins gone, not only unused. */
static void
forget_stale(struct passcache *pc)
{
	uint64_t	 now, ttl_ms = ttl(pc);
	size_t		 i;

	shm_mutex_lock(&pc->hdr->lock, "passcache_lock");
	now = ev_clock_ms();
	for (i = 0; i < pc->nentries; i++)
		if (pc->entries[i].added != 0 && !fresh(&pc->entries[i], now, ttl_ms))
			explicit_bzero(&pc->entries[i], sizeof(pc->entries[i]));
	pthread_mutex_unlock(&pc->hdr->lock);
}

void
passcache_set_ttl(struct passcache *pc, uint64_t ttl_ms)
{
	if (pc == NULL)
		return;
	if (atomic_exchange_explicit(&pc->ttl_ms, ttl_ms, memory_order_relaxed) > ttl_ms)
		forget_stale(pc);
}

/* hk and the password's MAC; false if OpenSSL failed (then nothing is remembered). */
static bool
digest(const struct passcache *pc, const char *stored, const char *plain,
    unsigned char hk_r[MAC_LEN], unsigned char mac_r[MAC_LEN])
{
	unsigned	 len = MAC_LEN;

	if (HMAC(EVP_sha256(), pc->hdr->key, sizeof(pc->hdr->key), (const unsigned char *)stored,
	    strlen(stored), hk_r, &len) == NULL)
		return false;
	return HMAC(EVP_sha256(), hk_r, MAC_LEN, (const unsigned char *)plain, strlen(plain),
	    mac_r, &len) != NULL;
}

static struct pc_entry *
bucket(const struct passcache *pc, const unsigned char hk[MAC_LEN])
{
	uint64_t	 h;

	memcpy(&h, hk + TAG_LEN, sizeof(h));
	return &pc->entries[(h % (pc->nentries / WAYS)) * WAYS];
}

bool
passcache_hit(struct passcache *pc, const char *stored, const char *plain)
{
	unsigned char	 hk[MAC_LEN], mac[MAC_LEN];
	struct pc_entry	*b;
	uint64_t	 now, ttl_ms;
	bool		 hit = false;
	int		 i;

	if (pc == NULL || (ttl_ms = ttl(pc)) == 0 || !digest(pc, stored, plain, hk, mac))
		return false;
	b = bucket(pc, hk);
	shm_mutex_lock(&pc->hdr->lock, "passcache_lock");
	/* The clock read under the lock: no entry is from after it. */
	now = ev_clock_ms();
	for (i = 0; i < WAYS; i++)
		if (fresh(&b[i], now, ttl_ms) && memcmp(b[i].tag, hk, TAG_LEN) == 0) {
			hit = CRYPTO_memcmp(b[i].mac, mac, MAC_LEN) == 0;
			break;
		}
	pthread_mutex_unlock(&pc->hdr->lock);
	explicit_bzero(hk, sizeof(hk));
	explicit_bzero(mac, sizeof(mac));
	return hit;
}

void
passcache_add(struct passcache *pc, const char *stored, const char *plain)
{
	unsigned char	 hk[MAC_LEN], mac[MAC_LEN];
	struct pc_entry	*b, *e;
	int		 i;

	if (pc == NULL || ttl(pc) == 0 || !digest(pc, stored, plain, hk, mac))
		return;
	b = bucket(pc, hk);
	shm_mutex_lock(&pc->hdr->lock, "passcache_lock");
	/* The hash's own entry, else the one added longest ago (an empty one: 0). */
	e = &b[0];
	for (i = 0; i < WAYS; i++) {
		if (memcmp(b[i].tag, hk, TAG_LEN) == 0) {
			e = &b[i];
			break;
		}
		if (b[i].added < e->added)
			e = &b[i];
	}
	e->added = 0;
	memcpy(e->tag, hk, TAG_LEN);
	memcpy(e->mac, mac, MAC_LEN);
	atomic_signal_fence(memory_order_release);	/* dated last, even for a kill */
	e->added = ev_clock_ms();
	pthread_mutex_unlock(&pc->hdr->lock);
	explicit_bzero(hk, sizeof(hk));
	explicit_bzero(mac, sizeof(mac));
}
