/* pilotd_net.c - networks and this node's registry-side settings:
 * joining and leaving (addresses on pilot0, member lists for admission,
 * cutting what a left network admitted), the registry's membership and
 * key-rotation events, auto-join at start-up, and the settings (hostname,
 * visibility, tags) the node re-asserts at every registration. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dp.h"
#include "json.h"
#include "log.h"
#include "nl.h"
#include "pilotd.h"
#include "store.h"
#include "util.h"

/* ---- addresses ---- */

static void net_addr(struct pilotd *d, uint16_t net, struct in6_addr *ip)
{
	struct pilot_addr a = {net, d->node_id};
	addr_to_ipv6(&d->prefix, &a, ip);
}

/* Network \p net's broadcast address, as a program sees it (SPEC section 6).
 *
 * - it is an address of pilot0 (no prefix route), so a socket may bind to it;
 * - its local route is taken out of the kernel's local table, so what
 *   programs send to it is routed to pilot0 (pilotd fans it out) instead
 *   of looping back;
 * - a /128 route through pilot0 names our own address in N as the source
 *   (otherwise the kernel would pick the broadcast address itself, being
 *   "the same address" as the destination);
 * - a local route for it in broadcast_table, which the rule "iif pilot0"
 *   (pilotd.c) consults, delivers what arrives from pilot0 to sockets.
 *
 * Best effort: a failure is logged and leaves unicast untouched. */
/* Ticks (pilotd.c: ten a second) a broadcast address's local route is
 * looked for before giving up. */
#define BCAST_ROUTE_TRIES 50

static void bcast_addr(struct pilotd *d, uint16_t net, struct in6_addr *bc)
{
	struct pilot_addr a = {net, PILOT_NODE_BROADCAST};
	addr_to_ipv6(&d->prefix, &a, bc);
}

static void net_bcast_up(struct pilotd *d, struct member_net *n, const struct in6_addr *self)
{
	struct in6_addr bc;
	int rc, tries;

	bcast_addr(d, n->id, &bc);
	if ((rc = nl_addr6_add_bind_only(d->nl, d->tun.ifindex, &bc, 128)) < 0)
		goto fail;
	/* The kernel installs the address's local route from its addrconf
	 * worker, just after our ACK: a few short tries here, then from the
	 * tick (pilotd_bcast_tick) rather than hold the event loop. */
	for (tries = 0; tries < 3; tries++) {
		rc = nl_route6_local(d->nl, 0, d->tun.ifindex, &bc, RT_TABLE_LOCAL);
		if (rc != -ESRCH)
			break;
		usleep(1000);
	}
	n->bcast_pending = rc == -ESRCH ? BCAST_ROUTE_TRIES : 0;
	if ((rc < 0 && rc != -ESRCH) ||
	    (rc = nl_route6_add_src(d->nl, d->tun.ifindex, &bc, 128, self)) < 0 ||
	    (rc = nl_route6_local(d->nl, 1, d->tun.ifindex, &bc, d->cfg.broadcast_table)) < 0)
		goto fail;
	return;
fail:
	log_warnx("network %u: its broadcast address is not set up: %s", n->id, strerror(-rc));
}

void pilotd_bcast_tick(struct pilotd *d)
{
	for (unsigned i = 0; i < d->members.nnets; i++) {
		struct member_net *n = &d->members.nets[i];
		struct in6_addr bc;
		int rc;

		if (!n->bcast_pending || !n->addr_up || !d->tun_up)
			continue;
		bcast_addr(d, n->id, &bc);
		rc = nl_route6_local(d->nl, 0, d->tun.ifindex, &bc, RT_TABLE_LOCAL);
		if (rc == -ESRCH && --n->bcast_pending)
			continue;
		if (rc < 0)
			log_warnx(
			    "network %u: the kernel's local route of its broadcast address %s: "
			    "broadcasts sent here may loop back instead of reaching members",
			    n->id, rc == -ESRCH ? "never appeared" : strerror(-rc));
		n->bcast_pending = 0;
	}
}

static void net_bcast_down(struct pilotd *d, uint16_t net)
{
	struct in6_addr bc;

	bcast_addr(d, net, &bc);
	/* The address takes its main-table route along; the local route in
	 * broadcast_table is ours to remove. */
	nl_route6_local(d->nl, 0, d->tun.ifindex, &bc, d->cfg.broadcast_table);
	nl_addr6_del(d->nl, d->tun.ifindex, &bc, 128);
}

