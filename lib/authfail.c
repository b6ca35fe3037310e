/*
 * Failed-login accounting per client address.  The table is a fixed array
 * scanned linearly: it is bounded (an attacker with many addresses only
 * evicts the oldest entries), and a scan of a few thousand 48-byte entries
 * is cheap next to the crypt(3) call every attempt costs.
 *
 * Shared table: a file of one header and max_entries entries, allocated
 * with posix_fallocate before it is mapped (a sparse file touched on a
 * full disk raises SIGBUS), updated under an fcntl write lock on the whole
 * file.  A process killed while holding the lock loses it with its life,
 * so nobody wedges; at worst it leaves one torn entry, which the checks
 * below treat as stale.  Times are CLOCK_MONOTONIC: the same in every
 * process.  A caller reads the clock before it waits for the lock, so
 * another process may have written a slightly later time meanwhile; an
 * entry further than AUTHFAIL_SKEW_MS "in the future" is from before a
 * reboot and stale.
 *
 * An entry's count decays to zero once block_ms have passed since its last
 * failure, which is also when a block ends.
 */
#include "lib/authfail.h"

#include "lib/log.h"
#include "lib/xmalloc.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define AUTHFAIL_DELAY_CAP_MS	15000
#define AUTHFAIL_MAGIC		0x50524146u	/* "PRAF" */
#define AUTHFAIL_VERSION	1u
#define AUTHFAIL_HDR_SIZE	64
#define AUTHFAIL_MAX_ENTRIES	1000000u
#define AUTHFAIL_SKEW_MS	60000

struct af_header {
	uint32_t	 magic;
	uint32_t	 version;
	uint32_t	 entry_size;
	uint32_t	 nentries;
};

struct af_entry {
	uint8_t		 addr[16];	/* IPv6; IPv4 as ::ffff:a.b.c.d */
	uint32_t	 used;
	uint32_t	 failures;
	uint64_t	 last_fail;
	uint64_t	 last_seen;	/* for eviction */
	uint64_t	 blocked_until;
};

struct authfail {
	struct authfail_settings set;
	struct af_entry	*entries;
	unsigned	 nentries;
	int		 fd;		/* -1: per-process table */
	void		*map;
	size_t		 map_len;
};

static size_t
file_size(unsigned nentries)
{
	return AUTHFAIL_HDR_SIZE + (size_t)nentries * sizeof(struct af_entry);
}

static int
file_lock(int fd, short type)
{
	struct flock	 fl;

	if (fd == -1)
		return 0;
	memset(&fl, 0, sizeof(fl));
	fl.l_type = type;
	fl.l_whence = SEEK_SET;		/* l_start = l_len = 0: the whole file */
	while (fcntl(fd, F_SETLKW, &fl) == -1)
		if (errno != EINTR)
			return -1;
	return 0;
}

static bool
header_ok(const struct af_header *h, off_t size)
{
	return h->magic == AUTHFAIL_MAGIC && h->version == AUTHFAIL_VERSION &&
	    h->entry_size == sizeof(struct af_entry) && h->nentries > 0 &&
	    h->nentries <= AUTHFAIL_MAX_ENTRIES && size >= (off_t)file_size(h->nentries);
}

/* A new or foreign file: zero it, allocate every block, then the header. */
static int
file_init(int fd, unsigned nentries, const char **error_r)
{
	struct af_header h = { AUTHFAIL_MAGIC, AUTHFAIL_VERSION, sizeof(struct af_entry),
			       nentries };
	int		 rc;

	if (ftruncate(fd, 0) == -1) {
		*error_r = strerror(errno);
		return -1;
	}
	if ((rc = posix_fallocate(fd, 0, (off_t)file_size(nentries))) != 0) {
		*error_r = strerror(rc);
		return -1;
	}
	if (pwrite(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h)) {
		*error_r = "cannot write the header";
		return -1;
	}
	return 0;
}

