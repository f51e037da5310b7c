#!/usr/bin/env bash
# What crosses the wire to a DoT upstream: while queries flow
# through dotpool, a capture of the upstream's port holds only TLS records
# (tshark decodes every TCP payload as TLS; content types handshake,
# application data, alert, and the change_cipher_spec TLS 1.3 sends for
# middlebox compatibility) and none of the query names in wire format. Both
# checks are shown to bite on the client's plain DNS leg (names present,
# payload not TLS). Then query padding (RFC 8467, Unbound's pad-queries, on
# by default): the DoT server sees every query's length as a multiple of
# 128; with pad-queries: no it does not.
. "$(dirname "$0")/lib.sh"
. "$DP_TOP/tests/faultsrv/faultlib.sh"
dp_require dig openssl python3 dumpcap tshark

# tls_only PCAP PORT: print what in PCAP's TCP payloads on PORT is not a TLS
# record of an expected content type, outer type for TLS 1.3 (one line per
# offending packet: "frame [content types]"); nothing when all is TLS. Fails the test if the
# capture holds no payload at all (the check would prove nothing).
tls_only() {
	local out
	out=$(tshark -n -r "$1" -d "tcp.port==$2,tls" -Y "tcp.len > 0" \
		-T fields -e frame.number -e tls.record.content_type \
		-e tls.record.opaque_type 2>/dev/null) ||
		dp_fail "tshark could not read $1"
	[ -n "$out" ] || dp_fail "no TCP payload on port $2 in the capture"
	# TLS 1.3 records after the hello carry their type as opaque_type
	awk -F '\t' '
		{ ty = $2 "," $3; gsub(/^,+|,+$/, "", ty)
		  n = split(ty, t, ","); bad = (n == 0)
		  for (i = 1; i <= n; i++) if (t[i] !~ /^(20|21|22|23)$/) bad = 1
		  if (bad) print $1 " [" ty "]" }' <<<"$out"
}

# df_hist NAME: the server's histogram of query lengths mod 128, as
# "rest:count" words sorted by rest.
df_hist() {
	df_ctl "$1" stats | python3 -c '
import json, sys
h = json.load(sys.stdin)["query_len_mod128"]
print(" ".join("%s:%d" % (k, h[k]) for k in sorted(h, key=int)))'
}

df_start up 192.0.2.1
tls_port=$(dp_get up tls_port)
fwd="forward-zone:
	name: \"$DP_ZONE.\"
	forward-addr: $(df_addr up)
	forward-tls-upstream: yes"
# this test counts the client's traffic from the first query on: no
# start-up probe (probe-interval: 0; test_ready_start covers the probes)
printf 'dotpool:\n\tprobe-interval: 0\n' >"$DP_TMP/noprobe.conf"
dp_unbound_start dp -c "$DP_TMP/noprobe.conf" <<EOF
$fwd
EOF
port=$(dp_get dp port)

# ---- 1. only TLS on the upstream's port; no names in clear -----------------
# Names of several lengths (so padding has something to do below); the
# client leg is TCP so that the TLS check can be tried on it too.
names=
for i in 1 22 333 4444 55555; do
	names="$names w$i-$RANDOM$RANDOM.$DP_ZONE"
done
dp_capture_start wire "tcp port $tls_port"
dp_capture_start client "tcp port $port"
n=0
for q in $names; do
	for t in A AAAA; do
		dp_query "$port" "$q" "$t" +tcp
		assert_eq NOERROR "$DP_RCODE" "rcode for $q $t through dotpool"
		[ "$t" = A ] && assert_eq "${q,,}. A 192.0.2.1" "$DP_ANSWER" \
			"answer for $q A (from the DoT upstream)"
		n=$((n + 1))
	done
done
dp_capture_stop wire
dp_capture_stop client
assert_dotpool_carried dp up
assert_ge "$(df_stat up queries)" "$n" "queries the DoT server received"

wire=$(dp_get wire pcap)
client=$(dp_get client pcap)
for q in $names; do
	dp_pcap_has_name "$wire" "$q" &&
		dp_fail "query name $q found in clear on the upstream's port (expected only ciphertext)"
	dp_pcap_has_name "$client" "$q" ||
		dp_fail "query name $q not found on the client's plain DNS leg: the name check is blind"
done
bad=$(tls_only "$wire" "$tls_port")
assert_eq "" "$bad" "TCP payloads on the upstream's port that are not TLS records (frame [content types])"
for ct in 22 23; do
	assert_ge "$(dp_pcap_count "$wire" "tls.record.content_type == $ct \
		|| tls.record.opaque_type == $ct" "$tls_port")" 1 "TLS records of content type $ct on the upstream's port"
done
assert_eq 0 "$(tshark -n -r "$wire" -Y dns 2>/dev/null | wc -l)" \
	"packets tshark decodes as DNS on the upstream's port"
# the same TLS check on plain DNS over TCP must complain
bad=$(tls_only "$client" "$port")
assert_ne "" "$bad" "non-TLS payloads found by the TLS check on the client's plain DNS leg"

# ---- 2. padding ------------------------------------------------------------
hist=$(df_hist up)
dp_log "query lengths mod 128 (rest:count): $hist"
assert_match "^0:[0-9]+$" "$hist" \
	"query lengths mod 128 seen by the DoT server (pad-queries: yes, the default)"
assert_ge "${hist#0:}" "$n" "padded queries counted by the DoT server"

# Without padding, the same names give lengths that are not all multiples.
df_ctl up reset >/dev/null
dp_unbound_start nopad -c "$DP_TMP/noprobe.conf" <<EOF
	pad-queries: no
$fwd
EOF
for q in $names; do
	dp_query "$(dp_get nopad port)" "$q" A
	assert_eq NOERROR "$DP_RCODE" "rcode for $q A with pad-queries: no"
done
assert_dotpool_carried nopad up
hist=$(df_hist up)
dp_log "query lengths mod 128 (rest:count): $hist"
assert_match "(^| )[1-9][0-9]*:" "$hist" \
	"query lengths mod 128 with pad-queries: no (some not a multiple of 128)"

df_stop_all
dp_pass
