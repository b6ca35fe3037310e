/*
 * smtpload: a bounded SMTP load generator for `make bench`.
 *
 *   smtpload -p PORT [-H 127.0.0.1] [-c CONCURRENCY] [-n MESSAGES] [-s SIZE]
 *            [-r rcpt@domain[,rcpt@domain...]] [-w MAILDIR_NEW_DIR] [-t TIMEOUT_S]
 *
 * With several recipients, message i goes to the (i mod count)th alone: the
 * relay benchmark spreads its load over that many destination domains.
 * CONCURRENCY threads each open one connection and send their share of
 * MESSAGES (MAIL/RCPT/DATA per message, PIPELINING not used so that every
 * server is measured the same way).  With -w, a watcher thread follows the
 * Maildir new/ directory with inotify and takes the time each message's
 * file appears (matched by its X-Bench-Id header): throughput is messages
 * landed in new/ per second and latency is end-of-DATA to file in new/,
 * whichever server is measured (Postfix acknowledges before delivering,
 * Postroom after).  Without -w the 250 reply time is used.
 *
 * Prints one line of key=value figures.  Never a test: figures only.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct options {
	const char	*host;
	int		 port;
	int		 concurrency;
	int		 messages;
	size_t		 size;
	char		**rcpts;
	int		 nrcpts;
	const char	*watch_dir;
	int		 timeout_s;
};

static char		*default_rcpt[] = { "alice@example.test" };
static struct options	 opt = { "127.0.0.1", 0, 1, 100, 4096, default_rcpt, 1, NULL, 120 };
static double		*sent_at;	/* end of DATA sent, per message id */
static double		*acked_at;	/* 250 received */
static double		*landed_at;	/* file seen in new/ */
static int		 next_id;
static int		 failures;
static pthread_mutex_t	 lock = PTHREAD_MUTEX_INITIALIZER;
static char		*body;

