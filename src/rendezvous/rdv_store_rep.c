/* rdv_store_rep.c - see rdv_store.h: the reputation facts of each node
 * (doc/REGISTRY.md "Reputation"): its uptime, revocations and last
 * published score, the approvals it earned (once per approver, for
 * ever) and the standing opinions (report, block) others hold of it.
 * The score itself is computed by rep.c from these. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "hmap.h"
#include "log.h"
#include "rdv_store_int.h"

/* rep record, version 1:
 *   u8 version | be64 online_ms | be64 last_hb_ms | be32 revocations |
 *   u8 score_pub | u8 flags (1: score_pub is set) */
#define REP_V1 1
#define REP_LEN 23

int rdv_rep_get(struct store_txn *t, struct rdv_db *db, uint32_t node, struct rdv_rep *r)
{
	uint8_t k[4];
	const uint8_t *p;
	MDB_val v;
	int ret;

	memset(r, 0, sizeof(*r));
	store_be32(k, node);
	ret = store_get(t, db->dbi[RDV_DB_REP], k, sizeof(k), &v);
	if (ret == -ENOENT)
		return 0;
	if (ret < 0)
		return ret;
	p = v.mv_data;
	if (v.mv_size != REP_LEN || p[0] != REP_V1 || p[21] > 100 || p[22] > 1) {
		log_warnx("node %u: corrupt reputation record in the registry store", node);
		return -EBADMSG;
	}
	r->online_ms = store_rd_be64(p + 1);
	r->last_hb_ms = store_rd_be64(p + 9);
	r->revocations = store_rd_be32(p + 17);
	r->score_pub = p[21];
	r->has_pub = p[22];
	return 0;
}

void rdv_rep_put(struct store_txn *t, struct rdv_db *db, uint32_t node, const struct rdv_rep *r)
{
	uint8_t k[4], v[REP_LEN];

	store_be32(k, node);
	v[0] = REP_V1;
	store_be64(v + 1, r->online_ms);
	store_be64(v + 9, r->last_hb_ms);
	store_be32(v + 17, r->revocations);
	v[21] = (uint8_t)(r->score_pub < 0 ? 0 : r->score_pub > 100 ? 100 : r->score_pub);
	v[22] = r->has_pub ? 1 : 0;
	store_put(t, db->dbi[RDV_DB_REP], k, sizeof(k), v, sizeof(v));
}

int rdv_presence_get(const struct rdv_db *db, uint32_t node, struct rdv_presence *p)
{
	const struct rdv_presence *v = hmap_get(db->presence, &node);

	if (!v) {
		memset(p, 0, sizeof(*p));
		return -ENOENT;
	}
	*p = *v;
	return 0;
}

int rdv_presence_put(struct rdv_db *db, uint32_t node, const struct rdv_presence *p)
{
	struct rdv_presence *v;
	int is_new;

	if (!(v = hmap_put(db->presence, &node, &is_new)))
		return -errno;
	*v = *p;
	return 0;
}

void rdv_presence_del(struct rdv_db *db, uint32_t node)
{
	hmap_del(db->presence, &node);
}

int rdv_rep_flush(struct rdv_rep *r, struct rdv_presence *p, uint64_t now_ms)
{
	int changed = p->pending_ms != 0 || r->last_hb_ms != now_ms;

	r->online_ms += p->pending_ms;
	r->last_hb_ms = now_ms;
	p->pending_ms = 0;
	p->flushed_ms = now_ms;
	return changed;
}

int rdv_rep_heartbeat(struct rdv_rep *r, struct rdv_presence *p, int have_p, uint64_t now_ms,
		      int start)
{
	uint64_t gap;

	if (!have_p)
		memset(p, 0, sizeof(*p));
	/* The rep record's last_hb_ms is the last flush.  Newer than this
	 * replica's last heartbeat, it is another replica's: the node failed
	 * over and back, and the time between was counted there. */
	if (start || !have_p || p->last_hb_ms < r->last_hb_ms || now_ms < p->last_hb_ms) {
		p->last_hb_ms = now_ms;
		return rdv_rep_flush(r, p, now_ms);
	}
	gap = now_ms - p->last_hb_ms;
	p->pending_ms += gap < RDV_REP_GAP_MAX_MS ? gap : RDV_REP_GAP_MAX_MS;
	p->last_hb_ms = now_ms;
	if (now_ms - p->flushed_ms < RDV_REP_FLUSH_MS)
		return 0;
	return rdv_rep_flush(r, p, now_ms);
}

