/*
 * LIST and LSUB over the store's folder list and subscriptions.
 *
 * One model for every form (RFC 5258 section 3): the candidates are the
 * folders (with the store's \Noselect parents), the subscribed names and,
 * when a parent may stand in for its children (RECURSIVEMATCH, and LSUB's
 * '%' rule of RFC 3501 6.3.9), their parents.  A candidate is listed when
 * its wire name matches a pattern and it meets the selection criteria, or
 * when it matches and has a descendant that meets them without matching
 * (CHILDINFO; in LSUB a \Noselect line).
 */
#include "imapd/imap_list.h"
#include "imapd/imap_command.h"
#include "imapd/imap_folders.h"
#include "lib/buf.h"
#include "lib/xmalloc.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Room for the wire form of a folder name (UTF-8 takes at most twice the bytes). */
#define WIRE_NAME_MAX	(2 * STORE_FOLDER_NAME_MAX + 16)

struct entry {
	const char	*folder;	/* store name */
	unsigned	 attrs;		/* FOLDER_* from the store */
	bool		 exists;	/* in the store's list (perhaps as a \Noselect parent) */
	bool		 subscribed;
	bool		 selected, matched, childinfo;
	char		*wire;		/* NULL: no valid wire form, never listed */
};

struct entries {
	struct entry	*v;
	size_t		 n, cap;
};

void
imap_list_request_init(struct imap_list_request *r, const struct imap_command *cmd, bool utf8)
{
	memset(r, 0, sizeof(*r));
	r->lsub = cmd->def->id == IMAP_CMD_LSUB;
	r->utf8 = utf8;
	r->select_opts = cmd->u.list.select_opts;
	r->reference = cmd->u.list.reference;
	r->patterns = cmd->u.list.patterns.v;
	r->npatterns = cmd->u.list.patterns.n;
	r->return_opts = cmd->u.list.return_opts;
	r->status_items = cmd->u.list.status_items;
}

/* Runs of wildcards as one: "%%" is "%", any run with a '*' is "*". */
static void
collapse_wildcards(char *s)
{
	char	*w = s;
	bool	 star;

	while (*s != '\0') {
		if (*s != '*' && *s != '%') {
			*w++ = *s++;
			continue;
		}
		for (star = false; *s == '*' || *s == '%'; s++)
			star |= *s == '*';
		*w++ = star ? '*' : '%';
	}
	*w = '\0';
}

char *
imap_list_canonical(const char *reference, const char *pattern)
{
	size_t	 rlen = strlen(reference), plen;
	char	*s;

	if (rlen > 0 && reference[rlen - 1] == IMAP_HIERARCHY_DELIM &&
	    pattern[0] == IMAP_HIERARCHY_DELIM)
		pattern++;
	plen = strlen(pattern);
	s = xmalloc(size_add(size_add(rlen, plen), 1));
	memcpy(s, reference, rlen);
	memcpy(s + rlen, pattern, plen + 1);
	collapse_wildcards(s);
	return s;
}

bool
imap_list_match(const char *pattern, const char *name)
{
	size_t		 n = strlen(name), literals = 0, i;
	bool		*at, ci = strcmp(name, "INBOX") == 0, ok;
	const char	*p;

	/* Each literal takes one character: a longer pattern cannot match. */
	for (p = pattern; *p != '\0'; p++)
		literals += *p != '*' && *p != '%';
	if (literals > n)
		return false;
	/* at[i]: the pattern so far can match exactly name[0..i). */
	at = xcalloc(n + 1, sizeof(*at));
	at[0] = true;
	for (p = pattern; *p != '\0'; p++) {
		if (*p == '*' || *p == '%') {
			for (i = 1; i <= n; i++)
				at[i] = at[i] || (at[i - 1] &&
				    (*p == '*' || name[i - 1] != IMAP_HIERARCHY_DELIM));
			continue;
		}
		for (i = n; i > 0; i--)
			at[i] = at[i - 1] && (ci ? strncasecmp(p, name + i - 1, 1) == 0 :
			    *p == name[i - 1]);
		at[0] = false;
	}
	ok = at[n];
	free(at);
	return ok;
}

static struct entry *
add(struct entries *e, const char *folder, size_t len)
{
	struct entry	*x;

	if (e->n == e->cap) {
		e->cap = e->cap == 0 ? 32 : e->cap * 2;
		e->v = xreallocarray(e->v, e->cap, sizeof(*e->v));
	}
	x = &e->v[e->n++];
	memset(x, 0, sizeof(*x));
	x->folder = xstrndup(folder, len);
	return x;
}

/* INBOX first, then by name; the store's entry of a name before a subscription's. */
static int
entry_cmp(const void *a, const void *b)
{
	const struct entry	*x = a, *y = b;
	int			 xi = strcmp(x->folder, "INBOX") == 0;
	int			 yi = strcmp(y->folder, "INBOX") == 0;
	int			 c;

	if (xi != yi)
		return yi - xi;
	if ((c = strcmp(x->folder, y->folder)) != 0)
		return c;
	return (int)y->exists - (int)x->exists;
}

