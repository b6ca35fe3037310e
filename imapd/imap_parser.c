/*
 * The streaming command parser (imap_parser.h): framing (where a line ends
 * in a literal), the tokenizer (one line's text at a time, its state kept
 * across the literals that join lines), then the command table's argument
 * parser over the collected tokens.
 *
 * Token text lives in one arena (a struct buf whose hard maximum is
 * max_command_size): quoted strings unescaped, literals as received, each
 * NUL-terminated.  Tokens keep offsets while the arena may still move and
 * get pointers just before the arguments are parsed.
 */
#include "imapd/imap_parser.h"

#include "imapd/imap_args.h"
#include "lib/buf.h"
#include "lib/settings.h"
#include "lib/xmalloc.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define KEEP_ARENA	4096	/* bytes of token text kept between commands */
#define KEEP_TOKENS	64

enum mode {
	MODE_LINE,		/* a line is due */
	MODE_LITERAL,		/* literal bytes into the arena */
	MODE_STREAM_WAIT,	/* STREAM said; imap_parser_stream() is due */
	MODE_STREAM,		/* literal bytes to the consumer */
	MODE_DISCARD,		/* literal bytes of a failed command, dropped */
};

struct block {
	struct block	*next;
	max_align_t	 data[];
};

struct imap_parser {
	struct imapd_settings	 limits;
	struct buf		 arena;
	struct imap_token	*tokens;
	size_t			 ntokens, tokens_cap;
	struct block		*blocks;	/* the command's allocations */
	struct imap_command	 cmd;
	char			*tag;
	char			*error_tag;	/* outlives the command it names */
	struct imap_parse_error	 error;

	enum mode		 mode;
	bool			 in_command;	/* the next line continues a command */
	bool			 failed;	/* error reported: skip the rest of the command */
	bool			 need_sep;	/* a token ended: SP or ')' must come next */
	bool			 sp_pending;	/* a SP was read: a token must come next */
	bool			 in_section;	/* the last atom's '[' is open: a literal joins it */
	unsigned		 depth;
	unsigned		 top_args;	/* complete arguments at depth 0 */
	uint64_t		 left;		/* literal bytes still due */
	bool			 sync;		/* the literal being read is synchronising */
	void			(*write)(void *ctx, const char *data, size_t len);
	void			*write_ctx;
};

static void *
cmd_alloc(void *ctx, size_t size)
{
	struct imap_parser	*p = ctx;
	struct block		*b;

	b = xcalloc(1, size_add(sizeof(*b), size));
	b->next = p->blocks;
	p->blocks = b;
	return b->data;
}

static void
free_blocks(struct imap_parser *p)
{
	struct block	*b;

	while ((b = p->blocks) != NULL) {
		p->blocks = b->next;
		free(b);
	}
}

struct imap_parser *
imap_parser_new(const struct imapd_settings *set)
{
	struct imap_parser	*p;

	p = xcalloc(1, sizeof(*p));
	p->limits = *set;
	buf_init(&p->arena, set->max_command_size);
	return p;
}

void
imap_parser_free(struct imap_parser **pp)
{
	struct imap_parser	*p = *pp;

	if (p == NULL)
		return;
	free_blocks(p);
	buf_release(&p->arena);
	free(p->tokens);
	free(p->tag);
	free(p->error_tag);
	free(p);
	*pp = NULL;
}

/* Between commands: idle sessions keep no more than a small command needs. */
static void
reset_command(struct imap_parser *p)
{
	free_blocks(p);
	if (p->arena.cap > KEEP_ARENA) {
		buf_release(&p->arena);
		buf_init(&p->arena, p->limits.max_command_size);
	}
	buf_reset(&p->arena);
	if (p->tokens_cap > KEEP_TOKENS) {
		free(p->tokens);
		p->tokens = NULL;
		p->tokens_cap = 0;
	}
	p->ntokens = 0;
	memset(&p->cmd, 0, sizeof(p->cmd));
	free(p->tag);
	p->tag = NULL;
	p->in_command = false;
	p->failed = false;
	p->need_sep = false;
	p->sp_pending = false;
	p->in_section = false;
	p->depth = 0;
	p->top_args = 0;
}

