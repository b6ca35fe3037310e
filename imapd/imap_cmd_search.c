/*
 * SEARCH (RFC 3501 section 6.4.4, ESEARCH RETURN RFC 4731, MODSEQ RFC
 * 7162), SORT and THREAD (RFC 5256) arguments: the search keys as a tree
 * whose depth (NOT, OR, parentheses) is bounded like list nesting.
 */
#include "imapd/imap_args.h"

#include <string.h>
#include <strings.h>

/* Keys with no argument, or one argument of the kind named. */
enum arg { ARG_NONE, ARG_ASTRING, ARG_FLAG, ARG_DATE, ARG_NUMBER, ARG_SEQSET };

static const struct {
	const char		*name;
	enum imap_search_type	 type;
	enum arg		 arg;
} keys[] = {
	{ "ALL", IMAP_SK_ALL, ARG_NONE }, { "ANSWERED", IMAP_SK_ANSWERED, ARG_NONE },
	{ "DELETED", IMAP_SK_DELETED, ARG_NONE }, { "DRAFT", IMAP_SK_DRAFT, ARG_NONE },
	{ "FLAGGED", IMAP_SK_FLAGGED, ARG_NONE }, { "NEW", IMAP_SK_NEW, ARG_NONE },
	{ "OLD", IMAP_SK_OLD, ARG_NONE }, { "RECENT", IMAP_SK_RECENT, ARG_NONE },
	{ "SEEN", IMAP_SK_SEEN, ARG_NONE }, { "UNANSWERED", IMAP_SK_UNANSWERED, ARG_NONE },
	{ "UNDELETED", IMAP_SK_UNDELETED, ARG_NONE }, { "UNDRAFT", IMAP_SK_UNDRAFT, ARG_NONE },
	{ "UNFLAGGED", IMAP_SK_UNFLAGGED, ARG_NONE }, { "UNSEEN", IMAP_SK_UNSEEN, ARG_NONE },
	{ "KEYWORD", IMAP_SK_KEYWORD, ARG_FLAG }, { "UNKEYWORD", IMAP_SK_UNKEYWORD, ARG_FLAG },
	{ "BCC", IMAP_SK_BCC, ARG_ASTRING }, { "BODY", IMAP_SK_BODY, ARG_ASTRING },
	{ "CC", IMAP_SK_CC, ARG_ASTRING }, { "FROM", IMAP_SK_FROM, ARG_ASTRING },
	{ "SUBJECT", IMAP_SK_SUBJECT, ARG_ASTRING }, { "TEXT", IMAP_SK_TEXT, ARG_ASTRING },
	{ "TO", IMAP_SK_TO, ARG_ASTRING },
	{ "BEFORE", IMAP_SK_BEFORE, ARG_DATE }, { "ON", IMAP_SK_ON, ARG_DATE },
	{ "SINCE", IMAP_SK_SINCE, ARG_DATE }, { "SENTBEFORE", IMAP_SK_SENTBEFORE, ARG_DATE },
	{ "SENTON", IMAP_SK_SENTON, ARG_DATE }, { "SENTSINCE", IMAP_SK_SENTSINCE, ARG_DATE },
	{ "LARGER", IMAP_SK_LARGER, ARG_NUMBER }, { "SMALLER", IMAP_SK_SMALLER, ARG_NUMBER },
	{ "UID", IMAP_SK_UID, ARG_SEQSET },
};

static int	search_key(struct imap_args *a, unsigned depth, struct imap_search_key **key_r);

static int
key_arg(struct imap_args *a, enum arg arg, struct imap_search_key *k)
{
	uint32_t	 n;

	switch (arg) {
	case ARG_NONE:
		return 0;
	case ARG_ASTRING:
		return imap_args_astring(a, &k->str);
	case ARG_FLAG:
		/* flag-keyword: an atom, not a \system flag. */
		return imap_args_atom(a, &k->str);
	case ARG_DATE:
		return imap_args_date(a, &k->date);
	case ARG_NUMBER:
		if (imap_args_number(a, &n) == -1)
			return -1;
		k->number = n;
		return 0;
	case ARG_SEQSET:
		return imap_args_seqset(a, &k->set);
	}
	return imap_args_fail(a, "invalid search key");
}

