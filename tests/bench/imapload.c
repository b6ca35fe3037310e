/*
 * imapload: IMAP figures for `make bench`, the same client for every server.
 *
 *   imapload -p PORT -u USER -w PASS [-m select|cmd|mixed|idle] [-n ROUNDS]
 *            [-e COMMAND] [-x COMMAND] [-c CLIENTS] [-t SECONDS] [-U USERS]
 *
 * select: ROUNDS times connect, LOGIN, SELECT INBOX, LOGOUT; prints the mean
 *         and p50 of one round and the mean of its SELECT alone (the caller
 *         drops the page cache before a 1-round run for the cold figure).
 * cmd:    LOGIN, SELECT INBOX, then COMMAND (-e) timed: its reply's bytes,
 *         literals included, and MB/s; -x runs one more command untimed
 *         (to undo a STORE, so that every round does the same work).
 * mixed:  CLIENTS sessions on one mailbox for SECONDS (counted from when
 *         all have logged in and selected it), each a loop of
 *         random commands a mail client sends (FETCH of flags, envelopes
 *         and bodies, STORE, SEARCH, NOOP, SELECT); ops/s over all and the
 *         p50/p99 of one command.
 * idle:   CLIENTS connections, each LOGIN, SELECT INBOX, IDLE; prints
 *         "ready ..." once all are idling, then holds them until stdin
 *         closes (the caller measures the server's memory meanwhile).
 *         A line "exists" on stdin (written just before the caller
 *         delivers one message to every user) prints the seconds until
 *         every connection has been told a larger EXISTS than SELECT's.
 * USER may hold a %d: client i logs in as USER with i % USERS (-U) in it.
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
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS	20000
#define MAX_SAMPLES	(1 << 20)
#define SETUP_THREADS	8

struct conn {
	int			 fd;
	unsigned		 exists;	/* from SELECT */
	size_t			 cap, len, off;
	unsigned long long	 bytes;		/* of replies read */
	char			*buf;
};

struct mixed {
	double		*lat;		/* seconds per command */
	size_t		 n;
	unsigned	 seed;
	int		 id;
};

static const char	*host = "127.0.0.1", *user, *pass, *mode = "select";
static const char	*command_text, *after_text;
static int		 port, clients = 1, rounds = 1, users = 1, seconds = 10;
static double		 stop_at;
static pthread_barrier_t logged_in, go;	/* the mixed load starts once all are in */
static struct conn	*conns;

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
	fprintf(stderr, "imapload: %s%s%s\n", what, errno ? ": " : "", errno ? strerror(errno) : "");
	exit(1);
}

static void
fill(struct conn *c)
{
	ssize_t	 n;

	if (c->off > 0) {
		memmove(c->buf, c->buf + c->off, c->len - c->off);
		c->len -= c->off;
		c->off = 0;
	}
	if (c->len == c->cap)
		die("line too long");
	n = read(c->fd, c->buf + c->len, c->cap - c->len);
	if (n <= 0)
		die("connection closed");
	c->len += (size_t)n;
}

/* One line (CRLF stripped), valid until the next call; counts its bytes. */
static char *
line(struct conn *c)
{
	char	*lf, *l;

	while ((lf = memchr(c->buf + c->off, '\n', c->len - c->off)) == NULL)
		fill(c);
	l = c->buf + c->off;
	c->bytes += (size_t)(lf - l) + 1;
	c->off += (size_t)(lf - l) + 1;
	*lf = '\0';
	if (lf > l && lf[-1] == '\r')
		lf[-1] = '\0';
	return l;
}

/* A literal's n bytes, passed over (counted, never looked at). */
static void
skip(struct conn *c, unsigned long long n)
{
	size_t	 k;

	while (n > 0) {
		if (c->off == c->len) {
			c->off = c->len = 0;
			fill(c);
		}
		k = c->len - c->off < n ? c->len - c->off : (size_t)n;
		c->off += k;
		c->bytes += k;
		n -= k;
	}
}

