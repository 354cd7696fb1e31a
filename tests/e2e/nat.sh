#!/bin/sh
# nat.sh - end-to-end: NAT traversal (doc/NAT.md): beacon, hole punching, relay.
#
# Topology (198.18.0.0/15 only; NAT routers from lib.sh e2e_nat_router):
#
#   bridge "internet" 198.18.0.0/24
#     rdv  198.18.0.1   pilot-rendezvous, registry 9000/tcp, beacon 9001/udp
#     natA 198.18.0.11  EIM NAT   -- lan 198.18.1.0/24 -- a 198.18.1.2
#     natB 198.18.0.12  EIM NAT   -- lan 198.18.2.0/24 -- b 198.18.2.2
#     natC 198.18.0.13  symmetric -- lan 198.18.3.0/24 -- c 198.18.3.2
#     natD 198.18.0.14  EIM NAT   -- lan 198.18.4.0/24 -- d 198.18.4.2
#     e    198.18.0.31  a public node (no NAT)
#     evil 198.18.0.66  an attacker on the internet (no pilotd)
#
#   (The routers here filter unsolicited inbound, as gateways usually do;
#   tests/e2e/nat_open.sh covers plain masquerade without that filter.)
#   (0) the topology itself: NAT'd nodes reach the internet, unsolicited
#       inbound UDP is dropped and replies pass; natA maps one source port to
#       the same public port for every destination (EIM), natC to a different
#       one per destination (symmetric) -- proven with conntrack
#   (1) a <-> b (both EIM): trust, curl, path "punched" both ways
#   (2) c (symmetric) <-> b: trust, curl, path "relayed", relay counters move
#   (3) d <-> b with UDP between natD and natB blocked from the start: relayed,
#       a TCP connection exchanging data every 0.5 s; unblock; "punched"
#       within 75 s and the same connection still exchanges data
#   (4) a <-> b punched, a rate-limited 40 MB download b -> a; mid-transfer
#       natA changes its public address (snat to 198.18.0.21) and flushes
#       conntrack: the download completes, checksum intact
#   (5) junk beacon frames (BIND_OK / PUNCH / RELAYED shapes, bad MAC) sent to
#       the public node e from evil, and from evil with the beacon's address
#       spoofed (raw socket): all counted in rx_dropped_beacon; e's path and
#       endpoint for b unchanged; e -> b still works
#   (7) the routers forget UDP mappings after 30 s: a <-> b idle for 70 s,
#       then a connection needs no new punch (keepalives held the mappings)
#   (6) the registry and the beacon as two processes on one state dir
#       (--serve registry / --serve beacon): c <-> b relayed again at once
#       (bindings saved at the clean stop), and again after kill -9 of the
#       beacon (nodes with relayed peers bind every 10 s)
#   (8) a relay reaches nobody who would refuse: f (198.18.0.32, no NAT),
#       trusted by nobody, with its own key sends relayed genuine handshake
#       initiations to b (pilot-bcnsend): private, the beacon denies them;
#       both public, they reach b, which refuses each before any DH, answers
#       nothing and keeps no session; once b trusts f, b takes at most its
#       relay budget of f's relayed initiations (10/s, burst 10)
# Needs root, nft and conntrack; exit 77 (skip) otherwise.
[ -z "${BASH_VERSION:-}" ] && { command -v bash >/dev/null 2>&1 || { echo "SKIP: no bash"; exit 77; }; exec bash "$0" "$@"; }
E2E_TIMEOUT=${E2E_TIMEOUT:-420}
. "$(dirname "$0")/lib.sh"

e2e_init
e2e_require curl ping nft conntrack sha256sum
MARK="PILOTMARK$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
BEACON=$RDV_IP:9001
RDV_EXTRA_ARGS="--beacon-listen $BEACON ${RDV_EXTRA_ARGS:-}"
PILOTD_EXTRA_ARGS="--beacon $BEACON ${PILOTD_EXTRA_ARGS:-}"
PUNCH_S=${PUNCH_S:-15}      # first packet -> "punched" (a few seconds expected)
UPGRADE_S=${UPGRADE_S:-75}  # unblock -> "punched" (punch backoff capped at 60 s)

# Small tools (standard library only, every loop bounded in time).
NT=$E2E_WORK/nattool.py
cat >"$NT" <<'PY'
import argparse, json, os, random, select, socket, struct, sys, threading, time

