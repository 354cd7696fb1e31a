/* audit.c - see audit.h.  The log in LMDB: its head, appends inside the
 * caller's transaction, queries, and retention (pruning under a signed
 * checkpoint).  The stored bytes' codec is audit_rec.c; verification and
 * export are audit_verify.c. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "audit_int.h"
#include "json.h"
#include "log.h"
#include "store.h"
#include "util.h"

static const uint8_t zero_hash[HASH_LEN];

/* ------------------------------------------------------------ state */

int audit_head_get(struct audit *a, struct store_txn *t, uint64_t *id, uint8_t hash[HASH_LEN])
{
	uint8_t v[8 + HASH_LEN];
	int ret = store_get_fixed(t, a->meta, HEAD_KEY, strlen(HEAD_KEY), v, sizeof(v));

	if (ret == -EBADMSG)
		return -EBADMSG; /* wrong size: an edit */
	if (ret < 0)
		return ret;
	*id = store_rd_be64(v);
	memcpy(hash, v + 8, HASH_LEN);
	return 0;
}

static void head_put(struct audit *a, struct store_txn *t, uint64_t id,
		     const uint8_t hash[HASH_LEN])
{
	uint8_t v[8 + HASH_LEN];

	store_be64(v, id);
	memcpy(v + 8, hash, HASH_LEN);
	store_put(t, a->meta, HEAD_KEY, strlen(HEAD_KEY), v, sizeof(v));
}

/* Where the chain goes on when meta has no head (never written, or
 * deleted): after the last record present, else after a checkpoint, else
 * from the genesis.  \retval 1 if a chain existed without a head (the
 * caller records that), 0 for a fresh log, <0 on error. */
static int tail_without_head(struct audit *a, struct store_txn *t, uint64_t *id,
			     uint8_t hash[HASH_LEN])
{
	MDB_val k, v;
	struct ckpt c;
	int ret;

	*id = 0;
	memcpy(hash, zero_hash, HASH_LEN);
	ret = store_last(t, a->db, &k, &v);
	if (ret == 0) {
		if (k.mv_size != 8)
			return -EBADMSG;
		*id = store_rd_be64(k.mv_data);
		audit_sha256(hash, v.mv_data, v.mv_size);
		return 1;
	}
	if (ret != -ENOENT)
		return ret;
	ret = store_get(t, a->meta, CKPT_KEY, strlen(CKPT_KEY), &v);
	if (ret == -ENOENT)
		return 0;
	if (ret < 0)
		return ret;
	if (audit_ckpt_parse(v.mv_data, v.mv_size, &c) < 0)
		return -EBADMSG;
	*id = c.pruned_through;
	memcpy(hash, c.prev, HASH_LEN);
	return 1;
}

int audit_open(struct store *st, const char *db_name, const char *meta_name, struct audit **out)
{
	struct store_txn t;
	struct audit *a;
	int ret;

	*out = NULL;
	if (sodium_init() < 0)
		return -EIO;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->st = st;
	a->db = store_dbi(st, db_name);
	a->meta = store_dbi(st, meta_name);
	if (a->db < 0 || a->meta < 0 || a->db == a->meta) {
		ret = -ENOENT;
		goto out;
	}
	store_txn_begin(st, &t, 1);
	ret = audit_head_get(a, &t, &a->last_id, a->last_hash);
	if (ret == -ENOENT || ret == -EBADMSG) {
		ret = tail_without_head(a, &t, &a->last_id, a->last_hash);
		if (ret == 1)
			log_warnx("audit: chain head missing from meta; continuing after event "
				  "%" PRIu64 " (run audit verify)",
				  a->last_id);
	}
	store_txn_abort(&t);
	if (ret == -EBADMSG) {
		/* Keep the daemon up: appends find the same state and go on
		 * from what is present; verify reports the damage. */
		log_warnx("audit: chain head unreadable (run audit verify)");
		ret = 0;
	}
	if (ret > 0)
		ret = 0;
out:
	if (ret < 0) {
		free(a);
		return ret;
	}
	*out = a;
	return 0;
}

void audit_close(struct audit *a)
{
	free(a);
}

