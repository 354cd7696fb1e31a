/* audit.c - see audit.h. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "audit.h"
#include "json.h"
#include "log.h"
#include "store.h"
#include "util.h"

#define HEAD_KEY "head"
#define CKPT_KEY "ckpt"
#define CKPT_SIG_KEY "ckpt_sig"
#define CKPT_DOMAIN "pilot-audit-checkpoint-v1\n"
#define HASH_LEN crypto_hash_sha256_BYTES
#define HEX_LEN (2 * HASH_LEN)
#define REC_MAX (AUDIT_DETAILS_MAX * 6 + 4 * AUDIT_NAME_MAX * 6 + 512)

struct audit {
	struct store *st;
	int db;	  /* records */
	int meta; /* head, checkpoint */
	/* Cache of the committed head (status, --follow).  Appends never use
	 * it: they read the head from their own transaction. */
	uint64_t last_id;
	uint8_t last_hash[HASH_LEN];
	/* Head written by appends in a transaction not yet committed. */
	int pend;
	uint64_t pend_id;
	uint8_t pend_hash[HASH_LEN];
	audit_notify_cb notify;
	void *notify_arg;
};

struct ckpt {
	uint64_t first_id_kept, pruned_through, ts;
	uint8_t prev[HASH_LEN];
};

static const uint8_t zero_hash[HASH_LEN];

/* ------------------------------------------------------------ helpers */

static void sha256(uint8_t out[HASH_LEN], const void *buf, size_t len)
{
	crypto_hash_sha256(out, buf, len);
}

/* Exactly 64 lower-case hex digits: the only form we write, so any other
 * spelling of the same hash is an edit. */
static int hex_hash_parse(const char *s, uint8_t out[HASH_LEN])
{
	if (strlen(s) != HEX_LEN)
		return -EBADMSG;
	for (size_t i = 0; i < HEX_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return -EBADMSG;
	return hex_decode(out, HASH_LEN, s) == HASH_LEN ? 0 : -EBADMSG;
}

int audit_type_ok(const char *type)
{
	size_t n;
	int dot = 0;

	if (!type)
		return 0;
	n = strlen(type);
	if (n == 0 || n >= AUDIT_TYPE_MAX || type[0] == '.' || type[n - 1] == '.')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = type[i];
		if (c == '.') {
			if (type[i + 1] == '.')
				return 0;
			dot = 1;
		} else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
			     c == '-')) {
			return 0;
		}
	}
	return dot;
}

/* Copy at most \p max bytes of \p in, replacing every byte that is not
 * part of a well-formed UTF-8 sequence (overlong forms, surrogates and
 * code points above U+10FFFF included) by '?': actor and subject may carry
 * names a peer chose, and a record must never fail for that. */
