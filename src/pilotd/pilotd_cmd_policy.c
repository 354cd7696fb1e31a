/* pilotd_cmd_policy.c - the control-socket commands block, unblock,
 * blocklist, policy.*, org.* and registration.*: local ones act at once
 * (a block cuts the node's flows before the answer), the rest go to the
 * registry, whose events then change this node's state (pilotd_policy.c). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dp.h"
#include "ipc.h"
#include "json.h"
#include "log.h"
#include "pilotd.h"
#include "pilotd_cmd.h"
#include "util.h"

/* ---- IPC: block list ---- */

/* ---- the registry hears of blocks (reputation) ---- */

struct rep_fwd {
	uint32_t node;
	int blocked;
	yajl_val args; /* report: verdict and reason */
};

static void add_block(struct json_gen *j, void *arg)
{
	struct rep_fwd *f = arg;

	jg_ku64(j, "target", f->node);
	jg_kbool(j, "blocked", f->blocked);
}

static void on_block_told(struct pilotd *d, void *arg, int err, const char *code, const char *msg,
			  yajl_val resp)
{
	(void)d;
	(void)resp;
	if (err < 0)
		log_warnx("telling the registry of the block of node %u: %s: %s (the local block "
			  "list stands)",
			  (unsigned)(uintptr_t)arg, code, msg);
}

/* Best effort: a standing block counts against the node's reputation;
 * the local block list decides admission whatever the registry says. */
static void tell_block(struct pilotd *d, uint32_t node, int blocked)
{
	struct rep_fwd f = {.node = node, .blocked = blocked};

	if (!d->regc.registered) {
		log_info("not registered: the registry does not hear of the %s of node %u",
			 blocked ? "block" : "unblock", node);
		return;
	}
	if (regc_call(&d->regc, "block", add_block, &f, on_block_told, (void *)(uintptr_t)node) < 0)
		log_warnx("could not tell the registry of the block of node %u", node);
}

void cmd_block(struct pilotd *d, struct ipc_req *req, yajl_val args)
{
	uint32_t node;
	unsigned cut;
	struct json_gen *j;
	int rc;

	if (!target_arg(d, req, args, &node))
		return;
	rc = nodeset_add(&d->blocked, node);
	if (rc < 0 && rc != -EEXIST) {
		ipc_reply_error(req, "internal", strerror(-rc), NULL);
		return;
	}
	/* Refused before everything else from now on, including live flows;
	 * the tunnel stays to carry the refusals (admit_peer, admit.c). */
	{
		struct dp_cut_sel sel = {.node = node};
		cut = dp_cut_flows(d, &sel);
	}
	pilotd_audit_event(d, "node.blocked", node, "{\"flows_cut\":%u}", cut);
	tell_block(d, node, 1);
	j = ipc_reply_ok_begin(req);
	jg_ku64(j, "node_id", node);
	jg_ku64(j, "flows_cut", cut);
	ipc_reply_ok_end(req);
}

void cmd_unblock(struct pilotd *d, struct ipc_req *req, yajl_val args)
{
	uint32_t node;
	struct json_gen *j;
	int rc;

	if (!target_arg(d, req, args, &node))
		return;
	rc = nodeset_del(&d->blocked, node);
	if (rc == -ENOENT) {
		ipc_reply_error(req, "not_found", "that node is not blocked", NULL);
		return;
	}
	if (rc < 0) {
		ipc_reply_error(req, "internal", strerror(-rc), NULL);
		return;
	}
	pilotd_audit_event(d, "node.unblocked", node, NULL);
	tell_block(d, node, 0);
	j = ipc_reply_ok_begin(req);
	jg_ku64(j, "node_id", node);
	ipc_reply_ok_end(req);
}

static void block_visit(void *arg, uint32_t id, uint64_t since)
{
	struct json_gen *j = arg;
	jg_map_open(j);
	jg_ku64(j, "node_id", id);
	jg_ku64(j, "since", since / 1000);
	jg_map_close(j);
}

void cmd_blocklist(struct pilotd *d, struct ipc_req *req, yajl_val args)
{
	struct json_gen *j;

	(void)args;
	j = ipc_reply_ok_begin(req);
	jg_key(j, "blocked");
	jg_array_open(j);
	nodeset_foreach(&d->blocked, block_visit, j);
	jg_array_close(j);
	jg_key(j, "revoked");
	jg_array_open(j);
	nodeset_foreach(&d->revoked, block_visit, j);
	jg_array_close(j);
	ipc_reply_ok_end(req);
}

/* ---- IPC: policy and orgs (answered by the registry) ---- */

