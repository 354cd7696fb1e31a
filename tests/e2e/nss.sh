#!/bin/sh
# nss.sh - NAME.pilot through glibc (SPEC section 3, doc/IPC.md "Name service
# socket"), with the host's /etc untouched: in a private mount (and network)
# namespace, /etc/nsswitch.conf is a bind mount of a temporary file saying
# `hosts: files pilot dns`, and LD_LIBRARY_PATH points glibc's dlopen() at
# the build tree's libnss_pilot.so.2.  A fake resolve socket (python3)
# stands in for pilotd: alice/bob.pilot have addresses in a random
# fdXX:XXXX:XXXX::/48, every other name is not_found.  Checks:
#   - getent ahosts / ahostsv6 / hosts alice.pilot (any case, final dot)
#     print alice's address and the canonical name, and nothing else;
#     getent ahostsv4 alice.pilot fails (IPv6 only);
#   - getent ahosts nobody.pilot fails (exit 2) after asking the socket;
#   - localhost still resolves (files), and neither it nor a name that is
#     not a Pilot hostname reaches the socket;
#   - python3 socket.getaddrinfo('alice.pilot', 80) returns the address;
#   - the default socket path (/run/pilot/resolve.sock) is the one asked;
#   - with the daemon gone, lookups fall through within the timeout and
#     localhost still resolves.
# Needs root (namespaces, mounts); TAP output; skips (1..0 # SKIP; exit 77
# when run by hand) otherwise.  The network namespace keeps the "dns"
# fall-through for nobody.pilot off the real network.
#
# Reusable: `. tests/e2e/nss.sh` from bash defines the nss_* helpers below
# and returns without running the checks (e.g. for a test against the real
# pilotd: nss_find_module, nss_setup "$WORK", then NSS_NETNS=ns nss_exec getent ...).
[ -z "${BASH_VERSION:-}" ] && { command -v bash >/dev/null 2>&1 || { echo "SKIP: no bash"; exit 77; }; exec bash "$0" "$@"; }

# ------------------------------------------------------------ helpers

# nss_find_module: NSS_MODULE = the libnss_pilot.so.2 to test: $NSS_MODULE if
# set, else the build tree's (libtool keeps it in src/nss/.libs).
nss_find_module() {
	local d
	if [ -n "${NSS_MODULE:-}" ]; then
		[ -f "$NSS_MODULE" ] && return 0
		return 1
	fi
	for d in "${top_builddir:+$top_builddir/src/nss/.libs}" "$PWD/src/nss/.libs"; do
		if [ -n "$d" ] && [ -f "$d/libnss_pilot.so.2" ]; then
			NSS_MODULE=$(cd "$d" && pwd)/libnss_pilot.so.2
			return 0
		fi
	done
	return 1
}

# nss_setup DIR [HOSTS_LINE]: in DIR, an nsswitch.conf (the host's, its
# hosts line replaced by HOSTS_LINE, default "hosts: files pilot dns") and a
# lib dir holding only the module.  Sets NSS_CONF and NSS_LIBDIR.
nss_setup() {
	local dir=$1 line=${2:-hosts: files pilot dns}
	mkdir -p "$dir/nsslib" || return 1
	ln -sf "$NSS_MODULE" "$dir/nsslib/libnss_pilot.so.2" || return 1
	NSS_CONF=$dir/nsswitch.conf NSS_LIBDIR=$dir/nsslib
	if [ -r /etc/nsswitch.conf ]; then
		awk -v l="$line" '/^[ \t]*hosts[ \t]*:/ { if (!done) print l; done = 1; next }
			{ print } END { if (!done) print l }' /etc/nsswitch.conf >"$NSS_CONF"
	else
		printf '%s\n' "$line" >"$NSS_CONF"
	fi
}

