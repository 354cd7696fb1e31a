/* pilotd_metrics.c - pilotd's Prometheus page: peers by path, flows,
 * admissions and denials by reason, bytes and packets, handshakes, rekeys,
 * drops, registry link, reloads. */
#include "config.h"

#include <event2/buffer.h>
#include <stdio.h>

#include "ipc.h"
#include "metrics.h"
#include "pilotd.h"
#include "util.h"

struct path_count {
	uint64_t n[4];
	uint64_t rx, tx;
};

static void count_peer(void *arg, struct peer *p)
{
	struct path_count *c = arg;
	c->n[p->cur ? p->path : PATH_NONE]++;
	c->rx += p->rx_bytes;
	c->tx += p->tx_bytes;
}

/* The control and name service sockets: open and refused connections
 * (ipc.c's caps and peer check), and where name lookups were answered. */
static void metrics_local_sockets(struct pilotd *d, struct evbuffer *out)
{
	static const struct ipc_stats none;
	const struct {
		const char *name;
		const struct ipc_server *s;
	} socks[] = {{"control", d->ipc}, {"resolve", d->ipc_resolve}};
	char lab[96];

	metrics_family(out, "pilot_local_connections", "gauge",
		       "Open connections to a local socket (control: pilotctl; resolve: NSS).");
	for (size_t i = 0; i < nitems(socks); i++) {
		snprintf(lab, sizeof(lab), "socket=\"%s\"", socks[i].name);
		metrics_sample(out, "pilot_local_connections", lab, ipc_open_conns(socks[i].s));
	}
	metrics_family(out, "pilot_local_connections_refused_total", "counter",
		       "Connections to a local socket refused: over the cap (connections, "
		       "uid_connections) or not allowed (credentials: control socket).");
	for (size_t i = 0; i < nitems(socks); i++) {
		const struct ipc_stats *st = socks[i].s ? ipc_stats(socks[i].s) : &none;
		const struct {
			const char *reason;
			uint64_t v;
		} r[] = {{"connections", st->refused_full},
			 {"uid_connections", st->refused_uid},
			 {"credentials", st->refused_peer}};
		for (size_t k = 0; k < nitems(r); k++) {
			if (k == 2 && i == 1)
				continue; /* anyone may use the name service socket */
			snprintf(lab, sizeof(lab), "socket=\"%s\",reason=\"%s\"", socks[i].name,
				 r[k].reason);
			metrics_sample(out, "pilot_local_connections_refused_total", lab, r[k].v);
		}
	}
	metrics_family(out, "pilot_resolve_lookups_total", "counter",
		       "Name service lookups not refused as malformed, by where they were "
		       "answered (rate_limited: over the registry budget).");
	metrics_sample(out, "pilot_resolve_lookups_total", "outcome=\"cached\"",
		       d->ctr.resolve_cached);
	metrics_sample(out, "pilot_resolve_lookups_total", "outcome=\"registry\"",
		       d->ctr.resolve_registry);
	metrics_sample(out, "pilot_resolve_lookups_total", "outcome=\"rate_limited\"",
		       d->ctr.resolve_rate_limited);
}

