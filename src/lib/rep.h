/* rep.h - the reputation score (SPEC section 6, doc/REGISTRY.md
 * "Reputation"): a pure, deterministic function of a node's attributable
 * facts and the time, in integer milli-points.  The registry gathers the
 * facts from its store (rdv_store_rep.c); unit tests and the fuzz harness
 * drive this directly.
 *
 * Sybil resistance: every counterpart that acts for or against a node
 * (approver, trust partner, reporter, blocker) weighs rel(r, s) milli
 * (REP_REL_STRONG with a trust pair or a shared network whose join rule
 * is not open, REP_REL_OPEN with only open networks in common, 0 with
 * nothing: the backbone does not count).  Counterparts younger than
 * REP_ESTABLISHED_MS are fresh, and all fresh counterparts of one pool
 * together weigh at most REP_FRESH_CAP: however many new identities act,
 * they count as one established node. */
#ifndef PILOT_REP_H
#define PILOT_REP_H

#include <stdint.h>

#define REP_REL_STRONG 1000
#define REP_REL_OPEN 500
#define REP_FRESH_CAP 1000
#define REP_ESTABLISHED_MS (7 * 86400000ull)
#define REP_AGE_FULL_MS (30 * 86400000ull)
#define REP_ONLINE_FULL_MS (168 * 3600000ull)
/* A heartbeat adds the gap since the previous one, at most this much. */
#define REP_HEARTBEAT_GAP_MAX_MS (3 * 60000ull)
#define REP_REASON_MAX 200

/** One pool of counterparts (approvals, trust pairs, good or bad). */
struct rep_pool {
	uint32_t n;	      /* counterparts added */
	uint64_t established; /* sum of rel over established ones */
	uint64_t fresh;	      /* ... over fresh ones (capped when weighed) */
};

/** A node's facts. */
struct rep_facts {
	uint64_t created_ms; /* the node record's */
	uint64_t online_ms;  /* accumulated from heartbeats */
	struct rep_pool approvals, trust, good, bad;
	uint32_t blocks; /* of the bad pool, how many are blocks (shown only) */
	uint32_t revocations;
};

/** The score and its parts (points in milli-points). */
struct rep_score {
	int score; /* 0..100 */
	int64_t age, uptime, handshakes, trust, reports, penalty, total;
	uint64_t wh, wt, g, b; /* the pools' weights */
	uint64_t age_ms, online_ms;
};

/** Add counterpart with record time \p created_ms and relation \p rel
 *  (milli, 0..1000) to \p pool, as of \p now_ms. */
void rep_pool_add(struct rep_pool *pool, uint64_t created_ms, uint32_t rel, uint64_t now_ms);
/** The pool's weight: established + min(REP_FRESH_CAP, fresh). */
uint64_t rep_pool_weight(const struct rep_pool *pool);
/** The score of \p f at \p now_ms into \p out. */
void rep_compute(const struct rep_facts *f, uint64_t now_ms, struct rep_score *out);
/** Milli-points (or milli-units) as text with up to three decimals
 *  ("20", "6.667", "-6"); \p buf of at least 24 bytes.  \retval buf. */
const char *rep_milli_str(int64_t v, char buf[24]);

#endif
