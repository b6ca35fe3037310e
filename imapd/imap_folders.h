/*
 * The folder commands' logic, for the session to call: the STATUS reply
 * line (STATUS, LIST-STATUS).
 */
#ifndef IMAPD_IMAP_FOLDERS_H
#define IMAPD_IMAP_FOLDERS_H

#include "store/store.h"

#include <stdbool.h>

struct buf;

/*
 * "* STATUS <name> (MESSAGES n ...)" with the items asked for (enum
 * imap_status_item), in RFC 3501's order, then HIGHESTMODSEQ and SIZE.
 * name is the wire name.  -1 if out is full.
 */
int	 imap_status_append(struct buf *out, const char *name, bool utf8, unsigned items,
	    const struct mailbox_status *st);

#endif
