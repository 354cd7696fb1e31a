#!/usr/bin/env python3
"""pt_helper.py - small network tools for Pilot's namespace tests.

Standard library only (Debian's python3).  Every tool is bounded in time
(and, where it loops over packets, in count), so a test can never hang on it.

  jget EXPR...          read JSON on stdin, print values (EXPR like data.node_id,
                        data.pending[].node_id, data.counters); exit 1 if absent
  counters              read a `pilotctl --json status` reply, print "name value"
  serve                 TCP server: http (page with a marker) or hold (keep open)
  connect               one TCP connect attempt, JSON result, exit 0 if connected
  hold-client           connect, handshake "hello"/"ok", block in recv, report close
  sniff                 AF_PACKET capture on one interface: counts, marker search,
                        optionally saves matching UDP payloads (hex, one per line)
  udp-send              send UDP payloads (from a file, random, forged handshake
                        init), from an ephemeral port or a raw socket with a chosen
                        source IP:port; optional bit flip / counter bump
"""
import argparse
import base64
import hashlib
import ipaddress
import json
import os
import random
import select
import socket
import struct
import sys
import threading
import time

# ----------------------------------------------------------------- json


def _walk(node, parts):
    """Yield the values at the dotted path; `name[]` iterates a list."""
    if not parts:
        yield node
        return
    head, rest = parts[0], parts[1:]
    it = head.endswith("[]")
    key = head[:-2] if it else head
    if key:
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            return
    if it:
        if isinstance(node, list):
            for x in node:
                yield from _walk(x, rest)
        return
    yield from _walk(node, rest)


def _fmt(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, (dict, list)):
        return json.dumps(v, sort_keys=True)
    return str(v)


def cmd_jget(a):
    try:
        doc = json.loads(sys.stdin.read())
    except ValueError:
        return 2
    found = False
    for expr in a.expr:
        for v in _walk(doc, [p for p in expr.split(".") if p]):
            found = True
            print(_fmt(v))
    return 0 if found else 1


def cmd_counters(a):
    try:
        doc = json.loads(sys.stdin.read())
    except ValueError:
        return 2
    c = (doc.get("data") or {}).get("counters") if isinstance(doc, dict) else None
    if not isinstance(c, dict):
        return 1
    for k in sorted(c):
        if isinstance(c[k], (int, float)) and not isinstance(c[k], bool):
            print(k, c[k])
    return 0

# ----------------------------------------------------------------- logging


class Log:
    def __init__(self, path):
        self.lock = threading.Lock()
        self.f = open(path, "a", buffering=1) if path else sys.stdout

    def __call__(self, *words):
        with self.lock:
            self.f.write(" ".join(str(w) for w in words) + "\n")
            self.f.flush()


def _touch(path, text=""):
    if path:
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, path)

# ----------------------------------------------------------------- TCP tools


