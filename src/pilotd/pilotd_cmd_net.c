/* pilotd_cmd_net.c - control-socket commands for networks (doc/IPC.md):
 * network create, delete, join, invite, leave, list and nodes.  Each
 * asks the registry (admin requests with a token) and answers when it
 * has replied; a join or leave changes this node's state through
 * pilotd_net.c before the answer. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ipc.h"
#include "jwt.h"
#include "log.h"
#include "pilotd.h"
#include "pilotd_cmd.h"
#include "regmsg.h"
#include "util.h"

/* ---- networks ---- */

static int net_arg(struct ipc_req *req, yajl_val args, uint16_t *net, int allow_backbone)
{
	uint32_t v;

	if (json_get_u32(args, "network_id", &v) < 0 || v > 65535 || (v == 0 && !allow_backbone)) {
		ipc_reply_error(req, "bad_request",
				v == 0 ? "the backbone (network 0) cannot be used here"
				       : "expected a network ID (1-65535)",
				NULL);
		return 0;
	}
	*net = (uint16_t)v;
	return 1;
}

/* The registry's answer to an admin's network_create/delete, as it came:
 * the network and its rule's settings (CA, issuer, trust domain). */
static void gen_network(struct json_gen *j, yajl_val nw)
{
	for (size_t i = 0; YAJL_IS_OBJECT(nw) && i < nw->u.object.len; i++) {
		if (strcmp(nw->u.object.keys[i], "member") == 0)
			continue; /* network list says it itself */
		jg_key(j, nw->u.object.keys[i]);
		json_gen_value(j, nw->u.object.values[i]);
	}
}

struct admin_arg {
	struct pend p;
	yajl_val args; /* valid only during the call */
};

static void add_admin_members(struct json_gen *j, void *arg)
{
	yajl_val a = arg;
	/* What network_create takes; the registry checks each. */
	for (const char *const *k = regmsg_network_create_keys; *k; k++) {
		yajl_val v = json_get(a, *k);
		if (!v)
			continue;
		jg_key(j, *k);
		json_gen_value(j, v);
	}
}

static void on_admin_network(struct pilotd *d, void *arg, int err, const char *code,
			     const char *msg, yajl_val resp)
{
	struct pend *p = arg;
	struct json_gen *j;

	(void)d;
	if (err < 0) {
		reply_registry_error(p->req, code, msg);
	} else {
		j = ipc_reply_ok_begin(p->req);
		gen_network(j, resp);
		ipc_reply_ok_end(p->req);
	}
	free(p);
}

static void admin_call(struct pilotd *d, struct ipc_req *req, yajl_val args, const char *op)
{
	const char *tok = NULL;
	struct pend *p;

	tok = need_admin_token(d, req, args);
	if (!tok)
		return;
	if (!need_registered(d, req) || !(p = pend_new(req, 0)))
		return;
	if (regc_admin(&d->regc, op, tok, add_admin_members, args, on_admin_network, p) < 0) {
		ipc_reply_error(req, "bad_request", "could not send the admin request", NULL);
		free(p);
	}
}

void cmd_network_create(struct pilotd *d, struct ipc_req *req, yajl_val args)
{
	admin_call(d, req, args, "network_create");
}

void cmd_network_delete(struct pilotd *d, struct ipc_req *req, yajl_val args)
{
	uint16_t net;

	if (!net_arg(req, args, &net, 0))
		return;
	admin_call(d, req, args, "network_delete");
}

static void add_join(struct json_gen *j, void *arg)
{
	struct pend *p = arg;

	jg_ku64(j, "network_id", p->net);
	if (p->node == 1)
		jg_kstr(j, "token", p->text);
	else if (p->node == 2)
		jg_kstr(j, "invite", p->text);
	else if (p->cert)
		pilotd_cert_put_one(j, p->cert);
	else if (p->token)
		jg_kstr(j, p->token_key, p->token);
	else if (p->d) {
		pilotd_certs_put(p->d, j);
		pilotd_tokens_put(p->d, j);
	}
}

static void free_token(struct pend *p)
{
	if (p->token) {
		sodium_memzero(p->token, strlen(p->token));
		free(p->token);
		p->token = NULL;
	}
}

