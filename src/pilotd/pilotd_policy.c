/* pilotd_policy.c - the block list, revoked nodes, network policy views and
 * orgs on the node: their admission callbacks, the registry events that
 * change them (node.revoked, policy.changed, synced), re-evaluation of live
 * flows when a view changes, and the control-socket commands block,
 * unblock, blocklist, policy.*, org.*. */
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
#include "pilotd_ipc.h"
#include "policy.h"
#include "util.h"

/* ---- admission callbacks ---- */

int pilotd_is_blocked(struct pilotd *d, uint32_t node)
{
	return nodeset_has(&d->blocked, node);
}

int pilotd_is_revoked(struct pilotd *d, uint32_t node)
{
	return nodeset_has(&d->revoked, node);
}

int pilotd_policy_allows(struct pilotd *d, uint32_t node, uint16_t net, int inbound, uint8_t proto,
			 uint16_t port)
{
	struct member_net *n = member_net_find(&d->members, net);

	if (!n)
		return 0;
	if (!n->view)
		/* Until the view is known a network that may have rules admits
		 * nothing: fail closed. */
		return !n->view_pending;
	if (!policy_view_default_deny(n->view))
		return 1;
	return policy_view_allows(n->view, node, inbound, proto, port);
}

/* ---- re-evaluating live flows ---- */

struct reeval_ctx {
	struct pilotd *d;
	uint16_t net;
	unsigned cut, moved;
};

static int reeval_visit(void *arg, struct flow *f)
{
	struct reeval_ctx *c = arg;
	struct pilotd *d = c->d;
	uint8_t proto = f->key.proto;
	uint16_t port = f->inbound ? f->key.lport : f->key.rport;

	if (f->basis != FLOW_BASIS_NETWORK || f->basis_net != c->net)
		return 0;
	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		port = 0;
	if (pilotd_policy_allows(d, f->peer_node, c->net, f->inbound, proto, port))
		return 0;
	if (trust_find(&d->trust, f->peer_node)) {
		f->basis = FLOW_BASIS_TRUST; /* the peers' own consent still holds */
		f->basis_net = 0;
		c->moved++;
		return 0;
	}
	dp_cut_one(d, f);
	admit_flow_removed(&d->admit, f->key.lport);
	c->cut++;
	return 1;
}

static unsigned reevaluate(struct pilotd *d, uint16_t net)
{
	struct reeval_ctx c = {d, net, 0, 0};
	flow_foreach(&d->flows, reeval_visit, &c);
	return c.cut;
}

/* ---- views ---- */

struct view_arg {
	uint16_t net;
	uint64_t version;
};

static void add_view_net(struct json_gen *j, void *arg)
{
	jg_ku64(j, "network_id", ((struct view_arg *)arg)->net);
}

static void on_view(struct pilotd *d, void *arg, int err, const char *code, const char *msg,
		    yajl_val resp)
{
	struct view_arg *va = arg;
	struct member_net *n = member_net_find(&d->members, va->net);
	struct policy_view *v = NULL;
	char perr[160];
	uint64_t version = 0;
	unsigned cut;

	if (!n)
		goto out;
	if (err < 0) {
		log_warnx("policy of network %u: %s: %s (its flows stay denied until it is known)",
			  va->net, code, msg);
		goto out;
	}
	if (policy_view_parse(resp, &v, perr, sizeof(perr)) < 0) {
		log_warnx("policy of network %u: the registry sent a bad view: %s", va->net, perr);
		goto out;
	}
	json_get_u64(resp, "version", &version);
	policy_view_free(n->view);
	n->view = v;
	n->view_pending = 0;
	n->policy_version = version;
	cut = reevaluate(d, va->net);
	log_info("policy of network %u: version %llu (%s); %u live flows cut", va->net,
		 (unsigned long long)version,
		 policy_view_default_deny(v) ? "default deny" : "no rules", cut);
	pilotd_audit_event(d, "policy.changed", 0,
			   "{\"network_id\":%u,\"version\":%llu,\"flows_cut\":%u}", va->net,
			   (unsigned long long)version, cut);
out:
	free(va);
}

