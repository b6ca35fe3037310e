/*
 * Directories opened and removed by descriptor, never through a symbolic
 * link.  For code that walks a tree someone else can change under it:
 * mailctl, as root, under mail_root (the mail user owns every directory
 * there and can swap any of them for a symlink), and delivery, which must
 * not be led out of a Maildir.  Each step is taken relative to the
 * descriptor of the directory above it, so a swap after a check cannot
 * redirect the next step.
 */
#ifndef LIB_SAFEDIR_H
#define LIB_SAFEDIR_H

#include <sys/types.h>

/* No owner check. */
#define SAFEDIR_ANY_OWNER	((uid_t)-1)
/* Deepest directory safedir_remove_tree() enters: a Maildir++ tree is 3. */
#define SAFEDIR_DEPTH_MAX	32

/*
 * openat(at, name) as a directory, without following a symbolic link, and
 * owned by owner unless that is SAFEDIR_ANY_OWNER.  path is how name is
 * shown in messages.  Returns the descriptor, or -1 with errno ELOOP (name
 * is a symbolic link), EPERM (another owner), ENOENT, ENOTDIR or another
 * open(2) error, and *error_r saying which.
 */
int	 safedir_open(int at, const char *name, const char *path, uid_t owner,
	    const char **error_r);

/*
 * Delete the directory name under at and everything in it.  Directories
 * are entered only through safedir_open() (same owner, same file system,
 * at most SAFEDIR_DEPTH_MAX deep); everything else, symbolic links
 * included, is unlinked without being followed, and *links_r counts the
 * symbolic links so removed.  Returns 0, or -1 with *error_r naming the
 * first thing refused or failed (the walk goes on past it) and errno set;
 * errno is ENOENT if name itself does not exist.
 */
int	 safedir_remove_tree(int at, const char *name, const char *path, uid_t owner,
	    unsigned *links_r, const char **error_r);

#endif
