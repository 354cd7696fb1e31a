/* rdv_bcn.h - the beacon: endpoint discovery, punch coordination and
 * relaying for registered nodes (UDP; doc/NAT.md).
 *
 * It serves only nodes the registry knows as active (their keys come from
 * the same LMDB state), helps two nodes find each other only when each may
 * see the other (rdv_visible both ways: a private node's endpoint is not
 * handed to a stranger), relays within a per-node byte budget, and never
 * holds a tunnel key: relayed payloads are tunnel records, sealed end to
 * end.  Registry facts it caches (keys, visibility) are re-read every
 * RDV_BCN_RECHECK_MS, so a revoked node loses the beacon within that.
 */
#ifndef PILOT_RDV_BCN_H
#define PILOT_RDV_BCN_H

#include <stdint.h>

#define RDV_BCN_RECHECK_MS 2000	   /* node keys and pair visibility re-read */
#define RDV_BCN_BIND_TTL_MS 180000 /* a bound endpoint is forgotten after this silence */
#define RDV_BCN_MAX_NODES 262144
#define RDV_BCN_CTL_PER_S 20 /* BIND and ECHO answers + punch requests per node (burst the same)   \
			      */

enum rdv_bcn_drop {
	RDV_BCN_DROP_MALFORMED,
	RDV_BCN_DROP_UNKNOWN, /* no such active node */
	RDV_BCN_DROP_MAC,
	RDV_BCN_DROP_REPLAY,  /* replayed, stale or future counter */
	RDV_BCN_DROP_UNBOUND, /* the target has no fresh endpoint */
	RDV_BCN_DROP_DENIED,  /* the two may not see each other */
	RDV_BCN_DROP_RATE,    /* a relay budget or the punch rate exceeded */
	RDV_BCN_DROP_COUNT
};

struct rdv_bcn_stats {
	uint64_t rx_frames, binds, punch_reqs, punches_sent, relayed_packets, relayed_bytes;
	uint64_t echoes; /* ECHO frames answered (netcheck) */
	uint64_t dropped[RDV_BCN_DROP_COUNT];
	uint64_t nodes; /* bound now */
};

struct rdv;
struct rdv_bcn;

/** Load (or make) the beacon key, bind \p r->cfg.beacon_listen and serve
 *  on \p r->base.  Publishes the beacon's public key and port for the
 *  register answer (r->db.beacon_*).  \retval 0 or -errno (logged). */
int rdv_bcn_start(struct rdv *r);
void rdv_bcn_stop(struct rdv *r);
/** For a registry whose beacon is another process on the same state dir:
 *  load (or make) the beacon key and announce it and beacon_listen's port,
 *  serving nothing.  \retval 0 or -errno (logged). */
int rdv_bcn_announce(struct rdv *r);
/** New relay budgets (SIGHUP): per node and for the whole beacon. */
void rdv_bcn_set_rate(struct rdv_bcn *b, uint32_t mbit, uint32_t total_mbit);
const struct rdv_bcn_stats *rdv_bcn_stats(const struct rdv_bcn *b);
const char *rdv_bcn_drop_name(enum rdv_bcn_drop d);

#endif
