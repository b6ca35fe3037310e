/*
 * mailctl queue: asks the running relayd through its control socket
 * (relayd.control_listen; relayd/relay_control.c), never touching the
 * queue's files itself: relayd owns them.
 */
#include "mailctl/mailctl.h"

#include "lib/settings.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static const char	synopsis[] =
	"queue list | show ID | retry ID|all | flush | hold ID | release ID | delete ID";

/* The verbs and whether each takes a queue id. */
static const struct {
	const char	*name;
	const char	*wire;
	bool		 id;
} verbs[] = {
	{ "list", "LIST", false }, { "flush", "FLUSH", false }, { "show", "SHOW", true },
	{ "retry", "RETRY", true }, { "hold", "HOLD", true }, { "release", "RELEASE", true },
	{ "delete", "DELETE", true },
};

static void
print_data(void *arg, const char *line)
{
	(void)arg;
	printf("%s\n", line);
}

int
ctl_queue_ask(struct mailctl *m, const char *request, void (*data)(void *, const char *),
    void *arg)
{
	const char		*path = m->set->relayd.control_listen;
	struct sockaddr_un	 sun = { .sun_family = AF_UNIX };
	char			 reply[8192], *line, *end;
	size_t			 have = 0;
	ssize_t			 n;
	bool			 answered = false;
	int			 fd, rc = CTL_ERR;

	if (strlen(path) >= sizeof(sun.sun_path))
		return ctl_error("relayd.control_listen: path too long");
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		if (fd != -1)
			close(fd);
		return ctl_error("relayd is not running, or not here (%s: %s)", path,
		    strerror(errno));
	}
	if (write(fd, request, strlen(request)) != (ssize_t)strlen(request)) {
		close(fd);
		return ctl_error("%s: %s", path, strerror(errno));
	}
	/* "* data" lines, then OK or ERR; printed as they come, a line at a time. */
	for (;;) {
		n = read(fd, reply + have, sizeof(reply) - 1 - have);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		have += (size_t)n;
		reply[have] = '\0';
		for (line = reply; (end = strchr(line, '\n')) != NULL; line = end + 1) {
			*end = '\0';
			if (strncmp(line, "* ", 2) == 0 || strcmp(line, "*") == 0)
				data(arg, line + (line[1] == ' ' ? 2 : 1));
			else if (strcmp(line, "OK") == 0)
				answered = true, rc = CTL_OK;
			else if (strncmp(line, "ERR ", 4) == 0)
				answered = true, rc = ctl_error("%s", line + 4);
		}
		have = strlen(line);
		memmove(reply, line, have + 1);
		if (have == sizeof(reply) - 1)
			have = 0;	/* a line longer than we show: cut */
	}
	close(fd);
	if (!answered)
		return ctl_error("relayd closed the connection without an answer");
	return rc;
}

int
cmd_queue(struct mailctl *m, int argc, char **argv)
{
	char	request[300];

	if (argc < 2)
		return ctl_usage(synopsis);
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (strcmp(argv[1], verbs[i].name) != 0)
			continue;
		if (argc != (verbs[i].id ? 3 : 2))
			return ctl_usage(synopsis);
		if (verbs[i].id && (strlen(argv[2]) > 64 || strcspn(argv[2], " \r\n") !=
		    strlen(argv[2])))
			return ctl_error("%s: not a queue id", ctl_q(argv[2]));
		snprintf(request, sizeof(request), "%s%s%s\n", verbs[i].wire,
		    verbs[i].id ? " " : "", verbs[i].id ? argv[2] : "");
		return ctl_queue_ask(m, request, print_data, NULL);
	}
	return ctl_usage(synopsis);
}
