#!/bin/sh
# replicas.sh - end-to-end: the registry on etcd (issue 18).
#
#     e1 e2 e3 (.11 .12 .13): a three-member etcd cluster (Debian's etcd-server)
#     r1 (.1), r2 (.5):        pilot-rendezvous replicas, store "etcd", one TLS
#                              key (one pin) and one invite key between them
#     a b (.2 .3):             pilotd, registry list "r1,r2" (on r1 first)
#     c d (.4 .6):             pilotd, registry list "r2,r1" (on r2 first)
#
# Checks:
#   - both replicas serve one deployment (one prefix); a handshake asked
#     through r1 is approved through r2, and traffic crosses the overlay;
#   - two nodes racing one single-use invite through the two replicas:
#     exactly one joins;
#   - a revocation made through r2 cuts a flow held by a node on r1
#     (within 1.5 s);
#   - each replica is listed live (admin "replicas", its key on an etcd
#     lease), and a killed one leaves the list when its lease runs out;
#   - kill -9 of r1 during a stream of admin writes to it: every write it
#     acknowledged is there through r2, the audit chain verifies;
#   - a and b fail over to r2 within 10 s, and a revocation through r2 then
#     cuts a flow a holds to b;
#   - kill -9 of one etcd member: writes and registrations go on;
#   - with no replica up, established and new flows between trusted peers
#     go on from the nodes' cached state.
# Needs root, etcd and curl; exit 77 (skip) otherwise.
[ -z "${BASH_VERSION:-}" ] && { command -v bash >/dev/null 2>&1 || { echo "SKIP: no bash"; exit 77; }; exec bash "$0" "$@"; }
. "$(dirname "$0")/lib.sh"

E2E_TIMEOUT=${E2E_TIMEOUT:-300}
e2e_init
e2e_require curl
[ -x /usr/bin/etcd ] || skip "no /usr/bin/etcd (Debian's etcd-server)"
TOKEN="e2e-admin-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
WRITES=${REPLICAS_WRITES:-400}

e2e_underlay
for h in "e1 11" "e2 12" "e3 13" "r1 1" "r2 5" "a 2" "b 3" "c 4" "d 6"; do
	# shellcheck disable=SC2086
	e2e_host $h
done

# ----------------------------------------------------------------- etcd
CLUSTER="e1=http://198.18.0.11:2380,e2=http://198.18.0.12:2380,e3=http://198.18.0.13:2380"
ENDPOINTS="http://198.18.0.11:2379,http://198.18.0.12:2379,http://198.18.0.13:2379"
declare -A ETCD_PID
for e in e1 e2 e3; do
	ip=${HOST_IP[$e]}
	mkdir -p -m 0700 "$E2E_WORK/$e"
	e2e_bg "${HOST_NS[$e]}" "$E2E_WORK/$e/etcd.log" /usr/bin/etcd --name "$e" \
		--data-dir "$E2E_WORK/$e/data" --initial-cluster "$CLUSTER" \
		--initial-cluster-state new --initial-cluster-token "pilot-e2e-$$" \
		--listen-peer-urls "http://$ip:2380" --initial-advertise-peer-urls "http://$ip:2380" \
		--listen-client-urls "http://$ip:2379" --advertise-client-urls "http://$ip:2379" \
		--listen-metrics-urls "" --heartbeat-interval 50 --election-timeout 500
	ETCD_PID[$e]=$LASTPID
	e2e_add_log "etcd-$e" "$E2E_WORK/$e/etcd.log"
done
etcd_healthy() { ip netns exec "${HOST_NS[$1]}" curl -sS --max-time 1 "http://${HOST_IP[$1]}:2379/health" 2>/dev/null | grep -q '"true"'; }
check "etcd: three members healthy" e2e_wait 20 eval 'etcd_healthy e1 && etcd_healthy e2 && etcd_healthy e3' ||
	fatal "etcd cluster up"

# ----------------------------------------------------------------- replicas
mkdir -p -m 0700 "$E2E_WORK/r1/state" "$E2E_WORK/r2/state"
RDV_PIN=$(ip netns exec "${HOST_NS[r1]}" timeout 20 "$RDV" --state-dir "$E2E_WORK/r1/state" \
	--print-pin 2>"$E2E_WORK/r1/pin.err" |
	awk 'NF{l=$0} END{print l}' | tr -d '[:space:]')
[ -n "$RDV_PIN" ] || fatal "pilot-rendezvous --print-pin"
# The replicas share the TLS key (one pin for all), the invite key (an
# invite made through one is checked by the other) and the audit key (the
# one chain's checkpoints verify whichever replica signed them); each keeps
# its own beacon key.
cp -p "$E2E_WORK/r1/state/tls.crt" "$E2E_WORK/r1/state/tls.key" "$E2E_WORK/r2/state/"