int
authfail_file_open(const char *path, unsigned max_entries, const char **error_r)
{
	struct af_header h;
	struct stat	 st;
	int		 fd;

	if (max_entries == 0 || max_entries > AUTHFAIL_MAX_ENTRIES)
		max_entries = max_entries == 0 ? 1 : AUTHFAIL_MAX_ENTRIES;
	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd == -1) {
		*error_r = strerror(errno);
		return -1;
	}
	if (file_lock(fd, F_WRLCK) == -1 || fstat(fd, &st) == -1) {
		*error_r = strerror(errno);
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		*error_r = "not a regular file";
		goto fail;
	}
	/* A valid table keeps its size: others may have it mapped. */
	if (pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) || !header_ok(&h, st.st_size)) {
		if (file_init(fd, max_entries, error_r) == -1)
			goto fail;
	}
	file_lock(fd, F_UNLCK);
	return fd;
fail:
	close(fd);
	return -1;
}

static int
table_map(struct authfail *af, int fd, const char **error_r)
{
	const struct af_header *h;
	struct stat	 st;

	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size < (off_t)file_size(1)) {
		*error_r = "not a table file";
		return -1;
	}
	af->map_len = (size_t)st.st_size;
	af->map = mmap(NULL, af->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (af->map == MAP_FAILED) {
		af->map = NULL;
		*error_r = strerror(errno);
		return -1;
	}
	h = af->map;
	if (!header_ok(h, st.st_size)) {
		munmap(af->map, af->map_len);
		af->map = NULL;
		*error_r = "bad table header";
		return -1;
	}
	af->nentries = h->nentries;
	af->entries = (struct af_entry *)((char *)af->map + AUTHFAIL_HDR_SIZE);
	if ((af->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) == -1) {
		munmap(af->map, af->map_len);
		af->map = NULL;
		*error_r = strerror(errno);
		return -1;
	}
	return 0;
}

struct authfail *
authfail_new(const struct authfail_settings *set, int fd)
{
	struct authfail	*af;
	const char	*error;

	af = xcalloc(1, sizeof(*af));
	af->set = *set;
	if (af->set.max_failures == 0)
		af->set.max_failures = 1;
	af->fd = -1;
	if (fd != -1 && table_map(af, fd, &error) == 0)
		return af;
	if (fd != -1)
		log_warnx("event=authfail shared=no reason=\"%s\": failed logins are"
		    " counted per process", error);
	af->nentries = set->max_entries > 0 ? set->max_entries : 1;
	af->entries = xcalloc(af->nentries, sizeof(*af->entries));
	return af;
}

void
authfail_free(struct authfail **afp)
{
	struct authfail	*af = *afp;

	if (af == NULL)
		return;
	if (af->map != NULL) {
		munmap(af->map, af->map_len);
		close(af->fd);
	} else
		free(af->entries);
	free(af);
	*afp = NULL;
}

bool
authfail_shared(const struct authfail *af)
{
	return af->map != NULL;
}

/* Text address to the table's key; false if it is not an IP address. */
static bool
addr_key(const char *addr, uint8_t key[16])
{
	struct in_addr	 a4;
	char		 buf[INET6_ADDRSTRLEN];
	size_t		 n = strcspn(addr, "%");	/* drop a zone: fe80::1%eth0 */

	if (n == 0 || n >= sizeof(buf))
		return false;
	memcpy(buf, addr, n);
	buf[n] = '\0';
	if (inet_pton(AF_INET, buf, &a4) == 1) {
		memset(key, 0, 10);
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &a4, 4);
		return true;
	}
	return inet_pton(AF_INET6, buf, key) == 1;
}

/* 127.0.0.0/8 (also v4-mapped) and ::1. */
static bool
key_is_loopback(const uint8_t key[16])
{
	static const uint8_t v4mapped[12] = { [10] = 0xff, [11] = 0xff };
	static const uint8_t v6loop[16] = { [15] = 1 };

	if (memcmp(key, v4mapped, 12) == 0)
		return key[12] == 127;
	return memcmp(key, v6loop, 16) == 0;
}

