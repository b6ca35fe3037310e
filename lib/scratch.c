#include "lib/scratch.h"
#include "lib/xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t	scratch_lock = PTHREAD_MUTEX_INITIALIZER;

void *
scratch_get(struct scratch *s)
{
	void	*p;
	int	 e;

	if (!__atomic_load_n(&s->ready, __ATOMIC_ACQUIRE)) {
		pthread_mutex_lock(&scratch_lock);
		if (!s->ready) {
			if ((e = pthread_key_create(&s->key, free)) != 0) {
				fprintf(stderr, "postroom: scratch: %s\n", strerror(e));
				abort();	/* PTHREAD_KEYS_MAX: a handful are ever made */
			}
			__atomic_store_n(&s->ready, true, __ATOMIC_RELEASE);
		}
		pthread_mutex_unlock(&scratch_lock);
	}
	if ((p = pthread_getspecific(s->key)) == NULL) {
		p = xmalloc(s->size);
		if ((e = pthread_setspecific(s->key, p)) != 0) {
			fprintf(stderr, "postroom: scratch: %s\n", strerror(e));
			abort();
		}
	}
	return p;
}
