/* pilotd_peer.c - the peers this node may tunnel with, and what happens
 * when their basis changes: the peer for a node (from the trust table or
 * a shared network's member list), resolving its endpoint through the
 * registry, trust granted and revoked (from the registry or pilotctl),
 * cutting a peer's flows, and the trust and handshake events.  The data
 * path reaches these through its ops (dp.h); revocation handlers above
 * call them directly.  Whether a peer may tunnel at all is admit_peer's
 * answer (admit.c), asked here and in the data path alike. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bcn.h"
#include "dp.h"
#include "json.h"
#include "log.h"
#include "pilotd.h"
#include "util.h"

uint32_t pilotd_node_by_pk(struct pilotd *d, const uint8_t pk[32])
{
	struct trust_entry *te = trust_find_pk(&d->trust, pk);
	return te ? te->node_id : member_find_pk(&d->members, pk);
}

struct peer *pilotd_peer_for(struct pilotd *d, uint32_t node)
{
	struct peer *p = peer_find(&d->peers, node);
	struct trust_entry *te;
	struct member_entry *me;

	if (p)
		return p;
	/* The key this node consented to (trust), or the one its network lists. */
	te = trust_find(&d->trust, node);
	me = te ? NULL : member_any(&d->members, node);
	if (!te && !me)
		return NULL;
	p = peer_get(&d->peers, &d->id, node, te ? te->ed_pk : me->ed_pk);
	if (p)
		snprintf(p->hostname, sizeof(p->hostname), "%s", te ? te->hostname : me->hostname);
	return p;
}

void pilotd_flow_denied(struct pilotd *d, const struct pkt_info *pi, uint32_t node, int inbound,
			enum admit_reason why)
{
	char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];

	pilotd_audit_deny(d, pi, node, inbound, why);
	if (!log_enabled(LOG_LVL_DEBUG))
		return;
	if (!token_bucket_take(&d->deny_log_tb, 20, 50, now_mono_ms())) {
		d->deny_log_skipped++;
		return;
	}
	inet_ntop(AF_INET6, &pi->src, a, sizeof(a));
	inet_ntop(AF_INET6, &pi->dst, b, sizeof(b));
	log_debug("flow denied (%s) %s node %u: proto %u [%s]:%u -> [%s]:%u%s",
		  admit_reason_name(why), inbound ? "from" : "to", node, pi->proto, a, pi->sport, b,
		  pi->dport,
		  d->deny_log_skipped ? " (and more not logged: 20 a second at most)" : "");
	d->deny_log_skipped = 0;
}

struct resolve_arg {
	uint32_t node;
};

static void add_target(struct json_gen *j, void *arg)
{
	jg_ku64(j, "target", *(uint32_t *)arg);
}

/* Take the endpoint the registry gave; one that differs from what we
 * had has not yet answered us directly. */
static int resolved_ep(struct peer *p, const char *s)
{
	struct sockaddr_storage ep;
	socklen_t len;

	if (bcn_ep_parse(s, &ep, &len) < 0)
		return -EINVAL;
	if (len != p->eplen || memcmp(&ep, &p->ep, len) != 0)
		p->ep_direct_ok = 0;
	p->ep = ep;
	p->eplen = len;
	return 0;
}

static void on_resolved(struct pilotd *d, void *arg, int err, const char *code, const char *msg,
			yajl_val resp)
{
	struct resolve_arg *ra = arg;
	struct peer *p = peer_find(&d->peers, ra->node);
	const char *ep = NULL;
	uint8_t pk[32];

	free(ra);
	if (!p)
		return;
	p->resolving = 0;
	if (err == 0)
		pilotd_expiry_note(d, p->node_id, resp);
	if (err < 0) {
		log_info("cannot resolve node %u: %s: %s", p->node_id, code, msg);
	} else if (json_get_b64(resp, "public_key", pk, 32) < 0 || memcmp(pk, p->ed_pk, 32) != 0) {
		/* The key we consented to is the one that counts. */
		log_warnx("registry returned another key for node %u than the trusted one",
			  p->node_id);
	} else if (json_get_str(resp, "endpoint", &ep) < 0 || resolved_ep(p, ep) < 0) {
		int nat = 0;
		json_get_bool(resp, "behind_nat", &nat);
		log_info("node %u has no endpoint to try%s", p->node_id,
			 nat ? ": it is behind a NAT (punch or relay)" : " yet");
		if (nat)
			dp_punch_now(d, p);
	} else if (!p->restart_pending && p->hs_wanted) {
		/* The path is known once a record from the peer is authenticated. */
		dp_send_init(d, p);
	}
	if (p->restart_pending) {
		p->restart_pending = 0;
		dp_peer_restarted(d, p);
	}
}

/* A peer said to have restarted: the registry has its endpoint (which
 * may be new), and then the handshake goes out (dp_peer_restarted). */
void pilotd_peer_restarted(struct pilotd *d, uint32_t node)
{
	struct peer *p = peer_find(&d->peers, node);

	if (!p)
		return;
	p->restart_pending = 1;
	p->resolve_ms = 0;
	pilotd_resolve_peer(d, p);
	if (!p->resolving) {
		p->restart_pending = 0;
		dp_peer_restarted(d, p);
	}
}

