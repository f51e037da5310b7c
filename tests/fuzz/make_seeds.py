#!/usr/bin/env python3
"""Write the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/).

The seeds are small, valid-looking inputs in each target's input format (see
the comment at the top of each fuzz_<target>.c), one per interesting path, so
that a short run starts from the shapes that matter instead of from nothing.
The files are committed; run this again only after changing an input format:
    python3 tests/fuzz/make_seeds.py
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def name(dotted):
    out = b""
    for label in dotted.strip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def query(qid, qname, qtype=1, flags=0x0100, ar=b"", arcount=0):
    return (struct.pack("!HHHHHH", qid, flags, 1, 0, 0, arcount) +
            name(qname) + struct.pack("!HH", qtype, 1) + ar)


def opt(options=b"", payload=1232):
    return b"\0" + struct.pack("!HHIH", 41, payload, 0, len(options)) + options


def keepalive_opt(timeout):
    return struct.pack("!HHH", 11, 2, timeout)


def answer(q, records=b"", ancount=0, ar=b"", arcount=0):
    qid, flags, qd = struct.unpack("!HHH", q[:6])
    qsec = q[12:]
    # keep only the question of q
    end = qsec.index(b"\0") + 1 + 4
    return (struct.pack("!HHHHHH", qid, flags | 0x8080, qd, ancount, 0,
                        arcount) + qsec[:end] + records + ar)


A_RR = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 300, 4) + bytes([192, 0, 2, 1])


def frame(msg):
    return struct.pack("!H", len(msg)) + msg


def seeds():
    s = {}
    q = query(0x1234, "www.example.com")
    a = answer(q, A_RR, 1)
    # frame: mode (bit 0 raw), control count, control bytes, stream
    s["frame"] = {
        "raw_two_frames": b"\x01\x02\x05\x83" + frame(q) + frame(a) + b"\x00",
        "raw_zero_length": b"\x01\x01\x80" + frame(b"hi") + b"\x00\x00",
        "raw_partial": b"\x01\x01\x07" + frame(a) + b"\x01\x00abc",
        "synth_large": b"\x00\x01\x41" + b"\xff\xff\x00" + b"\x00\x10\x05"
        + b"\x80\x00\x07",
        "synth_lagging": b"\x00\x01\x00" + b"".join(
            b"\x00\x08" + bytes([i]) for i in range(200)),
    }
    # wbuf: 3 bytes limit, then ops: 0 put(len16; bit 6 maximal), 1 consume(n16),
    # 2 consume all, 3 compare; op bit 7 put of a bad length
    s["wbuf"] = {
        "conn_limit": b"\x04\x00\x00" + b"\x00\x00\x64" + b"\x40\xff\xff"
        + b"\x01\x00\x32" + b"\x03" + b"\x02" + b"\x80\x00\x00" + b"\x03",
        "small_limit": b"\x00\x00\x10" + b"\x00\x00\x0e" + b"\x00\x00\x01"
        + b"\x01\x00\x05" + b"\x00\x00\x04" + b"\x03",
        "grow_reclaim": b"\x00\x20\x00" + (b"\x00\x01\x00" * 6)
        + b"\x01\x02\x00" + (b"\x00\x03\x00" * 3) + b"\x03" + b"\xc0\x00\x00",
    }
    # wire: 2 bytes query length, query, answer
    mixed = bytearray(a)
    mixed[13:16] = b"WwW"
    other = answer(query(0x1234, "www.example.net"), A_RR, 1)
    s["wire"] = {
        "match": struct.pack("!H", len(q)) + q + a,
        "match_case": struct.pack("!H", len(q)) + q + bytes(mixed),
        "other_name": struct.pack("!H", len(q)) + q + other,
        "root_ns": (lambda rq: struct.pack("!H", len(rq)) + rq +
                    answer(rq))(query(7, ".", 2)),
        "pointer_in_question": struct.pack("!H", len(q)) + q + a[:12]
        + b"\xc0\x0c\x00\x01\x00\x01",
    }
    # keepalive: bit 0 of byte 0 raw, else a generator's choices
    ka = answer(q, A_RR, 1, opt(keepalive_opt(100)), 1)
    ka_other = answer(q, A_RR, 1, opt(struct.pack("!HH", 10, 8) + b"c" * 8
                                      + keepalive_opt(0)), 1)
    s["keepalive"] = {
        "raw_keepalive_10s": b"\x01" + ka,
        "raw_keepalive_0_after_cookie": b"\x01" + ka_other,
        "raw_no_opt": b"\x01" + a,
        "raw_client_form": b"\x01" + query(
            1, "example.org", 1, 0x0100, opt(struct.pack("!HH", 11, 0)), 1),
        "built": bytes([0x80, 1, 1, 1, 1, 1, 1]) + bytes(range(1, 60)),
        "built_cut": bytes([0x41, 2, 3, 0, 2, 2, 1]) + bytes(range(3, 90)),
    }
    # idmap: capacity byte (0xff: 2 more), then op, id16 (op bit 7: near
    # the last allocated ID); ops: 0 alloc 1 get 2 release 3 cancel 4 drain
    s["idmap"] = {
        "inflight_128": b"\x7f" + b"\x00\x12\x34" * 5 + b"\x83\x00\x00"
        + b"\x82\x00\x01" + b"\x81\x00\x00" + b"\x02\x12\x34" + b"\x04\x00\x00",
        "full": b"\x02" + b"\x00\xff\xff" * 4 + b"\x82\x00\x00"
        + b"\x00\x00\x00",
        "wide": b"\xff\xff\xfe" + b"\x00\x80\x00" * 8 + b"\x82\x00\x03"
        + b"\x81\x00\x02" + b"\x00\x80\x00",
    }
    s["config"] = {
        "globals.conf": b"""# every global key
