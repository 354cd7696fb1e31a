/* pilotd.h - the node daemon's one context.  Everything the daemon owns
 * hangs off struct pilotd; modules receive it (or a part of it) instead
 * of sharing globals. */
#ifndef PILOT_PILOTD_H
#define PILOT_PILOTD_H

#include <event2/event.h>
#include <stdint.h>
#include <stdio.h>
#include <yajl/yajl_tree.h>

#include "addr.h"
#include "admit.h"
#include "bcn.h"
#include "conf.h"
#include "dp.h"
#include "flow.h"
#include "member.h"
#include "netcheck.h"
#include "nodeset.h"
#include "peer.h"
#include "regc.h"
#include "cert.h"
#include "expiry.h"
#include "findlim.h"
#include "tnl.h"
#include "trust.h"
#include "tun.h"
#include "wlapi.h"

struct hmap;

/* Besides root, the group that may use the control socket (sysusers.d:
 * the pilot user's group).  pilotd does not start without it. */
#define PILOTD_GROUP "pilot"

struct nl_ctx;
struct store;
struct ipc_server;
struct httpc;

struct pilotd_cfg {
	struct conf_head head;
	char **registry; /* HOST:PORT of each registry replica */
	char *state_dir, *registry_pin, *registry_ca, *beacon, *tun, *socket;
	char *hostname, *admin_token, *webhook, *identity, *log_level, *log_format;
	char *resolve_socket, *webhook_secret_file;
	char *registration_token; /* offered when registering a key the registry does not know */
	char **networks;
	char **certificates;   /* node certificate files (ca networks) */
	char *oidc_token_path; /* an OIDC ID token, re-read when it changes (oidc networks) */
	char *spiffe_endpoint_socket; /* the SPIFFE Workload API (spiffe_auto) */
	char *spiffe_audience;
	int spiffe_auto;
	int offload; /* IFF_VNET_HDR + TSO on pilot0 */
	uint32_t listen_port, mtu, max_flows, syn_rate, syn_rate_per_peer, max_flows_per_port;
	uint32_t rekey_interval, heartbeat_interval;
	uint32_t broadcast_rate, broadcast_burst, broadcast_table;
	uint32_t audit_max_records, audit_max_age_days;
	char *metrics_listen;
	int metrics_allow_remote;
	int dns, dns_resolved; /* the DNS stub; and telling systemd-resolved of it */
	char *dns_listen;      /* its address (default: our overlay address, port 53) */
	uint32_t dns_rate, dns_burst;
	int public_;
	int help, version, check_config, probe;
};

/* pilotd_conf.c: every configuration key (pilotd.json(5), the flags). */
extern const struct conf_key pilotd_schema[];

/* The offloads pilotd asks the kernel for (doc/PROTOCOL.md "Offloads"):
 * all when `offload` is true, less those PILOT_OFFLOAD_DISABLE names. */
#define PILOTD_OFFLOAD_TSO 1u	  /* pilot0: IFF_VNET_HDR + TSO6 */
#define PILOTD_OFFLOAD_UDP_GSO 2u /* tunnel socket: UDP_SEGMENT sends */
#define PILOTD_OFFLOAD_UDP_GRO 4u /* tunnel socket: UDP_GRO receives */
#define PILOTD_OFFLOAD_ALL 7u

/** The offloads of \p enabled (the `offload` setting) less those the
 *  comma-separated \p disable (NULL: none) names ("tso", "udp_gso",
 *  "udp_gro", "all").  \retval 0, or -EINVAL with \p err set. */
int pilotd_offload_parse(int enabled, const char *disable, unsigned *out, char *err, size_t errlen);