/* The reply is the registry's object, member for member. */
static void on_passthrough(struct pilotd *d, void *arg, int err, const char *code, const char *msg,
			   yajl_val resp)
{
	struct pend *p = arg;
	struct json_gen *j;

	(void)d;
	if (err < 0) {
		reply_registry_error(p->req, code, msg);
	} else {
		j = ipc_reply_ok_begin(p->req);
		for (size_t i = 0; YAJL_IS_OBJECT(resp) && i < resp->u.object.len; i++) {
			jg_key(j, resp->u.object.keys[i]);
			json_gen_value(j, resp->u.object.values[i]);
		}
		ipc_reply_ok_end(p->req);
	}
	free(p);
}

struct fwd {
	yajl_val args;
	const char *const *keys;
};

static void add_fwd(struct json_gen *j, void *arg)
{
	struct fwd *f = arg;
	for (const char *const *k = f->keys; *k; k++) {
		yajl_val v = json_get(f->args, *k);
		if (v) {
			jg_key(j, *k);
			json_gen_value(j, v);
		}
	}
}

/* How a request goes to the registry: as this node's (signed), as the
 * admin's, or as the admin's before this node is registered (what
 * decides whether it may register at all). */
enum { FWD_NODE, FWD_ADMIN, FWD_ADMIN_ANYTIME };

/* Forward \p keys of \p args to the registry's node op or admin op. */
static void forward(struct pilotd *d, struct ipc_req *req, yajl_val args, const char *op, int admin,
		    const char *const *keys)
{
	struct fwd f = {args, keys};
	struct pend *p;
	int rc;

	if ((admin != FWD_ADMIN_ANYTIME && !need_registered(d, req)) || !(p = pend_new(req, 0)))
		return;
	if (admin) {
		const char *tok = pilotd_admin_token(d, args);
		if (!tok) {
			ipc_reply_error(req, "forbidden", "an admin token is needed",
					"pilotctl --admin-token T, or PILOT_ADMIN_TOKEN");
			free(p);
			return;
		}
		rc = regc_admin(&d->regc, op, tok, add_fwd, &f, on_passthrough, p);
	} else {
		rc = regc_call(&d->regc, op, add_fwd, &f, on_passthrough, p);
	}
	if (rc < 0) {
		ipc_reply_error(req, "internal", "could not send the request", NULL);
		free(p);
	}
}

/* ---- IPC: reputation (answered by the registry) ---- */

static void add_rep(struct json_gen *j, void *arg)
{
	static const char *const k[] = {"verdict", "reason", NULL};
	struct rep_fwd *f = arg;
	struct fwd fw = {f->args, k};

	jg_ku64(j, "target", f->node);
	add_fwd(j, &fw);
}

/* score and report: member "node" (ID, address, IPv6 or hostname) as the
 * registry's "target"; the registry's answer as it is. */
static void rep_forward(struct pilotd *d, struct ipc_req *req, yajl_val args, const char *op)
{
	struct rep_fwd f = {.args = args};
	const char *t = NULL;
	struct pend *p;
	int rc;

	if (!need_registered(d, req))
		return;
	if (json_get_str(args, "node", &t) < 0) {
		ipc_reply_error(req, "bad_request", "missing node",
				"a node ID, address, overlay IPv6 or hostname");
		return;
	}
	rc = pilotd_parse_target(d, t, &f.node);
	if (rc == -ENOENT) {
		ipc_reply_error(req, "not_found", "no such node", NULL);
		return;
	}
	if (rc < 0) {
		ipc_reply_error(req, "bad_request",
				"not a node ID, address, overlay IPv6 or hostname", NULL);
		return;
	}
	if (!(p = pend_new(req, f.node)))
		return;
	if (regc_call(&d->regc, op, add_rep, &f, on_passthrough, p) < 0) {
		ipc_reply_error(req, "internal", "could not send the request", NULL);
		free(p);
	}
}

void cmd_score(struct pilotd *d, struct ipc_req *req, yajl_val args)
{
	rep_forward(d, req, args, "score");
}

void cmd_report(struct pilotd *d, struct ipc_req *req, yajl_val args)
{
	const char *v = NULL;

	if (json_get_str(args, "verdict", &v) < 0 || (strcmp(v, "good") && strcmp(v, "bad"))) {
		ipc_reply_error(req, "bad_request", "verdict must be \"good\" or \"bad\"", NULL);
		return;
	}
	rep_forward(d, req, args, "report");
}

void cmd_policy_set(struct pilotd *d, struct ipc_req *req, yajl_val args)
{
	static const char *const k[] = {"network_id", "policy", NULL};
	forward(d, req, args, "policy_set", FWD_ADMIN, k);
}

