#!/bin/sh
# join.sh - end-to-end: a first node without hand-edited JSON (issue 20).
#   - the registry, started with no admin token configured, makes
#     state/admin.token (0600, 43 base64url characters), logs where it is
#     and never the token, and the admin API takes it: a token network 7
#     is created with it over HTTPS (curl, pinned);
#   - pilot-rendezvous --print-join prints one line, the join string, with
#     network 7 and its token; refuses a wildcard listen without
#     --join-host; --join-host gives the same string as a concrete listen;
#   - in fresh node namespaces with no pilotd.json, pilotctl up --no-start
#     --config FILE writes it (mode 0640 group pilot, or 0600 without that
#     group), pilotd --check-config accepts it, and pilotd started with
#     that config alone (no --registry / --registry-pin flags) registers
#     and joins network 7 from it; curl on A fetches a page from
#     python3 -m http.server on B across the overlay (network 7 address);
#   - a string with one character changed is refused with the checksum
#     message and writes nothing; an existing, different config is refused
#     without --force (and left as it was), replaced with it; the example
#     make install puts in place is replaced without it; a second up with
#     the same string changes nothing;
#   - after a restart of the registry the same token is read back (same
#     file, same mode, still accepted); a group-readable token file stops
#     the registry from starting.
# Needs root; exit 77 (skip) otherwise.
[ -z "${BASH_VERSION:-}" ] && { command -v bash >/dev/null 2>&1 || { echo "SKIP: no bash"; exit 77; }; exec bash "$0" "$@"; }
. "$(dirname "$0")/lib.sh"

e2e_init
e2e_require curl
SRCDIR=${top_srcdir:-$(cd "$E2E_DIR/../.." && pwd)}
NETTOK="join-net-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
RDV_STATE=$E2E_WORK/rdv/state
TOKFILE=$RDV_STATE/admin.token

e2e_underlay
e2e_host rdv 1
e2e_host a 2
e2e_host b 3

# ------------------------------------------------------------ the admin token
e2e_start_rdv
ADMIN=$(cat "$TOKFILE" 2>/dev/null)
check "first start: $TOKFILE made, mode 0600" eval '[ "$(stat -c %a "$TOKFILE")" = 600 ]'
check "... 43 base64url characters (32 bytes)" eval '[[ "$ADMIN" =~ ^[A-Za-z0-9_-]{43}$ ]]'
check "... the log says where it is kept" \
	grep -q "admin token: made and kept in $TOKFILE" "$E2E_WORK/rdv/rendezvous.log"
check "... and never the token" eval '! grep -qF -- "$ADMIN" "$E2E_WORK/rdv/rendezvous.log"'

# admin OP JSON [TOKEN]: an admin request over HTTPS, pinned; the answer in
# ADMIN_OUT; 0 for HTTP 200
admin() {
	local code
	code=$(ip netns exec "${HOST_NS[rdv]}" curl -sS -k --tlsv1.3 --max-time 5 \
		--pinnedpubkey "sha256//$RDV_PIN" -H "Authorization: Bearer ${3:-$ADMIN}" \
		-H 'Content-Type: application/json' -d "$2" -o "$E2E_WORK/admin.out" -w '%{http_code}' \
		"https://$RDV_IP:$RDV_PORT/v1/admin/$1" 2>"$E2E_WORK/admin.err")
	ADMIN_OUT=$(cat "$E2E_WORK/admin.out" 2>/dev/null)
	[ "$code" = 200 ]
}
check "the admin API takes that token: network_create lab (7, join rule token)" \
	admin network_create "{\"name\":\"lab\",\"join_rule\":\"token\",\"token\":\"$NETTOK\",\"network_id\":7}" ||
	info "answer: $ADMIN_OUT $(cat "$E2E_WORK/admin.err")"
check "... and refuses another one" eval '! admin network_list "{}" wrong-token-0123456789'

