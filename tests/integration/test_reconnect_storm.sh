#!/usr/bin/env bash
# A server that closes every connection right after its first answer
# (dotfault close-after:1, as load balancers and servers that close after N
# queries do) must not start a reconnect storm:
#  1. five queries, each answered (each on a fresh or rewarmed connection);
#  2. then 3 s without a query: the server sees at most 2 TLS handshakes in
#     that silence (one rewarm connection per close, and no learned idle
#     time of a few milliseconds that closes and reopens connections in a
#     loop);
#  3. the next query after the silence is still answered.
# A server that really closes idle connections (test_rewarm.sh) is still
# rewarmed through the window.
top=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top/tests/integration/lib.sh"
. "$top/tests/faultsrv/faultlib.sh"
dp_require dig python3 openssl

df_start up 192.0.2.1 --fault close-after:1

# the counts below are the client's: no start-up probe (probe-interval 0)
printf 'dotpool:\n\trewarm-window: 60000\n\tprobe-interval: 0\n' >"$DP_TMP/dp.conf"
dp_unbound_start dp -c "$DP_TMP/dp.conf" < <(df_forward "$DP_ZONE" up)
port=$(dp_get dp port)

# ---- 1. five queries ---------------------------------------------------------
for i in 1 2 3 4 5; do
	dp_query "$port" "s$i-$RANDOM$RANDOM.$DP_ZONE" A
	assert_eq NOERROR "$DP_RCODE" "query $i to a server that closes after each answer"
done
hs_q=$(df_stat up handshakes)
dp_log "after 5 queries: $hs_q handshakes at the server"

# ---- 2. silence ----------------------------------------------------------------
# let a close that races the last answer settle, then count
sleep 0.3
hs_start=$(df_stat up handshakes)
sleep 3
hs_end=$(df_stat up handshakes)
dp_log "3 s of silence: $((hs_end - hs_start)) handshakes at the server"
assert_le "$((hs_end - hs_start))" 2 \
	"handshakes at the server during 3 s without a query (no reconnect storm)"
assert_eq 5 "$(df_stat up queries)" "queries the server saw (reconnects carried none)"
assert_alive dp "Unbound after the silence"

# ---- 3. still served -------------------------------------------------------------
dp_query "$port" "after-$RANDOM$RANDOM.$DP_ZONE" A
assert_eq NOERROR "$DP_RCODE" "query after the silence"

dp_unbound_stop dp
df_stop_all
dp_pass
