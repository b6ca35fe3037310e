/*
 * The command table (imap_command.h) and the argument parsers of the
 * commands with small grammars; FETCH is in imap_cmd_fetch.c, SEARCH, SORT
 * and THREAD in imap_cmd_search.c.  Grammar references are RFC 3501
 * section 9 unless said otherwise.
 */
#include "imapd/imap_command.h"

#include "imapd/imap_args.h"

#include <string.h>
#include <strings.h>

#define ANY	(IMAP_STATE_NOT_AUTH | IMAP_STATE_AUTH | IMAP_STATE_SELECTED)
#define AUTHED	(IMAP_STATE_AUTH | IMAP_STATE_SELECTED)
#define SEL	IMAP_STATE_SELECTED

#define ID_MAX_PAIRS	30	/* RFC 2971 section 3.3 */

static int
parse_none(struct imap_args *a, struct imap_command *cmd)
{
	return imap_args_end(a);
}

static bool
is_base64(const char *s)
{
	size_t	 n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
	size_t	 pad = strspn(s + n, "=");

	return n > 0 && s[n + pad] == '\0' && pad <= 2 && (n + pad) % 4 == 0;
}

/* AUTHENTICATE mechanism [SP initial-response] (SASL-IR, RFC 4959): base64 or "=". */
static int
parse_authenticate(struct imap_args *a, struct imap_command *cmd)
{
	const char	*ir;

	if (imap_args_atom(a, &cmd->u.authenticate.mechanism) == -1)
		return -1;
	if (imap_args_at_end(a))
		return imap_args_end(a);
	if (imap_args_atom(a, &ir) == -1)
		return imap_args_fail(a, "invalid initial response");
	if (strcmp(ir, "=") == 0)
		ir = "";
	else if (!is_base64(ir))
		return imap_args_fail(a, "invalid base64 in initial response");
	cmd->u.authenticate.initial = ir;
	return imap_args_end(a);
}

static int
parse_login(struct imap_args *a, struct imap_command *cmd)
{
	if (imap_args_astring(a, &cmd->u.login.user) == -1
	    || imap_args_astring(a, &cmd->u.login.password) == -1)
		return -1;
	return imap_args_end(a);
}

/* ENABLE 1*(SP capability) (RFC 5161) */
static int
parse_enable(struct imap_args *a, struct imap_command *cmd)
{
	struct imap_strings	*caps = &cmd->u.enable;
	const char		*cap;

	caps->v = imap_args_alloc(a, a->n * sizeof(*caps->v));
	do {
		if (imap_args_atom(a, &cap) == -1)
			return imap_args_fail(a, "expected capability names");
		caps->v[caps->n++] = cap;
	} while (!imap_args_at_end(a));
	return imap_args_end(a);
}

/* ID ("(" *(string SP nstring) ")" / NIL) (RFC 2971) */
static int
parse_id(struct imap_args *a, struct imap_command *cmd)
{
	struct imap_strings	*id = &cmd->u.id;

	if (imap_args_keyword(a, "NIL"))
		return imap_args_end(a);
	if (imap_args_open(a) == -1)
		return imap_args_fail(a, "expected a list of name/value pairs or NIL");
	id->v = imap_args_alloc(a, 2 * ID_MAX_PAIRS * sizeof(*id->v));
	while (!imap_args_at_end(a)) {
		if (id->n == 2 * ID_MAX_PAIRS)
			return imap_args_fail(a, "too many ID fields");
		if (imap_args_string(a, &id->v[id->n]) == -1
		    || imap_args_nstring(a, &id->v[id->n + 1]) == -1)
			return imap_args_fail(a, "expected name/value string pairs");
		id->n += 2;
	}
	if (imap_args_close(a) == -1)
		return -1;
	id->n /= 2;
	return imap_args_end(a);
}

static int
parse_mailbox(struct imap_args *a, struct imap_command *cmd)
{
	if (imap_args_mailbox(a, &cmd->u.mailbox) == -1)
		return -1;
	return imap_args_end(a);
}

static int
parse_rename(struct imap_args *a, struct imap_command *cmd)
{
	if (imap_args_mailbox(a, &cmd->u.rename.from) == -1
	    || imap_args_mailbox(a, &cmd->u.rename.to) == -1)
		return -1;
	return imap_args_end(a);
}

