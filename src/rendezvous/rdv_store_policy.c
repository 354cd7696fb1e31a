/* rdv_store_policy.c - see rdv_store.h: the table of network policies,
 * and their evaluation between two nodes. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "jwt.h"
#include "log.h"
#include "rdv_store_int.h"

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

static int ext_has_claim(const struct rdv_ext *e, const char *claim)
{
	for (size_t i = 0; e && i < e->nclaims && i < RDV_EXT_CLAIMS_MAX; i++)
		if (strcmp(e->claims[i], claim) == 0)
			return 1;
	return 0;
}

/* Does one of the selectors in array \p sels pick \p n (admitted as \p e,
 * or NULL)?  The document is canonical (policy_gen): "*", "tag:NAME"
 * (lower case), "node:ID", "spiffe://..." or "claim:NAME=VALUE". */
static int sels_pick(yajl_val sels, const struct rdv_node *n, const struct rdv_ext *e)
{
	char id[16];

	snprintf(id, sizeof(id), "%u", n->id);
	for (size_t i = 0; YAJL_IS_ARRAY(sels) && i < sels->u.array.len; i++) {
		const char *s = YAJL_GET_STRING(sels->u.array.values[i]);
		if (!s)
			continue;
		if (strcmp(s, "*") == 0 || (strncmp(s, "tag:", 4) == 0 && node_has_tag(n, s + 4)) ||
		    (strncmp(s, "node:", 5) == 0 && strcmp(s + 5, id) == 0) ||
		    (e && strncmp(s, "spiffe://", 9) == 0 && spiffe_id_match(s, e->sub)) ||
		    (strncmp(s, "claim:", 6) == 0 && ext_has_claim(e, s + 6)))
			return 1;
	}
	return 0;
}

int rdv_policy_links(const char *json, size_t len, const struct rdv_node *a,
		     const struct rdv_ext *ea, const struct rdv_node *b, const struct rdv_ext *eb)
{
	yajl_val root, rules;
	char err[64];
	int hit = 0;

	root = json_parse(json, len, 0, err, sizeof(err));
	rules = json_get(root, "rules");
	for (size_t i = 0; !hit && YAJL_IS_ARRAY(rules) && i < rules->u.array.len; i++) {
		yajl_val r = rules->u.array.values[i], from = json_get(r, "from"),
			 to = json_get(r, "to");
		hit = (sels_pick(from, a, ea) && sels_pick(to, b, eb)) ||
		      (sels_pick(from, b, eb) && sels_pick(to, a, ea));
	}
	if (root)
		yajl_tree_free(root);
	return hit;
}

int rdv_policy_connects(struct store_txn *t, struct rdv_db *db, uint16_t net,
			const struct rdv_node *a, const struct rdv_node *b)
{
	struct rdv_policy p;
	struct rdv_node ta, tb;
	int ret;

	ret = rdv_policy_get(t, db, net, &p, 0);
	if (ret < 0)
		return ret;
	if (p.rules == 0)
		return 1;
	ta = *a;
	tb = *b;
	rdv_member_tags(t, db, net, &ta);
	rdv_member_tags(t, db, net, &tb);
	ret = rdv_policy_get(t, db, net, &p, 1);
	if (ret == 0) {
		struct rdv_ext *ea = malloc(sizeof(*ea)), *eb = malloc(sizeof(*eb));
		if (!ea || !eb) {
			ret = -ENOMEM;
		} else {
			int ha = rdv_net_ext_get(t, db, net, a->id, ea) == 0,
			    hb = rdv_net_ext_get(t, db, net, b->id, eb) == 0;
			ret = rdv_policy_links(p.json, p.len, &ta, ha ? ea : NULL, &tb,
					       hb ? eb : NULL);
		}
		free(ea);
		free(eb);
	}
	rdv_policy_free(&p);
	return ret;
}
