/*
 * The smarthost (relayd.smarthost): all non-local mail to one relay, as
 * Postfix's relayhost.  "host" or "host:port": host's MX looked up;
 * "[host]:port" or "[192.0.2.1]": host itself, no MX lookup.  Its AUTH
 * credentials (relayd.smarthost_auth) are a file of one line
 * "user password", readable by its owner only.
 */
#ifndef RELAYD_SMARTHOST_H
#define RELAYD_SMARTHOST_H

#include "lib/dns.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SMARTHOST_CRED_MAX	255	/* user name, password: bytes each */

struct smarthost {
	char		name[DNS_NAME_MAX + 16];	/* as configured: the destination's name */
	char		host[DNS_NAME_MAX + 1];
	uint16_t	port;		/* 0: relayd.port */
	bool		mx;		/* look up host's MX first */
};

/* 0, or -1 and *error_r: spec is not one of the forms above. */
int	smarthost_parse(const char *spec, struct smarthost *sh, const char **error_r);
/* 0 and user, password NUL-terminated; -1 and *error_r (never the password). */
int	smarthost_auth_read(const char *path, char user[SMARTHOST_CRED_MAX + 1],
	    char password[SMARTHOST_CRED_MAX + 1], const char **error_r);

#endif
