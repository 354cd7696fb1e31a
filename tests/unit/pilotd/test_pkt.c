/* test_pkt.c - the IPv6 packet parser and builders (pkt.c), the dummy TUN
 * back-end (tun.c) and, as root, the real TUN device and rtnetlink calls
 * (nl.c) inside a private network namespace. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "nl.h"
#include "pkt.h"
#include "tun.h"

/* ------------------------------------------------------------ helpers */

/* A packet under construction: IPv6 header, extension headers, L4. */
struct pb {
	uint8_t b[2048];
	size_t len;
	size_t nh_at; /* offset of the next-header byte to patch */
};

static struct in6_addr a6(const char *s)
{
	struct in6_addr a;

	assert_int_equal(inet_pton(AF_INET6, s, &a), 1);
	return a;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) << 16 | get16(p + 2);
}

static void pb_ip6(struct pb *pb, const char *src, const char *dst)
{
	struct in6_addr s = a6(src), d = a6(dst);

	memset(pb, 0, sizeof(*pb));
	pb->b[0] = 0x60;
	pb->b[7] = 64;
	memcpy(pb->b + 8, &s, 16);
	memcpy(pb->b + 24, &d, 16);
	pb->len = 40;
	pb->nh_at = 6;
}

/* Extension header of (\p units + 1) * 8 bytes; zero padding is valid
 * (Pad1 options) for hop-by-hop and destination options. */
static void pb_ext(struct pb *pb, uint8_t type, uint8_t units)
{
	size_t n = ((size_t)units + 1) * 8;

	pb->b[pb->nh_at] = type;
	pb->nh_at = pb->len;
	pb->b[pb->len + 1] = units;
	pb->len += n;
}

static void pb_frag(struct pb *pb, uint16_t offset, int more)
{
	pb->b[pb->nh_at] = 44;
	pb->nh_at = pb->len;
	put16(pb->b + pb->len + 2, (uint16_t)(offset | (more ? 1 : 0)));
	put32(pb->b + pb->len + 4, 0xabcdef01);
	pb->len += 8;
}

static uint8_t *pb_l4(struct pb *pb, uint8_t proto, size_t n)
{
	uint8_t *l4 = pb->b + pb->len;

	pb->b[pb->nh_at] = proto;
	pb->len += n;
	put16(pb->b + 4, (uint16_t)(pb->len - 40));
	return l4;
}

static uint8_t *pb_tcp(struct pb *pb, uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack,
		       uint8_t flags, unsigned doff_words, size_t payload)
{
	uint8_t *t = pb_l4(pb, IPPROTO_TCP, doff_words * 4 + payload);

	put16(t, sport);
	put16(t + 2, dport);
	put32(t + 4, seq);
	put32(t + 8, ack);
	t[12] = (uint8_t)(doff_words << 4);
	t[13] = flags;
	put16(t + 14, 65535);
	return t;
}

static uint8_t *pb_udp(struct pb *pb, uint16_t sport, uint16_t dport, size_t payload)
{
	uint8_t *u = pb_l4(pb, IPPROTO_UDP, 8 + payload);

	put16(u, sport);
	put16(u + 2, dport);
	put16(u + 4, (uint16_t)(8 + payload));
	return u;
}

static uint8_t *pb_icmp6(struct pb *pb, uint8_t type, uint16_t id, uint16_t seq, size_t payload)
{
	uint8_t *c = pb_l4(pb, IPPROTO_ICMPV6, 8 + payload);

	c[0] = type;
	put16(c + 4, id);
	put16(c + 6, seq);
	return c;
}

/* Fill in the L4 checksum at \p field (offset within L4) of the packet. */
static void pb_csum(struct pb *pb, uint8_t *l4, size_t field)
{
	struct in6_addr s, d;
	size_t n = pb->len - (size_t)(l4 - pb->b);

	memcpy(&s, pb->b + 8, 16);
	memcpy(&d, pb->b + 24, 16);
	put16(l4 + field, 0);
	put16(l4 + field, pkt_l4_csum(&s, &d, pb->b[pb->nh_at], l4, n));
}

/* Independent reference: build the pseudo-header in a buffer and sum it
 * with the L4 bytes, so the builders are not only checked against the
 * code that built them.  Returns the folded sum (0xffff when correct). */
