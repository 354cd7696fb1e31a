/* rdv_reg_policy.c - network policy (pilot-policy(5)): show, test and a
 * node's view of it, the admin's policy_set, and the policy.changed events
 * that membership and tag changes cause.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "audit.h"
#include "json.h"
#include "log.h"
#include "policy.h"
#include "rdv_reg_int.h"
#include "util.h"

/* policy.changed {network_id, version} to every member of \p net. */
int reg_policy_tell(struct reg_ctx *c, uint16_t net, uint64_t version)
{
	struct ev_body b = {.network_id = net, .version = version};
	struct idset m = {0};
	int rc = 0;

	if (rdv_member_iter(&c->t, c->db, net, reg_idset_cb, &m) < 0)
		rc = reg_fail(c, -EIO, "registry store error");
	for (size_t i = 0; rc == 0 && i < m.n; i++)
		reg_queue_event(c, m.v[i], "policy.changed", &b);
	reg_idset_free(&m);
	return rc;
}

/* The members or their tags changed in \p net: views depend on both, so
 * when the network has rules every member is told to fetch its view
 * again.  (Without rules a view is "admit everything", whoever is in.) */
int reg_policy_touch(struct reg_ctx *c, uint16_t net)
{
	struct rdv_policy p;

	if (rdv_policy_get(&c->t, c->db, net, &p, 0) < 0)
		return reg_fail(c, -EIO, "registry store error");
	return p.rules ? reg_policy_tell(c, net, p.version) : 0;
}

/* reg_policy_touch for every network of \p node. */
int reg_policy_touch_node(struct reg_ctx *c, uint32_t node)
{
	struct idset nets = {0};
	int rc = 0;

	if (rdv_node_net_iter(&c->t, c->db, node, reg_idset_cb, &nets) < 0)
		rc = reg_fail(c, -EIO, "registry store error");
	for (size_t i = 0; rc == 0 && i < nets.n; i++)
		rc = reg_policy_touch(c, (uint16_t)nets.v[i]);
	reg_idset_free(&nets);
	return rc;
}

/* ------------------------------------------------------------ policy */

/* Member `network_id` of a policy request: a network the caller may read
 * the policy of.  A node must be a member (not a member and no such
 * network are the same forbidden, as for network_nodes); the admin gets
 * not_found for a network that does not exist. */
static int policy_net(struct reg_ctx *c, uint16_t *id)
{
	struct rdv_network net;
	int rc;

	if ((rc = reg_get_net(c, id, NULL)) < 0)
		return rc;
	if (!c->admin) {
		if (*id == 0 || !rdv_member_has(&c->t, c->db, *id, c->self_id))
			return reg_fail(c, -EACCES, "not a member of network %u", *id);
		return 0;
	}
	if (*id == 0)
		return reg_fail(c, -EINVAL, "the backbone (network 0) has no policy");
	return reg_load_net(c, *id, &net);
}

int reg_op_policy_show(struct reg_ctx *c)
{
	struct rdv_policy p;
	uint16_t id = 0;
	int rc;

	if ((rc = policy_net(c, &id)) < 0)
		return rc;
	if (rdv_policy_get(&c->t, c->db, id, &p, 1) < 0)
		return reg_fail(c, -EIO, "registry store error");
	jg_ku64(&c->out, "network_id", id);
	jg_ku64(&c->out, "version", p.version);
	jg_key(&c->out, "policy");
	/* Stored canonical (policy_gen's output), so it goes out verbatim. */
	if (p.json)
		jg_raw(&c->out, p.json, p.len);
	else
		jg_raw(&c->out, "{\"rules\":[]}", strlen("{\"rules\":[]}"));
	rdv_policy_free(&p);
	return 0;
}

/* A member's external identity (oidc, spiffe) as the evaluator sees it. */
struct pext {
	struct rdv_ext e;
	const char *claims[RDV_EXT_CLAIMS_MAX + 1];
};

/* Point \p m at \p x, loaded for \p node in \p net: nothing when the
 * member was admitted on no token.  \retval 1 loaded, 0 none. */
static int pext_load(struct reg_ctx *c, uint16_t net, uint32_t node, struct pext *x,
		     struct policy_member *m)
{
	size_t k = 0;

