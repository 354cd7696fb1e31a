/* rdv_repl.c - see rdv_repl.h: the local copy of the registry's state in
 * etcd, the commit of a transaction to etcd, and the following of etcd's
 * history. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "rdv_etcd.h"
#include "rdv_repl.h"
#include "rdv_store_int.h"
#include "util.h"

#define META_APPLIED "applied_rev" /* local: the revision the copy reflects */
#define META_WMOD "w_mod"	   /* local: P d0's mod_revision in the copy */
#define WATCH_TIMEOUT_MS 5000	   /* one catch-up, at most */
#define PAGE_KEYS 1000		   /* keys per range answer in a whole copy */
#define NOTIFY_MAX 4096		   /* nodes woken per applied answer */

struct rdv_repl {
	struct rdv_db *db;
	struct store *st;
	struct rdv_etcd *e;
	uint8_t *pfx; /* prefix "d/"; wkey is prefix "d0", wend prefix "d1" */
	uint8_t *wkey, *wend;
	size_t plen, dlen, wlen; /* prefix, prefix + "d/", prefix + "d0" */
	size_t max_ops;
	int meta; /* the local database of this replica's position */
	int64_t applied_rev, w_mod;
	int64_t pend_w_mod; /* what w_mod becomes if LMDB commits the txn */
	int pend;
	struct rdv_repl_stats stats;
	char err[512];

	/* A catch-up in progress: one LMDB transaction per answer. */
	struct store_txn at;
	int at_open;
	int64_t at_rev, at_w_mod, target;
	uint32_t notify[NOTIFY_MAX];
	size_t nnotify;
	int notify_all; /* more nodes than notify[] holds */
	int fail;	/* the first error inside a callback */

	uint8_t *kbuf; /* a whole copy's last key (the next page starts after it) */
	size_t klen, kcap;

	/* Presence (rdv_repl_presence): P r/NAME on a lease of our own. */
	int64_t lease;
	uint64_t lease_ms; /* last grant or keepalive, monotonic */
};

static void set_error(struct rdv_repl *r, const char *what, int rc)
{
	snprintf(r->err, sizeof(r->err), "%s: %s (%s)", what, rdv_etcd_last_error(r->e),
		 strerror(-rc));
	r->stats.errors++;
}

static void ok(struct rdv_repl *r)
{
	r->err[0] = '\0';
	r->stats.last_ok_ms = now_mono_ms();
}

/* ------------------------------------------------------------ keys */

/* Length of the etcd key of \p klen bytes in database \p db. */
static size_t ekey_len(const struct rdv_repl *r, int db, size_t klen)
{
	return r->dlen + strlen(store_db_name(r->st, db)) + 1 + klen;
}

static size_t ekey_make(const struct rdv_repl *r, int db, const uint8_t *key, size_t klen,
			uint8_t *out)
{
	const char *name = store_db_name(r->st, db);
	size_t n = strlen(name), o = r->dlen;

	memcpy(out, r->pfx, r->dlen);
	memcpy(out + o, name, n);
	o += n;
	out[o++] = '/';
	memcpy(out + o, key, klen);
	return o + klen;
}

/* The database and key of an etcd key under P d/.  \retval 0, or -ENOENT
 * for a key that is not ours (another prefix, an unknown database, a
 * local one: ignored, so a newer replica's tables do not stop an older). */
static int ekey_parse(const struct rdv_repl *r, const uint8_t *k, size_t klen, int *db,
		      const uint8_t **key, size_t *keylen)
{
	char name[64];
	const uint8_t *slash;
	size_t n;

	if (klen <= r->dlen || memcmp(k, r->pfx, r->dlen) != 0)
		return -ENOENT;
	slash = memchr(k + r->dlen, '/', klen - r->dlen);
	if (!slash)
		return -ENOENT;
	n = (size_t)(slash - (k + r->dlen));
	if (n == 0 || n >= sizeof(name))
		return -ENOENT;
	memcpy(name, k + r->dlen, n);
	name[n] = '\0';
	*db = store_dbi(r->st, name);
	if (*db < 0 || (store_db_flags(r->st, *db) & STORE_DB_LOCAL))
		return -ENOENT;
	*key = slash + 1;
	*keylen = klen - r->dlen - n - 1;
	return 0;
}

