#!/bin/sh
# untrust_restart.sh - end-to-end: `untrust` right after a pilotd restart
# (issue 12, item 8: pilotd once died with SIGSEGV there).
#
# A trust pair A-B with pings running both ways; then UNTRUST_RESTART_N
# rounds (default 10): restart one pilotd and untrust at once - from the
# restarted side or the other one, as soon as the restarted daemon's socket
# answers (before it has registered) or once it is ready, or from the other
# side while it is down.  Both daemons must live, both trust lists must lose
# the pair, and trust is set up again for the next round.  With an ASan
# build (--enable-sanitizers) a use-after-free or NULL dereference ends the
# daemon and fails the test.
# Needs root; exit 77 (skip) otherwise.
[ -z "${BASH_VERSION:-}" ] && { command -v bash >/dev/null 2>&1 || { echo "SKIP: no bash"; exit 77; }; exec bash "$0" "$@"; }
. "$(dirname "$0")/lib.sh"

N=${UNTRUST_RESTART_N:-10}
E2E_TIMEOUT=${E2E_TIMEOUT:-$((60 + N * 20))}
e2e_init
e2e_require

e2e_lan_pair b a
ok "rendezvous, A and B up, trusted"

other() { [ "$1" = a ] && echo b || echo a; }
# untrusted_both X Y: neither lists the other any more
untrusted_both() {
	! pctl_has "$1" trust 'data.trusted[].node_id' "${NODE_ID[$2]}" &&
		! pctl_has "$2" trust 'data.trusted[].node_id' "${NODE_ID[$1]}"
}
# sock_answers NODE: the restarted daemon's socket takes commands (it may
# not be registered yet)
sock_answers() { e2e_alive "${NODE_PID[$1]}" && pctl "$1" info >/dev/null 2>&1; }
san_report() { # print sanitizer / crash lines of NODE's log
	grep -E 'AddressSanitizer|runtime error|SEGV|Segmentation' "${NODE_DIR[$1]}/pilotd.log" | head -n 5 |
		sed 's/^/# /'
}

# Background pings both ways: sessions, handshakes and queued packets are in
# flight when a daemon restarts and when trust goes.
for n in a b; do
	o=$([ "$n" = a ] && echo b || echo a)
	e2e_bg "${HOST_NS[$n]}" "$E2E_WORK/ping-$n.out" ping -6 -q -i 0.2 -w "$E2E_TIMEOUT" "${NODE_IP6[$o]}"
done

# untrust_now FROM TO I: untrust at the first moment FROM's socket takes it
untrust_now() {
	pctl "$1" untrust "${NODE_ID[$2]}" >"$E2E_WORK/untrust.$3" 2>&1
	grep -q '"status":"ok"' "$E2E_WORK/untrust.$3"
}

# Rounds cycle through: restarted side (a, b) x who untrusts (the restarted
# side, the other) x when (as soon as the socket answers; after the daemon
# is ready), and the other side untrusting while the daemon is down.
fails=0
for i in $(seq 1 "$N"); do
	k=$(((i - 1) % 10))
	r=$([ $((k % 2)) = 0 ] && echo a || echo b) # restarted
	o=$(other "$r")
	case $k in
	0 | 1) from=$r when=early ;;
	2 | 3) from=$o when=early ;;
	4 | 5) from=$r when=ready ;;
	6 | 7) from=$o when=ready ;;
	*) from=$o when=offline ;;
	esac
	to=$(other "$from")
	what="[$i] restart $r, untrust from $from ($when)"
	e2e_stop_node "$r"
	case $when in
	offline)
		e2e_wait 10 untrust_now "$from" "$to" "$i"
		e2e_spawn_node "$r" "${NODE_HOSTNAME[$r]}"
		;;
	early)
		e2e_spawn_node "$r" "${NODE_HOSTNAME[$r]}"
		e2e_wait "$E2E_READY_S" untrust_now "$from" "$to" "$i"
		;;
	ready)
		e2e_start_node "$r" "${NODE_HOSTNAME[$r]}" && untrust_now "$from" "$to" "$i"
		;;
	esac
	info "$what: $(head -c 300 "$E2E_WORK/untrust.$i" 2>/dev/null)"
	sleep 0.3
	if ! e2e_wait "$E2E_READY_S" e2e_node_ready "$r"; then
		not_ok "$what: the restarted daemon lives and is ready"
		fails=$((fails + 1)); san_report "$r"; break
	fi
	if ! e2e_alive "${NODE_PID[$o]}"; then
		not_ok "$what: $o lives"
		fails=$((fails + 1)); san_report "$o"; break
	fi
	# A side that was down (or not yet registered) learns it from the
	# registry when it registers and syncs.
	if ! e2e_wait 15 untrusted_both a b; then
		not_ok "$what: both sides dropped the pair"
		fails=$((fails + 1)); break
	fi
	e2e_establish_trust "$to" "$from" || { not_ok "$what: trust set up again"; fails=$((fails + 1)); break; }
done
check "$N rounds of restart + untrust: both daemons alive, the pair gone each time" [ "$fails" = 0 ]
for n in a b; do
	check "$n: no sanitizer report or crash in the log" \
		eval '! grep -qE "AddressSanitizer|LeakSanitizer|runtime error|SEGV" "${NODE_DIR[$n]}/pilotd.log"'
done
e2e_finish
