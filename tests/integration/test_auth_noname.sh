#!/usr/bin/env bash
# Strict means the certificate is checked against something: a forward-addr
# with neither a #name nor a pin-sha256 would accept any certificate the CA
# store trusts, for any name. Unbound refuses to start with a dotpool log
# line naming the zone and the forward-addr and saying what to add; nothing
# is sent upstream. The same zone starts with a #name, with a pin (and no
# name), or when its zone: section says profile: opportunistic (which does
# not claim to authenticate).
. "$(dirname "$0")/lib.sh"
dp_require dig openssl python3

dp_upstream_start up
bare=127.0.0.1@$(dp_get up tls_port)
zone=noname.$DP_ZONE
clause() {
	printf 'forward-zone:\n\tname: "%s."\n\tforward-addr: %s\n' "$zone" "$1"
	printf '\tforward-tls-upstream: yes\n'
}
: >"$DP_TMP/empty.conf"

# ---- refused: strict, no #name, no pin ----------------------------------------
dp_unbound_start bad -f -c "$DP_TMP/empty.conf" <<EOF2
$(dp_forward_tls "$DP_ZONE" up)
$(clause "$bare")
EOF2
assert_ne 0 "$(dp_get bad status)" "exit status of Unbound with a strict name-less, pin-less forward-addr"
cat "$(dp_get bad log)" "$(dp_get bad dir)/stderr" >"$DP_TMP/bad.log" 2>/dev/null
re_zone=${zone//./\\.}
re_addr=${bare//./\\.}
assert_grep "$DP_TMP/bad.log" \
	"dotpool: forward zone $re_zone\.: forward-addr $re_addr .*#name.*pin-sha256" \
	"a dotpool log line naming the zone, the forward-addr and what to add"
assert_eq 0 "$(dp_upstream_queries up)" "queries the upstream received"

# ---- accepted: a #name -----------------------------------------------------
dp_unbound_start named -c "$DP_TMP/empty.conf" <<EOF2
$(clause "$bare#$DP_DOT_NAME")
EOF2
dp_query "$(dp_get named port)" "www.$zone" A
assert_eq NXDOMAIN "$DP_RCODE" "www.$zone with a #name (answered by the upstream: not in its zone data)"
assert_dotpool_carried named up
dp_unbound_stop named

# ---- accepted: a pin and no name --------------------------------------------
pin=$(openssl x509 -in "$DP_PKI/good.pem" -pubkey -noout |
	openssl pkey -pubin -outform der | openssl dgst -sha256 -binary |
	base64) || dp_fail "cannot compute the SPKI pin of the test certificate"
printf 'upstream:\n\taddr: %s\n\tpin-sha256: "%s"\n' "$bare" "$pin" \
	>"$DP_TMP/pinned.conf"
dp_unbound_start pinned -c "$DP_TMP/pinned.conf" <<EOF2
$(clause "$bare")
EOF2
dp_query "$(dp_get pinned port)" "www.$zone" A
assert_eq NXDOMAIN "$DP_RCODE" "www.$zone with a pin and no name"
assert_dotpool_carried pinned up -
dp_unbound_stop pinned

# ---- accepted: the zone is opportunistic -------------------------------------
printf 'zone:\n\tname: "%s."\n\tprofile: opportunistic\n' "$zone" \
	>"$DP_TMP/opp.conf"
dp_unbound_start opp -c "$DP_TMP/opp.conf" <<EOF2
$(clause "$bare")
EOF2
assert_alive opp "Unbound with a name-less forward-addr in an opportunistic zone"
dp_unbound_stop opp
dp_pass
