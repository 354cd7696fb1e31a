#!/usr/bin/env bash
# contrib/bench/broadcast_fanout.sh - how long one broadcast datagram (issue
# 16, SPEC section 6) takes to reach every member of a network, and what the
# fan-out costs the sender's pilotd (a benchmark: it prints figures and
# asserts nothing about speed).
#
#   sudo contrib/bench/broadcast_fanout.sh [M [T]]   # M members (50), T trials (20)
#
# Topology (tests/e2e/lib.sh): rendezvous 198.18.0.1 (registry 9000/tcp, an
# admin token); the sender "s" 198.18.0.2; members m1..mM 198.18.0.3...,
# each in its own namespace with its own pilotd.  One token network 40
# (no policy: every member admits every other); all of them join it.
#
# One python3 process (the probe) opens a UDP socket bound to [::]:PORT in
# every member's namespace and one in the sender's (setns(2) before each
# socket(); a socket stays in the namespace it was made in), and waits in
# epoll on all M.  A datagram's arrival is stamped with time.time() when
# epoll_wait returned; its departure with time.time() just before sendto()
# on the sender's socket, to 40's broadcast address P:28::ffff:ffff: one
# process, one clock (CLOCK_REALTIME), and no M clients to wake on a small
# machine.  The path measured: the sender's kernel -> pilot0 -> the
# sender's pilotd (admission per member, M seals and sends) -> each
# member's pilotd (open, admit, meter) -> its pilot0 -> its socket.
#
# Warm-up: broadcasts (one a second, at most WARM_TRIES) until every member
# got one: the first sets up the M sessions (queued behind the handshakes).
# Then T trials of one datagram each, spaced GAP s apart (default 0.25, at
# least 0.1: the default broadcast_rate is 20/s with a burst of 40); a
# trial waits at most WAIT s (default 3) for all M.  The sender's pilotd
# CPU time (utime + stime of /proc/PID/stat) is read before the warm-up,
# before the first trial and after the last.
#
# Prints per trial the members reached, the median member's latency and
# the fan-out latency to the last one, then the members reached overall, p50 / p99 / max (nearest rank)
# over the T "to the last member" latencies and over all per-member
# latencies, and the sender's CPU time.  A member that did not get a
# trial's datagram within WAIT s is counted as missed and is left out of
# the percentiles.
#
# Environment: M, T (as the arguments), GAP, WAIT, WARM_TRIES (default 20),
# PILOT_BINDIR (default ./build), E2E_TIMEOUT (whole-run watchdog, default
# 240 + 4 s per member + 4 s per trial), E2E_KEEP_WORK=1 keeps the logs.
# Only 198.18.0.0/15 on the underlay, the deployment's fd..::/48 on the
# overlay; every wait is bounded; the EXIT trap of lib.sh stops the
# processes this run started (by PID) and deletes its namespaces.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
case "${1:-}" in
-h | --help) sed -n '2,45p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
M=${1:-${M:-50}}
T=${2:-${T:-20}}
GAP=${GAP:-0.25}
WAIT=${WAIT:-3}
WARM_TRIES=${WARM_TRIES:-20}
case "$M$T$WARM_TRIES" in '' | *[!0-9]*) echo "usage: $0 [M [T]]" >&2; exit 2 ;; esac
{ [ "$M" -ge 1 ] && [ "$M" -le 200 ] && [ "$T" -ge 1 ] && [ "$T" -le 1000 ]; } ||
	{ echo "broadcast_fanout: M in 1..200, T in 1..1000" >&2; exit 2; }
awk -v g="$GAP" -v w="$WAIT" 'BEGIN { exit !(g + 0 >= 0.1 && w + 0 > 0 && w + 0 <= 60) }' ||
	{ echo "broadcast_fanout: GAP >= 0.1 s, WAIT in (0, 60] s" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "broadcast_fanout: run as root" >&2; exit 1; }

export E2E_PREFIX=pbf$$- E2E_TIMEOUT=${E2E_TIMEOUT:-$((240 + 4 * M + 4 * T))}
export PILOT_BINDIR=${PILOT_BINDIR:-$ROOT/build}
# shellcheck source=tests/e2e/lib.sh
. "$ROOT/tests/e2e/lib.sh"
NET=40 PORT=9998

e2e_init
# shellcheck disable=SC2119  # no extra tools
e2e_require
TOKEN="bench-admin-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
NETTOK="bench-net-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
export RDV_EXTRA_ARGS="--admin-token $TOKEN"
MEMBERS=""
for i in $(seq "$M"); do MEMBERS="$MEMBERS m$i"; done

