#!/bin/sh
# broadcast.sh - end-to-end: broadcast to a network's members (issue 16,
# SPEC section 6).
#   - seven nodes in network 30: the sender s; a and e, which receive; b, which
#     s has blocked; c and f, whose tags the policy does not let s reach; d, which
#     has blocked s itself (refused by the receiver, not the sender).  A
#     datagram to 30's broadcast address from a plain socket reaches exactly
#     a and e - a on a socket bound to ::, e on one bound to the broadcast
#     address - and `pilotctl broadcast` does the same, saying so in JSON
#   - r, behind a NAT that drops its UDP to and from s, gets it through the
#     beacon's relay
#   - one to the backbone's broadcast address is refused at once (EACCES)
#   - a flood of 300 datagrams in one second from s is cut to the rate
#     (burst 40 + 20/s) at the sender; one from f, whose own limit is set
#     far higher, is cut to the same rate by each receiver
#   - the broadcast.summary audit record counts them
# Needs root; exit 77 (skip) otherwise.
[ -z "${BASH_VERSION:-}" ] && { command -v bash >/dev/null 2>&1 || { echo "SKIP: no bash"; exit 77; }; exec bash "$0" "$@"; }
. "$(dirname "$0")/lib.sh"

e2e_init
e2e_require nft
TOKEN="e2e-admin-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
NETTOK="net-secret-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
RDV_EXTRA_ARGS="--admin-token $TOKEN"
E2E_TIMEOUT=${E2E_TIMEOUT:-300}
PORT=9999

e2e_underlay
e2e_host rdv 1
NODES="s a b c d e"
i=2
for n in $NODES; do e2e_host "$n" "$i"; i=$((i + 1)); done
e2e_start_rdv
for n in $NODES; do e2e_start_node "$n" "node-$n" || fatal "pilotd $n ready"; done
# f floods: its own limit is set far above the receivers' (a modified or
# misconfigured sender), so only their meters stand in its way.
e2e_host f 8
PILOTD_EXTRA_ARGS="--broadcast-rate 5000 --broadcast-burst 5000" e2e_start_node f node-f || fatal "pilotd f ready"
# r is behind a NAT whose UDP to and from s is dropped: s reaches it only
# through the beacon's relay.
e2e_nat_router natr 20 198.18.20 eim
e2e_nat_host r natr
e2e_nat_block natr "${HOST_IP[s]}" || fatal "natr: drop UDP to/from s"
e2e_start_node r node-r || fatal "pilotd r ready"
ok "rendezvous and eight nodes up (r behind a NAT, cut off from s)"
adm() { pctl_ok "$@"; }

check "admin: network create bc --id 30 (token)" \
	adm s --admin-token "$TOKEN" network create bc --id 30 --join-rule token --token "$NETTOK" ||
	info "reply: $PCTL_OUT"
for n in $NODES f r; do
	check "$n: network join 30" adm "$n" network join 30 --token "$NETTOK" || info "reply: $PCTL_OUT"
done
check "s: set-tags loud" adm s set-tags loud
check "f: set-tags loud" adm f set-tags loud
for n in a b d e r; do check "$n: set-tags open" adm "$n" set-tags open; done
check "c: set-tags closed" adm c set-tags closed
cat >"$E2E_WORK/bc.json" <<'JSON'
{"rules": [{"name": "chatter", "from": ["tag:loud"], "to": ["tag:open"], "ports": ["udp/9999", "udp/9998"]},
           {"name": "replies", "from": ["tag:open", "tag:closed"], "to": ["tag:loud"], "ports": ["udp/9999"]}]}
JSON
check "admin: policy set 30 (loud -> open udp/9999)" adm s --admin-token "$TOKEN" policy set 30 "$E2E_WORK/bc.json" ||
	info "reply: $PCTL_OUT"
check "s: block b" adm s block "${NODE_ID[b]}"
check "d: block s" adm d block "${NODE_ID[s]}"

# 30's broadcast address: P:1e::ffff:ffff
PFX=$(pctl s info | jget data.ipv6 | sed 's/::.*//')
BC="$PFX:1e::ffff:ffff"
BC0="$PFX:0::ffff:ffff"
info "broadcast address of 30: $BC"
check "s: pilot0 carries 30's broadcast address (bindable)" e2e_has_addr s pilot0 "$BC"
# ... but never as the source of unicast: a /128 beside the /64 would win
# the kernel's longest-prefix rule if it were not deprecated.
S30=$(e2e_addr_in s 30)
A30=$(e2e_addr_in a 30)
check "s: unicast to a's address in 30 leaves from s's own ($S30)" \
	eval 'ip -n "${HOST_NS[s]}" -6 route get "$A30" | grep -q "src $S30 "' 

