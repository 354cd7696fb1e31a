/* dp_int.h - what the data path's files share; the rest of the daemon
 * uses dp.h.  The files are layered, each calling only those above it
 * in this list, so none of them is a circle with another:
 *
 *   dp_tx.c    sending one record on a peer's path (direct or relayed)
 *   dp_path.c  the path a peer's records take, as authenticated ones show
 *   dp_hs.c    handshakes: initiation, response, cookies; the rekey,
 *              retransmit and keepalive timers
 *   dp_nat.c   NAT traversal: punches, probes, restarts, path timers
 *   dp_bcast.c broadcast: fan-out to a network's members, admission and
 *              meters of received broadcasts
 *   dp.c       the packet loops (TUN -> tunnel, tunnel -> TUN) with
 *              admission, cutting flows, the tick
 *
 * Every function here takes the daemon's state and reaches the daemon
 * itself only through d->dp_ops. */
#ifndef PILOT_DP_INT_H
#define PILOT_DP_INT_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "bcn.h"
#include "gso.h"
#include "dp.h"
#include "pilotd.h"

/* Path selection (doc/NAT.md); times in ms.  One table, because the
 * values only make sense against one another, though dp_path.c,
 * dp_hs.c and dp_nat.c each read a part. */
#define PUNCH_AFTER_MS 1000	   /* a handshake unanswered this long asks for a punch */
#define RELAY_AFTER_MS 3000	   /* ... and this long goes through the relay */
#define PUNCH_BURST 6		   /* sends to a punched endpoint ... */
#define PUNCH_LOW_TTL_SENDS 3	   /* ... the first ones with PUNCH_LOW_TTL ... */
#define PUNCH_LOW_TTL 2		   /* ... past our own NAT, short of the peer's */
#define PUNCH_SPACING_MS 200	   /* ... this far apart */
#define PUNCH_RECENT_MS 10000	   /* a path found this soon after a punch is "punched" */
#define PUNCH_PROBE_MS 5000	   /* probes naming a punch are answered this long */
#define UPGRADE_FIRST_MS 5000	   /* relayed: first punch retry, doubling ... */
#define UPGRADE_MAX_MS 60000	   /* ... up to this */
#define SUSPECT_MS 3000		   /* data unanswered this long: re-punch */
#define FALLBACK_MS 6000	   /* ... this long: relay */
#define DIRECT_STALE_MS 3000	   /* relayed records win only when direct ones stopped */
#define DIRECT_PROBE_FIRST_MS 2000 /* relayed, ep known good: keepalive there, doubling ... */
#define DIRECT_PROBE_MAX_MS 16000  /* ... up to this */
#define DIRECT_ANSWER_MS 5000	   /* a direct record this soon after ours answers it */
#define DIRECT_REPLY_MS 1000	   /* answer unasked direct records at most this often */
#define PASSIVE_KEEPALIVE_MS 1000  /* answer received data this soon (path liveness) */
#define NAT_KEEPALIVE_MS 25000	   /* hold NAT mappings of paths in use */
#define NAT_KEEPALIVE_IDLE_MS 180000

/* The underlay's MTU the relay's frames must fit (doc/NAT.md). */
#define DP_UNDERLAY_MTU 1500

/* TCP flows joined at once from one receive batch (gso.h). */
#define DP_GRO_FLOWS 8

/* A receive slot: with UDP GRO the kernel hands over up to 64 KiB of
 * datagrams from one source, all of one size but the last, at once. */
#define DP_RX_BUFSZ 65536

/* The data path's preallocated buffers (d->batch): no allocation per
 * packet.  scratch is shared by whatever builds one message at a time
 * (handshakes, keepalives, refusals, RSTs), so its contents never
 * outlive the call that filled them. */
struct dp_batch {
	uint8_t tx[DP_BATCH][DP_BUFSZ];
	uint8_t rx[DP_BATCH][DP_RX_BUFSZ]; /* touched only as far as used */
	struct mmsghdr txm[DP_BATCH], rxm[DP_BATCH];
	struct iovec txv[DP_BATCH], rxv[DP_BATCH];
	struct sockaddr_in6 txa[DP_BATCH], rxa[DP_BATCH];
	struct peer *txp[DP_BATCH];
	unsigned ntx;
	uint8_t scratch[DP_BUFSZ];		      /* control messages and synthesized replies */
	uint8_t relay[DP_BUFSZ + BCN_RELAY_OVERHEAD]; /* a record wrapped for the relay */
	/* offload (gso.h): a super-packet read from pilot0, and the
	 * super-packets being joined from one receive batch */
	/* UDP GSO: runs of records to one endpoint, of one size, as one send */
	struct mmsghdr gm[DP_BATCH];
	struct iovec giov[DP_BATCH];
	union {
		struct cmsghdr align;
		uint8_t b[CMSG_SPACE(sizeof(uint16_t))];
	} gctl[DP_BATCH];
	/* UDP GRO: each receive's segment size */
	union {
		struct cmsghdr align;
		uint8_t b[CMSG_SPACE(sizeof(int))];
	} rxctl[DP_BATCH];
	uint8_t super[GSO_MAX];
	uint8_t gro_buf[DP_GRO_FLOWS][GSO_MAX];
	struct gso_coalesce gro[DP_GRO_FLOWS];
	unsigned gro_next; /* the slot to reuse when all are taken */
};