e2e_underlay
e2e_host rdv 1
e2e_host s 2
for i in $(seq "$M"); do e2e_host "m$i" $((i + 2)); done
e2e_start_rdv
for n in s $MEMBERS; do e2e_spawn_node "$n" "$n"; done
for n in s $MEMBERS; do
	e2e_wait "$E2E_READY_S" e2e_node_ready "$n" || fatal "pilotd $n ready"
done
info "rendezvous, the sender and $M members up"

pctl_ok s --admin-token "$TOKEN" network create bench --id "$NET" --join-rule token --token "$NETTOK" ||
	fatal "network create: $PCTL_OUT"
for n in s $MEMBERS; do
	pctl_ok "$n" network join "$NET" --token "$NETTOK" || fatal "$n joins $NET: $PCTL_OUT"
done
# 40's broadcast address: P:28::ffff:ffff
PFX=$(pctl s info | jget data.ipv6 | sed 's/::.*//')
BC="$PFX:$(printf %x "$NET")::ffff:ffff"
e2e_wait 10 e2e_has_addr s pilot0 "$BC" || fatal "s: pilot0 carries $BC"
for n in $MEMBERS; do e2e_wait 10 e2e_has_addr "$n" pilot0 "$BC" || fatal "$n: pilot0 carries $BC"; done
info "all joined network $NET; broadcast address $BC"

