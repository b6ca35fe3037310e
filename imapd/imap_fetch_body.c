/*
 * FETCH BODY[section]<partial> and RFC822.* (see imap_fetch_body.h): the
 * stored range of a section, its CRLF size, and the bytes a block at a
 * time through mail/crlf's encoder, the field filter of HEADER.FIELDS and
 * the partial window.  Not mail/wire_stream: IMAP sends a range of the
 * file exactly (no line end added at its end, which RETR needs before its
 * "."), reads it with pread (items of one message share a descriptor)
 * and cuts a window out of it.
 */
#include "imapd/imap_fetch_body.h"

#include "imapd/imap_command.h"
#include "lib/buf.h"
#include "lib/scratch.h"
#include "mail/mime.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define BODY_BLOCK	(64 * 1024)	/* stored bytes read per pread at most */

/* One block in flight per thread: read and converted within one call. */
static struct scratch	body_block = SCRATCH_INIT(BODY_BLOCK);

/* Up to BODY_BLOCK bytes at pos, into this thread's block (*block_r). */
static ssize_t
read_at(int fd, uint64_t pos, size_t len, const char **block_r)
{
	char	*block = scratch_get(&body_block);
	ssize_t	 r;

	if (len > BODY_BLOCK)
		len = BODY_BLOCK;
	do {
		r = pread(fd, block, len, (off_t)pos);
	} while (r == -1 && errno == EINTR);
	*block_r = block;
	return r;
}

/*
 * The wire form of n stored bytes, through the partial window, into out;
 * out NULL only counts (fb->size).  A NUL goes out as 0x80.
 */
static void
emit(struct imap_fetch_body *fb, struct buf *out, const char *src, size_t n)
{
	char	 tmp[512], *dst, *z;
	size_t	 o, d, k;

	if (out == NULL) {
		for (; n > 0; src += k, n -= k) {
			k = n < sizeof(tmp) / 2 ? n : sizeof(tmp) / 2;
			fb->size += crlf_encode(&fb->crlf, src, k, tmp);
		}
		return;
	}
	dst = buf_reserve(out, 2 * n);
	o = crlf_encode(&fb->crlf, src, n, dst);
	if (fb->skip > 0) {
		d = fb->skip < o ? (size_t)fb->skip : o;
		memmove(dst, dst + d, o - d);
		o -= d;
		fb->skip -= d;
	}
	if (o > fb->left)
		o = (size_t)fb->left;
	for (z = dst; (z = memchr(z, '\0', o - (size_t)(z - dst))) != NULL; z++)
		*z = (char)0x80;
	fb->left -= o;
	buf_commit(out, o);
}

/* The field name collected so far is one att asks for (trailing blanks aside). */
static bool
name_listed(const struct imap_fetch_body *fb)
{
	const struct imap_strings	*f = &fb->att->section.fields;
	size_t				 len = fb->namelen;
	unsigned			 i;

	while (len > 0 && (fb->name[len - 1] == ' ' || fb->name[len - 1] == '\t'))
		len--;
	for (i = 0; i < f->n; i++)
		if (strlen(f->v[i]) == len && strncasecmp(f->v[i], fb->name, len) == 0)
			return true;
	return false;
}

static void
decide(struct imap_fetch_body *fb, struct buf *out, bool listed)
{
	fb->keep = listed != (fb->att->section.text == IMAP_SECTION_HEADER_FIELDS_NOT);
	if (fb->keep)
		emit(fb, out, fb->name, fb->namelen);
	fb->line_start = false;
}

/*
 * HEADER.FIELDS(.NOT): pass on the lines of the fields kept.  A field is
 * its first line and every line after it that starts with a blank; its
 * name runs to the ':'.  The empty line ending the header always passes.
 * Stored bytes, any block edges: the name is collected across them.
 */
