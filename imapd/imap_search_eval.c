/*
 * The key tree prepared once (strings folded, children ordered by cost)
 * and evaluated per message with short-circuit AND / OR.
 */
#include "imapd/imap_search_private.h"

#include "lib/unicase.h"
#include "lib/xmalloc.h"
#include "mail/mime.h"
#include "store/store.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

bool
imap_search_charset_ok(const char *cs)
{
	return cs == NULL || strcasecmp(cs, "UTF-8") == 0 || strcasecmp(cs, "US-ASCII") == 0;
}

static long
day_of(time_t t)
{
	return (long)(t >= 0 ? t / 86400 : -((-t + 86399) / 86400));
}

static char *
fold(const char *s, size_t *len_r)
{
	struct buf	 b;
	char		*r;

	buf_init(&b, size_add(size_mul(strlen(s), 2), 8));
	(void)unicase_fold_utf8(&b, s, strlen(s));
	*len_r = buf_len(&b);
	r = xstrndup(*len_r > 0 ? buf_head(&b) : "", *len_r);
	buf_release(&b);
	return r;
}

static int
cmp_cost(const void *a, const void *b)
{
	const struct search_node	*x = a, *y = b;

	return (int)x->cost - (int)y->cost;
}

static const char *
header_of(enum imap_search_type t)
{
	switch (t) {
	case IMAP_SK_BCC:	return "bcc";
	case IMAP_SK_CC:	return "cc";
	case IMAP_SK_FROM:	return "from";
	case IMAP_SK_SUBJECT:	return "subject";
	case IMAP_SK_TO:	return "to";
	default:		return NULL;
	}
}

static void	prepare(const struct imap_search_key *k, struct search_node *n, struct imap_search_run *run);

static void
prepare_kids(const struct imap_search_key *k, struct search_node *n, struct imap_search_run *run)
{
	const struct imap_search_key	*c;
	size_t				 i = 0;

	for (c = k->child; c != NULL; c = c->next)
		n->nkids++;
	n->kids = xcalloc(n->nkids == 0 ? 1 : n->nkids, sizeof(*n->kids));
	n->cost = COST_INFO;
	for (c = k->child; c != NULL; c = c->next, i++) {
		prepare(c, &n->kids[i], run);
		if (n->kids[i].cost > n->cost)
			n->cost = n->kids[i].cost;
	}
	/* qsort is not stable, but siblings of equal cost may go in any order */
	qsort(n->kids, n->nkids, sizeof(*n->kids), cmp_cost);
}

static void
prepare(const struct imap_search_key *k, struct search_node *n, struct imap_search_run *run)
{
	const char	*h;
	size_t		 flen;

	n->type = k->type;
	n->number = k->number;
	n->day = day_of(k->date);
	n->set = &k->set;
	n->cost = COST_INFO;
	switch (k->type) {
	case IMAP_SK_AND: case IMAP_SK_OR: case IMAP_SK_NOT:
		prepare_kids(k, n, run);
		return;
	case IMAP_SK_KEYWORD: case IMAP_SK_UNKEYWORD:
		n->cost = COST_KEYWORDS;
		n->keyword = xstrdup(k->str);
		return;
	case IMAP_SK_BCC: case IMAP_SK_CC: case IMAP_SK_FROM: case IMAP_SK_SUBJECT:
	case IMAP_SK_TO: case IMAP_SK_HEADER:
		n->cost = k->type != IMAP_SK_HEADER && run->view.envelope != NULL ?
		    COST_ENVELOPE : COST_HEADER;
		h = k->type == IMAP_SK_HEADER ? k->str : header_of(k->type);
		n->field = fold(h, &flen);
		n->needle = fold(k->type == IMAP_SK_HEADER ? k->str2 : k->str, &n->needle_len);
		return;
	case IMAP_SK_SENTBEFORE: case IMAP_SK_SENTON: case IMAP_SK_SENTSINCE:
		n->cost = run->view.envelope != NULL ? COST_ENVELOPE : COST_HEADER;
		return;
	case IMAP_SK_BODY: case IMAP_SK_TEXT:
		n->cost = COST_BODY;
		n->needle = fold(k->str, &n->needle_len);
		return;
	case IMAP_SK_MODSEQ:
		run->result.has_modseq = true;
		return;
	default:
		return;
	}
}

static void
node_free(struct search_node *n)
{
	size_t	 i;

	for (i = 0; i < n->nkids; i++)
		node_free(&n->kids[i]);
	free(n->kids);
	free(n->field);
	free(n->needle);
	free(n->keyword);
}