static int is_wkey(const struct rdv_repl *r, const uint8_t *k, size_t klen)
{
	return klen == r->wlen && memcmp(k, r->wkey, klen) == 0;
}

/* ------------------------------------------------------------ position */

static void meta_put(struct rdv_repl *r, struct store_txn *t, const char *k, int64_t v)
{
	uint8_t b[8];

	store_be64(b, (uint64_t)v);
	store_put(t, r->meta, k, strlen(k), b, sizeof(b));
}

static int meta_get(struct rdv_repl *r, struct store_txn *t, const char *k, int64_t *v)
{
	uint8_t b[8];
	int rc = store_get_fixed(t, r->meta, k, strlen(k), b, sizeof(b));

	if (rc == 0)
		*v = (int64_t)store_rd_be64(b);
	return rc;
}

/* ------------------------------------------------------------ commit */

/* P d0's mod_revision as a range of it answers (0: absent). */
struct wkey_ctx {
	struct rdv_repl *r;
	int64_t mod;
};

static int wkey_cb(void *arg, const struct rdv_etcd_kv *kv)
{
	struct wkey_ctx *c = arg;

	if (is_wkey(c->r, kv->key, kv->klen))
		c->mod = kv->mod_rev;
	return 0;
}

static int is_unique_put(const struct rdv_repl *r, const struct store_op *o)
{
	return !o->del && (store_db_flags(r->st, o->db) & STORE_DB_UNIQUE);
}

/* The store's replicator: the transaction's changes as one etcd txn. */
static int repl_commit(void *arg, struct store_txn *t, const struct store_op *ops, size_t n)
{
	struct rdv_repl *r = arg;
	struct wkey_ctx cc = {.r = r}; /* the failure branch's range of P d0 */
	struct rdv_etcd_cmp *cmp = NULL;
	struct rdv_etcd_op *succ = NULL, fail_op;
	struct rdv_etcd_txn txn;
	size_t nuniq = 0, ncmp = 0, nsucc = 0, arena = 0, o = 0;
	uint8_t *keys = NULL;
	int serial = 0, succeeded = 0, rc;
	int64_t rev = 0;

	for (size_t i = 0; i < n; i++) {
		if (is_unique_put(r, &ops[i]))
			nuniq++;
		else
			serial = 1;
		arena += ekey_len(r, ops[i].db, ops[i].klen);
	}
	if (n + (size_t)serial > r->max_ops || nuniq + (size_t)serial > r->max_ops) {
		snprintf(r->err, sizeof(r->err),
			 "a transaction of %zu changes is more than etcd_max_txn_ops (%zu)", n,
			 r->max_ops);
		log_warnx("etcd: %s", r->err);
		return -E2BIG;
	}
	cmp = calloc(nuniq + 1, sizeof(*cmp));
	succ = calloc(n + 1, sizeof(*succ));
	keys = malloc(arena ? arena : 1);
	if (!cmp || !succ || !keys) {
		rc = -ENOMEM;
		goto out;
	}
	if (serial)
		cmp[ncmp++] = (struct rdv_etcd_cmp){.key = r->wkey,
						    .klen = r->wlen,
						    .target = RDV_ETCD_MOD,
						    .result = RDV_ETCD_EQUAL,
						    .num = r->w_mod};
	for (size_t i = 0; i < n; i++) {
		size_t kl = ekey_make(r, ops[i].db, ops[i].key, ops[i].klen, keys + o);
		struct rdv_etcd_op *so = &succ[nsucc++];

		so->kind = ops[i].del ? RDV_ETCD_OP_DELETE : RDV_ETCD_OP_PUT;
		so->key = keys + o;
		so->klen = kl;
		so->val = ops[i].val;
		so->vlen = ops[i].vlen;
		if (is_unique_put(r, &ops[i]))
			cmp[ncmp++] = (struct rdv_etcd_cmp){.key = keys + o,
							    .klen = kl,
							    .target = RDV_ETCD_CREATE,
							    .result = RDV_ETCD_EQUAL,
							    .num = 0};
		o += kl;
	}
	if (serial)
		succ[nsucc++] = (struct rdv_etcd_op){.kind = RDV_ETCD_OP_PUT,
						     .key = r->wkey,
						     .klen = r->wlen,
						     .val = "w",
						     .vlen = 1};
	fail_op = (struct rdv_etcd_op){.kind = RDV_ETCD_OP_RANGE, .key = r->wkey, .klen = r->wlen};
	txn = (struct rdv_etcd_txn){.cmp = cmp,
				    .ncmp = ncmp,
				    .success = succ,
				    .nsuccess = nsucc,
				    .failure = &fail_op,
				    .nfailure = 1,
				    .cb = wkey_cb,
				    .arg = &cc};
	rc = rdv_etcd_txn(r->e, &txn, &succeeded, &rev);
	if (rc < 0) {
		set_error(r, "commit", rc);
		log_warnx("etcd: %s", r->err);
		goto out;
	}
	ok(r);
	if (succeeded) {
		r->stats.commits++;
		r->pend = 1;
		r->pend_w_mod = serial ? rev : r->w_mod;
		meta_put(r, t, META_WMOD, r->pend_w_mod);
		rc = t->ret;
	} else if (cc.mod != r->w_mod) {
		/* Another replica wrote since our copy: catch up, run again. */
		r->stats.conflicts++;
		r->target = cc.mod;
		rc = STORE_CONFLICT;
	} else {
		rc = -EEXIST; /* a single-use key already written elsewhere */
	}
out:
	free(cmp);
	free(succ);
	free(keys);
	return rc;
}

