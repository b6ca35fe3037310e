/*
 * Content-* header fields: type and parameters (with RFC 2231 continuations
 * merged the way Dovecot merges them: "name*0*" pieces become one "name*"
 * parameter whose value stays percent-encoded, as BODYSTRUCTURE shows it),
 * disposition, language, and the fields kept verbatim.
 */
#include "mail/mime_private.h"

#include "lib/xmalloc.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

bool
mime_header_is(const struct mime_header_field *f, const char *name)
{
	return strlen(name) == f->name_len &&
	    strncasecmp(f->name, name, f->name_len) == 0;
}

char *
mime_header_value(struct mime_pool *pool, const struct mime_header_field *f)
{
	char	*s;
	size_t	 i, n = 0;

	/* a NUL becomes U+FFFD, as Dovecot does it */
	s = mime_pool_alloc(pool, size_add(size_mul(f->value_len, 3), 1));
	for (i = 0; i < f->value_len; i++) {
		if (f->value[i] != '\0') {
			s[n++] = f->value[i];
		} else {
			memcpy(s + n, "\xef\xbf\xbd", 3);
			n += 3;
		}
	}
	s[n] = '\0';
	return s;
}

/* One ";name=value"; -1 if broken (the caller skips a byte and retries). */
static int
parse_param(struct rfc822_parser *p, struct buf *key, struct buf *value)
{
	int	 ret;

	buf_reset(key);
	buf_reset(value);
	if (p->data >= p->end)
		return 0;
	if (*p->data != ';')
		return -1;
	p->data++;
	if (rfc822_skip_lwsp(p) <= 0)
		return -1;
	if (rfc822_parse_mime_token(p, key) <= 0)
		return -1;
	if (*p->data != '=')
		return -1;
	p->data++;
	if ((ret = rfc822_skip_lwsp(p)) <= 0) {
		/* "name=" with nothing after it: an empty value */
	} else if (*p->data == '"') {
		ret = rfc822_parse_quoted_string(p, value);
	} else if (*p->data == '=') {
		/* name==?utf-8?b?...?= from broken mailers: take it raw */
		while (p->data < p->end && *p->data != ';' && *p->data != ' ' &&
		    *p->data != '\t' && *p->data != '\r' && *p->data != '\n')
			buf_append(value, p->data++, 1);
	} else {
		ret = rfc822_parse_mime_token(p, value);
	}
	return ret < 0 ? -1 : 1;
}

struct param_2231 {
	char		*key;		/* without the "*n*" suffix */
	char		*value;
	unsigned	 idx;
	bool		 extended;	/* "*" after the index: value is encoded */
};

static int
cmp_2231(const void *a, const void *b)
{
	const struct param_2231	*x = a, *y = b;
	int			 c;

	if ((c = strcasecmp(x->key, y->key)) != 0)
		return c;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/*
 * Splits "name*12*" into name, 12, extended; false if not of that form.
 * As in Dovecot, "name*" is extended with the index of the previous piece
 * (0 unless continuations came before it).
 */
static bool
split_2231(const char *key, struct param_2231 *r, unsigned *last_idx)
{
	const char	*star = strchr(key, '*'), *s;
	unsigned	 idx = 0;

	if (star == NULL)
		return false;
	if (star[1] == '\0') {
		r->extended = true;
		r->idx = *last_idx;
		return true;
	}
	for (s = star + 1; *s >= '0' && *s <= '9'; s++)
		idx = idx < 100000 ? idx * 10 + (unsigned)(*s - '0') : idx;
	*last_idx = idx;
	r->extended = *s == '*';
	if (r->extended)
		s++;
	if (*s != '\0')
		return false;
	r->idx = idx;
	return true;
}

static void
add_param(struct mime_param **v, size_t *n, struct mime_pool *pool,
    const char *name, const char *value)
{
	*v = xreallocarray(*v, *n + 1, sizeof(**v));
	(*v)[*n].name = mime_pool_strndup(pool, name, strlen(name));
	(*v)[*n].value = mime_pool_strndup(pool, value, strlen(value));
	(*n)++;
}

/*
 * A plain continuation joined to encoded ones: Dovecot escapes only "%"
 * (so the value is not valid RFC 2231, but it is what clients see).
 */
static void
escape_2231(struct buf *out, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '%')
			buf_puts(out, "%25");
		else
			buf_append(out, s, 1);
	}
}

/* Merge sorted RFC 2231 pieces; a run with a missing index stays split. */
static void
merge_2231(struct param_2231 *v, size_t n, struct mime_pool *pool,
    struct mime_param **out, size_t *nout, size_t input_len)
{
	struct buf	 s;
	size_t		 i, j, next;
	bool		 ok, ext;
	char		*key;

