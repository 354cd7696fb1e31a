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
rnd() { od -An -N8 -tx1 /dev/urandom | tr -d ' \n'; }
TOKEN="e2e-admin-$(rnd)" NETTOK="net7-join-$(rnd)" HOOKSECRET="hook-path-$(rnd)"
RDV_EXTRA_ARGS="--beacon-listen $BEACON --admin-token $TOKEN"
PILOTD_EXTRA_ARGS="--beacon $BEACON"
TAMPER=$(dirname "$PILOTCTL")/tests/tools/pilot-lmdb-tamper
[ -x "$TAMPER" ] || skip "test tool $TAMPER not built (make check builds it)"
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

# ------------------------------------------------------------ bugreport
# alice gets secrets to keep: the admin token, network 7's join token
# and a webhook URL whose path is the credential, all in pilotd.json; and
# a metrics listener.  A wrapper named pilotd first on PATH is pilotd on
# this pilotd.json (for --version, and --check-config once pilotd is down).
check "admin: network 7 with a join token" \
	pctl_ok a --admin-token "$TOKEN" network create lab --id 7 --join-rule token --token "$NETTOK"
CONF=${NODE_DIR[a]}/pilotd.json
cat >"$CONF" <<JSON
{
	"registry": "$RDV_IP:$RDV_PORT",
	"registry_pin": "$RDV_PIN",
	"admin_token": "$TOKEN",
	"networks": ["7:$NETTOK"],
	"webhook": "https://hooks.example.invalid/services/T0/B0/$HOOKSECRET",
	"metrics_listen": "127.0.0.1:9464"
}
JSON
chmod 0600 "$CONF"
WRAP=$E2E_WORK/bin
mkdir -p "$WRAP"
printf '#!/bin/sh\nexec %s --config %s "$@"\n' "$PILOTD" "$CONF" >"$WRAP/pilotd"
ln -s "$RDV" "$WRAP/pilot-rendezvous"
chmod 0755 "$WRAP/pilotd"
e2e_stop_node a
PILOTD_EXTRA_ARGS="--beacon $BEACON --config $CONF"
e2e_start_node a alice || fatal "alice back with pilotd.json"
check "alice: member of network 7 through pilotd.json" \
	e2e_wait 10 pctl_has a info 'data.networks[].network_id' 7
SK=$("$TAMPER" "${NODE_DIR[a]}/state" meta hex ed_sk)
check "alice's identity secret key read from her state dir (64 bytes)" eval '[ "${#SK}" = 128 ]'

# br NODE ARGS...: pilotctl ARGS in NODE's namespace with the wrappers on PATH
br() {
	local n=$1; shift
	ip netns exec "${HOST_NS[$n]}" env PATH="$WRAP:$PATH" timeout 120 "$PILOTCTL" \
		--socket "${NODE_SOCK[$n]}" "$@"
}
# no_secrets DIR: nothing under DIR holds a token, the webhook's path or
# the secret key (raw, hex, base64 of the seed: every form of the key
# begins with it); prints what it found
no_secrets() {
	"$PY" - "$1" "$TOKEN" "$NETTOK" "$HOOKSECRET" "$SK" <<'PY'
import base64, os, sys
root, tok, net, hook, skhex = sys.argv[1:]
sk = bytes.fromhex(skhex)
seed = sk[:32]
needles = {"admin token": tok.encode(), "join token": net.encode(), "webhook path": hook.encode(),
           "secret key (raw seed)": seed, "secret key (hex)": seed.hex().encode(),
           "secret key (HEX)": seed.hex().upper().encode(),
           "secret key (base64)": base64.b64encode(seed)[:40],
           "secret key (base64url)": base64.urlsafe_b64encode(seed)[:40]}
found, files = [], 0
for d, _, names in os.walk(root):
    for n in names:
        files += 1
        b = open(os.path.join(d, n), "rb").read()
        found += ["%s in %s" % (k, n) for k, v in needles.items() if v in b]
print("# %d files searched; found: %s" % (files, found or "nothing"))
sys.exit(1 if found or files < 10 else 0)
PY
}
MEMBERS="versions.txt uname.txt os-release.txt status.json peers.json trust.json network-list.json
info.json config.json metrics.txt journal-pilotd.txt journal-pilot-rendezvous.txt nft-ruleset.txt
ip-addr.txt ip-6-route.txt ip-rule.txt summary.txt"
# has_members TARBALL: tar tzf lists every member in one folder
has_members() {
	local l m miss=
	l=$(tar tzf "$1") || return 1
	for m in $MEMBERS; do grep -Eqx "pilot-bugreport-[A-Za-z0-9._-]+-[0-9]{8}T[0-9]{6}Z/$m" <<<"$l" || miss="$miss $m"; done
	[ -z "$miss" ] || info "missing:$miss"
	[ -z "$miss" ]
}

R=$E2E_WORK/report.tar.gz
out=$(br a bugreport --output "$R" 2>&1)
rc=$?
while read -r l; do info "$l"; done <<<"$out"
check "bugreport --output: exit 0 ($rc), says where it wrote" eval '[ "$rc" = 0 ] && grep -q "^wrote $R (" <<<"$out"'
check "bugreport: the tarball is mode 0600 ($(stat -c %a "$R" 2>/dev/null))" eval '[ "$(stat -c %a "$R")" = 600 ]'
check "bugreport: prints what it redacted" \
	grep -qx "redacted: join token for network 7, admin_token, webhook (all after https://hooks.example.invalid/)" <<<"$out"