static uint16_t ref_sum(const uint8_t *pkt, size_t len, size_t l4_off, uint8_t proto)
{
	static uint8_t buf[4096];
	size_t l4len = len - l4_off, n = 0;
	uint32_t sum = 0;

	memcpy(buf, pkt + 8, 32);
	put32(buf + 32, (uint32_t)l4len);
	buf[36] = buf[37] = buf[38] = 0;
	buf[39] = proto;
	memcpy(buf + 40, pkt + l4_off, l4len);
	n = 40 + l4len;
	if (n & 1)
		buf[n++] = 0;
	for (size_t i = 0; i < n; i += 2)
		sum += get16(buf + i);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

static void assert_l4_csum_ok(const uint8_t *pkt, size_t len, size_t l4_off, uint8_t proto)
{
	struct in6_addr s, d;

	memcpy(&s, pkt + 8, 16);
	memcpy(&d, pkt + 24, 16);
	/* A checksum over data that includes a correct checksum folds to
	 * 0xffff, i.e. its complement is 0. */
	assert_int_equal(pkt_l4_csum(&s, &d, proto, pkt + l4_off, len - l4_off), 0);
	assert_int_equal(ref_sum(pkt, len, l4_off, proto), 0xffff);
}

static int parse(const struct pb *pb, struct pkt_info *pi)
{
	return pkt_parse(pb->b, pb->len, pi);
}

/* ------------------------------------------------------------ parsing */

static void test_parse_tcp_syn(void **state)
{
	struct pb pb;
	struct pkt_info pi;
	struct in6_addr s = a6("fd00:1:2:3::1"), d = a6("fd00:1:2:4::2");
	uint8_t *t;

	pb_ip6(&pb, "fd00:1:2:3::1", "fd00:1:2:4::2");
	/* doff 6: one 4-byte MSS option. */
	t = pb_tcp(&pb, 40000, 443, 0x11223344, 0, PKT_TCP_SYN, 6, 0);
	t[20] = 2;
	t[21] = 4;
	put16(t + 22, 1360);
	assert_int_equal(parse(&pb, &pi), 0);
	assert_int_equal(pi.kind, PKT_TCP);
	assert_int_equal(pi.proto, IPPROTO_TCP);
	assert_memory_equal(&pi.src, &s, 16);
	assert_memory_equal(&pi.dst, &d, 16);
	assert_int_equal(pi.sport, 40000);
	assert_int_equal(pi.dport, 443);
	assert_int_equal(pi.tcp_flags, PKT_TCP_SYN);
	assert_int_equal(pi.tcp_seq, 0x11223344);
	assert_int_equal(pi.tcp_payload_len, 1); /* SYN counts one */
	assert_int_equal(pi.l4_off, 40);
	assert_int_equal(pi.len, 64);
}

static void test_parse_tcp_ack_data(void **state)
{
	struct pb pb;
	struct pkt_info pi;

	pb_ip6(&pb, "fd00::1", "fd00::2");
	pb_tcp(&pb, 22, 50000, 1000, 2000, PKT_TCP_ACK | 0x08, 5, 100);
	assert_int_equal(parse(&pb, &pi), 0);
	assert_int_equal(pi.kind, PKT_TCP);
	assert_int_equal(pi.tcp_flags, PKT_TCP_ACK | 0x08);
	assert_int_equal(pi.tcp_seq, 1000);
	assert_int_equal(pi.tcp_ack, 2000);
	assert_int_equal(pi.tcp_payload_len, 100);

	pb_ip6(&pb, "fd00::1", "fd00::2");
	pb_tcp(&pb, 22, 50000, 1000, 2000, PKT_TCP_ACK | PKT_TCP_FIN, 5, 100);
	assert_int_equal(parse(&pb, &pi), 0);
	assert_int_equal(pi.tcp_payload_len, 101); /* FIN counts one */

	/* SYN-ACK: SYN counts, ACK is the peer's. */
	pb_ip6(&pb, "fd00::1", "fd00::2");
	pb_tcp(&pb, 443, 40000, 7, 0x11223345, PKT_TCP_SYN | PKT_TCP_ACK, 5, 0);
	assert_int_equal(parse(&pb, &pi), 0);
	assert_int_equal(pi.tcp_flags, PKT_TCP_SYN | PKT_TCP_ACK);
	assert_int_equal(pi.tcp_payload_len, 1);
	assert_int_equal(pi.tcp_ack, 0x11223345);
}

static void test_parse_udp(void **state)
{
	struct pb pb;
	struct pkt_info pi;

	pb_ip6(&pb, "fd00::1", "fd00::2");
	pb_udp(&pb, 5353, 53, 33);
	assert_int_equal(parse(&pb, &pi), 0);
	assert_int_equal(pi.kind, PKT_UDP);
	assert_int_equal(pi.proto, IPPROTO_UDP);
	assert_int_equal(pi.sport, 5353);
	assert_int_equal(pi.dport, 53);
	assert_int_equal(pi.l4_off, 40);
	assert_int_equal(pi.len, 40 + 8 + 33);
}

static void test_parse_icmp6(void **state)
{
	struct pb pb;
	struct pkt_info pi;

	pb_ip6(&pb, "fd00::1", "fd00::2");
	pb_icmp6(&pb, 128, 0xbeef, 1, 56);
	assert_int_equal(parse(&pb, &pi), 0);
	assert_int_equal(pi.kind, PKT_ICMP6_ECHO_REQ);
	assert_int_equal(pi.proto, IPPROTO_ICMPV6);
	assert_int_equal(pi.sport, 0xbeef);
	assert_int_equal(pi.dport, 0xbeef);

	pb_ip6(&pb, "fd00::2", "fd00::1");
	pb_icmp6(&pb, 129, 0xbeef, 1, 0);
	assert_int_equal(parse(&pb, &pi), 0);
	assert_int_equal(pi.kind, PKT_ICMP6_ECHO_REP);
	assert_int_equal(pi.sport, 0xbeef);

	for (uint8_t type = 1; type <= 4; type++) {
		pb_ip6(&pb, "fd00::2", "fd00::1");
		pb_icmp6(&pb, type, 0, 0, 48);
		assert_int_equal(parse(&pb, &pi), 0);
		assert_int_equal(pi.kind, PKT_ICMP6_ERROR);
		assert_int_equal(pi.sport, 0);
	}

	/* Neighbour solicitation: parsed, not tracked. */
	pb_ip6(&pb, "fe80::1", "ff02::1:ff00:2");
	pb_icmp6(&pb, 135, 0, 0, 16);
	assert_int_equal(parse(&pb, &pi), 0);
	assert_int_equal(pi.kind, PKT_ICMP6_OTHER);

	/* Echo cut inside the identifier. */
	pb_ip6(&pb, "fd00::1", "fd00::2");
	pb_l4(&pb, IPPROTO_ICMPV6, 6)[0] = 128;
	assert_int_equal(parse(&pb, &pi), -EINVAL);
	/* Not even type, code and checksum. */
	pb_ip6(&pb, "fd00::1", "fd00::2");
	pb_l4(&pb, IPPROTO_ICMPV6, 3)[0] = 135;
	assert_int_equal(parse(&pb, &pi), -EINVAL);
}

static void test_parse_ext_headers(void **state)
{
	struct pb pb;
	struct pkt_info pi;

	pb_ip6(&pb, "fd00::1", "fd00::2");
	pb_ext(&pb, 0, 0);  /* hop-by-hop, 8 bytes */
	pb_ext(&pb, 60, 1); /* destination options, 16 bytes */
	pb_ext(&pb, 43, 2); /* routing, 24 bytes */
	pb_ext(&pb, 60, 0);
	pb_tcp(&pb, 1234, 80, 5, 0, PKT_TCP_SYN, 5, 0);
	assert_int_equal(parse(&pb, &pi), 0);
	assert_int_equal(pi.kind, PKT_TCP);
	assert_int_equal(pi.proto, IPPROTO_TCP);
	assert_int_equal(pi.l4_off, 40 + 8 + 16 + 24 + 8);
	assert_int_equal(pi.sport, 1234);
	assert_int_equal(pi.dport, 80);

	pb_ip6(&pb, "fd00::1", "fd00::2");
	pb_ext(&pb, 0, 0);
	pb_udp(&pb, 1, 2, 0);
	assert_int_equal(parse(&pb, &pi), 0);
	assert_int_equal(pi.kind, PKT_UDP);
	assert_int_equal(pi.l4_off, 48);

	pb_ip6(&pb, "fd00::1", "fd00::2");
	pb_ext(&pb, 60, 0);
	pb_icmp6(&pb, 128, 7, 1, 0);
	assert_int_equal(parse(&pb, &pi), 0);
	assert_int_equal(pi.kind, PKT_ICMP6_ECHO_REQ);
	assert_int_equal(pi.sport, 7);

	/* No next header (59) after options: parsed, nothing to track. */
	pb_ip6(&pb, "fd00::1", "fd00::2");
	pb_ext(&pb, 60, 0);
	pb_l4(&pb, 59, 0);
	assert_int_equal(parse(&pb, &pi), 0);
	assert_int_equal(pi.kind, PKT_OTHER);
	assert_int_equal(pi.proto, 59);

	/* Eight extension headers is the most accepted... */
	pb_ip6(&pb, "fd00::1", "fd00::2");
	for (int i = 0; i < 8; i++)
		pb_ext(&pb, 60, 0);
	pb_udp(&pb, 1, 2, 0);
	assert_int_equal(parse(&pb, &pi), 0);
	assert_int_equal(pi.l4_off, 40 + 8 * 8);
	/* ...nine is refused. */
	pb_ip6(&pb, "fd00::1", "fd00::2");
	for (int i = 0; i < 9; i++)
		pb_ext(&pb, 60, 0);
	pb_udp(&pb, 1, 2, 0);
	assert_int_equal(parse(&pb, &pi), -EINVAL);
	/* A long chain that never ends in L4 is refused the same way. */
	pb_ip6(&pb, "fd00::1", "fd00::2");
	for (int i = 0; i < 40; i++)
		pb_ext(&pb, 43, 0);
	pb_l4(&pb, 59, 0);
	assert_int_equal(parse(&pb, &pi), -EINVAL);

	/* Hop-by-hop anywhere but first is refused (RFC 8200 4.1). */
	pb_ip6(&pb, "fd00::1", "fd00::2");
	pb_ext(&pb, 60, 0);
	pb_ext(&pb, 0, 0);
	pb_udp(&pb, 1, 2, 0);
	assert_int_equal(parse(&pb, &pi), -EINVAL);

	/* An extension header running past the packet. */
	pb_ip6(&pb, "fd00::1", "fd00::2");
	pb_ext(&pb, 60, 0);
	pb.b[41] = 5; /* claims 48 bytes, 8 present */
	pb_l4(&pb, 59, 0);
	assert_int_equal(parse(&pb, &pi), -EINVAL);
	/* And one cut before its length byte. */
	pb_ip6(&pb, "fd00::1", "fd00::2");
	pb.b[6] = 60;
	pb.len = 41;
	put16(pb.b + 4, 1);
	assert_int_equal(parse(&pb, &pi), -EINVAL);
}

static void test_parse_fragments(void **state)
{
	struct pb pb;
	struct pkt_info pi;

	/* First fragment holding the whole TCP header: ports are known. */
	pb_ip6(&pb, "fd00::1", "fd00::2");
	pb_frag(&pb, 0, 1);
	pb_tcp(&pb, 1000, 80, 1, 2, PKT_TCP_ACK, 5, 1212);
	assert_int_equal(parse(&pb, &pi), 0);
	assert_int_equal(pi.kind, PKT_TCP);
	assert_int_equal(pi.proto, IPPROTO_TCP);
	assert_int_equal(pi.l4_off, 48);
	assert_int_equal(pi.sport, 1000);
	assert_int_equal(pi.dport, 80);

	/* First fragment of a UDP datagram: the UDP length covers more. */
	pb_ip6(&pb, "fd00::1", "fd00::2");
	pb_frag(&pb, 0, 1);
	put16(pb_udp(&pb, 53, 5353, 1224) + 4, 3000);
	assert_int_equal(parse(&pb, &pi), 0);
	assert_int_equal(pi.kind, PKT_UDP);
	assert_int_equal(pi.sport, 53);

	/* Non-first fragment: no L4 header to read. */
	pb_ip6(&pb, "fd00::1", "fd00::2");
	pb_frag(&pb, 1232, 0);
	pb_l4(&pb, IPPROTO_TCP, 300);
	memset(pb.b + 48, 0xff, 300);
	assert_int_equal(parse(&pb, &pi), 0);
	assert_int_equal(pi.kind, PKT_OTHER);
	assert_int_equal(pi.proto, 44);
	assert_int_equal(pi.sport, 0);
	assert_int_equal(pi.dport, 0);
	assert_int_equal(pi.l4_off, 48);

	/* A tiny first fragment without the full TCP header. */
	pb_ip6(&pb, "fd00::1", "fd00::2");
	pb_frag(&pb, 0, 1);
	pb_l4(&pb, IPPROTO_TCP, 8);
	assert_int_equal(parse(&pb, &pi), 0);
	assert_int_equal(pi.kind, PKT_OTHER);
	assert_int_equal(pi.proto, 44);
	assert_int_equal(pi.sport, 0);

	/* Atomic fragment (offset 0, no more): an ordinary packet. */
	pb_ip6(&pb, "fd00::1", "fd00::2");
	pb_frag(&pb, 0, 0);
	pb_udp(&pb, 9, 10, 3);
	assert_int_equal(parse(&pb, &pi), 0);
	assert_int_equal(pi.kind, PKT_UDP);
	assert_int_equal(pi.dport, 10);
	/* ...so its lengths must agree. */
	put16(pb.b + 48 + 4, 100);
	assert_int_equal(parse(&pb, &pi), -EINVAL);

	/* Two fragment headers. */
	pb_ip6(&pb, "fd00::1", "fd00::2");
	pb_frag(&pb, 0, 0);
	pb_frag(&pb, 0, 0);
	pb_udp(&pb, 9, 10, 0);
	assert_int_equal(parse(&pb, &pi), -EINVAL);

	/* A non-final fragment whose size is not a multiple of 8. */
	pb_ip6(&pb, "fd00::1", "fd00::2");
	pb_frag(&pb, 8, 1);
	pb_l4(&pb, IPPROTO_UDP, 13);
	assert_int_equal(parse(&pb, &pi), -EINVAL);

	/* A fragment reaching past 65535 bytes of reassembled payload. */
	pb_ip6(&pb, "fd00::1", "fd00::2");
	pb_frag(&pb, 65528, 0);
	pb_l4(&pb, IPPROTO_UDP, 16);
	assert_int_equal(parse(&pb, &pi), -EINVAL);
	pb_ip6(&pb, "fd00::1", "fd00::2");
	pb_frag(&pb, 65528, 0);
	pb_l4(&pb, IPPROTO_UDP, 7);
	assert_int_equal(parse(&pb, &pi), 0);
	/* ...counting the headers before the fragment header. */
	pb_ip6(&pb, "fd00::1", "fd00::2");
	pb_ext(&pb, 60, 0);
	pb_frag(&pb, 65528, 0);
	pb_l4(&pb, IPPROTO_UDP, 7);
	assert_int_equal(parse(&pb, &pi), -EINVAL);

	/* A fragment header cut short. */
	pb_ip6(&pb, "fd00::1", "fd00::2");
	pb.b[6] = 44;
	pb.len = 44;
	put16(pb.b + 4, 4);
	assert_int_equal(parse(&pb, &pi), -EINVAL);
}

static void test_parse_refuse(void **state)
{
	struct pb pb;
	struct pkt_info pi, before;
	uint8_t *t;

	/* Nothing is written to *out on failure. */
	memset(&before, 0xa5, sizeof(before));

	pb_ip6(&pb, "fd00::1", "fd00::2");
	pb_tcp(&pb, 1, 2, 3, 4, PKT_TCP_SYN, 5, 10);

	pi = before;
	assert_int_equal(pkt_parse(pb.b, 39, &pi), -EINVAL);
	assert_memory_equal(&pi, &before, sizeof(pi));
	assert_int_equal(pkt_parse(pb.b, 0, &pi), -EINVAL);
	assert_int_equal(pkt_parse(NULL, 70, &pi), -EINVAL);
	assert_int_equal(pkt_parse(pb.b, pb.len, NULL), -EINVAL);
	/* Truncated: buffer shorter than the payload length says. */
	assert_int_equal(pkt_parse(pb.b, pb.len - 1, &pi), -EINVAL);
	/* Longer than it says (trailing bytes). */
	assert_int_equal(pkt_parse(pb.b, pb.len + 1, &pi), -EINVAL);
	assert_memory_equal(&pi, &before, sizeof(pi));
	assert_int_equal(pkt_parse(pb.b, pb.len, &pi), 0);

	/* Bad version. */
	pb.b[0] = 0x45;
	assert_int_equal(parse(&pb, &pi), -EINVAL);
	pb.b[0] = 0x60;

	/* Bad payload length, both directions. */
	put16(pb.b + 4, (uint16_t)(pb.len - 40 + 8));
	assert_int_equal(parse(&pb, &pi), -EINVAL);
	put16(pb.b + 4, (uint16_t)(pb.len - 40 - 8));
	assert_int_equal(parse(&pb, &pi), -EINVAL);
	put16(pb.b + 4, (uint16_t)(pb.len - 40));

	/* TCP data offset below 5 and beyond the segment. */
	t = pb.b + 40;
	t[12] = 4 << 4;
	assert_int_equal(parse(&pb, &pi), -EINVAL);
	t[12] = 0;
	assert_int_equal(parse(&pb, &pi), -EINVAL);
	t[12] = 15 << 4; /* 60 bytes, 30 present */
	assert_int_equal(parse(&pb, &pi), -EINVAL);
	t[12] = 5 << 4;
	assert_int_equal(parse(&pb, &pi), 0);

	/* TCP header cut short. */
	pb_ip6(&pb, "fd00::1", "fd00::2");
	pb_l4(&pb, IPPROTO_TCP, 19);
	assert_int_equal(parse(&pb, &pi), -EINVAL);

	/* UDP length disagreeing with the packet, and zero (jumbo). */
	pb_ip6(&pb, "fd00::1", "fd00::2");
	pb_udp(&pb, 1, 2, 10);
	put16(pb.b + 44, 17);
	assert_int_equal(parse(&pb, &pi), -EINVAL);
	put16(pb.b + 44, 19);
	assert_int_equal(parse(&pb, &pi), -EINVAL);
	put16(pb.b + 44, 0);
	assert_int_equal(parse(&pb, &pi), -EINVAL);
	put16(pb.b + 44, 18);
	assert_int_equal(parse(&pb, &pi), 0);
	pb_ip6(&pb, "fd00::1", "fd00::2");
	pb_l4(&pb, IPPROTO_UDP, 7);
	assert_int_equal(parse(&pb, &pi), -EINVAL);

	/* Jumbogram: payload length 0, hop-by-hop jumbo option (RFC 2675). */
	pb_ip6(&pb, "fd00::1", "fd00::2");
	pb_ext(&pb, 0, 0);
	pb.b[42] = 0xc2;
	pb.b[43] = 4;
	put32(pb.b + 44, 8 + 8 + 100);
	pb_udp(&pb, 1, 2, 100);
	put16(pb.b + 4, 0);
	assert_int_equal(parse(&pb, &pi), -EINVAL);

	/* A bare header with payload length 0 and no next header is fine. */
	pb_ip6(&pb, "fd00::1", "fd00::2");
	pb.b[6] = 59;
	assert_int_equal(parse(&pb, &pi), 0);
	assert_int_equal(pi.kind, PKT_OTHER);
	assert_int_equal(pi.len, 40);
}

/* Every truncation of a packet with a long header chain, with the payload
 * length fixed up to match, parses or fails cleanly (under ASan this also
 * proves no byte past the end is read). */
static void test_parse_every_length(void **state)
{
	struct pb pb;
	struct pkt_info pi;
	uint8_t *copy;

	pb_ip6(&pb, "fd00::1", "fd00::2");
	pb_ext(&pb, 0, 1);
	pb_ext(&pb, 43, 0);
	pb_frag(&pb, 0, 0);
	pb_ext(&pb, 60, 2);
	pb_tcp(&pb, 1, 2, 3, 4, PKT_TCP_SYN, 8, 5);
	for (size_t n = 0; n <= pb.len; n++) {
		copy = malloc(n ? n : 1);
		assert_non_null(copy);
		memcpy(copy, pb.b, n);
		if (n >= 40)
			put16(copy + 4, (uint16_t)(n - 40));
		int rc = pkt_parse(copy, n, &pi);
		/* Only cuts into the 5 payload bytes leave a valid packet. */
		if (n >= pb.len - 5)
			assert_int_equal(rc, 0);
		else
			assert_int_equal(rc, -EINVAL);
		free(copy);
	}
}

/* ------------------------------------------------------------ checksums */

static void test_csum_known(void **state)
{
	struct in6_addr s = a6("fd00::1"), d = a6("fd00::2");
	uint8_t tcp[20] = {0}, udp[11] = {0};

	/* Vectors computed independently (Python, RFC 1071 arithmetic). */
	put16(tcp, 40000);
	put16(tcp + 2, 80);
	put32(tcp + 4, 0x01020304);
	tcp[12] = 5 << 4;
	tcp[13] = PKT_TCP_SYN;
	put16(tcp + 14, 65535);
	assert_int_equal(pkt_l4_csum(&s, &d, IPPROTO_TCP, tcp, sizeof(tcp)), 0x1548);
	put16(tcp + 16, 0x1548);
	assert_int_equal(pkt_l4_csum(&s, &d, IPPROTO_TCP, tcp, sizeof(tcp)), 0);

	/* Odd length: the last byte is padded with zero. */
	put16(udp, 5353);
	put16(udp + 2, 53);
	put16(udp + 4, 11);
	memcpy(udp + 8, "abc", 3);
	assert_int_equal(pkt_l4_csum(&s, &d, IPPROTO_UDP, udp, sizeof(udp)), 0x2c53);
}

/* ------------------------------------------------------------ builders */

static void test_rst_reply_to_syn(void **state)
{
	struct pb pb;
	struct pkt_info in, rst;
	uint8_t out[128];
	int n;

	pb_ip6(&pb, "fd00:1:2:3::1", "fd00:1:2:4::2");
	pb_tcp(&pb, 40000, 443, 0xfffffff0, 0, PKT_TCP_SYN, 5, 20);
	assert_int_equal(parse(&pb, &in), 0);
	n = pkt_make_rst_reply(&in, out, sizeof(out));
	assert_int_equal(n, 60);
	assert_int_equal(out[0] >> 4, 6);
	assert_int_equal(get16(out + 4), 20);
	assert_int_equal(out[6], IPPROTO_TCP);
	assert_int_equal(out[7], 64);
	assert_int_equal(pkt_parse(out, (size_t)n, &rst), 0);
	assert_int_equal(rst.kind, PKT_TCP);
	assert_memory_equal(&rst.src, &in.dst, 16);
	assert_memory_equal(&rst.dst, &in.src, 16);
	assert_int_equal(rst.sport, 443);
	assert_int_equal(rst.dport, 40000);
	/* No ACK in the SYN: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>,
	 * SEG.LEN = 20 data + 1 SYN, wrapping past 2^32. */
	assert_int_equal(rst.tcp_flags, PKT_TCP_RST | PKT_TCP_ACK);
	assert_int_equal(rst.tcp_seq, 0);
	assert_int_equal(rst.tcp_ack, 0x00000005);
	assert_int_equal(rst.tcp_payload_len, 0);
	assert_l4_csum_ok(out, (size_t)n, 40, IPPROTO_TCP);

	/* Too small a buffer. */
	assert_int_equal(pkt_make_rst_reply(&in, out, 59), -ENOSPC);
}

static void test_rst_reply_to_ack(void **state)
{
	struct pb pb;
	struct pkt_info in, rst;
	uint8_t out[60];
	int n;

	pb_ip6(&pb, "fd00::1", "fd00::2");
	pb_tcp(&pb, 1234, 22, 100, 0xdeadbeef, PKT_TCP_ACK, 5, 50);
	assert_int_equal(parse(&pb, &in), 0);
	n = pkt_make_rst_reply(&in, out, sizeof(out));
	assert_int_equal(n, 60);
	assert_int_equal(pkt_parse(out, (size_t)n, &rst), 0);
	/* With ACK: <SEQ=SEG.ACK><CTL=RST>, and no ACK of our own. */
	assert_int_equal(rst.tcp_flags, PKT_TCP_RST);
	assert_int_equal(rst.tcp_seq, 0xdeadbeef);
	assert_int_equal(rst.tcp_ack, 0);
	assert_int_equal(rst.sport, 22);
	assert_int_equal(rst.dport, 1234);
	assert_l4_csum_ok(out, (size_t)n, 40, IPPROTO_TCP);
}

static void test_rst_refused(void **state)
{
	struct pb pb;
	struct pkt_info in;
	uint8_t out[60];

	/* Never answer a RST. */
	pb_ip6(&pb, "fd00::1", "fd00::2");
	pb_tcp(&pb, 1, 2, 3, 4, PKT_TCP_RST | PKT_TCP_ACK, 5, 0);
	assert_int_equal(parse(&pb, &in), 0);
	assert_int_equal(pkt_make_rst_reply(&in, out, sizeof(out)), -EINVAL);
	/* Not TCP. */
	pb_ip6(&pb, "fd00::1", "fd00::2");
	pb_udp(&pb, 1, 2, 0);
	assert_int_equal(parse(&pb, &in), 0);
	assert_int_equal(pkt_make_rst_reply(&in, out, sizeof(out)), -EINVAL);
	/* To a multicast address. */
	pb_ip6(&pb, "fd00::1", "ff02::1");
	pb_tcp(&pb, 1, 2, 3, 4, PKT_TCP_SYN, 5, 0);
	assert_int_equal(parse(&pb, &in), 0);
	assert_int_equal(pkt_make_rst_reply(&in, out, sizeof(out)), -EINVAL);
	assert_int_equal(pkt_make_rst_reply(NULL, out, sizeof(out)), -EINVAL);
}

static void test_rst_direct(void **state)
{
	struct in6_addr s = a6("fd00:1:2:3::5"), d = a6("fd00:1:2:4::9");
	struct pkt_info pi;
	uint8_t out[64];
	int n;

	n = pkt_make_rst(&s, 8080, &d, 51000, 12345, 678, 1, out, sizeof(out));
	assert_int_equal(n, 60);
	assert_int_equal(pkt_parse(out, (size_t)n, &pi), 0);
	assert_int_equal(pi.kind, PKT_TCP);
	assert_int_equal(pi.tcp_flags, PKT_TCP_RST | PKT_TCP_ACK);
	assert_int_equal(pi.tcp_seq, 12345);
	assert_int_equal(pi.tcp_ack, 678);
	assert_int_equal(pi.sport, 8080);
	assert_int_equal(pi.dport, 51000);
	assert_int_equal(get16(out + 40 + 14), 0); /* window */
	assert_l4_csum_ok(out, (size_t)n, 40, IPPROTO_TCP);

	n = pkt_make_rst(&s, 8080, &d, 51000, 12345, 678, 0, out, sizeof(out));
	assert_int_equal(n, 60);
	assert_int_equal(pkt_parse(out, (size_t)n, &pi), 0);
	assert_int_equal(pi.tcp_flags, PKT_TCP_RST);
	assert_int_equal(pi.tcp_ack, 0);
	assert_l4_csum_ok(out, (size_t)n, 40, IPPROTO_TCP);

	assert_int_equal(pkt_make_rst(&s, 1, &d, 2, 0, 0, 0, out, 59), -ENOSPC);
}

static void test_icmp6_unreach(void **state)
{
	struct pb pb;
	struct pkt_info pi;
	struct in6_addr me = a6("fd00:1:2:3::5"), orig_src = a6("fd00:1:2:4::9");
	uint8_t out[1500];
	int n;

	pb_ip6(&pb, "fd00:1:2:4::9", "fd00:1:2:3::77");
	pb_udp(&pb, 5000, 53, 20);
	n = pkt_make_icmp6_unreach(&me, 1, pb.b, pb.len, out, sizeof(out));
	assert_int_equal(n, 48 + (int)pb.len);
	assert_int_equal(out[7], 64);
	assert_int_equal(out[6], IPPROTO_ICMPV6);
	assert_int_equal(get16(out + 4), 8 + pb.len);
	assert_memory_equal(out + 8, &me, 16);
	assert_memory_equal(out + 24, &orig_src, 16);
	assert_int_equal(out[40], 1); /* destination unreachable */
	assert_int_equal(out[41], 1); /* administratively prohibited */
	assert_int_equal(get32(out + 44), 0);
	assert_memory_equal(out + 48, pb.b, pb.len);
	assert_l4_csum_ok(out, (size_t)n, 40, IPPROTO_ICMPV6);
	assert_int_equal(pkt_parse(out, (size_t)n, &pi), 0);
	assert_int_equal(pi.kind, PKT_ICMP6_ERROR);

	/* Too small a buffer for the whole answer. */
	assert_int_equal(pkt_make_icmp6_unreach(&me, 1, pb.b, pb.len, out, (size_t)n - 1), -ENOSPC);

	/* In place: the original in the output buffer. */
	memcpy(out, pb.b, pb.len);
	n = pkt_make_icmp6_unreach(&me, 4, out, pb.len, out, sizeof(out));
	assert_int_equal(n, 48 + (int)pb.len);
	assert_memory_equal(out + 48, pb.b, pb.len);
	assert_memory_equal(out + 24, &orig_src, 16);
	assert_l4_csum_ok(out, (size_t)n, 40, IPPROTO_ICMPV6);
}

/* A refused first packet is answered as if from its destination: RST for
 * a SYN, "administratively prohibited" for UDP and echo, nothing for a RST
 * or an ICMPv6 error. */
static void test_refusal(void **state)
{
	struct pb pb;
	struct pkt_info pi, ri;
	struct in6_addr peer = a6("fd00:1:2:0::9"), me = a6("fd00:1:2:0::5");
	uint8_t out[1500];
	int n;

	(void)state;
	pb_ip6(&pb, "fd00:1:2:0::9", "fd00:1:2:0::5");
	pb_tcp(&pb, 40000, 22, 1000, 0, PKT_TCP_SYN, 5, 0);
	assert_int_equal(pkt_parse(pb.b, pb.len, &pi), 0);
	n = pkt_make_refusal(pb.b, &pi, out, sizeof(out));
	assert_true(n > 0);
	assert_int_equal(pkt_parse(out, (size_t)n, &ri), 0);
	assert_int_equal(ri.kind, PKT_TCP);
	assert_true(ri.tcp_flags & PKT_TCP_RST);
	assert_true(ri.tcp_flags & PKT_TCP_ACK);
	assert_int_equal(ri.tcp_ack, 1001);
	assert_int_equal(ri.sport, 22);
	assert_int_equal(ri.dport, 40000);
	assert_memory_equal(&ri.src, &me, 16);
	assert_memory_equal(&ri.dst, &peer, 16);

	/* A RST is never answered. */
	pb_ip6(&pb, "fd00:1:2:0::9", "fd00:1:2:0::5");
	pb_tcp(&pb, 40000, 22, 1000, 0, PKT_TCP_RST, 5, 0);
	assert_int_equal(pkt_parse(pb.b, pb.len, &pi), 0);
	assert_int_equal(pkt_make_refusal(pb.b, &pi, out, sizeof(out)), -EINVAL);

	/* UDP and echo: ICMPv6 type 1 code 1 quoting the packet. */
	pb_ip6(&pb, "fd00:1:2:0::9", "fd00:1:2:0::5");
	pb_udp(&pb, 5000, 5353, 5);
	assert_int_equal(pkt_parse(pb.b, pb.len, &pi), 0);
	n = pkt_make_refusal(pb.b, &pi, out, sizeof(out));
	assert_int_equal(n, 48 + (int)pb.len);
	assert_int_equal(out[40], 1);
	assert_int_equal(out[41], 1);
	assert_memory_equal(out + 8, &me, 16);
	assert_memory_equal(out + 24, &peer, 16);
	assert_l4_csum_ok(out, (size_t)n, 40, IPPROTO_ICMPV6);

	pb_ip6(&pb, "fd00:1:2:0::9", "fd00:1:2:0::5");
	pb_icmp6(&pb, 128, 77, 1, 16);
	assert_int_equal(pkt_parse(pb.b, pb.len, &pi), 0);
	n = pkt_make_refusal(pb.b, &pi, out, sizeof(out));
	assert_true(n > 0);
	assert_int_equal(out[40], 1);
	assert_int_equal(out[41], 1);

	/* An error about an error: no. */
	assert_int_equal(pkt_parse(out, (size_t)n, &ri), 0);
	assert_int_equal(pkt_make_refusal(out, &ri, pb.b, sizeof(pb.b)), -EINVAL);
}

/* The flow an ICMPv6 error quotes, from the side the error goes to. */
static void test_icmp6_quoted(void **state)
{
	struct pb pb;
	struct pkt_info pi, ei, q;
	struct in6_addr me = a6("fd00:1:2:0::5"), peer = a6("fd00:1:2:0::9");
	uint8_t out[1500];
	int n;

	(void)state;
	/* Our UDP datagram to the peer, refused by it. */
	pb_ip6(&pb, "fd00:1:2:0::5", "fd00:1:2:0::9");
	pb_udp(&pb, 41000, 5353, 3);
	assert_int_equal(pkt_parse(pb.b, pb.len, &pi), 0);
	n = pkt_make_icmp6_unreach(&peer, 1, pb.b, pb.len, out, sizeof(out));
	assert_true(n > 0);
	assert_int_equal(pkt_parse(out, (size_t)n, &ei), 0);
	assert_int_equal(ei.kind, PKT_ICMP6_ERROR);
	assert_int_equal(pkt_icmp6_quoted(out, &ei, &q), 0);
	assert_int_equal(q.kind, PKT_UDP);
	assert_int_equal(q.proto, IPPROTO_UDP);
	assert_int_equal(q.sport, 41000);
	assert_int_equal(q.dport, 5353);
	assert_memory_equal(&q.src, &me, 16);
	assert_memory_equal(&q.dst, &peer, 16);

	/* An echo request: the identifier in both ports. */
	pb_ip6(&pb, "fd00:1:2:0::5", "fd00:1:2:0::9");
	pb_icmp6(&pb, 128, 4242, 1, 8);
	assert_int_equal(pkt_parse(pb.b, pb.len, &pi), 0);
	n = pkt_make_icmp6_unreach(&peer, 1, pb.b, pb.len, out, sizeof(out));
	assert_int_equal(pkt_parse(out, (size_t)n, &ei), 0);
	assert_int_equal(pkt_icmp6_quoted(out, &ei, &q), 0);
	assert_int_equal(q.kind, PKT_ICMP6_ECHO_REQ);
	assert_int_equal(q.sport, 4242);
	assert_int_equal(q.dport, 4242);

	/* A quote of a packet between two other nodes speaks of no flow of
	 * ours: refused. */
	pb_ip6(&pb, "fd00:1:2:0::7", "fd00:1:2:0::9");
	pb_udp(&pb, 41000, 5353, 3);
	n = pkt_make_icmp6_unreach(&peer, 1, pb.b, pb.len, out, sizeof(out));
	assert_true(n > 0);
	/* (addressed to ::7; pretend it came to us) */
	memcpy(out + 24, &me, 16);
	assert_int_equal(pkt_parse(out, (size_t)n, &ei), 0);
	assert_int_equal(pkt_icmp6_quoted(out, &ei, &q), -EINVAL);

	/* Not an error, or a truncated quote. */
	assert_int_equal(pkt_parse(pb.b, pb.len, &pi), 0);
	assert_int_equal(pkt_icmp6_quoted(pb.b, &pi, &q), -EINVAL);
	pb_ip6(&pb, "fd00:1:2:0::9", "fd00:1:2:0::5");
	pb_icmp6(&pb, 1, 0, 0, 20);
	assert_int_equal(pkt_parse(pb.b, pb.len, &ei), 0);
	assert_int_equal(pkt_icmp6_quoted(pb.b, &ei, &q), -EINVAL);
}

static void test_icmp6_unreach_big(void **state)
{
	struct pb pb;
	struct pkt_info pi;
	struct in6_addr me = a6("fd00:1:2:3::5");
	uint8_t out[1500];
	int n;

	pb_ip6(&pb, "fd00:1:2:4::9", "fd00:1:2:3::77");
	pb_udp(&pb, 5000, 53, 1400);
	for (size_t i = 48; i < pb.len; i++)
		pb.b[i] = (uint8_t)i;
	/* The answer is capped at the IPv6 minimum MTU. */
	n = pkt_make_icmp6_unreach(&me, 1, pb.b, pb.len, out, sizeof(out));
	assert_int_equal(n, 1280);
	assert_int_equal(get16(out + 4), 1240);
	assert_memory_equal(out + 48, pb.b, 1232);
	assert_l4_csum_ok(out, (size_t)n, 40, IPPROTO_ICMPV6);
	assert_int_equal(pkt_parse(out, (size_t)n, &pi), 0);
	assert_int_equal(pi.kind, PKT_ICMP6_ERROR);
	assert_int_equal(pkt_make_icmp6_unreach(&me, 1, pb.b, pb.len, out, 1279), -ENOSPC);
}

static void test_icmp6_refused(void **state)
{
	struct pb pb;
	struct in6_addr me = a6("fd00:1:2:3::5");
	uint8_t out[1500];

	/* No error about an error (RFC 4443 2.4(e)). */
	pb_ip6(&pb, "fd00::9", "fd00::5");
	pb_icmp6(&pb, 1, 0, 0, 48);
	assert_int_equal(pkt_make_icmp6_unreach(&me, 1, pb.b, pb.len, out, sizeof(out)), -EINVAL);
	assert_int_equal(pkt_make_icmp6_ptb(&me, 1280, pb.b, pb.len, out, sizeof(out)), -EINVAL);
	/* Multicast destination: no unreachable, but packet too big is fine. */
	pb_ip6(&pb, "fd00::9", "ff0e::1");
	pb_udp(&pb, 1, 2, 10);
	assert_int_equal(pkt_make_icmp6_unreach(&me, 1, pb.b, pb.len, out, sizeof(out)), -EINVAL);
	assert_int_equal(pkt_make_icmp6_ptb(&me, 1280, pb.b, pb.len, out, sizeof(out)), 48 + 58);
	/* Unspecified source: no one to tell. */
	pb_ip6(&pb, "::", "fd00::5");
	pb_udp(&pb, 1, 2, 10);
	assert_int_equal(pkt_make_icmp6_unreach(&me, 1, pb.b, pb.len, out, sizeof(out)), -EINVAL);
	/* Malformed original. */
	pb_ip6(&pb, "fd00::9", "fd00::5");
	pb_udp(&pb, 1, 2, 10);
	assert_int_equal(pkt_make_icmp6_unreach(&me, 1, pb.b, pb.len - 1, out, sizeof(out)),
			 -EINVAL);
}

static void test_icmp6_ptb(void **state)
{
	struct pb pb;
	struct pkt_info pi;
	struct in6_addr me = a6("fd00:1:2:3::5");
	uint8_t out[1500];
	int n;

	pb_ip6(&pb, "fd00:1:2:4::9", "fd00:1:2:3::77");
	pb_tcp(&pb, 40000, 80, 1, 1, PKT_TCP_ACK, 5, 1400);
	n = pkt_make_icmp6_ptb(&me, 1380, pb.b, pb.len, out, sizeof(out));
	assert_int_equal(n, 1280);
	assert_int_equal(out[40], 2);
	assert_int_equal(out[41], 0);
	assert_int_equal(get32(out + 44), 1380);
	assert_memory_equal(out + 48, pb.b, 1232);
	assert_l4_csum_ok(out, (size_t)n, 40, IPPROTO_ICMPV6);
	assert_int_equal(pkt_parse(out, (size_t)n, &pi), 0);
	assert_int_equal(pi.kind, PKT_ICMP6_ERROR);
}

/* ------------------------------------------------------------ tun */

static void test_tun_dummy(void **state)
{
	struct tun_dev t, z;
	struct pb pb;
	uint8_t buf[2048];
	ssize_t n;

	pb_ip6(&pb, "fd00::1", "fd00::2");
	pb_udp(&pb, 1, 2, 100);

	assert_int_equal(tun_open_dummy(&t, "pilot0"), 0);
	assert_string_equal(t.name, "pilot0");
	assert_true(t.fd >= 0 && t.peer_fd >= 0);

	/* Nothing yet: 0, not an error. */
	assert_int_equal(tun_read(&t, buf, sizeof(buf)), 0);
	/* Daemon -> test end, one packet per message. */
	assert_int_equal(tun_write(&t, pb.b, pb.len), (ssize_t)pb.len);
	n = recv(t.peer_fd, buf, sizeof(buf), 0);
	assert_int_equal(n, (ssize_t)pb.len);
	assert_memory_equal(buf, pb.b, pb.len);
	/* Test end -> daemon. */
	assert_int_equal(send(t.peer_fd, pb.b, pb.len, 0), (ssize_t)pb.len);
	assert_int_equal(send(t.peer_fd, pb.b, 40, 0), 40);
	assert_int_equal(tun_read(&t, buf, sizeof(buf)), (ssize_t)pb.len);
	assert_memory_equal(buf, pb.b, pb.len);
	assert_int_equal(tun_read(&t, buf, sizeof(buf)), 40);
	/* A packet bigger than the buffer is an error, not cut short. */
	assert_int_equal(send(t.peer_fd, pb.b, pb.len, 0), (ssize_t)pb.len);
	assert_int_equal(tun_read(&t, buf, 50), -EMSGSIZE);
	/* The test closing its end reads as an error, not "nothing". */
	close(t.peer_fd);
	t.peer_fd = -1;
	assert_int_equal(tun_read(&t, buf, sizeof(buf)), -EPIPE);
	assert_int_equal(tun_write(&t, pb.b, pb.len), -EPIPE);
	tun_close(&t);
	assert_int_equal(t.fd, -1);
	tun_close(&t); /* twice is fine */
	memset(&z, 0, sizeof(z));
	tun_close(&z); /* so is a zeroed one: fd 0 is not closed */
	assert_true(fcntl(0, F_GETFD) >= 0 || errno != EBADF);
	tun_close(NULL);

	char longname[IFNAMSIZ + 4];
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(tun_open_dummy(&t, longname), -ENAMETOOLONG);
	assert_null(t.ops);
}

/* ------------------------------------------------------------ kernel (root) */

/* The namespace test runs in a forked child, where cmocka's longjmp-based
 * asserts must not be used: each check reports and returns instead. */
#define CK(c)                                                                                      \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c);      \
			return 1;                                                                  \
		}                                                                                  \
	} while (0)

