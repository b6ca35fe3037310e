/*
 * Logins recently verified (lib/passcache.h).  One mapping shared by a
 * daemon's workers (lib/shm.h): a header with the mutex, then buckets of
 * WAYS entries.  For a stored hash, hk = HMAC(key, stored): its first 16
 * bytes are the entry's tag, the next 8 pick the bucket.  The entry's MAC
 * is HMAC(hk, password), so it answers for that hash and no other.  The
 * key is drawn before the fork and lives only in the processes' memory:
 * who reads a disk, a backup or a core file without it cannot test
 * guesses against the MACs (who reads a live daemon's memory could read
 * passwords as they arrive anyway).
 *
 * Writes are under the mutex.  A worker killed in the middle of one leaves
 * at worst an entry whose tag and MAC come from two logins, which matches
 * no password: a miss, never a false hit.
 */
#include "lib/passcache.h"

#include "lib/log.h"
#include "lib/shm.h"
#include "lib/xmalloc.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WAYS		4	/* entries a stored hash may take */
#define TAG_LEN		16

struct pc_entry {
	uint64_t	 added;		/* CLOCK_MONOTONIC ms; 0: empty */
	unsigned char	 tag[TAG_LEN];
	unsigned char	 mac[32];
};

struct passcache {
	pthread_mutex_t	*lock;		/* in the mapping, as the entries */
	struct pc_entry	*entries;
	size_t		 nbuckets;
	size_t		 map_len;
	uint64_t	 ttl_ms;	/* this process's */
	unsigned char	 key[32];
};

static uint64_t
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct passcache *
passcache_new(unsigned entries)
{
	struct passcache	*pc;
	size_t			 head = 64;	/* the mutex, on a cache line of its own */
	char			*map;

	if (entries == 0)
		return NULL;
	pc = xcalloc(1, sizeof(*pc));
	if (getrandom(pc->key, sizeof(pc->key), 0) != (ssize_t)sizeof(pc->key)) {
		log_warn("event=passcache status=failed call=getrandom: logins not remembered");
		free(pc);
		return NULL;
	}
	pc->nbuckets = (entries + WAYS - 1) / WAYS;
	pc->map_len = size_add(head, size_mul(pc->nbuckets * WAYS, sizeof(struct pc_entry)));
	map = shm_map(pc->map_len, "passcache");
	pc->lock = (pthread_mutex_t *)map;
	pc->entries = (struct pc_entry *)(map + head);
	shm_mutex_init(pc->lock);
	return pc;
}

void
passcache_free(struct passcache **pcp)
{
	struct passcache	*pc = *pcp;

	if (pc == NULL)
		return;
	munmap(pc->lock, pc->map_len);
	explicit_bzero(pc->key, sizeof(pc->key));
	free(pc);
	*pcp = NULL;
}

void
passcache_set_ttl(struct passcache *pc, uint64_t ttl_ms)
{
	if (pc != NULL)
		pc->ttl_ms = ttl_ms;
}

/* hk and the password's MAC; false if OpenSSL failed (then nothing is remembered). */
static bool
digest(const struct passcache *pc, const char *stored, const char *plain,
    unsigned char hk[32], unsigned char mac[32])
{
	unsigned	 len = 32;

	if (HMAC(EVP_sha256(), pc->key, sizeof(pc->key), (const unsigned char *)stored,
	    strlen(stored), hk, &len) == NULL)
		return false;
	return HMAC(EVP_sha256(), hk, 32, (const unsigned char *)plain, strlen(plain),
	    mac, &len) != NULL;
}

static struct pc_entry *
bucket(const struct passcache *pc, const unsigned char hk[32])
{
	uint64_t	 h;

	memcpy(&h, hk + TAG_LEN, sizeof(h));
	return &pc->entries[h % pc->nbuckets * WAYS];
}

static bool
fresh(const struct passcache *pc, const struct pc_entry *e, uint64_t now)
{
	return e->added != 0 && now - e->added < pc->ttl_ms;
}

bool
passcache_hit(struct passcache *pc, const char *stored, const char *plain)
{
	unsigned char	 hk[32], mac[32];
	struct pc_entry	*b;
	uint64_t	 now;
	bool		 hit = false;
	int		 i;

	if (pc == NULL || pc->ttl_ms == 0 || !digest(pc, stored, plain, hk, mac))
		return false;
	b = bucket(pc, hk);
	shm_mutex_lock(pc->lock, "passcache_lock");
	/* The clock read under the lock: no entry is from after it. */
	now = now_ms();
	for (i = 0; i < WAYS; i++)
		if (fresh(pc, &b[i], now) && memcmp(b[i].tag, hk, TAG_LEN) == 0) {
			hit = CRYPTO_memcmp(b[i].mac, mac, sizeof(mac)) == 0;
			break;
		}
	pthread_mutex_unlock(pc->lock);
	explicit_bzero(mac, sizeof(mac));
	return hit;
}

void
passcache_add(struct passcache *pc, const char *stored, const char *plain)
{
	unsigned char	 hk[32], mac[32];
	struct pc_entry	*b, *e;
	int		 i;

	if (pc == NULL || pc->ttl_ms == 0 || !digest(pc, stored, plain, hk, mac))
		return;
	b = bucket(pc, hk);
	shm_mutex_lock(pc->lock, "passcache_lock");
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
	memcpy(e->mac, mac, sizeof(mac));
	e->added = now_ms();
	pthread_mutex_unlock(pc->lock);
	explicit_bzero(mac, sizeof(mac));
}
