/* rdv_reg_net.c - networks: join rules, invites, membership (join,
 * leave, list, nodes) and the admin's network requests (create, delete,
 * add, invite, nodes).
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

#define NET_TOKEN_MIN 16
#define NET_TOKEN_MAX 1024

static const struct {
	uint8_t rule;
	const char *name;
} join_rules[] = {
    {RDV_JOIN_OPEN, "open"}, {RDV_JOIN_TOKEN, "token"}, {RDV_JOIN_INVITE, "invite"},
    {RDV_JOIN_CA, "ca"},     {RDV_JOIN_OIDC, "oidc"},	{RDV_JOIN_SPIFFE, "spiffe"},
};

static int is_idp(uint8_t rule)
{
	return rule == RDV_JOIN_OIDC || rule == RDV_JOIN_SPIFFE;
}

const char *reg_join_rule_name(uint8_t rule)
{
	for (size_t i = 0; i < nitems(join_rules); i++)
		if (join_rules[i].rule == rule)
			return join_rules[i].name;
	return "unknown";
}

void reg_put_network(struct json_gen *j, const struct rdv_network *n)
{
	jg_ku64(j, "network_id", n->id);
	jg_kstr(j, "name", n->name);
	jg_kstr(j, "join_rule", reg_join_rule_name(n->rule));
	jg_ku64(j, "members", n->members);
}

/* ------------------------------------------------------------ networks */

/* Member `network_id`: 0..65535; with \p zero_msg, 0 is refused with it. */
int reg_get_net(struct reg_ctx *c, uint16_t *net, const char *zero_msg)
{
	uint32_t v;

	if (json_get_u32(c->req.root, "network_id", &v) < 0 || v > UINT16_MAX)
		return reg_fail(c, -EINVAL,
				"member 'network_id' must be a network ID (0 to 65535)");
	if (v == 0 && zero_msg)
		return reg_fail(c, -EINVAL, "%s", zero_msg);
	*net = (uint16_t)v;
	return 0;
}

/* Load a network the request names.  Store failures are internal. */
int reg_load_net(struct reg_ctx *c, uint16_t id, struct rdv_network *n)
{
	return reg_store_rc(c, rdv_net_get(&c->t, c->db, id, n), -ENOENT, "no such network");
}

/* Member \p id's lookup object (if active), with its certificate in a
 * ca network. */
static int put_member(struct reg_ctx *c, uint16_t net, uint32_t id)
{
	struct rdv_node n;
	int rc = reg_load_node(c, id, &n);

	if (rc == -ENOENT || (rc == 0 && !n.active))
		return 0;
	if (rc < 0)
		return rc;
	jg_map_open(&c->out);
	reg_put_lookup(&c->out, &n);
	if (net && reg_put_member_cert(c, net, id) < 0)
		return -EIO;
	if (net && reg_put_member_ext(c, net, id, 0) < 0)
		return -EIO;
	jg_map_close(&c->out);
	return 0;
}

/* The lookup objects of the active members of \p net (except \p skip) as
 * an array member \p key of the response. */
int reg_put_members(struct reg_ctx *c, const char *key, uint16_t net, uint32_t skip)
{
	struct idset m = {0};
	int rc;

	if (net == 0)
		rc = rdv_node_iter(&c->t, c->db, reg_idset_cb, &m);
	else
		rc = rdv_member_iter(&c->t, c->db, net, reg_idset_cb, &m);
	if (rc < 0) {
		rc = reg_fail(c, -EIO, "registry store error");
		goto out;
	}
	jg_key(&c->out, key);
	jg_array_open(&c->out);
	for (size_t i = 0; i < m.n; i++) {
		if (m.v[i] == skip)
			continue;
		/* A deregistered member is hidden, as everywhere else. */
		if ((rc = put_member(c, net, m.v[i])) < 0)
			goto out;
	}
	jg_array_close(&c->out);
	rc = 0;
out:
	reg_idset_free(&m);
	return rc;
}

/* Accept an invite for \p net, or say why not.  The signature is checked
 * before anything else about the invite is revealed (expiry, use). */
