/* pilotd_cmd_util.c - what the control-socket command files share: an
 * address in replies, the "not registered yet" answer, a TARGET argument,
 * and the requests that wait on the registry (struct pend) and carry its
 * error back to pilotctl unchanged. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipc.h"
#include "json.h"
#include "log.h"
#include "pilotd.h"
#include "pilotd_cmd.h"
#include "util.h"

void gen_addr(struct pilotd *d, struct json_gen *j, uint16_t net, uint32_t node)
{
	struct pilot_addr a = {net, node};
	struct in6_addr ip;
	char ab[PILOT_ADDR_STRLEN], ipb[INET6_ADDRSTRLEN];

	jg_kstr(j, "address", addr_format(&a, ab));
	if (d->have_prefix) {
		addr_to_ipv6(&d->prefix, &a, &ip);
		jg_kstr(j, "ipv6", inet_ntop(AF_INET6, &ip, ipb, sizeof(ipb)));
	} else {
		jg_kstr(j, "ipv6", "");
	}
}

int need_registered(struct pilotd *d, struct ipc_req *req)
{
	if (d->node_id && d->have_prefix)
		return 1;
	ipc_reply_error(req, "registry_unavailable", "this node has not registered yet",
			"check the registry address and pin; see `pilotctl status`");
	return 0;
}

/* Parse args.target into a node ID, answering the request on failure. */
int target_arg(struct pilotd *d, struct ipc_req *req, yajl_val args, uint32_t *node)
{
	const char *t = NULL;
	int rc;

	if (json_get_str(args, "target", &t) < 0) {
		ipc_reply_error(req, "bad_request", "missing target",
				"a node ID, address, overlay IPv6 or hostname");
		return 0;
	}
	rc = pilotd_parse_target(d, t, node);
	if (rc == -ENOENT) {
		ipc_reply_error(req, "not_found", "no such node", NULL);
		return 0;
	}
	if (rc < 0) {
		ipc_reply_error(req, "bad_request",
				"not a node ID, address, overlay IPv6 or hostname",
				"e.g. 42, 0:0000.0000.002A, or an IPv6 in the deployment prefix");
		return 0;
	}
	if (*node == d->node_id) {
		ipc_reply_error(req, "bad_request", "that is this node", NULL);
		return 0;
	}
	return 1;
}

const char *need_admin_token(struct pilotd *d, struct ipc_req *req, yajl_val args)
{
	const char *tok = pilotd_admin_token(d, args);

	if (!tok)
		ipc_reply_error(req, "forbidden", "an admin token is needed",
				"pilotctl --admin-token T, or PILOT_ADMIN_TOKEN");
	return tok;
}

struct pend *pend_new(struct ipc_req *req, uint32_t node)
{
	struct pend *p = calloc(1, sizeof(*p));
	if (!p) {
		ipc_reply_error(req, "internal", "out of memory", NULL);
		return NULL;
	}
	p->req = req;
	p->node = node;
	return p;
}

int registry_failed(struct ipc_req *req, int err, const char *code, const char *msg)
{
	if (err >= 0)
		return 0;
	reply_registry_error(req, code, msg);
	return 1;
}

void reply_registry_error(struct ipc_req *req, const char *code, const char *msg)
{
	const char *hint = NULL;
	if (strcmp(code, "registry_unavailable") == 0)
		hint = "the registry cannot be reached; see `pilotctl status`";
	ipc_reply_error(req, code, msg, hint);
}

void add_target(struct json_gen *j, void *arg)
{
	struct pend *p = arg;
	jg_ku64(j, "target", p->node);
}

/* Send \p op for \p p; on failure answer the request and free \p p. */
void pend_call(struct pilotd *d, struct pend *p, const char *op, regc_add_fn add, regc_cb cb)
{
	if (regc_call(&d->regc, op, add, add ? p : NULL, cb, p) < 0) {
		ipc_reply_error(p->req, "internal", "could not send the request", NULL);
		free(p->cert);
		free(p);
	}
}

/* A command with no arguments, answered by the registry's \p op. */
void registry_call(struct pilotd *d, struct ipc_req *req, const char *op, regc_cb cb)
{
	struct pend *p;

	if (!need_registered(d, req) || !(p = pend_new(req, 0)))
		return;
	pend_call(d, p, op, NULL, cb);
}

/* The common shape of a command on one target node, answered by the
 * registry: check, parse the target, send \p op with it. */
void target_call(struct pilotd *d, struct ipc_req *req, yajl_val args, const char *op, regc_cb cb)
{
	uint32_t node;
	struct pend *p;

	if (!need_registered(d, req) || !target_arg(d, req, args, &node) ||
	    !(p = pend_new(req, node)))
		return;
	pend_call(d, p, op, add_target, cb);
}

const char *pilotd_admin_token(struct pilotd *d, yajl_val args)
{
	const char *tok = NULL;
	if (json_get_str(args, "admin_token", &tok) < 0 || !*tok)
		tok = d->cfg.admin_token;
	return tok && *tok ? tok : NULL;
}