/* The size of the literal "{n}" (or "{n+}") that ends l, or -1. */
static long long
literal(const char *l)
{
	size_t	 len = strlen(l);
	const char *open;

	if (len < 3 || l[len - 1] != '}' || (open = strrchr(l, '{')) == NULL)
		return -1;
	return strtoll(open + 1, NULL, 10);
}

static void
send_text(struct conn *c, const char *text)
{
	size_t	 len = strlen(text);

	errno = 0;
	if (write(c->fd, text, len) != (ssize_t)len)
		die("write");
}

/* Send "tag text" and read up to its tagged reply, which must be OK. */
static void
command(struct conn *c, const char *tag, const char *text)
{
	char		 cmd[1024];
	size_t		 taglen = strlen(tag);
	long long	 lit;
	char		*l;

	snprintf(cmd, sizeof(cmd), "%s %s\r\n", tag, text);
	send_text(c, cmd);
	for (;;) {
		l = line(c);
		while ((lit = literal(l)) >= 0) {
			skip(c, (unsigned long long)lit);
			l = line(c);		/* the rest of the response */
		}
		if (strncmp(l, "* ", 2) == 0 && strstr(l, " EXISTS") != NULL)
			c->exists = (unsigned)strtoul(l + 2, NULL, 10);
		if (strncmp(l, tag, taglen) == 0 && l[taglen] == ' ') {
			if (strncmp(l + taglen + 1, "OK", 2) != 0) {
				fprintf(stderr, "imapload: %s -> %s\n", text, l);
				exit(1);
			}
			return;
		}
	}
}

