/* rdv_store.h - the registry's data model on the LMDB wrapper (store.h).
 *
 * Sub-databases (all keys big-endian so that prefix iteration is ordered):
 *   meta       "prefix" -> 6 bytes; "next_node_id" -> be32;
 *              "seq" be32(node) -> be64 last event seq of that node
 *   nodes      be32(id) -> node record (see rdv_store_node.c)
 *   keys       Ed25519 public key (32) -> be32(id), or be32(id) u8(1) once
 *              rotate_key retired it
 *   hosts      hostname -> be32(id)
 *   trust      be32(a) be32(b) -> be64(since ms) [be16(basis)]; stored in
 *              both orders; basis 0 (or absent: older records) = approval,
 *              else the network whose membership auto-approved the pair
 *   inbox      be32(target) be32(from) -> be64(ms) justification
 *   inbox_from be32(from) be32(target) -> be64(ms): the same requests, by
 *              requester (requests made before this index existed are
 *              not in it)
 *   events     be32(node) be64(seq) -> one JSON line (no newline)
 *   nonces     be32(node) nonce(16) -> be64(ms seen)
 *   nonce_exp  be64(ms seen) be32(node) nonce(16) -> "" (pruning order)
 *   networks   be16(id) -> network record (see rdv_store_net.c); never the
 *              backbone (0), which every registered node is in implicitly
 *   net_nodes  be16(net) be32(node) -> be64(joined ms)
 *   node_nets  be32(node) be16(net) -> "" (the same memberships, by node)
 *   invites    r(16) -> be64(expiry s) be16(net) be32(joiner) be64(used ms)
 *   invite_exp be64(expiry s) r(16) -> "" (pruning order)
 *   audit      be64(event_id) -> one audit record (audit.h: hash-chained)
 *   audit_meta the audit log's chain head and signed checkpoint (audit.h)
 *   orgs       be32(id) -> org record (see rdv_store_org.c); meta "next_org_id"
 *   org_nodes  be32(org) be32(node) -> be64(enrolled ms)
 *   node_orgs  be32(node) be32(org) -> "" (the same memberships, by node)
 *   org_nets   be32(org) be16(net) -> "" (networks the org owns; the owner
 *              is also in the network record)
 *   org_bans   be32(org) be32(node) -> be64(ms): nodes the org's admin
 *              removed (org_revoke with the org's token), barred from the
 *              org and its networks for ever
 *   policies   be16(net) -> u8(1) be64(version) be32(rules) canonical JSON
 *   net_ca     be16(net) -> the CA certificate of a ca network (cert.h)
 *   net_certs  be16(net) be32(node) -> the certificate that admitted node
 *   cert_exp   be64(not_after s) be16(net) be32(node) -> "" (expiry order)
 *   crl        be16(net) u8(kind) value -> be64(revoked ms): the network's
 *              revocation list (rdv_crl_kind; a value's length by kind)
 *   rep        be32(node) -> the node's reputation facts (rdv_store_rep.c):
 *              online time, last heartbeat, revocations, last published score
 *   rep_appr   be32(subject) be32(approver) -> be64(first approval ms): once
 *              per pair, for ever
 *   rep_opinions be32(subject) be32(reporter) -> the reporter's standing
 *              report (good/bad, reason) and block
 *   reg_tokens SHA-256(token)[0..16) -> registration token (rdv_store_signup.c)
 *   reg_pending Ed25519 public key (32) -> a new key's registration held
 *              for the admin (pending, rejected or approved)
 *   net_idp, net_jwks, net_ext, ext_subj, jti, jti_exp: oidc and spiffe
 *              networks (rdv_store_ext.c's header); their members' credential
 *              expiry is in cert_exp too
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
#include "rdv_limit.h"
#include "store.h"

struct hmap;

#define RDV_HOSTNAME_MAX 63
#define RDV_ENDPOINT_MAX (INET6_ADDRSTRLEN + 8) /* "[v6]:65535" */
#define RDV_JUSTIFICATION_MAX 256
#define RDV_TAG_MAX 32
#define RDV_TAGS_MAX 10
#define RDV_NETNAME_MAX 63
/* Used invites are remembered this long past their expiry: an expired
 * invite is refused anyway, the margin covers a registry clock that is
 * stepped back. */
#define RDV_INVITE_KEEP_MS (24 * 3600 * 1000ull)
/* A (node, nonce) is remembered this long: longer than a request can stay
 * fresh on either side of the registry's clock (2 x 60 s), so a replay is
 * always either remembered or stale. */
#define RDV_NONCE_KEEP_MS 180000
/* The map is address space, not disk: LMDB's file grows only as data is
 * written.  The audit log (a million records by default, some 400 bytes
 * each) is the bulk of it; 32-bit builds keep the old 1 GiB. */
#define RDV_MAP_SIZE (sizeof(size_t) > 4 ? (size_t)8 << 30 : (size_t)1 << 30)
#define RDV_AUDIT_KEY_FILE "audit.key"
#define RDV_BEACON_KEY_FILE "beacon.key"
#define RDV_INVITE_KEY_FILE "invite.key" /* signs invites made for an admin */
/* Security records (refused forgeries, replays, bad admin tokens) written
 * per second at most; the rest are counted into the next one. */
