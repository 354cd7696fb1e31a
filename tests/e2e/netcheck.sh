#!/bin/sh
# netcheck.sh - end-to-end: `pilotctl netcheck` and why a path is relayed
# (doc/NAT.md "netcheck", "Why a path is relayed").
#
# Topology (198.18.0.0/15 only; NAT routers from lib.sh e2e_nat_router):
#
#   bridge "internet" 198.18.0.0/24
#     rdv  198.18.0.1   pilot-rendezvous, registry 9000/tcp, beacon 9001/udp
#     natA 198.18.0.11  EIM NAT        -- lan 198.18.1.0/24 -- a 198.18.1.2
#     natC 198.18.0.13  symmetric NAT  -- lan 198.18.3.0/24 -- c 198.18.3.2
#     natD 198.18.0.14  symmetric NAT  -- lan 198.18.4.0/24 -- d 198.18.4.2
#     natM 198.18.0.15  EIM NAT, its internet link MTU 1400 -- lan 198.18.5.0/24 -- m 198.18.5.2
#     e    198.18.0.31  a public node (no NAT)
#
#   (1) netcheck --json on a (EIM): mapping endpoint-independent, UDP to the
#       beacon works, both reflexive endpoints on natA's address, round trips
#       to the beacon and the registry, path MTU 1500; within 5 s; the text
#       form says the same
#   (2) c (symmetric): endpoint-dependent, on natC's address; text says
#       "endpoint-dependent (symmetric)"
#   (3) e (public): mapping none, reflexive = its own address and port
#   (4) m: endpoint-independent, path MTU 1400 (the probe's larger sizes are
#       lost at natM)
#   (5) a netcheck while another runs is refused (conflict); netcheck drops
#       nothing from the beacon (rx_dropped_beacon unchanged)
#   (6) c <-> d, both symmetric: relayed; each peer entry has a path_reason
#       other than direct, punch_attempts >= 1 and last_punch set (recent);
#       after netcheck on c found its NAT endpoint-dependent, c says
#       symmetric_nat; the text peers/status tables have a REASON column
#   (7) a <-> e with UDP between natA and e blocked from the start: relayed,
#       path_reason udp_blocked on both, punch_attempts >= 1
# Needs root, nft and conntrack; exit 77 (skip) otherwise.
[ -z "${BASH_VERSION:-}" ] && { command -v bash >/dev/null 2>&1 || { echo "SKIP: no bash"; exit 77; }; exec bash "$0" "$@"; }
E2E_TIMEOUT=${E2E_TIMEOUT:-300}
. "$(dirname "$0")/lib.sh"

e2e_init
e2e_require ping nft conntrack
BEACON=$RDV_IP:9001
RDV_EXTRA_ARGS="--beacon-listen $BEACON ${RDV_EXTRA_ARGS:-}"
PILOTD_EXTRA_ARGS="--beacon $BEACON ${PILOTD_EXTRA_ARGS:-}"

# ------------------------------------------------------------ topology, daemons
e2e_underlay
e2e_host rdv 1
e2e_nat_router natA 11 198.18.1 eim
e2e_nat_router natC 13 198.18.3 symmetric
e2e_nat_router natD 14 198.18.4 symmetric
e2e_nat_router natM 15 198.18.5 eim
e2e_nat_host a natA
e2e_nat_host c natC
e2e_nat_host d natD
e2e_nat_host m natM
e2e_host e 31
ip -n "${HOST_NS[natM]}" link set eth0 mtu 1400 || fatal "natM: internet link MTU 1400"
for n in a c d m e; do
	e2e_underlay_ping "$n" "$RDV_IP" || fatal "$n (${HOST_IP[$n]}) reaches the rendezvous $RDV_IP"
done
ok "underlay: rdv, NAT routers natA (EIM), natC, natD (symmetric), natM (EIM, MTU 1400), e public"
# UDP between a's NAT and e blocked before they ever talk (case 7)
e2e_nat_block natA "${HOST_IP[e]}" || fatal "natA: drop UDP to/from e"

e2e_start_rdv
for n in a c d m e; do
	e2e_start_node "$n" "node-$n" || fatal "pilotd $n ready within ${E2E_READY_S}s"
done
ok "pilotd a, c, d, m (behind NATs) and e (public) ready"
C=${NODE_ID[c]} D=${NODE_ID[d]} A=${NODE_ID[a]} E=${NODE_ID[e]}
beacon_ok() { [ "$(pctl "$1" status 2>/dev/null | jget data.beacon.state 2>/dev/null)" = ok ]; }
for n in a c d m e; do
	check "$n: bound at the beacon" e2e_wait 10 beacon_ok "$n" || info "$n: $(pctl "$n" status | jget data.beacon)"
done

