/* rdv_store_msg.c - see rdv_store.h: what is queued for a node (pending
 * handshake requests, its durable event queue) and the nonces it has
 * used. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hmap.h"
#include "rdv_store_int.h"
#include "regmsg.h"

/* ---------------------------------------------------------------- inbox */

int rdv_inbox_get(struct store_txn *t, struct rdv_db *db, uint32_t target, uint32_t from,
		  struct rdv_inbox_entry *e)
{
	MDB_val v;
	size_t jl;
	int ret;

	ret = pair_get(t, db->dbi[RDV_DB_INBOX], target, from, &v);
	if (ret < 0)
		return ret;
	if (v.mv_size < 8 || v.mv_size - 8 > RDV_JUSTIFICATION_MAX)
		return -EBADMSG;
	jl = v.mv_size - 8;
	e->from = from;
	e->ms = store_rd_be64(v.mv_data);
	memcpy(e->justification, (const uint8_t *)v.mv_data + 8, jl);
	e->justification[jl] = '\0';
	return 0;
}

void rdv_inbox_put(struct store_txn *t, struct rdv_db *db, uint32_t target,
		   const struct rdv_inbox_entry *e)
{
	uint8_t k[8], v[8 + RDV_JUSTIFICATION_MAX];
	size_t jl = strnlen(e->justification, RDV_JUSTIFICATION_MAX);

	pair_key(k, target, e->from);
	store_be64(v, e->ms);
	memcpy(v + 8, e->justification, jl);
	store_put(t, db->dbi[RDV_DB_INBOX], k, sizeof(k), v, 8 + jl);
	/* The requester's side: what it has pending, and since when. */
	pair_key(k, e->from, target);
	store_put(t, db->dbi[RDV_DB_INBOX_FROM], k, sizeof(k), v, 8);
}

void rdv_inbox_del(struct store_txn *t, struct rdv_db *db, uint32_t target, uint32_t from)
{
	uint8_t k[8];

	pair_key(k, target, from);
	store_del(t, db->dbi[RDV_DB_INBOX], k, sizeof(k));
	pair_key(k, from, target);
	store_del(t, db->dbi[RDV_DB_INBOX_FROM], k, sizeof(k));
}

struct inbox_iter {
	rdv_inbox_cb cb;
	void *arg;
	size_t n;
};

static int inbox_iter_cb(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct inbox_iter *it = arg;
	struct rdv_inbox_entry e;
	size_t jl;

	if (v->mv_size < 8 || v->mv_size - 8 > RDV_JUSTIFICATION_MAX)
		return -EBADMSG;
	it->n++;
	if (!it->cb)
		return 0;
	jl = v->mv_size - 8;
	e.from = store_rd_be32((const uint8_t *)k->mv_data + 4);
	e.ms = store_rd_be64(v->mv_data);
	memcpy(e.justification, (const uint8_t *)v->mv_data + 8, jl);
	e.justification[jl] = '\0';
	return it->cb(it->arg, &e);
}

int rdv_inbox_iter(struct store_txn *t, struct rdv_db *db, uint32_t target, rdv_inbox_cb cb,
		   void *arg)
{
	uint8_t p[4];
	struct inbox_iter it = {cb, arg, 0};

	store_be32(p, target);
	return rdv_st_each(t, db->dbi[RDV_DB_INBOX], p, sizeof(p), 8, inbox_iter_cb, &it);
}

size_t rdv_inbox_count(struct store_txn *t, struct rdv_db *db, uint32_t target)
{
	uint8_t p[4];
	struct inbox_iter it = {NULL, NULL, 0};

	store_be32(p, target);
	if (rdv_st_each(t, db->dbi[RDV_DB_INBOX], p, sizeof(p), 8, inbox_iter_cb, &it) < 0)
		return 0;
	return it.n;
}

struct from_count {
	uint64_t since;
	size_t n;
};

static int from_count_cb(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct from_count *fc = arg;

	(void)k;
	if (v->mv_size != 8)
		return -EBADMSG;
	fc->n += store_rd_be64(v->mv_data) >= fc->since;
	return 0;
}

size_t rdv_inbox_count_from(struct store_txn *t, struct rdv_db *db, uint32_t from,
			    uint64_t since_ms)
{
	struct from_count fc = {since_ms, 0};
	uint8_t p[4];

	store_be32(p, from);
	if (rdv_st_each(t, db->dbi[RDV_DB_INBOX_FROM], p, sizeof(p), 8, from_count_cb, &fc) < 0)
		return 0;
	return fc.n;
}

