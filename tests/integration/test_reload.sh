#!/usr/bin/env bash
# `unbound-control reload` with a bad dotpool.conf keeps Unbound serving
# with the last good settings and logs why at verbosity 0, naming
# file:line; the fixed file, reloaded, applies (seen on the metrics port,
# which moves). At the first start a bad file still refuses to start.
. "$(dirname "$0")/lib.sh"
dp_require dig curl

port_a=$(dp_free_port)
port_b=$(dp_free_port)
conf=$DP_TMP/dotpool.conf
printf 'dotpool:\n\tmetrics-listen: 127.0.0.1@%s\n' "$port_a" >"$conf"

dp_upstream_start up
dp_unbound_start dp -v 0 -c "$conf" <<EOF2
$(dp_forward_tls "$DP_ZONE" up)
EOF2
port=$(dp_get dp port)
log=$(dp_get dp log)
scrape() { curl -sf -m 3 "http://127.0.0.1:$1/metrics" >/dev/null; }
answers() {
	dp_query "$port" "r$RANDOM$RANDOM.wild.$DP_ZONE" A
	assert_eq NOERROR "$DP_RCODE" "$1: a fresh name through dotpool"
}
answers "first start"
scrape "$port_a" || dp_fail "metrics endpoint on $port_a after start"

# 1. A typo: the parser refuses the file.
printf 'dotpool:\n\tmetrics-listen: 127.0.0.1@%s\n\tatempt-timeout: 500\n' \
	"$port_b" >"$conf"
dp_unbound_reload dp
assert_alive dp "Unbound after a reload with a misspelt key"
answers "after the bad reload"
assert_grep "$log" "error: dotpool: $conf:3: atempt-timeout: unknown key; reload: the previous settings stay in force" \
	"the parse error at verbosity 0 with file:line and what happens"
scrape "$port_a" || dp_fail "the previous metrics port stays after the bad reload"
scrape "$port_b" && dp_fail "the bad file's metrics port must not apply"

# 2. A file that parses but is refused at load: a zone: that names no
# forward zone (a typo in the zone name).
printf 'dotpool:\n\tmetrics-listen: 127.0.0.1@%s\nzone:\n\tname: "dotpool.tset."\n\tpolicy: random\n' \
	"$port_b" >"$conf"
dp_unbound_reload dp
assert_alive dp "Unbound after a reload with a zone: that matches nothing"
answers "after the second bad reload"
assert_grep "$log" "error: dotpool: $conf:3: zone: \"dotpool.tset.\" names no forward-zone with forward-tls-upstream in unbound.conf" \
	"the section error names file:line"
assert_grep "$log" "error: dotpool: $conf: not loaded \(see above\); reload: the previous settings stay in force" \
	"the reload note after a refused file"
scrape "$port_a" || dp_fail "the previous metrics port stays after the second bad reload"

# 3. Fixed: the new settings apply.
printf 'dotpool:\n\tmetrics-listen: 127.0.0.1@%s\nzone:\n\tname: "%s."\n\tpolicy: random\n' \
	"$port_b" "$DP_ZONE" >"$conf"
lines=$(wc -l <"$log")
dp_unbound_reload dp
answers "after the good reload"
scrape "$port_b" || dp_fail "the fixed file's metrics port applies after reload"
scrape "$port_a" && dp_fail "the old metrics port is closed after the good reload"
tail -n +"$((lines + 1))" "$log" >"$DP_TMP/after"
assert_no_grep "$DP_TMP/after" "error: dotpool" "no error at the good reload"

# 4. A bad file at the next reload falls back to the settings of step 3
# (the last good ones, not those of the first start).
printf 'dotpool:\n\tmetrics-listen: 127.0.0.1@%s\n\tprewarm: maybe\n' \
	"$port_a" >"$conf"
dp_unbound_reload dp
answers "after the third bad reload"
scrape "$port_b" || dp_fail "the last good settings (port $port_b) stay"
dp_unbound_stop dp

# 5. First start with a bad file: refused, as before.
printf 'dotpool:\n\tatempt-timeout: 500\n' >"$DP_TMP/bad.conf"
dp_unbound_start bad -v 0 -f -c "$DP_TMP/bad.conf" <<EOF2
$(dp_forward_tls "$DP_ZONE" up)
EOF2
assert_ne 0 "$(dp_get bad status)" "exit status of a start with a bad file"
assert_grep "$(dp_get bad log)" "error: dotpool: $DP_TMP/bad.conf:2: atempt-timeout: unknown key$" \
	"the first start names file:line, without the reload note"
# 6. A metrics port that is taken: refused, file:line named once, the
# "metrics-listen ADDR:" prefix not doubled.
taken=$(dp_get up port)
printf 'dotpool:\n\tmetrics-listen: 127.0.0.1@%s\n' "$taken" >"$DP_TMP/taken.conf"
dp_unbound_start busy -v 0 -f -c "$DP_TMP/taken.conf" <<EOF2
$(dp_forward_tls "$DP_ZONE" up)
EOF2
blog=$(dp_get busy log)
assert_grep "$blog" "error: dotpool: $DP_TMP/taken.conf:2: metrics-listen 127\.0\.0\.1@$taken: [^:]*[Aa]ddress already in use" \
	"the bind error names file:line"
assert_eq 1 "$(grep -o 'metrics-listen' "$blog" | wc -l)" "metrics-listen named once"
dp_pass
