/*
 * BODY and BODYSTRUCTURE (RFC 3501 7.4.2) as Dovecot prints them: text
 * parts get a default ("charset" "us-ascii") appended to their parameters,
 * a multipart without parts shows one empty text/plain part, extension
 * data is MD5 (never computed: NIL unless Content-MD5 is given),
 * disposition, language and location.
 */
#include "mail/mime_private.h"

#include <string.h>
#include <strings.h>

#define EMPTY_BODY \
	"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)"
#define EMPTY_BODYSTRUCTURE \
	"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 " \
	"NIL NIL NIL NIL)"

static int
write_params(struct buf *out, const struct mime_param *v, size_t n,
    bool default_charset)
{
	size_t	 i;
	bool	 seen_charset = false;

	if (!default_charset && n == 0)
		return buf_puts(out, "NIL");
	buf_append(out, "(", 1);
	for (i = 0; i < n; i++) {
		if (i > 0)
			buf_append(out, " ", 1);
		if (strcasecmp(v[i].name, "charset") == 0)
			seen_charset = true;
		imap_append_string(out, v[i].name);
		buf_append(out, " ", 1);
		imap_append_string(out, v[i].value);
	}
	if (default_charset && !seen_charset) {
		if (i > 0)
			buf_append(out, " ", 1);
		buf_puts(out, "\"charset\" \"us-ascii\"");
	}
	return buf_append(out, ")", 1);
}

/* disposition, language, location: common to every BODYSTRUCTURE part */
static int
write_common_ext(struct buf *out, const struct mime_part_info *info)
{
	size_t	 i;

	buf_append(out, " ", 1);
	if (info->disposition == NULL) {
		buf_puts(out, "NIL");
	} else {
		buf_append(out, "(", 1);
		imap_append_string(out, info->disposition);
		buf_append(out, " ", 1);
		write_params(out, info->disp_params, info->ndisp_params, false);
		buf_append(out, ")", 1);
	}
	buf_append(out, " ", 1);
	if (info->nlanguage == 0) {
		buf_puts(out, "NIL");
	} else {
		buf_append(out, "(", 1);
		for (i = 0; i < info->nlanguage; i++) {
			if (i > 0)
				buf_append(out, " ", 1);
			imap_append_string(out, info->language[i]);
		}
		buf_append(out, ")", 1);
	}
	buf_append(out, " ", 1);
	return imap_append_nstring_nolf(out, info->location);
}

static int
write_children(struct buf *out, const struct mime_part *part, bool extended)
{
	size_t	 i;

	for (i = 0; i < part->nchildren; i++)
		mime_bodystructure_write(out, &part->children[i], extended);
	return 0;
}

static int
write_multipart(struct buf *out, const struct mime_part *part, bool extended)
{
	const struct mime_part_info	*info = part->info;

	buf_append(out, "(", 1);
	if (part->nchildren > 0)
		write_children(out, part, extended);
	else
		buf_puts(out, extended ? EMPTY_BODYSTRUCTURE : EMPTY_BODY);
	buf_append(out, " ", 1);
	imap_append_string(out, info->subtype != NULL ? info->subtype : "");
	if (extended) {
		buf_append(out, " ", 1);
		write_params(out, info->params, info->nparams, false);
		write_common_ext(out, info);
	}
	return buf_append(out, ")", 1);
}

static int
write_leaf(struct buf *out, const struct mime_part *part, bool extended)
{
	const struct mime_part_info	*info = part->info;
	bool				 text;

	buf_append(out, "(", 1);
	if (part->flags & MIME_PART_RFC822) {
		buf_puts(out, "\"message\" \"rfc822\"");
		text = false;
	} else if (info->type == NULL) {
		buf_puts(out, "\"text\" \"plain\"");
		text = true;
	} else {
		text = strcasecmp(info->type, "text") == 0;
		imap_append_string(out, info->type);
		buf_append(out, " ", 1);
		imap_append_string(out, info->subtype != NULL ?
		    info->subtype : "");
	}
	buf_append(out, " ", 1);
	write_params(out, info->params, info->nparams, text);
	buf_append(out, " ", 1);
	imap_append_nstring_nolf(out, info->id);
	buf_append(out, " ", 1);
	imap_append_nstring_nolf(out, info->description);
	buf_append(out, " ", 1);
	if (info->encoding != NULL)
		imap_append_string(out, info->encoding);
	else
		buf_puts(out, "\"7bit\"");
	buf_printf(out, " %zu", part->body_vsize);
	if (text) {
		buf_printf(out, " %u", part->lines);
	} else if ((part->flags & MIME_PART_RFC822) && part->nchildren > 0) {
		buf_append(out, " ", 1);
		mime_envelope_write(out, part->children[0].info->envelope);
		buf_append(out, " ", 1);
		mime_bodystructure_write(out, &part->children[0], extended);
		buf_printf(out, " %u", part->lines);
	}
	if (extended) {
		buf_append(out, " ", 1);
		imap_append_nstring_nolf(out, info->md5);
		write_common_ext(out, info);
	}
	return buf_append(out, ")", 1);
}

int
mime_bodystructure_write(struct buf *out, const struct mime_part *part,
    bool extended)
{
	if (part->flags & MIME_PART_MULTIPART)
		return write_multipart(out, part, extended);
	return write_leaf(out, part, extended);
}

/*
 * Dovecot does not cache the BODYSTRUCTURE of a plain 7-bit US-ASCII
 * message: it prints a fixed one, so the spelling of such a Content-Type
 * ("TEXT/PLAIN; CHARSET=US-ASCII") shows in BODY but not in BODYSTRUCTURE.
 * Same test as its message_part_data_is_plain_7bit().
 */
static bool
is_plain_7bit(const struct mime_part *part)
{
	const struct mime_part_info	*info = part->info;

	if (!(part->flags & MIME_PART_TEXT) || part->nchildren > 0)
		return false;
	if (info->subtype != NULL && strcasecmp(info->subtype, "plain") != 0)
		return false;
	if (info->nparams > 1 || (info->nparams == 1 &&
	    (strcasecmp(info->params[0].name, "charset") != 0 ||
	    strcasecmp(info->params[0].value, "us-ascii") != 0)))
		return false;
	if (info->id != NULL || info->description != NULL)
		return false;
	if (info->encoding != NULL && strcasecmp(info->encoding, "7bit") != 0)
		return false;
	return info->md5 == NULL && info->disposition == NULL &&
	    info->nlanguage == 0 && info->location == NULL;
}

int
mime_bodystructure_write_message(struct buf *out, const struct mime_part *root,
    bool extended)
{
	if (!extended || !is_plain_7bit(root))
		return mime_bodystructure_write(out, root, extended);
	return buf_printf(out, "(\"text\" \"plain\" (\"charset\" \"us-ascii\") "
	    "NIL NIL \"7bit\" %zu %u NIL NIL NIL NIL)", root->body_vsize,
	    root->lines);
}
