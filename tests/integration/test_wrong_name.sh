#!/usr/bin/env bash
# Strict authentication: the forward-addr names wrong.name.test but the
# upstream's certificate is for dot.dotpool.test. The client gets SERVFAIL,
# the upstream receives no query, and a capture of all loopback traffic
# (except the client's own plain DNS leg to the Unbound under test) holds
# no copy of the query name and no encrypted record from the client side
# (after a failed verification the client sends at most a plaintext alert).
. "$(dirname "$0")/lib.sh"
dp_require dig openssl python3 dumpcap tshark

dp_upstream_start up
dp_unbound_start dp <<EOF2
$(dp_forward_tls "$DP_ZONE" up wrong.name.test)
EOF2
port=$(dp_get dp port)
tls_port=$(dp_get up tls_port)
qname=leak-$RANDOM$RANDOM.dotpool.test

dp_capture_start cap "not port $port"
dp_query "$port" "$qname" A
rcode=$DP_RCODE
dp_capture_stop cap
pcap=$(dp_get cap pcap)
assert_eq SERVFAIL "$rcode" "query to a zone whose upstream fails authentication"
assert_eq 0 "$(dp_upstream_queries up)" "queries the upstream received"

# The capture saw the connection attempts: it works.
attempts=$(dp_pcap_count "$pcap" \
	"tcp.flags.syn == 1 && tcp.flags.ack == 0 && tcp.dstport == $tls_port")
assert_ge "$attempts" 1 "TLS connection attempts captured"
dp_pcap_has_name "$pcap" "$qname" &&
	dp_fail "the query name $qname was found in plaintext on loopback (expected none outside the client leg)"
appdata=$(dp_pcap_count "$pcap" \
	"tcp.dstport == $tls_port && tls.record.content_type == 23" "$tls_port")
assert_eq 0 "$appdata" \
	"encrypted TLS records (content type 23) sent to the upstream"
hellos=$(dp_pcap_count "$pcap" \
	"tcp.dstport == $tls_port && tls.handshake.type == 1" "$tls_port")
assert_ge "$hellos" 1 "TLS ClientHellos decoded (the TLS filter works)"

# The negative check is not blind: the name is on the client leg.
dp_capture_start cap2 "udp port $port"
dp_query "$port" "$qname" A
dp_capture_stop cap2
dp_pcap_has_name "$(dp_get cap2 pcap)" "$qname" ||
	dp_fail "the query name should be visible on the client's plain DNS leg"

assert_dotpool_loaded dp
assert_no_grep "$(dp_get dp log)" "dotpool:.*$qname" \
	"the query name in dotpool's log lines below verbosity 3"
assert_grep "$(dp_get dp log)" "dotpool.*127\.0\.0\.1@$tls_port#wrong\.name\.test" \
	"a dotpool log line naming the upstream that failed authentication"
dp_pass
