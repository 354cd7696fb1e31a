/* pilotd_cmd.h - pilotd's control-socket commands (doc/IPC.md): the
 * helpers the command files share (pilotd_cmd_util.c), every handler, and
 * the dispatch tables (pilotd_cmd.c).  Commands are the daemon's top
 * layer: they call any module below, and none calls them. */
#ifndef PILOT_PILOTD_CMD_H
#define PILOT_PILOTD_CMD_H

#include <stdint.h>
#include <yajl/yajl_tree.h>

#include "ipc.h"
#include "regc.h"

struct pilotd;
struct json_gen;

/** A request waiting on the registry. */
struct pend {
	struct ipc_req *req;
	uint32_t node;
	uint16_t net;
	char text[300];
	uint8_t *secret;       /* sodium_malloc'd, for rotate-key */
	struct pilotd *d;      /* network join: our certificates are offered */
	struct cert *cert;     /* ... or this one alone (--cert); freed with p */
	char *token;	       /* ... or this token (--oidc-token, --svid); freed with p */
	const char *token_key; /* ... sent as member "oidc_token" or "svid" */
	int budgeted;	       /* a name service find: holds a d->findlim slot */
};

/* ---- pilotd_cmd_util.c ---- */
/** The admin token of a request (args.admin_token, else the config's), or NULL. */
const char *pilotd_admin_token(struct pilotd *d, yajl_val args);
/** ... or, answering "forbidden" to \p req, NULL. */
const char *need_admin_token(struct pilotd *d, struct ipc_req *req, yajl_val args);
void gen_addr(struct pilotd *d, struct json_gen *j, uint16_t net, uint32_t node);
int need_registered(struct pilotd *d, struct ipc_req *req);
int target_arg(struct pilotd *d, struct ipc_req *req, yajl_val args, uint32_t *node);
struct pend *pend_new(struct ipc_req *req, uint32_t node);
void reply_registry_error(struct ipc_req *req, const char *code, const char *msg);
/** A registry answer's opening: on \p err < 0 reply with the registry's
 *  error and \retval 1 (the caller is done), else 0. */
int registry_failed(struct ipc_req *req, int err, const char *code, const char *msg);
void add_target(struct json_gen *j, void *arg);
void pend_call(struct pilotd *d, struct pend *p, const char *op, regc_add_fn add, regc_cb cb);
void registry_call(struct pilotd *d, struct ipc_req *req, const char *op, regc_cb cb);
void target_call(struct pilotd *d, struct ipc_req *req, yajl_val args, const char *op, regc_cb cb);

/* ---- pilotd_cmd_node.c ---- */
void cmd_info(struct pilotd *d, struct ipc_req *req, yajl_val args);
void cmd_peers(struct pilotd *d, struct ipc_req *req, yajl_val args);
void cmd_resolve(struct pilotd *d, struct ipc_req *req, yajl_val args);
void cmd_peer(struct pilotd *d, struct ipc_req *req, yajl_val args);
void cmd_handshake(struct pilotd *d, struct ipc_req *req, yajl_val args);
void cmd_pending(struct pilotd *d, struct ipc_req *req, yajl_val args);
void cmd_approve(struct pilotd *d, struct ipc_req *req, yajl_val args);
void cmd_reject(struct pilotd *d, struct ipc_req *req, yajl_val args);
void cmd_untrust(struct pilotd *d, struct ipc_req *req, yajl_val args);
void cmd_trust(struct pilotd *d, struct ipc_req *req, yajl_val args);
void cmd_status(struct pilotd *d, struct ipc_req *req, yajl_val args);
void cmd_prefix(struct pilotd *d, struct ipc_req *req, yajl_val args);

/* ---- pilotd_cmd_netcheck.c ---- */
void cmd_netcheck(struct pilotd *d, struct ipc_req *req, yajl_val args);

/* ---- pilotd_cmd_self.c ---- */
void cmd_find(struct pilotd *d, struct ipc_req *req, yajl_val args);
/** find for the name service socket: answered from a short-lived cache. */
void cmd_find_cached(struct pilotd *d, struct ipc_req *req, yajl_val args);

