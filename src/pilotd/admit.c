/* admit.c - see admit.h. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "admit.h"
#include "flow.h"
#include "util.h"

static const char *const reason_names[ADMIT_REASON_MAX] = {
    [ADMIT_OK] = "ok",
    [ADMIT_BLOCKED] = "blocked",
    [ADMIT_REVOKED] = "revoked",
    [ADMIT_NOT_TRUSTED] = "not_trusted",
    [ADMIT_POLICY] = "policy",
    [ADMIT_RATE_GLOBAL] = "syn_rate",
    [ADMIT_RATE_PEER] = "syn_rate_peer",
    [ADMIT_LIMIT_PORT] = "port_flow_limit",
    [ADMIT_LIMIT_TOTAL] = "flow_limit",
    [ADMIT_EXPIRED] = "identity_expired",
};

const char *admit_reason_name(enum admit_reason r)
{
	if ((unsigned)r >= nitems(reason_names) || !reason_names[r])
		return "unknown";
	return reason_names[r];
}

/* Rate tokens per second, burst = 2 s worth. */
static int tb_take(struct token_bucket *tb, uint32_t rate, uint64_t now_ms)
{
	return token_bucket_take(tb, rate, rate * 2, now_ms);
}

int admit_blocked(struct admit *a, uint32_t node)
{
	return a->ops->is_blocked && a->ops->is_blocked(a->ctx, node);
}

int admit_peer(struct admit *a, uint32_t node)
{
	/* A blocked node keeps its tunnel (it is still who it says): every
	 * flow on it is refused, and the refusal goes back through it so its
	 * programs fail at once instead of timing out (SPEC section 5).  A
	 * revoked identity proves nothing any more: no tunnel. */
	if (a->ops->is_revoked && a->ops->is_revoked(a->ctx, node))
		return 0;
	return (a->ops->is_trusted && a->ops->is_trusted(a->ctx, node)) ||
	       (a->ops->shares_any && a->ops->shares_any(a->ctx, node));
}

static enum admit_reason stage_blocklist(struct admit *a, struct admit_req *r)
{
	if (admit_blocked(a, r->peer_node))
		return ADMIT_BLOCKED;
	return ADMIT_OK;
}

static enum admit_reason stage_identity(struct admit *a, struct admit_req *r)
{
	if (a->ops->is_revoked && a->ops->is_revoked(a->ctx, r->peer_node))
		return ADMIT_REVOKED;
	if (a->ops->is_expired && a->ops->is_expired(a->ctx, r->peer_node))
		return ADMIT_EXPIRED;
	return ADMIT_OK;
}

/* Trust pair, or membership of the network the addresses are in (the
 * backbone, network 0, never admits by membership alone). */
static enum admit_reason stage_basis(struct admit *a, struct admit_req *r)
{
	if (r->net != 0 && a->ops->shares_network &&
	    a->ops->shares_network(a->ctx, r->peer_node, r->net)) {
		r->basis = FLOW_BASIS_NETWORK;
		r->basis_net = r->net;
		r->shared = 1;
		return ADMIT_OK;
	}
	if (a->ops->is_trusted && a->ops->is_trusted(a->ctx, r->peer_node)) {
		r->basis = FLOW_BASIS_TRUST;
		r->basis_net = 0;
		return ADMIT_OK;
	}
	return ADMIT_NOT_TRUSTED;
}

/* The port a policy speaks of: the responder's (destination) port. */
static uint16_t policy_port(const struct admit_req *r)
{
	const struct pkt_info *pi = r->pi;
	if (pi->kind == PKT_TCP || pi->kind == PKT_UDP)
		return pi->dport;
	return 0;
}

/* A flow a shared network admitted must also pass that network's policy
 * (networks without rules admit every member).  A trust pair is the
 * peers' own consent, so it still admits what the network's policy does
 * not. */
static enum admit_reason stage_policy(struct admit *a, struct admit_req *r)
{
	if (r->basis != FLOW_BASIS_NETWORK || !a->ops->policy_allows)
		return ADMIT_OK;
	if (a->ops->policy_allows(a->ctx, r->peer_node, r->basis_net, r->inbound, r->pi->proto,
				  policy_port(r)))
		return ADMIT_OK;
	if (a->ops->is_trusted && a->ops->is_trusted(a->ctx, r->peer_node)) {
		r->basis = FLOW_BASIS_TRUST;
		r->basis_net = 0;
		return ADMIT_OK;
	}
	return ADMIT_POLICY;
}

static struct admit_peer_bucket *bucket_of(struct admit_peer_bucket *tbl, uint32_t node)
{
	uint32_t i = (node * 2654435761u) % ADMIT_PEER_BUCKETS;

