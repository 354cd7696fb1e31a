/* rdv_reg_trust.c - trust between nodes: handshake requests and the
 * inbox they land in, approve, reject, untrust, and the list of trusted
 * peers (doc/REGISTRY.md "Trust").
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

/* trust.approved for {self, peer}: basis "approval" (the peer asked and
 * self approved), "mutual" (both asked) or "network" (a shared network
 * approved on their behalf). */
static void audit_trust_approved(struct reg_ctx *c, uint32_t peer, const char *basis, uint16_t net)
{
	char sb[SUBJ_MAX];
	struct json_gen d;

	if (reg_audit_begin(c, &d) < 0)
		return;
	jg_kstr(&d, "basis", basis);
	if (net)
		jg_ku64(&d, "network_id", net);
	reg_audit_end(c, &d, "trust.approved", reg_node_subj(sb, peer));
}

/* trust.revoked of {a, b} for \p reason ("untrust", "network_left",
 * "network_deleted"); the subject is \p a, the details name \p b. */
void reg_audit_trust_revoked(struct reg_ctx *c, uint32_t a, uint32_t b, const char *reason,
			     uint16_t net)
{
	char sb[SUBJ_MAX];
	struct json_gen d;

	if (reg_audit_begin(c, &d) < 0)
		return;
	jg_ku64(&d, "peer", b);
	jg_kstr(&d, "reason", reason);
	if (net)
		jg_ku64(&d, "network_id", net);
	reg_audit_end(c, &d, "trust.revoked", reg_node_subj(sb, a));
}

/* Make {self, peer} a trust pair on \p basis (0: consent, else the shared
 * network that approved it): clear requests both ways and tell both. */
static void make_pair(struct reg_ctx *c, const struct rdv_node *peer, uint16_t basis)
{
	/* network_id names the network that approved it (absent: consent),
	 * so each node can check that basis for itself. */
	struct ev_body to_peer = {.peer = &c->self, .network_id = basis},
		       to_self = {.peer = peer, .network_id = basis};

	rdv_trust_put(&c->t, c->db, c->self_id, peer->id, c->now, basis);
	rdv_inbox_del(&c->t, c->db, c->self_id, peer->id);
	rdv_inbox_del(&c->t, c->db, peer->id, c->self_id);
	reg_queue_event(c, peer->id, "trust.approved", &to_peer);
	reg_queue_event(c, c->self_id, "trust.approved", &to_self);
}

/* Member `target`: another node than the signer, which cannot \p verb
 * itself. */
static int get_other(struct reg_ctx *c, uint32_t *id, const char *verb)
{
	int rc = reg_get_target(c, id);

	if (rc == 0 && *id == c->self_id)
		return reg_fail(c, -EINVAL, "a node cannot %s itself", verb);
	return rc;
}

