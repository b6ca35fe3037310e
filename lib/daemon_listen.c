/*
 * Listening sockets: bound from the config's listener keys, or handed
 * over by systemd socket activation (LISTEN_PID/LISTEN_FDS, matched to a
 * listener kind by LISTEN_FDNAMES, i.e. FileDescriptorName=).
 */
#include "lib/daemon_private.h"

#include "lib/config.h"
#include "lib/error.h"
#include "lib/log.h"
#include "lib/xmalloc.h"

#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LISTEN_BACKLOG	511
#define SD_FDS_START	3

int
daemon_listen_parse(const char *item, struct sockaddr_storage *ss, socklen_t *len_r,
    const char **error_r)
{
	struct addrinfo	 hints, *res;
	char		 host[INET6_ADDRSTRLEN + 2];
	const char	*port, *end;
	size_t		 hlen;
	char		*portend;
	long		 pn;
	int		 r;

	if (item[0] == '/') {
		struct sockaddr_un	*sun = (struct sockaddr_un *)ss;

		/* A local control socket (relayd's, for mailctl). */
		if (strlen(item) >= sizeof(sun->sun_path))
			return err_set(error_r, "%s: path too long for a socket", item);
		memset(ss, 0, sizeof(*ss));
		sun->sun_family = AF_UNIX;
		memcpy(sun->sun_path, item, strlen(item) + 1);
		*len_r = sizeof(*sun);
		return 0;
	}
	if (item[0] == '[') {
		if ((end = strchr(item, ']')) == NULL || end[1] != ':')
			goto bad;
		hlen = (size_t)(end - item - 1);
		if (hlen == 0 || hlen >= sizeof(host))
			goto bad;
		memcpy(host, item + 1, hlen);
		port = end + 2;
	} else {
		if ((end = strrchr(item, ':')) == NULL || memchr(item, ':', (size_t)(end - item)))
			goto bad;	/* bare IPv6 needs brackets */
		hlen = (size_t)(end - item);
		if (hlen >= sizeof(host))
			goto bad;
		memcpy(host, item, hlen);
		port = end + 1;
	}
	host[hlen] = '\0';
	errno = 0;
	pn = strtol(port, &portend, 10);
	if (*port == '\0' || *portend != '\0' || errno != 0 || pn < 0 || pn > 65535)
		goto bad;
	if (strcmp(host, "*") == 0 || host[0] == '\0')
		snprintf(host, sizeof(host), "0.0.0.0");
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	if ((r = getaddrinfo(host, port, &hints, &res)) != 0)
		return err_set(error_r, "%s: %s", item, gai_strerror(r));
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len_r = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;

bad:
	return err_set(error_r, "%s: expected addr:port, [ipv6]:port, *:port or /path", item);
}

static void
sock_add(struct daemon *d, int fd, const struct daemon_listener *l)
{
	d->socks = xreallocarray(d->socks, d->nsocks + 1, sizeof(*d->socks));
	d->socks[d->nsocks].d = d;
	d->socks[d->nsocks].fd = fd;
	d->socks[d->nsocks].l = l;
	d->socks[d->nsocks].io = NULL;
	d->nsocks++;
}

static void
sock_log(int fd, const struct daemon_listener *l, const char *how)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len = sizeof(ss);
	char			 addr[INET6_ADDRSTRLEN];
	int			 port = 0;

	memset(&ss, 0, sizeof(ss));
	addr[0] = '\0';
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET) {
			const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;

			inet_ntop(AF_INET, &sin->sin_addr, addr, sizeof(addr));
			port = ntohs(sin->sin_port);
		} else if (ss.ss_family == AF_INET6) {
			const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ss;

			inet_ntop(AF_INET6, &sin6->sin6_addr, addr, sizeof(addr));
			port = ntohs(sin6->sin6_port);
		}
	}
	log_info("event=listen listener=%s addr=%s port=%d from=%s", l->kind, addr, port, how);
}

/*
 * A socket file left by an earlier run is replaced; anything else at the
 * path is not.  Only root may connect (mailctl runs as root): the mode is
 * set while the socket is still owned by root, before the privilege drop.
 */
static int
bind_unix(struct daemon *d, const struct daemon_listener *l, int fd,
    const struct sockaddr_un *sun, const char **error_r)
{
	struct stat	sb;

	if (lstat(sun->sun_path, &sb) == 0 && S_ISSOCK(sb.st_mode))
		unlink(sun->sun_path);
	if (bind(fd, (const struct sockaddr *)sun, sizeof(*sun)) == -1 ||
	    chmod(sun->sun_path, 0600) == -1 || listen(fd, LISTEN_BACKLOG) == -1) {
		err_set(error_r, "%s (%s): %s", sun->sun_path, daemon_listener_key(l),
		    strerror(errno));
		close(fd);
		return -1;
	}
	sock_add(d, fd, l);
	log_info("event=listen listener=%s path=%s from=%s", l->kind, sun->sun_path,
	    daemon_listener_key(l));
	return 0;
}

