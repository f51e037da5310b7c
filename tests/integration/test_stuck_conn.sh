#!/usr/bin/env bash
# A connection that went silent in the middle of an answer frame is dead:
# the server promised more bytes than it sent and then sends nothing more
# on it, so no later answer can ever be read there. When a query times out
# on a connection that has delivered nothing since that query was written,
# the connection must be closed, not kept for the next queries. One
# upstream (nowhere else to go), long-length for the first query only;
# after the fault is off, every query must be answered again, by the same
# upstream on a new connection, within a few seconds, and the stuck
# connection must not keep eating queries.
. "$(dirname "$0")/lib.sh"
. "$DP_TOP/tests/faultsrv/faultlib.sh"
dp_require python3 dig openssl

cat >"$DP_TMP/dotpool.conf" <<EOF
dotpool:
	attempt-timeout: 500
	query-timeout: 1200
	max-attempts: 2
	max-connections: 1
	probe-interval: 500
	hedge-delay: 0
EOF
df_start only 192.0.2.1 --zone "$DP_ZONE"
dp_unbound_start ub -c "$DP_TMP/dotpool.conf" <<EOF
$(df_forward "$DP_ZONE" only)
EOF
port=$(dp_get ub port)
# a first answer opens the connection
df_load "$port" warm --count 1 --qps 1 --allow 192.0.2.1 ||
	dp_fail "no answer before the fault"
df_ctl only set fault long-length >/dev/null
df_load "$port" stuck --count 1 --qps 1 --servfail-ok --max-ms 5000 || true
df_ctl only set fault none >/dev/null
# recovery: the upstream is healthy again; give the backoff and a probe time
sleep 2
df_load "$port" after --count 20 --qps 10 --allow 192.0.2.1 --max-ms 1500 ||
	dp_fail "queries after the fault ended were not all answered in time \
($(awk '{ c[$3]++ } END { for (k in c) printf "%s=%d ", k, c[k] }' "$DP_TMP/after.load"))"
assert_ge "$(df_stat only connections)" 2 \
	"connections to the upstream (the stuck one must have been replaced)"
assert_alive ub "Unbound"
df_stop_all
dp_unbound_stop ub
dp_pass
