/* pilotd_cmd_node.c - the control-socket commands about this node and its
 * trust pairs (doc/IPC.md): info, status, prefix, peers, peer, resolve,
 * handshake, pending, approve, reject, trust, untrust. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bcn.h"
#include "dp.h"
#include "ipc.h"
#include "log.h"
#include "pilotd.h"
#include "pilotd_cmd.h"
#include "util.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0"
#endif

/* Peers with a session that are not trusted (reached through a shared
 * network). */
struct np_ctx {
	struct pilotd *d;
	struct json_gen *j; /* NULL: count only */
	unsigned n;
};

static void gen_peer(struct pilotd *d, struct json_gen *j, uint32_t node, const uint8_t *pk,
		     const char *hostname, int trusted);

static void np_visit(void *arg, struct peer *p)
{
	struct np_ctx *c = arg;
	if (trust_find(&c->d->trust, p->node_id))
		return;
	c->n++;
	if (c->j)
		gen_peer(c->d, c->j, p->node_id, p->ed_pk, p->hostname, 0);
}

static unsigned count_member_peers(struct pilotd *d)
{
	struct np_ctx c = {d, NULL, 0};
	peer_foreach(&d->peers, np_visit, &c);
	return c.n;
}

void cmd_info(struct pilotd *d, struct ipc_req *req, yajl_val args)
{
	struct json_gen *j;
	char pk[64], px[64];

	(void)args;
	j = ipc_reply_ok_begin(req);
	/* Before registration there may be no ID yet: say why, never
	 * "node 0".  An ID kept from an earlier run is still this node's. */
	jg_kbool(j, "registered", d->regc.registered);
	if (!d->regc.registered) {
		jg_kstr(j, "reason", d->regc.reg_reason);
		jg_kstr(j, "message", d->regc.reg_message);
	}
	if (d->node_id && d->have_prefix) {
		jg_ku64(j, "node_id", d->node_id);
		gen_addr(d, j, 0, d->node_id);
	}
	jg_kstr(j, "hostname", d->hostname);
	b64_encode(pk, sizeof(pk), d->ed_pk, 32);
	jg_kstr(j, "public_key", pk);
	/* When this identity ends (identity_lifetime, node expire); null: never. */
	jg_key(j, "expires_at");
	if (d->expires_at)
		jg_u64(j, d->expires_at);
	else
		jg_null(j);
	jg_kstr(j, "prefix", d->have_prefix ? prefix_format(&d->prefix, px, sizeof(px)) : "");
	/* Our reputation as the registry last answered it; null before. */
	jg_key(j, "score");
	if (d->regc.have_score)
		jg_u64(j, (uint64_t)d->regc.score);
	else
		jg_null(j);
	jg_key(j, "networks");
	jg_array_open(j);
	if (d->node_id && d->have_prefix) {
		jg_map_open(j);
		jg_ku64(j, "network_id", 0);
		gen_addr(d, j, 0, d->node_id);
		jg_map_close(j);
	}
	for (unsigned i = 0; d->node_id && d->have_prefix && i < d->members.nnets; i++) {
		const struct member_net *n = &d->members.nets[i];
		jg_map_open(j);
		jg_ku64(j, "network_id", n->id);
		gen_addr(d, j, n->id, d->node_id);
		jg_kstr(j, "name", n->name);
		if (n->external_id[0]) {
			jg_kstr(j, "external_id", n->external_id);
			jg_kstr(j, "external_issuer", n->external_issuer);
		}
		if (n->cert_not_after)
			jg_ku64(j, "credential_not_after", n->cert_not_after);
		jg_map_close(j);
	}
	jg_array_close(j);
	jg_ku64(j, "peers", d->trust.count + count_member_peers(d));
	jg_kstr(j, "visibility", d->public_ ? "public" : "private");
	ipc_reply_ok_end(req);
}

struct peers_ctx {
	struct pilotd *d;
	struct json_gen *j;
};

