#!/bin/sh
# ops.sh - end-to-end: operating pilotd like a service (issue 7).
#   - /metrics of a running pair of nodes: counters move when traffic and a
#     denial happen
#   - SIGHUP: a broken config leaves the running one in force and is
#     logged; a change to a key that needs a restart is refused whole; a
#     good change is applied
#   - --check-config names the file and line of a bad key
# Needs root; exit 77 (skip) otherwise.
[ -z "${BASH_VERSION:-}" ] && { command -v bash >/dev/null 2>&1 || { echo "SKIP: no bash"; exit 77; }; exec bash "$0" "$@"; }
. "$(dirname "$0")/lib.sh"

e2e_init
e2e_require curl
CONF=$E2E_WORK/pilotd.json
mkdir -p "$E2E_WORK"
cat >"$CONF" <<'JSON'
// pilotd.json for the e2e test
{
	"syn_rate": 2000, /* reloadable */
	"mtu": 1420
}
JSON

e2e_underlay
e2e_host rdv 1
e2e_host a 2
e2e_host b 3
e2e_host c 4
e2e_start_rdv
PILOTD_EXTRA_ARGS="--config $CONF --metrics-listen 127.0.0.1:9101"
e2e_start_node a alice || fatal "pilotd alice ready (with --config and --metrics-listen)"
PILOTD_EXTRA_ARGS="--metrics-listen 127.0.0.1:9101"
e2e_start_node b bob || fatal "pilotd bob ready"
e2e_establish_trust b a || fatal "A and B trust each other"

