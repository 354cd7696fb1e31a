/* contrib/bench/policy_bench.c - what a policy decision costs in pilotd
 * (policy_view_allows, per new flow) and what compiling a node's view
 * costs in the registry (policy_view_gen), for a small and a maximal
 * policy over ~1000 members (a benchmark: it asserts nothing, and make
 * check does not run it).
 *
 *   small:  10 rules over the members' 10 role tags (a typical
 *           hand-written policy);
 *   large:  10,000 rules (POLICY_MAX_RULES) of random selectors over all
 *           50 tags and the node IDs, with 1-4 port entries each.
 * Members have sparse IDs, one role tag and up to two others.
 *
 * For each: parse time, view_gen time per node (mean over several nodes),
 * the view's size (entries, bytes), view_parse time, and ns per
 * view_allows decision over a pre-drawn mix of peers, directions,
 * protocols and ports (allowed and denied alike; also peers outside the
 * network).  policy_eval per decision is shown for scale: the lookup is
 * why pilotd does not run the evaluator on the data path.
 *
 * Build from a configured build tree (here ./build) and run:
 *
 *   cc -std=c11 -O2 -Ibuild -Isrc/lib contrib/bench/policy_bench.c \
 *      build/src/lib/libpilot.a -lsodium -lyajl -o /tmp/policy_bench
 *   /tmp/policy_bench [MEMBERS] [DECISIONS]
 */
#include "config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "policy.h"
#include "util.h"

#define NTAGS 50 /* t0..t9 are roles: every member has one */
#define NROLES 10

struct rng {
	uint64_t s;
};

static uint32_t rnd(struct rng *r, uint32_t n)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return (uint32_t)((r->s * 0x2545F4914F6CDD1Dull) >> 32) % n;
}

struct buf {
	char *s;
	size_t len, cap;
};

__attribute__((format(printf, 2, 3))) static void bprintf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
			abort();
		if (b->s && b->len + (size_t)n < b->cap)
			break;
		b->cap = (b->cap + (size_t)n + 1) * 2;
		b->s = realloc(b->s, b->cap);
		if (!b->s)
			abort();
	}
	b->len += (size_t)n;
}

struct bench {
	struct rng r;
	size_t n;
	uint32_t seltags; /* selectors draw tags from t0..t(seltags - 1) */
	struct policy_member *m;
	char (*tagbuf)[NTAGS][8];
	const char *(*tagptr)[4];
};

static void rand_sel(struct bench *b, struct buf *o)
{
	uint32_t x = rnd(&b->r, 20);

	if (x == 0)
		bprintf(o, "\"*\"");
	else if (x < 16)
		bprintf(o, "\"tag:t%u\"", rnd(&b->r, b->seltags));
	else
		bprintf(o, "\"node:%u\"", b->m[rnd(&b->r, (uint32_t)b->n)].node);
}

static void rand_port(struct bench *b, struct buf *o)
{
	static const uint16_t common[] = {22, 53, 80, 443, 3306, 5432, 6379, 8080, 9090, 9100};
	const char *pn = rnd(&b->r, 4) ? "tcp" : "udp";
	uint32_t x = rnd(&b->r, 40), lo;

	if (x == 0)
		bprintf(o, "\"icmp\"");
	else if (x < 25)
		bprintf(o, "\"%s/%u\"", pn, common[rnd(&b->r, nitems(common))]);
	else if (x < 35)
		bprintf(o, "\"%s/%u\"", pn, 1024 + rnd(&b->r, 60000));
	else {
		lo = 1024 + rnd(&b->r, 60000);
		bprintf(o, "\"%s/%u-%u\"", pn, lo, lo + rnd(&b->r, 100));
	}
}

static char *make_policy(struct bench *b, size_t nrules)
{
	struct buf o = {0};

	bprintf(&o, "{\"rules\":[");
	for (size_t k = 0; k < nrules; k++) {
		uint32_t nf = 1 + rnd(&b->r, 3), nt = 1 + rnd(&b->r, 3), np = 1 + rnd(&b->r, 4);
		bprintf(&o, "%s{\"from\":[", k ? "," : "");
		for (uint32_t s = 0; s < nf; s++) {
			bprintf(&o, "%s", s ? "," : "");
			rand_sel(b, &o);
		}
		bprintf(&o, "],\"to\":[");
		for (uint32_t s = 0; s < nt; s++) {
			bprintf(&o, "%s", s ? "," : "");
			rand_sel(b, &o);
		}
		bprintf(&o, "],\"ports\":[");
		for (uint32_t s = 0; s < np; s++) {
			bprintf(&o, "%s", s ? "," : "");
			rand_port(b, &o);
		}
		bprintf(&o, "]}");
	}
	bprintf(&o, "]}");
	return o.s;
}

