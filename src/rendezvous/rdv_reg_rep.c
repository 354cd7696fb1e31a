/* rdv_reg_rep.c - reputation (doc/REGISTRY.md "Reputation"): the facts
 * gathered from the store and weighed (rep.h computes the score), the
 * signed ops report, block and score, the hooks other handlers call when
 * a node's facts change (approval, trust, revocation, heartbeat), and the
 * re-evaluation that tells a network's members when a score crosses one
 * of its rules' min_score (the policy.changed of a tag change).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "log.h"
#include "policy.h"
#include "rdv_reg_int.h"
#include "rep.h"
#include "util.h"

/* Members looked at per sweep tick, and how often a pass starts. */
#define REP_SWEEP_BATCH 256
#define REP_SWEEP_EVERY_MS 60000

/* ------------------------------------------------------------ weighing */

/* rel(r, s): a trust pair or a shared network whose join rule is not
 * open counts whole, only open networks in common half, nothing (the
 * backbone) not at all. */
static uint32_t rep_rel(struct reg_ctx *c, uint32_t r, uint32_t s)
{
	uint16_t nets[16];
	uint32_t rel = 0;
	int n;

	if (rdv_trust_has(&c->t, c->db, r, s))
		return REP_REL_STRONG;
	n = rdv_shared_networks(&c->t, c->db, r, s, nets, nitems(nets));
	for (int i = 0; i < n && i < (int)nitems(nets); i++) {
		struct rdv_network net;
		if (rdv_net_get(&c->t, c->db, nets[i], &net) < 0)
			continue;
		if (net.rule != RDV_JOIN_OPEN)
			return REP_REL_STRONG;
		rel = REP_REL_OPEN;
	}
	return rel;
}

struct gather {
	struct reg_ctx *c;
	uint32_t subject;
	struct rep_facts *f;
	struct rep_pool *pool; /* approvals and trust: the pool being filled */
	uint32_t good, bad;    /* standing reports (blocks not counted) */
};

/* Counterpart \p r into \p pool: its age and its relation to the
 * subject.  A counterpart without a record, or revoked, weighs nothing. */
static void add_party(struct gather *g, struct rep_pool *pool, uint32_t r)
{
	struct rdv_node n;

	if (rdv_node_get(&g->c->t, g->c->db, r, &n) < 0) {
		rep_pool_add(pool, g->c->now, 0, g->c->now);
		return;
	}
	rep_pool_add(pool, n.created_ms, n.revoked ? 0 : rep_rel(g->c, r, g->subject), g->c->now);
}

static int party_cb(void *arg, uint32_t id)
{
	struct gather *g = arg;

	add_party(g, g->pool, id);
	return 0;
}

static int opinion_cb(void *arg, const struct rdv_opinion *o)
{
	struct gather *g = arg;

	if (o->blocked) {
		g->f->blocks++;
		add_party(g, &g->f->bad, o->reporter);
	} else if (o->verdict == RDV_VERDICT_GOOD) {
		g->good++;
		add_party(g, &g->f->good, o->reporter);
	} else if (o->verdict == RDV_VERDICT_BAD) {
		g->bad++;
		add_party(g, &g->f->bad, o->reporter);
	}
	return 0;
}

/* A node's facts and score now, with its stored record in \p r. */
struct rep_now {
	struct rep_facts f;
	struct rep_score s;
	struct rdv_rep r;
	uint32_t good, bad;
};

static int rep_gather(struct reg_ctx *c, uint32_t node, struct rep_now *x)
{
	struct gather g = {.c = c, .subject = node, .f = &x->f};
	struct rdv_node n;
	int rc;

	memset(x, 0, sizeof(*x));
	if ((rc = reg_load_node(c, node, &n)) < 0)
		return rc == -ENOENT ? reg_fail(c, -ENOENT, "no such node") : rc;
	if (rdv_rep_get(&c->t, c->db, node, &x->r) < 0)
		return reg_fail(c, -EIO, "registry store error");
	x->f.created_ms = n.created_ms;
	x->f.online_ms = x->r.online_ms;
	x->f.revocations = x->r.revocations;
	g.pool = &x->f.approvals;
	rc = rdv_rep_approval_iter(&c->t, c->db, node, party_cb, &g);
	g.pool = &x->f.trust;
	if (rc == 0)
		rc = rdv_trust_iter(&c->t, c->db, node, party_cb, &g);
	if (rc == 0)
		rc = rdv_opinion_iter(&c->t, c->db, node, opinion_cb, &g);
	if (rc < 0)
		return reg_fail(c, -EIO, "registry store error");
	x->good = g.good;
	x->bad = g.bad;
	rep_compute(&x->f, c->now, &x->s);
	return 0;
}