void cmd_policy_show(struct pilotd *d, struct ipc_req *req, yajl_val args)
{
	static const char *const k[] = {"network_id", NULL};
	forward(d, req, args, "policy_show", FWD_NODE, k);
}

void cmd_policy_test(struct pilotd *d, struct ipc_req *req, yajl_val args)
{
	static const char *const k[] = {"network_id", "from", "to", "port", NULL};
	forward(d, req, args, "policy_test", FWD_NODE, k);
}

void cmd_org_create(struct pilotd *d, struct ipc_req *req, yajl_val args)
{
	static const char *const k[] = {"name", NULL};
	forward(d, req, args, "org_create", FWD_ADMIN, k);
}

void cmd_org_members(struct pilotd *d, struct ipc_req *req, yajl_val args)
{
	static const char *const k[] = {"org_id", NULL};
	forward(d, req, args, "org_members", FWD_ADMIN, k);
}

struct revoke_fwd {
	uint32_t node;
	yajl_val org;
};

static void add_revoke(struct json_gen *j, void *arg)
{
	struct revoke_fwd *r = arg;
	jg_ku64(j, "node_id", r->node);
	if (r->org) {
		jg_key(j, "org_id");
		json_gen_value(j, r->org);
	}
}

void cmd_org_revoke(struct pilotd *d, struct ipc_req *req, yajl_val args)
{
	struct revoke_fwd r;
	const char *tok = NULL;
	struct pend *p;

	if (!target_arg(d, req, args, &r.node))
		return;
	r.org = json_get(args, "org_id");
	tok = need_admin_token(d, req, args);
	if (!tok)
		return;
	if (!need_registered(d, req) || !(p = pend_new(req, r.node)))
		return;
	if (regc_admin(&d->regc, "org_revoke", tok, add_revoke, &r, on_passthrough, p) < 0) {
		ipc_reply_error(req, "internal", "could not send the request", NULL);
		free(p);
	}
}

/* ---- certificate revocation (ca networks) ---- */

struct ca_revoke_fwd {
	yajl_val net;
	const char *key; /* serial, fingerprint, public_key or node_id */
	const char *str;
	uint32_t node;
};

static void add_ca_revoke(struct json_gen *j, void *arg)
{
	struct ca_revoke_fwd *r = arg;

	jg_key(j, "network_id");
	json_gen_value(j, r->net);
	if (r->str)
		jg_kstr(j, r->key, r->str);
	else
		jg_ku64(j, r->key, r->node);
}

static int all_hex(const char *s, size_t n)
{
	return strlen(s) == n && strspn(s, "0123456789abcdefABCDEF") == n;
}

/* What `ca revoke NET ENTRY` names: 32 hex digits a serial, 64 a
 * fingerprint (a node certificate's or the CA's), a base64 Ed25519 key,
 * else a node (ID, address, IPv6 or hostname). */
void cmd_ca_revoke(struct pilotd *d, struct ipc_req *req, yajl_val args)
{
	struct ca_revoke_fwd r = {0};
	const char *tok, *e = NULL;
	uint8_t pk[33];
	struct pend *p;

	r.net = json_get(args, "network_id");
	if (!r.net || json_get_str(args, "entry", &e) < 0) {
		ipc_reply_error(req, "bad_request", "expected a network and what to revoke",
				"ca revoke NET SERIAL|FINGERPRINT|PUBLIC_KEY|NODE");
		return;
	}
	if (all_hex(e, 32)) {
		r.key = "serial";
		r.str = e;
	} else if (all_hex(e, 64)) {
		r.key = "fingerprint";
		r.str = e;
	} else if (strlen(e) == 44 && b64_decode(pk, sizeof(pk), e) == 32) {
		r.key = "public_key";
		r.str = e;
	} else if (pilotd_parse_target(d, e, &r.node) == 0) {
		r.key = "node_id";
	} else {
		ipc_reply_error(
		    req, "bad_request", "not a serial, fingerprint, public key or node",
		    "32 or 64 hex digits, a base64 key, or a node ID, address or hostname");
		return;
	}
	tok = need_admin_token(d, req, args);
	if (!tok)
		return;
	if (!need_registered(d, req) || !(p = pend_new(req, 0)))
		return;
	if (regc_admin(&d->regc, "ca_revoke", tok, add_ca_revoke, &r, on_passthrough, p) < 0) {
		ipc_reply_error(req, "internal", "could not send the request", NULL);
		free(p);
	}
}

/* ---- identity expiry ---- */

struct expire_fwd {
	uint32_t node;
	uint64_t at;
};

static void add_expire(struct json_gen *j, void *arg)
{
	struct expire_fwd *e = arg;

	jg_ku64(j, "node_id", e->node);
	jg_ku64(j, "expires_at", e->at);
}