static void repl_done(void *arg, int committed)
{
	struct rdv_repl *r = arg;

	/* Not committed here although etcd has it: the copy keeps its old
	 * position, so the next write conflicts and the catch-up brings
	 * this one in through the history like any other. */
	if (r->pend && committed)
		r->w_mod = r->pend_w_mod;
	r->pend = 0;
}

/* ------------------------------------------------------------ follow */

static void notify_add(struct rdv_repl *r, uint32_t node)
{
	for (size_t i = 0; i < r->nnotify; i++)
		if (r->notify[i] == node)
			return;
	if (r->nnotify < NOTIFY_MAX)
		r->notify[r->nnotify++] = node;
	else
		r->notify_all = 1;
}

static void notify_run(struct rdv_repl *r)
{
	struct rdv_db *db = r->db;

	if (db->notify) {
		for (size_t i = 0; i < r->nnotify; i++)
			db->notify(db->notify_arg, r->notify[i]);
		if (r->notify_all)
			db->notify(db->notify_arg, 0); /* 0: every stream */
	}
	r->nnotify = 0;
	r->notify_all = 0;
}

/* One change of the history into the open apply transaction. */
static void apply_change(struct rdv_repl *r, int del, const struct rdv_etcd_kv *kv)
{
	const uint8_t *key;
	size_t klen;
	int db;

	if (is_wkey(r, kv->key, kv->klen)) {
		r->at_w_mod = kv->mod_rev;
		return;
	}
	if (ekey_parse(r, kv->key, kv->klen, &db, &key, &klen) < 0)
		return;
	if (klen == 0)
		return; /* LMDB has no empty key; not one of ours */
	if (del)
		store_del(&r->at, db, key, klen);
	else
		store_put(&r->at, db, key, klen, kv->val, kv->vlen);
	if (!del && db == r->db->dbi[RDV_DB_EVENTS] && klen >= 4)
		notify_add(r, store_rd_be32(key));
}