/* QRESYNC (uidvalidity SP modseq [SP known-uids] [SP (seqs SP uids)]) (RFC 7162 3.2.5) */
static int
parse_qresync(struct imap_args *a, struct imap_command *cmd)
{
	uint64_t	 modseq;

	if (imap_args_open(a) == -1 || imap_args_nz_number(a, &cmd->u.select.uidvalidity) == -1
	    || imap_args_number64(a, &modseq) == -1)
		return imap_args_fail(a, "invalid QRESYNC parameters");
	if (modseq == 0)
		return imap_args_fail(a, "invalid QRESYNC modseq");
	cmd->u.select.modseq = modseq;
	if (!imap_args_at_end(a) && !imap_args_peek_open(a)) {
		if (imap_args_seqset(a, &cmd->u.select.known_uids) == -1)
			return -1;
		cmd->u.select.has_known_uids = true;
	}
	if (imap_args_peek_open(a)) {
		a->i++;
		if (imap_args_seqset(a, &cmd->u.select.match_seqs) == -1
		    || imap_args_seqset(a, &cmd->u.select.match_uids) == -1
		    || imap_args_close(a) == -1)
			return -1;
		cmd->u.select.has_seq_match = true;
	}
	return imap_args_close(a);
}

/* SELECT/EXAMINE mailbox [SP "(" select-param *(SP select-param) ")"] */
static int
parse_select(struct imap_args *a, struct imap_command *cmd)
{
	if (imap_args_mailbox(a, &cmd->u.select.mailbox) == -1)
		return -1;
	if (imap_args_at_end(a))
		return imap_args_end(a);
	if (imap_args_open(a) == -1)
		return -1;
	do {
		if (imap_args_keyword(a, "CONDSTORE"))
			cmd->u.select.condstore = true;
		else if (imap_args_keyword(a, "QRESYNC")) {
			if (cmd->u.select.qresync)
				return imap_args_fail(a, "QRESYNC given twice");
			cmd->u.select.qresync = true;
			if (parse_qresync(a, cmd) == -1)
				return -1;
		} else
			return imap_args_fail(a, "unknown SELECT parameter");
	} while (!imap_args_at_end(a));
	if (imap_args_close(a) == -1)
		return -1;
	return imap_args_end(a);
}

static int
status_att(struct imap_args *a, unsigned *items)
{
	static const struct { const char *name; unsigned bit; } atts[] = {
		{ "MESSAGES", IMAP_STATUS_MESSAGES }, { "RECENT", IMAP_STATUS_RECENT },
		{ "UIDNEXT", IMAP_STATUS_UIDNEXT }, { "UIDVALIDITY", IMAP_STATUS_UIDVALIDITY },
		{ "UNSEEN", IMAP_STATUS_UNSEEN }, { "HIGHESTMODSEQ", IMAP_STATUS_HIGHESTMODSEQ },
		{ "SIZE", IMAP_STATUS_SIZE },
	};
	size_t	 i;

	for (i = 0; i < sizeof(atts) / sizeof(atts[0]); i++)
		if (imap_args_keyword(a, atts[i].name)) {
			*items |= atts[i].bit;
			return 0;
		}
	return imap_args_fail(a, "unknown STATUS item");
}

/* "(" status-att *(SP status-att) ")" */
static int
status_atts(struct imap_args *a, unsigned *items)
{
	if (imap_args_open(a) == -1)
		return imap_args_fail(a, "expected a list of STATUS items");
	do
		if (status_att(a, items) == -1)
			return -1;
	while (!imap_args_at_end(a));
	return imap_args_close(a);
}

static int
parse_status(struct imap_args *a, struct imap_command *cmd)
{
	if (imap_args_mailbox(a, &cmd->u.status.mailbox) == -1
	    || status_atts(a, &cmd->u.status.items) == -1)
		return -1;
	return imap_args_end(a);
}

