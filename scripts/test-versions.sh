#!/usr/bin/env bash
# The Unbound version matrix: dotpool built with -Werror against each
# supported release and tested there.
#
# Usage: scripts/test-versions.sh [NAME...]   (default: every entry)
#        scripts/test-versions.sh --build-only NAME...
#                  only build the module against each NAME's tree (the
#                  Unbound tree built when missing), no test; the last line
#                  is the path of the last NAME's dotpool.so (bench/run.sh)
#
#   1.17.1         Debian 12's tree (scripts/unbound-dynlib.sh): build only
#                  here (scripts/test.sh runs the full suite on it); it is
#                  the other side of the cross-version ABI test
#   1.26.0         plain 1.26.0 built and installed: the full `make check`
#                  with that daemon, plus the ABI test against 1.17.1
#   1.26.0-fedora  1.26.0 with Fedora's configure options, built and
#                  installed: unit tests, plus the ABI test against plain
#                  1.26.0 (subnet, cachedb... on one side only)
#   1.17.1-asan    the module built with ASan and UBSan (--enable-sanitizers)
#                  against Debian 12's tree: the integration suite, with
#                  every Unbound under test preloading the ASan runtime; any
#                  sanitizer report fails the test that produced it
#   1.19.2 1.22.0 1.24.2
#                  configured trees (headers only): build + unit tests
#
# Unbound trees are cached in $DOTPOOL_CACHE (scripts/unbound-upstream.sh).
# The module is built out of tree in .versions/build-NAME from a pristine
# copy of the checkout (.versions/src: automake will not build out of a
# source directory that is itself configured). Each step prints its wall
# time; the last line is "test-versions: N passed, M failed", also written
# to .versions/summary for scripts/test.sh.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
out=$top/.versions
mkdir -p "$out"
t0=$(date +%s)
log() { printf 'test-versions: %s\n' "$*"; }
stamp() { printf '%d s' $(( $(date +%s) - $1 )); }

all="1.17.1 1.26.0 1.26.0-fedora 1.17.1-asan 1.19.2 1.22.0 1.24.2"
build_only=
if [ "${1:-}" = --build-only ]; then
	build_only=1
	shift
	[ $# -gt 0 ] || { log "--build-only needs at least one NAME"; exit 1; }
fi
want=${*:-$all}

# ---- a pristine copy of the sources (tracked and new files, no build) ------
git rev-parse --git-dir >/dev/null 2>&1 ||
	{ log "needs a git checkout (it copies the files git knows)"; exit 1; }
t=$(date +%s)
rm -rf "$out/src.new"
mkdir -p "$out/src.new"
git ls-files -z --cached --others --exclude-standard |
	(cd "$top" && xargs -0 tar -cf - --no-recursion 2>/dev/null) |
	tar -xf - -C "$out/src.new"
if [ -f "$out/src/configure" ] &&
   diff -rq -x configure -x aclocal.m4 -x autom4te.cache -x build-aux \
	-x m4 -x 'Makefile.in' -x 'dotpool_build.h.in' \
	"$out/src.new" "$out/src" >/dev/null 2>&1; then
	rm -rf "$out/src.new"
else
	rm -rf "$out/src"
	mv "$out/src.new" "$out/src"
	(cd "$out/src" && ./autogen.sh >"$out/autogen.log" 2>&1) ||
		{ log "autogen failed, see $out/autogen.log"; exit 1; }
fi
log "sources ready ($(stamp "$t"))"

# unbound_tree NAME: set UB_SRC/UB_PREFIX for a matrix entry.
unbound_tree() {
	local v
	case $1 in
	1.17.1|1.17.1-asan) v=$(scripts/unbound-dynlib.sh | tail -n 1) ;;
	1.26.0) v=$(scripts/unbound-upstream.sh 1.26.0 plain | tail -n 1) ;;
	1.26.0-fedora) v=$(scripts/unbound-upstream.sh 1.26.0 fedora | tail -n 1) ;;
	*) v=$(scripts/unbound-upstream.sh "$1" plain --headers-only | tail -n 1) ;;
	esac
	UB_SRC=$(printf '%s\n' "$v" | sed -n 's/.*UNBOUND_SRC=\([^ ]*\).*/\1/p')
	UB_PREFIX=$(printf '%s\n' "$v" | sed -n 's/.*UNBOUND_PREFIX=\([^ ]*\).*/\1/p')
	[ -n "$UB_SRC" ]
}

# build_flags NAME: configure options of the module build for NAME.
build_flags() {
	case $1 in
	*-asan) echo --enable-sanitizers ;;
	esac
}

