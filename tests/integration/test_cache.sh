#!/usr/bin/env bash
# Answers that came through dotpool land in Unbound's cache: repeating a
# query (positive, CNAME chain, NXDOMAIN) is answered with no new query to
# the upstream, while a new name does reach it.
. "$(dirname "$0")/lib.sh"
dp_require dig openssl python3

dp_upstream_start up
# this test counts the client's traffic from the first query on: no
# start-up probe (probe-interval: 0; test_ready_start covers the probes)
printf 'dotpool:\n\tprobe-interval: 0\n' >"$DP_TMP/noprobe.conf"
dp_unbound_start dp -c "$DP_TMP/noprobe.conf" <<EOF2
$(dp_forward_tls "$DP_ZONE" up)
EOF2
port=$(dp_get dp port)
nx=nx-$RANDOM$RANDOM.dotpool.test

assert_eq 0 "$(dp_upstream_queries up)" "upstream queries before any query"
dp_query "$port" www.dotpool.test A
assert_eq NOERROR "$DP_RCODE" "first www/A"
assert_eq 'www.dotpool.test. A 192.0.2.1' "$DP_ANSWER" "first www/A answer"
dp_query "$port" c1.dotpool.test A
assert_eq NOERROR "$DP_RCODE" "first c1/A (CNAME chain)"
chain=$DP_ANSWER
assert_eq 4 "$(printf '%s\n' "$chain" | grep -c .)" \
	"records in the c1 chain answer (3 CNAMEs + A)"
dp_query "$port" "$nx" A
assert_eq NXDOMAIN "$DP_RCODE" "first $nx/A"
warm=$(dp_upstream_queries up)
assert_ge "$warm" 3 "upstream queries after three new names"

for i in 1 2 3; do
	dp_query "$port" www.dotpool.test A
	assert_eq NOERROR "$DP_RCODE" "repeat $i of www/A"
	assert_eq 'www.dotpool.test. A 192.0.2.1' "$DP_ANSWER" \
		"repeat $i of www/A answer"
	dp_query "$port" c1.dotpool.test A
	assert_eq "$chain" "$DP_ANSWER" "repeat $i of c1/A answer"
	dp_query "$port" "$nx" A
	assert_eq NXDOMAIN "$DP_RCODE" "repeat $i of $nx/A"
done
assert_eq "$warm" "$(dp_upstream_queries up)" \
	"upstream queries after repeating cached names (cache must answer)"

# The counter is live: a name not in the cache reaches the upstream.
dp_query "$port" "new-$RANDOM.wild.dotpool.test" A
assert_eq NOERROR "$DP_RCODE" "new wildcard name"
assert_ge "$(dp_upstream_queries up)" $((warm + 1)) \
	"upstream queries after a new name"

assert_dotpool_carried dp up
dp_pass
