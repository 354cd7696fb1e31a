/* rdv_store_ext.c - see rdv_store.h: external identity of oidc and spiffe
 * networks: the network's identity provider settings, the last good key
 * set, the identity each member was admitted as (with its index entries:
 * expiry in cert_exp, the subject's binding), and the token IDs seen. */
#include "config.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "rdv_store_int.h"
#include "util.h"

/* Tables:
 *   net_idp   be16(net) -> the rule's settings, JSON text (rdv_reg_idp.c)
 *   net_jwks  be16(net) -> be64(fetched ms) be64(fresh until ms) JSON text
 *   net_ext   be16(net) be32(node) -> member record (below)
 *   ext_subj  be16(net) sha256(iss NUL sub) -> be32(node)
 *   jti       blake2b-192(iss NUL jti) -> be64(exp s) be32(node)
 *   jti_exp   be64(exp s) blake2b-192(iss NUL jti) -> "" (pruning order)
 * Member record: u8 version (1) | be64 exp s | u8 len iss | iss | u8 len
 *   sub | sub | u8 nclaims | nclaims x (u8 len | "name=value"). */
#define EXT_V1 1
#define EXT_REC_MAX                                                                                \
	(1 + 8 + 1 + RDV_EXT_STR_MAX + 1 + RDV_EXT_STR_MAX + 1 +                                   \
	 RDV_EXT_CLAIMS_MAX * (1 + RDV_EXT_CLAIM_MAX))

static void pair_hash(uint8_t h[32], const char *a, const char *b)
{
	crypto_hash_sha256_state st;

	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const uint8_t *)a, strlen(a) + 1);
	crypto_hash_sha256_update(&st, (const uint8_t *)b, strlen(b));
	crypto_hash_sha256_final(&st, h);
}

static int get_text(struct store_txn *t, int dbi, const uint8_t *k, size_t klen, size_t skip,
		    char **out, size_t *len, MDB_val *raw)
{
	int rc = store_get(t, dbi, k, klen, raw);

	if (rc < 0)
		return rc;
	if (raw->mv_size < skip)
		return -EBADMSG;
	*len = raw->mv_size - skip;
	*out = malloc(*len + 1);
	if (!*out)
		return -ENOMEM;
	memcpy(*out, (const uint8_t *)raw->mv_data + skip, *len);
	(*out)[*len] = '\0';
	return 0;
}

int rdv_net_idp_get(struct store_txn *t, struct rdv_db *db, uint16_t net, char **json, size_t *len)
{
	uint8_t k[2];
	MDB_val v;

	rdv_st_net_key(k, net);
	return get_text(t, db->dbi[RDV_DB_NET_IDP], k, sizeof(k), 0, json, len, &v);
}

void rdv_net_idp_put(struct store_txn *t, struct rdv_db *db, uint16_t net, const char *json,
		     size_t len)
{
	uint8_t k[2];

	rdv_st_net_key(k, net);
	store_put(t, db->dbi[RDV_DB_NET_IDP], k, sizeof(k), json, len);
}

int rdv_net_jwks_get(struct store_txn *t, struct rdv_db *db, uint16_t net, struct rdv_jwks_rec *r)
{
	uint8_t k[2];
	MDB_val v;
	int rc;

	memset(r, 0, sizeof(*r));
	rdv_st_net_key(k, net);
	rc = get_text(t, db->dbi[RDV_DB_NET_JWKS], k, sizeof(k), 16, &r->json, &r->len, &v);
	if (rc < 0)
		return rc;
	r->fetched_ms = store_rd_be64(v.mv_data);
	r->fresh_until_ms = store_rd_be64((const uint8_t *)v.mv_data + 8);
	return 0;
}

int rdv_net_jwks_fresh_until(struct store_txn *t, struct rdv_db *db, uint16_t net,
			     uint64_t *until_ms)
{
	uint8_t k[2];
	MDB_val v;
	int rc;

	rdv_st_net_key(k, net);
	rc = store_get(t, db->dbi[RDV_DB_NET_JWKS], k, sizeof(k), &v);
	if (rc < 0)
		return rc;
	if (v.mv_size < 16)
		return -EBADMSG;
	*until_ms = store_rd_be64((const uint8_t *)v.mv_data + 8);
	return 0;
}

void rdv_net_jwks_put(struct store_txn *t, struct rdv_db *db, uint16_t net,
		      const struct rdv_jwks_rec *r)
{
	uint8_t k[2], *v = malloc(16 + r->len);

	if (!v) {
		if (!t->ret)
			t->ret = -ENOMEM;
		return;
	}
	rdv_st_net_key(k, net);
	store_be64(v, r->fetched_ms);
	store_be64(v + 8, r->fresh_until_ms);
	memcpy(v + 16, r->json, r->len);
	store_put(t, db->dbi[RDV_DB_NET_JWKS], k, sizeof(k), v, 16 + r->len);
	free(v);
}

