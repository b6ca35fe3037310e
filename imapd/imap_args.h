/*
 * The argument grammar's building blocks (RFC 3501 section 9), over the
 * tokens imap_parser collected for one command.  A token is an atom (any
 * run of non-special characters, or an atom holding a [section] with its
 * spaces and parentheses), a string (quoted, escapes undone; or a literal
 * held in memory), a list open/close, or the streamed literal of APPEND.
 * The tokenizer is lenient about atom characters; each production here
 * checks them for what it reads (atom, astring, flag, list-mailbox...).
 *
 * Every function takes the cursor, returns 0 or -1 and on -1 leaves the
 * reason in args->error (the text of the tagged BAD).
 */
#ifndef IMAPD_IMAP_ARGS_H
#define IMAPD_IMAP_ARGS_H

#include "imapd/imap_command.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

enum imap_token_type {
	IMAP_TOKEN_ATOM, IMAP_TOKEN_QUOTED, IMAP_TOKEN_LITERAL,
	IMAP_TOKEN_OPEN, IMAP_TOKEN_CLOSE,
	IMAP_TOKEN_STREAM,		/* the streamed literal: size only */
};

struct imap_token {
	enum imap_token_type	 type;
	const char		*text;	/* NUL-terminated (not for OPEN/CLOSE/STREAM) */
	size_t			 len;
	size_t			 off;	/* text's arena offset (the arena may move until parsed) */
	uint64_t		 size;	/* STREAM: the literal's size */
};

struct imap_args {
	const struct imap_token	*t;
	size_t			 n, i;
	unsigned		 max_ranges;	/* sequence set elements */
	unsigned		 max_depth;	/* SEARCH key nesting (NOT, OR, lists) */
	void			*(*alloc)(void *ctx, size_t size);
	void			*ctx;
	const char		*error;
};

/* Set args->error and return -1. */
int	 imap_args_fail(struct imap_args *a, const char *error);
/* Allocate from the command's memory (zeroed; freed with the command). */
void	*imap_args_alloc(struct imap_args *a, size_t size);

/* No more arguments at this level (end of command or before a ')'). */
bool	 imap_args_at_end(const struct imap_args *a);
int	 imap_args_end(struct imap_args *a);		/* error if more follow */
bool	 imap_args_peek_open(const struct imap_args *a);
int	 imap_args_open(struct imap_args *a);		/* "(" */
int	 imap_args_close(struct imap_args *a);		/* ")" */

int	 imap_args_atom(struct imap_args *a, const char **s_r);
/* The next token is this atom (any case): consumed, true. */
bool	 imap_args_keyword(struct imap_args *a, const char *word);
int	 imap_args_astring(struct imap_args *a, const char **s_r);
int	 imap_args_string(struct imap_args *a, const char **s_r);	/* quoted or literal */
int	 imap_args_nstring(struct imap_args *a, const char **s_r);	/* NULL for NIL */
int	 imap_args_mailbox(struct imap_args *a, const char **s_r);	/* INBOX in any case: "INBOX" */
int	 imap_args_list_mailbox(struct imap_args *a, const char **s_r);
int	 imap_args_number(struct imap_args *a, uint32_t *n_r);
int	 imap_args_nz_number(struct imap_args *a, uint32_t *n_r);
int	 imap_args_number64(struct imap_args *a, uint64_t *n_r);	/* 0 .. 2^63-1 */
int	 imap_args_flag(struct imap_args *a, const char **s_r);
int	 imap_args_flag_list(struct imap_args *a, struct imap_strings *flags);
int	 imap_args_seqset(struct imap_args *a, struct imap_seqset *set);
int	 imap_args_date(struct imap_args *a, time_t *t_r);		/* search date */
int	 imap_args_date_time(struct imap_args *a, time_t *t_r);	/* APPEND date-time */

/* Pure checks on text, shared by the productions and the section parser. */
bool	 imap_is_atom(const char *s, size_t len, const char *extra);
int	 imap_parse_number(const char *s, size_t len, uint32_t *n_r);
int	 imap_parse_nz_number(const char *s, size_t len, uint32_t *n_r);
int	 imap_parse_number64(const char *s, size_t len, uint64_t *n_r);

/* The per-command argument parsers the table names (imap_cmd_*.c). */
int	 imap_parse_fetch(struct imap_args *a, struct imap_command *cmd);
int	 imap_parse_search(struct imap_args *a, struct imap_command *cmd);
int	 imap_parse_sort(struct imap_args *a, struct imap_command *cmd);
int	 imap_parse_thread(struct imap_args *a, struct imap_command *cmd);

#endif
