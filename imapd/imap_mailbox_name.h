/*
 * Mailbox names between the wire and the store (issue 15 item 4).
 *
 * One personal namespace, prefix "" and hierarchy delimiter "." (what
 * Dovecot advertises over Maildir++): the IMAP name "Archive.2024" is the
 * store folder "Archive.2024", directory ".Archive.2024".  Folder names
 * are kept in modified UTF-7 (RFC 3501 5.1.3) on disk, as Dovecot and
 * Courier keep them, so the Maildir stays readable by them; with
 * UTF8=ACCEPT (RFC 6855) the wire carries UTF-8 and is converted here.
 * INBOX is matched without case and has no children (it is the Maildir).
 *
 * Every refusal is a struct imap_no: the session answers
 * "<tag> NO [<code>] <text>".
 */
#ifndef IMAPD_IMAP_MAILBOX_NAME_H
#define IMAPD_IMAP_MAILBOX_NAME_H

#include "store/store.h"

#include <stdbool.h>
#include <stddef.h>

struct buf;

#define IMAP_HIERARCHY_DELIM	'.'
/* NAMESPACE (RFC 2342): the one personal namespace, prefix "" with that delimiter. */
#define IMAP_NAMESPACE_REPLY	"* NAMESPACE ((\"\" \".\")) NIL NIL\r\n"
/* Room for a store folder name and its NUL. */
#define IMAP_FOLDER_SIZE	(STORE_FOLDER_NAME_MAX + 1)

/* A tagged NO: response code (RFC 5530, no brackets; NULL: none) and text. */
struct imap_no {
	const char	*code;
	const char	*text;		/* for the client: a string literal, no paths */
	const char	*detail;	/* for the log (the store's text), or NULL */
};

struct imap_name_opts {
	size_t	 name_max;	/* longest folder name in bytes (mUTF-7); 0 or more: the store's */
	bool	 utf8;		/* UTF8=ACCEPT enabled: names on the wire are UTF-8 */
};

/*
 * Strict modified UTF-7 -> UTF-8, appended to out.  Refused (-1, *error_r
 * a literal): a byte outside printable ASCII, an '&' shift not closed by
 * '-', a character outside modified BASE64 in a shift, leftover or
 * non-zero padding bits, a broken surrogate pair, an encoded printable
 * ASCII character or control character, two adjacent shifts (one is the
 * shortest form), or out full.  Whatever passes is what the encoder makes
 * of its decoding: one spelling per name.
 */
int	 imap_mutf7_decode(const char *in, struct buf *out, const char **error_r);
/* Well-formed UTF-8 without control characters -> modified UTF-7, appended to out. */
int	 imap_mutf7_encode(const char *in, struct buf *out, const char **error_r);

/*
 * The store folder for a mailbox name as the client sent it: "INBOX" for
 * inbox in any case, else the modified UTF-7 name, in folder_r.  -1 with
 * *no_r ([CANNOT] and why) for any name that is not valid modified UTF-7
 * (UTF-8 with opts->utf8), longer than opts->name_max, or one the store
 * refuses (folder_name_check: "..", "/", control characters, "~", empty
 * levels, INBOX children, the Maildir's own file names).
 */
int	 imap_name_to_folder(const char *name, const struct imap_name_opts *opts,
	    char folder_r[IMAP_FOLDER_SIZE], struct imap_no *no_r);
/*
 * A store folder's name on the wire (decoded to UTF-8 when utf8), appended
 * to out; -1 if the name on disk is not one imap_name_to_folder() would
 * give (another tool's) or out is full: such a folder is not listed.
 */
int	 imap_folder_to_name(const char *folder, bool utf8, struct buf *out);

/*
 * A mailbox name as the grammar's astring: an atom when it can be one
 * (never NIL), else a quoted string, else (CR, LF, or 8-bit without
 * utf8) a literal.  -1 if out is full.
 */
int	 imap_append_mailbox(struct buf *out, const char *name, bool utf8);

#endif
