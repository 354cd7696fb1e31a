/* test_bcn.c - the beacon frame codec (src/lib/bcn.c): keys, sealing and
 * opening every frame type, counters and the replay window, PROBE frames
 * and endpoints. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include <sodium.h>

#include "bcn.h"

#define T_NOW 1700000000ull /* some wall-clock second */
#define T_BASE (T_NOW << 32)
#define T_NODE 0x0a0b0c0du
#define T_PEER 0x11223344u
#define USABLE (BCN_WINDOW - 64)

/* An Ed25519 identity and its X25519 form. */
struct ident {
	uint8_t ed_pk[32], ed_sk[64];
	uint8_t x_pk[32], x_sk[32];
};

#define PROBE_KEY "0123456789abcdef0123456789abcdef"

static void ident_make(struct ident *id)
{
	assert_int_equal(crypto_sign_keypair(id->ed_pk, id->ed_sk), 0);
	assert_int_equal(crypto_sign_ed25519_pk_to_curve25519(id->x_pk, id->ed_pk), 0);
	assert_int_equal(crypto_sign_ed25519_sk_to_curve25519(id->x_sk, id->ed_sk), 0);
}

static void key_fill(uint8_t key[BCN_KEY_LEN], uint8_t v)
{
	memset(key, v, BCN_KEY_LEN);
}

static void be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void be64(uint8_t *p, uint64_t v)
{
	be32(p, (uint32_t)(v >> 32));
	be32(p + 4, (uint32_t)v);
}

/* Recompute the MAC of a len-byte frame in place (to get past it). */
static void remac(uint8_t *buf, size_t len, const uint8_t key[BCN_KEY_LEN])
{
	assert_true(len >= BCN_MAC);
	crypto_generichash(buf + len - BCN_MAC, BCN_MAC, buf, len - BCN_MAC, key, BCN_KEY_LEN);
}

static void ep_v4(struct sockaddr_in6 *sa, const char *ip, uint16_t port)
{
	memset(sa, 0, sizeof(*sa));
	sa->sin6_family = AF_INET6;
	sa->sin6_addr.s6_addr[10] = 0xff;
	sa->sin6_addr.s6_addr[11] = 0xff;
	assert_int_equal(inet_pton(AF_INET, ip, &sa->sin6_addr.s6_addr[12]), 1);
	sa->sin6_port = htons(port);
}

static void ep_v6(struct sockaddr_in6 *sa, const char *ip, uint16_t port)
{
	memset(sa, 0, sizeof(*sa));
	sa->sin6_family = AF_INET6;
	assert_int_equal(inet_pton(AF_INET6, ip, &sa->sin6_addr), 1);
	sa->sin6_port = htons(port);
}

static void assert_ep_equal(const struct sockaddr_in6 *a, const struct sockaddr_in6 *b)
{
	assert_int_equal(a->sin6_family, AF_INET6);
	assert_int_equal(b->sin6_family, AF_INET6);
	assert_memory_equal(&a->sin6_addr, &b->sin6_addr, 16);
	assert_int_equal(a->sin6_port, b->sin6_port);
}

static const uint8_t types[] = {BCN_BIND,  BCN_BIND_OK, BCN_PUNCH_REQ, BCN_PUNCH,
				BCN_RELAY, BCN_RELAYED, BCN_ECHO,      BCN_ECHO_OK};
#define NTYPES (sizeof(types) / sizeof(types[0]))

static int is_relay(unsigned type)
{
	return type == BCN_RELAY || type == BCN_RELAYED;
}

static int is_echo(unsigned type)
{
	return type == BCN_ECHO || type == BCN_ECHO_OK;
}

/* Does a frame of \p type open at length \p n (the layout alone)? */
static int opens_at(unsigned type, size_t n)
{
	if (is_relay(type))
		return n > BCN_RELAY_OVERHEAD && n <= BCN_RELAY_OVERHEAD + BCN_MAX_PAYLOAD;
	if (is_echo(type))
		return n >= BCN_ECHO_MIN_LEN && n <= BCN_ECHO_MAX_LEN;
	return bcn_frame_len((uint8_t)type, 0) == n;
}

/* A frame of each type with every field filled (payload too, for RELAY,
 * RELAYED, ECHO and ECHO_OK: plen bytes of a pattern at bcn_var_at()).
 * Returns the sealed length. */
static size_t make_frame(uint8_t type, const uint8_t key[BCN_KEY_LEN], uint8_t *buf, size_t cap,
			 size_t plen, struct bcn_frame *f)
{
	int n;

	memset(f, 0, sizeof(*f));
	f->type = type;
	f->node = T_NODE;
	f->counter = T_BASE | 0x1234;
	f->peer = T_PEER;
	ep_v4(&f->ep, "198.18.0.1", 9001);
	for (int i = 0; i < BCN_NONCE; i++)
		f->nonce[i] = (uint8_t)(0xa0 + i);
	if (bcn_var_at(type)) {
		assert_true(bcn_var_at(type) + plen + BCN_MAC <= cap);
		for (size_t i = 0; i < plen; i++)
			buf[bcn_var_at(type) + i] = (uint8_t)(i * 7 + 3);
		f->payload = buf + bcn_var_at(type);
		f->plen = plen;
	}
	n = bcn_seal(f, key, buf, cap);
	assert_true(n > 0);
	assert_int_equal((size_t)n, bcn_frame_len(type, plen));
	return (size_t)n;
}

static int group_setup(void **state)
{
	(void)state;
	return sodium_init() < 0 ? -1 : 0;
}

/* ------------------------------------------------------------------ keys */

static void test_key_agree(void **state)
{
	struct ident node, beacon, other;
	uint8_t kn[BCN_KEY_LEN], kb[BCN_KEY_LEN], k[BCN_KEY_LEN];

	(void)state;
	ident_make(&node);
	ident_make(&beacon);
	ident_make(&other);

	/* Both sides compute the same key. */
	assert_int_equal(bcn_key(kn, node.x_sk, beacon.x_pk, T_NODE, node.ed_pk, beacon.ed_pk), 0);
	assert_int_equal(bcn_key(kb, beacon.x_sk, node.x_pk, T_NODE, node.ed_pk, beacon.ed_pk), 0);
	assert_memory_equal(kn, kb, BCN_KEY_LEN);
	/* ... every time. */
	assert_int_equal(bcn_key(k, node.x_sk, beacon.x_pk, T_NODE, node.ed_pk, beacon.ed_pk), 0);
	assert_memory_equal(k, kn, BCN_KEY_LEN);

	/* Another node ID: another key. */
	assert_int_equal(bcn_key(k, node.x_sk, beacon.x_pk, T_NODE + 1, node.ed_pk, beacon.ed_pk),
			 0);
	assert_memory_not_equal(k, kn, BCN_KEY_LEN);
	/* Another node (keys): another key, on both sides. */
	assert_int_equal(bcn_key(k, other.x_sk, beacon.x_pk, T_NODE, other.ed_pk, beacon.ed_pk), 0);
	assert_memory_not_equal(k, kn, BCN_KEY_LEN);
	assert_int_equal(bcn_key(kb, beacon.x_sk, other.x_pk, T_NODE, other.ed_pk, beacon.ed_pk),
			 0);
	assert_memory_equal(k, kb, BCN_KEY_LEN);
	/* Another beacon: another key. */
	assert_int_equal(bcn_key(k, node.x_sk, other.x_pk, T_NODE, node.ed_pk, other.ed_pk), 0);
	assert_memory_not_equal(k, kn, BCN_KEY_LEN);
	/* The identities are bound in: the same DH with other (or swapped)
	 * Ed25519 keys gives another key. */
	assert_int_equal(bcn_key(k, node.x_sk, beacon.x_pk, T_NODE, beacon.ed_pk, node.ed_pk), 0);
	assert_memory_not_equal(k, kn, BCN_KEY_LEN);
	assert_int_equal(bcn_key(k, node.x_sk, beacon.x_pk, T_NODE, other.ed_pk, beacon.ed_pk), 0);
	assert_memory_not_equal(k, kn, BCN_KEY_LEN);
	/* The node's own DH with a third party's key: another key. */
	assert_int_equal(bcn_key(k, node.x_sk, other.x_pk, T_NODE, node.ed_pk, beacon.ed_pk), 0);
	assert_memory_not_equal(k, kn, BCN_KEY_LEN);

	sodium_memzero(&node, sizeof(node));
	sodium_memzero(&beacon, sizeof(beacon));
	sodium_memzero(&other, sizeof(other));
}

