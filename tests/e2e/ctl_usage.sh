#!/bin/sh
# ctl_usage.sh - pilotctl's contract without a real daemon (SPEC section 8):
# usage errors exit 2 with a --json envelope, an absent daemon is
# "daemon_unreachable" (exit 1) naming the socket, malformed addresses are
# refused, and a command the daemon does not answer is "unsupported".
# The last part talks to a tiny fake control socket (python3; skipped
# without it).  Needs no root.  Exit 77 (skip) when pilotctl is not built.
set -u

CTL=${top_builddir:-.}/pilotctl
[ -x "$CTL" ] || { echo "SKIP: $CTL not built"; exit 77; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ctl_usage.XXXXXX") || exit 99
FAKE_PID=
cleanup() {
	[ -n "$FAKE_PID" ] && kill "$FAKE_PID" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }

# run ARGS...: pilotctl with ARGS; stdout in $OUT, exit status in $RC
run() {
	OUT=$("$CTL" "$@" 2>"$WORK/stderr")
	RC=$?
}

# expect DESC RC PATTERN ARGS...: exit status RC and exactly one stdout
# line matching the grep -E PATTERN
expect() {
	desc=$1 want=$2 pat=$3
	shift 3
	run "$@"
	lines=$(printf '%s\n' "$OUT" | grep -c .)
	if [ "$RC" = "$want" ] && [ "$lines" = 1 ] && printf '%s\n' "$OUT" | grep -Eq "$pat"; then
		ok "$desc"
	else
		not_ok "$desc (exit $RC, want $want; output: $OUT)"
	fi
}

USAGE='^\{"status":"error","code":"usage","message":"[^"]+","hint":"[^"]*"\}$'
NOSOCK=$WORK/absent/pilotd.sock
export PILOT_SOCKET="$NOSOCK"

# ---------------------------------------------------------------- usage errors
expect "no command: usage, exit 2" 2 "$USAGE" --json
expect "unknown command: usage, exit 2" 2 "$USAGE" --json frobnicate
expect "unknown global option: usage, exit 2" 2 "$USAGE" --json --frob info
expect "--socket without a value: usage, exit 2" 2 "$USAGE" --json --socket
expect "--json after the command counts too" 2 "$USAGE" frobnicate --json
expect "netcheck takes no arguments: usage, exit 2" 2 "$USAGE" --json netcheck now
expect "info with an extra argument: usage, exit 2" 2 "$USAGE" --json info extra
expect "approve without TARGET: usage, exit 2" 2 "$USAGE" --json approve
expect "handshake with three arguments: usage, exit 2" 2 "$USAGE" --json handshake a b c
expect "ping without TARGET: usage, exit 2" 2 "$USAGE" --json ping
expect "ping -c 0: usage, exit 2" 2 "$USAGE" --json ping x -c 0
expect "ping -W junk: usage, exit 2" 2 "$USAGE" --json ping x -W junk
expect "ping unknown option: usage, exit 2" 2 "$USAGE" --json ping x -q
expect "bugreport with an argument: usage, exit 2" 2 "$USAGE" --json bugreport extra
expect "bugreport --output without FILE: usage, exit 2" 2 "$USAGE" --json bugreport --output
expect "network without subcommand: usage, exit 2" 2 "$USAGE" --json network
expect "network with unknown subcommand: usage, exit 2" 2 "$USAGE" --json network frob
expect "network join NET not a number: usage, exit 2" 2 "$USAGE" --json network join abc
expect "unknown command option: usage, exit 2" 2 "$USAGE" --json network list --frob
expect "up without a join string: usage, exit 2" 2 "$USAGE" --json up
expect "up with two join strings: usage, exit 2" 2 "$USAGE" --json up a b
expect "up with an unknown option: usage, exit 2" 2 "$USAGE" --json up x --frob
expect "up with a string that is no join string: bad_request, exit 1" 1 \
	'^\{"status":"error","code":"bad_request","message":"up: not a join string' \
	--json up hello --config "$WORK/up.json"
expect "up with pilot-join2: unsupported version, exit 1" 1 \
	'"code":"bad_request","message":"up: unsupported join string version 2' \
	--json up pilot-join2:AAAA --config "$WORK/up.json"
if [ ! -e "$WORK/up.json" ]; then ok "up wrote nothing for a bad string"; else not_ok "up wrote nothing for a bad string"; fi
run frobnicate
if [ "$RC" = 2 ] && [ -z "$OUT" ] && grep -q "unknown command 'frobnicate'" "$WORK/stderr"; then
	ok "without --json: usage error on stderr, exit 2"
else
	not_ok "without --json: usage error on stderr, exit 2 (exit $RC)"
fi

# ---------------------------------------------------------------- help and version
expect "--json --version" 0 '^\{"status":"ok","data":\{"version":"[^"]+"\}\}$' --json --version
expect "--json help" 0 '^\{"status":"ok","data":\{"commands":\[' --json help
run help
missing=
for c in up info peers ping addr find set-hostname clear-hostname set-public set-private set-tags \
	rotate-key handshake pending approve reject trust untrust block unblock blocklist \
	"network create" "network join" "network invite" "network leave" "network list" \
	"network nodes" "network delete" "policy set" "policy show" "policy test" "org create" \
	"org enroll" "org revoke" "org members" "ca generate" "ca sign" "ca revoke" audit \
	"audit verify" "webhook set" "webhook clear" "webhook status" status bugreport; do
	printf '%s\n' "$OUT" | grep -q "^  $c\( \|$\)" || missing="$missing [$c]"
done
if [ "$RC" = 0 ] && [ -z "$missing" ]; then
	ok "help lists every SPEC section 8 command"
else
	not_ok "help lists every SPEC section 8 command (exit $RC; missing:$missing)"
fi

# ---------------------------------------------------------------- no daemon
expect "no daemon: daemon_unreachable, exit 1" 1 \
	'^\{"status":"error","code":"daemon_unreachable",.*"hint":"[^"]*systemctl start pilotd' --json info
case $OUT in
*"$NOSOCK"*) ok "daemon_unreachable names the socket (PILOT_SOCKET)" ;;
*) not_ok "daemon_unreachable names the socket (PILOT_SOCKET): $OUT" ;;
esac
expect "--socket wins over PILOT_SOCKET" 1 "daemon_unreachable.*$WORK/other.sock" \
	--socket "$WORK/other.sock" --json peers
