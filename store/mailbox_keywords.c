/*
 * The folder's keyword list for IMAP's FLAGS and PERMANENTFLAGS, read from
 * the dovecot-keywords file each time: another process (a STORE in another
 * session, or Dovecot itself) may have added one.
 */
#include "store/store_private.h"

int
mailbox_keywords(struct mailbox *mb, const char *const **names_r, size_t *n_r,
    const char **error_r)
{
	size_t	 i, n = 0;

	if (maildir_keywords_load(mb->dirfd, &mb->kw, error_r) == -1)
		return -1;
	for (i = 0; i < MAILDIR_KEYWORDS_MAX; i++)
		if (mb->kw.names[i] != NULL)
			mb->kwlist[n++] = mb->kw.names[i];
	*names_r = mb->kwlist;
	*n_r = n;
	return 0;
}
