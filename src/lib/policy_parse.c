/* policy_parse.c - the one parser of policy documents (admin input,
 * fuzzed): JSON text -> the flat form of policy_int.h, with an error line
 * naming the rule and field.  Selectors are (kind, value) pairs with tag
 * names interned once per policy, ports are (proto, lo, hi).  With a
 * resolver (policy_normalize) a node may still be named by ID, address or
 * hostname. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "json.h"
#include "jwt.h"
#include "policy_int.h"

struct pctx {
	struct policy *p;
	policy_resolve_fn resolve; /* NULL: canonical input only */
	void *arg;
	char *err;
	size_t errlen;
};

int policy_fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* Quote untrusted text in an error line: bounded, and printable ASCII only
 * (the line ends up in JSON replies and terminals; a cut through a UTF-8
 * sequence would make it invalid). */
const char *policy_shown(const char *s, char buf[64])
{
	size_t i, o = 0;

	for (i = 0; s[i] && o < 48; i++) {
		unsigned char ch = (unsigned char)s[i];
		buf[o++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
	}
	if (s[i]) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
	return buf;
}

/* ---------------------------------------------------------------- text */

/* Decimal without sign or leading zeros (one spelling per number, so the
 * canonical text is the only text).  \retval 0, -EINVAL (syntax) or
 * -ERANGE (above \p max). */
int policy_parse_dec(const char *s, size_t n, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	int big = 0;

	if (n == 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		if (!big) {
			v = v * 10 + (uint64_t)(s[i] - '0');
			big = v > max;
		}
	}
	if (s[0] == '0' && n > 1)
		return -EINVAL;
	if (big)
		return -ERANGE;
	*out = v;
	return 0;
}

static const char *port_num(const char *s, size_t n, uint16_t *out)
{
	uint64_t v;
	int rc = policy_parse_dec(s, n, 65535, &v);

	if (rc == -ERANGE || (rc == 0 && v == 0))
		return "port out of range";
	if (rc)
		return "bad port number";
	*out = (uint16_t)v;
	return NULL;
}

/* \retval NULL with \p out set, or why \p s is not a PORT entry. */
static const char *port_parse(const char *s, struct pport *out)
{
	const char *rest, *dash, *why;

	out->lo = 0;
	out->hi = 65535;
	if (strcmp(s, "*") == 0) {
		out->proto = POLICY_P_ANY;
		return NULL;
	}
	if (strcmp(s, "icmp") == 0) {
		out->proto = POLICY_P_ICMP;
		return NULL;
	}
	if (strncmp(s, "tcp/", 4) == 0)
		out->proto = POLICY_P_TCP;
	else if (strncmp(s, "udp/", 4) == 0)
		out->proto = POLICY_P_UDP;
	else
		return "not a port (tcp/PORT, udp/PORT, icmp or *)";
	rest = s + 4;
	if (strcmp(rest, "*") == 0)
		return NULL;
	dash = strchr(rest, '-');
	if (!dash) {
		why = port_num(rest, strlen(rest), &out->lo);
		out->hi = out->lo;
		return why;
	}
	if ((why = port_num(rest, (size_t)(dash - rest), &out->lo)) ||
	    (why = port_num(dash + 1, strlen(dash + 1), &out->hi)))
		return why;
	if (out->lo > out->hi)
		return "range is reversed";
	return NULL;
}

/* The registry's rule for tags (set-tags): 1-32 of [a-z0-9-_.] after
 * lower-casing, starting with a letter or digit. */
static const char *tag_norm(const char *in, char out[POLICY_TAG_MAX + 1])
{
	size_t n = strlen(in);

	if (n == 0 || n > POLICY_TAG_MAX)
		return "tag name must be 1 to 32 characters";
	for (size_t i = 0; i < n; i++) {
		char ch = in[i];
		if (ch >= 'A' && ch <= 'Z')
			ch = (char)(ch - 'A' + 'a');
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
		      ch == '_' || ch == '.'))
			return "tag name may hold only letters, digits, '-', '_' and '.'";
		out[i] = ch;
	}
	out[n] = '\0';
	if (out[0] == '-' || out[0] == '_' || out[0] == '.')
		return "tag name must start with a letter or digit";
	return NULL;
}

static const char *node_num(const char *s, uint32_t *node)
{
	uint64_t v;
	int rc = policy_parse_dec(s, strlen(s), UINT32_MAX, &v);

	if (rc == -ERANGE || (rc == 0 && v == 0))
		return "node ID out of range (1 to 4294967295)";
	if (rc)
		return "bad node ID";
	*node = (uint32_t)v;
	return NULL;
}

/* ---------------------------------------------------------------- tags */

