/* rdv_store.h - the registry's data model on the LMDB wrapper (store.h).
 *
 * Sub-databases (all keys big-endian so that prefix iteration is ordered):
 *   meta       "prefix" -> 6 bytes; "next_node_id" -> be32;
 *              "seq" be32(node) -> be64 last event seq of that node
 *   nodes      be32(id) -> node record (see rdv_store.c)
 *   keys       Ed25519 public key (32) -> be32(id)
 *   hosts      hostname -> be32(id)
 *   trust      be32(a) be32(b) -> be64(since ms); stored in both orders
 *   inbox      be32(target) be32(from) -> be64(ms) justification
 *   events     be32(node) be64(seq) -> one JSON line (no newline)
 *   nonces     be32(node) nonce(16) -> be64(ms seen)
 *   nonce_exp  be64(ms seen) be32(node) nonce(16) -> "" (pruning order)
 *
 * Functions taking a struct store_txn follow its sticky-error rule: they
 * do nothing once the transaction has failed, and the failure surfaces at
 * store_txn_commit().
 */
#ifndef PILOT_RDV_STORE_H
#define PILOT_RDV_STORE_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "store.h"

#define RDV_HOSTNAME_MAX 63
#define RDV_ENDPOINT_MAX (INET6_ADDRSTRLEN + 8) /* "[v6]:65535" */
#define RDV_JUSTIFICATION_MAX 256
/* A (node, nonce) is remembered this long: longer than a request can stay
 * fresh on either side of the registry's clock (2 x 60 s), so a replay is
 * always either remembered or stale. */
#define RDV_NONCE_KEEP_MS 180000
#define RDV_MAP_SIZE ((size_t)1 << 30)

enum rdv_dbi {
	RDV_DB_META,
	RDV_DB_NODES,
	RDV_DB_KEYS,
	RDV_DB_HOSTS,
	RDV_DB_TRUST,
	RDV_DB_INBOX,
	RDV_DB_EVENTS,
	RDV_DB_NONCES,
	RDV_DB_NONCE_EXP,
	RDV_DB_COUNT,
};

/* Called after a commit that queued events for \p node (wakes its streams). */
typedef void (*rdv_notify_fn)(void *arg, uint32_t node);

struct rdv_db {
	struct store *st;
	int dbi[RDV_DB_COUNT];
	struct pilot_prefix prefix;
	rdv_notify_fn notify; /* may be NULL (tests) */
	void *notify_arg;
};

struct rdv_node {
	uint32_t id;
	uint8_t pk[32];
	uint16_t listen_port;
	int public;
	int active; /* 0 after deregister, until it registers again */
	uint64_t created_ms, seen_ms;
	char hostname[RDV_HOSTNAME_MAX + 1]; /* "" if none */
	char endpoint[RDV_ENDPOINT_MAX + 1]; /* "IP:PORT" / "[V6]:PORT", "" if unknown */
};

struct rdv_inbox_entry {
	uint32_t from;
	uint64_t ms;
	char justification[RDV_JUSTIFICATION_MAX + 1];
};

/** Open the environment in \p dir (created 0700) and load the deployment
 *  prefix, generating and storing it on first start.
 *  \retval 0 or -errno (logged). */
int rdv_db_open(struct rdv_db *db, const char *dir);
void rdv_db_close(struct rdv_db *db);

/* Nodes */
/** \retval 0, -ENOENT, -EBADMSG (corrupt record), or the sticky error. */
int rdv_node_get(struct store_txn *t, struct rdv_db *db, uint32_t id, struct rdv_node *n);
void rdv_node_put(struct store_txn *t, struct rdv_db *db, const struct rdv_node *n);
/** \retval 0 with *id, or -ENOENT. */
int rdv_key_get(struct store_txn *t, struct rdv_db *db, const uint8_t pk[32], uint32_t *id);
void rdv_key_put(struct store_txn *t, struct rdv_db *db, const uint8_t pk[32], uint32_t id);
/** Take the next node ID (IDs start at 1 and are never reused).
 *  \retval 0 or -ENOSPC (exhausted) / sticky error. */