static int watch_cb(void *arg, const struct rdv_etcd_event *ev)
{
	struct rdv_repl *r = arg;
	int rc;

	if (ev) {
		if (ev->kv.mod_rev <= r->applied_rev)
			return 0; /* already in the copy */
		if (!r->at_open) {
			store_txn_begin_apply(r->st, &r->at);
			r->at_open = 1;
			r->at_w_mod = r->w_mod;
		}
		r->at_rev = ev->kv.mod_rev;
		apply_change(r, ev->del, &ev->kv);
		return 0;
	}
	if (r->at_open) {
		meta_put(r, &r->at, META_APPLIED, r->at_rev);
		meta_put(r, &r->at, META_WMOD, r->at_w_mod);
		r->at_open = 0;
		if ((rc = store_txn_commit(&r->at)) < 0) {
			r->fail = rc;
			return rc;
		}
		r->stats.applied++;
		r->applied_rev = r->at_rev;
		r->w_mod = r->at_w_mod;
		notify_run(r);
	}
	return r->w_mod >= r->target ? 1 : 0;
}

static int copy_cb(void *arg, const struct rdv_etcd_kv *kv)
{
	struct rdv_repl *r = arg;

	if (kv->klen > r->kcap) {
		uint8_t *b = realloc(r->kbuf, kv->klen + 1);
		if (!b)
			return -ENOMEM;
		r->kbuf = b;
		r->kcap = kv->klen + 1;
	}
	memcpy(r->kbuf, kv->key, kv->klen);
	r->klen = kv->klen;
	apply_change(r, 0, kv); /* P d0 included: at_w_mod */
	return r->at.ret;
}

/* Copy the whole state at one revision into an emptied local copy. */
static int resync(struct rdv_repl *r)
{
	uint8_t *from = NULL;
	size_t flen = r->dlen;
	int64_t rev = 0, hdr = 0;
	int more = 1, rc = 0;

	store_txn_begin_apply(r->st, &r->at);
	r->at_w_mod = 0; /* P d0 absent: no write yet */
	for (int db = 0; db < store_db_count(r->st); db++)
		if (!(store_db_flags(r->st, db) & STORE_DB_LOCAL))
			store_clear(&r->at, db);
	if (!(from = malloc(r->dlen))) {
		store_txn_abort(&r->at);
		return -ENOMEM;
	}
	memcpy(from, r->pfx, r->dlen);
	while (more && rc == 0) {
		rc = rdv_etcd_range_page(r->e, from, flen, r->wend, r->wlen, rev, PAGE_KEYS,
					 copy_cb, r, &more, &hdr);
		if (rc < 0)
			break;
		if (!rev)
			rev = hdr; /* every page at the first one's revision */
		if (more) {
			uint8_t *nf = realloc(from, r->klen + 1);
			if (!nf) {
				rc = -ENOMEM;
				break;
			}
			from = nf;
			memcpy(from, r->kbuf, r->klen);
			from[r->klen] = '\0'; /* the smallest key after the last one */
			flen = r->klen + 1;
		}
	}
	free(from);
	if (rc < 0) {
		if (rc != -ENOMEM && rc != r->at.ret)
			set_error(r, "copy", rc);
		store_txn_abort(&r->at);
		return rc;
	}
	meta_put(r, &r->at, META_APPLIED, rev);
	meta_put(r, &r->at, META_WMOD, r->at_w_mod);
	/* Every stream is woken below: the copy's own list is not needed. */
	r->nnotify = 0;
	r->notify_all = 0;
	if ((rc = store_txn_commit(&r->at)) < 0)
		return rc;
	ok(r);
	r->applied_rev = rev;
	r->w_mod = r->at_w_mod;
	r->stats.resyncs++;
	log_info("etcd: copied the registry state at revision %" PRId64, rev);
	if (r->db->notify)
		r->db->notify(r->db->notify_arg, 0); /* anything may have changed */
	return 0;
}

