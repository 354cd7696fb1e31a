#!/bin/sh
# refused.sh - end-to-end: a flow the far side refuses fails fast on the
# initiator (SPEC section 5; issue 12, item 3).  The responder answers an
# authenticated peer's refused first packet through the tunnel - a TCP RST,
# or ICMPv6 "administratively prohibited" (type 1 code 1) for UDP and echo -
# rate-limited per peer; a source without a tunnel gets silence.
#   (a) A blocks B (trusted): from B, `nc -z -w 3` to A fails with
#       "Connection refused" well under 1 s; a connected UDP socket's send
#       is answered "permission denied" (EACCES); ping sees "administratively
#       prohibited"; A counts the refusals; a burst of SYNs is answered only
#       up to the per-peer budget
#   (b) A network with a policy: A's view denies tcp/22, udp/5353 and ping
#       while B, cut off from the registry, still holds the old view that
#       allowed them: A refuses them at once (RST, ICMPv6), and B takes
#       A's ICMPv6 error for its own flow although its policy has no rule
#       for ICMPv6 errors
#   (c) C, with no tunnel to A, gets silence: records and initiations from
#       its underlay address are not answered
# Needs root; exit 77 (skip) otherwise.
[ -z "${BASH_VERSION:-}" ] && { command -v bash >/dev/null 2>&1 || { echo "SKIP: no bash"; exit 77; }; exec bash "$0" "$@"; }
. "$(dirname "$0")/lib.sh"

e2e_init
e2e_require nc ping nft curl
TOKEN="e2e-admin-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
NETTOK="net-secret-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
RDV_EXTRA_ARGS="--admin-token $TOKEN"

e2e_underlay
e2e_host rdv 1
e2e_host a 2
e2e_host b 3
e2e_host c 4
e2e_start_rdv
for n in a b c; do e2e_start_node "$n" "node-$n" || fatal "pilotd $n ready"; done
e2e_establish_trust b a || fatal "B and A trust each other"
ok "rendezvous, A, B, C up; A and B trusted"
A6=${NODE_IP6[a]}
e2e_serve a 80 http "page-a" || fatal "HTTP server on A:80"
e2e_serve a 22 http "not-ssh" || fatal "server on A:22"
check "trusted: B -> A tcp/80 works" \
	e2e_wait 15 eval 'ip netns exec "${HOST_NS[b]}" curl -sS --max-time 3 -o /dev/null "http://[$A6]:80/"'

# nc_z FROM HOST PORT: `nc -z -v -w 3`; sets NC_RC, NC_EL (seconds), NC_OUT
nc_z() {
	local t0
	t0=$(e2e_now)
	NC_OUT=$(ip netns exec "${HOST_NS[$1]}" nc -z -v -w 3 "$2" "$3" 2>&1)
	NC_RC=$?
	NC_EL=$(e2e_elapsed "$t0")
}
ctr() { pctl "$1" status | jget "data.counters.$2" 2>/dev/null || echo 0; } # NODE NAME

# udp_probe FROM HOST PORT: a connected UDP socket sends one datagram and
# waits up to 2 s for the answer; prints the errno name (or "timeout", "data")
udp_probe() {
	ip netns exec "${HOST_NS[$1]}" "$PY" -c '
import errno, socket, sys, time
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.settimeout(2)
s.connect((sys.argv[1], int(sys.argv[2])))
t0 = time.monotonic()
try:
    s.send(b"knock")
    s.recv(100)
    r = "data"
except socket.timeout:
    r = "timeout"
except OSError as e:
    r = errno.errorcode.get(e.errno, str(e.errno))
print("%s %.3f" % (r, time.monotonic() - t0))
' "$2" "$3"
}
# syn_burst FROM HOST PORT N: N connects at once, non-blocking; they are
# abandoned after 0.3 s
syn_burst() {
	ip netns exec "${HOST_NS[$1]}" "$PY" -c '
import socket, sys, time
ss = []
for i in range(int(sys.argv[3])):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setblocking(False)
    try:
        s.connect((sys.argv[1], int(sys.argv[2])))
    except BlockingIOError:
        pass
    ss.append(s)
time.sleep(0.3)
for s in ss:
    s.close()
' "$2" "$3" "$4"
}