declare -A RDV_PIDS
start_replica() { # NAME
	local r=$1
	e2e_bg "${HOST_NS[$r]}" "$E2E_WORK/$r/rendezvous.log" "$RDV" --listen "${HOST_IP[$r]}:9000" \
		--beacon-listen "${HOST_IP[$r]}:9001" --state-dir "$E2E_WORK/$r/state" --store etcd \
		--etcd-endpoints "$ENDPOINTS" --etcd-poll-ms 100 --admin-token "$TOKEN" --log-level debug
	RDV_PIDS[$r]=$LASTPID
	e2e_add_log "rendezvous-$r" "$E2E_WORK/$r/rendezvous.log"
}
rdv_up() { e2e_alive "${RDV_PIDS[$1]}" && e2e_tcp_open "${HOST_NS[$1]}" "${HOST_IP[$1]}" 9000; }
start_replica r1
check "r1 up (store etcd)" e2e_wait 15 rdv_up r1 || fatal "r1 up"
for k in invite.key audit.key; do cp -p "$E2E_WORK/r1/state/$k" "$E2E_WORK/r2/state/"; done
start_replica r2
check "r2 up (store etcd)" e2e_wait 15 rdv_up r2 || fatal "r2 up"

# admin R OP JSON: an admin request to replica R; the answer in ADMIN_OUT,
# 0 for HTTP 200
admin() {
	local code
	code=$(ip netns exec "${HOST_NS[$1]}" curl -sS -k --max-time 5 \
		--pinnedpubkey "sha256//$RDV_PIN" -H "Authorization: Bearer $TOKEN" \
		-H 'Content-Type: application/json' -d "$3" -o "$E2E_WORK/admin.out" -w '%{http_code}' \
		"https://${HOST_IP[$1]}:9000/v1/admin/$2" 2>/dev/null)
	ADMIN_OUT=$(cat "$E2E_WORK/admin.out" 2>/dev/null)
	[ "$code" = 200 ]
}
# live replicas: each one's presence key on its etcd lease
replicas() { admin "$1" replicas '{}' && jget 'replicas[].name' <<<"$ADMIN_OUT" | sort | tr '\n' ' '; }
R12="${HOST_IP[r1]}:9000 ${HOST_IP[r2]}:9000 "
check "both replicas are listed live (through r1: $(replicas r1))" \
	e2e_wait 10 eval '[ "$(replicas r1)" = "$R12" ] && [ "$(replicas r2)" = "$R12" ]'

# ----------------------------------------------------------------- nodes
# Heartbeats every second: the idle check below sees several per node.
start_on() { # NODE HOSTNAME FIRST SECOND
	RDV_IP="${HOST_IP[$3]}:9000,${HOST_IP[$4]}" RDV_PORT=9000 \
		PILOTD_EXTRA_ARGS="--heartbeat-interval 1" e2e_start_node "$1" "$2"
}
start_on a alice r1 r2 || fatal "pilotd alice ready (on r1)"
start_on b bob r1 r2 || fatal "pilotd bob ready (on r1)"
start_on c carol r2 r1 || fatal "pilotd carol ready (on r2)"
start_on d dave r2 r1 || fatal "pilotd dave ready (on r2)"
A=${NODE_ID[a]} B=${NODE_ID[b]} C=${NODE_ID[c]} D=${NODE_ID[d]}
reg_addr() { pctl "$1" status | jget data.registry.address; }
check "a and b on r1, c and d on r2" eval '[ "$(reg_addr a)" = "${HOST_IP[r1]}:9000" ] && [ "$(reg_addr b)" = "${HOST_IP[r1]}:9000" ] && [ "$(reg_addr c)" = "${HOST_IP[r2]}:9000" ] && [ "$(reg_addr d)" = "${HOST_IP[r2]}:9000" ]'
ids_distinct() { [ "$(printf '%s\n' "$A" "$B" "$C" "$D" | sort -u | wc -l)" = 4 ]; }
check "four distinct node IDs ($A $B $C $D) from two replicas" ids_distinct
pfx() { jget data.ipv6 <<<"$(pctl "$1" info)" | cut -d: -f1-3; }
check "one deployment prefix on both replicas ($(pfx a)::/48)" eval '[ "$(pfx a)" = "$(pfx c)" ]'

