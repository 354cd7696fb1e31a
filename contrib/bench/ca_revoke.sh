#!/usr/bin/env bash
# contrib/bench/ca_revoke.sh - how fast revoking a certificate (ca revoke NET
# SERIAL, issue 14) cuts the holder off at every member of a ca network (a
# benchmark: it prints figures and asserts nothing about speed).
#
#   sudo contrib/bench/ca_revoke.sh [M [T]]     # M members (8), T trials (20)
#
# Topology (tests/e2e/lib.sh): rendezvous 198.18.0.1 (registry 9000/tcp, an
# admin token, metrics on 127.0.0.1:9100 inside its namespace); "adm"
# 198.18.0.2, a pilotd in no network that only carries the admin's requests;
# the victim "v" 198.18.0.3; members m1..mM 198.18.0.4...  One CA (pilotctl
# ca generate, plain key) and a ca network 20 bound to it; the victim and
# the members join it with certificates for their keys, so they reach each
# other with no handshake.  The victim runs a hold server (tests/e2e
# pt_helper.py) on tcp/8001 of its network-20 address.
#
# A trial: sign a fresh certificate for the victim's key (a new serial) and
# join it to network 20 again; a probe (one python3 process) opens a TCP
# connection to the victim's hold server from every member's namespace
# (setns(2) before each socket(); hello/ok exchanged: an established flow in
# each member's pilotd); after SETTLE seconds the admin runs
#   pilotctl --admin-token T ca revoke 20 SERIAL
# against adm's pilotd (over its socket path, from this namespace).  The
# registry takes the victim out and pushes network.left over the members'
# events streams; each member's pilotd cuts its flows to the victim by
# writing a TCP RST into its own TUN, which resets the member's socket.
# Detection: the probe waits in epoll on all M sockets and stamps a reset
# with time.time() taken when epoll_wait returned.  A member's pilotd writes
# no audit record when another node leaves, and a peers/flows poll would be
# coarser; one probe, not a client per member, so that waking M clients on
# a small machine is not in the figures.  The start is bash's
# $EPOCHREALTIME just before pilotctl is forked.  Both are CLOCK_REALTIME of
# this one machine: one clock.  A cut is "from the revoke command's start
# until that member's socket was reset", so it includes pilotctl's start,
# the IPC to adm's pilotd, the registry request, the push and the member's
# cut.  The revoke's own latency is pilotctl's wall time (fork to exit); the
# registry's handler time of ca_revoke comes from its metrics page
# (pilot_registry_request_seconds, read just before and after; shown when
# the revoke was the only request in between).  A member not cut within
# CUT_WAIT seconds is counted as missed and left out of the percentiles.
#
# Prints per trial the slowest member's cut, the revoke latency and the
# handler time, then p50 / p99 / max (nearest rank) over all M*T member
# cuts, over the T revoke requests and over the handler times.
#
# Environment: M, T (as the arguments), SETTLE (s between the last member
# connected and the revoke, default 0.3), CUT_WAIT (s, default 5),
# PILOT_BINDIR (default ./build), E2E_TIMEOUT (whole-run watchdog, default
# 180 + 15 s per trial), E2E_KEEP_WORK=1 keeps the logs.  Only 198.18.0.0/15
# on the underlay, the deployment's fd..::/48 on the overlay; every wait is
# bounded; the EXIT trap of lib.sh stops the processes this run started (by
# PID) and deletes its namespaces.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
case "${1:-}" in
-h | --help) sed -n '2,52p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
M=${1:-${M:-8}}
T=${2:-${T:-20}}
SETTLE=${SETTLE:-0.3}
CUT_WAIT=${CUT_WAIT:-5}
case "$M$T" in '' | *[!0-9]*) echo "usage: $0 [M [T]]" >&2; exit 2 ;; esac
{ [ "$M" -ge 1 ] && [ "$M" -le 200 ] && [ "$T" -ge 1 ] && [ "$T" -le 1000 ]; } ||
	{ echo "ca_revoke: M in 1..200, T in 1..1000" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "ca_revoke: run as root" >&2; exit 1; }

