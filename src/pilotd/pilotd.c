/* pilotd.c - the node daemon: configuration reloads (the schema is
 * pilotd_conf.c), identity, start-up order,
 * trust decisions, and the control-socket commands.  The data path is in
 * dp.c, sessions in peer.c, the registry client in regc.c. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <grp.h>
#include <signal.h>
#include <sodium.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bcn.h"
#include "dp.h"
#include "httpc.h"
#include "ipc.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "nl.h"
#include "pilotd.h"
#include "pilotd_cmd.h"
#include "sdnotify.h"
#include "store.h"
#include "util.h"

static const char *const pilotd_dbs[] = {"meta",       "trust",	  "asked",   "networks", "audit",
					 "audit_meta", "webhook", "blocked", "revoked",	 NULL};

/* ---- kernel set-up ---- */

static void notify_ready(struct pilotd *d)
{
	if (d->ready_notified)
		return;
	d->ready_notified = 1;
	sd_notify_send("READY=1\nSTATUS=overlay up");
}

int pilotd_offload_parse(int enabled, const char *disable, unsigned *out, char *err, size_t errlen)
{
	static const struct {
		const char *name;
		unsigned bit;
	} names[] = {{"tso", PILOTD_OFFLOAD_TSO},
		     {"udp_gso", PILOTD_OFFLOAD_UDP_GSO},
		     {"udp_gro", PILOTD_OFFLOAD_UDP_GRO},
		     {"all", PILOTD_OFFLOAD_ALL}};
	unsigned off = enabled ? PILOTD_OFFLOAD_ALL : 0;
	const char *p = disable ? disable : "";

	while (*p) {
		size_t n = strcspn(p, ",");
		size_t i;
		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (strlen(names[i].name) == n && strncmp(p, names[i].name, n) == 0)
				break;
		if (n && i == sizeof(names) / sizeof(names[0])) {
			snprintf(err, errlen,
				 "PILOT_OFFLOAD_DISABLE: unknown offload '%.*s' (tso, udp_gso, "
				 "udp_gro, all)",
				 (int)(n > 32 ? 32 : n), p);
			return -EINVAL;
		}
		if (n)
			off &= ~names[i].bit;
		p += n + (p[n] == ',');
	}
	*out = off;
	return 0;
}

int pilotd_tun_setup(struct pilotd *d)
{
	struct pilot_addr a = {0, d->node_id};
	struct in6_addr route;
	int rc;

	addr_to_ipv6(&d->prefix, &a, &d->my_ip6);
	if (d->tun_up)
		return 0;
	if (!d->nl && !(d->nl = nl_open())) {
		log_warn("netlink");
		return -errno;
	}
	/* PILOT_OFFLOAD_DISABLE=tso keeps the vnet header and asks for no TSO:
	 * the path a kernel refusing TSO leaves, which this makes testable. */
	rc = tun_open_linux(&d->tun, d->cfg.tun,
			    (d->cfg.offload ? TUN_OPEN_VNET : 0) |
				((d->offload & PILOTD_OFFLOAD_TSO) ? TUN_OPEN_TSO : 0));
	if (rc < 0) {
		log_warnx("TUN device %s: %s", d->cfg.tun, strerror(-rc));
		return rc;
	}
	memset(&route, 0, sizeof(route));
	memcpy(route.s6_addr, d->prefix.b, 6);
	if ((rc = nl_link_up(d->nl, d->tun.ifindex, d->cfg.mtu)) < 0 ||
	    (rc = nl_addr6_add(d->nl, d->tun.ifindex, &d->my_ip6, 64)) < 0 ||
	    (rc = nl_route6_add(d->nl, d->tun.ifindex, &route, 48)) < 0) {
		log_warnx("configuring %s: %s%s%s", d->cfg.tun, strerror(-rc),
			  nl_last_error(d->nl)[0] ? ": " : "", nl_last_error(d->nl));
		tun_close(&d->tun);
		return rc;
	}
	/* Broadcasts arriving on the device are delivered through this
	 * table, where each joined network has its broadcast address as a
	 * local route (pilotd_net.c).  Without it (a kernel without policy
	 * routing) everything else still works. */
	if (nl_rule6(d->nl, 1, d->cfg.tun, d->cfg.broadcast_table, d->cfg.broadcast_table) < 0)
		log_warnx("broadcasts to this node cannot be received: no routing rule");
	d->ev_tun = event_new(d->base, d->tun.fd, EV_READ | EV_PERSIST, dp_tun_readable, d);
	if (!d->ev_tun || event_add(d->ev_tun, NULL) < 0)
		return -ENOMEM;
	d->tun_up = 1;
	pilotd_net_addrs_up(d);
	{
		char ab[PILOT_ADDR_STRLEN], ip[INET6_ADDRSTRLEN];
		inet_ntop(AF_INET6, &d->my_ip6, ip, sizeof(ip));
		log_info("%s up: node %u, address %s, %s", d->cfg.tun, d->node_id,
			 addr_format(&a, ab), ip);
	}
	/* The stub listens on our overlay address: now it exists.  A stub
	 * that cannot start leaves the overlay up (status and health say why). */
	pilotd_dns_start(d);
	notify_ready(d);
	return 0;
}