	if (net == 0 || rdv_net_ext_get(&c->t, c->db, net, node, &x->e) < 0)
		return 0;
	for (; k < x->e.nclaims && k < RDV_EXT_CLAIMS_MAX; k++)
		x->claims[k] = x->e.claims[k];
	x->claims[k] = NULL;
	m->external_id = x->e.sub;
	m->claims = x->claims;
	return 1;
}

/* A policy_member for \p n: tags as a NULL-terminated pointer array. */
struct pmember {
	struct policy_member m;
	const char *tags[RDV_TAGS_MAX + 1];
	struct pext x;
};

static void pmember_set(struct pmember *pm, const struct rdv_node *n)
{
	size_t k = 0;

	memset(&pm->m, 0, sizeof(pm->m));
	for (; k < n->ntags && k < RDV_TAGS_MAX; k++)
		pm->tags[k] = n->tags[k];
	pm->tags[k] = NULL;
	pm->m.node = n->id;
	pm->m.tags = pm->tags;
}

/* Member \p key of policy_test: a node ID (number or digits), an address
 * "N:NNNN.HHHH.LLLL" or a hostname (with or without ".pilot").  \p n gets
 * the node with its tags when they count: for a node asking, those of
 * members of \p net (anyone else is tested without tags); a hostname must
 * name a member or a node the caller can see, else it is not_found like a
 * name nobody has. */
static int policy_party(struct reg_ctx *c, const char *key, uint16_t net, struct rdv_node *n)
{
	char host[RDV_HOSTNAME_MAX + 1];
	yajl_val v = json_get(c->req.root, key);
	struct pilot_addr a;
	struct rdv_node tmp;
	const char *s;
	uint32_t id = 0;
	int by_name = 0, rc;

	memset(n, 0, sizeof(*n));
	if (v && YAJL_IS_INTEGER(v)) {
		if (json_get_u32(c->req.root, key, &id) < 0)
			id = 0;
	} else if (v && YAJL_IS_STRING(v)) {
		s = v->u.string;
		if (s[0] && strspn(s, "0123456789") == strlen(s)) {
			unsigned long long x = strlen(s) <= 10 ? strtoull(s, NULL, 10) : 0;
			id = x <= UINT32_MAX ? (uint32_t)x : 0;
		} else if (addr_parse(s, &a) == 0) {
			id = a.node;
		} else {
			char what[32];

			snprintf(what, sizeof(what), "member '%s': ", key);
			if ((rc = reg_host_find(c, s, what, host, &id)) < 0)
				return rc;
			by_name = 1;
		}
	} else {
		return reg_fail(c, -EINVAL, "member '%s' must be a node ID, address or hostname",
				key);
	}
	if (id == 0)
		return reg_fail(c, -EINVAL, "member '%s' must be a node ID, address or hostname",
				key);
	n->id = id;
	rc = reg_load_node(c, id, &tmp);
	if (rc < 0 && rc != -ENOENT)
		return rc;
	if (rc == 0 && (c->admin || id == c->self_id || rdv_member_has(&c->t, c->db, net, id))) {
		*n = tmp;
		rdv_member_tags(&c->t, c->db, net, n);
		return 0;
	}
	if (by_name && (rc < 0 || c->admin || !rdv_visible(&c->t, c->db, c->self_id, &tmp)))
		return reg_fail(c, -ENOENT, "no such node");
	return 0;
}

/* "tcp/443", "udp/53", "icmp". */
static int policy_port(struct reg_ctx *c, uint8_t *proto, uint16_t *port)
{
	const char *s, *num;
	char *end;
	unsigned long v;

	if (json_get_str(c->req.root, "port", &s) < 0)
		goto bad;
	*port = 0;
	if (strcmp(s, "icmp") == 0) {
		*proto = POLICY_P_ICMP;
		return 0;
	}
	if (strncmp(s, "tcp/", 4) == 0)
		*proto = POLICY_P_TCP;
	else if (strncmp(s, "udp/", 4) == 0)
		*proto = POLICY_P_UDP;
	else
		goto bad;
	num = s + 4;
	if (num[0] < '1' || num[0] > '9' || strlen(num) > 5)
		goto bad;
	v = strtoul(num, &end, 10);
	if (*end || v == 0 || v > 65535)
		goto bad;
	*port = (uint16_t)v;
	return 0;
bad:
	return reg_fail(c, -EINVAL, "member 'port' must be tcp/PORT, udp/PORT or icmp");
}