static void
filter(struct imap_fetch_body *fb, struct buf *out, const char *src, size_t n)
{
	const char	*lf;
	size_t		 i = 0, end;
	char		 c;

	while (i < n && !fb->eoh) {
		if (!fb->line_start) {
			lf = memchr(src + i, '\n', n - i);
			end = lf != NULL ? (size_t)(lf - src) + 1 : n;
			if (fb->keep)
				emit(fb, out, src + i, end - i);
			i = end;
			if (lf != NULL) {
				fb->line_start = true;
				fb->namelen = 0;
			}
			continue;
		}
		c = src[i];
		if (fb->namelen == 0 && (c == ' ' || c == '\t')) {
			fb->line_start = false;		/* a continuation: as its field */
		} else if (c == '\n' && (fb->namelen == 0 ||
		    (fb->namelen == 1 && fb->name[0] == '\r'))) {
			emit(fb, out, fb->name, fb->namelen);
			emit(fb, out, "\n", 1);
			fb->eoh = true;
		} else if (c == '\n' || c == ':' || fb->namelen == sizeof(fb->name)) {
			decide(fb, out, c == ':' && name_listed(fb));
		} else {
			fb->name[fb->namelen++] = c;
			i++;
		}
	}
}

/*
 * At the end of a header without its empty line (cut by a boundary, or
 * at the end of the file), as Dovecot: a last line cut before its ':' or
 * LF is a field without a name.  The message's own HEADER.FIELDS, which
 * Dovecot builds from its cache of header lines, also ends its last field
 * kept with CRLF (after a CR of its own too) and adds the empty line;
 * everything else, which Dovecot filters from the part's bytes, ends as
 * the bytes do.
 */
static void
filter_end(struct imap_fetch_body *fb, struct buf *out)
{
	if (fb->eoh)
		return;
	if (fb->line_start && fb->namelen > 0)
		decide(fb, out, false);
	fb->eoh = true;
	if (fb->att->section.nparts > 0 || fb->att->section.text != IMAP_SECTION_HEADER_FIELDS)
		return;
	if (!fb->line_start && fb->keep) {
		fb->crlf.prev_cr = false;
		emit(fb, out, "\n", 1);
	}
	fb->crlf.prev_cr = false;
	emit(fb, out, "\n", 1);
}

static void
filter_reset(struct imap_fetch_body *fb, bool prev_cr)
{
	crlf_encoder_init(&fb->crlf, false);
	fb->crlf.prev_cr = prev_cr;
	fb->line_start = true;
	fb->keep = fb->att->section.text == IMAP_SECTION_HEADER_FIELDS_NOT;
	fb->eoh = false;
	fb->namelen = 0;
}

/* The filtered size of [pos, end): a first pass over the (header) range. */
static int
count_filtered(struct imap_fetch_body *fb, bool prev_cr)
{
	uint64_t	 pos = fb->pos;
	const char	*block;
	ssize_t		 r;

	filter_reset(fb, prev_cr);
	fb->size = 0;
	while (pos < fb->end && !fb->eoh) {
		if ((r = read_at(fb->fd, pos, fb->end - pos, &block)) <= 0)
			return -1;
		filter(fb, NULL, block, (size_t)r);
		pos += (uint64_t)r;
	}
	filter_end(fb, NULL);
	filter_reset(fb, prev_cr);
	return 0;
}

/*
 * The message's header: where it ends (after its empty line, or at the
 * end of the file) and its CRLF size, read a block at a time; as
 * mime_parse() ends a message's header.
 */
static int
header_scan(int fd, uint64_t fsize, uint64_t *hend_r, uint64_t *hvsize_r)
{
	uint64_t	 pos = 0, bare = 0;
	const char	*block, *lf;
	bool		 at_start = true, cr_start = false;
	char		 prev = '\0';
	ssize_t		 r;
	size_t		 i;

	while (pos < fsize) {
		if ((r = read_at(fd, pos, fsize - pos, &block)) <= 0)
			return -1;
		for (i = 0; i < (size_t)r;) {
			if (at_start && block[i] == '\n') {
				bare += !cr_start;
				*hend_r = pos + i + 1;
				*hvsize_r = *hend_r + bare;
				return 0;
			}
			if (at_start && !cr_start && block[i] == '\r') {
				cr_start = true;	/* "\r\n" is the empty line too */
				prev = block[i++];
				continue;
			}
			at_start = cr_start = false;
			if ((lf = memchr(block + i, '\n', (size_t)r - i)) == NULL) {
				prev = block[r - 1];
				break;
			}
			if ((lf > block + i ? lf[-1] : prev) != '\r')
				bare++;
			prev = '\n';
			i = (size_t)(lf - block) + 1;
			at_start = true;
		}
		pos += (uint64_t)r;
	}
	*hend_r = fsize;
	*hvsize_r = fsize + bare;
	return 0;
}