static uint32_t str_hash(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a: tag names are short */

	while (*s)
		h = (h ^ (uint8_t)*s++) * 16777619u;
	return h;
}

long policy_tag_find(const struct policy *p, const char *name)
{
	size_t mask = p->tag_hash_cap - 1, i;

	if (!p->tag_hash_cap)
		return -1;
	for (i = str_hash(name) & mask; p->tag_hash[i]; i = (i + 1) & mask)
		if (strcmp(p->tags[p->tag_hash[i] - 1], name) == 0)
			return (long)p->tag_hash[i] - 1;
	return -1;
}

static int tag_rehash(struct policy *p, size_t cap)
{
	uint32_t *h = calloc(cap, sizeof(*h));

	if (!h)
		return -ENOMEM;
	for (size_t t = 0; t < p->ntags; t++) {
		size_t i = str_hash(p->tags[t]) & (cap - 1);
		while (h[i])
			i = (i + 1) & (cap - 1);
		h[i] = (uint32_t)t + 1;
	}
	free(p->tag_hash);
	p->tag_hash = h;
	p->tag_hash_cap = cap;
	return 0;
}

static int tag_intern(struct policy *p, const char *name, uint32_t *idx)
{
	long t = policy_tag_find(p, name);
	int rc;

	if (t >= 0) {
		*idx = (uint32_t)t;
		return 0;
	}
	if (p->ntags == p->tags_cap) {
		size_t cap = p->tags_cap ? p->tags_cap * 2 : 16;
		char **nt = realloc(p->tags, cap * sizeof(*nt));
		if (!nt)
			return -ENOMEM;
		p->tags = nt;
		p->tags_cap = cap;
	}
	p->tags[p->ntags] = strdup(name);
	if (!p->tags[p->ntags])
		return -ENOMEM;
	p->ntags++;
	/* Load at most 1/2: probes stay short for view_gen's lookups. */
	if (p->ntags * 2 > p->tag_hash_cap) {
		rc = tag_rehash(p, p->tag_hash_cap ? p->tag_hash_cap * 2 : 32);
		if (rc) {
			free(p->tags[--p->ntags]);
			return rc;
		}
	} else {
		size_t mask = p->tag_hash_cap - 1, i = str_hash(name) & mask;
		while (p->tag_hash[i])
			i = (i + 1) & mask;
		p->tag_hash[i] = (uint32_t)p->ntags;
	}
	*idx = (uint32_t)p->ntags - 1;
	return 0;
}

/* ---------------------------------------------------------------- parse */

/* \retval NULL or the first member named twice (yajl keeps both).  Call it
 * after json_only_keys: with at most N names allowed, a repeat shows within
 * the first N + 1 keys, so the quadratic scan stays short whatever the
 * input. */
const char *policy_dup_key(yajl_val obj)
{
	for (size_t i = 1; i < obj->u.object.len; i++)
		for (size_t k = 0; k < i; k++)
			if (strcmp(obj->u.object.keys[i], obj->u.object.keys[k]) == 0)
				return obj->u.object.keys[i];
	return NULL;
}

/* \retval 0, -EINVAL with *why, -ENOENT with *why (unknown name), or a
 * resolver's error. */
static int sel_parse(struct pctx *c, const char *s, struct psel *out, const char **why)
{
	char buf[PILOT_HOSTNAME_MAX + 1];
	struct pilot_addr a;
	int rc;

	if (strcmp(s, "*") == 0) {
		out->kind = SEL_ANY;
		out->val = 0;
		return 0;
	}
	if (strncmp(s, "tag:", 4) == 0) {
		char tag[POLICY_TAG_MAX + 1];
		if ((*why = tag_norm(s + 4, tag)))
			return -EINVAL;
		out->kind = SEL_TAG;
		rc = tag_intern(c->p, tag, &out->val);
		if (rc)
			*why = "out of memory";
		return rc;
	}
	if (strncmp(s, "spiffe://", 9) == 0 || strncmp(s, "claim:", 6) == 0) {
		int spiffe = s[0] == 's';
		if (spiffe ? !spiffe_pattern_valid(s) : !jwt_claim_sel_ok(s + 6)) {
			*why = spiffe ? "not a SPIFFE ID pattern (spiffe://TD/PATH; a segment '*' "
					"matches one, a last '*' one or more)"
				      : "not a claim (claim:NAME=VALUE, at most 127 bytes)";
			return -EINVAL;
		}
		out->kind = spiffe ? SEL_SPIFFE : SEL_CLAIM;
		rc = tag_intern(c->p, spiffe ? s : s + 6, &out->val);
		if (rc)
			*why = "out of memory";
		return rc;
	}
	out->kind = SEL_NODE;
	if (strncmp(s, "node:", 5) == 0)
		return (*why = node_num(s + 5, &out->val)) ? -EINVAL : 0;
	if (!c->resolve) {
		*why = "not a selector (*, tag:NAME or node:ID)";
		return -EINVAL;
	}
	/* The admin's other names for a node.  IDs and addresses carry the
	 * ID itself (a node that is not a member yet simply matches nothing,
	 * like a tag nobody carries); a hostname must exist now. */
	if (s[0] >= '0' && s[0] <= '9' && strspn(s, "0123456789") == strlen(s))
		return (*why = node_num(s, &out->val)) ? -EINVAL : 0;
	if (addr_parse(s, &a) == 0) {
		if (a.node == 0) {
			*why = "node ID out of range (1 to 4294967295)";
			return -EINVAL;
		}
		out->val = a.node;
		return 0;
	}
	if (addr_hostname_norm(s, buf)) {
		*why = "not a selector (*, tag:NAME, node ID, address or hostname)";
		return -EINVAL;
	}
	rc = c->resolve(c->arg, buf, &out->val);
	if (rc == -ENOENT) {
		*why = "no such node";
		return rc;
	}
	if (rc == 0 && out->val == 0)
		rc = -EINVAL;
	if (rc)
		*why = "cannot resolve";
	return rc;
}

