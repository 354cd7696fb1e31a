#!/usr/bin/env bash
# contrib/bench/overlay_bench.sh - throughput, latency and CPU cost of the Pilot
# overlay against the raw underlay (a benchmark: it asserts nothing).
#
#   sudo contrib/bench/overlay_bench.sh            # raw veth vs Pilot
#   sudo contrib/bench/overlay_bench.sh --peers    # ... then the shared peer
#        benchmark (../shared/bench/peers.sh, PEERS="wireguard-go" by default)
#        in the same run, its figures printed beside ours
#
# Topology (tests/e2e/lib.sh): namespaces a (198.18.0.2) and b (198.18.0.3)
# joined by a direct veth pair (the A<->B underlay path, as in peers.sh), and a
# bridge that also holds the rendezvous (198.18.0.1) for the control plane.
#   raw  : iperf3 TCP 1 and 4 streams a -> b over the veth, ping RTT
#   pilot: rendezvous + two pilotd, trust established, the same over the
#          overlay IPv6 (pilot0), ping -6 RTT, and the CPU seconds (utime+stime
#          from /proc/PID/stat) of both pilotd per GB received
# Environment: T (seconds per iperf3 run, default 10), REPS (rounds, medians;
# default 1), NPING (default 50), BENCH_PEERS (default "wireguard-go"),
# PEERS_SH (default ../shared/bench/peers.sh from the repo root), OUT_DIR,
# PILOT_BINDIR (default ./build).
# Every load is bounded (iperf3 -t under timeout); namespaces have no default
# route; only this run's namespaces and processes are touched.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
T=${T:-10}
REPS=${REPS:-1}
NPING=${NPING:-50}
BENCH_PEERS=${BENCH_PEERS:-wireguard-go}
PEERS_SH=${PEERS_SH:-$ROOT/../shared/bench/peers.sh}
OUT_DIR=${OUT_DIR:-$(mktemp -d /tmp/pilot-bench-out.XXXXXX)}
RUN_PEERS=0
case "${1:-}" in
--peers) RUN_PEERS=1 ;;
"") ;;
-h | --help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
*) echo "usage: $0 [--peers]" >&2; exit 2 ;;
esac
[ "$(id -u)" = 0 ] || { echo "bench: run as root" >&2; exit 1; }
mkdir -p "$OUT_DIR"

export E2E_PREFIX=pbo$$- E2E_TIMEOUT=$((REPS * (8 * T + 120) + 300 + RUN_PEERS * 1800))
export PILOT_BINDIR=${PILOT_BINDIR:-$ROOT/build}
# shellcheck source=tests/e2e/lib.sh
. "$ROOT/tests/e2e/lib.sh"
blog() { echo "[bench] $*" >&2; }
HZ=$(getconf CLK_TCK)