/* ------------------------------------------------------------ publishing */

/* Does a rule of \p net's policy put a min_score between \p a and \p b?
 * \retval 1 with *version, 0, or <0. */
static int net_crossed(struct reg_ctx *c, uint16_t net, int a, int b, uint64_t *version)
{
	struct rdv_policy p;
	struct policy *pol = NULL;
	char err[160];
	int hit = 0;

	if (rdv_policy_get(&c->t, c->db, net, &p, 1) < 0)
		return reg_fail(c, -EIO, "registry store error");
	/* Most policies have no threshold: no parse for them. */
	if (p.rules && p.json && strstr(p.json, "\"min_score\"") &&
	    policy_parse(p.json, p.len, &pol, err, sizeof(err)) == 0)
		hit = policy_score_crosses(pol, a, b);
	*version = p.version;
	policy_free(pol);
	rdv_policy_free(&p);
	return hit;
}

/* Keep \p x's score as \p node's published one; when it crosses a
 * threshold of one of the node's networks, that network's members fetch
 * their views again (policy.changed, as for a tag change), and pilotd
 * cuts the flows the new views no longer allow. */
static int rep_publish(struct reg_ctx *c, uint32_t node, struct rep_now *x)
{
	struct idset nets = {0};
	int old = x->r.has_pub ? x->r.score_pub : 0, rc = 0;

	if (x->r.has_pub && old == x->s.score)
		return 0;
	if (old != x->s.score) {
		if (rdv_node_net_iter(&c->t, c->db, node, reg_idset_cb, &nets) < 0)
			rc = reg_fail(c, -EIO, "registry store error");
		for (size_t i = 0; rc == 0 && i < nets.n; i++) {
			uint64_t version = 0;
			rc = net_crossed(c, (uint16_t)nets.v[i], old, x->s.score, &version);
			if (rc == 1) {
				c->db->rep_crossings++;
				log_info(
				    "node %u: score %d -> %d crosses a min_score of network %u",
				    node, old, x->s.score, (unsigned)nets.v[i]);
				rc = reg_policy_tell(c, (uint16_t)nets.v[i], version);
			}
		}
		reg_idset_free(&nets);
		if (rc < 0)
			return rc;
	}
	x->r.score_pub = x->s.score;
	x->r.has_pub = 1;
	rdv_rep_put(&c->t, c->db, node, &x->r);
	return 0;
}

int reg_rep_refresh(struct reg_ctx *c, uint32_t node, int *score)
{
	struct rep_now *x = malloc(sizeof(*x));
	int rc;

	if (!x)
		return reg_fail(c, -EIO, "out of memory");
	rc = rep_gather(c, node, x);
	if (rc == 0)
		rc = rep_publish(c, node, x);
	if (rc == 0 && score)
		*score = x->s.score;
	free(x);
	return rc;
}

int reg_rep_score_pub(struct reg_ctx *c, uint32_t node)
{
	struct rdv_rep r;

	if (rdv_rep_get(&c->t, c->db, node, &r) < 0)
		return 0;
	return r.score_pub;
}

int reg_rep_put_score(struct reg_ctx *c, uint32_t node)
{
	int score = 0, rc = reg_rep_refresh(c, node, &score);

	if (rc == 0)
		jg_ku64(&c->out, "score", (uint64_t)score);
	return rc;
}

