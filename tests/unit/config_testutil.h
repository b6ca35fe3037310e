/* Test helpers for the config/directory tests: temp dirs, files, stderr capture. */
#ifndef TESTS_CONFIG_TESTUTIL_H
#define TESTS_CONFIG_TESTUTIL_H

#include <stddef.h>

/* A fresh directory under /tmp (malloc'd path); tu_rmdir removes it and its files. */
char	*tu_mkdtemp(void);
void	 tu_rmdir(char **dir);
/* Write dir/name with exactly len bytes (len = strlen(text) if len == (size_t)-1). */
void	 tu_write(const char *dir, const char *name, const char *text, size_t len);
/* Redirect stderr (the log) into a file until tu_capture_end, which returns it (malloc'd). */
void	 tu_capture_start(void);
char	*tu_capture_end(void);

#endif
