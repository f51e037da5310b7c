#!/usr/bin/env bash
# Ready means ready: a freshly started Unbound with dotpool (two threads)
# has its upstreams from the start, and container/dotpool-ready answers
# right before any client query: ready when the upstream answers (every
# thread probed it; with prewarm its connections are open), not ready with
# the reason when it refuses connections, never completes a handshake, or
# has the wrong name or pin. Also without so-reuseport, and again after a
# reload. The warm-up name never leaves the host: the upstream sees only
# dotpool's probes (the zone's SOA).
. "$(dirname "$0")/lib.sh"
dp_require dig python3 openssl curl

ready=$top_srcdir/container/dotpool-ready
mport=$(dp_free_port)

# settings NAME [LINES...]: a dotpool.conf with the metrics endpoint, and
# LINES as given
settings() {
	local f=$DP_TMP/$1.conf
	shift
	printf 'dotpool:\n\tmetrics-listen: 127.0.0.1@%s\n' "$mport" >"$f"
	[ $# = 0 ] || printf '%s\n' "$@" >>"$f"
	echo "$f"
}
scrape() { curl -sf "http://127.0.0.1:$mport/metrics"; }
# metric NAME: the sum of a family's values over its series
metric() {
	scrape | awk -v want="$1" 'index($1, want "{") == 1 { v += $2 }
		END { print v + 0 }'
}
probe() { ready_out=$("$ready" --metrics "127.0.0.1:$mport" 2>&1); ready_rc=$?; }
# wait_ready SECONDS: poll dotpool-ready until it says ready
wait_ready() {
	local i
	for i in $(seq 1 $(($1 * 10))); do
		probe
		[ "$ready_rc" = 0 ] && return 0
		sleep 0.1
	done
	return 1
}
# upstream_stat NAME KEY: a counter of the upstream Unbound
upstream_stat() {
	dp_control "$1" stats_noreset | awk -F= -v k="$2" '$1 == k { v = $2 }
		END { print v + 0 }'
}
# mark NAME: remember the upstream's counters; probes_only: since the mark,
# it saw nothing but probes (no warm-up query, no client query)
mark() {
	m_total=$(upstream_stat up total.num.queries)
	m_soa=$(upstream_stat up num.query.type.SOA)
}
assert_probes_only() {
	local soa=$(($(upstream_stat up num.query.type.SOA) - m_soa))
	assert_ge "$soa" 2 "$1: each thread probed the upstream"
	assert_eq "$soa" $(($(upstream_stat up total.num.queries) - m_total)) \
		"$1: the upstream saw probes only"
	assert_eq 0 "$(upstream_stat up num.query.class.CH)" \
		"$1: no warm-up query reached the upstream"
}

# The test upstream refuses "." and serves the test zone, as a server for
# one zone may: dotpool's probes ask for the zone's SOA, not ". NS".
dp_upstream_start up -o "	extended-statistics: yes"
fwd=$(dp_forward_tls "$DP_ZONE" up)

# ---- alive, prewarm no: probes verify it on both threads ----------------
mark
dp_unbound_start a -t 2 -c "$(settings a '	prewarm: no')" <<EOF
$fwd
EOF
wait_ready 10 || dp_fail "prewarm no: not ready 10 s after start: $ready_out"
assert_eq "ready: 1 of 1 upstreams up" "$ready_out" "prewarm no: ready"
assert_grep "$(dp_get a log)" "warm-up: all 2 thread\(s\) have their upstreams" \
	"prewarm no: both threads warmed"
assert_eq 1 "$(metric dotpool_upstream_verified)" "prewarm no: verified"
# one probe per thread, nothing else: the warm-up name stayed at home
assert_probes_only "prewarm no"
# and it serves
dp_query "$(dp_get a port)" "www.$DP_ZONE" A
assert_eq NOERROR "$DP_RCODE" "prewarm no: a query after ready"
# a reload starts it all again: new workers, new upstreams, ready again
mark
dp_unbound_reload a
wait_ready 10 || dp_fail "after a reload: not ready: $ready_out"
assert_probes_only "after a reload"
dp_unbound_stop a

# ---- alive, prewarm yes, no so-reuseport: connections open at start ------
mark
dp_unbound_start b -t 2 -c "$(settings b '	prewarm: yes')" <<EOF
	so-reuseport: no
$fwd
EOF
wait_ready 10 || dp_fail "prewarm yes: not ready: $ready_out"
assert_grep "$(dp_get b log)" "warm-up: all 2 thread\(s\) have their upstreams" \
	"prewarm yes, so-reuseport no: both threads warmed"
assert_ge "$(metric dotpool_connections_open)" 2 \
	"prewarm yes: a connection per thread open before any query"
assert_probes_only "prewarm yes"
dp_unbound_stop b

# ---- access-control refuses loopback: the warm-up gives up and says why --
dp_unbound_start acl -t 2 -c "$(settings acl)" <<EOF
	access-control: 127.0.0.0/8 refuse
$fwd
EOF
for _ in $(seq 50); do
	grep -q "dotpool: warm-up: 0 of 2" "$(dp_get acl log)" && break
	sleep 0.1
done
assert_grep "$(dp_get acl log)" "warm-up: 0 of 2 thread\(s\) .*REFUSED.*access-control" \
	"refused: the warm-up names access-control"
probe
assert_eq 1 "$ready_rc" "refused: not ready ($ready_out)"
dp_unbound_stop acl

# not_ready NAME REASON CLAUSE [SETTINGS...]: started with the upstream of
# CLAUSE, dotpool-ready says not ready and names REASON, also 3 s later
not_ready() {
	local n=$1 reason=$2 clause=$3
	shift 3
	dp_unbound_start "$n" -t 2 -c "$(settings "$n" "$@")" <<EOF
$clause
EOF
	sleep 1.5
	probe
	assert_eq 1 "$ready_rc" "$n: not ready ($ready_out)"
	assert_match "^not ready: 0 of 1 upstreams up \(need 1\): .*($reason)" \
		"$ready_out" "$n: the reason"
	assert_eq 0 "$(metric dotpool_upstream_up)" "$n: not up"
	assert_eq 0 "$(metric dotpool_upstream_verified)" "$n: not verified"
	sleep 3
	probe
	assert_eq 1 "$ready_rc" "$n: still not ready 4.5 s after start ($ready_out)"
	assert_grep "$(dp_get "$n" log)" "warm-up: all 2 thread\(s\) have their upstreams" \
		"$n: both threads warmed"
	dp_unbound_stop "$n"
}
closed=$(dp_free_port)
not_ready closed "connect" "$(printf 'forward-zone:\n\tname: "%s."\n\tforward-addr: 127.0.0.1@%s#%s\n\tforward-tls-upstream: yes\n' \
	"$DP_ZONE" "$closed" "$DP_DOT_NAME")" '	connect-timeout: 500'

# a TCP server that accepts and never says a word of TLS
mute=$(dp_free_port)
dp_spawn mute python3 -c '
import os, socket, sys
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(64)
s.settimeout(0.2)
conns = []
while not os.path.exists(sys.argv[2]):
    try:
        conns.append(s.accept()[0])
    except socket.timeout:
        pass
' "$mute" "$DP_TMP/mute.stop"
for _ in $(seq 50); do
	(exec 3<>"/dev/tcp/127.0.0.1/$mute") 2>/dev/null && break
	sleep 0.1
done
not_ready mute "timeouts|tls|connect" "$(printf 'forward-zone:\n\tname: "%s."\n\tforward-addr: 127.0.0.1@%s#%s\n\tforward-tls-upstream: yes\n' \
	"$DP_ZONE" "$mute" "$DP_DOT_NAME")" '	connect-timeout: 500'

touch "$DP_TMP/mute.stop"
dp_spawn_wait mute

not_ready wrongname "verify" "$(dp_forward_tls "$DP_ZONE" up wrong.name.test)"

pin=$(printf 'x%.0s' $(seq 32) | openssl dgst -sha256 -binary | base64)
not_ready wrongpin "verify" "$(dp_forward_tls "$DP_ZONE" up -)" \
	"upstream:" "	addr: 127.0.0.1@$(dp_get up tls_port)" "	pin-sha256: $pin"

dp_pass