# ------------------------------------------------------------ (a) block list
rst0=$(ctr a refusals_rst_sent)
check "(a) A: block B" pctl_ok a block "${NODE_ID[b]}"
nc_z b "$A6" 80
info "(a) nc -z -w 3 from B (blocked): rc $NC_RC, ${NC_EL}s: $NC_OUT"
check "(a) B -> A tcp/80 refused (nc rc $NC_RC)" [ "$NC_RC" != 0 ]
check "(a) ... well under 1 s (${NC_EL}s)" e2e_le "$NC_EL" 0.5
check "(a) ... as \"Connection refused\"" eval 'grep -qi "refused" <<<"$NC_OUT"'
check "(a) A answered with a RST through the tunnel (refusals_rst_sent $rst0 -> $(ctr a refusals_rst_sent))" \
	[ "$(ctr a refusals_rst_sent)" -gt "$rst0" ]
for i in 1 2 3; do nc_z b "$A6" 80; info "(a) nc -z -w 3 again: rc $NC_RC, ${NC_EL}s"; done
check "(a) ... every time (last: ${NC_EL}s)" e2e_le "$NC_EL" 0.5
res=$(udp_probe b "$A6" 5353)
info "(a) UDP from B: $res"
check "(a) B's UDP send answered at once with EACCES (administratively prohibited): $res" \
	eval '[ "${res%% *}" = EACCES ] && e2e_le "${res#* }" 0.5'
t0=$(e2e_now)
out=$(ip netns exec "${HOST_NS[b]}" ping -6 -c 1 -W 3 "$A6" 2>&1); rc=$?
el=$(e2e_elapsed "$t0")
info "(a) ping from B: rc $rc, ${el}s: $(tr '\n' ' ' <<<"$out" | head -c 300)"
check "(a) B's ping sees \"administratively prohibited\" at once (${el}s)" \
	eval '[ "$rc" != 0 ] && grep -qi "prohibited" <<<"$out" && e2e_le "$el" 1.0'
check "(a) A counted the ICMPv6 answers (refusals_icmp_sent $(ctr a refusals_icmp_sent))" \
	[ "$(ctr a refusals_icmp_sent)" -ge 2 ]
check "(a) A's server on 80 saw nothing of B while blocked" eval '[ "$(e2e_srv_count a 80 accept)" = 1 ]'

# Per-peer budget: 200 SYNs at once get at most the burst (2 s worth) and
# what refills meanwhile; the rest stay unanswered and are counted.
r0=$(ctr a refusals_rst_sent) l0=$(ctr a refusals_rate_limited)
syn_burst b "$A6" 80 200
sleep 0.3
r1=$(ctr a refusals_rst_sent) l1=$(ctr a refusals_rate_limited)
info "(a) 200 SYNs at once: $((r1 - r0)) answered, $((l1 - l0)) over budget"
check "(a) ... answers bounded by the per-peer budget ($((r1 - r0)) <= 60)" [ $((r1 - r0)) -le 60 ]
check "(a) ... the rest counted as rate-limited ($((l1 - l0)) >= 100)" [ $((l1 - l0)) -ge 100 ]
check "(a) status counters name the refusals" eval 'pctl a status | grep -q refusals_rate_limited'
check "(a) A: unblock B" pctl_ok a unblock "${NODE_ID[b]}"
check "(a) unblocked: B -> A tcp/80 works again" \
	e2e_wait 10 eval 'ip netns exec "${HOST_NS[b]}" curl -sS --max-time 3 -o /dev/null "http://[$A6]:80/"'

# ------------------------------------------------------------ (b) the responder's policy denies
check "(b) admin: network create lab --id 30" \
	pctl_ok a --admin-token "$TOKEN" network create lab --id 30 --join-rule token --token "$NETTOK"
