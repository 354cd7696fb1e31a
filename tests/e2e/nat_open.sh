#!/bin/sh
# nat_open.sh - end-to-end: hole punching through NAT routers that do not
# filter inbound (issue 12, item 6).  nat.sh's routers drop unsolicited
# inbound; these run plain Linux masquerade with nothing else, so a
# datagram that reaches a router before its host's own mapping exists is
# taken by the router itself and conntrack keeps an entry for it, which
# makes masquerade move the host's port when it then sends (the
# simultaneous-open clash).  Topology (198.18.0.0/15 only):
#
#   bridge "internet" 198.18.0.0/24
#     rdv   198.18.0.1    pilot-rendezvous, registry 9000/tcp, beacon 9001/udp
#     core  198.18.0.254  a router: natP and natQ reach each other through it
#     natP  198.18.0.21   EIM masquerade, no inbound filter -- p 198.18.21.2
#     natQ  198.18.0.22   EIM masquerade, no inbound filter -- q 198.18.22.2
#
#   (0) the routers are open: an unsolicited datagram to natQ leaves an
#       [UNREPLIED] conntrack entry there (what spoils a naive punch)
#   (1) p <-> q: trust, curl both ways, path "punched" both ways, and the
#       punch left natQ and natP no entry from the other's public address
#       that is not a mapping of their host
#   (2) both restart, NAT state flushed, three times: punched again each time
# Needs root, nft and conntrack; exit 77 (skip) otherwise.
[ -z "${BASH_VERSION:-}" ] && { command -v bash >/dev/null 2>&1 || { echo "SKIP: no bash"; exit 77; }; exec bash "$0" "$@"; }
E2E_TIMEOUT=${E2E_TIMEOUT:-300}
. "$(dirname "$0")/lib.sh"

e2e_init
e2e_require curl nft conntrack
MARK="PILOTMARK$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
BEACON=$RDV_IP:9001
RDV_EXTRA_ARGS="--beacon-listen $BEACON ${RDV_EXTRA_ARGS:-}"
PILOTD_EXTRA_ARGS="--beacon $BEACON ${PILOTD_EXTRA_ARGS:-}"
ROUNDS=${NAT_OPEN_ROUNDS:-3}

# ------------------------------------------------------------ (0) topology
e2e_underlay
e2e_host rdv 1
e2e_host core 254
ip netns exec "${HOST_NS[core]}" sysctl -qw net.ipv4.ip_forward=1 \
	net.ipv4.conf.all.send_redirects=0 net.ipv4.conf.eth0.send_redirects=0 >/dev/null ||
	fatal "(0) core forwards"
e2e_nat_router natP 21 198.18.21 eim open
e2e_nat_router natQ 22 198.18.22 eim open
# The two NATs are a router apart, as on the internet (never neighbours).
ip -n "${HOST_NS[natP]}" route add 198.18.0.22/32 via 198.18.0.254 || fatal "(0) natP -> core"
ip -n "${HOST_NS[natQ]}" route add 198.18.0.21/32 via 198.18.0.254 || fatal "(0) natQ -> core"
for r in natP natQ; do
	ip netns exec "${HOST_NS[$r]}" sysctl -qw net.ipv4.conf.all.accept_redirects=0 \
		net.ipv4.conf.eth0.accept_redirects=0 >/dev/null
done
e2e_nat_host p natP
e2e_nat_host q natQ
for n in p q; do
	e2e_underlay_ping "$n" "$RDV_IP" || fatal "(0) $n reaches the rendezvous"
done
hops=$(ip netns exec "${HOST_NS[p]}" ping -c 1 -W 1 198.18.0.22 2>/dev/null | sed -n 's/.*ttl=\([0-9]*\).*/\1/p')
ok "(0) underlay: natP and natQ (plain masquerade) a router apart; p reaches natQ (ttl $hops on arrival)"

unreplied_from() { # ROUTER PEER-IP: conntrack entries from PEER-IP to the router itself, unreplied
	ip netns exec "${HOST_NS[$1]}" conntrack -L -p udp -s "$2" -d "${HOST_IP[$1]}" 2>/dev/null | grep -c UNREPLIED
}
nt_send() { # NS DST-IP DPORT: one datagram from port 4242
	ip netns exec "$1" "$PY" -c 'import socket,sys
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(("0.0.0.0",4242)); s.sendto(b"x",(sys.argv[1],int(sys.argv[2])))' "$2" "$3"
}
nt_send "${HOST_NS[p]}" 198.18.0.22 4242
check "(0) natQ is open: p's unsolicited datagram left an [UNREPLIED] entry on natQ" \
	e2e_wait 3 eval '[ "$(unreplied_from natQ 198.18.0.21)" -ge 1 ]'
for r in natP natQ; do e2e_nat_flush "$r"; done

# ------------------------------------------------------------ daemons
e2e_start_rdv
for n in p q; do e2e_start_node "$n" "node-$n" || fatal "pilotd $n ready"; done
P=${NODE_ID[p]} Q=${NODE_ID[q]}
beacon_ok() { [ "$(pctl "$1" status 2>/dev/null | jget data.beacon.state 2>/dev/null)" = ok ]; }
for n in p q; do check "$n: beacon state ok" e2e_wait 10 beacon_ok "$n"; done
e2e_serve q 8080 http "$MARK" || fatal "HTTP server on q"
e2e_serve p 8080 http "$MARK" || fatal "HTTP server on p"
check "(1) trust p <-> q" e2e_establish_trust p q || fatal "(1) trust p <-> q"

punched_both() { e2e_peer_path_is p "$Q" punched && e2e_peer_path_is q "$P" punched; }
paths() { echo "p: $(e2e_peer p "$Q" path 2>/dev/null) $(e2e_peer p "$Q" endpoint 2>/dev/null), q: $(e2e_peer q "$P" path 2>/dev/null) $(e2e_peer q "$P" endpoint 2>/dev/null)"; }
round() { # LABEL: curl both ways, then punched both ways; prints the time
	local t0 l=$1
	t0=$(e2e_now)
	if ! e2e_curl_until 20 p q 8080 "/p-to-q-$l-$MARK" "$E2E_WORK/pq.html" || ! grep -qs "$MARK" "$E2E_WORK/pq.html"; then
		not_ok "$l: curl p -> q ($(e2e_curl_err))"
		return 1
	fi
	check "$l: curl q -> p" e2e_curl_until 10 q p 8080 "/q-to-p-$l-$MARK" "$E2E_WORK/qp.html"
	if e2e_wait 15 punched_both; then
		ok "$l: path punched both ways $(e2e_elapsed "$t0")s after the first packet ($(paths))"
	else
		not_ok "$l: path punched both ways within 15 s ($(paths))"
		return 1
	fi
}
round "(1)"
# What the punch leaves on each router: an entry from the other's public
# address to the router itself means a punch landed before its mapping.
for r in natP natQ; do
	o=$([ "$r" = natP ] && echo 198.18.0.22 || echo 198.18.0.21)
	check "(1) $r: no [UNREPLIED] entry from $o to the router itself" eval '[ "$(unreplied_from "$r" "$o")" = 0 ]'
done

# ------------------------------------------------------------ (2) again, from nothing
for i in $(seq 1 "$ROUNDS"); do
	for n in p q; do e2e_stop_node "$n"; done
	for r in natP natQ; do e2e_nat_flush "$r"; done
	for n in p q; do e2e_start_node "$n" "node-$n" || fatal "(2) pilotd $n ready again"; done
	for n in p q; do e2e_wait 10 beacon_ok "$n"; done
	round "(2.$i)"
done
e2e_finish
