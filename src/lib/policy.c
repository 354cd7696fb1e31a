/* policy.c - see policy.h and pilot-policy(5).
 *
 * One parser serves both entry points: policy_parse (canonical documents:
 * node selectors are already "node:ID") and policy_normalize (the admin's
 * document, where a node may still be named by ID, address or hostname).
 * The parsed form is small and flat: selectors are (kind, value) pairs
 * with tag names interned once per policy, ports are (proto, lo, hi).
 * policy_eval walks it directly; policy_view_gen expands each rule only
 * over the members it selects (tag -> members index), so compiling a view
 * costs the size of the matches, not rules x members x selectors. */
#include "config.h"

#include <errno.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "json.h"
#include "policy.h"
#include "util.h"

#define POLICY_TAG_MAX 32  /* as pilotctl set-tags (RDV_TAG_MAX) */
#define POLICY_NAME_MAX 64 /* bytes of a rule's optional "name" */
#define POLICY_HOST_MAX 63 /* a hostname is one DNS label */

/* A view comes from the registry and is treated as untrusted: these bound
 * what policy_view_parse allocates.  policy_view_gen refuses to produce a
 * view beyond them, so the registry learns of it instead of every node. */
#define VIEW_MAX_ENTRIES (1u << 18) /* (peer, dir, proto) entries */
#define VIEW_MAX_RANGES (1u << 21)  /* port ranges, all entries together */

enum { SEL_ANY, SEL_TAG, SEL_NODE };
enum { DIR_IN, DIR_OUT };

