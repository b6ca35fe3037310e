/*
 * SEARCH, ESEARCH (RFC 4731 RETURN), SORT and THREAD (RFC 5256), and their
 * UID forms, in the selected state: imap_search_eval over the session's
 * view (the sequence numbers the client was told), then the reply streamed.
 *
 * Evaluation reads keywords and ENVELOPEs from the index and message files
 * for header and body keys, all of which block: it runs on the workq, a
 * chunk of messages per job, the session paused meanwhile.  Between two
 * chunks the job goes back to the queue, so a long body search takes turns
 * with the other sessions' jobs instead of holding a worker for seconds.
 * SORT's ordering and THREAD's threading run in the last chunk's job.
 *
 * The reply is a stream (the host calls search_more() while the output is
 * below its mark): imap_search_write() resumes where the output filled, so
 * a 100k-message result is never formatted whole; imap_thread_write()
 * resumes the same way, so does THREAD's.
 *
 * No untagged EXPUNGE is sent while a SEARCH runs (RFC 3501 7.4.1): the
 * view is not synced until the next NOOP/CHECK.
 */
#include "imapd/imap_private.h"

#include "imapd/imap_parser.h"
#include "imapd/imap_search_eval.h"
#include "imapd/imap_sort.h"
#include "imapd/imap_thread.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/xmalloc.h"
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

/* Messages evaluated per workq job, and read per mailbox_fetch(). */
#define CHUNK_MSGS	256
#define FETCH_SPAN	64

struct imap_search_cmd {
	struct imap_session	*s;		/* NULL once the session gave it up */
	struct mailbox		*mb;		/* the session's, lent (owned once orphaned) */
	struct imap_parser	*parser;	/* owned once orphaned: the run reads its keys */
	const struct msg_info	*msgs;		/* the view */
	size_t			 nmsgs;
	struct msg_info		*view_copy;	/* owned once orphaned: msgs, if the session's copy */
	char			*tag;
	enum imap_cmd_id	 id;		/* SEARCH, SORT or THREAD */
	bool			 uid;
	const struct imap_search *search;
	const struct imap_sort_criterion *criteria;	/* SORT */
	unsigned		 ncriteria;
	bool			 references;	/* THREAD=REFERENCES */

	struct imap_search_run	*run;
	bool			 evaluated;	/* every message was, SORT/THREAD done too */
	size_t			 cursor;	/* of imap_search_write() */

	/* mailbox_fetch() of the messages around the one evaluated. */
	const struct msg_fetch	*mf;
	size_t			 nmf;
	uint32_t		 mf_first, mf_last;

	/* SORT and THREAD: the keys of each match, then the order. */
	struct imap_sort_msg	*keys;
	size_t			 nkeys, capkeys;
	struct imap_search_result sorted;
	struct imap_thread	*thread;
};

static void
search_free(struct imap_search_cmd *sc)
{
	size_t	 i;

	imap_search_free(&sc->run);
	for (i = 0; i < sc->nkeys; i++)
		imap_sort_msg_free(&sc->keys[i]);
	free(sc->keys);
	free(sc->sorted.idx);
	imap_thread_free(&sc->thread);
	if (sc->s == NULL) {		/* orphaned: what it was lent is its own */
		mailbox_close(&sc->mb);
		imap_parser_free(&sc->parser);
		free(sc->view_copy);
	}
	free(sc->tag);
	free(sc);
}

