/* rdv_store.c - see rdv_store.h. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "json.h"
#include "log.h"
#include "rdv_store.h"
#include "util.h"

static const char *const db_names[RDV_DB_COUNT + 1] = {
    [RDV_DB_META] = "meta",	      [RDV_DB_NODES] = "nodes",
    [RDV_DB_KEYS] = "keys",	      [RDV_DB_HOSTS] = "hosts",
    [RDV_DB_TRUST] = "trust",	      [RDV_DB_INBOX] = "inbox",
    [RDV_DB_EVENTS] = "events",	      [RDV_DB_NONCES] = "nonces",
    [RDV_DB_NONCE_EXP] = "nonce_exp", [RDV_DB_NETWORKS] = "networks",
    [RDV_DB_NET_NODES] = "net_nodes", [RDV_DB_NODE_NETS] = "node_nets",
    [RDV_DB_INVITES] = "invites",     [RDV_DB_INVITE_EXP] = "invite_exp",
    [RDV_DB_AUDIT] = "audit",	      [RDV_DB_AUDIT_META] = "audit_meta",
    [RDV_DB_ORGS] = "orgs",	      [RDV_DB_ORG_NODES] = "org_nodes",
    [RDV_DB_NODE_ORGS] = "node_orgs", [RDV_DB_ORG_NETS] = "org_nets",
    [RDV_DB_POLICIES] = "policies",   [RDV_DB_COUNT] = NULL,
};

#define META_PREFIX "prefix"
#define META_NEXT_ID "next_node_id"
#define META_NEXT_ORG "next_org_id"
#define META_SEQ "seq"

int rdv_db_open(struct rdv_db *db, const char *dir)
{
	struct store_txn t;
	char pbuf[INET6_ADDRSTRLEN + 4];
	int ret;

	memset(db, 0, sizeof(*db));
	db->st = store_open(dir, db_names, RDV_MAP_SIZE);
	if (!db->st)
		return -EIO; /* store_open logged why */
	for (int i = 0; i < RDV_DB_COUNT; i++) {
		db->dbi[i] = store_dbi(db->st, db_names[i]);
		if (db->dbi[i] < 0) {
			ret = db->dbi[i];
			goto out;
		}
	}
	store_txn_begin(db->st, &t, 0);
	ret = store_get_fixed(&t, db->dbi[RDV_DB_META], META_PREFIX, strlen(META_PREFIX),
			      db->prefix.b, sizeof(db->prefix.b));
	if (ret == -ENOENT) {
		/* First start: the deployment prefix is made once and kept for
		 * ever, since every node's overlay addresses derive from it. */
		prefix_generate(&db->prefix);
		store_put(&t, db->dbi[RDV_DB_META], META_PREFIX, strlen(META_PREFIX), db->prefix.b,
			  sizeof(db->prefix.b));
		ret = store_txn_commit(&t);
		if (ret == 0)
			log_info("generated deployment prefix %s",
				 prefix_format(&db->prefix, pbuf, sizeof(pbuf)));
	} else {
		store_txn_abort(&t);
	}
	if (ret == 0)
		ret = audit_open(db->st, db_names[RDV_DB_AUDIT], db_names[RDV_DB_AUDIT_META],
				 &db->audit);
out:
	if (ret < 0) {
		log_warnx("registry state in %s: %s", dir, strerror(-ret));
		rdv_db_close(db);
	}
	return ret;
}

void rdv_db_close(struct rdv_db *db)
{
	audit_close(db->audit);
	db->audit = NULL;
	store_close(db->st);
	db->st = NULL;
}

/* ------------------------------------------------- audit and beacon keys */

#define AUDIT_KEY_B64_MAX 128 /* 64 bytes are 88 characters */

static int key_create(const char *path, const char *what, uint8_t sk[64], uint8_t pk[32])
{
	char b64[AUDIT_KEY_B64_MAX];
	int n, ret;

	crypto_sign_keypair(pk, sk);
	n = b64_encode(b64, sizeof(b64) - 1, sk, 64);
	if (n < 0)
		return n;
	b64[n++] = '\n';
	ret = file_write_atomic(path, b64, (size_t)n, 0600);
	sodium_memzero(b64, sizeof(b64));
	if (ret < 0) {
		errno = -ret;
		log_warn("writing the %s key %s", what, path);
		return ret;
	}
	log_info("created the %s key %s", what, path);
	return 0;
}

