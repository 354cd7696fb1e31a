#!/bin/sh
# oidc.sh - end-to-end: the oidc join rule (issue 15) against a real OpenID
# Connect issuer: oauth2-mock-server (tests/identity/idp.mjs) serving
# discovery and its JWKS over HTTPS, with a certificate from a CA made here,
# on 127.0.0.1 in the registry's namespace.  Nodes A (alice), B (bob),
# C (carol), D (dave):
#   - an oidc network bound to the issuer, audience pilot-e2e and claim
#     groups=ops; A joins with an ID token (RS256) and shows external_id /
#     external_issuer in `network nodes` and the registry's audit
#   - refused, each with its code: no token, wrong iss, wrong aud, expired,
#     not yet valid, tampered payload, another issuer's key, alg none,
#     HS256 signed with the public key, oversized, a repeated JSON member,
#     the claim missing, A's subject from another node, A's token (jti)
#     replayed by another node
#   - key rollover: a token from a key the registry has not seen joins (one
#     refresh of the key set)
#   - B joins a second network with an ES256 token and reaches A there,
#     until a policy on claim:groups=ops lets only A's group open flows
#   - renewal: C's oidc_token_path gets a fresh token before the first
#     expires; C stays in and reachable after the first token's exp
#   - lapse: D's token runs out unrenewed: its membership ends at exp and
#     A cuts D's open connection
#   - the key set fetcher against a misbehaving issuer: max-age held to the
#     5 min floor, a cross-host redirect and a discovery for another issuer
#     refused, a failed JWKS fetch keeps the last good set
#   - an expired identity (node expire) is renewed by rotate-key backed by
#     C's fresh OIDC token; D, in no token network any more, is refused
# Needs root, node and tests/identity/node_modules (npm ci --prefix
# tests/identity); exit 77 (skip) otherwise.
[ -z "${BASH_VERSION:-}" ] && { command -v bash >/dev/null 2>&1 || { echo "SKIP: no bash"; exit 77; }; exec bash "$0" "$@"; }
. "$(dirname "$0")/lib.sh"

e2e_init
e2e_require curl openssl node
IDDIR=$top_srcdir/tests/identity
[ -d "$IDDIR/node_modules/oauth2-mock-server" ] ||
	skip "tests/identity/node_modules is missing (run: npm ci --prefix tests/identity)"
TOKEN="e2e-admin-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
RDV_EXTRA_ARGS="--admin-token $TOKEN"
AUD=pilot-e2e
IDP_PORT=8443

# ------------------------------------------------------------ the issuer
T=$E2E_WORK/tls TOK=$E2E_WORK/idp
mkdir -p "$T" "$TOK"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=pilot-e2e-ca" \
	-keyout "$T/ca.key" -out "$T/ca.pem" 2>/dev/null &&
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
		-keyout "$T/idp.key" -out "$T/idp.csr" 2>/dev/null &&
	printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >"$T/ext" &&
	openssl x509 -req -in "$T/idp.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial \
		-days 2 -extfile "$T/ext" -out "$T/idp.pem" 2>/dev/null || fatal "a test CA and the issuer's certificate"
ok "a test CA and a certificate for 127.0.0.1"

e2e_underlay
e2e_host rdv 1
e2e_host a 2
e2e_host b 3
e2e_host c 4
e2e_host d 5
e2e_bg "${HOST_NS[rdv]}" "$E2E_WORK/idp.log" node "$IDDIR/idp.mjs" "$TOK" "$T/idp.key" "$T/idp.pem" \
	"$IDP_PORT" "$AUD" "$E2E_TIMEOUT"
IDP_PID=$LASTPID
e2e_add_log idp "$E2E_WORK/idp.log"
e2e_wait 20 test -e "$TOK/ready" || fatal "the OIDC issuer (oauth2-mock-server) is up"
ISS=$(cat "$TOK/issuer")
ok "OIDC issuer at $ISS (HTTPS, test CA)"
check "discovery answers over HTTPS with the test CA" \
	ip netns exec "${HOST_NS[rdv]}" curl -sS --max-time 5 --cacert "$T/ca.pem" -o /dev/null \
	"$ISS/.well-known/openid-configuration"

e2e_start_rdv
PILOTD_EXTRA_ARGS="" e2e_start_node a alice || fatal "pilotd alice ready"
e2e_start_node b bob || fatal "pilotd bob ready"
A=${NODE_ID[a]} B=${NODE_ID[b]}
ok "nodes up: A=$A B=$B"
code_of() { jget code <<<"$PCTL_OUT"; }
admin() { pctl_ok a --admin-token "$TOKEN" "$@"; }