int rdv_inbox_from_iter(struct store_txn *t, struct rdv_db *db, uint32_t from, rdv_id_cb cb,
			void *arg)
{
	uint8_t p[4];

	store_be32(p, from);
	return rdv_st_each_id(t, db->dbi[RDV_DB_INBOX_FROM], p, sizeof(p), 4, cb, arg);
}

/* ---------------------------------------------------------------- events */

static void seq_key(uint8_t k[sizeof(META_SEQ) - 1 + 4], uint32_t node)
{
	memcpy(k, META_SEQ, sizeof(META_SEQ) - 1);
	store_be32(k + sizeof(META_SEQ) - 1, node);
}

uint64_t rdv_event_last_seq(struct store_txn *t, struct rdv_db *db, uint32_t node)
{
	uint8_t k[sizeof(META_SEQ) - 1 + 4], v[8];

	seq_key(k, node);
	if (store_get_fixed(t, db->dbi[RDV_DB_META], k, sizeof(k), v, sizeof(v)) < 0)
		return 0;
	return store_rd_be64(v);
}

uint64_t rdv_event_next_seq(struct store_txn *t, struct rdv_db *db, uint32_t node)
{
	uint8_t k[sizeof(META_SEQ) - 1 + 4], v[8];
	uint64_t seq = 0;
	int ret;

	/* The counter lives apart from the queue: pruning must never let a
	 * sequence number be handed out twice. */
	seq_key(k, node);
	ret = store_get_fixed(t, db->dbi[RDV_DB_META], k, sizeof(k), v, sizeof(v));
	if (ret == 0)
		seq = store_rd_be64(v);
	else if (ret != -ENOENT)
		return 0;
	seq++;
	store_be64(v, seq);
	store_put(t, db->dbi[RDV_DB_META], k, sizeof(k), v, sizeof(v));
	return t->ret ? 0 : seq;
}

void rdv_event_put(struct store_txn *t, struct rdv_db *db, uint32_t node, uint64_t seq,
		   const char *line, size_t len)
{
	uint8_t k[12];

	store_be32(k, node);
	store_be64(k + 4, seq);
	store_put(t, db->dbi[RDV_DB_EVENTS], k, sizeof(k), line, len);
}

static int prune_event_cb(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct rdv_st_batch *b = arg;

	(void)v;
	if (store_rd_be64((const uint8_t *)k->mv_data + 4) > b->limit || (b->max && b->n >= b->max))
		return 1;
	return rdv_st_batch_add(b, k);
}

int rdv_event_prune(struct store_txn *t, struct rdv_db *db, uint32_t node, uint64_t upto)
{
	uint8_t p[4];
	/* Under a replicator's limit the rest go with the next call. */
	struct rdv_st_batch b = {
	    .limit = upto, .max = store_max_changes(db->st) ? store_batch(db->st, SIZE_MAX) : 0};
	int ret;

	store_be32(p, node);
	ret = rdv_st_each(t, db->dbi[RDV_DB_EVENTS], p, sizeof(p), 12, prune_event_cb, &b);
	for (size_t i = 0; ret == 0 && i < b.n; i++)
		store_del(t, db->dbi[RDV_DB_EVENTS], b.keys[i], 12);
	free(b.keys);
	return ret ? ret : t->ret;
}

struct event_iter {
	rdv_event_cb cb;
	void *arg;
	uint64_t after;
};

static int event_iter_cb(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct event_iter *it = arg;
	uint64_t seq;

	seq = store_rd_be64((const uint8_t *)k->mv_data + 4);
	if (seq <= it->after)
		return 0;
	return it->cb(it->arg, seq, v->mv_data, v->mv_size);
}

int rdv_event_iter(struct store_txn *t, struct rdv_db *db, uint32_t node, uint64_t after,
		   rdv_event_cb cb, void *arg)
{
	uint8_t p[4];
	struct event_iter it = {cb, arg, after};

	/* Seen events are pruned by the events request that acknowledges
	 * them, so the skip in event_iter_cb is rarely taken. */
	store_be32(p, node);
	return rdv_st_each(t, db->dbi[RDV_DB_EVENTS], p, sizeof(p), 12, event_iter_cb, &it);
}

/* ---------------------------------------------------------------- nonces */

static void nonce_key(uint8_t k[4 + 16], uint32_t node, const uint8_t nonce[16])
{
	store_be32(k, node);
	memcpy(k + 4, nonce, 16);
}

int rdv_nonce_seen(struct store_txn *t, struct rdv_db *db, uint32_t node, const uint8_t nonce[16])
{
	uint8_t k[20];
	MDB_val v;

	nonce_key(k, node, nonce);
	return store_get(t, db->dbi[RDV_DB_NONCES], k, sizeof(k), &v) == 0;
}

