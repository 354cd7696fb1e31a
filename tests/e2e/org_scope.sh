#!/bin/sh
# org_scope.sh - end-to-end: an org admin's `org revoke` reaches its own org
# only (issue 21 item 3).  Orgs A and B each own a network (30 and 40); X is
# a member of both, PA of A, PB of B.  X downloads from PA over network 30
# and from PB over network 40 (curl from python3 -m http.server, at a
# limited rate, so that both transfers are under way at the revoke); PA
# holds a connection to X over 30 and PB one over 40.
#   - B's admin cannot revoke PA (not in B)
#   - A's admin revokes X: the transfer and the held connection over 30 are
#     cut at once, and new connections over 30 are refused both ways; the
#     transfer over 40 completes intact and the held connection over 40
#     stays; X stays registered (its key is not banned), in B and in 40;
#     it cannot enroll in A again; each change has its registry audit
#     record naming A's admin
#   - the deployment admin's revoke of X then cuts its flow over 40 too
# Needs root; exit 77 (skip) otherwise.
[ -z "${BASH_VERSION:-}" ] && { command -v bash >/dev/null 2>&1 || { echo "SKIP: no bash"; exit 77; }; exec bash "$0" "$@"; }
. "$(dirname "$0")/lib.sh"

e2e_init
e2e_require curl
TOKEN="e2e-admin-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
NETTOK="net-secret-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
RDV_EXTRA_ARGS="--admin-token $TOKEN"
E2E_TIMEOUT=${E2E_TIMEOUT:-300}
# A transfer of about 8 s, read slowly by curl; X's receive buffers are
# kept small (below), so that what was sent before a cut is not read for
# seconds after it.
FILE_KIB=8192 RATE=1M

e2e_underlay
e2e_host rdv 1
e2e_host x 2
e2e_host pa 3
e2e_host pb 4
e2e_start_rdv
e2e_start_node x xeno || fatal "pilotd x ready"
e2e_start_node pa node-pa || fatal "pilotd pa ready"
e2e_start_node pb node-pb || fatal "pilotd pb ready"
X=${NODE_ID[x]} PA=${NODE_ID[pa]} PB=${NODE_ID[pb]}
ok "three nodes up: X=$X PA=$PA PB=$PB"

# ------------------------------------------------------------ two orgs, a network each
mkorg() { # NAME: ORG_ID, ENROLL, ORGADM of a new org
	pctl_ok x --admin-token "$TOKEN" org create "$1" || return 1
	ORG_ID=$(jget data.org_id <<<"$PCTL_OUT")
	ENROLL=$(jget data.enroll_token <<<"$PCTL_OUT")
	ORGADM=$(jget data.admin_token <<<"$PCTL_OUT")
}
mkorg alpha || fatal "admin: org create alpha ($PCTL_OUT)"
OA=$ORG_ID ENROLL_A=$ENROLL ADM_A=$ORGADM
mkorg beta || fatal "admin: org create beta ($PCTL_OUT)"
OB=$ORG_ID ENROLL_B=$ENROLL ADM_B=$ORGADM
ok "orgs A=$OA and B=$OB"
check "A's admin: network create a-net --id 30 (org A)" \
	pctl_ok pa --admin-token "$ADM_A" network create a-net --id 30 --join-rule token --token "$NETTOK" --org "$OA" ||
	info "reply: $PCTL_OUT"
check "B's admin: network create b-net --id 40 (org B)" \
	pctl_ok pb --admin-token "$ADM_B" network create b-net --id 40 --join-rule token --token "$NETTOK" --org "$OB" ||
	info "reply: $PCTL_OUT"
for e in "x $OA $ENROLL_A" "x $OB $ENROLL_B" "pa $OA $ENROLL_A" "pb $OB $ENROLL_B"; do
	set -- $e
	check "$1: org enroll $2" pctl_ok "$1" org enroll "$2" --token "$3" || info "reply: $PCTL_OUT"
done
XA=$(e2e_addr_in x 30) XB=$(e2e_addr_in x 40) PA30=$(e2e_addr_in pa 30) PB40=$(e2e_addr_in pb 40)
check "X carries its network-30 address" e2e_wait 10 e2e_has_addr x pilot0 "$XA"
check "X carries its network-40 address" e2e_wait 10 e2e_has_addr x pilot0 "$XB"
check "no trust pairs: every flow below is admitted by membership" \
	eval '[ -z "$(pctl x trust | jget "data.trusted[].node_id")" ]'