	for (uint32_t n = 0; n < 16; n++, i = (i + 1) % ADMIT_PEER_BUCKETS) {
		struct admit_peer_bucket *b = &tbl[i];
		if (b->node == node)
			return b;
		if (b->node == 0) {
			b->node = node;
			memset(&b->tb, 0, sizeof(b->tb));
			return b;
		}
	}
	/* Neighbourhood full: recycle the home slot (a fresh, full bucket is
	 * generous, but the global bucket still bounds the total). */
	i = (node * 2654435761u) % ADMIT_PEER_BUCKETS;
	tbl[i].node = node;
	memset(&tbl[i].tb, 0, sizeof(tbl[i].tb));
	return &tbl[i];
}

static struct admit_peer_bucket *peer_bucket(struct admit *a, uint32_t node)
{
	return bucket_of(a->peer_tb, node);
}

static enum admit_reason stage_limits(struct admit *a, struct admit_req *r)
{
	const struct pkt_info *pi = r->pi;
	uint16_t lport = r->inbound ? pi->dport : pi->sport;

	if (r->no_flow)
		return ADMIT_OK;
	if (a->max_flows && a->flows >= a->max_flows)
		return ADMIT_LIMIT_TOTAL;
	if (pi->kind == PKT_TCP || pi->kind == PKT_UDP) {
		if (a->max_flows_per_port && a->port_flows[lport] >= a->max_flows_per_port)
			return ADMIT_LIMIT_PORT;
	}
	if (pi->kind == PKT_TCP && r->inbound) {
		if (a->syn_rate_per_peer &&
		    !tb_take(&peer_bucket(a, r->peer_node)->tb, a->syn_rate_per_peer, r->now_ms))
			return ADMIT_RATE_PEER;
		if (a->syn_rate && !tb_take(&a->global_tb, a->syn_rate, r->now_ms))
			return ADMIT_RATE_GLOBAL;
	}
	return ADMIT_OK;
}

/* The pipeline, in the order SPEC section 5 gives. */
static const admit_stage_fn stages[] = {
    stage_blocklist, stage_identity, stage_basis, stage_policy, stage_limits,
};

int admit_init(struct admit *a, const struct admit_ops *ops, void *ctx)
{
	memset(a, 0, sizeof(*a));
	a->ops = ops;
	a->ctx = ctx;
	a->peer_tb = calloc(ADMIT_PEER_BUCKETS, sizeof(*a->peer_tb));
	a->refuse_tb = calloc(ADMIT_PEER_BUCKETS, sizeof(*a->refuse_tb));
	a->refuse_rate = ADMIT_REFUSE_RATE;
	a->port_flows = calloc(ADMIT_PORT_SLOTS, sizeof(*a->port_flows));
	if (!a->peer_tb || !a->refuse_tb || !a->port_flows) {
		admit_free(a);
		return -ENOMEM;
	}
	return 0;
}

void admit_free(struct admit *a)
{
	free(a->peer_tb);
	free(a->refuse_tb);
	free(a->port_flows);
	a->peer_tb = NULL;
	a->refuse_tb = NULL;
	a->port_flows = NULL;
}

enum admit_reason admit_check(struct admit *a, struct admit_req *r)
{
	for (size_t i = 0; i < nitems(stages); i++) {
		enum admit_reason why = stages[i](a, r);
		if (why != ADMIT_OK) {
			if (!r->no_flow)
				a->denied[why]++;
			return why;
		}
	}
	if (!r->no_flow)
		a->admitted++;
	return ADMIT_OK;
}

void admit_flow_added(struct admit *a, uint16_t lport)
{
	a->flows++;
	a->port_flows[lport]++;
}

void admit_flow_removed(struct admit *a, uint16_t lport)
{
	if (a->flows)
		a->flows--;
	if (a->port_flows[lport])
		a->port_flows[lport]--;
}

int admit_reason_answered(enum admit_reason r)
{
	switch (r) {
	case ADMIT_BLOCKED:
	case ADMIT_REVOKED:
	case ADMIT_EXPIRED:
	case ADMIT_NOT_TRUSTED:
	case ADMIT_POLICY:
	case ADMIT_LIMIT_PORT:
	case ADMIT_LIMIT_TOTAL:
		return 1;
	default:
		return 0;
	}
}

int admit_refusal_ok(struct admit *a, uint32_t node, uint64_t now_ms)
{
	/* tb_take reads last_ms 0 as a bucket never used: keep 0 a real time. */
	if (!a->refuse_rate || !a->refuse_tb || !node)
		return 0;
	return tb_take(&bucket_of(a->refuse_tb, node)->tb, a->refuse_rate, now_ms + 1);
}
