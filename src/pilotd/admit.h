/* admit.h - per-flow admission (SPEC section 5): the first packet of every
 * flow, in either direction, runs through an ordered list of stages:
 * block list -> identity (revoked / expired) -> trust pair or shared
 * network -> network policy -> rate and connection limits.  The first
 * stage that denies decides; the verdict names the stage and reason, for
 * the ICMPv6/RST answer, counters and the audit log. */
#ifndef PILOT_ADMIT_H
#define PILOT_ADMIT_H

#include <stdint.h>

#include "bucket.h"
#include "pkt.h"

enum admit_verdict { ADMIT_PASS = 0, ADMIT_DENY = 1 };

enum admit_reason {
	ADMIT_OK = 0,
	ADMIT_BLOCKED,
	ADMIT_REVOKED,
	ADMIT_NOT_TRUSTED,
	ADMIT_POLICY,
	ADMIT_RATE_GLOBAL,
	ADMIT_RATE_PEER,
	ADMIT_LIMIT_PORT,
	ADMIT_LIMIT_TOTAL,
	ADMIT_NOT_SYNCED, /* inbound, before the registry's revocations were heard */
	ADMIT_EXPIRED,	  /* the peer's identity expired */
	ADMIT_REASON_MAX
};

/** The question a stage answers. */
struct admit_req {
	uint32_t peer_node; /* remote node */
	uint16_t net;	    /* network of the addresses (0 = backbone) */
	int inbound;	    /* remote opened it */
	int no_flow;	    /* a broadcast copy: no flow is made, so no flow limit applies,
			     * and the flow counters (admitted, denied) are not moved */
	const struct pkt_info *pi;
	uint64_t now_ms;
	/* out: what admitted it */
	uint8_t basis;
	uint16_t basis_net;
	int shared; /* the addresses' network is shared (even if policy denies) */
};

/* Per-peer SYN buckets: a small open-addressed table, bounded. */
#define ADMIT_PEER_BUCKETS 4096
struct admit_peer_bucket {
	uint32_t node; /* 0 = empty */
	struct token_bucket tb;
};

#define ADMIT_PORT_SLOTS 65536

/* Answers (TCP RST, ICMPv6 "administratively prohibited") to a peer's
 * refused first packets, through its tunnel: per peer and second, with a
 * burst of twice that.  A peer that keeps knocking costs at most this. */
#define ADMIT_REFUSE_RATE 20

struct admit;
/** A stage: returns ADMIT_OK or a deny reason. */
typedef enum admit_reason (*admit_stage_fn)(struct admit *a, struct admit_req *r);

/** Callbacks into the daemon's state (trust, block list, membership). */
struct admit_ops {
	int (*is_blocked)(void *ctx, uint32_t node);
	int (*is_revoked)(void *ctx, uint32_t node);
	int (*is_expired)(void *ctx, uint32_t node); /* may be NULL */
	int (*is_trusted)(void *ctx, uint32_t node);
	/* Non-backbone network both belong to, or 0. */
	int (*shares_network)(void *ctx, uint32_t node, uint16_t net);
	/* Any network both belong to (1) or none (0). */
	int (*shares_any)(void *ctx, uint32_t node);
	/* That network's policy allows this flow (1) or not (0). */
	int (*policy_allows)(void *ctx, uint32_t node, uint16_t net, int inbound, uint8_t proto,
			     uint16_t port);
};

struct admit {
	const struct admit_ops *ops;
	void *ctx;
	/* limits (0 = unlimited) */
	uint32_t syn_rate;	    /* new TCP flows per second, all peers */
	uint32_t syn_rate_per_peer; /* per remote node */
	uint32_t max_flows_per_port;
	uint32_t max_flows;
	struct token_bucket global_tb;
	struct admit_peer_bucket *peer_tb;   /* ADMIT_PEER_BUCKETS */
	struct admit_peer_bucket *refuse_tb; /* ADMIT_PEER_BUCKETS: answers to refusals */
	uint32_t refuse_rate;		     /* per peer and second; 0 = never answer */
	uint32_t *port_flows;		     /* ADMIT_PORT_SLOTS: live flows per local port */
	uint32_t flows;			     /* live admitted flows */
	uint64_t denied[ADMIT_REASON_MAX];
	uint64_t admitted;
};

int admit_init(struct admit *a, const struct admit_ops *ops, void *ctx);
void admit_free(struct admit *a);
/** May a tunnel with \p node exist at all: its identity is not revoked,
 *  and a trust pair or a shared network is its basis.  Asked by the data
 *  path at every handshake and by the revocation handlers after a basis
 *  went away (a blocked node keeps its tunnel: see admit.c). */
int admit_peer(struct admit *a, uint32_t node);
/** \p node is on this node's block list. */
int admit_blocked(struct admit *a, uint32_t node);
/** Run the pipeline. \retval ADMIT_OK or the reason of the deciding stage. */
enum admit_reason admit_check(struct admit *a, struct admit_req *r);
/** Bookkeeping for the connection limits when a flow is created / removed. */
void admit_flow_added(struct admit *a, uint16_t lport);
void admit_flow_removed(struct admit *a, uint16_t lport);
const char *admit_reason_name(enum admit_reason r);
/** A refusal for \p r is worth telling the peer (1): a decision that stands
 *  (block list, trust, policy, a connection limit).  Transient ones - the
 *  node has not heard the registry yet, a SYN rate was exceeded - stay
 *  silent (0), so the initiator's retransmission can still succeed. */
int admit_reason_answered(enum admit_reason r);
/** Take one answer from \p node's refusal budget (ADMIT_REFUSE_RATE).
 *  \retval 1 answer, 0 over budget (stay silent). */
int admit_refusal_ok(struct admit *a, uint32_t node, uint64_t now_ms);

#endif