#define RDV_SEC_AUDIT_PER_SEC 50

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
	RDV_DB_NETWORKS,
	RDV_DB_NET_NODES,
	RDV_DB_NODE_NETS,
	RDV_DB_INVITES,
	RDV_DB_INVITE_EXP,
	RDV_DB_AUDIT,
	RDV_DB_AUDIT_META,
	RDV_DB_ORGS,
	RDV_DB_ORG_NODES,
	RDV_DB_NODE_ORGS,
	RDV_DB_ORG_NETS,
	RDV_DB_POLICIES,
	RDV_DB_NET_CA,
	RDV_DB_NET_CERTS,
	RDV_DB_CERT_EXP,
	RDV_DB_CRL,
	RDV_DB_NET_IDP,
	RDV_DB_NET_JWKS,
	RDV_DB_NET_EXT,
	RDV_DB_EXT_SUBJ,
	RDV_DB_JTI,
	RDV_DB_JTI_EXP,
	RDV_DB_REP,
	RDV_DB_REP_APPR,
	RDV_DB_REP_OPINIONS,
	RDV_DB_ORG_BANS,
	RDV_DB_INBOX_FROM,
	RDV_DB_REG_TOKENS,
	RDV_DB_REG_PENDING,
	RDV_DB_REPL, /* local: a replica's position in etcd (store "etcd") */
	RDV_DB_COUNT,
};

/* Called after a commit that queued events for \p node (wakes its streams). */
typedef void (*rdv_notify_fn)(void *arg, uint32_t node);

/* Rate limit of the security records (a flood of forged requests must not
 * fill the disk): a one-second window on the request clock. */
struct rdv_sec_limit {
	uint64_t window_ms;	   /* start of the current window */
	uint32_t in_window;	   /* records written in it */
	uint64_t suppressed;	   /* not written since the last one that was */
	uint64_t suppressed_total; /* ever (metrics) */
};

struct rdv_repl;

/* Where the shared state lives when it is in etcd (store "etcd"). */
struct rdv_db_etcd {
	const char *const *endpoints;
	size_t n;
	const char *prefix; /* keys under it, such as "/pilot/" */
	int timeout_ms;
	size_t max_txn_ops;	     /* etcd's --max-txn-ops */
	const char *ca, *cert, *key; /* PEM files, or NULL */
};

struct rdv_db {
	struct store *st;
	struct rdv_repl *repl; /* NULL: the store is LMDB alone */
	int dbi[RDV_DB_COUNT];
	struct pilot_prefix prefix;
	rdv_notify_fn notify; /* may be NULL (tests) */
	void *notify_arg;
	struct audit *audit;	  /* the registry's audit log (sub-databases audit*) */
	uint8_t audit_pk[32];	  /* public half of the audit key (checkpoints) */
	int have_audit_pk;	  /* 0 in tests that load no key */
	struct rdv_sec_limit sec; /* security records */
	uint8_t beacon_pk[32];	  /* the beacon's key and port, announced at register */
	uint16_t beacon_port;
	int have_beacon;
	/* The registry's invite key (admin network_invite); NULL in tests
	 * that load none.  Owned by struct rdv (guarded memory). */
	const uint8_t *invite_sk;
	uint8_t invite_pk[32];
	uint64_t identity_lifetime_ms; /* 0: identities do not expire */
	const char *admin_token;       /* renews an expired identity (rotate_key); may be NULL */
	/* A token names a key its network's set lacks (or it has none): may
	 * a fetch run now?  1: the request waits for it (parked),
	 * 0: it is refused.  NULL in tests and without a fetcher; keys_rerun
	 * is set while parked requests run again (they never park twice). */
	int (*keys_want)(void *arg, uint16_t net);
	void *keys_arg;
	int keys_rerun;
	/* Reputation: reports and blocks recorded (metrics), and the periodic
	 * re-evaluation's place (rdv_reg_sweep). */
	uint64_t rep_reports[2]; /* good, bad */
	uint64_t rep_blocks, rep_crossings;
	uint64_t rep_sweep_ms; /* when the last full pass began */
	uint16_t rep_sweep_net;
	uint32_t rep_sweep_node; /* next member to look at in rep_sweep_net */
	int rep_sweep_active;
	/* In memory (rdv_store_rep.c, rdv_store_msg.c): heartbeats taken
	 * here, and the nonces of requests that changed nothing (LMDB
	 * alone; NULL with etcd).  started_ms: the wall clock at start, the
	 * oldest signature the nonce cache covers (0: no such check, tests). */
	struct hmap *presence;
	struct hmap *nonce_mem;
	struct rdv_nonce_fifo {
		uint8_t (*key)[20];
		uint64_t *exp_ms;
		size_t head, n, cap;
	} nonce_fifo;
	uint64_t started_ms;
	/* Who may register a new key (rendezvous.json "registration",
	 * rdv_reg_signup.c), new identities per prefix and hour (0: no cap),
	 * counted in memory here, and what registrations came to (metrics). */
	int reg_rule; /* enum rdv_reg_rule */
	uint32_t reg_per_prefix_hour;
	struct rdv_newkeys newkeys;
	struct rdv_reg_stats {
		uint64_t new_keys;	/* new keys registered */
		uint64_t pending;	/* registrations held for approval (new ones) */
		uint64_t approved;	/* ... approved by the admin */
		uint64_t rejected;	/* ... rejected by the admin */
		uint64_t refused[5];	/* enum rdv_reg_refusal */
		uint64_t inbox_limited; /* handshakes refused: the requester's cap */
	} reg_stats;
};

/* rendezvous.json "registration": who may register a new key. */
enum rdv_reg_rule {
	RDV_REG_OPEN = 0,     /* anyone (the default) */
	RDV_REG_TOKEN = 1,    /* with a registration token the admin made */
	RDV_REG_APPROVAL = 2, /* once the admin approved it (or with a token) */
};

