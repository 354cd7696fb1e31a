#!/usr/bin/env bash
# contrib/bench/registry_bench.sh - the registry's request throughput:
# registrations/s and resolves/s (a benchmark: it prints figures and
# asserts nothing; make check does not run it).
#
#   contrib/bench/registry_bench.sh [MODE]   # MODE lmdb (default) or etcd
#
# MODE lmdb: a throwaway pilot-rendezvous on 127.0.0.1 (a free port, a temp
# state dir, a random admin token in a 0600 file, its TLS pin from
# --print-pin).  MODE etcd: one throwaway etcd (/usr/bin/etcd, free
# loopback ports, a temp data dir) and REPLICAS (default 2) pilot-rendezvous
# replicas with --store etcd on it, each with its own empty state dir and
# sharing the TLS key (one pin), invite.key and audit.key (as
# tests/e2e/replicas.sh does); the load is split over the replicas, request
# by request.  Then contrib/bench/registry_bench.c (with bench_reg.c) is
# built with cc against the build tree's libpilot.a and run: N nodes
# register (public), then M resolves of random registered targets by node
# ID, C requests in flight; per phase it prints requests/s, latency p50/p99
# and each registry process's CPU seconds per 1000 requests
# (/proc/PID/stat; etcd's too, apart).  See the program's
# header for the method (loopback source addresses against the per-source
# rate limit, pacing).  The client and the registry share the machine's
# cores: on a small machine the figures are the pair's.
#
# Environment: N (default 100000), M (default 100000), C (default 64),
# SOURCES (loopback source addresses, default 512), BUILD_DIR (configured
# build tree, default ./build: its src/lib/libpilot.a, config.h and
# pilot-rendezvous are used), CC (default cc), PHASE_TIMEOUT (s per phase,
# default 900), BENCH_TIMEOUT (s for the whole program, default 2400),
# RDV_LOG_LEVEL (default warn), REPLICAS (etcd mode: 1 or 2, default 2),
# ETCD (default /usr/bin/etcd), KEEP=1 keeps the temp dir (registry log,
# state).  Only 127.0.0.0/8 is used; only the processes this script started
# are stopped (by PID); the temp dir is removed.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
case $BUILD_DIR in /*) ;; *) BUILD_DIR=$PWD/$BUILD_DIR ;; esac
MODE=${1:-${MODE:-lmdb}}
N=${N:-100000}
M=${M:-100000}
C=${C:-64}
SOURCES=${SOURCES:-512}
CC=${CC:-cc}
PHASE_TIMEOUT=${PHASE_TIMEOUT:-900}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-2400}
RDV_LOG_LEVEL=${RDV_LOG_LEVEL:-warn}
REPLICAS=${REPLICAS:-2}
ETCD=${ETCD:-/usr/bin/etcd}
RDV=$BUILD_DIR/pilot-rendezvous
LIB=$BUILD_DIR/src/lib/libpilot.a

usage() { echo "usage: $0 [lmdb|etcd]  (env N, M, C, SOURCES, BUILD_DIR, ...)" >&2; exit 2; }
case $MODE in lmdb | etcd) ;; *) usage ;; esac
case $REPLICAS in 1 | 2) ;; *) usage ;; esac
for v in "$N" "$M" "$C" "$SOURCES"; do case $v in '' | *[!0-9]*) usage ;; esac; done
if [ "$MODE" = etcd ] && [ ! -x "$ETCD" ]; then
	echo "registry_bench: no $ETCD (Debian's etcd-server) for mode etcd" >&2
	exit 1
fi
[ -x "$RDV" ] || { echo "registry_bench: $RDV not built (BUILD_DIR?)" >&2; exit 1; }
if [ ! -f "$LIB" ] || [ ! -f "$BUILD_DIR/config.h" ]; then
	echo "registry_bench: $LIB or $BUILD_DIR/config.h missing (BUILD_DIR?)" >&2
	exit 1
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/pilot-registry-bench.XXXXXX") || exit 1
RDV_PIDS=() BENCH_PID="" ETCD_PID=""
# shellcheck source-path=SCRIPTDIR source=bench_rdv.sh
. "$ROOT/contrib/bench/bench_rdv.sh"
# shellcheck disable=SC2317  # invoked by the trap
cleanup() {
	local p
	stop_pid "$BENCH_PID"
	for p in "${RDV_PIDS[@]}"; do stop_pid "$p"; done
	stop_pid "$ETCD_PID"
	BENCH_PID="" RDV_PIDS=() ETCD_PID=""
	if [ "${KEEP:-0}" = 1 ]; then echo "registry_bench: kept $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
log() { echo "[registry_bench] $*" >&2; }

# One kept-alive connection per source address on each side.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null

# shellcheck disable=SC2046
"$CC" -std=c11 -O2 -Wall -Wextra -Werror -I"$BUILD_DIR" -I"$ROOT/src/lib" -I"$ROOT/contrib/bench" \
	"$ROOT/contrib/bench/registry_bench.c" "$ROOT/contrib/bench/bench_reg.c" "$LIB" \
	$(pkg-config --cflags --libs libsodium yajl lmdb libcurl libevent openssl) \
	-o "$TMP/registry_bench" || { log "build failed"; exit 1; }


(umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$TMP/admin.token")

# start_rdv NAME STATE_DIR [EXTRA ARGS...]: sets PORT, appends to RDV_PIDS.
start_rdv() {
	local name=$1 state=$2 attempt pid _
	shift 2
	for attempt in 1 2 3 4 5; do
		PORT=$(pick_port 2) || { log "no free port"; return 1; }
		ARGS=(--listen "127.0.0.1:$PORT" --beacon-listen "127.0.0.1:$((PORT + 1))"
			--state-dir "$state" --admin-token-file "$TMP/admin.token"
			--log-level "$RDV_LOG_LEVEL" "$@")
		if [ -z "${PIN:-}" ]; then
			PIN=$(rdv_print_pin "${ARGS[@]}")
			[ -n "$PIN" ] || { log "--print-pin failed:"; cat "$TMP/print-pin.err" >&2; return 1; }
		fi
		"$RDV" "${ARGS[@]}" >"$TMP/$name.log" 2>&1 &
		pid=$!
		RDV_PIDS+=("$pid")
		for _ in $(seq 100); do # 10 s
			listening "$PORT" && break
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		listening "$PORT" && { log "$name: pilot-rendezvous pid $pid on 127.0.0.1:$PORT"; LAST_PID=$pid; return 0; }
		log "$name: pilot-rendezvous did not come up on 127.0.0.1:$PORT (attempt $attempt):"
		tail -5 "$TMP/$name.log" >&2
		stop_pid "$pid"
		unset 'RDV_PIDS[-1]'
	done
	return 1
}

BENCH_ARGS=(-p "" -n "$N" -m "$M" -c "$C" -s "$SOURCES" -w "$PHASE_TIMEOUT")
if [ "$MODE" = lmdb ]; then
	mkdir -m 0700 "$TMP/state"
	start_rdv rendezvous "$TMP/state" || exit 1
	BENCH_ARGS+=(-r "127.0.0.1:$PORT" -P "$LAST_PID")
else
	EPORT=$(pick_port 2) || { log "no free port for etcd"; exit 1; }
	EURL=http://127.0.0.1:$EPORT PURL=http://127.0.0.1:$((EPORT + 1))
	mkdir -m 0700 "$TMP/etcd"
	"$ETCD" --name bench --data-dir "$TMP/etcd/data" \
		--listen-client-urls "$EURL" --advertise-client-urls "$EURL" \
		--listen-peer-urls "$PURL" --initial-advertise-peer-urls "$PURL" \
		--initial-cluster "bench=$PURL" --initial-cluster-state new \
		--initial-cluster-token "pilot-bench-$$" --listen-metrics-urls "" \
		>"$TMP/etcd.log" 2>&1 &
	ETCD_PID=$!
	for _ in $(seq 200); do # 20 s
		timeout 2 curl -sS --max-time 1 --noproxy '*' "$EURL/health" 2>/dev/null | grep -q '"true"' && break
		kill -0 "$ETCD_PID" 2>/dev/null || break
		sleep 0.1
	done
	timeout 2 curl -sS --max-time 1 --noproxy '*' "$EURL/health" 2>/dev/null | grep -q '"true"' ||
		{ log "etcd did not come up on $EURL:"; tail -5 "$TMP/etcd.log" >&2; exit 1; }
	log "etcd pid $ETCD_PID on $EURL"
	BENCH_ARGS+=(-E "$ETCD_PID")
	mkdir -m 0700 "$TMP/r1" "$TMP/r2"
	# --print-pin makes r1's TLS key; the replicas share it (one pin), and
	# invite.key and audit.key once r1 made them.
	start_rdv r1 "$TMP/r1" --store etcd --etcd-endpoints "$EURL" || exit 1
	BENCH_ARGS+=(-r "127.0.0.1:$PORT" -P "$LAST_PID")
	if [ "$REPLICAS" = 2 ]; then
		cp -p "$TMP/r1/tls.crt" "$TMP/r1/tls.key" "$TMP/r1/invite.key" "$TMP/r1/audit.key" "$TMP/r2/" ||
			{ log "cannot copy r1's keys"; exit 1; }
		start_rdv r2 "$TMP/r2" --store etcd --etcd-endpoints "$EURL" || exit 1
		BENCH_ARGS+=(-r "127.0.0.1:$PORT" -P "$LAST_PID")
	fi
fi
BENCH_ARGS[1]=$PIN
log "mode $MODE; $(df -h --output=source,fstype "$TMP" 2>/dev/null | tail -1); $(nproc) cores shared by the client and the registry"

run_bench "$TMP/registry_bench" "${BENCH_ARGS[@]}"
for f in "$TMP"/*.log; do
	echo "$(basename "$f"): $(grep -ciE ': (warn|error):|"level":"(warn|error)"' "$f") warning/error lines;" \
		"$(grep -c 'not accepting more' "$f") connection-cap pauses"
done
exit "$rc"