void audit_set_notify(struct audit *a, audit_notify_cb cb, void *arg)
{
	a->notify = cb;
	a->notify_arg = arg;
}

uint64_t audit_last_id(const struct audit *a, uint8_t hash[32])
{
	if (hash)
		memcpy(hash, a->last_hash, HASH_LEN);
	return a->last_id;
}

/* ------------------------------------------------------------ append */

/* Write record *id + 1 chained to \p prev; advance *id and \p prev. */
static int append_one(struct audit *a, struct store_txn *t, uint64_t *id, uint8_t prev[HASH_LEN],
		      const char *type, const char *actor, const char *subject, const char *details)
{
	char hex[HEX_LEN + 1], act[AUDIT_NAME_MAX * 3 + 1], sub[AUDIT_NAME_MAX * 3 + 1];
	struct json_gen j;
	const char *rec;
	uint8_t key[8];
	size_t len;
	int ret;

	if (*id == UINT64_MAX)
		return -EOVERFLOW;
	if ((ret = json_gen_init(&j)) < 0)
		return ret;
	audit_utf8_sanitize(act, actor, AUDIT_NAME_MAX);
	audit_utf8_sanitize(sub, subject, AUDIT_NAME_MAX);
	hex_encode(hex, sizeof(hex), prev, HASH_LEN);
	jg_map_open(&j);
	jg_ku64(&j, "event_id", *id + 1);
	jg_ku64(&j, "ts", now_real_ms());
	jg_kstr(&j, "type", type);
	jg_kstr(&j, "actor", act);
	jg_kstr(&j, "subject", sub);
	jg_key(&j, "details");
	if ((ret = audit_gen_details(&j, details)) < 0)
		goto out;
	jg_kstr(&j, "prev", hex);
	jg_map_close(&j);
	if ((ret = json_gen_finish(&j, &rec, &len)) < 0)
		goto out;
	store_be64(key, *id + 1);
	store_put(t, a->db, key, sizeof(key), rec, len);
	if ((ret = t->ret) < 0)
		goto out;
	*id += 1;
	audit_sha256(prev, rec, len);
out:
	json_gen_free(&j);
	return ret;
}

int audit_append_txn(struct audit *a, struct store_txn *t, const char *type, const char *actor,
		     const char *subject, const char *details, uint64_t *event_id)
{
	uint8_t hash[HASH_LEN];
	uint64_t id;
	int ret;

	if (t->ret)
		return t->ret;
	if (!t->txn || t->rdonly) {
		ret = -EINVAL;
		goto fail;
	}
	if (!audit_type_ok(type)) {
		ret = -EINVAL;
		goto fail;
	}
	/* The head of this transaction, not the cache: earlier appends in it
	 * are seen, and an aborted transaction leaves nothing behind. */
	ret = audit_head_get(a, t, &id, hash);
	if (ret == -ENOENT || ret == -EBADMSG) {
		int lost = ret == -EBADMSG;
		ret = tail_without_head(a, t, &id, hash);
		if (ret < 0)
			goto fail;
		if (ret == 1 || lost) {
			/* A log without its head has been tampered with.  Say so in
			 * the chain itself before going on: the next head would
			 * otherwise make the damage invisible. */
			char det[96];
			snprintf(det, sizeof(det),
				 "{\"problem\":\"chain head missing\",\"resumed_after\":%" PRIu64
				 "}",
				 id);
			ret = append_one(a, t, &id, hash, "audit.integrity", "audit", "", det);
			if (ret < 0)
				goto fail;
		}
	} else if (ret < 0) {
		goto fail;
	}
	ret = append_one(a, t, &id, hash, type, actor, subject, details);
	if (ret < 0)
		goto fail;
	head_put(a, t, id, hash);
	if ((ret = t->ret) < 0)
		goto fail;
	a->pend = 1;
	a->pend_id = id;
	memcpy(a->pend_hash, hash, HASH_LEN);
	if (event_id)
		*event_id = id;
	return 0;
fail:
	if (t->ret == 0)
		t->ret = ret; /* no action commits without its record */
	return ret;
}

