#!/usr/bin/env bash
# The failover scenario: the Unbound under test (dynlib +
# dotpool, policy ordered) forwards a TLS zone to a primary and a secondary
# DoT upstream (both dotfault). A steady load of unique names runs
# throughout (50 qps, ~24 s) while the primary is
#   t=4   killed (SIGKILL: connections reset, then refused),
#   t=9   restarted but blackholed (SIGSTOP: the kernel still accepts TCP,
#         nothing answers, open connections stall),
#   t=14  brought back (SIGCONT),
# and the run ends at t=24. Prints per-second counts of answers from the
# primary / secondary, SERVFAIL, timeouts and wrong answers, then a summary.
# Exits 1 if any query failed (SERVFAIL, timeout, wrong answer) while the
# secondary was healthy (it always is), if the primary did not carry the
# traffic before the kill (>= 90%: it is the first forward-addr), or if
# traffic did not return to it (>= 90% of the answers of the last 4 s).
#
# Knobs: SCENARIO_QPS (50), SCENARIO_SCALE (1: multiply the phase lengths),
# SCENARIO_CONF (a dotpool settings file instead of the built-in one).
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/integration/lib.sh"
. "$top/tests/faultsrv/faultlib.sh"
dp_require python3 dig openssl "$DP_UNBOUND"

PRIMARY=192.0.2.1
SECONDARY=192.0.2.2
qps=${SCENARIO_QPS:-50}
scale=${SCENARIO_SCALE:-1}
t_kill=$((4 * scale))
t_blackhole=$((9 * scale))
t_back=$((14 * scale))
t_end=$((24 * scale))

conf=${SCENARIO_CONF:-$DP_TMP/dotpool.conf}
[ -n "${SCENARIO_CONF:-}" ] || cat >"$conf" <<EOF
dotpool:
	policy: ordered
	attempt-timeout: 400
	query-timeout: 1800
	max-attempts: 3
	connect-timeout: 500
	fail-threshold: 2
	backoff-initial: 300
	backoff-max: 1500
	probe-interval: 500
EOF

df_start primary $PRIMARY
df_start secondary $SECONDARY
pport=$(dp_get primary tls_port)
cat >"$DP_TMP/clauses" <<EOF
	qname-minimisation: no
forward-zone:
	name: "$DP_ZONE."
	forward-addr: $(df_addr primary)
	forward-addr: $(df_addr secondary)
	forward-tls-upstream: yes
EOF
dp_unbound_start ub -c "$conf" <"$DP_TMP/clauses"
uport=$(dp_get ub port)

# The load: t=0 is the moment dnsload writes its start file.
python3 "$DF_LOAD" --port "$uport" --zone "$DP_ZONE" --prefix fo \
	--count $((qps * t_end)) --qps "$qps" --timeout 3 \
	--out "$DP_TMP/load" --start-file "$DP_TMP/start" &
load_pid=$!
dp__register "$load_pid" dnsload
for _ in $(seq 1 50); do [ -s "$DP_TMP/start" ] && break; sleep 0.1; done
[ -s "$DP_TMP/start" ] || dp_fail "the load did not start"
t0=$(cat "$DP_TMP/start")

# at T: sleep until T seconds after the load started
at() {
	local d
	d=$(python3 -c "import time; print(max(0, $t0 + $1 - time.time()))")
	sleep "$d"
}
event() {	# event NAME: record the time of a phase change
	printf '%s %s\n' "$(date +%s.%N)" "$1" >>"$DP_TMP/events"
	dp_log "t=$(python3 -c "import time; print('%.1f' % (time.time() - $t0))") $1"
}

event normal
at $t_kill
kill -KILL "$(dp_get primary pid)"
wait "$(dp_get primary pid)" 2>/dev/null
event killed
at $t_blackhole
df_start primary2 $PRIMARY --port "$pport"
kill -STOP "$(dp_get primary2 pid)"
event blackholed
at $t_back
kill -CONT "$(dp_get primary2 pid)"
event recovered
wait "$load_pid"
assert_alive ub "the Unbound under test must survive the scenario"

python3 - "$DP_TMP/load" "$DP_TMP/events" "$t0" $PRIMARY $SECONDARY <<'EOF'
import sys
load, events, t0, prim, sec = sys.argv[1], sys.argv[2], float(sys.argv[3]), \
    sys.argv[4], sys.argv[5]
ev = []
for line in open(events):
    t, name = line.split()
    ev.append((float(t) - t0, name))

def phase(t):
    cur = ev[0][1]
    for at, name in ev:
        if t >= at:
            cur = name
    return cur

rows = {}
tot = {"P": 0, "S": 0, "SERVFAIL": 0, "TIMEOUT": 0, "wrong": 0}
bad = []
perq = []
end = 0.0
for line in open(load):
    t, name, rcode, addrs, ms = line.split()
    t, ms = float(t), float(ms)
    end = max(end, t)
    sec_no = int(t)
    r = rows.setdefault(sec_no, {"P": 0, "S": 0, "SERVFAIL": 0,
                                 "TIMEOUT": 0, "wrong": 0, "max": 0.0,
                                 "phase": phase(t)})
    if rcode == "NOERROR" and addrs == prim:
        k = "P"
    elif rcode == "NOERROR" and addrs == sec:
        k = "S"
    elif rcode in ("SERVFAIL", "TIMEOUT"):
        k = rcode
    else:
        k = "wrong"
    r[k] += 1
    tot[k] += 1
    perq.append((t, k))
    r["max"] = max(r["max"], ms)
    if k not in ("P", "S"):
        bad.append("%6.2f %s %s %s %s ms" % (t, name, rcode, addrs, ms))

print(" sec  phase       primary secondary servfail timeout wrong  max_ms")
for s in sorted(rows):
    r = rows[s]
    print("%4d  %-10s %8d %9d %8d %7d %5d %7.0f" % (
        s, r["phase"], r["P"], r["S"], r["SERVFAIL"], r["TIMEOUT"],
        r["wrong"], r["max"]))
for b in bad[:10]:
    print("failed: " + b)
# back to the primary: the answers sent in the last 4 s
last = [rows[s] for s in rows if s >= int(end) - 3]
lp = sum(r["P"] for r in last)
la = sum(r["P"] + r["S"] for r in last) or 1
back = lp / la >= 0.9
# before the kill, policy ordered sends everything to the primary (the
# queries sent in the last 0.2 s before it may meet the kill in flight)
t_kill = [at for at, name in ev if name == "killed"][0]
fp = sum(1 for t, k in perq if t < t_kill - 0.2 and k == "P")
fa = sum(1 for t, k in perq if t < t_kill - 0.2 and k in ("P", "S")) or 1
pref = fp / fa >= 0.9
ok = not bad and back and pref
print("summary: queries=%d primary=%d secondary=%d servfail=%d timeout=%d "
      "wrong=%d primary-first=%s (%d%% before the kill) "
      "back-to-primary=%s (%d%% of the last 4 s) -> %s" % (
          sum(tot.values()), tot["P"], tot["S"], tot["SERVFAIL"],
          tot["TIMEOUT"], tot["wrong"], "yes" if pref else "no",
          100 * fp // fa, "yes" if back else "no",
          100 * lp // la, "PASS" if ok else "FAIL"))
sys.exit(0 if ok else 1)
EOF
rc=$?
df_stop_all
[ $rc = 0 ] || dp_fail "failover scenario failed (see the table above)"
dp_pass
