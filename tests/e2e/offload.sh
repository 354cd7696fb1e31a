#!/bin/sh
# offload.sh - end-to-end: TUN offloads (IFF_VNET_HDR + TSO6, issue 17)
# deliver byte-exact data, and so do both fallbacks.  Three pairs of
# nodes over one rendezvous, each pair trusted:
#   (1) a1 <-> b1: both with offload (the default)
#   (2) a2 <-> b2: both with --offload=false
#   (3) a3 <-> b3: a3 with offload, b3 with --offload=false
#   (4) a4 <-> b4: the run-time fallbacks forced one by one:
#       a4 with PILOT_OFFLOAD_DISABLE=udp_gso,udp_gro (TSO, one send and
#       one receive per record), b4 with PILOT_OFFLOAD_DISABLE=tso (vnet
#       header but no TSO, as a kernel refusing TSO leaves it; UDP GSO/GRO)
# For each pair, both ways: 64 MiB of random data over TCP (sha256 compared
# at the receiver), 20 UDP datagrams of 1200 bytes echoed back byte-exact,
# and a ping.  Counters (pilotctl status data.counters): with offload the
# sender read super-packets from pilot0 (tun_rx_super, tun_rx_segments) and
# the receiver wrote coalesced ones (tun_tx_super, tun_tx_coalesced); with
# offload off every one of them stays 0; tun_rx_bad_offload stays 0
# everywhere.  `ip -d link` shows vnet_hdr on exactly where offload is.
# UDP offloads: with them, the sender's batches leave as UDP GSO sends
# (udp_tx_gso_sends) and the receiver takes runs of records in one receive
# (udp_rx_gro); status data.tun.offload names what each node has.  An
# unknown word in PILOT_OFFLOAD_DISABLE stops pilotd with its name.
# Pair (1) also carries 8 MiB to a receiver that advertises MSS 536: the
# kernel's super-packets then hold more than 64 segments, and every one
# must still go through (sha256 compared, no tun_rx_bad_offload).
# Needs root; exit 77 (skip) otherwise.  See lib.sh for the topology.
[ -z "${BASH_VERSION:-}" ] && { command -v bash >/dev/null 2>&1 || { echo "SKIP: no bash"; exit 77; }; exec bash "$0" "$@"; }
E2E_TIMEOUT=${E2E_TIMEOUT:-300}
. "$(dirname "$0")/lib.sh"

e2e_init
e2e_require ping sha256sum head
BULK_MIB=${BULK_MIB:-64}
SMALL_MIB=${SMALL_MIB:-8}   # the small-MSS transfer
XFER_S=${XFER_S:-90}   # one bulk transfer may take this long at the most
CTRS="tun_rx_super tun_rx_segments tun_tx_super tun_tx_coalesced tun_rx_bad_offload udp_tx_gso_sends udp_rx_gro"

# ------------------------------------------------------------ helpers
X=$E2E_WORK/xfer.py
cat >"$X" <<'EOF'
# xfer.py MODE ...: bulk TCP and UDP echo over the overlay, bounded in time.
import hashlib, json, os, socket, sys, time

mode, a = sys.argv[1], sys.argv[2:]
if mode == "tcp-recv":  # PORT READY OUT TIMEOUT [MSS]: one connection, its sha256
    port, ready, out, to = int(a[0]), a[1], a[2], float(a[3])
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if len(a) > 4:  # the MSS the SYN-ACK advertises
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, int(a[4]))
    s.bind(("::", port)); s.listen(1); s.settimeout(to)
    open(ready, "w").close()
    c, _ = s.accept(); c.settimeout(to)
    h, n, t0 = hashlib.sha256(), 0, time.time()
    while True:
        b = c.recv(1 << 20)
        if not b:
            break
        h.update(b); n += len(b)
    r = {"bytes": n, "sha256": h.hexdigest(), "seconds": round(time.time() - t0, 3)}
    with open(out + ".tmp", "w") as f:
        json.dump(r, f)
    os.rename(out + ".tmp", out)
    c.close()
elif mode == "tcp-send":  # HOST PORT FILE TIMEOUT
    host, port, path, to = a[0], int(a[1]), a[2], float(a[3])
    c = socket.create_connection((host, port), timeout=to)
    n = 0
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            c.sendall(b); n += len(b)
    c.shutdown(socket.SHUT_WR)
    while c.recv(65536):
        pass
    print(json.dumps({"sent": n}))
