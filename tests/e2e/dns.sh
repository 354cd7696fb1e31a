#!/bin/sh
# dns.sh - pilotd's DNS stub (issue 20 item 8; pilotd(8) DNS STUB): NAME.pilot
# for programs that do not resolve through glibc's NSS, answered over DNS with
# the very gating of the NSS path (pilotd_find.c, the registry's `find`).
# Three nodes: alice (A) and bob (B) trust each other, carol (C) is private
# and trusted by nobody.  A and B run the stub on their overlay address,
# port 53.  Checks, with dig(1) against A's stub:
#   - AAAA bob.pilot is bob's overlay address (UDP and TCP, any case, aa set);
#     A bob.pilot is NODATA; carol.pilot and nobody.pilot are NXDOMAIN, the
#     same answer for a hidden name as for a missing one; a.b.pilot
#     NXDOMAIN; example.com REFUSED (not a recursive resolver); the
#     apex's SOA; a query from bob through the tunnel is REFUSED;
#   - the answer agrees with `pilotctl find`;
#   - a real program reaches bob through the stub alone: curl to the
#     address dig gave, to an HTTP server on bob;
#   - a flood of 2,000 queries for random names from one source is
#     rate-limited (status counters: dns_rate_limited, and the registry
#     calls find_registry_calls stay within dns_burst + dns_rate x time),
#     and the stub answers again afterwards;
#   - after `untrust`, bob.pilot is NXDOMAIN;
#   - systemd-resolved: this machine's may not run, so each pilotd runs in a
#     mount namespace of its own with an empty /run: on B without
#     /run/systemd/resolve, nothing is run (a debug line says so); on A with
#     it, and PILOT_RESOLVECTL naming a stand-in that records its
#     arguments, `resolvectl dns pilot0 ADDR`, `domain pilot0 ~pilot`,
#     `default-route pilot0 false` run after pilot0 is up, and `revert
#     pilot0` when pilotd stops.  (The stand-in only records: what the
#     real resolved does with these is not tested here.)
#   - pilotd --check-config refuses a dns_listen that is not an address.
# Needs root and dig (bind9-dnsutils); exit 77 (skip) otherwise.  See lib.sh
# for the topology.
[ -z "${BASH_VERSION:-}" ] && { command -v bash >/dev/null 2>&1 || { echo "SKIP: no bash"; exit 77; }; exec bash "$0" "$@"; }
. "$(dirname "$0")/lib.sh"

e2e_init
e2e_require dig curl unshare
MARK="PILOTMARK$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
RATE=20 BURST=40

# Each pilotd in a private mount namespace with an empty /run (and
# /run/systemd/resolve when DNS_FAKE_RESOLVED=1): same PID, exec all along.
REAL_PILOTD=$PILOTD
PILOTD=$E2E_WORK/pilotd-ns
cat >"$PILOTD" <<EOF
#!/bin/sh
exec unshare -m --propagation private /bin/sh -c '
	mount -t tmpfs -o mode=0755,size=64k tmpfs /run || exit 125
	if [ "\${DNS_FAKE_RESOLVED:-0}" = 1 ]; then mkdir -p /run/systemd/resolve || exit 125; fi
	exec "\$0" "\$@"' "$REAL_PILOTD" "\$@"
EOF
RCTL_LOG=$E2E_WORK/resolvectl.log
: >"$RCTL_LOG"
cat >"$E2E_WORK/resolvectl" <<EOF
#!/bin/sh
# a stand-in for resolvectl(1): records its arguments
echo "\$*" >>"$RCTL_LOG"
EOF
chmod 755 "$PILOTD" "$E2E_WORK/resolvectl"