struct query {
	uint32_t peer;
	int inbound;
	uint8_t proto;
	uint16_t port;
	uint32_t peer_idx; /* for policy_eval; n: outside the network */
};

static void run(struct bench *b, const char *label, size_t nrules, uint32_t seltags, size_t ndec)
{
	static const uint16_t hot[] = {22, 53, 80, 443, 5432, 8080};
	char *text, err[256];
	struct policy *p;
	struct policy_view *v = NULL;
	struct query *q, *hits = NULL;
	struct json_gen j;
	yajl_val allow;
	size_t nhits = 0, hit_ok = 0;
	uint64_t t_hits;
	const char *out;
	size_t len = 0, entries = 0, allowed = 0, sink = 0, gens = nrules > 100 ? 20 : 200;
	uint64_t t0, t_parse, t_gen = 0, t_vparse, t_allow, t_eval;
	size_t neval;

	b->seltags = seltags;
	text = make_policy(b, nrules);
	t0 = now_mono_ns();
	if (policy_parse(text, strlen(text), &p, err, sizeof(err))) {
		fprintf(stderr, "%s: %s\n", label, err);
		exit(1);
	}
	t_parse = now_mono_ns() - t0;

	/* view_gen: mean over several nodes (the registry compiles one per
	 * member when the policy or membership changes). */
	for (size_t g = 0; g < gens; g++) {
		uint32_t self = b->m[(g * 7919) % b->n].node;
		if (json_gen_init(&j))
			abort();
		t0 = now_mono_ns();
		if (policy_view_gen(p, b->m, b->n, self, &j) || json_gen_finish(&j, &out, &len))
			abort();
		t_gen += now_mono_ns() - t0;
		if (g + 1 < gens)
			json_gen_free(&j);
	}
	/* The last one (node m[(gens-1)*7919 % n]) is parsed and queried. */
	{
		yajl_val root = json_parse(out, len, 0, err, sizeof(err));
		if (!root)
			abort();
		t0 = now_mono_ns();
		if (policy_view_parse(root, &v, err, sizeof(err))) {
			fprintf(stderr, "%s: view: %s\n", label, err);
			exit(1);
		}
		t_vparse = now_mono_ns() - t0;
		for (size_t k = 0; k + 6 < len; k++)
			entries += memcmp(out + k, "\"node\"", 6) == 0;
		hits = calloc(ndec, sizeof(*hits));
		if (!hits)
			abort();
		allow = json_get(root, "allow");
		for (size_t i = 0; allow && allow->u.array.len && i < ndec; i++) {
			yajl_val e =
			    allow->u.array.values[rnd(&b->r, (uint32_t)allow->u.array.len)];
			yajl_val rg = json_get(e, "ranges"), pr;
			const char *dir;
			uint32_t node, proto;
			if (json_get_u32(e, "node", &node) || json_get_u32(e, "proto", &proto) ||
			    json_get_str(e, "dir", &dir))
				abort();
			pr = rg->u.array.values[rnd(&b->r, (uint32_t)rg->u.array.len)];
			hits[i].peer = node;
			hits[i].inbound = strcmp(dir, "in") == 0;
			hits[i].proto = proto ? (uint8_t)proto : 6;
			hits[i].port =
			    (uint16_t)(YAJL_GET_INTEGER(pr->u.array.values[0]) +
				       rnd(&b->r,
					   (uint32_t)(YAJL_GET_INTEGER(pr->u.array.values[1]) -
						      YAJL_GET_INTEGER(pr->u.array.values[0]) +
						      1)));
			nhits++;
		}
		yajl_tree_free(root);
	}
	json_gen_free(&j);

	q = calloc(ndec, sizeof(*q));
	if (!q)
		abort();
	for (size_t i = 0; i < ndec; i++) {
		uint32_t x = rnd(&b->r, 100);
		q[i].peer_idx = rnd(&b->r, 50) ? rnd(&b->r, (uint32_t)b->n) : (uint32_t)b->n;
		q[i].peer = q[i].peer_idx < b->n ? b->m[q[i].peer_idx].node : 900000 + (uint32_t)i;
		q[i].inbound = (int)rnd(&b->r, 2);
		q[i].proto = x < 70 ? 6 : x < 90 ? 17 : x < 97 ? 58 : 132;
		q[i].port = rnd(&b->r, 2) ? hot[rnd(&b->r, nitems(hot))]
					  : (uint16_t)(1 + rnd(&b->r, 65535));
	}
	/* Warm up, then time the whole batch (one call per decision). */
	for (size_t i = 0; i < ndec; i++)
		sink +=
		    (size_t)policy_view_allows(v, q[i].peer, q[i].inbound, q[i].proto, q[i].port);
	t0 = now_mono_ns();
	for (int rep = 0; rep < 5; rep++)
		for (size_t i = 0; i < ndec; i++)
			allowed += (size_t)policy_view_allows(v, q[i].peer, q[i].inbound,
							      q[i].proto, q[i].port);
	t_allow = now_mono_ns() - t0;
	t0 = now_mono_ns();
	for (int rep = 0; rep < 5; rep++)
		for (size_t i = 0; i < nhits; i++)
			hit_ok += (size_t)policy_view_allows(v, hits[i].peer, hits[i].inbound,
							     hits[i].proto, hits[i].port);
	t_hits = now_mono_ns() - t0;

	/* The evaluator for scale, on fewer decisions (members only). */
	neval = nrules > 100 ? ndec / 1000 : ndec / 10;
	t0 = now_mono_ns();
	{
		uint32_t self_idx = (uint32_t)(((gens - 1) * 7919) % b->n);
		for (size_t i = 0; i < neval; i++) {
			uint32_t k = q[i].peer_idx < b->n ? q[i].peer_idx : 0;
			const struct policy_member *self = &b->m[self_idx], *peer = &b->m[k];
			sink += (size_t)policy_eval(p, q[i].inbound ? peer : self,
						    q[i].inbound ? self : peer, q[i].proto,
						    q[i].port, NULL);
		}
	}
	t_eval = now_mono_ns() - t0;

	printf("%-6s %5zu rules, %zu members\n", label, nrules, b->n);
	printf("  policy_parse         %10.3f ms  (%zu bytes of JSON)\n", t_parse / 1e6,
	       strlen(text));
	printf("  policy_view_gen      %10.3f ms per node (mean of %zu nodes)\n",
	       t_gen / 1e6 / (double)gens, gens);
	printf("  view                 %10zu entries, %zu bytes of JSON\n", entries, len);
	printf("  policy_view_parse    %10.3f ms\n", t_vparse / 1e6);
	printf("  policy_view_allows   %10.1f ns per decision, random (%zu x 5, %.1f%% "
	       "allowed)\n",
	       (double)t_allow / (5.0 * (double)ndec), ndec,
	       100.0 * (double)allowed / (5.0 * (double)ndec));
	printf("  policy_view_allows   %10.1f ns per decision, hits   (%zu x 5, %.1f%% "
	       "allowed)\n",
	       nhits ? (double)t_hits / (5.0 * (double)nhits) : 0.0, nhits,
	       nhits ? 100.0 * (double)hit_ok / (5.0 * (double)nhits) : 0.0);
	printf("  policy_eval          %10.1f ns per decision (%zu decisions, for scale)\n",
	       neval ? (double)t_eval / (double)neval : 0.0, neval);
	if (sink == 42)
		printf(" \n"); /* keeps the warm-up and eval loops from being elided */
	free(q);
	free(hits);
	free(text);
	policy_view_free(v);
	policy_free(p);
}