/* Report an error for the current command; the rest of it will be skipped. */
static enum imap_parse
fail(struct imap_parser *p, const char *status, const char *text)
{
	free(p->error_tag);
	p->error_tag = xstrdup(p->tag != NULL ? p->tag : "*");
	p->error.tag = p->error_tag;
	p->error.status = status;
	p->error.text = text;
	p->error.close = false;
	p->failed = true;
	return IMAP_PARSE_ERROR;
}

/* A token whose text (if any) starts at arena offset off. */
static int
push_token(struct imap_parser *p, enum imap_token_type type, size_t off, size_t len,
    const char **error_r)
{
	struct imap_token	*t;

	if (p->ntokens >= p->limits.max_arguments) {
		*error_r = "too many arguments";
		return -1;
	}
	if (p->ntokens == p->tokens_cap) {
		p->tokens_cap = p->tokens_cap == 0 ? 16 : p->tokens_cap * 2;
		p->tokens = xreallocarray(p->tokens, p->tokens_cap, sizeof(*p->tokens));
	}
	t = &p->tokens[p->ntokens++];
	memset(t, 0, sizeof(*t));
	t->type = type;
	t->len = len;
	t->off = off;
	if (type != IMAP_TOKEN_OPEN && p->depth == 0)
		p->top_args++;
	return 0;
}

static int
arena_add(struct imap_parser *p, const char *text, size_t len, const char **error_r)
{
	if (buf_append(&p->arena, text, len) == -1) {
		*error_r = "[TOOBIG] command too long";
		return -1;
	}
	return 0;
}

/* A quoted string at s (after the '"'), unescaped; *used_r through the closing '"'. */
static int
quoted(struct imap_parser *p, const char *s, size_t len, size_t *used_r, const char **error_r)
{
	size_t	 i, start = buf_len(&p->arena);

	for (i = 0; i < len && s[i] != '"'; i++) {
		if (s[i] == '\r') {
			*error_r = "invalid character in quoted string";
			return -1;
		}
		if (s[i] == '\\' && (++i == len || (s[i] != '\\' && s[i] != '"'))) {
			*error_r = "invalid escape in quoted string";
			return -1;
		}
		if (arena_add(p, s + i, 1, error_r) == -1)
			return -1;
	}
	if (i == len) {
		*error_r = "unterminated quoted string";
		return -1;
	}
	*used_r = i + 1;
	if (arena_add(p, "", 1, error_r) == -1)
		return -1;
	return push_token(p, IMAP_TOKEN_QUOTED, start, buf_len(&p->arena) - start - 1, error_r);
}

static int
atom(struct imap_parser *p, const char *s, size_t len, const char **error_r)
{
	size_t	 start = buf_len(&p->arena);

	if (arena_add(p, s, len, error_r) == -1 || arena_add(p, "", 1, error_r) == -1)
		return -1;
	return push_token(p, IMAP_TOKEN_ATOM, start, len, error_r);
}

/*
 * An atom's length: up to SP, '(' or ')'; a '[' runs to its ']' (FETCH
 * sections).  *bracket: in, whether a '[' is open already; out, whether one
 * still is at the end.
 */
static size_t
atom_len(const char *s, size_t len, bool *bracket_r)
{
	size_t	 i;
	bool	 bracket = *bracket_r, quote = false;

	for (i = 0; i < len; i++) {
		if (quote) {
			if (s[i] == '\\' && i + 1 < len)
				i++;
			else if (s[i] == '"')
				quote = false;
		} else if (bracket) {
			if (s[i] == '"')
				quote = true;
			else if (s[i] == ']')
				bracket = false;
		} else if (s[i] == '[')
			bracket = true;
		else if (s[i] == ' ' || s[i] == '(' || s[i] == ')')
			break;
	}
	*bracket_r = bracket;
	return i;
}

/*
 * The rest of an atom whose section a literal interrupted ("BODY[HEADER.
 * FIELDS ({7}" CRLF "Subject)]"): its text grows in place.
 */
static int
atom_more(struct imap_parser *p, const char *s, size_t len, size_t *used_r, const char **error_r)
{
	struct imap_token	*t = &p->tokens[p->ntokens - 1];
	size_t			 n;

	n = atom_len(s, len, &p->in_section);
	buf_truncate(&p->arena, buf_len(&p->arena) - 1);	/* its NUL */
	if (arena_add(p, s, n, error_r) == -1 || arena_add(p, "", 1, error_r) == -1)
		return -1;
	t->len = buf_len(&p->arena) - 1 - t->off;
	*used_r = n;
	return 0;
}