export E2E_PREFIX=pcr$$- E2E_TIMEOUT=${E2E_TIMEOUT:-$((180 + 15 * T))}
export PILOT_BINDIR=${PILOT_BINDIR:-$ROOT/build}
# shellcheck source=tests/e2e/lib.sh
. "$ROOT/tests/e2e/lib.sh"
NET=20 PORT=8001

e2e_init
# shellcheck disable=SC2119  # no extra tools
e2e_require
TOKEN="bench-admin-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
MPORT=9100
export RDV_EXTRA_ARGS="--admin-token $TOKEN --metrics-listen 127.0.0.1:$MPORT"
MEMBERS=""
for i in $(seq "$M"); do MEMBERS="$MEMBERS m$i"; done

e2e_underlay
e2e_host rdv 1
e2e_host adm 2
e2e_host v 3
for i in $(seq "$M"); do e2e_host "m$i" $((i + 3)); done
e2e_start_rdv
for n in adm v $MEMBERS; do e2e_spawn_node "$n" "$n"; done
for n in adm v $MEMBERS; do
	e2e_wait "$E2E_READY_S" e2e_node_ready "$n" || fatal "pilotd $n ready"
	NODE_ID[$n]=$(jget data.node_id <<<"$PCTL_OUT")
done
info "rendezvous, adm, victim and $M members up"

CA=$E2E_WORK/ca CERTS=$E2E_WORK/certs
mkdir -p "$CERTS"
ctl() { "$PILOTCTL" --json "$@"; } # offline: no daemon
# admin requests through adm's pilotd; the socket is a path, no namespace needed
adm_ok() {
	PCTL_OUT=$(timeout 15 "$PILOTCTL" --socket "${NODE_SOCK[adm]}" --json --admin-token "$TOKEN" "$@" 2>&1) &&
		[ "$(jget status <<<"$PCTL_OUT")" = ok ]
}
pk_of() { pctl "$1" info | jget data.public_key; }
# sign NAME NODE: a certificate for NODE's key into $CERTS/NAME.crt; its serial in SERIAL
sign() {
	PCTL_OUT=$(ctl ca sign --ca "$CA" --public-key "$(pk_of "$2")" --node-id "${NODE_ID[$2]}" \
		--out "$CERTS/$1.crt" 2>&1) && [ "$(jget status <<<"$PCTL_OUT")" = ok ] || return 1
	SERIAL=$(jget data.serial <<<"$PCTL_OUT")
}
PCTL_OUT=$(ctl ca generate --out "$CA" --name bench-ca --lifetime 30d 2>&1) || fatal "ca generate: $PCTL_OUT"
adm_ok network create bench --id "$NET" --join-rule ca --ca-cert "$CA/ca.crt" ||
	fatal "network create --join-rule ca: $PCTL_OUT"
for n in $MEMBERS; do
	sign "$n" "$n" || fatal "ca sign $n: $PCTL_OUT"
	pctl_ok "$n" network join "$NET" --cert "$CERTS/$n.crt" || fatal "$n joins $NET: $PCTL_OUT"
done
e2e_serve v "$PORT" hold "held" || fatal "hold server on the victim"

# The probe: one process holds a connection to the victim in every member's
# namespace (setns(2) before each socket(); a socket stays in the namespace
# it was made in), then waits in epoll; a reset is timed when epoll_wait
# returned.  One process, so the figures do not include waking M of them.
# argv: HOST PORT OUT READY WAIT NAME=NETNS...; READY gets "ready RETRIES"
# once every member holds its connection, OUT "NAME KIND TIME" per member
# (KIND reset|eof, or "open -" when not cut within WAIT s of READY).
cat >"$E2E_WORK/probe.py" <<'PY'
import ctypes, os, select, socket, sys, time
host, port, out, ready, wait = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], float(sys.argv[5])
libc = ctypes.CDLL(None, use_errno=True)
def setns(fd):
    if libc.setns(fd, 0x40000000) != 0:  # CLONE_NEWNET
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
home = os.open("/proc/self/ns/net", os.O_RDONLY)
socks, retries = {}, 0
for arg in sys.argv[6:]:
    name, ns = arg.split("=", 1)
    fd = os.open(ns, os.O_RDONLY)
    for attempt in range(25):  # refused until its pilotd has seen the victim join
        setns(fd)
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        setns(home)
        s.settimeout(2)
        try:
            s.connect((host, port))
            s.sendall(b"hello\n")
            if s.recv(16).startswith(b"ok"):
                break
        except OSError:
            pass
        s.close()
        s = None
        retries += 1
        time.sleep(0.2)
    os.close(fd)
    if s is None:
        sys.exit("probe: %s cannot reach %s port %d" % (name, host, port))
    s.setblocking(False)
    socks[s.fileno()] = (name, s)
