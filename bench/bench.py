#!/usr/bin/env python3
"""dotpool benchmark driver (run through bench/run.sh).

Every system under test forwards everything (zone ".") to ONE upstream: a
dnsdist that answers every query itself (SpoofAction) on plain UDP/TCP and
on DoT, and counts TLS handshakes (new sessions and resumptions) per
frontend on its /metrics page. Load comes from dnsperf with unique names, so
every query misses the resolver's cache (except the cache-hit floor, which
repeats a small set of names on purpose).

Scenarios (see bench/README.md):
  max      saturating dnsperf for BENCH_DURATION s; qps, CPU, handshakes
  rate     fixed BENCH_RATE qps; latency p50/p99 from dnsperf -v, CPU/query
  floor    cache hits only: Unbound's own cost per answered query
  quiet    10 ms each way to the upstream (namespaces); latency of the
           first query after a quiet spell longer than the upstream's idle
           timeout, against a warm query
  failover same path, the first of two upstreams blackholed
  tail     same path, two fault-injecting upstreams, the primary failing
           mid-run (blackholed, refusing, slow) or bimodal or healthy:
           latency of every query over time (bench/tail.py)

Rounds are interleaved (every system once per round) and the order of the
systems is rotated each round. Medians over rounds are reported.
"""
import argparse
import atexit
import datetime
import json
import os
import random
import resource
import shutil
import signal
import socket
import statistics
import string
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(TOP, "bench")
DYN_UNBOUND = os.environ.get("BENCH_DYN_UNBOUND", os.path.join(TOP,
	".cache/unbound-1.17.1-2+deb12u4/prefix/sbin/unbound"))
STOCK_UNBOUND = os.environ.get("BENCH_STOCK_UNBOUND", "/usr/sbin/unbound")
DOTPOOL_SO = os.environ.get("BENCH_DOTPOOL_SO",
	os.path.join(TOP, ".libs/dotpool.so"))
# the -1.26 rows: one Unbound 1.26.0 build (plain configure line, dynlib)
# runs both native DoT and dotpool, the module built against its tree
# (bench/run.sh: scripts/unbound-upstream.sh, scripts/test-versions.sh)
UNBOUND_126 = os.environ.get("BENCH_UNBOUND_126", os.path.join(TOP,
	".cache/unbound-1.26.0-plain/prefix/sbin/unbound"))
DOTPOOL_SO_126 = os.environ.get("BENCH_DOTPOOL_SO_126",
	os.path.join(TOP, ".versions/build-1.26.0/.libs/dotpool.so"))
# the dotpool-ref row: the same Unbound 1.17.1 with dotpool built from an
# earlier revision (bench/run.sh --ref REV), so a change is measured against
# its predecessor in the same rounds rather than across noisy runs
DOTPOOL_SO_REF = os.environ.get("BENCH_DOTPOOL_SO_REF", "")
DOTPOOL_REF_REV = os.environ.get("BENCH_DOTPOOL_REF_REV", "ref")
AUTH_NAME = "up.bench"
API_KEY = "dotpool-bench"
# namespaces and addresses of the emulated-RTT path: only these are used
NS_RES = "dpbench-res"
NS_UP = "dpbench-up"
ADDR_RES = "198.18.0.1"
ADDR_UP = "198.18.0.2"
ADDR_DEAD = "198.18.0.6"
UP_TLS_PORT = 853

# system name -> (kind, threads)
SYSTEMS = {
	"dotpool": ("dotpool", 1),
	"unbound-dot": ("unbound-dot", 1),
	"dotpool-1.26": ("dotpool", 1),
	"unbound-dot-1.26": ("unbound-dot", 1),
	"unbound-udp": ("unbound-udp", 1),
	"kresd": ("kresd", 1),
	"dnsdist": ("dnsdist", 1),
	"stubby": ("stubby", 1),
	"dotpool-t2": ("dotpool", 2),
	"unbound-dot-t2": ("unbound-dot", 2),
	"unbound-udp-t2": ("unbound-udp", 2),
	# only in the emulated-path scenarios by default (--path-extra)
	"dotpool-prewarm": ("dotpool", 1),
	# only with bench/run.sh --ref REV
	"dotpool-ref": ("dotpool", 1),
	# the tail scenario's reference: what hedging costs or saves
	"dotpool-nohedge": ("dotpool", 1),
}
# dotpool.conf lines per system (on top of --dotpool-conf)
DOTPOOL_EXTRA = {"dotpool-prewarm": "prewarm: yes",
	"dotpool-nohedge": "hedge-delay: 0"}
# The Unbound release of the Unbound rows: 1.17.1 (Debian 12) unless named
# here. A row's "/ dotpool" and "/ native DoT" ratios are to the dotpool and
# native DoT rows of its own release (the other rows: to 1.17.1's).
UNBOUND_OF = {"dotpool-1.26": "1.26.0", "unbound-dot-1.26": "1.26.0"}
DOTPOOL_REF = {"1.17.1": "dotpool", "1.26.0": "dotpool-1.26"}
NATIVE_REF = {"1.17.1": "unbound-dot", "1.26.0": "unbound-dot-1.26"}
# the other DoT forwarders, for "dotpool / best peer"
PEERS = ["kresd", "dnsdist", "stubby"]
LOOPBACK_DEFAULT = [s for s in SYSTEMS
	if s not in ("dotpool-prewarm", "dotpool-ref", "dotpool-nohedge") or
	(s == "dotpool-ref" and DOTPOOL_SO_REF)]
# systems that talk to the upstream over DoT (quiet and failover scenarios)
DOT_SYSTEMS = ["dotpool", "dotpool-prewarm", "unbound-dot", "dotpool-1.26",
	"unbound-dot-1.26", "kresd", "dnsdist", "stubby"]
FLOOR_SYSTEMS = ["dotpool", "unbound-dot", "dotpool-1.26",
	"unbound-dot-1.26"]


def unbound_of(name):
	return UNBOUND_OF.get(name, "1.17.1")


CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg):
	print("[bench %s] %s" % (time.strftime("%H:%M:%S"), msg),
		file=sys.stderr, flush=True)


def free_port():
	"""A port free on 127.0.0.1 for both TCP and UDP."""
	while True:
		t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
		t.bind(("127.0.0.1", 0))
		port = t.getsockname()[1]
		u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
		try:
			u.bind(("127.0.0.1", port))
			return port
		except OSError:
			continue
		finally:
			t.close()
			u.close()


# ---------------------------------------------------------------- processes

class Proc:
	"""A daemon we started; stopped by its own pid only."""
	live = []

	def __init__(self, name, argv, logpath, env=None, ns=None, cpus=None):
		cmd = list(argv)
		if cpus:
			cmd = ["taskset", "-c", cpus] + cmd
		if ns:
			# ip netns exec and taskset both exec: the pid is the daemon's
			cmd = ["ip", "netns", "exec", ns] + cmd
		self.name = name
		self.logpath = logpath
		self.logf = open(logpath, "ab")
		self.p = subprocess.Popen(cmd, stdout=self.logf,
			stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
			env=env, start_new_session=True)
		self.pid = self.p.pid
		Proc.live.append(self)

	def cpu(self):
		"""utime+stime of the process (all its threads), seconds."""
		with open("/proc/%d/stat" % self.pid) as f:
			fields = f.read().rsplit(")", 1)[1].split()
		# fields[0] is state (field 3); utime, stime are fields 14, 15
		return (int(fields[11]) + int(fields[12])) / CLK_TCK

	def alive(self):
		return self.p.poll() is None

	def stop(self):
		if self.p.poll() is None:
			self.p.send_signal(signal.SIGTERM)
			try:
				self.p.wait(5)
			except subprocess.TimeoutExpired:
				self.p.kill()
				self.p.wait()
		self.logf.close()
		if self in Proc.live:
			Proc.live.remove(self)

	def tail(self, n=5):
		try:
			with open(self.logpath, "rb") as f:
				lines = f.read().decode("utf-8", "replace").splitlines()
			return " | ".join(lines[-n:])
		except OSError:
			return ""


