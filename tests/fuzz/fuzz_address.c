/*
 * mail/address on arbitrary bytes.  Invariants: every flag only widens
 * what is accepted (valid with flags f implies valid with any superset);
 * anything accepted has an '@', at most 254 bytes, no control byte, and
 * no '<' '>' outside a quoted local part; a path that parses yields an
 * address inside the argument.
 */
#include "tests/fuzz/fuzzer.h"
#include "mail/address.h"

#include <stdlib.h>
#include <string.h>

#define CHECK(x)	do { if (!(x)) abort(); } while (0)
#define ALL		(ADDRESS_UTF8 | ADDRESS_QUOTED | ADDRESS_LITERAL)

static void
check_valid(const char *s)
{
	size_t	 i, len = strlen(s);

	CHECK(len <= ADDRESS_MAX && strchr(s, '@') != NULL);
	for (i = 0; i < len; i++)
		CHECK((unsigned char)s[i] >= 32 && s[i] != 127);
	if (s[0] != '"')
		CHECK(strpbrk(s, "<> ") == NULL);
}

FUZZ_BEGIN(data, size)
{
	char		*s, *addr, *rest;
	unsigned	 f, g;

	s = malloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';
	for (f = 0; f <= ALL; f++) {
		if (!address_valid(s, f))
			continue;
		check_valid(s);
		for (g = f; g <= ALL; g++)
			if ((g & f) == f)
				CHECK(address_valid(s, g));
	}
	if (address_path_parse(s, true, &addr, &rest) == 0) {
		CHECK(addr >= s && addr <= s + size);
		CHECK(rest > addr && rest <= s + size + 1);
	}
	free(s);
}
FUZZ_END