static int use_invite(struct reg_ctx *c, const struct rdv_network *net, const char *s)
{
	struct rdv_invite inv;
	struct rdv_node inviter;
	uint64_t now_s = c->now / 1000;
	int rc;

	if (rdv_invite_parse(s, strlen(s), &inv) < 0)
		return reg_fail(c, -EINVAL, "member 'invite' is not a pilot-invite-v1 invite");
	if (inv.net != net->id)
		return reg_fail(c, -EINVAL, "the invite is for network %u", inv.net);
	if (inv.inviter == RDV_INVITER_REGISTRY) {
		/* An admin's invite: signed with the registry's own key. */
		if (!c->db->invite_sk || rdv_invite_verify(&inv, c->db->invite_pk) < 0)
			return reg_fail(c, -EACCES, "the invite's signature does not verify");
	} else {
		rc = reg_load_node(c, inv.inviter, &inviter);
		if (rc < 0 && rc != -ENOENT)
			return rc;
		if (rc == -ENOENT || rdv_invite_verify(&inv, inviter.pk) < 0)
			return reg_fail(c, -EACCES, "the invite's signature does not verify");
		if (!rdv_member_has(&c->t, c->db, net->id, inv.inviter))
			return reg_fail(c, -EACCES, "the inviter is not a member of network %u",
					net->id);
	}
	if (inv.expiry <= now_s)
		return reg_fail(c, -EACCES, "the invite expired");
	/* The maker's clock may run ahead of ours by as much as a request's
	 * may: an invite made for exactly 7 days must not be refused. */
	if (inv.expiry - now_s > RDV_INVITE_MAX_LIFE_S + REGMSG_MAX_SKEW_MS / 1000)
		return reg_fail(c, -EACCES, "an invite lives at most 7 days");
	if (rdv_invite_used(&c->t, c->db, inv.r))
		return reg_fail(c, -EEXIST, "invite already used");
	rdv_invite_use(&c->t, c->db, inv.r, inv.expiry, net->id, c->self_id, c->now);
	c->inviter = inv.inviter;
	c->invited = 1;
	return 0;
}

static int check_join(struct reg_ctx *c, const struct rdv_network *net)
{
	uint8_t h[crypto_hash_sha256_BYTES];
	const char *tok = NULL, *inv = NULL;
	int rc;

	if (json_get_str(c->req.root, "token", &tok) == -EINVAL ||
	    json_get_str(c->req.root, "invite", &inv) == -EINVAL)
		return reg_fail(c, -EINVAL, "members 'token' and 'invite' must be strings");
	/* Whatever the credential: an org's admin removed this node, and
	 * its networks must not take it back on a token or a member's
	 * invite (before an invite is used up). */
	if (net->org && rdv_org_ban_has(&c->t, c->db, net->org, c->self_id))
		return reg_fail(c, -EACCES, "org %u's admin removed this node from its networks",
				net->org);
	if (tok && net->rule != RDV_JOIN_TOKEN)
		return reg_fail(c, -EINVAL, "network %u does not take a token", net->id);
	if (inv && net->rule != RDV_JOIN_INVITE)
		return reg_fail(c, -EINVAL, "network %u does not take an invite", net->id);
	/* Credentials a rule does not take (certificates, tokens a daemon
	 * offers to every network it joins) are not looked at. */
	switch (net->rule) {
	case RDV_JOIN_OPEN:
		return 0;
	case RDV_JOIN_TOKEN:
		if (!tok)
			return reg_fail(c, -EINVAL, "network %u needs member 'token'", net->id);
		crypto_hash_sha256(h, (const uint8_t *)tok, strlen(tok));
		rc = sodium_memcmp(h, net->token_hash, sizeof(h));
		sodium_memzero(h, sizeof(h));
		if (rc != 0)
			return reg_fail(c, -EACCES, "wrong token for network %u", net->id);
		return 0;
	case RDV_JOIN_INVITE:
		if (!inv)
			return reg_fail(c, -EINVAL, "network %u needs member 'invite'", net->id);
		return use_invite(c, net, inv);
	case RDV_JOIN_CA:
		return reg_ca_admit(c, net, c->self_id, c->self.pk, &c->cert);
	case RDV_JOIN_OIDC:
	case RDV_JOIN_SPIFFE:
		return reg_idp_admit(c, net, c->self_id, "network.join_refused", &c->ext, c->jti);
	default:
		return reg_fail(c, -EACCES, "network %u: join rule not supported", net->id);
	}
}

