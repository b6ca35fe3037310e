/*
 * Inside of the index, shared by index.c (environment, transactions,
 * message records), index_folder.c (folder records) and index_vanished.c
 * (expunge tombstones): the only files that include <db.h>.
 */
#ifndef STORE_INDEX_PRIVATE_H
#define STORE_INDEX_PRIVATE_H

#include "store/store_private.h"

#include <sys/types.h>

#include <db.h>
#include <stdbool.h>
#include <stdint.h>

struct idx_env {
	struct idx_env	*next;
	char		*maildir;
	pid_t		 pid;		/* handles do not survive fork() */
	DB_ENV		*env;
	DB		*folders;
	DB		*msgs;
	DB		*cache;		/* the records' cached strings (index.c) */
	DB		*vanished;	/* expunge tombstones (index_vanished.c) */
	int		 refs;
	int		 lockfd;	/* LOCK_SH while open; LOCK_EX to destroy */
	bool		 stale;		/* needs recovery: reopen */
	bool		 busy;		/* being opened (a placeholder) or closed: wait */
	unsigned	 commits;
};

struct idx_txn {
	struct idx_env	*e;
	DB_TXN		*txn;
	DBT		 val;		/* DB_DBT_REALLOC buffer for idx_msg_get */
	DBT		 cval;		/* the same for its cached strings */
};

/* Map a BDB error to ours (IDX_RETRY or -1); marks the environment for reopening if needed. */
int		 db_fail(struct idx_env *e, int ret, const char *what, const char **error_r);
/* A DBT over data (input), or over a caller's buffer of size bytes (output). */
void		 dbt_set(DBT *d, const void *data, size_t size);
void		 dbt_out(DBT *d, void *data, size_t size);
/* BE32 folder id + BE32 UID: a cursor walks one folder in UID order. */
void		 msg_key(unsigned char k[8], uint32_t folder_id, uint32_t uid);
/* Delete every record of db whose key begins with folder_id (BE32). */
int		 idx_del_prefix(struct idx_txn *t, DB *db, uint32_t folder_id, const char **error_r);

#endif
