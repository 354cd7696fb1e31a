/* pilotd_cmd.c - the control sockets' dispatch tables: each command name
 * to its handler (pilotd_cmd_*.c).  The top of the daemon's command
 * layer: nothing calls into the command files but these tables. */
#include "config.h"

#include <stddef.h>

#include "ipc.h"
#include "pilotd.h"
#include "pilotd_cmd.h"

/* The name service socket answers only this (doc/IPC.md). */
const struct ipc_cmd pilotd_resolve_cmds[] = {
    {"find", cmd_find_cached},
    {NULL, NULL},
};

/* clang-format off */
const struct ipc_cmd pilotd_ipc_cmds[] = {
	{"info", cmd_info},
	{"peers", cmd_peers},
	{"peer", cmd_peer},
	{"resolve", cmd_resolve},
	{"handshake", cmd_handshake},
	{"pending", cmd_pending},
	{"approve", cmd_approve},
	{"reject", cmd_reject},
	{"trust", cmd_trust},
	{"untrust", cmd_untrust},
	{"status", cmd_status},
	{"netcheck", cmd_netcheck},
	{"prefix", cmd_prefix},
	{"find", cmd_find},
	{"set-hostname", cmd_set_hostname},
	{"clear-hostname", cmd_clear_hostname},
	{"set-public", cmd_set_public},
	{"set-private", cmd_set_private},
	{"set-tags", cmd_set_tags},
	{"rotate-key", cmd_rotate_key},
	{"config", cmd_config},
	{"network.create", cmd_network_create},
	{"network.delete", cmd_network_delete},
	{"network.join", cmd_network_join},
	{"network.invite", cmd_network_invite},
	{"network.leave", cmd_network_leave},
	{"network.list", cmd_network_list},
	{"network.nodes", cmd_network_nodes},
	{"block", cmd_block},
	{"unblock", cmd_unblock},
	{"blocklist", cmd_blocklist},
	{"broadcast", cmd_broadcast},
	{"score", cmd_score},
	{"report", cmd_report},
	{"policy.set", cmd_policy_set},
	{"policy.show", cmd_policy_show},
	{"policy.test", cmd_policy_test},
	{"org.create", cmd_org_create},
	{"org.members", cmd_org_members},
	{"org.revoke", cmd_org_revoke},
	{"ca.revoke", cmd_ca_revoke},
	{"ca.crl", cmd_ca_crl},
	{"node.expire", cmd_node_expire},
	{"org.enroll", cmd_org_enroll},
	{"registration.token", cmd_registration_token},
	{"registration.tokens", cmd_registration_tokens},
	{"registration.revoke-token", cmd_registration_revoke_token},
	{"registration.pending", cmd_registration_pending},
	{"registration.approve", cmd_registration_approve},
	{"registration.reject", cmd_registration_reject},
	{"audit", cmd_audit},
	{"audit.verify", cmd_audit_verify},
	{"webhook.set", cmd_webhook_set},
	{"webhook.clear", cmd_webhook_clear},
	{"webhook.status", cmd_webhook_status},
	{NULL, NULL},
};
/* clang-format on */