static void net_addr_up(struct pilotd *d, struct member_net *n)
{
	struct in6_addr ip;
	char buf[INET6_ADDRSTRLEN];
	int rc;

	if (!d->tun_up || n->addr_up)
		return;
	net_addr(d, n->id, &ip);
	rc = nl_addr6_add(d->nl, d->tun.ifindex, &ip, 64);
	if (rc < 0) {
		log_warnx("adding %s for network %u: %s",
			  inet_ntop(AF_INET6, &ip, buf, sizeof(buf)), n->id, strerror(-rc));
		return;
	}
	n->addr_up = 1;
	net_bcast_up(d, n, &ip);
}

#define BCAST_AUDIT_MS 60000

void pilotd_bcast_audit(struct pilotd *d, uint64_t now)
{
	if (now - d->bcast_audit_ms < BCAST_AUDIT_MS)
		return;
	for (unsigned i = 0; i < DP_BCAST_NETS; i++) {
		struct dp_bcast_net *b = &d->bcast.net[i];
		if (!b->id ||
		    !(b->tx | b->tx_rate_limited | b->rx | b->rx_denied | b->rx_rate_limited))
			continue;
		pilotd_audit_event(
		    d, "broadcast.summary", 0,
		    "{\"network_id\":%u,\"seconds\":%llu,\"sent\":%llu,"
		    "\"copies\":%llu,\"denied_out\":%llu,\"rate_limited_out\":%llu,"
		    "\"received\":%llu,\"denied_in\":%llu,\"rate_limited_in\":%llu}",
		    b->id,
		    (unsigned long long)(d->bcast_audit_ms ? (now - d->bcast_audit_ms) / 1000
							   : BCAST_AUDIT_MS / 1000),
		    (unsigned long long)b->tx, (unsigned long long)b->tx_copies,
		    (unsigned long long)b->tx_denied, (unsigned long long)b->tx_rate_limited,
		    (unsigned long long)b->rx, (unsigned long long)b->rx_denied,
		    (unsigned long long)b->rx_rate_limited);
		b->tx = b->tx_copies = b->tx_denied = b->tx_rate_limited = 0;
		b->rx = b->rx_denied = b->rx_rate_limited = 0;
	}
	d->bcast_audit_ms = now;
}

void pilotd_net_addrs_up(struct pilotd *d)
{
	for (unsigned i = 0; i < d->members.nnets; i++)
		net_addr_up(d, &d->members.nets[i]);
}

/* ---- membership ---- */

/* A member's certificate not-after (ca networks), 0 if none: in member
 * lists as certificate.not_after, in network.joined as cert_not_after. */
static uint64_t member_not_after(yajl_val m)
{
	uint64_t v = 0;

	if (json_get_u64(json_get(m, "certificate"), "not_after", &v) == 0 ||
	    json_get_u64(m, "cert_not_after", &v) == 0 ||
	    json_get_u64(m, "credential_not_after", &v) == 0)
		return v;
	return 0;
}

static void add_members(struct pilotd *d, uint16_t net, yajl_val arr)
{
	for (size_t i = 0; arr && YAJL_IS_ARRAY(arr) && i < arr->u.array.len; i++) {
		yajl_val m = arr->u.array.values[i];
		const char *hn = NULL;
		uint32_t id;
		uint8_t pk[32];
		if (json_get_u32(m, "node_id", &id) < 0 ||
		    json_get_b64(m, "public_key", pk, 32) < 0 || id == d->node_id)
			continue;
		json_get_str(m, "hostname", &hn);
		member_add(&d->members, net, id, pk, hn);
		member_set_expiry(&d->members, net, id, member_not_after(m));
		pilotd_expiry_note(d, id, m);
	}
}

int pilotd_net_joined(struct pilotd *d, uint16_t net, const char *name, const char *rule,
		      yajl_val members)
{
	struct member_net *n;
	int rc;

	if (net == 0)
		return -EINVAL;
	rc = member_net_add(&d->members, net, name ? name : "", rule ? rule : "");
	if (rc < 0) {
		log_warnx("saving membership of network %u: %s", net, strerror(-rc));
		return rc;
	}
	member_clear_net(&d->members, net);
	add_members(d, net, members);
	n = member_net_find(&d->members, net);
	net_addr_up(d, n);
	pilotd_policy_fetch(d, net);
	pilotd_audit_event(d, "network.joined", 0, "{\"network_id\":%u}", net);
	log_info("member of network %u (%s), %u other members known", net, n->name,
		 (unsigned)(members && YAJL_IS_ARRAY(members) ? members->u.array.len : 0));
	return 0;
}

