/* relayd/tls_policy.h: a sorted array, looked up by bsearch. */
#include "relayd/tls_policy.h"

#include "lib/dns.h"
#include "lib/error.h"
#include "lib/textfile.h"
#include "lib/xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct tls_policy_entry {
	char			*domain;
	enum smtp_tls_policy	 level;
};

struct tls_policy {
	struct tls_policy_entry	*v;
	size_t			 n;
	unsigned		 bad_line;	/* while reading: the first bad one */
	char			 why[128];
};

static const char *const	levels[] = {
	[SMTP_TLS_NONE] = "none", [SMTP_TLS_MAY] = "may",
	[SMTP_TLS_ENCRYPT] = "encrypt", [SMTP_TLS_VERIFY] = "verify",
};

bool
tls_policy_level(const char *word, enum smtp_tls_policy *level)
{
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
		if (strcmp(word, levels[i]) == 0) {
			*level = (enum smtp_tls_policy)i;
			return true;
		}
	return false;
}

static void
bad(struct tls_policy *p, unsigned lineno, const char *why)
{
	if (p->bad_line == 0) {
		p->bad_line = lineno;
		snprintf(p->why, sizeof(p->why), "%s", why);
	}
}

static void
policy_line(void *ctx, unsigned lineno, char *line, const char *why)
{
	struct tls_policy	*p = ctx;
	char			*domain, *word, *extra;
	enum smtp_tls_policy	 level;

	if (line == NULL)
		return bad(p, lineno, why);
	if ((extra = strchr(line, '#')) != NULL)
		*extra = '\0';
	domain = strtok_r(line, " \t", &extra);
	if (domain == NULL)
		return;
	word = strtok_r(NULL, " \t", &extra);
	if (word == NULL || strtok_r(NULL, " \t", &extra) != NULL)
		return bad(p, lineno, "expected \"domain none|may|encrypt|verify\"");
	if (!tls_policy_level(word, &level))
		return bad(p, lineno, "level not one of none, may, encrypt, verify");
	if (strlen(domain) > DNS_NAME_MAX)
		return bad(p, lineno, "domain too long");
	p->v = xreallocarray(p->v, p->n + 1, sizeof(*p->v));
	p->v[p->n++] = (struct tls_policy_entry){ xstrdup(domain), level };
}

static int
by_domain(const void *a, const void *b)
{
	return strcasecmp(((const struct tls_policy_entry *)a)->domain,
	    ((const struct tls_policy_entry *)b)->domain);
}

struct tls_policy *
tls_policy_read(const char *path, const char **error_r)
{
	struct tls_policy	*p = xcalloc(1, sizeof(*p));
	int			 r;

	r = textfile_read(path, 1024, policy_line, p, error_r);
	if (r == 1)
		err_set(error_r, "%s: no such file", path);
	else if (r == 0 && p->bad_line != 0)
		err_set(error_r, "%s line %u: %s", path, p->bad_line, p->why);
	if (r != 0 || p->bad_line != 0) {
		tls_policy_free(&p);
		return NULL;
	}
	if (p->n > 1)
		qsort(p->v, p->n, sizeof(*p->v), by_domain);
	for (size_t i = 1; i < p->n; i++)
		if (strcasecmp(p->v[i - 1].domain, p->v[i].domain) == 0) {
			err_set(error_r, "%s: %s is listed twice", path, p->v[i].domain);
			tls_policy_free(&p);
			return NULL;
		}
	return p;
}

enum smtp_tls_policy
tls_policy_get(const struct tls_policy *p, const char *domain, enum smtp_tls_policy def)
{
	struct tls_policy_entry	 key = { (char *)domain, def };
	struct tls_policy_entry	*e;

	if (p == NULL || p->n == 0)
		return def;
	e = bsearch(&key, p->v, p->n, sizeof(*p->v), by_domain);
	return e != NULL ? e->level : def;
}

void
tls_policy_free(struct tls_policy **pp)
{
	struct tls_policy	*p = *pp;

	if (p == NULL)
		return;
	for (size_t i = 0; i < p->n; i++)
		free(p->v[i].domain);
	free(p->v);
	free(p);
	*pp = NULL;
}
