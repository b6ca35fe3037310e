/*
 * Address syntax for the addresses we accept (RFC 5321 Mailbox without
 * quoted local parts or address literals).  A pure, total function: every
 * accept path is covered by tests/unit/test_directory.c.
 */
#include "lib/directory.h"

#include <ctype.h>
#include <string.h>

#define LOCAL_MAX	64
#define DOMAIN_MAX	253
#define ADDRESS_MAX	254
#define LABEL_MAX	63

/* RFC 5322 atext. */
static bool
is_atext(unsigned char c)
{
	return isalnum(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* dot-atom: atext runs separated by single dots. */
static bool
local_valid(const char *s, size_t len)
{
	size_t	 i;

	if (len == 0 || len > LOCAL_MAX || s[0] == '.' || s[len - 1] == '.')
		return false;
	for (i = 0; i < len; i++) {
		if (s[i] == '.') {
			if (s[i + 1] == '.')
				return false;
		} else if (!is_atext((unsigned char)s[i]))
			return false;
	}
	return true;
}

/* LDH labels of 1-63 bytes, no leading or trailing hyphen. */
static bool
domain_valid(const char *s, size_t len)
{
	size_t	 i, label = 0;

	if (len == 0 || len > DOMAIN_MAX)
		return false;
	for (i = 0; i <= len; i++) {
		if (i == len || s[i] == '.') {
			if (label == 0 || label > LABEL_MAX || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (label == 0 && s[i] == '-')
			return false;
		if (!isalnum((unsigned char)s[i]) && s[i] != '-')
			return false;
		label++;
	}
	return true;
}

bool
address_valid(const char *address)
{
	const char	*at;
	size_t		 len;

	len = strnlen(address, ADDRESS_MAX + 1);
	if (len > ADDRESS_MAX)
		return false;
	at = strrchr(address, '@');
	if (at == NULL)
		return false;
	return local_valid(address, (size_t)(at - address)) &&
	    domain_valid(at + 1, len - (size_t)(at - address) - 1);
}

bool
domain_name_valid(const char *domain)
{
	size_t	 len = strnlen(domain, DOMAIN_MAX + 1);

	return domain_valid(domain, len);
}
