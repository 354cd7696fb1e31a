/* test_dp.c - the data path (dp*.c) on its own: two nodes in one process,
 * each a minimal struct pilotd (identity, peer and flow tables, admission
 * with the test's admit_ops) with the test's struct dp_ops, a dummy TUN
 * (a SOCK_SEQPACKET socketpair, so packet boundaries hold) and dp_init's
 * own UDP socket, talking over ::1.  No pilotd.c: what the data path asks
 * of the daemon is answered here, and recorded.
 *
 * The event loop is ours: poll(2) over the sockets, calling
 * dp_tun_readable/dp_udp_readable, bounded in rounds and in time.  For
 * the tamper and replay tests the nodes talk through a relay of ours on
 * ::1 that forwards every datagram and changes or repeats one.
 *
 * Broadcast (dp_bcast.c): both nodes may join networks of their own
 * member tables, where the "extra" nodes below are members too: A's
 * peer_for gives them peers without an endpoint (no session, only a
 * handshake wanted), so a fan-out's copies to them stay queued where the
 * test can count them. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>

#include "addr.h"
#include "dp.h"
#include "dp_int.h"
#include "pilotd.h"
#include "pkt.h"
#include "util.h"

#define NODE_A 0x0a0a0001u
#define NODE_B 0x0b0b0002u
#define PUMP_ROUNDS 2000
#define PUMP_MAX_MS 3000
#define PUMP_IDLE_MS 50 /* nothing happened this long: the exchange is over */

/* One node, and what its dp_ops and admit_ops were asked. */
struct side {
	struct pilotd *d;
	struct side *other;
	uint8_t ed_sk[64], ed_pk[32];
	struct sockaddr_in6 self_ep;  /* its UDP socket on ::1 */
	struct sockaddr_in6 other_ep; /* where peer_for says the other node is */
	/* admit_ops answers about the other node */
	int trusted, shares_any, blocked;
	/* ... and about any node (0: none) */
	uint32_t blocked_node, refused_node; /* block list; the policy refuses it */
	int policy_inbound;		     /* recorded: the last policy question's */
	/* recorded */
	unsigned established, denied, resolves;
	uint32_t asked[32]; /* the nodes peer_for was asked about, in order */
	unsigned nasked;
	enum admit_reason last_why;
	uint32_t last_denied_node;
	int last_inbound;
};

/* The relay: A's peer entry for B points at face_a, B hears A from face_b. */
enum relay_mode { RELAY_PASS, RELAY_FLIP, RELAY_REPEAT };

struct relay {
	int face_a, face_b;
	struct sockaddr_in6 face_a_ep, a_ep;
	enum relay_mode mode;
	int done; /* the one record was changed or repeated */
	uint8_t saved[DP_BUFSZ];
	size_t savedlen;
};

/* Nodes other than A and B, members of the networks a test sets up. */
#define NODE_C 0x0c0c0003u
#define NODE_D 0x0d0d0004u
#define NODE_E 0x0e0e0005u
#define NODE_F 0x0f0f0006u
#define NODE_G 0x01010007u
#define NODE_H 0x02020008u /* a member peer_for knows no peer for */
#define NEXTRA 16

static struct world {
	struct side a, b;
	struct relay r;
	int relayed;
	struct {
		uint32_t node;
		uint8_t ed_pk[32];
	} extra[NEXTRA];
} w;

static const struct pilot_prefix test_prefix = {{0xfd, 0x7e, 0x57, 0xd0, 0x0d, 0x01}};

static struct side *side_of(const struct pilotd *d)
{
	return d == w.a.d ? &w.a : &w.b;
}

/* ------------------------------------------------------------ dp_ops */

/* An extra node's key (made on first use), or NULL for NODE_H and when
 * the table is full. */
static const uint8_t *extra_pk(uint32_t node)
{
	uint8_t sk[64];

	if (node == NODE_H)
		return NULL;
	for (unsigned i = 0; i < NEXTRA; i++) {
		if (w.extra[i].node == node)
			return w.extra[i].ed_pk;
		if (!w.extra[i].node) {
			assert_int_equal(crypto_sign_keypair(w.extra[i].ed_pk, sk), 0);
			w.extra[i].node = node;
			return w.extra[i].ed_pk;
		}
	}
	return NULL;
}

static struct peer *t_peer_for(struct pilotd *d, uint32_t node)
{
	struct side *s = side_of(d);
	const uint8_t *pk;
	struct peer *p;

	if (s->nasked < nitems(s->asked))
		s->asked[s->nasked++] = node;
	if (node != s->other->d->node_id) {
		pk = extra_pk(node);
		return pk ? peer_get(&d->peers, &d->id, node, pk) : NULL;
	}
	p = peer_get(&d->peers, &d->id, node, s->other->ed_pk);
	if (p && !p->eplen) {
		memcpy(&p->ep, &s->other_ep, sizeof(s->other_ep));
		p->eplen = sizeof(s->other_ep);
	}
	return p;
}

static void t_resolve_peer(struct pilotd *d, struct peer *p)
{
	(void)p;
	side_of(d)->resolves++;
}

static uint32_t t_node_by_pk(struct pilotd *d, const uint8_t pk[32])
{
	struct side *s = side_of(d);

	return memcmp(pk, s->other->ed_pk, 32) == 0 ? s->other->d->node_id : 0;
}

static int t_inbound_open(struct pilotd *d)
{
	(void)d;
	return 1;
}

static void t_flow_denied(struct pilotd *d, const struct pkt_info *pi, uint32_t node, int inbound,
			  enum admit_reason why)
{
	struct side *s = side_of(d);

	(void)pi;
	s->denied++;
	s->last_why = why;
	s->last_denied_node = node;
	s->last_inbound = inbound;
}

static void t_tunnel_established(struct pilotd *d, uint32_t node, const char *role)
{
	struct side *s = side_of(d);

	assert_int_equal(node, s->other->d->node_id);
	assert_string_equal(role, "initiator");
	s->established++;
}

/* No beacon in these tests: never ready, so nothing may be relayed or
 * punched through it. */
static int t_bcn_ready(const struct pilotd *d)
{
	(void)d;
	return 0;
}

static void t_bcn_punch_req(struct pilotd *d, uint32_t node)
{
	(void)d;
	(void)node;
	fail_msg("punch requested with no beacon");
}

