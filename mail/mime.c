/*
 * The MIME structure parser: splits a message into its part tree the way
 * Dovecot's message parser does (so that sizes, line counts and part
 * numbers agree with what IMAP clients cached from Dovecot), then prints
 * ENVELOPE, BODY and BODYSTRUCTURE.
 *
 * The rules that matter for malformed mail, all Dovecot's:
 * - a line "--" + b ends a part when b is the longest active boundary that
 *   is a prefix of the rest of the line; an outer boundary also ends every
 *   part inside it, and "--b--" retires b (later "--b" lines are text);
 * - the [CR]LF before a boundary line belongs to the boundary, not to the
 *   part before it; a boundary line can even cut a part's header short;
 * - a multipart without boundary= has no parts; nesting stops at
 *   MIME_MAX_DEPTH levels and MIME_MAX_PARTS parts (deeper ones are leaves).
 * Sizes are computed from byte positions, so CRLF and LF input give the same
 * virtual (CRLF) sizes and line counts.
 */
#include "mail/mime_private.h"

#include "lib/xmalloc.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define F_MULTIPART	MIME_PART_MULTIPART
#define F_RFC822	MIME_PART_RFC822
#define F_TEXT		MIME_PART_TEXT
#define F_IS_MIME	0x100	/* Content-* fields count */
#define F_DIGEST	0x200	/* multipart/digest: parts default to message */
#define F_SEEN_CT	0x400	/* only the first Content-Type counts */
#define F_PUBLIC	(F_MULTIPART | F_RFC822 | F_TEXT)

struct node {
	struct node		*parent, *first, *last, *next;
	size_t			 nchildren;
	size_t			 hstart, hend, bend;
	unsigned		 flags, depth;
	struct mime_part_info	*info;
	char			*boundary;	/* from Content-Type, until used */
};

struct boundary {
	const char	*s;
	size_t		 len;
	struct node	*owner;
};

struct parser {
	const char		*d;
	size_t			 len, pos;
	struct mime_pool	*pool;
	struct boundary		 stack[MIME_MAX_DEPTH + 1];
	size_t			 nb;
	size_t			 nparts;
};

static struct node *
node_new(struct parser *p, struct node *parent, size_t pos)
{
	struct node	*n;

	n = mime_pool_alloc(p->pool, sizeof(*n));
	memset(n, 0, sizeof(*n));
	n->info = mime_pool_alloc(p->pool, sizeof(*n->info));
	memset(n->info, 0, sizeof(*n->info));
	n->hstart = n->hend = n->bend = pos;
	n->parent = parent;
	if (parent != NULL) {
		n->depth = parent->depth + 1;
		if (parent->last == NULL)
			parent->first = n;
		else
			parent->last->next = n;
		parent->last = n;
		parent->nchildren++;
	}
	p->nparts++;
	return n;
}

/* The boundary a line starting at pos opens, or NULL (longest match wins). */
static struct boundary *
boundary_at(struct parser *p, size_t pos, bool *epilogue_r)
{
	struct boundary	*best = NULL;
	const char	*s = p->d + pos + 2;
	size_t		 i, left;

	if (p->nb == 0 || p->len - pos < 2 || p->d[pos] != '-' ||
	    p->d[pos + 1] != '-')
		return NULL;
	left = p->len - pos - 2;
	for (i = p->nb; i-- > 0;) {
		if (p->stack[i].len <= left &&
		    memcmp(p->stack[i].s, s, p->stack[i].len) == 0 &&
		    (best == NULL || best->len < p->stack[i].len))
			best = &p->stack[i];
	}
	if (best != NULL)
		*epilogue_r = left >= best->len + 2 &&
		    memcmp(s + best->len, "--", 2) == 0;
	return best;
}

static size_t
line_end(const struct parser *p, size_t pos)
{
	const char	*nl = memchr(p->d + pos, '\n', p->len - pos);

	return nl == NULL ? p->len : (size_t)(nl - p->d) + 1;
}

