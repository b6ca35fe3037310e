/*
 * The change feed: what happened to a folder since a MODSEQ, from the
 * index alone (the message records' headers and the tombstones), so IMAP's
 * NOOP, IDLE and QRESYNC need neither a snapshot nor a diff of two.
 */
#include "store/store_private.h"
#include "lib/xmalloc.h"

#include <stdlib.h>
#include <string.h>

void
uid_list_push(struct uid_list *l, uint32_t uid)
{
	if (l->n == l->cap) {
		l->cap = l->cap == 0 ? 16 : size_mul(l->cap, 2);
		l->uids = xreallocarray(l->uids, l->cap, sizeof(*l->uids));
	}
	l->uids[l->n++] = uid;
}

static int
uid_cmp(const void *a, const void *b)
{
	uint32_t	 x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* One read-only transaction: the folder record, the messages, the tombstones. */
static int
changes_read(struct mailbox *mb, struct idx_txn *txn, uint64_t since, struct mailbox_changes *ch,
    const char **error_r)
{
	struct idx_folder	 f;
	int			 rc;

	if ((rc = idx_folder_get(txn, mb->folder, false, &f, error_r)) != 0)
		return rc == 1 ? store_err(error_r, STORE_ERR_NOT_FOUND, "folder not indexed") : rc;
	ch->uidvalidity = f.uidvalidity;
	ch->highestmodseq = f.highestmodseq;
	/* A MODSEQ above ours was handed out before the index was rebuilt. */
	ch->complete = since >= f.vanished_floor && since <= f.highestmodseq;
	if (since >= f.highestmodseq)
		return 0;	/* the common NOOP: nothing to walk */
	if ((rc = idx_msg_changes(txn, f.id, since, &ch->added, &ch->changed, error_r)) != 0)
		return rc;
	return idx_vanished_since(txn, f.id, since, &ch->expunged, error_r);
}

int
mailbox_changes_since(struct mailbox *mb, uint64_t modseq, struct mailbox_changes *ch,
    const char **error_r)
{
	struct idx_retry	 r = { 0 };
	struct idx_txn		*txn;
	int			 rc;

	memset(ch, 0, sizeof(*ch));
	do {
		mailbox_changes_free(ch);
		if (mailbox_env_refresh(mb, error_r) == -1)
			return -1;
		if ((rc = idx_begin(mb->env, true, &txn, error_r)) != 0)
			continue;
		rc = changes_read(mb, txn, modseq, ch, error_r);
		idx_abort(&txn);
	} while (rc == IDX_RETRY && idx_retry_wait(mb->env, &r));
	if (rc != 0) {
		mailbox_changes_free(ch);
		return -1;
	}
	if (ch->expunged.n > 1)	/* in MODSEQ order from the index */
		qsort(ch->expunged.uids, ch->expunged.n, sizeof(uint32_t), uid_cmp);
	return 0;
}

void
mailbox_changes_free(struct mailbox_changes *ch)
{
	xfree(&ch->added.uids);
	xfree(&ch->changed.uids);
	xfree(&ch->expunged.uids);
	memset(ch, 0, sizeof(*ch));
}