# ------------------------------------------------------------ --print-join
pj() { # ARGS...: --print-join on the registry's state; stdout in PJ, stderr in PJ_ERR, status in PJ_RC
	PJ=$(ip netns exec "${HOST_NS[rdv]}" timeout 20 "$RDV" --state-dir "$RDV_STATE" --print-join "$@" \
		2>"$E2E_WORK/pj.err")
	PJ_RC=$? PJ_ERR=$(cat "$E2E_WORK/pj.err")
}
pj --listen "$RDV_IP:$RDV_PORT" --network 7 --token "$NETTOK"
JOIN=$PJ
info "join string: ${JOIN:0:40}... (${#JOIN} characters)"
check "--print-join: exit 0, one line, pilot-join1: and base64url only" \
	eval '[ "$PJ_RC" = 0 ] && [ "$(printf "%s\n" "$PJ" | wc -l)" = 1 ] && [[ "$PJ" =~ ^pilot-join1:[A-Za-z0-9_-]+$ ]]'
check "... the token is not readable in it, and stderr says it is a secret" \
	eval '! grep -qF -- "$NETTOK" <<<"$PJ" && grep -q "secret" <<<"$PJ_ERR"'
pj --listen "0.0.0.0:$RDV_PORT"
check "--print-join with listen 0.0.0.0 is refused, saying to pass --join-host, nothing on stdout" \
	eval '[ "$PJ_RC" != 0 ] && [ -z "$PJ" ] && grep -q -- "--join-host" <<<"$PJ_ERR"' || info "$PJ_ERR"
pj --listen "0.0.0.0:$RDV_PORT" --join-host "$RDV_IP" --network 7 --token "$NETTOK"
check "--join-host $RDV_IP (listen's port) gives the same string" [ "$PJ" = "$JOIN" ]
pj --listen "$RDV_IP:$RDV_PORT"
JOIN_PLAIN=$PJ
check "without --network: another string, no secret note" \
	eval '[ "$PJ_RC" = 0 ] && [ "$PJ" != "$JOIN" ] && ! grep -q secret <<<"$PJ_ERR"'

# ------------------------------------------------------------ pilotctl up on fresh nodes
up() { # NODE ARGS...: pilotctl up inside NODE's namespace; stdout in UP, status in UP_RC
	local n=$1; shift
	UP=$(ip netns exec "${HOST_NS[$n]}" timeout 20 "$PILOTCTL" up "$@" 2>"$E2E_WORK/up.err")
	UP_RC=$? UP_ERR=$(cat "$E2E_WORK/up.err")
}
for n in a b; do mkdir -p "$E2E_WORK/$n" && mkdir -p -m 0700 "$E2E_WORK/$n/state"; done
CONF_A=$E2E_WORK/a/pilotd.json CONF_B=$E2E_WORK/b/pilotd.json

c=${JOIN:40:1}; [ "$c" = A ] && r=B || r=A
BAD="${JOIN:0:40}$r${JOIN:41}"
up a --no-start --config "$CONF_A" "$BAD"
check "a string with one character changed is refused: checksum mismatch, exit 1" \
	eval '[ "$UP_RC" = 1 ] && grep -qF "join string checksum mismatch: copied wrongly?" <<<"$UP_ERR"' ||
	info "exit $UP_RC: $UP_ERR"
check "... and nothing is written" [ ! -e "$CONF_A" ]

up a --no-start --config "$CONF_A" "$JOIN"
check "A: pilotctl up --no-start --config FILE STRING: exit 0" [ "$UP_RC" = 0 ] || info "$UP_ERR"
info "$UP"
if getent group pilot >/dev/null 2>&1; then WANT="640 root pilot"; else WANT="600 root root"; fi
check "... $CONF_A is mode ${WANT% *}:${WANT##* } ($(stat -c '%a %U %G' "$CONF_A" 2>/dev/null))" \
	eval '[ "$(stat -c "%a %U %G" "$CONF_A")" = "$WANT" ]'
