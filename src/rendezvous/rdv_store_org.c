/* rdv_store_org.c - see rdv_store.h: the tables of orgs, of their
 * memberships (both ways), of the networks they own and of the nodes they
 * barred. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "log.h"
#include "rdv_store_int.h"

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
	return rdv_st_id_alloc(t, db, META_NEXT_ORG, id);
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

	ret = org_decode(v, store_rd_be32(k->mv_data), &o);
	if (ret < 0)
		return ret;
	return it->cb(it->arg, &o);
}

int rdv_org_iter(struct store_txn *t, struct rdv_db *db, rdv_org_cb cb, void *arg)
{
	struct org_iter it = {cb, arg};

	return rdv_st_each(t, db->dbi[RDV_DB_ORGS], NULL, 0, 4, org_iter_cb, &it);
}

int rdv_org_member_has(struct store_txn *t, struct rdv_db *db, uint32_t org, uint32_t node)
{
	return rdv_st_rel_has(t, db, &rdv_st_org_members, org, node);
}

void rdv_org_member_put(struct store_txn *t, struct rdv_db *db, uint32_t org, uint32_t node,
			uint64_t ms)
{
	uint8_t v[8];

	store_be64(v, ms);
	rdv_st_rel_put(t, db, &rdv_st_org_members, org, node, v, sizeof(v));
}

void rdv_org_member_del(struct store_txn *t, struct rdv_db *db, uint32_t org, uint32_t node)
{
	rdv_st_rel_del(t, db, &rdv_st_org_members, org, node);
}

int rdv_org_member_iter(struct store_txn *t, struct rdv_db *db, uint32_t org, rdv_id_cb cb,
			void *arg)
{
	return rdv_st_rel_each(t, db, &rdv_st_org_members, org, cb, arg);
}

int rdv_node_org_iter(struct store_txn *t, struct rdv_db *db, uint32_t node, rdv_id_cb cb,
		      void *arg)
{
	return rdv_st_rel_each_rev(t, db, &rdv_st_org_members, node, cb, arg);
}

int rdv_org_net_iter(struct store_txn *t, struct rdv_db *db, uint32_t org, rdv_id_cb cb, void *arg)
{
	uint8_t p[4];

	store_be32(p, org);
	/* be32(org) be16(net): the shape of node_nets keys. */
	return rdv_st_each_id(t, db->dbi[RDV_DB_ORG_NETS], p, sizeof(p), 2, cb, arg);
}

void rdv_org_ban_put(struct store_txn *t, struct rdv_db *db, uint32_t org, uint32_t node,
		     uint64_t ms)
{
	uint8_t k[8], v[8];

	pair_key(k, org, node);
	store_be64(v, ms);
	store_put(t, db->dbi[RDV_DB_ORG_BANS], k, sizeof(k), v, sizeof(v));
}

int rdv_org_ban_has(struct store_txn *t, struct rdv_db *db, uint32_t org, uint32_t node)
{
	MDB_val v;

	return pair_get(t, db->dbi[RDV_DB_ORG_BANS], org, node, &v) == 0;
}
