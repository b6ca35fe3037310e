/*
 * Memory a daemon shares with the workers it forks: an anonymous shared
 * mapping made before the fork, and the process-shared robust mutex that
 * guards what is in it (a worker killed while holding it leaves it to the
 * next locker, who goes on: each user of one keeps its table consistent
 * at every store, and says how).
 */
#ifndef LIB_SHM_H
#define LIB_SHM_H

#include <pthread.h>
#include <stddef.h>

/* len bytes, zeroed; untouched pages cost nothing.  Fatal if the kernel refuses. */
void		*shm_map(size_t len, const char *event);
void		 shm_mutex_init(pthread_mutex_t *m);
/* Locks m; logs event (owner_died=yes) when a dead process held it. */
void		 shm_mutex_lock(pthread_mutex_t *m, const char *event);

#endif
