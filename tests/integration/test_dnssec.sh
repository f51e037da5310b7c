#!/usr/bin/env bash
# DNSSEC validation still works through dotpool: the upstream serves a zone
# signed at test time; with its DS as trust anchor answers are validated (AD
# set, also for NXDOMAIN, whose NSEC proof the validator fetched through the
# module along with the DNSKEYs); with a trust anchor for a key the zone
# does not have, answers are bogus and the client gets SERVFAIL.
. "$(dirname "$0")/lib.sh"
dp_require dig openssl python3 dnssec-keygen dnssec-signzone \
	dnssec-dsfromkey

mkdir -p "$DP_TMP/zone"
zone=$DP_TMP/zone/dotpool.test.zone
dp_zone_write "$zone"
dp_zone_sign "$zone" "$DP_ZONE"
good_ds=$(cat "$zone.ds")
# A DS for a key that signs nothing in the zone.
stray=$(dnssec-keygen -q -K "$DP_TMP/zone" -a ECDSAP256SHA256 -f KSK \
	"$DP_ZONE") || dp_fail "dnssec-keygen for the stray key failed"
bad_ds=$(dnssec-dsfromkey -2 "$DP_TMP/zone/$stray.key") ||
	dp_fail "dnssec-dsfromkey for the stray key failed"
assert_ne "$good_ds" "$bad_ds" "the bogus trust anchor"

dp_upstream_start up -z "$DP_ZONE=$zone.signed"
dp_unbound_start good <<EOF2
	trust-anchor: "$good_ds"
$(dp_forward_tls "$DP_ZONE" up)
EOF2
dp_unbound_start bogus <<EOF2
	trust-anchor: "$bad_ds"
$(dp_forward_tls "$DP_ZONE" up)
EOF2

port=$(dp_get good port)
dp_query "$port" www.dotpool.test A +dnssec
assert_eq NOERROR "$DP_RCODE" "signed www/A with the right anchor"
assert_match '(^| )ad( |$)' "$DP_FLAGS" "flags of the validated www/A (AD)"
assert_match 'www\.dotpool\.test\. A 192\.0\.2\.1' "$DP_ANSWER" \
	"validated www/A answer"
assert_match 'www\.dotpool\.test\. RRSIG A ' "$DP_ANSWER" \
	"RRSIG in the validated www/A answer (asked with DO)"
dp_query "$port" c1.dotpool.test AAAA
assert_eq NOERROR "$DP_RCODE" "signed CNAME chain c1/AAAA"
assert_match '(^| )ad( |$)' "$DP_FLAGS" "flags of the validated chain (AD)"
assert_match 'www\.dotpool\.test\. AAAA 2001:db8::1' "$DP_ANSWER" \
	"validated chain answer"
dp_query "$port" "nx-$RANDOM.dotpool.test" A
assert_eq NXDOMAIN "$DP_RCODE" "signed NXDOMAIN"
assert_match '(^| )ad( |$)' "$DP_FLAGS" "flags of the validated NXDOMAIN (AD)"

port=$(dp_get bogus port)
dp_query "$port" www.dotpool.test A
assert_eq SERVFAIL "$DP_RCODE" "www/A with a trust anchor the zone fails"
assert_eq "" "$DP_ANSWER" "answer with the bogus trust anchor"
# With checking disabled the data is still there: the failure was the
# validator's verdict, not the transport.
dp_query "$port" www.dotpool.test A +cdflag
assert_eq NOERROR "$DP_RCODE" "www/A with CD set, bogus anchor"
assert_eq 'www.dotpool.test. A 192.0.2.1' "$DP_ANSWER" "www/A with CD set"

assert_dotpool_carried good up
assert_dotpool_carried bogus up
dp_pass
