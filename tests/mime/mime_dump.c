/*
 * mime_dump OUTDIR FILE...: for each message FILE write OUTDIR/<name>.txt in
 * the tests/mime/expected form (ENVELOPE, BODY, BODYSTRUCTURE lines) and
 * OUTDIR/<name>.parts, one line per section,
 *	P <section> <header offset> <header size> <body offset> <body size>
 * for a part (BODY[s.MIME] and BODY[s]), and "M ..." with the same fields
 * for the message inside a message/rfc822 part (BODY[s.HEADER], [s.TEXT]),
 * so tests/e2e/test_mime_dovecot.py can compare mime_parse() and its part
 * offsets with a live Dovecot.  Built by that test against libmail.a.
 */
#include "mail/mime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
write_parts(FILE *f, const struct mime_part *part, const char *prefix)
{
	const struct mime_part	*c, *msg;
	char			 sec[1024];
	size_t			 i;

	for (i = 0; i < part->nchildren && strlen(prefix) < 900; i++) {
		c = &part->children[i];
		snprintf(sec, sizeof(sec), "%s%zu", prefix, i + 1);
		fprintf(f, "P %s %zu %zu %zu %zu\n", sec, c->header_offset,
		    c->header_size, c->body_offset, c->body_size);
		if (c->flags & MIME_PART_RFC822 && c->nchildren == 1) {
			msg = &c->children[0];
			fprintf(f, "M %s %zu %zu %zu %zu\n", sec,
			    msg->header_offset, msg->header_size,
			    msg->body_offset, msg->body_size);
			c = msg;
		}
		if (c->flags & MIME_PART_MULTIPART) {
			strcat(sec, ".");
			write_parts(f, c, sec);
		}
	}
}

static int
write_out(const char *outdir, const char *base, size_t n, const char *suffix,
    const struct mime_message *m)
{
	char	 out[4096];
	FILE	*f;

	snprintf(out, sizeof(out), "%s/%.*s%s", outdir, (int)n, base, suffix);
	if ((f = fopen(out, "wb")) == NULL)
		return -1;
	if (strcmp(suffix, ".txt") == 0)
		fprintf(f, "ENVELOPE %s\nBODY %s\nBODYSTRUCTURE %s\n",
		    m->envelope, m->body, m->bodystructure);
	else if (m->root.flags & MIME_PART_MULTIPART)
		write_parts(f, &m->root, "");
	return fclose(f) == 0 ? 0 : -1;
}

static int
dump(const char *outdir, const char *path)
{
	struct mime_message	*m;
	const char		*base = strrchr(path, '/');
	char			*data;
	size_t			 len, n;
	long			 size;
	int			 ret;
	FILE			*f;

	if ((f = fopen(path, "rb")) == NULL)
		return -1;
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, 0, SEEK_SET);
	if (size < 0 || (data = malloc((size_t)size + 1)) == NULL) {
		fclose(f);
		return -1;
	}
	len = fread(data, 1, (size_t)size, f);
	fclose(f);
	m = mime_parse(data, len);
	base = base == NULL ? path : base + 1;
	n = strlen(base);
	if (n > 4 && strcmp(base + n - 4, ".eml") == 0)
		n -= 4;
	ret = write_out(outdir, base, n, ".txt", m) == 0 &&
	    write_out(outdir, base, n, ".parts", m) == 0 ? 0 : -1;
	mime_message_free(&m);
	free(data);
	return ret;
}

int
main(int argc, char *argv[])
{
	int	 i, ret = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: mime_dump outdir file...\n");
		return 2;
	}
	for (i = 2; i < argc; i++) {
		if (dump(argv[1], argv[i]) == -1) {
			perror(argv[i]);
			ret = 1;
		}
	}
	return ret;
}
