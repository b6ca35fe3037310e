/*
 * Users, domains, groups and aliases (format in lib/directory.h).  All
 * checking happens at load: every member must name a user or another list,
 * cycles are errors, and each list's users are expanded once, deduplicated
 * and sorted.  After that a lookup is a binary search, and a loaded
 * directory is read-only (safe to share between threads).
 *
 * The passwd file is Dovecot's passwd-file format, eight ':' fields:
 *
 *   user@domain:password:uid:gid:gecos:home:shell:extra
 *
 * We use the first two and the last; uid..shell are ignored (all mail
 * belongs to one system user).  extra is space-separated key=value:
 * quota_bytes=N and quota_messages=N (0 = unlimited); other keys are kept
 * for Dovecot and logged.  Shorter lines ("user@domain:password") are fine;
 * the extra field may itself contain ':' (userdb_quota_rule=*:storage=1G).
 */
#include "lib/directory.h"
#include "lib/directory_private.h"

#include "lib/error.h"
#include "lib/log.h"
#include "lib/passcache.h"
#include "lib/textfile.h"
#include "lib/xmalloc.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DIR_LINE_MAX	65536
#define ADDR_BUF	256	/* an address is at most 254 bytes */
#define PASSWD_FIELDS	8

struct dir_domain {
	char		*name;
	char		*catchall;	/* local part, or NULL */
	unsigned	 line;
};

struct dir_list {
	char		*address;
	const char	*file;		/* "groups" or "aliases" */
	unsigned	 line;
	char		**members;
	size_t		 nmembers;
	size_t		*users;		/* expanded, sorted indexes into d->users */
	size_t		 nusers;
	int		 state;		/* expansion: 0 new, 1 in progress, 2 done */
};

struct dir_user_rec {
	struct dir_user	 u;		/* first: handed out as struct dir_user * */
	char		*address;	/* owns the strings u points into */
	char		*password;
	unsigned	 line;
};

struct directory {
	char			*dir;
	struct dir_domain	*domains;
	size_t			 ndomains;
	struct dir_user_rec	*users;
	size_t			 nusers;
	struct dir_list		*lists;
	size_t			 nlists;
	struct dir_list		*senders;	/* login: addresses it may send as */
	size_t			 nsenders;
	const struct directory_syntax *syntax;
};

struct dir_load;
/* One entry of a directory file: a trimmed line, neither blank nor a comment. */
typedef void	 dir_entry_fn(struct dir_load *ld, unsigned lineno, char *line);

struct dir_load {
	struct directory	*d;
	const char		*file;		/* current file's base name */
	dir_entry_fn		*entry;		/* the current file's grammar */
	struct dir_list		**list;		/* where list_line appends */
	size_t			*nlist;
	unsigned		 errors;
	char			 first[512];
};

