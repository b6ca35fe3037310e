/*
 * Reading config-directory files through linebuf, so that the limits and
 * the line-end rules are the same as everywhere else.
 */
#include "lib/textfile.h"

#include "lib/error.h"
#include "lib/linebuf.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Hand every complete buffered line to fn. */
static void
textfile_drain(struct linebuf *lb, size_t max_line, unsigned *lineno,
    textfile_line_fn *fn, void *ctx)
{
	char	 why[64];
	char	*line;
	size_t	 len;

	for (;;) {
		switch (linebuf_next(lb, &line, &len)) {
		case LINE_MORE:
			return;
		case LINE_OK:
		case LINE_BARE_LF:
			fn(ctx, ++*lineno, line, NULL);
			break;
		case LINE_TOO_LONG:
			snprintf(why, sizeof(why), "line too long (max %zu bytes)", max_line);
			fn(ctx, ++*lineno, NULL, why);
			break;
		case LINE_NUL:
			fn(ctx, ++*lineno, NULL, "NUL byte in line");
			break;
		}
	}
}

int
textfile_read(const char *path, size_t max_line, textfile_line_fn *fn, void *ctx,
    const char **error_r)
{
	struct linebuf	*lb;
	char		 chunk[4096];
	size_t		 off, used;
	ssize_t		 n;
	unsigned	 lineno = 0;
	bool		 ends_in_lf = true;
	int		 fd, ret = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1) {
		if (errno == ENOENT)
			return 1;
		return err_set(error_r, "%s: %s", path, strerror(errno));
	}
	lb = linebuf_new(max_line);
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			ret = err_set(error_r, "%s: %s", path, strerror(errno));
			break;
		}
		if (n == 0) {
			/* A last line without LF is still a line. */
			if (!ends_in_lf) {
				linebuf_feed(lb, "\n", 1);
				textfile_drain(lb, max_line, &lineno, fn, ctx);
			}
			break;
		}
		ends_in_lf = chunk[n - 1] == '\n';
		/* The reader takes less than offered only while lines wait. */
		for (off = 0; off < (size_t)n; off += used) {
			used = linebuf_feed(lb, chunk + off, (size_t)n - off);
			textfile_drain(lb, max_line, &lineno, fn, ctx);
		}
	}
	linebuf_free(&lb);
	close(fd);
	return ret;
}

char *
textfile_trim(char *s)
{
	char	*e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}