def stop_all():
	for p in list(Proc.live):
		p.stop()


# ---------------------------------------------------------------- DNS probes

def dns_query(server, port, name, timeout=2.0):
	"""One A query over UDP; returns (rcode, seconds) or (None, timeout)."""
	qid = random.randrange(65536)
	q = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
	for label in name.rstrip(".").split("."):
		q += bytes([len(label)]) + label.encode()
	q += b"\0" + struct.pack("!HH", 1, 1)
	s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
	s.settimeout(timeout)
	t0 = time.monotonic()
	try:
		s.sendto(q, (server, port))
		while True:
			d, _ = s.recvfrom(4096)
			if len(d) >= 12 and struct.unpack("!H", d[:2])[0] == qid:
				return d[3] & 0x0F, time.monotonic() - t0
	except socket.timeout:
		return None, timeout
	finally:
		s.close()


def rand_name(zone="bench."):
	return "%s.%s" % ("".join(random.choices(string.ascii_lowercase +
		string.digits, k=14)), zone)


def wait_ready(port, timeout):
	"""True once the resolver answers a fresh name with NOERROR."""
	end = time.monotonic() + timeout
	while time.monotonic() < end:
		rc, _ = dns_query("127.0.0.1", port, rand_name(), 1.0)
		if rc == 0:
			return True
		time.sleep(0.2)
	return False


def wait_bound(port, ns, timeout):
	"""True once something listens on UDP port `port` (in namespace ns)."""
	cmd = ["ss", "-Hnlu", "sport = :%d" % port]
	if ns:
		cmd = ["ip", "netns", "exec", ns] + cmd
	end = time.monotonic() + timeout
	while time.monotonic() < end:
		out = subprocess.run(cmd, stdout=subprocess.PIPE).stdout
		if out.strip():
			return True
		time.sleep(0.1)
	return False


def cmd_wait(args):
	sys.exit(0 if wait_ready(args.port, args.timeout) else 1)


def cmd_quiet(args):
	"""Warm queries, a quiet spell, then the first query after it."""
	warm = []
	for i in range(args.warm):
		rc, t = dns_query("127.0.0.1", args.port, rand_name(), 3.0)
		warm.append((rc, t))
		time.sleep(0.1)
	time.sleep(args.quiet)
	first = dns_query("127.0.0.1", args.port, rand_name(), 3.0)
	after = []
	for i in range(3):
		time.sleep(0.1)
		after.append(dns_query("127.0.0.1", args.port, rand_name(), 3.0))
	print(json.dumps({"warm": warm, "first": first, "after": after}))


def cmd_metrics(args):
	print(json.dumps(upstream_counters_local(args.url)))


def upstream_counters_local(url):
	"""Sum the TLS frontend counters of the upstream dnsdist."""
	req = urllib.request.Request(url, headers={"X-API-Key": API_KEY})
	text = urllib.request.urlopen(req, timeout=5).read().decode()
	c = {"new": 0, "resumed": 0, "tls_queries": 0}
	for line in text.splitlines():
		if line.startswith("#") or "DNS over TLS" not in line:
			continue
		name, val = line.rsplit(" ", 1)
		if name.startswith("dnsdist_frontend_tlsnewsessions"):
			c["new"] += int(float(val))
		elif name.startswith("dnsdist_frontend_tlsresumptions"):
			c["resumed"] += int(float(val))
		elif name.startswith("dnsdist_frontend_queries{"):
			c["tls_queries"] += int(float(val))
	return c


def in_ns(ns, *argv):
	"""Run a subcommand of this script inside a namespace, JSON back."""
	out = subprocess.run(["ip", "netns", "exec", ns, sys.executable,
		os.path.abspath(__file__)] + [str(a) for a in argv],
		stdout=subprocess.PIPE, check=False)
	return out


# ---------------------------------------------------------------- dnsperf

def dnsperf(port, qfile, duration=None, clients=10, outstanding=200,
		rate=None, verbose=False, ns=None, cpus=None, timeout=2,
		runs=None, server="127.0.0.1"):
	cmd = ["dnsperf", "-s", server, "-p", str(port), "-d", qfile,
		"-c", str(clients), "-q", str(outstanding), "-t", str(timeout)]
	if duration:
		cmd += ["-l", str(duration)]
	if runs:
		cmd += ["-n", str(runs)]
	if rate:
		cmd += ["-Q", str(rate)]
	if verbose:
		cmd += ["-v"]
	if cpus:
		cmd = ["taskset", "-c", cpus] + cmd
	if ns:
		cmd = ["ip", "netns", "exec", ns] + cmd
	ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
	t0 = time.monotonic()
	p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
	wall = time.monotonic() - t0
	ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
	r = parse_dnsperf(p.stdout.decode("utf-8", "replace"))
	# CPU shares are taken over the whole dnsperf process, which includes
	# its wait for late answers after the run time it reports
	r["wall"] = wall
	# dnsperf's own CPU (it is the only child reaped meanwhile)
	r["perf_cpu_s"] = (ru1.ru_utime - ru0.ru_utime) + \
		(ru1.ru_stime - ru0.ru_stime)
	return r


def parse_dnsperf(text):
	r = {"sent": 0, "completed": 0, "lost": 0, "rcodes": {}, "qps": 0.0,
		"runtime": 0.0, "lat": []}
	for line in text.splitlines():
		s = line.strip()
		if line.startswith("> "):
			parts = line.split()
			if len(parts) >= 5:
				try:
					r["lat"].append(float(parts[-1]))
				except ValueError:
					pass
		elif s.startswith("Queries sent:"):
			r["sent"] = int(s.split()[2])
		elif s.startswith("Queries completed:"):
			r["completed"] = int(s.split()[2])
		elif s.startswith("Queries lost:"):
			r["lost"] = int(s.split()[2])
		elif s.startswith("Queries per second:"):
			r["qps"] = float(s.split()[3])
		elif s.startswith("Run time (s):"):
			r["runtime"] = float(s.split()[3])
		elif s.startswith("Response codes:"):
			for item in s.split(":", 1)[1].split(","):
				f = item.split()
				if len(f) >= 2:
					r["rcodes"][f[0]] = int(f[1])
	if not r["sent"]:
		r["error"] = text[-500:]
	# throughput counts good answers only: a SERVFAIL is fast but useless
	r["ok_qps"] = r["rcodes"].get("NOERROR", 0) / r["runtime"] \
		if r["runtime"] else 0.0
	return r


def pct(values, p):
	if not values:
		return None
	v = sorted(values)
	k = min(len(v) - 1, max(0, int(round(p / 100.0 * len(v) + 0.5)) - 1))
	return v[k]


# ---------------------------------------------------------------- configs