void rdv_nonce_put(struct store_txn *t, struct rdv_db *db, uint32_t node, const uint8_t nonce[16],
		   uint64_t now_ms)
{
	uint8_t k[20], v[8], x[28];

	nonce_key(k, node, nonce);
	store_be64(v, now_ms);
	store_put(t, db->dbi[RDV_DB_NONCES], k, sizeof(k), v, sizeof(v));
	/* Time-ordered index, so pruning reads only what it deletes. */
	memcpy(x, v, 8);
	memcpy(x + 8, k, sizeof(k));
	store_put(t, db->dbi[RDV_DB_NONCE_EXP], x, sizeof(x), "", 0);
}

/* The memory cache: a set of keys, and the same keys in the order they
 * came with their expiry, so forgetting reads only what it drops.  The
 * expiry counts from arrival on the registry's clock: a signature is at
 * most REGMSG_MAX_SKEW_MS ahead of it, so 2 x that (and a second) covers
 * the whole time a replay would still be fresh. */
#define NONCE_MEM_KEEP_MS (2 * (uint64_t)REGMSG_MAX_SKEW_MS + 1000)

static void nonce_mem_forget(struct rdv_db *db, uint64_t now_ms)
{
	struct rdv_nonce_fifo *f = &db->nonce_fifo;

	while (f->n && f->exp_ms[f->head] <= now_ms) {
		hmap_del(db->nonce_mem, f->key[f->head]);
		f->head = (f->head + 1) % f->cap;
		f->n--;
	}
}

static int nonce_fifo_grow(struct rdv_nonce_fifo *f)
{
	size_t cap = f->cap ? f->cap * 2 : 1024, tail = f->cap - f->head;
	uint8_t(*key)[20];
	uint64_t *exp;

	if (cap > RDV_NONCE_MEM_MAX)
		cap = RDV_NONCE_MEM_MAX;
	if (cap <= f->cap)
		return -ENOSPC;
	key = malloc(cap * sizeof(*key));
	exp = malloc(cap * sizeof(*exp));
	if (!key || !exp) {
		free(key);
		free(exp);
		return -ENOMEM;
	}
	/* Unrolled into the new arrays from the head, wrapped part last. */
	if (f->n) {
		size_t first = f->n < tail ? f->n : tail;
		memcpy(key, f->key + f->head, first * sizeof(*key));
		memcpy(exp, f->exp_ms + f->head, first * sizeof(*exp));
		memcpy(key + first, f->key, (f->n - first) * sizeof(*key));
		memcpy(exp + first, f->exp_ms, (f->n - first) * sizeof(*exp));
	}
	free(f->key);
	free(f->exp_ms);
	f->key = key;
	f->exp_ms = exp;
	f->head = 0;
	f->cap = cap;
	return 0;
}

int rdv_nonce_mem_room(struct rdv_db *db, uint64_t now_ms)
{
	if (!db->nonce_mem)
		return 0;
	nonce_mem_forget(db, now_ms);
	return db->nonce_fifo.n < RDV_NONCE_MEM_MAX;
}

int rdv_nonce_mem_seen(const struct rdv_db *db, uint32_t node, const uint8_t nonce[16])
{
	uint8_t k[20];

	if (!db->nonce_mem)
		return 0;
	nonce_key(k, node, nonce);
	return hmap_get(db->nonce_mem, k) != NULL;
}

int rdv_nonce_mem_add(struct rdv_db *db, uint32_t node, const uint8_t nonce[16], uint64_t now_ms)
{
	struct rdv_nonce_fifo *f = &db->nonce_fifo;
	uint8_t k[20];
	size_t at;
	int is_new, rc;

	if (!db->nonce_mem)
		return -ENOSPC;
	nonce_mem_forget(db, now_ms);
	if (f->n == f->cap && (rc = nonce_fifo_grow(f)) < 0)
		return rc;
	nonce_key(k, node, nonce);
	if (!hmap_put(db->nonce_mem, k, &is_new))
		return -errno;
	if (!is_new)
		return 0; /* refused before it got here; nothing to add */
	at = (f->head + f->n) % f->cap;
	memcpy(f->key[at], k, sizeof(k));
	f->exp_ms[at] = now_ms + NONCE_MEM_KEEP_MS;
	f->n++;
	return 0;
}

int rdv_nonce_prune(struct rdv_db *db, uint64_t now_ms)
{
	if (now_ms <= RDV_NONCE_KEEP_MS)
		return 0;
	return rdv_st_prune_expired(db, RDV_DB_NONCE_EXP, RDV_DB_NONCES, 28,
				    now_ms - RDV_NONCE_KEEP_MS);
}