int
imap_search_begin(const struct imap_search *search, const struct imap_search_view *view,
    struct imap_search_run **run_r, const char **error_r)
{
	struct imap_search_run	*run;

	if (!imap_search_charset_ok(search->charset)) {
		*error_r = IMAP_SEARCH_BADCHARSET " Only UTF-8 and US-ASCII are supported";
		return -1;
	}
	run = xcalloc(1, sizeof(*run));
	run->view = *view;
	run->max_uid = view->n > 0 ? view->msgs[view->n - 1].uid : 0;
	run->root = xcalloc(1, sizeof(*run->root));
	prepare(search->key, run->root, run);
	run->msg.fd = -1;
	buf_init(&run->msg.file, 256 * 1024);
	buf_init(&run->msg.header, 0);
	buf_init(&run->msg.env, 0);
	buf_init(&run->msg.env_raw, 0);
	buf_init(&run->msg.env_date, 0);
	buf_init(&run->msg.body, 0);
	*run_r = run;
	return 0;
}

/* Whether the space-separated list has the keyword (flag-keyword: case-insensitive). */
static bool
has_keyword(const char *list, const char *kw)
{
	size_t	 len = strlen(kw), n;

	while (list != NULL && *list != '\0') {
		n = strcspn(list, " ");
		if (n == len && strncasecmp(list, kw, len) == 0)
			return true;
		list += n;
		list += strspn(list, " ");
	}
	return false;
}

static enum env_field
env_field_of(enum imap_search_type t)
{
	switch (t) {
	case IMAP_SK_SUBJECT:	return ENV_SUBJECT;
	case IMAP_SK_FROM:	return ENV_FROM;
	case IMAP_SK_TO:	return ENV_TO;
	case IMAP_SK_CC:	return ENV_CC;
	case IMAP_SK_BCC:	return ENV_BCC;
	default:		return ENV_COUNT;
	}
}

/* Whether b[start, start + len) holds needle ("" is in everything; an empty buffer's head is NULL). */
static bool
contains(const struct buf *b, size_t start, size_t len, const struct search_node *n)
{
	return n->needle_len == 0 || (len >= n->needle_len &&
	    memmem(buf_head(b) + start, len, n->needle, n->needle_len) != NULL);
}

static bool
header_match(struct imap_search_run *run, const struct search_node *n)
{
	struct search_msg	*m = &run->msg;
	const struct env_section *e;
	size_t			 i, flen = strlen(n->field);

	if (n->cost == COST_ENVELOPE && search_msg_envelope(run, m) &&
	    (e = search_msg_env_field(m, env_field_of(n->type))) != NULL)
		return e->present && contains(&m->env, e->start, e->len, n);
	if (!search_msg_header(run, m))
		return false;
	for (i = 0; i < m->nfields; i++) {
		const struct search_field	*f = &m->fields[i];

		if (f->name_len != flen || memcmp(buf_head(&m->header) + f->name, n->field, flen) != 0)
			continue;
		/* HEADER x "": any message with the field (RFC 3501) */
		if (contains(&m->header, f->value, f->value_len, n))
			return true;
	}
	return false;
}

static bool
text_match(struct imap_search_run *run, const struct search_node *n)
{
	struct search_msg	*m = &run->msg;

	if (n->type == IMAP_SK_TEXT && search_msg_header(run, m) &&
	    contains(&m->header, 0, buf_len(&m->header), n))
		return true;
	return search_msg_body(run, m) && contains(&m->body, 0, buf_len(&m->body), n);
}

static bool	eval(struct imap_search_run *run, const struct search_node *n);

