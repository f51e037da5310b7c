#!/usr/bin/env bash
# The rewarm window with a real server that closes idle connections after
# half a second:
#  1. rewarm-window: 2500 - after the only query, dotpool keeps a
#     connection ready through the quiet spell (the server sees handshakes,
#     all resumed, but no further query), and once the window has passed it
#     stops: the handshake count no longer moves;
#  2. the next query after the window gets an answer (on a new connection);
#  3. rewarm-window: 0 - the server's idle close is not answered with a
#     reconnect: one handshake for one query.
top=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top/tests/integration/lib.sh"
. "$top/tests/faultsrv/faultlib.sh"
dp_require dig python3 openssl

df_start up 192.0.2.1 --idle 0.5

# start NAME WINDOW_MS: an Unbound forwarding the test zone to the server.
start() {
	# the counts below are the client's: no start-up probe
	printf 'dotpool:\n\trewarm-window: %s\n\tprobe-interval: 0\n' "$2" \
		>"$DP_TMP/$1.conf"
	dp_unbound_start "$1" -c "$DP_TMP/$1.conf" < <(df_forward "$DP_ZONE" up)
}

# ---- 1. kept warm during the window, then let go ----------------------------
start warm 2500
port=$(dp_get warm port)
dp_query "$port" "w1-$RANDOM.$DP_ZONE" A
assert_eq NOERROR "$DP_RCODE" "first query"
sleep 1.8
# one reading of the server's counters: reconnects go on meanwhile
read -r hs_mid res_mid queries < <(df_ctl up stats | python3 -c \
	'import json,sys; s=json.load(sys.stdin); print(s["handshakes"], s["resumed"], s["queries"])')
dp_log "1.8 s after the query: $hs_mid handshakes, $res_mid resumed"
assert_ge "$hs_mid" 3 "handshakes 1.8 s after one query (idle closes every 0.5 s were replaced)"
assert_eq 1 "$queries" "queries the server saw (the reconnects carried none)"
assert_ge "$res_mid" "$((hs_mid - 2))" "resumed reconnects (all but one that may be mid-handshake)"
sleep 2.2
hs_end=$(df_stat up handshakes)
sleep 1.5
assert_eq "$hs_end" "$(df_stat up handshakes)" \
	"handshakes once the window has passed (no more reconnects)"

# ---- 2. the next query still gets through ------------------------------------
dp_query "$port" "w2-$RANDOM.$DP_ZONE" A
assert_eq NOERROR "$DP_RCODE" "query after the window"
assert_alive warm "Unbound with the rewarm window"
dp_unbound_stop warm

# ---- 3. rewarm-window: 0 -------------------------------------------------------
sleep 0.7
df_ctl up reset >/dev/null
start cold 0
dp_query "$(dp_get cold port)" "c1-$RANDOM.$DP_ZONE" A
assert_eq NOERROR "$DP_RCODE" "query with rewarm-window: 0"
sleep 1.5
assert_eq 1 "$(df_stat up handshakes)" "handshakes with rewarm-window: 0 (no reconnect after the idle close)"
dp_unbound_stop cold
df_stop_all
dp_pass
