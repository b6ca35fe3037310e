/*
 * SASL PLAIN (RFC 4616) and LOGIN decoding, shared by SMTP AUTH, POP3 AUTH
 * and IMAP AUTHENTICATE.  The protocol layer frames challenges ("334 ",
 * "+ ") and handles "*" (cancel); this module only turns base64 client
 * responses into a user and password, and says what to send next.
 */
#ifndef LIB_SASL_H
#define LIB_SASL_H

#include <stddef.h>

enum sasl_mech { SASL_PLAIN, SASL_LOGIN };

enum sasl_status {
	SASL_DONE,		/* credentials ready: sasl_user/sasl_password */
	SASL_CONTINUE,		/* send *challenge_r (base64, may be "") and wait */
	SASL_ERROR,		/* bad base64, bad framing: *error_r */
	SASL_AUTHZ_DENIED,	/* PLAIN authzid names someone else than authcid
				 * (compared case-insensitively, as logins are):
				 * an authorization failure, not a syntax error */
};

struct sasl;

/* mech_name: "PLAIN"/"LOGIN" case-insensitively; NULL if unsupported. */
struct sasl	*sasl_new(const char *mech_name);
void		 sasl_free(struct sasl **s);	/* wipes the password */

/*
 * Start with the initial response (SASL-IR) or NULL if none was given
 * ("=" means an empty one).  Then feed each client line with sasl_step.
 */
enum sasl_status sasl_start(struct sasl *s, const char *initial, const char **challenge_r,
		    const char **error_r);
enum sasl_status sasl_step(struct sasl *s, const char *line, const char **challenge_r,
		    const char **error_r);

const char	*sasl_user(const struct sasl *s);
const char	*sasl_password(const struct sasl *s);

#endif
