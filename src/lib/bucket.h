/* src/lib/bucket.h - a token bucket: pilotd's SYN and broadcast limits,
 * the registry's per-source limit, and the benchmarks' pacing. */
#ifndef PILOT_BUCKET_H
#define PILOT_BUCKET_H

#include <stdint.h>

/* A zeroed bucket is full at its first take. */
struct token_bucket {
	double tokens;
	uint64_t last_ms;
};

/** Refill \p tb (\p rate tokens per second, at most \p burst) up to
 *  \p now_ms, a monotonic time (a time before the last take refills
 *  nothing), and take one.  \retval 1 taken, 0 empty. */
int token_bucket_take(struct token_bucket *tb, uint32_t rate, uint32_t burst, uint64_t now_ms);

#endif