/* The optional name of rule \p idx in the canonical document. */
static void put_rule_name(struct json_gen *j, const struct rdv_policy *p, int idx)
{
	yajl_val root = NULL, rules, name = NULL;
	char err[64];

	if (idx >= 0 && p->json)
		root = json_parse(p->json, p->len, 0, err, sizeof(err));
	rules = json_get(root, "rules");
	if (YAJL_IS_ARRAY(rules) && (size_t)idx < rules->u.array.len)
		name = json_get(rules->u.array.values[idx], "name");
	jg_kstr(j, "rule_name", YAJL_IS_STRING(name) ? name->u.string : "");
	if (root)
		yajl_tree_free(root);
}

int reg_op_policy_test(struct reg_ctx *c)
{
	struct rdv_node from, to;
	struct pmember pf, pt;
	struct rdv_policy p;
	struct policy *pol = NULL;
	char err[160];
	uint16_t id = 0, port = 0;
	uint8_t proto = 0;
	int rc, allowed, rule = -1;

	if ((rc = policy_net(c, &id)) < 0 || (rc = policy_party(c, "from", id, &from)) < 0 ||
	    (rc = policy_party(c, "to", id, &to)) < 0 || (rc = policy_port(c, &proto, &port)) < 0)
		return rc;
	if (rdv_policy_get(&c->t, c->db, id, &p, 1) < 0)
		return reg_fail(c, -EIO, "registry store error");
	if (p.rules && policy_parse(p.json, p.len, &pol, err, sizeof(err)) < 0) {
		rdv_policy_free(&p);
		return reg_fail(c, -EIO, "stored policy of network %u: %s", id, err);
	}
	pmember_set(&pf, &from);
	pmember_set(&pt, &to);
	pf.m.score = reg_rep_score_pub(c, from.id);
	pt.m.score = reg_rep_score_pub(c, to.id);
	pext_load(c, id, from.id, &pf.x, &pf.m);
	pext_load(c, id, to.id, &pt.x, &pt.m);
	allowed = policy_eval(pol, &pf.m, &pt.m, proto, port, &rule);
	jg_kbool(&c->out, "allowed", allowed == 1);
	jg_key(&c->out, "rule");
	jg_i64(&c->out, rule);
	put_rule_name(&c->out, &p, rule);
	jg_kbool(&c->out, "default_deny", p.rules > 0);
	jg_ku64(&c->out, "version", p.version);
	jg_ku64(&c->out, "from_score", (uint64_t)pf.m.score);
	/* Denied for want of score alone: which rule, and what it asks. */
	if (allowed != 1) {
		int real = pf.m.score, r2 = -1;
		pf.m.score = 100;
		if (policy_eval(pol, &pf.m, &pt.m, proto, port, &r2) == 1 && r2 >= 0) {
			jg_key(&c->out, "min_score_rule");
			jg_i64(&c->out, r2);
			jg_ku64(&c->out, "min_score",
				(uint64_t)policy_rule_min_score(pol, (size_t)r2));
		}
		pf.m.score = real;
	}
	policy_free(pol);
	rdv_policy_free(&p);
	return 0;
}

/* A member as policy_view_gen sees it: the tags are copied, since the
 * node records they come from do not outlive the scan. */
struct vnode {
	uint32_t id;
	int score; /* the published one */
	size_t ntags;
	char tags[RDV_TAGS_MAX][RDV_TAG_MAX + 1];
	const char *ptrs[RDV_TAGS_MAX + 1];
	struct pext *x; /* malloc'd for members admitted on a token, else NULL */
};

struct view_members {
	struct reg_ctx *c;
	uint16_t net;
	struct vnode *v;
	size_t n, cap;
	int ext; /* an oidc or spiffe network: members have external identities */
};