/* The members of one peer object, inside a map the caller opened. */
static void gen_peer_body(struct pilotd *d, struct json_gen *j, uint32_t node, const uint8_t *pk,
			  const char *hostname, int trusted)
{
	struct peer *p = peer_find(&d->peers, node);
	char ep[64], why[48];

	jg_ku64(j, "node_id", node);
	gen_addr(d, j, 0, node);
	jg_kstr(j, "hostname", hostname ? hostname : "");
	jg_kb64(j, "public_key", pk, 32);
	jg_kbool(j, "trusted", trusted);
	jg_kstr(j, "path", p && p->cur ? peer_path_name(p->path) : "none");
	/* Why (doc/NAT.md "Why a path is relayed"), and the punches tried. */
	jg_kstr(j, "path_reason",
		p && p->cur ? dp_path_reason(p, pilotd_bcn_ready(d),
					     d->netcheck.mapping == NC_MAP_EDM, why, sizeof(why))
			    : "no_session");
	jg_ku64(j, "punch_attempts", p ? p->punch_attempts : 0);
	jg_key(j, "last_punch");
	if (p && p->last_punch_real_ms)
		jg_u64(j, p->last_punch_real_ms / 1000);
	else
		jg_null(j);
	/* Where records go now (the beacon, when relayed), and the peer's
	 * direct endpoint as last seen. */
	if (p && p->cur && p->path == PATH_RELAYED && d->bcn.have_key) {
		jg_kstr(j, "endpoint", bcn_ep_format6(&d->bcn.addr, ep, sizeof(ep)));
	} else {
		jg_kstr(j, "endpoint", p && p->eplen ? bcn_ep_format(&p->ep, ep, sizeof(ep)) : "");
	}
	jg_kstr(j, "direct_endpoint", p && p->eplen ? bcn_ep_format(&p->ep, ep, sizeof(ep)) : "");
	jg_ku64(j, "last_handshake", p ? p->last_handshake_real_ms / 1000 : 0);
	jg_ku64(j, "rx_bytes", p ? p->rx_bytes : 0);
	jg_ku64(j, "tx_bytes", p ? p->tx_bytes : 0);
	jg_kbool(j, "session", p && p->cur);
}

static void gen_peer(struct pilotd *d, struct json_gen *j, uint32_t node, const uint8_t *pk,
		     const char *hostname, int trusted)
{
	jg_map_open(j);
	gen_peer_body(d, j, node, pk, hostname, trusted);
	jg_map_close(j);
}

static void peers_visit(void *arg, const struct trust_entry *e)
{
	struct peers_ctx *c = arg;
	gen_peer(c->d, c->j, e->node_id, e->ed_pk, e->hostname, 1);
}

static void gen_peers(struct pilotd *d, struct json_gen *j)
{
	struct peers_ctx c = {d, j};

	struct np_ctx nc = {d, j, 0};

	jg_key(j, "peers");
	jg_array_open(j);
	trust_foreach(&d->trust, peers_visit, &c);
	peer_foreach(&d->peers, np_visit, &nc);
	jg_array_close(j);
}

void cmd_peers(struct pilotd *d, struct ipc_req *req, yajl_val args)
{
	(void)args;
	gen_peers(d, ipc_reply_ok_begin(req));
	ipc_reply_ok_end(req);
}

/* One peer, as in peers: cheap enough to ask between two echoes (pilotctl
 * ping follows the path with it).  A node with neither a trust pair nor a
 * session is not_found. */
void cmd_peer(struct pilotd *d, struct ipc_req *req, yajl_val args)
{
	struct trust_entry *te;
	struct peer *p;
	uint32_t node;

	if (!target_arg(d, req, args, &node))
		return;
	te = trust_find(&d->trust, node);
	p = peer_find(&d->peers, node);
	if (!te && !p) {
		ipc_reply_error(req, "not_found", "no trust pair and no session with that node",
				"see `pilotctl peers`");
		return;
	}
	gen_peer_body(d, ipc_reply_ok_begin(req), node, te ? te->ed_pk : p->ed_pk,
		      te ? te->hostname : p->hostname, te != NULL);
	ipc_reply_ok_end(req);
}