/* list-select-opts (RFC 5258 section 6, RFC 6154 section 6) */
static int
list_select(struct imap_args *a, unsigned *opts)
{
	a->i++;		/* "(" */
	while (!imap_args_at_end(a)) {
		if (imap_args_keyword(a, "SUBSCRIBED"))
			*opts |= IMAP_LIST_SEL_SUBSCRIBED;
		else if (imap_args_keyword(a, "REMOTE"))
			*opts |= IMAP_LIST_SEL_REMOTE;
		else if (imap_args_keyword(a, "RECURSIVEMATCH"))
			*opts |= IMAP_LIST_SEL_RECURSIVEMATCH;
		else if (imap_args_keyword(a, "SPECIAL-USE"))
			*opts |= IMAP_LIST_SEL_SPECIAL_USE;
		else
			return imap_args_fail(a, "unknown LIST selection option");
	}
	/* RECURSIVEMATCH only modifies another option (RFC 5258 section 3). */
	if ((*opts & IMAP_LIST_SEL_RECURSIVEMATCH)
	    && (*opts & (IMAP_LIST_SEL_SUBSCRIBED | IMAP_LIST_SEL_SPECIAL_USE)) == 0)
		return imap_args_fail(a, "RECURSIVEMATCH without a selection option");
	return imap_args_close(a);
}

/* RETURN "(" [return-option *(SP return-option)] ")" (RFC 5258, 5819, 6154) */
static int
list_return(struct imap_args *a, unsigned *opts, unsigned *status_items)
{
	if (imap_args_open(a) == -1)
		return -1;
	while (!imap_args_at_end(a)) {
		if (imap_args_keyword(a, "SUBSCRIBED"))
			*opts |= IMAP_LIST_RET_SUBSCRIBED;
		else if (imap_args_keyword(a, "CHILDREN"))
			*opts |= IMAP_LIST_RET_CHILDREN;
		else if (imap_args_keyword(a, "SPECIAL-USE"))
			*opts |= IMAP_LIST_RET_SPECIAL_USE;
		else if (imap_args_keyword(a, "STATUS")) {
			*opts |= IMAP_LIST_RET_STATUS;
			if (status_atts(a, status_items) == -1)
				return -1;
		} else
			return imap_args_fail(a, "unknown LIST return option");
	}
	return imap_args_close(a);
}

/* LIST [SP list-select-opts] SP mailbox SP mbox-or-pat [SP list-return-opts] */
static int
parse_list(struct imap_args *a, struct imap_command *cmd)
{
	struct imap_strings	*pat = &cmd->u.list.patterns;
	const char		*s;

	if (imap_args_peek_open(a) && list_select(a, &cmd->u.list.select_opts) == -1)
		return -1;
	if (imap_args_astring(a, &cmd->u.list.reference) == -1)
		return imap_args_fail(a, "expected a reference name");
	pat->v = imap_args_alloc(a, a->n * sizeof(*pat->v));
	if (imap_args_peek_open(a)) {
		a->i++;
		do {
			if (imap_args_list_mailbox(a, &s) == -1)
				return -1;
			pat->v[pat->n++] = s;
		} while (!imap_args_at_end(a));
		if (imap_args_close(a) == -1)
			return -1;
	} else {
		if (imap_args_list_mailbox(a, &s) == -1)
			return -1;
		pat->v[pat->n++] = s;
	}
	if (imap_args_keyword(a, "RETURN")
	    && list_return(a, &cmd->u.list.return_opts, &cmd->u.list.status_items) == -1)
		return -1;
	return imap_args_end(a);
}

/* LSUB mailbox SP list-mailbox */
static int
parse_lsub(struct imap_args *a, struct imap_command *cmd)
{
	struct imap_strings	*pat = &cmd->u.list.patterns;

	if (imap_args_astring(a, &cmd->u.list.reference) == -1)
		return imap_args_fail(a, "expected a reference name");
	pat->v = imap_args_alloc(a, sizeof(*pat->v));
	if (imap_args_list_mailbox(a, &pat->v[0]) == -1)
		return -1;
	pat->n = 1;
	return imap_args_end(a);
}

/* APPEND mailbox [SP flag-list] [SP date-time] SP literal (the literal streamed) */
static int
parse_append(struct imap_args *a, struct imap_command *cmd)
{
	if (imap_args_mailbox(a, &cmd->u.append.mailbox) == -1)
		return -1;
	if (imap_args_peek_open(a) && imap_args_flag_list(a, &cmd->u.append.flags) == -1)
		return -1;
	if (a->i < a->n && a->t[a->i].type == IMAP_TOKEN_QUOTED) {
		if (imap_args_date_time(a, &cmd->u.append.date) == -1)
			return -1;
		cmd->u.append.has_date = true;
	}
	if (a->i == a->n || a->t[a->i].type != IMAP_TOKEN_STREAM)
		return imap_args_fail(a, "expected the message as a literal");
	cmd->u.append.size = a->t[a->i++].size;
	return imap_args_end(a);
}

