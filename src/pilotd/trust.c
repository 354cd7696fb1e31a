/* trust.c - see trust.h. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store.h"
#include "trust.h"
#include "util.h"

/* Stored value: pk(32) since(8, BE) hostname(rest, no NUL). */
#define TRUST_VAL_MIN 40

static uint32_t slot_of(const struct trust_table *t, uint32_t node)
{
	return (node * 2654435761u) & (t->cap - 1);
}

static int grow(struct trust_table *t)
{
	struct trust_entry *old = t->e;
	uint32_t oldcap = t->cap, ncap = oldcap ? oldcap * 2 : 64;

	t->e = calloc(ncap, sizeof(*t->e));
	if (!t->e) {
		t->e = old;
		return -ENOMEM;
	}
	t->cap = ncap;
	t->count = 0;
	for (uint32_t i = 0; i < oldcap; i++) {
		if (!old[i].used)
			continue;
		uint32_t j = slot_of(t, old[i].node_id);
		while (t->e[j].used)
			j = (j + 1) & (t->cap - 1);
		t->e[j] = old[i];
		t->count++;
	}
	free(old);
	return 0;
}

struct trust_entry *trust_find(struct trust_table *t, uint32_t node_id)
{
	if (!t->cap)
		return NULL;
	for (uint32_t i = slot_of(t, node_id), n = 0; n < t->cap; n++, i = (i + 1) & (t->cap - 1)) {
		if (!t->e[i].used)
			return NULL;
		if (t->e[i].node_id == node_id)
			return &t->e[i];
	}
	return NULL;
}

struct trust_entry *trust_find_pk(struct trust_table *t, const uint8_t pk[32])
{
	/* Used on handshake receipt only (not per packet): a scan is fine. */
	for (uint32_t i = 0; i < t->cap; i++)
		if (t->e[i].used && memcmp(t->e[i].ed_pk, pk, 32) == 0)
			return &t->e[i];
	return NULL;
}

static struct trust_entry *mem_insert(struct trust_table *t, uint32_t node_id)
{
	struct trust_entry *e = trust_find(t, node_id);
	uint32_t i;

	if (e)
		return e;
	if ((t->count + 1) * 4 > t->cap * 3 && grow(t) < 0)
		return NULL;
	i = slot_of(t, node_id);
	while (t->e[i].used)
		i = (i + 1) & (t->cap - 1);
	memset(&t->e[i], 0, sizeof(t->e[i]));
	t->e[i].used = 1;
	t->e[i].node_id = node_id;
	t->count++;
	return &t->e[i];
}

static void mem_remove(struct trust_table *t, struct trust_entry *e)
{
	uint32_t i = (uint32_t)(e - t->e), j = i, mask = t->cap - 1;

	e->used = 0;
	t->count--;
	for (;;) {
		uint32_t h;
		j = (j + 1) & mask;
		if (!t->e[j].used)
			return;
		h = slot_of(t, t->e[j].node_id);
		if ((j > i && (h <= i || h > j)) || (j < i && (h <= i && h > j))) {
			t->e[i] = t->e[j];
			t->e[j].used = 0;
			i = j;
		}
	}
}

static int load_cb(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct trust_table *t = arg;
	struct trust_entry *e;
	const uint8_t *p = v->mv_data;
	size_t hl;

	if (k->mv_size != 4 || v->mv_size < TRUST_VAL_MIN)
		return -EBADMSG;
	e = mem_insert(t, store_rd_be32(k->mv_data));
	if (!e)
		return -ENOMEM;
	memcpy(e->ed_pk, p, 32);
	e->since = store_rd_be64(p + 32);
	hl = MIN(v->mv_size - TRUST_VAL_MIN, sizeof(e->hostname) - 1);
	memcpy(e->hostname, p + TRUST_VAL_MIN, hl);
	e->hostname[hl] = '\0';
	return 0;
}