elif mode == "udp-echo":  # PORT READY TIMEOUT: echo every datagram back
    port, ready, to = int(a[0]), a[1], float(a[2])
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.bind(("::", port)); s.settimeout(to)
    open(ready, "w").close()
    end = time.time() + to
    while time.time() < end:
        try:
            b, peer = s.recvfrom(65535)
        except socket.timeout:
            break
        s.sendto(b, peer)
elif mode == "udp-send":  # HOST PORT COUNT SIZE: each echoed back exactly
    host, port, count, size = a[0], int(a[1]), int(a[2]), int(a[3])
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.connect((host, port)); s.settimeout(1.0)
    good = bad = 0
    for i in range(count):
        d = i.to_bytes(4, "big") + os.urandom(size - 4)
        for _ in range(5):
            s.send(d)
            try:
                b = s.recv(65535)
            except (socket.timeout, ConnectionRefusedError):
                continue
            if b == d:
                good += 1
                break
            if b[:4] == d[:4]:
                bad += 1
    print(json.dumps({"count": count, "good": good, "bad": bad}))
    sys.exit(0 if good == count and bad == 0 else 1)
EOF

snap() { # NODE: "name=value ..." of the offload counters (NA if none)
	local c s="" out v
	out=$(pctl "$1" status 2>/dev/null) || out=""
	for c in $CTRS; do
		v=$(jget "data.counters.$c" <<<"$out" 2>/dev/null)
		s="$s $c=${v:-NA}"
	done
	echo "${s# }"
}
offl() { # NODE: "tso=.. udp_gso=.. udp_gro=.." from status data.tun.offload
	local out k s=""
	out=$(pctl "$1" status 2>/dev/null) || out=""
	for k in tso udp_gso udp_gro; do s="$s $k=$(jget "data.tun.offload.$k" <<<"$out" 2>/dev/null)"; done
	echo "${s# }"
}
val() { # "SNAPSHOT" NAME
	local kv
	for kv in $1; do [ "${kv%%=*}" = "$2" ] && { echo "${kv#*=}"; return; }; done
	echo NA
}
grew() { # "BEFORE" "AFTER" NAME: the counter went up
	local a b
	a=$(val "$1" "$3") b=$(val "$2" "$3")
	[ "$a" != NA ] && [ "$b" != NA ] && [ "$b" -gt "$a" ]
}
all_zero() { # "SNAPSHOT": every offload counter is 0
	local c
	for c in $CTRS; do [ "$(val "$1" "$c")" = 0 ] || return 1; done
}
vnet_hdr() { # NODE: on|off as ip -d link shows pilot0
	ip -n "${HOST_NS[$1]}" -d link show pilot0 2>/dev/null | grep -o 'vnet_hdr [a-z]*' | awk '{print $2}'
}

PORT=7000
bulk() { # FROM TO [FILE MSS]: the bulk file (or FILE) from FROM to TO, sha256
	# checked at TO; with MSS, the receiver advertises that MSS
	local f=$1 t=$2 file=${3:-$BULK} mss=${4:-} d=$E2E_WORK/xfer-$1-$2${4:+-mss$4} res sent
	local bytes sha what="$BULK_MIB MiB"
	PORT=$((PORT + 1))
	mkdir -p "$d"
	bytes=$(stat -c %s "$file") sha=$(sha256sum "$file" | awk '{print $1}')
	[ -n "$mss" ] && what="$((bytes / 1048576)) MiB with MSS $mss"
	e2e_bg "${HOST_NS[$t]}" "$d/recv.log" timeout "$((XFER_S + 10))" "$PY" "$X" tcp-recv "$PORT" \
		"$d/ready" "$d/result.json" "$XFER_S" $mss
	e2e_add_log "recv-$t" "$d/recv.log"
	e2e_wait 5 test -e "$d/ready" || { not_ok "$f -> $t: receiver listening on [::]:$PORT"; return 1; }
	sent=$(ip netns exec "${HOST_NS[$f]}" timeout "$XFER_S" "$PY" "$X" tcp-send "${NODE_IP6[$t]}" \
		"$PORT" "$file" "$XFER_S" 2>"$d/send.err")
	e2e_wait 10 test -e "$d/result.json"
	res=$(cat "$d/result.json" 2>/dev/null)
	info "$f -> $t: sender ${sent:-failed: $(head -c 200 "$d/send.err")}; receiver ${res:-none}"
	XFER_SECONDS=$(jget seconds <<<"$res" 2>/dev/null)
	check "$f -> $t: $what over TCP arrive whole ($(jget bytes <<<"$res" 2>/dev/null) bytes in ${XFER_SECONDS}s)" \
		[ "$(jget bytes <<<"$res" 2>/dev/null)" = "$bytes" ]
	check "$f -> $t: sha256 at the receiver matches" [ "$(jget sha256 <<<"$res" 2>/dev/null)" = "$sha" ]
}
udp() { # FROM TO: 20 datagrams of 1200 bytes, each echoed back byte-exact
	local f=$1 t=$2 d=$E2E_WORK/udp-$1-$2 res
	PORT=$((PORT + 1))
	mkdir -p "$d"
	e2e_bg "${HOST_NS[$t]}" "$d/echo.log" timeout 40 "$PY" "$X" udp-echo "$PORT" "$d/ready" 30
	e2e_wait 5 test -e "$d/ready" || { not_ok "$f -> $t: UDP echo on [::]:$PORT"; return 1; }
	res=$(ip netns exec "${HOST_NS[$f]}" timeout 60 "$PY" "$X" udp-send "${NODE_IP6[$t]}" "$PORT" 20 1200 2>&1)
	check "$f -> $t: 20 UDP datagrams of 1200 bytes echoed back byte-exact ($res)" \
		[ "$(jget good <<<"$res" 2>/dev/null)" = 20 ]
	e2e_stop_pids "$LASTPID"
}
ping6() { # FROM TO
	local out
	out=$(ip netns exec "${HOST_NS[$1]}" ping -6 -c 3 -i 0.2 -W 2 "${NODE_IP6[$2]}" 2>&1)
	check "$1 -> $2: ping -6 ($(echo "$out" | grep -o '[0-9]* received'))" \
		eval 'echo "$out" | grep -q " 3 received"'
}