static void
header_field(struct parser *p, struct node *n, size_t start, size_t end)
{
	struct mime_header_field	 f;
	const char			*colon;
	char				*type;

	colon = memchr(p->d + start, ':', end - start);
	if (colon == NULL)
		return;
	f.name = p->d + start;
	f.name_len = (size_t)(colon - f.name);
	while (f.name_len > 0 && (f.name[f.name_len - 1] == ' ' ||
	    f.name[f.name_len - 1] == '\t'))
		f.name_len--;
	f.value = colon + 1;
	while (f.value < p->d + end && (*f.value == ' ' || *f.value == '\t'))
		f.value++;
	f.value_len = (size_t)(p->d + end - f.value);
	/* "x\r\r\n": Dovecot drops one more CR than the line break's */
	if (f.value_len > 0 && f.value[f.value_len - 1] == '\r')
		f.value_len--;

	if (mime_header_is(&f, "MIME-Version")) {
		n->flags |= F_IS_MIME;
	} else if (mime_header_is(&f, "Content-Type") &&
	    !(n->flags & F_SEEN_CT)) {
		n->flags |= F_IS_MIME | F_SEEN_CT;
		mime_header_content_type(&f, p->pool, &type, &n->boundary);
		if (strcasecmp(type, "message/rfc822") == 0)
			n->flags |= F_RFC822;
		else if (strncasecmp(type, "text", 4) == 0 &&
		    (type[4] == '\0' || type[4] == '/'))
			n->flags |= F_TEXT;
		else if (strncasecmp(type, "multipart/", 10) == 0)
			n->flags |= F_MULTIPART |
			    (strcasecmp(type + 10, "digest") == 0 ? F_DIGEST : 0);
	}
	mime_header_content(p->pool, n->info, &f);
	if (n->parent == NULL || (n->parent->flags & F_RFC822))
		mime_envelope_field(p->pool, n->info->envelope, &f);
}

/*
 * The header of n from p->pos: up to and including the blank line, or up
 * to a boundary line of an enclosing part (returned; *line_r is where it
 * starts), or to the end of the data.
 */
static struct boundary *
parse_header(struct parser *p, struct node *n, size_t *line_r, bool *epi_r,
    bool *eoh_r)
{
	struct boundary	*b;
	size_t		 pos = p->pos, end, prev_nl = 0, fields = 0;

	*eoh_r = false;
	if (n->parent == NULL || (n->parent->flags & F_RFC822)) {
		n->info->envelope = mime_pool_alloc(p->pool,
		    sizeof(*n->info->envelope));
		memset(n->info->envelope, 0, sizeof(*n->info->envelope));
	}
	while (pos < p->len) {
		if ((b = boundary_at(p, pos, epi_r)) != NULL && b->owner != n) {
			n->hend = pos - prev_nl;
			*line_r = pos;
			p->pos = n->hend;
			return b;
		}
		if (p->d[pos] == '\n' || (p->d[pos] == '\r' &&
		    pos + 1 < p->len && p->d[pos + 1] == '\n')) {
			n->hend = pos + (p->d[pos] == '\r' ? 2 : 1);
			p->pos = n->hend;
			*eoh_r = true;
			return NULL;
		}
		/* one field: its first line and every continuation line */
		end = line_end(p, pos);
		while (end < p->len && (p->d[end] == ' ' || p->d[end] == '\t'))
			end = line_end(p, end);
		prev_nl = p->d[end - 1] != '\n' ? 0 :
		    end - pos >= 2 && p->d[end - 2] == '\r' ? 2 : 1;
		if (fields++ < MIME_MAX_HEADERS)
			header_field(p, n, pos, end - prev_nl);
		pos = end;
	}
	n->hend = p->pos = p->len;
	return NULL;
}

/* Dovecot's end-of-header rules: what the part is, and its defaults. */
static void
header_done(struct node *n)
{
	struct mime_envelope	*env = n->info->envelope;
	bool			 typed = (n->flags & F_SEEN_CT) != 0;

	if (!(n->flags & F_IS_MIME)) {
		n->flags = 0;
		n->boundary = NULL;
		memset(n->info, 0, sizeof(*n->info));
		n->info->envelope = env;
		typed = false;
	}
	if (!typed && !(n->flags & (F_MULTIPART | F_RFC822 | F_TEXT))) {
		if (n->parent != NULL && (n->parent->flags & F_DIGEST))
			n->flags |= F_RFC822;
		else
			n->flags |= F_TEXT;
	}
}

/* Too deep to nest: the part stays a leaf, shown as an opaque one. */
static void
demote(struct parser *p, struct node *n, unsigned flag)
{
	n->flags &= ~flag;
	n->info->type = mime_pool_strndup(p->pool, "application", 11);
	n->info->subtype = mime_pool_strndup(p->pool, "octet-stream", 12);
}

/* (the boundary stack holds one entry per level, so depth bounds it too) */
static bool
may_nest(const struct parser *p, const struct node *n)
{
	return n->depth + 1 < MIME_MAX_DEPTH && p->nparts < MIME_MAX_PARTS &&
	    p->nb < MIME_MAX_DEPTH;
}

