/* nodeset.c - see nodeset.h. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nodeset.h"
#include "store.h"
#include "util.h"

static uint32_t slot_of(uint32_t id, uint32_t cap)
{
	return (id * 2654435761u) & (cap - 1);
}

static int find_slot(const struct nodeset *s, uint32_t id)
{
	for (uint32_t i = slot_of(id, s->cap), n = 0; n < s->cap; n++, i = (i + 1) & (s->cap - 1)) {
		if (s->ids[i] == id)
			return (int)i;
		if (s->ids[i] == 0)
			return -1;
	}
	return -1;
}

static int mem_add(struct nodeset *s, uint32_t id)
{
	uint32_t i;

	if ((s->count + 1) * 2 > s->cap) {
		uint32_t *old = s->ids, oc = s->cap;
		s->cap = oc ? oc * 2 : 64;
		s->ids = calloc(s->cap, sizeof(*s->ids));
		if (!s->ids) {
			s->ids = old;
			s->cap = oc;
			return -ENOMEM;
		}
		s->count = 0;
		for (uint32_t k = 0; k < oc; k++)
			if (old[k])
				mem_add(s, old[k]);
		free(old);
	}
	if (find_slot(s, id) >= 0)
		return 0;
	for (i = slot_of(id, s->cap); s->ids[i]; i = (i + 1) & (s->cap - 1))
		;
	s->ids[i] = id;
	s->count++;
	return 0;
}

static void mem_del(struct nodeset *s, uint32_t id)
{
	int at = find_slot(s, id);
	uint32_t i, j, mask = s->cap - 1;

	if (at < 0)
		return;
	i = (uint32_t)at;
	s->ids[i] = 0;
	s->count--;
	for (j = (i + 1) & mask; s->ids[j]; j = (j + 1) & mask) {
		uint32_t x = s->ids[j];
		s->ids[j] = 0;
		s->count--;
		mem_add(s, x);
	}
}

static int load_cb(void *arg, const MDB_val *k, const MDB_val *v)
{
	(void)v;
	if (k->mv_size != 4)
		return -EBADMSG;
	return mem_add(arg, store_rd_be32(k->mv_data));
}

int nodeset_init(struct nodeset *s, struct store *st, const char *dbname)
{
	struct store_txn t;
	int rc;

	memset(s, 0, sizeof(*s));
	s->st = st;
	s->db = store_dbi(st, dbname);
	if (s->db < 0)
		return s->db;
	if ((rc = mem_add(s, 0xffffffffu)) < 0) /* allocate; removed below */
		return rc;
	mem_del(s, 0xffffffffu);
	store_txn_begin(st, &t, 1);
	store_iter_prefix(&t, s->db, NULL, 0, load_cb, s);
	rc = t.ret;
	store_txn_abort(&t);
	return rc;
}

void nodeset_free(struct nodeset *s)
{
	free(s->ids);
	memset(s, 0, sizeof(*s));
}

int nodeset_has(const struct nodeset *s, uint32_t id)
{
	return id && s->cap && find_slot(s, id) >= 0;
}

int nodeset_add(struct nodeset *s, uint32_t id)
{
	struct store_txn t;
	uint8_t k[4], v[8];
	int rc;

	if (!id)
		return -EINVAL;
	if (nodeset_has(s, id))
		return -EEXIST;
	store_be32(k, id);
	store_be64(v, now_real_ms());
	store_txn_begin(s->st, &t, 0);
	store_put(&t, s->db, k, 4, v, 8);
	if ((rc = store_txn_commit(&t)) < 0)
		return rc;
	return mem_add(s, id);
}

int nodeset_del(struct nodeset *s, uint32_t id)
{
	struct store_txn t;
	uint8_t k[4];
	int rc;

	if (!nodeset_has(s, id))
		return -ENOENT;
	store_be32(k, id);
	store_txn_begin(s->st, &t, 0);
	store_del(&t, s->db, k, 4);
	if ((rc = store_txn_commit(&t)) < 0)
		return rc;
	mem_del(s, id);
	return 0;
}

struct each {
	nodeset_cb cb;
	void *arg;
};

static int each_cb(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct each *e = arg;
	if (k->mv_size == 4)
		e->cb(e->arg, store_rd_be32(k->mv_data),
		      v->mv_size == 8 ? store_rd_be64(v->mv_data) : 0);
	return 0;
}

int nodeset_foreach(struct nodeset *s, nodeset_cb cb, void *arg)
{
	struct store_txn t;
	struct each e = {cb, arg};
	int rc;

	store_txn_begin(s->st, &t, 1);
	store_iter_prefix(&t, s->db, NULL, 0, each_cb, &e);
	rc = t.ret;
	store_txn_abort(&t);
	return rc;
}
