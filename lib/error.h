/*
 * The one place error texts live.  A function that fails sets
 * *error_r = err_set(...)'s text and returns -1 (STYLE.md rule 7); the
 * text is for logs and replies, never compared (codes are enums: see
 * store_error_code()).
 *
 * Lifetime: the text is in a per-thread buffer and stays valid until this
 * thread's next err_set() has returned.  That next call may take it as an
 * argument (wrapping a lower layer's message, "%s: %s", what, err), and
 * is the last one that may: a caller that keeps a text longer, or hands it
 * to another thread (a workq job's result), copies it.
 */
#ifndef LIB_ERROR_H
#define LIB_ERROR_H

#include <stdarg.h>

/* Longest text kept (a path and a reason); longer ones are cut. */
#define ERR_MAX	(4096 + 256)

/*
 * Format the text into this thread's buffer, point *error_r at it (if
 * error_r is not NULL) and return -1.  errno is preserved, so a caller may
 * still test it after reporting.
 */
int	err_set(const char **error_r, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
int	err_vset(const char **error_r, const char *fmt, va_list ap)
	    __attribute__((format(printf, 2, 0)));

#endif
