#!/bin/sh
# spiffe.sh - end-to-end: the spiffe join rule and pilotd's SPIFFE Workload
# API client (spiffe_auto) against a real Workload API server:
# tests/identity/workload.mjs (@grpc/grpc-js serving the spec's
# workloadapi.proto on a unix socket in B's namespace), which mints
# ES256 JWT-SVIDs and writes its bundle (JWKS, use jwt-svid).
#   - an admin creates a spiffe network (trust domain example.org, pattern
#     spiffe://example.org/agents/*, audience pilot, --spiffe-bundle FILE)
#   - refused, each with its code: no SVID, another trust domain, an ID
#     outside the pattern, wrong audience, expired, an extra header
#     member, a key not in the bundle (its kid, and another kid)
#   - A joins with `network join --svid FILE`
#   - the Workload API refuses a call without `workload.spiffe.io: true`
#   - pilotd --check-config: spiffe_auto without spiffe_audience is refused
#   - B (spiffe_auto, spiffe_endpoint_socket, spiffe_audience, networks in
#     its --config) gets SVIDs of ~20 s from the Workload API, joins, shows
#     its SPIFFE ID as external_id; renews at half-life: still a member
#     past the first SVID's exp, and A reaches B over the overlay
#   - the server stops issuing: B's membership lapses at its last SVID's
#     exp and A's open connection to B is cut close to that time
# Needs root, node and tests/identity/node_modules (npm ci --prefix
# tests/identity); exit 77 (skip) otherwise.
[ -z "${BASH_VERSION:-}" ] && { command -v bash >/dev/null 2>&1 || { echo "SKIP: no bash"; exit 77; }; exec bash "$0" "$@"; }
. "$(dirname "$0")/lib.sh"

e2e_init
e2e_require curl node
IDDIR=$top_srcdir/tests/identity
[ -d "$IDDIR/node_modules/@grpc/grpc-js" ] && [ -d "$IDDIR/node_modules/@grpc/proto-loader" ] &&
	[ -d "$IDDIR/node_modules/jose" ] ||
	skip "tests/identity/node_modules is missing (run: npm ci --prefix tests/identity)"
TOKEN="e2e-admin-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
RDV_EXTRA_ARGS="--admin-token $TOKEN"
TD=example.org AUD=pilot NET=40
B_ID=spiffe://$TD/agents/b
LIFE=20
WL=$E2E_WORK/wl
SOCK=$WL/agent.sock
mkdir -p "$WL"

e2e_underlay
e2e_host rdv 1
e2e_host a 2
e2e_host b 3

# ------------------------------------------------------------ the Workload API
e2e_bg "${HOST_NS[b]}" "$E2E_WORK/workload.log" node "$IDDIR/workload.mjs" "$WL" "$SOCK" "$B_ID" \
	"$LIFE" "$E2E_TIMEOUT"
WL_PID=$LASTPID
e2e_add_log workload "$E2E_WORK/workload.log"
e2e_wait 20 test -e "$WL/ready" || fatal "the Workload API server (workload.mjs) is up"
ok "Workload API for $B_ID on $SOCK"
# FetchJWTSVID{audience: "pilot"} in its gRPC frame, by hand.
printf '\000\000\000\000\007\012\005pilot' >"$WL/req.bin"
wl_call() { # [HEADER...]: FetchJWTSVID with curl; the response headers and trailers on stdout
	local h=() x
	for x in "$@"; do h+=(-H "$x"); done
	ip netns exec "${HOST_NS[b]}" curl -sS --max-time 5 --http2-prior-knowledge --unix-socket "$SOCK" \
		-H 'content-type: application/grpc' -H 'te: trailers' "${h[@]}" \
		--data-binary @"$WL/req.bin" -D - -o "$WL/resp.bin" http://localhost/SpiffeWorkloadAPI/FetchJWTSVID
}
check "Workload API: a call without workload.spiffe.io: true is refused (INVALID_ARGUMENT)" \
	eval 'wl_call | tr -d "\r" | grep -qx "grpc-status: 3"'
check "Workload API: with it, FetchJWTSVID answers (grpc-status 0, an SVID for $B_ID)" \
	eval 'wl_call "workload.spiffe.io: true" | tr -d "\r" | grep -qx "grpc-status: 0" && grep -qa "$B_ID" "$WL/resp.bin"'
: >"$WL/issued" # that one was curl's

# ------------------------------------------------------------ the network
e2e_start_rdv
e2e_start_node a alice || fatal "pilotd alice ready"
A=${NODE_ID[a]}
code_of() { jget code <<<"$PCTL_OUT"; }
admin() { pctl_ok a --admin-token "$TOKEN" "$@"; }

