/* rdv_reg_idp.c - the oidc and spiffe join rules (SPEC section 6,
 * doc/IDENTITY.md): a network bound to an identity provider admits a node
 * on a JWT from it -- an OpenID Connect ID token of its issuer, or a
 * JWT-SVID of its SPIFFE trust domain -- checked by jwt.h against the
 * network's last good key set.  The member's identity (iss, sub) is kept
 * with its membership, which ends at the token's exp unless renewed
 * (network_renew with a fresh token; the expiry sweep is reg_ca_sweep's).
 *
 * Key sets come from the store only: rdv_jwks.c fetches them (OIDC
 * discovery, a SPIFFE bundle endpoint) outside any request.  A token whose
 * key is not in the set asks for a refresh through db->keys_want; while
 * one runs, the request is parked (code keys_pending: rdv_http.c answers
 * it once the fetch ends) rather than refused.
 *
 * Binding: one subject is one member at a time (ext_subj), and a token ID
 * (jti) presented by one node is refused from any other until it expires.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "jwt.h"
#include "log.h"
#include "rdv_jwks.h"
#include "rdv_reg_int.h"
#include "rdv_store.h"
#include "util.h"

#define IDP_CLAIMS_MAX 8       /* --oidc-claim KEY=VALUE per network */
#define IDP_URL_MAX 255	       /* issuer, bundle endpoint */
#define IDP_CA_MAX (64 * 1024) /* PEM bundle for the provider's TLS */
#define IDP_LEEWAY_S 30	       /* clock skew allowed on exp and nbf */
#define JOIN_REFUSED "network.join_refused"

struct idp {
	uint8_t rule;
	const char *issuer, *audience, *trust_domain, *id_pattern, *endpoint;
	const char *claims[IDP_CLAIMS_MAX];
	size_t nclaims;
	int shared_subject;
	yajl_val root; /* owns the strings */
};

static void idp_free(struct idp *p)
{
	if (p->root)
		yajl_tree_free(p->root);
	memset(p, 0, sizeof(*p));
}

/* ------------------------------------------------------------ creation */

static int https_url(const char *s)
{
	return strncmp(s, "https://", 8) == 0 && s[8] && strlen(s) <= IDP_URL_MAX &&
	       !strpbrk(s, " \t\r\n\"\\#");
}

static int req_str(struct reg_ctx *c, const char *key, size_t max, const char **out)
{
	if (json_get_str(c->req.root, key, out) < 0 || !**out || strlen(*out) > max)
		return reg_fail(c, -EINVAL, "member '%s' must be a string of 1 to %zu bytes", key,
				max);
	return 0;
}

static int opt_str(struct reg_ctx *c, const char *key, size_t max, const char **out)
{
	*out = NULL;
	if (!json_get(c->req.root, key))
		return 0;
	return req_str(c, key, max, out);
}

static int create_oidc(struct reg_ctx *c, struct json_gen *j)
{
	const char *iss, *aud, *ca;
	yajl_val cl = json_get(c->req.root, "oidc_claim");
	int rc;

	if ((rc = req_str(c, "oidc_issuer", IDP_URL_MAX, &iss)) < 0 ||
	    (rc = req_str(c, "oidc_audience", JWT_STR_MAX, &aud)) < 0 ||
	    (rc = opt_str(c, "oidc_ca", IDP_CA_MAX, &ca)) < 0)
		return rc;
	if (!https_url(iss))
		return reg_fail(c, -EINVAL, "member 'oidc_issuer' must be an https:// URL");
	if (ca && !strstr(ca, "-----BEGIN CERTIFICATE-----"))
		return reg_fail(c, -EINVAL, "member 'oidc_ca' must be PEM certificates");
	if (cl && (!YAJL_IS_ARRAY(cl) || cl->u.array.len > IDP_CLAIMS_MAX))
		return reg_fail(c, -EINVAL, "member 'oidc_claim' must be an array of at most %d",
				IDP_CLAIMS_MAX);
	jg_kstr(j, "issuer", iss);
	jg_kstr(j, "audience", aud);
	if (ca)
		jg_kstr(j, "ca", ca);
	jg_key(j, "claims");
	jg_array_open(j);
	for (size_t i = 0; cl && i < cl->u.array.len; i++) {
		yajl_val v = cl->u.array.values[i];
		if (!YAJL_IS_STRING(v) || !jwt_claim_sel_ok(v->u.string))
			return reg_fail(c, -EINVAL, "oidc_claim %zu: not KEY=VALUE", i + 1);
		jg_str(j, v->u.string);
	}
	jg_array_close(j);
	return 0;
}

