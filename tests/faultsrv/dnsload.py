#!/usr/bin/python3
"""dnsload: send A queries for unique names to a resolver over UDP and check
what comes back.

Every query asks for a fresh name <prefix>-<n>.<zone> (no cache hits). The
queries go out at --qps (0: all at once), each waits at most --timeout
seconds. One line per query goes to --out (or stdout with --print):

    <send time, s since start> <name> <rcode|TIMEOUT> <A addresses|-> <ms>

With --allow ADDR,... the run fails (exit 1, a line per violation on
stderr) when a NOERROR answer carries an address not in the list, when an
answer is neither NOERROR nor SERVFAIL (or SERVFAIL without --servfail-ok),
when a query times out, or when one took longer than --max-ms.
Standard library only.
"""

import argparse
import os
import random
import selectors
import socket
import struct
import sys
import time

RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN",
          4: "NOTIMP", 5: "REFUSED"}


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def skip_name(msg, off):
    while True:
        n = msg[off]
        if n & 0xC0 == 0xC0:
            return off + 2
        off += 1
        if n == 0:
            return off
        off += n


def parse(msg):
    """(id, rcode, question wire, [A addresses])."""
    qid, flags, qd, an = struct.unpack("!HHHH", msg[:8])
    off = 12
    qstart = off
    for _ in range(qd):
        off = skip_name(msg, off) + 4
    question = msg[qstart:off].lower()
    addrs = []
    for _ in range(an):
        off = skip_name(msg, off)
        rtype, _, _, rdlen = struct.unpack("!HHIH", msg[off:off + 10])
        off += 10
        if rtype == 1 and rdlen == 4:
            addrs.append(socket.inet_ntoa(msg[off:off + 4]))
        off += rdlen
    return qid, RCODES.get(flags & 0xF, str(flags & 0xF)), question, addrs


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--server", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--zone", default="dotpool.test")
    p.add_argument("--prefix", default="q%d" % os.getpid())
    p.add_argument("--count", type=int, default=10)
    p.add_argument("--qps", type=float, default=0)
    p.add_argument("--timeout", type=float, default=3.0)
    p.add_argument("--out", help="append the per-query lines here")
    p.add_argument("--print", action="store_true", help="lines to stdout")
    p.add_argument("--start-file", help="write the wall-clock start time "
                   "(epoch seconds) here, for lining up events")
    p.add_argument("--allow", help="comma list of addresses a NOERROR "
                   "answer may carry; enables the checks")
    p.add_argument("--servfail-ok", action="store_true")
    p.add_argument("--max-ms", type=float, default=3000)
    o = p.parse_args()

    sock = socket.socket(socket.AF_INET6 if ":" in o.server
                         else socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ)
    start = time.monotonic()
    if o.start_file:
        with open(o.start_file, "w") as f:
            f.write("%.6f\n" % time.time())
    pending = {}        # id -> (n, name, question wire, sent at)
    results = {}        # n -> (sent rel, name, rcode, addrs, ms)
    n_sent = 0
    free_ids = list(range(65536))
    random.shuffle(free_ids)
    while n_sent < o.count or pending:
        now = time.monotonic()
        # send what is due
        while n_sent < o.count and (o.qps <= 0 or
                                    start + n_sent / o.qps <= now):
            name = "%s-%d.%s." % (o.prefix, n_sent, o.zone.rstrip("."))
            qid = free_ids.pop()
            qwire = encode_name(name) + struct.pack("!HH", 1, 1)
            msg = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + qwire
            try:
                sock.sendto(msg, (o.server, o.port))
            except BlockingIOError:
                free_ids.append(qid)
                break
            pending[qid] = (n_sent, name, qwire.lower(), now)
            n_sent += 1
        # expire
        for qid, (n, name, _, sent) in list(pending.items()):
            if now - sent >= o.timeout:
                results[n] = (sent - start, name, "TIMEOUT", [],
                              (now - sent) * 1000)
                del pending[qid]
        # wait for answers until the next send or expiry
        wake = now + 0.05
        if n_sent < o.count and o.qps > 0:
            wake = min(wake, start + n_sent / o.qps)
        for _ in sel.select(max(0.0, wake - time.monotonic())):
            while True:
                try:
                    data = sock.recv(65535)
                except BlockingIOError:
                    break
                try:
                    qid, rcode, question, addrs = parse(data)
                except (struct.error, IndexError):
                    continue
                ent = pending.get(qid)
                if ent is None or ent[2] != question:
                    continue
                del pending[qid]
                n, name, _, sent = ent
                t = time.monotonic()
                results[n] = (sent - start, name, rcode, addrs,
                              (t - sent) * 1000)
    lines = []
    for n in sorted(results):
        rel, name, rcode, addrs, ms = results[n]
        lines.append("%.3f %s %s %s %.0f\n" % (
            rel, name, rcode, ",".join(addrs) or "-", ms))
    if o.out:
        with open(o.out, "a") as f:
            f.writelines(lines)
    if o.print:
        sys.stdout.writelines(lines)
    if not o.allow:
        return 0
    allowed = set(o.allow.split(","))
    bad = 0
    for n in sorted(results):
        rel, name, rcode, addrs, ms = results[n]
        why = None
        if rcode == "NOERROR":
            if not addrs:
                why = "NOERROR without an address"
            elif not set(addrs) <= allowed:
                why = "wrong address %s (allowed: %s)" % (
                    ",".join(addrs), o.allow)
        elif rcode == "SERVFAIL":
            if not o.servfail_ok:
                why = "SERVFAIL although a healthy upstream exists"
        else:
            why = "rcode %s" % rcode
        if why is None and ms > o.max_ms:
            why = "took %.0f ms (max %.0f)" % (ms, o.max_ms)
        if why:
            bad += 1
            sys.stderr.write("dnsload: %s: %s\n" % (name, why))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