check "admin: network create agents --join-rule spiffe (trust domain, pattern, audience, bundle file)" \
	admin network create agents --id $NET --join-rule spiffe --spiffe-trust-domain $TD \
	--spiffe-id "spiffe://$TD/agents/*" --spiffe-audience $AUD --spiffe-bundle "$WL/bundle.jwks" ||
	info "reply: $PCTL_OUT"

refused() { # NAME CODE: A joining NET with NAME.jwt is refused with CODE
	! pctl_ok a network join $NET --svid "$WL/$1.jwt" && [ "$(code_of)" = "$2" ] ||
		{ info "reply: $PCTL_OUT"; return 1; }
}
check "A: join without an SVID: token_required" \
	eval '! pctl_ok a network join $NET && [ "$(code_of)" = token_required ] || { info "reply: $PCTL_OUT"; false; }'
check "A: an SVID of another trust domain: token_wrong_subject" refused other-td token_wrong_subject
check "A: spiffe://$TD/db/x (not agents/*): token_wrong_subject" refused db token_wrong_subject
check "A: another audience: token_wrong_audience" refused wrong-aud token_wrong_audience
check "A: expired: token_expired" refused expired token_expired
check "A: a header member besides alg/kid/typ: token_invalid" refused extra-header token_invalid
check "A: signed by a key not in the bundle, under the bundle's kid: token_bad_signature" \
	refused otherkey token_bad_signature
check "A: signed by a key not in the bundle, its own kid: token_unknown_key" refused ghost token_unknown_key
check "A: join $NET with its SVID (--svid)" pctl_ok a network join $NET --svid "$WL/a.jwt" ||
	info "reply: $PCTL_OUT"
check "... external_id spiffe://$TD/agents/a" \
	eval '[ "$(jget data.external_id <<<"$PCTL_OUT")" = "spiffe://$TD/agents/a" ]'

# ------------------------------------------------------------ B from the Workload API
printf '{"spiffe_auto": true, "spiffe_endpoint_socket": "unix://%s", "networks": ["%s"]}\n' \
	"$SOCK" "$NET" >"$E2E_WORK/b-noaud.json"
check "pilotd --check-config: spiffe_auto without spiffe_audience is refused, naming it" \
	eval '! out=$("$PILOTD" --config "$E2E_WORK/b-noaud.json" --registry "$RDV_IP:$RDV_PORT" \
		--registry-pin "$RDV_PIN" --check-config 2>&1) && grep -q spiffe_audience <<<"$out" ||
		{ info "pilotd said: $out"; false; }'
printf '{"spiffe_auto": true, "spiffe_endpoint_socket": "/not/a/uri", "spiffe_audience": "pilot"}\n' \
	>"$E2E_WORK/b-bad.json"
check "pilotd --check-config: a spiffe_endpoint_socket that is not a unix: URI is refused" \
	eval '! "$PILOTD" --config "$E2E_WORK/b-bad.json" --registry "$RDV_IP:$RDV_PORT" \
		--registry-pin "$RDV_PIN" --check-config >/dev/null 2>&1'
printf '{"spiffe_auto": true, "spiffe_endpoint_socket": "unix://%s", "spiffe_audience": "%s", "networks": ["%s"]}\n' \
	"$SOCK" "$AUD" "$NET" >"$E2E_WORK/b.json"
check "pilotd --check-config accepts B's configuration" \
	"$PILOTD" --config "$E2E_WORK/b.json" --registry "$RDV_IP:$RDV_PORT" --registry-pin "$RDV_PIN" \
	--check-config
PILOTD_EXTRA_ARGS="--config $E2E_WORK/b.json" e2e_start_node b bob || fatal "pilotd bob ready"
B=${NODE_ID[b]}
ok "nodes up: A=$A B=$B"

net_ip6() { # NODE NET: NODE's address in NET (info)
	pctl "$1" info | "$PY" -c '
import json,sys
for n in json.load(sys.stdin)["data"]["networks"]:
    if n.get("network_id")==int(sys.argv[1]): print(n.get("ipv6",""))' "$2" 2>/dev/null
}
member_of() { [ -n "$(net_ip6 "$1" "$2")" ]; }
check "B joined $NET with an SVID from the Workload API (the networks setting)" e2e_wait 15 member_of b $NET
check "pilotd-B logged the SVID for $B_ID" \
	grep -q "JWT-SVID for $B_ID from the Workload API" "${NODE_DIR[b]}/pilotd.log"
check "network nodes $NET shows B's external_id $B_ID" \
	eval 'pctl a network nodes $NET | grep -q "\"external_id\": *\"$B_ID\""'
