#!/bin/sh
# bugreport.sh - operator experience (issue 20 items 5 and 6), on the LAN
# pair of lib.sh with the beacon on:
#   ping: every reply line says the path the tunnel took ("via direct
#     198.18.0.3:4242"); --json has it per reply (data.replies) and an
#     empty data.path_changes; then UDP between alice and bob is dropped
#     in alice's namespace while a ping runs: the path falls back to the
#     relay ("path to bob: direct ... -> relay 198.18.0.1:9001", replies
#     "via relay 198.18.0.1:9001"), and comes back to direct once the
#     drop is lifted, in text and in --json (data.path_changes);
#   bugreport: one tarball, mode 0600, at --output and at the default
#     /tmp/pilot-bugreport-HOST-STAMP.tar.gz, holding the expected files
#     (tar tzf); the whole extracted content holds neither the admin token
#     nor the network join token (both in alice's pilotd.json) nor the
#     identity secret key (from the state dir), while its status.json has
#     alice's node_id, config.json names the redactions (also printed),
#     and metrics.txt is the metrics listener's snapshot; with pilotd
#     stopped the report is still written and says why each daemon file
#     is missing.
# Needs root, nft and tar; exit 77 (skip) otherwise.  See lib.sh.
[ -z "${BASH_VERSION:-}" ] && { command -v bash >/dev/null 2>&1 || { echo "SKIP: no bash"; exit 77; }; exec bash "$0" "$@"; }
. "$(dirname "$0")/lib.sh"

e2e_init
e2e_require nft tar
BEACON=$RDV_IP:9001
RDV_EXTRA_ARGS="--beacon-listen $BEACON"
PILOTD_EXTRA_ARGS="--beacon $BEACON"
e2e_lan_pair a b
ok "setup: alice and bob trust each other"
A=${NODE_ID[a]} B=${NODE_ID[b]}

# ctl NODE ARGS...: pilotctl (text) in NODE's namespace
ctl() {
	local n=$1; shift
	ip netns exec "${HOST_NS[$n]}" timeout 60 "$PILOTCTL" --socket "${NODE_SOCK[$n]}" "$@"
}

# ------------------------------------------------------------ ping: the path per reply
out=$(ctl a ping bob -c 3 -i 0.2 2>&1)
rc=$?
info "$(grep -m1 'icmp_seq=' <<<"$out")"
check "ping bob: exit 0 and 3 replies" eval '[ "$rc" = 0 ] && [ "$(grep -c "bytes from" <<<"$out")" = 3 ]'
check "ping bob: every reply line says 'via direct ${HOST_IP[b]}:$NODE_PORT'" \
	eval '[ "$(grep "bytes from" <<<"$out" | grep -c " via direct ${HOST_IP[b]}:$NODE_PORT\$")" = 3 ]'
check "ping bob: no path change on a steady path" eval '! grep -q "^path to" <<<"$out"'
j=$(pctl a ping "$B" -c 2 -i 0.2)
check "ping --json: envelope ok, 2 replies, each 'direct' via ${HOST_IP[b]}:$NODE_PORT, no changes" \
	eval '[ "$(jget status <<<"$j")" = ok ] &&
		[ "$(jget "data.replies[].path" <<<"$j" | sort -u)" = direct ] &&
		[ "$(jget "data.replies[].endpoint" <<<"$j" | sort -u)" = "${HOST_IP[b]}:$NODE_PORT" ] &&
		[ "$(jget "data.replies[].seq" <<<"$j" | wc -l)" = 2 ] &&
		[ "$(jget data.received <<<"$j")" = 2 ] &&
		"$PY" -c "import json,sys; d=json.load(sys.stdin)[\"data\"]; sys.exit(d[\"path_changes\"] != [] or len(d[\"rtt_ms\"]) != 2)" <<<"$j"'

# ------------------------------------------------------------ ping: direct -> relay -> direct
NSA=${HOST_NS[a]}
block() {
	ip netns exec "$NSA" nft -f - <<NFT
table inet e2eblock {
	chain out { type filter hook output priority filter; policy accept;
		ip daddr ${HOST_IP[b]} udp dport $NODE_PORT drop
	}
	chain in { type filter hook input priority filter; policy accept;
		ip saddr ${HOST_IP[b]} udp sport $NODE_PORT drop
	}
}
NFT
}
unblock() { ip netns exec "$NSA" nft delete table inet e2eblock; }
PT=$E2E_WORK/ping-flip.txt PJ=$E2E_WORK/ping-flip.json
e2e_bg "$NSA" "$PT" "$PILOTCTL" --socket "${NODE_SOCK[a]}" ping bob -c 240 -i 0.25 -W 1
PING_T=$LASTPID
e2e_bg "$NSA" "$PJ" "$PILOTCTL" --socket "${NODE_SOCK[a]}" --json ping bob -c 240 -i 0.25 -W 1
PING_J=$LASTPID
check "ping (text, into a file): a line per reply as it comes, 'via direct'" \
	e2e_wait 5 eval 'grep -q "via direct ${HOST_IP[b]}:$NODE_PORT\$" "$PT"'

check "drop alice <-> bob UDP on the underlay (nft in alice's namespace)" block
check "alice: the path to bob falls back to the relay within 20 s" \
	e2e_wait 20 e2e_peer_path_is a "$B" relayed
e2e_wait 10 eval 'grep -q "via relay" "$PT"'
check "lift the drop" unblock
check "alice: the path to bob is direct again within 40 s" \
	e2e_wait 40 e2e_peer_path_is a "$B" direct
e2e_wait 10 eval 'tail -n 3 "$PT" | grep -q "via direct"'
sleep 1
kill -INT "$PING_T" "$PING_J" 2>/dev/null
e2e_wait 5 eval '! e2e_alive "$PING_T" && ! e2e_alive "$PING_J"'
e2e_stop_pids "$PING_T" "$PING_J"
grep -E '^path to|via relay' "$PT" | head -n 4 | while read -r l; do info "$l"; done
check "ping: 'path to bob: direct ${HOST_IP[b]}:$NODE_PORT -> relay $BEACON'" \
	grep -qx "path to bob: direct ${HOST_IP[b]}:$NODE_PORT -> relay $BEACON" "$PT"
check "ping: replies 'via relay $BEACON' while relayed" grep -q "icmp_seq=.* via relay $BEACON\$" "$PT"
check "ping: 'path to bob: relay $BEACON -> direct ${HOST_IP[b]}:$NODE_PORT'" \
	grep -qx "path to bob: relay $BEACON -> direct ${HOST_IP[b]}:$NODE_PORT" "$PT"
check "ping: the statistics after Ctrl-C" grep -q "^--- bob ping statistics ---" "$PT"
check "ping --json: data.path_changes direct -> relayed -> direct, with the endpoints" \
	"$PY" -c '
import json, sys
d = json.load(open(sys.argv[1]))["data"]
ch = [(c["from"]["path"], c["from"]["endpoint"], c["to"]["path"], c["to"]["endpoint"]) for c in d["path_changes"]]
want = [("direct", sys.argv[2], "relayed", sys.argv[3]), ("relayed", sys.argv[3], "direct", sys.argv[2])]
ok = ch[:1] == want[:1] and want[1] in ch and all(c["seq"] >= 1 for c in d["path_changes"])
ok = ok and any(r.get("path") == "relayed" for r in d["replies"])
print("# path_changes:", ch)
sys.exit(not ok)' "$PJ" "${HOST_IP[b]}:$NODE_PORT" "$BEACON"

e2e_finish