/* The key is what bcn.h says: BLAKE2b-256 keyed by the X25519 secret over
 * "pilot beacon v1" || node ID (big-endian, as on the wire) || node pk ||
 * beacon pk. */
static void test_key_construction(void **state)
{
	static const char label[] = "pilot beacon v1";
	struct ident node, beacon;
	uint8_t k[BCN_KEY_LEN], want[BCN_KEY_LEN], ss[32];
	uint8_t msg[sizeof(label) - 1 + 4 + 32 + 32];

	(void)state;
	ident_make(&node);
	ident_make(&beacon);
	assert_int_equal(crypto_scalarmult(ss, node.x_sk, beacon.x_pk), 0);
	memcpy(msg, label, sizeof(label) - 1);
	be32(msg + sizeof(label) - 1, T_NODE);
	memcpy(msg + sizeof(label) - 1 + 4, node.ed_pk, 32);
	memcpy(msg + sizeof(label) - 1 + 4 + 32, beacon.ed_pk, 32);
	assert_int_equal(crypto_generichash(want, sizeof(want), msg, sizeof(msg), ss, sizeof(ss)),
			 0);
	assert_int_equal(bcn_key(k, node.x_sk, beacon.x_pk, T_NODE, node.ed_pk, beacon.ed_pk), 0);
	assert_memory_equal(k, want, BCN_KEY_LEN);
	sodium_memzero(&node, sizeof(node));
	sodium_memzero(ss, sizeof(ss));
}