check "... pilotd --check-config accepts it" \
	ip netns exec "${HOST_NS[a]}" "$PILOTD" --check-config --config "$CONF_A" >"$E2E_WORK/a/check.out" 2>&1 ||
	info "$(cat "$E2E_WORK/a/check.out")"
check "... naming the registry, the pin and network 7, the token redacted" \
	eval 'grep -q "\"$RDV_IP:$RDV_PORT\"" "$E2E_WORK/a/check.out" && grep -qF "$RDV_PIN" "$E2E_WORK/a/check.out" &&
		grep -q "\"7:\*\*\* (from $CONF_A)\"" "$E2E_WORK/a/check.out" && ! grep -qF -- "$NETTOK" "$E2E_WORK/a/check.out"'
cp -p "$CONF_A" "$E2E_WORK/a/first.json"
up a --json --no-start --config "$CONF_A" "$JOIN"
check "the same string again: nothing written (--json written false)" \
	eval '[ "$UP_RC" = 0 ] && [ "$(jget data.written <<<"$UP")" = false ] && cmp -s "$CONF_A" "$E2E_WORK/a/first.json"' ||
	info "$UP $UP_ERR"

# B takes the string on standard input.
printf '%s\n' "$JOIN" >"$E2E_WORK/join.txt"
UP=$(ip netns exec "${HOST_NS[b]}" timeout 20 "$PILOTCTL" up --no-start --config "$CONF_B" - \
	<"$E2E_WORK/join.txt" 2>"$E2E_WORK/up.err")
check "B: pilotctl up - (the string on stdin)" eval '[ $? = 0 ] && [ -e "$CONF_B" ]' || info "$(cat "$E2E_WORK/up.err")"

# ------------------------------------------------------------ existing files
OTHER=$E2E_WORK/a/other.json
printf '{\n\t"registry": "198.18.0.77:9000",\n\t"registry_pin": "%s",\n\t"hostname": "kept"\n}\n' "$RDV_PIN" >"$OTHER"
cp -p "$OTHER" "$E2E_WORK/a/other.orig"
up a --json --no-start --config "$OTHER" "$JOIN"
check "an existing, different config is refused without --force (conflict, exit 1)" \
	eval '[ "$UP_RC" = 1 ] && [ "$(jget code <<<"$UP")" = conflict ]' || info "$UP"
check "... and left as it was" cmp -s "$OTHER" "$E2E_WORK/a/other.orig"
up a --no-start --force --config "$OTHER" "$JOIN_PLAIN"
check "... with --force it is replaced" \
	eval '[ "$UP_RC" = 0 ] && ! grep -q kept "$OTHER" && grep -q "\"$RDV_IP:$RDV_PORT\"" "$OTHER"' || info "$UP_ERR"
EXAMPLE=$E2E_WORK/a/example.json
cp "$SRCDIR/etc/pilot/pilotd.json" "$EXAMPLE"
up a --no-start --config "$EXAMPLE" "$JOIN_PLAIN"
check "the unchanged example make install puts in place is replaced without --force" \
	eval '[ "$UP_RC" = 0 ] && grep -q "example" <<<"$UP" && ! grep -q AAAAAAAAAAAA "$EXAMPLE"' || info "$UP $UP_ERR"
up a --config "$E2E_WORK/a/nostart.json" "$JOIN_PLAIN"
check "without --no-start and without systemd: it says so and what to run, exit 0" \
	eval '[ "$UP_RC" = 0 ] && grep -q "pilotd --config $E2E_WORK/a/nostart.json" <<<"$UP"' || info "$UP $UP_ERR"

