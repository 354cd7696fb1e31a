/* rdv_reg_org.c - orgs: enrolment (a node's org_enroll) and the admin's
 * org requests (create, members).  org_revoke is rdv_reg_revoke.c.
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


/* ------------------------------------------------------------ orgs */

/* Member `org_id`, optional: 0 when absent.  \retval 0 or -EINVAL. */
int reg_get_org_opt(struct reg_ctx *c, uint32_t *org)
{
	int rc = json_get_u32(c->req.root, "org_id", org);

	if (rc == -ENOENT) {
		*org = 0;
		return 0;
	}
	if (rc < 0 || *org == 0)
		return reg_fail(c, -EINVAL, "member 'org_id' must be an org ID (1 to 4294967295)");
	return 0;
}

static int get_org(struct reg_ctx *c, uint32_t *org)
{
	int rc = reg_get_org_opt(c, org);

	if (rc == 0 && *org == 0)
		return reg_fail(c, -EINVAL, "member 'org_id' is required");
	return rc;
}

int reg_load_org(struct reg_ctx *c, uint32_t id, struct rdv_org *o)
{
	return reg_store_rc(c, rdv_org_get(&c->t, c->db, id, o), -ENOENT, "no such org");
}

/* Join every network org \p o owns, as network_join would (events, audit),
 * and answer each with its members. */
static int enroll_networks(struct reg_ctx *c, const struct rdv_org *o, struct idset *joined)
{
	char sb[SUBJ_MAX];
	struct json_gen d;
	struct rdv_network net;
	struct idset nets = {0};
	int rc = 0;

	if (rdv_org_net_iter(&c->t, c->db, o->id, reg_idset_cb, &nets) < 0) {
		rc = reg_fail(c, -EIO, "registry store error");
		goto out;
	}
	jg_key(&c->out, "joined");
	jg_array_open(&c->out);
	for (size_t i = 0; i < nets.n; i++) {
		uint16_t id = (uint16_t)nets.v[i];
		if ((rc = reg_load_net(c, id, &net)) < 0) {
			rc = reg_fail(c, -EIO, "registry store error"); /* the index lies */
			goto out;
		}
		if (!rdv_member_has(&c->t, c->db, id, c->self_id)) {
			if ((rc = reg_add_member(c, &net, &c->self)) < 0)
				goto out;
			if (reg_audit_begin(c, &d) == 0) {
				jg_kstr(&d, "join_rule", "org");
				jg_ku64(&d, "org_id", o->id);
				reg_audit_end(c, &d, "network.joined", reg_net_subj(sb, id));
			}
			if (reg_idset_add(joined, id) < 0) {
				rc = reg_fail(c, -EIO, "out of memory");
				goto out;
			}
		}
		jg_map_open(&c->out);
		jg_key(&c->out, "network");
		jg_map_open(&c->out);
		reg_put_network(&c->out, &net);
		jg_map_close(&c->out);
		if ((rc = reg_put_members(c, "members", id, c->self_id)) < 0)
			goto out;
		jg_map_close(&c->out);
	}
	jg_array_close(&c->out);
out:
	reg_idset_free(&nets);
	return rc;
}

/* Enrol in an org with its enroll token: membership of the org and of
 * every network it owns.  Idempotent: a member enrolling again gets the
 * same answer, and only networks it is not in yet are joined. */