struct psel {
	uint32_t kind;
	uint32_t val; /* node ID, or index into policy->tags */
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

struct pctx {
	struct policy *p;
	policy_resolve_fn resolve; /* NULL: canonical input only */
	void *arg;
	char *err;
	size_t errlen;
};

__attribute__((format(printf, 4, 5))) static int fail(char *err, size_t errlen, int rc,
						      const char *fmt, ...)
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
static const char *shown(const char *s, char buf[64])
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
static int parse_dec(const char *s, size_t n, uint64_t max, uint64_t *out)
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
	int rc = parse_dec(s, n, 65535, &v);

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

static void port_text(const struct pport *pp, char buf[32])
{
	const char *pn = pp->proto == POLICY_P_TCP ? "tcp" : "udp";

	if (pp->proto == POLICY_P_ANY)
		snprintf(buf, 32, "*");
	else if (pp->proto == POLICY_P_ICMP)
		snprintf(buf, 32, "icmp");
	else if (pp->lo == 0)
		snprintf(buf, 32, "%s/*", pn);
	else if (pp->lo == pp->hi)
		snprintf(buf, 32, "%s/%u", pn, (unsigned)pp->lo);
	else
		snprintf(buf, 32, "%s/%u-%u", pn, (unsigned)pp->lo, (unsigned)pp->hi);
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

/* The registry's rule for hostnames: one DNS label, not all digits (those
 * are node IDs).  Lower-cased, as the registry keeps them. */
static int host_norm(const char *in, char out[POLICY_HOST_MAX + 1])
{
	size_t n = strlen(in), digits = 0;

	if (n == 0 || n > POLICY_HOST_MAX || in[0] == '-' || in[n - 1] == '-')
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		char ch = in[i];
		if (ch >= 'A' && ch <= 'Z')
			ch = (char)(ch - 'A' + 'a');
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-'))
			return -EINVAL;
		digits += ch >= '0' && ch <= '9';
		out[i] = ch;
	}
	out[n] = '\0';
	return digits == n ? -EINVAL : 0;
}

static const char *node_num(const char *s, uint32_t *node)
{
	uint64_t v;
	int rc = parse_dec(s, strlen(s), UINT32_MAX, &v);

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

static long tag_find(const struct policy *p, const char *name)
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
	long t = tag_find(p, name);
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

/* yajl's tree keeps strings NUL-terminated without their length, so a
 * "\u0000" escape would silently cut "tag:web\u0000x" to "tag:web".
 * Refuse the escape in the text instead. */
static int has_nul_escape(const char *buf, size_t len)
{
	int in_str = 0;

	for (size_t i = 0; i < len; i++) {
		if (!in_str) {
			in_str = buf[i] == '"';
		} else if (buf[i] == '"') {
			in_str = 0;
		} else if (buf[i] == '\\' && i + 1 < len) {
			if (buf[i + 1] == 'u' && i + 5 < len && memcmp(buf + i + 2, "0000", 4) == 0)
				return 1;
			i++;
		}
	}
	return 0;
}

/* \retval NULL or the first member named twice (yajl keeps both).  Call it
 * after json_only_keys: with at most N names allowed, a repeat shows within
 * the first N + 1 keys, so the quadratic scan stays short whatever the
 * input. */
static const char *dup_key(yajl_val obj)
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
	char buf[POLICY_HOST_MAX + 1];
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
	if (host_norm(s, buf)) {
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
		return fail(c->err, c->errlen, -EINVAL, "rule %zu: missing '%s'", i, field);
	if (!YAJL_IS_ARRAY(v))
		return fail(c->err, c->errlen, -EINVAL, "rule %zu: '%s' must be an array", i,
			    field);
	if (v->u.array.len == 0)
		return fail(c->err, c->errlen, -EINVAL, "rule %zu: '%s' is empty", i, field);
	if (v->u.array.len > max)
		return fail(c->err, c->errlen, -E2BIG, "rule %zu: '%s' has more than %zu entries",
			    i, field, max);
	for (size_t k = 0; k < v->u.array.len; k++)
		if (!YAJL_IS_STRING(v->u.array.values[k]))
			return fail(c->err, c->errlen, -EINVAL,
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
			return fail(c->err, c->errlen, rc, "rule %zu: %s[%zu] '%s': %s", i, field,
				    k, shown(s, sb), why);
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
	static const char *const keys[] = {"from", "to", "ports", "name", NULL};
	yajl_val from, to, ports, name;
	const char *bad;
	char sb[64];
	int nf, nt, np, rc;

	if (!YAJL_IS_OBJECT(v))
		return fail(c->err, c->errlen, -EINVAL, "rule %zu: must be an object", i);
	if (json_only_keys(v, keys, &bad))
		return fail(c->err, c->errlen, -EINVAL, "rule %zu: unknown member '%s'", i,
			    shown(bad, sb));
	if ((bad = dup_key(v)))
		return fail(c->err, c->errlen, -EINVAL, "rule %zu: member '%s' given twice", i,
			    bad);
	from = json_get(v, "from");
	to = json_get(v, "to");
	ports = json_get(v, "ports");
	name = json_get(v, "name");
	if ((nf = list_check(c, i, "from", from, POLICY_MAX_SEL)) < 0)
		return nf;
	if ((nt = list_check(c, i, "to", to, POLICY_MAX_SEL)) < 0)
		return nt;
	if ((np = list_check(c, i, "ports", ports, POLICY_MAX_PORTS)) < 0)
		return np;
	if (name && (!YAJL_IS_STRING(name) || !name_ok(name->u.string)))
		return fail(c->err, c->errlen, -EINVAL,
			    "rule %zu: 'name' must be a string of 1 to %d bytes without control "
			    "characters",
			    i, POLICY_NAME_MAX);
	r->sel = calloc((size_t)(nf + nt), sizeof(*r->sel));
	r->ports = calloc((size_t)np, sizeof(*r->ports));
	if (name)
		r->name = strdup(name->u.string);
	if (!r->sel || !r->ports || (name && !r->name))
		return fail(c->err, c->errlen, -ENOMEM, "out of memory");
	r->nfrom = (uint16_t)nf;
	r->nto = (uint16_t)nt;
	r->nports = (uint16_t)np;
	if ((rc = sels_parse(c, i, "from", from, r->sel)) ||
	    (rc = sels_parse(c, i, "to", to, r->sel + nf)))
		return rc;
	for (int k = 0; k < np; k++) {
		const char *s = ports->u.array.values[k]->u.string, *why;
		if ((why = port_parse(s, &r->ports[k])))
			return fail(c->err, c->errlen, -EINVAL, "rule %zu: ports[%d] '%s': %s", i,
				    k, shown(s, sb), why);
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

	if (has_nul_escape(json, len))
		return fail(c->err, c->errlen, -EINVAL, "invalid JSON: NUL character in a string");
	root = json_parse(json, len, 0, jerr, sizeof(jerr));
	if (!root)
		return fail(c->err, c->errlen, -EINVAL, "invalid JSON: %s",
			    jerr[0] ? jerr : "out of memory");
	if (!YAJL_IS_OBJECT(root)) {
		rc = fail(c->err, c->errlen, -EINVAL, "a policy must be a JSON object");
		goto out;
	}
	if (json_only_keys(root, keys, &bad)) {
		rc = fail(c->err, c->errlen, -EINVAL, "unknown member '%s'", shown(bad, sb));
		goto out;
	}
	if ((bad = dup_key(root))) {
		rc = fail(c->err, c->errlen, -EINVAL, "member '%s' given twice", bad);
		goto out;
	}
	rules = json_get(root, "rules");
	if (!rules || !YAJL_IS_ARRAY(rules)) {
		rc = fail(c->err, c->errlen, -EINVAL, "'rules' must be an array");
		goto out;
	}
	if (rules->u.array.len > POLICY_MAX_RULES) {
		rc = fail(c->err, c->errlen, -E2BIG, "more than %d rules", POLICY_MAX_RULES);
		goto out;
	}
	c->p->rules = calloc(rules->u.array.len ? rules->u.array.len : 1, sizeof(struct prule));
	if (!c->p->rules) {
		rc = fail(c->err, c->errlen, -ENOMEM, "out of memory");
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

static int parse_common(const char *json, size_t len, policy_resolve_fn resolve, void *arg,
			struct policy **out, char *err, size_t errlen)
{
	struct pctx c = {.resolve = resolve, .arg = arg, .err = err, .errlen = errlen};
	int rc;

	*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	if (!json)
		return fail(err, errlen, -EINVAL, "no policy text");
	/* Bounded before yajl builds a tree of it (several times its size). */
	if (len > POLICY_MAX_BYTES)
		return fail(err, errlen, -E2BIG, "%zu bytes of JSON, more than %d (%d MiB)", len,
			    POLICY_MAX_BYTES, POLICY_MAX_BYTES >> 20);
	c.p = calloc(1, sizeof(*c.p));
	if (!c.p)
		return fail(err, errlen, -ENOMEM, "out of memory");
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
	return parse_common(json, len, NULL, NULL, out, err, errlen);
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

static void sel_gen(const struct policy *p, struct json_gen *j, const struct psel *s)
{
	char buf[POLICY_TAG_MAX + 8];

	if (s->kind == SEL_ANY)
		snprintf(buf, sizeof(buf), "*");
	else if (s->kind == SEL_TAG)
		snprintf(buf, sizeof(buf), "tag:%s", p->tags[s->val]);
	else
		snprintf(buf, sizeof(buf), "node:%u", (unsigned)s->val);
	jg_str(j, buf);
}

int policy_gen(const struct policy *p, struct json_gen *j)
{
	char buf[32];

	jg_map_open(j);
	jg_key(j, "rules");
	jg_array_open(j);
	for (size_t i = 0; p && i < p->nrules; i++) {
		const struct prule *r = &p->rules[i];
		jg_map_open(j);
		jg_key(j, "from");
		jg_array_open(j);
		for (size_t k = 0; k < r->nfrom; k++)
			sel_gen(p, j, &r->sel[k]);
		jg_array_close(j);
		jg_key(j, "to");
		jg_array_open(j);
		for (size_t k = 0; k < r->nto; k++)
			sel_gen(p, j, &r->sel[r->nfrom + k]);
		jg_array_close(j);
		jg_key(j, "ports");
		jg_array_open(j);
		for (size_t k = 0; k < r->nports; k++) {
			port_text(&r->ports[k], buf);
			jg_str(j, buf);
		}
		jg_array_close(j);
		if (r->name)
			jg_kstr(j, "name", r->name);
		jg_map_close(j);
	}
	jg_array_close(j);
	jg_map_close(j);
	return j->err ? -EINVAL : 0;
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
		return fail(err, errlen, -EINVAL, "no resolver");
	rc = parse_common(json, len, resolve, arg, &p, err, errlen);
	if (rc)
		return rc;
	rc = json_gen_init(&j);
	if (rc) {
		policy_free(p);
		return fail(err, errlen, rc, "out of memory");
	}
	if ((rc = policy_gen(p, &j)) || (rc = json_gen_finish(&j, &buf, &n))) {
		rc = fail(err, errlen, rc, "cannot generate the canonical policy");
		goto out;
	}
	*out = malloc(n + 1);
	if (!*out) {
		rc = fail(err, errlen, -ENOMEM, "out of memory");
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

static int sel_match(const struct policy *p, const struct psel *s, size_t n,
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
		    sel_match(p, r->sel, r->nfrom, from) &&
		    sel_match(p, r->sel + r->nfrom, r->nto, to)) {
			if (rule)
				*rule = (int)i;
			return 1;
		}
	}
	return 0;
}

/* ---------------------------------------------------------------- view_gen */

/* What one (peer, direction) is allowed so far, as packed keys (see
 * pkey).  Rules append their ports; the new tail is sorted and merged into
 * the clean prefix whenever it outgrows it, so memory stays proportional
 * to the merged result even when thousands of rules select the same pair.
 * "*" makes the rest moot. */
struct vg_acc {
	uint64_t *v;
	uint32_t n, cap, clean;
	uint8_t all;
};

struct vg_node {
	uint32_t node, idx;
};

struct vg {
	size_t n, self;
	struct vg_node *by_node;     /* (node, member index) sorted by node */
	uint32_t *tag_off, *tag_mem; /* members carrying policy tag t: tag_mem[tag_off[t]..t+1] */
	uint32_t *stamp, gen;	     /* dedupes a member selected twice by one rule side */
	struct vg_acc *acc;	     /* [2 * member + DIR_IN / DIR_OUT] */
	uint64_t rkeys[POLICY_MAX_PORTS]; /* the current rule's ports, packed */
	size_t nrkeys;
	int rany;      /* the current rule has "*" */
	uint64_t *tmp; /* scratch for sorting and merging */
	size_t tmp_cap;
};

/* (proto, lo, hi) in one integer whose order is the order ranges merge in:
 * by protocol, then start, then end.  Sorting 6-byte structs through
 * qsort's generic path cost more than everything else in view_gen. */
static uint64_t pkey(const struct pport *pp)
{
	return (uint64_t)pp->proto << 32 | (uint64_t)pp->lo << 16 | pp->hi;
}

#define PKEY_PROTO(k) ((uint8_t)((k) >> 32))
#define PKEY_LO(k) ((uint16_t)((k) >> 16))
#define PKEY_HI(k) ((uint16_t)(k))

/* LSD radix sort on the 40 significant bits, a byte at a time, skipping
 * bytes all keys share; insertion sort for short runs. */
static void keys_sort(uint64_t *a, size_t n, uint64_t *tmp)
{
	if (n <= 32) {
		for (size_t i = 1; i < n; i++) {
			uint64_t x = a[i];
			size_t k = i;
			for (; k > 0 && a[k - 1] > x; k--)
				a[k] = a[k - 1];
			a[k] = x;
		}
		return;
	}
	for (unsigned shift = 0; shift < 40; shift += 8) {
		size_t cnt[256] = {0}, sum = 0;
		for (size_t i = 0; i < n; i++)
			cnt[(a[i] >> shift) & 255]++;
		if (cnt[(a[0] >> shift) & 255] == n)
			continue;
		for (size_t d = 0; d < 256; d++) {
			size_t c = cnt[d];
			cnt[d] = sum;
			sum += c;
		}
		for (size_t i = 0; i < n; i++)
			tmp[cnt[(a[i] >> shift) & 255]++] = a[i];
		memcpy(a, tmp, n * sizeof(*a));
	}
}

/* Append \p k to the sorted, merged run out[0..*o): overlapping or adjacent
 * ranges of one protocol become one (32-bit sum: hi may be 65535). */
static void keys_push(uint64_t *out, uint32_t *o, uint64_t k)
{
	if (*o) {
		uint64_t last = out[*o - 1];
		if (PKEY_PROTO(last) == PKEY_PROTO(k) &&
		    (uint32_t)PKEY_LO(k) <= (uint32_t)PKEY_HI(last) + 1) {
			if (PKEY_HI(k) > PKEY_HI(last))
				out[*o - 1] = (last & ~(uint64_t)0xffff) | PKEY_HI(k);
			return;
		}
	}
	out[(*o)++] = k;
}

static int vg_tmp(struct vg *g, size_t n)
{
	uint64_t *t;

	if (n <= g->tmp_cap)
		return 0;
	n = MAX(n, 2 * g->tmp_cap);
	t = realloc(g->tmp, n * sizeof(*t));
	if (!t)
		return -ENOMEM;
	g->tmp = t;
	g->tmp_cap = n;
	return 0;
}

static int acc_compact(struct vg *g, struct vg_acc *a)
{
	uint32_t i = 0, k = a->clean, o = 0;
	int rc;

	if (a->n == a->clean)
		return 0;
	if ((rc = vg_tmp(g, a->n)))
		return rc;
	keys_sort(a->v + a->clean, a->n - a->clean, g->tmp);
	while (i < a->clean || k < a->n) {
		if (k == a->n || (i < a->clean && a->v[i] <= a->v[k]))
			keys_push(g->tmp, &o, a->v[i++]);
		else
			keys_push(g->tmp, &o, a->v[k++]);
	}
	memcpy(a->v, g->tmp, o * sizeof(*a->v));
	a->n = a->clean = o;
	return 0;
}

static int acc_add(struct vg *g, struct vg_acc *a)
{
	if (a->all)
		return 0;
	if (g->rany) {
		free(a->v);
		a->v = NULL;
		a->n = a->cap = a->clean = 0;
		a->all = 1;
		return 0;
	}
	if (a->n + g->nrkeys > a->cap) {
		size_t cap = MAX((size_t)a->cap * 2, a->n + g->nrkeys);
		uint64_t *nv = realloc(a->v, cap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		a->v = nv;
		a->cap = (uint32_t)cap;
	}
	memcpy(a->v + a->n, g->rkeys, g->nrkeys * sizeof(*a->v));
	a->n += (uint32_t)g->nrkeys;
	if (a->n > 2 * a->clean + 256)
		return acc_compact(g, a);
	return 0;
}

static int vg_visit(struct vg *g, uint32_t k, int dir)
{
	if (k == g->self || g->stamp[k] == g->gen)
		return 0;
	g->stamp[k] = g->gen;
	return acc_add(g, &g->acc[2 * (size_t)k + (size_t)dir]);
}

static long vg_find_node(const struct vg *g, uint32_t node)
{
	size_t lo = 0, hi = g->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (g->by_node[mid].node < node)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < g->n && g->by_node[lo].node == node ? (long)g->by_node[lo].idx : -1;
}

/* Give the current rule's ports to every member \p s selects, in \p dir. */
static int vg_side(struct vg *g, const struct psel *s, size_t ns, int dir)
{
	int rc = 0;

	if (++g->gen == 0) {
		memset(g->stamp, 0, g->n * sizeof(*g->stamp));
		g->gen = 1;
	}
	for (size_t i = 0; i < ns && !rc; i++) {
		if (s[i].kind == SEL_ANY) {
			for (uint32_t k = 0; k < g->n && !rc; k++)
				rc = vg_visit(g, k, dir);
			break; /* everyone has been visited */
		} else if (s[i].kind == SEL_TAG) {
			for (uint32_t x = g->tag_off[s[i].val]; x < g->tag_off[s[i].val + 1] && !rc;
			     x++)
				rc = vg_visit(g, g->tag_mem[x], dir);
		} else {
			long k = vg_find_node(g, s[i].val);
			if (k >= 0)
				rc = vg_visit(g, (uint32_t)k, dir);
		}
	}
	return rc;
}

static int cmp_vg_node(const void *a, const void *b)
{
	const struct vg_node *x = a, *y = b;

	return (x->node > y->node) - (x->node < y->node);
}

static void vg_free(struct vg *g)
{
	for (size_t k = 0; g->acc && k < 2 * g->n; k++)
		free(g->acc[k].v);
	free(g->acc);
	free(g->by_node);
	free(g->tag_off);
	free(g->tag_mem);
	free(g->stamp);
	free(g->tmp);
}

/* Index the members: by node (unique, self among them), and for each tag
 * the policy uses, the members that carry it. */
static int vg_init(struct vg *g, const struct policy *p, const struct policy_member *m, size_t n,
		   uint32_t self)
{
	uint32_t *pos = NULL;
	size_t ntm = 0;
	long s;
	int rc = 0;

	memset(g, 0, sizeof(*g));
	g->n = n;
	if (n > UINT32_MAX / 2)
		return -E2BIG;
	g->by_node = calloc(n ? n : 1, sizeof(*g->by_node));
	g->stamp = calloc(n ? n : 1, sizeof(*g->stamp));
	g->acc = calloc(n ? 2 * n : 1, sizeof(*g->acc));
	g->tag_off = calloc(p->ntags + 1, sizeof(*g->tag_off));
	pos = calloc(p->ntags + 1, sizeof(*pos));
	if (!g->by_node || !g->stamp || !g->acc || !g->tag_off || !pos) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t k = 0; k < n; k++) {
		if (m[k].node == 0) {
			rc = -EINVAL;
			goto out;
		}
		g->by_node[k].node = m[k].node;
		g->by_node[k].idx = (uint32_t)k;
		for (size_t t = 0; m[k].tags && m[k].tags[t]; t++) {
			long x = tag_find(p, m[k].tags[t]);
			if (x >= 0) {
				g->tag_off[x + 1]++;
				ntm++;
			}
		}
	}
	qsort(g->by_node, n, sizeof(*g->by_node), cmp_vg_node);
	for (size_t k = 1; k < n; k++) {
		if (g->by_node[k].node == g->by_node[k - 1].node) {
			rc = -EINVAL;
			goto out;
		}
	}
	if ((s = vg_find_node(g, self)) < 0) {
		rc = -ENOENT;
		goto out;
	}
	g->self = (size_t)s;
	for (size_t t = 0; t < p->ntags; t++)
		g->tag_off[t + 1] += g->tag_off[t];
	memcpy(pos, g->tag_off, (p->ntags + 1) * sizeof(*pos));
	g->tag_mem = calloc(ntm ? ntm : 1, sizeof(*g->tag_mem));
	if (!g->tag_mem) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t k = 0; k < n; k++) {
		for (size_t t = 0; m[k].tags && m[k].tags[t]; t++) {
			long x = tag_find(p, m[k].tags[t]);
			if (x >= 0)
				g->tag_mem[pos[x]++] = (uint32_t)k;
		}
	}
out:
	free(pos);
	return rc;
}

static size_t put_u16(char *out, uint16_t v)
{
	char d[5];
	size_t n = 0, o = 0;

	do {
		d[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		out[o++] = d[--n];
	return o;
}

/* One entry.  The ranges array is formatted here and embedded with
 * jg_raw: it is our own output, and a view holds up to millions of
 * numbers, which yajl's per-number path made the bulk of view_gen. */
static int vg_entry(struct vg *g, struct json_gen *j, uint32_t node, int dir, const uint64_t *v,
		    size_t n)
{
	size_t o = 0;
	int rc = vg_tmp(g, (n * 14 + 8) / sizeof(*g->tmp) + 1);

	if (rc)
		return rc;
	{
		char *t = (char *)g->tmp;
		t[o++] = '[';
		for (size_t i = 0; i < n; i++) {
			t[o++] = i ? ',' : '[';
			if (i)
				t[o++] = '[';
			o += put_u16(t + o, PKEY_LO(v[i]));
			t[o++] = ',';
			o += put_u16(t + o, PKEY_HI(v[i]));
			t[o++] = ']';
		}
		t[o++] = ']';
		jg_map_open(j);
		jg_ku64(j, "node", node);
		jg_kstr(j, "dir", dir == DIR_IN ? "in" : "out");
		jg_ku64(j, "proto", PKEY_PROTO(v[0]));
		jg_key(j, "ranges");
		jg_raw(j, t, o);
		jg_map_close(j);
	}
	return 0;
}

int policy_view_gen(const struct policy *p, const struct policy_member *members, size_t n,
		    uint32_t self, struct json_gen *j)
{
	static const struct pport any = {POLICY_P_ANY, 0, 65535};
	const uint64_t all = pkey(&any);
	size_t entries = 0, ranges = 0;
	struct vg g;
	int rc;

	if (!p || p->nrules == 0) {
		jg_map_open(j);
		jg_kbool(j, "default_deny", 0);
		jg_key(j, "allow");
		jg_array_open(j);
		jg_array_close(j);
		jg_map_close(j);
		return j->err ? -EINVAL : 0;
	}
	if (!members && n)
		return -EINVAL;
	rc = vg_init(&g, p, members, n, self);
	for (size_t i = 0; i < p->nrules && !rc; i++) {
		const struct prule *r = &p->rules[i];
		int out = sel_match(p, r->sel, r->nfrom, &members[g.self]),
		    in = sel_match(p, r->sel + r->nfrom, r->nto, &members[g.self]);
		if (!out && !in)
			continue;
		g.rany = 0;
		g.nrkeys = r->nports;
		for (size_t k = 0; k < r->nports; k++) {
			g.rkeys[k] = pkey(&r->ports[k]);
			g.rany |= r->ports[k].proto == POLICY_P_ANY;
		}
		/* out: self opens to whom "to" selects; in: whom "from"
		 * selects opens to self. */
		if (out)
			rc = vg_side(&g, r->sel + r->nfrom, r->nto, DIR_OUT);
		if (!rc && in)
			rc = vg_side(&g, r->sel, r->nfrom, DIR_IN);
	}
	/* Size it before writing a byte: never produce what pilotd refuses. */
	for (size_t k = 0; k < 2 * n && !rc; k++) {
		struct vg_acc *a = &g.acc[k];
		if (a->all) {
			entries++;
			ranges++;
			continue;
		}
		rc = acc_compact(&g, a);
		ranges += a->n;
		for (uint32_t x = 0; x < a->n; x++)
			entries += x == 0 || PKEY_PROTO(a->v[x]) != PKEY_PROTO(a->v[x - 1]);
	}
	if (rc)
		goto out;
	if (entries > VIEW_MAX_ENTRIES || ranges > VIEW_MAX_RANGES) {
		rc = -E2BIG;
		goto out;
	}
	jg_map_open(j);
	jg_kbool(j, "default_deny", 1);
	jg_key(j, "allow");
	jg_array_open(j);
	/* Sorted by node, then "in" before "out", then protocol. */
	for (size_t x = 0; x < n && !rc; x++) {
		uint32_t k = g.by_node[x].idx, node = g.by_node[x].node;
		for (int dir = DIR_IN; dir <= DIR_OUT && !rc; dir++) {
			const struct vg_acc *a = &g.acc[2 * (size_t)k + (size_t)dir];
			uint32_t s = 0, e;
			if (a->all)
				rc = vg_entry(&g, j, node, dir, &all, 1);
			for (; !a->all && s < a->n && !rc; s = e) {
				for (e = s + 1;
				     e < a->n && PKEY_PROTO(a->v[e]) == PKEY_PROTO(a->v[s]); e++)
					;
				rc = vg_entry(&g, j, node, dir, a->v + s, e - s);
			}
		}
	}
	jg_array_close(j);
	jg_map_close(j);
	if (!rc && j->err)
		rc = -EINVAL;
out:
	vg_free(&g);
	return rc;
}

/* ---------------------------------------------------------------- the view */

struct pv_range {
	uint16_t lo, hi;
};

/* Protocol classes: an entry per (peer, dir) holds up to one range list
 * for each, so the lookup indexes instead of searching for the protocol. */
enum { PC_ANY, PC_TCP, PC_UDP, PC_ICMP, PC_N };

struct pv_slot {
	uint32_t peer; /* 0: empty slot (node IDs start at 1) */
	uint32_t dir;
	uint32_t off[PC_N], n[PC_N]; /* ranges[off..off + n); n = 0: none */
};

struct policy_view {
	struct pv_slot *slots; /* open addressing, load <= 1/2 */
	struct pv_range *ranges;
	uint64_t seed;
	uint32_t mask;
	int default_deny;
};

static int proto_class(uint32_t proto)
{
	switch (proto) {
	case POLICY_P_ANY:
		return PC_ANY;
	case POLICY_P_TCP:
		return PC_TCP;
	case POLICY_P_UDP:
		return PC_UDP;
	case POLICY_P_ICMP:
		return PC_ICMP;
	default:
		return -1;
	}
}

/* splitmix64's finaliser over a per-view random seed: node IDs are often
 * sequential, and whoever writes the view should not be able to aim IDs
 * at one probe chain.  Cheaper than SipHash on the per-flow path. */
static uint32_t pv_hash(const struct policy_view *v, uint32_t peer, uint32_t dir)
{
	uint64_t x = ((uint64_t)peer << 1 | dir) ^ v->seed;

	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return (uint32_t)x;
}

static struct pv_slot *pv_probe(const struct policy_view *v, uint32_t peer, uint32_t dir)
{
	uint32_t i = pv_hash(v, peer, dir) & v->mask;

	/* Terminates: at least half the slots are empty. */
	while (v->slots[i].peer && (v->slots[i].peer != peer || v->slots[i].dir != dir))
		i = (i + 1) & v->mask;
	return &v->slots[i];
}

/* First range whose hi >= port; the port is in it if its lo <= port. */
static int pv_in(const struct policy_view *v, const struct pv_slot *s, int cls, uint16_t port)
{
	const struct pv_range *r = v->ranges + s->off[cls];
	uint32_t lo = 0, hi = s->n[cls];

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (r[mid].hi < port)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < s->n[cls] && r[lo].lo <= port;
}

/* A bound in [lo, hi]: an integer 0..65535 in plain decimal. */
static int range_int(yajl_val v, uint16_t *out)
{
	uint64_t x;

	if (!v || !YAJL_IS_INTEGER(v) || !v->u.number.r ||
	    parse_dec(v->u.number.r, strlen(v->u.number.r), 65535, &x))
		return -EINVAL;
	*out = (uint16_t)x;
	return 0;
}

static int pv_entry(struct policy_view *v, size_t i, yajl_val e, size_t *used, char *err,
		    size_t errlen)
{
	static const char *const keys[] = {"node", "dir", "proto", "ranges", NULL};
	yajl_val r = json_get(e, "ranges");
	struct pv_slot *s;
	const char *bad, *dir;
	uint32_t node, proto, d;
	char sb[64];
	int cls;

	if (json_only_keys(e, keys, &bad))
		return fail(err, errlen, -EINVAL, "allow[%zu]: unknown member '%s'", i,
			    shown(bad, sb));
	if ((bad = dup_key(e)))
		return fail(err, errlen, -EINVAL, "allow[%zu]: member '%s' given twice", i,
			    shown(bad, sb));
	if (json_get_u32(e, "node", &node) || node == 0)
		return fail(err, errlen, -EINVAL,
			    "allow[%zu]: 'node' must be a node ID (1 to 4294967295)", i);
	if (json_get_str(e, "dir", &dir) || (strcmp(dir, "in") && strcmp(dir, "out")))
		return fail(err, errlen, -EINVAL, "allow[%zu]: 'dir' must be \"in\" or \"out\"", i);
	d = strcmp(dir, "in") == 0 ? DIR_IN : DIR_OUT;
	if (json_get_u32(e, "proto", &proto) || (cls = proto_class(proto)) < 0)
		return fail(err, errlen, -EINVAL, "allow[%zu]: 'proto' must be 0, 6, 17 or 58", i);
	s = pv_probe(v, node, d);
	if (s->peer && s->n[cls])
		return fail(err, errlen, -EINVAL, "allow[%zu]: node %u %s proto %u given twice", i,
			    (unsigned)node, dir, (unsigned)proto);
	s->peer = node;
	s->dir = d;
	s->off[cls] = (uint32_t)*used;
	for (size_t k = 0; k < r->u.array.len; k++) {
		yajl_val pr = r->u.array.values[k];
		struct pv_range x;
		if (!YAJL_IS_ARRAY(pr) || pr->u.array.len != 2 ||
		    range_int(pr->u.array.values[0], &x.lo) ||
		    range_int(pr->u.array.values[1], &x.hi) || x.lo > x.hi)
			return fail(err, errlen, -EINVAL,
				    "allow[%zu]: ranges[%zu] must be [lo, hi], 0 <= lo <= hi <= "
				    "65535",
				    i, k);
		/* The lookup is a binary search: refuse what is not sorted and
		 * disjoint rather than sort it. */
		if (k > 0 && x.lo <= v->ranges[*used - 1].hi)
			return fail(err, errlen, -EINVAL,
				    "allow[%zu]: ranges[%zu] does not follow the previous range", i,
				    k);
		v->ranges[(*used)++] = x;
	}
	s->n[cls] = (uint32_t)r->u.array.len;
	return 0;
}

int policy_view_parse(yajl_val root, struct policy_view **out, char *err, size_t errlen)
{
	/* The registry sends the view inside its policy_view reply, which also
	 * names the network and version (doc/REGISTRY.md). */
	static const char *const keys[] = {"default_deny", "allow", "network_id", "version", NULL};
	struct policy_view *v = NULL;
	size_t nranges = 0, used = 0, cap = 16, n;
	const char *bad;
	yajl_val allow;
	char sb[64];
	int dd, rc = 0;

	*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	if (!root || !YAJL_IS_OBJECT(root))
		return fail(err, errlen, -EINVAL, "a view must be a JSON object");
	if (json_only_keys(root, keys, &bad))
		return fail(err, errlen, -EINVAL, "unknown member '%s'", shown(bad, sb));
	if ((bad = dup_key(root)))
		return fail(err, errlen, -EINVAL, "member '%s' given twice", shown(bad, sb));
	if (json_get_bool(root, "default_deny", &dd))
		return fail(err, errlen, -EINVAL, "'default_deny' must be true or false");
	allow = json_get(root, "allow");
	if (!allow || !YAJL_IS_ARRAY(allow))
		return fail(err, errlen, -EINVAL, "'allow' must be an array");
	n = allow->u.array.len;
	if (n > VIEW_MAX_ENTRIES)
		return fail(err, errlen, -E2BIG, "more than %u entries", VIEW_MAX_ENTRIES);
	if (!dd && n)
		return fail(err, errlen, -EINVAL, "'allow' entries in a view without default deny");
	/* Count first: one allocation for all ranges, bounded before it is
	 * made. */
	for (size_t i = 0; i < n; i++) {
		yajl_val e = allow->u.array.values[i], r = json_get(e, "ranges");
		if (!YAJL_IS_OBJECT(e))
			return fail(err, errlen, -EINVAL, "allow[%zu]: must be an object", i);
		if (!r || !YAJL_IS_ARRAY(r) || r->u.array.len == 0)
			return fail(err, errlen, -EINVAL,
				    "allow[%zu]: 'ranges' must be a non-empty array", i);
		nranges += r->u.array.len;
		if (nranges > VIEW_MAX_RANGES)
			return fail(err, errlen, -E2BIG, "more than %u port ranges",
				    VIEW_MAX_RANGES);
	}
	while (cap < 2 * n)
		cap <<= 1;
	v = calloc(1, sizeof(*v));
	if (!v)
		return fail(err, errlen, -ENOMEM, "out of memory");
	v->default_deny = dd;
	v->mask = (uint32_t)cap - 1;
	v->slots = calloc(cap, sizeof(*v->slots));
	v->ranges = calloc(nranges ? nranges : 1, sizeof(*v->ranges));
	if (!v->slots || !v->ranges) {
		rc = fail(err, errlen, -ENOMEM, "out of memory");
		goto out;
	}
	randombytes_buf(&v->seed, sizeof(v->seed));
	for (size_t i = 0; i < n && !rc; i++)
		rc = pv_entry(v, i, allow->u.array.values[i], &used, err, errlen);
out:
	if (rc)
		policy_view_free(v);
	else
		*out = v;
	return rc;
}

void policy_view_free(struct policy_view *v)
{
	if (!v)
		return;
	free(v->slots);
	free(v->ranges);
	free(v);
}

int policy_view_allows(const struct policy_view *v, uint32_t peer, int inbound, uint8_t proto,
		       uint16_t port)
{
	const struct pv_slot *s;
	int cls;

	/* No view, or a network without rules: nothing to refuse here (the
	 * earlier admission steps still apply). */
	if (!v || !v->default_deny)
		return 1;
	if (peer == 0)
		return 0;
	s = pv_probe(v, peer, inbound ? DIR_IN : DIR_OUT);
	if (!s->peer)
		return 0;
	cls = proto_class(proto);
	if (cls == PC_ICMP && s->n[PC_ICMP])
		return 1; /* ICMPv6 echo has no port */
	if ((cls == PC_TCP || cls == PC_UDP) && s->n[cls] && pv_in(v, s, cls, port))
		return 1;
	/* "*" rules: every protocol, every port. */
	return s->n[PC_ANY] && pv_in(v, s, PC_ANY, port);
}

int policy_view_default_deny(const struct policy_view *v)
{
	return v ? v->default_deny : 0;
}