int trust_init(struct trust_table *t, struct store *st)
{
	struct store_txn txn;
	int rc;

	memset(t, 0, sizeof(*t));
	t->st = st;
	t->db_trust = store_dbi(st, "trust");
	t->db_asked = store_dbi(st, "asked");
	if (t->db_trust < 0 || t->db_asked < 0)
		return -EINVAL;
	if ((rc = grow(t)) < 0)
		return rc;
	store_txn_begin(st, &txn, 1);
	store_iter_prefix(&txn, t->db_trust, NULL, 0, load_cb, t);
	rc = txn.ret;
	store_txn_abort(&txn);
	return rc;
}

void trust_free(struct trust_table *t)
{
	free(t->e);
	memset(t, 0, sizeof(*t));
}

int trust_add(struct trust_table *t, uint32_t node_id, const uint8_t pk[32], const char *hostname)
{
	uint8_t key[4], val[TRUST_VAL_MIN + 64];
	size_t hl = hostname ? MIN(strlen(hostname), 63) : 0;
	struct store_txn txn;
	struct trust_entry *e;
	uint64_t since = now_real_ms();
	int rc;

	e = trust_find(t, node_id);
	if (e)
		since = e->since;
	store_be32(key, node_id);
	memcpy(val, pk, 32);
	store_be64(val + 32, since);
	if (hl)
		memcpy(val + TRUST_VAL_MIN, hostname, hl);
	store_txn_begin(t->st, &txn, 0);
	store_put(&txn, t->db_trust, key, 4, val, TRUST_VAL_MIN + hl);
	store_del(&txn, t->db_asked, key, 4);
	rc = store_txn_commit(&txn);
	if (rc < 0)
		return rc;
	e = mem_insert(t, node_id);
	if (!e)
		return -ENOMEM;
	memcpy(e->ed_pk, pk, 32);
	e->since = since;
	memcpy(e->hostname, hostname ? hostname : "", hl);
	e->hostname[hl] = '\0';
	return 0;
}

int trust_remove(struct trust_table *t, uint32_t node_id)
{
	uint8_t key[4];
	struct store_txn txn;
	struct trust_entry *e = trust_find(t, node_id);
	int rc;

	store_be32(key, node_id);
	store_txn_begin(t->st, &txn, 0);
	store_del(&txn, t->db_trust, key, 4);
	store_del(&txn, t->db_asked, key, 4);
	rc = store_txn_commit(&txn);
	if (rc < 0)
		return rc;
	if (!e)
		return -ENOENT;
	mem_remove(t, e);
	return 0;
}

int trust_mark_asked(struct trust_table *t, uint32_t node_id)
{
	uint8_t key[4], val[8];
	struct store_txn txn;

	store_be32(key, node_id);
	store_be64(val, now_real_ms());
	store_txn_begin(t->st, &txn, 0);
	store_put(&txn, t->db_asked, key, 4, val, 8);
	return store_txn_commit(&txn);
}

int trust_was_asked(struct trust_table *t, uint32_t node_id)
{
	uint8_t key[4];
	struct store_txn txn;
	MDB_val v;
	int rc;

	store_be32(key, node_id);
	store_txn_begin(t->st, &txn, 1);
	rc = store_get(&txn, t->db_asked, key, 4, &v);
	store_txn_abort(&txn);
	return rc == 0;
}

int trust_clear_asked(struct trust_table *t, uint32_t node_id)
{
	uint8_t key[4];
	struct store_txn txn;

	store_be32(key, node_id);
	store_txn_begin(t->st, &txn, 0);
	store_del(&txn, t->db_asked, key, 4);
	return store_txn_commit(&txn);
}

void trust_foreach(struct trust_table *t, trust_visit_cb cb, void *arg)
{
	for (uint32_t i = 0; i < t->cap; i++)
		if (t->e[i].used)
			cb(arg, &t->e[i]);
}