struct dump_q {
	int ifindex;
	struct in6_addr want;
	int plen;
	uint32_t table;	 /* routes and rules: 0 = RT_TABLE_MAIN */
	const char *iif; /* rules */
	uint32_t prio;	 /* rules */
	int found;	 /* routes, addresses: 1; rules: how many */
	uint32_t flags;
	uint8_t proto, type;
	int have_prefsrc;
	struct in6_addr prefsrc;
};

static int addr_dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump_q *q = data;
	const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a;
	const void *addr = NULL;
	uint32_t flags = ifa->ifa_flags;

	if (nlh->nlmsg_type != RTM_NEWADDR)
		return MNL_CB_OK;
	mnl_attr_for_each(a, nlh, sizeof(*ifa))
	{
		if (mnl_attr_get_type(a) == IFA_ADDRESS &&
		    mnl_attr_get_payload_len(a) == sizeof(struct in6_addr))
			addr = mnl_attr_get_payload(a);
		if (mnl_attr_get_type(a) == IFA_FLAGS && mnl_attr_validate(a, MNL_TYPE_U32) == 0)
			flags = mnl_attr_get_u32(a);
	}
	if (addr && (int)ifa->ifa_index == q->ifindex && ifa->ifa_prefixlen == q->plen &&
	    memcmp(addr, &q->want, 16) == 0) {
		q->found = 1;
		q->flags = flags;
	}
	return MNL_CB_OK;
}

