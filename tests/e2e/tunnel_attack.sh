#!/bin/sh
# tunnel_attack.sh - the tunnel against an on-path / off-path attacker.
# After A and B trust each other and traffic flowed:
#   (a) one real data record (UDP to A:4242, captured on A's veth) is re-sent
#       from B's namespace, from another port and, with a raw socket, from B's
#       own address and port 4242: A's pilot0 RX (packets pilotd wrote into the
#       TUN) must not move and `status` must count a replay drop
#   (b) random garbage, junk "data" records and bit-flipped records: no TUN
#       write; the flipped record with a fresh counter counts as an auth drop
#   (c) forged handshake inits (148 bytes, type 1, random) are rejected: no new
#       peer, no TUN write, the tunnel keeps working
#   (d) a flood of 2000 forged inits does not stop real traffic
# Needs root; exit 77 (skip) otherwise.  See lib.sh for the topology.
[ -z "${BASH_VERSION:-}" ] && { command -v bash >/dev/null 2>&1 || { echo "SKIP: no bash"; exit 77; }; exec bash "$0" "$@"; }
. "$(dirname "$0")/lib.sh"

e2e_init
e2e_require curl ping
MARK="PILOTMARK$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"

# ------------------------------------------------------------ setup: trust and traffic
e2e_underlay
e2e_host rdv 1
e2e_host a 2
e2e_host b 3
e2e_underlay_ping b "$RDV_IP" && e2e_underlay_ping a "${HOST_IP[b]}" || fatal "underlay: the namespaces reach each other"
e2e_start_rdv
e2e_start_node a alice || fatal "pilotd alice ready within ${E2E_READY_S}s"
e2e_start_node b bob || fatal "pilotd bob ready within ${E2E_READY_S}s"
A=${NODE_ID[a]} B=${NODE_ID[b]} A6=${NODE_IP6[a]}
A_EP=${HOST_IP[a]}:$NODE_PORT
e2e_serve a 8000 http "$MARK" || fatal "HTTP server on A [::]:8000"
e2e_establish_trust b a || fatal "trust B <-> A established (handshake, approve)"
ok "setup: A ($A) and B ($B) trust each other"
e2e_curl_until 15 b a 8000 /warmup "$E2E_WORK/w.html" && grep -qs "$MARK" "$E2E_WORK/w.html" ||
	fatal "setup: curl B -> A over the overlay works (last error: $(e2e_curl_err))"
ok "setup: traffic flows B -> A"
e2e_counters a "$E2E_WORK/ctr.setup"
for c in rx_dropped_replay rx_dropped_auth rx_dropped_spoof; do
	check "setup: \`status\` has counter $c" grep -q "^$c " "$E2E_WORK/ctr.setup"
done

send_b() { # udp-send from B's namespace (JSON summary on stdout)
	ip netns exec "${HOST_NS[b]}" "$PY" "$E2E_HELPER" udp-send --dst "$A_EP" "$@"
}
send_b_spoof() { # ... from B's own underlay address and pilotd's port, via a raw socket
	send_b --raw --src "${HOST_IP[b]}" --sport "$NODE_PORT" "$@"
}
snap() { # snap TAG: A's TUN RX packets and counters
	e2e_tun_stat a rx_packets >"$E2E_WORK/rx.$1"
	e2e_counters a "$E2E_WORK/ctr.$1"
}
rx_delta() {
	local x y; x=$(cat "$E2E_WORK/rx.$1") y=$(cat "$E2E_WORK/rx.$2")
	case "$x$y" in *[!0-9]*|"") echo NA ;; *) echo $((y - x)) ;; esac
}
ctr_delta() { e2e_counter_delta "$E2E_WORK/ctr.$1" "$E2E_WORK/ctr.$2" "$3"; }
ge1() { [ "$1" != NA ] && [ "$1" -ge 1 ]; }
# rejections of junk may be counted under any reasonable name
drops_delta() {
	awk 'FNR==NR { a[$1] = $2; next }
		$1 ~ /drop|invalid|bad|reject|mac|junk|malformed|unknown|error|fail/ { s += $2 - a[$1] }
		END { print s + 0 }' "$E2E_WORK/ctr.$1" "$E2E_WORK/ctr.$2"
}
quiet() { sleep 1; }  # let in-flight packets land before a snapshot