void pilotd_resolve_peer(struct pilotd *d, struct peer *p)
{
	struct resolve_arg *ra;
	uint64_t now = now_mono_ms();

	if (p->resolving || (p->resolve_ms && now - p->resolve_ms < 1000))
		return;
	ra = malloc(sizeof(*ra));
	if (!ra)
		return;
	ra->node = p->node_id;
	p->resolving = 1;
	p->resolve_ms = now;
	if (regc_call(&d->regc, "resolve", add_target, &ra->node, on_resolved, ra) < 0) {
		p->resolving = 0;
		free(ra);
	}
}

unsigned pilotd_cut_peer(struct pilotd *d, uint32_t node, int forget_peer)
{
	struct peer *p = peer_find(&d->peers, node);
	struct dp_cut_sel sel = {.node = node};
	unsigned n = dp_cut_flows(d, &sel);

	if (p) {
		if (forget_peer)
			peer_remove(&d->peers, p);
		else
			peer_reset(&d->peers, p);
	}
	return n;
}

void pilotd_trust_added(struct pilotd *d, uint32_t node, const uint8_t pk[32], const char *hostname)
{
	int rc = trust_add(&d->trust, node, pk, hostname);
	if (rc < 0) {
		log_warnx("saving trust of node %u: %s", node, strerror(-rc));
		return;
	}
	log_info("node %u%s%s%s is now trusted", node, hostname && *hostname ? " (" : "",
		 hostname ? hostname : "", hostname && *hostname ? ")" : "");
	pilotd_audit_event(d, "trust.approved", node, NULL);
}

void pilotd_revise_peer(struct pilotd *d, uint32_t node)
{
	if (!admit_peer(&d->admit, node) && peer_find(&d->peers, node))
		pilotd_cut_peer(d, node, 1);
}

void pilotd_trust_revoked(struct pilotd *d, uint32_t node, const char *why)
{
	struct dp_cut_sel sel = {.node = node, .basis = FLOW_BASIS_TRUST};
	unsigned cut;

	if (trust_remove(&d->trust, node) == -ENOENT && !peer_find(&d->peers, node))
		return;
	/* Flows a shared network admitted stay; the rest go now. */
	cut = dp_cut_flows(d, &sel);
	/* The peer that untrusted us dropped the tunnel and its keys at once
	 * (SPEC 4), so ours are dead too: drop them now rather than after a
	 * rekey timeout, so a flow a shared network still allows handshakes
	 * afresh on its next packet. */
	if (admit_peer(&d->admit, node)) {
		struct peer *p = peer_find(&d->peers, node);
		if (p)
			peer_reset(&d->peers, p);
	}
	pilotd_revise_peer(d, node);
	log_info("trust with node %u removed (%s); %u flows cut", node, why, cut);
	{
		char q[128];
		json_quote(q, sizeof(q), why);
		pilotd_audit_event(d, "trust.revoked", node, "{\"reason\":%s,\"flows_cut\":%u}", q,
				   cut);
	}
}

/* The registry said these nodes are in a trust pair with us. */
void pilotd_sync_trust(struct pilotd *d, yajl_val peers)
{
	uint32_t *gone;
	size_t ngone = 0;

	if (!peers || !YAJL_IS_ARRAY(peers))
		return;
	gone = calloc(d->trust.count + 1, sizeof(*gone));
	if (!gone)
		return;
	/* Trusted here, no longer there: revoked while we were away. */
	for (uint32_t i = 0; i < d->trust.cap; i++) {
		const struct trust_entry *e = &d->trust.e[i];
		int found = 0;
		if (!e->used)
			continue;
		for (size_t k = 0; k < peers->u.array.len; k++) {
			uint32_t id;
			if (json_get_u32(peers->u.array.values[k], "node_id", &id) == 0 &&
			    id == e->node_id)
				found = 1;
		}
		if (!found)
			gone[ngone++] = e->node_id;
	}
	for (size_t i = 0; i < ngone; i++)
		pilotd_trust_revoked(d, gone[i], "revoked while offline");
	free(gone);
	/* There, and we had asked: approved while we were away. */
	for (size_t k = 0; k < peers->u.array.len; k++) {
		yajl_val pv = peers->u.array.values[k];
		uint32_t id;
		uint8_t pk[32];
		const char *hn = NULL;
		if (json_get_u32(pv, "node_id", &id) < 0 ||
		    json_get_b64(pv, "public_key", pk, 32) < 0)
			continue;
		json_get_str(pv, "hostname", &hn);
		pilotd_expiry_note(d, id, pv);
		if (!trust_find(&d->trust, id) && trust_was_asked(&d->trust, id))
			pilotd_trust_added(d, id, pk, hn);
	}
}