# ------------------------------------------------------------ the network
check "admin: network create sso --join-rule oidc (issuer, audience, claim, CA)" \
	admin network create sso --id 30 --join-rule oidc --oidc-issuer "$ISS" --oidc-audience "$AUD" \
	--oidc-claim groups=ops --oidc-ca "$T/ca.pem" || info "reply: $PCTL_OUT"
check "... the reply names the issuer and the claim" \
	eval '[ "$(jget data.oidc_issuer <<<"$PCTL_OUT")" = "$ISS" ] && [ "$(jget "data.oidc_claim[]" <<<"$PCTL_OUT")" = groups=ops ]'
check "admin: an oidc network over http:// is refused" \
	eval '! admin network create bad --join-rule oidc --oidc-issuer http://127.0.0.1:1 --oidc-audience x'
check "admin: an oidc network without an audience is refused" \
	eval '! admin network create bad --join-rule oidc --oidc-issuer "$ISS"'

check "A: join 30 with alice's ID token" \
	pctl_ok a network join 30 --oidc-token "$TOK/good-a.jwt" || info "reply: $PCTL_OUT"
check "... external_id alice, external_issuer the issuer" \
	eval '[ "$(jget data.external_id <<<"$PCTL_OUT")" = alice ] && [ "$(jget data.external_issuer <<<"$PCTL_OUT")" = "$ISS" ]'
check "pilotd-A's own audit log: network.identity as alice (webhooks carry it)" \
	eval 'pctl a audit --type network.identity --limit 20 | grep -q "\"external_id\": *\"alice\""'

refused() { # NAME CODE [NODE]: joining 30 with NAME.jwt is refused with CODE
	local n=${3:-b}
	! pctl_ok "$n" network join 30 --oidc-token "$TOK/$1.jwt" && [ "$(code_of)" = "$2" ] ||
		{ info "reply: $PCTL_OUT"; return 1; }
}
check "B: join 30 without a token: token_required" \
	eval '! pctl_ok b network join 30 && [ "$(code_of)" = token_required ]'
check "B: wrong iss: token_wrong_issuer" refused wrong-iss token_wrong_issuer
check "B: wrong aud: token_wrong_audience" refused wrong-aud token_wrong_audience
check "B: expired: token_expired" refused expired token_expired
check "B: not yet valid: token_not_yet_valid" refused notyet token_not_yet_valid
check "B: tampered payload: token_bad_signature" refused tampered token_bad_signature
check "B: another issuer's key under the issuer's kid: token_bad_signature" refused otherkey token_bad_signature
check "B: alg none: token_bad_alg" refused none token_bad_alg
check "B: HS256 keyed with the public key: token_bad_alg" refused hs256 token_bad_alg
check "B: an oversized token (> 8 KiB): token_too_large" refused oversized token_too_large
check "B: a payload naming sub twice: token_invalid" refused dupkeys token_invalid
check "B: a token without groups=ops: token_claim_mismatch" refused no-group token_claim_mismatch
check "B: alice's subject from another node: subject_in_use" refused same-sub subject_in_use
check "B: alice's own token replayed: token_replayed or subject_in_use" \
	eval 'refused good-a subject_in_use || refused good-a token_replayed'
check "B is not a member of 30" eval '! pctl b network list | grep -q "\"network_id\": *30[,}].*\"member\": *true"'

check "registry audit: network.joined with external_id alice" \
	eval 'pctl a --admin-token "$TOKEN" audit --registry --type network.joined --limit 50 | grep -q "\"external_id\": *\"alice\""'
check "registry audit: the refusals (network.join_refused, token_bad_alg)" \
	eval 'pctl a --admin-token "$TOKEN" audit --registry --type network.join_refused --limit 100 | grep -q token_bad_alg'

# ------------------------------------------------------------ key rollover
kill -USR1 "$IDP_PID"
e2e_wait 10 test -e "$TOK/rollover.ready" || fatal "the issuer rolled over to a new key"
fetches() { grep -c "network 30: .* usable keys from" "$E2E_WORK/rdv/rendezvous.log"; }
check "B: a kid the issuer never published: token_unknown_key" refused ghost token_unknown_key
F1=$(fetches)
check "B: the same again at once: token_unknown_key, and no fetch for it" \
	eval 'refused ghost token_unknown_key && [ "$(fetches)" = "$F1" ]'