# ------------------------------------------------------------ flows over each org's network
webroot() { # NODE: blob (FILE_KIB) and small (64 KiB), served by python3 -m http.server on 8080
	local d=$E2E_WORK/$1/www
	mkdir -p "$d" && head -c $((FILE_KIB * 1024)) /dev/urandom >"$d/blob" &&
		head -c 65536 /dev/urandom >"$d/small" || return 1
	e2e_bg "${HOST_NS[$1]}" "$E2E_WORK/$1/http.log" "$PY" -m http.server --bind :: --directory "$d" 8080
	e2e_add_log "http-$1" "$E2E_WORK/$1/http.log"
	e2e_wait 5 e2e_tcp_open "${HOST_NS[$1]}" ::1 8080
}
webroot pa || fatal "python3 -m http.server on PA"
webroot pb || fatal "python3 -m http.server on PB"
check "X -> PA over network 30 (curl)" \
	e2e_wait 15 eval 'ip netns exec "${HOST_NS[x]}" curl -sS --max-time 3 -o /dev/null "http://[$PA30]:8080/small"'
check "X -> PB over network 40 (curl)" \
	e2e_wait 15 eval 'ip netns exec "${HOST_NS[x]}" curl -sS --max-time 3 -o /dev/null "http://[$PB40]:8080/small"'
e2e_serve x 9000 hold "held-x" || fatal "holding server on X:9000"
e2e_wait 10 e2e_hold pa "$XA" 9000 "$E2E_WORK/pa-hold" 120 || fatal "PA holds a connection to X over 30"
HOLD_A=$HOLD
e2e_wait 10 e2e_hold pb "$XB" 9000 "$E2E_WORK/pb-hold" 120 || fatal "PB holds a connection to X over 40"
HOLD_B=$HOLD
ok "PA and PB hold connections to X over 30 and 40"

ip netns exec "${HOST_NS[x]}" sysctl -qw net.ipv4.tcp_rmem="4096 131072 131072" ||
	fatal "X's TCP receive buffers at 128 KiB"
download() { # NODE URL OUT: a rate-limited curl in the background; DL_PID, exit status in OUT.rc
	rm -f "$3" "$3.rc"
	e2e_bg "${HOST_NS[$1]}" "$3.log" sh -c 'curl -sS --max-time 60 --limit-rate "$1" -o "$2" "$3"; echo $? >"$2.rc"' \
		sh "$RATE" "$3" "$2"
	DL_PID=$LASTPID
}
download x "http://[$PA30]:8080/blob" "$E2E_WORK/dl-a"
DL_A=$DL_PID
download x "http://[$PB40]:8080/blob" "$E2E_WORK/dl-b"
DL_B=$DL_PID
growing() { [ "$(stat -c %s "$1" 2>/dev/null || echo 0)" -gt 65536 ]; }
check "both transfers are under way" e2e_wait 10 eval 'growing "$E2E_WORK/dl-a" && growing "$E2E_WORK/dl-b"'

# ------------------------------------------------------------ org B's admin: not its member
check "B's admin: org revoke PA (not in B) is refused" \
	eval '! pctl_ok pb --admin-token "$ADM_B" org revoke "$PA"'
check "... not_found" eval '[ "$(jget code <<<"$PCTL_OUT")" = not_found ]'
check "B's admin: org revoke X --org A is refused (forbidden)" \
	eval '! pctl_ok pb --admin-token "$ADM_B" org revoke "$X" --org "$OA" && [ "$(jget code <<<"$PCTL_OUT")" = forbidden ]'

# ------------------------------------------------------------ org A's admin revokes X
t0=$(e2e_now)
check "A's admin: org revoke X" pctl_ok pa --admin-token "$ADM_A" org revoke "$X" || info "reply: $PCTL_OUT"
info "reply: $PCTL_OUT"
check "... scope org, org $OA" \
	eval '[ "$(jget data.scope <<<"$PCTL_OUT")" = org ] && [ "$(jget data.org_id <<<"$PCTL_OUT")" = "$OA" ]'
check "... left network 30 only" eval '[ "$(jget "data.networks_left[]" <<<"$PCTL_OUT" | tr "\n" " ")" = "30 " ]'
e2e_wait 5 grep -qs '^closed' "$E2E_WORK/pa-hold"
e2e_check_cut "$E2E_WORK/pa-hold" "$t0" 0 2.0 "the held connection PA -> X over 30 was cut"
e2e_wait 3 test -e "$E2E_WORK/dl-a.rc"
rc=$(cat "$E2E_WORK/dl-a.rc" 2>/dev/null)
el=$(e2e_elapsed "$t0")
check "the transfer X <- PA over 30 was cut (curl exit ${rc:-none}, ${el}s after the revoke)" \
	eval '[ -n "$rc" ] && [ "$rc" != 0 ] && e2e_le "$el" 2.0'
check "... short of its end ($(stat -c %s "$E2E_WORK/dl-a" 2>/dev/null) bytes)" \
	eval '[ "$(stat -c %s "$E2E_WORK/dl-a")" -lt $((FILE_KIB * 1024)) ]'
