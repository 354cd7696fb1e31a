#!/bin/sh
# reputation.sh - end-to-end: reputation and "min_score" (issue 16).
#   - a token network whose one rule needs min_score 15; a new node S is
#     below it: S -> A tcp/8000 is refused; `score` shows it with factors
#   - a node that shares nothing with S is refused a report (forbidden)
#   - B and C approve S's handshake requests, A (a member of the network)
#     reports S good: S's score passes 15 and S reaches A's HTTP server
#   - S holds a connection to A; B reports S bad: the score falls below 15,
#     the held connection is cut within 2 s, new ones are refused
#   - a captured signed report sent again is refused as a replay
#   - pilotctl block tells the registry: the block counts against S
# Needs root; exit 77 (skip) otherwise.
[ -z "${BASH_VERSION:-}" ] && { command -v bash >/dev/null 2>&1 || { echo "SKIP: no bash"; exit 77; }; exec bash "$0" "$@"; }
. "$(dirname "$0")/lib.sh"

e2e_init
e2e_require curl
TOKEN="e2e-admin-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
NETTOK="net-secret-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
RDV_EXTRA_ARGS="--admin-token $TOKEN"
E2E_TIMEOUT=${E2E_TIMEOUT:-360}
REGREQ=${REGREQ:-$(dirname "$PILOTCTL")/tests/tools/pilot-regreq}
NET=30

e2e_underlay
e2e_host rdv 1
NODES="s a b c"
i=2
for n in $NODES; do e2e_host "$n" "$i"; i=$((i + 1)); done
e2e_start_rdv
for n in $NODES; do e2e_start_node "$n" "node-$n" || fatal "pilotd $n ready"; done
ok "rendezvous and four nodes up"

score_of() { pctl "$1" score "${NODE_ID[$2]}" | jget data.score; } # ASKER NODE
below() { local v; v=$(score_of s s) && [ -n "$v" ] && [ "$v" -lt 15 ]; }
above() { local v; v=$(score_of s s) && [ -n "$v" ] && [ "$v" -ge 15 ]; }
json_ok() { "$PY" -c 'import json,sys; d=json.load(sys.stdin); sys.exit(d.get("status") != "ok")'; }

# ------------------------------------------------------------ the network and its threshold
check "admin: network create rep --id $NET --join-rule token" \
	pctl_ok s --admin-token "$TOKEN" network create rep --id "$NET" --join-rule token --token "$NETTOK" ||
	info "reply: $PCTL_OUT"
for n in s a; do
	check "$n: network join $NET" pctl_ok "$n" network join "$NET" --token "$NETTOK" || info "reply: $PCTL_OUT"
done
cat >"$E2E_WORK/rep.json" <<'JSON'
{"rules": [{"name": "earned", "from": ["*"], "to": ["*"], "ports": ["tcp/8000-8001"], "min_score": 15}]}
JSON
check "admin: policy set $NET (min_score 15)" pctl_ok s --admin-token "$TOKEN" policy set "$NET" "$E2E_WORK/rep.json" ||
	info "reply: $PCTL_OUT"
check "policy show keeps min_score" eval 'pctl a policy show "$NET" | grep -q "\"min_score\":15"'
cat >"$E2E_WORK/bad.json" <<'JSON'
{"rules": [{"from": ["*"], "to": ["*"], "ports": ["tcp/1"], "min_score": 101}]}
JSON
out=$(pctl s --admin-token "$TOKEN" policy set "$NET" "$E2E_WORK/bad.json" 2>&1)
check "a min_score of 101 is refused, naming rule and field" eval 'grep -q "rule 0: .min_score. must be an integer from 0 to 100" <<<"$out"'
A30=$(e2e_addr_in a "$NET")
e2e_serve a 8000 http "a-page" || fatal "HTTP server on A:8000"
e2e_serve a 8001 hold "held" || fatal "holding server on A:8001"

# ------------------------------------------------------------ a new node is below
check "S starts below 15" below
out=$(pctl s score "${NODE_ID[s]}")
info "S: $(tr -d '\n' <<<"$out")"
check "score --json parses, with factors" eval 'json_ok <<<"$out" && [ -n "$(jget data.factors.age_days <<<"$out")" ]'
txt=$(ip netns exec "${HOST_NS[s]}" "$PILOTCTL" --socket "${NODE_SOCK[s]}" score "${NODE_ID[s]}")
check "score (text) shows the score and a line per factor" \
	eval 'grep -q "^score" <<<"$txt" && grep -q "^penalty" <<<"$txt" && [ "$(wc -l <<<"$txt")" -ge 19 ]'
