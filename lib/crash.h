/*
 * Fault injection for the crash tests: if the environment variable
 * POSTROOM_CRASH_AT names this point, the process kills itself (SIGKILL)
 * here; "point:n" waits for the n-th time any of its threads reaches it.  A getenv per point: nothing next to the fsyncs around it.  The
 * store's steps (store_crash_point) and the group commit's (lib/dirsync)
 * are named the same way.
 */
#ifndef LIB_CRASH_H
#define LIB_CRASH_H

void	crash_point(const char *point);

#endif
