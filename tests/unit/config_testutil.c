#include "tests/unit/config_testutil.h"

#include "lib/xmalloc.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int	 tu_saved_fd = -1;
static char	 tu_capture_path[64];

char *
tu_mkdtemp(void)
{
	char	 tmpl[] = "/tmp/postroom-test.XXXXXX";

	if (mkdtemp(tmpl) == NULL)
		abort();
	return xstrdup(tmpl);
}

void
tu_rmdir(char **dirp)
{
	struct dirent	*de;
	DIR		*dir;
	char		*path;

	if (*dirp == NULL)
		return;
	if ((dir = opendir(*dirp)) != NULL) {
		while ((de = readdir(dir)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			path = xasprintf("%s/%s", *dirp, de->d_name);
			unlink(path);
			free(path);
		}
		closedir(dir);
	}
	rmdir(*dirp);
	xfree(dirp);
}

void
tu_write(const char *dir, const char *name, const char *text, size_t len)
{
	char	*path = xasprintf("%s/%s", dir, name);
	FILE	*f = fopen(path, "w");

	if (len == (size_t)-1)
		len = strlen(text);
	if (f == NULL || fwrite(text, 1, len, f) != len || fclose(f) != 0)
		abort();
	free(path);
}

void
tu_capture_start(void)
{
	int	 fd;

	strcpy(tu_capture_path, "/tmp/postroom-log.XXXXXX");
	fflush(stderr);
	if ((fd = mkstemp(tu_capture_path)) == -1)
		abort();
	tu_saved_fd = dup(2);
	dup2(fd, 2);
	close(fd);
}

char *
tu_capture_end(void)
{
	char	*text;
	FILE	*f;
	long	 len;

	fflush(stderr);
	dup2(tu_saved_fd, 2);
	close(tu_saved_fd);
	tu_saved_fd = -1;
	if ((f = fopen(tu_capture_path, "r")) == NULL)
		abort();
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	text = xcalloc(1, (size_t)len + 1);
	if (len > 0 && fread(text, 1, (size_t)len, f) != (size_t)len)
		abort();
	fclose(f);
	unlink(tu_capture_path);
	/* Echo it so a failing test still shows the log. */
	fputs(text, stderr);
	return text;
}
