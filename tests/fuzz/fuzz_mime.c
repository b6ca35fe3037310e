/*
 * The MIME parser under arbitrary bytes: mime_parse() must return a
 * well-formed tree (parts inside their parents, sizes within the input)
 * and printable strings for anything; mime_decode_header() must decode or
 * keep any header value; mime_header_mailboxes() (smtpd's From: policy)
 * must hand over only C strings no longer than the input allows (a NUL
 * becomes 3 bytes of U+FFFD, plus the '@').  Runs on
 * an exact-size copy so ASan sees overreads.
 */
#include "tests/fuzz/fuzzer.h"
#include "mail/mime.h"

#include <stdlib.h>
#include <string.h>

#define CHECK(x)	do { if (!(x)) abort(); } while (0)

static void
check_part(const struct mime_part *p, size_t start, size_t end)
{
	size_t	 i;

	CHECK(p->header_offset >= start);
	CHECK(p->header_offset + p->header_size == p->body_offset);
	CHECK(p->body_offset + p->body_size <= end);
	CHECK(p->body_vsize >= p->body_size && p->lines <= p->body_size);
	for (i = 0; i < p->nchildren; i++)
		check_part(&p->children[i], p->body_offset,
		    p->body_offset + p->body_size);
}

static int
check_mailbox(void *ctx, const char *addr)
{
	size_t	 size = *(const size_t *)ctx;

	CHECK(addr == NULL || strlen(addr) <= 3 * size + 1);
	return 0;
}

FUZZ_BEGIN(data, size)
{
	struct mime_message	*m;
	char			*copy, *s;

	copy = malloc(size > 0 ? size : 1);
	CHECK(copy != NULL);
	if (size > 0)
		memcpy(copy, data, size);
	m = mime_parse(copy, size);
	check_part(&m->root, 0, size);
	CHECK(m->envelope[0] == '(' && m->body[0] == '(' &&
	    m->bodystructure[0] == '(');
	mime_message_free(&m);
	CHECK(m == NULL);
	s = mime_decode_header(copy, size);
	free(s);
	CHECK(mime_header_mailboxes(copy, size, "From", check_mailbox, &size) == 0);
	free(copy);
}
FUZZ_END
