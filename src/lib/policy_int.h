/* policy_int.h - what the three parts of the policy module share (not for
 * callers: they see policy.h).  policy_parse.c turns JSON into the flat
 * form below, policy.c evaluates it, policy_view.c writes it back out
 * (canonical document, a node's view) and reads and looks up views. */
#ifndef PILOT_POLICY_INT_H
#define PILOT_POLICY_INT_H

#include <stddef.h>
#include <stdint.h>
#include <yajl/yajl_tree.h>

#include "policy.h"

#define POLICY_TAG_MAX 32  /* as pilotctl set-tags (RDV_TAG_MAX) */
#define POLICY_NAME_MAX 64 /* bytes of a rule's optional "name" */

/* A view comes from the registry and is treated as untrusted: these bound
 * what policy_view_parse allocates.  policy_view_gen refuses to produce a
 * view beyond them, so the registry learns of it instead of every node. */
#define VIEW_MAX_ENTRIES (1u << 18) /* (peer, dir, proto) entries */
#define VIEW_MAX_RANGES (1u << 21)  /* port ranges, all entries together */

enum { SEL_ANY, SEL_TAG, SEL_NODE, SEL_SPIFFE, SEL_CLAIM };
enum { DIR_IN, DIR_OUT };

struct psel {
	uint32_t kind;
	uint32_t val; /* node ID, or index into policy->tags (tags, patterns, claims) */
};

/* POLICY_P_ANY and POLICY_P_ICMP always span 0-65535.  The any-port form
 * of tcp and udp is 0-65535 too, which keeps it apart from "tcp/1-65535"
 * in the canonical text (numbered ports start at 1). */
struct pport {
	uint8_t proto;
	uint16_t lo, hi;
};

struct prule {
	struct psel *sel; /* nfrom "from" selectors, then nto "to" selectors */
	struct pport *ports;
	char *name;
	int min_score; /* 0..100: the "from" member's score must reach it */
	uint16_t nfrom, nto, nports;
};

struct policy {
	struct prule *rules;
	size_t nrules;
	char **tags; /* each distinct tag name the rules use, once */
	size_t ntags, tags_cap;
	uint32_t *tag_hash; /* open addressing: index into tags + 1; 0 = empty */
	size_t tag_hash_cap;
};

/* policy_parse.c */
/** Write one error line (when \p err) and return \p rc. */
__attribute__((format(printf, 4, 5))) int policy_fail(char *err, size_t errlen, int rc,
						      const char *fmt, ...);
/** Quote untrusted text in an error line; returns \p buf. */
const char *policy_shown(const char *s, char buf[64]);
/** Decimal without sign or leading zeros, at most \p max.
 *  \retval 0, -EINVAL (syntax) or -ERANGE. */
int policy_parse_dec(const char *s, size_t n, uint64_t max, uint64_t *out);
/** \retval NULL or the first member of \p obj named twice. */
const char *policy_dup_key(yajl_val obj);
/** \retval the index of tag \p name in p->tags, or -1. */
long policy_tag_find(const struct policy *p, const char *name);
/** policy_parse, and with \p resolve the first step of policy_normalize. */
int policy_parse_common(const char *json, size_t len, policy_resolve_fn resolve, void *arg,
			struct policy **out, char *err, size_t errlen);

/* policy.c */
/** Does selector \p s match \p m? */
int policy_sel_match_one(const struct policy *p, const struct psel *s,
			 const struct policy_member *m);
/** Does one of the \p n selectors \p s match \p m? */
int policy_sel_match(const struct policy *p, const struct psel *s, size_t n,
		     const struct policy_member *m);

#endif
