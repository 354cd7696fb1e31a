/* pkt.h - parsing and synthesis of the IPv6 packets that cross pilot0.
 * The data path only ever sees raw IPv6 (IFF_TUN | IFF_NO_PI). */
#ifndef PILOT_PKT_H
#define PILOT_PKT_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

enum pkt_kind {
	PKT_OTHER = 0, /* parsed, but not a flow-starting kind we track by ports */
	PKT_TCP,
	PKT_UDP,
	PKT_ICMP6_ECHO_REQ,
	PKT_ICMP6_ECHO_REP,
	PKT_ICMP6_ERROR, /* dest unreachable, packet too big, time exceeded, param problem */
	PKT_ICMP6_OTHER,
};

#define PKT_TCP_FIN 0x01
#define PKT_TCP_SYN 0x02
#define PKT_TCP_RST 0x04
#define PKT_TCP_ACK 0x10

/** What the flow table needs of one packet. */
struct pkt_info {
	struct in6_addr src, dst;
	uint8_t proto; /* final next-header after extension headers */
	enum pkt_kind kind;
	uint16_t sport, dport; /* TCP/UDP ports; ICMPv6 echo: id in both */
	uint8_t tcp_flags;
	uint32_t tcp_seq, tcp_ack;
	uint32_t tcp_payload_len; /* payload bytes (+1 each for SYN and FIN) */
	size_t l4_off;		  /* offset of the L4 header */
	size_t len;		  /* IPv6 total length incl. header */
};

/** Parse an IPv6 packet: version, payload length vs \p len, extension
 *  headers (hop-by-hop, routing, dest options; fragments are PKT_OTHER
 *  unless first fragment with full L4 header), TCP/UDP/ICMPv6 headers.
 *  A fragment whose L4 header is not parsed has proto 44 (fragment) and
 *  ports 0.  \retval 0, or -EINVAL for anything malformed or truncated. */
int pkt_parse(const uint8_t *p, size_t len, struct pkt_info *out);

/** Build a TCP RST answering \p in (as if from in->dst to in->src):
 *  if \p in has ACK, seq = in->tcp_ack; else seq 0, ACK = in seq + seglen.
 *  \retval packet length written to \p out (cap \p outlen), or -ENOSPC;
 *  -EINVAL if \p in is not TCP, is itself a RST, or has a multicast or
 *  unspecified address. */
int pkt_make_rst_reply(const struct pkt_info *in, uint8_t *out, size_t outlen);
/** Build a TCP RST from \p src:sport to \p dst:dport with sequence \p seq
 *  (used to cut a live flow on the local side). \retval length or -ENOSPC. */
int pkt_make_rst(const struct in6_addr *src, uint16_t sport, const struct in6_addr *dst,
		 uint16_t dport, uint32_t seq, uint32_t ack, int with_ack, uint8_t *out,
		 size_t outlen);
/** Build ICMPv6 destination unreachable (type 1) code \p code from \p src
 *  quoting as much of \p orig as fits in the IPv6 minimum MTU (1280).
 *  Code 1 = administratively prohibited. \retval length or -ENOSPC;
 *  -EINVAL where RFC 4443 2.4(e) forbids an error (\p orig malformed, an
 *  ICMPv6 error itself, from a multicast/unspecified source, or to a
 *  multicast destination; packet too big allows the last). */
int pkt_make_icmp6_unreach(const struct in6_addr *src, uint8_t code, const uint8_t *orig,
			   size_t origlen, uint8_t *out, size_t outlen);
/** Build ICMPv6 packet too big (type 2) with \p mtu. \retval length or -ENOSPC. */
int pkt_make_icmp6_ptb(const struct in6_addr *src, uint32_t mtu, const uint8_t *orig,
		       size_t origlen, uint8_t *out, size_t outlen);

/** The packet an ICMPv6 error \p pkt (parsed as \p pi, kind
 *  PKT_ICMP6_ERROR) quotes: addresses, protocol and ports (or the echo
 *  identifier) of its first bytes, which may be truncated; extension
 *  headers are not followed (the quote's proto is then theirs).  The quote
 *  must be of a packet between the error's two ends, in the other
 *  direction (its source is the error's destination and the reverse):
 *  an error can only speak of a flow of the node it goes to.
 *  \retval 0, or -EINVAL (not an error, too short, or another pair). */
int pkt_icmp6_quoted(const uint8_t *pkt, const struct pkt_info *pi, struct pkt_info *quoted);
/** Build the answer to \p pkt (parsed as \p pi), the first packet of a
 *  flow that was refused, as if from its destination: a RST for TCP, ICMPv6
 *  "administratively prohibited" (type 1 code 1) otherwise.  \retval
 *  length, -ENOSPC, or -EINVAL where no answer is due (a RST, an ICMPv6
 *  error, what RFC 4443 2.4(e) forbids). */
int pkt_make_refusal(const uint8_t *pkt, const struct pkt_info *pi, uint8_t *out, size_t outlen);

/** Internet checksum over the IPv6 pseudo-header and \p l4 (\p len bytes).
 *  \retval the value for the checksum field in host order (store it
 *  big-endian); over data that includes a correct checksum it is 0. */
uint16_t pkt_l4_csum(const struct in6_addr *src, const struct in6_addr *dst, uint8_t proto,
		     const uint8_t *l4, size_t len);

/** Build an IPv6/UDP datagram from \p src:\p sport to \p dst:\p dport
 *  carrying \p data.  \retval its length in \p out, or -ENOSPC. */
int pkt_make_udp(const struct in6_addr *src, uint16_t sport, const struct in6_addr *dst,
		 uint16_t dport, const uint8_t *data, size_t dlen, uint8_t *out, size_t outlen);
/** The Internet checksum of \p len bytes (~ of the folded sum), for a
 *  field computed over a region that holds a partial sum already. */
uint16_t pkt_csum(const uint8_t *p, size_t len);
/** The folded, not complemented, sum of the IPv6 pseudo-header alone: what
 *  a partial checksum field holds (VIRTIO_NET_HDR_F_NEEDS_CSUM). */
uint16_t pkt_pseudo_csum(const struct in6_addr *src, const struct in6_addr *dst, uint8_t proto,
			 size_t len);

#endif
