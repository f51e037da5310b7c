#!/usr/bin/env bash
# The soak: Unbound + dotpool under a steady load of fresh and repeated
# names for a long time, while its two DoT upstreams take turns at failing
# and Unbound is reloaded every minute. Not part of make check (a full run
# takes 15 minutes and both cores); scripts/test.sh runs a 60-second one.
#
#   tests/soak/soak.sh [--duration S] [--qps N] [--step S] [--gap S]
#                      [--reload-every S] [--warmup S] [--max-servfail PCT]
#                      [--faults "F1 F2 ..."] [--out DIR]
#
# Defaults: 900 s at 1200 qps (1.08 million queries), a fault every
# --step 5 s followed by --gap 2 s with both upstreams healthy, a reload
# every 60 s, results in tests/soak/results/<UTC stamp>/.
#
# Set-up: two dotfault servers (tests/faultsrv/dotfault.py --addr-hash:
# every name has its own address, the same on both, so every answer is
# checked against the data the upstreams serve), Unbound with num-threads
# 2 and two TLS forward zones over both of them: o.soak.test with policy
# ordered (primary and backup), r.soak.test with round-robin (both carry
# traffic, so a fault on either is met). Faults go round FAULTS below, one
# upstream at a time, the other healthy: a fault is always survivable.
# The client (tests/soak/soakload.py) sends at the fixed rate whatever the
# answers, checks each one and counts per 10 s; every 10 s (and before
# each reload) this script reads Unbound's RSS and open fds, dotpool's
# metrics endpoint and Unbound's own statistics. tests/soak/report.py
# then writes results.md and results.png and judges:
#   crashes        0: Unbound alive with the same pid all along, no
#                  assertion or fatal error in its log, exit status 0
#   wrong answers  0: a NOERROR answer is exactly the name's address
#   SERVFAIL       at most --max-servfail percent of the queries (see
#                  tests/soak/README.md for why the default is what it is)
#   flat           (with 10 minutes after the warm-up or more) RSS medians
#                  and the fds' least-squares line within the README's
#                  bounds; the slopes are reported for every run
# Exit 0 when all hold, 1 otherwise; the results folder is written anyway.
. "$(dirname "$0")/soaklib.sh"
dp_require python3 curl gnuplot

duration=900 qps=1200 step=5 gap=2 reload_every=60 warmup=180
max_servfail=1 out="" FAULTS_ARG=""
while [ $# -gt 0 ]; do
	case $1 in
	--duration) duration=$2 ;;
	--qps) qps=$2 ;;
	--step) step=$2 ;;
	--gap) gap=$2 ;;
	--reload-every) reload_every=$2 ;;
	--warmup) warmup=$2 ;;
	--max-servfail) max_servfail=$2 ;;
	--out) out=$2 ;;
	--faults) FAULTS_ARG=$2 ;;
	*) dp_fail "soak.sh: unknown option $1 (see the header)" ;;
	esac
	shift 2 || dp_fail "soak.sh: $1 needs a value"
done
stamp=$(date -u +%Y-%m-%dT%H%MZ)
out=${out:-$DP_TOP/tests/soak/results/$stamp}
mkdir -p "$out" || dp_fail "cannot make $out"
out=$(cd "$out" && pwd)
: >"$out/events.tsv"

# The rotation: what the fault server can do wrong, plus the process-level
# faults this script does itself (sigstop: SIGSTOP for the step, SIGCONT
# after; restart: the server killed and started again on the same port).
# Step k puts FAULTS[k mod n] on upstream k mod 2: with n odd, every fault
# meets both upstreams in two rounds.
FAULTS="idle-close:1 close-after:3 stall-after-handshake garbage wrong-id
servfail no-handshake sigstop restart reset-mid-frame wrong-question
duplicate out-of-order refused refuse-tcp:closed long-length zero-length
slow-drip:20 tls-alert"
FAULTS=${FAULTS_ARG:-$FAULTS}
read -r -a faults <<<"${FAULTS//$'\n'/ }"
UPS=(up1 up2)
declare -A ADDR=([up1]=192.0.2.1 [up2]=192.0.2.2) PORT=()

# event KIND DETAIL: a line of the timeline, epoch seconds first
event() { printf '%s\t%s\t%s\n' "$EPOCHREALTIME" "$1" "$2" >>"$out/events.tsv"; }
now_ms() { echo $(( ${EPOCHREALTIME/./} / 1000 )); }