/* Why a new key's registration was refused (metrics labels, in order:
 * rdv_reg_refusal_name). */
enum rdv_reg_refusal {
	RDV_REFUSED_TOKEN_MISSING,
	RDV_REFUSED_TOKEN_BAD, /* unknown, expired or used up */
	RDV_REFUSED_PENDING,   /* waiting for approval (every try while it waits) */
	RDV_REFUSED_REJECTED,
	RDV_REFUSED_PREFIX_CAP, /* registrations_per_prefix_hour */
};

struct rdv_node {
	uint32_t id;
	uint8_t pk[32];
	uint16_t listen_port;
	int public;
	int active;	/* 0 after deregister, until it registers again */
	int revoked;	/* org_revoke: for ever (never active again) */
	int behind_nat; /* the node's beacon-reflexive address is not its own */
	uint64_t created_ms;
	uint64_t seen_ms;    /* the last registration or change of endpoint */
	uint64_t expires_ms; /* the identity's end (identity_lifetime, node_expire); 0 never */
	char hostname[RDV_HOSTNAME_MAX + 1]; /* "" if none */
	char endpoint[RDV_ENDPOINT_MAX + 1]; /* "IP:PORT" / "[V6]:PORT", "" if unknown */
	size_t ntags;			     /* canonical: lower case, sorted, unique */
	char tags[RDV_TAGS_MAX][RDV_TAG_MAX + 1];
};

/* Join rules stored in network records.  The values are stored: append
 * only. */
enum rdv_join_rule {
	RDV_JOIN_OPEN = 1,
	RDV_JOIN_TOKEN = 2,
	RDV_JOIN_INVITE = 3,
	RDV_JOIN_CA = 4,
	RDV_JOIN_OIDC = 5,
	RDV_JOIN_SPIFFE = 6,
};

struct rdv_network {
	uint16_t id; /* never 0 */
	uint8_t rule;
	uint64_t created_ms;
	uint32_t members;	/* kept with every membership change */
	uint8_t token_hash[32]; /* SHA-256 of the join token (rule token) */
	uint32_t org;		/* the owning org, 0 if none */
	char name[RDV_NETNAME_MAX + 1];
};

#define RDV_ORGNAME_MAX 63

struct rdv_org {
	uint32_t id; /* never 0 */
	uint64_t created_ms;
	uint8_t enroll_hash[32]; /* SHA-256 of the enroll token */
	uint8_t admin_hash[32];	 /* SHA-256 of the org's admin token */
	char name[RDV_ORGNAME_MAX + 1];
};

struct rdv_inbox_entry {
	uint32_t from;
	uint64_t ms;
	char justification[RDV_JUSTIFICATION_MAX + 1];
};

/** Open the environment in \p dir (created 0700), load the deployment
 *  prefix (generating and storing it on first start) and open the audit
 *  log.  \retval 0 or -errno (logged). */
int rdv_db_open(struct rdv_db *db, const char *dir);
/** As rdv_db_open; with \p etcd not NULL the store in \p dir is a replica's
 *  local copy of the state in etcd (rdv_repl.h). */
int rdv_db_open_etcd(struct rdv_db *db, const char *dir, const struct rdv_db_etcd *etcd);
void rdv_db_close(struct rdv_db *db);
/** \brief --import-lmdb: copy the LMDB registry in \p src_dir into etcd
 *  (rdv_repl_import), for a deployment moving to store "etcd".
 *  \retval 0 (\p nkeys written) or -errno with \p err. */
int rdv_db_import(const char *src_dir, const struct rdv_db_etcd *etcd, uint64_t *nkeys, char *err,
		  size_t errlen);
/** Bring a replica's copy up to date (after STORE_CONFLICT, or on a
 *  timer); 0 at once for LMDB alone.  \retval 0 or -errno. */
int rdv_db_sync(struct rdv_db *db);
/** Conflicts a request is run again for before it fails (-EAGAIN). */
#define RDV_CONFLICT_RETRIES 8
/** \brief Load the registry's Ed25519 audit key from \p dir/audit.key
 *  (base64 of the 64-byte secret key, mode 0600), or make and keep one
 *  when there is none.  It signs the audit log's checkpoints; the TLS key
 *  (ECDSA) is another one.  \p sk (64 bytes) should be guarded memory.
 *  \retval 0, -EPERM (group or others can read the file), -EBADMSG (not
 *  a key), or -errno; logged. */
int rdv_audit_key_load(const char *dir, uint8_t sk[64], uint8_t pk[32]);
/** As rdv_audit_key_load, for the key in \p dir/\p file (\p what names
 *  it in messages): the beacon key (RDV_BEACON_KEY_FILE) is one. */
int rdv_key_load(const char *dir, const char *file, const char *what, uint8_t sk[64],
		 uint8_t pk[32]);

/* Node ID callbacks: 0 go on, 1 stop, <0 fail (made sticky). */
typedef int (*rdv_id_cb)(void *arg, uint32_t id);

/* Nodes */
/** \retval 0, -ENOENT, -EBADMSG (corrupt record), or the sticky error. */
int rdv_node_get(struct store_txn *t, struct rdv_db *db, uint32_t id, struct rdv_node *n);
void rdv_node_put(struct store_txn *t, struct rdv_db *db, const struct rdv_node *n);
/** Call \p cb with every node ID that has a record, ascending. */
int rdv_node_iter(struct store_txn *t, struct rdv_db *db, rdv_id_cb cb, void *arg);
/** \retval 0 with *id, -EKEYREVOKED with *id (the key was retired by
 *  rotate_key and authenticates nothing), -EKEYREJECTED with *id (the
 *  key's node was revoked: org_revoke), -ENOENT, or the sticky error. */
