/* bcn.h - beacon frames: the codec both ends share (no I/O, no clocks:
 * callers pass the time in).  See doc/NAT.md for the protocol.
 *
 * Every frame is  type(1) reserved(3) node(4) counter(8) body MAC(16).
 * node is the sender's ID on frames to the beacon and the recipient's on
 * frames from it.  The MAC is keyed BLAKE2b-128 over everything before it
 * under a key only the node and the beacon can compute (bcn_key: X25519
 * of their Ed25519 identities, as the tunnel does).  Frames to and from
 * the beacon have different types, so one cannot be reflected as the
 * other.  The counter is (unix seconds << 32 | sequence): a receiver
 * refuses stale and future seconds and replays within a sliding window.
 */
#ifndef PILOT_BCN_H
#define PILOT_BCN_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

enum bcn_type {
	BCN_BIND = 0x10,      /* node -> beacon: here I am (also the keepalive) */
	BCN_BIND_OK = 0x11,   /* beacon -> node: your reflexive endpoint */
	BCN_PUNCH_REQ = 0x12, /* node -> beacon: help me reach node T */
	BCN_PUNCH = 0x13,     /* beacon -> node: node P is at endpoint E, send to it now */
	BCN_RELAY = 0x14,     /* node -> beacon: carry this tunnel record to node T */
	BCN_RELAYED = 0x15,   /* beacon -> node: a tunnel record from node P */
	BCN_PROBE = 0x17,     /* node -> node: opens a NAT mapping; names the punch */
	BCN_ECHO = 0x18,      /* node -> beacon: where do you see this socket? (netcheck) */
	BCN_ECHO_OK = 0x19,   /* beacon -> node: this socket's reflexive endpoint, same size */
};

#define BCN_HDR 16
#define BCN_MAC 16
#define BCN_EP_LEN 18 /* address(16, IPv4 as v4-mapped) port(2) */
#define BCN_BIND_LEN (BCN_HDR + BCN_MAC)
#define BCN_BIND_OK_LEN (BCN_HDR + BCN_EP_LEN + BCN_MAC)
#define BCN_PUNCH_REQ_LEN (BCN_HDR + 4 + BCN_MAC)
#define BCN_NONCE 8
#define BCN_PUNCH_LEN (BCN_HDR + 4 + BCN_EP_LEN + BCN_NONCE + BCN_MAC)
#define BCN_RELAY_HDR (BCN_HDR + 4)
#define BCN_RELAY_OVERHEAD (BCN_RELAY_HDR + BCN_MAC)
#define BCN_MAX_PAYLOAD 65535
/* ECHO and ECHO_OK: endpoint(18) tag(8) pad, the same layout and length
 * both ways, so the beacon answers in place and never with more bytes than
 * it got.  ECHO's endpoint is zero; the beacon writes the source it saw.
 * It moves no binding: a socket other than the tunnel's may ask (the
 * second port of `pilotctl netcheck`), and a padded one measures the
 * largest datagram that passes (the MTU probe).  BCN_ECHO_MAX_LEN is the
 * UDP payload of a 1500-byte IPv4 packet: the probe tests up to Ethernet's
 * MTU. */
#define BCN_ECHO_HDR (BCN_HDR + BCN_EP_LEN + BCN_NONCE)
#define BCN_ECHO_MIN_LEN (BCN_ECHO_HDR + BCN_MAC)
#define BCN_ECHO_MAX_LEN 1472
/* PROBE: type(1) reserved(3) sender node(4) punch nonce(8) mac(16).  It
 * tells a peer where we are seen from, and the peer sends its punch burst
 * there; it is believed only with the nonce of a punch the beacon just sent
 * to both, and only under a MAC (keyed BLAKE2b-128 over the first 16 bytes
 * and the receiver's node ID) whose key only the two peers hold (from their
 * static-static DH, tnl.c): beacon frames are MAC'd, not encrypted, so a
 * third party who saw the nonce must not be able to aim the burst at an
 * address of its choosing. */
#define BCN_PROBE_LEN 32
#define BCN_KEY_LEN 32

/* Counters: seconds of skew a receiver tolerates, and its window. */
#define BCN_MAX_SKEW_S 60
#define BCN_WINDOW 1024

/** A decoded frame; body points into the caller's buffer. */
struct bcn_frame {
	uint8_t type;
	uint32_t node;
	uint64_t counter;
	uint32_t peer;		  /* PUNCH_REQ/RELAY: target; PUNCH/RELAYED: the other node */
	struct sockaddr_in6 ep;	  /* BIND_OK, PUNCH */
	uint8_t nonce[BCN_NONCE]; /* PUNCH; ECHO/ECHO_OK: the asker's tag */
	const uint8_t *payload;	  /* RELAY, RELAYED; ECHO/ECHO_OK: the pad */
	size_t plen;
};

/** Sliding replay window over one sender's counters. */
struct bcn_replay {
	uint64_t top; /* highest counter accepted + 1; 0 = none yet */
	uint64_t bits[BCN_WINDOW / 64];
};

/** Sender side of a counter. */
struct bcn_counter {
	uint64_t last;
};

/** Where \p type's variable part starts: a RELAY/RELAYED record, an
 *  ECHO/ECHO_OK pad; 0 for the fixed-size types. */
