/* rdv_store_cert.c - see rdv_store.h: the certificates of ca networks
 * (the network's CA, the certificate each member was admitted with, the
 * expiry index) and the networks' revocation lists. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cert.h"
#include "log.h"
#include "rdv_store_int.h"

#define CRL_VAL 32 /* every value is kept in 32 bytes, zero-padded */
#define CRL_KEY (2 + 1 + CRL_VAL)

static int get_cert(struct store_txn *t, int dbi, const uint8_t *k, size_t klen, struct cert *c,
		    const char *what)
{
	MDB_val v;
	int ret = store_get(t, dbi, k, klen, &v);

	if (ret < 0)
		return ret;
	if (cert_decode(v.mv_data, v.mv_size, c) < 0) {
		log_warnx("%s: corrupt certificate in the registry store", what);
		return -EBADMSG;
	}
	return 0;
}

static void put_cert(struct store_txn *t, int dbi, const uint8_t *k, size_t klen,
		     const struct cert *c)
{
	uint8_t v[CERT_MAX];
	int n = cert_encode(c, v, sizeof(v));

	if (n < 0) {
		if (!t->ret)
			t->ret = -EINVAL;
		return;
	}
	store_put(t, dbi, k, klen, v, (size_t)n);
}

int rdv_net_ca_get(struct store_txn *t, struct rdv_db *db, uint16_t net, struct cert *ca)
{
	uint8_t k[2];

	rdv_st_net_key(k, net);
	return get_cert(t, db->dbi[RDV_DB_NET_CA], k, sizeof(k), ca, "network CA");
}

void rdv_net_ca_put(struct store_txn *t, struct rdv_db *db, uint16_t net, const struct cert *ca)
{
	uint8_t k[2];

	rdv_st_net_key(k, net);
	put_cert(t, db->dbi[RDV_DB_NET_CA], k, sizeof(k), ca);
}

int rdv_net_cert_get(struct store_txn *t, struct rdv_db *db, uint16_t net, uint32_t node,
		     struct cert *c)
{
	uint8_t k[6];

	rdv_st_member_key(k, net, node);
	return get_cert(t, db->dbi[RDV_DB_NET_CERTS], k, sizeof(k), c, "member certificate");
}

void rdv_net_cert_del(struct store_txn *t, struct rdv_db *db, uint16_t net, uint32_t node)
{
	uint8_t k[6], ek[14];
	struct cert old;

	rdv_st_member_key(k, net, node);
	if (rdv_net_cert_get(t, db, net, node, &old) == 0) {
		rdv_st_exp_key(ek, old.not_after, net, node);
		store_del(t, db->dbi[RDV_DB_CERT_EXP], ek, sizeof(ek));
	}
	store_del(t, db->dbi[RDV_DB_NET_CERTS], k, sizeof(k));
}

void rdv_net_cert_put(struct store_txn *t, struct rdv_db *db, uint16_t net, uint32_t node,
		      const struct cert *c)
{
	uint8_t k[6], ek[14];

	rdv_net_cert_del(t, db, net, node);
	rdv_st_member_key(k, net, node);
	put_cert(t, db->dbi[RDV_DB_NET_CERTS], k, sizeof(k), c);
	rdv_st_exp_key(ek, c->not_after, net, node);
	store_put(t, db->dbi[RDV_DB_CERT_EXP], ek, sizeof(ek), "", 0);
}

static int collect_cb(void *arg, const MDB_val *k, const MDB_val *v)
{
	(void)v;
	return rdv_st_batch_add(arg, k);
}

/* Revocation list keys of one network, collected to delete after the walk. */
struct crl_del {
	uint8_t (*keys)[CRL_KEY];
	size_t n, cap;
	uint16_t net;
};

static int crl_key(uint8_t k[CRL_KEY], uint16_t net, uint8_t kind, const uint8_t *val, size_t len);

static int crl_del_cb(void *arg, uint8_t kind, const uint8_t *val, size_t len, uint64_t ms)
{
	struct crl_del *cd = arg;

	(void)ms;
	if (cd->n == cd->cap) {
		size_t nc = cd->cap ? cd->cap * 2 : 16;
		void *nk = realloc(cd->keys, nc * sizeof(cd->keys[0]));
		if (!nk)
			return -ENOMEM;
		cd->keys = nk;
		cd->cap = nc;
	}
	return crl_key(cd->keys[cd->n++], cd->net, kind, val, len);
}

