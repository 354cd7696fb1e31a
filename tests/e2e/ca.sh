#!/bin/sh
# ca.sh - end-to-end: the ca join rule (issue 14), with a CA made by
# `pilotctl ca generate` (offline, sealed with a passphrase) and nodes
# A (alice), B (bob), C (carol):
#   - a ca network bound to the CA certificate; A and B join with
#     certificates for their keys and talk (curl) with no handshake
#   - refused, each with its own code: no certificate, another CA's, one
#     for another key, tampered, expired, not yet valid, a revoked serial,
#     a revoked key, a revoked CA
#   - certificate tags are the node's tags there: policy on them passes,
#     set-tags does not count
#   - ca revoke SERIAL cuts a live A-B connection within 1 s and takes A
#     out; ca crl lists the entry
#   - a 5 s certificate ends its membership on time, without a command
# Needs root; exit 77 (skip) otherwise.
[ -z "${BASH_VERSION:-}" ] && { command -v bash >/dev/null 2>&1 || { echo "SKIP: no bash"; exit 77; }; exec bash "$0" "$@"; }
. "$(dirname "$0")/lib.sh"

e2e_init
e2e_require curl
TOKEN="e2e-admin-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
RDV_EXTRA_ARGS="--admin-token $TOKEN"

e2e_underlay
e2e_host rdv 1
e2e_host a 2
e2e_host b 3
e2e_host c 4
e2e_start_rdv
e2e_start_node a alice || fatal "pilotd alice ready"
e2e_start_node b bob || fatal "pilotd bob ready"
e2e_start_node c carol || fatal "pilotd carol ready"
A=${NODE_ID[a]} B=${NODE_ID[b]} C=${NODE_ID[c]}
ok "three nodes up: A=$A B=$B C=$C"

CA=$E2E_WORK/ca CA2=$E2E_WORK/ca2 CERTS=$E2E_WORK/certs
mkdir -p "$CERTS"
printf 'correct horse battery staple\n' >"$E2E_WORK/pass"
chmod 600 "$E2E_WORK/pass"
ctl() { "$PILOTCTL" --json "$@"; } # offline: no daemon
ctl_ok() { PCTL_OUT=$(ctl "$@" 2>&1) && [ "$(jget status <<<"$PCTL_OUT")" = ok ]; }
code_of() { jget code <<<"$PCTL_OUT"; }
pk_of() { pctl "$1" info | jget data.public_key; }

# ------------------------------------------------------------ the offline CA
check "ca generate (sealed with a passphrase)" \
	ctl_ok ca generate --out "$CA" --name e2e-ca --lifetime 30d --passphrase-file "$E2E_WORK/pass" ||
	info "reply: $PCTL_OUT"
CA_FP=$(jget data.fingerprint <<<"$PCTL_OUT")
check "ca.key is mode 0600" eval '[ "$(stat -c %a "$CA/ca.key")" = 600 ]'
check "ca.key holds no plain key (sealed)" eval '[ "$(jget data.encrypted <<<"$PCTL_OUT")" = true ]'
check "ca generate refuses to overwrite a CA" eval '! ctl_ok ca generate --out "$CA"'
check "ca sign without the passphrase: passphrase_required" \
	eval '! ctl_ok ca sign --ca "$CA" --public-key "$(pk_of a)" --out "$CERTS/x.crt" && [ "$(code_of)" = passphrase_required ]'
check "ca generate a second CA (plain key)" ctl_ok ca generate --out "$CA2" --name other-ca
export PILOT_CA_PASSPHRASE="correct horse battery staple"
sign() { # NAME NODE-KEY [ARGS...]: sign with $CA into $CERTS/NAME.crt
	local n=$1 k=$2; shift 2
	ctl_ok ca sign --ca "$CA" --public-key "$k" --out "$CERTS/$n.crt" "$@"
}
check "ca sign A's key with tags api,team-a" sign a "$(pk_of a)" --node-id "$A" --tags API,team-a ||
	info "reply: $PCTL_OUT"
A_SERIAL=$(jget data.serial <<<"$PCTL_OUT")
check "... tags are canonical (lower case)" eval '[ "$(jget "data.tags[]" <<<"$PCTL_OUT" | head -1)" = api ]'
check "ca sign B's key (tag web)" sign b "$(pk_of b)" --tags web
check "ca sign refuses a leaf that outlives its CA" eval '! sign long "$(pk_of c)" --lifetime 60d'
check "ca show verifies A's certificate against the CA" \
	eval 'ctl_ok ca show "$CERTS/a.crt" --ca "$CA" && [ "$(jget data.verified <<<"$PCTL_OUT")" = true ]'
check "ca show: A's certificate against the other CA is cert_wrong_ca" \
	eval '! ctl_ok ca show "$CERTS/a.crt" --ca "$CA2" && [ "$(code_of)" = cert_wrong_ca ]'