/* Counters shown by `pilotctl status` (and later /metrics). */
#define PILOTD_COUNTERS(X)                                                                         \
	X(tun_rx_packets)                                                                          \
	X(tun_tx_packets)                                                                          \
	X(tun_rx_super)                                                                            \
	X(tun_rx_segments)                                                                         \
	X(tun_tx_super)                                                                            \
	X(tun_tx_coalesced)                                                                        \
	X(tun_rx_bad_offload)                                                                      \
	X(udp_tx_gso_sends)                                                                        \
	X(udp_rx_gro)                                                                              \
	X(udp_rx_packets)                                                                          \
	X(udp_tx_packets)                                                                          \
	X(rx_dropped_auth)                                                                         \
	X(rx_dropped_replay)                                                                       \
	X(rx_dropped_spoof)                                                                        \
	X(rx_dropped_malformed)                                                                    \
	X(rx_dropped_unknown_index)                                                                \
	X(tx_dropped_no_peer)                                                                      \
	X(tx_dropped_malformed)                                                                    \
	X(tx_queued)                                                                               \
	X(handshake_init_sent)                                                                     \
	X(handshake_init_rx)                                                                       \
	X(handshake_resp_sent)                                                                     \
	X(handshake_completed)                                                                     \
	X(handshake_rejected_mac)                                                                  \
	X(handshake_rejected_peer)                                                                 \
	X(handshake_rejected_replay)                                                               \
	X(handshake_rate_limited)                                                                  \
	X(cookie_sent)                                                                             \
	X(rekeys)                                                                                  \
	X(flows_admitted)                                                                          \
	X(flows_denied)                                                                            \
	X(flows_cut)                                                                               \
	X(rst_sent)                                                                                \
	X(icmp_prohibited_sent)                                                                    \
	X(refusals_rst_sent)                                                                       \
	X(refusals_icmp_sent)                                                                      \
	X(refusals_rate_limited)                                                                   \
	X(rx_dropped_beacon)                                                                       \
	X(probes_rx)                                                                               \
	X(probes_rejected)                                                                         \
	X(punch_requests_sent)                                                                     \
	X(punches_received)                                                                        \
	X(relay_tx_packets)                                                                        \
	X(relay_rx_packets)                                                                        \
	X(relay_dropped_too_big)                                                                   \
	X(bcast_tx)                                                                                \
	X(bcast_tx_copies)                                                                         \
	X(bcast_tx_denied)                                                                         \
	X(bcast_tx_rate_limited)                                                                   \
	X(bcast_rx)                                                                                \
	X(bcast_rx_denied)                                                                         \
	X(bcast_rx_rate_limited)                                                                   \
	X(bcast_dropped)                                                                           \
	X(path_changes)                                                                            \
	X(resolve_cached)                                                                          \
	X(resolve_registry)                                                                        \
	X(resolve_rate_limited)                                                                    \
	X(find_registry_calls)                                                                     \
	X(dns_queries)                                                                             \
	X(dns_answered)                                                                            \
	X(dns_nxdomain)                                                                            \
	X(dns_refused)                                                                             \
	X(dns_servfail)                                                                            \
	X(dns_formerr)                                                                             \
	X(dns_dropped)                                                                             \
	X(dns_rate_limited)                                                                        \
	X(dns_busy)                                                                                \
	X(dns_truncated)                                                                           \
	X(dns_tcp_connections)

struct pilotd_counters {
#define X(n) uint64_t n;
	PILOTD_COUNTERS(X)
#undef X
};

#define DP_BATCH 64
#define DP_BUFSZ 2048

struct dp_batch; /* dp_int.h */
struct dp_ops;

/* The beacon as this node knows it (pilotd_bcn.c). */
struct pilotd_bcn {
	int have_key;		  /* the registry announced a usable beacon */
	struct sockaddr_in6 addr; /* frames from anywhere else are dropped */
	uint8_t pk[32];
	uint8_t key[32]; /* bcn_key: shared with the beacon only */
	struct bcn_counter tx;
	struct bcn_replay rx;
	struct sockaddr_in6 reflexive; /* our endpoint as the beacon sees it */
	int have_reflexive;
	/* The reflexive endpoint is not one of ours: a NAT is in between,
	 * and the registry must not hand out our address for unsolicited
	 * sends (they would spoil the NAT's mapping; doc/NAT.md). */
	int behind_nat;
	uint64_t bind_sent_ms, bind_ok_ms;
	unsigned relayed_peers; /* with a relayed session, as of the last tick */
	/* An ECHO_OK on the tunnel socket goes here while a netcheck runs. */
	void (*on_echo)(struct pilotd *d, const struct bcn_frame *f, size_t len, int second);
};

