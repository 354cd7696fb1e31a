/* policy.c - see policy.h and pilot-policy(5).
 *
 * The module in three files: policy_parse.c (the one parser: JSON ->
 * rules, validation errors), this file (the document's lifetime, the
 * admin's normalised document, and the evaluator), policy_view.c (the
 * canonical document and a node's view as JSON, and the view's lookup in
 * pilotd).  policy_eval walks the parsed form directly; policy_view_gen
 * expands each rule only over the members it selects (tag -> members
 * index), so compiling a view costs the size of the matches, not rules x
 * members x selectors. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "policy_int.h"

void policy_free(struct policy *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nrules; i++) {
		free(p->rules[i].sel);
		free(p->rules[i].ports);
		free(p->rules[i].name);
	}
	for (size_t t = 0; t < p->ntags; t++)
		free(p->tags[t]);
	free(p->rules);
	free(p->tags);
	free(p->tag_hash);
	free(p);
}

size_t policy_rule_count(const struct policy *p)
{
	return p ? p->nrules : 0;
}

int policy_normalize(const char *json, size_t len, policy_resolve_fn resolve, void *arg, char **out,
		     size_t *outlen, char *err, size_t errlen)
{
	struct policy *p;
	struct json_gen j;
	const char *buf;
	size_t n;
	int rc;

	*out = NULL;
	*outlen = 0;
	if (!resolve)
		return policy_fail(err, errlen, -EINVAL, "no resolver");
	rc = policy_parse_common(json, len, resolve, arg, &p, err, errlen);
	if (rc)
		return rc;
	rc = json_gen_init(&j);
	if (rc) {
		policy_free(p);
		return policy_fail(err, errlen, rc, "out of memory");
	}
	if ((rc = policy_gen(p, &j)) || (rc = json_gen_finish(&j, &buf, &n))) {
		rc = policy_fail(err, errlen, rc, "cannot generate the canonical policy");
		goto out;
	}
	*out = malloc(n + 1);
	if (!*out) {
		rc = policy_fail(err, errlen, -ENOMEM, "out of memory");
		goto out;
	}
	memcpy(*out, buf, n);
	(*out)[n] = '\0';
	*outlen = n;
out:
	json_gen_free(&j);
	policy_free(p);
	return rc;
}

/* ---------------------------------------------------------------- eval */

static int member_has_tag(const struct policy_member *m, const char *tag)
{
	for (size_t i = 0; m->tags && m->tags[i]; i++)
		if (strcmp(m->tags[i], tag) == 0)
			return 1;
	return 0;
}

int policy_sel_match(const struct policy *p, const struct psel *s, size_t n,
		     const struct policy_member *m)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i].kind == SEL_ANY || (s[i].kind == SEL_NODE && s[i].val == m->node) ||
		    (s[i].kind == SEL_TAG && member_has_tag(m, p->tags[s[i].val])))
			return 1;
	}
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
		if (port_match(r->ports, r->nports, proto, port) &&
		    policy_sel_match(p, r->sel, r->nfrom, from) &&
		    policy_sel_match(p, r->sel + r->nfrom, r->nto, to)) {
			if (rule)
				*rule = (int)i;
			return 1;
		}
	}
	return 0;
}