expect "pass-through command without daemon: daemon_unreachable" 1 '"code":"daemon_unreachable"' \
	--json network list
expect "bugreport without daemon: written all the same, pilotd_reachable false" 0 \
	'^\{"status":"ok","data":\{"path":"[^"]*/report.tar.gz","redacted":\[\],.*"pilotd_reachable":false,"pilotd_error":"cannot reach pilotd' \
	--json bugreport --output "$WORK/report.tar.gz"
if [ "$(stat -c %a "$WORK/report.tar.gz" 2>/dev/null)" = 600 ] &&
	tar tzf "$WORK/report.tar.gz" 2>/dev/null | grep -q '/status.json$'; then
	ok "bugreport without daemon: the tarball is mode 0600 and holds status.json"
else
	not_ok "bugreport without daemon: the tarball is mode 0600 and holds status.json"
fi

# ---------------------------------------------------------------- addr refuses bad input
BADREQ='^\{"status":"error","code":"bad_request",'
expect "addr junk: bad_request, exit 1" 1 "$BADREQ" --json addr junk
expect "addr 1:0002.0000.002A (network fields differ): bad_request" 1 "$BADREQ" \
	--json addr 1:0002.0000.002A
expect "addr 1:0001.0000.02A (short field): bad_request" 1 "$BADREQ" --json addr 1:0001.0000.02A
expect "addr 65536:0000.0000.0001 (network too big): bad_request" 1 "$BADREQ" \
	--json addr 65536:0000.0000.0001
expect "addr without argument: usage, exit 2" 2 "$USAGE" --json addr

# ---------------------------------------------------------------- fake daemon
if ! command -v python3 >/dev/null 2>&1; then
	echo "# python3 not found: skipping the fake-daemon checks"
else
	SOCK=$WORK/pilotd.sock
	cat >"$WORK/fake.py" <<'EOF'
import json, os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1]); s.listen(4)
open(sys.argv[1] + ".ready", "w").close()
while True:
    c, _ = s.accept()
    f = c.makefile("rwb")
    for line in f:
        req = json.loads(line)
        if req["cmd"] == "prefix":
            r = {"status": "ok", "data": {"prefix": "fd4e:1c3a:9b20::/48"}}
        elif req["cmd"] == "resolve" and req["args"].get("target") == "ghost":
            r = {"status": "error", "code": "not_found", "message": "no such node", "hint": ""}
        else:
            r = {"status": "error", "code": "unknown_command",
                 "message": "unknown command", "hint": ""}
        f.write(json.dumps(r).encode() + b"\n"); f.flush()
    c.close()
EOF
	python3 "$WORK/fake.py" "$SOCK" &
	FAKE_PID=$!
	i=0
	while [ ! -e "$SOCK.ready" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	export PILOT_SOCKET="$SOCK"

	UNSUP='^\{"status":"error","code":"unsupported","message":"[^"]+","hint":"[^"]*"\}$'
	expect "network list, daemon without it: unsupported, exit 1" 1 "$UNSUP" --json network list
	expect "policy test, daemon without it: unsupported, exit 1" 1 "$UNSUP" \
		--json policy test 1 tag:a tag:b tcp/80
	expect "rotate-key, daemon without it: unsupported, exit 1" 1 "$UNSUP" --json rotate-key
	expect "info, daemon without it: unsupported, exit 1" 1 "$UNSUP" --json info
	case $OUT in
	*"not supported"*) ok "unsupported says the daemon does not support it yet" ;;
	*) not_ok "unsupported says the daemon does not support it yet: $OUT" ;;
	esac
	expect "daemon error passes through (not_found), exit 1" 1 '"code":"not_found"' \
		--json ping ghost
	expect "addr ADDRESS -> IPv6 with the daemon's prefix" 0 \
		'^\{"status":"ok","data":\{"address":"1:0001.0000.002A","ipv6":"fd4e:1c3a:9b20:1::2a","network_id":1,"node_id":42\}\}$' \
		--json addr 1:0001.0000.002A
	expect "addr IPV6 -> address" 0 '"address":"1:0001.0000.002A"' --json addr fd4e:1c3a:9b20:1::2a
	expect "addr IPv6 outside the prefix: bad_request" 1 "$BADREQ" --json addr fd00::1
	run addr 0:0000.0000.002A
	if [ "$RC" = 0 ] && printf '%s\n' "$OUT" | grep -q '^ipv6: *fd4e:1c3a:9b20::2a$'; then
		ok "addr without --json prints key: value lines"
	else
		not_ok "addr without --json prints key: value lines (exit $RC: $OUT)"
	fi
fi

echo "1..$n"
[ "$failed" = 0 ]