int rdv_key_get(struct store_txn *t, struct rdv_db *db, const uint8_t pk[32], uint32_t *id);
void rdv_key_put(struct store_txn *t, struct rdv_db *db, const uint8_t pk[32], uint32_t id);
/** Mark \p pk (formerly node \p id's) as retired, for ever. */
void rdv_key_retire(struct store_txn *t, struct rdv_db *db, const uint8_t pk[32], uint32_t id);
/** Mark \p pk (node \p id's) as revoked, for ever: it can never register
 *  again, not even as a new node. */
void rdv_key_revoke(struct store_txn *t, struct rdv_db *db, const uint8_t pk[32], uint32_t id);
/** Take the next node ID (IDs start at 1 and are never reused).
 *  \retval 0 or -ENOSPC (exhausted) / sticky error. */
int rdv_node_id_alloc(struct store_txn *t, struct rdv_db *db, uint32_t *id);
int rdv_host_get(struct store_txn *t, struct rdv_db *db, const char *name, uint32_t *id);
void rdv_host_put(struct store_txn *t, struct rdv_db *db, const char *name, uint32_t id);
void rdv_host_del(struct store_txn *t, struct rdv_db *db, const char *name);

/* Trust pairs */
/** \retval 1 if {a, b} is a trust pair, 0 if not (or the txn failed). */
int rdv_trust_has(struct store_txn *t, struct rdv_db *db, uint32_t a, uint32_t b);
/** \retval 0 with *basis (0: made by approval, else the network that
 *  auto-approved it), -ENOENT, -EBADMSG, or the sticky error. */
int rdv_trust_get(struct store_txn *t, struct rdv_db *db, uint32_t a, uint32_t b, uint16_t *basis);
void rdv_trust_put(struct store_txn *t, struct rdv_db *db, uint32_t a, uint32_t b, uint64_t ms,
		   uint16_t basis);
void rdv_trust_del(struct store_txn *t, struct rdv_db *db, uint32_t a, uint32_t b);
/** Call \p cb for every peer of \p node (cb: 0 go on, 1 stop, <0 fail). */
int rdv_trust_iter(struct store_txn *t, struct rdv_db *db, uint32_t node, rdv_id_cb cb, void *arg);
typedef int (*rdv_pair_cb)(void *arg, uint32_t peer, uint16_t basis);
/** As rdv_trust_iter, with each pair's basis. */
int rdv_trust_iter_basis(struct store_txn *t, struct rdv_db *db, uint32_t node, rdv_pair_cb cb,
			 void *arg);

/** \brief Visibility (doc/REGISTRY.md): is node \p tn visible to node \p s?
 *  A node sees itself; else \p tn must be active and public, in a trust
 *  pair with \p s, or share a non-backbone network with it whose policy
 *  connects them (rdv_policy_connects). */
int rdv_visible(struct store_txn *t, struct rdv_db *db, uint32_t s, const struct rdv_node *tn);
/** The lowest non-backbone network \p a and \p b share whose policy
 *  connects them (no rules, or a rule allows some flow between them either
 *  way).  \retval 1 with *net, 0 if none, or the sticky error. */
int rdv_connecting_network(struct store_txn *t, struct rdv_db *db, const struct rdv_node *a,
			   const struct rdv_node *b, uint16_t *net);
/** Do \p a and \p b share a non-backbone network?  \retval 1 or 0. */
int rdv_share_network(struct store_txn *t, struct rdv_db *db, uint32_t a, uint32_t b);
/** The non-backbone networks \p a and \p b share, ascending: at most \p max
 *  IDs go to \p out.  \retval how many they share (may exceed \p max), or
 *  the sticky error. */
int rdv_shared_networks(struct store_txn *t, struct rdv_db *db, uint32_t a, uint32_t b,
			uint16_t *out, size_t max);

/* Networks (never the backbone: network 0 has no record and no stored
 * memberships) */
/** \retval 0, -ENOENT, -EBADMSG (corrupt record), or the sticky error. */
int rdv_net_get(struct store_txn *t, struct rdv_db *db, uint16_t id, struct rdv_network *n);
void rdv_net_put(struct store_txn *t, struct rdv_db *db, const struct rdv_network *n);
void rdv_net_del(struct store_txn *t, struct rdv_db *db, uint16_t id);
typedef int (*rdv_net_cb)(void *arg, const struct rdv_network *n);
/** Every network record, by ascending ID. */
int rdv_net_iter(struct store_txn *t, struct rdv_db *db, rdv_net_cb cb, void *arg);
/** The lowest network ID >= 1 without a record.
 *  \retval 0, -ENOSPC (all 65535 taken), or the sticky error. */
int rdv_net_id_free(struct store_txn *t, struct rdv_db *db, uint16_t *id);
/** \retval 1 if \p node is a member of \p net (never for net 0), else 0. */
int rdv_member_has(struct store_txn *t, struct rdv_db *db, uint16_t net, uint32_t node);
/** Record the membership both ways (net -> node, node -> net). */
void rdv_member_put(struct store_txn *t, struct rdv_db *db, uint16_t net, uint32_t node,
		    uint64_t ms);
