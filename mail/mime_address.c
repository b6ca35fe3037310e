/*
 * RFC 5322 address lists for ENVELOPE, read like Dovecot's (2.3)
 * message_address_parse() with "fill missing": a group is a start entry
 * (mailbox = group name, no domain) and an end entry (all NIL); a broken
 * address still yields an entry, with MISSING_MAILBOX / MISSING_DOMAIN or
 * SYNTAX_ERROR in place of what could not be read; a comment after a bare
 * addr-spec becomes the display name.  Encoded words stay encoded.
 *
 * mime_header_mailboxes() reads the same way for smtpd's From: policy,
 * but says when a field held something that is not an address list, so a
 * check never passes on what this lenient reading skipped.
 */
#include "mail/mime_private.h"

#include "lib/xmalloc.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct addr_ctx {
	struct rfc822_parser	 p;
	struct mime_pool	*pool;
	struct buf		 str;
	struct buf		 comment;
	struct mime_address	 addr;		/* being built */
	struct mime_address	*first, *last;
	size_t			 count;
};

static char *
take(struct addr_ctx *c, struct buf *b)
{
	return mime_pool_buf(c->pool, b);
}

static void
add_address(struct addr_ctx *c)
{
	struct mime_address	*a;

	a = mime_pool_alloc(c->pool, sizeof(*a));
	*a = c->addr;
	a->next = NULL;
	memset(&c->addr, 0, sizeof(c->addr));
	if (c->last == NULL)
		c->first = a;
	else
		c->last->next = a;
	c->last = a;
	c->count++;
}

static int
parse_local_part(struct addr_ctx *c)
{
	int	 ret;

	buf_reset(&c->str);
	if (*c->p.data == '"')
		ret = rfc822_parse_quoted_string(&c->p, &c->str);
	else
		ret = rfc822_parse_dot_atom(&c->p, &c->str);
	if (ret < 0)
		return -1;
	c->addr.mailbox = take(c, &c->str);
	return ret;
}

static int
parse_domain(struct addr_ctx *c)
{
	int	 ret;

	buf_reset(&c->str);
	if ((ret = rfc822_parse_domain(&c->p, &c->str)) < 0)
		return -1;
	c->addr.domain = take(c, &c->str);
	return ret;
}

/* obs-route: "@a,@b:" before the local part */
static int
parse_domain_list(struct addr_ctx *c)
{
	int	 ret;

	buf_reset(&c->str);
	for (;;) {
		if (c->p.data >= c->p.end)
			return 0;
		if (*c->p.data != '@')
			break;
		if (buf_len(&c->str) > 0)
			buf_append(&c->str, ",", 1);
		buf_append(&c->str, "@", 1);
		if ((ret = rfc822_parse_domain(&c->p, &c->str)) <= 0)
			return ret;
		while (rfc822_skip_lwsp(&c->p) > 0 && *c->p.data == ',')
			c->p.data++;
	}
	c->addr.route = take(c, &c->str);
	return 1;
}

static int
parse_angle_addr(struct addr_ctx *c)
{
	c->p.data++;	/* "<" */
	if (rfc822_skip_lwsp(&c->p) <= 0)
		return -1;
	if (*c->p.data == '@') {
		if (parse_domain_list(c) > 0 && *c->p.data == ':') {
			c->p.data++;
		} else {
			c->addr.route = mime_pool_strndup(c->pool,
			    "INVALID_ROUTE", 13);
			if (c->p.data >= c->p.end)
				return -1;
		}
		if (rfc822_skip_lwsp(&c->p) <= 0)
			return -1;
	}
	if (*c->p.data != '>') {
		if (parse_local_part(c) <= 0)
			return -1;
		if (*c->p.data == '@' && parse_domain(c) <= 0)
			return -1;
	}
	if (*c->p.data != '>')
		return -1;
	c->p.data++;
	return rfc822_skip_lwsp(&c->p);
}

static int
parse_name_addr(struct addr_ctx *c)
{
	buf_reset(&c->str);
	if (*c->p.data != '<') {
		/* "<addr>" alone has no display name */
		if (rfc822_parse_phrase(&c->p, &c->str) <= 0 ||
		    *c->p.data != '<')
			return -1;
		c->addr.name = buf_len(&c->str) == 0 ? NULL : take(c, &c->str);
	}
	if (parse_angle_addr(c) < 0)
		c->addr.domain = mime_pool_strndup(c->pool, "SYNTAX_ERROR", 12);
	return c->p.data < c->p.end ? 1 : 0;
}

static int
parse_addr_spec(struct addr_ctx *c)
{
	size_t	 before;
	bool	 had_domain = false;
	int	 ret, ret2;

	buf_reset(&c->comment);
	ret = parse_local_part(c);
	if (ret != 0 && c->p.data < c->p.end && *c->p.data == '@') {
		had_domain = true;
		if ((ret2 = parse_domain(c)) <= 0)
			ret = ret2;
	}
	if (buf_len(&c->comment) > 0) {
		c->addr.name = take(c, &c->comment);
	} else if (!had_domain) {
		/* "user" alone is a mailbox; "user more words" a name */
		buf_append(&c->str, " ", 1);
		before = buf_len(&c->str);
		(void)rfc822_parse_phrase(&c->p, &c->str);
		if (buf_len(&c->str) != before) {
			c->addr.mailbox = NULL;
			c->addr.name = take(c, &c->str);
		}
		ret = -1;
	}
	return ret;
}