res=$(e2e_try_connect s "$A30" 8000); rc=$?
check "S -> A tcp/8000 is refused while S is below ($res)" [ "$rc" != 0 ]
check "policy test explains the miss (min_score 15)" \
	eval 'pctl a policy test "$NET" "${NODE_ID[s]}" "${NODE_ID[a]}" tcp/8000 | grep -q "\"min_score\":15"'

# ------------------------------------------------------------ no shared basis: forbidden
out=$(pctl c report "${NODE_ID[s]}" --bad "never met" 2>&1)
check "C (shares nothing with S) may not report it: forbidden" eval '[ "$(jget code <<<"$out")" = forbidden ]'
check "... and --json parses" eval 'json_ok <<<"$out" || [ "$(jget status <<<"$out")" = error ]'
ip netns exec "${HOST_NS[c]}" "$PILOTCTL" --socket "${NODE_SOCK[c]}" report "${NODE_ID[s]}" >/dev/null 2>&1
check "report without --good/--bad is a usage error (exit 2)" [ "$?" = 2 ]
ip netns exec "${HOST_NS[c]}" "$PILOTCTL" --socket "${NODE_SOCK[c]}" report "${NODE_ID[s]}" --good --bad >/dev/null 2>&1
check "report with both is a usage error (exit 2)" [ "$?" = 2 ]

# ------------------------------------------------------------ S earns it
check "B approves S's handshake request" e2e_establish_trust s b
check "C approves S's handshake request" e2e_establish_trust s c
info "S after two approvals: $(score_of s s)"
check "... still below 15 (two fresh approvers count as one)" below
check "A reports S good" pctl_ok a report "${NODE_ID[s]}" --good "served well"
check "S's score is now >= 15 ($(score_of a s))" e2e_wait 5 above
check "info shows S's score (after a heartbeat)" \
	e2e_wait 40 eval '[ "$(pctl s info | jget data.score)" -ge 15 ] 2>/dev/null'
check "S -> A tcp/8000 (curl) works once S has earned it" \
	e2e_wait 15 eval 'ip netns exec "${HOST_NS[s]}" curl -sS --max-time 3 -o /dev/null "http://[$A30]:8000/"'

# ------------------------------------------------------------ a replayed report
if [ -x "$REGREQ" ]; then
	out=$(ip netns exec "${HOST_NS[a]}" "$REGREQ" "${NODE_DIR[a]}/state" "$RDV_IP:$RDV_PORT" "$RDV_PIN" \
		report "{\"target\":${NODE_ID[s]},\"verdict\":\"good\"}" 2>&1)
	info "signed report sent twice: $(tr '\n' ' ' <<<"$out")"
	check "a signed report is accepted once" eval 'grep -q "^1 200 " <<<"$out"'
	check "the same signed report sent again is refused as a replay" eval 'grep -q "^2 409 .*replay" <<<"$out"'
else
	not_ok "pilot-regreq test tool built ($REGREQ)"
fi

# ------------------------------------------------------------ reported bad: below, cut
ST=$E2E_WORK/hold.status
e2e_wait 15 e2e_hold s "$A30" 8001 "$ST" || fatal "S holds a connection to A:8001"
ok "S holds an open connection to A tcp/8001"
t0=$(date +%s.%N)
check "B reports S bad" pctl_ok b report "${NODE_ID[s]}" --bad "spam"
check "C reports S bad" pctl_ok c report "${NODE_ID[s]}" --bad "spam too"
check "S's score fell below 15 ($(score_of s s))" below
e2e_wait 5 grep -qs '^closed' "$ST"
e2e_check_cut "$ST" "$t0" 0 2.0 "the held connection was cut when S fell below 15"
e2e_stop_pids "$HOLD"
res=$(e2e_try_connect s "$A30" 8000); rc=$?
check "new connections S -> A tcp/8000 are refused again ($res)" [ "$rc" != 0 ]
out=$(pctl b score "${NODE_ID[s]}")
check "the factors count two bad reports" eval '[ "$(jget data.factors.bad_reports <<<"$out")" = 2 ]'
check "A: block S (pilotd tells the registry)" pctl_ok a block "${NODE_ID[s]}"
check "the registry counts the block against S" \
	e2e_wait 5 eval '[ "$(pctl b score "${NODE_ID[s]}" | jget data.factors.blocks)" = 1 ]'
check "the registry audited the reports" \
	eval 'pctl s --admin-token "$TOKEN" audit --registry --type reputation.report | grep -q "\"verdict\":\"bad\""'
check "all daemons still running" eval 'for n in $NODES; do e2e_alive "${NODE_PID[$n]}" || exit 1; done; e2e_alive "$RDV_PID"'
e2e_finish
