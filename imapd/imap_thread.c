/*
 * RFC 5256 threading.  Containers (messages, and dummies for referenced
 * messages that are not here) form a tree under one root; every pass that
 * needs children before parents walks a list of the containers in reverse
 * pre-order, built without recursion.
 */
#include "imapd/imap_thread.h"

#include "imapd/imap_sort.h"
#include "lib/buf.h"
#include "lib/xmalloc.h"
#include "store/store.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct node {
	const struct imap_sort_msg *msg;	/* NULL: a dummy */
	struct node		*parent, *child, *last;	/* first and last child */
	struct node		*prev, *next;		/* siblings */
};

struct imap_thread {
	struct node		 root;
	struct node		**all;		/* every container, for freeing and walks */
	size_t			 n, cap;
};

static struct node *
node_new(struct imap_thread *t, const struct imap_sort_msg *msg)
{
	struct node	*n = xcalloc(1, sizeof(*n));

	if (t->n == t->cap) {
		t->cap = t->cap == 0 ? 64 : size_mul(t->cap, 2);
		t->all = xreallocarray(t->all, t->cap, sizeof(*t->all));
	}
	n->msg = msg;
	t->all[t->n++] = n;
	return n;
}

static void
unlink_node(struct node *n)
{
	if (n->parent == NULL)
		return;
	if (n->prev != NULL)
		n->prev->next = n->next;
	else
		n->parent->child = n->next;
	if (n->next != NULL)
		n->next->prev = n->prev;
	else
		n->parent->last = n->prev;
	n->parent = n->prev = n->next = NULL;
}

/* Append c to p's children. */
static void
link_node(struct node *p, struct node *c)
{
	unlink_node(c);
	c->parent = p;
	c->next = NULL;
	c->prev = p->last;
	if (p->last != NULL)
		p->last->next = c;
	else
		p->child = c;
	p->last = c;
}

/* Make v[0..k) p's children, in that order. */
static void
set_children(struct node *p, struct node **v, size_t k)
{
	size_t	 i;

	p->child = p->last = NULL;
	for (i = 0; i < k; i++) {
		v[i]->parent = NULL;
		link_node(p, v[i]);
	}
}

/* Scratch space for one node's children (or the root set). */
struct vec {
	struct node	**v;
	size_t		 n, cap;
};

static void
vec_push(struct vec *v, struct node *n)
{
	if (v->n == v->cap) {
		v->cap = v->cap == 0 ? 64 : size_mul(v->cap, 2);
		v->v = xreallocarray(v->v, v->cap, sizeof(*v->v));
	}
	v->v[v->n++] = n;
}

/*
 * Whether a is n or above it: linking a under n would make a loop.  A
 * container without children is above nothing, which keeps the common
 * case (a new reply to the end of a long chain) from walking the chain.
 */
static bool
is_ancestor(const struct node *a, const struct node *n)
{
	if (a->child == NULL)
		return a == n;
	for (; n != NULL; n = n->parent)
		if (n == a)
			return true;
	return false;
}

/* ---- Message-ID table (open addressing, ids compared exactly) ---- */

struct id_slot {
	char		*id;
	struct node	*node;
};

struct id_table {
	struct id_slot	*slots;
	size_t		 cap, used;
};

static uint64_t
hash(const char *s, size_t len, bool fold)
{
	uint64_t	 h = 14695981039346656037ULL;
	size_t		 i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (fold && c >= 'A' && c <= 'Z')
			c += 32;
		h = (h ^ c) * 1099511628211ULL;
	}
	return h;
}

static struct id_slot *
id_find(struct id_table *ids, const char *id, size_t len)
{
	size_t	 i = (size_t)hash(id, len, false) & (ids->cap - 1);

	while (ids->slots[i].id != NULL && (strlen(ids->slots[i].id) != len ||
	    memcmp(ids->slots[i].id, id, len) != 0))
		i = (i + 1) & (ids->cap - 1);
	return &ids->slots[i];
}

/* The container for id, created (a dummy) if there is none. */
static struct node *
id_node(struct imap_thread *t, struct id_table *ids, const char *id, size_t len)
{
	struct id_slot	*s, *old;
	size_t		 i, oldcap;

	if (ids->used * 2 >= ids->cap) {
		old = ids->slots;
		oldcap = ids->cap;
		ids->cap = ids->cap == 0 ? 256 : size_mul(ids->cap, 2);
		ids->slots = xcalloc(ids->cap, sizeof(*ids->slots));
		for (i = 0; i < oldcap; i++)
			if (old[i].id != NULL)
				*id_find(ids, old[i].id, strlen(old[i].id)) = old[i];
		free(old);
	}
	s = id_find(ids, id, len);
	if (s->id == NULL) {
		s->id = xstrndup(id, len);
		s->node = node_new(t, NULL);
		ids->used++;
	}
	return s->node;
}