static void utf8_sanitize(char *out, const char *in, size_t max)
{
	const unsigned char *s = (const unsigned char *)(in ? in : "");
	size_t n = strnlen((const char *)s, max), i = 0, o = 0;

	while (i < n) {
		unsigned c = s[i];
		size_t len = c < 0x80		  ? 1
			     : (c & 0xe0) == 0xc0 ? 2
			     : (c & 0xf0) == 0xe0 ? 3
			     : (c & 0xf8) == 0xf0 ? 4
						  : 0;
		uint32_t cp = len == 2 ? c & 0x1f : len == 3 ? c & 0x0f : c & 0x07;
		int ok = len != 0 && i + len <= n;

		for (size_t k = 1; ok && k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				ok = 0;
			else
				cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if (ok && len > 1) {
			static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
			if (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
				ok = 0;
		}
		if (!ok) {
			out[o++] = '?';
			i++;
			continue;
		}
		memcpy(out + o, s + i, len);
		o += len;
		i += len;
	}
	out[o] = '\0';
}

static void gen_tree(struct json_gen *j, yajl_val v)
{
	if (YAJL_IS_STRING(v)) {
		jg_str(j, v->u.string);
	} else if (YAJL_IS_NUMBER(v)) {
		/* The parser's own text of the number: already validated. */
		jg_raw(j, v->u.number.r, strlen(v->u.number.r));
	} else if (YAJL_IS_OBJECT(v)) {
		jg_map_open(j);
		for (size_t i = 0; i < v->u.object.len; i++) {
			jg_key(j, v->u.object.keys[i]);
			gen_tree(j, v->u.object.values[i]);
		}
		jg_map_close(j);
	} else if (YAJL_IS_ARRAY(v)) {
		jg_array_open(j);
		for (size_t i = 0; i < v->u.array.len; i++)
			gen_tree(j, v->u.array.values[i]);
		jg_array_close(j);
	} else if (YAJL_IS_TRUE(v)) {
		jg_bool(j, 1);
	} else if (YAJL_IS_FALSE(v)) {
		jg_bool(j, 0);
	} else {
		jg_null(j);
	}
}

int audit_gen_details(struct json_gen *j, const char *details)
{
	char err[128];
	yajl_val v;
	size_t len;

	if (!details) {
		jg_map_open(j);
		jg_map_close(j);
		return j->err ? -EINVAL : 0;
	}
	len = strnlen(details, AUDIT_DETAILS_MAX + 1);
	if (len > AUDIT_DETAILS_MAX) {
		/* Oversized details (a peer's long text, say) must not cost
		 * the event its record: keep the record, say what was cut. */
		jg_map_open(j);
		jg_ku64(j, "details_truncated", strlen(details));
		jg_map_close(j);
		return j->err ? -EINVAL : 0;
	}
	v = json_parse(details, len, 0, err, sizeof(err));
	if (!v)
		return -EINVAL;
	if (!YAJL_IS_OBJECT(v)) {
		yajl_tree_free(v);
		return -EINVAL;
	}
	/* Re-emitting (rather than copying the text) guarantees one compact
	 * line whatever the caller's formatting, so JSON Lines stay lines. */
	gen_tree(j, v);
	yajl_tree_free(v);
	return j->err ? -EINVAL : 0;
}

/* ------------------------------------------------------------ parsers */

int audit_rec_parse(const char *buf, size_t len, struct audit_rec *r)
{
	static const char *const keys[] = {"event_id", "ts",	  "type", "actor",
					   "subject",  "details", "prev", NULL};
	const char *prev;
	yajl_val v;

	memset(r, 0, sizeof(*r));
	if (len == 0 || len > REC_MAX)
		return -EBADMSG;
	v = json_parse(buf, len, 0, NULL, 0);
	if (!v)
		return -EBADMSG;
	if (!YAJL_IS_OBJECT(v) || v->u.object.len != 7 || json_only_keys(v, keys, NULL) < 0 ||
	    json_get_u64(v, "event_id", &r->event_id) < 0 || json_get_u64(v, "ts", &r->ts) < 0 ||
	    json_get_str(v, "type", &r->type) < 0 || json_get_str(v, "actor", &r->actor) < 0 ||
	    json_get_str(v, "subject", &r->subject) < 0 ||
	    !YAJL_IS_OBJECT(json_get(v, "details")) || json_get_str(v, "prev", &prev) < 0 ||
	    hex_hash_parse(prev, r->prev) < 0) {
		yajl_tree_free(v);
		memset(r, 0, sizeof(*r));
		return -EBADMSG;
	}
	r->tree = v;
	return 0;
}

void audit_rec_free(struct audit_rec *r)
{
	if (r && r->tree)
		yajl_tree_free(r->tree);
	if (r)
		memset(r, 0, sizeof(*r));
}

static int ckpt_parse(const char *buf, size_t len, struct ckpt *c)
{
	static const char *const keys[] = {"first_id_kept", "prev_hash", "pruned_through", "ts",
					   NULL};
	const char *prev;
	int ret = -EBADMSG;
	yajl_val v;

	memset(c, 0, sizeof(*c));
	if (len == 0 || len > 1024 || !(v = json_parse(buf, len, 0, NULL, 0)))
		return -EBADMSG;
	if (YAJL_IS_OBJECT(v) && v->u.object.len == 4 && json_only_keys(v, keys, NULL) == 0 &&
	    json_get_u64(v, "first_id_kept", &c->first_id_kept) == 0 &&
	    json_get_u64(v, "pruned_through", &c->pruned_through) == 0 &&
	    json_get_u64(v, "ts", &c->ts) == 0 && json_get_str(v, "prev_hash", &prev) == 0 &&
	    hex_hash_parse(prev, c->prev) == 0 && c->first_id_kept >= 2 &&
	    c->pruned_through == c->first_id_kept - 1)
		ret = 0;
	yajl_tree_free(v);
	return ret;
}

/* The bytes of a checkpoint (canonical: we only ever compare and sign
 * these exact bytes). \retval 0 or -EINVAL. */
static int ckpt_gen(const struct ckpt *c, struct json_gen *j, const char **out, size_t *len)
{
	char hex[HEX_LEN + 1];

	hex_encode(hex, sizeof(hex), c->prev, HASH_LEN);
	jg_map_open(j);
	jg_ku64(j, "first_id_kept", c->first_id_kept);
	jg_kstr(j, "prev_hash", hex);
	jg_ku64(j, "pruned_through", c->pruned_through);
	jg_ku64(j, "ts", c->ts);
	jg_map_close(j);
	return json_gen_finish(j, out, len);
}

/* Signed message: a domain prefix, so that no other signature made with
 * the node key (registry requests, handshakes) can pass for a checkpoint. */
static int ckpt_msg(const char *body, size_t len, uint8_t **msg, size_t *mlen)
{
	size_t dl = strlen(CKPT_DOMAIN);

	*msg = malloc(dl + len);
	if (!*msg)
		return -ENOMEM;
	memcpy(*msg, CKPT_DOMAIN, dl);
	memcpy(*msg + dl, body, len);
	*mlen = dl + len;
	return 0;
}

static int ckpt_sig_ok(const char *body, size_t len, const uint8_t *sig, const uint8_t pk[32])
{
	uint8_t *msg;
	size_t mlen;
	int ok;

	if (ckpt_msg(body, len, &msg, &mlen) < 0)
		return -ENOMEM;
	ok = crypto_sign_verify_detached(sig, msg, mlen, pk) == 0;
	free(msg);
	return ok ? 0 : -EBADMSG;
}

static int ckpt_sign(const char *body, size_t len, uint8_t sig[64], const uint8_t sk[64])
{
	uint8_t *msg;
	size_t mlen;

	if (ckpt_msg(body, len, &msg, &mlen) < 0)
		return -ENOMEM;
	crypto_sign_detached(sig, NULL, msg, mlen, sk);
	free(msg);
	return 0;
}

/* ------------------------------------------------------------ state */

static int head_get(struct audit *a, struct store_txn *t, uint64_t *id, uint8_t hash[HASH_LEN])
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
		sha256(hash, v.mv_data, v.mv_size);
		return 1;
	}
	if (ret != -ENOENT)
		return ret;
	ret = store_get(t, a->meta, CKPT_KEY, strlen(CKPT_KEY), &v);
	if (ret == -ENOENT)
		return 0;
	if (ret < 0)
		return ret;
	if (ckpt_parse(v.mv_data, v.mv_size, &c) < 0)
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
	ret = head_get(a, &t, &a->last_id, a->last_hash);
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
	utf8_sanitize(act, actor, AUDIT_NAME_MAX);
	utf8_sanitize(sub, subject, AUDIT_NAME_MAX);
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
	sha256(prev, rec, len);
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
	ret = head_get(a, t, &id, hash);
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
static int id_range(struct audit *a, struct store_txn *t, uint64_t *lo, uint64_t *hi)
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
	if (head_get(a, t, lo, hash) == 0 && *lo < *hi)
		*hi = *lo;
	*lo = 1;
	if (store_get(t, a->meta, CKPT_KEY, strlen(CKPT_KEY), &v) == 0 &&
	    ckpt_parse(v.mv_data, v.mv_size, &c) == 0)
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
	ret = id_range(a, &t, &lo, &hi);
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

struct export_ctx {
	FILE *out;
	uint64_t n;
};

static int export_cb(void *arg, uint64_t id, const char *rec, size_t len)
{
	struct export_ctx *x = arg;

	if (memchr(rec, '\n', len)) {
		log_warnx("audit: record %" PRIu64 " holds a newline (tampered); not exported", id);
		return 0;
	}
	if (fwrite(rec, 1, len, x->out) != len || fputc('\n', x->out) == EOF)
		return -EIO;
	x->n++;
	return 0;
}

int audit_export_jsonl(struct audit *a, uint64_t since_id, FILE *out, uint64_t *written)
{
	struct export_ctx x = {out, 0};
	struct store_txn t;
	uint64_t lo, hi;
	uint8_t key[8];
	MDB_val v;
	int ret;

	/* Not through audit_query: that skips records that do not parse,
	 * and an export must hand over even those (the SIEM sees the break). */
	store_txn_begin(a->st, &t, 1);
	ret = id_range(a, &t, &lo, &hi);
	if (ret == -ENOENT) {
		ret = 0;
		goto out;
	}
	for (uint64_t id = MAX(lo, since_id); ret == 0 && id <= hi && id > 0; id++) {
		store_be64(key, id);
		if (store_get(&t, a->db, key, 8, &v) == 0)
			ret = export_cb(&x, id, v.mv_data, v.mv_size);
		if (id == UINT64_MAX)
			break;
	}
	if (ret == 0)
		ret = t.ret;
out:
	store_txn_abort(&t);
	if (ret == 0 && fflush(out) != 0)
		ret = -EIO;
	if (written)
		*written = x.n;
	return ret;
}

/* ------------------------------------------------------------ verify */

struct vstate {
	struct audit_verify_result *res;
	uint64_t expect_id;
	uint8_t expect_prev[HASH_LEN];
	int have_pred; /* a predecessor was seen in this scan */
	uint64_t pred_id;
	int anchored; /* expect_* come from the genesis or a checkpoint */
	int ckpt;
};

static void problem(struct audit_verify_result *res, uint64_t id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void problem(struct audit_verify_result *res, uint64_t id, const char *fmt, ...)
{
	va_list ap;

	if (res->errors++ > 0)
		return;
	res->bad_id = id;
	va_start(ap, fmt);
	vsnprintf(res->reason, sizeof(res->reason), fmt, ap);
	va_end(ap);
}

static int verify_cb(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct vstate *s = arg;
	struct audit_verify_result *res = s->res;
	uint8_t hash[HASH_LEN];
	struct audit_rec r;
	int link = 1;
	uint64_t id;

	if (k->mv_size != 8) {
		problem(res, 0, "a key of %zu bytes is not an event_id", k->mv_size);
		return 0;
	}
	id = store_rd_be64(k->mv_data);
	res->records++;
	if (!res->first_id)
		res->first_id = id;
	res->last_id = id;
	if (!s->anchored) {
		/* No usable anchor (malformed checkpoint): start from here. */
		s->anchored = 1;
		s->expect_id = id;
		link = 0;
	}
	if (id < s->expect_id) {
		problem(res, id,
			"record %" PRIu64 " precedes the checkpoint (pruned through %" PRIu64 ")",
			id, s->expect_id - 1);
		return 0;
	}
	if (id > s->expect_id) {
		if (id - 1 == s->expect_id)
			problem(res, s->expect_id, "record %" PRIu64 " is missing", s->expect_id);
		else
			problem(res, s->expect_id,
				"records %" PRIu64 "..%" PRIu64 " are missing (%" PRIu64
				" records)",
				s->expect_id, id - 1, id - s->expect_id);
		link = 0;
	}
	sha256(hash, v->mv_data, v->mv_size);
	if (audit_rec_parse(v->mv_data, v->mv_size, &r) < 0) {
		problem(res, id, "record %" PRIu64 " is not a valid record", id);
	} else {
		if (r.event_id != id)
			problem(res, id, "record %" PRIu64 " says it is event %" PRIu64, id,
				r.event_id);
		if (link && sodium_memcmp(r.prev, s->expect_prev, HASH_LEN) != 0) {
			if (s->have_pred)
				problem(res, s->pred_id,
					"record %" PRIu64 " was modified: its hash is not the one "
					"record %" PRIu64 " was chained to",
					s->pred_id, id);
			else if (s->ckpt)
				problem(res, id,
					"record %" PRIu64 " does not follow the checkpoint", id);
			else
				problem(res, id, "record %" PRIu64 " does not follow the genesis",
					id);
		}
		audit_rec_free(&r);
	}
	memcpy(s->expect_prev, hash, HASH_LEN);
	s->expect_id = id + 1;
	s->have_pred = 1;
	s->pred_id = id;
	return 0;
}

int audit_verify(struct audit *a, const uint8_t pk[32], struct audit_verify_result *res)
{
	struct vstate s = {.res = res, .expect_id = 1, .anchored = 1};
	uint8_t head_hash[HASH_LEN];
	struct store_txn t;
	MDB_val cv, sv;
	int ret, have_ckpt, have_sig, have_head;
	uint64_t head_id = 0;
	struct ckpt c;

	memset(res, 0, sizeof(*res));
	store_txn_begin(a->st, &t, 1);
	if (t.ret < 0) {
		ret = t.ret;
		goto out;
	}
	have_ckpt = store_get(&t, a->meta, CKPT_KEY, strlen(CKPT_KEY), &cv) == 0;
	have_sig = store_get(&t, a->meta, CKPT_SIG_KEY, strlen(CKPT_SIG_KEY), &sv) == 0;
	if (have_ckpt) {
		s.ckpt = res->checkpoint = 1;
		if (ckpt_parse(cv.mv_data, cv.mv_size, &c) < 0) {
			problem(res, 0, "the checkpoint is malformed");
			s.anchored = 0;
		} else {
			s.expect_id = c.first_id_kept;
			memcpy(s.expect_prev, c.prev, HASH_LEN);
			if (!have_sig || sv.mv_size != crypto_sign_BYTES)
				problem(res, c.first_id_kept, "the checkpoint has no signature");
			else if (!pk)
				problem(res, c.first_id_kept,
					"the checkpoint cannot be checked without the public key");
			else if (ckpt_sig_ok(cv.mv_data, cv.mv_size, sv.mv_data, pk) < 0)
				problem(res, c.first_id_kept,
					"the checkpoint signature is invalid (forged or edited)");
			else
				res->pruned_through = c.pruned_through;
		}
	} else if (have_sig) {
		problem(res, 1, "a checkpoint signature without its checkpoint (deleted?)");
	}
	ret = head_get(a, &t, &head_id, head_hash);
	have_head = ret == 0;
	if (ret == -EBADMSG)
		problem(res, 0, "the chain head in meta is malformed");
	else if (ret < 0 && ret != -ENOENT)
		goto out;
	ret = store_iter_prefix(&t, a->db, NULL, 0, verify_cb, &s);
	if (ret < 0)
		goto out;
	res->head_id = head_id;
	if (!have_head) {
		if (res->records || have_ckpt)
			problem(res, res->last_id, "the chain head is missing from meta");
	} else if (!s.anchored) {
		/* Nothing to compare against. */
	} else if (head_id + 1 > s.expect_id) {
		if (head_id == s.expect_id)
			problem(res, head_id, "record %" PRIu64 " (the last one) is missing",
				head_id);
		else
			problem(res, s.expect_id,
				"records %" PRIu64 "..%" PRIu64 " at the end are missing",
				s.expect_id, head_id);
	} else if (head_id + 1 < s.expect_id) {
		problem(res, head_id + 1, "records after the head (%" PRIu64 ") are present",
			head_id);
	} else if (sodium_memcmp(head_hash, s.expect_prev, HASH_LEN) != 0) {
		problem(res, head_id,
			"record %" PRIu64 " was modified: it is not the head recorded in meta",
			head_id);
	}
	res->ok = res->errors == 0;
	ret = 0;
out:
	store_txn_abort(&t);
	return ret;
}

void audit_verify_json(const struct audit_verify_result *res, struct json_gen *j)
{
	jg_map_open(j);
	jg_kbool(j, "ok", res->ok);
	jg_ku64(j, "records", res->records);
	jg_ku64(j, "first_id", res->first_id);
	jg_ku64(j, "last_id", res->last_id);
	jg_ku64(j, "head_id", res->head_id);
	jg_kbool(j, "checkpoint", res->checkpoint);
	jg_ku64(j, "pruned_through", res->pruned_through);
	jg_ku64(j, "errors", res->errors);
	if (!res->ok) {
		jg_ku64(j, "bad_id", res->bad_id);
		jg_kstr(j, "reason", res->reason);
	}
	jg_map_close(j);
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
	if ((ret = ckpt_gen(c, &j, &body, &len)) == 0 &&
	    (ret = ckpt_sign(body, len, sig, sk)) == 0) {
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
	if (ckpt_parse(cv.mv_data, cv.mv_size, &c) < 0)
		return -EBADMSG;
	ret = store_get(t, a->meta, CKPT_SIG_KEY, strlen(CKPT_SIG_KEY), &sv);
	if (ret < 0)
		return ret == -ENOENT ? -EBADMSG : ret;
	if (sv.mv_size != crypto_sign_BYTES || ckpt_sig_ok(cv.mv_data, cv.mv_size, sv.mv_data, pk))
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
	ret = head_get(a, &t, &head_id, head_hash);
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
	while (id <= head_id && deleted < AUDIT_PRUNE_BATCH) {
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
		sha256(prev, v.mv_data, v.mv_size);
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
	if ((ret = ckpt_sign(cv.mv_data, cv.mv_size, sig, new_sk)) < 0)
		goto out;
	store_put(&t, a->meta, CKPT_SIG_KEY, strlen(CKPT_SIG_KEY), sig, sizeof(sig));
	return store_txn_commit(&t);
out:
	store_txn_abort(&t);
	return ret;
}
