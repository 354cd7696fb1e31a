#!/bin/sh
# networks.sh - end-to-end: networks, names and the registry's guards
# (issue 3), with three nodes A (alice), B (bob), C (carol):
#   - A and B in network 7 reach each other with no handshake, by address
#     and by name; C (not a member, not trusted) cannot reach A, cannot
#     resolve A's name, and gets byte-for-byte the answer a name nobody has
#     gets
#   - rotate-key on A: B still reaches A at the same address
#   - a captured signed request sent again is refused (replay)
#   - an invite works once and is refused the second time; a bad token is
#     refused
#   - after A leaves network 7 an open A-B connection is cut within 1 s
# Needs root; exit 77 (skip) otherwise.
[ -z "${BASH_VERSION:-}" ] && { command -v bash >/dev/null 2>&1 || { echo "SKIP: no bash"; exit 77; }; exec bash "$0" "$@"; }
. "$(dirname "$0")/lib.sh"

e2e_init
e2e_require curl
TOKEN="e2e-admin-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
NETTOK="net7-secret-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
RDV_EXTRA_ARGS="--admin-token $TOKEN"
REGREQ=${REGREQ:-$(dirname "$PILOTCTL")/tests/tools/pilot-regreq}

e2e_underlay
e2e_host rdv 1
e2e_host a 2
e2e_host b 3
e2e_host c 4
e2e_start_rdv
e2e_start_node a alice || fatal "pilotd alice ready"
e2e_start_node b bob || fatal "pilotd bob ready"
e2e_start_node c carol || fatal "pilotd carol ready"
A=${NODE_ID[a]} B=${NODE_ID[b]} C=${NODE_ID[c]}
ok "three nodes up: A=$A B=$B C=$C"

try_connect() { # FROM TO-IPV6 PORT: prints the helper's JSON; 0 = connected
	ip netns exec "${HOST_NS[$1]}" "$PY" "$E2E_HELPER" connect --host "$2" --port "$3" --timeout 1
}
curl6() { # FROM URL-HOST PORT OUT
	ip netns exec "${HOST_NS[$1]}" curl -6 -sS --max-time 5 -o "$4" "http://[$2]:$3/" 2>"$E2E_WORK/curl.err"
}

# ------------------------------------------------------------ admin: networks
check "admin: network create lab --id 7 --join-rule token" \
	pctl_ok a --admin-token "$TOKEN" network create lab --id 7 --join-rule token --token "$NETTOK" ||
	info "reply: $PCTL_OUT"
check "admin: create answers network_id 7" eval '[ "$(jget data.network_id <<<"$PCTL_OUT")" = 7 ]'
check "admin: network create refused without the admin token" \
	eval '! pctl_ok a network create other --join-rule open'
check "admin: network create refused with a wrong admin token" \
	eval '! pctl_ok a --admin-token wrong-token-0123456789 network create other --join-rule open'
check "admin: network create invitees --id 8 --join-rule invite" \
	pctl_ok a --admin-token "$TOKEN" network create invitees --id 8 --join-rule invite

# ------------------------------------------------------------ joins
check "C: join 7 with a bad token is refused" eval '! pctl_ok c network join 7 --token wrong-token-zzzzzzzz'
info "reply: $PCTL_OUT"
check "C: ... with code forbidden or bad_request" \
	eval 'case "$(jget code <<<"$PCTL_OUT")" in forbidden|bad_request|unauthorized) true;; *) false;; esac'
check "A: join 7 with the token" pctl_ok a network join 7 --token "$NETTOK" || info "reply: $PCTL_OUT"
A7=$(jget data.ipv6 <<<"$PCTL_OUT")
check "B: join 7 with the token" pctl_ok b network join 7 --token "$NETTOK" || info "reply: $PCTL_OUT"
B7=$(jget data.ipv6 <<<"$PCTL_OUT")
info "network 7 addresses: A $A7, B $B7"
check "A's pilot0 carries its network-7 address" e2e_has_addr a pilot0 "$A7"
check "B's pilot0 carries its network-7 address" e2e_has_addr b pilot0 "$B7"
check "network nodes 7 (from A) lists B" eval 'pctl a network nodes 7 | jget "data.nodes[].node_id" | grep -qx "$B"'
check "C may not list network 7's nodes" eval '! pctl_ok c network nodes 7'
check "nobody may list the backbone's nodes" eval '! pctl_ok c network nodes 0'