/* `pilotctl netcheck` (pilotd_netcheck.c): one run at a time. */
struct pilotd_netcheck;
typedef void (*pilotd_netcheck_cb)(struct pilotd *d, void *arg, const struct pilotd_netcheck *nc);
struct pilotd_netcheck {
	int running;
	uint32_t run;	/* names this run's echoes and its registry call */
	int fd;		/* the second socket, -1 */
	uint16_t port2; /* ... its local port */
	struct event *ev_rx, *ev_timer;
	uint64_t start_us; /* monotonic */
	unsigned rounds;   /* echo rounds sent */
	struct nc_echo echo[NC_PROBES];
	int reg_done; /* the registry answered (or failed) */
	uint64_t reg_rtt_us;
	char reg_error[160]; /* "" when it answered */
	uint64_t duration_us;
	pilotd_netcheck_cb cb;
	void *cb_arg;
	/* The last run's mapping (path reasons: our own NAT may be why). */
	enum nc_mapping mapping;
};

/* This node's certificates (pilotd_cert.c). */
#define PILOTD_CERTS_MAX 8
struct pilotd_certs {
	struct cert c[PILOTD_CERTS_MAX];
	size_t n;
	uint64_t mtime_sum; /* of the files they came from: changed = read again */
};

/* This node's tokens (pilotd_token.c): secrets, wiped when replaced. */
struct pilotd_tokens {
	char *oidc, *svid;
	uint64_t oidc_exp, svid_exp; /* their exp claims, unverified (0: unknown) */
	uint64_t checked_ms;	     /* oidc_token_path last looked at */
	int read_failed;	     /* ... and could not be read (said once) */
};

/* The SPIFFE Workload API client (pilotd_spiffe.c, spiffe_auto). */
struct httpc_req;
struct pilotd_spiffe {
	int on;	       /* spiffe_auto, and started */
	char uri[300]; /* the endpoint as configured (or from the environment) */
	struct wlapi_endpoint ep;
	struct event *timer;   /* the next fetch */
	struct httpc_req *req; /* the fetch in flight */
	unsigned backoff_s;    /* after a failure: 1 s doubling to 30 s; 0 after a success */
	uint64_t last_ok_s, last_try_s; /* Unix s */
	uint64_t next_ms;		/* when the timer fires (real ms) */
	uint64_t fetches, failures;
	char spiffe_id[256];  /* of the SVID we hold */
	char last_error[300]; /* "" after a success */
};

struct pilotd {
	struct event_base *base;
	struct pilotd_cfg cfg;
	uint64_t started_ms;

	struct store *st;
	int db_meta;

	/* identity */
	uint8_t *ed_sk;	     /* 64 bytes, sodium_malloc */
	uint8_t *ed_sk_next; /* a rotation in progress (persisted), or NULL */
	uint8_t ed_pk[32];
	struct tnl_identity id;
	uint32_t node_id; /* 0 until registered */
	struct pilot_prefix prefix;
	int have_prefix;
	struct in6_addr my_ip6; /* backbone address */

	/* kernel */
	struct tun_dev tun;
	struct nl_ctx *nl;
	int tun_up;
	int udp_fd; /* dual-stack IPv6 socket */
	struct event *ev_tun, *ev_udp, *ev_tick, *ev_sig[3];

