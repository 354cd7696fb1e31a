/* pkt.c - see pkt.h.
 *
 * pkt_parse is the one parser for packets crossing pilot0, from the local
 * kernel and, after decryption, from remote peers: every byte it reads is
 * bounds-checked against the length the caller gives, and the result is
 * written to *out only on success. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "bytes.h"
#include "pkt.h"
#include "util.h"

#define IP6_HLEN 40
#define TCP_HLEN 20
#define UDP_HLEN 8
#define ICMP6_HLEN 8 /* type, code, checksum and the 4-byte type-specific word */
/* The IPv6 minimum MTU: ICMPv6 errors must fit in it (RFC 4443 2.4(c)). */
#define IP6_MIN_MTU 1280
/* More extension headers than this is an attack or a bug: RFC 8200 expects
 * at most one of each (destination options twice), about six in all. */
#define PKT_MAX_EXT 8
#define PKT_HOPLIMIT 64

#define NH_HOPOPTS 0
#define NH_TCP 6
#define NH_UDP 17
#define NH_ROUTING 43
#define NH_FRAGMENT 44
#define NH_ICMP6 58
#define NH_DSTOPTS 60

#define ICMP6_DST_UNREACH 1
#define ICMP6_PACKET_TOO_BIG 2
#define ICMP6_TIME_EXCEEDED 3
#define ICMP6_PARAM_PROB 4
#define ICMP6_ECHO_REQUEST 128
#define ICMP6_ECHO_REPLY 129

enum frag_state {
	FRAG_NONE = 0, /* no fragment header, or an atomic one (RFC 6946) */
	FRAG_FIRST,    /* offset 0, more fragments follow */
};

/* The L4 header is not (entirely) in this first fragment: report the packet
 * as an unparsed fragment rather than guess at ports. */
static void pkt_as_fragment(struct pkt_info *pi)
{
	pi->kind = PKT_OTHER;
	pi->proto = NH_FRAGMENT;
	pi->sport = 0;
	pi->dport = 0;
}

static int pkt_parse_tcp(const uint8_t *p, size_t rem, enum frag_state frag, struct pkt_info *pi)
{
	size_t doff;

	if (rem < TCP_HLEN)
		goto partial;
	doff = (size_t)(p[12] >> 4) * 4;
	if (doff < TCP_HLEN)
		return -EINVAL;
	if (rem < doff)
		goto partial;
	pi->kind = PKT_TCP;
	pi->sport = get_be16(p);
	pi->dport = get_be16(p + 2);
	pi->tcp_seq = get_be32(p + 4);
	pi->tcp_ack = get_be32(p + 8);
	pi->tcp_flags = p[13];
	/* In a first fragment this counts only the part present: the rest
	 * of the segment is in later fragments we do not see here. */
	pi->tcp_payload_len = (uint32_t)(rem - doff);
	if (pi->tcp_flags & PKT_TCP_SYN)
		pi->tcp_payload_len++;
	if (pi->tcp_flags & PKT_TCP_FIN)
		pi->tcp_payload_len++;
	return 0;
partial:
	if (frag != FRAG_FIRST)
		return -EINVAL;
	pkt_as_fragment(pi);
	return 0;
}

static int pkt_parse_udp(const uint8_t *p, size_t rem, enum frag_state frag, struct pkt_info *pi)
{
	size_t ulen;

	if (rem < UDP_HLEN) {
		if (frag != FRAG_FIRST)
			return -EINVAL;
		pkt_as_fragment(pi);
		return 0;
	}
	ulen = get_be16(p + 4);
	/* Length 0 only means "jumbogram" (RFC 2675), which we refuse.  In a
	 * first fragment the datagram must extend past this fragment. */
	if (frag == FRAG_FIRST ? ulen <= rem : ulen != rem)
		return -EINVAL;
	pi->kind = PKT_UDP;
	pi->sport = get_be16(p);
	pi->dport = get_be16(p + 2);
	return 0;
}