# nss_exec CMD...: run CMD (an executable, not a function) with $NSS_CONF as
# /etc/nsswitch.conf and $NSS_LIBDIR first in LD_LIBRARY_PATH, in a private
# mount namespace (unshare -m: the host never sees the mounts).  nscd's
# socket is hidden there, or glibc would ask nscd instead of loading the
# module.  Knobs:
#   NSS_UNSHARE_FLAGS  more unshare(1) flags, e.g. -n (an empty network)
#   NSS_NETNS          run it all inside `ip netns exec NSS_NETNS`
#   NSS_PILOT_RUNDIR   a directory to appear as /run/pilot (on a fresh /run),
#                      so the module's default socket path can be tested
nss_exec() {
	local pre=()
	[ -n "${NSS_NETNS:-}" ] && pre=(ip netns exec "$NSS_NETNS")
	# shellcheck disable=SC2086
	"${pre[@]}" unshare -m --propagation private ${NSS_UNSHARE_FLAGS:-} -- /bin/sh -c '
		conf=$1 lib=$2 run=$3; shift 3
		mount --bind "$conf" /etc/nsswitch.conf || exit 125
		if [ -n "$run" ]; then
			mount -t tmpfs -o mode=0755,size=64k tmpfs /run &&
				mkdir /run/pilot && mount --bind "$run" /run/pilot || exit 125
		elif [ -e /var/run/nscd/socket ]; then
			mount -t tmpfs -o size=4k tmpfs "$(readlink -f /var/run/nscd)" || exit 125
		fi
		LD_LIBRARY_PATH=$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
		export LD_LIBRARY_PATH
		exec "$@"' nss_exec "$NSS_CONF" "$NSS_LIBDIR" "${NSS_PILOT_RUNDIR:-}" "$@"
}

# nss_usable: whether nss_exec can work here (root, unshare, mount).
nss_usable() {
	[ "$(id -u)" = 0 ] || { NSS_WHY="needs root (mount namespace)"; return 1; }
	command -v unshare >/dev/null 2>&1 || { NSS_WHY="no unshare(1)"; return 1; }
	[ -e /etc/nsswitch.conf ] || { NSS_WHY="no /etc/nsswitch.conf to bind over"; return 1; }
	nss_exec true 2>/dev/null || { NSS_WHY="cannot unshare a mount namespace here"; return 1; }
}

if [ "${BASH_SOURCE[0]}" != "$0" ]; then
	return 0 # sourced: helpers only
fi

# ------------------------------------------------------------ the test
set -u

skip_all() {
	echo "1..0 # SKIP $*"
	# Under automake's TAP driver a skip is the plan above and status 0.
	[ -n "${AM_TAP_AWK:-}" ] && exit 0
	exit 77
}

if [ -x /usr/bin/python3 ]; then PY=/usr/bin/python3; else PY=$(command -v python3) || PY=; fi
[ "$(id -u)" = 0 ] || skip_all "needs root"
[ -n "$PY" ] || skip_all "no python3"
command -v getent >/dev/null 2>&1 || skip_all "no getent"
nss_find_module || skip_all "libnss_pilot.so.2 not built (set top_builddir or NSS_MODULE)"

