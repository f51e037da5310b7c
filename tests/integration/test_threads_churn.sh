#!/usr/bin/env bash
# Metrics and memory read during connection churn: Unbound with four
# threads, an upstream that closes every connection after one answer, about
# 150 queries a second over eight client sockets (spread over the workers),
# a scrape loop on the metrics endpoint and an `unbound-control
# stats_noreset` loop (extended-statistics: get_mem of the module on a
# worker while the others free connections). Unbound must stay up, keep
# answering, and stop cleanly; with a module built with sanitizers
# (./configure --enable-sanitizers, or -fsanitize=thread, see lib.sh) any
# ASan or TSan report fails the test.
#
# DOTPOOL_CHURN_SECONDS: how long (default 20; a longer run, e.g. 60, is a
# soak).
# DOTPOOL_CHURN_THREADS: num-threads (default 4).
top=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top/tests/integration/lib.sh"
. "$top/tests/faultsrv/faultlib.sh"
dp_require dig curl python3 openssl

secs=${DOTPOOL_CHURN_SECONDS:-20}
threads=${DOTPOOL_CHURN_THREADS:-4}
loads=8
qps_each=19 # about 150 in all

df_start churn 192.0.2.1 --fault close-after:1
mport=$(dp_free_port)
printf 'dotpool:\n\tmetrics-listen: 127.0.0.1@%s\n' "$mport" >"$DP_TMP/dp.conf"
dp_unbound_start dp -t "$threads" -c "$DP_TMP/dp.conf" <<EOF
	extended-statistics: yes
$(df_forward "$DP_ZONE" churn)
EOF
port=$(dp_get dp port)

# the readers: as fast as they go until the load is done
stop=$DP_TMP/stop
scrapes=$DP_TMP/scrapes
stats=$DP_TMP/stats
dp_spawn scraper bash -c "n=0; bad=0; while [ ! -e '$stop' ]; do
	curl -sf -m 5 -o '$DP_TMP/scrape.last' 'http://127.0.0.1:$mport/metrics' &&
		n=\$((n + 1)) || bad=\$((bad + 1)); done; echo \"\$n \$bad\" >'$scrapes'"
dp_spawn statser bash -c "n=0; bad=0; while [ ! -e '$stop' ]; do
	'$DP_UNBOUND_CONTROL' -c '$(dp_get dp conf)' stats_noreset \
		>'$DP_TMP/stats.last' 2>&1 &&
		n=\$((n + 1)) || bad=\$((bad + 1)); done; echo \"\$n \$bad\" >'$stats'"

dp_log "churn for $secs s: $loads loads of $qps_each qps, scrape and stats loops"
for i in $(seq 1 $loads); do
	dp_spawn "load$i" python3 "$DF_LOAD" --port "$port" --zone "$DP_ZONE" \
		--prefix "c$i" --out "$DP_TMP/load$i.load" \
		--count $((secs * qps_each)) --qps "$qps_each" --timeout 5
done
# Unbound is checked every second: a crash fails the test at once
end=$((SECONDS + secs + 30))
while :; do
	assert_alive dp "Unbound during the churn"
	running=0
	for i in $(seq 1 $loads); do
		dp_alive "load$i" && running=1
	done
	[ $running = 0 ] && break
	[ $SECONDS -lt $end ] || dp_fail "the loads did not end in $((secs + 30)) s"
	sleep 1
done
for i in $(seq 1 $loads); do
	dp_spawn_wait "load$i"
done
touch "$stop"
dp_spawn_wait scraper
dp_spawn_wait statser
assert_alive dp "Unbound after the churn"

read -r nscrape badscrape <"$scrapes"
read -r nstats badstats <"$stats"
total=$(cat "$DP_TMP"/load*.load | wc -l)
ok=$(cat "$DP_TMP"/load*.load | awk '$3 == "NOERROR"' | wc -l)
handshakes=$(df_stat churn handshakes 2>/dev/null || echo "?")
dp_log "$ok of $total queries answered; $nscrape scrapes ($badscrape failed)," \
	"$nstats stats_noreset ($badstats failed); upstream handshakes: $handshakes"
assert_eq $((secs * qps_each * loads)) "$total" "queries the loads sent and saw end"
# The point is the readers, not the answer rate (each answer costs a TLS
# handshake, slow under a sanitizer), but the churn must have happened.
assert_ge "$ok" $((total / 10)) "queries answered through the churn"
assert_ge "$nscrape" $((secs * 2)) "scrapes during the churn"
assert_ge "$nstats" "$secs" "stats_noreset runs during the churn"
assert_eq 0 "$badscrape" "failed scrapes"
assert_eq 0 "$badstats" "failed stats_noreset runs"
assert_grep "$DP_TMP/stats.last" '^mem\.mod\.dynlibmod=[1-9]' \
	"the module's memory in unbound-control stats"
# eight client sockets: P(all on one of four workers) = 4^-7
busy=$(awk -F= '/^thread[0-9]+\.num\.queries=/ && $2 > 0' "$DP_TMP/stats.last" | wc -l)
assert_ge "$busy" 2 "worker threads that served the load"
assert_grep "$DP_TMP/scrape.last" '^dotpool_connections_opened_total\{.*\} [1-9]' \
	"connections opened in the last scrape"
# a clean stop: exit status 0, no sanitizer report
dp_unbound_stop dp
df_stop_all
dp_pass