static void dir_load_error(struct dir_load *ld, const char *file, unsigned line,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
dir_load_error(struct dir_load *ld, const char *file, unsigned line, const char *fmt, ...)
{
	char	 msg[sizeof(ld->first)], why[384];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	snprintf(msg, sizeof(msg), "%s/%s:%u: %s", ld->d->dir, file, line, why);
	log_warnx("%s", msg);
	if (ld->errors++ == 0)
		memcpy(ld->first, msg, sizeof(msg));
}

/* Lower-case copy into out[ADDR_BUF]; -1 if too long to be an address. */
static int
canonical(const char *in, char *out)
{
	size_t	 i;

	for (i = 0; in[i] != '\0'; i++) {
		if (i + 1 >= ADDR_BUF)
			return -1;
		out[i] = (char)tolower((unsigned char)in[i]);
	}
	out[i] = '\0';
	return 0;
}

static int
cmp_domain(const void *a, const void *b)
{
	return strcmp(((const struct dir_domain *)a)->name, ((const struct dir_domain *)b)->name);
}

static int
cmp_user(const void *a, const void *b)
{
	return strcmp(((const struct dir_user_rec *)a)->address,
	    ((const struct dir_user_rec *)b)->address);
}

static int
cmp_list(const void *a, const void *b)
{
	return strcmp(((const struct dir_list *)a)->address, ((const struct dir_list *)b)->address);
}

static int
cmp_size(const void *a, const void *b)
{
	size_t	 x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? -1 : x > y;
}

/* bsearch, which wants a real array even when it is empty (ours are then NULL). */
static void *
find_sorted(const void *key, void *base, size_t n, size_t size,
    int (*cmp)(const void *, const void *))
{
	return n == 0 ? NULL : bsearch(key, base, n, size, cmp);
}

/* Lookups on canonical (lower-case) names in the sorted arrays. */
static const struct dir_domain *
find_domain(const struct directory *d, const char *name)
{
	struct dir_domain	 key = { .name = (char *)name };

	return find_sorted(&key, d->domains, d->ndomains, sizeof(key), cmp_domain);
}

static struct dir_user_rec *
find_user(const struct directory *d, const char *address)
{
	struct dir_user_rec	 key = { .address = (char *)address };

	return find_sorted(&key, d->users, d->nusers, sizeof(key), cmp_user);
}

static struct dir_list *
find_list(const struct directory *d, const char *address)
{
	struct dir_list	 key = { .address = (char *)address };

	return find_sorted(&key, d->lists, d->nlists, sizeof(key), cmp_list);
}

/* ---- domains ---- */

static void
domains_line(struct dir_load *ld, unsigned lineno, char *line)
{
	struct directory	*d = ld->d;
	struct dir_domain	*dom;
	char			 name[ADDR_BUF], *word, *opt, *save;

	word = strtok_r(line, " \t", &save);
	if (canonical(word, name) == -1 || !d->syntax->domain_valid(name)) {
		dir_load_error(ld, ld->file, lineno, "not a domain name");
		return;
	}
	d->domains = xreallocarray(d->domains, d->ndomains + 1, sizeof(*d->domains));
	dom = &d->domains[d->ndomains++];
	dom->name = xstrdup(name);
	dom->catchall = NULL;
	dom->line = lineno;
	while ((opt = strtok_r(NULL, " \t", &save)) != NULL) {
		if (strncmp(opt, "catchall=", 9) != 0 || opt[9] == '\0' || dom->catchall != NULL) {
			dir_load_error(ld, ld->file, lineno,
			    "expected \"domain [catchall=<local part>]\"");
			continue;
		}
		if (canonical(opt + 9, name) == -1) {
			dir_load_error(ld, ld->file, lineno, "catchall target too long");
			continue;
		}
		dom->catchall = xstrdup(name);
	}
}

/* ---- passwd ---- */

static void
passwd_extra(struct dir_load *ld, unsigned lineno, struct dir_user_rec *r, char *extra)
{
	char		*field, *save, *end;
	uint64_t	*dst;
	unsigned long long v;

	for (field = strtok_r(extra, " \t", &save); field != NULL;
	    field = strtok_r(NULL, " \t", &save)) {
		if (strncmp(field, "quota_bytes=", 12) == 0)
			dst = &r->u.quota_bytes;
		else if (strncmp(field, "quota_messages=", 15) == 0)
			dst = &r->u.quota_messages;
		else {
			/* Dovecot has many extra fields; they are not ours to judge. */
			log_info("%s/%s:%u: extra field ignored: %.*s", ld->d->dir, ld->file,
			    lineno, (int)strcspn(field, "="), field);
			continue;
		}
		field = strchr(field, '=') + 1;
		errno = 0;
		v = strtoull(field, &end, 10);
		if (!isdigit((unsigned char)*field) || *end != '\0' || errno == ERANGE) {
			dir_load_error(ld, ld->file, lineno, "quota: not a number");
			continue;
		}
		*dst = v;
	}
}

static void
passwd_line(struct dir_load *ld, unsigned lineno, char *line)
{
	struct directory	*d = ld->d;
	struct dir_user_rec	*r;
	char			*fields[PASSWD_FIELDS], name[ADDR_BUF], *p, *at;
	size_t			 n = 0;

	/* As in Dovecot, the extra field keeps any further colons. */
	for (p = line; p != NULL && n < PASSWD_FIELDS - 1; n++)
		fields[n] = strsep(&p, ":");
	if (p != NULL)
		fields[n++] = p;
	if (n < 2) {
		dir_load_error(ld, ld->file, lineno, "expected user@domain:password[:...]");
		return;
	}
	if (canonical(textfile_trim(fields[0]), name) == -1 || !d->syntax->address_valid(name)) {
		dir_load_error(ld, ld->file, lineno, "not a valid address");
		return;
	}
	at = strrchr(name, '@');
	/* The local part becomes a directory name under mail_root. */
	if (memchr(name, '/', (size_t)(at - name)) != NULL) {
		dir_load_error(ld, ld->file, lineno, "%s: '/' not allowed in a user name", name);
		return;
	}
	if (find_domain(d, at + 1) == NULL) {
		dir_load_error(ld, ld->file, lineno, "%s: domain is not in the domains file",
		    at + 1);
		return;
	}
	d->users = xreallocarray(d->users, d->nusers + 1, sizeof(*d->users));
	r = &d->users[d->nusers++];
	memset(r, 0, sizeof(*r));
	r->line = lineno;
	r->address = xstrdup(name);
	r->password = xstrdup(textfile_trim(fields[1]));
	if (n == PASSWD_FIELDS)
		passwd_extra(ld, lineno, r, fields[PASSWD_FIELDS - 1]);
}

/* ---- groups and aliases ---- */

static void
list_line(struct dir_load *ld, unsigned lineno, char *line)
{
	struct directory	*d = ld->d;
	struct dir_list		*l;
	char			 name[ADDR_BUF], *colon, *m, *save;

	/* senders shares this grammar: "login@domain: address, ..." */
	if ((colon = strchr(line, ':')) == NULL) {
		dir_load_error(ld, ld->file, lineno, "expected \"name@domain: member, ...\"");
		return;
	}
	*colon = '\0';
	if (canonical(textfile_trim(line), name) == -1 || !d->syntax->address_valid(name)) {
		dir_load_error(ld, ld->file, lineno, "not a valid address");
		return;
	}
	if (find_domain(d, strrchr(name, '@') + 1) == NULL) {
		dir_load_error(ld, ld->file, lineno, "%s: domain is not in the domains file",
		    strrchr(name, '@') + 1);
		return;
	}
	*ld->list = xreallocarray(*ld->list, *ld->nlist + 1, sizeof(**ld->list));
	l = &(*ld->list)[(*ld->nlist)++];
	memset(l, 0, sizeof(*l));
	l->address = xstrdup(name);
	l->file = ld->file;
	l->line = lineno;
	for (m = strtok_r(colon + 1, ", \t", &save); m != NULL; m = strtok_r(NULL, ", \t", &save)) {
		if (canonical(m, name) == -1 || !d->syntax->address_valid(name)) {
			dir_load_error(ld, ld->file, lineno, "member is not a valid address");
			continue;
		}
		l->members = xreallocarray(l->members, l->nmembers + 1, sizeof(*l->members));
		l->members[l->nmembers++] = xstrdup(name);
	}
	if (l->nmembers == 0)
		dir_load_error(ld, ld->file, lineno, "%s: no members", l->address);
}

/* ---- checks and expansion after all files are read ---- */

static void
check_duplicates(struct dir_load *ld)
{
	struct directory	*d = ld->d;
	struct dir_user_rec	*u;
	size_t			 i;

	for (i = 1; i < d->ndomains; i++)
		if (strcmp(d->domains[i - 1].name, d->domains[i].name) == 0)
			dir_load_error(ld, "domains", d->domains[i].line, "%s: duplicate",
			    d->domains[i].name);
	for (i = 1; i < d->nusers; i++)
		if (strcmp(d->users[i - 1].address, d->users[i].address) == 0)
			dir_load_error(ld, "passwd", d->users[i].line, "%s: duplicate user",
			    d->users[i].address);
	for (i = 0; i < d->nlists; i++) {
		if (i > 0 && strcmp(d->lists[i - 1].address, d->lists[i].address) == 0)
			dir_load_error(ld, d->lists[i].file, d->lists[i].line,
			    "%s: defined twice (also %s line %u)", d->lists[i].address,
			    d->lists[i - 1].file, d->lists[i - 1].line);
		if ((u = find_user(d, d->lists[i].address)) != NULL)
			dir_load_error(ld, d->lists[i].file, d->lists[i].line,
			    "%s: is also a user (passwd line %u)", d->lists[i].address, u->line);
	}
}

static void
cycle_error(struct dir_load *ld, struct dir_list **stack, size_t depth, struct dir_list *back)
{
	char	 path[384];
	size_t	 i, o = 0;

	for (i = 0; i < depth && stack[i] != back; i++)
		;
	for (; i < depth && o < sizeof(path); i++)
		o += (size_t)snprintf(path + o, sizeof(path) - o, "%s -> ", stack[i]->address);
	if (o < sizeof(path))
		snprintf(path + o, sizeof(path) - o, "%s", back->address);
	dir_load_error(ld, stack[depth - 1]->file, stack[depth - 1]->line, "cycle: %s", path);
}

/*
 * Expand l into its sorted, deduplicated users.  stack holds the lists
 * being expanded (at most d->nlists deep, so recursion is bounded).
 */
static void
expand(struct dir_load *ld, struct dir_list *l, struct dir_list **stack, size_t depth)
{
	struct directory	*d = ld->d;
	struct dir_user_rec	*u;
	struct dir_list		*sub;
	size_t			 i, j, n = 0, cap = 0;
	size_t			*users = NULL;

	l->state = 1;
	stack[depth++] = l;
	for (i = 0; i < l->nmembers; i++) {
		if ((u = find_user(d, l->members[i])) != NULL) {
			if (n == cap)
				users = xreallocarray(users, cap = cap * 2 + 4, sizeof(*users));
			users[n++] = (size_t)(u - d->users);
			continue;
		}
		if ((sub = find_list(d, l->members[i])) == NULL) {
			dir_load_error(ld, l->file, l->line, "%s: %s", l->members[i],
			    directory_is_local_domain(d, strrchr(l->members[i], '@') + 1) ?
			    "no such user, group or alias" :
			    "not a local address (forwarding is not supported)");
			continue;
		}
		if (sub->state == 1) {
			cycle_error(ld, stack, depth, sub);
			continue;
		}
		if (sub->state == 0)
			expand(ld, sub, stack, depth);
		for (j = 0; j < sub->nusers; j++) {
			if (n == cap)
				users = xreallocarray(users, cap = cap * 2 + 4, sizeof(*users));
			users[n++] = sub->users[j];
		}
	}
	/* Overlapping groups name a user twice: deliver once. */
	if (n > 0)
		qsort(users, n, sizeof(*users), cmp_size);
	for (i = j = 0; i < n; i++)
		if (j == 0 || users[j - 1] != users[i])
			users[j++] = users[i];
	l->users = users;
	l->nusers = j;
	l->state = 2;
}

static void
check_catchalls(struct dir_load *ld)
{
	struct directory	*d = ld->d;
	struct dir_domain	*dom;
	char			*a;
	size_t			 i;

	for (i = 0; i < d->ndomains; i++) {
		dom = &d->domains[i];
		if (dom->catchall == NULL)
			continue;
		a = xasprintf("%s@%s", dom->catchall, dom->name);
		if (find_user(d, a) == NULL && find_list(d, a) == NULL)
			dir_load_error(ld, "domains", dom->line, "catchall %s: no such user, "
			    "group or alias", a);
		free(a);
	}
}

/* Each senders entry belongs to one existing user; its addresses may be remote. */
static void
check_senders(struct dir_load *ld)
{
	struct directory	*d = ld->d;
	size_t			 i;

	for (i = 0; i < d->nsenders; i++) {
		if (i > 0 && strcmp(d->senders[i - 1].address, d->senders[i].address) == 0)
			dir_load_error(ld, "senders", d->senders[i].line,
			    "%s: defined twice (also line %u)", d->senders[i].address,
			    d->senders[i - 1].line);
		if (find_user(d, d->senders[i].address) == NULL)
			dir_load_error(ld, "senders", d->senders[i].line, "%s: no such user",
			    d->senders[i].address);
	}
}

/* Every file: errors for unusable lines, blank lines and # comments skipped. */
static void
dir_line(void *ctx, unsigned lineno, char *line, const char *why)
{
	struct dir_load	*ld = ctx;

	if (line == NULL) {
		dir_load_error(ld, ld->file, lineno, "%s", why);
		return;
	}
	line = textfile_trim(line);
	if (*line == '\0' || *line == '#')
		return;
	ld->entry(ld, lineno, line);
}

static int
read_file(struct dir_load *ld, const char *name, dir_entry_fn *fn)
{
	const char	*err;
	char		*path;
	int		 r;

	path = xasprintf("%s/%s", ld->d->dir, name);
	ld->file = name;
	ld->entry = fn;
	r = textfile_read(path, DIR_LINE_MAX, dir_line, ld, &err);
	free(path);
	if (r == -1) {
		log_warnx("%s", err);
		if (ld->errors++ == 0)
			snprintf(ld->first, sizeof(ld->first), "%s", err);
		return -1;
	}
	return 0;
}

struct directory *
directory_load(const char *dir, const struct directory_syntax *syntax,
    const char **error_r)
{
	struct dir_load		 ld;
	struct dir_list		**stack;
	size_t			 i;

	memset(&ld, 0, sizeof(ld));
	ld.d = xcalloc(1, sizeof(*ld.d));
	ld.d->dir = xstrdup(dir);
	assert(syntax != NULL);
	ld.d->syntax = syntax;

	/* Domains first: the other files are checked against them. */
	read_file(&ld, "domains", domains_line);
	if (ld.d->ndomains > 0)
		qsort(ld.d->domains, ld.d->ndomains, sizeof(*ld.d->domains), cmp_domain);
	read_file(&ld, "passwd", passwd_line);
	ld.list = &ld.d->lists;
	ld.nlist = &ld.d->nlists;
	read_file(&ld, "groups", list_line);
	read_file(&ld, "aliases", list_line);
	ld.list = &ld.d->senders;
	ld.nlist = &ld.d->nsenders;
	read_file(&ld, "senders", list_line);
	if (ld.d->nsenders > 0)
		qsort(ld.d->senders, ld.d->nsenders, sizeof(*ld.d->senders), cmp_list);
	if (ld.d->nusers > 0)
		qsort(ld.d->users, ld.d->nusers, sizeof(*ld.d->users), cmp_user);
	if (ld.d->nlists > 0)
		qsort(ld.d->lists, ld.d->nlists, sizeof(*ld.d->lists), cmp_list);
	for (i = 0; i < ld.d->nusers; i++) {
		struct dir_user_rec	*r = &ld.d->users[i];

		r->u.address = r->address;
		r->u.password = r->password;
		r->u.domain = strrchr(r->address, '@') + 1;
		r->u.local = xstrndup(r->address, (size_t)(r->u.domain - 1 - r->address));
	}
	check_duplicates(&ld);
	check_catchalls(&ld);
	check_senders(&ld);
	stack = xcalloc(ld.d->nlists + 1, sizeof(*stack));
	for (i = 0; i < ld.d->nlists; i++)
		if (ld.d->lists[i].state == 0)
			expand(&ld, &ld.d->lists[i], stack, 0);
	free(stack);

	if (ld.errors > 0) {
		if (ld.errors == 1)
			err_set(error_r, "%s", ld.first);
		else
			err_set(error_r, "%u errors, first: %s", ld.errors, ld.first);
		directory_free(&ld.d);
		return NULL;
	}
	return ld.d;
}

void
directory_free(struct directory **dp)
{
	struct directory	*d = *dp;
	size_t			 i, j;

	if (d == NULL)
		return;
	for (i = 0; i < d->ndomains; i++) {
		free(d->domains[i].name);
		free(d->domains[i].catchall);
	}
	for (i = 0; i < d->nusers; i++) {
		free(d->users[i].address);
		if (d->users[i].password != NULL)
			explicit_bzero(d->users[i].password, strlen(d->users[i].password));
		free(d->users[i].password);
		free((char *)d->users[i].u.local);
	}
	for (i = 0; i < d->nlists; i++) {
		for (j = 0; j < d->lists[i].nmembers; j++)
			free(d->lists[i].members[j]);
		free(d->lists[i].members);
		free(d->lists[i].users);
		free(d->lists[i].address);
	}
	for (i = 0; i < d->nsenders; i++) {
		for (j = 0; j < d->senders[i].nmembers; j++)
			free(d->senders[i].members[j]);
		free(d->senders[i].members);
		free(d->senders[i].address);
	}
	free(d->domains);
	free(d->users);
	free(d->lists);
	free(d->senders);
	free(d->dir);
	free(d);
	*dp = NULL;
}

/* ---- lookups ---- */

bool
directory_is_local_domain(const struct directory *d, const char *domain)
{
	char	 name[ADDR_BUF];

	return canonical(domain, name) == 0 && find_domain(d, name) != NULL;
}

const struct dir_user *
directory_user(const struct directory *d, const char *address)
{
	struct dir_user_rec	*r;
	char			 name[ADDR_BUF];

	if (canonical(address, name) == -1 || (r = find_user(d, name)) == NULL)
		return NULL;
	return &r->u;
}

/* Users of one canonical name (a user or a list); false if it is neither. */
static bool
resolve_name(const struct directory *d, const char *name, const struct dir_user **users_r,
    size_t max, size_t *n_r)
{
	struct dir_user_rec	*r;
	struct dir_list		*l;
	size_t			 i;

	if ((r = find_user(d, name)) != NULL) {
		if (max > 0)
			users_r[0] = &r->u;
		*n_r = max > 0 ? 1 : max + 1;
		return true;
	}
	if ((l = find_list(d, name)) == NULL)
		return false;
	for (i = 0; i < l->nusers && i < max; i++)
		users_r[i] = &d->users[l->users[i]].u;
	*n_r = l->nusers > max ? max + 1 : l->nusers;
	return true;
}

enum dir_resolve
directory_resolve(const struct directory *d, const char *address,
    const struct dir_user **users_r, size_t max, size_t *n_r)
{
	const struct dir_domain	*dom;
	char			 name[ADDR_BUF], base[ADDR_BUF], *at, *plus;

	*n_r = 0;
	if (canonical(address, name) == -1 || !d->syntax->address_valid(name))
		return DIR_INVALID;
	at = strrchr(name, '@');
	if ((dom = find_domain(d, at + 1)) == NULL)
		return DIR_REMOTE;
	/* Exact first: a user literally named "a+b" wins over plus-addressing. */
	if (resolve_name(d, name, users_r, max, n_r))
		return DIR_LOCAL;
	plus = memchr(name, '+', (size_t)(at - name));
	if (plus != NULL && plus > name) {
		snprintf(base, sizeof(base), "%.*s%s", (int)(plus - name), name, at);
		if (resolve_name(d, base, users_r, max, n_r))
			return DIR_LOCAL;
	}
	if (dom->catchall != NULL) {
		snprintf(base, sizeof(base), "%s%s", dom->catchall, at);
		if (resolve_name(d, base, users_r, max, n_r))
			return DIR_LOCAL;
	}
	return DIR_NOUSER;
}

const struct dir_user *
directory_authenticate(const struct directory *d, const char *address, const char *password,
    struct passcache *pc)
{
	const struct dir_user	*u;
	const char		*stored;
	bool			 ok;

	/*
	 * The same work whether or not the user exists: the dummy hash is
	 * looked up too (it is never remembered), then hashed.  Only who gives
	 * the right password can be told apart by speed.
	 */
	u = directory_user(d, address);
	stored = u != NULL ? u->password : password_dummy_hash;
	if (passcache_hit(pc, stored, password) && u != NULL)
		return u;
	ok = password_verify(stored, password);
	if (u != NULL && ok)
		passcache_add(pc, stored, password);
	return u != NULL && ok ? u : NULL;
}

char *
directory_maildir(const char *mail_root, const struct dir_user *u)
{
	return xasprintf("%s/%s/%s/Maildir", mail_root, u->domain, u->local);
}

/* Does the canonical name (a user or a list) deliver to user index u? */
static bool
name_reaches(const struct directory *d, const char *name, size_t u)
{
	struct dir_user_rec	*r;
	struct dir_list		*l;

	if ((r = find_user(d, name)) != NULL)
		return (size_t)(r - d->users) == u;
	if ((l = find_list(d, name)) == NULL)
		return false;
	return find_sorted(&u, l->users, l->nusers, sizeof(u), cmp_size) != NULL;
}

/* Is name in the user's senders entry? */
static bool
sender_listed(const struct directory *d, const char *user, const char *name)
{
	struct dir_list	 key = { .address = (char *)user }, *l;
	size_t		 i;

	if ((l = find_sorted(&key, d->senders, d->nsenders, sizeof(key), cmp_list)) == NULL)
		return false;
	for (i = 0; i < l->nmembers; i++)
		if (strcmp(l->members[i], name) == 0)
			return true;
	return false;
}

static bool
may_send_as(const struct directory *d, const char *user, size_t u, const char *name)
{
	const char	*at = strrchr(name, '@');

	return sender_listed(d, user, name) ||
	    (find_domain(d, at + 1) != NULL && name_reaches(d, name, u));
}

bool
directory_may_send_as(const struct directory *d, const char *login, const char *address)
{
	struct dir_user_rec	*r;
	char			 user[ADDR_BUF], name[ADDR_BUF], base[ADDR_BUF], *at, *plus;
	size_t			 u;

	if (canonical(login, user) == -1 || (r = find_user(d, user)) == NULL ||
	    canonical(address, name) == -1 || !d->syntax->address_valid(name))
		return false;
	u = (size_t)(r - d->users);
	if (may_send_as(d, user, u, name))
		return true;
	/* As directory_resolve: a plus-variant only when the exact name is nobody. */
	at = strrchr(name, '@');
	plus = memchr(name, '+', (size_t)(at - name));
	if (plus == NULL || plus == name || find_user(d, name) != NULL ||
	    find_list(d, name) != NULL)
		return false;
	snprintf(base, sizeof(base), "%.*s%s", (int)(plus - name), name, at);
	return may_send_as(d, user, u, base);
}
