#!/usr/bin/env python3
"""localsock.py - the load and watch side of tests/e2e/localsock.sh.

  watch --path P [--seconds S]
      Poll P (lstat, every 0.5 ms) until it appears, then 1.5 s more; print
      JSON: the mode and gid first seen, every mode seen, the last gid.
  flood --socket P --conns N --seconds S --ready F --stop F
      Hold N connections to pilotd's name service socket, each asking for a
      random name; a connection pilotd closes (refused over a cap, or idle)
      is opened again, at most --rate a second, until the file F (--stop)
      exists or S seconds pass.  --ready F is written once N are open.
      Prints JSON counts on exit: opened, refused (rate_limited at connect:
      "too many connections"), budget (rate_limited: "too many name
      lookups"), not_found, closed (EOF without any line), other.
  names --count N [--pace-ms MS] [--seconds S]
      N distinct random NAME.pilot through getaddrinfo (so through the NSS
      module), one after another (MS apart); prints JSON: how many were not found,
      "try again" (EAI_AGAIN), found, other; the slowest lookup (ms), and
      the time it all took.

Every loop is bounded in count and time; nothing here leaves this machine
(a Unix socket, or getaddrinfo against a nsswitch.conf of files and pilot).
"""
import argparse
import json
import os
import random
import resource
import selectors
import socket
import stat
import sys
import time


def rand_name():
    return "rnd-%012x" % random.getrandbits(48)


def cmd_watch(a):
    end = time.monotonic() + a.seconds
    first = None
    modes = set()
    gid = None
    stop_at = None
    while time.monotonic() < end:
        try:
            st = os.lstat(a.path)
        except FileNotFoundError:
            st = None
        if st is not None:
            mode = stat.S_IMODE(st.st_mode)
            if first is None:
                first = {"mode": "%04o" % mode, "gid": st.st_gid}
                stop_at = time.monotonic() + 1.5
            modes.add("%04o" % mode)
            gid = st.st_gid
        if stop_at is not None and time.monotonic() >= stop_at:
            break
        time.sleep(0.0005)
    print(json.dumps({"first": first, "modes": sorted(modes), "gid": gid}))
    return 0 if first else 1


class Flood:
    def __init__(self, a):
        self.a = a
        self.sel = selectors.DefaultSelector()
        self.bufs = {}  # socket -> bytes after the last newline
        self.answered = set()  # sockets that got a line
        self.n = {k: 0 for k in ("opened", "refused", "budget", "not_found", "closed", "other",
                                 "connect_failed")}

    def open_one(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(2)
        try:
            s.connect(self.a.socket)
        except OSError:
            self.n["connect_failed"] += 1
            s.close()
            return
        s.setblocking(False)
        req = json.dumps({"cmd": "find", "args": {"hostname": rand_name() + ".pilot"}}) + "\n"
        try:
            s.send(req.encode())
        except OSError:
            pass  # refused at once: its one line may still be there to read
        self.n["opened"] += 1
        self.bufs[s] = b""
        self.sel.register(s, selectors.EVENT_READ)

    def drop(self, s):
        self.sel.unregister(s)
        del self.bufs[s]
        self.answered.discard(s)
        s.close()

    def classify(self, line):
        try:
            r = json.loads(line)
        except ValueError:
            self.n["other"] += 1
            return
        code, msg = r.get("code", ""), r.get("message", "")
        if code == "rate_limited" and "connections" in msg:
            self.n["refused"] += 1
        elif code == "rate_limited":
            self.n["budget"] += 1
        elif code == "not_found":
            self.n["not_found"] += 1
        else:
            self.n["other"] += 1

    def readable(self, s):
        try:
            data = s.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            if self.bufs[s]:
                self.classify(self.bufs[s])
            elif s not in self.answered:
                self.n["closed"] += 1
            self.drop(s)
            return
        buf = self.bufs[s] + data
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            self.classify(line)
            self.answered.add(s)
        self.bufs[s] = buf[-65536:]

    def run(self):
        a = self.a
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = a.conns + 64
        if soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
        start = time.monotonic()
        end = start + a.seconds
        for _ in range(4 * a.conns):  # a full backlog fails a connect: try again
            if len(self.bufs) >= a.conns or time.monotonic() >= end:
                break
            before = self.n["connect_failed"]
            self.open_one()
            if self.n["connect_failed"] != before:
                time.sleep(0.001)
        with open(a.ready, "w") as f:
            f.write(json.dumps(self.n) + "\n")
        credit, last = 0.0, time.monotonic()
        while time.monotonic() < end and not os.path.exists(a.stop):
            for key, _ in self.sel.select(timeout=0.05):
                self.readable(key.fileobj)
            now = time.monotonic()
            credit = min(credit + (now - last) * a.rate, float(a.conns))
            last = now
            while len(self.bufs) < a.conns and credit >= 1:
                credit -= 1
                self.open_one()
        self.n["held_at_end"] = len(self.bufs)
        self.n["seconds"] = round(time.monotonic() - start, 3)
        for s in list(self.bufs):
            self.drop(s)
        print(json.dumps(self.n))
        return 0


def cmd_names(a):
    n = {"found": 0, "not_found": 0, "again": 0, "other": 0}
    errors = {}
    slowest = 0.0
    start = time.monotonic()
    names = set()
    while len(names) < a.count:
        names.add(rand_name() + ".pilot")
    for name in names:
        if time.monotonic() - start > a.seconds:
            break
        t0 = time.monotonic()
        try:
            socket.getaddrinfo(name, None, socket.AF_INET6, socket.SOCK_STREAM)
            n["found"] += 1
        except socket.gaierror as e:
            if e.errno == socket.EAI_NONAME:
                n["not_found"] += 1
            elif e.errno == socket.EAI_AGAIN:
                n["again"] += 1
            else:
                n["other"] += 1
                errors[str(e)] = errors.get(str(e), 0) + 1
        slowest = max(slowest, time.monotonic() - t0)
        if a.pace_ms:
            time.sleep(a.pace_ms / 1000.0)
    n["asked"] = sum(n[k] for k in ("found", "not_found", "again", "other"))
    n["slowest_ms"] = round(slowest * 1000, 1)
    n["seconds"] = round(time.monotonic() - start, 3)
    n["errors"] = errors
    print(json.dumps(n))
    return 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("watch")
    w.add_argument("--path", required=True)
    w.add_argument("--seconds", type=float, default=20)
    f = sub.add_parser("flood")
    f.add_argument("--socket", required=True)
    f.add_argument("--conns", type=int, default=1000)
    f.add_argument("--seconds", type=float, default=30)
    f.add_argument("--rate", type=float, default=1000, help="re-opens a second")
    f.add_argument("--ready", required=True)
    f.add_argument("--stop", required=True)
    n = sub.add_parser("names")
    n.add_argument("--count", type=int, default=2000)
    n.add_argument("--seconds", type=float, default=60)
    n.add_argument("--pace-ms", type=float, default=0, help="pause between lookups")
    a = p.parse_args()
    if a.cmd == "watch":
        return cmd_watch(a)
    if a.cmd == "flood":
        return Flood(a).run()
    return cmd_names(a)


if __name__ == "__main__":
    sys.exit(main())
