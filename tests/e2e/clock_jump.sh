#!/bin/sh
# clock_jump.sh - a node's wall clock jumps an hour ahead, then back
# (issue 19, faults), under libfaketime (its monotonic clock left alone, as
# a real clock step leaves it): A runs with --rekey-interval 10 and pings B
# all along, so A starts a handshake every 10 s.
#   - +1 h: flows and the session go on (timers are monotonic: no mass
#     expiry); A's rekeys go on; the registry refuses A's requests signed
#     an hour ahead (no replay window opened), and A's status says why;
#   - back to the real time: A's rekeys still go on and B refuses none of
#     A's initiations as a replay (pilotd's initiation timestamps never go
#     back: with the bare clock, as WireGuard has it, B would refuse A's
#     handshakes for an hour and the session would end at its reject time);
#     A's registry link comes back.
# Needs root and faketime (Debian's faketime); exit 77 (skip) otherwise.
[ -z "${BASH_VERSION:-}" ] && { command -v bash >/dev/null 2>&1 || { echo "SKIP: no bash"; exit 77; }; exec bash "$0" "$@"; }
. "$(dirname "$0")/lib.sh"

e2e_init
e2e_require ping
FT=$(ls /usr/lib/*/faketime/libfaketime.so.1 2>/dev/null | head -n 1)
[ -n "$FT" ] || skip "no libfaketime (Debian's faketime)"
e2e_lan a b
FTFILE=$E2E_WORK/a.faketime
echo "+0" >"$FTFILE"
cat >"$E2E_WORK/pilotd-ft" <<EOF
#!/bin/sh
LD_PRELOAD=$FT FAKETIME_TIMESTAMP_FILE=$FTFILE FAKETIME_NO_CACHE=1 FAKETIME_DONT_FAKE_MONOTONIC=1 \\
	exec "$PILOTD" "\$@"
EOF
chmod 0755 "$E2E_WORK/pilotd-ft"
REAL_PILOTD=$PILOTD PILOTD=$E2E_WORK/pilotd-ft
PILOTD_EXTRA_ARGS="--rekey-interval 10 --heartbeat-interval 2"
e2e_start_node a alice || fatal "pilotd alice (under faketime) ready"
PILOTD=$REAL_PILOTD PILOTD_EXTRA_ARGS=
e2e_start_node b bob || fatal "pilotd bob ready"
e2e_establish_trust a b || fatal "trust A <-> B"
B6=${NODE_IP6[b]}
e2e_wait 10 ip netns exec "${HOST_NS[a]}" ping -6 -c 1 -W 1 "$B6" >/dev/null || fatal "A pings B"
ok "setup: A (clock under faketime) and B trust each other"
e2e_bg "${HOST_NS[a]}" "$E2E_WORK/ping.out" ping -6 -n -i 0.5 -c 150 -W 1 "$B6"
PING=$LASTPID
rk() { e2e_counter_delta "$E2E_WORK/$1" "$E2E_WORK/$2" "$3"; }
reg_err() { pctl a status | jget data.registry.last_error; }

# ------------------------------------------------------------ an hour ahead
sleep 3
e2e_counters a "$E2E_WORK/a0"
e2e_counters b "$E2E_WORK/b0"
echo "+1h" >"$FTFILE"
sleep 25
e2e_counters a "$E2E_WORK/a1"
e2e_counters b "$E2E_WORK/b1"
r=$(rk a0 a1 rekeys)
check "+1 h: A's rekeys go on (+$r in 25 s)" eval '[ "$r" != NA ] && [ "$r" -ge 1 ]'
e=$(reg_err)
info "+1 h: A's registry last_error: $e"
check "+1 h: the registry refuses A's requests signed an hour ahead ($e)" \
	eval 'grep -q "stale: timestamp is more than .* s from the registry.s clock" <<<"$e"'
check "+1 h: A's status says why (clock_skew in health, status --check WARNING)" \
	eval 'pctl a status | jget "data.health.problems[].code" | grep -qx clock_skew'
ip netns exec "${HOST_NS[a]}" "$PILOTCTL" --socket "${NODE_SOCK[a]}" status --check >"$E2E_WORK/chk" 2>&1
rc=$?
info "+1 h: status --check: $(cat "$E2E_WORK/chk")"
check "+1 h: status --check exits 1" [ "$rc" = 1 ]

# ------------------------------------------------------------ and back
echo "+0" >"$FTFILE"
sleep 25
e2e_counters a "$E2E_WORK/a2"
e2e_counters b "$E2E_WORK/b2"
r=$(rk a1 a2 rekeys) rep=$(rk b1 b2 handshake_rejected_replay) rep_all=$(rk b0 b2 handshake_rejected_replay)
check "back an hour: A's rekeys still go on (+$r in 25 s)" eval '[ "$r" != NA ] && [ "$r" -ge 1 ]'
check "back an hour: B refused none of A's initiations as a replay (+$rep, +$rep_all since the jump)" \
	eval '[ "$rep" = 0 ] && [ "$rep_all" = 0 ]'
check "back an hour: A's registry link comes back" \
	e2e_wait 20 eval 'pctl a status | jget data.health.state | grep -qx ok'
e2e_wait 30 eval '! e2e_alive "$PING"'
loss=$(sed -n 's/.* \([0-9.]*\)% packet loss.*/\1/p' "$E2E_WORK/ping.out")
info "ping A -> B across both jumps: $(grep -E 'packet loss' "$E2E_WORK/ping.out")"
check "A -> B kept working across both jumps (ping loss ${loss:-?}% <= 5%)" \
	eval '[ -n "$loss" ] && e2e_le "$loss" 5'
check "both pilotd still running" eval 'e2e_alive "${NODE_PID[a]}" && e2e_alive "${NODE_PID[b]}"'
e2e_finish
