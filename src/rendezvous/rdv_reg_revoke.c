/* rdv_reg_revoke.c - org_revoke (doc/REGISTRY.md "Revocation"), by one of
 * two authorities:
 *   - the deployment's admin revokes a node everywhere and for ever: every
 *     network, every trust pair, every org, and its key;
 *   - an org's admin removes a member from that org alone: the org's
 *     networks and the trust pairs they made, and bars it from coming
 *     back; its key, its other orgs and networks and the pairs its
 *     owners made otherwise are not the org's to touch.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "json.h"
#include "log.h"
#include "rdv_reg_int.h"

static int inbox_from_cb(void *arg, const struct rdv_inbox_entry *e)
{
	return reg_idset_add(arg, e->from);
}

/* Take node \p n out of everything, in the request's transaction: every
 * network (network.left to the rest, policy.changed where views change),
 * every trust pair (trust.revoked to the peer), every org, its inbox, the
 * requests it made and its hostname; then mark it and its key revoked.  The lists of what it left
 * go to \p nets and \p peers. */
static int revoke_node(struct reg_ctx *c, struct rdv_node *n, struct idset *nets,
		       struct idset *peers)
{
	struct idset orgs = {0}, inbox = {0}, asked = {0};
	struct rdv_network net;
	struct ev_body b = {.node_id = n->id};
	int rc = 0;

	/* Collect, then change: no writes under an open cursor. */
	if (rdv_node_net_iter(&c->t, c->db, n->id, reg_idset_cb, nets) < 0 ||
	    rdv_trust_iter(&c->t, c->db, n->id, reg_idset_cb, peers) < 0 ||
	    rdv_node_org_iter(&c->t, c->db, n->id, reg_idset_cb, &orgs) < 0 ||
	    rdv_inbox_iter(&c->t, c->db, n->id, inbox_from_cb, &inbox) < 0 ||
	    rdv_inbox_from_iter(&c->t, c->db, n->id, reg_idset_cb, &asked) < 0) {
		rc = reg_fail(c, -EIO, "registry store error");
		goto out;
	}
	for (size_t i = 0; i < nets->n; i++) {
		uint16_t id = (uint16_t)nets->v[i];
		if ((rc = reg_load_net(c, id, &net)) < 0 ||
		    (rc = reg_remove_member(c, &net, n->id)) < 0)
			goto out;
	}
	for (size_t i = 0; i < peers->n; i++) {
		rdv_trust_del(&c->t, c->db, n->id, peers->v[i]);
		reg_queue_event(c, peers->v[i], "trust.revoked", &b);
	}
	for (size_t i = 0; i < orgs.n; i++)
		rdv_org_member_del(&c->t, c->db, orgs.v[i], n->id);
	for (size_t i = 0; i < inbox.n; i++)
		rdv_inbox_del(&c->t, c->db, n->id, inbox.v[i]);
	/* ... and the requests it made, which died with it. */
	for (size_t i = 0; i < asked.n; i++)
		rdv_inbox_del(&c->t, c->db, asked.v[i], n->id);
	reg_release_hostname(c, n);
	n->active = 0;
	n->revoked = 1;
	rdv_node_put(&c->t, c->db, n);
	rdv_key_revoke(&c->t, c->db, n->pk, n->id);
	/* Its open streams are woken, and ended (rdv_http.c). */
	reg_add_notify(c, n->id);
out:
	reg_idset_free(&orgs);
	reg_idset_free(&inbox);
	reg_idset_free(&asked);
	return rc;
}

static void put_revoke_answer(struct reg_ctx *c, uint32_t node, uint32_t org,
			      const struct idset *nets, const struct idset *peers, size_t notified)
{
	jg_ku64(&c->out, "node_id", node);
	/* Which authority it was: "org" took the node out of one org;
	 * "deployment" revoked it everywhere. */
	jg_kstr(&c->out, "scope", c->org_scope ? "org" : "deployment");
	if (org)
		jg_ku64(&c->out, "org_id", org);
	reg_put_id_list(&c->out, "networks_left", nets, SIZE_MAX);
	reg_put_id_list(&c->out, "trust_revoked", peers, SIZE_MAX);
	jg_ku64(&c->out, "notified", notified);
}

