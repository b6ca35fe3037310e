/*
 * fetch_body_dump FILE ITEM...: for each FETCH item ("BODY.PEEK[1.2.MIME]",
 * "RFC822.HEADER", "BODY[]<5.10>") of the message FILE (stored bytes, as
 * in a Maildir), what imapd/imap_fetch_body sends, "BODY[1.2.MIME] {n}\r\n"
 * and the n bytes, preceded by its length and a newline.  The item
 * "SECTIONS" gives instead every part number of the message, one a line.
 * fetch_body_dump -: the same for each line of stdin, FILE and its ITEMs
 * separated by tabs (one process for a whole corpus: under ASan each
 * start costs tens of milliseconds).
 * Built by tests/e2e/test_fetch_body_dovecot.py against the build's
 * libraries, to compare with a live Dovecot.
 */
#include "imapd/imap_fetch_body.h"
#include "imapd/imap_command.h"
#include "imapd/imap_parser.h"
#include "lib/buf.h"
#include "lib/settings.h"
#include "mail/mime.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static void
sections(struct buf *out, const struct mime_part *part, const char *prefix)
{
	const struct mime_part	*c;
	char			 sec[1024];
	size_t			 i;

	for (i = 0; i < part->nchildren && strlen(prefix) < 900; i++) {
		c = &part->children[i];
		snprintf(sec, sizeof(sec), "%s%zu", prefix, i + 1);
		buf_printf(out, "%s\n", sec);
		strcat(sec, ".");
		if (c->flags & MIME_PART_MULTIPART)
			sections(out, c, sec);
		else if (c->flags & MIME_PART_RFC822 && c->nchildren == 1)
			sections(out, &(struct mime_part){ .nchildren = 1,
			    .children = (struct mime_part *)&c->children[0] }, sec);
	}
}

static int
fetch(int fd, uint64_t size, const char *item, struct buf *out)
{
	static const struct imapd_settings set = { 1 << 20, 1 << 20, 64, 10000 };
	struct imap_parser	*p = imap_parser_new(&set);
	struct imap_fetch_body	 fb;
	const char		*error;
	char			 line[4096];
	int			 n, r;

	n = snprintf(line, sizeof(line), "a FETCH 1 (%s)", item);
	if (imap_parser_line(p, line, (size_t)n) != IMAP_PARSE_COMMAND ||
	    imap_fetch_body_begin(&fb, &imap_parser_command(p)->u.fetch.atts[0], fd, size, NULL,
	    &error) == -1 || imap_fetch_body_head(&fb, out) == -1) {
		imap_parser_free(&p);
		return -1;
	}
	while ((r = imap_fetch_body_fill(&fb, out, 64 * 1024)) == 0)
		;
	imap_parser_free(&p);
	return r == 1 ? 0 : -1;
}

/* Every item of one file, each preceded by its length; -1 on a failure. */
static int
dump(const char *path, char *items[], int nitems)
{
	struct mime_message	*m;
	struct stat		 sb;
	struct buf		 out;
	uint64_t		 size;
	char			*data;
	off_t			 i;
	int			 fd, a, rc = 0;

	if ((fd = open(path, O_RDONLY)) == -1 || fstat(fd, &sb) == -1)
		return -1;
	data = sb.st_size > 0 ? mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0) : "";
	if (data == MAP_FAILED)
		return -1;
	size = (uint64_t)sb.st_size;
	for (i = 0; i < sb.st_size; i++)
		size += data[i] == '\n' && (i == 0 || data[i - 1] != '\r');	/* the store's rule */
	for (a = 0; a < nitems && rc == 0; a++) {
		buf_init(&out, 256 << 20);
		if (strcmp(items[a], "SECTIONS") == 0) {
			m = mime_parse(data, (size_t)sb.st_size);
			if (m->root.flags & MIME_PART_MULTIPART)
				sections(&out, &m->root, "");
			else
				buf_puts(&out, "1\n");
			mime_message_free(&m);
		} else if (fetch(fd, size, items[a], &out) == -1) {
			fprintf(stderr, "%s: %s failed\n", path, items[a]);
			rc = -1;
		}
		printf("%zu\n", buf_len(&out));
		if (buf_len(&out) > 0)	/* an empty buf has no head to pass */
			fwrite(buf_head(&out), 1, buf_len(&out), stdout);
		buf_release(&out);
	}
	if (sb.st_size > 0)
		munmap(data, (size_t)sb.st_size);
	close(fd);
	return rc;
}

/* "FILE\tITEM\tITEM..." lines from stdin. */
static int
dump_lines(void)
{
	char	*line = NULL, *field[256], *p;
	size_t	 cap = 0;
	ssize_t	 len;
	int	 n;

	while ((len = getline(&line, &cap, stdin)) > 0) {
		if (line[len - 1] == '\n')
			line[len - 1] = '\0';
		for (n = 0, p = line; p != NULL && n < 256; n++)
			field[n] = strsep(&p, "\t");
		if (dump(field[0], field + 1, n - 1) == -1) {
			free(line);
			return 1;
		}
	}
	free(line);
	return 0;
}

int
main(int argc, char *argv[])
{
	if (argc < 2)
		return 2;
	if (strcmp(argv[1], "-") == 0)
		return dump_lines();
	return dump(argv[1], argv + 2, argc - 2) == -1 ? 1 : 0;
}