int pilotd_registered(struct pilotd *d, uint32_t node_id, const struct pilot_prefix *px)
{
	struct store_txn t;
	uint8_t buf[4];
	int rc;

	if (d->have_prefix && memcmp(d->prefix.b, px->b, 6) != 0) {
		char a[64], b[64];
		log_errorx("the registry's deployment prefix %s differs from this node's %s: "
			   "refusing to move to another deployment (clear %s to re-enrol)",
			   prefix_format(px, a, sizeof(a)), prefix_format(&d->prefix, b, sizeof(b)),
			   d->cfg.state_dir);
		return -EEXIST;
	}
	if (d->tun_up && d->node_id != node_id) {
		log_errorx("registry changed this node's ID from %u to %u", d->node_id, node_id);
		return -EEXIST;
	}
	store_be32(buf, node_id);
	store_txn_begin(d->st, &t, 0);
	store_put(&t, d->db_meta, "node_id", 7, buf, 4);
	store_put(&t, d->db_meta, "prefix", 6, px->b, 6);
	if ((rc = store_txn_commit(&t)) < 0) {
		log_warnx("saving registration: %s", strerror(-rc));
		return rc;
	}
	d->node_id = node_id;
	d->prefix = *px;
	d->have_prefix = 1;
	log_info("registered with %s as node %u", regc_addr(&d->regc), node_id);
	pilotd_audit_event(d, "node.registered", 0, "{\"node_id\":%u}", node_id);
	return pilotd_tun_setup(d);
}

/* ---- admission callbacks ---- */

static int op_is_trusted(void *ctx, uint32_t node)
{
	struct pilotd *d = ctx;
	return trust_find(&d->trust, node) != NULL;
}

static int op_shares_network(void *ctx, uint32_t node, uint16_t net)
{
	struct pilotd *d = ctx;
	return member_net_find(&d->members, net) && member_find(&d->members, net, node);
}

static int op_shares_any(void *ctx, uint32_t node)
{
	struct pilotd *d = ctx;
	return member_shared(&d->members, node) != 0;
}

static int op_is_blocked(void *ctx, uint32_t node)
{
	return pilotd_is_blocked(ctx, node);
}

static int op_is_revoked(void *ctx, uint32_t node)
{
	return pilotd_is_revoked(ctx, node);
}

static int op_is_expired(void *ctx, uint32_t node)
{
	struct pilotd *d = ctx;

	return expiry_passed(&d->expiry, node, now_real_ms() / 1000);
}

static int op_policy_allows(void *ctx, uint32_t node, uint16_t net, int inbound, uint8_t proto,
			    uint16_t port)
{
	return pilotd_policy_allows(ctx, node, net, inbound, proto, port);
}

static const struct admit_ops admit_ops = {
    .is_blocked = op_is_blocked,
    .is_revoked = op_is_revoked,
    .is_expired = op_is_expired,
    .is_trusted = op_is_trusted,
    .shares_network = op_shares_network,
    .shares_any = op_shares_any,
    .policy_allows = op_policy_allows,
};

/* ---- the data path's and the registry client's ops ---- */

static void op_tunnel_established(struct pilotd *d, uint32_t node, const char *role)
{
	char q[32];

	json_quote(q, sizeof(q), role);
	pilotd_audit_event(d, "tunnel.established", node, "{\"role\":%s}", q);
}

static const struct dp_ops dp_ops = {
    .peer_for = pilotd_peer_for,
    .resolve_peer = pilotd_resolve_peer,
    .node_by_pk = pilotd_node_by_pk,
    .inbound_open = pilotd_inbound_open,
    .flow_denied = pilotd_flow_denied,
    .tunnel_established = op_tunnel_established,
    .bcn_ready = pilotd_bcn_ready,
    .bcn_punch_req = pilotd_bcn_punch_req,
    .bcn_wrap = pilotd_bcn_wrap,
    .bcn_input = pilotd_bcn_input,
    .hs_ts_reserve = pilotd_hs_ts_reserve,
};