/* The lists of a revocation's own record (node.revoked, org.member_removed). */
static void audit_lists(struct json_gen *d, const struct idset *nets, const struct idset *peers,
			size_t notified)
{
	jg_ku64(d, "networks_left_count", nets->n);
	reg_put_id_list(d, "networks_left", nets, REG_AUDIT_LIST_MAX);
	jg_ku64(d, "trust_revoked_count", peers->n);
	reg_put_id_list(d, "trust_revoked", peers, REG_AUDIT_LIST_MAX);
	jg_ku64(d, "notified", notified);
}

/* The deployment admin's revocation of \p n (not revoked yet): everywhere,
 * for ever.  \p org: the org the request named (0: none). */
static int revoke_everywhere(struct reg_ctx *c, struct rdv_node *n, uint32_t org)
{
	char sb[SUBJ_MAX];
	struct json_gen d;
	struct idset aud = {0}, nets = {0}, peers = {0};
	struct ev_body b = {.node_id = n->id};
	int rc;

	/* Who hears of it is decided before anything is removed. */
	if ((rc = reg_audience(c, n->id, &aud)) < 0)
		goto out;
	for (size_t i = 0; i < aud.n; i++)
		reg_queue_event(c, aud.v[i], "node.revoked", &b);
	if ((rc = revoke_node(c, n, &nets, &peers)) < 0 || (rc = reg_rep_revoked(c, n->id)) < 0)
		goto out;
	if (reg_audit_begin(c, &d) == 0) {
		if (org)
			jg_ku64(&d, "org_id", org);
		audit_lists(&d, &nets, &peers, aud.n);
		jg_kb64(&d, "public_key", n->pk, sizeof(n->pk));
		reg_audit_end(c, &d, "node.revoked", reg_node_subj(sb, n->id));
	}
	log_warnx("admin from %s: revoked node %u (%zu networks, %zu trust pairs, %zu nodes told)",
		  c->peer_ip, n->id, nets.n, peers.n, aud.n);
	put_revoke_answer(c, n->id, org, &nets, &peers, aud.n);
out:
	reg_idset_free(&aud);
	reg_idset_free(&nets);
	reg_idset_free(&peers);
	return rc;
}

/* The networks of org \p org that \p node is in, into \p out. */
static int org_nets_of(struct reg_ctx *c, uint32_t org, uint32_t node, struct idset *out)
{
	struct idset owned = {0};
	int rc = 0;

	if (rdv_org_net_iter(&c->t, c->db, org, reg_idset_cb, &owned) < 0) {
		rc = reg_fail(c, -EIO, "registry store error");
		goto out;
	}
	for (size_t i = 0; i < owned.n && rc == 0; i++)
		if (rdv_member_has(&c->t, c->db, (uint16_t)owned.v[i], node))
			rc = reg_idset_add(out, owned.v[i]);
	if (rc < 0)
		rc = reg_fail(c, -EIO, "out of memory");
out:
	reg_idset_free(&owned);
	return rc;
}

/* Take \p node out of network \p id of the org (as network_leave does:
 * the pairs that membership made go, into c->evicted_out), audited as
 * network.member_removed.  Its other members are added to \p told. */
static int org_evict(struct reg_ctx *c, uint32_t org, uint16_t id, uint32_t node,
		     struct idset *told)
{
	char sb[SUBJ_MAX];
	struct json_gen d;
	struct rdv_network net;
	size_t pairs = 0;
	int rc;

	if ((rc = reg_load_net(c, id, &net)) < 0)
		return rc;
	if (rdv_member_iter(&c->t, c->db, id, reg_idset_cb, told) < 0)
		return reg_fail(c, -EIO, "registry store error");
	if ((rc = reg_evict_member(c, &net, node, "org_revoked", &pairs)) < 0)
		return rc;
	if (reg_audit_begin(c, &d) == 0) {
		jg_ku64(&d, "network_id", id);
		jg_ku64(&d, "org_id", org);
		jg_kstr(&d, "reason", "org_revoked");
		jg_ku64(&d, "trust_pairs_revoked", pairs);
		reg_audit_end(c, &d, "network.member_removed", reg_node_subj(sb, node));
	}
	return 0;
}