def touch(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.rename(path + ".tmp", path)

def probe(a):
    """Bind SPORT, send one datagram to each --to, then report who answered."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", a.sport))
    for t in a.to or []:
        h, p = t.rsplit(":", 1)
        s.sendto(b"probe", (h, int(p)))
    if a.ready:
        touch(a.ready, "ready\n")
    got = {}
    end = time.monotonic() + a.listen
    while time.monotonic() < end:
        r, _, _ = select.select([s], [], [], 0.1)
        if r:
            try:
                _, src = s.recvfrom(2048)
            except OSError:
                continue  # an ICMP error for the probe
            got[src[0]] = got.get(src[0], 0) + 1
    print(json.dumps(got, sort_keys=True))

def send(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", a.sport))
    h, p = a.dst.rsplit(":", 1)
    s.sendto(b"x", (h, int(p)))

def frames(a):
    """Beacon-shaped junk: type rsv(3) node_id(4 BE) counter(8) body MAC(16)."""
    rng = random.Random()
    for t in a.types:
        for n in a.sizes:
            hdr = bytes([t, 0, 0, 0]) + struct.pack(">IQ", a.node_id, rng.randrange(1, 1 << 62))
            print((hdr + rng.randbytes(n - len(hdr))).hex())

def chat_server(a):
    ls = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("::", a.port))
    ls.listen(8)
    log = open(a.log, "a", buffering=1)
    lock = threading.Lock()
    def w(*x):
        with lock:
            log.write(" ".join(str(y) for y in x) + "\n")
    def echo(c, peer):
        c.settimeout(a.max_seconds)
        kind = "timeout"
        try:
            while True:
                d = c.recv(4096)
                if not d:
                    kind = "eof"
                    break
                c.sendall(d)
        except ConnectionResetError:
            kind = "reset"
        except OSError as e:
            kind = "error:%s" % e.errno
        w("closed", peer[0], kind, "%.6f" % time.time())
        c.close()
    touch(a.ready, "ready\n")
    end = time.monotonic() + a.max_seconds
    while time.monotonic() < end:
        r, _, _ = select.select([ls], [], [], 0.5)
        if r:
            c, peer = ls.accept()
            w("accept", peer[0], peer[1], "%.6f" % time.time())
            threading.Thread(target=echo, args=(c, peer), daemon=True).start()

def chat_client(a):
    """One TCP connection; a numbered line every INTERVAL, each echo awaited.
    Status file: "ok N LAST_TS MAX_GAP" after every echo, finally
    "closed KIND N TS MAX_GAP" or "done N TS MAX_GAP"."""
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.settimeout(5)
    try:
        s.connect((a.host, a.port))
    except OSError as e:
        touch(a.status, "failed %s 0 %.6f 0\n" % (type(e).__name__, time.time()))
        return 1
    s.settimeout(a.io_timeout)
    n, gap, last = 0, 0.0, time.time()
    end = time.monotonic() + a.max_seconds
    kind = "done"
    try:
        while time.monotonic() < end:
            msg = ("seq %d\n" % n).encode()
            s.sendall(msg)
            buf = b""
            while not buf.endswith(b"\n"):
                d = s.recv(64)
                if not d:
                    raise EOFError
                buf += d
            if buf != msg:
                kind = "mismatch"
                break
            n += 1
            now = time.time()
            gap = max(gap, now - last)
            last = now
            touch(a.status, "ok %d %.6f %.3f\n" % (n, now, gap))
            time.sleep(a.interval)
    except EOFError:
        kind = "eof"
    except ConnectionResetError:
        kind = "reset"
    except socket.timeout:
        kind = "io-timeout"
    except OSError as e:
        kind = "error:%s" % e.errno
    word = "done" if kind == "done" else "closed " + kind
    touch(a.status, "%s %d %.6f %.3f\n" % (word, n, time.time(), gap))
    return 0 if kind == "done" else 1

ap = argparse.ArgumentParser()
sub = ap.add_subparsers(dest="cmd", required=True)
p = sub.add_parser("probe"); p.set_defaults(fn=probe)
p.add_argument("--sport", type=int, required=True); p.add_argument("--to", action="append")
p.add_argument("--listen", type=float, default=3); p.add_argument("--ready")
p = sub.add_parser("send"); p.set_defaults(fn=send)
p.add_argument("--sport", type=int, required=True); p.add_argument("--dst", required=True)
p = sub.add_parser("frames"); p.set_defaults(fn=frames)
p.add_argument("--node-id", type=int, required=True)
p.add_argument("--types", type=lambda x: [int(v, 0) for v in x.split(",")], default=[0x11, 0x13, 0x15])
p.add_argument("--sizes", type=lambda x: [int(v) for v in x.split(",")], default=[52, 56, 100])
p = sub.add_parser("chat-server"); p.set_defaults(fn=chat_server)
p.add_argument("--port", type=int, required=True); p.add_argument("--log", required=True)
p.add_argument("--ready", required=True); p.add_argument("--max-seconds", type=float, default=300)
p = sub.add_parser("chat-client"); p.set_defaults(fn=chat_client)
p.add_argument("--host", required=True); p.add_argument("--port", type=int, required=True)
p.add_argument("--status", required=True); p.add_argument("--interval", type=float, default=0.5)
p.add_argument("--io-timeout", type=float, default=30); p.add_argument("--max-seconds", type=float, default=150)
a = ap.parse_args()
sys.exit(a.fn(a) or 0)
PY
nt() { local n=$1; shift; ip netns exec "${HOST_NS[$n]}" "$PY" "$NT" "$@"; }

# ------------------------------------------------------------ (0) topology
e2e_underlay
e2e_host rdv 1
e2e_nat_router natA 11 198.18.1 eim
e2e_nat_router natB 12 198.18.2 eim
e2e_nat_router natC 13 198.18.3 symmetric
e2e_nat_router natD 14 198.18.4 eim
e2e_nat_host a natA
e2e_nat_host b natB
e2e_nat_host c natC
e2e_nat_host d natD
e2e_host e 31
e2e_host evil 66
for n in a b c d e; do
	e2e_underlay_ping "$n" "$RDV_IP" || fatal "(0) $n (${HOST_IP[$n]}) reaches the rendezvous $RDV_IP"
done
ok "(0) underlay: rdv, NAT routers natA-natD (EIM, EIM, symmetric, EIM), a-d behind them, e and evil public"
check "(0) the internet has no route to a NAT'd node's private address" \
	eval '! ip netns exec "${HOST_NS[e]}" ping -c 1 -W 1 -q "${HOST_IP[a]}" >/dev/null 2>&1'

# Filtering: a opens 198.18.0.11:7777 towards rdv:7000; a reply from rdv:7000
# passes, the same port from evil (unsolicited) is dropped.
rm -f "$E2E_WORK/probe.ready"
e2e_bg "${HOST_NS[a]}" "$E2E_WORK/probe.out" "$PY" "$NT" probe --sport 7777 --to "$RDV_IP:7000" \
	--listen 3 --ready "$E2E_WORK/probe.ready"
PROBE=$LASTPID
e2e_wait 5 test -e "$E2E_WORK/probe.ready"
nt evil send --sport 7000 --dst 198.18.0.11:7777
nt rdv send --sport 7000 --dst 198.18.0.11:7777
nt evil send --sport 7001 --dst 198.18.0.11:7777
e2e_wait 6 eval '! e2e_alive "$PROBE"'
e2e_stop_pids "$PROBE"
res=$(tail -n 1 "$E2E_WORK/probe.out")
got() { "$PY" -c 'import json,sys; print(json.loads(sys.argv[1] or "{}").get(sys.argv[2], 0))' "$res" "$1" 2>/dev/null; }
check "(0) natA: the reply from rdv:7000 reaches a through the mapping ($res)" eval '[ "$(got "$RDV_IP")" = 1 ]'
check "(0) natA: unsolicited datagrams from evil to the same mapping are dropped" eval '[ "$(got 198.18.0.66)" = 0 ]'

# Mapping behaviour: one source port, three destinations.
for n in a c; do
	for dst in "$RDV_IP:9" 198.18.0.66:9 198.18.0.12:9; do nt "$n" send --sport 5555 --dst "$dst"; done
done
mapA=$(e2e_nat_mapped_ports natA "${HOST_IP[a]}" 5555)
mapC=$(e2e_nat_mapped_ports natC "${HOST_IP[c]}" 5555)
info "(0) natA conntrack: $(echo $mapA)"
info "(0) natC conntrack: $(echo $mapC)"
nA=$(awk '{print $2}' <<<"$mapA" | sort -u | wc -l) nC=$(awk '{print $2}' <<<"$mapC" | sort -u | wc -l)
check "(0) natA is endpoint-independent: 3 flows from :5555, one public port ($nA distinct)" \
	eval '[ "$(grep -c . <<<"$mapA")" = 3 ] && [ "$nA" = 1 ]'
check "(0) natC is symmetric: 3 flows from :5555, a public port per destination ($nC distinct)" \
	eval '[ "$(grep -c . <<<"$mapC")" = 3 ] && [ "$nC" = 3 ]'
for r in natA natC; do e2e_nat_flush "$r"; done

# ------------------------------------------------------------ daemons
e2e_start_rdv
ok "pilot-rendezvous up on $RDV_IP:$RDV_PORT, beacon on $BEACON"
# e learns the beacon from the registry alone (its register answer names
# the key and port; the host is the registry's): no --beacon for it.
PILOTD_ARGS_BEACON=$PILOTD_EXTRA_ARGS
for n in a b c d e; do
	if [ "$n" = e ]; then PILOTD_EXTRA_ARGS=${PILOTD_ARGS_BEACON#"--beacon $BEACON "}; else PILOTD_EXTRA_ARGS=$PILOTD_ARGS_BEACON; fi
	e2e_start_node "$n" "node-$n" || fatal "pilotd $n ready within ${E2E_READY_S}s"
done
PILOTD_EXTRA_ARGS=$PILOTD_ARGS_BEACON
ok "pilotd a, b, c, d (behind NATs) and e (public) ready"
A=${NODE_ID[a]} B=${NODE_ID[b]} C=${NODE_ID[c]} D=${NODE_ID[d]} E=${NODE_ID[e]}
# UDP between natD and natB blocked before d and b ever talk (case 3)
e2e_nat_block natD 198.18.0.12 || fatal "(3) natD: drop UDP to/from natB"

beacon() { pctl "$1" status 2>/dev/null | jget "data.beacon.$2" 2>/dev/null; }
beacon_ok() { [ "$(beacon "$1" state)" = ok ]; }
refl_on() { case "$(beacon "$1" reflexive)" in "$2":[0-9]*) return 0 ;; esac; return 1; }
check "a: status beacon $BEACON state ok within 10 s ($(beacon a state))" e2e_wait 10 beacon_ok a
for n in c e; do check "$n: status beacon state ok ($(beacon "$n" state))" e2e_wait 3 beacon_ok "$n"; done
check "a: beacon address $BEACON" eval '[ "$(beacon a address)" = "$BEACON" ]'
check "e: beacon address $BEACON, learned from the registry's register answer ($(beacon e address))" \
	eval '[ "$(beacon e address)" = "$BEACON" ]'
check "a: reflexive endpoint is natA's public address ($(beacon a reflexive))" refl_on a 198.18.0.11
check "c: reflexive endpoint is natC's public address ($(beacon c reflexive))" refl_on c 198.18.0.13
check "e: reflexive endpoint is its own address ($(beacon e reflexive))" refl_on e 198.18.0.31

path_shown() { # NODE PEER-ID: print "path endpoint" (for messages)
	echo "$(e2e_peer "$1" "$2" path 2>/dev/null || echo '?') $(e2e_peer "$1" "$2" endpoint 2>/dev/null || echo '?')"
}
ep_on() { case "$(e2e_peer "$1" "$2" endpoint)" in "$3":[0-9]*) return 0 ;; esac; return 1; }
ctr() { # NODE NAME: a `status` counter (NA if absent)
	pctl "$1" status 2>/dev/null | "$PY" "$E2E_HELPER" counters | awk -v k="$2" '$1 == k {v = $2} END {print v == "" ? "NA" : v}'
}
gt0() { [ "$1" != NA ] && [ "$1" -gt 0 ]; }

# ------------------------------------------------------------ (1) a <-> b, both EIM: punched
e2e_serve b 8080 http "$MARK" || fatal "HTTP server on b [::]:8080"
e2e_serve a 8080 http "$MARK" || fatal "HTTP server on a [::]:8080"
check "(1) trust a <-> b" e2e_establish_trust a b || fatal "(1) trust a <-> b"
t0=$(e2e_now)
if e2e_curl_until 20 a b 8080 "/a-to-b-$MARK" "$E2E_WORK/1a.html" && grep -qs "$MARK" "$E2E_WORK/1a.html"; then
	ok "(1) curl a -> b over the overlay ($(e2e_elapsed "$t0")s)"
	AB_OK=1
else
	not_ok "(1) curl a -> b over the overlay within 20 s (last error: $(e2e_curl_err))"
	AB_OK=0
fi
e2e_curl_until 10 b a 8080 /b-to-a "$E2E_WORK/1b.html"
check "(1) curl b -> a over the overlay" grep -qs "$MARK" "$E2E_WORK/1b.html"
check "(1) a: path to b is punched within ${PUNCH_S}s ($(path_shown a "$B"))" \
	e2e_wait "$PUNCH_S" e2e_peer_path_is a "$B" punched
check "(1) b: path to a is punched ($(path_shown b "$A"))" e2e_wait 10 e2e_peer_path_is b "$A" punched
info "(1) a sees b: $(path_shown a "$B"); b sees a: $(path_shown b "$A")"
check "(1) a sends to b's NAT (natB 198.18.0.12), not via the beacon ($(e2e_peer a "$B" endpoint))" ep_on a "$B" 198.18.0.12
check "(1) b sends to a's NAT (natA 198.18.0.11) ($(e2e_peer b "$A" endpoint))" ep_on b "$A" 198.18.0.11
check "(1) a: session with b" eval '[ "$(e2e_peer a "$B" session)" = true ]'
lh=$(e2e_peer a "$B" last_handshake)
check "(1) a: last_handshake with b is recent ($lh)" \
	eval 'case "$lh" in ""|*[!0-9]*) false ;; *) [ $(( $(date +%s) - lh )) -lt 120 ] ;; esac'
check "(1) ping -6 a -> b" eval 'ip netns exec "${HOST_NS[a]}" ping -6 -c 2 -W 2 -q "${NODE_IP6[b]}" | grep -q " 2 received"'

# ------------------------------------------------------------ (2) c behind a symmetric NAT: relayed
check "(2) trust c <-> b" e2e_establish_trust c b || info "(2) trust c <-> b failed"
t0=$(e2e_now)
if e2e_curl_until 20 c b 8080 "/c-to-b-$MARK" "$E2E_WORK/2.html" && grep -qs "$MARK" "$E2E_WORK/2.html"; then
	ok "(2) curl c -> b over the overlay ($(e2e_elapsed "$t0")s)"
else
	not_ok "(2) curl c -> b over the overlay within 20 s (last error: $(e2e_curl_err))"
fi
check "(2) c: path to b is relayed ($(path_shown c "$B"))" e2e_wait 15 e2e_peer_path_is c "$B" relayed
check "(2) b: path to c is relayed ($(path_shown b "$C"))" e2e_wait 10 e2e_peer_path_is b "$C" relayed
check "(2) c: endpoint for b is the beacon $BEACON ($(e2e_peer c "$B" endpoint))" \
	eval '[ "$(e2e_peer c "$B" endpoint)" = "$BEACON" ]'
e2e_curl c b 8080 /c-again "$E2E_WORK/2b.html" 5
v=$(ctr c relay_tx_packets) w=$(ctr c relay_rx_packets)
check "(2) c: relay_tx_packets > 0 ($v)" gt0 "$v"
check "(2) c: relay_rx_packets > 0 ($w)" gt0 "$w"
check "(2) c: punch_requests_sent counted ($(ctr c punch_requests_sent))" gt0 "$(ctr c punch_requests_sent)"
info "(2) natC conntrack for c's pilotd port: $(e2e_nat_mapped_ports natC "${HOST_IP[c]}" "$NODE_PORT" | tr '\n' ' ')"

# ------------------------------------------------------------ (3) blocked, then unblocked: relay -> punched
e2e_bg "${HOST_NS[b]}" "$E2E_WORK/chat-srv.out" "$PY" "$NT" chat-server --port 8081 \
	--log "$E2E_WORK/chat-srv.log" --ready "$E2E_WORK/chat-srv.ready" --max-seconds "$E2E_TIMEOUT"
e2e_add_log chat-server "$E2E_WORK/chat-srv.log"
e2e_wait 5 test -e "$E2E_WORK/chat-srv.ready" || fatal "(3) chat server on b [::]:8081"
check "(3) trust d <-> b (UDP natD <-> natB blocked)" e2e_establish_trust d b || info "(3) trust failed"
ST=$E2E_WORK/chat.status
chat_open() {
	rm -f "$ST"
	e2e_bg "${HOST_NS[d]}" "$E2E_WORK/chat-cli.out" "$PY" "$NT" chat-client --host "${NODE_IP6[b]}" \
		--port 8081 --status "$ST" --interval 0.5 --io-timeout 30 --max-seconds 150
	CHAT=$LASTPID
	e2e_wait 8 grep -qs '^ok' "$ST" && return 0
	e2e_stop_pids "$CHAT"
	return 1
}
chat_n() { awk '{print ($1 == "ok" ? $2 : -1); exit}' "$ST" 2>/dev/null; }
chat_more() { local n; n=$(chat_n); [ -n "$n" ] && [ "$n" -ge "$1" ]; }  # N echoes so far, still up
accepts() { grep -c '^accept' "$E2E_WORK/chat-srv.log"; }
if e2e_wait 25 chat_open; then
	ok "(3) d holds a TCP connection to [b]:8081, an echo every 0.5 s ($(cat "$ST"))"
	acc0=$(accepts)
	check "(3) d: path to b is relayed while UDP is blocked ($(path_shown d "$B"))" \
		e2e_wait 15 e2e_peer_path_is d "$B" relayed
	check "(3) d: relay_tx_packets > 0 ($(ctr d relay_tx_packets))" gt0 "$(ctr d relay_tx_packets)"
	n0=$(chat_n)
	check "(3) the connection exchanges data over the relay ($n0 -> ...)" e2e_wait 5 chat_more $((n0 + 4))
	sleep 2   # a few more punch attempts fail before the block goes
	check "(3) natD: UDP to/from natB unblocked" e2e_nat_unblock natD
	t0=$(e2e_now)
	if e2e_wait "$UPGRADE_S" e2e_peer_path_is d "$B" punched; then
		ok "(3) d: path to b upgraded to punched $(e2e_elapsed "$t0")s after the unblock ($(path_shown d "$B"))"
	else
		not_ok "(3) d: path to b upgraded to punched within ${UPGRADE_S}s of the unblock ($(path_shown d "$B"))"
	fi
	check "(3) b: path to d is punched ($(path_shown b "$D"))" e2e_wait 10 e2e_peer_path_is b "$D" punched
	n1=$(chat_n)
	check "(3) the same TCP connection still exchanges data after the upgrade ($n1 -> $(($n1 + 6)) echoes; $(cat "$ST"))" \
		e2e_wait 10 chat_more $((n1 + 6))
	read -r _ _ _ gap <"$ST" 2>/dev/null
	info "(3) longest pause between two echoes on the connection: ${gap}s"
	check "(3) ... on the same connection: b's server accepted no other ($acc0 -> $(accepts) accepts)" \
		eval '[ "$(accepts)" = "$acc0" ] && grep -qs "^ok" "$ST"'
	e2e_stop_pids "$CHAT"
else
	not_ok "(3) d holds a TCP connection to [b]:8081 within 25 s ($(cat "$ST" 2>/dev/null); path $(path_shown d "$B"))"
	e2e_nat_unblock natD
fi

# ------------------------------------------------------------ (4) natA changes address mid-transfer
WWW=$E2E_WORK/b/www
mkdir -p "$WWW"
head -c $((40 * 1024 * 1024)) /dev/urandom >"$WWW/big.bin"
SUM=$(sha256sum <"$WWW/big.bin" | cut -d' ' -f1)
e2e_bg "${HOST_NS[b]}" "$E2E_WORK/httpd.log" timeout "$E2E_TIMEOUT" "$PY" -m http.server 8090 --bind :: --directory "$WWW"
e2e_add_log http.server "$E2E_WORK/httpd.log"
e2e_wait 5 e2e_tcp_open "${HOST_NS[b]}" ::1 8090 || fatal "(4) http.server on b [::]:8090"
[ "$AB_OK" = 1 ] || info "(4) a -> b did not work in (1); trying anyway"
e2e_peer_path_is a "$B" punched || info "(4) a -> b is not punched before the transfer ($(path_shown a "$B"))"
OUT=$E2E_WORK/a/big.bin
rm -f "$OUT"
e2e_bg "${HOST_NS[a]}" "$E2E_WORK/curl4.log" curl -6 -sS --max-time 90 --limit-rate 2500k -o "$OUT" \
	"http://[${NODE_IP6[b]}]:8090/big.bin"
CURL=$LASTPID
t0=$(e2e_now)
sz() { stat -c %s "$OUT" 2>/dev/null || echo 0; }
if e2e_wait 30 eval '[ "$(sz)" -ge $((10 * 1024 * 1024)) ]'; then
	info "(4) $(($(sz) / 1048576)) MB of 40 received; natA: add 198.18.0.21, snat to it, conntrack -F"
	t0=$(e2e_now)
	ip -n "${HOST_NS[natA]}" addr add 198.18.0.21/24 dev eth0 &&
		e2e_nat_mode natA snat:198.18.0.21 && e2e_nat_flush natA
	check "(4) natA now maps a to 198.18.0.21" \
		eval 'ip netns exec "${HOST_NS[natA]}" nft list chain ip nat post | grep -q "snat to 198.18.0.21"'
else
	not_ok "(4) the download b -> a got under way (10 MB within 30 s; $(sz) bytes)"
fi
prev=-1 still=0
for _ in $(seq 95); do   # until curl ends (max-time 90); give up after 30 s without progress
	e2e_alive "$CURL" || break
	cur=$(sz)
	if [ "$cur" = "$prev" ]; then still=$((still + 1)); else still=0 prev=$cur; fi
	[ "$still" -ge 30 ] && { info "(4) no progress for 30 s: stopping curl"; break; }
	sleep 1
done
if e2e_alive "$CURL"; then
	e2e_stop_pids "$CURL"; rc=stalled
else
	wait "$CURL"; rc=$?
	e2e_stop_pids "$CURL"
fi
info "(4) curl: exit $rc, $(sz) bytes, $(e2e_elapsed "$t0")s after the change; $(head -c 200 "$E2E_WORK/curl4.log")"
check "(4) the download survived the NAT change (curl exit $rc)" [ "$rc" = 0 ]
check "(4) ... all 40 MB, sha256 intact" eval '[ "$(sha256sum <"$OUT" | cut -d" " -f1)" = "$SUM" ]'
info "(4) after the change: a sees b $(path_shown a "$B"); b sees a $(path_shown b "$A"); a's reflexive $(beacon a reflexive)"
check "(4) a <-> b still works after the change (curl b -> a)" \
	e2e_curl_until 15 b a 8080 /after-nat-change "$E2E_WORK/4b.html"

# ------------------------------------------------------------ (5) spoofed beacon frames
check "(5) trust e <-> b" e2e_establish_trust e b || info "(5) trust failed"
e2e_curl_until 20 e b 8080 /e-to-b "$E2E_WORK/5a.html"
check "(5) curl e -> b" grep -qs "$MARK" "$E2E_WORK/5a.html"
sleep 2   # let the path settle
p0=$(e2e_peer e "$B" path) ep0=$(e2e_peer e "$B" endpoint)
info "(5) e sees b: $p0 $ep0"
nt evil frames --node-id "$E" >"$E2E_WORK/frames.hex"
NF=$(grep -c . "$E2E_WORK/frames.hex")
E_EP=${HOST_IP[e]}:$NODE_PORT
e2e_counters e "$E2E_WORK/ctr5.0"
out=$(ip netns exec "${HOST_NS[evil]}" "$PY" "$E2E_HELPER" udp-send --dst "$E_EP" \
	--hexfile "$E2E_WORK/frames.hex" --count 2)
sleep 1
e2e_counters e "$E2E_WORK/ctr5.1"
dl=$(e2e_counter_delta "$E2E_WORK/ctr5.0" "$E2E_WORK/ctr5.1" rx_dropped_beacon)
info "(5) evil -> $E_EP: $out; counters moved: $(e2e_counter_deltas "$E2E_WORK/ctr5.0" "$E2E_WORK/ctr5.1")"
check "(5) $((NF * 2)) junk beacon frames (types 0x11/0x13/0x15, 52/56/100 bytes) from evil: rx_dropped_beacon +$dl" \
	eval '[ "$dl" != NA ] && [ "$dl" -ge $((NF * 2)) ]'
out=$(ip netns exec "${HOST_NS[evil]}" "$PY" "$E2E_HELPER" udp-send --dst "$E_EP" --raw \
	--src "$RDV_IP" --sport 9001 --hexfile "$E2E_WORK/frames.hex" --count 1)
sleep 1
e2e_counters e "$E2E_WORK/ctr5.2"
dl=$(e2e_counter_delta "$E2E_WORK/ctr5.1" "$E2E_WORK/ctr5.2" rx_dropped_beacon)
info "(5) evil as $BEACON (raw socket) -> $E_EP: $out; counters moved: $(e2e_counter_deltas "$E2E_WORK/ctr5.1" "$E2E_WORK/ctr5.2")"
check "(5) $NF frames with the beacon's source address but a bad MAC: rx_dropped_beacon +$dl" \
	eval '[ "$dl" != NA ] && [ "$dl" -ge "$NF" ]'
check "(5) e's path to b unchanged ($p0 -> $(e2e_peer e "$B" path))" eval '[ "$(e2e_peer e "$B" path)" = "$p0" ]'
check "(5) e's endpoint for b unchanged ($ep0 -> $(e2e_peer e "$B" endpoint))" \
	eval '[ "$(e2e_peer e "$B" endpoint)" = "$ep0" ]'
check "(5) e: beacon still ok ($(beacon e state))" beacon_ok e
rm -f "$E2E_WORK/5b.html"
e2e_curl e b 8080 /after-spoof "$E2E_WORK/5b.html" 5
check "(5) curl e -> b still works" grep -qs "$MARK" "$E2E_WORK/5b.html"

# ------------------------------------------------------------ (7) idle mappings held
# The routers forget a UDP mapping after 30 s of silence.  a and b stay
# idle for 70 s: pilotd's keepalives (25 s on a path used in the last
# 3 minutes, and the BIND to the beacon) must hold both NATs' mappings, so
# the next connection needs no new punch.
e2e_counters a "$E2E_WORK/ctr7a.0"
e2e_counters b "$E2E_WORK/ctr7b.0"
ep7=$(e2e_peer a "$B" endpoint)
info "(7) a <-> b idle for 70 s behind NATs with 30 s UDP timeouts"
sleep 70
t7=$(e2e_now)
rm -f "$E2E_WORK/7.html"
e2e_curl a b 8080 /after-idle "$E2E_WORK/7.html" 10
el7=$(e2e_elapsed "$t7")
check "(7) curl a -> b after 70 s idle (${el7}s)" grep -qs "$MARK" "$E2E_WORK/7.html"
e2e_counters a "$E2E_WORK/ctr7a.1"
e2e_counters b "$E2E_WORK/ctr7b.1"
pa=$(e2e_counter_delta "$E2E_WORK/ctr7a.0" "$E2E_WORK/ctr7a.1" punch_requests_sent)
pb=$(e2e_counter_delta "$E2E_WORK/ctr7b.0" "$E2E_WORK/ctr7b.1" punch_requests_sent)
# (a's only peer is b; b also punches towards its relayed peer c.)
check "(7) no new punch was needed (punch_requests_sent +$pa on a; b: +$pb, its relayed peer c included)" \
	eval '[ "$pa" = 0 ]'
check "(7) a's path to b unchanged ($ep7 -> $(path_shown a "$B"))" \
	eval 'e2e_peer_path_is a "$B" punched && [ "$(e2e_peer a "$B" endpoint)" = "$ep7" ]'
check "(7) a: beacon binding held ($(beacon a state))" beacon_ok a

# ------------------------------------------------------------ (6) the beacon on its own
# The registry and the beacon as two processes on one state dir (serve:
# registry / serve: beacon).  The stopped beacon saved its bindings, the new
# process takes them over, so the relayed pair c <-> b carries on at once
# (without them: until the idle side's next BIND, up to 25 s).
check "(6) pilot-rendezvous (registry and beacon) still running before the split" e2e_alive "$RDV_PID"
e2e_stop_pids "$RDV_PID"
RD=$E2E_WORK/rdv
e2e_bg "${HOST_NS[rdv]}" "$RD/registry-only.log" "$RDV" --listen "$RDV_IP:$RDV_PORT" \
	--state-dir "$RD/state" --serve registry --beacon-listen "$BEACON" --log-level debug
REG_PID=$LASTPID
e2e_add_log registry-only "$RD/registry-only.log"
e2e_bg "${HOST_NS[rdv]}" "$RD/beacon-only.log" "$RDV" --state-dir "$RD/state" --serve beacon \
	--beacon-listen "$BEACON" --log-level debug
BCN_PID=$LASTPID
e2e_add_log beacon-only "$RD/beacon-only.log"
check "(6) the registry-only process answers on TCP $RDV_PORT" \
	e2e_wait 10 e2e_tcp_open "${HOST_NS[rdv]}" "$RDV_IP" "$RDV_PORT"
check "(6) the beacon-only process is up" e2e_wait 5 grep -qs "beacon only" "$RD/beacon-only.log"
kept=$(sed -n 's/.*beacon: \([0-9]*\) bindings kept from the last run.*/\1/p' "$RD/beacon-only.log" | tail -n 1)
check "(6) the beacon-only process took over the bindings the stopped beacon saved (${kept:-0})" \
	eval '[ "${kept:-0}" -ge 5 ]'
udp_owner() { ip netns exec "${HOST_NS[rdv]}" ss -Huanp "sport = :9001" 2>/dev/null | grep -o 'pid=[0-9]*' | sort -u; }
check "(6) UDP 9001 belongs to the beacon-only process ($(udp_owner | tr '\n' ' '))" \
	eval '[ "$(udp_owner)" = "pid=$BCN_PID" ]'
e2e_counters c "$E2E_WORK/ctr6.0"
rm -f "$E2E_WORK/6.html"
check "(6) curl c -> b works again through the beacon-only process (within 10 s)" \
	e2e_curl_until 10 c b 8080 /split "$E2E_WORK/6.html"
check "(6) c: path to b is relayed ($(path_shown c "$B"))" e2e_peer_path_is c "$B" relayed
e2e_counters c "$E2E_WORK/ctr6.1"
dr=$(e2e_counter_delta "$E2E_WORK/ctr6.0" "$E2E_WORK/ctr6.1" relay_rx_packets)
check "(6) c received through the new beacon process (relay_rx_packets +$dr)" eval '[ "$dr" != NA ] && [ "$dr" -gt 0 ]'

# A beacon that crashes saves nothing: nodes with relayed peers bind again
# every 10 s, so the relayed pair is back within about that.
kill -KILL "$BCN_PID" 2>/dev/null
e2e_stop_pids "$BCN_PID"
rm -f "$RD/state/beacon.bindings" # as if no clean stop had ever saved them
e2e_bg "${HOST_NS[rdv]}" "$RD/beacon-only.log" "$RDV" --state-dir "$RD/state" --serve beacon \
	--beacon-listen "$BEACON" --log-level debug
BCN_PID=$LASTPID
t6=$(e2e_now)
rm -f "$E2E_WORK/6b.html"
if e2e_curl_until 20 c b 8080 /after-crash "$E2E_WORK/6b.html"; then
	ok "(6) after kill -9 and a restart of the beacon, curl c -> b works again ($(e2e_elapsed "$t6")s)"
else
	not_ok "(6) after kill -9 and a restart of the beacon, curl c -> b works again within 20 s"
fi

# ------------------------------------------------------------ (8) a relay reaches nobody who would refuse
# f: a public host (no NAT) running pilotd with an identity the test made
# (pilot-bcnsend --gen-key, imported with --identity), trusted by nobody.
# With f's key, pilot-bcnsend binds at the beacon as f and sends RELAY
# frames to b, each carrying a genuine Noise IK initiation for b's key.
# The beacon relays only between nodes that see each other (both ways);
# b answers only peers it trusts or shares a network with.  b's
# handshake_rejected_peer counts an initiation from f that reaches it: no
# legitimate peer of b moves it, so it is exact even while b's real peers
# (rekeys, the relayed c) move the other counters.
BCNSEND=${BCNSEND:-$(dirname "$PILOTCTL")/tests/tools/pilot-bcnsend}
BKEY=$E2E_WORK/rdv/state/beacon.key
K8=8
if [ -x "$BCNSEND" ]; then
	e2e_host f 32
	e2e_underlay_ping f "$RDV_IP" || not_ok "(8) f (198.18.0.32) reaches the rendezvous"
	FKEY=$E2E_WORK/f.identity
	FPK=$("$BCNSEND" --gen-key "$FKEY")
	check "(8) pilot-bcnsend --gen-key: identity file 0600, public key ${FPK:-none}" \
		eval '[ -n "$FPK" ] && [ "$(stat -c %a "$FKEY")" = 600 ]'
	PILOTD_EXTRA_ARGS="$PILOTD_ARGS_BEACON --identity $FKEY"
	e2e_start_node f node-f || not_ok "(8) pilotd f ready within ${E2E_READY_S}s"
	PILOTD_EXTRA_ARGS=$PILOTD_ARGS_BEACON
	F=${NODE_ID[f]}
	check "(8) f runs with the imported identity (public_key $FPK)" \
		eval '[ "$(pctl f info | jget data.public_key)" = "$FPK" ]'
	check "(8) f: beacon state ok ($(beacon f state))" e2e_wait 10 beacon_ok f
	check "(8) b: beacon state ok ($(beacon b state))" e2e_wait 10 beacon_ok b
	BPK=$(pctl b info | jget data.public_key)
	# bcn8 TAG: K8 relayed initiations f -> b; b's counters around it in
	# ctr8TAG.0/.1; the tool's output in $out8, its summary in $res8
	bcn8() {
		e2e_counters b "$E2E_WORK/ctr8$1.0"
		out8=$(ip netns exec "${HOST_NS[f]}" timeout 10 "$BCNSEND" --identity "$FKEY" \
			--node-id "$F" --beacon "$BEACON" --beacon-keyfile "$BKEY" --target-id "$B" \
			--target-pk "$BPK" --what relay-init --count "$K8" 2>&1)
		res8=$(tail -n 1 <<<"$out8")
		sleep 0.5
		e2e_counters b "$E2E_WORK/ctr8$1.1"
		info "(8$1) pilot-bcnsend: $(tr '\n' ' ' <<<"$out8"); b's counters moved: $(e2e_counter_deltas "$E2E_WORK/ctr8$1.0" "$E2E_WORK/ctr8$1.1")"
	}
	d8() { e2e_counter_delta "$E2E_WORK/ctr8$1.0" "$E2E_WORK/ctr8$1.1" "$2"; }
	r8() { jget "$1" <<<"$res8" 2>/dev/null; }
	no_f_peer() { ! pctl_has b peers 'data.peers[].node_id' "$F"; }
	sent_ok() { [ "$(r8 bound)" = true ] && [ "$(r8 sent)" = "$K8" ] && [ "$(r8 received)" = 0 ]; }
	vis() { pctl_ok "$1" "set-$2" && [ "$(jget data.visibility <<<"$PCTL_OUT")" = "$2" ]; }

	# (8a) f and b private: the beacon denies the pair
	bcn8 a
	check "(8a) the tool bound as f (BIND_OK MAC checked), sent $K8 relayed initiations, got nothing back ($res8)" sent_ok
	rej=$(d8 a handshake_rejected_peer) rr=$(d8 a relay_rx_packets)
	check "(8a) f and b private: nothing reached b (handshake_rejected_peer +$rej)" eval '[ "$rej" = 0 ]'
	check "(8a) ... b's relay_rx_packets did not take the $K8 frames (+$rr: its relayed peer c only)" \
		eval '[ "$rr" != NA ] && [ "$rr" -lt "$K8" ]'
	check "(8a) b has no peer entry for f" no_f_peer

	# (8a') b public, f still private: still denied (checked both ways)
	check "(8a') b: set-public" vis b public
	sleep 2.5 # the beacon caches a pair's visibility for 2 s
	bcn8 a2
	check "(8a') the tool bound as f and got nothing back ($res8)" sent_ok
	rej=$(d8 a2 handshake_rejected_peer) rr=$(d8 a2 relay_rx_packets)
	check "(8a') b public, f private: still nothing reached b (handshake_rejected_peer +$rej)" \
		eval '[ "$rej" = 0 ]'
	check "(8a') ... b's relay_rx_packets did not take the $K8 frames (+$rr)" \
		eval '[ "$rr" != NA ] && [ "$rr" -lt "$K8" ]'

	# (8b) both public: the beacon relays, b refuses every initiation
	check "(8b) f: set-public" vis f public
	sleep 2.5
	bcn8 b
	rej=$(d8 b handshake_rejected_peer) rr=$(d8 b relay_rx_packets) ini=$(d8 b handshake_init_rx)
	check "(8b) f and b public: the beacon relayed all $K8 initiations to b (relay_rx_packets +$rr)" \
		eval '[ "$rr" != NA ] && [ "$rr" -ge "$K8" ]'
	check "(8b) ... and refused each one: f is neither trusted nor in a shared network (handshake_rejected_peer +$rej)" \
		eval '[ "$rej" = "$K8" ]'
	# b's real peers (its rekeys, the relayed c) may move handshake_init_rx
	# meanwhile; f's 8 would move it by 8.
	check "(8b) ... before any DH: the beacon named f as the sender (handshake_init_rx +$ini < $K8)" \
		eval '[ "$ini" != NA ] && [ "$ini" -lt "$K8" ]'
	check "(8b) no answer came back through the relay ($res8)" sent_ok
	check "(8b) b has no peer entry or session for f" no_f_peer
	check "(8b) b: set-private again" vis b private

	# (8c) f trusted by b: its relayed handshakes get a DH, 10 a second
	# (burst 10), whatever it sends: 40 at once are mostly refused.
	if e2e_establish_trust f b; then
		ok "(8c) trust f <-> b"
		K8=40
		bcn8 c
		K8=8
		ini=$(d8 c handshake_init_rx) lim=$(d8 c handshake_rate_limited) rej=$(d8 c handshake_rejected_peer)
		check "(8c) the beacon relayed f's 40 initiations (relay_rx_packets +$(d8 c relay_rx_packets))" \
			eval '[ "$(d8 c relay_rx_packets)" -ge 40 ]'
		check "(8c) b took at most 15 of a trusted relayer's 40 at once (handshake_init_rx +$ini)" \
			eval '[ "$ini" != NA ] && [ "$ini" -ge 1 ] && [ "$ini" -le 15 ]'
		check "(8c) ... and refused the rest before any DH (handshake_rate_limited +$lim)" \
			eval '[ "$lim" != NA ] && [ "$lim" -ge 25 ]'
		check "(8c) ... none refused as a stranger (handshake_rejected_peer +$rej)" eval '[ "$rej" = 0 ]'
	else
		not_ok "(8c) trust f <-> b"
	fi
	check "(8) pilotd f still running" e2e_alive "${NODE_PID[f]}"
else
	not_ok "(8) pilot-bcnsend test tool built ($BCNSEND)"
fi

check "all pilotd still running" eval 'for n in a b c d e; do e2e_alive "${NODE_PID[$n]}" || exit 1; done'
check "the registry-only and beacon-only processes still running" \
	eval 'e2e_alive "$REG_PID" && e2e_alive "$BCN_PID"'
e2e_finish
