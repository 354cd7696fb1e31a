#!/bin/sh
# attacks.sh - end-to-end: the reference's audit findings that no other test
# shows both refused and recorded (doc/ATTACKS.md has the whole table).
# A and B trust each other; C is a stranger (no trust, no shared network);
# each check fails if the attack works:
#   (1) a replayed signed registry request (pilot-regreq): 409 replay, and
#       the registry's audit has security.nonce_replay for it
#   (2) a handshake accepted without a request: C approves A, who never
#       asked: not_found; no trust pair on either side, none in the audit
#   (3) an owner string used as a bearer secret: an org's name and ID used
#       as its enroll token and as an admin token grant nothing; the admin
#       attempt is audited as security.unauthorized
#   (4) unauthenticated reputation updates: a report without a signature or
#       with a forged one is refused (401, security.bad_signature); a signed
#       report from C, who shares nothing with A, is forbidden
#       (reputation.report_refused); A's score does not move
#   (5) resolve enumeration of the backbone: C's resolve and lookup of B
#       (private) get the very answer a node ID nobody has gets; a sweep of
#       150 IDs from one address is cut short by the per-source rate limit
# Needs root; exit 77 (skip) otherwise.  See lib.sh for the topology.
[ -z "${BASH_VERSION:-}" ] && { command -v bash >/dev/null 2>&1 || { echo "SKIP: no bash"; exit 77; }; exec bash "$0" "$@"; }
. "$(dirname "$0")/lib.sh"

e2e_init
e2e_require
TOKEN="e2e-admin-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
RDV_EXTRA_ARGS="--admin-token $TOKEN"
REGREQ=${REGREQ:-$(dirname "$PILOTCTL")/tests/tools/pilot-regreq}
[ -x "$REGREQ" ] || fatal "pilot-regreq test tool built ($REGREQ)"

e2e_lan a b c
for n in a b c; do e2e_start_node "$n" "node-$n" || fatal "pilotd $n ready"; done
e2e_establish_trust a b || fatal "a and b trust each other"
check "B is private" pctl_ok b set-private
ok "setup: A and B trust each other; C is a stranger"
A=${NODE_ID[a]} B=${NODE_ID[b]} C=${NODE_ID[c]}

# regreq NODE OP [JSON]: one signed request by NODE, sent twice (pilot-regreq)
regreq() {
	local n=$1; shift
	ip netns exec "${HOST_NS[$n]}" "$REGREQ" "${NODE_DIR[$n]}/state" "$RDV_IP:$RDV_PORT" "$RDV_PIN" "$@" 2>&1
}
# raudit TYPE: the registry's audit records of TYPE (JSON)
raudit() { pctl a --admin-token "$TOKEN" audit --registry --type "$1" --limit 1000 2>/dev/null; }
# rec_count TYPE PYEXPR: how many records of TYPE PYEXPR (over r, the record;
# json is at hand) holds for; "error" when the audit could not be read
rec_count() {
	raudit "$1" | "$PY" -c '
import json, sys
try:
    dd = json.load(sys.stdin)["data"]
    recs = dd.get("events") or dd.get("records") or []
    print(sum(1 for r in recs if eval(sys.argv[1], {"json": json}, {"r": r})))
except Exception as e:
    print("error:", e)' "$2"
}
has_rec() { local n; n=$(rec_count "$@"); [ "$n" -ge 1 ] 2>/dev/null; }
no_rec() { [ "$(rec_count "$@")" = 0 ]; }
# unsigned NODE OP JSON [SIG]: a node request for OP claiming to be NODE,
# with signature SIG (none when empty), sent from C's namespace; prints
# "STATUS BODY"
unsigned() {
	ip netns exec "${HOST_NS[c]}" "$PY" - "$RDV_IP" "$RDV_PORT" "$2" "$1" "$3" "${4:-}" <<'PY'
import base64, http.client, json, os, ssl, sys, time
host, port, op, node, extra, sig = sys.argv[1:7]
body = {"op": op, "node_id": int(node), "ts": int(time.time() * 1000),
        "nonce": base64.b64encode(os.urandom(16)).decode()}
body.update(json.loads(extra))
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
c = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=10)
h = {"Content-Type": "application/json"}
if sig:
    h["Pilot-Signature"] = sig
