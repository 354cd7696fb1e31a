/* test_netcheck.c - what netcheck decides (src/pilotd/netcheck.c): the
 * NAT mapping from two reflexive endpoints, the MTU probe's sizes and
 * result, echo tags and answers; and why a path is what it is
 * (dp_path_reason, src/pilotd/dp_path.c) as punches, probes and records
 * move it (dp_punch, dp_probe, dp_note_rx, dp_path_set) in a minimal
 * struct pilotd with one peer. */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
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

#include "dp.h"
#include "dp_int.h"
#include "netcheck.h"
#include "pilotd.h"
#include "util.h"

#define NODE_ME 0x0a000001u
#define NODE_PEER 0x0a000002u

static struct sockaddr_in6 ep4(const char *ip, uint16_t port)
{
	struct sockaddr_in6 sa;

	memset(&sa, 0, sizeof(sa));
	sa.sin6_family = AF_INET6;
	sa.sin6_addr.s6_addr[10] = 0xff;
	sa.sin6_addr.s6_addr[11] = 0xff;
	assert_int_equal(inet_pton(AF_INET, ip, &sa.sin6_addr.s6_addr[12]), 1);
	sa.sin6_port = htons(port);
	return sa;
}

/* ------------------------------------------------------------ mapping */

static void test_mapping(void **state)
{
	struct sockaddr_in6 a = ep4("198.18.0.11", 7000), b = ep4("198.18.0.11", 40001),
			    c = ep4("198.18.0.12", 40001);

	(void)state;
	/* No answer on the tunnel socket: nothing to say. */
	assert_int_equal(nc_mapping_decide(NULL, 7000, &b, 40001, 0), NC_MAP_UNKNOWN);
	/* Our own address at our port: no NAT, whatever the second says. */
	assert_int_equal(nc_mapping_decide(&a, 7000, NULL, 40001, 1), NC_MAP_NONE);
	assert_int_equal(nc_mapping_decide(&a, 7000, &c, 40001, 1), NC_MAP_NONE);
	/* A NAT, but the second socket got no answer. */
	assert_int_equal(nc_mapping_decide(&a, 7000, NULL, 40001, 0), NC_MAP_UNKNOWN);
	/* Ports kept (Linux masquerade): endpoint-independent. */
	assert_int_equal(nc_mapping_decide(&a, 7000, &b, 40001, 0), NC_MAP_EIM);
	/* Both shifted alike, across the wrap too. */
	b = ep4("198.18.0.11", 41001);
	a = ep4("198.18.0.11", 8000);
	assert_int_equal(nc_mapping_decide(&a, 7000, &b, 40001, 0), NC_MAP_EIM);
	a = ep4("198.18.0.11", 464); /* 65000 + 1000, modulo 2^16 */
	assert_int_equal(nc_mapping_decide(&a, 65000, &b, 40001, 0), NC_MAP_EIM);
	/* A port picked anew per mapping (masquerade fully-random). */
	a = ep4("198.18.0.13", 51234);
	b = ep4("198.18.0.13", 23456);
	assert_int_equal(nc_mapping_decide(&a, 7000, &b, 40001, 0), NC_MAP_EDM);
	/* Another public address for the second mapping. */
	a = ep4("198.18.0.11", 7000);
	assert_int_equal(nc_mapping_decide(&a, 7000, &c, 40001, 0), NC_MAP_EDM);

	assert_string_equal(nc_mapping_name(NC_MAP_UNKNOWN), "unknown");
	assert_string_equal(nc_mapping_name(NC_MAP_NONE), "none");
	assert_string_equal(nc_mapping_name(NC_MAP_EIM), "endpoint-independent");
	assert_string_equal(nc_mapping_name(NC_MAP_EDM), "endpoint-dependent");
}

/* ------------------------------------------------------------ MTU probe */

static void test_mtu_sizes(void **state)
{
	uint16_t v4[NC_MTUS], v6[NC_MTUS];

	(void)state;
	nc_mtu_sizes(0, v4);
	nc_mtu_sizes(1, v6);
	assert_int_equal(v4[0], 1472); /* 1500 over IPv4 */
	assert_int_equal(v6[0], 1452); /* 1500 over IPv6 */
	assert_int_equal(v4[NC_MTUS - 1], 1280 - NC_HDR_V4);
	assert_int_equal(v6[NC_MTUS - 1], 1280 - NC_HDR_V6);
	for (unsigned i = 0; i < NC_MTUS; i++) {
		/* Each is an echo the codec can make, largest first. */
		assert_true(v4[i] <= BCN_ECHO_MAX_LEN && v6[i] >= BCN_ECHO_MIN_LEN);
		assert_int_not_equal(bcn_frame_len(BCN_ECHO, v4[i] - BCN_ECHO_MIN_LEN), 0);
		if (i)
			assert_true(v4[i] < v4[i - 1] && v6[i] < v6[i - 1]);
	}
}