int reg_op_handshake(struct reg_ctx *c)
{
	struct rdv_inbox_entry e;
	struct rdv_node tn;
	const char *just = "";
	uint16_t basis;
	uint32_t tid;
	size_t jl;
	int rc;

	if ((rc = get_other(c, &tid, "handshake with")) < 0)
		return rc;
	rc = json_get_str(c->req.root, "justification", &just);
	if (rc == -EINVAL)
		return reg_fail(c, -EINVAL, "member 'justification' must be a string");
	jl = strlen(just);
	if (jl > RDV_JUSTIFICATION_MAX)
		return reg_fail(c, -EINVAL, "member 'justification' is longer than %d bytes",
				RDV_JUSTIFICATION_MAX);
	for (size_t i = 0; i < jl; i++)
		if ((unsigned char)just[i] < 0x20 || just[i] == 0x7f)
			return reg_fail(c, -EINVAL, "member 'justification' must be printable");
	/* A private target is reachable here (that is what the inbox is
	 * for); its endpoint stays hidden until it consents. */
	if ((rc = reg_active_node(c, tid, &tn)) < 0)
		return rc;

	if (rdv_trust_has(&c->t, c->db, c->self_id, tid)) {
		jg_kstr(&c->out, "status", "approved");
		return 0;
	}
	/* Both asked: consent is given, and the pair outlives any network. */
	if (rdv_inbox_get(&c->t, c->db, c->self_id, tid, &e) == 0) {
		make_pair(c, &tn, 0);
		audit_trust_approved(c, tid, "mutual", 0);
		log_info("node %u and node %u: trust pair made (both asked)", c->self_id, tid);
		jg_kstr(&c->out, "status", "approved");
		return reg_rep_trust_changed(c, c->self_id, tid);
	}
	/* A shared network approves on its members' behalf; the pair lasts
	 * as long as that (the lowest shared) network does for both.  Only a
	 * network whose policy lets the two talk speaks for them: one that
	 * hides them from each other (resolve-time evaluation) must not hand
	 * out a pair that would show them anyway. */
	rc = rdv_connecting_network(&c->t, c->db, &c->self, &tn, &basis);
	if (rc < 0)
		return reg_fail(c, -EIO, "registry store error");
	if (rc > 0) {
		make_pair(c, &tn, basis);
		audit_trust_approved(c, tid, "network", basis);
		log_info("node %u and node %u: trust pair made (shared network %u)", c->self_id,
			 tid, basis);
		jg_kstr(&c->out, "status", "approved");
		return reg_rep_trust_changed(c, c->self_id, tid);
	}
	rc = rdv_inbox_get(&c->t, c->db, tid, c->self_id, &e);
	if (rc == -ENOENT &&
	    rdv_inbox_count_from(&c->t, c->db, c->self_id,
				 c->now > RDV_INBOX_HOLD_MS ? c->now - RDV_INBOX_HOLD_MS : 0) >=
		RDV_INBOX_PER_REQUESTER) {
		c->db->reg_stats.inbox_limited++;
		return reg_fail(c, -EBUSY,
				"node %u has %d handshake requests pending (at most %d a node; a "
				"request counts for %llu days): wait for answers",
				c->self_id, RDV_INBOX_PER_REQUESTER, RDV_INBOX_PER_REQUESTER,
				RDV_INBOX_HOLD_MS / 86400000ull);
	}
	if (rc == -ENOENT && rdv_inbox_count(&c->t, c->db, tid) >= RDV_INBOX_MAX)
		return reg_fail(c, -EBUSY, "the target has too many pending requests");
	memset(&e, 0, sizeof(e));
	e.from = c->self_id;
	e.ms = c->now;
	memcpy(e.justification, just, jl);
	rdv_inbox_put(&c->t, c->db, tid, &e);
	/* A repeated request updates the justification but does not notify
	 * again, so a requester cannot flood the target's event queue. */
	if (rc == -ENOENT) {
		struct ev_body b = {.node_id = c->self_id, .justification = e.justification};
		reg_queue_event(c, tid, "handshake.received", &b);
	}
	{
		char sb[SUBJ_MAX];
		struct json_gen d;
		if (reg_audit_begin(c, &d) == 0) {
			jg_kstr(&d, "justification", e.justification);
			jg_kbool(&d, "repeat", rc != -ENOENT);
			reg_audit_end(c, &d, "handshake.requested", reg_node_subj(sb, tid));
		}
	}
	jg_kstr(&c->out, "status", "pending");
	return 0;
}

struct inbox_out {
	struct reg_ctx *c;
};

static int inbox_item(void *arg, const struct rdv_inbox_entry *e)
{
	struct reg_ctx *c = ((struct inbox_out *)arg)->c;
	struct json_gen *j = &c->out;
	struct pilot_addr a = {0, e->from};
	char abuf[PILOT_ADDR_STRLEN];
	struct rdv_node n;
	int rc = reg_load_node(c, e->from, &n);

	if (rc == -ENOENT)
		return 0; /* node records are never deleted; be lenient anyway */
	if (rc < 0)
		return rc;
	if (n.revoked)
		return 0; /* its requests died with it */
	jg_map_open(j);
	jg_ku64(j, "node_id", n.id);
	jg_kstr(j, "address", addr_format(&a, abuf));
	jg_kstr(j, "hostname", n.hostname);
	jg_kb64(j, "public_key", n.pk, sizeof(n.pk));
	jg_kstr(j, "justification", e->justification);
	jg_ku64(j, "ts", e->ms);
	jg_map_close(j);
	return 0;
}

