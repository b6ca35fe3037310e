/*
 * RFC 5322 address lists for ENVELOPE, read like Dovecot's (2.3)
 * message_address_parse() with "fill missing": a group is a start entry
 * (mailbox = group name, no domain) and an end entry (all NIL); a broken
 * address still yields an entry, with MISSING_MAILBOX / MISSING_DOMAIN or
 * SYNTAX_ERROR in place of what could not be read; a comment after a bare
 * addr-spec becomes the display name.  Encoded words stay encoded.
 */
#include "spool/mime_private.h"

#include "lib/xmalloc.h"

#include <string.h>

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

struct mime_address *
mime_address_parse(struct mime_pool *pool, const char *value, size_t len)
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
	buf_release(&c.str);
	buf_release(&c.comment);
	return c.first;
}