# nc NODE: netcheck --json into NC[NODE] (and the seconds it took into NCT[NODE])
declare -A NC NCT
nc() {
	local t0
	t0=$(e2e_now)
	NC[$1]=$(pctl "$1" netcheck 2>&1)
	NCT[$1]=$(e2e_elapsed "$t0")
}
ncf() { jget "data.$2" <<<"${NC[$1]}" 2>/dev/null; }   # NODE FIELD
on_addr() { case "$1" in "$2":[0-9]*) return 0 ;; esac; return 1; }
# a round trip in ms: pilotd writes 3 decimals, but jget prints the JSON
# number as Python does (0.380 comes back as 0.38)
is_ms() { [[ "$1" =~ ^[0-9]+(\.[0-9]{1,3})?$ ]]; }

ctr() { pctl "$1" status 2>/dev/null | "$PY" "$E2E_HELPER" counters | awk -v k="$2" '$1 == k {v = $2} END {print v == "" ? "NA" : v}'; }

# ------------------------------------------------------------ (1) a behind an EIM NAT
drop0=$(ctr a rx_dropped_beacon)
nc a
info "(1) a: ${NC[a]} (${NCT[a]} s)"
check "(1) a: netcheck --json answers ok" eval '[ "$(jget status <<<"${NC[a]}")" = ok ]'
check "(1) a: within 5 s (${NCT[a]} s)" e2e_le "${NCT[a]}" 5
check "(1) a: mapping endpoint-independent ($(ncf a mapping))" eval '[ "$(ncf a mapping)" = endpoint-independent ]'
check "(1) a: udp to the beacon works" eval '[ "$(ncf a udp)" = true ]'
check "(1) a: reflexive on natA, at the tunnel port ($(ncf a reflexive))" \
	eval '[ "$(ncf a reflexive)" = "198.18.0.11:$NODE_PORT" ]'
check "(1) a: second reflexive on natA, another port ($(ncf a reflexive_second), local $(ncf a local_port_second))" \
	eval 'on_addr "$(ncf a reflexive_second)" 198.18.0.11 && [ "$(ncf a reflexive_second)" != "$(ncf a reflexive)" ]'
check "(1) a: beacon round trip in ms ($(ncf a beacon_rtt_ms))" is_ms "$(ncf a beacon_rtt_ms)"
check "(1) a: registry round trip in ms ($(ncf a registry_rtt_ms))" is_ms "$(ncf a registry_rtt_ms)"
check "(1) a: path MTU 1500, largest UDP payload 1472 ($(ncf a mtu))" \
	eval '[ "$(ncf a mtu.path_mtu)" = 1500 ] && [ "$(ncf a mtu.largest_payload)" = 1472 ]'
check "(1) a: beacon $BEACON ok" eval '[ "$(ncf a beacon.address)" = "$BEACON" ] && [ "$(ncf a beacon.state)" = ok ]'
TXT=$(ip netns exec "${HOST_NS[a]}" timeout 15 "$PILOTCTL" --socket "${NODE_SOCK[a]}" netcheck 2>&1)
info "(1) a, text:"; while IFS= read -r l; do info "    $l"; done <<<"$TXT"
check "(1) a: the text form says the mapping, the reflexive address, the round trips and the MTU" \
	eval 'grep -q "^nat mapping: *endpoint-independent" <<<"$TXT" && grep -q "198.18.0.11:$NODE_PORT" <<<"$TXT" &&
		grep -q "^udp to beacon: *yes, round trip [0-9.]* ms" <<<"$TXT" &&
		grep -q "^registry: *yes, round trip [0-9.]* ms" <<<"$TXT" && grep -q "^path mtu: *at least 1500" <<<"$TXT"'

# ------------------------------------------------------------ (2) c behind a symmetric NAT
nc c
info "(2) c: ${NC[c]}"
check "(2) c: mapping endpoint-dependent ($(ncf c mapping))" eval '[ "$(ncf c mapping)" = endpoint-dependent ]'
check "(2) c: both reflexive endpoints on natC ($(ncf c reflexive), $(ncf c reflexive_second))" \
	eval 'on_addr "$(ncf c reflexive)" 198.18.0.13 && on_addr "$(ncf c reflexive_second)" 198.18.0.13'
TXT=$(ip netns exec "${HOST_NS[c]}" timeout 15 "$PILOTCTL" --socket "${NODE_SOCK[c]}" netcheck 2>&1)
check "(2) c: the text form says endpoint-dependent (symmetric)" \
	eval 'grep -q "^nat mapping: *endpoint-dependent (symmetric)" <<<"$TXT"'

# ------------------------------------------------------------ (3) e, public
nc e
info "(3) e: ${NC[e]}"
check "(3) e: mapping none ($(ncf e mapping))" eval '[ "$(ncf e mapping)" = none ]'
check "(3) e: reflexive is its own address and port ($(ncf e reflexive))" \
	eval '[ "$(ncf e reflexive)" = "${HOST_IP[e]}:$NODE_PORT" ]'

# ------------------------------------------------------------ (4) m, MTU 1400 on the way
nc m
info "(4) m: ${NC[m]} (${NCT[m]} s)"
check "(4) m: mapping endpoint-independent ($(ncf m mapping))" eval '[ "$(ncf m mapping)" = endpoint-independent ]'
check "(4) m: path MTU 1400 ($(ncf m mtu))" \
	eval '[ "$(ncf m mtu.path_mtu)" = 1400 ] && [ "$(ncf m mtu.largest_payload)" = 1372 ] && [ "$(ncf m mtu.probed_up_to)" = 1500 ]'
