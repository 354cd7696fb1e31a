# contrib/bench/bench_rdv.sh - shell helpers the registry benchmarks share
# (revoke_fanout.sh, registry_bench.sh); sourced, not run.
# shellcheck shell=bash

stop_pid() { # PID: TERM, up to 5 s, then KILL
	local p=$1 _
	[ -n "$p" ] || return 0
	kill -TERM "$p" 2>/dev/null || return 0
	for _ in $(seq 50); do
		kill -0 "$p" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$p" 2>/dev/null
	wait "$p" 2>/dev/null
}

port_free() { ! ss -Htan "sport = :$1" 2>/dev/null | grep -q .; }

pick_port() { # [K]: a port P with P .. P+K-1 free (K default 3)
	local p _ k i ok
	k=${1:-3}
	for _ in $(seq 100); do
		p=$((20000 + RANDOM % 40000))
		ok=1
		for ((i = 0; i < k; i++)); do port_free $((p + i)) || { ok=0; break; }; done
		[ "$ok" = 1 ] && { echo "$p"; return 0; }
	done
	return 1
}

listening() { ss -Htln "sport = :$1" 2>/dev/null | grep -q "127.0.0.1:$1"; }

# rdv_print_pin ARGS...: the registry's TLS pin (base64) from --print-pin;
# empty (and the error shown) on failure.  $TMP must be set.
rdv_print_pin() {
	timeout 20 "$RDV" "$@" --print-pin 2>"$TMP/print-pin.err" |
		awk 'NF{l=$0} END{print l}' | tr -d '[:space:]'
}

# run_bench PROG ARGS...: PROG under `timeout $BENCH_TIMEOUT`, its PID in
# BENCH_PID while it runs (for the caller's cleanup); its status in rc.
run_bench() {
	timeout -k 5 "$BENCH_TIMEOUT" "$@" &
	BENCH_PID=$!
	wait "$BENCH_PID"
	rc=$?
	BENCH_PID=""
	[ "$rc" = 0 ] || log "$(basename "$1") exited with status $rc"
}