static inline size_t bcn_var_at(uint8_t type)
{
	if (type == BCN_RELAY || type == BCN_RELAYED)
		return BCN_RELAY_HDR;
	return type == BCN_ECHO || type == BCN_ECHO_OK ? BCN_ECHO_HDR : 0;
}

/** Is \p type a beacon frame type (the 0x10-0x1f range)? */
static inline int bcn_is_frame(uint8_t type)
{
	return (type & 0xf0) == 0x10;
}

/** The key shared by node \p node_id and the beacon: BLAKE2b-256 keyed by
 *  X25519(\p my_x_sk, \p their_x_pk) over "pilot beacon v1" || node ID ||
 *  node Ed25519 pk || beacon Ed25519 pk.  \retval 0, -EINVAL (low-order
 *  point). */
int bcn_key(uint8_t key[BCN_KEY_LEN], const uint8_t my_x_sk[32], const uint8_t their_x_pk[32],
	    uint32_t node_id, const uint8_t node_ed_pk[32], const uint8_t beacon_ed_pk[32]);

/** The next counter value at wall-clock \p now_s. */
uint64_t bcn_counter_next(struct bcn_counter *c, uint64_t now_s);
/** A sender (re)starts at wall-clock \p now_s: its next counters come
 *  from the next second, so a restart within one second cannot reuse a
 *  counter its previous run sent. */
void bcn_counter_start(struct bcn_counter *c, uint64_t now_s);

/** Frame length for \p type with a \p plen payload (0 for an unknown type,
 *  a RELAY/RELAYED payload that is empty or over BCN_MAX_PAYLOAD, or an
 *  ECHO/ECHO_OK pad that makes the frame longer than BCN_ECHO_MAX_LEN). */
size_t bcn_frame_len(uint8_t type, size_t plen);

/** Write the header and body of \p f (payload excepted: RELAY/RELAYED
 *  payloads are expected in place at +BCN_RELAY_HDR, ECHO/ECHO_OK pads at
 *  +BCN_ECHO_HDR) and the MAC.
 *  \retval frame length, or -EINVAL / -EMSGSIZE. */
int bcn_seal(const struct bcn_frame *f, const uint8_t key[BCN_KEY_LEN], uint8_t *buf, size_t cap);

/** Parse the header only (to find the key).  \retval 0 or -EBADMSG. */
int bcn_peek(const uint8_t *buf, size_t len, uint8_t *type, uint32_t *node);

/** Check the MAC and decode.  The counter is not checked here (see
 *  bcn_replay_check).  \retval 0, -EBADMSG (malformed), -EPERM (MAC). */
int bcn_open(const uint8_t *buf, size_t len, const uint8_t key[BCN_KEY_LEN], struct bcn_frame *f);

/** Counter check at wall-clock \p now_s: \retval 1 accepted and the
 *  newest yet (an endpoint may move), 0 accepted (older, in the window),
 *  -ESTALE (stale or future second), -EALREADY (replay or out of window). */
int bcn_replay_check(struct bcn_replay *r, uint64_t counter, uint64_t now_s);

/** PROBE frames (see BCN_PROBE_LEN). \retval 0 or -EBADMSG. */
void bcn_probe_make(uint8_t out[BCN_PROBE_LEN], uint32_t node, uint32_t to,
		    const uint8_t nonce[BCN_NONCE], const uint8_t key[BCN_KEY_LEN]);
/** The sender and nonce of a probe (its MAC unchecked: the sender names
 *  the key).  \retval 0 or -EBADMSG. */
int bcn_probe_parse(const uint8_t *buf, size_t len, uint32_t *node, uint8_t nonce[BCN_NONCE]);
/** A parsed probe's MAC, for receiver \p to under \p key.
 *  \retval 0 or -EBADMSG. */
int bcn_probe_verify(const uint8_t *buf, size_t len, uint32_t to, const uint8_t key[BCN_KEY_LEN]);

/** Endpoint codec: v4-mapped or IPv6 address then port, network order. */
void bcn_ep_put(uint8_t out[BCN_EP_LEN], const struct sockaddr_in6 *sa);
void bcn_ep_get(struct sockaddr_in6 *sa, const uint8_t in[BCN_EP_LEN]);

/** Parse "IP:PORT" / "[V6]:PORT" into a v4-mapped/v6 sockaddr_in6 (all
 *  of Pilot's UDP sockets are dual-stack).  \retval 0 or -EINVAL. */
int bcn_ep_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len);
/** Point \p n receive headers (and their iovecs and source addresses) at
 *  \p n buffers of \p bufsz bytes laid out from \p bufs, for recvmmsg on
 *  one of Pilot's dual-stack UDP sockets (the tunnel's and the beacon's). */
void bcn_mmsg_rx_prepare(struct mmsghdr *m, struct iovec *v, struct sockaddr_in6 *a, uint8_t *bufs,
			 size_t bufsz, unsigned n);
/** Format an endpoint as "IP:PORT" or "[V6]:PORT" ("-" if not IPv6). */
char *bcn_ep_format(const struct sockaddr_storage *ss, char *buf, size_t len);
/** The same for an endpoint known to be IPv6 (or v4-mapped). */
char *bcn_ep_format6(const struct sockaddr_in6 *s6, char *buf, size_t len);

#endif