static const struct regc_hooks regc_hooks = {
    .registered = pilotd_registered,
    .configure_beacon = pilotd_bcn_configure,
    .after_register = pilotd_after_register,
    .sync_trust = pilotd_sync_trust,
    .event = pilotd_registry_event,
};

/* ---- registry events ---- */

/* Each event goes to the module whose state it changes. */
void pilotd_registry_event(struct pilotd *d, yajl_val ev)
{
	const char *name = NULL;

	if (json_get_str(ev, "event", &name) < 0)
		return;
	/* Whatever the event, a name answer may have changed with it. */
	pilotd_finds_flush(d);
	if (strncmp(name, "trust.", 6) == 0 || strncmp(name, "handshake.", 10) == 0 ||
	    strcmp(name, "peer.restarted") == 0) {
		pilotd_trust_event(d, name, ev);
	} else if (strcmp(name, "peer.updated") == 0) {
		log_debug("registry: a peer's hostname or visibility changed");
	} else if (strncmp(name, "network.", 8) == 0 || strcmp(name, "peer.key_rotated") == 0) {
		pilotd_net_event(d, name, ev);
	} else if (strcmp(name, "node.revoked") == 0 || strcmp(name, "policy.changed") == 0 ||
		   strcmp(name, "node.expiry") == 0 || strcmp(name, "synced") == 0) {
		pilotd_policy_event(d, name, ev);
	} else {
		log_debug("registry event %s", name);
	}
}

/* ---- events ---- */

/* The daemon's tick: the beacon binding (it reads the relayed-peer count
 * the last data-path tick left), the data path's timers, the audit
 * batch, and retention hourly (once soon after start). */
static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pilotd *d = arg;

	(void)fd;
	(void)what;
	pilotd_bcn_tick(d, now_mono_ms());
	dp_tick(d);
	pilotd_cert_tick(d);
	if (pilotd_tokens_tick(d))
		pilotd_creds_renew(d, "oidc");
	pilotd_bcast_audit(d, now_mono_ms());
	pilotd_bcast_tick(d);
	pilotd_audit_flush(d);
	if (!d->last_prune_ms || now_mono_ms() - d->last_prune_ms >= 3600000) {
		if (d->last_prune_ms || now_mono_ms() - d->started_ms >= 10000) {
			d->last_prune_ms = now_mono_ms();
			pilotd_audit_prune(d);
		}
	}
}

static void watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	/* The loop turning is what we vouch for. */
	sd_notify_send("WATCHDOG=1");
}

static int lists_eq(char **a, char **b)
{
	for (; a && b && *a && *b; a++, b++)
		if (strcmp(*a, *b) != 0)
			return 0;
	return (!a || !*a) && (!b || !*b);
}