static int pkt_parse_icmp6(const uint8_t *p, size_t rem, enum frag_state frag, struct pkt_info *pi)
{
	uint8_t type;

	if (rem < 4)
		goto partial;
	type = p[0];
	switch (type) {
	case ICMP6_ECHO_REQUEST:
	case ICMP6_ECHO_REPLY:
		if (rem < ICMP6_HLEN)
			goto partial;
		pi->kind = type == ICMP6_ECHO_REQUEST ? PKT_ICMP6_ECHO_REQ : PKT_ICMP6_ECHO_REP;
		/* The identifier plays the role of both ports. */
		pi->sport = get_be16(p + 4);
		pi->dport = pi->sport;
		break;
	case ICMP6_DST_UNREACH:
	case ICMP6_PACKET_TOO_BIG:
	case ICMP6_TIME_EXCEEDED:
	case ICMP6_PARAM_PROB:
		if (rem < ICMP6_HLEN)
			goto partial;
		pi->kind = PKT_ICMP6_ERROR;
		break;
	default:
		pi->kind = PKT_ICMP6_OTHER;
		break;
	}
	return 0;
partial:
	if (frag != FRAG_FIRST)
		return -EINVAL;
	pkt_as_fragment(pi);
	return 0;
}

int pkt_parse(const uint8_t *p, size_t len, struct pkt_info *out)
{
	struct pkt_info pi;
	enum frag_state frag = FRAG_NONE;
	size_t off = IP6_HLEN, hl;
	uint16_t fo;
	uint8_t nh;
	int rc = -EINVAL, seen_frag = 0;

	if (!p || !out || len < IP6_HLEN || (p[0] >> 4) != 6)
		goto out;
	/* Exact length: trailing bytes would be data no one checked, and a
	 * payload length of 0 (jumbogram, RFC 2675) fails here unless the
	 * packet really is a bare header. */
	if (len != IP6_HLEN + (size_t)get_be16(p + 4))
		goto out;
	memset(&pi, 0, sizeof(pi));
	memcpy(&pi.src, p + 8, sizeof(pi.src));
	memcpy(&pi.dst, p + 24, sizeof(pi.dst));
	pi.len = len;
	nh = p[6];
	for (int n = 0;; n++) {
		if (nh != NH_HOPOPTS && nh != NH_ROUTING && nh != NH_DSTOPTS && nh != NH_FRAGMENT)
			break;
		if (n >= PKT_MAX_EXT)
			goto out;
		/* RFC 8200 4.1: hop-by-hop options only right after the
		 * IPv6 header; Linux drops it anywhere else, so do we. */
		if (nh == NH_HOPOPTS && n != 0)
			goto out;
		if (nh == NH_FRAGMENT) {
			/* Two fragment headers cannot come from one sender. */
			if (seen_frag || len - off < 8)
				goto out;
			seen_frag = 1;
			nh = p[off];
			fo = get_be16(p + off + 2);
			off += 8;
			/* RFC 8200 4.5: all but the last fragment carry a
			 * multiple of 8 bytes. */
			if ((fo & 1) && (len - off) % 8 != 0)
				goto out;
			/* Nor may the reassembled payload (headers before
			 * this one, offset, this fragment's data) pass 65535
			 * bytes: the "ping of death" shape. */
			if ((off - IP6_HLEN - 8) + (size_t)(fo & 0xfff8) + (len - off) > 65535)
				goto out;
			if ((fo & 0xfff8) != 0) {
				/* Non-first fragment: what follows is the
				 * middle of some L4 payload, not a header. */
				pi.l4_off = off;
				pkt_as_fragment(&pi);
				rc = 0;
				goto done;
			}
			frag = (fo & 1) ? FRAG_FIRST : FRAG_NONE;
			continue;
		}
		if (len - off < 2)
			goto out;
		hl = ((size_t)p[off + 1] + 1) * 8;
		if (len - off < hl)
			goto out;
		nh = p[off];
		off += hl;
	}
	pi.proto = nh;
	pi.l4_off = off;
	switch (nh) {
	case NH_TCP:
		rc = pkt_parse_tcp(p + off, len - off, frag, &pi);
		break;
	case NH_UDP:
		rc = pkt_parse_udp(p + off, len - off, frag, &pi);
		break;
	case NH_ICMP6:
		rc = pkt_parse_icmp6(p + off, len - off, frag, &pi);
		break;
	default:
		/* No next header (59), ESP, AH, ...: nothing we track by port. */
		pi.kind = PKT_OTHER;
		rc = 0;
		break;
	}
	if (rc < 0)
		goto out;
done:
	*out = pi;
out:
	return rc;
}

