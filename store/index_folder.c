/*
 * Folder records of the index (folders.db): folder name -> struct
 * idx_folder, and the next folder id.  A record written before the
 * tombstone fields existed is shorter: it reads with none kept, and with
 * the floor at its HIGHESTMODSEQ, since the expunges before that left no
 * tombstone; one written before new/'s mtime was kept reads with none.
 * A longer one (a later release) is refused.
 */
#include "store/index_private.h"

#include <stddef.h>
#include <string.h>

#define NEXT_ID_KEY		"\001next-folder-id"
#define FOLDER_REC0_SIZE	offsetof(struct idx_folder, vanished_floor)
#define FOLDER_REC1_SIZE	offsetof(struct idx_folder, new_mtime_ns)

int
idx_folder_get(struct idx_txn *t, const char *folder, bool lock, struct idx_folder *f,
    const char **error_r)
{
	DBT	 key, val;
	int	 ret;

	memset(f, 0, sizeof(*f));
	dbt_set(&key, folder, strlen(folder));
	dbt_out(&val, f, sizeof(*f));
	ret = t->e->folders->get(t->e->folders, t->txn, &key, &val, lock ? DB_RMW : 0);
	if (ret == DB_NOTFOUND)
		return 1;
	/*
	 * Longer than this release knows: a later release wrote it, and what
	 * it added may change what the rest means (this release's own 88-byte
	 * record stops the one before it the same way).  Refuse, change nothing.
	 */
	if (ret == DB_BUFFER_SMALL)
		return store_err(error_r, STORE_ERR_TEMPORARY,
		    "index folder record of %s (%u bytes) is from a later release (this one "
		    "reads up to %zu): see \"Upgrade and downgrade\" in docs/ARCHITECTURE.md",
		    folder, (unsigned)val.size, sizeof(*f));
	if (ret != 0)
		return db_fail(t->e, ret, "folder get", error_r);
	if (val.size == FOLDER_REC0_SIZE)
		f->vanished_floor = f->highestmodseq;
	else if (val.size != FOLDER_REC1_SIZE && val.size != sizeof(*f))
		return store_err(error_r, STORE_ERR_TEMPORARY,
		    "index folder record of %s is damaged", folder);
	return 0;
}

int
idx_folder_put(struct idx_txn *t, const char *folder, struct idx_folder *f,
    const char **error_r)
{
	DBT		 key, val;
	uint32_t	 next = 1;
	int		 ret;

	if (f->id == 0) {
		dbt_set(&key, NEXT_ID_KEY, strlen(NEXT_ID_KEY));
		dbt_out(&val, &next, sizeof(next));
		ret = t->e->folders->get(t->e->folders, t->txn, &key, &val, DB_RMW);
		if (ret != 0 && ret != DB_NOTFOUND)
			return db_fail(t->e, ret, "folder id", error_r);
		if (ret == DB_NOTFOUND)
			next = 1;
		f->id = next++;
		dbt_set(&val, &next, sizeof(next));
		if ((ret = t->e->folders->put(t->e->folders, t->txn, &key, &val, 0)) != 0)
			return db_fail(t->e, ret, "folder id", error_r);
	}
	dbt_set(&key, folder, strlen(folder));
	dbt_set(&val, f, sizeof(*f));
	if ((ret = t->e->folders->put(t->e->folders, t->txn, &key, &val, 0)) != 0)
		return db_fail(t->e, ret, "folder put", error_r);
	return 0;
}

int
idx_folder_del(struct idx_txn *t, const char *folder, const char **error_r)
{
	struct idx_folder	 f;
	DBT			 key;
	int			 ret, rc;

	if ((rc = idx_folder_get(t, folder, true, &f, error_r)) != 0)
		return rc == 1 ? 0 : rc;
	if ((rc = idx_del_prefix(t, t->e->msgs, f.id, error_r)) != 0 ||
	    (rc = idx_del_prefix(t, t->e->cache, f.id, error_r)) != 0 ||
	    (rc = idx_del_prefix(t, t->e->vanished, f.id, error_r)) != 0)
		return rc;
	dbt_set(&key, folder, strlen(folder));
	ret = t->e->folders->del(t->e->folders, t->txn, &key, 0);
	if (ret != 0 && ret != DB_NOTFOUND)
		return db_fail(t->e, ret, "folder delete", error_r);
	return 0;
}
