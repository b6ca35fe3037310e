/*
 * lib/config.c and lib/directory.c on arbitrary file contents.  The input
 * is written as postroom.conf and, after the first "\n--\n", as the groups
 * file next to a fixed domains/passwd/aliases, then both are loaded.  Any
 * result is fine; a crash, leak or sanitizer report is not.  A successful
 * load must answer every lookup it offers.
 */
#include "tests/fuzz/fuzzer.h"
#include "lib/config.h"
#include "lib/directory.h"
#include "lib/log.h"
#include "mail/address.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char	 fuzz_dir[] = "/tmp/postroom-fuzz-config.XXXXXX";

static void
put(const char *name, const void *data, size_t len)
{
	char	 path[128];
	int	 fd;

	memcpy(path, fuzz_dir, sizeof(fuzz_dir));
	strcat(path, "/");
	strcat(path, name);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1 ||
	    write(fd, data, len) != (ssize_t)len || close(fd) == -1)
		abort();
}

static void
fuzz_cleanup(void)
{
	static const char *const names[] = { "postroom.conf", "domains", "passwd", "groups", "aliases" };
	char	 path[128];
	size_t	 i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		memcpy(path, fuzz_dir, sizeof(fuzz_dir));
		strcat(path, "/");
		strcat(path, names[i]);
		unlink(path);
	}
	rmdir(fuzz_dir);
}

static void
fuzz_setup(void)
{
	static const char	 domains[] = "example.com catchall=all\nexample.org\n";
	static const char	 passwd[] = "alice@example.com:$6$x$y\nbob@example.com:$6$x$y\n"
	    "carol@example.org:$6$x$y::::::quota_bytes=10\n";
	static const char	 aliases[] = "info@example.com: alice@example.com\n";

	if (mkdtemp(fuzz_dir) == NULL)
		abort();
	atexit(fuzz_cleanup);
	log_init("fuzz", LOG_LEVEL_ERROR, "stderr");	/* every bad line warns */
	put("domains", domains, sizeof(domains) - 1);
	put("passwd", passwd, sizeof(passwd) - 1);
	put("aliases", aliases, sizeof(aliases) - 1);
}

FUZZ_BEGIN(data, size)
{
	static int		 ready;
	const struct dir_user	*u[4];
	struct directory	*dir;
	struct config		*cfg;
	const uint8_t		*sep;
	const char		*err;
	char			 path[128];
	size_t			 conf_len = size, n;

	if (!ready++)
		fuzz_setup();
	sep = memmem(data, size, "\n--\n", 4);
	if (sep != NULL)
		conf_len = (size_t)(sep - data);
	put("postroom.conf", data, conf_len);
	put("groups", sep != NULL ? sep + 4 : data, sep != NULL ? size - conf_len - 4 : 0);

	memcpy(path, fuzz_dir, sizeof(fuzz_dir));
	strcat(path, "/postroom.conf");
	if ((cfg = config_load(path, &err)) != NULL) {
		(void)config_settings(cfg)->smtpd.max_message_size;
		(void)strlen(config_settings(cfg)->lib.mail_root);
		config_free(&cfg);
	}
	if ((dir = directory_load(fuzz_dir, &address_user_syntax, &err)) != NULL) {
		(void)directory_resolve(dir, "all@example.com", u, 4, &n);
		(void)directory_resolve(dir, "x+y@example.com", u, 4, &n);
		directory_free(&dir);
	}
}
FUZZ_END