/* Make \p n a member of \p net (not yet one) and tell the other members. */
int reg_add_member(struct reg_ctx *c, struct rdv_network *net, const struct rdv_node *n)
{
	struct idset m = {0};
	struct ev_body b = {.network_id = net->id, .peer = n};
	struct cert cert;

	struct rdv_ext ext;

	if (net->rule == RDV_JOIN_CA && rdv_net_cert_get(&c->t, c->db, net->id, n->id, &cert) == 0)
		b.not_after = cert.not_after;
	if (is_idp(net->rule) && rdv_net_ext_get(&c->t, c->db, net->id, n->id, &ext) == 0)
		b.not_after = ext.exp_s;
	if (rdv_member_iter(&c->t, c->db, net->id, reg_idset_cb, &m) < 0) {
		reg_idset_free(&m);
		return reg_fail(c, -EIO, "registry store error");
	}
	rdv_member_put(&c->t, c->db, net->id, n->id, c->now);
	net->members++;
	rdv_net_put(&c->t, c->db, net);
	for (size_t i = 0; i < m.n; i++)
		reg_queue_event(c, m.v[i], "network.joined", &b);
	reg_idset_free(&m);
	return reg_policy_touch(c, net->id);
}

int reg_op_network_join(struct reg_ctx *c)
{
	char sb[SUBJ_MAX];
	struct json_gen d;
	struct rdv_network net;
	uint16_t id = 0;
	int rc, already;

	if ((rc = reg_get_net(c, &id, "every node is in the backbone (network 0)")) < 0 ||
	    (rc = reg_load_net(c, id, &net)) < 0)
		return rc;
	/* Joining again answers again, without events, and uses up no
	 * invite: a retry after a lost reply must be harmless. */
	already = rdv_member_has(&c->t, c->db, id, c->self_id);
	if (!already) {
		if ((rc = check_join(c, &net)) < 0)
			return rc;
		if (net.rule == RDV_JOIN_CA)
			rdv_net_cert_put(&c->t, c->db, id, c->self_id, &c->cert);
		if (is_idp(net.rule))
			reg_idp_keep(c, id, c->self_id, &c->ext, c->jti);
		if ((rc = reg_add_member(c, &net, &c->self)) < 0)
			return rc;
		if (reg_audit_begin(c, &d) == 0) {
			jg_kstr(&d, "join_rule", reg_join_rule_name(net.rule));
			if (net.rule == RDV_JOIN_CA)
				reg_put_cert_audit(&d, &c->cert);
			if (is_idp(net.rule))
				reg_put_ext(&d, &c->ext);
			if (c->invited && c->inviter != RDV_INVITER_REGISTRY)
				jg_ku64(&d, "inviter", c->inviter);
			else if (c->invited)
				jg_kstr(&d, "inviter", "admin");
			reg_audit_end(c, &d, "network.joined", reg_net_subj(sb, id));
		}
		log_info("node %u joined network %u (%s)", c->self_id, id,
			 reg_join_rule_name(net.rule));
	}
	jg_key(&c->out, "network");
	jg_map_open(&c->out);
	reg_put_network(&c->out, &net);
	if (net.rule == RDV_JOIN_CA && reg_put_member_cert(c, id, c->self_id) < 0)
		return -EIO;
	if (is_idp(net.rule) && reg_put_member_ext(c, id, c->self_id, 1) < 0)
		return -EIO;
	jg_map_close(&c->out);
	return reg_put_members(c, "members", id, c->self_id);
}