/* The candidates, sorted, one per name. */
static void
collect(const struct imap_list_request *req, const struct imap_list_store *data,
    struct entries *e)
{
	bool		 subs = req->lsub || (req->select_opts & IMAP_LIST_SEL_SUBSCRIBED);
	bool		 parents = req->lsub || (req->select_opts & IMAP_LIST_SEL_RECURSIVEMATCH);
	const char	*s, *dot;
	struct entry	*x;
	size_t		 i, n;

	for (i = 0; i < data->nfolders; i++) {
		x = add(e, data->folders[i].name, strlen(data->folders[i].name));
		x->attrs = data->folders[i].attrs;
		x->exists = true;
	}
	if (subs || (req->return_opts & IMAP_LIST_RET_SUBSCRIBED))
		for (i = 0; i < data->nsubscribed; i++) {
			s = data->subscribed[i];
			add(e, s, strlen(s))->subscribed = true;
			for (dot = strchr(s, '.'); parents && dot != NULL; dot = strchr(dot + 1, '.'))
				add(e, s, (size_t)(dot - s));
		}
	qsort(e->v, e->n, sizeof(*e->v), entry_cmp);
	/* Merge the entries of one name into its first. */
	for (i = n = 0; i < e->n; i++) {
		if (n > 0 && strcmp(e->v[i].folder, e->v[n - 1].folder) == 0) {
			e->v[n - 1].subscribed |= e->v[i].subscribed;
			free((char *)e->v[i].folder);
			continue;
		}
		e->v[n++] = e->v[i];
	}
	e->n = n;
}

static bool
selected(const struct imap_list_request *req, const struct entry *x)
{
	const unsigned	 special = FOLDER_SENT | FOLDER_DRAFTS | FOLDER_TRASH | FOLDER_JUNK |
	    FOLDER_ARCHIVE;

	if (req->lsub)
		return x->subscribed;
	if ((req->select_opts & IMAP_LIST_SEL_SUBSCRIBED) && !x->subscribed)
		return false;
	if ((req->select_opts & IMAP_LIST_SEL_SPECIAL_USE) && !(x->attrs & special))
		return false;
	/* Without a selection option, what exists; a subscription alone is not listed. */
	return (req->select_opts & (IMAP_LIST_SEL_SUBSCRIBED | IMAP_LIST_SEL_SPECIAL_USE)) != 0 ||
	    x->exists;
}

static bool
matches(char *const *canon, size_t n, const char *wire)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (imap_list_match(canon[i], wire))
			return true;
	return false;
}

/* Descendants of e->v[i] follow it: the names that begin with its name. */
static bool
is_descendant(const struct entry *parent, const struct entry *x)
{
	size_t	 len = strlen(parent->folder);

	return strncmp(x->folder, parent->folder, len) == 0 &&
	    x->folder[len] == IMAP_HIERARCHY_DELIM;
}

/*
 * Wire names, selection and matches; -1 (nothing decided) when matching
 * would take more than the request's budget of pattern x name cells.
 */
static int
classify(const struct imap_list_request *req, struct entries *e)
{
	struct buf	 b;
	char		**canon;
	size_t		 i, j, plen = 0, cells = 0, budget = req->match_cells_max;

	if (budget == 0)
		budget = IMAP_LIST_MATCH_CELLS_DEFAULT;
	canon = xreallocarray(NULL, req->npatterns, sizeof(*canon));
	for (i = 0; i < req->npatterns; i++) {
		canon[i] = imap_list_canonical(req->reference, req->patterns[i]);
		plen = size_add(plen, strlen(canon[i]) + 1);
	}
	buf_init(&b, WIRE_NAME_MAX);
	for (i = 0; i < e->n && cells <= budget; i++) {
		buf_reset(&b);
		if (imap_folder_to_name(e->v[i].folder, req->utf8, &b) == -1 ||
		    buf_append(&b, "", 1) == -1)
			continue;
		cells = size_add(cells, size_mul(plen, buf_len(&b)));
		e->v[i].wire = xstrdup(buf_head(&b));
		e->v[i].selected = selected(req, &e->v[i]);
		e->v[i].matched = matches(canon, req->npatterns, e->v[i].wire);
	}
	buf_release(&b);
	for (i = 0; i < req->npatterns; i++)
		free(canon[i]);
	free(canon);
	if (cells > budget)
		return -1;
	if (!req->lsub && !(req->select_opts & IMAP_LIST_SEL_RECURSIVEMATCH))
		return 0;
	for (i = 0; i < e->n; i++) {
		if (!e->v[i].matched || e->v[i].wire == NULL)
			continue;
		for (j = i + 1; j < e->n && !e->v[i].childinfo; j++) {
			if (strncmp(e->v[j].folder, e->v[i].folder, strlen(e->v[i].folder)) != 0)
				break;
			e->v[i].childinfo = is_descendant(&e->v[i], &e->v[j]) &&
			    e->v[j].wire != NULL && e->v[j].selected && !e->v[j].matched;
		}
	}
	return 0;
}

