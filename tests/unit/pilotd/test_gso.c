/* test_gso.c - TCP segmentation, partial checksums and coalescing in user
 * space (gso.c), byte for byte: every segment's headers, sequence number,
 * flags, payload slice and checksum; the refusals of gso_count,
 * gso_segment and gso_coalesce_add; segment -> coalesce -> complete round
 * trips that give back the original super-packet exactly. */
#include "config.h"

#include <errno.h>
#include <linux/virtio_net.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "bytes.h"
#include "gso.h"
#include "pkt.h"

#define IP6 40
#define BIG (65535 + IP6) /* the largest IPv6 packet without jumbograms */
#define GUARD 4096	  /* slack after a coalescing buffer, checked untouched */
#define F_FIN 0x01
#define F_SYN 0x02
#define F_RST 0x04
#define F_PSH 0x08
#define F_ACK 0x10
#define F_URG 0x20
#define F_ECE 0x40
#define F_CWR 0x80

/* ------------------------------------------------------------ helpers */

/* What one test packet is made of. */
struct tp {
	uint8_t src[16], dst[16];
	uint16_t sport, dport, win, urg;
	uint32_t seq, ack;
	uint8_t flags, hop, tclass, proto;
	uint32_t flow; /* 20 bits */
	const uint8_t *opts;
	size_t optlen; /* a multiple of 4, at most 40 */
};

static const uint8_t TS_OPTS[12] = {1, 1, 8, 10, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0};

static struct tp tp_default(void)
{
	struct tp t;

	memset(&t, 0, sizeof(t));
	/* fd00:1::a -> fd00:1::b, the overlay's /48 */
	t.src[0] = 0xfd;
	t.src[3] = 1;
	t.src[15] = 0x0a;
	memcpy(t.dst, t.src, 16);
	t.dst[15] = 0x0b;
	t.sport = 40000;
	t.dport = 5201;
	t.seq = 0xfffff000u; /* wraps within a super-packet */
	t.ack = 0x01020304u;
	t.flags = F_ACK;
	t.win = 502;
	t.hop = 64;
	t.proto = IPPROTO_TCP;
	return t;
}

static size_t tcp_hlen(const struct tp *t)
{
	return 20 + t->optlen;
}

static int csum_ok(const uint8_t *pkt, size_t len)
{
	return pkt_l4_csum((const struct in6_addr *)(pkt + 8), (const struct in6_addr *)(pkt + 24),
			   pkt[6], pkt + IP6, len - IP6) == 0;
}

/* Fill in the L4 checksum of \p pkt: full, or (partial) the pseudo-header
 * sum the kernel leaves with NEEDS_CSUM. */
static void set_csum(uint8_t *pkt, size_t len, int partial)
{
	size_t at = IP6 + (pkt[6] == IPPROTO_UDP ? 6 : 16);

	put_be16(pkt + at, 0);
	if (partial)
		put_be16(pkt + at,
			 pkt_pseudo_csum((const struct in6_addr *)(pkt + 8),
					 (const struct in6_addr *)(pkt + 24), pkt[6], len - IP6));
	else
		put_be16(pkt + at, pkt_l4_csum((const struct in6_addr *)(pkt + 8),
					       (const struct in6_addr *)(pkt + 24), pkt[6],
					       pkt + IP6, len - IP6));
}

/* An IPv6/TCP packet (or UDP when t->proto says so) with \p plen bytes of
 * payload and a full checksum.  \retval its length. */
static size_t build(uint8_t *o, const struct tp *t, const uint8_t *payload, size_t plen)
{
	size_t th = t->proto == IPPROTO_UDP ? 8 : tcp_hlen(t), len = IP6 + th + plen;
	uint8_t *l4 = o + IP6;

	memset(o, 0, IP6 + th);
	o[0] = (uint8_t)(0x60 | t->tclass >> 4);
	o[1] = (uint8_t)(t->tclass << 4 | (t->flow >> 16 & 0x0f));
	put_be16(o + 2, (uint16_t)t->flow);
	put_be16(o + 4, (uint16_t)(th + plen));
	o[6] = t->proto;
	o[7] = t->hop;
	memcpy(o + 8, t->src, 16);
	memcpy(o + 24, t->dst, 16);
	put_be16(l4, t->sport);
	put_be16(l4 + 2, t->dport);
	if (t->proto == IPPROTO_UDP) {
		put_be16(l4 + 4, (uint16_t)(8 + plen));
	} else {
		put_be32(l4 + 4, t->seq);
		put_be32(l4 + 8, t->ack);
		l4[12] = (uint8_t)((th / 4) << 4);
		l4[13] = t->flags;
		put_be16(l4 + 14, t->win);
		put_be16(l4 + 18, t->urg);
		if (t->optlen)
			memcpy(l4 + 20, t->opts, t->optlen);
	}
	memmove(o + IP6 + th, payload, plen);
	set_csum(o, len, 0);
	return len;
}

static struct gso_hdr tso_hdr(const struct tp *t, uint16_t gso_size, int partial)
{
	struct gso_hdr h;

	memset(&h, 0, sizeof(h));
	h.flags = partial ? VIRTIO_NET_HDR_F_NEEDS_CSUM : 0;
	h.gso_type = VIRTIO_NET_HDR_GSO_TCPV6;
	h.hdr_len = (uint16_t)(IP6 + tcp_hlen(t));
	h.gso_size = gso_size;
	h.csum_start = IP6;
	h.csum_offset = 16;
	return h;
}