static int t_bcn_wrap(struct pilotd *d, uint8_t *frame, size_t reclen, size_t cap, uint32_t to)
{
	(void)d;
	(void)frame;
	(void)reclen;
	(void)cap;
	(void)to;
	fail_msg("relay frame wrapped with no beacon");
	return -EINVAL;
}

static void t_bcn_input(struct pilotd *d, uint8_t *buf, size_t len, const struct sockaddr_in6 *src,
			uint64_t now)
{
	(void)d;
	(void)buf;
	(void)len;
	(void)src;
	(void)now;
	fail_msg("beacon frame on a test socket");
}

static const struct dp_ops test_dp_ops = {
    .peer_for = t_peer_for,
    .resolve_peer = t_resolve_peer,
    .node_by_pk = t_node_by_pk,
    .inbound_open = t_inbound_open,
    .flow_denied = t_flow_denied,
    .tunnel_established = t_tunnel_established,
    .bcn_ready = t_bcn_ready,
    .bcn_punch_req = t_bcn_punch_req,
    .bcn_wrap = t_bcn_wrap,
    .bcn_input = t_bcn_input,
};

/* ------------------------------------------------------------ admit_ops */

static int is_other(const struct side *s, uint32_t node)
{
	return node == s->other->d->node_id;
}

static int a_blocked(void *ctx, uint32_t node)
{
	struct side *s = ctx;
	return (is_other(s, node) && s->blocked) || (node && node == s->blocked_node);
}

static int a_revoked(void *ctx, uint32_t node)
{
	(void)ctx;
	(void)node;
	return 0;
}

static int a_trusted(void *ctx, uint32_t node)
{
	struct side *s = ctx;
	return is_other(s, node) && s->trusted;
}

/* The networks a test joined (none by default: the member table is
 * empty, and the backbone is never asked about). */
static int a_shares_network(void *ctx, uint32_t node, uint16_t net)
{
	struct side *s = ctx;
	return s->d->members.e && member_find(&s->d->members, net, node) != NULL;
}

static int a_shares_any(void *ctx, uint32_t node)
{
	struct side *s = ctx;
	return is_other(s, node) && s->shares_any;
}

static int a_policy_allows(void *ctx, uint32_t node, uint16_t net, int inbound, uint8_t proto,
			   uint16_t port)
{
	struct side *s = ctx;

	(void)net;
	(void)proto;
	(void)port;
	s->policy_inbound = inbound;
	return !node || node != s->refused_node;
}

static const struct admit_ops test_admit_ops = {
    .is_blocked = a_blocked,
    .is_revoked = a_revoked,
    .is_trusted = a_trusted,
    .shares_network = a_shares_network,
    .shares_any = a_shares_any,
    .policy_allows = a_policy_allows,
};

/* ------------------------------------------------------------ setup */

static struct sockaddr_in6 loopback(uint16_t port_net)
{
	struct sockaddr_in6 sa;

	memset(&sa, 0, sizeof(sa));
	sa.sin6_family = AF_INET6;
	sa.sin6_addr = in6addr_loopback;
	sa.sin6_port = port_net;
	return sa;
}

static struct sockaddr_in6 bound_ep(int fd)
{
	struct sockaddr_in6 sa;
	socklen_t sl = sizeof(sa);

	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	return loopback(sa.sin6_port);
}

static void side_init(struct side *s, struct side *other, uint32_t node)
{
	struct pilotd *d = calloc(1, sizeof(*d));

	assert_non_null(d);
	memset(s, 0, sizeof(*s));
	s->d = d;
	s->other = other;
	s->trusted = 1;
	assert_int_equal(crypto_sign_keypair(s->ed_pk, s->ed_sk), 0);
	assert_int_equal(tnl_identity_init(&d->id, s->ed_sk), 0);
	d->node_id = node;
	d->prefix = test_prefix;
	d->have_prefix = 1;
	d->udp_fd = -1;
	d->rekey_ms = 120000;
	d->reject_ms = d->rekey_ms + 60000;
	d->cfg.listen_port = 0; /* ephemeral */
	assert_int_equal(peer_table_init(&d->peers), 0);
	assert_int_equal(flow_table_init(&d->flows, 1024), 0);
	assert_int_equal(admit_init(&d->admit, &test_admit_ops, s), 0);
	assert_int_equal(tun_open_dummy(&d->tun, "pilot-test"), 0);
	assert_int_equal(dp_init(d, &test_dp_ops), 0);
	s->self_ep = bound_ep(d->udp_fd);
}

