/* rdv_store_node.c - see rdv_store.h: the tables of nodes (records, keys,
 * hostnames) and of the trust pairs between them, and visibility. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "log.h"
#include "rdv_store_int.h"
#include "util.h"

/* ---------------------------------------------------------------- nodes */

/* Node record:
 *   u8 version | u8 flags (1 public, 2 active, 4 revoked) | be16 listen_port |
 *   be64 created_ms | be64 seen_ms | pk[32] |
 *   u8 hostname_len | hostname | u8 endpoint_len | endpoint
 * version 2 appends: u8 ntags | ntags x (u8 len | tag).
 * version 3 appends: be64 expires_ms (the identity's end; 0 never).
 * Records are written as version 3; versions 1 (no tags) and 2 (no
 * expiry) still read.  New members go at the end, under a new version
 * byte. */
#define NODE_V1 1
#define NODE_V2 2
#define NODE_V3 3
#define NODE_F_PUBLIC 1
#define NODE_F_ACTIVE 2
#define NODE_F_REVOKED 4
#define NODE_F_BEHIND_NAT 8
#define NODE_FIXED 52
#define NODE_MAX                                                                                   \
	(NODE_FIXED + 1 + RDV_HOSTNAME_MAX + 1 + RDV_ENDPOINT_MAX + 1 +                            \
	 RDV_TAGS_MAX * (1 + RDV_TAG_MAX) + 8)

static size_t node_encode(const struct rdv_node *n, uint8_t out[NODE_MAX])
{
	size_t hl = strnlen(n->hostname, RDV_HOSTNAME_MAX),
	       el = strnlen(n->endpoint, RDV_ENDPOINT_MAX), o = NODE_FIXED,
	       nt = MIN(n->ntags, (size_t)RDV_TAGS_MAX);

	out[0] = NODE_V3;
	out[1] =
	    (uint8_t)((n->public ? NODE_F_PUBLIC : 0) | (n->active ? NODE_F_ACTIVE : 0) |
		      (n->revoked ? NODE_F_REVOKED : 0) | (n->behind_nat ? NODE_F_BEHIND_NAT : 0));
	out[2] = (uint8_t)(n->listen_port >> 8);
	out[3] = (uint8_t)n->listen_port;
	store_be64(out + 4, n->created_ms);
	store_be64(out + 12, n->seen_ms);
	memcpy(out + 20, n->pk, 32);
	out[o++] = (uint8_t)hl;
	memcpy(out + o, n->hostname, hl);
	o += hl;
	out[o++] = (uint8_t)el;
	memcpy(out + o, n->endpoint, el);
	o += el;
	out[o++] = (uint8_t)nt;
	for (size_t i = 0; i < nt; i++) {
		size_t tl = strnlen(n->tags[i], RDV_TAG_MAX);
		out[o++] = (uint8_t)tl;
		memcpy(out + o, n->tags[i], tl);
		o += tl;
	}
	store_be64(out + o, n->expires_ms);
	return o + 8;
}

static int node_decode(const uint8_t *in, size_t len, uint32_t id, struct rdv_node *n)
{
	size_t o = NODE_FIXED, hl, el;

	memset(n, 0, sizeof(*n));
	if (len < NODE_FIXED + 2 || in[0] < NODE_V1 || in[0] > NODE_V3)
		return -EBADMSG;
	n->id = id;
	n->public = !!(in[1] & NODE_F_PUBLIC);
	n->active = !!(in[1] & NODE_F_ACTIVE);
	n->revoked = !!(in[1] & NODE_F_REVOKED);
	n->behind_nat = !!(in[1] & NODE_F_BEHIND_NAT);
	if (n->revoked)
		n->active = 0; /* whatever a corrupt record says */
	n->listen_port = (uint16_t)(in[2] << 8 | in[3]);
	n->created_ms = store_rd_be64(in + 4);
	n->seen_ms = store_rd_be64(in + 12);
	memcpy(n->pk, in + 20, 32);
	hl = in[o++];
	if (hl > RDV_HOSTNAME_MAX || o + hl + 1 > len)
		return -EBADMSG;
	memcpy(n->hostname, in + o, hl);
	o += hl;
	el = in[o++];
	if (el > RDV_ENDPOINT_MAX || o + el > len)
		return -EBADMSG;
	memcpy(n->endpoint, in + o, el);
	o += el;
	if (strlen(n->hostname) != hl || strlen(n->endpoint) != el)
		return -EBADMSG;
	if (in[0] == NODE_V1)
		return o == len ? 0 : -EBADMSG;
	if (o >= len || in[o] > RDV_TAGS_MAX)
		return -EBADMSG;
	n->ntags = in[o++];
	for (size_t i = 0; i < n->ntags; i++) {
		size_t tl;
		if (o >= len)
			return -EBADMSG;
		tl = in[o++];
		if (tl == 0 || tl > RDV_TAG_MAX || o + tl > len)
			return -EBADMSG;
		memcpy(n->tags[i], in + o, tl);
		if (strlen(n->tags[i]) != tl)
			return -EBADMSG;
		o += tl;
	}
	if (in[0] == NODE_V3) {
		if (o + 8 != len)
			return -EBADMSG;
		n->expires_ms = store_rd_be64(in + o);
		o += 8;
	}
	return o == len ? 0 : -EBADMSG;
}

