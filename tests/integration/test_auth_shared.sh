#!/usr/bin/env bash
# A strict zone never rides an opportunistic zone's connection. Two TLS
# forward zones, strict.dotpool.test (strict, the default) and
# opp.dotpool.test (profile: opportunistic in its zone: section), use the
# same forward-addr IP@port#dot.dotpool.test; the upstream presents a
# certificate for another name (other.dotpool.test), so only the
# opportunistic zone may use it.
#   shared:  strict queries get SERVFAIL before and after opportunistic
#            queries were answered over an unauthenticated connection, and
#            the upstream never sees a strict-zone name.
#   cname:   an opportunistic name whose answer is a CNAME into the strict
#            zone: the target is not resolved over the unauthenticated
#            connection (no answer data for it, and the upstream never
#            sees the target's name).
# The upstream logs every query it receives (log-queries), so "never sees"
# is counted at the upstream itself.
. "$(dirname "$0")/lib.sh"
dp_require dig openssl python3

zone=$DP_TMP/zone
dp_zone_write "$zone"
cat >>"$zone" <<'EOF2'
*.strict	A	192.0.2.11
*.opp	A	192.0.2.12
cn.opp	CNAME	target.strict
EOF2
dp_upstream_start up -k wrongname -z "$DP_ZONE=$zone" -o "	log-queries: yes"
uplog=$(dp_get up log)
addr=127.0.0.1@$(dp_get up tls_port)#$DP_DOT_NAME
conf=$DP_TMP/dotpool.conf
printf 'zone:\n\tname: "opp.%s."\n\tprofile: opportunistic\n' "$DP_ZONE" \
	>"$conf"
clauses() {
	local z
	for z in strict opp; do
		printf 'forward-zone:\n\tname: "%s.%s."\n' "$z" "$DP_ZONE"
		printf '\tforward-addr: %s\n\tforward-tls-upstream: yes\n' "$addr"
	done
}

# upstream_saw ERE: how many queries the upstream logged whose name
# matches ERE (log-queries lines: "info: 127.0.0.1 NAME. TYPE IN").
upstream_saw() {
	grep -cE -- "info: 127\.0\.0\.1 $1 " "$uplog"
}

# ---- shared forward-addr -----------------------------------------------------
dp_unbound_start dp -c "$conf" <<EOF2
$(clauses)
EOF2
port=$(dp_get dp port)
dp_query "$port" "s0.strict.$DP_ZONE" A
assert_eq SERVFAIL "$DP_RCODE" "strict zone, wrong-name certificate, first query"
for i in 1 2 3; do
	dp_query "$port" "o$i.opp.$DP_ZONE" A
	assert_eq NOERROR "$DP_RCODE" "opportunistic zone, query $i"
	assert_eq "o$i.opp.$DP_ZONE. A 192.0.2.12" "$DP_ANSWER" \
		"opportunistic zone, answer $i"
done
for i in 1 2 3 4 5 6 7 8 9 10; do
	dp_query "$port" "s$i.strict.$DP_ZONE" A
	assert_eq SERVFAIL "$DP_RCODE" \
		"strict zone query $i after opportunistic answers (expected refused: the certificate is for another name)"
done
# the count bites: the opportunistic names did reach the upstream
assert_ge "$(upstream_saw "o[0-9]\.opp\.dotpool\.test\.")" 3 \
	"opportunistic queries logged by the upstream"
assert_eq 0 "$(upstream_saw "[^ ]*strict\.dotpool\.test\.")" \
	"strict-zone queries the upstream received"
assert_grep "$(dp_get dp log)" \
	"dotpool: .*127\.0\.0\.1@$(dp_get up tls_port)#dot\.dotpool\.test.*certificate verify failed" \
	"the strict upstream's failed authentication is logged"
dp_unbound_stop dp

# ---- CNAME from the opportunistic zone into the strict zone -------------------
dp_unbound_start cn -c "$conf" <<EOF2
$(clauses)
EOF2
dp_query "$(dp_get cn port)" "cn.opp.$DP_ZONE" A
dp_log "cn.opp: $DP_RCODE, answer [${DP_ANSWER//$'\n'/; }]"
assert_ge "$(upstream_saw "cn\.opp\.dotpool\.test\.")" 1 \
	"the opportunistic name reached the upstream (the CNAME came from there)"
assert_eq 0 "$(upstream_saw "target\.strict\.dotpool\.test\.")" \
	"queries for the CNAME target in the strict zone the upstream received"
case $DP_ANSWER in
*"target.strict.$DP_ZONE. A"*)
	dp_fail "the strict target was answered: [$DP_ANSWER] (expected SERVFAIL or no data for it)" ;;
esac
assert_eq SERVFAIL "$DP_RCODE" \
	"rcode of a CNAME chain into the strict zone (its upstream cannot be authenticated)"
dp_unbound_stop cn
dp_pass
