/*
 * IMAP sequence sets (RFC 3501 section 9 "sequence-set", RFC 9051 6.4.8)
 * in a compact form: "1,3:5,9:7,2" and "10:*,*,4:*" in any order.
 *
 * What `*` stands for (the highest message number or UID in use) is known
 * only when the command runs, and "x:*" covers x..max or max..x depending
 * on which is larger.  Every such range contains max, so all the ranges
 * that mention `*` together cover one interval: from the smallest x (or
 * max) to the largest x (or max).  The form is therefore the numeric
 * ranges sorted and merged, plus that one interval by its two anchors.
 */
#ifndef IMAPD_IMAP_SEQSET_H
#define IMAPD_IMAP_SEQSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct imap_seq_range {
	uint32_t	 lo, hi;	/* lo <= hi, both >= 1 */
};

struct imap_seqset {
	struct imap_seq_range	*ranges;	/* sorted, disjoint, not adjacent */
	unsigned		 nranges;
	bool			 star;		/* some element mentions `*` */
	bool			 anchored;	/* ... as "x:*" (else only bare `*`) */
	uint32_t		 star_lo, star_hi;	/* smallest and largest such x */
};

/*
 * Parse text (NUL-terminated) into set, whose ranges are allocated by
 * alloc(ctx, size) (the command's allocator).  Returns 0, or -1 with
 * *error_r set.  At most max_ranges comma-separated elements.
 */
int	 imap_seqset_parse(const char *text, struct imap_seqset *set, unsigned max_ranges,
	    void *(*alloc)(void *ctx, size_t size), void *ctx, const char **error_r);

/* Whether n is in the set when `*` stands for max (0: empty mailbox, `*` matches nothing). */
bool	 imap_seqset_contains(const struct imap_seqset *set, uint32_t n, uint32_t max);

/*
 * Iterate in ascending order: *n is the last member returned (0 to start);
 * returns false after the last.  Members above max are skipped when
 * skip_above_max (UIDs); a sequence number above max is the caller's
 * error to report (imap_seqset_highest()).
 */
bool	 imap_seqset_next(const struct imap_seqset *set, uint32_t max, bool skip_above_max,
	    uint32_t *n);

/*
 * The largest member when `*` stands for max (to refuse sequence numbers
 * above max); in an empty mailbox a `*` counts as 1 at least.
 */
uint32_t imap_seqset_highest(const struct imap_seqset *set, uint32_t max);

#endif