static int
parse_mailbox(struct addr_ctx *c)
{
	const unsigned char	*start = c->p.data;
	int			 ret;

	if ((ret = parse_name_addr(c)) < 0) {
		c->p.data = start;
		memset(&c->addr, 0, sizeof(c->addr));
		ret = parse_addr_spec(c);
	}
	if (c->addr.mailbox == NULL)
		c->addr.mailbox = mime_pool_strndup(c->pool,
		    "MISSING_MAILBOX", 15);
	if (c->addr.domain == NULL)
		c->addr.domain = mime_pool_strndup(c->pool,
		    "MISSING_DOMAIN", 14);
	add_address(c);
	return ret;
}

static int
parse_group(struct addr_ctx *c)
{
	int	 ret;

	buf_reset(&c->str);
	if (rfc822_parse_phrase(&c->p, &c->str) <= 0 || *c->p.data != ':')
		return -1;
	/* from here on it is a group, whatever follows */
	c->p.data++;
	ret = rfc822_skip_lwsp(&c->p);
	c->addr.mailbox = take(c, &c->str);
	add_address(c);
	if (ret > 0 && *c->p.data != ';') {
		while (c->count < MIME_MAX_ADDRESSES) {
			if (parse_mailbox(c) <= 0) {
				ret = -1;
				break;
			}
			if (c->p.data >= c->p.end) {
				ret = 0;
				break;
			}
			if (*c->p.data != ',')
				break;
			c->p.data++;
			if (rfc822_skip_lwsp(&c->p) <= 0) {
				ret = -1;
				break;
			}
		}
	}
	if (ret >= 0) {
		if (c->p.data >= c->p.end || *c->p.data != ';') {
			ret = -1;
		} else {
			c->p.data++;
			ret = rfc822_skip_lwsp(&c->p);
		}
	}
	add_address(c);		/* the group's end marker */
	return ret == 0 ? 0 : 1;
}

static int
parse_address(struct addr_ctx *c)
{
	const unsigned char	*start = c->p.data;
	int			 ret;

	if ((ret = parse_group(c)) < 0) {
		c->p.data = start;
		memset(&c->addr, 0, sizeof(c->addr));
		ret = parse_mailbox(c);
	}
	return ret;
}

/* *complete_r: the whole value was read as addresses (nothing skipped or cut). */
static struct mime_address *
address_list(struct mime_pool *pool, const char *value, size_t len, bool *complete_r)
{
	struct addr_ctx	 c;

	memset(&c, 0, sizeof(c));
	c.pool = pool;
	mime_buf_init(&c.str, len);
	mime_buf_init(&c.comment, len);
	rfc822_parser_init(&c.p, value, len, &c.comment);
	if (rfc822_skip_lwsp(&c.p) > 0) {
		while (c.count < MIME_MAX_ADDRESSES) {
			if (parse_address(&c) == 0)
				break;
			if (c.p.data >= c.p.end || *c.p.data != ',')
				break;
			c.p.data++;
			if (rfc822_skip_lwsp(&c.p) <= 0)
				break;
		}
	}
	*complete_r = c.p.data >= c.p.end && c.count < MIME_MAX_ADDRESSES;
	buf_release(&c.str);
	buf_release(&c.comment);
	return c.first;
}

struct mime_address *
mime_address_parse(struct mime_pool *pool, const char *value, size_t len)
{
	bool	 complete;

	return address_list(pool, value, len, &complete);
}

/* One field's mailboxes to fn; a part that is not an address goes as NULL. */
static int
field_mailboxes(const char *value, size_t len, mime_mailbox_fn *fn, void *ctx)
{
	struct mime_pool		*pool = mime_pool_new();
	struct mime_header_field	 f = { .value = value, .value_len = len };
	struct mime_address		*a;
	char				*v, *addr;
	bool				 complete;
	int				 ret = 0;

	/* NULs become U+FFFD first: a C string must not end early. */
	v = mime_header_value(pool, &f);
	for (a = address_list(pool, v, strlen(v), &complete); a != NULL && ret == 0;
	    a = a->next) {
		if (a->domain == NULL)
			continue;	/* a group's name or its end */
		if (strcmp(a->mailbox, "MISSING_MAILBOX") == 0)
			addr = xstrdup("");
		else if (strcmp(a->domain, "MISSING_DOMAIN") == 0 ||
		    strcmp(a->domain, "SYNTAX_ERROR") == 0)
			addr = xstrdup(a->mailbox);
		else
			addr = xasprintf("%s@%s", a->mailbox, a->domain);
		ret = fn(ctx, addr);
		free(addr);
	}
	if (ret == 0 && !complete)
		ret = fn(ctx, NULL);
	mime_pool_free(&pool);
	return ret;
}

/* Where the field starting at pos ends: after its last continuation line. */
static size_t
field_end(const char *h, size_t len, size_t pos)
{
	const char	*nl;

	do {
		nl = memchr(h + pos, '\n', len - pos);
		pos = nl == NULL ? len : (size_t)(nl - h) + 1;
	} while (pos < len && (h[pos] == ' ' || h[pos] == '\t'));
	return pos;
}

int
mime_header_mailboxes(const char *header, size_t len, const char *name, mime_mailbox_fn *fn,
    void *ctx)
{
	size_t	 pos = 0, end, p, nlen = strlen(name);

	while (pos < len && header[pos] != '\n' &&
	    !(header[pos] == '\r' && pos + 1 < len && header[pos + 1] == '\n')) {
		end = field_end(header, len, pos);
		p = pos + nlen;
		if (end - pos > nlen && strncasecmp(header + pos, name, nlen) == 0) {
			while (p < end && (header[p] == ' ' || header[p] == '\t'))
				p++;
			if (p < end && header[p] == ':' &&
			    field_mailboxes(header + p + 1, end - p - 1, fn, ctx) == -1)
				return -1;
		}
		pos = end;
	}
	return 0;
}
