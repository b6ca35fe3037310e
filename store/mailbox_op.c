/*
 * Writes split for the event loop (threading contract in store.h): begin
 * copies what to do, commit runs the synchronous call's code on whichever
 * thread calls it, result hands its outcome back to the loop thread.  The
 * error text and code are thread-local (store_err), so the commit keeps
 * its own copy and the result sets them again on the reading thread.
 */
#include "store/store_private.h"
#include "lib/workq.h"
#include "lib/xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum op_kind { OP_FLAGS, OP_EXPUNGE, OP_COPY, OP_MOVE, OP_APPEND };

struct store_op {
	enum op_kind		 kind;
	struct mailbox		*mb;		/* borrowed until the op is freed */
	struct store_append	*append;	/* OP_APPEND: owned */
	uint32_t		*uids;		/* the sources, copied */
	size_t			 n;
	enum flag_mode		 mode;
	uint32_t		 flags;
	char			*keywords;
	char			*dest;
	uint64_t		 unchangedsince;	/* OP_FLAGS; UINT64_MAX: unconditional */
	/* Written by the commit, read after it. */
	bool			 committed;
	int			 rc;
	enum store_error	 code;
	char			 error[512];
	uint32_t		 uidvalidity;	/* UIDPLUS */
	uint32_t		*uids_r;	/* [n] */
	uint32_t		*modified;	/* OP_FLAGS with UNCHANGEDSINCE: [n] */
	size_t			 nmodified;
	store_op_done_fn	*done;
	void			*arg;
};

static struct store_op *
op_new(enum op_kind kind, struct mailbox *mb, const uint32_t *uids, size_t n)
{
	struct store_op	*op;

	op = xcalloc(1, sizeof(*op));
	op->kind = kind;
	op->mb = mb;
	op->n = n;
	op->uids = xreallocarray(NULL, n + 1, sizeof(*op->uids));
	if (n > 0)
		memcpy(op->uids, uids, n * sizeof(*uids));
	return op;
}

struct store_op *
store_op_flags(struct mailbox *mb, const uint32_t *uids, size_t n, enum flag_mode mode,
    uint32_t flags, const char *keywords)
{
	struct store_op	*op = op_new(OP_FLAGS, mb, uids, n);

	op->mode = mode;
	op->flags = flags;
	op->keywords = keywords != NULL ? xstrdup(keywords) : NULL;
	op->unchangedsince = UINT64_MAX;
	return op;
}

struct store_op *
store_op_flags_cond(struct mailbox *mb, const uint32_t *uids, size_t n, enum flag_mode mode,
    uint32_t flags, const char *keywords, uint64_t unchangedsince)
{
	struct store_op	*op = store_op_flags(mb, uids, n, mode, flags, keywords);

	op->unchangedsince = unchangedsince;
	op->modified = xcalloc(n + 1, sizeof(*op->modified));
	return op;
}

struct store_op *
store_op_expunge(struct mailbox *mb, const uint32_t *uids, size_t n)
{
	return op_new(OP_EXPUNGE, mb, uids, n);
}

struct store_op *
store_op_copy(struct mailbox *mb, const uint32_t *uids, size_t n, const char *dest_folder,
    bool move)
{
	struct store_op	*op = op_new(move ? OP_MOVE : OP_COPY, mb, uids, n);

	op->dest = xstrdup(dest_folder);
	op->uids_r = xcalloc(n + 1, sizeof(*op->uids_r));
	return op;
}

struct store_op *
store_op_append(struct store_append **a)
{
	struct store_op	*op = op_new(OP_APPEND, NULL, NULL, 0);

	op->append = *a;
	*a = NULL;
	return op;
}

static int
op_run(struct store_op *op, const char **error_r)
{
	const uint32_t	*uids;

	switch (op->kind) {
	case OP_FLAGS:
		if (op->modified != NULL)
			return mailbox_store_flags_cond(op->mb, op->uids, op->n, op->mode,
			    op->flags, op->keywords, op->unchangedsince, op->modified,
			    &op->nmodified, error_r);
		return mailbox_store_flags(op->mb, op->uids, op->n, op->mode, op->flags,
		    op->keywords, error_r);
	case OP_EXPUNGE:
		return mailbox_expunge(op->mb, op->uids, op->n, error_r);
	case OP_COPY:
	case OP_MOVE:
		return mailbox_copy_uids(op->mb, op->uids, op->n, op->dest, op->kind == OP_MOVE,
		    op->uids_r, &op->uidvalidity, error_r);
	case OP_APPEND:
		if (append_commit(op->append, error_r) == -1)
			return -1;
		op->n = store_append_count(op->append);
		uids = append_uids(op->append, &op->uidvalidity);
		op->uids_r = xreallocarray(NULL, op->n, sizeof(*op->uids_r));
		memcpy(op->uids_r, uids, op->n * sizeof(*uids));
		return 0;
	}
	return store_err(error_r, STORE_ERR_PARAMS, "unknown store operation");
}

void
store_op_commit(struct store_op *op)
{
	const char	*error = NULL;

	if (op->committed) {
		op->rc = store_err(&error, STORE_ERR_PARAMS, "store operation committed twice");
	} else {
		op->committed = true;
		op->rc = op_run(op, &error);
	}
	if (op->rc == -1) {
		op->code = store_error_code();
		snprintf(op->error, sizeof(op->error), "%s", error != NULL ? error : "failed");
	}
}

static void
op_work(void *arg)
{
	store_op_commit(arg);
}

static void
op_done(void *arg)
{
	struct store_op	*op = arg;

	op->done(op, op->arg);
}

void
store_op_submit(struct store_op *op, struct workq *wq, store_op_done_fn *done, void *arg)
{
	op->done = done;
	op->arg = arg;
	workq_submit(wq, op_work, op_done, op);
}

int
store_op_result(const struct store_op *op, const char **error_r)
{
	if (!op->committed)
		return store_err(error_r, STORE_ERR_PARAMS, "store operation not committed");
	if (op->rc == -1)
		return store_err(error_r, op->code, "%s", op->error);
	return 0;
}

const uint32_t *
store_op_uids(const struct store_op *op, uint32_t *uidvalidity_r, size_t *n_r)
{
	bool	 uidplus = op->kind == OP_COPY || op->kind == OP_MOVE || op->kind == OP_APPEND;

	*uidvalidity_r = 0;
	*n_r = 0;
	if (!op->committed || op->rc != 0 || !uidplus)
		return NULL;
	*uidvalidity_r = op->uidvalidity;
	*n_r = op->n;
	return op->uids_r;
}

const uint32_t *
store_op_modified(const struct store_op *op, size_t *n_r)
{
	*n_r = op->committed && op->rc == 0 ? op->nmodified : 0;
	return op->modified;
}

void
store_op_free(struct store_op **opp)
{
	struct store_op	*op = *opp;

	if (op == NULL)
		return;
	store_append_free(&op->append);
	free(op->uids);
	free(op->uids_r);
	free(op->modified);
	free(op->keywords);
	free(op->dest);
	xfree(opp);
}