# ------------------------------------------------------------ (a) replay of a captured record
W=$E2E_WORK/sniff; mkdir -p "$W"
e2e_bg "${HOST_NS[a]}" "$W/sniff.err" "$PY" "$E2E_HELPER" sniff --iface eth0 --duration 20 \
	--ready "$W/ready" --stop "$W/stop" --out "$W/a-eth0.json" --save "$W/records.hex" --save-max 5 \
	--save-dport "$NODE_PORT" --save-src "${HOST_IP[b]}" --save-type 4 --save-min-len 64 \
	--save-max-len 1400 --save-incoming
SNIFF=$LASTPID
e2e_wait 5 test -e "$W/ready" || fatal "(a) sniffer on A's eth0 ready"
ip netns exec "${HOST_NS[b]}" ping -6 -c 3 -i 0.2 -W 2 "$A6" >/dev/null 2>&1
e2e_curl b a 8000 /captured "$E2E_WORK/c.html" 5
touch "$W/stop"
e2e_wait 5 test -e "$W/a-eth0.json"
e2e_stop_pids "$SNIFF"
info "capture on A's eth0: $(cat "$W/a-eth0.json" 2>/dev/null || cat "$W/sniff.err")"
n=$(grep -c . "$W/records.hex" 2>/dev/null || echo 0)
[ "$n" -ge 1 ] || fatal "(a) captured a data record (type 4, UDP ${HOST_IP[b]} -> $A_EP)"
ok "(a) captured $n data record(s) from B to A ($(head -n 1 "$W/records.hex" | awk '{print length($0)/2}') bytes)"

quiet; snap a0
send_b --hexfile "$W/records.hex" --index 0 --count 2 >/dev/null
send_b_spoof --hexfile "$W/records.hex" --count 2 >/dev/null
quiet; snap a1
info "(a) counter changes: $(e2e_counter_deltas "$E2E_WORK/ctr.a0" "$E2E_WORK/ctr.a1")"
check "(a) replayed records wrote nothing into A's pilot0 (RX +$(rx_delta a0 a1))" [ "$(rx_delta a0 a1)" = 0 ]
check "(a) rx_dropped_replay counts the replays (+$(ctr_delta a0 a1 rx_dropped_replay))" \
	ge1 "$(ctr_delta a0 a1 rx_dropped_replay)"
check "(a) A's pilotd survived" e2e_alive "${NODE_PID[a]}"

# ------------------------------------------------------------ (b) garbage and bit flips
snap b0
R="--random-len 1 --random-len 4 --random-len 15 --random-len 16 --random-len 31 --random-len 32"
R="$R --random-len 33 --random-len 64 --random-len 92 --random-len 147 --random-len 148"
R="$R --random-len 149 --random-len 200 --random-len 1400"
# shellcheck disable=SC2086
send_b $R --count 3 >/dev/null                                      # random bytes, random type
# shellcheck disable=SC2086
send_b_spoof $R --count 2 >/dev/null
for t in 2 3 4; do                                                    # valid type byte, junk body
	send_b --type "$t" --random-len 32 --random-len 64 --random-len 92 --random-len 200 --count 2 >/dev/null
done
send_b --hexfile "$W/records.hex" --index 0 --random-index --count 2 >/dev/null   # unknown receiver
send_b --hexfile "$W/records.hex" --index 0 --flip-bit 300 --count 1 >/dev/null  # flipped, old counter
send_b_spoof --hexfile "$W/records.hex" --index 0 --flip-bit -9 --count 1 >/dev/null  # flipped tag
quiet; snap b1
info "(b) counter changes (garbage): $(e2e_counter_deltas "$E2E_WORK/ctr.b0" "$E2E_WORK/ctr.b1")"
check "(b) garbage and junk records wrote nothing into A's pilot0 (RX +$(rx_delta b0 b1))" [ "$(rx_delta b0 b1)" = 0 ]
check "(b) the rejections are counted (drop-like counters +$(drops_delta b0 b1))" ge1 "$(drops_delta b0 b1)"
# a bit flip in a record whose counter is fresh (bumped ahead): only the AEAD can catch it
send_b --hexfile "$W/records.hex" --index 0 --bump-counter 100000 --flip-bit 300 --count 1 >/dev/null
send_b_spoof --hexfile "$W/records.hex" --index 0 --bump-counter 100001 --flip-bit 301 --count 1 >/dev/null
quiet; snap b2
info "(b) counter changes (flipped, fresh counter): $(e2e_counter_deltas "$E2E_WORK/ctr.b1" "$E2E_WORK/ctr.b2")"
check "(b) bit-flipped records wrote nothing into A's pilot0 (RX +$(rx_delta b1 b2))" [ "$(rx_delta b1 b2)" = 0 ]
check "(b) rx_dropped_auth counts the bit flips (+$(ctr_delta b1 b2 rx_dropped_auth))" \
	ge1 "$(ctr_delta b1 b2 rx_dropped_auth)"
