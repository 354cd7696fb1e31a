#!/bin/sh
# syn_flood.sh - a SYN flood from one trusted peer does not stop another
# peer's new flows (issue 19, load).  B sends A's overlay address TCP SYNs
# from random source ports through its own pilot0, as fast as a raw socket
# in one Python process goes (tens of thousands a second) for FLOOD_S
# seconds; every one is a new flow at A.  A admits B's at its per-peer
# rate (syn_rate_per_peer, 200/s) and refuses the rest before they cost
# more than the admission check.  Meanwhile C opens a new TCP connection
# to A every 0.25 s: every one must complete, and their connect times
# (admission latency under the flood) are printed as p50/p99/max beside
# the same measured before the flood.
# Needs root; exit 77 (skip) otherwise.  See lib.sh for the topology.
[ -z "${BASH_VERSION:-}" ] && { command -v bash >/dev/null 2>&1 || { echo "SKIP: no bash"; exit 77; }; exec bash "$0" "$@"; }
. "$(dirname "$0")/lib.sh"

e2e_init
e2e_require
FLOOD_S=${FLOOD_S:-10}
e2e_lan a b c
for n in a:alice b:bob c:carol; do
	e2e_start_node "${n%%:*}" "${n#*:}" || fatal "pilotd ${n#*:} ready"
done
e2e_establish_trust b a || fatal "trust B <-> A"
e2e_establish_trust c a || fatal "trust C <-> A"
A6=${NODE_IP6[a]} B6=${NODE_IP6[b]}
e2e_serve a 8000 hold x || fatal "TCP server on A [::]:8000"
ok "setup: B and C trust A; A serves TCP 8000"

# probe SECONDS: C connects to A:8000 every 0.25 s; prints "n ok p50 p99 max" (ms)
probe() {
	ip netns exec "${HOST_NS[c]}" "$PY" - "$A6" "$1" <<'PY'
import socket, sys, time
host, secs = sys.argv[1], float(sys.argv[2])
times, ok, n = [], 0, 0
end = time.monotonic() + secs
while time.monotonic() < end:
    n += 1
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.settimeout(3)
    t0 = time.monotonic()
    try:
        s.connect((host, 8000))
        times.append((time.monotonic() - t0) * 1000)
        ok += 1
    except OSError:
        pass
    s.close()
    time.sleep(0.25)
times.sort()
q = lambda p: times[min(len(times) - 1, int(p * len(times)))] if times else -1
print(n, ok, "%.2f %.2f %.2f" % (q(0.5), q(0.99), times[-1] if times else -1))
PY
}
# warm C's tunnel, then the quiet figures
e2e_wait 10 e2e_tcp_open "${HOST_NS[c]}" "$A6" 8000 || fatal "C reaches A:8000"
read -r n0 ok0 p50_0 p99_0 max0 <<<"$(probe 3)"
info "before the flood: $ok0/$n0 connects, p50 $p50_0 ms, p99 $p99_0 ms, max $max0 ms"
e2e_wait 10 e2e_tcp_open "${HOST_NS[b]}" "$A6" 8000 || fatal "B reaches A:8000"

e2e_counters a "$E2E_WORK/a0"
cat >"$E2E_WORK/flood.py" <<'PY'
import random, socket, struct, sys, time
src, dst, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_TCP)
s.setsockopt(socket.IPPROTO_IPV6, 7, 16)  # IPV6_CHECKSUM at offset 16: the kernel fills it
s.bind((src, 0))
rng = random.Random(1)
sent = 0
end = time.monotonic() + secs
while time.monotonic() < end:
    for _ in range(256):
        sport = rng.randrange(1024, 65536)
        hdr = struct.pack("!HHIIBBHHH", sport, 8000, rng.getrandbits(32), 0, 5 << 4, 0x02, 64240, 0, 0)
        try:
            s.sendto(hdr, (dst, 0))
            sent += 1
        except OSError:
            time.sleep(0.0005)
print('{"sent": %d, "seconds": %.1f}' % (sent, secs))
PY
e2e_bg "${HOST_NS[b]}" "$E2E_WORK/flood.out" "$PY" "$E2E_WORK/flood.py" "$B6" "$A6" "$FLOOD_S"
FLOOD=$LASTPID
sleep 0.5
read -r n1 ok1 p50_1 p99_1 max1 <<<"$(probe $((FLOOD_S - 1)))"
e2e_wait $((FLOOD_S + 5)) eval '! e2e_alive "$FLOOD"'
e2e_counters a "$E2E_WORK/a1"
sent=$(jget sent <"$E2E_WORK/flood.out" 2>/dev/null)
info "flood: $(cat "$E2E_WORK/flood.out") ($((${sent:-0} / FLOOD_S)) SYN/s)"
info "during the flood: $ok1/$n1 connects, p50 $p50_1 ms, p99 $p99_1 ms, max $max1 ms"
info "A's counter changes: $(e2e_counter_deltas "$E2E_WORK/a0" "$E2E_WORK/a1")"
check "B sent at least 10,000 SYNs a second (${sent:-0} in ${FLOOD_S} s)" \
	[ "${sent:-0}" -ge $((FLOOD_S * 10000)) ]
lim=$(e2e_counter_delta "$E2E_WORK/a0" "$E2E_WORK/a1" denied_syn_rate_peer)
adm=$(e2e_counter_delta "$E2E_WORK/a0" "$E2E_WORK/a1" flows_admitted)
check "A admitted B's new flows at its per-peer rate alone (admitted +$adm <= 200/s + burst + C's; refused +$lim)" \
	eval '[ "$lim" != NA ] && [ "$lim" -ge 1000 ] && [ "$adm" -le $((FLOOD_S * 200 + 400 + n1 + 100)) ]'
check "every one of C's new connections completed during the flood ($ok1 of $n1)" \
	eval '[ "$n1" -ge 10 ] && [ "$ok1" = "$n1" ]'
check "C's connect p99 during the flood stays under 500 ms ($p99_1 ms)" e2e_le "$p99_1" 500
check "A's pilotd survived" e2e_alive "${NODE_PID[a]}"
e2e_finish