/* Add \p p to the one's-complement sum \p sum of big-endian 16-bit words
 * (the region starts at an even offset of the checksummed data).  The
 * words are summed in the CPU's order, 32 bits at a time into 64 (no
 * carry is lost before the fold); a sum of swapped words is the swapped
 * sum (RFC 1071 2(B)), so the folded result is swapped once at the end.
 * This runs over every byte of a segmented or coalesced TCP stream. */
static uint64_t csum_add(uint64_t sum, const uint8_t *p, size_t len)
{
	uint64_t acc = 0;
	size_t i = 0;

	for (; i + 16 <= len; i += 16) {
		uint32_t w[4];
		memcpy(w, p + i, sizeof(w));
		acc += (uint64_t)w[0] + w[1] + w[2] + w[3];
	}
	for (; i + 2 <= len; i += 2) {
		uint16_t w;
		memcpy(&w, p + i, 2);
		acc += w;
	}
	if (i < len) {
		uint8_t last[2] = {p[i], 0};
		uint16_t w;
		memcpy(&w, last, 2);
		acc += w;
	}
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	acc = (uint16_t)(acc << 8 | acc >> 8);
#endif
	return sum + acc;
}

uint16_t pkt_csum(const uint8_t *p, size_t len)
{
	uint64_t sum = csum_add(0, p, len);

	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

uint16_t pkt_pseudo_csum(const struct in6_addr *src, const struct in6_addr *dst, uint8_t proto,
			 size_t len)
{
	uint64_t sum = 0;

	sum = csum_add(sum, src->s6_addr, sizeof(src->s6_addr));
	sum = csum_add(sum, dst->s6_addr, sizeof(dst->s6_addr));
	sum += (uint32_t)len >> 16;
	sum += (uint32_t)len & 0xffff;
	sum += proto;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

uint16_t pkt_l4_csum(const struct in6_addr *src, const struct in6_addr *dst, uint8_t proto,
		     const uint8_t *l4, size_t len)
{
	uint64_t sum = 0;

	/* Pseudo-header (RFC 8200 8.1): addresses, 32-bit upper-layer
	 * length, three zero bytes and the next header value. */
	sum = csum_add(sum, src->s6_addr, sizeof(src->s6_addr));
	sum = csum_add(sum, dst->s6_addr, sizeof(dst->s6_addr));
	sum += (uint32_t)len >> 16;
	sum += (uint32_t)len & 0xffff;
	sum += proto;
	if (len)
		sum = csum_add(sum, l4, len);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void ip6_put_hdr(uint8_t *o, const struct in6_addr *src, const struct in6_addr *dst,
			size_t plen, uint8_t nh)
{
	o[0] = 0x60; /* version 6, traffic class 0, flow label 0 */
	o[1] = 0;
	o[2] = 0;
	o[3] = 0;
	put_be16(o + 4, (uint16_t)plen);
	o[6] = nh;
	o[7] = PKT_HOPLIMIT;
	memcpy(o + 8, src, 16);
	memcpy(o + 24, dst, 16);
}

/* Addresses no packet of ours may be sent to (or claim to answer). */
static int addr_unanswerable(const struct in6_addr *a)
{
	return IN6_IS_ADDR_MULTICAST(a) || IN6_IS_ADDR_UNSPECIFIED(a);
}

int pkt_make_rst(const struct in6_addr *src, uint16_t sport, const struct in6_addr *dst,
		 uint16_t dport, uint32_t seq, uint32_t ack, int with_ack, uint8_t *out,
		 size_t outlen)
{
	struct in6_addr s, d;
	uint8_t *t;
	int rc;

	if (!src || !dst || !out) {
		rc = -EINVAL;
		goto out;
	}
	if (outlen < IP6_HLEN + TCP_HLEN) {
		rc = -ENOSPC;
		goto out;
	}
	/* Copies: the caller may point into the buffer we overwrite. */
	s = *src;
	d = *dst;
	ip6_put_hdr(out, &s, &d, TCP_HLEN, NH_TCP);
	t = out + IP6_HLEN;
	memset(t, 0, TCP_HLEN);
	put_be16(t, sport);
	put_be16(t + 2, dport);
	put_be32(t + 4, seq);
	put_be32(t + 8, with_ack ? ack : 0);
	t[12] = (TCP_HLEN / 4) << 4;
	t[13] = PKT_TCP_RST | (with_ack ? PKT_TCP_ACK : 0);
	/* Window 0 and urgent pointer 0 are already set by the memset. */
	put_be16(t + 16, pkt_l4_csum(&s, &d, NH_TCP, t, TCP_HLEN));
	rc = IP6_HLEN + TCP_HLEN;
out:
	return rc;
}

int pkt_make_rst_reply(const struct pkt_info *in, uint8_t *out, size_t outlen)
{
	int rc;

	/* RFC 9293 3.10.7: never answer a RST; and no segment may go to a
	 * multicast or unspecified address. */
	if (!in || in->kind != PKT_TCP || (in->tcp_flags & PKT_TCP_RST) ||
	    addr_unanswerable(&in->src) || addr_unanswerable(&in->dst)) {
		rc = -EINVAL;
		goto out;
	}
	/* RFC 9293 3.10.7.1: with ACK, <SEQ=SEG.ACK><CTL=RST>; without,
	 * <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>. */
	if (in->tcp_flags & PKT_TCP_ACK)
		rc = pkt_make_rst(&in->dst, in->dport, &in->src, in->sport, in->tcp_ack, 0, 0, out,
				  outlen);
	else
		rc = pkt_make_rst(&in->dst, in->dport, &in->src, in->sport, 0,
				  in->tcp_seq + in->tcp_payload_len, 1, out, outlen);
out:
	return rc;
}

static int pkt_make_icmp6_err(const struct in6_addr *src, uint8_t type, uint8_t code, uint32_t word,
			      const uint8_t *orig, size_t origlen, uint8_t *out, size_t outlen)
{
	struct pkt_info oi;
	struct in6_addr s;
	size_t quote, total;
	uint8_t *icmp;
	int rc = -EINVAL;

	if (!src || !orig || !out)
		goto out;
	/* Only well-formed packets get an answer: we quote this to its
	 * sender and must know who that is. */
	if (pkt_parse(orig, origlen, &oi) < 0)
		goto out;
	/* RFC 4443 2.4(e): no error about an ICMPv6 error (types < 128),
	 * none to a source that is not one node, and no unreachable about a
	 * multicast destination (packet too big is the exception). */
	if (oi.kind == PKT_ICMP6_ERROR ||
	    (oi.kind == PKT_ICMP6_OTHER && orig[oi.l4_off] < ICMP6_ECHO_REQUEST))
		goto out;
	if (addr_unanswerable(&oi.src))
		goto out;
	if (type != ICMP6_PACKET_TOO_BIG && IN6_IS_ADDR_MULTICAST(&oi.dst))
		goto out;
	quote = MIN(origlen, (size_t)(IP6_MIN_MTU - IP6_HLEN - ICMP6_HLEN));
	total = IP6_HLEN + ICMP6_HLEN + quote;
	if (outlen < total) {
		rc = -ENOSPC;
		goto out;
	}
	/* \p orig (and \p src) may live in \p out, e.g. when the caller
	 * answers in place: take the source address and move the quote
	 * before any header byte is written. */
	s = *src;
	icmp = out + IP6_HLEN;
	memmove(icmp + ICMP6_HLEN, orig, quote);
	ip6_put_hdr(out, &s, &oi.src, ICMP6_HLEN + quote, NH_ICMP6);
	icmp[0] = type;
	icmp[1] = code;
	put_be16(icmp + 2, 0);
	put_be32(icmp + 4, word);
	put_be16(icmp + 2, pkt_l4_csum(&s, &oi.src, NH_ICMP6, icmp, ICMP6_HLEN + quote));
	rc = (int)total;
out:
	return rc;
}

int pkt_make_icmp6_unreach(const struct in6_addr *src, uint8_t code, const uint8_t *orig,
			   size_t origlen, uint8_t *out, size_t outlen)
{
	return pkt_make_icmp6_err(src, ICMP6_DST_UNREACH, code, 0, orig, origlen, out, outlen);
}

int pkt_make_icmp6_ptb(const struct in6_addr *src, uint32_t mtu, const uint8_t *orig,
		       size_t origlen, uint8_t *out, size_t outlen)
{
	return pkt_make_icmp6_err(src, ICMP6_PACKET_TOO_BIG, 0, mtu, orig, origlen, out, outlen);
}

int pkt_icmp6_quoted(const uint8_t *pkt, const struct pkt_info *pi, struct pkt_info *quoted)
{
	const uint8_t *q;
	size_t qlen;

	if (!pkt || !pi || !quoted || pi->kind != PKT_ICMP6_ERROR ||
	    pi->len < pi->l4_off + ICMP6_HLEN + IP6_HLEN)
		return -EINVAL;
	q = pkt + pi->l4_off + ICMP6_HLEN;
	qlen = pi->len - pi->l4_off - ICMP6_HLEN;
	if ((q[0] >> 4) != 6)
		return -EINVAL;
	memset(quoted, 0, sizeof(*quoted));
	memcpy(&quoted->src, q + 8, sizeof(quoted->src));
	memcpy(&quoted->dst, q + 24, sizeof(quoted->dst));
	if (memcmp(&quoted->src, &pi->dst, sizeof(pi->dst)) != 0 ||
	    memcmp(&quoted->dst, &pi->src, sizeof(pi->src)) != 0)
		return -EINVAL;
	quoted->proto = q[6];
	quoted->kind = PKT_OTHER;
	quoted->l4_off = IP6_HLEN;
	quoted->len = qlen;
	q += IP6_HLEN;
	qlen -= IP6_HLEN;
	if ((quoted->proto == NH_TCP || quoted->proto == NH_UDP) && qlen >= 4) {
		quoted->kind = quoted->proto == NH_TCP ? PKT_TCP : PKT_UDP;
		quoted->sport = get_be16(q);
		quoted->dport = get_be16(q + 2);
	} else if (quoted->proto == NH_ICMP6 && qlen >= ICMP6_HLEN &&
		   (q[0] == ICMP6_ECHO_REQUEST || q[0] == ICMP6_ECHO_REPLY)) {
		quoted->kind = q[0] == ICMP6_ECHO_REQUEST ? PKT_ICMP6_ECHO_REQ : PKT_ICMP6_ECHO_REP;
		quoted->sport = get_be16(q + 4);
		quoted->dport = quoted->sport;
	}
	return 0;
}

int pkt_make_refusal(const uint8_t *pkt, const struct pkt_info *pi, uint8_t *out, size_t outlen)
{
	if (!pkt || !pi || !out)
		return -EINVAL;
	/* A refused TCP segment gets what a closed port answers: the
	 * initiator's connect() fails with ECONNREFUSED at once. */
	if (pi->kind == PKT_TCP)
		return pkt_make_rst_reply(pi, out, outlen);
	/* Everything else: EACCES for a connected UDP socket, "administratively
	 * prohibited" for ping.  The builder refuses to answer errors. */
	return pkt_make_icmp6_unreach(&pi->dst, 1, pkt, pi->len, out, outlen);
}

int pkt_make_udp(const struct in6_addr *src, uint16_t sport, const struct in6_addr *dst,
		 uint16_t dport, const uint8_t *data, size_t dlen, uint8_t *out, size_t outlen)
{
	size_t ulen = 8 + dlen;
	uint8_t *u = out + 40;
	uint16_t sum;

	if (ulen > 0xffff || 40 + ulen > outlen)
		return -ENOSPC;
	ip6_put_hdr(out, src, dst, ulen, IPPROTO_UDP);
	put_be16(u, sport);
	put_be16(u + 2, dport);
	put_be16(u + 4, (uint16_t)ulen);
	put_be16(u + 6, 0);
	memcpy(u + 8, data, dlen);
	sum = pkt_l4_csum(src, dst, IPPROTO_UDP, u, ulen);
	/* UDP over IPv6: a zero checksum is not allowed (RFC 8200 8.1). */
	put_be16(u + 6, sum ? sum : 0xffff);
	return (int)(40 + ulen);
}
