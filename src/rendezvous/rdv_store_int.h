/* rdv_store_int.h - what the rdv_store*.c files share and callers do not
 * see: the meta keys, the pair key shape, the ID counters, the table
 * walkers and the expiry pruner.  The public API is rdv_store.h.
 *
 * The store is one file per table group:
 *   rdv_store.c         open/close, key files, counters, walkers, pruning
 *   rdv_store_node.c    nodes, keys, hosts, trust pairs, visibility
 *   rdv_store_net.c     networks, memberships, shared networks, invites
 *   rdv_store_org.c     orgs, org memberships, owned networks
 *   rdv_store_policy.c  network policies and their evaluation
 *   rdv_store_msg.c     inbox, event queues, nonces
 *   rdv_store_cert.c    ca networks: CAs, member certificates, revocation lists
 *   rdv_store_ext.c     oidc and spiffe networks: settings, key sets, identities
 *   rdv_store_rep.c     reputation facts: uptime, approvals, opinions
 *   rdv_store_signup.c  registration tokens and registrations held for approval
 */
#ifndef PILOT_RDV_STORE_INT_H
#define PILOT_RDV_STORE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "rdv_store.h"

#define META_PREFIX "prefix"
#define META_NEXT_ID "next_node_id"
#define META_NEXT_ORG "next_org_id"
#define META_SEQ "seq"

/* be32(a) be32(b): trust pairs, inbox entries, org memberships. */
static inline void pair_key(uint8_t k[8], uint32_t a, uint32_t b)
{
	store_be32(k, a);
	store_be32(k + 4, b);
}

/* store_get of the pair key (a, b) in sub-database \p dbi. */
static inline int pair_get(struct store_txn *t, int dbi, uint32_t a, uint32_t b, MDB_val *v)
{
	uint8_t k[8];

	pair_key(k, a, b);
	return store_get(t, dbi, k, sizeof(k), v);
}

/** A counter in meta under \p key: IDs from 1, never reused.
 *  \retval 0 with *id, -ENOSPC (exhausted), or the sticky error. */
int rdv_st_id_alloc(struct store_txn *t, struct rdv_db *db, const char *key, uint32_t *id);

/* be16(net), and be16(net) be32(node): per-network and per-member keys. */
static inline void rdv_st_net_key(uint8_t k[2], uint16_t net)
{
	k[0] = (uint8_t)(net >> 8);
	k[1] = (uint8_t)net;
}

static inline void rdv_st_member_key(uint8_t k[6], uint16_t net, uint32_t node)
{
	rdv_st_net_key(k, net);
	store_be32(k + 2, node);
}

/* cert_exp's key: be64(expiry s) be16(net) be32(node).  The index holds
 * the credential expiry of ca, oidc and spiffe memberships alike. */
static inline void rdv_st_exp_key(uint8_t k[14], uint64_t exp_s, uint16_t net, uint32_t node)
{
	store_be64(k, exp_s);
	k[8] = (uint8_t)(net >> 8);
	k[9] = (uint8_t)net;
	store_be32(k + 10, node);
}

/* A record visitor: 0 go on, 1 stop, <0 fail (made sticky). */
typedef int (*rdv_st_visit_fn)(void *arg, const MDB_val *k, const MDB_val *v);

/** \brief Walk the records of sub-database \p dbi (db->dbi[RDV_DB_...])
 *  whose keys start with the \p plen bytes at \p prefix (0: all), in key
 *  order.  Every key must be \p klen
 *  bytes long: any other is corruption, and fails the walk with -EBADMSG
 *  before \p visit sees it.
 *  \retval 0, the first failure (also made sticky), or the sticky error. */
int rdv_st_each(struct store_txn *t, int dbi, const void *prefix, size_t plen, size_t klen,
		rdv_st_visit_fn visit, void *arg);

/** \brief Walk an index whose keys are the \p plen bytes at \p prefix
 *  followed by one big-endian ID of \p idlen (2 or 4) bytes, and nothing
 *  else: call \p cb with each ID, ascending.  As rdv_st_each otherwise. */
int rdv_st_each_id(struct store_txn *t, int dbi, const void *prefix, size_t plen, size_t idlen,
		   rdv_id_cb cb, void *arg);

/* A relation between IDs kept both ways: table fwd maps be(a) be(b) ->
 * a value, table rev be(b) be(a) -> "" (the same pairs, by b).  IDs are
 * big-endian, alen and blen (2 or 4) bytes wide.  fwd and rev may be one
 * table (trust pairs: a and b of one kind). */
struct rdv_st_rel {
	enum rdv_dbi fwd, rev;
	size_t alen, blen;
};

extern const struct rdv_st_rel rdv_st_trust;	   /* node, node */
extern const struct rdv_st_rel rdv_st_net_members; /* net, node */
extern const struct rdv_st_rel rdv_st_org_members; /* org, node */

/** \retval 1 if (a, b) is in the relation, 0 if not (or the txn failed). */
int rdv_st_rel_has(struct store_txn *t, struct rdv_db *db, const struct rdv_st_rel *r, uint32_t a,
		   uint32_t b);
/** Add (a, b): be(a) be(b) -> \p v in fwd, then be(b) be(a) -> "" in rev. */
void rdv_st_rel_put(struct store_txn *t, struct rdv_db *db, const struct rdv_st_rel *r, uint32_t a,
		    uint32_t b, const void *v, size_t vlen);
/** Remove (a, b) from both tables (absent is not an error). */
void rdv_st_rel_del(struct store_txn *t, struct rdv_db *db, const struct rdv_st_rel *r, uint32_t a,
		    uint32_t b);
/** Call \p cb with every b related to \p a, ascending (rdv_st_each_id). */
int rdv_st_rel_each(struct store_txn *t, struct rdv_db *db, const struct rdv_st_rel *r, uint32_t a,
		    rdv_id_cb cb, void *arg);
/** Call \p cb with every a related to \p b, ascending. */
int rdv_st_rel_each_rev(struct store_txn *t, struct rdv_db *db, const struct rdv_st_rel *r,
			uint32_t b, rdv_id_cb cb, void *arg);

/* Keys collected during a scan and deleted after it: the scan's cursor is
 * not disturbed by deletes behind its back. */
struct rdv_st_batch {
	uint8_t (*keys)[32];
	size_t n, cap, max;
	uint64_t limit;
};

/** Append a copy of \p k (at most 32 bytes, else -EBADMSG).
 *  \retval 0, -EBADMSG or -ENOMEM. */
int rdv_st_batch_add(struct rdv_st_batch *b, const MDB_val *k);

/** \brief Delete what expired before \p limit: the expiry index \p exp_db
 *  maps be64(expiry) || main key (\p keylen bytes in all) -> "", and each
 *  of its entries goes with its record in \p main_db.  Runs its own
 *  bounded write transactions.  \retval number removed or -errno. */
int rdv_st_prune_expired(struct rdv_db *db, int exp_db, int main_db, size_t keylen, uint64_t limit);

/** \brief Delete every record of the small table \p dbi (keys of \p klen
 *  bytes, at most 32) for which \p doomed returns 1 (0: keep, <0: fail),
 *  scanning the whole table in bounded write transactions.
 *  \retval number removed or -errno. */
int rdv_st_prune_scan(struct rdv_db *db, int dbi, size_t klen, rdv_st_visit_fn doomed, void *arg);

#endif
