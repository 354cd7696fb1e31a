/* rdv_reg.c - node and admin requests of doc/REGISTRY.md against the
 * registry store.
 *
 * Every request runs in one LMDB write transaction: the checks read, the
 * operation writes, the nonce is recorded, the audit record is appended,
 * and all of it commits together or not at all.  The daemon is
 * single-threaded, so holding the one LMDB writer for the length of a
 * request costs nothing.  Refusals that look like attacks (forged, stale
 * or replayed requests, wrong admin tokens) change nothing, but are
 * audited afterwards in a small transaction of their own.
 *
 * This file is the dispatcher: the tables of operations (node and admin
 * API), the envelope checks (signature, freshness, nonce, admin token),
 * the transaction and the reply, and the helpers every handler shares
 * (rdv_reg_int.h).  The handlers live with their resource: rdv_reg_node.c,
 * rdv_reg_trust.c, rdv_reg_net.c, rdv_reg_org.c, rdv_reg_policy.c and
 * rdv_reg_admin.c.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "audit.h"
#include "json.h"
#include "log.h"
#include "policy.h"
#include "rdv_reg_int.h"
#include "util.h"

#define PATH_PREFIX "/v1/node/"

int reg_fail(struct reg_ctx *c, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->msg, sizeof(c->msg), fmt, ap);
	va_end(ap);
	return err;
}

int reg_fail_code(struct reg_ctx *c, int err, const char *code, const char *audit_type,
		  const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->msg, sizeof(c->msg), fmt, ap);
	va_end(ap);
	c->code = code;
	c->refusal_type = audit_type;
	return err;
}

/* ---------------------------------------------------------------- replies */

static const struct {
	int err;
	int status;
	const char *code;
} err_map[] = {
    {-EINVAL, 400, "bad_request"}, {-EBADMSG, 401, "bad_signature"}, {-ESTALE, 401, "stale"},
    {-EALREADY, 409, "replay"},	   {-E2BIG, 413, "too_large"},	     {-ENOENT, 404, "not_found"},
    {-EACCES, 403, "forbidden"},   {-EEXIST, 409, "conflict"},	     {-EBUSY, 429, "rate_limited"},
    {-EAGAIN, 503, "unavailable"}, {-ENOSPC, 503, "unavailable"},    {-EPERM, 401, "unauthorized"},
};

static size_t err_index(int err)
{
	for (size_t i = 0; i < nitems(err_map); i++)
		if (err_map[i].err == err)
			return i;
	return nitems(err_map);
}

/* Outcomes as metrics labels: success, then every code a reply can carry. */
static const char *const outcome_names[RDV_OUTCOMES] = {
    "ok",	   "bad_request",  "bad_signature", "stale",	"replay",
    "too_large",   "not_found",	   "forbidden",	    "conflict", "rate_limited",
    "unavailable", "unauthorized", "internal",	    "refused",
};

const char *rdv_outcome_name(int i)
{
	return i >= 0 && i < RDV_OUTCOMES ? outcome_names[i] : NULL;
}

static int outcome_of(const char *code)
{
	for (int i = 1; i < RDV_OUTCOMES; i++)
		if (strcmp(outcome_names[i], code) == 0)
			return i;
	/* The codes of particular refusals (cert_expired, identity_expired,
	 * ...) are one label: the metrics stay a bounded set. */
	return strcmp(code, "internal") == 0 ? RDV_OUTCOMES - 2 : RDV_OUTCOMES - 1;
}

static int reply_take(struct rdv_reply *rep, int status, struct json_gen *j)
{
	const char *s;
	size_t len;

	if (json_gen_finish(j, &s, &len) < 0)
		return -ENOMEM;
	rep->body = malloc(len + 1);
	if (!rep->body)
		return -ENOMEM;
	memcpy(rep->body, s, len);
	rep->body[len] = '\0';
	rep->len = len;
	rep->status = status;
	return 0;
}

int rdv_reply_error(struct rdv_reply *rep, int err, const char *msg)
{
	return rdv_reply_error_code(rep, err, NULL, msg);
}

int rdv_reply_error_code(struct rdv_reply *rep, int err, const char *code, const char *msg)
{
	size_t i = err_index(err);
	struct json_gen j;
	int ret;

	free(rep->body);
	memset(rep, 0, sizeof(*rep));
	ret = json_gen_init(&j);
	if (ret < 0)
		return ret;
	jg_map_open(&j);
	jg_key(&j, "error");
	jg_map_open(&j);
	if (!code)
		code = i < nitems(err_map) ? err_map[i].code : "internal";
	jg_kstr(&j, "code", code);
	jg_kstr(&j, "message", msg && msg[0] ? msg : "request refused");
	jg_map_close(&j);
	jg_map_close(&j);
	ret = reply_take(rep, i < nitems(err_map) ? err_map[i].status : 500, &j);
	rep->outcome = outcome_of(code);
	json_gen_free(&j);
	return ret;
}

void rdv_reply_free(struct rdv_reply *rep)
{
	free(rep->body);
	memset(rep, 0, sizeof(*rep));
}

