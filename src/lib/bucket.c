/* src/lib/bucket.c - the token bucket (bucket.h). */
#include "config.h"

#include "bucket.h"

int token_bucket_take(struct token_bucket *tb, uint32_t rate, uint32_t burst_n, uint64_t now_ms)
{
	double burst = (double)burst_n;

	if (tb->last_ms == 0) {
		tb->tokens = burst;
		tb->last_ms = now_ms;
	}
	if (now_ms > tb->last_ms) {
		tb->tokens += (double)(now_ms - tb->last_ms) * rate / 1000.0;
		if (tb->tokens > burst)
			tb->tokens = burst;
		tb->last_ms = now_ms;
	}
	if (tb->tokens < 1.0)
		return 0;
	tb->tokens -= 1.0;
	return 1;
}