static void
open_conn(struct conn *c, int id, size_t cap)
{
	struct sockaddr_in	 sin;
	char			 u[256], cmd[600];
	int			 one = 1;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	inet_pton(AF_INET, host, &sin.sin_addr);
	if (c->buf == NULL && (c->buf = malloc(cap)) == NULL)
		die("malloc");
	c->cap = cap;
	c->len = c->off = 0;
	errno = 0;
	if ((c->fd = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    connect(c->fd, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		die("connect");
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (strncmp(line(c), "* OK", 4) != 0)
		die("greeting");
	snprintf(u, sizeof(u), user, id % users);
	snprintf(cmd, sizeof(cmd), "LOGIN \"%s\" \"%s\"", u, pass);
	command(c, "l", cmd);
}

static int
cmp(const void *a, const void *b)
{
	double	 x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int
run_select(void)
{
	struct conn	 c = { 0 };
	double		 t0, t1, *times, sum = 0, sel = 0;
	int		 i;

	if ((times = calloc((size_t)rounds, sizeof(double))) == NULL)
		die("calloc");
	for (i = 0; i < rounds; i++) {
		t0 = now();
		open_conn(&c, 0, 64 * 1024);
		t1 = now();
		command(&c, "s", "SELECT INBOX");
		sel += now() - t1;
		command(&c, "o", "LOGOUT");
		close(c.fd);
		times[i] = now() - t0;
		sum += times[i];
	}
	qsort(times, (size_t)rounds, sizeof(double), cmp);
	printf("rounds=%d mean_ms=%.2f p50_ms=%.2f select_ms=%.2f\n", rounds, sum / rounds * 1e3,
	    times[rounds / 2] * 1e3, sel / rounds * 1e3);
	return 0;
}

static int
run_cmd(void)
{
	struct conn	 c = { 0 };
	double		 t0;

	open_conn(&c, 0, 1024 * 1024);
	command(&c, "s", "SELECT INBOX");
	c.bytes = 0;
	t0 = now();
	command(&c, "c", command_text);
	t0 = now() - t0;
	printf("bytes=%llu ms=%.2f MB_per_s=%.2f\n", c.bytes, t0 * 1e3, c.bytes / t0 / 1e6);
	if (after_text != NULL)
		command(&c, "x", after_text);
	command(&c, "o", "LOGOUT");
	close(c.fd);
	return 0;
}

/* One random command of the mix; n is a message in the mailbox. */
static void
mixed_op(struct conn *c, unsigned r)
{
	static const char *const words[] = { "alpha", "kilo", "quebec", "zulu" };
	char		 cmd[128];
	unsigned	 n = c->exists ? r / 100 % c->exists + 1 : 1;
	unsigned	 last = n + 19 < c->exists ? n + 19 : c->exists;

	switch (r % 100 / 5) {
	case 0: case 1: case 2: case 3: case 4:	/* 25 %: a screenful of flags */
		snprintf(cmd, sizeof(cmd), "FETCH %u:%u (UID FLAGS)", n, last);
		break;
	case 5: case 6: case 7:			/* 15 %: its envelopes */
		snprintf(cmd, sizeof(cmd), "FETCH %u:%u (ENVELOPE RFC822.SIZE)", n, last);
		break;
	case 8: case 9: case 10: case 11: case 12:	/* 25 %: a message read */
		snprintf(cmd, sizeof(cmd), "FETCH %u BODY.PEEK[]", n);
		break;
	case 13: case 14: case 15:		/* 15 %: flagged */
		snprintf(cmd, sizeof(cmd), "STORE %u +FLAGS (\\Seen)", n);
		break;
	case 16: case 17:			/* 10 % */
		snprintf(cmd, sizeof(cmd), "NOOP");
		break;
	case 18:				/* 5 % */
		snprintf(cmd, sizeof(cmd), "SEARCH SUBJECT %s", words[r / 100 % 4]);
		break;
	default:				/* 5 % */
		snprintf(cmd, sizeof(cmd), "SELECT INBOX");
		break;
	}
	command(c, "m", cmd);
}

static void *
mixed_client(void *arg)
{
	struct mixed	*m = arg;
	struct conn	 c = { 0 };
	double		 t0;

	open_conn(&c, m->id, 1024 * 1024);
	command(&c, "s", "SELECT INBOX");
	pthread_barrier_wait(&logged_in);
	pthread_barrier_wait(&go);
	while ((t0 = now()) < stop_at && m->n < MAX_SAMPLES) {
		mixed_op(&c, (unsigned)rand_r(&m->seed));
		m->lat[m->n++] = now() - t0;
	}
	command(&c, "o", "LOGOUT");
	close(c.fd);
	return NULL;
}

static int
run_mixed(void)
{
	struct mixed	*m = calloc((size_t)clients, sizeof(*m));
	pthread_t	*th = calloc((size_t)clients, sizeof(*th));
	double		*all, t0;
	size_t		 total = 0;
	int		 i;

	if (m == NULL || th == NULL)
		die("calloc");
	pthread_barrier_init(&logged_in, NULL, (unsigned)clients + 1);
	pthread_barrier_init(&go, NULL, (unsigned)clients + 1);
	for (i = 0; i < clients; i++) {
		m[i].id = i;
		m[i].seed = (unsigned)i * 7919 + 1;
		if ((m[i].lat = malloc(MAX_SAMPLES * sizeof(double))) == NULL)
			die("malloc");
		pthread_create(&th[i], NULL, mixed_client, &m[i]);
	}
	pthread_barrier_wait(&logged_in);
	t0 = now();
	stop_at = t0 + seconds;
	pthread_barrier_wait(&go);
	for (i = 0; i < clients; i++) {
		pthread_join(th[i], NULL);
		total += m[i].n;
	}
	t0 = now() - t0;
	if ((all = malloc((total + 1) * sizeof(double))) == NULL)
		die("malloc");
	for (total = 0, i = 0; i < clients; i++) {
		memcpy(all + total, m[i].lat, m[i].n * sizeof(double));
		total += m[i].n;
	}
	if (total == 0)
		die("no command completed");
	qsort(all, total, sizeof(double), cmp);
	printf("clients=%d ops=%zu ops_per_s=%.1f p50_ms=%.2f p99_ms=%.2f\n", clients, total,
	    total / t0, all[total / 2] * 1e3, all[total * 99 / 100] * 1e3);
	return 0;
}

static void *
idle_setup(void *arg)
{
	struct conn	*c;
	int		 i;

	for (i = (int)(long)arg; i < clients; i += SETUP_THREADS) {
		c = &conns[i];
		open_conn(c, i, 4096);
		command(c, "s", "SELECT INBOX");
		send_text(c, "i IDLE\r\n");
		while (line(c)[0] != '+')
			;
	}
	return NULL;
}

static void *
idle_exists(void *arg)
{
	struct timeval	 tv = { 60, 0 };	/* a server that never tells fails the run */
	struct conn	*c;
	char		*l;
	int		 i;

	for (i = (int)(long)arg; i < clients; i += SETUP_THREADS) {
		c = &conns[i];
		setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		for (;;) {
			l = line(c);
			if (strncmp(l, "* ", 2) == 0 && strstr(l, " EXISTS") != NULL &&
			    strtoul(l + 2, NULL, 10) > c->exists)
				break;
		}
		c->exists = (unsigned)strtoul(l + 2, NULL, 10);
	}
	return NULL;
}

/* The seconds from now until every connection has been told a new EXISTS. */
static void
wait_exists(void)
{
	pthread_t	 th[SETUP_THREADS];
	double		 t0 = now();
	long		 i;

	for (i = 0; i < SETUP_THREADS; i++)
		pthread_create(&th[i], NULL, idle_exists, (void *)i);
	for (i = 0; i < SETUP_THREADS; i++)
		pthread_join(th[i], NULL);
	printf("exists conns=%d seconds=%.3f\n", clients, now() - t0);
	fflush(stdout);
}

static int
run_idle(void)
{
	pthread_t	 th[SETUP_THREADS];
	char		 b[64];
	double		 t0 = now();
	long		 i;

	if ((conns = calloc((size_t)clients, sizeof(*conns))) == NULL)
		die("calloc");
	for (i = 0; i < SETUP_THREADS; i++)
		pthread_create(&th[i], NULL, idle_setup, (void *)i);
	for (i = 0; i < SETUP_THREADS; i++)
		pthread_join(th[i], NULL);
	printf("ready conns=%d seconds=%.1f\n", clients, now() - t0);
	fflush(stdout);
	while (fgets(b, sizeof(b), stdin) != NULL)
		if (strcmp(b, "exists\n") == 0)
			wait_exists();
	for (i = 0; i < clients; i++)
		close(conns[i].fd);
	return 0;
}

int
main(int argc, char *argv[])
{
	int	 o;

	while ((o = getopt(argc, argv, "H:p:u:w:c:m:n:e:x:t:U:")) != -1) {
		switch (o) {
		case 'H': host = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'u': user = optarg; break;
		case 'w': pass = optarg; break;
		case 'c': clients = atoi(optarg); break;
		case 'm': mode = optarg; break;
		case 'n': rounds = atoi(optarg); break;
		case 'e': command_text = optarg; break;
		case 'x': after_text = optarg; break;
		case 't': seconds = atoi(optarg); break;
		case 'U': users = atoi(optarg); break;
		default: return 2;
		}
	}
	if (port <= 0 || user == NULL || pass == NULL || clients < 1 || clients > MAX_CONNS ||
	    rounds < 1 || rounds > 100000 || users < 1 || seconds < 1 || seconds > 3600 ||
	    (strcmp(mode, "cmd") == 0 && command_text == NULL))
		return fprintf(stderr, "usage: imapload -p port -u user -w pass [-m select|cmd|mixed|idle]"
		    " [-n rounds] [-e command] [-x command] [-c clients] [-t seconds] [-U users]\n"), 2;
	if (strcmp(mode, "select") == 0)
		return run_select();
	if (strcmp(mode, "cmd") == 0)
		return run_cmd();
	if (strcmp(mode, "mixed") == 0)
		return clients > 100 ? 2 : run_mixed();
	if (strcmp(mode, "idle") == 0)
		return run_idle();
	return 2;
}