void rdv_jwks_rec_free(struct rdv_jwks_rec *r)
{
	free(r->json);
	memset(r, 0, sizeof(*r));
}

/* ------------------------------------------------------------- members */

static size_t ext_encode(const struct rdv_ext *e, uint8_t out[EXT_REC_MAX])
{
	size_t o = 0, n;

	out[o++] = EXT_V1;
	store_be64(out + o, e->exp_s);
	o += 8;
	n = strnlen(e->iss, RDV_EXT_STR_MAX);
	out[o++] = (uint8_t)n;
	memcpy(out + o, e->iss, n);
	o += n;
	n = strnlen(e->sub, RDV_EXT_STR_MAX);
	out[o++] = (uint8_t)n;
	memcpy(out + o, e->sub, n);
	o += n;
	out[o++] = (uint8_t)MIN(e->nclaims, (size_t)RDV_EXT_CLAIMS_MAX);
	for (size_t i = 0; i < e->nclaims && i < RDV_EXT_CLAIMS_MAX; i++) {
		n = strnlen(e->claims[i], RDV_EXT_CLAIM_MAX);
		out[o++] = (uint8_t)n;
		memcpy(out + o, e->claims[i], n);
		o += n;
	}
	return o;
}

/* One u8-length string at *o of \p in. */
static int take_str(const uint8_t *in, size_t len, size_t *o, char *out, size_t max)
{
	size_t n;

	if (*o >= len)
		return -EBADMSG;
	n = in[(*o)++];
	if (n > max || *o + n > len)
		return -EBADMSG;
	memcpy(out, in + *o, n);
	out[n] = '\0';
	*o += n;
	return 0;
}

static int ext_decode(const uint8_t *in, size_t len, struct rdv_ext *e)
{
	size_t o = 9;

	memset(e, 0, sizeof(*e));
	if (len < 9 || in[0] != EXT_V1)
		return -EBADMSG;
	e->exp_s = store_rd_be64(in + 1);
	if (take_str(in, len, &o, e->iss, RDV_EXT_STR_MAX) < 0 ||
	    take_str(in, len, &o, e->sub, RDV_EXT_STR_MAX) < 0 || o >= len)
		return -EBADMSG;
	e->nclaims = in[o++];
	if (e->nclaims > RDV_EXT_CLAIMS_MAX)
		return -EBADMSG;
	for (size_t i = 0; i < e->nclaims; i++)
		if (take_str(in, len, &o, e->claims[i], RDV_EXT_CLAIM_MAX) < 0)
			return -EBADMSG;
	return o == len ? 0 : -EBADMSG;
}

int rdv_net_ext_get(struct store_txn *t, struct rdv_db *db, uint16_t net, uint32_t node,
		    struct rdv_ext *e)
{
	uint8_t k[6];
	MDB_val v;
	int rc;

	rdv_st_member_key(k, net, node);
	rc = store_get(t, db->dbi[RDV_DB_NET_EXT], k, sizeof(k), &v);
	if (rc < 0)
		return rc;
	if (ext_decode(v.mv_data, v.mv_size, e) < 0) {
		log_warnx("network %u node %u: corrupt external identity record", net, node);
		return -EBADMSG;
	}
	return 0;
}

static void subj_key(uint8_t k[34], uint16_t net, const char *iss, const char *sub)
{
	rdv_st_net_key(k, net);
	pair_hash(k + 2, iss, sub);
}

void rdv_net_ext_del(struct store_txn *t, struct rdv_db *db, uint16_t net, uint32_t node)
{
	uint8_t k[6], ek[14], sk[34];
	struct rdv_ext old;
	MDB_val v;

	rdv_st_member_key(k, net, node);
	if (rdv_net_ext_get(t, db, net, node, &old) != 0)
		return;
	rdv_st_exp_key(ek, old.exp_s, net, node);
	store_del(t, db->dbi[RDV_DB_CERT_EXP], ek, sizeof(ek));
	/* The subject is free again, unless another member holds it now. */
	subj_key(sk, net, old.iss, old.sub);
	if (store_get(t, db->dbi[RDV_DB_EXT_SUBJ], sk, sizeof(sk), &v) == 0 && v.mv_size == 4 &&
	    store_rd_be32(v.mv_data) == node)
		store_del(t, db->dbi[RDV_DB_EXT_SUBJ], sk, sizeof(sk));
	store_del(t, db->dbi[RDV_DB_NET_EXT], k, sizeof(k));
}

