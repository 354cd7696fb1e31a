#!/usr/bin/env bash
# contrib/demo.sh - Pilot in one command, on a fresh Debian machine, as root.
#
#   sudo contrib/demo.sh          install, build, run the demo, clean up
#   sudo contrib/demo.sh --keep   ... and leave it running to play with
#   sudo contrib/demo.sh --down   stop a demo left running by --keep
#
# What it does: installs the build dependencies (skipped when present), builds
# out of tree in ./build, makes three network namespaces on a private bridge
# (198.18.0.0/24: rendezvous .1, alice .2, bob .3), starts pilot-rendezvous and
# two pilotd, shows that bob cannot reach alice before trust, has bob ask for
# trust and alice approve, then serves a page from alice with
# `python3 -m http.server` and fetches it from bob with curl over the overlay.
# Nothing leaves the machine: the namespaces have no default route.
# SKIP_BUILD=1 (with PILOT_BINDIR=DIR) uses binaries built elsewhere.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEMO_WORK=/tmp/pilot-demo
KEEP=0
case "${1:-}" in
--keep) KEEP=1 ;;
--down) ;;
"") ;;
-h | --help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
*) echo "usage: $0 [--keep | --down]" >&2; exit 2 ;;
esac

n=0
B1="" B0=""
[ -t 1 ] && B1=$(printf '\033[1m') B0=$(printf '\033[0m')
step() { n=$((n + 1)); printf '\n%s==> %d. %s%s\n' "$B1" "$n" "$*" "$B0"; }
say() { echo "    $*"; }
die() { echo "demo: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (network namespaces and TUN devices need it): sudo $0 $*"

export E2E_PREFIX=pdemo- E2E_WORK=$DEMO_WORK E2E_TIMEOUT=900 E2E_KEEP=$KEEP
export PILOT_BINDIR=${PILOT_BINDIR:-$ROOT/build}
# shellcheck source=tests/e2e/lib.sh
. "$ROOT/tests/e2e/lib.sh"

# a demo left running earlier (--keep) goes first, whatever we do now
if [ -f "$DEMO_WORK/state" ]; then
	echo "stopping the demo left running earlier ($DEMO_WORK/state)"
	e2e_teardown_state "$DEMO_WORK/state"
	rm -rf "$DEMO_WORK"
fi
[ "${1:-}" = --down ] && { echo "demo stopped"; exit 0; }
rm -rf "$DEMO_WORK"

# ------------------------------------------------------------ packages and build
step "packages (contrib/deps.sh; skipped when already installed)"
# shellcheck source=contrib/deps.sh
. "$ROOT/contrib/deps.sh"
pilot_install_deps || die "package installation failed"

step "build, out of tree in $ROOT/build"
cd "$ROOT" || exit 1
if [ "${SKIP_BUILD:-0}" = 1 ]; then
	say "SKIP_BUILD=1: using the binaries in $PILOT_BINDIR"
else
	if [ ! -x configure ] || [ configure.ac -nt configure ] || [ ! -f Makefile.in ] || [ Makefile.am -nt Makefile.in ]; then
		say "autoreconf -fi"
		autoreconf -fi >/dev/null 2>&1 || { autoreconf -fi; die "autoreconf failed"; }
	fi
	mkdir -p build && cd build || exit 1
	if [ ! -f Makefile ]; then
		say "../configure"
		../configure >configure.log 2>&1 || { tail -n 30 configure.log; die "configure failed (build/configure.log)"; }
	fi
	say "make -j$(nproc)"
	make -j"$(nproc)" >make.log 2>&1 || { grep -E 'error|Error' make.log | head -n 30; die "make failed (build/make.log)"; }
	say "built: $(ls pilotd pilot-rendezvous pilotctl | tr '\n' ' ')"
	cd "$ROOT" || exit 1
fi

# ------------------------------------------------------------ network
e2e_init
if [ "$KEEP" = 1 ]; then
	# detach the daemons from this terminal so they outlive it
	e2e_bg() {
		local ns=$1 lf=$2; shift 2
		ip netns exec "$ns" setsid "$@" >>"$lf" 2>&1 </dev/null &
		LASTPID=$!
		E2E_PIDSTART[$LASTPID]=$(e2e_starttime "$LASTPID")
		E2E_PIDS="$E2E_PIDS $LASTPID"
	}
fi
e2e_require curl

step "network: namespaces ${E2E_PFX}{ul,rdv,alice,bob} on a private bridge"
e2e_underlay
e2e_host rdv 1
e2e_host alice 2
e2e_host bob 3
e2e_underlay_ping bob "$RDV_IP" || die "underlay does not work"
say "rendezvous 198.18.0.1, alice 198.18.0.2, bob 198.18.0.3 (no default route anywhere)"

step "rendezvous: pilot-rendezvous --listen $RDV_IP:$RDV_PORT"
e2e_start_rdv
say "its TLS key's SPKI pin (pilot-rendezvous --print-pin): $RDV_PIN"

step "nodes: pilotd in alice's and bob's namespaces (each gets a TUN device pilot0)"
e2e_start_node alice alice || die "alice's pilotd did not come up (log: $DEMO_WORK/alice/pilotd.log)"
e2e_start_node bob bob || die "bob's pilotd did not come up (log: $DEMO_WORK/bob/pilotd.log)"
A=${NODE_ID[alice]} B=${NODE_ID[bob]} A6=${NODE_IP6[alice]}
say "alice: node ${NODE_ID[alice]}, address ${NODE_ADDR[alice]}, IPv6 ${NODE_IP6[alice]}"
say "bob:   node ${NODE_ID[bob]}, address ${NODE_ADDR[bob]}, IPv6 ${NODE_IP6[bob]}"
human() { # human NODE ARGS...: pilotctl's own (non-JSON) output, indented
	local n=$1; shift
	ip netns exec "${HOST_NS[$n]}" timeout 15 "$PILOTCTL" --socket "${NODE_SOCK[$n]}" "$@" 2>&1 | sed 's/^/      /'
}
say "\$ pilotctl info   (in alice's namespace)"
human alice info

step "a web server on alice: python3 -m http.server 8000 --bind ::"
mkdir -p "$DEMO_WORK/www"
echo "Hello from alice, over Pilot. ($(date -u +%FT%TZ))" >"$DEMO_WORK/www/index.html"
e2e_bg "${HOST_NS[alice]}" "$DEMO_WORK/http.log" "$PY" -m http.server 8000 --bind :: --directory "$DEMO_WORK/www"
e2e_add_log http.server "$DEMO_WORK/http.log"
e2e_wait 5 e2e_tcp_open "${HOST_NS[alice]}" ::1 8000 || die "http.server did not start"

step "dark by default: bob cannot reach alice before trust"
if ip netns exec "${HOST_NS[bob]}" curl -6 -sS --max-time 2 "http://[$A6]:8000/" >/dev/null 2>"$DEMO_WORK/dark.err"; then
	say "!! bob reached alice without trust - that is a bug"
else
	say "bob: curl http://[$A6]:8000/ -> $(head -c 200 "$DEMO_WORK/dark.err")"
fi

step "trust: bob asks, alice approves"
say "\$ pilotctl handshake $A \"demo: bob would like to read alice's page\"   (bob)"
human bob handshake "$A" "demo: bob would like to read alice's page"
e2e_wait 10 pctl_has alice pending 'data.pending[].node_id' "$B" || die "the request did not reach alice"
say "\$ pilotctl pending   (alice)"
human alice pending
say "\$ pilotctl approve $B   (alice)"
human alice approve "$B"
e2e_wait 10 pctl_has bob trust 'data.trusted[].node_id' "$A" || die "bob does not see the trust"
say "\$ pilotctl trust   (bob)"
human bob trust

step "HTTP over the overlay: curl from bob to alice"
say "\$ curl http://[$A6]:8000/   (bob)"
if e2e_wait 15 eval 'ip netns exec "${HOST_NS[bob]}" curl -6 -sS --max-time 3 "http://[$A6]:8000/" >"$DEMO_WORK/page" 2>"$DEMO_WORK/curl.err"'; then
	sed 's/^/      /' "$DEMO_WORK/page"
	say "(encrypted on the wire: UDP between 198.18.0.3 and 198.18.0.2:$NODE_PORT)"
else
	say "curl failed: $(cat "$DEMO_WORK/curl.err")"
	die "the overlay did not carry the request (logs: $DEMO_WORK/*/pilotd.log)"
fi
say "\$ ping -6 -c 2 $A6   (bob)"
ip netns exec "${HOST_NS[bob]}" ping -6 -c 2 -W 2 "$A6" 2>&1 | sed 's/^/      /'

if [ "$KEEP" = 1 ]; then
	step "left running (--keep)"
	cat <<EOF
    Enter a namespace:      sudo ip netns exec ${HOST_NS[bob]} bash
    Talk to its pilotd:     pilotctl --socket ${NODE_SOCK[bob]} peers
                            (pilotctl is $PILOTCTL)
    Fetch alice's page:     sudo ip netns exec ${HOST_NS[bob]} curl http://[$A6]:8000/
    alice's shell:          sudo ip netns exec ${HOST_NS[alice]} bash
    Logs:                   $DEMO_WORK/{rdv/rendezvous.log,alice/pilotd.log,bob/pilotd.log}
    Stop it all:            sudo $0 --down
EOF
else
	step "done; cleaning up (use --keep to leave it running)"
fi
exit 0