# The new key is fetched on the first unknown kid 30 s or more after the
# last fetch; tokens before that are refused without a fetch.
T0=$(date +%s)
rolled() { pctl_ok b network join 30 --oidc-token "$TOK/rollover.jwt"; }
check "B: a token from the issuer's new key (kid k-new) joins 30 once a refresh is allowed" \
	e2e_wait 40 rolled || info "reply: $PCTL_OUT"
info "the rollover joined $(($(date +%s) - T0)) s after the first try"
check "... with exactly one fetch of network 30's key set for all those tries ($F1 -> $(fetches))" \
	eval '[ "$(fetches)" = $((F1 + 1)) ]'
pctl_ok b network leave 30

# ------------------------------------------------------------ B in an ES256 network
check "admin: network create dev (no claim) ..." \
	admin network create dev --id 32 --join-rule oidc --oidc-issuer "$ISS" --oidc-audience "$AUD" \
	--oidc-ca "$T/ca.pem"
check "A: join 32 (its token again: the same node)" pctl_ok a network join 32 --oidc-token "$TOK/good-a.jwt" ||
	info "reply: $PCTL_OUT"
check "B: join 32 with bob's ES256 token" pctl_ok b network join 32 --oidc-token "$TOK/good-b.jwt" ||
	info "reply: $PCTL_OUT"
net_ip6() { # NODE NET: NODE's address in NET (info)
	pctl "$1" info | "$PY" -c '
import json,sys
for n in json.load(sys.stdin)["data"]["networks"]:
    if n.get("network_id")==int(sys.argv[1]): print(n.get("ipv6",""))' "$2" 2>/dev/null
}
A32=$(net_ip6 a 32)
check "info: A's network 32 entry has external_id alice" \
	eval 'pctl a info | grep -q "\"external_id\": *\"alice\""'
check "B: find alice shows who network 32 admitted A as (external_id alice)" \
	eval 'pctl_ok b find alice && [ "$(jget data.external_id <<<"$PCTL_OUT")" = alice ] && [ "$(jget data.external_network_id <<<"$PCTL_OUT")" = 32 ]'
check "network nodes 32 shows external_id bob with its issuer" \
	eval 'pctl a network nodes 32 | grep -q "\"external_id\": *\"bob\""'
e2e_serve a 8000 http "alice-page" || fatal "HTTP server on A"
curl6() { ip netns exec "${HOST_NS[$1]}" curl -6 -sS --max-time 3 -o "$4" "http://[$2]:$3/" 2>"$E2E_WORK/curl.err"; }
if [ -n "$A32" ]; then
	check "B -> A over network 32 (curl)" e2e_wait 15 curl6 b "$A32" 8000 "$E2E_WORK/p1"
fi
# Policy on who the token says a member is: only groups=ops opens flows.
printf '{"rules":[{"from":["claim:groups=ops"],"to":["*"],"ports":["tcp/8000","tcp/8001"]}]}\n' \
	>"$E2E_WORK/ops.json"
check "admin: policy set 32 (from claim:groups=ops)" admin policy set 32 "$E2E_WORK/ops.json" ||
	info "reply: $PCTL_OUT"
check "policy test 32 A B tcp/8000: allowed (A's token has groups ops)" \
	eval 'pctl_ok a policy test 32 "$A" "$B" tcp/8000 && [ "$(jget data.allowed <<<"$PCTL_OUT")" = true ]'
check "policy test 32 B A tcp/8000: denied (B's has only dev)" \
	eval 'pctl_ok a policy test 32 "$B" "$A" tcp/8000 && [ "$(jget data.allowed <<<"$PCTL_OUT")" = false ]'
if [ -n "$A32" ]; then
	check "B -> A over network 32 is refused now" e2e_wait 10 eval '! curl6 b "$A32" 8000 "$E2E_WORK/p2"'
fi