void rdv_net_ext_put(struct store_txn *t, struct rdv_db *db, uint16_t net, uint32_t node,
		     const struct rdv_ext *e)
{
	uint8_t k[6], ek[14], sk[34], v[EXT_REC_MAX], nb[4];
	size_t n = ext_encode(e, v);

	rdv_net_ext_del(t, db, net, node);
	rdv_st_member_key(k, net, node);
	store_put(t, db->dbi[RDV_DB_NET_EXT], k, sizeof(k), v, n);
	rdv_st_exp_key(ek, e->exp_s, net, node);
	store_put(t, db->dbi[RDV_DB_CERT_EXP], ek, sizeof(ek), "", 0);
	subj_key(sk, net, e->iss, e->sub);
	store_be32(nb, node);
	store_put(t, db->dbi[RDV_DB_EXT_SUBJ], sk, sizeof(sk), nb, sizeof(nb));
}

int rdv_ext_subject_node(struct store_txn *t, struct rdv_db *db, uint16_t net, const char *iss,
			 const char *sub, uint32_t *node)
{
	uint8_t sk[34];
	MDB_val v;
	int rc;

	subj_key(sk, net, iss, sub);
	rc = store_get(t, db->dbi[RDV_DB_EXT_SUBJ], sk, sizeof(sk), &v);
	if (rc < 0)
		return rc;
	if (v.mv_size != 4)
		return -EBADMSG;
	*node = store_rd_be32(v.mv_data);
	return 0;
}

static int ext_collect_cb(void *arg, const MDB_val *k, const MDB_val *v)
{
	(void)v;
	return rdv_st_batch_add(arg, k);
}

void rdv_net_ext_drop(struct store_txn *t, struct rdv_db *db, uint16_t net)
{
	struct rdv_st_batch b = {.max = SIZE_MAX};
	uint8_t k[2];

	rdv_st_net_key(k, net);
	if (rdv_st_each(t, db->dbi[RDV_DB_NET_EXT], k, sizeof(k), 6, ext_collect_cb, &b) == 0)
		for (size_t i = 0; i < b.n; i++)
			rdv_net_ext_del(t, db, net, store_rd_be32(b.keys[i] + 2));
	free(b.keys);
	store_del(t, db->dbi[RDV_DB_NET_IDP], k, sizeof(k));
	store_del(t, db->dbi[RDV_DB_NET_JWKS], k, sizeof(k));
}

/* ------------------------------------------------------------ token IDs */

#define JTI_KEY 24 /* BLAKE2b of (iss, jti): the expiry index stays 32 bytes */

static void jti_key(uint8_t h[JTI_KEY], const char *iss, const char *jti)
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, JTI_KEY);
	crypto_generichash_update(&st, (const uint8_t *)iss, strlen(iss) + 1);
	crypto_generichash_update(&st, (const uint8_t *)jti, strlen(jti));
	crypto_generichash_final(&st, h, JTI_KEY);
}

int rdv_jti_node(struct store_txn *t, struct rdv_db *db, const char *iss, const char *jti,
		 uint64_t now_s, uint32_t *node)
{
	uint8_t h[JTI_KEY];
	MDB_val v;
	int rc;

	jti_key(h, iss, jti);
	rc = store_get(t, db->dbi[RDV_DB_JTI], h, sizeof(h), &v);
	if (rc < 0)
		return rc;
	if (v.mv_size != 12)
		return -EBADMSG;
	if (store_rd_be64(v.mv_data) < now_s)
		return -ENOENT; /* callers pass now less their leeway */
	*node = store_rd_be32((const uint8_t *)v.mv_data + 8);
	return 0;
}

void rdv_jti_put(struct store_txn *t, struct rdv_db *db, const char *iss, const char *jti,
		 uint64_t exp_s, uint32_t node)
{
	uint8_t h[JTI_KEY], v[12], ek[8 + JTI_KEY];

	jti_key(h, iss, jti);
	store_be64(v, exp_s);
	store_be32(v + 8, node);
	store_put(t, db->dbi[RDV_DB_JTI], h, sizeof(h), v, sizeof(v));
	store_be64(ek, exp_s);
	memcpy(ek + 8, h, JTI_KEY);
	store_put(t, db->dbi[RDV_DB_JTI_EXP], ek, sizeof(ek), "", 0);
}

int rdv_jti_prune(struct rdv_db *db, uint64_t now_ms)
{
	/* Kept a minute past exp: the longest leeway a check allows. */
	return rdv_st_prune_expired(db, RDV_DB_JTI_EXP, RDV_DB_JTI, 8 + JTI_KEY,
				    now_ms / 1000 > 60 ? now_ms / 1000 - 60 : 0);
}
