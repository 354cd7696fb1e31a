/* store.c - see store.h. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "store.h"
#include "util.h"

#define STORE_MAX_DBS 64

struct store {
	MDB_env *env;
	int ndbs;
	char *names[STORE_MAX_DBS];
	MDB_dbi dbi[STORE_MAX_DBS];
	unsigned flags[STORE_MAX_DBS];
	store_repl_fn repl;
	store_repl_done_fn repl_done;
	void *repl_arg;
	size_t max_changes; /* 0: no limit */
};

/* The changes of one write transaction: ops[] index into the bytes of
 * buf (offsets, since buf grows). */
struct oplog_ent {
	int db, del;
	size_t koff, klen, voff, vlen;
};

struct store_oplog {
	struct oplog_ent *ents;
	size_t n, cap;
	uint8_t *buf;
	size_t len, bcap;
};

/* LMDB returns either errno values or its own MDB_* codes (negative). */
static int mdb_to_errno(int rc)
{
	switch (rc) {
	case 0:
		return 0;
	case MDB_NOTFOUND:
		return -ENOENT;
	case MDB_MAP_FULL:
	case MDB_TXN_FULL:
		return -ENOSPC;
	case MDB_READERS_FULL:
		return -EAGAIN;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_INVALID:
	case MDB_VERSION_MISMATCH:
		return -EBADMSG;
	default:
		return rc > 0 ? -rc : -EIO;
	}
}

/* LMDB takes an empty data.mdb for a new environment and starts afresh:
 * a file truncated by a bad copy, a full disk or an operator would then
 * come back as empty state (a registry with no nodes, a node with a new
 * identity) without a word.  The smallest file LMDB writes holds its two
 * meta pages. */
#define STORE_MIN_FILE (2 * 4096)

