/* rdv_reg_int.h - internals of the registry's request handlers, shared by
 * rdv_reg.c (the dispatcher: the tables of operations, the envelope checks,
 * the transaction and the reply) and the handlers of each resource:
 * rdv_reg_node.c, rdv_reg_trust.c, rdv_reg_net.c, rdv_reg_org.c,
 * rdv_reg_revoke.c, rdv_reg_policy.c and rdv_reg_admin.c.  Not for use
 * outside them.
 *
 * A handler gets the request's context: the parsed body, the signer (node
 * requests) or the admin's scope, and the one write transaction that all
 * of the request's reads and writes go through.  It answers into c->out
 * and returns 0, or <0 with reg_fail()'s message for the reply.
 */
#ifndef PILOT_RDV_REG_INT_H
#define PILOT_RDV_REG_INT_H

#include <stddef.h>
#include <stdint.h>

#include "json.h"
#include "rdv.h"
#include "cert.h"
#include "regmsg.h"

/* A growable set of node IDs (event audiences, revoked peers). */
struct idset {
	uint32_t *v;
	size_t n, cap;
};

struct reg_ctx {
	struct rdv_db *db;
	struct store_txn t;
	int may_rerun; /* a commit conflict hands the request back to run again */
	struct regmsg_req req;
	const char *peer_ip;
	uint64_t now;
	struct rdv_node self; /* the signer's record, if have_self */
	int have_self;
	uint32_t self_id;    /* 0 until known: a key's first registration */
	uint8_t pk[32];	     /* the signer's key */
	int key_retired;     /* register: the body's key was retired */
	int key_revoked;     /* register: the body's key belongs to a revoked node */
	int refused_revoked; /* refused as "revoked": a security record */
	int admin;	     /* an admin request: no signer */
	int internal;	     /* ... made by the registry itself (the expiry sweep) */
	uint32_t org_scope;  /* admin request with an org's admin token: that org */
	const char *body;    /* the request body as received (admin requests) */
	size_t body_len;
	struct json_gen out; /* the response object, open */
	/* events: the backlog, as JSON lines */
	int streaming;
	char *lines;
	size_t nlines, caplines;
	uint64_t stream_seq;
	struct idset notify; /* nodes with new events: woken after the commit */
	uint32_t inviter;    /* network_join by invite: who made it (audit) */
	int invited;	     /* ... by invite (inviter 0: an admin's) */
	/* A refusal's own code, in place of the errno's (cert_expired,
	 * identity_expired, ...): reg_fail_code. */
	const char *code;
	/* A refusal worth an audit record of its own (a certificate refused
	 * at join, ...): its type; written in a transaction of its own, as
	 * the request's is rolled back. */
	const char *refusal_type;
	struct cert cert;	   /* network_create / join of ca: the certificate */
	uint16_t wait_net;	   /* refused for now: waits for this network's key set */
	struct rdv_ext ext;	   /* join of oidc/spiffe: the identity admitted */
	char jti[256];		   /* ... and its token's ID ("" if none) */
	struct idset *evicted_out; /* reg_evict_member adds the trust pairs it revoked */
	int rep_metric;		   /* report/block recorded: counted once it commits */
	/* In memory, so set once the transaction commits: the signer's
	 * presence (prs_op 1: put prs, 2: forget it), and its nonce when the
	 * request changed nothing (nonce_mem, LMDB alone). */
	struct rdv_presence prs;
	int prs_op;
	int nonce_mem;
	/* register of a key the registry does not know (rdv_reg_signup.c):
	 * how it came in ("open", "token", "approval"), the token's ID, and
	 * its prefix, counted once the request commits (newkey_count).
	 * held: the request is answered as the refusal held (an -errno, with
	 * code and msg), yet what it wrote commits: a registration that now
	 * waits for the admin's approval. */
	const char *signup_via;
	char token_id[2 * RDV_REGTOK_ID_LEN + 1];
	uint8_t newkey_prefix[RDV_SRC_KEY_LEN];
	int newkey_count;
	int signup_new_pending;
	int signup_decided; /* admin: the state a held registration got */
	int held;
	char msg[192];
};

