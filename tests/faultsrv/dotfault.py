#!/usr/bin/python3
"""dotfault: a DNS-over-TLS (RFC 7858) test server that can misbehave.

By default it answers correctly from a tiny built-in zone: A and AAAA for
any name under --zone (the address is --addr / --addr6, so a test can tell
which server answered; with --addr-hash the A address is a hash of the name
instead, see name_addr, so a client can check every answer to every name
on its own), SOA/NS at the apex, NODATA with an SOA for other
types, NXDOMAIN for names whose first label starts with "nx", REFUSED outside
the zone. The question is echoed, the ID copied, QR/AA/RA set, RD copied; an
EDNS OPT in the query gets an OPT back (DO copied, --keepalive adds an
edns-tcp-keepalive option).

A fault (--fault NAME[:ARG], or "set fault NAME[:ARG]" on the control
socket) makes it misbehave; see FAULTS below. Lying answers (wrong-id,
wrong-question, the second copy of duplicate) carry --poison-addr, so a test
can assert that no client ever sees that address.

Control socket (--control PATH, a unix stream socket, one command per
connection, one line back):
    set fault NAME[:ARG]     switch fault ("none" for correct answers)
    set addr A.B.C.D         change the answer address
    stats                    JSON counters; query_len_mod128 maps each
                             DNS message length mod 128 of the queries
                             received to a count (padding checks)
    reset                    zero the counters
    kill-conns               end every open connection now (FIN, then RST);
                             with refuse-tcp:closed, an upstream that dies
Client side of it: dotfault.py --ctl PATH COMMAND...

Only Python's standard library is used. One thread per connection.
"""

import argparse
import hashlib
import heapq
import json
import os
import random
import select
import signal
import socket
import ssl
import struct
import sys
import threading
import time
import warnings

# TLS 1.0/1.1 are deprecated; --tls-max 1.0 asks for them on purpose.
warnings.filterwarnings("ignore", category=DeprecationWarning)

FAULTS = {
    "none": "answer correctly",
    "refuse-tcp": "reset TCP at accept, before TLS (ARG 'closed': do not "
                  "listen at all, so connects are refused)",
    "no-handshake": "accept TCP, never speak TLS",
    "stall-after-handshake": "complete TLS, read queries, never answer",
    "close-after": "answer ARG queries (default 1) per connection, close",
    "idle-close": "close a connection idle for ARG seconds (default 1)",
    "reset-mid-frame": "send half an answer frame, then RST (SO_LINGER 0)",
    "garbage": "send ARG random bytes (default 512) instead of a frame",
    "long-length": "length prefix 100 longer than the data, then ARG "
                   "'stall' (default) or 'close'",
    "zero-length": "send a zero-length frame, then the real answer",
    "wrong-id": "answer with another ID (poison address)",
    "wrong-question": "right ID, answer for another name (poison address)",
    "duplicate": "answer twice; the second copy carries the poison address "
                 "(ARG 'same': identical copies)",
    "out-of-order": "hold answers, send each batch of ARG (default 4, or "
                    "what arrived within 50 ms) in reverse order",
    "tc": "TC bit set, no records",
    "servfail": "rcode SERVFAIL",
    "refused": "rcode REFUSED",
    "empty": "rcode NOERROR and no records at all, not even an SOA",
    "slow-drip": "write the answer one byte every ARG ms (default 100)",
    "big": "a 65535-byte answer (EDNS padding if the query had EDNS, "
           "else many A records; ARG 'records' forces records)",
    "tls-alert": "answer the ClientHello with a fatal TLS alert "
                 "(ARG: alert number, default 40 handshake_failure)",
    "delay": "answer correctly after ARG ms (default 300), reading and "
             "answering other queries meanwhile (answers out of order)",
    "bimodal": "ARG PCT:MS (default 10:200): PCT per cent of the "
               "answers delayed by MS ms as with delay, the others at once",
}