/** ... and the certificate that admitted it (ca networks). */
void rdv_member_del(struct store_txn *t, struct rdv_db *db, uint16_t net, uint32_t node);
/** Call \p cb for every member of \p net, by ascending node ID. */
int rdv_member_iter(struct store_txn *t, struct rdv_db *db, uint16_t net, rdv_id_cb cb, void *arg);
/** Call \p cb for every network of \p node, by ascending ID (the backbone
 *  is not stored, so never 0). */
int rdv_node_net_iter(struct store_txn *t, struct rdv_db *db, uint32_t node, rdv_id_cb cb,
		      void *arg);

/* Orgs */
/** \retval 0, -ENOENT, -EBADMSG (corrupt record), or the sticky error. */
int rdv_org_get(struct store_txn *t, struct rdv_db *db, uint32_t id, struct rdv_org *o);
void rdv_org_put(struct store_txn *t, struct rdv_db *db, const struct rdv_org *o);
/** Take the next org ID (from 1, never reused).  \retval 0, -ENOSPC, or
 *  the sticky error. */
int rdv_org_id_alloc(struct store_txn *t, struct rdv_db *db, uint32_t *id);
typedef int (*rdv_org_cb)(void *arg, const struct rdv_org *o);
/** Every org record, by ascending ID. */
int rdv_org_iter(struct store_txn *t, struct rdv_db *db, rdv_org_cb cb, void *arg);
/** \retval 1 if \p node is a member of org \p org, else 0. */
int rdv_org_member_has(struct store_txn *t, struct rdv_db *db, uint32_t org, uint32_t node);
/** Record the membership both ways (org -> node, node -> org). */
void rdv_org_member_put(struct store_txn *t, struct rdv_db *db, uint32_t org, uint32_t node,
			uint64_t ms);
void rdv_org_member_del(struct store_txn *t, struct rdv_db *db, uint32_t org, uint32_t node);
/** Call \p cb for every member of \p org, by ascending node ID. */
int rdv_org_member_iter(struct store_txn *t, struct rdv_db *db, uint32_t org, rdv_id_cb cb,
			void *arg);
/** Call \p cb for every org \p node is a member of, by ascending ID. */
int rdv_node_org_iter(struct store_txn *t, struct rdv_db *db, uint32_t node, rdv_id_cb cb,
		      void *arg);
/** Call \p cb for every network \p org owns, by ascending ID. */
int rdv_org_net_iter(struct store_txn *t, struct rdv_db *db, uint32_t org, rdv_id_cb cb, void *arg);
/** Bar \p node from org \p org (its admin removed it at \p ms). */
void rdv_org_ban_put(struct store_txn *t, struct rdv_db *db, uint32_t org, uint32_t node,
		     uint64_t ms);
/** \retval 1 if org \p org barred \p node, else 0. */
int rdv_org_ban_has(struct store_txn *t, struct rdv_db *db, uint32_t org, uint32_t node);

/* Policies (one per network; none for the backbone) */
struct rdv_policy {
	uint64_t version; /* 0: never set */
	uint32_t rules;	  /* 0: no rules (every flow between members passes) */
	char *json;	  /* malloc'd canonical document, NUL-terminated; NULL if none */
	size_t len;
};
/** Read the policy of \p net into \p p (free with rdv_policy_free).  A
 *  network without one gets version 0, no rules and json NULL.
 *  \retval 0, -EBADMSG (corrupt record), -ENOMEM, or the sticky error. */
int rdv_policy_get(struct store_txn *t, struct rdv_db *db, uint16_t net, struct rdv_policy *p,
		   int want_json);
void rdv_policy_free(struct rdv_policy *p);
void rdv_policy_put(struct store_txn *t, struct rdv_db *db, uint16_t net,
		    const struct rdv_policy *p);
void rdv_policy_del(struct store_txn *t, struct rdv_db *db, uint16_t net);
/** \brief Does the canonical policy \p json (as stored) let \p a and \p b
 *  see each other: is there a rule whose `from` selects one and whose `to`
 *  selects the other?  Every rule names at least one port, so such a rule
 *  allows some flow.  \retval 1 or 0 (also for a document that does not
 *  parse: fail closed). */
struct rdv_ext;
int rdv_policy_links(const char *json, size_t len, const struct rdv_node *a,
		     const struct rdv_ext *ea, const struct rdv_node *b, const struct rdv_ext *eb);
/** Does network \p net's policy connect \p a and \p b (no policy, no
 *  rules, or rdv_policy_links)?  \retval 1, 0, or the sticky error. */
int rdv_policy_connects(struct store_txn *t, struct rdv_db *db, uint16_t net,
			const struct rdv_node *a, const struct rdv_node *b);

/* Certificates of ca networks (rdv_store_cert.c).  Stored as their
 * binary form (cert.h); read back through cert_decode. */
struct cert;
/** \retval 0, -ENOENT, -EBADMSG (corrupt), or the sticky error. */
int rdv_net_ca_get(struct store_txn *t, struct rdv_db *db, uint16_t net, struct cert *ca);
void rdv_net_ca_put(struct store_txn *t, struct rdv_db *db, uint16_t net, const struct cert *ca);
/** The certificate that admitted \p node to \p net.
 *  \retval 0, -ENOENT, -EBADMSG, or the sticky error. */
int rdv_net_cert_get(struct store_txn *t, struct rdv_db *db, uint16_t net, uint32_t node,
		     struct cert *c);
/** Keep \p c as \p node's certificate in \p net (replacing one, and its
 *  expiry index entry). */
