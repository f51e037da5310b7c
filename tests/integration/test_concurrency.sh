#!/usr/bin/env bash
# 100 queries at once for 100 different names (so none is a cache hit), sent
# to an Unbound with two worker threads: every one is answered correctly,
# and dotpool carries them over at most one TLS connection per worker
# (counted as TCP SYNs to the upstream's TLS port, and as logged).
. "$(dirname "$0")/lib.sh"
dp_require dig openssl python3 dumpcap tshark
threads=2
n=100

dp_upstream_start up
# this test counts the client's traffic from the first query on: no
# start-up probe (probe-interval: 0; test_ready_start covers the probes)
printf 'dotpool:\n\tprobe-interval: 0\n' >"$DP_TMP/noprobe.conf"
dp_unbound_start dp -t "$threads" -c "$DP_TMP/noprobe.conf" <<EOF2
$(dp_forward_tls "$DP_ZONE" up)
EOF2
tls_port=$(dp_get up tls_port)
before=$(dp_upstream_queries up)
dp_capture_start cap "tcp port $tls_port"

python3 "$(dirname "$0")/burst.py" "$(dp_get dp port)" "$n" \
	wild.dotpool.test 10 >"$DP_TMP/burst.out"
rc=$?
dp_capture_stop cap
answered=$(awk '$2 == 0 && $3 == "192.0.2.7"' "$DP_TMP/burst.out" | wc -l)
assert_eq "$n" "$answered" \
	"queries answered NOERROR 192.0.2.7 (others: $(awk '$2 != 0 || $3 != "192.0.2.7"' "$DP_TMP/burst.out" | head -n 5 | tr '\n' ';'))"
assert_eq 0 "$rc" "burst.py exit status"
assert_ge "$(dp_upstream_queries up)" $((before + n)) \
	"upstream queries after $n distinct names"

pcap=$(dp_get cap pcap)
syns=$(dp_pcap_count "$pcap" \
	"tcp.flags.syn == 1 && tcp.flags.ack == 0 && tcp.dstport == $tls_port")
assert_ge "$syns" 1 "TCP connections to the upstream's TLS port"
assert_le "$syns" "$threads" \
	"TCP connections to the upstream's TLS port (one per worker thread)"
dp_log "$answered answers, $syns TLS connection(s) to the upstream"

assert_dotpool_carried dp up
assert_le "$(dp_dotpool_connects dp up)" "$threads" \
	"'dotpool: connected' lines (one connection per worker thread)"
dp_pass
