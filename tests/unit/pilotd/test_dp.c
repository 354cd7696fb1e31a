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
 * ::1 that forwards every datagram and changes or repeats one. */
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
	/* recorded */
	unsigned established, denied, resolves;
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

static struct world {
	struct side a, b;
	struct relay r;
	int relayed;
} w;

static const struct pilot_prefix test_prefix = {{0xfd, 0x7e, 0x57, 0xd0, 0x0d, 0x01}};

static struct side *side_of(const struct pilotd *d)
{
	return d == w.a.d ? &w.a : &w.b;
}

/* ------------------------------------------------------------ dp_ops */

static struct peer *t_peer_for(struct pilotd *d, uint32_t node)
{
	struct side *s = side_of(d);
	struct peer *p;

	if (node != s->other->d->node_id)
		return NULL;
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
	return is_other(s, node) && s->blocked;
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

static int a_shares_network(void *ctx, uint32_t node, uint16_t net)
{
	(void)ctx;
	(void)node;
	(void)net;
	return 0;
}

static int a_shares_any(void *ctx, uint32_t node)
{
	struct side *s = ctx;
	return is_other(s, node) && s->shares_any;
}

static const struct admit_ops test_admit_ops = {
    .is_blocked = a_blocked,
    .is_revoked = a_revoked,
    .is_trusted = a_trusted,
    .shares_network = a_shares_network,
    .shares_any = a_shares_any,
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

static struct in6_addr overlay(uint32_t node)
{
	struct pilot_addr a = {.net = 0, .node = node};
	struct in6_addr ip;

	addr_to_ipv6(&test_prefix, &a, &ip);
	return ip;
}

/* An IPv6 UDP datagram from \p src to \p dst carrying \p msg. */
static size_t udp_packet(uint8_t *b, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
			 const char *msg)
{
	struct in6_addr s = overlay(src), d = overlay(dst);
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
	uint8_t pkt[512], got[DP_BUFSZ];
	size_t len = udp_packet(pkt, NODE_A, NODE_B, 40001, 5353, "not for you");
	ssize_t n;

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

	n = tun_take(&w.a, got, sizeof(got));
	assert_true(n >= 48);
	assert_int_equal(got[6], IPPROTO_ICMPV6);
	assert_int_equal(got[40], 1); /* destination unreachable */
	assert_int_equal(got[41], 1); /* administratively prohibited */
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_packet_crosses, setup_direct, teardown),
	    cmocka_unit_test_setup_teardown(test_refused_blocked, setup_direct, teardown),
	    cmocka_unit_test_setup_teardown(test_refused_not_trusted, setup_direct, teardown),
	    cmocka_unit_test_setup_teardown(test_dark_to_strangers, setup_direct, teardown),
	    cmocka_unit_test_setup_teardown(test_tampered_dropped, setup_relayed, teardown),
	    cmocka_unit_test_setup_teardown(test_replay_dropped, setup_relayed, teardown),
	};

	if (tnl_global_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
