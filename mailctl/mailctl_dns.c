/*
 * mailctl dns DOMAIN: the records the admin creates at the domain's DNS
 * provider, in zone-file form (absolute names, TTL, class, type, data),
 * which control panels accept field by field or as an import.  MX points
 * at the configured hostname (the name smtpd greets with); SPF allows the
 * hosts of the MX and nothing else; DMARC starts at p=none with reports to
 * postmaster.  DKIM comes when Postroom signs.
 */
#include "mailctl/mailctl.h"

#include "lib/directory.h"
#include "lib/settings.h"
#include "lib/xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TTL	3600

int
cmd_dns(struct mailctl *m, int argc, char **argv)
{
	const struct dir_user	*u;
	char			 host[256], *domain, *postmaster;
	size_t			 n;
	int			 rc = CTL_OK;

	if (argc != 2)
		return ctl_usage("dns DOMAIN");
	snprintf(host, sizeof(host), "%s", m->set->lib.hostname);
	if (host[0] == '\0' && gethostname(host, sizeof(host) - 1) == -1)
		host[0] = '\0';
	host[strcspn(host, " ")] = '\0';
	if (strchr(host, '.') == NULL)
		return ctl_error("hostname %s is not a fully qualified name: the MX must point at "
		    "one (set hostname in %s)", ctl_q(host), m->conf_path);
	domain = ctl_lower(argv[1]);
	n = strlen(domain);
	if (n > 0 && domain[n - 1] == '.')
		domain[n - 1] = '\0';
	if (!directory_is_local_domain(m->dir, domain)) {
		rc = ctl_error("%s is not one of our domains (mailctl domains lists them; "
		    "add it with: mailctl adddomain %s)", ctl_q(domain), ctl_q(domain));
		free(domain);
		return rc;
	}
	printf("; DNS records for %s (zone-file form: name TTL class type data).\n", domain);
	printf("; %s must also have A/AAAA records for this host's public addresses,\n", host);
	printf("; and those addresses' PTR records naming %s.\n", host);
	printf("%s.\t%d\tIN\tMX\t10 %s.\n", domain, TTL, host);
	printf("%s.\t%d\tIN\tTXT\t\"v=spf1 mx -all\"\n", domain, TTL);
	printf("_dmarc.%s.\t%d\tIN\tTXT\t\"v=DMARC1; p=none; rua=mailto:postmaster@%s\"\n",
	    domain, TTL, domain);
	printf("; DKIM: Postroom does not sign mail yet; its record (<selector>._domainkey.%s)\n"
	    "; comes with DKIM signing.  Raise DMARC to p=quarantine once reports look clean.\n",
	    domain);
	postmaster = xasprintf("postmaster@%s", domain);
	if (directory_resolve(m->dir, postmaster, &u, 1, &n) != DIR_LOCAL)
		printf("; postmaster@%s receives the DMARC reports but does not exist yet:\n"
		    ";   mailctl alias add postmaster@%s YOU@%s\n", domain, domain, domain);
	free(postmaster);
	free(domain);
	return rc;
}