int main(int argc, char **argv)
{
	struct bench b = {.r = {0x9e3779b97f4a7c15ull}};
	size_t ndec = argc > 2 ? strtoul(argv[2], NULL, 10) : 2000000;

	b.n = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000;
	if (b.n < 2 || ndec < 1000) {
		fprintf(stderr, "usage: %s [MEMBERS >= 2] [DECISIONS >= 1000]\n", argv[0]);
		return 2;
	}
	b.m = calloc(b.n, sizeof(*b.m));
	b.tagbuf = calloc(b.n, sizeof(*b.tagbuf));
	b.tagptr = calloc(b.n, sizeof(*b.tagptr));
	if (!b.m || !b.tagbuf || !b.tagptr)
		return 1;
	/* Sparse IDs (as a registry hands them out over time); a role and up
	 * to two other tags each. */
	for (size_t i = 0; i < b.n; i++) {
		uint32_t nt = 1 + rnd(&b.r, 3), first = rnd(&b.r, NTAGS - NROLES);
		b.m[i].node = (uint32_t)(1000 + i * 131 + rnd(&b.r, 100));
		for (uint32_t t = 0; t < nt; t++) {
			uint32_t tag = t == 0 ? rnd(&b.r, NROLES)
					      : NROLES + (first + t * 7) % (NTAGS - NROLES);
			snprintf(b.tagbuf[i][t], sizeof(b.tagbuf[i][t]), "t%u", tag);
			b.tagptr[i][t] = b.tagbuf[i][t];
		}
		b.tagptr[i][nt] = NULL;
		b.m[i].tags = b.tagptr[i];
	}
	run(&b, "small", 10, NROLES, ndec);
	run(&b, "large", POLICY_MAX_RULES, NTAGS, ndec);
	free(b.m);
	free(b.tagbuf);
	free(b.tagptr);
	return 0;
}
