"""Tail latency under failure: the `tail` scenario of bench/bench.py
(bench/run.sh --scenarios tail; see bench/README.md).

Two upstreams behind the emulated path (--delay-ms each way): two dotfault
servers (tests/faultsrv/dotfault.py) in the upstream namespace, on one
address and two ports, answering every name with its own address
(--addr-hash), so every answer is checked. Each system under test forwards
to both, the first one configured first. A fixed-rate load of unique names
(tests/faultsrv/dnsload.py, one line per query with its send time) runs
for --tail-duration s; --tail-fail-at s into it the primary fails:

  blackhole  SIGSTOP: TCP still accepted by the kernel, nothing answered
  refuse     refuse-tcp:closed (connects refused) and kill-conns (the
             established connections closed at once)
  slow       every answer of the primary 300 ms late (delay:300)
  bimodal    no failure: both upstreams answer 10 % of the queries
             200 ms late (bimodal:10:200), from the start
  healthy    no failure

Reported per system and case: p50/p99/max latency of the queries sent
after the failure and over the whole run (a timeout counts as the load's
timeout), SERVFAIL, timeouts, wrong answers, and upstream queries per
client query (the dotfault servers' query counters, both summed, health
checks and probes included). The issue's targets are printed beside them.
"""
import json
import os
import random
import signal
import string
import subprocess
import sys
import time

import bench
from bench import ADDR_UP, NS_RES, NS_UP, Proc, fmt, log, pct

FAULTSRV = os.path.join(bench.TOP, "tests", "faultsrv")
sys.path.insert(0, FAULTSRV)
from dotfault import ctl_request, name_addr  # noqa: E402  (the upstreams')

DOTFAULT = os.path.join(FAULTSRV, "dotfault.py")
DNSLOAD = os.path.join(FAULTSRV, "dnsload.py")
ZONE = "bench."
PORTS = (853, 854)     # primary, secondary, both on ADDR_UP
# case -> (title, fault of both upstreams from the start, what is done to
# the primary at the failure time)
CASES = {
	"blackhole": ("(a) primary blackholed (SIGSTOP)", None, "stop"),
	"refuse": ("(b) primary refuses connections, established ones killed",
		None, "refuse"),
	"slow": ("(c) primary slow: every answer +300 ms", None, "slow"),
	"bimodal": ("(d) bimodal upstreams: 10 % of answers +200 ms, steady",
		"bimodal:10:200", None),
	"healthy": ("(e) healthy", None, None),
}
DEFAULT_SYSTEMS = "dotpool,dotpool-nohedge,unbound-dot,dnsdist,kresd"
# the targets, for the dotpool row (default settings)
P99_TARGET_MS = 100.0
UPQ_TARGET = 1.03


def ctl(path, line):
	"""One command to a dotfault control socket; its reply line."""
	return ctl_request(path, line.split())


class Upstream:
	"""One dotfault server in the upstream namespace."""

	def __init__(self, b, tag, port, fault):
		self.ctl = os.path.join(b.work, "dotfault-%s.ctl" % tag)
		if os.path.exists(self.ctl):
			os.unlink(self.ctl)
		# The resolvers forward "." to it, so it serves "." (names under
		# ZONE included): an upstream that refuses the forward zone's
		# own SOA fails dotpool's health probe and sits in backoff, and
		# that artefact, not the failure, would decide where hedges go.
		argv = [sys.executable, DOTFAULT, "--listen", ADDR_UP, "--port",
			str(port), "--cert", b.work + "/upchain.pem", "--key",
			b.work + "/up.key", "--zone", ".", "--addr-hash", "--idle",
			"60", "--control", self.ctl, "--fault", fault or "none"]
		self.p = Proc("dotfault-" + tag, argv,
			os.path.join(b.work, "dotfault-%s.log" % tag), ns=NS_UP)
		self.stopped = False
		end = time.monotonic() + 10
		while time.monotonic() < end:
			try:
				if ctl(self.ctl, "stats").startswith("{"):
					return
			except OSError:
				pass
			time.sleep(0.1)
		raise RuntimeError("dotfault did not start: " + self.p.tail())

	def stats(self):
		return json.loads(ctl(self.ctl, "stats"))

	def sigstop(self):
		os.kill(self.p.pid, signal.SIGSTOP)
		self.stopped = True

	def sigcont(self):
		if self.stopped:
			os.kill(self.p.pid, signal.SIGCONT)
			self.stopped = False

	def stop(self):
		self.sigcont()
		self.p.stop()


