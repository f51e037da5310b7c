#!/usr/bin/python3
"""report: turn a soak's raw files into results.md and results.png, and
judge it (exit 1 when a check fails). Called by tests/soak/soak.sh:

    report.py --dir RESULTS [--warmup S] [--max-servfail PCT]

Reads, in RESULTS: summary.json, bins.tsv, servfail.tsv (the client,
tests/soak/soakload.py); samples.tsv, events.tsv, upstreams.txt,
meta.tsv (soak.sh). The checks and their bounds are explained in
tests/soak/README.md.
"""

import argparse
import collections
import json
import os
import shutil
import subprocess
import sys

# Flat RSS: the median of the last 10 samples at most this much above the
# median of the first 10 after the warm-up (the larger of the two), the
# bound test_reloads uses; flat fds: the least-squares line rises at most
# FDS_RISE over the judged span.
RSS_RISE_KB = 2048
RSS_RISE_FRAC = 0.10
FDS_RISE = 4
JUDGE_SPAN_S = 600      # judge flatness only with this much after warm-up
COUNTERS = ("sent noerror servfail answers_other timeouts errors dropped "
            "resends failovers conns_opened hs_full hs_resumed u_queries "
            "u_cachehits u_cachemiss u_noerror u_servfail u_exceeded "
            "u_overwritten").split()


def tsv(path):
    with open(path) as f:
        head = f.readline().rstrip("\n").split("\t")
        return [dict(zip(head, line.rstrip("\n").split("\t")))
                for line in f if line.strip()]


def lsq(xs, ys):
    """Slope of the least-squares line through (xs, ys)."""
    n = len(xs)
    if n < 2:
        return 0.0
    mx, my = sum(xs) / n, sum(ys) / n
    den = sum((x - mx) ** 2 for x in xs)
    if den == 0:
        return 0.0
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den