class Bench:
	def __init__(self, opts):
		self.o = opts
		self.work = tempfile.mkdtemp(prefix="dotpool-bench.")
		self.records = []
		self.failed = {}
		self.ns_made = False
		self.delayline = None
		self.path_kind = "?"

	# ---- certificates and query files
	def prepare(self):
		w = self.work
		# a private copy: a rebuild of the work tree during the run must
		# not change the module under test
		self.dotpool_so = {}
		for ver, so in (("1.17.1", DOTPOOL_SO), ("1.26.0", DOTPOOL_SO_126),
				("ref", DOTPOOL_SO_REF)):
			if so and os.path.exists(so):
				self.dotpool_so[ver] = os.path.join(w, "dotpool-%s.so" % ver)
				shutil.copy(so, self.dotpool_so[ver])
		def ossl(*a):
			subprocess.run(["openssl"] + list(a), check=True,
				stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
		ossl("req", "-x509", "-newkey", "ec", "-pkeyopt",
			"ec_paramgen_curve:P-256", "-nodes", "-keyout", w + "/ca.key",
			"-out", w + "/ca.pem", "-days", "7", "-subj", "/CN=dotpool bench CA")
		ossl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
			"-nodes", "-keyout", w + "/up.key", "-out", w + "/up.csr",
			"-subj", "/CN=" + AUTH_NAME)
		with open(w + "/up.ext", "w") as f:
			f.write("subjectAltName=DNS:%s,IP:127.0.0.1,IP:%s,IP:%s\n" %
				(AUTH_NAME, ADDR_UP, ADDR_DEAD))
		ossl("x509", "-req", "-in", w + "/up.csr", "-CA", w + "/ca.pem",
			"-CAkey", w + "/ca.key", "-CAcreateserial", "-out",
			w + "/up.pem", "-days", "7", "-extfile", w + "/up.ext")
		with open(w + "/upchain.pem", "w") as f:
			f.write(open(w + "/up.pem").read() + open(w + "/ca.pem").read())
		rng = random.Random(20261130)
		alpha = string.ascii_lowercase + string.digits
		def names(path, n, tag):
			with open(path, "w") as f:
				for i in range(n):
					f.write("%s%s.bench. A\n" % (tag,
						"".join(rng.choices(alpha, k=12))))
		names(w + "/q-max.txt", self.o.names, "m")
		names(w + "/q-warm.txt", 60000, "w")
		names(w + "/q-rate.txt", int(self.o.rate * self.o.rate_duration
			* 1.2) + 1000, "r")
		names(w + "/q-floor.txt", 1000, "f")
		names(w + "/q-fail.txt", self.o.fail_rate * self.o.fail_duration
			+ 1000, "x")

	# ---- the upstream
	def start_upstream(self, tag, ip, udp, tls, web, idle, ns=None,
			cpus=None):
		conf = os.path.join(self.work, "upstream-%s.lua" % tag)
		with open(conf, "w") as f:
			f.write("""-- bench upstream: answers everything itself
setSecurityPollSuffix('')
setLocal('{ip}:{udp}')
addACL('198.18.0.0/29')
addTLSLocal('{ip}:{tls}', '{w}/upchain.pem', '{w}/up.key',
	{{maxInFlight=1024}})
setMaxTCPClientThreads(2)
setMaxTCPQueuedConnections(10000)
setTCPRecvTimeout({idle})
addAction(AllRule(), SpoofAction('192.0.2.1'))
addAction(AllRule(), RCodeAction(DNSRCode.NOERROR))
webserver('127.0.0.1:{web}')
setWebserverConfig({{apiKey='{key}', password='{key}', acl='127.0.0.0/8'}})
""".format(ip=ip, udp=udp, tls=tls, w=self.work, idle=idle, web=web,
				key=API_KEY))
		p = Proc("upstream-" + tag, ["dnsdist", "--supervised",
			"--disable-syslog", "-C", conf],
			os.path.join(self.work, "upstream-%s.log" % tag), ns=ns,
			cpus=cpus)
		p.web = "http://127.0.0.1:%d/metrics" % web
		p.ns = ns
		p.udp_port = udp
		p.tls_port = tls
		end = time.monotonic() + 10
		while time.monotonic() < end:
			try:
				self.counters(p)
				return p
			except Exception:
				time.sleep(0.2)
		raise RuntimeError("upstream did not start: " + p.tail())

	def counters(self, up):
		if up.ns:
			out = in_ns(up.ns, "metrics", up.web)
			return json.loads(out.stdout)
		return upstream_counters_local(up.web)

	# ---- systems under test
	def start_system(self, name, ups, ns=None, cpus=None, tag="",
			ready=True):
		"""ups: list of (ip, tls_port, udp_port), first is primary."""
		kind, threads = SYSTEMS[name]
		port = 5300 if ns else free_port()
		d = os.path.join(self.work, "%s%s" % (name, tag))
		if os.path.exists(d):
			shutil.rmtree(d)
		os.makedirs(d)
		logp = os.path.join(d, "log")
		env = dict(os.environ)
		ca = self.work + "/ca.pem"
		if kind in ("dotpool", "unbound-dot", "unbound-udp"):
			if kind == "unbound-udp":
				fwd = "".join("\tforward-addr: %s@%d\n" % (u[0], u[2])
					for u in ups)
				tls = "no"
			else:
				fwd = "".join("\tforward-addr: %s@%d#%s\n" % (u[0], u[1],
					AUTH_NAME) for u in ups)
				tls = "yes"
			modcfg = "dynlib iterator" if kind == "dotpool" else "iterator"
			conf = """server:
	username: ""
	chroot: ""
	directory: "{d}"
	pidfile: ""
	use-syslog: no
	logfile: ""
	verbosity: 1
	interface: 127.0.0.1@{port}
	port: {port}
	do-ip6: no
	do-not-query-localhost: no
	num-threads: {threads}
	so-reuseport: yes
	num-queries-per-thread: 4096
	outgoing-range: 8192
	msg-cache-size: 64m
	rrset-cache-size: 128m
	qname-minimisation: no
	minimal-responses: yes
	tls-cert-bundle: "{ca}"
	module-config: "{modcfg}"
remote-control:
	control-enable: no
""".format(d=d, port=port, threads=threads, ca=ca, modcfg=modcfg)
			ver = unbound_of(name)
			if kind == "dotpool":
				so = "ref" if name == "dotpool-ref" else ver
				if so not in self.dotpool_so:
					raise RuntimeError("no module at %s" % {"ref":
						DOTPOOL_SO_REF or "(no --ref given)",
						"1.26.0": DOTPOOL_SO_126}.get(so, DOTPOOL_SO))
				conf += "dynlib:\n\tdynlib-file: \"%s\"\n" % \
					self.dotpool_so[so]
				dpc = os.path.join(d, "dotpool.conf")
				with open(dpc, "w") as f:
					f.write("# dotpool settings for the benchmark\ndotpool:\n")
					for line in self.o.dotpool_conf.split("\\n") + \
							[DOTPOOL_EXTRA.get(name, "")]:
						if line.strip():
							f.write("\t%s\n" % line.strip())
				env["DOTPOOL_CONF"] = dpc
			conf += "forward-zone:\n\tname: \".\"\n" + \
				"\tforward-tls-upstream: %s\n" % tls + fwd
			cf = os.path.join(d, "unbound.conf")
			open(cf, "w").write(conf)
			if ver == "1.26.0":
				binary = UNBOUND_126
			else:
				binary = DYN_UNBOUND if kind == "dotpool" else STOCK_UNBOUND
			if not os.access(binary, os.X_OK):
				raise RuntimeError("no Unbound at %s" % binary)
			argv = [binary, "-d", "-c", cf]
		elif kind == "kresd":
			srv = ", ".join("{'%s@%d', hostname='%s', ca_file='%s'}" %
				(u[0], u[1], AUTH_NAME, ca) for u in ups)
			conf = """-- bench: Knot Resolver 5.x forwarding everything over DoT
net.ipv6 = false
net.listen('127.0.0.1', {port}, {{ kind = 'dns' }})
trust_anchors.remove('.')
modules.unload('priming')
modules.unload('detect_time_skew')
modules.unload('detect_time_jump')
modules.unload('ta_signal_query')
modules.unload('ta_sentinel')
cache.open(256*MB, 'lmdb://{d}/cache')
policy.add(policy.all(policy.TLS_FORWARD({{{srv}}})))
""".format(port=port, d=d, srv=srv)
			cf = os.path.join(d, "kresd.conf")
			open(cf, "w").write(conf)
			argv = ["kresd", "-n", "-c", cf, d]
		elif kind == "dnsdist":
			lines = ["setSecurityPollSuffix('')",
				"setLocal('127.0.0.1:%d')" % port,
				"setMaxTCPClientThreads(1)"]
			for i, u in enumerate(ups):
				# health checks (two upstreams) ask a name the upstreams
				# serve: the tail scenario's answer their own zone only
				lines.append("newServer({address='%s:%d', tls='openssl', "
					"subjectName='%s', caStore='%s', validateCertificates=true,"
					" maxInFlight=128, order=%d, name='up%d', "
					"checkName='health.bench.'})" %
					(u[0], u[1], AUTH_NAME, ca, i + 1, i + 1))
			if len(ups) == 1:
				# no health checks: they would open DoT connections of
				# their own
				lines.append("getServer(0):setUp()")
			lines.append("setServerPolicy(firstAvailable)")
			cf = os.path.join(d, "dnsdist.lua")
			open(cf, "w").write("\n".join(lines) + "\n")
			argv = ["dnsdist", "--supervised", "--disable-syslog", "-C", cf]
		elif kind == "stubby":
			srv = "".join("  - address_data: %s\n    tls_port: %d\n"
				"    tls_auth_name: \"%s\"\n" % (u[0], u[1], AUTH_NAME)
				for u in ups)
			conf = """resolution_type: GETDNS_RESOLUTION_STUB
dns_transport_list:
  - GETDNS_TRANSPORT_TLS
tls_authentication: GETDNS_AUTHENTICATION_REQUIRED
tls_query_padding_blocksize: 0
edns_client_subnet_private: 0
round_robin_upstreams: 0
idle_timeout: 10000
listen_addresses:
  - 127.0.0.1@{port}
tls_ca_file: "{ca}"
upstream_recursive_servers:
{srv}""".format(port=port, ca=ca, srv=srv)
			cf = os.path.join(d, "stubby.yml")
			open(cf, "w").write(conf)
			argv = ["stubby", "-C", cf]
		else:
			raise ValueError(kind)
		p = Proc(name, argv, logp, env=env, ns=ns, cpus=cpus)
		p.port = port
		if not ready:
			if wait_bound(port, ns, self.o.ready_timeout) and p.alive():
				return p
			tail = p.tail()
			p.stop()
			raise RuntimeError("%s did not open its port: %s" % (name,
				tail[-300:]))
		if ns:
			ok = in_ns(ns, "wait", port, self.o.ready_timeout).returncode == 0
		else:
			ok = wait_ready(port, self.o.ready_timeout)
		if not ok or not p.alive():
			tail = p.tail()
			p.stop()
			raise RuntimeError("%s not answering: %s" % (name, tail[-300:]))
		return p

	# ---- loopback scenarios
	def run_loopback_round(self, rnd, systems, up):
		o = self.o
		w = self.work
		for name in systems:
			if name in self.failed:
				continue
			threads = SYSTEMS[name][1]
			res_cpus = o.res_cpus if threads == 1 else None
			load_cpus = o.load_cpus if threads == 1 else None
			ups = [("127.0.0.1", up.tls_port, up.udp_port)]
			life0 = self.counters(up)
			try:
				p = self.start_system(name, ups, cpus=res_cpus)
			except Exception as e:
				log("round %d: %s" % (rnd, e))
				self.failed[name] = str(e)
				continue
			try:
				self.measure_loopback(rnd, name, p, up, life0, load_cpus)
			except Exception as e:
				log("round %d %s: error %r" % (rnd, name, e))
			finally:
				p.stop()

	def measure_loopback(self, rnd, name, p, up, life0, load_cpus):
		o = self.o
		w = self.work
		threads = SYSTEMS[name][1]
		# warm up: connections open, pools filled, code paged in
		rw = dnsperf(p.port, w + "/q-warm.txt", duration=o.warmup,
			clients=o.clients, outstanding=o.outstanding,
			cpus=load_cpus)
		answered = rw["completed"]
		for scen in ("max", "rate"):
			if scen not in o.scen:
				continue
			c0 = self.counters(up)
			cpu0 = p.cpu()
			ucpu0 = up.cpu()
			if scen == "max":
				r = dnsperf(p.port, w + "/q-max.txt",
					duration=o.duration, clients=o.clients,
					outstanding=o.outstanding, cpus=load_cpus)
			else:
				r = dnsperf(p.port, w + "/q-rate.txt",
					duration=o.rate_duration, clients=o.clients,
					outstanding=o.outstanding, rate=o.rate,
					verbose=True, cpus=load_cpus)
			cpu1 = p.cpu()
			ucpu1 = up.cpu()
			c1 = self.counters(up)
			self.record(rnd, scen, name, r, cpu1 - cpu0, c0, c1,
				alive=p.alive(), up_cpu_s=ucpu1 - ucpu0)
			answered += r["completed"]
		# handshakes over the whole life of the process (start,
		# warm-up, max, rate) per query it answered
		life1 = self.counters(up)
		rec = {"round": rnd, "scenario": "life", "system": name,
			"completed": answered,
			"hs_new": life1["new"] - life0["new"],
			"hs_resumed": life1["resumed"] - life0["resumed"]}
		self.records.append(rec)
		with open(os.path.join(o.out, "raw.jsonl"), "a") as f:
			f.write(json.dumps(rec) + "\n")
		if "floor" in o.scen and name in FLOOR_SYSTEMS and threads == 1:
			dnsperf(p.port, w + "/q-floor.txt", runs=1, clients=1,
				outstanding=20, cpus=load_cpus)
			cpu0 = p.cpu()
			r = dnsperf(p.port, w + "/q-floor.txt",
				duration=o.floor_duration, clients=o.clients,
				outstanding=o.outstanding, cpus=load_cpus)
			cpu1 = p.cpu()
			self.record(rnd, "floor", name, r, cpu1 - cpu0, None,
				None, alive=p.alive())

	def record(self, rnd, scen, name, r, cpu, c0, c1, **extra):
		lat = r.pop("lat", [])
		rec = {"round": rnd, "scenario": scen, "system": name,
			"cpu_s": cpu}
		rec.update(r)
		rec.update(extra)
		if lat:
			rec["p50_ms"] = pct(lat, 50) * 1000
			rec["p99_ms"] = pct(lat, 99) * 1000
			rec["n_lat"] = len(lat)
		if c0 is not None:
			rec["hs_new"] = c1["new"] - c0["new"]
			rec["hs_resumed"] = c1["resumed"] - c0["resumed"]
		self.records.append(rec)
		with open(os.path.join(self.o.out, "raw.jsonl"), "a") as f:
			f.write(json.dumps(rec) + "\n")
		log("round %d %-8s %-15s qps %8.0f done %7d lost %5d rcodes %s "
			"cpu %.2fs%s%s" % (rnd, scen, name, r.get("qps", 0),
			r.get("completed", 0), r.get("lost", 0), r.get("rcodes"), cpu,
			" p50 %.2fms p99 %.2fms" % (rec["p50_ms"], rec["p99_ms"])
			if lat else "", " hs %d+%d" % (rec["hs_new"], rec["hs_resumed"])
			if c0 is not None else ""))
		if r.get("error"):
			log("dnsperf: " + r["error"])

	# ---- emulated-RTT path
	def make_path(self):
		for ns in (NS_RES, NS_UP):
			if os.path.exists("/var/run/netns/" + ns):
				subprocess.run(["ip", "netns", "del", ns])
			subprocess.run(["ip", "netns", "add", ns], check=True)
			subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"],
				check=True)
		self.ns_made = True
		delay = str(self.o.delay_ms)
		# preferred: a veth pair with netem on both ends
		subprocess.run(["ip", "link", "add", "dpbR", "netns", NS_RES, "type",
			"veth", "peer", "name", "dpbU", "netns", NS_UP], check=True)
		ok = subprocess.run(["tc", "-n", NS_RES, "qdisc", "add", "dev",
			"dpbR", "root", "netem", "delay", delay + "ms"],
			stderr=subprocess.DEVNULL).returncode == 0
		if ok:
			subprocess.run(["tc", "-n", NS_UP, "qdisc", "add", "dev", "dpbU",
				"root", "netem", "delay", delay + "ms"], check=True)
			for ns, dev, a in ((NS_RES, "dpbR", ADDR_RES),
					(NS_UP, "dpbU", ADDR_UP)):
				subprocess.run(["ip", "-n", ns, "addr", "add", a + "/29",
					"dev", dev], check=True)
				subprocess.run(["ip", "-n", ns, "link", "set", dev, "up"],
					check=True)
			# the dead primary: routed to the upstream's namespace, which
			# does not forward and does not own it: packets vanish
			subprocess.run(["ip", "-n", NS_RES, "route", "add", ADDR_DEAD +
				"/32", "via", ADDR_UP], check=True)
			self.path_kind = "veth + netem %sms each way" % delay
		else:
			# kernel without sch_netem: a userspace delay line over TUN
			subprocess.run(["ip", "-n", NS_RES, "link", "del", "dpbR"])
			self.delayline = subprocess.Popen([sys.executable,
				os.path.join(BENCH, "delayline.py"), NS_RES, ADDR_RES, NS_UP,
				ADDR_UP, delay, ADDR_DEAD], stdout=subprocess.PIPE,
				start_new_session=True)
			if self.delayline.stdout.readline().strip() != b"ready":
				raise RuntimeError("delay line did not start")
			self.path_kind = "TUN delay line %sms each way (no netem)" % delay
		log("emulated path: " + self.path_kind)

	def drop_path(self):
		if self.delayline:
			self.delayline.terminate()
			self.delayline.wait()
			self.delayline = None
		if self.ns_made:
			for ns in (NS_RES, NS_UP):
				subprocess.run(["ip", "netns", "del", ns],
					stderr=subprocess.DEVNULL)
			self.ns_made = False

	def run_path_round(self, rnd, systems, up, scen):
		o = self.o
		for name in systems:
			if name in self.failed:
				continue
			for sc, fn in (("quiet", self.quiet_one),
					("failover", self.failover_one)):
				if sc not in scen:
					continue
				try:
					fn(rnd, name, up)
				except Exception as e:
					# one broken measurement must not end the run
					log("round %d %s %s: error %r" % (rnd, sc, name, e))

	def quiet_one(self, rnd, name, up):
		o = self.o
		ups = [(ADDR_UP, UP_TLS_PORT, 53)]
		try:
			p = self.start_system(name, ups, ns=NS_RES, tag="-quiet")
		except Exception as e:
			log("round %d quiet: %s" % (rnd, e))
			return
		try:
			c0 = self.counters(up)
			out = in_ns(NS_RES, "quiet", p.port, o.quiet_warm, o.quiet)
			c1 = self.counters(up)
			q = json.loads(out.stdout)
			warm = [t for rc, t in q["warm"][2:] if rc == 0]
			rc, first = q["first"]
			rec = {"round": rnd, "scenario": "quiet", "system": name,
				"warm_ms": statistics.median(warm) * 1000 if warm else None,
				"first_ms": first * 1000 if rc == 0 else None,
				"first_rcode": rc,
				"after_ms": [t * 1000 for _, t in q["after"]],
				"hs_new": c1["new"] - c0["new"],
				"hs_resumed": c1["resumed"] - c0["resumed"],
				"path": self.path_kind}
			self.records.append(rec)
			with open(os.path.join(o.out, "raw.jsonl"), "a") as f:
				f.write(json.dumps(rec) + "\n")
			log("round %d quiet    %-15s warm %.1fms first %s hs %d+%d" %
				(rnd, name, rec["warm_ms"] or -1, rec["first_ms"],
				rec["hs_new"], rec["hs_resumed"]))
		finally:
			p.stop()

	def failover_one(self, rnd, name, up):
		o = self.o
		# failover: the dead primary first, the live one second; the
		# measurement starts as soon as the port is open, so finding
		# out that the primary is dead is part of it
		ups = [(ADDR_DEAD, UP_TLS_PORT, 53), (ADDR_UP, UP_TLS_PORT, 53)]
		try:
			p = self.start_system(name, ups, ns=NS_RES, tag="-fail",
				ready=False)
		except Exception as e:
			log("round %d failover: %s" % (rnd, e))
			return
		try:
			c0 = self.counters(up)
			r = dnsperf(p.port, self.work + "/q-fail.txt",
				duration=o.fail_duration, clients=2, outstanding=500,
				rate=o.fail_rate, verbose=True, ns=NS_RES, timeout=3)
			c1 = self.counters(up)
			self.record(rnd, "failover", name, r, 0.0, c0, c1,
				alive=p.alive())
		finally:
			p.stop()