ep = select.epoll()
for fd in socks:
    ep.register(fd, select.EPOLLIN | select.EPOLLRDHUP)
with open(ready + ".tmp", "w") as f:
    f.write("ready %d\n" % retries)
os.rename(ready + ".tmp", ready)
res, end = {}, time.monotonic() + wait
while len(res) < len(socks) and time.monotonic() < end:
    evs = ep.poll(max(0.0, min(0.5, end - time.monotonic())))
    t = time.time()
    for fd, _ in evs:
        name, s = socks[fd]
        try:
            if s.recv(4096):
                continue
            kind = "eof"
        except ConnectionResetError:
            kind = "reset"
        except BlockingIOError:
            continue
        except OSError as e:
            kind = "error:%d" % e.errno
        res[name] = "%s %.6f" % (kind, t)
        ep.unregister(fd)
with open(out + ".tmp", "w") as f:
    for name, _ in socks.values():
        f.write("%s %s\n" % (name, res.get(name, "open -")))
os.rename(out + ".tmp", out)
PY
# probe_start TRIAL: the probe in this (the root) namespace; PROBE its PID
probe_start() {
	local n args=()
	for n in $MEMBERS; do args+=("$n=/run/netns/${HOST_NS[$n]}"); done
	"$PY" "$E2E_WORK/probe.py" "$VIP" "$PORT" "$E2E_WORK/cut.$1" "$E2E_WORK/ready.$1" \
		"$(awk -v s="$SETTLE" -v c="$CUT_WAIT" 'BEGIN{print s + c + 2}')" "${args[@]}" \
		>>"$E2E_WORK/probe.log" 2>&1 </dev/null &
	PROBE=$!
	E2E_PIDSTART[$PROBE]=$(e2e_starttime "$PROBE")
	E2E_PIDS="$E2E_PIDS $PROBE"
}
# shellcheck disable=SC2317  # invoked by e2e_wait
probe_gone() { ! e2e_alive "$PROBE"; }

# rdv_stat: "SUM COUNT" of the registry's request-time histogram (its metrics
# page, plain HTTP on 127.0.0.1 inside the rendezvous namespace); "" when unreadable
rdv_stat() {
	ip netns exec "${HOST_NS[rdv]}" curl -s --max-time 2 --noproxy '*' \
		"http://127.0.0.1:$MPORT/metrics" 2>/dev/null | awk '
		$1 == "pilot_registry_request_seconds_sum" { s = $2 }
		$1 == "pilot_registry_request_seconds_count" { c = $2 }
		END { if (c != "") print s, c }'
}