void pilotd_metrics_fill(void *arg, struct evbuffer *out)
{
	struct pilotd *d = arg;
	struct path_count pc = {{0}, 0, 0};
	char lab[64];

	peer_foreach(&d->peers, count_peer, &pc);
	metrics_family(out, "pilot_peers", "gauge", "Peers by tunnel path (none: no session).");
	for (int i = 0; i < 4; i++) {
		snprintf(lab, sizeof(lab), "path=\"%s\"", peer_path_name((enum peer_path)i));
		metrics_sample(out, "pilot_peers", lab, pc.n[i]);
	}
	metrics_gauge(out, "pilot_trusted_peers", "Nodes in a trust pair with this node.",
		      d->trust.count);
	metrics_gauge(out, "pilot_networks", "Non-backbone networks this node belongs to.",
		      d->members.nnets);
	metrics_gauge(out, "pilot_flows", "Live flows in the flow table.", d->flows.count);
	metrics_counter(out, "pilot_flows_admitted_total", "Flows admitted on their first packet.",
			d->ctr.flows_admitted);
	metrics_family(out, "pilot_flows_denied_total", "counter",
		       "Flows denied on their first packet, by the stage that decided.");
	for (int r = 1; r < ADMIT_REASON_MAX; r++) {
		snprintf(lab, sizeof(lab), "reason=\"%s\"",
			 admit_reason_name((enum admit_reason)r));
		metrics_sample(out, "pilot_flows_denied_total", lab, d->admit.denied[r]);
	}
	metrics_counter(out, "pilot_flows_cut_total",
			"Live flows cut because their basis went away.", d->ctr.flows_cut);
	metrics_family(out, "pilot_packets_total", "counter", "Packets by device and direction.");
	metrics_sample(out, "pilot_packets_total", "dev=\"tun\",dir=\"rx\"", d->ctr.tun_rx_packets);
	metrics_sample(out, "pilot_packets_total", "dev=\"tun\",dir=\"tx\"", d->ctr.tun_tx_packets);
	metrics_sample(out, "pilot_packets_total", "dev=\"udp\",dir=\"rx\"", d->ctr.udp_rx_packets);
	metrics_sample(out, "pilot_packets_total", "dev=\"udp\",dir=\"tx\"", d->ctr.udp_tx_packets);
	metrics_family(out, "pilot_tunnel_bytes_total", "counter",
		       "Plaintext bytes through tunnels, by direction.");
	metrics_sample(out, "pilot_tunnel_bytes_total", "dir=\"rx\"", pc.rx);
	metrics_sample(out, "pilot_tunnel_bytes_total", "dir=\"tx\"", pc.tx);
	metrics_family(out, "pilot_rx_dropped_total", "counter",
		       "Tunnel records dropped, by reason.");
	metrics_sample(out, "pilot_rx_dropped_total", "reason=\"auth\"", d->ctr.rx_dropped_auth);
	metrics_sample(out, "pilot_rx_dropped_total", "reason=\"replay\"",
		       d->ctr.rx_dropped_replay);
	metrics_sample(out, "pilot_rx_dropped_total", "reason=\"spoof\"", d->ctr.rx_dropped_spoof);
	metrics_sample(out, "pilot_rx_dropped_total", "reason=\"malformed\"",
		       d->ctr.rx_dropped_malformed);
	metrics_sample(out, "pilot_rx_dropped_total", "reason=\"unknown_index\"",
		       d->ctr.rx_dropped_unknown_index);
	metrics_family(out, "pilot_handshakes_total", "counter", "Handshake messages, by kind.");
	metrics_sample(out, "pilot_handshakes_total", "kind=\"init_sent\"",
		       d->ctr.handshake_init_sent);
	metrics_sample(out, "pilot_handshakes_total", "kind=\"init_received\"",
		       d->ctr.handshake_init_rx);
	metrics_sample(out, "pilot_handshakes_total", "kind=\"completed\"",
		       d->ctr.handshake_completed);
	metrics_sample(out, "pilot_handshakes_total", "kind=\"rejected\"",
		       d->ctr.handshake_rejected_mac + d->ctr.handshake_rejected_peer +
			   d->ctr.handshake_rejected_replay);
	metrics_sample(out, "pilot_handshakes_total", "kind=\"rate_limited\"",
		       d->ctr.handshake_rate_limited);
	metrics_counter(out, "pilot_rekeys_total", "Sessions replaced by a rekey.", d->ctr.rekeys);
	metrics_counter(out, "pilot_relay_packets_total",
			"Packets sent through the beacon's relay.", d->ctr.relay_tx_packets);
	metrics_counter(out, "pilot_relay_received_packets_total",
			"Packets received through the beacon's relay.", d->ctr.relay_rx_packets);
	metrics_counter(
	    out, "pilot_beacon_dropped_total",
	    "Beacon-type frames dropped (not from the beacon, bad MAC, stale or replayed).",
	    d->ctr.rx_dropped_beacon);
	metrics_counter(out, "pilot_punch_requests_total", "Punch requests sent to the beacon.",
			d->ctr.punch_requests_sent);
	metrics_family(out, "pilot_broadcast_datagrams_total", "counter",
		       "Broadcast datagrams, by direction and outcome (out: sent is datagrams, "
		       "copies is members sealed for).");
	{
		const struct {
			const char *labels;
			uint64_t v;
		} bc[] = {
		    {"dir=\"out\",outcome=\"sent\"", d->ctr.bcast_tx},
		    {"dir=\"out\",outcome=\"copies\"", d->ctr.bcast_tx_copies},
		    {"dir=\"out\",outcome=\"denied\"", d->ctr.bcast_tx_denied},
		    {"dir=\"out\",outcome=\"rate_limited\"", d->ctr.bcast_tx_rate_limited},
		    {"dir=\"in\",outcome=\"delivered\"", d->ctr.bcast_rx},
		    {"dir=\"in\",outcome=\"denied\"", d->ctr.bcast_rx_denied},
		    {"dir=\"in\",outcome=\"rate_limited\"", d->ctr.bcast_rx_rate_limited},
		    {"dir=\"any\",outcome=\"dropped\"", d->ctr.bcast_dropped},
		};
		for (size_t i = 0; i < nitems(bc); i++)
			metrics_sample(out, "pilot_broadcast_datagrams_total", bc[i].labels,
				       bc[i].v);
	}
	metrics_counter(out, "pilot_path_changes_total",
			"Changes of a peer's path (direct, punched, relayed).",
			d->ctr.path_changes);
	metrics_counter(out, "pilot_rst_sent_total", "TCP resets written to local sockets.",
			d->ctr.rst_sent);
	metrics_counter(out, "pilot_icmp_prohibited_sent_total",
			"ICMPv6 administratively-prohibited written to local sockets.",
			d->ctr.icmp_prohibited_sent);
	metrics_family(out, "pilot_refusals_sent_total", "counter",
		       "Answers to a peer's refused first packet, sent through its tunnel.");
	metrics_sample(out, "pilot_refusals_sent_total", "kind=\"rst\"", d->ctr.refusals_rst_sent);
	metrics_sample(out, "pilot_refusals_sent_total", "kind=\"icmp_prohibited\"",
		       d->ctr.refusals_icmp_sent);
	metrics_counter(out, "pilot_refusals_rate_limited_total",
			"Refused first packets left unanswered: over the peer's answer budget.",
			d->ctr.refusals_rate_limited);
	metrics_local_sockets(d, out);
	metrics_gauge(out, "pilot_registry_connected",
		      "1 when the last registry request got an answer.",
		      (uint64_t)d->regc.connected);
	metrics_counter(out, "pilot_config_reloads_total", "Configuration reloads applied.",
			d->reloads);
	metrics_counter(out, "pilot_config_reload_failures_total", "Configuration reloads refused.",
			d->reload_failures);
	metrics_gauge(out, "pilot_uptime_seconds", "Seconds since pilotd started.",
		      (now_mono_ms() - d->started_ms) / 1000);
}