c.request("POST", "/v1/node/" + op, json.dumps(body), h)
r = c.getresponse()
print(r.status, r.read().decode())
PY
}

# ------------------------------------------------------------ (1) a replayed signed request
out=$(regreq b heartbeat '{"listen_port":4242}')
info "(1) signed heartbeat sent twice: $(tr '\n' ' ' <<<"$out")"
check "(1) a signed request is accepted once" eval 'grep -q "^1 200 " <<<"$out"'
check "(1) the same bytes sent again are refused as a replay (409)" eval 'grep -q "^2 409 .*replay" <<<"$out"'
check "(1) the registry audited it: security.nonce_replay, op heartbeat, claimed node B" \
	e2e_wait 5 has_rec security.nonce_replay \
	"(r.get('details') or {}).get('op') == 'heartbeat' and str((r.get('details') or {}).get('claimed_node')) == '$B'"

# ------------------------------------------------------------ (2) approve with no request
out=$(pctl c approve "$A" 2>&1)
check "(2) C's approve of A, who never asked, is refused: not_found ($(jget code <<<"$out" 2>/dev/null))" \
	eval '[ "$(jget code <<<"$out" 2>/dev/null)" = not_found ]'
out=$(regreq c approve "{\"target\":$A}")
check "(2) ... signed straight to the registry too: 404" eval 'grep -q "^1 404 " <<<"$out"'
check "(2) C does not trust A" eval '! pctl_has c trust "data.trusted[].node_id" "$A"'
check "(2) A does not trust C" eval '! pctl_has a trust "data.trusted[].node_id" "$C"'
check "(2) the registry lists no trust pair A-C (A's trusts)" \
	eval '! regreq a trusts | grep "^1 " | grep -q "\"node_id\": *$C[,}]"'
check "(2) the registry's audit shows trust.approved for the real pair A-B (control)" has_rec trust.approved True
check "(2) no trust.approved record names C" \
	no_rec trust.approved "'node:$C' in json.dumps(r) or '\"node_id\": $C' in json.dumps(r)"

# ------------------------------------------------------------ (3) an owner string as a secret
out=$(pctl a --admin-token "$TOKEN" org create acme 2>&1)
ORG=$(jget data.org_id <<<"$out" 2>/dev/null)
check "(3) admin: org create acme (org $ORG)" [ -n "$ORG" ]
NETTOK="acme-secret-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
check "(3) admin: network create acme-net --id 40 in org acme" \
	pctl_ok a --admin-token "$TOKEN" network create acme-net --id 40 --join-rule token --token "$NETTOK" --org "$ORG"
for guess in acme "$ORG" acme-net; do
	out=$(pctl c org enroll "$ORG" --token "$guess" 2>&1)
	check "(3) C: org enroll $ORG --token '$guess' (the owner's name or ID) is refused ($(jget code <<<"$out" 2>/dev/null))" \
		eval '[ "$(jget status <<<"$out" 2>/dev/null)" = error ]'
done
check "(3) C is in no network of the org" eval '! pctl c info | grep -q "\"networks\":[^]]*\b40\b"'
for guess in acme "$ORG"; do
	out=$(pctl c --admin-token "$guess" org members "$ORG" 2>&1)
	check "(3) '$guess' as an admin token: unauthorized ($(jget code <<<"$out" 2>/dev/null))" \
		eval '[ "$(jget code <<<"$out" 2>/dev/null)" = unauthorized ]'
done
check "(3) the registry audited the bearer attempts: security.unauthorized from C's address" \
	e2e_wait 5 has_rec security.unauthorized "'${HOST_IP[c]}' in json.dumps(r)"

