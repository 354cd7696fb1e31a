#!/usr/bin/env bash
# contrib/bench/nat_bench.sh - throughput and latency of the Pilot overlay
# between two nodes behind NATs: the punched path against the path relayed
# through the beacon (a benchmark: it asserts nothing).
#
#   sudo contrib/bench/nat_bench.sh
#
# Topology (tests/e2e/lib.sh NAT routers): rendezvous 198.18.0.1 (registry
# 9000/tcp, beacon 9001/udp) on the bridge; natA 198.18.0.11 with a
# (198.18.1.2) behind it, natB 198.18.0.12 with b (198.18.2.2) behind it; both
# routers masquerade (endpoint-independent mapping).
#   punched: trust a <-> b, wait for path "punched", then iperf3 TCP 1 stream
#            a -> b for T s over the overlay IPv6 and ping -6 -c NPING -i 0.2
#   relayed: natA drops UDP to/from natB, both pilotd restart (a fresh path
#            has to go through the beacon), wait for path "relayed", the same
# Environment: T (seconds of iperf3, default 10), NPING (default 20), OUT_DIR,
# PILOT_BINDIR (default ./build).
# Every load is bounded (iperf3 -t under timeout); namespaces have no route
# out of 198.18.0.0/15; only this run's namespaces and processes are touched
# (the EXIT trap of lib.sh removes them).
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
T=${T:-10}
NPING=${NPING:-20}
OUT_DIR=${OUT_DIR:-$(mktemp -d /tmp/pilot-natbench-out.XXXXXX)}
case "${1:-}" in
"") ;;
-h | --help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
*) echo "usage: $0" >&2; exit 2 ;;
esac
[ "$(id -u)" = 0 ] || { echo "bench: run as root" >&2; exit 1; }
mkdir -p "$OUT_DIR"

export E2E_PREFIX=pbn$$- E2E_TIMEOUT=$((2 * (T + 60) + 300))
export PILOT_BINDIR=${PILOT_BINDIR:-$ROOT/build}
# shellcheck source=tests/e2e/lib.sh
. "$ROOT/tests/e2e/lib.sh"
blog() { echo "[bench] $*" >&2; }
BEACON=$RDV_IP:9001
# The relay's own speed, not the default per-node budget (100 Mbit/s):
# RELAY_MBIT=100 measures what a node gets by default.
RDV_EXTRA_ARGS="--beacon-listen $BEACON --relay-rate-mbit ${RELAY_MBIT:-100000} ${RDV_EXTRA_ARGS:-}"
PILOTD_EXTRA_ARGS="--beacon $BEACON ${PILOTD_EXTRA_ARGS:-}"

