/* policy.c - see policy.h and pilot-policy(5).
 *
 * The module in three files, each calling only those before it:
 * policy_parse.c (the one parser: JSON -> rules, validation errors, the
 * parsed form's lifetime), this file (the evaluator), policy_view.c (the
 * canonical and admin-normalised document, a node's view as JSON, and the
 * view's lookup in pilotd).  policy_eval walks the parsed form directly; policy_view_gen
 * expands each rule only over the members it selects (tag -> members
 * index), so compiling a view costs the size of the matches, not rules x
 * members x selectors. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "jwt.h"
#include "policy_int.h"

/* ---------------------------------------------------------------- eval */

static int member_has_tag(const struct policy_member *m, const char *tag)
{
	for (size_t i = 0; m->tags && m->tags[i]; i++)
		if (strcmp(m->tags[i], tag) == 0)
			return 1;
	return 0;
}

static int member_has_claim(const struct policy_member *m, const char *claim)
{
	for (size_t i = 0; m->claims && m->claims[i]; i++)
		if (strcmp(m->claims[i], claim) == 0)
			return 1;
	return 0;
}

int policy_sel_match_one(const struct policy *p, const struct psel *s,
			 const struct policy_member *m)
{
	switch (s->kind) {
	case SEL_ANY:
		return 1;
	case SEL_NODE:
		return s->val == m->node;
	case SEL_TAG:
		return member_has_tag(m, p->tags[s->val]);
	case SEL_SPIFFE:
		return m->external_id && spiffe_id_match(p->tags[s->val], m->external_id);
	case SEL_CLAIM:
		return member_has_claim(m, p->tags[s->val]);
	}
	return 0;
}

int policy_sel_match(const struct policy *p, const struct psel *s, size_t n,
		     const struct policy_member *m)
{
	for (size_t i = 0; i < n; i++)
		if (policy_sel_match_one(p, &s[i], m))
			return 1;
	return 0;
}

static int port_match(const struct pport *pp, size_t n, uint8_t proto, uint16_t port)
{
	for (size_t i = 0; i < n; i++) {
		if (pp[i].proto == POLICY_P_ANY)
			return 1;
		if (pp[i].proto != proto)
			continue;
		/* ICMPv6 echo has no port: "icmp" takes every identifier. */
		if (proto == POLICY_P_ICMP || (port >= pp[i].lo && port <= pp[i].hi))
			return 1;
	}
	return 0;
}

int policy_eval(const struct policy *p, const struct policy_member *from,
		const struct policy_member *to, uint8_t proto, uint16_t port, int *rule)
{
	if (rule)
		*rule = -1;
	if (!p || p->nrules == 0)
		return 1;
	if (!from || !to)
		return 0;
	for (size_t i = 0; i < p->nrules; i++) {
		const struct prule *r = &p->rules[i];
		/* Ports first: the cheapest test, and the most selective one in
		 * a typical policy. */
		if (port_match(r->ports, r->nports, proto, port) && from->score >= r->min_score &&
		    policy_sel_match(p, r->sel, r->nfrom, from) &&
		    policy_sel_match(p, r->sel + r->nfrom, r->nto, to)) {
			if (rule)
				*rule = (int)i;
			return 1;
		}
	}
	return 0;
}

int policy_rule_min_score(const struct policy *p, size_t i)
{
	return p && i < p->nrules ? p->rules[i].min_score : 0;
}

int policy_score_crosses(const struct policy *p, int a, int b)
{
	int lo = a < b ? a : b, hi = a < b ? b : a;

	for (size_t i = 0; p && i < p->nrules; i++)
		if (p->rules[i].min_score > lo && p->rules[i].min_score <= hi)
			return 1;
	return 0;
}

int policy_has_min_score(const struct policy *p)
{
	for (size_t i = 0; p && i < p->nrules; i++)
		if (p->rules[i].min_score > 0)
			return 1;
	return 0;
}