int rdv_key_load(const char *dir, const char *file, const char *what, uint8_t sk[64],
		 uint8_t pk[32])
{
	uint8_t seed_pk[32], *check = NULL;
	char path[PATH_MAX], *buf = NULL;
	size_t len = 0;
	int ret;

	if (snprintf(path, sizeof(path), "%s/%s", dir, file) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	ret = file_check_secret(path);
	if (ret == -ENOENT)
		return key_create(path, what, sk, pk);
	if (ret == -EPERM) {
		log_warnx("%s key %s: readable by group or others (chmod 600)", what, path);
		goto out;
	}
	if (ret == 0)
		ret = file_read_all(path, AUDIT_KEY_B64_MAX, &buf, &len);
	if (ret < 0) {
		log_warnx("%s key %s: %s", what, path, strerror(-ret));
		goto out;
	}
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
		buf[--len] = '\0';
	check = sodium_malloc(64);
	if (!check) {
		ret = -ENOMEM;
		goto out;
	}
	/* A secret key is seed || public key: both halves must agree, or
	 * checkpoints would be signed by a key verify does not know. */
	if (b64_decode(sk, 64, buf) != 64 || crypto_sign_seed_keypair(seed_pk, check, sk) != 0 ||
	    sodium_memcmp(check, sk, 64) != 0) {
		log_warnx("%s key %s: not base64 of an Ed25519 secret key", what, path);
		ret = -EBADMSG;
		goto out;
	}
	memcpy(pk, seed_pk, 32);
	ret = 0;
out:
	if (ret < 0)
		sodium_memzero(sk, 64);
	sodium_free(check);
	if (buf) {
		sodium_memzero(buf, len);
		free(buf);
	}
	return ret;
}

int rdv_audit_key_load(const char *dir, uint8_t sk[64], uint8_t pk[32])
{
	return rdv_key_load(dir, RDV_AUDIT_KEY_FILE, "audit", sk, pk);
}

/* ---------------------------------------------------------------- nodes */

/* Node record:
 *   u8 version | u8 flags (1 public, 2 active, 4 revoked) | be16 listen_port |
 *   be64 created_ms | be64 seen_ms | pk[32] |
 *   u8 hostname_len | hostname | u8 endpoint_len | endpoint
 * version 2 appends: u8 ntags | ntags x (u8 len | tag).
 * Records are written as version 2; version 1 records (no tags) still
 * read.  New members go at the end, under a new version byte. */
#define NODE_V1 1
#define NODE_V2 2
#define NODE_F_PUBLIC 1
#define NODE_F_ACTIVE 2
#define NODE_F_REVOKED 4
#define NODE_F_BEHIND_NAT 8
#define NODE_FIXED 52
#define NODE_MAX                                                                                   \
	(NODE_FIXED + 1 + RDV_HOSTNAME_MAX + 1 + RDV_ENDPOINT_MAX + 1 +                            \
	 RDV_TAGS_MAX * (1 + RDV_TAG_MAX))

static size_t node_encode(const struct rdv_node *n, uint8_t out[NODE_MAX])
{
	size_t hl = strnlen(n->hostname, RDV_HOSTNAME_MAX),
	       el = strnlen(n->endpoint, RDV_ENDPOINT_MAX), o = NODE_FIXED,
	       nt = MIN(n->ntags, (size_t)RDV_TAGS_MAX);

	out[0] = NODE_V2;
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
	return o;
}

static int node_decode(const uint8_t *in, size_t len, uint32_t id, struct rdv_node *n)
{
	size_t o = NODE_FIXED, hl, el;

	memset(n, 0, sizeof(*n));
	if (len < NODE_FIXED + 2 || (in[0] != NODE_V1 && in[0] != NODE_V2))
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

struct node_id_iter {
	rdv_id_cb cb;
	void *arg;
};

static int node_iter_cb(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct node_id_iter *it = arg;

	(void)v;
	if (k->mv_size != 4)
		return -EBADMSG;
	return it->cb(it->arg, store_rd_be32(k->mv_data));
}

int rdv_node_iter(struct store_txn *t, struct rdv_db *db, rdv_id_cb cb, void *arg)
{
	struct node_id_iter it = {cb, arg};

	return store_iter_prefix(t, db->dbi[RDV_DB_NODES], NULL, 0, node_iter_cb, &it);
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

/* A counter in meta: IDs from 1, never reused. */
static int id_alloc(struct store_txn *t, struct rdv_db *db, const char *key, uint32_t *id)
{
	uint8_t v[4];
	uint32_t next = 1;
	int ret;

	ret = store_get_fixed(t, db->dbi[RDV_DB_META], key, strlen(key), v, sizeof(v));
	if (ret == 0)
		next = store_rd_be32(v);
	else if (ret != -ENOENT)
		return ret;
	if (next == 0 || next == UINT32_MAX)
		return -ENOSPC;
	*id = next;
	store_be32(v, next + 1);
	store_put(t, db->dbi[RDV_DB_META], key, strlen(key), v, sizeof(v));
	return t->ret;
}

int rdv_node_id_alloc(struct store_txn *t, struct rdv_db *db, uint32_t *id)
{
	return id_alloc(t, db, META_NEXT_ID, id);
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

static void pair_key(uint8_t k[8], uint32_t a, uint32_t b)
{
	store_be32(k, a);
	store_be32(k + 4, b);
}

int rdv_trust_has(struct store_txn *t, struct rdv_db *db, uint32_t a, uint32_t b)
{
	uint8_t k[8];
	MDB_val v;

	pair_key(k, a, b);
	return store_get(t, db->dbi[RDV_DB_TRUST], k, sizeof(k), &v) == 0;
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
	uint8_t k[8];
	MDB_val v;
	int ret;

	pair_key(k, a, b);
	ret = store_get(t, db->dbi[RDV_DB_TRUST], k, sizeof(k), &v);
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
	uint8_t k[8];

	pair_key(k, a, b);
	store_del(t, db->dbi[RDV_DB_TRUST], k, sizeof(k));
	pair_key(k, b, a);
	store_del(t, db->dbi[RDV_DB_TRUST], k, sizeof(k));
}

struct id_iter {
	rdv_id_cb cb;
	void *arg;
};

static int trust_iter_cb(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct id_iter *it = arg;

	(void)v;
	if (k->mv_size != 8)
		return -EBADMSG;
	return it->cb(it->arg, store_rd_be32((const uint8_t *)k->mv_data + 4));
}

int rdv_trust_iter(struct store_txn *t, struct rdv_db *db, uint32_t node, rdv_id_cb cb, void *arg)
{
	uint8_t p[4];
	struct id_iter it = {cb, arg};

	store_be32(p, node);
	return store_iter_prefix(t, db->dbi[RDV_DB_TRUST], p, sizeof(p), trust_iter_cb, &it);
}

struct pair_iter {
	rdv_pair_cb cb;
	void *arg;
};

static int trust_basis_cb(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct pair_iter *it = arg;
	uint16_t basis;

	if (k->mv_size != 8 || trust_basis(v, &basis) < 0)
		return -EBADMSG;
	return it->cb(it->arg, store_rd_be32((const uint8_t *)k->mv_data + 4), basis);
}

int rdv_trust_iter_basis(struct store_txn *t, struct rdv_db *db, uint32_t node, rdv_pair_cb cb,
			 void *arg)
{
	uint8_t p[4];
	struct pair_iter it = {cb, arg};

	store_be32(p, node);
	return store_iter_prefix(t, db->dbi[RDV_DB_TRUST], p, sizeof(p), trust_basis_cb, &it);
}

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

	if (k->mv_size != 2)
		return -EBADMSG;
	ret = net_decode(v, get_be16((const uint8_t *)k->mv_data), &n);
	if (ret < 0)
		return ret;
	return it->cb(it->arg, &n);
}

int rdv_net_iter(struct store_txn *t, struct rdv_db *db, rdv_net_cb cb, void *arg)
{
	struct net_iter it = {cb, arg, 0};

	return store_iter_prefix(t, db->dbi[RDV_DB_NETWORKS], NULL, 0, net_iter_cb, &it);
}

static int free_id_cb(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct net_iter *it = arg;
	uint16_t id;

	(void)v;
	if (k->mv_size != 2)
		return -EBADMSG;
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
	ret = store_iter_prefix(t, db->dbi[RDV_DB_NETWORKS], NULL, 0, free_id_cb, &it);
	if (ret < 0)
		return ret;
	if (it.expect > UINT16_MAX)
		return -ENOSPC;
	*id = (uint16_t)it.expect;
	return 0;
}

static void member_key(uint8_t k[6], uint16_t net, uint32_t node)
{
	k[0] = (uint8_t)(net >> 8);
	k[1] = (uint8_t)net;
	store_be32(k + 2, node);
}

static void node_net_key(uint8_t k[6], uint32_t node, uint16_t net)
{
	store_be32(k, node);
	k[4] = (uint8_t)(net >> 8);
	k[5] = (uint8_t)net;
}

int rdv_member_has(struct store_txn *t, struct rdv_db *db, uint16_t net, uint32_t node)
{
	uint8_t k[6];
	MDB_val v;

	if (net == 0)
		return 0;
	member_key(k, net, node);
	return store_get(t, db->dbi[RDV_DB_NET_NODES], k, sizeof(k), &v) == 0;
}

void rdv_member_put(struct store_txn *t, struct rdv_db *db, uint16_t net, uint32_t node,
		    uint64_t ms)
{
	uint8_t k[6], v[8];

	if (net == 0) {
		/* The backbone is implicit: storing it would make every
		 * "shared network" test true. */
		if (t->ret == 0)
			t->ret = -EINVAL;
		return;
	}
	store_be64(v, ms);
	member_key(k, net, node);
	store_put(t, db->dbi[RDV_DB_NET_NODES], k, sizeof(k), v, sizeof(v));
	node_net_key(k, node, net);
	store_put(t, db->dbi[RDV_DB_NODE_NETS], k, sizeof(k), "", 0);
}

void rdv_member_del(struct store_txn *t, struct rdv_db *db, uint16_t net, uint32_t node)
{
	uint8_t k[6];

	member_key(k, net, node);
	store_del(t, db->dbi[RDV_DB_NET_NODES], k, sizeof(k));
	node_net_key(k, node, net);
	store_del(t, db->dbi[RDV_DB_NODE_NETS], k, sizeof(k));
}

static int member_iter_cb(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct id_iter *it = arg;

	(void)v;
	if (k->mv_size != 6)
		return -EBADMSG;
	return it->cb(it->arg, store_rd_be32((const uint8_t *)k->mv_data + 2));
}

int rdv_member_iter(struct store_txn *t, struct rdv_db *db, uint16_t net, rdv_id_cb cb, void *arg)
{
	uint8_t p[2] = {(uint8_t)(net >> 8), (uint8_t)net};
	struct id_iter it = {cb, arg};

	return store_iter_prefix(t, db->dbi[RDV_DB_NET_NODES], p, sizeof(p), member_iter_cb, &it);
}

static int node_net_iter_cb(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct id_iter *it = arg;
	(void)v;
	if (k->mv_size != 6)
		return -EBADMSG;
	return it->cb(it->arg, get_be16((const uint8_t *)k->mv_data + 4));
}

int rdv_node_net_iter(struct store_txn *t, struct rdv_db *db, uint32_t node, rdv_id_cb cb,
		      void *arg)
{
	uint8_t p[4];
	struct id_iter it = {cb, arg};

	store_be32(p, node);
	return store_iter_prefix(t, db->dbi[RDV_DB_NODE_NETS], p, sizeof(p), node_net_iter_cb, &it);
}

/* ---------------------------------------------------------------- orgs */

/* Org record, version 1:
 *   u8 version | be64 created_ms | enroll_hash[32] | admin_hash[32] |
 *   u8 name_len | name */
#define ORG_V1 1
#define ORG_FIXED 73
#define ORG_MAX (ORG_FIXED + 1 + RDV_ORGNAME_MAX)

static int org_decode(const MDB_val *v, uint32_t id, struct rdv_org *o)
{
	const uint8_t *p = v->mv_data;
	size_t nl;

	memset(o, 0, sizeof(*o));
	if (v->mv_size < ORG_FIXED + 1 || p[0] != ORG_V1)
		goto corrupt;
	nl = p[ORG_FIXED];
	if (nl == 0 || nl > RDV_ORGNAME_MAX || v->mv_size != ORG_FIXED + 1 + nl)
		goto corrupt;
	o->id = id;
	o->created_ms = store_rd_be64(p + 1);
	memcpy(o->enroll_hash, p + 9, 32);
	memcpy(o->admin_hash, p + 41, 32);
	memcpy(o->name, p + ORG_FIXED + 1, nl);
	if (strlen(o->name) != nl)
		goto corrupt;
	return 0;
corrupt:
	log_warnx("org %u: corrupt record in the registry store", id);
	return -EBADMSG;
}

int rdv_org_get(struct store_txn *t, struct rdv_db *db, uint32_t id, struct rdv_org *o)
{
	uint8_t k[4];
	MDB_val v;
	int ret;

	memset(o, 0, sizeof(*o));
	store_be32(k, id);
	ret = store_get(t, db->dbi[RDV_DB_ORGS], k, sizeof(k), &v);
	if (ret < 0)
		return ret;
	return org_decode(&v, id, o);
}

void rdv_org_put(struct store_txn *t, struct rdv_db *db, const struct rdv_org *o)
{
	uint8_t k[4], v[ORG_MAX];
	size_t nl = strnlen(o->name, RDV_ORGNAME_MAX);

	store_be32(k, o->id);
	v[0] = ORG_V1;
	store_be64(v + 1, o->created_ms);
	memcpy(v + 9, o->enroll_hash, 32);
	memcpy(v + 41, o->admin_hash, 32);
	v[ORG_FIXED] = (uint8_t)nl;
	memcpy(v + ORG_FIXED + 1, o->name, nl);
	store_put(t, db->dbi[RDV_DB_ORGS], k, sizeof(k), v, ORG_FIXED + 1 + nl);
}

int rdv_org_id_alloc(struct store_txn *t, struct rdv_db *db, uint32_t *id)
{
	return id_alloc(t, db, META_NEXT_ORG, id);
}

struct org_iter {
	rdv_org_cb cb;
	void *arg;
};

static int org_iter_cb(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct org_iter *it = arg;
	struct rdv_org o;
	int ret;

	if (k->mv_size != 4)
		return -EBADMSG;
	ret = org_decode(v, store_rd_be32(k->mv_data), &o);
	if (ret < 0)
		return ret;
	return it->cb(it->arg, &o);
}

int rdv_org_iter(struct store_txn *t, struct rdv_db *db, rdv_org_cb cb, void *arg)
{
	struct org_iter it = {cb, arg};

	return store_iter_prefix(t, db->dbi[RDV_DB_ORGS], NULL, 0, org_iter_cb, &it);
}

int rdv_org_member_has(struct store_txn *t, struct rdv_db *db, uint32_t org, uint32_t node)
{
	uint8_t k[8];
	MDB_val v;

	pair_key(k, org, node);
	return store_get(t, db->dbi[RDV_DB_ORG_NODES], k, sizeof(k), &v) == 0;
}

void rdv_org_member_put(struct store_txn *t, struct rdv_db *db, uint32_t org, uint32_t node,
			uint64_t ms)
{
	uint8_t k[8], v[8];

	store_be64(v, ms);
	pair_key(k, org, node);
	store_put(t, db->dbi[RDV_DB_ORG_NODES], k, sizeof(k), v, sizeof(v));
	pair_key(k, node, org);
	store_put(t, db->dbi[RDV_DB_NODE_ORGS], k, sizeof(k), "", 0);
}

void rdv_org_member_del(struct store_txn *t, struct rdv_db *db, uint32_t org, uint32_t node)
{
	uint8_t k[8];

	pair_key(k, org, node);
	store_del(t, db->dbi[RDV_DB_ORG_NODES], k, sizeof(k));
	pair_key(k, node, org);
	store_del(t, db->dbi[RDV_DB_NODE_ORGS], k, sizeof(k));
}

int rdv_org_member_iter(struct store_txn *t, struct rdv_db *db, uint32_t org, rdv_id_cb cb,
			void *arg)
{
	uint8_t p[4];
	struct id_iter it = {cb, arg};

	store_be32(p, org);
	/* Same key shape as trust pairs: be32 be32, the second one wanted. */
	return store_iter_prefix(t, db->dbi[RDV_DB_ORG_NODES], p, sizeof(p), trust_iter_cb, &it);
}

int rdv_node_org_iter(struct store_txn *t, struct rdv_db *db, uint32_t node, rdv_id_cb cb,
		      void *arg)
{
	uint8_t p[4];
	struct id_iter it = {cb, arg};

	store_be32(p, node);
	return store_iter_prefix(t, db->dbi[RDV_DB_NODE_ORGS], p, sizeof(p), trust_iter_cb, &it);
}

int rdv_org_net_iter(struct store_txn *t, struct rdv_db *db, uint32_t org, rdv_id_cb cb, void *arg)
{
	uint8_t p[4];
	struct id_iter it = {cb, arg};

	store_be32(p, org);
	/* be32(org) be16(net): the shape of node_nets keys. */
	return store_iter_prefix(t, db->dbi[RDV_DB_ORG_NETS], p, sizeof(p), node_net_iter_cb, &it);
}

/* ---------------------------------------------------------------- policies */

#define POLICY_V1 1
#define POLICY_FIXED 13 /* u8 version | be64 version | be32 rules */

int rdv_policy_get(struct store_txn *t, struct rdv_db *db, uint16_t net, struct rdv_policy *p,
		   int want_json)
{
	uint8_t k[2] = {(uint8_t)(net >> 8), (uint8_t)net};
	const uint8_t *b;
	MDB_val v;
	int ret;

	memset(p, 0, sizeof(*p));
	ret = store_get(t, db->dbi[RDV_DB_POLICIES], k, sizeof(k), &v);
	if (ret == -ENOENT)
		return 0;
	if (ret < 0)
		return ret;
	b = v.mv_data;
	if (v.mv_size < POLICY_FIXED || b[0] != POLICY_V1 ||
	    memchr(b + POLICY_FIXED, '\0', v.mv_size - POLICY_FIXED)) {
		log_warnx("network %u: corrupt policy record in the registry store", net);
		return -EBADMSG;
	}
	p->version = store_rd_be64(b + 1);
	p->rules = store_rd_be32(b + 9);
	if (!want_json)
		return 0;
	/* A copy: LMDB's pointer dies with the transaction's next write. */
	p->len = v.mv_size - POLICY_FIXED;
	p->json = malloc(p->len + 1);
	if (!p->json)
		return -ENOMEM;
	memcpy(p->json, b + POLICY_FIXED, p->len);
	p->json[p->len] = '\0';
	return 0;
}

void rdv_policy_free(struct rdv_policy *p)
{
	free(p->json);
	memset(p, 0, sizeof(*p));
}

void rdv_policy_put(struct store_txn *t, struct rdv_db *db, uint16_t net,
		    const struct rdv_policy *p)
{
	uint8_t k[2] = {(uint8_t)(net >> 8), (uint8_t)net}, *v;
	size_t len = POLICY_FIXED + p->len;

	if (t->ret)
		return;
	v = malloc(len);
	if (!v) {
		t->ret = -ENOMEM;
		return;
	}
	v[0] = POLICY_V1;
	store_be64(v + 1, p->version);
	store_be32(v + 9, p->rules);
	if (p->len)
		memcpy(v + POLICY_FIXED, p->json, p->len);
	store_put(t, db->dbi[RDV_DB_POLICIES], k, sizeof(k), v, len);
	free(v);
}

void rdv_policy_del(struct store_txn *t, struct rdv_db *db, uint16_t net)
{
	uint8_t k[2] = {(uint8_t)(net >> 8), (uint8_t)net};
	MDB_val v;

	if (store_get(t, db->dbi[RDV_DB_POLICIES], k, sizeof(k), &v) == 0)
		store_del(t, db->dbi[RDV_DB_POLICIES], k, sizeof(k));
}

static int node_has_tag(const struct rdv_node *n, const char *tag)
{
	for (size_t i = 0; i < n->ntags && i < RDV_TAGS_MAX; i++)
		if (strcmp(n->tags[i], tag) == 0)
			return 1;
	return 0;
}

/* Does one of the selectors in array \p sels pick \p n?  The document is
 * canonical (policy_gen): "*", "tag:NAME" (lower case) or "node:ID". */
static int sels_pick(yajl_val sels, const struct rdv_node *n)
{
	char id[16];

	snprintf(id, sizeof(id), "%u", n->id);
	for (size_t i = 0; YAJL_IS_ARRAY(sels) && i < sels->u.array.len; i++) {
		const char *s = YAJL_GET_STRING(sels->u.array.values[i]);
		if (!s)
			continue;
		if (strcmp(s, "*") == 0 || (strncmp(s, "tag:", 4) == 0 && node_has_tag(n, s + 4)) ||
		    (strncmp(s, "node:", 5) == 0 && strcmp(s + 5, id) == 0))
			return 1;
	}
	return 0;
}

int rdv_policy_links(const char *json, size_t len, const struct rdv_node *a,
		     const struct rdv_node *b)
{
	yajl_val root, rules;
	char err[64];
	int hit = 0;

	root = json_parse(json, len, 0, err, sizeof(err));
	rules = json_get(root, "rules");
	for (size_t i = 0; !hit && YAJL_IS_ARRAY(rules) && i < rules->u.array.len; i++) {
		yajl_val r = rules->u.array.values[i], from = json_get(r, "from"),
			 to = json_get(r, "to");
		hit = (sels_pick(from, a) && sels_pick(to, b)) ||
		      (sels_pick(from, b) && sels_pick(to, a));
	}
	if (root)
		yajl_tree_free(root);
	return hit;
}

int rdv_policy_connects(struct store_txn *t, struct rdv_db *db, uint16_t net,
			const struct rdv_node *a, const struct rdv_node *b)
{
	struct rdv_policy p;
	int ret;

	ret = rdv_policy_get(t, db, net, &p, 0);
	if (ret < 0)
		return ret;
	if (p.rules == 0)
		return 1;
	ret = rdv_policy_get(t, db, net, &p, 1);
	if (ret == 0)
		ret = rdv_policy_links(p.json, p.len, a, b);
	rdv_policy_free(&p);
	return ret;
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

/* ---------------------------------------------------------------- inbox */

int rdv_inbox_get(struct store_txn *t, struct rdv_db *db, uint32_t target, uint32_t from,
		  struct rdv_inbox_entry *e)
{
	uint8_t k[8];
	MDB_val v;
	size_t jl;
	int ret;

	pair_key(k, target, from);
	ret = store_get(t, db->dbi[RDV_DB_INBOX], k, sizeof(k), &v);
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
}

void rdv_inbox_del(struct store_txn *t, struct rdv_db *db, uint32_t target, uint32_t from)
{
	uint8_t k[8];

	pair_key(k, target, from);
	store_del(t, db->dbi[RDV_DB_INBOX], k, sizeof(k));
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

	if (k->mv_size != 8 || v->mv_size < 8 || v->mv_size - 8 > RDV_JUSTIFICATION_MAX)
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
	return store_iter_prefix(t, db->dbi[RDV_DB_INBOX], p, sizeof(p), inbox_iter_cb, &it);
}

size_t rdv_inbox_count(struct store_txn *t, struct rdv_db *db, uint32_t target)
{
	uint8_t p[4];
	struct inbox_iter it = {NULL, NULL, 0};

	store_be32(p, target);
	if (store_iter_prefix(t, db->dbi[RDV_DB_INBOX], p, sizeof(p), inbox_iter_cb, &it) < 0)
		return 0;
	return it.n;
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

/* Keys collected during a scan and deleted after it: the scan's cursor is
 * not disturbed by deletes behind its back. */
struct key_batch {
	uint8_t (*keys)[32];
	size_t n, cap, max;
	uint64_t limit;
	size_t keylen; /* prune_expired: the expiry index's key length */
};

static int batch_add(struct key_batch *b, const MDB_val *k)
{
	if (k->mv_size > sizeof(b->keys[0]))
		return -EBADMSG;
	if (b->n == b->cap) {
		size_t ncap = b->cap ? b->cap * 2 : 64;
		void *nk = realloc(b->keys, ncap * sizeof(b->keys[0]));
		if (!nk)
			return -ENOMEM;
		b->keys = nk;
		b->cap = ncap;
	}
	memset(b->keys[b->n], 0, sizeof(b->keys[0]));
	memcpy(b->keys[b->n++], k->mv_data, k->mv_size);
	return 0;
}

static int prune_event_cb(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct key_batch *b = arg;

	(void)v;
	if (k->mv_size != 12)
		return -EBADMSG;
	if (store_rd_be64((const uint8_t *)k->mv_data + 4) > b->limit)
		return 1;
	return batch_add(b, k);
}

int rdv_event_prune(struct store_txn *t, struct rdv_db *db, uint32_t node, uint64_t upto)
{
	uint8_t p[4];
	struct key_batch b = {.limit = upto};
	int ret;

	store_be32(p, node);
	ret = store_iter_prefix(t, db->dbi[RDV_DB_EVENTS], p, sizeof(p), prune_event_cb, &b);
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

	if (k->mv_size != 12)
		return -EBADMSG;
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
	return store_iter_prefix(t, db->dbi[RDV_DB_EVENTS], p, sizeof(p), event_iter_cb, &it);
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

/* An expiry index maps BE64 expiry || main key -> "": scan it in expiry
 * order, stop at b->limit, and delete each entry and its main record. */
static int prune_expired_cb(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct key_batch *b = arg;

	(void)v;
	if (k->mv_size != b->keylen)
		return -EBADMSG;
	if (store_rd_be64(k->mv_data) >= b->limit || b->n >= b->max)
		return 1;
	return batch_add(b, k);
}

static int prune_expired(struct rdv_db *db, int exp_db, int main_db, size_t keylen, uint64_t limit)
{
	struct key_batch b = {.max = 1024, .limit = limit, .keylen = keylen};
	struct store_txn t;
	int ret = 0, removed = 0;

	/* Bounded batches keep each write transaction (and the time the
	 * event loop is blocked in it) short. */
	do {
		b.n = 0;
		store_txn_begin(db->st, &t, 0);
		store_iter_prefix(&t, db->dbi[exp_db], NULL, 0, prune_expired_cb, &b);
		for (size_t i = 0; i < b.n; i++) {
			store_del(&t, db->dbi[exp_db], b.keys[i], keylen);
			store_del(&t, db->dbi[main_db], b.keys[i] + 8, keylen - 8);
		}
		ret = store_txn_commit(&t);
		if (ret == 0)
			removed += (int)b.n;
	} while (ret == 0 && b.n == b.max);
	free(b.keys);
	return ret < 0 ? ret : removed;
}

int rdv_nonce_prune(struct rdv_db *db, uint64_t now_ms)
{
	if (now_ms <= RDV_NONCE_KEEP_MS)
		return 0;
	return prune_expired(db, RDV_DB_NONCE_EXP, RDV_DB_NONCES, 28, now_ms - RDV_NONCE_KEEP_MS);
}

int rdv_invite_prune(struct rdv_db *db, uint64_t now_ms)
{
	if (now_ms <= RDV_INVITE_KEEP_MS)
		return 0;
	/* invite expiry is in seconds */
	return prune_expired(db, RDV_DB_INVITE_EXP, RDV_DB_INVITES, 24,
			     (now_ms - RDV_INVITE_KEEP_MS) / 1000);
}