void rdv_net_certs_drop(struct store_txn *t, struct rdv_db *db, uint16_t net)
{
	struct crl_del cd = {.net = net};
	struct rdv_st_batch b = {0};
	uint8_t k[2];

	/* Each member's expiry index entry goes with its certificate. */
	rdv_st_net_key(k, net);
	b.max = SIZE_MAX;
	if (rdv_st_each(t, db->dbi[RDV_DB_NET_CERTS], k, sizeof(k), 6, collect_cb, &b) == 0)
		for (size_t i = 0; i < b.n; i++)
			rdv_net_cert_del(t, db, net, store_rd_be32(b.keys[i] + 2));
	free(b.keys);
	rdv_crl_iter(t, db, net, crl_del_cb, &cd);
	for (size_t i = 0; i < cd.n; i++)
		store_del(t, db->dbi[RDV_DB_CRL], cd.keys[i], CRL_KEY);
	free(cd.keys);
	store_del(t, db->dbi[RDV_DB_NET_CA], k, sizeof(k));
}

void rdv_member_tags(struct store_txn *t, struct rdv_db *db, uint16_t net, struct rdv_node *n)
{
	struct cert c;

	if (net == 0 || rdv_net_cert_get(t, db, net, n->id, &c) < 0)
		return;
	n->ntags = c.ntags;
	for (size_t i = 0; i < c.ntags && i < RDV_TAGS_MAX; i++)
		snprintf(n->tags[i], sizeof(n->tags[i]), "%s", c.tags[i]);
}

struct exp_walk {
	uint64_t now_s;
	size_t max, n;
	rdv_member_cb cb;
	void *arg;
};

static int exp_cb(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct exp_walk *w = arg;
	const uint8_t *p = k->mv_data;
	int rc;

	(void)v;
	if (store_rd_be64(p) > w->now_s || w->n >= w->max)
		return 1;
	w->n++;
	rc = w->cb(w->arg, (uint16_t)(p[8] << 8 | p[9]), store_rd_be32(p + 10));
	return rc;
}

int rdv_cert_expired_iter(struct store_txn *t, struct rdv_db *db, uint64_t now_s, size_t max,
			  rdv_member_cb cb, void *arg)
{
	struct exp_walk w = {now_s, max, 0, cb, arg};

	return rdv_st_each(t, db->dbi[RDV_DB_CERT_EXP], NULL, 0, 14, exp_cb, &w);
}

/* -------------------------------------------------------- revocation lists */

static int crl_key(uint8_t k[CRL_KEY], uint16_t net, uint8_t kind, const uint8_t *val, size_t len)
{
	if (len == 0 || len > CRL_VAL)
		return -EINVAL;
	memset(k, 0, CRL_KEY);
	rdv_st_net_key(k, net);
	k[2] = kind;
	memcpy(k + 3, val, len);
	return 0;
}

void rdv_crl_put(struct store_txn *t, struct rdv_db *db, uint16_t net, uint8_t kind,
		 const uint8_t *val, size_t len, uint64_t ms)
{
	uint8_t k[CRL_KEY], v[8];

	if (crl_key(k, net, kind, val, len) < 0) {
		if (!t->ret)
			t->ret = -EINVAL;
		return;
	}
	store_be64(v, ms);
	store_put(t, db->dbi[RDV_DB_CRL], k, sizeof(k), v, sizeof(v));
}

int rdv_crl_has(struct store_txn *t, struct rdv_db *db, uint16_t net, uint8_t kind,
		const uint8_t *val, size_t len)
{
	uint8_t k[CRL_KEY];
	MDB_val v;

	if (crl_key(k, net, kind, val, len) < 0)
		return 0;
	return store_get(t, db->dbi[RDV_DB_CRL], k, sizeof(k), &v) == 0;
}

static size_t crl_len(uint8_t kind)
{
	switch (kind) {
	case RDV_CRL_SERIAL:
		return CERT_SERIAL_LEN;
	case RDV_CRL_FINGERPRINT:
	case RDV_CRL_KEY:
		return 32;
	case RDV_CRL_NODE:
		return 4;
	default:
		return 0;
	}
}

struct crl_walk {
	rdv_crl_cb cb;
	void *arg;
};

static int crl_cb(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct crl_walk *w = arg;
	const uint8_t *p = k->mv_data;
	size_t len = crl_len(p[2]);

	if (len == 0 || v->mv_size != 8)
		return -EBADMSG;
	return w->cb(w->arg, p[2], p + 3, len, store_rd_be64(v->mv_data));
}

int rdv_crl_iter(struct store_txn *t, struct rdv_db *db, uint16_t net, rdv_crl_cb cb, void *arg)
{
	struct crl_walk w = {cb, arg};
	uint8_t k[2];

	rdv_st_net_key(k, net);
	return rdv_st_each(t, db->dbi[RDV_DB_CRL], k, sizeof(k), CRL_KEY, crl_cb, &w);
}
