/* dp_bcast.c - broadcast datagrams to a network's members (SPEC section
 * 6).  Node ID 0xFFFFFFFF of network N is N's broadcast address.  A UDP
 * datagram a program sends there reaches pilot0 (pilotd_net.c routes it
 * here, with this node's own address in N as its source), and is sealed
 * once per member of N this node may reach: the same admission a first
 * packet to that member would meet (block list, identity, basis, N's
 * policy), but no flow - a broadcast is one-way, and each copy is
 * decided afresh, so a revocation takes effect on the next datagram.
 * A receiver decides for itself the same way before it writes the
 * datagram to pilot0, where sockets bound to :: or to the broadcast
 * address get it.
 *
 * Never on the backbone (network 0: every node is in it, so it would be
 * a way to reach all of them), UDP only, never answered (no RST/ICMPv6
 * back: a refusal to a broadcast would be an amplifier), and metered:
 * what this node sends to a network, what each sender sends it in a
 * network, and all of a network's senders together (broadcast_rate,
 * broadcast_burst; the last at ten times those). */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dp_int.h"
#include "log.h"
#include "member.h"
#include "pkt.h"
#include "util.h"

/* All of a network's senders together, at a receiver, may use this many
 * times one sender's rate and burst. */
#define BCAST_NET_FACTOR 10

static struct dp_bcast_net *bnet(struct dp_bcast *b, uint16_t net)
{
	struct dp_bcast_net *free_slot = NULL;

	for (unsigned i = 0; i < DP_BCAST_NETS; i++) {
		if (b->net[i].id == net)
			return &b->net[i];
		if (!b->net[i].id && !free_slot)
			free_slot = &b->net[i];
	}
	if (!free_slot)
		return NULL; /* more networks than anyone joins (MEMBER_MAX_NETS) */
	memset(free_slot, 0, sizeof(*free_slot));
	free_slot->id = net;
	return free_slot;
}

/* Per (network, sender) buckets at a receiver: open addressing over a
 * bounded table; a full neighbourhood recycles the home slot (a fresh
 * bucket is generous, but the network's own bucket still bounds all). */
static struct token_bucket *sender_bucket(struct dp_bcast *b, uint16_t net, uint32_t node)
{
	uint64_t key = (uint64_t)net << 32 | node;
	uint32_t home = (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 40) % DP_BCAST_SENDERS;
	uint32_t i = home;

	for (unsigned n = 0; n < 16; n++, i = (i + 1) % DP_BCAST_SENDERS) {
		if (b->sender[i].key == key)
			return &b->sender[i].tb;
		if (b->sender[i].key == 0) {
			b->sender[i].key = key;
			memset(&b->sender[i].tb, 0, sizeof(b->sender[i].tb));
			return &b->sender[i].tb;
		}
	}
	b->sender[home].key = key;
	memset(&b->sender[home].tb, 0, sizeof(b->sender[home].tb));
	return &b->sender[home].tb;
}

int dp_bcast_init(struct dp_bcast *b)
{
	memset(b, 0, sizeof(*b));
	b->sender = calloc(DP_BCAST_SENDERS, sizeof(*b->sender));
	return b->sender ? 0 : -ENOMEM;
}

void dp_bcast_free(struct dp_bcast *b)
{
	free(b->sender);
	b->sender = NULL;
}

void dp_bcast_forget(struct dp_bcast *b, uint16_t net)
{
	for (unsigned i = 0; i < DP_BCAST_NETS; i++)
		if (b->net[i].id == net)
			memset(&b->net[i], 0, sizeof(b->net[i]));
}

/* The members of one network, for the fan-out: the member table is keyed
 * by (network, node), so this is a scan of it, bounded by its size; at
 * broadcast rates that costs nothing worth an index. */
struct fanout {
	struct pilotd *d;
	const uint8_t *pkt;
	size_t len;
	const struct pkt_info *pi;
	uint16_t net;
	uint64_t now;
	struct dp_bcast_result *res;
};