void rdv_net_cert_put(struct store_txn *t, struct rdv_db *db, uint16_t net, uint32_t node,
		      const struct cert *c);
void rdv_net_cert_del(struct store_txn *t, struct rdv_db *db, uint16_t net, uint32_t node);
/** Drop \p net's CA, certificates and revocation list (network deleted). */
void rdv_net_certs_drop(struct store_txn *t, struct rdv_db *db, uint16_t net);
/** \p n's tags in \p net: a certificate's tags replace the node's own
 *  there (the CA vouches for them; self-set tags do not count). */
void rdv_member_tags(struct store_txn *t, struct rdv_db *db, uint16_t net, struct rdv_node *n);
typedef int (*rdv_member_cb)(void *arg, uint16_t net, uint32_t node);
/** Every (net, node) whose certificate's not-after is <= \p now_s, in
 *  expiry order, at most \p max. */
int rdv_cert_expired_iter(struct store_txn *t, struct rdv_db *db, uint64_t now_s, size_t max,
			  rdv_member_cb cb, void *arg);

/* What a revocation list entry names; the values are stored. */
enum rdv_crl_kind {
	RDV_CRL_SERIAL = 1,	 /* 16 bytes */
	RDV_CRL_FINGERPRINT = 2, /* 32: a node certificate's or the CA's */
	RDV_CRL_KEY = 3,	 /* 32: a node's Ed25519 public key */
	RDV_CRL_NODE = 4,	 /* be32 node ID */
};
void rdv_crl_put(struct store_txn *t, struct rdv_db *db, uint16_t net, uint8_t kind,
		 const uint8_t *val, size_t len, uint64_t ms);
/** \retval 1 if listed, 0 if not (or the txn failed). */
int rdv_crl_has(struct store_txn *t, struct rdv_db *db, uint16_t net, uint8_t kind,
		const uint8_t *val, size_t len);
typedef int (*rdv_crl_cb)(void *arg, uint8_t kind, const uint8_t *val, size_t len, uint64_t ms);
int rdv_crl_iter(struct store_txn *t, struct rdv_db *db, uint16_t net, rdv_crl_cb cb, void *arg);

/* External identity of oidc and spiffe networks (rdv_store_ext.c). */
#define RDV_EXT_STR_MAX 255   /* iss, sub (jwt.h JWT_STR_MAX) */
#define RDV_EXT_CLAIMS_MAX 16 /* "name=value" claims kept for policy */
#define RDV_EXT_CLAIM_MAX 127

/** The identity a member was admitted as, until its token's exp. */
struct rdv_ext {
	uint64_t exp_s;
	char iss[RDV_EXT_STR_MAX + 1], sub[RDV_EXT_STR_MAX + 1];
	size_t nclaims;
	char claims[RDV_EXT_CLAIMS_MAX][RDV_EXT_CLAIM_MAX + 1];
};

/** The last good key set of a network: as fetched (or given), when, and
 *  until when it counts as fresh (max-age, bounded). */
struct rdv_jwks_rec {
	uint64_t fetched_ms, fresh_until_ms;
	char *json; /* malloc'd, NUL-terminated */
	size_t len;
};

/** \p net's identity provider settings (JSON text, malloc'd in *json).
 *  \retval 0, -ENOENT, -ENOMEM, or the sticky error. */
int rdv_net_idp_get(struct store_txn *t, struct rdv_db *db, uint16_t net, char **json, size_t *len);
void rdv_net_idp_put(struct store_txn *t, struct rdv_db *db, uint16_t net, const char *json,
		     size_t len);
int rdv_net_jwks_get(struct store_txn *t, struct rdv_db *db, uint16_t net, struct rdv_jwks_rec *r);
/** ... only until when it is fresh (no copy of the set).
 *  \retval 0, -ENOENT, -EBADMSG, or the sticky error. */
int rdv_net_jwks_fresh_until(struct store_txn *t, struct rdv_db *db, uint16_t net,
			     uint64_t *until_ms);
void rdv_net_jwks_put(struct store_txn *t, struct rdv_db *db, uint16_t net,
		      const struct rdv_jwks_rec *r);
void rdv_jwks_rec_free(struct rdv_jwks_rec *r);
/** \retval 0, -ENOENT, -EBADMSG, or the sticky error. */
int rdv_net_ext_get(struct store_txn *t, struct rdv_db *db, uint16_t net, uint32_t node,
		    struct rdv_ext *e);
/** Keep \p e as \p node's identity in \p net (replacing one): its expiry
 *  goes into cert_exp and its subject is bound to \p node. */
void rdv_net_ext_put(struct store_txn *t, struct rdv_db *db, uint16_t net, uint32_t node,
		     const struct rdv_ext *e);
void rdv_net_ext_del(struct store_txn *t, struct rdv_db *db, uint16_t net, uint32_t node);
/** The member bound to subject (\p iss, \p sub) in \p net.
 *  \retval 0, -ENOENT, or the sticky error. */
int rdv_ext_subject_node(struct store_txn *t, struct rdv_db *db, uint16_t net, const char *iss,
			 const char *sub, uint32_t *node);
/** Drop \p net's settings, key set and identities (network deleted). */
void rdv_net_ext_drop(struct store_txn *t, struct rdv_db *db, uint16_t net);
/** The node that presented token ID \p jti of \p iss (until its exp).
 *  \retval 0, -ENOENT, or the sticky error. */
