#!/usr/bin/env bash
# contrib/bench/revoke_fanout.sh - revocation propagation from the registry to
# N peers' events streams (a benchmark: it prints figures and asserts nothing).
#
#   contrib/bench/revoke_fanout.sh [N [MODE]]   # N peers, default 1000
#
# MODE org (default) or ca: the revocation is org_revoke, or (ca) ca_revoke
# by serial in a ca network that every node joined with a certificate the
# program signed with src/lib/cert.h; the streams wait for node.revoked, or
# (ca) network.left.
#
# Starts a throwaway pilot-rendezvous on 127.0.0.1 (a free port, a temp state
# dir, a random admin token in a 0600 file, metrics on 127.0.0.1), builds
# contrib/bench/revoke_fanout.c with cc against the build tree's
# libpilot_common.a, and runs it: N+1 nodes register, enrol in an org whose
# open network they all join, N of them hold an events stream open, and the
# admin revokes node 0 (org_revoke); the program prints how long the set-up
# phases took and when node.revoked reached each stream (first / median /
# p99 / last) against the org_revoke request's own latency (MODE ca: the
# same for ca_revoke and network.left).  See the program's header for the
# method (loopback source addresses 127.0.0.2.. against the per-source rate
# limit, pacing, how arrival times are taken).  Afterwards the registry's
# metrics show whether it refused anything.
#
# Environment: N, MODE (as the arguments), BUILD_DIR (configured build
# tree, default ./build: its src/lib/libpilot.a and pilot-rendezvous are
# used), CC (default cc),
# SOURCES (loopback source addresses; default: one per 30 nodes), SETTLE_MS
# (idle time of the live streams before the revocation, default 300),
# CONC (requests in flight, default 32), PHASE_TIMEOUT (s per
# set-up phase, default 300), DELIVERY_TIMEOUT (s, default 30),
# BENCH_TIMEOUT (s for the whole program, default 1200), RDV_LOG_LEVEL
# (default info), KEEP=1 keeps the temp dir (registry log, state).
# Only 127.0.0.0/8 is used; only the processes this script started are
# stopped (by PID); the temp dir is removed.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
case $BUILD_DIR in /*) ;; *) BUILD_DIR=$PWD/$BUILD_DIR ;; esac
N=${1:-${N:-1000}}
MODE=${2:-${MODE:-org}}
CC=${CC:-cc}
CONC=${CONC:-32}
PHASE_TIMEOUT=${PHASE_TIMEOUT:-300}
DELIVERY_TIMEOUT=${DELIVERY_TIMEOUT:-30}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-1200}
RDV_LOG_LEVEL=${RDV_LOG_LEVEL:-info}
RDV=$BUILD_DIR/pilot-rendezvous
LIB=$BUILD_DIR/src/lib/libpilot.a

case $N in '' | *[!0-9]*) echo "usage: $0 [N [org|ca]]" >&2; exit 2 ;; esac
case $MODE in org | ca) ;; *) echo "usage: $0 [N [org|ca]]" >&2; exit 2 ;; esac
[ -x "$RDV" ] || { echo "revoke_fanout: $RDV not built (BUILD_DIR?)" >&2; exit 1; }
if [ ! -f "$LIB" ] || [ ! -f "$BUILD_DIR/config.h" ]; then
	echo "revoke_fanout: $LIB or $BUILD_DIR/config.h missing (BUILD_DIR?)" >&2
	exit 1
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/pilot-revoke-fanout.XXXXXX") || exit 1
RDV_PID="" BENCH_PID=""
# shellcheck source-path=SCRIPTDIR source=bench_rdv.sh
. "$ROOT/contrib/bench/bench_rdv.sh"
# shellcheck disable=SC2317  # invoked by the trap
cleanup() {
	stop_pid "$BENCH_PID"
	stop_pid "$RDV_PID"
	BENCH_PID="" RDV_PID=""
	if [ "${KEEP:-0}" = 1 ]; then echo "revoke_fanout: kept $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
log() { echo "[revoke_fanout] $*" >&2; }

# One socket per stream on each side (and the registry's LMDB, TLS, ...).
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
log "open-file limit: $(ulimit -n)"

# shellcheck disable=SC2046
"$CC" -std=c11 -O2 -I"$BUILD_DIR" -I"$ROOT/src/lib" -I"$ROOT/contrib/bench" "$ROOT/contrib/bench/revoke_fanout.c" "$ROOT/contrib/bench/bench_reg.c" "$LIB" \
	$(pkg-config --cflags --libs libsodium yajl lmdb libcurl libevent openssl) \
	-o "$TMP/revoke_fanout" || { log "build failed"; exit 1; }

# An older pilot-rendezvous may have no metrics page: then none is read.
HAVE_METRICS=0
"$RDV" --help 2>&1 | grep -q -- '--metrics-listen' && HAVE_METRICS=1
mkdir -m 0700 "$TMP/state"
(umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$TMP/admin.token")

for attempt in 1 2 3 4 5; do
	PORT=$(pick_port 3) || { log "no free port"; exit 1; }
	MPORT=$((PORT + 2))
	ARGS=(--listen "127.0.0.1:$PORT" --beacon-listen "127.0.0.1:$((PORT + 1))"
		--state-dir "$TMP/state" --admin-token-file "$TMP/admin.token"
		--log-level "$RDV_LOG_LEVEL")
	[ "$HAVE_METRICS" = 1 ] && ARGS+=(--metrics-listen "127.0.0.1:$MPORT")
	if [ -z "${PIN:-}" ]; then
		PIN=$(rdv_print_pin "${ARGS[@]}")
		[ -n "$PIN" ] || { log "--print-pin failed:"; cat "$TMP/print-pin.err" >&2; exit 1; }
	fi
	"$RDV" "${ARGS[@]}" >"$TMP/rendezvous.log" 2>&1 &
	RDV_PID=$!
	for _ in $(seq 100); do # 10 s
		listening "$PORT" && break
		kill -0 "$RDV_PID" 2>/dev/null || break
		sleep 0.1
	done
	listening "$PORT" && break
	log "pilot-rendezvous did not come up on 127.0.0.1:$PORT (attempt $attempt):"
	tail -5 "$TMP/rendezvous.log" >&2
	stop_pid "$RDV_PID"
	RDV_PID=""
done
[ -n "$RDV_PID" ] || exit 1
log "pilot-rendezvous pid $RDV_PID on 127.0.0.1:$PORT, state $TMP/state"
log "$(df -h --output=source,fstype "$TMP" 2>/dev/null | tail -1)"

BENCH_ARGS=(-r "127.0.0.1:$PORT" -p "$PIN" -t "$TMP/admin.token" -n "$N" -c "$CONC"
	-w "$PHASE_TIMEOUT" -d "$DELIVERY_TIMEOUT" -k "$MODE")
[ "$HAVE_METRICS" = 1 ] && BENCH_ARGS+=(-m "$MPORT")
[ -n "${SOURCES:-}" ] && BENCH_ARGS+=(-s "$SOURCES")
[ -n "${SETTLE_MS:-}" ] && BENCH_ARGS+=(-q "$SETTLE_MS")
run_bench "$TMP/revoke_fanout" "${BENCH_ARGS[@]}"

# What the registry says about the run (loopback metrics page).
metrics=""
[ "$HAVE_METRICS" = 1 ] &&
	metrics=$(timeout 10 curl -s --max-time 5 --noproxy '*' "http://127.0.0.1:$MPORT/metrics")
[ -n "$metrics" ] && echo "registry metrics after the run:"
printf '%s\n' "$metrics" | grep -E '^pilot_registry_(rate_limited_total|nodes|requests_total\{.*outcome="(rate_limited|internal|unavailable)")' |
	sed 's/^/  /'
printf '%s\n' "$metrics" | awk '/^pilot_registry_request_seconds_(sum|count)/ {v[$1]=$2}
	END { if (v["pilot_registry_request_seconds_count"] > 0)
		printf "  mean handler time over %d requests: %.3f ms\n",
			v["pilot_registry_request_seconds_count"],
			1000 * v["pilot_registry_request_seconds_sum"] / v["pilot_registry_request_seconds_count"] }'
echo "registry log: $(grep -ciE ': (warn|error):' "$TMP/rendezvous.log") warning/error lines (org_revoke logs one, ca_revoke none);" \
	"$(grep -c 'not accepting more' "$TMP/rendezvous.log") connection-cap pauses;" \
	"$(grep -c 'is not read; closing' "$TMP/rendezvous.log") slow streams cut"
exit "$rc"
