/*
 * Line-by-line reading of the plain text files under the config directory
 * (postroom.conf, domains, passwd, groups, aliases), through the one line
 * reader (lib/linebuf.h).  Both LF and CRLF line ends are accepted; a last
 * line without LF still counts.
 */
#ifndef LIB_TEXTFILE_H
#define LIB_TEXTFILE_H

#include <stddef.h>

/*
 * Called once per line, numbered from 1.  line is NUL-terminated and may be
 * modified; it is NULL when the line was unusable, and then why says why
 * ("line too long", "NUL byte in line").
 */
typedef void	 textfile_line_fn(void *ctx, unsigned lineno, char *line, const char *why);

/*
 * Returns 0 when the whole file was read, 1 if it does not exist (ENOENT:
 * fn never called), -1 on any other open/read error with *error_r set
 * (valid until the next call in this thread).
 */
int		 textfile_read(const char *path, size_t max_line, textfile_line_fn *fn, void *ctx,
		    const char **error_r);

/* s without its leading and trailing white space (trailing cut in place). */
char		*textfile_trim(char *s);

#endif
