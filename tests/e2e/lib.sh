# tests/e2e/lib.sh - shared plumbing for Pilot's namespace tests (bash; sourced).
#
# Topology (every name carries the per-run prefix $E2E_PFX, default "pt<PID>-",
# so parallel runs never collide):
#
#     ns <pfx>ul : bridge br0 (IPv6 off) --- veth v-<name> <-> eth0 in ns <pfx><name>
#     ns <pfx>rdv: 198.18.0.1/24  pilot-rendezvous (registry 9000/tcp)
#     ns <pfx>a  : 198.18.0.2/24  pilotd "alice" (pilot0, fd..::/48 from the registry)
#     ns <pfx>b  : 198.18.0.3/24  pilotd "bob"
#
# Only 198.18.0.0/15 on the underlay, the deployment's fd..::/48 on the overlay,
# and loopback; underlay veths have IPv6 disabled (no link-local chatter); no
# namespace has a default route, so nothing can leave the machine.
#
# Every wait is bounded in count and time; a watchdog ends the whole test after
# $E2E_TIMEOUT seconds.  The EXIT trap stops the processes this run started (by
# PID, checked against their start time), ends whatever is left inside this
# run's own namespaces, deletes the namespaces and the work dir.
#
# Output is plain: one "ok - ..." / "not ok - ..." line per check, "# ..." for
# notes; the exit status is what counts (0 pass, 1 fail, 77 skip).
#
# Environment knobs:
#   top_builddir   build tree (make check sets it); binaries from $top_builddir
#   PILOT_BINDIR   directory holding pilotd, pilot-rendezvous, pilotctl (overrides)
#   E2E_PREFIX     namespace name prefix (default pt$$-)
#   E2E_WORK       work dir (default: mktemp -d /tmp/pilot-e2e.XXXXXX)
#   E2E_KEEP_WORK  1: keep the work dir after the run
#   E2E_TIMEOUT    whole-test watchdog, seconds (default 300)
#   E2E_READY_S    how long a daemon may take to become ready (default 10)
#   E2E_LOG_LINES  lines of each log printed on failure (default 80)
#   PILOTD_EXTRA_ARGS / RDV_EXTRA_ARGS  extra flags for the daemons (word-split)

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_HELPER=$E2E_DIR/pt_helper.py
if [ -x /usr/bin/python3 ]; then PY=/usr/bin/python3; else PY=$(command -v python3 || echo python3); fi

E2E_PFX=${E2E_PREFIX:-pt$$-}
E2E_TIMEOUT=${E2E_TIMEOUT:-300}
E2E_READY_S=${E2E_READY_S:-10}
NS_UL=${E2E_PFX}ul
RDV_IP=198.18.0.1
RDV_PORT=9000
NODE_PORT=4242

E2E_OK=0 E2E_NOK=0
E2E_PIDS=""          # processes this run started and has not reaped
E2E_NS=""            # namespaces this run created
E2E_LOGS=""          # "label=file" pairs dumped on failure
E2E_WATCHDOG=""
E2E_WORK=${E2E_WORK:-}
E2E_KEEP=${E2E_KEEP:-0}  # 1: leave everything up on success (demo --keep)
declare -A E2E_PIDSTART HOST_NS HOST_IP NODE_PID NODE_SOCK NODE_DIR NODE_HOSTNAME \
	NODE_ID NODE_ADDR NODE_IP6
RDV_PID="" RDV_PIN=""

# ----------------------------------------------------------------- reporting
ok()     { E2E_OK=$((E2E_OK + 1)); echo "ok - $*"; }
not_ok() { E2E_NOK=$((E2E_NOK + 1)); echo "not ok - $*"; }
info()   { echo "# $*"; }
skip()   { echo "SKIP: $*"; exit 77; }
fatal()  { not_ok "$*"; info "fatal: the remaining checks depend on this one; stopping"; exit 1; }
# check DESCRIPTION CMD...: run CMD, report ok/not ok; returns CMD's status
check() {
	local d=$1; shift
	if "$@"; then ok "$d"; return 0; fi
	not_ok "$d"; return 1
}
e2e_finish() {
	info "$E2E_OK ok, $E2E_NOK not ok"
	[ "$E2E_NOK" = 0 ] && exit 0
	exit 1
}

# ----------------------------------------------------------------- time
e2e_now() { date +%s.%N; }
# e2e_elapsed T0 [T1]: seconds between two e2e_now stamps (3 decimals)
e2e_elapsed() { awk -v a="$1" -v b="${2:-$(e2e_now)}" 'BEGIN{printf "%.3f", b - a}'; }
# e2e_le A B: A <= B (decimals)
e2e_le() { awk -v a="$1" -v b="$2" 'BEGIN{exit !(a + 0 <= b + 0)}'; }

