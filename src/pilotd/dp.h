/* dp.h - the data path: packets between pilot0 and the tunnels.  Reads
 * the TUN device and the UDP socket in batches (recvmmsg/sendmmsg),
 * encrypts and decrypts in place in preallocated buffers (no allocation
 * per packet), looks up flows and peers in O(1), and runs the admission
 * pipeline on the first packet of each flow, in both directions. */
#ifndef PILOT_DP_H
#define PILOT_DP_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "admit.h"

struct pilotd;
struct peer;

/** What the data path asks of the rest of the daemon, handed to it by
 *  dp_init: it never calls up into pilotd's modules by name, so it reads
 *  (and links, in a test) on its own.  Admission is admit.c's. */
struct dp_ops {
	/* peers: the peer for a node (from trust or a shared network), or
	 * NULL; resolve its endpoint (async); the node owning a key, or 0 */
	struct peer *(*peer_for)(struct pilotd *d, uint32_t node);
	void (*resolve_peer)(struct pilotd *d, struct peer *p);
	uint32_t (*node_by_pk)(struct pilotd *d, const uint8_t pk[32]);
	/* inbound flows wait until the registry's revocations were heard */
	int (*inbound_open)(struct pilotd *d);
	/* audit sink: a flow refused, a tunnel established */
	void (*flow_denied)(struct pilotd *d, const struct pkt_info *pi, uint32_t node, int inbound,
			    enum admit_reason why);
	void (*tunnel_established)(struct pilotd *d, uint32_t node, const char *role);
	/* beacon: bound; ask for a punch; seal a relay frame; a beacon frame */
	int (*bcn_ready)(const struct pilotd *d);
	void (*bcn_punch_req)(struct pilotd *d, uint32_t node);
	int (*bcn_wrap)(struct pilotd *d, uint8_t *frame, size_t reclen, size_t cap, uint32_t to);
	void (*bcn_input)(struct pilotd *d, uint8_t *buf, size_t len,
			  const struct sockaddr_in6 *src, uint64_t now);
	/* keep \p ns (Unix ns) as the floor of initiation timestamps after a
	 * restart (dp_hs.c); NULL: not kept */
	void (*hs_ts_reserve)(struct pilotd *d, uint64_t ns);
};

/* ---- broadcast (dp_bcast.c) ---- */

#define DP_BCAST_NETS 256     /* networks with broadcast state (MEMBER_MAX_NETS) */
#define DP_BCAST_SENDERS 4096 /* (network, sender) buckets at a receiver */

/** One network's broadcast meters and the counts since the last audit
 *  summary (pilotd_net.c takes and clears them). */
struct dp_bcast_net {
	uint16_t id; /* 0 = free */
	struct token_bucket tx_tb, rx_tb;
	uint64_t tx, tx_copies, tx_denied, tx_rate_limited;
	uint64_t rx, rx_denied, rx_rate_limited;
};

struct dp_bcast {
	struct dp_bcast_net net[DP_BCAST_NETS];
	struct {
		uint64_t key; /* net << 32 | node; 0 = empty */
		struct token_bucket tb;
	} * sender; /* DP_BCAST_SENDERS */
};

/** What one fan-out did. */
struct dp_bcast_result {
	unsigned sent;	      /* members it was sealed (or queued) for */
	unsigned denied;      /* members admission refused ... */
	unsigned blocked;     /* ... of them: on the block list */
	unsigned policy;      /* ... of them: the network's policy */
	unsigned unreachable; /* no peer for the member */
	unsigned too_big;     /* relayed member, datagram over the relay's MTU */
};

int dp_bcast_init(struct dp_bcast *b);
void dp_bcast_free(struct dp_bcast *b);
/** Drop a network's meters and counts (it was left). */
void dp_bcast_forget(struct dp_bcast *b, uint16_t net);
/** Fan the UDP datagram \p pkt (source: this node in \p net, destination
 *  \p net's broadcast address) out to every member of \p net this node
 *  may reach.  \retval 0 (see \p res), -EACCES (the backbone),
 *  -EPROTONOSUPPORT (not UDP), -ENOENT (not a member), -EPERM
 *  (broadcast_rate 0: off), -EBUSY (over broadcast_rate). */
int dp_bcast_out(struct pilotd *d, const uint8_t *pkt, size_t len, const struct pkt_info *pi,
		 uint16_t net, uint64_t now, struct dp_bcast_result *res);

/** Open the UDP socket on \p port (dual-stack), allocate batches;
 *  \p ops stays the caller's and must outlive the data path. */
int dp_init(struct pilotd *d, const struct dp_ops *ops);
void dp_free(struct pilotd *d);
/** Event callbacks. */
void dp_tun_readable(int fd, short what, void *arg);
void dp_udp_readable(int fd, short what, void *arg);
/** The data path's periodic work: handshake retransmit/rekey/keepalive,
 *  path timers, flow expiry (the daemon's tick does the rest). */
void dp_tick(struct pilotd *d);

/** Begin (or retransmit) a handshake with \p p now. */
void dp_send_init(struct pilotd *d, struct peer *p);
/** Send everything queued for \p p (session must be ready). */
void dp_flush_queue(struct pilotd *d, struct peer *p);
/** Make sure a session with \p p is being established. */
void dp_want_session(struct pilotd *d, struct peer *p);
/** \p p restarted (the registry said so): handshake again at once,
 *  directly where that is safe and through the relay while relayed. */
void dp_peer_restarted(struct pilotd *d, struct peer *p);
/** \p p has no endpoint to try (it is behind a NAT): if a session is
 *  wanted, ask the beacon for a punch now rather than after a second. */
void dp_punch_now(struct pilotd *d, struct peer *p);
/** The beacon says node \p node is at \p ep: punch towards it. */
void dp_punch(struct pilotd *d, uint32_t node, const struct sockaddr_in6 *ep,
	      const uint8_t nonce[8], uint64_t now);
/** A probe (\p probe, \p len bytes: its MAC is checked here) from \p src
 *  naming node \p node's punch \p nonce. */
void dp_probe(struct pilotd *d, const uint8_t *probe, size_t len, uint32_t node,
	      const uint8_t nonce[8], const struct sockaddr_in6 *src, uint64_t now);
/** Why \p p's path is what it is (doc/NAT.md "Why a path is relayed"):
 *  "direct", "punched after N attempts", "none", or for a relayed path
 *  no_beacon, symmetric_nat, punch_timed_out or udp_blocked.  \p beacon_ok:
 *  this node is bound at the beacon; \p own_nat_symmetric: netcheck found
 *  this node's NAT endpoint-dependent.  \retval a constant or \p buf. */
const char *dp_path_reason(const struct peer *p, int beacon_ok, int own_nat_symmetric, char *buf,
			   size_t len);
/** A tunnel record node \p from sent us through the relay. */
void dp_relayed_in(struct pilotd *d, uint8_t *rec, size_t len, uint32_t from, uint64_t now);
/** Which flows to cut: every field that is set must match. */
struct dp_cut_sel {
	uint32_t node; /* peer node, 0 = any */
	uint8_t basis; /* FLOW_BASIS_*, 0 = any */
	uint16_t net;  /* with FLOW_BASIS_NETWORK: that network */
};
/** Cut the selected flows (RST or ICMPv6 to the local side).
 *  \retval flows cut. */
unsigned dp_cut_flows(struct pilotd *d, const struct dp_cut_sel *sel);
struct flow;
/** Cut one flow: RST or ICMPv6 to the local side (the caller removes it). */
void dp_cut_one(struct pilotd *d, struct flow *f);

#endif