# ----------------------------------------------------------------- idle heartbeats
# A heartbeat that changes nothing others see writes nothing shared: the
# write sequence P d0 (every serialised write changes it) stays where it
# is while the four nodes heartbeat.  Its mod_revision, from etcd itself.
d0_rev() {
	ip netns exec "${HOST_NS[e1]}" curl -sS --max-time 2 -d "{\"key\":\"$(printf /pilot/d0 | base64)\"}" \
		"http://${HOST_IP[e1]}:2379/v3/kv/range" 2>/dev/null | jget 'kvs[].mod_revision'
}
hb_count() { cat "$E2E_WORK"/r?/rendezvous.log 2>/dev/null | grep -c 'heartbeat from .*: ok'; }
stable_d0() { # the same revision twice, 1 s apart (the nodes' start settled)
	D0=$(d0_rev) && sleep 1 && [ -n "$D0" ] && [ "$(d0_rev)" = "$D0" ]
}
e2e_wait 15 stable_d0 || info "P d0 still moving after 15 s"
D0=$(d0_rev) HB0=$(hb_count)
sleep 5
HB1=$(hb_count) D1=$(d0_rev)
check "idle heartbeats write nothing serialised ($((HB1 - HB0)) heartbeats, P d0 at $D0 then $D1)" \
	eval '[ "$((HB1 - HB0))" -ge 8 ] && [ -n "$D0" ] && [ "$D0" = "$D1" ]'

# ----------------------------------------------------------------- across replicas
check "a (r1) asks c (r2) for trust, c approves: both trust lists" e2e_establish_trust a c
check "a and d trust each other (through r1 and r2)" e2e_establish_trust d a
check "a and b trust each other" e2e_establish_trust a b
e2e_serve c 8080 http carol-marker || fatal "server on c"
check "curl a -> c over the overlay" e2e_curl_until 10 a c 8080 / "$E2E_WORK/c.html"
check "... the page is carol's" grep -q carol-marker "$E2E_WORK/c.html"

# ----------------------------------------------------------------- one invite, two replicas
admin r1 network_create '{"name":"club","join_rule":"invite","network_id":9}' ||
	fatal "admin network_create club through r1 ($ADMIN_OUT)"
admin r2 network_invite '{"network_id":9,"ttl":600}' || fatal "admin network_invite 9 through r2 ($ADMIN_OUT)"
INV=$(jget invite <<<"$ADMIN_OUT")
[ -n "$INV" ] || fatal "the invite from r2"
( pctl b network join 9 --invite "$INV" >"$E2E_WORK/join-b.out" 2>&1 ) &
JB=$!
( pctl d network join 9 --invite "$INV" >"$E2E_WORK/join-d.out" 2>&1 ) &
JD=$!
wait "$JB" "$JD"
joined=0
for n in b d; do [ "$(jget status <"$E2E_WORK/join-$n.out" 2>/dev/null)" = ok ] && joined=$((joined + 1)); done
check "b (r1) and d (r2) race one invite: exactly one joins" [ "$joined" = 1 ] ||
	info "b: $(head -c 300 "$E2E_WORK/join-b.out"); d: $(head -c 300 "$E2E_WORK/join-d.out")"
admin r1 network_nodes '{"network_id":9}'
check "... and network 9 has one member" eval '[ "$(jget "nodes[].node_id" <<<"$ADMIN_OUT" | wc -l)" = 1 ]'

# ----------------------------------------------------------------- revocation across replicas
e2e_serve d 7000 hold dave-hold || fatal "hold server on d"
e2e_hold a "${NODE_IP6[d]}" 7000 "$E2E_WORK/hold-ad" 120 || fatal "a holds a connection to d"
REF=$(date +%s.%N)
admin r2 org_revoke "{\"node_id\":$D}" || fatal "admin org_revoke d through r2 ($ADMIN_OUT)"
e2e_wait 3 grep -Eqs '^(reset|eof)' "$E2E_WORK/hold-ad"
e2e_check_cut "$E2E_WORK/hold-ad" "$REF" 0 1.5 "revoking d through r2 cuts a's flow to d (a is on r1)"

