#!/usr/bin/env bash
# Strict by default: a TLS forward zone with nothing to authenticate the
# upstream with (no tls-cert-bundle, no tls-system-cert, no pins in the
# dotpool settings) must stop Unbound from starting, with a dotpool log
# line that says why; nothing is sent to the upstream.
. "$(dirname "$0")/lib.sh"
dp_require openssl python3 "$DP_UNBOUND" "$DP_STOCK_UNBOUND"

dp_upstream_start up
# An empty settings file: defaults, no pins; and no system default file.
: >"$DP_TMP/dotpool.conf"
dp_unbound_start dp -N -f -c "$DP_TMP/dotpool.conf" <<EOF2
$(dp_forward_tls "$DP_ZONE" up)
EOF2
rc=$(dp_get dp status)
assert_ne 0 "$rc" "exit status of Unbound started with an unauthenticated TLS zone"
cat "$(dp_get dp log)" "$(dp_get dp dir)/stderr" >"$DP_TMP/all.log" 2>/dev/null
assert_grep "$DP_TMP/all.log" \
	'dotpool.*(tls-cert-bundle|tls-system-cert|trust|authenticat|pin)' \
	"a dotpool log line naming the missing trust configuration"
assert_eq 0 "$(dp_upstream_queries up)" "queries the upstream received"

# Control: the same configuration with the CA bundle starts.
dp_unbound_start ok -c "$DP_TMP/dotpool.conf" <<EOF2
$(dp_forward_tls "$DP_ZONE" up)
EOF2
assert_alive ok "Unbound with a tls-cert-bundle"
dp_pass