int rdv_node_id_alloc(struct store_txn *t, struct rdv_db *db, uint32_t *id);
int rdv_host_get(struct store_txn *t, struct rdv_db *db, const char *name, uint32_t *id);
void rdv_host_put(struct store_txn *t, struct rdv_db *db, const char *name, uint32_t id);
void rdv_host_del(struct store_txn *t, struct rdv_db *db, const char *name);

/* Trust pairs */
/** \retval 1 if {a, b} is a trust pair, 0 if not (or the txn failed). */
int rdv_trust_has(struct store_txn *t, struct rdv_db *db, uint32_t a, uint32_t b);
void rdv_trust_put(struct store_txn *t, struct rdv_db *db, uint32_t a, uint32_t b, uint64_t ms);
void rdv_trust_del(struct store_txn *t, struct rdv_db *db, uint32_t a, uint32_t b);
typedef int (*rdv_id_cb)(void *arg, uint32_t id);
/** Call \p cb for every peer of \p node (cb: 0 go on, 1 stop, <0 fail). */
int rdv_trust_iter(struct store_txn *t, struct rdv_db *db, uint32_t node, rdv_id_cb cb, void *arg);

/** \brief Visibility (doc/REGISTRY.md): is node \p tn visible to node \p s?
 *  A node sees itself; else \p tn must be active and public, in a trust
 *  pair with \p s, or share a non-backbone network with it. */
int rdv_visible(struct store_txn *t, struct rdv_db *db, uint32_t s, const struct rdv_node *tn);
/** Do \p a and \p b share a non-backbone network?  Networks are not kept
 *  yet: this is where they plug in.  \retval 1 or 0. */
int rdv_share_network(struct store_txn *t, struct rdv_db *db, uint32_t a, uint32_t b);

/* Inbox: pending handshake requests addressed to a node */
int rdv_inbox_get(struct store_txn *t, struct rdv_db *db, uint32_t target, uint32_t from,
		  struct rdv_inbox_entry *e);
void rdv_inbox_put(struct store_txn *t, struct rdv_db *db, uint32_t target,
		   const struct rdv_inbox_entry *e);
void rdv_inbox_del(struct store_txn *t, struct rdv_db *db, uint32_t target, uint32_t from);
typedef int (*rdv_inbox_cb)(void *arg, const struct rdv_inbox_entry *e);
int rdv_inbox_iter(struct store_txn *t, struct rdv_db *db, uint32_t target, rdv_inbox_cb cb,
		   void *arg);
/** \retval number of pending requests for \p target (0 if the txn failed). */
size_t rdv_inbox_count(struct store_txn *t, struct rdv_db *db, uint32_t target);

/* Per-node durable event queue */
/** Append \p line (a JSON object) as event \p seq, which must come from
 *  rdv_event_next_seq() in the same transaction. */
uint64_t rdv_event_next_seq(struct store_txn *t, struct rdv_db *db, uint32_t node);
/** \retval the last seq handed out for \p node (0 if none). */
uint64_t rdv_event_last_seq(struct store_txn *t, struct rdv_db *db, uint32_t node);
void rdv_event_put(struct store_txn *t, struct rdv_db *db, uint32_t node, uint64_t seq,
		   const char *line, size_t len);
/** Delete the events of \p node with seq <= \p upto. */
int rdv_event_prune(struct store_txn *t, struct rdv_db *db, uint32_t node, uint64_t upto);
typedef int (*rdv_event_cb)(void *arg, uint64_t seq, const char *line, size_t len);
/** Call \p cb for every event of \p node with seq > \p after, in order. */
int rdv_event_iter(struct store_txn *t, struct rdv_db *db, uint32_t node, uint64_t after,
		   rdv_event_cb cb, void *arg);

/* Nonces */
/** \retval 1 if (node, nonce) was seen and not yet pruned, else 0. */
int rdv_nonce_seen(struct store_txn *t, struct rdv_db *db, uint32_t node, const uint8_t nonce[16]);
void rdv_nonce_put(struct store_txn *t, struct rdv_db *db, uint32_t node, const uint8_t nonce[16],
		   uint64_t now_ms);
/** Forget nonces seen more than RDV_NONCE_KEEP_MS before \p now_ms, in its
 *  own transactions (bounded batches).  \retval number removed or -errno. */
int rdv_nonce_prune(struct rdv_db *db, uint64_t now_ms);

#endif