# ------------------------------------------------------------ the nodes run on that config alone
start_from_config() { # NAME HOSTNAME CONFIG: pilotd with CONFIG for the registry (no --registry flags)
	local n=$1 hn=$2 cf=$3 d=$E2E_WORK/$1
	NODE_DIR[$n]=$d NODE_SOCK[$n]=$d/pilotd.sock NODE_HOSTNAME[$n]=$hn
	e2e_bg "${HOST_NS[$n]}" "$d/pilotd.log" "$PILOTD" --config "$cf" --state-dir "$d/state" \
		--socket "$d/pilotd.sock" --listen-port "$NODE_PORT" --tun pilot0 --hostname "$hn" \
		--log-level debug
	NODE_PID[$n]=$LASTPID
	e2e_add_log "pilotd-$n" "$d/pilotd.log"
	e2e_wait "$E2E_READY_S" e2e_node_ready "$n" || return 1
	NODE_ID[$n]=$(jget data.node_id <<<"$PCTL_OUT")
	info "$n: node_id ${NODE_ID[$n]}"
}
start_from_config a alice "$CONF_A" || fatal "pilotd A (config from pilotctl up) registers"
ok "A registered with the configuration pilotctl up wrote (node ${NODE_ID[a]})"
start_from_config b bob "$CONF_B" || fatal "pilotd B (config from pilotctl up) registers"
ok "B registered with the configuration pilotctl up wrote (node ${NODE_ID[b]})"
check "A joined network 7 from the config" e2e_wait 10 pctl_has a info 'data.networks[].network_id' 7
check "B joined network 7 from the config" e2e_wait 10 pctl_has b info 'data.networks[].network_id' 7
check "no trust pair between them (network 7 alone connects them)" \
	eval '[ -z "$(pctl a trust | jget "data.trusted[].node_id")" ]'

B7=$(e2e_addr_in b 7)
mkdir -p "$E2E_WORK/b/www"
MARK="joined-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
echo "$MARK" >"$E2E_WORK/b/www/index.html"
e2e_bg "${HOST_NS[b]}" "$E2E_WORK/b/http.log" "$PY" -m http.server 8000 --bind :: \
	--directory "$E2E_WORK/b/www"
e2e_add_log http-b "$E2E_WORK/b/http.log"
fetch() { ip netns exec "${HOST_NS[a]}" curl -6 -sS --max-time 3 "http://[$B7]:8000/" 2>"$E2E_WORK/curl.err"; }
check "A: curl http://[$B7]:8000/ reaches python3 -m http.server on B across the overlay" \
	eval 'e2e_wait 15 eval "[ \"\$(fetch)\" = \"$MARK\" ]"' || info "curl: $(e2e_curl_err)"

# ------------------------------------------------------------ the token across restarts
SUM=$(sha256sum "$TOKFILE" | cut -c1-64)
e2e_stop_pids "$RDV_PID"
chmod 0640 "$TOKFILE"
ip netns exec "${HOST_NS[rdv]}" timeout 20 "$RDV" --listen "$RDV_IP:$RDV_PORT" --state-dir "$RDV_STATE" \
	>"$E2E_WORK/rdv/open.log" 2>&1
rc=$?
check "a group-readable admin.token stops the registry from starting (exit $rc)" \
	eval '[ "$rc" = 2 ] && grep -q "readable by group or others" "$E2E_WORK/rdv/open.log"' ||
	info "$(tail -n 3 "$E2E_WORK/rdv/open.log")"
chmod 0600 "$TOKFILE"
e2e_start_rdv
check "after a restart: the same admin.token, still mode 0600" \
	eval '[ "$(sha256sum "$TOKFILE" | cut -c1-64)" = "$SUM" ] && [ "$(stat -c %a "$TOKFILE")" = 600 ]'
check "... the log says it is kept, not made" \
	eval 'grep -q "admin token: kept in $TOKFILE" "$E2E_WORK/rdv/rendezvous.log" &&
		[ "$(grep -c "admin token: made" "$E2E_WORK/rdv/rendezvous.log")" = 1 ]'
check "... and the admin API still takes it (network_list shows 7)" \
	eval 'admin network_list "{}" && grep -q "\"network_id\":7" <<<"$ADMIN_OUT"' || info "$ADMIN_OUT"
check "A still reaches B after the registry's restart" \
	eval 'e2e_wait 20 eval "[ \"\$(fetch)\" = \"$MARK\" ]"'

e2e_finish