/* The range of a numbered section, by a MIME parse of the mapped file: 1, or 0 if none. */
static int
part_range(struct imap_fetch_body *fb, uint64_t fsize, uint64_t *vsize_r, bool *prev_cr_r)
{
	const struct imap_section	*sec = &fb->att->section;
	const struct mime_part		*p;
	struct mime_message		*m;
	char				 num[100 * 11 + 1];	/* deeper than mime.c's 100 levels: none */
	const char			*data;
	size_t				 o = 0;
	unsigned			 i;
	bool				 header;

	for (i = 0; i < sec->nparts && o + 12 < sizeof(num); i++)
		o += (size_t)snprintf(num + o, sizeof(num) - o, "%s%u", i ? "." : "", sec->part[i]);
	num[o] = '\0';
	fb->pos = fb->end = 0;
	*vsize_r = 0;
	*prev_cr_r = false;
	if (fsize == 0 || i < sec->nparts)
		return 0;	/* no parts, or deeper than MIME_MAX_DEPTH allows */
	data = mmap(NULL, (size_t)fsize, PROT_READ, MAP_PRIVATE, fb->fd, 0);
	if (data == MAP_FAILED)
		return -1;
	m = mime_parse(data, (size_t)fsize);
	p = mime_part_find(m, num);
	header = sec->text == IMAP_SECTION_MIME || sec->text == IMAP_SECTION_HEADER ||
	    sec->text == IMAP_SECTION_HEADER_FIELDS || sec->text == IMAP_SECTION_HEADER_FIELDS_NOT;
	if (p != NULL && sec->text != IMAP_SECTION_ALL && sec->text != IMAP_SECTION_MIME)
		p = (p->flags & MIME_PART_RFC822) && p->nchildren == 1 ? &p->children[0] : NULL;
	/* Dovecot sends the header of a part that is only its empty line and no body as "" */
	if (p != NULL && p != &m->root && header && !fb->fields && p->header_vsize == 2 &&
	    p->body_size == 0)
		p = NULL;
	if (p != NULL) {
		fb->pos = header ? p->header_offset : p->body_offset;
		fb->end = fb->pos + (header ? p->header_size : p->body_size);
		*vsize_r = header ? p->header_vsize : p->body_vsize;
		*prev_cr_r = fb->pos > 0 && data[fb->pos - 1] == '\r';
	}
	mime_message_free(&m);
	munmap((void *)data, (size_t)fsize);
	return p != NULL;
}

/*
 * Drop fb->skip wire bytes from the front without converting them,
 * starting where resume left off when it is this section's.  An LF that
 * becomes CRLF may be cut after its CR: then one byte stays to skip.
 */
static int
skip_wire(struct imap_fetch_body *fb, struct imap_body_resume *res, const struct stat *sb)
{
	uint64_t	 start = fb->pos, wire = 0;
	const char	*block, *lf;
	ssize_t		 r;
	size_t		 i, run;

	if (res != NULL && res->dev == sb->st_dev && res->ino == sb->st_ino &&
	    res->start == start && res->end == fb->end && res->wire <= fb->skip) {
		fb->pos = res->pos;
		fb->crlf.prev_cr = res->prev_cr;
		wire = res->wire;
	}
	while (wire < fb->skip && fb->pos < fb->end) {
		if ((r = read_at(fb->fd, fb->pos, fb->end - fb->pos, &block)) <= 0)
			return -1;
		for (i = 0; i < (size_t)r && wire < fb->skip;) {
			lf = memchr(block + i, '\n', (size_t)r - i);
			run = lf != NULL ? (size_t)(lf - block) - i : (size_t)r - i;
			if (run > fb->skip - wire)
				run = (size_t)(fb->skip - wire);
			if (run > 0) {
				fb->crlf.prev_cr = block[i + run - 1] == '\r';
				wire += run;
				i += run;
			}
			if (lf == NULL || wire == fb->skip)
				continue;
			if (!fb->crlf.prev_cr && wire + 2 > fb->skip)
				break;		/* the skip ends between CR and LF */
			wire += fb->crlf.prev_cr ? 1 : 2;
			fb->crlf.prev_cr = false;
			i++;
		}
		fb->pos += i;
		if (i < (size_t)r)
			break;
	}
	if (res != NULL) {
		*res = (struct imap_body_resume){ sb->st_dev, sb->st_ino, start, fb->end, wire,
		    fb->pos, fb->crlf.prev_cr };
	}
	fb->skip -= wire;
	return 0;
}

