/* store.c - see store.h. */
#include "config.h"

#include <errno.h>
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

struct store *store_open(const char *dir, const char *const *dbs, size_t map_size)
{
	struct store *st;
	MDB_txn *txn = NULL;
	int rc;

	if (mkdir_p(dir, 0700) < 0) {
		log_warn("state directory %s", dir);
		return NULL;
	}
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

int store_txn_commit(struct store_txn *t)
{
	int rc;

	if (!t->txn)
		return t->ret ? t->ret : -EINVAL;
	if (t->ret != 0) {
		mdb_txn_abort(t->txn);
		t->txn = NULL;
		return t->ret;
	}
	rc = mdb_txn_commit(t->txn);
	t->txn = NULL;
	t->ret = mdb_to_errno(rc);
	return t->ret;
}

void store_txn_abort(struct store_txn *t)
{
	if (t->txn)
		mdb_txn_abort(t->txn);
	t->txn = NULL;
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
}

void store_del(struct store_txn *t, int db, const void *key, size_t klen)
{
	MDB_val k = {klen, (void *)key};
	int rc;

	if (!db_ok(t, db))
		return;
	rc = mdb_del(t->txn, t->st->dbi[db], &k, NULL);
	if (rc != 0 && rc != MDB_NOTFOUND)
		t->ret = mdb_to_errno(rc);
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