# ---------------------------------------------------------------- report

def med(xs):
	xs = [x for x in xs if x is not None]
	return statistics.median(xs) if xs else None


def fmt(x, spec="%.0f"):
	return "n/a" if x is None else spec % x


def round_ratio(sel, n, ref):
	"""Median over rounds of n's answered qps / ref's in the same round."""
	mine = {r["round"]: r["ok_qps"] for r in sel("max", n)}
	theirs = {r["round"]: r["ok_qps"] for r in sel("max", ref)}
	return med([mine[k] / theirs[k] for k in mine
		if theirs.get(k)])


def round_table(L, names, sel):
	"""Answered qps of every round, to show how stable the medians are."""
	rounds = sorted({r["round"] for n in names for r in sel("max", n)})
	if len(rounds) < 2:
		return
	L.append("Answered qps per round (max scenario; rounds ran in rotated "
		"order):")
	L.append("")
	L.append("| system | " + " | ".join("r%d" % k for k in rounds) + " |")
	L.append("|---|" + "---:|" * len(rounds))
	for n in names:
		q = {r["round"]: r["ok_qps"] for r in sel("max", n)}
		if q:
			L.append("| %s | " % n + " | ".join(fmt(q.get(k))
				for k in rounds) + " |")
	L.append("")


def ratio_table(L, names, qps, sel):
	"""Per-round ratios of answered qps: each Unbound row to native DoT on
	its own Unbound release, dotpool across releases, dotpool to the best
	peer. Both sides of a ratio ran in the same round."""
	rounds = sorted({r["round"] for n in names for r in sel("max", n)})
	if not rounds:
		return
	by = {n: {r["round"]: r["ok_qps"] for r in sel("max", n)} for n in names}
	pairs = []
	for n in names:
		ref = NATIVE_REF[unbound_of(n)]
		kind = SYSTEMS[n][0]
		if kind in ("dotpool", "unbound-dot", "unbound-udp") and n != ref:
			pairs.append((n, ref, "Unbound " + unbound_of(n)))
	pairs.append(("dotpool-1.26", "dotpool", "1.26.0 / 1.17.1"))
	pairs.append(("dotpool", "dotpool-ref", "this build / " +
		DOTPOOL_REF_REV))
	pairs.append(("unbound-dot-1.26", "unbound-dot", "1.26.0 / 1.17.1"))
	# the best peer: the other DoT forwarder with the highest median qps
	peers = [p for p in PEERS if by.get(p)]
	if peers:
		best = max(peers, key=lambda p: qps[p] or 0)
		for n in ("dotpool", "dotpool-1.26"):
			pairs.append((n, best, "best peer"))
	rows = []
	for a, r, what in pairs:
		if not by.get(a) or not by.get(r):
			continue
		per = {k: by[a][k] / by[r][k] for k in rounds
			if by[a].get(k) and by[r].get(k)}
		rows.append("| %s / %s | %s | " % (a, r, what) + " | ".join(
			fmt(per.get(k), "%.2f") for k in rounds) + " | %s |" %
			fmt(med(list(per.values())), "%.2f"))
	if not rows:
		return
	L.append("Ratios of answered qps per round (max scenario; both sides "
		"from the same round):")
	L.append("")
	L.append("| ratio | compares | " + " | ".join("r%d" % k for k in rounds) +
		" | median |")
	L.append("|---|---|" + "---:|" * (len(rounds) + 1))
	L.extend(rows)
	L.append("")


