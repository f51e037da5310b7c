#!/usr/bin/python3
"""soakload: a fixed-rate UDP DNS client that checks every answer.

Sends A queries at --qps for --duration seconds, spread over --sockets
source sockets (Unbound's so-reuseport hands each source port to one
worker thread, so several sockets load every thread). Each query asks,
with probability --fresh, a never-asked name f<run>-<n>.<zone> (a cache
miss), otherwise one of --pool repeated names r<i>.<zone> (mostly cache
hits); zones are taken in turn from --zones.

Every answer is checked against what the upstreams serve: dotfault
--addr-hash answers each name with name_addr(name). A NOERROR answer whose
A records are not exactly {name_addr(qname)} is a wrong answer, written
to wrong.txt. An answer whose ID and question match no query in flight is
counted as unmatched (it cannot be judged: a late answer after the
client's timeout, or a lie that slipped through both checks).

Written to --out (a directory), one line every --bin seconds to bins.tsv:
  t        epoch seconds at the start of the bin
  sent     queries sent in the bin (what the rate asked for: qps * bin)
  noerror servfail other timeout wrong   outcomes of the queries SENT in
           the bin (so a timeout counts where its query started)
  lag_max  worst lateness of a send against its schedule, ms
  lat_p50 lat_p99  answer latency of the bin's answered queries, ms
  cpu      CPU seconds the client used in the bin (user + system)
servfail.tsv: "epoch_second count" for every second with a SERVFAIL;
summary.json at the end: totals and the client's own health (schedule lag,
CPU). The run stops early on SIGTERM (summary still written).
Standard library only.
"""

import argparse
import collections
import json
import os
import random
import selectors
import signal
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "faultsrv"))
from dotfault import name_addr  # noqa: E402  (the upstreams' own data)
import dnsload  # noqa: E402
from dnsload import encode_name  # noqa: E402

STOP = False


def parse(msg):
    """(id, rcode name, question wire lower-cased, [A addresses], answer
    records that are not an A)."""
    qid, rcode, question, addrs = dnsload.parse(msg)
    return qid, rcode, question, addrs, \
        struct.unpack("!H", msg[6:8])[0] - len(addrs)


class Bin:
    __slots__ = ("t", "sent", "noerror", "servfail", "other", "timeout",
                 "wrong", "lag_max", "lat", "cpu")

    def __init__(self, t):
        self.t = t
        self.sent = self.noerror = self.servfail = self.other = 0
        self.timeout = self.wrong = 0
        self.lag_max = 0.0
        self.lat = []
        self.cpu = 0.0