pid_ticks() { # utime+stime (clock ticks) summed over the given PIDs
	local p s t=0
	for p in "$@"; do
		s=$(cat "/proc/$p/stat" 2>/dev/null) || continue
		s=${s##*) }
		set -- $s
		t=$((t + ${12} + ${13}))
	done
	echo "$t"
}
iperf_stats() { # FILE -> "gbps bytes mss" (NA when the run failed)
	"$PY" - "$1" <<'EOF'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
    r = d["end"]["sum_received"]
    print("%.6f %d %s" % (r["bits_per_second"] / 1e9, r["bytes"], d["start"].get("tcp_mss_default", "NA")))
except Exception:
    print("NA NA NA")
EOF
}
ping_rtt() { sed -n 's#^rtt min/avg/max/mdev = \([0-9.]*\)/\([0-9.]*\)/\([0-9.]*\)/.*#\1/\2/\3#p'; }

# measure MODE DST ROUND DAEMON_PIDS...: iperf3 server in b on DST, client in a
measure() {
	local mode=$1 dst=$2 round=$3; shift 3
	local pids="$*" srv p f g b m t0 t1 out rtt
	e2e_bg "${HOST_NS[b]}" "$OUT_DIR/iperf3-server-$mode.log" iperf3 -s -B "$dst" -p 5201
	srv=$LASTPID
	e2e_wait 5 e2e_tcp_open "${HOST_NS[a]}" "$dst" 5201 || { blog "$mode: iperf3 server did not start"; e2e_stop_pids "$srv"; return 1; }
	ip netns exec "${HOST_NS[a]}" timeout 30 iperf3 -c "$dst" -p 5201 -t 2 -J >/dev/null 2>&1  # warm-up
	for p in 1 4; do
		f=$OUT_DIR/$mode-r$round-tcp$p.json
		# shellcheck disable=SC2086
		t0=$(pid_ticks $pids)
		ip netns exec "${HOST_NS[a]}" timeout $((T + 30)) iperf3 -c "$dst" -p 5201 -t "$T" -P "$p" -J >"$f" 2>"$f.err"
		# shellcheck disable=SC2086
		t1=$(pid_ticks $pids)
		read -r g b m <<<"$(iperf_stats "$f")"
		printf '%s\t%s\ttcp%s\t%s\t%s\t%s\t%s\t\n' "$mode" "$round" "$p" "$g" "$b" \
			"$(awk -v a="$t0" -v b="$t1" -v hz="$HZ" 'BEGIN{printf "%.2f", (b - a) / hz}')" "$m" >>"$OUT_DIR/runs.tsv"
		blog "$mode r$round TCP -P$p: $g Gbit/s ($b bytes), daemon CPU $(( t1 - t0 )) ticks"
	done
	e2e_stop_pids "$srv"
	out=$(ip netns exec "${HOST_NS[a]}" timeout 30 ping -q -c "$NPING" -i 0.01 "$dst" 2>&1)
	rtt=$(echo "$out" | ping_rtt)
	printf '%s\t%s\tping\t\t\t\t\t%s\n' "$mode" "$round" "${rtt:-NA}" >>"$OUT_DIR/runs.tsv"
	blog "$mode r$round ping min/avg/max: ${rtt:-NA} ms"
}

e2e_init
e2e_require iperf3 ping
printf 'mode\tround\ttest\tgbps\tbytes\tdaemon_cpu_s\ttcp_mss\tping_min_avg_max_ms\n' >"$OUT_DIR/runs.tsv"
blog "host: $(nproc) cpus, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), kernel $(uname -r)"
blog "T=$T REPS=$REPS NPING=$NPING; results in $OUT_DIR"

e2e_underlay
e2e_host rdv 1
e2e_host a 2
e2e_host b 3
e2e_direct_link a b || { blog "direct veth failed"; exit 1; }
e2e_underlay_ping a "${HOST_IP[b]}" || { blog "underlay does not work"; exit 1; }

PILOT_OK=0 PILOT_MTU=NA
fatal() { blog "pilot: $*"; return 1; }   # a benchmark goes on with what works
if e2e_start_rdv && e2e_start_node a alice && e2e_start_node b bob && e2e_establish_trust a b &&
	e2e_wait 20 ip netns exec "${HOST_NS[a]}" ping -6 -c 1 -W 1 -q "${NODE_IP6[b]}" >/dev/null 2>&1; then
	PILOT_OK=1
	PILOT_MTU=$(ip -n "${HOST_NS[a]}" -o link show dev pilot0 | sed -n 's/.* mtu \([0-9]*\).*/\1/p')
else
	blog "pilot: setup failed (nodes, trust or reachability); logs:"
	e2e_dump_logs >&2
fi
for r in $(seq "$REPS"); do
	measure raw "${HOST_IP[b]}" "$r"
	[ "$PILOT_OK" = 1 ] && measure pilot "${NODE_IP6[b]}" "$r" "${NODE_PID[a]}" "${NODE_PID[b]}"
done

"$PY" - "$OUT_DIR" "$PILOT_OK" "$PILOT_MTU" >"$OUT_DIR/table.md" <<'EOF'
import csv, statistics as st, sys
out, pilot_ok, mtu = sys.argv[1], sys.argv[2] == "1", sys.argv[3]
runs = list(csv.DictReader(open(out + "/runs.tsv"), delimiter="\t"))
def num(x):
    try: return float(x)
    except (TypeError, ValueError): return None
def med(v):
    v = [x for x in v if x is not None]
    return st.median(v) if v else None
def f(x, n=2): return "NA" if x is None else ("%%.%df" % n) % x
res = open(out + "/results.tsv", "w")
res.write("mode\ttcp1_gbps\ttcp4_gbps\tping_min_ms\tping_avg_ms\tping_max_ms\tdaemon_cpu_s_per_GB_tcp1\tdaemon_cpu_s_per_GB_tcp4\ttcp_mss\tmtu\n")
print("| path | MTU | TCP MSS | TCP 1-stream Gbit/s | TCP 4-stream Gbit/s | ping min/avg/max ms | pilotd CPU-s/GB (1-stream) | pilotd CPU-s/GB (4-stream) |")
print("|---|---|---|---|---|---|---|---|")
for mode in ("raw", "pilot"):
    R = [r for r in runs if r["mode"] == mode]
    if mode == "pilot" and not pilot_ok:
        print("| pilot | FAILED | | | | | | |"); continue
    t = lambda name: [r for r in R if r["test"] == name]
    gb = lambda name: med([num(r["gbps"]) for r in t(name)])
    def cpg(name):
        return med([num(r["daemon_cpu_s"]) / (num(r["bytes"]) / 1e9) for r in t(name)
                    if num(r["daemon_cpu_s"]) is not None and num(r["bytes"])])
    pings = [r["ping_min_avg_max_ms"].split("/") for r in t("ping") if r["ping_min_avg_max_ms"].count("/") == 2]
    pm = [med([num(x[i]) for x in pings]) for i in range(3)] if pings else [None] * 3
    mss = next((r["tcp_mss"] for r in t("tcp1") if r["tcp_mss"] not in ("", "NA")), "NA")
    m = mtu if mode == "pilot" else "1500"
    c1, c4 = (cpg("tcp1"), cpg("tcp4")) if mode == "pilot" else (None, None)
    res.write("\t".join([mode, f(gb("tcp1"), 3), f(gb("tcp4"), 3), f(pm[0], 3), f(pm[1], 3), f(pm[2], 3),
                         f(c1), f(c4), mss, m]) + "\n")
    print("| %s | %s | %s | %s | %s | %s/%s/%s | %s | %s |" % (
        "raw veth" if mode == "raw" else "Pilot overlay", m, mss, f(gb("tcp1")), f(gb("tcp4")),
        f(pm[0], 3), f(pm[1], 3), f(pm[2], 3),
        "n/a" if mode == "raw" else f(c1), "n/a" if mode == "raw" else f(c4)))
EOF
echo
echo "Pilot overlay benchmark ($(nproc) CPUs, T=${T}s, REPS=$REPS; medians; CPU = both pilotd, per GB received)"
cat "$OUT_DIR/table.md"

if [ "$RUN_PEERS" = 1 ]; then
	# our namespaces first, so the peers run on an idle machine
	# shellcheck disable=SC2086
	e2e_stop_pids $E2E_PIDS
	for ns in $E2E_NS; do ip netns del "$ns" 2>/dev/null; done
	E2E_NS=""
	if [ -f "$PEERS_SH" ]; then
		blog "peers: PEERS=\"$BENCH_PEERS\" REPS=$REPS bash $PEERS_SH"
		PEERS="$BENCH_PEERS" REPS=$REPS T_TCP=$T OUT_DIR=$OUT_DIR/peers bash "$PEERS_SH" >"$OUT_DIR/peers.out" 2>"$OUT_DIR/peers.err"
		echo
		echo "Peers on the same machine, same session (shared/bench/peers.sh):"
		cat "$OUT_DIR/peers/table.md" 2>/dev/null || tail -n 20 "$OUT_DIR/peers.err"
		echo
		echo "Side by side (TCP Gbit/s 1-stream / 4-stream, ping avg ms, daemon CPU-s/GB 1-stream):"
		"$PY" - "$OUT_DIR/results.tsv" "$OUT_DIR/peers/results.tsv" <<'EOF'
import csv, sys
rows = []
for r in csv.DictReader(open(sys.argv[1]), delimiter="\t"):
    rows.append(("pilot (this tree)" if r["mode"] == "pilot" else "raw veth (this run)",
                 r["tcp1_gbps"], r["tcp4_gbps"], r["ping_avg_ms"], r["daemon_cpu_s_per_GB_tcp1"]))
try:
    for r in csv.DictReader(open(sys.argv[2]), delimiter="\t"):
        rows.append((r["peer"], r["tcp1_gbps"], r["tcp4_gbps"], r["ping_avg_ms"], r["daemon_cpu_s_per_GB_tcp1"]))
except OSError:
    pass
print("| overlay | TCP 1 | TCP 4 | ping avg ms | CPU-s/GB |")
print("|---|---|---|---|---|")
for r in rows:
    print("| %s | %s | %s | %s | %s |" % r)
EOF
	else
		blog "peers: $PEERS_SH not found (expected ../shared/bench/peers.sh beside the repo)"
	fi
fi
blog "per-run data: $OUT_DIR/runs.tsv; table: $OUT_DIR/table.md"
exit 0
