/*
 * FETCH arguments (RFC 3501 section 6.4.5 and 9; CONDSTORE/QRESYNC
 * modifiers, RFC 7162): the macros, each fetch-att, and BODY[section]<partial>.
 * The tokenizer hands over "BODY.PEEK[HEADER.FIELDS (From To)]<0.100>"
 * as one atom; section_spec() reads it.
 */
#include "imapd/imap_args.h"

#include <string.h>
#include <strings.h>

static const struct {
	const char		*name;
	enum imap_fetch_item	 item;
} simple_atts[] = {
	{ "FLAGS", IMAP_FETCH_FLAGS }, { "INTERNALDATE", IMAP_FETCH_INTERNALDATE },
	{ "RFC822.SIZE", IMAP_FETCH_RFC822_SIZE }, { "ENVELOPE", IMAP_FETCH_ENVELOPE },
	{ "BODY", IMAP_FETCH_BODY }, { "BODYSTRUCTURE", IMAP_FETCH_BODYSTRUCTURE },
	{ "UID", IMAP_FETCH_UID }, { "MODSEQ", IMAP_FETCH_MODSEQ },
	{ "RFC822", IMAP_FETCH_RFC822 }, { "RFC822.HEADER", IMAP_FETCH_RFC822_HEADER },
	{ "RFC822.TEXT", IMAP_FETCH_RFC822_TEXT },
};

/* The macros, as the atts they stand for (the first n of simple_atts). */
static const struct {
	const char	*name;
	unsigned	 n;
} macros[] = {
	{ "FAST", 3 }, { "ALL", 4 }, { "FULL", 5 },
};

static bool
prefix(const char **s, const char *word)
{
	size_t	 n = strlen(word);

	if (strncasecmp(*s, word, n) != 0)
		return false;
	*s += n;
	return true;
}

/* One header field name in a header-list: an astring (atom or quoted). */
static const char *
field_name(struct imap_args *a, const char **s)
{
	const char	*p = *s;
	char		*out, *o;
	size_t		 n;

	if (*p != '"') {
		n = strcspn(p, " )");
		if (!imap_is_atom(p, n, "]"))
			return NULL;
		out = imap_args_alloc(a, n + 1);
		memcpy(out, p, n);
		*s = p + n;
		return out;
	}
	o = out = imap_args_alloc(a, strlen(p));
	for (p++; *p != '"'; p++) {
		if (*p == '\0')
			return NULL;
		if (*p == '\\' && p[1] != '\\' && p[1] != '"')
			return NULL;
		if (*p == '\\')
			p++;
		*o++ = *p;
	}
	*s = p + 1;
	return out;
}

/* " (" header-fld-name *(SP header-fld-name) ")" */
static int
header_list(struct imap_args *a, const char **s, struct imap_strings *fields)
{
	const char	*p = *s, *name;

	if (!prefix(&p, " ("))
		return imap_args_fail(a, "expected a list of header field names");
	fields->v = imap_args_alloc(a, (strlen(p) / 2 + 1) * sizeof(*fields->v));
	for (;;) {
		if ((name = field_name(a, &p)) == NULL)
			return imap_args_fail(a, "invalid header field name");
		fields->v[fields->n++] = name;
		if (*p == ')')
			break;
		if (*p++ != ' ')
			return imap_args_fail(a, "invalid header field list");
	}
	*s = p + 1;
	return 0;
}

/* section-spec up to and including "]" (s is after the "["). */
static int
section_spec(struct imap_args *a, const char **s, struct imap_section *sec)
{
	const char	*p = *s;
	size_t		 n;

	sec->part = imap_args_alloc(a, (strlen(p) / 2 + 1) * sizeof(*sec->part));
	while (*p >= '0' && *p <= '9') {
		n = strspn(p, "0123456789");
		if (imap_parse_nz_number(p, n, &sec->part[sec->nparts++]) == -1)
			return imap_args_fail(a, "invalid section part number");
		p += n;
		if (*p != '.')
			break;
		p++;
		if (*p < '0' || *p > '9')
			break;
	}
	if (sec->nparts > 0 && p[-1] != '.' && *p != ']')
		return imap_args_fail(a, "invalid section");
	if (prefix(&p, "HEADER.FIELDS.NOT"))
		sec->text = IMAP_SECTION_HEADER_FIELDS_NOT;
	else if (prefix(&p, "HEADER.FIELDS"))
		sec->text = IMAP_SECTION_HEADER_FIELDS;
	else if (prefix(&p, "HEADER"))
		sec->text = IMAP_SECTION_HEADER;
	else if (prefix(&p, "TEXT"))
		sec->text = IMAP_SECTION_TEXT;
	else if (sec->nparts > 0 && prefix(&p, "MIME"))
		sec->text = IMAP_SECTION_MIME;
	else if (sec->nparts > 0 && p[-1] == '.')
		return imap_args_fail(a, "invalid section");
	if ((sec->text == IMAP_SECTION_HEADER_FIELDS || sec->text == IMAP_SECTION_HEADER_FIELDS_NOT)
	    && header_list(a, &p, &sec->fields) == -1)
		return -1;
	if (*p != ']')
		return imap_args_fail(a, "invalid section");
	*s = p + 1;
	return 0;
}

