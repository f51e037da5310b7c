#!/usr/bin/env bash
# Unbound with dotpool survives its own life cycle under load, under
# valgrind: two worker threads; queries parked on a DoT server that never
# answers are dropped by `flush_requestlist`; then a stream of queries (new
# names, cached names, a CNAME chain, more parked ones) runs while
# `unbound-control reload` happens five times and the request list is
# flushed again; then a clean stop. The daemon stays up throughout, still
# answers at the end, exits 0 with no valgrind error or definite leak (none
# in the module's frames in particular), and logs no assertion or fatal
# error.
. "$(dirname "$0")/lib.sh"
dp_require dig openssl python3 valgrind
here=$(cd "$(dirname "$0")" && pwd)

dp_upstream_start up
dp_blackhole_start hole
dp_unbound_start dp -V -t 2 <<EOF2
$(dp_forward_tls "$DP_ZONE" up)
$(dp_forward_tls "slow.$DP_ZONE" hole)
EOF2
port=$(dp_get dp port)
dp_query "$port" www.dotpool.test A
assert_eq NOERROR "$DP_RCODE" "www/A before the load starts"

# inflight: the daemon's request list, over all threads.
inflight() {
	dp_control dp stats_noreset |
		sed -n 's/^total\.requestlist\.current\.all=//p'
}

# Queries parked on the blackhole are in flight; flushing drops them.
dp_spawn parked python3 "$here/burst.py" "$port" 8 slow.dotpool.test 3
sleep 0.5
assert_ge "$(inflight)" 1 "queries in flight, parked on the blackhole"
dp_control dp flush_requestlist >/dev/null ||
	dp_fail "unbound-control flush_requestlist failed (expected ok)"
assert_eq 0 "$(inflight)" "queries in flight after flush_requestlist"
dp_spawn_wait parked
assert_alive dp "Unbound after flushing parked queries"

# query_loop: until told to stop, bursts of 8 new names (one line each: how
# many were answered), 4 names parked on the blackhole, two cached names.
# Timeouts are expected while Unbound reloads.
query_loop() {
	while [ ! -e "$DP_TMP/stop" ]; do
		python3 "$here/burst.py" "$port" 4 slow.dotpool.test 1 \
			>/dev/null &
		python3 "$here/burst.py" "$port" 8 wild.dotpool.test 1.5 |
			awk '$2 == 0 { n++ } END { print n + 0 }'
		dig @127.0.0.1 -p "$port" +tries=1 +time=1 www.dotpool.test A \
			>/dev/null 2>&1
		dig @127.0.0.1 -p "$port" +tries=1 +time=1 c1.dotpool.test AAAA \
			>/dev/null 2>&1
		wait
	done
	return 0
}
dp_spawn load query_loop
sleep 1
for i in 1 2 3 4 5; do
	dp_unbound_reload dp
	sleep 0.5
	assert_alive dp "Unbound $i reload(s) into the query load"
done
dp_control dp flush_requestlist >/dev/null ||
	dp_fail "unbound-control flush_requestlist under load failed (expected ok)"
sleep 0.5
assert_alive dp "Unbound after flush_requestlist under load"
touch "$DP_TMP/stop"
dp_spawn_wait load
bursts=$(grep -c '^[0-9][0-9]*$' "$DP_TMP/load/stdout")
assert_ge "$bursts" 3 "query bursts sent during the reloads"
answered=$(awk '{ s += $1 } END { print s + 0 }' "$DP_TMP/load/stdout")
assert_ge "$answered" 1 "queries of the load answered during the reloads"

# Still serving, through dotpool, after all that.
dp_query "$port" "after-$RANDOM.wild.dotpool.test" A
assert_eq NOERROR "$DP_RCODE" "a new name after the reloads"
assert_eq 192.0.2.7 "$(printf '%s\n' "$DP_ANSWER" | awk '{ print $3 }')" \
	"answer for a new name after the reloads"
loads=$(grep -c 'dotpool: loaded' "$(dp_get dp log)")
assert_ge "$loads" 6 "'dotpool: loaded' lines (start + 5 reloads)"
assert_dotpool_carried dp up
assert_ge "$(dp_dotpool_connects dp hole)" 1 \
	"dotpool connections to the blackhole (parked queries went out)"

# Exit 0, and no valgrind (or, for a module built with ASan, sanitizer)
# report: dp_unbound_stop fails the test otherwise.
dp_unbound_stop dp
assert_no_grep "$(dp_get dp log)" '[Aa]ssertion|[Ff]atal' \
	"assertion or fatal error in the log"
if [ -f "$(dp_get dp dir)/valgrind" ]; then
	errs=$(dp_valgrind_errors dp)
	assert_eq "" "$errs" "valgrind errors in the module's frames"
	assert_grep "$(dp_get dp dir)/valgrind.log" 'ERROR SUMMARY: 0 errors' \
		"valgrind's error summary"
fi
dp_log "$answered of $((bursts * 8)) load queries answered; memory checks clean"
dp_pass