# cpu: the sender's pilotd's utime + stime, in seconds
TCK=$(getconf CLK_TCK)
cpu() {
	local s
	s=$(cat "/proc/${NODE_PID[s]}/stat") || { echo nan; return; }
	s=${s##*) }
	# shellcheck disable=SC2086
	set -- $s
	awk -v u="${12}" -v k="${13}" -v t="$TCK" 'BEGIN{printf "%.3f", (u + k) / t}'
}

# The probe. argv: DST PORT GAP WAIT WARM_TRIES T OUT STATUS SENDER_NETNS
# NAME=NETNS...; STATUS gets "warm TRIES" after the warm-up and "done" at
# the end; OUT one line per trial and member: "TRIAL NAME LATENCY|-".
cat >"$E2E_WORK/probe.py" <<'PY'
import ctypes, os, select, socket, sys, time
dst, port, gap, wait = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
warm_tries, trials, out, status, sender_ns = int(sys.argv[5]), int(sys.argv[6]), sys.argv[7], sys.argv[8], sys.argv[9]
libc = ctypes.CDLL(None, use_errno=True)
def setns(fd):
    if libc.setns(fd, 0x40000000) != 0:  # CLONE_NEWNET
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
def sock_in(ns):
    fd = os.open(ns, os.O_RDONLY)
    try:
        setns(fd)
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    finally:
        setns(home)
        os.close(fd)
    return s
def say(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.rename(path + ".tmp", path)
home = os.open("/proc/self/ns/net", os.O_RDONLY)
tx = sock_in(sender_ns)
socks = {}
ep = select.epoll()
for arg in sys.argv[10:]:
    name, ns = arg.split("=", 1)
    s = sock_in(ns)
    s.bind(("::", port))
    s.setblocking(False)
    socks[s.fileno()] = (name, s)
    ep.register(s.fileno(), select.EPOLLIN)
names = [n for n, _ in socks.values()]
def drain_until(tag, deadline, got):
    # got: name -> time.time() of the first datagram carrying tag
    while len(got) < len(socks) and time.time() < deadline:
        evs = ep.poll(max(0.0, min(0.5, deadline - time.time())))
        t = time.time()
        for fd, _ in evs:
            name, s = socks[fd]
            while True:
                try:
                    data = s.recv(2048)
                except BlockingIOError:
                    break
                if data == tag and name not in got:
                    got[name] = t
# warm-up: until every member got one (the first sets up the sessions)
seen = set()
for w in range(1, warm_tries + 1):
    tag = b"warm-%d" % w
    got = {}
    tx.sendto(tag, (dst, port))
    drain_until(tag, time.time() + 1.0, got)
    seen |= set(got)
    if len(seen) == len(socks):
        break
say(status, "warm %d %d\n" % (w, len(seen)))
if len(seen) < len(socks):
    sys.exit("probe: after %d warm-up broadcasts only %d of %d members heard one" % (w, len(seen), len(socks)))
time.sleep(gap)
lines = []
for i in range(1, trials + 1):
    tag = b"trial-%d" % i
    got = {}
    t0 = time.time()
    tx.sendto(tag, (dst, port))
    drain_until(tag, t0 + wait, got)
    for n in names:
        lines.append("%d %s %s" % (i, n, "%.6f" % (got[n] - t0) if n in got else "-"))
    rest = t0 + gap - time.time()
    if rest > 0:
        time.sleep(rest)
say(out, "\n".join(lines) + "\n")
say(status, "done\n")
PY
args=()
for n in $MEMBERS; do args+=("$n=/run/netns/${HOST_NS[$n]}"); done
CPU0=$(cpu)
STATUS=$E2E_WORK/status OUT=$E2E_WORK/out
"$PY" "$E2E_WORK/probe.py" "$BC" "$PORT" "$GAP" "$WAIT" "$WARM_TRIES" "$T" "$OUT" "$STATUS" \
	"/run/netns/${HOST_NS[s]}" "${args[@]}" >>"$E2E_WORK/probe.log" 2>&1 </dev/null &
PROBE=$!
E2E_PIDSTART[$PROBE]=$(e2e_starttime "$PROBE")
E2E_PIDS="$E2E_PIDS $PROBE"
# shellcheck disable=SC2317  # invoked by e2e_wait
warm_done() { grep -q '^warm' "$STATUS" 2>/dev/null || ! e2e_alive "$PROBE"; }
# shellcheck disable=SC2317
probe_gone() { ! e2e_alive "$PROBE"; }
e2e_wait $((WARM_TRIES * 2 + 5)) warm_done || fatal "the probe's warm-up did not end"
CPU1=$(cpu)
e2e_alive "$PROBE" || [ -f "$OUT" ] || fatal "probe: $(tail -1 "$E2E_WORK/probe.log")"
info "warm-up: $(cat "$STATUS")"
e2e_wait "$(awk -v t="$T" -v g="$GAP" -v w="$WAIT" 'BEGIN{printf "%d", t * (g > w ? g : w) + 10}')" probe_gone ||
	fatal "the probe's trials did not end"
CPU2=$(cpu)
[ -f "$OUT" ] || fatal "the probe wrote no results ($(tail -1 "$E2E_WORK/probe.log"))"

LAST=$E2E_WORK/last ALL=$E2E_WORK/all
: >"$LAST"
: >"$ALL"
REACHED=0 MISSED=0
echo "trial  reached  per-member-p50  to-last-member"
for t in $(seq "$T"); do
	awk -v t="$t" '$1 == t && $3 != "-" { print $3 }' "$OUT" >"$E2E_WORK/trial.$t"
	r=$(wc -l <"$E2E_WORK/trial.$t")
	REACHED=$((REACHED + r))
	MISSED=$((MISSED + M - r))
	cat "$E2E_WORK/trial.$t" >>"$ALL"
	slow=$(sort -g "$E2E_WORK/trial.$t" | tail -1)
	med=$(sort -g "$E2E_WORK/trial.$t" | awk '{v[NR] = $1} END { if (NR) printf "%.3f ms", v[int((NR + 1) / 2)] * 1000; else print "-" }')
	if [ "$r" = "$M" ]; then echo "$slow" >>"$LAST"; fi
	printf '%5d  %3d/%-3d  %13s  %s\n' "$t" "$r" "$M" "$med" \
		"$(awk -v s="$slow" -v r="$r" -v m="$M" 'BEGIN { if (s == "") print "-"
			else printf "%.3f ms%s", s * 1000, r == m ? "" : " (not all)" }')"
done

# pct FILE: n, p50, p99, max (nearest rank) of the values in FILE, in ms
pct() {
	sort -g "$1" | awk '{v[NR] = $1}
		function r(p,  k) { k = int(p * NR + 0.999999); if (k < 1) k = 1; return v[k] * 1000 }
		END { if (NR) printf "n=%d  p50 %.3f ms  p99 %.3f ms  max %.3f ms\n", NR, r(0.50), r(0.99), v[NR] * 1000
		      else print "n=0" }'
}
echo "members reached: $REACHED of $((M * T)) ($MISSED missed within ${WAIT}s)"
echo "fan-out to the last member (trials every member got; M=$M, T=$T): $(pct "$LAST")"
echo "fan-out per member (M*T datagrams): $(pct "$ALL")"
awk -v a="$CPU0" -v b="$CPU1" -v c="$CPU2" -v t="$T" 'BEGIN {
	printf "sender pilotd CPU (utime+stime): %.3f s total, warm-up %.3f s, trials %.3f s (%.2f ms per broadcast)\n",
		c, b - a, c - b, (c - b) * 1000 / t }'
e2e_finish