/* Apply the history after applied_rev until P d0 reaches r->target. */
static int follow(struct rdv_repl *r)
{
	int64_t compacted = 0;
	int rc;

	r->fail = 0;
	rc = rdv_etcd_watch(r->e, r->pfx, r->dlen, r->wend, r->wlen, r->applied_rev + 1,
			    WATCH_TIMEOUT_MS, watch_cb, r, &compacted);
	if (r->at_open) {
		store_txn_abort(&r->at); /* an answer cut short: applied again next time */
		r->at_open = 0;
	}
	r->nnotify = 0;
	r->notify_all = 0;
	if (rc == 1) {
		ok(r);
		return 0;
	}
	if (r->fail)
		return r->fail; /* LMDB's, logged by the caller */
	if (rc == -ESTALE) {
		log_warnx("etcd: history after revision %" PRId64 " is compacted (oldest %" PRId64
			  "): copying the whole state",
			  r->applied_rev, compacted);
		return resync(r);
	}
	set_error(r, "watch", rc);
	return rc < 0 ? rc : -EPROTO;
}

int rdv_repl_sync(struct rdv_repl *r)
{
	struct wkey_ctx c = {.r = r};
	int rc;

	rc = rdv_etcd_range(r->e, r->wkey, r->wlen, NULL, 0, 0, wkey_cb, &c, NULL);
	if (rc < 0) {
		set_error(r, "poll", rc);
		return rc;
	}
	ok(r);
	if (c.mod == r->w_mod)
		return 0;
	if (c.mod < r->w_mod) {
		/* etcd's state is older than our copy: another cluster, or
		 * one restored from a backup.  Take what it has. */
		log_warnx("etcd: write sequence went back (revision %" PRId64 " < %" PRId64
			  "): copying the whole state",
			  c.mod, r->w_mod);
		return resync(r);
	}
	r->target = c.mod;
	return follow(r);
}

/* ------------------------------------------------------------ setup */

static int any_cb(void *arg, const MDB_val *k, const MDB_val *v)
{
	(void)k;
	(void)v;
	*(int *)arg = 1;
	return 1;
}

/* Does the local store hold state of its own (not a copy from etcd)? */
static int local_state(struct rdv_repl *r)
{
	struct store_txn t;
	int any = 0;

	store_txn_begin(r->st, &t, 1);
	for (int db = 0; db < store_db_count(r->st) && !any; db++)
		if (!(store_db_flags(r->st, db) & STORE_DB_LOCAL))
			store_iter_prefix(&t, db, NULL, 0, any_cb, &any);
	store_txn_abort(&t);
	return any;
}

static int keys_init(struct rdv_repl *r, const char *prefix)
{
	r->plen = strlen(prefix);
	r->dlen = r->plen + 2;
	r->wlen = r->plen + 2;
	r->pfx = malloc(r->dlen);
	r->wkey = malloc(r->wlen);
	r->wend = malloc(r->wlen);
	if (!r->pfx || !r->wkey || !r->wend)
		return -ENOMEM;
	memcpy(r->pfx, prefix, r->plen);
	memcpy(r->pfx + r->plen, "d/", 2);
	memcpy(r->wkey, prefix, r->plen);
	memcpy(r->wkey + r->plen, "d0", 2);
	memcpy(r->wend, prefix, r->plen);
	memcpy(r->wend + r->plen, "d1", 2);
	return 0;
}

int rdv_repl_attach(struct rdv_db *db, struct rdv_etcd *e, const char *prefix, size_t max_txn_ops,
		    struct rdv_repl **out)
{
	struct rdv_repl *r = calloc(1, sizeof(*r));
	struct store_txn t;
	int rc, have;