static int create_spiffe(struct reg_ctx *c, struct json_gen *j, uint16_t net)
{
	const char *td, *pat, *aud, *bundle, *ep, *ca;
	char id[300], ptd[256], err[160];
	struct rdv_jwks_rec r = {0};
	struct jwks keys;
	int rc;

	if ((rc = req_str(c, "spiffe_trust_domain", 255, &td)) < 0 ||
	    (rc = req_str(c, "spiffe_id", 2048, &pat)) < 0 ||
	    (rc = req_str(c, "spiffe_audience", JWT_STR_MAX, &aud)) < 0 ||
	    (rc = opt_str(c, "spiffe_bundle", JWKS_MAX, &bundle)) < 0 ||
	    (rc = opt_str(c, "spiffe_bundle_endpoint", IDP_URL_MAX, &ep)) < 0 ||
	    (rc = opt_str(c, "spiffe_bundle_ca", IDP_CA_MAX, &ca)) < 0)
		return rc;
	snprintf(id, sizeof(id), "spiffe://%s/x", td);
	if (!spiffe_id_valid(id, ptd, sizeof(ptd)) || strcmp(ptd, td) != 0)
		return reg_fail(c, -EINVAL, "member 'spiffe_trust_domain' is not a trust domain");
	{
		/* A valid pattern with each '*' made a segment is a SPIFFE ID
		 * of the network's trust domain that the pattern matches. */
		char probe[2400];
		snprintf(probe, sizeof(probe), "%s", pat);
		for (char *p = probe; *p; p++)
			if (*p == '*')
				*p = 'x';
		if (!spiffe_id_valid(probe, ptd, sizeof(ptd)) || strcmp(ptd, td) != 0 ||
		    !spiffe_id_match(pat, probe))
			return reg_fail(c, -EINVAL,
					"member 'spiffe_id' must be a SPIFFE ID pattern in "
					"spiffe://%s (a segment '*' matches one, a last '*' any)",
					td);
	}
	if (!!bundle == !!ep)
		return reg_fail(c, -EINVAL,
				"a spiffe network takes exactly one of 'spiffe_bundle' (a JWKS "
				"document) and 'spiffe_bundle_endpoint' (an https:// URL)");
	if (ep && !https_url(ep))
		return reg_fail(c, -EINVAL,
				"member 'spiffe_bundle_endpoint' must be an https:// URL");
	if (ca && !strstr(ca, "-----BEGIN CERTIFICATE-----"))
		return reg_fail(c, -EINVAL, "member 'spiffe_bundle_ca' must be PEM certificates");
	if (bundle) {
		if (jwks_parse(bundle, strlen(bundle), JWKS_SPIFFE, &keys, err, sizeof(err)) < 0)
			return reg_fail(c, -EINVAL, "spiffe_bundle: %s", err);
		rc = keys.n;
		jwks_free(&keys);
		if (rc == 0)
			return reg_fail(c, -EINVAL,
					"spiffe_bundle holds no usable JWT-SVID key (use "
					"\"jwt-svid\", RS256/ES256/EdDSA)");
		/* A bundle given as a file is what the admin vouches for: kept
		 * until replaced, never refreshed. */
		r.fetched_ms = c->now;
		r.fresh_until_ms = UINT64_MAX;
		r.json = (char *)bundle;
		r.len = strlen(bundle);
		rdv_net_jwks_put(&c->t, c->db, net, &r);
	}
	jg_kstr(j, "trust_domain", td);
	jg_kstr(j, "spiffe_id", pat);
	jg_kstr(j, "audience", aud);
	if (ep)
		jg_kstr(j, "bundle_endpoint", ep);
	if (ca)
		jg_kstr(j, "ca", ca);
	return 0;
}