void cmd_resolve(struct pilotd *d, struct ipc_req *req, yajl_val args)
{
	struct trust_entry *te;
	struct json_gen *j;
	uint32_t node;

	if (!need_registered(d, req) || !target_arg(d, req, args, &node))
		return;
	te = trust_find(&d->trust, node);
	j = ipc_reply_ok_begin(req);
	jg_ku64(j, "node_id", node);
	gen_addr(d, j, 0, node);
	jg_kstr(j, "hostname", te ? te->hostname : "");
	ipc_reply_ok_end(req);
}

/* ---- registry-backed commands ---- */

static void add_target_just(struct json_gen *j, void *arg)
{
	struct pend *p = arg;
	jg_ku64(j, "target", p->node);
	jg_kstr(j, "justification", p->text);
}

static void on_handshake(struct pilotd *d, void *arg, int err, const char *code, const char *msg,
			 yajl_val resp)
{
	struct pend *p = arg;
	const char *status = "pending";
	struct json_gen *j;

	(void)d;
	if (err < 0) {
		reply_registry_error(p->req, code, msg);
	} else {
		json_get_str(resp, "status", &status);
		pilotd_audit_event(d, "handshake.sent", p->node, "{\"status\":\"%s\"}",
				   strcmp(status, "approved") == 0 ? "approved" : "pending");
		j = ipc_reply_ok_begin(p->req);
		jg_ku64(j, "node_id", p->node);
		jg_kstr(j, "status", status);
		ipc_reply_ok_end(p->req);
	}
	free(p);
}

void cmd_handshake(struct pilotd *d, struct ipc_req *req, yajl_val args)
{
	const char *just = "";
	uint32_t node;
	struct pend *p;

	if (!need_registered(d, req) || !target_arg(d, req, args, &node))
		return;
	json_get_str(args, "justification", &just);
	if (strlen(just) > 256) {
		ipc_reply_error(req, "bad_request", "justification longer than 256 bytes", NULL);
		return;
	}
	if (!(p = pend_new(req, node)))
		return;
	snprintf(p->text, sizeof(p->text), "%s", just);
	/* Record our consent first: the approval may arrive as an event
	 * before the registry's answer to this very request. */
	if (trust_mark_asked(&d->trust, node) < 0) {
		ipc_reply_error(req, "internal", "could not record the request", NULL);
		free(p);
		return;
	}
	pend_call(d, p, "handshake", add_target_just, on_handshake);
}

static void on_inbox(struct pilotd *d, void *arg, int err, const char *code, const char *msg,
		     yajl_val resp)
{
	struct pend *p = arg;
	yajl_val reqs = json_get(resp, "requests");
	struct json_gen *j;

	if (err < 0) {
		reply_registry_error(p->req, code, msg);
		free(p);
		return;
	}
	j = ipc_reply_ok_begin(p->req);
	jg_key(j, "pending");
	jg_array_open(j);
	for (size_t i = 0; reqs && YAJL_IS_ARRAY(reqs) && i < reqs->u.array.len; i++) {
		yajl_val r = reqs->u.array.values[i];
		const char *hn = "", *just = "";
		uint32_t node = 0;
		uint64_t ts = 0;
		if (json_get_u32(r, "node_id", &node) < 0)
			continue;
		json_get_str(r, "hostname", &hn);
		json_get_str(r, "justification", &just);
		json_get_u64(r, "ts", &ts);
		jg_map_open(j);
		jg_ku64(j, "node_id", node);
		gen_addr(d, j, 0, node);
		jg_kstr(j, "hostname", hn);
		jg_kstr(j, "justification", just);
		jg_ku64(j, "received", ts / 1000);
		jg_map_close(j);
	}
	jg_array_close(j);
	ipc_reply_ok_end(p->req);
	free(p);
}

void cmd_pending(struct pilotd *d, struct ipc_req *req, yajl_val args)
{
	(void)args;
	registry_call(d, req, "inbox", on_inbox);
}