	*out = NULL;
	if (!r) {
		rdv_etcd_close(e);
		return -ENOMEM;
	}
	r->db = db;
	r->st = db->st;
	r->e = e;
	r->max_ops = max_txn_ops;
	r->meta = db->dbi[RDV_DB_REPL];
	if ((rc = keys_init(r, prefix)) < 0)
		goto fail;
	store_set_db_flags(r->st, r->meta, STORE_DB_LOCAL);
	store_set_db_flags(r->st, db->dbi[RDV_DB_NONCES], STORE_DB_UNIQUE);
	store_set_db_flags(r->st, db->dbi[RDV_DB_NONCE_EXP], STORE_DB_UNIQUE);
	store_set_db_flags(r->st, db->dbi[RDV_DB_JTI], STORE_DB_UNIQUE);
	store_set_db_flags(r->st, db->dbi[RDV_DB_JTI_EXP], STORE_DB_UNIQUE);
	store_txn_begin(r->st, &t, 1);
	have = meta_get(r, &t, META_APPLIED, &r->applied_rev) == 0 &&
	       meta_get(r, &t, META_WMOD, &r->w_mod) == 0;
	store_txn_abort(&t);
	if (!have && local_state(r)) {
		log_warnx("etcd: the state directory holds a registry of its own (store "
			  "\"lmdb\"); a replica starts from an empty one: move it aside");
		rc = -EEXIST;
		goto fail;
	}
	store_set_repl(r->st, repl_commit, repl_done, r);
	store_set_max_changes(r->st, max_txn_ops - 1); /* one op is P d0's */
	rc = have ? rdv_repl_sync(r) : resync(r);
	if (rc < 0) {
		log_warnx("etcd at %s: %s", rdv_etcd_endpoint(e),
			  r->err[0] ? r->err : strerror(-rc));
		goto fail;
	}
	log_info("etcd: registry state at revision %" PRId64 " (endpoint %s)", r->applied_rev,
		 rdv_etcd_endpoint(e));
	*out = r;
	return 0;
fail:
	rdv_repl_free(r);
	return rc;
}

void rdv_repl_free(struct rdv_repl *r)
{
	if (!r)
		return;
	/* A clean stop leaves the list of live replicas at once. */
	if (r->lease && r->e)
		rdv_etcd_lease_revoke(r->e, r->lease);
	if (r->st) {
		store_set_repl(r->st, NULL, NULL, NULL);
		store_set_max_changes(r->st, 0);
	}
	if (r->at_open)
		store_txn_abort(&r->at);
	rdv_etcd_close(r->e);
	free(r->pfx);
	free(r->wkey);
	free(r->wend);
	free(r->kbuf);
	free(r);
}

void rdv_repl_get_stats(const struct rdv_repl *r, struct rdv_repl_stats *s)
{
	*s = r->stats;
	s->revision = r->applied_rev;
	s->last_error = r->err;
	s->endpoint = rdv_etcd_endpoint(r->e);
}

/* ------------------------------------------------------------ import */

/* An LMDB registry's keys on their way into etcd: puts gathered into
 * transactions of at most max_ops - 1 (one compare and one op are P d0's)
 * and IMPORT_TXN_BYTES of keys and values (under etcd's request limit). */
#define IMPORT_TXN_BYTES (1u << 20)

struct import {
	struct rdv_repl *r;
	struct rdv_etcd_op *ops;
	uint8_t **keys;
	size_t n, bytes;
	uint64_t total;
	int db;
};

static void import_drop(struct import *im)
{
	for (size_t i = 0; i < im->n; i++)
		free(im->keys[i]);
	im->n = im->bytes = 0;
}

/* Every batch holds only while P d0 does not exist: no replica may have
 * started writing under the prefix meanwhile. */