# e2e_wait SECONDS CMD...: poll CMD every 0.2 s until it succeeds; bounded in
# time (SECONDS, decimals allowed) and in count (5 tries a second, plus 5).
e2e_wait() {
	local secs=$1; shift
	local end max i=0
	end=$(awk -v n="$(date +%s%N)" -v s="$secs" 'BEGIN{printf "%.0f", n + s * 1e9}')
	max=$(awk -v s="$secs" 'BEGIN{printf "%d", s * 5 + 5}')
	while [ "$i" -lt "$max" ]; do
		"$@" && return 0
		i=$((i + 1))
		[ "$(date +%s%N)" -ge "$end" ] && return 1
		sleep 0.2
	done
	return 1
}

# ----------------------------------------------------------------- processes
e2e_starttime() { local s; s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1; s=${s##*) }; set -- $s; echo "${20}"; }
# e2e_alive PID: running (not a zombie)
e2e_alive() {
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	s=${s##*) }; set -- $s
	[ "$1" != Z ]
}
e2e_ours() {   # PID still names the process we started (guards against reuse)
	local want=${E2E_PIDSTART[$1]:-} have
	[ -n "$want" ] || return 1
	have=$(e2e_starttime "$1") || return 1
	[ "$have" = "$want" ]
}
# e2e_bg NS LOGFILE CMD...: start CMD in NS (ip netns exec execs it: same PID),
# output appended to LOGFILE; sets LASTPID.
e2e_bg() {
	local ns=$1 lf=$2; shift 2
	ip netns exec "$ns" "$@" >>"$lf" 2>&1 </dev/null &
	LASTPID=$!
	E2E_PIDSTART[$LASTPID]=$(e2e_starttime "$LASTPID")
	E2E_PIDS="$E2E_PIDS $LASTPID"
}
e2e_add_log() { E2E_LOGS="$E2E_LOGS $1=$2"; }
# e2e_stop_pids PID...: TERM, up to 5 s, then KILL; only our own PIDs
e2e_stop_pids() {
	local p i any keep="" x list=""
	for p in "$@"; do e2e_ours "$p" && list="$list $p"; done
	for p in $list; do kill -TERM "$p" 2>/dev/null; done
	for i in $(seq 50); do
		any=0
		for p in $list; do e2e_alive "$p" && any=1; done
		[ "$any" = 0 ] && break
		sleep 0.1
	done
	for p in $list; do e2e_alive "$p" && e2e_ours "$p" && kill -KILL "$p" 2>/dev/null; done
	for p in "$@"; do wait "$p" 2>/dev/null; done
	for x in $E2E_PIDS; do case " $* " in *" $x "*) ;; *) keep="$keep $x" ;; esac; done
	E2E_PIDS=$keep
	return 0
}

# ----------------------------------------------------------------- setup / teardown
e2e_dump_logs() {
	local kv n f
	for n in "${!NODE_PID[@]}"; do
		[ -n "${NODE_PID[$n]}" ] && e2e_alive "${NODE_PID[$n]}" || continue
		info "----- pilotctl status of $n -----"
		pctl "$n" status 2>&1 | { "$PY" -m json.tool 2>/dev/null || cat; } | head -n 80 | sed 's/^/# /'
	done
	for kv in $E2E_LOGS; do
		n=${kv%%=*} f=${kv#*=}
		[ -f "$f" ] || continue
		info "----- last ${E2E_LOG_LINES:-80} lines of $n ($f) -----"
		tail -n "${E2E_LOG_LINES:-80}" "$f" | sed 's/^/# /'
	done
}

e2e_cleanup() {
	local rc=$? ns pid m rev=""
	trap - EXIT INT TERM HUP
	if [ -n "$E2E_WATCHDOG" ]; then kill "$E2E_WATCHDOG" 2>/dev/null; wait "$E2E_WATCHDOG" 2>/dev/null; fi
	if [ "$rc" = 0 ] && [ "$E2E_KEEP" = 1 ]; then
		e2e_save_state
		exit 0
	fi
	if { [ "$rc" != 0 ] && [ "$rc" != 77 ]; } || [ "$E2E_NOK" != 0 ]; then
		e2e_dump_logs
	fi
	# shellcheck disable=SC2086
	[ -n "${E2E_PIDS// /}" ] && e2e_stop_pids $E2E_PIDS
	for ns in $E2E_NS; do rev="$ns $rev"; done
	for ns in $rev; do
		# anything still inside this run's own namespaces was started by it
		for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
		ip netns del "$ns" 2>/dev/null
	done
	for m in $E2E_MOUNTS; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
	if [ -n "$E2E_WORK" ] && [ -d "$E2E_WORK" ] && [ "${E2E_KEEP_WORK:-0}" != 1 ]; then
		rm -rf "$E2E_WORK"
	elif [ -n "$E2E_WORK" ] && [ -d "$E2E_WORK" ]; then
		info "work dir kept: $E2E_WORK"
	fi
	exit "$rc"
}

# For demo --keep: write what e2e_teardown_state needs to stop it all later.
e2e_save_state() {
	local p f=$E2E_WORK/state
	{
		echo "# pilot demo state: namespaces and PIDs (with start times) to stop"
		echo "NS=\"$E2E_NS\""
		for p in $E2E_PIDS; do e2e_ours "$p" && echo "PID $p ${E2E_PIDSTART[$p]}"; done
	} >"$f"
}
# e2e_teardown_state FILE: stop what e2e_save_state recorded (a kept demo)
e2e_teardown_state() {
	local f=$1 w p st ns pid rev="" NS=""
	[ -f "$f" ] || return 0
	# shellcheck disable=SC1090
	eval "$(grep '^NS=' "$f")"
	while read -r w p st; do
		[ "$w" = PID ] || continue
		[ "$(e2e_starttime "$p")" = "$st" ] && kill -TERM "$p" 2>/dev/null
	done <"$f"
	sleep 1
	while read -r w p st; do
		[ "$w" = PID ] || continue
		[ "$(e2e_starttime "$p")" = "$st" ] && kill -KILL "$p" 2>/dev/null
	done <"$f"
	for ns in $NS; do rev="$ns $rev"; done
	for ns in $rev; do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
		ip netns del "$ns" 2>/dev/null
	done
	rm -f "$f"
}

e2e_on_signal() { not_ok "interrupted or timed out (watchdog ${E2E_TIMEOUT}s)"; exit 124; }

# e2e_init: traps, watchdog, work dir.  Call first.
e2e_init() {
	trap e2e_cleanup EXIT
	trap e2e_on_signal INT TERM HUP
	if [ -z "$E2E_WORK" ]; then
		E2E_WORK=$(mktemp -d /tmp/pilot-e2e.XXXXXX) || { echo "mktemp failed"; exit 99; }
	else
		mkdir -p "$E2E_WORK" || exit 99
	fi
	local main=$$
	if [ "${E2E_TIMEOUT:-0}" != 0 ]; then
		(
			trap 'kill $sp 2>/dev/null; exit 0' TERM
			sleep "$E2E_TIMEOUT" &
			sp=$!
			wait "$sp" && { echo "# watchdog: ${E2E_TIMEOUT}s passed, ending the test"; kill -TERM "$main"; }
		) </dev/null &
		E2E_WATCHDOG=$!
	fi
}

# e2e_find_bins: PILOTD, RDV, PILOTCTL from PILOT_BINDIR, $top_builddir,
# . (run from a build dir), the source tree's build/, then PATH.
e2e_find_bins() {
	local d
	for d in "${PILOT_BINDIR:-}" "${top_builddir:-}" "$PWD" "$E2E_DIR/../../build"; do
		[ -n "$d" ] || continue
		if [ -x "$d/pilotd" ] && [ -x "$d/pilot-rendezvous" ] && [ -x "$d/pilotctl" ]; then
			PILOTD=$(cd "$d" && pwd)/pilotd RDV=$(cd "$d" && pwd)/pilot-rendezvous
			PILOTCTL=$(cd "$d" && pwd)/pilotctl
			return 0
		fi
	done
	PILOTD=$(command -v pilotd) && RDV=$(command -v pilot-rendezvous) &&
		PILOTCTL=$(command -v pilotctl) && return 0
	return 1
}

# e2e_require [TOOL...]: skip (77) with a reason unless this machine can run
# the namespace tests: root, /dev/net/tun, ip, python3, netns+veth+bridge, the
# built binaries and the extra tools named.
e2e_require() {
	local t probe=${E2E_PFX}probe
	[ "$(id -u)" = 0 ] || skip "needs root (network namespaces, TUN)"
	[ -c /dev/net/tun ] || skip "no /dev/net/tun"
	command -v ip >/dev/null 2>&1 || skip "no 'ip' (iproute2)"
	[ -x "$PY" ] || command -v "$PY" >/dev/null 2>&1 || skip "no python3"
	for t in timeout awk "$@"; do command -v "$t" >/dev/null 2>&1 || skip "no '$t'"; done
	e2e_find_bins || skip "pilotd / pilot-rendezvous / pilotctl not built (set top_builddir or PILOT_BINDIR)"
	e2e_pilot_group || skip "no group 'pilot', and groupadd could not create it"
	E2E_NS="$E2E_NS $probe"
	if ! { ip netns add "$probe" 2>/dev/null &&
		ip -n "$probe" link add pv0 type veth peer name pv1 2>/dev/null &&
		ip -n "$probe" link add pbr0 type bridge 2>/dev/null; }; then
		ip netns del "$probe" 2>/dev/null
		skip "cannot create network namespaces, veth pairs or bridges here"
	fi
	ip netns del "$probe"
	E2E_NS=${E2E_NS% "$probe"}
	info "binaries: $PILOTD $RDV $PILOTCTL"
	info "namespaces: ${E2E_PFX}*; work dir: $E2E_WORK"
}

# e2e_pilot_group: pilotd hands its control socket to group "pilot" and
# will not start without it; create it (a system group) as systemd-sysusers
# does from systemd/pilot.sysusers on a real install.  PILOT_GID is its gid.
e2e_pilot_group() {
	if ! getent group pilot >/dev/null 2>&1; then
		command -v groupadd >/dev/null 2>&1 || return 1
		groupadd -r pilot 2>/dev/null || getent group pilot >/dev/null 2>&1 || return 1
		info "created the system group pilot (groupadd -r pilot), as sysusers.d/pilot.conf would"
	fi
	PILOT_GID=$(getent group pilot | cut -d: -f3)
	[ -n "$PILOT_GID" ]
}

# e2e_tmpfs DIR SIZE: a tmpfs of SIZE (mount's size=) on DIR, unmounted at exit
e2e_tmpfs() {
	mkdir -p "$1" && mount -t tmpfs -o "size=$2,mode=0700" tmpfs "$1" || return 1
	E2E_MOUNTS="$E2E_MOUNTS $1"
}

e2e_ns_add() {
	ip netns add "$1" || return 1
	E2E_NS="$E2E_NS $1"
	ip -n "$1" link set lo up
}

# e2e_underlay: the bridge namespace
e2e_underlay() {
	e2e_ns_add "$NS_UL" || fatal "create namespace $NS_UL"
	ip netns exec "$NS_UL" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
		net.ipv6.conf.default.disable_ipv6=1 >/dev/null
	ip -n "$NS_UL" link add br0 type bridge || fatal "create bridge in $NS_UL"
	ip -n "$NS_UL" link set br0 up
}

# e2e_host NAME IDX: namespace <pfx>NAME with eth0 = 198.18.0.IDX/24 on the bridge
e2e_host() {
	local n=$1 i=$2 ns=${E2E_PFX}$1
	e2e_ns_add "$ns" || fatal "create namespace $ns"
	ip link add eth0 netns "$ns" type veth peer name "v-$n" netns "$NS_UL" ||
		fatal "create veth for $n"
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.eth0.disable_ipv6=1 >/dev/null
	ip -n "$ns" addr add "198.18.0.$i/24" dev eth0
	ip -n "$ns" link set eth0 up
	ip -n "$NS_UL" link set "v-$n" master br0 up
	HOST_NS[$n]=$ns HOST_IP[$n]=198.18.0.$i
}

# e2e_underlay_ping FROM TO-IP: the underlay works (bounded 5 s)
e2e_underlay_ping() { e2e_wait 5 ip netns exec "${HOST_NS[$1]}" ping -c 1 -W 1 -q "$2" >/dev/null 2>&1; }

# e2e_direct_link A B: an extra veth A<->B (no addresses) with /32 routes, so
# A<->B underlay traffic bypasses the bridge (benchmarks: plain veth path).
e2e_direct_link() {
	local a=$1 b=$2
	ip link add d0 netns "${HOST_NS[$a]}" type veth peer name d0 netns "${HOST_NS[$b]}" || return 1
	ip netns exec "${HOST_NS[$a]}" sysctl -qw net.ipv6.conf.d0.disable_ipv6=1 >/dev/null
	ip netns exec "${HOST_NS[$b]}" sysctl -qw net.ipv6.conf.d0.disable_ipv6=1 >/dev/null
	ip -n "${HOST_NS[$a]}" link set d0 up
	ip -n "${HOST_NS[$b]}" link set d0 up
	ip -n "${HOST_NS[$a]}" route add "${HOST_IP[$b]}/32" dev d0 src "${HOST_IP[$a]}" &&
		ip -n "${HOST_NS[$b]}" route add "${HOST_IP[$a]}/32" dev d0 src "${HOST_IP[$b]}"
}

# e2e_check_cut STATUS REF LO HI WHAT: the hold-client whose status file is
# STATUS saw its connection cut (reset or eof) between LO and HI seconds
# after the Unix time REF (empty: unknown, a failure); E2E_CUT_LATE is how long after.
e2e_check_cut() {
	local st=$1 ref=$2 lo=$3 hi=$4 what=$5 kind tc late
	read -r _ kind tc <"$st" 2>/dev/null
	if [ -n "$ref" ] && { [ "$kind" = reset ] || [ "$kind" = eof ]; }; then
		late=$(awk -v a="$tc" -v b="$ref" 'BEGIN{printf "%.3f", a - b}')
		E2E_CUT_LATE=$late
		check "$what (${late}s after it)" eval 'e2e_le "$late" "$hi" && e2e_le "$lo" "$late"'
	else
		not_ok "$what (status: $(cat "$st" 2>/dev/null), reference ${ref:-?})"
	fi
}
# e2e_try_connect FROM TO-IPV6 PORT [TIMEOUT]: one TCP connect over the
# overlay (default 2 s); prints the helper's JSON; 0 = connected
e2e_try_connect() {
	ip netns exec "${HOST_NS[$1]}" "$PY" "$E2E_HELPER" connect --host "$2" --port "$3" --timeout "${4:-2}"
}
# e2e_addr_in NODE NET: NODE's overlay IPv6 address in network NET
e2e_addr_in() {
	local b
	b=$(pctl "$1" info | jget data.ipv6 | sed 's/::.*//')
	printf '%s:%x::%x\n' "$b" "$2" "${NODE_ID[$1]}"
}
# e2e_hold FROM TO-IPV6 PORT STATUS [MAX-SECONDS]: a helper hold-client in
# FROM holding one TCP connection open (its status lines in STATUS, output in
# STATUS.out); HOLD is its PID; 0 once it is connected (within 3 s)
e2e_hold() {
	rm -f "$4"
	e2e_bg "${HOST_NS[$1]}" "$4.out" "$PY" "$E2E_HELPER" hold-client --host "$2" --port "$3" \
		--status "$4" --max-seconds "${5:-60}"
	HOLD=$LASTPID
	e2e_wait 3 grep -qs '^connected' "$4"
}
e2e_tcp_open() { ip netns exec "$1" "$PY" "$E2E_HELPER" connect --host "$2" --port "$3" --timeout 0.5 >/dev/null 2>&1; }

# ----------------------------------------------------------------- daemons
jget() { "$PY" "$E2E_HELPER" jget "$@"; }

# pctl NODE ARGS...: pilotctl --json against NODE's daemon, inside its namespace
pctl() {
	local n=$1; shift
	ip netns exec "${HOST_NS[$n]}" timeout 15 "$PILOTCTL" --socket "${NODE_SOCK[$n]}" --json "$@"
}
# pctl_ok NODE ARGS...: as pctl, and the reply is {"status":"ok"}; reply in PCTL_OUT
pctl_ok() {
	PCTL_OUT=$(pctl "$@" 2>&1) || return 1
	[ "$(jget status <<<"$PCTL_OUT" 2>/dev/null)" = ok ]
}
# pctl_has NODE CMD EXPR VALUE: VALUE is among the values of EXPR in CMD's reply
pctl_has() {
	local out
	out=$(pctl "$1" "$2" 2>/dev/null) || return 1
	jget "$3" <<<"$out" 2>/dev/null | grep -qxF -- "$4"
}

# e2e_start_rdv: pin first (makes the cert), then the registry in <pfx>rdv.
# Calls fatal on failure (returns 1 where a caller redefined fatal not to exit).
e2e_start_rdv() {
	local ns=${HOST_NS[rdv]} d=$E2E_WORK/rdv
	mkdir -p "$d" && mkdir -p -m 0700 "$d/state"
	# shellcheck disable=SC2086
	RDV_PIN=$(ip netns exec "$ns" timeout 20 "$RDV" --state-dir "$d/state" --print-pin \
		2>"$d/print-pin.err" | awk 'NF{l=$0} END{print l}' | tr -d '[:space:]')
	e2e_add_log rendezvous-print-pin "$d/print-pin.err"
	[ -n "$RDV_PIN" ] || { fatal "pilot-rendezvous --print-pin printed a pin"; return 1; }
	# shellcheck disable=SC2086
	e2e_bg "$ns" "$d/rendezvous.log" "$RDV" --listen "$RDV_IP:$RDV_PORT" --state-dir "$d/state" \
		--log-level debug ${RDV_EXTRA_ARGS:-}
	RDV_PID=$LASTPID
	e2e_add_log rendezvous "$d/rendezvous.log"
	e2e_wait "$E2E_READY_S" e2e_rdv_ready ||
		{ fatal "pilot-rendezvous listening on $RDV_IP:$RDV_PORT within ${E2E_READY_S}s"; return 1; }
}
e2e_rdv_ready() { e2e_alive "$RDV_PID" && e2e_tcp_open "${HOST_NS[rdv]}" "$RDV_IP" "$RDV_PORT"; }

# e2e_start_node NAME HOSTNAME: pilotd in <pfx>NAME; waits until `info` answers
# with an overlay address; fills NODE_ID/ADDR/IP6[NAME].  Same state dir on a restart.
e2e_start_node() {
	local n=$1
	e2e_spawn_node "$@"
	e2e_wait "$E2E_READY_S" e2e_node_ready "$n" || return 1
	NODE_ID[$n]=$(jget data.node_id <<<"$PCTL_OUT")
	NODE_ADDR[$n]=$(jget data.address <<<"$PCTL_OUT")
	NODE_IP6[$n]=$(jget data.ipv6 <<<"$PCTL_OUT")
	info "$n: pid ${NODE_PID[$n]} node_id ${NODE_ID[$n]} address ${NODE_ADDR[$n]} ipv6 ${NODE_IP6[$n]}"
}
# e2e_spawn_node NAME HOSTNAME: start it and return at once (it may not be
# registered yet); NODE_PID[NAME], E2E_SPAWNED (e2e_now just before)
e2e_spawn_node() {
	local n=$1 hn=$2 ns=${HOST_NS[$1]} d=$E2E_WORK/$1
	mkdir -p "$d" && mkdir -p -m 0700 "$d/state"
	NODE_DIR[$n]=$d NODE_SOCK[$n]=$d/pilotd.sock NODE_HOSTNAME[$n]=$hn
	echo "=== start $(date -u +%FT%TZ)" >>"$d/pilotd.log"
	E2E_SPAWNED=$(e2e_now)
	# shellcheck disable=SC2086
	e2e_bg "$ns" "$d/pilotd.log" "$PILOTD" --registry "$RDV_IP:$RDV_PORT" --registry-pin "$RDV_PIN" \
		--state-dir "$d/state" --socket "$d/pilotd.sock" --listen-port "$NODE_PORT" \
		--tun pilot0 --hostname "$hn" --log-level debug ${PILOTD_EXTRA_ARGS:-}
	NODE_PID[$n]=$LASTPID
	case " $E2E_LOGS " in *" pilotd-$n="*) ;; *) e2e_add_log "pilotd-$n" "$d/pilotd.log" ;; esac
}
e2e_node_ready() {
	local v
	e2e_alive "${NODE_PID[$1]}" || return 1
	pctl_ok "$1" info || return 1
	v=$(jget data.ipv6 <<<"$PCTL_OUT" 2>/dev/null)
	[ -n "$v" ] && [ "$v" != null ]
}
e2e_stop_node() { e2e_stop_pids "${NODE_PID[$1]}"; }