T_A, T_NS, T_SOA, T_AAAA, T_OPT = 1, 2, 6, 28, 41
OPT_KEEPALIVE, OPT_PADDING = 11, 12
RC_NOERROR, RC_FORMERR, RC_SERVFAIL, RC_NXDOMAIN, RC_REFUSED = 0, 1, 2, 3, 5


def log(msg):
    sys.stderr.write("dotfault[%s]: %s\n" % (STATE.name, msg))
    sys.stderr.flush()


class State:
    """Fault setting and counters, shared by all threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.fault = "none"
        self.arg = None
        self.name = "?"
        self.addr = "192.0.2.1"
        self.changed = threading.Condition(self.lock)
        self.conns = set()      # open Conn objects, for kill-conns
        self.reset()

    def reset(self):
        self.stats = {"connections": 0, "handshakes": 0,
                      "handshake_failures": 0, "queries": 0, "answers": 0,
                      "resumed": 0, "open": 0, "fired": {},
                      "query_len_mod128": {}}

    def count(self, key, n=1):
        with self.lock:
            self.stats[key] += n

    def query_len(self, n):
        """Histogram of query lengths mod 128 (EDNS padding, RFC 8467)."""
        with self.lock:
            h = self.stats["query_len_mod128"]
            h[str(n % 128)] = h.get(str(n % 128), 0) + 1

    def fired(self, fault):
        with self.lock:
            first = fault not in self.stats["fired"]
            self.stats["fired"][fault] = self.stats["fired"].get(fault, 0) + 1
        if first or OPTS.verbose:
            log("fault %s fired" % fault)

    def get(self):
        with self.lock:
            return self.fault, self.arg

    def set(self, spec, quiet=False):
        name, _, arg = spec.partition(":")
        if name not in FAULTS:
            raise ValueError("unknown fault '%s'" % name)
        with self.lock:
            self.fault, self.arg = name, (arg or None)
            self.changed.notify_all()
        if not quiet:
            log("fault set to %s" % spec)

    def snapshot(self):
        with self.lock:
            s = dict(self.stats)
            s["fired"] = dict(self.stats["fired"])
            s["query_len_mod128"] = dict(self.stats["query_len_mod128"])
            s["fault"] = self.fault + (":" + self.arg if self.arg else "")
            s["addr"] = self.addr
            return s


STATE = State()
OPTS = None


# ---------------------------------------------------------------- DNS wire

class FormErr(Exception):
    pass


def read_name(msg, off):
    """Return (wire bytes of the name, lowercased text, offset after)."""
    start = off
    labels = []
    while True:
        if off >= len(msg):
            raise FormErr("name past end")
        n = msg[off]
        if n & 0xC0:
            raise FormErr("compressed name in query")
        off += 1
        if n == 0:
            break
        if off + n > len(msg):
            raise FormErr("label past end")
        labels.append(msg[off:off + n].decode("latin-1").lower())
        off += n
    if off - start > 255:
        raise FormErr("name too long")
    return msg[start:off], ".".join(labels) + ".", off


def encode_name(text):
    out = b""
    for label in text.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode("latin-1")
    return out + b"\0"


class Query:
    """A parsed query: what the answer needs."""

    def __init__(self, msg):
        if len(msg) < 12:
            raise FormErr("short header")
        (self.id, self.flags, qd, an, ns, ar) = struct.unpack(
            "!HHHHHH", msg[:12])
        self.edns = False
        self.do = False
        self.qwire = b""
        self.qname = ""
        self.qtype = self.qclass = 0
        if self.flags & 0x8000:
            raise FormErr("QR set in query")
        if qd != 1:
            raise FormErr("qdcount %d" % qd)
        self.qwire, self.qname, off = read_name(msg, 12)
        if off + 4 > len(msg):
            raise FormErr("short question")
        self.qtype, self.qclass = struct.unpack("!HH", msg[off:off + 4])
        off += 4
        if an or ns:
            raise FormErr("records in query")
        for _ in range(ar):
            if off < len(msg) and msg[off] == 0:
                off += 1
            else:
                _, _, off = read_name(msg, off)
            if off + 10 > len(msg):
                raise FormErr("short additional")
            rtype, _, ttl, rdlen = struct.unpack("!HHIH", msg[off:off + 10])
            off += 10 + rdlen
            if rtype == T_OPT:
                self.edns = True
                self.do = bool(ttl & 0x8000)
        if off > len(msg):
            raise FormErr("record past end")


def name_addr(qname):
    """The A address --addr-hash answers for qname: 10.x.y.z from the
    SHA-256 of the lower-cased name, so two servers started alike serve the
    same data and an answer given for another name is told apart."""
    h = hashlib.sha256(qname.lower().rstrip(".").encode() + b".").digest()
    return "10.%d.%d.%d" % (h[0], h[1], h[2])


def rr(owner, rtype, ttl, rdata):
    return owner + struct.pack("!HHIH", rtype, 1, ttl, len(rdata)) + rdata


def build_answer(q, rcode=None, tc=False, qname_override=None, addr=None,
                 pad_to=0, extra_a=0):
    """Build the answer message for query q.

    rcode: force an rcode (no records); tc: set TC, no records;
    qname_override: answer for this name instead (wrong-question);
    addr: the A address to answer with; pad_to: EDNS padding so the message
    is exactly this long; extra_a: add this many more A records.
    """
    zone = OPTS.zone
    qname = qname_override or q.qname
    qwire = encode_name(qname_override) if qname_override else q.qwire
    answers, auth = [], []
    in_zone = qname == zone or qname.endswith("." + zone) or zone == "."
    if rcode is None and not tc:
        if q.qclass != 1 or not in_zone:
            rcode = RC_REFUSED
        elif qname != zone and qname.split(".")[0].startswith("nx"):
            rcode = RC_NXDOMAIN
        else:
            rcode = RC_NOERROR
        zwire = encode_name(zone)
        soa = rr(zwire, T_SOA, OPTS.ttl, encode_name("ns." + zone) +
                 encode_name("hostmaster." + zone) +
                 struct.pack("!IIIII", 1, 3600, 600, 86400, OPTS.ttl))
        if rcode == RC_NXDOMAIN:
            auth.append(soa)
        elif rcode == RC_NOERROR:
            if q.qtype == T_A:
                if addr is None and OPTS.addr_hash:
                    addr = name_addr(qname)
                a = socket.inet_aton(addr or STATE.addr)
                answers.append(rr(b"\xc0\x0c", T_A, OPTS.ttl, a))
                for i in range(extra_a):
                    answers.append(rr(b"\xc0\x0c", T_A, OPTS.ttl,
                                      struct.pack("!BBH", 10, 99, i)))
            elif q.qtype == T_AAAA:
                a = socket.inet_pton(socket.AF_INET6, OPTS.addr6)
                answers.append(rr(b"\xc0\x0c", T_AAAA, OPTS.ttl, a))
            elif q.qtype == T_SOA and qname == zone:
                answers.append(soa)
            elif q.qtype == T_NS and qname == zone:
                answers.append(rr(b"\xc0\x0c", T_NS, OPTS.ttl,
                                  encode_name("ns." + zone)))
            else:
                auth.append(soa)
    elif rcode is None:
        rcode = RC_NOERROR
    flags = 0x8000 | (q.flags & 0x7800) | 0x0400 | (q.flags & 0x0100) \
        | 0x0080 | (0x0200 if tc else 0) | (rcode & 0xF)
    opt = b""
    if q.edns:
        opts = b""
        if OPTS.keepalive is not None:
            opts += struct.pack("!HHH", OPT_KEEPALIVE, 2,
                                min(0xFFFF, OPTS.keepalive // 100))
        opt = b"\0" + struct.pack("!HHIH", T_OPT, 1232,
                                  0x8000 if q.do else 0, len(opts)) + opts
    head = struct.pack("!HHHHHH", q.id, flags, 1, len(answers), len(auth),
                       1 if q.edns else 0)
    msg = head + qwire + struct.pack("!HH", q.qtype, q.qclass) + \
        b"".join(answers) + b"".join(auth)
    if pad_to and q.edns:
        padlen = pad_to - len(msg) - len(opt) - 4
        if padlen >= 0:
            optdata = opt[11:] + struct.pack("!HH", OPT_PADDING, padlen) + \
                b"\0" * padlen
            opt = opt[:9] + struct.pack("!H", len(optdata)) + optdata
    return msg + opt


def formerr(msg):
    qid = struct.unpack("!H", msg[:2])[0] if len(msg) >= 2 else 0
    return struct.pack("!HHHHHH", qid, 0x8081, 0, 0, 0, 0)


def frame(msg):
    return struct.pack("!H", len(msg)) + msg


# ------------------------------------------------------------ connections

class Closed(Exception):
    pass


class Conn:
    """One accepted connection, served by its own thread."""

    def __init__(self, sock, peer):
        self.raw = sock
        self.sock = sock
        self.peer = peer
        self.buf = b""
        self.queries = 0
        self.held = []          # out-of-order: answers waiting
        self.held_since = 0.0
        self.later = []         # delay, bimodal: heap of (due, seq, frame)
        self.later_seq = 0

    def run(self):
        # as real DoT servers do: without it an answer written while the
        # previous one is unacknowledged waits a round trip (Nagle)
        try:
            self.raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        STATE.count("connections")
        STATE.count("open")
        with STATE.lock:
            STATE.conns.add(self)
        try:
            self.serve()
        except (Closed, OSError, ssl.SSLError):
            pass
        finally:
            with STATE.lock:
                STATE.conns.discard(self)
            STATE.count("open", -1)
            try:
                self.sock.close()
            except OSError:
                pass

    def rst(self):
        # after wrap_socket the raw socket object is detached: use self.sock
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                            struct.pack("ii", 1, 0))
        self.sock.close()
        raise Closed()

    def kill(self):
        """From the control thread: end this connection at once. Both
        directions are shut on the base socket (SSLSocket's shutdown would
        drop the TLS state under the owner thread's feet): the peer gets a
        FIN, the owner's recv wakes with end-of-file, and with linger 0
        its close then sends a RST, so the peer's next write fails."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 struct.pack("ii", 1, 0))
            socket.socket.shutdown(self.sock, socket.SHUT_RDWR)
        except OSError:
            pass

    def sink_raw(self):
        """Read and drop bytes until the peer goes away."""
        self.raw.settimeout(OPTS.idle)
        while self.raw.recv(4096):
            pass
        raise Closed()

    def serve(self):
        fault, arg = STATE.get()
        if fault == "refuse-tcp":
            STATE.fired(fault)
            self.rst()
        if fault == "no-handshake":
            STATE.fired(fault)
            self.sink_raw()
        if fault == "tls-alert":
            STATE.fired(fault)
            self.raw.settimeout(5)
            self.raw.recv(16384)
            desc = int(arg or 40)
            self.raw.sendall(bytes([0x15, 3, 3, 0, 2, 2, desc]))
            self.raw.close()
            raise Closed()
        self.raw.settimeout(OPTS.handshake_timeout)
        try:
            self.sock = CTX.wrap_socket(self.raw, server_side=True)
        except (ssl.SSLError, OSError) as e:
            STATE.count("handshake_failures")
            if OPTS.verbose:
                log("handshake failed: %s" % e)
            raise Closed()
        STATE.count("handshakes")
        if self.sock.session_reused:
            STATE.count("resumed")
        if OPTS.verbose:
            log("handshake %s %s resumed=%s" % (
                self.sock.version(), self.sock.cipher()[0],
                self.sock.session_reused))
        while True:
            msg = self.read_frame()
            self.queries += 1
            STATE.count("queries")
            STATE.query_len(len(msg))
            self.handle(msg)

    def read_frame(self):
        """The next query frame; flushes held answers on their timer."""
        while True:
            self.send_due()
            if len(self.buf) >= 2:
                n = struct.unpack("!H", self.buf[:2])[0]
                if len(self.buf) >= 2 + n:
                    msg = self.buf[2:2 + n]
                    self.buf = self.buf[2 + n:]
                    return msg
            fault, arg = STATE.get()
            timeout = OPTS.idle
            if fault == "idle-close":
                timeout = float(arg or 1)
            if self.held:
                timeout = max(0.0, self.held_since + 0.05 - time.time())
            if fault == "stall-after-handshake":
                timeout = OPTS.idle
            if self.later:
                timeout = min(timeout, max(0.0, self.later[0][0] -
                                           time.monotonic()))
            self.sock.settimeout(timeout)
            try:
                data = self.sock.recv(65537)
            except socket.timeout:
                if self.held:
                    self.flush_held()
                    continue
                if self.later:
                    continue
                if fault == "idle-close":
                    STATE.fired(fault)
                raise Closed()
            if not data:
                raise Closed()
            self.buf += data

    def send(self, data):
        self.sock.settimeout(OPTS.idle)
        self.sock.sendall(data)

    def answered(self, n=1):
        STATE.count("answers", n)

    def send_later(self, data, ms):
        """Queue an answer for ms from now; read_frame sends it on time
        while this one thread keeps reading (one thread per TLS socket:
        OpenSSL does not allow a read and a write at once)."""
        self.later_seq += 1
        heapq.heappush(self.later, (time.monotonic() + ms / 1000.0,
                                    self.later_seq, data))

    def send_due(self):
        now = time.monotonic()
        while self.later and self.later[0][0] <= now:
            self.send(heapq.heappop(self.later)[2])
            self.answered()

    def flush_held(self):
        held, self.held = self.held, []
        for data in reversed(held):
            self.send(data)
        self.answered(len(held))

    def handle(self, msg):
        fault, arg = STATE.get()
        if self.held and fault != "out-of-order":
            self.flush_held()
        try:
            q = Query(msg)
        except FormErr as e:
            if OPTS.verbose:
                log("FORMERR: %s" % e)
            self.send(frame(formerr(msg)))
            self.answered()
            return
        if fault == "stall-after-handshake":
            STATE.fired(fault)
            return
        if fault == "reset-mid-frame":
            STATE.fired(fault)
            data = frame(build_answer(q))
            self.send(data[:len(data) // 2])
            time.sleep(0.05)
            self.rst()
        if fault == "garbage":
            STATE.fired(fault)
            self.send(os.urandom(int(arg or 512)))
            return
        if fault == "long-length":
            STATE.fired(fault)
            ans = build_answer(q)
            self.send(struct.pack("!H", len(ans) + 100) + ans)
            if arg == "close":
                raise Closed()
            self.sink_raw_tls()
        if fault == "zero-length":
            STATE.fired(fault)
            self.send(b"\0\0" + frame(build_answer(q)))
            self.answered()
            return
        if fault == "wrong-id":
            STATE.fired(fault)
            ans = bytearray(build_answer(q, addr=OPTS.poison_addr))
            ans[0] ^= 0x5A
            ans[1] ^= 0xA5
            self.send(frame(bytes(ans)))
            self.answered()
            return
        if fault == "wrong-question":
            STATE.fired(fault)
            other = "wrong-%d." % random.randint(0, 99999) + OPTS.zone
            self.send(frame(build_answer(q, qname_override=other,
                                         addr=OPTS.poison_addr)))
            self.answered()
            return
        if fault == "duplicate":
            STATE.fired(fault)
            first = frame(build_answer(q))
            second = first if arg == "same" else \
                frame(build_answer(q, addr=OPTS.poison_addr))
            self.send(first + second)
            self.answered(2)
            return
        if fault == "out-of-order":
            if not self.held:
                self.held_since = time.time()
            self.held.append(frame(build_answer(q)))
            if len(self.held) >= int(arg or 4):
                STATE.fired(fault)
                self.flush_held()
            elif len(self.held) > 1:
                STATE.fired(fault)
            return
        if fault in ("tc", "servfail", "refused", "empty"):
            STATE.fired(fault)
            if fault == "tc":
                ans = build_answer(q, tc=True)
            elif fault == "empty":
                ans = build_answer(q, rcode=RC_NOERROR)
            else:
                ans = build_answer(q, rcode=RC_SERVFAIL if fault ==
                                   "servfail" else RC_REFUSED)
            self.send(frame(ans))
            self.answered()
            return
        if fault == "slow-drip":
            STATE.fired(fault)
            delay = float(arg or 100) / 1000.0
            for b in frame(build_answer(q)):
                self.send(bytes([b]))
                time.sleep(delay)
            self.answered()
            return
        if fault == "delay":
            STATE.fired(fault)
            self.send_later(frame(build_answer(q)), float(arg or 300))
            return
        if fault == "bimodal":
            pct, _, ms = (arg or "10:200").partition(":")
            if random.random() * 100 < float(pct):
                STATE.fired(fault)
                self.send_later(frame(build_answer(q)), float(ms or 200))
                return
        if fault == "big":
            STATE.fired(fault)
            if q.edns and arg != "records":
                ans = build_answer(q, pad_to=65535)
            else:
                base = len(build_answer(q))
                ans = build_answer(q, extra_a=(65535 - base) // 16)
            self.send(frame(ans))
            self.answered()
            return
        self.send(frame(build_answer(q)))
        self.answered()
        if fault == "close-after" and self.queries >= int(arg or 1):
            STATE.fired(fault)
            raise Closed()

    def sink_raw_tls(self):
        """Read and drop TLS data until the peer goes away."""
        self.sock.settimeout(OPTS.idle)
        while self.sock.recv(65537):
            pass
        raise Closed()


# ------------------------------------------------------------- listeners

def make_ctx(opts):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(opts.cert, opts.key)
    if opts.tls_max == "1.0" or opts.tls_min == "1.0" or \
            opts.tls_max == "1.1" or opts.tls_min == "1.1":
        # Debian's OpenSSL refuses TLS < 1.2 at the default security level.
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    vers = {"1.0": ssl.TLSVersion.TLSv1, "1.1": ssl.TLSVersion.TLSv1_1,
            "1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
    if opts.tls_min:
        ctx.minimum_version = vers[opts.tls_min]
    elif opts.tls_max in ("1.0", "1.1"):
        ctx.minimum_version = vers[opts.tls_max]
    if opts.tls_max:
        ctx.maximum_version = vers[opts.tls_max]
    if opts.require_client_cert:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(opts.require_client_cert)
    if opts.no_tickets:
        ctx.options |= ssl.OP_NO_TICKET
        ctx.num_tickets = 0
    return ctx


def bind_listener(opts, port):
    fam = socket.AF_INET6 if ":" in opts.listen else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((opts.listen, port))
    s.listen(128)
    return s


def serve_forever(opts):
    port = opts.port
    lsock = None
    announced = False
    while True:
        fault, arg = STATE.get()
        if fault == "refuse-tcp" and arg == "closed":
            if lsock is not None:
                lsock.close()
                lsock = None
                STATE.fired("refuse-tcp")
            with STATE.lock:
                STATE.changed.wait(0.5)
            continue
        if lsock is None:
            lsock = bind_listener(opts, port)
            port = lsock.getsockname()[1]
            STATE.name = "%s@%d" % (opts.listen, port)
            if not announced:
                announced = True
                if opts.port_file:
                    tmp = opts.port_file + ".tmp"
                    with open(tmp, "w") as f:
                        f.write("%d\n" % port)
                    os.rename(tmp, opts.port_file)
                log("listening, fault %s" % STATE.snapshot()["fault"])
        r, _, _ = select.select([lsock], [], [], 0.25)
        if not r:
            continue
        try:
            sock, peer = lsock.accept()
        except OSError:
            continue
        t = threading.Thread(target=Conn(sock, peer).run, daemon=True)
        t.start()


def control(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(8)
    while True:
        c, _ = s.accept()
        try:
            c.settimeout(5)
            line = b""
            while not line.endswith(b"\n"):
                d = c.recv(1024)
                if not d:
                    break
                line += d
            words = line.decode().split()
            if words[:2] == ["set", "fault"] and len(words) == 3:
                STATE.set(words[2])
                reply = "ok"
            elif words[:2] == ["set", "addr"] and len(words) == 3:
                socket.inet_aton(words[2])
                with STATE.lock:
                    STATE.addr = words[2]
                reply = "ok"
            elif words == ["stats"]:
                reply = json.dumps(STATE.snapshot(), sort_keys=True)
            elif words == ["kill-conns"]:
                with STATE.lock:
                    conns = list(STATE.conns)
                for conn in conns:
                    conn.kill()
                log("killed %d connections" % len(conns))
                reply = "ok %d" % len(conns)
            elif words == ["reset"]:
                with STATE.lock:
                    STATE.reset()
                reply = "ok"
            else:
                reply = "error: unknown command"
        except (ValueError, OSError) as e:
            reply = "error: %s" % e
        try:
            c.sendall((reply + "\n").encode())
        except OSError:
            pass
        c.close()


def ctl_request(path, words):
    """One command to the control socket at path; the reply line (also
    for drivers that import this file)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    try:
        s.connect(path)
        s.sendall((" ".join(words) + "\n").encode())
        out = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            out += d
        return out.decode().strip()
    finally:
        s.close()


def ctl_client(path, words):
    reply = ctl_request(path, words)
    print(reply)
    return 1 if reply.startswith("error") else 0


def main():
    global OPTS, CTX
    p = argparse.ArgumentParser(
        description="DNS-over-TLS test server with injectable faults",
        epilog="faults: " + "; ".join("%s: %s" % kv for kv in FAULTS.items()))
    p.add_argument("--ctl", metavar="PATH",
                   help="client mode: send the remaining words to the "
                        "control socket PATH and print the reply")
    p.add_argument("--listen", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0: any free port")
    p.add_argument("--port-file", help="write the bound port here")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--zone", default="example.")
    p.add_argument("--addr", default="192.0.2.1")
    p.add_argument("--addr6", default="2001:db8::1")
    p.add_argument("--addr-hash", action="store_true",
                   help="answer A with name_addr(name), not --addr")
    p.add_argument("--poison-addr", default="198.51.100.66")
    p.add_argument("--ttl", type=int, default=60)
    p.add_argument("--fault", default="none", help="NAME[:ARG]")
    p.add_argument("--control", metavar="PATH", help="unix control socket")
    p.add_argument("--tls-min", choices=["1.0", "1.1", "1.2", "1.3"])
    p.add_argument("--tls-max", choices=["1.0", "1.1", "1.2", "1.3"])
    p.add_argument("--require-client-cert", metavar="CA",
                   help="mTLS: require a client certificate signed by CA")
    p.add_argument("--no-tickets", action="store_true",
                   help="do not issue session tickets")
    p.add_argument("--keepalive", type=int, metavar="MS",
                   help="add edns-tcp-keepalive with this timeout")
    p.add_argument("--idle", type=float, default=30.0,
                   help="seconds before an idle connection is closed")
    p.add_argument("--handshake-timeout", type=float, default=10.0)
    p.add_argument("-v", "--verbose", action="store_true")
    opts, rest = p.parse_known_args()
    if opts.ctl:
        return ctl_client(opts.ctl, rest)
    if rest:
        p.error("unexpected arguments: %s" % " ".join(rest))
    if not opts.cert or not opts.key:
        p.error("--cert and --key are required")
    OPTS = opts
    opts.zone = opts.zone.lower().rstrip(".") + "."
    if opts.zone == "..":
        opts.zone = "."
    STATE.addr = opts.addr
    STATE.name = "%s@%d" % (opts.listen, opts.port)
    try:
        STATE.set(opts.fault, quiet=True)
    except ValueError as e:
        p.error(str(e))
    CTX = make_ctx(opts)
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    signal.signal(signal.SIGINT, lambda *a: os._exit(0))
    if opts.control:
        threading.Thread(target=control, args=(opts.control,),
                         daemon=True).start()
    serve_forever(opts)
    return 0


CTX = None

if __name__ == "__main__":
    sys.exit(main())