/* A run's echoes with the MTU sizes of an IPv4 beacon; \p pass: the
 * largest payload that gets through (0: none), \p iface: the largest the
 * interface sends (payload; larger ones are refused). */
static void run_echoes(struct nc_echo e[NC_PROBES], uint16_t pass, uint16_t iface)
{
	uint16_t sizes[NC_MTUS];
	struct sockaddr_in6 ep = ep4("198.18.0.11", 40001);

	memset(e, 0, sizeof(*e) * NC_PROBES);
	e[0].len = e[1].len = BCN_ECHO_MIN_LEN;
	nc_mtu_sizes(0, sizes);
	for (unsigned i = 0; i < NC_MTUS; i++)
		e[2 + i].len = sizes[i];
	for (unsigned i = 0; i < NC_PROBES; i++) {
		if (e[i].len > iface) {
			e[i].refused = 1;
			continue;
		}
		e[i].sent = 1;
		e[i].sent_us[0] = 1000;
		if (e[i].len <= pass)
			assert_int_equal(
			    nc_echo_answer(&e[i], i, 0, i != NC_ECHO_TUNNEL, e[i].len, &ep, 1500),
			    1);
	}
}

static void test_mtu_result(void **state)
{
	/* pass: the largest payload that gets through; iface: the largest
	 * the interface sends; then what the probe concludes. */
	static const struct {
		uint16_t pass, iface, largest, probed;
		int done;
	} cases[] = {
	    {1472, 1500, 1472, 1472, 1}, /* Ethernet all the way */
	    /* A 1400-byte link on the way: 1372 passes, larger ones are lost,
	     * and the run is not done until it gives them up. */
	    {1372, 1500, 1372, 1472, 0},
	    /* Our own interface (MTU 1400) is the limit: larger sizes are
	     * refused here, so the largest that could be sent decides. */
	    {1500, 1372, 1372, 1372, 1},
	    {0, 1500, 0, 1472, 0}, /* nothing answered */
	};
	struct nc_echo e[NC_PROBES];
	uint16_t largest, probed;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		run_echoes(e, cases[i].pass, cases[i].iface);
		nc_mtu_result(e, &largest, &probed);
		assert_int_equal(largest, cases[i].largest);
		assert_int_equal(probed, cases[i].probed);
		assert_int_equal(nc_echoes_done(e), cases[i].done);
	}
}

/* ------------------------------------------------------------ tags, answers */

static void test_tags(void **state)
{
	uint8_t tag[BCN_NONCE];
	unsigned idx, round;

	(void)state;
	nc_tag_make(tag, 0xdeadbeef, 7, 2);
	assert_int_equal(nc_tag_parse(tag, 0xdeadbeef, &idx, &round), 0);
	assert_int_equal(idx, 7);
	assert_int_equal(round, 2);
	/* Another run's. */
	assert_int_equal(nc_tag_parse(tag, 0xdeadbeee, &idx, &round), -1);
	/* Out of range, or a tail that is not zero. */
	nc_tag_make(tag, 1, NC_PROBES, 0);
	assert_int_equal(nc_tag_parse(tag, 1, &idx, &round), -1);
	nc_tag_make(tag, 1, 0, NC_ROUNDS);
	assert_int_equal(nc_tag_parse(tag, 1, &idx, &round), -1);
	nc_tag_make(tag, 1, 0, 0);
	tag[7] = 1;
	assert_int_equal(nc_tag_parse(tag, 1, &idx, &round), -1);
}

static void test_echo_answer(void **state)
{
	struct sockaddr_in6 ep = ep4("198.18.0.13", 51234);
	struct nc_echo e;

	(void)state;
	memset(&e, 0, sizeof(e));
	e.len = 100;
	e.sent = 2;
	e.sent_us[0] = 1000;
	e.sent_us[1] = 5000;
	/* The tunnel echo answered on the second socket, a wrong length, a
	 * round never sent: not this echo's. */
	assert_int_equal(nc_echo_answer(&e, NC_ECHO_TUNNEL, 0, 1, 100, &ep, 9000), 0);
	assert_int_equal(nc_echo_answer(&e, 3, 0, 0, 100, &ep, 9000), 0);
	assert_int_equal(nc_echo_answer(&e, 3, 0, 1, 99, &ep, 9000), 0);
	assert_int_equal(nc_echo_answer(&e, 3, 2, 1, 100, &ep, 9000), 0);
	assert_false(e.answered);
	/* The second send's answer: its round trip is from that send. */
	assert_int_equal(nc_echo_answer(&e, 3, 1, 1, 100, &ep, 9000), 1);
	assert_true(e.answered);
	assert_int_equal(e.rtt_us, 4000);
	assert_memory_equal(&e.ep, &ep, sizeof(ep));
	/* A late copy of the first changes nothing. */
	assert_int_equal(nc_echo_answer(&e, 3, 0, 1, 100, &ep, 9500), 0);
	assert_int_equal(e.rtt_us, 4000);
}

