/*
 * Per-thread error texts (lifetime: lib/error.h).  Two buffers used in
 * turn, so that a message may be built from the previous one: formatting
 * a buffer into itself would be undefined.
 */
#include "lib/error.h"

#include <errno.h>
#include <stdio.h>

static _Thread_local char	err_bufs[2][ERR_MAX];
static _Thread_local unsigned	err_next;

int
err_vset(const char **error_r, const char *fmt, va_list ap)
{
	char	*buf = err_bufs[err_next];
	int	 saved = errno;

	err_next ^= 1;
	vsnprintf(buf, ERR_MAX, fmt, ap);
	if (error_r != NULL)
		*error_r = buf;
	errno = saved;
	return -1;
}

int
err_set(const char **error_r, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	err_vset(error_r, fmt, ap);
	va_end(ap);
	return -1;
}