/* Tokenize the text of one line (without its trailing literal marker). */
static int
tokenize(struct imap_parser *p, const char *s, size_t len, const char **error_r)
{
	size_t	 i = 0, n;

	if (p->in_section) {
		if (atom_more(p, s, len, &i, error_r) == -1)
			return -1;
		p->need_sep = true;
	}
	while (i < len) {
		if (s[i] == ' ') {
			if (!p->need_sep) {
				*error_r = "unexpected space";
				return -1;
			}
			p->need_sep = false;
			p->sp_pending = true;
			i++;
			continue;
		}
		if (s[i] == ')') {
			if (p->depth == 0 || p->sp_pending) {
				*error_r = "unexpected ')'";
				return -1;
			}
			p->depth--;
			if (push_token(p, IMAP_TOKEN_CLOSE, 0, 0, error_r) == -1)
				return -1;
			p->need_sep = true;
			i++;
			continue;
		}
		if (p->need_sep) {
			*error_r = "missing space between arguments";
			return -1;
		}
		p->sp_pending = false;
		if (s[i] == '(') {
			if (p->depth >= p->limits.max_nesting) {
				*error_r = "too deeply nested";
				return -1;
			}
			if (push_token(p, IMAP_TOKEN_OPEN, 0, 0, error_r) == -1)
				return -1;
			p->depth++;
			i++;
			continue;
		}
		if (s[i] == '"') {
			if (quoted(p, s + i + 1, len - i - 1, &n, error_r) == -1)
				return -1;
			i += 1 + n;
		} else {
			n = atom_len(s + i, len - i, &p->in_section);
			if (memchr(s + i, '{', n) != NULL) {
				*error_r = "a literal may only end a line";
				return -1;
			}
			if (atom(p, s + i, n, error_r) == -1)
				return -1;
			i += n;
		}
		p->need_sep = true;
	}
	return 0;
}

/* The literal marker {n} or {n+} ending a line: its start, or len if none. */
static size_t
literal_marker(const char *s, size_t len, bool *sync_r, bool *valid_r, uint64_t *size_r)
{
	size_t	 end, start;

	if (len < 3 || s[len - 1] != '}')
		return len;
	end = len - 1;
	*sync_r = s[end - 1] != '+';
	if (!*sync_r)
		end--;
	start = end;
	while (start > 0 && s[start - 1] >= '0' && s[start - 1] <= '9')
		start--;
	if (start == 0 || start == end || s[start - 1] != '{')
		return len;
	*valid_r = imap_parse_number64(s + start, end - start, size_r) == 0;
	return start - 1;
}

/* Resolve token offsets to pointers and run the command's argument parser. */
static int
parse_args(struct imap_parser *p, const char **error_r)
{
	struct imap_args	 a;
	size_t			 i;

	free_blocks(p);
	for (i = 0; i < p->ntokens; i++) {
		struct imap_token	*t = &p->tokens[i];

		if (t->type == IMAP_TOKEN_ATOM || t->type == IMAP_TOKEN_QUOTED
		    || t->type == IMAP_TOKEN_LITERAL)
			t->text = buf_head(&p->arena) + t->off;
	}
	memset(&p->cmd.u, 0, sizeof(p->cmd.u));
	p->cmd.tag = p->tag;
	a = (struct imap_args){ p->tokens, p->ntokens, 0, p->limits.max_arguments,
	    p->limits.max_nesting, cmd_alloc, p, NULL };
	if (p->cmd.def->parse(&a, &p->cmd) == -1) {
		*error_r = a.error;
		return -1;
	}
	return 0;
}