/* ------------------------------------------------------------ path reasons */

static struct pilotd *g_d;
static uint8_t g_peer_pk[32];

static struct peer *t_peer_for(struct pilotd *d, uint32_t node)
{
	return node == NODE_PEER ? peer_get(&d->peers, &d->id, node, g_peer_pk) : NULL;
}

static int t_never_blocked(void *ctx, uint32_t node)
{
	(void)ctx;
	(void)node;
	return 0;
}

static const struct dp_ops t_ops = {.peer_for = t_peer_for};
static const struct admit_ops t_admit = {.is_blocked = t_never_blocked};

static int setup(void **state)
{
	struct sockaddr_in6 lo;
	uint8_t sk[64], psk[64];
	struct pilotd *d;

	(void)state;
	if (sodium_init() < 0 || !(d = calloc(1, sizeof(*d))))
		return -1;
	crypto_sign_keypair(g_peer_pk, psk);
	crypto_sign_keypair(d->ed_pk, sk);
	if (tnl_identity_init(&d->id, sk) < 0 || peer_table_init(&d->peers) < 0 ||
	    admit_init(&d->admit, &t_admit, NULL) < 0 || !(d->batch = calloc(1, sizeof(*d->batch))))
		return -1;
	d->node_id = NODE_ME;
	d->dp_ops = &t_ops;
	/* Probes go out for real (to loopback ports nobody listens on). */
	d->udp_fd = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	memset(&lo, 0, sizeof(lo));
	lo.sin6_family = AF_INET6;
	lo.sin6_addr = in6addr_loopback;
	if (d->udp_fd < 0 || bind(d->udp_fd, (struct sockaddr *)&lo, sizeof(lo)) < 0)
		return -1;
	g_d = d;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	close(g_d->udp_fd);
	peer_table_free(&g_d->peers);
	admit_free(&g_d->admit);
	tnl_identity_wipe(&g_d->id);
	free(g_d->batch);
	free(g_d);
	return 0;
}

static const char *reason(const struct peer *p, int beacon_ok, int own_edm)
{
	static char buf[64];
	return dp_path_reason(p, beacon_ok, own_edm, buf, sizeof(buf));
}