/* Whether e still says anything at now: recent, and not from a clock before ours. */
static bool
entry_live(const struct authfail *af, const struct af_entry *e, uint64_t now)
{
	uint64_t	 horizon = now + AUTHFAIL_SKEW_MS;

	if (!e->used || e->last_seen > horizon || e->last_fail > horizon ||
	    e->blocked_until > horizon + af->set.block_ms)
		return false;
	return e->last_fail > now || now - e->last_fail < af->set.block_ms ||
	    e->blocked_until > now;
}

static struct af_entry *
find(const struct authfail *af, const uint8_t key[16], uint64_t now)
{
	unsigned	 i;

	/* A stale twin may sit before the live entry: skip it. */
	for (i = 0; i < af->nentries; i++)
		if (af->entries[i].used && memcmp(af->entries[i].addr, key, 16) == 0 &&
		    entry_live(af, &af->entries[i], now))
			return &af->entries[i];
	return NULL;
}

/* The entry for key: its own, a free or expired slot, or the one seen least recently. */
static struct af_entry *
take_slot(struct authfail *af, const uint8_t key[16], uint64_t now)
{
	struct af_entry	*e, *oldest = &af->entries[0];
	unsigned	 i;

	if ((e = find(af, key, now)) != NULL)
		return e;
	for (i = 0; i < af->nentries; i++) {
		e = &af->entries[i];
		if (!entry_live(af, e, now)) {
			oldest = e;
			break;
		}
		if (e->last_seen < oldest->last_seen)
			oldest = e;
	}
	memset(oldest, 0, sizeof(*oldest));
	memcpy(oldest->addr, key, 16);
	oldest->used = 1;
	return oldest;
}

void
authfail_record(struct authfail *af, const char *addr, bool success, uint64_t now)
{
	struct af_entry	*e;
	uint8_t		 key[16];

	if (!addr_key(addr, key) || file_lock(af->fd, F_WRLCK) == -1)
		return;
	if (success) {
		/* A block stands until it ends; otherwise a good login clears the slate. */
		e = find(af, key, now);
		if (e != NULL && e->blocked_until <= now)
			memset(e, 0, sizeof(*e));
	} else {
		e = take_slot(af, key, now);
		if (e->failures < UINT32_MAX)
			e->failures++;
		/* Another process may have written a later time while we waited. */
		if (e->last_fail < now)
			e->last_fail = now;
		if (e->last_seen < now)
			e->last_seen = now;
		if (e->failures >= af->set.max_failures &&
		    e->blocked_until < now + af->set.block_ms)
			e->blocked_until = now + af->set.block_ms;
	}
	file_lock(af->fd, F_UNLCK);
}

/* The live entry's failures and block end, read under the lock. */
static void
lookup(struct authfail *af, const uint8_t key[16], uint64_t now, unsigned *failures_r,
    uint64_t *blocked_until_r)
{
	const struct af_entry *e;

	*failures_r = 0;
	*blocked_until_r = 0;
	if (file_lock(af->fd, F_RDLCK) == -1)
		return;
	if ((e = find(af, key, now)) != NULL) {
		*failures_r = e->failures;
		*blocked_until_r = e->blocked_until;
	}
	file_lock(af->fd, F_UNLCK);
}

uint64_t
authfail_delay(struct authfail *af, const char *addr, uint64_t now)
{
	uint8_t		 key[16];
	uint64_t	 until;
	unsigned	 f;

	if (af->set.base_delay_ms == 0 || !addr_key(addr, key))
		return 0;
	lookup(af, key, now, &f, &until);
	if (f == 0)
		return 0;
	/* Divide rather than multiply: no overflow for any base. */
	if (f > AUTHFAIL_DELAY_CAP_MS / af->set.base_delay_ms)
		return AUTHFAIL_DELAY_CAP_MS;
	return af->set.base_delay_ms * f;
}

bool
authfail_blocked(struct authfail *af, const char *addr, uint64_t now)
{
	uint8_t		 key[16];
	uint64_t	 until;
	unsigned	 f;

	if (!addr_key(addr, key) || (af->set.exempt_loopback && key_is_loopback(key)))
		return false;
	lookup(af, key, now, &f, &until);
	return until > now;
}