static bool
has_children(const struct entries *e, size_t i)
{
	size_t	 j;

	for (j = i + 1; j < e->n; j++) {
		if (strncmp(e->v[j].folder, e->v[i].folder, strlen(e->v[i].folder)) != 0)
			return false;
		if (is_descendant(&e->v[i], &e->v[j]) && e->v[j].exists)
			return true;
	}
	return false;
}

static int
put_attrs(const struct imap_list_request *req, const struct entries *e, size_t i,
    struct buf *out)
{
	static const struct {
		unsigned	 attr;
		const char	*name;
	} special[] = {
		{ FOLDER_SENT, "\\Sent" }, { FOLDER_DRAFTS, "\\Drafts" },
		{ FOLDER_TRASH, "\\Trash" }, { FOLDER_JUNK, "\\Junk" },
		{ FOLDER_ARCHIVE, "\\Archive" },
	};
	const struct entry	*x = &e->v[i];
	bool			 extended = req->select_opts != 0 || req->return_opts != 0 ||
	    req->npatterns > 1;
	const char		*sep = "";
	size_t			 k;
	int			 rc = 0;

#define ATTR(s)	(rc |= buf_printf(out, "%s%s", sep, (s)), sep = " ")
	if (req->lsub) {
		if (!x->selected || !x->exists || (x->attrs & FOLDER_NOSELECT))
			ATTR("\\Noselect");
		return rc;
	}
	if (!x->exists)
		ATTR(extended ? "\\NonExistent" : "\\Noselect");
	else if (x->attrs & FOLDER_NOSELECT)
		ATTR("\\Noselect");
	if (x->subscribed && ((req->select_opts & IMAP_LIST_SEL_SUBSCRIBED) ||
	    (req->return_opts & IMAP_LIST_RET_SUBSCRIBED)))
		ATTR("\\Subscribed");
	/* A parent listed for its children's sake has children, if only names. */
	ATTR(x->childinfo || has_children(e, i) ? "\\HasChildren" : "\\HasNoChildren");
	for (k = 0; x->exists && k < sizeof(special) / sizeof(special[0]); k++)
		if (x->attrs & special[k].attr)
			ATTR(special[k].name);
#undef ATTR
	return rc;
}

static int
put_entry(const struct imap_list_request *req, const struct entries *e, size_t i,
    imap_list_status_fn *status, void *ctx, struct buf *out)
{
	const struct entry	*x = &e->v[i];
	struct mailbox_status	 st;

	if (buf_puts(out, req->lsub ? "* LSUB (" : "* LIST (") == -1 ||
	    put_attrs(req, e, i, out) == -1 || buf_puts(out, ") \".\" ") == -1 ||
	    imap_append_mailbox(out, x->wire, req->utf8) == -1)
		return -1;
	if (!req->lsub && x->childinfo && (req->select_opts & IMAP_LIST_SEL_SUBSCRIBED) &&
	    buf_puts(out, " (\"CHILDINFO\" (\"SUBSCRIBED\"))") == -1)
		return -1;
	if (buf_puts(out, "\r\n") == -1)
		return -1;
	if (!req->lsub && (req->return_opts & IMAP_LIST_RET_STATUS) && status != NULL &&
	    x->exists && !(x->attrs & FOLDER_NOSELECT) && status(ctx, x->folder, &st) == 0)
		return imap_status_append(out, x->wire, req->utf8, req->status_items, &st);
	return 0;
}

static void
entries_free(struct entries *e)
{
	size_t	 i;

	for (i = 0; i < e->n; i++) {
		free((char *)e->v[i].folder);
		free(e->v[i].wire);
	}
	free(e->v);
}

int
imap_list(const struct imap_list_request *req, const struct imap_list_store *data,
    imap_list_status_fn *status, void *ctx, struct buf *out, struct imap_no *no_r)
{
	struct entries	 e = { NULL, 0, 0 };
	size_t		 i, start = buf_len(out);
	int		 rc = 0;

	no_r->code = "LIMIT";
	no_r->text = "Too many mailboxes to list at once";
	no_r->detail = NULL;

	/* LIST "" "": the hierarchy delimiter and the root (RFC 3501 6.3.8). */
	if (req->npatterns == 1 && req->patterns[0][0] == '\0')
		rc = buf_puts(out, req->lsub ? "* LSUB (\\Noselect) \".\" \"\"\r\n" :
		    "* LIST (\\Noselect) \".\" \"\"\r\n");
	else {
		collect(req, data, &e);
		if ((rc = classify(req, &e)) == -1)
			no_r->text = "Pattern too complex for this many mailboxes";
		for (i = 0; i < e.n && rc == 0; i++)
			if (e.v[i].wire != NULL && e.v[i].matched &&
			    (e.v[i].selected || e.v[i].childinfo))
				rc = put_entry(req, &e, i, status, ctx, out);
		entries_free(&e);
	}
	if (rc == -1)
		buf_truncate(out, start);	/* nothing half-written */
	return rc;
}
