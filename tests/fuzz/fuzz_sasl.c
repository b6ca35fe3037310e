/*
 * lib/sasl.c and lib/base64.c on arbitrary client lines.  Byte 0 picks the
 * mechanism and whether the first line is an initial response; the rest is
 * split at LF into client lines.  Checks: SASL_DONE always comes with a
 * user and a password, and base64 output always decodes back to its input.
 */
#include "tests/fuzz/fuzzer.h"
#include "lib/base64.h"
#include "lib/sasl.h"

#include <stdlib.h>
#include <string.h>

#define CHECK(x)	do { if (!(x)) abort(); } while (0)

static void
check_base64(const uint8_t *data, size_t size)
{
	unsigned char	 back[512];
	char		 enc[4 * 171 + 1];
	size_t		 len;

	if (size > 512)
		size = 512;
	len = base64_encode(data, size, enc);
	CHECK(base64_decode(enc, len, back, sizeof(back), &len) == 0);
	CHECK(len == size && memcmp(back, data, size) == 0);
}

FUZZ_BEGIN(data, size)
{
	enum sasl_status	 st = SASL_CONTINUE;
	struct sasl		*s;
	const char		*ch, *err;
	char			*copy, *line, *next;
	int			 first = 1;

	if (size < 1)
		return 0;
	check_base64(data, size);
	s = sasl_new(data[0] & 1 ? "LOGIN" : "PLAIN");
	copy = malloc(size);
	CHECK(copy != NULL);
	memcpy(copy, data + 1, size - 1);
	copy[size - 1] = '\0';
	if (data[0] & 2)
		st = sasl_start(s, NULL, &ch, &err);
	for (line = copy; line != NULL && st == SASL_CONTINUE; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if (first && !(data[0] & 2))
			st = sasl_start(s, line, &ch, &err);
		else
			st = sasl_step(s, line, &ch, &err);
		first = 0;
	}
	if (st == SASL_DONE)
		CHECK(sasl_user(s) != NULL && sasl_password(s) != NULL && sasl_user(s)[0] != '\0');
	else
		CHECK(sasl_user(s) == NULL);
	sasl_free(&s);
	free(copy);
}
FUZZ_END
