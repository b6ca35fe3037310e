/*
 * LIST and LSUB (RFC 3501 6.3.8-9) with LIST-EXTENDED (RFC 5258: selection
 * SUBSCRIBED, SPECIAL-USE, RECURSIVEMATCH with CHILDINFO; return SUBSCRIBED,
 * CHILDREN, SPECIAL-USE), LIST-STATUS (RFC 5819) and the CHILDREN and
 * SPECIAL-USE attributes (RFC 5258, 6154), over what the store lists.
 *
 * Pure: the caller reads the store (folder_list_info, folder_subscriptions)
 * and, for LIST-STATUS, answers a callback per folder; the reply lines go
 * into a struct buf.  Names are matched and written in their wire form
 * (modified UTF-7, or UTF-8 with UTF8=ACCEPT); a folder whose name on disk
 * has no valid wire form (another tool's) is not listed.
 */
#ifndef IMAPD_IMAP_LIST_H
#define IMAPD_IMAP_LIST_H

#include "imapd/imap_mailbox_name.h"
#include "store/store.h"

#include <stdbool.h>
#include <stddef.h>

struct buf;
struct imap_command;

struct imap_list_request {
	bool			 lsub;		/* LSUB, not LIST */
	bool			 utf8;		/* UTF8=ACCEPT enabled */
	unsigned		 select_opts;	/* enum imap_list_select */
	const char		*reference;
	const char *const	*patterns;
	size_t			 npatterns;
	unsigned		 return_opts;	/* enum imap_list_return */
	unsigned		 status_items;	/* enum imap_status_item, RETURN (STATUS (...)) */
	/*
	 * Most pattern x name cells to match (the CPU one LIST may take on
	 * the loop); 0: IMAP_LIST_MATCH_CELLS_DEFAULT.  Over it: NO [LIMIT].
	 */
	size_t			 match_cells_max;
};

/* ~0.15 s here; "*" over 10,000 folders of 200 bytes is 2M cells. */
#define IMAP_LIST_MATCH_CELLS_DEFAULT	(32u * 1024 * 1024)

/* The request of a parsed LIST or LSUB (valid as long as cmd is). */
void	 imap_list_request_init(struct imap_list_request *r, const struct imap_command *cmd,
	    bool utf8);

/* What the store says: folders "INBOX" first (folder_list_info), subscribed names. */
struct imap_list_store {
	const struct folder_info	*folders;
	size_t				 nfolders;
	char *const			*subscribed;
	size_t				 nsubscribed;
};

/* LIST-STATUS: the status of folder (store name); -1: no STATUS line for it. */
typedef int	 imap_list_status_fn(void *ctx, const char *folder, struct mailbox_status *st_r);

/*
 * Append the untagged LIST (or LSUB) lines, each followed by its STATUS
 * line when asked for, in name order with INBOX first.  0, or -1 when out
 * is full or the match budget is spent (*no_r: [LIMIT]); out is then as it
 * was.
 */
int	 imap_list(const struct imap_list_request *req, const struct imap_list_store *data,
	    imap_list_status_fn *status, void *ctx, struct buf *out, struct imap_no *no_r);

/*
 * The canonical pattern (RFC 3501 6.3.8), malloc'd: reference and pattern
 * joined, without doubling a delimiter between them, each run of wildcards
 * made one (same matches; a pattern is then at most twice its literal
 * characters long, so matching costs at most ~2 x name length squared).
 */
char	*imap_list_canonical(const char *reference, const char *pattern);
/*
 * Does name match pattern: '*' matches anything, '%' anything but the
 * delimiter; "INBOX" matches without case.  Linear in pattern times name,
 * whatever the wildcards (no backtracking a client could make exponential).
 */
bool	 imap_list_match(const char *pattern, const char *name);

#endif