check "bugreport: tar tzf lists every expected file" has_members "$R"
X=$E2E_WORK/x
mkdir -p "$X" && tar xzf "$R" -C "$X" && D=$(echo "$X"/pilot-bugreport-*)
check "bugreport: no token, webhook path or secret key anywhere in it" no_secrets "$X"
check "bugreport: status.json is pilotd's status, with alice's node_id $A" \
	eval '[ "$(jget status <"$D/status.json")" = ok ] && [ "$(jget data.node_id <"$D/status.json")" = "$A" ]'
check "bugreport: peers.json has bob, trust.json too, info.json alice" \
	eval 'jget "data.peers[].node_id" <"$D/peers.json" | grep -qx "$B" &&
		jget "data.trusted[].node_id" <"$D/trust.json" | grep -qx "$B" &&
		[ "$(jget data.node_id <"$D/info.json")" = "$A" ]'
check "bugreport: network-list.json lists network 7" \
	eval 'jget "data.networks[].network_id" <"$D/network-list.json" | grep -qx 7'
check "bugreport: config.json is the running pilotd's, secrets replaced by where they came from" \
	"$PY" -c '
import json, sys
d = json.load(open(sys.argv[1]))
c = d["config"]
src = "*** (from %s)" % sys.argv[2]
ok = d["source"].startswith("pilotd, running") and d["path"] == sys.argv[2]
ok = ok and c["admin_token"] == src and c["networks"] == ["7:" + src]
ok = ok and c["webhook"] == "https://hooks.example.invalid/" + src and c["metrics_listen"] == "127.0.0.1:9464"
sys.exit(not ok)' "$D/config.json" "$CONF"
check "bugreport: metrics.txt is a snapshot of alice's metrics listener" grep -q '^pilot_peers{' "$D/metrics.txt"
check "bugreport: versions.txt has pilotctl, pilotd and pilot-rendezvous --version" \
	eval 'grep -q "^pilotctl " "$D/versions.txt" && grep -A1 "^\$ pilotd --version" "$D/versions.txt" | grep -q "^pilotd " &&
		grep -A1 "^\$ pilot-rendezvous --version" "$D/versions.txt" | grep -q "^pilot-rendezvous "'
check "bugreport: the host's view (uname, ip addr with pilot0, the /48 route, ip -6 rule, nft)" \
	eval 'grep -q "^Linux " "$D/uname.txt" && grep -q "pilot0" "$D/ip-addr.txt" &&
		grep -q "::/48 dev pilot0" "$D/ip-6-route.txt" && grep -q "^\$ ip -6 rule" "$D/ip-rule.txt" &&
		grep -q "^\$ nft list ruleset" "$D/nft-ruleset.txt"'
check "bugreport: the journal files ran journalctl -u UNIT -n 500 (or say it is not available)" \
	eval 'head -n 1 "$D/journal-pilotd.txt" | grep -qx "\$ journalctl -u pilotd.service -n 500 --no-pager" &&
		head -n 1 "$D/journal-pilot-rendezvous.txt" | grep -qx "\$ journalctl -u pilot-rendezvous.service -n 500 --no-pager"'

# The default place, and --json.
j=$(br a --json bugreport)
DP=$(jget data.path <<<"$j" 2>/dev/null)
check "bugreport --json: data.path is /tmp/pilot-bugreport-HOST-STAMP.tar.gz ($DP), mode 0600" \
	eval '[ "$(jget status <<<"$j")" = ok ] && grep -Eqx "/tmp/pilot-bugreport-[A-Za-z0-9._-]+-[0-9]{8}T[0-9]{6}Z\.tar\.gz" <<<"$DP" &&
		[ "$(stat -c %a "$DP")" = 600 ] && has_members "$DP"'
check "bugreport --json: data.redacted names the three" \
	eval '[ "$(jget "data.redacted[]" <<<"$j" | tr "\n" "|")" = "join token for network 7|admin_token|webhook (all after https://hooks.example.invalid/)|" ]'
case $DP in /tmp/pilot-bugreport-*.tar.gz) rm -f -- "$DP" ;; esac

# pilotd down: the report is still written and says why.
e2e_stop_node a
R2=$E2E_WORK/down.tar.gz
j=$(br a --json bugreport --output "$R2")
rc=$?
check "pilotd down: bugreport exits 0 ($rc), data.pilotd_reachable false" \
	eval '[ "$rc" = 0 ] && [ "$(jget status <<<"$j")" = ok ] && [ "$(jget data.pilotd_reachable <<<"$j")" = false ]'
check "pilotd down: every expected file" has_members "$R2"
X2=$E2E_WORK/x2
mkdir -p "$X2" && tar xzf "$R2" -C "$X2" && D2=$(echo "$X2"/pilot-bugreport-*)
check "pilotd down: status.json records daemon_unreachable" \
	eval '[ "$(jget code <"$D2/status.json")" = daemon_unreachable ]'
check "pilotd down: config.json is pilotd --check-config's, redacted the same" \
	"$PY" -c '
import json, sys
d = json.load(open(sys.argv[1]))
src = "*** (from %s)" % sys.argv[2]
sys.exit(not (d["source"] == "pilotd --check-config" and "did not give" in d["note"] and
              d["config"]["admin_token"] == src and d["config"]["networks"] == ["7:" + src]))' "$D2/config.json" "$CONF"
check "pilotd down: data.redacted still names the three" \
	eval '[ "$(jget "data.redacted[]" <<<"$j" | wc -l)" = 3 ]'
check "pilotd down: no token, webhook path or secret key in it either" no_secrets "$X2"

e2e_finish