# ------------------------------------------------------------ setup
e2e_underlay
e2e_host rdv 1
i=2
for n in a1 b1 a2 b2 a3 b3 a4 b4; do e2e_host "$n" "$i"; i=$((i + 1)); done
e2e_underlay_ping b4 "$RDV_IP" || fatal "underlay: the namespaces reach each other"
ok "underlay: bridge + 9 namespaces (198.18.0.1-9)"
e2e_start_rdv
BULK=$E2E_WORK/bulk.bin
head -c "$((BULK_MIB * 1048576))" /dev/urandom >"$BULK" || fatal "make $BULK_MIB MiB of random data"
BULK_BYTES=$(stat -c %s "$BULK")
BULK_SHA=$(sha256sum "$BULK" | awk '{print $1}')
info "bulk file: $BULK_BYTES bytes, sha256 $BULK_SHA"

# A word pilotd does not know stops it at start, naming the word.
bad_out=$(ip netns exec "${HOST_NS[a4]}" timeout 20 env PILOT_OFFLOAD_DISABLE=tso,bogus "$PILOTD" \
	--registry "$RDV_IP:$RDV_PORT" --registry-pin "$RDV_PIN" --state-dir "$E2E_WORK/bad-state" \
	--socket "$E2E_WORK/bad.sock" --listen-port "$NODE_PORT" --tun pilot0 --hostname bad 2>&1)
bad_rc=$?
check "PILOT_OFFLOAD_DISABLE=tso,bogus: pilotd exits non-zero (rc $bad_rc)" \
	eval '[ "$bad_rc" != 0 ] && [ "$bad_rc" != 124 ]'
