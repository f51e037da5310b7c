#!/usr/bin/env bash
# Privacy of logs: with real traffic, good and failing, at verbosity 0, 1
# and 2 no log line holds a query name or the client's address. At
# verbosity 3 (Unbound's query level) they do appear, which shows the grep
# would catch a leak.
. "$(dirname "$0")/lib.sh"
dp_require dig openssl python3

dp_upstream_start up
# An upstream whose certificate is for another name: failures get logged.
dp_upstream_start bad -k wrongname
conf=$DP_TMP/dotpool.conf
printf 'dotpool:\n\tattempt-timeout: 400\n' >"$conf"
client=127.0.0.2
marker=secretname$RANDOM

run_at() {
	local v=$1 name=dp$1 i
	dp_unbound_start "$name" -v "$v" -c "$conf" <<EOF2
	access-control: 127.0.0.0/8 allow
forward-zone:
	name: "$DP_ZONE."
	forward-tls-upstream: yes
	forward-addr: 127.0.0.1@$(dp_get bad tls_port)#$DP_DOT_NAME
	forward-addr: 127.0.0.1@$(dp_get up tls_port)#$DP_DOT_NAME
forward-zone:
	name: "fail.test."
	forward-tls-upstream: yes
	forward-addr: 127.0.0.1@$(dp_get bad tls_port)#$DP_DOT_NAME
EOF2
	for i in 1 2 3 4 5; do
		dp_query "$(dp_get "$name" port)" "$marker-$i.wild.$DP_ZONE" A \
			-b "$client"
		assert_eq NOERROR "$DP_RCODE" "v$v: query $i answered by the good upstream"
		dp_query "$(dp_get "$name" port)" "$marker-$i.fail.test" A \
			-b "$client"
		assert_eq SERVFAIL "$DP_RCODE" "v$v: query $i to a zone whose only upstream fails"
	done
	dp_unbound_stop "$name"
	log=$(dp_get "$name" log)
}

for v in 0 1 2; do
	run_at "$v"
	assert_grep "$log" 'dotpool' "v$v: dotpool logged something"
	assert_no_grep "$log" "$marker" "v$v: a query name in the log"
	assert_no_grep "$log" "127\.0\.0\.2([^0-9]|$)" "v$v: the client address in the log"
done
# The failure is reported, naming the upstream and the reason.
assert_grep "$(dp_get dp1 log)" "127\.0\.0\.1@$(dp_get bad tls_port)#$DP_DOT_NAME.*(verify|hostname)" \
	"v1: certificate failure logged with the upstream and the reason"

run_at 3
assert_grep "$log" "$marker" "v3: query names are logged at query verbosity (the check works)"
dp_pass
