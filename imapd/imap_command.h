/*
 * IMAP commands as data: one table of every IMAP4rev1 command (RFC 3501)
 * and the extensions of issue 15 (IDLE, UIDPLUS, MOVE, LITERAL+,
 * NAMESPACE, ID, ENABLE, SPECIAL-USE, UNSELECT, CHILDREN, SASL-IR,
 * APPENDLIMIT, CONDSTORE, QRESYNC, LIST-EXTENDED, LIST-STATUS, ESEARCH,
 * SORT, THREAD, STATUS=SIZE), with the states each is valid in and the
 * parser of its arguments into struct imap_command.
 *
 * The state check and the bad-command counter belong to the dispatcher
 * (imap_command_allowed()), not to each handler (STYLE.md 4).  Everything
 * a parsed command points to lives in the parser's memory until the next
 * imap_parser_*() call.
 */
#ifndef IMAPD_IMAP_COMMAND_H
#define IMAPD_IMAP_COMMAND_H

#include "imapd/imap_seqset.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

enum imap_state {
	IMAP_STATE_NOT_AUTH	= 1 << 0,
	IMAP_STATE_AUTH		= 1 << 1,
	IMAP_STATE_SELECTED	= 1 << 2,
	IMAP_STATE_LOGOUT	= 1 << 3,
};

enum imap_cmd_id {
	IMAP_CMD_CAPABILITY, IMAP_CMD_NOOP, IMAP_CMD_LOGOUT, IMAP_CMD_ID,
	IMAP_CMD_STARTTLS, IMAP_CMD_AUTHENTICATE, IMAP_CMD_LOGIN,
	IMAP_CMD_ENABLE, IMAP_CMD_SELECT, IMAP_CMD_EXAMINE, IMAP_CMD_CREATE,
	IMAP_CMD_DELETE, IMAP_CMD_RENAME, IMAP_CMD_SUBSCRIBE, IMAP_CMD_UNSUBSCRIBE,
	IMAP_CMD_LIST, IMAP_CMD_LSUB, IMAP_CMD_NAMESPACE, IMAP_CMD_STATUS,
	IMAP_CMD_APPEND, IMAP_CMD_IDLE, IMAP_CMD_CHECK, IMAP_CMD_CLOSE,
	IMAP_CMD_UNSELECT, IMAP_CMD_EXPUNGE, IMAP_CMD_SEARCH, IMAP_CMD_FETCH,
	IMAP_CMD_STORE, IMAP_CMD_COPY, IMAP_CMD_MOVE, IMAP_CMD_SORT, IMAP_CMD_THREAD,
};

enum imap_cmd_flags {
	IMAP_CMDF_UID		= 1 << 0,	/* the UID form: numbers are UIDs */
	/* A top-level literal after the first argument is streamed, not held (APPEND). */
	IMAP_CMDF_STREAM	= 1 << 1,
	/* No untagged EXPUNGE may be sent while it runs (RFC 3501 7.4.1). */
	IMAP_CMDF_NO_EXPUNGE	= 1 << 2,
};

struct imap_command;
struct imap_args;

struct imap_command_def {
	const char	*name;		/* "FETCH", "UID FETCH" */
	enum imap_cmd_id id;
	unsigned	 states;	/* enum imap_state bits */
	unsigned	 flags;		/* enum imap_cmd_flags bits */
	/* Parse the arguments after the name; 0, or -1 with args->error set. */
	int		(*parse)(struct imap_args *args, struct imap_command *cmd);
};

/* The entry for a command name ("fetch", "UID FETCH"), any case; NULL if unknown. */
const struct imap_command_def *imap_command_find(const char *name, size_t len);
bool	 imap_command_allowed(const struct imap_command_def *def, enum imap_state state);
/* Every entry, for tests and CAPABILITY-style listings. */
extern const struct imap_command_def	imap_commands[];
extern const unsigned			imap_ncommands;

struct imap_strings {
	const char	**v;
	unsigned	  n;
};