def _page(marker, kib):
    line = ("%s the quick brown fox jumps over the lazy dog\n" % marker).encode()
    n = max(1, (kib * 1024) // len(line))
    return b"<html><body><pre>\n" + line * n + b"</pre></body></html>\n"


def _serve_http(conn, peer, log, body):
    conn.settimeout(5)
    buf = b""
    try:
        while b"\r\n\r\n" not in buf and b"\n\n" not in buf and len(buf) < 65536:
            d = conn.recv(4096)
            if not d:
                break
            buf += d
        first = buf.split(b"\n", 1)[0].decode("latin-1").strip()
        log("request", peer[0], first.replace(" ", "_"), "%.6f" % time.time())
        hdr = ("HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n"
               "Connection: close\r\n\r\n" % len(body)).encode()
        conn.sendall(hdr + body)
    except OSError as e:
        log("error", peer[0], "errno=%s" % e.errno, "%.6f" % time.time())
    finally:
        conn.close()


def _serve_hold(conn, peer, log, max_s):
    conn.settimeout(max_s)
    kind = "timeout"
    try:
        buf = b""
        while b"\n" not in buf and len(buf) < 1024:
            d = conn.recv(1024)
            if not d:
                break
            buf += d
        conn.sendall(b"ok\n")
        log("established", peer[0], "%.6f" % time.time())
        while True:
            d = conn.recv(4096)
            if not d:
                kind = "eof"
                break
    except ConnectionResetError:
        kind = "reset"
    except socket.timeout:
        kind = "timeout"
    except OSError as e:
        kind = "error:%s" % e.errno
    log("closed", peer[0], kind, "%.6f" % time.time())
    conn.close()


def cmd_serve(a):
    log = Log(a.log)
    fam = socket.AF_INET6 if ":" in a.bind else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if fam == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind((a.bind, a.port))
    s.listen(64)
    body = _page(a.marker, a.kib)
    log("listening", a.bind, a.port, a.mode, "%.6f" % time.time())
    _touch(a.ready, "ready\n")
    deadline = time.monotonic() + a.max_seconds
    while time.monotonic() < deadline:
        r, _, _ = select.select([s], [], [], 0.5)
        if not r:
            continue
        try:
            conn, peer = s.accept()
        except OSError:
            continue
        log("accept", peer[0], peer[1], "%.6f" % time.time())
        if a.mode == "http":
            t = threading.Thread(target=_serve_http, args=(conn, peer, log, body), daemon=True)
        else:
            t = threading.Thread(target=_serve_hold, args=(conn, peer, log, a.max_seconds),
                                 daemon=True)
        t.start()
    return 0


def _sockaddr(host, port):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    return fam, (host, port)


def cmd_connect(a):
    fam, addr = _sockaddr(a.host, a.port)
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(a.timeout)
    t0 = time.monotonic()
    res = {"connected": False, "error": None}
    try:
        s.connect(addr)
        res["connected"] = True
    except socket.timeout:
        res["error"] = "timeout"
    except OSError as e:
        res["error"] = "%s(errno %s)" % (type(e).__name__, e.errno)
    res["elapsed"] = round(time.monotonic() - t0, 3)
    s.close()
    print(json.dumps(res))
    return 0 if res["connected"] else 1


def cmd_hold_client(a):
    fam, addr = _sockaddr(a.host, a.port)
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(a.connect_timeout)
    try:
        s.connect(addr)
        s.sendall(b"hello\n")
        buf = b""
        while b"\n" not in buf and len(buf) < 1024:
            d = s.recv(1024)
            if not d:
                break
            buf += d
        if not buf.startswith(b"ok"):
            _touch(a.status, "failed no-ok %.6f\n" % time.time())
            return 1
    except OSError as e:
        _touch(a.status, "failed %s %.6f\n" % (type(e).__name__, time.time()))
        return 1
    _touch(a.status, "connected %.6f\n" % time.time())
    s.settimeout(a.max_seconds)
    kind = "timeout"
    try:
        while True:
            d = s.recv(4096)
            if not d:
                kind = "eof"
                break
    except ConnectionResetError:
        kind = "reset"
    except socket.timeout:
        kind = "timeout"
    except OSError as e:
        kind = "error:%s" % e.errno
    t = time.time()
    _touch(a.status, "closed %s %.6f\n" % (kind, t))
    return 0 if kind != "timeout" else 1

# ----------------------------------------------------------------- sniffer

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4


def _parse_udp4(frame):
    """(src, dst, sport, dport, payload) of an Ethernet/IPv4/UDP frame, else None."""
    if len(frame) < 14 + 20 + 8:
        return None
    etype = struct.unpack("!H", frame[12:14])[0]
    off = 14
    if etype == 0x8100 and len(frame) >= 18:
        etype = struct.unpack("!H", frame[16:18])[0]
        off = 18
    if etype != 0x0800:
        return None
    ip = frame[off:]
    ihl = (ip[0] & 0x0F) * 4
    if ip[0] >> 4 != 4 or ihl < 20 or len(ip) < ihl + 8 or ip[9] != 17:
        return None
    frag = struct.unpack("!H", ip[6:8])[0]
    if frag & 0x1FFF:
        return None  # a non-first fragment: no UDP header
    tot = struct.unpack("!H", ip[2:4])[0]
    src, dst = socket.inet_ntoa(ip[12:16]), socket.inet_ntoa(ip[16:20])
    sport, dport, ulen = struct.unpack("!HHH", ip[ihl:ihl + 6])
    end = min(len(ip), tot if tot else len(ip), ihl + ulen if ulen >= 8 else len(ip))
    return src, dst, sport, dport, bytes(ip[ihl + 8:end])


def cmd_sniff(a):
    markers = [m.encode() for m in (a.marker or [])]
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.bind((a.iface, 0))
    st = {"frames": 0, "outgoing": 0, "udp": 0, "udp_bytes": 0, "udp_by_port": {},
          "udp_first_byte": {}, "marker_in_udp": 0, "marker_in_any": 0, "saved": 0,
          "truncated": False}
    saved = open(a.save, "w") if a.save else None
    _touch(a.ready, "ready\n")
    deadline = time.monotonic() + a.duration
    while time.monotonic() < deadline and st["frames"] < a.max_frames:
        if a.stop and os.path.exists(a.stop):
            # drain what is already queued, then stop
            deadline = min(deadline, time.monotonic() + 0.3)
            a.stop = None
        r, _, _ = select.select([s], [], [], 0.2)
        if not r:
            continue
        frame, addr = s.recvfrom(65535)
        st["frames"] += 1
        outgoing = addr[2] == PACKET_OUTGOING
        st["outgoing"] += outgoing
        if any(m in frame for m in markers):
            st["marker_in_any"] += 1
        u = _parse_udp4(frame)
        if not u:
            continue
        src, dst, sport, dport, pl = u
        st["udp"] += 1
        st["udp_bytes"] += len(pl)
        k = str(dport)
        st["udp_by_port"][k] = st["udp_by_port"].get(k, 0) + 1
        if pl:
            fb = str(pl[0])
            st["udp_first_byte"][fb] = st["udp_first_byte"].get(fb, 0) + 1
        if any(m in pl for m in markers):
            st["marker_in_udp"] += 1
        if saved and st["saved"] < a.save_max:
            if a.save_dport and dport != a.save_dport:
                continue
            if a.save_src and src != a.save_src:
                continue
            if a.save_type is not None and (not pl or pl[0] != a.save_type):
                continue
            if not (a.save_min_len <= len(pl) <= a.save_max_len):
                continue
            if a.save_incoming and outgoing:
                continue
            saved.write(pl.hex() + "\n")
            saved.flush()
            st["saved"] += 1
    st["truncated"] = st["frames"] >= a.max_frames
    if saved:
        saved.close()
    with open(a.out + ".tmp", "w") as f:
        json.dump(st, f, sort_keys=True)
    os.rename(a.out + ".tmp", a.out)
    return 0

# ----------------------------------------------------------------- UDP sender


def _csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def _raw_udp4(src, sport, dst, dport, payload):
    ulen = 8 + len(payload)
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 17, ulen)
    uh = struct.pack("!HHHH", sport, dport, ulen, 0)
    c = _csum(pseudo + uh + payload) or 0xFFFF
    uh = struct.pack("!HHHH", sport, dport, ulen, c)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + ulen, random.randint(1, 0xFFFF), 0x4000,
                     64, 17, 0, socket.inet_aton(src), socket.inet_aton(dst))
    return ip + uh + payload


