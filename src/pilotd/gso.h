/* gso.h - TCP segmentation and coalescing in user space, for a TUN device
 * opened with IFF_VNET_HDR (doc/PROTOCOL.md "Offloads").
 *
 * Out: with TUNSETOFFLOAD (TUN_F_CSUM | TUN_F_TSO6) the kernel hands
 * pilotd TCP super-packets of up to 64 KiB, each behind a virtio_net_hdr
 * that gives the segment size; gso_segment cuts one into the segments the
 * tunnel carries (each a whole IPv6/TCP packet with a complete checksum),
 * after the flow's admission.  Packets with only a partial checksum get it
 * completed (gso_complete_csum).
 *
 * In: consecutive in-order segments of one TCP flow from one receive
 * batch are joined (struct gso_coalesce) and written to pilot0 as one
 * super-packet that the kernel takes as its own GRO would have built.
 *
 * Everything here is pure (no I/O) and bounded: tests/unit/pilotd/test_gso.c
 * checks it byte for byte. */
#ifndef PILOT_GSO_H
#define PILOT_GSO_H

#include <stddef.h>
#include <stdint.h>

#define GSO_VNET_HDR 10 /* sizeof(struct virtio_net_hdr): the TUN default */
#define GSO_MAX 65536	/* a super-packet, IPv6 header included */
/* Segments of one super-packet read from pilot0: 64 KiB at the smallest
 * MSS Linux allows (48 bytes) is 1366; the kernel's own limit on pilot0
 * is 65535.  A read is bounded by its bytes anyway. */
#define GSO_MAX_SEGS 2048
/* Segments joined into one written super-packet (as the kernel's GRO). */
#define GSO_COALESCE_SEGS 64

/** A virtio_net_hdr in host order (TUN uses the host's byte order). */
struct gso_hdr {
	uint8_t flags;	  /* VIRTIO_NET_HDR_F_NEEDS_CSUM, _DATA_VALID */
	uint8_t gso_type; /* VIRTIO_NET_HDR_GSO_* (| _ECN) */
	uint16_t hdr_len, gso_size, csum_start, csum_offset;
};

void gso_hdr_decode(const uint8_t b[GSO_VNET_HDR], struct gso_hdr *h);
void gso_hdr_encode(const struct gso_hdr *h, uint8_t b[GSO_VNET_HDR]);

/** Complete the partial checksum of \p pkt that \p h describes (NEEDS_CSUM:
 *  the field at csum_start + csum_offset holds the pseudo-header sum).
 *  \retval 0, or -EINVAL when the offsets do not fit the packet. */
int gso_complete_csum(uint8_t *pkt, size_t len, const struct gso_hdr *h);

/** How many segments \p pkt (an IPv6/TCP super-packet with GSO type TCPV6
 *  in \p h) makes; its own headers are checked, not h->hdr_len, which is
 *  only a hint.  \retval 1..GSO_MAX_SEGS, or -EINVAL. */
int gso_count(const uint8_t *pkt, size_t len, const struct gso_hdr *h);
/** Build segment \p k of \p pkt into \p out (\p cap bytes): its headers
 *  with payload length, sequence number and flags adjusted (FIN and PSH
 *  only on the last, CWR only on the first), its share of the payload, a
 *  full TCP checksum.  Call gso_count first. \retval length, or -ENOSPC. */
int gso_segment(const uint8_t *pkt, size_t len, const struct gso_hdr *h, unsigned k, uint8_t *out,
		size_t cap);

/** One super-packet being built from received segments.  buf holds the
 *  first segment's headers and every segment's payload; segments join while
 *  they continue the flow exactly (see gso_coalesce_add). */
struct gso_coalesce {
	uint8_t *buf;	   /* GSO_MAX bytes, owned by the caller */
	size_t len;	   /* 0: empty */
	size_t hlen;	   /* IPv6 + TCP header bytes */
	uint16_t seg_size; /* payload of the first segment: the GSO size */
	unsigned segs;
	uint32_t next_seq; /* the sequence number that continues it */
	int closed;	   /* a short or PSH segment ended it */
};

/** Try to append the IPv6/TCP packet \p pkt to \p c (empty: start it).
 *  It joins only a segment of the same addresses, ports, TCP options,
 *  acknowledgement, window and IPv6 header fields, at next_seq, with a
 *  payload no larger than the first (a smaller one closes it), flags
 *  ACK or ACK|PSH (PSH closes it), and a correct checksum.
 *  \retval 1 appended, 0 not this one's (flush c, then start anew with
 *  it), -EINVAL never to be coalesced (send it alone). */
int gso_coalesce_add(struct gso_coalesce *c, const uint8_t *pkt, size_t len);
/** Finish \p c for writing: its IPv6 payload length, and either (one
 *  segment) the original packet, or the vnet header \p h for a TCPV6
 *  super-packet with a partial checksum the kernel completes or trusts.
 *  \retval the packet length in c->buf. */
size_t gso_coalesce_finish(struct gso_coalesce *c, struct gso_hdr *h);

#endif