check "(4) m: still within 5 s, though the larger probes were never answered (${NCT[m]} s)" e2e_le "${NCT[m]}" 5

# ------------------------------------------------------------ (5) one at a time
OUT1=$E2E_WORK/nc-bg.json
e2e_bg "${HOST_NS[m]}" "$OUT1" timeout 15 "$PILOTCTL" --socket "${NODE_SOCK[m]}" --json netcheck
BG=$LASTPID
sleep 0.5
PCTL_OUT=$(pctl m netcheck 2>&1)
check "(5) m: a second netcheck while one runs: conflict ($(jget code <<<"$PCTL_OUT" 2>/dev/null))" \
	eval '[ "$(jget code <<<"$PCTL_OUT")" = conflict ]'
e2e_wait 8 eval '! e2e_alive "$BG"'
check "(5) m: ... and the first one answered" eval '[ "$(jget status <"$OUT1")" = ok ]'
drop1=$(ctr a rx_dropped_beacon)
check "(5) a: netcheck dropped no beacon frame (rx_dropped_beacon $drop0 -> $drop1)" eval '[ "$drop0" = "$drop1" ]'

# ------------------------------------------------------------ (6) c <-> d, symmetric both: relayed
check "(6) trust c <-> d" e2e_establish_trust c d || fatal "(6) trust c <-> d"
ping6() { ip netns exec "${HOST_NS[$1]}" ping -6 -c 1 -W 2 -q "${NODE_IP6[$2]}" >/dev/null 2>&1; }
check "(6) ping -6 c -> d over the overlay" e2e_wait 20 ping6 c d
check "(6) c: path to d relayed" e2e_wait 15 e2e_peer_path_is c "$D" relayed
check "(6) d: path to c relayed" e2e_wait 10 e2e_peer_path_is d "$C" relayed
now=$(date +%s)
recent() { [[ "$1" =~ ^[0-9]+$ ]] && [ $((now - $1)) -ge 0 ] && [ $((now - $1)) -lt 120 ]; }
for pair in "c $D" "d $C"; do
	set -- $pair
	r=$(e2e_peer "$1" "$2" path_reason) n=$(e2e_peer "$1" "$2" punch_attempts) lp=$(e2e_peer "$1" "$2" last_punch)
	check "(6) $1: path_reason is why it is relayed ($r)" \
		eval 'case "$r" in symmetric_nat|udp_blocked|punch_timed_out) true ;; *) false ;; esac'
	check "(6) $1: punch_attempts >= 1 ($n)" eval '[[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ]'
	check "(6) $1: last_punch set, recent ($lp, now $now)" recent "$lp"
done
check "(6) c: symmetric_nat, after netcheck found its NAT endpoint-dependent ($(e2e_peer c "$D" path_reason))" \
	eval '[ "$(e2e_peer c "$D" path_reason)" = symmetric_nat ]'
PEERS=$(ip netns exec "${HOST_NS[c]}" timeout 15 "$PILOTCTL" --socket "${NODE_SOCK[c]}" peers 2>&1)
STATUS=$(ip netns exec "${HOST_NS[c]}" timeout 15 "$PILOTCTL" --socket "${NODE_SOCK[c]}" status 2>&1)
info "(6) c peers:"; while IFS= read -r l; do info "    $l"; done <<<"$PEERS"
check "(6) c: the peers table has a REASON column saying symmetric_nat" \
	eval 'head -n 1 <<<"$PEERS" | grep -q "PATH  *REASON" && grep -q "relayed  *symmetric_nat" <<<"$PEERS"'
check "(6) c: so has the status table" \
	eval 'grep -q "PATH  *REASON" <<<"$STATUS" && grep -q "relayed  *symmetric_nat" <<<"$STATUS"'
check "(6) c: --json status carries path_reason too" \
	pctl_has c status 'data.peers[].path_reason' symmetric_nat

# ------------------------------------------------------------ (7) a <-> e, UDP blocked
check "(7) trust a <-> e (UDP natA <-> e blocked)" e2e_establish_trust a e || fatal "(7) trust a <-> e"
check "(7) ping -6 a -> e over the overlay (relayed)" e2e_wait 20 ping6 a e
check "(7) a: path to e relayed" e2e_wait 15 e2e_peer_path_is a "$E" relayed
check "(7) e: path to a relayed" e2e_wait 10 e2e_peer_path_is e "$A" relayed
for pair in "a $E" "e $A"; do
	set -- $pair
	r=$(e2e_peer "$1" "$2" path_reason) n=$(e2e_peer "$1" "$2" punch_attempts)
	check "(7) $1: path_reason udp_blocked ($r)" eval '[ "$r" = udp_blocked ]'
	check "(7) $1: punch_attempts >= 1 ($n)" eval '[[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ]'
done

check "all pilotd still running" eval 'for n in a c d m e; do e2e_alive "${NODE_PID[$n]}" || exit 1; done'
e2e_finish
