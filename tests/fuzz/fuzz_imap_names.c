/*
 * imapd's mailbox names (imapd/imap_mailbox_name.h) and LIST patterns
 * (imapd/imap_list.h) on arbitrary bytes.  Byte 0 picks UTF8=ACCEPT and a
 * name length limit; the rest is a name, a NUL, then a pattern.
 * Checks: what the modified UTF-7 decoder accepts the encoder spells back
 * the same way, and the other way round; a name accepted for the store
 * passes the store's own check, has no '/', and its wire form is the name
 * again; "*" matches every name, a name without wildcards matches itself,
 * and matching never takes more than pattern x name steps (no hang).
 */
#include "tests/fuzz/fuzzer.h"
#include "imapd/imap_list.h"
#include "imapd/imap_mailbox_name.h"
#include "lib/buf.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CHECK(x)	do { if (!(x)) abort(); } while (0)

/* b holds exactly s (an empty buf has no data pointer at all). */
static int
holds(const struct buf *b, const char *s)
{
	return buf_len(b) == strlen(s) && (buf_len(b) == 0 || memcmp(buf_head(b), s, buf_len(b)) == 0);
}

static void
check_mutf7(const char *s)
{
	struct buf	 a, b;
	const char	*why;

	/* Room for either way: "&-" halves, a shift at most triples. */
	buf_init(&a, 4 * strlen(s) + 16);
	buf_init(&b, 4 * strlen(s) + 16);
	if (imap_mutf7_decode(s, &a, &why) == 0 && buf_append(&a, "", 1) == 0) {
		CHECK(imap_mutf7_encode(buf_head(&a), &b, &why) == 0);
		CHECK(holds(&b, s));
	}
	buf_reset(&a);
	buf_reset(&b);
	if (imap_mutf7_encode(s, &a, &why) == 0 && buf_append(&a, "", 1) == 0) {
		CHECK(imap_mutf7_decode(buf_head(&a), &b, &why) == 0);
		CHECK(holds(&b, s));
	}
	buf_release(&a);
	buf_release(&b);
}

static void
check_name(const char *name, const struct imap_name_opts *o)
{
	char		 folder[IMAP_FOLDER_SIZE];
	struct imap_no	 no;
	struct buf	 w;
	const char	*why;

	if (imap_name_to_folder(name, o, folder, &no) == -1) {
		CHECK(no.code != NULL && no.text != NULL);
		return;
	}
	CHECK(folder_name_check(folder, &why) == 0);
	CHECK(strchr(folder, '/') == NULL && strstr(folder, "..") == NULL);
	CHECK(strlen(folder) <= STORE_FOLDER_NAME_MAX);
	buf_init(&w, 4096);
	CHECK(imap_folder_to_name(folder, o->utf8, &w) == 0 && buf_append(&w, "", 1) == 0);
	if (strcmp(folder, "INBOX") == 0)
		CHECK(strcasecmp(name, "INBOX") == 0);
	else
		CHECK(strcmp(buf_head(&w), name) == 0);
	buf_release(&w);
}

FUZZ_BEGIN(data, size)
{
	struct imap_name_opts	 o;
	char			*s, *pattern, *canon;
	size_t			 n;

	if (size < 1)
		return 0;
	o.utf8 = data[0] & 1;
	o.name_max = data[0] >> 1;
	s = malloc(size + 1);
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	n = strlen(s);
	pattern = n + 1 < size ? s + n + 1 : s + n;
	check_mutf7(s);
	check_name(s, &o);
	CHECK(imap_list_match("*", s));
	if (strpbrk(s, "*%") == NULL)
		CHECK(imap_list_match(s, s));
	canon = imap_list_canonical(s, pattern);
	(void)imap_list_match(canon, s);
	(void)imap_list_match(pattern, s);
	free(canon);
	free(s);
}
FUZZ_END