# e2e_establish_trust REQUESTER APPROVER: handshake, pending, approve, both trust lists
e2e_establish_trust() {
	local r=$1 a=$2
	pctl_ok "$r" handshake "${NODE_ID[$a]}" "e2e: $r asks $a" || { info "handshake: $PCTL_OUT"; return 1; }
	e2e_wait 10 pctl_has "$a" pending 'data.pending[].node_id' "${NODE_ID[$r]}" || { info "no pending request on $a"; return 1; }
	pctl_ok "$a" approve "${NODE_ID[$r]}" || { info "approve: $PCTL_OUT"; return 1; }
	e2e_wait 10 pctl_has "$a" trust 'data.trusted[].node_id' "${NODE_ID[$r]}" || { info "$r not in $a's trust"; return 1; }
	e2e_wait 10 pctl_has "$r" trust 'data.trusted[].node_id' "${NODE_ID[$a]}" || { info "$a not in $r's trust"; return 1; }
}

# e2e_lan NAME...: the underlay, the rendezvous host (.1) and a host per
# NAME (.2, .3, ...), the rendezvous started
e2e_lan() {
	local i=2 n
	e2e_underlay
	e2e_host rdv 1
	for n in "$@"; do
		e2e_host "$n" "$i"
		i=$((i + 1))
	done
	e2e_start_rdv
}

