/* rdv_reg_ca.c - the ca join rule (SPEC section 6, doc/CERT.md): a
 * network bound to a CA certificate admits a node only on a certificate
 * from that CA for the node's own key, inside its validity window and not
 * on the network's revocation list.  The same checks run at join, at
 * re-registration and key rotation (reg_ca_recheck_node), at renewal
 * (network_renew), and at expiry (reg_ca_sweep); revocation (ca_revoke)
 * takes the holders out at once.  The CA's key never comes here: only
 * its certificate.
 */
#include "config.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "log.h"
#include "rdv_reg_int.h"
#include "util.h"

#define CERTS_MAX 8   /* certificates one request may offer */
#define SWEEP_MAX 256 /* expired memberships ended per sweep */
#define JOIN_REFUSED "network.join_refused"

void reg_put_ca(struct json_gen *j, const struct cert *ca)
{
	uint8_t id[CERT_KEYID_LEN];

	cert_key_id(ca->public_key, id);
	jg_kstr(j, "ca_name", ca->name);
	jg_khex(j, "ca_fingerprint", ca->fingerprint, CERT_FP_LEN);
	jg_khex(j, "ca_key_id", id, sizeof(id));
	jg_ku64(j, "ca_not_after", ca->not_after);
}

void reg_put_cert_audit(struct json_gen *j, const struct cert *c)
{
	jg_khex(j, "serial", c->serial, CERT_SERIAL_LEN);
	jg_khex(j, "fingerprint", c->fingerprint, CERT_FP_LEN);
	jg_ku64(j, "not_before", c->not_before);
	jg_ku64(j, "not_after", c->not_after);
	if (c->has_node_id)
		jg_ku64(j, "cert_node_id", c->node_id);
	jg_key(j, "tags");
	jg_array_open(j);
	for (size_t i = 0; i < c->ntags; i++)
		jg_str(j, c->tags[i]);
	jg_array_close(j);
}

int reg_put_member_cert(struct reg_ctx *c, uint16_t net, uint32_t node)
{
	struct cert cert;
	int rc = rdv_net_cert_get(&c->t, c->db, net, node, &cert);

	if (rc == -ENOENT)
		return 0;
	if (rc < 0)
		return reg_fail(c, -EIO, "registry store error");
	jg_key(&c->out, "certificate");
	jg_map_open(&c->out);
	reg_put_cert_audit(&c->out, &cert);
	jg_map_close(&c->out);
	return 0;
}

int reg_ca_parse_ca(struct reg_ctx *c, struct cert *ca)
{
	const char *s;
	enum cert_err e;

	if (json_get_str(c->req.root, "ca_cert", &s) < 0)
		return reg_fail(c, -EINVAL,
				"join rule ca needs member 'ca_cert' (the CA certificate)");
	if (cert_from_text(s, strlen(s), ca) < 0)
		return reg_fail_code(c, -EINVAL, "cert_invalid", NULL,
				     "member 'ca_cert' is not a Pilot certificate");
	if ((e = cert_verify_ca(ca, c->now / 1000)) != CERT_OK)
		return reg_fail_code(c, e == CERT_E_INVALID || e == CERT_E_KIND ? -EINVAL : -EACCES,
				     cert_code(e), NULL, "the CA certificate is %s",
				     e == CERT_E_KIND ? "a node's, not a CA's" : cert_strerror(e));
	return 0;
}

/* ------------------------------------------------------------- checking */

/* Why \p cert (admitting \p node, key \p pk, to \p net under \p ca) is not
 * good now: NULL, or the reply code with the phrase in *why. */
