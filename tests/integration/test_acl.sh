#!/usr/bin/env bash
# Unbound's access control still applies in front of dotpool: a client
# refused by access-control gets REFUSED and nothing goes upstream, while
# an allowed client is served through dotpool.
. "$(dirname "$0")/lib.sh"
dp_require dig openssl python3

dp_upstream_start up
dp_unbound_start dp <<EOF2
	access-control: 127.0.0.2/32 refuse
$(dp_forward_tls "$DP_ZONE" up)
EOF2
port=$(dp_get dp port)
before=$(dp_upstream_queries up)

dp_query "$port" "acl-$RANDOM.wild.dotpool.test" A -b 127.0.0.2
assert_eq REFUSED "$DP_RCODE" "query from refused client 127.0.0.2"
assert_eq "" "$DP_ANSWER" "answer to the refused client"
assert_eq "$before" "$(dp_upstream_queries up)" \
	"upstream queries after a refused query"

dp_query "$port" www.dotpool.test A -b 127.0.0.1
assert_eq NOERROR "$DP_RCODE" "query from allowed client 127.0.0.1"
assert_eq 'www.dotpool.test. A 192.0.2.1' "$DP_ANSWER" "allowed client answer"
after=$(dp_upstream_queries up)
assert_ge "$after" $((before + 1)) "upstream queries after an allowed query"

# Refused even for a name now in the cache, and still nothing sent.
dp_query "$port" www.dotpool.test A -b 127.0.0.2
assert_eq REFUSED "$DP_RCODE" "cached name asked by the refused client"
dp_query "$port" "acl2-$RANDOM.wild.dotpool.test" A -b 127.0.0.2
assert_eq REFUSED "$DP_RCODE" "new name asked by the refused client"
assert_eq "$after" "$(dp_upstream_queries up)" \
	"upstream queries after more refused queries"

assert_dotpool_carried dp up
dp_pass
