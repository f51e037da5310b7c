#!/usr/bin/env bash
# The ABI guard between two real builds: this build's module loaded into the
# peer build's daemon, and the peer's module into this build's daemon, must
# both be refused: Unbound exits with an error status (no signal, no crash),
# one dotpool log line names both builds and ends with what to do, and the
# module never reports itself loaded. Controls: each module loads into its
# own daemon. scripts/test-versions.sh runs this for 1.26.0 against 1.17.1
# (another version) and for Fedora's 1.26.0 against the plain one (the same
# version, other options: subnet, cachedb, ...).
#
# Needs DOTPOOL_ABI_PEER_MODULE (the peer build's dotpool.so) and
# DOTPOOL_ABI_PEER_UNBOUND (the peer build's sbin/unbound); it belongs to the
# version matrix, never to a run that has only one build, so it fails
# without them instead of skipping.
. "$(dirname "$0")/lib.sh"
dp_require openssl python3

peer_mod=${DOTPOOL_ABI_PEER_MODULE:-}
peer_ub=${DOTPOOL_ABI_PEER_UNBOUND:-}
[ -f "$peer_mod" ] && [ -x "$peer_ub" ] ||
	dp_fail "DOTPOOL_ABI_PEER_MODULE and DOTPOOL_ABI_PEER_UNBOUND must name \
the other build's dotpool.so and unbound (scripts/test-versions.sh sets them)"
own_mod=$DOTPOOL_MODULE
own_ub=$DP_UNBOUND

# version and configure line of a daemon, from -V
ub_version() { "$1" -V | sed -n 's/^Version //p'; }
ub_confline() { "$1" -V | sed -n 's/^Configure line: //p'; }
own_v=$(ub_version "$own_ub")
peer_v=$(ub_version "$peer_ub")
[ "$own_v" != "$peer_v" ] ||
	[ "$(ub_confline "$own_ub")" != "$(ub_confline "$peer_ub")" ] ||
	dp_fail "the two builds are the same (version $own_v, same configure line)"
dp_log "this build: Unbound $own_v, peer: Unbound $peer_v"

dp_upstream_start up

# start NAME MODULE DAEMON [dp_unbound_start options]: run that pair.
start() {
	local n=$1 mod=$2 ub=$3
	shift 3
	DOTPOOL_MODULE=$mod DP_UNBOUND=$ub \
		DP_UNBOUND_CONTROL=$(dirname "$ub")/unbound-control \
		dp_unbound_start "$n" "$@" <<EOF
$(dp_forward_tls "$DP_ZONE" up)
EOF
}

# refused NAME MODULE DAEMON MODULE_VERSION DAEMON_VERSION
refused() {
	local n=$1 rc all
	start "$n" "$2" "$3" -f
	rc=$(dp_get "$n" status)
	assert_ne 0 "$rc" "$n: exit status of Unbound with a mismatched module"
	assert_le "$rc" 125 "$n: exit status (above 125 is a signal: a crash)"
	all=$DP_TMP/$n/all.log
	cat "$(dp_get "$n" log)" "$(dp_get "$n" dir)/stderr" >"$all" 2>/dev/null
	assert_no_grep "$all" 'dotpool: loaded' \
		"$n: the module must not report itself loaded"
	assert_no_grep "$all" 'Segmentation|core dumped|Aborted|assertion' \
		"$n: no crash"
	assert_grep "$all" "dotpool: not loaded: dotpool was built for Unbound \
${4//./\\.}.* but the running Unbound is ${5//./\\.}[ (]" \
		"$n: one line naming both builds"
	# the line ends with what to do (nothing cut off)
	assert_grep "$all" 'dotpool: not loaded: .*: rebuild dotpool against the configured source tree of the running Unbound .* and load that build$' \
		"$n: the refusal ends with what to do"
	# Unbound itself says the module failed, and stops
	assert_grep "$all" '(module init|init) .*fail|failed' \
		"$n: Unbound reports the failed module start"
	assert_eq 0 "$(dp_upstream_queries up)" "$n: queries sent upstream"
}

refused own_into_peer "$own_mod" "$peer_ub" "$own_v" "$peer_v"
refused peer_into_own "$peer_mod" "$own_ub" "$peer_v" "$own_v"

# Controls: the guard refuses only what differs.
start own "$own_mod" "$own_ub"
assert_dotpool_loaded own
dp_unbound_stop own
start peer "$peer_mod" "$peer_ub"
assert_dotpool_loaded peer
dp_unbound_stop peer

dp_pass
