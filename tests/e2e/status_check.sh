#!/bin/sh
# status_check.sh - `pilotctl status` says why a node is degraded, and
# `status --check` gives monitoring one line and a Nagios-style exit status
# (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN) (issue 20, item 3):
#   - both nodes healthy: OK, exit 0, text `status` says "health: ok";
#   - the registry killed: WARNING (registry_unreachable, with the last
#     error), exit 1, while the overlay keeps working on cached state; the
#     --json form has data.state "degraded" and exits 1 too; plain `status`
#     still exits 0 (it worked: SPEC section 8) and prints the problem;
#   - pilotd restarted while the registry is down: CRITICAL
#     (not_registered), exit 2;
#   - pilotd stopped: UNKNOWN, exit 3;
#   - the registry back: OK again.
# And pilotd --probe (issue 20 item 2): ok with the right pin, the wrong pin
# named, FAILED with the registry down.
# Needs root; exit 77 (skip) otherwise.  See lib.sh for the topology.
[ -z "${BASH_VERSION:-}" ] && { command -v bash >/dev/null 2>&1 || { echo "SKIP: no bash"; exit 77; }; exec bash "$0" "$@"; }
. "$(dirname "$0")/lib.sh"

e2e_init
e2e_require curl
MARK="PILOTMARK$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
PILOTD_EXTRA_ARGS="--heartbeat-interval 1"
e2e_lan_pair b a
ok "setup: A and B trust each other"

# chk NODE [--json]: `status --check` in NODE; output in CHK, exit status in RC
chk() {
	local n=$1 j=
	[ "${2:-}" = --json ] && j=--json
	CHK=$(ip netns exec "${HOST_NS[$n]}" timeout 15 "$PILOTCTL" --socket "${NODE_SOCK[$n]}" $j \
		status --check 2>&1)
	RC=$?
}
text_status() { ip netns exec "${HOST_NS[$1]}" timeout 15 "$PILOTCTL" --socket "${NODE_SOCK[$1]}" status 2>&1; }

e2e_wait 10 eval 'chk b; [ "$RC" = 0 ]'
check "healthy: status --check exits 0 ($RC) with one OK line ($CHK)" \
	eval '[ "$RC" = 0 ] && [ "$(wc -l <<<"$CHK")" = 1 ] && grep -q "^PILOT OK - node ${NODE_ID[b]}, " <<<"$CHK"'
out=$(text_status b)
check "healthy: text status says 'health: ok'" eval 'grep -Eq "^health: +ok$" <<<"$out"'
# pilotd --probe: the configuration, then the registry over TLS (issue 20 item 2)
probe() { # PIN: pilotd --probe from B's namespace; output in PROBE, exit status in RC
	PROBE=$(ip netns exec "${HOST_NS[b]}" timeout 20 "$PILOTD" --probe --registry "$RDV_IP:$RDV_PORT" \
		--registry-pin "$1" --state-dir "$E2E_WORK/probe-state" 2>&1)
	RC=$?
}
probe "$RDV_PIN"
check "--probe: the registry answers over TLS with the pin (exit $RC: $(tail -n 1 <<<"$PROBE"))" \
	eval '[ "$RC" = 0 ] && grep -q "^registry $RDV_IP:$RDV_PORT: ok: TLS 1.3, the pin matched" <<<"$PROBE"'
probe "$(head -c 32 /dev/urandom | base64)"
check "--probe: a wrong pin is named as such (exit $RC)" \
	eval '[ "$RC" = 1 ] && grep -q "its TLS key does not match registry_pin" <<<"$PROBE" && grep -q "^probe: FAILED" <<<"$PROBE"'
e2e_serve a 8000 http "$MARK" || fatal "HTTP server on A"
e2e_curl_until 10 b a 8000 /warm "$E2E_WORK/w.html" || fatal "curl B -> A before the registry goes"

# ------------------------------------------------------------ registry down
e2e_stop_pids "$RDV_PID"
probe "$RDV_PIN"
check "--probe with the registry down: FAILED, cannot connect (exit $RC)" \
	eval '[ "$RC" = 1 ] && grep -q "^registry $RDV_IP:$RDV_PORT: FAILED: .*connect" <<<"$PROBE"'
e2e_wait 10 eval 'chk b; [ "$RC" = 1 ]'
check "registry down: status --check exits 1 ($RC), WARNING registry_unreachable ($CHK)" \
	eval '[ "$RC" = 1 ] && grep -q "^PILOT WARNING - .*registry_unreachable: the registry 198.18.0.1:9000 has not answered" <<<"$CHK"'
chk b --json
st=$(jget data.state <<<"$CHK" 2>/dev/null) code=$(jget 'data.problems[].code' <<<"$CHK" 2>/dev/null)
check "registry down: --json status --check exits 1 ($RC): status ok, data.state degraded ($st), problem registry_unreachable" \
	eval '[ "$RC" = 1 ] && [ "$(jget status <<<"$CHK")" = ok ] && [ "$st" = degraded ] && grep -qx registry_unreachable <<<"$code"'
out=$(text_status b)
rc=$?
check "registry down: plain status exits 0 ($rc) and prints the problem with the last error" \
	eval '[ "$rc" = 0 ] && grep -Eq "^health: +degraded \(registry_unreachable: .*\((.*)\)" <<<"$out"'
info "$(grep -E '^(health|registry):' <<<"$out")"
e2e_curl b a 8000 /cached "$E2E_WORK/c.html" 5
check "registry down: B -> A still works on cached state (a new curl over the session)" grep -qs "$MARK" "$E2E_WORK/c.html"

# ------------------------------------------------------------ restarted without a registry
e2e_stop_node b
e2e_spawn_node b bob
e2e_wait "$E2E_READY_S" pctl_ok b status || fatal "pilotd bob answers after the restart"
e2e_wait 10 eval 'chk b; [ "$RC" = 2 ]'
check "restarted with the registry down: status --check exits 2 ($RC), CRITICAL not_registered ($CHK)" \
	eval '[ "$RC" = 2 ] && grep -q "^PILOT CRITICAL - .*not_registered: not registered with 198.18.0.1:9000" <<<"$CHK"'

# ------------------------------------------------------------ pilotd gone
e2e_stop_node b
chk b
check "pilotd stopped: status --check exits 3 ($RC), UNKNOWN ($CHK)" \
	eval '[ "$RC" = 3 ] && grep -q "^PILOT UNKNOWN - " <<<"$CHK"'
chk b --json
check "pilotd stopped: --json status --check exits 3 ($RC) with the error envelope" \
	eval '[ "$RC" = 3 ] && [ "$(jget status <<<"$CHK")" = error ]'
ip netns exec "${HOST_NS[b]}" timeout 15 "$PILOTCTL" --socket "${NODE_SOCK[b]}" status --check extra >/dev/null 2>&1
rc=$?
check "status --check with an argument is a usage error (exit $rc = 2)" [ "$rc" = 2 ]

# ------------------------------------------------------------ all back
e2e_start_rdv
e2e_start_node b bob || fatal "pilotd bob ready again"
e2e_wait 20 eval 'chk b; [ "$RC" = 0 ]'
check "registry and pilotd back: status --check exits 0 again ($RC: $CHK)" [ "$RC" = 0 ]
e2e_finish
