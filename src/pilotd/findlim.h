/* findlim.h - the budget of registry lookups made for the name service
 * socket (NSS): every name not in the cache costs a signed registry
 * request, so a program looping over random names must not turn into a
 * flood of them.  Kept apart from the daemon's own registry traffic
 * (registration, heartbeats, pilotctl), which never waits on it.
 *
 * Three limits, all of which a lookup must pass: at most FINDLIM_INFLIGHT
 * unanswered at once; a token bucket for all users (FINDLIM_RATE per
 * second, bursts of FINDLIM_BURST); and one per user (SO_PEERCRED uid),
 * half that size, so one user spending its budget leaves the others
 * theirs.  A lookup over a limit is answered "rate_limited" at once
 * (NSS: try again), never queued. */
#ifndef PILOT_FINDLIM_H
#define PILOT_FINDLIM_H

#include <stdint.h>
#include <sys/types.h>

#include "bucket.h"

#define FINDLIM_RATE 8
#define FINDLIM_BURST 32
#define FINDLIM_UID_RATE 4
#define FINDLIM_UID_BURST 16
#define FINDLIM_INFLIGHT 32
/* Users with a bucket of their own; a new one takes the place of the one
 * seen least recently (whose bucket has usually refilled by then). */
#define FINDLIM_UIDS 32

struct findlim_uid {
	int used;
	uid_t uid;
	uint64_t seen_ms;
	struct token_bucket tb;
};

/* Zeroed: every bucket full, nothing in flight. */
struct findlim {
	struct token_bucket all;
	struct findlim_uid uid[FINDLIM_UIDS];
	unsigned inflight;
};

enum findlim_verdict {
	FINDLIM_OK,   /* go ahead; call findlim_done when it is answered */
	FINDLIM_BUSY, /* FINDLIM_INFLIGHT lookups are unanswered */
	FINDLIM_UID,  /* this user's bucket is empty */
	FINDLIM_ALL,  /* the shared bucket is empty */
};

/** May \p uid's lookup go to the registry at \p now_ms (monotonic)? */
enum findlim_verdict findlim_take(struct findlim *f, uid_t uid, uint64_t now_ms);
/** A lookup that findlim_take let through was answered (or failed). */
void findlim_done(struct findlim *f);

#endif