/* ---- dp_tx.c ---- */

/** sendto(2) with the hop limit \p ttl (0: the socket's default). */
ssize_t dp_sendto_ttl(int fd, const uint8_t *buf, size_t len, const struct sockaddr_in6 *to,
		      int ttl);
/** Send \p buf to \p to for \p p (counted, and timed in \p p). */
void dp_send_to_ttl(struct pilotd *d, struct peer *p, const uint8_t *buf, size_t len,
		    const struct sockaddr_in6 *to, int ttl);
void dp_send_to(struct pilotd *d, struct peer *p, const uint8_t *buf, size_t len,
		const struct sockaddr_in6 *to);
/** \retval 1 when \p p's records go through the beacon's relay. */
int dp_relayed(const struct pilotd *d, const struct peer *p);
/** A record to \p p, as it is, inside a RELAY frame to the beacon. */
void dp_send_relayed(struct pilotd *d, struct peer *p, const uint8_t *buf, size_t len);
/** A record on \p p's path: its endpoint, or the relay. */
void dp_send_one(struct pilotd *d, struct peer *p, const uint8_t *buf, size_t len);
/** Seal \p pkt (NULL/0: a keepalive) for \p p into d->batch->scratch.
 *  \retval record length, or -errno. */
int dp_seal_now(struct pilotd *d, struct peer *p, const uint8_t *pkt, size_t len);
/** dp_seal_now, then dp_send_one. */
void dp_send_data_now(struct pilotd *d, struct peer *p, const uint8_t *pkt, size_t len);
/** The largest inner packet a relayed record carries in one underlay
 *  datagram (IPv4 or IPv6 headers to the beacon). */
size_t dp_relay_mtu(const struct pilotd *d);
/** \retval 1 when \p p has a session data may be sent on now. */
int dp_session_ready(struct pilotd *d, struct peer *p, uint64_t now);

/* ---- dp_path.c ---- */

void dp_path_set(struct pilotd *d, struct peer *p, enum peer_path to, uint64_t now);
/** A keepalive straight to \p p's endpoint (no-op without a session). */
void dp_direct_keepalive(struct pilotd *d, struct peer *p);
/** A record authenticated as \p p's arrived, from \p src or through the
 *  relay (\p via != 0): move its endpoint and path. */
void dp_note_rx(struct pilotd *d, struct peer *p, const struct sockaddr_in6 *src, uint32_t via,
		uint64_t now);

/* ---- dp_hs.c ---- */

/** A new initiation to \p to with hop limit \p ttl (0: default), or on
 *  \p p's path when \p to is NULL. */
void dp_send_init_ttl(struct pilotd *d, struct peer *p, const struct sockaddr_in6 *to, int ttl);
void dp_send_init_to(struct pilotd *d, struct peer *p, const struct sockaddr_in6 *to);
/** Handshake messages from \p src, or relayed from node \p via (0: not
 *  relayed); the type byte was read, nothing else. */
void dp_handle_init(struct pilotd *d, uint8_t *msg, size_t len, const struct sockaddr_in6 *src,
		    uint32_t via);
void dp_handle_resp(struct pilotd *d, uint8_t *msg, size_t len, const struct sockaddr_in6 *src,
		    uint32_t via);
void dp_handle_cookie(struct pilotd *d, uint8_t *msg, size_t len);
/* the handshake meters (dp_init / dp_free) */
int dp_hs_init(struct pilotd *d);
void dp_hs_free(struct pilotd *d);
/** \p p's handshake timers: retransmit or give up, rekey, keepalives. */
void dp_hs_timers(struct pilotd *d, struct peer *p, uint64_t now);

/* ---- dp_nat.c ---- */

/** Punch, relay, upgrade and fall back as \p p's path needs. */
void dp_path_timers(struct pilotd *d, struct peer *p, uint64_t now);

/* ---- dp_bcast.c (dp_bcast_out in dp.h) ---- */

/** A datagram from authenticated peer \p p to \p net's broadcast address:
 *  0 when this node admits it (the caller writes it to pilot0), else
 *  -errno (dropped and counted; never answered). */
int dp_bcast_in(struct pilotd *d, struct peer *p, const uint8_t *pkt, size_t len,
		const struct pkt_info *pi, uint16_t net, uint64_t now);

#endif