/* An org admin's revocation of member \p node of org \p org: out of the
 * org and of each of its networks, with the trust pairs those networks
 * made; barred from enrolling again or joining the org's networks.  Its
 * key, its registration and everything the org does not own stay. */
static int remove_from_org(struct reg_ctx *c, uint32_t org, uint32_t node)
{
	char sb[SUBJ_MAX];
	struct json_gen d;
	struct idset nets = {0}, peers = {0}, told = {0};
	int rc;

	if ((rc = org_nets_of(c, org, node, &nets)) < 0)
		goto out;
	c->evicted_out = &peers;
	for (size_t i = 0; i < nets.n && rc == 0; i++)
		rc = org_evict(c, org, (uint16_t)nets.v[i], node, &told);
	c->evicted_out = NULL;
	if (rc < 0)
		goto out;
	rdv_org_member_del(&c->t, c->db, org, node);
	rdv_org_ban_put(&c->t, c->db, org, node, c->now);
	if ((rc = reg_rep_revoked(c, node)) < 0)
		goto out;
	for (size_t i = 0; i < peers.n; i++)
		if (reg_idset_add(&told, peers.v[i]) < 0) {
			rc = reg_fail(c, -EIO, "out of memory");
			goto out;
		}
	reg_idset_sort_unique(&peers);
	reg_idset_sort_unique(&told);
	reg_idset_drop(&told, node);
	if (reg_audit_begin(c, &d) == 0) {
		jg_ku64(&d, "org_id", org);
		audit_lists(&d, &nets, &peers, told.n);
		reg_audit_end(c, &d, "org.member_removed", reg_node_subj(sb, node));
	}
	log_warnx("admin of org %u from %s: removed node %u from the org (%zu networks, %zu trust "
		  "pairs, %zu nodes told)",
		  org, c->peer_ip, node, nets.n, peers.n, told.n);
	put_revoke_answer(c, node, org, &nets, &peers, told.n);
out:
	reg_idset_free(&nets);
	reg_idset_free(&peers);
	reg_idset_free(&told);
	return rc;
}

/* org_revoke, in one transaction.  With the deployment's token: the node
 * is revoked everywhere (org_id, if given, must name an org it is in).
 * With an org's token: the member is removed from that org (org_id
 * defaults to it).  Revoking a revoked node again changes nothing. */
int reg_admin_org_revoke(struct reg_ctx *c)
{
	struct rdv_org o;
	struct rdv_node n;
	struct idset none = {0};
	uint32_t nid, org;
	int rc;

	if (json_get_u32(c->req.root, "node_id", &nid) < 0 || nid == 0)
		return reg_fail(c, -EINVAL, "member 'node_id' must be a node ID");
	if ((rc = reg_get_org_opt(c, &org)) < 0)
		return rc;
	/* With an org's token the org is that one (naming it is optional:
	 * `pilotctl org revoke NODE` sends none). */
	if (org == 0)
		org = c->org_scope;
	if (org && (rc = reg_admin_org(c, org, &o)) < 0)
		return rc;
	/* An org's admin must not reach beyond its members: anyone else is
	 * answered alike, whether it exists or not.  (A revoked node is a
	 * member of no org any more.) */
	if (org && !rdv_org_member_has(&c->t, c->db, org, nid))
		return reg_fail(c, -ENOENT, "node %u is not a member of org %u", nid, org);
	rc = reg_load_node(c, nid, &n);
	if (rc == -ENOENT)
		return reg_fail(c, -ENOENT, "no such node");
	if (rc < 0)
		return rc;
	if (c->org_scope)
		return remove_from_org(c, org, nid);
	if (n.revoked) {
		put_revoke_answer(c, nid, org, &none, &none, 0);
		return 0;
	}
	return revoke_everywhere(c, &n, org);
}