int rdv_endpoint_format(char *out, size_t len, const char *ip, uint16_t port)
{
	int n;

	if (strchr(ip, ':'))
		n = snprintf(out, len, "[%s]:%u", ip, port);
	else
		n = snprintf(out, len, "%s:%u", ip, port);
	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

/* ---------------------------------------------------------------- helpers */

/* The first \p max IDs of \p s as array member \p key. */
void reg_put_id_list(struct json_gen *j, const char *key, const struct idset *s, size_t max)
{
	jg_key(j, key);
	jg_array_open(j);
	for (size_t i = 0; i < s->n && i < max; i++)
		jg_u64(j, s->v[i]);
	jg_array_close(j);
}

int reg_grow(void *vp, size_t n, size_t *cap, size_t size)
{
	size_t ncap = *cap ? *cap * 2 : 16;
	void *v, *nv;

	if (n < *cap)
		return 0;
	memcpy(&v, vp, sizeof(v));
	nv = realloc(v, ncap * size);
	if (!nv)
		return -ENOMEM;
	memcpy(vp, &nv, sizeof(nv));
	*cap = ncap;
	return 0;
}

int reg_idset_add(struct idset *s, uint32_t id)
{
	if (reg_grow(&s->v, s->n, &s->cap, sizeof(*s->v)) < 0)
		return -ENOMEM;
	s->v[s->n++] = id;
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

void reg_idset_sort_unique(struct idset *s)
{
	size_t o = 0;

	if (s->n < 2)
		return;
	qsort(s->v, s->n, sizeof(*s->v), cmp_u32);
	for (size_t i = 0; i < s->n; i++)
		if (o == 0 || s->v[o - 1] != s->v[i])
			s->v[o++] = s->v[i];
	s->n = o;
}

void reg_idset_drop(struct idset *s, uint32_t id)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i] == id) {
			memmove(s->v + i, s->v + i + 1, (s->n - i - 1) * sizeof(*s->v));
			s->n--;
			return;
		}
}