	qsort(v, n, sizeof(*v), cmp_2231);
	mime_buf_init(&s, input_len);
	for (i = 0; i < n; i = next) {
		ok = true;
		ext = false;
		for (j = i; j < n && strcasecmp(v[i].key, v[j].key) == 0; j++) {
			if (v[j].idx != j - i)
				ok = false;
			ext = ext || v[j].extended;
		}
		next = j;
		buf_reset(&s);
		if (!ok) {
			for (j = i; j < next; j++) {
				key = xasprintf(v[j].extended ? "%s*%u*" : "%s*%u",
				    v[j].key, v[j].idx);
				add_param(out, nout, pool, key, v[j].value);
				free(key);
			}
			continue;
		}
		if (!v[i].extended && ext)
			buf_puts(&s, "''");
		for (j = i; j < next; j++) {
			if (!v[j].extended && ext)
				escape_2231(&s, v[j].value);
			else
				buf_puts(&s, v[j].value);
		}
		buf_append(&s, "", 1);
		key = xasprintf(ext ? "%s*" : "%s", v[i].key);
		add_param(out, nout, pool, key, buf_head(&s));
		free(key);
	}
	buf_release(&s);
}

size_t
rfc822_parse_params(struct rfc822_parser *p, struct mime_pool *pool,
    struct mime_param **params_r)
{
	struct param_2231	*v = NULL, r;
	struct mime_param	*out = NULL;
	struct buf		 key, value;
	size_t			 n = 0, nout = 0, count = 0;
	size_t			 input_len = (size_t)(p->end - p->data);
	unsigned		 last_idx = 0;
	char			*k, *val;
	int			 ret;

	mime_buf_init(&key, input_len);
	mime_buf_init(&value, input_len);
	while ((ret = parse_param(p, &key, &value)) != 0 &&
	    count++ < MIME_MAX_PARAMS) {
		if (ret < 0) {
			/* broken: skip a byte and look for the next ";" */
			if (p->data >= p->end)
				break;
			p->data++;
			continue;
		}
		buf_append(&key, "", 1);
		buf_append(&value, "", 1);
		k = (char *)buf_head(&key);
		val = (char *)buf_head(&value);
		if (split_2231(k, &r, &last_idx)) {
			v = xreallocarray(v, n + 1, sizeof(*v));
			v[n].key = xstrndup(k, (size_t)(strchr(k, '*') - k));
			v[n].value = xstrdup(val);
			v[n].idx = r.idx;
			v[n].extended = r.extended;
			n++;
		} else {
			add_param(&out, &nout, pool, k, val);
		}
	}
	if (n > 0)
		merge_2231(v, n, pool, &out, &nout, input_len);
	while (n > 0) {
		n--;
		free(v[n].key);
		free(v[n].value);
	}
	free(v);
	buf_release(&key);
	buf_release(&value);
	*params_r = NULL;
	if (nout > 0) {
		*params_r = mime_pool_alloc(pool, nout * sizeof(*out));
		memcpy(*params_r, out, nout * sizeof(*out));
	}
	free(out);
	return nout;
}

/* Parse value from past its leading white space, with a token buffer sized for it. */
static void
value_begin(struct rfc822_parser *p, struct buf *tok, const char *value)
{
	mime_buf_init(tok, strlen(value));
	rfc822_parser_init(p, value, strlen(value), NULL);
	rfc822_skip_lwsp(p);
}

/* Splits "type/subtype" (already in buf) into pool strings. */
static void
split_type(struct mime_pool *pool, const struct buf *ct, char **type_r,
    char **subtype_r)
{
	const char	*s = buf_head(ct), *slash;
	size_t		 len = buf_len(ct);

	slash = len > 0 ? memchr(s, '/', len) : NULL;
	if (slash == NULL) {
		/* "Content-Type: text": a type with an empty subtype */
		*type_r = mime_pool_strndup(pool, s, len);
		*subtype_r = mime_pool_strndup(pool, "", 0);
		return;
	}
	*type_r = mime_pool_strndup(pool, s, (size_t)(slash - s));
	*subtype_r = mime_pool_strndup(pool, slash + 1,
	    len - (size_t)(slash - s) - 1);
}