/* A required array of 1..max strings.  \retval its length or -errno. */
static int list_check(struct pctx *c, size_t i, const char *field, yajl_val v, size_t max)
{
	if (!v)
		return policy_fail(c->err, c->errlen, -EINVAL, "rule %zu: missing '%s'", i, field);
	if (!YAJL_IS_ARRAY(v))
		return policy_fail(c->err, c->errlen, -EINVAL, "rule %zu: '%s' must be an array", i,
				   field);
	if (v->u.array.len == 0)
		return policy_fail(c->err, c->errlen, -EINVAL, "rule %zu: '%s' is empty", i, field);
	if (v->u.array.len > max)
		return policy_fail(c->err, c->errlen, -E2BIG,
				   "rule %zu: '%s' has more than %zu entries", i, field, max);
	for (size_t k = 0; k < v->u.array.len; k++)
		if (!YAJL_IS_STRING(v->u.array.values[k]))
			return policy_fail(c->err, c->errlen, -EINVAL,
					   "rule %zu: %s[%zu] must be a string", i, field, k);
	return (int)v->u.array.len;
}

static int sels_parse(struct pctx *c, size_t i, const char *field, yajl_val v, struct psel *out)
{
	char sb[64];
	const char *why = "invalid";
	int rc;

	for (size_t k = 0; k < v->u.array.len; k++) {
		const char *s = v->u.array.values[k]->u.string;
		if ((rc = sel_parse(c, s, &out[k], &why)))
			return policy_fail(c->err, c->errlen, rc, "rule %zu: %s[%zu] '%s': %s", i,
					   field, k, policy_shown(s, sb), why);
	}
	return 0;
}

static int name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > POLICY_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

static int rule_parse(struct pctx *c, size_t i, yajl_val v, struct prule *r)
{
	static const char *const keys[] = {"from", "to", "ports", "name", "min_score", NULL};
	yajl_val from, to, ports, name, min;
	const char *bad;
	char sb[64];
	int nf, nt, np, rc;

	if (!YAJL_IS_OBJECT(v))
		return policy_fail(c->err, c->errlen, -EINVAL, "rule %zu: must be an object", i);
	if (json_only_keys(v, keys, &bad))
		return policy_fail(c->err, c->errlen, -EINVAL, "rule %zu: unknown member '%s'", i,
				   policy_shown(bad, sb));
	if ((bad = policy_dup_key(v)))
		return policy_fail(c->err, c->errlen, -EINVAL, "rule %zu: member '%s' given twice",
				   i, bad);
	from = json_get(v, "from");
	to = json_get(v, "to");
	ports = json_get(v, "ports");
	name = json_get(v, "name");
	min = json_get(v, "min_score");
	if ((nf = list_check(c, i, "from", from, POLICY_MAX_SEL)) < 0)
		return nf;
	if ((nt = list_check(c, i, "to", to, POLICY_MAX_SEL)) < 0)
		return nt;
	if ((np = list_check(c, i, "ports", ports, POLICY_MAX_PORTS)) < 0)
		return np;
	if (name && (!YAJL_IS_STRING(name) || !name_ok(name->u.string)))
		return policy_fail(
		    c->err, c->errlen, -EINVAL,
		    "rule %zu: 'name' must be a string of 1 to %d bytes without control "
		    "characters",
		    i, POLICY_NAME_MAX);
	if (min &&
	    (!YAJL_IS_INTEGER(min) || YAJL_GET_INTEGER(min) < 0 || YAJL_GET_INTEGER(min) > 100))
		return policy_fail(c->err, c->errlen, -EINVAL,
				   "rule %zu: 'min_score' must be an integer from 0 to 100", i);
	r->min_score = min ? (int)YAJL_GET_INTEGER(min) : 0;
	r->sel = calloc((size_t)(nf + nt), sizeof(*r->sel));
	r->ports = calloc((size_t)np, sizeof(*r->ports));
	if (name)
		r->name = strdup(name->u.string);
	if (!r->sel || !r->ports || (name && !r->name))
		return policy_fail(c->err, c->errlen, -ENOMEM, "out of memory");
	r->nfrom = (uint16_t)nf;
	r->nto = (uint16_t)nt;
	r->nports = (uint16_t)np;
	if ((rc = sels_parse(c, i, "from", from, r->sel)) ||
	    (rc = sels_parse(c, i, "to", to, r->sel + nf)))
		return rc;
	for (int k = 0; k < np; k++) {
		const char *s = ports->u.array.values[k]->u.string, *why;
		if ((why = port_parse(s, &r->ports[k])))
			return policy_fail(c->err, c->errlen, -EINVAL,
					   "rule %zu: ports[%d] '%s': %s", i, k,
					   policy_shown(s, sb), why);
	}
	return 0;
}

