/*
 * The relay's reading of DNS answers (lib/dns.c dns_parse_mx: c-ares's
 * parser, then our filtering, sorting and shuffling) under random answer
 * sections behind a well-formed header and question.  Input byte 0 is the
 * answer count the header claims.  Checks: DNS_OK only with hosts, each
 * at most DNS_NAME_MAX and NUL-terminated, preferences in order.
 */
#include "tests/fuzz/fuzzer.h"
#include "lib/dns.h"

#include <stdlib.h>
#include <string.h>

#define CHECK(x)	do { if (!(x)) abort(); } while (0)

FUZZ_BEGIN(data, size)
{
	static const unsigned char	head[] = {
		0x12, 0x34, 0x81, 0x80, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x01, 'x', 0x04, 't', 'e', 's', 't', 0x00, 0x00, 0x0f, 0x00, 0x01,
	};
	unsigned char			*packet;
	struct dns_mx			*mx;
	size_t				 n, len;
	int				 result;

	if (size < 1 || size > 65535 - sizeof(head))
		return 0;
	len = sizeof(head) + size - 1;
	packet = malloc(len);
	memcpy(packet, head, sizeof(head));
	packet[7] = data[0];			/* ANCOUNT */
	memcpy(packet + sizeof(head), data + 1, size - 1);
	result = dns_parse_mx(packet, (int)len, &mx, &n);
	CHECK(result == DNS_OK || result == DNS_NODATA || result == DNS_TEMPFAIL);
	CHECK((result == DNS_OK) == (n > 0));
	for (size_t i = 0; i < n; i++) {
		CHECK(memchr(mx[i].host, '\0', sizeof(mx[i].host)) != NULL);
		CHECK(strlen(mx[i].host) <= DNS_NAME_MAX);
		CHECK(i == 0 || mx[i - 1].preference <= mx[i].preference);
	}
	free(mx);
	free(packet);
}
FUZZ_END
