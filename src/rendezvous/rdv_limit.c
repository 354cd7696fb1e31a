/* rdv_limit.c - see rdv_limit.h.
 *
 * Why the request limiter forgets the way it does.  The table of token
 * buckets is bounded (memory), so a source must be forgotten sometimes;
 * the old table stopped metering new sources once it was full, so that
 * 65536 addresses sending one request each made every further source
 * unmetered until the next sweep.  Now every request's source always has
 * a bucket: it is looked up in the current generation, then in the
 * previous one (and moved up); one seen in neither gets a new bucket in
 * the current generation, and when that is full the previous generation
 * is dropped and the current one becomes the previous.  So:
 *
 *   - no source is ever unmetered: a new one starts with a full bucket
 *     (RDV_RATE_BURST requests, then RDV_RATE_PER_SEC), as it always did;
 *   - a source is forgotten only after a whole generation (gen_max other
 *     sources) came and went since its last request.  Forgetting hands it
 *     a full bucket again, which is the most it could have had anyway had
 *     it stayed idle for RDV_RATE_BURST / RDV_RATE_PER_SEC seconds; an
 *     attacker who cycles through more than gen_max addresses gets from
 *     each at most what a new address gets, which the table could never
 *     refuse without locking out every new legitimate client too;
 *   - the sweep drops a generation only once it has run longer than a
 *     bucket takes to fill, so what it forgets had a full bucket: nothing.
 *
 * The count of new identities per prefix fails closed instead: a prefix
 * it cannot count (more than RDV_NEWKEYS_PREFIXES_MAX in one hour) is
 * refused a new identity, since letting it through would be the very way
 * round the cap; known keys never go through it.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "bucket.h"
#include "hmap.h"
#include "log.h"
#include "rdv_limit.h"

#define HOUR_MS 3600000ull

/* ------------------------------------------------------------ generations */

static void gens_free(struct rdv_gens *g)
{
	hmap_free(g->cur);
	hmap_free(g->prev);
	g->cur = g->prev = NULL;
}

/* Two tables of source keys to \p vsize-byte values, \p max each. */
static int gens_init(struct rdv_gens *g, size_t vsize, size_t max)
{
	g->cur = hmap_new(RDV_SRC_KEY_LEN, vsize, max);
	g->prev = hmap_new(RDV_SRC_KEY_LEN, vsize, max);
	if (!g->cur || !g->prev) {
		gens_free(g);
		return -ENOMEM;
	}
	return 0;
}

/* The previous generation goes; the current one takes its place. */
static void gens_rotate(struct rdv_gens *g)
{
	struct hmap *t = g->prev;

	g->prev = g->cur;
	g->cur = t;
	hmap_clear(g->cur); /* empty even if it cannot shrink */
}

/* ------------------------------------------------------------ request rate */

int rdv_rate_init(struct rdv_rate *l, size_t gen_max)
{
	memset(l, 0, sizeof(*l));
	l->gen_max = gen_max;
	return gens_init(&l->g, sizeof(struct token_bucket), gen_max);
}

void rdv_rate_free(struct rdv_rate *l)
{
	gens_free(&l->g);
}

static void rate_rotate(struct rdv_rate *l, uint64_t now_ms)
{
	gens_rotate(&l->g);
	l->gen_start_ms = now_ms;
}

int rdv_rate_take(struct rdv_rate *l, const uint8_t key[RDV_SRC_KEY_LEN], uint32_t rate,
		  uint32_t burst, uint64_t now_ms)
{
	struct token_bucket *b = hmap_get(l->g.cur, key), *old, saved = {0};
	int is_new, have = 0;

	if (!b) {
		/* Taken out of the previous generation before a rotation
		 * could drop it. */
		if ((old = hmap_get(l->g.prev, key))) {
			saved = *old;
			have = 1;
			hmap_del(l->g.prev, key);
		}
		b = hmap_put(l->g.cur, key, &is_new);
		if (!b && errno == ENOSPC) {
			if (!l->full_logged)
				log_warnx(
				    "rate limiter: %zu sources in one generation; the sources "
				    "idle longest are forgotten",
				    l->gen_max);
			l->full_logged = 1;
			l->rotations++;
			rate_rotate(l, now_ms);
			b = hmap_put(l->g.cur, key, &is_new);
		}
		/* Out of memory (not a full table: that rotated above): the
		 * request goes on, as refusing would lock every client out. */
		if (!b)
			return 1;
		if (have)
			*b = saved;
	}
	return token_bucket_take(b, rate, burst, now_ms);
}