# ------------------------------------------------------------ (4) reputation without authority
score0=$(pctl b score "$A" | jget data.factors.bad_reports)
out=$(unsigned "$B" report "{\"target\":$A,\"verdict\":\"bad\"}")
check "(4) an unsigned report claiming to be B is refused: 401 ($out)" eval 'grep -q "^401 .*bad_signature" <<<"$out"'
FAKESIG=$(head -c 64 /dev/urandom | base64 -w0)
out=$(unsigned "$B" report "{\"target\":$A,\"verdict\":\"bad\"}" "$FAKESIG")
check "(4) a report with a forged signature is refused: 401 ($out)" eval 'grep -q "^401 .*bad_signature" <<<"$out"'
check "(4) the registry audited them: security.bad_signature, op report, claimed node B" \
	e2e_wait 5 has_rec security.bad_signature \
	"(r.get('details') or {}).get('op') == 'report' and str((r.get('details') or {}).get('claimed_node')) == '$B'"
out=$(regreq c report "{\"target\":$A,\"verdict\":\"bad\"}")
check "(4) C's signed report on A (no trust, no shared network) is forbidden (403)" \
	eval 'grep -q "^1 403 .*forbidden" <<<"$out"'
check "(4) the registry audited it: reputation.report_refused" \
	e2e_wait 5 has_rec reputation.report_refused "'$C' in json.dumps(r)"
check "(4) A's bad reports did not move ($score0 -> $(pctl b score "$A" | jget data.factors.bad_reports))" \
	eval '[ "$(pctl b score "$A" | jget data.factors.bad_reports)" = "$score0" ]'
check "(4) no reputation.report record names C" no_rec reputation.report "r.get('actor') == 'node:$C'"

# ------------------------------------------------------------ (5) resolve enumeration
NOBODY=$((C + 1000))
body_of() { grep '^1 ' | cut -d' ' -f2-; }
for op in resolve lookup; do
	rb=$(regreq c "$op" "{\"target\":$B}" | body_of)
	rn=$(regreq c "$op" "{\"target\":$NOBODY}" | body_of)
	info "(5) C $op B: $rb; C $op $NOBODY: $rn"
	check "(5) C's $op of B (private, no basis) is 404 not_found" eval 'grep -q "^404 .*not_found" <<<"$rb"'
	check "(5) ... byte-identical to the answer for a node ID nobody has" [ "$rb" = "$rn" ]
	check "(5) ... and names neither B's key nor its endpoint" \
		eval '! grep -q "public_key\|endpoint\|${HOST_IP[b]}" <<<"$rb"'
done
check "(5) pilotd C: find node-b gets not_found" \
	eval '[ "$(pctl c find node-b | jget code 2>/dev/null)" = not_found ]'
# A sweep of 150 IDs on one kept-alive connection from C's address: the
# registry's per-source bucket (50/s, burst 100) answers 429 before the end.
sweep=$(ip netns exec "${HOST_NS[c]}" "$PY" - "$RDV_IP" "$RDV_PORT" "$C" <<'PY'
import base64, http.client, json, os, ssl, sys, time
host, port, me = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
codes = {}
c = http.client.HTTPSConnection(host, port, context=ctx, timeout=10)
t0 = time.time()
for target in range(1, 151):
    if time.time() - t0 > 20:
        break
    body = json.dumps({"op": "resolve", "node_id": me, "ts": int(time.time() * 1000),
                       "nonce": base64.b64encode(os.urandom(16)).decode(), "target": target})
    try:
        c.request("POST", "/v1/node/resolve", body, {"Content-Type": "application/json"})
        r = c.getresponse()
        r.read()
        codes[r.status] = codes.get(r.status, 0) + 1
    except (OSError, http.client.HTTPException):
        c.close()
        c = http.client.HTTPSConnection(host, port, context=ctx, timeout=10)
        codes["conn"] = codes.get("conn", 0) + 1
print(" ".join("%s:%d" % (k, v) for k, v in sorted(codes.items(), key=str)), "%.2fs" % (time.time() - t0))
PY
)
info "(5) sweep of 150 resolves from C's address: $sweep"
check "(5) the sweep was rate limited (429 answers: $sweep)" eval 'grep -q "429:[1-9]" <<<"$sweep"'
check "(5) ... and not one of its (unsigned) resolves was answered 200" eval '! grep -q "200:" <<<"$sweep"'

check "all daemons still running" \
	eval 'for n in a b c; do e2e_alive "${NODE_PID[$n]}" || exit 1; done; e2e_alive "$RDV_PID"'
e2e_finish