up_start() {	# up_start NAME [--port P]
	df_start "$1" "${ADDR[$1]}" --zone . --addr-hash "${@:2}"
	PORT[$1]=$(dp_get "$1" tls_port)
}
# up_stats NAME: keep the server's counters (they start again at a restart)
up_stats() {
	df_ctl "$1" stats | sed "s/^/$1 /" >>"$out/upstreams.txt"
}
up_restart() {
	up_stats "$1"
	df_stop "$1"
	rm -f "$DP_TMP/$1/tls_port" "$DP_TMP/$1/control.sock"
	up_start "$1" --port "${PORT[$1]}"
}

up_start up1
up_start up2
mport=$(dp_free_port)
cat >"$DP_TMP/dotpool.conf" <<EOF
dotpool:
	metrics-listen: 127.0.0.1@$mport
zone:
	name: o.soak.test
	policy: ordered
zone:
	name: r.soak.test
	policy: round-robin
EOF
fwd() {
	printf 'forward-zone:\n\tname: "%s."\n\tforward-tls-upstream: yes\n' "$1"
	printf '\tforward-addr: %s\n' "$(df_addr up1)" "$(df_addr up2)"
}
dp_unbound_start ub -t 2 -v 1 -c "$DP_TMP/dotpool.conf" <<EOF
	qname-minimisation: no
	extended-statistics: yes
$(fwd o.soak.test)
$(fwd r.soak.test)
EOF
pid=$(dp_get ub pid)
log=$(dp_get ub log)

# ---- samples ---------------------------------------------------------------
# One line per reading: time, segment (reloads so far: counters start from
# zero at each), RSS kB, fds, then dotpool's metrics summed over upstreams
# and threads, then Unbound's statistics.
MCOLS="sent noerror servfail answers_other timeouts errors dropped resends failovers conns_opened hs_full hs_resumed conns_open inflight memory"
UCOLS="u_queries u_cachehits u_cachemiss u_noerror u_servfail u_exceeded u_overwritten"
printf 't\tseg\trss_kb\tfds\t%s\t%s\n' "${MCOLS// /$'\t'}" "${UCOLS// /$'\t'}" \
	>"$out/samples.tsv"
seg=0
crash=
sample() {
	local rss fds m u
	rss=$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$pid/status" 2>/dev/null)
	fds=$(ls "/proc/$pid/fd" 2>/dev/null | wc -l)
	[ -n "$rss" ] || { crash="Unbound (pid $pid) gone at a sample"; return 0; }
	m=$(curl -s -m 3 "http://127.0.0.1:$mport/metrics" | awk '
		function v() { return $NF + 0 }
		/^dotpool_queries_sent_total/ { s["sent"] += v() }
		/^dotpool_answers_total.*rcode="NOERROR"/ { s["noerror"] += v(); next }
		/^dotpool_answers_total.*rcode="SERVFAIL"/ { s["servfail"] += v(); next }
		/^dotpool_answers_total/ { s["answers_other"] += v() }
		/^dotpool_timeouts_total/ { s["timeouts"] += v() }
		/^dotpool_errors_total/ { s["errors"] += v() }
		/^dotpool_dropped_answers_total/ { s["dropped"] += v() }
		/^dotpool_resends_total/ { s["resends"] += v() }
		/^dotpool_failovers_total/ { s["failovers"] += v() }
		/^dotpool_connections_opened_total/ { s["conns_opened"] += v() }
		/^dotpool_handshakes_total.*kind="full"/ { s["hs_full"] += v() }
		/^dotpool_handshakes_total.*kind="resumed"/ { s["hs_resumed"] += v() }
		/^dotpool_connections_open\{/ { s["conns_open"] += v() }
		/^dotpool_queries_inflight/ { s["inflight"] += v() }
		/^dotpool_memory_bytes/ { s["memory"] += v() }
		END { n = split(cols, c, " "); for (i = 1; i <= n; i++)
			printf "%s%d", (i > 1 ? "\t" : ""), s[c[i]] }' cols="$MCOLS")
	u=$(dp_control ub stats_noreset 2>/dev/null | awk -F= '
		{ s[$1] = $2 }
		END { printf "%d\t%d\t%d\t%d\t%d\t%d\t%d", s["total.num.queries"],
			s["total.num.cachehits"], s["total.num.cachemiss"],
			s["num.answer.rcode.NOERROR"], s["num.answer.rcode.SERVFAIL"],
			s["total.requestlist.exceeded"], s["total.requestlist.overwritten"] }')
	printf '%s\t%d\t%s\t%s\t%s\t%s\n' "$EPOCHREALTIME" "$seg" "$rss" "$fds" \
		"$m" "$u" >>"$out/samples.tsv"
}

# ---- faults ----------------------------------------------------------------
fault_on="" fault_name=""
fault_set() {	# fault_set UP FAULT
	fault_on=$1 fault_name=$2
	case $2 in
	sigstop) kill -STOP "$(dp_get "$1" pid)" ;;
	restart) up_restart "$1" ;;
	*) df_ctl "$1" set fault "$2" >/dev/null ||
		dp_fail "dotfault $1 refused fault $2" ;;
	esac
	event fault "$1 $2"
}
fault_clear() {
	[ -n "$fault_on" ] || return 0
	case $fault_name in
	sigstop) kill -CONT "$(dp_get "$fault_on" pid)" ;;
	restart) ;;
	*) df_ctl "$fault_on" set fault none >/dev/null ;;
	esac
	event clear "$fault_on $fault_name"
	fault_on="" fault_name=""
}

