/*
 * The folder commands' logic for the session to call: CREATE, DELETE,
 * RENAME (with RFC 3501's INBOX rule), SUBSCRIBE, UNSUBSCRIBE, STATUS, LIST and LSUB,
 * over the store.  Each takes the mailbox names as parsed (the wire form)
 * and returns 0 for the tagged OK, or -1 with the tagged NO in *no_r
 * (response code from the store's error kind, a text without paths, the
 * store's own text in detail for the log).  They block on disk like every
 * store call; none keeps state between calls.
 */
#ifndef IMAPD_IMAP_FOLDERS_H
#define IMAPD_IMAP_FOLDERS_H

#include "imapd/imap_mailbox_name.h"
#include "store/store.h"

#include <stdbool.h>

struct buf;
struct imap_command;

/* The user's store, and how names are read (the session's settings). */
struct imap_folders {
	struct store			*st;
	const char			*maildir;
	const struct imap_name_opts	*names;
	size_t				 match_cells_max;	/* LIST's; 0: the default */
};

/*
 * CREATE: a trailing delimiter only says children will follow ("A." is
 * "A"); missing superiors are created too (RFC 3501 6.3.3).
 */
int	 imap_folder_create(const struct imap_folders *f, const char *name, struct imap_no *no_r);
/* DELETE: never INBOX; the folder's children stay (a \Noselect parent then lists them). */
int	 imap_folder_delete(const struct imap_folders *f, const char *name, struct imap_no *no_r);
/* RENAME: children move along; from INBOX, its messages move and INBOX stays empty. */
int	 imap_folder_rename(const struct imap_folders *f, const char *from, const char *to,
	    struct imap_no *no_r);
/* SUBSCRIBE / UNSUBSCRIBE: any valid name, a folder or not (RFC 3501 6.3.6). */
int	 imap_folder_subscribe(const struct imap_folders *f, const char *name, bool on,
	    struct imap_no *no_r);
/* STATUS: the untagged line with the items asked for (enum imap_status_item) into out. */
int	 imap_folder_status(const struct imap_folders *f, const char *name, unsigned items,
	    struct buf *out, struct imap_no *no_r);

/*
 * LIST or LSUB as parsed (imap_list.h), over the store's folder list and
 * subscriptions; LIST-STATUS opens each selectable folder read-only.
 */
int	 imap_folder_list(const struct imap_folders *f, const struct imap_command *cmd,
	    struct buf *out, struct imap_no *no_r);

/* The tagged NO for the last failing store call on this thread. */
void	 imap_store_no(const char *detail, struct imap_no *no_r);
/* The response code alone, for a failure recorded earlier ("UNAVAILABLE" if none fits). */
const char *imap_store_resp_code(enum store_error err);

/*
 * "* STATUS <name> (MESSAGES n ...)" with the items asked for (enum
 * imap_status_item), in RFC 3501's order, then HIGHESTMODSEQ and SIZE.
 * name is the wire name.  -1 if out is full.
 */
int	 imap_status_append(struct buf *out, const char *name, bool utf8, unsigned items,
	    const struct mailbox_status *st);

#endif