check "issued.log records both issues" eval '[ "$(wc -l <"$CA/issued.log")" -ge 2 ]'

# ------------------------------------------------------------ the network
check "admin: network create pki --id 20 --join-rule ca --ca-cert ca.crt" \
	pctl_ok a --admin-token "$TOKEN" network create pki --id 20 --join-rule ca --ca-cert "$CA/ca.crt" ||
	info "reply: $PCTL_OUT"
check "admin: a ca network without --ca-cert is refused" \
	eval '! pctl_ok a --admin-token "$TOKEN" network create nope --join-rule ca'
check "A: join 20 with its certificate" pctl_ok a network join 20 --cert "$CERTS/a.crt" || info "reply: $PCTL_OUT"
A20=$(jget data.ipv6 <<<"$PCTL_OUT")
check "B: join 20 with its certificate" pctl_ok b network join 20 --cert "$CERTS/b.crt" || info "reply: $PCTL_OUT"
B20=$(jget data.ipv6 <<<"$PCTL_OUT")
e2e_serve a 8000 http "alice-page" || fatal "HTTP server on A"
curl6() { ip netns exec "${HOST_NS[$1]}" curl -6 -sS --max-time 5 -o "$4" "http://[$2]:$3/" 2>"$E2E_WORK/curl.err"; }
check "B -> A over network 20, no handshake (curl)" e2e_wait 10 curl6 b "$A20" 8000 "$E2E_WORK/p1"
check "network nodes 20 shows A's certificate serial" \
	eval '[ -n "$A_SERIAL" ] && pctl b network nodes 20 | grep -q "$A_SERIAL"'

# ------------------------------------------------------------ certificate tags in policy
# A's certificate says api, B's web; the rule lets web reach api only.
echo '{"rules":[{"from":["tag:web"],"to":["tag:api"],"ports":["tcp/8000"]}]}' >"$E2E_WORK/pol.json"
check "admin: policy set 20 (tag:web -> tag:api tcp/8000)" \
	pctl_ok a --admin-token "$TOKEN" policy set 20 "$E2E_WORK/pol.json" || info "reply: $PCTL_OUT"
e2e_serve b 8000 http "bob-page" || fatal "HTTP server on B"
check "B (certificate tag web) -> A (api): passes" e2e_wait 10 curl6 b "$A20" 8000 "$E2E_WORK/p1b"
# Were self-set tags to count, A (web) -> B (api) would pass the rule.
check "A sets its own tags to web, B to api (set-tags)" \
	eval 'pctl_ok a set-tags web && pctl_ok b set-tags api'
check "policy test 20 A B tcp/8000: denied (A's tags there are its certificate's)" \
	eval 'pctl a policy test 20 "$A" "$B" tcp/8000 | grep -q "\"allowed\":false"'
check "A -> B over network 20 is refused (self-set tags do not count)" \
	eval '! curl6 a "$B20" 8000 "$E2E_WORK/p1c"'
check "admin: policy set 20 back to no rules" eval 'echo "{\"rules\":[]}" >"$E2E_WORK/pol0.json" &&
	pctl_ok a --admin-token "$TOKEN" policy set 20 "$E2E_WORK/pol0.json"'

# ------------------------------------------------------------ refusals, each with its code
refused() { # LABEL CODE CERTFILE
	if pctl_ok c network join 20 --cert "$3"; then
		not_ok "C: $1 is refused (it was admitted)"
		pctl_ok c network leave 20 >/dev/null
		return
	fi
	check "C: $1 is refused with code $2 (got $(code_of))" [ "$(code_of)" = "$2" ]
}
check "C: join 20 without a certificate: cert_required" \
	eval '! pctl_ok c network join 20 && [ "$(code_of)" = cert_required ]'
ctl_ok ca sign --ca "$CA2" --public-key "$(pk_of c)" --out "$CERTS/c-other.crt"
refused "a certificate from another CA" cert_wrong_ca "$CERTS/c-other.crt"
refused "A's certificate (another node's key)" cert_wrong_key "$CERTS/a.crt"
sign c "$(pk_of c)" --tags web
# Tampered: one bit of the not-after (inside the signed part) flipped.
"$PY" - "$CERTS/c.crt" "$CERTS/c-tampered.crt" <<'PY'
import base64, sys
t = open(sys.argv[1]).read().splitlines()
b = bytearray(base64.b64decode("".join(t[1:-1])))
b[39] ^= 1
s = base64.b64encode(bytes(b)).decode()
open(sys.argv[2], "w").write("-----BEGIN PILOT CERTIFICATE-----\n" + s + "\n-----END PILOT CERTIFICATE-----\n")
PY
refused "a tampered certificate" cert_bad_signature "$CERTS/c-tampered.crt"
sign c-short "$(pk_of c)" --lifetime 2s
sleep 2.2
refused "an expired certificate" cert_expired "$CERTS/c-short.crt"
check "C: join 20 with a good certificate works" pctl_ok c network join 20 --cert "$CERTS/c.crt" ||
	info "reply: $PCTL_OUT"