static uint8_t pay[BIG]; /* random payload */
static uint8_t sup[BIG]; /* a super-packet */
static uint8_t ref[BIG]; /* what a round trip must give back */
static uint8_t seg[GSO_MAX_SEGS + 1][2048];
static size_t seglen[GSO_MAX_SEGS + 1];
static uint8_t cbuf[GSO_MAX + GUARD]; /* coalescing buffer and its guard */

static void fill_random(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(rand() >> 7);
}

static struct gso_coalesce co_new(void)
{
	struct gso_coalesce c;

	memset(&c, 0, sizeof(c));
	memset(cbuf, 0xa5, sizeof(cbuf));
	c.buf = cbuf;
	return c;
}

static void guard_intact(void)
{
	for (size_t i = GSO_MAX; i < sizeof(cbuf); i++)
		if (cbuf[i] != 0xa5)
			fail_msg("coalescing wrote past GSO_MAX at %zu", i);
}

static int setup(void **state)
{
	(void)state;
	srand(17);
	fill_random(pay, sizeof(pay));
	return 0;
}

/* Segment sup (len) into seg[], checking every property.  \retval count. */
static int segment_all(const struct tp *t, size_t len, uint16_t gso_size, size_t plen)
{
	struct gso_hdr h = tso_hdr(t, gso_size, 1);
	size_t hl = IP6 + tcp_hlen(t);
	int n = gso_count(sup, len, &h);

	assert_int_equal(n, (int)((plen + gso_size - 1) / gso_size));
	for (int k = 0; k < n; k++) {
		size_t off = (size_t)k * gso_size;
		size_t chunk = plen - off < gso_size ? plen - off : gso_size;
		int last = k == n - 1, r;
		uint8_t want = t->flags, *s = seg[k], *l4 = s + IP6;

		r = gso_segment(sup, len, &h, (unsigned)k, s, sizeof(seg[k]));
		assert_int_equal(r, (int)(hl + chunk));
		seglen[k] = (size_t)r;
		assert_int_equal(get_be16(s + 4), tcp_hlen(t) + chunk);
		/* IPv6 header otherwise as it was */
		assert_memory_equal(s, sup, 4);
		assert_memory_equal(s + 6, sup + 6, 34);
		/* ports, ack, offset, window, urgent pointer, options */
		assert_memory_equal(l4, sup + IP6, 4);
		assert_int_equal(get_be32(l4 + 4), (uint32_t)(t->seq + off));
		assert_memory_equal(l4 + 8, sup + IP6 + 8, 5);
		assert_memory_equal(l4 + 14, sup + IP6 + 14, 2);
		assert_memory_equal(l4 + 18, sup + IP6 + 18, hl - IP6 - 18);
		if (!last)
			want &= (uint8_t) ~(F_FIN | F_PSH);
		if (k > 0)
			want &= (uint8_t)~F_CWR;
		assert_int_equal(l4[13], want);
		assert_memory_equal(s + hl, pay + off, chunk);
		assert_true(csum_ok(s, (size_t)r));
	}
	return n;
}

/* ------------------------------------------------------------ segmenting */

static void test_segment(void **state)
{
	static const uint8_t flagsets[] = {F_ACK, F_ACK | F_PSH, F_ACK | F_PSH | F_FIN,
					   F_ACK | F_CWR};
	static const uint16_t sizes[] = {536, 1348, 1000};
	unsigned cases = 0;

	(void)state;
	for (int o = 0; o < 2; o++)
		for (size_t f = 0; f < sizeof(flagsets); f++)
			for (size_t g = 0; g < 3; g++) {
				struct tp t = tp_default();
				size_t gs = sizes[g], th, plens[6];
				int np = 0;

				t.opts = TS_OPTS;
				t.optlen = o ? sizeof(TS_OPTS) : 0;
				t.flags = flagsets[f];
				th = tcp_hlen(&t);
				plens[np++] = 1;
				plens[np++] = gs - 1;
				plens[np++] = gs;
				plens[np++] = 3 * gs + 1;
				plens[np++] = 5 * gs;
				if (64 * gs + th <= 65535)
					plens[np++] = 64 * gs;
				else /* the most a 64 KiB packet holds */
					plens[np++] = 65535 - th;
				for (int p = 0; p < np; p++) {
					size_t len = build(sup, &t, pay, plens[p]);
					/* the kernel hands it with a partial checksum */
					set_csum(sup, len, 1);
					segment_all(&t, len, (uint16_t)gs, plens[p]);
					cases++;
				}
			}
	assert_int_equal(cases, 2 * 4 * 3 * 6);
}

static void test_segment_64(void **state)
{
	struct tp t = tp_default();
	size_t len;

	(void)state;
	t.opts = TS_OPTS;
	t.optlen = sizeof(TS_OPTS);
	t.flags = F_ACK | F_PSH;
	len = build(sup, &t, pay, 64 * 1000);
	assert_int_equal(segment_all(&t, len, 1000, 64 * 1000), 64);
	len = build(sup, &t, pay, 64 * 536);
	assert_int_equal(segment_all(&t, len, 536, 64 * 536), 64);
}

static void test_count_65_refused(void **state)
{
	struct tp t = tp_default();
	struct gso_hdr h = tso_hdr(&t, 1000, 1);
	size_t len;

	(void)state;
	/* A small MSS makes many segments: 64 KiB at 536 is 123 (pilot0's
	 * own limit is 65535; tests/e2e/offload.sh sends at MSS 536). */
	h.gso_size = 536;
	len = build(sup, &t, pay, 65000);
	assert_int_equal(gso_count(sup, len, &h), 122);
	h.gso_size = 16;
	len = build(sup, &t, pay, GSO_MAX_SEGS * 16);
	assert_int_equal(gso_count(sup, len, &h), GSO_MAX_SEGS);
	len = build(sup, &t, pay, GSO_MAX_SEGS * 16 + 1);
	assert_int_equal(gso_count(sup, len, &h), -EINVAL);
}

