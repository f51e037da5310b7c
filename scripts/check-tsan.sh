#!/bin/sh
# Build the unit and component tests under ThreadSanitizer and run them.
#
# Usage: scripts/check-tsan.sh DISTDIR BUILDDIR UNBOUND_SRC "TESTS"
# (make check-tsan passes these): DISTDIR is a clean copy of the sources
# (make distdir), configured and built in place under BUILDDIR with
# -fsanitize=thread, so the tree it came from keeps its own build.
# The unit tier needs no Unbound, so nothing else runs instrumented.
# TSAN_CC picks the compiler (default clang, which the tests were run
# with; gcc 12's TSan works too). Any report fails the run: TSan exits 66.
set -eu
distdir=$1
builddir=$2
unbound_src=$3
tests=$4
cc=${TSAN_CC:-clang}
command -v "$cc" >/dev/null 2>&1 || {
	echo "check-tsan: $cc not found (apt-get install clang, or TSAN_CC=gcc)" >&2
	exit 77
}
rm -rf "$builddir"
mkdir -p "$builddir"
mv "$distdir" "$builddir/src"
cd "$builddir/src"
start=$(date +%s)
./configure --with-unbound-src="$unbound_src" CC="$cc" \
	CFLAGS='-fsanitize=thread -g -O1 -fno-omit-frame-pointer' \
	LDFLAGS='-fsanitize=thread' >"$builddir/configure.log" 2>&1 || {
	echo "check-tsan: configure failed, see $builddir/configure.log" >&2
	exit 1
}
# halt_on_error: the first report fails the test that caused it
TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 ${TSAN_OPTIONS:-}"
export TSAN_OPTIONS
# TSan of clang 14 / gcc 12 maps its shadow at fixed addresses; with more
# than 28 bits of mmap randomisation (vm.mmap_rnd_bits, 32 on some newer
# kernels) it dies with "unexpected memory mapping". Without address
# randomisation (inherited by every test) it always runs.
norand=
if command -v setarch >/dev/null 2>&1 &&
	setarch "$(uname -m)" -R true 2>/dev/null; then
	norand="setarch $(uname -m) -R"
fi
rc=0
$norand make -j2 check TESTS="$tests" >"$builddir/check.log" 2>&1 || rc=$?
grep -E '^(PASS|FAIL|SKIP|XFAIL|ERROR):' "$builddir/check.log" || true
echo "check-tsan: $(( $(date +%s) - start )) s; logs under $builddir/src/tests/{unit,component}/"
[ $rc -eq 0 ] || echo "check-tsan: FAILED (see the .log of each test)" >&2
exit $rc
