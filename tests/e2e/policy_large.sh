#!/bin/sh
# policy_large.sh - end-to-end: large policies (issue 12, item 7).
#   - a 10,000-rule policy is set, shown and tested through pilotctl ->
#     pilotd -> registry, and pilotd applies it (a flow its last rule allows
#     passes, one it does not is refused); the times are printed
#   - a policy over the limit (POLICY_MAX_BYTES, 4 MiB of compact JSON) is
#     refused by pilotctl with code too_large, exit 1, naming the file
#   - a request line over the control socket's limit gets the too_large
#     envelope from pilotd, and the connection still answers afterwards
#   - straight to the registry over HTTPS: a body over what the HTTP layer
#     reads, an admin request over its op's limit and a signed node request
#     over 16 KiB are all answered 413 with the JSON error envelope
#     {"error":{"code":"too_large",...}} naming the limit, never HTML
# Needs root; exit 77 (skip) otherwise.
[ -z "${BASH_VERSION:-}" ] && { command -v bash >/dev/null 2>&1 || { echo "SKIP: no bash"; exit 77; }; exec bash "$0" "$@"; }
. "$(dirname "$0")/lib.sh"

e2e_init
e2e_require curl
TOKEN="e2e-admin-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
NETTOK="net-secret-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
RDV_EXTRA_ARGS="--admin-token $TOKEN"
REGREQ=${REGREQ:-$(dirname "$PILOTCTL")/tests/tools/pilot-regreq}
NRULES=10000
POLICY_MAX_BYTES=4194304 # src/lib/policy.h
HTTP_MAX=$((POLICY_MAX_BYTES + 65536)) # REGMSG_MAX_POLICY_BODY, src/lib/regmsg.h

e2e_underlay
e2e_host rdv 1
e2e_host a 2
e2e_host b 3
e2e_start_rdv
for n in a b; do e2e_start_node "$n" "node-$n" || fatal "pilotd $n ready"; done
ok "rendezvous and two nodes up"

adm() { pctl_ok "$@"; }
elapsed_ms() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%d", (b - a) * 1000}'; }

check "admin: network create big --id 30" \
	adm a --admin-token "$TOKEN" network create big --id 30 --join-rule token --token "$NETTOK" ||
	info "reply: $PCTL_OUT"
for n in a b; do
	check "$n: network join 30" adm "$n" network join 30 --token "$NETTOK" || info "reply: $PCTL_OUT"
done
check "a: set-tags frontend" adm a set-tags frontend
check "b: set-tags api" adm b set-tags api

# ------------------------------------------------------------ 10,000 rules
# Rules 0..9998 are for other tags; the last one lets frontend reach api on
# tcp/8080.  Indented and commented, as an admin would write it.
"$PY" - "$E2E_WORK/big.json" "$NRULES" <<'PY'
import json, sys
path, n = sys.argv[1], int(sys.argv[2])
rules = [{"name": "r%05d" % i, "from": ["tag:team-%d" % (i % 500)], "to": ["tag:svc-%d" % (i % 97)],
          "ports": ["tcp/%d" % (10000 + i), "udp/%d-%d" % (20000 + i, 20010 + i)]} for i in range(n - 1)]
rules.append({"name": "web", "from": ["tag:frontend"], "to": ["tag:api"], "ports": ["tcp/8080"]})
with open(path, "w") as f:
    f.write("// %d rules\n" % n)
    json.dump({"rules": rules}, f, indent=1)
PY
info "policy file: $(wc -c <"$E2E_WORK/big.json") bytes, compact $("$PY" -c 'import json,sys; l=open(sys.argv[1]).read().split("\n",1)[1]; print(len(json.dumps(json.loads(l),separators=(",",":"))))' "$E2E_WORK/big.json") bytes"

t0=$(e2e_now)
check "policy set 30 with $NRULES rules" adm a --admin-token "$TOKEN" policy set 30 "$E2E_WORK/big.json" ||
	info "reply: $(head -c 400 <<<"$PCTL_OUT")"
T_SET=$(elapsed_ms "$t0" "$(e2e_now)")
check "... the registry counted $NRULES rules" [ "$(jget data.rules <<<"$PCTL_OUT")" = "$NRULES" ]

t0=$(e2e_now)
pctl b policy show 30 >"$E2E_WORK/show.json" 2>"$E2E_WORK/show.err"
T_SHOW=$(elapsed_ms "$t0" "$(e2e_now)")
check "policy show 30 (member b) answers ok" [ "$(jget status <"$E2E_WORK/show.json")" = ok ] ||
	info "reply: $(head -c 400 "$E2E_WORK/show.json") $(head -c 200 "$E2E_WORK/show.err")"