typedef int (*reg_fn)(struct reg_ctx *c);

struct reg_op {
	const char *name;
	const char *const *keys; /* the op's own members */
	reg_fn fn;
	int org_ok; /* admin: an org's admin token may use it (the op checks scope) */
};

/* Set the reply's message for a refusal.  \retval \p err. */
int reg_fail(struct reg_ctx *c, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* As reg_fail, with reply code \p code (a static string) in place of
 * \p err's; \p audit_type (or NULL) audits the refusal. */
int reg_fail_code(struct reg_ctx *c, int err, const char *code, const char *audit_type,
		  const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* ------------------------------------------------------------ rdv_reg.c */

/* Node IDs as sets: add, sort with duplicates removed, free; reg_idset_cb
 * is an rdv_id_cb collecting into the idset \p arg. */
int reg_idset_add(struct idset *s, uint32_t id);
void reg_idset_sort_unique(struct idset *s);
void reg_idset_free(struct idset *s);
int reg_idset_cb(void *arg, uint32_t id);
/* Take \p id out of the sorted, unique set \p s (if there). */
void reg_idset_drop(struct idset *s, uint32_t id);

/* Make room for element \p n of the array at *\p vp (a pointer to the
 * array's pointer; \p cap elements of \p size bytes): doubling, from 16.
 * \retval 0 or -ENOMEM (the array as it was). */
int reg_grow(void *vp, size_t n, size_t *cap, size_t size);

/* A fresh secret (org tokens, registration tokens): 32 random bytes,
 * base64url without padding, into \p out; its SHA-256, all that is kept,
 * into \p hash. */
#define REG_SECRET_MAX 64
void reg_new_secret(char out[REG_SECRET_MAX], uint8_t hash[32]);

/* A store call's answer: \p err becomes that refusal with \p msg, other
 * failures internal errors. */
int reg_store_rc(struct reg_ctx *c, int rc, int err, const char *msg);
/* The first \p max IDs of \p s as array member \p key. */
void reg_put_id_list(struct json_gen *j, const char *key, const struct idset *s, size_t max);
#define REG_AUDIT_LIST_MAX 256 /* IDs listed in one audit record's details */

struct ev_body {
	uint16_t network_id; /* 0: none (events never name the backbone) */
	const struct rdv_node *peer;
	uint32_t node_id;
	const uint8_t *public_key;
	const char *justification;
	uint64_t version;   /* policy.changed: the policy's version (0: none) */
	uint64_t not_after; /* network.joined (ca): the certificate's not-after, s */
	int has_expiry;	    /* node.expiry: expires_at (s; 0 never) */
	uint64_t expires_at;
};

/* Queue an event for \p node in the request's transaction; reg_add_notify
 * wakes \p node's streams once the request commits. */
void reg_queue_event(struct reg_ctx *c, uint32_t node, const char *event, const struct ev_body *b);
void reg_add_notify(struct reg_ctx *c, uint32_t node);

/* Audit records, appended in the request's transaction.  A subject is
 * "node:ID", "network:ID" or "org:ID" in a SUBJ_MAX buffer. */
#define SUBJ_MAX 32 /* "network:65535", "node:4294967295" */
const char *reg_node_subj(char buf[SUBJ_MAX], uint32_t id);
const char *reg_net_subj(char buf[SUBJ_MAX], uint16_t id);
const char *reg_org_subj(char buf[SUBJ_MAX], uint32_t id);
int reg_audit_begin(struct reg_ctx *c, struct json_gen *d);
void reg_audit_end(struct reg_ctx *c, struct json_gen *d, const char *type, const char *subject);
void reg_audit_simple(struct reg_ctx *c, const char *type, const char *subject, uint16_t net);

/* ------------------------------------------------------- rdv_reg_node.c */

/* A node's lookup object members (node_id, public_key, address, hostname,
 * public) into the open object of \p j; reg_put_peer wraps them in an
 * object (member \p key, or an array element for NULL); reg_put_node does
 * that for node \p id, leaving out one that is absent (or deregistered,
 * with \p active_only). */
void reg_put_lookup(struct json_gen *j, const struct rdv_node *n);
void reg_put_peer(struct json_gen *j, const char *key, const struct rdv_node *n);
int reg_put_node(struct reg_ctx *c, uint32_t id, int active_only);

/* Member `target`: a node ID. */
int reg_get_target(struct reg_ctx *c, uint32_t *id);
/* Read node \p id: -ENOENT when absent, other store failures internal. */
int reg_load_node(struct reg_ctx *c, uint32_t id, struct rdv_node *n);
/* ... that the signer may see / that is registered; not_found otherwise. */
int reg_visible_node(struct reg_ctx *c, uint32_t id, struct rdv_node *n);
int reg_active_node(struct reg_ctx *c, uint32_t id, struct rdv_node *n);

int reg_op_register(struct reg_ctx *c);
int reg_op_heartbeat(struct reg_ctx *c);
int reg_op_lookup(struct reg_ctx *c);
int reg_op_resolve(struct reg_ctx *c);
int reg_op_deregister(struct reg_ctx *c);
int reg_op_events(struct reg_ctx *c);
int reg_op_set_hostname(struct reg_ctx *c);
int reg_op_clear_hostname(struct reg_ctx *c);
int reg_op_set_visibility(struct reg_ctx *c);
int reg_op_set_tags(struct reg_ctx *c);
int reg_op_rotate_key(struct reg_ctx *c);
/* node.expiry (node \p node's identity now ends at \p expires_ms, 0
 * never) to \p aud and the node itself. */
void reg_tell_expiry(struct reg_ctx *c, uint32_t node, uint64_t expires_ms,
		     const struct idset *aud);
int reg_admin_node_expire(struct reg_ctx *c);
int reg_op_find(struct reg_ctx *c);

int reg_host_find(struct reg_ctx *c, const char *s, const char *what,
		  char host[RDV_HOSTNAME_MAX + 1], uint32_t *id);
/* Give up \p n's hostname, if it still owns it. */
void reg_release_hostname(struct reg_ctx *c, const struct rdv_node *n);
/* Everyone who can see \p node through trust or a shared non-backbone
 * network (not \p node itself), sorted and unique. */
int reg_audience(struct reg_ctx *c, uint32_t node, struct idset *out);

/* ------------------------------------------------------ rdv_reg_trust.c */

int reg_op_handshake(struct reg_ctx *c);
int reg_op_inbox(struct reg_ctx *c);
int reg_op_approve(struct reg_ctx *c);
int reg_op_reject(struct reg_ctx *c);
int reg_op_untrust(struct reg_ctx *c);
int reg_op_trusts(struct reg_ctx *c);

void reg_audit_trust_revoked(struct reg_ctx *c, uint32_t a, uint32_t b, const char *reason,
			     uint16_t net);

/* -------------------------------------------------------- rdv_reg_net.c */

/* Take \p node out of \p net as if it left: the trust pairs that
 * membership approved are revoked (audited with \p reason), the members
 * told.  *\p npairs (if given): how many pairs. */
int reg_evict_member(struct reg_ctx *c, struct rdv_network *net, uint32_t node, const char *reason,
		     size_t *npairs);
const char *reg_join_rule_name(uint8_t rule);
int reg_op_network_join(struct reg_ctx *c);
int reg_op_network_leave(struct reg_ctx *c);
int reg_op_network_list(struct reg_ctx *c);
int reg_op_network_nodes(struct reg_ctx *c);
int reg_admin_network_create(struct reg_ctx *c);
int reg_admin_network_delete(struct reg_ctx *c);
int reg_admin_network_add(struct reg_ctx *c);
int reg_admin_network_invite(struct reg_ctx *c);
int reg_admin_network_nodes(struct reg_ctx *c);

void reg_put_network(struct json_gen *j, const struct rdv_network *n);
int reg_get_net(struct reg_ctx *c, uint16_t *net, const char *zero_msg);
int reg_load_net(struct reg_ctx *c, uint16_t id, struct rdv_network *n);
int reg_put_members(struct reg_ctx *c, const char *key, uint16_t net, uint32_t skip);
int reg_add_member(struct reg_ctx *c, struct rdv_network *net, const struct rdv_node *n);
int reg_remove_member(struct reg_ctx *c, struct rdv_network *net, uint32_t node);
int reg_admin_net(struct reg_ctx *c, uint16_t id, struct rdv_network *net);
/* Names of networks and orgs: 1-63 of [a-z0-9-_.]. */
int reg_netname_ok(const char *s);

/* --------------------------------------------------------- rdv_reg_ca.c */

/* Member 'ca_cert' of network_create: a CA certificate, valid now. */
int reg_ca_parse_ca(struct reg_ctx *c, struct cert *ca);
/* The CA certificate's members (ca_fingerprint, ca_name, ca_not_after). */
void reg_put_ca(struct json_gen *j, const struct cert *ca);
/* A certificate's members for audit records (serial, fingerprint,
 * not_after, tags). */
void reg_put_cert_audit(struct json_gen *j, const struct cert *c);
/* Member 'certificate' (serial, fingerprint, not_after, tags) of \p node's
 * certificate in \p net, if it has one.  \retval 0 or -EIO. */
int reg_put_member_cert(struct reg_ctx *c, uint16_t net, uint32_t node);
/* Admit \p node (key \p pk) to ca network \p net on one of the
 * certificates of member 'certificates' (base64 or armored strings):
 * issued by the network's CA, for that key (and node), in its window, not
 * revoked.  \retval 0 with \p out, or the refusal with its code. */
int reg_ca_admit(struct reg_ctx *c, const struct rdv_network *net, uint32_t node,
		 const uint8_t pk[32], struct cert *out);
/* Re-check every certificate membership of \p node (key \p pk) and evict
 * it from those no longer good (re-registration, key rotation). */
int reg_ca_recheck_node(struct reg_ctx *c, uint32_t node, const uint8_t pk[32]);
/* Evict every member whose certificate has expired (the sweep). */
int reg_ca_sweep(struct reg_ctx *c);
int reg_op_network_renew(struct reg_ctx *c);
/* ------------------------------------------------------- rdv_reg_idp.c */

/* network_create of oidc/spiffe: check and keep the rule's settings. */
int reg_idp_create(struct reg_ctx *c, const struct rdv_network *net);
/* The settings as an admin sees them, into the open object \p j. */
int reg_idp_put_settings(struct reg_ctx *c, struct json_gen *j, uint16_t net);
/* Admit \p node to \p net on the request's token (member oidc_token or
 * svid): *out the identity, \p jti its token ID.  Refusals are audited
 * as \p audit_type; a missing key parks the request (keys_pending). */
int reg_idp_admit(struct reg_ctx *c, const struct rdv_network *net, uint32_t node,
		  const char *audit_type, struct rdv_ext *out, char jti[256]);
/* Does a token of the request (oidc_token, svid) verify for one of the
 * oidc/spiffe networks \p node is in, as the subject it was admitted as?
 * A probe: a refusal leaves no reply code, message or audit behind.
 * \retval 1 or 0. */
int reg_idp_vouches(struct reg_ctx *c, uint32_t node);
/* Keep an admitted identity (and its token ID) with the membership. */
void reg_idp_keep(struct reg_ctx *c, uint16_t net, uint32_t node, const struct rdv_ext *e,
		  const char *jti);
/* external_id, external_issuer, not_after into the open object \p j. */
void reg_put_ext(struct json_gen *j, const struct rdv_ext *e);
/* \p node's identity in \p net into c->out: as member "identity" (an
 * object, \p nested) or flat members (external_id, external_issuer). */
int reg_put_member_ext(struct reg_ctx *c, uint16_t net, uint32_t node, int nested);

int reg_op_ca_crl(struct reg_ctx *c);
int reg_admin_ca_crl(struct reg_ctx *c);
int reg_admin_ca_revoke(struct reg_ctx *c);

/* -------------------------------------------------------- rdv_reg_org.c */

int reg_op_org_enroll(struct reg_ctx *c);
int reg_admin_org_create(struct reg_ctx *c);
int reg_admin_org_members(struct reg_ctx *c);

int reg_get_org_opt(struct reg_ctx *c, uint32_t *org);
int reg_load_org(struct reg_ctx *c, uint32_t id, struct rdv_org *o);
/* The org an admin request names: an org's admin reaches only its own
 * (forbidden otherwise, before anything about the other is read). */
int reg_admin_org(struct reg_ctx *c, uint32_t id, struct rdv_org *o);

/* ----------------------------------------------------- rdv_reg_revoke.c */

int reg_admin_org_revoke(struct reg_ctx *c);

/* ----------------------------------------------------- rdv_reg_policy.c */

int reg_op_policy_show(struct reg_ctx *c);
int reg_op_policy_test(struct reg_ctx *c);
int reg_op_policy_view(struct reg_ctx *c);
int reg_admin_policy_set(struct reg_ctx *c);

/* policy.changed to the members of \p net (or of every network of
 * \p node) when its rules depend on who is in and their tags. */
int reg_policy_tell(struct reg_ctx *c, uint16_t net, uint64_t version);
int reg_policy_touch(struct reg_ctx *c, uint16_t net);
int reg_policy_touch_node(struct reg_ctx *c, uint32_t node);

/* -------------------------------------------------------- rdv_reg_rep.c */

enum { REG_REP_NONE, REG_REP_GOOD, REG_REP_BAD, REG_REP_BLOCK };

int reg_op_score(struct reg_ctx *c);
int reg_op_report(struct reg_ctx *c);
int reg_op_block(struct reg_ctx *c);
/* Compute \p node's score now and publish it (re-evaluating the min_score
 * rules of its networks when it moves across one); *\p score if given. */
int reg_rep_refresh(struct reg_ctx *c, uint32_t node, int *score);
/* ... and answer it as member "score". */
int reg_rep_put_score(struct reg_ctx *c, uint32_t node);
/* The last published score of \p node (0 if none): what views use. */
int reg_rep_score_pub(struct reg_ctx *c, uint32_t node);
/* The signer's heartbeat (\p start: its registration): uptime, and its
 * score as member "score" (between flushes of its uptime, the published
 * one: nothing shared is written). */
int reg_rep_heartbeat(struct reg_ctx *c, int start);
/* The signer deregisters: its uptime taken here goes to its rep record. */
int reg_rep_gone(struct reg_ctx *c);
/* \p approver approved \p subject's handshake request (once per pair). */
int reg_rep_approved(struct reg_ctx *c, uint32_t subject, uint32_t approver);
/* The trust pair {a, b} came or went. */
int reg_rep_trust_changed(struct reg_ctx *c, uint32_t a, uint32_t b);
/* An authority act against \p node (CA revocation, org or admin revoke). */
int reg_rep_revoked(struct reg_ctx *c, uint32_t node);
/* Periodic re-evaluation of members of networks with min_score rules:
 * a pass every minute, in bounded ticks (the registry's sweep). */
int reg_rep_sweep(struct reg_ctx *c);

/* ----------------------------------------------------- rdv_reg_signup.c */

/* May the register request's key, which the registry does not know, come
 * in under the registration rule (rendezvous.json "registration") and the
 * cap per prefix?  \p host: the hostname it asks for.  \retval 0 yes (a
 * token's use is taken), 1 held for approval (c->held: answered as a
 * refusal, what was written commits), or the refusal. */
int reg_signup_check(struct reg_ctx *c, const char *host);

int reg_admin_registration_token(struct reg_ctx *c);
int reg_admin_registration_tokens(struct reg_ctx *c);
int reg_admin_registration_token_revoke(struct reg_ctx *c);
int reg_admin_registration_pending(struct reg_ctx *c);
int reg_admin_registration_approve(struct reg_ctx *c);
int reg_admin_registration_reject(struct reg_ctx *c);

/* ------------------------------------------------------ rdv_reg_admin.c */

int reg_admin_audit(struct reg_ctx *c);
int reg_admin_audit_verify(struct reg_ctx *c);
int reg_admin_replicas(struct reg_ctx *c);

/* Is \p auth "Bearer <the admin token>" or an org's admin token (then
 * c->org_scope is that org)?  \retval 0, -EPERM or -EIO, with reg_fail's
 * message. */
int reg_admin_auth(struct reg_ctx *c, const char *admin_token, const char *auth);

#endif
