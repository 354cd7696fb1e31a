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
#   raw  : iperf3 TCP 1 and 4 streams a -> b over the veth; ping RTT
#          (NPING echoes at 5 ms, each reply's time= kept: min/avg/p50/p99/max);
#          flows admitted per second: a python3 client in a opens a TCP
#          connection to a server in b, sends 1 byte, half-closes and waits
#          until the server, having read EOF, closes (both with SO_LINGER 0, so
#          the server's close is an RST and no TIME_WAIT pins a port), for
#          FLOW_S seconds, once sequentially and once with 8 parallel worker
#          processes: connections/s and connect() time p50/p99
#   pilot: rendezvous + two pilotd, trust established, the same over the
#          overlay IPv6 (pilot0), ping -6 RTT, the CPU seconds (utime+stime
#          from /proc/PID/stat) of both pilotd per GB received, and for the
#          flow runs the delta of each pilotd's flows_admitted and
#          flows_denied counters (pilotctl status --json: data.counters.*).
#          pilotd's SYN limits apply (syn_rate_per_peer, default 200/s: a SYN
#          over it is dropped and retried by TCP after 1 s); to measure the
#          path without them: PILOTD_EXTRA_ARGS="--syn-rate-per-peer 0"
# Environment: T (seconds per iperf3 run, default 10), REPS (rounds, medians;
# default 1), NPING (default 200), FLOW_S (seconds per flow run, default 5),
# FLOW_MAX (hard cap of connections per flow run, default 200000),
# BENCH_PEERS (default "wireguard-go"), PEERS_SH (default
# ../shared/bench/peers.sh from the repo root), OUT_DIR, PILOT_BINDIR
# (default ./build).
# Output: $OUT_DIR/runs.tsv (one row per run: tcp1, tcp4, ping, flows1,
# flows8), results.tsv (medians per mode), table.md (printed).
# Every load is bounded (iperf3 -t, ping -c, flow runs FLOW_S s and FLOW_MAX
# connections, each under timeout; connect/recv time out at 2 s); namespaces
# have no default route; only this run's namespaces and processes are touched
# (ns a gets a wide ephemeral port range, its own namespace).
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
T=${T:-10}
REPS=${REPS:-1}
NPING=${NPING:-200}
FLOW_S=${FLOW_S:-5}
FLOW_MAX=${FLOW_MAX:-200000}
BENCH_PEERS=${BENCH_PEERS:-wireguard-go}
PEERS_SH=${PEERS_SH:-$ROOT/../shared/bench/peers.sh}
OUT_DIR=${OUT_DIR:-$(mktemp -d /tmp/pilot-bench-out.XXXXXX)}
RUN_PEERS=0
case "${1:-}" in
--peers) RUN_PEERS=1 ;;
"") ;;
-h | --help) sed -n '2,40p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
*) echo "usage: $0 [--peers]" >&2; exit 2 ;;
esac
[ "$(id -u)" = 0 ] || { echo "bench: run as root" >&2; exit 1; }
mkdir -p "$OUT_DIR"