static double
now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
die(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	fprintf(stderr, "smtpload: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

/* Read one complete reply (last line "ddd "); return its code or -1. */
static int
read_reply(int fd, char *buf, size_t size)
{
	size_t	 len = 0;
	ssize_t	 n;
	char	*line;

	for (;;) {
		n = read(fd, buf + len, size - 1 - len);
		if (n <= 0)
			return -1;
		len += (size_t)n;
		buf[len] = '\0';
		/* find the start of the last complete line */
		if (len < 2 || buf[len - 1] != '\n')
			continue;
		line = buf + len - 2;
		while (line > buf && line[-1] != '\n')
			line--;
		if (strlen(line) >= 4 && line[3] == ' ')
			return atoi(line);
		if (len >= size - 1)
			return -1;
	}
}

static int
send_all(int fd, const char *data, size_t len)
{
	ssize_t	 n;

	while (len > 0) {
		n = write(fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
command(int fd, const char *cmd, int expect)
{
	char	 reply[4096];

	if (cmd != NULL && send_all(fd, cmd, strlen(cmd)) == -1)
		return -1;
	return read_reply(fd, reply, sizeof(reply)) / 100 == expect / 100 ? 0 : -1;
}

static int
connect_server(void)
{
	struct sockaddr_in	 sin;
	int			 fd, one = 1;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(opt.port);
	if (inet_pton(AF_INET, opt.host, &sin.sin_addr) != 1)
		die("bad host %s", opt.host);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		die("socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		die("connect %s:%d: %s", opt.host, opt.port, strerror(errno));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static int
send_message(int fd, int id)
{
	const char	*rcpt = opt.rcpts[id % opt.nrcpts];
	char		 head[512];
	int		 n;

	if (command(fd, "MAIL FROM:<bench@client.test>\r\n", 250) == -1)
		return -1;
	snprintf(head, sizeof(head), "RCPT TO:<%s>\r\n", rcpt);
	if (command(fd, head, 250) == -1 || command(fd, "DATA\r\n", 354) == -1)
		return -1;
	n = snprintf(head, sizeof(head),
	    "X-Bench-Id: %d\r\nFrom: bench@client.test\r\nTo: %s\r\n"
	    "Subject: bench %d\r\nMessage-ID: <bench.%d@client.test>\r\n\r\n",
	    id, rcpt, id, id);
	if (send_all(fd, head, (size_t)n) == -1 || send_all(fd, body, strlen(body)) == -1)
		return -1;
	if (send_all(fd, ".\r\n", 3) == -1)
		return -1;
	sent_at[id] = now();
	if (command(fd, NULL, 250) == -1)
		return -1;
	acked_at[id] = now();
	return 0;
}

static void *
client(void *arg)
{
	int	 fd, id;

	(void)arg;
	fd = connect_server();
	if (command(fd, NULL, 220) == -1 || command(fd, "EHLO client.test\r\n", 250) == -1)
		die("greeting/EHLO failed");
	for (;;) {
		pthread_mutex_lock(&lock);
		id = next_id < opt.messages ? next_id++ : -1;
		pthread_mutex_unlock(&lock);
		if (id == -1)
			break;
		if (send_message(fd, id) == -1) {
			__sync_fetch_and_add(&failures, 1);
			break;
		}
	}
	command(fd, "QUIT\r\n", 221);
	close(fd);
	return NULL;
}

/* Take the X-Bench-Id from a landed file (within its first 8 KB). */
static int
bench_id(const char *dir, const char *name)
{
	char	 path[4096], buf[8192], *p;
	int	 fd;
	ssize_t	 n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fd = open(path, O_RDONLY)) == -1)
		return -1;		/* already moved to cur/ by a reader */
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	if ((p = strstr(buf, "X-Bench-Id: ")) == NULL)
		return -1;
	return atoi(p + 12);
}

static void *
watcher(void *arg)
{
	int		*ifd = arg;
	char		 ev[64 * 1024];
	int		 landed = 0, id;
	ssize_t		 n;
	double		 deadline = now() + opt.timeout_s;
	struct pollfd	 pfd = { *ifd, POLLIN, 0 };

	while (landed < opt.messages && now() < deadline) {
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		if ((n = read(*ifd, ev, sizeof(ev))) <= 0)
			continue;
		for (char *p = ev; p < ev + n; ) {
			struct inotify_event *e = (struct inotify_event *)p;
			double t = now();

			if (e->len > 0 && (id = bench_id(opt.watch_dir, e->name)) >= 0 &&
			    id < opt.messages && landed_at[id] == 0) {
				landed_at[id] = t;
				landed++;
			}
			p += sizeof(*e) + e->len;
		}
	}
	return NULL;
}

static int
cmp_double(const void *a, const void *b)
{
	double	 x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
percentile(double *v, int n, double p)
{
	if (n == 0)
		return 0;
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return v[(int)(p * (n - 1))];
}

/* "a@x,b@y" -> opt.rcpts; the list is cut in place. */
static void
parse_rcpts(char *list)
{
	char	*p;

	opt.nrcpts = 1;
	for (p = list; *p != '\0'; p++)
		opt.nrcpts += *p == ',';
	if ((opt.rcpts = calloc((size_t)opt.nrcpts, sizeof(*opt.rcpts))) == NULL)
		die("out of memory");
	for (int i = 0; i < opt.nrcpts; i++)
		opt.rcpts[i] = strsep(&list, ",");
}

static void
make_body(void)
{
	size_t	 i, line = 0;

	body = calloc(1, opt.size + 1);
	if (body == NULL)
		die("out of memory");
	for (i = 0; i < opt.size; i++) {
		if (line == 76) {
			body[i] = '\r';
			if (++i < opt.size)
				body[i] = '\n';
			line = 0;
			continue;
		}
		body[i] = (char)('a' + (i % 26));
		line++;
	}
	/* always end with CRLF before the dot */
	if (opt.size >= 2) {
		body[opt.size - 2] = '\r';
		body[opt.size - 1] = '\n';
	}
}

int
main(int argc, char *argv[])
{
	pthread_t	*threads, wt;
	double		 start, end, *lat;
	int		 c, i, n, ifd = -1, landed = 0;

	while ((c = getopt(argc, argv, "H:p:c:n:s:r:w:t:")) != -1) {
		switch (c) {
		case 'H': opt.host = optarg; break;
		case 'p': opt.port = atoi(optarg); break;
		case 'c': opt.concurrency = atoi(optarg); break;
		case 'n': opt.messages = atoi(optarg); break;
		case 's': opt.size = strtoul(optarg, NULL, 10); break;
		case 'r': parse_rcpts(optarg); break;
		case 'w': opt.watch_dir = optarg; break;
		case 't': opt.timeout_s = atoi(optarg); break;
		default: die("usage: smtpload -p port [-c conc] [-n msgs] [-s size] [-r rcpt] [-w newdir]");
		}
	}
	if (opt.port <= 0 || opt.concurrency <= 0 || opt.messages <= 0 || opt.concurrency > 1000)
		die("bad arguments");
	make_body();
	sent_at = calloc((size_t)opt.messages, sizeof(double));
	acked_at = calloc((size_t)opt.messages, sizeof(double));
	landed_at = calloc((size_t)opt.messages, sizeof(double));
	lat = calloc((size_t)opt.messages, sizeof(double));
	threads = calloc((size_t)opt.concurrency, sizeof(*threads));
	if (!sent_at || !acked_at || !landed_at || !lat || !threads)
		die("out of memory");

	if (opt.watch_dir != NULL) {
		if ((ifd = inotify_init1(IN_NONBLOCK)) == -1 ||
		    inotify_add_watch(ifd, opt.watch_dir, IN_MOVED_TO | IN_CREATE | IN_CLOSE_WRITE) == -1)
			die("inotify %s: %s", opt.watch_dir, strerror(errno));
		pthread_create(&wt, NULL, watcher, &ifd);
	}
	start = now();
	for (i = 0; i < opt.concurrency; i++)
		pthread_create(&threads[i], NULL, client, NULL);
	for (i = 0; i < opt.concurrency; i++)
		pthread_join(threads[i], NULL);
	end = now();
	if (opt.watch_dir != NULL) {
		pthread_join(wt, NULL);
		end = start;
		for (i = 0, n = 0; i < opt.messages; i++) {
			if (landed_at[i] == 0)
				continue;
			landed++;
			if (landed_at[i] > end)
				end = landed_at[i];
			/* a file can land before the client saw the 250 */
			lat[n++] = landed_at[i] > sent_at[i] ? landed_at[i] - sent_at[i] : 0;
		}
	} else {
		for (i = 0, n = 0; i < opt.messages; i++)
			if (acked_at[i] > 0)
				lat[n++] = acked_at[i] - sent_at[i], landed++;
	}
	printf("messages=%d delivered=%d failures=%d seconds=%.3f msgs_per_s=%.1f MB_per_s=%.2f "
	    "p50_ms=%.2f p99_ms=%.2f\n", opt.messages, landed, failures, end - start,
	    landed / (end - start), landed * (double)opt.size / (end - start) / 1e6,
	    percentile(lat, n, 0.50) * 1e3, percentile(lat, n, 0.99) * 1e3);
	return landed == opt.messages ? 0 : 1;
}