int reg_idp_create(struct reg_ctx *c, const struct rdv_network *net)
{
	struct json_gen j;
	const char *text;
	size_t len;
	int shared = 0, rc;

	if (json_get(c->req.root, "shared_subject") &&
	    json_get_bool(c->req.root, "shared_subject", &shared) < 0)
		return reg_fail(c, -EINVAL, "member 'shared_subject' must be true or false");
	if (json_gen_init(&j) < 0)
		return reg_fail(c, -EIO, "out of memory");
	jg_map_open(&j);
	jg_kstr(&j, "rule", reg_join_rule_name(net->rule));
	rc = net->rule == RDV_JOIN_OIDC ? create_oidc(c, &j) : create_spiffe(c, &j, net->id);
	if (shared)
		jg_kbool(&j, "shared_subject", 1);
	jg_map_close(&j);
	if (rc == 0 && json_gen_finish(&j, &text, &len) < 0)
		rc = reg_fail(c, -EINVAL, "rule settings must be valid UTF-8");
	if (rc == 0)
		rdv_net_idp_put(&c->t, c->db, net->id, text, len);
	json_gen_free(&j);
	return rc;
}

/* The rule's settings as stored. */
static int idp_load(struct reg_ctx *c, uint16_t net, struct idp *p)
{
	char *text = NULL, err[96];
	size_t len;
	yajl_val cl;
	int rc = rdv_net_idp_get(&c->t, c->db, net, &text, &len);

	memset(p, 0, sizeof(*p));
	if (rc == 0)
		p->root = json_parse(text, len, 0, err, sizeof(err));
	free(text);
	if (!p->root)
		return reg_fail(c, -EIO,
				"network %u: its identity provider settings cannot be read", net);
	json_get_str(p->root, "issuer", &p->issuer);
	json_get_str(p->root, "audience", &p->audience);
	json_get_str(p->root, "trust_domain", &p->trust_domain);
	json_get_str(p->root, "spiffe_id", &p->id_pattern);
	json_get_str(p->root, "bundle_endpoint", &p->endpoint);
	json_get_bool(p->root, "shared_subject", &p->shared_subject);
	p->rule = p->trust_domain ? RDV_JOIN_SPIFFE : RDV_JOIN_OIDC;
	cl = json_get(p->root, "claims");
	for (size_t i = 0; YAJL_IS_ARRAY(cl) && i < cl->u.array.len && i < IDP_CLAIMS_MAX; i++)
		if (YAJL_IS_STRING(cl->u.array.values[i]))
			p->claims[p->nclaims++] = cl->u.array.values[i]->u.string;
	return 0;
}

/* The settings an admin sees (never the CA bundle: long, not secret). */
int reg_idp_put_settings(struct reg_ctx *c, struct json_gen *j, uint16_t net)
{
	struct idp p;
	int rc = idp_load(c, net, &p);

	if (rc < 0)
		return rc;
	if (p.rule == RDV_JOIN_OIDC) {
		jg_kstr(j, "oidc_issuer", p.issuer);
		jg_kstr(j, "oidc_audience", p.audience);
		jg_key(j, "oidc_claim");
		jg_array_open(j);
		for (size_t i = 0; i < p.nclaims; i++)
			jg_str(j, p.claims[i]);
		jg_array_close(j);
	} else {
		jg_kstr(j, "spiffe_trust_domain", p.trust_domain);
		jg_kstr(j, "spiffe_id", p.id_pattern);
		jg_kstr(j, "spiffe_audience", p.audience);
		if (p.endpoint)
			jg_kstr(j, "spiffe_bundle_endpoint", p.endpoint);
	}
	jg_kbool(j, "shared_subject", p.shared_subject);
	idp_free(&p);
	return 0;
}

/* ------------------------------------------------------------- checking */

/* The claims policy matches (claim:NAME=VALUE): string and string-array
 * members other than the registered ones, as "name=value", bounded. */