/* Take \p node out of \p net (a member) and tell the other members. */
int reg_remove_member(struct reg_ctx *c, struct rdv_network *net, uint32_t node)
{
	struct idset m = {0};
	struct ev_body b = {.network_id = net->id, .node_id = node};

	rdv_member_del(&c->t, c->db, net->id, node);
	net->members = net->members ? net->members - 1 : 0;
	rdv_net_put(&c->t, c->db, net);
	if (rdv_member_iter(&c->t, c->db, net->id, reg_idset_cb, &m) < 0) {
		reg_idset_free(&m);
		return reg_fail(c, -EIO, "registry store error");
	}
	for (size_t i = 0; i < m.n; i++)
		reg_queue_event(c, m.v[i], "network.left", &b);
	reg_idset_free(&m);
	return reg_policy_touch(c, net->id);
}

/* Network \p id of an admin request.  An org's admin learns nothing of
 * networks outside its org: those are forbidden, whether they exist or
 * not. */
int reg_admin_net(struct reg_ctx *c, uint16_t id, struct rdv_network *net)
{
	int rc = rdv_net_get(&c->t, c->db, id, net);

	if (rc < 0 && rc != -ENOENT)
		return reg_fail(c, -EIO, "registry store error");
	if (c->org_scope && (rc == -ENOENT || net->org != c->org_scope))
		return reg_fail(c, -EACCES, "network %u does not belong to org %u", id,
				c->org_scope);
	if (rc == -ENOENT)
		return reg_fail(c, -ENOENT, "no such network");
	return 0;
}

struct basis_collect {
	uint16_t net;
	struct idset *out;
};

static int basis_cb(void *arg, uint32_t peer, uint16_t basis)
{
	struct basis_collect *bc = arg;

	return basis == bc->net ? reg_idset_add(bc->out, peer) : 0;
}

int reg_evict_member(struct reg_ctx *c, struct rdv_network *net, uint32_t node, const char *reason,
		     size_t *npairs)
{
	struct idset revoked = {0};
	struct basis_collect bc = {net->id, &revoked};
	struct ev_body b = {.node_id = node};
	int rc;

	/* Collect, then change: no writes under an open cursor. */
	if (rdv_trust_iter_basis(&c->t, c->db, node, basis_cb, &bc) < 0) {
		rc = reg_fail(c, -EIO, "registry store error");
		goto out;
	}
	for (size_t i = 0; i < revoked.n; i++) {
		struct ev_body peer = {.node_id = revoked.v[i]};
		rdv_trust_del(&c->t, c->db, node, revoked.v[i]);
		reg_queue_event(c, revoked.v[i], "trust.revoked", &b);
		/* Taken out by someone else: the node drops the pair too (it
		 * would learn only at its next registration otherwise). */
		if (node != c->self_id)
			reg_queue_event(c, node, "trust.revoked", &peer);
		reg_audit_trust_revoked(c, revoked.v[i], node, reason, net->id);
	}
	if ((rc = reg_remove_member(c, net, node)) < 0)
		goto out;
	/* Taken out by someone else (a revocation, an expiry): the node learns
	 * it too, and drops its address and flows there at once. */
	if (node != c->self_id) {
		struct ev_body me = {.network_id = net->id, .node_id = node};
		reg_queue_event(c, node, "network.left", &me);
	}
	if (npairs)
		*npairs = revoked.n;
	if (c->evicted_out)
		for (size_t i = 0; i < revoked.n; i++)
			reg_idset_add(c->evicted_out, revoked.v[i]);
	rc = 0;
out:
	reg_idset_free(&revoked);
	return rc;
}

int reg_op_network_leave(struct reg_ctx *c)
{
	char sb[SUBJ_MAX];
	struct json_gen d;
	struct rdv_network net;
	struct idset revoked = {0};
	uint16_t id = 0;
	size_t n = 0;
	int rc;

	if ((rc = reg_get_net(c, &id, "a node cannot leave the backbone (network 0)")) < 0 ||
	    (rc = reg_load_net(c, id, &net)) < 0)
		return rc;
	if (rdv_member_has(&c->t, c->db, id, c->self_id)) {
		c->evicted_out = &revoked;
		rc = reg_evict_member(c, &net, c->self_id, "network_left", &n);
		c->evicted_out = NULL;
		if (rc < 0)
			goto out;
		if (reg_audit_begin(c, &d) == 0) {
			jg_ku64(&d, "trust_pairs_revoked", n);
			reg_audit_end(c, &d, "network.left", reg_net_subj(sb, id));
		}
		log_info("node %u left network %u (%zu trust pairs revoked)", c->self_id, id, n);
	}
	reg_put_id_list(&c->out, "revoked", &revoked, SIZE_MAX);
	rc = 0;
out:
	reg_idset_free(&revoked);
	return rc;
}