static void fanout_one(struct fanout *fo, uint32_t node)
{
	struct pilotd *d = fo->d;
	struct admit_req r;
	enum admit_reason why;
	struct peer *p;

	memset(&r, 0, sizeof(r));
	r.peer_node = node;
	r.net = fo->net;
	r.inbound = 0;
	r.no_flow = 1;
	r.pi = fo->pi;
	r.now_ms = fo->now;
	why = admit_check(&d->admit, &r);
	if (why != ADMIT_OK) {
		fo->res->denied++;
		if (why == ADMIT_BLOCKED)
			fo->res->blocked++;
		else if (why == ADMIT_POLICY)
			fo->res->policy++;
		return;
	}
	p = d->dp_ops->peer_for(d, node);
	if (!p) {
		fo->res->unreachable++;
		return;
	}
	if (dp_relayed(d, p) && fo->len > dp_relay_mtu(d)) {
		/* The relay's frames must fit the underlay, and a broadcast
		 * cannot be fragmented (its copies are admitted by UDP port). */
		fo->res->too_big++;
		return;
	}
	if (!dp_session_ready(d, p, fo->now)) {
		/* Held until the handshake completes, like a first unicast
		 * packet (the queue is bounded per peer). */
		peer_queue_push(p, fo->pkt, fo->len);
		d->ctr.tx_queued++;
		dp_want_session(d, p);
	} else {
		dp_send_data_now(d, p, fo->pkt, fo->len);
	}
	fo->res->sent++;
}

int dp_bcast_out(struct pilotd *d, const uint8_t *pkt, size_t len, const struct pkt_info *pi,
		 uint16_t net, uint64_t now, struct dp_bcast_result *res)
{
	struct dp_bcast *b = &d->bcast;
	struct dp_bcast_net *bn;
	struct member_net *mn;
	struct fanout fo = {d, pkt, len, pi, net, now, res};

	memset(res, 0, sizeof(*res));
	if (net == 0 || pi->kind != PKT_UDP) {
		d->ctr.bcast_dropped++;
		return net == 0 ? -EACCES : -EPROTONOSUPPORT;
	}
	mn = member_net_find(&d->members, net);
	if (!mn || !mn->addr_up || !(bn = bnet(b, net))) {
		d->ctr.bcast_dropped++;
		return -ENOENT;
	}
	if (!d->bcast_rate) {
		d->ctr.bcast_dropped++;
		return -EPERM;
	}
	if (!token_bucket_take(&bn->tx_tb, d->bcast_rate, d->bcast_burst, now)) {
		d->ctr.bcast_tx_rate_limited++;
		bn->tx_rate_limited++;
		return -EBUSY;
	}
	d->ctr.bcast_tx++;
	bn->tx++;
	for (uint32_t i = 0; i < d->members.cap; i++) {
		uint64_t key = d->members.e[i].key;
		uint32_t node = (uint32_t)key;
		if (!key || (uint16_t)(key >> 32) != net || node == d->node_id)
			continue;
		fanout_one(&fo, node);
	}
	d->ctr.bcast_tx_copies += res->sent;
	d->ctr.bcast_tx_denied += res->denied;
	bn->tx_copies += res->sent;
	bn->tx_denied += res->denied;
	return 0;
}

int dp_bcast_in(struct pilotd *d, struct peer *p, const uint8_t *pkt, size_t len,
		const struct pkt_info *pi, uint16_t net, uint64_t now)
{
	struct dp_bcast *b = &d->bcast;
	struct dp_bcast_net *bn;
	struct member_net *mn;
	struct admit_req r;
	uint32_t net_rate = d->bcast_rate * BCAST_NET_FACTOR;
	uint32_t net_burst = d->bcast_burst * BCAST_NET_FACTOR;

	if (net == 0 || pi->kind != PKT_UDP || !(mn = member_net_find(&d->members, net)) ||
	    !mn->addr_up || !(bn = bnet(b, net))) {
		d->ctr.bcast_dropped++;
		return -EACCES;
	}
	if (!d->bcast_rate) {
		d->ctr.bcast_dropped++;
		return -EPERM;
	}
	if (!d->dp_ops->inbound_open(d)) {
		d->ctr.bcast_rx_denied++;
		bn->rx_denied++;
		return -EAGAIN;
	}
	/* Admission before the meters: a sender this node refuses must not
	 * use up the network's budget, which admitted senders share. */
	memset(&r, 0, sizeof(r));
	r.peer_node = p->node_id;
	r.net = net;
	r.inbound = 1;
	r.no_flow = 1;
	r.pi = pi;
	r.now_ms = now;
	if (admit_check(&d->admit, &r) != ADMIT_OK) {
		d->ctr.bcast_rx_denied++;
		bn->rx_denied++;
		return -EACCES;
	}
	/* The receiver meters too: a sender's own limit is its operator's
	 * choice, and a modified pilotd would ignore it. */
	if (!token_bucket_take(sender_bucket(b, net, p->node_id), d->bcast_rate, d->bcast_burst,
			       now) ||
	    !token_bucket_take(&bn->rx_tb, net_rate, net_burst, now)) {
		d->ctr.bcast_rx_rate_limited++;
		bn->rx_rate_limited++;
		return -EBUSY;
	}
	d->ctr.bcast_rx++;
	bn->rx++;
	(void)len;
	return 0;
}
