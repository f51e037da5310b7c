#!/usr/bin/env bash
# module-config orders: the ones where dotpool works start and answer
# through it; every other stops Unbound at start with one line saying what
# is wrong and the module-config to write instead.
. "$(dirname "$0")/lib.sh"
dp_require dig

dp_upstream_start up
fwd=$(dp_forward_tls "$DP_ZONE" up)

# good ORDER: starts, and a fresh name is answered through dotpool
good() {
	local n=g$((++ngood))
	dp_unbound_start "$n" -m "$1" <<EOF2
$fwd
EOF2
	dp_query "$(dp_get "$n" port)" "o$RANDOM$RANDOM.wild.$DP_ZONE" A
	assert_eq NOERROR "$DP_RCODE" "\"$1\": a name of the TLS zone"
	assert_dotpool_carried "$n" up
	dp_unbound_stop "$n"
}

# bad ORDER FIX [EXTRA]: refused at start; the log has the one line
# naming the order and "write module-config: FIX"
bad() {
	local n=b$((++nbad)) log hits
	dp_unbound_start "$n" -f -m "$1" <<EOF2
$fwd
${3:-}
EOF2
	assert_ne 0 "$(dp_get "$n" status)" "exit status with \"$1\""
	log=$(dp_get "$n" log)
	assert_grep "$log" "error: dotpool: module-config \"$1\": .*; write module-config: \"$2\"$" \
		"\"$1\" refused with the order to write"
	hits=$(grep -c 'error: dotpool:' "$log")
	assert_eq 1 "$hits" "one dotpool line for \"$1\""
}

ngood=0 nbad=0
good "dynlib iterator"
good "validator dynlib iterator"
good "respip validator dynlib iterator"
# subnetcache exists only in builds with --enable-subnet (Debian's and
# Fedora's, not a plain one): the order is tried where the daemon has it
if grep -q '^Linked modules:.* subnetcache' <<<"$("$DP_UNBOUND" -V 2>&1)"; then
	good "subnetcache validator dynlib iterator"
else
	dp_log "this Unbound has no subnetcache module: that order not tried"
fi
good "dns64 validator dynlib iterator"

bad "dynlib validator iterator" "validator dynlib iterator"
bad "validator iterator dynlib" "validator dynlib iterator"
bad "validator dynlib" "validator dynlib iterator"
bad "validator dynlib respip iterator" "validator respip dynlib iterator"
bad "dynlib iterator validator" "validator dynlib iterator"
# the same module in two dynlibs (lib.sh adds the second dynlib-file)
bad "dynlib dynlib iterator" "dynlib iterator" \
	"$(printf 'dynlib:\n\tdynlib-file: "%s"' "$DOTPOOL_MODULE")"
assert_grep "$(dp_get b6 log)" "dotpool is loaded twice" "why \"dynlib dynlib\" is refused"
dp_pass
