#!/usr/bin/env bash
# Unbound's forward-zone options keep their meaning for zones dotpool
# serves: a DS query is answered from the parent's forward zone as with
# native forwarding; forward-no-cache sends every repeat upstream;
# prefetch refreshes a record near its expiry through dotpool; and with
# forward-first a query dotpool cannot get answered goes on to Unbound's
# iterator (here: dotpool refuses the upstream for a pin mismatch, the
# iterator's own TLS forwarding, which has no pins, answers), while without
# forward-first the client gets SERVFAIL. The fall-back is a downgrade
# (Unbound's TLS has no pins, then clear-text recursion): dotpool logs it
# once per outage, naming the zone and no query.
. "$(dirname "$0")/lib.sh"
dp_require dig openssl python3

zone=$DP_TMP/zone
dp_zone_write "$zone"
cat >>"$zone" <<'EOF2'
short	10	A	192.0.2.5
sub	NS	ns.sub
ns.sub	A	127.0.0.1
sub	DS	12345 13 2 3B1E5F0A6E4DB0E0B2C3AA2C6A8E1C8F6A76A8A0E52D8E17F4A3B5D2C4E9A1F0
EOF2
dp_upstream_start up -z "$DP_ZONE=$zone"
up_addr=127.0.0.1@$(dp_get up tls_port)#$DP_DOT_NAME

# ---- DS: looked up in the parent's zone, equal to native forwarding -------
dp_unbound_start dp -m "dynlib iterator" <<EOF2
$(dp_forward_tls "$DP_ZONE" up)
EOF2
dp_unbound_start native -m "iterator" <<EOF2
$(dp_forward_tls "$DP_ZONE" up)
EOF2
dp_query "$(dp_get dp port)" "sub.$DP_ZONE" DS
ds_rcode=$DP_RCODE ds_answer=$DP_ANSWER
dp_query "$(dp_get native port)" "sub.$DP_ZONE" DS
assert_eq NOERROR "$ds_rcode" "DS through dotpool"
assert_match "DS 12345 13 2" "$ds_answer" "DS record through dotpool"
assert_eq "$DP_ANSWER" "$ds_answer" "DS answer equal to native forwarding"
assert_dotpool_carried dp up
dp_unbound_stop native

# ---- forward-no-cache: every repeat goes upstream ------------------------
dp_unbound_start nc -m "dynlib iterator" <<EOF2
$(dp_forward_tls "$DP_ZONE" up)
	forward-no-cache: yes
EOF2
before=$(dp_upstream_queries up)
for i in 1 2 3; do
	dp_query "$(dp_get nc port)" "www.$DP_ZONE" A
	assert_eq 'www.dotpool.test. A 192.0.2.1' "$DP_ANSWER" "no-cache query $i"
done
assert_eq $((before + 3)) "$(dp_upstream_queries up)" \
	"forward-no-cache: three repeats, three upstream queries"
dp_unbound_stop nc

# ---- prefetch: a record near expiry is refreshed through dotpool ---------
dp_unbound_start pf -m "dynlib iterator" <<EOF2
	prefetch: yes
$(dp_forward_tls "$DP_ZONE" up)
EOF2
pport=$(dp_get pf port)
dp_query "$pport" "short.$DP_ZONE" A
assert_eq 'short.dotpool.test. A 192.0.2.5' "$DP_ANSWER" "short-TTL record"
before=$(dp_upstream_queries up)
sleep 9.3 # inside the last 10 % of the 10 s TTL: served, and prefetched
dp_query "$pport" "short.$DP_ZONE" A
assert_eq 'short.dotpool.test. A 192.0.2.5' "$DP_ANSWER" "near expiry"
sleep 0.5
assert_eq $((before + 1)) "$(dp_upstream_queries up)" \
	"prefetch sent one query upstream"
sleep 1.5 # the original entry has expired; the prefetched one answers
mid=$(dp_upstream_queries up)
dp_query "$pport" "short.$DP_ZONE" A
assert_eq 'short.dotpool.test. A 192.0.2.5' "$DP_ANSWER" "after expiry"
assert_eq "$mid" "$(dp_upstream_queries up)" \
	"after expiry the prefetched entry answered from cache"
dp_unbound_stop pf

# ---- forward-first: what dotpool cannot answer goes to the iterator ------
badpin=$(head -c 32 /dev/urandom | base64)
conf=$DP_TMP/pin.conf
printf 'dotpool:\n\tattempt-timeout: 400\nupstream:\n\taddr: "%s"\n\tpin-sha256: "%s"\n' \
	"$up_addr" "$badpin" >"$conf"
for first in no yes; do
	dp_unbound_start "ff$first" -m "dynlib iterator" -c "$conf" <<EOF2
$(dp_forward_tls "$DP_ZONE" up)
	forward-first: $first
EOF2
	dp_query "$(dp_get "ff$first" port)" "www.$DP_ZONE" A
	if [ "$first" = yes ]; then
		assert_eq NOERROR "$DP_RCODE" "forward-first: the iterator answers"
		assert_eq 'www.dotpool.test. A 192.0.2.1' "$DP_ANSWER" \
			"forward-first answer"
	else
		assert_eq SERVFAIL "$DP_RCODE" \
			"without forward-first a pin mismatch is SERVFAIL"
	fi
	# more failing queries in the same outage
	for i in 1 2 3 4; do
		dp_query "$(dp_get "ff$first" port)" "ff$i.wild.$DP_ZONE" A
	done
	fflog=$(dp_get "ff$first" log)
	assert_grep "$fflog" "pin" \
		"forward-first $first: the pin mismatch is logged"
	# the downgrade to Unbound's own forwarding is logged, once per
	# outage, naming the zone and no query
	fell=$(grep -cE "dotpool: forward zone $DP_ZONE\.: .*forward-first" \
		"$fflog")
	if [ "$first" = yes ]; then
		assert_eq 1 "$fell" \
			"forward-first: lines logging the fall-back to Unbound's iterator, for 5 failing queries"
		assert_no_grep "$fflog" \
			"dotpool: forward zone .*(www|ff[0-9])\.(wild\.)?$DP_ZONE" \
			"the fall-back line names no query"
	else
		assert_eq 0 "$fell" "fall-back lines without forward-first"
	fi
	dp_unbound_stop "ff$first"
done
dp_pass