# e2e_lan_pair REQUESTER APPROVER: the common two-node setup on one LAN:
# rendezvous (.1), pilotd alice in a (.2) and bob in b (.3), trusted
# (REQUESTER asks, APPROVER approves); fatal if any step fails
e2e_lan_pair() {
	e2e_lan a b
	e2e_start_node a alice || fatal "pilotd alice ready"
	e2e_start_node b bob || fatal "pilotd bob ready"
	e2e_establish_trust "$1" "$2" || fatal "$1 and $2 trust each other"
}

# ----------------------------------------------------------------- traffic helpers
# e2e_serve NODE PORT MODE MARKER: helper server (http|hold) on [::]:PORT in NODE;
# its event log is $E2E_WORK/NODE/srvPORT.log
e2e_serve() {
	local n=$1 p=$2 mode=$3 mk=$4 d=$E2E_WORK/$1
	mkdir -p "$d"
	rm -f "$d/srv$p.ready"
	: >"$d/srv$p.log"
	e2e_bg "${HOST_NS[$n]}" "$d/srv$p.out" "$PY" "$E2E_HELPER" serve --port "$p" --mode "$mode" \
		--marker "$mk" --log "$d/srv$p.log" --ready "$d/srv$p.ready" --max-seconds "$E2E_TIMEOUT"
	e2e_add_log "server-$n-$p" "$d/srv$p.log"
	e2e_wait 5 test -e "$d/srv$p.ready"
}
e2e_srv_count() { grep -c "^$3 " "$E2E_WORK/$1/srv$2.log" 2>/dev/null || true; }  # NODE PORT EVENT