static void on_approve(struct pilotd *d, void *arg, int err, const char *code, const char *msg,
		       yajl_val resp)
{
	struct pend *p = arg;
	yajl_val pv = json_get(resp, "peer");
	const char *hn = NULL;
	uint8_t pk[32];
	struct json_gen *j;

	if (registry_failed(p->req, err, code, msg))
		goto out;
	if (json_get_b64(pv, "public_key", pk, 32) < 0) {
		ipc_reply_error(p->req, "internal", "registry reply lacks the peer's key", NULL);
		goto out;
	}
	json_get_str(pv, "hostname", &hn);
	pilotd_trust_added(d, p->node, pk, hn);
	j = ipc_reply_ok_begin(p->req);
	jg_ku64(j, "node_id", p->node);
	gen_addr(d, j, 0, p->node);
	ipc_reply_ok_end(p->req);
out:
	free(p);
}

void cmd_approve(struct pilotd *d, struct ipc_req *req, yajl_val args)
{
	target_call(d, req, args, "approve", on_approve);
}

static void on_simple(struct pilotd *d, void *arg, int err, const char *code, const char *msg,
		      yajl_val resp)
{
	struct pend *p = arg;
	struct json_gen *j;

	(void)resp;
	if (err == 0)
		pilotd_audit_event(d, "handshake.rejected", p->node, "{\"by\":\"this node\"}");
	if (err < 0) {
		reply_registry_error(p->req, code, msg);
	} else {
		j = ipc_reply_ok_begin(p->req);
		jg_ku64(j, "node_id", p->node);
		ipc_reply_ok_end(p->req);
	}
	free(p);
}

void cmd_reject(struct pilotd *d, struct ipc_req *req, yajl_val args)
{
	target_call(d, req, args, "reject", on_simple);
}

static void on_untrust(struct pilotd *d, void *arg, int err, const char *code, const char *msg,
		       yajl_val resp)
{
	struct pend *p = arg;
	struct json_gen *j;

	(void)d;
	(void)resp;
	if (err < 0) {
		char m[400];
		snprintf(
		    m, sizeof(m),
		    "trust removed on this node (%s flows cut), but the registry was not told: %s",
		    p->text, msg);
		ipc_reply_error(p->req, code, m,
				"run `pilotctl untrust` again when the registry is back");
	} else {
		j = ipc_reply_ok_begin(p->req);
		jg_ku64(j, "node_id", p->node);
		jg_ku64(j, "flows_cut", strtoul(p->text, NULL, 10));
		ipc_reply_ok_end(p->req);
	}
	free(p);
}

void cmd_untrust(struct pilotd *d, struct ipc_req *req, yajl_val args)
{
	uint32_t node;
	unsigned cut;
	struct pend *p;

	if (!need_registered(d, req) || !target_arg(d, req, args, &node) ||
	    !(p = pend_new(req, node)))
		return;
	/* Act here first and at once: the tunnel and every flow go now,
	 * whether or not the registry can be reached. */
	cut = pilotd_cut_peer(d, node, 1);
	trust_remove(&d->trust, node);
	log_info("untrusted node %u; %u flows cut", node, cut);
	pilotd_audit_event(d, "trust.revoked", node,
			   "{\"reason\":\"untrusted by this node\",\"flows_cut\":%u}", cut);
	snprintf(p->text, sizeof(p->text), "%u", cut);
	pend_call(d, p, "untrust", add_target, on_untrust);
}

static void trust_visit(void *arg, const struct trust_entry *e)
{
	struct peers_ctx *c = arg;

	jg_map_open(c->j);
	jg_ku64(c->j, "node_id", e->node_id);
	gen_addr(c->d, c->j, 0, e->node_id);
	jg_kstr(c->j, "hostname", e->hostname);
	jg_kb64(c->j, "public_key", e->ed_pk, 32);
	jg_ku64(c->j, "since", e->since / 1000);
	jg_map_close(c->j);
}