static bool
eval_info(struct imap_search_run *run, const struct search_node *n)
{
	const struct msg_info	*mi = &run->view.msgs[run->msg.i];
	uint32_t		 f = mi->flags;

	switch (n->type) {
	case IMAP_SK_ALL:		return true;
	case IMAP_SK_ANSWERED:		return (f & MSG_ANSWERED) != 0;
	case IMAP_SK_DELETED:		return (f & MSG_DELETED) != 0;
	case IMAP_SK_DRAFT:		return (f & MSG_DRAFT) != 0;
	case IMAP_SK_FLAGGED:		return (f & MSG_FLAGGED) != 0;
	case IMAP_SK_NEW:		return (f & (MSG_RECENT | MSG_SEEN)) == MSG_RECENT;
	case IMAP_SK_OLD:		return (f & MSG_RECENT) == 0;
	case IMAP_SK_RECENT:		return (f & MSG_RECENT) != 0;
	case IMAP_SK_SEEN:		return (f & MSG_SEEN) != 0;
	case IMAP_SK_UNANSWERED:	return (f & MSG_ANSWERED) == 0;
	case IMAP_SK_UNDELETED:		return (f & MSG_DELETED) == 0;
	case IMAP_SK_UNDRAFT:		return (f & MSG_DRAFT) == 0;
	case IMAP_SK_UNFLAGGED:		return (f & MSG_FLAGGED) == 0;
	case IMAP_SK_UNSEEN:		return (f & MSG_SEEN) == 0;
	case IMAP_SK_BEFORE:		return day_of(mi->internal_date) < n->day;
	case IMAP_SK_ON:		return day_of(mi->internal_date) == n->day;
	case IMAP_SK_SINCE:		return day_of(mi->internal_date) >= n->day;
	case IMAP_SK_LARGER:		return mi->size > n->number;
	case IMAP_SK_SMALLER:		return mi->size < n->number;
	case IMAP_SK_MODSEQ:		return mi->modseq >= n->number;
	case IMAP_SK_UID:
		return imap_seqset_contains(n->set, mi->uid, run->max_uid);
	case IMAP_SK_SEQSET:
		return imap_seqset_contains(n->set, (uint32_t)run->msg.i + 1,
		    (uint32_t)run->view.n);
	default:
		return false;
	}
}

static bool
eval(struct imap_search_run *run, const struct search_node *n)
{
	const char	*kw;
	size_t		 i;

	switch (n->type) {
	case IMAP_SK_AND:
		for (i = 0; i < n->nkids; i++)
			if (!eval(run, &n->kids[i]))
				return false;
		return true;
	case IMAP_SK_OR:
		for (i = 0; i < n->nkids; i++)
			if (eval(run, &n->kids[i]))
				return true;
		return false;
	case IMAP_SK_NOT:
		return n->nkids == 1 && !eval(run, &n->kids[0]);
	case IMAP_SK_KEYWORD: case IMAP_SK_UNKEYWORD:
		kw = run->view.keywords != NULL ?
		    run->view.keywords(run->view.ctx, run->msg.i) : NULL;
		return has_keyword(kw, n->keyword) == (n->type == IMAP_SK_KEYWORD);
	case IMAP_SK_BCC: case IMAP_SK_CC: case IMAP_SK_FROM: case IMAP_SK_SUBJECT:
	case IMAP_SK_TO: case IMAP_SK_HEADER:
		return header_match(run, n);
	case IMAP_SK_BODY: case IMAP_SK_TEXT:
		return text_match(run, n);
	case IMAP_SK_SENTBEFORE:
		return search_msg_sent_day(run, &run->msg) < n->day;
	case IMAP_SK_SENTON:
		return search_msg_sent_day(run, &run->msg) == n->day;
	case IMAP_SK_SENTSINCE:
		return search_msg_sent_day(run, &run->msg) >= n->day;
	default:
		return eval_info(run, n);
	}
}

static void
add_match(struct imap_search_result *r, size_t i, uint64_t modseq)
{
	if (r->n == r->cap) {
		r->cap = r->cap == 0 ? 64 : size_mul(r->cap, 2);
		r->idx = xreallocarray(r->idx, r->cap, sizeof(*r->idx));
	}
	r->idx[r->n++] = (uint32_t)i;
	if (modseq > r->highest_modseq)
		r->highest_modseq = modseq;
}

/* SORT and THREAD: the match's header, from the same open as the search's keys. */
static void
report_match(struct imap_search_run *run)
{
	struct search_msg	*m = &run->msg;

	if (run->view.header_for_matches && search_msg_open(run, m, false))
		run->view.matched(run->view.ctx, m->i, m->data, mime_header_len(m->data, m->len));
	else
		run->view.matched(run->view.ctx, m->i, NULL, 0);
}

bool
imap_search_more(struct imap_search_run *run, size_t max_msgs)
{
	for (; run->next < run->view.n && max_msgs > 0; run->next++, max_msgs--) {
		run->msg.i = run->next;
		if (eval(run, run->root)) {
			add_match(&run->result, run->next, run->view.msgs[run->next].modseq);
			if (run->view.matched != NULL)
				report_match(run);
		}
		search_msg_reset(&run->msg);
	}
	return run->next == run->view.n;
}

const struct imap_search_result *
imap_search_result(const struct imap_search_run *run)
{
	return &run->result;
}

size_t
imap_search_opened(const struct imap_search_run *run)
{
	return run->opened;
}

void
imap_search_free(struct imap_search_run **run)
{
	if (*run == NULL)
		return;
	node_free((*run)->root);
	free((*run)->root);
	search_msg_free(&(*run)->msg);
	free((*run)->result.idx);
	xfree(run);
}