def pct(v, p):
    if not v:
        return 0.0
    v.sort()
    return v[min(len(v) - 1, int(len(v) * p))]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--server", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--zones", required=True, help="comma list")
    p.add_argument("--qps", type=float, default=1200)
    p.add_argument("--duration", type=float, default=900)
    p.add_argument("--fresh", type=float, default=0.5)
    p.add_argument("--pool", type=int, default=2000)
    p.add_argument("--sockets", type=int, default=8)
    p.add_argument("--timeout", type=float, default=4.0)
    p.add_argument("--bin", type=float, default=10.0)
    p.add_argument("--out", required=True)
    o = p.parse_args()
    zones = [z.strip(".") for z in o.zones.split(",")]
    run = "%x" % (int(time.time()) & 0xFFFFFF)
    rng = random.Random(1)

    def stop(*_):
        global STOP
        STOP = True
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    sel = selectors.DefaultSelector()
    socks = []
    for i in range(o.sockets):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setblocking(False)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        s.connect((o.server, o.port))
        sel.register(s, selectors.EVENT_READ, i)
        socks.append(s)
    next_id = [rng.randrange(65536) for _ in socks]
    # (socket index, id) -> (question wire, expected address, sent at, bin)
    pending = {}
    expiry = collections.deque()    # (deadline, key, sent at), send order
    bins = []
    servfail_s = collections.Counter()
    wrong_f = open(os.path.join(o.out, "wrong.txt"), "w")
    tot = collections.Counter()
    lag_all = []                    # per-bin worst lateness, for the summary

    t0_wall = time.time()
    t0 = time.monotonic()
    cpu0 = sum(os.times()[:2])
    cur = Bin(t0_wall)
    bins.append(cur)
    n = 0
    total = int(o.qps * o.duration)

    def finish(key, ent, rcode, addrs, other, now):
        qwire, want, sent, b, name = ent
        if rcode == "NOERROR":
            if addrs == [want] and other == 0:
                b.noerror += 1
                if name[0] == "f":
                    tot["fresh_noerror"] += 1
            else:
                b.wrong += 1
                tot["wrong"] += 1
                wrong_f.write("%.3f %s want %s got %s (+%d other rrs)\n" % (
                    time.time(), name, want, ",".join(addrs) or "-", other))
                wrong_f.flush()
        elif rcode == "SERVFAIL":
            b.servfail += 1
            servfail_s[int(time.time())] += 1
        else:
            b.other += 1
            tot["rcode " + rcode] += 1
        b.lat.append((now - sent) * 1000.0)

    while True:
        now = time.monotonic()
        # send what is due; a query belongs to the bin of its schedule
        while n < total and not STOP and t0 + n / o.qps <= now:
            while int(n / o.qps / o.bin) >= len(bins):
                cpu = sum(os.times()[:2])
                cur.cpu, cpu0 = cpu - cpu0, cpu
                cur = Bin(t0_wall + len(bins) * o.bin)
                bins.append(cur)
            lag = (now - (t0 + n / o.qps)) * 1000.0
            if lag > cur.lag_max:
                cur.lag_max = lag
            si = n % len(socks)
            qid = next_id[si]
            tries = 0
            while (si, qid) in pending and tries < 65536:
                qid = (qid + 1) & 0xFFFF
                tries += 1
            next_id[si] = (qid + 1) & 0xFFFF
            zone = zones[n % len(zones)]
            if rng.random() < o.fresh:
                name = "f%s-%d.%s." % (run, n, zone)
            else:
                name = "r%d.%s." % (rng.randrange(o.pool), zone)
            qwire = encode_name(name) + b"\0\1\0\1"
            msg = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + qwire
            try:
                socks[si].send(msg)
            except (BlockingIOError, ConnectionRefusedError):
                # counted as sent and, unanswered, as a timeout: the rate
                # is what was asked for
                pass
            key = (si, qid)
            pending[key] = (qwire.lower(), name_addr(name), now, cur, name)
            expiry.append((now + o.timeout, key, now))
            cur.sent += 1
            n += 1
        # expire
        while expiry and expiry[0][0] <= now:
            _, key, sent = expiry.popleft()
            ent = pending.get(key)
            if ent is not None and ent[2] == sent:
                del pending[key]
                ent[3].timeout += 1
        if (n >= total or STOP) and not pending:
            break
        if STOP and n < total:
            total = n
        wake = now + 0.05
        if n < total:
            wake = min(wake, t0 + n / o.qps)
        if expiry:
            wake = min(wake, expiry[0][0])
        for k, _ in sel.select(max(0.0, wake - time.monotonic())):
            s = k.fileobj
            si = k.data
            while True:
                try:
                    data = s.recv(65535)
                except (BlockingIOError, ConnectionRefusedError):
                    break
                try:
                    qid, rcode, question, addrs, other = parse(data)
                except (struct.error, IndexError):
                    tot["unparsable"] += 1
                    continue
                ent = pending.get((si, qid))
                if ent is None or ent[0] != question:
                    tot["unmatched"] += 1
                    continue
                del pending[(si, qid)]
                finish((si, qid), ent, rcode, addrs, other, time.monotonic())
    cur.cpu = sum(os.times()[:2]) - cpu0
    elapsed = time.monotonic() - t0
    with open(os.path.join(o.out, "bins.tsv"), "w") as f:
        f.write("t\tsent\tnoerror\tservfail\tother\ttimeout\twrong\t"
                "lag_max_ms\tlat_p50_ms\tlat_p99_ms\tcpu_s\n")
        for b in bins:
            f.write("%.0f\t%d\t%d\t%d\t%d\t%d\t%d\t%.1f\t%.2f\t%.2f\t%.2f\n"
                    % (b.t, b.sent, b.noerror, b.servfail, b.other, b.timeout,
                       b.wrong, b.lag_max, pct(b.lat, 0.5), pct(b.lat, 0.99),
                       b.cpu))
            lag_all.append(b.lag_max)
    with open(os.path.join(o.out, "servfail.tsv"), "w") as f:
        for sec in sorted(servfail_s):
            f.write("%d\t%d\n" % (sec, servfail_s[sec]))
    summary = {
        "qps_target": o.qps, "duration_target": o.duration,
        "elapsed": round(elapsed, 3), "start": t0_wall,
        "sent": sum(b.sent for b in bins),
        "noerror": sum(b.noerror for b in bins),
        "servfail": sum(b.servfail for b in bins),
        "other": sum(b.other for b in bins),
        "timeout": sum(b.timeout for b in bins),
        "fresh_noerror": tot["fresh_noerror"],
        "wrong": tot["wrong"], "unmatched": tot["unmatched"],
        "unparsable": tot["unparsable"],
        "other_rcodes": {k: v for k, v in tot.items()
                         if k.startswith("rcode")},
        "lag_max_ms": round(max(lag_all or [0]), 1),
        "cpu_s": round(sum(b.cpu for b in bins), 2),
        "fresh": o.fresh, "pool": o.pool, "zones": zones,
        "sockets": o.sockets, "stopped_early": STOP,
    }
    with open(os.path.join(o.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1, sort_keys=True)
    wrong_f.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