static void test_count_refusals(void **state)
{
	struct tp t = tp_default();
	struct gso_hdr h = tso_hdr(&t, 1000, 1);
	size_t len;

	(void)state;
	len = build(sup, &t, pay, 3000);
	assert_int_equal(gso_count(sup, len, &h), 3);
	/* ECN-marked TSO is still TCPv6 */
	h.gso_type = VIRTIO_NET_HDR_GSO_TCPV6 | VIRTIO_NET_HDR_GSO_ECN;
	assert_int_equal(gso_count(sup, len, &h), 3);

	/* wrong gso_type */
	h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	assert_int_equal(gso_count(sup, len, &h), -EINVAL);
	h.gso_type = VIRTIO_NET_HDR_GSO_UDP;
	assert_int_equal(gso_count(sup, len, &h), -EINVAL);
	h.gso_type = VIRTIO_NET_HDR_GSO_NONE;
	assert_int_equal(gso_count(sup, len, &h), -EINVAL);
	h.gso_type = 5; /* VIRTIO_NET_HDR_GSO_UDP_L4 */
	assert_int_equal(gso_count(sup, len, &h), -EINVAL);
	h.gso_type = VIRTIO_NET_HDR_GSO_TCPV6;

	/* gso_size 0 */
	h.gso_size = 0;
	assert_int_equal(gso_count(sup, len, &h), -EINVAL);
	h.gso_size = 1000;

	/* IPv6 payload length not the read length, either way */
	assert_int_equal(gso_count(sup, len - 1, &h), -EINVAL);
	assert_int_equal(gso_count(sup, len + 1, &h), -EINVAL);
	put_be16(sup + 4, (uint16_t)(get_be16(sup + 4) + 1));
	assert_int_equal(gso_count(sup, len, &h), -EINVAL);
	put_be16(sup + 4, (uint16_t)(get_be16(sup + 4) - 2));
	assert_int_equal(gso_count(sup, len, &h), -EINVAL);
	put_be16(sup + 4, (uint16_t)(get_be16(sup + 4) + 1));
	assert_int_equal(gso_count(sup, len, &h), 3);

	/* not IPv6 */
	sup[0] = 0x40;
	assert_int_equal(gso_count(sup, len, &h), -EINVAL);
	sup[0] = 0x60;

	/* not TCP: a UDP packet of the same size */
	t.proto = IPPROTO_UDP;
	len = build(sup, &t, pay, 3000);
	assert_int_equal(gso_count(sup, len, &h), -EINVAL);
	t.proto = IPPROTO_TCP;

	/* an extension header (hop-by-hop, 8 bytes of PadN) before TCP */
	len = build(sup, &t, pay, 3000);
	memmove(sup + IP6 + 8, sup + IP6, len - IP6);
	memset(sup + IP6, 0, 8);
	sup[IP6] = IPPROTO_TCP;
	sup[IP6 + 2] = 1; /* PadN */
	sup[IP6 + 3] = 4;
	sup[6] = 0; /* hop-by-hop */
	put_be16(sup + 4, (uint16_t)(get_be16(sup + 4) + 8));
	assert_int_equal(gso_count(sup, len + 8, &h), -EINVAL);
	/* a routing header too */
	sup[6] = 43;
	assert_int_equal(gso_count(sup, len + 8, &h), -EINVAL);

	/* payload 0 */
	len = build(sup, &t, pay, 0);
	assert_int_equal(gso_count(sup, len, &h), -EINVAL);
	t.opts = TS_OPTS;
	t.optlen = sizeof(TS_OPTS);
	len = build(sup, &t, pay, 0);
	assert_int_equal(gso_count(sup, len, &h), -EINVAL);

	/* data offset past the end, or under 5 words */
	len = build(sup, &t, pay, 10);
	assert_int_equal(gso_count(sup, len, &h), 1);
	sup[IP6 + 12] = 0xf0; /* 60 bytes of TCP header in 20 + 12 + 10 */
	assert_int_equal(gso_count(sup, len, &h), -EINVAL);
	sup[IP6 + 12] = 0x40; /* 16 bytes: under the minimum */
	assert_int_equal(gso_count(sup, len, &h), -EINVAL);
	sup[IP6 + 12] = 0x00;
	assert_int_equal(gso_count(sup, len, &h), -EINVAL);
	/* exactly the end: header only, no payload */
	len = build(sup, &t, pay, 8);
	sup[IP6 + 12] = (uint8_t)(((20 + 12 + 8) / 4) << 4);
	assert_int_equal(gso_count(sup, len, &h), -EINVAL);

	/* too short for TCP at all */
	assert_int_equal(gso_count(sup, IP6 + 19, &h), -EINVAL);
	assert_int_equal(gso_count(sup, 0, &h), -EINVAL);
}

