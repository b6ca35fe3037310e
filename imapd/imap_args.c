/*
 * The building blocks of the argument grammar (imap_args.h), each a small
 * total function over the next token.
 */
#include "imapd/imap_args.h"

#include <string.h>
#include <strings.h>

static const char	*months[] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
};

int
imap_args_fail(struct imap_args *a, const char *error)
{
	a->error = error;
	return -1;
}

void *
imap_args_alloc(struct imap_args *a, size_t size)
{
	return a->alloc(a->ctx, size);
}

static const struct imap_token *
peek(const struct imap_args *a)
{
	return a->i < a->n ? &a->t[a->i] : NULL;
}

bool
imap_args_at_end(const struct imap_args *a)
{
	const struct imap_token	*t = peek(a);

	return t == NULL || t->type == IMAP_TOKEN_CLOSE;
}

int
imap_args_end(struct imap_args *a)
{
	return a->i == a->n ? 0 : imap_args_fail(a, "unexpected extra arguments");
}

bool
imap_args_peek_open(const struct imap_args *a)
{
	const struct imap_token	*t = peek(a);

	return t != NULL && t->type == IMAP_TOKEN_OPEN;
}

int
imap_args_open(struct imap_args *a)
{
	if (!imap_args_peek_open(a))
		return imap_args_fail(a, "expected a parenthesised list");
	a->i++;
	return 0;
}

int
imap_args_close(struct imap_args *a)
{
	const struct imap_token	*t = peek(a);

	if (t == NULL || t->type != IMAP_TOKEN_CLOSE)
		return imap_args_fail(a, "expected ')'");
	a->i++;
	return 0;
}

/* ATOM-CHAR: CHAR but atom-specials (RFC 3501 section 9), plus extra. */
bool
imap_is_atom(const char *s, size_t len, const char *extra)
{
	size_t	 i;

	if (len == 0)
		return false;
	for (i = 0; i < len; i++) {
		unsigned char	 c = (unsigned char)s[i];

		if (c <= 0x20 || c >= 0x7f)
			return false;
		if (strchr("(){%*\"\\]", c) != NULL && (extra == NULL || strchr(extra, c) == NULL))
			return false;
	}
	return true;
}

int
imap_args_atom(struct imap_args *a, const char **s_r)
{
	const struct imap_token	*t = peek(a);

	if (t == NULL || t->type != IMAP_TOKEN_ATOM || !imap_is_atom(t->text, t->len, NULL))
		return imap_args_fail(a, "expected an atom");
	*s_r = t->text;
	a->i++;
	return 0;
}

bool
imap_args_keyword(struct imap_args *a, const char *word)
{
	const struct imap_token	*t = peek(a);

	if (t == NULL || t->type != IMAP_TOKEN_ATOM || strcasecmp(t->text, word) != 0)
		return false;
	a->i++;
	return true;
}

int
imap_args_string(struct imap_args *a, const char **s_r)
{
	const struct imap_token	*t = peek(a);

	if (t == NULL || (t->type != IMAP_TOKEN_QUOTED && t->type != IMAP_TOKEN_LITERAL))
		return imap_args_fail(a, "expected a string");
	*s_r = t->text;
	a->i++;
	return 0;
}

int
imap_args_astring(struct imap_args *a, const char **s_r)
{
	const struct imap_token	*t = peek(a);

	if (t != NULL && t->type == IMAP_TOKEN_ATOM) {
		if (!imap_is_atom(t->text, t->len, "]"))
			return imap_args_fail(a, "invalid characters in atom");
		*s_r = t->text;
		a->i++;
		return 0;
	}
	return imap_args_string(a, s_r) == 0 ? 0 : imap_args_fail(a, "expected an astring");
}

int
imap_args_nstring(struct imap_args *a, const char **s_r)
{
	if (imap_args_keyword(a, "NIL")) {
		*s_r = NULL;
		return 0;
	}
	return imap_args_string(a, s_r) == 0 ? 0 : imap_args_fail(a, "expected a string or NIL");
}