/* The next "<id>" in *s: its inside (white space kept out), or false. */
static bool
next_id(const char **s, const char **id_r, size_t *len_r)
{
	const char	*lt, *gt;

	while ((lt = strchr(*s, '<')) != NULL) {
		gt = strchr(lt + 1, '>');
		if (gt == NULL)
			return false;
		*s = gt + 1;
		*id_r = lt + 1;
		*len_r = (size_t)(gt - lt - 1);
		if (*len_r > 0 && memchr(*id_r, ' ', *len_r) == NULL &&
		    memchr(*id_r, '<', *len_r) == NULL)
			return true;
	}
	return false;
}

/* Step 1: link each message under its last reference, references in a chain. */
static void
link_references(struct imap_thread *t, struct id_table *ids, const struct imap_sort_msg *m)
{
	struct node	*self = NULL, *prev = NULL, *cur;
	const char	*s, *id;
	size_t		 len;

	s = m->message_id != NULL ? m->message_id : "";
	if (next_id(&s, &id, &len)) {
		self = id_node(t, ids, id, len);
		if (self->msg != NULL)
			self = NULL;	/* a duplicate Message-ID: a unique one */
	}
	if (self == NULL)
		self = node_new(t, NULL);
	self->msg = m;
	/* References, or else the first id of In-Reply-To */
	s = m->references != NULL ? m->references : "";
	if (!next_id(&s, &id, &len)) {
		s = m->in_reply_to != NULL ? m->in_reply_to : "";
		if (next_id(&s, &id, &len))
			prev = id_node(t, ids, id, len);
	} else {
		do {	/* (A) */
			cur = id_node(t, ids, id, len);
			if (prev != NULL && cur->parent == NULL && cur != prev &&
			    !is_ancestor(cur, prev))
				link_node(prev, cur);
			prev = cur;
		} while (next_id(&s, &id, &len));
	}
	/* (B) the last reference is the parent, replacing one from a truncated chain */
	if (prev != NULL && prev != self && !is_ancestor(self, prev))
		link_node(prev, self);
	else
		unlink_node(self);
}

/* Every container under the root in pre-order (root first). */
static struct node **
preorder(struct imap_thread *t, size_t *n_r)
{
	struct node	**out = xreallocarray(NULL, t->n + 1, sizeof(*out));
	struct node	**stack = xreallocarray(NULL, t->n + 1, sizeof(*stack));
	struct node	*n, *c;
	size_t		 n_out = 0, sp = 0;

	stack[sp++] = &t->root;
	while (sp > 0) {
		n = stack[--sp];
		out[n_out++] = n;
		/* the last child pushed first: the first child is visited first */
		for (c = n->last; c != NULL; c = c->prev)
			stack[sp++] = c;
	}
	free(stack);
	*n_r = n_out;
	return out;
}

/* Step 3 for one container's children. */
static void
prune_children(struct node *p, bool at_root, struct vec *tmp)
{
	struct node	*c, *k;

	tmp->n = 0;
	for (c = p->child; c != NULL; c = c->next) {
		if (c->msg != NULL || (at_root && c->child != NULL && c->child->next != NULL))
			vec_push(tmp, c);	/* a message, or a dummy that would make several roots */
		else		/* a dummy: its children (if any) take its place */
			for (k = c->child; k != NULL; k = k->next)
				vec_push(tmp, k);
	}
	set_children(p, tmp->v, tmp->n);	/* a dropped dummy is unreachable now */
}

static const struct imap_sort_msg *
first_msg(const struct node *n)
{
	while (n->msg == NULL && n->child != NULL)
		n = n->child;
	return n->msg;
}

static int
cmp_date(const void *x, const void *y)
{
	const struct imap_sort_msg	*a = first_msg(*(struct node *const *)x);
	const struct imap_sort_msg	*b = first_msg(*(struct node *const *)y);

	if (a == NULL || b == NULL)
		return (a == NULL) - (b == NULL);
	if (a->date != b->date)
		return a->date < b->date ? -1 : 1;
	return a->idx < b->idx ? -1 : a->idx > b->idx;
}

