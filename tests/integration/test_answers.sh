#!/usr/bin/env bash
# Answers through dotpool equal those of Unbound's own forwarding: the same
# forward zone, the same upstream, one Unbound with the module and one
# without. A, AAAA, a 3-hop CNAME chain, NXDOMAIN and NODATA must agree in
# rcode, answer RRset and (for negative answers) the SOA in authority, and
# match the zone's data.
. "$(dirname "$0")/lib.sh"
dp_require dig openssl python3

dp_upstream_start up
dp_unbound_start dp <<EOF2
$(dp_forward_tls "$DP_ZONE" up)
EOF2
dp_unbound_start native -m iterator <<EOF2
$(dp_forward_tls "$DP_ZONE" up)
EOF2
dp_port=$(dp_get dp port)
native_port=$(dp_get native port)
soa='dotpool.test. SOA ns.dotpool.test. hostmaster.dotpool.test. 1 3600 600 86400 60'

# check QNAME QTYPE RCODE ANSWER AUTHORITY: both resolvers give RCODE and
# ANSWER (and AUTHORITY, when given), and give the same.
check() {
	local q=$1 t=$2 rcode=$3 answer=$4 authority=${5:-}
	dp_query "$dp_port" "$q" "$t"
	local r1=$DP_RCODE a1=$DP_ANSWER au1=$DP_AUTHORITY
	dp_query "$native_port" "$q" "$t"
	assert_eq "$rcode" "$r1" "rcode of $q/$t through dotpool"
	assert_eq "$DP_RCODE" "$r1" "rcode of $q/$t: dotpool vs native"
	assert_eq "$answer" "$a1" "answer of $q/$t through dotpool"
	assert_eq "$DP_ANSWER" "$a1" "answer of $q/$t: dotpool vs native"
	if [ -n "$authority" ]; then
		assert_eq "$authority" "$au1" "authority of $q/$t through dotpool"
		assert_eq "$DP_AUTHORITY" "$au1" \
			"authority of $q/$t: dotpool vs native"
	fi
	dp_log "ok $q/$t: $r1 $(printf '%s' "$a1" | tr '\n' '|')"
}

check www.dotpool.test A NOERROR 'www.dotpool.test. A 192.0.2.1'
check www.dotpool.test AAAA NOERROR 'www.dotpool.test. AAAA 2001:db8::1'
check c1.dotpool.test A NOERROR "c1.dotpool.test. CNAME c2.dotpool.test.
c2.dotpool.test. CNAME c3.dotpool.test.
c3.dotpool.test. CNAME www.dotpool.test.
www.dotpool.test. A 192.0.2.1"
check c2.dotpool.test AAAA NOERROR "c2.dotpool.test. CNAME c3.dotpool.test.
c3.dotpool.test. CNAME www.dotpool.test.
www.dotpool.test. AAAA 2001:db8::1"
check nx-$RANDOM.dotpool.test A NXDOMAIN '' "$soa"
check nodata.dotpool.test A NOERROR '' "$soa"
check Www.DotPool.Test A NOERROR 'www.dotpool.test. A 192.0.2.1'

assert_dotpool_carried dp up
# Privacy: at verbosity 2 the module's own lines name no query.
assert_no_grep "$(dp_get dp log)" \
	'dotpool:.*(www|c[123]|nodata|nx-[0-9]+)\.dotpool\.test' \
	"query names in dotpool's log lines below verbosity 3"
assert_no_grep "$(dp_get native log)" 'dotpool:' \
	"the native Unbound must not load the module"
assert_alive dp "dotpool Unbound after the queries"
dp_pass
