#!/usr/bin/env python3
"""A DoT server that completes TLS handshakes, reads every query and never
answers: queries sent to it stay in flight until the client gives up.

usage: tls_blackhole.py PORT CERT KEY
Listens on 127.0.0.1:PORT. Prints "ready" once listening, then one line per
event: "accept N", "handshake N", "closed N BYTES" (bytes of DNS data read).
Runs until killed.
"""
import socket
import ssl
import sys
import threading


def serve(conn, n, ctx):
    log("accept %d" % n)
    got = 0
    try:
        tls = ctx.wrap_socket(conn, server_side=True)
        log("handshake %d" % n)
        while True:
            data = tls.recv(65536)
            if not data:
                break
            got += len(data)
    except (OSError, ssl.SSLError):
        pass
    finally:
        conn.close()
    log("closed %d %d" % (n, got))


lock = threading.Lock()


def log(msg):
    with lock:
        print(msg, flush=True)


def main():
    port, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(64)
    log("ready")
    n = 0
    while True:
        conn, _ = srv.accept()
        n += 1
        threading.Thread(target=serve, args=(conn, n, ctx),
                         daemon=True).start()


if __name__ == "__main__":
    main()