static int import_flush(struct import *im, int last)
{
	struct rdv_repl *r = im->r;
	struct rdv_etcd_cmp cmp = {.key = r->wkey,
				   .klen = r->wlen,
				   .target = RDV_ETCD_CREATE,
				   .result = RDV_ETCD_EQUAL,
				   .num = 0};
	struct rdv_etcd_txn txn = {.cmp = &cmp, .ncmp = 1, .success = im->ops, .nsuccess = im->n};
	int ok = 0, rc;

	if (last) { /* the deployment exists from this put on */
		im->keys[im->n] = NULL;
		im->ops[im->n++] = (struct rdv_etcd_op){.kind = RDV_ETCD_OP_PUT,
							.key = r->wkey,
							.klen = r->wlen,
							.val = "w",
							.vlen = 1};
	}
	txn.nsuccess = im->n;
	rc = im->n ? rdv_etcd_txn(r->e, &txn, &ok, NULL) : 0;
	if (rc == 0 && im->n && !ok)
		rc = -EEXIST;
	if (rc == 0)
		im->total += im->n - (last ? 1 : 0);
	import_drop(im);
	return rc;
}

static int import_cb(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct import *im = arg;
	struct rdv_repl *r = im->r;
	size_t kl = ekey_len(r, im->db, k->mv_size);
	int rc;

	if (kl + v->mv_size > IMPORT_TXN_BYTES)
		return -E2BIG;
	if ((im->n + 2 > r->max_ops || im->bytes + kl + v->mv_size > IMPORT_TXN_BYTES) &&
	    (rc = import_flush(im, 0)) < 0)
		return rc;
	if (!(im->keys[im->n] = malloc(kl)))
		return -ENOMEM;
	ekey_make(r, im->db, k->mv_data, k->mv_size, im->keys[im->n]);
	/* The value stays in the read transaction's map until it ends. */
	im->ops[im->n] = (struct rdv_etcd_op){.kind = RDV_ETCD_OP_PUT,
					      .key = im->keys[im->n],
					      .klen = kl,
					      .val = v->mv_data,
					      .vlen = v->mv_size};
	im->n++;
	im->bytes += kl + v->mv_size;
	return 0;
}

static int any_key_cb(void *arg, const struct rdv_etcd_kv *kv)
{
	(void)kv;
	*(int *)arg = 1;
	return 1;
}

int rdv_repl_import(struct store *src, struct rdv_etcd *e, const char *prefix, size_t max_ops,
		    uint64_t *nkeys, char *err, size_t errlen)
{
	struct rdv_repl r = {.st = src, .e = e, .max_ops = max_ops};
	struct import im = {.r = &r};
	uint8_t end[512];
	struct store_txn t;
	int rc, any = 0, more = 0;

	*nkeys = 0;
	if (max_ops < 2 || strlen(prefix) >= sizeof(end)) {
		snprintf(err, errlen, "bad arguments");
		return -EINVAL;
	}
	if ((rc = keys_init(&r, prefix)) < 0)
		goto out;
	rc = rdv_etcd_range_page(e, prefix, r.plen, end, rdv_etcd_prefix_end(prefix, r.plen, end),
				 0, 1, any_key_cb, &any, &more, NULL);
	if (rc < 0 && rc != 1) {
		snprintf(err, errlen, "etcd at %s: %s", rdv_etcd_endpoint(e),
			 rdv_etcd_last_error(e));
		goto out;
	}
	if (any) {
		snprintf(err, errlen,
			 "etcd already holds keys under the prefix '%s': import only into an empty "
			 "prefix (another deployment's, or an import that stopped half way: "
			 "etcdctl del --prefix '%s' if nothing else uses it)",
			 prefix, prefix);
		rc = -EEXIST;
		goto out;
	}
	im.ops = calloc(max_ops, sizeof(*im.ops));
	im.keys = calloc(max_ops, sizeof(*im.keys));
	if (!im.ops || !im.keys) {
		rc = -ENOMEM;
		goto out;
	}
	/* One read transaction: the import is one snapshot of the store. */
	store_txn_begin(src, &t, 1);
	rc = 0;
	for (int db = 0; db < store_db_count(src) && rc == 0; db++) {
		if (store_db_flags(src, db) & STORE_DB_LOCAL)
			continue;
		im.db = db;
		rc = store_iter_prefix(&t, db, NULL, 0, import_cb, &im);
	}
	if (rc == 0)
		rc = import_flush(&im, 1);
	else
		import_drop(&im); /* nothing more is sent */
	store_txn_abort(&t);
	*nkeys = im.total;
	if (rc == -EEXIST)
		snprintf(
		    err, errlen,
		    "a registry started writing under '%s' during the import: it is not "
		    "complete; stop every replica, etcdctl del --prefix '%s', and import again",
		    prefix, prefix);
	else if (rc == -E2BIG)
		snprintf(err, errlen,
			 "a value larger than %u bytes cannot go into one etcd request",
			 IMPORT_TXN_BYTES);
	else if (rc < 0)
		snprintf(err, errlen,
			 "etcd at %s: %s (%s); %llu keys were written: the import is not complete, "
			 "etcdctl del --prefix '%s' and import again",
			 rdv_etcd_endpoint(e), rdv_etcd_last_error(e), strerror(-rc),
			 (unsigned long long)im.total, prefix);
out:
	free(im.ops);
	free(im.keys);
	free(r.pfx);
	free(r.wkey);
	free(r.wend);
	return rc < 0 ? rc : 0;
}

