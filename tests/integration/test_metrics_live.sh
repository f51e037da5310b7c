#!/usr/bin/env bash
# The live Prometheus endpoint of a running Unbound with dotpool: promtool
# accepts the scrape, and under a scripted load the counters agree with the
# traffic that was sent: queries, answers by rcode, connections and
# handshakes. No query name appears in the scrape.
. "$(dirname "$0")/lib.sh"
dp_require dig curl promtool openssl python3

mport=$(dp_free_port)
conf=$DP_TMP/dotpool.conf
# the counts below are the client's: no start-up probe (probe-interval 0)
printf 'dotpool:\n\tmetrics-listen: 127.0.0.1@%s\n\tprobe-interval: 0\n' "$mport" >"$conf"

dp_upstream_start up
dp_unbound_start dp -c "$conf" <<EOF2
$(dp_forward_tls "$DP_ZONE" up)
EOF2
port=$(dp_get dp port)
upstream=$(dp_get up tls_port)
label="127.0.0.1@$upstream#$DP_DOT_NAME"

scrape() { curl -sf "http://127.0.0.1:$mport/metrics"; }
# metric NAME LABELS: the value of one series (0 when absent)
metric() {
	scrape | awk -v want="$1{upstream=\"$label\",zone=\"$DP_ZONE.\"${2:-}}" \
		'$1 == want { v = $2 } END { print (v == "" ? 0 : v) }'
}

scrape >"$DP_TMP/scrape0" || dp_fail "no answer from the metrics endpoint"
assert_grep "$DP_TMP/scrape0" '^dotpool_build_info\{' "build info before traffic"

# A known load: unique names (cache misses) with known rcodes.
n_ok=40 n_nx=15
for i in $(seq 1 $n_ok); do
	dp_query "$port" "m$i-$RANDOM.wild.$DP_ZONE" A
	assert_eq NOERROR "$DP_RCODE" "load query $i"
done
for i in $(seq 1 $n_nx); do
	dp_query "$port" "nx$i-$RANDOM.$DP_ZONE" TXT
	assert_eq NXDOMAIN "$DP_RCODE" "nxdomain query $i"
done
sent=$((n_ok + n_nx))

scrape >"$DP_TMP/scrape1"
promtool check metrics <"$DP_TMP/scrape1" >"$DP_TMP/promtool.out" 2>&1 ||
	dp_fail "promtool rejects the live scrape: $(cat "$DP_TMP/promtool.out")"

assert_eq "$sent" "$(metric dotpool_queries_sent_total)" \
	"queries sent = queries the client made (all cache misses)"
assert_eq "$n_ok" "$(metric dotpool_answers_total ',rcode="NOERROR"')" \
	"NOERROR answers counted"
assert_eq "$n_nx" "$(metric dotpool_answers_total ',rcode="NXDOMAIN"')" \
	"NXDOMAIN answers counted"
assert_eq "$sent" "$(metric dotpool_upstream_latency_seconds_count)" \
	"latency samples = answers"
assert_eq "$sent" "$(metric dotpool_upstream_latency_seconds_bucket ',le="+Inf"')" \
	"+Inf bucket = answers"
assert_eq "$sent" "$(dp_upstream_queries up)" \
	"the upstream saw as many queries as dotpool counted"
opened=$(metric dotpool_connections_opened_total)
full=$(metric dotpool_handshakes_total ',kind="full"')
resumed=$(metric dotpool_handshakes_total ',kind="resumed"')
assert_eq 1 "$opened" "connections opened for one thread in steady load"
assert_eq "$opened" "$((full + resumed))" "every connection did one handshake"
assert_eq 1 "$(metric dotpool_upstream_up)" "upstream up"
assert_eq 0 "$(metric dotpool_timeouts_total)" "no timeouts"
assert_eq 0 "$(metric dotpool_queries_inflight)" "nothing in flight at rest"

# Cached answers do not reach dotpool's counters.
dp_query "$port" "www.$DP_ZONE" A
before=$(metric dotpool_queries_sent_total)
dp_query "$port" "www.$DP_ZONE" A
assert_eq "$before" "$(metric dotpool_queries_sent_total)" \
	"a cached answer sends nothing"

# Privacy: the scrape names upstreams and zones, never a query name.
assert_no_grep "$DP_TMP/scrape1" 'wild|nx[0-9]|www\.' "query names in the scrape"

# The endpoint survives a reload and is gone after stop.
dp_unbound_reload dp
scrape >/dev/null || dp_fail "metrics endpoint gone after reload"
dp_unbound_stop dp
if curl -sf "http://127.0.0.1:$mport/metrics" >/dev/null 2>&1; then
	dp_fail "metrics endpoint still answers after Unbound stopped"
fi
dp_pass
