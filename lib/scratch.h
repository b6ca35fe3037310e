/*
 * A block of memory per thread for what is filled and used up within one
 * call (a socket read, a message block on its way to the wire), allocated
 * on the thread's first use and freed when the thread exits.
 *
 * A _Thread_local array instead lies in every thread's TLS block, which
 * glibc zeroes when the thread starts: 80 KB touched in each of a daemon's
 * io threads (16 per process by default), none of which ever used it.
 */
#ifndef LIB_SCRATCH_H
#define LIB_SCRATCH_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

struct scratch {
	size_t		 size;
	bool		 ready;		/* key created */
	pthread_key_t	 key;
};

#define SCRATCH_INIT(bytes)	{ .size = (bytes) }

/* This thread's block of s->size bytes (contents left from its last use). */
void	*scratch_get(struct scratch *s);

#endif
