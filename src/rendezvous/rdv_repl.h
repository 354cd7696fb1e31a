/* rdv_repl.h - the registry on etcd (store "etcd"): the replicas' shared
 * state lives in etcd, and each replica keeps its LMDB store as a local
 * copy of it, so that reads stay local and as fast as with the embedded
 * store.
 *
 * Layout in etcd, under the configured prefix P (default "/pilot/"):
 *   P d/NAME/KEY   one key of sub-database NAME (raw bytes), value as in LMDB
 *   P d0           the write sequence: every serialised write changes it
 *
 * Writes.  A registry transaction runs against the local copy as it does
 * in LMDB; its changes go to etcd as one transaction that holds only if
 * P d0 has not changed since the copy was last brought up to date (its
 * mod_revision), and that changes P d0.  So all writes are serialised
 * through etcd in one order, none is lost, and a transaction that read a
 * stale copy fails (STORE_CONFLICT) and runs again after catching up.
 * Single-use keys (STORE_DB_UNIQUE: request nonces, token IDs) carry a
 * compare of their own (the key must not exist): a transaction that adds
 * nothing else (a resolve's nonce) does not serialise with the others,
 * and a nonce used through another replica is refused all the same.
 *
 * Reads of other replicas' writes.  A replica follows etcd's history
 * with a watch from the revision its copy reflects, applying each
 * revision's changes in one LMDB transaction, and wakes the event
 * streams of the nodes whose events arrived.  It looks at P d0 every
 * poll interval, and catches up at once after a conflict.  When the
 * history it needs has been compacted, it copies the whole state again
 * at one revision.
 */
#ifndef PILOT_RDV_REPL_H
#define PILOT_RDV_REPL_H

#include <stddef.h>
#include <stdint.h>

struct rdv_db;
struct rdv_repl;
struct rdv_etcd;

struct rdv_repl_stats {
	uint64_t commits;	/* transactions etcd accepted */
	uint64_t conflicts;	/* lost to another writer (ran again) */
	uint64_t applied;	/* revisions of others applied to the copy */
	uint64_t resyncs;	/* whole copies */
	uint64_t errors;	/* etcd unreachable or refusing */
	int64_t revision;	/* the revision the copy reflects */
	uint64_t last_ok_ms;	/* monotonic time of the last answer from etcd */
	const char *last_error; /* "" after a success */
	const char *endpoint;	/* the endpoint in use */
};

/** \brief Make \p db's store a replica of the state under \p prefix in
 *  the etcd reached by \p e (owned from now on).  Brings the local copy
 *  up to date (a whole copy on first start).  Refuses a local store that
 *  holds state of its own (an LMDB registry): -EEXIST, logged.
 *  \retval 0 or -errno (logged). */
int rdv_repl_attach(struct rdv_db *db, struct rdv_etcd *e, const char *prefix, size_t max_txn_ops,
		    struct rdv_repl **out);
void rdv_repl_free(struct rdv_repl *r); /* NULL is fine */

/** Catch up with etcd (after a conflict, or on the poll timer).
 *  \retval 0, or -errno (etcd unreachable: the copy stays as it is). */
int rdv_repl_sync(struct rdv_repl *r);

void rdv_repl_get_stats(const struct rdv_repl *r, struct rdv_repl_stats *s);

/* Presence: each replica keeps P r/NAME (NAME: its listen address) on an
 * etcd lease of RDV_REPL_PRESENCE_TTL_S, renewed every
 * RDV_REPL_PRESENCE_RENEW_MS: a replica that dies, or loses etcd for
 * longer than the TTL, leaves the list by itself; one that stops cleanly
 * revokes its lease and leaves at once. */
#define RDV_REPL_PRESENCE_TTL_S 10
#define RDV_REPL_PRESENCE_RENEW_MS 3000
/** Keep (or put again, after the lease ran out) this replica's presence,
 *  \p info its value (JSON).  Cheap between renewals.  \retval 0 or -errno. */
int rdv_repl_presence(struct rdv_repl *r, const char *name, const char *info, uint64_t now_ms);
typedef void (*rdv_repl_replica_cb)(void *arg, const char *name, const char *info);
/** The live replicas, each to \p cb.  \retval 0 or -errno (etcd away). */
int rdv_repl_replicas(struct rdv_repl *r, rdv_repl_replica_cb cb, void *arg);

struct store;
/** \brief Copy the state of an LMDB registry (\p src, every database not
 *  marked local) into etcd under \p prefix, in transactions of at most
 *  \p max_txn_ops, from one read snapshot; P d0 is written last, so a
 *  replica sees a deployment only once all of it is there.  Refuses a
 *  prefix that holds any key (-EEXIST), and fails (-EEXIST) if a replica
 *  starts writing there meanwhile.  \p nkeys: the keys written.
 *  \retval 0 or -errno with \p err saying what to do. */
int rdv_repl_import(struct store *src, struct rdv_etcd *e, const char *prefix, size_t max_txn_ops,
		    uint64_t *nkeys, char *err, size_t errlen);

#endif