static int route_dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump_q *q = data;
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a;
	const void *dst = NULL, *prefsrc = NULL;
	int oif = 0;
	uint32_t table = rtm->rtm_table;

	if (nlh->nlmsg_type != RTM_NEWROUTE)
		return MNL_CB_OK;
	mnl_attr_for_each(a, nlh, sizeof(*rtm))
	{
		uint16_t t = mnl_attr_get_type(a);
		int is6 = mnl_attr_get_payload_len(a) == sizeof(struct in6_addr);

		if (t == RTA_DST && is6)
			dst = mnl_attr_get_payload(a);
		if (t == RTA_PREFSRC && is6)
			prefsrc = mnl_attr_get_payload(a);
		if (t == RTA_OIF && mnl_attr_validate(a, MNL_TYPE_U32) == 0)
			oif = (int)mnl_attr_get_u32(a);
		if (t == RTA_TABLE && mnl_attr_validate(a, MNL_TYPE_U32) == 0)
			table = mnl_attr_get_u32(a); /* the 32-bit table id */
	}
	if (dst && oif == q->ifindex && rtm->rtm_dst_len == q->plen &&
	    table == (q->table ? q->table : RT_TABLE_MAIN) && memcmp(dst, &q->want, 16) == 0) {
		q->found = 1;
		q->proto = rtm->rtm_protocol;
		q->type = rtm->rtm_type;
		q->have_prefsrc = prefsrc != NULL;
		if (prefsrc)
			memcpy(&q->prefsrc, prefsrc, 16);
	}
	return MNL_CB_OK;
}