iperf_gbps() { # FILE -> Gbit/s received (NA when the run failed)
	"$PY" - "$1" <<'EOF'
import json, sys
try:
    print("%.3f" % (json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"] / 1e9))
except Exception:
    print("NA")
EOF
}
ping_avg() { sed -n 's#^rtt min/avg/max/mdev = [0-9.]*/\([0-9.]*\)/.*#\1#p'; }
path_of() { e2e_peer a "${NODE_ID[b]}" path 2>/dev/null || echo none; }
# wait_path PATH SECONDS: keep traffic going (pings) until a shows PATH for b
path_is_or_ping() {
	[ "$(path_of)" = "$1" ] && return 0
	ip netns exec "${HOST_NS[a]}" ping -6 -c 1 -W 1 -q "${NODE_IP6[b]}" >/dev/null 2>&1
	return 1
}
wait_path() { e2e_wait "$2" path_is_or_ping "$1"; }

# measure LABEL: iperf3 TCP 1 stream a -> b and ping over the overlay; one row
measure() {
	local label=$1 dst=${NODE_IP6[b]} srv f g out rtt shown
	shown="$(path_of) $(e2e_peer a "${NODE_ID[b]}" endpoint 2>/dev/null)"
	e2e_bg "${HOST_NS[b]}" "$OUT_DIR/iperf3-server-$label.log" iperf3 -s -B "$dst" -p 5201
	srv=$LASTPID
	f=$OUT_DIR/$label-tcp1.json
	if e2e_wait 10 e2e_tcp_open "${HOST_NS[a]}" "$dst" 5201; then
		ip netns exec "${HOST_NS[a]}" timeout 30 iperf3 -c "$dst" -p 5201 -t 2 -J >/dev/null 2>&1 # warm-up
		ip netns exec "${HOST_NS[a]}" timeout $((T + 30)) iperf3 -c "$dst" -p 5201 -t "$T" -P 1 -J \
			>"$f" 2>"$f.err"
	else
		blog "$label: iperf3 server not reachable over the overlay"
	fi
	g=$(iperf_gbps "$f")
	e2e_stop_pids "$srv"
	out=$(ip netns exec "${HOST_NS[a]}" timeout $((NPING + 15)) ping -6 -q -c "$NPING" -i 0.2 -W 2 "$dst" 2>&1)
	rtt=$(echo "$out" | ping_avg)
	blog "$label (pilotd: $shown): TCP 1 stream ${g} Gbit/s, ping avg ${rtt:-NA} ms"
	printf '%s\t%s\t%s\t%s\n' "$label" "$shown" "$g" "${rtt:-NA}" >>"$OUT_DIR/results.tsv"
}

e2e_init
e2e_require iperf3 ping nft conntrack
printf 'path\tpilotd_path_endpoint\ttcp1_gbps\tping_avg_ms\n' >"$OUT_DIR/results.tsv"
blog "host: $(nproc) cpus, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), kernel $(uname -r)"
blog "T=$T NPING=$NPING; results in $OUT_DIR"

e2e_underlay
e2e_host rdv 1
e2e_nat_router natA 11 198.18.1 eim
e2e_nat_router natB 12 198.18.2 eim
e2e_nat_host a natA
e2e_nat_host b natB
e2e_underlay_ping a "$RDV_IP" && e2e_underlay_ping b "$RDV_IP" || { blog "underlay does not work"; exit 1; }

fatal() { blog "pilot: $*"; return 1; }   # a benchmark goes on with what works
if e2e_start_rdv && e2e_start_node a alice && e2e_start_node b bob && e2e_establish_trust a b &&
	e2e_wait 20 ip netns exec "${HOST_NS[a]}" ping -6 -c 1 -W 1 -q "${NODE_IP6[b]}" >/dev/null 2>&1; then
	wait_path punched 20 || blog "punched: a shows path $(path_of) for b after 20 s; measuring anyway"
	measure punched

	e2e_nat_block natA "${HOST_IP[natB]}" || blog "relayed: nft block in natA failed"
	e2e_stop_node a
	e2e_stop_node b
	e2e_nat_flush natA
	e2e_nat_flush natB
	if e2e_start_node a alice && e2e_start_node b bob; then
		wait_path relayed 30 || blog "relayed: a shows path $(path_of) for b after 30 s; measuring anyway"
		measure relayed
	else
		blog "relayed: pilotd did not come back"
		printf 'relayed\tFAILED\tNA\tNA\n' >>"$OUT_DIR/results.tsv"
	fi
else
	blog "pilot: setup failed (nodes, trust or reachability); logs:"
	e2e_dump_logs >&2
	printf 'punched\tFAILED\tNA\tNA\n' >>"$OUT_DIR/results.tsv"
fi

echo
echo "Pilot behind NATs ($(nproc) CPUs, iperf3 TCP 1 stream ${T}s a -> b, ping -6 -c $NPING -i 0.2)"
echo "| path | pilotd path / endpoint | TCP Gbit/s | RTT avg ms |"
echo "|---|---|---|---|"
tail -n +2 "$OUT_DIR/results.tsv" | awk -F'\t' '{printf "| %s | %s | %s | %s |\n", $1, $2, $3, $4}' |
	tee "$OUT_DIR/table.md"
blog "per-run data: $OUT_DIR/results.tsv; table: $OUT_DIR/table.md"
exit 0