static void on_join(struct pilotd *d, void *arg, int err, const char *code, const char *msg,
		    yajl_val resp)
{
	struct pend *p = arg;
	yajl_val nw = json_get(resp, "network"), members = json_get(resp, "members");
	const char *name = NULL, *rule = NULL;
	struct json_gen *j;

	if (registry_failed(p->req, err, code, msg))
		goto out;
	json_get_str(nw, "name", &name);
	json_get_str(nw, "join_rule", &rule);
	pilotd_finds_flush(d);
	if (pilotd_net_joined(d, p->net, name, rule, members) < 0) {
		ipc_reply_error(p->req, "internal", "joined, but could not save the membership",
				"see the daemon log");
		goto out;
	}
	pilotd_net_cert(d, p->net, nw);
	if (p->cert)
		pilotd_cert_add(d, p->cert);
	if (p->token && rule)
		pilotd_token_keep(d, rule, p->token);
	j = ipc_reply_ok_begin(p->req);
	jg_ku64(j, "network_id", p->net);
	gen_addr(d, j, p->net, d->node_id);
	{
		uint64_t na;
		yajl_val id = json_get(nw, "identity");
		const char *s;
		if (json_get_u64(json_get(nw, "certificate"), "not_after", &na) == 0)
			jg_ku64(j, "cert_not_after", na);
		if (json_get_str(id, "external_id", &s) == 0)
			jg_kstr(j, "external_id", s);
		if (json_get_str(id, "external_issuer", &s) == 0)
			jg_kstr(j, "external_issuer", s);
		if (json_get_u64(id, "not_after", &na) == 0)
			jg_ku64(j, "credential_not_after", na);
	}
	jg_ku64(j, "members", members && YAJL_IS_ARRAY(members) ? members->u.array.len + 1 : 1);
	ipc_reply_ok_end(p->req);
out:
	free(p->cert);
	free_token(p);
	free(p);
}

static void add_net(struct json_gen *j, void *arg)
{
	jg_ku64(j, "network_id", ((struct pend *)arg)->net);
}

/* Joining with the admin token: the registry adds us (network_add), then
 * we fetch the member list as any joiner gets it. */
static void on_admin_added_nodes(struct pilotd *d, void *arg, int err, const char *code,
				 const char *msg, yajl_val resp)
{
	struct pend *p = arg;
	yajl_val nodes = json_get(resp, "nodes");
	struct json_gen *j;

	if (registry_failed(p->req, err, code, msg))
		goto out;
	pilotd_finds_flush(d);
	if (pilotd_net_joined(d, p->net, p->text, p->text + 100, nodes) < 0) {
		ipc_reply_error(p->req, "internal", "joined, but could not save the membership",
				"see the daemon log");
		goto out;
	}
	j = ipc_reply_ok_begin(p->req);
	jg_ku64(j, "network_id", p->net);
	gen_addr(d, j, p->net, d->node_id);
	jg_ku64(j, "members", nodes && YAJL_IS_ARRAY(nodes) ? nodes->u.array.len : 1);
	ipc_reply_ok_end(p->req);
out:
	free(p);
}

static void on_admin_added(struct pilotd *d, void *arg, int err, const char *code, const char *msg,
			   yajl_val resp)
{
	struct pend *p = arg;
	const char *name = "", *rule = "";

	if (err < 0) {
		reply_registry_error(p->req, code, msg);
		free(p);
		return;
	}
	json_get_str(resp, "name", &name);
	json_get_str(resp, "join_rule", &rule);
	/* text holds name at 0 and rule at 100 until the member list comes */
	snprintf(p->text, 100, "%.63s", name);
	snprintf(p->text + 100, 100, "%.15s", rule);
	pend_call(d, p, "network_nodes", add_net, on_admin_added_nodes);
}

static void add_admin_add(struct json_gen *j, void *arg)
{
	struct pend *p = arg;
	jg_ku64(j, "network_id", p->net);
	jg_ku64(j, "node_id", p->node);
}

void cmd_network_join(struct pilotd *d, struct ipc_req *req, yajl_val args)
{
	const char *tok = NULL, *inv = NULL, *admin = NULL, *cert = NULL, *jwt = NULL;
	uint16_t net;
	struct pend *p;

	if (!net_arg(req, args, &net, 0) || !need_registered(d, req) || !(p = pend_new(req, 0)))
		return;
	p->net = net;
	if (json_get_str(args, "admin_token", &admin) == 0 && *admin) {
		p->node = d->node_id;
		if (regc_admin(&d->regc, "network_add", admin, add_admin_add, p, on_admin_added,
			       p) < 0) {
			ipc_reply_error(req, "bad_request", "could not send the admin request",
					NULL);
			free(p);
		}
		return;
	}
	if (json_get_str(args, "certificate", &cert) == 0) {
		/* Offered alone (not with the configured ones), and kept for
		 * renewals only once the registry admitted us on it. */
		struct cert *c = calloc(1, sizeof(*c));
		if (!c || cert_from_text(cert, strlen(cert), c) < 0 || c->kind != CERT_KIND_NODE) {
			ipc_reply_error(req, "cert_invalid", "not a Pilot node certificate", NULL);
			free(c);
			free(p);
			return;
		}
		p->cert = c;
	}
	p->token_key = json_get_str(args, "oidc_token", &jwt) == 0 ? "oidc_token" : "svid";
	if ((jwt || json_get_str(args, "svid", &jwt) == 0) && *jwt) {
		if (strlen(jwt) > JWT_MAX || !(p->token = strdup(jwt))) {
			ipc_reply_error(req, "token_too_large", "a token is at most 8 KiB", NULL);
			free(p->cert);
			free(p);
			return;
		}
	}
	if (json_get_str(args, "token", &tok) == 0 && *tok) {
		p->node = 1;
		snprintf(p->text, sizeof(p->text), "%s", tok);
	} else if (json_get_str(args, "invite", &inv) == 0 && *inv) {
		p->node = 2;
		snprintf(p->text, sizeof(p->text), "%s", inv);
	}
	p->d = d;
	pend_call(d, p, "network_join", add_join, on_join);
}