/* BODY[<part>.<text> (<fields>)]<offset.count> */
enum imap_section_text {
	IMAP_SECTION_ALL,		/* BODY[] or BODY[1.2] */
	IMAP_SECTION_HEADER, IMAP_SECTION_HEADER_FIELDS, IMAP_SECTION_HEADER_FIELDS_NOT,
	IMAP_SECTION_TEXT, IMAP_SECTION_MIME,
};

struct imap_section {
	uint32_t		*part;		/* 1.2.3: {1, 2, 3} */
	unsigned		 nparts;
	enum imap_section_text	 text;
	struct imap_strings	 fields;	/* HEADER.FIELDS(.NOT) names */
};

enum imap_fetch_item {
	IMAP_FETCH_FLAGS, IMAP_FETCH_INTERNALDATE, IMAP_FETCH_RFC822_SIZE,
	IMAP_FETCH_ENVELOPE, IMAP_FETCH_BODY, IMAP_FETCH_BODYSTRUCTURE,
	IMAP_FETCH_UID, IMAP_FETCH_MODSEQ, IMAP_FETCH_RFC822,
	IMAP_FETCH_RFC822_HEADER, IMAP_FETCH_RFC822_TEXT,
	IMAP_FETCH_BODY_SECTION,	/* BODY[...] / BODY.PEEK[...] */
};

struct imap_fetch_att {
	enum imap_fetch_item	 item;
	bool			 peek;		/* BODY.PEEK: \Seen not set */
	bool			 partial;	/* <offset.count> given */
	uint32_t		 offset, count;
	struct imap_section	 section;
};

enum imap_search_type {
	IMAP_SK_AND,		/* children: all (a parenthesised list, or the top) */
	IMAP_SK_OR, IMAP_SK_NOT,
	IMAP_SK_ALL, IMAP_SK_ANSWERED, IMAP_SK_DELETED, IMAP_SK_DRAFT, IMAP_SK_FLAGGED,
	IMAP_SK_NEW, IMAP_SK_OLD, IMAP_SK_RECENT, IMAP_SK_SEEN,
	IMAP_SK_UNANSWERED, IMAP_SK_UNDELETED, IMAP_SK_UNDRAFT, IMAP_SK_UNFLAGGED,
	IMAP_SK_UNSEEN,
	IMAP_SK_KEYWORD, IMAP_SK_UNKEYWORD,			/* str: the keyword */
	IMAP_SK_BCC, IMAP_SK_BODY, IMAP_SK_CC, IMAP_SK_FROM, IMAP_SK_SUBJECT,
	IMAP_SK_TEXT, IMAP_SK_TO,				/* str */
	IMAP_SK_HEADER,						/* str: field, str2: value */
	IMAP_SK_BEFORE, IMAP_SK_ON, IMAP_SK_SINCE,		/* date (internal date) */
	IMAP_SK_SENTBEFORE, IMAP_SK_SENTON, IMAP_SK_SENTSINCE,	/* date (Date: header) */
	IMAP_SK_LARGER, IMAP_SK_SMALLER,			/* number */
	IMAP_SK_UID, IMAP_SK_SEQSET,				/* set */
	IMAP_SK_MODSEQ,						/* number (CONDSTORE) */
};

struct imap_search_key {
	enum imap_search_type	 type;
	struct imap_search_key	*child;		/* AND, OR (two), NOT (one) */
	struct imap_search_key	*next;		/* sibling under the same parent */
	const char		*str, *str2;
	uint64_t		 number;
	time_t			 date;		/* 00:00 UTC of the day given */
	struct imap_seqset	 set;
};

enum imap_search_return {	/* ESEARCH (RFC 4731) */
	IMAP_SEARCH_RETURN_MIN = 1 << 0, IMAP_SEARCH_RETURN_MAX = 1 << 1,
	IMAP_SEARCH_RETURN_ALL = 1 << 2, IMAP_SEARCH_RETURN_COUNT = 1 << 3,
};

struct imap_search {
	bool			 esearch;	/* RETURN (...) given: answer with ESEARCH */
	unsigned		 ret;		/* enum imap_search_return; RETURN () means ALL */
	const char		*charset;	/* NULL: none given */
	struct imap_search_key	*key;		/* an IMAP_SK_AND of the keys given */
};