static size_t
letters(const char *s, size_t len)
{
	size_t	 i;

	for (i = 0; i < len && ((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z')); i++)
		;
	return i;
}

/* tag SP name [SP name] (UID forms) at the start of a command: the index after it. */
static int
command_start(struct imap_parser *p, const char *s, size_t len, size_t *i_r,
    const char **error_r)
{
	const char	*sp = memchr(s, ' ', len);
	size_t		 t = sp != NULL ? (size_t)(sp - s) : len, n;

	if (!imap_is_atom(s, t, "]") || memchr(s, '+', t) != NULL) {
		*error_r = "invalid tag";
		return -1;
	}
	p->tag = xstrndup(s, t);
	if (t == len) {
		*error_r = "missing command";
		return -1;
	}
	n = t + 1 + letters(s + t + 1, len - t - 1);
	if (n - t - 1 == 3 && strncasecmp(s + t + 1, "UID", 3) == 0 && n < len && s[n] == ' ')
		n += 1 + letters(s + n + 1, len - n - 1);
	if ((n < len && s[n] != ' ')
	    || (p->cmd.def = imap_command_find(s + t + 1, n - t - 1)) == NULL) {
		*error_r = "unknown command";
		return -1;
	}
	p->cmd.tag = p->tag;
	*i_r = n;
	p->need_sep = true;
	return 0;
}

/* The literal is complete: the command goes on with the next line. */
static void
literal_end(struct imap_parser *p)
{
	struct imap_token	*t;

	if (p->mode == MODE_LITERAL && p->in_section) {
		buf_append(&p->arena, "\"", 2);	/* the quote and the NUL */
		t = &p->tokens[p->ntokens - 1];
		t->len = buf_len(&p->arena) - 1 - t->off;
	} else if (p->mode == MODE_LITERAL)
		buf_append(&p->arena, "", 1);	/* room checked at its start */
	p->mode = MODE_LINE;
	p->need_sep = true;
}

/*
 * A literal inside an atom's section (a header-fld-name is an astring,
 * RFC 3501 9): it joins the atom as a quoted string, so the FETCH parser
 * reads one form.
 */
static enum imap_parse
section_literal(struct imap_parser *p, uint64_t size)
{
	const char	*error;

	if (size_add(size_mul(size, 2), 3) >= buf_room(&p->arena))
		return fail(p, "BAD", "[TOOBIG] literal too big");
	buf_truncate(&p->arena, buf_len(&p->arena) - 1);	/* the atom's NUL */
	if (arena_add(p, "\"", 1, &error) == -1)
		return fail(p, "BAD", error);
	p->left = size;
	p->mode = MODE_LITERAL;
	if (size == 0)
		literal_end(p);
	return p->sync ? IMAP_PARSE_CONTINUE : IMAP_PARSE_MORE;
}

/* A section literal's bytes, escaped as in a quoted string (room checked). */
static void
section_bytes(struct imap_parser *p, const char *data, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		if (data[i] == '"' || data[i] == '\\')
			buf_append(&p->arena, "\\", 1);
		buf_append(&p->arena, data + i, 1);
	}
}

/* A literal ends the line: accept, stream or refuse it. */
static enum imap_parse
literal_start(struct imap_parser *p, uint64_t size)
{
	const char	*error;

	if (p->in_section)
		return section_literal(p, size);
	if (p->need_sep)
		return fail(p, "BAD", "literal without a space before it");
	p->sp_pending = false;
	if (p->depth == 0 && p->top_args >= 1 && (p->cmd.def->flags & IMAP_CMDF_STREAM)) {
		if (size > p->limits.max_literal_size)
			return fail(p, p->sync ? "NO" : "BAD", "[TOOBIG] message too big");
		if (push_token(p, IMAP_TOKEN_STREAM, 0, 0, &error) == -1)
			return fail(p, "BAD", error);
		p->tokens[p->ntokens - 1].size = size;
		if (parse_args(p, &error) == -1)
			return fail(p, "BAD", error);
		p->cmd.u.append.size = size;
		p->left = size;
		p->mode = MODE_STREAM_WAIT;
		return IMAP_PARSE_STREAM;
	}
	if (size >= buf_room(&p->arena))
		return fail(p, "BAD", "[TOOBIG] literal too big");
	if (push_token(p, IMAP_TOKEN_LITERAL, buf_len(&p->arena), (size_t)size, &error) == -1)
		return fail(p, "BAD", error);
	p->left = size;
	p->mode = MODE_LITERAL;
	if (size == 0)
		literal_end(p);
	return p->sync ? IMAP_PARSE_CONTINUE : IMAP_PARSE_MORE;
}

/* The command failed on a line ending in a literal: skip it if it will come. */
static void
skip_literal(struct imap_parser *p, bool has, bool valid, uint64_t size)
{
	if (!has || p->sync) {
		reset_command(p);	/* the client sends no more of it */
		return;
	}
	if (!valid || size > p->limits.max_literal_size) {
		p->error.close = true;	/* the reason already given stands */
		return;
	}
	p->in_command = true;
	p->left = size;
	p->mode = size > 0 ? MODE_DISCARD : MODE_LINE;
}

enum imap_parse
imap_parser_line(struct imap_parser *p, const char *line, size_t len)
{
	enum imap_parse	 st;
	const char	*error = NULL;
	size_t		 end, i = 0;
	uint64_t	 size = 0;
	bool		 valid = false, has;

	assert(p->mode == MODE_LINE);
	p->sync = true;
	end = literal_marker(line, len, &p->sync, &valid, &size);
	has = end < len;
	if (p->failed && p->in_command) {	/* the rest of a failed command */
		skip_literal(p, has, valid, size);
		if (!p->error.close)
			return IMAP_PARSE_MORE;
		fail(p, "BAD", "[TOOBIG] literal too big");
		p->error.close = true;
		return IMAP_PARSE_ERROR;
	}
	if (!p->in_command) {
		reset_command(p);
		if (len == 0)
			return IMAP_PARSE_MORE;
		if (command_start(p, line, end, &i, &error) == -1)
			goto failed;
		p->in_command = true;
	}
	if (size_add(buf_len(&p->arena), end) > p->arena.max) {
		error = "[TOOBIG] command too long";
		goto failed;
	}
	if (tokenize(p, line + i, end - i, &error) == -1)
		goto failed;
	if (has) {
		if (!valid) {
			error = "invalid literal size";
			goto failed;
		}
		st = literal_start(p, size);
		if (st == IMAP_PARSE_ERROR)
			skip_literal(p, true, true, size);
		return st;
	}
	if (p->sp_pending) {
		error = "trailing space";
		goto failed;
	}
	if (p->depth > 0) {
		error = "unclosed '('";
		goto failed;
	}
	p->in_command = false;
	if (parse_args(p, &error) == -1)
		goto failed;
	return IMAP_PARSE_COMMAND;
failed:
	st = fail(p, "BAD", error);
	skip_literal(p, has, valid, size);
	return st;
}

enum imap_parse
imap_parser_line_too_long(struct imap_parser *p)
{
	reset_command(p);
	fail(p, "BAD", "[TOOBIG] line too long");
	p->error.close = true;
	return IMAP_PARSE_ERROR;
}

bool
imap_parser_wants_literal(const struct imap_parser *p, uint64_t *left_r)
{
	if (left_r != NULL)
		*left_r = p->left;
	return p->mode == MODE_LITERAL || p->mode == MODE_STREAM || p->mode == MODE_DISCARD;
}

enum imap_parse
imap_parser_literal(struct imap_parser *p, const char *data, size_t len, size_t *used_r)
{
	size_t	 n = len < p->left ? len : (size_t)p->left;

	assert(imap_parser_wants_literal(p, NULL));
	*used_r = n;
	if (p->mode == MODE_LITERAL) {
		if (memchr(data, '\0', n) != NULL) {
			p->mode = MODE_DISCARD;
			p->left -= n;
			fail(p, "BAD", "NUL in literal");
			if (p->left == 0)
				p->mode = MODE_LINE;
			return IMAP_PARSE_ERROR;
		}
		if (p->in_section)
			section_bytes(p, data, n);
		else
			buf_append(&p->arena, data, n);	/* room checked at literal_start() */
	} else if (p->mode == MODE_STREAM)
		p->write(p->write_ctx, data, n);
	p->left -= n;
	if (p->left == 0)
		literal_end(p);
	return IMAP_PARSE_MORE;
}

enum imap_parse
imap_parser_stream(struct imap_parser *p, void (*write)(void *ctx, const char *data, size_t len),
    void *ctx)
{
	assert(p->mode == MODE_STREAM_WAIT);
	p->write = write;
	p->write_ctx = ctx;
	p->need_sep = true;
	p->mode = p->left > 0 ? MODE_STREAM : MODE_LINE;
	return p->sync ? IMAP_PARSE_CONTINUE : IMAP_PARSE_MORE;
}

void
imap_parser_stream_refuse(struct imap_parser *p)
{
	assert(p->mode == MODE_STREAM_WAIT);
	p->mode = MODE_LINE;
	p->failed = true;
	skip_literal(p, true, true, p->left);
}

const struct imap_command *
imap_parser_command(const struct imap_parser *p)
{
	return &p->cmd;
}

const struct imap_parse_error *
imap_parser_error(const struct imap_parser *p)
{
	return &p->error;
}