check "status (B): spiffe.spiffe_id is $B_ID, with the socket and an svid_exp" \
	eval 'pctl_ok b status && [ "$(jget data.spiffe.spiffe_id <<<"$PCTL_OUT")" = "$B_ID" ] &&
		[ "$(jget data.spiffe.socket <<<"$PCTL_OUT")" = "unix://$SOCK" ] &&
		[ "$(jget data.spiffe.svid_exp <<<"$PCTL_OUT")" -gt "$(date +%s)" ]'
info "status: $(ip netns exec "${HOST_NS[b]}" "$PILOTCTL" --socket "${NODE_SOCK[b]}" status 2>/dev/null | grep '^spiffe')"
E1=$(awk 'NR==1{print $2}' "$WL/issued")
[ -n "$E1" ] || fatal "the Workload API issued B's first SVID"
info "B's first SVID expires at $E1 (in $((E1 - $(date +%s))) s)"

# ------------------------------------------------------------ renewal
B40=$(net_ip6 b $NET)
e2e_serve b 8000 http "bob-page" || fatal "HTTP server on B"
curl6() { ip netns exec "${HOST_NS[$1]}" curl -6 -sS --max-time 3 -o "$4" "http://[$2]:$3/" 2>"$E2E_WORK/curl.err"; }
check "A -> B over network $NET (curl)" e2e_wait 15 curl6 a "$B40" 8000 "$E2E_WORK/p1"
while [ "$(date +%s)" -le $((E1 + 2)) ]; do sleep 0.5; done
check "the Workload API issued B more SVIDs before the first's exp ($(wc -l <"$WL/issued") so far)" \
	eval '[ "$(wc -l <"$WL/issued")" -ge 2 ]'
check "B renewed its membership with them (pilotd-B log)" \
	grep -q "membership renewed with a fresh token" "${NODE_DIR[b]}/pilotd.log"
check "B is still a member of $NET after its first SVID's exp" member_of b $NET
check "A -> B over network $NET after the first SVID's exp (curl)" \
	e2e_wait 5 curl6 a "$B40" 8000 "$E2E_WORK/p2"

# ------------------------------------------------------------ lapse
e2e_serve b 8001 hold "held" || fatal "holding server on B"
ST=$E2E_WORK/hold.status
e2e_bg "${HOST_NS[a]}" "$E2E_WORK/hold-client.out" "$PY" "$E2E_HELPER" hold-client --host "$B40" \
	--port 8001 --status "$ST" --max-seconds 90
HOLD=$LASTPID
e2e_wait 15 grep -qs '^connected' "$ST" && ok "A holds an open TCP connection to B over $NET" ||
	not_ok "A holds an open TCP connection to B over $NET ($(cat "$ST" 2>/dev/null))"
kill -USR1 "$WL_PID"
e2e_wait 5 test -e "$WL/stopped" || fatal "the Workload API stopped issuing"
sleep 1 # a call under way when the signal came
LAST=$(awk 'END{print $2}' "$WL/issued")
info "issuing stopped; B's last SVID expires at $LAST (in $((LAST - $(date +%s))) s)"
check "B's fetches fail now, and it backs off (UNAVAILABLE in status, 'again in' in its log)" \
	e2e_wait $((LAST - $(date +%s) + 5)) eval 'pctl_ok b status && jget data.spiffe.last_error <<<"$PCTL_OUT" | grep -q UNAVAILABLE &&
		grep -q "UNAVAILABLE.*again in" "${NODE_DIR[b]}/pilotd.log"'
check "B is still a member of $NET before that exp" eval '[ "$(date +%s)" -ge "$LAST" ] || member_of b $NET'
while [ "$(date +%s)" -le $((LAST + 2)) ]; do sleep 0.5; done
check "B is out of $NET: its last SVID expired unrenewed" e2e_wait 5 eval '! member_of b $NET'
check "pilotd-B said why" grep -q "our token expired (not renewed)" "${NODE_DIR[b]}/pilotd.log"
e2e_wait 5 grep -qs '^closed' "$ST"
e2e_check_cut "$ST" "$LAST" -0.5 2.0 "A's open connection to B was cut when B's SVID ended"
e2e_stop_pids "$HOLD"
check "A -> B over network $NET is refused now" e2e_wait 5 eval '! curl6 a "$B40" 8000 "$E2E_WORK/p3"'
check "registry audit: network.credential_expired for B" \
	eval 'pctl a --admin-token "$TOKEN" audit --registry --type network.credential_expired --limit 50 | grep -q "\"node_id\": *$B"'
check "registry audit: network.credential_renewed for B" \
	eval 'pctl a --admin-token "$TOKEN" audit --registry --type network.credential_renewed --limit 50 | grep -qF "$B_ID"'

e2e_stop_pids "$WL_PID"
e2e_finish