static void on_admin_invite(struct pilotd *d, void *arg, int err, const char *code, const char *msg,
			    yajl_val resp)
{
	struct pend *p = arg;
	const char *inv = NULL;
	uint64_t expiry = 0;
	struct json_gen *j;

	(void)d;
	if (err < 0) {
		reply_registry_error(p->req, code, msg);
	} else if (json_get_str(resp, "invite", &inv) < 0 ||
		   json_get_u64(resp, "expires", &expiry) < 0) {
		ipc_reply_error(p->req, "internal", "the registry's answer has no invite", NULL);
	} else {
		j = ipc_reply_ok_begin(p->req);
		jg_ku64(j, "network_id", p->net);
		jg_kstr(j, "invite", inv);
		jg_ku64(j, "expires", expiry);
		ipc_reply_ok_end(p->req);
	}
	free(p);
}

static void add_admin_invite(struct json_gen *j, void *arg)
{
	struct pend *p = arg;
	jg_ku64(j, "network_id", p->net);
	jg_ku64(j, "ttl", p->node);
}

/* An admin's invite is made and signed by the registry: the operator
 * need not be a member of the network. */
static void admin_invite(struct pilotd *d, struct ipc_req *req, const char *tok, uint16_t net,
			 uint32_t ttl)
{
	struct pend *p = pend_new(req, 0);

	if (!p)
		return;
	p->net = net;
	p->node = ttl;
	if (regc_admin(&d->regc, "network_invite", tok, add_admin_invite, p, on_admin_invite, p) <
	    0) {
		ipc_reply_error(req, "bad_request", "could not send the admin request", NULL);
		free(p);
	}
}

void cmd_network_invite(struct pilotd *d, struct ipc_req *req, yajl_val args)
{
	char code[512];
	uint32_t ttl = 86400;
	uint64_t expiry;
	uint16_t net;
	struct json_gen *j;
	const char *admin = NULL;

	if (!net_arg(req, args, &net, 0) || !need_registered(d, req))
		return;
	if (json_get_u32(args, "ttl", &ttl) == -EINVAL || ttl == 0 || ttl > 7 * 86400) {
		ipc_reply_error(req, "bad_request", "ttl must be 1 to 604800 seconds", NULL);
		return;
	}
	/* --admin-token asks the registry; a member signs its own, and
	 * falls back on the configured admin token only when not one. */
	if (json_get_str(args, "admin_token", &admin) == 0 && *admin) {
		admin_invite(d, req, admin, net, ttl);
		return;
	}
	if (!member_net_find(&d->members, net)) {
		if ((admin = pilotd_admin_token(d, args)) != NULL)
			admin_invite(d, req, admin, net, ttl);
		else
			ipc_reply_error(req, "forbidden",
					"only a member of a network, or an admin, can invite to it",
					"pilotctl --admin-token T network invite NET");
		return;
	}
	/* The invite is signed here, offline; the registry checks it. */
	expiry = now_real_ms() / 1000 + ttl;
	if (rdv_invite_make(d->ed_sk, net, d->node_id, expiry, code, sizeof(code)) < 0) {
		ipc_reply_error(req, "internal", "could not make the invite", NULL);
		return;
	}
	j = ipc_reply_ok_begin(req);
	jg_ku64(j, "network_id", net);
	jg_kstr(j, "invite", code);
	jg_ku64(j, "expires", expiry);
	ipc_reply_ok_end(req);
}