# ------------------------------------------------------------ shared network: no handshake
e2e_serve a 8000 http "alice-page" || fatal "HTTP server on A"
e2e_serve b 8000 http "bob-page" || fatal "HTTP server on B"
check "B -> A over network 7 with no handshake (curl)" e2e_wait 10 curl6 b "$A7" 8000 "$E2E_WORK/p1"
check "A -> B over network 7 (curl)" e2e_wait 10 curl6 a "$B7" 8000 "$E2E_WORK/p2"
check "no trust pair was needed (A trusts nobody)" \
	eval '[ -z "$(pctl a trust | jget "data.trusted[].node_id")" ]'

# ------------------------------------------------------------ names
check "A: set-hostname alice2 then back to alice" \
	eval 'pctl_ok a set-hostname alice2 && pctl_ok a set-hostname alice'
check "B: find alice -> A's network-7 address" \
	eval 'pctl_ok b find alice && [ "$(jget data.node_id <<<"$PCTL_OUT")" = "$A" ]'
check "B: find alice.pilot answers A's network-7 address ($A7)" \
	eval 'pctl_ok b find alice.pilot && "$PY" -c "import ipaddress,sys; sys.exit(ipaddress.ip_address(sys.argv[1])!=ipaddress.ip_address(sys.argv[2]))" "$(jget data.ipv6 <<<"$PCTL_OUT")" "$A7"'
ra=$(pctl c find alice 2>/dev/null); rn=$(pctl c find nobody-has-this 2>/dev/null)
info "C find alice: $ra"
info "C find nobody-has-this: $rn"
check "C cannot resolve A's name (not_found)" eval '[ "$(jget code <<<"$ra")" = not_found ]'
check "C's answer for alice is byte-identical to a name nobody has" [ "$ra" = "$rn" ]
check "C: set-hostname alice is refused (taken)" eval '! pctl_ok c set-hostname alice'
check "C: set-hostname localhost is refused (reserved)" eval '! pctl_ok c set-hostname localhost'
check "C: set-tags with 11 tags is refused" eval '! pctl_ok c set-tags t1 t2 t3 t4 t5 t6 t7 t8 t9 t10 t11'
check "C: set-tags web db is accepted" pctl_ok c set-tags Web db
res=$(try_connect c "$A7" 8000); rc=$?
check "C -> A (network-7 address) connect fails ($res)" [ "$rc" != 0 ]
res=$(try_connect c "${NODE_IP6[a]}" 8000); rc=$?
check "C -> A (backbone address) connect fails ($res)" [ "$rc" != 0 ]
check "A's server never saw C" eval '! grep -q "${HOST_IP[c]:-none}" "$E2E_WORK/a/srv8000.log" && [ "$(e2e_srv_count a 8000 accept)" -ge 1 ]'

# ------------------------------------------------------------ names for unmodified programs (NSS)
. "$(dirname "$0")/nss.sh" # its helpers only, when sourced
if nss_find_module && nss_setup "$E2E_WORK/nss" && nss_usable; then
	nss_in() { # NODE CMD...: CMD in NODE's namespace, resolving through libnss_pilot
		local n=$1; shift
		NSS_NETNS=${HOST_NS[$n]} PILOT_RESOLVE_SOCKET=${NODE_DIR[$n]}/resolve.sock nss_exec "$@"
	}
	out=$(nss_in b getent ahosts alice.pilot 2>&1)
	info "B: getent ahosts alice.pilot: $(head -n 1 <<<"$out")"
	check "B: getent ahosts alice.pilot gives A's network-7 address" \
		eval '"$PY" -c "import ipaddress,sys; sys.exit(ipaddress.ip_address(sys.argv[1])!=ipaddress.ip_address(sys.argv[2]))" "$(awk "NR==1{print \$1}" <<<"$out")" "$A7"'
	check "B: curl http://alice.pilot:8000/ works through the name service" \
		nss_in b curl -sS --max-time 5 -o "$E2E_WORK/p-nss" http://alice.pilot:8000/
	check "C: getent ahosts alice.pilot finds nothing (exit 2)" \
		eval 'nss_in c getent ahosts alice.pilot >/dev/null 2>&1; [ $? = 2 ]'
	check "C: ... exactly as for a name nobody has (exit 2)" \
		eval 'nss_in c getent ahosts nobody-has-this.pilot >/dev/null 2>&1; [ $? = 2 ]'
	# Fresh answers (issue 12): pilotctl find asks the registry every time;
	# the name service keeps a miss at most 1 s, and a change the registry
	# pushes (here A's hostname, to B who shares network 7) drops a hit.
	check "A: set-public" pctl_ok a set-public
	t0=$(date +%s%N)
	check "C: find alice answers at once after A's set-public (no stale miss)" \
		eval 'pctl_ok c find alice && [ "$(jget data.node_id <<<"$PCTL_OUT")" = "$A" ]'
	check "C: getent ahosts alice.pilot resolves within 1.5 s of it" \
		e2e_wait 1.5 eval 'nss_in c getent ahosts alice.pilot >/dev/null 2>&1'
	info "C resolved alice.pilot $(( ($(date +%s%N) - t0) / 1000000 )) ms after set-public"
	check "A: set-private" pctl_ok a set-private
	check "C: find alice is not_found at once after A's set-private" \
		eval '! pctl_ok c find alice && [ "$(jget code <<<"$PCTL_OUT")" = not_found ]'
	check "B: getent ahosts alice.pilot hits (cached)" eval 'nss_in b getent ahosts alice.pilot >/dev/null 2>&1'
	check "A: set-hostname alice3" pctl_ok a set-hostname alice3
	t0=$(date +%s%N)
	check "B: alice.pilot is gone within 1 s (peer.updated dropped the cached hit)" \
		e2e_wait 1 eval '! nss_in b getent ahosts alice.pilot >/dev/null 2>&1'
	check "B: alice3.pilot resolves within 1 s" \
		e2e_wait 1 eval 'nss_in b getent ahosts alice3.pilot >/dev/null 2>&1'
	info "B saw the rename in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
	check "A: set-hostname alice again" pctl_ok a set-hostname alice
