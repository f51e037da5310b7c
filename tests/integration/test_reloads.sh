#!/usr/bin/env bash
# Many reloads under load leak nothing: DOTPOOL_RELOADS (50)
# `unbound-control reload`s of Unbound with dotpool (two worker threads, two
# DoT upstreams, the metrics endpoint on) while a client sends fresh names
# all the time; on Unbound 1.23 and later as many `fast_reload`s too.
# After each: Unbound is alive, a fresh name answers NOERROR with the
# zone's data, the metrics endpoint answers. No load answer is ever wrong
# (NOERROR with other data). After a warm-up of DOTPOOL_RELOADS_WARMUP (5)
# the daemon's open fds and RSS are read with the load paused (so client
# and in-flight sockets do not count) and printed as a series:
#   fds: every reading at most 4 above the highest reading of the warm-up. Each
#     thread may hold one more or one fewer pooled connection per upstream
#     than at the warm-up (2 threads x 2 upstreams = 4); a leaked socket,
#     pipe or listener per reload passes that margin within a few reloads.
#   RSS: the median of the last 10 readings at most 10 % or 2 MiB
#     (whichever is larger) above the median of the first 10. glibc's
#     per-thread arenas grow and shrink by a few hundred kB from one reload
#     to the next, so single readings are noise; medians of ten are not.
#     Unbound with or without dotpool grows by 0.3 to 0.9 MiB over such a
#     series (0.4 MiB measured on 1.17.1 without dotpool, with its own DoT:
#     caches, fragmentation); the bound leaves three times that for a busy
#     machine and still catches a leak of about 90 kB per reload (a pool, a
#     TLS context, a settings copy; 100 kB planted in the module's init
#     failed it) over the 35 reloads between the two medians (of 50).
#     Under ASan, whose quarantine keeps freed memory, or valgrind the RSS
#     is printed but not judged.
. "$(dirname "$0")/lib.sh"
dp_require dig curl python3
here=$(cd "$(dirname "$0")" && pwd)

reloads=${DOTPOOL_RELOADS:-50}
warmup=${DOTPOOL_RELOADS_WARMUP:-5}
assert_ge "$reloads" "$((warmup + 2))" "DOTPOOL_RELOADS (more than the warm-up)"
ver=$("$DP_UNBOUND" -V 2>/dev/null | sed -n 's/^Version \([0-9.]*\).*/\1/p')
[ -n "$ver" ] || dp_fail "cannot read the version of $DP_UNBOUND"

mport=$(dp_free_port)
conf=$DP_TMP/dotpool.conf
printf 'dotpool:\n\tmetrics-listen: 127.0.0.1@%s\n' "$mport" >"$conf"
dp_upstream_start up1
dp_upstream_start up2
dp_unbound_start dp -v 1 -t 2 -c "$conf" <<EOF2
forward-zone:
	name: "$DP_ZONE."
	forward-addr: 127.0.0.1@$(dp_get up1 tls_port)#$DP_DOT_NAME
	forward-addr: 127.0.0.1@$(dp_get up2 tls_port)#$DP_DOT_NAME
	forward-tls-upstream: yes
EOF2
port=$(dp_get dp port)
pid=$(dp_get dp pid)
log=$(dp_get dp log)

# fresh WHAT: a never-seen name answers NOERROR with the zone's data
fresh() {
	dp_query "$port" "r$RANDOM$RANDOM.wild.$DP_ZONE" A
	assert_eq NOERROR "$DP_RCODE" "$1: a fresh name"
	assert_match "^r[0-9]*\.wild\.$DP_ZONE\. A 192\.0\.2\.7$" "$DP_ANSWER" \
		"$1: the fresh name's answer"
}
fresh "before any reload"
curl -sf -m 3 "http://127.0.0.1:$mport/metrics" >/dev/null ||
	dp_fail "metrics endpoint on $mport after start"

# Steady load: fresh names, in batches of 20 at 100 qps (dnsload.py, one
# line per query in $DP_TMP/load.out). While $DP_TMP/pause exists no batch
# starts, and $DP_TMP/paused says the last one has ended.
load() {
	while [ ! -e "$DP_TMP/stop" ] && kill -0 $$ 2>/dev/null; do
		if [ -e "$DP_TMP/pause" ]; then
			touch "$DP_TMP/paused"
			sleep 0.05
			continue
		fi
		rm -f "$DP_TMP/paused"
		python3 "$here/../faultsrv/dnsload.py" --port "$port" \
			--zone "wild.$DP_ZONE" --prefix "l$RANDOM" --count 20 --qps 100 --timeout 2 \
			--out "$DP_TMP/load.out" >/dev/null 2>&1 || true
	done
}
# pause: no load, in-flight queries ended; resume: the load goes on
pause() {
	local i
	touch "$DP_TMP/pause"
	for i in $(seq 1 100); do
		[ -e "$DP_TMP/paused" ] && break
		sleep 0.05
	done
	[ -e "$DP_TMP/paused" ] || dp_fail "the load did not pause within 5 s"
	sleep 0.2
}
resume() { rm -f "$DP_TMP/pause" "$DP_TMP/paused"; }

