#!/usr/bin/env bash
# The fault suite: for every way an upstream can break or lie,
# the Unbound under test (dynlib + dotpool) forwards a TLS zone to two
# upstreams, the faulty one first and a healthy one second, and we check:
# Unbound keeps running; every query gets, within a bounded time, the
# healthy upstream's answer (or the faulty one's where that fault still
# yields a true answer); never a lying answer, never an empty NOERROR;
# SERVFAIL only with FAULT_SERVFAIL_OK=1 (a healthy upstream exists).
# Then a single-upstream variant for some faults: the true answer or
# SERVFAIL, bounded; and for quirky but honest servers (duplicate,
# out-of-order, big) every answer, no SERVFAIL.
#
# FAULT_ONLY="wrong-id tc" runs just those faults (either variant);
# FAULT_POLICY=round-robin runs them with that upstream policy instead of
# ordered; FAULT_SERVFAIL_OK=1 and FAULT_MAX_MS=3000 relax the checks.
. "$(dirname "$0")/lib.sh"
. "$DP_TOP/tests/faultsrv/faultlib.sh"
dp_require python3 dig openssl

BAD=192.0.2.1      # the faulty upstream's address (true, but from it)
GOOD=192.0.2.2     # the healthy upstream's address
MAX_MS=${FAULT_MAX_MS:-3000}
sf_opt=
[ "${FAULT_SERVFAIL_OK:-0}" = 1 ] && sf_opt=--servfail-ok

cat >"$DP_TMP/dotpool.conf" <<EOF
dotpool:
	attempt-timeout: 700
	query-timeout: 1800
	max-attempts: 3
	policy: ${FAULT_POLICY:-ordered}
EOF

# fault  primary-may-answer(1: the fault still yields true answers from it)
faults="
refuse-tcp 0
refuse-tcp:closed 0
no-handshake 0
stall-after-handshake 0
close-after:1 1
close-after:3 1
idle-close:1 1
reset-mid-frame 0
garbage 0
long-length 0
long-length:close 0
zero-length 1
wrong-id 0
wrong-question 0
duplicate 1
out-of-order 1
tc 0
servfail 0
refused 0
slow-drip 1
big 1
tls-alert 0
"
# start-time faults: certificate and TLS choices the client must refuse
# start-time choices: certificates and TLS settings the client must refuse
# (may=0: nothing may be sent to it), and a server that asks for a short
# edns-tcp-keepalive and closes connections idle longer than that.
startfaults="
cert-expired 0 --cert $DP_PKI/expired.pem --key $DP_PKI/expired.key
cert-wrongname 0 --cert $DP_PKI/wrongname.pem --key $DP_PKI/wrongname.key
cert-selfsigned 0 --cert $DP_PKI/selfsigned.pem --key $DP_PKI/selfsigned.key
tls-1.0-only 0 --tls-max 1.0
mtls-required 0 --require-client-cert $DP_PKI/ca.pem
keepalive-500 1 --keepalive 500 --fault idle-close:0.7
"
single="stall-after-handshake no-handshake garbage wrong-question
reset-mid-frame tls-alert servfail slow-drip refuse-tcp"
# quirky but honest: alone, it must still give every answer (no SERVFAIL);
# a server that closes after every answer gets a burst through one at a time
single_answer="duplicate out-of-order big close-after:1"

wanted() {
	[ -z "${FAULT_ONLY:-}" ] && return 0
	case " $FAULT_ONLY " in *" $1 "*) return 0 ;; esac
	return 1
}