static int check_not_truncated(const char *dir)
{
	char path[4096];
	struct stat sb;

	if (snprintf(path, sizeof(path), "%s/data.mdb", dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	if (stat(path, &sb) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (S_ISREG(sb.st_mode) && sb.st_size >= STORE_MIN_FILE)
		return 0;
	log_warnx("%s: %s (%lld bytes): refusing to start on it, since that would begin "
		  "with empty state; restore it from a backup, or remove it to start afresh",
		  path, S_ISREG(sb.st_mode) ? "empty or truncated" : "not a regular file",
		  (long long)sb.st_size);
	return -EBADMSG;
}

struct store *store_open(const char *dir, const char *const *dbs, size_t map_size)
{
	struct store *st;
	MDB_txn *txn = NULL;
	int rc;

	if (mkdir_p(dir, 0700) < 0) {
		log_warn("state directory %s", dir);
		return NULL;
	}
	if (check_not_truncated(dir) < 0)
		return NULL;
	st = calloc(1, sizeof(*st));
	if (!st)
		return NULL;
	if ((rc = mdb_env_create(&st->env)) != 0)
		goto fail;
	mdb_env_set_maxdbs(st->env, STORE_MAX_DBS);
	mdb_env_set_mapsize(st->env, map_size);
	mdb_env_set_maxreaders(st->env, 126);
	/* Durable commits (no MDB_NOSYNC): an acknowledged write survives a crash. */
	if ((rc = mdb_env_open(st->env, dir, MDB_NOTLS, 0600)) != 0)
		goto fail;
	if ((rc = mdb_txn_begin(st->env, NULL, 0, &txn)) != 0)
		goto fail;
	for (; dbs[st->ndbs]; st->ndbs++) {
		if (st->ndbs >= STORE_MAX_DBS) {
			rc = ENOSPC;
			goto fail;
		}
		rc = mdb_dbi_open(txn, dbs[st->ndbs], MDB_CREATE, &st->dbi[st->ndbs]);
		if (rc != 0)
			goto fail;
		st->names[st->ndbs] = strdup(dbs[st->ndbs]);
		if (!st->names[st->ndbs]) {
			rc = ENOMEM;
			goto fail;
		}
	}
	if ((rc = mdb_txn_commit(txn)) != 0) {
		txn = NULL;
		goto fail;
	}
	return st;
fail:
	if (rc == MDB_INVALID || rc == MDB_CORRUPTED || rc == MDB_VERSION_MISMATCH)
		log_warnx("%s/data.mdb: %s: it is damaged or not this program's; refusing to "
			  "start on it (nothing was changed): restore it from a backup",
			  dir, mdb_strerror(rc));
	else
		log_warnx("lmdb %s: %s", dir, mdb_strerror(rc));
	if (txn)
		mdb_txn_abort(txn);
	store_close(st);
	return NULL;
}

void store_close(struct store *st)
{
	if (!st)
		return;
	if (st->env)
		mdb_env_close(st->env);
	for (int i = 0; i < st->ndbs; i++)
		free(st->names[i]);
	free(st);
}

int store_dbi(struct store *st, const char *name)
{
	for (int i = 0; i < st->ndbs; i++)
		if (strcmp(st->names[i], name) == 0)
			return i;
	return -ENOENT;
}

void store_txn_begin(struct store *st, struct store_txn *t, int rdonly)
{
	int rc;

	t->st = st;
	t->txn = NULL;
	t->rdonly = rdonly;
	t->apply = 0;
	t->log = NULL;
	t->changes = 0;
	rc = mdb_txn_begin(st->env, NULL, rdonly ? MDB_RDONLY : 0, &t->txn);
	if (rc == MDB_READERS_FULL) {
		/* Stale readers from a crashed process: clear them and retry once. */
		int dead = 0;
		mdb_reader_check(st->env, &dead);
		rc = mdb_txn_begin(st->env, NULL, rdonly ? MDB_RDONLY : 0, &t->txn);
	}
	t->ret = mdb_to_errno(rc);
	if (rc != 0)
		t->txn = NULL;
}

static void oplog_free(struct store_txn *t)
{
	if (!t->log)
		return;
	free(t->log->ents);
	free(t->log->buf);
	free(t->log);
	t->log = NULL;
}

static int oplog_bytes(struct store_oplog *l, const void *p, size_t n, size_t *off)
{
	if (n > SIZE_MAX / 2 - l->len)
		return -ENOMEM;
	if (l->len + n > l->bcap) {
		size_t cap = l->bcap ? l->bcap : 1024;
		uint8_t *b;
		while (cap < l->len + n)
			cap *= 2;
		if (!(b = realloc(l->buf, cap)))
			return -ENOMEM;
		l->buf = b;
		l->bcap = cap;
	}
	if (n)
		memcpy(l->buf + l->len, p, n);
	*off = l->len;
	l->len += n;
	return 0;
}

/* Record a change for the replicator (sticky error on failure). */
static void oplog_add(struct store_txn *t, int db, int del, const void *key, size_t klen,
		      const void *val, size_t vlen)
{
	struct store_oplog *l;
	struct oplog_ent *e;

	if (!t->st->repl || t->apply || (t->st->flags[db] & STORE_DB_LOCAL))
		return;
	if (!t->log && !(t->log = calloc(1, sizeof(*t->log)))) {
		t->ret = -ENOMEM;
		return;
	}
	l = t->log;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct oplog_ent *ne = reallocarray(l->ents, cap, sizeof(*ne));
		if (!ne) {
			t->ret = -ENOMEM;
			return;
		}
		l->ents = ne;
		l->cap = cap;
	}
	e = &l->ents[l->n];
	memset(e, 0, sizeof(*e));
	e->db = db;
	e->del = del;
	e->klen = klen;
	e->vlen = del ? 0 : vlen;
	if (oplog_bytes(l, key, klen, &e->koff) < 0 ||
	    (!del && oplog_bytes(l, val, vlen, &e->voff) < 0)) {
		t->ret = -ENOMEM;
		return;
	}
	l->n++;
}

/* A change being sorted: where it sits in the log breaks ties. */
struct sorted_op {
	struct store_op op;
	size_t seq;
};

static int op_cmp(const void *a, const void *b)
{
	const struct sorted_op *x = a, *y = b;
	size_t n = x->op.klen < y->op.klen ? x->op.klen : y->op.klen;
	int c;

	if (x->op.db != y->op.db)
		return x->op.db < y->op.db ? -1 : 1;
	c = memcmp(x->op.key, y->op.key, n);
	if (c)
		return c;
	if (x->op.klen != y->op.klen)
		return x->op.klen < y->op.klen ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int same_key(const struct store_op *a, const struct store_op *b)
{
	return a->db == b->db && a->klen == b->klen && memcmp(a->key, b->key, a->klen) == 0;
}

/* The last change per key, in (db, key) order, to the replicator (etcd
 * refuses a transaction naming one key twice). */
static int oplog_replicate(struct store_txn *t)
{
	struct store_oplog *l = t->log;
	struct sorted_op *so;
	struct store_op *ops;
	size_t n = 0;
	int rc;

	if (!l || l->n == 0)
		return 0;
	so = calloc(l->n, sizeof(*so));
	ops = calloc(l->n, sizeof(*ops));
	if (!so || !ops) {
		free(so);
		free(ops);
		return -ENOMEM;
	}
	for (size_t i = 0; i < l->n; i++) {
		const struct oplog_ent *e = &l->ents[i];
		so[i].op.db = e->db;
		so[i].op.del = e->del;
		so[i].op.key = l->buf + e->koff;
		so[i].op.klen = e->klen;
		so[i].op.val = e->del ? NULL : l->buf + e->voff;
		so[i].op.vlen = e->vlen;
		so[i].seq = i; /* the order of the changes: the last per key wins */
	}
	qsort(so, l->n, sizeof(*so), op_cmp);
	for (size_t i = 0; i < l->n; i++)
		if (i + 1 == l->n || !same_key(&so[i].op, &so[i + 1].op))
			ops[n++] = so[i].op; /* a later change to the same key wins */
	rc = t->st->repl(t->st->repl_arg, t, ops, n);
	free(so);
	free(ops);
	return rc;
}

int store_txn_commit(struct store_txn *t)
{
	int rc, sent = 0;

	if (!t->txn) {
		oplog_free(t);
		return t->ret ? t->ret : -EINVAL;
	}
	if (t->ret == 0 && !t->rdonly && t->log && t->log->n) {
		t->ret = oplog_replicate(t);
		sent = t->ret == 0;
	}
	oplog_free(t);
	if (t->ret != 0) {
		mdb_txn_abort(t->txn);
		t->txn = NULL;
		return t->ret;
	}
	rc = mdb_txn_commit(t->txn);
	t->txn = NULL;
	t->ret = mdb_to_errno(rc);
	if (sent && t->st->repl_done)
		t->st->repl_done(t->st->repl_arg, rc == 0);
	return t->ret;
}

void store_txn_abort(struct store_txn *t)
{
	oplog_free(t);
	if (t->txn)
		mdb_txn_abort(t->txn);
	t->txn = NULL;
}

void store_txn_begin_apply(struct store *st, struct store_txn *t)
{
	store_txn_begin(st, t, 0);
	t->apply = 1;
}

void store_set_repl(struct store *st, store_repl_fn fn, store_repl_done_fn done, void *arg)
{
	st->repl = fn;
	st->repl_done = done;
	st->repl_arg = arg;
}

void store_set_db_flags(struct store *st, int db, unsigned flags)
{
	if (db >= 0 && db < st->ndbs)
		st->flags[db] = flags;
}

unsigned store_db_flags(const struct store *st, int db)
{
	return db >= 0 && db < st->ndbs ? st->flags[db] : 0;
}

const char *store_db_name(const struct store *st, int db)
{
	return db >= 0 && db < st->ndbs ? st->names[db] : NULL;
}

void store_set_max_changes(struct store *st, size_t n)
{
	st->max_changes = n;
}

size_t store_max_changes(const struct store *st)
{
	return st->max_changes;
}

size_t store_batch(const struct store *st, size_t want)
{
	size_t cap = st->max_changes / 4;

	if (!st->max_changes || want <= cap)
		return want;
	return cap ? cap : 1;
}

int store_db_count(const struct store *st)
{
	return st->ndbs;
}

static int db_ok(struct store_txn *t, int db)
{
	if (t->ret != 0)
		return 0;
	if (!t->txn || db < 0 || db >= t->st->ndbs) {
		t->ret = -EINVAL;
		return 0;
	}
	return 1;
}

int store_get(struct store_txn *t, int db, const void *key, size_t klen, MDB_val *val)
{
	MDB_val k = {klen, (void *)key};
	int rc;

	if (!db_ok(t, db))
		return t->ret;
	rc = mdb_get(t->txn, t->st->dbi[db], &k, val);
	if (rc == MDB_NOTFOUND)
		return -ENOENT;
	if (rc != 0)
		t->ret = mdb_to_errno(rc);
	return t->ret;
}

int store_get_fixed(struct store_txn *t, int db, const void *key, size_t klen, void *out,
		    size_t outlen)
{
	MDB_val v;
	int rc = store_get(t, db, key, klen, &v);

	if (rc != 0)
		return rc;
	if (v.mv_size != outlen)
		return -EBADMSG;
	memcpy(out, v.mv_data, outlen);
	return 0;
}

void store_put(struct store_txn *t, int db, const void *key, size_t klen, const void *val,
	       size_t vlen)
{
	MDB_val k = {klen, (void *)key}, v = {vlen, (void *)val};

	if (!db_ok(t, db))
		return;
	if (t->rdonly) {
		t->ret = -EROFS;
		return;
	}
	t->ret = mdb_to_errno(mdb_put(t->txn, t->st->dbi[db], &k, &v, 0));
	if (t->ret == 0) {
		t->changes++;
		oplog_add(t, db, 0, key, klen, val, vlen);
	}
}

void store_del(struct store_txn *t, int db, const void *key, size_t klen)
{
	MDB_val k = {klen, (void *)key};
	int rc;

	if (!db_ok(t, db))
		return;
	if (t->rdonly) {
		t->ret = -EROFS;
		return;
	}
	rc = mdb_del(t->txn, t->st->dbi[db], &k, NULL);
	if (rc != 0 && rc != MDB_NOTFOUND)
		t->ret = mdb_to_errno(rc);
	else if (rc == 0) {
		t->changes++;
		oplog_add(t, db, 1, key, klen, NULL, 0);
	}
}

void store_clear(struct store_txn *t, int db)
{
	if (!db_ok(t, db))
		return;
	if (t->rdonly || !t->apply) {
		t->ret = -EROFS; /* only a replica's resync empties a database */
		return;
	}
	t->ret = mdb_to_errno(mdb_drop(t->txn, t->st->dbi[db], 0));
	t->changes++;
}

/* A cursor on \p db in \p t.  \retval 0, or t->ret (now set). */
static int cursor_open(struct store_txn *t, int db, MDB_cursor **cur)
{
	int rc;

	if (!db_ok(t, db))
		return t->ret;
	rc = mdb_cursor_open(t->txn, t->st->dbi[db], cur);
	if (rc != 0)
		t->ret = mdb_to_errno(rc);
	return t->ret;
}

int store_iter_prefix(struct store_txn *t, int db, const void *prefix, size_t plen,
		      store_iter_cb cb, void *arg)
{
	MDB_cursor *cur = NULL;
	MDB_val k = {plen, (void *)prefix}, v;
	int rc;

	if (cursor_open(t, db, &cur))
		return t->ret;
	rc = mdb_cursor_get(cur, &k, &v, plen ? MDB_SET_RANGE : MDB_FIRST);
	while (rc == 0) {
		int r;
		if (plen && (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0))
			break;
		r = cb(arg, &k, &v);
		if (r < 0) {
			t->ret = r;
			break;
		}
		if (r > 0)
			break;
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	if (rc != 0 && rc != MDB_NOTFOUND)
		t->ret = mdb_to_errno(rc);
	mdb_cursor_close(cur);
	return t->ret;
}

int store_last(struct store_txn *t, int db, MDB_val *key, MDB_val *val)
{
	MDB_cursor *cur = NULL;
	int rc;

	if (cursor_open(t, db, &cur))
		return t->ret;
	rc = mdb_cursor_get(cur, key, val, MDB_LAST);
	mdb_cursor_close(cur);
	if (rc == MDB_NOTFOUND)
		return -ENOENT;
	if (rc != 0)
		t->ret = mdb_to_errno(rc);
	return t->ret;
}
