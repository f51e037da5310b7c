#!/usr/bin/env bash
# dotpool benchmark: one command on a fresh Debian 12 machine.
#   bench/run.sh [bench.py run options]     (see bench/README.md)
# Installs what it needs (scripts/deps.sh bench), builds dotpool if the
# module is missing (scripts/build.sh), then runs bench/bench.py as root:
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
if [ ! -f "${BENCH_DOTPOOL_SO:-.libs/dotpool.so}" ]; then
	DOTPOOL_DEPS=build scripts/build.sh
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