/* ["+" / "-"] "FLAGS" [".SILENT"] */
static int
store_op(struct imap_args *a, struct imap_command *cmd)
{
	const char	*s;

	if (imap_args_atom(a, &s) == -1)
		return imap_args_fail(a, "expected FLAGS, +FLAGS or -FLAGS");
	cmd->u.store.op = *s == '+' ? IMAP_STORE_ADD : *s == '-' ? IMAP_STORE_REMOVE
	    : IMAP_STORE_SET;
	if (*s == '+' || *s == '-')
		s++;
	if (strncasecmp(s, "FLAGS", 5) != 0)
		return imap_args_fail(a, "expected FLAGS, +FLAGS or -FLAGS");
	s += 5;
	cmd->u.store.silent = strcasecmp(s, ".SILENT") == 0;
	if (*s != '\0' && !cmd->u.store.silent)
		return imap_args_fail(a, "expected FLAGS, +FLAGS or -FLAGS");
	return 0;
}

/* STORE set [SP "(" UNCHANGEDSINCE SP modseq ")"] SP op SP (flag-list / flag *(SP flag)) */
static int
parse_store(struct imap_args *a, struct imap_command *cmd)
{
	const char	*flag;

	if (imap_args_seqset(a, &cmd->u.store.set) == -1)
		return -1;
	if (imap_args_peek_open(a)) {	/* RFC 7162 section 3.1.3 */
		a->i++;
		if (!imap_args_keyword(a, "UNCHANGEDSINCE")
		    || imap_args_number64(a, &cmd->u.store.unchangedsince) == -1
		    || imap_args_close(a) == -1)
			return imap_args_fail(a, "invalid STORE modifier");
		cmd->u.store.has_unchangedsince = true;
	}
	if (store_op(a, cmd) == -1)
		return -1;
	if (imap_args_peek_open(a)) {
		if (imap_args_flag_list(a, &cmd->u.store.flags) == -1)
			return -1;
		return imap_args_end(a);
	}
	cmd->u.store.flags.v = imap_args_alloc(a, a->n * sizeof(*cmd->u.store.flags.v));
	do {
		if (imap_args_flag(a, &flag) == -1)
			return -1;
		cmd->u.store.flags.v[cmd->u.store.flags.n++] = flag;
	} while (!imap_args_at_end(a));
	return imap_args_end(a);
}

/* COPY/MOVE set SP mailbox */
static int
parse_copy(struct imap_args *a, struct imap_command *cmd)
{
	if (imap_args_seqset(a, &cmd->u.copy.set) == -1
	    || imap_args_mailbox(a, &cmd->u.copy.mailbox) == -1)
		return -1;
	return imap_args_end(a);
}

/* UID EXPUNGE set (UIDPLUS, RFC 4315) */
static int
parse_uid_expunge(struct imap_args *a, struct imap_command *cmd)
{
	if (imap_args_seqset(a, &cmd->u.uid_expunge) == -1)
		return -1;
	return imap_args_end(a);
}

#define UID		IMAP_CMDF_UID
#define NO_EXPUNGE	IMAP_CMDF_NO_EXPUNGE

