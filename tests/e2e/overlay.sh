#!/bin/sh
# overlay.sh - end-to-end: rendezvous + two nodes in namespaces.
#   (a) dark by default: before trust, B cannot open TCP to A (fails within
#       1 s) and A's listener never sees the attempt
#   (b) handshake -> pending -> approve; HTTP both ways and ping over the overlay
#   (e) the data goes through pilot0 and the UDP underlay carries no plaintext
#   (d) A's pilotd restarts: same node ID/address, trust kept, B reaches A
#       again without a new handshake
#   (c) untrust with an open TCP connection: the client sees a reset/close
#       within 1 s; the flow and the trust are gone on both sides
# Needs root; exit 77 (skip) otherwise.  See lib.sh for the topology.
[ -z "${BASH_VERSION:-}" ] && { command -v bash >/dev/null 2>&1 || { echo "SKIP: no bash"; exit 77; }; exec bash "$0" "$@"; }
. "$(dirname "$0")/lib.sh"

e2e_init
e2e_require curl ping
MARK="PILOTMARK$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"

# ------------------------------------------------------------ setup
e2e_underlay
e2e_host rdv 1
e2e_host a 2
e2e_host b 3
e2e_underlay_ping b "$RDV_IP" && e2e_underlay_ping a "${HOST_IP[b]}" || fatal "underlay: the namespaces reach each other"
ok "underlay: bridge + 3 namespaces (198.18.0.1-3)"
e2e_start_rdv
ok "pilot-rendezvous up on $RDV_IP:$RDV_PORT (pin $RDV_PIN)"
e2e_start_node a alice || fatal "pilotd alice ready (info answers with an address) within ${E2E_READY_S}s"
e2e_start_node b bob || fatal "pilotd bob ready within ${E2E_READY_S}s"
ok "both pilotd ready"
A=${NODE_ID[a]} B=${NODE_ID[b]} A6=${NODE_IP6[a]} B6=${NODE_IP6[b]}

addr_form() { printf '%s\n' "$1" | grep -Eq '^[0-9]+:[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}$'; }
check "info: distinct node IDs ($A, $B)" eval '[ -n "$A" ] && [ -n "$B" ] && [ "$A" != "$B" ]'
check "info: addresses in N:NNNN.HHHH.LLLL form (${NODE_ADDR[a]}, ${NODE_ADDR[b]})" \
	eval 'addr_form "${NODE_ADDR[a]}" && addr_form "${NODE_ADDR[b]}"'
