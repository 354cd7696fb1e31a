#!/bin/sh
# rekey.sh - end-to-end: sessions are rekeyed on schedule while a transfer
# runs, and the transfer never notices.  Both nodes run with
# --rekey-interval 10, so a 25 s iperf3 transfer spans at least two rekeys.
# Needs root; exit 77 (skip) otherwise.
[ -z "${BASH_VERSION:-}" ] && { command -v bash >/dev/null 2>&1 || { echo "SKIP: no bash"; exit 77; }; exec bash "$0" "$@"; }
. "$(dirname "$0")/lib.sh"

e2e_init
e2e_require iperf3
PILOTD_EXTRA_ARGS="--rekey-interval 10"

e2e_lan_pair a b
ok "setup: A and B trust each other"
A6=${NODE_IP6[a]}

e2e_bg "${HOST_NS[a]}" "$E2E_WORK/iperf-srv.log" iperf3 -s -B "$A6"
SRV=$LASTPID
listening() { ip netns exec "${HOST_NS[a]}" ss -Hltn "sport = :5201" | grep -q .; }
e2e_wait 5 listening || fatal "iperf3 server listening in A"
e2e_counters b "$E2E_WORK/c0"
e2e_counters a "$E2E_WORK/a0"
check "a 25 s iperf3 transfer B -> A completes across rekeys" \
	timeout 60 ip netns exec "${HOST_NS[b]}" iperf3 -6 -c "$A6" -t 25 -b 50M -J --logfile "$E2E_WORK/iperf.json"
e2e_stop_pids "$SRV"
e2e_counters b "$E2E_WORK/c1"
e2e_counters a "$E2E_WORK/a1"
rk_b=$(e2e_counter_delta "$E2E_WORK/c0" "$E2E_WORK/c1" rekeys)
rk_a=$(e2e_counter_delta "$E2E_WORK/a0" "$E2E_WORK/a1" rekeys)
hs=$(e2e_counter_delta "$E2E_WORK/a0" "$E2E_WORK/a1" handshake_resp_sent)
hs_b=$(e2e_counter_delta "$E2E_WORK/c0" "$E2E_WORK/c1" handshake_resp_sent)
info "rekeys: B +$rk_b, A +$rk_a; responses sent: A +$hs, B +$hs_b"
check "sessions were rekeyed at least twice during the transfer" \
	eval '[ $(( ${rk_a:-0} + ${rk_b:-0} )) -ge 2 ]'
retr=$("$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["end"]["sum_received"]["bytes"])' "$E2E_WORK/iperf.json" 2>/dev/null || echo 0)
info "received $retr bytes"
[ "${retr:-0}" -gt 100000000 ] || { info "iperf3 client:"; sed 's/^/#   /' "$E2E_WORK/iperf.json" | tail -30; info "iperf3 server:"; sed 's/^/#   /' "$E2E_WORK/iperf-srv.log" | tail -10; }
check "the receiver got the whole transfer (> 100 MB)" eval '[ "${retr:-0}" -gt 100000000 ]'
check "no record was refused for authentication on either side" \
	eval '[ "$(e2e_counter_delta "$E2E_WORK/a0" "$E2E_WORK/a1" rx_dropped_auth)" = 0 ] && [ "$(e2e_counter_delta "$E2E_WORK/c0" "$E2E_WORK/c1" rx_dropped_auth)" = 0 ]'
e2e_finish