check "... with all $NRULES rules" [ "$(jget 'data.policy.rules[].name' <"$E2E_WORK/show.json" | wc -l)" = "$NRULES" ]
check "... the last one is 'web'" [ "$(jget 'data.policy.rules[].name' <"$E2E_WORK/show.json" | tail -n 1)" = web ]
info "policy show: $(wc -c <"$E2E_WORK/show.json") bytes"

t0=$(e2e_now)
out=$(pctl a policy test 30 node-a node-b tcp/8080)
T_TEST=$(elapsed_ms "$t0" "$(e2e_now)")
check "policy test 30 a b tcp/8080: allowed by rule $((NRULES - 1)) (web)" \
	eval '[ "$(jget data.allowed data.rule data.rule_name <<<"$out" | tr "\n" " ")" = "true $((NRULES - 1)) web " ]' ||
	info "reply: $out"
out=$(pctl a policy test 30 node-a node-b tcp/10000)
check "policy test 30 a b tcp/10000: denied (that rule is for other tags)" \
	eval '[ "$(jget data.allowed <<<"$out")" = false ]' || info "reply: $out"
info "10k rules: set ${T_SET} ms, show ${T_SHOW} ms, test ${T_TEST} ms (pilotctl round trips)"

# pilotd fetched its view of the policy: the flow rule 'web' allows works,
# another port of the same peer is refused.
B30=$(printf '%s:1e::%x' "$(pctl b info | jget data.ipv6 | sed 's/::.*//')" "${NODE_ID[b]}")
e2e_serve b 8080 http "big-policy" || fatal "HTTP server on b:8080"
e2e_serve b 8081 http "not-allowed" || fatal "HTTP server on b:8081"
check "a -> b tcp/8080 passes under the 10k-rule policy" \
	e2e_wait 20 eval 'ip netns exec "${HOST_NS[a]}" curl -sS --max-time 3 -o /dev/null "http://[$B30]:8080/"'
check "a -> b tcp/8081 is refused" \
	eval '! ip netns exec "${HOST_NS[a]}" curl -sS --max-time 3 -o /dev/null "http://[$B30]:8081/" 2>/dev/null'
check "pilotd a logged no trouble with the view" \
	eval '! grep -E "network 30: (the registry sent|.*stay denied)|larger than" "${NODE_DIR[a]}/pilotd.log"'

# ------------------------------------------------------------ over the limit: pilotctl
# 10,000 rules of 30 long tags each: about 5 MiB compact, over 4 MiB.
"$PY" - "$E2E_WORK/huge.json" <<'PY'
import json, sys
tags = ["tag:tag-number-%03d" % k for k in range(30)]
rules = [{"from": tags, "to": ["tag:api"], "ports": ["tcp/%d" % (1 + i)]} for i in range(10000)]
json.dump({"rules": rules}, open(sys.argv[1], "w"), separators=(",", ":"))
PY
info "over-limit policy file: $(wc -c <"$E2E_WORK/huge.json") bytes"
out=$(pctl a --admin-token "$TOKEN" policy set 30 "$E2E_WORK/huge.json" 2>&1); rc=$?
check "pilotctl policy set of a 5 MiB policy exits 1 ($rc)" [ "$rc" = 1 ]
check "... with code too_large" [ "$(jget code <<<"$out")" = too_large ] || info "reply: $out"
check "... naming the file and the limit" \
	eval 'jget message <<<"$out" | grep -q "huge.json.*$POLICY_MAX_BYTES"'
out=$(ip netns exec "${HOST_NS[a]}" "$PILOTCTL" --socket "${NODE_SOCK[a]}" --admin-token "$TOKEN" \
	policy set 30 "$E2E_WORK/huge.json" 2>&1); rc=$?
check "... and in text: exit 1, one line saying so ($out)" \
	eval '[ "$rc" = 1 ] && grep -q "more than the $POLICY_MAX_BYTES (4 MiB)" <<<"$out"'
out=$(pctl b policy show 30)
check "the 10k-rule policy is still in force" \
	[ "$(jget 'data.policy.rules[].name' <<<"$out" | wc -l)" = "$NRULES" ]