export E2E_PREFIX=pbo$$- E2E_TIMEOUT=$((REPS * (8 * T + 4 * FLOW_S + 240) + 300 + RUN_PEERS * 1800))
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
# ping_stats: ping's output on stdin -> "min/avg/max p50 p99 n" from each
# reply's time= (nearest-rank percentiles), "NA NA NA 0" with no reply
ping_stats() {
	"$PY" -c '
import math, re, sys
v = sorted(float(m) for m in re.findall(r"time[=<]([0-9.]+) ?ms", sys.stdin.read()))
pc = lambda q: v[max(0, math.ceil(q * len(v)) - 1)]
if v:
    print("%.3f/%.3f/%.3f %.3f %.3f %d" % (v[0], sum(v) / len(v), v[-1], pc(0.50), pc(0.99), len(v)))
else:
    print("NA NA NA 0")
'
}
# the flow benchmark: "server HOST PORT SECONDS" (accept, read until EOF,
# close; exits after SECONDS) and "client HOST PORT SECONDS WORKERS CAP"
# (prints "conn_per_s n errors connect_p50_ms connect_p99_ms")
FLOWPY=$OUT_DIR/flowbench.py
cat >"$FLOWPY" <<'EOF'
import math, os, selectors, socket, struct, sys, time
def server(host, port, secs):
    ls = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, port)); ls.listen(4096); ls.setblocking(False)
    sel = selectors.DefaultSelector(); sel.register(ls, selectors.EVENT_READ)
    end = time.monotonic() + secs
    while time.monotonic() < end:
        for k, _ in sel.select(0.5):
            s = k.fileobj
            if s is ls:
                for _ in range(256):
                    try: c, _a = ls.accept()
                    except (BlockingIOError, InterruptedError): break
                    except OSError: break
                    c.setblocking(False); sel.register(c, selectors.EVENT_READ)
                continue
            try: d = s.recv(4096)
            except (BlockingIOError, InterruptedError): continue
            except OSError: d = b""
            if not d:                   # EOF: close with RST, no TIME_WAIT on either side
                sel.unregister(s)
                try: s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER0)
                except OSError: pass
                s.close()
LINGER0 = struct.pack("ii", 1, 0)
def worker(host, port, end, cap, w):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    lat, err = [], 0
    while len(lat) + err < cap and time.monotonic() < end:
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER0)
        s.settimeout(2.0)
        try:
            t0 = time.monotonic(); s.connect((host, port)); t1 = time.monotonic()
            s.sendall(b"x"); s.shutdown(socket.SHUT_WR)
            try:                        # the server read our EOF and closed (RST)
                while s.recv(64): pass
            except ConnectionResetError:
                pass
            lat.append(t1 - t0)
        except OSError:
            err += 1
        finally:
            s.close()
    w.write(" ".join("%.6f" % x for x in lat) + "\n%d\n" % err); w.close()