static int udp_on_loopback(void)
{
	struct sockaddr_in6 sa = loopback(0);
	int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* A host without IPv6 loopback (some CI containers) cannot run these. */
static int have_ipv6_loopback(void)
{
	struct sockaddr_in6 sa = loopback(0);
	int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0), ok;

	if (fd < 0)
		return 0;
	ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

/* Two nodes; through the relay when \p relayed. */
static void world_init(int relayed)
{
	memset(&w, 0, sizeof(w));
	if (!have_ipv6_loopback())
		skip();
	side_init(&w.a, &w.b, NODE_A);
	side_init(&w.b, &w.a, NODE_B);
	w.relayed = relayed;
	w.a.other_ep = w.b.self_ep;
	w.b.other_ep = w.a.self_ep;
	if (relayed) {
		w.r.face_a = udp_on_loopback();
		w.r.face_b = udp_on_loopback();
		w.r.face_a_ep = bound_ep(w.r.face_a);
		w.a.other_ep = w.r.face_a_ep;
	}
}

static void side_free(struct side *s)
{
	struct pilotd *d = s->d;

	if (!d)
		return;
	dp_free(d);
	tun_close(&d->tun);
	peer_table_free(&d->peers);
	flow_table_free(&d->flows);
	member_free(&d->members);
	admit_free(&d->admit);
	tnl_identity_wipe(&d->id);
	free(d);
}

static int teardown(void **state)
{
	(void)state;
	side_free(&w.a);
	side_free(&w.b);
	if (w.relayed && w.r.face_b > 0) {
		close(w.r.face_a);
		close(w.r.face_b);
	}
	return 0;
}

static int setup_direct(void **state)
{
	(void)state;
	world_init(0);
	return 0;
}

static int setup_relayed(void **state)
{
	(void)state;
	world_init(1);
	return 0;
}

/* ------------------------------------------------------------ the relay */

static int is_data_with_payload(const uint8_t *buf, size_t len)
{
	return len > TNL_DATA_OVERHEAD && buf[0] == TNL_MSG_DATA;
}

/* A -> B: forward, changing or repeating the first data record that
 * carries a packet, as the mode says. */
static void relay_from_a(struct relay *r)
{
	uint8_t buf[DP_BUFSZ];
	struct sockaddr_in6 src;
	socklen_t sl = sizeof(src);
	ssize_t n = recvfrom(r->face_a, buf, sizeof(buf), 0, (struct sockaddr *)&src, &sl);

	if (n <= 0)
		return;
	r->a_ep = src;
	if (!r->done && is_data_with_payload(buf, (size_t)n)) {
		if (r->mode == RELAY_FLIP) {
			buf[TNL_DATA_HDR + 3] ^= 0x01; /* a ciphertext byte */
			r->done = 1;
		} else if (r->mode == RELAY_REPEAT) {
			memcpy(r->saved, buf, (size_t)n);
			r->savedlen = (size_t)n;
		}
	}
	sendto(r->face_b, buf, (size_t)n, 0, (const struct sockaddr *)&w.b.self_ep,
	       sizeof(w.b.self_ep));
}

/* B -> A: forward as it is. */
static void relay_from_b(struct relay *r)
{
	uint8_t buf[DP_BUFSZ];
	ssize_t n = recv(r->face_b, buf, sizeof(buf), 0);

	if (n <= 0 || !r->a_ep.sin6_family)
		return;
	sendto(r->face_a, buf, (size_t)n, 0, (const struct sockaddr *)&r->a_ep, sizeof(r->a_ep));
}

/* Send the saved record to B a second time, as an attacker would. */
static void relay_replay(struct relay *r)
{
	assert_true(r->savedlen > 0);
	assert_int_equal(sendto(r->face_b, r->saved, r->savedlen, 0,
				(const struct sockaddr *)&w.b.self_ep, sizeof(w.b.self_ep)),
			 (ssize_t)r->savedlen);
	r->done = 1;
}

/* ------------------------------------------------------------ the loop */

/* Run both data paths (and the relay) until nothing happened for
 * PUMP_IDLE_MS; bounded in rounds and in time, so a test that waits for
 * something that never comes fails instead of hanging. */
static void pump(void)
{
	uint64_t start = now_mono_ms(), last = start;

	for (int round = 0; round < PUMP_ROUNDS; round++) {
		struct pollfd pf[6] = {
		    {.fd = w.a.d->tun.fd, .events = POLLIN},
		    {.fd = w.b.d->tun.fd, .events = POLLIN},
		    {.fd = w.a.d->udp_fd, .events = POLLIN},
		    {.fd = w.b.d->udp_fd, .events = POLLIN},
		    {.fd = w.r.face_a, .events = POLLIN},
		    {.fd = w.r.face_b, .events = POLLIN},
		};
		int nfds = w.relayed ? 6 : 4;
		uint64_t now = now_mono_ms();

		if (now - last >= PUMP_IDLE_MS)
			return;
		assert_true(now - start < PUMP_MAX_MS);
		if (poll(pf, (nfds_t)nfds, 10) <= 0)
			continue;
		last = now_mono_ms();
		if (pf[0].revents & POLLIN)
			dp_tun_readable(pf[0].fd, EV_READ, w.a.d);
		if (pf[1].revents & POLLIN)
			dp_tun_readable(pf[1].fd, EV_READ, w.b.d);
		if (pf[2].revents & POLLIN)
			dp_udp_readable(pf[2].fd, EV_READ, w.a.d);
		if (pf[3].revents & POLLIN)
			dp_udp_readable(pf[3].fd, EV_READ, w.b.d);
		if (w.relayed && (pf[4].revents & POLLIN))
			relay_from_a(&w.r);
		if (w.relayed && (pf[5].revents & POLLIN))
			relay_from_b(&w.r);
	}
	fail_msg("the data paths were still busy after %d rounds", PUMP_ROUNDS);
}

/* ------------------------------------------------------------ packets */

static struct in6_addr overlay_in(uint16_t net, uint32_t node)
{
	struct pilot_addr a = {.net = net, .node = node};
	struct in6_addr ip;

	addr_to_ipv6(&test_prefix, &a, &ip);
	return ip;
}

/* An IPv6 UDP datagram from \p src to \p dst (both in network \p net)
 * carrying \p msg. */
static size_t udp_packet_in(uint8_t *b, uint16_t net, uint32_t src, uint32_t dst, uint16_t sport,
			    uint16_t dport, const char *msg)
{
	struct in6_addr s = overlay_in(net, src), d = overlay_in(net, dst);
	size_t plen = strlen(msg), ulen = 8 + plen;
	uint16_t csum;

	memset(b, 0, 40 + ulen);
	b[0] = 0x60;
	b[4] = (uint8_t)(ulen >> 8);
	b[5] = (uint8_t)ulen;
	b[6] = IPPROTO_UDP;
	b[7] = 64;
	memcpy(b + 8, &s, 16);
	memcpy(b + 24, &d, 16);
	b[40] = (uint8_t)(sport >> 8);
	b[41] = (uint8_t)sport;
	b[42] = (uint8_t)(dport >> 8);
	b[43] = (uint8_t)dport;
	b[44] = (uint8_t)(ulen >> 8);
	b[45] = (uint8_t)ulen;
	memcpy(b + 48, msg, plen);
	csum = pkt_l4_csum(&s, &d, IPPROTO_UDP, b + 40, ulen);
	b[46] = (uint8_t)(csum >> 8);
	b[47] = (uint8_t)csum;
	return 40 + ulen;
}

/* The same on the backbone (network 0). */
static size_t udp_packet(uint8_t *b, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
			 const char *msg)
{
	return udp_packet_in(b, 0, src, dst, sport, dport, msg);
}

static void tun_inject(struct side *s, const uint8_t *pkt, size_t len)
{
	assert_int_equal(send(s->d->tun.peer_fd, pkt, len, 0), (ssize_t)len);
}

/* The next packet the node wrote to its TUN, or -1 when there is none. */
static ssize_t tun_take(struct side *s, uint8_t *buf, size_t cap)
{
	ssize_t n = recv(s->d->tun.peer_fd, buf, cap, MSG_DONTWAIT);

	if (n < 0)
		assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
	return n;
}

static void assert_tun_empty(struct side *s)
{
	uint8_t buf[DP_BUFSZ];

	assert_int_equal(tun_take(s, buf, sizeof(buf)), -1);
}

/* The next packet on \p s's TUN is ICMPv6 "administratively prohibited". */
static void assert_prohibited(struct side *s)
{
	uint8_t got[DP_BUFSZ];
	ssize_t n = tun_take(s, got, sizeof(got));

	assert_true(n >= 48);
	assert_int_equal(got[6], IPPROTO_ICMPV6);
	assert_int_equal(got[40], 1); /* destination unreachable */
	assert_int_equal(got[41], 1); /* administratively prohibited */
}

/* Send a datagram A -> B and expect it on B's TUN, byte for byte. */
static void a_to_b_arrives(const char *msg)
{
	uint8_t pkt[512], got[DP_BUFSZ];
	size_t len = udp_packet(pkt, NODE_A, NODE_B, 40000, 5353, msg);

	tun_inject(&w.a, pkt, len);
	pump();
	assert_int_equal(tun_take(&w.b, got, sizeof(got)), (ssize_t)len);
	assert_memory_equal(got, pkt, len);
	assert_tun_empty(&w.b);
}

/* ------------------------------------------------------------ tests */

/* (a) A datagram from A's overlay address to B's crosses the tunnel after
 * a handshake and comes out of B's TUN unchanged, and B's answer comes
 * back on the same flow; one tunnel established (the initiator audits
 * it), nothing denied or dropped. */
static void test_packet_crosses(void **state)
{
	uint8_t pkt[512], got[DP_BUFSZ];
	size_t len;

	(void)state;
	a_to_b_arrives("hello through the tunnel");
	assert_int_equal(w.a.established, 1);
	assert_int_equal(w.b.established, 0);
	assert_int_equal(w.a.d->ctr.handshake_completed, 1);
	assert_int_equal(w.b.d->ctr.handshake_resp_sent, 1);

	len = udp_packet(pkt, NODE_B, NODE_A, 5353, 40000, "and back");
	tun_inject(&w.b, pkt, len);
	pump();
	assert_int_equal(tun_take(&w.a, got, sizeof(got)), (ssize_t)len);
	assert_memory_equal(got, pkt, len);

	assert_int_equal(w.a.established + w.b.established, 1);
	assert_int_equal(w.a.denied + w.b.denied, 0);
	assert_int_equal(w.b.d->ctr.rx_dropped_auth + w.b.d->ctr.rx_dropped_replay, 0);
	assert_int_equal(w.a.resolves + w.b.resolves, 0);
}

/* (b) B refuses the flow: the handshake completes (the peer is known),
 * but the packet is denied at admission with \p why, reported once
 * through flow_denied, nothing reaches B's TUN, and A's program gets
 * ICMPv6 "administratively prohibited" back through the tunnel. */
static void refused_with(enum admit_reason why)
{
	uint8_t pkt[512];
	size_t len = udp_packet(pkt, NODE_A, NODE_B, 40001, 5353, "not for you");

	tun_inject(&w.a, pkt, len);
	pump();
	assert_int_equal(w.a.established, 1);
	assert_tun_empty(&w.b);
	assert_int_equal(w.b.denied, 1);
	assert_int_equal(w.b.last_why, why);
	assert_int_equal(w.b.last_denied_node, NODE_A);
	assert_int_equal(w.b.last_inbound, 1);
	assert_int_equal(w.b.d->ctr.flows_denied, 1);
	assert_int_equal(w.b.d->ctr.tun_tx_packets, 0);

	assert_prohibited(&w.a);
	assert_int_equal(w.a.denied, 0);
}

static void test_refused_blocked(void **state)
{
	(void)state;
	w.b.blocked = 1; /* a blocked node keeps its tunnel; its flows are refused */
	refused_with(ADMIT_BLOCKED);
}

static void test_refused_not_trusted(void **state)
{
	(void)state;
	/* A network in common lets the tunnel up, but the backbone address
	 * (network 0) is admitted only by trust. */
	w.b.trusted = 0;
	w.b.shares_any = 1;
	refused_with(ADMIT_NOT_TRUSTED);
}

/* (b) Without trust or a network in common B stays dark: it does not
 * answer the handshake, so no flow is ever asked about. */
static void test_dark_to_strangers(void **state)
{
	uint8_t pkt[512];
	size_t len = udp_packet(pkt, NODE_A, NODE_B, 40002, 5353, "anyone there?");

	(void)state;
	w.b.trusted = 0;
	tun_inject(&w.a, pkt, len);
	pump();
	assert_int_equal(w.b.d->ctr.handshake_rejected_peer, 1);
	assert_int_equal(w.b.d->ctr.handshake_resp_sent, 0);
	assert_int_equal(w.a.established, 0);
	assert_int_equal(w.b.denied, 0);
	assert_tun_empty(&w.b);
	assert_int_equal(w.a.d->ctr.tx_queued, 1);
}

/* (c) A data record changed in flight does not authenticate: dropped and
 * counted, nothing on B's TUN; the session itself is unharmed. */
static void test_tampered_dropped(void **state)
{
	uint8_t pkt[512];
	size_t len = udp_packet(pkt, NODE_A, NODE_B, 40003, 5353, "flip a bit of me");

	(void)state;
	w.r.mode = RELAY_FLIP;
	tun_inject(&w.a, pkt, len);
	pump();
	assert_true(w.r.done);
	assert_int_equal(w.a.established, 1);
	assert_int_equal(w.b.d->ctr.rx_dropped_auth, 1);
	assert_int_equal(w.b.d->ctr.rx_dropped_replay, 0);
	assert_tun_empty(&w.b);
	assert_int_equal(w.b.denied, 0);

	a_to_b_arrives("the next one is intact");
	assert_int_equal(w.b.d->ctr.rx_dropped_auth, 1);
}

/* (d) A data record sent again is refused by the replay window: counted,
 * and the packet reaches B's TUN once. */
static void test_replay_dropped(void **state)
{
	(void)state;
	w.r.mode = RELAY_REPEAT;
	a_to_b_arrives("only once");
	relay_replay(&w.r);
	pump();
	assert_int_equal(w.b.d->ctr.rx_dropped_replay, 1);
	assert_int_equal(w.b.d->ctr.rx_dropped_auth, 0);
	assert_tun_empty(&w.b);

	a_to_b_arrives("a fresh one still passes");
	assert_int_equal(w.b.d->ctr.rx_dropped_replay, 1);
}

/* (e) A peer that lies about the inner source (its daemon changed to seal
 * a packet from another node's address, here C's): the record
 * authenticates as A's, but B drops it as a spoof, counted, nothing on
 * its TUN; A's own packets still pass. */
static void test_inner_spoof_dropped(void **state)
{
	uint8_t pkt[512];
	size_t len = udp_packet(pkt, NODE_C, NODE_B, 40004, 5353, "I am C, honest");

	(void)state;
	a_to_b_arrives("the session is up");
	w.a.d->node_id = NODE_C; /* what A's outbound check lets through */
	tun_inject(&w.a, pkt, len);
	pump();
	w.a.d->node_id = NODE_A;
	assert_int_equal(w.b.d->ctr.rx_dropped_spoof, 1);
	assert_int_equal(w.b.d->ctr.rx_dropped_auth + w.b.d->ctr.rx_dropped_replay, 0);
	assert_tun_empty(&w.b);
	assert_int_equal(w.b.denied, 0);

	a_to_b_arrives("A's own address still passes");
	assert_int_equal(w.b.d->ctr.rx_dropped_spoof, 1);
}

/* ------------------------------------------------------------ broadcast */

#define NET_BC 7    /* the network the broadcast tests broadcast in */
#define NET_OTHER 8 /* another one A is in: its members get nothing */
#define BC_PORT 9999

/* \p s joins \p net (its address there is up unless \p down), with the
 * members \p nodes (zero-terminated); keys: the other side's, or an
 * extra node's. */
static struct member_net *join(struct side *s, uint16_t net, int down, const uint32_t *nodes)
{
	struct member_table *m = &s->d->members;
	struct member_net *n = &m->nets[m->nnets++];

	memset(n, 0, sizeof(*n));
	n->id = net;
	n->addr_up = !down;
	for (; *nodes; nodes++) {
		const uint8_t *pk = *nodes == s->other->d->node_id ? s->other->ed_pk
				    : *nodes == s->d->node_id	   ? s->ed_pk
								   : extra_pk(*nodes);
		static const uint8_t none[32];

		member_add(m, net, *nodes, pk ? pk : none, NULL);
	}
	return n;
}

/* A: in NET_BC with B, C, D (reachable), E (on A's block list), F (A's
 * policy refuses it) and H (no peer); in NET_OTHER with G.  B: in NET_BC
 * with A.  Both at broadcast_rate 20, burst 40. */
static void bcast_world(void)
{
	static const uint32_t a_bc[] = {NODE_A, NODE_B, NODE_C, NODE_D, NODE_E, NODE_F, NODE_H, 0};
	static const uint32_t a_other[] = {NODE_A, NODE_G, 0};
	static const uint32_t b_bc[] = {NODE_A, NODE_B, 0};

	join(&w.a, NET_BC, 0, a_bc);
	join(&w.a, NET_OTHER, 0, a_other);
	join(&w.b, NET_BC, 0, b_bc);
	w.a.blocked_node = NODE_E;
	w.a.refused_node = NODE_F;
	w.a.d->bcast_rate = w.b.d->bcast_rate = 20;
	w.a.d->bcast_burst = w.b.d->bcast_burst = 40;
}

static int setup_bcast(void **state)
{
	(void)state;
	world_init(0);
	bcast_world();
	return 0;
}

/* A datagram from \p src in \p net to \p net's broadcast address. */
static size_t bcast_packet(uint8_t *b, uint16_t net, uint32_t src, const char *msg)
{
	return udp_packet_in(b, net, src, PILOT_NODE_BROADCAST, 40000, BC_PORT, msg);
}

static struct pkt_info parsed(const uint8_t *pkt, size_t len)
{
	struct pkt_info pi;

	assert_int_equal(pkt_parse(pkt, len, &pi), 0);
	return pi;
}

/* dp_bcast_out on A of a datagram from A in \p net. */
static int a_bcast(uint16_t net, const char *msg, uint64_t now, struct dp_bcast_result *res)
{
	uint8_t pkt[DP_BUFSZ];
	size_t len = bcast_packet(pkt, net, NODE_A, msg);
	struct pkt_info pi = parsed(pkt, len);

	return dp_bcast_out(w.a.d, pkt, len, &pi, net, now, res);
}

static int was_asked(const struct side *s, uint32_t node)
{
	for (unsigned i = 0; i < s->nasked; i++)
		if (s->asked[i] == node)
			return 1;
	return 0;
}

/* How many packets wait in \p s's queue for \p node (-1: no peer). */
static int queued(struct side *s, uint32_t node)
{
	struct peer *p = peer_find(&s->d->peers, node);
	return p ? (int)p->qcount : -1;
}

static void assert_bcast_result(const struct dp_bcast_result *r, unsigned sent, unsigned denied,
				unsigned blocked, unsigned policy, unsigned unreachable,
				unsigned too_big)
{
	assert_int_equal(r->sent, sent);
	assert_int_equal(r->denied, denied);
	assert_int_equal(r->blocked, blocked);
	assert_int_equal(r->policy, policy);
	assert_int_equal(r->unreachable, unreachable);
	assert_int_equal(r->too_big, too_big);
}

/* The fan-out: a program's datagram to NET_BC's broadcast address, in
 * through A's TUN, is sealed for B (its session is up: B's TUN gets it,
 * byte for byte) and queued for C and D behind a handshake each; E
 * (blocked) and F (policy) are skipped and counted, H has no peer, A
 * never sends to itself, and G (another network) is never asked about. */
static void test_bcast_fanout(void **state)
{
	uint8_t pkt[512], got[DP_BUFSZ];
	size_t len = bcast_packet(pkt, NET_BC, NODE_A, "to everyone in 7");
	struct dp_bcast_result res;
	uint32_t flows;
	uint64_t queued0;

	(void)state;
	a_to_b_arrives("a session first"); /* on the backbone, by trust */
	flows = w.a.d->admit.flows;
	queued0 = w.a.d->ctr.tx_queued; /* the unicast's, behind the handshake */
	w.a.nasked = 0;
	tun_inject(&w.a, pkt, len);
	pump();
	assert_int_equal(tun_take(&w.b, got, sizeof(got)), (ssize_t)len);
	assert_memory_equal(got, pkt, len);
	assert_tun_empty(&w.b);
	assert_tun_empty(&w.a); /* no refusal back, and not to ourselves */
	assert_int_equal(w.b.d->ctr.bcast_rx, 1);

	assert_int_equal(w.a.d->ctr.bcast_tx, 1);
	assert_int_equal(w.a.d->ctr.bcast_tx_copies, 3);
	assert_int_equal(w.a.d->ctr.bcast_tx_denied, 2);
	/* Copies are not flows: the flow counters stay for flows. */
	assert_int_equal(w.a.d->admit.denied[ADMIT_BLOCKED], 0);
	assert_int_equal(w.a.d->admit.denied[ADMIT_POLICY], 0);
	assert_int_equal(w.a.policy_inbound, 0); /* asked as the flow's opener */
	assert_true(was_asked(&w.a, NODE_B) && was_asked(&w.a, NODE_C) && was_asked(&w.a, NODE_D) &&
		    was_asked(&w.a, NODE_H));
	assert_false(was_asked(&w.a, NODE_A) || was_asked(&w.a, NODE_G) ||
		     was_asked(&w.a, NODE_E) || was_asked(&w.a, NODE_F));
	assert_int_equal(w.a.nasked, 4);
	/* No session with C or D: the copy waits, a handshake is wanted
	 * (no endpoint known yet: resolved first). */
	assert_int_equal(queued(&w.a, NODE_C), 1);
	assert_int_equal(queued(&w.a, NODE_D), 1);
	assert_int_equal(queued(&w.a, NODE_B), 0);
	assert_true(peer_find(&w.a.d->peers, NODE_C)->hs_wanted);
	assert_true(peer_find(&w.a.d->peers, NODE_D)->hs_wanted);
	assert_int_equal(w.a.resolves, 2);
	assert_int_equal(w.a.d->ctr.tx_queued - queued0, 2);
	assert_int_equal(queued(&w.a, NODE_G), -1);
	assert_int_equal(w.a.d->admit.flows, flows); /* no flow: one-way */
	assert_int_equal(w.b.d->admit.flows, flows);

	/* The same through dp_bcast_out, with its account. */
	assert_int_equal(a_bcast(NET_BC, "again", now_mono_ms(), &res), 0);
	assert_bcast_result(&res, 3, 2, 1, 1, 1, 0);
	assert_int_equal(queued(&w.a, NODE_C), 2);
	/* A's other network: G only. */
	assert_int_equal(a_bcast(NET_OTHER, "to 8", now_mono_ms(), &res), 0);
	assert_bcast_result(&res, 1, 0, 0, 0, 0, 0);
	assert_int_equal(queued(&w.a, NODE_G), 1);
	assert_int_equal(queued(&w.a, NODE_C), 2);
	pump();
	/* B got "again" (48 + 5 bytes), and nothing of network 8's (it is
	 * not in it) */
	assert_int_equal(tun_take(&w.b, got, sizeof(got)), 48 + 5);
	assert_memory_equal(got + 48, "again", 5);
	assert_tun_empty(&w.b);
}

/* Refused before any fan-out: the backbone (-EACCES; a program's
 * datagram there gets ICMPv6 "administratively prohibited" at once), not
 * UDP, a network A is not in or whose address is not up (-ENOENT). */
static void test_bcast_refused(void **state)
{
	uint8_t pkt[512];
	size_t len = bcast_packet(pkt, 0, NODE_A, "to the backbone");
	struct pkt_info pi = parsed(pkt, len);
	struct dp_bcast_result res;
	static const uint32_t none[] = {0};
	uint64_t now = now_mono_ms();

	(void)state;
	assert_int_equal(dp_bcast_out(w.a.d, pkt, len, &pi, 0, now, &res), -EACCES);
	assert_bcast_result(&res, 0, 0, 0, 0, 0, 0);
	len = bcast_packet(pkt, NET_BC, NODE_A, "not udp");
	pi = parsed(pkt, len);
	pi.kind = PKT_TCP;
	assert_int_equal(dp_bcast_out(w.a.d, pkt, len, &pi, NET_BC, now, &res), -EPROTONOSUPPORT);
	pi.kind = PKT_ICMP6_ECHO_REQ;
	assert_int_equal(dp_bcast_out(w.a.d, pkt, len, &pi, NET_BC, now, &res), -EPROTONOSUPPORT);
	assert_int_equal(a_bcast(9, "not a member", now, &res), -ENOENT);
	join(&w.a, 10, 1, none);
	assert_int_equal(a_bcast(10, "address not up", now, &res), -ENOENT);
	assert_int_equal(w.a.d->ctr.bcast_dropped, 5);
	assert_int_equal(w.a.d->ctr.bcast_tx, 0);
	assert_int_equal(w.a.nasked, 0);
	assert_int_equal(w.a.d->ctr.tx_queued, 0);

	len = bcast_packet(pkt, 0, NODE_A, "to the backbone, by a program");
	tun_inject(&w.a, pkt, len);
	pump();
	assert_prohibited(&w.a);
	assert_int_equal(w.a.nasked, 0);
	assert_int_equal(w.a.d->ctr.handshake_init_sent, 0);
	assert_tun_empty(&w.b);
}

/* The sender's bucket per network: broadcast_burst at once, then
 * broadcast_rate per second; over it -EBUSY, nothing sent; another
 * network has a bucket of its own; rate 0 is off. */
static void test_bcast_tx_rate(void **state)
{
	struct dp_bcast_result res;
	uint64_t t0 = now_mono_ms();

	(void)state;
	w.a.d->bcast_rate = 5;
	w.a.d->bcast_burst = 3;
	for (int i = 0; i < 3; i++)
		assert_int_equal(a_bcast(NET_BC, "burst", t0, &res), 0);
	assert_int_equal(a_bcast(NET_BC, "over", t0, &res), -EBUSY);
	assert_bcast_result(&res, 0, 0, 0, 0, 0, 0);
	assert_int_equal(queued(&w.a, NODE_C), 3);
	assert_int_equal(a_bcast(NET_BC, "half a token", t0 + 100, &res), -EBUSY);
	assert_int_equal(a_bcast(NET_BC, "one and a half", t0 + 300, &res), 0);
	assert_int_equal(res.sent, 3);
	assert_int_equal(a_bcast(NET_BC, "half again", t0 + 300, &res), -EBUSY);
	assert_int_equal(a_bcast(NET_OTHER, "own bucket", t0 + 300, &res), 0);
	/* refilled to the burst, never beyond it */
	for (int i = 0; i < 3; i++)
		assert_int_equal(a_bcast(NET_BC, "refilled", t0 + 60000, &res), 0);
	assert_int_equal(a_bcast(NET_BC, "no more", t0 + 60000, &res), -EBUSY);
	assert_int_equal(w.a.d->ctr.bcast_tx, 8);
	assert_int_equal(w.a.d->ctr.bcast_tx_rate_limited, 4);
	assert_int_equal(queued(&w.a, NODE_C), 7);

	w.a.d->bcast_rate = 0;
	assert_int_equal(a_bcast(NET_BC, "off", t0 + 120000, &res), -EPERM);
	assert_int_equal(a_bcast(NET_OTHER, "off", t0 + 120000, &res), -EPERM);
	assert_bcast_result(&res, 0, 0, 0, 0, 0, 0);
	assert_int_equal(w.a.d->ctr.bcast_tx, 8);
	assert_int_equal(queued(&w.a, NODE_C), 7);
}

/* A relayed member cannot take a datagram over the relay's MTU: skipped
 * and counted (too_big); the others still get it. */
static void test_bcast_relayed_too_big(void **state)
{
	struct peer *c = t_peer_for(w.a.d, NODE_C);
	struct dp_bcast_result res;
	char msg[DP_BUFSZ];
	size_t n;

	(void)state;
	w.a.d->bcn.have_key = 1;
	w.a.d->bcn.addr = loopback(htons(9));
	c->path = PATH_RELAYED;
	n = dp_relay_mtu(w.a.d) - 48 + 1; /* one byte over */
	assert_true(n > 0 && n < sizeof(msg));
	memset(msg, 'x', n);
	msg[n] = '\0';
	assert_int_equal(a_bcast(NET_BC, msg, now_mono_ms(), &res), 0);
	assert_bcast_result(&res, 2, 2, 1, 1, 1, 1);
	assert_int_equal(queued(&w.a, NODE_C), 0);
	assert_int_equal(queued(&w.a, NODE_D), 1);
	assert_int_equal(queued(&w.a, NODE_B), 1);
	c->path = PATH_DIRECT; /* not relayed: it is queued like the others */
	assert_int_equal(a_bcast(NET_BC, msg, now_mono_ms(), &res), 0);
	assert_bcast_result(&res, 3, 2, 1, 1, 1, 0);
	assert_int_equal(queued(&w.a, NODE_C), 1);
}

/* dp_bcast_in on B of a datagram from \p node (a peer of B's) in \p net. */
static int b_bcast_in(uint32_t node, uint16_t net, uint64_t now)
{
	uint8_t pkt[512];
	size_t len = bcast_packet(pkt, net, node, "heard");
	struct pkt_info pi = parsed(pkt, len);
	const uint8_t *pk = node == NODE_A ? w.a.ed_pk : extra_pk(node);
	struct peer *p = peer_get(&w.b.d->peers, &w.b.d->id, node, pk);

	assert_non_null(p);
	return dp_bcast_in(w.b.d, p, pkt, len, &pi, net, now);
}

/* The receiver decides for itself: admitted -> 0; a sender it blocks or
 * its policy refuses -> -EACCES; a network it is not in (or whose
 * address is down) or the backbone -> dropped. */
static void test_bcast_rx_admission(void **state)
{
	static const uint32_t none[] = {0};
	uint64_t now = now_mono_ms();

	(void)state;
	assert_int_equal(b_bcast_in(NODE_A, NET_BC, now), 0);
	assert_int_equal(w.b.d->ctr.bcast_rx, 1);
	w.b.blocked = 1;
	assert_int_equal(b_bcast_in(NODE_A, NET_BC, now), -EACCES);
	w.b.blocked = 0;
	w.b.refused_node = NODE_A;
	w.b.trusted = 0; /* a trust pair would admit what the policy does not */
	w.b.policy_inbound = -1;
	assert_int_equal(b_bcast_in(NODE_A, NET_BC, now), -EACCES);
	assert_int_equal(w.b.policy_inbound, 1); /* asked as its receiver */
	assert_int_equal(w.b.d->ctr.bcast_rx_denied, 2);
	w.b.refused_node = 0;
	assert_int_equal(b_bcast_in(NODE_A, NET_BC, now), 0);
	/* not a member at B, and no trust: refused */
	assert_int_equal(b_bcast_in(NODE_C, NET_BC, now), -EACCES);
	assert_int_equal(w.b.d->ctr.bcast_rx_denied, 3);

	assert_int_equal(b_bcast_in(NODE_A, NET_OTHER, now), -EACCES);
	assert_int_equal(b_bcast_in(NODE_A, 0, now), -EACCES);
	join(&w.b, 10, 1, none);
	assert_int_equal(b_bcast_in(NODE_A, 10, now), -EACCES);
	assert_int_equal(w.b.d->ctr.bcast_dropped, 3);
	assert_int_equal(w.b.d->ctr.bcast_rx, 2);
	assert_int_equal(w.b.d->ctr.bcast_rx_rate_limited, 0);
}

/* The receiver's meters: per (network, sender) broadcast_rate/burst, and
 * all of a network's senders together ten times that. */
static void test_bcast_rx_rate(void **state)
{
	static const uint32_t senders[] = {0x30000001u, 0x30000002u, 0x30000003u, 0x30000004u,
					   0x30000005u, 0x30000006u, 0x30000007u, 0x30000008u,
					   0x30000009u, 0x3000000au, 0x3000000bu, 0};
	static const uint32_t b_only[] = {NODE_A, NODE_B, 0};
	uint64_t t0 = now_mono_ms();

	(void)state;
	join(&w.b, NET_OTHER, 0, b_only);
	w.b.d->bcast_rate = 2;
	w.b.d->bcast_burst = 2;
	assert_int_equal(b_bcast_in(NODE_A, NET_BC, t0), 0);
	assert_int_equal(b_bcast_in(NODE_A, NET_BC, t0), 0);
	assert_int_equal(b_bcast_in(NODE_A, NET_BC, t0), -EBUSY);
	assert_int_equal(b_bcast_in(NODE_A, NET_OTHER, t0), 0); /* per network */
	assert_int_equal(b_bcast_in(NODE_A, NET_BC, t0 + 250), -EBUSY);
	assert_int_equal(b_bcast_in(NODE_A, NET_BC, t0 + 500), 0);
	assert_int_equal(w.b.d->ctr.bcast_rx_rate_limited, 2);
	assert_int_equal(w.b.d->ctr.bcast_rx, 4);

	/* Eleven senders in a fresh network at rate 1, burst 1 each: the
	 * network's bucket (10, 10/s) lets ten through at once. */
	join(&w.b, 11, 0, senders);
	w.b.d->bcast_rate = 1;
	w.b.d->bcast_burst = 1;
	for (int i = 0; i < 10; i++)
		assert_int_equal(b_bcast_in(senders[i], 11, t0), 0);
	assert_int_equal(b_bcast_in(senders[10], 11, t0), -EBUSY);
	assert_int_equal(b_bcast_in(senders[0], 11, t0 + 1000), 0);
	assert_int_equal(b_bcast_in(senders[10], 11, t0 + 1000), 0);
	assert_int_equal(w.b.d->ctr.bcast_rx_rate_limited, 3);

	/* Refused senders do not use up the network's bucket: after ten of
	 * them, an admitted one still gets through. */
	w.b.refused_node = senders[10];
	w.b.trusted = 0;
	for (int i = 0; i < 10; i++)
		assert_int_equal(b_bcast_in(senders[10], 11, t0 + 3000), -EACCES);
	assert_int_equal(b_bcast_in(senders[1], 11, t0 + 3000), 0);
	w.b.refused_node = 0;

	w.b.d->bcast_rate = 0; /* off: nothing taken */
	assert_int_equal(b_bcast_in(senders[1], 11, t0 + 60000), -EPERM);
	assert_int_equal(b_bcast_in(NODE_A, NET_BC, t0 + 60000), -EPERM);
}

/* A's program broadcasts \p msg in NET_BC, and the data paths run: B's
 * TUN gets nothing, and nothing comes back to A (never answered). */
static void a_bcast_unheard(const char *msg)
{
	uint8_t pkt[512];
	size_t len = bcast_packet(pkt, NET_BC, NODE_A, msg);

	tun_inject(&w.a, pkt, len);
	pump();
	assert_tun_empty(&w.b);
	assert_tun_empty(&w.a);
}

/* Through the tunnel: B writes an admitted broadcast to its TUN; one it
 * refuses (blocked sender) or from a network it is not in is dropped
 * silently - nothing to B's TUN, nothing back to A. */
static void test_bcast_rx_tunnel(void **state)
{
	uint8_t pkt[512], got[DP_BUFSZ];
	size_t len;

	(void)state;
	a_to_b_arrives("a session first");
	len = bcast_packet(pkt, NET_BC, NODE_A, "admitted");
	tun_inject(&w.a, pkt, len);
	pump();
	assert_int_equal(tun_take(&w.b, got, sizeof(got)), (ssize_t)len);
	assert_memory_equal(got, pkt, len);

	w.b.blocked = 1;
	a_bcast_unheard("blocked");
	assert_int_equal(w.b.d->ctr.bcast_rx_denied, 1);
	assert_int_equal(w.b.denied, 0); /* no flow was asked for */
	w.b.blocked = 0;

	w.b.d->members.nnets = 0; /* B leaves NET_BC */
	a_bcast_unheard("not in it");
	assert_int_equal(w.b.d->ctr.bcast_dropped, 1);
	assert_int_equal(w.b.d->ctr.bcast_rx, 1);
	assert_int_equal(w.a.d->ctr.bcast_tx_copies, 9); /* 3 each time */
}

/* PILOT_OFFLOAD_DISABLE: each word takes its offload away; `offload`
 * false leaves none; anything else is refused with its name. */
static void test_offload_parse(void **state)
{
	unsigned off = 99;
	char err[128] = "";
	(void)state;
	assert_int_equal(pilotd_offload_parse(1, NULL, &off, err, sizeof(err)), 0);
	assert_int_equal(off, PILOTD_OFFLOAD_ALL);
	assert_int_equal(pilotd_offload_parse(1, "", &off, err, sizeof(err)), 0);
	assert_int_equal(off, PILOTD_OFFLOAD_ALL);
	assert_int_equal(pilotd_offload_parse(1, "udp_gro", &off, err, sizeof(err)), 0);
	assert_int_equal(off, PILOTD_OFFLOAD_TSO | PILOTD_OFFLOAD_UDP_GSO);
	assert_int_equal(pilotd_offload_parse(1, "tso,udp_gso,", &off, err, sizeof(err)), 0);
	assert_int_equal(off, PILOTD_OFFLOAD_UDP_GRO);
	assert_int_equal(pilotd_offload_parse(1, "all", &off, err, sizeof(err)), 0);
	assert_int_equal(off, 0);
	assert_int_equal(pilotd_offload_parse(0, NULL, &off, err, sizeof(err)), 0);
	assert_int_equal(off, 0);
	off = 99;
	assert_int_equal(pilotd_offload_parse(1, "tso,gro", &off, err, sizeof(err)), -EINVAL);
	assert_int_equal(off, 99);
	assert_non_null(strstr(err, "'gro'"));
	assert_int_equal(pilotd_offload_parse(1, "tsox", &off, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "'tsox'"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_packet_crosses, setup_direct, teardown),
	    cmocka_unit_test_setup_teardown(test_refused_blocked, setup_direct, teardown),
	    cmocka_unit_test_setup_teardown(test_refused_not_trusted, setup_direct, teardown),
	    cmocka_unit_test_setup_teardown(test_dark_to_strangers, setup_direct, teardown),
	    cmocka_unit_test_setup_teardown(test_tampered_dropped, setup_relayed, teardown),
	    cmocka_unit_test_setup_teardown(test_replay_dropped, setup_relayed, teardown),
	    cmocka_unit_test_setup_teardown(test_inner_spoof_dropped, setup_direct, teardown),
	    cmocka_unit_test_setup_teardown(test_bcast_fanout, setup_bcast, teardown),
	    cmocka_unit_test_setup_teardown(test_bcast_refused, setup_bcast, teardown),
	    cmocka_unit_test_setup_teardown(test_bcast_tx_rate, setup_bcast, teardown),
	    cmocka_unit_test_setup_teardown(test_bcast_relayed_too_big, setup_bcast, teardown),
	    cmocka_unit_test_setup_teardown(test_bcast_rx_admission, setup_bcast, teardown),
	    cmocka_unit_test_setup_teardown(test_bcast_rx_rate, setup_bcast, teardown),
	    cmocka_unit_test_setup_teardown(test_bcast_rx_tunnel, setup_bcast, teardown),
	    cmocka_unit_test(test_offload_parse),
	};

	if (tnl_global_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
