/* rdv_store_net.c - see rdv_store.h: the tables of networks and of their
 * memberships (both ways), the networks two nodes share, and used
 * invites. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "log.h"
#include "rdv_store_int.h"

/* ---------------------------------------------------------------- networks */

/* Network record, version 1:
 *   u8 version | u8 join rule | be64 created_ms | be32 members |
 *   token_hash[32] (zero unless rule token) | u8 name_len | name
 * version 2 appends be32 org (the owner).  A network without an owner is
 * still written as version 1. */
#define NET_V1 1
#define NET_V2 2
#define NET_FIXED 46
#define NET_MAX (NET_FIXED + 1 + RDV_NETNAME_MAX + 4)

static int net_decode(const MDB_val *v, uint16_t id, struct rdv_network *n)
{
	const uint8_t *p = v->mv_data;
	size_t nl;

	memset(n, 0, sizeof(*n));
	if (v->mv_size < NET_FIXED + 1 || (p[0] != NET_V1 && p[0] != NET_V2))
		goto corrupt;
	nl = p[NET_FIXED];
	if (nl == 0 || nl > RDV_NETNAME_MAX ||
	    v->mv_size != NET_FIXED + 1 + nl + (p[0] == NET_V2 ? 4 : 0))
		goto corrupt;
	if (p[0] == NET_V2) {
		n->org = store_rd_be32(p + NET_FIXED + 1 + nl);
		if (n->org == 0)
			goto corrupt;
	}
	n->id = id;
	n->rule = p[1];
	n->created_ms = store_rd_be64(p + 2);
	n->members = store_rd_be32(p + 10);
	memcpy(n->token_hash, p + 14, 32);
	memcpy(n->name, p + NET_FIXED + 1, nl);
	if (strlen(n->name) != nl)
		goto corrupt;
	return 0;
corrupt:
	log_warnx("network %u: corrupt record in the registry store", id);
	return -EBADMSG;
}

int rdv_net_get(struct store_txn *t, struct rdv_db *db, uint16_t id, struct rdv_network *n)
{
	uint8_t k[2] = {(uint8_t)(id >> 8), (uint8_t)id};
	MDB_val v;
	int ret;

	memset(n, 0, sizeof(*n));
	ret = store_get(t, db->dbi[RDV_DB_NETWORKS], k, sizeof(k), &v);
	if (ret < 0)
		return ret;
	return net_decode(&v, id, n);
}

static void org_net_key(uint8_t k[6], uint32_t org, uint16_t net)
{
	store_be32(k, org);
	k[4] = (uint8_t)(net >> 8);
	k[5] = (uint8_t)net;
}

void rdv_net_put(struct store_txn *t, struct rdv_db *db, const struct rdv_network *n)
{
	uint8_t k[2], v[NET_MAX], ok[6];
	size_t nl = strnlen(n->name, RDV_NETNAME_MAX), len = NET_FIXED + 1 + nl;

	k[0] = (uint8_t)(n->id >> 8);
	k[1] = (uint8_t)n->id;
	v[0] = n->org ? NET_V2 : NET_V1;
	v[1] = n->rule;
	store_be64(v + 2, n->created_ms);
	store_be32(v + 10, n->members);
	memcpy(v + 14, n->token_hash, 32);
	v[NET_FIXED] = (uint8_t)nl;
	memcpy(v + NET_FIXED + 1, n->name, nl);
	if (n->org) {
		store_be32(v + len, n->org);
		len += 4;
		/* The owner never changes: the index entry is written again
		 * with every membership change, harmlessly. */
		org_net_key(ok, n->org, n->id);
		store_put(t, db->dbi[RDV_DB_ORG_NETS], ok, sizeof(ok), "", 0);
	}
	store_put(t, db->dbi[RDV_DB_NETWORKS], k, sizeof(k), v, len);
}

