#!/usr/bin/env bash
# dotpool benchmark: one command on a fresh Debian 12 machine.
#   bench/run.sh [bench.py run options]     (see bench/README.md)
# Installs what it needs (scripts/deps.sh bench), builds dotpool if the
# module is missing (scripts/build.sh), Unbound 1.26.0 and dotpool against
# it for the -1.26 rows, then runs bench/bench.py as root:
# the emulated-RTT scenarios create two network namespaces of their own.
# Everything runs on loopback or inside those namespaces.
# Results: bench/results/<UTC date>/results.md, results.png, raw.jsonl.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
if [ "$(id -u)" != 0 ]; then
	exec sudo -E "$0" "$@"
fi
# apt may be busy (another install, unattended upgrades): wait for it
for _ in $(seq 1 120); do
	fuser /var/lib/dpkg/lock-frontend >/dev/null 2>&1 || break
	sleep 5
done
scripts/deps.sh bench
# --ref REV: a dotpool-ref row, the module built from revision REV (cached
# under .cache/bench-ref/), so a change is measured against its parent in the
# same rounds. The other arguments go to bench.py.
args=()
scenarios=${BENCH_SCENARIOS:-}
while [ $# -gt 0 ]; do
	case $1 in
	--scenarios)
		[ $# -ge 2 ] && scenarios=$2
		args+=("${@:1:2}"); shift $(( $# >= 2 ? 2 : 1 )) ;;
	--ref)
		[ $# -ge 2 ] || { echo "run.sh: --ref needs a revision" >&2; exit 2; }
		rev=$(git rev-parse --short "$2^{commit}") ||
			{ echo "run.sh: --ref $2: no such revision" >&2; exit 2; }
		refdir=.cache/bench-ref/$rev
		if [ ! -f "$refdir/.libs/dotpool.so" ]; then
			vars=$(scripts/unbound-dynlib.sh | tail -n 1)
			eval "$vars"
			rm -rf "$refdir"
			mkdir -p "$refdir"
			git archive "$rev" | tar -x -C "$refdir"
			(cd "$refdir" && ./autogen.sh >/dev/null 2>&1 &&
				./configure --with-unbound-src="$UNBOUND_SRC" >/dev/null &&
				make -j"$(nproc)" >/dev/null) ||
				{ echo "run.sh: dotpool $rev did not build in $refdir" >&2; exit 1; }
		fi
		export BENCH_DOTPOOL_SO_REF=$top/$refdir/.libs/dotpool.so
		export BENCH_DOTPOOL_REF_REV=$rev
		shift 2 ;;
	*) args+=("$1"); shift ;;
	esac
done
set -- "${args[@]}"
if [ ! -f "${BENCH_DOTPOOL_SO:-.libs/dotpool.so}" ]; then
	DOTPOOL_DEPS=build scripts/build.sh
fi
# The -1.26 rows: Unbound 1.26.0's plain build (scripts/unbound-upstream.sh,
# cached under .cache/) and dotpool built out of tree against it by the
# version matrix's build step (.versions/build-1.26.0). If either fails,
# those rows are reported as not measured and the others still run.
# The tail scenario runs 1.17.1 rows only: nothing to build for it.
if [ "$scenarios" = tail ]; then
	: "${BENCH_UNBOUND_126:=none}" "${BENCH_DOTPOOL_SO_126:=none}"
	export BENCH_UNBOUND_126 BENCH_DOTPOOL_SO_126
fi
if [ -z "${BENCH_UNBOUND_126:-}" ]; then
	if vars=$(scripts/unbound-upstream.sh 1.26.0 plain | tail -n 1); then
		eval "$vars"
		export BENCH_UNBOUND_126=$UNBOUND_PREFIX/sbin/unbound
	else
		echo "run.sh: no Unbound 1.26.0 build: the -1.26 rows will fail" >&2
	fi
fi
if [ -z "${BENCH_DOTPOOL_SO_126:-}" ]; then
	# its log to stderr, its last line (the module's path) kept
	out=$(scripts/test-versions.sh --build-only 1.26.0) && rc=0 || rc=$?
	printf '%s\n' "$out" >&2
	if [ "$rc" = 0 ]; then
		BENCH_DOTPOOL_SO_126=$(printf '%s\n' "$out" | tail -n 1)
		export BENCH_DOTPOOL_SO_126
	else
		echo "run.sh: dotpool did not build against 1.26.0: the -1.26 rows will fail" >&2
	fi
fi
for tool in dnsperf dnsdist kresd stubby gnuplot ip tc ss taskset \
	openssl python3; do
	command -v "$tool" >/dev/null || {
		echo "run.sh: $tool missing after scripts/deps.sh bench" >&2
		exit 1
	}
done
export BENCH_COMMAND="bench/run.sh $*"
exec python3 bench/bench.py run "$@"