/* ------------------------------------------------------------ presence */

/* P r/NAME: a replica's presence key, under its own lease. */
static size_t rkey(const struct rdv_repl *r, const char *name, uint8_t *out, size_t cap)
{
	size_t n = strlen(name);

	if (r->plen + 2 + n > cap)
		return 0;
	memcpy(out, r->pfx, r->plen);
	memcpy(out + r->plen, "r/", 2);
	memcpy(out + r->plen + 2, name, n);
	return r->plen + 2 + n;
}

int rdv_repl_presence(struct rdv_repl *r, const char *name, const char *info, uint64_t now_ms)
{
	uint8_t key[512];
	size_t kl = rkey(r, name, key, sizeof(key));
	int rc;

	if (!kl)
		return -ENAMETOOLONG;
	if (r->lease && now_ms - r->lease_ms < RDV_REPL_PRESENCE_RENEW_MS)
		return 0;
	if (r->lease) {
		rc = rdv_etcd_lease_keepalive(r->e, r->lease, NULL);
		if (rc == 0) {
			r->lease_ms = now_ms;
			return 0;
		}
		if (rc != -ENOENT)
			return rc; /* etcd away: the lease may outlive this, or not */
		r->lease = 0;	   /* it ran out (we were away longer than its TTL) */
	}
	if ((rc = rdv_etcd_lease_grant(r->e, RDV_REPL_PRESENCE_TTL_S, &r->lease, NULL)) < 0) {
		r->lease = 0;
		return rc;
	}
	if ((rc = rdv_etcd_put(r->e, key, kl, info, strlen(info), r->lease, NULL)) < 0) {
		rdv_etcd_lease_revoke(r->e, r->lease);
		r->lease = 0;
		return rc;
	}
	r->lease_ms = now_ms;
	return 0;
}

struct replicas_ctx {
	const struct rdv_repl *r;
	rdv_repl_replica_cb cb;
	void *arg;
};

static int replica_cb(void *arg, const struct rdv_etcd_kv *kv)
{
	struct replicas_ctx *c = arg;
	char name[256], info[1024];
	size_t off = c->r->plen + 2, n;

	if (kv->klen <= off || kv->klen - off >= sizeof(name) || kv->vlen >= sizeof(info))
		return 0;
	n = kv->klen - off;
	memcpy(name, kv->key + off, n);
	name[n] = '\0';
	memcpy(info, kv->val, kv->vlen);
	info[kv->vlen] = '\0';
	c->cb(c->arg, name, info);
	return 0;
}

int rdv_repl_replicas(struct rdv_repl *r, rdv_repl_replica_cb cb, void *arg)
{
	struct replicas_ctx c = {r, cb, arg};
	uint8_t key[512];
	size_t kl = rkey(r, "", key, sizeof(key));

	return kl ? rdv_etcd_range_prefix(r->e, key, kl, 0, replica_cb, &c, NULL) : -ENAMETOOLONG;
}