def _payloads(a):
    """The list of payload templates to send (bytes)."""
    out = []
    if a.hexfile:
        with open(a.hexfile) as f:
            lines = [ln.strip() for ln in f if ln.strip()]
        if a.index is not None:
            lines = lines[a.index:a.index + 1]
        out += [bytes.fromhex(ln) for ln in lines]
    return out


def _mutate(p, a, rng):
    p = bytearray(p)
    if a.bump_counter and len(p) >= 16:
        ctr = struct.unpack_from("<Q", p, 8)[0] + a.bump_counter
        struct.pack_into("<Q", p, 8, ctr & 0xFFFFFFFFFFFFFFFF)
    if a.random_index and len(p) >= 8:
        p[4:8] = rng.randbytes(4)
    if a.flip_bit is not None and p:
        bit = a.flip_bit % (len(p) * 8)
        p[bit // 8] ^= 1 << (bit % 8)
    return bytes(p)


def cmd_udp_send(a):
    rng = random.Random(a.seed)
    dst_ip, dst_port = a.dst.rsplit(":", 1)
    dst_port = int(dst_port)
    templates = _payloads(a)
    rand_lens = list(a.random_len or [])

    def gen():
        items = list(templates)
        for n in rand_lens:
            b = bytearray(rng.randbytes(n))
            if a.type is not None and n:
                b[0] = a.type
                b[1:4] = b"\0\0\0"[:max(0, min(3, n - 1))]
            items.append(bytes(b))
        if a.forge_init:
            m = b"\x01\x00\x00\x00" + rng.randbytes(144)
            if mac1_key:  # passes the responder's cheap check; mac2 empty
                mac1 = hashlib.blake2b(m[:116], key=mac1_key, digest_size=16).digest()
                m = m[:116] + mac1 + bytes(16)
            items.append(m)
        return items

    # mac1's key is SHA-256("mac1----" || the responder's Ed25519 key), public
    mac1_key = None
    if a.mac1_pk:
        mac1_key = hashlib.sha256(b"mac1----" + base64.b64decode(a.mac1_pk)).digest()
    src_net = ipaddress.ip_network(a.random_src) if a.random_src else None
    start = time.monotonic()

    if a.raw:
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((a.src or "0.0.0.0", a.sport))
        s.setblocking(False)
    sent = 0
    replies = {}
    deadline = time.monotonic() + a.max_seconds
    for i in range(a.count):
        if time.monotonic() >= deadline:
            break
        for p in gen():
            p = _mutate(p, a, rng)
            if a.pps and sent >= (time.monotonic() - start) * a.pps:
                time.sleep(0.002)
            try:
                if a.raw:
                    src = a.src
                    if src_net:  # a new spoofed source (and port) per datagram
                        src = str(src_net[rng.randrange(src_net.num_addresses)])
                        sport = rng.randrange(1024, 65536)
                    else:
                        sport = a.sport
                    s.sendto(_raw_udp4(src, sport, dst_ip, dst_port, p), (dst_ip, 0))
                else:
                    s.sendto(p, (dst_ip, dst_port))
                sent += 1
            except BlockingIOError:
                time.sleep(0.001)
            except OSError as e:
                print("send error errno=%s" % e.errno, file=sys.stderr)
        if not a.raw:
            while True:  # count whatever comes back (cookie replies under load)
                try:
                    d = s.recv(2048)
                except (BlockingIOError, OSError):
                    break
                k = str(d[0]) if d else "empty"
                replies[k] = replies.get(k, 0) + 1
        if a.interval:
            time.sleep(a.interval)
    if not a.raw and a.linger:
        end = time.monotonic() + a.linger
        while time.monotonic() < end:
            r, _, _ = select.select([s], [], [], 0.1)
            if r:
                try:
                    d = s.recv(2048)
                    k = str(d[0]) if d else "empty"
                    replies[k] = replies.get(k, 0) + 1
                except OSError:
                    pass
    print(json.dumps({"sent": sent, "replies_by_type": replies}))
    return 0 if sent else 1

def cmd_udp_listen(a):
    """Log each datagram to --log as 'rx SRC PORT LEN PAYLOAD' (payload
    printable or hex), until --max-seconds."""
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((a.bind, a.port))
    with open(a.ready, "w"):
        pass
    deadline = time.monotonic() + a.max_seconds
    with open(a.log, "a", buffering=1) as log:
        while time.monotonic() < deadline:
            r, _, _ = select.select([s], [], [], 0.2)
            if not r:
                continue
            d, src = s.recvfrom(65535)
            try:
                txt = d.decode("ascii")
                txt = txt if txt.isprintable() and " " not in txt else d.hex()
            except UnicodeDecodeError:
                txt = d.hex()
            log.write("rx %s %d %d %s\n" % (src[0], src[1], len(d), txt))
    return 0


def cmd_udp6_send(a):
    """COUNT datagrams to [DST]:PORT, PAYLOAD suffixed with the index,
    --interval apart; prints {"sent":N,"errors":{errno:count}}."""
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    if a.connect:  # ICMPv6 errors then come back as errno on later sends
        s.connect((a.dst, a.port))
    sent, errors = 0, {}
    t0 = time.monotonic()
    deadline = t0 + a.max_seconds
    for i in range(a.count):
        if time.monotonic() >= deadline:
            break
        p = (a.payload + ("-%d" % i if a.count > 1 else "")).encode()
        if a.size:
            p = (p + b"." * a.size)[:a.size]
        try:
            if a.connect:
                s.send(p)
            else:
                s.sendto(p, (a.dst, a.port))
            sent += 1
        except OSError as e:
            errors[str(e.errno)] = errors.get(str(e.errno), 0) + 1
        if a.interval:
            time.sleep(a.interval)
    print(json.dumps({"sent": sent, "errors": errors,
                      "elapsed_ms": int((time.monotonic() - t0) * 1000)}))
    return 0 if sent else 1

# ----------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(prog="pt_helper.py")
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("jget")
    p.add_argument("expr", nargs="+")
    p.set_defaults(fn=cmd_jget)

    p = sub.add_parser("counters")
    p.set_defaults(fn=cmd_counters)

    p = sub.add_parser("serve")
    p.add_argument("--bind", default="::")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--mode", choices=["http", "hold"], default="http")
    p.add_argument("--marker", default="PILOT-E2E")
    p.add_argument("--kib", type=int, default=64)
    p.add_argument("--log")
    p.add_argument("--ready")
    p.add_argument("--max-seconds", type=float, default=900)
    p.set_defaults(fn=cmd_serve)

    p = sub.add_parser("connect")
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--timeout", type=float, default=1.0)
    p.set_defaults(fn=cmd_connect)

    p = sub.add_parser("hold-client")
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--status", required=True)
    p.add_argument("--connect-timeout", type=float, default=5)
    p.add_argument("--max-seconds", type=float, default=10)
    p.set_defaults(fn=cmd_hold_client)

    p = sub.add_parser("sniff")
    p.add_argument("--iface", required=True)
    p.add_argument("--duration", type=float, default=20)
    p.add_argument("--max-frames", type=int, default=200000)
    p.add_argument("--ready")
    p.add_argument("--stop")
    p.add_argument("--out", required=True)
    p.add_argument("--marker", action="append")
    p.add_argument("--save")
    p.add_argument("--save-max", type=int, default=5)
    p.add_argument("--save-dport", type=int)
    p.add_argument("--save-src")
    p.add_argument("--save-type", type=int)
    p.add_argument("--save-min-len", type=int, default=0)
    p.add_argument("--save-max-len", type=int, default=65535)
    p.add_argument("--save-incoming", action="store_true")
    p.set_defaults(fn=cmd_sniff)

    p = sub.add_parser("udp-listen")
    p.add_argument("--bind", default="::")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--ready", required=True)
    p.add_argument("--max-seconds", type=float, default=120)
    p.set_defaults(fn=cmd_udp_listen)

    p = sub.add_parser("udp6-send")
    p.add_argument("--dst", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--payload", default="x")
    p.add_argument("--connect", action="store_true")
    p.add_argument("--size", type=int, default=0)
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--interval", type=float, default=0)
    p.add_argument("--max-seconds", type=float, default=10)
    p.set_defaults(fn=cmd_udp6_send)

    p = sub.add_parser("udp-send")
    p.add_argument("--dst", required=True, help="IPv4:PORT")
    p.add_argument("--src", help="source IPv4 (required with --raw)")
    p.add_argument("--sport", type=int, default=0)
    p.add_argument("--raw", action="store_true", help="raw socket: any source port")
    p.add_argument("--hexfile")
    p.add_argument("--index", type=int)
    p.add_argument("--random-len", type=int, action="append")
    p.add_argument("--type", type=int, help="first byte of random payloads (+3 zero bytes)")
    p.add_argument("--forge-init", action="store_true", help="148-byte type-1 junk")
    p.add_argument("--mac1-pk", help="with --forge-init: a valid mac1 for this responder key (base64)")
    p.add_argument("--random-src", help="with --raw: a random source address in this IPv4 CIDR per datagram")
    p.add_argument("--pps", type=float, default=0, help="send at most this many datagrams a second")
    p.add_argument("--flip-bit", type=int)
    p.add_argument("--bump-counter", type=int, default=0)
    p.add_argument("--random-index", action="store_true")
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--interval", type=float, default=0)
    p.add_argument("--max-seconds", type=float, default=10)
    p.add_argument("--linger", type=float, default=0)
    p.add_argument("--seed", type=int)
    p.set_defaults(fn=cmd_udp_send)

    a = ap.parse_args()
    if a.cmd == "udp-send" and a.raw and not a.random_src and (not a.src or not a.sport):
        ap.error("--raw needs --src and --sport, or --random-src")
    return a.fn(a)


if __name__ == "__main__":
    sys.exit(main())