/* Sort p's children by sent date (a dummy by its first child's). */
static void
sort_children(struct node *p, struct vec *tmp)
{
	struct node	*c;

	if (p->child == NULL || p->child->next == NULL)
		return;
	tmp->n = 0;
	for (c = p->child; c != NULL; c = c->next)
		vec_push(tmp, c);
	qsort(tmp->v, tmp->n, sizeof(*tmp->v), cmp_date);
	set_children(p, tmp->v, tmp->n);
}

/* ---- Step 5: group the root set by base subject ---- */

struct subj_table {
	struct node	**slots;
	size_t		 cap;
};

static const char *
subject_of(const struct node *n)
{
	const struct imap_sort_msg	*m = first_msg(n);

	return m != NULL ? m->subject : "";
}

static struct node **
subj_slot(struct subj_table *st, const char *subject)
{
	size_t	 i = (size_t)hash(subject, strlen(subject), true) & (st->cap - 1);

	while (st->slots[i] != NULL && strcasecmp(subject_of(st->slots[i]), subject) != 0)
		i = (i + 1) & (st->cap - 1);
	return &st->slots[i];
}

static bool
refwd_of(const struct node *n)
{
	return n->msg != NULL && n->msg->refwd;
}

static void
merge(struct imap_thread *t, struct node **slot, struct node *cur)
{
	struct node	*in = *slot, *d, *c;

	if (in->msg == NULL && cur->msg == NULL) {	/* both dummies */
		while ((c = cur->child) != NULL)
			link_node(in, c);
		unlink_node(cur);
	} else if (in->msg == NULL) {
		link_node(in, cur);
	} else if (refwd_of(cur) && !refwd_of(in)) {
		link_node(in, cur);
	} else {	/* a new dummy takes in's place, both under it */
		d = node_new(t, NULL);
		d->parent = in->parent;
		d->prev = in->prev;
		d->next = in->next;
		if (d->prev != NULL)
			d->prev->next = d;
		else
			d->parent->child = d;
		if (d->next != NULL)
			d->next->prev = d;
		else
			d->parent->last = d;
		in->parent = in->prev = in->next = NULL;
		link_node(d, in);
		link_node(d, cur);
		*slot = d;
	}
}

static void
group_by_subject(struct imap_thread *t, struct vec *roots)
{
	struct subj_table	 st;
	struct node		*c, **slot;
	size_t			 i;

	roots->n = 0;
	for (c = t->root.child; c != NULL; c = c->next)
		vec_push(roots, c);
	for (st.cap = 16; st.cap < roots->n * 2; st.cap *= 2)
		;
	st.slots = xcalloc(st.cap, sizeof(*st.slots));
	for (c = t->root.child; c != NULL; c = c->next) {	/* (B) */
		if (*subject_of(c) == '\0')
			continue;
		slot = subj_slot(&st, subject_of(c));
		if (*slot == NULL || ((*slot)->msg != NULL &&
		    (c->msg == NULL || (refwd_of(*slot) && !refwd_of(c)))))
			*slot = c;
	}
	for (i = 0; i < roots->n; i++) {			/* (C) */
		c = roots->v[i];
		if (c->parent != &t->root || *subject_of(c) == '\0')
			continue;	/* merged meanwhile, or no subject */
		slot = subj_slot(&st, subject_of(c));
		if (*slot != c)
			merge(t, slot, c);
	}
	free(st.slots);
}

static void
thread_references(struct imap_thread *t, const struct imap_sort_msg *msgs, size_t n)
{
	struct id_table	 ids = { NULL, 0, 0 };
	struct node	**order, *c;
	struct vec	 tmp = { NULL, 0, 0 };
	size_t		 i, k, nodes;

	for (i = 0; i < n; i++)
		link_references(t, &ids, &msgs[i]);
	for (i = 0; i < ids.cap; i++)
		free(ids.slots[i].id);
	free(ids.slots);
	nodes = t->n;
	for (i = 0; i < nodes; i++)		/* (2) the root set */
		if (t->all[i]->parent == NULL)
			link_node(&t->root, t->all[i]);
	order = preorder(t, &k);		/* (3) children before parents */
	for (i = k; i-- > 0;)
		prune_children(order[i], order[i] == &t->root, &tmp);
	free(order);
	for (c = t->root.child; c != NULL; c = c->next)	/* (4) dummies by first child */
		if (c->msg == NULL)
			sort_children(c, &tmp);
	sort_children(&t->root, &tmp);
	group_by_subject(t, &tmp);		/* (5) */
	order = preorder(t, &k);		/* (6) every set of siblings */
	for (i = k; i-- > 0;)
		sort_children(order[i], &tmp);
	free(order);
	free(tmp.v);
}

