/* store.h - the one wrapper around LMDB.  Every state change in Pilot goes
 * through a transaction here.  A transaction carries a sticky error: after
 * the first failure every operation is a no-op and store_txn_commit()
 * reports that first error (and aborts), so callers check once at the end.
 */
#ifndef PILOT_STORE_H
#define PILOT_STORE_H

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>

#include "bytes.h"

struct store;
struct store_oplog;

struct store_txn {
	struct store *st;
	MDB_txn *txn;
	int ret; /* sticky: 0 or -errno / MDB error mapped to -errno */
	int rdonly;
	int apply;		 /* changes are not handed to the replicator */
	struct store_oplog *log; /* the changes to replicated databases, or NULL */
	size_t changes;		 /* puts and deletes that changed something */
};

/* A commit that lost a race with another writer of the same replicated
 * state: nothing was written; run the whole transaction again. */
#define STORE_CONFLICT (-EDEADLK)

/** Open (creating 0700 dir + 0600 files) an environment with the named
 *  sub-databases \p dbs (NULL-terminated).  A data.mdb that is damaged,
 *  empty or truncated is refused, never started afresh.  \retval NULL on
 *  error (logged). */
struct store *store_open(const char *dir, const char *const *dbs, size_t map_size);
void store_close(struct store *st); /* NULL is fine */
/** Index of a named sub-database, or -ENOENT. */
int store_dbi(struct store *st, const char *name);

void store_txn_begin(struct store *st, struct store_txn *t, int rdonly);
/** \retval the sticky error, else the commit result. */
int store_txn_commit(struct store_txn *t);
void store_txn_abort(struct store_txn *t);

/** Get: \p val points into the map (valid until the txn ends).
 *  \retval 0, -ENOENT (not sticky), or the sticky error. */
int store_get(struct store_txn *t, int db, const void *key, size_t klen, MDB_val *val);
/** Copy out a fixed-size value; -ENOENT or -EBADMSG if the size differs. */
int store_get_fixed(struct store_txn *t, int db, const void *key, size_t klen, void *out,
		    size_t outlen);
void store_put(struct store_txn *t, int db, const void *key, size_t klen, const void *val,
	       size_t vlen);
/** Delete; absent keys are not an error. */
void store_del(struct store_txn *t, int db, const void *key, size_t klen);

/** Iterate keys starting with \p prefix (plen may be 0 for all).  \p cb
 *  returns 0 to go on, 1 to stop, <0 to fail (made sticky).  \retval 0 or error. */
typedef int (*store_iter_cb)(void *arg, const MDB_val *key, const MDB_val *val);
int store_iter_prefix(struct store_txn *t, int db, const void *prefix, size_t plen,
		      store_iter_cb cb, void *arg);
/** Last key in a database (for monotonic counters). \retval 0 or -ENOENT. */
int store_last(struct store_txn *t, int db, MDB_val *key, MDB_val *val);

/* ------------------------------------------------------- replication
 * The registry on etcd keeps this store as its local copy of the shared
 * state.  A write transaction then records its changes to every database
 * not marked local, and store_txn_commit() hands them, last change per key
 * first, to the replicator before LMDB commits: if the replicator refuses
 * (STORE_CONFLICT, or an error), nothing is committed here either.  The
 * replicator may write local databases in the same transaction (its own
 * position, say).  Changes made elsewhere come in through transactions
 * begun with store_txn_begin_apply(), which the replicator never sees. */

struct store_op {
	int db;
	int del; /* 1: delete key; 0: put key = val */
	const uint8_t *key;
	size_t klen;
	const uint8_t *val;
	size_t vlen;
};

#define STORE_DB_LOCAL 0x1 /* never replicated (a replica's own state) */
#define STORE_DB_UNIQUE                                                                            \
	0x2 /* a key is written once (nonces): a second 			     * writer                           \
	       anywhere must fail, not overwrite */

typedef int (*store_repl_fn)(void *arg, struct store_txn *t, const struct store_op *ops, size_t n);
/* After a transaction the replicator accepted: did LMDB commit it too? */
typedef void (*store_repl_done_fn)(void *arg, int committed);
void store_set_repl(struct store *st, store_repl_fn fn, store_repl_done_fn done, void *arg);
void store_set_db_flags(struct store *st, int db, unsigned flags);
unsigned store_db_flags(const struct store *st, int db);
/** Name of database \p db, or NULL. */
const char *store_db_name(const struct store *st, int db);
/** Number of databases opened. */
int store_db_count(const struct store *st);
/** How many changes one transaction may carry (0: no limit): a
 *  replicator's bound, which batch deletions (pruning) stay under. */
void store_set_max_changes(struct store *st, size_t n);
size_t store_max_changes(const struct store *st);
/** A batch of \p want changes cut to a quarter of the limit (others in
 *  the same transaction need room), at least 1. */
size_t store_batch(const struct store *st, size_t want);
/** A write transaction whose changes are not replicated. */
void store_txn_begin_apply(struct store *st, struct store_txn *t);
/** Empty database \p db (sticky error on failure). */
void store_clear(struct store_txn *t, int db);

/* Big-endian helpers for ordered integer keys. */
static inline void store_be64(uint8_t out[8], uint64_t v)
{
	put_be64(out, v);
}
static inline uint64_t store_rd_be64(const uint8_t in[8])
{
	return get_be64(in);
}
static inline void store_be32(uint8_t out[4], uint32_t v)
{
	put_be32(out, v);
}
static inline uint32_t store_rd_be32(const uint8_t in[4])
{
	return get_be32(in);
}

#endif