def load(b, port, n, rate, timeout, prefix, start_file=None):
	"""dnsload inside the resolver namespace; a Popen with its lines on
	stdout when it ends."""
	cmd = ["ip", "netns", "exec", NS_RES, sys.executable, DNSLOAD,
		"--port", str(port), "--zone", ZONE, "--prefix", prefix,
		"--count", str(n), "--qps", str(rate), "--timeout", str(timeout),
		"--print"]
	if start_file:
		cmd += ["--start-file", start_file]
	return subprocess.Popen(cmd, stdout=subprocess.PIPE,
		stderr=subprocess.DEVNULL)


def parse_load(text):
	"""[(send s since start, latency ms or None, rcode, answer right)]."""
	out = []
	for line in text.splitlines():
		f = line.split()
		if len(f) != 5:
			continue
		rel, name, rcode, addrs, ms = f
		if rcode == "TIMEOUT":
			out.append((float(rel), None, rcode, True))
		else:
			right = rcode != "NOERROR" or addrs.split(",") == \
				[name_addr(name)]
			out.append((float(rel), float(ms), rcode, right))
	return out


def inject(ups, action):
	if action == "stop":
		ups[0].sigstop()
	elif action == "refuse":
		ctl(ups[0].ctl, "set fault refuse-tcp:closed")
		ctl(ups[0].ctl, "kill-conns")
	elif action == "slow":
		ctl(ups[0].ctl, "set fault delay:300")


def tail_one(b, rnd, name, case):
	o = b.o
	title, fault, action = CASES[case]
	tag = "%s-%s" % (name, case)
	ups = []
	p = None
	try:
		ups = [Upstream(b, "%s-%d" % (tag, i), port, fault)
			for i, port in enumerate(PORTS)]
		p = b.start_system(name, [(ADDR_UP, port, 53) for port in PORTS],
			ns=NS_RES, tag="-tail")
		token = "".join(random.choices(string.ascii_lowercase, k=6))
		# warm-up: connections open, round-trip estimates learnt
		w = load(b, p.port, int(o.tail_rate * o.tail_warmup), o.tail_rate,
			1, "w" + token)
		w.communicate()
		for u in ups:
			ctl(u.ctl, "reset")
		start_file = os.path.join(b.work, "start-" + tag)
		n = int(o.tail_rate * o.tail_duration)
		lp = load(b, p.port, n, o.tail_rate, o.tail_timeout, "t" + token,
			start_file)
		while not os.path.exists(start_file) or \
				not open(start_file).read().endswith("\n"):
			time.sleep(0.005)
		t0 = float(open(start_file).read())
		delay = t0 + o.tail_fail_at - time.time()
		if delay > 0:
			time.sleep(delay)
		t_fail = time.time() - t0
		inject(ups, action)
		out, _ = lp.communicate()
		# a blackholed primary reads what was queued for it once it runs
		# again: those queries were sent, so they are counted
		ups[0].sigcont()
		time.sleep(1.0)
		upq = [u.stats()["queries"] for u in ups]
		q = parse_load(out.decode("utf-8", "replace"))
		rec = {"round": rnd, "scenario": "tail", "case": case,
			"system": name, "t_fail": round(t_fail, 3),
			"injected": bool(action), "sent": n, "q": q,
			"up_queries": upq, "alive": p.alive(), "path": b.path_kind}
		b.records.append(rec)
		with open(os.path.join(o.out, "raw.jsonl"), "a") as f:
			f.write(json.dumps(rec) + "\n")
		s = summary([rec], o)
		log("round %d tail %-9s %-15s after p50/p99/max %s/%s/%s ms, "
			"SERVFAIL %d, timeouts %d, wrong %d, up/client %s" % (rnd, case,
			name, fmt(s["after"][0]), fmt(s["after"][1]),
			fmt(s["after"][2]), s["servfail"], s["timeouts"], s["wrong"],
			fmt(s["upq"], "%.3f")))
	finally:
		if p:
			p.stop()
		for u in ups:
			u.stop()


