/*
 * THREAD (RFC 5256 sections 4 and 5): ORDEREDSUBJECT and REFERENCES over
 * the messages a search selected, from the keys imap_sort_msg_init() read
 * of each header (subject, sent date, Message-ID, References,
 * In-Reply-To), and the reply "* THREAD (2)(3 6 (4 23)(44 7 96))".
 *
 * Work and memory are linear in the messages and their references for
 * ordinary mail (hash tables for Message-IDs and subjects; the loop check
 * of step 1 walks up a thread only when the container being linked
 * already has children), and no step recurses on the depth of a thread:
 * a chain of 100,000 replies cannot exhaust the stack.
 */
#ifndef IMAPD_IMAP_THREAD_H
#define IMAPD_IMAP_THREAD_H

#include <stdbool.h>
#include <stddef.h>

struct buf;
struct msg_info;
struct imap_sort_msg;
struct imap_thread;

/* Thread msgs[0..n) (in sequence order); msgs must outlive the result. */
struct imap_thread	*imap_thread_build(const struct imap_sort_msg *msgs, size_t n,
			    bool references);
/*
 * Append "* THREAD ...\r\n" to out, with sequence numbers (or the view's
 * UIDs when uid).  -1 if out's max was reached (out is then cut short:
 * the caller answers NO or closes).
 */
int			 imap_thread_write(struct buf *out, const struct imap_thread *t,
			    const struct msg_info *view, bool uid);
void			 imap_thread_free(struct imap_thread **t);

#endif
