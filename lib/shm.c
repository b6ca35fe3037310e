/* Shared memory for a daemon and its workers (lib/shm.h). */
#include "lib/shm.h"

#include "lib/log.h"

#include <sys/mman.h>
#include <errno.h>
#include <stdlib.h>

void *
shm_map(size_t len, const char *event)
{
	void	*map;

	map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED)
		fatal("event=%s bytes=%zu", event, len);
	return map;
}

void
shm_mutex_init(pthread_mutex_t *m)
{
	pthread_mutexattr_t	 attr;

	pthread_mutexattr_init(&attr);
	pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(m, &attr);
	pthread_mutexattr_destroy(&attr);
}

void
shm_mutex_lock(pthread_mutex_t *m, const char *event)
{
	int	rc = pthread_mutex_lock(m);

	if (rc == EOWNERDEAD) {
		log_warnx("event=%s owner_died=yes", event);
		rc = pthread_mutex_consistent(m);
	}
	if (rc != 0) {
		errno = rc;
		log_warn("event=%s status=failed", event);
		abort();	/* a bug: nobody leaves it unrecoverable */
	}
}
