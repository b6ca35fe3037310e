/*
 * queue/: the writer smtpd uses for relayed recipients and the
 * validating reader.  A round trip keeps every field; prepare alone is
 * invisible to the relay (incoming/, not active/); discard leaves nothing;
 * every truncation and a flipped END offset are detected; leftovers of a
 * dead writer are removed by queue_open.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "queue/queue.h"
#include "lib/commit.h"
#include "lib/xmalloc.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char	 root[64];

static int
setup(void **state)
{
	snprintf(root, sizeof(root), "/tmp/test_queue.XXXXXX");
	if (mkdtemp(root) == NULL)
		return -1;
	commit_fsync_enable(0);	/* the logic is under test, not the disk */
	return 0;
}

static int
teardown(void **state)
{
	char	 cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

static size_t
count(const char *sub)
{
	char		 path[128];
	DIR		*d;
	struct dirent	*de;
	size_t		 n = 0;

	snprintf(path, sizeof(path), "%s/q/%s", root, sub);
	if ((d = opendir(path)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static const struct queue_rcpt rcpts[] = {
	{ "x@remote.test", 6, "rfc822;x@remote.test" },
	{ "y@other.test", 0, NULL },
};

static void
message(struct queue_message *m, const char *id, struct iovec iov[2])
{
	memset(m, 0, sizeof(*m));
	m->id = id;
	m->sender = "alice@example.test";
	m->envid = "env+2B1";
	m->ret = 2;
	m->arrival = 1795000000;
	m->rcpts = rcpts;
	m->nrcpts = 2;
	iov[0].iov_base = (void *)"Received: x\n";
	iov[0].iov_len = 12;
	iov[1].iov_base = (void *)"Subject: q\n\nbody\0with NUL\n";
	iov[1].iov_len = 26;
	m->data = iov;
	m->ndata = 2;
}

static void
test_roundtrip(void **state)
{
	struct queue		*q;
	struct queue_entry	*e = NULL;
	struct queue_message	 m, *r;
	struct iovec		 iov[2];
	const char		*error = NULL;
	char			*dir = xasprintf("%s/q", root), path[160];

	q = queue_open(dir, &error);
	assert_non_null(q);
	message(&m, "00112233aabbccdd", iov);
	assert_int_equal(queue_prepare(q, &m, &e, &error), 0);
	assert_int_equal(count("incoming"), 1);
	assert_int_equal(count("active"), 0);	/* not published yet */
	assert_int_equal(queue_publish(&e, &error), 0);
	assert_null(e);
	assert_int_equal(count("incoming"), 0);
	assert_int_equal(count("active"), 1);
	assert_int_equal(count("tmp"), 0);

	snprintf(path, sizeof(path), "%s/active/00112233aabbccdd", dir);
	r = queue_read(path, &error);
	assert_non_null(r);
	assert_string_equal(r->id, "00112233aabbccdd");
	assert_string_equal(r->sender, "alice@example.test");
	assert_string_equal(r->envid, "env+2B1");
	assert_int_equal(r->ret, 2);
	assert_int_equal(r->arrival, 1795000000);
	assert_int_equal(r->nrcpts, 2);
	assert_string_equal(r->rcpts[0].address, "x@remote.test");
	assert_int_equal(r->rcpts[0].notify, 6);
	assert_string_equal(r->rcpts[0].orcpt, "rfc822;x@remote.test");
	assert_string_equal(r->rcpts[1].address, "y@other.test");
	assert_null(r->rcpts[1].orcpt);
	assert_int_equal(r->data[0].iov_len, 38);
	assert_memory_equal(r->data[0].iov_base, "Received: x\nSubject: q\n\nbody\0with NUL\n", 38);
	queue_message_free(&r);
	assert_null(r);

	/* Discard: nothing left anywhere. */
	message(&m, "ffffffffffffffff", iov);
	assert_int_equal(queue_prepare(q, &m, &e, &error), 0);
	queue_discard(&e);
	assert_null(e);
	assert_int_equal(count("incoming"), 0);
	assert_int_equal(count("active"), 1);
	queue_close(&q);
	assert_null(q);
	free(dir);
}

/*
 * The streamed writer makes the same file as queue_prepare, written in
 * pieces of every size (also past its 64 KB buffer); freed unprepared,
 * it leaves nothing in tmp/.
 */
static void
test_stream(void **state)
{
	struct queue		*q;
	struct queue_stream	*qs;
	struct queue_entry	*e = NULL;
	struct queue_message	 m, *r;
	struct iovec		 iov[2];
	const char		*error = NULL;
	char			*dir = xasprintf("%s/q", root), path[160], *big;
	size_t			 len = 300 * 1024 + 7, off, n, i;

	q = queue_open(dir, &error);
	assert_non_null(q);
	message(&m, "5555aaaa5555aaaa", iov);
	big = xmalloc(len);
	for (i = 0; i < len; i++)
		big[i] = (char)('a' + i % 26);
	qs = queue_stream_begin(q, &m, &error);
	assert_non_null(qs);
	assert_int_equal(count("tmp"), 1);
	assert_int_equal(queue_stream_write(qs, "Received: x\n", 12), 0);
	for (off = 0, n = 1; off < len; off += n, n = n * 3 + 1) {
		if (n > len - off)
			n = len - off;
		assert_int_equal(queue_stream_write(qs, big + off, n), 0);
	}
	assert_int_equal(queue_stream_prepare(&qs, &e, &error), 0);
	assert_null(qs);
	assert_int_equal(count("tmp"), 0);
	assert_int_equal(count("incoming"), 1);
	assert_int_equal(queue_publish(&e, &error), 0);
	snprintf(path, sizeof(path), "%s/active/5555aaaa5555aaaa", dir);
	r = queue_read(path, &error);
	assert_non_null(r);
	assert_string_equal(r->envid, "env+2B1");
	assert_int_equal(r->nrcpts, 2);
	assert_int_equal(r->data[0].iov_len, 12 + len);
	assert_memory_equal(r->data[0].iov_base, "Received: x\n", 12);
	assert_memory_equal((char *)r->data[0].iov_base + 12, big, len);
	queue_message_free(&r);

	/* Never prepared: removed from tmp/. */
	message(&m, "6666bbbb6666bbbb", iov);
	qs = queue_stream_begin(q, &m, &error);
	assert_non_null(qs);
	assert_int_equal(queue_stream_write(qs, big, len), 0);
	queue_stream_free(&qs);
	assert_null(qs);
	assert_int_equal(count("tmp"), 0);
	assert_int_equal(count("incoming"), 0);
	free(big);
	queue_close(&q);
	free(dir);
}

/* Every prefix of a valid file, and a corrupted END, must be rejected. */
static void
test_torn_files(void **state)
{
	struct queue		*q;
	struct queue_entry	*e = NULL;
	struct queue_message	 m, *r;
	struct iovec		 iov[2];
	const char		*error = NULL;
	char			*dir = xasprintf("%s/q", root), path[160], torn[160], *file;
	FILE			*fp;
	long			 size, n;

	q = queue_open(dir, &error);
	assert_non_null(q);
	message(&m, "0123456789abcdef", iov);
	assert_int_equal(queue_prepare(q, &m, &e, &error), 0);
	assert_int_equal(queue_publish(&e, &error), 0);
	snprintf(path, sizeof(path), "%s/active/0123456789abcdef", dir);
	fp = fopen(path, "rb");
	assert_non_null(fp);
	fseek(fp, 0, SEEK_END);
	size = ftell(fp);
	rewind(fp);
	file = xmalloc((size_t)size);
	assert_int_equal(fread(file, 1, (size_t)size, fp), (size_t)size);
	fclose(fp);
	snprintf(torn, sizeof(torn), "%s/torn", root);
	for (n = 0; n < size; n++) {
		fp = fopen(torn, "wb");
		fwrite(file, 1, (size_t)n, fp);
		fclose(fp);
		r = queue_read(torn, &error);
		assert_null(r);
	}
	/* Trailing garbage after END is damage too. */
	fp = fopen(torn, "wb");
	fwrite(file, 1, (size_t)size, fp);
	fputc('x', fp);
	fclose(fp);
	assert_null(queue_read(torn, &error));
	/* A flipped digit in END's offset. */
	file[size - 1] ^= 1;
	fp = fopen(torn, "wb");
	fwrite(file, 1, (size_t)size, fp);
	fclose(fp);
	assert_null(queue_read(torn, &error));
	free(file);
	queue_close(&q);
	free(dir);
}

/* Files of a dead writer in tmp/ and incoming/ were never acknowledged. */
static void
test_orphans_removed(void **state)
{
	struct queue	*q;
	const char	*error = NULL;
	char		*dir = xasprintf("%s/q", root), path[200];
	int		 fd;

	q = queue_open(dir, &error);
	queue_close(&q);
	/* pid 2^22 + 1 is above pid_max's default: never alive. */
	snprintf(path, sizeof(path), "%s/incoming/aaaa.4194305", dir);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	close(fd);
	snprintf(path, sizeof(path), "%s/tmp/bbbb.4194305", dir);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	close(fd);
	snprintf(path, sizeof(path), "%s/incoming/cccc.%ld", dir, (long)getpid());
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	close(fd);
	assert_int_equal(count("incoming"), 2);
	q = queue_open(dir, &error);
	assert_non_null(q);
	assert_int_equal(count("incoming"), 1);	/* ours is alive: kept */
	assert_int_equal(count("tmp"), 0);
	queue_close(&q);
	free(dir);
}

static void *
open_bad(void *arg)
{
	const char	*error;

	assert_null(queue_open(arg, &error));
	return NULL;
}

/* A failed open's text is this thread's: another thread's failure leaves it alone. */
static void
test_open_error_per_thread(void **state)
{
	char		 file[128], mine[160], theirs[160];
	const char	*error;
	pthread_t	 t;
	int		 fd;

	snprintf(file, sizeof(file), "%s/file", root);
	assert_true((fd = open(file, O_WRONLY | O_CREAT, 0600)) != -1);
	close(fd);
	snprintf(mine, sizeof(mine), "%s/mine", file);
	snprintf(theirs, sizeof(theirs), "%s/theirs", file);
	assert_null(queue_open(mine, &error));
	assert_non_null(strstr(error, mine));
	assert_int_equal(pthread_create(&t, NULL, open_bad, theirs), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_non_null(strstr(error, mine));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stream, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_orphans_removed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_error_per_thread, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