int rdv_node_get(struct store_txn *t, struct rdv_db *db, uint32_t id, struct rdv_node *n)
{
	uint8_t k[4];
	MDB_val v;
	int ret;

	store_be32(k, id);
	ret = store_get(t, db->dbi[RDV_DB_NODES], k, sizeof(k), &v);
	if (ret < 0)
		return ret;
	ret = node_decode(v.mv_data, v.mv_size, id, n);
	if (ret < 0)
		log_warnx("node %u: corrupt record in the registry store", id);
	return ret;
}

void rdv_node_put(struct store_txn *t, struct rdv_db *db, const struct rdv_node *n)
{
	uint8_t k[4], v[NODE_MAX];
	size_t len = node_encode(n, v);

	store_be32(k, n->id);
	store_put(t, db->dbi[RDV_DB_NODES], k, sizeof(k), v, len);
}

int rdv_node_iter(struct store_txn *t, struct rdv_db *db, rdv_id_cb cb, void *arg)
{
	return rdv_st_each_id(t, db->dbi[RDV_DB_NODES], NULL, 0, 4, cb, arg);
}

/* A key's value is its node ID (4 bytes); a retired or revoked key keeps
 * the ID and gains a marker byte, so the registry can say why it is
 * refused and the key can never be registered again as a new node. */
#define KEY_RETIRED 1
#define KEY_REVOKED 2

int rdv_key_get(struct store_txn *t, struct rdv_db *db, const uint8_t pk[32], uint32_t *id)
{
	MDB_val v;
	int ret = store_get(t, db->dbi[RDV_DB_KEYS], pk, 32, &v);

	if (ret < 0)
		return ret;
	if (v.mv_size == 4) {
		*id = store_rd_be32(v.mv_data);
		return 0;
	}
	if (v.mv_size == 5 && ((const uint8_t *)v.mv_data)[4] == KEY_RETIRED) {
		*id = store_rd_be32(v.mv_data);
		return -EKEYREVOKED;
	}
	if (v.mv_size == 5 && ((const uint8_t *)v.mv_data)[4] == KEY_REVOKED) {
		*id = store_rd_be32(v.mv_data);
		return -EKEYREJECTED;
	}
	return -EBADMSG;
}

void rdv_key_revoke(struct store_txn *t, struct rdv_db *db, const uint8_t pk[32], uint32_t id)
{
	uint8_t v[5];

	store_be32(v, id);
	v[4] = KEY_REVOKED;
	store_put(t, db->dbi[RDV_DB_KEYS], pk, 32, v, sizeof(v));
}

void rdv_key_retire(struct store_txn *t, struct rdv_db *db, const uint8_t pk[32], uint32_t id)
{
	uint8_t v[5];

	store_be32(v, id);
	v[4] = KEY_RETIRED;
	store_put(t, db->dbi[RDV_DB_KEYS], pk, 32, v, sizeof(v));
}

void rdv_key_put(struct store_txn *t, struct rdv_db *db, const uint8_t pk[32], uint32_t id)
{
	uint8_t v[4];

	store_be32(v, id);
	store_put(t, db->dbi[RDV_DB_KEYS], pk, 32, v, sizeof(v));
}

int rdv_node_id_alloc(struct store_txn *t, struct rdv_db *db, uint32_t *id)
{
	return rdv_st_id_alloc(t, db, META_NEXT_ID, id);
}