int reg_op_inbox(struct reg_ctx *c)
{
	struct inbox_out io = {c};

	jg_key(&c->out, "requests");
	jg_array_open(&c->out);
	if (rdv_inbox_iter(&c->t, c->db, c->self_id, inbox_item, &io) < 0)
		return reg_fail(c, -EIO, "registry store error");
	jg_array_close(&c->out);
	return 0;
}

int reg_op_approve(struct reg_ctx *c)
{
	struct rdv_inbox_entry e;
	struct rdv_node tn;
	struct ev_body b = {.peer = &c->self};
	uint32_t tid;
	int rc;

	if ((rc = reg_get_target(c, &tid)) < 0)
		return rc;
	rc = rdv_inbox_get(&c->t, c->db, c->self_id, tid, &e);
	if (rc == -ENOENT && !rdv_trust_has(&c->t, c->db, c->self_id, tid))
		return reg_fail(c, -ENOENT, "no pending request from node %u", tid);
	if (rc < 0 && rc != -ENOENT)
		return reg_fail(c, -EIO, "registry store error");
	rc = reg_load_node(c, tid, &tn);
	if (rc == -ENOENT || (rc == 0 && tn.revoked))
		return reg_fail(c, -ENOENT, "no pending request from node %u", tid);
	if (rc < 0)
		return rc;
	if (!rdv_trust_has(&c->t, c->db, c->self_id, tid)) {
		rdv_trust_put(&c->t, c->db, c->self_id, tid, c->now, 0);
		rdv_inbox_del(&c->t, c->db, c->self_id, tid);
		rdv_inbox_del(&c->t, c->db, tid, c->self_id);
		reg_queue_event(c, tid, "trust.approved", &b);
		audit_trust_approved(c, tid, "approval", 0);
		log_info("node %u approved node %u: trust pair made", c->self_id, tid);
		/* Reputation: the requester earned an approval (once per
		 * approver, for ever), both a trust pair. */
		if ((rc = reg_rep_approved(c, tid, c->self_id)) < 0)
			return rc;
	}
	reg_put_peer(&c->out, "peer", &tn);
	return 0;
}

int reg_op_reject(struct reg_ctx *c)
{
	char sb[SUBJ_MAX];
	struct rdv_inbox_entry e;
	struct ev_body b = {0};
	uint32_t tid;
	int rc;

	if ((rc = reg_get_target(c, &tid)) < 0)
		return rc;
	rc = rdv_inbox_get(&c->t, c->db, c->self_id, tid, &e);
	if (rc == -ENOENT)
		return reg_fail(c, -ENOENT, "no pending request from node %u", tid);
	if (rc < 0)
		return reg_fail(c, -EIO, "registry store error");
	rdv_inbox_del(&c->t, c->db, c->self_id, tid);
	b.node_id = c->self_id;
	reg_queue_event(c, tid, "handshake.rejected", &b);
	reg_audit_simple(c, "handshake.rejected", reg_node_subj(sb, tid), 0);
	return 0;
}

int reg_op_untrust(struct reg_ctx *c)
{
	struct ev_body b = {0};
	uint32_t tid;
	int rc;

	if ((rc = get_other(c, &tid, "untrust")) < 0)
		return rc;
	if (rdv_trust_has(&c->t, c->db, c->self_id, tid)) {
		rdv_trust_del(&c->t, c->db, c->self_id, tid);
		b.node_id = c->self_id;
		reg_queue_event(c, tid, "trust.revoked", &b);
		reg_audit_trust_revoked(c, tid, c->self_id, "untrust", 0);
		log_info("node %u untrusted node %u", c->self_id, tid);
		return reg_rep_trust_changed(c, c->self_id, tid);
	}
	return 0;
}

static int trusts_item(void *arg, uint32_t id)
{
	return reg_put_node(arg, id, 0);
}

int reg_op_trusts(struct reg_ctx *c)
{
	jg_key(&c->out, "peers");
	jg_array_open(&c->out);
	if (rdv_trust_iter(&c->t, c->db, c->self_id, trusts_item, c) < 0)
		return reg_fail(c, -EIO, "registry store error");
	jg_array_close(&c->out);
	return 0;
}
