/*
 * SASL PLAIN (RFC 4616) and LOGIN.  Only decoding and framing live here;
 * the protocol adds its "334 "/"+ " prefixes and handles "*".  Every
 * length is bounded before anything is allocated, and the password is
 * wiped from every buffer it passed through.
 */
#include "lib/sasl.h"

#include "lib/base64.h"
#include "lib/xmalloc.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SASL_FIELD_MAX	1024		/* authzid, authcid, password: each */
#define SASL_PLAIN_MAX	(3 * SASL_FIELD_MAX + 2)
#define B64_LEN(n)	(((n) + 2) / 3 * 4)

enum sasl_stage {
	STAGE_NEW,		/* sasl_start not yet called */
	STAGE_PLAIN,		/* waiting for the PLAIN response */
	STAGE_LOGIN_USER,	/* sent "Username:" */
	STAGE_LOGIN_PASS,	/* sent "Password:" */
	STAGE_DONE,
	STAGE_FAILED,
};

struct sasl {
	enum sasl_mech	 mech;
	enum sasl_stage	 stage;
	char		*user;
	char		*password;
};

struct sasl *
sasl_new(const char *mech_name)
{
	struct sasl	*s;
	enum sasl_mech	 mech;

	if (strcasecmp(mech_name, "PLAIN") == 0)
		mech = SASL_PLAIN;
	else if (strcasecmp(mech_name, "LOGIN") == 0)
		mech = SASL_LOGIN;
	else
		return NULL;
	s = xcalloc(1, sizeof(*s));
	s->mech = mech;
	return s;
}

static void
wipe_free(char **p)
{
	if (*p != NULL)
		explicit_bzero(*p, strlen(*p));
	xfree(p);
}

void
sasl_free(struct sasl **sp)
{
	if (*sp == NULL)
		return;
	wipe_free(&(*sp)->user);
	wipe_free(&(*sp)->password);
	free(*sp);
	*sp = NULL;
}

static enum sasl_status
sasl_fail(struct sasl *s, const char *why, const char **error_r)
{
	s->stage = STAGE_FAILED;
	wipe_free(&s->user);
	wipe_free(&s->password);
	*error_r = why;
	return SASL_ERROR;
}

/* Decode one client response into out (max bytes); -1 if bad or too long. */
static int
decode(const char *line, unsigned char *out, size_t max, size_t *len_r)
{
	size_t	 inlen = strlen(line);

	if (inlen > B64_LEN(max))
		return -1;
	return base64_decode(line, inlen, out, max, len_r);
}

/* message = [authzid] NUL authcid NUL passwd, exactly two NULs. */
static enum sasl_status
plain_response(struct sasl *s, const char *line, const char **error_r)
{
	unsigned char	 data[SASL_PLAIN_MAX + 1];
	const char	*authzid, *authcid, *passwd;
	size_t		 len, i, nuls = 0;
	enum sasl_status ret;

	if (decode(line, data, SASL_PLAIN_MAX, &len) == -1)
		return sasl_fail(s, "invalid base64 or response too long", error_r);
	for (i = 0; i < len; i++)
		nuls += data[i] == '\0';
	if (nuls != 2) {
		explicit_bzero(data, sizeof(data));
		return sasl_fail(s, "PLAIN response needs exactly two NUL separators", error_r);
	}
	data[len] = '\0';
	authzid = (const char *)data;
	authcid = authzid + strlen(authzid) + 1;
	passwd = authcid + strlen(authcid) + 1;
	if (*authcid == '\0' || *passwd == '\0')
		ret = sasl_fail(s, "empty user name or password", error_r);
	else if (strlen(authzid) > SASL_FIELD_MAX || strlen(authcid) > SASL_FIELD_MAX ||
	    strlen(passwd) > SASL_FIELD_MAX)
		ret = sasl_fail(s, "user name or password too long", error_r);
	else if (*authzid != '\0' && strcasecmp(authzid, authcid) != 0) {
		/* We act for nobody else: say so rather than "cannot decode". */
		sasl_fail(s, "authorization identity differs from the login", error_r);
		ret = SASL_AUTHZ_DENIED;
	}
	else {
		s->user = xstrdup(authcid);
		s->password = xstrdup(passwd);
		s->stage = STAGE_DONE;
		ret = SASL_DONE;
	}
	explicit_bzero(data, sizeof(data));
	return ret;
}

/* One LOGIN field: no NULs, not empty, bounded. */
static int
login_field(const char *line, char **out_r)
{
	unsigned char	 data[SASL_FIELD_MAX + 1];
	size_t		 len;
	int		 ret = -1;

	if (decode(line, data, SASL_FIELD_MAX, &len) == 0 && len > 0 &&
	    memchr(data, '\0', len) == NULL) {
		data[len] = '\0';
		*out_r = xstrdup((const char *)data);
		ret = 0;
	}
	explicit_bzero(data, sizeof(data));
	return ret;
}

static enum sasl_status
login_response(struct sasl *s, const char *line, const char **challenge_r,
    const char **error_r)
{
	if (s->stage == STAGE_LOGIN_USER) {
		if (login_field(line, &s->user) == -1)
			return sasl_fail(s, "invalid user name (bad base64, empty or too long)",
			    error_r);
		s->stage = STAGE_LOGIN_PASS;
		*challenge_r = "UGFzc3dvcmQ6";		/* "Password:" */
		return SASL_CONTINUE;
	}
	if (login_field(line, &s->password) == -1)
		return sasl_fail(s, "invalid password (bad base64, empty or too long)", error_r);
	s->stage = STAGE_DONE;
	return SASL_DONE;
}

enum sasl_status
sasl_start(struct sasl *s, const char *initial, const char **challenge_r, const char **error_r)
{
	if (s->stage != STAGE_NEW)
		return sasl_fail(s, "SASL exchange already started", error_r);
	s->stage = s->mech == SASL_PLAIN ? STAGE_PLAIN : STAGE_LOGIN_USER;
	if (initial == NULL) {
		*challenge_r = s->mech == SASL_PLAIN ? "" : "VXNlcm5hbWU6";	/* "Username:" */
		return SASL_CONTINUE;
	}
	/* RFC 4954: "=" is an initial response of zero bytes. */
	if (strcmp(initial, "=") == 0)
		initial = "";
	return sasl_step(s, initial, challenge_r, error_r);
}

enum sasl_status
sasl_step(struct sasl *s, const char *line, const char **challenge_r, const char **error_r)
{
	switch (s->stage) {
	case STAGE_PLAIN:
		return plain_response(s, line, error_r);
	case STAGE_LOGIN_USER:
	case STAGE_LOGIN_PASS:
		return login_response(s, line, challenge_r, error_r);
	case STAGE_NEW:
	case STAGE_DONE:
	case STAGE_FAILED:
		break;
	}
	return sasl_fail(s, "no SASL exchange in progress", error_r);
}

const char *
sasl_user(const struct sasl *s)
{
	return s->stage == STAGE_DONE ? s->user : NULL;
}

const char *
sasl_password(const struct sasl *s)
{
	return s->stage == STAGE_DONE ? s->password : NULL;
}