static const char *member_cert_bad(struct reg_ctx *c, uint16_t net, const struct cert *ca,
				   const struct cert *cert, uint32_t node, const uint8_t pk[32],
				   const char **why)
{
	uint8_t nb[4];
	enum cert_err e = cert_verify_node(cert, ca, c->now / 1000);

	if (e != CERT_OK) {
		*why = cert_strerror(e);
		return cert_code(e);
	}
	if (sodium_memcmp(cert->public_key, pk, 32) != 0) {
		*why = "it was issued for another key";
		return "cert_wrong_key";
	}
	if (cert->has_node_id && node && cert->node_id != node) {
		*why = "it was issued for another node";
		return "cert_wrong_node";
	}
	store_be32(nb, node);
	if (rdv_crl_has(&c->t, c->db, net, RDV_CRL_FINGERPRINT, ca->fingerprint, CERT_FP_LEN)) {
		*why = "its CA certificate is revoked in this network";
		return "cert_ca_revoked";
	}
	if (rdv_crl_has(&c->t, c->db, net, RDV_CRL_SERIAL, cert->serial, CERT_SERIAL_LEN) ||
	    rdv_crl_has(&c->t, c->db, net, RDV_CRL_FINGERPRINT, cert->fingerprint, CERT_FP_LEN)) {
		*why = "it is revoked";
		return "cert_revoked";
	}
	if (rdv_crl_has(&c->t, c->db, net, RDV_CRL_KEY, pk, 32)) {
		*why = "the node's key is revoked in this network";
		return "cert_key_revoked";
	}
	if (node && rdv_crl_has(&c->t, c->db, net, RDV_CRL_NODE, nb, sizeof(nb))) {
		*why = "the node is revoked in this network";
		return "cert_node_revoked";
	}
	return NULL;
}

static int load_ca(struct reg_ctx *c, uint16_t net, struct cert *ca)
{
	int rc = rdv_net_ca_get(&c->t, c->db, net, ca);

	if (rc < 0)
		return reg_fail(c, -EIO, "network %u: its CA certificate cannot be read", net);
	return 0;
}

/* Admit on one of member 'certificates': the first issued by the
 * network's CA that holds (a node may offer several: from several CAs, or
 * an old one with its renewal).  None: the refusal of the first from the
 * CA, else cert_wrong_ca, else cert_invalid. */
static int admit_as(struct reg_ctx *c, const struct rdv_network *net, uint32_t node,
		    const uint8_t pk[32], struct cert *out, const char *audit_type)
{
	uint8_t id[CERT_KEYID_LEN];
	yajl_val arr = json_get(c->req.root, "certificates");
	const char *code = NULL, *why = NULL;
	struct cert ca, cand;
	int rc, decoded = 0;

	if (!arr)
		return reg_fail_code(c, -EINVAL, "cert_required", NULL,
				     "network %u admits on a certificate of its CA: member "
				     "'certificates'",
				     net->id);
	if (!YAJL_IS_ARRAY(arr) || arr->u.array.len == 0 || arr->u.array.len > CERTS_MAX)
		return reg_fail(c, -EINVAL,
				"member 'certificates' must be an array of 1 to %d certificates",
				CERTS_MAX);
	if ((rc = load_ca(c, net->id, &ca)) < 0)
		return rc;
	cert_key_id(ca.public_key, id);
	for (size_t i = 0; i < arr->u.array.len; i++) {
		yajl_val v = arr->u.array.values[i];
		const char *cc, *cw = NULL;
		if (!YAJL_IS_STRING(v))
			return reg_fail(c, -EINVAL, "member 'certificates' must hold strings");
		if (cert_from_text(v->u.string, strlen(v->u.string), &cand) < 0)
			continue;
		decoded = 1;
		if (sodium_memcmp(cand.issuer, id, sizeof(id)) != 0)
			continue;
		cc = member_cert_bad(c, net->id, &ca, &cand, node, pk, &cw);
		if (!cc) {
			*out = cand;
			return 0;
		}
		if (!code) {
			code = cc;
			why = cw;
		}
	}
	if (code)
		return reg_fail_code(c, -EACCES, code, audit_type,
				     "network %u refuses the certificate: %s", net->id, why);
	if (!decoded)
		return reg_fail_code(c, -EINVAL, "cert_invalid", audit_type,
				     "not a valid Pilot certificate");
	return reg_fail_code(c, -EACCES, "cert_wrong_ca", audit_type,
			     "no certificate from network %u's CA", net->id);
}

