#!/bin/sh
# audit.sh - end-to-end: audit and webhooks that lose nothing (issue 5).
#   (a) a real HTTP receiver that fails the first deliveries and is down for
#       a while gets every event, in order, no gap in event_id, each HMAC
#       signature valid
#   (b) kill -9 of pilotd in the middle of a burst of acknowledged actions:
#       after restart `audit verify` passes and every acknowledged action is
#       in the log (and reaches the receiver)
#   (c) the same for the rendezvous: kill -9 mid-burst, restart, the
#       registry's log verifies and holds every acknowledged action
#   (d) editing one record in the LMDB file, or deleting one, is reported by
#       `audit verify`
#   (e) flow denials are audited with their reason
# Needs root; exit 77 (skip) otherwise.
[ -z "${BASH_VERSION:-}" ] && { command -v bash >/dev/null 2>&1 || { echo "SKIP: no bash"; exit 77; }; exec bash "$0" "$@"; }
. "$(dirname "$0")/lib.sh"

e2e_init
e2e_require
TOKEN="e2e-admin-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
SECRET="hook-secret-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
RDV_EXTRA_ARGS="--admin-token $TOKEN"
TOOLS=$(dirname "$PILOTCTL")/tests/tools
TAMPER=$TOOLS/pilot-lmdb-tamper
RX="$(dirname "$0")/webhook_rx.py"
RXLOG=$E2E_WORK/webhook.log
RXPORT=18080

e2e_underlay
e2e_host rdv 1
e2e_host a 2
e2e_host b 3
e2e_host c 4
e2e_start_rdv
e2e_start_node a alice || fatal "pilotd alice ready"
e2e_start_node b bob || fatal "pilotd bob ready"
e2e_start_node c carol || fatal "pilotd carol ready"
e2e_establish_trust b a || fatal "A and B trust each other"
ok "setup: rendezvous, A, B, C; A and B trust each other"

start_rx() { # FAIL_FIRST
	e2e_bg "${HOST_NS[a]}" "$E2E_WORK/rx.out" "$PY" "$RX" --port "$RXPORT" --secret "$SECRET" \
		--fail-first "$1" --log "$RXLOG" --max-seconds "$E2E_TIMEOUT"
	RX_PID=$LASTPID
	e2e_wait 5 grep -qs listening "$E2E_WORK/rx.out"
}
last_id() { pctl "$1" audit --limit 1 | jget data.last_id; }
# ------------------------------------------------------------ (a) webhook through failures and an outage
: >"$RXLOG"
start_rx 3 || fatal "(a) webhook receiver listening in A's namespace"
check "(a) A: webhook set http://127.0.0.1:$RXPORT/hook with a secret" \
	pctl_ok a webhook set "http://127.0.0.1:$RXPORT/hook" --secret "$SECRET" || info "reply: $PCTL_OUT"
for i in 1 2 3 4 5; do pctl_ok a set-tags "round$i" >/dev/null || not_ok "(a) set-tags round$i"; done
e2e_wait 20 grep -qs '"status": 204' "$RXLOG" || true
info "(a) receiver: $(grep -c '"status": 500' "$RXLOG") refused, $(grep -c '"status": 204' "$RXLOG") accepted so far"
check "(a) the receiver refused the first 3 deliveries" eval '[ "$(grep -c "\"status\": 500" "$RXLOG")" -ge 3 ]'
e2e_stop_pids "$RX_PID"
ok "(a) receiver down"
for i in 6 7 8 9 10; do pctl_ok a set-tags "round$i" >/dev/null || not_ok "(a) set-tags round$i"; done
check "(a) webhook status shows a backlog while the receiver is down" \
	eval '[ "$(pctl a webhook status | jget data.backlog)" -ge 1 ]'