# e2e_curl FROM TO PORT PATH OUTFILE [MAXTIME]: HTTP GET over the overlay
e2e_curl() {
	ip netns exec "${HOST_NS[$1]}" curl -6 -sS --max-time "${6:-5}" -o "$5" \
		"http://[${NODE_IP6[$2]}]:$3$4" 2>"$E2E_WORK/curl.err"
}
e2e_curl_err() { head -c 300 "$E2E_WORK/curl.err" 2>/dev/null; }  # the last curl's error
# e2e_curl_until SECONDS FROM TO PORT PATH OUTFILE: retry until one GET works
e2e_curl_until() { local s=$1; shift; e2e_wait "$s" e2e_curl "$@" 3; }

# e2e_has_addr NODE DEV IPV6: DEV in NODE's namespace carries IPV6 (compared as
# addresses, not as text)
e2e_has_addr() {
	ip -n "${HOST_NS[$1]}" -j -6 addr show dev "$2" 2>/dev/null | "$PY" -c '
import ipaddress, json, sys
try:
    want = ipaddress.ip_address(sys.argv[1].split("/")[0])
    d = json.load(sys.stdin)
except ValueError:
    sys.exit(1)
sys.exit(not any(ipaddress.ip_address(a["local"]) == want
                 for i in d for a in i.get("addr_info", []) if a.get("family") == "inet6"))' "$3"
}
e2e_tun_stat() { ip netns exec "${HOST_NS[$1]}" cat "/sys/class/net/pilot0/statistics/$2" 2>/dev/null || echo NA; }