def client(host, port, secs, nw, cap):
    t0 = time.monotonic(); end = t0 + secs; pipes = []
    for i in range(nw):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            try: worker(host, port, end, cap // nw + (i < cap % nw), os.fdopen(w, "w"))
            finally: os._exit(0)
        os.close(w); pipes.append((pid, os.fdopen(r)))
    lat, err = [], 0
    for pid, r in pipes:
        lines = r.read().split("\n"); r.close(); os.waitpid(pid, 0)
        lat += [float(x) for x in lines[0].split()]
        err += int(lines[1]) if len(lines) > 1 and lines[1] else 0
    el = time.monotonic() - t0
    lat.sort()
    pc = lambda q: "%.3f" % (1e3 * lat[max(0, math.ceil(q * len(lat)) - 1)]) if lat else "NA"
    print("%.1f %d %d %s %s" % (len(lat) / el, len(lat), err, pc(0.50), pc(0.99)))
a = sys.argv
if a[1] == "server": server(a[2], int(a[3]), float(a[4]))
else: client(a[2], int(a[3]), float(a[4]), int(a[5]), int(a[6]))
EOF
flow_ctrs() { # NODE -> "flows_admitted flows_denied" of its pilotd (NA if unknown)
	local out ad de
	out=$(pctl "$1" status 2>/dev/null)
	ad=$(jget data.counters.flows_admitted <<<"$out" 2>/dev/null)
	de=$(jget data.counters.flows_denied <<<"$out" 2>/dev/null)
	echo "${ad:-NA} ${de:-NA}"
}
dlt() { case "$1$2" in *NA*) echo NA ;; *) echo $(($2 - $1)) ;; esac; }

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
		printf '%s\t%s\ttcp%s\t%s\t%s\t%s\t%s\t\t\t\t\t\t\t\t\t\t\t\t\n' "$mode" "$round" "$p" "$g" "$b" \
			"$(awk -v a="$t0" -v b="$t1" -v hz="$HZ" 'BEGIN{printf "%.2f", (b - a) / hz}')" "$m" >>"$OUT_DIR/runs.tsv"
		blog "$mode r$round TCP -P$p: $g Gbit/s ($b bytes), daemon CPU $(( t1 - t0 )) ticks"
	done
	e2e_stop_pids "$srv"
	local p50 p99 n
	out=$(ip netns exec "${HOST_NS[a]}" timeout $((NPING / 100 + 30)) ping -c "$NPING" -i 0.005 -W 1 "$dst" 2>&1)
	read -r rtt p50 p99 n <<<"$(echo "$out" | ping_stats)"
	printf '%s\t%s\tping\t\t\t\t\t%s\t%s\t%s\t\t\t\t\t\t\t\t\t\n' "$mode" "$round" "$rtt" "$p50" "$p99" >>"$OUT_DIR/runs.tsv"
	blog "$mode r$round ping ($n/$NPING replies) min/avg/max: $rtt ms, p50 $p50, p99 $p99"
	# flows admitted per second: a fresh TCP connection each, 1 byte, both EOFs
	local w cps err c50 c99 fa0 fb0 fa1 fb1 da0 db0 da1 db1
	for w in 1 8; do
		e2e_bg "${HOST_NS[b]}" "$OUT_DIR/flow-server-$mode.log" timeout $((FLOW_S + 40)) "$PY" "$FLOWPY" server "$dst" 5301 $((FLOW_S + 30))
		srv=$LASTPID
		e2e_wait 5 e2e_tcp_open "${HOST_NS[a]}" "$dst" 5301 || { blog "$mode: flow server did not start"; e2e_stop_pids "$srv"; continue; }
		fa0=NA fb0=NA da0=NA db0=NA
		[ "$mode" = pilot ] && { read -r fa0 da0 <<<"$(flow_ctrs a)"; read -r fb0 db0 <<<"$(flow_ctrs b)"; }
		read -r cps n err c50 c99 <<<"$(ip netns exec "${HOST_NS[a]}" timeout $((FLOW_S + 30)) \
			"$PY" "$FLOWPY" client "$dst" 5301 "$FLOW_S" "$w" "$FLOW_MAX" 2>>"$OUT_DIR/flow-client-$mode.log")"
		fa1=NA fb1=NA da1=NA db1=NA
		[ "$mode" = pilot ] && { read -r fa1 da1 <<<"$(flow_ctrs a)"; read -r fb1 db1 <<<"$(flow_ctrs b)"; }
		e2e_stop_pids "$srv"
		printf '%s\t%s\tflows%s\t\t\t\t\t\t\t\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$mode" "$round" "$w" \
			"${cps:-NA}" "${n:-NA}" "${err:-NA}" "${c50:-NA}" "${c99:-NA}" "$(dlt "$fa0" "$fa1")" "$(dlt "$fb0" "$fb1")" \
			"$(dlt "$da0" "$da1")" "$(dlt "$db0" "$db1")" >>"$OUT_DIR/runs.tsv"
		blog "$mode r$round flows x$w: ${cps:-NA} conn/s (${n:-NA} ok, ${err:-NA} failed), connect p50/p99 ${c50:-NA}/${c99:-NA} ms, flows_admitted +$(dlt "$fa0" "$fa1") (a) +$(dlt "$fb0" "$fb1") (b), flows_denied +$(dlt "$da0" "$da1") (a) +$(dlt "$db0" "$db1") (b)"
	done
}

e2e_init
e2e_require iperf3 ping
printf 'mode\tround\ttest\tgbps\tbytes\tdaemon_cpu_s\ttcp_mss\tping_min_avg_max_ms\tping_p50_ms\tping_p99_ms\tconn_per_s\tconn_ok\tconn_failed\tconnect_p50_ms\tconnect_p99_ms\tflows_admitted_a\tflows_admitted_b\tflows_denied_a\tflows_denied_b\n' >"$OUT_DIR/runs.tsv"
blog "host: $(nproc) cpus, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), kernel $(uname -r)"
blog "T=$T REPS=$REPS NPING=$NPING FLOW_S=$FLOW_S; results in $OUT_DIR"