for n in a b; do check "(b) $n joins 30" pctl_ok "$n" network join 30 --token "$NETTOK"; done
check "(b) a: set-tags server" pctl_ok a set-tags server
check "(b) b: set-tags client" pctl_ok b set-tags client
check "(b) A and B no longer trusted (the network's policy decides)" eval 'pctl_ok a untrust "${NODE_ID[b]}"'
A30=$(sed 's/::.*//' <<<"$A6")
A30=$(printf '%s:1e::%x' "$A30" "${NODE_ID[a]}")
cat >"$E2E_WORK/v1.json" <<'JSON'
{"rules": [{"name": "ops", "from": ["tag:client"], "to": ["tag:server"], "ports": ["tcp/22", "tcp/80", "udp/5353", "icmp"]}]}
JSON
cat >"$E2E_WORK/v2.json" <<'JSON'
{"rules": [{"name": "web", "from": ["tag:client"], "to": ["tag:server"], "ports": ["tcp/80"]}]}
JSON
check "(b) policy 30: client -> server tcp/22, tcp/80" pctl_ok a --admin-token "$TOKEN" policy set 30 "$E2E_WORK/v1.json"
nc_ok() { nc_z b "$A30" "$1"; [ "$NC_RC" = 0 ]; }
check "(b) B -> [A]:22 in network 30 allowed" e2e_wait 15 nc_ok 22
# B loses the registry (its events stream too): it keeps the old view.
ip netns exec "${HOST_NS[b]}" nft -f - <<NFT || fatal "(b) nftables in B"
table inet e2e_cut {
	chain out { type filter hook output priority 0; ip daddr $RDV_IP tcp dport $RDV_PORT drop; }
	chain in { type filter hook input priority 0; ip saddr $RDV_IP tcp sport $RDV_PORT drop; }
}
NFT
ok "(b) B cut off from the registry"
check "(b) policy 30 without tcp/22 (A hears it, B does not)" \
	pctl_ok a --admin-token "$TOKEN" policy set 30 "$E2E_WORK/v2.json"
pd0=$(ctr b denied_policy) r0=$(ctr a refusals_rst_sent)
nc_refused() { nc_z b "$A30" 22; [ "$NC_RC" != 0 ]; }
check "(b) A's view refuses B -> [A]:22" e2e_wait 10 nc_refused
nc_z b "$A30" 22
info "(b) nc -z -w 3 from B (policy denies at A): rc $NC_RC, ${NC_EL}s: $NC_OUT"
check "(b) ... refused well under 1 s (${NC_EL}s)" eval '[ "$NC_RC" != 0 ] && e2e_le "$NC_EL" 0.5'
check "(b) ... as \"Connection refused\"" eval 'grep -qi "refused" <<<"$NC_OUT"'
check "(b) ... by A through the tunnel, not by B's own (stale) view" \
	eval '[ "$(ctr b denied_policy)" = "$pd0" ] && [ "$(ctr a refusals_rst_sent)" -gt "$r0" ]'
res=$(udp_probe b "$A30" 5353)
check "(b) B's UDP send (stale view allows) answered by A with EACCES at once: $res" \
	eval '[ "${res%% *}" = EACCES ] && e2e_le "${res#* }" 0.5'
t0=$(e2e_now)
out=$(ip netns exec "${HOST_NS[b]}" ping -6 -c 1 -W 3 "$A30" 2>&1); rc=$?
el=$(e2e_elapsed "$t0")
check "(b) B's ping (stale view allows) sees \"administratively prohibited\" at once (${el}s)" \
	eval '[ "$rc" != 0 ] && grep -qi "prohibited" <<<"$out" && e2e_le "$el" 1.0'
check "(b) B -> [A]:80 still allowed" nc_ok 80
ip netns exec "${HOST_NS[b]}" nft delete table inet e2e_cut
ok "(b) B reaches the registry again"

# ------------------------------------------------------------ (c) no tunnel: silence
# C has no trust with A and shares no network: a data record or a forged
# initiation from C's underlay address gets no answer at all.
r0=$(ctr a refusals_rst_sent) i0=$(ctr a refusals_icmp_sent)
res=$(ip netns exec "${HOST_NS[c]}" "$PY" -c '
import os, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1.5)
s.sendto(bytes([4, 0, 0, 0]) + os.urandom(60), (sys.argv[1], int(sys.argv[2])))
s.sendto(bytes([1, 0, 0, 0]) + os.urandom(144), (sys.argv[1], int(sys.argv[2])))
try:
    d = s.recvfrom(2048)
    print("answered", len(d[0]))
except socket.timeout:
    print("silence")
' "${HOST_IP[a]}" "$NODE_PORT")
check "(c) records from C (no tunnel) get silence ($res)" [ "$res" = silence ]
check "(c) and no refusal went out" \
	eval '[ "$(ctr a refusals_rst_sent)" = "$r0" ] && [ "$(ctr a refusals_icmp_sent)" = "$i0" ]'
check "both pilotd still running" eval 'e2e_alive "${NODE_PID[a]}" && e2e_alive "${NODE_PID[b]}"'
e2e_finish