# build NAME: configure and make the module against NAME's tree, -Werror.
build() {
	local b=$out/build-$1 t
	t=$(date +%s)
	unbound_tree "$1" || { log "$1: no Unbound tree"; return 1; }
	log "$1: Unbound tree ready ($(stamp "$t"))"
	t=$(date +%s)
	mkdir -p "$b"
	if [ ! -f "$b/Makefile" ] || [ "$out/src/configure" -nt "$b/Makefile" ] ||
	   ! grep -q "^UNBOUND_SRC = $UB_SRC\$" "$b/Makefile"; then
		(cd "$b" && "$out/src/configure" --with-unbound-src="$UB_SRC" \
			--enable-version-matrix $(build_flags "$1") \
			>"$b/configure.out" 2>&1) ||
			{ log "$1: configure failed, see $b/configure.out"; return 1; }
	fi
	(cd "$b" && nice -n 10 make -j2 CFLAGS="-g -O2 -Werror" \
		>"$b/make.out" 2>&1) ||
		{ log "$1: build failed, see $b/make.out"; tail -n 20 "$b/make.out"; return 1; }
	log "$1: module built with -Werror ($(stamp "$t"))"
}

# make_var DIR VAR: a variable of a configured build dir's Makefile.
make_var() {
	printf 'print-var:\n\t@echo $(%s)\n' "$2" |
		make -s -C "$1" -f Makefile -f - print-var
}
# unit_tests DIR: the unit and component suites of a configured build dir.
unit_tests() { make_var "$1" UNIT_TESTS; make_var "$1" COMPONENT_TESTS; }

if [ -n "$build_only" ]; then
	for name in $want; do
		build "$name" || exit 1
	done
	echo "$out/build-$name/.libs/dotpool.so"
	exit 0
fi

pass=0 fail=0
# check NAME TESTS...: make check in NAME's build dir (all tests if none),
# counted from its test-suite.log.
check() {
	local name=$1 b=$out/build-$1 t rc=0 p f e
	shift
	t=$(date +%s)
	rm -f "$b/test-suite.log"
	if [ $# -gt 0 ]; then
		# shellcheck disable=SC2086 # ABI_ENV: words of VAR=value
		(cd "$b" && env $ABI_ENV make check -j1 TESTS="$*" \
			>"$b/check.out" 2>&1) || rc=$?
	else
		# shellcheck disable=SC2086
		(cd "$b" && env $ABI_ENV make check -j1 \
			>"$b/check.out" 2>&1) || rc=$?
	fi
	p=$(sed -n 's/^# PASS: *//p' "$b/test-suite.log" 2>/dev/null || true)
	f=$(sed -n 's/^# FAIL: *//p' "$b/test-suite.log" 2>/dev/null || true)
	e=$(sed -n 's/^# ERROR: *//p' "$b/test-suite.log" 2>/dev/null || true)
	p=${p:-0}; f=$(( ${f:-0} + ${e:-0} ))
	if [ "$rc" != 0 ] && [ "$f" = 0 ]; then f=1; fi
	pass=$((pass + p)); fail=$((fail + f))
	log "$name: make check${1:+ (${#@} suites)}: $p passed, $f failed ($(stamp "$t"))"
	if [ "$f" != 0 ]; then
		find "$b" -name '*.trs' -exec grep -l \
			'^:test-result: \(FAIL\|ERROR\)' {} + 2>/dev/null |
			while read -r x; do
				echo "===== ${x%.trs}.log"; tail -n 40 "${x%.trs}.log"
			done
	fi
}
# a build failure counts as one failed test
built() { if build "$1"; then return 0; fi; fail=$((fail + 1)); return 1; }

# The cross-build ABI test: this build's module into the other daemon and
# the other build's module into this daemon.
abi_env() {
	ABI_ENV="DOTPOOL_ABI_PEER_MODULE=$out/build-$1/.libs/dotpool.so DOTPOOL_ABI_PEER_UNBOUND=$2/sbin/unbound"
}
abi_test=tests/integration/test_abi_mismatch.sh
declare -A prefix_of
# peer NAME: NAME's module built (once), for the ABI test of another entry.
peer() {
	[ -n "${prefix_of[$1]:-}" ] && return 0
	built "$1" || return 1
	prefix_of[$1]=$UB_PREFIX
}
for name in $want; do
	ABI_ENV=
	case $name in
	1.17.1)
		peer 1.17.1 || true ;;
	1.26.0)
		# the full suite, with the ABI test against 1.17.1 in it
		if peer 1.17.1 && peer 1.26.0; then
			abi_env 1.17.1 "${prefix_of[1.17.1]}"
			check 1.26.0
		fi ;;
	1.26.0-fedora)
		# unit suites, and the ABI test against plain 1.26.0
		if peer 1.26.0 && built 1.26.0-fedora; then
			abi_env 1.26.0 "${prefix_of[1.26.0]}"
			# shellcheck disable=SC2046
			check 1.26.0-fedora $(unit_tests "$out/build-1.26.0-fedora") \
				"$abi_test"
		fi ;;
	1.17.1-asan)
		# the integration suite with the ASan+UBSan module
		if built 1.17.1-asan; then
			# shellcheck disable=SC2046
			check 1.17.1-asan $(make_var "$out/build-1.17.1-asan" \
				INTEGRATION_TESTS | tr ' ' '\n' | grep -vxF "$abi_test")
		fi ;;
	*)
		if built "$name"; then
			# shellcheck disable=SC2046
			check "$name" $(unit_tests "$out/build-$name")
		fi ;;
	esac
done
echo "$pass $fail" >"$out/summary"
log "done in $(stamp "$t0")"
echo "test-versions: $pass passed, $fail failed"
[ "$fail" = 0 ]