check "(b) A's pilotd survived" e2e_alive "${NODE_PID[a]}"
e2e_curl b a 8000 /after-garbage "$E2E_WORK/g.html" 5
check "(b) the real tunnel still works (curl B -> A)" grep -qs "$MARK" "$E2E_WORK/g.html"

# ------------------------------------------------------------ (c) forged handshake init
peers0=$(pctl a peers 2>/dev/null | jget 'data.peers[].node_id' 2>/dev/null | sort | tr '\n' ' ')
quiet; snap c0
out=$(send_b --forge-init --count 3 --linger 0.5)
send_b_spoof --forge-init --count 1 >/dev/null
quiet; snap c1
peers1=$(pctl a peers 2>/dev/null | jget 'data.peers[].node_id' 2>/dev/null | sort | tr '\n' ' ')
info "(c) sender: $out; counter changes: $(e2e_counter_deltas "$E2E_WORK/ctr.c0" "$E2E_WORK/ctr.c1")"
check "(c) forged inits wrote nothing into A's pilot0 (RX +$(rx_delta c0 c1))" [ "$(rx_delta c0 c1)" = 0 ]
check "(c) forged inits made no new peer on A (peers: [$peers0] -> [$peers1])" [ "$peers0" = "$peers1" ]
check "(c) the rejections are counted (drop-like counters +$(drops_delta c0 c1))" ge1 "$(drops_delta c0 c1)"
check "(c) A's pilotd survived" e2e_alive "${NODE_PID[a]}"
e2e_curl b a 8000 /after-forged "$E2E_WORK/f.html" 5
check "(c) the real tunnel still works (curl B -> A)" grep -qs "$MARK" "$E2E_WORK/f.html"

# ------------------------------------------------------------ (d) flood of forged inits
e2e_bg "${HOST_NS[b]}" "$E2E_WORK/flood.out" "$PY" "$E2E_HELPER" udp-send --dst "$A_EP" --forge-init \
	--count 2000 --interval 0.001 --max-seconds 10 --linger 1
FLOOD=$LASTPID
sleep 0.3
t0=$(e2e_now)
if e2e_curl b a 8000 /during-flood "$E2E_WORK/d1.html" 5 && grep -qs "$MARK" "$E2E_WORK/d1.html"; then
	info "(d) curl B -> A during the flood: ok ($(e2e_elapsed "$t0")s)"
else
	info "(d) curl B -> A during the flood: failed ($(e2e_elapsed "$t0")s)"
fi
e2e_wait 15 eval '! e2e_alive "$FLOOD"'
e2e_stop_pids "$FLOOD"
info "(d) flood: $(cat "$E2E_WORK/flood.out")"
check "(d) 2000 forged inits were sent" grep -q '"sent": 2000' "$E2E_WORK/flood.out"
check "(d) A's pilotd survived the flood" e2e_alive "${NODE_PID[a]}"
t0=$(e2e_now)
if e2e_curl_until 10 b a 8000 /after-flood "$E2E_WORK/d2.html" && grep -qs "$MARK" "$E2E_WORK/d2.html"; then
	ok "(d) curl B -> A works after the flood ($(e2e_elapsed "$t0")s)"
else
	not_ok "(d) curl B -> A works after the flood (within 10 s; last error: $(e2e_curl_err))"
fi
out=$(ip netns exec "${HOST_NS[b]}" ping -6 -c 2 -W 2 "$A6" 2>&1)
check "(d) ping B -> A after the flood" eval 'echo "$out" | grep -q " 2 received"'
check "(d) A still trusts B" pctl_has a trust 'data.trusted[].node_id' "$B"

check "both pilotd still running" eval 'e2e_alive "${NODE_PID[a]}" && e2e_alive "${NODE_PID[b]}"'
e2e_finish