# e2e_counters NODE FILE: `status` counters as "name value" lines
e2e_counters() { pctl "$1" status 2>/dev/null | "$PY" "$E2E_HELPER" counters >"$2"; }
e2e_counter_delta() { # FILE0 FILE1 NAME -> delta, or NA if absent
	awk -v k="$3" 'FNR==NR { if ($1 == k) a = $2; next } $1 == k { b = $2 }
		END { if (a == "" || b == "") print "NA"; else print b - a }' "$1" "$2"
}
e2e_counter_deltas() { # FILE0 FILE1 -> "name+delta ..." for every counter that moved
	awk 'FNR==NR { a[$1] = $2; next } { d = $2 - a[$1]; if (d != 0) printf "%s%+d ", $1, d }' "$1" "$2"
}

# ----------------------------------------------------------------- hosts behind NAT routers (nat.sh)
# A NAT router is a namespace <pfx>ROUTER with eth0 = 198.18.0.IDX/24 on the
# bridge (the "internet") and lan0 = LANNET.1/24 (LANNET like 198.18.1), a
# veth to exactly one host.  nftables inside it:
#   table ip nat  chain post        masquerade out of eth0 (the mode, below)
#   table ip fw   chain blocked     forward, before the rest: empty (tests fill it)
#                 chain forwarding  policy drop: lan0 -> eth0 and replies only
#                 chain inbound     eth0 -> router: replies and ping only
# so unsolicited inbound is dropped, never forwarded (no port forwards) and
# never confirmed in conntrack (a dropped punch leaves no entry that would
# make masquerade move the port).  UDP mappings expire after 30 s of
# silence (a strict NAT; keepalives must hold them).  Modes:
#   eim        masquerade: endpoint-independent, port-preserving mapping
#   symmetric  masquerade random,fully-random: a new random port per flow
#   snat:IP    snat to IP (address change: add IP to eth0 first)
# The router has no default route; its host's default route points at it, so
# nothing leaves 198.18.0.0/15.  HOST_NS/HOST_IP[ROUTER] are the router's
# namespace and public address; NAT_LAN[ROUTER] its LANNET.
declare -A NAT_LAN NAT_OF