int
imap_fetch_body_begin(struct imap_fetch_body *fb, const struct imap_fetch_att *att, int fd,
    uint64_t size, struct imap_body_resume *resume, const char **error_r)
{
	const struct imap_section	*sec = &att->section;
	enum imap_section_text		 text = sec->text;
	struct stat			 sb;
	uint64_t			 fsize, hend, hvsize, total;
	bool				 prev_cr = false;
	int				 found = 1;

	memset(fb, 0, sizeof(*fb));
	fb->att = att;
	fb->fd = fd;
	if (att->item == IMAP_FETCH_RFC822)
		text = IMAP_SECTION_ALL;
	else if (att->item == IMAP_FETCH_RFC822_HEADER)
		text = IMAP_SECTION_HEADER;
	else if (att->item == IMAP_FETCH_RFC822_TEXT)
		text = IMAP_SECTION_TEXT;
	if (fstat(fd, &sb) == -1)
		goto fail;
	fsize = (uint64_t)sb.st_size;
	fb->fields = text == IMAP_SECTION_HEADER_FIELDS || text == IMAP_SECTION_HEADER_FIELDS_NOT;
	if (att->item == IMAP_FETCH_BODY_SECTION && sec->nparts > 0) {
		if ((found = part_range(fb, fsize, &total, &prev_cr)) == -1)
			goto fail;
	} else if (text == IMAP_SECTION_ALL) {
		fb->end = fsize;
		total = size;
	} else {
		if (header_scan(fd, fsize, &hend, &hvsize) == -1)
			goto fail;
		fb->pos = text == IMAP_SECTION_TEXT ? hend : 0;
		fb->end = text == IMAP_SECTION_TEXT ? fsize : hend;
		total = text == IMAP_SECTION_TEXT ? (size > hvsize ? size - hvsize : 0) : hvsize;
	}
	if (fb->fields && found) {
		if (count_filtered(fb, prev_cr) == -1)
			goto fail;
		total = fb->size;
	} else {
		crlf_encoder_init(&fb->crlf, false);
		fb->crlf.prev_cr = prev_cr;
	}
	fb->skip = att->partial ? att->offset : 0;
	fb->size = fb->skip >= total ? 0 : total - fb->skip;
	if (att->partial && fb->size > att->count)
		fb->size = att->count;
	fb->left = fb->size;
	if (fb->size == 0)
		fb->pos = fb->end;
	else if (fb->skip > 0 && !fb->fields && skip_wire(fb, resume, &sb) == -1)
		goto fail;
	return 0;

fail:
	*error_r = strerror(errno != 0 ? errno : EIO);
	return -1;
}

uint64_t
imap_fetch_body_size(const struct imap_fetch_body *fb)
{
	return fb->size;
}