static void
parse_content_type(struct mime_pool *pool, struct mime_part_info *info,
    const char *value)
{
	struct rfc822_parser	 p;
	struct buf		 ct;
	int			 ret;

	value_begin(&p, &ct, value);
	ret = rfc822_parse_content_type(&p, &ct);
	split_type(pool, &ct, &info->type, &info->subtype);
	buf_release(&ct);
	if (ret < 0)
		return;		/* broken: keep what we got, no parameters */
	info->nparams = rfc822_parse_params(&p, pool, &info->params);
}

static void
parse_disposition(struct mime_pool *pool, struct mime_part_info *info,
    const char *value)
{
	struct rfc822_parser	 p;
	struct buf		 tok;

	value_begin(&p, &tok, value);
	if (rfc822_parse_mime_token(&p, &tok) >= 0) {
		info->disposition = mime_pool_buf(pool, &tok);
		info->ndisp_params = rfc822_parse_params(&p, pool,
		    &info->disp_params);
	}
	buf_release(&tok);
}

/* Content-Language: en-US, az-arabic (comments allowed) */
static void
parse_language(struct mime_pool *pool, struct mime_part_info *info,
    const char *value)
{
	struct rfc822_parser	 p;
	struct buf		 tok;
	char			*langs[MIME_MAX_LANGUAGES];
	size_t			 n = 0;

	value_begin(&p, &tok, value);
	if (rfc822_parse_atom(&p, &tok) >= 0) {
		langs[n++] = mime_pool_buf(pool, &tok);
		while (n < MIME_MAX_LANGUAGES && p.data < p.end &&
		    *p.data == ',') {
			p.data++;
			rfc822_skip_lwsp(&p);
			buf_reset(&tok);
			if (rfc822_parse_atom(&p, &tok) < 0)
				break;
			langs[n++] = mime_pool_buf(pool, &tok);
		}
	}
	buf_release(&tok);
	if (n == 0)
		return;
	info->language = mime_pool_alloc(pool, n * sizeof(*langs));
	memcpy(info->language, langs, n * sizeof(*langs));
	info->nlanguage = n;
}

static void
parse_encoding(struct mime_pool *pool, struct mime_part_info *info,
    const char *value)
{
	struct rfc822_parser	 p;
	struct buf		 tok;

	value_begin(&p, &tok, value);
	if (rfc822_parse_mime_token(&p, &tok) >= 0 && buf_len(&tok) > 0)
		info->encoding = mime_pool_buf(pool, &tok);
	buf_release(&tok);
}

void
mime_header_content(struct mime_pool *pool, struct mime_part_info *info,
    const struct mime_header_field *f)
{
	static const char	*const verbatim[] = {
		"Content-ID", "Content-Description", "Content-MD5",
		"Content-Location",
	};
	char			**slot[4];
	size_t			 i;

	if (f->name_len < 8 || strncasecmp(f->name, "Content-", 8) != 0)
		return;
	slot[0] = &info->id;
	slot[1] = &info->description;
	slot[2] = &info->md5;
	slot[3] = &info->location;
	for (i = 0; i < 4; i++) {
		if (mime_header_is(f, verbatim[i])) {
			if (*slot[i] == NULL)
				*slot[i] = mime_header_value(pool, f);
			return;
		}
	}
	if (mime_header_is(f, "Content-Type") && info->type == NULL)
		parse_content_type(pool, info, mime_header_value(pool, f));
	else if (mime_header_is(f, "Content-Transfer-Encoding") &&
	    info->encoding == NULL)
		parse_encoding(pool, info, mime_header_value(pool, f));
	else if (mime_header_is(f, "Content-Disposition") &&
	    info->disp_params == NULL)
		parse_disposition(pool, info, mime_header_value(pool, f));
	else if (mime_header_is(f, "Content-Language") &&
	    info->language == NULL)
		parse_language(pool, info, mime_header_value(pool, f));
}

void
mime_header_content_type(const struct mime_header_field *f,
    struct mime_pool *pool, char **type_r, char **boundary_r)
{
	struct rfc822_parser	 p;
	struct mime_param	*params;
	struct buf		 ct;
	const char		*value = mime_header_value(pool, f);
	size_t			 i, n;
	int			 ret;

	*boundary_r = NULL;
	value_begin(&p, &ct, value);
	ret = rfc822_parse_content_type(&p, &ct);
	*type_r = mime_pool_buf(pool, &ct);
	buf_release(&ct);
	if (ret < 0 || strncasecmp(*type_r, "multipart/", 10) != 0)
		return;
	n = rfc822_parse_params(&p, pool, &params);
	for (i = 0; i < n; i++) {
		if (strcasecmp(params[i].name, "boundary") == 0) {
			*boundary_r = params[i].value;
			break;
		}
	}
}