	/* data path */
	struct peer_table peers;
	struct flow_table flows;
	struct admit admit;
	struct trust_table trust;
	struct member_table members;
	struct nodeset blocked, revoked;
	int synced; /* the registry's event backlog (revocations) has been heard */
	struct tnl_cookie_checker cookies;
	struct dp_batch *batch;
	const struct dp_ops *dp_ops; /* what dp.c may ask of the daemon */
	/* handshake load (dp_hs.c): counts in the current second, and the
	 * per-address meters of sources that proved their address (mac2) */
	uint64_t hs_window_start_ms;
	uint32_t hs_in_window, hs_dh_in_window, hs_cookies_in_window;
	int hs_loaded; /* the last second was under load */
	/* initiation timestamps (dp_hs.c): none at or below the floor (what
	 * an earlier run may have sent); reserved: the floor kept for the next */
	uint64_t hs_ts_floor_ns, hs_ts_reserved_ns;
	struct hmap *hs_src;
	uint64_t rekey_ms, reject_ms;
	uint64_t last_sweep_ms, last_prune_ms;
	struct flow flow_passthrough; /* marker: admitted without a flow entry */
	struct pilotd_bcn bcn;
	struct pilotd_netcheck netcheck;
	struct dp_bcast bcast;		  /* broadcast meters (dp_bcast.c) */
	uint32_t bcast_rate, bcast_burst; /* per sender and network; 0 rate: off */
	unsigned offload;		  /* PILOTD_OFFLOAD_*: what to ask the kernel for */
	int udp_gso;			  /* UDP_SEGMENT on the tunnel socket (dp.c) */
	int udp_gro;			  /* UDP_GRO on the tunnel socket (dp.c) */
	uint64_t bcast_audit_ms;	  /* last broadcast.summary */
	/* debug lines for denied flows: a flood must not become a log flood */
	struct token_bucket deny_log_tb;
	uint64_t deny_log_skipped;

	/* control */
	struct httpc *http;
	struct regc regc;
	struct ipc_server *ipc, *ipc_resolve;
	gid_t ctl_group;	/* PILOTD_GROUP: shares the control socket with root */
	struct findlim findlim; /* registry lookups for the name service socket */
	struct metrics *metrics;
	struct pilotd_audit *audit; /* pilotd_audit.c */
	struct event *ev_watchdog;
	int argc; /* kept for SIGHUP: the same flags are parsed again */
	char **argv;
	uint64_t reloads, reload_failures;
	int ready_notified;

	/* this node's settings: the node is their source of truth and sends
	 * them at every registration (see settings_load in pilotd.c) */
	char hostname[64];
	int public_;
	char tags[400];		  /* comma-separated, canonical */
	int rotating;		  /* a rotate-key is in flight */
	struct find_cache *finds; /* pilotd_find.c */
	struct pilotd_dns *dns;	  /* pilotd_dns.c; NULL when off */

	struct pilotd_certs certs;
	struct pilotd_tokens tokens;
	struct pilotd_spiffe spiffe;
	uint64_t cert_tick_s, certs_checked_ms;
	struct expiry_table expiry; /* peers' identity ends */
	uint64_t expires_at;	    /* ours (Unix s; 0 never), from the registry */

	struct pilotd_counters ctr;
};

/* The daemon's modules, bottom to top.  A module calls only those below
 * it; the data path (dp.c) and the registry client (regc.c) reach the
 * ones above through the ops pilotd.c hands them (struct dp_ops,
 * struct regc_hooks).  doc/ARCHITECTURE.md draws the layers. */

/* ---- identity and settings in the meta table (pilotd_identity.c) ---- */
/** Load (or at first start create, or import cfg.identity) the key. */
int pilotd_identity_load(struct pilotd *d);
/** The registration last saved: node ID and deployment prefix. */
void pilotd_meta_load(struct pilotd *d);
/** Persist a setting in the meta database. \retval 0 or -errno. */
int pilotd_meta_put(struct pilotd *d, const char *key, const void *val, size_t len);
/** dp_ops.hs_ts_reserve: the initiation timestamp floor into the state. */
void pilotd_hs_ts_reserve(struct pilotd *d, uint64_t ns);
/** Hostname and visibility: the config's when it changed, else the
 *  last one set at run time; tags. */
void pilotd_settings_load(struct pilotd *d);
/** Switch to a new identity key (after the registry accepted it). */
int pilotd_identity_replace(struct pilotd *d, const uint8_t *new_sk);
void pilotd_identity_drop_next(struct pilotd *d);
/** Persist and hold \p sk as the pending next key. \retval 0 or -errno. */
int pilotd_identity_set_next(struct pilotd *d, const uint8_t *sk);

/* ---- audit (pilotd_audit.c) ---- */
int pilotd_audit_init(struct pilotd *d);
void pilotd_audit_free(struct pilotd *d);
/** Record a control action durably (audit log + webhook outbox) before
 *  it is acknowledged.  \p details_fmt makes a JSON object, or NULL.
 *  \retval 0 or -errno (logged). */