int reg_ca_admit(struct reg_ctx *c, const struct rdv_network *net, uint32_t node,
		 const uint8_t pk[32], struct cert *out)
{
	return admit_as(c, net, node, pk, out, JOIN_REFUSED);
}

/* ------------------------------------------------------------- ending */

/* End \p node's membership of \p net (its certificate no longer holds:
 * \p code says why), audited as \p type. */
static int cert_evict(struct reg_ctx *c, uint16_t net_id, uint32_t node, const char *code,
		      const char *type)
{
	char sb[SUBJ_MAX];
	struct json_gen d;
	struct rdv_network net;
	size_t pairs = 0;
	int rc;

	if (!rdv_member_has(&c->t, c->db, net_id, node))
		return 0;
	if ((rc = reg_load_net(c, net_id, &net)) < 0 ||
	    (rc = reg_evict_member(c, &net, node, code, &pairs)) < 0)
		return rc;
	if (reg_audit_begin(c, &d) == 0) {
		jg_ku64(&d, "node_id", node);
		jg_kstr(&d, "reason", code);
		jg_ku64(&d, "trust_pairs_revoked", pairs);
		reg_audit_end(c, &d, type, reg_net_subj(sb, net_id));
	}
	log_info("node %u is out of network %u: %s (%zu trust pairs revoked)", node, net_id, code,
		 pairs);
	return 0;
}

int reg_ca_recheck_node(struct reg_ctx *c, uint32_t node, const uint8_t pk[32])
{
	struct idset nets = {0};
	int rc = 0;

	if (rdv_node_net_iter(&c->t, c->db, node, reg_idset_cb, &nets) < 0) {
		rc = reg_fail(c, -EIO, "registry store error");
		goto out;
	}
	for (size_t i = 0; i < nets.n && rc == 0; i++) {
		uint16_t id = (uint16_t)nets.v[i];
		struct cert ca, cert;
		const char *code, *why;
		if (rdv_net_cert_get(&c->t, c->db, id, node, &cert) < 0)
			continue; /* not a ca network */
		if ((rc = load_ca(c, id, &ca)) < 0)
			break;
		code = member_cert_bad(c, id, &ca, &cert, node, pk, &why);
		if (code)
			rc = cert_evict(c, id, node, code, "network.cert_ended");
	}
out:
	reg_idset_free(&nets);
	return rc;
}

struct pair_list {
	uint64_t *v;
	size_t n, cap;
};

static int pair_cb(void *arg, uint16_t net, uint32_t node)
{
	struct pair_list *l = arg;

	if (reg_grow(&l->v, l->n, &l->cap, sizeof(*l->v)) < 0)
		return -ENOMEM;
	l->v[l->n++] = (uint64_t)net << 32 | node;
	return 0;
}

int reg_ca_sweep(struct reg_ctx *c)
{
	struct pair_list l = {0};
	int rc = 0;

	/* Collect, then end: no writes under the index's cursor. */
	if (rdv_cert_expired_iter(&c->t, c->db, c->now / 1000, SWEEP_MAX, pair_cb, &l) < 0)
		rc = reg_fail(c, -EIO, "registry store error");
	for (size_t i = 0; i < l.n && rc == 0; i++) {
		uint16_t net = (uint16_t)(l.v[i] >> 32);
		struct rdv_network n;
		/* The index holds certificates and tokens alike. */
		int ca = rdv_net_get(&c->t, c->db, net, &n) == 0 && n.rule == RDV_JOIN_CA;
		rc =
		    cert_evict(c, net, (uint32_t)l.v[i], ca ? "cert_expired" : "credential_expired",
			       ca ? "network.cert_expired" : "network.credential_expired");
	}
	jg_ku64(&c->out, "ended", l.n);
	free(l.v);
	return rc;
}

/* ------------------------------------------------------------- renewal */

/* The members learn a renewed member's new end (and its tags or claims,
 * which policy views depend on) as they learned the first. */
