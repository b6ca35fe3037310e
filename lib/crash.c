/* Fault injection for the crash tests (lib/crash.h). */
#include "lib/crash.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static atomic_uint	reached;

void
crash_point(const char *point)
{
	const char	*want, *colon;
	size_t		 len;

	/* Not cached: a forked test child sets it after the parent ran. */
	if ((want = getenv("POSTROOM_CRASH_AT")) == NULL)
		return;
	colon = strchr(want, ':');
	len = colon != NULL ? (size_t)(colon - want) : strlen(want);
	if (strlen(point) != len || strncmp(want, point, len) != 0)
		return;
	/* "point:n": the n-th time any thread gets here (a batch half acknowledged). */
	if (colon == NULL || atomic_fetch_add(&reached, 1) + 1 >= strtoul(colon + 1, NULL, 10))
		raise(SIGKILL);
}
