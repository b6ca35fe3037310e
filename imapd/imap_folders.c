/*
 * Folder commands for the session: names checked and mapped here
 * (imap_mailbox_name), the work done by the store's folder_* calls, and
 * the store's error kinds mapped to RFC 5530 response codes in one table.
 */
#include "imapd/imap_folders.h"
#include "imapd/imap_command.h"
#include "imapd/imap_list.h"
#include "lib/buf.h"

#include <inttypes.h>
#include <string.h>

static const struct {
	enum store_error	 err;
	const char		*code;
	const char		*text;
} store_nos[] = {
	{ STORE_ERR_TEMPORARY,	"UNAVAILABLE",	"Temporary failure, try again later" },
	{ STORE_ERR_NOT_FOUND,	"NONEXISTENT",	"Mailbox does not exist" },
	{ STORE_ERR_EXISTS,	"ALREADYEXISTS", "Mailbox already exists" },
	{ STORE_ERR_IN_USE,	"INUSE",	"Mailbox is in use, try again later" },
	{ STORE_ERR_OVER_QUOTA,	"OVERQUOTA",	"Quota exceeded" },
	{ STORE_ERR_EXPUNGED,	"EXPUNGEISSUED", "Some messages were expunged meanwhile" },
	{ STORE_ERR_PARAMS,	"CANNOT",	"Invalid mailbox name" },
	{ STORE_ERR_PERMISSION,	"NOPERM",	"Permission denied" },
	{ STORE_ERR_NOT_POSSIBLE, "CANNOT",	"Not possible" },
};

static size_t
store_no_find(enum store_error err)
{
	size_t	 i;

	for (i = 0; i < sizeof(store_nos) / sizeof(store_nos[0]); i++)
		if (store_nos[i].err == err)
			break;
	return i;
}

void
imap_store_no(const char *detail, struct imap_no *no_r)
{
	size_t	 i = store_no_find(store_error_code());

	no_r->code = "SERVERBUG";
	no_r->text = "Internal error";
	no_r->detail = detail;
	if (i < sizeof(store_nos) / sizeof(store_nos[0])) {
		no_r->code = store_nos[i].code;
		no_r->text = store_nos[i].text;
	}
}

const char *
imap_store_resp_code(enum store_error err)
{
	size_t	 i = store_no_find(err);

	return i < sizeof(store_nos) / sizeof(store_nos[0]) ? store_nos[i].code : "UNAVAILABLE";
}

static int
no(struct imap_no *no_r, const char *code, const char *text)
{
	no_r->code = code;
	no_r->text = text;
	no_r->detail = NULL;
	return -1;
}

static int
store_failed(const char *detail, struct imap_no *no_r)
{
	imap_store_no(detail, no_r);
	return -1;
}

/* The superiors of folder ("A", "A.B" of "A.B.C"), unless they exist. */
static int
create_superiors(const struct imap_folders *f, char *folder, struct imap_no *no_r)
{
	const char	*error;
	char		*dot;

	for (dot = strchr(folder, IMAP_HIERARCHY_DELIM); dot != NULL;
	    dot = strchr(dot + 1, IMAP_HIERARCHY_DELIM)) {
		*dot = '\0';
		if (folder_create(f->st, f->maildir, folder, &error) == -1 &&
		    store_error_code() != STORE_ERR_EXISTS) {
			*dot = IMAP_HIERARCHY_DELIM;
			return store_failed(error, no_r);
		}
		*dot = IMAP_HIERARCHY_DELIM;
	}
	return 0;
}

int
imap_folder_create(const struct imap_folders *f, const char *name, struct imap_no *no_r)
{
	char		 folder[IMAP_FOLDER_SIZE], trimmed[IMAP_FOLDER_SIZE * 4];
	const char	*error;
	size_t		 len = strlen(name);

	/* "A." asks for "A" with children to come; only one delimiter is dropped. */
	if (len > 1 && len < sizeof(trimmed) && name[len - 1] == IMAP_HIERARCHY_DELIM) {
		memcpy(trimmed, name, len - 1);
		trimmed[len - 1] = '\0';
		name = trimmed;
	}
	if (imap_name_to_folder(name, f->names, folder, no_r) == -1)
		return -1;
	if (strcmp(folder, "INBOX") == 0)
		return no(no_r, "ALREADYEXISTS", "INBOX always exists");
	if (create_superiors(f, folder, no_r) == -1)
		return -1;
	if (folder_create(f->st, f->maildir, folder, &error) == -1)
		return store_failed(error, no_r);
	return 0;
}

