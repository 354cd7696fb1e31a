/* policy.h - network flow policy (pilot-policy(5)): the one parser of
 * policy documents (admin input, fuzzed), the evaluator that explains a
 * decision (`pilotctl policy test`, resolve-time checks in the registry),
 * the compiler that turns a policy plus the members' tags into one node's
 * *view*, and the view's data-path lookup in pilotd.
 *
 * Document: {"rules":[{"from":[SEL...],"to":[SEL...],"ports":[PORT...],
 *            "name":"optional label","min_score":N}, ...]}
 *   min_score = an integer 0..100 (optional): the rule matches only if the
 *          "from" member's reputation score (rep.h) is at least N
 *   SEL  = "*" | "tag:NAME" | "node:ID" | "spiffe://TD/PATTERN" (an oidc or
 *          spiffe member's external identity: jwt.h spiffe_id_match) |
 *          "claim:NAME=VALUE" (a claim of the token that admitted the
 *          member; an array claim holds VALUE) (the registry normalises node IDs,
 *          Pilot addresses and hostnames given by the admin to "node:ID")
 *   PORT = "tcp/N", "tcp/N-M", "tcp/ *" (any port; written without the space), "udp/..."
 *          "icmp" (ICMPv6 echo) | "*" (any protocol, any port)
 * A network with no policy, or an empty rule list, admits every flow
 * between its members; a network with at least one rule is default-deny.
 * Limits: at most POLICY_MAX_RULES rules, POLICY_MAX_SEL selectors and
 * POLICY_MAX_PORTS port entries per rule, POLICY_MAX_BYTES of JSON text.
 * Every hop that carries a policy (pilotctl -> pilotd -> registry and
 * back) takes POLICY_MAX_BYTES plus POLICY_ENVELOPE_MAX of its own.
 *
 * A view is what one node needs to decide its own flows in one network:
 * for each other member and direction, the allowed (proto, port ranges).
 * Its lookup is a hash of (peer, direction) then a binary search over
 * merged ranges: the cost does not grow with the number of rules. */
#ifndef PILOT_POLICY_H
#define PILOT_POLICY_H

#include <stddef.h>
#include <stdint.h>
#include <yajl/yajl_tree.h>

struct json_gen;

#define POLICY_MAX_RULES 10000
#define POLICY_MAX_SEL 64
#define POLICY_MAX_PORTS 64
#define POLICY_MAX_TAGS 10
/* A policy's JSON text, as sent (compact) or as stored (canonical).  An
 * ordinary 10,000-rule policy is 1-2 MiB; the rest is headroom for long
 * names and selector lists. */
#define POLICY_MAX_BYTES (4 * 1024 * 1024)
/* What a request or reply around a policy adds to it (command, IDs,
 * signature envelope, JSON escaping of names is counted in the policy). */
#define POLICY_ENVELOPE_MAX (64 * 1024)

enum policy_proto { POLICY_P_ANY = 0, POLICY_P_TCP = 6, POLICY_P_UDP = 17, POLICY_P_ICMP = 58 };

struct policy; /* a parsed, validated document */

/** A member as the evaluator sees it. */
struct policy_member {
	uint32_t node;
	const char *const *tags;   /* canonical (lower case), NULL-terminated, may be NULL */
	const char *external_id;   /* oidc/spiffe: the subject admitted, or NULL */
	const char *const *claims; /* ... its "name=value" claims, NULL-terminated, or NULL */
	int score;		   /* reputation 0..100 (rules with min_score) */
};

/** Parse and validate a document (JSON text; no comments).  Node selectors
 *  must already be "node:ID" (see policy_normalize).  On error \p err gets
 *  one line naming the rule index and field.  \retval 0 or -EINVAL/-E2BIG. */
int policy_parse(const char *json, size_t len, struct policy **out, char *err, size_t errlen);
void policy_free(struct policy *p);
size_t policy_rule_count(const struct policy *p);
/** Canonical JSON of the document (what the registry stores and shows). */
int policy_gen(const struct policy *p, struct json_gen *j);

/** Registry side: rewrite selectors that name a node another way (ID,
 *  address "N:NNNN.HHHH.LLLL", hostname) into "node:ID" using \p resolve
 *  (returns 0 and the ID, or -ENOENT); every other selector must already
 *  be valid.  Works on the raw document before policy_parse; \p out is a
 *  malloc'd canonical JSON.  \retval 0 or -EINVAL/-ENOENT with \p err. */
typedef int (*policy_resolve_fn)(void *arg, const char *name, uint32_t *node);
int policy_normalize(const char *json, size_t len, policy_resolve_fn resolve, void *arg, char **out,
		     size_t *outlen, char *err, size_t errlen);

/** Would \p from opening a \p proto / \p port flow to \p to pass?
 *  \retval 1 allowed, 0 denied; *rule = index of the first allowing rule,
 *  or -1 (default deny, or no rules: then allowed with -1). */
int policy_eval(const struct policy *p, const struct policy_member *from,
		const struct policy_member *to, uint8_t proto, uint16_t port, int *rule);

/** The min_score of rule \p i (0: none or out of range). */
int policy_rule_min_score(const struct policy *p, size_t i);
/** Does a rule's min_score lie in (min(a, b), max(a, b)]: does a score
 *  moving from \p a to \p b cross a threshold either way?  \retval 1 or 0. */
int policy_score_crosses(const struct policy *p, int a, int b);
/** Has some rule a min_score?  \retval 1 or 0. */
int policy_has_min_score(const struct policy *p);

/** Compile \p self's view of a network from the policy and all members
 *  (self included) into JSON for the node:
 *  {"default_deny":bool,"allow":[{"node":ID,"dir":"in"|"out","proto":6|17|58|0,
 *                                 "ranges":[[lo,hi],...]}, ...]}
 *  "in" = the peer opens to self; "out" = self opens to the peer.  \p p
 *  may be NULL (no policy: default_deny false, no entries). */
int policy_view_gen(const struct policy *p, const struct policy_member *members, size_t n,
		    uint32_t self, struct json_gen *j);

/* ---- pilotd: the compiled view and its O(1)-ish lookup ---- */
struct policy_view;
/** Parse a view (from the registry: treated as untrusted, bounded). */
int policy_view_parse(yajl_val v, struct policy_view **out, char *err, size_t errlen);
void policy_view_free(struct policy_view *v);
/** \retval 1 allowed, 0 denied.  \p inbound: the peer opened the flow. */
int policy_view_allows(const struct policy_view *v, uint32_t peer, int inbound, uint8_t proto,
		       uint16_t port);
int policy_view_default_deny(const struct policy_view *v);

#endif