static int net_list_cb(void *arg, const struct rdv_network *n)
{
	struct reg_ctx *c = arg;
	int member = !c->admin && rdv_member_has(&c->t, c->db, n->id, c->self_id);

	/* Nodes see the networks they are in and those anyone may ask to
	 * join (names are not secret); rules to come may be unlisted. */
	if (!c->admin && !member && n->rule != RDV_JOIN_OPEN && n->rule != RDV_JOIN_TOKEN &&
	    n->rule != RDV_JOIN_INVITE && n->rule != RDV_JOIN_CA && !is_idp(n->rule))
		return 0;
	jg_map_open(&c->out);
	reg_put_network(&c->out, n);
	if (!c->admin)
		jg_kbool(&c->out, "member", member);
	jg_map_close(&c->out);
	return 0;
}

int reg_op_network_list(struct reg_ctx *c)
{
	jg_key(&c->out, "networks");
	jg_array_open(&c->out);
	if (rdv_net_iter(&c->t, c->db, net_list_cb, c) < 0)
		return reg_fail(c, -EIO, "registry store error");
	jg_array_close(&c->out);
	return 0;
}

int reg_op_network_nodes(struct reg_ctx *c)
{
	uint16_t id = 0;
	int rc;

	if ((rc = reg_get_net(c, &id, NULL)) < 0)
		return rc;
	/* Not a member and no such network are the same answer, so that
	 * unlisted networks do not show through. */
	if (id == 0)
		return reg_fail(c, -EACCES, "the backbone (network 0) is not listed");
	if (!rdv_member_has(&c->t, c->db, id, c->self_id))
		return reg_fail(c, -EACCES, "not a member of network %u", id);
	return reg_put_members(c, "nodes", id, 0);
}

/* ---------------------------------------------------------------- admin */

/* Network names: 1-63 of [a-z0-9-_.], as given (no case folding: the
 * admin spells the canonical name). */
int reg_netname_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > RDV_NETNAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
		      ch == '_' || ch == '.'))
			return 0;
	}
	return 1;
}