check "C: network leave 20" pctl_ok c network leave 20

# ------------------------------------------------------------ revocation
C_SERIAL=$(ctl ca show "$CERTS/c.crt" | jget data.serial)
check "admin: ca revoke 20 C's serial" pctl_ok a --admin-token "$TOKEN" ca revoke 20 "$C_SERIAL" ||
	info "reply: $PCTL_OUT"
refused "a revoked serial" cert_revoked "$CERTS/c.crt"
sign c2 "$(pk_of c)"
check "admin: ca revoke 20 C's key" pctl_ok a --admin-token "$TOKEN" ca revoke 20 "$(pk_of c)"
refused "a fresh certificate for a revoked key" cert_key_revoked "$CERTS/c2.crt"
check "ca crl 20 (a member) lists the serial" \
	eval 'pctl_ok b ca crl 20 && grep -q "$C_SERIAL" <<<"$PCTL_OUT"'
check "ca crl 20 is refused to a non-member" eval '! pctl_ok c ca crl 20'

# A live A-B connection, cut when A's serial is revoked.
e2e_serve a 8001 hold "held" || fatal "holding server on A"
ST=$E2E_WORK/hold.status
e2e_bg "${HOST_NS[b]}" "$E2E_WORK/hold-client.out" "$PY" "$E2E_HELPER" hold-client --host "$A20" \
	--port 8001 --status "$ST" --max-seconds 15
HOLD=$LASTPID
e2e_wait 10 grep -qs '^connected' "$ST" || fatal "B holds an open TCP connection to A over network 20 ($(cat "$ST" 2>/dev/null))"
ok "B holds an open TCP connection to A over network 20"
sleep 0.3
t0=$(e2e_now)
check "admin: ca revoke 20 A's serial" pctl_ok b --admin-token "$TOKEN" ca revoke 20 "$A_SERIAL"
e2e_wait 5 grep -qs '^closed' "$ST"
e2e_check_cut "$ST" "$t0" 0 1.0 "revoking A's serial cut the open connection within 1 s"
e2e_stop_pids "$HOLD"
check "A is no longer listed in network 20" \
	e2e_wait 5 eval '! pctl b network nodes 20 | jget "data.nodes[].node_id" | grep -qx "$A"'
check "A itself learns it is out: no network 20 in its info (address dropped)" \
	e2e_wait 3 eval '! pctl a info | jget "data.networks[].network_id" | grep -qx 20'

# ------------------------------------------------------------ expiry without a command
sign a-5s "$(pk_of a)" --lifetime 5s --tags api
check "A: join 20 again with a 5 s certificate" pctl_ok a network join 20 --cert "$CERTS/a-5s.crt" ||
	info "reply: $PCTL_OUT"
NA=$(jget data.cert_not_after <<<"$PCTL_OUT")
check "B -> A over network 20 again" e2e_wait 5 curl6 b "$A20" 8000 "$E2E_WORK/p2"
e2e_bg "${HOST_NS[b]}" "$E2E_WORK/hold-client2.out" "$PY" "$E2E_HELPER" hold-client --host "$A20" \
	--port 8001 --status "$ST.2" --max-seconds 15
HOLD=$LASTPID
e2e_wait 5 grep -qs '^connected' "$ST.2" || info "no second hold ($(cat "$ST.2" 2>/dev/null))"
e2e_wait 12 grep -qs '^closed' "$ST.2"
e2e_check_cut "$ST.2" "$NA" -1.0 1.5 "the 5 s certificate ended the connection at its not-after"
e2e_stop_pids "$HOLD"
check "A is out of network 20 after its certificate expired" \
	e2e_wait 5 eval '! pctl b network nodes 20 | jget "data.nodes[].node_id" | grep -qx "$A"'

# ------------------------------------------------------------ revoking the CA
check "admin: ca revoke 20 the CA's fingerprint" pctl_ok a --admin-token "$TOKEN" ca revoke 20 "$CA_FP" ||
	info "reply: $PCTL_OUT"
check "B is out of network 20 (everything the CA signed)" \
	e2e_wait 5 eval '! pctl_ok b network nodes 20'
sign a2 "$(pk_of a)"
check "A: a fresh certificate from the revoked CA: cert_ca_revoked" \
	eval '! pctl_ok a network join 20 --cert "$CERTS/a2.crt" && [ "$(code_of)" = cert_ca_revoked ]'

check "registry audit has the refusals and revocations" \
	eval 'pctl a --admin-token "$TOKEN" audit --registry --limit 500 | grep -q network.join_refused &&
	      pctl a --admin-token "$TOKEN" audit --registry --limit 500 | grep -q ca.revoked'
e2e_finish