void rdv_rate_sweep(struct rdv_rate *l, uint64_t now_ms, uint64_t idle_ms)
{
	/* Every source of the previous generation has been idle at least
	 * since this one began (a request moves it up): if that is longer
	 * than a bucket takes to fill, forgetting them changes nothing. */
	if (now_ms - l->gen_start_ms >= idle_ms) {
		rate_rotate(l, now_ms);
		l->full_logged = 0;
	}
}

size_t rdv_rate_count(const struct rdv_rate *l)
{
	return hmap_count(l->g.cur) + hmap_count(l->g.prev);
}

/* ------------------------------------------------------- new identities */

int rdv_newkeys_init(struct rdv_newkeys *l)
{
	memset(l, 0, sizeof(*l));
	return gens_init(&l->g, sizeof(uint32_t), RDV_NEWKEYS_PREFIXES_MAX);
}

void rdv_newkeys_free(struct rdv_newkeys *l)
{
	gens_free(&l->g);
}

/* Make the current generation count the hour of \p now_ms (a clock
 * stepped back keeps counting into the hour it had). */
static void newkeys_roll(struct rdv_newkeys *l, uint64_t now_ms)
{
	uint64_t h = now_ms / HOUR_MS;

	if (h <= l->hour)
		return;
	gens_rotate(&l->g);
	if (h != l->hour + 1)
		hmap_clear(l->g.prev); /* more than an hour went by */
	l->hour = h;
}

static uint32_t count_of(const struct hmap *m, const uint8_t *key)
{
	const uint32_t *v = hmap_get(m, key);

	return v ? *v : 0;
}

int rdv_newkeys_check(struct rdv_newkeys *l, const uint8_t key[RDV_SRC_KEY_LEN], uint32_t cap,
		      uint64_t now_ms)
{
	uint64_t cur, prev, left;

	if (cap == 0)
		return 0;
	newkeys_roll(l, now_ms);
	cur = count_of(l->g.cur, key);
	prev = count_of(l->g.prev, key);
	left = HOUR_MS - now_ms % HOUR_MS; /* of this hour: the previous one's weight */
	/* Rounded up: the estimate errs on the side of the cap. */
	if (cur + (prev * left + HOUR_MS - 1) / HOUR_MS >= cap)
		return -EBUSY;
	if (cur == 0 && hmap_count(l->g.cur) >= RDV_NEWKEYS_PREFIXES_MAX)
		return -ENOSPC;
	return 0;
}

void rdv_newkeys_add(struct rdv_newkeys *l, const uint8_t key[RDV_SRC_KEY_LEN], uint64_t now_ms)
{
	uint32_t *v;
	int is_new;

	newkeys_roll(l, now_ms);
	v = hmap_put(l->g.cur, key, &is_new);
	if (v && *v < UINT32_MAX)
		(*v)++;
}

int rdv_prefix_key(const char *ip, uint8_t key[RDV_SRC_KEY_LEN], char text[RDV_PREFIX_TEXT_MAX])
{
	struct in6_addr a6;
	struct in_addr a4;
	char buf[INET6_ADDRSTRLEN];
	const uint8_t *v4 = NULL;

	memset(key, 0, RDV_SRC_KEY_LEN);
	if (inet_pton(AF_INET, ip, &a4) == 1) {
		v4 = (const uint8_t *)&a4;
	} else if (inet_pton(AF_INET6, ip, &a6) == 1) {
		if (IN6_IS_ADDR_V4MAPPED(&a6)) {
			v4 = &a6.s6_addr[12];
		} else {
			key[0] = 6;
			memcpy(key + 1, a6.s6_addr, 8);
			memset(a6.s6_addr + 8, 0, 8);
			if (text && inet_ntop(AF_INET6, &a6, buf, sizeof(buf)))
				snprintf(text, RDV_PREFIX_TEXT_MAX, "%s/64", buf);
			return 0;
		}
	} else {
		return -EINVAL;
	}
	key[0] = 4;
	memcpy(key + 1, v4, 3);
	if (text)
		snprintf(text, RDV_PREFIX_TEXT_MAX, "%u.%u.%u.0/24", v4[0], v4[1], v4[2]);
	return 0;
}