int pilotd_reload(struct pilotd *d)
{
	struct pilotd_cfg nc, *oc = &d->cfg;
	struct pilotd_certs ncerts;
	enum log_level lvl;
	enum log_format fmt;
	const char *fixed = NULL;
	char err[512];
	int rc;

	memset(&nc, 0, sizeof(nc));
	rc = conf_load(pilotd_schema, &nc, SYSCONFDIR "/pilot/pilotd.json", d->argc, d->argv, err,
		       sizeof(err));
	if (rc == 0 && log_level_parse(nc.log_level, &lvl) < 0) {
		snprintf(err, sizeof(err), "log_level '%s': expected debug, info, warn or error",
			 nc.log_level);
		rc = -EINVAL;
	}
	if (rc == 0 && log_format_parse(nc.log_format, &fmt) < 0) {
		snprintf(err, sizeof(err), "log_format '%s': expected text or json", nc.log_format);
		rc = -EINVAL;
	}
	if (rc == 0)
		rc = pilotd_check_networks_cfg(nc.networks, err, sizeof(err));
	if (rc == 0)
		rc = pilotd_spiffe_check_cfg(&nc, err, sizeof(err));
	if (rc == 0)
		rc = pilotd_dns_check_cfg(&nc, err, sizeof(err));
	if (rc == 0)
		rc = pilotd_certs_read(nc.certificates, &ncerts, err, sizeof(err));
	/* What the running daemon is built around needs a restart. */
	if (rc == 0) {
		if (!str_eq_null(nc.state_dir, oc->state_dir))
			fixed = "state_dir";
		else if (!strlist_eq(nc.registry, oc->registry))
			fixed = "registry";
		else if (!str_eq_null(nc.registry_pin, oc->registry_pin))
			fixed = "registry_pin";
		else if (!str_eq_null(nc.registry_ca, oc->registry_ca))
			fixed = "registry_ca";
		else if (!str_eq_null(nc.beacon, oc->beacon))
			fixed = "beacon";
		else if (!str_eq_null(nc.tun, oc->tun))
			fixed = "tun";
		else if (!str_eq_null(nc.socket, oc->socket))
			fixed = "socket";
		else if (nc.resolve_socket && !str_eq_null(nc.resolve_socket, oc->resolve_socket))
			fixed = "resolve_socket";
		else if (!str_eq_null(nc.identity, oc->identity))
			fixed = "identity";
		else if (!str_eq_null(nc.metrics_listen, oc->metrics_listen) ||
			 nc.metrics_allow_remote != oc->metrics_allow_remote)
			fixed = "metrics_listen";
		else if (nc.dns != oc->dns || nc.dns_resolved != oc->dns_resolved ||
			 !str_eq_null(nc.dns_listen, oc->dns_listen))
			fixed = "dns";
		else if (nc.listen_port != oc->listen_port)
			fixed = "listen_port";
		else if (nc.mtu != oc->mtu)
			fixed = "mtu";
		else if (nc.offload != oc->offload)
			fixed = "offload";
		else if (nc.max_flows != oc->max_flows)
			fixed = "max_flows";
		else if (nc.broadcast_table != oc->broadcast_table)
			fixed = "broadcast_table"; /* the rule and routes name it */
		if (fixed) {
			snprintf(err, sizeof(err), "'%s' changed, which needs a restart", fixed);
			rc = -EINVAL;
		}
	}
	if (rc < 0) {
		d->reload_failures++;
		log_errorx("reload refused, the running configuration stays in force: %s", err);
		{
			char q[600];
			if (json_quote(q, sizeof(q), err) < 0)
				snprintf(q, sizeof(q), "\"\"");
			pilotd_audit_event(d, "config.reload_refused", 0, "{\"error\":%s}", q);
		}
		conf_free(pilotd_schema, &nc);
		return rc;
	}
	/* Apply, whole. */
	{
		int settings = !str_eq_null(nc.hostname, oc->hostname) || nc.public_ != oc->public_;
		int nets = !lists_eq(nc.networks, oc->networks);
		int spiffe = nc.spiffe_auto != oc->spiffe_auto ||
			     !str_eq_null(nc.spiffe_endpoint_socket, oc->spiffe_endpoint_socket) ||
			     !str_eq_null(nc.spiffe_audience, oc->spiffe_audience);
		char *rs = oc->resolve_socket;
		oc->resolve_socket = NULL;
		if (!nc.resolve_socket)
			nc.resolve_socket = rs;
		else
			free(rs);
		conf_free(pilotd_schema, oc);
		*oc = nc;
		log_init("pilotd", lvl, fmt);
		d->admit.syn_rate = oc->syn_rate;
		d->admit.syn_rate_per_peer = oc->syn_rate_per_peer;
		d->admit.max_flows_per_port = oc->max_flows_per_port;
		d->bcast_rate = oc->broadcast_rate;
		d->bcast_burst = oc->broadcast_burst;
		d->rekey_ms = (uint64_t)oc->rekey_interval * 1000;
		d->reject_ms = d->rekey_ms + 60000;
		if (settings)
			if ((rc = nodeset_init(&d->blocked, d->st, "blocked")) < 0 ||
			    (rc = nodeset_init(&d->revoked, d->st, "revoked")) < 0) {
				log_warnx("loading the block list: %s", strerror(-rc));
				return rc;
			}
		pilotd_settings_load(d);
		d->certs = ncerts;
		pilotd_certs_renew(d);
		if (spiffe) {
			pilotd_spiffe_stop(d);
			pilotd_spiffe_start(d); /* checked above: fails only without memory */
		}
		if ((settings || nets) && d->regc.registered)
			regc_reregister(&d->regc);
	}
	d->reloads++;
	pilotd_audit_event(d, "config.reloaded", 0, NULL);
	log_info("configuration reloaded%s%s", conf_loaded_path(oc)[0] ? " from " : "",
		 conf_loaded_path(oc));
	return 0;
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct pilotd *d = arg;

	(void)what;
	if (sig == SIGHUP) {
		pilotd_reload(d);
		return;
	}
	log_info("signal %d: shutting down", (int)sig);
	sd_notify_send("STOPPING=1");
	event_base_loopexit(d->base, NULL);
}

