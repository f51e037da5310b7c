#!/usr/bin/env bash
# The harness itself (lib.sh), so the other tests can trust it: the test
# certificates verify (or fail) as their names say, the upstream serves the
# zone over plain DNS and over TLS with the good certificate, its query
# counter counts exactly, ports are distinct, the wire-format name helper
# is right. No dotpool here.
. "$(dirname "$0")/lib.sh"
dp_require dig kdig openssl python3

dp_pki
# verify CERT: openssl's verdict on $DP_PKI/CERT.pem for dot.dotpool.test
verify() {
	openssl verify -CAfile "$DP_CA" -verify_hostname "$DP_DOT_NAME" \
		"$DP_PKI/$1.pem" 2>&1
}
assert_match ': OK$' "$(verify good)" "the good certificate"
assert_match 'hostname mismatch' "$(verify wrongname)" "the wrong-name certificate"
assert_match 'certificate has expired' "$(verify expired)" "the expired certificate"
assert_match 'self.signed' "$(verify selfsigned)" "the self-signed certificate"
assert_match 'Not After : Feb  1 00:00:00 2020' \
	"$(openssl x509 -in "$DP_PKI/expired.pem" -noout -text)" \
	"the expired certificate's end date"

p1=$(dp_free_port); p2=$(dp_free_port); p3=$(dp_free_port)
assert_ne "$p1" "$p2" "two free ports"
assert_ne "$p2" "$p3" "two free ports"
assert_ne "$p1" "$p3" "two free ports"
assert_eq 0377777707646f74706f6f6c047465737400 \
	"$(dp_wire_name www.DotPool.test.)" "wire format of www.dotpool.test"

dp_upstream_start up
port=$(dp_get up port)
tls_port=$(dp_get up tls_port)
assert_eq 0 "$(dp_upstream_queries up)" "upstream queries at start"

dp_query "$port" c1.dotpool.test A
assert_eq NOERROR "$DP_RCODE" "c1/A over plain DNS"
assert_eq "c1.dotpool.test. CNAME c2.dotpool.test.
c2.dotpool.test. CNAME c3.dotpool.test.
c3.dotpool.test. CNAME www.dotpool.test.
www.dotpool.test. A 192.0.2.1" "$DP_ANSWER" "the whole chain from the auth-zone"
assert_match '(^| )aa( |$)' "$DP_FLAGS" "flags of an authoritative answer"
dp_query "$port" "nx-$RANDOM.dotpool.test" A
assert_eq NXDOMAIN "$DP_RCODE" "a name not in the zone"
assert_match '^dotpool\.test\. SOA ' "$DP_AUTHORITY" "SOA with NXDOMAIN"
dp_query "$port" www.example.com A
assert_eq REFUSED "$DP_RCODE" "a name outside the test zones (never recursed)"
assert_eq 3 "$(dp_upstream_queries up)" "upstream queries after 3 plain ones"

out=$(kdig @127.0.0.1 -p "$tls_port" +tls-ca="$DP_CA" \
	+tls-hostname="$DP_DOT_NAME" +time=3 +retry=0 +short www.dotpool.test A 2>&1)
assert_eq 192.0.2.1 "$out" "www/A over TLS, certificate checked"
out=$(kdig @127.0.0.1 -p "$tls_port" +tls-ca="$DP_CA" \
	+tls-hostname=wrong.name.test +time=3 +retry=0 +short www.dotpool.test A 2>&1)
assert_ne 192.0.2.1 "$out" "www/A over TLS when the client expects another name"
assert_eq 4 "$(dp_upstream_queries up)" \
	"upstream queries after one TLS query (the failed handshake sent none)"

dp_unbound_stop up
dp_alive up && dp_fail "the upstream should be gone after dp_unbound_stop"
dp_pass