scrape() { ip netns exec "${HOST_NS[$1]}" curl -sS --max-time 3 http://127.0.0.1:9101/metrics; }
metric() { # NODE NAME{LABELS} -> value
	scrape "$1" | awk -v m="$2" '$1 == m { print $2; f = 1 } END { if (!f) print "NA" }'
}
check "A: /metrics answers in Prometheus text format" eval 'scrape a | grep -q "^# TYPE pilot_flows_admitted_total counter"'
check "A: /metrics is loopback only (the underlay address does not answer)" \
	eval '! ip netns exec "${HOST_NS[b]}" curl -sS --max-time 2 "http://${HOST_IP[a]}:9101/metrics" >/dev/null 2>&1'
adm0=$(metric a pilot_flows_admitted_total)
rx0=$(metric a 'pilot_packets_total{dev="tun",dir="tx"}')
den0=$(metric a 'pilot_flows_denied_total{reason="not_trusted"}')
e2e_serve a 8000 http "ops-page" || fatal "HTTP server on A"
check "traffic: curl B -> A" e2e_curl_until 10 b a 8000 / "$E2E_WORK/page"
adm1=$(metric a pilot_flows_admitted_total)
rx1=$(metric a 'pilot_packets_total{dev="tun",dir="tx"}')
info "A: admitted $adm0 -> $adm1, packets into pilot0 $rx0 -> $rx1"
check "A: pilot_flows_admitted_total moved with the traffic" eval '[ "$adm1" -gt "$adm0" ]'
check "A: pilot_packets_total{dev=tun,dir=tx} moved with the traffic" eval '[ "$rx1" -gt "$rx0" ]'
check "A: pilot_peers{path=\"direct\"} is 1" eval '[ "$(metric a "pilot_peers{path=\"direct\"}")" = 1 ]'
# A denial on A: an outbound flow to a node A does not trust (a made-up node 99).
PFX=$(pctl a info | jget data.ipv6 | sed 's/::.*//')
ip netns exec "${HOST_NS[a]}" "$PY" "$E2E_HELPER" connect --host "$PFX::63" --port 80 --timeout 1 >/dev/null 2>&1
den1=$(metric a 'pilot_flows_denied_total{reason="not_trusted"}')
info "A: denied (not_trusted) $den0 -> $den1"
check "A: pilot_flows_denied_total{reason=\"not_trusted\"} moved with the denial" eval '[ "$den1" -gt "$den0" ]'

# ------------------------------------------------------------ SIGHUP
hup() { kill -HUP "${NODE_PID[a]}"; sleep 0.5; }
LOG=${NODE_DIR[a]}/pilotd.log
printf '{ "syn_rate": 2000, "mtu": 1420,,, }\n' >"$CONF"
hup
check "SIGHUP with a broken config: pilotd keeps running" e2e_alive "${NODE_PID[a]}"
check "... the refusal is logged with the file and line" eval 'grep -q "reload refused.*pilotd.json:1" "$LOG"'
check "... pilot_config_reload_failures_total is 1" eval '[ "$(metric a pilot_config_reload_failures_total)" = 1 ]'
check "... and the overlay still works (curl B -> A)" e2e_curl_until 5 b a 8000 / "$E2E_WORK/page"
printf '{ "syn_rate": 2000, "mtu": 1400 }\n' >"$CONF"
hup
check "SIGHUP changing mtu (needs a restart): refused whole, logged" eval 'grep -q "reload refused.*mtu" "$LOG"'
check "... pilot_config_reloads_total still 0" eval '[ "$(metric a pilot_config_reloads_total)" = 0 ]'
printf '{ "syn_rate": 500, "mtu": 1420 }\n' >"$CONF"
hup
check "SIGHUP with a good change: applied and logged" eval 'grep -q "configuration reloaded" "$LOG"'
check "... pilot_config_reloads_total is 1" eval '[ "$(metric a pilot_config_reloads_total)" = 1 ]'
check "... the refusals and the reload are in the audit log" \
	eval 'pctl a audit --type config. | grep -q config.reloaded && pctl a audit --type config. | grep -q config.reload_refused'

# ------------------------------------------------------------ --check-config
# A pin of the right form (the base64 of 32 bytes, not all zero).
FORM_PIN=BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBA=
printf "{}\n" >"$E2E_WORK/empty.json"
out=$("$PILOTD" --check-config --config "$E2E_WORK/empty.json" --registry 198.18.0.1:9000 --registry-pin AAAA 2>&1); rc=$?
check "pilotd --check-config on a pin of the wrong form: exit 2 naming registry_pin" \
	eval '[ $rc = 2 ] && grep -q "registry_pin .AAAA.: expected the SHA-256" <<<"$out"'
printf '{\n "syn_rate": 2000,\n "no_such_key": 1\n}\n' >"$E2E_WORK/bad.json"
out=$("$PILOTD" --check-config --config "$E2E_WORK/bad.json" --registry 198.18.0.1:9000 --registry-pin "$FORM_PIN" 2>&1); rc=$?
info "check-config: rc=$rc: $out"
check "pilotd --check-config on an unknown key: exit 2 naming file, line and key" \
	eval '[ $rc = 2 ] && grep -q "bad.json:3: unknown key .no_such_key." <<<"$out"'
printf '{ "syn_rate": 2000 }\n' >"$E2E_WORK/good.json"
check "pilotd --check-config on a good file: exit 0 with the canonical dump" \
	eval '"$PILOTD" --check-config --config "$E2E_WORK/good.json" --registry 198.18.0.1:9000 --registry-pin "$FORM_PIN" | grep -q "\"syn_rate\": 2000"'
# ------------------------------------------------------------ info before registration
# A wrong pin: info is a report (exit 0), registered false with the reason,
# never node 0; status says the same.  Then the registry goes away
# entirely for a second node: "unreachable".
badpin=$(printf 'sha256//%s' "$(head -c 32 /dev/urandom | base64)")
mkdir -p -m 0700 "$E2E_WORK/c/state"
e2e_bg "${HOST_NS[c]}" "$E2E_WORK/c/pilotd.log" "$PILOTD" --registry "$RDV_IP:$RDV_PORT" \
	--registry-pin "$badpin" --state-dir "$E2E_WORK/c/state" --socket "$E2E_WORK/c/pilotd.sock" \
	--listen-port "$NODE_PORT" --tun pilot0 --log-level debug
CPID=$LASTPID
NODE_SOCK[c]=$E2E_WORK/c/pilotd.sock
e2e_add_log pilotd-c "$E2E_WORK/c/pilotd.log"
cinfo() { pctl c info >"$E2E_WORK/c/info.json" 2>&1; rc=$?; PCTL_OUT=$(cat "$E2E_WORK/c/info.json"); return $rc; }
reason_is() { cinfo && [ "$(jget data.reason <<<"$PCTL_OUT")" = "$1" ]; }
check "C (wrong pin): info says registered false, reason pin_mismatch" e2e_wait 10 reason_is pin_mismatch
info "C info: $PCTL_OUT"
check "... exit status 0, status ok, and no node 0 anywhere" \
	eval 'cinfo && [ "$(jget status <<<"$PCTL_OUT")" = ok ] && [ "$(jget data.registered <<<"$PCTL_OUT")" = false ] &&
		! grep -q "\"node_id\"\|0:0000.0000.0000" <<<"$PCTL_OUT"'
check "... status shows registered false with the same reason" \
	eval 'out=$(pctl c status) && [ "$(jget data.registry.reason <<<"$out")" = pin_mismatch ]'
check "... and text info names the reason" \
	eval 'ip netns exec "${HOST_NS[c]}" "$PILOTCTL" --socket "${NODE_SOCK[c]}" info | grep -q "^registered: no (pin_mismatch"'
e2e_stop_pids "$CPID"
e2e_bg "${HOST_NS[c]}" "$E2E_WORK/c/pilotd.log" "$PILOTD" --registry "$RDV_IP:1" \
	--registry-pin "$RDV_PIN" --state-dir "$E2E_WORK/c/state" --socket "$E2E_WORK/c/pilotd.sock" \
	--listen-port "$NODE_PORT" --tun pilot0 --log-level debug
CPID=$LASTPID
check "C (no registry at that port): reason unreachable" e2e_wait 10 reason_is unreachable
e2e_stop_pids "$CPID"

# Secrets never reach the screen: "***" and where they were set.
printf '{ "admin_token": "adm-sekrit-1", "networks": ["3", "7:net-sekrit-2"] }\n' >"$E2E_WORK/sec.json"
out=$("$PILOTD" --check-config --config "$E2E_WORK/sec.json" --registry 198.18.0.1:9000 --registry-pin "$FORM_PIN" 2>&1)
info "check-config with secrets: $out"
check "pilotd --check-config prints no token, only *** and the file they came from" \
	eval '! grep -q sekrit <<<"$out" && grep -qF "\"*** (from $E2E_WORK/sec.json)\"" <<<"$out" &&
		grep -qF "\"7:*** (from $E2E_WORK/sec.json)\"" <<<"$out"'
out=$("$PILOTD" --check-config --registry 198.18.0.1:9000 --registry-pin "$FORM_PIN" --admin-token adm-sekrit-3 --networks 'x:net-sekrit-4' 2>&1)
check "... nor a flag's token, nor one in an error message" \
	eval '! grep -q sekrit <<<"$out" && grep -q "networks: .x:\*\*\*." <<<"$out"'
check "both pilotd still running" eval 'e2e_alive "${NODE_PID[a]}" && e2e_alive "${NODE_PID[b]}"'
e2e_finish