static void test_key_low_order(void **state)
{
	/* Curve25519 points of small order (and non-canonical encodings of
	 * them): the shared secret would be all zero. */
	static const uint8_t bad[][32] = {
	    {0}, /* 0 */
	    {1}, /* 1 */
	    {0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3,
	     0xfa, 0xf1, 0x9f, 0xc4, 0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32,
	     0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00}, /* order 8 */
	    {0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1,
	     0x55, 0x9c, 0x83, 0xef, 0x5b, 0x04, 0x44, 0x5c, 0xc4, 0x58, 0x1c,
	     0x8e, 0x86, 0xd8, 0x22, 0x4e, 0xdd, 0xd0, 0x9f, 0x11, 0x57}, /* order 8 */
	    {0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, /* p - 1 */
	    {0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, /* p (= 0) */
	    {0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, /* p + 1 (= 1) */
	};
	struct ident node, beacon;
	uint8_t k[BCN_KEY_LEN];

	(void)state;
	ident_make(&node);
	ident_make(&beacon);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(bcn_key(k, node.x_sk, bad[i], T_NODE, node.ed_pk, beacon.ed_pk),
				 -EINVAL);
		assert_int_equal(bcn_key(k, beacon.x_sk, bad[i], T_NODE, node.ed_pk, beacon.ed_pk),
				 -EINVAL);
	}
	sodium_memzero(&node, sizeof(node));
	sodium_memzero(&beacon, sizeof(beacon));
}

/* ------------------------------------------------------------ seal / open */

static void test_frame_len(void **state)
{
	(void)state;
	assert_int_equal(BCN_BIND_LEN, 32);
	assert_int_equal(BCN_BIND_OK_LEN, 50);
	assert_int_equal(BCN_PUNCH_REQ_LEN, 36);
	assert_int_equal(BCN_PUNCH_LEN, 62);
	assert_int_equal(BCN_RELAY_OVERHEAD, 36);
	assert_int_equal(BCN_ECHO_MIN_LEN, 58);
	assert_int_equal(bcn_frame_len(BCN_BIND, 99), BCN_BIND_LEN);
	assert_int_equal(bcn_frame_len(BCN_BIND_OK, 99), BCN_BIND_OK_LEN);
	assert_int_equal(bcn_frame_len(BCN_PUNCH_REQ, 99), BCN_PUNCH_REQ_LEN);
	assert_int_equal(bcn_frame_len(BCN_PUNCH, 99), BCN_PUNCH_LEN);
	assert_int_equal(bcn_frame_len(BCN_RELAY, 1), BCN_RELAY_OVERHEAD + 1);
	assert_int_equal(bcn_frame_len(BCN_RELAYED, 1400), BCN_RELAY_OVERHEAD + 1400);
	/* An echo may be unpadded, and is never longer than BCN_ECHO_MAX_LEN. */
	assert_int_equal(bcn_frame_len(BCN_ECHO, 0), BCN_ECHO_MIN_LEN);
	assert_int_equal(bcn_frame_len(BCN_ECHO_OK, 100), BCN_ECHO_MIN_LEN + 100);
	assert_int_equal(bcn_frame_len(BCN_ECHO, BCN_ECHO_MAX_LEN - BCN_ECHO_MIN_LEN),
			 BCN_ECHO_MAX_LEN);
	assert_int_equal(bcn_frame_len(BCN_ECHO, BCN_ECHO_MAX_LEN - BCN_ECHO_MIN_LEN + 1), 0);
	assert_int_equal(bcn_frame_len(BCN_ECHO_OK, BCN_MAX_PAYLOAD), 0);
	for (unsigned t = 0; t < 256; t++) {
		int known = 0;
		for (size_t i = 0; i < NTYPES; i++)
			known |= types[i] == t;
		if (!known)
			assert_int_equal(bcn_frame_len((uint8_t)t, 10), 0);
	}
}

static void test_seal_open_bind(void **state)
{
	uint8_t key[BCN_KEY_LEN], buf[128], mac[BCN_MAC];
	struct bcn_frame f, g;
	int n;

	(void)state;
	key_fill(key, 0x42);
	memset(&f, 0, sizeof(f));
	f.type = BCN_BIND;
	f.node = T_NODE;
	f.counter = T_BASE | 7;
	memset(buf, 0xee, sizeof(buf));
	n = bcn_seal(&f, key, buf, sizeof(buf));
	assert_int_equal(n, BCN_BIND_LEN);
	/* The layout: type, reserved, node, counter (network order), MAC. */
	assert_int_equal(buf[0], BCN_BIND);
	assert_int_equal(buf[1] | buf[2] | buf[3], 0);
	assert_int_equal(buf[4], 0x0a);
	assert_int_equal(buf[7], 0x0d);
	assert_int_equal(buf[8], (uint8_t)(T_NOW >> 24));
	assert_int_equal(buf[11], (uint8_t)T_NOW);
	assert_int_equal(buf[12] | buf[13] | buf[14], 0);
	assert_int_equal(buf[15], 7);
	crypto_generichash(mac, sizeof(mac), buf, BCN_HDR, key, BCN_KEY_LEN);
	assert_memory_equal(buf + BCN_HDR, mac, BCN_MAC);
	assert_int_equal(buf[n], 0xee); /* nothing written past the frame */

	assert_int_equal(bcn_open(buf, (size_t)n, key, &g), 0);
	assert_int_equal(g.type, BCN_BIND);
	assert_int_equal(g.node, T_NODE);
	assert_int_equal(g.counter, T_BASE | 7);
	assert_int_equal(g.peer, 0);
	assert_null(g.payload);
	assert_int_equal(g.plen, 0);
}

static void test_seal_open_bind_ok(void **state)
{
	static const struct {
		const char *ip;
		int v4;
		uint16_t port;
	} eps[] = {
	    {"198.18.0.1", 1, 9001},
	    {"0.0.0.0", 1, 1},
	    {"255.255.255.255", 1, 65535},
	    {"fd00::1", 0, 9001},
	    {"fd00:db8::dead:beef", 0, 443},
	    {"::", 0, 1},
	    {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 0, 65535},
	};
	uint8_t key[BCN_KEY_LEN], buf[128];
	struct bcn_frame f, g;
	int n;

	(void)state;
	key_fill(key, 0x43);
	for (size_t i = 0; i < sizeof(eps) / sizeof(eps[0]); i++) {
		memset(&f, 0, sizeof(f));
		f.type = BCN_BIND_OK;
		f.node = 0xffffffffu;
		f.counter = UINT64_MAX - i;
		if (eps[i].v4)
			ep_v4(&f.ep, eps[i].ip, eps[i].port);
		else
			ep_v6(&f.ep, eps[i].ip, eps[i].port);
		n = bcn_seal(&f, key, buf, sizeof(buf));
		assert_int_equal(n, BCN_BIND_OK_LEN);
		/* address(16) then port (network order) after the header */
		assert_memory_equal(buf + BCN_HDR, &f.ep.sin6_addr, 16);
		assert_int_equal(buf[BCN_HDR + 16], eps[i].port >> 8);
		assert_int_equal(buf[BCN_HDR + 17], eps[i].port & 0xff);
		assert_int_equal(bcn_open(buf, (size_t)n, key, &g), 0);
		assert_int_equal(g.type, BCN_BIND_OK);
		assert_int_equal(g.node, 0xffffffffu);
		assert_int_equal(g.counter, UINT64_MAX - i);
		assert_ep_equal(&g.ep, &f.ep);
		assert_int_equal(IN6_IS_ADDR_V4MAPPED(&g.ep.sin6_addr) != 0, eps[i].v4);
		assert_int_equal(g.ep.sin6_flowinfo, 0);
		assert_int_equal(g.ep.sin6_scope_id, 0);
	}
}

static void test_seal_open_punch(void **state)
{
	uint8_t key[BCN_KEY_LEN], buf[128];
	struct bcn_frame f, g;
	int n;

	(void)state;
	key_fill(key, 0x44);

	/* PUNCH_REQ: the target. */
	memset(&f, 0, sizeof(f));
	f.type = BCN_PUNCH_REQ;
	f.node = 1;
	f.counter = T_BASE;
	f.peer = T_PEER;
	n = bcn_seal(&f, key, buf, sizeof(buf));
	assert_int_equal(n, BCN_PUNCH_REQ_LEN);
	assert_int_equal(buf[BCN_HDR], 0x11);
	assert_int_equal(buf[BCN_HDR + 3], 0x44);
	assert_int_equal(bcn_open(buf, (size_t)n, key, &g), 0);
	assert_int_equal(g.type, BCN_PUNCH_REQ);
	assert_int_equal(g.node, 1);
	assert_int_equal(g.counter, T_BASE);
	assert_int_equal(g.peer, T_PEER);
	assert_null(g.payload);

	/* PUNCH: peer, endpoint and nonce, v4-mapped and v6. */
	for (int v6 = 0; v6 < 2; v6++) {
		memset(&f, 0, sizeof(f));
		f.type = BCN_PUNCH;
		f.node = 2;
		f.counter = T_BASE + 99;
		f.peer = 0xfedcba98u;
		if (v6)
			ep_v6(&f.ep, "fd00:db8::7", 51820);
		else
			ep_v4(&f.ep, "198.19.113.9", 51820);
		for (int i = 0; i < BCN_NONCE; i++)
			f.nonce[i] = (uint8_t)(0xf0 ^ i);
		n = bcn_seal(&f, key, buf, sizeof(buf));
		assert_int_equal(n, BCN_PUNCH_LEN);
		assert_memory_equal(buf + BCN_HDR + 4 + BCN_EP_LEN, f.nonce, BCN_NONCE);
		assert_int_equal(bcn_open(buf, (size_t)n, key, &g), 0);
		assert_int_equal(g.type, BCN_PUNCH);
		assert_int_equal(g.node, 2);
		assert_int_equal(g.counter, T_BASE + 99);
		assert_int_equal(g.peer, 0xfedcba98u);
		assert_ep_equal(&g.ep, &f.ep);
		assert_memory_equal(g.nonce, f.nonce, BCN_NONCE);
		assert_null(g.payload);
	}
}

static void test_seal_open_relay(void **state)
{
	static const size_t plens[] = {1, 2, 15, 16, 17, 100, 1400, 4000};
	uint8_t key[BCN_KEY_LEN], buf[BCN_RELAY_OVERHEAD + 4000 + 8];
	struct bcn_frame f, g;

	(void)state;
	key_fill(key, 0x45);
	for (int r = 0; r < 2; r++) {
		uint8_t type = r ? BCN_RELAYED : BCN_RELAY;
		for (size_t i = 0; i < sizeof(plens) / sizeof(plens[0]); i++) {
			size_t n, plen = plens[i];

			memset(buf, 0xcc, sizeof(buf));
			n = make_frame(type, key, buf, sizeof(buf), plen, &f);
			assert_int_equal(n, BCN_RELAY_OVERHEAD + plen);
			assert_int_equal(buf[n], 0xcc);
			/* The payload stays in place, untouched. */
			for (size_t j = 0; j < plen; j++)
				assert_int_equal(buf[BCN_RELAY_HDR + j], (uint8_t)(j * 7 + 3));
			assert_int_equal(bcn_open(buf, n, key, &g), 0);
			assert_int_equal(g.type, type);
			assert_int_equal(g.node, T_NODE);
			assert_int_equal(g.counter, T_BASE | 0x1234);
			assert_int_equal(g.peer, T_PEER);
			assert_ptr_equal(g.payload, buf + BCN_RELAY_HDR);
			assert_int_equal(g.plen, plen);
		}
	}
}

/* ECHO and ECHO_OK: the pad stays in place, the beacon's answer is the
 * request resealed in place (same length, the endpoint written over the
 * zeros), and the length is bounded both ways. */
static void test_seal_open_echo(void **state)
{
	static const size_t plens[] = {0, 1, 100, 1400 - BCN_ECHO_MIN_LEN,
				       BCN_ECHO_MAX_LEN - BCN_ECHO_MIN_LEN};
	uint8_t key[BCN_KEY_LEN], buf[BCN_ECHO_MAX_LEN + 8];
	struct bcn_frame f, g, out;

	(void)state;
	key_fill(key, 0x44);
	for (size_t i = 0; i < sizeof(plens) / sizeof(plens[0]); i++) {
		size_t plen = plens[i], n;

		memset(buf, 0xcc, sizeof(buf));
		memset(&f, 0, sizeof(f));
		f.type = BCN_ECHO;
		f.node = T_NODE;
		f.counter = T_BASE | 7;
		memcpy(f.nonce, "TAG-0001", BCN_NONCE);
		memset(buf + BCN_ECHO_HDR, 0, plen);
		f.plen = plen;
		n = (size_t)bcn_seal(&f, key, buf, sizeof(buf));
		assert_int_equal(n, BCN_ECHO_MIN_LEN + plen);
		assert_int_equal(buf[n], 0xcc);
		/* The asker's endpoint field is zero. */
		for (size_t j = BCN_HDR; j < BCN_HDR + BCN_EP_LEN; j++)
			assert_int_equal(buf[j], 0);
		assert_int_equal(bcn_open(buf, n, key, &g), 0);
		assert_int_equal(g.type, BCN_ECHO);
		assert_int_equal(g.plen, plen);
		assert_ptr_equal(g.payload, buf + BCN_ECHO_HDR);
		assert_memory_equal(g.nonce, "TAG-0001", BCN_NONCE);

		/* The beacon's answer, in place. */
		out = g;
		out.type = BCN_ECHO_OK;
		ep_v6(&out.ep, "2001:db8::7", 40000);
		assert_int_equal(bcn_seal(&out, key, buf, n), (int)n);
		assert_int_equal(bcn_open(buf, n, key, &g), 0);
		assert_int_equal(g.type, BCN_ECHO_OK);
		assert_int_equal(g.plen, plen);
		assert_ep_equal(&g.ep, &out.ep);
		assert_memory_equal(g.nonce, "TAG-0001", BCN_NONCE);
		for (size_t j = 0; j < plen; j++)
			assert_int_equal(buf[BCN_ECHO_HDR + j], 0);
	}
	/* Past the largest: neither sealed nor opened. */
	memset(&f, 0, sizeof(f));
	f.type = BCN_ECHO;
	f.plen = BCN_ECHO_MAX_LEN - BCN_ECHO_MIN_LEN + 1;
	assert_int_equal(bcn_seal(&f, key, buf, sizeof(buf)), -EINVAL);
	memset(buf, 0, sizeof(buf));
	buf[0] = BCN_ECHO;
	remac(buf, BCN_ECHO_MAX_LEN + 1, key);
	assert_int_equal(bcn_open(buf, BCN_ECHO_MAX_LEN + 1, key, &g), -EBADMSG);
	remac(buf, BCN_ECHO_MIN_LEN - 1, key);
	assert_int_equal(bcn_open(buf, BCN_ECHO_MIN_LEN - 1, key, &g), -EBADMSG);
	remac(buf, BCN_ECHO_MAX_LEN, key);
	assert_int_equal(bcn_open(buf, BCN_ECHO_MAX_LEN, key, &g), 0);
}

/* Every type round-trips and re-seals to the same bytes; fields a type
 * does not carry are neither written nor read back. */
static void test_seal_open_all(void **state)
{
	uint8_t key[BCN_KEY_LEN], buf[256], again[256];
	struct bcn_frame f, g;

	(void)state;
	key_fill(key, 0x46);
	for (size_t i = 0; i < NTYPES; i++) {
		size_t n = make_frame(types[i], key, buf, sizeof(buf), 33, &f);
		int m;

		assert_int_equal(bcn_open(buf, n, key, &g), 0);
		assert_int_equal(g.type, types[i]);
		assert_int_equal(g.node, f.node);
		assert_int_equal(g.counter, f.counter);
		assert_int_equal(g.peer, types[i] == BCN_BIND || types[i] == BCN_BIND_OK ||
						 is_echo(types[i])
					     ? 0
					     : f.peer);
		if (types[i] == BCN_BIND_OK || types[i] == BCN_PUNCH || is_echo(types[i]))
			assert_ep_equal(&g.ep, &f.ep);
		else
			assert_int_equal(g.ep.sin6_family, 0);
		if (types[i] == BCN_PUNCH || is_echo(types[i]))
			assert_memory_equal(g.nonce, f.nonce, BCN_NONCE);
		else
			assert_int_equal(g.nonce[0] | g.nonce[7], 0);

		memcpy(again, buf, n);
		m = bcn_seal(&g, key, again, sizeof(again));
		assert_int_equal(m, (int)n);
		assert_memory_equal(again, buf, n);
	}
}

static void test_seal_errors(void **state)
{
	uint8_t key[BCN_KEY_LEN], buf[256], frame[256];
	struct bcn_frame f;
	static const uint8_t unknown[] = {0x00, 0x01, 0x04, 0x0f, 0x16, BCN_PROBE,
					  0x1a, 0x1f, 0x20, 0x90, 0xff};

	(void)state;
	key_fill(key, 0x47);
	for (size_t i = 0; i < NTYPES; i++) {
		size_t len = make_frame(types[i], key, frame, sizeof(frame), 20, &f);

		/* One byte short: refused, and nothing written. */
		memset(buf, 0x5a, sizeof(buf));
		if (f.payload)
			f.payload = buf + bcn_var_at(f.type);
		assert_int_equal(bcn_seal(&f, key, buf, len - 1), -EMSGSIZE);
		assert_int_equal(bcn_seal(&f, key, buf, 0), -EMSGSIZE);
		for (size_t j = 0; j < sizeof(buf); j++)
			assert_int_equal(buf[j], 0x5a);
		/* Exactly enough: fine. */
		memcpy(buf, frame, sizeof(buf));
		assert_int_equal(bcn_seal(&f, key, buf, len), (int)len);
		assert_memory_equal(buf, frame, len);
	}
	/* Types with no frame layout. */
	memset(&f, 0, sizeof(f));
	for (size_t i = 0; i < sizeof(unknown); i++) {
		f.type = unknown[i];
		memset(buf, 0x5a, sizeof(buf));
		assert_int_equal(bcn_seal(&f, key, buf, sizeof(buf)), -EINVAL);
		assert_int_equal(buf[0], 0x5a);
	}
}

/* -------------------------------------------------------------- rejects */

static void test_open_bit_flips(void **state)
{
	uint8_t key[BCN_KEY_LEN], buf[256], t[256];
	struct bcn_frame f, g;

	(void)state;
	key_fill(key, 0x48);
	for (size_t i = 0; i < NTYPES; i++) {
		size_t n = make_frame(types[i], key, buf, sizeof(buf), 24, &f);

		for (size_t pos = 0; pos < n; pos++) {
			for (int bit = 0; bit < 8; bit++) {
				int rc;

				memcpy(t, buf, n);
				t[pos] ^= (uint8_t)(1u << bit);
				rc = bcn_open(t, n, key, &g);
				if (pos == 0)
					assert_true(rc == -EPERM || rc == -EBADMSG);
				else if (pos < 4)
					assert_int_equal(rc, -EBADMSG); /* reserved */
				else
					assert_int_equal(rc, -EPERM); /* node..MAC */
			}
		}
		/* A flipped MAC with a right body, and the MAC zeroed. */
		memcpy(t, buf, n);
		memset(t + n - BCN_MAC, 0, BCN_MAC);
		assert_int_equal(bcn_open(t, n, key, &g), -EPERM);
		assert_int_equal(bcn_open(buf, n, key, &g), 0);
	}
}

static void test_open_wrong_key(void **state)
{
	struct ident node, beacon, other;
	uint8_t kn[BCN_KEY_LEN], ko[BCN_KEY_LEN], k2[BCN_KEY_LEN], buf[256];
	struct bcn_frame f, g;

	(void)state;
	ident_make(&node);
	ident_make(&beacon);
	ident_make(&other);
	assert_int_equal(bcn_key(kn, node.x_sk, beacon.x_pk, T_NODE, node.ed_pk, beacon.ed_pk), 0);
	assert_int_equal(bcn_key(ko, other.x_sk, beacon.x_pk, T_NODE, other.ed_pk, beacon.ed_pk),
			 0);
	/* The same node ID, one less: */
	assert_int_equal(bcn_key(k2, node.x_sk, beacon.x_pk, T_NODE - 1, node.ed_pk, beacon.ed_pk),
			 0);
	for (size_t i = 0; i < NTYPES; i++) {
		size_t n = make_frame(types[i], kn, buf, sizeof(buf), 5, &f);

		assert_int_equal(bcn_open(buf, n, kn, &g), 0);
		assert_int_equal(bcn_open(buf, n, ko, &g), -EPERM);
		assert_int_equal(bcn_open(buf, n, k2, &g), -EPERM);
		key_fill(k2, 0);
		assert_int_equal(bcn_open(buf, n, k2, &g), -EPERM);
		assert_int_equal(
		    bcn_key(k2, node.x_sk, beacon.x_pk, T_NODE - 1, node.ed_pk, beacon.ed_pk), 0);
	}
	sodium_memzero(&node, sizeof(node));
	sodium_memzero(&beacon, sizeof(beacon));
	sodium_memzero(&other, sizeof(other));
}

static void test_open_lengths(void **state)
{
	uint8_t key[BCN_KEY_LEN], buf[512], t[512];
	struct bcn_frame f, g;

	(void)state;
	key_fill(key, 0x49);
	for (size_t i = 0; i < NTYPES; i++) {
		int relay = bcn_var_at(types[i]) != 0;
		size_t n = make_frame(types[i], key, buf, sizeof(buf), 40, &f);

		/* Truncated. */
		for (size_t len = 0; len < n; len++) {
			int rc = bcn_open(buf, len, key, &g);
			if (relay && opens_at(types[i], len))
				assert_int_equal(rc, -EPERM); /* a shorter payload */
			else
				assert_int_equal(rc, -EBADMSG);
		}
		/* Extended. */
		for (size_t len = n + 1; len < n + 40; len++) {
			int rc;
			memcpy(t, buf, n);
			memset(t + n, 0, len - n);
			rc = bcn_open(t, len, key, &g);
			if (relay)
				assert_int_equal(rc, -EPERM);
			else
				assert_int_equal(rc, -EBADMSG);
		}
		/* A wrong length is refused even with a right MAC over it. */
		if (!relay) {
			for (size_t len = BCN_HDR + BCN_MAC; len < n + 40; len++) {
				if (len == n)
					continue;
				memset(t, 0, sizeof(t));
				memcpy(t, buf, BCN_HDR);
				remac(t, len, key);
				assert_int_equal(bcn_open(t, len, key, &g), -EBADMSG);
			}
		}
	}
}

static void test_open_reserved(void **state)
{
	uint8_t key[BCN_KEY_LEN], buf[256];
	struct bcn_frame f, g;
	uint8_t type;
	uint32_t node;

	(void)state;
	key_fill(key, 0x4a);
	for (size_t i = 0; i < NTYPES; i++) {
		size_t n = make_frame(types[i], key, buf, sizeof(buf), 3, &f);

		for (int pos = 1; pos < 4; pos++) {
			static const uint8_t vals[] = {0x01, 0x80, 0xff};
			for (size_t v = 0; v < sizeof(vals); v++) {
				buf[pos] = vals[v];
				remac(buf, n, key); /* the MAC is right: still refused */
				assert_int_equal(bcn_open(buf, n, key, &g), -EBADMSG);
				assert_int_equal(bcn_peek(buf, n, &type, &node), -EBADMSG);
				buf[pos] = 0;
			}
		}
		remac(buf, n, key);
		assert_int_equal(bcn_open(buf, n, key, &g), 0);
	}
}

static void test_open_types(void **state)
{
	uint8_t key[BCN_KEY_LEN], buf[256], t[256];
	struct bcn_frame f, g;

	(void)state;
	key_fill(key, 0x4b);
	for (size_t i = 0; i < NTYPES; i++) {
		size_t n = make_frame(types[i], key, buf, sizeof(buf), 26, &f);

		/* Every type byte, with a right MAC over it: only a known type
		 * whose layout has this length opens (the MAC covers the type,
		 * so a RELAY of the right size may well be a PUNCH). */
		for (unsigned ty = 0; ty < 256; ty++) {
			int known = 0, rc;

			for (size_t k = 0; k < NTYPES; k++)
				known |= types[k] == ty;
			memcpy(t, buf, n);
			t[0] = (uint8_t)ty;
			remac(t, n, key);
			rc = bcn_open(t, n, key, &g);
			if (known && opens_at(ty, n)) {
				assert_int_equal(rc, 0);
				assert_int_equal(g.type, ty);
				assert_int_equal(g.node, T_NODE);
			} else {
				assert_int_equal(rc, -EBADMSG);
			}
		}
	}
	/* Frames with types outside the range (or unknown in it) and a valid
	 * MAC, of every length up to 80. */
	for (unsigned ty = 0; ty < 256; ty++) {
		int known = 0;
		for (size_t i = 0; i < NTYPES; i++)
			known |= types[i] == ty;
		if (known)
			continue;
		for (size_t len = 0; len <= 80; len++) {
			memset(t, 0, sizeof(t));
			t[0] = (uint8_t)ty;
			if (len >= BCN_MAC)
				remac(t, len, key);
			assert_int_equal(bcn_open(t, len, key, &g), -EBADMSG);
		}
	}
}

static void test_open_empty_relay(void **state)
{
	uint8_t key[BCN_KEY_LEN], buf[64];
	struct bcn_frame g;

	(void)state;
	key_fill(key, 0x4c);
	for (int r = 0; r < 2; r++) {
		memset(buf, 0, sizeof(buf));
		buf[0] = r ? BCN_RELAYED : BCN_RELAY;
		be32(buf + 4, T_NODE);
		be64(buf + 8, T_BASE);
		be32(buf + BCN_HDR, T_PEER);
		remac(buf, BCN_RELAY_OVERHEAD, key);
		assert_int_equal(bcn_open(buf, BCN_RELAY_OVERHEAD, key, &g), -EBADMSG);
		/* one byte of payload is a frame */
		remac(buf, BCN_RELAY_OVERHEAD + 1, key);
		assert_int_equal(bcn_open(buf, BCN_RELAY_OVERHEAD + 1, key, &g), 0);
		assert_int_equal(g.plen, 1);
		assert_int_equal(g.peer, T_PEER);
	}
}

/* A frame built by hand from the layout in bcn.h opens. */
static void test_open_handmade(void **state)
{
	uint8_t key[BCN_KEY_LEN], buf[BCN_PUNCH_LEN];
	struct bcn_frame g;

	(void)state;
	key_fill(key, 0x4d);
	memset(buf, 0, sizeof(buf));
	buf[0] = BCN_PUNCH;
	be32(buf + 4, T_NODE);
	be64(buf + 8, T_BASE | 3);
	be32(buf + 16, T_PEER);
	buf[20 + 10] = 0xff;
	buf[20 + 11] = 0xff;
	buf[20 + 12] = 192;
	buf[20 + 13] = 0;
	buf[20 + 14] = 2;
	buf[20 + 15] = 77;
	buf[20 + 16] = 0x1f;
	buf[20 + 17] = 0x90;
	memcpy(buf + 38, "NONCE!!!", BCN_NONCE);
	remac(buf, sizeof(buf), key);
	assert_int_equal(bcn_open(buf, sizeof(buf), key, &g), 0);
	assert_int_equal(g.type, BCN_PUNCH);
	assert_int_equal(g.node, T_NODE);
	assert_int_equal(g.counter, T_BASE | 3);
	assert_int_equal(g.peer, T_PEER);
	assert_int_equal(g.ep.sin6_family, AF_INET6);
	assert_true(IN6_IS_ADDR_V4MAPPED(&g.ep.sin6_addr));
	assert_int_equal(g.ep.sin6_addr.s6_addr[15], 77);
	assert_int_equal(ntohs(g.ep.sin6_port), 8080);
	assert_memory_equal(g.nonce, "NONCE!!!", BCN_NONCE);
}

/* ----------------------------------------------------------- peek, type */

static void test_peek(void **state)
{
	uint8_t key[BCN_KEY_LEN], buf[256], type;
	struct bcn_frame f;
	uint32_t node;

	(void)state;
	key_fill(key, 0x4e);
	for (size_t i = 0; i < NTYPES; i++) {
		size_t n = make_frame(types[i], key, buf, sizeof(buf), 8, &f);

		type = 0;
		node = 0;
		assert_int_equal(bcn_peek(buf, n, &type, &node), 0);
		assert_int_equal(type, types[i]);
		assert_int_equal(node, T_NODE);
		/* The MAC is not checked here. */
		buf[n - 1] ^= 1;
		assert_int_equal(bcn_peek(buf, n, &type, &node), 0);
		/* Shorter than a header and a MAC. */
		for (size_t len = 0; len < BCN_HDR + BCN_MAC; len++)
			assert_int_equal(bcn_peek(buf, len, &type, &node), -EBADMSG);
	}
	/* Any frame-range type but PROBE with a clean header and enough bytes. */
	memset(buf, 0, sizeof(buf));
	for (unsigned ty = 0; ty < 256; ty++) {
		buf[0] = (uint8_t)ty;
		be32(buf + 4, 0xdeadbeefu);
		if (bcn_is_frame((uint8_t)ty) && ty != BCN_PROBE) {
			assert_int_equal(bcn_peek(buf, BCN_HDR + BCN_MAC, &type, &node), 0);
			assert_int_equal(type, ty);
			assert_int_equal(node, 0xdeadbeefu);
		} else {
			assert_int_equal(bcn_peek(buf, BCN_HDR + BCN_MAC, &type, &node), -EBADMSG);
		}
	}
	/* Reserved bytes. */
	buf[0] = BCN_BIND;
	for (int pos = 1; pos < 4; pos++) {
		buf[pos] = 0x10;
		assert_int_equal(bcn_peek(buf, BCN_HDR + BCN_MAC, &type, &node), -EBADMSG);
		buf[pos] = 0;
	}
	/* A PROBE is never a MACed frame. */
	bcn_probe_make(buf, 5, 6, (const uint8_t *)"12345678", (const uint8_t *)PROBE_KEY);
	assert_int_equal(bcn_peek(buf, BCN_PROBE_LEN, &type, &node), -EBADMSG);
}

static void test_is_frame(void **state)
{
	(void)state;
	for (unsigned t = 0; t < 256; t++)
		assert_int_equal(bcn_is_frame((uint8_t)t) != 0, t >= 0x10 && t <= 0x1f);
	/* Never a tunnel message (types 1-4). */
	for (unsigned t = 1; t <= 4; t++)
		assert_false(bcn_is_frame((uint8_t)t));
	for (size_t i = 0; i < NTYPES; i++)
		assert_true(bcn_is_frame(types[i]));
	assert_true(bcn_is_frame(BCN_PROBE));
}

/* ------------------------------------------------------------- counters */

static void test_counter_next(void **state)
{
	struct bcn_counter c = {0};
	uint64_t v, prev;

	(void)state;
	v = bcn_counter_next(&c, T_NOW);
	assert_int_equal(v, T_BASE);
	assert_int_equal(v >> 32, T_NOW);
	/* Within a second the low half counts. */
	for (uint64_t i = 1; i < 1000; i++) {
		v = bcn_counter_next(&c, T_NOW);
		assert_int_equal(v, T_BASE + i);
	}
	/* A new second starts its low half at 0. */
	v = bcn_counter_next(&c, T_NOW + 1);
	assert_int_equal(v, (T_NOW + 1) << 32);
	v = bcn_counter_next(&c, T_NOW + 1);
	assert_int_equal(v, ((T_NOW + 1) << 32) + 1);
	v = bcn_counter_next(&c, T_NOW + 100);
	assert_int_equal(v, (T_NOW + 100) << 32);
	prev = v;
	/* The clock going back does not take the counter back. */
	v = bcn_counter_next(&c, T_NOW - 5);
	assert_int_equal(v, prev + 1);
	v = bcn_counter_next(&c, 0);
	assert_int_equal(v, prev + 2);
	v = bcn_counter_next(&c, T_NOW + 100);
	assert_int_equal(v, prev + 3);
	/* The low half running over spills into the next second. */
	c.last = T_BASE | 0xffffffffu;
	v = bcn_counter_next(&c, T_NOW);
	assert_int_equal(v, (T_NOW + 1) << 32);
	v = bcn_counter_next(&c, T_NOW + 1);
	assert_int_equal(v, ((T_NOW + 1) << 32) + 1);
}

/* A restarted sender never reuses a counter of its last second. */
static void test_counter_start(void **state)
{
	struct bcn_counter c = {0}, prev = {0};
	uint64_t s = 1795000000ull, v;

	(void)state;
	for (int i = 0; i < 10; i++)
		bcn_counter_next(&prev, s); /* the previous run, in second s */
	bcn_counter_start(&c, s);	    /* restarted within the same second */
	v = bcn_counter_next(&c, s);
	assert_true(v > prev.last);
	assert_int_equal(v >> 32, s + 1);
	/* A later start never moves a counter back. */
	c.last = (s + 5) << 32;
	bcn_counter_start(&c, s);
	assert_int_equal(c.last, (s + 5) << 32);
	assert_true(bcn_counter_next(&c, s) > ((s + 5) << 32));
}

static void test_counter_monotonic(void **state)
{
	struct bcn_counter c = {0}, restarted = {0};
	uint64_t now = T_NOW, prev = 0, v;
	uint32_t rng = 12345;

	(void)state;
	for (int i = 0; i < 20000; i++) {
		rng = rng * 1103515245u + 12345u;
		switch ((rng >> 16) % 8) {
		case 0:
			now += (rng >> 20) % 5;
			break;
		case 1:
			now -= (rng >> 20) % 3; /* clock stepped back */
			break;
		default:
			break;
		}
		v = bcn_counter_next(&c, now);
		assert_true(v > prev);
		assert_true(v >> 32 >= now);
		if (prev >> 32 < now)
			assert_int_equal(v, now << 32);
		prev = v;
	}
	/* A sender restarted (no state) a second later still counts up. */
	v = bcn_counter_next(&restarted, (prev >> 32) + 1);
	assert_true(v > prev);
}

/* ---------------------------------------------------------------- replay */

static void test_replay_basic(void **state)
{
	struct bcn_replay r;

	(void)state;
	memset(&r, 0, sizeof(r));
	assert_int_equal(bcn_replay_check(&r, T_BASE + 10, T_NOW), 1);
	assert_int_equal(bcn_replay_check(&r, T_BASE + 10, T_NOW), -EALREADY);
	assert_int_equal(bcn_replay_check(&r, T_BASE + 11, T_NOW), 1);
	assert_int_equal(bcn_replay_check(&r, T_BASE + 5, T_NOW), 0);
	assert_int_equal(bcn_replay_check(&r, T_BASE + 5, T_NOW), -EALREADY);
	assert_int_equal(bcn_replay_check(&r, T_BASE + 0, T_NOW), 0);
	assert_int_equal(bcn_replay_check(&r, T_BASE + 0, T_NOW), -EALREADY);
	assert_int_equal(bcn_replay_check(&r, T_BASE + 11, T_NOW), -EALREADY);
	assert_int_equal(bcn_replay_check(&r, T_BASE + 13, T_NOW), 1);
	assert_int_equal(bcn_replay_check(&r, T_BASE + 12, T_NOW), 0);
	assert_int_equal(bcn_replay_check(&r, T_BASE + 12, T_NOW), -EALREADY);
	/* The next second. */
	assert_int_equal(bcn_replay_check(&r, (T_NOW + 1) << 32, T_NOW + 1), 1);
	/* The last counters of the previous second are still in the window. */
	assert_int_equal(bcn_replay_check(&r, T_BASE | 0xffffffffu, T_NOW + 1), 0);
	assert_int_equal(bcn_replay_check(&r, T_BASE | 0xffffffffu, T_NOW + 1), -EALREADY);
	/* ... but not the early ones. */
	assert_int_equal(bcn_replay_check(&r, T_BASE + 14, T_NOW + 1), -EALREADY);
}

/* Exactly BCN_WINDOW - 64 counters behind the newest is the oldest
 * accepted; every one of them is accepted once, at every alignment of the
 * newest within a 64-bit word. */
static void test_replay_window_edge(void **state)
{
	static const uint64_t tops[] = {2000, 2047, 2048, 2049, 2080, 2111, 5000};
	struct bcn_replay r;

	(void)state;
	for (size_t t = 0; t < sizeof(tops) / sizeof(tops[0]); t++) {
		uint64_t hi = T_BASE + tops[t];

		memset(&r, 0, sizeof(r));
		assert_int_equal(bcn_replay_check(&r, hi, T_NOW), 1);
		assert_int_equal(bcn_replay_check(&r, hi - USABLE - 1, T_NOW), -EALREADY);
		assert_int_equal(bcn_replay_check(&r, hi - USABLE - 64, T_NOW), -EALREADY);
		assert_int_equal(bcn_replay_check(&r, hi - BCN_WINDOW, T_NOW), -EALREADY);
		assert_int_equal(bcn_replay_check(&r, hi - 100000, T_NOW), -EALREADY);
		for (uint64_t back = 1; back <= USABLE; back++)
			assert_int_equal(bcn_replay_check(&r, hi - back, T_NOW), 0);
		for (uint64_t back = 0; back <= USABLE + 70; back++)
			assert_int_equal(bcn_replay_check(&r, hi - back, T_NOW), -EALREADY);
		/* Newer ones still work, and slide the edge along. */
		assert_int_equal(bcn_replay_check(&r, hi + 1, T_NOW), 1);
		assert_int_equal(bcn_replay_check(&r, hi + 1 - USABLE, T_NOW), -EALREADY);
		assert_int_equal(bcn_replay_check(&r, hi + 3, T_NOW), 1);
		assert_int_equal(bcn_replay_check(&r, hi + 2, T_NOW), 0);
	}
}

static void test_replay_skew(void **state)
{
	struct bcn_replay r;

	(void)state;
	memset(&r, 0, sizeof(r));
	/* Too old or too new a second: refused, and the window unchanged. */
	assert_int_equal(bcn_replay_check(&r, (T_NOW + BCN_MAX_SKEW_S + 1) << 32, T_NOW), -ESTALE);
	assert_int_equal(bcn_replay_check(&r, ((T_NOW + BCN_MAX_SKEW_S + 1) << 32) - 1, T_NOW), 1);
	memset(&r, 0, sizeof(r));
	assert_int_equal(bcn_replay_check(&r, (T_NOW + 1000) << 32, T_NOW), -ESTALE);
	assert_int_equal(bcn_replay_check(&r, UINT64_MAX - 1, T_NOW), -ESTALE);
	assert_int_equal(bcn_replay_check(&r, (T_NOW - BCN_MAX_SKEW_S - 1) << 32, T_NOW), -ESTALE);
	assert_int_equal(
	    bcn_replay_check(&r, ((T_NOW - BCN_MAX_SKEW_S - 1) << 32) | 0xffffffffu, T_NOW),
	    -ESTALE);
	assert_int_equal(bcn_replay_check(&r, 0, T_NOW), -ESTALE);
	assert_int_equal(bcn_replay_check(&r, 1, T_NOW), -ESTALE);
	assert_int_equal(r.top, 0);
	/* The edges are in. */
	assert_int_equal(bcn_replay_check(&r, (T_NOW - BCN_MAX_SKEW_S) << 32, T_NOW), 1);
	memset(&r, 0, sizeof(r));
	assert_int_equal(bcn_replay_check(&r, (T_NOW + BCN_MAX_SKEW_S) << 32, T_NOW), 1);
	/* After a future frame (within the skew), a frame from now is far
	 * behind it. */
	assert_int_equal(bcn_replay_check(&r, T_BASE, T_NOW), -EALREADY);
	/* A stale frame is stale even when it would be new to the window. */
	memset(&r, 0, sizeof(r));
	assert_int_equal(bcn_replay_check(&r, T_BASE, T_NOW), 1);
	assert_int_equal(bcn_replay_check(&r, (T_NOW + 61) << 32, T_NOW), -ESTALE);
	assert_int_equal(bcn_replay_check(&r, T_BASE + 1, T_NOW), 1);
	/* As time passes, the same counter goes stale. */
	assert_int_equal(bcn_replay_check(&r, T_BASE + 2, T_NOW + BCN_MAX_SKEW_S + 1), -ESTALE);
	assert_int_equal(bcn_replay_check(&r, T_BASE + 2, T_NOW + BCN_MAX_SKEW_S), 1);
	/* now_s near zero */
	memset(&r, 0, sizeof(r));
	assert_int_equal(bcn_replay_check(&r, 5, 0), 1);
	assert_int_equal(bcn_replay_check(&r, 61ull << 32, 0), -ESTALE);
	assert_int_equal(bcn_replay_check(&r, 60ull << 32, 0), 1);
}

static void test_replay_jumps(void **state)
{
	static const uint64_t jumps[] = {1,    63,   64,	 65,	    500,  959,
					 960,  961,  1023,	 1024,	    1025, 1088,
					 2048, 5000, 1ull << 20, 1ull << 32};
	struct bcn_replay r;

	(void)state;
	for (size_t j = 0; j < sizeof(jumps) / sizeof(jumps[0]); j++) {
		uint64_t hi = T_BASE + 4096, nhi = hi + jumps[j];

		/* A full window below hi. */
		memset(&r, 0, sizeof(r));
		assert_int_equal(bcn_replay_check(&r, hi, T_NOW), 1);
		for (uint64_t back = 1; back <= USABLE; back++)
			assert_int_equal(bcn_replay_check(&r, hi - back, T_NOW), 0);
		/* Jump. */
		assert_int_equal(bcn_replay_check(&r, nhi, T_NOW + 1), 1);
		/* Below the new window: refused, whether seen or not. */
		if (jumps[j] > USABLE) {
			assert_int_equal(bcn_replay_check(&r, hi, T_NOW + 1), -EALREADY);
			assert_int_equal(bcn_replay_check(&r, hi - 1, T_NOW + 1), -EALREADY);
			assert_int_equal(bcn_replay_check(&r, nhi - USABLE - 1, T_NOW + 1),
					 -EALREADY);
		}
		/* In the new window: what was seen is a replay, the rest is
		 * fresh, however the old bits aliased; each once. */
		for (uint64_t back = 1; back <= USABLE; back++) {
			uint64_t c = nhi - back;
			int seen = c <= hi && c >= hi - USABLE;
			assert_int_equal(bcn_replay_check(&r, c, T_NOW + 1), seen ? -EALREADY : 0);
			assert_int_equal(bcn_replay_check(&r, c, T_NOW + 1), -EALREADY);
		}
		assert_int_equal(bcn_replay_check(&r, nhi, T_NOW + 1), -EALREADY);
	}
}

/* Against a model: the set of accepted counters and the newest.  A
 * counter is refused if seen, or if more than BCN_WINDOW - 64 behind the
 * newest; otherwise accepted (1 if it is the new newest). */
static void test_replay_model(void **state)
{
	enum { SPAN = 1 << 21 };
	static uint8_t seen[SPAN];
	struct bcn_replay r;
	uint64_t pos = 5000, hi = 0;
	int any = 0, accepted = 0, old = 0, refused = 0;
	uint32_t rng = 777;

	(void)state;
	memset(&r, 0, sizeof(r));
	memset(seen, 0, sizeof(seen));
	for (int i = 0; i < 100000; i++) {
		uint64_t off, back;
		unsigned pick;
		int want, got;

		rng = rng * 1103515245u + 12345u;
		pick = (rng >> 8) % 100;
		rng = rng * 1103515245u + 12345u;
		if (pick < 1)
			pos += (rng >> 8) % 3000; /* a jump ahead */
		else
			pos += (rng >> 8) % 4;
		if (pos >= SPAN)
			break;
		rng = rng * 1103515245u + 12345u;
		pick = (rng >> 8) % 100;
		rng = rng * 1103515245u + 12345u;
		if (pick < 50)
			back = 0;
		else if (pick < 80)
			back = (rng >> 8) % 64;
		else
			back = (rng >> 8) % 1100; /* around the window's edge */
		off = back < pos ? pos - back : 0;

		if (seen[off])
			want = -EALREADY;
		else if (any && off + USABLE < hi)
			want = -EALREADY;
		else
			want = !any || off > hi;
		got = bcn_replay_check(&r, T_BASE + off, T_NOW);
		if (got != want)
			fail_msg("step %d: counter +%llu (newest +%llu): got %d, want %d", i,
				 (unsigned long long)off, (unsigned long long)hi, got, want);
		if (want >= 0) {
			seen[off] = 1;
			accepted++;
			old += want == 0;
			if (!any || off > hi)
				hi = off;
			any = 1;
		} else {
			refused++;
		}
	}
	/* The walk exercised all three outcomes. */
	assert_true(accepted > 10000);
	assert_true(old > 1000);
	assert_true(refused > 10000);
}

/* ----------------------------------------------------------------- PROBE */

static void test_probe(void **state)
{
	static const uint8_t *key = (const uint8_t *)PROBE_KEY;
	static const uint8_t nonce[BCN_NONCE] = {1, 2, 3, 4, 5, 6, 7, 8};
	uint8_t buf[BCN_PROBE_LEN + 4], got[BCN_NONCE], t[BCN_PROBE_LEN + 4];
	uint32_t node;

	(void)state;
	memset(buf, 0xaa, sizeof(buf));
	bcn_probe_make(buf, T_NODE, 77, nonce, key);
	assert_int_equal(buf[0], BCN_PROBE);
	assert_int_equal(buf[1] | buf[2] | buf[3], 0);
	assert_int_equal(buf[4], 0x0a);
	assert_int_equal(buf[7], 0x0d);
	assert_memory_equal(buf + 8, nonce, BCN_NONCE);
	assert_int_equal(buf[BCN_PROBE_LEN], 0xaa);
	assert_true(bcn_is_frame(buf[0]));

	node = 0;
	memset(got, 0, sizeof(got));
	assert_int_equal(bcn_probe_parse(buf, BCN_PROBE_LEN, &node, got), 0);
	assert_int_equal(node, T_NODE);
	assert_memory_equal(got, nonce, BCN_NONCE);
	/* The MAC: for this receiver, under this key, over every byte. */
	assert_int_equal(bcn_probe_verify(buf, BCN_PROBE_LEN, 77, key), 0);
	assert_int_equal(bcn_probe_verify(buf, BCN_PROBE_LEN, 78, key), -EBADMSG);
	assert_int_equal(bcn_probe_verify(buf, BCN_PROBE_LEN - 1, 77, key), -EBADMSG);
	{
		uint8_t other[BCN_KEY_LEN];
		memcpy(other, key, sizeof(other));
		other[31] ^= 1;
		assert_int_equal(bcn_probe_verify(buf, BCN_PROBE_LEN, 77, other), -EBADMSG);
	}
	for (size_t i = 0; i < BCN_PROBE_LEN; i++) {
		memcpy(t, buf, sizeof(t));
		t[i] ^= 0x40;
		assert_int_equal(bcn_probe_verify(t, BCN_PROBE_LEN, 77, key), -EBADMSG);
	}

	/* Wrong lengths. */
	for (size_t len = 0; len < sizeof(buf); len++)
		if (len != BCN_PROBE_LEN)
			assert_int_equal(bcn_probe_parse(buf, len, &node, got), -EBADMSG);
	/* Wrong types. */
	for (unsigned ty = 0; ty < 256; ty++) {
		memcpy(t, buf, sizeof(t));
		t[0] = (uint8_t)ty;
		assert_int_equal(bcn_probe_parse(t, BCN_PROBE_LEN, &node, got),
				 ty == BCN_PROBE ? 0 : -EBADMSG);
	}
	/* Reserved bytes. */
	for (int pos = 1; pos < 4; pos++) {
		for (int bit = 0; bit < 8; bit++) {
			memcpy(t, buf, sizeof(t));
			t[pos] = (uint8_t)(1u << bit);
			assert_int_equal(bcn_probe_parse(t, BCN_PROBE_LEN, &node, got), -EBADMSG);
		}
	}
	/* A PROBE is no sealed frame, and a sealed frame no PROBE. */
	{
		uint8_t fkey[BCN_KEY_LEN], f[256];
		struct bcn_frame fr, g;
		size_t n;

		key_fill(fkey, 0x50);
		assert_int_equal(bcn_open(buf, BCN_PROBE_LEN, fkey, &g), -EBADMSG);
		n = make_frame(BCN_BIND, fkey, f, sizeof(f), 0, &fr);
		assert_int_equal(bcn_probe_parse(f, n, &node, got), -EBADMSG);
		assert_int_equal(bcn_probe_parse(f, BCN_PROBE_LEN, &node, got), -EBADMSG);
	}
	/* Extremes. */
	memset(got, 0xff, sizeof(got));
	bcn_probe_make(buf, 0xffffffffu, 0xffffffffu, got, key);
	assert_int_equal(bcn_probe_parse(buf, BCN_PROBE_LEN, &node, got), 0);
	assert_int_equal(node, 0xffffffffu);
}

/* ------------------------------------------------------------- endpoints */

static void test_ep_parse_format(void **state)
{
	static const struct {
		const char *in, *out;
		int v4;
	} ok[] = {
	    {"198.18.0.1:9001", "198.18.0.1:9001", 1},
	    {"[fd00::1]:9001", "[fd00::1]:9001", 0},
	    {"0.0.0.0:1", "0.0.0.0:1", 1},
	    {"255.255.255.255:65535", "255.255.255.255:65535", 1},
	    {"[::1]:443", "[::1]:443", 0},
	    {"[FD00:DB8:0:0::7]:51820", "[fd00:db8::7]:51820", 0},
	    {"[::ffff:198.19.2.1]:80", "198.19.2.1:80", 1},
	};
	struct sockaddr_storage ss, ss2;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	char buf[INET6_ADDRSTRLEN + 16];
	socklen_t len;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		len = 0;
		memset(&ss, 0xa5, sizeof(ss));
		assert_int_equal(bcn_ep_parse(ok[i].in, &ss, &len), 0);
		assert_int_equal(len, sizeof(struct sockaddr_in6));
		assert_int_equal(ss.ss_family, AF_INET6);
		assert_int_equal(IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr) != 0, ok[i].v4);
		assert_int_equal(s6->sin6_flowinfo, 0);
		assert_int_equal(s6->sin6_scope_id, 0);
		assert_ptr_equal(bcn_ep_format(&ss, buf, sizeof(buf)), buf);
		assert_string_equal(buf, ok[i].out);
		/* and back */
		assert_int_equal(bcn_ep_parse(buf, &ss2, &len), 0);
		assert_ep_equal((struct sockaddr_in6 *)&ss2, s6);
	}

	/* The exact sockaddrs. */
	assert_int_equal(bcn_ep_parse("198.18.0.1:9001", &ss, &len), 0);
	{
		static const uint8_t want[16] = {0, 0, 0,    0,	   0,	0,  0, 0,
						 0, 0, 0xff, 0xff, 198, 18, 0, 1};
		assert_memory_equal(&s6->sin6_addr, want, 16);
		assert_int_equal(ntohs(s6->sin6_port), 9001);
	}
	assert_int_equal(bcn_ep_parse("[fd00::1]:9001", &ss, &len), 0);
	{
		static const uint8_t want[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
		assert_memory_equal(&s6->sin6_addr, want, 16);
		assert_int_equal(ntohs(s6->sin6_port), 9001);
	}

	/* Not IPv6: "-". */
	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_INET;
	assert_string_equal(bcn_ep_format(&ss, buf, sizeof(buf)), "-");
	ss.ss_family = AF_UNSPEC;
	assert_string_equal(bcn_ep_format(&ss, buf, sizeof(buf)), "-");
	/* A short buffer: truncated, terminated. */
	assert_int_equal(bcn_ep_parse("[fd00:db8::1234:5678]:65535", &ss, &len), 0);
	memset(buf, 'x', sizeof(buf));
	assert_ptr_equal(bcn_ep_format(&ss, buf, 8), buf);
	assert_string_equal(buf, "[fd00:d");
	assert_int_equal(bcn_ep_parse("198.19.113.200:65535", &ss, &len), 0);
	memset(buf, 'x', sizeof(buf));
	bcn_ep_format(&ss, buf, 5);
	assert_string_equal(buf, "198.");
}

static void test_ep_parse_invalid(void **state)
{
	static const char *bad[] = {
	    "",
	    "1.2.3.4",
	    "1.2.3.4:0",
	    "host:1",
	    "[::1]",
	    "1.2.3.4:70000",
	    "1.2.3.4: 80",
	    "1.2.3.4:\t80",
	    "1.2.3.4:+80",
	    "1.2.3.4: +80",
	    "[::1]: 80",
	    "1.2.3.4:65536",
	    "1.2.3.4:",
	    ":80",
	    "[::1]:",
	    "[::1]:0",
	    "[]:80",
	    "::1:80",
	    "fd00::1:9001",
	    "[fd00::1]9001",
	    "[fd00::1:9001",
	    "[1.2.3.4]:80",
	    "1.2.3:80",
	    "1.2.3.4.5:80",
	    "256.1.1.1:80",
	    "1.2.3.4:80x",
	    "1.2.3.4:-1",
	    "1.2.3.4:+80",
	    " 1.2.3.4:80",
	    "1.2.3.4:80:80",
	    "1.2.3.4:18446744073709551617",
	    "[fe80::1%eth0]:80",
	    "localhost:9001",
	    "[::1]:80:80",
	    "0x01020304:80",
	    "1111111111111111111111111111111111111111111111111111111111111111:1",
	};
	struct sockaddr_storage ss;
	socklen_t len;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = bcn_ep_parse(bad[i], &ss, &len);
		if (rc != -EINVAL)
			fail_msg("bcn_ep_parse(\"%s\") = %d, want -EINVAL", bad[i], rc);
	}
}

