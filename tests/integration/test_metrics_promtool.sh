#!/usr/bin/env bash
# Scrape the Prometheus endpoint over HTTP and let promtool judge the
# exposition. Also checks the HTTP side: 200 with the 0.0.4 content type,
# counters that do not go backwards between two scrapes, 404 elsewhere.
#
# What is scraped:
#   DOTPOOL_METRICS_ADDR=IP@port  an endpoint that already runs (e.g. the
#                                 module inside Unbound, started by the
#                                 caller);
#   otherwise                     tests/unit/metrics_demo, the metrics code
#                                 serving simulated counters, started here.
set -euo pipefail
demo=${METRICS_DEMO:-./tests/unit/metrics_demo}
tmp=$(mktemp -d)
pid=
cleanup() {
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "metrics-promtool: FAIL: $*" >&2; exit 1; }

command -v promtool >/dev/null ||
	{ echo "metrics-promtool: promtool missing (scripts/deps.sh test)"; exit 77; }

if [ -n "${DOTPOOL_METRICS_ADDR:-}" ]; then
	host=${DOTPOOL_METRICS_ADDR%@*}
	port=${DOTPOOL_METRICS_ADDR##*@}
else
	[ -x "$demo" ] || fail "$demo not built"
	"$demo" 127.0.0.1@0 >"$tmp/demo.out" 2>&1 &
	pid=$!
	for _ in $(seq 50); do
		grep -q '^port ' "$tmp/demo.out" 2>/dev/null && break
		sleep 0.1
	done
	port=$(sed -n 's/^port //p' "$tmp/demo.out")
	[ -n "$port" ] || fail "metrics_demo did not start: $(cat "$tmp/demo.out")"
	host=127.0.0.1
fi
host=${host#[}; host=${host%]}

# scrape PATH OUT: raw HTTP response into OUT (bash's /dev/tcp, no curl).
scrape() {
	exec 3<>"/dev/tcp/$host/$port" || fail "cannot connect to $host@$port"
	printf 'GET %s HTTP/1.1\r\nHost: dotpool\r\nUser-Agent: promtool-test\r\n\r\n' "$1" >&3
	timeout 10 cat <&3 >"$2" || fail "no complete response for $1"
	exec 3<&- 3>&-
}
# split RESPONSE: headers to RESPONSE.head, body to RESPONSE.body
split() {
	sed '/^\r$/q' "$1" | tr -d '\r' >"$1.head"
	sed '1,/^\r$/d' "$1" >"$1.body"
}

scrape /metrics "$tmp/s1"; split "$tmp/s1"
head -n 1 "$tmp/s1.head" | grep -q '^HTTP/1.1 200 ' ||
	fail "status: $(head -n 1 "$tmp/s1.head")"
grep -qi '^Content-Type: text/plain; version=0.0.4' "$tmp/s1.head" ||
	fail "content type: $(grep -i '^content-type' "$tmp/s1.head")"
len=$(sed -n 's/^Content-Length: //Ip' "$tmp/s1.head")
[ "$len" = "$(wc -c <"$tmp/s1.body")" ] || fail "Content-Length $len does not match the body"
grep -q '^dotpool_build_info{' "$tmp/s1.body" || fail "no dotpool_build_info"
grep -q '^dotpool_upstream_latency_seconds_bucket{.*le="+Inf"}' "$tmp/s1.body" ||
	fail "no latency histogram samples"

lint=$(promtool check metrics <"$tmp/s1.body" 2>&1) || fail "promtool: $lint"
[ -z "$lint" ] || fail "promtool lint: $lint"

# A second scrape: still valid, counters never go backwards.
scrape /metrics "$tmp/s2"; split "$tmp/s2"
lint=$(promtool check metrics <"$tmp/s2.body" 2>&1) || fail "promtool (2nd): $lint"
[ -z "$lint" ] || fail "promtool lint (2nd): $lint"
awk '
	FNR == 1 { f++ }
	/^#/ { if ($3 ~ /_total$/ || $4 == "histogram") ctr[$3] = 1; next }
	{
		name = $1; sub(/\{.*/, "", name)
		base = name; sub(/_(bucket|sum|count)$/, "", base)
		if (!(name in ctr) && !(base in ctr)) next
		if (f == 1) first[$1] = $2
		else if (($1 in first) && $2 + 0 < first[$1] + 0) {
			print "went backwards: " $1 " " first[$1] " -> " $2; bad = 1
		}
	}
	END { exit bad }' "$tmp/s1.body" "$tmp/s2.body" || fail "a counter decreased"

scrape /nothing-here "$tmp/s3"; split "$tmp/s3"
head -n 1 "$tmp/s3.head" | grep -q '^HTTP/1.1 404 ' ||
	fail "/nothing-here: $(head -n 1 "$tmp/s3.head")"

echo "metrics-promtool: $(grep -vc '^#' "$tmp/s1.body") samples from $host@$port pass promtool"
