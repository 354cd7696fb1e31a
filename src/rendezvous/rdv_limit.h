/* rdv_limit.h - the registry's limits per source, kept in memory (never
 * stored or shared between replicas):
 *
 *   - the request rate of each source address (a token bucket per IPv4
 *     address or IPv6 /64), which rdv_http.c takes before any request;
 *   - new identities per source prefix (IPv4 /24, IPv6 /64) per hour
 *     (rendezvous.json registrations_per_prefix_hour), which a new key's
 *     registration takes (rdv_reg_signup.c).
 *
 * Both tables are bounded, and neither ever lets a source go unmetered
 * because it is full: see rdv_limit.c.
 */
#ifndef PILOT_RDV_LIMIT_H
#define PILOT_RDV_LIMIT_H

#include <stddef.h>
#include <stdint.h>

/* A source as a key: a family byte (4 or 6), then the IPv4 address (or
 * its first 3 bytes: a /24) or the first 8 bytes of the IPv6 one (a /64),
 * zero padded. */
#define RDV_SRC_KEY_LEN 9
#define RDV_PREFIX_TEXT_MAX 56 /* INET6_ADDRSTRLEN + "/64" */

struct hmap;

/* Two generations of one table: the current one and the previous. */
struct rdv_gens {
	struct hmap *cur, *prev;
};

/* ------------------------------------------------------------ request rate */

/* Two generations of token buckets: a source is looked up in the current
 * table, then in the previous one (and moved up).  When the current one
 * is full, or has run for the sweep interval, the previous one is dropped
 * and the current one takes its place. */
struct rdv_rate {
	struct rdv_gens g;
	size_t gen_max;	       /* sources per generation */
	uint64_t gen_start_ms; /* when the current generation began (monotonic) */
	uint64_t rotations;    /* generations ended because the table filled (metrics) */
	int full_logged;
};

/** Two tables of at most \p gen_max sources each.  \retval 0 or -ENOMEM. */
int rdv_rate_init(struct rdv_rate *l, size_t gen_max);
void rdv_rate_free(struct rdv_rate *l);
/** Take one token from \p key's bucket (\p rate per second, bursts of
 *  \p burst) at the monotonic time \p now_ms.  A source seen for the first
 *  time, or forgotten, starts with a full bucket.  \retval 1 the request
 *  may go on, 0 refused. */
int rdv_rate_take(struct rdv_rate *l, const uint8_t key[RDV_SRC_KEY_LEN], uint32_t rate,
		  uint32_t burst, uint64_t now_ms);
/** The sweep: once the current generation has run \p idle_ms (what a
 *  bucket takes to fill again), forget the previous one: its sources have
 *  been idle at least that long. */
void rdv_rate_sweep(struct rdv_rate *l, uint64_t now_ms, uint64_t idle_ms);
/** Sources tracked now (both generations). */
size_t rdv_rate_count(const struct rdv_rate *l);

/* ------------------------------------------------------- new identities */

/* New identities per prefix in the current and the previous clock hour. */
struct rdv_newkeys {
	struct rdv_gens g; /* key -> uint32_t count */
	uint64_t hour;	   /* the hour (Unix ms / 3600000) cur counts */
};

#define RDV_NEWKEYS_PREFIXES_MAX (1u << 20) /* prefixes counted per hour */

/** \retval 0 or -ENOMEM. */
int rdv_newkeys_init(struct rdv_newkeys *l);
void rdv_newkeys_free(struct rdv_newkeys *l);
/** May one more new identity come from \p key (a prefix) at \p now_ms,
 *  with at most \p cap per hour?  The last hour is the current clock hour
 *  plus the previous one weighted by what remains of it (a sliding
 *  window, without keeping each registration's time).
 *  \retval 0 yes, -EBUSY over the cap, -ENOSPC too many prefixes counted
 *  this hour (refused: a crowd of prefixes must not get round the cap). */
int rdv_newkeys_check(struct rdv_newkeys *l, const uint8_t key[RDV_SRC_KEY_LEN], uint32_t cap,
		      uint64_t now_ms);
/** Count one new identity from \p key at \p now_ms (once its
 *  registration committed). */
void rdv_newkeys_add(struct rdv_newkeys *l, const uint8_t key[RDV_SRC_KEY_LEN], uint64_t now_ms);

/** \p ip (text, as rdv_http.c passes it) as its registration prefix key:
 *  /24 for IPv4 (also v4-mapped IPv6), /64 for IPv6, and the prefix as
 *  text ("198.18.2.0/24") into \p text if not NULL.
 *  \retval 0 or -EINVAL (not an address). */
int rdv_prefix_key(const char *ip, uint8_t key[RDV_SRC_KEY_LEN], char text[RDV_PREFIX_TEXT_MAX]);

#endif