static int
cmp_subject_date(const void *x, const void *y)
{
	const struct imap_sort_msg	*a = *(const struct imap_sort_msg *const *)x;
	const struct imap_sort_msg	*b = *(const struct imap_sort_msg *const *)y;
	int				 r = strcasecmp(a->subject, b->subject);

	if (r != 0)
		return r;
	if (a->date != b->date)
		return a->date < b->date ? -1 : 1;
	return a->idx < b->idx ? -1 : a->idx > b->idx;
}

/* ORDEREDSUBJECT: by base subject, then date; the first of each subject is the parent. */
static void
thread_subject(struct imap_thread *t, const struct imap_sort_msg *msgs, size_t n)
{
	const struct imap_sort_msg	**v = xreallocarray(NULL, n == 0 ? 1 : n, sizeof(*v));
	struct node			*parent = NULL, *c;
	struct vec			 tmp = { NULL, 0, 0 };
	size_t				 i;

	for (i = 0; i < n; i++)
		v[i] = &msgs[i];
	qsort(v, n, sizeof(*v), cmp_subject_date);
	for (i = 0; i < n; i++) {
		c = node_new(t, v[i]);
		if (i > 0 && strcasecmp(v[i]->subject, v[i - 1]->subject) == 0)
			link_node(parent, c);
		else
			link_node(&t->root, parent = c);
	}
	sort_children(&t->root, &tmp);
	free(tmp.v);
	free(v);
}

struct imap_thread *
imap_thread_build(const struct imap_sort_msg *msgs, size_t n, bool references)
{
	struct imap_thread	*t = xcalloc(1, sizeof(*t));

	if (references)
		thread_references(t, msgs, n);
	else
		thread_subject(t, msgs, n);
	return t;
}

static int
write_number(struct buf *out, const struct node *n, const struct msg_info *view, bool uid)
{
	return buf_printf(out, "%" PRIu32, uid ? view[n->msg->idx].uid : n->msg->idx + 1);
}

/*
 * One thread's members: a chain of single children is "1 2 3", two or
 * more children are each "(...)"; a dummy shows only its children.  An
 * explicit stack holds, per open level, the next sibling to write.
 */
static int
write_thread(struct buf *out, const struct node *n, const struct msg_info *view, bool uid,
    const struct node ***stack, size_t *cap)
{
	size_t	 sp = 0;
	int	 ret = 0;

	for (;;) {
		if (n->msg != NULL)
			ret |= write_number(out, n, view, uid);
		while (n->msg != NULL && n->child != NULL && n->child->next == NULL) {
			n = n->child;
			ret |= buf_puts(out, " ");
			ret |= write_number(out, n, view, uid);
		}
		if (n->child != NULL) {		/* two or more children (or a dummy) */
			if (sp == *cap) {
				*cap = *cap == 0 ? 64 : size_mul(*cap, 2);
				*stack = xreallocarray(*stack, *cap, sizeof(**stack));
			}
			(*stack)[sp++] = n->child->next;
			ret |= buf_puts(out, n->msg != NULL ? " (" : "(");
			n = n->child;
			continue;
		}
		for (;;) {			/* a leaf: close groups, open the next sibling */
			if (sp == 0)
				return ret;
			ret |= buf_puts(out, ")");
			if ((n = (*stack)[sp - 1]) != NULL) {
				(*stack)[sp - 1] = n->next;
				ret |= buf_puts(out, "(");
				break;
			}
			sp--;
		}
	}
}

int
imap_thread_write(struct buf *out, const struct imap_thread *t, const struct msg_info *view,
    bool uid)
{
	const struct node	*n, **stack = NULL;
	size_t			 cap = 0;
	int			 ret;

	ret = buf_puts(out, "* THREAD");
	for (n = t->root.child; n != NULL && ret == 0; n = n->next) {
		ret |= buf_puts(out, n == t->root.child ? " (" : "(");
		ret |= write_thread(out, n, view, uid, &stack, &cap);
		ret |= buf_puts(out, ")");
	}
	ret |= buf_puts(out, "\r\n");
	free(stack);
	return ret == 0 ? 0 : -1;
}

void
imap_thread_free(struct imap_thread **t)
{
	size_t	 i;

	if (*t == NULL)
		return;
	for (i = 0; i < (*t)->n; i++)
		free((*t)->all[i]);
	free((*t)->all);
	xfree(t);
}