command -v ip >/dev/null 2>&1 || skip_all "no ip (iproute2)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/pilot-nss.XXXXXX") || exit 99
FAKE_PID='' NS=''
cleanup() {
	if [ -n "$FAKE_PID" ]; then
		kill "$FAKE_PID" 2>/dev/null
		wait "$FAKE_PID" 2>/dev/null
	fi
	[ -n "$NS" ] && ip netns del "$NS" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
check() {
	local d=$1
	shift
	if "$@"; then ok "$d"; else not_ok "$d"; fi
}
finish() {
	echo "1..$n"
	[ "$failed" = 0 ] && exit 0
	exit 1
}

# A random deployment prefix fdXX:XXXX:XXXX::/48; alice is node 42 in network 1.
PFX=$("$PY" -c 'import os; b = bytes([0xfd]) + os.urandom(5); print(":".join(b[i:i+2].hex() for i in (0, 2, 4)))')
A6=$("$PY" -c 'import ipaddress, sys; print(ipaddress.IPv6Address(sys.argv[1] + ":1::2a"))' "$PFX")

# The lookups run in a network namespace of their own: nothing (the "dns"
# fall-through of nobody.pilot) leaves the machine.  A dummy pilot0 with
# this node's address stands in for pilotd's, because getaddrinfo with
# AI_ADDRCONFIG (getent ahosts*) returns no IPv6 unless some non-loopback
# interface has an IPv6 address, as pilot0 does on a real node.
NS=pnss$$
ip netns add "$NS" 2>/dev/null || { NS=; skip_all "cannot create a network namespace"; }
ip -n "$NS" link set lo up
{ ip -n "$NS" link add pilot0 type dummy && ip -n "$NS" link set pilot0 up &&
	ip -n "$NS" addr add "$PFX:1::1/64" dev pilot0 nodad; } 2>/dev/null ||
	ip -n "$NS" addr add "$PFX:1::1/128" dev lo nodad
# ... and an underlay IPv4 address (198.18.0.0/15, benchmarking), no route out
{ ip -n "$NS" link add eth0 type dummy && ip -n "$NS" link set eth0 up &&
	ip -n "$NS" addr add 198.18.0.2/24 dev eth0; } 2>/dev/null
NSS_NETNS=$NS
nss_setup "$WORK" || { echo "Bail out! cannot set up $WORK"; exit 99; }
nss_usable || skip_all "$NSS_WHY"
echo "# module: $NSS_MODULE"
echo "# prefix $PFX::/48, alice.pilot is $A6; namespace $NS"

mkdir -p "$WORK/run" && chmod 755 "$WORK/run"
SOCK=$WORK/run/resolve.sock
REQLOG=$WORK/requests.log
: >"$REQLOG"
cat >"$WORK/fake_resolve.py" <<'EOF'
# A stand-in for pilotd's name service socket: one JSON request line, one
# reply line per connection (doc/IPC.md); every request line is logged.
import json, os, socket, sys

path, log, prefix = sys.argv[1:4]
NODES = {"alice": (42, prefix + ":1::2a"), "bob": (43, prefix + ":1::2b")}
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
os.chmod(path, 0o666)
srv.listen(16)
while True:
    c, _ = srv.accept()
    with c:
        c.settimeout(5)
        buf = b""
        try:
            while b"\n" not in buf and len(buf) < 65536:
                d = c.recv(4096)
                if not d:
                    break
                buf += d
        except OSError:
            continue
        line = buf.split(b"\n")[0].decode("utf-8", "replace")
        with open(log, "a") as f:
            f.write(line + "\n")
        try:
            req = json.loads(line)
            assert set(req) == {"cmd", "args"} and req["cmd"] == "find"
            name = req["args"]["hostname"]
            assert isinstance(name, str)
        except Exception:
            reply = {"status": "error", "code": "bad_request", "message": "bad request", "hint": ""}
        else:
            label = name[:-6] if name.endswith(".pilot") else name
            if label in NODES:
                node, ip6 = NODES[label]
                reply = {"status": "ok", "data": {"node_id": node, "address": "1:0001.0000.%04X" % node,
                         "ipv6": ip6, "hostname": label, "networks": [1], "trusted": True}}
            else:
                reply = {"status": "error", "code": "not_found", "message": "no such node", "hint": ""}
        try:
            c.sendall((json.dumps(reply, separators=(",", ":")) + "\n").encode())
        except OSError:
            pass
EOF
"$PY" "$WORK/fake_resolve.py" "$SOCK" "$REQLOG" "$PFX" >"$WORK/fake.log" 2>&1 </dev/null &
FAKE_PID=$!
for _ in $(seq 50); do [ -S "$SOCK" ] && break; sleep 0.1; done
[ -S "$SOCK" ] || { echo "Bail out! the fake resolve socket did not come up"; cat "$WORK/fake.log"; exit 1; }
export PILOT_RESOLVE_SOCKET=$SOCK

# q CMD...: run CMD under nss_exec; output in $OUT, status in $RC, seconds in $DT
q() {
	local t0
	t0=$(date +%s%N)
	OUT=$(nss_exec "$@" 2>&1)
	RC=$?
	DT=$(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
}
# the distinct addresses (first column) of getent's output
addrs() { printf '%s\n' "$OUT" | awk 'NF { print $1 }' | sort -u | tr '\n' ' ' | sed 's/ $//'; }
requests() { wc -l <"$REQLOG" | tr -d ' '; }
show() { printf '%s\n' "$OUT" | sed 's/^/#   /'; }

# ---- getaddrinfo (gethostbyname4_r)
q getent ahosts alice.pilot
if [ "$RC" = 0 ] && [ "$(addrs)" = "$A6" ] && printf '%s\n' "$OUT" | head -n 1 | grep -q " alice\.pilot$"; then
	ok "getent ahosts alice.pilot: $A6 only, canonical name alice.pilot"
else
	not_ok "getent ahosts alice.pilot: $A6 only (exit $RC)"; show
fi
check "the request on the socket: {\"cmd\":\"find\",\"args\":{\"hostname\":\"alice.pilot\"}}" \
	grep -qxF '{"cmd":"find","args":{"hostname":"alice.pilot"}}' "$REQLOG"

q getent ahostsv6 Alice.PILOT.
if [ "$RC" = 0 ] && [ "$(addrs)" = "$A6" ] && printf '%s\n' "$OUT" | head -n 1 | grep -q " alice\.pilot$"; then
	ok "getent ahostsv6 Alice.PILOT.: $A6, named alice.pilot"
else
	not_ok "getent ahostsv6 Alice.PILOT. (exit $RC)"; show
fi

# ---- gethostbyname2 (getent hosts asks AF_INET6 first)
q getent hosts bob.pilot
B6=$("$PY" -c 'import ipaddress, sys; print(ipaddress.IPv6Address(sys.argv[1] + ":1::2b"))' "$PFX")
if [ "$RC" = 0 ] && [ "$(printf '%s\n' "$OUT" | awk '{ print $1, $2, NF }')" = "$B6 bob.pilot 2" ]; then
	ok "getent hosts bob.pilot: $B6 bob.pilot"
else
	not_ok "getent hosts bob.pilot: $B6 bob.pilot (exit $RC)"; show
fi

q getent ahostsv4 alice.pilot
check "getent ahostsv4 alice.pilot fails: Pilot names are IPv6 only (exit $RC)" [ "$RC" = 2 ]

# ---- not found
before=$(requests)
q getent ahosts nobody.pilot
check "getent ahosts nobody.pilot: exit 2 (got $RC)" [ "$RC" = 2 ]
check "... after asking the socket (answer not_found)" \
	grep -qxF '{"cmd":"find","args":{"hostname":"nobody.pilot"}}' "$REQLOG"

# ---- other names: files and dns answer, the socket is never asked
before=$(requests)
q getent ahosts localhost
if [ "$RC" = 0 ] && printf '%s\n' "$OUT" | grep -Eq '^(127\.0\.0\.1|::1|::ffff:127\.0\.0\.1) '; then
	ok "getent ahosts localhost still works (files)"
else
	not_ok "getent ahosts localhost (exit $RC)"; show
fi
q getent ahosts no_such.pilot
q getent ahosts alice.pilot.example
q getent ahosts foo.alice.pilot
check "localhost, no_such.pilot, alice.pilot.example, foo.alice.pilot never reach the socket" \
	[ "$(requests)" = "$before" ]

# ---- a program: python's socket.getaddrinfo
q "$PY" -c 'import socket, sys
r = socket.getaddrinfo("alice.pilot", 80, type=socket.SOCK_STREAM)
got = sorted({(f, a[0], a[1]) for f, _, _, _, a in r})
print(got)
sys.exit(got != [(socket.AF_INET6, sys.argv[1], 80)])' "$A6"
check "python3 socket.getaddrinfo('alice.pilot', 80): [$A6]:80 only" [ "$RC" = 0 ] || show

# ---- the module's default socket path
before=$(requests)
unset PILOT_RESOLVE_SOCKET
NSS_PILOT_RUNDIR=$WORK/run
q getent ahosts alice.pilot
NSS_PILOT_RUNDIR=
export PILOT_RESOLVE_SOCKET=$SOCK
if [ "$RC" = 0 ] && [ "$(addrs)" = "$A6" ] && [ "$(requests)" -gt "$before" ]; then
	ok "without PILOT_RESOLVE_SOCKET: asks /run/pilot/resolve.sock"
else
	not_ok "default socket path /run/pilot/resolve.sock (exit $RC)"; show
fi

# ---- pilotd down: the lookup falls through (UNAVAIL), within the timeout
kill "$FAKE_PID" 2>/dev/null
wait "$FAKE_PID" 2>/dev/null
FAKE_PID=
q getent ahosts alice.pilot
check "socket there, nobody listening: alice.pilot fails (exit $RC) in ${DT}s" \
	eval '[ "$RC" = 2 ] && awk -v t="$DT" "BEGIN { exit !(t < 3) }"'
q getent ahosts localhost
check "... and localhost still resolves" [ "$RC" = 0 ]
rm -f "$SOCK"
q getent ahosts alice.pilot
check "no socket at all: alice.pilot fails (exit $RC) in ${DT}s" \
	eval '[ "$RC" = 2 ] && awk -v t="$DT" "BEGIN { exit !(t < 3) }"'
q getent ahosts localhost
check "... and localhost still resolves" [ "$RC" = 0 ]

finish
