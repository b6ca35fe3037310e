/* The deliver binary: resolution, headers, CRLF, sysexits codes. */
#include "store/store.h"
#include "tests/unit/store_fixture.h"
#include "lib/xmalloc.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <pwd.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

struct fx {
	char		*root;
};

static int
setup(void **state)
{
	struct fx	*fx = xcalloc(1, sizeof(*fx));

	fx->root = fx_tmpdir("deliver");
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fx	*fx = *state;

	fx_rmtree(fx->root);
	free(fx->root);
	free(fx);
	return 0;
}

static char	*deliver_path;

/* Run the deliver binary with stdin = input; its exit status. */
static int
run_deliver(const char *input, char *const argv[])
{
	int	 p[2], status;
	pid_t	 pid;

	assert_int_equal(pipe(p), 0);
	if ((pid = fork()) == 0) {
		dup2(p[0], 0);
		close(p[0]);
		close(p[1]);
		if (freopen("/dev/null", "w", stderr) == NULL)
			_exit(99);
		execv(deliver_path, argv);
		_exit(98);
	}
	close(p[0]);
	assert_int_equal(write(p[1], input, strlen(input)), (ssize_t)strlen(input));
	close(p[1]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/*
 * A store failure exits by its code: a Maildir the mail user cannot write
 * to is EX_NOPERM, over quota EX_TEMPFAIL; a temporary failure wins over a
 * permanent one of another recipient (the caller retries them all).
 */
static void
deliver_store_codes(const char *conf, const char *root, const char *msg)
{
	char	 cmd[4200];
	char	*noperm[] = { "deliver", "-c", (char *)conf, "-f", "a@b.c", "-d",
		    "cat@example.org", NULL };
	char	*cat_ben[] = { "deliver", "-c", (char *)conf, "-f", "a@b.c", "-d",
		    "cat@example.org", "ben@example.org", NULL };
	char	*ben_cat[] = { "deliver", "-c", (char *)conf, "-f", "a@b.c", "-d",
		    "ben@example.org", "cat@example.org", NULL };

	/* Root's own writes are never refused: only when deliver runs as nobody. */
	if (geteuid() == 0 && getpwnam("nobody") == NULL)
		return;
	snprintf(cmd, sizeof(cmd), "d=%s/mail/example.org/cat/Maildir && "
	    "mkdir -p $d/new $d/cur $d/tmp && chmod 0555 $d/tmp", root);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(run_deliver(msg, noperm), 77);
	assert_int_equal(run_deliver(msg, cat_ben), 75);
	assert_int_equal(run_deliver(msg, ben_cat), 75);
}

static void
test_deliver_binary(void **state)
{
	struct fx	*fx = *state;
	char		 conf[4096], path[4096], text[512];
	const char	*msg = "From sender@x.org Sat Nov 28 01:00:00 2026\r\n"
			    "Subject: hi\r\n\r\nhello\r\n";
	struct passwd	*pw;
	FILE		*f;
	int		 fd;
	ssize_t		 n;

	if (access(deliver_path, X_OK) == -1)
		skip();
	snprintf(conf, sizeof(conf), "%s/postroom.conf", fx->root);
	f = fopen(conf, "w");
	fprintf(f, "mail_root = %s/mail\n", fx->root);
	/* Run by root, deliver works as the mail user: give it the tree. */
	if (geteuid() == 0 && (pw = getpwnam("nobody")) != NULL) {
		fprintf(f, "user = nobody\n");
		assert_int_equal(chown(fx->root, pw->pw_uid, pw->pw_gid), 0);
	}
	fclose(f);
	snprintf(path, sizeof(path), "%s/domains", fx->root);
	f = fopen(path, "w");
	fputs("example.org\n", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/passwd", fx->root);
	f = fopen(path, "w");
	fputs("ann@example.org:{CRYPT}$y$j9T$x$y::::::\n"
	    "ben@example.org:{CRYPT}$y$j9T$x$y:::::: quota_messages=1\n"
	    "cat@example.org:{CRYPT}$y$j9T$x$y::::::\n", f);
	fclose(f);
	{
		char *ok[] = { "deliver", "-c", conf, "-f", "sender@x.org", "-d",
		    "Ann+news@example.org", "ann@example.org", "ben@example.org", NULL };
		assert_int_equal(run_deliver(msg, ok), 0);
	}
	snprintf(path, sizeof(path), "%s/mail/example.org/ann/Maildir/new", fx->root);
	assert_int_equal(fx_count(path), 1);		/* deduplicated */
	snprintf(path, sizeof(path), "ls %s/mail/example.org/ann/Maildir/new/*", fx->root);
	f = popen(path, "r");
	assert_non_null(fgets(path, sizeof(path), f));
	pclose(f);
	path[strcspn(path, "\n")] = '\0';
	fd = open(path, O_RDONLY);
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	text[n > 0 ? n : 0] = '\0';
	assert_string_equal(text, "Return-Path: <sender@x.org>\n"
	    "Delivered-To: ann@example.org\nSubject: hi\n\nhello\n");
	{
		char *nouser[] = { "deliver", "-c", conf, "-f", "", "-d", "ann@example.org",
		    "nobody@example.org", NULL };
		char *quota[] = { "deliver", "-c", conf, "-f", "a@b.c", "-d", "ben@example.org",
		    NULL };
		char *usage[] = { "deliver", "-c", conf, "-d", "ann@example.org", NULL };
		char *dataerr[] = { "deliver", "-c", conf, "-f", "a\r\nX: y", "-d",
		    "ann@example.org", NULL };
		char *config[] = { "deliver", "-c", "/nonexistent.conf", "-f", "a@b.c", "-d",
		    "ann@example.org", NULL };
		/* The sender is an SMTP Mailbox (mail/address), as at MAIL FROM. */
		char *noat[] = { "deliver", "-c", conf, "-f", "root", "-d", "ann@example.org",
		    NULL };
		char *badquote[] = { "deliver", "-c", conf, "-f", "\"a\\\x01\"@b.c", "-d",
		    "ann@example.org", NULL };
		assert_int_equal(run_deliver(msg, noat), 65);
		assert_int_equal(run_deliver(msg, badquote), 65);
		assert_int_equal(run_deliver(msg, nouser), 67);
		assert_int_equal(run_deliver(msg, quota), 75);
		assert_int_equal(run_deliver(msg, usage), 64);
		assert_int_equal(run_deliver(msg, dataerr), 65);
		assert_int_equal(run_deliver(msg, config), 78);
	}
	snprintf(path, sizeof(path), "%s/mail/example.org/ann/Maildir/new", fx->root);
	assert_int_equal(fx_count(path), 1);		/* the EX_NOUSER call wrote nothing */
	deliver_store_codes(conf, fx->root, msg);
}

int
main(int argc, char *argv[])
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_deliver_binary, setup, teardown),
	};
	const char	*slash = strrchr(argv[0], '/');

	/* The binary under test sits next to tests/: <build>/deliver. */
	(void)argc;
	deliver_path = slash != NULL ?
	    xasprintf("%.*s/../deliver", (int)(slash - argv[0]), argv[0]) :
	    xstrdup("../deliver");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