static int tell_renewed(struct reg_ctx *c, uint16_t id, uint64_t not_after)
{
	struct idset m = {0};
	struct ev_body b = {.network_id = id, .peer = &c->self, .not_after = not_after};

	if (rdv_member_iter(&c->t, c->db, id, reg_idset_cb, &m) < 0) {
		reg_idset_free(&m);
		return reg_fail(c, -EIO, "registry store error");
	}
	for (size_t i = 0; i < m.n; i++)
		if (m.v[i] != c->self_id)
			reg_queue_event(c, m.v[i], "network.joined", &b);
	reg_idset_free(&m);
	return reg_policy_touch(c, id);
}

/* An oidc or spiffe member's fresh token: the same subject, a later end. */
static int idp_renew(struct reg_ctx *c, struct rdv_network *net)
{
	char sb[SUBJ_MAX];
	struct json_gen d;
	struct rdv_ext old;
	int rc;

	if (!rdv_member_has(&c->t, c->db, net->id, c->self_id))
		return reg_fail(c, -EACCES, "not a member of network %u (join it)", net->id);
	if ((rc = reg_idp_admit(c, net, c->self_id, "network.renew_refused", &c->ext, c->jti)) < 0)
		return rc;
	/* A token for another subject is another identity: leave and join
	 * with it, so the members see who is in. */
	if (rdv_net_ext_get(&c->t, c->db, net->id, c->self_id, &old) == 0 &&
	    (strcmp(old.iss, c->ext.iss) != 0 || strcmp(old.sub, c->ext.sub) != 0))
		return reg_fail_code(c, -EACCES, "subject_changed", "network.renew_refused",
				     "the token is for %s, this membership for %s", c->ext.sub,
				     old.sub);
	reg_idp_keep(c, net->id, c->self_id, &c->ext, c->jti);
	if (reg_audit_begin(c, &d) == 0) {
		reg_put_ext(&d, &c->ext);
		reg_audit_end(c, &d, "network.credential_renewed", reg_net_subj(sb, net->id));
	}
	if ((rc = tell_renewed(c, net->id, c->ext.exp_s)) < 0)
		return rc;
	jg_key(&c->out, "network");
	jg_map_open(&c->out);
	reg_put_network(&c->out, net);
	if ((rc = reg_put_member_ext(c, net->id, c->self_id, 1)) < 0)
		return rc;
	jg_map_close(&c->out);
	return 0;
}

int reg_op_network_renew(struct reg_ctx *c)
{
	char sb[SUBJ_MAX];
	struct json_gen d;
	struct rdv_network net;
	struct cert cert;
	uint16_t id = 0;
	int rc;

	if ((rc = reg_get_net(c, &id, "the backbone (network 0) takes no certificate")) < 0 ||
	    (rc = reg_load_net(c, id, &net)) < 0)
		return rc;
	if (net.rule == RDV_JOIN_OIDC || net.rule == RDV_JOIN_SPIFFE)
		return idp_renew(c, &net);
	if (net.rule != RDV_JOIN_CA)
		return reg_fail(c, -EINVAL, "network %u does not take a certificate", id);
	if (!rdv_member_has(&c->t, c->db, id, c->self_id))
		return reg_fail(c, -EACCES, "not a member of network %u (join it)", id);
	if ((rc = admit_as(c, &net, c->self_id, c->self.pk, &cert, "network.renew_refused")) < 0)
		return rc;
	rdv_net_cert_put(&c->t, c->db, id, c->self_id, &cert);
	if (reg_audit_begin(c, &d) == 0) {
		reg_put_cert_audit(&d, &cert);
		reg_audit_end(c, &d, "network.cert_renewed", reg_net_subj(sb, id));
	}
	if ((rc = tell_renewed(c, id, cert.not_after)) < 0)
		return rc;
	jg_key(&c->out, "network");
	jg_map_open(&c->out);
	reg_put_network(&c->out, &net);
	reg_put_member_cert(c, id, c->self_id);
	jg_map_close(&c->out);
	return 0;
}

/* ---------------------------------------------------------- revocation */

static const char *const crl_names[] = {
    [RDV_CRL_SERIAL] = "serial",
    [RDV_CRL_FINGERPRINT] = "fingerprint",
    [RDV_CRL_KEY] = "public_key",
    [RDV_CRL_NODE] = "node_id",
};