/* The group that may use the control socket besides root.  No fallback
 * to root's group or a wider mode when it is missing: pilotd does not
 * start, rather than come up with a socket its operators cannot use or
 * that others can. */
static int control_group(struct pilotd *d)
{
	struct group *gr;
	int err;

	errno = 0;
	gr = getgrnam(PILOTD_GROUP);
	err = errno;
	if (!gr && err) {
		log_warn("looking up group '%s'", PILOTD_GROUP);
		return -err;
	}
	if (!gr) {
		log_warnx("group '%s' does not exist: it owns the control socket (mode 0660); "
			  "create it with systemd-sysusers (sysusers.d/pilot.conf) or "
			  "'groupadd -r %s'",
			  PILOTD_GROUP, PILOTD_GROUP);
		return -ENOENT;
	}
	d->ctl_group = gr->gr_gid;
	return 0;
}

int pilotd_init(struct pilotd *d, struct event_base *base)
{
	int rc;

	d->udp_fd = -1; /* pilotd_free after a failure closes nothing */
	if ((rc = control_group(d)) < 0)
		return rc;
	return pilotd_open(d, base);
}

int pilotd_open(struct pilotd *d, struct event_base *base)
{
	static const int sigs[3] = {SIGINT, SIGTERM, SIGHUP};
	struct timeval tick = {0, 100000};
	int rc;

	d->base = base;
	d->udp_fd = -1;
	d->netcheck.fd = -1;
	d->started_ms = now_mono_ms();
	d->rekey_ms = (uint64_t)d->cfg.rekey_interval * 1000;
	d->reject_ms = d->rekey_ms + 60000;
	if (tnl_global_init() < 0)
		return -EIO;
	/* The map is address space, not disk: room for a long audit log. */
	d->st = store_open(d->cfg.state_dir, pilotd_dbs, 4ull << 30);
	if (!d->st)
		return -EIO;
	d->db_meta = store_dbi(d->st, "meta");
	if ((rc = pilotd_identity_load(d)) < 0)
		return rc;
	pilotd_meta_load(d);
	if ((rc = trust_init(&d->trust, d->st)) < 0) {
		log_warnx("loading trust: %s", strerror(-rc));
		return rc;
	}
	if ((rc = member_init(&d->members, d->st)) < 0) {
		log_warnx("loading network memberships: %s", strerror(-rc));
		return rc;
	}
	if ((rc = nodeset_init(&d->blocked, d->st, "blocked")) < 0 ||
	    (rc = nodeset_init(&d->revoked, d->st, "revoked")) < 0) {
		log_warnx("loading the block list: %s", strerror(-rc));
		return rc;
	}
	pilotd_settings_load(d);
	if ((rc = peer_table_init(&d->peers)) < 0 ||
	    (rc = flow_table_init(&d->flows, d->cfg.max_flows)) < 0 ||
	    (rc = admit_init(&d->admit, &admit_ops, d)) < 0)
		return rc;
	d->admit.syn_rate = d->cfg.syn_rate;
	d->admit.syn_rate_per_peer = d->cfg.syn_rate_per_peer;
	d->admit.max_flows_per_port = d->cfg.max_flows_per_port;
	d->admit.max_flows = d->cfg.max_flows;
	d->bcast_rate = d->cfg.broadcast_rate;
	d->bcast_burst = d->cfg.broadcast_burst;
	{
		char err[128];
		/* A diagnostic switch, for a kernel or NIC that mishandles one
		 * offload (pilotd(8) ENVIRONMENT). */
		if ((rc = pilotd_offload_parse(d->cfg.offload, getenv("PILOT_OFFLOAD_DISABLE"),
					       &d->offload, err, sizeof(err))) < 0) {
			log_warnx("%s", err);
			return rc;
		}
	}
	if ((rc = dp_init(d, &dp_ops)) < 0)
		return rc;
	d->ev_udp = event_new(base, d->udp_fd, EV_READ | EV_PERSIST, dp_udp_readable, d);
	d->ev_tick = event_new(base, -1, EV_PERSIST, tick_cb, d);
	if (!d->ev_udp || !d->ev_tick || event_add(d->ev_udp, NULL) < 0 ||
	    event_add(d->ev_tick, &tick) < 0)
		return -ENOMEM;
	for (int i = 0; i < 3; i++) {
		d->ev_sig[i] = evsignal_new(base, sigs[i], signal_cb, d);
		if (!d->ev_sig[i] || event_add(d->ev_sig[i], NULL) < 0)
			return -ENOMEM;
	}
	{
		uint64_t wd = sd_watchdog_usec();
		if (wd) {
			struct timeval tv = {(time_t)(wd / 2000000),
					     (suseconds_t)(wd / 2 % 1000000)};
			d->ev_watchdog = event_new(base, -1, EV_PERSIST, watchdog_cb, d);
			if (!d->ev_watchdog || event_add(d->ev_watchdog, &tv) < 0)
				return -ENOMEM;
		}
	}
	if (d->cfg.metrics_listen) {
		d->metrics = metrics_listen(base, d->cfg.metrics_listen,
					    d->cfg.metrics_allow_remote, pilotd_metrics_fill, d);
		if (!d->metrics)
			return -EADDRNOTAVAIL;
	}
	d->http = httpc_new(base);
	if (!d->http)
		return -ENOMEM;
	if ((rc = pilotd_audit_init(d)) < 0)
		return rc;
	if ((rc = regc_init(&d->regc, d, &regc_hooks)) < 0)
		return rc;
	/* Before the registry: the SVID is there for the configured networks. */
	if ((rc = pilotd_spiffe_start(d)) < 0)
		return rc;
	d->ipc = ipc_listen(d->base, d, d->cfg.socket, pilotd_ipc_cmds, d->ctl_group, PILOTD_GROUP);
	if (!d->ipc)
		return -EADDRINUSE;
	if (!d->cfg.resolve_socket) {
		/* Beside the control socket: /run/pilot/resolve.sock by default,
		 * and private to each daemon when several run on one host. */
		const char *slash = strrchr(d->cfg.socket, '/');
		size_t dl = slash ? (size_t)(slash - d->cfg.socket) : 1;
		if (asprintf(&d->cfg.resolve_socket, "%.*s/resolve.sock", (int)dl,
			     slash ? d->cfg.socket : ".") < 0)
			return -ENOMEM;
	}
	if (d->cfg.resolve_socket[0]) {
		d->ipc_resolve =
		    ipc_listen_public(d->base, d, d->cfg.resolve_socket, pilotd_resolve_cmds);
		if (!d->ipc_resolve)
			return -EADDRINUSE;
	}
	/* A node that registered before comes up at once with its stored
	 * address; the registry is told in the background. */
	if (d->node_id && d->have_prefix && (rc = pilotd_tun_setup(d)) < 0)
		return rc;
	regc_start(&d->regc);
	return 0;
}