SAMPLES=$E2E_WORK/samples REVOKES=$E2E_WORK/revokes HANDLER=$E2E_WORK/handler
: >"$SAMPLES"
: >"$REVOKES"
: >"$HANDLER"
MISSED=0 RETRIES=0 VICTIM_STILL=""
echo "trial  serial                            slowest-cut  revoke  handler  cut/M"
for t in $(seq "$T"); do
	sign "v$t" v || fatal "trial $t: ca sign the victim: $PCTL_OUT"
	pctl_ok v network join "$NET" --cert "$CERTS/v$t.crt" || fatal "trial $t: victim joins: $PCTL_OUT"
	VIP=$(jget data.ipv6 <<<"$PCTL_OUT")
	if [ -z "$VIP" ] || [ "$VIP" = null ]; then fatal "trial $t: no network-$NET address in the join reply"; fi
	probe_start "$t"
	e2e_wait $((10 + M)) test -e "$E2E_WORK/ready.$t" ||
		fatal "trial $t: every member holds a connection to the victim ($(tail -1 "$E2E_WORK/probe.log" 2>/dev/null))"
	read -r _ r <"$E2E_WORK/ready.$t"
	RETRIES=$((RETRIES + r))
	sleep "$SETTLE"
	m0=$(rdv_stat)
	t0=$EPOCHREALTIME
	timeout 15 "$PILOTCTL" --socket "${NODE_SOCK[adm]}" --json --admin-token "$TOKEN" \
		ca revoke "$NET" "$SERIAL" >"$E2E_WORK/revoke.$t.json" 2>&1
	rrc=$?
	t1=$EPOCHREALTIME
	m1=$(rdv_stat)
	if [ "$rrc" != 0 ] || [ "$(jget status <"$E2E_WORK/revoke.$t.json")" != ok ]; then
		fatal "trial $t: ca revoke: $(cat "$E2E_WORK/revoke.$t.json")"
	fi
	e2e_wait $((CUT_WAIT + 3)) probe_gone
	e2e_stop_pids "$PROBE"
	[ -f "$E2E_WORK/cut.$t" ] || fatal "trial $t: the probe wrote no results ($(tail -1 "$E2E_WORK/probe.log"))"
	[ -n "$VICTIM_STILL" ] ||
		if e2e_has_addr v pilot0 "$VIP"; then VICTIM_STILL=yes; else VICTIM_STILL=no; fi
	: >"$SAMPLES.$t"
	cut=0
	while read -r n kind tc; do
		el=$(awk -v a="$t0" -v b="$tc" 'BEGIN{printf "%.6f", b - a}')
		if { [ "$kind" = reset ] || [ "$kind" = eof ]; } && e2e_le "$el" "$CUT_WAIT"; then
			echo "$el" >>"$SAMPLES.$t"
			cut=$((cut + 1))
		else
			MISSED=$((MISSED + 1))
			info "trial $t: $n not cut within ${CUT_WAIT}s ($kind $tc)"
		fi
	done <"$E2E_WORK/cut.$t"
	awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.6f\n", b - a}' >>"$REVOKES"
	# the registry's handler time, when the revoke was its only request in between
	hnd=$(awk -v a="$m0" -v b="$m1" 'BEGIN { split(a, x, " "); split(b, y, " ")
		if (a != "" && b != "" && y[2] - x[2] == 1) printf "%.6f", y[1] - x[1] }')
	[ -n "$hnd" ] && echo "$hnd" >>"$HANDLER"
	slow=$(sort -g "$SAMPLES.$t" | tail -1)
	cat "$SAMPLES.$t" >>"$SAMPLES"
	printf '%5d  %s  %10.3fs  %5.3fs  %6s   %d/%d\n' "$t" "$SERIAL" "${slow:-nan}" \
		"$(tail -1 "$REVOKES")" "$(awk -v h="$hnd" 'BEGIN { if (h == "") print "-"; else printf "%.3fs", h }')" \
		"$cut" "$M"
done

# pct FILE: n, p50, p99, max (nearest rank) of the values in FILE, in ms
pct() {
	sort -g "$1" | awk '{v[NR] = $1}
		function r(p,  k) { k = int(p * NR + 0.999999); if (k < 1) k = 1; return v[k] * 1000 }
		END { if (NR) printf "n=%d  p50 %.1f ms  p99 %.1f ms  max %.1f ms\n", NR, r(0.50), r(0.99), v[NR] * 1000
		      else print "n=0" }'
}
echo "member cut after ca revoke (M=$M, T=$T): $(pct "$SAMPLES")"
echo "ca revoke request (pilotctl wall time): $(pct "$REVOKES")"
echo "registry handler time of ca_revoke (metrics): $(pct "$HANDLER")"
echo "members not cut within ${CUT_WAIT}s: $MISSED; connects refused and retried before a trial: $RETRIES"
info "the victim's pilot0 still had its network-$NET address after the first revoke: ${VICTIM_STILL:-?}"
e2e_finish