void rdv_net_del(struct store_txn *t, struct rdv_db *db, uint16_t id)
{
	uint8_t k[2] = {(uint8_t)(id >> 8), (uint8_t)id}, ok[6];
	struct rdv_network n;

	if (rdv_net_get(t, db, id, &n) == 0 && n.org) {
		org_net_key(ok, n.org, id);
		store_del(t, db->dbi[RDV_DB_ORG_NETS], ok, sizeof(ok));
	}
	rdv_policy_del(t, db, id);
	rdv_net_certs_drop(t, db, id);
	rdv_net_ext_drop(t, db, id);
	store_del(t, db->dbi[RDV_DB_NETWORKS], k, sizeof(k));
}

struct net_iter {
	rdv_net_cb cb;
	void *arg;
	uint32_t expect; /* rdv_net_id_free: the next ID if there is no gap */
};

static int net_iter_cb(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct net_iter *it = arg;
	struct rdv_network n;
	int ret;

	ret = net_decode(v, get_be16((const uint8_t *)k->mv_data), &n);
	if (ret < 0)
		return ret;
	return it->cb(it->arg, &n);
}

int rdv_net_iter(struct store_txn *t, struct rdv_db *db, rdv_net_cb cb, void *arg)
{
	struct net_iter it = {cb, arg, 0};

	return rdv_st_each(t, db->dbi[RDV_DB_NETWORKS], NULL, 0, 2, net_iter_cb, &it);
}

static int free_id_cb(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct net_iter *it = arg;
	uint16_t id;

	(void)v;
	id = get_be16((const uint8_t *)k->mv_data);
	if (id == 0)
		return 0;
	if (id != it->expect)
		return 1; /* a gap: it->expect is free */
	it->expect++;
	return 0;
}

int rdv_net_id_free(struct store_txn *t, struct rdv_db *db, uint16_t *id)
{
	struct net_iter it = {.expect = 1};
	int ret;

	/* Keys are ordered: the first ID that is not where it would be in a
	 * gapless run is the lowest free one. */
	ret = rdv_st_each(t, db->dbi[RDV_DB_NETWORKS], NULL, 0, 2, free_id_cb, &it);
	if (ret < 0)
		return ret;
	if (it.expect > UINT16_MAX)
		return -ENOSPC;
	*id = (uint16_t)it.expect;
	return 0;
}

int rdv_member_has(struct store_txn *t, struct rdv_db *db, uint16_t net, uint32_t node)
{
	if (net == 0)
		return 0;
	return rdv_st_rel_has(t, db, &rdv_st_net_members, net, node);
}

void rdv_member_put(struct store_txn *t, struct rdv_db *db, uint16_t net, uint32_t node,
		    uint64_t ms)
{
	uint8_t v[8];

	if (net == 0) {
		/* The backbone is implicit: storing it would make every
		 * "shared network" test true. */
		if (t->ret == 0)
			t->ret = -EINVAL;
		return;
	}
	store_be64(v, ms);
	rdv_st_rel_put(t, db, &rdv_st_net_members, net, node, v, sizeof(v));
}

void rdv_member_del(struct store_txn *t, struct rdv_db *db, uint16_t net, uint32_t node)
{
	rdv_st_rel_del(t, db, &rdv_st_net_members, net, node);
	rdv_net_cert_del(t, db, net, node); /* a ca network's: it admitted nothing now */
	rdv_net_ext_del(t, db, net, node);  /* an oidc or spiffe network's identity */
}

int rdv_member_iter(struct store_txn *t, struct rdv_db *db, uint16_t net, rdv_id_cb cb, void *arg)
{
	return rdv_st_rel_each(t, db, &rdv_st_net_members, net, cb, arg);
}

int rdv_node_net_iter(struct store_txn *t, struct rdv_db *db, uint32_t node, rdv_id_cb cb,
		      void *arg)
{
	return rdv_st_rel_each_rev(t, db, &rdv_st_net_members, node, cb, arg);
}

/* ---------------------------------------------------------------- shared networks */