void pilotd_free(struct pilotd *d)
{
	metrics_close(d->metrics);
	pilotd_netcheck_stop(d); /* its answer goes out before the sockets close */
	if (d->ev_watchdog)
		event_free(d->ev_watchdog);
	ipc_close(d->ipc);
	ipc_close(d->ipc_resolve);
	pilotd_dns_stop(d);
	pilotd_finds_free(d);
	regc_free(&d->regc);
	pilotd_audit_free(d);
	pilotd_spiffe_stop(d); /* its request belongs to d->http */
	if (d->http)
		httpc_free(d->http);
	if (d->ev_tun)
		event_free(d->ev_tun);
	if (d->ev_udp)
		event_free(d->ev_udp);
	if (d->ev_tick)
		event_free(d->ev_tick);
	for (int i = 0; i < 3; i++)
		if (d->ev_sig[i])
			event_free(d->ev_sig[i]);
	dp_free(d);
	peer_table_free(&d->peers);
	flow_table_free(&d->flows);
	admit_free(&d->admit);
	trust_free(&d->trust);
	member_free(&d->members);
	pilotd_tokens_free(d);
	expiry_free(&d->expiry);
	nodeset_free(&d->blocked);
	nodeset_free(&d->revoked);
	if (d->tun_up) /* the rest went with the device */
		nl_rule6(d->nl, 0, d->cfg.tun, d->cfg.broadcast_table, d->cfg.broadcast_table);
	tun_close(&d->tun);
	nl_close(d->nl);
	tnl_identity_wipe(&d->id);
	if (d->ed_sk)
		sodium_free(d->ed_sk);
	if (d->ed_sk_next)
		sodium_free(d->ed_sk_next);
	store_close(d->st);
	conf_free(pilotd_schema, &d->cfg);
}
