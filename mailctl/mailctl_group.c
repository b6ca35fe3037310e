/*
 * mailctl group add|del|members, alias add|del|list and sender
 * add|del|list.  The three files share one grammar ("name@domain:
 * member@domain, ..."); the directory checks that members exist and that
 * groups form no cycle when the edited file is loaded before it is
 * installed.  A senders entry is keyed by a user and lists further
 * addresses (local or remote) that user may send as.
 */
#include "mailctl/mailctl.h"

#include "lib/buf.h"
#include "lib/directory.h"
#include "lib/xmalloc.h"
#include "mail/address.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ENTRY_MAX	65535	/* lib/directory.c reads lines up to 64 KB */

struct list_kind {
	const char	*file;		/* "groups" */
	const char	*kind;		/* "group": as ctl_address_kind() names it */
	const char	*member;	/* "member" or "target" */
	bool		 of_user;	/* the entry's name is an existing user */
};

static const struct list_kind groups = { "groups", "group", "member", false };
static const struct list_kind aliases = { "aliases", "alias", "target", false };
static const struct list_kind senders = { "senders", "senders entry", "address", true };

struct members {
	char	**v;
	size_t	  n;
};

/* Add addr (lower-cased) unless it is there already. */
static void
members_add(struct members *ms, const char *addr)
{
	char	*lower = ctl_lower(addr);
	size_t	 i;

	for (i = 0; i < ms->n; i++) {
		if (strcmp(ms->v[i], lower) == 0) {
			free(lower);
			return;
		}
	}
	ms->v = xreallocarray(ms->v, ms->n + 1, sizeof(*ms->v));
	ms->v[ms->n++] = lower;
}

static bool
members_del(struct members *ms, const char *addr)
{
	size_t	 i;

	for (i = 0; i < ms->n; i++) {
		if (strcmp(ms->v[i], addr) == 0) {
			free(ms->v[i]);
			memmove(&ms->v[i], &ms->v[i + 1], (ms->n - i - 1) * sizeof(*ms->v));
			ms->n--;
			return true;
		}
	}
	return false;
}

static void
members_free(struct members *ms)
{
	size_t	 i;

	for (i = 0; i < ms->n; i++)
		free(ms->v[i]);
	free(ms->v);
	ms->v = NULL;
	ms->n = 0;
}

/* The members of an entry line, lower-cased, in order, without repeats. */
static void
members_parse(const char *line, struct members *ms)
{
	const char	*colon = strchr(line, ':');
	char		*copy, *m, *save;

	memset(ms, 0, sizeof(*ms));
	if (colon == NULL)
		return;
	copy = xstrdup(colon + 1);
	for (m = strtok_r(copy, ", \t", &save); m != NULL; m = strtok_r(NULL, ", \t", &save))
		members_add(ms, m);
	free(copy);
}

/* "name: a, b, c"; NULL if it would exceed the directory's line limit. */
static char *
entry_line(const char *name, const struct members *ms)
{
	struct buf	*b = buf_new(ENTRY_MAX);
	char		*line = NULL;
	size_t		 i;
	int		 r;

	r = buf_printf(b, "%s:", name);
	for (i = 0; i < ms->n && r == 0; i++)
		r = buf_printf(b, "%s %s", i == 0 ? "" : ",", ms->v[i]);
	if (r == 0)
		line = buf_strdup(b);
	buf_free(&b);
	return line;
}

/* Check and lower-case the addresses argv[from..]. */
static int
members_from_args(const struct list_kind *k, int argc, char **argv, int from,
    struct members *ms)
{
	int	 i;

	memset(ms, 0, sizeof(*ms));
	for (i = from; i < argc; i++) {
		if (!address_valid(argv[i], ADDRESS_USER)) {
			ctl_error("%s %s: not a valid address", k->member, ctl_q(argv[i]));
			members_free(ms);
			return CTL_ERR;
		}
		members_add(ms, argv[i]);
	}
	return CTL_OK;
}

static int
list_add(struct mailctl *m, const struct list_kind *k, const char *name, struct members *add)
{
	struct members	 ms;
	struct ctl_file	 f;
	const char	*other;
	char		*line;
	ssize_t		 i;
	size_t		 j;
	int		 rc;

	if ((rc = ctl_check_local_address(m, name)) != CTL_OK)
		return rc;
	other = ctl_address_kind(m, name);
	if (k->of_user && (other == NULL || strcmp(other, "user") != 0))
		return ctl_error("%s: no such user", name);
	if (!k->of_user && other != NULL && strcmp(other, k->kind) != 0)
		return ctl_error("%s: already a %s", name, other);
	if ((rc = ctl_file_read(m, k->file, &f)) != CTL_OK)
		return rc;
	i = ctl_file_find(&f, name);
	if (i == -1)
		memset(&ms, 0, sizeof(ms));
	else
		members_parse(f.lines[i], &ms);
	for (j = 0; j < add->n; j++)
		members_add(&ms, add->v[j]);
	if ((line = entry_line(name, &ms)) == NULL)
		rc = ctl_error("%s: too many %ss for one line", name, k->member);
	else {
		if (i == -1)
			ctl_file_append(&f, line);
		else
			ctl_file_replace(&f, (size_t)i, line);
		rc = ctl_file_commit(m, &f, NULL, NULL);
	}
	members_free(&ms);
	ctl_file_free(&f);
	return rc;
}

