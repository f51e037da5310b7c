#!/usr/bin/env bash
# `unbound-control fast_reload` (Unbound 1.23 and later) swaps the
# configuration, the forwarders and the TLS contexts in place, without the
# modules' deinit/init. Under steady load it is run with (a) the same
# config, (b) the forward-addr of a zone moved to a second upstream, (c) a
# TLS forward zone added and another removed, (d) tls-cert-bundle moved to
# another file with the same CA, DOTPOOL_FAST_RELOADS times each (20):
# Unbound stays up, every answer comes from the upstream configured at that
# moment (each serves its own TXT), the new forwarders answer the next query
# and removed ones never get another query (counted at the upstreams).
# A strict zone without #name added this way is not used (the start would
# refuse it). dotpool logs once that it saw a fast_reload and what it does
# not re-read.
# On a daemon without fast_reload (1.17.1) the test does not apply.
. "$(dirname "$0")/lib.sh"
dp_require dig

ver=$("$DP_UNBOUND" -V 2>/dev/null | sed -n 's/^Version \([0-9.]*\).*/\1/p')
[ -n "$ver" ] || dp_fail "cannot read the version of $DP_UNBOUND"
if [ "$(printf '%s\n1.23.0\n' "$ver" | sort -V | head -n 1)" != 1.23.0 ]; then
	dp_log "ok - not applicable: Unbound $ver has no fast_reload (1.23 and later); nothing tested"
	dp_log "PASS"
	exit 0
fi
rounds=${DOTPOOL_FAST_RELOADS:-20}

# zone ORIGIN TAG FILE: a zone whose wildcard *.w.ORIGIN has TXT "TAG"
zone() {
	cat >"$3" <<EOZ
\$ORIGIN $1.
\$TTL 300
@	SOA	ns.$1. hostmaster.$1. 1 3600 600 86400 60
@	NS	ns
ns	A	127.0.0.1
*.w	TXT	"$2"
EOZ
}
zone "$DP_ZONE" up1 "$DP_TMP/z1"
zone "$DP_ZONE" up2 "$DP_TMP/z2"
zone alpha.test alpha "$DP_TMP/za"
zone beta.test beta "$DP_TMP/zb"
zone alpha.test plain "$DP_TMP/zpa"
zone beta.test plain "$DP_TMP/zpb"
dp_upstream_start up1 -z "$DP_ZONE=$DP_TMP/z1"
dp_upstream_start up2 -z "$DP_ZONE=$DP_TMP/z2"
dp_upstream_start up3 -z "alpha.test=$DP_TMP/za"
dp_upstream_start up4 -z "beta.test=$DP_TMP/zb"
# plain DNS (Unbound's iterator, not dotpool) for test.: a removed TLS zone
# is answered "plain" from there, so a stale forwarder shows in the answer
dp_upstream_start plain -z "alpha.test=$DP_TMP/zpa" -z "beta.test=$DP_TMP/zpb"
cp "$DP_CA" "$DP_TMP/ca2.pem"

inc=$DP_TMP/forwards.conf
cur_main= cur_extra= cur_ca=
# forwards MAIN EXTRA CA: dotpool.test to MAIN, EXTRA (alpha or beta) as a
# TLS zone to up3 or up4, tls-cert-bundle CA
forwards() {
	cur_main=$1 cur_extra=$2 cur_ca=$3
	{
		printf 'tls-cert-bundle: "%s"\n' "$3"
		dp_forward_tls "$DP_ZONE" "$1"
		case $2 in
		alpha) dp_forward_tls alpha.test up3 ;;
		beta) dp_forward_tls beta.test up4 ;;
		esac
		# a strict zone without #name, which the start would refuse
		[ "${4:-}" = gamma ] && dp_forward_tls gamma.test plain -
		dp_forward_plain test plain
	} >"$inc.new"
	mv "$inc.new" "$inc"
}
forwards up1 alpha "$DP_CA"
dp_unbound_start dp -v 1 -t 2 <<EOF2
	include: "$inc"
EOF2
port=$(dp_get dp port)
log=$(dp_get dp log)

# txt ZONE: the TXT of a fresh name in ZONE (never cached), or the rcode
txt() {
	dp_query "$port" "r$RANDOM$RANDOM.w.$1" TXT
	if [ "$DP_RCODE" = NOERROR ] && [ -n "$DP_ANSWER" ]; then
		sed -n 's/.* TXT "\(.*\)"$/\1/p' <<<"$DP_ANSWER"
	else
		echo "$DP_RCODE"
	fi
}
expect() { # ZONE TAG WHAT
	local got
	got=$(txt "$1")
	[ "$got" = "$2" ] || dp_fail "$3: $1 answered '$got', expected '$2'"
}
expect "$DP_ZONE" up1 "before any fast_reload"
expect alpha.test alpha "before any fast_reload"
expect beta.test plain "before any fast_reload"

# Steady load: fresh names in dotpool.test from two clients; every answer
# must be NOERROR from up1 or up2 (whichever is configured).
load() {
	local n=0 bad=0 got
	# ends with the test too, if it fails before it says stop
	while [ ! -e "$DP_TMP/stop" ] && kill -0 $$ 2>/dev/null; do
		got=$(txt "$DP_ZONE")
		n=$((n + 1))
		case $got in
		up1|up2) ;;
		*) bad=$((bad + 1)); echo "$got" >>"$DP_TMP/load$1.bad" ;;
		esac
	done
	echo "$n $bad" >"$DP_TMP/load$1.count"
}
load 1 & l1=$!
load 2 & l2=$!

