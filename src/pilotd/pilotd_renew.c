/* pilotd_renew.c - renewing this node's credentials (certificates and
 * OIDC/SPIFFE tokens alike) with the registry, and the ends of credential
 * memberships, ours and our peers', kept to the second (the registry's
 * word is not waited for).  Above pilotd_cert.c, pilotd_token.c and
 * pilotd_net.c, which it calls; none of them calls it (the tick in
 * pilotd.c does), so the files stay layered (tests/unit/layers.sh).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dp.h"
#include "json.h"
#include "log.h"
#include "pilotd.h"
#include "util.h"

#define CERT_RECHECK_MS 30000 /* how often the files are looked at */

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
		d->certs_checked_ms = now_ms;
		if (pilotd_certs_mtime_sum(d->cfg.certificates) != d->certs.mtime_sum)
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