struct revise_ctx {
	uint32_t *nodes;
	size_t n, cap;
};

unsigned pilotd_net_left(struct pilotd *d, uint16_t net, const char *why)
{
	struct member_net *n = member_net_find(&d->members, net);
	struct dp_cut_sel sel = {.basis = FLOW_BASIS_NETWORK, .net = net};
	struct in6_addr ip;
	uint32_t *former = NULL;
	size_t nformer = 0;
	unsigned cut;

	if (!n)
		return 0;
	/* Who was reachable through it: re-check them once it is gone. */
	former = calloc(d->members.count + 1, sizeof(*former));
	for (uint32_t i = 0; former && i < d->members.cap; i++)
		if (d->members.e[i].key && (uint16_t)(d->members.e[i].key >> 32) == net)
			former[nformer++] = (uint32_t)d->members.e[i].key;
	cut = dp_cut_flows(d, &sel);
	dp_bcast_forget(&d->bcast, net);
	if (n->addr_up && d->tun_up) {
		net_bcast_down(d, net);
		net_addr(d, net, &ip);
		nl_addr6_del(d->nl, d->tun.ifindex, &ip, 64);
	}
	if (member_net_remove(&d->members, net) < 0)
		log_warnx("forgetting network %u failed", net);
	for (size_t i = 0; i < nformer; i++)
		pilotd_revise_peer(d, former[i]);
	free(former);
	log_info("left network %u (%s); %u flows cut", net, why, cut);
	pilotd_audit_event(d, "network.left", 0, "{\"network_id\":%u,\"flows_cut\":%u}", net, cut);
	return cut;
}

/* ---- refresh and auto-join after registration ---- */

struct net_arg {
	uint16_t net;
	char token[1025]; /* the registry takes tokens of up to 1024 characters */
	struct pilotd *d; /* network_join: our certificates are offered */
};

static void add_net_id(struct json_gen *j, void *arg)
{
	jg_ku64(j, "network_id", ((struct net_arg *)arg)->net);
}

static void on_nodes_refresh(struct pilotd *d, void *arg, int err, const char *code,
			     const char *msg, yajl_val resp)
{
	struct net_arg *na = arg;

	if (err < 0) {
		if (strcmp(code, "forbidden") == 0 || strcmp(code, "not_found") == 0) {
			/* No longer a member (removed or deleted while away). */
			pilotd_net_left(d, na->net, "the registry no longer lists this node");
		} else {
			log_warnx("refreshing members of network %u: %s: %s", na->net, code, msg);
		}
	} else {
		member_clear_net(&d->members, na->net);
		add_members(d, na->net, json_get(resp, "nodes"));
		pilotd_policy_fetch(d, na->net);
	}
	free(na);
}

static void add_join(struct json_gen *j, void *arg)
{
	struct net_arg *na = arg;
	jg_ku64(j, "network_id", na->net);
	if (na->token[0])
		jg_kstr(j, "token", na->token);
	else if (na->d) {
		/* The network's rule takes what it needs; the rest is ignored. */
		pilotd_certs_put(na->d, j);
		pilotd_tokens_put(na->d, j);
	}
}

static void on_autojoin(struct pilotd *d, void *arg, int err, const char *code, const char *msg,
			yajl_val resp)
{
	struct net_arg *na = arg;
	yajl_val nw = json_get(resp, "network");
	const char *name = NULL, *rule = NULL;

	if (err < 0) {
		log_errorx("joining network %u (from the configuration) failed: %s: %s", na->net,
			   code, msg);
	} else {
		json_get_str(nw, "name", &name);
		json_get_str(nw, "join_rule", &rule);
		if (pilotd_net_joined(d, na->net, name, rule, json_get(resp, "members")) == 0)
			pilotd_net_cert(d, na->net, nw);
	}
	free(na);
}

/* "ID" or "ID:TOKEN" */
static int parse_net_spec(const char *spec, struct net_arg *na)
{
	char *end;
	unsigned long v = strtoul(spec, &end, 10);

	if (end == spec || v == 0 || v > 65535 || (*end && *end != ':'))
		return -EINVAL;
	memset(na, 0, sizeof(*na));
	na->net = (uint16_t)v;
	/* Too long is refused, not cut: a cut token would never match. */
	if (*end == ':' &&
	    snprintf(na->token, sizeof(na->token), "%s", end + 1) >= (int)sizeof(na->token))
		return -EINVAL;
	return 0;
}

