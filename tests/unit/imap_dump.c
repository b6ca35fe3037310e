/* tests/unit/imap_dump.h: a parsed command as text. */
#include "tests/unit/imap_dump.h"
#include "imapd/imap_command.h"
#include "lib/buf.h"

#include <stdarg.h>
#include <stdlib.h>

static void __attribute__((format(printf, 2, 3)))
out(struct buf *b, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	if (buf_vprintf(b, fmt, ap) == -1)
		abort();	/* a test's output never nears the buffer's max */
	va_end(ap);
}

static void
dump_set(struct buf *b, const struct imap_seqset *set)
{
	unsigned	 i;

	for (i = 0; i < set->nranges; i++) {
		out(b, i > 0 ? "," : "");
		if (set->ranges[i].lo == set->ranges[i].hi)
			out(b, "%u", set->ranges[i].lo);
		else
			out(b, "%u:%u", set->ranges[i].lo, set->ranges[i].hi);
	}
	if (set->star && set->anchored)
		out(b, "%s*[%u:%u]", set->nranges > 0 ? "," : "", set->star_lo, set->star_hi);
	else if (set->star)
		out(b, "%s*", set->nranges > 0 ? "," : "");
}

static void
dump_strings(struct buf *b, const struct imap_strings *s)
{
	unsigned	 i;

	for (i = 0; i < s->n; i++)
		out(b, "%s%s", i > 0 ? "," : "", s->v[i] != NULL ? s->v[i] : "NIL");
}

static const char *search_names[] = {
	"AND", "OR", "NOT", "ALL", "ANSWERED", "DELETED", "DRAFT", "FLAGGED", "NEW", "OLD",
	"RECENT", "SEEN", "UNANSWERED", "UNDELETED", "UNDRAFT", "UNFLAGGED", "UNSEEN",
	"KEYWORD", "UNKEYWORD", "BCC", "BODY", "CC", "FROM", "SUBJECT", "TEXT", "TO",
	"HEADER", "BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE", "LARGER",
	"SMALLER", "UID", "SEQ", "MODSEQ",
};

static void
dump_key(struct buf *b, const struct imap_search_key *k)
{
	const struct imap_search_key	*c;

	out(b, "%s", search_names[k->type]);
	if (k->child != NULL) {
		out(b, "(");
		for (c = k->child; c != NULL; c = c->next) {
			dump_key(b, c);
			out(b, c->next != NULL ? "," : "");
		}
		out(b, ")");
	}
	if (k->str != NULL)
		out(b, ":%s", k->str);
	if (k->str2 != NULL)
		out(b, ":%s", k->str2);
	if (k->type >= IMAP_SK_BEFORE && k->type <= IMAP_SK_SENTSINCE)
		out(b, ":%lld", (long long)k->date);
	if (k->type == IMAP_SK_LARGER || k->type == IMAP_SK_SMALLER || k->type == IMAP_SK_MODSEQ)
		out(b, ":%llu", (unsigned long long)k->number);
	if (k->type == IMAP_SK_UID || k->type == IMAP_SK_SEQSET) {
		out(b, ":");
		dump_set(b, &k->set);
	}
}

static void
dump_search(struct buf *b, const struct imap_search *s)
{
	if (s->esearch)
		out(b, " return=%u", s->ret);
	if (s->charset != NULL)
		out(b, " charset=%s", s->charset);
	out(b, " ");
	dump_key(b, s->key);
}

static void
dump_section(struct buf *b, const struct imap_fetch_att *att)
{
	static const char	*texts[] = { "", "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT",
		"TEXT", "MIME" };
	unsigned		 i;

	out(b, att->peek ? "BODY.PEEK[" : "BODY[");
	for (i = 0; i < att->section.nparts; i++)
		out(b, "%s%u", i > 0 ? "." : "", att->section.part[i]);
	out(b, "%s%s", att->section.nparts > 0 && att->section.text != 0 ? "." : "",
	    texts[att->section.text]);
	if (att->section.fields.n > 0) {
		out(b, " (");
		dump_strings(b, &att->section.fields);
		out(b, ")");
	}
	out(b, "]");
	if (att->partial)
		out(b, "<%u.%u>", att->offset, att->count);
}

static void
dump_fetch(struct buf *b, const struct imap_command *c)
{
	static const char	*items[] = { "FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE",
		"BODY", "BODYSTRUCTURE", "UID", "MODSEQ", "RFC822", "RFC822.HEADER", "RFC822.TEXT" };
	unsigned		 i;

	out(b, " set=");
	dump_set(b, &c->u.fetch.set);
	out(b, " atts=");
	for (i = 0; i < c->u.fetch.natts; i++) {
		out(b, i > 0 ? "," : "");
		if (c->u.fetch.atts[i].item == IMAP_FETCH_BODY_SECTION)
			dump_section(b, &c->u.fetch.atts[i]);
		else
			out(b, "%s", items[c->u.fetch.atts[i].item]);
	}
	if (c->u.fetch.has_changedsince)
		out(b, " changedsince=%llu", (unsigned long long)c->u.fetch.changedsince);
	if (c->u.fetch.vanished)
		out(b, " vanished");
}

