#!/usr/bin/env bash
# Fast blackhole detection with the default settings: two upstreams 20 ms
# away (a delay relay in front of each), 100 queries a second of unique
# names, and the primary's server frozen (SIGSTOP: connections stay open,
# nothing is answered). Every answer is right (each name's address is a
# hash of the name, checked here) and none is SERVFAIL; the queries sent
# after the freeze are answered well before attempt-timeout (700 ms): at
# the soft deadline they are hedged to the secondary, and the silent
# primary turns suspect, so new queries skip it at once. Once the server
# runs again (SIGCONT) its probe's answer makes it trusted, and the
# primary carries the queries again. Then the primary turns slow (its relay
# holds every answer 300 ms more): the answer that ends its suspicion
# teaches the new round trip at once, the ordered policy passes it over
# for the secondary, and queries are not slowed down. The benchmark
# reports the real latencies; the bounds here are generous.
top=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top/tests/integration/lib.sh"
. "$top/tests/faultsrv/faultlib.sh"
dp_require python3 curl openssl

df_start primary 192.0.2.1 --addr-hash
df_start secondary 192.0.2.2 --addr-hash

# a relay 20 ms each way in front of each
dp_relay_start p "$(dp_get primary tls_port)" 20
dp_relay_start s "$(dp_get secondary tls_port)" 20
mport=$(dp_free_port)
printf 'dotpool:\n\tmetrics-listen: 127.0.0.1@%s\n' "$mport" >"$DP_TMP/dp.conf"
dp_unbound_start dp -c "$DP_TMP/dp.conf" <<EOF
forward-zone:
	name: "$DP_ZONE."
	forward-tls-upstream: yes
	forward-addr: 127.0.0.1@$(dp_get p port)#$DP_DOT_NAME
	forward-addr: 127.0.0.1@$(dp_get s port)#$DP_DOT_NAME
EOF
port=$(dp_get dp port)

metric() { # NAME PORT-OF-UPSTREAM
	curl -sf "http://127.0.0.1:$mport/metrics" | awk -v n="$1" \
		-v u="127.0.0.1@$2#" 'index($1, n "{upstream=\"" u) == 1 {
		v = $2 } END { print v + 0 }'
}

# check TAG FROM: every line of TAG's load is NOERROR with its name's
# hashed address; prints the largest latency (ms) of the queries sent FROM
# seconds after the load's start or later, and how many there were
check() {
	python3 - "$DP_TMP/$1.load" "$2" "$top/tests/faultsrv/dotfault.py" <<'PY'
import importlib.util, sys
spec = importlib.util.spec_from_file_location("dotfault", sys.argv[3])
df = importlib.util.module_from_spec(spec)
spec.loader.exec_module(df)
bad, worst, n = 0, 0.0, 0
for line in open(sys.argv[1]):
    t, name, rcode, addrs, ms = line.split()
    if rcode != "NOERROR" or addrs != df.name_addr(name):
        print("wrong answer: %s %s %s" % (name, rcode, addrs),
              file=sys.stderr)
        bad += 1
    if float(t) >= float(sys.argv[2]):
        worst = max(worst, float(ms))
        n += 1
print(bad, int(worst), n)
PY
}
# answers TAG FROM: check, failing on a wrong answer; sets worst and n
answers() {
	local bad
	read -r bad worst n < <(check "$1" "$2")
	assert_eq 0 "$bad" "wrong or SERVFAIL answers ($1)"
}

# warm up: both upstreams verified (start-up probes), the primary's round
# trip learned from a second of traffic
df_load "$port" warm --count 100 --qps 100 --timeout 3 ||
	dp_fail "warm-up load failed"
answers warm 0
before=$(df_stat primary queries)
assert_ge "$before" 90 "the primary carries the queries while healthy"

# 6 s of load; the primary's server freezes after 2 s
dp_spawn load python3 "$DF_LOAD" --port "$port" --zone "$DP_ZONE" \
	--prefix bh --count 600 --qps 100 --timeout 3 \
	--out "$DP_TMP/bh.load" --start-file "$DP_TMP/bh.start"
sleep 2
kill -STOP "$(dp_get primary pid)"
stopped=$(date +%s.%N)
sleep 3
kill -CONT "$(dp_get primary pid)"
dp_spawn_wait load
[ "$(dp_get load status)" = 0 ] || dp_fail "the load saw a timeout or an error"
after=$(awk -v s="$stopped" '{ printf "%.3f\n", s - $1 }' "$DP_TMP/bh.start")
answers bh "$after"
assert_ge "$n" 100 "queries sent after the freeze"
dp_log "slowest answer to a query sent after the freeze: $worst ms"
assert_le "$worst" 500 "slowest answer after the freeze (ms; attempt-timeout 700)"
assert_ge "$(metric dotpool_hedges_soft_deadline_total "$(dp_get s port)")" 1 \
	"queries hedged to the secondary at the soft deadline"
assert_ge "$(metric dotpool_suspect_total "$(dp_get p port)")" 1 \
	"times the frozen primary was suspect"
# the estimate sees the 40 ms path (the relay adds 20 ms each way)
srtt_ms=$(metric dotpool_upstream_srtt_seconds "$(dp_get s port)" |
	awk '{ print int($1 * 1000) }')
assert_ge "$srtt_ms" 40 "the secondary's smoothed round trip (ms)"
assert_le "$srtt_ms" 400 "the secondary's smoothed round trip (ms)"

# the primary answers again: probed, trusted, and carrying queries (a
# probe answered late, just after the thaw, may set its round trip far
# above the secondary's for a moment: then it is probed again once that
# estimate is 3 s old)
sleep 1.5
mid=$(df_stat primary queries)
df_load "$port" back --count 400 --qps 100 --timeout 3 ||
	dp_fail "load after the recovery failed"
answers back 0
end=$(df_stat primary queries)
assert_ge "$((end - mid))" 200 "queries the recovered primary carried (of 400)"
assert_eq 0 "$(metric dotpool_upstream_suspect "$(dp_get p port)")" \
	"the recovered primary is no longer suspect"

# the primary turns slow: every answer 300 ms later
dp_spawn load2 python3 "$DF_LOAD" --port "$port" --zone "$DP_ZONE" \
	--prefix sl --count 400 --qps 100 --timeout 3 \
	--out "$DP_TMP/sl.load" --start-file "$DP_TMP/sl.start"
sleep 0.5
mid=$(df_stat primary queries)
kill -USR1 "$(dp_get p pid)"
slowed=$(date +%s.%N)
dp_spawn_wait load2
[ "$(dp_get load2 status)" = 0 ] || dp_fail "the load saw a timeout or an error"
end=$(df_stat primary queries)
after=$(awk -v s="$slowed" '{ printf "%.3f\n", s - $1 }' "$DP_TMP/sl.start")
answers sl "$after"
dp_log "slowest answer to a query sent after the slow-down: $worst ms"
assert_le "$worst" 250 "slowest answer after the slow-down (ms; the primary takes 340)"
assert_le "$((end - mid))" 40 "queries the slow primary got (of ~350)"
pslow=$(metric dotpool_upstream_srtt_seconds "$(dp_get p port)" |
	awk '{ print int($1 * 1000) }')
assert_ge "$pslow" 300 "the slow primary's smoothed round trip (ms)"
assert_alive dp "Unbound"
dp_unbound_stop dp
df_stop_all
dp_pass
