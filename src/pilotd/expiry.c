/* expiry.c - see expiry.h: an open-addressed table (linear probing, kept
 * at most 3/4 full, deletion by re-placing the rest of the cluster). */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include "expiry.h"

static uint32_t hash(uint32_t node)
{
	return node * 2654435761u;
}

static struct expiry_entry *slot(const struct expiry_table *t, uint32_t node)
{
	uint32_t mask = t->cap - 1, i = hash(node) & mask;

	while (t->e[i].node && t->e[i].node != node)
		i = (i + 1) & mask;
	return &t->e[i];
}

static int grow(struct expiry_table *t)
{
	struct expiry_entry *old = t->e;
	uint32_t oldcap = t->cap;

	t->cap = oldcap ? oldcap * 2 : 64;
	t->e = calloc(t->cap, sizeof(*t->e));
	if (!t->e) {
		t->e = old;
		t->cap = oldcap;
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < oldcap; i++)
		if (old[i].node)
			*slot(t, old[i].node) = old[i];
	free(old);
	return 0;
}

void expiry_free(struct expiry_table *t)
{
	free(t->e);
	t->e = NULL;
	t->cap = t->count = 0;
}

static void remove_at(struct expiry_table *t, struct expiry_entry *e)
{
	uint32_t mask = t->cap - 1, i = (uint32_t)(e - t->e);

	e->node = 0;
	t->count--;
	for (uint32_t j = (i + 1) & mask; t->e[j].node; j = (j + 1) & mask) {
		struct expiry_entry x = t->e[j];
		t->e[j].node = 0;
		*slot(t, x.node) = x;
	}
}

int expiry_set(struct expiry_table *t, uint32_t node, uint64_t at_s)
{
	struct expiry_entry *e;

	if (node == 0)
		return 0;
	if (at_s == 0) {
		if (t->cap && (e = slot(t, node))->node)
			remove_at(t, e);
		return 0;
	}
	if ((t->count + 1) * 4 > t->cap * 3 && grow(t) < 0)
		return -ENOMEM;
	e = slot(t, node);
	if (!e->node) {
		t->count++;
		e->node = node;
		e->cut = 0;
	} else if (e->at_s != at_s) {
		e->cut = 0; /* a new end: cut (again) when it comes */
	}
	e->at_s = at_s;
	return 0;
}

uint64_t expiry_get(const struct expiry_table *t, uint32_t node)
{
	const struct expiry_entry *e;

	if (!t->cap || node == 0)
		return 0;
	e = slot(t, node);
	return e->node ? e->at_s : 0;
}

int expiry_passed(const struct expiry_table *t, uint32_t node, uint64_t now_s)
{
	uint64_t at = expiry_get(t, node);

	return at && now_s >= at;
}

void expiry_due(struct expiry_table *t, uint64_t now_s, expiry_fn cb, void *arg)
{
	for (uint32_t i = 0; i < t->cap; i++) {
		struct expiry_entry *e = &t->e[i];
		if (e->node && !e->cut && now_s >= e->at_s) {
			e->cut = 1;
			cb(arg, e->node);
		}
	}
}