int
imap_folder_delete(const struct imap_folders *f, const char *name, struct imap_no *no_r)
{
	char		 folder[IMAP_FOLDER_SIZE];
	const char	*error;

	if (imap_name_to_folder(name, f->names, folder, no_r) == -1)
		return -1;
	if (strcmp(folder, "INBOX") == 0)
		return no(no_r, "CANNOT", "INBOX cannot be deleted");
	if (folder_delete(f->st, f->maildir, folder, &error) == -1)
		return store_failed(error, no_r);
	return 0;
}

int
imap_folder_rename(const struct imap_folders *f, const char *from, const char *to,
    struct imap_no *no_r)
{
	char		 src[IMAP_FOLDER_SIZE], dst[IMAP_FOLDER_SIZE];
	const char	*error;

	if (imap_name_to_folder(from, f->names, src, no_r) == -1 ||
	    imap_name_to_folder(to, f->names, dst, no_r) == -1)
		return -1;
	if (strcmp(dst, "INBOX") == 0)
		return no(no_r, "ALREADYEXISTS", "INBOX always exists");
	if (strcmp(src, dst) == 0)
		return no(no_r, "ALREADYEXISTS", "Mailbox already exists");
	if (folder_rename(f->st, f->maildir, src, dst, &error) == -1)
		return store_failed(error, no_r);
	return 0;
}

int
imap_folder_subscribe(const struct imap_folders *f, const char *name, bool on,
    struct imap_no *no_r)
{
	char		 folder[IMAP_FOLDER_SIZE];
	const char	*error;

	if (imap_name_to_folder(name, f->names, folder, no_r) == -1)
		return -1;
	if (folder_subscribe(f->st, f->maildir, folder, on, &error) == -1)
		return store_failed(error, no_r);
	return 0;
}

int
imap_folder_status(const struct imap_folders *f, const char *name, unsigned items,
    struct buf *out, struct imap_no *no_r)
{
	char			 folder[IMAP_FOLDER_SIZE];
	struct mailbox		*mb;
	struct mailbox_status	 st;
	const char		*error;
	int			 rc;

	if (imap_name_to_folder(name, f->names, folder, no_r) == -1)
		return -1;
	if (mailbox_open(f->st, f->maildir, folder, MAILBOX_READONLY, &mb, &error) == -1)
		return store_failed(error, no_r);
	rc = mailbox_status(mb, &st);
	mailbox_close(&mb);
	if (rc == -1)
		return store_failed(NULL, no_r);
	if (imap_status_append(out, strcmp(folder, "INBOX") == 0 ? "INBOX" : name,
	    f->names->utf8, items, &st) == -1)
		return no(no_r, "LIMIT", "Reply too large");
	return 0;
}

/* LIST-STATUS: one folder's status, or no STATUS line for it. */
static int
list_status(void *ctx, const char *folder, struct mailbox_status *st_r)
{
	const struct imap_folders	*f = ctx;
	struct mailbox			*mb;
	const char			*error;
	int				 rc;

	if (mailbox_open(f->st, f->maildir, folder, MAILBOX_READONLY, &mb, &error) == -1)
		return -1;
	rc = mailbox_status(mb, st_r);
	mailbox_close(&mb);
	return rc;
}

int
imap_folder_list(const struct imap_folders *f, const struct imap_command *cmd,
    struct buf *out, struct imap_no *no_r)
{
	struct imap_list_request	 req;
	struct imap_list_store		 data = { NULL, 0, NULL, 0 };
	struct folder_info		*v = NULL;
	char				**subs = NULL;
	const char			*error;
	int				 rc;

	imap_list_request_init(&req, cmd, f->names->utf8);
	req.match_cells_max = f->match_cells_max;
	if (folder_list_info(f->st, f->maildir, &v, &data.nfolders, &error) == -1)
		return store_failed(error, no_r);
	if ((req.lsub || (req.select_opts & IMAP_LIST_SEL_SUBSCRIBED) ||
	    (req.return_opts & IMAP_LIST_RET_SUBSCRIBED)) &&
	    folder_subscriptions(f->st, f->maildir, &subs, &data.nsubscribed, &error) == -1) {
		folder_info_free(&v, data.nfolders);
		return store_failed(error, no_r);
	}
	data.folders = v;
	data.subscribed = subs;
	rc = imap_list(&req, &data, list_status, (void *)f, out, no_r);
	folder_info_free(&v, data.nfolders);
	folder_names_free(&subs, data.nsubscribed);
	return rc;
}

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
	size_t		 i, start = buf_len(out);

	if (buf_puts(out, "* STATUS ") == -1 || imap_append_mailbox(out, name, utf8) == -1 ||
	    buf_puts(out, " (") == -1)
		goto full;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		if (!(items & v[i].item))
			continue;
		if (buf_printf(out, "%s%s %" PRIu64, sep, v[i].label, v[i].value) == -1)
			goto full;
		sep = " ";
	}
	if (buf_puts(out, ")\r\n") == 0)
		return 0;
full:
	buf_truncate(out, start);
	return -1;
}