int reg_admin_network_create(struct reg_ctx *c)
{
	static const char *const idp_keys[] = {
	    "oidc_issuer",	"oidc_audience",       "oidc_claim",
	    "oidc_ca",		"spiffe_trust_domain", "spiffe_id",
	    "spiffe_audience",	"spiffe_bundle",       "spiffe_bundle_endpoint",
	    "spiffe_bundle_ca", "shared_subject"};
	char sb[SUBJ_MAX];
	struct json_gen d;
	struct rdv_network net = {0}, other;
	struct rdv_org org;
	const char *name, *rule, *tok = NULL;
	uint32_t want = 0;
	int rc;

	/* An org's admin creates networks of its own org, nothing else. */
	if ((rc = reg_get_org_opt(c, &net.org)) < 0)
		return rc;
	if (c->org_scope && net.org != c->org_scope)
		return reg_fail(c, -EACCES,
				"an org's admin token creates only networks of its org (org_id %u)",
				c->org_scope);
	if (json_get_str(c->req.root, "name", &name) < 0 || !reg_netname_ok(name))
		return reg_fail(c, -EINVAL, "member 'name' must be 1 to 63 of [a-z0-9-_.]");
	if (json_get_str(c->req.root, "join_rule", &rule) < 0)
		return reg_fail(c, -EINVAL,
				"member 'join_rule' must be open, token, invite, ca, "
				"oidc or spiffe");
	for (size_t i = 0; i < nitems(join_rules); i++)
		if (strcmp(rule, join_rules[i].name) == 0)
			net.rule = join_rules[i].rule;
	if (!net.rule)
		return reg_fail(c, -EINVAL,
				"member 'join_rule' must be open, token, invite, ca, "
				"oidc or spiffe");
	for (size_t i = 0; !is_idp(net.rule) && i < nitems(idp_keys); i++)
		if (json_get(c->req.root, idp_keys[i]))
			return reg_fail(c, -EINVAL, "member '%s' is for join rules oidc and spiffe",
					idp_keys[i]);
	for (size_t i = 0; net.rule == RDV_JOIN_OIDC && i < nitems(idp_keys); i++)
		if (strncmp(idp_keys[i], "spiffe_", 7) == 0 && json_get(c->req.root, idp_keys[i]))
			return reg_fail(c, -EINVAL, "member '%s' is for join rule spiffe",
					idp_keys[i]);
	for (size_t i = 0; net.rule == RDV_JOIN_SPIFFE && i < nitems(idp_keys); i++)
		if (strncmp(idp_keys[i], "oidc_", 5) == 0 && json_get(c->req.root, idp_keys[i]))
			return reg_fail(c, -EINVAL, "member '%s' is for join rule oidc",
					idp_keys[i]);
	if (net.rule == RDV_JOIN_CA && (rc = reg_ca_parse_ca(c, &c->cert)) < 0)
		return rc;
	if (net.rule != RDV_JOIN_CA && json_get(c->req.root, "ca_cert"))
		return reg_fail(c, -EINVAL, "only join rule ca takes member 'ca_cert'");
	rc = json_get_str(c->req.root, "token", &tok);
	if (rc == -EINVAL)
		return reg_fail(c, -EINVAL, "member 'token' must be a string");
	if (net.rule == RDV_JOIN_TOKEN &&
	    (!tok || strlen(tok) < NET_TOKEN_MIN || strlen(tok) > NET_TOKEN_MAX))
		return reg_fail(c, -EINVAL,
				"join rule token needs member 'token' of %d to %d characters",
				NET_TOKEN_MIN, NET_TOKEN_MAX);
	if (net.rule != RDV_JOIN_TOKEN && tok)
		return reg_fail(c, -EINVAL, "only join rule token takes a token");
	if (net.org && (rc = reg_load_org(c, net.org, &org)) < 0)
		return rc;
	rc = json_get_u32(c->req.root, "network_id", &want);
	if (rc == -EINVAL || (rc == 0 && (want == 0 || want > UINT16_MAX)))
		return reg_fail(c, -EINVAL, "member 'network_id' must be 1 to 65535");
	if (want) {
		rc = rdv_net_get(&c->t, c->db, (uint16_t)want, &other);
		if (rc == 0)
			return reg_fail(c, -EEXIST, "network %u exists", want);
		if (rc != -ENOENT)
			return reg_fail(c, -EIO, "registry store error");
		net.id = (uint16_t)want;
	} else {
		rc = rdv_net_id_free(&c->t, c->db, &net.id);
		if ((rc = reg_store_rc(c, rc, -ENOSPC, "no network IDs left")) < 0)
			return rc;
	}
	snprintf(net.name, sizeof(net.name), "%s", name);
	net.created_ms = c->now;
	/* Only a hash is kept: the store never holds a usable token. */
	if (tok)
		crypto_hash_sha256(net.token_hash, (const uint8_t *)tok, strlen(tok));
	rdv_net_put(&c->t, c->db, &net);
	if (net.rule == RDV_JOIN_CA)
		rdv_net_ca_put(&c->t, c->db, net.id, &c->cert);
	if (is_idp(net.rule) && (rc = reg_idp_create(c, &net)) < 0)
		return rc;
	reg_put_network(&c->out, &net);
	if (net.rule == RDV_JOIN_CA)
		reg_put_ca(&c->out, &c->cert);
	if (is_idp(net.rule) && (rc = reg_idp_put_settings(c, &c->out, net.id)) < 0)
		return rc;
	/* Never the token, not even its hash. */
	if (reg_audit_begin(c, &d) == 0) {
		jg_kstr(&d, "name", net.name);
		jg_kstr(&d, "join_rule", reg_join_rule_name(net.rule));
		if (net.rule == RDV_JOIN_CA)
			reg_put_ca(&d, &c->cert);
		if (is_idp(net.rule))
			reg_idp_put_settings(c, &d, net.id);
		if (net.org)
			jg_ku64(&d, "org_id", net.org);
		reg_audit_end(c, &d, "network.created", reg_net_subj(sb, net.id));
	}
	log_info("admin from %s: created network %u '%s' (join rule %s, org %u)", c->peer_ip,
		 net.id, net.name, rule, net.org);
	return 0;
}

