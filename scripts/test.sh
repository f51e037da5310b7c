#!/usr/bin/env bash
# Everything from a fresh Debian 12 checkout to a full test run:
# packages, the dynlib Unbound, the module, `make check`.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
scripts/build.sh >/dev/null
rc=0
make check -j1 || rc=$?
if [ "$rc" != 0 ]; then
	# Show what failed: automake keeps each test's output in its .log.
	for f in $(grep -l '^:test-result: \(FAIL\|ERROR\)' $(find . -name '*.trs') 2>/dev/null); do
		echo "===== ${f%.trs}.log"; tail -n 60 "${f%.trs}.log"
	done
fi
exit "$rc"
