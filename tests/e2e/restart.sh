#!/bin/sh
# restart.sh - end-to-end: a peer restarts on a flat LAN (issue 12, item 5).
#
# A and B share one underlay link (direct path), trusted, with A pinging B
# all along.  RESTART_N rounds (default 10): B's pilotd is stopped for a
# short (0.5 s) or a long (8 s: A's pings go unanswered long enough to fall
# back to the relay) while, then started again with its state.  Each round:
#   - A reaches B again within 5 s of B's start (ping through the overlay);
#   - both sides see the path as "direct" within 10 s of B's start;
# and the re-reach and time-to-direct figures are printed.
# Needs root; exit 77 (skip) otherwise.
[ -z "${BASH_VERSION:-}" ] && { command -v bash >/dev/null 2>&1 || { echo "SKIP: no bash"; exit 77; }; exec bash "$0" "$@"; }
. "$(dirname "$0")/lib.sh"

N=${RESTART_N:-10}
E2E_TIMEOUT=${E2E_TIMEOUT:-$((90 + N * 30))}
e2e_init
e2e_require

e2e_lan_pair b a
A=${NODE_ID[a]} B=${NODE_ID[b]}
reach() { ip netns exec "${HOST_NS[a]}" ping -6 -c 1 -W 0.3 -q "${NODE_IP6[b]}" >/dev/null 2>&1; }
check "A reaches B" e2e_wait 10 reach
both_direct() { e2e_peer_path_is a "$B" direct && e2e_peer_path_is b "$A" direct; }
check "the path is direct both ways" e2e_wait 10 both_direct

# A's steady traffic to B: what leaves A with a stale session when B dies.
e2e_bg "${HOST_NS[a]}" "$E2E_WORK/ping-bg.out" ping -6 -q -i 0.5 -w "$E2E_TIMEOUT" "${NODE_IP6[b]}"

fails=0 reaches="" directs="" worst_reach=0 worst_direct=0
for i in $(seq 1 "$N"); do
	down=$([ $((i % 2)) = 1 ] && echo 0.5 || echo 8)
	e2e_stop_node b
	sleep "$down"
	relayed_before=$(e2e_peer a "$B" path 2>/dev/null || echo none)
	e2e_spawn_node b bob
	T_START=$E2E_SPAWNED
	if ! e2e_wait 5 reach; then
		not_ok "[$i] (down ${down}s) A reaches B within 5 s of B's start"
		fails=$((fails + 1))
		continue
	fi
	r=$(e2e_elapsed "$T_START")
	if ! e2e_wait 10 both_direct; then
		not_ok "[$i] (down ${down}s) direct both ways within 10 s of B's start" \
			"(A: $(e2e_peer a "$B" path), B: $(e2e_peer b "$A" path))"
		fails=$((fails + 1))
		continue
	fi
	t=$(e2e_elapsed "$T_START")
	info "[$i] B down ${down}s (A's path then: $relayed_before): A reaches B ${r}s after B's start, direct both ways at ${t}s"
	reaches="$reaches $r" directs="$directs $t"
	e2e_le "$r" "$worst_reach" || worst_reach=$r
	e2e_le "$t" "$worst_direct" || worst_direct=$t
done
check "$N restarts: re-reach under 5 s and direct within 10 s every time" [ "$fails" = 0 ]
info "re-reach (s):$reaches; worst $worst_reach"
info "time to direct both ways (s):$directs; worst $worst_direct"

# The direct path fails for a while (no restart, so no event): both sides
# fall back to the relay; once it works again, the keepalives a relayed
# peer sends straight to an endpoint that worked unpunched before bring it
# back (at most DIRECT_PROBE_MAX_MS, 16 s, after it heals).
ip netns exec "${HOST_NS[a]}" nft -f - <<NFT || fatal "nftables in A"
table inet e2e_cut {
	chain out { type filter hook output priority 0; ip daddr ${HOST_IP[b]} udp dport $NODE_PORT drop; }
	chain in { type filter hook input priority 0; ip saddr ${HOST_IP[b]} udp sport $NODE_PORT drop; }
}
NFT
relayed_both() { e2e_peer_path_is a "$B" relayed && e2e_peer_path_is b "$A" relayed; }
check "direct path cut: both sides go through the relay" e2e_wait 20 relayed_both
check "... and A still reaches B (relayed)" e2e_wait 5 reach
sleep 8
ip netns exec "${HOST_NS[a]}" nft delete table inet e2e_cut
t0=$(e2e_now)
if e2e_wait 25 both_direct; then
	ok "direct path healed: direct both ways again $(e2e_elapsed "$t0")s later"
else
	not_ok "direct path healed: direct both ways again within 25 s (A: $(e2e_peer a "$B" path), B: $(e2e_peer b "$A" path))"
fi
check "A still pings B at the end" reach
check "no sanitizer report or crash in the logs" \
	eval '! grep -qE "AddressSanitizer|runtime error|SEGV" "${NODE_DIR[a]}/pilotd.log" "${NODE_DIR[b]}/pilotd.log"'
e2e_finish
