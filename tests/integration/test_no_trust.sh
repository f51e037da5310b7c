#!/usr/bin/env bash
# Strict by default: a TLS forward zone with nothing to authenticate the
# upstream with (no tls-cert-bundle, no tls-system-cert, no pins in the
# dotpool settings) must stop Unbound from starting, with a dotpool log
# line that says why; nothing is sent to the upstream. A CA bundle, or a
# pin alone, lets it start.
. "$(dirname "$0")/lib.sh"
dp_require openssl python3

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
	'dotpool:.*(tls-cert-bundle|tls-system-cert|authenticat)' \
	"a dotpool log line naming the missing trust configuration"
assert_eq 0 "$(dp_upstream_queries up)" "queries the upstream received"

# Controls: it is the missing trust that stops it. With the CA bundle it
# starts; without one, but with the upstream's SPKI pin (and no #name, so
# the pin is the whole authentication) it starts and resolves.
dp_unbound_start ca -c "$DP_TMP/dotpool.conf" <<EOF2
$(dp_forward_tls "$DP_ZONE" up)
EOF2
assert_alive ca "Unbound with a tls-cert-bundle"
pin=$(openssl x509 -in "$DP_PKI/good.pem" -pubkey -noout |
	openssl pkey -pubin -outform der | openssl dgst -sha256 -binary |
	base64) || dp_fail "cannot compute the SPKI pin of the test certificate"
cat >"$DP_TMP/pinned.conf" <<EOF2
upstream:
	addr: 127.0.0.1@$(dp_get up tls_port)
	pin-sha256: "$pin"
EOF2
dp_unbound_start pinned -N -c "$DP_TMP/pinned.conf" <<EOF2
$(dp_forward_tls "$DP_ZONE" up -)
EOF2
dp_query "$(dp_get pinned port)" www.dotpool.test A
assert_eq NOERROR "$DP_RCODE" "www/A with a pin and no CA bundle"
assert_eq 'www.dotpool.test. A 192.0.2.1' "$DP_ANSWER" "www/A answer (pinned)"
assert_dotpool_carried pinned up -
dp_pass