# ------------------------------------------------------------ renewal and lapse
printf 'c1 carol 25\nc2 carol 600\nd1 dave 20\n' >"$TOK/mint"
kill -USR2 "$IDP_PID"
e2e_wait 10 test -e "$TOK/mint.done" || fatal "short-lived tokens minted"
cp "$TOK/c1.jwt" "$E2E_WORK/carol.jwt"
cp "$TOK/d1.jwt" "$E2E_WORK/dave.jwt"
C1_EXP=$("$PY" -c 'import base64,json,sys; p=sys.argv[1].split(".")[1]; print(json.loads(base64.urlsafe_b64decode(p+"="*(-len(p)%4)))["exp"])' "$(cat "$TOK/c1.jwt")")
D1_EXP=$("$PY" -c 'import base64,json,sys; p=sys.argv[1].split(".")[1]; print(json.loads(base64.urlsafe_b64decode(p+"="*(-len(p)%4)))["exp"])' "$(cat "$TOK/d1.jwt")")
mkcfg() { printf '{"oidc_token_path": "%s", "networks": ["32"]}\n' "$2" >"$E2E_WORK/$1.json"; }
mkcfg c "$E2E_WORK/carol.jwt"
mkcfg d "$E2E_WORK/dave.jwt"
PILOTD_EXTRA_ARGS="--config $E2E_WORK/c.json" e2e_start_node c carol || fatal "pilotd carol ready"
PILOTD_EXTRA_ARGS="--config $E2E_WORK/d.json" e2e_start_node d dave || fatal "pilotd dave ready"
C=${NODE_ID[c]} D=${NODE_ID[d]}
member_of() { [ -n "$(net_ip6 "$1" "$2")" ]; } # NODE NET: NODE is in NET (info)
check "C joined 32 from oidc_token_path (the networks setting)" e2e_wait 10 member_of c 32
check "D joined 32 from oidc_token_path" e2e_wait 10 member_of d 32
D32=$(net_ip6 d 32)

e2e_serve d 8001 hold "held" || fatal "holding server on D"
ST=$E2E_WORK/hold.status
e2e_bg "${HOST_NS[a]}" "$E2E_WORK/hold-client.out" "$PY" "$E2E_HELPER" hold-client --host "$D32" \
	--port 8001 --status "$ST" --max-seconds 60
HOLD=$LASTPID
e2e_wait 15 grep -qs '^connected' "$ST" && ok "A holds an open TCP connection to D over 32" ||
	not_ok "A holds an open TCP connection to D over 32 ($(cat "$ST" 2>/dev/null))"

sleep 3
cp "$TOK/c2.jwt" "$E2E_WORK/carol.jwt.new" && mv "$E2E_WORK/carol.jwt.new" "$E2E_WORK/carol.jwt"
check "C renewed with the fresh token (pilotd-C log)" \
	e2e_wait 15 grep -q "membership renewed with a fresh token" "${NODE_DIR[c]}/pilotd.log"

# Past C's first exp and D's exp.
while [ "$(date +%s)" -le $((C1_EXP > D1_EXP ? C1_EXP + 2 : D1_EXP + 2)) ]; do sleep 0.5; done
check "C is still a member of 32 after its first token's exp" member_of c 32
check "D is out of 32: its token expired unrenewed" e2e_wait 5 eval '! member_of d 32'
e2e_wait 5 grep -qs '^closed' "$ST"
e2e_check_cut "$ST" "$D1_EXP" -0.5 2.0 "A cut the open connection to D when D's token ended"
e2e_stop_pids "$HOLD"
check "registry audit: network.credential_expired for D" \
	eval 'pctl a --admin-token "$TOKEN" audit --registry --type network.credential_expired --limit 50 | grep -q "\"node_id\": *$D"'
check "registry audit: network.credential_renewed for C" \
	eval 'pctl a --admin-token "$TOKEN" audit --registry --type network.credential_renewed --limit 50 | grep -q .'

# ------------------------------------------------------------ the fetcher's failures
# A second issuer (tests/identity/badidp.mjs) that misbehaves on demand.
BAD=$E2E_WORK/badidp BADISS=https://127.0.0.1:8444
mkdir -p "$BAD"
echo good >"$BAD/mode"
e2e_bg "${HOST_NS[rdv]}" "$E2E_WORK/badidp.log" node "$IDDIR/badidp.mjs" "$BAD" "$T/idp.key" \
	"$T/idp.pem" 8444 "$AUD" "$E2E_TIMEOUT"
BAD_PID=$LASTPID
e2e_add_log badidp "$E2E_WORK/badidp.log"
e2e_wait 20 test -e "$BAD/ready" || fatal "the misbehaving issuer is up"
RLOG=$E2E_WORK/rdv/rendezvous.log
refused_in() { # NET NAME CODE [NODE]: NODE (B) joining NET with $BAD/NAME.jwt is refused with CODE
	! pctl_ok "${4:-b}" network join "$1" --oidc-token "$BAD/$2.jwt" && [ "$(code_of)" = "$3" ] ||
		{ info "reply: $PCTL_OUT"; return 1; }
}
mkbad() { admin network create "$1" --id "$2" --join-rule oidc --oidc-issuer "$BADISS" \
	--oidc-audience "$AUD" --oidc-ca "$T/ca.pem"; }