enum imap_sort_key {
	IMAP_SORT_ARRIVAL, IMAP_SORT_CC, IMAP_SORT_DATE, IMAP_SORT_FROM,
	IMAP_SORT_SIZE, IMAP_SORT_SUBJECT, IMAP_SORT_TO,
};

struct imap_sort_criterion {
	enum imap_sort_key	 key;
	bool			 reverse;
};

enum imap_status_item {
	IMAP_STATUS_MESSAGES = 1 << 0, IMAP_STATUS_RECENT = 1 << 1,
	IMAP_STATUS_UIDNEXT = 1 << 2, IMAP_STATUS_UIDVALIDITY = 1 << 3,
	IMAP_STATUS_UNSEEN = 1 << 4, IMAP_STATUS_HIGHESTMODSEQ = 1 << 5,
	IMAP_STATUS_SIZE = 1 << 6,
};

enum imap_list_select {		/* LIST-EXTENDED selection options (RFC 5258, 6154) */
	IMAP_LIST_SEL_SUBSCRIBED = 1 << 0, IMAP_LIST_SEL_REMOTE = 1 << 1,
	IMAP_LIST_SEL_RECURSIVEMATCH = 1 << 2, IMAP_LIST_SEL_SPECIAL_USE = 1 << 3,
};

enum imap_list_return {		/* RETURN options (RFC 5258, 5819, 6154) */
	IMAP_LIST_RET_SUBSCRIBED = 1 << 0, IMAP_LIST_RET_CHILDREN = 1 << 1,
	IMAP_LIST_RET_SPECIAL_USE = 1 << 2, IMAP_LIST_RET_STATUS = 1 << 3,
};

enum imap_store_op { IMAP_STORE_SET, IMAP_STORE_ADD, IMAP_STORE_REMOVE };

/* The parsed command.  Which member of the union is set follows def->id. */
struct imap_command {
	const char			*tag;
	const struct imap_command_def	*def;
	union {
		struct { const char *mechanism, *initial; } authenticate; /* initial: NULL none, "" for "=" */
		struct { const char *user, *password; } login;
		struct imap_strings	 enable;	/* capability names */
		struct imap_strings	 id;		/* name, value pairs; value NULL for NIL; n 0 for NIL */
		const char		*mailbox;	/* CREATE DELETE SUBSCRIBE UNSUBSCRIBE */
		struct { const char *from, *to; } rename;
		struct {
			const char		*mailbox;
			bool			 condstore, qresync;
			uint32_t		 uidvalidity;	/* QRESYNC */
			uint64_t		 modseq;
			bool			 has_known_uids, has_seq_match;
			struct imap_seqset	 known_uids, match_seqs, match_uids;
		} select;	/* SELECT EXAMINE */
		struct {
			unsigned		 select_opts;	/* enum imap_list_select */
			const char		*reference;
			struct imap_strings	 patterns;
			unsigned		 return_opts;	/* enum imap_list_return */
			unsigned		 status_items;	/* RETURN (STATUS (...)) */
		} list;		/* LIST LSUB */
		struct { const char *mailbox; unsigned items; } status;
		struct {
			const char		*mailbox;
			struct imap_strings	 flags;
			bool			 has_date;
			time_t			 date;
			uint64_t		 size;		/* of the streamed message */
		} append;
		struct {
			struct imap_seqset	 set;
			struct imap_fetch_att	*atts;
			unsigned		 natts;
			bool			 has_changedsince, vanished;
			uint64_t		 changedsince;
		} fetch;
		struct {
			struct imap_seqset	 set;
			bool			 has_unchangedsince;
			uint64_t		 unchangedsince;
			enum imap_store_op	 op;
			bool			 silent;
			struct imap_strings	 flags;
		} store;
		struct { struct imap_seqset set; const char *mailbox; } copy;	/* COPY MOVE */
		struct imap_seqset	 uid_expunge;
		struct imap_search	 search;
		struct {
			struct imap_sort_criterion *criteria;
			unsigned		 ncriteria;
			struct imap_search	 search;	/* charset required */
		} sort;
		struct {
			bool			 references;	/* else ORDEREDSUBJECT */
			struct imap_search	 search;	/* charset required */
		} thread;
	} u;
};

#endif