int pilotd_audit_event(struct pilotd *d, const char *type, uint32_t subject_node,
		       const char *details_fmt, ...) __attribute__((format(printf, 4, 5)));
/** Queue a flow denial; written in batches by pilotd_audit_flush(). */
void pilotd_audit_deny(struct pilotd *d, const struct pkt_info *pi, uint32_t node, int inbound,
		       enum admit_reason why);
void pilotd_audit_flush(struct pilotd *d);
/** Retention: prune by count and age, leaving a signed checkpoint. */
void pilotd_audit_prune(struct pilotd *d);
/** After a key rotation: re-sign the checkpoint with the new key. */
void pilotd_audit_rekeyed(struct pilotd *d, const uint8_t old_pk[32]);
void pilotd_audit_stats(struct pilotd *d, uint64_t *last_id, uint64_t *backlog, uint64_t *dropped,
			uint64_t *failed);
/** The log and the webhook themselves, for the commands that show them. */
struct audit;
struct webhook;
struct audit *pilotd_audit_log(struct pilotd *d);
struct webhook *pilotd_audit_webhook(struct pilotd *d);

/* ---- peers and trust (pilotd_peer.c) ---- */
/** The peer for \p node (created from the trust table), or NULL. */
struct peer *pilotd_peer_for(struct pilotd *d, uint32_t node);
/** Ask the registry for \p p's endpoint (async), then handshake. */
void pilotd_resolve_peer(struct pilotd *d, struct peer *p);
/** The registry said \p node restarted: resolve it and handshake again. */
void pilotd_peer_restarted(struct pilotd *d, uint32_t node);
/** The node a public key belongs to (trust or shared network), or 0. */
uint32_t pilotd_node_by_pk(struct pilotd *d, const uint8_t pk[32]);
/** A flow was refused: audit (batched) and log at debug. */
void pilotd_flow_denied(struct pilotd *d, const struct pkt_info *pi, uint32_t node, int inbound,
			enum admit_reason why);
/** Cut every flow with \p node (RST / ICMPv6 to the local side); tear down
 *  its sessions.  \retval flows cut. */
unsigned pilotd_cut_peer(struct pilotd *d, uint32_t node, int forget_peer);
/** Re-check a peer after its basis changed (admit_peer): with no trust
 *  and no shared network left, cut its flows and forget it. */
void pilotd_revise_peer(struct pilotd *d, uint32_t node);
/** Trust changes, from the registry or IPC. */
void pilotd_trust_added(struct pilotd *d, uint32_t node, const uint8_t pk[32],
			const char *hostname);
void pilotd_trust_revoked(struct pilotd *d, uint32_t node, const char *why);
/** The registry's list of our trust pairs (regc_hooks.sync_trust). */
void pilotd_sync_trust(struct pilotd *d, yajl_val peers);
/** trust.*, handshake.* and peer.restarted events. */
void pilotd_trust_event(struct pilotd *d, const char *name, yajl_val ev);
/** Resolve \p target text (node ID, address, IPv6, hostname) to a node ID
 *  locally (hostname needs the registry: returns -EAGAIN). */
int pilotd_parse_target(struct pilotd *d, const char *target, uint32_t *node);

/* ---- the beacon (pilotd_bcn.c) ---- */
struct json_gen;
/** After each registration: take the beacon's key and address from the
 *  register answer \p reg (none announced: NAT traversal is off). */
void pilotd_bcn_configure(struct pilotd *d, yajl_val reg);
/** Bound (a BIND_OK heard lately): punching and relaying are possible. */
int pilotd_bcn_ready(const struct pilotd *d);
/* ---- pilotd --probe (pilotd_probe.c) ---- */
/** Can each registry address be reached and authenticated, and is it a
 *  Pilot registry?  Verdict lines to \p out.  \retval 0, or -1. */
int pilotd_probe(const struct pilotd_cfg *cfg, FILE *out);

