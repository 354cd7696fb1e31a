#!/bin/sh
# registration.sh - end-to-end: who may register a new key (issue 21,
# doc/REGISTRY.md "Registration"), with real daemons in namespaces:
#   - "registration": "token": a node without a token is refused and its
#     status says why (registration_token_required); the admin makes a
#     single-use token with `pilotctl registration token` (through that
#     very node's daemon, unregistered as it is); the node started with
#     --registration-token registers; another node with the same (used)
#     token is refused (registration_token_used)
#   - SIGHUP to "registration": "approval": a new node waits, its status
#     says registration_pending, `registration pending` lists it; the admin
#     approves it by the start of its key and it registers; it reaches a
#     peer over the overlay (curl to python3 -m http.server); a rejected
#     node's status says registration_rejected; a known key re-registers
#     at once whatever the rule
#   - the registry's audit log and metrics count what happened
# Needs root; exit 77 (skip) otherwise.
[ -z "${BASH_VERSION:-}" ] && { command -v bash >/dev/null 2>&1 || { echo "SKIP: no bash"; exit 77; }; exec bash "$0" "$@"; }
. "$(dirname "$0")/lib.sh"

e2e_init
e2e_require curl
TOKEN="e2e-admin-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
RCONF=$E2E_WORK/rendezvous.json
echo '{ "registration": "token" }' >"$RCONF"
RDV_EXTRA_ARGS="--config $RCONF --admin-token $TOKEN --metrics-listen 127.0.0.1:9100"

e2e_lan a b c d

reason() { pctl "$1" status 2>/dev/null | jget data.registry.reason 2>/dev/null; }
has_reason() { [ "$(reason "$1")" = "$2" ]; }
metric() { # NAME-WITH-LABELS: its value on the registry's metrics page
	ip netns exec "${HOST_NS[rdv]}" curl -sS --max-time 3 http://127.0.0.1:9100/metrics |
		awk -v k="$1" '$1 == k { print $2 }'
}
admin() { pctl_ok "$1" --admin-token "$TOKEN" "${@:2}"; }

# ------------------------------------------------------------ rule "token"
e2e_spawn_node a alice
check "token: a node without a token is refused, its status says why" \
	e2e_wait 10 has_reason a registration_token_required
info "status message: $(pctl a status | jget data.registry.message)"
check "token: ... and info says registered false with that reason" \
	eval '[ "$(pctl a info | jget data.registered)" = false ] &&
	      [ "$(pctl a info | jget data.reason)" = registration_token_required ]'
check "token: pilotctl registration token (through the unregistered node's daemon)" \
	admin a registration token --uses 1 --ttl 10m || info "reply: $PCTL_OUT"
REGTOK=$(jget data.token <<<"$PCTL_OUT")
TOKID=$(jget data.token_id <<<"$PCTL_OUT")
check "token: the reply has a token and its ID" eval '[ -n "$REGTOK" ] && [ "${#TOKID}" = 32 ]'
check "token: registration token refused without the admin token" \
	eval '! pctl_ok a registration token'
e2e_stop_node a
PILOTD_EXTRA_ARGS="--registration-token $REGTOK"
e2e_start_node a alice || fatal "pilotd alice registers with --registration-token"
ok "token: alice registered with the token: node ${NODE_ID[a]}"
e2e_spawn_node b bob
PILOTD_EXTRA_ARGS=
check "token: a second node with the same single-use token is refused: registration_token_used" \
	e2e_wait 10 has_reason b registration_token_used
check "token: registration tokens shows it used" \
	eval 'admin a registration tokens &&
	      [ "$(jget "data.tokens[].state" <<<"$PCTL_OUT")" = used ]'
e2e_stop_node b

# ------------------------------------------------------------ SIGHUP: rule "approval"
echo '{ "registration": "approval" }' >"$RCONF"
kill -HUP "$RDV_PID"
check "SIGHUP: the registry now holds new keys for approval" \
	e2e_wait 5 grep -q "registration of new keys: approval" "$E2E_WORK/rdv/rendezvous.log"
e2e_spawn_node c carol
check "approval: a new node waits, its status says registration_pending" \
	e2e_wait 15 has_reason c registration_pending
