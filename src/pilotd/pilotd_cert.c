/* pilotd_cert.c - this node's certificates for ca networks (SPEC section
 * 6, doc/CERT.md): loaded from the `certificates` files, or handed over
 * by `network join --cert`; offered at every join, renewed when the files
 * change; and the ends of certificate memberships, ours and our peers',
 * kept to the second (the registry's word is not waited for).
 */
#include "config.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dp.h"
#include "json.h"
#include "log.h"
#include "pilotd.h"
#include "util.h"

#define CERT_FILE_MAX 4096
#define CERT_RECHECK_MS 30000 /* how often the files are looked at */

/* The file's modification time, nanoseconds (0 if it cannot be read). */
static uint64_t file_mtime(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return 0;
	return (uint64_t)st.st_mtim.tv_sec * 1000000000ull + (uint64_t)st.st_mtim.tv_nsec;
}

int pilotd_certs_read(char **files, struct pilotd_certs *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; files && files[i]; i++) {
		char *text = NULL;
		size_t len = 0;
		int rc;
		if (out->n == PILOTD_CERTS_MAX) {
			snprintf(err, errlen, "certificates: at most %d files", PILOTD_CERTS_MAX);
			return -E2BIG;
		}
		rc = file_read_all(files[i], CERT_FILE_MAX, &text, &len);
		if (rc < 0) {
			snprintf(err, errlen, "certificates: %s: %s", files[i], strerror(-rc));
			return rc;
		}
		rc = cert_from_text(text, len, &out->c[out->n]);
		free(text);
		if (rc < 0 || out->c[out->n].kind != CERT_KIND_NODE) {
			snprintf(err, errlen, "certificates: %s: %s", files[i],
				 rc < 0 ? "not a Pilot certificate"
					: "a CA certificate, not a node's");
			return -EINVAL;
		}
		out->mtime_sum += file_mtime(files[i]);
		out->n++;
	}
	return 0;
}

int pilotd_cert_add(struct pilotd *d, const struct cert *c)
{
	struct pilotd_certs *cs = &d->certs;

	if (c->kind != CERT_KIND_NODE || sodium_memcmp(c->public_key, d->ed_pk, 32) != 0)
		return -EINVAL;
	for (size_t i = 0; i < cs->n; i++)
		if (memcmp(cs->c[i].fingerprint, c->fingerprint, CERT_FP_LEN) == 0)
			return 0;
	/* Full: the one that ends first makes room. */
	if (cs->n == PILOTD_CERTS_MAX) {
		size_t k = 0;
		for (size_t i = 1; i < cs->n; i++)
			if (cs->c[i].not_after < cs->c[k].not_after)
				k = i;
		cs->c[k] = cs->c[--cs->n];
	}
	cs->c[cs->n++] = *c;
	return 0;
}

/* Could \p c admit us now: our key, not expired? */
static int cert_usable(const struct pilotd *d, const struct cert *c, uint64_t now_s)
{
	return sodium_memcmp(c->public_key, d->ed_pk, 32) == 0 && c->not_after > now_s;
}

void pilotd_cert_put_one(struct json_gen *j, const struct cert *c)
{
	char b64[CERT_PEM_MAX];

	if (cert_to_b64(c, b64, sizeof(b64)) < 0)
		return;
	jg_key(j, "certificates");
	jg_array_open(j);
	jg_str(j, b64);
	jg_array_close(j);
}

void pilotd_certs_put(struct pilotd *d, struct json_gen *j)
{
	uint64_t now_s = now_real_ms() / 1000;
	char b64[CERT_PEM_MAX];
	size_t n = 0;

	for (size_t i = 0; i < d->certs.n; i++) {
		const struct cert *c = &d->certs.c[i];
		if (!cert_usable(d, c, now_s) || cert_to_b64(c, b64, sizeof(b64)) < 0)
			continue;
		if (n++ == 0) {
			jg_key(j, "certificates");
			jg_array_open(j);
		}
		jg_str(j, b64);
	}
	if (n)
		jg_array_close(j);
}

int pilotd_certs_have(struct pilotd *d)
{
	uint64_t now_s = now_real_ms() / 1000;

	for (size_t i = 0; i < d->certs.n; i++)
		if (cert_usable(d, &d->certs.c[i], now_s))
			return 1;
	return 0;
}

void pilotd_net_cert(struct pilotd *d, uint16_t net, yajl_val nw)
{
	struct member_net *n = member_net_find(&d->members, net);
	yajl_val id = json_get(nw, "identity");
	char qid[2 * sizeof(n->external_id)], qiss[2 * sizeof(n->external_issuer)];
	const char *sub = NULL, *iss = NULL;
	uint64_t na = 0;

	if (!n)
		return;
	if (json_get_u64(json_get(nw, "certificate"), "not_after", &na) == 0 ||
	    json_get_u64(id, "not_after", &na) == 0)
		n->cert_not_after = na;
	if (json_get_str(id, "external_id", &sub) < 0 ||
	    json_get_str(id, "external_issuer", &iss) < 0)
		return;
	snprintf(n->external_id, sizeof(n->external_id), "%s", sub);
	snprintf(n->external_issuer, sizeof(n->external_issuer), "%s", iss);
	/* Who the registry admitted us as, in our audit log (and webhooks). */
	if (json_quote(qid, sizeof(qid), n->external_id) >= 0 &&
	    json_quote(qiss, sizeof(qiss), n->external_issuer) >= 0)
		pilotd_audit_event(d, "network.identity", 0,
				   "{\"network_id\":%u,\"external_id\":%s,\"external_issuer\":%s,"
				   "\"not_after\":%llu}",
				   net, qid, qiss, (unsigned long long)na);
}