/* ---- health (pilotd_health.c) ---- */
/** The "health" member of `status`: {"state", "problems": [...]}. */
void pilotd_health(struct pilotd *d, struct json_gen *j);
/** Keep our binding (and the NAT mapping to the beacon) fresh. */
void pilotd_bcn_tick(struct pilotd *d, uint64_t now);
void pilotd_bcn_punch_req(struct pilotd *d, uint32_t node);
/** Seal a RELAY frame to \p to around the record of \p reclen bytes at
 *  \p frame + BCN_RELAY_HDR.  \retval frame length or -errno. */
int pilotd_bcn_wrap(struct pilotd *d, uint8_t *frame, size_t reclen, size_t cap, uint32_t to);
/** A datagram whose type byte is a beacon frame's (0x10-0x1f). */
void pilotd_bcn_input(struct pilotd *d, uint8_t *buf, size_t len, const struct sockaddr_in6 *src,
		      uint64_t now);
void pilotd_bcn_status(struct pilotd *d, struct json_gen *j);
/** A datagram from \p src that must be the beacon's: from its address,
 *  under our key, to us, of a beacon -> node type, fresh.  Else counted as
 *  rx_dropped_beacon.  \retval 0 (decoded into \p f) or -1. */
int pilotd_bcn_accept(struct pilotd *d, const uint8_t *buf, size_t len,
		      const struct sockaddr_in6 *src, struct bcn_frame *f);
/** Is \p ep one of this host's addresses at \p port? */
int pilotd_bcn_ep_is_ours(const struct sockaddr_in6 *ep, uint16_t port);

/* ---- netcheck (pilotd_netcheck.c) ---- */
/** Start a run (at most NC_TOTAL_MS): echoes from the tunnel socket and
 *  a second one, the MTU probe, and a registry round trip; \p cb gets the
 *  outcome.  \retval 0, -EBUSY (one is running) or -errno. */
int pilotd_netcheck_start(struct pilotd *d, pilotd_netcheck_cb cb, void *arg);
/** Stop a run now (shutdown): its callback gets what was heard. */
void pilotd_netcheck_stop(struct pilotd *d);

/* ---- block list, revocation, policy (pilotd_policy.c) ---- */
int pilotd_is_blocked(struct pilotd *d, uint32_t node);
int pilotd_is_revoked(struct pilotd *d, uint32_t node);
int pilotd_policy_allows(struct pilotd *d, uint32_t node, uint16_t net, int inbound, uint8_t proto,
			 uint16_t port);
/** Fetch this node's policy view of \p net from the registry (async). */
void pilotd_policy_fetch(struct pilotd *d, uint16_t net);
void pilotd_node_revoked(struct pilotd *d, uint32_t node, const char *why);
void pilotd_policy_event(struct pilotd *d, const char *name, yajl_val ev);
/** Inbound flows are admitted only once the registry's backlog of
 *  revocations has been heard (or it could not be reached for a while). */
int pilotd_inbound_open(struct pilotd *d);

/* ---- networks (pilotd_net.c) ---- */
int pilotd_net_joined(struct pilotd *d, uint16_t net, const char *name, const char *rule,
		      yajl_val members);
/** \retval the flows it had admitted, now cut. */
unsigned pilotd_net_left(struct pilotd *d, uint16_t net, const char *why);
void pilotd_net_addrs_up(struct pilotd *d);
/** Once a minute: one broadcast.summary audit record per network that saw
 *  broadcasts since the last one (never one per datagram). */
void pilotd_bcast_audit(struct pilotd *d, uint64_t now);
/** Take out broadcast addresses' local routes the kernel added late. */
void pilotd_bcast_tick(struct pilotd *d);
void pilotd_net_event(struct pilotd *d, const char *name, yajl_val ev);
void pilotd_after_register(struct pilotd *d);
/** Join the configured networks (`networks`) we are not in (a credential
 *  they need may have just arrived). */
void pilotd_join_configured(struct pilotd *d);
int pilotd_check_networks_cfg(char **specs, char *err, size_t errlen);

/** Keep a peer's identity end from its lookup object (member
 *  "expires_at"; absent: never); ours goes to d->expires_at. */
void pilotd_expiry_note(struct pilotd *d, uint32_t node, yajl_val lookup);