/* Rules "iif q->iif lookup q->table pref q->prio": counted in q->found. */
static int rule_dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump_q *q = data;
	const struct fib_rule_hdr *frh = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a;
	const char *iif = NULL;
	uint32_t table = frh->table, prio = 0;

	if (nlh->nlmsg_type != RTM_NEWRULE)
		return MNL_CB_OK;
	mnl_attr_for_each(a, nlh, sizeof(*frh))
	{
		uint16_t t = mnl_attr_get_type(a);

		if (t == FRA_IIFNAME && mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
			iif = mnl_attr_get_str(a);
		if (t == FRA_TABLE && mnl_attr_validate(a, MNL_TYPE_U32) == 0)
			table = mnl_attr_get_u32(a);
		if (t == FRA_PRIORITY && mnl_attr_validate(a, MNL_TYPE_U32) == 0)
			prio = mnl_attr_get_u32(a);
	}
	if (frh->family == AF_INET6 && frh->action == FR_ACT_TO_TBL && iif &&
	    strcmp(iif, q->iif) == 0 && table == q->table && prio == q->prio)
		q->found++;
	return MNL_CB_OK;
}

/* A plain RTM_GETADDR / RTM_GETROUTE dump, written independently of nl.c. */
static int dump6(uint16_t type, mnl_cb_t cb, struct dump_q *q)
{
	static uint8_t buf[32768];
	struct mnl_socket *s = mnl_socket_open(NETLINK_ROUTE);
	struct nlmsghdr *nlh;
	struct rtgenmsg *g;
	unsigned seq = 42, portid;
	ssize_t n;
	int rc = -1;

	if (!s || mnl_socket_bind(s, 0, MNL_SOCKET_AUTOPID) < 0)
		goto out;
	portid = mnl_socket_get_portid(s);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = seq;
	/* rtmsg, ifaddrmsg and fib_rule_hdr all start with the family byte. */
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(struct rtmsg));
	g->rtgen_family = AF_INET6;
	if (mnl_socket_sendto(s, nlh, nlh->nlmsg_len) < 0)
		goto out;
	while ((n = mnl_socket_recvfrom(s, buf, sizeof(buf))) > 0) {
		rc = mnl_cb_run(buf, (size_t)n, seq, portid, cb, q);
		if (rc <= MNL_CB_STOP)
			break;
	}
