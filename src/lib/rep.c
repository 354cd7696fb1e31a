/* rep.c - see rep.h.  Integer arithmetic only: the same facts give the
 * same score on every build. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "rep.h"

void rep_pool_add(struct rep_pool *pool, uint64_t created_ms, uint32_t rel, uint64_t now_ms)
{
	uint64_t age = now_ms > created_ms ? now_ms - created_ms : 0;

	if (rel > REP_REL_STRONG)
		rel = REP_REL_STRONG;
	pool->n++;
	if (age >= REP_ESTABLISHED_MS)
		pool->established += rel;
	else
		pool->fresh += rel;
}

uint64_t rep_pool_weight(const struct rep_pool *pool)
{
	return pool->established + (pool->fresh < REP_FRESH_CAP ? pool->fresh : REP_FRESH_CAP);
}

/* max * w / (w + half): rises from 0 toward max, max / 2 at w = half. */
static int64_t saturate(int64_t max, uint64_t w, uint64_t half)
{
	/* Weights are bounded by counterparts x 1000; past 2^40 the share is
	 * max to the milli-point anyway. */
	if (w > (1ull << 40))
		w = 1ull << 40;
	return (int64_t)((uint64_t)max * w / (w + half));
}

static int64_t share(int64_t max, uint64_t v, uint64_t full)
{
	if (v >= full)
		return max;
	return (int64_t)((uint64_t)max * v / full);
}

void rep_compute(const struct rep_facts *f, uint64_t now_ms, struct rep_score *out)
{
	int64_t g, b2, sum;

	out->age_ms = now_ms > f->created_ms ? now_ms - f->created_ms : 0;
	out->online_ms = f->online_ms;
	out->wh = rep_pool_weight(&f->approvals);
	out->wt = rep_pool_weight(&f->trust);
	out->g = rep_pool_weight(&f->good);
	out->b = rep_pool_weight(&f->bad);
	out->age = share(20000, out->age_ms, REP_AGE_FULL_MS);
	out->uptime = share(20000, out->online_ms, REP_ONLINE_FULL_MS);
	out->handshakes = saturate(20000, out->wh, 2000);
	out->trust = saturate(10000, out->wt, 2000);
	/* Bad weighs double; the same bound as saturate keeps it in range. */
	g = (int64_t)(out->g > (1ull << 40) ? 1ull << 40 : out->g);
	b2 = 2 * (int64_t)(out->b > (1ull << 40) ? 1ull << 40 : out->b);
	out->reports = 30000 * (g - b2) / (g + b2 + 2000);
	out->penalty = f->revocations >= 3 ? 60000 : 20000 * (int64_t)f->revocations;
	sum = out->age + out->uptime + out->handshakes + out->trust + out->reports - out->penalty;
	out->total = sum;
	if (sum <= 0)
		out->score = 0;
	else if (sum >= 100000)
		out->score = 100;
	else
		out->score = (int)((sum + 500) / 1000);
}

const char *rep_milli_str(int64_t v, char buf[24])
{
	uint64_t a = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	unsigned frac = (unsigned)(a % 1000);
	int n;

	n = snprintf(buf, 24, "%s%llu", v < 0 ? "-" : "", (unsigned long long)(a / 1000));
	if (frac && n > 0 && n < 19) {
		snprintf(buf + n, (size_t)(24 - n), ".%03u", frac);
		/* No trailing zeros: "6.5", not "6.500". */
		for (n = (int)strlen(buf); buf[n - 1] == '0'; n--)
			buf[n - 1] = '\0';
	}
	return buf;
}
