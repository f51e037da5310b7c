#!/usr/bin/env python3
"""Send N DNS queries at once, each from its own UDP socket, and wait for
all answers.

usage: burst.py PORT COUNT SUFFIX [TIMEOUT]
Queries <tag>-<i>.SUFFIX type A. Prints one line per query:
"<i> <rcode> <first A address or ->" and exits 0 when every query got an
answer with the right ID and question, 1 otherwise.
"""
import os
import select
import socket
import struct
import sys
import time


def wire_name(name):
    out = b""
    for label in name.strip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def parse_answer(pkt, question):
    """Return (rcode, first A address or '-') or None if pkt does not
    answer question (header + question section)."""
    if len(pkt) < len(question) or pkt[12:len(question)].lower() != \
            question[12:].lower():
        return None
    flags, qd, an = struct.unpack("!HHH", pkt[2:8])
    if not flags & 0x8000 or qd != 1:
        return None
    rcode = flags & 0xF
    pos = len(question)
    for _ in range(an):
        # owner: a name or a pointer
        while True:
            ln = pkt[pos]
            if ln >= 0xC0:
                pos += 2
                break
            pos += 1 + ln
            if ln == 0:
                break
        rtype, _, _, rdlen = struct.unpack("!HHIH", pkt[pos:pos + 10])
        pos += 10
        if rtype == 1 and rdlen == 4:
            return rcode, socket.inet_ntoa(pkt[pos:pos + 4])
        pos += rdlen
    return rcode, "-"


def main():
    port, count, suffix = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    timeout = float(sys.argv[4]) if len(sys.argv) > 4 else 8.0
    tag = os.urandom(4).hex()
    pending = {}
    for i in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setblocking(False)
        qid = (i * 7919 + 1) & 0xFFFF
        q = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + \
            wire_name("%s-%d.%s" % (tag, i, suffix)) + struct.pack("!HH", 1, 1)
        pending[s] = (i, q)
    for s, (i, q) in pending.items():
        s.sendto(q, ("127.0.0.1", port))
    results = {}
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        ready, _, _ = select.select(list(pending), [], [],
                                    max(0, deadline - time.monotonic()))
        for s in ready:
            i, q = pending[s]
            pkt = s.recv(4096)
            ans = parse_answer(pkt, q)
            if ans is None:
                continue  # not ours; keep waiting
            results[i] = ans
            s.close()
            del pending[s]
    for s in pending:
        s.close()
    for i in range(count):
        rcode, addr = results.get(i, ("TIMEOUT", "-"))
        print(i, rcode, addr)
    sys.exit(0 if len(results) == count else 1)


if __name__ == "__main__":
    main()