/* ---- renewal (certificates and tokens alike) ---- */

struct renew_arg {
	struct pilotd *d;
	uint16_t net;
	int ca; /* a ca network's: said as "certificate" */
};

static void add_renew(struct json_gen *j, void *arg)
{
	struct renew_arg *ra = arg;

	jg_ku64(j, "network_id", ra->net);
	pilotd_certs_put(ra->d, j);
	pilotd_tokens_put(ra->d, j);
}

static void on_renew(struct pilotd *d, void *arg, int err, const char *code, const char *msg,
		     yajl_val resp)
{
	struct renew_arg *ra = arg;
	const char *what = ra->ca ? "certificate" : "fresh token";

	if (err < 0) {
		log_warnx("renewing membership of network %u with a %s: %s: %s", ra->net, what,
			  code, msg);
	} else {
		pilotd_net_cert(d, ra->net, json_get(resp, "network"));
		log_info("network %u: membership renewed with a %s", ra->net, what);
		pilotd_audit_event(d,
				   ra->ca ? "network.cert_renewed" : "network.credential_renewed",
				   0, "{\"network_id\":%u}", ra->net);
	}
	free(ra);
}

void pilotd_creds_renew(struct pilotd *d, const char *rule)
{
	if (!d->regc.registered)
		return;
	for (unsigned i = 0; i < d->members.nnets; i++) {
		struct member_net *n = &d->members.nets[i];
		struct renew_arg *ra;
		if (strcmp(n->rule, rule) != 0 || !(ra = calloc(1, sizeof(*ra))))
			continue;
		ra->d = d;
		ra->net = n->id;
		ra->ca = strcmp(rule, "ca") == 0;
		if (regc_call(&d->regc, "network_renew", add_renew, ra, on_renew, ra) < 0)
			free(ra);
	}
}

void pilotd_certs_renew(struct pilotd *d)
{
	if (pilotd_certs_have(d))
		pilotd_creds_renew(d, "ca");
}

/* ---- the ends of certificate memberships ---- */

static void member_ended(void *arg, uint16_t net, uint32_t node)
{
	struct pilotd *d = arg;
	struct dp_cut_sel sel = {.basis = FLOW_BASIS_NETWORK, .net = net, .node = node};
	unsigned cut = dp_cut_flows(d, &sel);
	const struct member_net *n = member_net_find(&d->members, net);
	int ca = !n || strcmp(n->rule, "ca") == 0;

	pilotd_revise_peer(d, node);
	log_info("node %u: its %s for network %u expired; %u flows cut", node,
		 ca ? "certificate" : "token", net, cut);
	pilotd_audit_event(d, ca ? "network.cert_expired" : "network.credential_expired", node,
			   "{\"network_id\":%u,\"flows_cut\":%u}", net, cut);
}

/* A peer's identity ended: its flows go (new ones meet admission's
 * identity stage); the tunnel stays so that refusals reach it. */
static void identity_ended(void *arg, uint32_t node)
{
	struct pilotd *d = arg;
	unsigned cut = pilotd_cut_peer(d, node, 0);

	log_info("node %u: its identity expired; %u flows cut", node, cut);
	pilotd_audit_event(d, "node.identity_expired", node, "{\"flows_cut\":%u}", cut);
}

void pilotd_cert_tick(struct pilotd *d)
{
	uint64_t now_ms = now_real_ms(), now_s = now_ms / 1000;

	if (now_s == d->cert_tick_s)
		return;
	d->cert_tick_s = now_s;
	member_expire(&d->members, now_s, member_ended, d);
	expiry_due(&d->expiry, now_s, identity_ended, d);
	for (unsigned i = 0; i < d->members.nnets;) {
		struct member_net *n = &d->members.nets[i];
		if (n->cert_not_after && n->cert_not_after <= now_s) {
			/* pilotd_net_left moves the last network into slot i. */
			pilotd_net_left(d, n->id,
					strcmp(n->rule, "ca") == 0
					    ? "our certificate expired"
					    : "our token expired (not renewed)");
			continue;
		}
		i++;
	}
	/* New files (renewed certificates): offered to the registry. */
	if (d->cfg.certificates && now_ms - d->certs_checked_ms >= CERT_RECHECK_MS) {
		uint64_t sum = 0;
		d->certs_checked_ms = now_ms;
		for (size_t i = 0; d->cfg.certificates[i]; i++)
			sum += file_mtime(d->cfg.certificates[i]);
		if (sum != d->certs.mtime_sum)
			pilotd_certs_reload(d);
	}
}

int pilotd_certs_reload(struct pilotd *d)
{
	struct pilotd_certs nc;
	char err[400];
	int rc = pilotd_certs_read(d->cfg.certificates, &nc, err, sizeof(err));

	if (rc < 0) {
		log_warnx("%s (the certificates loaded before stay in use)", err);
		return rc;
	}
	d->certs = nc;
	pilotd_certs_renew(d);
	return 0;
}