check "info: hostnames alice/bob" eval 'pctl_has a info data.hostname alice && pctl_has b info data.hostname bob'
same48() { "$PY" -c 'import ipaddress,sys
a,b=(ipaddress.IPv6Address(x) for x in sys.argv[1:3])
sys.exit(not (a in ipaddress.ip_network("fd00::/8") and a.packed[:6]==b.packed[:6] and a!=b))' "$1" "$2"; }
check "info: overlay IPv6 in one fd..::/48 ($A6, $B6)" same48 "$A6" "$B6"
check "pilot0 in A's namespace carries $A6" e2e_has_addr a pilot0 "$A6"
check "pilot0 in B's namespace carries $B6" e2e_has_addr b pilot0 "$B6"

e2e_serve a 8000 http "$MARK" || fatal "HTTP server on A [::]:8000"
e2e_serve b 8000 http "$MARK" || fatal "HTTP server on B [::]:8000"

# ------------------------------------------------------------ (a) dark by default
try_connect() { # FROM TO-IPV6 PORT: prints the helper's JSON; 0 = connected
	ip netns exec "${HOST_NS[$1]}" "$PY" "$E2E_HELPER" connect --host "$2" --port "$3" --timeout 1
}
res=$(try_connect b "$A6" 8000); rc=$?
el=$(jget elapsed <<<"$res")
check "(a) before trust: B -> [A]:8000 TCP connect fails ($res)" [ "$rc" != 0 ]
check "(a) before trust: the attempt ends within 1 s (${el}s)" e2e_le "${el:-9}" 1.2
res=$(try_connect a "$B6" 8000); rc=$?
check "(a) before trust: A -> [B]:8000 TCP connect fails ($res)" [ "$rc" != 0 ]
ip netns exec "${HOST_NS[b]}" curl -6 -sS --max-time 1 -o /dev/null "http://[$A6]:8000/dark" 2>/dev/null
check "(a) before trust: curl B -> A fails" [ $? != 0 ]
sleep 1   # a SYN let through late would show up by now
check "(a) A's listener never saw B ($(e2e_srv_count a 8000 accept) accepts)" [ "$(e2e_srv_count a 8000 accept)" = 0 ]
check "(a) B's listener never saw A ($(e2e_srv_count b 8000 accept) accepts)" [ "$(e2e_srv_count b 8000 accept)" = 0 ]
check "(a) no trust yet on A" eval '! pctl_has a trust "data.trusted[].node_id" "$B"'

# ------------------------------------------------------------ (b) trust, then traffic
check "(b) B: handshake $A \"e2e: bob asks alice\"" pctl_ok b handshake "$A" "e2e: bob asks alice" ||
	info "reply: $PCTL_OUT"
check "(b) A: pending shows B ($B) within 10 s" e2e_wait 10 pctl_has a pending 'data.pending[].node_id' "$B" ||
	fatal "handshake request reached A"
check "(b) A: approve $B" pctl_ok a approve "$B" || fatal "approve: $PCTL_OUT"
check "(b) A: trust lists B" e2e_wait 10 pctl_has a trust 'data.trusted[].node_id' "$B"
check "(b) B: trust lists A within 10 s" e2e_wait 10 pctl_has b trust 'data.trusted[].node_id' "$A"
t0=$(e2e_now)
e2e_curl_until 15 b a 8000 "/b-to-a-$MARK" "$E2E_WORK/b1.html" ||
	fatal "(b) curl B -> http://[$A6]:8000/ works within 15 s of approval (last error: $(e2e_curl_err))"
ok "(b) curl B -> http://[$A6]:8000/ works ($(e2e_elapsed "$t0")s after approval incl. tunnel setup)"
check "(b) ... and returns A's page" grep -qs "$MARK" "$E2E_WORK/b1.html"
check "(b) A's server saw the request" grep -q "request .*b-to-a-$MARK" "$E2E_WORK/a/srv8000.log"
e2e_curl_until 10 a b 8000 "/a-to-b" "$E2E_WORK/a1.html"
check "(b) reverse: curl A -> http://[$B6]:8000/ works" grep -qs "$MARK" "$E2E_WORK/a1.html"
out=$(ip netns exec "${HOST_NS[b]}" ping -6 -c 2 -W 2 "$A6" 2>&1)
check "(b) ping -6 -c 2 -W 2 B -> A ($(echo "$out" | grep -o '[0-9]* received'))" \
	eval 'echo "$out" | grep -q " 2 received"'
check "(b) pilotctl ping $A -c 1 (B -> A)" pctl_ok b ping "$A" -c 1 || info "reply: $PCTL_OUT"
out=$(pctl b peers 2>&1)
check "(b) B: peers lists A" eval 'jget "data.peers[].node_id" <<<"$out" | grep -qx "$A"'

# ------------------------------------------------------------ (e) through pilot0, no plaintext on the wire
rxa0=$(e2e_tun_stat a rx_packets) txb0=$(e2e_tun_stat b tx_packets)
W=$E2E_WORK/sniff; mkdir -p "$W"
e2e_bg "${HOST_NS[b]}" "$W/sniff.err" "$PY" "$E2E_HELPER" sniff --iface eth0 --duration 20 \
	--ready "$W/ready" --stop "$W/stop" --out "$W/b-eth0.json" --marker "$MARK"
SNIFF=$LASTPID
e2e_wait 5 test -e "$W/ready" || fatal "(e) sniffer on B's eth0 ready"
e2e_curl_until 10 b a 8000 "/sniffed-$MARK" "$E2E_WORK/b2.html"
check "(e) curl B -> A during the capture returns the marked page" grep -qs "$MARK" "$E2E_WORK/b2.html"
touch "$W/stop"
e2e_wait 5 test -e "$W/b-eth0.json"
e2e_stop_pids "$SNIFF"
[ -f "$W/b-eth0.json" ] || fatal "(e) sniffer result ($(cat "$W/sniff.err"))"
info "capture on B's eth0: $(cat "$W/b-eth0.json")"
s_udp=$(jget udp_by_port.$NODE_PORT <"$W/b-eth0.json" || echo 0)
check "(e) the request/response crossed the underlay as UDP to port $NODE_PORT ($s_udp datagrams)" \
	[ "${s_udp:-0}" -gt 0 ]
check "(e) the page's marker appears in no UDP payload" [ "$(jget marker_in_udp <"$W/b-eth0.json")" = 0 ]
check "(e) ... nor in any frame on the underlay" [ "$(jget marker_in_any <"$W/b-eth0.json")" = 0 ]
rxa1=$(e2e_tun_stat a rx_packets) txb1=$(e2e_tun_stat b tx_packets)
moved() { [ "$1" != NA ] && [ "$2" != NA ] && [ "$(($2 - $1))" -ge 10 ]; }
check "(e) A's pilot0 RX packets moved ($rxa0 -> $rxa1)" moved "$rxa0" "$rxa1"
check "(e) B's pilot0 TX packets moved ($txb0 -> $txb1)" moved "$txb0" "$txb1"

# ------------------------------------------------------------ (d) restart A: identity and trust persist
RESTART_S=${RESTART_S:-30}
e2e_stop_node a
check "(d) A's pilotd stopped" eval '! e2e_alive "${NODE_PID[a]}"'
oldid=$A oldaddr=${NODE_ADDR[a]} old6=$A6
e2e_start_node a alice || fatal "(d) A's pilotd ready again after restart within ${E2E_READY_S}s"
check "(d) same node_id after restart ($oldid -> ${NODE_ID[a]})" [ "${NODE_ID[a]}" = "$oldid" ]
check "(d) same address after restart ($oldaddr -> ${NODE_ADDR[a]})" [ "${NODE_ADDR[a]}" = "$oldaddr" ]
check "(d) same overlay IPv6 after restart ($old6 -> ${NODE_IP6[a]})" [ "${NODE_IP6[a]}" = "$old6" ]
check "(d) A's trust still lists B" pctl_has a trust 'data.trusted[].node_id' "$B"
check "(d) B's trust still lists A" pctl_has b trust 'data.trusted[].node_id' "$A"
t0=$(e2e_now)
if e2e_curl_until "$RESTART_S" b a 8000 "/after-restart" "$E2E_WORK/b3.html" && grep -qs "$MARK" "$E2E_WORK/b3.html"; then
	ok "(d) B -> A curl works again without a new handshake ($(e2e_elapsed "$t0")s after A was ready)"
else
	not_ok "(d) B -> A curl works again without a new handshake within ${RESTART_S}s (last error: $(e2e_curl_err))"
fi
check "(d) no handshake request was needed (A's pending list has no B)" \
	eval '! pctl_has a pending "data.pending[].node_id" "$B"'

# ------------------------------------------------------------ (c) untrust cuts live flows at once
e2e_serve a 8001 hold "$MARK" || fatal "(c) holding server on A [::]:8001"
ST=$E2E_WORK/hold.status
e2e_bg "${HOST_NS[b]}" "$E2E_WORK/hold-client.out" "$PY" "$E2E_HELPER" hold-client --host "$A6" \
	--port 8001 --status "$ST" --max-seconds 10
HOLD=$LASTPID
e2e_wait 10 grep -qs '^connected' "$ST" || fatal "(c) B's client holds an open TCP connection to A ($(cat "$ST" 2>/dev/null))"
e2e_wait 5 grep -qs '^established' "$E2E_WORK/a/srv8001.log"
ok "(c) B holds an open TCP connection to [A]:8001"
sleep 0.5
t0=$(e2e_now)
check "(c) A: untrust $B" pctl_ok a untrust "$B" || info "reply: $PCTL_OUT"
info "(c) untrust reply: $PCTL_OUT"
e2e_wait 5 grep -qs '^closed' "$ST"
read -r _ kind tc <"$ST" 2>/dev/null
if [ "$kind" = reset ] || [ "$kind" = eof ]; then
	el=$(e2e_elapsed "$t0" "$tc")
	check "(c) B's client saw the connection cut ($kind) within 1 s of untrust: ${el}s" e2e_le "$el" 1.0
else
	not_ok "(c) B's client saw the connection cut within 1 s of untrust (status: $(cat "$ST" 2>/dev/null))"
fi
e2e_stop_pids "$HOLD"
e2e_wait 2 grep -qs '^closed' "$E2E_WORK/a/srv8001.log"
line=$(grep '^closed' "$E2E_WORK/a/srv8001.log" | head -n 1)
if [ -n "$line" ]; then
	set -- $line
	el=$(e2e_elapsed "$t0" "$4")
	check "(c) A's server saw the connection cut ($3) within 1 s: ${el}s" e2e_le "$el" 1.0
else
	not_ok "(c) A's server saw the connection cut within 1 s"
fi
check "(c) A's trust no longer lists B" eval '! pctl_has a trust "data.trusted[].node_id" "$B"'
check "(c) A's audit log records the untrust (trust.revoked)" \
	eval 'pctl a audit --type trust.revoked | grep -q "untrusted by this node"'
check "(c) B's trust no longer lists A (within 5 s)" e2e_wait 5 eval '! pctl_has b trust "data.trusted[].node_id" "$A"'
n0=$(e2e_srv_count a 8000 accept)
res=$(try_connect b "$A6" 8000); rc=$?
check "(c) after untrust: B -> [A]:8000 connect fails ($res)" [ "$rc" != 0 ]
sleep 0.5
check "(c) after untrust: A's listener saw nothing new" [ "$(e2e_srv_count a 8000 accept)" = "$n0" ]

check "both pilotd still running" eval 'e2e_alive "${NODE_PID[a]}" && e2e_alive "${NODE_PID[b]}"'
check "pilot-rendezvous still running" e2e_alive "$RDV_PID"
e2e_finish