def main_table(L, b, names, qps, sel):
	L.append("| system | answered qps (median) | min..max | / dotpool | / native DoT "
		"| resolver busy / load busy | answers per resolver CPU-s (/ native) "
		"| CPU µs/query (rate) | p50 / p99 ms (rate) "
		"| handshakes /100k (new+resumed) | SERVFAIL | lost |")
	L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	low = []
	for n in names:
		mx = sel("max", n)
		rt = sel("rate", n)
		if not mx:
			L.append("| %s | failed: %s ||||||||||| " % (n,
				b.failed.get(n, "no data")[:80].replace("|", "/")))
			continue
		q = qps[n]
		# ratios within each round, then the median over rounds: a slow
		# minute of the shared machine hits both sides of a ratio
		# to the dotpool and native DoT rows of the same Unbound release
		ref_dp = DOTPOOL_REF[unbound_of(n)]
		ref_nat = NATIVE_REF[unbound_of(n)]
		ratio_dp = round_ratio(sel, n, ref_dp)
		ratio_nat = round_ratio(sel, n, ref_nat)
		busy = med([r["cpu_s"] / r.get("wall", r["runtime"]) for r in mx
			if r["runtime"]])
		# the other side: dnsperf and the upstream, on their own CPU
		lbusy = med([(r.get("up_cpu_s", 0) + r.get("perf_cpu_s", 0)) /
			r.get("wall", r["runtime"]) for r in mx if r["runtime"]])
		# answers per second of resolver CPU: its capacity per core even
		# when the load side, not the resolver, was the bottleneck
		percpu = med([r["rcodes"].get("NOERROR", 0) / r["cpu_s"]
			for r in mx if r["cpu_s"] > 0])
		percpu_nat = med([r["rcodes"].get("NOERROR", 0) / r["cpu_s"]
			for r in sel("max", ref_nat) if r["cpu_s"] > 0])
		cpuq = med([r["cpu_s"] * 1e6 / r["completed"] for r in rt
			if r["completed"]])
		p50 = med([r.get("p50_ms") for r in rt])
		p99 = med([r.get("p99_ms") for r in rt])
		life = sel("life", n)
		done = sum(r["completed"] for r in life)
		hn = sum(r["hs_new"] for r in life)
		hr = sum(r["hs_resumed"] for r in life)
		sf = sum(r["rcodes"].get("SERVFAIL", 0) for r in mx + rt)
		lost = sum(r["lost"] for r in mx + rt)
		L.append("| %s | %s | %s..%s | %s | %s | %s / %s | %s (%s) | %s | "
			"%s / %s | %s (%s+%s) | %d | %d |" % (n, fmt(q),
			fmt(min(r["ok_qps"] for r in mx)),
			fmt(max(r["ok_qps"] for r in mx)),
			fmt(ratio_dp, "%.2f"), fmt(ratio_nat, "%.2f"),
			fmt(busy * 100 if busy is not None else None, "%.0f%%"),
			fmt(lbusy * 100 if lbusy is not None else None, "%.0f%%"),
			fmt(percpu), fmt(percpu / percpu_nat if percpu and percpu_nat
			else None, "%.2f"),
			fmt(cpuq, "%.1f"), fmt(p50, "%.2f"), fmt(p99, "%.2f"),
			fmt((hn + hr) * 1e5 / done if done else None, "%.1f"),
			fmt(hn * 1e5 / done if done else None, "%.1f"),
			fmt(hr * 1e5 / done if done else None, "%.1f"), sf, lost))
		threads = SYSTEMS[n][1]
		if busy is not None and busy < 0.8 * threads:
			low.append(n)
	L.append("")
	if any(n in UNBOUND_OF for n in names):
		L.append("Rows ending in -1.26 run Unbound 1.26.0 (the plain upstream "
			"build, both with and without dotpool); their / dotpool and / "
			"native DoT are to %s and %s, every other row's to dotpool and "
			"unbound-dot (Unbound 1.17.1)." % (DOTPOOL_REF["1.26.0"],
			NATIVE_REF["1.26.0"]))
		L.append("")
	if low:
		L.append("Resolver busy well below 100%% of its core(s): %s limited "
			"by the load side (load busy near 100%%) or by CPU contention; "
			"read their qps as a lower bound, and compare answers per "
			"resolver CPU-second instead." % ", ".join(low))
		L.append("")