def run(b, a):
	"""Every round: every system once per case, order rotated."""
	systems = [s for s in a.tail_systems.split(",") if s]
	for s in systems:
		if s not in bench.SYSTEMS:
			sys.exit("unknown system %s" % s)
	cases = [c for c in a.tail_cases.split(",") if c]
	for c in cases:
		if c not in CASES:
			sys.exit("unknown tail case %s (known: %s)" % (c,
				", ".join(CASES)))
	if not b.ns_made:
		b.make_path()
	for rnd in range(1, a.rounds + 1):
		k = (rnd - 1) % len(systems)
		order = systems[k:] + systems[:k]
		log("round %d/%d (tail): %s" % (rnd, a.rounds, " ".join(order)))
		for name in order:
			if name in b.failed:
				continue
			for case in cases:
				try:
					tail_one(b, rnd, name, case)
				except Exception as e:
					# one broken measurement must not end the run
					log("round %d tail %s %s: error %r" % (rnd, case, name,
						e))


# ---------------------------------------------------------------- report

def summary(recs, o):
	"""Pooled over the records (rounds) of one system and case."""
	lat_all, lat_after = [], []
	sf = to = wrong = sent = 0
	upq = 0
	for r in recs:
		sent += r["sent"]
		upq += sum(r["up_queries"])
		for t, ms, rcode, right in r["q"]:
			# a query never answered is slower than any answer: it counts
			# as the load's timeout
			v = o.tail_timeout * 1000.0 if ms is None else ms
			lat_all.append(v)
			if t >= r["t_fail"]:
				lat_after.append(v)
			sf += rcode == "SERVFAIL"
			to += rcode == "TIMEOUT"
			wrong += not right
	def three(v):
		return (pct(v, 50), pct(v, 99), max(v) if v else None)
	return {"after": three(lat_after), "all": three(lat_all),
		"servfail": sf, "timeouts": to, "wrong": wrong, "sent": sent,
		"upq": upq / sent if sent else None}


def verdict(case, name, s, ref):
	"""The issue's target for this case, and whether this row meets it.
	ref: the dotpool-nohedge summary of the same case (or None)."""
	if case in ("blackhole", "refuse"):
		want = "0 SERVFAIL, 0 timeouts, p99 after <= %.0f ms" % P99_TARGET_MS
		ok = s["servfail"] == 0 and s["timeouts"] == 0 and \
			s["after"][1] is not None and s["after"][1] <= P99_TARGET_MS
	elif case == "slow":
		want = "p99 after <= %.0f ms" % P99_TARGET_MS
		ok = s["after"][1] is not None and s["after"][1] <= P99_TARGET_MS
	else:
		want = "upstream/client <= %.2f, p99 <= nohedge's" % UPQ_TARGET
		ok = s["upq"] is not None and s["upq"] <= UPQ_TARGET
		if ref and name != "dotpool-nohedge":
			ok = ok and s["all"][1] is not None and \
				ref["all"][1] is not None and s["all"][1] <= ref["all"][1]
	return want, ok


def report(L, b, o):
	recs = [r for r in b.records if r["scenario"] == "tail"]
	if not recs:
		return
	cases = [c for c in CASES if any(r["case"] == c for r in recs)]
	# the order asked for (dotpool first), then rows of earlier runs
	asked = [s for s in o.tail_systems.split(",") if s in bench.SYSTEMS]
	systems = [s for s in dict.fromkeys(asked + list(bench.SYSTEMS))
		if any(r["system"] == s for r in recs)]
	rounds = sorted({r["round"] for r in recs})
	L.append("## Tail latency under failure")
	L.append("")
	L.append("Two upstreams (dotfault, %s), %d qps of unique names for %ss, "
		"the primary failing %ss in; %d round(s), queries of all rounds "
		"pooled. *after*: the queries sent from the failure on (in (d) "
		"and (e), from the same time: nothing fails); a timeout (no answer "
		"in %ss) counts as %d ms. *up/client*: queries at both upstreams "
		"per client query (health checks and probes included). The "
		"targets are the issue's, for the dotpool row (default settings); "
		"*met* says whether each row would meet them.  " % (
		recs[0].get("path", "?"), o.tail_rate, fmt(o.tail_duration),
		fmt(o.tail_fail_at), len(rounds), fmt(o.tail_timeout),
		o.tail_timeout * 1000))
	L.append("Plots: tail-<case>.png, latency of every query over time "
		"(0 = the failure), one panel per system.")
	L.append("")
	L.append("| case | system | p50 / p99 / max after ms | p50 / p99 / "
		"max all ms | SERVFAIL | timeouts | wrong | up/client | target | "
		"met |")
	L.append("|---|---|---:|---:|---:|---:|---:|---:|---|---|")
	for c in cases:
		sums = {n: summary([r for r in recs if r["case"] == c and
			r["system"] == n], o) for n in systems}
		ref = sums.get("dotpool-nohedge")
		for n in systems:
			s = sums[n]
			if not s["sent"]:
				L.append("| %s | %s | not measured ||||||||" % (c, n))
				continue
			want, ok = verdict(c, n, s, ref)
			L.append("| %s | %s | %s | %s | %d | %d | %d | %s | %s | %s |" %
				(c, n, " / ".join(fmt(x) for x in s["after"]),
				" / ".join(fmt(x) for x in s["all"]), s["servfail"],
				s["timeouts"], s["wrong"], fmt(s["upq"], "%.3f"), want,
				"**yes**" if ok else "no"))
	L.append("")
	for c in cases:
		L.append("- %s: %s" % (c, CASES[c][0]))
	L.append("")
	for c in cases:
		plot(b, o, c, systems, [r for r in recs if r["case"] == c])