# ------------------------------------------------------------ over the limit: pilotd's socket
out=$(ip netns exec "${HOST_NS[a]}" "$PY" - "${NODE_SOCK[a]}" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(20)
s.connect(sys.argv[1])
f = s.makefile("rb")
s.sendall(b'{"cmd":"policy.set","args":{"network_id":30,"policy":"' + b"x" * (5 << 20) + b'"}}\n')
print(f.readline().decode().strip())
s.sendall(b'{"cmd":"prefix"}\n')
print(f.readline().decode().strip())
PY
)
first=$(head -n 1 <<<"$out")
check "a 5 MiB request line to pilotd: the too_large envelope" \
	eval '[ "$(jget status code <<<"$first" | tr "\n" " ")" = "error too_large " ]' || info "reply: $(head -c 300 <<<"$out")"
check "... naming the limit" eval 'jget message <<<"$first" | grep -q "larger than [0-9]* bytes"'
check "... and the same connection answers the next request" \
	eval '[ "$(tail -n 1 <<<"$out" | jget status)" = ok ]'

# ------------------------------------------------------------ over the limit: the registry
rdv_post() { # PATH FILE [HEADER] -> "STATUS" line, then the body; in RDV_OUT
	RDV_OUT=$(ip netns exec "${HOST_NS[rdv]}" curl -sS -k --tlsv1.3 --max-time 60 \
		--pinnedpubkey "sha256//$RDV_PIN" -H 'Content-Type: application/json' ${3:+-H "$3"} \
		--data-binary "@$2" -o "$E2E_WORK/rdv.body" -D "$E2E_WORK/rdv.hdr" -w '%{http_code}' \
		"https://$RDV_IP:$RDV_PORT$1" 2>"$E2E_WORK/rdv.err")
}
json_too_large() { # the body is {"error":{"code":"too_large","message":"...LIMIT..."}}
	[ "$(jget error.code <"$E2E_WORK/rdv.body")" = too_large ] &&
		jget error.message <"$E2E_WORK/rdv.body" | grep -q "$1" &&
		grep -qi '^content-type: application/json' "$E2E_WORK/rdv.hdr"
}
head -c $((HTTP_MAX + 4096)) /dev/zero | tr '\0' ' ' >"$E2E_WORK/huge.body"
rdv_post /v1/admin/policy_set "$E2E_WORK/huge.body" "Authorization: Bearer $TOKEN"
check "registry: a body over $HTTP_MAX bytes is answered 413 ($RDV_OUT)" [ "$RDV_OUT" = 413 ] ||
	info "$(head -c 300 "$E2E_WORK/rdv.err")"
check "... with the JSON envelope, code too_large, naming the limit" json_too_large "$HTTP_MAX" ||
	info "body: $(head -c 300 "$E2E_WORK/rdv.body")"
check "... not libevent's HTML page" eval '! grep -qi "<html" "$E2E_WORK/rdv.body"'
rdv_post /v1/node/heartbeat "$E2E_WORK/huge.body"
check "registry: the same to a node path: 413 too_large JSON ($RDV_OUT)" \
	eval '[ "$RDV_OUT" = 413 ] && json_too_large "$HTTP_MAX"' || info "body: $(head -c 300 "$E2E_WORK/rdv.body")"
"$PY" -c 'import sys; sys.stdout.write("{\"pad\":\"" + "y" * 20000 + "\"}")' >"$E2E_WORK/mid.body"
rdv_post /v1/admin/network_list "$E2E_WORK/mid.body" "Authorization: Bearer $TOKEN"
check "registry: a 20 KB admin network_list (16 KiB op): 413 too_large JSON ($RDV_OUT)" \
	eval '[ "$RDV_OUT" = 413 ] && json_too_large 16384' || info "body: $(head -c 300 "$E2E_WORK/rdv.body")"
if [ -x "$REGREQ" ]; then
	out=$(ip netns exec "${HOST_NS[a]}" "$REGREQ" "${NODE_DIR[a]}/state" "$RDV_IP:$RDV_PORT" "$RDV_PIN" \
		heartbeat "{\"listen_port\":4242,\"pad\":\"$(head -c 20000 /dev/zero | tr '\0' z)\"}" 2>&1)
	first=$(head -n 1 <<<"$out")
	check "registry: a signed 20 KB node request: 413 too_large JSON (${first:0:120})" \
		eval '[ "$(cut -d" " -f2 <<<"$first")" = 413 ] && cut -d" " -f3- <<<"$first" | jget error.code | grep -qx too_large'
else
	not_ok "pilot-regreq test tool built ($REGREQ)"
fi
check "the registry still answers (policy show)" \
	eval '[ "$(pctl b policy show 30 | jget "data.policy.rules[].name" | wc -l)" = "$NRULES" ]'
check "no HTML error page in the registry's answers" eval '! grep -qi "<html" "$E2E_WORK/rdv.body"'

e2e_finish
