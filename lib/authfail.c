/*
 * Failed-login accounting per client address.  The table is a fixed array
 * scanned linearly: it is bounded by max_entries (an attacker with many
 * addresses only evicts the oldest entries), and a scan of a few thousand
 * short strings is cheap next to the crypt(3) call every attempt costs.
 *
 * An entry's count decays to zero once block_ms have passed since its last
 * failure, which is also when a block ends.
 */
#include "lib/authfail.h"

#include "lib/xmalloc.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#define AUTHFAIL_DELAY_CAP_MS	15000
#define AUTHFAIL_ADDR_MAX	64	/* an IPv6 text address is at most 45 */

struct af_entry {
	char		 addr[AUTHFAIL_ADDR_MAX];	/* "" = free slot */
	unsigned	 failures;
	uint64_t	 last_fail;
	uint64_t	 last_seen;			/* for eviction */
	uint64_t	 blocked_until;
};

struct authfail {
	struct af_entry	*entries;
	unsigned	 max_entries;
	unsigned	 max_failures;
	uint64_t	 base_delay_ms;
	uint64_t	 block_ms;
};

struct authfail *
authfail_new(unsigned max_entries, unsigned max_failures, uint64_t base_delay_ms,
    uint64_t block_ms)
{
	struct authfail	*af;

	af = xcalloc(1, sizeof(*af));
	af->max_entries = max_entries > 0 ? max_entries : 1;
	af->entries = xcalloc(af->max_entries, sizeof(*af->entries));
	af->max_failures = max_failures > 0 ? max_failures : 1;
	af->base_delay_ms = base_delay_ms;
	af->block_ms = block_ms;
	return af;
}

void
authfail_free(struct authfail **af)
{
	if (*af == NULL)
		return;
	free((*af)->entries);
	free(*af);
	*af = NULL;
}

/* 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104. */
static bool
is_loopback(const char *addr)
{
	struct in_addr	 a4;
	struct in6_addr	 a6;

	if (inet_pton(AF_INET, addr, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, addr, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6) ||
		    (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
	return false;
}

static struct af_entry *
find(const struct authfail *af, const char *addr)
{
	unsigned	 i;

	if (addr[0] == '\0' || strlen(addr) >= AUTHFAIL_ADDR_MAX)
		return NULL;
	for (i = 0; i < af->max_entries; i++)
		if (strcmp(af->entries[i].addr, addr) == 0)
			return &af->entries[i];
	return NULL;
}

/* A free slot, or the entry seen least recently. */
static struct af_entry *
take_slot(struct authfail *af, const char *addr)
{
	struct af_entry	*e, *oldest = &af->entries[0];
	unsigned	 i;

	for (i = 0; i < af->max_entries; i++) {
		e = &af->entries[i];
		if (e->addr[0] == '\0') {
			oldest = e;
			break;
		}
		if (e->last_seen < oldest->last_seen)
			oldest = e;
	}
	memset(oldest, 0, sizeof(*oldest));
	memcpy(oldest->addr, addr, strlen(addr) + 1);
	return oldest;
}

static unsigned
current_failures(const struct authfail *af, const struct af_entry *e, uint64_t now)
{
	if (e == NULL || (now >= e->last_fail + af->block_ms && now >= e->blocked_until))
		return 0;
	return e->failures;
}

void
authfail_record(struct authfail *af, const char *addr, bool success, uint64_t now)
{
	struct af_entry	*e = find(af, addr);

	if (success) {
		/* A block stands until it ends; otherwise a good login clears the slate. */
		if (e != NULL && e->blocked_until <= now)
			memset(e, 0, sizeof(*e));
		return;
	}
	if (addr[0] == '\0' || strlen(addr) >= AUTHFAIL_ADDR_MAX)
		return;
	if (e == NULL)
		e = take_slot(af, addr);
	e->failures = current_failures(af, e, now);
	if (e->failures < UINT32_MAX)
		e->failures++;
	e->last_fail = now;
	e->last_seen = now;
	if (e->failures >= af->max_failures)
		e->blocked_until = now + af->block_ms;
}

uint64_t
authfail_delay(const struct authfail *af, const char *addr, uint64_t now)
{
	unsigned	 f = current_failures(af, find(af, addr), now);

	if (af->base_delay_ms == 0 || f == 0)
		return 0;
	/* Divide rather than multiply: no overflow for any base. */
	if (f > AUTHFAIL_DELAY_CAP_MS / af->base_delay_ms)
		return AUTHFAIL_DELAY_CAP_MS;
	return af->base_delay_ms * f;
}

bool
authfail_blocked(const struct authfail *af, const char *addr, uint64_t now)
{
	const struct af_entry	*e = find(af, addr);

	return e != NULL && e->blocked_until > now && !is_loopback(addr);
}