def plot(b, o, case, systems, recs):
	if not bench.shutil.which("gnuplot"):
		return
	# plot input in the work dir: raw.jsonl keeps every query already
	dat = os.path.join(b.work, "tail-%s.dat" % case)
	shown = []
	with open(dat, "w") as f:
		f.write("# blocks per system: send time - failure time (s), "
			"latency ms (timeouts at %d), timed out (0/1)\n" %
			(o.tail_timeout * 1000))
		for n in systems:
			mine = [r for r in recs if r["system"] == n]
			if not mine:
				continue
			f.write("# %s\n" % n)
			for r in mine:
				for t, ms, rcode, _ in r["q"]:
					f.write("%.3f %.1f %d\n" % (t - r["t_fail"],
						o.tail_timeout * 1000 if ms is None else max(ms, 1),
						ms is None))
			f.write("\n\n")
			shown.append(n)
	if not shown:
		return
	panels = []
	for i, n in enumerate(shown):
		panels.append("set title '%s' offset 0,-0.8\n"
			"plot '%s' index %d using 1:($3==0?$2:1/0) with points pt 7 "
			"ps 0.3 lc rgb '#4477aa' notitle, '' index %d using "
			"1:($3==1?$2:1/0) with points pt 2 ps 0.6 lc rgb '#ee6677' "
			"notitle" % (n, dat, i, i))
	gp = """set terminal png size 1000,{h}
set output '{out}/tail-{case}.png'
set multiplot layout {n},1 title '{title} ({rate} qps; blue: answer, red: timeout)'
set logscale y
set yrange [5:{ymax}]
set xrange [{x0}:{x1}]
set grid
set ylabel 'ms'
set arrow from 0, graph 0 to 0, graph 1 nohead lc rgb 'red'
{panels}
unset multiplot
""".format(h=180 * len(shown) + 60, out=o.out, case=case, n=len(shown),
		title=CASES[case][0].replace("'", ""), rate=o.tail_rate,
		ymax=o.tail_timeout * 1500, x0=-o.tail_fail_at,
		x1=o.tail_duration - o.tail_fail_at + 0.5,
		panels="\n".join(panels))
	gpf = os.path.join(b.work, "tail-%s.gp" % case)
	with open(gpf, "w") as f:
		f.write(gp)
	subprocess.run(["gnuplot", gpf], check=False)


def add_options(r, env):
	r.add_argument("--tail-systems", default=env("BENCH_TAIL_SYSTEMS",
		DEFAULT_SYSTEMS))
	r.add_argument("--tail-cases", default=env("BENCH_TAIL_CASES",
		",".join(CASES)))
	r.add_argument("--tail-rate", type=int, default=int(env("BENCH_TAIL_RATE",
		100)))
	r.add_argument("--tail-duration", type=float,
		default=float(env("BENCH_TAIL_DURATION", 12)))
	r.add_argument("--tail-fail-at", type=float,
		default=float(env("BENCH_TAIL_FAIL_AT", 4)))
	r.add_argument("--tail-warmup", type=float,
		default=float(env("BENCH_TAIL_WARMUP", 2)))
	r.add_argument("--tail-timeout", type=float,
		default=float(env("BENCH_TAIL_TIMEOUT", 3)))