e2e_lan a b c
DNS_ARGS="--dns --dns-rate $RATE --dns-burst $BURST"
export DNS_FAKE_RESOLVED=1 PILOT_RESOLVECTL=$E2E_WORK/resolvectl
PILOTD_EXTRA_ARGS=$DNS_ARGS e2e_start_node a alice || fatal "pilotd alice (stub on) ready"
export DNS_FAKE_RESOLVED=0
PILOTD_EXTRA_ARGS=$DNS_ARGS e2e_start_node b bob || fatal "pilotd bob (stub on) ready"
unset DNS_FAKE_RESOLVED PILOT_RESOLVECTL
e2e_start_node c carol || fatal "pilotd carol (private, trusted by nobody) ready"
e2e_establish_trust b a || fatal "alice and bob trust each other"
ok "setup: alice and bob trust each other; carol is a stranger"
A6=${NODE_IP6[a]} B6=${NODE_IP6[b]}

# q NODE ARGS...: dig against A's stub from NODE; output in OUT
q() {
	local n=$1
	shift
	OUT=$(ip netns exec "${HOST_NS[$n]}" timeout 10 dig "@$A6" +time=2 +tries=1 "$@" 2>&1)
}
status_of() { sed -n 's/.*status: \([A-Z]*\),.*/\1/p' <<<"$OUT" | head -n 1; }
flags_of() { sed -n 's/.*;; flags: \([a-z ]*\);.*/\1/p' <<<"$OUT" | head -n 1; }
answers_of() { sed -n 's/.* ANSWER: \([0-9]*\),.*/\1/p' <<<"$OUT" | head -n 1; }
same_ip() { "$PY" -c 'import ipaddress, sys; sys.exit(ipaddress.ip_address(sys.argv[1]) != ipaddress.ip_address(sys.argv[2]))' "$1" "$2" 2>/dev/null; }
show() { printf '%s\n' "$OUT" | sed 's/^/#   /' | head -n 30; }

e2e_wait 5 eval 'pctl_ok a status && [ "$(jget data.dns.serving <<<"$PCTL_OUT")" = true ]'
check "A's status: the stub serves on $A6 (dns.listen $(jget data.dns.listen <<<"$PCTL_OUT"))" \
	eval '[ "$(jget data.dns.serving <<<"$PCTL_OUT")" = true ] && same_ip "$(jget data.dns.listen <<<"$PCTL_OUT")" "$A6"'

# ------------------------------------------------------------ answers
got=$(ip netns exec "${HOST_NS[a]}" timeout 10 dig "@$A6" +time=2 +tries=1 +short AAAA bob.pilot 2>&1)
check "dig +short AAAA bob.pilot @A: bob's address $B6 (got '$got')" same_ip "$got" "$B6"
q a AAAA bob.pilot
check "... NOERROR, authoritative, one answer ($(status_of); flags: $(flags_of))" \
	eval '[ "$(status_of)" = NOERROR ] && grep -qw aa <<<"$(flags_of)" && [ "$(answers_of)" = 1 ]' || show
q a +tcp AAAA BoB.PiLoT
check "dig +tcp AAAA BoB.PiLoT: the same address over TCP, in any case" \
	eval 'grep -Eq "^BoB\.PiLoT\.[[:space:]]+[0-9]+[[:space:]]+IN[[:space:]]+AAAA[[:space:]]" <<<"$OUT" && same_ip "$(awk "\$4 == \"AAAA\" && \$1 !~ /^;/ { print \$5 }" <<<"$OUT")" "$B6"' || show
find_ip=$(pctl a find bob | jget data.ipv6)
check "the answer agrees with pilotctl find bob ($find_ip)" same_ip "$find_ip" "$B6"
q a A bob.pilot
check "A bob.pilot: NODATA (NOERROR, no answer; got $(status_of), $(answers_of) answers)" \
	eval '[ "$(status_of)" = NOERROR ] && [ "$(answers_of)" = 0 ] && grep -q "IN[[:space:]]*SOA" <<<"$OUT"' || show
q a AAAA carol.pilot
hidden=$OUT
check "AAAA carol.pilot (a stranger's name): NXDOMAIN ($(status_of))" [ "$(status_of)" = NXDOMAIN ] || show
check "... as pilotctl find carol says not_found" \
	eval '[ "$(pctl a find carol | jget code)" = not_found ]'