void audit_txn_committed(struct audit *a)
{
	if (!a->pend)
		return;
	a->pend = 0;
	a->last_id = a->pend_id;
	memcpy(a->last_hash, a->pend_hash, HASH_LEN);
	if (a->notify)
		a->notify(a->notify_arg, a->last_id);
}

void audit_txn_aborted(struct audit *a)
{
	a->pend = 0;
}

int audit_append(struct audit *a, const char *type, const char *actor, const char *subject,
		 const char *details, uint64_t *event_id)
{
	struct store_txn t;
	uint64_t id = 0;
	int ret;

	store_txn_begin(a->st, &t, 0);
	ret = audit_append_txn(a, &t, type, actor, subject, details, &id);
	if (ret == 0)
		ret = store_txn_commit(&t);
	else
		store_txn_abort(&t);
	if (ret < 0) {
		audit_txn_aborted(a);
		return ret;
	}
	audit_txn_committed(a);
	if (event_id)
		*event_id = id;
	return 0;
}

/* ------------------------------------------------------------ query */

/* The id range worth looking at in snapshot \p t: [*lo, *hi].  Ids are
 * dense between the first record and the head, so point lookups walk it;
 * \retval 0, or -ENOENT for an empty log. */
int audit_id_range(struct audit *a, struct store_txn *t, uint64_t *lo, uint64_t *hi)
{
	uint8_t hash[HASH_LEN];
	MDB_val k, v;
	struct ckpt c;
	int ret;

	ret = store_last(t, a->db, &k, &v);
	if (ret < 0)
		return ret;
	if (k.mv_size != 8)
		return -EBADMSG;
	*hi = store_rd_be64(k.mv_data);
	/* Records above the head can only be forged: stop at the head. */
	if (audit_head_get(a, t, lo, hash) == 0 && *lo < *hi)
		*hi = *lo;
	*lo = 1;
	if (store_get(t, a->meta, CKPT_KEY, strlen(CKPT_KEY), &v) == 0 &&
	    audit_ckpt_parse(v.mv_data, v.mv_size, &c) == 0)
		*lo = c.first_id_kept;
	return t->ret;
}

static int type_match(const char *want, const char *type)
{
	size_t n = strlen(want);

	if (n >= 2 && want[n - 2] == '.' && want[n - 1] == '*')
		return strncmp(type, want, n - 1) == 0;
	if (n >= 1 && want[n - 1] == '.')
		return strncmp(type, want, n) == 0;
	return strcmp(type, want) == 0;
}

static int rec_match(const struct audit_filter *f, const char *buf, size_t len)
{
	struct audit_rec r;
	int m;

	if (audit_rec_parse(buf, len, &r) < 0)
		return 0;
	m = r.ts >= f->since_ms && (!f->type || type_match(f->type, r.type));
	if (m && f->node) {
		if (f->node_exact)
			m = strcmp(r.actor, f->node) == 0 || strcmp(r.subject, f->node) == 0;
		else
			m = strstr(r.actor, f->node) || strstr(r.subject, f->node);
	}
	audit_rec_free(&r);
	return m;
}

int audit_query(struct audit *a, const struct audit_filter *f, audit_rec_cb cb, void *arg)
{
	static const struct audit_filter all;
	struct store_txn t;
	uint64_t lo, hi, *ids = NULL;
	size_t n = 0;
	uint8_t key[8];
	MDB_val v;
	int ret, r;

	if (!f)
		f = &all;
	store_txn_begin(a->st, &t, 1);
	ret = audit_id_range(a, &t, &lo, &hi);
	if (ret == -ENOENT) {
		ret = 0;
		goto out;
	}
	if (ret < 0)
		goto out;
	lo = MAX(lo, f->since_id);
	if (lo > hi) {
		ret = t.ret;
		goto out;
	}
	if (f->limit && f->newest) {
		/* Walk down collecting the newest matches, then deliver them
		 * oldest first like every other query. */
		size_t cap = (size_t)MIN((uint64_t)f->limit, hi - lo + 1); /* not the caller's */

		ids = calloc(cap ? cap : 1, sizeof(*ids));
		if (!ids) {
			ret = -ENOMEM;
			goto out;
		}
		for (uint64_t id = hi; id >= lo && id > 0 && n < cap; id--) {
			store_be64(key, id);
			if (store_get(&t, a->db, key, 8, &v) == 0 &&
			    rec_match(f, v.mv_data, v.mv_size))
				ids[n++] = id;
		}
		while (n > 0) {
			uint64_t id = ids[--n];
			store_be64(key, id);
			if (store_get(&t, a->db, key, 8, &v) != 0)
				continue;
			if ((r = cb(arg, id, v.mv_data, v.mv_size)) != 0) {
				ret = r < 0 ? r : 0;
				goto out;
			}
		}
		ret = t.ret;
		goto out;
	}
	for (uint64_t id = lo; id <= hi && id > 0; id++) {
		store_be64(key, id);
		if (store_get(&t, a->db, key, 8, &v) != 0 || !rec_match(f, v.mv_data, v.mv_size))
			continue;
		if ((r = cb(arg, id, v.mv_data, v.mv_size)) != 0) {
			ret = r < 0 ? r : 0;
			goto out;
		}
		if (f->limit && ++n >= f->limit)
			break;
		if (id == UINT64_MAX)
			break;
	}
	ret = t.ret;
out:
	store_txn_abort(&t);
	free(ids);
	return ret;
}

