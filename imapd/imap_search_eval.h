/*
 * SEARCH (RFC 3501 6.4.4, RFC 9051 6.4.4): the parsed key tree evaluated
 * for each message of the session's view, into a result set; the same
 * evaluation selects the messages of SORT and THREAD (RFC 5256).
 *
 * Cost order.  Keys are ranked by what they need: the view's msg_info
 * (flags, UID, sequence set, size, internal date, MODSEQ), the message's
 * keywords and ENVELOPE (the index), its header, its body.  Every AND and OR tries
 * its cheap children first and stops at the first that decides, so a
 * message whose flags already fail is never opened.  A message is opened
 * (mapped) at most once per search, only the header pages are read for
 * header keys, and its decoded header and body text are built at most
 * once, then dropped when the next message starts.
 *
 * Text matching is substring matching after i;unicode-casemap style
 * folding (lib/unicase.h) of both sides: header values with RFC 2047
 * words decoded, text bodies decoded from base64 / quoted-printable and
 * converted from their charset (iconv) to UTF-8.
 *
 * Dates: BEFORE/ON/SINCE compare the day of the internal date in UTC;
 * SENT* the day of the Date: header as written in its own zone (the
 * internal date when there is no readable Date:).
 *
 * A long search is a continuation (STYLE.md 18): imap_search_more()
 * evaluates a bounded number of messages per call.  Opening files blocks:
 * the caller may run a search with content keys on a workq thread.
 */
#ifndef IMAPD_IMAP_SEARCH_EVAL_H
#define IMAPD_IMAP_SEARCH_EVAL_H

#include "imapd/imap_command.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct msg_info;
struct buf;

/* The response code for an unsupported CHARSET (RFC 3501 7.1). */
#define IMAP_SEARCH_BADCHARSET	"[BADCHARSET (UTF-8 US-ASCII)]"

/* What the search runs over: the session's view and how to read a message. */
struct imap_search_view {
	const struct msg_info	*msgs;		/* sequence number i + 1 is msgs[i] */
	size_t			 n;
	void			*ctx;		/* for the callbacks */
	/* Message i's keywords, space-separated ("" or NULL: none). */
	const char		*(*keywords)(void *ctx, size_t i);
	/*
	 * Open message i read-only (mailbox_open_message()): 0 with *fd_r,
	 * which the search closes; -1 if it is gone (it then matches no
	 * header or body key).
	 */
	int			(*open)(void *ctx, size_t i, int *fd_r);
	/*
	 * Optional: message i's ENVELOPE from the index (mailbox_fetch), so
	 * SUBJECT, FROM, TO, CC, BCC and SENT* open no file; NULL or "" (not
	 * parsed yet) and they read the header instead.
	 */
	const char		*(*envelope)(void *ctx, size_t i);
	/*
	 * Optional, for SORT and THREAD: called for each match, in order,
	 * with the message's header (imap_sort_msg_init()), read within the
	 * search's one open when header_for_matches (NULL if unreadable,
	 * and always NULL otherwise).  Valid during the call only.
	 */
	void			(*matched)(void *ctx, size_t i, const char *header, size_t len);
	bool			 header_for_matches;
};

/* The matching messages, ascending: indexes into view->msgs (sequence number - 1). */
struct imap_search_result {
	uint32_t	*idx;
	size_t		 n, cap;
	bool		 has_modseq;	/* a MODSEQ key was given (RFC 7162 3.1.5) */
	uint64_t	 highest_modseq;	/* of the matches, when has_modseq */
};

struct imap_search_run;

/* Whether SEARCH CHARSET cs is supported: none given, UTF-8 or US-ASCII. */
bool	 imap_search_charset_ok(const char *cs);

/*
 * Prepare search (its charset checked: -1 with *error_r starting with
 * IMAP_SEARCH_BADCHARSET) over view.  The view and the search's sequence
 * sets (the parsed command: no further input is parsed while a command
 * runs) must stay valid until imap_search_free(); the search strings are
 * copied and folded.
 */
int	 imap_search_begin(const struct imap_search *search, const struct imap_search_view *view,
	    struct imap_search_run **run_r, const char **error_r);
/* Evaluate at most max_msgs more messages: true once every message was. */
bool	 imap_search_more(struct imap_search_run *run, size_t max_msgs);
/* The result so far (complete once imap_search_more() said true). */
const struct imap_search_result *imap_search_result(const struct imap_search_run *run);
/* How many messages were opened (tests: cheap keys open none). */
size_t	 imap_search_opened(const struct imap_search_run *run);
void	 imap_search_free(struct imap_search_run **run);

/*
 * The untagged reply, "* SEARCH 2 3 7\r\n" (name "SEARCH", or "SORT"
 * for imap_sort_result()'s order; UIDs when uid; with
 * " (MODSEQ n)" after a MODSEQ key), or for ESEARCH (RFC 4731) "* ESEARCH
 * (TAG "a1") UID MIN 2 MAX 7 COUNT 3 ALL 2:3,7\r\n" with the items of ret
 * (enum imap_search_return).  Resumable, for results of any size: append
 * to out while it has room, *cursor (0 to start) remembers how far;
 * returns true when the reply is complete, false when out is full (flush
 * it, call again).  An empty out must have room for 128 bytes and the
 * tag, or this never completes.
 */
bool	 imap_search_write(struct buf *out, const char *name, const struct imap_search_result *r,
	    const struct msg_info *msgs, bool uid, size_t *cursor);
bool	 imap_esearch_write(struct buf *out, const char *tag, const struct imap_search_result *r,
	    const struct msg_info *msgs, bool uid, unsigned ret, size_t *cursor);

#endif
