#!/bin/sh
# many_flows.sh - 10,000 concurrent TCP flows through one node (issue 19,
# load).  B opens FLOWS connections to A over the overlay (two ports, under
# A's per-port flow cap of 8192), all open at once, and sends each a
# distinct 8-byte token; an epoll echo server on A answers every one.  All
# echoes must come back right, A's `status` must count the flows, and once
# B closes them all A's flow table must empty again (FIN tracking) within
# the bound.  A runs with syn_rate_per_peer raised (the default 200/s would
# take 50 s to admit them): the point here is the flow table, not the SYN
# meter (syn_flood.sh).
# Needs root; exit 77 (skip) otherwise.  See lib.sh for the topology.
[ -z "${BASH_VERSION:-}" ] && { command -v bash >/dev/null 2>&1 || { echo "SKIP: no bash"; exit 77; }; exec bash "$0" "$@"; }
. "$(dirname "$0")/lib.sh"

e2e_init
e2e_require
FLOWS=${FLOWS:-10000}
e2e_lan a b
PILOTD_EXTRA_ARGS="--syn-rate-per-peer 20000 --syn-rate 20000"
e2e_start_node a alice || fatal "pilotd alice ready"
PILOTD_EXTRA_ARGS=
e2e_start_node b bob || fatal "pilotd bob ready"
e2e_establish_trust b a || fatal "trust B <-> A"
A6=${NODE_IP6[a]}

cat >"$E2E_WORK/echo.py" <<'PY'
import resource, selectors, socket, sys
_h = resource.getrlimit(resource.RLIMIT_NOFILE)[1]; resource.setrlimit(resource.RLIMIT_NOFILE, (_h, _h))
sel = selectors.DefaultSelector()
for port in (8000, 8001):
    ls = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("::", port))
    ls.listen(4096)
    ls.setblocking(False)
    sel.register(ls, selectors.EVENT_READ, None)
print("listening", flush=True)
while True:
    for key, _ in sel.select():
        if key.data is None:
            try:
                c, _ = key.fileobj.accept()
            except BlockingIOError:
                continue
            c.setblocking(False)
            sel.register(c, selectors.EVENT_READ, 1)
        else:
            try:
                d = key.fileobj.recv(64)
            except BlockingIOError:
                d = None
            except ConnectionError:
                d = b""
            if d:
                key.fileobj.send(d)
            elif d is not None:
                sel.unregister(key.fileobj)
                key.fileobj.close()
PY
e2e_bg "${HOST_NS[a]}" "$E2E_WORK/echo.log" "$PY" "$E2E_WORK/echo.py"
e2e_wait 5 grep -q listening "$E2E_WORK/echo.log" || fatal "echo server on A"
e2e_wait 10 e2e_tcp_open "${HOST_NS[b]}" "$A6" 8000 || fatal "B reaches A:8000"

cat >"$E2E_WORK/many.py" <<'PY'
import json, resource, selectors, socket, sys, time
_h = resource.getrlimit(resource.RLIMIT_NOFILE)[1]; resource.setrlimit(resource.RLIMIT_NOFILE, (_h, _h))
host, n, hold = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
sel = selectors.DefaultSelector()
socks, want, got, bad = [], {}, 0, 0
t0 = time.monotonic()
for i in range(n):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setblocking(False)
    try:
        s.connect((host, 8000 + (i % 2)))
    except BlockingIOError:
        pass
    tok = b"%08d" % i
    want[s.fileno()] = tok
    sel.register(s, selectors.EVENT_WRITE, tok)
    socks.append(s)
    if i % 500 == 499:   # pace the SYNs a little: 500 per 20 ms
        time.sleep(0.02)
deadline = time.monotonic() + 60
pending = n
while pending and time.monotonic() < deadline:
    for key, ev in sel.select(timeout=1):
        s = key.fileobj
        if ev & selectors.EVENT_WRITE:
            if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                bad += 1; pending -= 1; sel.unregister(s); continue
            s.send(key.data)
            sel.modify(s, selectors.EVENT_READ, key.data)
        else:
            try:
                d = s.recv(64)
            except OSError:
                d = b""
            if d == key.data:
                got += 1
            else:
                bad += 1
            pending -= 1
            sel.unregister(s)
t_all = time.monotonic() - t0
print(json.dumps({"echoed": got, "bad": bad, "missing": pending, "seconds": round(t_all, 2)}), flush=True)
open(sys.argv[4], "w").write("open\n")
time.sleep(hold)  # all open: the test reads A's flow count now
for s in socks:
    s.close()
print("closed", flush=True)
PY
e2e_bg "${HOST_NS[b]}" "$E2E_WORK/many.out" "$PY" "$E2E_WORK/many.py" "$A6" "$FLOWS" 5 "$E2E_WORK/open"
MANY=$LASTPID
e2e_wait 90 test -e "$E2E_WORK/open" || fatal "B's $FLOWS connections settled within 90 s ($(cat "$E2E_WORK/many.out"))"
res=$(head -n 1 "$E2E_WORK/many.out")
info "B: $res"
flows=$(pctl a status | jget data.flows)
check "all $FLOWS connections echoed their token ($res)" \
	eval '[ "$(jget echoed <<<"$res")" = "$FLOWS" ] && [ "$(jget bad <<<"$res")" = 0 ]'
check "A's status counts them all open at once (flows $flows >= $FLOWS)" eval '[ "${flows:-0}" -ge "$FLOWS" ]'
e2e_wait 15 grep -q closed "$E2E_WORK/many.out"
check "A's flow table empties once B closed them (within 30 s)" \
	e2e_wait 30 eval '[ "$(pctl a status | jget data.flows)" -lt 50 ]'
info "A's flows after the close: $(pctl a status | jget data.flows)"
check "A's pilotd survived" e2e_alive "${NODE_PID[a]}"
e2e_finish
