#!/usr/bin/env python3
"""Emulated network path between two network namespaces, for kernels
without sch_netem: a TUN device in each namespace and this process in
between, holding every IP packet for a fixed delay before passing it on.

    delayline.py NS_A ADDR_A NS_B ADDR_B DELAY_MS [BLACKHOLE_ADDR...]

NS_A gets tun device dpbA with ADDR_A/29, NS_B gets dpbB with ADDR_B/29;
packets addressed to a BLACKHOLE_ADDR (routed via the tunnel, owned by
nobody) are dropped silently, as a dead upstream behind a firewall would
be. Runs until SIGTERM. Prints "ready" on stdout once both devices are up.
"""
import ctypes
import fcntl
import heapq
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import time

CLONE_NEWNET = 0x40000000
TUNSETIFF = 0x400454ca
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000

libc = ctypes.CDLL("libc.so.6", use_errno=True)


def enter_netns(name):
	"""Move this (single-threaded) process into namespace `name`."""
	fd = os.open("/var/run/netns/" + name, os.O_RDONLY)
	try:
		if libc.setns(fd, CLONE_NEWNET) != 0:
			e = ctypes.get_errno()
			raise OSError(e, "setns %s: %s" % (name, os.strerror(e)))
	finally:
		os.close(fd)


def open_tun(ns, dev, addr):
	"""Create tun `dev` inside namespace `ns`, give it addr/29, bring it
	up; return the packet fd (it stays bound to that device)."""
	enter_netns(ns)
	fd = os.open("/dev/net/tun", os.O_RDWR)
	ifr = struct.pack("16sH22x", dev.encode(), IFF_TUN | IFF_NO_PI)
	fcntl.ioctl(fd, TUNSETIFF, ifr)
	subprocess.run(["ip", "-n", ns, "addr", "add", addr + "/29", "dev",
		dev], check=True)
	subprocess.run(["ip", "-n", ns, "link", "set", dev, "up"], check=True)
	os.set_blocking(fd, False)
	return fd


def main():
	if len(sys.argv) < 6:
		sys.exit(__doc__)
	ns_a, addr_a, ns_b, addr_b = sys.argv[1:5]
	delay = float(sys.argv[5]) / 1000.0
	holes = {socket.inet_aton(a) for a in sys.argv[6:]}
	self_ns = os.open("/proc/self/ns/net", os.O_RDONLY)
	fd_a = open_tun(ns_a, "dpbA", addr_a)
	fd_b = open_tun(ns_b, "dpbB", addr_b)
	# back home: nothing else of ours runs inside the namespaces
	libc.setns(self_ns, CLONE_NEWNET)
	os.close(self_ns)
	peer = {fd_a: fd_b, fd_b: fd_a}
	stop = []
	signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
	signal.signal(signal.SIGINT, lambda *a: stop.append(1))
	print("ready", flush=True)
	queue = []  # (due, seq, out_fd, packet)
	seq = 0
	dropped = 0
	while not stop:
		now = time.monotonic()
		while queue and queue[0][0] <= now:
			_, _, out, pkt = heapq.heappop(queue)
			try:
				os.write(out, pkt)
			except BlockingIOError:
				dropped += 1
		timeout = max(0.0, queue[0][0] - now) if queue else 0.5
		try:
			ready, _, _ = select.select([fd_a, fd_b], [], [], timeout)
		except InterruptedError:
			continue
		for fd in ready:
			while True:
				try:
					pkt = os.read(fd, 65536)
				except BlockingIOError:
					break
				if not pkt:
					break
				# IPv4 only: destination address at bytes 16..20
				if len(pkt) >= 20 and pkt[0] >> 4 == 4 and \
						pkt[16:20] in holes:
					continue
				seq += 1
				heapq.heappush(queue, (time.monotonic() + delay,
					seq, peer[fd], pkt))
	if dropped:
		print("delayline: %d packets dropped (tun full)" % dropped,
			file=sys.stderr)


if __name__ == "__main__":
	main()