/* Message i's index strings, read FETCH_SPAN messages at a time (workq thread). */
static const struct msg_fetch *
fetched(struct imap_search_cmd *sc, size_t i)
{
	uint32_t	 uid = sc->msgs[i].uid;
	size_t		 last, lo, hi, mid;
	const char	*error;

	if (sc->mf == NULL || uid < sc->mf_first || uid > sc->mf_last) {
		last = sc->nmsgs - i > FETCH_SPAN ? i + FETCH_SPAN - 1 : sc->nmsgs - 1;
		sc->mf_first = uid;
		sc->mf_last = sc->msgs[last].uid;
		if (mailbox_fetch(sc->mb, sc->mf_first, sc->mf_last, &sc->mf, &sc->nmf,
		    &error) == -1) {
			sc->mf = NULL;
			sc->nmf = 0;
			return NULL;
		}
	}
	for (lo = 0, hi = sc->nmf; lo < hi;) {
		mid = lo + (hi - lo) / 2;
		if (sc->mf[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < sc->nmf && sc->mf[lo].uid == uid ? &sc->mf[lo] : NULL;
}

static const char *
view_keywords(void *ctx, size_t i)
{
	const struct msg_fetch	*mf = fetched(ctx, i);

	return mf != NULL ? mf->keywords : NULL;
}

static const char *
view_envelope(void *ctx, size_t i)
{
	const struct msg_fetch	*mf = fetched(ctx, i);

	return mf != NULL ? mf->envelope : NULL;
}

static int
view_open(void *ctx, size_t i, int *fd_r)
{
	struct imap_search_cmd	*sc = ctx;
	const char		*error;

	return mailbox_open_message(sc->mb, sc->msgs[i].uid, fd_r, &error);
}

static void
view_matched(void *ctx, size_t i, const char *header, size_t len)
{
	struct imap_search_cmd	*sc = ctx;

	if (sc->nkeys == sc->capkeys) {
		sc->capkeys = sc->capkeys == 0 ? 64 : sc->capkeys * 2;
		sc->keys = xreallocarray(sc->keys, sc->capkeys, sizeof(*sc->keys));
	}
	imap_sort_msg_init(&sc->keys[sc->nkeys++], (uint32_t)i, &sc->msgs[i], header, len);
}

/* On a workq thread: one chunk, and once every message was, SORT's order or THREAD's threads. */
static void
chunk_work(void *arg)
{
	struct imap_search_cmd	*sc = arg;

	if (!imap_search_more(sc->run, CHUNK_MSGS))
		return;
	sc->evaluated = true;
	if (sc->id == IMAP_CMD_SORT) {
		imap_sort(sc->keys, sc->nkeys, sc->criteria, sc->ncriteria);
		imap_sort_result(sc->keys, sc->nkeys, imap_search_result(sc->run), &sc->sorted);
	} else if (sc->id == IMAP_CMD_THREAD)
		sc->thread = imap_thread_build(sc->keys, sc->nkeys, sc->references);
}

static void
chunk_done(void *arg)
{
	struct imap_search_cmd	*sc = arg;
	struct imap_session	*s = sc->s;

	if (s == NULL) {
		search_free(sc);
		return;
	}
	s->search_job = NULL;
	session_host_kick(s->host);	/* search_more() goes on */
}

static void
search_finish(struct imap_session *s, const char *status)
{
	struct imap_search_cmd	*sc = s->search;

	imap_tagged(s, sc->tag, "%s", status);
	log_debug("session=%s event=search command=%s matches=%zu opened=%zu", s->peer->id,
	    sc->id == IMAP_CMD_SEARCH ? "search" : sc->id == IMAP_CMD_SORT ? "sort" : "thread",
	    imap_search_result(sc->run)->n, imap_search_opened(sc->run));
	search_free(sc);
	s->search = NULL;
	session_host_kick(s->host);
}

/* The reply so far; true once it is complete. */
static bool
write_reply(struct imap_session *s, struct imap_search_cmd *sc)
{
	const struct imap_search_result	*r = imap_search_result(sc->run);

	switch (sc->id) {
	case IMAP_CMD_SORT:
		return imap_search_write(s->out, "SORT", &sc->sorted, sc->msgs, sc->uid,
		    &sc->cursor);
	case IMAP_CMD_THREAD:
		return imap_thread_write(s->out, sc->thread, sc->msgs, sc->uid);
	default:
		if (sc->search->esearch)
			return imap_esearch_write(s->out, sc->tag, r, sc->msgs, sc->uid,
			    sc->search->ret, &sc->cursor);
		return imap_search_write(s->out, "SEARCH", r, sc->msgs, sc->uid, &sc->cursor);
	}
}

/* The stream's more(): the next chunk on the workq until evaluated, then the reply. */
static bool
search_more(void *arg)
{
	struct imap_session	*s = arg;
	struct imap_search_cmd	*sc = s->search;

	if (sc == NULL)
		return true;		/* aborted */
	if (!sc->evaluated) {
		s->search_job = sc;
		session_host_submit(s->host, chunk_work, chunk_done, sc);
		return false;
	}
	while (!session_host_output_full(s->host) && s->want != SESSION_CLOSE) {
		if (write_reply(s, sc)) {
			search_finish(s, sc->id == IMAP_CMD_SEARCH ? "OK Search completed." :
			    sc->id == IMAP_CMD_SORT ? "OK Sort completed." : "OK Thread completed.");
			return true;
		}
	}
	return s->want == SESSION_CLOSE;
}

/* SEARCH MODSEQ turns CONDSTORE on (RFC 7162 3.1.5). */
static bool
has_modseq(const struct imap_search_key *k)
{
	for (; k != NULL; k = k->next)
		if (k->type == IMAP_SK_MODSEQ || has_modseq(k->child))
			return true;
	return false;
}

static const struct imap_search *
search_of(const struct imap_command *cmd)
{
	switch (cmd->def->id) {
	case IMAP_CMD_SORT:
		return &cmd->u.sort.search;
	case IMAP_CMD_THREAD:
		return &cmd->u.thread.search;
	default:
		return &cmd->u.search;
	}
}

int
imap_cmd_search(struct imap_session *s, const struct imap_command *cmd)
{
	struct imap_search_cmd	*sc;
	struct imap_search_view	 view;
	const char		*error;

	if (has_modseq(search_of(cmd)->key))
		imap_condstore_enable(s);
	imap_seen_fold(s);
	sc = xcalloc(1, sizeof(*sc));
	sc->s = s;
	sc->mb = s->mb;
	sc->msgs = s->msgs;
	sc->nmsgs = s->nmsgs;
	sc->id = cmd->def->id;
	sc->uid = (cmd->def->flags & IMAP_CMDF_UID) != 0;
	sc->search = search_of(cmd);
	if (sc->id == IMAP_CMD_SORT) {
		sc->criteria = cmd->u.sort.criteria;
		sc->ncriteria = cmd->u.sort.ncriteria;
	}
	sc->references = sc->id == IMAP_CMD_THREAD && cmd->u.thread.references;

	memset(&view, 0, sizeof(view));
	view.msgs = s->msgs;
	view.n = s->nmsgs;
	view.ctx = sc;
	view.keywords = s->keywords ? view_keywords : NULL;
	view.open = view_open;
	view.envelope = view_envelope;
	if (sc->id != IMAP_CMD_SEARCH) {
		view.matched = view_matched;
		view.header_for_matches = sc->id == IMAP_CMD_THREAD ||
		    imap_sort_needs_header(sc->criteria, sc->ncriteria);
	}
	if (imap_search_begin(sc->search, &view, &sc->run, &error) == -1) {
		imap_tagged(s, cmd->tag, "%s %s", strncmp(error, IMAP_SEARCH_BADCHARSET,
		    strlen(IMAP_SEARCH_BADCHARSET)) == 0 ? "NO" : "BAD", error);
		search_free(sc);
		return -1;
	}
	sc->tag = xstrdup(cmd->tag);
	s->search = sc;
	session_host_stream(s->host, search_more);
	return 0;
}

/*
 * The search ends early (timeout, the session freed).  A chunk still
 * running keeps the mailbox and the parser holding its keys, and frees
 * them: the session is going, so it needs neither any more.
 */
void
imap_search_abort(struct imap_session *s)
{
	struct imap_search_cmd	*sc = s->search;

	if (sc == NULL)
		return;
	s->search = NULL;
	if (s->search_job == NULL) {
		search_free(sc);
		return;
	}
	s->search_job = NULL;
	sc->s = NULL;
	sc->parser = s->parser;
	s->parser = NULL;
	sc->view_copy = s->view_copy;
	s->view_copy = NULL;
	s->mb = NULL;
	s->msgs = NULL;
	s->nmsgs = 0;
}
