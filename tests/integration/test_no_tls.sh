#!/usr/bin/env bash
# dotpool leaves plain forward zones to Unbound: with the module loaded, a
# forward zone without forward-tls-upstream to a plain DNS upstream still
# resolves (Unbound's iterator forwards it), and the module opens no TLS
# connection for it.
. "$(dirname "$0")/lib.sh"
dp_require dig openssl python3

dp_upstream_start up
dp_unbound_start dp <<EOF2
$(dp_forward_plain "$DP_ZONE" up)
EOF2
port=$(dp_get dp port)

dp_query "$port" www.dotpool.test A
assert_eq NOERROR "$DP_RCODE" "www/A through a plain forward zone"
assert_eq 'www.dotpool.test. A 192.0.2.1' "$DP_ANSWER" "www/A answer"
dp_query "$port" c1.dotpool.test AAAA
assert_eq NOERROR "$DP_RCODE" "c1/AAAA (CNAME chain) through a plain zone"
assert_match 'www\.dotpool\.test\. AAAA 2001:db8::1' "$DP_ANSWER" \
	"c1/AAAA answer"
dp_query "$port" "nx-$RANDOM.dotpool.test" A
assert_eq NXDOMAIN "$DP_RCODE" "NXDOMAIN through a plain forward zone"
assert_ge "$(dp_upstream_queries up)" 3 "queries the plain upstream received"

assert_dotpool_loaded dp
assert_no_grep "$(dp_get dp log)" 'dotpool: connected to' \
	"dotpool must not open TLS connections for a plain forward zone"
assert_no_grep "$(dp_get dp log)" '(error|fatal|assertion)' \
	"errors in the log of the Unbound under test"
dp_pass
