/*
 * What a message says, for header and body keys: read once, its header
 * fields decoded (RFC 2047) and folded into one buffer, its text parts
 * decoded (transfer encoding, charset) and folded into another.  Built on
 * first use, per message, so a search of flags alone never opens a file
 * and a header key does not read the body.
 */
#include "imapd/imap_search_private.h"

#include "lib/unicase.h"
#include "lib/xmalloc.h"
#include "mail/mime.h"
#include "store/store.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * Small files are read into a buffer kept across messages (for a 4 KB
 * message, mmap + page fault + munmap cost more than one pread): for a
 * header key only the first HEAD_READ bytes (more if the header is
 * longer), the rest when a body key asks.  Larger files are mapped, and
 * the pages a key does not touch are never read.
 */
#define READ_MAX	(256 * 1024)
#define HEAD_READ	(16 * 1024)

/* Read on to upto bytes of the file (at most its size). */
static bool
read_more(struct search_msg *m, size_t upto)
{
	char	*p;
	ssize_t	 got;

	if (upto > m->size)
		upto = m->size;
	if (upto <= m->len)
		return true;
	if (buf_reserve(&m->file, upto - m->len) == NULL)
		return false;
	while (m->len < upto) {
		p = buf_reserve(&m->file, upto - m->len);
		got = pread(m->fd, p, upto - m->len, (off_t)m->len);
		if (got <= 0) {
			m->size = m->len;	/* shorter than fstat said: what was read */
			break;
		}
		buf_commit(&m->file, (size_t)got);
		m->len += (size_t)got;
	}
	m->data = buf_head(&m->file) != NULL ? buf_head(&m->file) : "";
	return true;
}

/* Open the message once (the descriptor stays until search_msg_reset()). */
static bool
msg_open(struct imap_search_run *run, struct search_msg *m)
{
	struct stat	 st;
	void		*p;

	if (m->tried_open)
		return m->data != NULL;
	m->tried_open = true;
	if (run->view.open == NULL || run->view.open(run->view.ctx, m->i, &m->fd) == -1) {
		m->fd = -1;
		return false;
	}
	run->opened++;
	if (fstat(m->fd, &st) == -1)
		return false;
	m->size = st.st_size > 0 ? (size_t)st.st_size : 0;
	m->data = "";
	if (m->size > READ_MAX) {
		p = mmap(NULL, m->size, PROT_READ, MAP_PRIVATE, m->fd, 0);
		if (p == MAP_FAILED) {
			m->data = NULL;
			return false;
		}
		m->data = p;
		m->len = m->size;
		m->mapped = true;
	}
	return true;
}

bool
search_msg_open(struct imap_search_run *run, struct search_msg *m, bool whole)
{
	size_t	 want = HEAD_READ;

	if (!msg_open(run, m))
		return false;
	if (whole)
		return read_more(m, m->size);
	/* the header: on until its blank line is in, or the file ends */
	while (m->len < m->size) {
		if (!read_more(m, want))
			return false;
		if (mime_header_len(m->data, m->len) + 1 < m->len)
			break;
		want = size_mul(want, 2);
	}
	return true;
}

/* Append one field, "name: value\n", folded; the value RFC 2047-decoded. */
static void
add_field(struct search_msg *m, const struct mime_header_field *f)
{
	struct search_field	*sf;
	char			*value, *nl;

	if (m->nfields == m->capfields) {
		m->capfields = m->capfields == 0 ? 32 : size_mul(m->capfields, 2);
		m->fields = xreallocarray(m->fields, m->capfields, sizeof(*m->fields));
	}
	value = mime_decode_header(f->value, f->value_len);
	for (nl = value; (nl = strchr(nl, '\n')) != NULL; )
		*nl = ' ';	/* one line per field, whatever a word decoded to */
	sf = &m->fields[m->nfields];
	sf->name = buf_len(&m->header);
	if (unicase_fold_utf8(&m->header, f->name, f->name_len) == 0 &&
	    buf_append(&m->header, ": ", 2) == 0) {
		sf->name_len = buf_len(&m->header) - 2 - sf->name;
		sf->value = buf_len(&m->header);
		if (unicase_fold_utf8(&m->header, value, strlen(value)) == 0 &&
		    buf_append(&m->header, "\n", 1) == 0) {
			sf->value_len = buf_len(&m->header) - 1 - sf->value;
			m->nfields++;
		}
	}
	free(value);
}

bool
search_msg_header(struct imap_search_run *run, struct search_msg *m)
{
	struct mime_header_field	 f;
	size_t				 hlen, pos = 0;

	if (m->header_done)
		return m->data != NULL;
	m->header_done = true;
	if (!search_msg_open(run, m, false))
		return false;
	hlen = mime_header_len(m->data, m->len);
	/* decoding and folding grow a header at most 4 times, plus a separator per line */
	m->header.max = size_add(size_mul(hlen, 6), 64);
	while (mime_header_next(m->data, hlen, &pos, &f))
		add_field(m, &f);
	return true;
}