/* A PUNCH from the beacon naming the peer at \p ep. */
static void punch(struct pilotd *d, const struct sockaddr_in6 *ep, uint64_t now)
{
	static const uint8_t nonce[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	dp_punch(d, NODE_PEER, ep, nonce, now);
}

/* A valid probe from the peer, from \p src, for the punch in progress. */
static void probe_from(struct pilotd *d, struct peer *p, const struct sockaddr_in6 *src,
		       uint64_t now)
{
	uint8_t probe[BCN_PROBE_LEN];

	/* The probe key is the pair's, the same on both sides. */
	bcn_probe_make(probe, NODE_PEER, NODE_ME, p->punch_nonce, p->ps.probe_key);
	dp_probe(d, probe, sizeof(probe), NODE_PEER, p->punch_nonce, src, now);
}

static void test_reason_transitions(void **state)
{
	struct pilotd *d = g_d;
	/* Loopback, where nobody listens: the bursts go nowhere. */
	struct sockaddr_in6 named = ep4("127.0.0.2", 7000), other = ep4("127.0.0.2", 33333);
	uint64_t now = now_mono_ms(), wall = now_real_ms();
	struct peer *p = t_peer_for(d, NODE_PEER);

	(void)state;
	assert_non_null(p);
	assert_string_equal(reason(p, 1, 0), "none");
	/* The handshake went unanswered: relayed, nothing ever heard. */
	dp_path_set(d, p, PATH_RELAYED, now);
	assert_string_equal(reason(p, 1, 0), "udp_blocked");
	assert_int_equal(p->punch_attempts, 0);
	assert_int_equal(p->last_punch_real_ms, 0);
	/* Without a beacon binding nothing can be punched. */
	assert_string_equal(reason(p, 0, 0), "no_beacon");
	/* A punch whose burst nothing answers. */
	punch(d, &named, now);
	assert_int_equal(p->punch_attempts, 1);
	assert_true(p->last_punch_real_ms >= wall && p->last_punch_real_ms < wall + 60000);
	assert_string_equal(reason(p, 1, 0), "udp_blocked");
	/* Our own NAT was found endpoint-dependent by netcheck. */
	assert_string_equal(reason(p, 1, 1), "symmetric_nat");
	/* A probe from the named address at the named port: heard, but the
	 * path is still relayed: the punch timed out. */
	probe_from(d, p, &named, now + 100);
	assert_int_equal(p->probe_shifted, 0);
	assert_string_equal(reason(p, 1, 0), "punch_timed_out");
	/* A probe from the same address at another port: its NAT maps per
	 * destination. */
	probe_from(d, p, &other, now + 200);
	assert_int_equal(p->probe_shifted, 1);
	assert_string_equal(reason(p, 1, 0), "symmetric_nat");
	assert_string_equal(reason(p, 0, 0), "no_beacon");
	/* A second punch, and an authenticated record straight from the peer
	 * during it: punched, after the two attempts. */
	punch(d, &named, now + 1000);
	assert_int_equal(p->punch_attempts, 2);
	dp_note_rx(d, p, &named, 0, now + 1100);
	assert_int_equal(p->path, PATH_PUNCHED);
	assert_string_equal(reason(p, 1, 0), "punched after 2 attempts");
	assert_string_equal(reason(p, 1, 1), "punched after 2 attempts");
	/* Back on the relay (the path stopped answering): the punches tried
	 * since, heard directly before, time out. */
	dp_path_set(d, p, PATH_RELAYED, now + 20000);
	assert_int_equal(p->probe_shifted, 0);
	punch(d, &named, now + 21000);
	assert_string_equal(reason(p, 1, 0), "punch_timed_out");
	/* One more punch that works: counted from the fallback. */
	punch(d, &named, now + 40000);
	dp_note_rx(d, p, &named, 0, now + 40100);
	assert_int_equal(p->punch_attempts, 4);
	assert_string_equal(reason(p, 1, 0), "punched after 2 attempts");
	punch(d, &named, now + 60000);
	dp_path_set(d, p, PATH_RELAYED, now + 60100);
	punch(d, &named, now + 61000);
	dp_note_rx(d, p, &named, 0, now + 61100);
	assert_string_equal(reason(p, 1, 0), "punched after 2 attempts");
	dp_path_set(d, p, PATH_RELAYED, now + 80000);
	punch(d, &named, now + 81000);
	dp_note_rx(d, p, &named, 0, now + 81100);
	assert_string_equal(reason(p, 1, 0), "punched after 1 attempt");
	/* A direct path says so. */
	dp_path_set(d, p, PATH_DIRECT, now + 90000);
	assert_string_equal(reason(p, 0, 1), "direct");
}

/* A probe that fails its MAC, or names no punch of ours, proves nothing. */
static void test_reason_forged_probe(void **state)
{
	struct pilotd *d = g_d;
	struct sockaddr_in6 named = ep4("127.0.0.2", 7000), other = ep4("127.0.0.2", 33333);
	uint64_t now = now_mono_ms();
	struct peer *p = t_peer_for(d, NODE_PEER);
	uint8_t probe[BCN_PROBE_LEN], key[BCN_KEY_LEN];

	(void)state;
	dp_path_set(d, p, PATH_RELAYED, now);
	/* No punch yet: a valid probe is not believed. */
	probe_from(d, p, &other, now);
	assert_int_equal(p->probe_rx_ms, 0);
	punch(d, &named, now);
	/* Under another key. */
	memset(key, 0x55, sizeof(key));
	bcn_probe_make(probe, NODE_PEER, NODE_ME, p->punch_nonce, key);
	dp_probe(d, probe, sizeof(probe), NODE_PEER, p->punch_nonce, &other, now + 10);
	assert_int_equal(p->probe_shifted, 0);
	assert_int_equal(p->probe_rx_ms, 0);
	assert_string_equal(reason(p, 1, 0), "udp_blocked");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mapping),
	    cmocka_unit_test(test_mtu_sizes),
	    cmocka_unit_test(test_mtu_result),
	    cmocka_unit_test(test_tags),
	    cmocka_unit_test(test_echo_answer),
	    cmocka_unit_test_setup_teardown(test_reason_transitions, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reason_forged_probe, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