const struct imap_command_def imap_commands[] = {
	{ "CAPABILITY",	IMAP_CMD_CAPABILITY,	ANY,	0,		parse_none },
	{ "NOOP",	IMAP_CMD_NOOP,		ANY,	0,		parse_none },
	{ "LOGOUT",	IMAP_CMD_LOGOUT,	ANY,	0,		parse_none },
	{ "ID",		IMAP_CMD_ID,		ANY,	0,		parse_id },
	{ "STARTTLS",	IMAP_CMD_STARTTLS,	IMAP_STATE_NOT_AUTH, 0,	parse_none },
	{ "AUTHENTICATE", IMAP_CMD_AUTHENTICATE, IMAP_STATE_NOT_AUTH, 0, parse_authenticate },
	{ "LOGIN",	IMAP_CMD_LOGIN,		IMAP_STATE_NOT_AUTH, 0,	parse_login },
	{ "ENABLE",	IMAP_CMD_ENABLE,	AUTHED,	0,		parse_enable },
	{ "SELECT",	IMAP_CMD_SELECT,	AUTHED,	0,		parse_select },
	{ "EXAMINE",	IMAP_CMD_EXAMINE,	AUTHED,	0,		parse_select },
	{ "CREATE",	IMAP_CMD_CREATE,	AUTHED,	0,		parse_mailbox },
	{ "DELETE",	IMAP_CMD_DELETE,	AUTHED,	0,		parse_mailbox },
	{ "RENAME",	IMAP_CMD_RENAME,	AUTHED,	0,		parse_rename },
	{ "SUBSCRIBE",	IMAP_CMD_SUBSCRIBE,	AUTHED,	0,		parse_mailbox },
	{ "UNSUBSCRIBE", IMAP_CMD_UNSUBSCRIBE,	AUTHED,	0,		parse_mailbox },
	{ "LIST",	IMAP_CMD_LIST,		AUTHED,	0,		parse_list },
	{ "LSUB",	IMAP_CMD_LSUB,		AUTHED,	0,		parse_lsub },
	{ "NAMESPACE",	IMAP_CMD_NAMESPACE,	AUTHED,	0,		parse_none },
	{ "STATUS",	IMAP_CMD_STATUS,	AUTHED,	0,		parse_status },
	{ "APPEND",	IMAP_CMD_APPEND,	AUTHED,	IMAP_CMDF_STREAM, parse_append },
	{ "IDLE",	IMAP_CMD_IDLE,		AUTHED,	0,		parse_none },
	{ "CHECK",	IMAP_CMD_CHECK,		SEL,	0,		parse_none },
	{ "CLOSE",	IMAP_CMD_CLOSE,		SEL,	0,		parse_none },
	{ "UNSELECT",	IMAP_CMD_UNSELECT,	SEL,	0,		parse_none },
	{ "EXPUNGE",	IMAP_CMD_EXPUNGE,	SEL,	0,		parse_none },
	{ "SEARCH",	IMAP_CMD_SEARCH,	SEL,	NO_EXPUNGE,	imap_parse_search },
	{ "FETCH",	IMAP_CMD_FETCH,		SEL,	NO_EXPUNGE,	imap_parse_fetch },
	{ "STORE",	IMAP_CMD_STORE,		SEL,	NO_EXPUNGE,	parse_store },
	{ "COPY",	IMAP_CMD_COPY,		SEL,	0,		parse_copy },
	{ "MOVE",	IMAP_CMD_MOVE,		SEL,	0,		parse_copy },
	{ "SORT",	IMAP_CMD_SORT,		SEL,	NO_EXPUNGE,	imap_parse_sort },
	{ "THREAD",	IMAP_CMD_THREAD,	SEL,	NO_EXPUNGE,	imap_parse_thread },
	/* The UID forms may see EXPUNGE responses (RFC 3501 section 7.4.1). */
	{ "UID SEARCH",	IMAP_CMD_SEARCH,	SEL,	UID,		imap_parse_search },
	{ "UID FETCH",	IMAP_CMD_FETCH,		SEL,	UID,		imap_parse_fetch },
	{ "UID STORE",	IMAP_CMD_STORE,		SEL,	UID,		parse_store },
	{ "UID COPY",	IMAP_CMD_COPY,		SEL,	UID,		parse_copy },
	{ "UID MOVE",	IMAP_CMD_MOVE,		SEL,	UID,		parse_copy },
	{ "UID EXPUNGE", IMAP_CMD_EXPUNGE,	SEL,	UID,		parse_uid_expunge },
	{ "UID SORT",	IMAP_CMD_SORT,		SEL,	UID,		imap_parse_sort },
	{ "UID THREAD",	IMAP_CMD_THREAD,	SEL,	UID,		imap_parse_thread },
};
const unsigned imap_ncommands = sizeof(imap_commands) / sizeof(imap_commands[0]);

const struct imap_command_def *
imap_command_find(const char *name, size_t len)
{
	unsigned	 i;

	for (i = 0; i < imap_ncommands; i++)
		if (strlen(imap_commands[i].name) == len
		    && strncasecmp(imap_commands[i].name, name, len) == 0)
			return &imap_commands[i];
	return NULL;
}

bool
imap_command_allowed(const struct imap_command_def *def, enum imap_state state)
{
	return (def->states & state) != 0;
}