static void test_segment_enospc(void **state)
{
	struct tp t = tp_default();
	struct gso_hdr h;
	size_t len, hl;
	static uint8_t out[2048];

	(void)state;
	t.opts = TS_OPTS;
	t.optlen = sizeof(TS_OPTS);
	hl = IP6 + tcp_hlen(&t);
	h = tso_hdr(&t, 1348, 1);
	len = build(sup, &t, pay, 2 * 1348 + 100);
	assert_int_equal(gso_count(sup, len, &h), 3);
	assert_int_equal(gso_segment(sup, len, &h, 0, out, hl + 1347), -ENOSPC);
	assert_int_equal(gso_segment(sup, len, &h, 0, out, hl), -ENOSPC);
	assert_int_equal(gso_segment(sup, len, &h, 0, out, 0), -ENOSPC);
	assert_int_equal(gso_segment(sup, len, &h, 0, out, hl + 1348), (int)(hl + 1348));
	/* the last is smaller and fits a smaller slot */
	assert_int_equal(gso_segment(sup, len, &h, 2, out, hl + 99), -ENOSPC);
	assert_int_equal(gso_segment(sup, len, &h, 2, out, hl + 100), (int)(hl + 100));
	/* past the last segment */
	assert_int_equal(gso_segment(sup, len, &h, 3, out, sizeof(out)), -EINVAL);
	assert_int_equal(gso_segment(sup, len, &h, 1000, out, sizeof(out)), -EINVAL);
}

static void test_hdr_codec(void **state)
{
	struct gso_hdr a = {VIRTIO_NET_HDR_F_NEEDS_CSUM,
			    VIRTIO_NET_HDR_GSO_TCPV6,
			    72,
			    1348,
			    40,
			    16},
		       b;
	struct virtio_net_hdr v;
	uint8_t raw[GSO_VNET_HDR];

	(void)state;
	assert_int_equal(sizeof(v), GSO_VNET_HDR);
	gso_hdr_encode(&a, raw);
	memcpy(&v, raw, sizeof(v));
	/* host order, as TUN without TUNSETVNETLE/BE uses it */
	assert_int_equal(v.flags, a.flags);
	assert_int_equal(v.gso_type, a.gso_type);
	assert_int_equal(v.hdr_len, 72);
	assert_int_equal(v.gso_size, 1348);
	assert_int_equal(v.csum_start, 40);
	assert_int_equal(v.csum_offset, 16);
	gso_hdr_decode(raw, &b);
	assert_memory_equal(&a, &b, sizeof(a));
}

/* ------------------------------------------------------------ checksums */

static void complete_and_check(uint8_t *pkt, size_t len, uint16_t off)
{
	struct gso_hdr h;
	uint16_t full;

	memset(&h, 0, sizeof(h));
	h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h.csum_start = IP6;
	h.csum_offset = off;
	set_csum(pkt, len, 0);
	full = get_be16(pkt + IP6 + off);
	set_csum(pkt, len, 1);
	assert_int_equal(gso_complete_csum(pkt, len, &h), 0);
	assert_true(csum_ok(pkt, len));
	assert_int_equal(get_be16(pkt + IP6 + off), full ? full : 0xffff);
}

static void test_complete_csum(void **state)
{
	static const size_t sizes[] = {0, 1, 2, 3, 15, 16, 17, 1200, 1201, 65000};
	struct tp t = tp_default();
	uint8_t *pkt = sup;

	(void)state;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t len;

		t.proto = IPPROTO_TCP;
		t.opts = TS_OPTS;
		t.optlen = i % 2 ? sizeof(TS_OPTS) : 0;
		len = build(pkt, &t, pay + i, sizes[i]);
		complete_and_check(pkt, len, 16);
		t.proto = IPPROTO_UDP;
		len = build(pkt, &t, pay + i, sizes[i]);
		complete_and_check(pkt, len, 6);
	}
}

static void test_complete_csum_bounds(void **state)
{
	struct tp t = tp_default();
	struct gso_hdr h;
	size_t len;

	(void)state;
	t.proto = IPPROTO_UDP;
	len = build(sup, &t, pay, 100); /* 148 bytes */
	memset(&h, 0, sizeof(h));
	h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h.csum_start = (uint16_t)len;
	h.csum_offset = 0;
	assert_int_equal(gso_complete_csum(sup, len, &h), -EINVAL);
	h.csum_start = 0xffff;
	h.csum_offset = 0xffff; /* no wrap of start + offset */
	assert_int_equal(gso_complete_csum(sup, len, &h), -EINVAL);
	h.csum_start = IP6;
	h.csum_offset = (uint16_t)(len - IP6 - 1); /* the field's 2nd byte outside */
	assert_int_equal(gso_complete_csum(sup, len, &h), -EINVAL);
	h.csum_offset = (uint16_t)(len - IP6); /* entirely outside */
	assert_int_equal(gso_complete_csum(sup, len, &h), -EINVAL);
	h.csum_offset = (uint16_t)(len - IP6 - 2); /* the last two bytes: inside */
	assert_int_equal(gso_complete_csum(sup, len, &h), 0);
	/* an empty packet */
	h.csum_start = 0;
	h.csum_offset = 0;
	assert_int_equal(gso_complete_csum(sup, 0, &h), -EINVAL);
	assert_int_equal(gso_complete_csum(sup, 1, &h), -EINVAL);
	assert_int_equal(gso_complete_csum(sup, 2, &h), 0);
}

/* A UDP datagram whose checksum computes to 0 goes out as 0xffff (0 would
 * mean "no checksum", which IPv6 forbids). */
