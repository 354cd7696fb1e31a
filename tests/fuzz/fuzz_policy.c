/* fuzz_policy.c - libFuzzer harness for pilot-policy(5) and the compiled
 * view: the three parsers that take untrusted text (policy_parse for admin
 * documents, policy_normalize with a fake resolver, policy_view_parse for
 * what the registry sends pilotd), plus oracles on what they accept:
 *   - the canonical text parses back to itself;
 *   - normalize's output is a canonical document;
 *   - a view compiled from an accepted policy parses, and its lookups agree
 *     with policy_eval for every member pair and a handful of flows.
 * A violation aborts, so libFuzzer reports it like a crash.
 *
 * By hand (no build-system change needed), from a configured build tree:
 *   clang-14 -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 \
 *     -Ibuild -Isrc/lib tests/fuzz/fuzz_policy.c src/lib/policy.c src/lib/policy_parse.c \
 *     src/lib/policy_view.c src/lib/json.c \
 *     src/lib/addr.c src/lib/util.c -lyajl -lsodium -o /tmp/fuzz_policy
 *   /tmp/fuzz_policy -max_total_time=60 tests/fuzz/corpus/policy */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "policy.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Names starting with "h" exist; everything else is unknown; "eio" fails
 * the way a store would. */
static int fake_resolve(void *arg, const char *name, uint32_t *node)
{
	uint32_t h = 2166136261u;

	(void)arg;
	if (strcmp(name, "eio") == 0)
		return -EIO;
	if (name[0] != 'h')
		return -ENOENT;
	for (const char *c = name; *c; c++)
		h = (h ^ (uint8_t)*c) * 16777619u;
	*node = h ? h : 1;
	return 0;
}

static char *gen_policy(const struct policy *p)
{
	struct json_gen j;
	const char *out;
	size_t len;
	char *s = NULL;

	if (json_gen_init(&j))
		return NULL;
	if (policy_gen(p, &j) == 0 && json_gen_finish(&j, &out, &len) == 0) {
		s = malloc(len + 1);
		if (s) {
			memcpy(s, out, len);
			s[len] = '\0';
		}
	} else {
		abort(); /* an accepted policy always has a canonical text */
	}
	json_gen_free(&j);
	return s;
}

static void check_roundtrip(const struct policy *p)
{
	char *a = gen_policy(p), *b, err[256];
	struct policy *q;

	if (!a)
		return;
	if (policy_parse(a, strlen(a), &q, err, sizeof(err)))
		abort(); /* canonical text refused */
	b = gen_policy(q);
	if (b && strcmp(a, b) != 0)
		abort(); /* canonical text not a fixed point */
	free(a);
	free(b);
	policy_free(q);
}

/* Members drawn from the policy's own selectors would need its internals;
 * a fixed cast with the tags and IDs seeds tend to use is enough for the
 * oracle (the unit test's property test covers random ones). */
static void check_views(const struct policy *p)
{
	static const char *const t1[] = {"web", "a", NULL}, *const t2[] = {"db", NULL},
				 *const t3[] = {"api", "b", "web", NULL},
				 *const c1[] = {"groups=ops", "team=a", NULL};
	static const struct policy_member m[] = {
	    {1, t1, NULL, NULL, 0},	      {2, t2, NULL, NULL, 15},
	    {42, t3, NULL, NULL, 100},	      {7, NULL, NULL, NULL, 50},
	    {UINT32_MAX, t2, NULL, NULL, 49}, {9, NULL, "spiffe://example.org/agents/a", NULL, 14},
	    {10, t1, "alice", c1, 20}};
	static const uint8_t protos[] = {0, 6, 17, 58, 1};
	static const uint16_t ports[] = {0, 1, 22, 80, 443, 65535};

	for (size_t s = 0; s < nitems(m); s++) {
		struct policy_view *v = NULL;
		struct json_gen j;
		const char *out;
		size_t len;
		yajl_val root;
		char err[256];
		int rc;

		if (json_gen_init(&j))
			return;
		rc = policy_view_gen(p, m, nitems(m), m[s].node, &j);
		if (rc == -E2BIG || rc == -ENOMEM) {
			json_gen_free(&j);
			continue;
		}
		if (rc || json_gen_finish(&j, &out, &len))
			abort();
		root = json_parse(out, len, 0, err, sizeof(err));
		if (!root || policy_view_parse(root, &v, err, sizeof(err)))
			abort(); /* pilotd would refuse what the registry made */
		yajl_tree_free(root);
		json_gen_free(&j);
		for (size_t k = 0; k < nitems(m); k++) {
			if (k == s)
				continue;
			for (size_t pi = 0; pi < nitems(protos); pi++) {
				for (size_t qi = 0; qi < nitems(ports); qi++) {
					for (int in = 0; in <= 1; in++) {
						const struct policy_member *f = in ? &m[k] : &m[s];
						const struct policy_member *t = in ? &m[s] : &m[k];
						int want = policy_eval(p, f, t, protos[pi],
								       ports[qi], NULL);
						if (want != policy_view_allows(v, m[k].node, in,
									       protos[pi],
									       ports[qi]))
							abort();
					}
				}
			}
		}
		policy_view_free(v);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct policy *p = NULL;
	struct policy_view *v = NULL;
	char err[256], *out = NULL;
	size_t outlen;
	yajl_val root;

	if (policy_parse(s, size, &p, err, sizeof(err)) == 0) {
		check_roundtrip(p);
		/* The view oracle is quadratic-ish: keep it to small policies
		 * so the fuzzer keeps its pace. */
		if (policy_rule_count(p) <= 64)
			check_views(p);
		policy_free(p);
	} else if (memchr(err, '\n', strnlen(err, sizeof(err)))) {
		abort(); /* error lines are one line */
	}

	if (policy_normalize(s, size, fake_resolve, NULL, &out, &outlen, err, sizeof(err)) == 0) {
		if (policy_parse(out, outlen, &p, err, sizeof(err)))
			abort(); /* normalize must produce a canonical document */
		policy_free(p);
		free(out);
	}

	root = json_parse(s, size, 0, NULL, 0);
	if (root) {
		if (policy_view_parse(root, &v, err, sizeof(err)) == 0) {
			for (uint32_t peer = 0; peer < 8; peer++)
				(void)policy_view_allows(v, peer, (int)(peer & 1),
							 (uint8_t)(peer * 7),
							 (uint16_t)(peer * 1000));
			(void)policy_view_default_deny(v);
			policy_view_free(v);
		}
		yajl_tree_free(root);
	}
	return 0;
}