def report(b, started, opts):
	recs = b.records
	def sel(scen, name):
		return [r for r in recs if r["scenario"] == scen and
			r["system"] == name]
	seen = set(b.failed) | {r["system"] for r in recs
		if r["scenario"] == "max"}
	names = [n for n in SYSTEMS if n in seen]
	qps = {n: med([r["ok_qps"] for r in sel("max", n)]) for n in names}
	L = []
	L.append("# dotpool benchmark, %s" % started)
	L.append("")
	for line in opts.commands:
		L.append("Command: `%s`  " % line)
	L.append("Rounds: %d, order rotated each round. max: %ss saturating "
		"(dnsperf -c %d -q %d); rate: %d qps for %ss; resolver pinned to "
		"CPU %s, dnsperf and upstream to CPU %s (t2 rows: unpinned).  " %
		(opts.rounds, opts.duration, opts.clients, opts.outstanding,
		opts.rate, opts.rate_duration, opts.res_cpus, opts.load_cpus))
	L.append("Versions: %s  " % "; ".join(versions()))
	L.append("Machine: %s, %d cores, load average at start %s." % (
		os.uname().release, os.cpu_count(), started_load))
	L.append("")
	if any(r["scenario"] == "max" for r in recs):
		main_table(L, b, names, qps, sel)
		round_table(L, names, sel)
		ratio_table(L, names, qps, sel)
	fl = [n for n in FLOOR_SYSTEMS if sel("floor", n)]
	if fl:
		L.append("Cache-hit floor (the same %d names repeated, every answer "
			"from Unbound's cache; %ss per round):" % (1000,
			opts.floor_duration))
		L.append("")
		L.append("| system | qps (median) | CPU µs/query |")
		L.append("|---|---:|---:|")
		for n in fl:
			f = sel("floor", n)
			L.append("| %s | %s | %s |" % (n, fmt(med([r["qps"] for r in f])),
				fmt(med([r["cpu_s"] * 1e6 / r["completed"] for r in f
				if r["completed"]]), "%.1f")))
		L.append("")
	qs = [n for n in DOT_SYSTEMS if sel("quiet", n)]
	if qs:
		L.append("Quiet period (%s; upstream idle timeout %ss, quiet %ss; "
			"median over rounds):" % (sel("quiet", qs[0])[0].get("path", "?"),
			opts.up_idle, opts.quiet))
		L.append("")
		L.append("| system | warm query ms | first after quiet ms | "
			"first / warm | handshakes per cycle |")
		L.append("|---|---:|---:|---:|---:|")
		for n in qs:
			s = sel("quiet", n)
			wm = med([r["warm_ms"] for r in s])
			fm = med([r["first_ms"] for r in s])
			fails = sum(1 for r in s if r["first_ms"] is None)
			L.append("| %s | %s | %s%s | %s | %s |" % (n, fmt(wm, "%.1f"),
				fmt(fm, "%.1f"), " (%d failed)" % fails if fails else "",
				fmt(fm / wm if fm and wm else None, "%.2f"),
				fmt(med([r["hs_new"] + r["hs_resumed"] for r in s]), "%.1f")))
		L.append("")
	fs = [n for n in DOT_SYSTEMS if sel("failover", n)]
	if fs:
		L.append("Failover (same path; first of two upstreams blackholed, "
			"%d qps for %ss from a fresh start, dnsperf timeout 3 s):" %
			(opts.fail_rate, opts.fail_duration))
		L.append("")
		L.append("| system | answered NOERROR % | SERVFAIL | lost | p50 ms "
			"| p99 ms |")
		L.append("|---|---:|---:|---:|---:|---:|")
		for n in fs:
			s = sel("failover", n)
			sent = sum(r["sent"] for r in s)
			ok = sum(r["rcodes"].get("NOERROR", 0) for r in s)
			L.append("| %s | %s | %d | %d | %s | %s |" % (n,
				fmt(ok * 100.0 / sent if sent else None, "%.1f"),
				sum(r["rcodes"].get("SERVFAIL", 0) for r in s),
				sum(r["lost"] for r in s),
				fmt(med([r.get("p50_ms") for r in s]), "%.1f"),
				fmt(med([r.get("p99_ms") for r in s]), "%.1f")))
		L.append("")
	tail.report(L, b, opts)
	if b.failed:
		L.append("Not measured: " + "; ".join("%s: %s" % (k, v[:200])
			for k, v in b.failed.items()))
		L.append("")
	with open(os.path.join(opts.out, "results.md"), "w") as f:
		f.write("\n".join(L) + "\n")
	plot(b, opts, names, qps, sel)
	print("\n".join(L))