/* Remove the entry, or only the members in del (the entry too once empty). */
static int
list_del(struct mailctl *m, const struct list_kind *k, const char *name, struct members *del)
{
	struct members	 ms;
	struct ctl_file	 f;
	char		*line;
	ssize_t		 i;
	size_t		 j;
	int		 rc = CTL_OK;

	if ((rc = ctl_file_read(m, k->file, &f)) != CTL_OK)
		return rc;
	if ((i = ctl_file_find(&f, name)) == -1) {
		rc = ctl_error("%s: no such %s", ctl_q(name), k->kind);
		ctl_file_free(&f);
		return rc;
	}
	members_parse(f.lines[i], &ms);
	for (j = 0; j < del->n && rc == CTL_OK; j++)
		if (!members_del(&ms, del->v[j]))
			rc = ctl_error("%s: not a %s of %s", del->v[j], k->member, name);
	if (rc == CTL_OK) {
		if (del->n == 0 || ms.n == 0)
			ctl_file_remove(&f, (size_t)i);
		else if ((line = entry_line(name, &ms)) != NULL)
			ctl_file_replace(&f, (size_t)i, line);
		else
			rc = ctl_error("%s: too many %ss for one line", name, k->member);
	}
	if (rc == CTL_OK)
		rc = ctl_file_commit(m, &f, NULL, NULL);
	members_free(&ms);
	ctl_file_free(&f);
	return rc;
}

/* Print the members of one entry, or every entry when name is NULL. */
static int
list_show(struct mailctl *m, const struct list_kind *k, const char *name)
{
	struct members	 ms;
	struct ctl_file	 f;
	char		*key, *line;
	ssize_t		 i;
	size_t		 j;
	int		 rc;

	if ((rc = ctl_file_read(m, k->file, &f)) != CTL_OK)
		return rc;
	if (name != NULL && (i = ctl_file_find(&f, name)) == -1)
		rc = ctl_error("%s: no such %s", ctl_q(name), k->kind);
	else if (name != NULL) {
		members_parse(f.lines[i], &ms);
		for (j = 0; j < ms.n; j++)
			printf("%s\n", ms.v[j]);
		members_free(&ms);
	} else {
		for (j = 0; j < f.n; j++) {
			if ((key = ctl_file_key(&f, j)) == NULL)
				continue;
			members_parse(f.lines[j], &ms);
			if ((line = entry_line(key, &ms)) != NULL)
				printf("%s\n", line);
			free(line);
			members_free(&ms);
			free(key);
		}
	}
	ctl_file_free(&f);
	return rc;
}

static int
list_command(struct mailctl *m, const struct list_kind *k, int argc, char **argv,
    const char *synopsis)
{
	struct members	 ms;
	const char	*sub = argc > 1 ? argv[1] : "";
	char		*name;
	int		 rc;

	if (strcmp(sub, "list") == 0 && k != &groups && argc == 2)
		return list_show(m, k, NULL);
	if ((strcmp(sub, "members") == 0 && k == &groups && argc == 3) ||
	    (strcmp(sub, "list") == 0 && k == &senders && argc == 3)) {
		name = ctl_lower(argv[2]);
		rc = list_show(m, k, name);
		free(name);
		return rc;
	}
	if ((strcmp(sub, "add") != 0 || argc < 4) &&
	    (strcmp(sub, "del") != 0 || argc < 3 || (k == &aliases && argc != 3)))
		return ctl_usage(synopsis);
	if ((rc = members_from_args(k, argc, argv, 3, &ms)) != CTL_OK)
		return rc;
	name = ctl_lower(argv[2]);
	if (strcmp(sub, "add") == 0)
		rc = list_add(m, k, name, &ms);
	else
		rc = list_del(m, k, name, &ms);
	free(name);
	members_free(&ms);
	return rc;
}

int
cmd_group(struct mailctl *m, int argc, char **argv)
{
	return list_command(m, &groups, argc, argv,
	    "group add GROUP MEMBER... | group del GROUP [MEMBER...] | group members GROUP");
}

int
cmd_alias(struct mailctl *m, int argc, char **argv)
{
	return list_command(m, &aliases, argc, argv,
	    "alias add ALIAS TARGET... | alias del ALIAS | alias list");
}

int
cmd_sender(struct mailctl *m, int argc, char **argv)
{
	return list_command(m, &senders, argc, argv,
	    "sender add USER ADDRESS... | sender del USER [ADDRESS...] | sender list [USER]");
}