else
	not_ok "NSS module usable for the name-service checks (${NSS_WHY:-libnss_pilot.so.2 not built})"
fi

# ------------------------------------------------------------ replay of a captured request
if [ -x "$REGREQ" ]; then
	out=$(ip netns exec "${HOST_NS[b]}" "$REGREQ" "${NODE_DIR[b]}/state" "$RDV_IP:$RDV_PORT" "$RDV_PIN" heartbeat '{"listen_port":4242}' 2>&1)
	info "signed request sent twice: $(tr '\n' ' ' <<<"$out")"
	check "a signed request is accepted once" eval 'grep -q "^1 200 " <<<"$out"'
	check "the same signed request sent again is refused as a replay" eval 'grep -q "^2 409 .*replay" <<<"$out"'
else
	not_ok "pilot-regreq test tool built ($REGREQ)"
fi

# ------------------------------------------------------------ invites
check "A: join 8? no - A is not a member; B cannot invite to 8 either" eval '! pctl_ok b network invite 8'
check "A: join 8 needs an invite" eval '! pctl_ok a network join 8'
# The first member of an invite-only network is added by the admin (nobody
# could invite it); from then on members invite.
check "admin: network create club --id 9 --join-rule invite" \
	pctl_ok a --admin-token "$TOKEN" network create club --id 9 --join-rule invite
check "A: join 9 as its first member, added by the admin" \
	pctl_ok a --admin-token "$TOKEN" network join 9 || info "reply: $PCTL_OUT"
check "A: network invite 9" pctl_ok a network invite 9 || info "reply: $PCTL_OUT"
INV=$(jget data.invite <<<"$PCTL_OUT")
check "C: join 9 with A's invite" pctl_ok c network join 9 --invite "$INV" || info "reply: $PCTL_OUT"
check "B: join 9 with the same invite is refused (single use)" eval '! pctl_ok b network join 9 --invite "$INV"'
info "reply: $PCTL_OUT"
check "B: ... and a forged invite is refused" eval '! pctl_ok b network join 9 --invite "${INV%?}A"'
# An operator enrols the first node of an invite-only network without
# joining it: the registry signs the admin's invite (issue 12).
check "admin: network invite 8 (nobody is a member) answers data.invite" \
	pctl_ok b --registry "$RDV_IP:$RDV_PORT" --admin-token "$TOKEN" network invite 8 --ttl 600 ||
	info "reply: $PCTL_OUT"
AINV=$(jget data.invite <<<"$PCTL_OUT")
check "... a pilot-invite-v1 code expiring in 600 s" \
	eval '[ "${AINV#pilot-invite-v1.}" != "$AINV" ] &&
		[ $(( $(jget data.expires <<<"$PCTL_OUT") - $(date +%s) )) -le 600 ]'
check "B: join 8 with the admin's invite" pctl_ok b network join 8 --invite "$AINV" ||
	info "reply: $PCTL_OUT"
