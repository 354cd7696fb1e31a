/* pilotd_policy.c - the block list, revoked nodes, network policy views and
 * orgs on the node: their admission callbacks, the registry events that
 * change them (node.revoked, policy.changed, synced), and re-evaluation of
 * live flows when a view changes.  Its commands are pilotd_cmd_policy.c. */
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
	} else if (strcmp(name, "node.expiry") == 0) {
		if (json_get_u32(ev, "node_id", &v) == 0 && v)
			pilotd_expiry_note(d, v, ev);
	} else if (strcmp(name, "policy.changed") == 0) {
		if (json_get_u32(ev, "network_id", &v) == 0 && v && v <= 65535)
			pilotd_policy_fetch(d, (uint16_t)v);
	} else if (strcmp(name, "synced") == 0) {
		if (!d->synced)
			log_info("registry events caught up: admitting inbound flows");
		d->synced = 1;
	}
}

int pilotd_inbound_open(struct pilotd *d)
{
	/* A registry that stays unreachable must not keep the node dark for
	 * ever: after a grace period flows are admitted on what is known. */
	return d->synced || (!d->regc.connected && now_mono_ms() - d->started_ms > 15000);
}