/* ------------------------------------------------------------ retention */

static int ckpt_put(struct audit *a, struct store_txn *t, const struct ckpt *c,
		    const uint8_t sk[64])
{
	uint8_t sig[crypto_sign_BYTES];
	struct json_gen j;
	const char *body;
	size_t len;
	int ret;

	if ((ret = json_gen_init(&j)) < 0)
		return ret;
	if ((ret = audit_ckpt_gen(c, &j, &body, &len)) == 0 &&
	    (ret = audit_ckpt_sign(body, len, sig, sk)) == 0) {
		store_put(t, a->meta, CKPT_KEY, strlen(CKPT_KEY), body, len);
		store_put(t, a->meta, CKPT_SIG_KEY, strlen(CKPT_SIG_KEY), sig, sizeof(sig));
		ret = t->ret;
	}
	json_gen_free(&j);
	return ret;
}

/* Load and check the current anchor (checkpoint or genesis) in \p t.
 * \retval 0, -EBADMSG (bad checkpoint), or a store error. */
static int anchor_get(struct audit *a, struct store_txn *t, const uint8_t pk[32], uint64_t *id,
		      uint8_t prev[HASH_LEN])
{
	MDB_val cv, sv;
	struct ckpt c;
	int ret;

	*id = 1;
	memcpy(prev, zero_hash, HASH_LEN);
	ret = store_get(t, a->meta, CKPT_KEY, strlen(CKPT_KEY), &cv);
	if (ret == -ENOENT)
		return 0;
	if (ret < 0)
		return ret;
	if (audit_ckpt_parse(cv.mv_data, cv.mv_size, &c) < 0)
		return -EBADMSG;
	ret = store_get(t, a->meta, CKPT_SIG_KEY, strlen(CKPT_SIG_KEY), &sv);
	if (ret < 0)
		return ret == -ENOENT ? -EBADMSG : ret;
	if (sv.mv_size != crypto_sign_BYTES ||
	    audit_ckpt_sig_ok(cv.mv_data, cv.mv_size, sv.mv_data, pk))
		return -EBADMSG;
	*id = c.first_id_kept;
	memcpy(prev, c.prev, HASH_LEN);
	return 0;
}

/* One transaction's worth of pruning.  \retval records deleted (0: done)
 * or -errno. */