# ---- the run ---------------------------------------------------------------
dp_log "soak: $duration s at $qps qps, a fault every $step s (+$gap s clean), a reload every $reload_every s; results in $out"
dp_spawn load python3 "$DP_TOP/tests/soak/soakload.py" --port "$(dp_get ub port)" \
	--zones o.soak.test,r.soak.test --qps "$qps" --duration "$duration" \
	--out "$out"
event start "pid $pid"
t0=$(now_ms)
end=$((t0 + duration * 1000))
next_sample=$t0 next_fault=$((t0 + 2000)) next_clear=0 next_reload=$((t0 + reload_every * 1000))
k=0
while dp_alive load; do
	t=$(now_ms)
	[ "$t" -lt "$end" ] || break
	if ! dp_alive ub; then
		crash="Unbound (pid $pid) died during the run"
		event crash "$crash"
		break
	fi
	if [ "$t" -ge "$next_reload" ]; then
		sample
		event reload start
		if dp_control ub reload >/dev/null 2>&1; then
			seg=$((seg + 1))
			for _ in $(seq 1 100); do
				dp_control ub status >/dev/null 2>&1 && break
				sleep 0.1
			done
			event reload "done in $(( $(now_ms) - t )) ms"
		else
			event reload failed
			dp_alive ub || { crash="Unbound died at a reload"; break; }
		fi
		next_reload=$((next_reload + reload_every * 1000))
		continue
	fi
	if [ "$next_clear" != 0 ] && [ "$t" -ge "$next_clear" ]; then
		fault_clear
		next_clear=0
	fi
	if [ "$t" -ge "$next_fault" ]; then
		fault_clear
		up=${UPS[$((k % 2))]}
		fault_set "$up" "${faults[$((k % ${#faults[@]}))]}"
		k=$((k + 1))
		next_clear=$((t + step * 1000))
		next_fault=$((next_clear + gap * 1000))
	fi
	if [ "$t" -ge "$next_sample" ]; then
		sample
		next_sample=$((next_sample + 10000))
	fi
	[ -z "$crash" ] || break
	sleep 0.2
done
fault_clear
event end "faults stepped $k"
if [ -z "$crash" ]; then
	dp_spawn_wait load
	sample
fi
for u in "${UPS[@]}"; do up_stats "$u"; done
df_stop_all
dp_alive load && kill -TERM "$(dp_get load pid)" && dp_spawn_wait load
status=gone
if dp_alive ub; then
	dp_control ub stop >/dev/null 2>&1
	dp__wait_exit ub
	status=$(dp_get ub status)
fi
[ -n "$crash" ] || [ "$status" = 0 ] ||
	crash="Unbound's exit status after stop: $status (expected 0)"
grep -E 'assertion|fatal error|dotpool: .*(leak|BUG)' "$log" | head -n 20 \
	>"$out/log-errors.txt"
[ -s "$out/log-errors.txt" ] && crash="${crash:+$crash; }assertion or fatal error in the log"
# what the run was, for the report
{
	echo "command	tests/soak/soak.sh --duration $duration --qps $qps --step $step --gap $gap --reload-every $reload_every --warmup $warmup --max-servfail $max_servfail"
	echo "unbound	$("$DP_UNBOUND" -V 2>&1 | head -n 1)"
	echo "dotpool	$(git -C "$DP_TOP" describe --always --dirty 2>/dev/null || echo '?')"
	echo "faults	$FAULTS" | tr '\n' ' '
	echo
	echo "crash	${crash:-none}"
	echo "host	$(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$out/meta.tsv"
cp "$DP_TMP/dotpool.conf" "$out/dotpool.conf"
# verbosity 1: upstream failures and health changes, no query names
gzip -9c "$log" >"$out/unbound.log.gz"
sed -e "s#$DP_TMP#TMP#g" -e "s#$DP_TOP/##g" "$(dp_get ub conf)" >"$out/unbound.conf"
rc=0
python3 "$DP_TOP/tests/soak/report.py" --dir "$out" --warmup "$warmup" \
	--max-servfail "$max_servfail" || rc=1
dp_log "results: $out/results.md"
[ "$rc" = 0 ] || dp_fail "soak checks failed (see $out/results.md)"
dp_pass
