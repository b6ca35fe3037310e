/*
 * SORT (RFC 5256 section 3): the messages a search selected, ordered by a
 * list of criteria, each possibly REVERSE, ties broken by sequence number.
 * THREAD (imap_thread.h) reads the same per-message keys.
 *
 * Keys come from the message header (the caller reads it once per
 * message: mailbox_open_message, mime_header_len) and msg_info; when
 * every criterion is ARRIVAL or SIZE no header is needed
 * (imap_sort_needs_header()).  Strings compare as i;ascii-casemap.
 */
#ifndef IMAPD_IMAP_SORT_H
#define IMAPD_IMAP_SORT_H

#include "imapd/imap_command.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct buf;
struct msg_info;
struct imap_search_result;

/* What SORT and THREAD know of one message. */
struct imap_sort_msg {
	uint32_t	 idx;		/* in the view: sequence number - 1 */
	uint64_t	 size;
	time_t		 arrival;	/* internal date */
	time_t		 date;		/* Date: in UTC; the internal date when none (RFC 5256 2.2) */
	char		*subject;	/* base subject (RFC 5256 2.1), "" if none */
	bool		 refwd;		/* the subject was a reply or forward */
	char		*from, *to, *cc;	/* addr-mailbox of the first address, "" if none */
	char		*message_id;	/* "<id>" as written, NULL if none */
	char		*references;	/* raw References: value, NULL if none */
	char		*in_reply_to;	/* raw In-Reply-To: value, NULL if none */
};

/*
 * Fill m for message idx of the view from its msg_info and its header
 * (header NULL: only ARRIVAL and SIZE are known; the rest stays empty).
 */
void	 imap_sort_msg_init(struct imap_sort_msg *m, uint32_t idx, const struct msg_info *mi,
	    const char *header, size_t len);
void	 imap_sort_msg_free(struct imap_sort_msg *m);

/* Whether any criterion reads the header (CC DATE FROM SUBJECT TO). */
bool	 imap_sort_needs_header(const struct imap_sort_criterion *c, unsigned n);

/*
 * The base subject of a raw Subject: value (RFC 5256 2.1): RFC 2047
 * decoded, white space collapsed, "Re:", "Fwd:", "[blob]" leaders,
 * "(fwd)" trailers and "[fwd: ...]" wrappers removed.  *refwd_r says
 * whether a reply or forward marker was removed.  malloc'd.
 */
char	*imap_base_subject(const char *raw, size_t len, bool *refwd_r);

/* Order msgs[0..n) by the criteria, then by sequence number. */
void	 imap_sort(struct imap_sort_msg *msgs, size_t n, const struct imap_sort_criterion *c,
	    unsigned nc);

/*
 * The sorted order as a result for imap_search_write(out, "SORT", ...)
 * (r->idx malloc'd: free it).  has_modseq and highest_modseq are taken
 * from the search's result (RFC 7162 3.1.5 applies to SORT too).
 */
void	 imap_sort_result(const struct imap_sort_msg *msgs, size_t n,
	    const struct imap_search_result *search, struct imap_search_result *r);

#endif