CKEY=$(pctl c info | jget data.public_key)
check "approval: registration pending lists carol's key as pending, with her hostname" \
	eval 'admin a registration pending &&
	      jget "data.registrations[].public_key" <<<"$PCTL_OUT" | grep -qxF -- "$CKEY" &&
	      jget "data.registrations[].hostname" <<<"$PCTL_OUT" | grep -qx carol &&
	      jget "data.registrations[].state" <<<"$PCTL_OUT" | grep -qx pending'
check "approval: the pending gauge shows one" eval '[ "$(metric pilot_registry_registrations_pending)" = 1 ]'
check "approval: still not registered after a few tries" \
	eval 'sleep 2; [ "$(pctl c info | jget data.registered)" = false ]'
check "approval: the admin approves it by the start of its key" \
	admin a registration approve "${CKEY:0:10}" || info "reply: $PCTL_OUT"
e2e_wait 25 e2e_node_ready c
check "approval: carol registers once approved (within one poll)" e2e_node_ready c
NODE_ID[c]=$(jget data.node_id <<<"$PCTL_OUT")
NODE_IP6[c]=$(jget data.ipv6 <<<"$PCTL_OUT")
info "carol: node ${NODE_ID[c]} ${NODE_IP6[c]}"

# A known key is never held: alice starts again at once.
e2e_stop_node a
e2e_start_node a alice || not_ok "approval: a known key (alice) re-registers at once"
ok "approval: alice (known key, no token) registered again at once"

# Carol reaches alice over the overlay with real programs.
e2e_establish_trust c a || fatal "carol and alice trust each other"
mkdir -p "$E2E_WORK/www" && echo "alice-served-$$" >"$E2E_WORK/www/index.txt"
e2e_bg "${HOST_NS[a]}" "$E2E_WORK/http.log" "$PY" -m http.server 8000 --bind :: \
	--directory "$E2E_WORK/www"
e2e_wait 5 e2e_tcp_open "${HOST_NS[a]}" ::1 8000 || fatal "python3 -m http.server on alice"
check "approval: carol fetches alice's page over the overlay (curl to python3 -m http.server)" \
	eval 'e2e_curl_until 15 c a 8000 /index.txt "$E2E_WORK/page" && grep -q "alice-served-$$" "$E2E_WORK/page"'

# A rejected node is told so.
e2e_spawn_node d dave
check "approval: dave waits too" e2e_wait 15 has_reason d registration_pending
DKEY=$(pctl d info | jget data.public_key)
check "approval: the admin rejects dave" admin a registration reject "$DKEY"
check "approval: dave's status says registration_rejected" \
	e2e_wait 20 has_reason d registration_rejected
info "dave: $(pctl d status | jget data.registry.message)"

# ------------------------------------------------------------ audit, metrics
AUD=$E2E_WORK/audit.json
pctl a --admin-token "$TOKEN" audit --registry --limit 1000 >"$AUD"
for t in registration.refused registration.token_made registration.pending \
	registration.approved registration.rejected; do
	check "audit: the registry recorded $t" grep -q "\"$t\"" "$AUD"
done
check "audit: alice's node.registered says it came in with the token" \
	eval 'grep -q "\"registration\":\"token\"" "$AUD" && grep -q "$TOKID" "$AUD"'
check "metrics: refusals by reason (token_required, token_invalid, pending, rejected)" \
	eval 'v1=$(metric "pilot_registry_registrations_refused_total{reason=\"token_required\"}");
	      v2=$(metric "pilot_registry_registrations_refused_total{reason=\"token_invalid\"}");
	      v3=$(metric "pilot_registry_registrations_refused_total{reason=\"pending\"}");
	      v4=$(metric "pilot_registry_registrations_refused_total{reason=\"rejected\"}");
	      info "refused: $v1 $v2 $v3 $v4";
	      [ "${v1:-0}" -ge 1 ] && [ "${v2:-0}" -ge 1 ] && [ "${v3:-0}" -ge 2 ] && [ "${v4:-0}" -ge 1 ]'
check "metrics: two new keys registered (alice by token, carol approved)" \
	eval '[ "$(metric pilot_registry_registrations_total)" = 2 ]'
e2e_finish