/* ---- tokens (pilotd_token.c) ---- */
/** A token's exp claim, unverified (0: none readable). */
uint64_t pilotd_token_exp(const char *tok);
/** Read oidc_token_path, if configured (failures logged). */
void pilotd_tokens_load(struct pilotd *d);
/** Keep \p tok, which admitted us to a network of join rule \p rule
 *  ("oidc" or "spiffe"), for renewals and later joins. */
void pilotd_token_keep(struct pilotd *d, const char *rule, const char *tok);
/** Members "oidc_token" and "svid" (unexpired ones) for a join or renewal. */
void pilotd_tokens_put(struct pilotd *d, struct json_gen *j);
/** Every few seconds: a changed token file renews the oidc memberships. */
/** \retval 1 when the OIDC token file changed (the caller renews). */
int pilotd_tokens_tick(struct pilotd *d);
void pilotd_tokens_free(struct pilotd *d);

/* ---- the SPIFFE Workload API (pilotd_spiffe.c) ---- */
/** Is the spiffe_auto configuration complete (an audience, a Workload API
 *  address of the right form, from the config or $SPIFFE_ENDPOINT_SOCKET)?
 *  \retval 0, or -EINVAL with \p err saying what is missing. */
int pilotd_spiffe_check_cfg(const struct pilotd_cfg *cfg, char *err, size_t errlen);
/** With spiffe_auto: fetch a JWT-SVID now, and again at half of each
 *  one's lifetime (1 s doubling to 30 s after a failure); each new one
 *  renews our spiffe memberships.  \retval 0 or -errno. */
int pilotd_spiffe_start(struct pilotd *d);
/** Stop fetching (the SVID held stays until it expires). */
void pilotd_spiffe_stop(struct pilotd *d);
/** The "spiffe" object of `status` (only with spiffe_auto). */
void pilotd_spiffe_status(struct pilotd *d, struct json_gen *j);

/* ---- certificates (pilotd_cert.c) ---- */
/** Read the certificate files \p files.  \retval 0, or -errno with \p err
 *  naming the file. */
int pilotd_certs_read(char **files, struct pilotd_certs *out, char *err, size_t errlen);
/** Read the configured files again and offer them (renewal).  \retval 0 or
 *  -errno (logged; the old set stays). */
int pilotd_certs_reload(struct pilotd *d);
/** The certificate files' modification times, summed (change detection). */
uint64_t pilotd_certs_mtime_sum(char **files);
/** Add \p c (for our key) to the set.  \retval 0 or -EINVAL. */
int pilotd_cert_add(struct pilotd *d, const struct cert *c);
/** Member "certificates" (ours, unexpired) for a join or renewal, if any. */
void pilotd_certs_put(struct pilotd *d, struct json_gen *j);
int pilotd_certs_have(struct pilotd *d);
/** Member "certificates" holding \p c alone. */
void pilotd_cert_put_one(struct json_gen *j, const struct cert *c);
/** Offer our certificates to every ca network we are in (network_renew). */
void pilotd_certs_renew(struct pilotd *d);
/** Offer our credentials (certificates, tokens) to every network of join
 *  rule \p rule we are in (network_renew). */
void pilotd_creds_renew(struct pilotd *d, const char *rule);
/** Keep our certificate's not-after for \p net from the registry's answer
 *  (network object \p nw). */
void pilotd_net_cert(struct pilotd *d, uint16_t net, yajl_val nw);
/** Once a second: end certificate memberships that expired (ours and
 *  peers'); look at the files every 30 s. */
void pilotd_cert_tick(struct pilotd *d);

/* ---- name lookups (pilotd_find.c): the one path of `find`, the NSS
 * module's socket and the DNS stub ---- */
/* What the registry answered about a hostname. */
struct pilotd_find_answer {
	int found; /* 0: "no such node" (absent, or not for this node to see) */
	uint32_t node;
	uint16_t net; /* the network whose address we answer with (0: backbone) */
	uint16_t nets[8];
	unsigned nnets;
	int trusted;
	int score; /* the node's reputation, -1 if the registry gave none */
	char hostname[64];
	uint16_t ext_net; /* a shared oidc/spiffe network, and who it admitted the node as */
	char external_id[256], external_issuer[256];
};
/** A lookup's end: \p err 0 with \p a (found or not), or < 0 with the
 *  registry's \p code and \p msg (registry_unavailable, timeout, ...). */