static void on_leave(struct pilotd *d, void *arg, int err, const char *code, const char *msg,
		     yajl_val resp)
{
	struct pend *p = arg;
	yajl_val revoked = json_get(resp, "revoked");
	struct json_gen *j;
	unsigned cut;

	if (err < 0 && strcmp(code, "forbidden") != 0 && strcmp(code, "not_found") != 0) {
		reply_registry_error(p->req, code, msg);
		goto out;
	}
	cut = pilotd_net_left(d, p->net, "left");
	pilotd_finds_flush(d);
	/* Trust that was made through this network goes with it. */
	for (size_t i = 0; revoked && YAJL_IS_ARRAY(revoked) && i < revoked->u.array.len; i++) {
		yajl_val v = revoked->u.array.values[i];
		if (YAJL_IS_INTEGER(v) && YAJL_GET_INTEGER(v) > 0)
			pilotd_trust_revoked(d, (uint32_t)YAJL_GET_INTEGER(v),
					     "its network was left");
	}
	j = ipc_reply_ok_begin(p->req);
	jg_ku64(j, "network_id", p->net);
	jg_ku64(j, "flows_cut", cut);
	jg_key(j, "revoked");
	jg_array_open(j);
	for (size_t i = 0; revoked && YAJL_IS_ARRAY(revoked) && i < revoked->u.array.len; i++)
		if (YAJL_IS_INTEGER(revoked->u.array.values[i]))
			jg_i64(j, YAJL_GET_INTEGER(revoked->u.array.values[i]));
	jg_array_close(j);
	ipc_reply_ok_end(p->req);
out:
	free(p);
}

void cmd_network_leave(struct pilotd *d, struct ipc_req *req, yajl_val args)
{
	uint16_t net;
	struct pend *p;

	if (!net_arg(req, args, &net, 0) || !need_registered(d, req))
		return;
	if (!member_net_find(&d->members, net)) {
		ipc_reply_error(req, "not_found", "this node is not a member of that network",
				NULL);
		return;
	}
	if (!(p = pend_new(req, 0)))
		return;
	p->net = net;
	pend_call(d, p, "network_leave", add_net, on_leave);
}

static void on_list(struct pilotd *d, void *arg, int err, const char *code, const char *msg,
		    yajl_val resp)
{
	struct pend *p = arg;
	yajl_val nets = json_get(resp, "networks");
	struct json_gen *j;

	(void)d;
	if (registry_failed(p->req, err, code, msg))
		goto out;
	j = ipc_reply_ok_begin(p->req);
	jg_key(j, "networks");
	jg_array_open(j);
	for (size_t i = 0; nets && YAJL_IS_ARRAY(nets) && i < nets->u.array.len; i++) {
		yajl_val nw = nets->u.array.values[i];
		int member = 0;
		jg_map_open(j);
		gen_network(j, nw);
		json_get_bool(nw, "member", &member);
		jg_kbool(j, "member", member);
		jg_map_close(j);
	}
	jg_array_close(j);
	ipc_reply_ok_end(p->req);
out:
	free(p);
}

void cmd_network_list(struct pilotd *d, struct ipc_req *req, yajl_val args)
{
	(void)args;
	registry_call(d, req, "network_list", on_list);
}

static void on_nodes(struct pilotd *d, void *arg, int err, const char *code, const char *msg,
		     yajl_val resp)
{
	struct pend *p = arg;
	yajl_val nodes = json_get(resp, "nodes");
	struct json_gen *j;

	if (registry_failed(p->req, err, code, msg))
		goto out;
	j = ipc_reply_ok_begin(p->req);
	jg_ku64(j, "network_id", p->net);
	jg_key(j, "nodes");
	jg_array_open(j);
	for (size_t i = 0; nodes && YAJL_IS_ARRAY(nodes) && i < nodes->u.array.len; i++) {
		yajl_val n = nodes->u.array.values[i];
		const char *hn = "", *pk = "";
		uint32_t id;
		if (json_get_u32(n, "node_id", &id) < 0)
			continue;
		json_get_str(n, "hostname", &hn);
		json_get_str(n, "public_key", &pk);
		jg_map_open(j);
		jg_ku64(j, "node_id", id);
		gen_addr(d, j, p->net, id);
		jg_kstr(j, "hostname", hn);
		jg_kstr(j, "public_key", pk);
		/* A ca network: what admitted the member (its tags count there). */
		if (YAJL_IS_OBJECT(json_get(n, "certificate"))) {
			jg_key(j, "certificate");
			json_gen_value(j, json_get(n, "certificate"));
		}
		/* oidc, spiffe: who the registry admitted the member as. */
		{
			static const char *const ext[] = {"external_id", "external_issuer",
							  "credential_not_after"};
			for (size_t k = 0; k < nitems(ext); k++)
				if (json_get(n, ext[k])) {
					jg_key(j, ext[k]);
					json_gen_value(j, json_get(n, ext[k]));
				}
		}
		jg_map_close(j);
	}
	jg_array_close(j);
	ipc_reply_ok_end(p->req);
out:
	free(p);
}

void cmd_network_nodes(struct pilotd *d, struct ipc_req *req, yajl_val args)
{
	uint16_t net;
	struct pend *p;

	if (!net_arg(req, args, &net, 1) || !need_registered(d, req) || !(p = pend_new(req, 0)))
		return;
	p->net = net;
	pend_call(d, p, "network_nodes", add_net, on_nodes);
}