static void keep_claims(const struct jwt *t, struct rdv_ext *e)
{
	static const char *const skip[] = {"iss", "sub", "aud", "exp", "nbf", "iat", "jti"};
	yajl_val o = t->claims;

	for (size_t i = 0; o && i < o->u.object.len && e->nclaims < RDV_EXT_CLAIMS_MAX; i++) {
		const char *k = o->u.object.keys[i];
		yajl_val v = o->u.object.values[i];
		size_t nv = YAJL_IS_ARRAY(v) ? v->u.array.len : 1;
		int reg = 0;
		for (size_t s = 0; s < nitems(skip); s++)
			reg |= strcmp(k, skip[s]) == 0;
		for (size_t x = 0; !reg && x < nv && e->nclaims < RDV_EXT_CLAIMS_MAX; x++) {
			yajl_val it = YAJL_IS_ARRAY(v) ? v->u.array.values[x] : v;
			size_t kl = strlen(k), vl;
			if (!YAJL_IS_STRING(it))
				continue;
			vl = strlen(it->u.string);
			if (kl + 1 + vl > RDV_EXT_CLAIM_MAX)
				continue; /* too long to match a policy's claim: left out */
			memcpy(e->claims[e->nclaims], k, kl);
			e->claims[e->nclaims][kl] = '=';
			memcpy(e->claims[e->nclaims] + kl + 1, it->u.string, vl + 1);
			e->nclaims++;
		}
	}
}

/* The key set, parsed; a missing one, or one without the token's key,
 * asks for a refresh and parks the request while it runs. */
static int load_keys(struct reg_ctx *c, uint16_t net, const struct idp *p, const char *tok,
		     struct jwks *keys)
{
	struct rdv_jwks_rec r;
	char kid[JWT_KID_MAX + 1], err[160];
	int rc = rdv_net_jwks_get(&c->t, c->db, net, &r), has = 0;

	memset(keys, 0, sizeof(*keys));
	if (rc < 0 && rc != -ENOENT)
		return reg_fail(c, -EIO, "registry store error");
	if (rc == 0 &&
	    jwks_parse(r.json, r.len, p->rule == RDV_JOIN_SPIFFE ? JWKS_SPIFFE : JWKS_OIDC, keys,
		       err, sizeof(err)) < 0)
		log_warnx("network %u: the stored key set is unusable: %s", net, err);
	rdv_jwks_rec_free(&r);
	if (jwt_peek_kid(tok, strlen(tok), kid) == 0) {
		for (size_t i = 0; i < keys->n; i++)
			has |= keys->keys[i].has_kid && strcmp(keys->keys[i].kid, kid) == 0;
	} else {
		has = keys->n > 0;
	}
	if (has || !c->db->keys_want || c->db->keys_rerun)
		return 0;
	/* A fetch may run now (at most one per 30 s per network): park. */
	if (c->db->keys_want(c->db->keys_arg, net)) {
		jwks_free(keys);
		c->wait_net = net;
		return reg_fail_code(c, -EAGAIN, "keys_pending", NULL,
				     "network %u: fetching its identity provider's keys", net);
	}
	return 0;
}

static const char *token_member(uint8_t rule)
{
	return rule == RDV_JOIN_SPIFFE ? "svid" : "oidc_token";
}