sleep 3
start_rx 0 || fatal "(a) webhook receiver back"
ok "(a) receiver back after ~3 s"
ALAST=$(last_id a)
delivered_all() { "$PY" - "$RXLOG" "$1" <<'PY'
import json, sys
ids = [json.loads(l)["event_id"] for l in open(sys.argv[1]) if '"status": 204' in l]
sys.exit(0 if ids and max(ids) >= int(sys.argv[2]) else 1)
PY
}
check "(a) the receiver has every event through A's last event_id $ALAST (within 60 s)" \
	e2e_wait 60 delivered_all "$ALAST"
verdict=$("$PY" - "$RXLOG" <<'PY'
import json, sys
acc = [json.loads(l) for l in open(sys.argv[1])]
ok = [r for r in acc if r["status"] == 204]
ids = [r["event_id"] for r in ok]
print(json.dumps({
    "accepted": len(ids),
    "in_order": ids == sorted(ids),
    "no_gap": ids == list(range(ids[0], ids[0] + len(ids))) if ids else False,
    "no_dup": len(set(ids)) == len(ids),
    "sig_all_ok": all(r["sig_ok"] for r in acc),
    "hdr_matches": all(str(r["event_id"]) == r["hdr_id"] for r in acc),
    "body_keys": all(r["keys"] == ["data", "event", "event_id", "node_id", "timestamp"] for r in acc),
}))
PY
)
info "(a) deliveries: $verdict"
for k in in_order no_gap no_dup sig_all_ok hdr_matches body_keys; do
	check "(a) deliveries: $k" eval '[ "$(jget '"$k"' <<<"$verdict")" = True ] || [ "$(jget '"$k"' <<<"$verdict")" = true ]'
done

# ------------------------------------------------------------ (b) kill -9 of pilotd mid-burst
ACK=$E2E_WORK/acked-a
: >"$ACK"
burst() { # NODE PREFIX COUNT ACKFILE: set-hostname in a loop, logging each acknowledged name
	local i
	for i in $(seq "$3"); do
		pctl "$1" set-hostname "$2$i" 2>/dev/null | grep -q '"status":"ok"' && echo "$2$i" >>"$4"
	done
	return 0
}
burst a alice-b 400 "$ACK" &
BURST=$!
e2e_wait 10 eval '[ "$(wc -l <"$ACK")" -ge 5 ]'
sleep 0.3
kill -KILL "${NODE_PID[a]}" 2>/dev/null
wait "$BURST" 2>/dev/null
NACK=$(wc -l <"$ACK")
ok "(b) pilotd A killed (-9) mid-burst after $NACK acknowledged set-hostname"
e2e_stop_pids "${NODE_PID[a]}"
e2e_start_node a alice || fatal "(b) pilotd A restarted"
v=$(pctl a audit verify)
info "(b) verify: $v"
check "(b) A: audit verify passes after the crash" eval '[ "$(jget data.ok <<<"$v")" = True ] || [ "$(jget data.ok <<<"$v")" = true ]'
pctl a audit --type node.hostname --limit 10000 >"$E2E_WORK/a-hn.json"
missing=$("$PY" - "$E2E_WORK/a-hn.json" "$ACK" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))["data"]["events"]
have = {e["details"].get("hostname") for e in d}
acked = [l.strip() for l in open(sys.argv[2]) if l.strip()]
print(len([a for a in acked if a not in have]))
PY
)
check "(b) every acknowledged action is in A's log ($NACK acknowledged, $missing missing)" [ "$missing" = 0 ]
ALAST=$(last_id a)
check "(b) ... and the receiver gets everything through $ALAST after the restart" \
	e2e_wait 60 delivered_all "$ALAST"
verdict=$("$PY" - "$RXLOG" <<'PY'
import json, sys
ids = [json.loads(l)["event_id"] for l in open(sys.argv[1]) if '"status": 204' in l]
u = sorted(set(ids))
print("ok" if u == list(range(u[0], u[-1] + 1)) else "gap")
PY
)
check "(b) no gap in the delivered event_ids across the crash (duplicates allowed)" [ "$verdict" = ok ]