e2e_underlay
e2e_host rdv 1
e2e_host a 2
e2e_host b 3
e2e_direct_link a b || { blog "direct veth failed"; exit 1; }
e2e_underlay_ping a "${HOST_IP[b]}" || { blog "underlay does not work"; exit 1; }
# the flow runs open many short connections from a: a wide ephemeral range there
ip netns exec "${HOST_NS[a]}" sysctl -qw net.ipv4.ip_local_port_range="1024 65000" ||
	blog "could not widen a's ephemeral port range"

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
res.write("mode\ttcp1_gbps\ttcp4_gbps\tping_min_ms\tping_avg_ms\tping_max_ms\tdaemon_cpu_s_per_GB_tcp1\tdaemon_cpu_s_per_GB_tcp4\ttcp_mss\tmtu"
          "\tping_p50_ms\tping_p99_ms\tflows1_per_s\tflows8_per_s\tconnect_p50_ms_flows1\tconnect_p99_ms_flows1"
          "\tconnect_p50_ms_flows8\tconnect_p99_ms_flows8\tflows_admitted_a_flows1\tflows_admitted_b_flows1"
          "\tflows_admitted_a_flows8\tflows_admitted_b_flows8\tflows_denied_a_flows1\tflows_denied_b_flows1"
          "\tflows_denied_a_flows8\tflows_denied_b_flows8\tconn_failed\n")
T1 = ["| path | MTU | TCP MSS | TCP 1-stream Gbit/s | TCP 4-stream Gbit/s | ping avg ms | ping p99 ms | ping min/p50/max ms | pilotd CPU-s/GB (1-stream) | pilotd CPU-s/GB (4-stream) |",
      "|---|---|---|---|---|---|---|---|---|---|"]
T2 = ["| path | flows/s sequential | flows/s 8 parallel | connect p50/p99 ms sequential | connect p50/p99 ms 8 parallel | flows_admitted delta a/b sequential | flows_admitted delta a/b 8 parallel | flows_denied delta a/b sequential | flows_denied delta a/b 8 parallel | connections failed |",
      "|---|---|---|---|---|---|---|---|---|---|"]