typedef void (*pilotd_find_cb)(struct pilotd *d, void *arg, int err, const char *code,
			       const char *msg, const struct pilotd_find_answer *a);
struct pilotd_find_wait;
/** \p in (NAME, NAME.pilot, either with a final dot; any case) as the
 *  canonical hostname in \p out.  \retval 0, or -EINVAL: no hostname. */
int pilotd_find_canon(const char *in, char *out, size_t outlen);
/** The cached answer for the canonical \p name, or NULL. */
const struct pilotd_find_answer *pilotd_find_cached(struct pilotd *d, const char *name);
/** Ask the registry about the canonical \p name; \p cb gets the answer
 *  later (never before this returns).  \p shared: join a shared lookup of
 *  the same name already in flight.  \retval a handle for
 *  pilotd_find_cancel (valid until \p cb runs), or NULL (not sent). */
struct pilotd_find_wait *pilotd_find_ask(struct pilotd *d, const char *name, int shared,
					 pilotd_find_cb cb, void *arg);
/** The same (shared) for a local name service, the NSS socket or the DNS
 *  stub: joining a lookup in flight is free, a new one spends \p uid's
 *  share of their registry budget (findlim.h).  \retval a handle, or NULL
 *  (*\p limited set when the budget is spent). */
struct pilotd_find_wait *pilotd_find_ask_local(struct pilotd *d, const char *name, uid_t uid,
					       pilotd_find_cb cb, void *arg, int *limited);
/** The asker went away: \p cb will not be called. */
void pilotd_find_cancel(struct pilotd_find_wait *w);
/** Drop every cached name answer (any registry event may change them). */
void pilotd_finds_flush(struct pilotd *d);
void pilotd_finds_free(struct pilotd *d);

/* ---- the DNS stub (pilotd_dns.c; its codec dns.c) ---- */
struct pilotd_dns;
/** Start the stub if the config enables it (`dns`): UDP and TCP on
 *  dns_listen, by default this node's own overlay address on the TUN
 *  device, port 53; then tell systemd-resolved, where it runs, to send
 *  it the pilot domain.  Once pilot0 is up.  \retval 0 or -errno (logged,
 *  and shown by status and health). */
int pilotd_dns_start(struct pilotd *d);
/** Stop it (and take back what systemd-resolved was told). */
void pilotd_dns_stop(struct pilotd *d);
/** The "dns" object of `status`. */
void pilotd_dns_status(struct pilotd *d, struct json_gen *j);
/** Why the enabled stub is not serving, or NULL when it is (or is off). */
const char *pilotd_dns_problem(struct pilotd *d);
/** Is dns_listen (if set) a numeric address and port?  \retval 0, or
 *  -EINVAL with \p err set. */
int pilotd_dns_check_cfg(const struct pilotd_cfg *cfg, char *err, size_t errlen);

/* ---- control-socket commands (pilotd_cmd*.c) ---- */
/** The Prometheus page (pilotd_metrics.c). */
struct evbuffer;
void pilotd_metrics_fill(void *arg, struct evbuffer *out);

/* ---- the daemon (pilotd.c) ---- */
/** Build the daemon from parsed config; opens state, identity, sockets.
 *  \retval 0 or -errno (logged). */
int pilotd_init(struct pilotd *d, struct event_base *base);
/** pilotd_init less the look-up of the control socket's group: the
 *  caller has set d->ctl_group.  For tests/fuzz/fuzz_ipc.c, which runs the
 *  daemon where there may be no group "pilot". */
int pilotd_open(struct pilotd *d, struct event_base *base);
void pilotd_free(struct pilotd *d);
/** After registration: bring up pilot0 with our addresses and route. */
int pilotd_tun_setup(struct pilotd *d);
/** SIGHUP: parse the configuration again and apply it whole, or keep the
 *  running one and say why. \retval 0 or -errno. */
int pilotd_reload(struct pilotd *d);
/** Registry client hooks (regc_hooks). */
int pilotd_registered(struct pilotd *d, uint32_t node_id, const struct pilot_prefix *px);
void pilotd_registry_event(struct pilotd *d, yajl_val ev);

#endif