/* The entry the request names: exactly one of serial (32 hex digits),
 * fingerprint (64), public_key (base64) or node_id. */
static int get_crl_entry(struct reg_ctx *c, uint8_t *kind, uint8_t val[32], size_t *len)
{
	const char *s;
	uint32_t node;
	int n = 0;

	*len = 0;
	if (json_get_str(c->req.root, "serial", &s) == 0) {
		n++;
		*kind = RDV_CRL_SERIAL;
		if (strlen(s) != 2 * CERT_SERIAL_LEN || hex_decode(val, 32, s) != CERT_SERIAL_LEN)
			return reg_fail(c, -EINVAL, "member 'serial' must be 32 hex digits");
		*len = CERT_SERIAL_LEN;
	}
	if (json_get_str(c->req.root, "fingerprint", &s) == 0) {
		n++;
		*kind = RDV_CRL_FINGERPRINT;
		if (strlen(s) != 2 * CERT_FP_LEN || hex_decode(val, 32, s) != CERT_FP_LEN)
			return reg_fail(c, -EINVAL, "member 'fingerprint' must be 64 hex digits");
		*len = CERT_FP_LEN;
	}
	if (json_get(c->req.root, "public_key")) {
		n++;
		*kind = RDV_CRL_KEY;
		if (json_get_b64(c->req.root, "public_key", val, 32) < 0)
			return reg_fail(c, -EINVAL,
					"member 'public_key' must be a base64 Ed25519 key");
		*len = 32;
	}
	if (json_get(c->req.root, "node_id")) {
		n++;
		*kind = RDV_CRL_NODE;
		if (json_get_u32(c->req.root, "node_id", &node) < 0 || node == 0)
			return reg_fail(c, -EINVAL, "member 'node_id' must be a node ID");
		store_be32(val, node);
		*len = 4;
	}
	if (n != 1)
		return reg_fail(
		    c, -EINVAL,
		    "name exactly one of 'serial', 'fingerprint', 'public_key', 'node_id'");
	return 0;
}

/* An entry's value as users write it: a node ID, a base64 key, else hex. */
static void crl_text(uint8_t kind, const uint8_t *val, size_t len, char *out, size_t cap)
{
	if (kind == RDV_CRL_NODE)
		snprintf(out, cap, "%u", store_rd_be32(val));
	else if (kind == RDV_CRL_KEY)
		b64_encode(out, cap, val, len);
	else
		hex_encode(out, cap, val, len);
}

/* Does the entry take \p cert (of \p node, in a network under \p ca) out? */
static int crl_hits(uint8_t kind, const uint8_t *val, size_t len, const struct cert *ca,
		    const struct cert *cert, uint32_t node)
{
	uint8_t nb[4];

	switch (kind) {
	case RDV_CRL_SERIAL:
		return memcmp(val, cert->serial, len) == 0;
	case RDV_CRL_FINGERPRINT:
		return memcmp(val, cert->fingerprint, len) == 0 ||
		       memcmp(val, ca->fingerprint, len) == 0;
	case RDV_CRL_KEY:
		return memcmp(val, cert->public_key, len) == 0;
	case RDV_CRL_NODE:
		store_be32(nb, node);
		return memcmp(val, nb, 4) == 0;
	default:
		return 0;
	}
}

