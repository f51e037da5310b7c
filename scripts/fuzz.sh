#!/usr/bin/env bash
# Build the libFuzzer targets of tests/fuzz/ (clang, ASan + UBSan) and run
# each for a fixed time on a scratch copy of its committed seed corpus.
# Fails on any crash, sanitizer report, leak or broken property; prints per
# target the executions, the coverage (cov: edges, ft: features, from
# libFuzzer's final line) and the time. `make fuzz` calls this.
#
# Usage: scripts/fuzz.sh [target...]        (default: all)
# Environment:
#   FUZZ_SECONDS  seconds per target (30)
#   FUZZ_RUNS     also stop a target after this many executions (no limit)
#   FUZZ_OUT      binaries, scratch corpora, logs, crashes (./fuzz-build)
#   FUZZ_KEEP_CORPUS=1  go on from the corpus grown by the last run instead
#                 of a fresh copy of the seeds
#   FUZZ_NICE     nice level of the fuzzers (15: the runs share the CPU)
#   FUZZ_CC       the compiler (clang-14, else clang)
#   FUZZ_SANITIZE the sanitizers besides libFuzzer's own (address,undefined);
#                 "undefined" alone for long runs of a target whose cost is
#                 ASan's allocator (wbuf), so it reaches its execution count
# The targets link the module's own sources directly (they need no Unbound
# tree and no configure run); the gcc/libtool build is not involved.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=${FUZZ_OUT:-$PWD/fuzz-build}
secs=${FUZZ_SECONDS:-30}
runs=${FUZZ_RUNS:-}
nicelevel=${FUZZ_NICE:-15}
all="frame wbuf wire keepalive idmap config http"
targets=${*:-$all}

cc=${FUZZ_CC:-}
if [ -z "$cc" ]; then
	cc=$(command -v clang-14 || command -v clang || true)
fi
if [ -z "$cc" ]; then
	echo "fuzz.sh: clang not found; install clang-14 and libclang-rt-14-dev" \
		"(scripts/deps.sh test)" >&2
	exit 2
fi

# module sources each target links
sources_of() {
	case $1 in
	frame|wbuf) echo "frame error" ;;
	wire|keepalive) echo "wire error" ;;
	idmap) echo "idmap error" ;;
	config) echo "config config_keys config_read error" ;;
	http) echo "httpreq" ;;
	*) echo "fuzz.sh: unknown target '$1' (targets: $all)" >&2; return 1 ;;
	esac
}
# libFuzzer options per target: inputs up to the parser's own limit
options_of() {
	case $1 in
	http) echo "-max_len=4200" ;;
	config) echo "-max_len=8192" ;;
	frame) echo "-max_len=8192" ;;
	*) echo "" ;;
	esac
}

mkdir -p "$out/bin" "$out/log" "$out/crash"
cflags="-g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,${FUZZ_SANITIZE:-address,undefined}
	-fno-sanitize-recover=all -Wall -Wextra -I$top/include -I$top/tests/fuzz
	$(pkg-config --cflags libevent 2>/dev/null || true)"
for t in $targets; do
	srcs=
	for s in $(sources_of "$t"); do srcs="$srcs $top/module/$s.c"; done
	# shellcheck disable=SC2086
	"$cc" $cflags -o "$out/bin/fuzz_$t" "$top/tests/fuzz/fuzz_$t.c" $srcs \
		-lm -lpthread
done
echo "fuzz.sh: built $(echo "$targets" | wc -w) targets with $cc in $out/bin"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
failed=0
summary=$(printf '%-10s %12s %9s %6s %7s %7s  %s' target execs exec/s cov ft \
	time result)
for t in $targets; do
	corpus=$out/corpus/$t
	if [ "${FUZZ_KEEP_CORPUS:-0}" != 1 ] || [ ! -d "$corpus" ]; then
		rm -rf "$corpus"
		mkdir -p "$corpus"
		cp "$top/tests/fuzz/corpus/$t/"* "$corpus/"
	fi
	log=$out/log/$t.log
	dict=
	[ -f "$top/tests/fuzz/$t.dict" ] && dict="-dict=$top/tests/fuzz/$t.dict"
	start=$(date +%s%N)
	rc=0
	# shellcheck disable=SC2046,SC2086
	nice -n "$nicelevel" "$out/bin/fuzz_$t" -max_total_time="$secs" \
		${runs:+-runs=$runs} -print_final_stats=1 -timeout=25 \
		-artifact_prefix="$out/crash/$t-" $dict $(options_of "$t") \
		"$corpus" >"$log" 2>&1 || rc=$?
	ms=$(( ($(date +%s%N) - start) / 1000000 ))
	took=$((ms / 1000)).$((ms % 1000 / 100))s
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
	last=$(grep -E '^#[0-9]+[[:space:]]+(DONE|INITED|NEW|REDUCE|pulse)' \
		"$log" | tail -n 1 || true)
	cov=$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
	ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
	result=ok
	if [ "$rc" != 0 ]; then
		result="FAIL (exit $rc)"
		failed=$((failed + 1))
		echo "===== fuzz_$t failed; the end of $log:" >&2
		tail -n 40 "$log" >&2
		for a in "$out/crash/$t-"*; do
			[ -e "$a" ] && echo "reproduce: $out/bin/fuzz_$t $a" >&2
		done
	fi
	summary=$(printf '%s\n%-10s %12s %9s %6s %7s %7s  %s' "$summary" "$t" \
		"${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "$took" "$result")
done
echo "$summary"
echo "fuzz: $(echo "$targets" | wc -w) targets, $failed failed"
[ "$failed" = 0 ]
