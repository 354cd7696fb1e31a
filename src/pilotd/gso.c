/* gso.c - see gso.h.  IPv6/TCP only (the overlay is IPv6, and the kernel
 * is asked for TSO6 alone); a packet with extension headers is never a
 * super-packet here and never coalesced. */
#include "config.h"

#include <errno.h>
#include <linux/virtio_net.h>
#include <netinet/in.h>
#include <string.h>

#include "bytes.h"
#include "gso.h"
#include "pkt.h"

#define IP6_HDR 40
#define TCP_MIN 20
#define TCP_CSUM_OFF 16

/* TCP flags (byte 13) */
#define F_FIN 0x01
#define F_PSH 0x08
#define F_ACK 0x10
#define F_CWR 0x80

void gso_hdr_decode(const uint8_t b[GSO_VNET_HDR], struct gso_hdr *h)
{
	struct virtio_net_hdr v;

	memcpy(&v, b, sizeof(v));
	h->flags = v.flags;
	h->gso_type = v.gso_type;
	h->hdr_len = v.hdr_len;
	h->gso_size = v.gso_size;
	h->csum_start = v.csum_start;
	h->csum_offset = v.csum_offset;
}

void gso_hdr_encode(const struct gso_hdr *h, uint8_t b[GSO_VNET_HDR])
{
	struct virtio_net_hdr v;

	v.flags = h->flags;
	v.gso_type = h->gso_type;
	v.hdr_len = h->hdr_len;
	v.gso_size = h->gso_size;
	v.csum_start = h->csum_start;
	v.csum_offset = h->csum_offset;
	memcpy(b, &v, sizeof(v));
}

int gso_complete_csum(uint8_t *pkt, size_t len, const struct gso_hdr *h)
{
	size_t at = (size_t)h->csum_start + h->csum_offset;
	uint16_t sum;

	if (h->csum_start >= len || at + 2 > len)
		return -EINVAL;
	/* 0xffff, not 0: the same value for TCP, and for UDP 0 means none. */
	sum = pkt_csum(pkt + h->csum_start, len - h->csum_start);
	put_be16(pkt + at, sum ? sum : 0xffff);
	return 0;
}

/* The TCP header length of an IPv6/TCP packet without extension headers,
 * or 0 if \p pkt is not one. */
static size_t tcp6_hlen(const uint8_t *pkt, size_t len)
{
	size_t th;

	if (len < IP6_HDR + TCP_MIN || (pkt[0] >> 4) != 6 || pkt[6] != IPPROTO_TCP ||
	    (size_t)get_be16(pkt + 4) + IP6_HDR != len)
		return 0;
	th = (size_t)(pkt[IP6_HDR + 12] >> 4) * 4;
	if (th < TCP_MIN || IP6_HDR + th > len)
		return 0;
	return th;
}

int gso_count(const uint8_t *pkt, size_t len, const struct gso_hdr *h)
{
	size_t th = tcp6_hlen(pkt, len), payload, n;

	if ((h->gso_type & ~VIRTIO_NET_HDR_GSO_ECN) != VIRTIO_NET_HDR_GSO_TCPV6 || !th ||
	    h->gso_size == 0)
		return -EINVAL;
	payload = len - IP6_HDR - th;
	if (payload == 0)
		return -EINVAL;
	n = (payload + h->gso_size - 1) / h->gso_size;
	return n <= GSO_MAX_SEGS ? (int)n : -EINVAL;
}

int gso_segment(const uint8_t *pkt, size_t len, const struct gso_hdr *h, unsigned k, uint8_t *out,
		size_t cap)
{
	size_t th = tcp6_hlen(pkt, len), hl = IP6_HDR + th;
	size_t payload = len - hl, off = (size_t)k * h->gso_size, chunk;
	uint8_t *t = out + IP6_HDR, fl;
	int last;

	if (!th || off >= payload)
		return -EINVAL;
	chunk = payload - off < h->gso_size ? payload - off : h->gso_size;
	if (hl + chunk > cap)
		return -ENOSPC;
	last = off + chunk == payload;
	memcpy(out, pkt, hl);
	memcpy(out + hl, pkt + hl + off, chunk);
	put_be16(out + 4, (uint16_t)(th + chunk));
	put_be32(t + 4, get_be32(pkt + IP6_HDR + 4) + (uint32_t)off);
	/* What ends the whole send (FIN, PSH) belongs to its last segment;
	 * a congestion window reduction is signalled once, by the first. */
	fl = t[13];
	if (!last)
		fl &= (uint8_t) ~(F_FIN | F_PSH);
	if (k > 0)
		fl &= (uint8_t)~F_CWR;
	t[13] = fl;
	put_be16(t + TCP_CSUM_OFF, 0);
	put_be16(t + TCP_CSUM_OFF,
		 pkt_l4_csum((const struct in6_addr *)(out + 8),
			     (const struct in6_addr *)(out + 24), IPPROTO_TCP, t, th + chunk));
	return (int)(hl + chunk);
}