def plot(b, opts, names, qps, sel):
	dat = os.path.join(opts.out, "plot.dat")
	rows = []
	for i, n in enumerate(names):
		mx = sel("max", n)
		if not mx:
			continue
		rt = sel("rate", n)
		rows.append("%d %s %.1f %.1f %.1f %s %s" % (i, n, qps[n],
			min(r["ok_qps"] for r in mx), max(r["ok_qps"] for r in mx),
			fmt(med([r.get("p50_ms") for r in rt]), "%.3f"),
			fmt(med([r.get("p99_ms") for r in rt]), "%.3f")))
	if not rows or not shutil.which("gnuplot"):
		return
	with open(dat, "w") as f:
		f.write("# idx system qps_median qps_min qps_max p50_ms p99_ms\n")
		f.write("\n".join(rows).replace(" n/a", " NaN") + "\n")
	gp = """set terminal png size 1100,800
set output '{out}/results.png'
set multiplot layout 2,1 title 'dotpool benchmark (median of {rounds} rounds)'
set style fill solid 0.6 border -1
set boxwidth 0.6
set grid ytics
set xtics rotate by -20
set ylabel 'queries/s (unique names)'
set yrange [0:*]
plot '{dat}' using 1:3:xtic(2) with boxes lc rgb '#4477aa' title 'max qps', \\
     '' using 1:3:4:5 with yerrorbars lc rgb 'black' pt 0 title 'min..max'
set ylabel 'latency ms at {rate} qps'
set logscale y
set yrange [*:*]
set boxwidth 0.3
plot '{dat}' using ($1-0.17):6:xtic(2) with boxes lc rgb '#66ccee' title 'p50', \\
     '' using ($1+0.17):7 with boxes lc rgb '#ee6677' title 'p99'
unset multiplot
""".format(out=opts.out, dat=dat, rounds=opts.rounds, rate=opts.rate)
	gpf = os.path.join(opts.out, "plot.gp")
	open(gpf, "w").write(gp)
	subprocess.run(["gnuplot", gpf], check=False)


def versions():
	v = []
	def first(cmd, pat=None):
		try:
			out = subprocess.run(cmd, stdout=subprocess.PIPE,
				stderr=subprocess.STDOUT, timeout=10).stdout.decode(
				"utf-8", "replace").splitlines()
			for line in out:
				if not pat or pat in line:
					return line.strip()
		except Exception:
			pass
		return "?"
	v.append(first([STOCK_UNBOUND, "-V"], "Version"))
	v.append("-1.26 rows: " + first([UNBOUND_126, "-V"], "Version") +
		" (%s)" % UNBOUND_126)
	v.append("dnsdist " + first(["dnsdist", "--version"], "dnsdist").split(
		"dnsdist", 1)[-1].strip())
	v.append(first(["kresd", "--version"]))
	v.append(first(["dnsperf", "-h"], "Version").replace("Version",
		"dnsperf"))
	try:
		v.append("stubby " + subprocess.run(["dpkg-query", "-W", "-f",
			"${Version}", "stubby"], stdout=subprocess.PIPE).stdout.decode())
	except Exception:
		pass
	try:
		rev = os.environ.get("BENCH_DOTPOOL_REV") or subprocess.run(["git",
			"-C", TOP, "rev-parse", "--short", "HEAD"],
			stdout=subprocess.PIPE).stdout.decode().strip()
		v.append("dotpool %s (%s; -1.26 rows: %s)" % (rev, DOTPOOL_SO,
			DOTPOOL_SO_126))
		if DOTPOOL_SO_REF:
			v.append("dotpool-ref row: dotpool %s (%s)" % (DOTPOOL_REF_REV,
				DOTPOOL_SO_REF))
	except Exception:
		pass
	return v


started_load = ""