/* MODSEQ [SP entry-name SP entry-type-req] SP mod-sequence-valzer (RFC 7162 3.1.5) */
static int
modseq_key(struct imap_args *a, struct imap_search_key *k)
{
	const char	*entry;

	if (a->i < a->n && a->t[a->i].type == IMAP_TOKEN_QUOTED) {
		if (imap_args_string(a, &entry) == -1 || strncmp(entry, "/flags/", 7) != 0)
			return imap_args_fail(a, "invalid MODSEQ entry name");
		if (!imap_args_keyword(a, "priv") && !imap_args_keyword(a, "shared")
		    && !imap_args_keyword(a, "all"))
			return imap_args_fail(a, "invalid MODSEQ entry type");
	}
	return imap_args_number64(a, &k->number);
}

/* "(" search-key *(SP search-key) ")": an AND of its keys. */
static int
key_list(struct imap_args *a, unsigned depth, struct imap_search_key *k)
{
	struct imap_search_key	**tail = &k->child;

	a->i++;
	k->type = IMAP_SK_AND;
	do {
		if (search_key(a, depth + 1, tail) == -1)
			return -1;
		tail = &(*tail)->next;
	} while (!imap_args_at_end(a));
	return imap_args_close(a);
}

static int
search_key(struct imap_args *a, unsigned depth, struct imap_search_key **key_r)
{
	struct imap_search_key	*k;
	const char		*s;
	size_t			 i;

	if (depth > a->max_depth)
		return imap_args_fail(a, "search keys too deeply nested");
	k = *key_r = imap_args_alloc(a, sizeof(*k));
	if (imap_args_peek_open(a))
		return key_list(a, depth, k);
	if (a->i == a->n || a->t[a->i].type != IMAP_TOKEN_ATOM)
		return imap_args_fail(a, "expected a search key");
	s = a->t[a->i].text;
	if ((*s >= '0' && *s <= '9') || *s == '*') {
		k->type = IMAP_SK_SEQSET;
		return imap_args_seqset(a, &k->set);
	}
	a->i++;
	if (strcasecmp(s, "NOT") == 0) {
		k->type = IMAP_SK_NOT;
		return search_key(a, depth + 1, &k->child);
	}
	if (strcasecmp(s, "OR") == 0) {
		k->type = IMAP_SK_OR;
		if (search_key(a, depth + 1, &k->child) == -1)
			return -1;
		return search_key(a, depth + 1, &k->child->next);
	}
	if (strcasecmp(s, "HEADER") == 0) {
		k->type = IMAP_SK_HEADER;
		if (imap_args_astring(a, &k->str) == -1)
			return imap_args_fail(a, "expected a header field name");
		return imap_args_astring(a, &k->str2);
	}
	if (strcasecmp(s, "MODSEQ") == 0) {
		k->type = IMAP_SK_MODSEQ;
		return modseq_key(a, k);
	}
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcasecmp(s, keys[i].name) == 0) {
			k->type = keys[i].type;
			return key_arg(a, keys[i].arg, k);
		}
	return imap_args_fail(a, "unknown search key");
}

/* 1*(SP search-key) to the end of the command, as one AND. */
static int
search_keys(struct imap_args *a, struct imap_search *search)
{
	struct imap_search_key	**tail;

	search->key = imap_args_alloc(a, sizeof(*search->key));
	search->key->type = IMAP_SK_AND;
	tail = &search->key->child;
	do {
		if (search_key(a, 1, tail) == -1)
			return -1;
		tail = &(*tail)->next;
	} while (a->i < a->n);
	return imap_args_end(a);
}