/* A header field name as the client may have sent it: an atom, else quoted or a literal. */
static int
put_field(struct buf *out, const char *name)
{
	const unsigned char	*p;
	bool			 atom = *name != '\0', quoted = true;
	char			 c;

	for (p = (const unsigned char *)name; *p != '\0'; p++) {
		if (*p <= 0x20 || *p >= 0x7f || strchr("(){%*\"\\]", *p) != NULL)
			atom = false;
		if (*p == '\r' || *p == '\n' || *p >= 0x80)
			quoted = false;
	}
	if (!atom && !quoted)
		return buf_printf(out, "{%zu}\r\n", strlen(name)) == -1 ? -1 :
		    buf_puts(out, name);
	if (!atom && buf_puts(out, "\"") == -1)
		return -1;
	for (p = (const unsigned char *)name; *p != '\0'; p++) {
		c = (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
		if ((!atom && (c == '"' || c == '\\') && buf_puts(out, "\\") == -1) ||
		    buf_append(out, &c, 1) == -1)
			return -1;
	}
	return atom ? 0 : buf_puts(out, "\"");
}

static int
put_section(struct buf *out, const struct imap_section *sec)
{
	static const char *const	 texts[] = {
		[IMAP_SECTION_ALL] = "", [IMAP_SECTION_HEADER] = "HEADER",
		[IMAP_SECTION_HEADER_FIELDS] = "HEADER.FIELDS",
		[IMAP_SECTION_HEADER_FIELDS_NOT] = "HEADER.FIELDS.NOT",
		[IMAP_SECTION_TEXT] = "TEXT", [IMAP_SECTION_MIME] = "MIME",
	};
	unsigned			 i;

	for (i = 0; i < sec->nparts; i++)
		if (buf_printf(out, "%s%u", i > 0 ? "." : "", sec->part[i]) == -1)
			return -1;
	if (sec->nparts > 0 && sec->text != IMAP_SECTION_ALL && buf_puts(out, ".") == -1)
		return -1;
	if (buf_puts(out, texts[sec->text]) == -1)
		return -1;
	if (sec->text != IMAP_SECTION_HEADER_FIELDS && sec->text != IMAP_SECTION_HEADER_FIELDS_NOT)
		return 0;
	if (buf_puts(out, " (") == -1)
		return -1;
	for (i = 0; i < sec->fields.n; i++)
		if ((i > 0 && buf_puts(out, " ") == -1) || put_field(out, sec->fields.v[i]) == -1)
			return -1;
	return buf_puts(out, ")");
}

static int
head_write(const struct imap_fetch_body *fb, struct buf *out)
{
	const struct imap_fetch_att	*att = fb->att;
	int				 r;

	if (att->item == IMAP_FETCH_RFC822)
		r = buf_puts(out, "RFC822");
	else if (att->item == IMAP_FETCH_RFC822_HEADER)
		r = buf_puts(out, "RFC822.HEADER");
	else if (att->item == IMAP_FETCH_RFC822_TEXT)
		r = buf_puts(out, "RFC822.TEXT");
	else if ((r = buf_puts(out, "BODY[")) == 0 && (r = put_section(out, &att->section)) == 0 &&
	    (r = buf_puts(out, "]")) == 0 && att->partial)
		r = buf_printf(out, "<%u>", att->offset);
	if (r == 0)
		r = buf_printf(out, " {%llu}\r\n", (unsigned long long)fb->size);
	return r;
}

int
imap_fetch_body_head(const struct imap_fetch_body *fb, struct buf *out)
{
	struct buf			 head;
	int				 r;

	/* Built aside, so a head that does not fit leaves out as it was. */
	buf_init(&head, buf_room(out));
	r = head_write(fb, &head);
	if (r == 0)
		r = buf_append(out, buf_head(&head), buf_len(&head));
	buf_release(&head);
	return r;
}

int
imap_fetch_body_fill(struct imap_fetch_body *fb, struct buf *out, size_t max)
{
	const char	*block;
	size_t		 want;
	ssize_t		 r;

	assert(max >= IMAP_FETCH_BODY_MIN_FILL);
	if (fb->left == 0)
		return 1;
	/* a field name held from the last call goes out too, and filter_end's CRLFs */
	want = max / 2 - fb->namelen - 2;
	if (want > fb->end - fb->pos)
		want = (size_t)(fb->end - fb->pos);
	if (want > 0) {
		if ((r = read_at(fb->fd, fb->pos, want, &block)) <= 0) {
			if (r == 0)
				errno = EIO;
			return -1;
		}
		fb->pos += (uint64_t)r;
		if (fb->fields)
			filter(fb, out, block, (size_t)r);
		else
			emit(fb, out, block, (size_t)r);
	}
	if (fb->fields && fb->pos == fb->end)
		filter_end(fb, out);
	/* the file is shorter than its size said */
	if (fb->left > 0 && fb->pos == fb->end && (!fb->fields || fb->eoh)) {
		errno = EIO;
		return -1;
	}
	return fb->left == 0;
}