int rdv_host_get(struct store_txn *t, struct rdv_db *db, const char *name, uint32_t *id)
{
	uint8_t v[4];
	int ret = store_get_fixed(t, db->dbi[RDV_DB_HOSTS], name, strlen(name), v, sizeof(v));

	if (ret == 0)
		*id = store_rd_be32(v);
	return ret;
}

void rdv_host_put(struct store_txn *t, struct rdv_db *db, const char *name, uint32_t id)
{
	uint8_t v[4];

	store_be32(v, id);
	store_put(t, db->dbi[RDV_DB_HOSTS], name, strlen(name), v, sizeof(v));
}

void rdv_host_del(struct store_txn *t, struct rdv_db *db, const char *name)
{
	store_del(t, db->dbi[RDV_DB_HOSTS], name, strlen(name));
}

/* ---------------------------------------------------------------- trust */

int rdv_trust_has(struct store_txn *t, struct rdv_db *db, uint32_t a, uint32_t b)
{
	return rdv_st_rel_has(t, db, &rdv_st_trust, a, b);
}

/* Pair values: be64(since ms), then be16(basis) since networks exist; an
 * 8-byte value (written before) is a pair made by approval. */
static int trust_basis(const MDB_val *v, uint16_t *basis)
{
	const uint8_t *p = v->mv_data;

	if (v->mv_size == 8)
		*basis = 0;
	else if (v->mv_size == 10)
		*basis = (uint16_t)(p[8] << 8 | p[9]);
	else
		return -EBADMSG;
	return 0;
}

int rdv_trust_get(struct store_txn *t, struct rdv_db *db, uint32_t a, uint32_t b, uint16_t *basis)
{
	MDB_val v;
	int ret = pair_get(t, db->dbi[RDV_DB_TRUST], a, b, &v);

	if (ret < 0)
		return ret;
	return trust_basis(&v, basis);
}

void rdv_trust_put(struct store_txn *t, struct rdv_db *db, uint32_t a, uint32_t b, uint64_t ms,
		   uint16_t basis)
{
	uint8_t k[8], v[10];

	/* Both orders, so "peers of X" is one prefix scan for either side. */
	store_be64(v, ms);
	v[8] = (uint8_t)(basis >> 8);
	v[9] = (uint8_t)basis;
	pair_key(k, a, b);
	store_put(t, db->dbi[RDV_DB_TRUST], k, sizeof(k), v, sizeof(v));
	pair_key(k, b, a);
	store_put(t, db->dbi[RDV_DB_TRUST], k, sizeof(k), v, sizeof(v));
}

void rdv_trust_del(struct store_txn *t, struct rdv_db *db, uint32_t a, uint32_t b)
{
	rdv_st_rel_del(t, db, &rdv_st_trust, a, b);
}

int rdv_trust_iter(struct store_txn *t, struct rdv_db *db, uint32_t node, rdv_id_cb cb, void *arg)
{
	return rdv_st_rel_each(t, db, &rdv_st_trust, node, cb, arg);
}

struct pair_iter {
	rdv_pair_cb cb;
	void *arg;
};

static int trust_basis_cb(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct pair_iter *it = arg;
	uint16_t basis;

	if (trust_basis(v, &basis) < 0)
		return -EBADMSG;
	return it->cb(it->arg, store_rd_be32((const uint8_t *)k->mv_data + 4), basis);
}

int rdv_trust_iter_basis(struct store_txn *t, struct rdv_db *db, uint32_t node, rdv_pair_cb cb,
			 void *arg)
{
	uint8_t p[4];
	struct pair_iter it = {cb, arg};

	store_be32(p, node);
	return rdv_st_each(t, db->dbi[RDV_DB_TRUST], p, sizeof(p), 8, trust_basis_cb, &it);
}

/* ---------------------------------------------------------------- visibility */

int rdv_visible(struct store_txn *t, struct rdv_db *db, uint32_t s, const struct rdv_node *tn)
{
	struct rdv_node sn;
	uint16_t net;

	if (tn->id == s)
		return 1;
	if (!tn->active)
		return 0;
	if (tn->public)
		return 1;
	if (rdv_trust_has(t, db, s, tn->id))
		return 1;
	/* A shared network shows a member only to those its policy lets
	 * talk to it (resolve-time evaluation); the policy needs both
	 * nodes' tags. */
	if (!rdv_share_network(t, db, s, tn->id) || rdv_node_get(t, db, s, &sn) < 0)
		return 0;
	return rdv_connecting_network(t, db, &sn, tn, &net) == 1;
}