static void test_complete_csum_udp_zero(void **state)
{
	struct tp t = tp_default();
	uint8_t data[64];
	struct gso_hdr h;
	size_t len;
	uint16_t c;

	(void)state;
	memcpy(data, pay, sizeof(data));
	put_be16(data + 10, 0);
	t.proto = IPPROTO_UDP;
	len = build(sup, &t, data, sizeof(data));
	c = get_be16(sup + IP6 + 6);
	/* adding the word c to the sum makes it 0xffff: the checksum 0 */
	put_be16(data + 10, c);
	len = build(sup, &t, data, sizeof(data));
	put_be16(sup + IP6 + 6, 0);
	assert_int_equal(pkt_l4_csum((const struct in6_addr *)(sup + 8),
				     (const struct in6_addr *)(sup + 24), IPPROTO_UDP, sup + IP6,
				     len - IP6),
			 0);
	set_csum(sup, len, 1);
	memset(&h, 0, sizeof(h));
	h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h.csum_start = IP6;
	h.csum_offset = 6;
	assert_int_equal(gso_complete_csum(sup, len, &h), 0);
	assert_int_equal(get_be16(sup + IP6 + 6), 0xffff);
	assert_true(csum_ok(sup, len));
}

/* ------------------------------------------------------------ coalescing */

/* Segment a super-packet of \p plen bytes, coalesce the segments back and
 * compare with the original (full checksum).  \retval segment count. */