void cmd_node_expire(struct pilotd *d, struct ipc_req *req, yajl_val args)
{
	struct expire_fwd e = {0};
	const char *t = NULL, *tok;
	struct pend *p;

	if (json_get_str(args, "target", &t) < 0 || pilotd_parse_target(d, t, &e.node) < 0 ||
	    json_get_u64(args, "expires_at", &e.at) < 0) {
		ipc_reply_error(req, "bad_request",
				"expected a node and expires_at (Unix s, 0 never)",
				"node expire NODE TIME|never");
		return;
	}
	if (!(tok = need_admin_token(d, req, args)))
		return;
	if (!need_registered(d, req) || !(p = pend_new(req, e.node)))
		return;
	if (regc_admin(&d->regc, "node_expire", tok, add_expire, &e, on_passthrough, p) < 0) {
		ipc_reply_error(req, "internal", "could not send the request", NULL);
		free(p);
	}
}

void cmd_ca_crl(struct pilotd *d, struct ipc_req *req, yajl_val args)
{
	static const char *const k[] = {"network_id", NULL};
	const char *tok = NULL;

	/* A member asks as itself; with an admin token, as the admin. */
	json_get_str(args, "admin_token", &tok);
	forward(d, req, args, "ca_crl", tok && *tok ? FWD_ADMIN : FWD_NODE, k);
}

static void on_enroll(struct pilotd *d, void *arg, int err, const char *code, const char *msg,
		      yajl_val resp)
{
	struct pend *p = arg;
	yajl_val joined = json_get(resp, "joined");
	struct json_gen *j;

	if (registry_failed(p->req, err, code, msg))
		goto out;
	j = ipc_reply_ok_begin(p->req);
	jg_key(j, "org_id");
	json_gen_value(j, json_get(resp, "org_id"));
	jg_key(j, "networks");
	jg_array_open(j);
	for (size_t i = 0; joined && YAJL_IS_ARRAY(joined) && i < joined->u.array.len; i++) {
		yajl_val e = joined->u.array.values[i], nw = json_get(e, "network");
		const char *name = NULL, *rule = NULL;
		uint32_t id;
		if (json_get_u32(nw, "network_id", &id) < 0 || id == 0 || id > 65535)
			continue;
		json_get_str(nw, "name", &name);
		json_get_str(nw, "join_rule", &rule);
		/* (joining fetches the network's policy view) */
		pilotd_net_joined(d, (uint16_t)id, name, rule, json_get(e, "members"));
		jg_u64(j, id);
	}
	jg_array_close(j);
	ipc_reply_ok_end(p->req);
out:
	free(p);
}

void cmd_org_enroll(struct pilotd *d, struct ipc_req *req, yajl_val args)
{
	static const char *const k[] = {"org_id", "token", NULL};
	struct fwd f = {args, k};
	struct pend *p;

	if (!need_registered(d, req) || !(p = pend_new(req, 0)))
		return;
	if (regc_call(&d->regc, "org_enroll", add_fwd, &f, on_enroll, p) < 0) {
		ipc_reply_error(req, "internal", "could not send the request", NULL);
		free(p);
	}
}

/* ---- IPC: registration of new keys (admin; answered by the registry) ---- */

void cmd_registration_token(struct pilotd *d, struct ipc_req *req, yajl_val args)
{
	static const char *const k[] = {"uses", "ttl", NULL};
	forward(d, req, args, "registration_token", FWD_ADMIN_ANYTIME, k);
}

void cmd_registration_tokens(struct pilotd *d, struct ipc_req *req, yajl_val args)
{
	static const char *const k[] = {NULL};
	forward(d, req, args, "registration_tokens", FWD_ADMIN_ANYTIME, k);
}

void cmd_registration_revoke_token(struct pilotd *d, struct ipc_req *req, yajl_val args)
{
	static const char *const k[] = {"token_id", NULL};
	forward(d, req, args, "registration_token_revoke", FWD_ADMIN_ANYTIME, k);
}

void cmd_registration_pending(struct pilotd *d, struct ipc_req *req, yajl_val args)
{
	static const char *const k[] = {NULL};
	forward(d, req, args, "registration_pending", FWD_ADMIN_ANYTIME, k);
}

void cmd_registration_approve(struct pilotd *d, struct ipc_req *req, yajl_val args)
{
	static const char *const k[] = {"public_key", NULL};
	forward(d, req, args, "registration_approve", FWD_ADMIN_ANYTIME, k);
}

void cmd_registration_reject(struct pilotd *d, struct ipc_req *req, yajl_val args)
{
	static const char *const k[] = {"public_key", NULL};
	forward(d, req, args, "registration_reject", FWD_ADMIN_ANYTIME, k);
}