q a AAAA nobody.pilot
check "AAAA nobody.pilot: NXDOMAIN, the same answer as for carol (existence does not leak)" \
	eval '[ "$(status_of)" = NXDOMAIN ] && [ "$(grep -v -e "^;" -e "^$" <<<"$hidden" | sed s/carol/NAME/)" = "$(grep -v -e "^;" -e "^$" <<<"$OUT" | sed s/nobody/NAME/)" ]' || show
q a AAAA a.b.pilot
check "AAAA a.b.pilot: NXDOMAIN (hostnames are one label)" [ "$(status_of)" = NXDOMAIN ]
q a AAAA example.com
check "AAAA example.com: REFUSED (not a recursive resolver; got $(status_of))" [ "$(status_of)" = REFUSED ] || show
q a SOA pilot
check "SOA pilot: the apex's SOA" \
	eval '[ "$(status_of)" = NOERROR ] && [ "$(answers_of)" = 1 ] && grep -Eq "^pilot\.[[:space:]].*SOA[[:space:]]+pilot\. hostmaster\.pilot\." <<<"$OUT"' || show
q b AAAA bob.pilot
check "a query from bob through the tunnel: REFUSED ($(status_of)); what alice may see is not bob's to learn" \
	[ "$(status_of)" = REFUSED ] || show

# ------------------------------------------------------------ a program through the stub
e2e_serve b 8000 http "$MARK" || fatal "HTTP server on bob"
addr=$(ip netns exec "${HOST_NS[a]}" timeout 10 dig "@$A6" +time=2 +tries=1 +short AAAA bob.pilot)
e2e_wait 10 eval 'ip netns exec "${HOST_NS[a]}" curl -6 -sS --max-time 3 -o "$E2E_WORK/page" "http://[$addr]:8000/dns" 2>"$E2E_WORK/curl.err"'
check "curl http://[\$(dig +short AAAA bob.pilot @stub)]:8000/ from alice reaches bob's server" \
	grep -qs "$MARK" "$E2E_WORK/page" || info "curl: $(e2e_curl_err)"

# ------------------------------------------------------------ flood
e2e_counters a "$E2E_WORK/c0"
t0=$(e2e_now)
ip netns exec "${HOST_NS[a]}" timeout 60 "$PY" - "$A6" 2000 >"$E2E_WORK/flood.json" <<'PY'
# 2,000 AAAA queries for random names from one socket in about a second
# (100 times dns_rate; paced only so that the kernel's receive buffer
# does not drop them), then the answers for 2 s.
import json, os, select, socket, struct, sys, time
dst, n = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
def query(i):
    label = os.urandom(6).hex().encode()
    return (struct.pack(">HHHHHH", i & 0xffff, 0x0100, 1, 0, 0, 0) + bytes([len(label)]) + label
            + b"\x05pilot\x00" + struct.pack(">HH", 28, 1))
t0 = time.monotonic()
for i in range(n):
    s.sendto(query(i), (dst, 53))
    if i % 20 == 19:
        time.sleep(0.01)
sent_s = time.monotonic() - t0
rcodes = {}
end = time.monotonic() + 2
while time.monotonic() < end:
    if not select.select([s], [], [], 0.2)[0]:
        continue
    d = s.recv(4096)
    rcodes[d[3] & 0xF] = rcodes.get(d[3] & 0xF, 0) + 1
print(json.dumps({"sent": n, "send_seconds": round(sent_s, 3), "answers": sum(rcodes.values()),
                  "rcodes": {str(k): v for k, v in rcodes.items()}}))
PY
e2e_counters a "$E2E_WORK/c1"
T=$(e2e_elapsed "$t0")
info "flood: $(cat "$E2E_WORK/flood.json"), ${T}s between the counters"
info "counters moved: $(e2e_counter_deltas "$E2E_WORK/c0" "$E2E_WORK/c1")"
queries=$(e2e_counter_delta "$E2E_WORK/c0" "$E2E_WORK/c1" dns_queries)
limited=$(e2e_counter_delta "$E2E_WORK/c0" "$E2E_WORK/c1" dns_rate_limited)
calls=$(e2e_counter_delta "$E2E_WORK/c0" "$E2E_WORK/c1" find_registry_calls)
answers=$(jget answers <"$E2E_WORK/flood.json")
allowed=$(awk -v b="$BURST" -v r="$RATE" -v t="$T" 'BEGIN { printf "%d", b + r * t + 2 }')
check "flood: the stub saw most of the 2000 queries (dns_queries +$queries)" \
	eval '[ "$queries" != NA ] && [ "$queries" -ge 1800 ]'
