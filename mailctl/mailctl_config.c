/*
 * mailctl config: the settings the daemons would run with, one
 * "key = value" line each as etc/postroom.conf would spell it, defaults
 * included.  Names go through the one key table; a deprecated name is
 * shown as the key it now is.
 */
#include "mailctl/mailctl.h"

#include "lib/config.h"

#include <stdio.h>
#include <string.h>

#define CONFIG_VALUE_MAX	4096	/* a line of postroom.conf is no longer */

static const struct config_key *
key_or_alias(const char *name)
{
	const struct config_alias	*a;

	for (a = config_aliases; a->name != NULL; a++)
		if (strcmp(a->name, name) == 0)
			return config_key_find(a->key);
	return config_key_find(name);
}

static void
print_key(struct mailctl *m, const struct config_key *k)
{
	char	 value[CONFIG_VALUE_MAX];

	config_format(m->cfg, k->name, value, sizeof(value));
	printf("%s =%s%s\n", k->name, value[0] != '\0' ? " " : "", value);
}

int
cmd_config(struct mailctl *m, int argc, char **argv)
{
	const struct config_key	*k;
	int			 i;

	/* Every name first: an error prints nothing but the error. */
	for (i = 1; i < argc; i++)
		if (key_or_alias(argv[i]) == NULL)
			return ctl_error("%s: unknown key", ctl_q(argv[i]));
	if (argc == 1)
		for (k = config_keys; k->name != NULL; k++)
			print_key(m, k);
	for (i = 1; i < argc; i++)
		print_key(m, key_or_alias(argv[i]));
	return CTL_OK;
}