check "... and says which word ($(echo "$bad_out" | grep -m1 -o "unknown offload[^(]*"))" \
	eval 'echo "$bad_out" | grep -q "unknown offload .bogus."'

declare -A OFFLOAD=([a1]=1 [b1]=1 [a2]=0 [b2]=0 [a3]=1 [b3]=0 [a4]=1 [b4]=1)
for n in a1 b1 a2 b2 a3 b3; do
	if [ "${OFFLOAD[$n]}" = 1 ]; then
		e2e_start_node "$n" "host-$n" || fatal "pilotd $n (offload) ready"
	else
		PILOTD_EXTRA_ARGS=--offload=false e2e_start_node "$n" "host-$n" ||
			fatal "pilotd $n (--offload=false) ready"
	fi
done
PILOT_OFFLOAD_DISABLE=udp_gso,udp_gro e2e_start_node a4 host-a4 || fatal "pilotd a4 (no UDP offloads) ready"
PILOT_OFFLOAD_DISABLE=tso e2e_start_node b4 host-b4 || fatal "pilotd b4 (no TSO) ready"
ok "eight pilotd ready (a1 b1 a3 with offload; a2 b2 b3 with --offload=false; a4 b4 with one fallback each)"
declare -A WANT_OFFL=([a1]="tso=true udp_gso=true udp_gro=true" [b1]="tso=true udp_gso=true udp_gro=true"
	[a2]="tso=false udp_gso=false udp_gro=false" [b2]="tso=false udp_gso=false udp_gro=false"
	[a3]="tso=true udp_gso=true udp_gro=true" [b3]="tso=false udp_gso=false udp_gro=false"
	[a4]="tso=true udp_gso=false udp_gro=false" [b4]="tso=false udp_gso=true udp_gro=true")
for n in a1 b1 a2 b2 a3 b3 a4 b4; do
	got=$(offl "$n")
	check "$n: status data.tun.offload is $got" [ "$got" = "${WANT_OFFL[$n]}" ]
done
for n in a1 b1 a2 b2 a3 b3 a4 b4; do
	want=on
	[ "${OFFLOAD[$n]}" = 0 ] && want=off
	check "$n: ip -d link show pilot0 says vnet_hdr $want" [ "$(vnet_hdr "$n")" = "$want" ]
done
if command -v ethtool >/dev/null 2>&1; then
	for n in a1 a2; do
		info "$n: $(ip netns exec "${HOST_NS[$n]}" ethtool -k pilot0 2>/dev/null |
			grep -E 'tx-tcp6-segmentation|tx-checksumming' | tr -s ' \t\n' ' ')"
	done
fi
for p in 1 2 3 4; do
	e2e_establish_trust "b$p" "a$p" || fatal "pair $p: b$p and a$p trust each other"
done
ok "pairs a1/b1, a2/b2, a3/b3, a4/b4 trusted"

# pair PAIR: traffic both ways; snapshots before (S0), after a->b (S1), after b->a (S2)
pair() {
	local a=a$1 b=b$1
	S0a=$(snap "$a") S0b=$(snap "$b")
	bulk "$a" "$b"
	S1a=$(snap "$a") S1b=$(snap "$b")
	bulk "$b" "$a"
	S2a=$(snap "$a") S2b=$(snap "$b")
	udp "$a" "$b"
	udp "$b" "$a"
	ping6 "$a" "$b"
	ping6 "$b" "$a"
	info "$a counters: before $S0a | after $a->$b $S1a | after $b->$a $S2a"
	info "$b counters: before $S0b | after $a->$b $S1b | after $b->$a $S2b"
}

# ------------------------------------------------------------ (1) offload on both
pair 1
check "(1) a1 -> b1: a1 read super-packets from pilot0 (tun_rx_super $(val "$S0a" tun_rx_super) -> $(val "$S1a" tun_rx_super))" \
	grew "$S0a" "$S1a" tun_rx_super
check "(1) a1 -> b1: a1 cut them into segments (tun_rx_segments $(val "$S0a" tun_rx_segments) -> $(val "$S1a" tun_rx_segments))" \
	grew "$S0a" "$S1a" tun_rx_segments
check "(1) a1 -> b1: b1 wrote coalesced super-packets to pilot0 (tun_tx_super $(val "$S0b" tun_tx_super) -> $(val "$S1b" tun_tx_super))" \
	grew "$S0b" "$S1b" tun_tx_super
check "(1) b1 -> a1: b1 read super-packets (tun_rx_super $(val "$S1b" tun_rx_super) -> $(val "$S2b" tun_rx_super))" \
	grew "$S1b" "$S2b" tun_rx_super
check "(1) b1 -> a1: a1 wrote coalesced super-packets (tun_tx_super $(val "$S1a" tun_tx_super) -> $(val "$S2a" tun_tx_super))" \
	grew "$S1a" "$S2a" tun_tx_super
check "(1) more segments than super-packets on a1 ($(val "$S2a" tun_rx_segments) > $(val "$S2a" tun_rx_super))" \
	eval '[ "$(val "$S2a" tun_rx_segments)" -gt "$(val "$S2a" tun_rx_super)" ]'
check "(1) a1 -> b1: a1 sent UDP GSO batches (udp_tx_gso_sends $(val "$S0a" udp_tx_gso_sends) -> $(val "$S1a" udp_tx_gso_sends))" \
	grew "$S0a" "$S1a" udp_tx_gso_sends
check "(1) a1 -> b1: b1 took runs of records per receive (udp_rx_gro $(val "$S0b" udp_rx_gro) -> $(val "$S1b" udp_rx_gro))" \
	grew "$S0b" "$S1b" udp_rx_gro