/* RETURN "(" [MIN / MAX / ALL / COUNT ...] ")" (RFC 4731) */
static int
search_return(struct imap_args *a, struct imap_search *search)
{
	search->esearch = true;
	if (imap_args_open(a) == -1)
		return -1;
	while (!imap_args_at_end(a)) {
		if (imap_args_keyword(a, "MIN"))
			search->ret |= IMAP_SEARCH_RETURN_MIN;
		else if (imap_args_keyword(a, "MAX"))
			search->ret |= IMAP_SEARCH_RETURN_MAX;
		else if (imap_args_keyword(a, "ALL"))
			search->ret |= IMAP_SEARCH_RETURN_ALL;
		else if (imap_args_keyword(a, "COUNT"))
			search->ret |= IMAP_SEARCH_RETURN_COUNT;
		else
			return imap_args_fail(a, "unknown SEARCH return option");
	}
	if (search->ret == 0)
		search->ret = IMAP_SEARCH_RETURN_ALL;	/* RETURN () */
	return imap_args_close(a);
}

static int
charset(struct imap_args *a, struct imap_search *search)
{
	if (imap_args_astring(a, &search->charset) == -1)
		return imap_args_fail(a, "expected a charset");
	return 0;
}

int
imap_parse_search(struct imap_args *a, struct imap_command *cmd)
{
	struct imap_search	*search = &cmd->u.search;

	if (a->i + 1 < a->n && a->t[a->i + 1].type == IMAP_TOKEN_OPEN
	    && imap_args_keyword(a, "RETURN") && search_return(a, search) == -1)
		return -1;
	if (imap_args_keyword(a, "CHARSET") && charset(a, search) == -1)
		return -1;
	return search_keys(a, search);
}

static int
sort_criteria(struct imap_args *a, struct imap_command *cmd)
{
	static const char	*names[] = {
		[IMAP_SORT_ARRIVAL] = "ARRIVAL", [IMAP_SORT_CC] = "CC", [IMAP_SORT_DATE] = "DATE",
		[IMAP_SORT_FROM] = "FROM", [IMAP_SORT_SIZE] = "SIZE",
		[IMAP_SORT_SUBJECT] = "SUBJECT", [IMAP_SORT_TO] = "TO",
	};
	struct imap_sort_criterion	*c;
	unsigned			 k;

	if (imap_args_open(a) == -1)
		return imap_args_fail(a, "expected a list of sort criteria");
	cmd->u.sort.criteria = imap_args_alloc(a, a->n * sizeof(*cmd->u.sort.criteria));
	do {
		c = &cmd->u.sort.criteria[cmd->u.sort.ncriteria++];
		c->reverse = imap_args_keyword(a, "REVERSE");
		for (k = 0; k < sizeof(names) / sizeof(names[0]); k++)
			if (imap_args_keyword(a, names[k]))
				break;
		if (k == sizeof(names) / sizeof(names[0]))
			return imap_args_fail(a, "unknown sort criterion");
		c->key = (enum imap_sort_key)k;
	} while (!imap_args_at_end(a));
	return imap_args_close(a);
}

/* SORT sort-criteria SP charset 1*(SP search-key) (RFC 5256) */
int
imap_parse_sort(struct imap_args *a, struct imap_command *cmd)
{
	if (sort_criteria(a, cmd) == -1 || charset(a, &cmd->u.sort.search) == -1)
		return -1;
	return search_keys(a, &cmd->u.sort.search);
}

/* THREAD thread-alg SP charset 1*(SP search-key) (RFC 5256) */
int
imap_parse_thread(struct imap_args *a, struct imap_command *cmd)
{
	if (imap_args_keyword(a, "REFERENCES"))
		cmd->u.thread.references = true;
	else if (!imap_args_keyword(a, "ORDEREDSUBJECT"))
		return imap_args_fail(a, "unknown threading algorithm");
	if (charset(a, &cmd->u.thread.search) == -1)
		return -1;
	return search_keys(a, &cmd->u.thread.search);
}