n=0
failed=
# must_try: the dotfault instance run_case must find contacted (the faulty
# primary; with policy ordered it is the first forward-addr), or empty.
must_try=
# run_case LABEL ALLOW FORWARD-ADDR...: one Unbound under test, 5 queries
# at 5 qps, then 20 at once (idle faults: and 5 more after a pause), each
# checked by dnsload; then check it still runs and stop it.
run_case() {
	local label=$1 allow=$2 ub tag rc=0 a
	shift 2
	n=$((n + 1))
	ub=ub$n
	{
		echo "	qname-minimisation: no"
		echo "forward-zone:"
		echo "	name: \"$DP_ZONE.\""
		for a in "$@"; do echo "	forward-addr: $a"; done
		echo "	forward-tls-upstream: yes"
	} >"$DP_TMP/$ub.clauses"
	# not a pipe: the daemon must be a child of this shell
	dp_unbound_start "$ub" -c "$DP_TMP/dotpool.conf" <"$DP_TMP/$ub.clauses"
	tag=$(echo "$label" | tr -c 'a-z0-9\n' '-')
	df_load "$(dp_get "$ub" port)" "s-$n-$tag" --count 5 --qps 5 \
		--allow "$allow" --max-ms "$MAX_MS" $sf_opt 2>>"$DP_TMP/why" || rc=1
	df_load "$(dp_get "$ub" port)" "b-$n-$tag" --count 20 \
		--allow "$allow" --max-ms "$MAX_MS" $sf_opt 2>>"$DP_TMP/why" || rc=1
	case $label in
	idle-close* | keepalive*)
		# let the server close the idle connections, then ask again
		sleep 1.5
		df_load "$(dp_get "$ub" port)" "p-$n-$tag" --count 5 --qps 10 \
			--allow "$allow" --max-ms "$MAX_MS" $sf_opt \
			2>>"$DP_TMP/why" || rc=1
		;;
	esac
	assert_alive "$ub" "$label: Unbound under test must survive"
	dp_unbound_stop "$ub"
	local summary
	summary=$(cat "$DP_TMP"/[sbp]-$n-"$tag".load | awk '
		{ k = $3 == "NOERROR" ? $4 : $3; c[k]++ }
		END { for (k in c) printf "%s=%d ", k, c[k] }')
	if [ -n "$must_try" ] && [ "$(df_stat "$must_try" connections)" = 0 ]
	then
		echo "the faulty primary (first forward-addr) was never tried:" \
			"the case proves nothing" >>"$DP_TMP/why"
		rc=1
	fi
	if [ $rc = 0 ]; then
		dp_log "ok   $label: $summary"
	else
		dp_log "FAIL $label: $summary"
		sed 's/^/        /' "$DP_TMP/why" | head -n 8
		failed="$failed $label"
	fi
	: >"$DP_TMP/why"
}

df_start healthy $GOOD
df_start faulty $BAD

# ---- two upstreams: faulty primary, healthy secondary -----------------------
while read -r fault may; do
	[ -n "$fault" ] || continue
	wanted "$fault" || continue
	df_ctl faulty set fault "$fault" >/dev/null ||
		dp_fail "dotfault refused fault $fault"
	allow=$GOOD
	[ "$may" = 1 ] && allow=$GOOD,$BAD
	must_try=faulty
	# a closed port cannot count the connects it refuses
	[ "$fault" = refuse-tcp:closed ] && must_try=
	run_case "$fault" "$allow" "$(df_addr faulty)" "$(df_addr healthy)"
	df_ctl faulty reset >/dev/null
done <<<"$faults"
df_ctl faulty set fault none >/dev/null

while read -r label may opts; do
	[ -n "$label" ] || continue
	wanted "$label" || continue
	# shellcheck disable=SC2086 # options are words; paths have no blanks
	df_start "sf-$label" $BAD $opts
	allow=$GOOD
	[ "$may" = 1 ] && allow=$GOOD,$BAD
	must_try=sf-$label
	run_case "$label" $allow "$(df_addr "sf-$label")" "$(df_addr healthy)"
	[ "$may" = 1 ] || assert_eq 0 "$(df_stat "sf-$label" queries)" \
		"$label: queries sent over a connection that must not be trusted"
	df_stop "sf-$label"
done <<<"$startfaults"

# ---- one upstream: the true answer or SERVFAIL, bounded ---------------------
must_try=
sf_opt=--servfail-ok
for fault in $single; do
	wanted "$fault" || continue
	df_ctl faulty set fault "$fault" >/dev/null
	allow=none     # no address is a true answer from this server
	case $fault in slow-drip | close-after:*) allow=$BAD ;; esac
	run_case "single $fault" "$allow" "$(df_addr faulty)"
done

sf_opt=
for fault in $single_answer; do
	wanted "$fault" || continue
	df_ctl faulty set fault "$fault" >/dev/null
	run_case "single $fault" $BAD "$(df_addr faulty)"
done

df_stop_all
[ -z "$failed" ] || dp_fail "faults not survived as required:$failed"
dp_pass
