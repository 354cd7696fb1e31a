#!/bin/sh
# layers.sh - the daemons' files stay layered (doc/ARCHITECTURE.md): in
# each of libpilotd.a, librdv.a and libpilot.a no circle of files calls
# one another (a file-level call graph from the objects' symbol tables;
# the registry's handlers, rdv_reg*.c, count as one module: one write
# transaction may touch several resources), and the data path (dp*.o)
# and the registry client (regc.o) call no pilotd_* module above them by
# name - they reach the daemon through the ops they are handed.  TAP
# output; needs the built libraries and nm(1).
set -u
BIN=${top_builddir:-.}
command -v nm >/dev/null 2>&1 || { echo "1..0 # SKIP no nm"; exit 0; }
exec python3 - "$BIN" <<'PY'
import os, subprocess, sys, collections

top = sys.argv[1]
libs = [("src/pilotd/libpilotd.a", "pilotd"), ("src/rendezvous/librdv.a", "rendezvous"),
        ("src/lib/libpilot.a", "lib")]

def graph(path):
    """file -> set of files it calls, from `nm -A` over an archive."""
    out = subprocess.run(["nm", "-A", path], capture_output=True, text=True, check=True).stdout
    defs, uses = {}, collections.defaultdict(set)
    for line in out.splitlines():
        loc, _, rest = line.rpartition(":")
        member = loc.split(":")[-1]
        f = os.path.splitext(member)[0].split("-", 1)[-1]  # libpilotd_a-dp.o -> dp
        if f.startswith("rdv_reg"):
            f = "rdv_reg*"
        parts = rest.split()
        if len(parts) == 3 and parts[1] in "TDBRC":
            defs[parts[2]] = f
        elif len(parts) == 2 and parts[0] == "U":
            uses[f].add(parts[1])
    g = collections.defaultdict(set)
    for f, syms in uses.items():
        for s in syms:
            if s in defs and defs[s] != f:
                g[f].add((defs[s], s))
    return g

def cycles(g):
    idx, low, st, on, res, n = {}, {}, [], set(), [], [0]
    nodes = set(g) | {t for v in g.values() for t, _ in v}
    def visit(v):
        idx[v] = low[v] = n[0]; n[0] += 1; st.append(v); on.add(v)
        for w, _ in g.get(v, ()):
            if w not in idx:
                visit(w); low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], idx[w])
        if low[v] == idx[v]:
            comp = []
            while True:
                w = st.pop(); on.discard(w); comp.append(w)
                if w == v: break
            if len(comp) > 1: res.append(sorted(comp))
    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in idx: visit(v)
    return res

tests = []
for path, name in libs:
    full = os.path.join(top, path)
    if not os.path.exists(full):
        tests.append((False, "%s: %s not built" % (name, path), []))
        continue
    g = graph(full)
    cyc = cycles(g)
    tests.append((not cyc, "%s: no circle of files" % name,
                  ["circle: " + " ".join(c) for c in cyc]))
    if name == "pilotd":
        # Below the data path and the registry client: identity and audit.
        below = {"dp": set(), "regc": {"pilotd_identity"}}
        for low in sorted(f for f in g if f.startswith("dp") or f == "regc"):
            ok_up = below["regc" if low == "regc" else "dp"]
            up = sorted("%s (%s)" % (t, s) for t, s in g[low]
                        if t.startswith("pilotd") and t not in ok_up)
            tests.append((not up, "pilotd: %s calls no pilotd_* module above it" % low, up))
print("1..%d" % len(tests))
for i, (ok, desc, diag) in enumerate(tests, 1):
    print("%s %d - %s" % ("ok" if ok else "not ok", i, desc))
    for d in diag:
        print("# " + d)
# The harness counts this script by its exit status: a "not ok" must fail it.
sys.exit(0 if all(ok for ok, _, _ in tests) else 1)
PY
