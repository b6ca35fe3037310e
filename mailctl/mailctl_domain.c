/*
 * mailctl adddomain, deldomain, domains.
 */
#include "mailctl/mailctl.h"

#include "lib/directory.h"
#include "lib/xmalloc.h"
#include "mail/address.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
cmd_adddomain(struct mailctl *m, int argc, char **argv)
{
	static const char	 synopsis[] = "adddomain DOMAIN [--catchall LOCAL]";
	struct ctl_file		 f;
	const char		*name = NULL, *catchall = NULL;
	char			*domain, *local = NULL, *addr = NULL, *line;
	ssize_t			 i;
	int			 a, rc;

	for (a = 1; a < argc; a++) {
		if (strcmp(argv[a], "--catchall") == 0 && a + 1 < argc)
			catchall = argv[++a];
		else if (argv[a][0] == '-' || name != NULL)
			return ctl_usage(synopsis);
		else
			name = argv[a];
	}
	if (name == NULL)
		return ctl_usage(synopsis);
	domain = ctl_lower(name);
	if (!address_domain_valid(domain, ADDRESS_USER)) {
		rc = ctl_error("%s: not a valid domain name", ctl_q(domain));
		goto out;
	}
	if (catchall != NULL) {
		local = ctl_lower(catchall);
		addr = xasprintf("%s@%s", local, domain);
		if (strchr(local, '@') != NULL || !address_valid(addr, ADDRESS_USER)) {
			rc = ctl_error("--catchall %s: not a valid local part", ctl_q(catchall));
			goto out;
		}
	}
	if ((rc = ctl_file_read(m, "domains", &f)) != CTL_OK)
		goto out;
	i = ctl_file_find(&f, domain);
	if (i != -1 && catchall == NULL)
		rc = ctl_error("%s: domain already exists", domain);
	else {
		if (local != NULL)
			line = xasprintf("%s catchall=%s", domain, local);
		else
			line = xstrdup(domain);
		if (i == -1)
			ctl_file_append(&f, line);
		else
			ctl_file_replace(&f, (size_t)i, line);
		rc = ctl_file_commit(m, &f, NULL, NULL);
	}
	ctl_file_free(&f);
out:
	free(addr);
	free(local);
	free(domain);
	return rc;
}

/* Entries of file whose address is in domain. */
static int
count_in_domain(struct mailctl *m, const char *file, const char *domain, size_t *n_r)
{
	struct ctl_file	 f;
	const char	*at;
	char		*key;
	size_t		 i;
	int		 rc;

	*n_r = 0;
	if ((rc = ctl_file_read(m, file, &f)) != CTL_OK)
		return rc;
	for (i = 0; i < f.n; i++) {
		if ((key = ctl_file_key(&f, i)) == NULL)
			continue;
		if ((at = strrchr(key, '@')) != NULL && strcmp(at + 1, domain) == 0)
			(*n_r)++;
		free(key);
	}
	ctl_file_free(&f);
	return CTL_OK;
}

int
cmd_deldomain(struct mailctl *m, int argc, char **argv)
{
	struct ctl_file	 f;
	size_t		 users, groups, aliases;
	char		*domain;
	ssize_t		 i;
	int		 rc;

	if (argc != 2 || argv[1][0] == '-')
		return ctl_usage("deldomain DOMAIN");
	domain = ctl_lower(argv[1]);
	if ((rc = count_in_domain(m, "passwd", domain, &users)) != CTL_OK ||
	    (rc = count_in_domain(m, "groups", domain, &groups)) != CTL_OK ||
	    (rc = count_in_domain(m, "aliases", domain, &aliases)) != CTL_OK)
		goto out;
	if (users + groups + aliases > 0) {
		rc = ctl_error("%s still has %zu user(s), %zu group(s), %zu alias(es): "
		    "remove them first", domain, users, groups, aliases);
		goto out;
	}
	if ((rc = ctl_file_read(m, "domains", &f)) != CTL_OK)
		goto out;
	if ((i = ctl_file_find(&f, domain)) == -1)
		rc = ctl_error("%s: no such domain", ctl_q(domain));
	else {
		ctl_file_remove(&f, (size_t)i);
		rc = ctl_file_commit(m, &f, NULL, NULL);
	}
	ctl_file_free(&f);
out:
	free(domain);
	return rc;
}

int
cmd_domains(struct mailctl *m, int argc, char **argv)
{
	struct ctl_file	 f;
	const char	*s;
	char		*key;
	size_t		 i;
	int		 rc;

	if (argc != 1)
		return ctl_usage("domains");
	if ((rc = ctl_file_read(m, "domains", &f)) != CTL_OK)
		return rc;
	for (i = 0; i < f.n; i++) {
		if ((key = ctl_file_key(&f, i)) == NULL)
			continue;
		/* The domain, then its options (catchall=) as written. */
		s = f.lines[i] + strspn(f.lines[i], " \t");
		s += strcspn(s, " \t");
		s += strspn(s, " \t");
		printf("%s%s%s\n", key, *s != '\0' ? " " : "", s);
		free(key);
	}
	ctl_file_free(&f);
	return CTL_OK;
}