void pilotd_policy_fetch(struct pilotd *d, uint16_t net)
{
	struct member_net *n = member_net_find(&d->members, net);
	struct view_arg *va;

	if (!n || !(va = calloc(1, sizeof(*va))))
		return;
	if (!n->view)
		n->view_pending = 1;
	va->net = net;
	if (regc_call(&d->regc, "policy_view", add_view_net, va, on_view, va) < 0)
		free(va);
}

/* ---- revocation ---- */

void pilotd_node_revoked(struct pilotd *d, uint32_t node, const char *why)
{
	unsigned cut;
	int had_trust = trust_find(&d->trust, node) != NULL;

	if (node == 0 || node == d->node_id)
		return;
	if (nodeset_add(&d->revoked, node) == -EEXIST && !had_trust && !peer_find(&d->peers, node))
		return;
	trust_remove(&d->trust, node);
	for (unsigned i = 0; i < d->members.nnets; i++)
		member_remove(&d->members, d->members.nets[i].id, node);
	cut = pilotd_cut_peer(d, node, 1);
	log_warnx("node %u revoked (%s): %u flows cut, tunnel torn down", node, why, cut);
	pilotd_audit_event(d, "node.revoked", node, "{\"flows_cut\":%u}", cut);
}

void pilotd_policy_event(struct pilotd *d, const char *name, yajl_val ev)
{
	uint32_t v = 0;

	if (strcmp(name, "node.revoked") == 0) {
		if (json_get_u32(ev, "node_id", &v) == 0)
			pilotd_node_revoked(d, v, "the registry revoked it");
	} else if (strcmp(name, "policy.changed") == 0) {
		if (json_get_u32(ev, "network_id", &v) == 0 && v && v <= 65535)
			pilotd_policy_fetch(d, (uint16_t)v);
	} else if (strcmp(name, "synced") == 0) {
		if (!d->synced)
			log_info("registry events caught up: admitting inbound flows");
		d->synced = 1;
	}
}

/* ---- IPC: block list ---- */

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
	 * the tunnel stays to carry the refusals (pilotd_peer_may_tunnel). */
	{
		struct dp_cut_sel sel = {.node = node};
		cut = dp_cut_flows(d, &sel);
	}
	pilotd_audit_event(d, "node.blocked", node, "{\"flows_cut\":%u}", cut);
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

/* Forward \p keys of \p args to the registry's node op or admin op. */
static void forward(struct pilotd *d, struct ipc_req *req, yajl_val args, const char *op, int admin,
		    const char *const *keys)
{
	struct fwd f = {args, keys};
	struct pend *p;
	int rc;

	if (!need_registered(d, req) || !(p = pend_new(req, 0)))
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

void cmd_policy_set(struct pilotd *d, struct ipc_req *req, yajl_val args)
{
	static const char *const k[] = {"network_id", "policy", NULL};
	forward(d, req, args, "policy_set", 1, k);
}

void cmd_policy_show(struct pilotd *d, struct ipc_req *req, yajl_val args)
{
	static const char *const k[] = {"network_id", NULL};
	forward(d, req, args, "policy_show", 0, k);
}

void cmd_policy_test(struct pilotd *d, struct ipc_req *req, yajl_val args)
{
	static const char *const k[] = {"network_id", "from", "to", "port", NULL};
	forward(d, req, args, "policy_test", 0, k);
}

void cmd_org_create(struct pilotd *d, struct ipc_req *req, yajl_val args)
{
	static const char *const k[] = {"name", NULL};
	forward(d, req, args, "org_create", 1, k);
}

void cmd_org_members(struct pilotd *d, struct ipc_req *req, yajl_val args)
{
	static const char *const k[] = {"org_id", NULL};
	forward(d, req, args, "org_members", 1, k);
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
	tok = pilotd_admin_token(d, args);
	if (!tok) {
		ipc_reply_error(req, "forbidden", "an admin token is needed",
				"pilotctl --admin-token T, or PILOT_ADMIN_TOKEN");
		return;
	}
	if (!need_registered(d, req) || !(p = pend_new(req, r.node)))
		return;
	if (regc_admin(&d->regc, "org_revoke", tok, add_revoke, &r, on_passthrough, p) < 0) {
		ipc_reply_error(req, "internal", "could not send the request", NULL);
		free(p);
	}
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