for mode in ("raw", "pilot"):
    R = [r for r in runs if r["mode"] == mode]
    name = "raw veth" if mode == "raw" else "Pilot overlay"
    if mode == "pilot" and not pilot_ok:
        T1.append("| pilot | FAILED | | | | | | | | |"); T2.append("| pilot | FAILED | | | | | | | | |"); continue
    t = lambda name: [r for r in R if r["test"] == name]
    gb = lambda name: med([num(r["gbps"]) for r in t(name)])
    col = lambda name, c: med([num(r.get(c)) for r in t(name)])
    def cpg(name):
        return med([num(r["daemon_cpu_s"]) / (num(r["bytes"]) / 1e9) for r in t(name)
                    if num(r["daemon_cpu_s"]) is not None and num(r["bytes"])])
    pings = [r["ping_min_avg_max_ms"].split("/") for r in t("ping") if (r["ping_min_avg_max_ms"] or "").count("/") == 2]
    pm = [med([num(x[i]) for x in pings]) for i in range(3)] if pings else [None] * 3
    p50, p99 = col("ping", "ping_p50_ms"), col("ping", "ping_p99_ms")
    mss = next((r["tcp_mss"] for r in t("tcp1") if r["tcp_mss"] not in ("", "NA")), "NA")
    m = mtu if mode == "pilot" else "1500"
    c1, c4 = (cpg("tcp1"), cpg("tcp4")) if mode == "pilot" else (None, None)
    fl = {w: (col("flows" + w, "conn_per_s"), col("flows" + w, "connect_p50_ms"), col("flows" + w, "connect_p99_ms"),
              col("flows" + w, "flows_admitted_a"), col("flows" + w, "flows_admitted_b"),
              col("flows" + w, "flows_denied_a"), col("flows" + w, "flows_denied_b")) for w in ("1", "8")}
    failed = sum(int(num(r.get("conn_failed")) or 0) for w in ("1", "8") for r in t("flows" + w))
    res.write("\t".join([mode, f(gb("tcp1"), 3), f(gb("tcp4"), 3), f(pm[0], 3), f(pm[1], 3), f(pm[2], 3),
                         f(c1), f(c4), mss, m, f(p50, 3), f(p99, 3), f(fl["1"][0], 1), f(fl["8"][0], 1),
                         f(fl["1"][1], 3), f(fl["1"][2], 3), f(fl["8"][1], 3), f(fl["8"][2], 3),
                         f(fl["1"][3], 0), f(fl["1"][4], 0), f(fl["8"][3], 0), f(fl["8"][4], 0),
                         f(fl["1"][5], 0), f(fl["1"][6], 0), f(fl["8"][5], 0), f(fl["8"][6], 0), str(failed)]) + "\n")
    T1.append("| %s | %s | %s | %s | %s | %s | %s | %s/%s/%s | %s | %s |" % (
        name, m, mss, f(gb("tcp1")), f(gb("tcp4")), f(pm[1], 3), f(p99, 3),
        f(pm[0], 3), f(p50, 3), f(pm[2], 3),
        "n/a" if mode == "raw" else f(c1), "n/a" if mode == "raw" else f(c4)))
    ab = lambda w, i: "n/a" if mode == "raw" else "%s/%s" % (f(fl[w][i], 0), f(fl[w][i + 1], 0))
    T2.append("| %s | %s | %s | %s/%s | %s/%s | %s | %s | %s | %s | %d |" % (
        name, f(fl["1"][0], 0), f(fl["8"][0], 0), f(fl["1"][1], 3), f(fl["1"][2], 3),
        f(fl["8"][1], 3), f(fl["8"][2], 3), ab("1", 3), ab("8", 3), ab("1", 5), ab("8", 5), failed))
print("\n".join(T1))
print()
print("Flows admitted (new TCP connections a -> b, 1 byte each):")
print()
print("\n".join(T2))
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
		echo "Side by side (TCP Gbit/s 1-stream / 4-stream, ping avg / p99 ms, daemon CPU-s/GB 1-stream, flows/s sequential / 8 parallel; NA: not measured by that harness):"
		"$PY" - "$OUT_DIR/results.tsv" "$OUT_DIR/peers/results.tsv" <<'EOF'
import csv, sys
K = ("tcp1_gbps", "tcp4_gbps", "ping_avg_ms", "ping_p99_ms", "daemon_cpu_s_per_GB_tcp1", "flows1_per_s", "flows8_per_s")
g = lambda r, k: r.get(k) or "NA"
rows = []
for r in csv.DictReader(open(sys.argv[1]), delimiter="\t"):
    rows.append(("pilot (this tree)" if r["mode"] == "pilot" else "raw veth (this run)",) + tuple(g(r, k) for k in K))
try:
    for r in csv.DictReader(open(sys.argv[2]), delimiter="\t"):
        rows.append((r["peer"],) + tuple(g(r, k) for k in K))
except OSError:
    pass
print("| overlay | TCP 1 | TCP 4 | ping avg ms | ping p99 ms | CPU-s/GB | flows/s seq | flows/s 8-par |")
print("|---|---|---|---|---|---|---|---|")
for r in rows:
    print("| %s | %s | %s | %s | %s | %s | %s | %s |" % r)
EOF
	else
		blog "peers: $PEERS_SH not found (expected ../shared/bench/peers.sh beside the repo)"
	fi
fi
blog "per-run data: $OUT_DIR/runs.tsv; table: $OUT_DIR/table.md"
exit 0