struct shared_iter {
	struct store_txn *t;
	struct rdv_db *db;
	uint32_t other;
	uint16_t *out;
	size_t max, n;
};

static int shared_cb(void *arg, uint32_t net)
{
	struct shared_iter *it = arg;

	if (!rdv_member_has(it->t, it->db, (uint16_t)net, it->other))
		return 0;
	if (it->n < it->max)
		it->out[it->n] = (uint16_t)net;
	it->n++;
	/* Asked only whether there is one: stop at the first. */
	return it->max == 0 ? 1 : 0;
}

int rdv_shared_networks(struct store_txn *t, struct rdv_db *db, uint32_t a, uint32_t b,
			uint16_t *out, size_t max)
{
	struct shared_iter it = {t, db, b, out, max, 0};
	int ret;

	/* One prefix scan of a's memberships, one point lookup each: cheap
	 * whatever the size of the networks. */
	ret = rdv_node_net_iter(t, db, a, shared_cb, &it);
	if (ret < 0)
		return ret;
	return it.n > INT32_MAX ? INT32_MAX : (int)it.n;
}

int rdv_share_network(struct store_txn *t, struct rdv_db *db, uint32_t a, uint32_t b)
{
	/* The backbone (0) is never stored as a membership, so it never
	 * counts here. */
	return rdv_shared_networks(t, db, a, b, NULL, 0) > 0;
}

struct connect_iter {
	struct store_txn *t;
	struct rdv_db *db;
	const struct rdv_node *a, *b;
	uint16_t net;
};

static int connect_cb(void *arg, uint32_t net)
{
	struct connect_iter *it = arg;
	int rc;

	if (!rdv_member_has(it->t, it->db, (uint16_t)net, it->b->id))
		return 0;
	rc = rdv_policy_connects(it->t, it->db, (uint16_t)net, it->a, it->b);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return 0;
	it->net = (uint16_t)net;
	return 1;
}

int rdv_connecting_network(struct store_txn *t, struct rdv_db *db, const struct rdv_node *a,
			   const struct rdv_node *b, uint16_t *net)
{
	struct connect_iter it = {t, db, a, b, 0};
	int ret;

	/* a's memberships ascending: the first that connects is the lowest. */
	ret = rdv_node_net_iter(t, db, a->id, connect_cb, &it);
	if (ret < 0)
		return ret;
	if (it.net == 0)
		return 0;
	*net = it.net;
	return 1;
}

/* ---------------------------------------------------------------- invites */

int rdv_invite_used(struct store_txn *t, struct rdv_db *db, const uint8_t r[16])
{
	MDB_val v;

	return store_get(t, db->dbi[RDV_DB_INVITES], r, 16, &v) == 0;
}

void rdv_invite_use(struct store_txn *t, struct rdv_db *db, const uint8_t r[16], uint64_t expiry_s,
		    uint16_t net, uint32_t joiner, uint64_t now_ms)
{
	uint8_t v[22], x[24];

	store_be64(v, expiry_s);
	v[8] = (uint8_t)(net >> 8);
	v[9] = (uint8_t)net;
	store_be32(v + 10, joiner);
	store_be64(v + 14, now_ms);
	store_put(t, db->dbi[RDV_DB_INVITES], r, 16, v, sizeof(v));
	/* Expiry-ordered index, so pruning reads only what it deletes. */
	store_be64(x, expiry_s);
	memcpy(x + 8, r, 16);
	store_put(t, db->dbi[RDV_DB_INVITE_EXP], x, sizeof(x), "", 0);
}

int rdv_invite_prune(struct rdv_db *db, uint64_t now_ms)
{
	if (now_ms <= RDV_INVITE_KEEP_MS)
		return 0;
	/* invite expiry is in seconds */
	return rdv_st_prune_expired(db, RDV_DB_INVITE_EXP, RDV_DB_INVITES, 24,
				    (now_ms - RDV_INVITE_KEEP_MS) / 1000);
}