check "(1) b1 -> a1: a1 took runs of records per receive (udp_rx_gro $(val "$S1a" udp_rx_gro) -> $(val "$S2a" udp_rx_gro))" \
	grew "$S1a" "$S2a" udp_rx_gro
check "(1) a1: no bad offload ($(val "$S2a" tun_rx_bad_offload))" [ "$(val "$S2a" tun_rx_bad_offload)" = 0 ]
check "(1) b1: no bad offload ($(val "$S2b" tun_rx_bad_offload))" [ "$(val "$S2b" tun_rx_bad_offload)" = 0 ]
# A small MSS (the receiver advertises 536): the kernel still builds
# super-packets of up to 64 KiB for pilot0, now of more than GSO_MAX_SEGS
# (64) segments; each must still be carried, none dropped as bad offload.
SMALL=$E2E_WORK/small.bin
head -c "$((SMALL_MIB * 1048576))" /dev/urandom >"$SMALL" || fatal "make $SMALL_MIB MiB of random data"
bulk a1 b1 "$SMALL" 536
S3a=$(snap a1)
info "a1 counters after the MSS 536 transfer: $S3a"
check "(1) MSS 536: a1 read super-packets ($(val "$S2a" tun_rx_super) -> $(val "$S3a" tun_rx_super))" \
	grew "$S2a" "$S3a" tun_rx_super
check "(1) MSS 536: a1 dropped none of them as bad offload (tun_rx_bad_offload $(val "$S2a" tun_rx_bad_offload) -> $(val "$S3a" tun_rx_bad_offload))" \
	[ "$(val "$S3a" tun_rx_bad_offload)" = "$(val "$S2a" tun_rx_bad_offload)" ]

# ------------------------------------------------------------ (2) offload off on both
pair 2
check "(2) a2: every offload counter 0 ($S2a)" all_zero "$S2a"
check "(2) b2: every offload counter 0 ($S2b)" all_zero "$S2b"

# ------------------------------------------------------------ (3) mixed
pair 3
check "(3) a3 -> b3: a3 (offload) read super-packets (tun_rx_super $(val "$S0a" tun_rx_super) -> $(val "$S1a" tun_rx_super))" \
	grew "$S0a" "$S1a" tun_rx_super
check "(3) b3 -> a3: a3 wrote coalesced super-packets (tun_tx_super $(val "$S1a" tun_tx_super) -> $(val "$S2a" tun_tx_super))" \
	grew "$S1a" "$S2a" tun_tx_super
check "(3) a3: no bad offload ($(val "$S2a" tun_rx_bad_offload))" [ "$(val "$S2a" tun_rx_bad_offload)" = 0 ]
check "(3) b3 (--offload=false): every offload counter 0 ($S2b)" all_zero "$S2b"
# ------------------------------------------------------------ (4) fallbacks forced
pair 4
check "(4) a4 -> b4: a4 (TSO) read super-packets (tun_rx_super $(val "$S0a" tun_rx_super) -> $(val "$S1a" tun_rx_super))" \
	grew "$S0a" "$S1a" tun_rx_super
check "(4) a4 (no UDP GSO): no GSO send ($(val "$S2a" udp_tx_gso_sends))" [ "$(val "$S2a" udp_tx_gso_sends)" = 0 ]
check "(4) a4 (no UDP GRO): no coalesced receive ($(val "$S2a" udp_rx_gro))" [ "$(val "$S2a" udp_rx_gro)" = 0 ]
check "(4) b4 (no TSO): no super-packet read or written ($(val "$S2b" tun_rx_super), $(val "$S2b" tun_tx_super))" \
	eval '[ "$(val "$S2b" tun_rx_super)" = 0 ] && [ "$(val "$S2b" tun_tx_super)" = 0 ]'
check "(4) b4 -> a4: b4 still batched its sends with UDP GSO (udp_tx_gso_sends $(val "$S1b" udp_tx_gso_sends) -> $(val "$S2b" udp_tx_gso_sends))" \
	grew "$S1b" "$S2b" udp_tx_gso_sends
check "(4) a4, b4: no bad offload ($(val "$S2a" tun_rx_bad_offload), $(val "$S2b" tun_rx_bad_offload))" \
	eval '[ "$(val "$S2a" tun_rx_bad_offload)" = 0 ] && [ "$(val "$S2b" tun_rx_bad_offload)" = 0 ]'
for n in a1 b1 a2 b2 a3 b3 a4 b4; do
	check "$n: pilotd still running" e2e_alive "${NODE_PID[$n]}"
done

e2e_finish