static int prune_batch(struct audit *a, uint64_t max_records, uint64_t max_age_ms, uint64_t now_ms,
		       const uint8_t sk[64], const uint8_t pk[32])
{
	uint8_t head_hash[HASH_LEN], prev[HASH_LEN], key[8];
	uint64_t head_id, id, present, by_count = 0, deleted = 0;
	struct store_txn t;
	struct ckpt c;
	MDB_val v;
	int ret;

	store_txn_begin(a->st, &t, 0);
	ret = audit_head_get(a, &t, &head_id, head_hash);
	if (ret == -ENOENT) {
		ret = 0; /* an empty log (or a damaged one: verify says which) */
		goto out;
	}
	if (ret < 0 || (ret = anchor_get(a, &t, pk, &id, prev)) < 0)
		goto out;
	if (head_id + 1 < id) {
		ret = -EBADMSG;
		goto out;
	}
	present = head_id + 1 - id;
	if (max_records && present > max_records)
		by_count = present - max_records;
	while (id <= head_id && deleted < store_batch(a->st, AUDIT_PRUNE_BATCH)) {
		struct audit_rec r;
		int old;

		store_be64(key, id);
		if ((ret = store_get(&t, a->db, key, 8, &v)) < 0) {
			/* A gap: refuse to sign over missing records. */
			ret = ret == -ENOENT ? -EBADMSG : ret;
			goto out;
		}
		if (audit_rec_parse(v.mv_data, v.mv_size, &r) < 0) {
			ret = -EBADMSG;
			goto out;
		}
		/* Every record read, the first kept one included, must link to
		 * what precedes it: a checkpoint never vouches for a break. */
		if (r.event_id != id || sodium_memcmp(r.prev, prev, HASH_LEN) != 0) {
			audit_rec_free(&r);
			ret = -EBADMSG;
			goto out;
		}
		old = max_age_ms && now_ms > max_age_ms && r.ts < now_ms - max_age_ms;
		audit_rec_free(&r);
		if (deleted >= by_count && !old)
			break;
		audit_sha256(prev, v.mv_data, v.mv_size);
		store_del(&t, a->db, key, 8);
		deleted++;
		id++;
	}
	if (deleted == 0 || t.ret < 0) {
		ret = t.ret;
		goto out;
	}
	if (id > head_id && sodium_memcmp(prev, head_hash, HASH_LEN) != 0) {
		ret = -EBADMSG; /* the last record is not the head */
		goto out;
	}
	c.first_id_kept = id;
	c.pruned_through = id - 1;
	c.ts = now_ms;
	memcpy(c.prev, prev, HASH_LEN);
	if ((ret = ckpt_put(a, &t, &c, sk)) < 0)
		goto out;
	ret = store_txn_commit(&t);
	return ret < 0 ? ret : (int)deleted;
out:
	store_txn_abort(&t);
	return ret;
}

int audit_prune(struct audit *a, uint64_t max_records, uint64_t max_age_ms, uint64_t now_ms,
		const uint8_t sk[64], uint64_t *pruned)
{
	uint8_t pk[crypto_sign_PUBLICKEYBYTES];
	uint64_t total = 0;
	int ret;

	if (pruned)
		*pruned = 0;
	if (!sk)
		return -EINVAL;
	if (!max_records && !max_age_ms)
		return 0;
	crypto_sign_ed25519_sk_to_pk(pk, sk);
	while ((ret = prune_batch(a, max_records, max_age_ms, now_ms, sk, pk)) > 0)
		total += (uint64_t)ret;
	if (pruned)
		*pruned = total;
	if (ret == -EBADMSG)
		log_warnx("audit: not pruning a log that does not verify (run audit verify)");
	else if (total)
		log_info("audit: pruned %" PRIu64 " records", total);
	return ret;
}

int audit_checkpoint_resign(struct audit *a, const uint8_t old_pk[32], const uint8_t new_sk[64])
{
	uint8_t prev[HASH_LEN], sig[crypto_sign_BYTES];
	struct store_txn t;
	uint64_t id;
	MDB_val cv;
	int ret;

	store_txn_begin(a->st, &t, 0);
	ret = store_get(&t, a->meta, CKPT_KEY, strlen(CKPT_KEY), &cv);
	if (ret == -ENOENT) {
		ret = 0;
		goto out;
	}
	if (ret < 0 || (ret = anchor_get(a, &t, old_pk, &id, prev)) < 0)
		goto out;
	/* The same bytes, vouched for by the new key. */
	if ((ret = audit_ckpt_sign(cv.mv_data, cv.mv_size, sig, new_sk)) < 0)
		goto out;
	store_put(&t, a->meta, CKPT_SIG_KEY, strlen(CKPT_SIG_KEY), sig, sizeof(sig));
	return store_txn_commit(&t);
out:
	store_txn_abort(&t);
	return ret;
}