e2e_nat_rules() { # ROUTER MODE -> the postrouting statement
	case "$2" in
	eim) echo 'oifname "eth0" masquerade' ;;
	symmetric) echo 'oifname "eth0" masquerade random,fully-random' ;;
	snat:*) echo "oifname \"eth0\" snat to ${2#snat:}" ;;
	*) return 1 ;;
	esac
}

# e2e_nat_router NAME IDX LANNET [eim|symmetric] [open]: the router (default
# eim); "open" leaves out the inbound drop (plain masquerade, as most Linux
# boxes run it: unsolicited datagrams to the router reach its own stack,
# and conntrack keeps an entry for them)
e2e_nat_router() {
	local n=$1 i=$2 lan=$3 mode=${4:-eim} ns=${E2E_PFX}$1 rule indrop='iifname "eth0" drop'
	rule=$(e2e_nat_rules "$n" "$mode") || fatal "e2e_nat_router $n: unknown mode $mode"
	[ "${5:-}" = open ] && indrop=
	e2e_host "$n" "$i"
	ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.disable_ipv6=1 \
		net.ipv6.conf.default.disable_ipv6=1 >/dev/null || fatal "sysctl in $ns"
	ip netns exec "$ns" nft -f - <<NFT || fatal "nftables in router $n"
table ip nat {
	chain post { type nat hook postrouting priority srcnat; policy accept;
		$rule
	}
}
table ip fw {
	chain blocked { type filter hook forward priority filter - 10; policy accept; }
	chain forwarding { type filter hook forward priority filter; policy drop;
		ct state established,related accept
		iifname "lan0" oifname "eth0" accept
	}
	chain inbound { type filter hook input priority filter; policy accept;
		iifname "eth0" ct state established,related accept
		iifname "eth0" icmp type echo-request accept
		$indrop
	}
}
NFT
	# A strict NAT: UDP mappings die after 30 s of silence, either way
	# (Linux keeps a replied flow 120 s by default).
	ip netns exec "$ns" sysctl -qw net.netfilter.nf_conntrack_udp_timeout=30 \
		net.netfilter.nf_conntrack_udp_timeout_stream=30 >/dev/null ||
		fatal "conntrack timeouts in $ns"
	NAT_LAN[$n]=$lan
}

