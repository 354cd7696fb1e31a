/* pilotd_conf.c - pilotd's configuration schema: every key of
 * pilotd.json(5), which is also a long flag (conf.h).  A module of its
 * own, below everything that reads it: the start-up and the reload
 * (pilotd_main.c, pilotd.c) and the control socket's `config`, which hands
 * out its dump. */
#include "config.h"

#include <stddef.h>

#include "conf.h"
#include "pilotd.h"

#define CFG(m) offsetof(struct pilotd_cfg, m)

const struct conf_key pilotd_schema[] = {
    {"state_dir", CONF_STR, CFG(state_dir), 0, 0, "/var/lib/pilot", "state directory (LMDB)", 0},
    {"registry", CONF_STRLIST, CFG(registry), 0, 0, NULL,
     "registry HOST:PORT, or a list of the replicas of one registry (failover in order)", 0},
    {"registry_pin", CONF_STR, CFG(registry_pin), 0, 0, NULL,
     "registry SPKI pin (SHA-256, base64 or hex)", 0},
    {"registry_ca", CONF_STR, CFG(registry_ca), 0, 0, NULL, "CA file to verify the registry", 0},
    {"beacon", CONF_HOSTPORT, CFG(beacon), 0, 0, NULL, "beacon HOST:PORT", 0},
    {"listen_port", CONF_U32, CFG(listen_port), 1, 65535, "4242", "UDP port of the tunnels", 0},
    {"tun", CONF_STR, CFG(tun), 0, 0, "pilot0", "TUN device name", 0},
    {"mtu", CONF_U32, CFG(mtu), 1280, 65000, "1420", "TUN device MTU", 0},
    {"offload", CONF_BOOL, CFG(offload), 0, 0, "true",
     "TCP segmentation and coalescing between pilot0 and pilotd (IFF_VNET_HDR, TSO6); false: one "
     "packet per read and write",
     0},
    {"socket", CONF_STR, CFG(socket), 0, 0, "/run/pilot/pilotd.sock", "control socket", 0},
    {"resolve_socket", CONF_STR, CFG(resolve_socket), 0, 0, NULL,
     "name service socket for NAME.pilot lookups (default: resolve.sock beside the control "
     "socket; \"\" disables it)",
     0},
    {"hostname", CONF_STR, CFG(hostname), 0, 0, NULL, "this node's hostname", 0},
    {"public", CONF_BOOL, CFG(public_), 0, 0, "false",
     "let every node resolve this one and learn its endpoint", 0},
    {"networks", CONF_STRLIST, CFG(networks), 0, 0, NULL,
     "networks to join at start: ID or ID:TOKEN, comma-separated", CONF_SECRET_TAIL},
    {"certificates", CONF_STRLIST, CFG(certificates), 0, 0, NULL,
     "node certificate files for ca networks, comma-separated", 0},
    {"oidc_token_path", CONF_STR, CFG(oidc_token_path), 0, 0, NULL,
     "file holding an OIDC ID token for oidc networks (re-read when it changes)", 0},
    {"spiffe_auto", CONF_BOOL, CFG(spiffe_auto), 0, 0, "false",
     "fetch JWT-SVIDs from the SPIFFE Workload API for spiffe networks", 0},
    {"spiffe_endpoint_socket", CONF_STR, CFG(spiffe_endpoint_socket), 0, 0, NULL,
     "the Workload API socket (default: $SPIFFE_ENDPOINT_SOCKET)", 0},
    {"spiffe_audience", CONF_STR, CFG(spiffe_audience), 0, 0, NULL,
     "the audience of the JWT-SVIDs asked for (a spiffe network's spiffe_audience)", 0},
    {"admin_token", CONF_STR, CFG(admin_token), 0, 0, NULL, "registry admin token",
     CONF_SECRET_ALL},
    {"registration_token", CONF_STR, CFG(registration_token), 0, 0, NULL,
     "registration token for a registry that takes new keys only with one (pilotctl "
     "registration token); a registered node needs it no more",
     CONF_SECRET_ALL},
    {"webhook", CONF_STR, CFG(webhook), 0, 0, NULL, "webhook URL (events are POSTed to it)",
     CONF_SECRET_URL},
    {"webhook_secret_file", CONF_STR, CFG(webhook_secret_file), 0, 0, NULL,
     "file holding the webhook HMAC secret (mode 0600)", 0},
    {"identity", CONF_STR, CFG(identity), 0, 0, NULL, "import this identity key file", 0},
    {"log_level", CONF_STR, CFG(log_level), 0, 0, "info", "debug|info|warn|error", 0},
    {"log_format", CONF_STR, CFG(log_format), 0, 0, "text", "text|json", 0},
    {"max_flows", CONF_U32, CFG(max_flows), 16, 4000000, "65536", "total flow limit", 0},
    {"syn_rate", CONF_U32, CFG(syn_rate), 0, 10000000, "2000",
     "new inbound TCP flows per second, all peers (0 = unlimited)", 0},
    {"syn_rate_per_peer", CONF_U32, CFG(syn_rate_per_peer), 0, 10000000, "200",
     "new inbound TCP flows per second per peer (0 = unlimited)", 0},
    {"max_flows_per_port", CONF_U32, CFG(max_flows_per_port), 0, 4000000, "8192",
     "flows per local port (0 = unlimited)", 0},
    {"broadcast_rate", CONF_U32, CFG(broadcast_rate), 0, 100000, "20",
     "broadcast datagrams per second this node sends to a network, and takes from each sender "
     "in one (0 = broadcast off)",
     0},
    {"broadcast_burst", CONF_U32, CFG(broadcast_burst), 1, 1000000, "40",
     "broadcast datagrams sent or taken at once above broadcast_rate", 0},
    {"broadcast_table", CONF_U32, CFG(broadcast_table), 256, 32765, "20553",
     "routing table and rule priority that deliver received broadcasts (ip -6 rule)", 0},
    {"rekey_interval", CONF_U32, CFG(rekey_interval), 10, 86400, "120",
     "seconds between session rekeys", 0},
    {"heartbeat_interval", CONF_U32, CFG(heartbeat_interval), 1, 3600, "25",
     "seconds between registry heartbeats", 0},
    {"audit_max_records", CONF_U32, CFG(audit_max_records), 1000, 4000000000u, "1000000",
     "audit records kept (older ones are pruned, leaving a signed checkpoint)", 0},
    {"audit_max_age_days", CONF_U32, CFG(audit_max_age_days), 0, 36500, "365",
     "days audit records are kept (0 = no age limit)", 0},
    {"metrics_listen", CONF_HOSTPORT, CFG(metrics_listen), 0, 0, NULL,
     "serve Prometheus metrics on HOST:PORT (loopback; off when unset)", 0},
    {"metrics_allow_remote", CONF_BOOL, CFG(metrics_allow_remote), 0, 0, "false",
     "allow metrics_listen on a non-loopback address", 0},
    {"dns", CONF_BOOL, CFG(dns), 0, 0, "false",
     "serve NAME.pilot to DNS clients (musl, Go, containers) on dns_listen, once pilot0 is up", 0},
    {"dns_listen", CONF_HOSTPORT, CFG(dns_listen), 0, 0, NULL,
     "the DNS stub's ADDRESS:PORT, UDP and TCP (default: this node's overlay IPv6 address on "
     "pilot0, port 53)",
     0},
    {"dns_rate", CONF_U32, CFG(dns_rate), 1, 1000000, "100",
     "DNS queries per second taken from one source address", 0},
    {"dns_burst", CONF_U32, CFG(dns_burst), 1, 1000000, "200",
     "DNS queries taken at once from one source address above dns_rate", 0},
    {"dns_resolved", CONF_BOOL, CFG(dns_resolved), 0, 0, "true",
     "where systemd-resolved runs, have it send the pilot domain to the DNS stub (resolvectl)", 0},
    {"probe", CONF_ACTION, CFG(probe), 0, 0, NULL,
     "check the configuration, then whether each registry address answers as a Pilot registry "
     "over TLS with registry_pin or registry_ca, print a verdict and exit (1: it does not)",
     0},
    {"check_config", CONF_ACTION, CFG(check_config), 0, 0, NULL, "check the configuration and exit",
     0},
    {"help", CONF_ACTION, CFG(help), 0, 0, NULL, "show this help", 0},
    {"version", CONF_ACTION, CFG(version), 0, 0, NULL, "show the version", 0},
    CONF_END,
};
