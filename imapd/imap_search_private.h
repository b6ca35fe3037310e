/*
 * Inside of a SEARCH run, shared by imap_search_eval.c (the key tree and
 * its evaluation) and imap_search_content.c (what a message's header and
 * body say).  Nothing else includes this.
 */
#ifndef IMAPD_IMAP_SEARCH_PRIVATE_H
#define IMAPD_IMAP_SEARCH_PRIVATE_H

#include "imapd/imap_search_eval.h"

#include "lib/buf.h"

/* What a key needs, cheapest first: the evaluation order. */
enum search_cost { COST_INFO, COST_KEYWORDS, COST_ENVELOPE, COST_HEADER, COST_BODY };

/* The ENVELOPE fields the address and subject keys search. */
enum env_field { ENV_SUBJECT, ENV_FROM, ENV_TO, ENV_CC, ENV_BCC, ENV_COUNT };

struct env_section {
	size_t	 raw;		/* where the field starts in search_msg.env_raw */
	bool	 done;		/* decoded (or found undecodable: start SIZE_MAX) */
	size_t	 start, len;	/* decoded, in search_msg.env */
	bool	 present;	/* not NIL */
};

/* One key, prepared: children sorted by cost, strings folded. */
struct search_node {
	enum imap_search_type	 type;
	enum search_cost	 cost;
	struct search_node	*kids;		/* AND: all, OR: two, NOT: one */
	size_t			 nkids;
	char			*field;		/* header field, lowercase; NULL: TEXT/BODY */
	char			*needle;	/* folded UTF-8 */
	size_t			 needle_len;
	char			*keyword;	/* KEYWORD, UNKEYWORD */
	uint64_t		 number;
	long			 day;		/* days since 1970-01-01 */
	const struct imap_seqset *set;
};

/* A header field in search_msg.header: offsets of its folded name and value. */
struct search_field {
	size_t	 name, name_len, value, value_len;
};

/* The message under evaluation; each part is filled on first use. */
struct search_msg {
	size_t			 i;
	bool			 tried_open;
	int			 fd;		/* -1: not open */
	size_t			 size;		/* of the file */
	const char		*data;		/* its first len bytes; NULL: none or gone */
	size_t			 len;
	bool			 mapped;	/* data is an mmap (else in file, or "") */
	struct buf		 file;		/* a small file's bytes, storage reused */
	bool			 header_done;
	struct buf		 header;	/* "name: value\n" per field, decoded, folded */
	struct search_field	*fields;
	size_t			 nfields, capfields;
	bool			 body_done;
	struct buf		 body;		/* the text parts, decoded, folded */
	bool			 sent_done;
	long			 sent_day;
	bool			 env_done, env_ok;
	struct buf		 env_raw;	/* the ENVELOPE string, split */
	struct buf		 env;		/* decoded fields: subject, "name <mailbox@host>\n" per address, folded */
	struct env_section	 env_field[ENV_COUNT];
	struct buf		 env_date;	/* the Date: as the envelope has it */
	bool			 env_has_date;
};

struct imap_search_run {
	struct imap_search_view	 view;
	struct search_node	*root;
	size_t			 next;		/* the next message to evaluate */
	uint32_t		 max_uid;	/* what `*` stands for in UID sets */
	struct imap_search_result result;
	size_t			 opened;
	struct search_msg	 msg;
};

/*
 * Open message m->i (once) and have at least its header in m->data, or
 * all of it when whole; false if it cannot be read.
 */
bool	 search_msg_open(struct imap_search_run *run, struct search_msg *m, bool whole);
/* Header keys and TEXT: the decoded, folded header (false: unreadable). */
bool	 search_msg_header(struct imap_search_run *run, struct search_msg *m);
/* BODY and TEXT: the decoded, folded text of every text part. */
bool	 search_msg_body(struct imap_search_run *run, struct search_msg *m);
/*
 * SUBJECT FROM TO CC BCC SENT* from the index's ENVELOPE (view->envelope):
 * false if there is none (not parsed yet, or unreadable): read the header.
 */
bool	 search_msg_envelope(struct imap_search_run *run, struct search_msg *m);
/* After search_msg_envelope: field k decoded and folded (once); NULL if it cannot be. */
const struct env_section *search_msg_env_field(struct search_msg *m, enum env_field k);
/* SENT*: the day of the Date: header in its own zone (internal date if none). */
long	 search_msg_sent_day(struct imap_search_run *run, struct search_msg *m);
/* Forget the message (unmap, empty the buffers, keep their storage). */
void	 search_msg_reset(struct search_msg *m);
void	 search_msg_free(struct search_msg *m);

#endif
