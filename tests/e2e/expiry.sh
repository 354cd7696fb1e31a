#!/bin/sh
# expiry.sh - end-to-end: identity expiry (issue 14), with trusted nodes
# A (alice) and B (bob) and a registry whose identity_lifetime is 1 h:
#   - info shows expires_at an hour ahead; rotate-key renews it
#   - `node expire A +3s` (admin): at that second B cuts its open
#     connection to A, new flows to A are refused, A's registry writes are
#     refused with identity_expired, and so is rotate-key without the admin
#     token
#   - rotate-key --admin-token renews it: B reaches A again
# Needs root; exit 77 (skip) otherwise.
[ -z "${BASH_VERSION:-}" ] && { command -v bash >/dev/null 2>&1 || { echo "SKIP: no bash"; exit 77; }; exec bash "$0" "$@"; }
. "$(dirname "$0")/lib.sh"

e2e_init
e2e_require curl
TOKEN="e2e-admin-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
RDV_EXTRA_ARGS="--admin-token $TOKEN --identity-lifetime 1h"
e2e_lan_pair a b
A=${NODE_ID[a]} B=${NODE_ID[b]}
ok "A=$A and B=$B trust each other"
code_of() { jget code <<<"$PCTL_OUT"; }
now() { date +%s; }

ea=$(pctl a info | jget data.expires_at)
check "info: expires_at is an hour ahead ($ea)" \
	eval '[ -n "$ea" ] && [ "$ea" != null ] && [ $((ea - $(now))) -gt 3500 ] && [ $((ea - $(now))) -le 3600 ]'
sleep 1.1
check "rotate-key before expiry works" pctl_ok a rotate-key || info "reply: $PCTL_OUT"
ea2=$(pctl a info | jget data.expires_at)
check "... and renews expires_at ($ea -> $ea2)" eval '[ "$ea2" -gt "$ea" ]'

e2e_serve a 8000 http "alice-page" || fatal "HTTP server on A"
e2e_serve a 8001 hold "held" || fatal "holding server on A"
curl6() { ip netns exec "${HOST_NS[$1]}" curl -6 -sS --max-time 3 -o "$4" "http://[$2]:$3/" 2>"$E2E_WORK/curl.err"; }
AIP=${NODE_IP6[a]}
check "B -> A (curl) before expiry" e2e_wait 15 curl6 b "$AIP" 8000 "$E2E_WORK/p1"

ST=$E2E_WORK/hold.status
e2e_bg "${HOST_NS[b]}" "$E2E_WORK/hold-client.out" "$PY" "$E2E_HELPER" hold-client --host "$AIP" \
	--port 8001 --status "$ST" --max-seconds 20
HOLD=$LASTPID
e2e_wait 10 grep -qs '^connected' "$ST" || fatal "B holds an open TCP connection to A ($(cat "$ST" 2>/dev/null))"
ok "B holds an open TCP connection to A"

check "node expire A without the admin token is refused" eval '! pctl_ok b node expire "$A" +3s'
check "admin: node expire A +3s" pctl_ok b --admin-token "$TOKEN" node expire "$A" +3s ||
	info "reply: $PCTL_OUT"
END=$(jget data.expires_at <<<"$PCTL_OUT")
check "A learns its new end (node.expiry)" \
	e2e_wait 3 eval '[ "$(pctl a info | jget data.expires_at)" = "$END" ]'
e2e_wait 8 grep -qs '^closed' "$ST"
e2e_check_cut "$ST" "$END" -0.5 1.5 "B cut the open connection when A's identity ended"
e2e_stop_pids "$HOLD"
check "B -> A: a new flow is refused after expiry" eval '! curl6 b "$AIP" 8000 "$E2E_WORK/p2"'
check "A's registry writes are refused: identity_expired" \
	eval '! pctl_ok a set-hostname alice2 && [ "$(code_of)" = identity_expired ]'
check "rotate-key without the admin token: identity_expired" \
	eval '! pctl_ok a rotate-key && [ "$(code_of)" = identity_expired ]'
check "pilotd-B audited the expiry" eval 'pctl b audit --limit 200 | grep -q node.identity_expired'
check "rotate-key --admin-token renews the identity" pctl_ok a rotate-key --admin-token "$TOKEN" ||
	info "reply: $PCTL_OUT"
ea3=$(pctl a info | jget data.expires_at)
check "... expires_at is an hour ahead again ($ea3)" eval '[ $((ea3 - $(now))) -gt 3500 ]'
check "B -> A works again after the renewal" e2e_wait 15 curl6 b "$AIP" 8000 "$E2E_WORK/p3"
check "A's registry writes work again" pctl_ok a set-hostname alice
check "registry audit has node.expiry and the refusals" \
	eval 'pctl a --admin-token "$TOKEN" audit --registry --limit 500 | grep -q "node.expiry" &&
	      pctl a --admin-token "$TOKEN" audit --registry --limit 500 | grep -q node.refused_expired'
e2e_finish