check "flood: all but at most $allowed (dns_burst $BURST + dns_rate $RATE/s x ${T}s) rate-limited (dns_rate_limited +$limited)" \
	eval '[ "$limited" != NA ] && [ "$limited" -ge $((queries - allowed)) ]'
check "flood: registry lookups within that bound too (find_registry_calls +$calls <= $allowed), answers $answers <= $allowed" \
	eval '[ "$calls" != NA ] && [ "$calls" -le "$allowed" ] && [ "$answers" -le "$allowed" ]'
sleep 2 # the bucket refills
e2e_wait 10 eval 'q a AAAA bob.pilot; [ "$(status_of)" = NOERROR ]'
check "after the flood the stub answers again; nothing left waiting (dns.pending $(pctl a status | jget data.dns.pending))" \
	eval '[ "$(status_of)" = NOERROR ] && [ "$(pctl a status | jget data.dns.pending)" = 0 ]'

# ------------------------------------------------------------ B's stub, resolved absent
got=$(ip netns exec "${HOST_NS[b]}" timeout 10 dig "@$B6" +time=2 +tries=1 +short AAAA alice.pilot 2>&1)
check "B's stub: AAAA alice.pilot is alice's address ($got)" same_ip "$got" "$A6"
check "B (no /run/systemd/resolve): resolved not told, a debug line says so, no resolvectl run" \
	eval 'grep -q "systemd-resolved is not running" "${NODE_DIR[b]}/pilotd.log" && ! grep -q "systemd-resolved: running" "${NODE_DIR[b]}/pilotd.log" && [ "$(pctl b status | jget data.dns.resolved)" = absent ]'

# ------------------------------------------------------------ gating follows trust
check "B: untrust alice" pctl_ok b untrust "${NODE_ID[a]}"
e2e_wait 10 eval 'q a AAAA bob.pilot; [ "$(status_of)" = NXDOMAIN ]'
check "after untrust: AAAA bob.pilot is NXDOMAIN at alice's stub ($(status_of))" [ "$(status_of)" = NXDOMAIN ]

# ------------------------------------------------------------ resolved on A
info "resolvectl calls: $(tr '\n' ';' <"$RCTL_LOG")"
check "A: resolvectl dns pilot0 $A6, domain pilot0 ~pilot, default-route pilot0 false, in order" \
	eval '[ "$(head -n 3 "$RCTL_LOG" | tr "\n" ";")" = "dns pilot0 $A6;domain pilot0 ~pilot;default-route pilot0 false;" ] && [ "$(pctl a status | jget data.dns.resolved)" = done ]'
check "... after pilot0 was up (the log says so first)" \
	eval 'awk "/pilot0 up/ { up = NR } /systemd-resolved: running/ && !r { r = NR } END { exit !(up && r > up) }" "${NODE_DIR[a]}/pilotd.log"'
e2e_stop_node a
check "A stopped: resolvectl revert pilot0 ran, last" \
	eval '[ "$(tail -n 1 "$RCTL_LOG")" = "revert pilot0" ] && [ "$(wc -l <"$RCTL_LOG")" = 4 ]'

# ------------------------------------------------------------ config
out=$("$REAL_PILOTD" --check-config --registry 198.18.0.1:9000 --registry-pin "$RDV_PIN" --dns --dns-listen localhost:53 2>&1)
rc=$?
check "--check-config --dns-listen localhost:53: refused (exit $rc): $out" \
	eval '[ "$rc" = 2 ] && grep -q "dns_listen .localhost:53.: expected a numeric ADDRESS:PORT" <<<"$out"'
e2e_finish
