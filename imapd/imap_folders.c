/*
 * Folder commands for the session: the STATUS reply line.
 */
#include "imapd/imap_folders.h"
#include "imapd/imap_command.h"
#include "imapd/imap_mailbox_name.h"
#include "lib/buf.h"

#include <inttypes.h>

int
imap_status_append(struct buf *out, const char *name, bool utf8, unsigned items,
    const struct mailbox_status *st)
{
	const struct {
		unsigned	 item;
		const char	*label;
		uint64_t	 value;
	} v[] = {
		{ IMAP_STATUS_MESSAGES,		"MESSAGES",	st->messages },
		{ IMAP_STATUS_RECENT,		"RECENT",	st->recent },
		{ IMAP_STATUS_UIDNEXT,		"UIDNEXT",	st->uidnext },
		{ IMAP_STATUS_UIDVALIDITY,	"UIDVALIDITY",	st->uidvalidity },
		{ IMAP_STATUS_UNSEEN,		"UNSEEN",	st->unseen },
		{ IMAP_STATUS_HIGHESTMODSEQ,	"HIGHESTMODSEQ", st->highestmodseq },
		{ IMAP_STATUS_SIZE,		"SIZE",		st->size },
	};
	const char	*sep = "";
	size_t		 i;

	if (buf_puts(out, "* STATUS ") == -1 || imap_append_mailbox(out, name, utf8) == -1 ||
	    buf_puts(out, " (") == -1)
		return -1;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		if (!(items & v[i].item))
			continue;
		if (buf_printf(out, "%s%s %" PRIu64, sep, v[i].label, v[i].value) == -1)
			return -1;
		sep = " ";
	}
	return buf_puts(out, ")\r\n");
}