int rdv_jti_node(struct store_txn *t, struct rdv_db *db, const char *iss, const char *jti,
		 uint64_t now_s, uint32_t *node);
void rdv_jti_put(struct store_txn *t, struct rdv_db *db, const char *iss, const char *jti,
		 uint64_t exp_s, uint32_t node);
/** Forget token IDs past their exp (and leeway), in bounded transactions.
 *  \retval number removed or -errno. */
int rdv_jti_prune(struct rdv_db *db, uint64_t now_ms);

/* Reputation facts (rdv_store_rep.c) */
#define RDV_REP_GAP_MAX_MS (3 * 60000ull) /* a heartbeat adds at most this */
#define RDV_REP_REASON_MAX 200
struct rdv_rep {
	uint64_t online_ms, last_hb_ms;
	uint32_t revocations;
	int score_pub; /* the last score published (views, thresholds) */
	int has_pub;
};
/** \p node's facts (all zero when it has none yet).
 *  \retval 0, -EBADMSG, or the sticky error. */
int rdv_rep_get(struct store_txn *t, struct rdv_db *db, uint32_t node, struct rdv_rep *r);
void rdv_rep_put(struct store_txn *t, struct rdv_db *db, uint32_t node, const struct rdv_rep *r);
/* A node's heartbeats as this replica took them, in memory (never shared
 * or stored: a restart loses at most RDV_REP_FLUSH_MS of uptime a node).
 * Uptime builds up here and goes to the shared rep record at most every
 * RDV_REP_FLUSH_MS, so that a heartbeat that changes nothing else writes
 * nothing: with store "etcd" no serialised write, with LMDB no commit. */
#define RDV_REP_FLUSH_MS (5 * 60000ull)
#define RDV_PRESENCE_MAX (4u << 20) /* nodes; beyond, heartbeats write through */
struct rdv_presence {
	uint64_t last_hb_ms; /* the last heartbeat taken here */
	uint64_t pending_ms; /* online time not yet in the rep record */
	uint64_t flushed_ms; /* when pending_ms last went there */
};
/** \retval 0, or -ENOENT (none). */
int rdv_presence_get(const struct rdv_db *db, uint32_t node, struct rdv_presence *p);
/** \retval 0, or -ENOSPC / -ENOMEM (not kept: the next heartbeat starts
 *  counting again). */
int rdv_presence_put(struct rdv_db *db, uint32_t node, const struct rdv_presence *p);
void rdv_presence_del(struct rdv_db *db, uint32_t node);
/** A signed heartbeat at \p now_ms, with \p p the node's presence here
 *  (\p have_p: it had one).  The gap since the previous heartbeat here
 *  (at most RDV_REP_GAP_MAX_MS) is online time, kept in \p p until
 *  RDV_REP_FLUSH_MS after the last flush.  \p start (register), no
 *  presence here, or a rep record newer than it (another replica took the
 *  node's heartbeats since) only starts counting, and flushes what \p p
 *  held.  \retval 1 when \p r changed (write it), 0 when only \p p did. */
int rdv_rep_heartbeat(struct rdv_rep *r, struct rdv_presence *p, int have_p, uint64_t now_ms,
		      int start);
/** Move what \p p holds into \p r (deregistration).  \retval 1 when \p r
 *  changed. */
int rdv_rep_flush(struct rdv_rep *r, struct rdv_presence *p, uint64_t now_ms);
/** Record that \p approver approved \p subject, once for ever.
 *  \retval 1 new, 0 known, or the sticky error. */
int rdv_rep_approval_add(struct store_txn *t, struct rdv_db *db, uint32_t subject,
			 uint32_t approver, uint64_t ms);
/** Every approver of \p subject, ascending. */
int rdv_rep_approval_iter(struct store_txn *t, struct rdv_db *db, uint32_t subject, rdv_id_cb cb,
			  void *arg);
/* The stored values of a report's verdict. */
enum rdv_verdict { RDV_VERDICT_NONE = 0, RDV_VERDICT_GOOD = 1, RDV_VERDICT_BAD = 2 };
/** One reporter's standing opinion of a subject: its last report and
 *  whether it blocks the subject (a block counts as bad and overrides the
 *  report while it stands). */
struct rdv_opinion {
	uint32_t reporter;
	uint8_t verdict; /* enum rdv_verdict */
	int blocked;
	uint64_t report_ms, block_ms;
	char reason[RDV_REP_REASON_MAX + 1];
};
/** \retval 0, -ENOENT (no opinion), -EBADMSG, or the sticky error. */
int rdv_opinion_get(struct store_txn *t, struct rdv_db *db, uint32_t subject, uint32_t reporter,
		    struct rdv_opinion *o);
/** Keep \p o (replacing the reporter's earlier one); one with neither a
 *  verdict nor a block is deleted. */
void rdv_opinion_put(struct store_txn *t, struct rdv_db *db, uint32_t subject,
		     const struct rdv_opinion *o);
typedef int (*rdv_opinion_cb)(void *arg, const struct rdv_opinion *o);
/** Every opinion of \p subject, by ascending reporter. */
int rdv_opinion_iter(struct store_txn *t, struct rdv_db *db, uint32_t subject, rdv_opinion_cb cb,
		     void *arg);

/* Registration tokens (rdv_store_signup.c).  A token is shown once, when
 * made; only its SHA-256 is kept, the first RDV_REGTOK_ID_LEN bytes of it
 * as the key and its public name (token_id, hex). */