dotpool:
\tattempt-timeout: 700
\tquery-timeout: 1800
\tmax-attempts: 3
\tpolicy: ordered
\thedge-delay: 0
\tconnect-timeout: 2000
\tidle-timeout: 20000
\tmax-inflight: 128
\tmax-connections: 2
\tmax-queue: 1024
\tprewarm: no
\trewarm-window: 60000
\tkeepalive: yes
\tfail-threshold: 3
\tbackoff-initial: 500
\tbackoff-max: 10000
\tprobe-interval: 1000
\ttls-min-version: "1.3"
\ttls-ciphers: "ECDHE+AESGCM"
\ttls-ciphersuites: TLS_AES_128_GCM_SHA256
\tsession-resumption: yes
\tprofile: strict
\tmetrics-listen: 127.0.0.1@9153
""",
        "zones.conf": b"""dotpool:
  policy: fastest
zone:
  name: "example.com."
  policy: weighted
  hedge-delay: 150
  profile: opportunistic
zone:
  name: .
  policy: round-robin
upstream:
  addr: 192.0.2.1@853#dns.example.net   # a comment
  weight: 10
  profile: strict
  pin-sha256: "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
upstream:
  addr: 2001:db8::53
  weight: 1
""",
        "errors.conf": b"dotpool:\nmax-attempts: 99\n",
        # client-cert/-key must name readable files: /dev/null is one
        "mtls.conf": b"upstream:\n\taddr: 192.0.2.7@853#dot.example\n"
        b"\tclient-cert: /dev/null\n\tclient-key: /dev/null\n"
        b"upstream:\n\taddr: 192.0.2.8\n\tclient-cert: /dev/null\n",
        "pins.conf": b"upstream:\n\taddr: ::1@853\n" + b"".join(
            b"\tpin-sha256: %sFU=\n" % (b"47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSu"[:-1] + bytes([65 + i]))
            for i in range(9)),
        "crlf.conf": b"dotpool:\r\n\tkeepalive: no\r\nzone:\r\n\tname: a.b\r\n",
        "nul.conf": b"dotpool:\n\tprewarm: yes\0\n",
    }
    # http: byte 0 read size (0: all at once), then the request
    s["http"] = {
        "get": b"\x00GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9153\r\n"
        b"Accept: text/plain\r\n\r\n",
        "head_pieces": b"\x05HEAD /metrics?x=1 HTTP/1.0\r\n\r\n",
        "lf_only": b"\x00GET /metrics HTTP/1.1\n\n",
        "post": b"\x00POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
        "not_found": b"\x03GET /metricsx#frag HTTP/1.1\r\n\r\n",
        "bad": b"\x00GET/metrics\r\n\r\n",
        "nul": b"\x00GET /met\0rics HTTP/1.1\r\n\r\n",
        "too_large": b"\x00GET /metrics HTTP/1.1\r\nX-Pad: " + b"a" * 4096,
    }
    return s


def main():
    for target, files in seeds().items():
        d = os.path.join(HERE, "corpus", target)
        os.makedirs(d, exist_ok=True)
        for old in os.listdir(d):
            os.unlink(os.path.join(d, old))
        for fname, data in files.items():
            with open(os.path.join(d, fname), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()