# e2e_nat_host NAME ROUTER: namespace <pfx>NAME, eth0 = LANNET.2/24 on ROUTER's
# lan0, default route via LANNET.1; HOST_IP[NAME] is the private address, so
# e2e_start_node / pctl / e2e_serve / e2e_curl work unchanged.
e2e_nat_host() {
	local n=$1 r=$2 ns=${E2E_PFX}$1 rns=${HOST_NS[$2]} lan=${NAT_LAN[$2]}
	[ -n "$lan" ] || fatal "e2e_nat_host $n: $r is not a NAT router"
	e2e_ns_add "$ns" || fatal "create namespace $ns"
	ip link add lan0 netns "$rns" type veth peer name eth0 netns "$ns" || fatal "create lan veth $r <-> $n"
	ip netns exec "$rns" sysctl -qw net.ipv6.conf.lan0.disable_ipv6=1 >/dev/null
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.eth0.disable_ipv6=1 >/dev/null
	ip -n "$rns" addr add "$lan.1/24" dev lan0
	ip -n "$rns" link set lan0 up
	ip -n "$ns" addr add "$lan.2/24" dev eth0
	ip -n "$ns" link set eth0 up
	ip -n "$ns" route add default via "$lan.1" || fatal "default route of $n via $lan.1"
	HOST_NS[$n]=$ns HOST_IP[$n]=$lan.2 NAT_OF[$n]=$r
}

# e2e_nat_mode ROUTER eim|symmetric|snat:IP: replace the mapping rule (existing
# conntrack entries keep their mapping; `e2e_nat_flush ROUTER` drops them)
e2e_nat_mode() {
	local rule
	rule=$(e2e_nat_rules "$1" "$2") || return 1
	ip netns exec "${HOST_NS[$1]}" nft flush chain ip nat post &&
		ip netns exec "${HOST_NS[$1]}" nft add rule ip nat post $rule
}
e2e_nat_flush() { ip netns exec "${HOST_NS[$1]}" conntrack -F >/dev/null 2>&1; }
# e2e_nat_block ROUTER IP: drop forwarded UDP to and from IP; e2e_nat_unblock ROUTER
e2e_nat_block() {
	ip netns exec "${HOST_NS[$1]}" nft add rule ip fw blocked ip daddr "$2" meta l4proto udp drop &&
		ip netns exec "${HOST_NS[$1]}" nft add rule ip fw blocked ip saddr "$2" meta l4proto udp drop
}
e2e_nat_unblock() { ip netns exec "${HOST_NS[$1]}" nft flush chain ip fw blocked; }

# e2e_nat_mapped_ports ROUTER SRCIP SPORT: "DST:DPORT MAPPED-PORT" for each UDP
# flow conntrack holds from SRCIP:SPORT (MAPPED-PORT: the public source port)
e2e_nat_mapped_ports() {
	ip netns exec "${HOST_NS[$1]}" conntrack -L -p udp -s "$2" --sport "$3" 2>/dev/null | awk '
		{ n = 0; for (i = 1; i <= NF; i++) {
			split($i, kv, "=")
			if (kv[1] == "dst" && !d) d = kv[2]
			if (kv[1] == "dport") { n++; if (n == 1) dp = kv[2]; else mp = kv[2] }
		  }
		  if (mp != "") print d ":" dp, mp; d = ""; dp = ""; mp = "" }'
}

# e2e_peer NODE PEER-NODE-ID FIELD: FIELD of PEER's entry in NODE's `peers`
# (path, endpoint, direct_endpoint, last_handshake, session); 1 if absent
e2e_peer() {
	pctl "$1" peers 2>/dev/null | "$PY" -c '
import json, sys
try:
    d = json.load(sys.stdin)
except ValueError:
    sys.exit(1)
for p in (d.get("data") or {}).get("peers") or []:
    if str(p.get("node_id")) == sys.argv[1] and sys.argv[2] in p:
        v = p[sys.argv[2]]
        print("true" if v is True else "false" if v is False else "null" if v is None else v)
        sys.exit(0)
sys.exit(1)' "$2" "$3"
}
# e2e_peer_path_is NODE PEER-NODE-ID PATH
e2e_peer_path_is() { [ "$(e2e_peer "$1" "$2" path)" = "$3" ]; }