int reg_op_org_enroll(struct reg_ctx *c)
{
	uint8_t h[crypto_hash_sha256_BYTES];
	char sb[SUBJ_MAX];
	struct json_gen d;
	struct rdv_org o;
	struct idset joined = {0};
	const char *tok;
	uint32_t id;
	int rc, is_new, bad;

	if ((rc = get_org(c, &id)) < 0)
		return rc;
	if (json_get_str(c->req.root, "token", &tok) < 0)
		return reg_fail(c, -EINVAL, "member 'token' must be the org's enroll token");
	if ((rc = reg_load_org(c, id, &o)) < 0)
		return rc;
	crypto_hash_sha256(h, (const uint8_t *)tok, strlen(tok));
	bad = sodium_memcmp(h, o.enroll_hash, sizeof(h)) != 0;
	sodium_memzero(h, sizeof(h));
	if (bad)
		return reg_fail(c, -EACCES, "wrong enroll token for org %u", id);
	if (rdv_org_ban_has(&c->t, c->db, id, c->self_id))
		return reg_fail(c, -EACCES,
				"org %u's admin removed this node: it may not enroll again", id);
	is_new = !rdv_org_member_has(&c->t, c->db, id, c->self_id);
	if (is_new)
		rdv_org_member_put(&c->t, c->db, id, c->self_id, c->now);
	jg_ku64(&c->out, "org_id", id);
	if ((rc = enroll_networks(c, &o, &joined)) < 0)
		goto out;
	if ((is_new || joined.n) && reg_audit_begin(c, &d) == 0) {
		jg_kbool(&d, "new", is_new);
		reg_put_id_list(&d, "networks_joined", &joined, REG_AUDIT_LIST_MAX);
		reg_audit_end(c, &d, "org.enrolled", reg_org_subj(sb, id));
	}
	if (is_new || joined.n)
		log_info("node %u enrolled in org %u (%zu networks joined)", c->self_id, id,
			 joined.n);
out:
	reg_idset_free(&joined);
	return rc;
}

/* ------------------------------------------------------------ admin: orgs */

int reg_admin_org_create(struct reg_ctx *c)
{
	char enroll[64], admin[64], sb[SUBJ_MAX];
	struct rdv_org o = {0};
	struct json_gen d;
	const char *name;
	int rc;

	if (json_get_str(c->req.root, "name", &name) < 0 || !reg_netname_ok(name))
		return reg_fail(c, -EINVAL, "member 'name' must be 1 to 63 of [a-z0-9-_.]");
	rc = rdv_org_id_alloc(&c->t, c->db, &o.id);
	if ((rc = reg_store_rc(c, rc, -ENOSPC, "no org IDs left")) < 0)
		return rc;
	snprintf(o.name, sizeof(o.name), "%s", name);
	o.created_ms = c->now;
	reg_new_secret(enroll, o.enroll_hash);
	reg_new_secret(admin, o.admin_hash);
	rdv_org_put(&c->t, c->db, &o);
	/* Shown once, here; the reply is sent only if this commits. */
	jg_ku64(&c->out, "org_id", o.id);
	jg_kstr(&c->out, "name", o.name);
	jg_kstr(&c->out, "enroll_token", enroll);
	jg_kstr(&c->out, "admin_token", admin);
	sodium_memzero(enroll, sizeof(enroll));
	sodium_memzero(admin, sizeof(admin));
	if (reg_audit_begin(c, &d) == 0) {
		jg_kstr(&d, "name", o.name);
		reg_audit_end(c, &d, "org.created", reg_org_subj(sb, o.id));
	}
	log_info("admin from %s: created org %u '%s'", c->peer_ip, o.id, o.name);
	return 0;
}

int reg_admin_org(struct reg_ctx *c, uint32_t id, struct rdv_org *o)
{
	if (c->org_scope && id != c->org_scope)
		return reg_fail(c, -EACCES, "an org's admin token acts only on org %u",
				c->org_scope);
	return reg_load_org(c, id, o);
}

static int org_member_out(void *arg, uint32_t id)
{
	/* A deregistered member is hidden, as in every member list. */
	return reg_put_node(arg, id, 1);
}

int reg_admin_org_members(struct reg_ctx *c)
{
	struct rdv_org o;
	uint32_t id;
	int rc;

	if ((rc = get_org(c, &id)) < 0 || (rc = reg_admin_org(c, id, &o)) < 0)
		return rc;
	jg_key(&c->out, "nodes");
	jg_array_open(&c->out);
	if (rdv_org_member_iter(&c->t, c->db, id, org_member_out, c) < 0)
		return reg_fail(c, -EIO, "registry store error");
	jg_array_close(&c->out);
	return 0;
}