void cmd_set_hostname(struct pilotd *d, struct ipc_req *req, yajl_val args);
void cmd_clear_hostname(struct pilotd *d, struct ipc_req *req, yajl_val args);
void cmd_set_public(struct pilotd *d, struct ipc_req *req, yajl_val args);
void cmd_set_private(struct pilotd *d, struct ipc_req *req, yajl_val args);
void cmd_set_tags(struct pilotd *d, struct ipc_req *req, yajl_val args);
void cmd_rotate_key(struct pilotd *d, struct ipc_req *req, yajl_val args);
void cmd_config(struct pilotd *d, struct ipc_req *req, yajl_val args);

/* ---- pilotd_cmd_net.c ---- */
void cmd_network_create(struct pilotd *d, struct ipc_req *req, yajl_val args);
void cmd_network_delete(struct pilotd *d, struct ipc_req *req, yajl_val args);
void cmd_network_join(struct pilotd *d, struct ipc_req *req, yajl_val args);
void cmd_network_invite(struct pilotd *d, struct ipc_req *req, yajl_val args);
void cmd_network_leave(struct pilotd *d, struct ipc_req *req, yajl_val args);
void cmd_network_list(struct pilotd *d, struct ipc_req *req, yajl_val args);
void cmd_network_nodes(struct pilotd *d, struct ipc_req *req, yajl_val args);

/* ---- pilotd_cmd_policy.c ---- */
void cmd_ca_revoke(struct pilotd *d, struct ipc_req *req, yajl_val args);
void cmd_ca_crl(struct pilotd *d, struct ipc_req *req, yajl_val args);
void cmd_node_expire(struct pilotd *d, struct ipc_req *req, yajl_val args);
void cmd_block(struct pilotd *d, struct ipc_req *req, yajl_val args);
void cmd_unblock(struct pilotd *d, struct ipc_req *req, yajl_val args);
void cmd_blocklist(struct pilotd *d, struct ipc_req *req, yajl_val args);
/* pilotd_cmd_bcast.c */
void cmd_broadcast(struct pilotd *d, struct ipc_req *req, yajl_val args);
void cmd_score(struct pilotd *d, struct ipc_req *req, yajl_val args);
void cmd_report(struct pilotd *d, struct ipc_req *req, yajl_val args);
void cmd_policy_set(struct pilotd *d, struct ipc_req *req, yajl_val args);
void cmd_policy_show(struct pilotd *d, struct ipc_req *req, yajl_val args);
void cmd_policy_test(struct pilotd *d, struct ipc_req *req, yajl_val args);
void cmd_org_create(struct pilotd *d, struct ipc_req *req, yajl_val args);
void cmd_org_members(struct pilotd *d, struct ipc_req *req, yajl_val args);
void cmd_org_revoke(struct pilotd *d, struct ipc_req *req, yajl_val args);
void cmd_org_enroll(struct pilotd *d, struct ipc_req *req, yajl_val args);
/* registration.*: admin requests this node forwards before it is
 * registered too (it may be one of those waiting for approval). */
void cmd_registration_token(struct pilotd *d, struct ipc_req *req, yajl_val args);
void cmd_registration_tokens(struct pilotd *d, struct ipc_req *req, yajl_val args);
void cmd_registration_revoke_token(struct pilotd *d, struct ipc_req *req, yajl_val args);
void cmd_registration_pending(struct pilotd *d, struct ipc_req *req, yajl_val args);
void cmd_registration_approve(struct pilotd *d, struct ipc_req *req, yajl_val args);
void cmd_registration_reject(struct pilotd *d, struct ipc_req *req, yajl_val args);

/* ---- pilotd_cmd_audit.c ---- */
void cmd_audit(struct pilotd *d, struct ipc_req *req, yajl_val args);
void cmd_audit_verify(struct pilotd *d, struct ipc_req *req, yajl_val args);
void cmd_webhook_set(struct pilotd *d, struct ipc_req *req, yajl_val args);
void cmd_webhook_clear(struct pilotd *d, struct ipc_req *req, yajl_val args);
void cmd_webhook_status(struct pilotd *d, struct ipc_req *req, yajl_val args);

/* ---- pilotd_cmd.c ---- */
extern const struct ipc_cmd pilotd_ipc_cmds[];
/** The name service socket's (find only). */
extern const struct ipc_cmd pilotd_resolve_cmds[];

#endif
