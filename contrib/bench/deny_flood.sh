#!/usr/bin/env bash
# contrib/bench/deny_flood.sh - cost of a flood of denied flows (a benchmark:
# it asserts nothing).  A node that trusts nobody opens TCP connections to an
# overlay address it may not reach, as fast as one Python process can, for T
# seconds; every attempt is a new flow denied on its first packet (ICMPv6
# "administratively prohibited" back to the socket) and audited (flow.denied,
# written in batches per 100 ms tick).  Prints denials/s, pilotd CPU per
# denial, and the audit records written.
#   sudo contrib/bench/deny_flood.sh            (T=10 by default)
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
T=${T:-10}
export top_builddir=${PILOT_BUILDDIR:-$ROOT/build}
. "$ROOT/tests/e2e/lib.sh"
E2E_PFX=pdf$$-
e2e_init
e2e_require
e2e_underlay
e2e_host rdv 1
e2e_host a 2
e2e_start_rdv
e2e_start_node a alice || fatal "pilotd up"
PFX=$(pctl a info | jget data.ipv6 | sed 's/::.*//')
TARGET="$PFX::63" # node 99: nobody this node trusts
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
before=$(pctl a audit --limit 1 | jget data.last_id)
c0=$(cpu "${NODE_PID[a]}")
out=$(ip netns exec "${HOST_NS[a]}" timeout $((T + 5)) "$PY" - "$TARGET" "$T" <<'PY'
import socket, sys, time
host, t = sys.argv[1], float(sys.argv[2])
n = denied = 0
end = time.time() + t
port = 1
while time.time() < end:
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    try:
        s.connect((host, 1000 + port % 60000))
    except PermissionError:
        denied += 1
    except OSError:
        pass
    finally:
        s.close()
    n += 1
    port += 1
print(n, denied)
PY
)
c1=$(cpu "${NODE_PID[a]}")
sleep 1
after=$(pctl a audit --limit 1 | jget data.last_id)
read -r n denied <<<"$out"
hz=$(getconf CLK_TCK)
awk -v n="$n" -v d="$denied" -v t="$T" -v c="$((c1 - c0))" -v hz="$hz" -v a="$((after - before))" 'BEGIN {
	printf "denied flood: %d attempts, %d denied at once (EACCES) in %ds = %.0f denials/s\n", n, d, t, d / t
	printf "pilotd CPU: %.2f s = %.1f us per denied flow (incl. ICMPv6 answer and audit)\n", c / hz, c / hz * 1e6 / (d ? d : 1)
	printf "audit records written: %d (flow.denied, plus flow.denied_suppressed summaries beyond 256 per 100 ms)\n", a
}'
e2e_finish
