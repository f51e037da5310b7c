#!/usr/bin/python3
"""delayproxy: a TCP relay on loopback that holds every chunk of bytes for a
fixed delay in each direction, so that a server on this host looks DELAY_MS
away (a round trip of twice that once the connection is up).

    delayproxy.py --target PORT --delay-ms MS --port-file FILE [--slow-ms MS]

Listens on 127.0.0.1 on a free port (written to --port-file once
listening) and relays each connection to 127.0.0.1:TARGET. Bytes are
passed on in order, each chunk DELAY_MS after it arrived; a close is
passed on after the bytes before it. Integration tests use it instead of
bench/delayline.py, which needs two network namespaces and a resolver
inside one of them, where the tests keep all traffic on loopback. After
SIGUSR1 every byte from the server is --slow-ms later still (a server that
turned slow); SIGUSR2 ends that. Runs until SIGTERM. Standard library
only.
"""

import argparse
import asyncio
import collections
import os
import signal


# extra delay (s) of the server's bytes, switched by SIGUSR1 / SIGUSR2
SLOW = [0.0]


class Leg(asyncio.Protocol):
    """One side of a relayed connection: what it receives goes, delayed,
    to its peer leg's transport (the server's leg: plus SLOW)."""

    def __init__(self, delay, peer=None, server=False):
        self.server = server
        self.delay = delay
        self.peer = peer
        self.transport = None
        self.pending = []  # bytes due before the peer connected
        self.queue = collections.deque()  # (due, bytes), in order

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.later(data)

    def later(self, data):
        """Pass data (None: the close) on after the delay, in order: a
        chunk is never due before the one ahead of it (the delay may have
        grown or shrunk since)."""
        loop = asyncio.get_running_loop()
        due = loop.time() + self.delay + (SLOW[0] if self.server else 0.0)
        if self.queue and self.queue[-1][0] > due:
            due = self.queue[-1][0]
        self.queue.append((due, data))
        loop.call_at(due, self.flush)

    def flush(self):
        now = asyncio.get_running_loop().time()
        while self.queue and self.queue[0][0] <= now:
            data = self.queue.popleft()[1]
            if data is None:
                self.close_peer()
            else:
                self.forward(data)

    def forward(self, data):
        if self.peer is None or self.peer.transport is None:
            self.pending.append(data)
        elif not self.peer.transport.is_closing():
            self.peer.transport.write(data)

    def eof_received(self):
        self.later(None)
        return False

    def connection_lost(self, exc):
        self.later(None)

    def close_peer(self):
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.close()


async def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--target", type=int, required=True)
    p.add_argument("--delay-ms", type=float, default=20.0)
    p.add_argument("--port-file", required=True)
    p.add_argument("--slow-ms", type=float, default=300.0)
    o = p.parse_args()
    delay = o.delay_ms / 1000.0
    loop = asyncio.get_running_loop()

    def accepted():
        client = Leg(delay)

        async def connect():
            try:
                _, server = await loop.create_connection(
                    lambda: Leg(delay, client, True), "127.0.0.1",
                    o.target)
            except OSError:
                if client.transport is not None:
                    client.transport.abort()
                return
            client.peer = server
            for data in client.pending:
                server.transport.write(data)
            client.pending = []
        loop.create_task(connect())
        return client

    srv = await loop.create_server(accepted, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    tmp = o.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.rename(tmp, o.port_file)
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)
    loop.add_signal_handler(signal.SIGINT, stop.set_result, None)
    loop.add_signal_handler(signal.SIGUSR1, SLOW.__setitem__, 0,
                            o.slow_ms / 1000.0)
    loop.add_signal_handler(signal.SIGUSR2, SLOW.__setitem__, 0, 0.0)
    await stop
    srv.close()


if __name__ == "__main__":
    asyncio.run(main())