static int doc_parse(struct pctx *c, const char *json, size_t len)
{
	static const char *const keys[] = {"rules", NULL};
	yajl_val root, rules;
	const char *bad;
	char jerr[128], sb[64];
	int rc = 0;

	if (json_has_nul_escape(json, len))
		return policy_fail(c->err, c->errlen, -EINVAL,
				   "invalid JSON: NUL character in a string");
	root = json_parse(json, len, 0, jerr, sizeof(jerr));
	if (!root)
		return policy_fail(c->err, c->errlen, -EINVAL, "invalid JSON: %s",
				   jerr[0] ? jerr : "out of memory");
	if (!YAJL_IS_OBJECT(root)) {
		rc = policy_fail(c->err, c->errlen, -EINVAL, "a policy must be a JSON object");
		goto out;
	}
	if (json_only_keys(root, keys, &bad)) {
		rc = policy_fail(c->err, c->errlen, -EINVAL, "unknown member '%s'",
				 policy_shown(bad, sb));
		goto out;
	}
	if ((bad = policy_dup_key(root))) {
		rc = policy_fail(c->err, c->errlen, -EINVAL, "member '%s' given twice", bad);
		goto out;
	}
	rules = json_get(root, "rules");
	if (!rules || !YAJL_IS_ARRAY(rules)) {
		rc = policy_fail(c->err, c->errlen, -EINVAL, "'rules' must be an array");
		goto out;
	}
	if (rules->u.array.len > POLICY_MAX_RULES) {
		rc = policy_fail(c->err, c->errlen, -E2BIG, "more than %d rules", POLICY_MAX_RULES);
		goto out;
	}
	c->p->rules = calloc(rules->u.array.len ? rules->u.array.len : 1, sizeof(struct prule));
	if (!c->p->rules) {
		rc = policy_fail(c->err, c->errlen, -ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < rules->u.array.len && !rc; i++) {
		c->p->nrules++; /* counted first: policy_free releases a partial rule */
		rc = rule_parse(c, i, rules->u.array.values[i], &c->p->rules[i]);
	}
out:
	yajl_tree_free(root);
	return rc;
}

int policy_parse_common(const char *json, size_t len, policy_resolve_fn resolve, void *arg,
			struct policy **out, char *err, size_t errlen)
{
	struct pctx c = {.resolve = resolve, .arg = arg, .err = err, .errlen = errlen};
	int rc;

	*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	if (!json)
		return policy_fail(err, errlen, -EINVAL, "no policy text");
	/* Bounded before yajl builds a tree of it (several times its size). */
	if (len > POLICY_MAX_BYTES)
		return policy_fail(err, errlen, -E2BIG, "%zu bytes of JSON, more than %d (%d MiB)",
				   len, POLICY_MAX_BYTES, POLICY_MAX_BYTES >> 20);
	c.p = calloc(1, sizeof(*c.p));
	if (!c.p)
		return policy_fail(err, errlen, -ENOMEM, "out of memory");
	rc = doc_parse(&c, json, len);
	if (rc) {
		policy_free(c.p);
		return rc;
	}
	*out = c.p;
	return 0;
}
int policy_parse(const char *json, size_t len, struct policy **out, char *err, size_t errlen)
{
	return policy_parse_common(json, len, NULL, NULL, out, err, errlen);
}

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