/* ---- coalescing ---- */

/* Same flow: addresses and ports. */
static int same_flow(const uint8_t *a, const uint8_t *b)
{
	return a[6] == b[6] && memcmp(a + 8, b + 8, 32) == 0 &&
	       memcmp(a + IP6_HDR, b + IP6_HDR, 4) == 0;
}

int gso_coalesce_add(struct gso_coalesce *c, const uint8_t *pkt, size_t len)
{
	size_t th = tcp6_hlen(pkt, len), hl, payload;
	const uint8_t *t = pkt + IP6_HDR, *ct;
	uint8_t fl;

	if (c->len && (len < IP6_HDR + TCP_MIN || !same_flow(c->buf, pkt)))
		return -ESRCH;
	if (!th || len > GSO_MAX)
		return -EINVAL;
	hl = IP6_HDR + th;
	payload = len - hl;
	fl = t[13];
	/* Only plain data joins: no SYN, FIN, RST, URG, ECE or CWR, which
	 * the receiving stack must see on their own segment. */
	if (payload == 0 || (fl != F_ACK && fl != (F_ACK | F_PSH)) || get_be16(t + 18) != 0)
		return -EINVAL;
	/* The kernel will take the joined packet's checksum as good (it is
	 * marked partial): so this one's must be good now. */
	if (pkt_l4_csum((const struct in6_addr *)(pkt + 8), (const struct in6_addr *)(pkt + 24),
			IPPROTO_TCP, t, len - IP6_HDR) != 0)
		return -EINVAL;
	if (!c->len) {
		memcpy(c->buf, pkt, len);
		c->len = len;
		c->hlen = hl;
		c->seg_size = (uint16_t)payload;
		c->segs = 1;
		c->next_seq = get_be32(t + 4) + (uint32_t)payload;
		c->closed = (fl & F_PSH) != 0;
		return 1;
	}
	ct = c->buf + IP6_HDR;
	if (c->closed || hl != c->hlen || payload > c->seg_size || c->segs >= GSO_COALESCE_SEGS ||
	    c->len + payload > GSO_MAX || get_be32(t + 4) != c->next_seq ||
	    /* version, traffic class, flow label; next header, hop limit */
	    memcmp(pkt, c->buf, 4) != 0 || memcmp(pkt + 6, c->buf + 6, 2) != 0 ||
	    /* acknowledgement, data offset and window; options */
	    memcmp(t + 8, ct + 8, 5) != 0 || memcmp(t + 14, ct + 14, 2) != 0 ||
	    memcmp(t + TCP_MIN, ct + TCP_MIN, th - TCP_MIN) != 0)
		return 0;
	memcpy(c->buf + c->len, pkt + hl, payload);
	c->len += payload;
	c->segs++;
	c->next_seq += (uint32_t)payload;
	if (fl & F_PSH) {
		c->buf[IP6_HDR + 13] |= F_PSH;
		c->closed = 1;
	}
	if (payload < c->seg_size)
		c->closed = 1;
	return 1;
}

size_t gso_coalesce_finish(struct gso_coalesce *c, struct gso_hdr *h)
{
	uint8_t *t = c->buf + IP6_HDR;
	size_t len = c->len;

	memset(h, 0, sizeof(*h));
	if (c->segs <= 1) {
		c->len = 0;
		c->segs = 0;
		return len; /* as it came, checksum and all */
	}
	put_be16(c->buf + 4, (uint16_t)(len - IP6_HDR));
	/* A partial checksum: the pseudo-header's sum, which the kernel
	 * completes if the packet leaves again and otherwise trusts (each
	 * segment's was checked on the way in). */
	put_be16(t + TCP_CSUM_OFF, pkt_pseudo_csum((const struct in6_addr *)(c->buf + 8),
						   (const struct in6_addr *)(c->buf + 24),
						   IPPROTO_TCP, len - IP6_HDR));
	h->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h->gso_type = VIRTIO_NET_HDR_GSO_TCPV6;
	h->hdr_len = (uint16_t)c->hlen;
	h->gso_size = c->seg_size;
	h->csum_start = IP6_HDR;
	h->csum_offset = TCP_CSUM_OFF;
	c->len = 0;
	c->segs = 0;
	return len;
}