/* Scan n's body from p->pos for a boundary line; NULL at the end of data. */
static struct boundary *
scan_body(struct parser *p, size_t *end_r, size_t *line_r, bool *epi_r)
{
	struct boundary	*b;
	size_t		 start = p->pos, pos = p->pos;

	if (p->nb == 0)
		return NULL;
	while (pos < p->len) {
		if ((b = boundary_at(p, pos, epi_r)) != NULL) {
			*line_r = pos;
			*end_r = pos;
			if (pos > start) {
				(*end_r)--;
				if (*end_r > start && p->d[*end_r - 1] == '\r')
					(*end_r)--;
			}
			return b;
		}
		pos = line_end(p, pos);
	}
	return NULL;
}

/*
 * A boundary line at `line` ends n at `end` and the parts between n and
 * the boundary's owner at `end_up` (the same place, except when the line
 * cut n's header short: then the line break before it went to n's parent);
 * the owner's body goes on through the boundary line.
 */
static struct node *
finish(struct parser *p, struct node *n, struct boundary *b, size_t end,
    size_t end_up, size_t line, bool epilogue)
{
	struct node	*owner = b->owner;

	if (n != owner) {
		n->bend = end;
		for (n = n->parent; n != owner; n = n->parent)
			n->bend = end_up;
	}
	/* inner boundaries are forgotten; "--b--" retires b itself */
	p->nb = (size_t)(b - p->stack) + (epilogue ? 0 : 1);
	p->pos = line_end(p, line);
	return owner;
}

static void
parse(struct parser *p, struct node *root)
{
	struct node	*n = root;
	struct boundary	*b;
	size_t		 line = 0, end = 0;
	bool		 epi = false, eoh, in_header = true;

	for (;;) {
		if (in_header) {
			b = parse_header(p, n, &line, &epi, &eoh);
			header_done(n);
			if (eoh && (n->flags & F_MULTIPART) && n->boundary != NULL) {
				if (may_nest(p, n)) {
					p->stack[p->nb].s = n->boundary;
					p->stack[p->nb].len = strlen(n->boundary);
					if (p->stack[p->nb].len > MIME_MAX_BOUNDARY)
						p->stack[p->nb].len = MIME_MAX_BOUNDARY;
					p->stack[p->nb++].owner = n;
				} else {
					demote(p, n, F_MULTIPART);
				}
			}
			if ((n->flags & F_RFC822) && !may_nest(p, n))
				demote(p, n, F_RFC822);
			if (b != NULL) {
				if (n->flags & F_RFC822)
					header_done(node_new(p, n, p->pos));
				n = finish(p, n, b, p->pos, line, line, epi);
			} else if (n->flags & F_RFC822) {
				n = node_new(p, n, p->pos);
				continue;
			} else {
				in_header = false;
				continue;
			}
		} else {
			b = scan_body(p, &end, &line, &epi);
			if (b == NULL)
				break;
			n = finish(p, n, b, end, end, line, epi);
		}
		/* after a boundary line: the next part, or the epilogue */
		if (p->nb > 0 && p->stack[p->nb - 1].owner == n &&
		    p->nparts < MIME_MAX_PARTS) {
			n = node_new(p, n, p->pos);
			n->flags |= F_IS_MIME;
			in_header = true;
		} else {
			in_header = false;
		}
	}
	for (; n != NULL; n = n->parent)
		n->bend = p->len;
}

/*
 * Line and missing-CR counts at every part edge, in one pass over the data
 * (counting per part would cost depth x size).
 */
struct edge {
	size_t	 off;
	size_t	 lf;		/* LFs before off */
	size_t	 bare_lf;	/* LFs before off without a CR before them */
};

static int
cmp_edge(const void *a, const void *b)
{
	const struct edge	*x = a, *y = b;

	return x->off < y->off ? -1 : x->off > y->off;
}

static void
collect_edges(const struct node *n, struct edge *e, size_t *ne)
{
	for (; n != NULL; n = n->next) {
		e[(*ne)++].off = n->hstart;
		e[(*ne)++].off = n->hend;
		e[(*ne)++].off = n->bend;
		collect_edges(n->first, e, ne);
	}
}