int reg_idp_admit(struct reg_ctx *c, const struct rdv_network *net, uint32_t node,
		  const char *audit_type, struct rdv_ext *out, char jti[256])
{
	const char *tok, *what = net->rule == RDV_JOIN_SPIFFE ? "JWT-SVID" : "OIDC token";
	struct jwt_expect x = {.now_s = c->now / 1000, .leeway_s = IDP_LEEWAY_S};
	char msg[160];
	struct jwks keys;
	struct jwt t;
	struct idp p;
	enum jwt_err e;
	uint32_t other;
	int rc;

	memset(out, 0, sizeof(*out));
	jti[0] = '\0';
	if (json_get_str(c->req.root, token_member(net->rule), &tok) < 0 || !*tok)
		return reg_fail_code(c, -EINVAL, "token_required", NULL,
				     "network %u admits on a %s: member '%s'", net->id, what,
				     token_member(net->rule));
	if ((rc = idp_load(c, net->id, &p)) < 0)
		return rc;
	if ((rc = load_keys(c, net->id, &p, tok, &keys)) < 0)
		goto out;
	x.issuer = p.rule == RDV_JOIN_OIDC ? p.issuer : NULL;
	x.audience = p.audience;
	x.spiffe = p.rule == RDV_JOIN_SPIFFE;
	x.trust_domain = p.trust_domain;
	e = jwt_verify(tok, strlen(tok), &keys, &x, &t, msg, sizeof(msg));
	jwks_free(&keys);
	if (e != JWT_OK) {
		rc = reg_fail_code(c, e == JWT_E_NOMEM ? -EIO : -EACCES, jwt_err_code(e),
				   audit_type, "network %u refuses the %s: %s", net->id, what, msg);
		goto out;
	}
	for (size_t i = 0; i < p.nclaims; i++) {
		char name[RDV_EXT_CLAIM_MAX + 1], *eq;
		snprintf(name, sizeof(name), "%s", p.claims[i]);
		eq = strchr(name, '=');
		if (eq)
			*eq = '\0'; /* checked at creation; a damaged setting matches nothing */
		if (!eq || !jwt_claim_has(&t, name, eq + 1)) {
			rc = reg_fail_code(c, -EACCES, "token_claim_mismatch", audit_type,
					   "network %u needs claim %s", net->id, p.claims[i]);
			goto out_t;
		}
	}
	if (p.rule == RDV_JOIN_SPIFFE && !spiffe_id_match(p.id_pattern, t.sub)) {
		rc = reg_fail_code(c, -EACCES, "token_wrong_subject", audit_type,
				   "SPIFFE ID %s does not match network %u's %s", t.sub, net->id,
				   p.id_pattern);
		goto out_t;
	}
	/* Identity is (iss, sub): never email or another mutable claim.  A
	 * JWT-SVID's iss is optional; its trust domain names the issuer. */
	snprintf(out->iss, sizeof(out->iss), "%s",
		 p.rule == RDV_JOIN_SPIFFE ? p.trust_domain : t.iss);
	snprintf(out->sub, sizeof(out->sub), "%s", t.sub);
	out->exp_s = t.exp;
	keep_claims(&t, out);
	rc = rdv_ext_subject_node(&c->t, c->db, net->id, out->iss, out->sub, &other);
	if (rc == 0 && other != node && !p.shared_subject &&
	    rdv_member_has(&c->t, c->db, net->id, other)) {
		rc = reg_fail_code(c, -EACCES, "subject_in_use", audit_type,
				   "%s is network %u's member node %u already", out->sub, net->id,
				   other);
		goto out_t;
	}
	rc = 0;
	/* Until its exp and the leeway after it: as long as jwt_verify
	 * takes the token, another node may not present it. */
	if (t.jti[0] &&
	    rdv_jti_node(&c->t, c->db, out->iss, t.jti,
			 x.now_s > IDP_LEEWAY_S ? x.now_s - IDP_LEEWAY_S : 0, &other) == 0 &&
	    other != node) {
		rc = reg_fail_code(c, -EACCES, "token_replayed", audit_type,
				   "this token (jti) was presented by node %u", other);
		goto out_t;
	}
	/* Within the leeway a token verifies, but a membership that would end
	 * before it begins is no membership: the leeway is for nbf's skew. */
	if (t.exp <= x.now_s) {
		rc = reg_fail_code(c, -EACCES, "token_expired", audit_type,
				   "network %u refuses the %s: it expired %llu s ago", net->id,
				   what, (unsigned long long)(x.now_s - t.exp));
		goto out_t;
	}
	snprintf(jti, JWT_STR_MAX + 1, "%s", t.jti);
out_t:
	jwt_free(&t);
out:
	idp_free(&p);
	return rc;
}