#define RDV_REGTOK_ID_LEN 16
struct rdv_regtoken {
	uint8_t id[RDV_REGTOK_ID_LEN];
	uint8_t hash[32];
	uint64_t created_ms, expires_ms, last_used_ms;
	uint32_t uses, uses_max;
};
/** \retval 0, -ENOENT, -EBADMSG (corrupt), or the sticky error. */
int rdv_regtoken_get(struct store_txn *t, struct rdv_db *db, const uint8_t id[RDV_REGTOK_ID_LEN],
		     struct rdv_regtoken *tok);
void rdv_regtoken_put(struct store_txn *t, struct rdv_db *db, const struct rdv_regtoken *tok);
void rdv_regtoken_del(struct store_txn *t, struct rdv_db *db, const uint8_t id[RDV_REGTOK_ID_LEN]);
typedef int (*rdv_regtoken_cb)(void *arg, const struct rdv_regtoken *tok);
/** Every token, by ID. */
int rdv_regtoken_iter(struct store_txn *t, struct rdv_db *db, rdv_regtoken_cb cb, void *arg);
/** Forget tokens that expired more than RDV_INVITE_KEEP_MS before
 *  \p now_ms (until then an expired one is refused as expired, not as
 *  unknown), in bounded transactions.  \retval number removed or -errno. */
int rdv_regtoken_prune(struct rdv_db *db, uint64_t now_ms);

/* New keys' registrations held for the admin ("registration": "approval"). */
enum rdv_signup_state {
	RDV_SIGNUP_PENDING = 1,
	RDV_SIGNUP_REJECTED = 2,
	RDV_SIGNUP_APPROVED = 3, /* the key's next registration goes through */
};
#define RDV_SIGNUP_MAX 4096 /* pending registrations at once (a new one beyond is refused) */
/* A record is forgotten this long after the key last asked (and the
 * admin last decided): a node that keeps trying keeps it. */
#define RDV_SIGNUP_KEEP_MS (30 * 86400 * 1000ull)
#define RDV_SIGNUP_TOUCH_MS (3600 * 1000ull) /* last_ms is rewritten at most this often */
struct rdv_signup {
	uint8_t pk[32];
	uint8_t state; /* enum rdv_signup_state */
	uint64_t first_ms, last_ms, decided_ms;
	char ip[INET6_ADDRSTRLEN];	     /* where it last asked from */
	char hostname[RDV_HOSTNAME_MAX + 1]; /* the hostname it asked for ("" none) */
};
/** \retval 0, -ENOENT, -EBADMSG (corrupt), or the sticky error. */
int rdv_signup_get(struct store_txn *t, struct rdv_db *db, const uint8_t pk[32],
		   struct rdv_signup *s);
void rdv_signup_put(struct store_txn *t, struct rdv_db *db, const struct rdv_signup *s);
void rdv_signup_del(struct store_txn *t, struct rdv_db *db, const uint8_t pk[32]);
typedef int (*rdv_signup_cb)(void *arg, const struct rdv_signup *s);
/** Every record, by key. */
int rdv_signup_iter(struct store_txn *t, struct rdv_db *db, rdv_signup_cb cb, void *arg);
/** How many are pending (state RDV_SIGNUP_PENDING); 0 if the txn failed. */
size_t rdv_signup_pending_count(struct store_txn *t, struct rdv_db *db);
/** Forget the records RDV_SIGNUP_KEEP_MS old (rdv_signup), in bounded
 *  transactions.  \retval number removed or -errno. */
int rdv_signup_prune(struct rdv_db *db, uint64_t now_ms);

/* Used invites (single use) */
/** \retval 1 if an invite with random part \p r was used, else 0. */
int rdv_invite_used(struct store_txn *t, struct rdv_db *db, const uint8_t r[16]);
void rdv_invite_use(struct store_txn *t, struct rdv_db *db, const uint8_t r[16], uint64_t expiry_s,
		    uint16_t net, uint32_t joiner, uint64_t now_ms);
/** Forget used invites that expired more than RDV_INVITE_KEEP_MS before
 *  \p now_ms, in bounded transactions.  \retval number removed or -errno. */
int rdv_invite_prune(struct rdv_db *db, uint64_t now_ms);

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
/** \retval number of requests \p from made at or after \p since_ms that
 *  are still pending, to any target (0 if the txn failed). */
size_t rdv_inbox_count_from(struct store_txn *t, struct rdv_db *db, uint32_t from,
			    uint64_t since_ms);
/** Call \p cb with the target of every request \p from has pending. */
int rdv_inbox_from_iter(struct store_txn *t, struct rdv_db *db, uint32_t from, rdv_id_cb cb,
			void *arg);

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
/* Nonces of requests that changed nothing, with the LMDB store alone: in
 * memory, not committed, so a read costs no fsync.  Kept for 2 x the skew
 * allowed (a replay is stale by then); a restart forgets them, so the
 * registry refuses requests signed before it started (rdv_db.started_ms).
 * With store "etcd" every nonce goes to etcd (another replica must see
 * it), and this cache is off. */
#define RDV_NONCE_MEM_MAX (1u << 20)
/** Is there room for one more (so a request may count on it)? */
int rdv_nonce_mem_room(struct rdv_db *db, uint64_t now_ms);
int rdv_nonce_mem_seen(const struct rdv_db *db, uint32_t node, const uint8_t nonce[16]);
/** \retval 0, or -ENOSPC / -ENOMEM. */
int rdv_nonce_mem_add(struct rdv_db *db, uint32_t node, const uint8_t nonce[16], uint64_t now_ms);

#endif
