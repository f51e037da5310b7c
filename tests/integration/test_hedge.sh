#!/usr/bin/env bash
# Hedging: with hedge-delay set and no answer from the primary after that
# delay, a second upstream is asked too; the first good answer wins and the
# other attempt is cancelled cleanly (its late answer is dropped, nothing
# stays in flight). Without hedging the same queries wait for the attempt
# timeout, which shows the hedge is what made them fast.
top=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top/tests/integration/lib.sh"
. "$top/tests/faultsrv/faultlib.sh"
dp_require python3 curl openssl

# Primary: answers, one byte every 100 ms (a slow, not a dead, server).
df_start slow 192.0.2.1 --fault slow-drip
df_start fast 192.0.2.2
mport=$(dp_free_port)

# run NAME HEDGE_MS: an Unbound with the slow primary first, 10 queries.
run() {
	local name=$1 hedge=$2
	printf 'dotpool:\n\tattempt-timeout: 1500\n\tquery-timeout: 4000\n\thedge-delay: %s\n\tmetrics-listen: 127.0.0.1@%s\n' \
		"$hedge" "$mport" >"$DP_TMP/$name.conf"
	dp_unbound_start "$name" -c "$DP_TMP/$name.conf" < <(
		printf '\tdiscard-timeout: 6000\n'; df_forward "$DP_ZONE" slow fast)
	df_load "$(dp_get "$name" port)" "$name" --count 10 --qps 5 \
		--timeout 5 --allow 192.0.2.2
}

metric() { # NAME UPSTREAM-ADDR [LABELS]
	curl -sf "http://127.0.0.1:$mport/metrics" | awk -v n="$1" -v u="$2" \
		-v l="${3:-}" 'index($1, n "{upstream=\"" u "#") == 1 &&
		(l == "" || index($1, l)) { v = $2 } END { print v + 0 }'
}

run hedged 150 || dp_fail "hedged queries: wrong answer, SERVFAIL or timeout"
# latency: every answer well under the attempt timeout (1500 ms)
max=$(awk '{ if ($5 + 0 > m) m = $5 + 0 } END { print int(m) }' "$DP_TMP/hedged.load")
assert_le "$max" 1000 "slowest hedged answer (ms)"
fast=$(df_addr fast | sed 's/#.*//')
slow=$(df_addr slow | sed 's/#.*//')
assert_ge "$(metric dotpool_hedges_total "$fast")" 1 "hedges sent to the fast upstream"
assert_ge "$(df_stat slow queries)" 1 "the slow primary was asked first"
assert_eq 0 "$(metric dotpool_queries_inflight "$fast")" "fast: nothing in flight"
assert_alive hedged "Unbound with hedging"
dp_unbound_stop hedged

# The same without hedging: the first query waits for the attempt timeout,
# then fails over (the check bites); later ones skip the primary, which is
# backing off by then.
run plain 0 || dp_fail "unhedged queries: wrong answer, SERVFAIL or timeout"
first=$(awk 'NR == 1 { print int($5) }' "$DP_TMP/plain.load")
assert_ge "$first" 1400 "first unhedged answer waits for the attempt timeout (ms)"
assert_eq 0 "$(metric dotpool_hedges_total "$fast")" "no hedges without hedge-delay"
dp_unbound_stop plain
df_stop_all
dp_pass