int reg_admin_ca_revoke(struct reg_ctx *c)
{
	char sb[SUBJ_MAX], h[65];
	struct json_gen d;
	struct rdv_network net;
	struct idset m = {0}, out = {0};
	struct cert ca;
	uint8_t kind = 0, val[32];
	size_t len;
	uint16_t id = 0;
	int rc;

	if ((rc = reg_get_net(c, &id, "the backbone (network 0) has no CA")) < 0 ||
	    (rc = reg_admin_net(c, id, &net)) < 0)
		return rc;
	if (net.rule != RDV_JOIN_CA)
		return reg_fail(c, -EINVAL, "network %u is not a ca network", id);
	if ((rc = get_crl_entry(c, &kind, val, &len)) < 0 || (rc = load_ca(c, id, &ca)) < 0)
		return rc;
	rdv_crl_put(&c->t, c->db, id, kind, val, len, c->now);
	if (rdv_member_iter(&c->t, c->db, id, reg_idset_cb, &m) < 0) {
		rc = reg_fail(c, -EIO, "registry store error");
		goto done;
	}
	for (size_t i = 0; i < m.n && rc == 0; i++) {
		struct cert cert;
		if (rdv_net_cert_get(&c->t, c->db, id, m.v[i], &cert) < 0)
			continue;
		if (!crl_hits(kind, val, len, &ca, &cert, m.v[i]))
			continue;
		if ((rc = cert_evict(c, id, m.v[i], "cert_revoked", "network.cert_revoked")) == 0 &&
		    (rc = reg_rep_revoked(c, m.v[i])) == 0)
			rc = reg_idset_add(&out, m.v[i]);
	}
	if (rc < 0)
		goto done;
	crl_text(kind, val, len, h, sizeof(h));
	jg_ku64(&c->out, "network_id", id);
	jg_kstr(&c->out, "kind", crl_names[kind]);
	jg_kstr(&c->out, "value", h);
	jg_kbool(&c->out, "ca",
		 kind == RDV_CRL_FINGERPRINT && memcmp(val, ca.fingerprint, 32) == 0);
	reg_put_id_list(&c->out, "removed", &out, SIZE_MAX);
	if (reg_audit_begin(c, &d) == 0) {
		jg_kstr(&d, "kind", crl_names[kind]);
		jg_kstr(&d, "value", h);
		jg_ku64(&d, "removed", out.n);
		reg_audit_end(c, &d, "ca.revoked", reg_net_subj(sb, id));
	}
	log_info("admin from %s: network %u revoked %s %s (%zu members removed)", c->peer_ip, id,
		 crl_names[kind], h, out.n);
done:
	reg_idset_free(&m);
	reg_idset_free(&out);
	return rc;
}

static int crl_put_cb(void *arg, uint8_t kind, const uint8_t *val, size_t len, uint64_t ms)
{
	struct json_gen *j = arg;
	char h[65];

	if (kind >= nitems(crl_names) || !crl_names[kind])
		return 0;
	crl_text(kind, val, len, h, sizeof(h));
	jg_map_open(j);
	jg_kstr(j, "kind", crl_names[kind]);
	jg_kstr(j, "value", h);
	jg_ku64(j, "revoked_ms", ms);
	jg_map_close(j);
	return 0;
}

static int put_crl(struct reg_ctx *c, const struct rdv_network *net)
{
	struct cert ca;
	int rc;

	if (net->rule != RDV_JOIN_CA)
		return reg_fail(c, -EINVAL, "network %u is not a ca network", net->id);
	if ((rc = load_ca(c, net->id, &ca)) < 0)
		return rc;
	jg_ku64(&c->out, "network_id", net->id);
	reg_put_ca(&c->out, &ca);
	jg_key(&c->out, "entries");
	jg_array_open(&c->out);
	if (rdv_crl_iter(&c->t, c->db, net->id, crl_put_cb, &c->out) < 0)
		return reg_fail(c, -EIO, "registry store error");
	jg_array_close(&c->out);
	return 0;
}

int reg_op_ca_crl(struct reg_ctx *c)
{
	struct rdv_network net;
	uint16_t id = 0;
	int rc;

	if ((rc = reg_get_net(c, &id, "the backbone (network 0) has no CA")) < 0)
		return rc;
	/* Members only: not a member and no such network look the same. */
	if (!rdv_member_has(&c->t, c->db, id, c->self_id))
		return reg_fail(c, -EACCES, "not a member of network %u", id);
	if ((rc = reg_load_net(c, id, &net)) < 0)
		return rc;
	return put_crl(c, &net);
}

int reg_admin_ca_crl(struct reg_ctx *c)
{
	struct rdv_network net;
	uint16_t id = 0;
	int rc;

	if ((rc = reg_get_net(c, &id, "the backbone (network 0) has no CA")) < 0 ||
	    (rc = reg_admin_net(c, id, &net)) < 0)
		return rc;
	return put_crl(c, &net);
}