listen() { # NODE BIND
	local d=$E2E_WORK/$1
	mkdir -p "$d"
	: >"$d/udp.log"
	rm -f "$d/udp.ready"
	e2e_bg "${HOST_NS[$1]}" "$d/udp.out" "$PY" "$E2E_HELPER" udp-listen --bind "$2" --port "$PORT" \
		--log "$d/udp.log" --ready "$d/udp.ready" --max-seconds "$E2E_TIMEOUT"
	e2e_add_log "udp-$1" "$d/udp.log"
	e2e_wait 5 test -e "$d/udp.ready"
}
got() { grep -c " $2\$" "$E2E_WORK/$1/udp.log" 2>/dev/null || true; } # NODE PAYLOAD -> count
for n in a b c d f r; do check "$n: UDP listener on [::]:$PORT" listen "$n" "::"; done
check "e: UDP listener bound to the broadcast address" listen e "$BC"
check "s: UDP listener on [::]:$PORT (a sender does not hear itself)" listen s "::"

send() { # NODE DST PAYLOAD [udp6-send options]
	local n=$1 dst=$2 pl=$3; shift 3
	ip netns exec "${HOST_NS[$n]}" "$PY" "$E2E_HELPER" udp6-send --dst "$dst" --port "$PORT" --payload "$pl" "$@"
}
only_a_e() { # PAYLOAD: exactly a, e and r got it (once each)
	[ "$(got a "$1")" = 1 ] && [ "$(got e "$1")" = 1 ] && [ "$(got r "$1")" = 1 ] && [ "$(got b "$1")" = 0 ] &&
		[ "$(got c "$1")" = 0 ] && [ "$(got d "$1")" = 0 ] && [ "$(got s "$1")" = 0 ] &&
		[ "$(got f "$1")" = 0 ]
}
seen_by() { local n out=""; for n in $NODES f r; do [ "$(got "$n" "$1")" = 0 ] || out="$out $n"; done; echo "${out# }"; }

# ------------------------------------------------------------ a plain socket
# The first datagram also sets up the sessions (queued behind the
# handshakes); wait for it, then send a second one on ready sessions.
send s "$BC" first >/dev/null
e2e_wait 15 eval '[ "$(got a first)" = 1 ] && [ "$(got e first)" = 1 ] && [ "$(got r first)" = 1 ]'
sleep 1
check "socket: the first datagram reached exactly a, e and r (seen by: $(seen_by first))" only_a_e first
check "s reaches r through the relay (path relayed)" e2e_peer_path_is s "${NODE_ID[r]}" relayed
send s "$BC" second >/dev/null
e2e_wait 5 eval '[ "$(got a second)" = 1 ] && [ "$(got e second)" = 1 ] && [ "$(got r second)" = 1 ]'
sleep 1
check "socket: the second reached exactly a, e and r (seen by: $(seen_by second))" only_a_e second
check "e: its datagram came from s's own address in 30" \
	eval 'grep " second\$" "$E2E_WORK/e/udp.log" | grep -qi " $PFX:1e::$(printf %x "${NODE_ID[s]}") "'
check "d: refused s's broadcast itself (bcast_rx_denied > 0)" \
	eval '[ "$(pctl d status | jget data.counters.bcast_rx_denied)" -gt 0 ]'
check "s: skipped b (blocked) and c (policy): bcast_tx_denied >= 4" \
	eval '[ "$(pctl s status | jget data.counters.bcast_tx_denied)" -ge 4 ]'

res=$(send s "$A30" unicast)
e2e_wait 5 eval '[ "$(got a unicast)" = 1 ]'
check "unicast s -> a in 30 still works, from s's address ($res)" \
	eval 'grep " unicast\$" "$E2E_WORK/a/udp.log" | grep -qi "^rx $S30 "'

# ------------------------------------------------------------ pilotctl broadcast
check "pilotctl broadcast 30 $PORT viactl" adm s broadcast 30 "$PORT" viactl || info "reply: $PCTL_OUT"
check "its answer: sent 4 (a, d, e, r), denied 3 (blocked: b; policy: c, f)" \
	eval '[ "$(jget data.sent <<<"$PCTL_OUT")" = 4 ] && [ "$(jget data.blocked <<<"$PCTL_OUT")" = 1 ] &&
	      [ "$(jget data.policy <<<"$PCTL_OUT")" = 2 ] && [ "$(jget data.denied <<<"$PCTL_OUT")" = 3 ] && [ "$(jget data.address <<<"$PCTL_OUT")" = "30:001E.FFFF.FFFF" ]'
e2e_wait 5 eval '[ "$(got a viactl)" = 1 ] && [ "$(got e viactl)" = 1 ] && [ "$(got r viactl)" = 1 ]'
sleep 1
check "pilotctl broadcast reached exactly a, e and r, like the socket (seen by: $(seen_by viactl))" only_a_e viactl
out=$(pctl s broadcast 0 "$PORT" x 2>&1); rc=$?
check "pilotctl broadcast 0 ...: refused, never on the backbone (exit $rc)" \
	eval '[ "$rc" != 0 ] && [ "$(jget code <<<"$out")" = forbidden ]'
