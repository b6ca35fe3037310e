/*
 * Sequence sets: parse into sorted merged ranges plus the `*` interval
 * (imap_seqset.h says why that interval is one), then answer membership
 * and iterate once `*` is known.
 */
#include "imapd/imap_seqset.h"

#include "imapd/imap_args.h"

#include <stdlib.h>
#include <string.h>

static int
range_cmp(const void *a, const void *b)
{
	const struct imap_seq_range	*x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* One seq-number: nz-number or `*` (0 here).  Advances *p. */
static int
seq_number(const char **p, uint32_t *n_r)
{
	const char	*end;

	if (**p == '*') {
		(*p)++;
		*n_r = 0;
		return 0;
	}
	end = *p + strspn(*p, "0123456789");
	if (imap_parse_nz_number(*p, (size_t)(end - *p), n_r) == -1)
		return -1;
	*p = end;
	return 0;
}

static void
add_star(struct imap_seqset *set, uint32_t x)
{
	set->star = true;
	if (x == 0)
		return;
	if (!set->anchored || x < set->star_lo)
		set->star_lo = x;
	if (!set->anchored || x > set->star_hi)
		set->star_hi = x;
	set->anchored = true;
}

/* Sort and merge overlapping or adjacent ranges in place. */
static void
merge(struct imap_seqset *set)
{
	unsigned	 i, out = 0;

	if (set->nranges == 0)
		return;
	qsort(set->ranges, set->nranges, sizeof(*set->ranges), range_cmp);
	for (i = 1; i < set->nranges; i++) {
		struct imap_seq_range	*last = &set->ranges[out];

		if (last->hi == UINT32_MAX || set->ranges[i].lo <= last->hi + 1) {
			if (set->ranges[i].hi > last->hi)
				last->hi = set->ranges[i].hi;
		} else
			set->ranges[++out] = set->ranges[i];
	}
	set->nranges = out + 1;
}

int
imap_seqset_parse(const char *text, struct imap_seqset *set, unsigned max_ranges,
    void *(*alloc)(void *ctx, size_t size), void *ctx, const char **error_r)
{
	const char	*p = text;
	unsigned	 elems = 1, n = 0;
	uint32_t	 a, b;

	memset(set, 0, sizeof(*set));
	for (p = text; *p != '\0'; p++)
		elems += *p == ',';
	if (elems > max_ranges) {
		*error_r = "sequence set has too many elements";
		return -1;
	}
	set->ranges = alloc(ctx, (size_t)elems * sizeof(*set->ranges));
	p = text;
	for (;;) {
		if (seq_number(&p, &a) == -1)
			goto bad;
		b = a;
		if (*p == ':') {
			p++;
			if (seq_number(&p, &b) == -1)
				goto bad;
		}
		if (a == 0 || b == 0)
			add_star(set, a == 0 ? b : a);
		else {
			set->ranges[n].lo = a < b ? a : b;
			set->ranges[n].hi = a < b ? b : a;
			n++;
		}
		if (*p == '\0')
			break;
		if (*p++ != ',')
			goto bad;
	}
	set->nranges = n;
	merge(set);
	return 0;
bad:
	*error_r = "invalid sequence set";
	return -1;
}

/* The `*` interval for max: [lo, hi]; false if there is none. */
static bool
star_interval(const struct imap_seqset *set, uint32_t max, uint32_t *lo, uint32_t *hi)
{
	if (!set->star || max == 0)
		return false;
	*lo = set->anchored && set->star_lo < max ? set->star_lo : max;
	*hi = set->anchored && set->star_hi > max ? set->star_hi : max;
	return true;
}

bool
imap_seqset_contains(const struct imap_seqset *set, uint32_t n, uint32_t max)
{
	unsigned	 lo = 0, hi = set->nranges, mid;
	uint32_t	 slo, shi;

	if (star_interval(set, max, &slo, &shi) && n >= slo && n <= shi)
		return true;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (n < set->ranges[mid].lo)
			hi = mid;
		else if (n > set->ranges[mid].hi)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

bool
imap_seqset_next(const struct imap_seqset *set, uint32_t max, bool skip_above_max, uint32_t *n)
{
	uint32_t	 best = 0, slo, shi, from;
	unsigned	 i;

	if (*n == UINT32_MAX)
		return false;
	from = *n + 1;
	/* The first range reaching from gives the ranges' candidate. */
	for (i = 0; i < set->nranges; i++)
		if (set->ranges[i].hi >= from) {
			best = set->ranges[i].lo > from ? set->ranges[i].lo : from;
			break;
		}
	if (star_interval(set, max, &slo, &shi) && shi >= from) {
		uint32_t	 s = slo > from ? slo : from;

		if (best == 0 || s < best)
			best = s;
	}
	if (best == 0 || (skip_above_max && best > max))
		return false;
	*n = best;
	return true;
}

uint32_t
imap_seqset_highest(const struct imap_seqset *set, uint32_t max)
{
	uint32_t	 top = set->nranges > 0 ? set->ranges[set->nranges - 1].hi : 0;
	uint32_t	 slo, shi;

	if (star_interval(set, max, &slo, &shi) && shi > top)
		top = shi;
	/* In an empty mailbox `*` names no message: at least 1, refused (RFC 3501 9). */
	if (set->star && max == 0 && (set->anchored ? set->star_hi : 1) > top)
		top = set->anchored ? set->star_hi : 1;
	return top;
}