static int round_trip(const struct tp *t, uint16_t gso_size, size_t plen, const uint8_t *data)
{
	struct gso_hdr h = tso_hdr(t, gso_size, 1), out;
	struct gso_coalesce c = co_new();
	size_t len = build(sup, t, data, plen), hl = IP6 + tcp_hlen(t), n;
	int segs;

	memcpy(ref, sup, len);
	set_csum(sup, len, 1);
	segs = gso_count(sup, len, &h);
	assert_in_range(segs, 1, GSO_MAX_SEGS);
	for (int k = 0; k < segs; k++) {
		int r = gso_segment(sup, len, &h, (unsigned)k, seg[k], sizeof(seg[k]));
		assert_true(r > 0);
		assert_int_equal(gso_coalesce_add(&c, seg[k], (size_t)r), 1);
		seglen[k] = (size_t)r;
	}
	assert_int_equal(c.segs, (unsigned)segs);
	n = gso_coalesce_finish(&c, &out);
	assert_int_equal(c.len, 0);
	assert_int_equal(n, len);
	guard_intact();
	if (segs == 1) {
		struct gso_hdr zero;
		memset(&zero, 0, sizeof(zero));
		assert_memory_equal(&out, &zero, sizeof(out));
		assert_memory_equal(cbuf, seg[0], seglen[0]);
		assert_memory_equal(cbuf, ref, len);
		return segs;
	}
	assert_int_equal(out.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
	assert_int_equal(out.gso_type, VIRTIO_NET_HDR_GSO_TCPV6);
	assert_int_equal(out.hdr_len, hl);
	assert_int_equal(out.gso_size, gso_size);
	assert_int_equal(out.csum_start, IP6);
	assert_int_equal(out.csum_offset, 16);
	/* the partial sum is the pseudo-header's, as the kernel's GRO leaves it */
	assert_int_equal(get_be16(cbuf + IP6 + 16),
			 pkt_pseudo_csum((const struct in6_addr *)(cbuf + 8),
					 (const struct in6_addr *)(cbuf + 24), IPPROTO_TCP,
					 n - IP6));
	assert_int_equal(get_be16(cbuf + 4), n - IP6);
	assert_memory_equal(cbuf + hl, data, plen);
	assert_int_equal(gso_complete_csum(cbuf, n, &out), 0);
	assert_true(csum_ok(cbuf, n));
	assert_memory_equal(cbuf, ref, len);
	return segs;
}

static void test_coalesce_round_trip(void **state)
{
	struct tp t = tp_default();

	(void)state;
	t.flags = F_ACK | F_PSH;
	assert_int_equal(round_trip(&t, 1348, 10 * 1348, pay), 10);
	assert_int_equal(round_trip(&t, 1348, 10 * 1348 + 1, pay), 11);
	assert_int_equal(round_trip(&t, 536, 64 * 536, pay), 64);
	t.opts = TS_OPTS;
	t.optlen = sizeof(TS_OPTS);
	assert_int_equal(round_trip(&t, 1000, 7 * 1000 - 999, pay), 7);
	assert_int_equal(round_trip(&t, 1000, 48 * 1000, pay), 48);
	t.flags = F_ACK;
	assert_int_equal(round_trip(&t, 1348, 3 * 1348, pay), 3);
	/* one segment alone comes back unchanged, no vnet header */
	assert_int_equal(round_trip(&t, 1348, 1348, pay), 1);
	assert_int_equal(round_trip(&t, 1348, 1, pay), 1);
	t.flags = F_ACK | F_PSH;
	assert_int_equal(round_trip(&t, 1348, 700, pay), 1);
}

/* The PSH of the last segment is the coalesced packet's; a segment that
 * carries PSH ends the packet. */
static void test_coalesce_psh(void **state)
{
	struct tp t = tp_default();
	struct gso_coalesce c = co_new();
	struct gso_hdr out;
	uint8_t a[2048], b[2048];
	size_t la, lb;

	(void)state;
	la = build(a, &t, pay, 1000);
	t.seq += 1000;
	t.flags = F_ACK | F_PSH;
	lb = build(b, &t, pay + 1000, 1000);
	assert_int_equal(gso_coalesce_add(&c, a, la), 1);
	assert_int_equal(cbuf[IP6 + 13], F_ACK);
	assert_int_equal(gso_coalesce_add(&c, b, lb), 1);
	assert_int_equal(c.closed, 1);
	assert_int_equal(cbuf[IP6 + 13], F_ACK | F_PSH);
	/* closed: the next one does not join */
	t.seq += 1000;
	t.flags = F_ACK;
	la = build(a, &t, pay + 2000, 1000);
	assert_int_equal(gso_coalesce_add(&c, a, la), 0);
	assert_int_equal(c.segs, 2);
	assert_int_equal(gso_coalesce_finish(&c, &out), IP6 + 20 + 2000);
	assert_int_equal(out.gso_size, 1000);
	/* a first segment with PSH takes nothing after it */
	c = co_new();
	t.flags = F_ACK | F_PSH;
	la = build(a, &t, pay, 1000);
	t.seq += 1000;
	t.flags = F_ACK;
	lb = build(b, &t, pay, 1000);
	assert_int_equal(gso_coalesce_add(&c, a, la), 1);
	assert_int_equal(gso_coalesce_add(&c, b, lb), 0);
	assert_int_equal(gso_coalesce_finish(&c, &out), la);
	assert_int_equal(out.gso_type, 0);
	assert_memory_equal(cbuf, a, la);
}

/* c holds the 1000-byte segment at seq; \p b is offered next. */
static int offer(const struct tp *first, const struct tp *next, size_t plen_next)
{
	struct gso_coalesce c = co_new();
	uint8_t a[2048], b[2048];
	size_t la = build(a, first, pay, 1000), lb = build(b, next, pay + 1000, plen_next);
	int r;

	assert_int_equal(gso_coalesce_add(&c, a, la), 1);
	r = gso_coalesce_add(&c, b, lb);
	if (r != 1) {
		/* refused: c is as it was */
		assert_int_equal(c.len, la);
		assert_int_equal(c.segs, 1);
		assert_memory_equal(cbuf, a, la);
	}
	return r;
}

static void test_coalesce_other_flow(void **state)
{
	struct tp a = tp_default(), b;

	(void)state;
	a.opts = TS_OPTS;
	a.optlen = sizeof(TS_OPTS);
	b = a;
	b.seq += 1000;
	assert_int_equal(offer(&a, &b, 1000), 1);
	b.src[15] ^= 1;
	assert_int_equal(offer(&a, &b, 1000), -ESRCH);
	b.src[15] ^= 1;
	b.src[0] ^= 0x80;
	assert_int_equal(offer(&a, &b, 1000), -ESRCH);
	b.src[0] ^= 0x80;
	b.dst[15] ^= 1;
	assert_int_equal(offer(&a, &b, 1000), -ESRCH);
	b.dst[15] ^= 1;
	b.dst[8] ^= 1;
	assert_int_equal(offer(&a, &b, 1000), -ESRCH);
	b.dst[8] ^= 1;
	b.sport++;
	assert_int_equal(offer(&a, &b, 1000), -ESRCH);
	b.sport--;
	b.dport++;
	assert_int_equal(offer(&a, &b, 1000), -ESRCH);
	b.dport--;
	/* the reverse direction */
	memcpy(b.src, a.dst, 16);
	memcpy(b.dst, a.src, 16);
	b.sport = a.dport;
	b.dport = a.sport;
	assert_int_equal(offer(&a, &b, 1000), -ESRCH);
	/* UDP, same addresses and ports */
	b = a;
	b.proto = IPPROTO_UDP;
	assert_int_equal(offer(&a, &b, 1000), -ESRCH);
	assert_int_equal(offer(&a, &b, 4), -ESRCH);
	assert_int_equal(offer(&a, &b, 0), -ESRCH);
}

static void test_coalesce_flags(void **state)
{
	static const uint8_t bad[] = {F_SYN,
				      F_SYN | F_ACK,
				      F_FIN | F_ACK,
				      F_RST | F_ACK,
				      F_RST,
				      F_URG | F_ACK,
				      F_ECE | F_ACK,
				      F_CWR | F_ACK,
				      F_ECE | F_CWR | F_ACK,
				      F_FIN | F_PSH | F_ACK,
				      0,
				      F_PSH};
	struct tp a = tp_default(), b;
	struct gso_coalesce c;
	uint8_t p[2048];
	size_t lp;

	(void)state;
	for (size_t i = 0; i < sizeof(bad); i++) {
		b = a;
		b.seq += 1000;
		b.flags = bad[i];
		/* as the next segment */
		assert_int_equal(offer(&a, &b, 1000), -EINVAL);
		/* as the first */
		c = co_new();
		lp = build(p, &b, pay, 1000);
		assert_int_equal(gso_coalesce_add(&c, p, lp), -EINVAL);
		assert_int_equal(c.len, 0);
	}
	/* an urgent pointer without URG */
	b = a;
	b.seq += 1000;
	b.urg = 1;
	assert_int_equal(offer(&a, &b, 1000), -EINVAL);
	/* zero payload (a pure ACK), with and without PSH */
	b = a;
	b.seq += 1000;
	assert_int_equal(offer(&a, &b, 0), -EINVAL);
	b.flags = F_ACK | F_PSH;
	assert_int_equal(offer(&a, &b, 0), -EINVAL);
	c = co_new();
	lp = build(p, &a, pay, 0);
	assert_int_equal(gso_coalesce_add(&c, p, lp), -EINVAL);
	assert_int_equal(c.len, 0);
}

static void test_coalesce_bad_csum(void **state)
{
	struct tp a = tp_default(), b;
	struct gso_coalesce c = co_new();
	uint8_t p[2048], q[2048];
	size_t lp, lq;

	(void)state;
	b = a;
	b.seq += 1000;
	lp = build(p, &a, pay, 1000);
	lq = build(q, &b, pay + 1000, 1000);
	/* first: a corrupted payload byte */
	p[IP6 + 20 + 500] ^= 0x01;
	assert_int_equal(gso_coalesce_add(&c, p, lp), -EINVAL);
	assert_int_equal(c.len, 0);
	p[IP6 + 20 + 500] ^= 0x01;
	/* a partial (pseudo-header) checksum is not a checksum */
	set_csum(p, lp, 1);
	assert_int_equal(gso_coalesce_add(&c, p, lp), -EINVAL);
	set_csum(p, lp, 0);
	assert_int_equal(gso_coalesce_add(&c, p, lp), 1);
	/* next: a corrupted checksum field, then the last byte */
	q[IP6 + 17] ^= 0x10;
	assert_int_equal(gso_coalesce_add(&c, q, lq), -EINVAL);
	q[IP6 + 17] ^= 0x10;
	q[lq - 1] ^= 0x80;
	assert_int_equal(gso_coalesce_add(&c, q, lq), -EINVAL);
	q[lq - 1] ^= 0x80;
	assert_int_equal(c.segs, 1);
	assert_int_equal(gso_coalesce_add(&c, q, lq), 1);
	assert_int_equal(c.segs, 2);
}

static void test_coalesce_mismatch(void **state)
{
	static const uint8_t other_ts[12] = {1,	   1,	 8,    10,   0x12, 0x34,
					     0x56, 0x79, 0x9a, 0xbc, 0xde, 0xf0};
	static const uint8_t nops[12] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
	struct tp a = tp_default(), b;

	(void)state;
	a.opts = TS_OPTS;
	a.optlen = sizeof(TS_OPTS);
	a.tclass = 0x20;
	a.flow = 0x12345;
	b = a;
	b.seq += 1000;
	assert_int_equal(offer(&a, &b, 1000), 1);
	assert_int_equal(offer(&a, &b, 999), 1);
	/* a gap, a duplicate, an overlap, a step back */
	b.seq = a.seq + 1001;
	assert_int_equal(offer(&a, &b, 1000), 0);
	b.seq = a.seq;
	assert_int_equal(offer(&a, &b, 1000), 0);
	b.seq = a.seq + 999;
	assert_int_equal(offer(&a, &b, 1000), 0);
	b.seq = a.seq - 1000;
	assert_int_equal(offer(&a, &b, 1000), 0);
	b.seq = a.seq + 1000;
	/* acknowledgement, window */
	b.ack++;
	assert_int_equal(offer(&a, &b, 1000), 0);
	b.ack--;
	b.win++;
	assert_int_equal(offer(&a, &b, 1000), 0);
	b.win--;
	/* options: another timestamp, another kind, none, more */
	b.opts = other_ts;
	assert_int_equal(offer(&a, &b, 1000), 0);
	b.opts = nops;
	assert_int_equal(offer(&a, &b, 1000), 0);
	b.optlen = 0;
	assert_int_equal(offer(&a, &b, 1000), 0);
	{
		uint8_t more[16];
		memcpy(more, TS_OPTS, 12);
		memset(more + 12, 1, 4);
		b.opts = more;
		b.optlen = 16;
		assert_int_equal(offer(&a, &b, 1000), 0);
	}
	b.opts = TS_OPTS;
	b.optlen = sizeof(TS_OPTS);
	/* hop limit, traffic class (ECN CE too), flow label */
	b.hop--;
	assert_int_equal(offer(&a, &b, 1000), 0);
	b.hop++;
	b.tclass = 0x21;
	assert_int_equal(offer(&a, &b, 1000), 0);
	b.tclass = 0x23; /* CE */
	assert_int_equal(offer(&a, &b, 1000), 0);
	b.tclass = 0x20;
	b.flow ^= 1;
	assert_int_equal(offer(&a, &b, 1000), 0);
	b.flow ^= 1;
	/* a larger payload than the first */
	assert_int_equal(offer(&a, &b, 1001), 0);
	assert_int_equal(offer(&a, &b, 1000), 1);
}

static void test_coalesce_closed_by_short(void **state)
{
	struct tp t = tp_default();
	struct gso_coalesce c = co_new();
	struct gso_hdr out;
	uint8_t p[2048];
	size_t lp;

	(void)state;
	lp = build(p, &t, pay, 1000);
	assert_int_equal(gso_coalesce_add(&c, p, lp), 1);
	t.seq += 1000;
	lp = build(p, &t, pay + 1000, 400);
	assert_int_equal(gso_coalesce_add(&c, p, lp), 1);
	assert_int_equal(c.closed, 1);
	t.seq += 400;
	lp = build(p, &t, pay + 1400, 400); /* even one of the same short size */
	assert_int_equal(gso_coalesce_add(&c, p, lp), 0);
	lp = build(p, &t, pay + 1400, 1000);
	assert_int_equal(gso_coalesce_add(&c, p, lp), 0);
	assert_int_equal(gso_coalesce_finish(&c, &out), IP6 + 20 + 1400);
	assert_int_equal(out.gso_size, 1000);
	assert_memory_equal(cbuf + IP6 + 20, pay, 1400);
	/* emptied by finish: the refused one starts the next */
	assert_int_equal(gso_coalesce_add(&c, p, lp), 1);
	assert_int_equal(c.segs, 1);
	assert_int_equal(c.closed, 0);
}

/* Coalesce \p n segments of \p s bytes into \p c; t->seq moves past them. */
static void fill_co(struct gso_coalesce *c, struct tp *t, size_t n, size_t s)
{
	uint8_t p[2048];

	for (size_t k = 0; k < n; k++) {
		size_t lp = build(p, t, pay + k * s, s);
		assert_int_equal(gso_coalesce_add(c, p, lp), 1);
		t->seq += (uint32_t)s;
	}
}

static void test_coalesce_max_segs(void **state)
{
	struct tp t = tp_default();
	struct gso_coalesce c = co_new();
	struct gso_hdr out;
	uint8_t p[2048];
	size_t lp, n;

	(void)state;
	fill_co(&c, &t, GSO_COALESCE_SEGS, 536);
	lp = build(p, &t, pay + GSO_COALESCE_SEGS * 536, 536);
	assert_int_equal(gso_coalesce_add(&c, p, lp), 0);
	assert_int_equal(c.segs, GSO_COALESCE_SEGS);
	n = gso_coalesce_finish(&c, &out);
	assert_int_equal(n, IP6 + 20 + GSO_COALESCE_SEGS * 536);
	assert_memory_equal(cbuf + IP6 + 20, pay, GSO_COALESCE_SEGS * 536);
	guard_intact();
}

static void test_coalesce_max_bytes(void **state)
{
	struct tp t = tp_default();
	struct gso_coalesce c = co_new();
	struct gso_hdr out;
	uint8_t p[2048];
	size_t lp, n;
	const size_t s = 1400, full = (GSO_MAX - IP6 - 20) / 1400; /* 46 */

	(void)state;
	fill_co(&c, &t, full, s);
	assert_int_equal(c.len, IP6 + 20 + full * s);
	/* a whole one more passes GSO_MAX; so does one byte more than fits */
	lp = build(p, &t, pay + full * s, s);
	assert_int_equal(gso_coalesce_add(&c, p, lp), 0);
	lp = build(p, &t, pay + full * s, GSO_MAX - c.len + 1);
	assert_int_equal(gso_coalesce_add(&c, p, lp), 0);
	guard_intact();
	/* exactly GSO_MAX fits */
	lp = build(p, &t, pay + full * s, GSO_MAX - c.len);
	assert_int_equal(gso_coalesce_add(&c, p, lp), 1);
	assert_int_equal(c.len, GSO_MAX);
	n = gso_coalesce_finish(&c, &out);
	assert_int_equal(n, GSO_MAX);
	assert_int_equal(get_be16(cbuf + 4), GSO_MAX - IP6);
	assert_memory_equal(cbuf + IP6 + 20, pay, GSO_MAX - IP6 - 20);
	assert_int_equal(gso_complete_csum(cbuf, n, &out), 0);
	assert_true(csum_ok(cbuf, n));
	guard_intact();
}

/* ------------------------------------------------------------ randomized */

static void test_random_round_trip(void **state)
{
	static uint8_t opts[40];
	unsigned multi = 0;

	(void)state;
	srand(1717);
	for (int it = 0; it < 200; it++) {
		struct tp t = tp_default();
		uint16_t g = (uint16_t)(1 + rand() % 1500);
		unsigned nseg = 1 + (unsigned)rand() % GSO_COALESCE_SEGS;
		size_t th, plen, room;

		fill_random(opts, sizeof(opts));
		t.opts = opts;
		t.optlen = 4 * (size_t)(rand() % 11);
		t.seq = (uint32_t)rand() << 1 ^ (uint32_t)rand();
		t.ack = (uint32_t)rand();
		t.win = (uint16_t)rand();
		t.hop = (uint8_t)(1 + rand() % 255);
		t.tclass = (uint8_t)(rand() & 0xfc);
		t.flow = (uint32_t)rand() & 0xfffff;
		t.sport = (uint16_t)(1 + rand() % 65535);
		t.dport = (uint16_t)(1 + rand() % 65535);
		t.src[15] = (uint8_t)rand();
		t.flags = rand() % 2 ? F_ACK : F_ACK | F_PSH;
		th = tcp_hlen(&t);
		plen = (size_t)(nseg - 1) * g + 1 + (size_t)rand() % g;
		/* the coalesced packet is at most GSO_MAX bytes */
		room = GSO_MAX - IP6 - th;
		if (plen > room)
			plen = room - (size_t)rand() % 100;
		fill_random(pay, plen);
		if (round_trip(&t, g, plen, pay) > 1)
			multi++;
	}
	assert_true(multi > 150);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_segment, setup),
	    cmocka_unit_test_setup(test_segment_64, setup),
	    cmocka_unit_test_setup(test_count_65_refused, setup),
	    cmocka_unit_test_setup(test_count_refusals, setup),
	    cmocka_unit_test_setup(test_segment_enospc, setup),
	    cmocka_unit_test(test_hdr_codec),
	    cmocka_unit_test_setup(test_complete_csum, setup),
	    cmocka_unit_test_setup(test_complete_csum_bounds, setup),
	    cmocka_unit_test_setup(test_complete_csum_udp_zero, setup),
	    cmocka_unit_test_setup(test_coalesce_round_trip, setup),
	    cmocka_unit_test_setup(test_coalesce_psh, setup),
	    cmocka_unit_test_setup(test_coalesce_other_flow, setup),
	    cmocka_unit_test_setup(test_coalesce_flags, setup),
	    cmocka_unit_test_setup(test_coalesce_bad_csum, setup),
	    cmocka_unit_test_setup(test_coalesce_mismatch, setup),
	    cmocka_unit_test_setup(test_coalesce_closed_by_short, setup),
	    cmocka_unit_test_setup(test_coalesce_max_segs, setup),
	    cmocka_unit_test_setup(test_coalesce_max_bytes, setup),
	    cmocka_unit_test_setup(test_random_round_trip, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
