/*
 * Per-destination TLS policy (relayd.tls_policy), Postfix's
 * smtp_tls_policy_maps simplified: lines "domain level", level one of
 * none, may, encrypt, verify; '#' starts a comment.  A domain is matched
 * whole (case does not matter); others get relayd.tls.
 */
#ifndef RELAYD_TLS_POLICY_H
#define RELAYD_TLS_POLICY_H

#include "relayd/smtp_client.h"

#include <stdbool.h>

struct tls_policy;

/* "none", "may", "encrypt", "verify" into *level; false if not one. */
bool		 tls_policy_level(const char *word, enum smtp_tls_policy *level);
/* The whole file, or NULL and *error_r (its first bad line's number). */
struct tls_policy *tls_policy_read(const char *path, const char **error_r);
/* domain's level, or def when p is NULL or does not name it. */
enum smtp_tls_policy tls_policy_get(const struct tls_policy *p, const char *domain,
		    enum smtp_tls_policy def);
void		 tls_policy_free(struct tls_policy **p);

#endif