static int view_member_cb(void *arg, uint32_t id)
{
	struct view_members *vm = arg;
	struct rdv_node n;
	int rc = reg_load_node(vm->c, id, &n);

	if (rc == -ENOENT || (rc == 0 && n.revoked))
		return 0;
	if (rc < 0)
		return rc;
	if (reg_grow(&vm->v, vm->n, &vm->cap, sizeof(*vm->v)) < 0)
		return -ENOMEM;
	rdv_member_tags(&vm->c->t, vm->c->db, vm->net, &n);
	vm->v[vm->n].id = n.id;
	vm->v[vm->n].score = reg_rep_score_pub(vm->c, n.id);
	vm->v[vm->n].ntags = MIN(n.ntags, (size_t)RDV_TAGS_MAX);
	memcpy(vm->v[vm->n].tags, n.tags, sizeof(n.tags));
	vm->v[vm->n].x = NULL;
	if (vm->ext) {
		struct pext *x = malloc(sizeof(*x));
		struct policy_member scratch;
		if (!x)
			return -ENOMEM;
		if (pext_load(vm->c, vm->net, n.id, x, &scratch))
			vm->v[vm->n].x = x;
		else
			free(x);
	}
	vm->n++;
	return 0;
}

/* The caller's view of a network's policy (policy_view_gen): what pilotd
 * needs to decide its own flows there, and nothing about other pairs. */