static void test_ep_put_get(void **state)
{
	struct sockaddr_in6 a, b;
	uint8_t wire[BCN_EP_LEN + 2];

	(void)state;
	ep_v4(&a, "198.18.0.1", 9001);
	memset(wire, 0x77, sizeof(wire));
	bcn_ep_put(wire, &a);
	assert_int_equal(wire[BCN_EP_LEN], 0x77);
	assert_int_equal(wire[10], 0xff);
	assert_int_equal(wire[11], 0xff);
	assert_int_equal(wire[12], 198);
	assert_int_equal(wire[15], 1);
	assert_int_equal(wire[16], 9001 >> 8);
	assert_int_equal(wire[17], 9001 & 0xff);
	memset(&b, 0xa5, sizeof(b));
	bcn_ep_get(&b, wire);
	assert_ep_equal(&b, &a);
	assert_int_equal(b.sin6_flowinfo, 0);
	assert_int_equal(b.sin6_scope_id, 0);

	ep_v6(&a, "fd00:db8:1:2:3:4:5:6", 1);
	a.sin6_scope_id = 9;   /* not carried */
	a.sin6_flowinfo = 123; /* not carried */
	bcn_ep_put(wire, &a);
	assert_memory_equal(wire, &a.sin6_addr, 16);
	assert_int_equal(wire[16], 0);
	assert_int_equal(wire[17], 1);
	memset(&b, 0xa5, sizeof(b));
	bcn_ep_get(&b, wire);
	assert_ep_equal(&b, &a);
	assert_int_equal(b.sin6_scope_id, 0);
	assert_int_equal(b.sin6_flowinfo, 0);

	/* Any 18 bytes are an endpoint, and put undoes get. */
	for (int i = 0; i < 64; i++) {
		uint8_t in[BCN_EP_LEN], out[BCN_EP_LEN];
		randombytes_buf(in, sizeof(in));
		bcn_ep_get(&b, in);
		bcn_ep_put(out, &b);
		assert_memory_equal(in, out, BCN_EP_LEN);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_key_agree),
	    cmocka_unit_test(test_key_construction),
	    cmocka_unit_test(test_key_low_order),
	    cmocka_unit_test(test_frame_len),
	    cmocka_unit_test(test_seal_open_bind),
	    cmocka_unit_test(test_seal_open_bind_ok),
	    cmocka_unit_test(test_seal_open_punch),
	    cmocka_unit_test(test_seal_open_relay),
	    cmocka_unit_test(test_seal_open_echo),
	    cmocka_unit_test(test_seal_open_all),
	    cmocka_unit_test(test_seal_errors),
	    cmocka_unit_test(test_open_bit_flips),
	    cmocka_unit_test(test_open_wrong_key),
	    cmocka_unit_test(test_open_lengths),
	    cmocka_unit_test(test_open_reserved),
	    cmocka_unit_test(test_open_types),
	    cmocka_unit_test(test_open_empty_relay),
	    cmocka_unit_test(test_open_handmade),
	    cmocka_unit_test(test_peek),
	    cmocka_unit_test(test_is_frame),
	    cmocka_unit_test(test_counter_next),
	    cmocka_unit_test(test_counter_monotonic),
	    cmocka_unit_test(test_counter_start),
	    cmocka_unit_test(test_replay_basic),
	    cmocka_unit_test(test_replay_window_edge),
	    cmocka_unit_test(test_replay_skew),
	    cmocka_unit_test(test_replay_jumps),
	    cmocka_unit_test(test_replay_model),
	    cmocka_unit_test(test_probe),
	    cmocka_unit_test(test_ep_parse_format),
	    cmocka_unit_test(test_ep_parse_invalid),
	    cmocka_unit_test(test_ep_put_get),
	};
	return cmocka_run_group_tests(tests, group_setup, NULL);
}
