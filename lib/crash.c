/* Fault injection for the crash tests (lib/crash.h). */
#include "lib/crash.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

void
crash_point(const char *point)
{
	const char	*want;

	/* Not cached: a forked test child sets it after the parent ran. */
	if ((want = getenv("POSTROOM_CRASH_AT")) != NULL && strcmp(want, point) == 0)
		raise(SIGKILL);
}
