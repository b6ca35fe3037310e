/*
 * RFC 5321 Mailbox and Path syntax (see address.h).  Everything here is a
 * pure function of its input: no locale (isalnum would let a locale widen
 * the set), no allocation.
 */
#include "mail/address.h"
#include "lib/directory.h"

#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

static bool
is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool
address_is_atext(unsigned char c, bool utf8)
{
	return is_alnum(c) || (c >= 0x80 && utf8) ||
	    (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* Quoted-string: DQUOTE *(qtextSMTP / "\" %d32-126) DQUOTE (RFC 5321 4.1.2). */
static bool
quoted_valid(const char *s, size_t len, bool utf8)
{
	size_t		 i;
	unsigned char	 c;

	if (len < 2 || s[0] != '"' || s[len - 1] != '"')
		return false;
	for (i = 1; i < len - 1; i++) {
		c = (unsigned char)s[i];
		if (c == '\\') {
			/* The closing quote cannot be escaped: i + 1 stays inside. */
			if (i + 2 >= len || (unsigned char)s[i + 1] < 32 ||
			    (unsigned char)s[i + 1] > 126)
				return false;
			i++;
		} else if (c == '"' || c < 32 || c == 127 || (c >= 0x80 && !utf8))
			return false;
	}
	return true;
}

/* Dot-string: atext runs separated by single dots. */
static bool
dot_string_valid(const char *s, size_t len, bool utf8)
{
	size_t	 i;

	if (s[0] == '.' || s[len - 1] == '.')
		return false;
	for (i = 0; i < len; i++) {
		if (s[i] == '.' ? s[i + 1] == '.' : !address_is_atext((unsigned char)s[i], utf8))
			return false;
	}
	return true;
}

static bool
local_valid(const char *s, size_t len, unsigned flags)
{
	if (len == 0 || len > ADDRESS_LOCAL_MAX)
		return false;
	if (s[0] == '"')
		return (flags & ADDRESS_QUOTED) && quoted_valid(s, len, flags & ADDRESS_UTF8);
	return dot_string_valid(s, len, flags & ADDRESS_UTF8);
}

/*
 * "[192.0.2.1]" or "[IPv6:...]" (the tag is case-insensitive); general
 * literals ("tag:content") name nothing we could route to and are refused.
 */
static bool
literal_valid(const char *s, size_t len)
{
	char		 text[ADDRESS_DOMAIN_MAX + 1];
	unsigned char	 bin[16];

	if (len < 3 || s[len - 1] != ']')
		return false;
	memcpy(text, s + 1, len - 2);
	text[len - 2] = '\0';
	if (strncasecmp(text, "IPv6:", 5) == 0)
		return inet_pton(AF_INET6, text + 5, bin) == 1;
	return inet_pton(AF_INET, text, bin) == 1;
}

static bool
domain_valid(const char *s, size_t len, unsigned flags)
{
	size_t		 i, label = 0;
	unsigned char	 c;

	if (len == 0 || len > ADDRESS_DOMAIN_MAX)
		return false;
	if (s[0] == '[')
		return (flags & ADDRESS_LITERAL) && literal_valid(s, len);
	for (i = 0; i <= len; i++) {
		c = i < len ? (unsigned char)s[i] : '.';
		if (c == '.') {
			if (label == 0 || label > ADDRESS_LABEL_MAX || s[i - 1] == '-')
				return false;
			label = 0;
		} else if (is_alnum(c) || (c >= 0x80 && (flags & ADDRESS_UTF8)) ||
		    (c == '-' && label > 0))
			label++;
		else
			return false;
	}
	return true;
}

bool
address_valid(const char *address, unsigned flags)
{
	const char	*at;
	size_t		 len;

	len = strnlen(address, ADDRESS_MAX + 1);
	if (len > ADDRESS_MAX || (at = strrchr(address, '@')) == NULL)
		return false;
	return local_valid(address, (size_t)(at - address), flags) &&
	    domain_valid(at + 1, len - (size_t)(at - address) - 1, flags);
}

bool
address_domain_valid(const char *domain, unsigned flags)
{
	return domain_valid(domain, strnlen(domain, ADDRESS_DOMAIN_MAX + 1), flags);
}

int
address_path_parse(char *arg, bool allow_empty, char **addr_r, char **rest_r)
{
	char	*p, *start, *colon;
	bool	 quoted = false;

	arg += strspn(arg, " ");
	if (*arg != '<')
		return -1;
	start = p = arg + 1;
	for (; *p != '\0'; p++) {
		if (quoted && *p == '\\' && p[1] != '\0')
			p++;
		else if (*p == '"')
			quoted = !quoted;
		else if (!quoted && *p == '>')
			break;
	}
	if (*p != '>' || (p[1] != '\0' && p[1] != ' '))
		return -1;
	*p = '\0';
	*rest_r = p + 1;
	if (*start == '@' && (colon = strchr(start, ':')) != NULL)
		start = colon + 1;
	*addr_r = start;
	return *start != '\0' || allow_empty ? 0 : -1;
}

static bool
user_address_valid(const char *address)
{
	return address_valid(address, ADDRESS_USER);
}

static bool
user_domain_valid(const char *domain)
{
	return address_domain_valid(domain, ADDRESS_USER);
}

const struct directory_syntax address_user_syntax = {
	.address_valid	= user_address_valid,
	.domain_valid	= user_domain_valid,
};