/* ["<" number "." nz-number ">"] then the end of the atom. */
static int
partial(struct imap_args *a, const char *p, struct imap_fetch_att *att)
{
	const char	*dot, *end;

	if (*p == '\0')
		return 0;
	if (*p != '<' || (dot = strchr(p, '.')) == NULL || (end = strchr(dot, '>')) == NULL
	    || end[1] != '\0' || imap_parse_number(p + 1, (size_t)(dot - p - 1), &att->offset) == -1
	    || imap_parse_nz_number(dot + 1, (size_t)(end - dot - 1), &att->count) == -1)
		return imap_args_fail(a, "invalid partial range");
	att->partial = true;
	return 0;
}

static int
fetch_att(struct imap_args *a, struct imap_fetch_att *att)
{
	const char	*s;
	size_t		 i;

	if (a->i == a->n || a->t[a->i].type != IMAP_TOKEN_ATOM)
		return imap_args_fail(a, "expected a FETCH item");
	s = a->t[a->i++].text;
	for (i = 0; i < sizeof(simple_atts) / sizeof(simple_atts[0]); i++)
		if (strcasecmp(s, simple_atts[i].name) == 0) {
			att->item = simple_atts[i].item;
			return 0;
		}
	if (prefix(&s, "BODY.PEEK["))
		att->peek = true;
	else if (!prefix(&s, "BODY["))
		return imap_args_fail(a, "unknown FETCH item");
	att->item = IMAP_FETCH_BODY_SECTION;
	if (section_spec(a, &s, &att->section) == -1)
		return -1;
	return partial(a, s, att);
}

/* [SP "(" fetch-modifier *(SP fetch-modifier) ")"] */
static int
modifiers(struct imap_args *a, struct imap_command *cmd)
{
	if (imap_args_open(a) == -1)
		return -1;
	do {
		if (imap_args_keyword(a, "CHANGEDSINCE")) {
			if (imap_args_number64(a, &cmd->u.fetch.changedsince) == -1
			    || cmd->u.fetch.changedsince == 0)
				return imap_args_fail(a, "invalid CHANGEDSINCE modseq");
			cmd->u.fetch.has_changedsince = true;
		} else if (imap_args_keyword(a, "VANISHED"))
			cmd->u.fetch.vanished = true;
		else
			return imap_args_fail(a, "unknown FETCH modifier");
	} while (!imap_args_at_end(a));
	if (imap_args_close(a) == -1)
		return -1;
	/* VANISHED: UID FETCH with CHANGEDSINCE only (RFC 7162 section 3.2.6). */
	if (cmd->u.fetch.vanished
	    && (!cmd->u.fetch.has_changedsince || !(cmd->def->flags & IMAP_CMDF_UID)))
		return imap_args_fail(a, "VANISHED needs UID FETCH and CHANGEDSINCE");
	return 0;
}

/* ALL, FAST or FULL: the atts it stands for. */
static bool
macro(struct imap_args *a, struct imap_command *cmd)
{
	size_t		 i;
	unsigned	 j;

	for (i = 0; i < sizeof(macros) / sizeof(macros[0]); i++)
		if (imap_args_keyword(a, macros[i].name)) {
			for (j = 0; j < macros[i].n; j++)
				cmd->u.fetch.atts[j].item = simple_atts[j].item;
			cmd->u.fetch.natts = macros[i].n;
			return true;
		}
	return false;
}

int
imap_parse_fetch(struct imap_args *a, struct imap_command *cmd)
{
	struct imap_fetch_att	*atts;

	if (imap_args_seqset(a, &cmd->u.fetch.set) == -1)
		return -1;
	/* Never more atts than tokens, nor than a macro expands to. */
	atts = cmd->u.fetch.atts = imap_args_alloc(a, (a->n + 5) * sizeof(*atts));
	if (!macro(a, cmd) && !imap_args_peek_open(a)) {
		if (fetch_att(a, &atts[cmd->u.fetch.natts++]) == -1)
			return -1;
	} else if (cmd->u.fetch.natts == 0) {
		a->i++;
		do
			if (fetch_att(a, &atts[cmd->u.fetch.natts++]) == -1)
				return -1;
		while (!imap_args_at_end(a));
		if (imap_args_close(a) == -1)
			return -1;
	}
	if (imap_args_peek_open(a) && modifiers(a, cmd) == -1)
		return -1;
	return imap_args_end(a);
}