int rdv_rep_approval_add(struct store_txn *t, struct rdv_db *db, uint32_t subject,
			 uint32_t approver, uint64_t ms)
{
	uint8_t k[8], v[8];
	MDB_val old;
	int ret = pair_get(t, db->dbi[RDV_DB_REP_APPR], subject, approver, &old);

	if (ret == 0)
		return 0;
	if (ret != -ENOENT)
		return ret;
	pair_key(k, subject, approver);
	store_be64(v, ms);
	store_put(t, db->dbi[RDV_DB_REP_APPR], k, sizeof(k), v, sizeof(v));
	return t->ret ? t->ret : 1;
}

int rdv_rep_approval_iter(struct store_txn *t, struct rdv_db *db, uint32_t subject, rdv_id_cb cb,
			  void *arg)
{
	uint8_t p[4];

	store_be32(p, subject);
	return rdv_st_each_id(t, db->dbi[RDV_DB_REP_APPR], p, sizeof(p), 4, cb, arg);
}

/* Opinion record, version 1:
 *   u8 version | u8 verdict (rdv_verdict) | u8 blocked | be64 report_ms |
 *   be64 block_ms | u8 reason_len | reason */
#define OPN_V1 1
#define OPN_FIXED 20

static int opinion_decode(const MDB_val *k, const MDB_val *v, struct rdv_opinion *o)
{
	const uint8_t *p = v->mv_data;
	size_t rl;

	memset(o, 0, sizeof(*o));
	o->reporter = store_rd_be32((const uint8_t *)k->mv_data + 4);
	if (v->mv_size < OPN_FIXED || p[0] != OPN_V1 || p[1] > RDV_VERDICT_BAD || p[2] > 1)
		goto corrupt;
	rl = p[19];
	if (rl > RDV_REP_REASON_MAX || v->mv_size != OPN_FIXED + rl)
		goto corrupt;
	o->verdict = p[1];
	o->blocked = p[2];
	o->report_ms = store_rd_be64(p + 3);
	o->block_ms = store_rd_be64(p + 11);
	memcpy(o->reason, p + OPN_FIXED, rl);
	o->reason[rl] = '\0';
	return 0;
corrupt:
	log_warnx("node %u: corrupt opinion record in the registry store",
		  store_rd_be32(k->mv_data));
	return -EBADMSG;
}

int rdv_opinion_get(struct store_txn *t, struct rdv_db *db, uint32_t subject, uint32_t reporter,
		    struct rdv_opinion *o)
{
	uint8_t k[8];
	MDB_val key = {sizeof(k), k}, v;
	int ret;

	memset(o, 0, sizeof(*o));
	o->reporter = reporter;
	pair_key(k, subject, reporter);
	ret = store_get(t, db->dbi[RDV_DB_REP_OPINIONS], k, sizeof(k), &v);
	if (ret < 0)
		return ret;
	return opinion_decode(&key, &v, o);
}

void rdv_opinion_put(struct store_txn *t, struct rdv_db *db, uint32_t subject,
		     const struct rdv_opinion *o)
{
	uint8_t k[8], v[OPN_FIXED + RDV_REP_REASON_MAX];
	size_t rl = strnlen(o->reason, RDV_REP_REASON_MAX);

	pair_key(k, subject, o->reporter);
	if (o->verdict == RDV_VERDICT_NONE && !o->blocked) {
		MDB_val old;
		if (store_get(t, db->dbi[RDV_DB_REP_OPINIONS], k, sizeof(k), &old) == 0)
			store_del(t, db->dbi[RDV_DB_REP_OPINIONS], k, sizeof(k));
		return;
	}
	v[0] = OPN_V1;
	v[1] = o->verdict;
	v[2] = o->blocked ? 1 : 0;
	store_be64(v + 3, o->report_ms);
	store_be64(v + 11, o->block_ms);
	v[19] = (uint8_t)rl;
	memcpy(v + OPN_FIXED, o->reason, rl);
	store_put(t, db->dbi[RDV_DB_REP_OPINIONS], k, sizeof(k), v, OPN_FIXED + rl);
}

struct opinion_iter {
	rdv_opinion_cb cb;
	void *arg;
};

static int opinion_iter_cb(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct opinion_iter *it = arg;
	struct rdv_opinion o;
	int ret = opinion_decode(k, v, &o);

	return ret < 0 ? ret : it->cb(it->arg, &o);
}

int rdv_opinion_iter(struct store_txn *t, struct rdv_db *db, uint32_t subject, rdv_opinion_cb cb,
		     void *arg)
{
	struct opinion_iter it = {cb, arg};
	uint8_t p[4];

	store_be32(p, subject);
	return rdv_st_each(t, db->dbi[RDV_DB_REP_OPINIONS], p, sizeof(p), 8, opinion_iter_cb, &it);
}