void reg_idset_free(struct idset *s)
{
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* rdv_id_cb collecting into an idset. */
int reg_idset_cb(void *arg, uint32_t id)
{
	return reg_idset_add(arg, id);
}

void reg_new_secret(char out[REG_SECRET_MAX], uint8_t hash[32])
{
	uint8_t raw[32];

	randombytes_buf(raw, sizeof(raw));
	sodium_bin2base64(out, REG_SECRET_MAX, raw, sizeof(raw),
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(raw, sizeof(raw));
	crypto_hash_sha256(hash, (const uint8_t *)out, strlen(out));
}

/* The answer \p rc of a store call: \p err (-ENOENT: absent, -ENOSPC: no
 * IDs left) becomes that refusal with \p msg, other failures internal
 * errors.  \retval 0 or the refusal. */
int reg_store_rc(struct reg_ctx *c, int rc, int err, const char *msg)
{
	if (rc == err)
		return reg_fail(c, err, "%s", msg);
	if (rc < 0)
		return reg_fail(c, -EIO, "registry store error");
	return 0;
}

void reg_add_notify(struct reg_ctx *c, uint32_t node)
{
	/* Duplicates go at the end (sorted out once before waking): a check
	 * here would make fan-outs to a big network quadratic. */
	if (c->notify.n && c->notify.v[c->notify.n - 1] == node)
		return;
	if (reg_idset_add(&c->notify, node) < 0 && c->t.ret == 0)
		c->t.ret = -ENOMEM;
}

/* Queue an event for \p node in the request's transaction: it becomes
 * durable (and visible to streams) only if the request commits. */
void reg_queue_event(struct reg_ctx *c, uint32_t node, const char *event, const struct ev_body *b)
{
	struct json_gen j;
	const char *s;
	size_t len;
	uint64_t seq = rdv_event_next_seq(&c->t, c->db, node);

	if (seq == 0)
		return; /* the transaction failed; commit reports it */
	if (json_gen_init(&j) < 0) {
		c->t.ret = -ENOMEM;
		return;
	}
	jg_map_open(&j);
	jg_ku64(&j, "seq", seq);
	jg_kstr(&j, "event", event);
	if (b->network_id)
		jg_ku64(&j, "network_id", b->network_id);
	if (b->peer) {
		jg_key(&j, "peer");
		jg_map_open(&j);
		reg_put_lookup(&j, b->peer);
		/* network.joined of a ca network: when the membership ends
		 * by itself (peers cut it then, not only on our word). */
		if (b->not_after)
			jg_ku64(&j, "cert_not_after", b->not_after);
		jg_map_close(&j);
	}
	if (b->node_id)
		jg_ku64(&j, "node_id", b->node_id);
	if (b->public_key)
		jg_kb64(&j, "public_key", b->public_key, 32);
	if (b->justification)
		jg_kstr(&j, "justification", b->justification);
	if (b->version)
		jg_ku64(&j, "version", b->version);
	if (b->has_expiry)
		jg_ku64(&j, "expires_at", b->expires_at);
	jg_map_close(&j);
	if (json_gen_finish(&j, &s, &len) < 0)
		c->t.ret = -ENOMEM;
	else
		rdv_event_put(&c->t, c->db, node, seq, s, len);
	json_gen_free(&j);
	reg_add_notify(c, node);
}

/* ---------------------------------------------------------------- audit */

const char *reg_node_subj(char buf[SUBJ_MAX], uint32_t id)
{
	snprintf(buf, SUBJ_MAX, "node:%u", id);
	return buf;
}

const char *reg_net_subj(char buf[SUBJ_MAX], uint16_t id)
{
	snprintf(buf, SUBJ_MAX, "network:%u", id);
	return buf;
}

const char *reg_org_subj(char buf[SUBJ_MAX], uint32_t id)
{
	snprintf(buf, SUBJ_MAX, "org:%u", id);
	return buf;
}

/* Start the details object of an audit record.  \retval 0, or <0 when
 * the transaction already failed (nothing to record: it will not commit). */
int reg_audit_begin(struct reg_ctx *c, struct json_gen *d)
{
	if (c->t.ret < 0)
		return c->t.ret;
	if (json_gen_init(d) < 0) {
		c->t.ret = -ENOMEM;
		return -ENOMEM;
	}
	jg_map_open(d);
	return 0;
}

/* Finish \p d and append the record in the request's transaction: the
 * action commits with its record or not at all (audit_append_txn fails
 * the transaction otherwise).  The actor is "node:ID" (the signer) or
 * "admin:IP"; a node's source address goes into the details. */
void reg_audit_end(struct reg_ctx *c, struct json_gen *d, const char *type, const char *subject)
{
	char actor[INET6_ADDRSTRLEN + 8], *det = NULL;
	const char *s;
	size_t len;

	if (c->admin) {
		snprintf(actor, sizeof(actor), "admin:%s", c->peer_ip);
		/* An org's admin acts from the same address space as the
		 * deployment's: the details say which credential it was. */
		if (c->org_scope)
			jg_ku64(d, "org_admin", c->org_scope);
	} else if (c->self_id) {
		snprintf(actor, sizeof(actor), "node:%u", c->self_id);
		jg_kstr(d, "ip", c->peer_ip);
	} else {
		/* A key with no node yet (a registration held for approval). */
		snprintf(actor, sizeof(actor), "ip:%s", c->peer_ip);
	}
	jg_map_close(d);
	if (json_gen_finish(d, &s, &len) < 0 || !(det = strndup(s, len))) {
		if (c->t.ret == 0)
			c->t.ret = -ENOMEM;
	} else if (audit_append_txn(c->db->audit, &c->t, type, actor, subject, det, NULL) < 0) {
		log_warnx("audit %s: cannot append the record; the request fails", type);
	}
	free(det);
	json_gen_free(d);
}

/* A record whose details are one network ID (or none: 0). */
void reg_audit_simple(struct reg_ctx *c, const char *type, const char *subject, uint16_t net)
{
	struct json_gen d;

	if (reg_audit_begin(c, &d) < 0)
		return;
	if (net)
		jg_ku64(&d, "network_id", net);
	reg_audit_end(c, &d, type, subject);
}

static const char *const k_register[] = {"public_key",	       "listen_port", "public",
					 "hostname",	       "restarted",   "behind_nat",
					 "registration_token", NULL};
static const char *const k_heartbeat[] = {"listen_port", "behind_nat", NULL};
static const char *const k_lookup[] = {"target", "public_key", NULL};
static const char *const k_target[] = {"target", NULL};
static const char *const k_handshake[] = {"target", "justification", NULL};
static const char *const k_events[] = {"after", NULL};
static const char *const k_hostname[] = {"hostname", NULL};
static const char *const k_visibility[] = {"public", NULL};
static const char *const k_tags[] = {"tags", NULL};
static const char *const k_rotate[] = {"new_public_key", "proof", "admin_token",
				       "oidc_token",	 "svid",  NULL};
static const char *const k_join[] = {"network_id", "token", "invite", "certificates",
				     "oidc_token", "svid",  NULL};
static const char *const k_renew[] = {"network_id", "certificates", "oidc_token", "svid", NULL};
static const char *const k_net[] = {"network_id", NULL};
static const char *const k_none[] = {NULL};
static const char *const k_enroll[] = {"org_id", "token", NULL};
static const char *const k_policy_test[] = {"network_id", "from", "to", "port", NULL};
static const char *const k_report[] = {"target", "verdict", "reason", NULL};
static const char *const k_block[] = {"target", "blocked", NULL};

static const struct reg_op reg_ops[] = {
    {"register", k_register, reg_op_register, 0},
    {"heartbeat", k_heartbeat, reg_op_heartbeat, 0},
    {"lookup", k_lookup, reg_op_lookup, 0},
    {"resolve", k_target, reg_op_resolve, 0},
    {"deregister", k_none, reg_op_deregister, 0},
    {"handshake", k_handshake, reg_op_handshake, 0},
    {"inbox", k_none, reg_op_inbox, 0},
    {"approve", k_target, reg_op_approve, 0},
    {"reject", k_target, reg_op_reject, 0},
    {"untrust", k_target, reg_op_untrust, 0},
    {"trusts", k_none, reg_op_trusts, 0},
    {"events", k_events, reg_op_events, 0},
    {"set_hostname", k_hostname, reg_op_set_hostname, 0},
    {"clear_hostname", k_none, reg_op_clear_hostname, 0},
    {"set_visibility", k_visibility, reg_op_set_visibility, 0},
    {"set_tags", k_tags, reg_op_set_tags, 0},
    {"rotate_key", k_rotate, reg_op_rotate_key, 0},
    {"find", k_hostname, reg_op_find, 0},
    {"network_join", k_join, reg_op_network_join, 0},
    {"network_leave", k_net, reg_op_network_leave, 0},
    {"network_list", k_none, reg_op_network_list, 0},
    {"network_nodes", k_net, reg_op_network_nodes, 0},
    {"org_enroll", k_enroll, reg_op_org_enroll, 0},
    {"policy_show", k_net, reg_op_policy_show, 0},
    {"policy_test", k_policy_test, reg_op_policy_test, 0},
    {"policy_view", k_net, reg_op_policy_view, 0},
    {"network_renew", k_renew, reg_op_network_renew, 0},
    {"ca_crl", k_net, reg_op_ca_crl, 0},
    {"score", k_target, reg_op_score, 0},
    {"report", k_report, reg_op_report, 0},
    {"block", k_block, reg_op_block, 0},
};

static const struct reg_op *find_op(const struct reg_op *ops, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(ops[i].name, name) == 0)
			return &ops[i];
	return NULL;
}

static const char *const ka_expire[] = {"node_id", "expires_at", NULL};
static const char *const ka_ca_revoke[] = {"network_id", "serial",  "fingerprint",
					   "public_key", "node_id", NULL};
static const char *const ka_add[] = {"network_id", "node_id", NULL};
static const char *const ka_invite[] = {"network_id", "ttl", NULL};
static const char *const ka_name[] = {"name", NULL};
static const char *const ka_org[] = {"org_id", NULL};
static const char *const ka_revoke[] = {"node_id", "org_id", NULL};
static const char *const ka_policy_set[] = {"network_id", "policy", NULL};
static const char *const ka_regtoken[] = {"uses", "ttl", NULL};
static const char *const ka_token_id[] = {"token_id", NULL};
static const char *const ka_key[] = {"public_key", NULL};
static const char *const ka_audit[] = {"since_id", "since_ms", "type", "node",
				       "limit",	   "newest",   NULL};

static const struct reg_op admin_ops[] = {
    {"network_create", regmsg_network_create_keys, reg_admin_network_create, 1},
    {"network_delete", k_net, reg_admin_network_delete, 0},
    {"network_list", k_none, reg_op_network_list, 0},
    {"network_nodes", k_net, reg_admin_network_nodes, 0},
    {"network_add", ka_add, reg_admin_network_add, 0},
    {"network_invite", ka_invite, reg_admin_network_invite, 1},
    {"ca_revoke", ka_ca_revoke, reg_admin_ca_revoke, 1},
    {"node_expire", ka_expire, reg_admin_node_expire, 0},
    {"ca_crl", k_net, reg_admin_ca_crl, 1},
    {"audit", ka_audit, reg_admin_audit, 0},
    {"audit_verify", k_none, reg_admin_audit_verify, 0},
    {"replicas", k_none, reg_admin_replicas, 0},
    {"org_create", ka_name, reg_admin_org_create, 0},
    {"org_members", ka_org, reg_admin_org_members, 1},
    {"org_revoke", ka_revoke, reg_admin_org_revoke, 1},
    {"policy_set", ka_policy_set, reg_admin_policy_set, 1},
    {"policy_show", k_net, reg_op_policy_show, 0},
    {"policy_test", k_policy_test, reg_op_policy_test, 0},
    {"registration_token", ka_regtoken, reg_admin_registration_token, 0},
    {"registration_tokens", k_none, reg_admin_registration_tokens, 0},
    {"registration_token_revoke", ka_token_id, reg_admin_registration_token_revoke, 0},
    {"registration_pending", k_none, reg_admin_registration_pending, 0},
    {"registration_approve", ka_key, reg_admin_registration_approve, 0},
    {"registration_reject", ka_key, reg_admin_registration_reject, 0},
};

/* Metrics slots: node ops, admin ops, then one "unknown" per API. */
#define OP_UNKNOWN_NODE ((int)(nitems(reg_ops) + nitems(admin_ops)))
#define OP_UNKNOWN_ADMIN (OP_UNKNOWN_NODE + 1)
_Static_assert(nitems(reg_ops) + nitems(admin_ops) + 2 <= RDV_OP_SLOTS,
	       "RDV_OP_SLOTS too small for the operations");

int rdv_op_label(int i, const char **api, const char **name)
{
	if (i < 0 || i > OP_UNKNOWN_ADMIN)
		return -ENOENT;
	if (i < (int)nitems(reg_ops) || i == OP_UNKNOWN_NODE) {
		*api = "node";
		*name = i == OP_UNKNOWN_NODE ? "unknown" : reg_ops[i].name;
	} else {
		*api = "admin";
		*name = i == OP_UNKNOWN_ADMIN ? "unknown" : admin_ops[i - nitems(reg_ops)].name;
	}
	return 0;
}

/* ---------------------------------------------------------------- entry */

/* Find the signer's key: register proves possession of the key in its
 * body; every other request names its node. */
static int find_signer(struct reg_ctx *c, int is_register)
{
	int rc;

	if (is_register) {
		if (json_get_b64(c->req.root, "public_key", c->pk, sizeof(c->pk)) < 0)
			return reg_fail(c, -EINVAL,
					"member 'public_key' must be base64 of an Ed25519 key");
		rc = rdv_key_get(&c->t, c->db, c->pk, &c->self_id);
		if (rc == -EKEYREVOKED) {
			/* Refused once the signature and nonce are checked, so
			 * that only the key's holder learns it was retired. */
			c->key_retired = 1;
			c->self_id = 0;
			return 0;
		}
		if (rc == -EKEYREJECTED) {
			/* Likewise; the revoked node is the claimed identity of
			 * the security record. */
			c->key_revoked = 1;
			return 0;
		}
		if (rc == -ENOENT)
			return 0;
		if (rc < 0)
			return reg_fail(c, -EIO, "registry store error");
	} else {
		c->self_id = c->req.node_id;
	}
	rc = reg_load_node(c, c->self_id, &c->self);
	if (rc == -ENOENT)
		return reg_fail(c, -ENOENT, "node %u is not registered", c->self_id);
	if (rc < 0)
		return rc;
	c->have_self = 1;
	if (!is_register)
		memcpy(c->pk, c->self.pk, sizeof(c->pk));
	return 0;
}

static int handle(struct reg_ctx *c, const struct reg_op *op, const char *body, size_t len,
		  const char *sig_b64)
{
	char path[sizeof(PATH_PREFIX) + REGMSG_OP_MAX], err[160];
	int is_register = strcmp(op->name, "register") == 0, rc;

	rc = regmsg_parse(op->name, body, len, op->keys, &c->req, err, sizeof(err));
	if (rc < 0)
		return reg_fail(c, rc == -E2BIG ? -E2BIG : -EINVAL, "%s", err);
	if (!sig_b64)
		return reg_fail(c, -EBADMSG, "missing Pilot-Signature header");
	store_txn_begin(c->db->st, &c->t, 0);
	if ((rc = find_signer(c, is_register)) < 0)
		return rc;
	snprintf(path, sizeof(path), PATH_PREFIX "%s", op->name);
	if (regmsg_verify(c->pk, path, body, len, sig_b64) < 0)
		return reg_fail(c, -EBADMSG, "signature does not verify");
	if (regmsg_check_fresh(c->req.ts, c->now) < 0)
		return reg_fail(c, -ESTALE, "timestamp is more than %d s from the registry's clock",
				REGMSG_MAX_SKEW_MS / 1000);
	if (c->self_id && (rdv_nonce_seen(&c->t, c->db, c->self_id, c->req.nonce) ||
			   rdv_nonce_mem_seen(c->db, c->self_id, c->req.nonce)))
		return reg_fail(c, -EALREADY, "nonce already used");
	/* The memory cache began empty at start: a request signed before
	 * may have been taken by the previous run with its nonce there. */
	if (c->db->nonce_mem && c->req.ts < c->db->started_ms)
		return reg_fail(c, -ESTALE,
				"signed before the registry started (at %llu ms); sign it again",
				(unsigned long long)c->db->started_ms);
	if (c->key_retired)
		return reg_fail(c, -EACCES, "key_retired: this key was replaced by rotate_key");
	/* A revoked node is refused whatever it asks (register with its key
	 * included: it cannot come back as a new node either). */
	if (c->key_revoked || (c->have_self && c->self.revoked)) {
		c->refused_revoked = 1;
		return reg_fail(c, -EACCES, "revoked");
	}
	if (!is_register && !c->self.active)
		return reg_fail(c, -ENOENT, "node %u is deregistered; register again", c->self_id);
	/* An expired identity writes nothing; it may still hear its events
	 * and renew itself with the admin's approval (rotate_key). */
	if (c->have_self && c->self.expires_ms && c->now >= c->self.expires_ms &&
	    strcmp(op->name, "rotate_key") != 0 && strcmp(op->name, "events") != 0)
		return reg_fail_code(c, -EACCES, "identity_expired", "node.refused_expired",
				     "the identity of node %u expired; renew it with rotate-key "
				     "--admin-token",
				     c->self_id);
	rc = op->fn(c);
	if (rc < 0)
		return rc;
	/* Held for approval: no node, no nonce (a replay finds the same
	 * record); what was written commits, the answer is the refusal. */
	if (c->held)
		return c->t.ret;
	/* The key decides the ID; a node that remembers another one (the
	 * registry lost its state) learns its ID from the reply. */
	if (is_register && c->req.has_node_id && c->req.node_id != c->self_id)
		log_info("node %u: registered while believing it was node %u", c->self_id,
			 c->req.node_id);
	if (c->self_id == 0)
		return reg_fail(c, -EIO, "internal: no signer");
	/* A request that changed nothing commits nothing: its nonce waits
	 * in memory (LMDB alone), so a read or an idle heartbeat costs no
	 * fsync.  Anything else records it durably with its changes. */
	if (c->t.changes == 0 && c->t.ret == 0 && rdv_nonce_mem_room(c->db, c->now)) {
		c->nonce_mem = 1;
		return 0;
	}
	rdv_nonce_put(&c->t, c->db, c->self_id, c->req.nonce, c->now);
	return c->t.ret;
}

/* What a committed request keeps in memory.  A cache that cannot take
 * it costs a heartbeat's uptime (presence), or leaves a replay of a
 * request that changed nothing possible (the nonce: logged, as rare as
 * running out of memory). */
static void commit_memory(struct reg_ctx *c)
{
	if (c->prs_op == 1)
		rdv_presence_put(c->db, c->self_id, &c->prs);
	else if (c->prs_op == 2)
		rdv_presence_del(c->db, c->self_id);
	if (c->nonce_mem && rdv_nonce_mem_add(c->db, c->self_id, c->req.nonce, c->now) < 0)
		log_warnx("node %u: a nonce not kept (out of memory)", c->self_id);
	/* A new identity from its prefix (registrations_per_prefix_hour). */
	if (c->newkey_count)
		rdv_newkeys_add(&c->db->newkeys, c->newkey_prefix, c->now);
	if (c->signup_decided == RDV_SIGNUP_APPROVED)
		c->db->reg_stats.approved++;
	else if (c->signup_decided == RDV_SIGNUP_REJECTED)
		c->db->reg_stats.rejected++;
	if (c->signup_new_pending)
		c->db->reg_stats.pending++;
	else if (c->signup_via && !c->held)
		c->db->reg_stats.new_keys++;
}

static void log_refusal(const struct reg_ctx *c, const char *op, int err)
{
	size_t i = err_index(err);
	const char *code = i < nitems(err_map) ? err_map[i].code : "internal";

	/* Every admin action is logged; a wrong token is worth a warning. */
	if (c->admin && err == -EPERM)
		log_warnx("admin %s from %s: %s: %s", op, c->peer_ip, code, c->msg);
	else if (c->admin && i < nitems(err_map) && err != -ENOSPC && err != -EAGAIN)
		log_info("admin %s from %s: %s: %s", op, c->peer_ip, code, c->msg);
	/* Forgeries, replays and retired keys (perhaps a stolen one) are
	 * worth an operator's attention; ordinary client mistakes are not. */
	else if (err == -EBADMSG || err == -EALREADY || c->key_retired || c->refused_revoked)
		log_warnx("%s from %s (node %u): %s: %s", op, c->peer_ip, c->self_id, code, c->msg);
	else if (i == nitems(err_map) || err == -ENOSPC || err == -EAGAIN)
		log_errorx("%s%s from %s (node %u): %s: %s", c->admin ? "admin " : "", op,
			   c->peer_ip, c->self_id, code, c->msg);
	else
		log_debug("%s from %s (node %u): %s: %s", op, c->peer_ip, c->self_id, code, c->msg);
}

/* The audit type of a refusal that looks like an attack, or NULL. */
static const char *security_type(const struct reg_ctx *c, int err)
{
	if (c->refusal_type)
		return c->refusal_type;
	if (c->admin)
		return err == -EPERM ? "security.unauthorized" : NULL;
	if (c->refused_revoked)
		return "security.revoked";
	switch (err) {
	case -EALREADY:
		return "security.nonce_replay";
	case -EBADMSG:
		return "security.bad_signature";
	case -ESTALE:
		return "security.stale";
	default:
		return NULL;
	}
}

/* Audit a refused request that looks like an attack, in a transaction of
 * its own: the refusal itself changed nothing.  The claimed identity is
 * not proven, so the actor is the source address ("ip:ADDR") and the
 * claimed node the subject.  At most RDV_SEC_AUDIT_PER_SEC records a
 * second, so that a flood of forgeries cannot fill the disk; the next
 * record written counts those left out ("suppressed"). */
static void security_audit(struct reg_ctx *c, const char *op, int err)
{
	struct rdv_sec_limit *l = &c->db->sec;
	const char *type = security_type(c, err), *s;
	char actor[INET6_ADDRSTRLEN + 8], sb[SUBJ_MAX], *det = NULL;
	uint32_t claimed = c->self_id ? c->self_id : c->req.has_node_id ? c->req.node_id : 0;
	struct store_txn t;
	struct json_gen d;
	size_t len;
	int rc;

	if (!type || !c->db->audit)
		return;
	if (c->now < l->window_ms || c->now - l->window_ms >= 1000) {
		l->window_ms = c->now;
		l->in_window = 0;
	}
	if (l->in_window >= RDV_SEC_AUDIT_PER_SEC) {
		l->suppressed++;
		l->suppressed_total++;
		return;
	}
	l->in_window++;
	if (json_gen_init(&d) < 0)
		return;
	jg_map_open(&d);
	jg_kstr(&d, "ip", c->peer_ip);
	jg_kstr(&d, "op", op);
	if (claimed)
		jg_ku64(&d, "claimed_node", claimed);
	if (!c->admin && strcmp(op, "register") == 0)
		jg_kb64(&d, "public_key", c->pk, sizeof(c->pk));
	jg_kstr(&d, "reason", c->msg);
	if (c->code)
		jg_kstr(&d, "code", c->code);
	if (l->suppressed)
		jg_ku64(&d, "suppressed", l->suppressed);
	jg_map_close(&d);
	snprintf(actor, sizeof(actor), "ip:%s", c->peer_ip);
	rc = json_gen_finish(&d, &s, &len) < 0 || !(det = strndup(s, len)) ? -ENOMEM : 0;
	for (int run = 0; rc == 0 || (rc == STORE_CONFLICT && run <= RDV_CONFLICT_RETRIES); run++) {
		if (rc == STORE_CONFLICT && rdv_db_sync(c->db) < 0)
			break;
		store_txn_begin(c->db->st, &t, 0);
		rc = audit_append_txn(c->db->audit, &t, type, actor,
				      claimed ? reg_node_subj(sb, claimed) : "", det, NULL);
		if (rc == 0)
			rc = store_txn_commit(&t);
		store_txn_abort(&t);
		if (rc == STORE_CONFLICT) {
			audit_txn_aborted(c->db->audit);
			continue;
		}
		if (rc == 0) {
			audit_txn_committed(c->db->audit);
			l->suppressed = 0;
		} else {
			audit_txn_aborted(c->db->audit);
		}
		break;
	}
	if (rc < 0)
		log_warnx("audit %s from %s: cannot record it: %s", type, c->peer_ip,
			  strerror(-rc));
	free(det);
	json_gen_free(&d);
}

static struct reg_ctx *ctx_new(struct rdv_db *db, const char *peer_ip, uint64_t now_ms)
{
	struct reg_ctx *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->db = db;
	c->peer_ip = peer_ip;
	c->now = now_ms;
	if (json_gen_init(&c->out) < 0) {
		free(c);
		return NULL;
	}
	jg_map_open(&c->out);
	return c;
}

/* Turn the outcome \p rc of a request into \p rep: commit on success (the
 * reply is built first, so what the client is told is exactly what became
 * durable), wake the streams of nodes with new events, free \p c. */
static int ctx_finish(struct reg_ctx *c, int rc, const char *op, struct rdv_reply *rep)
{
	struct rdv_db *db = c->db;
	int ret, committed = 0;

	if (rc == 0 && c->held) {
		/* Answered as a refusal; what the request wrote commits. */
		if (rdv_reply_error_code(rep, c->held, c->code, c->msg) < 0)
			rc = reg_fail(c, -EIO, "cannot build the response");
	} else if (rc == 0 && !c->streaming) {
		jg_map_close(&c->out);
		rc = reply_take(rep, 200, &c->out);
		if (rc < 0)
			rc = reg_fail(c, -EIO, "cannot build the response");
	}
	if (rc == 0) {
		rc = store_txn_commit(&c->t);
		if (rc == STORE_CONFLICT && c->may_rerun) {
			/* Another replica wrote first: nothing of this run is
			 * durable; the caller catches up and runs it again. */
			audit_txn_aborted(db->audit);
			rdv_reply_free(rep);
			memset(rep, 0, sizeof(*rep));
			ret = STORE_CONFLICT;
			goto out;
		} else if (rc == STORE_CONFLICT) {
			reg_fail(c, -EAGAIN,
				 "registry busy: other replicas kept writing first; "
				 "try again");
			rc = -EAGAIN;
		} else if (rc == -EEXIST) {
			/* A single-use key (this request's nonce) was written
			 * through another replica. */
			reg_fail(c, -EALREADY, "nonce already used");
			rc = -EALREADY;
		} else if (rc < 0 && db->repl && rc != -ENOSPC) {
			reg_fail(c, -EAGAIN, "registry store (etcd): %s", strerror(-rc));
			rc = -EAGAIN;
		} else if (rc < 0) {
			reg_fail(c, rc == -ENOSPC ? -ENOSPC : -EIO, "registry store: %s",
				 strerror(-rc));
			rc = rc == -ENOSPC ? -ENOSPC : -EIO;
		} else {
			committed = 1;
		}
	} else if (c->t.ret < 0) {
		/* The store failed under the op: that, not the op's verdict,
		 * is the answer. */
		reg_fail(c, c->t.ret == -ENOSPC ? -ENOSPC : -EIO, "registry store: %s",
			 strerror(-c->t.ret));
		rc = c->t.ret == -ENOSPC ? -ENOSPC : -EIO;
	}
	store_txn_abort(&c->t);
	/* The audit module caches the chain head only once it is durable. */
	if (committed) {
		audit_txn_committed(db->audit);
		commit_memory(c);
		if (c->rep_metric == REG_REP_GOOD || c->rep_metric == REG_REP_BAD)
			db->rep_reports[c->rep_metric - REG_REP_GOOD]++;
		else if (c->rep_metric == REG_REP_BLOCK)
			db->rep_blocks++;
	} else
		audit_txn_aborted(db->audit);

	if (rc < 0) {
		/* Waiting for keys is not a refusal: nothing to log or audit
		 * until the request runs again. */
		if (!c->wait_net) {
			log_refusal(c, op, rc);
			security_audit(c, op, rc);
		}
		ret =
		    rdv_reply_error_code(rep, rc, c->code, c->msg); /* frees a reply built before */
		rep->wait_net = c->wait_net;
		goto out;
	}
	if (c->streaming) {
		rep->status = 200;
		rep->body = c->lines;
		rep->len = c->nlines;
		c->lines = NULL;
		rep->stream_node = c->self_id;
		rep->stream_seq = c->stream_seq;
	}
	if (c->admin && !c->internal)
		log_info("admin %s from %s: ok", op, c->peer_ip);
	else if (c->held)
		log_debug("%s from %s: %s", op, c->peer_ip, c->code);
	else if (!c->internal)
		log_debug("%s from %s (node %u): ok", op, c->peer_ip, c->self_id);
	reg_idset_sort_unique(&c->notify);
	for (size_t i = 0; db->notify && i < c->notify.n; i++)
		db->notify(db->notify_arg, c->notify.v[i]);
	ret = 0;
out:
	regmsg_req_free(&c->req);
	json_gen_free(&c->out);
	reg_idset_free(&c->notify);
	free(c->lines);
	free(c);
	return ret;
}

int rdv_reg_sweep(struct rdv_db *db, uint64_t now_ms)
{
	struct rdv_reply rep = {0};
	struct reg_ctx *c = ctx_new(db, "registry", now_ms);
	int ret;

	if (!c)
		return -ENOMEM;
	/* As an admin request with the registry as its actor: the same
	 * transaction, events and audit records as any other change. */
	c->admin = 1;
	c->internal = 1;
	store_txn_begin(db->st, &c->t, 0);
	ret = reg_ca_sweep(c);
	if (ret == 0)
		ret = reg_rep_sweep(c);
	ret = ctx_finish(c, ret, "cert_expiry", &rep);
	rdv_reply_free(&rep);
	return ret;
}

int rdv_reg_handle(struct rdv_db *db, const char *op, const char *body, size_t len,
		   const char *sig_b64, const char *peer_ip, uint64_t now_ms, struct rdv_reply *rep)
{
	const struct reg_op *o = find_op(reg_ops, nitems(reg_ops), op);
	struct reg_ctx *c;
	int ret;

	memset(rep, 0, sizeof(*rep));
	if (len > REGMSG_MAX_BODY) {
		ret = rdv_reply_error(rep, -E2BIG, "body larger than 16 KiB");
	} else if (!o) {
		ret = rdv_reply_error(rep, -ENOENT, "no such operation");
	} else {
		for (int run = 0;; run++) {
			c = ctx_new(db, peer_ip, now_ms);
			if (!c)
				return -ENOMEM;
			c->may_rerun = run < RDV_CONFLICT_RETRIES;
			ret = ctx_finish(c, handle(c, o, body, len, sig_b64), op, rep);
			if (ret != STORE_CONFLICT)
				break;
			rdv_db_sync(db);
		}
	}
	rep->op = o ? (int)(o - reg_ops) : OP_UNKNOWN_NODE;
	return ret;
}

static int admin_handle(struct reg_ctx *c, const struct reg_op *op, const char *admin_token,
			const char *auth, const char *body, size_t len)
{
	char err[160];
	int rc;

	if (!admin_token)
		return reg_fail(c, -EACCES, "admin API disabled");
	/* Begun before the token check: an org's token is found in the store.
	 * A refusal aborts it, changing nothing. */
	store_txn_begin(c->db->st, &c->t, 0);
	if ((rc = reg_admin_auth(c, admin_token, auth)) < 0)
		return rc;
	if (!op)
		return reg_fail(c, -ENOENT, "no such operation");
	if (c->org_scope && !op->org_ok)
		return reg_fail(c, -EACCES, "an org's admin token may not use '%s'", op->name);
	/* Only policy_set and network_create (a key set, a CA bundle) carry
	 * documents; the rest stay small. */
	rc = regmsg_parse_admin_max(body, len,
				    op->fn == reg_admin_policy_set ||
					    op->fn == reg_admin_network_create
					? REGMSG_MAX_POLICY_BODY
					: REGMSG_MAX_BODY,
				    op->keys, &c->req.root, err, sizeof(err));
	if (rc < 0)
		return reg_fail(c, rc == -E2BIG ? -E2BIG : -EINVAL, "%s: %s", op->name, err);
	c->body = body;
	c->body_len = len;
	if ((rc = op->fn(c)) < 0)
		return rc;
	return c->t.ret;
}

int rdv_admin_handle(struct rdv_db *db, const char *admin_token, const char *op, const char *body,
		     size_t len, const char *auth, const char *peer_ip, uint64_t now_ms,
		     struct rdv_reply *rep)
{
	const struct reg_op *o = find_op(admin_ops, nitems(admin_ops), op);
	struct reg_ctx *c;
	int ret;

	memset(rep, 0, sizeof(*rep));
	/* An admin reads what any replica wrote before (a network made
	 * through one, invited through the other): catch up first.  Rare
	 * requests; a node's own are not held up this way. */
	rdv_db_sync(db);
	for (int run = 0;; run++) {
		c = ctx_new(db, peer_ip, now_ms);
		if (!c)
			return -ENOMEM;
		c->admin = 1;
		c->may_rerun = run < RDV_CONFLICT_RETRIES;
		/* Logs name only known operations: the path is the client's text. */
		ret = ctx_finish(c, admin_handle(c, o, admin_token, auth, body, len),
				 o ? o->name : "(unknown operation)", rep);
		if (ret != STORE_CONFLICT)
			break;
		rdv_db_sync(db);
	}
	rep->op = o ? (int)(nitems(reg_ops) + (size_t)(o - admin_ops)) : OP_UNKNOWN_ADMIN;
	return ret;
}