out:
	if (s)
		mnl_socket_close(s);
	return rc == MNL_CB_STOP ? 0 : -1;
}

/* Read packets from the TUN until one matches \p kind (and \p port: the
 * echo id for ICMPv6, the dport for TCP), checking that every packet the
 * kernel emits parses (router solicitations, MLD reports with hop-by-hop).
 * \retval length, -1 on timeout, -2 if a kernel packet did not parse. */
static int tun_expect(struct tun_dev *t, enum pkt_kind kind, uint16_t port, uint8_t *buf,
		      size_t len, struct pkt_info *pi, int timeout_ms)
{
	struct pollfd pfd = {.fd = t->fd, .events = POLLIN};

	for (int tries = 0; tries < 50; tries++) {
		ssize_t n;

		if (poll(&pfd, 1, timeout_ms) <= 0)
			return -1;
		n = tun_read(t, buf, len);
		if (n <= 0)
			continue;
		if (pkt_parse(buf, (size_t)n, pi) != 0) {
			fprintf(stderr, "kernel packet of %zd bytes did not parse\n", n);
			return -2;
		}
		if (pi->kind == kind && (kind == PKT_TCP ? pi->dport : pi->sport) == port)
			return (int)n;
	}
	return -1;
}

/* An address dump for \p want/\p plen on \p ifindex into \p q. \retval 0,
 * -1 when the dump failed. */