# ----------------------------------------------------------------- kill -9 r1 during writes
# A stream of admin writes to r1; r1 is killed in the middle.  Each write
# r1 acknowledged must be there through r2.
writer() {
	local i
	for i in $(seq 1 "$WRITES"); do
		if admin r1 network_create "{\"name\":\"w$i\",\"join_rule\":\"open\"}"; then
			echo "w$i" >>"$E2E_WORK/acked"
		fi
	done
}
: >"$E2E_WORK/acked"
writer &
WPID=$!
e2e_wait 20 eval '[ "$(wc -l <"$E2E_WORK/acked")" -ge 20 ]' || info "few writes acknowledged before the kill"
kill -KILL "${RDV_PIDS[r1]}"
KILLED=$(date +%s.%N)
wait "${RDV_PIDS[r1]}" 2>/dev/null
E2E_PIDS=${E2E_PIDS/ ${RDV_PIDS[r1]}/}
wait "$WPID"
NACK=$(wc -l <"$E2E_WORK/acked")
info "r1 acknowledged $NACK network_create before kill -9"
check "r2 lists networks" admin r2 network_list '{}'
check "r1 (killed) leaves the list of live replicas when its lease runs out (within 15 s: $(replicas r2))" \
	e2e_wait 15 eval '[ "$(replicas r2)" = "${HOST_IP[r2]}:9000 " ]'
jget "networks[].name" <<<"$ADMIN_OUT" | sort >"$E2E_WORK/listed"
sort "$E2E_WORK/acked" >"$E2E_WORK/acked.sorted"
lost=$(comm -23 "$E2E_WORK/acked.sorted" "$E2E_WORK/listed" | wc -l)
check "nothing r1 acknowledged is lost ($NACK acknowledged, $lost missing through r2)" \
	eval '[ "$lost" = 0 ] && [ "$NACK" -gt 0 ]'
check "the audit chain verifies through r2" eval 'admin r2 audit_verify "{}" && [ "$(jget ok <<<"$ADMIN_OUT")" = true ]' ||
	info "audit_verify: $(head -c 400 <<<"$ADMIN_OUT")"

# ----------------------------------------------------------------- failover
on_r2() { [ "$(reg_addr "$1")" = "${HOST_IP[r2]}:9000" ] && [ "$(pctl "$1" status | jget data.registry.registered)" = true ]; }
check "a fails over to r2 and registers there" e2e_wait 10 on_r2 a
t=$(e2e_elapsed "$KILLED")
check "b fails over to r2 and registers there" e2e_wait 10 on_r2 b
info "failover: a and b registered with r2 ${t}s after the kill (b by $(e2e_elapsed "$KILLED")s)"
events_on() { [ "$(pctl "$1" status | jget data.registry.events_stream)" = true ]; }
check "a's events stream is on r2" e2e_wait 10 events_on a
e2e_serve b 7001 hold bob-hold || fatal "hold server on b"
e2e_hold a "${NODE_IP6[b]}" 7001 "$E2E_WORK/hold-ab" 120 || fatal "a holds a connection to b"
REF=$(date +%s.%N)
admin r2 org_revoke "{\"node_id\":$B}" || fatal "admin org_revoke b through r2 ($ADMIN_OUT)"
e2e_wait 3 grep -Eqs '^(reset|eof)' "$E2E_WORK/hold-ab"
e2e_check_cut "$E2E_WORK/hold-ab" "$REF" 0 1.5 "revoking b through the survivor cuts a's flow to b (both were on r1)"

# ----------------------------------------------------------------- one etcd member down
kill -KILL "${ETCD_PID[e3]}"
wait "${ETCD_PID[e3]}" 2>/dev/null
E2E_PIDS=${E2E_PIDS/ ${ETCD_PID[e3]}/}
check "etcd e3 killed: r2 still writes (network_create)" e2e_wait 10 admin r2 network_create '{"name":"after-e3","join_rule":"open"}'
e2e_host n 7
RDV_IP="${HOST_IP[r2]}" RDV_PORT=9000 e2e_start_node n nina
check "... and a new node registers (node ${NODE_ID[n]:-none})" [ -n "${NODE_ID[n]:-}" ]

# ----------------------------------------------------------------- no registry at all
e2e_hold a "${NODE_IP6[c]}" 8080 "$E2E_WORK/hold-ac" 120 || info "a holds a connection to c"
e2e_stop_pids "${RDV_PIDS[r2]}"
check "r2 stopped too: curl a -> c still works (a new flow, cached state)" e2e_curl_until 5 a c 8080 / "$E2E_WORK/c2.html"
sleep 2
check "... and a's held connection to c is still open" eval '! grep -Eqs "^(reset|eof)" "$E2E_WORK/hold-ac"'
check "a's status says the registry does not answer" eval '[ "$(pctl a status | jget data.registry.connected)" = false ]'
# The text form says why, as --json's last_error does.
check "... and its text status gives the last error" eval 'ip netns exec "${HOST_NS[a]}" timeout 15 "$PILOTCTL" --socket "${NODE_SOCK[a]}" status | grep -Eq "^registry: .*disconnected.*(last error|not registered): ."'

e2e_finish