int reg_idp_vouches(struct reg_ctx *c, uint32_t node)
{
	struct idset nets = {0};
	int ok = 0;

	if (!json_get(c->req.root, "oidc_token") && !json_get(c->req.root, "svid"))
		return 0;
	if (rdv_node_net_iter(&c->t, c->db, node, reg_idset_cb, &nets) < 0)
		goto out;
	for (size_t i = 0; i < nets.n && !ok; i++) {
		struct rdv_network net;
		struct rdv_ext had, now;
		char jti[256];
		if (rdv_net_get(&c->t, c->db, (uint16_t)nets.v[i], &net) < 0 ||
		    (net.rule != RDV_JOIN_OIDC && net.rule != RDV_JOIN_SPIFFE) ||
		    rdv_net_ext_get(&c->t, c->db, net.id, node, &had) < 0)
			continue;
		ok = reg_idp_admit(c, &net, node, NULL, &now, jti) == 0 &&
		     strcmp(had.iss, now.iss) == 0 && strcmp(had.sub, now.sub) == 0;
		/* A probe that failed says nothing: the caller's refusal does. */
		c->code = NULL;
		c->refusal_type = NULL;
		c->wait_net = 0;
		c->msg[0] = '\0';
		if (ok)
			log_info(
			    "node %u: its identity is renewed on a fresh token of network %u (%s)",
			    node, net.id, now.sub);
	}
out:
	reg_idset_free(&nets);
	return ok;
}

void reg_idp_keep(struct reg_ctx *c, uint16_t net, uint32_t node, const struct rdv_ext *e,
		  const char *jti)
{
	rdv_net_ext_put(&c->t, c->db, net, node, e);
	if (jti[0])
		rdv_jti_put(&c->t, c->db, e->iss, jti, e->exp_s, node);
}

void reg_put_ext(struct json_gen *j, const struct rdv_ext *e)
{
	jg_kstr(j, "external_id", e->sub);
	jg_kstr(j, "external_issuer", e->iss);
	jg_ku64(j, "not_after", e->exp_s);
}

int reg_put_member_ext(struct reg_ctx *c, uint16_t net, uint32_t node, int nested)
{
	struct rdv_ext e;
	int rc = rdv_net_ext_get(&c->t, c->db, net, node, &e);

	if (rc == -ENOENT)
		return 0;
	if (rc < 0)
		return reg_fail(c, -EIO, "registry store error");
	if (nested) {
		jg_key(&c->out, "identity");
		jg_map_open(&c->out);
		reg_put_ext(&c->out, &e);
		jg_map_close(&c->out);
	} else {
		jg_kstr(&c->out, "external_id", e.sub);
		jg_kstr(&c->out, "external_issuer", e.iss);
		jg_ku64(&c->out, "credential_not_after", e.exp_s);
	}
	return 0;
}

/* The fetcher's view of a network's settings (rdv_jwks.c). */
int rdv_idp_source(struct rdv_db *db, uint16_t net, struct rdv_idp_source *src)
{
	struct store_txn t;
	char *text = NULL, err[96];
	const char *s;
	size_t len;
	yajl_val v = NULL;
	int rc;

	memset(src, 0, sizeof(*src));
	store_txn_begin(db->st, &t, 1);
	rc = rdv_net_idp_get(&t, db, net, &text, &len);
	store_txn_abort(&t);
	if (rc < 0)
		return rc;
	v = json_parse(text, len, 0, err, sizeof(err));
	free(text);
	if (!v)
		return -EBADMSG;
	rc = -ENOENT; /* a bundle given as a file: nothing to fetch */
	if (json_get_str(v, "issuer", &s) == 0) {
		src->spiffe = 0;
		snprintf(src->url, sizeof(src->url), "%s", s);
		rc = 0;
	} else if (json_get_str(v, "bundle_endpoint", &s) == 0) {
		src->spiffe = 1;
		snprintf(src->url, sizeof(src->url), "%s", s);
		rc = 0;
	}
	if (rc == 0 && json_get_str(v, "ca", &s) == 0 && !(src->ca = strdup(s)))
		rc = -ENOMEM;
	yajl_tree_free(v);
	return rc;
}
