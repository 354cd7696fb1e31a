/* rdv_store.c - see rdv_store.h: the environment, the key files, and what
 * the table files (rdv_store_int.h) share: the ID counters, the walkers
 * every list function is made of, and the pruning of expiry indexes. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "hmap.h"
#include "log.h"
#include "rdv_etcd.h"
#include "rdv_repl.h"
#include "rdv_store_int.h"
#include "util.h"

static const char *const db_names[RDV_DB_COUNT + 1] = {
    [RDV_DB_META] = "meta",
    [RDV_DB_NODES] = "nodes",
    [RDV_DB_KEYS] = "keys",
    [RDV_DB_HOSTS] = "hosts",
    [RDV_DB_TRUST] = "trust",
    [RDV_DB_INBOX] = "inbox",
    [RDV_DB_EVENTS] = "events",
    [RDV_DB_NONCES] = "nonces",
    [RDV_DB_NONCE_EXP] = "nonce_exp",
    [RDV_DB_NETWORKS] = "networks",
    [RDV_DB_NET_NODES] = "net_nodes",
    [RDV_DB_NODE_NETS] = "node_nets",
    [RDV_DB_INVITES] = "invites",
    [RDV_DB_INVITE_EXP] = "invite_exp",
    [RDV_DB_AUDIT] = "audit",
    [RDV_DB_AUDIT_META] = "audit_meta",
    [RDV_DB_ORGS] = "orgs",
    [RDV_DB_ORG_NODES] = "org_nodes",
    [RDV_DB_NODE_ORGS] = "node_orgs",
    [RDV_DB_ORG_NETS] = "org_nets",
    [RDV_DB_POLICIES] = "policies",
    [RDV_DB_NET_CA] = "net_ca",
    [RDV_DB_NET_CERTS] = "net_certs",
    [RDV_DB_CERT_EXP] = "cert_exp",
    [RDV_DB_CRL] = "crl",
    [RDV_DB_NET_IDP] = "net_idp",
    [RDV_DB_NET_JWKS] = "net_jwks",
    [RDV_DB_NET_EXT] = "net_ext",
    [RDV_DB_EXT_SUBJ] = "ext_subj",
    [RDV_DB_JTI] = "jti",
    [RDV_DB_JTI_EXP] = "jti_exp",
    [RDV_DB_REP] = "rep",
    [RDV_DB_REP_APPR] = "rep_appr",
    [RDV_DB_REP_OPINIONS] = "rep_opinions",
    [RDV_DB_ORG_BANS] = "org_bans",
    [RDV_DB_INBOX_FROM] = "inbox_from",
    [RDV_DB_REG_TOKENS] = "reg_tokens",
    [RDV_DB_REG_PENDING] = "reg_pending",
    [RDV_DB_REPL] = "repl",
    [RDV_DB_COUNT] = NULL,
};

/* Load the deployment prefix, or make it on first start. */
static int prefix_load(struct rdv_db *db)
{
	struct store_txn t;
	char pbuf[INET6_ADDRSTRLEN + 4];
	int ret;

	store_txn_begin(db->st, &t, 0);
	ret = store_get_fixed(&t, db->dbi[RDV_DB_META], META_PREFIX, strlen(META_PREFIX),
			      db->prefix.b, sizeof(db->prefix.b));
	if (ret == -ENOENT) {
		/* First start: the deployment prefix is made once and kept for
		 * ever, since every node's overlay addresses derive from it.
		 * Two replicas starting at once race here: one wins, the
		 * other conflicts and takes the winner's. */
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
	return ret;
}

int rdv_db_sync(struct rdv_db *db)
{
	return db->repl ? rdv_repl_sync(db->repl) : 0;
}

int rdv_db_open(struct rdv_db *db, const char *dir)
{
	return rdv_db_open_etcd(db, dir, NULL);
}

int rdv_db_open_etcd(struct rdv_db *db, const char *dir, const struct rdv_db_etcd *etcd)
{
	int ret = 0;

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
	db->presence = hmap_new(4, sizeof(struct rdv_presence), RDV_PRESENCE_MAX);
	if (!etcd)
		db->nonce_mem = hmap_new(20, 0, RDV_NONCE_MEM_MAX);
	if (!db->presence || (!etcd && !db->nonce_mem) || rdv_newkeys_init(&db->newkeys) < 0) {
		ret = -ENOMEM;
		goto out;
	}
	if (etcd) {
		struct rdv_etcd *e = rdv_etcd_open(etcd->endpoints, etcd->n, etcd->timeout_ms,
						   etcd->ca, etcd->cert, etcd->key);
		if (!e) {
			ret = -errno;
			log_warnx("etcd_endpoints: %s", strerror(errno));
			goto out;
		}
		if ((ret = rdv_repl_attach(db, e, etcd->prefix, etcd->max_txn_ops, &db->repl)) < 0)
			goto out;
	}
	for (int i = 0; i <= RDV_CONFLICT_RETRIES; i++) {
		ret = prefix_load(db);
		if (ret != STORE_CONFLICT)
			break;
		if ((ret = rdv_db_sync(db)) < 0)
			break;
		ret = STORE_CONFLICT;
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

int rdv_db_import(const char *src_dir, const struct rdv_db_etcd *etcd, uint64_t *nkeys, char *err,
		  size_t errlen)
{
	struct rdv_db db;
	struct rdv_etcd *e;
	char path[PATH_MAX];
	int ret;

	*nkeys = 0;
	snprintf(path, sizeof(path), "%s/data.mdb", src_dir);
	if (access(path, R_OK) < 0) {
		snprintf(err, errlen, "%s: %s: no LMDB registry to import there", path,
			 strerror(errno));
		return -ENOENT;
	}
	if ((ret = rdv_db_open(&db, src_dir)) < 0) {
		snprintf(err, errlen, "the LMDB registry in %s could not be opened", src_dir);
		return ret;
	}
	/* The same tables a replica keeps to itself stay behind. */
	store_set_db_flags(db.st, db.dbi[RDV_DB_REPL], STORE_DB_LOCAL);
	e = rdv_etcd_open(etcd->endpoints, etcd->n, etcd->timeout_ms, etcd->ca, etcd->cert,
			  etcd->key);
	if (!e) {
		ret = -errno;
		snprintf(err, errlen, "etcd_endpoints: %s", strerror(errno));
	} else {
		ret =
		    rdv_repl_import(db.st, e, etcd->prefix, etcd->max_txn_ops, nkeys, err, errlen);
		rdv_etcd_close(e);
	}
	rdv_db_close(&db);
	return ret;
}

void rdv_db_close(struct rdv_db *db)
{
	audit_close(db->audit);
	db->audit = NULL;
	rdv_repl_free(db->repl);
	db->repl = NULL;
	store_close(db->st);
	db->st = NULL;
	hmap_free(db->presence);
	db->presence = NULL;
	hmap_free(db->nonce_mem);
	db->nonce_mem = NULL;
	rdv_newkeys_free(&db->newkeys);
	free(db->nonce_fifo.key);
	free(db->nonce_fifo.exp_ms);
	memset(&db->nonce_fifo, 0, sizeof(db->nonce_fifo));
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

/* ---------------------------------------------------------------- counters */

/* A counter in meta: IDs from 1, never reused. */
int rdv_st_id_alloc(struct store_txn *t, struct rdv_db *db, const char *key, uint32_t *id)
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

/* ---------------------------------------------------------------- walkers */

struct each {
	size_t klen;
	rdv_st_visit_fn visit;
	void *arg;
};

static int each_cb(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct each *e = arg;

	if (k->mv_size != e->klen)
		return -EBADMSG;
	return e->visit(e->arg, k, v);
}

int rdv_st_each(struct store_txn *t, int dbi, const void *prefix, size_t plen, size_t klen,
		rdv_st_visit_fn visit, void *arg)
{
	struct each e = {klen, visit, arg};

	return store_iter_prefix(t, dbi, prefix, plen, each_cb, &e);
}

struct each_id {
	rdv_id_cb cb;
	void *arg;
	size_t off, idlen;
};

static int each_id_cb(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct each_id *e = arg;
	const uint8_t *p = (const uint8_t *)k->mv_data + e->off;

	(void)v;
	return e->cb(e->arg, e->idlen == 2 ? get_be16(p) : store_rd_be32(p));
}

int rdv_st_each_id(struct store_txn *t, int dbi, const void *prefix, size_t plen, size_t idlen,
		   rdv_id_cb cb, void *arg)
{
	struct each_id e = {cb, arg, plen, idlen};

	return rdv_st_each(t, dbi, prefix, plen, plen + idlen, each_id_cb, &e);
}

/* ---------------------------------------------------------------- relations */

const struct rdv_st_rel rdv_st_trust = {RDV_DB_TRUST, RDV_DB_TRUST, 4, 4};
const struct rdv_st_rel rdv_st_net_members = {RDV_DB_NET_NODES, RDV_DB_NODE_NETS, 2, 4};
const struct rdv_st_rel rdv_st_org_members = {RDV_DB_ORG_NODES, RDV_DB_NODE_ORGS, 4, 4};

static void put_be(uint8_t *p, size_t len, uint32_t v)
{
	if (len == 2)
		put_be16(p, (uint16_t)v);
	else
		store_be32(p, v);
}

/* be(x) be(y), x xlen and y ylen bytes wide: \retval the key's length. */
static size_t rel_key(uint8_t k[8], size_t xlen, uint32_t x, size_t ylen, uint32_t y)
{
	put_be(k, xlen, x);
	put_be(k + xlen, ylen, y);
	return xlen + ylen;
}

int rdv_st_rel_has(struct store_txn *t, struct rdv_db *db, const struct rdv_st_rel *r, uint32_t a,
		   uint32_t b)
{
	uint8_t k[8];
	size_t kl = rel_key(k, r->alen, a, r->blen, b);
	MDB_val v;

	return store_get(t, db->dbi[r->fwd], k, kl, &v) == 0;
}

void rdv_st_rel_put(struct store_txn *t, struct rdv_db *db, const struct rdv_st_rel *r, uint32_t a,
		    uint32_t b, const void *v, size_t vlen)
{
	uint8_t k[8];
	size_t kl = rel_key(k, r->alen, a, r->blen, b);

	store_put(t, db->dbi[r->fwd], k, kl, v, vlen);
	rel_key(k, r->blen, b, r->alen, a);
	store_put(t, db->dbi[r->rev], k, kl, "", 0);
}

void rdv_st_rel_del(struct store_txn *t, struct rdv_db *db, const struct rdv_st_rel *r, uint32_t a,
		    uint32_t b)
{
	uint8_t k[8];
	size_t kl = rel_key(k, r->alen, a, r->blen, b);

	store_del(t, db->dbi[r->fwd], k, kl);
	rel_key(k, r->blen, b, r->alen, a);
	store_del(t, db->dbi[r->rev], k, kl);
}

int rdv_st_rel_each(struct store_txn *t, struct rdv_db *db, const struct rdv_st_rel *r, uint32_t a,
		    rdv_id_cb cb, void *arg)
{
	uint8_t p[4];

	put_be(p, r->alen, a);
	return rdv_st_each_id(t, db->dbi[r->fwd], p, r->alen, r->blen, cb, arg);
}

int rdv_st_rel_each_rev(struct store_txn *t, struct rdv_db *db, const struct rdv_st_rel *r,
			uint32_t b, rdv_id_cb cb, void *arg)
{
	uint8_t p[4];

	put_be(p, r->blen, b);
	return rdv_st_each_id(t, db->dbi[r->rev], p, r->blen, r->alen, cb, arg);
}

/* ---------------------------------------------------------------- pruning */
int rdv_st_batch_add(struct rdv_st_batch *b, const MDB_val *k)
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

/* An expiry index maps BE64 expiry || main key -> "": scan it in expiry
 * order, stop at b->limit, and delete each entry and its main record. */
static int prune_expired_cb(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct rdv_st_batch *b = arg;

	(void)v;
	if (store_rd_be64(k->mv_data) >= b->limit || b->n >= b->max)
		return 1;
	return rdv_st_batch_add(b, k);
}

int rdv_st_prune_expired(struct rdv_db *db, int exp_db, int main_db, size_t keylen, uint64_t limit)
{
	/* Each entry is two deletions. */
	struct rdv_st_batch b = {.max = store_batch(db->st, 2048) / 2, .limit = limit};
	struct store_txn t;
	int ret = 0, removed = 0;

	/* Bounded batches keep each write transaction (and the time the
	 * event loop is blocked in it) short. */
	do {
		b.n = 0;
		store_txn_begin(db->st, &t, 0);
		rdv_st_each(&t, db->dbi[exp_db], NULL, 0, keylen, prune_expired_cb, &b);
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

/* A whole-table scan: collect what \p doomed picks, at most b->max. */
struct prune_scan {
	struct rdv_st_batch b;
	rdv_st_visit_fn doomed;
	void *arg;
};

static int prune_scan_cb(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct prune_scan *p = arg;
	int rc;

	if (p->b.n >= p->b.max)
		return 1;
	rc = p->doomed(p->arg, k, v);
	return rc > 0 ? rdv_st_batch_add(&p->b, k) : rc;
}

int rdv_st_prune_scan(struct rdv_db *db, int dbi, size_t klen, rdv_st_visit_fn doomed, void *arg)
{
	struct prune_scan p = {
	    .b = {.max = store_batch(db->st, 1024)}, .doomed = doomed, .arg = arg};
	struct store_txn t;
	int ret = 0, removed = 0;

	do {
		p.b.n = 0;
		store_txn_begin(db->st, &t, 0);
		rdv_st_each(&t, db->dbi[dbi], NULL, 0, klen, prune_scan_cb, &p);
		for (size_t i = 0; i < p.b.n; i++)
			store_del(&t, db->dbi[dbi], p.b.keys[i], klen);
		ret = store_txn_commit(&t);
		if (ret == 0)
			removed += (int)p.b.n;
	} while (ret == 0 && p.b.n == p.b.max);
	free(p.b.keys);
	return ret < 0 ? ret : removed;
}
