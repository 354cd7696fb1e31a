/* flow.h - the flow table: one entry per 5-tuple, keyed the same from both
 * directions (local address/port vs remote address/port), so the
 * admission decision taken on a flow's first packet is found in O(1) by
 * every later packet either way.  Open addressing with linear probing and
 * backward-shift deletion; the capacity is fixed at creation (no
 * allocation on the data path) and doubles as the total flow limit. */
#ifndef PILOT_FLOW_H
#define PILOT_FLOW_H

#include <netinet/in.h>
#include <stdint.h>

#include "pkt.h"

enum flow_basis { FLOW_BASIS_TRUST = 1, FLOW_BASIS_NETWORK = 2 };

struct flow_key {
	struct in6_addr local, remote;
	uint16_t lport, rport;
	uint8_t proto;
	uint8_t pad[3];
};

struct flow {
	struct flow_key key;
	uint32_t peer_node; /* remote node ID */
	uint16_t basis_net; /* network that admitted it (0 = trust pair) */
	uint8_t basis;	    /* enum flow_basis */
	uint8_t inbound;    /* 1 if the remote side opened it */
	uint8_t used;	    /* slot occupied */
	uint8_t tcp_fin;    /* FIN seen (shorter timeout) */
	uint64_t last_ms;   /* last packet, monotonic */
	uint64_t created_ms;
	/* TCP sequence tracking, so we can cut a flow with an RST the local
	 * socket accepts (RFC 5961 wants seq == rcv_nxt exactly). */
	uint32_t local_rcv_nxt; /* next seq the local socket expects (from remote) */
	uint32_t local_snd_nxt; /* next seq the local socket sends */
	uint8_t have_rcv, have_snd;
	uint64_t packets, bytes;
};

struct flow_table {
	struct flow *slots;
	uint32_t cap; /* power of two */
	uint32_t count;
	uint32_t limit; /* admitted flows at most (cap * 3/4 at most) */
	uint8_t hash_key[16];
};

/** \retval 0 or -ENOMEM. \p max_flows is the total flow limit. */
int flow_table_init(struct flow_table *ft, uint32_t max_flows);
void flow_table_free(struct flow_table *ft);

/** Key of a packet as seen on pilot0: outbound (read from TUN) when
 *  \p from_local, else inbound (from a tunnel). */
void flow_key_from_pkt(struct flow_key *k, const struct pkt_info *pi, int from_local);
struct flow *flow_lookup(struct flow_table *ft, const struct flow_key *k);
/** Insert a new flow. \retval the entry or NULL when the table is full. */
struct flow *flow_insert(struct flow_table *ft, const struct flow_key *k);
void flow_remove(struct flow_table *ft, struct flow *f);
/** Track TCP state of \p pi on \p f (for RST synthesis and timeouts). */
void flow_track(struct flow *f, const struct pkt_info *pi, int from_local, uint64_t now_ms);
/** Idle timeout of a flow in ms (TCP established 2 h; after FIN/RST 10 s;
 *  UDP 180 s; ICMP 30 s). */
uint64_t flow_timeout_ms(const struct flow *f);

/** Visit every flow; \p cb returns 1 to remove the entry, 0 to keep.
 *  Removal during the walk is safe. */
typedef int (*flow_visit_cb)(void *arg, struct flow *f);
void flow_foreach(struct flow_table *ft, flow_visit_cb cb, void *arg);

#endif
