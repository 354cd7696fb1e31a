#!/usr/bin/env python3
"""webhook_rx.py - a real HTTP webhook receiver for the e2e tests.

Listens on HOST:PORT, answers 500 to the first --fail-first requests, then
204.  Every request is logged to --log as one JSON line: the event_id, the
event name, whether the X-Pilot-Signature HMAC-SHA256 over the body
verified with --secret, and the HTTP status we answered.  Stops by itself
after --max-seconds.
"""
import argparse
import hashlib
import hmac
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--secret", default="")
    ap.add_argument("--fail-first", type=int, default=0)
    ap.add_argument("--log", required=True)
    ap.add_argument("--max-seconds", type=float, default=300)
    a = ap.parse_args()
    lock = threading.Lock()
    state = {"n": 0}

    class H(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            n = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(n)
            with lock:
                state["n"] += 1
                fail = state["n"] <= a.fail_first
            sig = self.headers.get("X-Pilot-Signature", "")
            good = None
            if a.secret:
                want = "sha256=" + hmac.new(a.secret.encode(), body, hashlib.sha256).hexdigest()
                good = hmac.compare_digest(sig, want)
            try:
                ev = json.loads(body)
            except ValueError:
                ev = {}
            status = 500 if fail else 204
            rec = {"event_id": ev.get("event_id"), "event": ev.get("event"),
                   "hdr_id": self.headers.get("X-Pilot-Event-Id"), "sig_ok": good,
                   "status": status, "keys": sorted(ev.keys())}
            with lock, open(a.log, "a") as f:
                f.write(json.dumps(rec) + "\n")
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

    srv = ThreadingHTTPServer((a.host, a.port), H)
    threading.Timer(a.max_seconds, srv.shutdown).start()
    print("listening", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