static int
bind_one(struct daemon *d, const struct daemon_listener *l, const char *item,
    const char **error_r)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	int			 fd, on = 1;

	if (daemon_listen_parse(item, &ss, &len, error_r) == -1)
		return -1;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		goto fail;
	if (ss.ss_family == AF_UNIX)
		return bind_unix(d, l, fd, (struct sockaddr_un *)&ss, error_r);
	/* Restarts must not wait for TIME_WAIT; [::] must not also take 0.0.0.0. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1 ||
	    (ss.ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) == -1) ||
	    bind(fd, (struct sockaddr *)&ss, len) == -1 || listen(fd, LISTEN_BACKLOG) == -1)
		goto fail;
	sock_add(d, fd, l);
	sock_log(fd, l, daemon_listener_key(l));
	return 0;

fail:
	err_set(error_r, "%s (%s): %s", item, daemon_listener_key(l), strerror(errno));
	if (fd != -1)
		close(fd);
	return -1;
}

const char *
daemon_listener_key(const struct daemon_listener *l)
{
	const struct config_key	*k = config_key_at(l->addrs);

	if (k == NULL || k->type != CONFIG_STRING)
		abort();	/* a listener naming no string key is a bug */
	return k->name;
}

static int
bind_config(struct daemon *d, const char **error_r)
{
	const struct daemon_listener	*l;
	char				*list, *item, *save;
	size_t				 n;

	for (l = d->spec->listeners; l->kind != NULL; l++) {
		list = xstrdup(settings_str(config_settings(d->cfg), l->addrs));
		for (item = strtok_r(list, ",", &save); item != NULL;
		    item = strtok_r(NULL, ",", &save)) {
			item += strspn(item, " \t");
			n = strlen(item);
			while (n > 0 && (item[n - 1] == ' ' || item[n - 1] == '\t'))
				item[--n] = '\0';
			if (n == 0)
				continue;
			if (bind_one(d, l, item, error_r) == -1) {
				free(list);
				return -1;
			}
		}
		free(list);
	}
	return 0;
}

static const struct daemon_listener *
listener_by_kind(const struct daemon *d, const char *name, size_t len)
{
	const struct daemon_listener	*l;

	for (l = d->spec->listeners; l->kind != NULL; l++)
		if (strlen(l->kind) == len && strncmp(l->kind, name, len) == 0)
			return l;
	return NULL;
}

/* 1: took systemd's sockets; 0: not socket-activated; -1: error. */
static int
take_systemd(struct daemon *d, const char **error_r)
{
	const char			*pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	const char			*names = getenv("LISTEN_FDNAMES"), *name, *colon;
	const struct daemon_listener	*l;
	long				 n, i;
	size_t				 len;
	int				 fd, fl, acc;
	socklen_t			 sl;

	if (pid == NULL || fds == NULL || strtol(pid, NULL, 10) != (long)getpid())
		return 0;
	n = strtol(fds, NULL, 10);
	name = names;
	for (i = 0; i < n; i++, name = colon != NULL ? colon + 1 : NULL) {
		fd = SD_FDS_START + (int)i;
		colon = name != NULL ? strchr(name, ':') : NULL;
		len = name == NULL ? 0 : colon != NULL ? (size_t)(colon - name) : strlen(name);
		l = name != NULL ? listener_by_kind(d, name, len) : NULL;
		/* Unnamed: fine only if the daemon has exactly one kind. */
		if (name == NULL && d->spec->listeners[0].kind != NULL &&
		    d->spec->listeners[1].kind == NULL)
			l = &d->spec->listeners[0];
		sl = sizeof(acc);
		if (l == NULL || getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &sl) == -1 ||
		    acc == 0)
			return err_set(error_r, "systemd socket %ld (name \"%.*s\"): %s", i,
			    (int)len, name != NULL ? name : "", l == NULL ?
			    "FileDescriptorName= matches no listener kind" : "not a listening socket");
		if ((fl = fcntl(fd, F_GETFL)) == -1 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1 ||
		    fcntl(fd, F_SETFD, FD_CLOEXEC) == -1)
			return err_set(error_r, "systemd socket %ld: %s", i, strerror(errno));
		sock_add(d, fd, l);
		sock_log(fd, l, "systemd");
	}
	/* Not for our children (workers are not the process systemd meant). */
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return 1;
}

int
daemon_listeners_open(struct daemon *d, const char **error_r)
{
	int	r;

	if ((r = take_systemd(d, error_r)) == -1)
		return -1;
	if (r == 0 && bind_config(d, error_r) == -1)
		return -1;
	/* A daemon that listens (relayd does not) must listen somewhere. */
	if (d->nsocks == 0 && d->spec->listeners[0].kind != NULL) {
		*error_r = "no listeners: every listen key is empty";
		return -1;
	}
	return 0;
}

void
daemon_listeners_close(struct daemon *d)
{
	size_t	i;

	for (i = 0; i < d->nsocks; i++) {
		if (d->socks[i].fd != -1)
			close(d->socks[i].fd);
		d->socks[i].fd = -1;
	}
}
