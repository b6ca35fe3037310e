/*
 * pop3load: POP3 figures for `make bench`, the same client for every server.
 *
 *   pop3load -p PORT -u USER -w PASS [-H 127.0.0.1] [-c CLIENTS] [-m stat|retr] [-n ROUNDS]
 *
 * stat: ROUNDS times connect, USER/PASS, STAT, UIDL, QUIT; prints the mean
 *       and p50 time of one round (what a client's "check mail" costs; the
 *       caller drops the page cache before a 1-round run for the cold figure).
 * retr: CLIENTS sessions in parallel, each RETRs every
 *       message (the maildrop is shared read-only: no DELE) and QUITs;
 *       prints MB/s over all clients.  Servers that lock the maildrop
 *       against a second session (RFC 1939 allows it) are given one
 *       mailbox per client by the caller (-u with %d is replaced by the
 *       client number).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct client {
	int	 fd;
	char	 buf[256 * 1024];
	size_t	 len;		/* bytes in buf */
	size_t	 off;		/* consumed */
};

static const char	*host = "127.0.0.1", *user, *pass, *mode = "stat";
static int		 port, clients = 1, rounds = 20;
static unsigned long long total_bytes;
static pthread_mutex_t	 lock = PTHREAD_MUTEX_INITIALIZER;

static double
now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
die(const char *what)
{
	fprintf(stderr, "pop3load: %s%s%s\n", what, errno ? ": " : "", errno ? strerror(errno) : "");
	exit(1);
}

static int
fill(struct client *c)
{
	ssize_t	 n;

	if (c->off > 0) {
		memmove(c->buf, c->buf + c->off, c->len - c->off);
		c->len -= c->off;
		c->off = 0;
	}
	if (c->len == sizeof(c->buf))
		die("line too long");
	n = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
	if (n <= 0)
		die("connection closed");
	c->len += (size_t)n;
	return 0;
}

/* One line (CRLF stripped), valid until the next call; counts its bytes. */
static char *
line(struct client *c, size_t *len_r)
{
	char	*lf, *l;

	while ((lf = memchr(c->buf + c->off, '\n', c->len - c->off)) == NULL)
		fill(c);
	l = c->buf + c->off;
	*len_r = (size_t)(lf - l) + 1;
	c->off += *len_r;
	*lf = '\0';
	if (lf > l && lf[-1] == '\r')
		lf[-1] = '\0';
	return l;
}

static void
command(struct client *c, const char *cmd, int multiline, unsigned long long *bytes)
{
	size_t	 n;
	char	*l;

	errno = 0;
	if (cmd != NULL && write(c->fd, cmd, strlen(cmd)) != (ssize_t)strlen(cmd))
		die("write");
	l = line(c, &n);
	if (strncmp(l, "+OK", 3) != 0) {
		fprintf(stderr, "pop3load: %s -> %s\n", cmd ? cmd : "greeting", l);
		exit(1);
	}
	while (multiline) {
		l = line(c, &n);
		if (strcmp(l, ".") == 0)
			break;
		if (bytes != NULL)
			*bytes += n;
	}
}

static void
login(struct client *c, int id)
{
	struct sockaddr_in	 sin;
	char			 cmd[512], u[256];
	int			 one = 1;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	inet_pton(AF_INET, host, &sin.sin_addr);
	c->len = c->off = 0;
	if ((c->fd = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    connect(c->fd, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		die("connect");
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	command(c, NULL, 0, NULL);
	snprintf(u, sizeof(u), user, id);
	snprintf(cmd, sizeof(cmd), "USER %s\r\n", u);
	command(c, cmd, 0, NULL);
	snprintf(cmd, sizeof(cmd), "PASS %s\r\n", pass);
	command(c, cmd, 0, NULL);
}

static int
stat_count(struct client *c)
{
	size_t	 n;
	char	*l;

	if (write(c->fd, "STAT\r\n", 6) != 6)
		die("write");
	l = line(c, &n);
	if (strncmp(l, "+OK ", 4) != 0)
		die("STAT");
	return atoi(l + 4);
}

static void *
retr_all(void *arg)
{
	struct client		*c = calloc(1, sizeof(*c));
	unsigned long long	 bytes = 0;
	char			 cmd[64];
	int			 i, count;

	if (c == NULL)
		die("calloc");
	login(c, (int)(long)arg);
	count = stat_count(c);
	for (i = 1; i <= count; i++) {
		snprintf(cmd, sizeof(cmd), "RETR %d\r\n", i);
		command(c, cmd, 1, &bytes);
	}
	command(c, "QUIT\r\n", 0, NULL);
	close(c->fd);
	free(c);
	pthread_mutex_lock(&lock);
	total_bytes += bytes;
	pthread_mutex_unlock(&lock);
	return NULL;
}

static int
cmp(const void *a, const void *b)
{
	double	 x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char *argv[])
{
	struct client	*c;
	pthread_t	*th;
	double		 t0, *times, sum = 0;
	int		 o, i;

	while ((o = getopt(argc, argv, "H:p:u:w:c:m:n:")) != -1) {
		switch (o) {
		case 'H': host = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'u': user = optarg; break;
		case 'w': pass = optarg; break;
		case 'c': clients = atoi(optarg); break;
		case 'm': mode = optarg; break;
		case 'n': rounds = atoi(optarg); break;
		default: return 2;
		}
	}
	if (port <= 0 || user == NULL || pass == NULL || clients < 1 || clients > 100 ||
	    rounds < 1 || rounds > 100000)
		return fprintf(stderr, "usage: pop3load -p port -u user -w pass [-c n] [-m stat|retr] [-n rounds]\n"), 2;
	if (strcmp(mode, "stat") == 0) {
		if ((c = calloc(1, sizeof(*c))) == NULL || (times = calloc((size_t)rounds, sizeof(double))) == NULL)
			die("calloc");
		for (i = 0; i < rounds; i++) {
			t0 = now();
			login(c, 0);
			command(c, "STAT\r\n", 0, NULL);
			command(c, "UIDL\r\n", 1, NULL);
			command(c, "QUIT\r\n", 0, NULL);
			close(c->fd);
			times[i] = now() - t0;
			sum += times[i];
		}
		qsort(times, (size_t)rounds, sizeof(double), cmp);
		printf("rounds=%d mean_ms=%.2f p50_ms=%.2f\n", rounds, sum / rounds * 1e3,
		    times[rounds / 2] * 1e3);
		return 0;
	}
	th = calloc((size_t)clients, sizeof(*th));
	t0 = now();
	for (i = 0; i < clients; i++)
		pthread_create(&th[i], NULL, retr_all, (void *)(long)i);
	for (i = 0; i < clients; i++)
		pthread_join(th[i], NULL);
	t0 = now() - t0;
	printf("clients=%d bytes=%llu seconds=%.3f MB_per_s=%.1f\n", clients, total_bytes, t0,
	    total_bytes / t0 / 1e6);
	return 0;
}