check "C: the admin's invite is single use too" eval '! pctl_ok c network join 8 --invite "$AINV"'
check "C: without the admin token, a non-member still cannot invite" \
	eval '! pctl_ok c network invite 8 && grep -q "or an admin" <<<"$PCTL_OUT"'

# ------------------------------------------------------------ rotate-key: same address
old_pk=$(pctl a info | jget data.public_key)
check "A: rotate-key" pctl_ok a rotate-key || info "reply: $PCTL_OUT"
new_pk=$(jget data.public_key <<<"$PCTL_OUT")
check "A: the key changed" eval '[ -n "$new_pk" ] && [ "$new_pk" != "$old_pk" ]'
check "A: same node ID after rotate-key" eval '[ "$(pctl a info | jget data.node_id)" = "$A" ]'
check "B still reaches A at the same network-7 address after rotate-key" \
	e2e_wait 20 curl6 b "$A7" 8000 "$E2E_WORK/p3"
check "B's view of A has the new key" \
	e2e_wait 10 eval '[ -n "$new_pk" ] && pctl b network nodes 7 | grep -qF "$new_pk"'

# ------------------------------------------------------------ leave cuts live flows
e2e_serve a 8001 hold "held" || fatal "holding server on A"
ST=$E2E_WORK/hold.status
e2e_bg "${HOST_NS[b]}" "$E2E_WORK/hold-client.out" "$PY" "$E2E_HELPER" hold-client --host "$A7" \
	--port 8001 --status "$ST" --max-seconds 15
HOLD=$LASTPID
e2e_wait 10 grep -qs '^connected' "$ST" || fatal "B holds an open TCP connection to A over network 7 ($(cat "$ST" 2>/dev/null))"
ok "B holds an open TCP connection to A over network 7"
sleep 0.3
t0=$(e2e_now)
check "A: network leave 7" pctl_ok a network leave 7 || info "reply: $PCTL_OUT"
e2e_wait 5 grep -qs '^closed' "$ST"
read -r _ kind tc <"$ST" 2>/dev/null
if [ "$kind" = reset ] || [ "$kind" = eof ]; then
	el=$(e2e_elapsed "$t0" "$tc")
	check "the open A-B connection was cut ($kind) within 1 s of leaving: ${el}s" e2e_le "$el" 1.0
else
	not_ok "the open A-B connection was cut within 1 s of leaving (status: $(cat "$ST" 2>/dev/null))"
fi
e2e_stop_pids "$HOLD"
check "A's network-7 address is gone from pilot0" eval '! e2e_has_addr a pilot0 "$A7"'
res=$(try_connect b "$A7" 8000); rc=$?
check "after leaving: B -> A connect fails ($res)" [ "$rc" != 0 ]
check "the backbone cannot be left" eval '! pctl_ok a network leave 0'

# ------------------------------------------------------------ auto-join from the configuration
e2e_stop_node c
PILOTD_EXTRA_ARGS="--networks 7:$NETTOK"
e2e_start_node c carol || fatal "pilotd carol restarted with --networks 7:TOKEN"
PILOTD_EXTRA_ARGS=
check "C joined network 7 at start-up from --networks" \
	e2e_wait 10 eval 'pctl c network list | "$PY" -c "import json,sys; d=json.load(sys.stdin); sys.exit(not any(n[\"network_id\"]==7 and n[\"member\"] for n in d[\"data\"][\"networks\"]))"'
C7=$(pctl c info | jget data.ipv6 | sed 's/::.*//'):7::$(printf %x "$C")
check "C's pilot0 carries its network-7 address $C7" e2e_wait 5 e2e_has_addr c pilot0 "$C7"
check "B -> C over network 7 (connect to a closed port is refused, not denied)" \
	eval 'r=$(try_connect b "$C7" 8000); grep -q ConnectionRefused <<<"$r"'
e2e_stop_node c
PILOTD_EXTRA_ARGS="--networks 7:$NETTOK"
e2e_start_node c carol || fatal "pilotd carol restarted again"
PILOTD_EXTRA_ARGS=
check "restarting with the same --networks is idempotent (still a member, no error logged)" \
	eval '! grep -q "joining network 7 .* failed" "${NODE_DIR[c]}/pilotd.log"'

check "all daemons still running" eval 'e2e_alive "${NODE_PID[a]}" && e2e_alive "${NODE_PID[b]}" && e2e_alive "${NODE_PID[c]}" && e2e_alive "$RDV_PID"'
e2e_finish