check "admin: network 52 on the second issuer" mkbad kept 52
check "... its key set is fetched at once, max-age 10 held to the 300 s floor" \
	e2e_wait 10 grep -q "network 52: 1 usable keys from $BADISS/jwks, fresh for 300 s" "$RLOG"
T52=$(date +%s)
check "B: join 52 with a token of that issuer" pctl_ok b network join 52 --oidc-token "$BAD/good.jwt" ||
	info "reply: $PCTL_OUT"
echo redirect >"$BAD/mode"
check "admin: network 50 while discovery redirects to another host" mkbad redir 50
check "B: join 50: token_unknown_key (no key set: the redirect is refused)" \
	refused_in 50 good token_unknown_key
check "... the registry says why (redirect to another host refused)" \
	grep -q "network 50: .* redirects to 'https://localhost:8444.*refused" "$RLOG"
echo otheriss >"$BAD/mode"
check "admin: network 51 while discovery names another issuer" mkbad other 51
check "B: join 51: token_unknown_key (discovery for another issuer is refused)" \
	e2e_wait 10 refused_in 51 good token_unknown_key
check "... the registry says why" grep -q "network 51: discovery at .* names issuer 'https://issuer.invalid'" "$RLOG"
# Network 52's set is fresh; after 30 s an unknown kid may fetch again,
# and this time the JWKS fails: the last good set stays in use.
echo fail >"$BAD/mode"
while [ "$(date +%s)" -le $((T52 + 31)) ]; do sleep 0.5; done
check "D: a kid the issuer never published, the JWKS down: token_unknown_key" \
	refused_in 52 ghost token_unknown_key d
check "... that fetch failed (HTTP 500)" grep -q "network 52: $BADISS/jwks answered HTTP 500" "$RLOG"
check "C: join 52 with a token of the kept key set, the JWKS still down" \
	pctl_ok c network join 52 --oidc-token "$BAD/good2.jwt" || info "reply: $PCTL_OUT"
# A spiffe network whose bundle comes from a bundle endpoint.
check "admin: network 53, join rule spiffe, bundle from an HTTPS bundle endpoint" \
	admin network create sp --id 53 --join-rule spiffe --spiffe-trust-domain example.org \
	--spiffe-id 'spiffe://example.org/agents/*' --spiffe-audience "$AUD" \
	--spiffe-bundle-endpoint "$BADISS/bundle" --spiffe-bundle-ca "$T/ca.pem" || info "reply: $PCTL_OUT"
check "... its bundle is fetched, fresh for its refresh hint (600 s)" \
	e2e_wait 10 grep -q "network 53: 1 usable keys from $BADISS/bundle, fresh for 600 s" "$RLOG"
check "D: join 53 with a JWT-SVID from that trust domain" \
	pctl_ok d network join 53 --svid "$BAD/svid.jwt" || info "reply: $PCTL_OUT"
check "... external_id is its SPIFFE ID" \
	eval '[ "$(jget data.external_id <<<"$PCTL_OUT")" = spiffe://example.org/agents/x ]'
pctl_ok d network leave 53
e2e_stop_pids "$BAD_PID"

# ------------------------------------------------------------ identity expiry
# An expired identity is renewed by a rotation backed by a fresh token of a
# network that admitted the node on one (SPEC 6), not only by the admin.
check "admin: node expire C +1s" admin node expire "$C" +1s || info "reply: $PCTL_OUT"
sleep 2
check "C's registry writes are refused: identity_expired" \
	eval '! pctl_ok c set-hostname carol2 && [ "$(code_of)" = identity_expired ]'
check "C: rotate-key without the admin token, backed by its OIDC token, renews it" \
	pctl_ok c rotate-key || info "reply: $PCTL_OUT"
check "... C's registry writes work again" pctl_ok c set-hostname carol2
check "D (out of every token network): rotate-key without the admin token is refused" \
	eval 'admin node expire "$D" +1s && sleep 2 && ! pctl_ok d rotate-key && [ "$(code_of)" = identity_expired ]'

e2e_stop_pids "$IDP_PID"
e2e_finish