/* The header of an attached message is part of the body's text. */
static void
add_header_text(struct search_msg *m, const char *h, size_t len)
{
	struct mime_header_field	 f;
	size_t				 pos = 0;
	char				*value;

	while (mime_header_next(h, len, &pos, &f)) {
		value = mime_decode_header(f.value, f.value_len);
		(void)unicase_fold_utf8(&m->body, f.name, f.name_len);
		(void)buf_append(&m->body, ": ", 2);
		(void)unicase_fold_utf8(&m->body, value, strlen(value));
		(void)buf_append(&m->body, "\n", 1);
		free(value);
	}
}

static void
add_part_text(struct search_msg *m, const struct mime_part *part, struct buf *scratch)
{
	const struct mime_part	*msg;
	size_t			 i;

	if (part->flags & MIME_PART_MULTIPART) {
		for (i = 0; i < part->nchildren; i++)
			add_part_text(m, &part->children[i], scratch);
	} else if ((part->flags & MIME_PART_RFC822) && part->nchildren == 1) {
		msg = &part->children[0];
		add_header_text(m, m->data + msg->header_offset, msg->header_size);
		add_part_text(m, msg, scratch);
	} else if (part->flags & MIME_PART_TEXT) {
		buf_reset(scratch);
		(void)mime_part_text(part, m->data, scratch);
		(void)unicase_fold_utf8(&m->body, buf_head(scratch), buf_len(scratch));
		(void)buf_append(&m->body, "\n", 1);
	}
}

bool
search_msg_body(struct imap_search_run *run, struct search_msg *m)
{
	struct mime_message	*mm;
	struct buf		 scratch;
	size_t			 bound;

	if (m->body_done)
		return m->data != NULL;
	m->body_done = true;
	if (!search_msg_open(run, m, true))
		return false;
	/*
	 * A charset conversion makes at most 4 bytes of one (and folding half
	 * as much again): what a hostile message makes us hold stays a small
	 * multiple of its size.  Text past the bound is not searched.
	 */
	bound = size_add(size_mul(m->len, 4), 64);
	m->body.max = size_add(size_mul(bound, 2), 64);
	buf_init(&scratch, bound);
	mm = mime_parse(m->data, m->len);
	add_part_text(m, &mm->root, &scratch);
	mime_message_free(&mm);
	buf_release(&scratch);
	return true;
}

long
search_msg_sent_day(struct imap_search_run *run, struct search_msg *m)
{
	struct mime_header_field	 f;
	size_t				 hlen, pos = 0;
	time_t				 t;
	int				 zone;

	if (m->sent_done)
		return m->sent_day;
	m->sent_done = true;
	t = run->view.msgs[m->i].internal_date;
	zone = 0;
	if (run->view.envelope != NULL && search_msg_envelope(run, m)) {
		if (!m->env_has_date || mime_date_parse(buf_head(&m->env_date),
		    buf_len(&m->env_date), &t, &zone) == -1) {
			t = run->view.msgs[m->i].internal_date;
			zone = 0;
		}
	} else if (search_msg_open(run, m, false)) {
		hlen = mime_header_len(m->data, m->len);
		while (mime_header_next(m->data, hlen, &pos, &f))
			if (f.name_len == 4 && strncasecmp(f.name, "date", 4) == 0) {
				if (mime_date_parse(f.value, f.value_len, &t, &zone) == -1) {
					t = run->view.msgs[m->i].internal_date;
					zone = 0;
				}
				break;
			}
	}
	t += (time_t)zone * 60;
	m->sent_day = (long)(t >= 0 ? t / 86400 : -((-t + 86399) / 86400));
	return m->sent_day;
}

void
search_msg_reset(struct search_msg *m)
{
	if (m->mapped)
		munmap((void *)m->data, m->len);
	if (m->fd != -1)
		close(m->fd);
	m->fd = -1;
	m->mapped = false;
	m->data = NULL;
	m->len = m->size = 0;
	m->tried_open = m->header_done = m->body_done = m->sent_done = false;
	buf_reset(&m->file);
	buf_reset(&m->header);
	buf_reset(&m->body);
	buf_reset(&m->env);
	buf_reset(&m->env_raw);
	buf_reset(&m->env_date);
	m->nfields = 0;
	m->env_done = m->env_ok = m->env_has_date = false;
}

void
search_msg_free(struct search_msg *m)
{
	search_msg_reset(m);
	buf_release(&m->file);
	buf_release(&m->env);
	buf_release(&m->env_raw);
	buf_release(&m->env_date);
	buf_release(&m->header);
	buf_release(&m->body);
	free(m->fields);
	m->fields = NULL;
}
