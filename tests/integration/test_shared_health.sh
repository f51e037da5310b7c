#!/usr/bin/env bash
# Health is shared by the worker threads: with num-threads 2 and a primary
# that completes the TLS handshake and then never answers, the first query
# that meets it waits for the attempt timeout and fails over; the other
# worker, having seen nothing itself, skips the primary at once because the
# first one posted the outage. Sequential queries with random source ports
# reach both workers (P(all on one) = 2^-29), so without sharing two
# queries would be slow, one per worker.
top=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top/tests/integration/lib.sh"
. "$top/tests/faultsrv/faultlib.sh"
dp_require dig python3 openssl

N=30
df_start dead 192.0.2.1 --fault stall-after-handshake
df_start good 192.0.2.2
# a long backoff: no retry of the primary inside the test; no hedging,
# so the query that meets the dead primary first does wait for the
# timeout (test_blackhole_fast shows what hedging makes of it)
printf 'dotpool:\n\tattempt-timeout: 700\n\tbackoff-initial: 20000\n\tbackoff-max: 20000\n\tprobe-interval: 0\n\thedge-delay: 0\n' \
	>"$DP_TMP/dp.conf"
dp_unbound_start dp -t 2 -c "$DP_TMP/dp.conf" < <(df_forward "$DP_ZONE" dead good)
port=$(dp_get dp port)
slow=0
for i in $(seq 1 "$N"); do
	out=$(dig @127.0.0.1 -p "$port" +tries=1 +time=5 "s$i-$RANDOM.$DP_ZONE" A)
	grep -q "status: NOERROR" <<<"$out" ||
		dp_fail "query $i: not NOERROR: $(grep status: <<<"$out")"
	grep -q "192.0.2.2" <<<"$out" ||
		dp_fail "query $i: not the healthy upstream's answer"
	ms=$(sed -n 's/^;; Query time: \([0-9]*\) msec/\1/p' <<<"$out")
	[ "${ms:-0}" -ge 500 ] && slow=$((slow + 1))
done
dp_log "$N queries over 2 threads: $slow waited for the dead primary's timeout"
assert_eq 1 "$slow" "queries that waited for the attempt timeout (one for both workers)"
assert_ge "$(df_stat dead queries)" 1 "the primary was tried"
assert_eq 1 "$(grep -c 'dotpool: .*up -> backoff' "$(dp_get dp log)" || true)" \
	"workers that logged the primary going into backoff"
assert_alive dp "Unbound with 2 threads"
dp_unbound_stop dp
df_stop_all
dp_pass
