/*
 * fsyncloop: the durability ceiling `make bench` compares smtpd against.
 * THREADS writers each do, COUNT times in total: create a SIZE-byte file in
 * tmp/, write, fsync, close, rename into new/, fsync new/ -- exactly the
 * work one durable Maildir delivery needs, with no protocol around it.
 *
 *   fsyncloop DIR THREADS COUNT SIZE   -> "threads=N msgs_per_s=X"
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char	*base;
static int		 remaining;
static size_t		 size;
static char		*data;
static pthread_mutex_t	 lock = PTHREAD_MUTEX_INITIALIZER;

static void
fail(const char *what)
{
	fprintf(stderr, "fsyncloop: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void *
writer(void *arg)
{
	char	 tmp[4096], dst[4096], dir[4096];
	long	 id = (long)arg, n = 0;
	int	 fd, dfd;

	snprintf(dir, sizeof(dir), "%s/new", base);
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY)) == -1)
		fail(dir);
	for (;;) {
		pthread_mutex_lock(&lock);
		if (remaining == 0) {
			pthread_mutex_unlock(&lock);
			break;
		}
		remaining--;
		pthread_mutex_unlock(&lock);
		snprintf(tmp, sizeof(tmp), "%s/tmp/%ld.%ld", base, id, n);
		snprintf(dst, sizeof(dst), "%s/new/%ld.%ld", base, id, n++);
		if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0600)) == -1)
			fail(tmp);
		if (write(fd, data, size) != (ssize_t)size || fsync(fd) == -1 || close(fd) == -1)
			fail("write/fsync/close");
		if (rename(tmp, dst) == -1 || fsync(dfd) == -1)
			fail("rename/fsync dir");
	}
	close(dfd);
	return NULL;
}

int
main(int argc, char *argv[])
{
	struct timespec	 t0, t1;
	pthread_t	*th;
	char		 path[4096];
	long		 i, threads, count;
	double		 secs;

	if (argc != 5)
		return fprintf(stderr, "usage: fsyncloop DIR THREADS COUNT SIZE\n"), 2;
	base = argv[1];
	threads = atol(argv[2]);
	count = atol(argv[3]);
	size = strtoul(argv[4], NULL, 10);
	if (threads < 1 || threads > 1000 || count < 1 || count > 10000000)
		return fprintf(stderr, "fsyncloop: bad arguments\n"), 2;
	remaining = (int)count;
	if ((data = malloc(size)) == NULL)
		fail("malloc");
	memset(data, 'x', size);
	snprintf(path, sizeof(path), "%s/tmp", base);
	mkdir(base, 0700), mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/new", base);
	mkdir(path, 0700);
	th = calloc((size_t)threads, sizeof(*th));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < threads; i++)
		pthread_create(&th[i], NULL, writer, (void *)i);
	for (i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("threads=%ld messages=%ld seconds=%.3f msgs_per_s=%.1f\n", threads, count, secs,
	    count / secs);
	return 0;
}