int reg_rep_heartbeat(struct reg_ctx *c, int start)
{
	struct rdv_rep r;
	int have = rdv_presence_get(c->db, c->self_id, &c->prs) == 0;

	if (rdv_rep_get(&c->t, c->db, c->self_id, &r) < 0)
		return reg_fail(c, -EIO, "registry store error");
	c->prs_op = 1;
	if (!rdv_rep_heartbeat(&r, &c->prs, have, c->now, start)) {
		/* Between flushes: the published score, nothing shared read
		 * again or written (the score moves with the facts, and those
		 * are all flushed or published when they change). */
		jg_ku64(&c->out, "score", (uint64_t)(r.has_pub ? r.score_pub : 0));
		return 0;
	}
	rdv_rep_put(&c->t, c->db, c->self_id, &r);
	return reg_rep_put_score(c, c->self_id);
}

int reg_rep_gone(struct reg_ctx *c)
{
	struct rdv_presence p;
	struct rdv_rep r;

	if (rdv_presence_get(c->db, c->self_id, &p) < 0)
		return 0;
	c->prs_op = 2;
	if (!p.pending_ms)
		return 0;
	if (rdv_rep_get(&c->t, c->db, c->self_id, &r) < 0)
		return reg_fail(c, -EIO, "registry store error");
	rdv_rep_flush(&r, &p, c->now);
	rdv_rep_put(&c->t, c->db, c->self_id, &r);
	return 0;
}

int reg_rep_approved(struct reg_ctx *c, uint32_t subject, uint32_t approver)
{
	int rc = rdv_rep_approval_add(&c->t, c->db, subject, approver, c->now);

	if (rc < 0)
		return reg_fail(c, -EIO, "registry store error");
	return reg_rep_trust_changed(c, subject, approver);
}

int reg_rep_trust_changed(struct reg_ctx *c, uint32_t a, uint32_t b)
{
	int rc = reg_rep_refresh(c, a, NULL);

	return rc < 0 ? rc : reg_rep_refresh(c, b, NULL);
}

int reg_rep_revoked(struct reg_ctx *c, uint32_t node)
{
	struct rdv_rep r;

	if (rdv_rep_get(&c->t, c->db, node, &r) < 0)
		return reg_fail(c, -EIO, "registry store error");
	if (r.revocations < UINT32_MAX)
		r.revocations++;
	rdv_rep_put(&c->t, c->db, node, &r);
	return reg_rep_refresh(c, node, NULL);
}

/* ------------------------------------------------------------ ops */

static void put_milli(struct json_gen *j, const char *key, int64_t v)
{
	char buf[24];

	rep_milli_str(v, buf);
	jg_key(j, key);
	jg_raw(j, buf, strlen(buf));
}

static void put_factors(struct json_gen *j, const struct rep_now *x)
{
	const struct rep_score *s = &x->s;

	jg_key(j, "factors");
	jg_map_open(j);
	put_milli(j, "age_days", (int64_t)(s->age_ms / 86400));
	put_milli(j, "age", s->age);
	put_milli(j, "online_hours", (int64_t)(s->online_ms / 3600));
	put_milli(j, "uptime", s->uptime);
	jg_ku64(j, "approvals", x->f.approvals.n);
	put_milli(j, "approvals_weight", (int64_t)s->wh);
	put_milli(j, "handshakes", s->handshakes);
	jg_ku64(j, "trust_pairs", x->f.trust.n);
	put_milli(j, "trust_weight", (int64_t)s->wt);
	put_milli(j, "trust", s->trust);
	jg_ku64(j, "good_reports", x->good);
	jg_ku64(j, "bad_reports", x->bad);
	jg_ku64(j, "blocks", x->f.blocks);
	put_milli(j, "good_weight", (int64_t)s->g);
	put_milli(j, "bad_weight", (int64_t)s->b);
	put_milli(j, "reports", s->reports);
	jg_ku64(j, "revocations", x->f.revocations);
	put_milli(j, "penalty", s->penalty);
	jg_map_close(j);
}

/* score {"target"}: visible to whoever may look the target up, and to
 * the node itself. */
int reg_op_score(struct reg_ctx *c)
{
	struct rep_now *x;
	struct rdv_node n;
	uint32_t id;
	int rc;

	if ((rc = reg_get_target(c, &id)) < 0)
		return rc;
	if (id != c->self_id && (rc = reg_visible_node(c, id, &n)) < 0)
		return rc;
	if (!(x = malloc(sizeof(*x))))
		return reg_fail(c, -EIO, "out of memory");
	rc = rep_gather(c, id, x);
	if (rc == 0)
		rc = rep_publish(c, id, x);
	if (rc == 0) {
		jg_ku64(&c->out, "node_id", id);
		jg_ku64(&c->out, "score", (uint64_t)x->s.score);
		put_factors(&c->out, x);
	}
	free(x);
	return rc;
}