# A connected socket hears the ICMPv6 refusal of its first datagram as
# EACCES (13) on the next ones.
res=$(send s "$BC0" backbone --connect --count 3 --interval 0.3)
check "a datagram to the backbone's broadcast address is refused at once ($res)" \
	eval '[ "$(jget errors.13 <<<"$res" 2>/dev/null)" -ge 1 ]'
check "nobody got the backbone broadcast" eval '[ -z "$(seen_by backbone)" ]'

# No member listens on 9998: each member's kernel answers "port
# unreachable", which its pilotd never sends about a broadcast (else one
# datagram would bring the sender an error per member: ECONNREFUSED, 111).
res=$(ip netns exec "${HOST_NS[s]}" "$PY" "$E2E_HELPER" udp6-send --dst "$BC" --port 9998 --payload noport \
	--connect --count 4 --interval 0.3)
check "a broadcast nobody listens for brings the sender no error back ($res)" \
	eval 'grep -q "\"sent\": 4, \"errors\": {}" <<<"$res"'
check "... the members' pilotd dropped their kernels' errors (a: bcast_dropped > 0)" \
	eval '[ "$(pctl a status | jget data.counters.bcast_dropped)" -gt 0 ]'

# ------------------------------------------------------------ rate
before_a=$(grep -c ' flood-' "$E2E_WORK/a/udp.log" || true)
rl0=$(pctl s status | jget data.counters.bcast_tx_rate_limited)
sleep 2.5 # the bucket refills to its burst
res=$(send s "$BC" flood --count 300 --interval 0.0033 --max-seconds 5)
info "flood: $res"
sleep 2
n_a=$(($(grep -c ' flood-' "$E2E_WORK/a/udp.log" || true) - before_a))
rl=$(($(pctl s status | jget data.counters.bcast_tx_rate_limited) - rl0))
# At most the burst (40) plus 20/s over the flood's length (rounded up).
el_ms=$(jget elapsed_ms <<<"$res")
max=$((40 + (20 * el_ms + 999) / 1000 + 3))
info "flood: $el_ms ms; a got $n_a of 300 (allowed 40..$max); s rate-limited $rl"
check "flood: cut to the rate at the sender (burst 40 + 20/s over $el_ms ms: $n_a delivered)" \
	eval '[ "$n_a" -ge 40 ] && [ "$n_a" -le "$max" ] && [ "$rl" -ge $((300 - max)) ]'
check "flood: e got as many as a (the cut is the sender's, before fan-out)" \
	eval 'n_e=$(grep -c " flood-" "$E2E_WORK/e/udp.log"); [ $((n_e - n_a)) -le 2 ] && [ $((n_a - n_e)) -le 2 ]'
before_a=$(grep -c ' fflood-' "$E2E_WORK/a/udp.log" || true)
sleep 2.5
res=$(send f "$BC" fflood --count 300 --interval 0.0033 --max-seconds 5)
sleep 2
el_ms=$(jget elapsed_ms <<<"$res")
max=$((40 + (20 * el_ms + 999) / 1000 + 3))
n_a=$(($(grep -c ' fflood-' "$E2E_WORK/a/udp.log" || true) - before_a))
n_e=$(grep -c ' fflood-' "$E2E_WORK/e/udp.log" || true)
info "f's flood (its own limit 5000/s): $el_ms ms; a got $n_a, e got $n_e (allowed 40..$max each)"
check "f's flood: each receiver cuts it to its own rate (a $n_a, e $n_e of 300)" \
	eval '[ "$n_a" -ge 40 ] && [ "$n_a" -le "$max" ] && [ "$n_e" -ge 40 ] && [ "$n_e" -le "$max" ]'
check "a: bcast_rx_rate_limited counts f's excess" \
	eval '[ "$(pctl a status | jget data.counters.bcast_rx_rate_limited)" -ge $((300 - max)) ]'
check "metrics: s's pilot_broadcast_datagrams_total{dir=out,outcome=rate_limited} counts the cut" \
	eval 'pctl s status | jget data.counters.bcast_tx_rate_limited | grep -qv "^0$"'

# ------------------------------------------------------------ audit in aggregate
check "s: a broadcast.summary audit record within 70 s" \
	e2e_wait 70 eval 'pctl s audit --type broadcast.summary | grep -q "\"network_id\":30"'
check "... and no audit record per datagram (fewer than 5 summaries)" \
	eval '[ "$(pctl s audit --type broadcast.summary | jget "data.events[].type" | wc -l)" -lt 5 ]'

# ------------------------------------------------------------ leave
check "a: network leave 30 takes the broadcast address off pilot0" \
	eval 'pctl_ok a network leave 30 && ! e2e_has_addr a pilot0 "$BC"'
sleep 2.5
send s "$BC" afterleave >/dev/null
e2e_wait 5 eval '[ "$(got e afterleave)" = 1 ]'
sleep 1
check "after a left, the next broadcast reaches e and r only (seen by: $(seen_by afterleave))" \
	eval '[ "$(seen_by afterleave)" = "e r" ]'

e2e_finish