static void
count_edges(const char *d, struct edge *e, size_t ne)
{
	const char	*nl;
	size_t		 i = 0, k, lf = 0, bare = 0;

	qsort(e, ne, sizeof(*e), cmp_edge);
	for (k = 0; k < ne; k++) {
		/* the LFs before this edge, found with memchr (a byte loop was 16 instructions a byte) */
		while (i < e[k].off && (nl = memchr(d + i, '\n', e[k].off - i)) != NULL) {
			i = (size_t)(nl - d);
			lf++;
			if (i == 0 || d[i - 1] != '\r')
				bare++;
			i++;
		}
		i = e[k].off;
		e[k].lf = lf;
		e[k].bare_lf = bare;
	}
}

static const struct edge *
edge_at(const struct edge *e, size_t ne, size_t off)
{
	struct edge	 key;

	key.off = off;
	return bsearch(&key, e, ne, sizeof(*e), cmp_edge);
}

static void
to_part(const struct node *n, struct mime_part *m, const struct edge *e,
    size_t ne, struct mime_pool *pool)
{
	const struct edge	*hs, *he, *be;
	const struct node	*c;
	size_t			 i;

	hs = edge_at(e, ne, n->hstart);
	he = edge_at(e, ne, n->hend);
	be = edge_at(e, ne, n->bend);
	m->header_offset = n->hstart;
	m->header_size = n->hend - n->hstart;
	m->body_offset = n->hend;
	m->body_size = n->bend - n->hend;
	m->header_vsize = m->header_size + (he->bare_lf - hs->bare_lf);
	m->body_vsize = m->body_size + (be->bare_lf - he->bare_lf);
	m->lines = (unsigned)(be->lf - he->lf);
	m->flags = n->flags & F_PUBLIC;
	m->info = n->info;
	m->nchildren = n->nchildren;
	m->children = NULL;
	if (n->nchildren == 0)
		return;
	m->children = mime_pool_alloc(pool, n->nchildren * sizeof(*m->children));
	for (c = n->first, i = 0; c != NULL; c = c->next, i++)
		to_part(c, &m->children[i], e, ne, pool);
}

/* One output string, bounded; a structure too big to print becomes NIL. */
static char *
render(struct mime_message *m, size_t len, int what)
{
	struct buf	 out;
	char		*s;
	int		 ret;

	buf_init(&out, size_add(size_mul(len, 64), 1 << 20));
	if (what == 0)
		ret = mime_envelope_write(&out, m->root.info->envelope);
	else
		ret = mime_bodystructure_write_message(&out, &m->root,
		    what == 2);
	s = ret == 0 ? mime_pool_buf(m->pool, &out) :
	    mime_pool_strndup(m->pool, "NIL", 3);
	buf_release(&out);
	return s;
}

struct mime_message *
mime_parse(const char *data, size_t len)
{
	struct mime_message	*m;
	struct parser		 p;
	struct node		*root;
	struct edge		*e;
	size_t			 ne = 0;

	m = xcalloc(1, sizeof(*m));
	m->pool = mime_pool_new();
	memset(&p, 0, sizeof(p));
	p.d = data;
	p.len = len;
	p.pool = m->pool;
	root = node_new(&p, NULL, 0);
	parse(&p, root);

	e = xreallocarray(NULL, size_mul(p.nparts, 3), sizeof(*e));
	collect_edges(root, e, &ne);
	count_edges(data, e, ne);
	to_part(root, &m->root, e, ne, m->pool);
	free(e);

	m->envelope = render(m, len, 0);
	m->body = render(m, len, 1);
	m->bodystructure = render(m, len, 2);
	return m;
}

void
mime_message_free(struct mime_message **m)
{
	if (*m == NULL)
		return;
	mime_pool_free(&(*m)->pool);
	free(*m);
	*m = NULL;
}

const struct mime_part *
mime_part_find(const struct mime_message *m, const char *section)
{
	const struct mime_part	*part = &m->root;
	unsigned long		 n;
	char			*end;

	while (*section != '\0') {
		if (*section < '1' || *section > '9')
			return NULL;
		n = strtoul(section, &end, 10);
		if (part->flags & MIME_PART_MULTIPART) {
			if (n > part->nchildren)
				return NULL;
			part = &part->children[n - 1];
		} else if (n != 1 || (*end == '.' && !(part->flags & MIME_PART_RFC822))) {
			/* a leaf is its own part 1, and only a message has parts inside */
			return NULL;
		}
		if (*end == '.')
			end++;
		else if (*end != '\0')
			return NULL;
		section = end;
		/* numbers after a message/rfc822 part are its message's */
		if (*section != '\0' && (part->flags & MIME_PART_RFC822) &&
		    part->nchildren == 1)
			part = &part->children[0];
	}
	return part;
}
