#!/usr/bin/env bash
# `unbound-control forward_add` replaces a TLS forward zone's forward-addrs
# while Unbound runs (on every version, without a reload): dotpool keeps
# each worker's resolved upstreams of a zone, and must notice at the next
# query that the zone now points elsewhere, and again when it points back.
# Each upstream serves its own TXT for *.w.dotpool.test, so a stale
# upstream shows in the answer.
. "$(dirname "$0")/lib.sh"

# zone TAG FILE: dotpool.test whose wildcard *.w has TXT "TAG"
zone() {
	cat >"$2" <<EOZ
\$ORIGIN $DP_ZONE.
\$TTL 300
@	SOA	ns.$DP_ZONE. hostmaster.$DP_ZONE. 1 3600 600 86400 60
@	NS	ns
ns	A	127.0.0.1
*.w	TXT	"$1"
EOZ
}
zone up1 "$DP_TMP/z1"
zone up2 "$DP_TMP/z2"
dp_upstream_start up1 -z "$DP_ZONE=$DP_TMP/z1"
dp_upstream_start up2 -z "$DP_ZONE=$DP_TMP/z2"
# forward_add makes zones without forward-tls-upstream (1.17.1 has no flag
# for it): the global tls-upstream makes them TLS zones, which dotpool
# serves. -R: no guard zone, which would be a strict zone without #name.
dp_unbound_start dp -R <<EOF
	tls-upstream: yes
$(dp_forward_tls "$DP_ZONE" up1)
EOF
port=$(dp_get dp port)

# expect TAG WHAT: a fresh (never cached) name is answered by TAG
expect() {
	local got=
	dp_query "$port" "r$RANDOM$RANDOM.w.$DP_ZONE" TXT
	[ "$DP_RCODE" = NOERROR ] &&
		got=$(sed -n 's/.* TXT "\(.*\)"$/\1/p' <<<"$DP_ANSWER")
	[ "$got" = "$1" ] ||
		dp_fail "$2: answered '${got:-$DP_RCODE}', expected '$1'"
}
# to UPSTREAM: forward_add the zone to UPSTREAM's TLS port
to() {
	local out
	out=$(dp_control dp forward_add "$DP_ZONE" \
		"127.0.0.1@$(dp_get "$1" tls_port)#$DP_DOT_NAME" 2>&1) ||
		dp_fail "forward_add to $1 failed: $out"
	assert_eq ok "$out" "forward_add to $1"
}

expect up1 "at start"
expect up1 "again, from the same upstreams"
to up2
expect up2 "after forward_add to up2"
assert_dotpool_carried dp up2
to up1
expect up1 "after forward_add back to up1"
for i in 1 2 3; do
	to up2
	expect up2 "round $i: forward_add to up2"
	to up1
	expect up1 "round $i: forward_add to up1"
done
assert_alive dp "Unbound after the forward_adds"
dp_pass