int pilotd_check_networks_cfg(char **specs, char *err, size_t errlen)
{
	struct net_arg na;
	for (char **s = specs; s && *s; s++) {
		if (parse_net_spec(*s, &na) < 0) {
			/* Quote the ID only: what follows ':' is a token. */
			snprintf(
			    err, errlen,
			    "networks: '%.*s%s': expected ID or ID:TOKEN (ID 1-65535, TOKEN at "
			    "most 1024 characters)",
			    (int)strcspn(*s, ":"), *s, strchr(*s, ':') ? ":***" : "");
			return -EINVAL;
		}
	}
	return 0;
}

static void add_tags(struct json_gen *j, void *arg)
{
	struct pilotd *d = arg;
	const char *p = d->tags;

	jg_key(j, "tags");
	jg_array_open(j);
	while (*p) {
		size_t n = strcspn(p, ",");
		if (n)
			jg_strn(j, p, n);
		p += n + (p[n] == ',');
	}
	jg_array_close(j);
}

void pilotd_after_register(struct pilotd *d)
{
	/* Tags are not part of registration: re-assert them. */
	if (d->tags[0])
		regc_call(&d->regc, "set_tags", add_tags, d, NULL, NULL);
	for (unsigned i = 0; i < d->members.nnets; i++) {
		struct net_arg *na = calloc(1, sizeof(*na));
		if (!na)
			continue;
		na->net = d->members.nets[i].id;
		if (regc_call(&d->regc, "network_nodes", add_net_id, na, on_nodes_refresh, na) < 0)
			free(na);
	}
	pilotd_join_configured(d);
}

void pilotd_join_configured(struct pilotd *d)
{
	if (!d->regc.registered)
		return;
	for (char **s = d->cfg.networks; s && *s; s++) {
		struct net_arg *na = calloc(1, sizeof(*na));
		if (!na)
			continue;
		if (parse_net_spec(*s, na) < 0 || member_net_find(&d->members, na->net)) {
			free(na); /* already a member: joining is idempotent */
			continue;
		}
		na->d = d;
		if (regc_call(&d->regc, "network_join", add_join, na, on_autojoin, na) < 0)
			free(na);
	}
}

/* ---- events ---- */

void pilotd_net_event(struct pilotd *d, const char *name, yajl_val ev)
{
	uint32_t net32 = 0, node = 0;
	uint8_t pk[32];

	json_get_u32(ev, "network_id", &net32);
	if (strcmp(name, "network.joined") == 0) {
		yajl_val pv = json_get(ev, "peer");
		const char *hn = NULL;
		if (net32 == 0 || net32 > 65535 || !member_net_find(&d->members, (uint16_t)net32) ||
		    json_get_u32(pv, "node_id", &node) < 0 ||
		    json_get_b64(pv, "public_key", pk, 32) < 0)
			return;
		json_get_str(pv, "hostname", &hn);
		member_add(&d->members, (uint16_t)net32, node, pk, hn);
		member_set_expiry(&d->members, (uint16_t)net32, node, member_not_after(pv));
		pilotd_expiry_note(d, node, pv);
		log_info("node %u joined network %u", node, net32);
		pilotd_policy_fetch(d, (uint16_t)net32);
	} else if (strcmp(name, "network.left") == 0) {
		struct dp_cut_sel sel = {.basis = FLOW_BASIS_NETWORK, .net = (uint16_t)net32};
		if (net32 == 0 || net32 > 65535 || json_get_u32(ev, "node_id", &node) < 0)
			return;
		if (node == d->node_id) {
			pilotd_net_left(d, (uint16_t)net32, "removed by the registry");
			return;
		}
		member_remove(&d->members, (uint16_t)net32, node);
		sel.node = node;
		dp_cut_flows(d, &sel);
		pilotd_revise_peer(d, node);
		log_info("node %u left network %u", node, net32);
	} else if (strcmp(name, "network.deleted") == 0) {
		if (net32 && net32 <= 65535)
			pilotd_net_left(d, (uint16_t)net32, "network deleted");
	} else if (strcmp(name, "peer.key_rotated") == 0) {
		struct trust_entry *te;
		struct peer *p;
		if (json_get_u32(ev, "node_id", &node) < 0 ||
		    json_get_b64(ev, "public_key", pk, 32) < 0)
			return;
		te = trust_find(&d->trust, node);
		if (te)
			trust_add(&d->trust, node, pk, te->hostname);
		member_set_pk(&d->members, node, pk);
		/* Its sessions were made with the old key: start over. */
		p = peer_find(&d->peers, node);
		if (p)
			peer_get(&d->peers, &d->id, node, pk);
		log_info("node %u rotated its key", node);
	}
}
