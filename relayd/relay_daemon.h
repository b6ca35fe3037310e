/* relayd's wiring into the daemon skeleton (lib/daemon.h). */
#ifndef RELAYD_RELAY_DAEMON_H
#define RELAYD_RELAY_DAEMON_H

struct daemon;

int	relayd_init(struct daemon *d, const char **error_r);
void	relayd_reload(struct daemon *d);
void	relayd_stop(struct daemon *d);
void	relayd_fini(struct daemon *d);

#endif