int
imap_args_mailbox(struct imap_args *a, const char **s_r)
{
	if (imap_args_astring(a, s_r) == -1)
		return imap_args_fail(a, "expected a mailbox name");
	if (strcasecmp(*s_r, "INBOX") == 0)
		*s_r = "INBOX";
	return 0;
}

int
imap_args_list_mailbox(struct imap_args *a, const char **s_r)
{
	const struct imap_token	*t = peek(a);

	if (t != NULL && t->type == IMAP_TOKEN_ATOM) {
		if (!imap_is_atom(t->text, t->len, "]%*"))
			return imap_args_fail(a, "invalid characters in mailbox pattern");
		*s_r = t->text;
		a->i++;
		return 0;
	}
	return imap_args_string(a, s_r) == 0 ? 0 : imap_args_fail(a, "expected a mailbox pattern");
}

int
imap_parse_number64(const char *s, size_t len, uint64_t *n_r)
{
	uint64_t	 n = 0;
	size_t		 i;

	if (len == 0)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (n > (INT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return -1;
		n = n * 10 + (uint64_t)(s[i] - '0');
	}
	*n_r = n;
	return 0;
}

int
imap_parse_number(const char *s, size_t len, uint32_t *n_r)
{
	uint64_t	 n;

	if (imap_parse_number64(s, len, &n) == -1 || n > UINT32_MAX)
		return -1;
	*n_r = (uint32_t)n;
	return 0;
}

int
imap_parse_nz_number(const char *s, size_t len, uint32_t *n_r)
{
	if (len == 0 || s[0] == '0')
		return -1;
	return imap_parse_number(s, len, n_r);
}

static const struct imap_token *
atom_token(struct imap_args *a)
{
	const struct imap_token	*t = peek(a);

	return t != NULL && t->type == IMAP_TOKEN_ATOM ? t : NULL;
}

int
imap_args_number(struct imap_args *a, uint32_t *n_r)
{
	const struct imap_token	*t = atom_token(a);

	if (t == NULL || imap_parse_number(t->text, t->len, n_r) == -1)
		return imap_args_fail(a, "expected a number");
	a->i++;
	return 0;
}

int
imap_args_nz_number(struct imap_args *a, uint32_t *n_r)
{
	const struct imap_token	*t = atom_token(a);

	if (t == NULL || imap_parse_nz_number(t->text, t->len, n_r) == -1)
		return imap_args_fail(a, "expected a non-zero number");
	a->i++;
	return 0;
}

int
imap_args_number64(struct imap_args *a, uint64_t *n_r)
{
	const struct imap_token	*t = atom_token(a);

	if (t == NULL || imap_parse_number64(t->text, t->len, n_r) == -1)
		return imap_args_fail(a, "expected a number");
	a->i++;
	return 0;
}

/* flag: \Answered ... \Draft, \extension, or a keyword atom. */
int
imap_args_flag(struct imap_args *a, const char **s_r)
{
	const struct imap_token	*t = atom_token(a);

	if (t == NULL)
		return imap_args_fail(a, "expected a flag");
	if (t->text[0] == '\\' ? !imap_is_atom(t->text + 1, t->len - 1, NULL)
	    : !imap_is_atom(t->text, t->len, NULL))
		return imap_args_fail(a, "invalid flag");
	*s_r = t->text;
	a->i++;
	return 0;
}

/* Room for n more strings in list (grown by doubling from the command's memory). */
static void
strings_grow(struct imap_args *a, struct imap_strings *list)
{
	const char	**v;

	if (list->n == 0 || (list->n & (list->n - 1)) != 0)
		return;
	v = imap_args_alloc(a, 2 * list->n * sizeof(*v));
	memcpy(v, list->v, list->n * sizeof(*v));
	list->v = v;
}

static void
strings_add(struct imap_args *a, struct imap_strings *list, const char *s)
{
	if (list->n == 0)
		list->v = imap_args_alloc(a, sizeof(*list->v));
	else
		strings_grow(a, list);
	list->v[list->n++] = s;
}

int
imap_args_flag_list(struct imap_args *a, struct imap_strings *flags)
{
	const char	*f;

	if (imap_args_open(a) == -1)
		return imap_args_fail(a, "expected a flag list");
	while (!imap_args_at_end(a)) {
		if (imap_args_flag(a, &f) == -1)
			return -1;
		strings_add(a, flags, f);
	}
	return imap_args_close(a);
}

int
imap_args_seqset(struct imap_args *a, struct imap_seqset *set)
{
	const struct imap_token	*t = atom_token(a);
	const char		*error;

	if (t == NULL)
		return imap_args_fail(a, "expected a sequence set");
	if (imap_seqset_parse(t->text, set, a->max_ranges, a->alloc, a->ctx, &error) == -1)
		return imap_args_fail(a, error);
	a->i++;
	return 0;
}

static int
month(const char *s)
{
	int	 m;

	for (m = 0; m < 12; m++)
		if (strncasecmp(s, months[m], 3) == 0)
			return m;
	return -1;
}

/* d-Mon-yyyy or dd-Mon-yyyy at s; the length read, or 0. */
static size_t
date_text(const char *s, struct tm *tm)
{
	size_t	 d = strspn(s, "0123456789");
	int	 m;

	if (d < 1 || d > 2 || s[d] != '-' || (m = month(s + d + 1)) == -1 || s[d + 4] != '-'
	    || strspn(s + d + 5, "0123456789") != 4)
		return 0;
	memset(tm, 0, sizeof(*tm));
	tm->tm_mday = d == 1 ? s[0] - '0' : (s[0] - '0') * 10 + s[1] - '0';
	tm->tm_mon = m;
	tm->tm_year = (s[d + 5] - '0') * 1000 + (s[d + 6] - '0') * 100
	    + (s[d + 7] - '0') * 10 + (s[d + 8] - '0') - 1900;
	if (tm->tm_mday < 1 || tm->tm_mday > 31)
		return 0;
	return d + 9;
}

int
imap_args_date(struct imap_args *a, time_t *t_r)
{
	const struct imap_token	*t = peek(a);
	struct tm		 tm;

	if (t == NULL || (t->type != IMAP_TOKEN_ATOM && t->type != IMAP_TOKEN_QUOTED)
	    || date_text(t->text, &tm) != t->len)
		return imap_args_fail(a, "expected a date (d-Mon-yyyy)");
	*t_r = timegm(&tm);
	a->i++;
	return 0;
}

/* s matches pattern: '9' a digit, '+' a sign, anything else itself. */
static bool
shape(const char *s, const char *pattern)
{
	for (; *pattern != '\0'; s++, pattern++)
		if (*pattern == '9' ? (*s < '0' || *s > '9')
		    : *pattern == '+' ? (*s != '+' && *s != '-') : *s != *pattern)
			return false;
	return *s == '\0';
}

static int
two(const char *s)
{
	return (s[0] - '0') * 10 + (s[1] - '0');
}

/* "dd-Mon-yyyy hh:mm:ss +zzzz" (the day may be " d" or "d"), to UTC. */
int
imap_args_date_time(struct imap_args *a, time_t *t_r)
{
	const struct imap_token	*t = peek(a);
	const char		*s;
	struct tm		 tm;
	size_t			 n;
	int			 zone;

	if (t == NULL || t->type != IMAP_TOKEN_QUOTED)
		return imap_args_fail(a, "expected a quoted date-time");
	s = t->text[0] == ' ' ? t->text + 1 : t->text;
	if ((n = date_text(s, &tm)) == 0 || !shape(s + n, " 99:99:99 +9999"))
		return imap_args_fail(a, "invalid date-time");
	s += n;
	tm.tm_hour = two(s + 1);
	tm.tm_min = two(s + 4);
	tm.tm_sec = two(s + 7);
	zone = two(s + 11) * 3600 + two(s + 13) * 60;
	if (tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60 || two(s + 13) > 59)
		return imap_args_fail(a, "invalid date-time");
	*t_r = timegm(&tm) - (s[10] == '-' ? -zone : zone);
	a->i++;
	return 0;
}
