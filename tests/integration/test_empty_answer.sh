#!/usr/bin/env bash
# An empty NOERROR (no records at all, not even an SOA) from an upstream:
# dotpool does what the host Unbound's own iterator does on that version.
# From 1.19.0 on the iterator calls the first such answer a throwaway and
# asks another server, and believes the second one; 1.17 takes it as it
# comes. So with a primary that answers empty and a healthy secondary, the
# client gets the secondary's answer on 1.19+ and the empty answer on 1.17;
# with the empty server alone, the empty answer on every version (never a
# SERVFAIL: there is no other server to ask). An empty answer is not a
# failure of the upstream: it stays in service.
. "$(dirname "$0")/lib.sh"
. "$DP_TOP/tests/faultsrv/faultlib.sh"
dp_require python3 dig openssl

BAD=192.0.2.1
GOOD=192.0.2.2
# the queries counted are the client's: no start-up probe
cat >"$DP_TMP/dotpool.conf" <<EOF
dotpool:
	policy: ordered
	probe-interval: 0
EOF
df_start bad $BAD --fault empty
df_start good $GOOD

v=$("$DP_UNBOUND" -V | sed -n 's/^Version //p')
retry=0
[ "$(printf '%s\n' 1.19.0 "$v" | sort -V | head -n 1)" = 1.19.0 ] && retry=1
dp_log "Unbound $v: asks another upstream after an empty answer: $retry"

dp_unbound_start dp -c "$DP_TMP/dotpool.conf" <<EOF
$(df_forward "$DP_ZONE" bad good)
EOF
port=$(dp_get dp port)
for i in 1 2 3; do
	dp_query "$port" "e$i.$DP_ZONE" A
	assert_eq NOERROR "$DP_RCODE" "rcode for e$i with an empty primary"
	if [ "$retry" = 1 ]; then
		assert_eq "e$i.$DP_ZONE. A $GOOD" "$DP_ANSWER" \
			"answer for e$i: the secondary's, as Unbound $v's iterator"
	else
		assert_eq "" "$DP_ANSWER$DP_AUTHORITY" \
			"answer for e$i: the primary's empty one, as Unbound $v's iterator"
	fi
done
assert_eq 3 "$(df_stat bad queries)" "queries the empty primary received"
assert_eq $((retry * 3)) "$(df_stat good queries)" \
	"queries the secondary received"
# not a health failure: the primary is still asked first
assert_no_grep "$(dp_get dp log)" 'dotpool: .*-> (backoff|down)' \
	"an empty answer must not put the primary in backoff"
dp_unbound_stop dp

dp_unbound_start alone -c "$DP_TMP/dotpool.conf" <<EOF
$(df_forward "$DP_ZONE" bad)
EOF
df_ctl bad reset >/dev/null
dp_query "$(dp_get alone port)" "a1.$DP_ZONE" A
assert_eq NOERROR "$DP_RCODE" "rcode with the empty server alone"
assert_eq "" "$DP_ANSWER$DP_AUTHORITY" "the empty answer, with no other server"
assert_eq 1 "$(df_stat bad queries)" "queries the lone empty server received"
dp_unbound_stop alone

df_stop_all
dp_pass