static void
dump_select(struct buf *b, const struct imap_command *c)
{
	out(b, " mbox=%s", c->u.select.mailbox);
	if (c->u.select.condstore)
		out(b, " condstore");
	if (c->u.select.qresync)
		out(b, " qresync=%u,%llu", c->u.select.uidvalidity,
		    (unsigned long long)c->u.select.modseq);
	if (c->u.select.has_known_uids) {
		out(b, " known=");
		dump_set(b, &c->u.select.known_uids);
	}
	if (c->u.select.has_seq_match) {
		out(b, " match=");
		dump_set(b, &c->u.select.match_seqs);
		out(b, "/");
		dump_set(b, &c->u.select.match_uids);
	}
}

void
imap_dump_command(struct buf *b, const struct imap_command *c)
{
	static const char	*ops[] = { "=", "+", "-" };
	unsigned		 i;

	out(b, "CMD %s %s", c->tag, c->def->name);
	switch (c->def->id) {
	case IMAP_CMD_AUTHENTICATE:
		out(b, " mech=%s ir=%s", c->u.authenticate.mechanism,
		    c->u.authenticate.initial != NULL ? c->u.authenticate.initial : "NONE");
		break;
	case IMAP_CMD_LOGIN:
		out(b, " user=%s pass=%s", c->u.login.user, c->u.login.password);
		break;
	case IMAP_CMD_ENABLE:
		out(b, " caps=");
		dump_strings(b, &c->u.enable);
		break;
	case IMAP_CMD_ID:
		out(b, " id=");
		for (i = 0; i < c->u.id.n; i++)
			out(b, "%s%s:%s", i > 0 ? "," : "", c->u.id.v[2 * i],
			    c->u.id.v[2 * i + 1] != NULL ? c->u.id.v[2 * i + 1] : "NIL");
		break;
	case IMAP_CMD_CREATE: case IMAP_CMD_DELETE: case IMAP_CMD_SUBSCRIBE:
	case IMAP_CMD_UNSUBSCRIBE:
		out(b, " mbox=%s", c->u.mailbox);
		break;
	case IMAP_CMD_RENAME:
		out(b, " from=%s to=%s", c->u.rename.from, c->u.rename.to);
		break;
	case IMAP_CMD_SELECT: case IMAP_CMD_EXAMINE:
		dump_select(b, c);
		break;
	case IMAP_CMD_LIST: case IMAP_CMD_LSUB:
		out(b, " sel=%u ref=%s pat=", c->u.list.select_opts, c->u.list.reference);
		dump_strings(b, &c->u.list.patterns);
		out(b, " ret=%u status=%u", c->u.list.return_opts, c->u.list.status_items);
		break;
	case IMAP_CMD_STATUS:
		out(b, " mbox=%s items=%u", c->u.status.mailbox, c->u.status.items);
		break;
	case IMAP_CMD_APPEND:
		out(b, " mbox=%s flags=", c->u.append.mailbox);
		dump_strings(b, &c->u.append.flags);
		if (c->u.append.has_date)
			out(b, " date=%lld", (long long)c->u.append.date);
		out(b, " size=%llu", (unsigned long long)c->u.append.size);
		break;
	case IMAP_CMD_FETCH:
		dump_fetch(b, c);
		break;
	case IMAP_CMD_STORE:
		out(b, " set=");
		dump_set(b, &c->u.store.set);
		if (c->u.store.has_unchangedsince)
			out(b, " unchangedsince=%llu", (unsigned long long)c->u.store.unchangedsince);
		out(b, " %sFLAGS%s ", ops[c->u.store.op], c->u.store.silent ? ".SILENT" : "");
		dump_strings(b, &c->u.store.flags);
		break;
	case IMAP_CMD_COPY: case IMAP_CMD_MOVE:
		out(b, " set=");
		dump_set(b, &c->u.copy.set);
		out(b, " mbox=%s", c->u.copy.mailbox);
		break;
	case IMAP_CMD_EXPUNGE:
		if (c->def->flags & IMAP_CMDF_UID) {
			out(b, " set=");
			dump_set(b, &c->u.uid_expunge);
		}
		break;
	case IMAP_CMD_SEARCH:
		dump_search(b, &c->u.search);
		break;
	case IMAP_CMD_SORT:
		out(b, " sort=");
		for (i = 0; i < c->u.sort.ncriteria; i++)
			out(b, "%s%s%u", i > 0 ? "," : "", c->u.sort.criteria[i].reverse ? "-" : "",
			    c->u.sort.criteria[i].key);
		dump_search(b, &c->u.sort.search);
		break;
	case IMAP_CMD_THREAD:
		out(b, " alg=%s", c->u.thread.references ? "REFERENCES" : "ORDEREDSUBJECT");
		dump_search(b, &c->u.thread.search);
		break;
	default:
		break;
	}
	out(b, "|");
}