static int find_addr(struct dump_q *q, int ifindex, const struct in6_addr *want, int plen)
{
	memset(q, 0, sizeof(*q));
	q->ifindex = ifindex;
	q->want = *want;
	q->plen = plen;
	return dump6(RTM_GETADDR, addr_dump_cb, q);
}

/* A route dump for \p want/\p plen through \p ifindex in \p table (0:
 * main) into \p q. \retval 0, -1 when the dump failed. */
static int find_route(struct dump_q *q, int ifindex, const struct in6_addr *want, int plen,
		      uint32_t table)
{
	memset(q, 0, sizeof(*q));
	q->ifindex = ifindex;
	q->want = *want;
	q->plen = plen;
	q->table = table;
	return dump6(RTM_GETROUTE, route_dump_cb, q);
}

static int ns_test_body(void)
{
	struct tun_dev t = {0}, t2 = {0};
	struct nl_ctx *nl;
	struct in6_addr addr, net48, peer, bogus;
	struct dump_q q;
	struct ifreq ifr;
	struct pkt_info pi;
	struct pb pb;
	uint8_t buf[2048];
	uint8_t *l4;
	int fd, rc, n;

	inet_pton(AF_INET6, "fd00:1:2:3::5", &addr);
	inet_pton(AF_INET6, "fd00:1:2::", &net48);
	inet_pton(AF_INET6, "fd00:1:2:3::99", &peer);
	inet_pton(AF_INET6, "fd00:1:2:3::6", &bogus);

	CK(tun_open_linux(&t, "pilottest0", 0) == 0);
	CK(strcmp(t.name, "pilottest0") == 0);
	CK(t.ifindex > 0);
	CK(fcntl(t.fd, F_GETFL) & O_NONBLOCK);
	CK(fcntl(t.fd, F_GETFD) & FD_CLOEXEC);
	/* Attached already, and not multi-queue: the kernel says busy. */
	CK(tun_open_linux(&t2, "pilottest0", 0) == -EBUSY);
	CK(t2.ops == NULL);

	nl = nl_open();
	CK(nl != NULL);
	CK(strcmp(nl_last_error(nl), "") == 0);
	CK(nl_link_index(nl, "pilottest0") == t.ifindex);
	CK(nl_link_index(nl, "nosuchdev0") == -ENODEV);
	CK(nl_link_index(nl, "") == -EINVAL);

	CK(nl_link_up(nl, t.ifindex, 1420) == 0);
	fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	CK(fd >= 0);
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", t.name);
	CK(ioctl(fd, SIOCGIFMTU, &ifr) == 0);
	CK(ifr.ifr_mtu == 1420);
	CK(ioctl(fd, SIOCGIFFLAGS, &ifr) == 0);
	CK(ifr.ifr_flags & IFF_UP);
	close(fd);

	/* Errors: the kernel's errno and, where it gives one, its text. */
	rc = nl_link_up(nl, t.ifindex, 70000);
	CK(rc == -EINVAL);
	fprintf(stderr, "# MTU 70000: ext-ack \"%s\"\n", nl_last_error(nl));
	CK(nl_last_error(nl)[0] == '\0' || strcasestr(nl_last_error(nl), "mtu") != NULL);
	CK(nl_addr6_add(nl, 99999, &addr, 64) == -ENODEV);
	fprintf(stderr, "# no such ifindex: ext-ack \"%s\"\n", nl_last_error(nl));
	CK(strlen(nl_last_error(nl)) < 256);
	CK(nl_link_up(nl, 99999, 1420) == -ENODEV);
	CK(nl_addr6_add(nl, t.ifindex, &addr, 129) == -EINVAL);
	/* The context still works after errors. */
	CK(nl_link_index(nl, "pilottest0") == t.ifindex);

	CK(nl_addr6_add(nl, t.ifindex, &addr, 64) == 0);
	CK(strcmp(nl_last_error(nl), "") == 0);
	CK(nl_addr6_add(nl, t.ifindex, &addr, 64) == 0); /* replace: idempotent */
	CK(find_addr(&q, t.ifindex, &addr, 64) == 0);
	CK(q.found);
	CK(q.flags & IFA_F_NODAD);

	CK(nl_addr6_del(nl, t.ifindex, &bogus, 64) == -EADDRNOTAVAIL);
	CK(nl_addr6_add(nl, t.ifindex, &bogus, 64) == 0);
	CK(nl_addr6_del(nl, t.ifindex, &bogus, 64) == 0);
	CK(find_addr(&q, t.ifindex, &bogus, 64) == 0);
	CK(!q.found);

	CK(nl_route6_add(nl, t.ifindex, &net48, 48) == 0);
	CK(nl_route6_add(nl, t.ifindex, &net48, 48) == 0); /* replace */
	CK(find_route(&q, t.ifindex, &net48, 48, 0) == 0);
	CK(q.found);
	CK(q.proto == RTPROT_STATIC);
	CK(nl_route6_add(nl, 99999, &net48, 48) == -ENODEV);

	/* The data path end to end: an echo request in through the TUN is
	 * answered by the kernel from fd00:1:2:3::5 (no DAD wait: NODAD). */
	n = -1;
	for (uint16_t seq = 1; seq <= 10 && n == -1; seq++) {
		/* Kernel quirk: the local route for a new address is inserted
		 * by the addrconf worker (even with NODAD), after the netlink
		 * ACK; until then a packet to it is an "address error" and
		 * dropped.  So retry, as ping would. */
		pb_ip6(&pb, "fd00:1:2:3::99", "fd00:1:2:3::5");
		l4 = pb_icmp6(&pb, 128, 0x4242, seq, 16);
		pb_csum(&pb, l4, 2);
		CK(tun_write(&t, pb.b, pb.len) == (ssize_t)pb.len);
		n = tun_expect(&t, PKT_ICMP6_ECHO_REP, 0x4242, buf, sizeof(buf), &pi, 300);
	}
	CK(n > 0);
	CK(memcmp(&pi.src, &addr, 16) == 0);
	CK(memcmp(&pi.dst, &peer, 16) == 0);
	CK(pkt_l4_csum(&pi.src, &pi.dst, IPPROTO_ICMPV6, buf + pi.l4_off, (size_t)n - pi.l4_off) ==
	   0);

	/* A SYN to a closed port: the kernel checks our checksum, then
	 * answers with the same RST|ACK our builder would. */
	pb_ip6(&pb, "fd00:1:2:3::99", "fd00:1:2:3::5");
	l4 = pb_tcp(&pb, 41000, 9, 0x01000000, 0, PKT_TCP_SYN, 5, 0);
	pb_csum(&pb, l4, 16);
	CK(tun_write(&t, pb.b, pb.len) == (ssize_t)pb.len);
	n = tun_expect(&t, PKT_TCP, 41000, buf, sizeof(buf), &pi, 3000);
	CK(n > 0);
	CK(pi.tcp_flags == (PKT_TCP_RST | PKT_TCP_ACK));
	CK(pi.tcp_ack == 0x01000001);
	CK(pkt_l4_csum(&pi.src, &pi.dst, IPPROTO_TCP, buf + pi.l4_off, (size_t)n - pi.l4_off) == 0);
	{
		struct pkt_info syn, ours;
		uint8_t rst[60];

		CK(pkt_parse(pb.b, pb.len, &syn) == 0);
		CK(pkt_make_rst_reply(&syn, rst, sizeof(rst)) == 60);
		CK(pkt_parse(rst, sizeof(rst), &ours) == 0);
		CK(ours.tcp_flags == pi.tcp_flags && ours.tcp_ack == pi.tcp_ack &&
		   ours.tcp_seq == pi.tcp_seq && ours.sport == pi.sport);
	}

	tun_close(&t);
	/* A non-persistent TUN goes away with its last fd. */
	CK(nl_link_index(nl, "pilottest0") == -ENODEV);
	nl_close(nl);
	nl_close(NULL);
	return 0;
}

/* How many rules "iif \p iif lookup \p table pref \p prio" there are, -1
 * when the dump failed. */
static int count_rules(const char *iif, uint32_t table, uint32_t prio)
{
	struct dump_q q;

	memset(&q, 0, sizeof(q));
	q.iif = iif;
	q.table = table;
	q.prio = prio;
	return dump6(RTM_GETRULE, rule_dump_cb, &q) == 0 ? q.found : -1;
}