# median FILE COLUMN FROM TO: the median of COLUMN over lines FROM..TO
median() {
	sed -n "$3,$4p" "$1" | awk -v c="$2" '{ print $c }' | sort -n |
		awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# series KIND: DOTPOOL_RELOADS times KIND (reload or fast_reload), checked
# and measured as the header says
series() {
	local kind=$1 i out fds rss t0 t1 s=$DP_TMP/series.$1
	local maxfd=0 first last n lim ts ms
	: >"$s"
	t0=$(date +%s.%N)
	for i in $(seq 1 "$reloads"); do
		ts=$(date +%s%N)
		case $kind in
		reload) dp_unbound_reload dp ;;
		fast_reload)
			out=$(dp_control dp fast_reload 2>&1) ||
				dp_fail "fast_reload $i failed: $out"
			[ "$(tail -n 1 <<<"$out")" = ok ] ||
				dp_fail "fast_reload $i said: $out"
			;;
		esac
		assert_alive dp "Unbound after $kind $i"
		[ "$(dp_get dp pid)" = "$pid" ] ||
			dp_fail "Unbound's pid changed at $kind $i"
		fresh "after $kind $i"
		ms=$((($(date +%s%N) - ts) / 1000000))
		curl -sf -m 3 "http://127.0.0.1:$mport/metrics" >/dev/null ||
			dp_fail "metrics endpoint after $kind $i"
		pause
		fds=$(ls "/proc/$pid/fd" | wc -l)
		rss=$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' \
			"/proc/$pid/status")
		resume
		[ -n "$rss" ] || dp_fail "cannot read Unbound's RSS after $kind $i"
		if [ "$i" -le "$warmup" ]; then
			[ "$fds" -le "$maxfd" ] || maxfd=$fds
		else
			echo "$i $fds $rss $ms" >>"$s"
		fi
	done
	t1=$(date +%s.%N)
	dp_log "$kind series (number fds rss_kB ms: the command and a fresh query), warm-up level $maxfd fds:"
	dp_log "$(tr '\n' ';' <"$s")"
	n=$(wc -l <"$s")
	while read -r i fds rss ms; do
		assert_le "$fds" "$((maxfd + 4))" \
			"Unbound's open fds after $kind $i (warm-up level $maxfd + 4)"
	done <"$s"
	first=$(median "$s" 3 1 10)
	last=$(median "$s" 3 "$((n > 10 ? n - 9 : 1))" "$n")
	lim=$((first / 10 > 2048 ? first + first / 10 : first + 2048))
	dp_log "$reloads ${kind}s in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s; fds $(sed -n 1p "$s" | cut -d' ' -f2) first, $(sed -n '$p' "$s" | cut -d' ' -f2) last, max $(cut -d' ' -f2 "$s" | sort -n | tail -n 1); RSS median first 10 $first kB, last 10 $last kB (limit $lim kB)"
	if [ "${DOTPOOL_VALGRIND:-0}" = 1 ] ||
		grep -q libasan <<<"$(ldd "$DOTPOOL_MODULE" 2>&1)"; then
		dp_log "under ASan or valgrind: RSS not judged"
	else
		assert_le "$last" "$lim" \
			"median RSS of the last 10 ${kind}s (kB; first 10: $first)"
	fi
}

load & lpid=$!
sleep 0.5
series reload
if [ "$(printf '%s\n1.23.0\n' "$ver" | sort -V | head -n 1)" = 1.23.0 ]; then
	series fast_reload
else
	dp_log "fast_reload: not applicable, Unbound $ver has none (1.23 and later)"
fi
touch "$DP_TMP/stop"
wait "$lpid"
# <time> <name> <rcode> <addresses|-> <ms>
read -r right wrong other < <(awk '$3 == "NOERROR" && $4 == "192.0.2.7" { r++; next }
	$3 == "NOERROR" { w++; next } { o++ } END { print r + 0, w + 0, o + 0 }' \
	"$DP_TMP/load.out")
dp_log "load: $right right answers, $wrong wrong, $other other ($(awk '$3 != "NOERROR" { print $3 }' "$DP_TMP/load.out" | sort | uniq -c | tr -s ' \n' ' '))"
[ "$wrong" = 0 ] ||
	dp_fail "wrong load answers: $(awk '$3 == "NOERROR" && $4 != "192.0.2.7"' "$DP_TMP/load.out" | head -n 5 | tr '\n' ' ')"
assert_ge "$right" "$((reloads * 10))" "right load answers during the reloads"
assert_alive dp "Unbound after all reloads"
fresh "at the end"
assert_no_grep "$log" "assertion|fatal error" "no assertion or fatal error"
dp_unbound_stop dp
dp_pass
