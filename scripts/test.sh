#!/usr/bin/env bash
# Everything from a fresh Debian 12 checkout to a full test run:
# packages, the dynlib Unbound, the module, `make check`, the unit tier
# under ThreadSanitizer, `make distcheck-unit`, the fuzzers, then the package
# build and install test (`make check-packages`: rebuilds Debian's unbound
# with dynlib as a .deb, builds unbound-dotpool, installs both from a local
# apt repository into a chroot and resolves through them; about 8 minutes
# the first time). DOTPOOL_SKIP_PACKAGES=1 leaves that step out. Then the
# Unbound version matrix (scripts/test-versions.sh; DOTPOOL_SKIP_VERSIONS=1
# leaves it out).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
start=$(date +%s)
DOTPOOL_DEPS="build test pkg upstream" scripts/build.sh >/dev/null
echo "test.sh: built in $(( $(date +%s) - start )) s"
rc=0
make check -j1 || rc=$?
if [ "$rc" != 0 ]; then
	# Show what failed: automake keeps each test's output in its .log.
	for f in $(grep -l '^:test-result: \(FAIL\|ERROR\)' $(find . -name '*.trs') 2>/dev/null); do
		echo "===== ${f%.trs}.log"; tail -n 60 "${f%.trs}.log"
	done
fi
echo "test.sh: make check done at $(( $(date +%s) - start )) s"
# The unit and component tier under ThreadSanitizer (about a minute):
# counted as one test.
tsan_rc=0
make check-tsan || tsan_rc=$?
[ "$tsan_rc" = 0 ] || rc=$tsan_rc
echo "test.sh: check-tsan done at $(( $(date +%s) - start )) s"
# The tarball on its own (make distcheck-unit: dist, a read-only VPATH
# build, the unit suites, man pages and configure check inside it, install,
# uninstall, distclean; about two minutes): a file missing from the
# tarball fails here. One test.
dist_rc=0
make distcheck-unit >distcheck.log 2>&1 || dist_rc=$?
tail -n 6 distcheck.log
[ "$dist_rc" = 0 ] || rc=$dist_rc
echo "test.sh: distcheck done at $(( $(date +%s) - start )) s"
# Every fuzz target for a short fixed budget (tests/fuzz/README.md):
# regressions in the parsers of untrusted input; one test.
fuzz_rc=0
FUZZ_SECONDS=${FUZZ_SECONDS:-30} scripts/fuzz.sh || fuzz_rc=$?
[ "$fuzz_rc" = 0 ] || rc=$fuzz_rc
echo "test.sh: fuzzing done at $(( $(date +%s) - start )) s"
# The soak for 60 s instead of 15 minutes (tests/soak/README.md): 72000
# queries, twelve fault steps, two reloads; 0 crashes, 0 wrong answers,
# SERVFAIL at most 1 %. One test; its results folder is kept only when it
# fails.
soak_rc=0
soak_out=$(mktemp -d "${TMPDIR:-/tmp}/dotpool-soak.XXXXXX")
tests/soak/soak.sh --duration 60 --step 3 --gap 2 --reload-every 20 \
	--warmup 10 --max-servfail 1 --out "$soak_out" || soak_rc=$?
if [ "$soak_rc" = 0 ]; then
	rm -rf "$soak_out"
else
	rc=$soak_rc
	echo "test.sh: soak failed, results in $soak_out"
fi
echo "test.sh: soak done at $(( $(date +%s) - start )) s"
if [ "$rc" = 0 ] && [ "${DOTPOOL_SKIP_PACKAGES:-0}" != 1 ]; then
	pkg_rc=0
	make check-packages || pkg_rc=$?
	[ "$pkg_rc" = 0 ] || rc=$pkg_rc
	echo "test.sh: check-packages done at $(( $(date +%s) - start )) s"
fi
# The Unbound version matrix (scripts/test-versions.sh): the full suite on
# 1.26.0, build + unit tests on 1.19.2, 1.22.0, 1.24.2 and Fedora's 1.26.0,
# the cross-build ABI test; its counts join the closing line.
rm -f .versions/summary
if [ "${DOTPOOL_SKIP_VERSIONS:-0}" != 1 ]; then
	scripts/test-versions.sh || rc=1
	echo "test.sh: version matrix done at $(( $(date +%s) - start )) s"
fi
# One closing line in the plain form CI reads: the make check suites, the
# TSan run, the distcheck, the fuzzing run, the soak, the package test and
# the version matrix.
pass=$(sed -n 's/^# PASS: *//p' test-suite.log 2>/dev/null || echo 0)
fail=$(( $(sed -n 's/^# FAIL: *//p' test-suite.log 2>/dev/null || echo 0) +
	$(sed -n 's/^# ERROR: *//p' test-suite.log 2>/dev/null || echo 0) ))
for r in "$tsan_rc" "$dist_rc" "$fuzz_rc" "$soak_rc"; do
	if [ "$r" = 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
done
if [ "${DOTPOOL_SKIP_PACKAGES:-0}" != 1 ] && [ -n "${pkg_rc:-}" ]; then
	if [ "$pkg_rc" = 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
fi
if [ "${DOTPOOL_SKIP_VERSIONS:-0}" != 1 ]; then
	read -r vpass vfail 2>/dev/null <.versions/summary || { vpass=0; vfail=1; }
	pass=$(( ${pass:-0} + vpass )); fail=$(( ${fail:-0} + vfail ))
fi
echo "tests: ${pass:-0} passed, ${fail:-0} failed"
exit "$rc"