/* What broadcast (SPEC section 6) asks of netlink: the broadcast address
 * on the device without a prefix route, its local route moved to a table
 * of its own behind an "iif" rule, and a /128 route naming our own
 * address as the source. */
#define BCAST_TABLE 20553u
static int ns_bcast_body(void)
{
	struct tun_dev t = {0};
	struct nl_ctx *nl;
	struct in6_addr self, bc, net64, other, other64, stranger;
	struct dump_q q;
	char longname[IFNAMSIZ + 4];

	inet_pton(AF_INET6, "fd00:1:2:3::5", &self);
	inet_pton(AF_INET6, "fd00:1:2:3::ffff:ffff", &bc);
	inet_pton(AF_INET6, "fd00:1:2:3::", &net64);
	inet_pton(AF_INET6, "fd00:1:2:4::5", &other);
	inet_pton(AF_INET6, "fd00:1:2:4::", &other64);
	inet_pton(AF_INET6, "fd00:9::1", &stranger);
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';

	CK(tun_open_linux(&t, "pilottest1", 0) == 0);
	nl = nl_open();
	CK(nl != NULL);
	CK(nl_link_up(nl, t.ifindex, 1420) == 0);

	/* nl_addr6_add_bind_only: the address, flagged, and no /64 route; a
	 * plain nl_addr6_add of another one does get its prefix route (so the
	 * dump would see one). */
	CK(nl_addr6_add_bind_only(nl, t.ifindex, &self, 64) == 0);
	CK(nl_addr6_add(nl, t.ifindex, &other, 64) == 0);
	CK(find_addr(&q, t.ifindex, &self, 64) == 0);
	CK(q.found);
	CK(q.flags & IFA_F_NOPREFIXROUTE);
	CK(q.flags & IFA_F_NODAD);
	CK(q.flags & IFA_F_DEPRECATED); /* never chosen as a source */
	CK(find_route(&q, t.ifindex, &other64, 64, 0) == 0);
	CK(q.found);
	CK(find_route(&q, t.ifindex, &net64, 64, 0) == 0);
	CK(!q.found);
	CK(nl_addr6_add_bind_only(nl, t.ifindex, &self, 129) == -EINVAL);

	/* nl_route6_local: deleting an absent one is -ESRCH (quietly); add,
	 * see it in BCAST_TABLE as a local route, delete, gone. */
	CK(nl_route6_local(nl, 0, t.ifindex, &bc, BCAST_TABLE) == -ESRCH);
	CK(nl_route6_local(nl, 1, t.ifindex, &bc, BCAST_TABLE) == 0);
	CK(nl_route6_local(nl, 1, t.ifindex, &bc, BCAST_TABLE) == 0); /* replace */
	CK(find_route(&q, t.ifindex, &bc, 128, BCAST_TABLE) == 0);
	CK(q.found);
	CK(q.type == RTN_LOCAL);
	CK(find_route(&q, t.ifindex, &bc, 128, 0) == 0);
	CK(!q.found); /* not in main */
	CK(nl_route6_local(nl, 0, t.ifindex, &bc, BCAST_TABLE) == 0);
	CK(find_route(&q, t.ifindex, &bc, 128, BCAST_TABLE) == 0);
	CK(!q.found);
	CK(nl_route6_local(nl, 0, t.ifindex, &bc, BCAST_TABLE) == -ESRCH);
	CK(nl_route6_local(NULL, 1, t.ifindex, &bc, BCAST_TABLE) == -EINVAL);
	CK(nl_route6_local(NULL, 0, t.ifindex, &bc, BCAST_TABLE) == -EINVAL);
	CK(nl_route6_local(nl, 1, 0, &bc, BCAST_TABLE) == -EINVAL);
	CK(nl_route6_local(nl, 1, t.ifindex, NULL, BCAST_TABLE) == -EINVAL);

	/* nl_route6_add_src: a unicast /128 in main whose RTA_PREFSRC is our
	 * own address; one naming an address the host does not have is the
	 * kernel's EINVAL. */
	CK(nl_route6_add_src(nl, t.ifindex, &bc, 128, &self) == 0);
	CK(find_route(&q, t.ifindex, &bc, 128, 0) == 0);
	CK(q.found);
	CK(q.type == RTN_UNICAST);
	CK(q.proto == RTPROT_STATIC);
	CK(q.have_prefsrc);
	CK(memcmp(&q.prefsrc, &self, 16) == 0);
	CK(nl_route6_add_src(nl, t.ifindex, &bc, 128, &stranger) == -EINVAL);
	CK(nl_route6_add_src(nl, t.ifindex, &bc, 129, &self) == -EINVAL);
	/* without a source (nl_route6_add) the same route has none */
	CK(nl_route6_add(nl, t.ifindex, &bc, 128) == 0);
	CK(find_route(&q, t.ifindex, &bc, 128, 0) == 0);
	CK(q.found);
	CK(!q.have_prefsrc);

	/* nl_rule6: added once however often it is asked (EEXIST is
	 * success), deleted, a second delete is the kernel's ENOENT; bad
	 * arguments never reach the kernel. */
	CK(count_rules("pilottest1", BCAST_TABLE, BCAST_TABLE) == 0);
	CK(nl_rule6(nl, 1, "pilottest1", BCAST_TABLE, BCAST_TABLE) == 0);
	CK(nl_rule6(nl, 1, "pilottest1", BCAST_TABLE, BCAST_TABLE) == 0);
	CK(count_rules("pilottest1", BCAST_TABLE, BCAST_TABLE) == 1);
	CK(nl_rule6(nl, 0, "pilottest1", BCAST_TABLE, BCAST_TABLE) == 0);
	CK(count_rules("pilottest1", BCAST_TABLE, BCAST_TABLE) == 0);
	CK(nl_rule6(nl, 0, "pilottest1", BCAST_TABLE, BCAST_TABLE) == -ENOENT);
	CK(nl_rule6(NULL, 1, "pilottest1", BCAST_TABLE, BCAST_TABLE) == -EINVAL);
	CK(nl_rule6(nl, 1, NULL, BCAST_TABLE, BCAST_TABLE) == -EINVAL);
	CK(nl_rule6(nl, 1, "", BCAST_TABLE, BCAST_TABLE) == -EINVAL);
	CK(nl_rule6(nl, 1, longname, BCAST_TABLE, BCAST_TABLE) == -EINVAL);
	CK(nl_rule6(nl, 1, "pilottest1", 0, BCAST_TABLE) == -EINVAL);
	CK(count_rules("pilottest1", BCAST_TABLE, BCAST_TABLE) == 0);
	/* The context still works after all that. */
	CK(nl_link_index(nl, "pilottest1") == t.ifindex);

	tun_close(&t);
	nl_close(nl);
	return 0;
}

/* Run \p body in a forked child in a private network namespace: nothing
 * of the host's is touched, and everything vanishes with the child.
 * Skipped without root, namespaces or /dev/net/tun. */
static void in_netns(int (*body)(void))
{
	pid_t pid;
	int status;

	if (geteuid() != 0) {
		skip();
		return;
	}
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (unshare(CLONE_NEWNET) < 0) {
			fprintf(stderr, "# unshare(CLONE_NEWNET): %s: skipping\n", strerror(errno));
			_exit(77);
		}
		if (access("/dev/net/tun", R_OK | W_OK) < 0) {
			fprintf(stderr, "# no /dev/net/tun: skipping\n");
			_exit(77);
		}
		_exit(body());
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77) {
		skip();
		return;
	}
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_kernel_netns(void **state)
{
	(void)state;
	in_netns(ns_test_body);
}

static void test_kernel_netns_bcast(void **state)
{
	(void)state;
	in_netns(ns_bcast_body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_tcp_syn),     cmocka_unit_test(test_parse_tcp_ack_data),
	    cmocka_unit_test(test_parse_udp),	      cmocka_unit_test(test_parse_icmp6),
	    cmocka_unit_test(test_parse_ext_headers), cmocka_unit_test(test_parse_fragments),
	    cmocka_unit_test(test_parse_refuse),      cmocka_unit_test(test_parse_every_length),
	    cmocka_unit_test(test_csum_known),	      cmocka_unit_test(test_rst_reply_to_syn),
	    cmocka_unit_test(test_rst_reply_to_ack),  cmocka_unit_test(test_rst_refused),
	    cmocka_unit_test(test_rst_direct),	      cmocka_unit_test(test_icmp6_unreach),
	    cmocka_unit_test(test_icmp6_unreach_big), cmocka_unit_test(test_icmp6_refused),
	    cmocka_unit_test(test_icmp6_ptb),	      cmocka_unit_test(test_refusal),
	    cmocka_unit_test(test_icmp6_quoted),      cmocka_unit_test(test_tun_dummy),
	    cmocka_unit_test(test_kernel_netns),      cmocka_unit_test(test_kernel_netns_bcast),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