res=$(e2e_try_connect x "$PA30" 8080); rc=$?
check "a new connection X -> PA over 30 is refused ($res)" [ "$rc" != 0 ]
res=$(e2e_try_connect pa "$XA" 9000); rc=$?
check "a new connection PA -> X over 30 is refused ($res)" [ "$rc" != 0 ]
check "X no longer carries its network-30 address" e2e_wait 5 eval '! e2e_has_addr x pilot0 "$XA"'

check "the held connection PB -> X over 40 is still open" eval '! grep -qs "^closed" "$E2E_WORK/pb-hold"'
check "the transfer X <- PB over 40 completes" e2e_wait 40 test -e "$E2E_WORK/dl-b.rc"
check "... with curl exit 0 (got $(cat "$E2E_WORK/dl-b.rc" 2>/dev/null))" \
	eval '[ "$(cat "$E2E_WORK/dl-b.rc")" = 0 ]'
check "... and the whole file, intact" cmp -s "$E2E_WORK/dl-b" "$E2E_WORK/pb/www/blob"
check "a new connection X -> PB over 40 works (curl)" \
	eval 'ip netns exec "${HOST_NS[x]}" curl -sS --max-time 5 -o "$E2E_WORK/dl-b2" "http://[$PB40]:8080/small" &&
	      cmp -s "$E2E_WORK/dl-b2" "$E2E_WORK/pb/www/small"'
check "X still carries its network-40 address" e2e_has_addr x pilot0 "$XB"
check "the held connection PB -> X over 40 survived all that" eval '! grep -qs "^closed" "$E2E_WORK/pb-hold"'

# ------------------------------------------------------------ what stays, what A refuses
check "X is still registered (its key is not banned)" \
	eval 'pctl x status | grep -q "\"registered\":true"'
check "PB still finds X by name" eval 'pctl_ok pb find xeno && [ "$(jget data.node_id <<<"$PCTL_OUT")" = "$X" ]'
check "PA does not list X as revoked" eval '! pctl_has pa blocklist "data.revoked[].node_id" "$X"'
check "org A's members: PA only" \
	eval '[ "$(pctl pa --admin-token "$ADM_A" org members "$OA" | jget "data.nodes[].node_id" | tr "\n" " ")" = "$PA " ]'
check "org B's members: X and PB" \
	eval 'pctl pb --admin-token "$ADM_B" org members "$OB" | jget "data.nodes[].node_id" | grep -qx "$X"'
check "X: org enroll A again is refused" eval '! pctl_ok x org enroll "$OA" --token "$ENROLL_A"'
check "... forbidden" eval '[ "$(jget code <<<"$PCTL_OUT")" = forbidden ]'
check "X: network join 30 with its token is refused" eval '! pctl_ok x network join 30 --token "$NETTOK"'
pctl x --admin-token "$TOKEN" audit --registry --limit 1000 >"$E2E_WORK/audit.json"
audit_has() { # TYPE: a record of TYPE about X made with A's admin token
	"$PY" - "$E2E_WORK/audit.json" "$1" "node:$X" "$OA" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))["data"]
recs = d.get("events") or d.get("records") or []
ok = [r for r in recs if r.get("type") == sys.argv[2] and r.get("subject") == sys.argv[3]
      and (r.get("details") or {}).get("org_admin") == int(sys.argv[4])]
sys.exit(0 if ok else 1)
PY
}
check "registry audit: network.member_removed by A's admin" audit_has network.member_removed
check "registry audit: org.member_removed by A's admin" audit_has org.member_removed
check "registry audit: no node.revoked" eval '! grep -q "\"node.revoked\"" "$E2E_WORK/audit.json"'

# ------------------------------------------------------------ the deployment admin bans X
t1=$(e2e_now)
check "deployment admin: org revoke X" pctl_ok pb --admin-token "$TOKEN" org revoke "$X" || info "reply: $PCTL_OUT"
check "... scope deployment" eval '[ "$(jget data.scope <<<"$PCTL_OUT")" = deployment ]'
e2e_wait 5 grep -qs '^closed' "$E2E_WORK/pb-hold"
e2e_check_cut "$E2E_WORK/pb-hold" "$t1" 0 2.0 "the held connection PB -> X over 40 was cut"
check "PB lists X as revoked" e2e_wait 10 pctl_has pb blocklist 'data.revoked[].node_id' "$X"
e2e_stop_pids "$HOLD_A" "$HOLD_B" "$DL_A" "$DL_B"
check "all daemons still running" \
	eval 'for n in x pa pb; do e2e_alive "${NODE_PID[$n]}" || exit 1; done; e2e_alive "$RDV_PID"'
e2e_finish