# ------------------------------------------------------------ (e) denials
res=$(ip netns exec "${HOST_NS[c]}" "$PY" "$E2E_HELPER" connect --host "${NODE_IP6[a]}" --port 8000 --timeout 1)
sleep 0.5
check "(e) C's denied connect to A is in C's log as flow.denied (not_trusted)" \
	eval 'pctl c audit --type flow.denied | grep -q not_trusted'

# ------------------------------------------------------------ (c) kill -9 of the rendezvous mid-burst
ACKB=$E2E_WORK/acked-b
: >"$ACKB"
burst b bob-b 400 "$ACKB" &
BURST=$!
e2e_wait 10 eval '[ "$(wc -l <"$ACKB")" -ge 5 ]'
sleep 0.3
kill -KILL "$RDV_PID" 2>/dev/null
wait "$BURST" 2>/dev/null
NACKB=$(wc -l <"$ACKB")
ok "(c) rendezvous killed (-9) mid-burst after $NACKB acknowledged set-hostname"
e2e_stop_pids "$RDV_PID"
e2e_bg "${HOST_NS[rdv]}" "$E2E_WORK/rdv/rendezvous.log" "$RDV" --listen "$RDV_IP:$RDV_PORT" \
	--state-dir "$E2E_WORK/rdv/state" --log-level debug $RDV_EXTRA_ARGS
RDV_PID=$LASTPID
e2e_wait "$E2E_READY_S" e2e_rdv_ready || fatal "(c) rendezvous restarted"
e2e_wait 10 pctl_ok b --admin-token "$TOKEN" audit verify --registry
info "(c) registry verify: $PCTL_OUT"
check "(c) the registry's audit verify passes after the crash" \
	eval '[ "$(jget data.ok <<<"$PCTL_OUT")" = True ] || [ "$(jget data.ok <<<"$PCTL_OUT")" = true ]'
pctl b --admin-token "$TOKEN" audit --registry --type node.hostname --limit 10000 >"$E2E_WORK/r-hn.json"
missing=$("$PY" - "$E2E_WORK/r-hn.json" "$ACKB" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))["data"]["events"]
have = {str(e.get("details", {}).get("hostname")) for e in d}
acked = [l.strip() for l in open(sys.argv[2]) if l.strip()]
print(len([a for a in acked if a not in have]))
PY
)
check "(c) every acknowledged action is in the registry's log ($NACKB acknowledged, $missing missing)" [ "$missing" = 0 ]

# ------------------------------------------------------------ (d) tampering is reported
tamper_check() { # NODE ACTION
	local n=$1 act=$2 mid v
	mid=$(( $(last_id "$n") / 2 ))
	[ "$mid" -ge 1 ] || mid=1
	e2e_stop_pids "${NODE_PID[$n]}"
	"$TAMPER" "${NODE_DIR[$n]}/state" audit "$act" "$mid" || { not_ok "(d) $act record $mid of $n's log"; return; }
	e2e_start_node "$n" "${NODE_HOSTNAME[$n]}" || fatal "(d) pilotd $n restarted"
	v=$(pctl "$n" audit verify)
	info "(d) after $act of record $mid: $v"
	check "(d) $act of record $mid in $n's LMDB file: audit verify fails (exit 1, audit_verify_failed)" \
		eval '! pctl "$n" audit verify >/dev/null && [ "$(jget code <<<"$v")" = audit_verify_failed ]'
	check "(d) ... and names the place (event near $mid)" \
		eval 'b=$(jget message <<<"$v" | sed -n "s/.*(event \([0-9]*\);.*/\1/p"); [ -n "$b" ] && [ "$b" -ge $((mid - 1)) ] && [ "$b" -le $((mid + 1)) ]'
}
tamper_check a edit
tamper_check c delete

check "all daemons still running" eval 'e2e_alive "${NODE_PID[a]}" && e2e_alive "${NODE_PID[b]}" && e2e_alive "${NODE_PID[c]}" && e2e_alive "$RDV_PID"'
e2e_finish