int reg_op_policy_view(struct reg_ctx *c)
{
	struct view_members vm = {.c = c};
	struct policy_member *pm = NULL;
	struct policy *pol = NULL;
	struct rdv_policy p = {0};
	struct json_gen j;
	yajl_val view = NULL;
	const char *s;
	char err[160];
	uint16_t id = 0;
	size_t len;
	int rc;

	if ((rc = policy_net(c, &id)) < 0)
		return rc;
	if (json_gen_init(&j) < 0)
		return reg_fail(c, -EIO, "out of memory");
	vm.net = id;
	{
		struct rdv_network nw;
		vm.ext = rdv_net_get(&c->t, c->db, id, &nw) == 0 &&
			 (nw.rule == RDV_JOIN_OIDC || nw.rule == RDV_JOIN_SPIFFE);
	}
	if (rdv_policy_get(&c->t, c->db, id, &p, 1) < 0 ||
	    rdv_member_iter(&c->t, c->db, id, view_member_cb, &vm) < 0) {
		rc = reg_fail(c, -EIO, "registry store error");
		goto out;
	}
	if (p.rules && policy_parse(p.json, p.len, &pol, err, sizeof(err)) < 0) {
		rc = reg_fail(c, -EIO, "stored policy of network %u: %s", id, err);
		goto out;
	}
	pm = calloc(vm.n ? vm.n : 1, sizeof(*pm));
	if (!pm) {
		rc = reg_fail(c, -EIO, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < vm.n; i++) {
		struct vnode *v = &vm.v[i];
		for (size_t k = 0; k < v->ntags; k++)
			v->ptrs[k] = v->tags[k];
		v->ptrs[v->ntags] = NULL;
		pm[i].node = v->id;
		pm[i].tags = v->ptrs;
		pm[i].score = v->score;
		if (v->x) {
			pm[i].external_id = v->x->e.sub;
			pm[i].claims = v->x->claims;
		}
	}
	/* Generated apart and merged member by member: the view's members
	 * sit at the top level of the answer, beside network_id and
	 * version. */
	if (policy_view_gen(pol, pm, vm.n, c->self_id, &j) < 0 ||
	    json_gen_finish(&j, &s, &len) < 0 ||
	    !(view = json_parse(s, len, 0, err, sizeof(err)))) {
		rc = reg_fail(c, -EIO, "cannot compile the policy view of network %u", id);
		goto out;
	}
	jg_ku64(&c->out, "network_id", id);
	jg_ku64(&c->out, "version", p.version);
	for (size_t i = 0; YAJL_IS_OBJECT(view) && i < view->u.object.len; i++) {
		jg_key(&c->out, view->u.object.keys[i]);
		json_gen_value(&c->out, view->u.object.values[i]);
	}
	rc = 0;
out:
	if (view)
		yajl_tree_free(view);
	json_gen_free(&j);
	policy_free(pol);
	rdv_policy_free(&p);
	free(pm);
	for (size_t i = 0; i < vm.n; i++)
		free(vm.v[i].x);
	free(vm.v);
	return rc;
}

/* ------------------------------------------------------------ admin: policy */

struct policy_resolver {
	struct reg_ctx *c;
	uint16_t net;
};

/* policy_resolve_fn: a hostname (canonical) to its node.  An org's admin
 * names only members of its org or of the network. */
static int policy_resolve(void *arg, const char *name, uint32_t *node)
{
	struct policy_resolver *pr = arg;
	struct reg_ctx *c = pr->c;
	struct rdv_node n;
	uint32_t id;

	if (rdv_host_get(&c->t, c->db, name, &id) < 0 || rdv_node_get(&c->t, c->db, id, &n) < 0 ||
	    n.revoked || strcmp(n.hostname, name) != 0)
		return -ENOENT;
	if (c->org_scope && !rdv_org_member_has(&c->t, c->db, c->org_scope, id) &&
	    !rdv_member_has(&c->t, c->db, pr->net, id))
		return -ENOENT;
	*node = id;
	return 0;
}

int reg_admin_policy_set(struct reg_ctx *c)
{
	struct policy_resolver pr = {c, 0};
	struct rdv_policy old, np = {0};
	struct rdv_network net;
	struct policy *pol = NULL;
	struct json_gen j;
	yajl_val v = json_get(c->req.root, "policy");
	char err[192], sb[SUBJ_MAX], *canon = NULL;
	struct json_gen d;
	const char *text;
	size_t tlen, clen;
	int rc;

	if ((rc = reg_get_net(c, &pr.net, "the backbone (network 0) has no policy")) < 0)
		return rc;
	if (!v || !YAJL_IS_OBJECT(v))
		return reg_fail(c, -EINVAL, "member 'policy' must be a pilot-policy(5) object");
	if ((rc = reg_admin_net(c, pr.net, &net)) < 0)
		return rc;
	if (json_has_nul_escape(c->body, c->body_len))
		return reg_fail(c, -EINVAL, "policy: a string holds a NUL character");
	if (json_gen_init(&j) < 0)
		return reg_fail(c, -EIO, "out of memory");
	json_gen_value(&j, v);
	if (json_gen_finish(&j, &text, &tlen) < 0) {
		rc = reg_fail(c, -EIO, "out of memory");
		goto out;
	}
	rc = policy_normalize(text, tlen, policy_resolve, &pr, &canon, &clen, err, sizeof(err));
	if (rc == -EINVAL || rc == -ENOENT || rc == -E2BIG) {
		rc = reg_fail(c, rc == -E2BIG ? -E2BIG : -EINVAL, "policy: %s", err);
		goto out;
	}
	/* Names become "node:ID": the stored form may be the longer one, and
	 * it is what policy_show and every view are made from. */
	if (clen > POLICY_MAX_BYTES) {
		rc = reg_fail(c, -E2BIG,
			      "policy: %zu bytes in canonical form, more than %d (%d MiB)", clen,
			      POLICY_MAX_BYTES, POLICY_MAX_BYTES >> 20);
		goto out;
	}
	if (rc < 0 || policy_parse(canon, clen, &pol, err, sizeof(err)) < 0) {
		rc = reg_fail(c, -EIO, "policy: %s", rc < 0 ? strerror(-rc) : err);
		goto out;
	}
	if (rdv_policy_get(&c->t, c->db, pr.net, &old, 0) < 0) {
		rc = reg_fail(c, -EIO, "registry store error");
		goto out;
	}
	np.version = old.version + 1;
	np.rules = (uint32_t)policy_rule_count(pol);
	np.json = canon;
	np.len = clen;
	rdv_policy_put(&c->t, c->db, pr.net, &np);
	if ((rc = reg_policy_tell(c, pr.net, np.version)) < 0)
		goto out;
	if (reg_audit_begin(c, &d) == 0) {
		jg_ku64(&d, "version", np.version);
		jg_ku64(&d, "rules", np.rules);
		reg_audit_end(c, &d, "policy.changed", reg_net_subj(sb, pr.net));
	}
	log_info("admin from %s: policy of network %u is version %llu (%u rules)", c->peer_ip,
		 pr.net, (unsigned long long)np.version, np.rules);
	jg_ku64(&c->out, "network_id", pr.net);
	jg_ku64(&c->out, "version", np.version);
	jg_ku64(&c->out, "rules", np.rules);
	rc = 0;
out:
	policy_free(pol);
	free(canon);
	json_gen_free(&j);
	return rc;
}