void cmd_trust(struct pilotd *d, struct ipc_req *req, yajl_val args)
{
	struct peers_ctx c = {d, NULL};

	(void)args;
	c.j = ipc_reply_ok_begin(req);
	jg_key(c.j, "trusted");
	jg_array_open(c.j);
	trust_foreach(&d->trust, trust_visit, &c);
	jg_array_close(c.j);
	ipc_reply_ok_end(req);
}

void cmd_status(struct pilotd *d, struct ipc_req *req, yajl_val args)
{
	struct json_gen *j;

	(void)args;
	j = ipc_reply_ok_begin(req);
	jg_kstr(j, "version", PACKAGE_VERSION);
	jg_ku64(j, "uptime", (now_mono_ms() - d->started_ms) / 1000);
	pilotd_health(d, j);
	if (d->node_id)
		jg_ku64(j, "node_id", d->node_id);
	jg_key(j, "score");
	if (d->regc.have_score)
		jg_u64(j, (uint64_t)d->regc.score);
	else
		jg_null(j);
	jg_key(j, "registry");
	jg_map_open(j);
	jg_kstr(j, "address", regc_addr(&d->regc));
	if (d->regc.nurls > 1) {
		jg_key(j, "addresses");
		jg_array_open(j);
		for (size_t i = 0; i < d->regc.nurls; i++)
			jg_str(j, d->regc.addrs[i]);
		jg_array_close(j);
		jg_ku64(j, "failovers", d->regc.failovers);
	}
	jg_kbool(j, "registered", d->regc.registered);
	if (!d->regc.registered) {
		jg_kstr(j, "reason", d->regc.reg_reason);
		jg_kstr(j, "message", d->regc.reg_message);
	}
	jg_kbool(j, "connected", d->regc.connected);
	jg_ku64(j, "last_ok_seconds_ago",
		d->regc.last_ok_ms ? (now_mono_ms() - d->regc.last_ok_ms) / 1000 : 0);
	jg_kstr(j, "last_error", d->regc.last_error);
	jg_kbool(j, "events_stream", d->regc.events_req != NULL);
	jg_map_close(j);
	pilotd_bcn_status(d, j);
	pilotd_spiffe_status(d, j);
	pilotd_dns_status(d, j);
	jg_key(j, "tun");
	jg_map_open(j);
	jg_kstr(j, "name", d->cfg.tun);
	jg_ku64(j, "mtu", d->cfg.mtu);
	jg_kbool(j, "up", d->tun_up);
	/* What the kernel granted: each falls back on its own (doc/PROTOCOL.md
	 * "Offloads"). */
	jg_key(j, "offload");
	jg_map_open(j);
	jg_kbool(j, "vnet_hdr", d->tun.vnet);
	jg_kbool(j, "tso", d->tun.tso);
	jg_kbool(j, "udp_gso", d->udp_gso);
	jg_kbool(j, "udp_gro", d->udp_gro);
	jg_map_close(j);
	jg_map_close(j);
	jg_ku64(j, "listen_port", d->cfg.listen_port);
	jg_ku64(j, "flows", d->flows.count);
	jg_kstr(j, "cipher",
		tnl_local_caps() & TNL_CAP_AES256GCM ? "aes-256-gcm" : "chacha20-poly1305");
	jg_key(j, "counters");
	jg_map_open(j);
#define X(n) jg_ku64(j, #n, d->ctr.n);
	PILOTD_COUNTERS(X)
#undef X
	for (int r = 1; r < ADMIT_REASON_MAX; r++) {
		char k[64];
		snprintf(k, sizeof(k), "denied_%s", admit_reason_name((enum admit_reason)r));
		jg_ku64(j, k, d->admit.denied[r]);
	}
	jg_map_close(j);
	gen_peers(d, j);
	ipc_reply_ok_end(req);
}

void cmd_prefix(struct pilotd *d, struct ipc_req *req, yajl_val args)
{
	struct json_gen *j;
	char px[64];

	(void)args;
	if (!need_registered(d, req))
		return;
	j = ipc_reply_ok_begin(req);
	jg_kstr(j, "prefix", prefix_format(&d->prefix, px, sizeof(px)));
	ipc_reply_ok_end(req);
}
