/*
 * The keywords of the messages a sync or a STORE/EXPUNGE/COPY/MOVE is
 * about to tell as changed, read by its job on the workq: telling them
 * must not read the index once per message on the event loop.
 */
#include "imapd/imap_private.h"

#include "lib/xmalloc.h"
#include "store/store.h"

#include <stdlib.h>

void
imap_kwset_read(struct imap_kwset *ks, struct mailbox *mb, const uint32_t *uids, size_t n)
{
	const struct msg_fetch	*mf;
	const char		*error;
	size_t			 i, got;

	ks->v = xreallocarray(NULL, n + 1, sizeof(*ks->v));
	ks->n = 0;
	for (i = 0; i < n; i++) {
		/* One UID at a time: a range would read the ENVELOPEs of everything between. */
		if (mailbox_fetch(mb, uids[i], uids[i], &mf, &got, &error) == -1 || got != 1)
			continue;	/* gone, or a failure: the loop reads it (imap_put_flags) */
		ks->v[ks->n].uid = uids[i];
		ks->v[ks->n++].keywords = xstrdup(mf->keywords);
	}
}

const char *
imap_kwset_find(const struct imap_kwset *ks, uint32_t uid)
{
	size_t	 lo = 0, hi = ks->n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (ks->v[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < ks->n && ks->v[lo].uid == uid ? ks->v[lo].keywords : NULL;
}

void
imap_kwset_free(struct imap_kwset *ks)
{
	size_t	 i;

	for (i = 0; i < ks->n; i++)
		free(ks->v[i].keywords);
	free(ks->v);
	ks->v = NULL;
	ks->n = 0;
}
