/*
 * Expunge tombstones (vanished.db), for QRESYNC's VANISHED (EARLIER) and
 * the change feed: BE32 folder id + BE64 MODSEQ + BE32 UID, no data, so a
 * cursor walks one folder's expunges in MODSEQ order, oldest first.  A
 * folder keeps at most a configured number; dropping the oldest raises
 * its vanished_floor, below which the expunges are no longer known.
 */
#include "store/index_private.h"

#include <string.h>

#define VANISHED_KEY	16

static void
vanished_key(unsigned char k[VANISHED_KEY], uint32_t folder_id, uint64_t modseq, uint32_t uid)
{
	int	 i;

	msg_key(k, folder_id, 0);
	for (i = 0; i < 8; i++)
		k[4 + i] = (unsigned char)(modseq >> (56 - 8 * i));
	for (i = 0; i < 4; i++)
		k[12 + i] = (unsigned char)(uid >> (24 - 8 * i));
}

static uint64_t
key_modseq(const unsigned char k[VANISHED_KEY])
{
	uint64_t	 v = 0;
	int		 i;

	for (i = 0; i < 8; i++)
		v = v << 8 | k[4 + i];
	return v;
}

static uint32_t
key_uid(const unsigned char k[VANISHED_KEY])
{
	return (uint32_t)k[12] << 24 | (uint32_t)k[13] << 16 | (uint32_t)k[14] << 8 | k[15];
}

int
idx_vanished_add(struct idx_txn *t, struct idx_folder *f, uint32_t uid, const char **error_r)
{
	unsigned char	 k[VANISHED_KEY];
	DBT		 key, val;
	int		 ret;

	/* The change that expunges it is the folder's next MODSEQ. */
	vanished_key(k, f->id, f->highestmodseq + 1, uid);
	dbt_set(&key, k, sizeof(k));
	dbt_set(&val, "", 0);
	if ((ret = t->e->vanished->put(t->e->vanished, t->txn, &key, &val, 0)) != 0)
		return db_fail(t->e, ret, "tombstone put", error_r);
	f->tombstones++;
	return 0;
}

/* Walk fn over the folder's tombstones from MODSEQ from on; fn returns false to stop. */
typedef bool	 vanished_fn(DBC *c, const unsigned char *k, void *ctx);

static int
vanished_walk(struct idx_txn *t, uint32_t folder_id, uint64_t from, vanished_fn *fn,
    void *ctx, const char **error_r)
{
	unsigned char	 k[VANISHED_KEY], want[4];
	DBC		*c;
	DBT		 key, val;
	int		 ret;

	if ((ret = t->e->vanished->cursor(t->e->vanished, t->txn, &c, 0)) != 0)
		return db_fail(t->e, ret, "cursor", error_r);
	vanished_key(k, folder_id, from, 0);
	memcpy(want, k, 4);
	dbt_out(&key, k, sizeof(k));
	key.size = sizeof(k);
	memset(&val, 0, sizeof(val));
	val.flags = DB_DBT_PARTIAL;	/* keys only */
	for (ret = c->get(c, &key, &val, DB_SET_RANGE); ret == 0;
	    ret = c->get(c, &key, &val, DB_NEXT)) {
		if (key.size != VANISHED_KEY || memcmp(k, want, 4) != 0 || !fn(c, k, ctx))
			break;
	}
	c->close(c);
	if (ret != 0 && ret != DB_NOTFOUND)
		return db_fail(t->e, ret, "tombstones", error_r);
	return 0;
}

static bool
collect(DBC *c, const unsigned char *k, void *ctx)
{
	(void)c;
	uid_list_push(ctx, key_uid(k));
	return true;
}

int
idx_vanished_since(struct idx_txn *t, uint32_t folder_id, uint64_t since, struct uid_list *uids,
    const char **error_r)
{
	if (since == UINT64_MAX)
		return 0;
	return vanished_walk(t, folder_id, since + 1, collect, uids, error_r);
}

struct trim_ctx {
	struct idx_folder	*f;
	uint32_t		 max;
	int			 ret;
};

static bool
trim_one(DBC *c, const unsigned char *k, void *vctx)
{
	struct trim_ctx	*ctx = vctx;

	if (ctx->f->tombstones <= ctx->max)
		return false;
	if ((ctx->ret = c->del(c, 0)) != 0)
		return false;
	ctx->f->tombstones--;
	if (key_modseq(k) > ctx->f->vanished_floor)
		ctx->f->vanished_floor = key_modseq(k);
	return true;
}

int
idx_vanished_trim(struct idx_txn *t, struct idx_folder *f, uint32_t max, const char **error_r)
{
	struct trim_ctx	 ctx = { f, max, 0 };
	int		 rc;

	if (f->tombstones <= max)
		return 0;
	if ((rc = vanished_walk(t, f->id, 0, trim_one, &ctx, error_r)) != 0)
		return rc;
	if (ctx.ret != 0)
		return db_fail(t->e, ctx.ret, "tombstone trim", error_r);
	return 0;
}
