/* policy_view.c - a policy written back out: its canonical document
 * (policy_gen) and one node's view of a network (policy_view_gen, the
 * compiler); and in pilotd, that view read back (untrusted, bounded) into
 * a hash of (peer, direction) over merged port ranges for the data path's
 * lookup. */
#include "config.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "policy_int.h"
#include "util.h"

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

/* "claim:NAME=VALUE" from the interned "NAME=VALUE". */
static void jg_key_claim(struct json_gen *j, const char *claim)
{
	char buf[8 + 256];

	snprintf(buf, sizeof(buf), "claim:%s", claim);
	jg_str(j, buf);
}

static void sel_gen(const struct policy *p, struct json_gen *j, const struct psel *s)
{
	char buf[POLICY_TAG_MAX + 8];

	if (s->kind == SEL_SPIFFE) {
		jg_str(j, p->tags[s->val]);
		return;
	}
	if (s->kind == SEL_CLAIM) {
		jg_key_claim(j, p->tags[s->val]);
		return;
	}
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
		if (r->min_score)
			jg_ku64(j, "min_score", (uint64_t)r->min_score);
		jg_map_close(j);
	}
	jg_array_close(j);
	jg_map_close(j);
	return j->err ? -EINVAL : 0;
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
	const struct policy *p;
	const struct policy_member *m; /* the members, as given */
	struct vg_node *by_node;       /* (node, member index) sorted by node */
	uint32_t *tag_off, *tag_mem;   /* members carrying policy tag t: tag_mem[tag_off[t]..t+1] */
	uint32_t *stamp, gen;	       /* dedupes a member selected twice by one rule side */
	struct vg_acc *acc;	       /* [2 * member + DIR_IN / DIR_OUT] */
	uint64_t rkeys[POLICY_MAX_PORTS]; /* the current rule's ports, packed */
	size_t nrkeys;
	int rany;      /* the current rule has "*" */
	int rmin;      /* ... its min_score: who "from" selects must reach it */
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
	/* A peer below the rule's min_score opens nothing by it. */
	if (dir == DIR_IN && g->m[k].score < g->rmin)
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
		} else if (s[i].kind == SEL_SPIFFE || s[i].kind == SEL_CLAIM) {
			/* Rare, and not indexed: each member is asked. */
			for (uint32_t k = 0; k < g->n && !rc; k++)
				if (policy_sel_match_one(g->p, &s[i], &g->m[k]))
					rc = vg_visit(g, k, dir);
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
	g->p = p;
	g->m = m;
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
			long x = policy_tag_find(p, m[k].tags[t]);
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
			long x = policy_tag_find(p, m[k].tags[t]);
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
		int out = members[g.self].score >= r->min_score &&
			  policy_sel_match(p, r->sel, r->nfrom, &members[g.self]),
		    in = policy_sel_match(p, r->sel + r->nfrom, r->nto, &members[g.self]);
		if (!out && !in)
			continue;
		g.rany = 0;
		g.rmin = r->min_score;
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
	    policy_parse_dec(v->u.number.r, strlen(v->u.number.r), 65535, &x))
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
		return policy_fail(err, errlen, -EINVAL, "allow[%zu]: unknown member '%s'", i,
				   policy_shown(bad, sb));
	if ((bad = policy_dup_key(e)))
		return policy_fail(err, errlen, -EINVAL, "allow[%zu]: member '%s' given twice", i,
				   policy_shown(bad, sb));
	if (json_get_u32(e, "node", &node) || node == 0)
		return policy_fail(err, errlen, -EINVAL,
				   "allow[%zu]: 'node' must be a node ID (1 to 4294967295)", i);
	if (json_get_str(e, "dir", &dir) || (strcmp(dir, "in") && strcmp(dir, "out")))
		return policy_fail(err, errlen, -EINVAL,
				   "allow[%zu]: 'dir' must be \"in\" or \"out\"", i);
	d = strcmp(dir, "in") == 0 ? DIR_IN : DIR_OUT;
	if (json_get_u32(e, "proto", &proto) || (cls = proto_class(proto)) < 0)
		return policy_fail(err, errlen, -EINVAL,
				   "allow[%zu]: 'proto' must be 0, 6, 17 or 58", i);
	s = pv_probe(v, node, d);
	if (s->peer && s->n[cls])
		return policy_fail(err, errlen, -EINVAL,
				   "allow[%zu]: node %u %s proto %u given twice", i, (unsigned)node,
				   dir, (unsigned)proto);
	s->peer = node;
	s->dir = d;
	s->off[cls] = (uint32_t)*used;
	for (size_t k = 0; k < r->u.array.len; k++) {
		yajl_val pr = r->u.array.values[k];
		struct pv_range x;
		if (!YAJL_IS_ARRAY(pr) || pr->u.array.len != 2 ||
		    range_int(pr->u.array.values[0], &x.lo) ||
		    range_int(pr->u.array.values[1], &x.hi) || x.lo > x.hi)
			return policy_fail(
			    err, errlen, -EINVAL,
			    "allow[%zu]: ranges[%zu] must be [lo, hi], 0 <= lo <= hi <= "
			    "65535",
			    i, k);
		/* The lookup is a binary search: refuse what is not sorted and
		 * disjoint rather than sort it. */
		if (k > 0 && x.lo <= v->ranges[*used - 1].hi)
			return policy_fail(
			    err, errlen, -EINVAL,
			    "allow[%zu]: ranges[%zu] does not follow the previous range", i, k);
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
		return policy_fail(err, errlen, -EINVAL, "a view must be a JSON object");
	if (json_only_keys(root, keys, &bad))
		return policy_fail(err, errlen, -EINVAL, "unknown member '%s'",
				   policy_shown(bad, sb));
	if ((bad = policy_dup_key(root)))
		return policy_fail(err, errlen, -EINVAL, "member '%s' given twice",
				   policy_shown(bad, sb));
	if (json_get_bool(root, "default_deny", &dd))
		return policy_fail(err, errlen, -EINVAL, "'default_deny' must be true or false");
	allow = json_get(root, "allow");
	if (!allow || !YAJL_IS_ARRAY(allow))
		return policy_fail(err, errlen, -EINVAL, "'allow' must be an array");
	n = allow->u.array.len;
	if (n > VIEW_MAX_ENTRIES)
		return policy_fail(err, errlen, -E2BIG, "more than %u entries", VIEW_MAX_ENTRIES);
	if (!dd && n)
		return policy_fail(err, errlen, -EINVAL,
				   "'allow' entries in a view without default deny");
	/* Count first: one allocation for all ranges, bounded before it is
	 * made. */
	for (size_t i = 0; i < n; i++) {
		yajl_val e = allow->u.array.values[i], r = json_get(e, "ranges");
		if (!YAJL_IS_OBJECT(e))
			return policy_fail(err, errlen, -EINVAL, "allow[%zu]: must be an object",
					   i);
		if (!r || !YAJL_IS_ARRAY(r) || r->u.array.len == 0)
			return policy_fail(err, errlen, -EINVAL,
					   "allow[%zu]: 'ranges' must be a non-empty array", i);
		nranges += r->u.array.len;
		if (nranges > VIEW_MAX_RANGES)
			return policy_fail(err, errlen, -E2BIG, "more than %u port ranges",
					   VIEW_MAX_RANGES);
	}
	while (cap < 2 * n)
		cap <<= 1;
	v = calloc(1, sizeof(*v));
	if (!v)
		return policy_fail(err, errlen, -ENOMEM, "out of memory");
	v->default_deny = dd;
	v->mask = (uint32_t)cap - 1;
	v->slots = calloc(cap, sizeof(*v->slots));
	v->ranges = calloc(nranges ? nranges : 1, sizeof(*v->ranges));
	if (!v->slots || !v->ranges) {
		rc = policy_fail(err, errlen, -ENOMEM, "out of memory");
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
