/* lib/safedir: directories opened and removed by descriptor, never through a symlink. */
#include "lib/safedir.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

struct fx {
	char	 top[64];	/* holds "tree" (to remove) and "victim" */
	int	 fd;
};

static int
setup(void **state)
{
	static struct fx	 fx;

	snprintf(fx.top, sizeof(fx.top), "/tmp/test_safedir.XXXXXX");
	assert_non_null(mkdtemp(fx.top));
	fx.fd = open(fx.top, O_RDONLY | O_DIRECTORY);
	assert_true(fx.fd != -1);
	assert_int_equal(mkdirat(fx.fd, "victim", 0700), 0);
	assert_int_equal(mkdirat(fx.fd, "tree", 0700), 0);
	*state = &fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fx	*fx = *state;
	char		 cmd[128];

	close(fx->fd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->top);
	return system(cmd);
}

static void
touch(const struct fx *fx, const char *rel)
{
	int	 fd = openat(fx->fd, rel, O_WRONLY | O_CREAT | O_EXCL, 0600);

	assert_true(fd != -1);
	close(fd);
}

static void
test_removes_tree_not_what_links_point_to(void **state)
{
	struct fx	*fx = *state;
	char		 victim[128];
	const char	*err = NULL;
	unsigned	 links = 99;

	snprintf(victim, sizeof(victim), "%s/victim", fx->top);
	touch(fx, "victim/precious");
	assert_int_equal(mkdirat(fx->fd, "tree/cur", 0700), 0);
	assert_int_equal(mkdirat(fx->fd, "tree/.Trash", 0700), 0);
	assert_int_equal(mkdirat(fx->fd, "tree/.Trash/new", 0700), 0);
	touch(fx, "tree/cur/msg");
	touch(fx, "tree/.Trash/new/msg");
	assert_int_equal(symlinkat(victim, fx->fd, "tree/new"), 0);
	assert_int_equal(symlinkat("../../victim/precious", fx->fd, "tree/cur/file-link"), 0);
	assert_int_equal(safedir_remove_tree(fx->fd, "tree", "tree", getuid(), &links, &err), 0);
	assert_int_equal(links, 2);
	assert_int_equal(faccessat(fx->fd, "tree", F_OK, AT_SYMLINK_NOFOLLOW), -1);
	assert_int_equal(faccessat(fx->fd, "victim/precious", F_OK, 0), 0);
}

static void
test_top_symlink_refused(void **state)
{
	struct fx	*fx = *state;
	const char	*err = NULL;
	unsigned	 links;

	touch(fx, "victim/precious");
	assert_int_equal(symlinkat("victim", fx->fd, "link"), 0);
	assert_int_equal(safedir_remove_tree(fx->fd, "link", "/x/link", SAFEDIR_ANY_OWNER,
	    &links, &err), -1);
	assert_int_equal(errno, ELOOP);
	assert_string_equal(err, "/x/link is a symbolic link: not followed");
	assert_int_equal(faccessat(fx->fd, "victim/precious", F_OK, 0), 0);
	assert_int_equal(safedir_open(fx->fd, "link", "link", SAFEDIR_ANY_OWNER, &err), -1);
	assert_int_equal(errno, ELOOP);
	/* Missing is ENOENT, so a caller can tell "nothing to do". */
	assert_int_equal(safedir_remove_tree(fx->fd, "nothing", "nothing", SAFEDIR_ANY_OWNER,
	    &links, &err), -1);
	assert_int_equal(errno, ENOENT);
}

static void
test_owner_checked(void **state)
{
	struct fx	*fx = *state;
	const char	*err = NULL;
	unsigned	 links;
	int		 fd;

	assert_int_equal(safedir_open(fx->fd, "tree", "tree", getuid() + 1, &err), -1);
	assert_int_equal(errno, EPERM);
	assert_non_null(strstr(err, "not entered"));
	assert_int_equal(safedir_remove_tree(fx->fd, "tree", "tree", getuid() + 1, &links,
	    &err), -1);
	assert_int_equal(faccessat(fx->fd, "tree", F_OK, 0), 0);
	fd = safedir_open(fx->fd, "tree", "tree", getuid(), &err);
	assert_true(fd != -1);
	close(fd);
}

/* A tree deeper than SAFEDIR_DEPTH_MAX: refused there, the walk stays bounded. */
static void
test_depth_bounded(void **state)
{
	struct fx	*fx = *state;
	char		 rel[4096];
	const char	*err = NULL;
	unsigned	 links, i;

	snprintf(rel, sizeof(rel), "tree");
	for (i = 0; i < SAFEDIR_DEPTH_MAX + 2; i++) {
		strcat(rel, "/d");
		assert_int_equal(mkdirat(fx->fd, rel, 0700), 0);
	}
	assert_int_equal(safedir_remove_tree(fx->fd, "tree", "tree", getuid(), &links, &err), -1);
	assert_non_null(strstr(err, "levels deep"));
	assert_int_equal(faccessat(fx->fd, "tree", F_OK, 0), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_removes_tree_not_what_links_point_to,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_top_symlink_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_owner_checked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_depth_bounded, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