def main():
	global started_load
	ap = argparse.ArgumentParser(description=__doc__,
		formatter_class=argparse.RawDescriptionHelpFormatter)
	sub = ap.add_subparsers(dest="cmd")
	w = sub.add_parser("wait")
	w.add_argument("port", type=int)
	w.add_argument("timeout", type=float)
	q = sub.add_parser("quiet")
	q.add_argument("port", type=int)
	q.add_argument("warm", type=int)
	q.add_argument("quiet", type=float)
	m = sub.add_parser("metrics")
	m.add_argument("url")
	r = sub.add_parser("run")
	env = os.environ.get
	r.add_argument("--rounds", type=int, default=int(env("BENCH_ROUNDS", 5)))
	r.add_argument("--duration", type=float,
		default=float(env("BENCH_DURATION", 10)))
	r.add_argument("--warmup", type=float, default=float(env("BENCH_WARMUP", 1)))
	r.add_argument("--rate", type=int, default=int(env("BENCH_RATE", 2000)))
	r.add_argument("--rate-duration", type=float,
		default=float(env("BENCH_RATE_DURATION", 5)))
	r.add_argument("--floor-duration", type=float,
		default=float(env("BENCH_FLOOR_DURATION", 3)))
	r.add_argument("--clients", type=int, default=int(env("BENCH_CLIENTS", 10)))
	r.add_argument("--outstanding", type=int,
		default=int(env("BENCH_OUTSTANDING", 200)))
	r.add_argument("--names", type=int, default=int(env("BENCH_NAMES", 800000)))
	r.add_argument("--systems", default=env("BENCH_SYSTEMS",
		",".join(LOOPBACK_DEFAULT)))
	r.add_argument("--path-extra", default=env("BENCH_PATH_EXTRA",
		"dotpool-prewarm"), help="systems added to the emulated-path "
		"scenarios only")
	r.add_argument("--scenarios", default=env("BENCH_SCENARIOS",
		"max,rate,floor,quiet,failover"))
	r.add_argument("--res-cpus", default=env("BENCH_RES_CPUS", "1"))
	r.add_argument("--load-cpus", default=env("BENCH_LOAD_CPUS", "0"))
	r.add_argument("--up-idle", type=int, default=int(env("BENCH_UP_IDLE", 2)))
	r.add_argument("--quiet", type=float, default=float(env("BENCH_QUIET", 3)))
	r.add_argument("--quiet-warm", type=int, default=10)
	r.add_argument("--delay-ms", type=int, default=int(env("BENCH_DELAY_MS", 10)))
	r.add_argument("--fail-rate", type=int,
		default=int(env("BENCH_FAIL_RATE", 200)))
	r.add_argument("--fail-duration", type=int,
		default=int(env("BENCH_FAIL_DURATION", 4)))
	r.add_argument("--ready-timeout", type=float, default=8)
	r.add_argument("--dotpool-conf", default=env("BENCH_DOTPOOL_CONF", ""),
		help="key: value lines for the dotpool: section of dotpool's "
		"settings file, separated by \\n")
	r.add_argument("--out", default=env("BENCH_OUT", ""))
	r.add_argument("--append", action="store_true",
		help="keep the records already in OUT/raw.jsonl and report them "
		"together with this run's (e.g. other scenarios run earlier)")
	r.add_argument("--command", default=env("BENCH_COMMAND",
		" ".join(sys.argv)))
	tail.add_options(r, env)
	a = ap.parse_args()
	if a.cmd == "wait":
		return cmd_wait(a)
	if a.cmd == "quiet":
		return cmd_quiet(a)
	if a.cmd == "metrics":
		return cmd_metrics(a)
	if a.cmd != "run":
		ap.print_help()
		return 2
	started = datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC")
	started_load = open("/proc/loadavg").read().split()[0]
	if not a.out:
		if a.append:
			sys.exit("--append needs --out (the folder to add to)")
		# one folder per run: two runs never share (or clobber) one
		a.out = os.path.join(BENCH, "results",
			datetime.datetime.utcnow().strftime("%Y-%m-%dT%H%MZ"))
	os.makedirs(a.out, exist_ok=True)
	lock = os.path.join(a.out, ".lock")
	try:
		fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
		os.write(fd, str(os.getpid()).encode())
		os.close(fd)
	except FileExistsError:
		other = open(lock).read().strip()
		if other.isdigit() and os.path.exists("/proc/" + other):
			sys.exit("another run (pid %s) writes to %s" % (other, a.out))
		open(lock, "w").write(str(os.getpid()))
	atexit.register(lambda: os.path.exists(lock) and os.unlink(lock))
	raw = os.path.join(a.out, "raw.jsonl")
	old = []
	if a.append and os.path.exists(raw):
		with open(raw) as f:
			old = [json.loads(line) for line in f if line.strip()]
	elif os.path.exists(raw):
		os.rename(raw, raw + ".prev")
	a.systems_list = [s for s in a.systems.split(",") if s]
	for s in a.systems_list:
		if s not in SYSTEMS:
			sys.exit("unknown system %s (known: %s)" % (s, ", ".join(SYSTEMS)))
	scen = a.scen = set(a.scenarios.split(","))
	cmdlog = os.path.join(a.out, "commands.txt")
	prev = []
	if a.append and os.path.exists(cmdlog):
		prev = [l.rstrip("\n") for l in open(cmdlog) if l.strip()]
	a.commands = prev + ["%s (started %s)" % (a.command, started)]
	with open(cmdlog, "w") as f:
		f.write("\n".join(a.commands) + "\n")
	b = Bench(a)
	b.records.extend(old)
	def on_signal(*_):
		raise KeyboardInterrupt
	signal.signal(signal.SIGTERM, on_signal)
	try:
		log("work dir %s, results to %s" % (b.work, a.out))
		b.prepare()
		if scen & {"max", "rate", "floor"}:
			up = b.start_upstream("lo", "127.0.0.1", free_port(), free_port(),
				free_port(), 10, cpus=a.load_cpus)
			for rnd in range(1, a.rounds + 1):
				k = (rnd - 1) % len(a.systems_list)
				order = a.systems_list[k:] + a.systems_list[:k]
				log("round %d/%d (loopback): %s" % (rnd, a.rounds,
					" ".join(order)))
				b.run_loopback_round(rnd, order, up)
			up.stop()
		if scen & {"quiet", "failover"}:
			b.make_path()
			up = b.start_upstream("ns", ADDR_UP, 53, UP_TLS_PORT, 8080,
				a.up_idle, ns=NS_UP)
			ds = [s for s in dict.fromkeys(a.systems_list +
				a.path_extra.split(",")) if s in DOT_SYSTEMS]
			for rnd in range(1, a.rounds + 1):
				k = (rnd - 1) % max(1, len(ds))
				order = ds[k:] + ds[:k]
				log("round %d/%d (emulated path): %s" % (rnd, a.rounds,
					" ".join(order)))
				b.run_path_round(rnd, order, up, scen)
			up.stop()
		if "tail" in scen:
			tail.run(b, a)
	except KeyboardInterrupt:
		log("interrupted; reporting what was measured")
	finally:
		stop_all()
		b.drop_path()
	report(b, started, a)
	if not os.environ.get("BENCH_KEEP_WORK"):
		shutil.rmtree(b.work, ignore_errors=True)
	return 0


if __name__ == "__main__":
	# bench/tail.py imports this file as `bench`: one copy, one Proc.live
	sys.modules.setdefault("bench", sys.modules[__name__])
	import tail
	sys.exit(main() or 0)