fast_reload() {
	local out
	out=$(dp_control dp fast_reload 2>&1) ||
		dp_fail "fast_reload ($1) failed: $out"
	[ "$(tail -n 1 <<<"$out")" = ok ] ||
		dp_fail "fast_reload ($1) said: $out"
	assert_alive dp "Unbound after fast_reload ($1)"
}
# unused UP WHAT: UP gets no query while a few more go to the new setup
unused() {
	local before after
	sleep 0.2 # a query already on the wire at the swap may still land
	before=$(dp_upstream_queries "$1")
	expect "$DP_ZONE" "$cur_main" "$2"
	expect "${3:-$DP_ZONE}" "${4:-$cur_main}" "$2"
	sleep 0.3
	after=$(dp_upstream_queries "$1")
	assert_eq "$before" "$after" "queries at the removed $1 ($2)"
}

t0=$(date +%s)
for i in $(seq 1 "$rounds"); do
	fast_reload "same config $i"
	expect "$DP_ZONE" "$cur_main" "same config $i"
	expect "$cur_extra.test" "$cur_extra" "same config $i"
done
t1=$(date +%s)
for i in $(seq 1 "$rounds"); do
	old=$cur_main
	if [ "$old" = up1 ]; then new=up2; else new=up1; fi
	forwards "$new" "$cur_extra" "$cur_ca"
	fast_reload "forward-addr $old to $new, $i"
	expect "$DP_ZONE" "$new" "forward-addr to $new, $i: the next query"
	unused "$old" "forward-addr to $new, $i"
done
t2=$(date +%s)
for i in $(seq 1 "$rounds"); do
	if [ "$cur_extra" = alpha ]; then
		new=beta old=alpha olds=up3
	else
		new=alpha old=beta olds=up4
	fi
	forwards "$cur_main" "$new" "$cur_ca"
	fast_reload "zone $new.test added, $old.test removed, $i"
	expect "$new.test" "$new" "zone $new.test added, $i: the next query"
	expect "$old.test" plain "zone $old.test removed, $i: the next query"
	unused "$olds" "zone $old.test removed, $i" "$old.test" plain
done
t3=$(date +%s)
for i in $(seq 1 "$rounds"); do
	if [ "$cur_ca" = "$DP_CA" ]; then ca=$DP_TMP/ca2.pem; else ca=$DP_CA; fi
	forwards "$cur_main" "$cur_extra" "$ca"
	fast_reload "tls-cert-bundle $ca, $i"
	expect "$DP_ZONE" "$cur_main" "tls-cert-bundle changed, $i"
	expect "$cur_extra.test" "$cur_extra" "tls-cert-bundle changed, $i"
done
t4=$(date +%s)

# (e) A strict TLS zone without a #name (nor a pin) added by fast_reload
# (the start refuses it): dotpool sends it nothing (any certificate of the
# CA would pass) and says why.
forwards "$cur_main" "$cur_extra" "$cur_ca" gamma
fast_reload "zone gamma.test without #name added"
before=$(dp_upstream_queries plain)
expect gamma.test SERVFAIL "a strict zone without #name added by fast_reload"
expect "$DP_ZONE" "$cur_main" "next to the zone without #name"
assert_eq "$before" "$(dp_upstream_queries plain)" \
	"queries to the upstream without #name"
assert_grep "$log" "dotpool: 127\.0\.0\.1@$(dp_get plain tls_port): strict profile without a #name or a pin-sha256" \
	"the refused address is logged"
forwards "$cur_main" "$cur_extra" "$cur_ca"
fast_reload "zone gamma.test removed again"
expect "$DP_ZONE" "$cur_main" "after gamma.test is removed"

touch "$DP_TMP/stop"
wait "$l1" "$l2"
read -r n1 b1 <"$DP_TMP/load1.count"
read -r n2 b2 <"$DP_TMP/load2.count"
dp_log "$((rounds * 4)) fast_reloads: same ${rounds}x $((t1 - t0))s, forward-addr $((t2 - t1))s, zones $((t3 - t2))s, tls-cert-bundle $((t4 - t3))s; load $((n1 + n2)) queries, $((b1 + b2)) not from up1/up2"
[ "$((b1 + b2))" = 0 ] ||
	dp_fail "load answers not from up1/up2: $(sort "$DP_TMP"/load*.bad | uniq -c | tr '\n' ' ')"
assert_ge "$((n1 + n2))" "$((rounds * 4))" "load queries during the fast_reloads"
assert_alive dp "Unbound after $((rounds * 4)) fast_reloads"
assert_eq 1 "$(grep -c 'dotpool: fast_reload' "$log")" \
	"dotpool's fast_reload note, once"
assert_grep "$log" "dotpool: fast_reload: .*not re-read.*reload" \
	"the note says what needs a reload"
dp_log "note: $(grep -o 'dotpool: fast_reload.*' "$log")"
dp_pass