/* The target of report and block: another node that exists. */
static int rep_target(struct reg_ctx *c, const char *op, uint32_t *id)
{
	struct rdv_node n;
	int rc;

	if ((rc = reg_get_target(c, id)) < 0)
		return rc;
	if (*id == c->self_id)
		return reg_fail(c, -EINVAL, "a node cannot %s itself", op);
	rc = reg_load_node(c, *id, &n);
	if (rc == -ENOENT || (rc == 0 && n.revoked))
		return reg_fail(c, -ENOENT, "no such node");
	return rc;
}

static int reason_ok(const char *s)
{
	if (strlen(s) > RDV_REP_REASON_MAX)
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

/* report {"target","verdict","reason"}: one standing report per reporter
 * and subject, from a node that shares a trust pair or a network with it
 * (else it would not be attributable to anyone who knows the subject). */
int reg_op_report(struct reg_ctx *c)
{
	struct rdv_opinion o;
	const char *verdict, *reason = "";
	char sb[SUBJ_MAX];
	struct json_gen d;
	uint32_t id;
	int rc, replaced, score = 0;

	if ((rc = rep_target(c, "report", &id)) < 0)
		return rc;
	if (json_get_str(c->req.root, "verdict", &verdict) < 0 ||
	    (strcmp(verdict, "good") != 0 && strcmp(verdict, "bad") != 0))
		return reg_fail(c, -EINVAL, "member 'verdict' must be \"good\" or \"bad\"");
	rc = json_get_str(c->req.root, "reason", &reason);
	if (rc == -EINVAL || (rc == 0 && !reason_ok(reason)))
		return reg_fail(c, -EINVAL,
				"member 'reason' must be a string of at most %d bytes without "
				"control characters",
				RDV_REP_REASON_MAX);
	if (rc < 0)
		reason = "";
	if (!rdv_trust_has(&c->t, c->db, c->self_id, id) &&
	    !rdv_share_network(&c->t, c->db, c->self_id, id))
		return reg_fail_code(c, -EACCES, "forbidden", "reputation.report_refused",
				     "node %u shares no trust pair and no network with node %u: "
				     "only nodes that do may report it",
				     c->self_id, id);
	rc = rdv_opinion_get(&c->t, c->db, id, c->self_id, &o);
	if (rc < 0 && rc != -ENOENT)
		return reg_fail(c, -EIO, "registry store error");
	replaced = rc == 0 && o.verdict != RDV_VERDICT_NONE;
	o.reporter = c->self_id;
	o.verdict = verdict[0] == 'g' ? RDV_VERDICT_GOOD : RDV_VERDICT_BAD;
	o.report_ms = c->now;
	snprintf(o.reason, sizeof(o.reason), "%s", reason);
	rdv_opinion_put(&c->t, c->db, id, &o);
	if (reg_audit_begin(c, &d) == 0) {
		jg_ku64(&d, "reporter", c->self_id);
		jg_ku64(&d, "subject", id);
		jg_kstr(&d, "verdict", verdict);
		jg_kstr(&d, "reason", o.reason);
		jg_kbool(&d, "replaced", replaced);
		reg_audit_end(c, &d, "reputation.report", reg_node_subj(sb, id));
	}
	if ((rc = reg_rep_refresh(c, id, &score)) < 0)
		return rc;
	c->rep_metric = o.verdict == RDV_VERDICT_GOOD ? REG_REP_GOOD : REG_REP_BAD;
	log_info("node %u reported node %u %s (score now %d)", c->self_id, id, verdict, score);
	jg_ku64(&c->out, "node_id", id);
	jg_kstr(&c->out, "verdict", verdict);
	jg_kbool(&c->out, "replaced", replaced);
	return 0;
}

/* block {"target","blocked"}: pilotd's block list, told to the registry.
 * Recorded whatever the two share; without a shared basis it weighs 0. */
int reg_op_block(struct reg_ctx *c)
{
	struct rdv_opinion o;
	char sb[SUBJ_MAX];
	uint32_t id;
	int rc, blocked;

	if ((rc = rep_target(c, "block", &id)) < 0)
		return rc;
	if (json_get_bool(c->req.root, "blocked", &blocked) < 0)
		return reg_fail(c, -EINVAL, "member 'blocked' must be true or false");
	rc = rdv_opinion_get(&c->t, c->db, id, c->self_id, &o);
	if (rc < 0 && rc != -ENOENT)
		return reg_fail(c, -EIO, "registry store error");
	if (o.blocked != blocked) {
		o.reporter = c->self_id;
		o.blocked = blocked;
		o.block_ms = c->now;
		rdv_opinion_put(&c->t, c->db, id, &o);
		reg_audit_simple(c, blocked ? "reputation.block" : "reputation.unblock",
				 reg_node_subj(sb, id), 0);
		if ((rc = reg_rep_refresh(c, id, NULL)) < 0)
			return rc;
		c->rep_metric = blocked ? REG_REP_BLOCK : REG_REP_NONE;
	}
	jg_ku64(&c->out, "node_id", id);
	jg_kbool(&c->out, "blocked", blocked);
	return 0;
}

/* ------------------------------------------------------------ sweep */

struct sweep_walk {
	struct reg_ctx *c;
	uint32_t from;	/* first member ID to look at */
	uint32_t next;	/* where the next tick goes on (0: the network is done) */
	size_t *budget; /* members left this tick */
	int rc;
};

static int sweep_member(void *arg, uint32_t id)
{
	struct sweep_walk *w = arg;

	if (id < w->from)
		return 0;
	if (*w->budget == 0) {
		w->next = id;
		return 1;
	}
	(*w->budget)--;
	w->rc = reg_rep_refresh(w->c, id, NULL);
	return w->rc < 0 ? 1 : 0;
}

struct sweep_nets {
	uint16_t from;
	struct idset ids;
};

static int sweep_net_cb(void *arg, const struct rdv_network *n)
{
	struct sweep_nets *s = arg;

	return n->id >= s->from ? reg_idset_add(&s->ids, n->id) : 0;
}

/* Does \p net have a rule with a min_score?  \retval 1, 0, or <0. */
static int net_has_threshold(struct reg_ctx *c, uint16_t net)
{
	uint64_t version;

	/* The widest span: any threshold lies in (0, 100]. */
	return net_crossed(c, net, 0, 100, &version);
}

int reg_rep_sweep(struct reg_ctx *c)
{
	struct rdv_db *db = c->db;
	struct sweep_nets s = {0};
	size_t budget = REP_SWEEP_BATCH;
	int rc = 0;

	if (!db->rep_sweep_active) {
		if (db->rep_sweep_ms && c->now >= db->rep_sweep_ms &&
		    c->now - db->rep_sweep_ms < REP_SWEEP_EVERY_MS)
			return 0;
		db->rep_sweep_active = 1;
		db->rep_sweep_ms = c->now;
		db->rep_sweep_net = 1;
		db->rep_sweep_node = 0;
	}
	s.from = db->rep_sweep_net;
	if (rdv_net_iter(&c->t, db, sweep_net_cb, &s) < 0) {
		reg_idset_free(&s.ids);
		return reg_fail(c, -EIO, "registry store error");
	}
	for (size_t i = 0; rc == 0 && i < s.ids.n; i++) {
		uint16_t net = (uint16_t)s.ids.v[i];
		struct sweep_walk w = {c, net == db->rep_sweep_net ? db->rep_sweep_node : 0, 0,
				       &budget, 0};
		db->rep_sweep_net = net;
		rc = net_has_threshold(c, net);
		if (rc <= 0)
			continue;
		rc = rdv_member_iter(&c->t, db, net, sweep_member, &w);
		if (rc == 0)
			rc = w.rc;
		if (rc < 0)
			break;
		if (w.next) {
			db->rep_sweep_node = w.next;
			reg_idset_free(&s.ids);
			return 0;
		}
		db->rep_sweep_node = 0;
	}
	reg_idset_free(&s.ids);
	if (rc < 0)
		return rc;
	db->rep_sweep_active = 0;
	return 0;
}