void pilotd_expiry_note(struct pilotd *d, uint32_t node, yajl_val lookup)
{
	uint64_t at = 0;

	/* Absent: the identity does not expire (or no longer does). */
	json_get_u64(lookup, "expires_at", &at);
	if (node == d->node_id)
		d->expires_at = at;
	else if (expiry_set(&d->expiry, node, at) < 0)
		log_warnx("node %u: no room to keep its identity's expiry", node);
}

int pilotd_parse_target(struct pilotd *d, const char *target, uint32_t *node)
{
	struct pilot_addr a;
	struct in6_addr ip;
	char *end;
	unsigned long v;

	if (!target || !*target)
		return -EINVAL;
	if (target[0] >= '0' && target[0] <= '9' && !strchr(target, ':')) {
		errno = 0;
		v = strtoul(target, &end, 10);
		if (errno || *end || v == 0 || v > UINT32_MAX)
			return -EINVAL;
		*node = (uint32_t)v;
		return 0;
	}
	if (addr_parse(target, &a) == 0) {
		if (a.node == 0)
			return -EINVAL;
		*node = a.node;
		return 0;
	}
	if (inet_pton(AF_INET6, target, &ip) == 1) {
		if (!d->have_prefix || addr_from_ipv6(&d->prefix, &ip, &a) < 0 || a.node == 0)
			return -EINVAL;
		*node = a.node;
		return 0;
	}
	/* A hostname we know from trust or a shared network (any other
	 * name: `pilotctl find` asks the registry). */
	{
		size_t tl = strlen(target);
		char want[64];
		if (tl > 6 && strcmp(target + tl - 6, ".pilot") == 0)
			tl -= 6;
		if (tl == 0 || tl >= sizeof(want))
			return -ENOENT;
		memcpy(want, target, tl);
		want[tl] = '\0';
		for (uint32_t i = 0; i < d->members.cap; i++) {
			const struct member_entry *e = &d->members.e[i];
			if (e->key && e->hostname[0] && strcmp(e->hostname, want) == 0) {
				*node = (uint32_t)e->key;
				return 0;
			}
		}
	}
	for (uint32_t i = 0; i < d->trust.cap; i++) {
		const struct trust_entry *e = &d->trust.e[i];
		size_t tl = strlen(target);
		if (!e->used || !e->hostname[0])
			continue;
		if (strcmp(e->hostname, target) == 0 ||
		    (tl > 6 && strcmp(target + tl - 6, ".pilot") == 0 &&
		     strlen(e->hostname) == tl - 6 && strncmp(e->hostname, target, tl - 6) == 0)) {
			*node = e->node_id;
			return 0;
		}
	}
	return -ENOENT;
}

/* The registry's trust, handshake and restart events about our peers. */
void pilotd_trust_event(struct pilotd *d, const char *name, yajl_val ev)
{
	uint32_t node = 0;

	if (strcmp(name, "trust.approved") == 0) {
		yajl_val pv = json_get(ev, "peer");
		uint8_t pk[32];
		const char *hn = NULL;
		if (json_get_u32(pv, "node_id", &node) < 0 ||
		    json_get_b64(pv, "public_key", pk, 32) < 0)
			return;
		json_get_str(pv, "hostname", &hn);
		/* Only a peer we asked for (or already trust), or one a network
		 * we belong to approved on our behalf (SPEC section 4; checked
		 * against our own member list), becomes trusted: the registry
		 * alone cannot make this node trust anyone. */
		uint32_t via = 0;
		json_get_u32(ev, "network_id", &via);
		if (trust_find(&d->trust, node) || trust_was_asked(&d->trust, node) ||
		    (via && via <= 65535 && member_net_find(&d->members, (uint16_t)via) &&
		     member_find(&d->members, (uint16_t)via, node)))
			pilotd_trust_added(d, node, pk, hn);
		else
			log_warnx(
			    "registry reported approval by node %u, which this node never asked; "
			    "ignored",
			    node);
	} else if (strcmp(name, "trust.revoked") == 0) {
		if (json_get_u32(ev, "node_id", &node) == 0)
			pilotd_trust_revoked(d, node, "revoked by the peer");
	} else if (strcmp(name, "handshake.rejected") == 0) {
		if (json_get_u32(ev, "node_id", &node) == 0) {
			trust_clear_asked(&d->trust, node);
			log_info("node %u rejected our handshake request", node);
			pilotd_audit_event(d, "handshake.rejected", node, "{\"by\":\"peer\"}");
		}
	} else if (strcmp(name, "handshake.received") == 0) {
		const char *why = "";
		json_get_u32(ev, "node_id", &node);
		json_get_str(ev, "justification", &why);
		log_info("handshake request from node %u: %s", node, why);
		{
			char q[600];
			if (json_quote(q, sizeof(q), why) < 0)
				snprintf(q, sizeof(q), "\"\"");
			pilotd_audit_event(d, "handshake.received", node, "{\"justification\":%s}",
					   q);
		}
	} else if (strcmp(name, "peer.restarted") == 0) {
		if (json_get_u32(ev, "node_id", &node) == 0)
			pilotd_peer_restarted(d, node);
	} else {
		log_debug("registry event %s", name);
	}
}