struct pair_collect {
	uint16_t net;
	uint32_t node;
	uint64_t *v;
	size_t n, cap;
};

static int pair_collect_cb(void *arg, uint32_t peer, uint16_t basis)
{
	struct pair_collect *pc = arg;
	uint32_t a = MIN(pc->node, peer), b = MAX(pc->node, peer);

	if (basis != pc->net)
		return 0;
	if (reg_grow(&pc->v, pc->n, &pc->cap, sizeof(*pc->v)) < 0)
		return -ENOMEM;
	pc->v[pc->n++] = (uint64_t)a << 32 | b;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int reg_admin_network_delete(struct reg_ctx *c)
{
	char sb[SUBJ_MAX];
	struct json_gen d;
	struct rdv_network net;
	struct idset m = {0};
	struct pair_collect pc = {0};
	struct ev_body b = {0};
	size_t np = 0;
	uint16_t id = 0;
	int rc;

	if ((rc = reg_get_net(c, &id, "the backbone (network 0) cannot be deleted")) < 0 ||
	    (rc = reg_load_net(c, id, &net)) < 0)
		return rc;
	if (rdv_member_iter(&c->t, c->db, id, reg_idset_cb, &m) < 0)
		goto store_err;
	/* Pairs this network approved; each is seen from both of its nodes. */
	pc.net = id;
	for (size_t i = 0; i < m.n; i++) {
		pc.node = m.v[i];
		if (rdv_trust_iter_basis(&c->t, c->db, m.v[i], pair_collect_cb, &pc) < 0)
			goto store_err;
	}
	if (pc.n)
		qsort(pc.v, pc.n, sizeof(*pc.v), cmp_u64);
	for (size_t i = 0; i < pc.n; i++) {
		uint32_t a = (uint32_t)(pc.v[i] >> 32), bb = (uint32_t)pc.v[i];
		if (i && pc.v[i] == pc.v[i - 1])
			continue;
		rdv_trust_del(&c->t, c->db, a, bb);
		/* Neither side asked for this: both are told. */
		b.node_id = bb;
		reg_queue_event(c, a, "trust.revoked", &b);
		b.node_id = a;
		reg_queue_event(c, bb, "trust.revoked", &b);
		reg_audit_trust_revoked(c, a, bb, "network_deleted", id);
		np++;
	}
	b.network_id = id;
	for (size_t i = 0; i < m.n; i++) {
		for (size_t j = 0; j < m.n; j++) {
			if (i == j)
				continue;
			b.node_id = m.v[j];
			reg_queue_event(c, m.v[i], "network.left", &b);
		}
		b.node_id = 0;
		reg_queue_event(c, m.v[i], "network.deleted", &b);
		rdv_member_del(&c->t, c->db, id, m.v[i]);
	}
	rdv_net_del(&c->t, c->db, id);
	if (reg_audit_begin(c, &d) == 0) {
		jg_kstr(&d, "name", net.name);
		jg_ku64(&d, "members", m.n);
		jg_ku64(&d, "trust_pairs_revoked", np);
		reg_audit_end(c, &d, "network.deleted", reg_net_subj(sb, id));
	}
	log_info("admin from %s: deleted network %u '%s' (%zu members, %zu trust pairs revoked)",
		 c->peer_ip, id, net.name, m.n, np);
	rc = 0;
	goto out;
store_err:
	rc = reg_fail(c, -EIO, "registry store error");
out:
	free(pc.v);
	reg_idset_free(&m);
	return rc;
}

/* An invite network is joined only with a member's invite, so its first
 * member has to come from the admin (doc/REGISTRY.md, network_add).
 * Works for any join rule: the admin needs no token or invite. */
int reg_admin_network_add(struct reg_ctx *c)
{
	char sb[SUBJ_MAX];
	struct rdv_network net;
	struct rdv_node n;
	uint16_t id = 0;
	uint32_t nid;
	int rc;

	if ((rc = reg_get_net(c, &id, "every node is in the backbone (network 0)")) < 0 ||
	    (rc = reg_load_net(c, id, &net)) < 0)
		return rc;
	if (json_get_u32(c->req.root, "node_id", &nid) < 0 || nid == 0)
		return reg_fail(c, -EINVAL, "member 'node_id' must be a node ID");
	if ((rc = reg_active_node(c, nid, &n)) < 0)
		return rc;
	if (!rdv_member_has(&c->t, c->db, id, nid)) {
		if ((rc = reg_add_member(c, &net, &n)) < 0)
			return rc;
		reg_audit_simple(c, "network.member_added", reg_node_subj(sb, nid), id);
		log_info("admin from %s: added node %u to network %u", c->peer_ip, nid, id);
	}
	reg_put_network(&c->out, &net);
	return 0;
}

/* An invite signed by the registry for the admin: how an operator enrols
 * nodes of an invite network without being a member himself.  Single use
 * and at most 7 days, as a member's (doc/REGISTRY.md "Invites"). */
int reg_admin_network_invite(struct reg_ctx *c)
{
	char code[RDV_INVITE_MAX], sb[SUBJ_MAX];
	struct rdv_network net;
	struct json_gen d;
	uint64_t expiry;
	uint32_t ttl = 86400;
	uint16_t id = 0;
	int rc;

	if ((rc = reg_get_net(c, &id, "the backbone (network 0) takes no invites")) < 0)
		return rc;
	if ((rc = reg_admin_net(c, id, &net)) < 0)
		return rc;
	if (net.rule != RDV_JOIN_INVITE)
		return reg_fail(c, -EINVAL, "network %u does not take an invite (join rule %s)", id,
				reg_join_rule_name(net.rule));
	if (json_get_u32(c->req.root, "ttl", &ttl) == -EINVAL || ttl == 0 ||
	    ttl > RDV_INVITE_MAX_LIFE_S)
		return reg_fail(c, -EINVAL, "member 'ttl' must be 1 to %u seconds",
				RDV_INVITE_MAX_LIFE_S);
	if (!c->db->invite_sk)
		return reg_fail(c, -EIO, "the registry has no invite key");
	expiry = c->now / 1000 + ttl;
	if (rdv_invite_make(c->db->invite_sk, id, RDV_INVITER_REGISTRY, expiry, code,
			    sizeof(code)) < 0)
		return reg_fail(c, -EIO, "could not make the invite");
	if (reg_audit_begin(c, &d) == 0) {
		jg_ku64(&d, "network_id", id);
		jg_ku64(&d, "expires", expiry);
		reg_audit_end(c, &d, "network.invite_made", reg_net_subj(sb, id));
	}
	jg_ku64(&c->out, "network_id", id);
	jg_kstr(&c->out, "invite", code);
	jg_ku64(&c->out, "expires", expiry);
	sodium_memzero(code, sizeof(code));
	log_info("admin from %s: made an invite to network %u (expires in %u s)", c->peer_ip, id,
		 ttl);
	return 0;
}

int reg_admin_network_nodes(struct reg_ctx *c)
{
	struct rdv_network net;
	uint16_t id = 0;
	int rc;

	if ((rc = reg_get_net(c, &id, NULL)) < 0)
		return rc;
	/* The admin may list the backbone: every registered node. */
	if (id != 0 && (rc = reg_load_net(c, id, &net)) < 0)
		return rc;
	return reg_put_members(c, "nodes", id, 0);
}