def median(v):
    return sorted(v)[len(v) // 2] if v else 0


def totals(samples, start):
    """Counters summed over segments: each reload starts them at zero, and
    the sample just before a reload is the last of its segment. What the
    first segment counted before the load started (the harness's readiness
    query) is taken off."""
    last = collections.OrderedDict()
    for s in samples:
        last[s["seg"]] = s
    base = samples[0] if samples and float(samples[0]["t"]) <= start \
        else None
    return {c: sum(int(s[c]) for s in last.values()) -
            (int(base[c]) if base else 0) for c in COUNTERS}


def upstream_totals(path):
    tot = collections.Counter()
    fired = collections.Counter()
    if not os.path.exists(path):
        return tot, fired
    with open(path) as f:
        for line in f:
            name, _, js = line.partition(" ")
            try:
                d = json.loads(js)
            except ValueError:
                continue
            for k in ("queries", "answers", "connections", "handshakes",
                      "resumed"):
                tot[k] += d.get(k, 0)
            for k, v in d.get("fired", {}).items():
                fired[k] += v
    return tot, fired


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dir", required=True)
    p.add_argument("--warmup", type=float, default=180)
    p.add_argument("--max-servfail", type=float, default=0.5)
    o = p.parse_args()
    d = o.dir
    summ = json.load(open(os.path.join(d, "summary.json")))
    bins = tsv(os.path.join(d, "bins.tsv"))
    samples = tsv(os.path.join(d, "samples.tsv"))
    meta = dict(line.rstrip("\n").split("\t", 1)
                for line in open(os.path.join(d, "meta.tsv")) if "\t" in line)
    events = []
    for line in open(os.path.join(d, "events.tsv")):
        t, kind, detail = line.rstrip("\n").split("\t", 2)
        events.append((float(t), kind, detail))
    t0 = summ["start"]
    sent = summ["sent"]
    ok = True
    verdict = []

    def check(name, passed, detail):
        nonlocal ok
        ok = ok and passed
        verdict.append((name, "pass" if passed else "**FAIL**", detail))

    # ---- the checks ----
    crash = meta.get("crash", "none")
    check("crashes", crash == "none",
          "0" if crash == "none" else "1: " + crash)
    check("wrong answers", summ["wrong"] == 0,
          "%d of %d NOERROR answers (each checked against the name's "
          "address)" % (summ["wrong"], summ["noerror"] + summ["wrong"]))
    sf_pct = 100.0 * summ["servfail"] / max(1, sent)
    check("SERVFAIL share", sf_pct <= o.max_servfail,
          "%.3f %% (%d of %d; bound %.2f %%)" % (
              sf_pct, summ["servfail"], sent, o.max_servfail))
    other = summ["other"] + summ["unparsable"]
    check("other rcodes", other == 0,
          "%d (%s)" % (other, json.dumps(summ["other_rcodes"])))
    to_pct = 100.0 * summ["timeout"] / max(1, sent)
    full = [b for b in bins
            if float(b["t"]) - t0 + 10 <= summ["duration_target"] + 0.5]
    want_bin = summ["qps_target"] * 10
    slow = [b for b in full if int(b["sent"]) < 0.99 * want_bin]
    check("client kept the rate", not slow and not summ["stopped_early"],
          "%d of %d full 10-s bins below 99 %% of %d queries; worst send "
          "%.0f ms late; client CPU %.1f %% of one core" % (
              len(slow), len(full), want_bin, summ["lag_max_ms"],
              100.0 * summ["cpu_s"] / max(1e-9, summ["elapsed"])))

    post = [s for s in samples if float(s["t"]) - t0 >= o.warmup]
    xs = [(float(s["t"]) - t0) / 60.0 for s in post]
    rss = [int(s["rss_kb"]) for s in post]
    fds = [int(s["fds"]) for s in post]
    mem = [int(s["memory"]) for s in post]
    rss_slope, fds_slope, mem_slope = lsq(xs, rss), lsq(xs, fds), \
        lsq(xs, mem)
    span_min = (xs[-1] - xs[0]) if len(xs) > 1 else 0.0
    judged = span_min * 60 >= JUDGE_SPAN_S
    why_not = "; judged only with %d s after the warm-up" % JUDGE_SPAN_S
    verdict.append((
        "RSS slope", "reported",
        "%+.1f KiB/min least squares (%+.0f KiB over %.1f min after a %.0f s "
        "warm-up), RSS %d..%d KiB; dotpool's own memory (the "
        "dotpool_memory_bytes gauge) %+.0f B/min, %d..%d B" % (
            rss_slope, rss_slope * span_min, span_min, o.warmup,
            min(rss or [0]), max(rss or [0]), mem_slope, min(mem or [0]),
            max(mem or [0]))))
    first, last = median(rss[:10]), median(rss[-10:])
    rss_lim = max(first + RSS_RISE_KB, first * (1 + RSS_RISE_FRAC))
    detail = ("median of the last 10 samples %d KiB, of the first 10 after "
              "the warm-up %d KiB (bound %.0f)" % (last, first, rss_lim))
    if judged:
        check("RSS flat", last <= rss_lim, detail)
    else:
        verdict.append(("RSS flat", "not judged", detail + why_not))
    detail = ("%+.3f fds/min least squares (%+.1f over the span, bound %d), "
              "%d..%d open" % (fds_slope, fds_slope * span_min, FDS_RISE,
                               min(fds or [0]), max(fds or [0])))
    if judged:
        check("fds flat", fds_slope * span_min <= FDS_RISE, detail)
    else:
        verdict.append(("fds flat", "not judged", detail + why_not))

    # ---- counters: the client, Unbound, dotpool, the upstreams ----
    tot = totals(samples, t0)
    up, fired = upstream_totals(os.path.join(d, "upstreams.txt"))
    lies = fired["wrong-id"] + fired["wrong-question"] + fired["duplicate"]
    reloads = sum(1 for e in events if e[1] == "reload" and
                  e[2].startswith("done"))
    nfaults = sum(1 for e in events if e[1] == "fault")
    counters = [
        ("queries", "%d sent" % sent,
         "%d received (total.num.queries)" % tot["u_queries"], "",
         "the difference: queries lost while Unbound reloads"),
        ("NOERROR answers", "%d (%d fresh names)" % (
            summ["noerror"] + summ["wrong"], summ["fresh_noerror"]),
         "%d (num.answer.rcode.NOERROR)" % tot["u_noerror"],
         "%d from upstreams" % tot["noerror"],
         "every fresh name needs one upstream answer: dotpool's count "
         "must be at least the client's fresh count"),
        ("SERVFAIL", "%d" % summ["servfail"],
         "%d (num.answer.rcode.SERVFAIL)" % tot["u_servfail"],
         "%d from upstreams" % tot["servfail"],
         "dotpool's: SERVFAILs the faulty upstream sent (retried "
         "elsewhere), not what clients got"),
        ("no answer (client timeout 4 s)", "%d" % summ["timeout"], "", "",
         "queries Unbound dropped at a reload"),
        ("cache", "", "%d hits, %d misses" % (tot["u_cachehits"],
                                               tot["u_cachemiss"]),
         "", "misses are what dotpool had to resolve"),
        ("queries to upstreams", "", "",
         "%d sent (re-sends, probes)" % tot["sent"],
         "%d received by the two servers" % up["queries"]),
        ("lying answers", "", "", "%d dropped" % tot["dropped"],
         "%d lies sent (wrong-id, wrong-question, duplicate)" % lies),
        ("attempts that failed", "", "",
         "%d timeouts, %d errors, %d failovers, %d re-sends" % (
             tot["timeouts"], tot["errors"], tot["failovers"],
             tot["resends"]), ""),
        ("connections", "", "", "%d opened; %d full + %d resumed handshakes"
         % (tot["conns_opened"], tot["hs_full"], tot["hs_resumed"]),
         "%d accepted, %d handshakes (%d resumed)" % (
             up["connections"], up["handshakes"], up["resumed"])),
        ("request list", "", "%d exceeded, %d jostled" % (
            tot["u_exceeded"], tot["u_overwritten"]), "", ""),
    ]
    check("metrics against the client",
          tot["noerror"] >= summ["fresh_noerror"] and
          tot["u_servfail"] >= summ["servfail"] and
          tot["u_queries"] <= sent,
          "dotpool NOERROR from upstreams %d >= client's fresh NOERROR %d; "
          "Unbound's SERVFAIL %d >= client's %d; Unbound received %d <= "
          "sent %d" % (tot["noerror"], summ["fresh_noerror"],
                       tot["u_servfail"], summ["servfail"], tot["u_queries"],
                       sent))

    # ---- timeline per 10 s ----
    def during(t, t1):
        on = []
        for e in events:
            if e[1] in ("fault", "reload") and t <= e[0] < t1:
                on.append(e[2] if e[1] == "fault" else
                          "reload" if e[2] != "start" else "")
        return ", ".join(x for x in on if x)

    rows = []
    for b in bins:
        t = float(b["t"])
        rows.append("| %5.0f | %d | %d | %d | %d | %s | %s | %s |" % (
            t - t0, int(b["sent"]), int(b["noerror"]), int(b["servfail"]),
            int(b["timeout"]), b["lat_p50_ms"], b["lat_p99_ms"],
            during(t, t + 10)))
    sf_bins = sum(1 for b in bins if int(b["servfail"]))

    # ---- the plot ----
    plotted = plot(d, t0, samples, bins, events)

    md = []
    md.append("# Soak %s\n" % os.path.basename(os.path.normpath(d)))
    md.append("`%s` on %s, dotpool %s; %s.\n" % (
        meta.get("command", "?"), meta.get("unbound", "?"),
        meta.get("dotpool", "?"), meta.get("host", "?")))
    md.append("%d queries in %.0f s (%.0f qps asked, %.0f sent per second), "
              "%.0f %% fresh names; %d fault steps over two upstreams "
              "(%s), %d reloads.\n" % (
                  sent, summ["elapsed"], summ["qps_target"],
                  sent / max(1e-9, summ["elapsed"]), 100 * summ["fresh"],
                  nfaults, meta.get("faults", "?").strip(), reloads))
    md.append("| check | result | measured |\n|---|---|---|")
    for name, res, detail in verdict:
        md.append("| %s | %s | %s |" % (name, res, detail))
    md.append("\nVerdict: **%s**\n" % ("PASS" if ok else "FAIL"))
    md.append("SERVFAIL in %d of %d 10-s bins; timeouts %d (%.3f %%).\n" % (
        sf_bins, len(bins), summ["timeout"], to_pct))
    md.append("## Counters: client, Unbound, dotpool metrics, upstreams\n")
    md.append("| what | client | Unbound stats | dotpool metrics | "
              "note / upstream servers |\n|---|---|---|---|---|")
    for r in counters:
        md.append("| " + " | ".join(r) + " |")
    md.append("\nFaults fired (server side): %s\n" % ", ".join(
        "%s %d" % kv for kv in sorted(fired.items())))
    if plotted:
        md.append("## RSS, fds and qps over time\n\n![plot](results.png)\n")
    md.append("## Timeline per 10 s\n")
    md.append("| t s | sent | NOERROR | SERVFAIL | timeout | p50 ms | "
              "p99 ms | events in the bin |\n|---|---|---|---|---|---|---|---|")
    md.extend(rows)
    md.append("\nRaw files: bins.tsv (client per 10 s), servfail.tsv "
              "(SERVFAILs per second), samples.tsv (RSS, fds, metrics, "
              "Unbound stats every 10 s and before each reload), events.tsv "
              "(faults, reloads), upstreams.txt (the servers' counters), "
              "summary.json, unbound.conf, dotpool.conf.\n")
    with open(os.path.join(d, "results.md"), "w") as f:
        f.write("\n".join(md))
    for name, res, detail in verdict:
        print("soak: %-26s %-10s %s" % (name, res, detail))
    print("soak: %s" % ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


def plot(d, t0, samples, bins, events):
    if not shutil.which("gnuplot"):
        return False
    with open(os.path.join(d, "plot-samples.dat"), "w") as f:
        f.write("# min rss_mib fds\n")
        for s in samples:
            f.write("%.3f %.2f %s\n" % ((float(s["t"]) - t0) / 60.0,
                                        int(s["rss_kb"]) / 1024.0, s["fds"]))
    with open(os.path.join(d, "plot-bins.dat"), "w") as f:
        f.write("# min sent_qps noerror_qps servfail_count\n")
        for b in bins:
            f.write("%.3f %.1f %.1f %s\n" % (
                (float(b["t"]) + 5 - t0) / 60.0, int(b["sent"]) / 10.0,
                int(b["noerror"]) / 10.0, b["servfail"]))
    arrows = []
    for e in events:
        if e[1] == "reload" and e[2] == "start":
            arrows.append("set arrow from %.3f, graph 0 to %.3f, graph 1 "
                          "nohead dt 2 lc rgb '#999999'" %
                          ((e[0] - t0) / 60.0, (e[0] - t0) / 60.0))
    gp = """set terminal png size 1200,800
set output 'results.png'
set multiplot layout 2,1 title 'dotpool soak: Unbound RSS, fds and qps (dashed: reloads)'
{arrows}
set grid
set xrange [0:{xmax}]
set xlabel 'minutes'
set ylabel 'RSS MiB'
set y2label 'open fds'
set y2range [{fmin}:{fmax}]
set ytics nomirror
set y2tics
plot 'plot-samples.dat' using 1:2 with linespoints pt 7 ps 0.5 lc rgb '#4477aa' title 'RSS', \\
     '' using 1:3 axes x1y2 with steps lc rgb '#228833' title 'fds'
set key at graph 0.98, graph 0.7
set ylabel 'queries/s'
set y2label 'SERVFAIL per 10 s'
set yrange [0:{ymax}]
set y2range [0:{y2max}]
plot 'plot-bins.dat' using 1:2 with lines lw 2 lc rgb '#4477aa' title 'sent qps', \\
     '' using 1:3 with lines dt 3 lw 2 lc rgb '#228833' title 'NOERROR qps', \\
     '' using 1:4 axes x1y2 with impulses lw 3 lc rgb '#ee6677' title 'SERVFAIL'
unset multiplot
""".format(arrows="\n".join(arrows), xmax=(float(bins[-1]["t"]) + 10 - t0) / 60.0,
           ymax=1.2 * max(int(b["sent"]) / 10.0 for b in bins),
           y2max=1.2 * max([1] + [int(b["servfail"]) for b in bins]),
           fmin=min(int(x["fds"]) for x in samples) - 2,
           fmax=max(int(x["fds"]) for x in samples) + 2)
    with open(os.path.join(d, "plot.gp"), "w") as f:
        f.write(gp)
    r = subprocess.run(["gnuplot", "plot.gp"], cwd=d)
    return r.returncode == 0 and os.path.exists(os.path.join(d, "results.png"))


if __name__ == "__main__":
    sys.exit(main())
